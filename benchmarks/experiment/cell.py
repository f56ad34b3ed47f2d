"""Fit and predict one cell: the prior baseline, a late fusion of stored predictions, or a tuned model.

``run_cell`` never raises: a failure is recorded in the cell's metadata (status "failed", the error) and
the run goes on. Predictions of the outer test part are returned with, for single-modality cells whose
predictions late fusion reuses, the out-of-fold predictions of the training part (``part="train_oof"``).

Robustness to missing modalities (``CellSettings.robustness``), for a fused cell (two or more
modalities): the fitted model predicts the test part again with each modality (and, over three or more,
each pair) withheld from 0, 25, 50, 75 and 100% of the test patients (``part="robust"``, columns
``withheld``, ``fraction``, ``masked``). Withholding makes the patient's block missing, which every model
reads as an absent modality (prior, indicator, late fusion of the rest, masked encoder); nothing is
refitted. The withheld patients are a seeded permutation of the test part that depends on the task,
fold and withheld modalities only, so every model of a fold loses the same patients, and the shares are
nested (the 25% are among the 50%).
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from benchmarks.experiment.matrix import Cell, derive_seed, unimodal_sources
from benchmarks.experiment.taskdata import TaskData
from benchmarks.store import SINGLE_FUSION, fresh_journal, proba_columns
from models import foldwork
from models.api import fit_predict_cell
from models.fusion import combine_late, prior_proba
from models.registry import search_ranges, uses_raw
from models.tuning import predict_aligned

TRAIN_OOF = "train_oof"
TEST = "test"
ROBUST = "robust"
ROBUST_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)
"""Shares of the test patients from whom a modality (or pair) is withheld at prediction time."""


@dataclass(frozen=True)
class CellSettings:
    """What fitting a cell needs beyond its data: the global seed, the tuning budget, where studies live,
    and whether work is shared across the trials (``models.api.fit_predict_cell``; same results)."""

    seed: int
    n_trials: int
    inner_splits: int
    late_fusion: str  # "reuse" | "refit"
    study_prefix: str  # studies are named "<prefix>/<cell id>"
    share_fold_work: bool = True
    robustness: bool = False  # fused cells also predict with modalities withheld (module docstring)
    network_params: dict[str, Any] | None = None  # fixed parameters of the deep networks (clf__*)

    def study_name(self, cell: Cell) -> str:
        return f"{self.study_prefix}/{cell.cell_id}"


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


def prediction_frame(data: TaskData, idx: np.ndarray, proba: np.ndarray, part: str) -> pd.DataFrame:
    """Rows ``idx`` of the task with their probabilities (``proba_k``; ``y_score`` for binary tasks)."""
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


@dataclass(frozen=True)
class CellJob:
    """``run_cell`` with everything but the cell and its task data bound; picklable for worker processes.

    Studies live in ``storage`` (an RDB URL shared by every cell) or, without one, in a journal file per
    cell under the run folder.
    """

    settings: CellSettings
    run_dir: str
    storage: str | None = None
    probe: Any = None

    def __call__(self, cell: Cell, data: TaskData) -> tuple[dict[str, Any], pd.DataFrame]:
        storage = self.storage or str(fresh_journal(self.run_dir, cell.cell_id))
        return run_cell(cell, data, self.settings, storage, probe=self.probe)


def failed_meta(cell: Cell, error: str) -> dict[str, Any]:
    """The metadata of a cell that could not be run at all."""
    return {**cell.as_dict(), "model_id": cell.model_id, "status": "failed", "error": error}


def run_cell(
    cell: Cell,
    data: TaskData,
    settings: CellSettings,
    storage: str | None,
    sources: dict[str, pd.DataFrame] | None = None,
    probe: Any = None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Fit and predict one cell. Returns (meta, predictions incl. train out-of-fold rows). Never raises.

    ``storage`` is the Optuna storage of the cell's study; ``sources`` the stored predictions of the
    single-modality cells a reused late fusion combines; ``probe`` (tests) the first step of every
    pipeline fitted.
    """
    import torch

    torch.set_num_threads(1)
    with threadpool_limits(1):  # one BLAS thread, as in a worker process: serial == parallel, bit for bit
        return _run_cell(cell, data, settings, storage, sources, probe)


