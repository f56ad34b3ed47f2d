"""The runner: grouped folds, no leakage into fits, resume after SIGKILL, determinism, Dask equals local."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin

from benchmarks.experiment.matrix import Cell, plan_cells
from benchmarks.experiment.runner import matrix_of, run_matrix, task_datas
from benchmarks.experiment.taskdata import encode_labels, outer_folds

HERE = Path(__file__).resolve().parent


def _tables(run_dir: Path) -> dict[str, pd.DataFrame]:
    pred = pd.read_parquet(run_dir / "predictions.parquet")
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    cells = pd.read_parquet(run_dir / "cells.parquet")
    robust = pd.read_parquet(run_dir / "robustness.parquet")
    assert len(robust)  # the smoke profile's robustness: fused cells predicted with modalities withheld
    keep = ["cell_id", "status", "best_params", "seed", "n_trials", "n_train", "n_test"]
    return {"predictions": pred, "robustness": robust, "metrics": metrics, "cells": cells[keep]}


def _assert_same_results(a: Path, b: Path) -> None:
    ta, tb = _tables(a), _tables(b)
    for name in ta:
        pd.testing.assert_frame_equal(ta[name], tb[name], check_exact=True, obj=name)


@pytest.fixture(scope="module")
def toy(toy_blocks):
    return toy_blocks()


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, toy, smoke_config):
    run_dir = tmp_path_factory.mktemp("reference")
    outcome = run_matrix(smoke_config(), *toy, run_dir, progress=False)
    cells = pd.read_parquet(run_dir / "cells.parquet")
    assert outcome.n_failed == 0 and (cells["status"] == "ok").all() and len(cells) == outcome.n_cells
    assert cells["fusion"].eq("late_stacked").any()
    return run_dir


def test_outer_folds_are_patient_disjoint_and_cover_everyone(toy, smoke_config):
    endpoints, _ = toy
    y = encode_labels(endpoints, smoke_config().task_defs()["endo_active"])
    folds = outer_folds(y, 5, seed=3)
    tests = [set(y.index[te]) for _, te in folds]
    assert sum(len(t) for t in tests) == len(y) and set().union(*tests) == set(y.index)
    for (tr, _), t in zip(folds, tests, strict=True):
        assert not set(y.index[tr]) & t


def test_every_patient_predicted_once_per_cell_and_repeat(reference_run, toy):
    pred = pd.read_parquet(reference_run / "predictions.parquet")
    counts = pred.groupby(["model_id", "repeat"])["patient_id"].agg(["count", "nunique"])
    assert (counts["count"] == counts["nunique"]).all()
    assert (counts["nunique"] == len(toy[0])).all()
    assert pred.groupby(["model_id", "patient_id"])["fold"].nunique().max() == 1


def test_same_config_and_seed_give_identical_results(reference_run, toy, tmp_path, smoke_config):
    run_matrix(smoke_config(), *toy, tmp_path, progress=False)
    _assert_same_results(reference_run, tmp_path)


def test_plain_path_gives_the_same_results_as_the_fast_path(reference_run, toy, tmp_path, smoke_config):
    """The fast path (the default: work shared across trials, largest cells first) changes no number."""
    run_matrix(smoke_config(share_fold_work=False, largest_first=False), *toy, tmp_path, progress=False)
    _assert_same_results(reference_run, tmp_path)


def test_rerun_skips_finished_cells(reference_run, toy, smoke_config):
    before = {p.name: p.stat().st_mtime_ns for p in (reference_run / "cells").iterdir()}
    outcome = run_matrix(smoke_config(), *toy, reference_run, progress=False)
    assert outcome.n_run == 0 and outcome.n_skipped == outcome.n_cells
    assert before == {p.name: p.stat().st_mtime_ns for p in (reference_run / "cells").iterdir()}


def test_changed_features_or_config_invalidate_finished_cells(reference_run, toy, tmp_path, smoke_config):
    import shutil

    run_dir = Path(shutil.copytree(reference_run, tmp_path / "copy"))
    endpoints, blocks = toy
    changed = {**blocks, "pro": blocks["pro"] * 1.5}
    outcome = run_matrix(smoke_config(), endpoints, changed, run_dir, progress=False)
    cells = pd.read_parquet(run_dir / "cells.parquet")
    untouched = cells["modality_set"].isin(["none", "imaging"])  # cells that do not read the changed block
    assert outcome.n_skipped == untouched.sum() and outcome.n_run == (~untouched).sum() > 0
    outcome = run_matrix(smoke_config(n_trials=1), endpoints, changed, run_dir, progress=False)
    assert outcome.n_skipped == 0


class RecordingProbe(BaseEstimator, TransformerMixin):
    """Records the patient ids every fit sees (appends to a file, so clones and processes all report)."""

    def __init__(self, log_path: str = ""):
        self.log_path = log_path

    def fit(self, X, y=None):
        with open(self.log_path, "a") as fh:
            fh.write(json.dumps(sorted(map(str, X.index))) + "\n")
        return self

    def transform(self, X):
        return X


@pytest.mark.parametrize("fusion", ["single", "early", "late_stacked", "hybrid_concat"])
def test_outer_test_patients_never_reach_a_fit(toy, tmp_path, fusion, smoke_config):
    endpoints, blocks = toy
    config = smoke_config(fusions=["single", "early", "late_stacked", "hybrid_concat"], late_fusion="refit")
    mset = "imaging" if fusion == "single" else "imaging+pro"
    estimator = "hybrid" if fusion.startswith("hybrid") else "enet"
    cell = Cell("endo_active", mset, estimator, fusion, 0, 1)
    data = task_datas(config, endpoints, blocks)["endo_active"]
    test_ids = set(data.y.index[data.folds[0][1][1]])
    log = tmp_path / "seen.jsonl"
    run_matrix(
        config,
        endpoints,
        blocks,
        tmp_path / "run",
        progress=False,
        probe=RecordingProbe(str(log)),
        only=[cell],
    )
    seen = [set(json.loads(line)) for line in log.read_text(encoding="utf-8").splitlines()]
    assert len(seen) >= 2  # tuning fits and the refit were all observed
    assert all(not (s & test_ids) for s in seen)


def test_permuted_labels_give_chance_auc(toy, tmp_path, smoke_config):
    from reports.stats import delong_ci

    endpoints, blocks = toy
    config = smoke_config(permute_labels=True, fusions=["single"], modality_sets=["imaging"], repeats=1)
    run_matrix(config, endpoints, blocks, tmp_path, progress=False)
    pred = pd.read_parquet(tmp_path / "predictions.parquet")
    pred = pred[pred["model_id"] == "endo_active/imaging/enet/single"]
    res = delong_ci(pred["y_true"].to_numpy(), pred["y_score"].to_numpy())
    lo, hi = res.ci
    assert lo < 0.5 < hi
    # the unpermuted imaging block does carry signal, so the check above is not vacuous
    ref = smoke_config(fusions=["single"], modality_sets=["imaging"])
    run_matrix(ref, endpoints, blocks, tmp_path / "real", progress=False)
    real = pd.read_parquet(tmp_path / "real" / "predictions.parquet")
    assert delong_ci(real["y_true"].to_numpy(), real["y_score"].to_numpy()).ci[0] > 0.5


def test_failing_cell_is_recorded_and_the_run_goes_on(toy, tmp_path, smoke_config):
    config = smoke_config(estimators=["enet", "no_such_estimator"], fusions=["single"], modality_sets=["pro"])
    outcome = run_matrix(config, *toy, tmp_path, progress=False)
    cells = pd.read_parquet(tmp_path / "cells.parquet")
    bad = cells[cells["estimator"] == "no_such_estimator"]
    assert outcome.n_failed == len(bad) == 3
    assert (bad["status"] == "failed").all() and bad["error"].str.contains("no_such_estimator").all()
    assert (cells.loc[cells["estimator"] == "enet", "status"] == "ok").all()
    # failed cells are retried on rerun, finished ones are not
    again = run_matrix(config, *toy, tmp_path, progress=False)
    assert again.n_run == 3 and again.n_skipped == len(cells) - 3


def test_sigkill_midway_then_resume_equals_uninterrupted(reference_run, toy, smoke_config, tmp_path):
    run_dir = tmp_path / "killed"
    inputs = tmp_path / "inputs.pickle"
    inputs.write_bytes(pickle.dumps((smoke_config(n_jobs=1), *toy)))
    cmd = [sys.executable, str(HERE / "kill_target.py"), str(inputs), str(run_dir)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cells_dir = run_dir / "cells"
    total = len(sum(plan_cells(matrix_of(smoke_config()), "reuse"), []))
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        done = len(list(cells_dir.glob("*.parquet"))) if cells_dir.exists() else 0
        if done >= total // 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(list(cells_dir.glob("*.parquet")))
    assert 0 < partial < total
    assert not (run_dir / "predictions.parquet").exists()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert len(list(cells_dir.glob("*.parquet"))) == total
    assert not list(cells_dir.glob(".*tmp"))
    _assert_same_results(reference_run, run_dir)


def test_dask_local_cluster_equals_local_run(reference_run, toy, tmp_path, smoke_config):
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        run_matrix(smoke_config(scheduler=cluster.scheduler_address), *toy, tmp_path, progress=False)
    _assert_same_results(reference_run, tmp_path)


def test_parallel_local_processes_equal_serial(reference_run, toy, tmp_path, smoke_config):
    run_matrix(smoke_config(n_jobs=2), *toy, tmp_path, progress=False)
    _assert_same_results(reference_run, tmp_path)
    assert np.isfinite(pd.read_parquet(tmp_path / "cells.parquet")["peak_memory_mb"]).all()


def test_rdb_storage_url_holds_the_studies_and_a_restart_begins_fresh(toy, tmp_path, smoke_config):
    import optuna

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    config = smoke_config(storage=url, fusions=["single"], modality_sets=["imaging"])
    cells = [Cell("endo_active", "imaging", "enet", "single", 0, 0)]
    run_matrix(config, *toy, tmp_path / "run", progress=False, only=cells)
    names = optuna.get_all_study_names(url)
    assert names == [f"{config.config_hash()}/{cells[0].cell_id}"]
    first = optuna.load_study(study_name=names[0], storage=url)
    assert len(first.trials) == config.n_trials
    run_matrix(config, *toy, tmp_path / "run", progress=False, only=cells, force=True)
    assert len(optuna.load_study(study_name=names[0], storage=url).trials) == config.n_trials


def test_a_feature_that_encodes_the_label_is_listed_and_flagged(toy, tmp_path, smoke_config):
    from benchmarks.experiment.taskdata import feature_label_checks
    from reports.diagnostics import diagnose_label_features

    endpoints, blocks = toy
    config = smoke_config()
    leaky = blocks["pro"].copy()
    leaky["pro__ses_copy"] = endpoints.loc[leaky.index, "ses_cd"]
    data = task_datas(config, endpoints, {**blocks, "pro": leaky})["endo_active"]
    checks = feature_label_checks({"endo_active": data})
    top = checks.iloc[0]
    assert top["feature"] == "pro:pro__ses_copy" and top["auc"] == 1.0
    flagged = diagnose_label_features(checks)
    assert [d.code for d in flagged] == ["LABEL_DERIVED_FROM_FEATURE"] and "pro__ses_copy" in flagged[
        0
    ].message
    clean = feature_label_checks({"endo_active": task_datas(config, endpoints, blocks)["endo_active"]})
    assert diagnose_label_features(clean) == []
