"""Calibration of binary models: intercept and slope with bootstrap CIs, binned reliability with Wilson CIs
and a LOESS-smoothed curve, from the repeat-averaged out-of-fold probabilities.

- Calibration intercept (calibration-in-the-large): ``a`` in ``logit P(y=1) = a + offset(logit p)``; ideal 0
  (negative: the model over-predicts risk). Calibration slope: ``b`` in ``logit P(y=1) = a + b logit p``;
  ideal 1 (below 1: predictions too extreme, over-fitting). Both are the registered metrics of
  :mod:`reports.metrics` (maximum likelihood, Newton-Raphson; ``p`` clipped to [1e-12, 1 - 1e-12]).
- CIs: percentile bootstrap over patients, stratified by class (:func:`reports.bootstrap.bootstrap_ci`);
  resamples where the fit does not converge (separation) are dropped and counted (``n_valid``).
- Bins: :data:`N_BINS` quantile bins of ``p`` (fewer when there are fewer than :data:`MIN_PER_BIN` patients
  per bin, at least 2; tied quantiles merge): count, events, mean predicted probability, observed rate and
  its Wilson score interval.
- Smoothed curve: LOWESS of ``y`` on ``p`` (statsmodels, ``frac`` :data:`LOWESS_FRAC`, no robustness
  iterations), evaluated on the sorted predictions.

Multiclass tasks have no single predicted risk and are skipped by the report.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from reports.bootstrap import bootstrap_ci
from reports.comparisons import ModelPredictions
from reports.formatting import fmt_ci, fmt_num
from reports.metrics import compute_metrics
from reports.tables import Table

__all__ = [
    "CALIBRATION_TABLE",
    "N_BINS",
    "calibration_bins",
    "calibration_figure",
    "calibration_frame",
    "calibration_summary",
    "calibration_table",
    "lowess_curve",
    "wilson_interval",
]

CALIBRATION_TABLE = "calibration"
N_BINS = 10
MIN_PER_BIN = 10
LOWESS_FRAC = 0.75
SUMMARY_COLUMNS = [
    "task",
    "model",
    "modality_set",
    "estimator",
    "fusion",
    "n",
    "n_events",
    "mean_predicted",
    "observed_rate",
    "intercept",
    "intercept_low",
    "intercept_high",
    "slope",
    "slope_low",
    "slope_high",
    "n_valid_intercept",
    "n_valid_slope",
    "n_boot",
    "level",
]


def wilson_interval(events: Iterable, n: Iterable, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of the proportions ``events / n`` (NaN where ``n`` is 0)."""
    k = np.asarray(events, dtype=float)
    n = np.asarray(n, dtype=float)
    z = norm.ppf(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def _binary(y: Iterable, p: Iterable) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    p = np.asarray(p, dtype=float)
    if y.ndim != 1 or not np.isin(y, (0, 1)).all():
        raise ValueError("y must be a 1-D array of 0/1 labels (calibration is for binary tasks)")
    if p.shape != y.shape or not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise ValueError(f"p must hold {y.size} probabilities in [0, 1], one per patient")
    return y.astype(int), p


def calibration_bins(
    y: Iterable, p: Iterable, *, n_bins: int = N_BINS, min_per_bin: int = MIN_PER_BIN, level: float = 0.95
) -> pd.DataFrame:
    """Quantile bins of ``p``: bin, n, events, mean_predicted, observed, observed_low, observed_high (Wilson),
    p_low and p_high (the bin's range of predictions)."""
    y, p = _binary(y, p)
    k = int(max(2, min(n_bins, y.size // max(min_per_bin, 1))))
    edges = np.unique(np.quantile(p, np.linspace(0, 1, k + 1)))
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(edges.size - 2, 0))
    frame = pd.DataFrame({"bin": idx, "p": p, "y": y})
    out = (
        frame.groupby("bin")
        .agg(
            n=("p", "size"),
            events=("y", "sum"),
            mean_predicted=("p", "mean"),
            p_low=("p", "min"),
            p_high=("p", "max"),
        )
        .reset_index()
    )
    out["observed"] = out["events"] / out["n"]
    out["observed_low"], out["observed_high"] = wilson_interval(out["events"], out["n"], level)
    cols = [
        "bin",
        "n",
        "events",
        "mean_predicted",
        "observed",
        "observed_low",
        "observed_high",
        "p_low",
        "p_high",
    ]
    return out[cols]


def lowess_curve(y: Iterable, p: Iterable, *, frac: float = LOWESS_FRAC) -> pd.DataFrame:
    """LOWESS of the outcome on the prediction: columns predicted, smoothed (sorted by predicted)."""
    from statsmodels.nonparametric.smoothers_lowess import lowess

    y, p = _binary(y, p)
    fit = lowess(y.astype(float), p, frac=frac, it=0, return_sorted=True)
    return pd.DataFrame({"predicted": fit[:, 0], "smoothed": np.clip(fit[:, 1], 0.0, 1.0)})


def calibration_summary(
    y: Iterable, p: Iterable, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> dict[str, float]:
    """Intercept and slope with percentile bootstrap CIs (patients resampled within class), n, events,
    mean predicted probability and observed rate. NaN where a fit is undefined (separation, constant p)."""
    y, p = _binary(y, p)
    P = np.column_stack([1 - p, p])
    with np.errstate(all="ignore"):
        point = compute_metrics(y, P, "binary", ["calibration_intercept", "calibration_slope"])
    out: dict[str, float] = {
        "n": int(y.size),
        "n_events": int(y.sum()),
        "mean_predicted": float(p.mean()),
        "observed_rate": float(y.mean()),
    }
    for kind in ("intercept", "slope"):
        est, lo, hi, valid = point[f"calibration_{kind}"], np.nan, np.nan, 0
        if np.isfinite(est) and n_boot and np.unique(y).size == 2:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")  # dropped resamples are counted in n_valid instead
                try:
                    r = bootstrap_ci(y, P, f"calibration_{kind}", n_boot=n_boot, level=level, seed=seed)
                    lo, hi, valid = r.ci_low, r.ci_high, r.n_valid
                except ValueError:  # fewer than 2 resamples gave a fit
                    pass
        out.update({kind: est, f"{kind}_low": lo, f"{kind}_high": hi, f"n_valid_{kind}": valid})
    out.update({"n_boot": int(n_boot), "level": level})
    return out


def calibration_frame(
    models: Sequence[ModelPredictions], *, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(summary: one row per model, :data:`SUMMARY_COLUMNS`; bins: :func:`calibration_bins` per model;
    smoothed: :func:`lowess_curve` per model). Each model on all the patients it predicted."""
    summaries, bins, curves = [], [], []
    for m in models:
        task, mset, est, fus = m.key
        ident = {"task": task, "model": m.label, "modality_set": mset, "estimator": est, "fusion": fus}
        summaries.append(
            {**ident, **calibration_summary(m.y, m.score, n_boot=n_boot, level=level, seed=seed)}
        )
        b = calibration_bins(m.y, m.score, level=level)
        bins.append(pd.concat([pd.DataFrame([ident] * len(b)), b], axis=1))
        c = lowess_curve(m.y, m.score)
        curves.append(pd.concat([pd.DataFrame([ident] * len(c)), c], axis=1))
    summary = pd.DataFrame(summaries, columns=SUMMARY_COLUMNS)
    return summary, pd.concat(bins, ignore_index=True), pd.concat(curves, ignore_index=True)


def calibration_table(summary: pd.DataFrame, *, level: float = 0.95, notes: Sequence[str] = ()) -> Table:
    """``calibration``: intercept and slope (CI) per model, n and events, every binary task."""
    pct = int(round(level * 100))
    frame = summary.reset_index(drop=True)
    display = pd.DataFrame(
        {
            "Task": frame["task"],
            "Model": frame["model"],
            "n": frame["n"].astype(int).astype(str),
            "Events": frame["n_events"].astype(int).astype(str),
            "Mean predicted": frame["mean_predicted"].map(fmt_num),
            "Observed": frame["observed_rate"].map(fmt_num),
            f"Intercept ({pct}% CI)": [
                fmt_ci(*v) for v in frame[["intercept", "intercept_low", "intercept_high"]].to_numpy()
            ],
            f"Slope ({pct}% CI)": [
                fmt_ci(*v) for v in frame[["slope", "slope_low", "slope_high"]].to_numpy()
            ],
        }
    )
    n_boot = int(frame["n_boot"].iat[0]) if len(frame) else 0
    return Table(
        name=CALIBRATION_TABLE,
        data=frame,
        display=display,
        caption="Calibration of the repeat-averaged out-of-fold probabilities (binary tasks).",
        label="tab:calibration",
        notes=[
            "Intercept: calibration-in-the-large, a in logit P(y=1) = a + logit(p) (ideal 0; negative: "
            "risks over-predicted). Slope: b in logit P(y=1) = a + b logit(p) (ideal 1; below 1: "
            "predictions too extreme).",
            f"{pct}% CI: percentile bootstrap over patients, stratified by class, {n_boot} resamples "
            "(resamples without a converged fit are dropped; their count is in the CSV).",
            *notes,
        ],
        group_by="Task",
    )


def calibration_figure(bins: pd.DataFrame, smoothed: pd.DataFrame, *, title: str):
    """Reliability diagram per model: binned observed rate with Wilson CIs (the legend gives the patients
    per bin), LOWESS curve; below, the distribution of the predictions (20 equal-width bins)."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(bins["model"]))
    fig, (ax, hx) = plt.subplots(
        2, 1, layout="constrained", figsize=(6.4, 6.6), sharex=True, gridspec_kw={"height_ratios": [4, 1]}
    )
    colors = plt.get_cmap("tab10")
    for i, model in enumerate(models):
        c = colors(i % 10)
        b = bins[bins["model"] == model]
        x, obs = b["mean_predicted"].to_numpy(float), b["observed"].to_numpy(float)
        err = np.vstack([obs - b["observed_low"].to_numpy(float), b["observed_high"].to_numpy(float) - obs])
        lo, hi = int(b["n"].min()), int(b["n"].max())
        counts = f"{len(b)} bins of {lo}" if lo == hi else f"{len(b)} bins of {lo}-{hi}"
        bars = ax.errorbar(
            x, obs, yerr=np.clip(err, 0, None), fmt="o", ms=4, capsize=2, color=c, lw=0.8,
            label=f"{model} ({counts})",
        )  # fmt: skip
        for line in bars[2]:
            line.set_alpha(0.55)
        s = smoothed[smoothed["model"] == model]
        ax.plot(s["predicted"], s["smoothed"], color=c, lw=1.3)
        hx.hist(s["predicted"], bins=np.linspace(0, 1, 21), histtype="step", color=c, lw=1.2)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8, label="perfect calibration")
    ax.set(xlim=(0, 1), ylim=(-0.02, 1.02), ylabel="Observed fraction positive")
    ax.set_title(title, fontsize=11)
    ax.legend(loc="upper left", fontsize=7)
    hx.set(xlabel="Predicted probability (points: mean of a quantile bin)", ylabel="Patients")
    return fig
