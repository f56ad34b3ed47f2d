"""Time and disk size of generating the synthetic cohort with images.

Run: ``python -m benchmarks.perf.bench_generate [--n 400] [--jobs 2] [--compare-jobs]``.
Baseline measured in the same run: generating the same cohort's tables without images. With
``--compare-jobs`` the image run is repeated with one job, giving the parallel speed-up.
The host may be shared, so it also prints the load-independent CPU time per scan and the wall time
that implies on idle cores. Targets (issue): N=400 with images in <= 120 s on 2 cores and <= 300 MB on disk.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.synthetic import SyntheticConfig, generate_cohort

TARGET_SECONDS = 120.0
TARGET_MB = 300.0


def _size_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6


def _timed(out: Path, n: int, seed: int, config: SyntheticConfig) -> tuple[float, float]:
    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    generate_cohort(out, n=n, seed=seed, config=config)
    return time.perf_counter() - t0, _size_mb(out)


def _cpu_per_scan(seed: int, k: int = 12, modality: str = "MR") -> float:
    """CPU seconds to render and write one default scan of ``modality``, measured in this process (immune
    to machine load)."""
    from benchmarks.synthetic.images import ScanSpec, render_scan, write_scan
    from benchmarks.synthetic.latent import sample_truth

    config = SyntheticConfig()
    truths = [sample_truth(i, seed, config) for i in range(k)]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.process_time()
        for t in truths:
            scan = render_scan(t, config, config.active_sites[t.site], ScanSpec(modality))
            write_scan(scan, Path(tmp) / "i.nii.gz", Path(tmp) / "m.nii.gz")
        return (time.process_time() - t0) / k


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="processes for the images (default 2)")
    ap.add_argument("--compare-jobs", action="store_true", help="also time the image run with 1 job")
    ap.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one)")
    args = ap.parse_args(argv)

    work = args.out or Path(tempfile.mkdtemp(prefix="cdbench_bench_generate_"))
    try:
        t_tab, mb_tab = _timed(work / "tables", args.n, args.seed, SyntheticConfig(write_images=False))
        t_img, mb_img = _timed(work / "full", args.n, args.seed, SyntheticConfig(n_jobs=args.jobs))
        imaging = pd.read_csv(work / "full" / "cohort" / "imaging.csv")
        n_scans = len(imaging)
        n_ct = int((imaging["modality"] == "CT").sum())
        print(f"N={args.n} seed={args.seed}")
        print(f"baseline  tables only           : {t_tab:7.2f} s  {mb_tab:7.1f} MB")
        print(f"full      tables + {n_scans} scans, {args.jobs} jobs: {t_img:7.2f} s  {mb_img:7.1f} MB")
        print(f"ratio     full / tables-only    : {t_img / max(t_tab, 1e-9):7.1f} x")
        print(
            f"per scan (wall, {args.jobs} jobs)        : {1000 * (t_img - t_tab) / max(n_scans, 1):7.1f} ms"
        )
        cpu_mr, cpu_ct = _cpu_per_scan(args.seed), _cpu_per_scan(args.seed, modality="CT")
        cpu = ((n_scans - n_ct) * cpu_mr + n_ct * cpu_ct) / max(n_scans, 1)
        est = t_tab + n_scans * cpu / max(args.jobs, 1)
        print(f"scans                           : {n_scans} ({n_scans - n_ct} MR, {n_ct} CT)")
        print(
            f"cpu per scan (render + write)   : {1000 * cpu_mr:7.1f} ms MR, {1000 * cpu_ct:.1f} ms CT (process time)"
        )
        print(f"estimate on {args.jobs} idle cores       : {est:7.2f} s  (tables + scans x cpu / jobs)")
        if args.compare_jobs:
            t_one, _ = _timed(work / "one_job", args.n, args.seed, SyntheticConfig(n_jobs=1))
            print(
                f"full      1 job                 : {t_one:7.2f} s  (speed-up with {args.jobs} jobs: {t_one / t_img:.2f} x)"
            )
        ok_t, ok_mb = t_img <= TARGET_SECONDS, mb_img <= TARGET_MB
        print(
            f"targets   <= {TARGET_SECONDS:.0f} s: {'met' if ok_t else 'MISSED'};"
            f" <= {TARGET_MB:.0f} MB: {'met' if ok_mb else 'MISSED'}"
        )
    finally:
        if args.out is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
