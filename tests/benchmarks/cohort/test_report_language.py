"""The language of each report: the optional ``language`` column, detection, warnings naming the patient and
the row, and the per-language counts of the cohort summary."""

from __future__ import annotations

from benchmarks.cohort import load_cohort, schema, validate_cohort
from benchmarks.experiment.provenance import cohort_summary, report_language_counts

GERMAN = (
    "Befund: Wandverdickung des terminalen Ileums über 15 cm mit Ödem. Keine Fistel, kein Abszess. "
    "Beurteilung: aktive Ileitis terminalis bei bekanntem Morbus Crohn."
)
FRENCH = "Résultats : épaississement pariétal de l'iléon terminal, pas de fistule ni d'abcès. Conclusion : MC active."


def _with_languages(edit_csv, root, texts: dict[int, str], languages: dict[int, str] | None) -> None:
    def fn(columns, rows):
        if languages is not None:
            columns.append(schema.LANGUAGE_COLUMN)
        for i, row in enumerate(rows):
            row["text"] = texts.get(i, row["text"])
            if languages is not None:
                row[schema.LANGUAGE_COLUMN] = languages.get(i, "")

    edit_csv(root / schema.REPORTS_FILE, fn)


def test_detected_languages_and_warnings(tmp_path, build_valid_cohort, edit_csv):
    root = build_valid_cohort(tmp_path / "c")
    _with_languages(edit_csv, root, {0: FRENCH, 1: GERMAN}, None)
    report = validate_cohort(root)
    warnings = [p for p in report.problems if p.field == schema.LANGUAGE_COLUMN]
    assert len(warnings) == 1
    (w,) = warnings
    assert w.severity == "warning" and w.patient_id == "007" and w.row == 2 and "'de'" in w.message
    assert "Wandverdickung" not in report.format()  # never the text
    cohort = load_cohort(root)
    langs = cohort.reports("007")[schema.LANGUAGE_COLUMN].tolist()
    assert langs == ["fr", "de"]


def test_language_column_overrides_and_is_checked(tmp_path, build_valid_cohort, edit_csv):
    root = build_valid_cohort(tmp_path / "c")
    _with_languages(edit_csv, root, {0: FRENCH}, {0: "EN", 1: "french", 2: "de"})
    report = validate_cohort(root)
    msgs = {(p.row, p.message.split(" (")[0]) for p in report.problems if p.field == schema.LANGUAGE_COLUMN}
    assert (2, "language 'french' is not an ISO 639-1 code") in msgs
    assert any(row == 3 and "'de' (given)" in m for row, m in ((p.row, p.message) for p in report.problems))
    cohort = load_cohort(root)
    assert cohort.reports("007")[schema.LANGUAGE_COLUMN].tolist() == [
        "en",
        "en",
    ]  # given; "french" -> detected


def test_cohort_summary_counts_reports_per_language(tmp_path, build_valid_cohort, edit_csv):
    root = build_valid_cohort(tmp_path / "c")
    _with_languages(edit_csv, root, {0: FRENCH, 1: GERMAN}, {3: "fr"})
    cohort = load_cohort(root)
    counts = report_language_counts(cohort)
    assert counts.loc["007"].to_dict() == {
        "n_reports_en": 0,
        "n_reports_fr": 1,
        "n_reports_other_language": 1,
        "report_language": "fr",
    }
    assert counts.loc["P005", "report_language"] == "none"  # no reports
    summary = cohort_summary(cohort, {}).set_index("patient_id")
    assert summary.loc["P003", "report_language"] == "en+fr" and summary["n_reports_fr"].sum() == 2
    assert not any(c == "text" for c in summary.columns)
