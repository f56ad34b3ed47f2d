"""pro.csv: one questionnaire row per patient; the documented item columns (``schema.PRO_ITEMS``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from benchmarks.cohort import schema
from benchmarks.cohort.cells import attributed_rows, clear_bad_utf8, number
from benchmarks.cohort.problems import ProblemLog
from benchmarks.cohort.tables import ModalityTable, read_modality_table


def validate_pro(root: Path, known: set[str] | None, log: ProblemLog) -> ModalityTable:
    """The usable questionnaires: one row per patient with at least one item answered (floats, NaN
    when unanswered or invalid)."""
    table = read_modality_table(root, "pro", schema.PRO_REQUIRED, log)
    if table is None:
        return _pro_table([], [])
    f = table.file
    items = [c for c in table.columns if c in schema.PRO_ITEMS]
    for col in table.columns:
        if col != schema.PATIENT_ID and col not in schema.PRO_ITEMS:
            log.add("warning", f, "unknown questionnaire column; ignored", field=col)
    if not items:
        log.add("warning", f, "no documented questionnaire item column (see schema.PRO_ITEMS)")
    first_row: dict[str, int] = {}
    records: list[dict[str, Any]] = []
    for pid, row in attributed_rows(log, table, known):
        if pid in first_row:
            msg = f"second questionnaire row for this patient (first at row {first_row[pid]}); row ignored"
            log.error_excluding(f, msg, patient=pid, field=schema.PATIENT_ID, row=row.num)
            continue
        first_row[pid] = row.num
        clear_bad_utf8(log, table, row, pid)
        rec: dict[str, Any] = {schema.PATIENT_ID: pid}
        for col in items:
            rec[col] = number(log, table, row, pid, col, schema.PRO_ITEMS[col])
        if items and all(math.isnan(rec[c]) for c in items):
            msg = "no questionnaire item answered; row ignored"
            log.add("warning", f, msg, patient=pid, row=row.num)
            log.exclude(pid, f, row.num, None, msg)
            continue
        records.append(rec)
    return _pro_table(records, items, len(table.rows))


def _pro_table(records: list[dict[str, Any]], items: list[str], n_rows: int = 0) -> ModalityTable:
    table = ModalityTable.of(records, [schema.PATIENT_ID, *items], n_rows)
    for c in items:
        table.frame[c] = table.frame[c].astype(float)
    return table
