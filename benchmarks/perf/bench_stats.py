"""Speed of the statistics against their reference implementations.

    python -m benchmarks.perf.bench_stats [--record] [--no-r]

(a) DeLong at n = 10^6 (reports.delong) against R's pROC 1.18: ``roc() + var(method="delong") +
    ci.auc(method="delong")`` for one score, and two ``roc()`` + ``roc.test(method="delong", paired=TRUE)``
    for a paired test. pROC is timed in this run when ``Rscript`` with pROC is installed; otherwise the
    committed measurement in ``benchmarks/perf/proc_timing.json`` (date and machine recorded) is used and
    the output says so. ``--record`` rewrites that file with the fresh R timing.
(b) The vectorised stratified bootstrap (2000 resamples of n = 10^4, ROC-AUC) against a plain Python
    loop over scikit-learn's ``roc_auc_score`` on the same kind of stratified resamples. The loop is timed
    on 200 resamples and extrapolated linearly to 2000 (each resample costs the same).

Every figure is the best of ``--repeats`` runs (wall clock); ratios are reference time / our time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from reports.stats import bootstrap_ci, delong_ci, delong_test

PROC_TIMING = Path(__file__).with_name("proc_timing.json")

R_SCRIPT = r"""
suppressMessages(library(pROC))
args <- commandArgs(trailingOnly = TRUE)
n <- as.integer(args[1]); repeats <- as.integer(args[2])
set.seed(1)
y <- rbinom(n, 1, 0.3)
a <- rnorm(n) + y
b <- 0.6 * a + rnorm(n) + 0.3 * y
best <- function(f) min(sapply(seq_len(repeats), function(i) system.time(f())[["elapsed"]]))
t_ci <- best(function() {
  r <- roc(y, a, levels = c(0, 1), direction = "<", quiet = TRUE)
  v <- var(r, method = "delong"); ci <- ci.auc(r, method = "delong")
})
t_test <- best(function() {
  ra <- roc(y, a, levels = c(0, 1), direction = "<", quiet = TRUE)
  rb <- roc(y, b, levels = c(0, 1), direction = "<", quiet = TRUE)
  tt <- roc.test(ra, rb, method = "delong", paired = TRUE)
})
cat(sprintf('{"delong_ci": %.6f, "delong_test": %.6f, "pROC": "%s", "R": "%s"}\n', t_ci, t_test,
            as.character(packageVersion("pROC")), R.version.string))
"""


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} logical CPUs"


def measure_proc(n: int, repeats: int) -> dict | None:
    """pROC timings in seconds, or None when Rscript/pROC is unavailable."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_SCRIPT)
        path = fh.name
    try:
        out = subprocess.run(
            [rscript, path, str(n), str(repeats)], capture_output=True, text=True, timeout=1800
        )
    finally:
        os.unlink(path)
    if out.returncode != 0:
        print(f"Rscript failed (pROC missing?): {out.stderr.strip()[:300]}")
        return None
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result.update(
        n=n, repeats=repeats, date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), machine=_machine()
    )
    result["what"] = {
        "delong_ci": "roc(levels=c(0,1), direction='<') + var(method='delong') + ci.auc(method='delong')",
        "delong_test": "2 x roc() + roc.test(method='delong', paired=TRUE)",
    }
    return result


