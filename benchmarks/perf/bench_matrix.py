"""Matrix throughput: cells per minute of the fast path against the plain path in the same run, and late-fusion
reuse vs refit.

    python -m benchmarks.perf.bench_matrix --run runs/latest [--cohort DIR] [--profile smoke|quick|default]
        [--n-jobs 2] [--one-fold] [--rounds N] [--skip-late]

``--run`` is a run folder whose cohort and feature cache are used (``python -m benchmarks.run features``
or ``all`` fills it), so the timings are with a warm feature cache. Each measurement runs into a fresh
temporary folder, after a warm-up that starts the workers and imports the models.

- Fast vs plain: the profile's matrix runs on the plain path (``share_fold_work=False``,
  ``largest_first=False``: the code path before issue 15) and on the fast path (the default: work shared
  across a cell's trials, largest cells submitted first), alternated ``--rounds`` times (best of each is
  kept: the host may be shared). Every round must give exactly the same predictions
  (``predictions.parquet`` and ``robustness.parquet``, compared with ``check_exact``) and best parameters
  on both paths; the script exits 1 otherwise. It prints cells per minute of each and their ratio, the
  CPU time of this process and its workers (load-independent), and the fixed cost of a run (task data,
  checks, consolidation: a rerun in which every cell is reused). ``--one-fold`` runs only the first repeat's first outer fold
  (every task, modality set, estimator and fusion: a tenth of a 2 x 5-fold profile).
- Late fusion: the late cells are timed combined from the stored unimodal out-of-fold predictions
  ("reuse", the default) and with their per-modality models tuned and refitted inside each cell
  ("refit").
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks import store
from benchmarks.experiment.config import load_config
from benchmarks.experiment.matrix import Cell, plan_cells
from benchmarks.experiment.runner import matrix_of, run_matrix

PLAIN = {"share_fold_work": False, "largest_first": False}


def _inputs(run_dir: Path, config, cohort_dir: str | None):
    from benchmarks.cohort import load_cohort
    from features.engine import extract_modalities

    if cohort_dir is None:
        entry = store.read_json(run_dir / store.PROVENANCE).get("cohort")  # its path, or an identity with it
        cohort_dir = (
            entry.get("path") if isinstance(entry, dict) else entry
        ) or run_dir / "synthetic" / "cohort"
    cohort = load_cohort(Path(cohort_dir))
    t0 = time.perf_counter()
    fs = extract_modalities(
        cohort, config.features, config.extractor_params, n_jobs=config.n_jobs, cache=store.FeatureCache(run_dir / store.CACHE_DIR),
        progress=False,
    )  # fmt: skip
    computed = sum(r.n_computed for r in fs.results)
    return cohort, fs, time.perf_counter() - t0, computed


def _cpu_seconds() -> dict[int, float]:
    """CPU seconds (user + system) so far of this process and of each of its live worker processes."""
    import psutil

    me = psutil.Process()
    out = {}
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        out[proc.pid] = t.user + t.system
    return out


def _results(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, str]]:
    """Predictions, robustness predictions (None without them) and best parameters by cell."""
    cells = pd.read_parquet(run_dir / store.CELLS)
    best = dict(zip(cells["cell_id"], cells["best_params"], strict=True))
    robust = run_dir / store.ROBUSTNESS
    return (
        pd.read_parquet(run_dir / store.PREDICTIONS),
        pd.read_parquet(robust) if robust.exists() else None,
        best,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run folder with a cohort and a warm feature cache")
    parser.add_argument("--cohort", help="the cohort folder (default: the run's, from its provenance)")
    parser.add_argument("--profile", default="smoke", choices=["smoke", "quick", "default"])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--one-fold", action="store_true", help="only repeat 0, outer fold 0")
    parser.add_argument("--skip-late", action="store_true", help="skip the reuse-vs-refit comparison")
    parser.add_argument(
        "--rounds", type=int, default=1, help="alternate plain and fast N times; keep the best"
    )
    args = parser.parse_args(argv)
    config = load_config(args.profile, n_jobs=args.n_jobs)
    cohort, fs, t_feat, computed = _inputs(Path(args.run), config, args.cohort)
    print(f"features from cache: {t_feat:.1f} s ({computed} cases recomputed)")
    fit_cells, late_cells = plan_cells(matrix_of(config), config.late_fusion)
    cells: list[Cell] | None = None
    if args.one_fold:
        cells = [c for c in fit_cells + late_cells if c.repeat == 0 and c.fold == 0]
        late_cells = [c for c in late_cells if c.repeat == 0 and c.fold == 0]
    n_cells = len(cells) if cells is not None else len(fit_cells) + len(late_cells)
    scope = "repeat 0, fold 0 of the " if args.one_fold else ""
    tmp = Path(tempfile.mkdtemp(prefix="cdbench-bench-"))
    cpu: dict[str, float] = {}

    def timed(cfg, out: str, only=cells) -> float:
        c0, t0 = _cpu_seconds(), time.perf_counter()
        outcome = run_matrix(cfg, cohort.endpoints, fs.blocks, tmp / out, progress=False, only=only)
        wall = time.perf_counter() - t0
        cpu[out] = sum(v - c0.get(pid, 0.0) for pid, v in _cpu_seconds().items())
        if outcome.n_failed:
            raise SystemExit(f"{outcome.n_failed} cell(s) failed in {out}")
        return wall

    try:
        first = [c for c in fit_cells if c.repeat == 0 and c.fold == 0]
        warm = [c for c in first if c.is_hybrid][:1] + [c for c in first if c.fusion == "early"][:1]
        timed(config, "warmup", only=warm or fit_cells[:1])  # worker start and imports
        paths = {"plain": load_config(args.profile, n_jobs=args.n_jobs, **PLAIN), "fast": config}
        walls: dict[str, list[float]] = {k: [] for k in paths}
        cpus: dict[str, list[float]] = {k: [] for k in paths}
        for r in range(args.rounds):  # alternated, so a change of load on a shared host hits both
            for name, cfg in paths.items():
                walls[name].append(timed(cfg, f"{name}{r}"))
                cpus[name].append(cpu[f"{name}{r}"])
        fixed = timed(config, "fast0")  # every cell reused: what a run costs besides its cells
        for r in range(args.rounds):
            (pred_plain, robust_plain, best_plain), (pred_fast, robust_fast, best_fast) = (
                _results(tmp / f"plain{r}"),
                _results(tmp / f"fast{r}"),
            )
            try:
                pd.testing.assert_frame_equal(pred_plain, pred_fast, check_exact=True)
                assert (robust_plain is None) == (robust_fast is None), "robustness table in one path only"
                if robust_plain is not None:
                    pd.testing.assert_frame_equal(robust_plain, robust_fast, check_exact=True)
                assert best_plain == best_fast, "best parameters differ"
            except AssertionError as exc:
                print(f"NOT IDENTICAL: the fast and plain paths differ: {exc}")
                sys.exit(1)
        wall = {k: min(v) for k, v in walls.items()}
        used = {k: min(v) for k, v in cpus.items()}
        rate = {k: n_cells / w * 60 for k, w in wall.items()}
        best = f"best of {args.rounds}, " if args.rounds > 1 else ""
        print(
            f"{scope}{args.profile} profile, {n_cells} cells on {args.n_jobs} workers ({best}warm feature cache):"
        )
        for k in wall:
            print(f"  {k:5s} path: {wall[k]:6.1f} s = {rate[k]:6.1f} cells/min (CPU {used[k]:6.1f} s)")
        print(f"  fixed cost of a run (every cell reused): {fixed:.1f} s")
        print(f"  speed-up x{rate['fast'] / rate['plain']:.2f} in cells/min, x{used['plain'] / used['fast']:.2f} "
              f"in CPU time; predictions identical ({len(pred_fast)} rows, robustness "
              f"{0 if robust_fast is None else len(robust_fast)} rows, {args.rounds} round(s))")  # fmt: skip
        print(json.dumps({"cells": n_cells, "wall_s": walls, "cpu_s": cpus}))
        if not late_cells:
            print("no late-fusion cells in this profile")
        if args.skip_late or not late_cells:
            return
        # reuse: the unimodal sources are already in tmp/fast0; time only combining the late cells
        reuse_dir = tmp / "reuse"
        shutil.copytree(tmp / "fast0", reuse_dir)
        for cell in late_cells:
            store.cell_path(reuse_dir, cell.cell_id).unlink()
        t_reuse = timed(config, "reuse", only=late_cells)
        refit = load_config(args.profile, n_jobs=args.n_jobs, late_fusion="refit")
        t_refit = timed(refit, "refit", only=late_cells)
        print(
            f"late fusion, {len(late_cells)} cells: reuse {t_reuse:.1f} s vs refit {t_refit:.1f} s "
            f"-> speed-up x{t_refit / max(t_reuse, 1e-9):.1f}"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
