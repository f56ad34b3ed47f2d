"""Scale: time per patient and peak memory of the matrix (and extraction) as the cohort grows, serial and on
a Dask ``LocalCluster`` of 2 worker processes, with the fitted growth exponent.

    python -m benchmarks.perf.bench_scale [--quick] [--extract] [--sizes 250 500 ...] [--matrix quick]
        [--features default|light] [--image-shape 64 64 24] [--workers 2] [--json PATH]

For each size N a synthetic cohort is generated (seed 0, one image shape for every size so that
extraction costs compare), loaded and its features extracted (``--extract``: timed serially in this
process and on the cluster, the blocks compared exactly; otherwise once on local processes, untimed).
The matrix then runs serially (``n_jobs=1``, cells in this process) and on the cluster
(``scheduler=...``), and the two ``predictions.parquet`` must be equal (``check_exact``); the script exits
1 otherwise.

Memory: the submitting process's peak is its ``VmHWM``, reset before each phase (``/proc/self/clear_refs``),
so it covers task data, receiving and writing each cell's file, and consolidating the cell files into the
result tables at the end; it is printed beside the RSS the phase started from (the imported libraries). A
worker's peak is its own ``VmHWM`` (reset and read on every worker with ``client.run``; ``ru_maxrss`` of a
spawned worker would count its parent's RSS at the fork). Before the first size, one untimed warm-up (40
patients, every phase) loads the libraries and models in this process and in the workers. Time per patient is wall seconds / N; the
growth exponent is the least-squares slope of log(time) on log(N) (1: linear). ``--quick`` runs N = 120,
240, 480 with a small matrix (endo_active, enet, single and early fusions of the 7 modality sets, 2
trials: 40 cells) and the light features (no sentence embeddings), within 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks import store
from benchmarks.experiment.config import RunConfig, load_config
from benchmarks.experiment.resources import usable_cores
from benchmarks.experiment.runner import run_matrix

SIZES = (250, 500, 1000, 2000, 4000)
QUICK_SIZES = (120, 240, 480)
WARMUP_N = 40
LIGHT_FEATURES = {"imaging": ["radiomics"], "text": ["report_concepts"], "pro": ["pro_indices"]}
SMALL_MATRIX: dict[str, Any] = dict(
    tasks=["endo_active"],
    estimators=["enet"],
    fusions=["single", "early"],
    modality_sets="all",
    n_trials=2,
    repeats=1,
    folds=5,
    inner_splits=3,
    robustness=False,
)


def _status_mb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS (Linux >= 4.0); False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_mb() -> float:
    """This process's peak resident memory since the last :func:`reset_peak` (``VmHWM``), in MB."""
    return _status_mb("VmHWM")


def rss_mb() -> float:
    """This process's resident memory now (``VmRSS``), in MB."""
    return _status_mb("VmRSS")


def lifetime_peak_mb() -> float:
    """``ru_maxrss`` in MB: the peak over the process's life, which on Linux also counts the parent's RSS
    at the fork before ``exec`` (so it is not used for spawned workers: their ``VmHWM`` is)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def growth_exponent(sizes: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) on log(size)."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


class Cluster:
    """A ``LocalCluster`` of ``n`` single-threaded worker processes and a client to restart and query them."""

    def __init__(self, n: int) -> None:
        from distributed import Client, LocalCluster

        self.cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        self.client = Client(self.cluster)
        self.address = self.cluster.scheduler_address

    def fresh(self) -> None:
        """Reset every worker's ``VmHWM``, so that it covers the next phase only."""
        self.client.run(reset_peak)

    def worker_peaks(self) -> list[float]:
        return sorted(self.client.run(peak_mb).values())

    def close(self) -> None:
        self.client.close()
        self.cluster.close()


def _measured(fn, cluster: Cluster | None = None) -> tuple[Any, dict[str, Any]]:
    """``fn()``'s result and its wall time, this process's peak and (with a cluster) the workers' peaks."""
    if cluster is not None:
        cluster.fresh()
    reset_peak()
    start_mb = rss_mb()
    t0 = time.perf_counter()
    result = fn()
    out: dict[str, Any] = {
        "seconds": time.perf_counter() - t0,
        "submit_start_mb": start_mb,
        "submit_peak_mb": peak_mb(),
    }
    if cluster is not None:
        out["worker_peak_mb"] = max(cluster.worker_peaks())
    return result, out


