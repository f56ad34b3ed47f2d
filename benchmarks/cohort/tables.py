"""Reading the cohort's CSV tables: header and rows, undecodable cells kept and marked, never guessed."""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.cohort import schema
from benchmarks.cohort.paths import resolve_inside, special_file
from benchmarks.cohort.problems import ProblemLog

BAD_UTF8 = re.compile("[\udc80-\udcff]")
"""A byte that is not valid UTF-8, as decoded with ``errors="surrogateescape"``."""

SOURCE_ROW = "source_row"

SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}
"""Field separators that spreadsheet exports use instead of commas, named for messages."""

SAVE_AS_CSV = "save it as comma-separated UTF-8 CSV (in Excel: Save As 'CSV UTF-8 (Comma delimited)')"

BYTE_ORDER_MARKS = (
    (b"\xff\xfe\x00\x00", "UTF-32", "FF FE 00 00"),
    (b"\x00\x00\xfe\xff", "UTF-32", "00 00 FE FF"),
    (b"\xff\xfe", "UTF-16", "FF FE"),
    (b"\xfe\xff", "UTF-16", "FE FF"),
)
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
    means the modality is absent and a malformed row is an error that ignores the row. A file that
    resolves outside the cohort folder or is not a regular file (a FIFO, a device) is refused without
    being opened, and a file that is not UTF-8 text (UTF-16, UTF-32, NUL bytes) is refused: all fatal.
    """
    path, why = resolve_inside(root.resolve(), file)
    if path is None:
        log.add("error", file, f"{why}; put the table itself in the cohort folder", fatal=True)
        return None
    special = special_file(path)
    if special is not None:
        msg = f"refused without opening it: {special}, not a regular file; put the CSV file itself there"
        log.add("error", file, msg, fatal=True)
        return None
    try:
        raw = path.read_bytes()
    except OSError as exc:
        log.add("error", file, f"cannot read the file: {exc.strerror or exc}", fatal=True)
        return None
    encoding = _not_utf8(raw)
    if encoding is not None:
        log.add("error", file, f"{encoding}; cdbench reads UTF-8: {SAVE_AS_CSV}", fatal=True)
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
    if not _header_ok(header, file, required, log, _separator(text)):
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


def _not_utf8(raw: bytes) -> str | None:
    """Why the bytes are text in another encoding than UTF-8 (a UTF-16/32 byte-order mark, NUL bytes)."""
    for bom, name, shown in BYTE_ORDER_MARKS:
        if raw.startswith(bom):
            return f"the file is encoded as {name} (it starts with the byte-order mark {shown})"
    if b"\x00" in raw[:65536]:
        return "the file contains NUL bytes: it is UTF-16 or UTF-32 without a byte-order mark, or not text"
    return None


def _separator(text: str) -> str | None:
    """The separator the first line is split by, when it is not a comma (a spreadsheet export)."""
    first = text.split("\n", 1)[0]
    counts = {sep: first.count(sep) for sep in SEPARATORS}
    sep = max(counts, key=lambda k: counts[k])
    return sep if counts[sep] > first.count(",") else None


def _header_ok(
    header: list[str], file: str, required: tuple[str, ...], log: ProblemLog, separator: str | None
) -> bool:
    """Column names decodable and unique, required ones present (every failure is fatal).

    When required columns are missing and the first line is split by another separator than commas,
    one problem names that separator and the fix instead of listing each column as missing.
    """
    missing = [name for name in required if name not in header]
    if missing and separator is not None:
        columns = "one column" if len(header) == 1 else f"{len(header)} columns"
        msg = (
            f"required column(s) missing: the file is separated by {SEPARATORS[separator]} "
            f"({separator!r}), not commas, so its header reads as {columns}; {SAVE_AS_CSV}"
        )
        log.add("error", file, msg, field=",".join(missing), fatal=True)
        return False
    ok = True
    for i, name in enumerate(header):
        if BAD_UTF8.search(name):
            log.add("error", file, f"column {i + 1} has a name that is not valid UTF-8", fatal=True)
            ok = False
        elif name and header.index(name) != i:
            log.add("error", file, "column name appears more than once", field=name, fatal=True)
            ok = False
    for name in missing:
        log.add("error", file, "required column is missing", field=name, fatal=True)
        ok = False
    return ok


def read_modality_table(
    root: Path, modality: str, required: tuple[str, ...], log: ProblemLog
) -> Table | None:
    """The table of an optional modality, or None: absent (a warning) or unusable (recorded)."""
    file = schema.MODALITY_FILES[modality]
    if not os.path.lexists(root / file):
        log.add("warning", file, f"file not present: no patient has the {modality} modality")
        return None
    table = read_table(root, file, required, log, essential=False)
    if table is not None and not table.rows:
        log.add(
            "warning", file, f"the file has a header but no data row: no patient has the {modality} modality"
        )
    return table


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
