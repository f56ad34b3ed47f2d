"""RadiomicsExtractor: formats, crop invariance, failures, cohort inputs, fingerprint, CLI."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from features.base import ExtractionError
from features.imaging import RadiomicsExtractor, load_params, main
from features.registry import make_extractor

CLASSES = ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")


@pytest.fixture(scope="module")
def small_case(make_case):
    def small(seed: int = 3) -> tuple[sitk.Image, sitk.Image]:
        # 0.75 mm is exact in float32: NIfTI stores spacing as float32, so 0.8 would read back as
        # 0.800000011920929 and shift the resampling grid (a property of the format, not of the reader).
        return make_case(seed, shape=(48, 48, 20), spacing=(0.75, 0.75, 4.0), radius_mm=7.0, wall_mm=3.0)

    return small


def _assert_same(a: dict[str, float], b: dict[str, float], rtol: float) -> None:
    assert list(a) == list(b)
    va, vb = np.array(list(a.values())), np.array(list(b.values()))
    bad = [k for k, x, y in zip(a, va, vb, strict=True) if not np.isclose(x, y, rtol=rtol, atol=1e-12)]
    assert not bad, [(k, a[k], b[k]) for k in bad[:5]]


@pytest.fixture(scope="module")
def case_files(tmp_path_factory, small_case, write_dicom_series) -> dict[str, tuple[Path, Path]]:
    """The same small volume and mask written as NIfTI, NRRD, MHA and a DICOM series (mask: NIfTI)."""
    root = tmp_path_factory.mktemp("imaging")
    image, mask = small_case()
    out = {}
    for fmt, suffix in (("nifti", ".nii.gz"), ("nrrd", ".nrrd"), ("mha", ".mha")):
        sitk.WriteImage(image, str(root / f"image{suffix}"))
        sitk.WriteImage(mask, str(root / f"mask{suffix}"))
        out[fmt] = (root / f"image{suffix}", root / f"mask{suffix}")
    write_dicom_series(image, root / "dicom")
    out["dicom"] = (root / "dicom", root / "mask.nii.gz")
    return out


def test_registry_and_contract():
    ext = make_extractor("radiomics")
    assert isinstance(ext, RadiomicsExtractor)
    assert (ext.name, ext.prefix, ext.modality) == ("radiomics", "rad__", "imaging")
    assert ext.get_params() == {
        "params": {"MR": "mr", "CT": "ct"},
        "filters": None,
        "crop": True,
        "pad": "auto",
        "aggregate": ("weighted_mean", "n_regions", "total_volume"),
    }
    assert ext.fit(None) is ext


def test_shipped_params():
    mr, ct = load_params("mr"), load_params("ct")
    assert set(mr["featureClass"]) == set(CLASSES) == set(ct["featureClass"])
    assert mr["setting"]["normalize"] is True and mr["setting"]["resampledPixelSpacing"] == [1.5, 1.5, 3.0]
    assert ct["setting"]["normalize"] is False and ct["setting"]["resegmentRange"] == [-100, 300]
    assert list(mr["imageType"]) == ["Original"]
    filtered = RadiomicsExtractor(params="mr", filters="log+wavelet").config()["imageType"]
    assert filtered["LoG"]["sigma"] == [1.0, 2.0, 3.0] and "Wavelet" in filtered
    with pytest.raises(ValueError, match="filters"):
        RadiomicsExtractor(params="mr", filters="gabor").config()
    with pytest.raises(ValueError, match="crop=False"):
        RadiomicsExtractor(params={"imageType": {"Square": {}}}).config()
    with pytest.raises(FileNotFoundError):
        RadiomicsExtractor(params="/nonexistent/params.yaml").config()


def test_ct_params_resegment_to_soft_tissue_window(small_case):
    image, mask = small_case(7)
    hu = sitk.Cast(image, sitk.sitkInt16) - 400  # background ~ -100 HU, wall ~ 100-300 HU, lumen ~ 400 HU
    ct = RadiomicsExtractor(params="ct").extract_images(hu, mask)
    assert (
        ct["wmean__original_firstorder_Minimum"] >= -100 and ct["wmean__original_firstorder_Maximum"] <= 300
    )
    assert ct["wmean__original_shape_VoxelVolume"] > 0
    with pytest.raises(ExtractionError, match="pyradiomics failed"):  # nothing left in [-100, 300] HU
        RadiomicsExtractor(params="ct").extract_images(hu + 3000, mask)


def test_all_formats_give_identical_features(case_files):
    ext = RadiomicsExtractor(params="mr")
    feats = {fmt: ext.extract_case(img, msk) for fmt, (img, msk) in case_files.items()}
    ref = feats["nifti"]
    assert ref["n_regions"] == 1 and ref["total_volume"] > 0
    per_feature = [k for k in ref if k not in ("n_regions", "total_volume")]
    assert len(per_feature) > 100 and {k.split("_")[3] for k in per_feature} == set(CLASSES)
    assert all(k.startswith("wmean__original_") for k in per_feature)  # no diagnostics_* strings
    for fmt in ("nrrd", "mha", "dicom"):
        _assert_same(feats[fmt], ref, rtol=1e-9)


def test_deterministic_and_inputs_untouched(case_files):
    img, msk = case_files["nrrd"]
    before = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (img, msk)]
    ext = RadiomicsExtractor(params="mr")
    assert ext.extract_case(img, msk) == ext.extract_case(img, msk)
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in (img, msk)] == before


def test_crop_identical_to_uncropped_default_mr(make_case):
    image, mask = make_case(1)
    cropped = RadiomicsExtractor(params="mr").extract_images(image, mask)
    plain = RadiomicsExtractor(params="mr", crop=False).extract_images(image, mask)
    _assert_same(cropped, plain, rtol=1e-6)


def test_crop_identical_to_whole_image_filters_without_resampling(small_case):
    """No resampling: plain pyradiomics filters the whole image; the crop margin must make no difference."""
    image, mask = small_case(5)
    params = load_params("mr")
    del params["setting"]["resampledPixelSpacing"]
    cropped_ext = RadiomicsExtractor(params=params, filters="log+wavelet")
    cropped = cropped_ext.extract_images(image, mask)
    plain = RadiomicsExtractor(params=params, filters="log+wavelet", crop=False).extract_images(image, mask)
    assert any(k.startswith("wmean__log-sigma-3-0") for k in cropped) and any(
        k.startswith("wmean__wavelet-") for k in cropped
    )
    _assert_same(cropped, plain, rtol=1e-6)
    # and the margin matters: a crop without it changes the filtered features
    tight = RadiomicsExtractor(params=params, filters="log+wavelet", pad=1).extract_images(image, mask)
    log_keys = [k for k in plain if k.startswith("wmean__log-sigma-3-0")]
    assert not np.allclose([tight[k] for k in log_keys], [plain[k] for k in log_keys], rtol=1e-6)


def test_crop_identical_with_resampling_and_filters(small_case):
    """With resampling, pyradiomics itself only resamples the ROI plus padDistance: same padDistance, same result."""
    image, mask = small_case(6)
    cropped = RadiomicsExtractor(params="mr", filters="log+wavelet").extract_images(image, mask)
    plain = RadiomicsExtractor(params="mr", filters="log+wavelet", crop=False).extract_images(image, mask)
    _assert_same(cropped, plain, rtol=1e-6)


def test_failures_raise_extraction_error(tmp_path, case_files, small_case):
    ext = RadiomicsExtractor(params="mr")
    img, msk = case_files["nrrd"]
    corrupt = tmp_path / "corrupt.nrrd"
    corrupt.write_bytes(img.read_bytes()[:400])
    with pytest.raises(ExtractionError, match="image file .*corrupt.nrrd"):
        ext.extract_case(corrupt, msk, patient_id="P9")
    garbage = tmp_path / "garbage.nii.gz"
    garbage.write_bytes(b"not an image at all" * 10)
    with pytest.raises(ExtractionError, match="patient P9: mask file"):
        ext.extract_case(img, garbage, patient_id="P9")

    image, mask = small_case()
    empty = sitk.Image(mask.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(mask)
    with pytest.raises(ExtractionError, match="empty mask"):
        ext.extract_images(image, empty)
    with pytest.raises(ExtractionError, match="label 1 absent"):
        ext.extract_images(image, mask * 2)
    shifted = sitk.Image(mask)
    shifted.SetSpacing((0.9, 0.75, 4.0))
    with pytest.raises(ExtractionError, match="geometry mismatch: spacing"):
        ext.extract_images(image, shifted)
    with pytest.raises(ExtractionError, match="geometry mismatch: size"):
        ext.extract_images(image, mask[:, :, :10])
    tiny = sitk.Image(mask.GetSize(), sitk.sitkUInt8)  # one voxel: pyradiomics refuses the ROI
    tiny.CopyInformation(mask)
    tiny[10, 10, 10] = 1
    with pytest.raises(ExtractionError, match="pyradiomics failed"):
        ext.extract_images(image, tiny)


class _Cohort:
    def __init__(self, rows: list[dict]):
        self.rows = pd.DataFrame(rows)

    def scans(self, pid: str) -> pd.DataFrame:
        return self.rows[self.rows["patient_id"] == pid].reset_index(drop=True)


def test_inputs_one_scan_per_modality_part(case_files):
    (img, msk), (img2, msk2) = case_files["nifti"], case_files["mha"]
    cohort = _Cohort(
        [
            {
                "patient_id": "A",
                "modality": "CT",
                "image": "a",
                "image_path": str(img2),
                "mask_path": str(msk2),
            },
            {
                "patient_id": "A",
                "modality": "MR",
                "image": "b",
                "image_path": str(img),
                "mask_path": str(msk),
            },
            {
                "patient_id": "B",
                "modality": "CT",
                "image": "c",
                "image_path": str(img2),
                "mask_path": str(msk2),
            },
            {
                "patient_id": "D",
                "modality": "MR",
                "image": "d1",
                "image_path": str(img),
                "mask_path": str(msk),
            },
            {
                "patient_id": "D",
                "modality": "MR",
                "image": "d2",
                "image_path": str(img2),
                "mask_path": str(msk2),
            },
        ]
    )
    mr, ct = RadiomicsExtractor().parts()
    assert mr.inputs(cohort, "A") == {
        "patient_id": "A",
        "image": str(img),
        "mask": str(msk),
        "modality": "MR",
        "label": "",
    }
    assert mr.inputs(cohort, "B") is None and mr.inputs(cohort, "C") is None
    assert ct.inputs(cohort, "A")["image"] == str(img2) and ct.inputs(cohort, "D") is None
    with pytest.raises(ExtractionError, match="patient D: 2 MR scans in imaging.csv .d1, d2.") as err:
        mr.inputs(cohort, "D")  # never silently the first row
    assert err.value.category == "several scans"
    feats = mr.extract(mr.inputs(cohort, "A"))
    assert feats == mr.extract_case(img, msk)
    # the whole extractor: both modalities of A, under the parts' names
    both = RadiomicsExtractor()
    inputs = both.inputs(cohort, "A")
    assert set(inputs["parts"]) == {"MR", "CT"} and set(both.inputs(cohort, "B")["parts"]) == {"CT"}
    whole = both.extract(inputs)
    assert {k[4:]: v for k, v in whole.items() if k.startswith("mr__")} == feats
    assert any(k.startswith("ct__wmean__") for k in whole)
    assert both.input_fingerprint(inputs) != both.input_fingerprint(both.inputs(cohort, "B"))


def test_fingerprint_tracks_file_contents_and_params(tmp_path, case_files, repo_root):
    src_img, src_msk = case_files["dicom"]
    folder = tmp_path / "series"
    shutil.copytree(src_img, folder)
    mask = tmp_path / "mask.nii.gz"
    shutil.copy(src_msk, mask)
    inputs = {"patient_id": "A", "image": str(folder), "mask": str(mask)}
    ext = RadiomicsExtractor(params="mr")
    fp = ext.input_fingerprint(inputs)
    assert fp == ext.input_fingerprint(dict(inputs)) and len(fp) == 64
    assert RadiomicsExtractor(params="ct").input_fingerprint(inputs) != fp
    moved = tmp_path / "elsewhere"
    shutil.copytree(folder, moved)  # same contents elsewhere: same fingerprint
    assert ext.input_fingerprint({**inputs, "image": str(moved)}) == fp
    last = sorted(folder.iterdir())[-1]
    data = bytearray(last.read_bytes())
    data[-1] ^= 0xFF
    last.write_bytes(bytes(data))
    assert ext.input_fingerprint(inputs) != fp
    custom = tmp_path / "p.yaml"
    shutil.copy(repo_root / "features" / "params" / "mr.yaml", custom)
    fp_custom = RadiomicsExtractor(params=str(custom)).input_fingerprint(inputs)
    custom.write_text(custom.read_text(encoding="utf-8").replace("binWidth: 25", "binWidth: 20"))
    assert RadiomicsExtractor(params=str(custom)).input_fingerprint(inputs) != fp_custom


def test_cli_prints_json(capsys, case_files):
    img, msk = case_files["mha"]
    assert main([str(img), str(msk), "--params", "mr"]) == 0
    feats = json.loads(capsys.readouterr().out)
    assert feats == pytest.approx(RadiomicsExtractor(params="mr").extract_case(img, msk), rel=1e-12)
    assert main([str(img), str(img), "--params", "ct"]) == 1  # image as mask: not a label image
    assert "error:" in capsys.readouterr().err


def test_engine_records_failures(tmp_path, case_files):
    from features.engine import extract_features

    img, msk = case_files["nrrd"]
    bad = tmp_path / "bad.nrrd"
    bad.write_bytes(b"NRRD0004\ngarbage")
    cohort = _Cohort(
        [
            {"patient_id": "A", "modality": "MR", "image_path": str(img), "mask_path": str(msk)},
            {"patient_id": "B", "modality": "MR", "image_path": str(bad), "mask_path": str(msk)},
        ]
    )
    cohort.patient_ids = ["A", "B"]
    ext = RadiomicsExtractor().parts()[0]
    result = extract_features(ext, cohort, patient_ids=["A", "B"], progress=False)
    assert list(result.features.index) == ["A"]
    counts = {"rad__mr__n_regions", "rad__mr__total_volume"}
    assert counts <= set(result.features.columns)
    assert all(c.startswith("rad__mr__wmean__original_") for c in set(result.features.columns) - counts)
    assert list(result.failures["patient_id"]) == ["B"]
    assert "bad.nrrd" in result.failures["reason"].iloc[0]


def test_real_cohort_loader_all_formats(tmp_path, build_valid_cohort):
    """Through benchmarks.cohort: one scan per patient in NIfTI/NRRD/MHA/DICOM; P006 has no scan."""
    from benchmarks.cohort import load_cohort
    from features.engine import extract_features

    cohort = load_cohort(build_valid_cohort(tmp_path / "cohort"))
    ext = RadiomicsExtractor().parts()[0]
    assert ext.part == "MR" and ext.inputs(cohort, "P006") is None
    assert Path(ext.inputs(cohort, "P004")["image"]).is_dir()  # the DICOM series folder
    result = extract_features(ext, cohort, n_jobs=1, progress=False)
    assert sorted(result.features.index) == ["007", "P002", "P003", "P004", "P005"]
    assert result.failures.empty and result.features.notna().all().all()