def _extract(cohort, features, cache: Path, **kw):
    from features.engine import extract_modalities

    fs = extract_modalities(
        cohort, features, cache=store.FeatureCache(cache, cohort=cohort.root), progress=False, **kw
    )
    return fs


def _same_blocks(a, b) -> str | None:
    if sorted(a.blocks) != sorted(b.blocks):
        return f"modalities {sorted(a.blocks)} vs {sorted(b.blocks)}"
    for m in a.blocks:
        try:
            pd.testing.assert_frame_equal(a.blocks[m], b.blocks[m], check_exact=True, obj=m)
        except AssertionError as exc:
            return str(exc)
    return None


def _predictions(run_dir: Path) -> pd.DataFrame:
    pred = pd.read_parquet(run_dir / store.PREDICTIONS)
    return pred.sort_values(["cell_id", "patient_id"]).reset_index(drop=True)


def _matrix(config: RunConfig, cohort, blocks, run_dir: Path) -> dict[str, Any]:
    outcome = run_matrix(config, cohort.endpoints, blocks, run_dir, progress=False)
    if outcome.n_failed:
        raise SystemExit(f"{outcome.n_failed} cell(s) failed in {run_dir}; see {run_dir / store.CELLS}")
    cells = pd.read_parquet(run_dir / store.CELLS)
    return {
        "cells": outcome.n_cells,
        "cell_peak_mb": float(cells["peak_memory_mb"].max()),  # RSS of the process that ran the cell
        "predictions_rows": int(len(pd.read_parquet(run_dir / store.PREDICTIONS, columns=["cell_id"]))),
    }


def run_size(
    n: int,
    args: argparse.Namespace,
    cluster: Cluster,
    work: Path,
    features: dict[str, list[str]],
    matrix: dict[str, Any],
    profile: str,
) -> dict[str, Any]:
    """Every measurement of one cohort size (module docstring)."""
    from benchmarks.cohort import load_cohort
    from benchmarks.synthetic import SyntheticConfig, generate_cohort

    row: dict[str, Any] = {"n": n}
    t0 = time.perf_counter()
    syn = SyntheticConfig(image_shape=tuple(args.image_shape), n_jobs=usable_cores())
    cohort = load_cohort(generate_cohort(work / f"n{n}" / "synthetic", n=n, seed=0, config=syn))
    row["setup_seconds"] = time.perf_counter() - t0
    if args.extract:
        serial, m = _measured(lambda: _extract(cohort, features, work / f"n{n}" / "cache_serial", n_jobs=1))
        row["extract_serial"] = m
        dask, m = _measured(
            lambda: _extract(cohort, features, work / f"n{n}" / "cache_dask", scheduler=cluster.address),
            cluster,
        )
        row["extract_dask"] = m
        problem = _same_blocks(serial, dask)
        row["features_identical"] = problem is None
        if problem:
            print(f"NOT IDENTICAL: features of N={n} differ between serial and Dask: {problem}")
            sys.exit(1)
        fs = serial
    else:
        fs = _extract(cohort, features, work / f"n{n}" / "cache", n_jobs=usable_cores())
    row["features"] = {m: int(b.shape[1]) for m, b in fs.blocks.items()}
    serial_cfg = load_config(profile, n=n, n_jobs=1, **matrix)
    dask_cfg = load_config(profile, n=n, scheduler=cluster.address, **matrix)
    info, m = _measured(lambda: _matrix(serial_cfg, cohort, fs.blocks, work / f"n{n}" / "serial"))
    row["matrix_serial"] = {**m, **info}
    info, m = _measured(lambda: _matrix(dask_cfg, cohort, fs.blocks, work / f"n{n}" / "dask"), cluster)
    row["matrix_dask"] = {**m, **info}
    try:
        a, b = _predictions(work / f"n{n}" / "serial"), _predictions(work / f"n{n}" / "dask")
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    except AssertionError as exc:
        print(f"NOT IDENTICAL: predictions of N={n} differ between serial and Dask: {exc}")
        sys.exit(1)
    row["predictions_identical"] = True
    shutil.rmtree(work / f"n{n}", ignore_errors=True)  # the disk of the largest sizes
    return row


