"""reports.csv: one row per clinical report; its text is kept exactly as written and never quoted.

The optional ``date`` and ``timepoint`` columns place a report in time (``benchmarks.cohort.visits``); a
patient may have several reports of one type, and the selection rule for text (default ``"all"``: every
report pooled) picks among them when the cohort is built (``benchmarks.cohort.selection``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.cohort import schema
from benchmarks.cohort.cells import attributed_rows, clear_bad_utf8, is_na, show
from benchmarks.cohort.language import SUPPORTED_LANGUAGES, UNDETERMINED, detect_language, normalise_language
from benchmarks.cohort.problems import ProblemLog
from benchmarks.cohort.tables import BAD_UTF8, SOURCE_ROW, ModalityTable, Row, read_modality_table
from benchmarks.cohort.visits import row_visit


def validate_reports(root: Path, known: set[str] | None, log: ProblemLog) -> ModalityTable:
    """The usable reports: rows of reports.csv with decodable, non-empty text, each with its ``language``
    (the optional column's ISO 639-1 code, else detected; a language the text features do not read is a
    warning naming the patient and the row), and the valid ``date`` / ``timepoint`` when the file has them."""
    table = read_modality_table(root, "text", schema.REPORTS_REQUIRED, log)
    if table is None:
        return ModalityTable.of([], [*schema.REPORTS_REQUIRED, SOURCE_ROW])
    f = table.file
    text_col = schema.TEXT_COLUMN
    records: list[dict[str, Any]] = []
    for pid, row in attributed_rows(log, table, known):
        clear_bad_utf8(log, table, row, pid, skip=(text_col,))
        text = row.cells[text_col]
        if text_col in row.bad_utf8:
            pos = BAD_UTF8.search(text).start()  # type: ignore[union-attr]
            msg = f"report text is not valid UTF-8 (first bad byte at character {pos}); report ignored"
            log.error_excluding(f, msg, patient=pid, field=text_col, row=row.num)
            continue
        if not text.strip():
            log.error_excluding(
                f, "report text is empty; report ignored", patient=pid, field=text_col, row=row.num
            )
            continue
        _check_report_type(log, row, pid)
        rec: dict[str, Any] = {
            c: (None if is_na(row.cells[c]) else row.cells[c].strip()) for c in table.columns if c != text_col
        }
        rec[schema.PATIENT_ID] = pid
        rec.update(row_visit(log, table, row, pid))
        rec[text_col] = text
        rec[SOURCE_ROW] = row.num
        rec[schema.LANGUAGE_COLUMN] = _report_language(log, row, pid, text)
        records.append(rec)
    columns = [*dict.fromkeys([*table.columns, schema.LANGUAGE_COLUMN]), SOURCE_ROW]
    return ModalityTable.of(records, columns, len(table.rows))


def _report_language(log: ProblemLog, row: Row, pid: str, text: str) -> str:
    """The report's language: a valid ``language`` cell, else detected; warn when it cannot be read."""
    col = schema.LANGUAGE_COLUMN
    given = row.cells.get(col)
    code = None
    if isinstance(given, str) and not is_na(given):
        code = normalise_language(given)
        if code is None:
            msg = f"language {show(given)} is not an ISO 639-1 code (e.g. en, fr); the language is detected"
            log.add("warning", schema.REPORTS_FILE, msg, patient=pid, field=col, row=row.num)
    how = "given" if code else "detected"
    code = code or detect_language(text)
    if code not in (*SUPPORTED_LANGUAGES, UNDETERMINED):
        msg = (
            f"report in language {code!r} ({how}); the text features read {list(SUPPORTED_LANGUAGES)} only, "
            "so this report is not used"
        )
        log.add("warning", schema.REPORTS_FILE, msg, patient=pid, field=col, row=row.num)
    return code


def _check_report_type(log: ProblemLog, row: Row, pid: str) -> None:
    col = schema.REPORT_TYPE_COLUMN
    rtype = row.cells[col].strip()
    if is_na(rtype):
        log.add("warning", schema.REPORTS_FILE, "report_type is missing", patient=pid, field=col, row=row.num)
    elif rtype not in schema.REPORT_TYPES:
        msg = f"unknown report_type {show(rtype)} (known: {list(schema.REPORT_TYPES)})"
        log.add("warning", schema.REPORTS_FILE, msg, patient=pid, field=col, row=row.num)
