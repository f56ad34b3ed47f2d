"""The report's extraction failures (issue 10), read from a run's result tables: counts by modality, part and
category, the patients who lost a modality by id, "none" and "not recorded" told apart."""

from __future__ import annotations

import pandas as pd

from benchmarks.store import FAILURES
from reports.diagnostics import diagnose_extraction, extraction_failures, validation_exclusions
from reports.summary import summary_markdown

COLUMNS = ["patient_id", "extractor", "part", "modality", "category", "reason"]


def _failures(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            (pid, "radiomics", part, "imaging", cat, f"ExtractionError: patient {pid}: {why}")
            for pid, part, cat, why in rows
        ],
        columns=COLUMNS,
    )


def _cohort(features: dict[str, bool]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": list(features),
            "avail_imaging": True,
            "features_imaging": list(features.values()),
            "avail_text": False,
            "features_text": False,  # a modality nobody extracted: no patient "lost" it
        }
    )


def _summary_md(run: dict) -> str:
    ext = extraction_failures(run)
    text = summary_markdown({}, [], [], [], None, [], n_boot=10, level=0.95, adjust="holm", extraction=ext)
    return text.split("## Extraction failures\n", 1)[1].split("\n## ", 1)[0]


def test_counts_by_part_and_category_and_the_lost_patients_by_id() -> None:
    failures = _failures(
        [
            ("P1", "MR", "geometry mismatch", "resample the mask"),
            ("P2", "MR", "geometry mismatch", "resample the mask"),
            ("P2", "CT", "label_absent 100%", "set the label column & rerun"),  # LaTeX specials
            ("P3", "MR", "empty mask", "no voxel"),
        ]
    )
    run = {
        "extraction_failures": failures,
        "features": pd.DataFrame({"extractor": ["radiomics"]}),
        "cohort_summary": _cohort({"P1": True, "P2": False, "P3": False, "P4": True}),
    }
    ext = extraction_failures(run)
    assert ext.counts[["part", "category", "n"]].values.tolist() == [
        ["CT", "label_absent 100%", 1],
        ["MR", "geometry mismatch", 2],
        ["MR", "empty mask", 1],
    ]
    assert ext.lost == {"imaging": ["P2", "P3"]} and ext.with_data == {"imaging": 4}  # P1 kept another part
    section = _summary_md(run)
    assert "2 of 4 patient(s) with imaging data lost it" in section and "P2, P3." in section
    assert "| imaging | MR | geometry mismatch | 2 |" in section
    tex = ext.table().to_latex()
    assert r"label\_absent 100\%" in tex and r"\& rerun" in tex
    (diag,) = diagnose_extraction(ext)
    assert diag.code == "MODALITY_LOST_IN_EXTRACTION" and diag.details["patients"] == ["P2", "P3"]


def test_none_and_not_recorded_are_told_apart() -> None:
    recorded = {
        "extraction_failures": pd.DataFrame(columns=COLUMNS),
        "features": pd.DataFrame({"extractor": ["radiomics"], "failed": [0]}),
        "cohort_summary": _cohort({"P1": True}),
    }
    assert _summary_md(recorded).strip() == "- None: every patient with a modality's data got its features."
    assert extraction_failures(recorded).table() is None
    absent = {"extraction_failures": pd.DataFrame(), "features": pd.DataFrame()}
    assert f"Not recorded: the run folder has no {FAILURES}" in _summary_md(absent)


def test_an_old_failures_table_and_a_missing_cohort_summary_do_not_hide_the_failures() -> None:
    old = pd.DataFrame({"patient_id": ["P1"], "extractor": ["radiomics"], "reason": ["TypeError: boom"]})
    ext = extraction_failures({"extraction_failures": old, "features": pd.DataFrame()})
    assert ext.n_failed == 1 and not ext.named
    assert any("cannot be named" in line for line in ext.lines())
    assert "TypeError: boom" in ext.table().to_markdown()


def test_validation_exclusions_are_counted_per_file_with_the_patients() -> None:
    frame = pd.DataFrame(
        {
            "patient_id": ["P2", "P1", "P1", None],
            "file": ["imaging.csv", "imaging.csv", "pro.csv", "reports.csv"],
            "row": [3, 2, 5, 7],
            "field": ["mask", "mask", "cdai_fever", "text"],
            "reason": ["mask origin differs", "file not found", "outside [0, 1]", "empty text"],
        }
    )
    lines = validation_exclusions({"excluded": frame})
    assert lines[0].startswith("4 row(s) or value(s) left out by validation")
    assert "imaging.csv: 2 (P1, P2)." in lines and "pro.csv: 1 (P1)." in lines
    assert "reports.csv: 1 (no patient named)." in lines
    assert validation_exclusions({"excluded": frame.iloc[:0]}) == [
        "None: validation left out no row and no value."
    ]
    assert validation_exclusions({"excluded": pd.DataFrame()})[0].startswith("Not recorded")
