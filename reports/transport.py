"""Does a model transport to a new site? Internal (cross-validated) vs external (site-fold) AUC per model.

Read from the stored predictions of a ``validation = "site"`` run (``benchmarks.experiment.taskdata``):
each patient with a site has an internal prediction (outer CV over every site, averaged over repeats)
and an external one (from a model trained on the other sites only). Per model and task, on the patients
who have both:

- internal and external AUC with 95% CIs (DeLong for binary tasks; percentile bootstrap over patients of
  the macro one-vs-rest AUC for multiclass tasks);
- the drop, internal minus external AUC, with a paired percentile bootstrap CI (the same resampled
  patients score both predictions; ``reports.bootstrap.bootstrap_diff_ci``) and, for binary tasks, the
  paired DeLong p-value (``reports.delong.delong_test``);
- the verdict, with the non-inferiority margin ``TRANSPORT_MARGIN`` (0.05 AUC, the lower end of the
  internal-to-external losses published for CD imaging models): **transports** when the upper bound of
  the drop's CI is below the margin (the loss is shown to be smaller than 0.05), **drops** when its lower
  bound is above 0 (a loss is shown), **inconclusive** otherwise (too few patients to tell);
- with harmonisation (``harmonise``), the external AUC of the harmonised model and its gain over the
  unharmonised external AUC (paired bootstrap CI).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.store import (  # noqa: E402
    BASELINE_SET,
    HARMONISE_NONE,
    MODEL_KEYS,
    VALIDATION_EXTERNAL,
    VALIDATION_INTERNAL,
    proba_columns,
)
from reports.bootstrap import bootstrap_ci, bootstrap_diff_ci  # noqa: E402
from reports.comparisons import pool_predictions  # noqa: E402
from reports.delong import delong_ci, delong_test  # noqa: E402
from reports.figures import save_figure  # noqa: E402
from reports.formatting import fmt_ci, fmt_p, model_label  # noqa: E402
from reports.latex import FigureEntry, Section  # noqa: E402
from reports.robustness import ROBUSTNESS_FIGURE  # noqa: E402
from reports.tables import Table  # noqa: E402

TRANSPORT_MARGIN = 0.05
TRANSPORT_TABLE = "transport"
TRANSPORT_FIGURE = "transport"
RULE = (
    f"Verdict: 'transports' when the upper bound of the drop's 95% CI is below {TRANSPORT_MARGIN:g} AUC "
    "(non-inferiority margin), 'drops' when its lower bound is above 0, 'inconclusive' otherwise."
)


def _pooled(pred: pd.DataFrame, validation: str, harmonise: str) -> pd.DataFrame:
    sub = pred[(pred["validation"] == validation) & (pred["harmonise"] == harmonise)]
    return pool_predictions(sub)


def _by_model(pooled: pd.DataFrame) -> dict[tuple, pd.DataFrame]:
    return {key: g.set_index("patient_id") for key, g in pooled.groupby(list(MODEL_KEYS), sort=True)}


def _scores(g: pd.DataFrame, ids: np.ndarray, binary: bool) -> np.ndarray:
    cols = [c for c in proba_columns(g) if g[c].notna().any()]
    P = g.loc[ids, cols].to_numpy(float)
    return P[:, 1] if binary else P


def _auc(y: np.ndarray, s: np.ndarray, binary: bool, n_boot: int, seed: int) -> tuple[float, float, float]:
    if binary:
        r = delong_ci(y, s)
        return r.auc, r.ci_low, r.ci_high
    b = bootstrap_ci(y, s, "roc_auc_ovr", n_boot=n_boot, seed=seed)
    return b.estimate, b.ci_low, b.ci_high


def verdict(drop_low: float, drop_high: float, margin: float = TRANSPORT_MARGIN) -> str:
    """The transport verdict of a drop's CI (module docstring)."""
    if drop_high < margin:
        return "transports"
    if drop_low > 0:
        return "drops"
    return "inconclusive"


