"""pro.csv: questionnaire rows; the documented item columns (``schema.PRO_ITEMS``).

Without a ``date`` or ``timepoint`` column a patient has one questionnaire row (a second is an error,
the row ignored). With them, a patient may have several rows at distinct visits: they are candidates
for the selection rule (``benchmarks.cohort.selection``, default ``"closest"`` to the endpoint date);
two rows at the same visit (same date and timepoint, or both undated) cannot be told apart, so the
second is an error and is ignored.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from benchmarks.cohort import schema
from benchmarks.cohort.cells import attributed_rows, clear_bad_utf8, number
from benchmarks.cohort.problems import ProblemLog
from benchmarks.cohort.tables import SOURCE_ROW, ModalityTable, read_modality_table
from benchmarks.cohort.visits import VISIT_COLUMNS, row_visit


def validate_pro(root: Path, known: set[str] | None, log: ProblemLog) -> ModalityTable:
    """The usable questionnaires: one row per patient and visit with at least one item answered (floats,
    NaN when unanswered or invalid), with the valid ``date`` / ``timepoint`` when the file has them."""
    table = read_modality_table(root, "pro", schema.PRO_REQUIRED, log)
    if table is None:
        return _pro_table([], [], [])
    f = table.file
    items = [c for c in table.columns if c in schema.PRO_ITEMS]
    visit_cols = [c for c in VISIT_COLUMNS if c in table.columns]
    for col in table.columns:
        if col != schema.PATIENT_ID and col not in schema.PRO_ITEMS and col not in VISIT_COLUMNS:
            log.add("warning", f, "unknown questionnaire column; ignored", field=col)
    if not items:
        log.add("warning", f, "no documented questionnaire item column (see schema.PRO_ITEMS)")
    first_row: dict[tuple[str, Any, Any], int] = {}
    records: list[dict[str, Any]] = []
    for pid, row in attributed_rows(log, table, known):
        clear_bad_utf8(log, table, row, pid)
        visit = row_visit(log, table, row, pid)
        key = (pid, visit.get(schema.DATE_COLUMN), visit.get(schema.TIMEPOINT_COLUMN))
        if key in first_row:
            _second_row(log, f, pid, row.num, first_row[key], visit_cols, visit)
            continue
        first_row[key] = row.num
        rec: dict[str, Any] = {schema.PATIENT_ID: pid}
        for col in items:
            rec[col] = number(log, table, row, pid, col, schema.PRO_ITEMS[col])
        if items and all(math.isnan(rec[c]) for c in items):
            msg = "no questionnaire item answered; row ignored"
            log.add("warning", f, msg, patient=pid, row=row.num)
            log.exclude(pid, f, row.num, None, msg)
            continue
        rec.update(visit)
        rec[SOURCE_ROW] = row.num
        records.append(rec)
    return _pro_table(records, items, visit_cols, len(table.rows))


def _second_row(
    log: ProblemLog, f: str, pid: str, num: int, first: int, visit_cols: list[str], visit: dict[str, Any]
) -> None:
    if not visit_cols:
        msg = (
            f"second questionnaire row for this patient (first at row {first}); row ignored. To keep "
            f"several questionnaires per patient, add a {schema.DATE_COLUMN} (YYYY-MM-DD) or "
            f"{schema.TIMEPOINT_COLUMN} (visit number) column"
        )
        log.error_excluding(f, msg, patient=pid, field=schema.PATIENT_ID, row=num)
        return
    at = ", ".join(f"{c} {visit[c] if visit[c] is not None else 'missing'}" for c in visit_cols)
    msg = (
        f"second questionnaire row for this patient at the same visit ({at}; first at row {first}): "
        f"they cannot be told apart; row ignored. Give each row its own {' or '.join(visit_cols)}"
    )
    log.error_excluding(f, msg, patient=pid, field=",".join(visit_cols), row=num)


def _pro_table(
    records: list[dict[str, Any]], items: list[str], visit_cols: list[str], n_rows: int = 0
) -> ModalityTable:
    table = ModalityTable.of(records, [schema.PATIENT_ID, *items, *visit_cols, SOURCE_ROW], n_rows)
    for c in items:
        table.frame[c] = table.frame[c].astype(float)
    return table
