"""All-modality feature extraction on a cohort: cold vs warm cache, and 1 vs 2 workers.

    python -m benchmarks.perf.bench_features --cohort runs/latest/synthetic/cohort [--n-jobs 2] [--workers-compare]

Cold = an empty cache folder, every case extracted; warm = the same call again, every case read back.
Targets on 2 cores for the 400-patient synthetic cohort: cold <= 5 min, warm <= 10 s. Per-extractor
figures (ms per case, radiomics cropped vs plain, ms per report) are in bench_radiomics and bench_text.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.cohort import load_cohort
from benchmarks.store import FeatureCache
from features.engine import DEFAULT_FEATURES, extract_modalities


def _timed(cohort, cache: Path, n_jobs: int) -> tuple[float, object]:
    t0 = time.perf_counter()
    fs = extract_modalities(
        cohort, DEFAULT_FEATURES, n_jobs=n_jobs, cache=FeatureCache(cache), progress=False
    )
    return time.perf_counter() - t0, fs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", required=True)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--workers-compare", action="store_true", help="also time a cold run with 1 worker")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    cohort = load_cohort(Path(args.cohort))
    print(f"load + validate cohort: {time.perf_counter() - t0:.1f} s, {len(cohort.patient_ids)} patients")
    tmp = Path(tempfile.mkdtemp(prefix="cdbench-feat-"))
    try:
        cold, fs = _timed(cohort, tmp / "cache", args.n_jobs)
        print(fs.summary().to_string(index=False))
        warm, fs_warm = _timed(cohort, tmp / "cache", args.n_jobs)
        assert sum(r.n_computed for r in fs_warm.results) == 0, "warm run recomputed cases"
        for m in fs.blocks:
            assert fs.blocks[m].equals(fs_warm.blocks[m]), f"warm features differ for {m}"
        print(
            f"cold ({args.n_jobs} workers): {cold:.1f} s   warm: {warm:.1f} s   cold/warm: x{cold / warm:.0f}"
        )
        if args.workers_compare:
            one, _ = _timed(cohort, tmp / "cache1", 1)
            print(f"cold with 1 worker: {one:.1f} s   1 vs {args.n_jobs} workers: x{one / cold:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