def _run_cell(
    cell: Cell,
    data: TaskData,
    settings: CellSettings,
    storage: str | None,
    sources: dict[str, pd.DataFrame] | None,
    probe: Any,
) -> tuple[dict[str, Any], pd.DataFrame]:
    train_idx, test_idx = data.fold_of(cell)
    seed = cell.seed(settings.seed)
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
        "late_mode": settings.late_fusion if cell.is_late else None,
        "input_key": data.key(cell),
    }
    try:
        with PeakMemory() as mem:
            if cell.is_baseline:
                frames = _fit_prior(data, train_idx, test_idx, meta)
            elif cell.is_late and settings.late_fusion == "reuse":
                frames, predict = _combine_stored(cell, data, sources or {}, train_idx, test_idx, seed, meta)
            else:
                frames, predict = _fit_tuned(
                    cell, data, settings, storage, probe, train_idx, test_idx, seed, meta
                )
            if settings.robustness and cell.is_fused and not cell.is_baseline:
                t0 = time.perf_counter()
                rowwise = settings.share_fold_work and not uses_raw(cell.estimator, cell.fusion)
                with foldwork.sharing(rowwise):  # blocks a withheld set leaves intact: transformed once
                    robust = robustness_frame(cell, data, test_idx, settings.seed, predict, rowwise)
                frames = pd.concat([frames, robust], ignore_index=True)
                meta["robustness_seconds"] = time.perf_counter() - t0
        meta["peak_memory_mb"] = round(mem.peak_mb, 1)
        meta["memory_delta_mb"] = round(mem.peak_mb - mem.start_mb, 1)
        return meta, frames
    except Exception as exc:  # recorded as a failed cell; the run goes on
        meta["status"] = "failed"
        meta["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"[-4000:]
        return meta, pd.DataFrame()


def _fit_prior(data: TaskData, train_idx: np.ndarray, test_idx: np.ndarray, meta: dict) -> pd.DataFrame:
    t0 = time.perf_counter()
    prior = prior_proba(data.y.to_numpy()[train_idx], data.task.n_classes)
    meta["fit_seconds"] = time.perf_counter() - t0
    return prediction_frame(data, test_idx, np.tile(prior, (len(test_idx), 1)), TEST)


def _combine_stored(
    cell: Cell,
    data: TaskData,
    sources: dict[str, pd.DataFrame],
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    seed: int,
    meta: dict,
) -> tuple[pd.DataFrame, Callable[..., np.ndarray]]:
    t0 = time.perf_counter()
    ids_train, ids_test = data.y.index[train_idx], data.y.index[test_idx]
    train_oof, test_proba = {}, {}
    for src in unimodal_sources(cell):
        frame = sources[src.cell_id]
        cols = proba_columns(frame)
        train_oof[src.modality_set] = (
            frame[frame["part"] == TRAIN_OOF].set_index("patient_id").loc[ids_train, cols]
        )
        test_proba[src.modality_set] = (
            frame[frame["part"] == TEST].set_index("patient_id").loc[ids_test, cols]
        )
    patterns = data.patterns.to_numpy()[test_idx]
    available = pd.DataFrame(
        {m: [m in p.split("+") for p in patterns] for m in cell.modalities}, index=ids_test
    )

    def predict(withheld: tuple[str, ...] = (), chosen: np.ndarray | None = None) -> np.ndarray:
        avail = available.copy()
        if chosen is not None:
            for m in withheld:
                avail.loc[chosen, m] = False
        return np.asarray(
            combine_late(
                {m: f.to_numpy() for m, f in train_oof.items()},
                data.y.to_numpy()[train_idx],
                {m: f.to_numpy() for m, f in test_proba.items()},
                avail,
                method=cell.fusion.removeprefix("late_"),
                seed=seed,
            )
        )

    proba = predict()
    meta["fit_seconds"] = time.perf_counter() - t0
    return prediction_frame(data, test_idx, proba, TEST), predict


def _fit_tuned(
    cell: Cell,
    data: TaskData,
    settings: CellSettings,
    storage: str | None,
    probe: Any,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    seed: int,
    meta: dict,
) -> tuple[pd.DataFrame, Callable[..., np.ndarray]]:
    y = data.y.to_numpy()
    X = data.X[data.columns_of(cell.modalities)]
    want_oof = cell.fusion == SINGLE_FUSION and settings.late_fusion == "reuse"
    fit = fit_predict_cell(
        X.iloc[train_idx],
        y[train_idx],
        X.iloc[test_idx],
        modalities=cell.modalities,
        estimator=cell.estimator,
        fusion=cell.fusion,
        n_classes=data.task.n_classes,
        n_trials=settings.n_trials,
        inner_splits=settings.inner_splits,
        seed=seed,
        storage=storage,
        study_name=settings.study_name(cell),
        probe=probe,
        return_train_oof=want_oof,
        share_fold_work=settings.share_fold_work,
        harmonised=cell.harmonised,
        sites=data.sites,
        raw=data.raw,
        network_params=settings.network_params,
    )
    if uses_raw(cell.estimator, cell.fusion):
        meta.update(deep_meta(fit.model))
    meta.update(
        search_space=json.dumps(search_space(cell), sort_keys=True),
        best_params=json.dumps(fit.best_params, sort_keys=True, default=str),
        n_trials=int(fit.n_trials),
        fit_seconds=float(fit.fit_seconds),
        predict_seconds=float(fit.predict_seconds),
    )
    frames = [prediction_frame(data, test_idx, np.asarray(fit.proba), TEST)]
    if want_oof and fit.train_oof is not None:
        frames.append(prediction_frame(data, train_idx, np.asarray(fit.train_oof), TRAIN_OOF))
    X_test = X.iloc[test_idx]
    classes = np.arange(data.task.n_classes)

    def predict(withheld: tuple[str, ...] = (), chosen: np.ndarray | None = None) -> np.ndarray:
        Xm = X_test.copy()
        if chosen is not None and withheld:
            Xm.loc[Xm.index[chosen], data.columns_of(list(withheld))] = np.nan
        return predict_aligned(fit.model, Xm, classes)

    return pd.concat(frames, ignore_index=True), predict


def deep_meta(model: Any) -> dict[str, Any]:
    """Epochs, seconds per epoch, device and peak memory of the deep networks in a fitted model."""
    from models.deep import deep_stats  # torch and MONAI load only for cells that train a deep network

    return deep_stats(model) if model is not None else {}


def withheld_sets(modalities: list[str]) -> list[tuple[str, ...]]:
    """What a fused model over ``modalities`` is tested without: each modality, and each pair when the
    model has three or more (withholding both of two leaves nothing)."""
    pairs = list(combinations(modalities, 2)) if len(modalities) >= 3 else []
    return [(m,) for m in modalities] + pairs


def withheld_patients(n: int, fraction: float, order: np.ndarray) -> np.ndarray:
    """Boolean mask of the first ``round(fraction * n)`` positions of the permutation ``order``."""
    chosen = np.zeros(n, bool)
    chosen[order[: int(np.floor(fraction * n + 0.5))]] = True
    return chosen


def robustness_frame(
    cell: Cell,
    data: TaskData,
    test_idx: np.ndarray,
    global_seed: int,
    predict: Callable[[tuple[str, ...], np.ndarray], np.ndarray],
    rowwise: bool = False,
) -> pd.DataFrame:
    """The test part predicted with each withheld set at each of ``ROBUST_FRACTIONS`` (module docstring).

    ``predict(withheld, chosen)``: the fitted model's probabilities for the test part when the blocks of
    ``withheld`` are removed from the patients where ``chosen`` is True.

    ``rowwise``: the model predicts each row from that row alone (true of every model on the fixed
    features: preprocessing, estimators and hybrid networks in eval mode compute row by row), so the test
    part is predicted twice per withheld set, with nobody and with everybody withheld, and each share takes
    its rows from one or the other. Every call has the same shape as the per-share calls it replaces, so
    the probabilities are the same to the bit (tested against ``rowwise=False``).
    """
    frames = []
    n = len(test_idx)
    nobody = np.zeros(n, bool)
    kept = np.asarray(predict((), nobody)) if rowwise else None
    for withheld in withheld_sets(cell.modalities):
        name = "+".join(withheld)
        rng = np.random.default_rng(
            derive_seed(global_seed, "robust", cell.task, cell.validation, cell.repeat, cell.fold, name)
        )
        order = rng.permutation(n)
        lost = np.asarray(predict(withheld, ~nobody)) if rowwise else None
        for fraction in ROBUST_FRACTIONS:
            chosen = withheld_patients(n, fraction, order)
            if rowwise:
                proba = np.where(chosen[:, None], lost, kept)
            else:
                proba = np.asarray(predict(withheld, chosen))
            frame = prediction_frame(data, test_idx, proba, ROBUST)
            frame["withheld"] = name
            frame["fraction"] = float(fraction)
            frame["masked"] = chosen
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def search_space(cell: Cell) -> dict[str, list[float]]:
    """Numeric ranges ``{param: [low, high]}`` searched for a cell (stored so reports can flag edges)."""
    if cell.is_late:  # per-modality parameters, nested by modality
        return {}
    return search_ranges(cell.estimator, cell.fusion)
