"""The run folder: its file names, the one atomic write, cell files, consolidation, loading a finished run.

Everything cdbench writes goes through :func:`atomic_write` (temporary file in the same folder, fsync,
rename), so a run killed at any moment leaves every file whole or absent. A run folder holds:

- ``cells/<cell>.parquet``: one file per finished cell (its predictions, with the cell's metadata in the
  parquet schema); what a resumed run reads to skip finished work;
- ``predictions.parquet``, ``metrics.parquet``, ``cells.parquet``, ``tasks.json`` and, when the run
  computed it, ``robustness.parquet``: consolidated from the cell files (idempotent); predictions and
  metrics carry the cell's ``validation`` ("internal" CV or "external" site folds) and ``harmonise`` axes;
- ``cohort_summary.parquet``, ``features.parquet``, ``extraction_failures.parquet``,
  ``feature_label_checks.parquet``, ``selection.parquet``, ``provenance.json``: written by the stages;
- ``optuna/`` (study journals), ``cache/`` (the feature cache), ``synthetic/`` (a generated cohort) and
  ``report/`` (tables, figures, report.tex/pdf, summary.md).

No other module spells these names. The store imports only the cohort contract: cells are named by
their id.

Ownership, integrity and one writer (issue 12):

- every folder cdbench writes carries the marker ``.cdbench.json`` (its kind: run, synthetic or cache);
  :func:`claim_folder` writes only into an empty folder or one with the marker of the same kind, never into
  the cohort folder or a folder inside it, and never over a file it did not create;
- cell files and feature-cache files carry the SHA-256 of their own bytes (the digest field blanked) in the
  parquet footer; :func:`read_sealed` checks it on every read, and a file that fails (truncated, foreign,
  edited) is named, moved to ``quarantine/`` with its reason (:func:`set_aside`, never deleted) and
  recomputed. An "ok" cell is also checked for valid probabilities on write and on read;
- :func:`open_run` holds the run folder's exclusive lock (``benchmarks.lock``) for the whole run.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks import lock
from benchmarks.cohort.problems import UserError
from benchmarks.cohort.schema import NO_MODALITY

log = logging.getLogger("cdbench.store")

PREDICTIONS = "predictions.parquet"
METRICS = "metrics.parquet"
CELLS = "cells.parquet"
COHORT_SUMMARY = "cohort_summary.parquet"
FEATURE_SUMMARY = "features.parquet"
FAILURES = "extraction_failures.parquet"
EXCLUDED = "excluded.parquet"  # rows validation left out: patient, file, row, field, reason
SELECTION = "selection.parquet"  # the row each patient's scan / reports / questionnaire came from, and why
FEATURE_CHECKS = "feature_label_checks.parquet"
ROBUSTNESS = "robustness.parquet"  # fused models' test predictions with modalities withheld ("robust" rows)
PROVENANCE = "provenance.json"
TASKS = "tasks.json"
CELLS_DIR = "cells"
OPTUNA_DIR = "optuna"
CACHE_DIR = "cache"
SYNTHETIC_DIR = "synthetic"
REPORT_DIR = "report"
REPORT_TABLES_DIR = "tables"  # in report/: <table>.tex/.md/.csv
REPORT_FIGURES_DIR = "figures"  # in report/: <figure>.png/.pdf/.csv
REPORT_TEX = "report.tex"  # in report/, with report.pdf beside it
SUMMARY_MD = "summary.md"  # in report/
GENERATED_MARKER = "generated.json"  # in a generated cohort's folder: the size and seed it was built with
MARKER = ".cdbench.json"  # in every folder cdbench owns: {"kind": run | synthetic | cache, ...}
LOCK_FILE = ".cdbench.lock"  # in a run folder: the one writer's lock (benchmarks.lock)
QUARANTINE_DIR = "quarantine"  # files that failed their check, set aside with a .reason.txt each

RESULT_TABLES = (PREDICTIONS, METRICS, CELLS, COHORT_SUMMARY, FEATURE_CHECKS, FEATURE_SUMMARY, FAILURES)
OPTIONAL_TABLES = (ROBUSTNESS, EXCLUDED)
"""Result tables only some runs have (loaded when present, else empty)."""
RESULT_JSON = (PROVENANCE, TASKS)
CELL_META_KEY = b"cdbench_cell"
CHECKSUM_KEY = b"cdbench_sha256"
_BLANK_DIGEST = b"0" * 64
PROBA_TOLERANCE = 1e-6
"""How far a row of probabilities may sum from 1 (float rounding of the models' own normalisation)."""

AXES = ["cell_id", "model_id", "task", "modality_set", "estimator", "fusion", "repeat", "fold",
        "validation", "harmonise"]  # fmt: skip
"""Columns that identify a cell in ``predictions.parquet`` (each prediction row carries them)."""
VALIDATION_INTERNAL = "internal"
"""``validation`` of the outer cross-validation's predictions (the only one unless ``validation = "site"``)."""
VALIDATION_EXTERNAL = "external"
"""``validation`` of the site folds' predictions: trained on other sites than the patient's."""
HARMONISE_NONE = "none"
"""``harmonise`` of a model without site harmonisation (else the modalities harmonised, e.g. "imaging")."""
AXIS_DEFAULTS = {"validation": VALIDATION_INTERNAL, "harmonise": HARMONISE_NONE}
"""Values of the axes that cell files written before they existed lack."""


def internal_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the internal (cross-validated), unharmonised models of a predictions or metrics table:
    what the gate and every report table but the transport comparison read."""
    if "validation" not in frame:
        return frame
    keep = frame["validation"].eq(VALIDATION_INTERNAL)
    if "harmonise" in frame:
        keep &= frame["harmonise"].eq(HARMONISE_NONE)
    return frame[keep]


ROBUSTNESS_COLUMNS = ["withheld", "fraction", "masked"]
"""Columns of the robustness rows (``part="robust"`` in a cell file) beside the prediction columns."""
MODEL_KEYS = ("task", "modality_set", "estimator", "fusion")
"""Columns that identify a model (repeats and folds pooled), in the order of its ``model_id``."""
BASELINE_SET = NO_MODALITY
"""Modality set of the prior-only reference model (no features)."""
BASELINE_ESTIMATOR = "prior"
"""Estimator name of the prior-only reference model."""
SINGLE_FUSION = "single"
PREDICTION_COLUMNS = [
    "task",
    "modality_set",
    "estimator",
    "fusion",
    "repeat",
    "patient_id",
    "y_true",
    "pattern",
]
"""Columns a readable ``predictions.parquet`` must have, besides ``proba_0..K-1``."""


class FolderError(UserError):
    """A folder given on the command line cannot be used: not cdbench's, a file, inside the cohort, ..."""

    exit_code = 2


class StorageError(UserError):
    """The disk refused a write (full, over quota); the run stops and resumes once there is space."""

    exit_code = 1


class CorruptFile(Exception):
    """A file cdbench reuses failed its check; the message says why (internal: it is set aside)."""


# --- writing -----------------------------------------------------------------------------------------------
def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write ``path`` through ``write(tmp)`` on a temporary file of the same folder, fsync, then rename.

    Readers see the old file or the whole new one, never a part; the folder is created if needed.
    Running out of space (or quota) is a :class:`StorageError` naming the file; nothing partial is left.
    """
    path = Path(path)
    suffix = "".join(path.suffixes)  # kept last: writers such as SimpleITK pick the format from it
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    tmp = path.with_name(f".{stem}.{os.getpid()}.{threading.get_ident()}.tmp{suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageError(
                f"no space left on the device while writing {path} ({exc.strerror}); nothing partial was "
                "kept. Free some space and rerun: finished work is kept and resumed."
            ) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return path


_TEMPORARY = re.compile(r"^\..+\.(\d+)\.\d+\.tmp(\.[^/]*)?$")


def is_temporary(name: str) -> bool:
    """Whether a file name is one of :func:`atomic_write`'s temporary files."""
    return _TEMPORARY.match(name) is not None


def _remove_leftovers(folder: Path) -> None:
    """Remove temporary files that writers which died (SIGKILL, power cut) left under ``folder``."""
    for p in folder.rglob(".*.tmp*"):
        m = _TEMPORARY.match(p.name)
        if m is None or not p.is_file():
            continue
        try:
            os.kill(int(m.group(1)), 0)
            continue  # its writer is alive (a concurrent run sharing a cache inside this folder)
        except ProcessLookupError:
            p.unlink(missing_ok=True)
        except PermissionError:
            continue


def write_table(frame: pd.DataFrame, path: str | Path, *, index: bool | None = False) -> Path:
    """Atomic parquet write (``index`` as in ``DataFrame.to_parquet``; by default the index is dropped)."""
    return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=index))


