"""Checks of single cells shared by the table validators: patient ids, UTF-8, missing values, numbers."""

from __future__ import annotations

import math
from collections.abc import Iterator

from benchmarks.cohort import schema
from benchmarks.cohort.problems import ProblemLog
from benchmarks.cohort.tables import BAD_UTF8, Row, Table

NA_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none"})
"""Cell values (stripped, case-insensitive) read as missing in numeric and categorical columns."""

MAX_VALUE_CHARS = 40
"""Longest value quoted whole in a message (report text is never quoted)."""


def is_na(value: str | None) -> bool:
    return value is None or value.strip().lower() in NA_TOKENS


def show(value: str) -> str:
    """A value quoted for a message, shortened (never used for report text)."""
    v = value.strip()
    return repr(v if len(v) <= MAX_VALUE_CHARS else v[:MAX_VALUE_CHARS] + "...")


def row_pid(log: ProblemLog, table: Table, row: Row, known: set[str] | None, *, fatal: bool) -> str | None:
    """The row's patient id, or None (after recording why) when the row cannot be attributed.

    ``known``: the ids of patients.csv (None when it is unusable: no row is then refused as unknown).
    """
    raw = row.cells[schema.PATIENT_ID]
    f = table.file
    where = {"field": schema.PATIENT_ID, "row": row.num}
    if schema.PATIENT_ID in row.bad_utf8:
        log.error_excluding(f, "patient_id is not valid UTF-8", patient=None, fatal=fatal, **where)
        return None
    pid = raw.strip()
    if not pid:
        log.error_excluding(f, "patient_id is empty", patient=None, fatal=fatal, **where)
        return None
    if pid != raw:
        log.add("warning", f, "surrounding spaces removed from patient_id", patient=pid, **where)
    if known is not None and pid not in known:
        msg = f"unknown patient (not in {schema.PATIENTS_FILE}); row ignored"
        log.error_excluding(f, msg, patient=pid, **where)
        return None
    return pid


def attributed_rows(log: ProblemLog, table: Table, known: set[str] | None) -> Iterator[tuple[str, Row]]:
    """(patient id, row) for the rows of a modality table that belong to a patient; the others are recorded."""
    for row in table.rows:
        pid = row_pid(log, table, row, known, fatal=False)
        if pid is not None:
            yield pid, row


def clear_bad_utf8(log: ProblemLog, table: Table, row: Row, pid: str, skip: tuple[str, ...] = ()) -> None:
    """Record every undecodable cell of the row (but patient_id and ``skip``) and make it missing."""
    for col in sorted(row.bad_utf8 - {schema.PATIENT_ID, *skip}):
        pos = BAD_UTF8.search(row.cells[col]).start()  # type: ignore[union-attr]
        msg = f"value is not valid UTF-8 (first bad byte at character {pos}); read as missing"
        log.error_excluding(table.file, msg, patient=pid, field=col, row=row.num)
        row.cells[col] = ""


def number(log: ProblemLog, table: Table, row: Row, pid: str, col: str, spec: schema.ItemSpec) -> float:
    """The cell as a float; NaN when missing or invalid under ``spec`` (invalid is recorded)."""
    value = row.cells.get(col)
    if is_na(value):
        return math.nan
    why = spec.problem(value.strip())  # type: ignore[union-attr]
    if why is not None:
        msg = f"invalid value: {why}; read as missing"
        log.error_excluding(table.file, msg, patient=pid, field=col, row=row.num)
        return math.nan
    return float(value)  # type: ignore[arg-type]
