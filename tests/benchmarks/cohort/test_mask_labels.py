"""The ``label`` column of imaging.csv and the masks validation reads through ``imageio.read_mask``:
grammar errors, absent and unused labels (each message says what to write), RTSTRUCT and DICOM-SEG masks
in a cohort, a mask of another series, a geometry mismatch with its fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from benchmarks.cohort import load_cohort, schema, validate_cohort

# rt-utils 1.2.7 saves its RTSTRUCT with attributes pydicom 3 deprecates
pytestmark = pytest.mark.filterwarnings("ignore:.FileDataset.is_:DeprecationWarning")

HOWTO = '"1;2;3"'  # every label message shows how to configure several labels


@pytest.fixture(scope="module")
def base(tmp_path_factory, build_valid_cohort, dicom_scan) -> Path:
    """The valid cohort with P004's scan replaced by a DICOM series with an RTSTRUCT and a SEG (two
    regions each), a `label` column, and patient 007's mask holding labels 1, 2 and 3."""
    root = build_valid_cohort(tmp_path_factory.mktemp("labels") / "cohort")
    s = dicom_scan(root / "images" / "P004_dicom", patient="P004")
    s.rtstruct(root / "images" / "P004_rt.dcm", {"Tumour": s.tumour, "Other": s.other})
    s.seg(root / "images" / "P004_seg.dcm", {1: s.tumour, 2: s.other})
    ref = sitk.ReadImage(str(root / "images/007_image.nii.gz"))
    arr = np.zeros(sitk.GetArrayViewFromImage(ref).shape, np.uint8)
    arr[2:4, 3:8, 4:9] = 1
    arr[4, 3:8, 4:9] = 2
    arr[1, 0:3, 0:3] = 3
    mask = sitk.GetImageFromArray(arr)
    mask.CopyInformation(ref)
    sitk.WriteImage(mask, str(root / "images/007_mask.nii.gz"))
    return root


@pytest.fixture
def root(base: Path, tmp_path: Path, copy_cohort) -> Path:
    return copy_cohort(base, tmp_path / "cohort")


def _set(root: Path, edit_csv, pid: str, **cells: str) -> int:
    """Set cells of ``pid``'s row of imaging.csv (adding the label column); returns its row number."""
    found = []

    def fn(cols: list[str], rows: list[dict[str, str]]) -> None:
        if schema.LABEL_COLUMN not in cols:
            cols.append(schema.LABEL_COLUMN)
        for i, r in enumerate(rows):
            if r[schema.PATIENT_ID] == pid:
                r.update(cells)
                found.append(i + 1)

    edit_csv(root / schema.IMAGING_FILE, fn)
    return found[0]


def _mask_problems(report, pid: str):
    return [p for p in report.problems if p.patient_id == pid and p.field in ("mask", "label")]


def test_label_cell_breaking_the_grammar_is_an_error_naming_the_field(root: Path, edit_csv) -> None:
    row = _set(root, edit_csv, "007", label="ileum=1;ileum=2")
    report = validate_cohort(root)
    (p,) = _mask_problems(report, "007")
    assert (p.severity, p.file, p.field, p.row) == ("error", "imaging.csv", "label", row)
    assert "duplicate region name" in p.message and '"ileum=1;colon=2"' in p.message
    assert not load_cohort(root).availability.at["007", "imaging"]


def test_configured_labels_and_the_canonical_cell(root: Path, edit_csv) -> None:
    _set(root, edit_csv, "007", label=" ileum = 1 ; colon=2;3 ")
    report = validate_cohort(root)
    assert _mask_problems(report, "007") == []  # every label present is read: nothing to say
    c = load_cohort(root)
    assert c.scans("007")[schema.LABEL_COLUMN].tolist() == ["ileum=1;colon=2;3"]
    assert c.scans("P002")[schema.LABEL_COLUMN].isna().all()  # empty cell: the default


def test_unused_labels_warn_and_say_how_to_read_them(root: Path, edit_csv) -> None:
    row = _set(root, edit_csv, "007", label="")
    (p,) = _mask_problems(validate_cohort(root), "007")
    assert (p.severity, p.file, p.field, p.row) == ("warning", "images/007_mask.nii.gz", "mask", row)
    assert (
        "label(s) [2, 3] that the label column does not select (it reads label 1, the default)" in p.message
    )
    assert HOWTO in p.message and '"ileum=1;colon=2"' in p.message


def test_absent_labels_single_and_several(root: Path, edit_csv) -> None:
    _set(root, edit_csv, "007", label="7")
    (p,) = _mask_problems(validate_cohort(root), "007")
    assert p.severity == "warning" and "no voxel labelled 7 (labels present: [1, 2, 3])" in p.message
    assert "will fail extraction" in p.message and HOWTO in p.message
    _set(root, edit_csv, "007", label="ileum=1;colon=2;rectum=3;caecum=4")
    (p,) = _mask_problems(validate_cohort(root), "007")
    assert "region(s) caecum (label 4) have no voxel" in p.message and "uninvolved segments" in p.message
    _set(root, edit_csv, "007", label="5;6")
    absent, unused = _mask_problems(validate_cohort(root), "007")
    assert "no region has a voxel, so this scan will fail extraction" in absent.message
    assert 'label(s) [1, 2, 3] that the label column does not select (it reads "5;6")' in unused.message
    assert load_cohort(root).availability.at["007", "imaging"]  # warnings: the scan is kept


