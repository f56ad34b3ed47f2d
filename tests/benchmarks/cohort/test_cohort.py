"""Cohort loading and validation: a small valid cohort, then one broken copy per kind of bad input."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from benchmarks.cohort import (
    Cohort,
    CohortError,
    imageio,
    load_cohort,
    schema,
    severity_from_ses_cd,
    validate_cohort,
)


def only(problems, **kw):
    assert len(problems) == 1, [p.format() for p in problems]
    p = problems[0]
    for k, v in kw.items():
        assert getattr(p, k) == v, (k, p.format())
    return p


# --- the valid cohort ---------------------------------------------------------------------------------
def test_valid_cohort_has_no_problem_and_loads(valid_root: Path) -> None:
    report = validate_cohort(valid_root, check_images="full")
    assert report.problems == [], report.format()
    assert not report.fatal
    assert report.counts["patients"] == {"total": 6}
    assert report.counts["imaging"] == {"available": 5, "missing": 1, "rows": 5, "rows_excluded": 0}
    assert report.counts["text"]["available"] == 5 and report.counts["pro"]["available"] == 5
    assert "VALID" in report.format()

    c = load_cohort(valid_root)
    assert c.patient_ids == ["007", "P002", "P003", "P004", "P005", "P006"]
    assert list(c.patients.index) == c.patient_ids and c.patients.index.name == "patient_id"
    assert pd.api.types.is_string_dtype(c.patients.index)
    assert list(c.availability.columns) == list(schema.MODALITIES)
    assert c.availability.dtypes.eq(bool).all()
    assert not c.availability.at["P006", "imaging"] and not c.availability.at["P005", "text"]
    assert not c.availability.at["P004", "pro"] and c.availability.loc["007"].all()
    assert c.excluded.empty and list(c.excluded.columns)[:3] == ["patient_id", "file", "row"]
    assert list(c.endpoints.columns) == ["ses_cd", "maria", "cdai", "hbi", "severity"]
    assert c.endpoints.at["P003", "ses_cd"] == 20.0 and c.endpoints.at["P003", "severity"] == "severe"
    assert c.patients.at["007", "site"] == "A" and c.patients.at["007", "age"] == 34.0
    assert c.sex("007") == "F" and c.sex("P002") == "M"

    scans = c.scans("P004")
    assert len(scans) == 1 and {"image", "mask", "modality", "image_path", "mask_path"} <= set(scans.columns)
    assert Path(scans.at[0, "image_path"]).is_absolute() and Path(scans.at[0, "image_path"]).is_dir()
    assert c.scans("P006").empty and list(c.scans("P006").columns) == list(scans.columns)
    reports = c.reports("007")
    assert list(reports["report_type"]) == ["mre", "colonoscopy"] and reports["text"].str.len().gt(10).all()
    assert "Crohn’s flare" in c.reports("P003")["text"].iloc[1]  # non-ASCII UTF-8 survives
    pro = c.pro("007")
    assert isinstance(pro, pd.Series) and list(pro.index) == list(schema.PRO_ITEMS)
    assert pro.notna().all() and c.pro("P004") is None
    with pytest.raises(KeyError):
        c.scans("nobody")
    assert c.patients_with("imaging") == ["007", "P002", "P003", "P004", "P005"]
    assert "Thickened" not in repr(c)
    clone = pickle.loads(pickle.dumps(c))
    assert isinstance(clone, Cohort) and clone.availability.equals(c.availability)


@pytest.mark.parametrize("pid", ["007", "P002", "P003", "P004", "P005"])
def test_each_image_format_reads_with_matching_header(valid_root: Path, pid: str) -> None:
    scan = load_cohort(valid_root, validate=False).scans(pid).iloc[0]
    image = imageio.read_image(scan["image_path"])
    assert image.GetSize() == (12, 12, 6)
    header = imageio.read_image_info(scan["image_path"])
    assert imageio.geometry_differences(imageio.info_from_image(image), header) == []
    assert np.allclose(image.GetSpacing(), (0.8, 0.8, 3.0), rtol=1e-6)
    mask = imageio.read_image(scan["mask_path"])
    assert sitk.GetArrayViewFromImage(mask).sum() == 2 * 5 * 5


def test_patient_id_keeps_leading_zeros_everywhere(valid_root: Path) -> None:
    c = load_cohort(valid_root)
    assert "007" in c.patients.index and c.scans("007").at[0, "patient_id"] == "007"
    assert c.pro("007").name == "007" and c.reports("007")["patient_id"].eq("007").all()


def test_validation_and_loading_never_modify_the_folder(root: Path, edit_csv, tree_hashes) -> None:
    (root / "images" / "P002_mask.nrrd").write_bytes(b"garbage")
    edit_csv(root / schema.PRO_FILE, lambda cols, rows: rows[0].update(hbi_pain="9"))
    before = tree_hashes(root)
    for mode in ("none", "header", "full"):
        validate_cohort(root, check_images=mode)
    load_cohort(root)
    assert tree_hashes(root) == before


# --- patients.csv ----------------------------------------------------------------------------------------
def test_missing_patients_file_is_fatal(root: Path) -> None:
    (root / schema.PATIENTS_FILE).unlink()
    (root / "images" / "P002_mask.nrrd").write_bytes(b"junk")
    report = validate_cohort(root)
    assert report.fatal
    only(report.find(file="patients.csv"), severity="error", fatal=True)
    only(report.find(patient_id="P002"), file="images/P002_mask.nrrd", field="mask")  # still checked
    assert len(report.problems) == 2
    with pytest.raises(CohortError) as exc:
        load_cohort(root)
    assert exc.value.report.fatal and "patients.csv" in str(exc.value)


def test_duplicated_patient_id_is_fatal(root: Path, edit_csv) -> None:
    edit_csv(root / schema.PATIENTS_FILE, lambda cols, rows: rows.append(dict(rows[1])))
    report = validate_cohort(root)
    p = only(report.find(fatal=True), patient_id="P002", file="patients.csv", field="patient_id", row=7)
    assert "duplicate" in p.message and "row 2" in p.message
    with pytest.raises(CohortError):
        load_cohort(root)


def test_empty_patient_id_is_fatal(root: Path, edit_csv) -> None:
    edit_csv(root / schema.PATIENTS_FILE, lambda cols, rows: rows[2].update(patient_id="  "))
    p = only(validate_cohort(root).find(fatal=True), file="patients.csv", field="patient_id", row=3)
    assert "empty" in p.message


@pytest.mark.parametrize(
    ("file", "column"),
    [
        ("patients.csv", "patient_id"),
        ("imaging.csv", "mask"),
        ("imaging.csv", "modality"),
        ("reports.csv", "text"),
        ("reports.csv", "report_type"),
        ("pro.csv", "patient_id"),
    ],
)
def test_missing_required_column_is_fatal(root: Path, file: str, column: str, edit_csv) -> None:
    def drop(cols, rows):
        cols.remove(column)
        for r in rows:
            r.pop(column)

    edit_csv(root / file, drop)
    report = validate_cohort(root)
    p = only(report.find(fatal=True), file=file, field=column)
    assert "required column" in p.message


def test_no_endpoint_column_is_fatal(root: Path, edit_csv) -> None:
    def drop(cols, rows):
        for c in ("ses_cd", "maria", "cdai", "hbi", "severity"):
            cols.remove(c)
            for r in rows:
                r.pop(c)

    edit_csv(root / schema.PATIENTS_FILE, drop)
    only(validate_cohort(root).find(fatal=True), file="patients.csv")


def test_impossible_endpoint_values_are_errors_and_read_as_missing(root: Path, edit_csv) -> None:
    def bad(cols, rows):
        rows[0]["ses_cd"] = "61"  # above 60
        rows[1]["cdai"] = "high"  # not a number
        rows[2]["hbi"] = "2.5"  # not an integer
        rows[3]["severity"] = "Severe!"  # not a class

    edit_csv(root / schema.PATIENTS_FILE, bad)
    report = validate_cohort(root)
    assert not report.fatal
    only(report.find(patient_id="007", field="ses_cd", severity="error"), file="patients.csv", row=1)
    only(report.find(patient_id="P002", field="cdai", severity="error"))
    only(report.find(patient_id="P003", field="hbi", severity="error"))
    only(report.find(patient_id="P004", field="severity", severity="error"))
    c = load_cohort(root)
    assert np.isnan(c.endpoints.at["007", "ses_cd"]) and pd.isna(c.endpoints.at["P004", "severity"])
    assert set(zip(c.excluded.patient_id, c.excluded.field, strict=True)) == {
        ("007", "ses_cd"),
        ("P002", "cdai"),
        ("P003", "hbi"),
        ("P004", "severity"),
    }


def test_missing_endpoints_warn_per_patient_and_all_missing_is_an_error(root: Path, edit_csv) -> None:
    def blank(cols, rows):
        rows[0]["cdai"] = ""
        rows[0]["hbi"] = "NA"
        for c in ("ses_cd", "maria", "cdai", "hbi", "severity"):
            rows[1][c] = ""

    edit_csv(root / schema.PATIENTS_FILE, blank)
    report = validate_cohort(root)
    w = only(report.find(patient_id="007", file="patients.csv"), severity="warning")
    assert w.field == "cdai,hbi"
    e = only(report.find(patient_id="P002", file="patients.csv"), severity="error", fatal=False)
    assert "no usable endpoint" in e.message
    assert report.counts["endpoints"]["cdai"] == 4 and report.counts["endpoints"]["ses_cd"] == 5
    assert load_cohort(root).endpoints.loc["P002"].isna().all()


def test_severity_disagreeing_with_ses_cd_band_is_a_warning(root: Path, edit_csv) -> None:
    edit_csv(root / schema.PATIENTS_FILE, lambda cols, rows: rows[1].update(severity="severe"))  # ses_cd 1
    p = only(validate_cohort(root).find(patient_id="P002"), severity="warning", field="severity")
    assert "inactive" in p.message
    assert [severity_from_ses_cd(x) for x in (0, 2, 3, 6, 7, 15, 16, 60, 2.5)] == [
        "inactive", "inactive", "mild", "mild", "moderate", "moderate", "severe", "severe", "inactive",
    ]  # fmt: skip


# --- modality tables ---------------------------------------------------------------------------------
@pytest.mark.parametrize("file", ["imaging.csv", "reports.csv", "pro.csv"])
def test_rows_of_unknown_or_empty_patients_are_errors(root: Path, file: str, edit_csv) -> None:
    def bad(cols, rows):
        rows[0]["patient_id"] = "P999"
        rows[1]["patient_id"] = ""

    edit_csv(root / file, bad)
    report = validate_cohort(root, check_images="none")
    assert not report.fatal
    p = only(report.find(patient_id="P999"), severity="error", file=file, field="patient_id", row=1)
    assert "unknown patient" in p.message
    only(report.find(file=file, row=2), severity="error", field="patient_id", patient_id=None)
    c = load_cohort(root)
    assert set(c.excluded["row"]) == {1, 2} and set(c.excluded["file"]) == {file}


@pytest.mark.parametrize(
    ("file", "modality"), [("imaging.csv", "imaging"), ("reports.csv", "text"), ("pro.csv", "pro")]
)
@pytest.mark.parametrize("empty", [False, True])
def test_missing_modality_file_is_a_count_not_an_error(
    root: Path, file: str, modality: str, empty: bool
) -> None:
    if empty:
        (root / file).write_bytes(b"")
    else:
        (root / file).unlink()
    report = validate_cohort(root)
    assert not report.fatal and report.errors == []
    only(report.problems, severity="warning", file=file)
    assert report.counts[modality] == {"available": 0, "missing": 6, "rows": 0, "rows_excluded": 0}
    c = load_cohort(root)
    assert not c.availability[modality].any()
    others = [m for m in schema.MODALITIES if m != modality]
    assert c.availability[others].any().all()


def _scan_row(root: Path, pid: str) -> dict[str, str]:
    return next(
        r for r in pd.read_csv(root / "imaging.csv", dtype=str).to_dict("records") if r["patient_id"] == pid
    )


def test_truncated_nifti_image_is_reported_and_excluded(root: Path) -> None:
    rel = "images/007_image.nii.gz"
    data = (root / rel).read_bytes()
    (root / rel).write_bytes(data[: len(data) // 2])
    report = validate_cohort(root)
    assert not report.fatal
    p = only(report.find(severity="error"), patient_id="007", file=rel, field="image", row=1)
    assert "truncated" in p.message and "imaging.csv row 1" in p.message
    c = load_cohort(root)
    assert not c.availability.at["007", "imaging"] and c.availability.at["007", "text"]
    assert c.scans("007").empty
    only(
        [r for r in c.excluded.itertuples() if r.patient_id == "007"],
        file="imaging.csv",
        field="image",
        row=1,
    )
    assert report.counts["imaging"]["rows_excluded"] == 1
    with pytest.raises(imageio.ImageReadError):  # the reader refuses it too (ITK alone would not)
        imageio.read_image(root / rel)


def test_truncated_uncompressed_nifti_is_reported(root: Path) -> None:
    rel = "images/P005_image.nii"
    data = (root / rel).read_bytes()
    (root / rel).write_bytes(data[:-200])
    only(validate_cohort(root).find(severity="error"), patient_id="P005", file=rel, field="image")


@pytest.mark.parametrize("which", ["image", "mask"])
def test_garbage_bytes_are_reported(root: Path, which: str) -> None:
    rel = _scan_row(root, "P003")[which]  # an .mha file
    (root / rel).write_bytes(os.urandom(300))
    p = only(validate_cohort(root).find(severity="error"), patient_id="P003", file=rel, field=which)
    assert "unreadable or corrupt" in p.message


def test_corrupt_dicom_series_is_reported(root: Path) -> None:
    series = root / "images" / "P004_series"
    for f in sorted(series.iterdir()):
        f.write_bytes(b"not dicom at all")
    only(
        validate_cohort(root).find(severity="error"),
        patient_id="P004",
        file="images/P004_series",
        field="image",
    )


@pytest.mark.parametrize("which", ["image", "mask"])
def test_missing_image_file_is_reported(root: Path, which: str) -> None:
    rel = _scan_row(root, "P002")[which]
    (root / rel).unlink()
    p = only(validate_cohort(root, check_images="none").find(severity="error"), patient_id="P002", file=rel)
    assert p.field == which and "not found" in p.message
    assert not load_cohort(root).availability.at["P002", "imaging"]


@pytest.mark.parametrize(
    ("what", "change"),
    [
        ("spacing", {"spacing": (0.8, 0.8, 3.1)}),
        ("origin", {"origin": (-10.0, 5.0, 21.0)}),
        ("size", {"size_zyx": (5, 12, 12)}),
        ("direction", {"direction": (0, 1, 0, 1, 0, 0, 0, 0, 1)}),
        ("within tolerance", {"spacing": (0.8 * (1 + 2e-5), 0.8, 3.0)}),
    ],
)
def test_mask_geometry_must_match_its_image(
    root: Path, what: str, change: dict, make_mask, make_volume
) -> None:
    rel = "images/007_mask.nii.gz"
    kw = {k: v for k, v in change.items() if k != "direction"}
    ref = make_volume(0, **kw)
    if "direction" in change:
        ref.SetDirection(change["direction"])
    sitk.WriteImage(make_mask(ref), str(root / rel))
    errors = validate_cohort(root).find(severity="error")
    if what == "within tolerance":
        assert errors == []
        return
    p = only(errors, patient_id="007", file=rel, field="mask", row=1)
    assert p.message.startswith(f"mask {what}")


def test_empty_mask_is_reported(root: Path, make_mask, make_volume) -> None:
    rel = _scan_row(root, "P002")["mask"]
    sitk.WriteImage(make_mask(make_volume(1), empty=True), str(root / rel))
    p = only(validate_cohort(root).find(severity="error"), patient_id="P002", file=rel, field="mask")
    assert "empty" in p.message
    assert validate_cohort(root, check_images="none").problems == []  # no file opened in that mode


def test_full_mode_reads_every_voxel(root: Path, make_volume) -> None:
    img = sitk.Cast(make_volume(2), sitk.sitkFloat32)
    arr = sitk.GetArrayFromImage(img)
    arr[1, 1, 1] = np.nan
    bad = sitk.GetImageFromArray(arr)
    bad.CopyInformation(img)
    sitk.WriteImage(bad, str(root / "images/P003_image.mha"))  # ITK's NIfTI reader turns NaN into 0
    assert validate_cohort(root, check_images="header").errors == []
    p = only(validate_cohort(root, check_images="full").errors, patient_id="P003", field="image")
    assert "NaN" in p.message


def test_unknown_image_modality_is_a_warning(root: Path, edit_csv) -> None:
    edit_csv(root / schema.IMAGING_FILE, lambda cols, rows: rows[0].update(modality="PET"))
    only(validate_cohort(root).problems, severity="warning", patient_id="007", field="modality")


# --- unsafe paths ----------------------------------------------------------------------------------
@pytest.fixture
def outside_image(tmp_path: Path, make_volume) -> Path:
    """A real, readable image outside the cohort folder."""
    path = tmp_path / "outside" / "secret.nii.gz"
    path.parent.mkdir()
    sitk.WriteImage(make_volume(5), str(path))
    return path


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path the image reader is asked to open, recorded."""
    seen: list[str] = []
    for name in ("read_image", "read_image_info", "check_integrity"):
        real = getattr(imageio, name)

        def spy(path, *a, _real=real, **k):
            seen.append(os.path.realpath(path))
            return _real(path, *a, **k)

        monkeypatch.setattr(imageio, name, spy)
    return seen


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink"])
def test_paths_leaving_the_folder_are_refused_and_never_opened(
    root: Path, outside_image: Path, opened: list[str], kind: str, edit_csv
) -> None:
    if kind == "absolute":
        rel = str(outside_image)
    elif kind == "dotdot":
        rel = os.path.relpath(outside_image, root)
        assert rel.startswith("..") and (root / rel).exists()
    else:
        (root / "images" / "link.nii.gz").symlink_to(outside_image)
        rel = "images/link.nii.gz"
    edit_csv(root / schema.IMAGING_FILE, lambda cols, rows: rows[1].update(image=rel))
    for mode in ("header", "full"):
        report = validate_cohort(root, check_images=mode)
        p = only(report.find(fatal=True), patient_id="P002", file=rel, field="image", row=2)
        assert "refused" in p.message
    with pytest.raises(CohortError):
        load_cohort(root)
    assert opened, "the spy saw no read at all: it is not wired"
    assert str(outside_image) not in opened and all(Path(p).is_relative_to(root.resolve()) for p in opened)