def _print_row(r: dict[str, Any], extract: bool) -> None:
    n = r["n"]
    parts = []
    if extract:
        es, ed = r["extract_serial"], r["extract_dask"]
        parts.append(
            f"extract serial {es['seconds']:6.1f} s ({1000 * es['seconds'] / n:5.1f} ms/patient, "
            f"peak {es['submit_peak_mb']:5.0f} MB from {es['submit_start_mb']:.0f}) | dask {ed['seconds']:6.1f} s "
            f"({1000 * ed['seconds'] / n:5.1f} ms/patient, submitter {ed['submit_peak_mb']:5.0f} MB, "
            f"worker {ed['worker_peak_mb']:5.0f} MB)"
        )
    ms, md = r["matrix_serial"], r["matrix_dask"]
    parts.append(
        f"matrix {ms['cells']} cells: serial {ms['seconds']:6.1f} s ({1000 * ms['seconds'] / n:5.1f} ms/patient, "
        f"peak {ms['submit_peak_mb']:5.0f} MB from {ms['submit_start_mb']:.0f}) | dask {md['seconds']:6.1f} s "
        f"({1000 * md['seconds'] / n:5.1f} ms/patient, submitter {md['submit_peak_mb']:5.0f} MB, "
        f"worker {md['worker_peak_mb']:5.0f} MB) | {ms['predictions_rows']} prediction rows, identical"
    )
    print(f"N={n:5d}  " + "\n         ".join(parts), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="N = 120, 240, 480, small matrix, light features"
    )
    parser.add_argument("--extract", action="store_true", help="also time extraction, serial and on Dask")
    parser.add_argument("--sizes", type=int, nargs="+", help=f"cohort sizes (default {list(SIZES)})")
    parser.add_argument(
        "--matrix",
        choices=["small", "smoke", "quick", "default"],
        help="the matrix: small (40 cells), or a profile's (default: quick; --quick: small; default is the "
        "paper-grade profile, days at these sizes on 2 cores)",
    )
    parser.add_argument("--features", choices=["default", "light"], help="default: default; --quick: light")
    parser.add_argument(
        "--image-shape", type=int, nargs=3, help="nx ny nz (default 64 64 24; --quick 32 32 16)"
    )
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes (default 2)")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    which = args.matrix or ("small" if args.quick else "quick")
    profile, matrix = ("smoke", SMALL_MATRIX) if which == "small" else (which, {})
    from features.engine import DEFAULT_FEATURES

    features = (
        LIGHT_FEATURES
        if (args.features or ("light" if args.quick else "default")) == "light"
        else DEFAULT_FEATURES
    )
    args.image_shape = args.image_shape or ([32, 32, 16] if args.quick else [64, 64, 24])
    print(
        f"sizes {list(sizes)}, matrix {which}, features {features}, images {args.image_shape}, "
        f"Dask LocalCluster of {args.workers} worker processes (1 thread each), {usable_cores()} usable cores",
        flush=True,
    )
    if not reset_peak():
        print("warning: /proc/self/clear_refs not writable: submitting-process peaks are since the start")
    work = Path(tempfile.mkdtemp(prefix="cdbench-scale-"))
    cluster = Cluster(args.workers)
    rows = []
    t_all = time.perf_counter()
    try:
        t0 = time.perf_counter()
        run_size(WARMUP_N, args, cluster, work, features, matrix, profile)
        print(f"warm-up (N={WARMUP_N}, untimed): {time.perf_counter() - t0:.0f} s", flush=True)
        for n in sizes:
            rows.append(run_size(n, args, cluster, work, features, matrix, profile))
            _print_row(rows[-1], args.extract)
    finally:
        cluster.close()
        shutil.rmtree(work, ignore_errors=True)
    ns = [r["n"] for r in rows]
    series = [("matrix serial", "matrix_serial"), ("matrix dask", "matrix_dask")]
    if args.extract:
        series = [("extract serial", "extract_serial"), ("extract dask", "extract_dask"), *series]
    exponents = {}
    if len(ns) >= 2:
        for label, key in series:
            exponents[key] = growth_exponent(ns, [r[key]["seconds"] for r in rows])
            print(
                f"{label:15s}: growth exponent {exponents[key]:.2f} (time ~ N^b over N = {ns[0]}..{ns[-1]})"
            )
    top = rows[-1]
    print(
        f"submitting process at N={top['n']}: matrix peak {top['matrix_serial']['submit_peak_mb']:.0f} MB serial "
        f"(cells run in it), {top['matrix_dask']['submit_peak_mb']:.0f} MB with Dask; lifetime ru_maxrss "
        f"{lifetime_peak_mb():.0f} MB"
    )
    print(
        f"Dask predictions identical to serial at every size: {all(r['predictions_identical'] for r in rows)}"
    )
    print(f"total {time.perf_counter() - t_all:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "exponents": exponents}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
