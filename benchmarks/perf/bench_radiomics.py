"""Radiomics timing and memory: cropped RadiomicsExtractor vs plain pyradiomics on the same cases.

    python -m benchmarks.perf.bench_radiomics --n 20 [--params mr] [--filters log+wavelet]
                                              [--source synthetic|volumes] [--workers 1 2] [--json OUT]

    python -m benchmarks.perf.bench_radiomics --realistic [--n-mr 4] [--json OUT]

``--realistic`` builds real-sized scans with ``bowel_volume``: MR of 384 x 384 x 80 (0.9375 x 0.9375 x
3 mm, ``mr.yaml``) and a CT of 512 x 512 x 300 (0.75 x 0.75 x 1.25 mm, ``ct.yaml``) with thin bowel-wall
ROIs (about 40,000 voxels on the CT), written as NIfTI. For each of cdbench (``RadiomicsExtractor``) and
plain pyradiomics (``RadiomicsFeatureExtractor(yaml).execute(image_path, mask_path)``) a fresh ``python``
process imports and extracts every scan of a modality (``--n-mr`` MR scans batched in one process, so
start-up is paid once; the CT alone), timed from outside (whole-process) and inside (per scan, after
imports); reported: their ratios, the largest relative feature difference (cdbench's ``wmean__`` features,
one region, against pyradiomics') and each process's peak memory (VmHWM from /proc, read by the child:
``ru_maxrss`` survives ``execve`` and would report the parent's peak).

Cases come from ``benchmarks.synthetic.generate_cohort`` (MRE-like 96x96x40 volumes with bowel-wall
masks) or, with ``--source volumes``, from ``tests/features/conftest._make_case``. Reported:

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


def bowel_volume(
    modality: str = "CT",
    shape: tuple[int, int, int] = (512, 512, 300),
    spacing: tuple[float, float, float] = (0.75, 0.75, 1.25),
    seed: int = 0,
    radius_mm: float = 9.0,
    wall_mm: float = 2.5,
    length_mm: float | None = None,
    n_segments: int = 1,
) -> tuple[Any, Any]:
    """An abdomen-like volume (x, y, z sizes ``shape``) and a mask of a thin bowel wall.

    The bowel is a tube of outer radius ``radius_mm`` and wall ``wall_mm`` winding through the slices
    (a sinusoidal course of +-25 mm in x and +-15 mm in y), over ``length_mm`` in z (default: the middle
    60% of the volume); with ``n_segments`` > 1 the wall is cut along z into labels 1..n (one per bowel
    segment). CT: int16 Hounsfield units (air outside an elliptic body, fat, soft tissue, an enhancing
    wall with texture, fluid in the lumen, noise). MR: int16 arbitrary units with a smooth bias field.
    Built slice by slice, so a 512 x 512 x 300 volume needs no more memory than its two arrays.
    """
    import SimpleITK as sitk

    rng = np.random.default_rng(seed)
    nx, ny, nz = shape
    sx, sy, sz = spacing
    img = np.empty((nz, ny, nx), dtype=np.int16)
    mask = np.zeros((nz, ny, nx), dtype=np.uint8)
    y, x = np.meshgrid(np.arange(ny) * sy, np.arange(nx) * sx, indexing="ij")
    cx0, cy0 = nx * sx / 2, ny * sy / 2
    body = ((x - cx0) / (0.45 * nx * sx)) ** 2 + ((y - cy0) / (0.38 * ny * sy)) ** 2 <= 1
    fat = body & (np.sin(x / 7.0 + seed) * np.cos(y / 9.0) > 0.35)
    length = 0.6 * nz * sz if length_mm is None else length_mm
    z0 = (nz * sz - length) / 2
    for k in range(nz):
        z = k * sz
        cx = cx0 + 25.0 * np.sin(z / 40.0 + seed)
        cy = cy0 + 15.0 * np.cos(z / 55.0)
        r = np.hypot(x - cx, y - cy)
        inside = z0 <= z <= z0 + length
        wall = (r >= radius_mm - wall_mm) & (r <= radius_mm) & inside
        lumen = (r < radius_mm - wall_mm) & inside
        noise = rng.standard_normal((ny, nx))
        if modality.upper() == "CT":
            sl = np.where(body, 40.0, -1000.0)
            sl[fat] = -100.0
            sl[lumen] = 10.0
            sl[wall] = 120.0 + 30.0 * rng.standard_normal(int(wall.sum()))
            sl += 15.0 * noise
        else:
            sl = np.where(body, 300.0, 5.0)
            sl[fat] = 700.0
            sl[lumen] = 900.0
            sl[wall] = 450.0 + 80.0 * rng.standard_normal(int(wall.sum()))
            sl = np.abs(sl * (1.0 + 0.15 * np.sin(x / 80.0) * np.cos(y / 90.0)) + 25.0 * noise)
        img[k] = np.clip(np.rint(sl), -1024, 3071)
        if inside:
            segment = min(int((z - z0) / length * n_segments), n_segments - 1) + 1
            mask[k][wall] = segment
    image, label = sitk.GetImageFromArray(img), sitk.GetImageFromArray(mask)
    for im in (image, label):
        im.SetSpacing(spacing)
        # a scanner-like origin (not a binary fraction): rounding in physical-to-index arithmetic then
        # decides nearest-neighbour ties at exact 2:1 spacing ratios, as it does on real scans
        im.SetOrigin((-0.5 * nx * sx + 0.137, -0.5 * ny * sy - 30.29, -0.5 * nz * sz + 100.31))
    return image, label


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
        ext = RadiomicsExtractor(params={"MR": "mr"})  # the MR part: one scan per case
        cases = [c for pid in cohort.patient_ids if (c := ext.inputs(cohort, pid)) is not None]
        if len(cases) >= n or n_patients > 4 * n:
            return cohort, cases[:n]
        n_patients = int(n_patients * 1.5) + 1


def _volume_cases(root: Path, n: int, seed: int) -> list[dict[str, str]]:
    import SimpleITK as sitk

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.features.conftest import _make_case as make_case

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


REALISTIC = {
    "MR": {"shape": (384, 384, 80), "spacing": (0.9375, 0.9375, 3.0), "params": "mr", "radius_mm": 11.0},
    "CT": {"shape": (512, 512, 300), "spacing": (0.75, 0.75, 1.25), "params": "ct", "radius_mm": 9.0},
}

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
tool, params, out, *pairs = sys.argv[1:]
if tool == "cdbench":
    from features.imaging import RadiomicsExtractor
    ext = RadiomicsExtractor(params=params)
    run = lambda img, msk: ext.extract_case(img, msk)
else:
    import logging
    from radiomics import featureextractor
    logging.getLogger("radiomics").setLevel(logging.ERROR)  # as cdbench does
    ext = featureextractor.RadiomicsFeatureExtractor(params)
    ext.settings["additionalInfo"] = False
    run = lambda img, msk: {k: float(v) for k, v in ext.execute(img, msk).items()}
imports = time.perf_counter() - t0
cases = []
for img, msk in zip(pairs[::2], pairs[1::2]):
    t = time.perf_counter()
    feats = run(img, msk)
    cases.append({"seconds": time.perf_counter() - t, "features": feats})
hwm = next(int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
json.dump({"imports_s": imports, "cases": cases, "peak_rss_mb": hwm}, open(out, "w"))
"""


