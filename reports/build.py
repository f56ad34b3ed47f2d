"""Rebuild every table, figure, ``report.tex`` (+ PDF) and ``summary.md`` of a run from its result files.

Reads only predictions.parquet, metrics.parquet, cells.parquet, cohort_summary.parquet, provenance.json
and tasks.json; nothing is refitted.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reports import figures as F
from reports import tables as T
from reports.comparisons import (
    POOLING_NOTE,
    DefaultComparisons,
    best_per_modality_set,
    comparison_text,
    default_comparisons,
    per_class_auc_frame,
    performance_by_pattern,
    performance_frame,
    pool_predictions,
    proba_columns,
    split_models,
    task_classes,
)
from reports.latex import FigureEntry, LatexError, Section, compile_pdf, write_report_tex

log = logging.getLogger(__name__)

RESULT_FILES = (
    "predictions.parquet",
    "metrics.parquet",
    "cells.parquet",
    "cohort_summary.parquet",
    "feature_label_checks.parquet",
)
LABEL_FROM_FEATURE_AUC = 0.99
MAX_CURVES = 8  # curves per ROC/calibration panel; more would be unreadable
MISSINGNESS_ALPHA = 0.05
EDGE_TOLERANCE = 0.01  # share of the (log-)range that counts as "at the edge"
EDGE_SHARE = 0.5  # a model is flagged when at least this share of its cells sit at the same edge


@dataclass(frozen=True)
class Diagnostic:
    """A finding about the run, with a stable ``code``."""

    code: str
    severity: str  # "error" | "warning" | "info"
    message: str
    task: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


DIAGNOSTIC_CODES = {
    "CELL_FAILED": "a cell did not finish; its model is scored on its finished cells only",
    "PATIENT_IN_TWO_FOLDS": "a patient has two out-of-fold predictions for one model and repeat",
    "MISSINGNESS_LINKED_TO_LABEL": "a modality's availability is associated with the label (chi-square)",
    "HPARAM_AT_SEARCH_EDGE": "a tuned hyperparameter sits at the edge of its search range",
    "HPARAM_EDGE_NOT_CHECKED": "cells.parquet has no search ranges, edges were not checked",
    "INCOMPLETE_REPEATS": "some patients of a model were predicted in fewer repeats than others",
    "LABEL_DERIVED_FROM_FEATURE": "one feature alone separates a task's label: the endpoint is likely computed from it",
}


@dataclass
class ReportPaths:
    """Where :func:`build_report` wrote everything."""

    out_dir: Path
    tables: dict[str, dict[str, Path]]
    figures: dict[str, dict[str, Path]]
    report_tex: Path
    report_pdf: Path | None
    summary_md: Path
    diagnostics: list[Diagnostic]
    pdf_error: str | None = None
    seconds: float = 0.0


# --- loading ---------------------------------------------------------------------------------------
def load_run(run_dir: str | Path) -> dict[str, Any]:
    """The result tables of a run folder; predictions.parquet is required, the rest optional."""
    run_dir = Path(run_dir)
    if not (run_dir / "predictions.parquet").exists():
        raise FileNotFoundError(f"{run_dir / 'predictions.parquet'} not found: is {run_dir} a run folder?")
    out: dict[str, Any] = {}
    for name in RESULT_FILES:
        p = run_dir / name
        out[name.split(".")[0]] = pd.read_parquet(p) if p.exists() else pd.DataFrame()
    for name in ("provenance.json", "tasks.json"):
        p = run_dir / name
        out[name.split(".")[0]] = json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}
    pred = out["predictions"]
    required = ["task", "modality_set", "estimator", "fusion", "repeat", "patient_id", "y_true", "pattern"]
    if pred.empty:  # every cell failed: the runner writes an empty table; the report lists the failures
        out["predictions"] = pred = pd.DataFrame({c: pd.Series(dtype=object) for c in required}).assign(
            proba_0=pd.Series(dtype=float), proba_1=pd.Series(dtype=float)
        )
    missing = set(required[:-1]) - set(pred.columns)
    if missing or not proba_columns(pred):
        raise ValueError(
            f"{run_dir / 'predictions.parquet'}: missing columns {sorted(missing) or ['proba_*']}"
        )
    pred["patient_id"] = pred["patient_id"].astype(str)
    return out


# --- diagnostics -----------------------------------------------------------------------------------
def failed_cells(cells: pd.DataFrame) -> pd.DataFrame:
    if cells.empty or "status" not in cells.columns:
        return cells.iloc[0:0]
    return cells[cells["status"].astype(str) != "ok"]


def diagnose_failures(cells: pd.DataFrame) -> list[Diagnostic]:
    failed = failed_cells(cells)
    out = []
    keys = [k for k in T.MODEL_KEYS if k in failed.columns]
    for key, g in failed.groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        total = len(cells.merge(pd.DataFrame([key], columns=keys), on=keys)) if keys else len(g)
        first = str(g["error"].fillna("").iat[0]).splitlines()[0][:120] if "error" in g else ""
        model = "/".join(map(str, key))
        out.append(
            Diagnostic(
                "CELL_FAILED",
                "warning",
                f"{model}: {len(g)} of {total} cells failed ({first})",
                task=str(key[0]) if keys and keys[0] == "task" else None,
                details={"model": model, "n_failed": len(g), "n_cells": total},
            )
        )
    return out


def diagnose_duplicates(pred: pd.DataFrame) -> list[Diagnostic]:
    """One error per model whose patients have more than one out-of-fold prediction in a repeat."""
    keys = [*T.MODEL_KEYS, "repeat", "patient_id"]
    counts = pred.groupby(keys, sort=True).size()
    dup = counts[counts > 1].reset_index()
    out = []
    for key, g in dup.groupby(list(T.MODEL_KEYS), sort=True):
        patients = sorted(set(g["patient_id"]))
        example = ", ".join(patients[:5]) + (", ..." if len(patients) > 5 else "")
        out.append(
            Diagnostic(
                "PATIENT_IN_TWO_FOLDS",
                "error",
                f"{'/'.join(map(str, key))}: {len(patients)} patients have several out-of-fold predictions "
                f"within one repeat ({example}); their probabilities were averaged",
                task=str(key[0]),
                details={"patients": patients, "repeats": sorted(int(r) for r in set(g["repeat"]))},
            )
        )
    return out


def diagnose_repeats(pooled: pd.DataFrame) -> list[Diagnostic]:
    out = []
    for key, g in pooled.groupby(list(T.MODEL_KEYS), sort=True):
        lo, hi = int(g["n_repeats"].min()), int(g["n_repeats"].max())
        if lo != hi:
            n = int((g["n_repeats"] < hi).sum())
            out.append(
                Diagnostic(
                    "INCOMPLETE_REPEATS",
                    "info",
                    f"{'/'.join(key)}: {n} patients predicted in {lo} instead of {hi} repeats (failed cells)",
                    task=key[0],
                )
            )
    return out


def missingness_frame(pooled: pd.DataFrame) -> pd.DataFrame:
    """Chi-square test of each modality's availability against the label, per task.

    Availability comes from the ``pattern`` column of the predictions (the task's own patients).
    """
    from scipy.stats import chi2_contingency

    from benchmarks.schema import MODALITIES

    rows = []
    if "pattern" not in pooled.columns:
        return pd.DataFrame(columns=["task", "modality", "n", "n_missing", "chi2", "dof", "p_value"])
    for task, g in pooled.groupby("task", sort=True):
        per_patient = g.drop_duplicates("patient_id")[["patient_id", "y_true", "pattern"]]
        parts = per_patient["pattern"].astype(str).str.split("+")
        for m in MODALITIES:
            avail = parts.map(lambda p, m=m: m in p).to_numpy()
            row = {"task": task, "modality": m, "n": int(avail.size), "n_missing": int((~avail).sum())}
            table = pd.crosstab(avail, per_patient["y_true"].to_numpy())
            if table.shape[0] < 2 or table.shape[1] < 2:
                row.update(chi2=np.nan, dof=0, p_value=np.nan)
            else:
                chi2, p, dof, _ = chi2_contingency(table.to_numpy(), correction=table.shape == (2, 2))
                row.update(chi2=float(chi2), dof=int(dof), p_value=float(p))
            missing_rate = {
                f"missing_rate_y{int(c)}": float((~avail[per_patient["y_true"].to_numpy() == c]).mean())
                for c in sorted(per_patient["y_true"].unique())
            }
            rows.append({**row, **missing_rate})
    return pd.DataFrame(rows)


def diagnose_missingness(
    frame: pd.DataFrame, alpha: float = MISSINGNESS_ALPHA, class_names: dict[str, list[str]] | None = None
) -> list[Diagnostic]:
    out = []
    class_names = class_names or {}
    for r in frame.itertuples():
        if np.isfinite(r.p_value) and r.p_value < alpha:
            rates = {
                k: v for k, v in r._asdict().items() if k.startswith("missing_rate_y") and np.isfinite(v)
            }
            names = class_names.get(r.task, [])

            def cname(k: str, names: list[str] = names) -> str:
                idx = int(k.removeprefix("missing_rate_y"))
                return names[idx] if idx < len(names) else f"class {idx}"

            rate_txt = ", ".join(f"{cname(k)}: {100 * v:.0f}%" for k, v in rates.items())

            out.append(
                Diagnostic(
                    "MISSINGNESS_LINKED_TO_LABEL",
                    "warning",
                    f"{r.modality} availability is associated with the label of {r.task} "
                    f"(chi-square p = {T.fmt_p(r.p_value)}; missing by class: {rate_txt}); a model may learn "
                    "the label from the missingness pattern",
                    task=r.task,
                    details={"modality": r.modality, "p_value": r.p_value, "chi2": r.chi2},
                )
            )
    return out


def _at_edge(value: float, low: float, high: float) -> str | None:
    if not (np.isfinite(value) and np.isfinite(low) and np.isfinite(high)) or high <= low:
        return None
    if low > 0 and high / low >= 100 and value > 0:  # log-scaled range
        value, low, high = math.log10(value), math.log10(low), math.log10(high)
    tol = EDGE_TOLERANCE * (high - low)
    if value <= low + tol:
        return "lower"
    if value >= high - tol:
        return "upper"
    return None


def diagnose_label_features(checks: pd.DataFrame) -> list[Diagnostic]:
    """Flag features whose univariate AUC (either direction) reaches ``LABEL_FROM_FEATURE_AUC``."""
    if checks.empty:
        return []
    hits = checks[checks["separation"] >= LABEL_FROM_FEATURE_AUC]
    out = []
    for task, g in hits.groupby("task", sort=True):
        names = ", ".join(f"{r.feature} (AUC {r.auc:.3f})" for r in g.head(5).itertuples())
        out.append(
            Diagnostic(
                "LABEL_DERIVED_FROM_FEATURE",
                "warning",
                f"{task}: {len(g)} feature(s) alone separate the label, e.g. {names}; the endpoint is probably "
                "computed from them, so models using that modality are not an independent prediction",
                task=str(task),
                details={"features": list(g["feature"].head(20)), "n": int(len(g))},
            )
        )
    return out


def diagnose_hyperparameters(cells: pd.DataFrame) -> list[Diagnostic]:
    """Flag a model whose tuned value of a parameter sits at one edge of its search range in at least
    half of its cells. Needs a ``search_space`` column (JSON ``{param: [low, high]}``) in cells.parquet."""
    if cells.empty or "best_params" not in cells.columns:
        return []
    if "search_space" not in cells.columns or cells["search_space"].isna().all():
        return [Diagnostic("HPARAM_EDGE_NOT_CHECKED", "info", "cells.parquet has no search_space column")]
    ok = cells[cells["status"].astype(str) == "ok"]
    hits: dict[tuple, list[str | None]] = {}
    for r in ok.itertuples():
        if not isinstance(r.search_space, str) or not r.search_space:
            continue
        try:
            space, params = json.loads(r.search_space), json.loads(r.best_params or "{}")
        except json.JSONDecodeError:
            continue
        for name, rng in space.items():
            if name not in params or not isinstance(rng, list | tuple) or len(rng) < 2:
                continue
            try:
                edge = _at_edge(float(params[name]), float(rng[0]), float(rng[1]))
            except (TypeError, ValueError):
                continue
            hits.setdefault(
                (r.task, r.modality_set, r.estimator, r.fusion, name, float(rng[0]), float(rng[1])), []
            ).append(edge)
    out = []
    for (task, mset, est, fusion, name, lo, hi), edges in sorted(hits.items()):
        for side in ("lower", "upper"):
            k = sum(e == side for e in edges)
            if k and k >= EDGE_SHARE * len(edges):
                out.append(
                    Diagnostic(
                        "HPARAM_AT_SEARCH_EDGE",
                        "warning",
                        f"{task}/{mset}/{est}/{fusion}: {name} at the {side} edge of [{lo:g}, {hi:g}] in "
                        f"{k} of {len(edges)} cells; widen the search range",
                        task=task,
                        details={"param": name, "edge": side, "n": k, "n_cells": len(edges)},
                    )
                )
    return out


# --- figures ---------------------------------------------------------------------------------------
def _figure_models(perf: pd.DataFrame, task: str) -> list[tuple]:
    best = best_per_modality_set(perf, task).head(MAX_CURVES)
    return [tuple(getattr(r, k) for k in T.MODEL_KEYS) for r in best.itertuples()]


def _task_figures(
    task: str,
    ttype: str,
    models: dict,
    perf: pd.DataFrame,
    comps: DefaultComparisons,
    fig_dir: Path,
    *,
    n_boot: int,
    level: float,
    seed: int,
) -> tuple[dict[str, dict[str, Path]], list[FigureEntry]]:
    keys = _figure_models(perf, task)
    slug = T._slug(task)
    pct = int(round(level * 100))
    out: dict[str, dict[str, Path]] = {}
    entries: list[FigureEntry] = []
    auc_of = perf[perf["task"] == task].set_index("model")["auc"]
    what = "ROC" if ttype == "binary" else "macro-averaged one-vs-rest ROC"
    # ROC with bootstrap bands
    curves = []
    for i, key in enumerate(keys):
        m = models[key]
        band = F.roc_band(m.y, m.proba, n_boot=n_boot, level=level, seed=seed + i)
        band.insert(0, "label", f"{m.label} (AUC {auc_of[m.label]:.3f})")
        band.insert(0, "model", m.label)
        curves.append(band)
    curves_df = (
        pd.concat(curves, ignore_index=True)
        if curves
        else pd.DataFrame(columns=["model", "label", "fpr", "tpr", "tpr_low", "tpr_high"])
    )
    curves_df.insert(0, "task", task)
    fig = F.roc_figure(curves_df, title=f"{task}: {what}, best model per modality set")
    name = f"roc_{slug}"
    out[name] = F.save_figure(fig, curves_df, fig_dir, name)
    entries.append(
        FigureEntry(
            f"figures/{name}.pdf",
            f"{task}: {what} curves of the best model of each modality set. Bands: {pct}% percentile bootstrap "
            f"(patients resampled, {n_boot} resamples) of the TPR at each FPR, vertical averaging. "
            "Probabilities averaged over CV repeats.",
            f"fig:roc-{slug}",
        )
    )
    # forest plot of fusion vs best unimodal
    rows = comps.family("fusion_vs_best_unimodal", task).copy()
    rows["label"] = rows["model_a"] + "  vs  " + rows["modality_set_b"] + " / " + rows["estimator_b"]
    fig = F.forest_figure(rows, title=f"{task}: fused models vs best unimodal model (same estimator)")
    name = f"forest_{slug}"
    out[name] = F.save_figure(fig, rows, fig_dir, name)
    test = ", ".join(sorted(set(rows["test"].dropna()))) or "DeLong"
    entries.append(
        FigureEntry(
            f"figures/{name}.pdf",
            f"{task}: difference in AUC between each fused model and the best unimodal model of the same "
            f"estimator, {pct}% CI ({test}); p adjusted ({comps.adjust}) within the family.",
            f"fig:forest-{slug}",
        )
    )
    # calibration
    pts = []
    for key in keys:
        m = models[key]
        b = F.calibration_bins(m.y, m.proba)
        b.insert(0, "label", m.label)
        b.insert(0, "model", m.label)
        pts.append(b)
    pts_df = (
        pd.concat(pts, ignore_index=True)
        if pts
        else pd.DataFrame(columns=["model", "label", "bin", "n", "mean_predicted", "observed"])
    )
    pts_df.insert(0, "task", task)
    fig = F.calibration_figure(
        pts_df, title=f"{task}: calibration, best model per modality set", multiclass=ttype != "binary"
    )
    name = f"calibration_{slug}"
    out[name] = F.save_figure(fig, pts_df, fig_dir, name)
    entries.append(
        FigureEntry(
            f"figures/{name}.pdf",
            f"{task}: reliability diagram on quantile bins of the repeat-averaged probabilities"
            + (" (confidence of the predicted class vs accuracy)." if ttype != "binary" else "."),
            f"fig:calibration-{slug}",
        )
    )
    # AUC by availability pattern
    pat = performance_by_pattern(models, keys, level=level, n_boot=min(n_boot, 200), seed=seed)
    fig = F.pattern_figure(pat, title=f"{task}: AUC by modality-availability pattern")
    name = f"pattern_{slug}"
    out[name] = F.save_figure(fig, pat, fig_dir, name)
    entries.append(
        FigureEntry(
            f"figures/{name}.pdf",
            f"{task}: AUC ({pct}% CI) of the best model of each modality set within each availability "
            "pattern (patients who have exactly those modalities). Patterns with fewer than 10 patients or "
            "a missing class are left out.",
            f"fig:pattern-{slug}",
        )
    )
    return out, entries


# --- summary ---------------------------------------------------------------------------------------
def _headline(task: str, ttype: str, perf: pd.DataFrame, comps: DefaultComparisons) -> list[str]:
    from reports.comparisons import ranked_models

    ranked = ranked_models(perf, task)
    if ranked.empty:
        return [f"- **{task}**: no model could be scored."]
    b = ranked.iloc[0]
    kind = "AUC" if ttype == "binary" else "macro OvR AUC"
    lines = [
        f"- **{task}** ({ttype}): best model {b['model']}, {kind} {T.fmt_ci(b['auc'], b['auc_low'], b['auc_high'])}."
    ]
    fam = comps.family("fusion_vs_best_unimodal", task)
    if len(fam):
        top = fam.loc[fam["delta_auc"].idxmax()]
        lines.append(f"  Largest fusion gain: {comparison_text(top)}.")
    return lines


def _write_summary(
    path: Path,
    run: dict[str, Any],
    task_types: dict[str, str],
    perf: pd.DataFrame,
    comps: DefaultComparisons,
    perf_tables: list[T.Table],
    comp_tables: list[T.Table],
    failed_table: T.Table | None,
    diagnostics: list[Diagnostic],
    *,
    n_boot: int,
    level: float,
) -> None:
    prov = run["provenance"] or {}
    git = prov.get("git", {}) if isinstance(prov.get("git"), dict) else {}
    lines = ["# cdbench run summary", ""]
    lines += [
        f"Run: config hash `{prov.get('config_hash', '?')}`, seed {prov.get('seed', '?')}, "
        f"git `{(git.get('commit') or prov.get('git_commit') or '?')}`, created {prov.get('created_utc', '?')}.",
        "",
        "## Headline",
        "",
    ]
    for task, ttype in task_types.items():
        lines += _headline(task, ttype, perf, comps)
    if not task_types:
        lines.append("- No model produced predictions; see Failed cells.")
    lines += [
        "",
        f"_{POOLING_NOTE} Binary AUC CIs: DeLong; multiclass macro OvR AUC CIs: percentile bootstrap over "
        f"patients ({n_boot} resamples); ROC bands: bootstrap ({n_boot}). Comparisons: p adjusted within "
        f"each family ({comps.adjust}); level {level:g}._",
        "",
        "## Performance",
        "",
    ]
    for t in perf_tables:
        lines += [t.to_markdown(), ""]
    lines += ["## Comparisons", ""]
    for t in comp_tables:
        lines += [t.to_markdown(), ""]
    if failed_table is not None:
        lines += ["## Failed cells", "", failed_table.to_markdown(), ""]
    lines += ["## Diagnostics", ""]
    if diagnostics:
        lines += [
            f"- `{d.code}` ({d.severity}){f' [{d.task}]' if d.task else ''}: {d.message}" for d in diagnostics
        ]
    else:
        lines.append("No diagnostics.")
    lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


# --- the build -------------------------------------------------------------------------------------
def build_report(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    adjust: str = "holm",
    top_k: int = 4,
    paired_bootstrap: bool = True,
    pdf: bool = True,
) -> ReportPaths:
    """Rebuild every table and figure, ``report.tex`` (+ PDF when pdflatex exists) and ``summary.md``.

    ``out_dir`` defaults to ``<run_dir>/report``. ``n_boot`` resamples are used for multiclass AUC CIs,
    ROC bands and (with ``paired_bootstrap``) a bootstrap CI of every ΔAUC beside the DeLong CI.
    Same inputs and seed give identical files.
    """
    import time

    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir / "report"
    tab_dir, fig_dir = out_dir / "tables", out_dir / "figures"
    tab_dir.mkdir(parents=True, exist_ok=True)
    fig_dir.mkdir(parents=True, exist_ok=True)
    run = load_run(run_dir)
    pred, cells, cohort, tasks = run["predictions"], run["cells"], run["cohort_summary"], run["tasks"]

    diagnostics = diagnose_duplicates(pred) + diagnose_failures(cells)
    pooled = pool_predictions(pred)
    diagnostics += diagnose_repeats(pooled)
    task_list = sorted(pooled["task"].unique())
    task_types = {t: task_classes(tasks, t, pooled)[0] for t in task_list}
    perf = performance_frame(pooled, tasks, level=level, n_boot=n_boot, seed=seed)
    comps = default_comparisons(
        pooled,
        tasks,
        perf,
        adjust=adjust,
        level=level,
        top_k=top_k,
        n_boot=n_boot if paired_bootstrap else 0,
        seed=seed,
    )
    miss = missingness_frame(pooled)
    diagnostics += diagnose_missingness(
        miss, class_names={t: task_classes(tasks, t, pooled)[1] for t in task_list}
    )
    diagnostics += diagnose_hyperparameters(cells)
    diagnostics += diagnose_label_features(run["feature_label_checks"])

    saved_tables: dict[str, dict[str, Path]] = {}
    sections: list[Section] = []

    def save(t: T.Table) -> str:
        saved_tables[t.name] = t.save(tab_dir)
        return f"tables/{t.name}.tex"

    cohort_tabs = []
    if not cohort.empty:
        if "severity" in cohort.columns:
            cohort_tabs.append(save(T.cohort_table(cohort)))
        if any(c.startswith("avail_") for c in cohort.columns):
            cohort_tabs.append(save(T.availability_table(cohort)))
    if cohort_tabs:
        sections.append(Section("Cohort", tables=cohort_tabs))

    perf_tables, comp_tables = [], []
    n_models = perf.groupby("task").size().to_dict() if len(perf) else {}
    for task in task_list:
        notes = [POOLING_NOTE]
        if task_types[task] != "binary":
            notes.append(f"Macro OvR AUC CI: percentile bootstrap over patients, {n_boot} resamples.")
        else:
            notes.append("AUC CI: DeLong.")
        perf_tables.append(
            T.performance_table(perf, task=task, task_type=task_types[task], level=level, notes=notes)
        )
        cnotes = [POOLING_NOTE]
        if paired_bootstrap and task_types[task] == "binary":
            cnotes.append(f"Bootstrap CI: paired percentile bootstrap over patients, {n_boot} resamples.")
        comp_tables.append(T.comparison_table(comps.summary, task=task, level=level, notes=cnotes))
    for task in task_list:  # one-vs-rest detail for multiclass tasks
        ttype, names = task_classes(tasks, task, pooled)
        if ttype != "binary":
            frame = per_class_auc_frame(
                split_models(pooled, task, len(names)), _figure_models(perf, task), names, level=level
            )
            if len(frame):
                perf_tables.append(T.per_class_table(frame, task=task, level=level))
    failed = failed_cells(cells)
    failed_table = T.failed_cells_table(cells) if len(failed) else None
    perf_paths = [save(t) for t in perf_tables]
    comp_paths = [save(t) for t in comp_tables]
    sections.append(
        Section(
            "Model performance",
            paragraphs=[f"Task {t}: {n_models.get(t, 0)} models ({task_types[t]})." for t in task_list],
            tables=perf_paths,
        )
    )
    sections.append(Section("Pairwise comparisons", tables=comp_paths))
    if failed_table is not None:
        sections.append(Section("Failed cells", tables=[save(failed_table)]))

    saved_figs: dict[str, dict[str, Path]] = {}
    fig_entries: list[FigureEntry] = []
    for task in task_list:
        _, names = task_classes(tasks, task, pooled)
        models = split_models(pooled, task, len(names))
        figs, entries = _task_figures(
            task, task_types[task], models, perf, comps, fig_dir, n_boot=n_boot, level=level, seed=seed
        )
        saved_figs.update(figs)
        fig_entries += entries
    sections.append(Section("Figures", figures=fig_entries))

    # diagnostics: a table in the report, the chi-square frame beside it
    diag_frame = pd.DataFrame(
        [
            {"code": d.code, "severity": d.severity, "task": d.task or "", "message": d.message}
            for d in diagnostics
        ],
        columns=["code", "severity", "task", "message"],
    )
    miss.to_csv(tab_dir / "diagnostics_missingness.csv", index=False)
    diag_table = T.Table(
        name="table_diagnostics",
        data=diag_frame,
        display=diag_frame.rename(columns=str.capitalize),
        caption="Diagnostics (stable codes).",
        label="tab:diagnostics",
        notes=[f"{k}: {v}." for k, v in DIAGNOSTIC_CODES.items()],
        align="lllp{0.6\\linewidth}",
    )
    sections.append(Section("Diagnostics", tables=[save(diag_table)]))

    tex = write_report_tex(
        out_dir,
        "cdbench benchmark report",
        sections,
        preface=[
            f"Run folder: {run_dir.name}. Rebuilt from stored out-of-fold predictions only.",
            POOLING_NOTE,
        ],
    )
    summary_md = out_dir / "summary.md"
    _write_summary(
        summary_md, run, task_types, perf, comps, perf_tables, comp_tables, failed_table, diagnostics,
        n_boot=n_boot, level=level,
    )  # fmt: skip
    pdf_path, pdf_error = None, None
    if pdf:
        try:
            pdf_path = compile_pdf(tex)
        except (LatexError, OSError) as exc:  # the sources are written; the PDF is a convenience
            pdf_error = str(exc)
            log.warning("report.pdf not built: %s", exc)
    return ReportPaths(
        out_dir=out_dir,
        tables=saved_tables,
        figures=saved_figs,
        report_tex=tex,
        report_pdf=pdf_path,
        summary_md=summary_md,
        diagnostics=diagnostics,
        pdf_error=pdf_error,
        seconds=time.perf_counter() - t0,
    )
