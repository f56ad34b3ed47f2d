"""Models on the raw data in the matrix: the deep unimodal models, their late fusion and the attention
fusion run as cells like any other, never see an outer test patient, record their training, and repeat."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmarks.experiment.matrix import Cell
from benchmarks.experiment.runner import run_matrix, task_datas
from reports.tables import deep_training_frame, deep_training_table
from tests.benchmarks.experiment.test_runner import RecordingProbe
from tests.models.deep.conftest import FakeRaw, make_cohort


class KeyedFakeRaw(FakeRaw):
    """The fake raw handle with ``paths`` (modality -> patient -> record), which cells on the raw data are
    keyed by, as they are by the real handle's content-addressed paths."""

    @property
    def paths(self) -> dict[str, dict[str, str]]:
        return {m: {p: f"{m}/{p}.npz" for p in ids} for m, ids in self.ids.items()}


@pytest.fixture(scope="module")
def deep_toy():
    X, y, fake = make_cohort(n=60, seed=3, signal=1.5)
    raw = KeyedFakeRaw(fake.ids, fake.arrays, fake.info)
    endpoints = pd.DataFrame({"ses_cd": np.where(y == 1, 12.0, 0.0), "cdai": 150.0}, index=X.index)
    blocks = {}
    for m in ("imaging", "text", "pro"):
        block = X[[c for c in X.columns if c.startswith(f"{m}:")]].dropna(how="all")
        blocks[m] = block.rename(columns=lambda c: c.split(":", 1)[1])
    return endpoints, blocks, raw


def _config(smoke_config):
    return smoke_config(
        estimators=["deep"],
        modality_sets=["imaging", "pro", "imaging+pro"],
        fusions=["single", "late_mean", "attention"],
        n_trials=1,
        inner_splits=2,
        deep_params={"max_epochs": 3, "progress": False},
        robustness=True,
    )


@pytest.fixture(scope="module")
def deep_run(tmp_path_factory, deep_toy, smoke_config):
    endpoints, blocks, raw = deep_toy
    run_dir = tmp_path_factory.mktemp("deep")
    sites = pd.Series(
        np.where(np.arange(len(endpoints)) % 2, "A", "B"), index=endpoints.index
    )  # as a real cohort
    outcome = run_matrix(
        _config(smoke_config), endpoints, blocks, run_dir, progress=False, raw=raw, sites=sites
    )
    return run_dir, outcome


def test_deep_cells_run_record_their_training_and_include_robustness(deep_run) -> None:
    run_dir, outcome = deep_run
    cells = pd.read_parquet(run_dir / "cells.parquet")
    assert outcome.n_failed == 0 and (cells["status"] == "ok").all()
    trained = cells[cells["fusion"].isin(["single", "attention"])]
    assert set(trained["estimator"]) == {"deep"} and len(trained) == 3 * 3  # 2 single + attention, 3 folds
    assert (trained["seconds_per_epoch"] > 0).all() and (trained["n_epochs"] >= 1).all()
    assert (trained["device"] == "cpu").all() and (trained["peak_memory_mb"] > 0).all()
    params = json.loads(trained["best_params"].iloc[0])
    assert params["clf__max_epochs"] == 3  # the profile's fixed network parameters are applied and recorded
    robust = pd.read_parquet(run_dir / "robustness.parquet")
    robust = robust[robust["fusion"] == "attention"]
    assert set(robust["withheld"]) == {"imaging", "pro"} and robust["fraction"].max() == 1.0