def test_symlink_inside_the_folder_is_allowed(root: Path, edit_csv) -> None:
    (root / "images" / "alias.nii.gz").symlink_to(root / "images" / "007_image.nii.gz")
    edit_csv(root / schema.IMAGING_FILE, lambda cols, rows: rows[0].update(image="images/alias.nii.gz"))
    assert validate_cohort(root).problems == []


# --- reports ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_report_text_is_reported(root: Path, text: str, edit_csv) -> None:
    edit_csv(root / schema.REPORTS_FILE, lambda cols, rows: rows[2].update(text=text))
    report = validate_cohort(root)
    p = only(report.find(severity="error"), patient_id="P002", file="reports.csv", field="text", row=3)
    assert "empty" in p.message
    c = load_cohort(root)
    assert not c.availability.at["P002", "text"] and c.reports("P002").empty


def test_invalid_utf8_report_is_named_without_quoting_text(root: Path) -> None:
    path = root / schema.REPORTS_FILE
    data = path.read_bytes()
    secret = b"Deep ulcers in the ileum"
    assert data.count(secret) == 1
    path.write_bytes(data.replace(secret, b"Deep \xff\xfe ulcers in the ileum"))
    report = validate_cohort(root)
    p = only(report.find(severity="error"), patient_id="007", file="reports.csv", field="text", row=2)
    assert "UTF-8" in p.message
    text = report.format()
    assert "ulcers" not in text and "Deep" not in text
    c = load_cohort(root)
    assert list(c.reports("007")["report_type"]) == ["mre"]  # the other report of 007 is kept
    assert "ulcers" not in c.excluded.to_string()


