"""Run the cells of the matrix: locally with joblib/loky or on a Dask cluster; resumable; deterministic.

Each finished cell is one parquet file under ``<run>/cells/``, written atomically (temporary file, then
rename), so a run killed at any moment leaves only whole cells behind. A rerun skips cells whose file
says "ok", retries failed ones, and consolidates every cell file into the tidy result tables.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.model_selection import StratifiedGroupKFold
from tqdm.auto import tqdm

from benchmarks.config import RunConfig, TaskDef
from benchmarks.matrix import BASELINE_SET, Cell, build_matrix, split_seed, unimodal_sources
from benchmarks.progress import progress_bar
from benchmarks.schema import MODALITIES

META_KEY = b"cdbench_cell"


# --- data ---------------------------------------------------------------------------------------------
@dataclass
class TaskData:
    """The design matrix and labels of one task, with the outer folds of every repeat."""

    task: TaskDef
    X: pd.DataFrame  # index patient_id, columns "<modality>:<feature>"
    y: pd.Series  # int labels, same index
    patterns: pd.Series  # availability pattern per patient, e.g. "imaging+pro"
    folds: dict[int, list[tuple[np.ndarray, np.ndarray]]]  # repeat -> [(train_idx, test_idx), ...]
    keys: dict[str, str] = field(default_factory=dict)  # digest of config + labels ("") and of each block

    def key(self, cell: Cell) -> str:
        """A finished cell is reused only under the same config, labels and blocks of its modalities."""
        parts = [self.keys[""], *(self.keys[m] for m in cell.modalities)]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def encode_labels(endpoints: pd.DataFrame, task: TaskDef) -> pd.Series:
    """Integer labels of ``task`` for patients whose endpoint is known (others are left out)."""
    if task.endpoint not in endpoints:
        raise ValueError(f"task {task.name!r} needs endpoint column {task.endpoint!r}, not in patients.csv")
    values = endpoints[task.endpoint].dropna()
    if task.type == "binary":
        return (pd.to_numeric(values) >= task.threshold).astype(int)
    codes = {c: i for i, c in enumerate(task.classes)}
    bad = sorted(set(values) - set(codes))
    if bad:
        raise ValueError(f"task {task.name!r}: {task.endpoint} has values {bad} outside {list(task.classes)}")
    return values.map(codes).astype(int)


def design_matrix(blocks: dict[str, pd.DataFrame], index: pd.Index) -> pd.DataFrame:
    """Concatenate modality blocks as ``"<modality>:<feature>"`` columns; absent modality -> NaN block."""
    parts = []
    for modality in MODALITIES:
        if modality in blocks:
            block = blocks[modality].reindex(index)
            block.columns = [f"{modality}:{c}" for c in block.columns]
            parts.append(block)
    X = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=index)
    X.index.name = "patient_id"
    return X.astype(float)


def availability_patterns(X: pd.DataFrame) -> pd.Series:
    """Each patient's available modalities as a canonical name (a block with any value counts)."""
    from models.blocks import block_availability

    has = block_availability(X)
    names = [m for m in MODALITIES if m in has.columns]
    return pd.Series(
        ["+".join(m for m in names if row[m]) or "none" for _, row in has.iterrows()],
        index=X.index,
        dtype=object,
    )


def outer_folds(y: pd.Series, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds grouped by patient (the index)."""
    groups = y.index.to_numpy()
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in splitter.split(np.zeros(len(y)), y.to_numpy(), groups)]


def prepare_task_data(
    task: TaskDef, endpoints: pd.DataFrame, blocks: dict[str, pd.DataFrame], config: RunConfig
) -> TaskData:
    y = encode_labels(endpoints, task).sort_index()
    if config.permute_labels:  # a sanity run: any signal found now is leakage
        rng = np.random.default_rng(split_seed(config.seed, task.name, -1))
        y = pd.Series(rng.permutation(y.to_numpy()), index=y.index)
    X = design_matrix(blocks, y.index)
    folds = {
        r: outer_folds(y, config.folds, split_seed(config.seed, task.name, r)) for r in range(config.repeats)
    }
    keys = {"": _digest(config.config_hash() + code_version(), y.to_numpy(np.int64), list(y.index))}
    for m in MODALITIES:
        block = X[[c for c in X.columns if c.startswith(f"{m}:")]]
        keys[m] = _digest(m, block.to_numpy(np.float64), list(block.columns))
    return TaskData(task=task, X=X, y=y, patterns=availability_patterns(X), folds=folds, keys=keys)


CODE_FILES = ("benchmarks/runner.py", "benchmarks/matrix.py", "features/text_vectorize.py")


@functools.cache
def code_version() -> str:
    """Hash of the code that computes a cell (models/, the runner, the in-fold text vectoriser), so a
    finished cell is not reused after that code changed."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted((root / "models").glob("*.py")) + [root / f for f in CODE_FILES]:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _digest(label: str, values: np.ndarray, names: list) -> str:
    h = hashlib.sha256(label.encode())
    h.update(json.dumps(names).encode())
    h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()[:20]


# --- one cell -------------------------------------------------------------------------------------------
class PeakMemory:
    """Peak resident memory of this process while the block runs, sampled every 20 ms (MB)."""

    def __enter__(self) -> PeakMemory:
        import psutil

        self._proc = psutil.Process()
        self.start_mb = self.peak_mb = self._proc.memory_info().rss / 2**20
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_mb = max(self.peak_mb, self._proc.memory_info().rss / 2**20)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._proc.memory_info().rss / 2**20)