def test_the_report_table_of_deep_training_summarises_the_cells(deep_run) -> None:
    run_dir, _ = deep_run
    cells = pd.read_parquet(run_dir / "cells.parquet")
    frame = deep_training_frame(cells)
    trained = cells[cells["fusion"].isin(["single", "attention"])]
    assert len(frame) == 3 and (frame["n_cells"] == 3).all()  # late_mean trains nothing of its own
    row = frame[frame["fusion"] == "attention"].iloc[0]
    mine = trained[trained["fusion"] == "attention"]
    assert row["epochs_mean"] == pytest.approx(mine["n_epochs"].mean())
    assert (row["epochs_min"], row["epochs_max"]) == (mine["n_epochs"].min(), mine["n_epochs"].max())
    assert row["peak_memory_mb"] == pytest.approx(mine["peak_memory_mb"].max()) and row["device"] == "cpu"
    table = deep_training_table(cells)
    assert list(table.display["Device"]) == ["cpu"] * 3
    shown = [f"{m:.1f} ({lo}-{hi})" for m, lo, hi in zip(frame["epochs_mean"], frame["epochs_min"],
                                                        frame["epochs_max"], strict=True)]  # fmt: skip
    assert list(table.display["Epochs (range)"]) == shown
    assert "Epochs (range)" in table.to_latex()


@pytest.mark.parametrize("mset,fusion", [("imaging", "single"), ("imaging+pro", "attention")])
def test_outer_test_patients_never_reach_a_deep_fit(deep_toy, smoke_config, tmp_path, mset, fusion) -> None:
    endpoints, blocks, raw = deep_toy
    config = _config(smoke_config)
    cell = Cell("endo_active", mset, "deep", fusion, 0, 1)
    data = task_datas(config, endpoints, blocks, raw=raw)["endo_active"]
    test_ids = set(data.y.index[data.folds[0][1][1]])
    log = tmp_path / "seen.jsonl"
    run_matrix(config, endpoints, blocks, tmp_path / "run", progress=False, raw=raw,
               probe=RecordingProbe(str(log)), only=[cell])  # fmt: skip
    seen = [set(json.loads(line)) for line in log.read_text(encoding="utf-8").splitlines()]
    assert len(seen) >= 3  # the tuning fits (2 inner folds) and the refit were all observed
    assert all(s and not (s & test_ids) for s in seen)


def test_same_seed_same_predictions_and_a_changed_raw_input_refits(
    deep_run, deep_toy, smoke_config, tmp_path
) -> None:
    run_dir, _ = deep_run
    endpoints, blocks, raw = deep_toy
    only = [Cell("endo_active", "imaging+pro", "deep", "attention", 0, 1)]
    run_matrix(_config(smoke_config), endpoints, blocks, tmp_path, progress=False, raw=raw, only=only)
    a = pd.read_parquet(run_dir / "predictions.parquet")
    b = pd.read_parquet(tmp_path / "predictions.parquet")
    key = ["model_id", "fold", "patient_id"]
    a = a[(a["model_id"] == only[0].model_id) & (a["fold"] == 1)].sort_values(key).reset_index(drop=True)
    b = b.sort_values(key).reset_index(drop=True)
    assert len(b) > 0
    np.testing.assert_array_equal(a["y_score"].to_numpy(), b["y_score"].to_numpy())
    # a patient's raw record gone (or changed) changes the cell's key: the finished cell is not reused
    data = task_datas(_config(smoke_config), endpoints, blocks, raw=raw)["endo_active"]
    other = KeyedFakeRaw({**raw.ids, "pro": raw.ids["pro"][1:]}, raw.arrays, raw.info)
    changed = task_datas(_config(smoke_config), endpoints, blocks, raw=other)["endo_active"]
    assert data.key(only[0]) != changed.key(only[0])


def test_parallel_cells_train_without_epoch_bars_unless_asked(smoke_config) -> None:
    serial = smoke_config(n_jobs=1, deep_params={"max_epochs": 3}).network_params()
    assert serial == {"clf__max_epochs": 3}  # one process: the classifier's own default (bars on)
    parallel = smoke_config(n_jobs=2, deep_params={"max_epochs": 3}).network_params()
    assert parallel == {"clf__max_epochs": 3, "clf__progress": False}
    assert smoke_config(n_jobs=1, scheduler="tcp://h:1").network_params() == {"clf__progress": False}
    asked = smoke_config(n_jobs=2, deep_params={"progress": True}).network_params()
    assert asked == {"clf__progress": True}