def test_report_messages_never_contain_text(root: Path, edit_csv) -> None:
    def bad(cols, rows):
        rows[0]["patient_id"] = "P999"  # unknown patient: the row is rejected, its text must not leak
        cols.append("extra")
        rows[1]["extra"] = "x"

    edit_csv(root / schema.REPORTS_FILE, bad)
    with open(root / schema.REPORTS_FILE, "a", encoding="utf-8") as fh:
        fh.write('P002,mre,"Confidential finding, with comma"\n')  # too few fields
    report = validate_cohort(root)
    assert report.find(patient_id="P002", row=8)
    assert "Thickened" not in report.format() and "Confidential" not in report.format()


# --- questionnaires --------------------------------------------------------------------------------
def test_questionnaire_values_out_of_range_or_wrong_type(root: Path, edit_csv) -> None:
    def bad(cols, rows):
        rows[0]["hbi_pain"] = "4"  # range 0-3
        rows[0]["ibdq_01"] = "seven"  # not a number
        rows[1]["cdai_abdominal_mass"] = "3"  # allowed 0, 2, 5
        rows[2]["diary_stools_d1"] = "2.5"  # not an integer
        rows[2]["haematocrit"] = ""  # missing is fine
        cols.append("favourite_colour")  # unknown column

    edit_csv(root / schema.PRO_FILE, bad)
    report = validate_cohort(root)
    assert not report.fatal
    only(report.find(patient_id="007", field="hbi_pain"), severity="error", file="pro.csv", row=1)
    only(report.find(patient_id="007", field="ibdq_01"), severity="error")
    only(report.find(patient_id="P002", field="cdai_abdominal_mass"), severity="error")
    only(report.find(patient_id="P003", field="diary_stools_d1"), severity="error")
    only(report.find(field="favourite_colour"), severity="warning", file="pro.csv", patient_id=None)
    assert len(report.problems) == 5
    c = load_cohort(root)
    assert np.isnan(c.pro("007")["hbi_pain"]) and c.pro("007")["hbi_wellbeing"] >= 0
    assert np.isnan(c.pro("P003")["haematocrit"]) and "favourite_colour" not in c.pro("007").index
    assert len(c.excluded) == 4 and c.availability.at["007", "pro"]


