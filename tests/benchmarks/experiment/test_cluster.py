"""Extraction and the matrix on a real Dask ``LocalCluster`` with an RDB Optuna storage equal the serial run."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
import pytest

from benchmarks import store
from benchmarks.cohort import load_cohort
from benchmarks.experiment.runner import run_matrix
from benchmarks.synthetic import SyntheticConfig, generate_cohort
from features.engine import extract_modalities

FEATURES = {"imaging": ["radiomics"], "text": ["report_concepts"], "pro": ["pro_indices"]}
MATRIX = dict(modality_sets=["imaging", "text", "imaging+text"], fusions=["single", "early"], n_trials=2)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("cohort")
    folder = generate_cohort(out, n=48, seed=3, config=SyntheticConfig(image_shape=(32, 32, 16), n_jobs=1))
    return load_cohort(folder)


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    # the context manager closes the workers and the scheduler also when a test fails
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def _tasks_run(cluster, fn) -> tuple[object, list[str]]:
    """``fn()``'s result and the names of the tasks the cluster's workers ran meanwhile."""
    from distributed import Client, get_task_stream

    with Client(cluster.scheduler_address) as client, get_task_stream(client=client) as stream:
        result = fn()
    return result, [t["key"] if isinstance(t["key"], str) else str(t["key"]) for t in stream.data]


def test_extraction_and_matrix_on_a_local_cluster_equal_the_serial_run(
    cohort, cluster, tmp_path: Path, smoke_config
):
    serial = extract_modalities(cohort, FEATURES, n_jobs=1, progress=False)
    dask, keys = _tasks_run(
        cluster,
        lambda: extract_modalities(
            cohort,
            FEATURES,
            cache=store.FeatureCache(tmp_path / "cache"),
            scheduler=cluster.scheduler_address,
            progress=False,
        ),
    )
    computed = sum(r.n_computed for r in dask.results)
    assert computed > 0 and sum("_run_one" in k for k in keys) == computed  # every case ran on a worker
    assert sorted(dask.blocks) == sorted(serial.blocks) == ["imaging", "pro", "text"]
    for m, block in serial.blocks.items():
        pd.testing.assert_frame_equal(dask.blocks[m], block, check_exact=True, obj=m)
    assert dask.failures.empty and serial.failures.empty

    reference = tmp_path / "serial"
    outcome = run_matrix(smoke_config(**MATRIX), cohort.endpoints, serial.blocks, reference, progress=False)
    assert outcome.n_failed == 0
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    config = smoke_config(**MATRIX, scheduler=cluster.scheduler_address, storage=url)
    remote, keys = _tasks_run(
        cluster, lambda: run_matrix(config, cohort.endpoints, dask.blocks, tmp_path / "dask", progress=False)
    )
    assert remote.n_failed == 0
    tuned = pd.read_parquet(tmp_path / "dask" / store.CELLS).query("n_trials > 0")
    assert len(tuned) and sum("CellJob" in k for k in keys) == remote.n_run  # every cell ran on a worker
    # every tuned cell's study lives in the RDB, with the configured number of trials
    studies = optuna.get_all_study_names(url)
    assert sorted(studies) == sorted(f"{config.config_hash()}/{c}" for c in tuned["cell_id"])
    assert all(len(optuna.load_study(study_name=s, storage=url).trials) == config.n_trials for s in studies)

    for table in (store.PREDICTIONS, store.METRICS):
        a = pd.read_parquet(reference / table)
        b = pd.read_parquet(tmp_path / "dask" / table)
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=table)
    keep = ["cell_id", "status", "best_params", "seed", "n_trials", "n_train", "n_test"]
    cells_a = pd.read_parquet(reference / store.CELLS)[keep]
    pd.testing.assert_frame_equal(
        cells_a, pd.read_parquet(tmp_path / "dask" / store.CELLS)[keep], check_exact=True
    )
