"""Tidy result tables of a run, consolidated from the per-cell files, and their provenance."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.config import RunConfig
from benchmarks.matrix import Cell

PREDICTIONS = "predictions.parquet"
METRICS = "metrics.parquet"
CELLS = "cells.parquet"
COHORT_SUMMARY = "cohort_summary.parquet"
PROVENANCE = "provenance.json"
TASKS = "tasks.json"
FEATURE_SUMMARY = "features.parquet"
FAILURES = "extraction_failures.parquet"
FEATURE_CHECKS = "feature_label_checks.parquet"
SEPARATION_REPORTED = 0.9  # univariate AUC (either direction) from which a feature is listed

AXES = ["cell_id", "model_id", "task", "modality_set", "estimator", "fusion", "repeat", "fold"]
TRACKED_LIBRARIES = (
    "cdbench",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "xgboost-cpu",
    "torch",
    "optuna",
    "pyradiomics-bhklab",
    "SimpleITK",
    "spacy",
    "scispacy",
    "negspacy",
    "sentence-transformers",
    "statsmodels",
    "dask",
    "distributed",
)


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Atomic parquet write (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def write_json(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, path)


def fold_metrics(pred: pd.DataFrame, task_type: str) -> pd.DataFrame:
    """Per-fold metrics and, per repeat, the metrics of the pooled out-of-fold predictions (fold "all")."""
    from reports.comparisons import proba_columns
    from reports.metrics import compute_metrics

    rows = []
    proba_cols = proba_columns(pred)
    for (model_id, repeat), g in pred.groupby(["model_id", "repeat"], sort=True):
        first = g.iloc[0]
        parts = [(str(f), gg) for f, gg in g.groupby("fold", sort=True)] + [("all", g)]
        for fold, gg in parts:
            proba = gg[proba_cols].dropna(axis=1, how="all").to_numpy()
            values = compute_metrics(gg["y_true"].to_numpy(), proba, task_type)
            for metric, value in values.items():
                rows.append(
                    {
                        "model_id": model_id,
                        "task": first["task"],
                        "modality_set": first["modality_set"],
                        "estimator": first["estimator"],
                        "fusion": first["fusion"],
                        "repeat": int(repeat),
                        "fold": fold,
                        "metric": metric,
                        "value": float(value),
                    }
                )
    return pd.DataFrame(rows)


def consolidate(run_dir: Path, cells: list[Cell], datas: dict[str, Any], config: RunConfig) -> None:
    """Rebuild predictions, metrics and cells tables from the per-cell files (idempotent)."""
    from benchmarks.runner import read_cell

    preds, metas = [], []
    for cell in sorted(cells):
        got = read_cell(run_dir, cell)
        if got is None:
            continue
        meta, frame = got
        metas.append(meta)
        if meta["status"] == "ok" and len(frame):
            test = frame[frame["part"] == "test"].drop(columns="part")
            axes = pd.DataFrame({a: [meta[a]] * len(test) for a in AXES}, index=test.index)
            axes["endpoint"] = datas[cell.task].task.endpoint
            preds.append(pd.concat([axes, test], axis=1))
    cells_table = pd.DataFrame(metas)
    if len(cells_table):
        cells_table = cells_table.sort_values("cell_id").reset_index(drop=True)
    write_table(cells_table, run_dir / CELLS)
    predictions = pd.concat(preds, ignore_index=True) if preds else pd.DataFrame()
    if len(predictions):
        predictions = predictions.sort_values(["cell_id", "patient_id"]).reset_index(drop=True)
    write_table(predictions, run_dir / PREDICTIONS)
    metric_frames = []
    for task, data in datas.items():
        sub = predictions[predictions["task"] == task] if len(predictions) else predictions
        if len(sub):
            sub = sub.dropna(axis=1, how="all") if data.task.type == "binary" else sub
            metric_frames.append(fold_metrics(sub, data.task.type))
    metrics = pd.concat(metric_frames, ignore_index=True) if metric_frames else pd.DataFrame()
    write_table(metrics, run_dir / METRICS)
    write_json(
        {
            t: {
                "type": d.task.type,
                "endpoint": d.task.endpoint,
                "description": d.task.description,
                "family": d.task.family,
                "threshold": d.task.threshold,
                "class_names": d.task.class_names,
                "n_patients": int(len(d.y)),
                "class_counts": {str(k): int(v) for k, v in d.y.value_counts().sort_index().items()},
            }
            for t, d in datas.items()
        },
        run_dir / TASKS,
    )


def feature_label_checks(datas: dict[str, Any]) -> pd.DataFrame:
    """Univariate ROC-AUC of every feature against each binary task's label, on the patients who have it.

    A feature that alone separates the label (AUC near 1 in either direction) usually means the endpoint
    is computed from that feature (e.g. a CDAI endpoint and the CDAI score among the PRO features); the
    report flags it. Rows are kept from ``SEPARATION_REPORTED`` up, plus the strongest five per task.
    """
    from scipy.stats import rankdata

    rows = []
    for task, data in datas.items():
        if data.task.type != "binary":
            continue
        y = data.y.to_numpy()
        values = data.X.to_numpy(float)
        found = []
        for j, col in enumerate(data.X.columns):
            ok = ~np.isnan(values[:, j])
            yy = y[ok]
            n_pos = int(yy.sum())
            n_neg = int(yy.size - n_pos)
            if n_pos < 5 or n_neg < 5:
                continue
            ranks = rankdata(values[ok, j])
            auc = (ranks[yy == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
            found.append({"task": task, "feature": col, "n": int(ok.sum()), "auc": float(auc),
                          "separation": float(max(auc, 1 - auc))})  # fmt: skip
        frame = pd.DataFrame(found)
        if len(frame):
            frame = frame.sort_values(["separation", "feature"], ascending=[False, True])
            rows.append(frame[(frame["separation"] >= SEPARATION_REPORTED) | (np.arange(len(frame)) < 5)])
    return (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(columns=["task", "feature", "n", "auc", "separation"])
    )


def git_commit() -> dict[str, Any]:
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True)
        return {"commit": sha.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


def _code_version() -> str:
    from benchmarks.runner import code_version

    return code_version()


def provenance(
    config: RunConfig, timings: dict[str, float], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Versions, git commit, seed, config hash, timings and the machine, stored with every run."""
    from features.engine import library_versions

    return {
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": config.identity(),
        "config_hash": config.config_hash(),
        "seed": config.seed,
        "execution": {"n_jobs": config.n_jobs, "scheduler": config.scheduler, "storage": config.storage},
        "versions": library_versions(TRACKED_LIBRARIES),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "git": git_commit(),
        "code_version": _code_version(),
        "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
        **(extra or {}),
    }


def cohort_summary(cohort: Any, blocks: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per patient for Table 1 and availability: clinical columns and endpoints, never text."""
    keep = [
        c
        for c in [
            "site",
            "sex",
            "age",
            "montreal_location",
            "montreal_behaviour",
            "perianal",
            "crp",
            "calprotectin",
            "leukocytes",
            "ses_cd",
            "maria",
            "cdai",
            "hbi",
            "severity",
        ]
        if c in cohort.patients.columns
    ]
    summary = cohort.patients[keep].copy()
    for m in cohort.availability.columns:
        summary[f"avail_{m}"] = cohort.availability[m].astype(bool)
        summary[f"features_{m}"] = summary.index.isin(blocks[m].index) if m in blocks else False
    summary.index.name = "patient_id"
    return summary.reset_index()