def write_json(obj: Any, path: str | Path) -> Path:
    """Atomic JSON write (sorted keys, indented; values that JSON lacks written as strings)."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=str)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_text(text: str, path: str | Path) -> Path:
    """Atomic UTF-8 text write."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _spreadsheet_safe(value: Any) -> Any:
    """A text that a spreadsheet would run as a formula, prefixed with ``'``; anything else unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Atomic CSV write without the index (the data beside a report's tables and figures).

    Text cells and column names starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return get a
    leading ``'`` (OWASP, CSV injection), so no spreadsheet runs them as a formula. Numbers, and texts that
    are a plain number such as ``"-0.5"``, are written as they are. Lines end in CRLF (RFC 4180), so a
    text holding a line break or a carriage return is quoted and stays one cell.
    """
    safe = frame.rename(columns=_spreadsheet_safe)
    for j, dtype in enumerate(safe.dtypes):
        if pd.api.types.is_object_dtype(dtype) or isinstance(dtype, (pd.StringDtype, pd.CategoricalDtype)):
            safe.isetitem(j, safe.iloc[:, j].map(_spreadsheet_safe))
    return atomic_write(path, lambda tmp: safe.to_csv(tmp, index=False, lineterminator="\r\n"))


def read_json(path: str | Path) -> dict[str, Any]:
    """A JSON file's content, ``{}`` when the file does not exist."""
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


