"""RadiomicsExtractor: a parameter file per modality (parts), mask regions and their aggregation, messages."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import SimpleITK as sitk

from benchmarks.cohort.regions import parse_regions
from features.base import ExtractionError
from features.engine import extract_features, recipe_hash, recipe_of
from features.imaging import RadiomicsExtractor, main, modality_params

COUNTS = {"n_regions", "total_volume"}


@pytest.fixture(scope="module")
def two_segments(make_case):
    """A small MR-like case whose bowel wall is cut along z into label 1 (lower part) and label 2."""
    image, mask = make_case(4, shape=(48, 48, 20), spacing=(0.75, 0.75, 4.0), radius_mm=7.0, wall_mm=3.0)
    arr = sitk.GetArrayFromImage(mask)
    arr[12:][arr[12:] == 1] = 2
    labelled = sitk.GetImageFromArray(arr)
    labelled.CopyInformation(mask)
    return image, labelled


@pytest.fixture(scope="module")
def files(tmp_path_factory, two_segments):
    root = tmp_path_factory.mktemp("regions")
    image, mask = two_segments
    sitk.WriteImage(image, str(root / "image.nrrd"))
    sitk.WriteImage(mask, str(root / "mask.nrrd"))
    return root / "image.nrrd", root / "mask.nrrd"


def test_parts_one_extractor_per_modality_with_own_names_and_recipes():
    ext = RadiomicsExtractor()
    assert ext.params == {"MR": "mr", "CT": "ct"} and ext.part == "" and ext.prefix == "rad__"
    assert RadiomicsExtractor.prefix == "rad__"  # the registry's namespace
    mr, ct = ext.parts()
    assert (mr.part, mr.prefix, ct.part, ct.prefix) == ("MR", "rad__mr__", "CT", "rad__ct__")
    assert mr.get_params()["params"] == {"MR": "mr"} and ct.get_params()["params"] == {"CT": "ct"}
    assert {k: v for k, v in mr.get_params().items() if k != "params"} == {
        k: v for k, v in ext.get_params().items() if k != "params"
    }
    assert recipe_hash(recipe_of(mr)) != recipe_hash(recipe_of(ct))
    assert mr.parts() == [mr]
    # one spec for every modality; modality keys in any case; anything else is refused
    assert modality_params("ct") == {"MR": "ct", "CT": "ct"}
    assert modality_params({"ct": "x.yaml"}) == {"CT": "x.yaml"}
    plain = {"setting": {"binWidth": 10}}
    assert modality_params(plain) == {"MR": plain, "CT": plain}
    with pytest.raises(ValueError, match="neither scan modalities"):
        modality_params({"PET": "pet.yaml"})
    with pytest.raises(ValueError, match="pass modality="):
        ext.config()  # two different files: which one?
    assert ext.config("ct")["setting"]["resegmentRange"] == [-100, 300]
    with pytest.raises(ExtractionError, match="no radiomics parameter file for CT") as err:
        mr.config("CT")
    assert err.value.category == "no parameter file"


def test_regions_are_aggregated_with_the_same_columns(two_segments):
    image, mask = two_segments
    rules = ("weighted_mean", "mean", "max", "min", "largest", "n_regions", "total_volume")
    ext = RadiomicsExtractor(params="mr", aggregate=rules)
    one, two = (ext.extract_images(image, mask, label=cell) for cell in ("1", "2"))
    both = ext.extract_images(image, mask, label="ileum=1;colon=2")
    assert set(both) == set(one) == set(two)  # the same columns whatever the number of regions
    v1, v2 = one["total_volume"], two["total_volume"]
    assert both["n_regions"] == 2 and both["total_volume"] == pytest.approx(v1 + v2, rel=1e-12)
    voxels = int((sitk.GetArrayViewFromImage(mask) == 1).sum())
    assert v1 == pytest.approx(voxels * 0.75 * 0.75 * 4.0, rel=1e-12)
    key = "original_glcm_Contrast"
    a, b = one[f"wmean__{key}"], two[f"wmean__{key}"]
    assert a != b
    assert both[f"wmean__{key}"] == pytest.approx((v1 * a + v2 * b) / (v1 + v2), rel=1e-12)
    assert both[f"mean__{key}"] == pytest.approx((a + b) / 2, rel=1e-12)
    assert (both[f"max__{key}"], both[f"min__{key}"]) == (max(a, b), min(a, b))
    assert both[f"largest__{key}"] == (a if v1 >= v2 else b)
    # an absent segment among several is uninvolved, not an error
    partial = ext.extract_images(image, mask, label="1;2;5")
    assert partial["n_regions"] == 2 and partial[f"wmean__{key}"] == both[f"wmean__{key}"]


def test_absent_labels_and_empty_masks(two_segments):
    image, mask = two_segments
    ext = RadiomicsExtractor(params="mr")
    with pytest.raises(
        ExtractionError, match=r"label 3 absent from the mask \(labels found: \[1, 2\]\)"
    ) as err:
        ext.extract_images(image, mask, label="3")
    assert err.value.category == "label absent" and "'label' column of imaging.csv" in str(err.value)
    assert "here, '1;2' reads the labels found" in str(err.value)  # the cell to write, not a generic one
    with pytest.raises(ExtractionError, match=r"labels \[3, 4\] absent"):
        ext.extract_images(image, mask, label="3;4")
    empty = sitk.Image(mask.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(mask)
    with pytest.raises(ExtractionError, match="empty mask") as err:
        ext.extract_images(image, empty)
    assert err.value.category == "empty mask"


def test_geometry_mismatch_says_how_to_resample(two_segments):
    image, mask = two_segments
    moved = sitk.Image(mask)
    moved.SetOrigin((-12.5, 20.0, -55.0))
    with pytest.raises(ExtractionError) as err:
        RadiomicsExtractor(params="mr").extract_images(image, moved, where="patient P1")
    msg = str(err.value)
    assert err.value.category == "geometry mismatch"
    assert "origin (-12.5, 20, -55) differs from the image's (-10, 20, -55)" in msg
    assert "sitk.Resample(mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0)" in msg


def test_aggregate_is_validated():
    for bad in (("median",), (), ("max", "max")):
        with pytest.raises(ValueError, match="aggregate"):
            RadiomicsExtractor(params="mr", aggregate=bad).config()


def test_cli_label_and_unreadable_category(files, capsys, tmp_path):
    img, msk = files
    assert main([str(img), str(msk), "--label", "1;2", "--aggregate", "max", "n_regions"]) == 0
    feats = json.loads(capsys.readouterr().out)
    assert feats["n_regions"] == 2 and all(k.startswith("max__") for k in set(feats) - {"n_regions"})
    assert main([str(img), str(msk), "--label", "7"]) == 1
    assert "label 7 absent" in capsys.readouterr().err
    garbage = tmp_path / "bad.nrrd"
    garbage.write_bytes(b"NRRD0004\ngarbage")
    with pytest.raises(ExtractionError, match="patient P3: image file .*bad.nrrd") as err:
        RadiomicsExtractor(params="mr").extract_case(garbage, msk, patient_id="P3")
    assert err.value.category == "unreadable file"


class _Cohort:
    def __init__(self, rows: list[dict]):
        self.rows = pd.DataFrame(rows)
        self.patient_ids = sorted(set(self.rows["patient_id"]))

    def scans(self, pid: str) -> pd.DataFrame:
        return self.rows[self.rows["patient_id"] == pid].reset_index(drop=True)

    def patients_with(self, modality: str) -> list[str]:
        return self.patient_ids


def test_ct_and_mr_parts_through_the_engine(files, tmp_path):
    img, msk = files
    hu = sitk.Cast(sitk.ReadImage(str(img)), sitk.sitkInt16) - 300  # a CT-like copy: wall ~0-200 HU
    ct_img = tmp_path / "ct.nrrd"
    sitk.WriteImage(hu, str(ct_img))
    row = {"image": "i", "mask_path": str(msk), "label": None}
    cohort = _Cohort(
        [
            {**row, "patient_id": "M", "modality": "MR", "image_path": str(img), "label": "1;2"},
            {**row, "patient_id": "C", "modality": "CT", "image_path": str(ct_img)},
            {**row, "patient_id": "B", "modality": "MR", "image_path": str(img)},
            {**row, "patient_id": "B", "modality": "CT", "image_path": str(ct_img)},
            {**row, "patient_id": "X", "modality": "MR", "image_path": str(img), "label": "1;;2"},
        ]
    )
    mr, ct = RadiomicsExtractor().parts()
    assert mr.inputs(cohort, "M")["label"] == "1;2" and mr.inputs(cohort, "C") is None
    with pytest.raises(ExtractionError, match="patient X: imaging.csv, mask .*field 'label'") as err:
        mr.inputs(cohort, "X")
    assert err.value.category == "invalid label"
    res_mr = extract_features(mr, cohort, patient_ids=["M", "C", "B"], progress=False)
    res_ct = extract_features(ct, cohort, patient_ids=["M", "C", "B"], progress=False)
    assert res_mr.failures.empty and res_ct.failures.empty  # no scan of the modality: not a failure
    assert sorted(res_mr.features.index) == ["B", "M"] and sorted(res_ct.features.index) == ["B", "C"]
    assert all(c.startswith("rad__mr__") for c in res_mr.features.columns)
    assert all(c.startswith("rad__ct__") for c in res_ct.features.columns)
    assert (
        res_mr.features.at["M", "rad__mr__n_regions"] == 2
        and res_mr.features.at["B", "rad__mr__n_regions"] == 1
    )
    # the whole extractor gives the same columns in one block
    whole = extract_features(RadiomicsExtractor(), cohort, patient_ids=["M", "C", "B"], progress=False)
    joined = pd.concat([res_mr.features, res_ct.features], axis=1).loc[
        whole.features.index, whole.features.columns
    ]
    pd.testing.assert_frame_equal(whole.features, joined)
    assert RadiomicsExtractor(params={"MR": "mr"}).skipped_modalities(cohort, ["M", "C", "B"]) == {
        "CT": ["C", "B"]
    }
    assert parse_regions(mr.inputs(cohort, "B")["label"]) == parse_regions(None)