def _child(tool: str, params: str, pairs: list[tuple[str, str]], out: Path) -> dict[str, Any]:
    """Run one fresh process extracting ``pairs``; its wall time measured from here."""
    import subprocess

    argv = [sys.executable, "-c", _CHILD, tool, params, str(out)] + [p for pair in pairs for p in pair]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, env=env)
    wall = time.perf_counter() - t0
    res = json.loads(out.read_text(encoding="utf-8"))
    res["wall_s"] = wall
    return res


def _realistic(root: Path, n_mr: int, seed: int) -> dict[str, Any]:
    import SimpleITK as sitk

    from features.imaging import SHIPPED_PARAMS

    report: dict[str, Any] = {}
    for modality, spec in REALISTIC.items():
        n = n_mr if modality == "MR" else 1
        pairs, rois = [], []
        for i in range(n):
            image, mask = bowel_volume(
                modality, spec["shape"], spec["spacing"], seed=seed + i, radius_mm=spec["radius_mm"]
            )
            rois.append(int(sitk.GetArrayViewFromImage(mask).astype(bool).sum()))
            ip, mp_ = root / f"{modality}{i}_image.nii", root / f"{modality}{i}_mask.nii"
            sitk.WriteImage(image, str(ip))
            sitk.WriteImage(mask, str(mp_))
            pairs.append((str(ip), str(mp_)))
            del image, mask
        params = str(SHIPPED_PARAMS[spec["params"]])
        runs = {
            tool: _child(tool, params, pairs, root / f"{modality}_{tool}.json")
            for tool in ("cdbench", "plain")
        }
        max_rel = 0.0
        for ours, plain in zip(runs["cdbench"]["cases"], runs["plain"]["cases"], strict=True):
            a = {k[len("wmean__") :]: v for k, v in ours["features"].items() if k.startswith("wmean__")}
            b = plain["features"]
            if sorted(a) != sorted(b):
                raise AssertionError(f"{modality}: feature names differ between cdbench and pyradiomics")
            rel = [abs(a[k] - b[k]) / max(abs(b[k]), 1e-12) for k in b]
            max_rel = max(max_rel, max(rel))
        row: dict[str, Any] = {
            "scans": n,
            "size": list(spec["shape"]),
            "spacing": list(spec["spacing"]),
            "roi_voxels": rois,
            "features": len(runs["plain"]["cases"][0]["features"]),
            "max_rel_difference": max_rel,
        }
        for tool, res in runs.items():
            secs = [c["seconds"] for c in res["cases"]]
            row[tool] = {
                "whole_process_s": res["wall_s"],
                "imports_s": res["imports_s"],
                "in_process_s_per_scan": statistics.fmean(secs),
                "in_process_s": secs,
                "peak_rss_mb": res["peak_rss_mb"],
            }
        row["whole_process_ratio"] = row["plain"]["whole_process_s"] / row["cdbench"]["whole_process_s"]
        row["in_process_ratio"] = (
            row["plain"]["in_process_s_per_scan"] / row["cdbench"]["in_process_s_per_scan"]
        )
        row["peak_rss_ratio"] = row["cdbench"]["peak_rss_mb"] / row["plain"]["peak_rss_mb"]
        report[modality] = row
    return report