def transport_frame(
    predictions: pd.DataFrame, tasks: dict, *, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """One row per task and model with internal and external predictions (module docstring); empty
    when the run has no external predictions."""
    if "validation" not in predictions or not (predictions["validation"] == VALIDATION_EXTERNAL).any():
        return pd.DataFrame()
    internal = _by_model(_pooled(predictions, VALIDATION_INTERNAL, HARMONISE_NONE))
    external = _by_model(_pooled(predictions, VALIDATION_EXTERNAL, HARMONISE_NONE))
    harmonised = {}
    for h in sorted(set(predictions["harmonise"]) - {HARMONISE_NONE}):
        for key, g in _by_model(_pooled(predictions, VALIDATION_EXTERNAL, h)).items():
            harmonised[key] = (h, g)
    rows = []
    for i, (key, ext) in enumerate(sorted(external.items())):
        if key not in internal or key[1] == BASELINE_SET:
            continue
        task, mset, est, fusion = key
        binary = (tasks.get(task, {}).get("type") or "binary") == "binary"
        ids = np.intersect1d(ext.index.to_numpy(str), internal[key].index.to_numpy(str))
        y = ext.loc[ids, "y_true"].to_numpy(int)
        if len(np.unique(y)) < 2:
            continue
        s_int, s_ext = _scores(internal[key], ids, binary), _scores(ext, ids, binary)
        metric = "roc_auc" if binary else "roc_auc_ovr"
        a_int, a_ext = _auc(y, s_int, binary, n_boot, seed + i), _auc(y, s_ext, binary, n_boot, seed + i)
        diff = bootstrap_diff_ci(y, s_int, s_ext, metric, n_boot=n_boot, seed=seed + i, groups=ids)
        p = delong_test(y, s_int, s_ext).p_value if binary else np.nan
        row = {
            "task": task, "modality_set": mset, "estimator": est, "fusion": fusion,
            "model": model_label(mset, fusion, est), "n": int(len(ids)), "n_pos": int((y == 1).sum()),
            "auc_internal": a_int[0], "internal_low": a_int[1], "internal_high": a_int[2],
            "auc_external": a_ext[0], "external_low": a_ext[1], "external_high": a_ext[2],
            "drop": diff.estimate, "drop_low": diff.ci_low, "drop_high": diff.ci_high, "p_delong": p,
            "verdict": verdict(diff.ci_low, diff.ci_high),
        }  # fmt: skip
        if key in harmonised:
            h, g = harmonised[key]
            hid = np.intersect1d(ids, g.index.to_numpy(str))
            if len(hid) == len(ids):
                s_h = _scores(g, ids, binary)
                a_h = _auc(y, s_h, binary, n_boot, seed + i)
                gain = bootstrap_diff_ci(y, s_h, s_ext, metric, n_boot=n_boot, seed=seed + i, groups=ids)
                row.update(harmonised=h, auc_external_combat=a_h[0], combat_low=a_h[1], combat_high=a_h[2],
                           combat_gain=gain.estimate, gain_low=gain.ci_low, gain_high=gain.ci_high)  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows)


def transport_table(frame: pd.DataFrame, *, n_boot: int, sites_note: str = "") -> Table:
    """``report/tables/transport.*``: internal vs external AUC, the drop and the verdict per model."""
    display = pd.DataFrame(
        {
            "task": frame["task"],
            "model": frame["model"],
            "n (pos)": [f"{n} ({p})" for n, p in zip(frame["n"], frame["n_pos"], strict=True)],
            "internal AUC (95% CI)": [
                fmt_ci(a, lo, hi)
                for a, lo, hi in zip(frame.auc_internal, frame.internal_low, frame.internal_high, strict=True)
            ],
            "external AUC (95% CI)": [
                fmt_ci(a, lo, hi)
                for a, lo, hi in zip(frame.auc_external, frame.external_low, frame.external_high, strict=True)
            ],
            "drop (95% CI)": [
                fmt_ci(a, lo, hi)
                for a, lo, hi in zip(frame["drop"], frame.drop_low, frame.drop_high, strict=True)
            ],
            "p (DeLong)": [fmt_p(p) if np.isfinite(p) else "" for p in frame["p_delong"]],
            "verdict": frame["verdict"],
        }
    )
    if "auc_external_combat" in frame:
        display["external AUC, ComBat (95% CI)"] = [
            fmt_ci(a, lo, hi) if np.isfinite(a) else ""
            for a, lo, hi in zip(frame.auc_external_combat, frame.combat_low, frame.combat_high, strict=True)
        ]
        display["ComBat gain (95% CI)"] = [
            fmt_ci(a, lo, hi) if np.isfinite(a) else ""
            for a, lo, hi in zip(frame.combat_gain, frame.gain_low, frame.gain_high, strict=True)
        ]
    notes = [
        "Internal: outer cross-validation over all sites (repeat-averaged); external: trained on the other "
        "sites only (leave-one-site-out, or the given train/test sites); both on the same patients.",
        f"Drop = internal - external AUC; CI: paired percentile bootstrap over patients, {n_boot} resamples.",
        RULE,
    ]
    if "auc_external_combat" in frame:
        notes.append(
            "ComBat: the harmonised modalities adjusted by site inside every fit (training rows only); a "
            "site never seen in training is passed through unadjusted. Gain = harmonised - unharmonised "
            "external AUC (paired bootstrap CI)."
        )
    if sites_note:
        notes.append(sites_note)
    return Table(
        name=TRANSPORT_TABLE,
        data=frame,
        display=display,
        caption="External validation by site: internal vs external AUC per model",
        label="tab:transport",
        notes=notes,
        group_by="task",
    )