def test_duplicate_and_blank_questionnaire_rows(root: Path, edit_csv) -> None:
    def bad(cols, rows):
        rows.append(dict(rows[0]))
        for c in schema.PRO_ITEMS:
            rows[1][c] = ""

    edit_csv(root / schema.PRO_FILE, bad)
    report = validate_cohort(root)
    only(report.find(patient_id="007"), severity="error", row=6)
    only(report.find(patient_id="P002"), severity="warning", row=2)
    c = load_cohort(root)
    assert c.availability.at["007", "pro"] and not c.availability.at["P002", "pro"]
    assert set(c.excluded["patient_id"]) == {"007", "P002"}


# --- everything at once, strictness ------------------------------------------------------------------
def test_all_problems_are_reported_at_once(
    root: Path, outside_image: Path, edit_csv, make_mask, make_volume
) -> None:
    edit_csv(root / schema.PATIENTS_FILE, lambda cols, rows: rows[0].update(ses_cd="99"))
    edit_csv(root / schema.IMAGING_FILE, lambda cols, rows: rows[4].update(image=str(outside_image)))
    (root / "images" / "P002_image.nrrd").write_bytes(b"junk")
    sitk.WriteImage(make_mask(make_volume(2), empty=True), str(root / "images/P003_mask.mha"))
    edit_csv(
        root / schema.REPORTS_FILE,
        lambda cols, rows: (rows[0].update(text=" "), rows[1].update(patient_id="X1")),
    )
    edit_csv(root / schema.PRO_FILE, lambda cols, rows: rows[2].update(ibdq_05="0"))
    report = validate_cohort(root)
    found = {(p.patient_id, p.file, p.field) for p in report.problems}
    assert found == {
        ("007", "patients.csv", "ses_cd"),
        ("P005", str(outside_image), "image"),
        ("P002", "images/P002_image.nrrd", "image"),
        ("P003", "images/P003_mask.mha", "mask"),
        ("007", "reports.csv", "text"),
        ("X1", "reports.csv", "patient_id"),
        ("P003", "pro.csv", "ibdq_05"),
    }, report.format()
    assert report.fatal and len(report.find(fatal=True)) == 1
    text = report.format()
    assert text.index("FATAL") < text.index("ERROR") and text.count("\n") >= 7 + 5
    with pytest.raises(CohortError) as exc:
        load_cohort(root)
    assert len(exc.value.report.problems) == 7


