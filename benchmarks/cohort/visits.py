"""When a row was recorded: the optional ``date`` and ``timepoint`` cells of imaging.csv, reports.csv and
pro.csv, and the optional ``endpoint_date`` of patients.csv.

Policy:

- ``date`` and ``endpoint_date`` are ISO 8601 calendar dates, ``YYYY-MM-DD`` (a real day: 2024-02-30 is
  refused); ``timepoint`` is a whole visit number, 0 = baseline (``2`` and ``2.0`` read as 2; negative
  or fractional numbers are refused). Empty cells and the missing-value tokens (``NA``, ...) are missing.
- A value that cannot be read is an error naming the patient, the file, the row, the field and the
  expected format; the cell is read as missing (recorded in ``Cohort.excluded``) and the row is kept: its
  data is valid, only its place in time is unknown. The selection rules (``benchmarks.cohort.selection``)
  then treat it as undated, and say so.

Dates are kept as their ISO text (which sorts chronologically) and timepoints as integers.
"""

from __future__ import annotations

import datetime as dt
import re

from benchmarks.cohort import schema
from benchmarks.cohort.cells import is_na, show
from benchmarks.cohort.problems import ProblemLog
from benchmarks.cohort.tables import Row, Table

DATE_FORMAT = "an ISO 8601 date YYYY-MM-DD, e.g. 2024-03-15"
TIMEPOINT_FORMAT = "a whole visit number >= 0 (0 = baseline), e.g. 0, 1, 2"
VISIT_COLUMNS = (schema.DATE_COLUMN, schema.TIMEPOINT_COLUMN)
"""The optional visit columns of the modality tables, in the order they are stored."""

_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_WHOLE = re.compile(r"^\+?(\d+)(\.0*)?$")


def parse_date(text: str | None) -> tuple[str | None, str | None]:
    """``(ISO date, None)`` for a valid date, ``(None, None)`` when missing, ``(None, why)`` when invalid."""
    if is_na(text):
        return None, None
    value = text.strip()  # type: ignore[union-attr]
    m = _ISO_DATE.match(value)
    if m is None:
        return None, f"invalid date {show(value)}: expected {DATE_FORMAT}"
    try:
        day = dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError as exc:
        return None, f"invalid date {show(value)} ({exc}): expected {DATE_FORMAT}"
    return day.isoformat(), None


def parse_timepoint(text: str | None) -> tuple[int | None, str | None]:
    """``(visit number, None)``, ``(None, None)`` when missing, ``(None, why)`` when invalid."""
    if is_na(text):
        return None, None
    value = text.strip()  # type: ignore[union-attr]
    m = _WHOLE.match(value)
    if m is None:
        return None, f"invalid timepoint {show(value)}: expected {TIMEPOINT_FORMAT}"
    return int(m[1]), None


def days_between(a: str, b: str) -> int:
    """Whole days from ISO date ``a`` to ISO date ``b`` (negative when ``b`` is earlier)."""
    return (dt.date.fromisoformat(b) - dt.date.fromisoformat(a)).days


def row_visit(log: ProblemLog, table: Table, row: Row, pid: str) -> dict[str, str | int | None]:
    """The row's valid ``date`` and ``timepoint`` (only the columns the table has); an invalid value is
    an error naming the patient, file, row, field and format, and reads as missing (the row is kept)."""
    out: dict[str, str | int | None] = {}
    for col, parse in ((schema.DATE_COLUMN, parse_date), (schema.TIMEPOINT_COLUMN, parse_timepoint)):
        if col not in table.columns:
            continue
        value, why = parse(row.cells.get(col))
        if why is not None:
            msg = f"{why}; read as missing (the row is kept, without its place in time)"
            log.error_excluding(table.file, msg, patient=pid, field=col, row=row.num)
        out[col] = value
    return out


def endpoint_date(log: ProblemLog, table: Table, row: Row, pid: str) -> str | None:
    """The patient's valid ``endpoint_date`` (ISO text) or None; an invalid value is an error, read as
    missing (the patient is kept; the "closest" rule then falls back to "baseline" for them)."""
    col = schema.ENDPOINT_DATE_COLUMN
    value, why = parse_date(row.cells.get(col))
    if why is not None:
        msg = f"{why}; read as missing (selection rule 'closest' falls back to 'baseline' for this patient)"
        log.error_excluding(table.file, msg, patient=pid, field=col, row=row.num)
    return value
