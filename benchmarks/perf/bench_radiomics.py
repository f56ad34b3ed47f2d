"""Radiomics timing and memory: cropped RadiomicsExtractor vs plain pyradiomics on the same cases.

    python -m benchmarks.perf.bench_radiomics --n 20 [--params mr] [--filters log+wavelet]
                                              [--source synthetic|volumes] [--workers 1 2] [--json OUT]

Cases come from ``benchmarks.synthetic.generate_cohort`` (MRE-like 96x96x40 volumes with bowel-wall
masks) or, with ``--source volumes``, from ``tests/_imaging_helpers.make_case``. Reported:

- ms per case for the cropped extractor and for plain pyradiomics (``crop=False``: the whole image
  goes to pyradiomics, which normalises, resamples and filters it itself), measured alternately in
  this process after one warm-up case, their ratio, and the largest relative feature difference;
- peak memory of a fresh worker process extracting every case (VmHWM, and its growth over the
  RSS after imports) and the tracemalloc peak of Python/numpy allocations (ITK's own buffers are not traced);
- with the synthetic cohort: ``features.engine.extract_features`` wall time with 1 and 2 workers on a
  cold cache (after starting the worker pool on one case, timed apart), and the warm (all cached)
  rerun, with the 400-case estimate. Parallel speed-up needs idle cores: check the load average.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np


def _synthetic_cases(root: Path, n: int, seed: int) -> tuple[Any, list[dict[str, str]]]:
    from benchmarks.cohort import load_cohort
    from benchmarks.synthetic import SyntheticConfig, generate_cohort
    from features.imaging import RadiomicsExtractor

    # Some patients lack imaging (missingness model): generate until n scans exist.
    n_patients = n
    while True:
        cohort_dir = generate_cohort(
            root / f"synth{n_patients}", n=n_patients, seed=seed, config=SyntheticConfig(n_jobs=1)
        )
        cohort = load_cohort(cohort_dir)
        ext = RadiomicsExtractor()
        cases = [c for pid in cohort.patient_ids if (c := ext.inputs(cohort, pid)) is not None]
        if len(cases) >= n or n_patients > 4 * n:
            return cohort, cases[:n]
        n_patients = int(n_patients * 1.5) + 1


def _volume_cases(root: Path, n: int, seed: int) -> list[dict[str, str]]:
    import SimpleITK as sitk

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
    from _imaging_helpers import make_case

    cases = []
    for i in range(n):
        image, mask = make_case(seed + i)
        ip, mp_ = root / f"case{i:03d}_image.nii.gz", root / f"case{i:03d}_mask.nii.gz"
        sitk.WriteImage(image, str(ip))
        sitk.WriteImage(mask, str(mp_))
        cases.append({"patient_id": f"V{i:03d}", "image": str(ip), "mask": str(mp_)})
    return cases


def _time_pair(cases: list[dict[str, str]], params: str, filters: str | None) -> dict[str, Any]:
    from features.imaging import RadiomicsExtractor

    cropped = RadiomicsExtractor(params=params, filters=filters)
    plain = RadiomicsExtractor(params=params, filters=filters, crop=False)
    cropped.extract(cases[0])  # warm-up: imports, pyradiomics schema, caches
    plain.extract(cases[0])
    t_crop, t_plain, max_rel, n_feat, failures = [], [], 0.0, 0, 0
    for i, case in enumerate(cases):
        order = (cropped, plain) if i % 2 == 0 else (plain, cropped)
        out = {}
        for ext in order:
            t0 = time.perf_counter()
            try:
                out[ext.crop] = ext.extract(case)
            except Exception as exc:  # noqa: BLE001 - a benchmark counts failures, it does not stop
                out[ext.crop] = exc
            (t_crop if ext.crop else t_plain).append(time.perf_counter() - t0)
        a, b = out[True], out[False]
        if isinstance(a, Exception) or isinstance(b, Exception):
            failures += 1
            continue
        if list(a) != list(b):
            raise AssertionError(f"{case['patient_id']}: feature names differ between cropped and plain")
        va, vb = np.array(list(a.values())), np.array(list(b.values()))
        rel = np.abs(va - vb) / np.maximum(np.abs(vb), 1e-12)
        max_rel = max(max_rel, float(rel.max()))
        n_feat = len(a)
    return {
        "cases": len(cases),
        "failures": failures,
        "features": n_feat,
        "cropped_ms_median": 1000 * statistics.median(t_crop),
        "cropped_ms_mean": 1000 * statistics.fmean(t_crop),
        "plain_ms_median": 1000 * statistics.median(t_plain),
        "plain_ms_mean": 1000 * statistics.fmean(t_plain),
        "plain_over_cropped": statistics.fmean(t_plain) / statistics.fmean(t_crop),
        "max_rel_difference": max_rel,
    }


def _proc_status_mb(field: str) -> float:
    """VmRSS / VmHWM of this process in MB (Linux). ``ru_maxrss`` is not used: it survives execve, so a
    spawned worker would report its parent's peak."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _memory_worker(
    cases: list[dict[str, str]], params: str, filters: str | None, crop: bool, queue: Any
) -> None:
    from features.imaging import RadiomicsExtractor

    base = _proc_status_mb("VmRSS")
    ext = RadiomicsExtractor(params=params, filters=filters, crop=crop)
    tracemalloc.start()
    for case in cases:
        try:
            ext.extract(case)
        except Exception:  # noqa: BLE001, S112 - failures are counted by the timing part
            continue
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = _proc_status_mb("VmHWM")
    queue.put({"rss_peak_mb": peak, "rss_growth_mb": peak - base, "tracemalloc_peak_mb": traced_peak / 2**20})