def test_non_fatal_errors_still_load_and_strict_refuses(root: Path) -> None:
    (root / "images" / "P002_image.nrrd").write_bytes(b"junk")
    assert not validate_cohort(root).fatal
    c = load_cohort(root)
    assert not c.availability.at["P002", "imaging"] and len(c.excluded) == 1
    assert validate_cohort(root, strict=True).fatal
    with pytest.raises(CohortError):
        load_cohort(root, strict=True)


def test_validate_false_skips_image_content_checks(root: Path) -> None:
    (root / "images" / "P002_image.nrrd").write_bytes(b"junk")
    c = load_cohort(root, validate=False)
    assert c.availability.at["P002", "imaging"] and c.report.check_images == "none"


def test_bom_and_whitespace_ids_and_gzip_multimember(root: Path, edit_csv) -> None:
    path = root / schema.PATIENTS_FILE
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    edit_csv(root / schema.REPORTS_FILE, lambda cols, rows: rows[0].update(patient_id=" 007 "))
    # A gzip made of two members is a valid .nii.gz whose trailer holds only the last member's length.
    rel = root / "images/007_image.nii.gz"
    raw = gzip.decompress(rel.read_bytes())
    rel.write_bytes(gzip.compress(raw[:100]) + gzip.compress(raw[100:]))
    report = validate_cohort(root)
    only(report.problems, severity="warning", patient_id="007", file="reports.csv", field="patient_id")
    assert load_cohort(root).reports("007").shape[0] == 2


