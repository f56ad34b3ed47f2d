"""Validate and load a cohort folder (the contract is in ``benchmarks.schema``).

One pass over the folder (``_Inspector``) parses the tables, checks every row, cell and referenced
file, and collects *every* problem before anything is decided. ``validate_cohort`` returns that
report; ``load_cohort`` turns the same pass into a ``Cohort``, refusing only on fatal problems. Data
hit by a non-fatal error (a corrupt scan, an empty report, an out-of-range item) is left out of the
cohort and listed in ``Cohort.excluded``: nothing is dropped silently.

Policy, chosen so that a real cohort with a few damaged files can still be benchmarked:

- fatal: no readable ``patients.csv``; a required column missing; empty or duplicated patient ids in
  ``patients.csv``; no endpoint column at all; malformed rows of ``patients.csv``; a path that is
  absolute or leaves the cohort folder (refused, never opened).
- error (data excluded, run continues): rows naming unknown patients or no patient; unreadable,
  truncated or missing image files; a mask whose geometry differs from its image; an empty mask;
  empty or non-UTF-8 report text; impossible values (the cell is set missing); a patient with no
  endpoint value at all.
- warning (kept): some endpoints missing; severity disagreeing with the SES-CD band; unknown columns
  in ``pro.csv``; unknown report types or image modalities; a missing modality table.

``strict=True`` makes every error fatal.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from benchmarks import imageio, schema
from benchmarks.validation import CohortError, Problem, ValidationReport

__all__ = [
    "CHECK_IMAGES",
    "Cohort",
    "CohortError",
    "Problem",
    "ValidationReport",
    "load_cohort",
    "severity_from_ses_cd",
    "validate_cohort",
]

CHECK_IMAGES = ("none", "header", "full")
"""Image checks: ``none`` (paths only, no file opened), ``header`` (geometry from headers, a cheap
truncation test, mask voxels for emptiness; the default) or ``full`` (every voxel of every image)."""

NA_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none"})
"""Cell values (stripped, case-insensitive) read as missing in numeric and categorical columns."""

SEVERITY_SES_CD_BANDS: tuple[tuple[str, float, float], ...] = (
    ("inactive", 0, 2),
    ("mild", 3, 6),
    ("moderate", 7, 15),
    ("severe", 16, math.inf),
)
"""Moskovitz-style SES-CD bands behind ``schema.SEVERITY_CLASSES`` (used for a consistency warning)."""

ENDPOINT_COLUMNS = (*schema.ENDPOINTS, schema.SEVERITY_COLUMN)
EXCLUDED_COLUMNS = ("patient_id", "file", "row", "field", "reason")
_FLAG_SPEC = schema.ItemSpec(0, 1, description="0/1 flag")
_BAD_UTF8 = re.compile("[\udc80-\udcff]")
_MAX_VALUE_CHARS = 40


def severity_from_ses_cd(ses_cd: float) -> str | None:
    """Severity class of a total SES-CD under ``SEVERITY_SES_CD_BANDS`` (None when missing)."""
    if ses_cd is None or ses_cd != ses_cd:
        return None
    # The last band whose lower edge is reached (also places a non-integer total between bands).
    name = SEVERITY_SES_CD_BANDS[0][0]
    for band, low, _ in SEVERITY_SES_CD_BANDS:
        if ses_cd >= low:
            name = band
    return name


def _is_na(value: str | None) -> bool:
    return value is None or value.strip().lower() in NA_TOKENS


def _show(value: str) -> str:
    """A value quoted for a message, shortened (never used for report text)."""
    v = value.strip()
    return repr(v if len(v) <= _MAX_VALUE_CHARS else v[:_MAX_VALUE_CHARS] + "...")


@dataclass
class _Row:
    num: int  # 1-based data row number (the header is row 0)
    cells: dict[str, str]
    bad_utf8: set[str]


@dataclass
class _Table:
    file: str
    columns: list[str]
    rows: list[_Row]


class _Inspector:
    """One validation pass: fills ``problems``, ``excluded`` and the parsed, cleaned tables."""

    def __init__(self, root: str | os.PathLike[str], check_images: str, strict: bool):
        if check_images not in CHECK_IMAGES:
            raise ValueError(f"check_images must be one of {CHECK_IMAGES}, got {check_images!r}")
        self.root = Path(root)
        self.check_images = check_images
        self.strict = strict
        self.problems: list[Problem] = []
        self.excluded: list[dict[str, Any]] = []
        self.patients: pd.DataFrame | None = None
        self.scans: list[dict[str, Any]] = []
        self.reports: list[dict[str, Any]] = []
        self.pro: list[dict[str, Any]] = []
        self.scan_columns: list[str] = list(schema.IMAGING_REQUIRED)
        self.report_columns: list[str] = list(schema.REPORTS_REQUIRED)
        self.pro_columns: list[str] = []
        self.counts: dict[str, dict[str, int]] = {}
        self.n_rows: dict[str, int] = dict.fromkeys(schema.MODALITIES, 0)
        self.present_endpoints: list[str] = []
        self._image_cache: dict[Path, tuple[imageio.ImageInfo | None, str | None]] = {}
        self.no_label_one: dict[Path, list[int]] = {}
        self._mask_cache: dict[Path, tuple[imageio.ImageInfo | None, str | None, str | None]] = {}

    # -- recording ----------------------------------------------------------------------------------
    def add(
        self,
        severity: str,
        file: str,
        message: str,
        *,
        patient: str | None = None,
        field: str | None = None,
        row: int | None = None,
        fatal: bool = False,
    ) -> None:
        fatal = fatal or (self.strict and severity == "error")
        self.problems.append(Problem(severity, patient, file, field, message, row, fatal))

    def exclude(
        self, patient: str | None, file: str, row: int | None, field: str | None, reason: str
    ) -> None:
        self.excluded.append(
            {"patient_id": patient, "file": file, "row": row, "field": field, "reason": reason}
        )

    def error_excluding(
        self, file: str, message: str, *, patient: str | None, field: str | None, row: int | None,
        fatal: bool = False, excluded_file: str | None = None,
    ) -> None:  # fmt: skip
        self.add("error", file, message, patient=patient, field=field, row=row, fatal=fatal)
        self.exclude(patient, excluded_file or file, row, field, message)

    # -- the pass -----------------------------------------------------------------------------------
    def run(self) -> ValidationReport:
        if not self.root.is_dir():
            self.add("error", str(self.root), "cohort folder not found", fatal=True)
        else:
            self.real_root = self.root.resolve()
            # Without a usable patients.csv the other tables are still checked (all but the
            # unknown-patient test), so that one run lists every problem.
            known = self._patients()
            self._imaging(known)
            self._reports(known)
            self._pro(known)
            self._count(known)
        return ValidationReport(
            root=self.root, problems=self.problems, counts=self.counts, check_images=self.check_images
        )

    # -- CSV parsing --------------------------------------------------------------------------------
    def _read(self, file: str, required: tuple[str, ...], *, fatal_rows: bool) -> _Table | None:
        path = self.root / file
        try:
            raw = path.read_bytes()
        except OSError as exc:
            self.add("error", file, f"cannot read the file: {exc.strerror or exc}", fatal=True)
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
            self.add("error", file, f"not a readable CSV file (line {reader.line_num}): {exc}", fatal=True)
            return None
        if not records or not any(c.strip() for c in records[0]):
            if file == schema.PATIENTS_FILE:
                self.add("error", file, "the file is empty (no header row)", fatal=True)
            else:  # an export with nothing to export: the modality is simply absent
                self.add("warning", file, "the file is empty: no patient has this modality")
            return None
        header = [c.strip() for c in records[0]]
        ok = True
        for i, name in enumerate(header):
            if _BAD_UTF8.search(name):
                self.add("error", file, f"column {i + 1} has a name that is not valid UTF-8", fatal=True)
                ok = False
            elif name and header.index(name) != i:
                self.add("error", file, "column name appears more than once", field=name, fatal=True)
                ok = False
        for name in required:
            if name not in header:
                self.add("error", file, "required column is missing", field=name, fatal=True)
                ok = False
        if not ok:
            return None
        unnamed = [i for i, n in enumerate(header) if not n]
        for i in unnamed:
            self.add("warning", file, f"column {i + 1} has no name and is ignored")
        rows: list[_Row] = []
        num = 0
        for rec in records[1:]:
            if not rec or (len(rec) == 1 and not rec[0].strip()):
                continue  # blank line
            num += 1
            if len(rec) != len(header):
                pid = (
                    rec[header.index(schema.PATIENT_ID)].strip()
                    if len(rec) > header.index(schema.PATIENT_ID)
                    else None
                )
                msg = f"the row has {len(rec)} fields but the header has {len(header)}; row ignored"
                self.error_excluding(file, msg, patient=pid or None, field=None, row=num, fatal=fatal_rows)
                continue
            cells = {h: v for h, v in zip(header, rec, strict=True) if h}
            bad = {h for h, v in cells.items() if _BAD_UTF8.search(v)}
            rows.append(_Row(num, cells, bad))
        return _Table(file, [h for h in header if h], rows)

    def _row_pid(self, table: _Table, row: _Row, known: set[str] | None, *, fatal: bool) -> str | None:
        """The row's patient id, or None (after recording why) when the row cannot be attributed."""
        raw = row.cells[schema.PATIENT_ID]
        f = table.file
        if schema.PATIENT_ID in row.bad_utf8:
            msg = "patient_id is not valid UTF-8"
            self.error_excluding(f, msg, patient=None, field=schema.PATIENT_ID, row=row.num, fatal=fatal)
            return None
        pid = raw.strip()
        if not pid:
            msg = "patient_id is empty"
            self.error_excluding(f, msg, patient=None, field=schema.PATIENT_ID, row=row.num, fatal=fatal)
            return None
        if pid != raw:
            self.add("warning", f, "surrounding spaces removed from patient_id", patient=pid,
                     field=schema.PATIENT_ID, row=row.num)  # fmt: skip
        if known is not None and pid not in known:
            msg = f"unknown patient (not in {schema.PATIENTS_FILE}); row ignored"
            self.error_excluding(f, msg, patient=pid, field=schema.PATIENT_ID, row=row.num)
            return None
        return pid

    def _bad_utf8_cells(self, table: _Table, row: _Row, pid: str, skip: tuple[str, ...] = ()) -> None:
        for col in sorted(row.bad_utf8 - {schema.PATIENT_ID, *skip}):
            pos = _BAD_UTF8.search(row.cells[col]).start()  # type: ignore[union-attr]
            self.error_excluding(table.file, f"value is not valid UTF-8 (first bad byte at character {pos}); "
                                 "read as missing", patient=pid, field=col, row=row.num)  # fmt: skip
            row.cells[col] = ""

    def _number(self, table: _Table, row: _Row, pid: str, col: str, spec: schema.ItemSpec) -> float:
        value = row.cells.get(col)
        if _is_na(value):
            return math.nan
        why = spec.problem(value.strip())  # type: ignore[union-attr]
        if why is not None:
            self.error_excluding(table.file, f"invalid value: {why}; read as missing", patient=pid, field=col,
                                 row=row.num)  # fmt: skip
            return math.nan
        return float(value)  # type: ignore[arg-type]

    # -- patients.csv -------------------------------------------------------------------------------
    def _patients(self) -> set[str] | None:
        f = schema.PATIENTS_FILE
        if not (self.root / f).is_file():
            self.add("error", f, "required file is missing", fatal=True)
            return None
        table = self._read(f, (schema.PATIENT_ID,), fatal_rows=True)
        if table is None:
            return None
        present_endpoints = [c for c in ENDPOINT_COLUMNS if c in table.columns]
        if not present_endpoints:
            self.add("error", f, f"no endpoint column (expected at least one of {list(ENDPOINT_COLUMNS)})",
                     fatal=True)  # fmt: skip
        numeric = {
            **schema.ENDPOINTS,
            **schema.PATIENT_OPTIONAL,
            **{c: _FLAG_SPEC for c in schema.PATIENT_FLAGS},
        }
        first_row: dict[str, int] = {}
        records: list[dict[str, Any]] = []
        for row in table.rows:
            pid = self._row_pid(table, row, None, fatal=True)
            if pid is None:
                continue
            if pid in first_row:
                self.add("error", f, f"duplicate patient_id (first at row {first_row[pid]})", patient=pid,
                         field=schema.PATIENT_ID, row=row.num, fatal=True)  # fmt: skip
                continue
            first_row[pid] = row.num
            self._bad_utf8_cells(table, row, pid)
            rec: dict[str, Any] = {schema.PATIENT_ID: pid}
            n_excluded = len(self.excluded)
            invalid: set[str] = set()
            for col in table.columns:
                if col == schema.PATIENT_ID:
                    continue
                value = row.cells[col]
                if col in numeric:
                    rec[col] = self._number(table, row, pid, col, numeric[col])
                elif col in schema.PATIENT_CATEGORICAL or col == schema.SEVERITY_COLUMN:
                    allowed = schema.PATIENT_CATEGORICAL.get(col, schema.SEVERITY_CLASSES)
                    v = value.strip()
                    if _is_na(v):
                        rec[col] = None
                    elif v not in allowed:
                        self.error_excluding(f, f"invalid value {_show(v)}: expected one of {list(allowed)}; "
                                             "read as missing", patient=pid, field=col, row=row.num)  # fmt: skip
                        rec[col] = None
                    else:
                        rec[col] = v
                else:
                    rec[col] = None if _is_na(value) else value.strip()
                if len(self.excluded) > n_excluded:
                    invalid.add(col)
                    n_excluded = len(self.excluded)
            self._check_endpoints(rec, present_endpoints, invalid, row.num)
            records.append(rec)
        if not records and table.rows == [] and not any(p.fatal for p in self.problems):
            self.add("error", f, "no patient rows", fatal=True)
        df = pd.DataFrame.from_records(records, columns=table.columns)
        for col in df.columns:
            if col == schema.PATIENT_ID:
                continue
            if col in numeric:
                df[col] = df[col].astype(float)
            elif col not in schema.PATIENT_CATEGORICAL and col != schema.SEVERITY_COLUMN and col != "site":
                df[col] = _maybe_numeric(df[col])
        df[schema.PATIENT_ID] = df[schema.PATIENT_ID].astype(str)
        self.patients = df.set_index(schema.PATIENT_ID)
        self.present_endpoints = present_endpoints
        return set(first_row)

    def _check_endpoints(self, rec: dict[str, Any], present: list[str], invalid: set[str], row: int) -> None:
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
            self.add("error", f, "no usable endpoint value for this patient: it can take part in no task",
                     patient=pid, field=",".join(present), row=row)  # fmt: skip
        elif missing:
            self.add("warning", f, "endpoint value missing", patient=pid, field=",".join(missing), row=row)
        sev, ses = rec.get(schema.SEVERITY_COLUMN), rec.get("ses_cd")
        if sev is not None and ses is not None and not math.isnan(ses):
            expected = severity_from_ses_cd(ses)
            if expected != sev:
                self.add("warning", f, f"severity {sev!r} disagrees with ses_cd {ses:g} (band: {expected!r})",
                         patient=pid, field=schema.SEVERITY_COLUMN, row=row)  # fmt: skip

    # -- imaging.csv --------------------------------------------------------------------------------
    def _missing_table(self, modality: str) -> None:
        self.add("warning", schema.MODALITY_FILES[modality],
                 f"file not present: no patient has the {modality} modality")  # fmt: skip

    def _imaging(self, known: set[str] | None) -> None:
        f = schema.IMAGING_FILE
        if not (self.root / f).is_file():
            self._missing_table("imaging")
            return
        table = self._read(f, schema.IMAGING_REQUIRED, fatal_rows=False)
        if table is None:
            return
        self.scan_columns = table.columns
        self.n_rows["imaging"] = len(table.rows)
        for row in table.rows:
            pid = self._row_pid(table, row, known, fatal=False)
            if pid is None:
                continue
            self._bad_utf8_cells(table, row, pid)
            modality = row.cells["modality"].strip()
            if _is_na(modality):
                self.add(
                    "warning", f, "image modality is missing", patient=pid, field="modality", row=row.num
                )
            elif modality not in schema.IMAGE_MODALITIES:
                self.add("warning", f, f"unknown image modality {_show(modality)} (expected one of "
                         f"{list(schema.IMAGE_MODALITIES)})", patient=pid, field="modality", row=row.num)  # fmt: skip
            paths: dict[str, Path] = {}
            for col in ("image", "mask"):
                rel = row.cells[col].strip()
                if not rel:
                    self.error_excluding(
                        f, "path is empty; scan ignored", patient=pid, field=col, row=row.num
                    )
                    continue
                path, why = self._resolve(rel)
                if path is None:
                    self.error_excluding(rel, f"{why} ({f} row {row.num})", patient=pid, field=col, row=row.num,
                                         fatal=True, excluded_file=f)  # fmt: skip
                    continue
                if not path.exists():
                    self.error_excluding(rel, f"file not found ({f} row {row.num}); scan ignored", patient=pid,
                                         field=col, row=row.num, excluded_file=f)  # fmt: skip
                    continue
                paths[col] = path
            if len(paths) < 2:
                continue
            if self.check_images != "none" and not self._check_scan(pid, row, paths):
                continue
            rec: dict[str, Any] = {c: (None if c != schema.PATIENT_ID and _is_na(row.cells[c]) else row.cells[c].strip())
                                   for c in table.columns}  # fmt: skip
            rec[schema.PATIENT_ID] = pid
            rec["image_path"] = str(paths["image"])
            rec["mask_path"] = str(paths["mask"])
            rec["source_row"] = row.num
            self.scans.append(rec)

    def _resolve(self, rel: str) -> tuple[Path | None, str | None]:
        """The real path of ``rel`` inside the cohort folder, or None and why it is refused.

        Decided from the path text and the symbolic links along it only: a refused path is never opened.
        """
        if PurePosixPath(rel).is_absolute() or PureWindowsPath(rel).is_absolute() or PureWindowsPath(rel).drive \
                or rel.startswith("\\"):  # fmt: skip
            return None, "absolute path refused: paths must be relative to the cohort folder"
        if ".." in PurePosixPath(rel.replace("\\", "/")).parts:
            return None, "path refused: it leaves the cohort folder ('..')"
        try:
            real = Path(os.path.realpath(self.real_root / rel))
        except (OSError, ValueError) as exc:  # e.g. an embedded NUL byte
            return None, f"invalid path: {exc}"
        if not real.is_relative_to(self.real_root):
            return None, "path refused: it resolves (through a symbolic link) outside the cohort folder"
        if real.is_dir():
            for entry in os.scandir(real):
                if entry.is_symlink() and not Path(os.path.realpath(entry.path)).is_relative_to(
                    self.real_root
                ):
                    return None, f"path refused: {entry.name} in the folder links outside the cohort folder"
        return real, None

    def _image(self, path: Path) -> tuple[imageio.ImageInfo | None, str | None]:
        """(geometry, read error) of an image.

        In ``header`` mode a NIfTI file is checked from its header plus the cheap truncation test;
        other formats have no such test, so they are read whole (once) and the geometry is taken from
        the image read, which also gives DICOM series exactly the geometry the extractors will see.
        """
        if path not in self._image_cache:
            try:
                if self.check_images == "header" and imageio.image_format(path) == "nifti":
                    info = imageio.read_image_info(path)
                    imageio.check_integrity(path)
                else:
                    img = imageio.read_image(path)
                    info = imageio.info_from_image(img, imageio.image_format(path))
                    if self.check_images == "full" and img.GetPixelID() in (
                        sitk.sitkFloat32,
                        sitk.sitkFloat64,
                    ):
                        n_bad = int((~np.isfinite(sitk.GetArrayViewFromImage(img))).sum())
                        if n_bad:
                            raise imageio.ImageReadError(f"{n_bad} voxels are NaN or infinite")
                self._image_cache[path] = (info, None)
            except imageio.ImageReadError as exc:
                self._image_cache[path] = (None, str(exc))
        return self._image_cache[path]

    def _mask(self, path: Path) -> tuple[imageio.ImageInfo | None, str | None, str | None]:
        """(geometry, read error, content problem) of a mask; its voxels are read (masks are small)."""
        if path not in self._mask_cache:
            try:
                img = imageio.read_image(path)
            except imageio.ImageReadError as exc:
                self._mask_cache[path] = (None, str(exc), None)
                return self._mask_cache[path]
            info = imageio.info_from_image(img, imageio.image_format(path))
            arr = sitk.GetArrayViewFromImage(img)
            content = None
            if info.n_components != 1:
                content = f"mask has {info.n_components} components per voxel; expected a label image"
            elif not (arr > 0).any():
                content = "mask is empty (no voxel > 0)"
            elif not (arr == 1).any():
                labels = [int(v) for v in np.unique(arr[arr > 0])[:5]]
                self.no_label_one[path] = labels
            self._mask_cache[path] = (info, None, content)
        return self._mask_cache[path]

    def _check_scan(self, pid: str, row: _Row, paths: dict[str, Path]) -> bool:
        f = schema.IMAGING_FILE
        where = f"({f} row {row.num}); scan ignored"
        img_rel, mask_rel = row.cells["image"].strip(), row.cells["mask"].strip()

        def error(rel: str, field: str, message: str) -> None:
            self.error_excluding(
                rel, f"{message} {where}", patient=pid, field=field, row=row.num, excluded_file=f
            )

        img_info, img_err = self._image(paths["image"])
        if img_err:
            error(img_rel, "image", f"unreadable or corrupt image: {img_err}")
        elif img_info is not None and (img_info.dimension != 3 or img_info.n_components != 1):
            error(img_rel, "image", f"a {img_info.dimension}-D image with {img_info.n_components} component(s) "
                  "per voxel; a 3-D scalar volume is expected")  # fmt: skip
            img_info = None
        mask_info, mask_err, content = self._mask(paths["mask"])
        if mask_err:
            error(mask_rel, "mask", f"unreadable or corrupt mask: {mask_err}")
        elif content:
            error(mask_rel, "mask", content)
        elif paths["mask"] in self.no_label_one:
            self.add("warning", mask_rel, f"mask has no voxel labelled 1 (labels {self.no_label_one[paths['mask']]}); "
                     f"radiomics reads label 1 unless configured ({f} row {row.num})", patient=pid, field="mask",
                     row=row.num)  # fmt: skip
        if img_info is None or mask_info is None:
            return False
        diffs = imageio.geometry_differences(img_info, mask_info)
        for d in diffs:
            error(mask_rel, "mask", f"mask {d}")
        return not diffs and content is None

    # -- reports.csv --------------------------------------------------------------------------------
    def _reports(self, known: set[str] | None) -> None:
        f = schema.REPORTS_FILE
        if not (self.root / f).is_file():
            self._missing_table("text")
            return
        table = self._read(f, schema.REPORTS_REQUIRED, fatal_rows=False)
        if table is None:
            return
        self.report_columns = table.columns
        self.n_rows["text"] = len(table.rows)
        for row in table.rows:
            pid = self._row_pid(table, row, known, fatal=False)
            if pid is None:
                continue
            self._bad_utf8_cells(table, row, pid, skip=("text",))
            text = row.cells["text"]
            if "text" in row.bad_utf8:
                pos = _BAD_UTF8.search(text).start()  # type: ignore[union-attr]
                self.error_excluding(f, f"report text is not valid UTF-8 (first bad byte at character {pos}); "
                                     "report ignored", patient=pid, field="text", row=row.num)  # fmt: skip
                continue
            if not text.strip():
                self.error_excluding(f, "report text is empty; report ignored", patient=pid, field="text",
                                     row=row.num)  # fmt: skip
                continue
            rtype = row.cells["report_type"].strip()
            if _is_na(rtype):
                self.add(
                    "warning", f, "report_type is missing", patient=pid, field="report_type", row=row.num
                )
            elif rtype not in schema.REPORT_TYPES:
                self.add("warning", f, f"unknown report_type {_show(rtype)} (known: {list(schema.REPORT_TYPES)})",
                         patient=pid, field="report_type", row=row.num)  # fmt: skip
            rec: dict[str, Any] = {
                c: (None if _is_na(row.cells[c]) else row.cells[c].strip())
                for c in table.columns
                if c != "text"
            }
            rec[schema.PATIENT_ID] = pid
            rec["text"] = text
            rec["source_row"] = row.num
            self.reports.append(rec)

    # -- pro.csv ------------------------------------------------------------------------------------
    def _pro(self, known: set[str] | None) -> None:
        f = schema.PRO_FILE
        if not (self.root / f).is_file():
            self._missing_table("pro")
            return
        table = self._read(f, schema.PRO_REQUIRED, fatal_rows=False)
        if table is None:
            return
        self.n_rows["pro"] = len(table.rows)
        items = [c for c in table.columns if c in schema.PRO_ITEMS]
        self.pro_columns = items
        for col in table.columns:
            if col != schema.PATIENT_ID and col not in schema.PRO_ITEMS:
                self.add("warning", f, "unknown questionnaire column; ignored", field=col)
        if not items:
            self.add("warning", f, "no documented questionnaire item column (see schema.PRO_ITEMS)")
        first_row: dict[str, int] = {}
        for row in table.rows:
            pid = self._row_pid(table, row, known, fatal=False)
            if pid is None:
                continue
            if pid in first_row:
                self.error_excluding(f, f"second questionnaire row for this patient (first at row {first_row[pid]}); "
                                     "row ignored", patient=pid, field=schema.PATIENT_ID, row=row.num)  # fmt: skip
                continue
            first_row[pid] = row.num
            self._bad_utf8_cells(table, row, pid)
            rec: dict[str, Any] = {schema.PATIENT_ID: pid}
            for col in items:
                rec[col] = self._number(table, row, pid, col, schema.PRO_ITEMS[col])
            if items and all(math.isnan(rec[c]) for c in items):
                msg = "no questionnaire item answered; row ignored"
                self.add("warning", f, msg, patient=pid, row=row.num)
                self.exclude(pid, f, row.num, None, msg)
                continue
            self.pro.append(rec)

    # -- counts -------------------------------------------------------------------------------------
    def _count(self, known: set[str] | None) -> None:
        n = len(known) if known is not None else 0
        self.counts["patients"] = {"total": n}
        for modality, rows, n_rows in (
            ("imaging", self.scans, self.n_rows["imaging"]),
            ("text", self.reports, self.n_rows["text"]),
            ("pro", self.pro, self.n_rows["pro"]),
        ):
            have = {r[schema.PATIENT_ID] for r in rows}
            self.counts[modality] = {
                "available": len(have),
                "missing": n - len(have) if known is not None else 0,
                "rows": n_rows,
                "rows_excluded": n_rows - len(rows),
            }
        if self.patients is not None:
            self.counts["endpoints"] = {
                c: int(self.patients[c].notna().sum()) for c in self.present_endpoints if c in self.patients
            }


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


