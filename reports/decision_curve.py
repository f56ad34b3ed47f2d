"""Decision curves (Vickers and Elkin 2006): net benefit of each model, treat all and treat none, binary tasks.

Net benefit at threshold probability ``pt``: ``NB(pt) = TP/n - FP/n * pt / (1 - pt)``, where a patient is
treated when the predicted probability (repeat-averaged ``proba_1``) is ``>= pt`` (the rule of the
``dcurves`` package, whose values these equal; ``tests/reports/test_decision_curve.py``). Treat all:
``prevalence - (1 - prevalence) * pt / (1 - pt)``; treat none: 0. Thresholds: :data:`DEFAULT_THRESHOLDS`,
0.01 to 0.99 in steps of 0.01 (``pt`` must lie strictly between 0 and 1). The report's table shows
:data:`TABLE_THRESHOLDS`; its CSV holds every threshold.

Patients: the models of one decision curve are compared on the same patients (those every shown model
predicted), so treat all is one curve. Multiclass tasks have no single treatment threshold and are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from benchmarks.store import MODEL_KEYS
from reports.comparisons import ModelPredictions
from reports.formatting import MISSING, fmt_interval, fmt_num
from reports.tables import Table

__all__ = [
    "DEFAULT_THRESHOLDS",
    "DECISION_CURVE_TABLE",
    "TABLE_THRESHOLDS",
    "TREAT_ALL",
    "TREAT_NONE",
    "decision_curve_figure",
    "decision_curve_frame",
    "decision_curve_table",
    "net_benefit",
    "treat_all_net_benefit",
]

DEFAULT_THRESHOLDS = np.round(np.arange(1, 100) * 0.01, 2)
"""0.01, 0.02, ..., 0.99."""
TABLE_THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
"""Thresholds shown in the LaTeX/Markdown table (the CSV has all of them)."""
DECISION_CURVE_TABLE = "decision_curve"
TREAT_ALL, TREAT_NONE = "treat all", "treat none"
FRAME_COLUMNS = [
    "task",
    "model",
    *MODEL_KEYS[1:],
    "threshold",
    "net_benefit",
    "tp",
    "fp",
    "n",
    "n_events",
]


def _thresholds(thresholds: Iterable[float]) -> np.ndarray:
    t = np.asarray(list(thresholds), dtype=float)
    if t.ndim != 1 or t.size == 0:
        raise ValueError("thresholds must be a non-empty 1-D sequence")
    if not np.all((t > 0) & (t < 1)):
        raise ValueError(f"thresholds must lie strictly between 0 and 1, got {t[(t <= 0) | (t >= 1)][:3]}")
    return t


def _binary_y(y: Iterable) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or not np.isin(y, (0, 1)).all():
        raise ValueError("y must be a 1-D array of 0/1 labels (decision curves are for binary tasks)")
    return y.astype(bool)


def _counts(y: np.ndarray, score: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Patients with ``score >= t`` among the positives (TP) and the negatives (FP), per threshold."""
    pos, neg = np.sort(score[y]), np.sort(score[~y])
    tp = pos.size - np.searchsorted(pos, t, side="left")
    fp = neg.size - np.searchsorted(neg, t, side="left")
    return tp, fp


def net_benefit(y: Iterable, score: Iterable, thresholds: Iterable[float] = DEFAULT_THRESHOLDS) -> np.ndarray:
    """``TP/n - FP/n * pt / (1 - pt)`` at each threshold ``pt`` (treated: ``score >= pt``)."""
    y = _binary_y(y)
    s = np.asarray(score, dtype=float)
    if s.shape != y.shape or not np.all(np.isfinite(s)):
        raise ValueError(f"score must hold {y.size} finite values, one per patient")
    t = _thresholds(thresholds)
    tp, fp = _counts(y, s, t)
    return tp / y.size - fp / y.size * (t / (1 - t))


def treat_all_net_benefit(y: Iterable, thresholds: Iterable[float] = DEFAULT_THRESHOLDS) -> np.ndarray:
    """Net benefit of treating everyone: ``prevalence - (1 - prevalence) * pt / (1 - pt)``."""
    y = _binary_y(y)
    t = _thresholds(thresholds)
    prev = y.mean()
    return prev - (1 - prev) * (t / (1 - t))


def common_patients(models: Sequence[ModelPredictions]) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """(patient ids every model predicted, each model's row indices of them, their labels)."""
    if not models:
        raise ValueError("no model given")
    ids = models[0].patient_id
    for m in models[1:]:
        ids = np.intersect1d(ids, m.patient_id, assume_unique=True)
    rows = [np.searchsorted(m.patient_id, ids) for m in models]  # ids are sorted in every model
    y = models[0].y[rows[0]]
    for m, r in zip(models, rows, strict=True):
        if not np.array_equal(m.y[r], y):
            raise ValueError(f"models {models[0].label} and {m.label} disagree on y_true of a patient")
    return ids, rows, y