def test_bad_check_images_value(root: Path) -> None:
    with pytest.raises(ValueError, match="check_images"):
        validate_cohort(root, check_images="deep")


def test_mask_without_label_one_warns_and_2d_image_is_an_error(root: Path, make_mask, make_volume) -> None:
    ref = make_volume(1)
    mask = make_mask(ref) * 2
    sitk.WriteImage(mask, str(root / "images/P002_mask.nrrd"))
    sitk.WriteImage(make_volume(0)[:, :, 2], str(root / "images/007_image.nii.gz"))
    report = validate_cohort(root)
    p = only(report.find(patient_id="P002"), severity="warning", field="mask", file="images/P002_mask.nrrd")
    assert "labelled 1" in p.message and "[2]" in p.message
    p = only(report.find(patient_id="007"), severity="error", field="image", file="images/007_image.nii.gz")
    assert "3-D" in p.message
    c = load_cohort(root)
    assert c.availability.at["P002", "imaging"] and not c.availability.at["007", "imaging"]


def test_no_image_is_opened_without_image_checks(root: Path, opened: list[str]) -> None:
    (root / "images" / "P002_image.nrrd").write_bytes(b"junk")
    c = load_cohort(root, validate=False)
    assert validate_cohort(root, check_images="none").problems == []
    assert opened == [] and c.availability["imaging"].sum() == 5
    validate_cohort(root, check_images="header")
    assert len(set(opened)) == 10  # the spy works: 5 images and 5 masks


def test_malformed_patients_rows_and_duplicate_columns_are_fatal(root: Path) -> None:
    with open(root / schema.PATIENTS_FILE, "a", encoding="utf-8") as fh:
        fh.write("P007,A,F\n")
    p = only(validate_cohort(root).find(fatal=True), file="patients.csv", row=7, patient_id="P007")
    assert "fields" in p.message
    path = root / schema.IMAGING_FILE
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text(
        "\n".join([lines[0] + ",mask", *(ln + ",x" for ln in lines[1:])]) + "\n", encoding="utf-8"
    )
    only(validate_cohort(root).find(file="imaging.csv"), fatal=True, field="mask")
