"""Reading the cohort's CSV tables: header and rows, undecodable cells kept and marked, never guessed."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.cohort import schema
from benchmarks.cohort.problems import ProblemLog

BAD_UTF8 = re.compile("[\udc80-\udcff]")
"""A byte that is not valid UTF-8, as decoded with ``errors="surrogateescape"``."""

SOURCE_ROW = "source_row"
"""Column of the loaded modality tables: the data row of the CSV file it comes from."""


@dataclass
class Row:
    num: int  # 1-based data row number (the header is row 0)
    cells: dict[str, str]
    bad_utf8: set[str]


@dataclass
class Table:
    file: str
    columns: list[str]
    rows: list[Row]


def read_table(
    root: Path, file: str, required: tuple[str, ...], log: ProblemLog, *, essential: bool
) -> Table | None:
    """Parse ``root / file``; None (after recording why) when the file cannot be used at all.

    ``essential`` (patients.csv): an empty file and a malformed row are fatal; otherwise an empty file
    means the modality is absent and a malformed row is an error that ignores the row.
    """
    path = root / file
    try:
        raw = path.read_bytes()
    except OSError as exc:
        log.add("error", file, f"cannot read the file: {exc.strerror or exc}", fatal=True)
        return None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    # Undecodable bytes become lone surrogates, so the bad cell (not the whole file) is named.
    text = raw.decode("utf-8", errors="surrogateescape")
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 26))
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        records = list(reader)
    except csv.Error as exc:
        log.add("error", file, f"not a readable CSV file (line {reader.line_num}): {exc}", fatal=True)
        return None
    if not records or not any(c.strip() for c in records[0]):
        if essential:
            log.add("error", file, "the file is empty (no header row)", fatal=True)
        else:  # an export with nothing to export: the modality is simply absent
            log.add("warning", file, "the file is empty: no patient has this modality")
        return None
    header = [c.strip() for c in records[0]]
    if not _header_ok(header, file, required, log):
        return None
    for i, name in enumerate(header):
        if not name:
            log.add("warning", file, f"column {i + 1} has no name and is ignored")
    rows: list[Row] = []
    num = 0
    for rec in records[1:]:
        if not rec or (len(rec) == 1 and not rec[0].strip()):
            continue  # blank line
        num += 1
        if len(rec) != len(header):
            at = header.index(schema.PATIENT_ID)
            pid = rec[at].strip() if len(rec) > at else None
            msg = f"the row has {len(rec)} fields but the header has {len(header)}; row ignored"
            log.error_excluding(file, msg, patient=pid or None, field=None, row=num, fatal=essential)
            continue
        cells = {h: v for h, v in zip(header, rec, strict=True) if h}
        bad = {h for h, v in cells.items() if BAD_UTF8.search(v)}
        rows.append(Row(num, cells, bad))
    return Table(file, [h for h in header if h], rows)


def _header_ok(header: list[str], file: str, required: tuple[str, ...], log: ProblemLog) -> bool:
    """Column names decodable and unique, required ones present (every failure is fatal)."""
    ok = True
    for i, name in enumerate(header):
        if BAD_UTF8.search(name):
            log.add("error", file, f"column {i + 1} has a name that is not valid UTF-8", fatal=True)
            ok = False
        elif name and header.index(name) != i:
            log.add("error", file, "column name appears more than once", field=name, fatal=True)
            ok = False
    for name in required:
        if name not in header:
            log.add("error", file, "required column is missing", field=name, fatal=True)
            ok = False
    return ok


def read_modality_table(
    root: Path, modality: str, required: tuple[str, ...], log: ProblemLog
) -> Table | None:
    """The table of an optional modality, or None: absent (a warning) or unusable (recorded)."""
    file = schema.MODALITY_FILES[modality]
    if not (root / file).is_file():
        log.add("warning", file, f"file not present: no patient has the {modality} modality")
        return None
    return read_table(root, file, required, log, essential=False)


@dataclass
class ModalityTable:
    """The usable rows of one modality table (a ``patient_id`` column), and how many rows the file had."""

    frame: pd.DataFrame
    n_rows: int = 0

    @property
    def patient_ids(self) -> set[str]:
        return set(self.frame[schema.PATIENT_ID])

    @classmethod
    def of(cls, records: list[dict[str, Any]], columns: list[str], n_rows: int = 0) -> ModalityTable:
        frame = pd.DataFrame.from_records(records, columns=columns)
        frame[schema.PATIENT_ID] = frame[schema.PATIENT_ID].astype(str)
        return cls(frame, n_rows)
