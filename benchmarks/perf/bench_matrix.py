"""Matrix throughput on 2 cores: wall time and cells per minute of a profile, and late-fusion reuse vs refit.

    python -m benchmarks.perf.bench_matrix --run runs/latest [--profile smoke] [--n-jobs 2] [--skip-late]

``--run`` is a run folder whose cohort and feature cache are used (``python -m benchmarks.run features``
or ``all`` fills it), so the timings are with a warm feature cache. Each measurement runs into a fresh
temporary folder. The late-fusion comparison times the late cells of the profile twice in the same run:
combined from the stored unimodal out-of-fold predictions ("reuse", the default) and with their
per-modality models tuned and refitted inside each late cell ("refit"), and reports the ratio.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks import store
from benchmarks.experiment.config import load_config
from benchmarks.experiment.matrix import plan_cells
from benchmarks.experiment.runner import matrix_of, run_matrix


def _inputs(run_dir: Path, config):
    from benchmarks.cohort import load_cohort
    from features.engine import extract_modalities

    prov = store.read_json(run_dir / store.PROVENANCE)
    cohort_dir = Path(prov.get("cohort") or run_dir / "synthetic" / "cohort")
    cohort = load_cohort(cohort_dir)
    t0 = time.perf_counter()
    fs = extract_modalities(
        cohort, config.features, config.extractor_params, n_jobs=config.n_jobs, cache=store.FeatureCache(run_dir / store.CACHE_DIR),
        progress=False,
    )  # fmt: skip
    computed = sum(r.n_computed for r in fs.results)
    return cohort, fs, time.perf_counter() - t0, computed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run folder with a cohort and a warm feature cache")
    parser.add_argument("--profile", default="smoke", choices=["smoke", "default"])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--skip-late", action="store_true", help="skip the reuse-vs-refit comparison")
    args = parser.parse_args(argv)
    config = load_config(args.profile, n_jobs=args.n_jobs)
    cohort, fs, t_feat, computed = _inputs(Path(args.run), config)
    print(f"features from cache: {t_feat:.1f} s ({computed} cases recomputed)")
    tmp = Path(tempfile.mkdtemp(prefix="cdbench-bench-"))
    try:
        t0 = time.perf_counter()
        outcome = run_matrix(config, cohort.endpoints, fs.blocks, tmp / "full", progress=False)
        wall = time.perf_counter() - t0
        print(
            f"{args.profile} profile: {outcome.n_cells} cells in {wall:.1f} s on {args.n_jobs} workers "
            f"= {outcome.n_cells / wall * 60:.1f} cells/min ({outcome.n_failed} failed)"
        )
        if args.skip_late:
            return
        fit_cells, late_cells = plan_cells(matrix_of(config), config.late_fusion)
        if not late_cells:
            print("no late-fusion cells in this profile")
            return
        # reuse: the unimodal sources are already in tmp/full; time only combining the late cells
        reuse_dir = tmp / "reuse"
        shutil.copytree(tmp / "full", reuse_dir)
        for cell in late_cells:
            store.cell_path(reuse_dir, cell.cell_id).unlink()
        t0 = time.perf_counter()
        run_matrix(config, cohort.endpoints, fs.blocks, reuse_dir, progress=False, only=late_cells)
        t_reuse = time.perf_counter() - t0
        refit = load_config(args.profile, n_jobs=args.n_jobs, late_fusion="refit")
        t0 = time.perf_counter()
        run_matrix(refit, cohort.endpoints, fs.blocks, tmp / "refit", progress=False, only=late_cells)
        t_refit = time.perf_counter() - t0
        print(
            f"late fusion, {len(late_cells)} cells: reuse {t_reuse:.1f} s vs refit {t_refit:.1f} s "
            f"-> speed-up x{t_refit / max(t_reuse, 1e-9):.1f}"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
