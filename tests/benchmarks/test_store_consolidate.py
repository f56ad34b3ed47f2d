"""``store.consolidate`` streams the cell files into the run's tables: the result equals concatenating every
ok cell's rows in memory, a model's cells reach ``on_model`` together and once, and the metrics table keeps
the run's order."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest

from benchmarks import store
from benchmarks.experiment.scoring import metrics_table, model_metrics
from benchmarks.perf.bench_consolidate import in_memory_tables

PATIENTS = [f"P{i:03d}" for i in range(12)]


def _cell(
    task: str, mset: str, fusion: str, fold: int, k: int, *, robust: bool, validation: str = "internal"
):
    model_id = f"{task}/{mset}/enet/{fusion}"
    tag = "" if validation == "internal" else f"{validation}/"
    cell_id = f"{model_id}/{tag}r0f{fold}"
    rng = np.random.default_rng(zlib.crc32(f"{cell_id}/{k}".encode()))  # the same data in every process
    ids = PATIENTS[fold::3][::-1]  # unsorted on purpose: the tables are sorted by patient
    p = rng.dirichlet(np.ones(k), size=len(ids))
    frame = pd.DataFrame({"patient_id": ids, "part": "test", "y_true": rng.integers(0, k, len(ids)),
                          "pattern": mset, **{f"proba_{j}": p[:, j] for j in range(k)}, "y_score": p[:, -1]})  # fmt: skip
    if robust:
        frame = frame.assign(withheld=pd.NA, fraction=np.nan, masked=False)
        rows = frame.assign(part="robust", withheld="pro", fraction=0.5, masked=True)
        frame = pd.concat([frame, rows], ignore_index=True)
    meta = {"cell_id": cell_id, "model_id": model_id, "task": task, "modality_set": mset, "estimator": "enet",
            "fusion": fusion, "repeat": 0, "fold": fold, "status": "ok", "validation": validation}  # fmt: skip
    return cell_id, meta, frame


@pytest.fixture
def run_dir(tmp_path):
    specs = [("endo_active", m, f, 2) for m in ("imaging", "imaging+pro") for f in ("single", "early")]
    specs += [("severity4", "imaging+pro", "early", 4)]
    for task, mset, fusion, k in specs:
        for fold in range(3):
            cell_id, meta, frame = _cell(task, mset, fusion, fold, k, robust="+" in mset)
            store.write_cell(tmp_path, cell_id, meta, frame)
    cell_id, meta, frame = _cell("endo_active", "imaging", "single", 0, 2, robust=False, validation="site")
    store.write_cell(tmp_path, cell_id, {**meta, "harmonise": "none"}, frame)
    failed = {**_cell("endo_active", "pro", "single", 1, 2, robust=False)[1], "status": "failed"}
    store.write_cell(tmp_path, failed["cell_id"], failed, pd.DataFrame())
    return tmp_path


def _ids(run_dir) -> list[str]:
    files = (run_dir / store.CELLS_DIR).glob("*.parquet")
    return sorted(p.name[: -len(".parquet")].replace("__", "/") for p in files)


def test_streamed_tables_equal_the_in_memory_concatenation(run_dir) -> None:
    endpoints = {"endo_active": "ses_cd", "severity4": "severity"}
    seen: list[pd.DataFrame] = []
    cells = store.consolidate(run_dir, _ids(run_dir), endpoints, on_model=seen.append)
    _, preds, rob = in_memory_tables(run_dir, _ids(run_dir), endpoints)
    got = pd.read_parquet(run_dir / store.PREDICTIONS)
    pd.testing.assert_frame_equal(got, preds, check_exact=True)
    assert (
        got.loc[got["task"] == "endo_active", "proba_3"].isna().all()
    )  # a binary cell lacks proba_2, proba_3
    pd.testing.assert_frame_equal(pd.read_parquet(run_dir / store.ROBUSTNESS), rob, check_exact=True)
    assert len(cells) == 17 and set(cells["status"]) == {"ok", "failed"}
    # each model once, with all its cells (internal and site), although "imaging+pro" sorts between them
    assert sorted(m["model_id"].iat[0] for m in seen) == sorted(preds["model_id"].unique())
    for model in seen:
        assert model["model_id"].nunique() == 1
        assert len(model) == (preds["model_id"] == model["model_id"].iat[0]).sum()


def test_no_robustness_rows_leave_no_robustness_table(tmp_path) -> None:
    cell_id, meta, frame = _cell("endo_active", "imaging", "single", 0, 2, robust=False)
    store.write_cell(tmp_path, cell_id, meta, frame)
    (tmp_path / store.ROBUSTNESS).write_bytes(b"stale")
    store.consolidate(tmp_path, [cell_id], {"endo_active": "ses_cd"})
    assert not (tmp_path / store.ROBUSTNESS).exists()
    assert len(pd.read_parquet(tmp_path / store.PREDICTIONS)) == 4


def test_metrics_are_scored_model_by_model_in_the_run_order(run_dir) -> None:
    types = {"severity4": "multiclass", "endo_active": "binary"}  # the configured order, not alphabetical
    parts: list[pd.DataFrame] = []
    endpoints = {"endo_active": "ses_cd", "severity4": "severity"}
    store.consolidate(run_dir, _ids(run_dir), endpoints, on_model=lambda m: parts.append(
        model_metrics(m, types[m["task"].iat[0]])))  # fmt: skip
    table = metrics_table(parts, types)
    assert list(dict.fromkeys(table["task"])) == ["severity4", "endo_active"]
    endo = table[table["task"] == "endo_active"]
    assert list(dict.fromkeys(endo["model_id"])) == sorted(endo["model_id"].unique())
    single = endo[(endo["model_id"] == "endo_active/imaging/enet/single") & (endo["metric"] == "roc_auc")]
    assert list(zip(single["validation"], single["fold"], strict=True)) == [
        ("internal", "0"),
        ("internal", "1"),
        ("internal", "2"),
        ("internal", "all"),
        ("site", "0"),
        ("site", "all"),
    ]
