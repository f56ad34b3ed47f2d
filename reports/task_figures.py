"""The four figures of each task, drawn with :mod:`reports.figures` and captioned for ``report.tex``.

Curves show the best model of each modality set (at most :data:`MAX_CURVES`; the ROC figure splits them
into a single-modality and a fusion panel); the forest plot shows the ``fusion_vs_components`` family.
Every figure is saved with the frame it was drawn from.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from benchmarks.store import MODEL_KEYS, REPORT_FIGURES_DIR
from reports import figures as F
from reports.comparisons import (
    DefaultComparisons,
    ModelPredictions,
    best_per_modality_set,
    performance_by_pattern,
)
from reports.formatting import fmt_num, slug
from reports.latex import FigureEntry

MAX_CURVES = 8  # curves per ROC/calibration panel; more would be unreadable
PATTERN_MAX_BOOT = 200  # bootstrap resamples of the per-pattern AUC CIs (small groups, many of them)


def figure_models(perf: pd.DataFrame, task: str) -> list[tuple]:
    """Keys of the models a task's curves show: the best of each modality set, best first."""
    best = best_per_modality_set(perf, task).head(MAX_CURVES)
    return [tuple(getattr(r, k) for k in MODEL_KEYS) for r in best.itertuples()]


def _stack(frames: list[pd.DataFrame], columns: list[str], task: str) -> pd.DataFrame:
    """The per-model frames as one, with the task in front (empty with ``columns`` when none)."""
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    out.insert(0, "task", task)
    return out


def _panel_order(panels: list[tuple[str, list, list]]):
    """Sort key of the ROC frame: panels in drawing order, references last within a panel."""
    order = {p: i for i, (p, _, _) in enumerate(panels)}

    def key(col: pd.Series) -> pd.Series:
        return col.map(order) if col.name == "panel" else col.astype(bool)

    return key


