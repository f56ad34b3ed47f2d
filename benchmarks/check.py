"""Gate a run's metrics against a committed baseline: ``python -m benchmarks.check --run DIR --baseline FILE``.

For every model and metric in the baseline, the run fails the gate when the metric is worse than the
baseline by more than its tolerance. Tolerances are per model and metric: one bootstrap standard error of
that metric (patient-level, class-stratified resampling of the pooled out-of-fold predictions), with a
floor. Rationale: the pipeline is deterministic, so an unchanged code base reproduces the baseline
exactly; a change that moves a metric by less than one standard error is within what resampling the
same patients produces and is not called a regression, a larger drop is. ``--update`` rewrites the
baseline from the run (review the diff before committing it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.store import MODEL_KEYS, internal_rows, load_run, proba_columns, write_text
from reports.comparisons import pool_predictions
from reports.metrics import get_metric
from reports.stats import bootstrap_ci

GATED_METRICS = {
    "binary": ("roc_auc", "balanced_accuracy", "brier"),
    "multiclass": ("roc_auc_ovr", "qwk", "brier"),
}
TOLERANCE_SE = 1.0
TOLERANCE_FLOOR = 0.005
N_BOOT = 400


def _pooled_predictions(pred: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per model id: labels and repeat-averaged probabilities (one row per patient), as the report pools."""
    pooled = pool_predictions(internal_rows(pred))
    out = {}
    for key, g in pooled.groupby(list(MODEL_KEYS), sort=True):
        cols = [c for c in proba_columns(g) if g[c].notna().any()]
        out["/".join(map(str, key))] = (g["y_true"].to_numpy(), g[cols].to_numpy())
    return out


def bootstrap_se(metric: str, y: np.ndarray, proba: np.ndarray, seed: int, n_boot: int = N_BOOT) -> float:
    """Standard error of ``metric`` under class-stratified bootstrap resampling of patients."""
    return bootstrap_ci(y, proba, metric, n_boot=n_boot, seed=seed).se


def _gated(res: dict[str, Any]) -> pd.DataFrame:
    metrics, tasks = res["metrics"], res["tasks"]
    if metrics.empty:
        raise SystemExit("no metrics in the run folder; run the benchmark first")
    metrics = internal_rows(metrics)  # a site run's external models are not gated
    pooled = metrics[metrics["fold"] == "all"]
    rows = []
    for (task, model_id, metric), g in pooled.groupby(["task", "model_id", "metric"], sort=True):
        if metric in GATED_METRICS[tasks[task]["type"]]:
            rows.append(
                {"task": task, "model_id": model_id, "metric": metric, "value": float(g["value"].mean())}
            )
    return pd.DataFrame(rows)


def run_metrics(run_dir: Path) -> pd.DataFrame:
    """Metrics of a run as gated: mean over repeats of each model's pooled out-of-fold metric."""
    return _gated(load_run(run_dir))


def _baseline(res: dict[str, Any], seed: int) -> dict[str, Any]:
    values = _gated(res)
    pooled = _pooled_predictions(res["predictions"])
    entries = []
    for i, row in enumerate(values.itertuples(index=False)):
        y, proba = pooled[row.model_id]
        se = bootstrap_se(row.metric, y, proba, seed + i)
        entries.append(
            {
                "task": row.task,
                "model_id": row.model_id,
                "metric": row.metric,
                "value": round(row.value, 6),
                "bootstrap_se": round(se, 6),
                "tolerance": round(max(TOLERANCE_FLOOR, TOLERANCE_SE * se), 6),
            }
        )
    prov = res["provenance"]
    return {
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config_hash": prov.get("config_hash"),
        "profile": prov.get("config", {}).get("profile"),
        "tolerance_rule": f"max({TOLERANCE_FLOOR}, {TOLERANCE_SE} x bootstrap SE, {N_BOOT} resamples)",
        "metrics": entries,
    }


def make_baseline(run_dir: Path, seed: int = 0) -> dict[str, Any]:
    """A baseline from a run: values plus per-metric tolerances from the bootstrap spread."""
    return _baseline(load_run(run_dir), seed)


def _compare(res: dict[str, Any], baseline: dict[str, Any]) -> pd.DataFrame:
    current = _gated(res).set_index(["model_id", "metric"])["value"]
    rows = []
    for e in baseline["metrics"]:
        key = (e["model_id"], e["metric"])
        value = float(current[key]) if key in current.index else float("nan")
        m = get_metric(e["metric"])
        worse_by = m.badness(value) - m.badness(e["value"])  # > 0 means worse, in the metric's units
        status = "missing" if np.isnan(value) else ("REGRESSED" if worse_by > e["tolerance"] else "ok")
        rows.append({**e, "run": value, "change": value - e["value"], "worse_by": worse_by, "status": status})
    return pd.DataFrame(rows)


def compare(run_dir: Path, baseline: dict[str, Any]) -> pd.DataFrame:
    """One row per baseline entry with the run's value, the change and whether it regressed."""
    return _compare(load_run(run_dir), baseline)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.check", description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run folder")
    parser.add_argument("--baseline", required=True, help="baseline JSON file")
    parser.add_argument("--update", action="store_true", help="write the baseline from this run instead")
    args = parser.parse_args(argv)
    run_dir, path = Path(args.run), Path(args.baseline)
    res = load_run(run_dir)
    if args.update:
        write_text(json.dumps(_baseline(res, seed=0), indent=2) + "\n", path)
        print(f"baseline written: {path}")
        return 0
    baseline = json.loads(path.read_text(encoding="utf-8"))
    table = _compare(res, baseline)
    prov = res["provenance"]
    if baseline.get("config_hash") and prov.get("config_hash") != baseline["config_hash"]:
        print(
            f"note: run config {prov.get('config_hash')} differs from the baseline's {baseline['config_hash']}"
        )
    bad = table[table["status"] != "ok"]
    # all rows when few; otherwise the failures, or else the ten closest to their tolerance
    shown = table if len(table) <= 40 else (bad if len(bad) else table.nlargest(10, "worse_by"))
    cols = ["model_id", "metric", "value", "run", "change", "tolerance", "status"]
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(shown[cols].to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    if len(bad):
        print(f"\nFAIL: {len(bad)} of {len(table)} gated metrics regressed beyond tolerance or are missing")
        return 1
    print(f"\nOK: {len(table)} gated metrics within tolerance of {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
