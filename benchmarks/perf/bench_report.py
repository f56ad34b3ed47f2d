"""Time of rebuilding a full report (tables, figures, report.tex, summary.md) from stored results.

Run: ``python -m benchmarks.perf.bench_report [--n 400] [--n-boot 1000] [--pdf] [--run RUN]``.
Without ``--run`` the run folder is the report tests' realistic fake run (14 models + prior, the two
modality sets that complete the enet/early Shapley game, 2 tasks, 2 repeats x 5 folds); with ``--run`` an
existing run folder is used (its report is written to a temporary folder, the run is not modified).
Printed: the I/O floor (reading the result files and pooling the repeats), the whole ``build_report``, the
same build without the clinical-evaluation sections (Shapley values, decision curves, calibration,
subgroups: what the report cost before them) and those sections alone. CPU time is printed beside wall
time because the host may be shared. Target (issue 13, item 9): seconds for N=400.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

EXTRA_MODELS = (("imaging+text", "enet", "early"), ("text+pro", "enet", "early"))


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--pdf", action="store_true", help="also run pdflatex")
    ap.add_argument("--run", type=Path, help="an existing run folder (default: a fake run of --n patients)")
    args = ap.parse_args()
    sys.path.append(str(Path(__file__).resolve().parents[2] / "tests"))  # after the project: tests/reports
    import tableone  # noqa: F401

    import reports.stats  # noqa: F401  (imports are not part of the build time)
    from benchmarks.store import load_run
    from reports import build
    from reports.comparisons import pool_predictions

    with tempfile.TemporaryDirectory() as tmp:
        if args.run is None:
            from conftest import MODELS, _make_fake_run

            run = _make_fake_run(
                Path(tmp) / "run",
                n_patients=args.n,
                seed=1,
                models=MODELS + EXTRA_MODELS,
                with_failures=False,
            )
        else:
            run = args.run
        _, base_wall, base_cpu = _timed(lambda: pool_predictions(load_run(run)["predictions"]))
        evaluation_time = [0.0, 0.0]
        real_sections = build.evaluation_sections

        def timed_sections(*a, **k):
            out, w, c = _timed(lambda: real_sections(*a, **k))
            evaluation_time[:] = [w, c]
            return out

        opts = {"n_boot": args.n_boot, "pdf": args.pdf}
        with mock.patch.object(build, "evaluation_sections", timed_sections):
            paths, wall, cpu = _timed(lambda: build.build_report(run, Path(tmp) / "with", **opts))
        with mock.patch.object(build, "evaluation_sections", lambda *a, **k: ([], {})):
            _, wall0, cpu0 = _timed(lambda: build.build_report(run, Path(tmp) / "without", **opts))
    print(f"run={args.run or f'fake, {args.n} patients'} n_boot={args.n_boot}")
    print(f"tables={len(paths.tables)} figures={len(paths.figures)}")
    print(f"baseline (load + pool):           wall {base_wall:6.2f} s, cpu {base_cpu:6.2f} s")
    print(
        f"build_report:                     wall {wall:6.2f} s, cpu {cpu:6.2f} s (pdflatex excluded from cpu)"
    )
    print(f"build_report without evaluation:  wall {wall0:6.2f} s, cpu {cpu0:6.2f} s")
    print(
        f"evaluation sections alone:        wall {evaluation_time[0]:6.2f} s, cpu {evaluation_time[1]:6.2f} s"
    )
    print(f"ratio build/baseline:             wall {wall / base_wall:.1f}x, cpu {cpu / base_cpu:.1f}x")


if __name__ == "__main__":
    main()