def _print_realistic(report: dict[str, Any]) -> None:
    print(f"load average over the last minute: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for modality, row in report.items():
        size = "x".join(map(str, row["size"]))
        spacing = "x".join(f"{v:g}" for v in row["spacing"])
        print(
            f"{modality} {size} at {spacing} mm, {row['scans']} scan(s) in one process, ROI "
            f"{', '.join(map(str, row['roi_voxels']))} voxels, {row['features']} features"
        )
        for tool in ("cdbench", "plain"):
            r = row[tool]
            print(
                f"  {tool:8s}: whole process {r['whole_process_s']:7.2f} s (imports {r['imports_s']:.2f} s), "
                f"in process {r['in_process_s_per_scan']:7.2f} s/scan, peak RSS {r['peak_rss_mb']:7.0f} MB"
            )
        print(
            f"  plain / cdbench: whole process x{row['whole_process_ratio']:.1f}, in process "
            f"x{row['in_process_ratio']:.1f}; cdbench peak memory {row['peak_rss_ratio']:.2f} of plain's; "
            f"max relative feature difference {row['max_rel_difference']:.1e}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="number of cases")
    parser.add_argument("--params", default="mr")
    parser.add_argument("--filters", default=None)
    parser.add_argument("--source", choices=("synthetic", "volumes"), default="synthetic")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2], help="engine runs; none to skip")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    parser.add_argument(
        "--realistic", action="store_true", help="real-sized MR and CT, whole-process and in-process"
    )
    parser.add_argument("--n-mr", type=int, default=4, help="--realistic: MR scans batched in one process")
    args = parser.parse_args(argv)
    if args.realistic:
        with tempfile.TemporaryDirectory(prefix="bench_radiomics_") as tmp:
            report = _realistic(Path(tmp), args.n_mr, args.seed)
        _print_realistic(report)
        if args.json:
            args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        return 0

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