def task_figures(
    task: str,
    ttype: str,
    models: Mapping[tuple, ModelPredictions],
    perf: pd.DataFrame,
    comps: DefaultComparisons,
    fig_dir: Path,
    *,
    n_boot: int,
    level: float,
    seed: int,
    report_language: Mapping[str, str] | None = None,
) -> tuple[dict[str, dict[str, Path]], list[FigureEntry]]:
    """ROC, forest, calibration and pattern figures of one task: saved paths by stem, report entries.

    ``report_language`` (patient id -> language group of the reports) adds per-language rows for the
    models that use text to the pattern figure and its CSV."""
    keys = figure_models(perf, task)
    stem = slug(task)
    pct = int(round(level * 100))
    multiclass = ttype != "binary"
    out: dict[str, dict[str, Path]] = {}
    entries: list[FigureEntry] = []

    def save(kind: str, fig, data: pd.DataFrame, caption: str, width: str | None = None) -> None:
        name = f"{kind}_{stem}"
        out[name] = F.save_figure(fig, data, fig_dir, name)
        extra = {"width": width} if width else {}
        entries.append(
            FigureEntry(f"{REPORT_FIGURES_DIR}/{name}.pdf", caption, f"fig:{kind}-{stem}", **extra)
        )

    # ROC: single modalities in one panel, the best fusion of each fused set in the other (with the best
    # single-modality curve repeated, dashed); a band for the best curve of each panel
    auc_of = perf[perf["task"] == task].set_index("model")["auc"]
    what = "macro-averaged one-vs-rest ROC" if multiclass else "ROC"
    single = [k for k in keys if "+" not in k[1]]
    fused = [k for k in keys if "+" in k[1]]
    panels = [("Single modality (best model each)", single, [])]
    if fused:
        panels.append(("Fusion (best model of each set)", fused, single[:1]))
    curves = []
    for i, key in enumerate(keys):
        m = models[key]
        band = F.roc_band(m.y, m.proba, n_boot=n_boot, level=level, seed=seed + i)
        band.insert(0, "label", f"{m.label} (AUC {fmt_num(auc_of[m.label])})")
        band.insert(0, "model", m.label)
        for panel, members, refs in panels:
            if key in members or key in refs:
                curves.append(band.assign(panel=panel, reference=key in refs))
    cols = ["model", "label", "fpr", "tpr", "tpr_low", "tpr_high", "panel", "reference"]
    curves_df = _stack(curves, cols, task)
    if len(curves_df):
        curves_df = curves_df.sort_values(["panel", "reference"], kind="stable", key=_panel_order(panels))
    save(
        "roc",
        F.roc_figure(curves_df, title=f"{task}: {what}"),
        curves_df,
        f"{task}: {what} curves. Left: the best model of each single modality; right: the best model of "
        "each fused modality set, with the best single-modality curve dashed. The band (best curve of each "
        f"panel) is the {pct}% percentile bootstrap (patients resampled, {n_boot} resamples) of the TPR at "
        "each FPR, vertical averaging; every curve's band is in the CSV. Probabilities averaged over CV "
        "repeats.",
        width=r"\linewidth" if fused else None,
    )
    # forest plot: the best fusion of each set vs the single modalities it contains and the best one
    rows = comps.family("fusion_vs_components", task).copy()
    rows["group"] = rows["model_a"]
    rows["label"] = [
        f"{a}  vs  {mb}"
        + (f" ({eb})" if eb != ea else "")
        + ("  [best single]" if "best single" in rule else "")
        for a, mb, ea, eb, rule in zip(
            rows["model_a"], rows["modality_set_b"], rows["estimator_a"], rows["estimator_b"],
            rows["reference_rule"], strict=True,
        )
    ]  # fmt: skip
    test = ", ".join(sorted(set(rows["test"].dropna()))) or "DeLong"
    n_txt = ", ".join(sorted({str(int(v)) for v in rows["n"].dropna()})) or "-"
    save(
        "forest",
        F.forest_figure(rows, title=f"{task}: best fusion of each set vs the modalities it contains"),
        rows,
        f"{task}: difference in AUC between the best fused model of each modality set and the "
        "single-modality model of each modality it contains (same estimator when there is one), and the "
        f"best single-modality model ([best single]) when it is not among them; paired on the same patients "
        f"(n = {n_txt}), {pct}% CI ({test}); p adjusted ({comps.adjust}) within the family.",
    )
    # calibration: binary tasks get theirs from reports.calibration (bins with counts and Wilson CIs, LOWESS)
    if multiclass:
        pts = []
        for key in keys:
            m = models[key]
            b = F.calibration_bins(m.y, m.proba)
            b.insert(0, "label", m.label)
            b.insert(0, "model", m.label)
            pts.append(b)
        pts_df = _stack(pts, ["model", "label", "bin", "n", "mean_predicted", "observed"], task)
        save(
            "calibration",
            F.calibration_figure(
                pts_df, title=f"{task}: calibration, best model per modality set", multiclass=multiclass
            ),
            pts_df,
            f"{task}: reliability diagram on quantile bins of the repeat-averaged probabilities"
            + (" (confidence of the predicted class vs accuracy)." if multiclass else "."),
        )
    # AUC by availability pattern
    pat = performance_by_pattern(
        models,
        keys,
        level=level,
        n_boot=min(n_boot, PATTERN_MAX_BOOT),
        seed=seed,
        report_language=report_language,
    )
    save(
        "pattern",
        F.pattern_figure(pat, title=f"{task}: AUC by modality-availability pattern"),
        pat,
        f"{task}: AUC ({pct}% CI) of the best model of each modality set within each availability "
        "pattern (patients who have exactly those modalities)"
        + (
            "; for the models that use text, also within each language group of the patients' reports "
            "(text reports: en, fr, en+fr)"
            if report_language
            else ""
        )
        + ". Patterns with fewer than 10 patients or a missing class are left out.",
    )
    return out, entries