# --- prediction columns ------------------------------------------------------------------------------------
def proba_columns(frame: pd.DataFrame) -> list[str]:
    """The ``proba_<k>`` columns of a predictions frame, in class order."""
    return sorted((c for c in frame.columns if c.startswith("proba_")), key=lambda c: int(c.split("_")[1]))


# --- folder ownership and the one writer --------------------------------------------------------------------
def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def _marker_kind(folder: Path) -> str | None:
    """The kind recorded in ``folder``'s marker; "" when the marker is empty (its writer was killed)."""
    try:
        text = (folder / MARKER).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        return str(json.loads(text).get("kind", "")) if text.strip() else ""
    except (ValueError, AttributeError):
        return ""


def claim_folder(path: str | Path, kind: str, *, cohort: str | Path | None = None) -> Path:
    """Make ``path`` a cdbench folder of ``kind`` ("run", "synthetic", "cache") or refuse with a FolderError.

    Policy: cdbench writes only into a folder that does not exist yet, is empty, or carries its marker of
    the same kind; never into the ``cohort`` folder or a folder inside it. The marker is created first and
    exclusively, so two processes claiming one empty folder at once both succeed.
    """
    path = Path(path)
    if cohort is not None and _inside(path, Path(cohort)):
        raise FolderError(
            f"{path} is the cohort folder {cohort} or inside it; cdbench never writes into a cohort. "
            "Give --out (or --cache) a folder outside it."
        )
    if path.exists() and not path.is_dir():
        raise FolderError(
            f"{path} is a file, not a folder; give a new or empty folder (or an earlier run's)."
        )
    found = _marker_kind(path)
    if found is None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FolderError(f"cannot create the folder {path}: {exc.strerror}") from None
        others = sorted(
            e.name + ("/" if e.is_dir() else "") for e in path.iterdir() if not is_temporary(e.name)
        )
        if others:
            shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
            raise FolderError(
                f"{path} is not empty and was not created by cdbench (it has no {MARKER}): it holds {shown}. "
                "cdbench never writes into a folder that holds files it did not create; give a new or "
                "empty folder."
            )
        record = {"kind": kind, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        try:
            fd = os.open(path / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:  # claimed by another process at the same moment
            found = _marker_kind(path)
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(record, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            found = kind
    if found not in (kind, ""):
        raise FolderError(f"{path} is a cdbench {found} folder, not a {kind} folder; give another folder.")
    return path


def require_run_folder(path: str | Path) -> Path:
    """``path`` as an existing run folder with results (what ``report --run`` needs), else a FolderError.

    Nothing is created: a wrong path fails before any folder is made.
    """
    path = Path(path)
    if not path.is_dir():
        what = "is a file" if path.exists() else "does not exist"
        raise FolderError(f"{path} {what}; give --run the --out folder of an earlier run.")
    if _marker_kind(path) not in ("run", ""):
        raise FolderError(
            f"{path} is not a cdbench run folder (it has no {MARKER} marker of kind run); give --run the "
            "--out folder of an earlier run."
        )
    if not (path / PREDICTIONS).exists():
        raise FolderError(
            f"{path} holds no results yet ({PREDICTIONS} is missing); run the matrix into it first."
        )
    return path


@contextmanager
def open_run(run_dir: str | Path, *, cohort: str | Path | None = None) -> Iterator[Path]:
    """Claim ``run_dir`` (:func:`claim_folder`) and hold its exclusive lock for the block (reentrant).

    A second run on the folder stops at once with a :class:`benchmarks.lock.LockHeld` naming the holder;
    the lock of a killed run is taken over, and the temporary files such runs leave are removed.
    """
    run_dir = claim_folder(run_dir, "run", cohort=cohort)
    with lock.hold(run_dir / LOCK_FILE, f"run folder {run_dir}") as stale:
        if stale is not None:
            _remove_leftovers(run_dir)
        yield run_dir


# --- checksummed parquet and setting aside ---------------------------------------------------------------
def write_sealed(table: pa.Table, path: str | Path) -> Path:
    """Write ``table`` as parquet carrying the SHA-256 of the file's own bytes (digest field blanked)."""
    meta = {**(table.schema.metadata or {}), CHECKSUM_KEY: _BLANK_DIGEST}
    buf = pa.BufferOutputStream()
    pq.write_table(table.replace_schema_metadata(meta), buf)
    raw = buf.getvalue().to_pybytes()
    at = raw.rfind(_BLANK_DIGEST)  # the footer's key-value metadata comes after every data page
    raw = raw[:at] + hashlib.sha256(raw).hexdigest().encode() + raw[at + len(_BLANK_DIGEST) :]
    return atomic_write(path, lambda tmp: tmp.write_bytes(raw))


def read_sealed(path: str | Path) -> pa.Table:
    """The table of a file written by :func:`write_sealed`; :class:`CorruptFile` when it fails the check."""
    raw = Path(path).read_bytes()
    try:
        digest = (pq.read_metadata(pa.BufferReader(raw)).metadata or {}).get(CHECKSUM_KEY)
    except (pa.ArrowException, OSError) as exc:
        raise CorruptFile(f"not a readable parquet file ({type(exc).__name__}: {exc})") from None
    if digest is None:
        raise CorruptFile("it carries no cdbench checksum (written by another program or an older cdbench)")
    at = raw.rfind(digest)
    blanked = raw[:at] + _BLANK_DIGEST + raw[at + len(digest) :]
    if len(digest) != len(_BLANK_DIGEST) or hashlib.sha256(blanked).hexdigest().encode() != digest:
        raise CorruptFile("its bytes do not match its checksum (changed after cdbench wrote it)")
    try:
        table = pq.read_table(pa.BufferReader(raw))
    except (pa.ArrowException, OSError) as exc:
        raise CorruptFile(f"not a readable parquet file ({type(exc).__name__}: {exc})") from None
    meta = {k: v for k, v in (table.schema.metadata or {}).items() if k != CHECKSUM_KEY}
    return table.replace_schema_metadata(meta)


def set_aside(path: str | Path, root: str | Path, reason: str) -> Path | None:
    """Move a file that failed its check to ``<root>/quarantine/`` with a ``.reason.txt``; log it.

    The file is kept for inspection, never deleted, and the caller recomputes it. Returns where it went
    (None when another process set it aside first).
    """
    path, root = Path(path), Path(root)
    rel = path.relative_to(root) if _inside(path, root) else Path(path.name)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.time_ns() % 10**9:09d}"
    dest = root / QUARANTINE_DIR / rel.parent / f"{rel.name}.{stamp}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(path, dest)
    except FileNotFoundError:
        return None
    write_text(f"{path}: {reason}\n", dest.with_name(dest.name + ".reason.txt"))
    log.warning("%s: %s; set aside as %s and recomputed", path, reason, dest)
    return dest


def prediction_problem(frame: pd.DataFrame) -> str | None:
    """What makes predictions invalid (naming the patient and column), or None when they are valid.

    Valid: every ``proba_*`` value finite and in [0, 1], every row summing to 1 (``PROBA_TOLERANCE``).
    A row with every probability missing means "no prediction" and is allowed only outside the test part
    (the training out-of-fold rows of patients who lack the modality); test rows are always predicted.
    """
    if not len(frame):
        return None
    cols = proba_columns(frame)
    if not cols:
        return "no proba_* columns"
    p = frame[cols].to_numpy(dtype=float)
    pid = frame["patient_id"].to_numpy() if "patient_id" in frame else np.arange(len(frame))
    in_test = frame["part"].to_numpy() == "test" if "part" in frame else np.ones(len(frame), bool)
    scored = ~(np.isnan(p).all(axis=1) & ~in_test)
    p, pid = p[scored], pid[scored]
    for bad, what in ((~np.isfinite(p), "is not finite"), ((p < 0) | (p > 1), "is outside [0, 1]")):
        if bad.any():
            i, j = np.argwhere(bad)[0]
            return f"patient {pid[i]}, {cols[j]} = {p[i, j]:.6g} {what} ({int(bad.any(axis=1).sum())} row(s))"
    sums = p.sum(axis=1)
    off = np.abs(sums - 1.0) > PROBA_TOLERANCE
    if off.any():
        i = int(np.argmax(off))
        return f"patient {pid[i]}: {', '.join(cols)} sum to {sums[i]:.6g}, not 1 ({int(off.sum())} row(s))"
    return None


# --- cells -------------------------------------------------------------------------------------------------
def cell_path(run_dir: str | Path, cell_id: str) -> Path:
    return Path(run_dir) / CELLS_DIR / (cell_id.replace("/", "__") + ".parquet")


def fresh_journal(run_dir: str | Path, cell_id: str) -> Path:
    """The Optuna journal file of one cell's study (when no shared storage URL is given), emptied.

    Each attempt at a cell starts a fresh study; the journal of an interrupted attempt may end in a torn
    line that Optuna cannot append to, so it is removed rather than reopened.
    """
    path = Path(run_dir) / OPTUNA_DIR / (cell_id.replace("/", "__") + ".journal")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    return path


def write_cell(run_dir: str | Path, cell_id: str, meta: dict[str, Any], frame: pd.DataFrame) -> Path:
    """One cell's predictions with its metadata in the parquet schema, checksummed, written atomically.

    The predictions of an "ok" cell must be valid (:func:`prediction_problem`); the runner records a cell
    with invalid ones as failed before it gets here, so this refusal is a guard against a bug.
    """
    problem = prediction_problem(frame) if meta.get("status") == "ok" else None
    if problem:
        raise ValueError(f"cell {cell_id}: refusing to write invalid predictions: {problem}")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({CELL_META_KEY: json.dumps(meta, default=str).encode()})
    return write_sealed(table, cell_path(run_dir, cell_id))


def read_cell(run_dir: str | Path, cell_id: str) -> tuple[dict[str, Any], pd.DataFrame] | None:
    """(metadata, predictions) of a cell file, or None when there is none to reuse.

    A file that fails its checksum, lacks the cell metadata or, for an "ok" cell, holds invalid
    predictions is set aside (:func:`set_aside`) and counts as absent, so the cell is recomputed.
    """
    path = cell_path(run_dir, cell_id)
    if not path.exists():
        return None
    try:
        table = read_sealed(path)
        raw_meta = (table.schema.metadata or {}).get(CELL_META_KEY)
        if raw_meta is None:
            raise CorruptFile("it carries no cdbench cell metadata")
        meta, frame = json.loads(raw_meta), table.to_pandas()
        problem = prediction_problem(frame) if meta.get("status") == "ok" else None
        if problem:
            raise CorruptFile(f"invalid predictions: {problem}")
    except CorruptFile as exc:
        set_aside(path, run_dir, str(exc))
        return None
    return meta, frame


def finished_cell(run_dir: str | Path, cell_id: str, key: str) -> pd.DataFrame | None:
    """The predictions of a cell whose file says "ok" and was computed from inputs ``key``, else None."""
    got = read_cell(run_dir, cell_id)
    if got is None or got[0]["status"] != "ok" or got[0].get("input_key") != key:
        return None
    return got[1]


def cell_done(run_dir: str | Path, cell_id: str, key: str) -> bool:
    """A cell is done when its file says "ok" and it was computed from the same config and data."""
    return finished_cell(run_dir, cell_id, key) is not None


def consolidate(
    run_dir: str | Path,
    cell_ids: Iterable[str],
    endpoints: dict[str, str],
    on_model: Callable[[pd.DataFrame], None] | None = None,
) -> pd.DataFrame:
    """Rebuild ``cells.parquet``, ``predictions.parquet`` and ``robustness.parquet`` from the cell files
    (idempotent), streamed: the cells are read in ``cell_id`` order and written out one at a time, so
    memory holds one model's predictions, never the run's. Rows are sorted by cell and patient (robustness:
    cell, withheld, fraction, patient); a column that only some cells have (``proba_2``) is NaN elsewhere.

    ``endpoints`` maps task -> endpoint column (stored beside each prediction). ``on_model`` receives each
    model's test predictions (every cell of one ``model_id``, as written). Returns the cells table.
    """
    run_dir = Path(run_dir)
    ids = sorted(cell_ids)
    columns = _union_columns(run_dir, ids)
    metas: list[dict[str, Any]] = []
    n_robust = [0]

    def stream(pred_tmp: Path, robust_tmp: Path) -> None:
        with (
            _ParquetStream(pred_tmp, columns["test"]) as preds,
            _ParquetStream(robust_tmp, columns["robust"]) as rob,
        ):
            model: list[pd.DataFrame] = []
            for cell_id in ids:
                got = read_cell(run_dir, cell_id)
                if got is None:
                    continue
                meta, frame = got
                metas.append(meta)
                if meta["status"] != "ok" or not len(frame):
                    continue
                test, robust = _cell_rows(meta, frame, endpoints[meta["task"]])
                if model and model[0]["model_id"].iat[0] != meta["model_id"]:
                    _hand_over(model, on_model)
                preds.append(test.sort_values("patient_id").reset_index(drop=True))
                model.append(test)
                if len(robust):
                    rob.append(
                        robust.sort_values(["withheld", "fraction", "patient_id"]).reset_index(drop=True)
                    )
                    n_robust[0] += len(robust)
            _hand_over(model, on_model)

    atomic_write(run_dir / PREDICTIONS, lambda pred_tmp: atomic_write(
        run_dir / ROBUSTNESS, lambda robust_tmp: stream(pred_tmp, robust_tmp)))  # fmt: skip
    if not n_robust[0]:
        (run_dir / ROBUSTNESS).unlink(missing_ok=True)
    cells = pd.DataFrame(metas)
    if len(cells):
        cells = cells.sort_values("cell_id").reset_index(drop=True)
    write_table(cells, run_dir / CELLS)
    return cells


def _cell_rows(meta: dict[str, Any], frame: pd.DataFrame, endpoint: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The test rows and the robustness rows of one ok cell, each with the cell's axes and endpoint first."""
    extra = [c for c in ROBUSTNESS_COLUMNS if c in frame.columns]
    out = []
    for part in ("test", "robust"):
        rows = frame[frame["part"] == part].drop(columns="part")
        if part == "test":
            rows = rows.drop(columns=extra)
        axes = pd.DataFrame(
            {a: [meta.get(a, AXIS_DEFAULTS.get(a))] * len(rows) for a in AXES}, index=rows.index
        )
        axes["endpoint"] = endpoint
        out.append(pd.concat([axes, rows], axis=1))
    return out[0], out[1]


def _hand_over(model: list[pd.DataFrame], on_model: Callable[[pd.DataFrame], None] | None) -> None:
    """Give one model's collected test rows to ``on_model`` and forget them."""
    if model and on_model is not None:
        on_model(pd.concat(model, ignore_index=True))
    model.clear()


def _union_columns(run_dir: Path, ids: list[str]) -> dict[str, list[str]]:
    """The columns of the consolidated "test" and "robust" tables: the axes, the endpoint, then the ok cell
    files' columns in order of first appearance (read from the files' footers, not their rows, in one pass)."""
    seen = {part: dict.fromkeys([*AXES, "endpoint"]) for part in ("test", "robust")}
    for cell_id in ids:
        try:
            info = pq.read_metadata(cell_path(run_dir, cell_id))
            meta = json.loads((info.metadata or {})[CELL_META_KEY])
        except (OSError, KeyError, ValueError, pa.ArrowException):
            continue  # absent or damaged: read_cell sets it aside and the cell contributes no rows
        names = info.schema.to_arrow_schema().names
        if meta.get("status") != "ok" or not info.num_rows:
            continue
        seen["test"].update(dict.fromkeys(n for n in names if n not in {"part", *ROBUSTNESS_COLUMNS}))
        if "withheld" in names:
            seen["robust"].update(dict.fromkeys(n for n in names if n != "part"))
    return {part: list(cols) for part, cols in seen.items()}


class _ParquetStream:
    """A parquet file written frame by frame with one schema: each frame reindexed to ``columns`` (a column it
    lacks is NaN), the schema taken from the first frame; nothing appended leaves an empty table."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path, self.columns = path, columns
        self.writer: pq.ParquetWriter | None = None

    def __enter__(self) -> _ParquetStream:
        return self

    def append(self, frame: pd.DataFrame) -> None:
        frame = frame.reindex(columns=self.columns)
        if self.writer is None:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            self.writer = pq.ParquetWriter(self.path, table.schema)
        else:
            table = pa.Table.from_pandas(frame, schema=self.writer.schema, preserve_index=False)
        self.writer.write_table(table)

    def __exit__(self, *exc: object) -> None:
        if self.writer is not None:
            self.writer.close()
        elif exc[0] is None:
            pd.DataFrame().to_parquet(self.path, index=False)


# --- the feature cache -------------------------------------------------------------------------------------
class FeatureCache:
    """The feature cache folder (``<run>/cache`` or ``--cache``): ``<extractor>/<recipe hash>.parquet``
    holds the extracted rows, ``.json`` beside it the recipe in full. Implements the protocol
    ``features.engine.FeatureCache``.

    Opening claims the folder (:func:`claim_folder`, kind "cache"; never the ``cohort`` folder). Tables are
    checksummed: one that fails is set aside under ``<cache>/quarantine/`` and reads as empty, so its rows
    are recomputed. Runs may share one cache: each write merges under a per-table lock, keeping the rows
    another process wrote meanwhile that this write lacks; for a patient in both, this write's row wins.
    Nothing is lost or torn, and each row carries its input fingerprint, so a row is only reused for the
    inputs it was computed from.
    """

    def __init__(self, root: str | Path, *, cohort: str | Path | None = None) -> None:
        self.root = claim_folder(root, "cache", cohort=cohort)

    def path(self, name: str, key: str) -> Path:
        return self.root / name / f"{key}.parquet"

    def exists(self, name: str, key: str) -> bool:
        return self.path(name, key).exists()

    def read(self, name: str, key: str) -> pd.DataFrame:
        return self._read(self.path(name, key))

    def _read(self, path: Path) -> pd.DataFrame:
        try:
            return read_sealed(path).to_pandas()
        except FileNotFoundError:
            return pd.DataFrame()
        except CorruptFile as exc:
            set_aside(path, self.root, str(exc))
            return pd.DataFrame()

    def write(self, name: str, key: str, frame: pd.DataFrame) -> None:
        path = self.path(name, key)
        with lock.exclusive(path.with_name(f".{key}.lock")):
            current = self._read(path)
            others = current[~current.index.isin(frame.index)] if len(current) else current
            if len(others):
                frame = pd.concat([frame, others]).sort_index()
            write_sealed(pa.Table.from_pandas(frame, preserve_index=None), path)

    def describe(self, name: str, key: str, recipe: dict[str, Any]) -> None:
        """Write the recipe beside its table, once (it never changes for a key)."""
        path = self.path(name, key).with_suffix(".json")
        if not path.exists():
            write_json(recipe, path)

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.root)!r})"


# --- reading a finished run --------------------------------------------------------------------------------
def load_run(run_dir: str | Path) -> dict[str, Any]:
    """The result tables of a run folder, keyed by file stem; predictions.parquet is required.

    Tables that are absent come back empty, JSON files as ``{}``. A run whose cells all failed has an
    empty predictions table; it comes back with the required columns so reports can list the failures.
    A damaged table is a FolderError naming it (the tables are rebuilt from the cell files by a rerun).
    """
    run_dir = Path(run_dir)
    if not (run_dir / PREDICTIONS).exists():
        raise FileNotFoundError(f"{run_dir / PREDICTIONS} not found: is {run_dir} a run folder?")
    out: dict[str, Any] = {}
    for name in RESULT_TABLES:
        p = run_dir / name
        try:
            out[name.split(".")[0]] = pd.read_parquet(p) if p.exists() else pd.DataFrame()
        except (pa.ArrowException, OSError) as exc:
            raise FolderError(
                f"{p} is damaged ({type(exc).__name__}: {exc}); rerun the run into {run_dir} (same --out) "
                "to rebuild it from the cell files."
            ) from None
    for name in OPTIONAL_TABLES:
        p = run_dir / name
        out[name.split(".")[0]] = pd.read_parquet(p) if p.exists() else pd.DataFrame()
    for name in RESULT_JSON:
        out[name.split(".")[0]] = read_json(run_dir / name)
    pred = out["predictions"]
    for axis, default in AXIS_DEFAULTS.items():  # runs written before these axes existed
        if axis not in pred.columns:
            pred[axis] = default
    if pred.empty:
        out["predictions"] = pred = pd.DataFrame(
            {c: pd.Series(dtype=object) for c in PREDICTION_COLUMNS}
        ).assign(proba_0=pd.Series(dtype=float), proba_1=pd.Series(dtype=float))
    missing = set(PREDICTION_COLUMNS[:-1]) - set(pred.columns)
    if missing or not proba_columns(pred):
        raise ValueError(f"{run_dir / PREDICTIONS}: missing columns {sorted(missing) or ['proba_*']}")
    pred["patient_id"] = pred["patient_id"].astype(str)
    return out
