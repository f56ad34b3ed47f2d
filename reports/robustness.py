"""Robustness to missing modalities at test time: AUC of each fused model with modalities withheld.

Read from ``robustness.parquet`` (``benchmarks.experiment.cell``: inside each outer fold the fitted model
predicts its test part again with a modality, or a pair, withheld from 0, 25, 50, 75 and 100% of the test
patients; nothing refitted). Per task, model, withheld set and share: the AUC of the out-of-fold
predictions pooled over folds (averaged over repeats) with its 95% CI (DeLong; for multiclass tasks the
macro one-vs-rest AUC with a percentile bootstrap CI), and the loss against 0%. Internal (cross-validated),
unharmonised models only.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.store import MODEL_KEYS, internal_rows, proba_columns  # noqa: E402
from reports.bootstrap import bootstrap_ci  # noqa: E402
from reports.delong import delong_ci  # noqa: E402
from reports.figures import save_figure  # noqa: E402
from reports.formatting import fmt_ci, fmt_num, model_label  # noqa: E402
from reports.tables import Table  # noqa: E402

ROBUSTNESS_TABLE = "robustness"
ROBUSTNESS_FIGURE = "robustness"


def robustness_frame(robust: pd.DataFrame, tasks: dict, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per task, model, withheld set and share withheld (module docstring); empty without data."""
    if robust is None or robust.empty:
        return pd.DataFrame()
    sub = internal_rows(robust)
    keys = [*MODEL_KEYS, "withheld", "fraction"]
    pcols = proba_columns(sub)
    pooled = (
        sub.groupby([*keys, "patient_id"], sort=True)
        .agg(**{c: (c, "mean") for c in pcols}, y_true=("y_true", "first"), masked=("masked", "max"))
        .reset_index()
    )
    rows = []
    for i, (key, g) in enumerate(pooled.groupby(keys, sort=True)):
        task, mset, est, fusion, withheld, fraction = key
        binary = (tasks.get(task, {}).get("type") or "binary") == "binary"
        y = g["y_true"].to_numpy(int)
        if len(np.unique(y)) < 2:
            continue
        cols = [c for c in pcols if g[c].notna().any()]
        P = g[cols].to_numpy(float)
        if binary:
            r = delong_ci(y, P[:, 1])
            auc, lo, hi = r.auc, r.ci_low, r.ci_high
        else:
            b = bootstrap_ci(y, P, "roc_auc_ovr", n_boot=n_boot, seed=seed + i)
            auc, lo, hi = b.estimate, b.ci_low, b.ci_high
        rows.append({"task": task, "modality_set": mset, "estimator": est, "fusion": fusion,
                     "model": model_label(mset, fusion, est), "withheld": withheld, "fraction": float(fraction),
                     "n": int(len(y)), "n_withheld": int(g["masked"].sum()), "auc": auc, "ci_low": lo,
                     "ci_high": hi})  # fmt: skip
    frame = pd.DataFrame(rows)
    if len(frame):
        full = frame[frame["fraction"] == 0].set_index(["task", "model", "withheld"])["auc"]
        ref = full.reindex(pd.MultiIndex.from_frame(frame[["task", "model", "withheld"]])).to_numpy()
        frame["loss_vs_0"] = ref - frame["auc"].to_numpy()
    return frame


def robustness_table(frame: pd.DataFrame) -> Table:
    """``report/tables/robustness.*``: AUC (95% CI) per model and withheld set, one column per share."""
    fractions = sorted(frame["fraction"].unique())
    wide = []
    for (task, model, withheld), g in frame.groupby(["task", "model", "withheld"], sort=True):
        by = g.set_index("fraction")
        row = {"task": task, "model": model, "withheld": withheld}
        for f in fractions:
            row[f"{f:.0%} withheld"] = (
                fmt_ci(by.at[f, "auc"], by.at[f, "ci_low"], by.at[f, "ci_high"]) if f in by.index else ""
            )
        row["loss at 100%"] = fmt_num(by.at[1.0, "loss_vs_0"]) if 1.0 in by.index else ""
        wide.append(row)
    display = pd.DataFrame(wide)
    return Table(
        name=ROBUSTNESS_TABLE,
        data=frame,
        display=display,
        caption="Robustness to missing modalities at test time: AUC with a modality (or pair) withheld",
        label="tab:robustness",
        notes=[
            "Each fused model, fitted on the training part of each outer fold, predicts its test part with "
            "the named modalities removed from a seeded share of the test patients (the same patients for "
            "every model of a fold; nothing refitted). AUC of the pooled out-of-fold predictions, 95% DeLong "
            "CI (bootstrap, macro one-vs-rest, for multiclass tasks). Loss = AUC at 0% - AUC at 100%."
        ],
        group_by="model",
    )


def robustness_figure(frame: pd.DataFrame, out_dir: str | Path) -> dict[str, Path]:
    """One panel per task and model: AUC (95% CI band) against the share withheld, a line per withheld set."""
    panels = list(frame.groupby(["task", "model"], sort=True))
    ncol = min(4, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow), squeeze=False, sharey=True)
    multi_task = frame["task"].nunique() > 1
    for ax, ((task, model), g) in zip(axes.flat, panels, strict=False):
        for withheld, w in g.groupby("withheld", sort=True):
            w = w.sort_values("fraction")
            x = 100 * w["fraction"].to_numpy()
            ax.plot(x, w["auc"], marker="o", ms=3, label=f"without {withheld}")
            ax.fill_between(x, w["ci_low"], w["ci_high"], alpha=0.12)
        ax.set_title(f"{task}: {model}" if multi_task else model, fontsize=8)
        ax.axhline(0.5, color="grey", lw=0.7, ls=":")
        ax.set_xticks([0, 25, 50, 75, 100])
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="lower left")
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("% of test patients withheld", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("ROC-AUC", fontsize=8)
    fig.suptitle("Robustness to a modality missing at test time", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, frame, out_dir, ROBUSTNESS_FIGURE)