def decision_curve_frame(
    models: Sequence[ModelPredictions], thresholds: Iterable[float] = DEFAULT_THRESHOLDS
) -> pd.DataFrame:
    """Net benefit of each model, treat all and treat none at every threshold, on the common patients.

    Columns: :data:`FRAME_COLUMNS` (``model`` is the model label or "treat all"/"treat none"; the
    modality set, estimator and fusion are empty for the two strategies)."""
    t = _thresholds(thresholds)
    ids, rows, y = common_patients(list(models))
    pos = y == 1
    if np.unique(y).size < 2 or models[0].proba.shape[1] != 2:
        raise ValueError("decision curves need a binary task with both classes among the common patients")
    task = models[0].key[0]
    n, events = int(y.size), int(pos.sum())
    out = []

    def add(label: str, key: tuple[str, str, str], nb: np.ndarray, tp: np.ndarray, fp: np.ndarray) -> None:
        out.append(
            pd.DataFrame(
                {
                    "task": task,
                    "model": label,
                    **dict(zip(MODEL_KEYS[1:], key, strict=True)),
                    "threshold": t,
                    "net_benefit": nb,
                    "tp": tp,
                    "fp": fp,
                    "n": n,
                    "n_events": events,
                }
            )
        )

    for m, r in zip(models, rows, strict=True):
        tp, fp = _counts(pos, m.score[r], t)
        add(m.label, m.key[1:], net_benefit(y, m.score[r], t), tp, fp)
    add(
        TREAT_ALL,
        ("", "", ""),
        treat_all_net_benefit(y, t),
        np.full(t.size, events),
        np.full(t.size, n - events),
    )
    add(TREAT_NONE, ("", "", ""), np.zeros(t.size), np.zeros(t.size, int), np.zeros(t.size, int))
    return pd.concat(out, ignore_index=True)[FRAME_COLUMNS]


def useful_range(frame: pd.DataFrame, model: str) -> tuple[float, float] | None:
    """Lowest and highest threshold where ``model`` beats both treat all and treat none (None: nowhere)."""
    g = frame[frame["model"] == model].set_index("threshold")["net_benefit"]
    ref = np.maximum(frame[frame["model"] == TREAT_ALL].set_index("threshold")["net_benefit"], 0.0)
    better = g.index[(g - ref.reindex(g.index)).to_numpy() > 1e-12]
    return (float(better.min()), float(better.max())) if len(better) else None


def decision_curve_table(
    frame: pd.DataFrame, *, thresholds: Sequence[float] = TABLE_THRESHOLDS, notes: Sequence[str] = ()
) -> Table:
    """``decision_curve``: net benefit per model (rows) at :data:`TABLE_THRESHOLDS` (columns), every task.

    The CSV holds the whole ``frame`` (every threshold)."""
    rows = []
    for task, sub in frame.groupby("task", sort=True):
        nb = sub.pivot_table(index="model", columns="threshold", values="net_benefit", sort=False)
        nb.columns = np.round(nb.columns.to_numpy(float), 6)
        for model in dict.fromkeys(sub["model"]):
            row = {"Task": task, "Model": model}
            for t in thresholds:
                row[f"{t:g}"] = fmt_num(nb.at[model, round(t, 6)]) if round(t, 6) in nb.columns else MISSING
            span = None if model in (TREAT_ALL, TREAT_NONE) else useful_range(sub, model)
            row["Beats both"] = (
                fmt_interval(*span, digits=2)
                if span
                else ("" if model in (TREAT_ALL, TREAT_NONE) else "never")
            )
            rows.append(row)
    cols = ["Task", "Model", *(f"{t:g}" for t in thresholds), "Beats both"]
    n_note = [
        f"{task}: n = {int(g['n'].iat[0])} patients, {int(g['n_events'].iat[0])} events."
        for task, g in frame.groupby("task", sort=True)
    ]
    return Table(
        name=DECISION_CURVE_TABLE,
        data=frame.reset_index(drop=True),
        display=pd.DataFrame(rows, columns=cols),
        caption="Decision curve analysis: net benefit at selected threshold probabilities.",
        label="tab:decision-curve",
        notes=[
            "Net benefit = TP/n - FP/n x pt/(1 - pt) at threshold probability pt (treated: predicted "
            "probability >= pt); treat all: prevalence - (1 - prevalence) x pt/(1 - pt); treat none: 0. "
            "Beats both: lowest and highest threshold (grid 0.01-0.99) at which the model's net benefit "
            "exceeds both treat all and treat none. The CSV has every threshold.",
            *n_note,
            *notes,
        ],
        group_by="Task",
    )


def decision_curve_figure(frame: pd.DataFrame, *, title: str):
    """Net benefit against threshold: one line per model, treat all (grey) and treat none (black)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(layout="constrained", figsize=(6.8, 4.8))
    colors = plt.get_cmap("tab10")
    models = [m for m in dict.fromkeys(frame["model"]) if m not in (TREAT_ALL, TREAT_NONE)]
    for i, model in enumerate(models):
        g = frame[frame["model"] == model]
        ax.plot(g["threshold"], g["net_benefit"], color=colors(i % 10), lw=1.6, label=model)
    g = frame[frame["model"] == TREAT_ALL]
    ax.plot(g["threshold"], g["net_benefit"], color="grey", lw=1.2, ls="--", label=TREAT_ALL)
    ax.axhline(0.0, color="black", lw=1.0, label=TREAT_NONE)
    prev = float(g["n_events"].iat[0] / g["n"].iat[0]) if len(g) else 0.5
    top = max(prev, float(np.nanmax(frame["net_benefit"]))) if len(frame) else prev
    ax.set(xlim=(0, 1), ylim=(-0.05 - 0.05 * top, 1.1 * top + 0.02))
    ax.set_xlabel("Threshold probability")
    ax.set_ylabel("Net benefit")
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=7.5, loc="upper right")
    return fig