def transport_figure(frame: pd.DataFrame, out_dir: str | Path) -> dict[str, Path]:
    """Internal and external AUC (and harmonised external, when run) with CIs, one row per model."""
    frame = frame.sort_values(["task", "auc_internal"]).reset_index(drop=True)
    labels = [
        f"{t}: {m}" if frame["task"].nunique() > 1 else m
        for t, m in zip(frame.task, frame.model, strict=True)
    ]
    y = np.arange(len(frame))
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.36 * len(frame)))
    series = [("internal", "auc_internal", "internal_low", "internal_high", "#1f77b4", -0.15),
              ("external", "auc_external", "external_low", "external_high", "#d62728", 0.0)]  # fmt: skip
    if "auc_external_combat" in frame:
        series.append(
            ("external, ComBat", "auc_external_combat", "combat_low", "combat_high", "#2ca02c", 0.15)
        )
    for name, est, lo, hi, color, dy in series:
        v = frame[est].to_numpy(float)
        err = np.vstack([v - frame[lo].to_numpy(float), frame[hi].to_numpy(float) - v])
        ax.errorbar(v, y + dy, xerr=err, fmt="o", color=color, label=name, capsize=2, ms=4)
    ax.set_yticks(y, labels, fontsize=8)
    ax.axvline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("ROC-AUC (95% CI)")
    ax.set_title("Internal (cross-validated) vs external (other sites) AUC")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, frame, out_dir, TRANSPORT_FIGURE)


def sites_note(tasks: dict) -> str:
    """The site folds of the run and the patients left out of them (from ``tasks.json``)."""
    parts = []
    for task, info in sorted(tasks.items()):
        folds = info.get("site_folds")
        if not folds:
            continue
        desc = "; ".join(
            f"test {'+'.join(f['test_sites'])} (n={f['n_test']}) <- train {'+'.join(f['train_sites'])}"
            for f in folds
        )
        parts.append(
            f"{task}: {desc}; {info.get('n_without_site', 0)} patient(s) without a site are in no site fold."
        )
    return " ".join(parts)


def site_and_robustness_sections(
    run: dict, fig_dir: Path, save: Callable[[Table], str], *, n_boot: int, seed: int
) -> tuple[list[Section], dict[str, dict[str, Path]]]:
    """The report's "External validation by site" and "Robustness to missing modalities" sections (each
    only when the run has the data), their tables saved through ``save`` and figures under ``fig_dir``."""
    from reports.robustness import robustness_figure, robustness_frame, robustness_table

    sections, figs = [], {}
    frame = transport_frame(run["predictions"], run["tasks"], n_boot=n_boot, seed=seed)
    if len(frame):
        table = transport_table(frame, n_boot=n_boot, sites_note=sites_note(run["tasks"]))
        figs[TRANSPORT_FIGURE] = transport_figure(frame, fig_dir)
        counts = frame["verdict"].value_counts()
        summary = ", ".join(f"{counts.get(v, 0)} {v}" for v in ("transports", "drops", "inconclusive"))
        sections.append(
            Section(
                "External validation by site",
                paragraphs=[f"{len(frame)} models: {summary}. {RULE}"],
                tables=[save(table)],
                figures=[
                    FigureEntry(
                        f"figures/{TRANSPORT_FIGURE}.pdf",
                        "Internal vs external AUC per model (95% CIs).",
                        "fig:transport",
                    )
                ],  # fmt: skip
            )
        )
    robust = robustness_frame(run.get("robustness"), run["tasks"], n_boot=n_boot, seed=seed)
    if len(robust):
        figs[ROBUSTNESS_FIGURE] = robustness_figure(robust, fig_dir)
        sections.append(
            Section(
                "Robustness to missing modalities",
                tables=[save(robustness_table(robust))],
                figures=[
                    FigureEntry(
                        f"figures/{ROBUSTNESS_FIGURE}.pdf",
                        "AUC of each fused model against the "
                        "share of test patients from whom a modality is withheld.",
                        "fig:robustness",
                        width=r"\linewidth",
                    )
                ],  # fmt: skip
            )
        )
    return sections, figs