def _prediction_frame(
    data: TaskData, idx: np.ndarray, proba: np.ndarray, part: str, cell: Cell
) -> pd.DataFrame:
    k = data.task.n_classes
    frame = pd.DataFrame(
        {
            "patient_id": data.y.index[idx].to_numpy(),
            "part": part,
            "y_true": data.y.to_numpy()[idx],
            "pattern": data.patterns.to_numpy()[idx],
        }
    )
    for j in range(k):
        frame[f"proba_{j}"] = proba[:, j].astype(float)
    frame["y_score"] = frame["proba_1"] if k == 2 else np.nan
    return frame


def run_cell(
    cell: Cell,
    data: TaskData,
    config: RunConfig,
    optuna_dir: str,
    sources: dict[str, pd.DataFrame] | None = None,
    probe: Any = None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Fit and predict one cell. Returns (meta, predictions incl. train out-of-fold rows). Never raises."""
    import torch

    torch.set_num_threads(1)
    train_idx, test_idx = data.folds[cell.repeat][cell.fold]
    seed = cell.seed(config.seed)
    meta: dict[str, Any] = {
        **cell.as_dict(),
        "model_id": cell.model_id,
        "seed": seed,
        "status": "ok",
        "error": None,
        "best_params": "{}",
        "n_trials": 0,
        "fit_seconds": 0.0,
        "predict_seconds": 0.0,
        "peak_memory_mb": 0.0,
        "n_train": len(train_idx),
        "n_test": len(test_idx),
        "late_mode": config.late_fusion if cell.is_late else None,
        "input_key": data.key(cell),
    }
    try:
        with PeakMemory() as mem:
            frames = _fit_cell(
                cell, data, config, optuna_dir, sources, probe, train_idx, test_idx, seed, meta
            )
        meta["peak_memory_mb"] = round(mem.peak_mb, 1)
        meta["memory_delta_mb"] = round(mem.peak_mb - mem.start_mb, 1)
        return meta, frames
    except Exception as exc:  # recorded as a failed cell; the run goes on
        meta["status"] = "failed"
        meta["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"[-4000:]
        return meta, pd.DataFrame()


def _fit_cell(
    cell, data, config, optuna_dir, sources, probe, train_idx, test_idx, seed, meta
) -> pd.DataFrame:
    y = data.y.to_numpy()
    k = data.task.n_classes
    if cell.modality_set == BASELINE_SET:
        t0 = time.perf_counter()
        prior = np.bincount(y[train_idx], minlength=k) / len(train_idx)
        meta["fit_seconds"] = time.perf_counter() - t0
        proba = np.tile(prior, (len(test_idx), 1))
        return _prediction_frame(data, test_idx, proba, "test", cell)

    if cell.is_late and config.late_fusion == "reuse":
        from models.fusion import combine_late

        method = cell.fusion.removeprefix("late_")
        t0 = time.perf_counter()
        train_oof, test_proba = {}, {}
        for src in unimodal_sources(cell):
            frame = sources[src.cell_id]
            train = frame[frame["part"] == "train_oof"].set_index("patient_id")
            test = frame[frame["part"] == "test"].set_index("patient_id")
            cols = [f"proba_{j}" for j in range(k)]
            ids_train, ids_test = data.y.index[train_idx], data.y.index[test_idx]
            train_oof[src.modality_set] = train.loc[ids_train, cols].to_numpy()
            test_proba[src.modality_set] = test.loc[ids_test, cols].to_numpy()
        avail = pd.DataFrame(
            {m: [m in p.split("+") for p in data.patterns.to_numpy()[test_idx]] for m in cell.modalities},
            index=data.y.index[test_idx],
        )
        proba = combine_late(train_oof, y[train_idx], test_proba, avail, method=method, seed=seed)
        meta["fit_seconds"] = time.perf_counter() - t0
        return _prediction_frame(data, test_idx, np.asarray(proba), "test", cell)

    from models.api import fit_predict_cell

    cols = [c for c in data.X.columns if c.split(":", 1)[0] in cell.modalities]
    X = data.X[cols]
    want_oof = cell.fusion == "single" and config.late_fusion == "reuse"
    fit = fit_predict_cell(
        X.iloc[train_idx],
        y[train_idx],
        X.iloc[test_idx],
        modalities=cell.modalities,
        estimator=cell.estimator,
        fusion=cell.fusion,
        n_classes=k,
        n_trials=config.n_trials,
        inner_splits=config.inner_splits,
        seed=seed,
        storage=cell_storage(cell, config, Path(optuna_dir)),
        study_name=f"{config.config_hash()}/{cell.cell_id}",
        probe=probe,
        return_train_oof=want_oof,
    )
    meta.update(
        search_space=json.dumps(search_space(cell), sort_keys=True),
        best_params=json.dumps(fit.best_params, sort_keys=True, default=str),
        n_trials=int(fit.n_trials),
        fit_seconds=float(fit.fit_seconds),
        predict_seconds=float(fit.predict_seconds),
    )
    frames = [_prediction_frame(data, test_idx, np.asarray(fit.proba), "test", cell)]
    if want_oof and fit.train_oof is not None:
        frames.append(_prediction_frame(data, train_idx, np.asarray(fit.train_oof), "train_oof", cell))
    return pd.concat(frames, ignore_index=True)


class _SpaceRecorder:
    """Stands in for an Optuna trial to read a search space's numeric ranges."""

    def __init__(self) -> None:
        self.ranges: dict[str, list[float]] = {}

    def suggest_float(self, name: str, low: float, high: float, **_: Any) -> float:
        self.ranges[name] = [low, high]
        return low

    def suggest_int(self, name: str, low: int, high: int, **_: Any) -> int:
        self.ranges[name] = [low, high]
        return low

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return list(choices)[0]


def search_space(cell: Cell) -> dict[str, list[float]]:
    """Numeric ranges ``{param: [low, high]}`` searched for a cell (stored so reports can flag edges)."""
    if cell.is_late:  # per-modality parameters, nested by modality
        return {}
    if cell.fusion.startswith("hybrid"):
        from models.hybrid import space_hybrid as space
    else:
        from models.registry import get_estimator_spec

        space = get_estimator_spec(cell.estimator).space
    recorder = _SpaceRecorder()
    space(recorder)
    return recorder.ranges


# --- the store ------------------------------------------------------------------------------------------
def cell_path(run_dir: Path, cell: Cell) -> Path:
    return run_dir / "cells" / (cell.cell_id.replace("/", "__") + ".parquet")


def write_cell(run_dir: Path, cell: Cell, meta: dict[str, Any], frame: pd.DataFrame) -> None:
    """Write one cell's result atomically: readers see the whole file or none."""
    path = cell_path(run_dir, cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta, default=str).encode()})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    pq.write_table(table, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_cell(run_dir: Path, cell: Cell) -> tuple[dict[str, Any], pd.DataFrame] | None:
    path = cell_path(run_dir, cell)
    if not path.exists():
        return None
    try:
        table = pq.read_table(path)
    except Exception:  # a damaged file is treated as not done and recomputed
        return None
    meta = json.loads(table.schema.metadata[META_KEY])
    return meta, table.to_pandas()


def cell_done(run_dir: Path, cell: Cell, key: str) -> bool:
    """A cell is done when its file says "ok" and it was computed from the same config and data."""
    got = read_cell(run_dir, cell)
    return got is not None and got[0]["status"] == "ok" and got[0].get("input_key") == key


# --- executing many cells -------------------------------------------------------------------------------
def plan_cells(config: RunConfig) -> tuple[list[Cell], list[Cell]]:
    """(cells to fit, late cells to combine from stored unimodal predictions)."""
    cells = build_matrix(config)
    if config.late_fusion == "refit":
        return cells, []
    late = [c for c in cells if c.is_late]
    fit = [c for c in cells if not c.is_late]
    needed = {s for c in late for s in unimodal_sources(c)}
    fit = sorted(set(fit) | needed)
    return fit, late


def _execute(
    todo: list[Cell],
    datas: dict[str, TaskData],
    config: RunConfig,
    optuna_dir: str,
    on_result: Callable[[Cell, dict[str, Any], pd.DataFrame], None],
    probe: Any = None,
) -> None:
    if not todo:
        return
    if config.scheduler:
        from distributed import Client, as_completed

        with Client(config.scheduler) as client:
            scattered = {t: client.scatter(d, broadcast=True) for t, d in datas.items()}
            futures = {
                client.submit(run_cell, c, scattered[c.task], config, optuna_dir, None, probe, pure=False): c
                for c in todo
            }
            for fut in as_completed(futures):
                meta, frame = fut.result()
                on_result(futures[fut], meta, frame)
        return
    if config.n_jobs == 1:
        for c in todo:
            on_result(c, *run_cell(c, datas[c.task], config, optuna_dir, None, probe))
        return
    from joblib import Parallel, delayed

    with Parallel(n_jobs=config.n_jobs, backend="loky", return_as="generator_unordered") as parallel:
        results = parallel(delayed(_run_tagged)(c, datas[c.task], config, optuna_dir, probe) for c in todo)
        for c, meta, frame in results:
            on_result(c, meta, frame)


def _run_tagged(cell: Cell, data: TaskData, config: RunConfig, optuna_dir: str, probe: Any):
    return (cell, *run_cell(cell, data, config, optuna_dir, None, probe))


def cell_storage(cell: Cell, config: RunConfig, optuna_dir: Path) -> str:
    """Optuna storage for a cell, emptied of any earlier attempt at the same cell.

    By default each cell gets its own journal file under ``<run>/optuna/``; an RDB URL given with
    ``--storage`` keeps every study in one database (for studies shared between machines). Either way a
    cell that is (re)started begins from a fresh study: a study resumed after an interruption would draw
    different trials than an uninterrupted run, and the results must not depend on interruptions.
    """
    study = f"{config.config_hash()}/{cell.cell_id}"
    if config.storage:
        import optuna

        from models.tuning import make_storage

        storage = make_storage(config.storage)
        for name in optuna.get_all_study_names(storage):
            if name == study or name.startswith(study + "/"):
                optuna.delete_study(study_name=name, storage=storage)
        return config.storage
    path = optuna_dir / (cell.cell_id.replace("/", "__") + ".journal")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    return str(path)


@dataclass
class MatrixOutcome:
    n_cells: int
    n_skipped: int
    n_run: int
    n_failed: int
    seconds: float


def run_matrix(
    config: RunConfig,
    endpoints: pd.DataFrame,
    blocks: dict[str, pd.DataFrame],
    run_dir: str | Path,
    *,
    force: bool = False,
    progress: bool = True,
    probe: Any = None,
    only: Iterable[Cell] | None = None,
) -> MatrixOutcome:
    """Run every cell not yet done (all with ``force``), then consolidate the result tables."""
    start = time.perf_counter()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    optuna_dir = str(run_dir / "optuna")
    datas = {t: prepare_task_data(td, endpoints, blocks, config) for t, td in config.task_defs().items()}
    from benchmarks.results import FEATURE_CHECKS, feature_label_checks, write_table

    write_table(feature_label_checks(datas), run_dir / FEATURE_CHECKS)
    fit_cells, late_cells = plan_cells(config)
    if only is not None:
        keep = set(only)
        fit_cells = [c for c in fit_cells if c in keep]
        late_cells = [c for c in late_cells if c in keep]
    all_cells = fit_cells + late_cells
    done = set() if force else {c for c in all_cells if cell_done(run_dir, c, datas[c.task].key(c))}
    bar = progress_bar(len(all_cells), "cells", "cell", disable=not progress, initial=len(done))
    failed = 0

    def on_result(cell: Cell, meta: dict[str, Any], frame: pd.DataFrame) -> None:
        nonlocal failed
        write_cell(run_dir, cell, meta, frame)
        failed += meta["status"] != "ok"
        if meta["status"] != "ok":
            tqdm.write(f"cell failed: {cell.cell_id}: {meta['error'].splitlines()[0]}")
        bar.update(1)

    todo = [c for c in fit_cells if c not in done]
    _execute(todo, datas, config, optuna_dir, on_result, probe)
    for cell in late_cells:  # cheap: combine stored predictions, no fitting
        if cell in done:
            continue
        sources = {}
        for src in unimodal_sources(cell):
            got = read_cell(run_dir, src)
            if (
                got is not None
                and got[0]["status"] == "ok"
                and got[0].get("input_key") == datas[cell.task].key(src)
            ):
                sources[src.cell_id] = got[1]
        if len(sources) < len(cell.modalities):
            meta = {
                **cell.as_dict(),
                "model_id": cell.model_id,
                "status": "failed",
                "error": "a unimodal source cell failed; late fusion cannot be combined",
            }
            on_result(cell, meta, pd.DataFrame())
            continue
        on_result(cell, *run_cell(cell, datas[cell.task], config, optuna_dir, sources))
    bar.close()
    from benchmarks.results import consolidate

    consolidate(run_dir, all_cells, datas, config)
    return MatrixOutcome(
        n_cells=len(all_cells),
        n_skipped=len(done),
        n_run=len(all_cells) - len(done),
        n_failed=failed,
        seconds=time.perf_counter() - start,
    )
