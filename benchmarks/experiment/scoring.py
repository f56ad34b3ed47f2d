"""The metrics table of a run: per fold and, per repeat, of the pooled out-of-fold predictions.

Rows carry the cell's ``validation`` ("internal": the outer CV; "external": the site folds, pooled over
them as "all") and ``harmonise`` axes; predictions without these columns (older runs) are internal,
unharmonised.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from benchmarks.store import HARMONISE_NONE, VALIDATION_INTERNAL, proba_columns
from reports.metrics import compute_metrics

POOLED_FOLD = "all"


def fold_metrics(pred: pd.DataFrame, task_type: str) -> pd.DataFrame:
    """Per-fold metrics and, per repeat, the metrics of the pooled out-of-fold predictions (fold "all")."""
    rows = []
    proba_cols = proba_columns(pred)
    pred = pred.assign(
        validation=pred["validation"] if "validation" in pred else VALIDATION_INTERNAL,
        harmonise=pred["harmonise"] if "harmonise" in pred else HARMONISE_NONE,
    )
    keys = ["model_id", "validation", "harmonise", "repeat"]
    for (model_id, validation, harmonise, repeat), g in pred.groupby(keys, sort=True):
        first = g.iloc[0]
        parts = [(str(f), gg) for f, gg in g.groupby("fold", sort=True)] + [(POOLED_FOLD, g)]
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
                        "validation": validation,
                        "harmonise": harmonise,
                        "repeat": int(repeat),
                        "fold": fold,
                        "metric": metric,
                        "value": float(value),
                    }
                )
    return pd.DataFrame(rows)


def model_metrics(pred: pd.DataFrame, task_type: str) -> pd.DataFrame:
    """``fold_metrics`` of one model's predictions (binary: the probability columns it lacks are dropped)."""
    return fold_metrics(pred.dropna(axis=1, how="all") if task_type == "binary" else pred, task_type)


def metrics_table(parts: Iterable[pd.DataFrame], task_order: Iterable[str]) -> pd.DataFrame:
    """The run's metrics table from per-model ``model_metrics`` frames: tasks in ``task_order``, then by
    model, validation, harmonise and repeat; each model's rows keep their order (folds, then "all")."""
    frames = [f for f in parts if len(f)]
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames, ignore_index=True)
    rank = {t: i for i, t in enumerate(task_order)}
    keys = ["model_id", "validation", "harmonise", "repeat"]
    order = table.assign(_task=table["task"].map(rank)).sort_values(["_task", *keys], kind="stable").index
    return table.loc[order].reset_index(drop=True)
