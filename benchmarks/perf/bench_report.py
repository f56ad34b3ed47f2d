"""Time of rebuilding a full report (tables, figures, report.tex, summary.md) from stored results.

Run: ``python -m benchmarks.perf.bench_report [--n 400] [--n-boot 1000] [--pdf]``.
The run folder is the report tests' realistic fake run (14 models + prior, 2 tasks, 2 repeats x 5 folds).
Baseline measured in the same run: reading the result files and pooling the repeats (the I/O floor).
CPU time is printed beside wall time because the host may be shared. Target (issue): seconds for N=400.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--pdf", action="store_true", help="also run pdflatex")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
    import tableone  # noqa: F401
    from _report_fixtures import make_fake_run

    import reports.stats  # noqa: F401  (imports are not part of the build time)
    from benchmarks.store import load_run
    from reports.build import build_report
    from reports.comparisons import pool_predictions

    with tempfile.TemporaryDirectory() as tmp:
        run = make_fake_run(Path(tmp) / "run", n_patients=args.n, seed=1)
        w0, c0 = time.perf_counter(), time.process_time()
        pool_predictions(load_run(run)["predictions"])
        base_wall, base_cpu = time.perf_counter() - w0, time.process_time() - c0
        w0, c0 = time.perf_counter(), time.process_time()
        paths = build_report(run, n_boot=args.n_boot, pdf=args.pdf)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    print(f"patients={args.n} n_boot={args.n_boot} tables={len(paths.tables)} figures={len(paths.figures)}")
    print(f"baseline (load + pool): wall {base_wall:.2f} s, cpu {base_cpu:.2f} s")
    print(f"build_report:           wall {wall:.2f} s, cpu {cpu:.2f} s (pdflatex excluded from cpu)")
    print(f"ratio build/baseline:   wall {wall / base_wall:.1f}x, cpu {cpu / base_cpu:.1f}x")


if __name__ == "__main__":
    main()