@pytest.mark.parametrize(
    ("mask", "label", "unused"),
    [("P004_rt.dcm", "wall=Tumour", "structure(s) ['Other']"), ("P004_seg.dcm", "", "segment(s) [2]")],
)
def test_dicom_masks_in_a_cohort(root: Path, edit_csv, mask: str, label: str, unused: str) -> None:
    _set(root, edit_csv, "P004", image="images/P004_dicom", mask=f"images/{mask}", label=label)
    report = validate_cohort(root)
    assert report.errors == []
    (p,) = _mask_problems(report, "P004")
    assert p.severity == "warning" and unused in p.message and HOWTO in p.message
    stored = load_cohort(root).scans("P004")[schema.LABEL_COLUMN]
    assert stored.tolist() == [label] if label else stored.isna().all()


@pytest.mark.parametrize(
    ("pid", "cells", "suggested"),
    [
        ("007", {"label": ""}, '"1;2;3" reads them too'),
        ("007", {"label": "7"}, '"1;2;3" reads the label(s) present'),
        ("007", {"label": "ileum=1"}, '"ileum=1;2;3" reads them too'),
        (
            "P004",
            {"image": "images/P004_dicom", "mask": "images/P004_rt.dcm", "label": "wall=Tumour"},
            '"wall=Tumour;Other" reads them too',
        ),
        (
            "P004",
            {"image": "images/P004_dicom", "mask": "images/P004_seg.dcm", "label": ""},
            '"1;2" reads them too',
        ),
    ],
)
def test_label_warnings_give_the_cell_to_write(root: Path, edit_csv, pid, cells, suggested) -> None:
    _set(root, edit_csv, pid, **cells)
    (p,) = _mask_problems(validate_cohort(root), pid)
    assert p.severity == "warning" and f"here, {suggested}" in p.message


def test_rtstruct_structure_absent_or_ambiguous(root: Path, edit_csv) -> None:
    _set(root, edit_csv, "P004", image="images/P004_dicom", mask="images/P004_rt.dcm", label="Colon")
    (p,) = _mask_problems(validate_cohort(root), "P004")
    assert p.severity == "warning" and "no voxel in structure 'Colon'" in p.message
    assert "structures present: ['Tumour', 'Other']" in p.message
    _set(root, edit_csv, "P004", label="")
    (p,) = _mask_problems(validate_cohort(root), "P004")
    assert p.severity == "error" and "2 structures ('Tumour', 'Other')" in p.message
    assert not load_cohort(root).availability.at["P004", "imaging"]


def test_mask_of_another_series_is_an_error_naming_patient_and_both_series(
    root: Path, edit_csv, dicom_scan
) -> None:
    other = dicom_scan(root / "images" / "P004_followup", patient="P004", seed=7)
    _set(root, edit_csv, "P004", image="images/P004_followup", mask="images/P004_seg.dcm")
    report = validate_cohort(root)
    (p,) = _mask_problems(report, "P004")
    assert (p.severity, p.patient_id, p.field, p.file) == ("error", "P004", "mask", "images/P004_seg.dcm")
    assert other.series_uid in p.message and "references series" in p.message
    c = load_cohort(root)
    assert not c.availability.at["P004", "imaging"]
    assert (c.excluded[schema.PATIENT_ID] == "P004").any()


def test_a_mask_that_does_not_fit_is_not_called_corrupt(root: Path, edit_csv, dicom_scan) -> None:
    """An RTSTRUCT to name structures of, or of another series, is readable: the message says what to
    change (the cell to write), not "unreadable or corrupt"; extraction files it as a mask mismatch."""
    from features.base import ExtractionError
    from features.imaging import RadiomicsExtractor

    _set(root, edit_csv, "P004", image="images/P004_dicom", mask="images/P004_rt.dcm", label="")
    (p,) = _mask_problems(validate_cohort(root), "P004")
    assert p.severity == "error" and "corrupt" not in p.message and "unreadable" not in p.message
    assert '"Tumour;Other" (each a region' in p.message
    dicom_scan(root / "images" / "P004_followup", patient="P004", seed=7)
    _set(root, edit_csv, "P004", image="images/P004_followup", mask="images/P004_seg.dcm")
    (p,) = _mask_problems(validate_cohort(root), "P004")
    assert p.message.startswith("the DICOM-SEG references series") and "corrupt" not in p.message
    with pytest.raises(ExtractionError, match="references series") as err:
        RadiomicsExtractor().extract_case(
            root / "images/P004_followup", root / "images/P004_seg.dcm", modality="MR"
        )
    assert err.value.category == "mask mismatch"


def test_dicom_mask_of_a_nifti_image_is_an_error(root: Path, edit_csv) -> None:
    _set(root, edit_csv, "007", mask="images/P004_rt.dcm", label="Tumour")
    (p,) = _mask_problems(validate_cohort(root), "007")
    assert p.severity == "error" and "give the image as its DICOM series folder" in p.message


def test_geometry_mismatch_says_which_resampling_to_apply(root: Path) -> None:
    ref = sitk.ReadImage(str(root / "images/P002_mask.nrrd"))
    ref.SetOrigin((0.0, 0.0, 0.0))
    ref.SetSpacing((1.0, 0.8, 3.0))
    sitk.WriteImage(ref, str(root / "images/P002_mask.nrrd"))
    (p,) = _mask_problems(validate_cohort(root), "P002")
    assert p.severity == "error" and p.message.startswith("mask spacing (1, 0.8, 3) differs")
    assert "origin (0, 0, 0) differs from the image's (-10, 5, 20)" in p.message
    assert "sitk.Resample(mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0)" in p.message
