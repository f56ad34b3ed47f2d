"""Run the matrix: resumable and deterministic, on any executor; results go to the run folder's store.

Each finished cell is one file under ``<run>/cells/`` (written atomically by ``benchmarks.store``), so a
run killed at any moment leaves only whole cells behind. A rerun skips cells whose file says "ok" and was
computed from the same config, code and data, retries failed ones, combines late fusions from stored
single-modality predictions, and consolidates every cell file into the tidy result tables.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from benchmarks import store
from benchmarks.experiment.cell import CellJob, CellSettings, failed_meta, run_cell
from benchmarks.experiment.code_hash import code_version
from benchmarks.experiment.config import ConfigError, RunConfig
from benchmarks.experiment.executors import make_executor
from benchmarks.experiment.matrix import Cell, build_matrix, largest_first, plan_cells, unimodal_sources
from benchmarks.experiment.scoring import metrics_table, model_metrics
from benchmarks.experiment.taskdata import TaskData, feature_label_checks, prepare_task_data
from features.progress import progress_bar
from models.tuning import prepare_storage


@dataclass
class MatrixOutcome:
    n_cells: int
    n_skipped: int
    n_run: int
    n_failed: int
    seconds: float


def matrix_of(config: RunConfig, datas: dict[str, TaskData] | None = None) -> list[Cell]:
    """The cells of the configured matrix; with ``validation="site"`` the site folds of ``datas``."""
    site_folds = {t: len(d.site_folds) for t, d in (datas or {}).items()}
    return build_matrix(
        config.tasks,
        config.modality_set_names(),
        config.estimators,
        config.fusions,
        repeats=config.repeats,
        folds=config.folds,
        baseline=config.baseline,
        site_folds=site_folds,
        harmonise=config.harmonise,
    )


def task_datas(
    config: RunConfig,
    endpoints: pd.DataFrame,
    blocks: dict[str, pd.DataFrame],
    sites: pd.Series | None = None,
    raw: Any = None,
) -> dict[str, TaskData]:
    """The data of every configured task, keyed so that finished cells are reused only when valid.

    ``sites`` (patient id -> site, patients.csv's ``site`` column) is needed by ``validation="site"`` and
    by ``harmonise``; ``raw`` (``features.raw.RawInputs``) by the models on the raw data.
    """
    if config.harmonise and (sites is None or not sites.notna().any()):
        raise ConfigError(
            f"harmonise = {config.harmonise} needs the 'site' column of patients.csv (the ComBat batch); "
            "fill it in or leave harmonise out of the configuration"
        )
    identity = config.config_hash() + code_version()
    return {
        name: prepare_task_data(
            task,
            endpoints,
            blocks,
            seed=config.seed,
            folds=config.folds,
            repeats=config.repeats,
            identity=identity,
            permute_labels=config.permute_labels,
            sites=sites,
            validation=config.validation,
            train_sites=config.train_sites,
            test_sites=config.test_sites,
            raw=raw,
        )
        for name, task in config.task_defs().items()
    }


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
    sites: pd.Series | None = None,
    raw: Any = None,
) -> MatrixOutcome:
    """Run every cell not yet done (all with ``force``), then consolidate the result tables.

    ``sites``: patient id -> site (for ``validation="site"`` and ``harmonise``); ``raw``: the raw inputs
    of the models on the raw data (``features.raw.RawInputs``). Holds the run folder
    (``store.open_run``: its marker and exclusive lock, reentrant) throughout.
    """
    with store.open_run(run_dir) as run_dir:
        return _run_matrix(config, endpoints, blocks, run_dir, force, progress, probe, only, sites, raw)


def _run_matrix(
    config: RunConfig,
    endpoints: pd.DataFrame,
    blocks: dict[str, pd.DataFrame],
    run_dir: Path,
    force: bool,
    progress: bool,
    probe: Any,
    only: Iterable[Cell] | None,
    sites: pd.Series | None = None,
    raw: Any = None,
) -> MatrixOutcome:
    start = time.perf_counter()
    datas = task_datas(config, endpoints, blocks, sites, raw)
    store.write_table(feature_label_checks(datas), run_dir / store.FEATURE_CHECKS)
    fit_cells, late_cells = plan_cells(matrix_of(config, datas), config.late_fusion)
    if only is not None:
        keep = set(only)
        fit_cells = [c for c in fit_cells if c in keep]
        late_cells = [c for c in late_cells if c in keep]
    all_cells = fit_cells + late_cells
    done = set()
    if not force:
        done = {c for c in all_cells if store.cell_done(run_dir, c.cell_id, datas[c.task].key(c))}
    bar = progress_bar(len(all_cells), "cells", "cell", disable=not progress, initial=len(done))
    failed = 0

    def on_result(cell: Cell, meta: dict[str, Any], frame: pd.DataFrame) -> None:
        nonlocal failed
        problem = store.prediction_problem(frame) if meta["status"] == "ok" else None
        if problem:  # never stored as a result: recorded as a failed cell, retried on rerun
            meta, frame = (
                {**meta, "status": "failed", "error": f"invalid predictions: {problem}"},
                pd.DataFrame(),
            )
        store.write_cell(run_dir, cell.cell_id, meta, frame)
        failed += meta["status"] != "ok"
        if meta["status"] != "ok":
            tqdm.write(f"cell failed: {cell.cell_id}: {meta['error'].splitlines()[0]}")
        bar.update(1)

    settings = CellSettings(
        seed=config.seed,
        n_trials=config.n_trials,
        inner_splits=config.inner_splits,
        late_fusion=config.late_fusion,
        study_prefix=config.config_hash(),
        share_fold_work=config.share_fold_work,
        robustness=config.robustness,
        network_params=config.network_params(),
    )
    job = CellJob(settings, str(run_dir), config.storage, probe)
    prepare_storage(config.storage)
    executor = make_executor(config.n_jobs, config.scheduler)
    todo = [c for c in fit_cells if c not in done]
    todo = largest_first(todo) if config.largest_first else todo
    executor.run(job, [(c, datas[c.task]) for c in todo], on_result)
    for cell in late_cells:  # cheap: combine stored predictions, no fitting
        if cell in done:
            continue
        data = datas[cell.task]
        sources = {}
        for src in unimodal_sources(cell):
            frame = store.finished_cell(run_dir, src.cell_id, data.key(src))
            if frame is not None:
                sources[src.cell_id] = frame
        if len(sources) < len(cell.modalities):
            on_result(cell, failed_meta(cell, "a unimodal source cell failed; late fusion cannot be combined"),
                      pd.DataFrame())  # fmt: skip
            continue
        on_result(cell, *run_cell(cell, data, settings, None, sources))
    bar.close()
    consolidate(run_dir, all_cells, datas)
    return MatrixOutcome(
        n_cells=len(all_cells),
        n_skipped=len(done),
        n_run=len(all_cells) - len(done),
        n_failed=failed,
        seconds=time.perf_counter() - start,
    )


def consolidate(run_dir: Path, cells: list[Cell], datas: dict[str, TaskData]) -> None:
    """Rebuild predictions, cells, metrics and tasks tables from the cell files (idempotent)."""
    endpoints = {t: d.task.endpoint for t, d in datas.items()}
    parts: list[pd.DataFrame] = []

    def score(model: pd.DataFrame) -> None:  # one model's predictions at a time: the run's never in memory
        parts.append(model_metrics(model, datas[model["task"].iat[0]].task.type))

    store.consolidate(run_dir, [c.cell_id for c in cells], endpoints, on_model=score)
    metrics = metrics_table(parts, datas)
    store.write_table(metrics, run_dir / store.METRICS)
    store.write_json({t: d.info() for t, d in datas.items()}, run_dir / store.TASKS)