def bench_delong(n: int, repeats: int, use_r: bool, record: bool) -> dict:
    rng = np.random.default_rng(1)
    y = (rng.uniform(size=n) < 0.3).astype(np.int64)
    a = rng.standard_normal(n) + y
    b = 0.6 * a + rng.standard_normal(n) + 0.3 * y
    ours_ci = _best(lambda: delong_ci(y, a), repeats)
    ours_test = _best(lambda: delong_test(y, a, b), repeats)
    fresh = measure_proc(n, repeats) if use_r else None
    if fresh is not None and record:
        PROC_TIMING.write_text(json.dumps(fresh, indent=2) + "\n", encoding="utf-8")
    recorded = json.loads(PROC_TIMING.read_text(encoding="utf-8")) if PROC_TIMING.exists() else None
    ref, source = (fresh, "measured in this run") if fresh else (recorded, "recorded in proc_timing.json")
    out = {"n": n, "ours_ci_s": ours_ci, "ours_test_s": ours_test, "proc_source": source}
    print(f"(a) DeLong, n = {n:,} ({int(y.sum()):,} positives), best of {repeats}")
    print(f"    cdbench delong_ci   : {ours_ci:8.3f} s")
    print(f"    cdbench delong_test : {ours_test:8.3f} s")
    if ref is None:
        print("    pROC: no Rscript and no recorded timing; no ratio")
        return out
    if ref.get("n") != n:
        print(f"    note: the pROC timing is for n = {ref.get('n'):,}")
    print(
        f"    pROC {ref['pROC']} ci.auc  : {ref['delong_ci']:8.3f} s  ({source}; {ref['date']}, {ref['machine']})"
    )
    print(f"    pROC roc.test        : {ref['delong_test']:8.3f} s")
    print(
        f"    ratio pROC / cdbench : CI {ref['delong_ci'] / ours_ci:6.1f}x   test {ref['delong_test'] / ours_test:6.1f}x"
    )
    if fresh and recorded and not record:
        print(
            f"    (recorded pROC figures: CI {recorded['delong_ci']:.3f} s, test {recorded['delong_test']:.3f} s)"
        )
    out.update(proc_ci_s=ref["delong_ci"], proc_test_s=ref["delong_test"])
    return out


def _stratified_indices(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.concatenate(
        [
            rng.choice(idx, size=idx.size, replace=True)
            for idx in (np.flatnonzero(y == 0), np.flatnonzero(y == 1))
        ]
    )


def bench_bootstrap(n: int, n_boot: int, loop_boot: int, repeats: int) -> dict:
    rng = np.random.default_rng(2)
    y = (rng.uniform(size=n) < 0.3).astype(np.int64)
    s = rng.standard_normal(n) + y

    def loop():
        r = np.random.default_rng(3)
        vals = []
        for _ in range(loop_boot):
            idx = _stratified_indices(y, r)
            vals.append(roc_auc_score(y[idx], s[idx]))
        return np.quantile(vals, [0.025, 0.975])

    ours = _best(lambda: bootstrap_ci(y, s, "roc_auc", n_boot=n_boot, seed=0), repeats)
    ours_bca = _best(lambda: bootstrap_ci(y, s, "roc_auc", n_boot=n_boot, seed=0, method="bca"), 1)
    loop_t = _best(loop, 1) * (n_boot / loop_boot)
    print(f"(b) Stratified bootstrap of ROC-AUC, {n_boot} resamples of n = {n:,}")
    print(f"    cdbench bootstrap_ci (percentile) : {ours:8.3f} s  (best of {repeats})")
    print(f"    cdbench bootstrap_ci (BCa)        : {ours_bca:8.3f} s  (jackknife included)")
    print(
        f"    loop over sklearn roc_auc_score   : {loop_t:8.3f} s  ({loop_boot} resamples timed, x{n_boot / loop_boot:g})"
    )
    print(
        f"    ratio loop / cdbench              : {loop_t / ours:6.1f}x (percentile), {loop_t / ours_bca:6.1f}x (BCa)"
    )
    return {"n": n, "n_boot": n_boot, "ours_s": ours, "ours_bca_s": ours_bca, "loop_extrapolated_s": loop_t}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-delong", type=int, default=1_000_000)
    ap.add_argument("--n-boot-rows", type=int, default=10_000)
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument(
        "--loop-boot", type=int, default=200, help="resamples actually timed for the sklearn loop"
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-r", action="store_true", help="do not run Rscript; use the recorded pROC timing")
    ap.add_argument("--record", action="store_true", help="write the fresh pROC timing to proc_timing.json")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {_machine()}; numpy {np.__version__}; load average {load:.1f}")
    res = {
        "delong": bench_delong(args.n_delong, args.repeats, not args.no_r, args.record),
        "bootstrap": bench_bootstrap(args.n_boot_rows, args.n_boot, args.loop_boot, args.repeats),
    }
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
