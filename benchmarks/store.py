"""The run folder: its file names, the one atomic write, cell files, consolidation, loading a finished run.

Everything cdbench writes goes through :func:`atomic_write` (temporary file in the same folder, fsync,
rename), so a run killed at any moment leaves every file whole or absent. A run folder holds:

- ``cells/<cell>.parquet``: one file per finished cell (its predictions, with the cell's metadata in the
  parquet schema); what a resumed run reads to skip finished work;
- ``predictions.parquet``, ``metrics.parquet``, ``cells.parquet``, ``tasks.json``: consolidated from the
  cell files (idempotent);
- ``cohort_summary.parquet``, ``features.parquet``, ``extraction_failures.parquet``,
  ``feature_label_checks.parquet``, ``provenance.json``: written by the stages;
- ``optuna/`` (study journals), ``cache/`` (the feature cache), ``synthetic/`` (a generated cohort) and
  ``report/`` (tables, figures, report.tex/pdf, summary.md).

No other module spells these names. The store imports only the cohort contract: cells are named by
their id.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.cohort.schema import NO_MODALITY

PREDICTIONS = "predictions.parquet"
METRICS = "metrics.parquet"
CELLS = "cells.parquet"
COHORT_SUMMARY = "cohort_summary.parquet"
FEATURE_SUMMARY = "features.parquet"
FAILURES = "extraction_failures.parquet"
FEATURE_CHECKS = "feature_label_checks.parquet"
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

RESULT_TABLES = (PREDICTIONS, METRICS, CELLS, COHORT_SUMMARY, FEATURE_CHECKS)
RESULT_JSON = (PROVENANCE, TASKS)
CELL_META_KEY = b"cdbench_cell"

AXES = ["cell_id", "model_id", "task", "modality_set", "estimator", "fusion", "repeat", "fold"]
"""Columns that identify a cell in ``predictions.parquet`` (each prediction row carries them)."""
MODEL_KEYS = ("task", "modality_set", "estimator", "fusion")
"""Columns that identify a model (repeats and folds pooled), in the order of its ``model_id``."""
BASELINE_SET = NO_MODALITY
"""Modality set of the prior-only reference model (no features)."""
BASELINE_ESTIMATOR = "prior"
HYBRID_ESTIMATOR = "hybrid"
"""Estimator name of hybrid-fusion cells: the network is the estimator."""
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


# --- writing -----------------------------------------------------------------------------------------------
def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write ``path`` through ``write(tmp)`` on a temporary file of the same folder, fsync, then rename.

    Readers see the old file or the whole new one, never a part; the folder is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes)  # kept last: writers such as SimpleITK pick the format from it
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    tmp = path.with_name(f".{stem}.{os.getpid()}.{threading.get_ident()}.tmp{suffix}")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


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


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Atomic CSV write without the index (the data beside a report's tables and figures)."""
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def read_json(path: str | Path) -> dict[str, Any]:
    """A JSON file's content, ``{}`` when the file does not exist."""
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


# --- prediction columns ------------------------------------------------------------------------------------
def proba_columns(frame: pd.DataFrame) -> list[str]:
    """The ``proba_<k>`` columns of a predictions frame, in class order."""
    return sorted((c for c in frame.columns if c.startswith("proba_")), key=lambda c: int(c.split("_")[1]))


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
    """One cell's predictions with its metadata in the parquet schema, written atomically."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({CELL_META_KEY: json.dumps(meta, default=str).encode()})
    return atomic_write(cell_path(run_dir, cell_id), lambda tmp: pq.write_table(table, tmp))


def read_cell(run_dir: str | Path, cell_id: str) -> tuple[dict[str, Any], pd.DataFrame] | None:
    """(metadata, predictions) of a cell file, or None when absent or unreadable (then it is recomputed)."""
    path = cell_path(run_dir, cell_id)
    if not path.exists():
        return None
    try:
        table = pq.read_table(path)
    except Exception:  # a damaged file is treated as not done and recomputed
        return None
    meta = json.loads(table.schema.metadata[CELL_META_KEY])
    return meta, table.to_pandas()


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
    run_dir: str | Path, cell_ids: Iterable[str], endpoints: dict[str, str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rebuild ``cells.parquet`` and ``predictions.parquet`` from the cell files (idempotent).

    ``endpoints`` maps task -> endpoint column (stored beside each prediction). Returns (cells, predictions).
    """
    run_dir = Path(run_dir)
    preds, metas = [], []
    for cell_id in sorted(cell_ids):
        got = read_cell(run_dir, cell_id)
        if got is None:
            continue
        meta, frame = got
        metas.append(meta)
        if meta["status"] == "ok" and len(frame):
            test = frame[frame["part"] == "test"].drop(columns="part")
            axes = pd.DataFrame({a: [meta[a]] * len(test) for a in AXES}, index=test.index)
            axes["endpoint"] = endpoints[meta["task"]]
            preds.append(pd.concat([axes, test], axis=1))
    cells = pd.DataFrame(metas)
    if len(cells):
        cells = cells.sort_values("cell_id").reset_index(drop=True)
    write_table(cells, run_dir / CELLS)
    predictions = pd.concat(preds, ignore_index=True) if preds else pd.DataFrame()
    if len(predictions):
        predictions = predictions.sort_values(["cell_id", "patient_id"]).reset_index(drop=True)
    write_table(predictions, run_dir / PREDICTIONS)
    return cells, predictions


# --- the feature cache -------------------------------------------------------------------------------------
class FeatureCache:
    """The feature cache folder (``<run>/cache`` or ``--cache``): ``<extractor>/<recipe hash>.parquet``
    holds the extracted rows, ``.json`` beside it the recipe in full. Implements the protocol
    ``features.engine.FeatureCache``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, name: str, key: str) -> Path:
        return self.root / name / f"{key}.parquet"

    def exists(self, name: str, key: str) -> bool:
        return self.path(name, key).exists()

    def read(self, name: str, key: str) -> pd.DataFrame:
        return pd.read_parquet(self.path(name, key))

    def write(self, name: str, key: str, frame: pd.DataFrame) -> None:
        write_table(frame, self.path(name, key), index=None)

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
    """
    run_dir = Path(run_dir)
    if not (run_dir / PREDICTIONS).exists():
        raise FileNotFoundError(f"{run_dir / PREDICTIONS} not found: is {run_dir} a run folder?")
    out: dict[str, Any] = {}
    for name in RESULT_TABLES:
        p = run_dir / name
        out[name.split(".")[0]] = pd.read_parquet(p) if p.exists() else pd.DataFrame()
    for name in RESULT_JSON:
        out[name.split(".")[0]] = read_json(run_dir / name)
    pred = out["predictions"]
    if pred.empty:
        out["predictions"] = pred = pd.DataFrame(
            {c: pd.Series(dtype=object) for c in PREDICTION_COLUMNS}
        ).assign(proba_0=pd.Series(dtype=float), proba_1=pd.Series(dtype=float))
    missing = set(PREDICTION_COLUMNS[:-1]) - set(pred.columns)
    if missing or not proba_columns(pred):
        raise ValueError(f"{run_dir / PREDICTIONS}: missing columns {sorted(missing) or ['proba_*']}")
    pred["patient_id"] = pred["patient_id"].astype(str)
    return out
