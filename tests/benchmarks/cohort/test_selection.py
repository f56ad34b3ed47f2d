"""Several scans, reports and questionnaires per patient: the date/timepoint columns, the selection rules
and what validation says about them. Each test builds its cohort from the small valid one."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import SimpleITK as sitk

from benchmarks.cohort import (
    DEFAULT_SELECTION,
    SelectionError,
    load_cohort,
    schema,
    selection_rules,
    validate_cohort,
)
from benchmarks.cohort.selection import NO_ENDPOINT_DATE, SELECTION_COLUMNS, UNDATED, UNORDERED, select_rows
from benchmarks.cohort.tables import SOURCE_ROW


@pytest.fixture
def add_scans(make_volume, make_mask, edit_csv):
    """``add_scans(root, [(pid, modality, {column: value}), ...], first={...})``: new image/mask files and
    rows of imaging.csv; ``first`` sets cells of every existing row (e.g. a date for them)."""

    def add(root: Path, scans: list[tuple[str, str, dict[str, str]]], first: dict | None = None):
        first = first or {}
        written = []
        for k, (pid, modality, cells) in enumerate(scans):
            img = make_volume(seed=100 + k)
            image_rel, mask_rel = f"images/{pid}_extra{k}.nii.gz", f"images/{pid}_extra{k}_mask.nii.gz"
            sitk.WriteImage(img, str(root / image_rel))
            sitk.WriteImage(make_mask(img), str(root / mask_rel))
            written.append(
                {"patient_id": pid, "image": image_rel, "mask": mask_rel, "modality": modality, **cells}
            )

        def edit(columns, rows):
            for r in rows:
                r.update(first.get(r["patient_id"], {}))
            for extra in [*written, *first.values()]:
                columns.extend(c for c in extra if c not in columns)
            rows.extend(written)

        edit_csv(root / schema.IMAGING_FILE, edit)

    return add


def set_endpoint_dates(edit_csv, root: Path, dates: dict[str, str]) -> None:
    def edit(columns, rows):
        columns.append(schema.ENDPOINT_DATE_COLUMN)
        for r in rows:
            r[schema.ENDPOINT_DATE_COLUMN] = dates.get(r["patient_id"], "")

    edit_csv(root / schema.PATIENTS_FILE, edit)


def image_name(cohort, pid: str, modality: str = "MR") -> str:
    scans = cohort.scans(pid)
    rows = scans[scans["modality"] == modality]
    assert len(rows) == 1, scans
    return Path(rows["image_path"].iloc[0]).name


def chosen(cohort, modality: str, pid: str) -> pd.DataFrame:
    t = cohort.selection.table
    return t[(t["modality"] == modality) & (t["patient_id"] == pid)]


# --- the rules on imaging -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rule", "expected"),
    [("closest", "007_extra0.nii.gz"), ("baseline", "007_image.nii.gz"), ("latest", "007_extra1.nii.gz")],
)
def test_two_follow_ups_with_dates_each_rule_picks_its_scan(root, add_scans, edit_csv, rule, expected):
    add_scans(
        root,
        [("007", "MR", {"date": "2023-06-01"}), ("007", "MR", {"date": "2024-02-01"})],
        first={"007": {"date": "2023-01-10"}},
    )
    set_endpoint_dates(edit_csv, root, {"007": "2023-07-01"})
    cohort = load_cohort(root, selection={"imaging": rule})
    assert image_name(cohort, "007") == expected
    rec = chosen(cohort, "imaging", "007")
    assert len(rec) == 1 and rec["n_candidates"].iloc[0] == 3
    assert rec[["rule", "applied", "by", "fallback"]].iloc[0].tolist() == [rule, rule, "date", ""]
    assert rec[SOURCE_ROW].iloc[0] == {"closest": 6, "baseline": 1, "latest": 7}[rule]
    assert image_name(cohort, "P002") == "P002_image.nrrd"  # one scan: kept whatever the rule
    text = cohort.report.format()
    assert f"imaging  {rule}: 1 patient(s) with several scans of one image modality: 007" in text
    assert f"{rule} (date) for 1 group(s)" in text and "fell back" not in text


def test_mr_and_ct_are_both_kept_one_of_each(root, add_scans, edit_csv):
    add_scans(
        root,
        [("007", "CT", {"date": "2023-05-01"}), ("007", "CT", {"date": "2023-09-01"})],
        first={"007": {"date": "2023-01-10"}},
    )
    set_endpoint_dates(edit_csv, root, {"007": "2023-08-15"})
    cohort = load_cohort(root)  # default: closest
    scans = cohort.scans("007")
    assert sorted(scans["modality"]) == ["CT", "MR"]
    assert image_name(cohort, "007", "CT") == "007_extra1.nii.gz"  # 2023-09-01 is nearest 2023-08-15
    assert image_name(cohort, "007", "MR") == "007_image.nii.gz"
    rec = chosen(cohort, "imaging", "007").set_index("group")
    assert rec.at["CT", "n_candidates"] == 2 and rec.at["MR", "n_candidates"] == 1


def test_timepoint_only_closest_falls_back_to_baseline_by_timepoint_and_says_so(root, add_scans):
    add_scans(root, [("007", "MR", {"timepoint": "0"})], first={"007": {"timepoint": "2"}})
    cohort = load_cohort(root)
    assert image_name(cohort, "007") == "007_extra0.nii.gz"  # timepoint 0 although second in the file
    rec = chosen(cohort, "imaging", "007").iloc[0]
    assert (rec["applied"], rec["by"], rec["fallback"], rec["timepoint"]) == (
        "baseline",
        "timepoint",
        UNDATED,
        0,
    )
    assert cohort.selection.fallbacks("imaging") == {UNDATED: ["007"]}
    latest = load_cohort(root, selection={"imaging": "latest"})
    assert image_name(latest, "007") == "007_image.nii.gz"
    assert chosen(latest, "imaging", "007")["fallback"].iloc[0] == ""  # timepoints order them: no fallback
    lines = "\n".join(cohort.report.notes)
    assert f"fell back ({UNDATED}): 007" in lines


def test_no_dates_no_timepoints_the_first_row_is_kept_and_listed(root, add_scans):
    add_scans(root, [("P002", "MR", {}), ("P003", "MR", {})])
    report = validate_cohort(root, selection="baseline")
    assert report.problems == []  # several scans are normal, not a problem
    text = report.format()
    assert "imaging  baseline: 2 patient(s) with several scans of one image modality: P002, P003" in text
    assert f"fell back ({UNORDERED}): P002, P003" in text
    cohort = load_cohort(root, selection="latest")
    assert image_name(cohort, "P002") == "P002_extra0.nii.gz"  # latest in file order: the last row
    assert image_name(load_cohort(root), "P002") == "P002_image.nrrd"  # closest -> baseline: the first


def test_dated_scans_without_endpoint_date_fall_back_to_baseline(root, add_scans, edit_csv):
    add_scans(root, [("007", "MR", {"date": "2022-12-01"})], first={"007": {"date": "2023-01-10"}})
    cohort = load_cohort(root)
    assert image_name(cohort, "007") == "007_extra0.nii.gz"  # the earliest date
    assert cohort.selection.fallbacks("imaging") == {NO_ENDPOINT_DATE: ["007"]}


def test_selection_table_has_one_row_per_kept_row(root, add_scans):
    add_scans(root, [("007", "MR", {})])
    cohort = load_cohort(root)
    t = cohort.selection.table
    assert list(t.columns) == list(SELECTION_COLUMNS)
    kept = {m: sum(len(getattr(cohort, a)(p)) for p in cohort.patient_ids) for m, a in
            (("imaging", "scans"), ("text", "reports"))}  # fmt: skip
    assert t["modality"].value_counts().to_dict() == {**kept, "pro": 5}
    assert cohort.report.counts["imaging"]["rows"] == 6  # the candidates are still counted


# --- questionnaires -----------------------------------------------------------------------------------
def _second_questionnaire(edit_csv, root: Path, dates: tuple[str, str] | None, pain: tuple[str, str]):
    def edit(columns, rows):
        first = next(r for r in rows if r["patient_id"] == "P002")
        first["hbi_pain"] = pain[0]
        rows.append({**first, "hbi_pain": pain[1]})
        if dates is not None:
            columns.append(schema.DATE_COLUMN)
            first[schema.DATE_COLUMN], rows[-1][schema.DATE_COLUMN] = dates

    edit_csv(root / schema.PRO_FILE, edit)


def test_two_questionnaires_at_distinct_dates_are_candidates(root, edit_csv):
    _second_questionnaire(edit_csv, root, ("2024-01-01", "2024-03-01"), ("1", "3"))
    set_endpoint_dates(edit_csv, root, {"P002": "2024-02-20"})
    report = validate_cohort(root)
    assert report.problems == [], report.format()
    assert load_cohort(root).pro("P002")["hbi_pain"] == 3.0  # closest to 2024-02-20
    assert load_cohort(root, selection={"pro": "baseline"}).pro("P002")["hbi_pain"] == 1.0
    pro = load_cohort(root).pro("P002")
    assert list(pro.index) == list(schema.PRO_ITEMS)  # dates never reach the questionnaire's items
    assert "pro      closest: 1 patient(s) with several questionnaires: P002" in report.format()


@pytest.mark.parametrize("dates", [None, ("2024-01-01", "2024-01-01"), ("", "")])
def test_two_questionnaires_at_the_same_visit_stay_an_error(root, edit_csv, dates):
    _second_questionnaire(edit_csv, root, dates, ("1", "3"))
    report = validate_cohort(root)
    [p] = report.find(patient_id="P002", file=schema.PRO_FILE)
    assert p.severity == "error" and p.row == 6 and "second questionnaire row" in p.message
    assert (
        ("add a date (YYYY-MM-DD) or timepoint" in p.message)
        if dates is None
        else ("same visit" in p.message)
    )
    cohort = load_cohort(root)
    assert cohort.pro("P002")["hbi_pain"] == 1.0  # the first row, the second ignored and listed
    assert ((cohort.excluded["patient_id"] == "P002") & (cohort.excluded["row"] == 6)).sum() == 1


# --- reports --------------------------------------------------------------------------------------------
def _more_reports(edit_csv, root: Path):
    def edit(columns, rows):
        rows.append(
            {
                "patient_id": "007",
                "report_type": "mre",
                "text": "Follow-up: healed ileum.",
                "date": "2024-06-01",
            }
        )

    edit_csv(root / schema.REPORTS_FILE, edit)


def test_reports_all_pools_every_report_latest_keeps_one_per_type(root, edit_csv):
    _more_reports(edit_csv, root)  # 007: mre 2024-01-01, colonoscopy 2024-01-02, mre 2024-06-01
    pooled = load_cohort(root)
    assert pooled.selection.rules["text"] == "all" == DEFAULT_SELECTION["text"]
    assert list(pooled.reports("007")["report_type"]) == ["mre", "colonoscopy", "mre"]
    assert "text     all: every report kept (1 patient(s) with several reports of one type)" in (
        pooled.report.format()
    )
    latest = load_cohort(root, selection={"text": "latest"})
    reports = latest.reports("007")
    assert list(reports["report_type"]) == ["colonoscopy", "mre"]
    assert reports["text"].iloc[1] == "Follow-up: healed ileum." and reports["date"].iloc[1] == "2024-06-01"
    baseline = load_cohort(root, selection={"text": "baseline"})
    assert "Thickened" in baseline.reports("007")["text"].iloc[0]


# --- bad values -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("date", "15/03/2024", "expected an ISO 8601 date YYYY-MM-DD"),
        ("date", "2024-02-30", "day is out of range"),
        ("timepoint", "-1", "expected a whole visit number >= 0"),
        ("timepoint", "1.5", "expected a whole visit number >= 0"),
    ],
)
def test_a_bad_date_or_timepoint_is_an_error_naming_where_and_the_format(
    root, edit_csv, column, value, expected
):
    def edit(columns, rows):
        columns.append(column)
        rows[1][column] = value  # P002

    edit_csv(root / schema.IMAGING_FILE, edit)
    report = validate_cohort(root)
    [p] = report.problems
    assert (p.severity, p.file, p.patient_id, p.field, p.row) == ("error", "imaging.csv", "P002", column, 2)
    assert expected in p.message and repr(value) in p.message and "read as missing" in p.message
    cohort = load_cohort(root)
    assert len(cohort.scans("P002")) == 1  # the row is kept, undated
    assert pd.isna(cohort.scans("P002")[column].iloc[0])
    assert cohort.excluded[["patient_id", "field"]].values.tolist() == [["P002", column]]


def test_valid_dates_and_timepoints_are_normalised(root, edit_csv):
    def edit(columns, rows):
        columns.extend(["date", "timepoint"])
        rows[0].update(date=" 2024-03-05 ", timepoint="2.0")

    edit_csv(root / schema.IMAGING_FILE, edit)
    scan = load_cohort(root).scans("007").iloc[0]
    assert scan["date"] == "2024-03-05" and scan["timepoint"] == 2


def test_bad_endpoint_date_and_dates_in_other_tables(root, edit_csv):
    set_endpoint_dates(edit_csv, root, {"P003": "March 2024", "P002": "2024-01-31"})
    edit_csv(root / schema.REPORTS_FILE, lambda cols, rows: rows[2].update(date="2024-1-2"))
    report = validate_cohort(root)
    bad = {(p.file, p.patient_id, p.field) for p in report.errors}
    assert bad == {("patients.csv", "P003", "endpoint_date"), ("reports.csv", "P002", "date")}
    [p] = report.find(field="endpoint_date")
    assert "YYYY-MM-DD" in p.message and "falls back to 'baseline'" in p.message
    patients = load_cohort(root).patients
    assert patients.at["P002", "endpoint_date"] == "2024-01-31" and pd.isna(
        patients.at["P003", "endpoint_date"]
    )


# --- the rules themselves --------------------------------------------------------------------------------
def _frame(dates=None, timepoints=None, n=None) -> pd.DataFrame:
    n = n or len(dates or timepoints)
    frame = pd.DataFrame({"patient_id": ["P"] * n, "modality": ["MR"] * n, SOURCE_ROW: range(1, n + 1)})
    if dates is not None:
        frame["date"] = dates
    if timepoints is not None:
        frame["timepoint"] = pd.array(timepoints, dtype="Int64")
    return frame


def _pick(frame, rule, endpoint=None, modality="imaging"):
    kept, rec = select_rows(frame, modality, rule, {"P": endpoint})
    return rec[SOURCE_ROW].tolist(), rec["fallback"].tolist()


def test_closest_tie_goes_to_the_earlier_and_identical_dates_to_file_order():
    frame = _frame(["2023-03-29", "2023-02-01"])  # 28 days after and before 2023-03-01
    assert _pick(frame, "closest", "2023-03-01") == ([2], [""])
    same = _frame(["2023-02-01", "2023-02-01", "2023-01-01"])
    assert _pick(same, "closest", "2023-02-02")[0] == [1]
    assert _pick(same, "baseline")[0] == [3]
    assert _pick(same, "latest")[0] == [2]  # file order read as chronological


def test_partly_dated_candidates_are_ordered_by_timepoint_else_file_order():
    frame = _frame(["2023-01-01", None], [3, 1])
    assert _pick(frame, "closest", "2023-01-01") == ([2], [UNDATED])
    assert _pick(frame, "baseline") == ([2], [""])
    assert _pick(_frame([None, "2023-01-01"]), "latest") == ([2], [UNORDERED])


def test_pro_is_one_group_per_patient_and_text_all_keeps_everything():
    frame = _frame(["2023-01-01", "2023-05-01"])
    frame["report_type"] = ["mre", "clinic"]
    assert _pick(frame, "latest", modality="pro")[0] == [2]
    assert _pick(frame.assign(modality=["MR", "mr"]), "latest")[0] == [2]  # image modalities: any case
    assert _pick(frame, "latest", modality="text")[0] == [1, 2]  # two types: one each
    assert _pick(_frame(["2023-01-01", "2023-05-01"]).assign(report_type="mre"), "all", modality="text")[
        0
    ] == [1, 2]


def test_selection_setting_errors_name_the_key_and_the_choices():
    assert (
        selection_rules(None) == DEFAULT_SELECTION == {"imaging": "closest", "text": "all", "pro": "closest"}
    )
    assert selection_rules("latest") == {"imaging": "latest", "text": "latest", "pro": "latest"}
    assert selection_rules({"pro": "baseline"}) == {**DEFAULT_SELECTION, "pro": "baseline"}
    with pytest.raises(SelectionError, match=r"selection = 'nearest'.*closest.*baseline.*latest"):
        selection_rules("nearest")
    with pytest.raises(SelectionError, match=r"selection.scans: unknown modality.*imaging.*text.*pro"):
        selection_rules({"scans": "closest"})
    with pytest.raises(SelectionError, match=r"selection.imaging = 'all'.*choose from"):
        selection_rules({"imaging": "all"})
    with pytest.raises(SelectionError, match="text only"):
        load_cohort("/nonexistent", selection="all")  # refused before anything is read


# --- the extractors read what was selected ----------------------------------------------------------
def test_the_extractors_read_the_selected_scan_reports_and_questionnaire(root, add_scans, edit_csv):
    from features.pro import ProExtractor
    from features.registry import make_extractor
    from features.text.extractors import report_inputs

    add_scans(root, [("007", "MR", {"date": "2024-02-01"})], first={"007": {"date": "2023-01-10"}})
    set_endpoint_dates(edit_csv, root, {"007": "2024-01-20", "P002": "2024-02-20"})
    _more_reports(edit_csv, root)
    _second_questionnaire(edit_csv, root, ("2024-01-01", "2024-03-01"), ("1", "3"))
    radiomics = make_extractor("radiomics")
    [mr] = [p for p in radiomics.parts() if p.part == "MR"]
    seen = {}
    for rule in ("baseline", "latest"):
        cohort = load_cohort(root, selection=rule)
        inputs = mr.inputs(cohort, "007")
        seen[rule] = Path(inputs["image"]).name, mr.input_fingerprint(inputs)
        texts = report_inputs(cohort, "007").texts
        assert len(texts) == 2 and ("healed" in texts[-1]) == (rule == "latest")
        assert (
            ProExtractor().inputs(cohort, "P002")["items"]["hbi_pain"]
            == {"baseline": 1.0, "latest": 3.0}[rule]
        )
    assert seen["baseline"][0] == "007_image.nii.gz" and seen["latest"][0] == "007_extra0.nii.gz"
    assert seen["baseline"][1] != seen["latest"][1]  # another cache entry: other features
    assert len(report_inputs(load_cohort(root), "007").texts) == 3  # default text rule: every report
