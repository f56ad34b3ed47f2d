"""Publication figures (matplotlib, Agg). Each is saved as PNG and PDF with the frame it was drawn from
beside it (same stem, ``.csv``).

Inputs are repeat-pooled predictions (one averaged probability vector per patient and model, see
:func:`reports.comparisons.pool_predictions`) or frames computed from them.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.store import atomic_write, write_csv  # noqa: E402
from reports.formatting import fmt_p  # noqa: E402

FPR_GRID = np.linspace(0.0, 1.0, 101)
DPI = 150


def save_figure(fig: plt.Figure, data: pd.DataFrame, out_dir: str | Path, stem: str) -> dict[str, Path]:
    """Save ``fig`` as ``<stem>.png`` and ``<stem>.pdf`` and ``data`` as ``<stem>.csv``; close the figure."""
    paths = {ext: Path(out_dir) / f"{stem}.{ext}" for ext in ("png", "pdf", "csv")}
    atomic_write(paths["png"], lambda tmp: fig.savefig(tmp, format="png", dpi=DPI))
    # a fixed creation date keeps the PDF bytes identical on rerun
    atomic_write(paths["pdf"], lambda tmp: fig.savefig(tmp, format="pdf", metadata={"CreationDate": None}))
    plt.close(fig)
    write_csv(data, paths["csv"])
    return paths


# --- ROC -------------------------------------------------------------------------------------------
def _roc_on_grid(
    pos: np.ndarray, score: np.ndarray, W: np.ndarray, grid: np.ndarray = FPR_GRID
) -> np.ndarray:
    """TPR at each grid FPR for every weight row of ``W`` (B, n) (bootstrap draw counts).

    The empirical ROC is built once from the score order; tied scores form one step. TPR at a grid FPR
    is linearly interpolated between the ROC vertices (the usual vertical-averaging convention).
    """
    order = np.argsort(-score, kind="mergesort")
    s = score[order]
    last_of_tie = np.r_[s[1:] != s[:-1], True]  # keep a vertex only after the last of tied scores
    P = W[:, order] * pos[order][None, :]
    N = W[:, order] * (~pos[order])[None, :]
    tp = np.cumsum(P, axis=1)[:, last_of_tie]
    fp = np.cumsum(N, axis=1)[:, last_of_tie]
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = np.hstack([np.zeros((W.shape[0], 1)), tp / tp[:, -1:]])
        fpr = np.hstack([np.zeros((W.shape[0], 1)), fp / fp[:, -1:]])
    out = np.empty((W.shape[0], grid.size))
    for b in range(W.shape[0]):
        if not (np.isfinite(tpr[b, -1]) and np.isfinite(fpr[b, -1])):
            out[b] = np.nan
            continue
        # np.interp needs increasing x: at a vertical step take the highest TPR
        out[b] = np.interp(grid, fpr[b], tpr[b], left=0.0, right=1.0)
        out[b, grid == 0] = tpr[b][fpr[b] == 0].max()
    return out


def roc_band(
    y: np.ndarray, proba: np.ndarray, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """ROC curve on an FPR grid with a percentile-bootstrap band (patients resampled).

    Binary: the curve of ``proba[:, 1]``. Multiclass: the macro average of the one-vs-rest curves
    (TPR averaged over classes at each FPR). Columns: fpr, tpr, tpr_low, tpr_high.
    """
    y = np.asarray(y, dtype=int)
    proba = np.asarray(proba, dtype=float)
    n, K = proba.shape
    rng = np.random.default_rng(seed)
    W = (
        np.vstack([np.ones(n), rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)])
        if n_boot
        else np.ones((1, n))
    )
    classes = [1] if K == 2 else list(range(K))
    curves = np.mean([_roc_on_grid(y == k, proba[:, k], W) for k in classes], axis=0)
    alpha = (1.0 - level) / 2.0
    boot = curves[1:]
    with np.errstate(all="ignore"):
        low = np.nanquantile(boot, alpha, axis=0) if n_boot else np.full(FPR_GRID.size, np.nan)
        high = np.nanquantile(boot, 1 - alpha, axis=0) if n_boot else np.full(FPR_GRID.size, np.nan)
    return pd.DataFrame({"fpr": FPR_GRID, "tpr": curves[0], "tpr_low": low, "tpr_high": high})


MAX_CURVES_PER_PANEL = 4
"""ROC curves per panel; a band is drawn for the first (best) curve of a panel only, the others' bands
are in the CSV beside the figure."""


def roc_figure(curves: pd.DataFrame, *, title: str) -> plt.Figure:
    """ROC curves in panels (column ``panel``, one panel when absent; at most
    :data:`MAX_CURVES_PER_PANEL` curves each), the first curve of each panel with its band. ``curves`` has
    columns model, label, fpr, tpr, tpr_low, tpr_high and optionally panel and ``reference`` (True: a
    dashed curve repeated from another panel for comparison)."""
    panels = list(dict.fromkeys(curves["panel"])) if "panel" in curves.columns and len(curves) else [""]
    fig, axes = plt.subplots(
        1, len(panels), layout="constrained", figsize=(5.2 * len(panels), 5.4), squeeze=False
    )
    colors = plt.get_cmap("tab10")
    color_of: dict[str, tuple] = {}
    for ax, panel in zip(axes[0], panels, strict=True):
        sub = curves[curves["panel"] == panel] if "panel" in curves.columns else curves
        drawn = 0
        for model, g in sub.groupby("model", sort=False):
            ref = bool(g["reference"].iat[0]) if "reference" in g.columns else False
            if not ref and drawn >= MAX_CURVES_PER_PANEL:
                continue
            c = color_of.setdefault(str(model), colors(len(color_of) % 10))
            ax.plot(g["fpr"], g["tpr"], color=c, lw=1.2 if ref else 1.8, ls="--" if ref else "-",
                    label=g["label"].iat[0])  # fmt: skip
            if not ref and drawn == 0:
                ax.fill_between(g["fpr"], g["tpr_low"], g["tpr_high"], color=c, alpha=0.15, lw=0)
            drawn += 0 if ref else 1
        ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=0.8)
        ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="False positive rate (1 - specificity)")
        ax.set_ylabel("True positive rate")
        if panel:
            ax.set_title(str(panel), fontsize=10)
        ax.legend(loc="lower right", fontsize=7.5, frameon=True)
        ax.set_aspect("equal")
    fig.suptitle(title, fontsize=11)
    return fig


# --- forest plot -----------------------------------------------------------------------------------
def forest_figure(
    rows: pd.DataFrame, *, title: str, xlabel: str = "ΔAUC (fused - reference model)"
) -> plt.Figure:
    """Forest plot of ``delta_auc`` with ``ci_low``/``ci_high`` per row (``label``), the adjusted p of each
    row on the right-hand axis. Rows with the same ``group`` (a fused model) are separated from the next
    group by a thin line. The x axis spans the intervals and 0, nothing more."""
    n = len(rows)
    fig, ax = plt.subplots(layout="constrained", figsize=(8.0, 0.38 * max(n, 1) + 1.5))
    yy = np.arange(n)[::-1]
    d = rows["delta_auc"].to_numpy(float)
    lo, hi = rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float)
    ax.errorbar(
        d,
        yy,
        xerr=np.vstack([d - lo, hi - d]).reshape(2, n),
        fmt="s",
        color="black",
        ecolor="black",
        capsize=3,
        ms=5,
    )
    ax.axvline(0.0, color="grey", ls="--", lw=0.8)
    ax.set_yticks(yy, rows["label"].tolist(), fontsize=8)
    ax.set_xlabel(xlabel)
    fig.suptitle(title, fontsize=11)
    if n:
        finite = np.r_[lo, hi, d][np.isfinite(np.r_[lo, hi, d])]
        left, right = min(float(finite.min(initial=0.0)), 0.0), max(float(finite.max(initial=0.0)), 0.0)
        pad = 0.06 * max(right - left, 0.02)
        ax.set_xlim(left - pad, right + pad)
        if "group" in rows.columns:
            groups = rows["group"].astype(str).to_numpy()
            for i in range(1, n):
                if groups[i] != groups[i - 1]:
                    ax.axhline(yy[i] + 0.5, color="lightgrey", lw=0.6)
        right_ax = ax.twinx()
        right_ax.set_ylim(-0.7, n - 0.3)
        right_ax.set_yticks(
            yy, [f"p adj. {fmt_p(p)}" for p in rows["p_adjusted"].to_numpy(float)], fontsize=7.5
        )
        right_ax.tick_params(axis="y", length=0)
    else:
        ax.text(0.5, 0.5, "no fused model to compare", transform=ax.transAxes, ha="center")
    ax.set_ylim(-0.7, n - 0.3)
    return fig


# --- calibration -----------------------------------------------------------------------------------
def calibration_bins(y: np.ndarray, proba: np.ndarray, *, n_bins: int = 10) -> pd.DataFrame:
    """Reliability points on quantile bins. Binary: P(y=1) vs observed rate; multiclass: confidence of the
    most probable class vs its accuracy. Columns: bin, n, mean_predicted, observed."""
    y = np.asarray(y, dtype=int)
    proba = np.asarray(proba, dtype=float)
    if proba.shape[1] == 2:
        p, hit = proba[:, 1], (y == 1).astype(float)
    else:
        p, hit = proba.max(axis=1), (proba.argmax(axis=1) == y).astype(float)
    n_bins = int(max(2, min(n_bins, len(y) // 20)))
    edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    frame = pd.DataFrame({"bin": idx, "p": p, "hit": hit})
    out = frame.groupby("bin").agg(n=("p", "size"), mean_predicted=("p", "mean"), observed=("hit", "mean"))
    return out.reset_index()


def calibration_figure(points: pd.DataFrame, *, title: str, multiclass: bool) -> plt.Figure:
    """Reliability diagram; ``points`` has model, label, mean_predicted, observed, n."""
    fig, ax = plt.subplots(layout="constrained", figsize=(6.2, 5.6))
    colors = plt.get_cmap("tab10")
    for i, (_, g) in enumerate(points.groupby("model", sort=False)):
        ax.plot(
            g["mean_predicted"],
            g["observed"],
            marker="o",
            ms=4,
            lw=1.4,
            color=colors(i % 10),
            label=g["label"].iat[0],
        )
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8, label="perfect calibration")
    what = "confidence of the predicted class" if multiclass else "predicted probability"
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel=f"Mean {what}",
        ylabel="Observed accuracy" if multiclass else "Observed fraction positive",
    )
    ax.set_title(title, fontsize=11)
    ax.legend(loc="upper left", fontsize=7.5)
    ax.set_aspect("equal")
    return fig


# --- performance by availability pattern -----------------------------------------------------------
def pattern_figure(frame: pd.DataFrame, *, title: str, ylabel: str = "AUC") -> plt.Figure:
    """AUC (with CI) per availability pattern for each model; ``frame``: model, label, pattern, n, auc,
    auc_low, auc_high. Patterns where the AUC is undefined (one class, too few patients) are left out."""
    shown = frame[frame["auc"].notna()] if len(frame) else frame
    patterns = list(dict.fromkeys(shown.sort_values("n_pattern", ascending=False, kind="stable")["pattern"]))
    models = list(dict.fromkeys(frame["model"]))
    fig, ax = plt.subplots(layout="constrained", figsize=(max(6.5, 1.2 * len(patterns) + 2.5), 4.8))
    colors = plt.get_cmap("tab10")
    width = 0.8 / max(len(models), 1)
    for i, model in enumerate(models):
        g = frame[(frame["model"] == model) & frame["auc"].notna()]
        if g.empty:
            continue
        x = np.array([patterns.index(p) for p in g["pattern"]]) - 0.4 + width * (i + 0.5)
        a = g["auc"].to_numpy(float)
        err = np.vstack([a - g["auc_low"].to_numpy(float), g["auc_high"].to_numpy(float) - a])
        err = np.where(np.isfinite(err), np.clip(err, 0, None), 0.0)
        ax.errorbar(
            x,
            a,
            yerr=err,
            fmt="o",
            ms=4,
            capsize=2,
            color=colors(i % 10),
            label=g["label"].iat[0] if len(g) else model,
        )
    ax.axhline(0.5, color="grey", ls="--", lw=0.8)
    counts = frame.drop_duplicates("pattern").set_index("pattern")["n_pattern"] if len(frame) else {}
    ax.set_xticks(range(len(patterns)), [f"{p}\n(n={int(counts[p])})" for p in patterns], fontsize=8)
    ax.set_xlabel("Modality availability pattern")
    ax.set(ylabel=ylabel, ylim=(0, 1.02))
    ax.set_title(title, fontsize=11)
    if models:
        ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    if not patterns:
        ax.text(
            0.5, 0.5, "no pattern with enough patients of every class", transform=ax.transAxes, ha="center"
        )
    return fig
