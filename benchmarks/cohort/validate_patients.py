"""patients.csv: one row per patient with its endpoints; every other table is attributed through it.

The optional ``endpoint_date`` (ISO ``YYYY-MM-DD``, when the endpoints were assessed) is what the
selection rule ``"closest"`` measures from; it is kept as ISO text (``benchmarks.cohort.visits``)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.cohort import schema
from benchmarks.cohort.cells import clear_bad_utf8, is_na, number, row_pid, show
from benchmarks.cohort.problems import ProblemLog
from benchmarks.cohort.tables import Row, Table, read_table
from benchmarks.cohort.visits import endpoint_date

CATEGORICAL: dict[str, tuple[str, ...]] = {
    **schema.PATIENT_CATEGORICAL,
    schema.SEVERITY_COLUMN: schema.SEVERITY_CLASSES,
}
"""Allowed values of every categorical column of patients.csv."""


def present_endpoints(columns: pd.Index | list[str]) -> list[str]:
    """The endpoint columns among ``columns``, in ``schema.ENDPOINT_COLUMNS`` order."""
    return [c for c in schema.ENDPOINT_COLUMNS if c in columns]


def validate_patients(root: Path, log: ProblemLog) -> pd.DataFrame | None:
    """The patient table (index ``patient_id``; invalid cells missing), or None when patients.csv is
    missing or unreadable. Its fatal problems (duplicate ids, malformed rows, ...) are in ``log``."""
    f = schema.PATIENTS_FILE
    if not os.path.lexists(root / f):
        log.add("error", f, "required file is missing", fatal=True)
        return None
    table = read_table(root, f, schema.PATIENTS_REQUIRED, log, essential=True)
    if table is None:
        return None
    present = present_endpoints(table.columns)
    if not present:
        expected = list(schema.ENDPOINT_COLUMNS)
        log.add("error", f, f"no endpoint column (expected at least one of {expected})", fatal=True)
    first_row: dict[str, int] = {}
    records: list[dict[str, Any]] = []
    for row in table.rows:
        pid = row_pid(log, table, row, None, fatal=True)
        if pid is None:
            continue
        if pid in first_row:
            msg = f"duplicate patient_id (first at row {first_row[pid]})"
            log.add("error", f, msg, patient=pid, field=schema.PATIENT_ID, row=row.num, fatal=True)
            continue
        first_row[pid] = row.num
        clear_bad_utf8(log, table, row, pid)
        rec, invalid = _record(log, table, row, pid)
        _check_endpoints(log, rec, present, invalid, row.num)
        records.append(rec)
    if not records and table.rows == [] and not log.fatal:
        log.add("error", f, "no patient rows", fatal=True)
    return _frame(records, table.columns)


def _record(log: ProblemLog, table: Table, row: Row, pid: str) -> tuple[dict[str, Any], set[str]]:
    """The patient's cleaned values, and the columns whose value was invalid (now missing)."""
    rec: dict[str, Any] = {schema.PATIENT_ID: pid}
    n_excluded = len(log.excluded)
    invalid: set[str] = set()
    for col in table.columns:
        if col == schema.PATIENT_ID:
            continue
        value = row.cells[col]
        if col in schema.PATIENT_NUMERIC:
            rec[col] = number(log, table, row, pid, col, schema.PATIENT_NUMERIC[col])
        elif col == schema.ENDPOINT_DATE_COLUMN:
            rec[col] = endpoint_date(log, table, row, pid)
        elif col in CATEGORICAL:
            allowed = CATEGORICAL[col]
            v = value.strip()
            if is_na(v):
                rec[col] = None
            elif v not in allowed:
                msg = f"invalid value {show(v)}: expected one of {list(allowed)}; read as missing"
                log.error_excluding(table.file, msg, patient=pid, field=col, row=row.num)
                rec[col] = None
            else:
                rec[col] = v
        else:
            rec[col] = None if is_na(value) else value.strip()
        if len(log.excluded) > n_excluded:
            invalid.add(col)
            n_excluded = len(log.excluded)
    return rec, invalid


def _check_endpoints(
    log: ProblemLog, rec: dict[str, Any], present: list[str], invalid: set[str], row: int
) -> None:
    """Per patient: all endpoints missing is an error, some missing a warning.

    Real cohorts rarely score every index at every visit (a CDAI needs a 7-day diary, a MaRIA an
    MRE read), and each task only uses the patients that have its label, so one missing endpoint
    costs the patient one task: a warning, counted in ``counts['endpoints']``. A patient with no
    endpoint value at all can take part in no task, which almost always means a data-entry or
    export problem, so it is an error (the patient stays in the table; tasks skip them).
    """
    f = schema.PATIENTS_FILE
    pid = rec[schema.PATIENT_ID]
    if not present:
        return
    unusable = [
        c for c in present if rec.get(c) is None or (isinstance(rec[c], float) and math.isnan(rec[c]))
    ]
    missing = [c for c in unusable if c not in invalid]  # invalid values were reported already
    if len(unusable) == len(present):
        msg = "no usable endpoint value for this patient: it can take part in no task"
        log.add("error", f, msg, patient=pid, field=",".join(present), row=row)
    elif missing:
        log.add("warning", f, "endpoint value missing", patient=pid, field=",".join(missing), row=row)
    sev, ses = rec.get(schema.SEVERITY_COLUMN), rec.get(schema.SES_CD_COLUMN)
    if sev is not None and ses is not None and not math.isnan(ses):
        expected = schema.severity_from_ses_cd(ses)
        if expected != sev:
            msg = f"severity {sev!r} disagrees with ses_cd {ses:g} (band: {expected!r})"
            log.add("warning", f, msg, patient=pid, field=schema.SEVERITY_COLUMN, row=row)


def _frame(records: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(records, columns=columns)
    for col in df.columns:
        if col == schema.PATIENT_ID:
            continue
        if col in schema.PATIENT_NUMERIC:
            df[col] = df[col].astype(float)
        elif col not in CATEGORICAL and col not in (*schema.PATIENT_TEXT, schema.ENDPOINT_DATE_COLUMN):
            df[col] = _maybe_numeric(df[col])
    df[schema.PATIENT_ID] = df[schema.PATIENT_ID].astype(str)
    return df.set_index(schema.PATIENT_ID)


def _maybe_numeric(s: pd.Series) -> pd.Series:
    """Numbers when every present value parses and none has a leading zero (codes like "007" stay text)."""
    present = s.dropna()
    if present.empty:
        return s
    text = present.astype(str)
    if text.str.match(r"^[+-]?0\d").any():
        return s
    converted = pd.to_numeric(present, errors="coerce")
    if converted.isna().any():
        return s
    return pd.to_numeric(s, errors="coerce")