def _memory(cases: list[dict[str, str]], params: str, filters: str | None, crop: bool) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_memory_worker, args=(cases, params, filters, crop, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def _engine(
    cohort: Any, cases: list[dict[str, str]], params: str, filters: str | None, workers: list[int], root: Path
) -> list[dict[str, Any]]:
    from benchmarks.store import FeatureCache
    from features.engine import extract_features
    from features.imaging import RadiomicsExtractor

    pids = [c["patient_id"] for c in cases]
    rows = []
    for n_jobs in workers:
        cache = root / f"cache_{n_jobs}"
        ext = RadiomicsExtractor(params=params, filters=filters)
        # Start the worker pool (imports in each worker) on a few uncached cases, timed apart: it is paid
        # once per run, not per case.
        t0 = time.perf_counter()
        warm_pids = pids[: 2 * n_jobs]  # a few cases so that (most likely) every worker has imported
        extract_features(ext, cohort, patient_ids=warm_pids, n_jobs=n_jobs, cache=None, progress=False)
        t_start = time.perf_counter() - t0
        t0 = time.perf_counter()
        cold = extract_features(
            ext, cohort, patient_ids=pids, n_jobs=n_jobs, cache=FeatureCache(cache), progress=False
        )
        t_cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        warm = extract_features(
            ext, cohort, patient_ids=pids, n_jobs=n_jobs, cache=FeatureCache(cache), progress=False
        )
        t_warm = time.perf_counter() - t0
        same = cold.features.sort_index().equals(warm.features.sort_index())
        rows.append(
            {
                "workers": n_jobs,
                "pool_start_s": t_start,
                "cold_s": t_cold,
                "cold_ms_per_case": 1000 * t_cold / len(pids),
                "warm_s": t_warm,
                "warm_over_cold": t_warm / t_cold,
                "computed": cold.n_computed,
                "cached_on_rerun": warm.n_cached,
                "failures": len(cold.failures),
                "warm_identical": bool(same),
                "estimate_400_cases_s": t_cold / len(pids) * 400,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="number of cases")
    parser.add_argument("--params", default="mr")
    parser.add_argument("--filters", default=None)
    parser.add_argument("--source", choices=("synthetic", "volumes"), default="synthetic")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2], help="engine runs; none to skip")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)

    report: dict[str, Any] = {
        "n": args.n,
        "params": args.params,
        "filters": args.filters,
        "source": args.source,
    }
    with tempfile.TemporaryDirectory(prefix="bench_radiomics_") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        cohort = None
        if args.source == "synthetic":
            cohort, cases = _synthetic_cases(root, args.n, args.seed)
        else:
            cases = _volume_cases(root, args.n, args.seed)
        report["prepare_s"] = time.perf_counter() - t0
        report["timing"] = _time_pair(cases, args.params, args.filters)
        report["memory_cropped"] = _memory(cases, args.params, args.filters, crop=True)
        report["memory_plain"] = _memory(cases, args.params, args.filters, crop=False)
        if cohort is not None and args.workers:
            report["engine"] = _engine(cohort, cases, args.params, args.filters, args.workers, root)

    print(f"load average over the last minute: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    t = report["timing"]
    print(
        f"radiomics, params={args.params} filters={args.filters}, {t['cases']} {args.source} cases "
        f"({t['features']} features, {t['failures']} failed), cpu count {os.cpu_count()}"
    )
    print(
        f"  cropped extractor : {t['cropped_ms_median']:8.1f} ms/case median, {t['cropped_ms_mean']:8.1f} mean"
    )
    print(f"  plain pyradiomics : {t['plain_ms_median']:8.1f} ms/case median, {t['plain_ms_mean']:8.1f} mean")
    print(
        f"  plain / cropped   : {t['plain_over_cropped']:8.2f} x   max relative feature difference {t['max_rel_difference']:.2e}"
    )
    for label in ("cropped", "plain"):
        m = report[f"memory_{label}"]
        print(
            f"  memory {label:8s}: worker peak RSS {m['rss_peak_mb']:.0f} MB (+{m['rss_growth_mb']:.0f} MB over imports), "
            f"tracemalloc peak {m['tracemalloc_peak_mb']:.1f} MB"
        )
    for row in report.get("engine", []):
        print(
            f"  engine {row['workers']} worker(s): cold {row['cold_s']:.1f} s ({row['cold_ms_per_case']:.0f} ms/case, "
            f"400 cases ~{row['estimate_400_cases_s']:.0f} s; pool start {row['pool_start_s']:.1f} s), warm {row['warm_s']:.2f} s "
            f"(x{row['warm_over_cold']:.3f}, {row['cached_on_rerun']} cached, identical={row['warm_identical']})"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