def validate_cohort(
    path: str | os.PathLike[str], *, check_images: str = "header", strict: bool = False
) -> ValidationReport:
    """Check a cohort folder and return every problem found (the folder is only read, never written).

    ``check_images``: ``"header"`` (default: geometry from headers, a cheap truncation test, mask voxels
    for the emptiness test), ``"full"`` (also every image voxel) or ``"none"`` (paths only).
    ``strict``: treat every error as fatal.
    """
    return _Inspector(path, check_images, strict).run()


class Cohort:
    """A validated cohort: patient table, endpoints, availability mask and per-patient modality data.

    Rows excluded by validation are not visible through the accessors; they are listed in ``excluded``
    (patient_id, file, row, field, reason). ``availability`` counts only usable data.
    """

    def __init__(self, inspector: _Inspector, report: ValidationReport):
        self.root: Path = inspector.root.resolve()
        self.report = report
        assert inspector.patients is not None
        self.patients: pd.DataFrame = inspector.patients
        self.patient_ids: list[str] = sorted(self.patients.index)
        present = [c for c in ENDPOINT_COLUMNS if c in self.patients.columns]
        self.endpoints: pd.DataFrame = self.patients[present].copy()
        self.scan_table = _frame(
            inspector.scans, [*inspector.scan_columns, "image_path", "mask_path", "source_row"]
        )
        self.report_table = _frame(inspector.reports, [*inspector.report_columns, "source_row"])
        pro = _frame(inspector.pro, [schema.PATIENT_ID, *inspector.pro_columns])
        self.pro_table: pd.DataFrame = pro.set_index(schema.PATIENT_ID)
        for c in inspector.pro_columns:
            self.pro_table[c] = self.pro_table[c].astype(float)
        self.excluded: pd.DataFrame = pd.DataFrame(inspector.excluded, columns=list(EXCLUDED_COLUMNS))
        self._scan_rows = self.scan_table.groupby(schema.PATIENT_ID, sort=False).indices
        self._report_rows = self.report_table.groupby(schema.PATIENT_ID, sort=False).indices
        idx = pd.Index(self.patient_ids, name=schema.PATIENT_ID)
        self.availability: pd.DataFrame = pd.DataFrame(
            {
                "imaging": idx.isin(list(self._scan_rows)),
                "text": idx.isin(list(self._report_rows)),
                "pro": idx.isin(list(self.pro_table.index)),
            },
            index=idx,
        )[list(schema.MODALITIES)]

    def _check(self, pid: str) -> None:
        if pid not in self.patients.index:
            raise KeyError(f"unknown patient {pid!r}")

    def scans(self, pid: str) -> pd.DataFrame:
        """The patient's usable rows of imaging.csv, with absolute ``image_path`` and ``mask_path``."""
        self._check(pid)
        return self.scan_table.iloc[self._scan_rows.get(pid, [])].reset_index(drop=True)

    def reports(self, pid: str) -> pd.DataFrame:
        """The patient's usable reports (report_type, text and the other columns of reports.csv)."""
        self._check(pid)
        return self.report_table.iloc[self._report_rows.get(pid, [])].reset_index(drop=True)

    def pro(self, pid: str) -> pd.Series | None:
        """The patient's questionnaire items (floats, NaN when unanswered), or None without one."""
        self._check(pid)
        if pid not in self.pro_table.index:
            return None
        return self.pro_table.loc[pid].copy()

    def sex(self, pid: str) -> str | None:
        self._check(pid)
        if "sex" not in self.patients.columns:
            return None
        v = self.patients.at[pid, "sex"]
        return v if isinstance(v, str) else None

    def patients_with(self, modality: str) -> list[str]:
        """Sorted ids of the patients that have usable data for ``modality``."""
        return [p for p, ok in self.availability[modality].items() if ok]

    def __repr__(self) -> str:
        avail = ", ".join(f"{m} {int(self.availability[m].sum())}" for m in schema.MODALITIES)
        return f"Cohort({str(self.root)!r}, {len(self.patient_ids)} patients; {avail}; {len(self.excluded)} excluded)"


def _frame(records: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(records, columns=columns)
    df[schema.PATIENT_ID] = df[schema.PATIENT_ID].astype(str)
    return df


def load_cohort(
    path: str | os.PathLike[str], *, validate: bool = True, check_images: str = "header", strict: bool = False
) -> Cohort:
    """Validate and load a cohort folder; raise ``CohortError`` (with every problem) if any is fatal.

    ``validate=False`` skips the checks that open image files (``check_images="none"``); the tables
    are always checked, since the cohort cannot be built from tables with fatal problems, and paths
    leaving the folder are always refused.
    """
    inspector = _Inspector(path, check_images if validate else "none", strict)
    report = inspector.run()
    if report.fatal or inspector.patients is None:
        raise CohortError(report)
    return Cohort(inspector, report)
