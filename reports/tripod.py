"""The TRIPOD+AI checklist of a run: ``report/tripod_ai.md`` and an appendix of ``report.pdf``.

TRIPOD+AI (Collins GS et al., BMJ 2024;385:e078378) has 27 items (52 with their parts a, b, c...). Every
item is listed under its own number. An item is filled from what the run recorded (``provenance.json``,
``tasks.json``, the cohort summary, the cells, the metrics and the report's own tables); what a run
cannot know (the clinical setting, ethics, funding, the discussion) is marked "to be completed by the
authors", with what the run can contribute beside it. A statistic built by another part of the report
(calibration, decision curves, external validation, subgroups, modality contributions, robustness) is
pointed to by its table when the run folder has it, and said "not computed in this run" otherwise.
Policy: never a number that the run did not produce; item wording is paraphrased (the checklist's own
text is in the BMJ article).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.store import BASELINE_SET, REPORT_DIR, REPORT_TABLES_DIR, SELECTION
from reports.comparisons import ranked_models
from reports.formatting import fmt_ci, markdown_escape
from reports.tables import MODALITY_DEFINITION, Table, modality_flags

TRIPOD_MD = "tripod_ai.md"
TRIPOD_TABLE = "table_tripod_ai"
REFERENCE = "Collins GS, Moons KGM, Dhiman P, et al. TRIPOD+AI statement. BMJ 2024;385:e078378."

FILLED = "filled from the run"
PARTLY = "partly filled; to be completed by the authors"
AUTHORS = "to be completed by the authors"
NOT_COMPUTED = "not computed in this run"
STATUSES = (FILLED, PARTLY, AUTHORS, NOT_COMPUTED)

# (item, section, topic): every item and part of the TRIPOD+AI checklist, in its order (topics paraphrased)
TRIPOD_AI_ITEMS: tuple[tuple[str, str, str], ...] = (
    ("1", "Title and abstract", "Title: a prediction model study, its population and outcome"),
    ("2", "Title and abstract", "Abstract (TRIPOD+AI for Abstracts)"),
    ("3a", "Introduction", "Background: healthcare context, rationale, existing models"),
    ("3b", "Introduction", "Target population, intended use and users"),
    ("3c", "Introduction", "Known health inequalities between groups"),
    ("4", "Introduction", "Objectives: development and/or evaluation"),
    ("5a", "Methods", "Data: sources, rationale, representativeness"),
    ("5b", "Methods", "Data: dates of the participant data"),
    ("6a", "Methods", "Participants: setting, number and location of centres"),
    ("6b", "Methods", "Participants: eligibility criteria"),
    ("6c", "Methods", "Participants: treatments received and their handling"),
    ("7", "Methods", "Data preparation: pre-processing and quality checks"),
    ("8a", "Methods", "Outcome: definition, time horizon, how and when assessed"),
    ("8b", "Methods", "Outcome: assessors of subjective outcomes"),
    ("8c", "Methods", "Outcome: blinding of outcome assessment"),
    ("9a", "Methods", "Predictors: choice and any pre-selection"),
    ("9b", "Methods", "Predictors: definitions, how and when measured"),
    ("9c", "Methods", "Predictors: assessors of subjective predictors"),
    ("10", "Methods", "Sample size: how arrived at, and its justification"),
    ("11", "Methods", "Missing data: how handled, reasons for omitting data"),
    ("12a", "Methods", "Analysis: how the data were used (partitioning)"),
    ("12b", "Methods", "Analysis: handling of predictors (transformation, scaling)"),
    ("12c", "Methods", "Analysis: model type, building steps, tuning, internal validation"),
    ("12d", "Methods", "Analysis: heterogeneity across clusters (centres)"),
    ("12e", "Methods", "Analysis: performance measures and plots, model comparisons"),
    ("12f", "Methods", "Analysis: model updating (recalibration)"),
    ("12g", "Methods", "Analysis: how predictions were calculated for evaluation"),
    ("13", "Methods", "Class imbalance: methods and any recalibration"),
    ("14", "Methods", "Fairness: approaches and rationale"),
    ("15", "Methods", "Model output: probabilities or classes, thresholds"),
    ("16", "Methods", "Training versus evaluation: differences in setting, eligibility, outcome, predictors"),
    ("17", "Methods", "Ethical approval and consent"),
    ("18a", "Open science", "Funding"),
    ("18b", "Open science", "Conflicts of interest"),
    ("18c", "Open science", "Protocol"),
    ("18d", "Open science", "Registration"),
    ("18e", "Open science", "Data sharing"),
    ("18f", "Open science", "Code sharing"),
    ("19", "Patient and public involvement", "Patient and public involvement"),
    ("20a", "Results", "Participants: flow, with and without the outcome"),
    ("20b", "Results", "Participants: characteristics, missing data"),
    ("20c", "Results", "Participants: evaluation data compared with development data"),
    ("21", "Results", "Model development: participants and events in each analysis"),
    ("22", "Results", "Model specification: the full model, access"),
    ("23a", "Results", "Model performance with confidence intervals, key subgroups"),
    ("23b", "Results", "Model performance: heterogeneity across clusters"),
    ("24", "Results", "Model updating: results"),
    ("25", "Discussion", "Interpretation, including fairness"),
    ("26", "Discussion", "Limitations"),
    ("27a", "Discussion", "Usability: handling of poor-quality or unavailable inputs"),
    ("27b", "Discussion", "Usability: user interaction and expertise needed"),
    ("27c", "Discussion", "Usability: next steps for research"),
)
"""The 52 items (27 numbered items with their parts) of TRIPOD+AI."""

# report tables of statistics other modules build (their file stems in report/tables/)
STATISTIC_TABLES = {
    "calibration": "calibration",
    "decision_curve": "decision_curve",
    "transport": "transport",
    "subgroups": "subgroups",
    "modality_shapley": "modality_shapley",
    "robustness": "robustness",
}


@dataclass(frozen=True)
class TripodItem:
    """One checklist item: its number, section, topic, status (:data:`STATUSES`) and content."""

    item: str
    section: str
    topic: str
    status: str
    text: str


@dataclass
class _Context:
    """What the fillers read: the loaded run, the report's frames and the tables already written."""

    run: Mapping[str, Any]
    perf: pd.DataFrame
    tables_dir: Path
    run_dir: Path
    level: float
    diagnostics: Sequence[Any] = ()
    prov: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, Any] = field(default_factory=dict)
    cohort: pd.DataFrame = field(default_factory=pd.DataFrame)

    def table(self, key: str) -> str | None:
        """``report/tables/<stem>.csv`` when the run's report has that table, else None."""
        stem = STATISTIC_TABLES[key]
        return (
            f"{REPORT_DIR}/{REPORT_TABLES_DIR}/{stem}.csv"
            if (self.tables_dir / f"{stem}.csv").exists()
            else None
        )

    @property
    def n_patients(self) -> int | None:
        if len(self.cohort):
            return len(self.cohort)
        n = (self.prov.get("cohort") or {}).get("n_patients")
        return int(n) if n is not None else None


def _join(parts: Sequence[str], sep: str = "; ") -> str:
    return sep.join(p for p in parts if p)


def _authors(what: str, run_part: str = "") -> tuple[str, str]:
    """(status, text) of an item the run cannot answer (``run_part``: what it can contribute)."""
    text = f"To be completed by the authors: {what}."
    return (PARTLY, f"{run_part} {text}") if run_part else (AUTHORS, text)


def _pointer(ctx: _Context, key: str, what: str) -> tuple[str, str]:
    path = ctx.table(key)
    if path is None:
        return NOT_COMPUTED, f"{what}: not computed in this run."
    return FILLED, f"{what}: see {path} (and .md/.tex beside it)."


def _class_counts(spec: Mapping[str, Any]) -> str:
    """``name: count`` of every class of a task of tasks.json, in class order."""
    counts = spec.get("class_counts") or {}
    names = spec.get("class_names") or []
    return ", ".join(
        f"{names[int(k)] if int(k) < len(names) else k}: {v}"
        for k, v in sorted(counts.items(), key=lambda kv: int(kv[0]))
    )


def _task_lines(ctx: _Context) -> list[str]:
    out = []
    defs = ctx.prov.get("task_definitions") or {}
    for name, spec in sorted(ctx.tasks.items()):
        names = spec.get("class_names") or []
        per = _class_counts(spec)
        derived = (defs.get(name) or {}).get("derived_from") or spec.get("derived_from") or []
        rule = (
            f"{spec.get('endpoint')} >= {spec.get('threshold'):g}"
            if spec.get("type") == "binary" and spec.get("threshold") is not None
            else f"{spec.get('endpoint')} classes {', '.join(names)}"
        )
        out.append(
            f"{name} ({spec.get('type')}): {spec.get('description') or rule}; rule {rule}; "
            f"n = {spec.get('n_patients')} ({per})"
            + (f"; endpoint computed from {', '.join(derived)}" if derived else "")
        )
    return out


# --- the fillers, one per item -------------------------------------------------------------------------------
def _i1(ctx: _Context) -> tuple[str, str]:
    tasks = ", ".join(f"{n} ({s.get('description', '')})" for n, s in sorted(ctx.tasks.items()))
    est = ", ".join(ctx.config.get("estimators", []))
    return _authors(
        "the title (study type, target population, outcome)",
        f"Run: development and internal validation of multimodal prediction models for {tasks or '-'}; "
        f"estimators {est or '-'}.",
    )


def _i4(ctx: _Context) -> tuple[str, str]:
    ext = (
        "and external validation by site (leave-one-site-out)"
        if ctx.config.get("validation") == "site"
        else ""
    )
    return _authors(
        "the objectives in clinical terms",
        f"The run develops the models and evaluates them by internal (cross-)validation{ext}; it compares "
        "fusions of modalities with single-modality models.",
    )


def _i5a(ctx: _Context) -> tuple[str, str]:
    coh = ctx.prov.get("cohort") or {}
    synthetic = ctx.config.get("n") is not None  # the size of a generated cohort; None for a user's cohort
    src = (
        f"synthetic cohort generated by cdbench (n = {ctx.config.get('n')}, seed {ctx.prov.get('seed')})"
        if synthetic
        else f"cohort folder {Path(str(coh.get('path', '?'))).name}"
    )
    tables = ", ".join(f"{k} sha256 {v}" for k, v in sorted((coh.get("tables_sha256") or {}).items()))
    return _authors(
        "the source of the data (cohort, registry, trial), the rationale for using it and its representativeness",
        f"Data: {src}; content hash {coh.get('hash', '?')} ({tables or 'tables not recorded'}).",
    )


def _i5b(ctx: _Context) -> tuple[str, str]:
    parts = []
    sel_path = ctx.run_dir / SELECTION
    if sel_path.exists():
        sel = pd.read_parquet(sel_path)
        if "date" in sel.columns:
            for m, g in sel.groupby("modality", sort=True):
                d = g["date"].dropna().astype(str)
                d = d[d != ""]
                if len(d):
                    parts.append(f"{m}: {d.min()} to {d.max()} ({len(d)} of {len(g)} rows dated)")
    for col in ("endpoint_date",):
        if col in ctx.cohort.columns:
            d = ctx.cohort[col].dropna().astype(str)
            if len(d):
                parts.append(f"endpoints: {d.min()} to {d.max()}")
    if parts:
        return _authors(
            "the start and end of participant accrual", "Dates recorded in the cohort: " + _join(parts) + "."
        )
    return _authors("the start and end of participant accrual (the cohort tables carry no dates)")


def _i6a(ctx: _Context) -> tuple[str, str]:
    if "site" in ctx.cohort.columns and ctx.cohort["site"].notna().any():
        counts = ctx.cohort["site"].value_counts().sort_index()
        sites = ", ".join(f"{k}: {v}" for k, v in counts.items())
        return _authors(
            "the setting (e.g. secondary or tertiary care)", f"{len(counts)} centre(s) ({sites} patients)."
        )
    return _authors("the setting and the number and location of centres (no site column)")


def _i6b(ctx: _Context) -> tuple[str, str]:
    n = ctx.n_patients
    lines = []
    for name, spec in sorted(ctx.tasks.items()):
        k = spec.get("n_patients")
        lines.append(
            f"{name}: {k} with a known {spec.get('endpoint')}"
            + (f", {n - int(k)} without it left out" if n and k is not None else "")
        )
    return _authors(
        "the clinical inclusion and exclusion criteria",
        f"Run: all {n if n is not None else '?'} patients of patients.csv; per task, the patients with a known "
        f"endpoint (never imputed): {_join(lines)}.",
    )


def _i7(ctx: _Context) -> tuple[str, str]:
    ext = ctx.prov.get("extraction")
    parts = ext.get("parts", []) if isinstance(ext, dict) else (ext or [])
    lines = [
        f"{p.get('extractor')} ({p.get('modality')}): {p.get('patients')} patients, {p.get('features')} features, "
        f"{p.get('failed', 0)} failed"
        for p in parts
        if isinstance(p, dict)
    ]
    harm = ctx.config.get("harmonise") or []
    return PARTLY, _join(
        [
            "Every table is validated before use (cdbench validate: each problem by patient, file and field).",
            f"Feature extraction: {_join(lines) or 'not recorded'}.",
            f"ComBat harmonisation by site inside each fit for {', '.join(harm)}." if harm else "",
            "Imputation and scaling are fitted inside each training fold (see 12b).",
            "To be completed by the authors: whether pre-processing was similar across sociodemographic groups.",
        ],
        " ",
    )


def _i8a(ctx: _Context) -> tuple[str, str]:
    return _authors(
        "the time horizon, how and when the endpoints were assessed and the rationale",
        f"Outcomes: {_join(_task_lines(ctx)) or 'none recorded'}.",
    )


def _i9a(ctx: _Context) -> tuple[str, str]:
    feats = ctx.config.get("features") or {}
    mods = ", ".join(f"{m}: {', '.join(v)}" for m, v in sorted(feats.items()))
    return PARTLY, (
        f"Predictors: every feature of each modality's extractors ({mods or 'not recorded'}); no selection "
        "before model building (any selection happens inside the training folds). To be completed by the "
        "authors: the rationale for the modalities."
    )


def _i9b(ctx: _Context) -> tuple[str, str]:
    ext = ctx.prov.get("extraction")
    parts = ext.get("parts", []) if isinstance(ext, dict) else (ext or [])
    n_feat: dict[str, int] = {}
    for p in parts:
        if isinstance(p, dict):
            n_feat[str(p.get("modality"))] = n_feat.get(str(p.get("modality")), 0) + int(
                p.get("features") or 0
            )
    params = ctx.config.get("extractor_params") or {}
    return _authors(
        "how and when the images, reports and questionnaires were acquired, and any blinding",
        f"Features per modality: {', '.join(f'{m}: {k}' for m, k in sorted(n_feat.items())) or 'not recorded'}; "
        f"extractor parameters {params or 'defaults'} (versions in 18f).",
    )


def _i10(ctx: _Context) -> tuple[str, str]:
    lines = []
    for name, spec in sorted(ctx.tasks.items()):
        counts = [int(v) for v in (spec.get("class_counts") or {}).values()]
        if counts:
            lines.append(f"{name}: n = {spec.get('n_patients')}, smallest class {min(counts)}")
    return _authors(
        "how the study size was arrived at and why it suffices", f"Sample size and events: {_join(lines)}."
    )


def _i11(ctx: _Context) -> tuple[str, str]:
    flags = modality_flags(ctx.cohort) if len(ctx.cohort) else pd.DataFrame()
    n = len(flags)
    counts = ", ".join(
        f"{m}: {int(flags[m].sum())} of {n} have it ({n - int(flags[m].sum())} missing)"
        for m in flags.columns
    )
    lost = ""
    ext = ctx.prov.get("extraction")
    if isinstance(ext, dict) and ext.get("lost_patients"):
        lost = "; lost in extraction: " + ", ".join(
            f"{m}: {len(v)}" for m, v in sorted(ext["lost_patients"].items())
        )
    return FILLED, _join(
        [
            f"{MODALITY_DEFINITION} Per modality: {counts or 'not recorded'}{lost}.",
            "A missing modality is never imputed as a block: single-modality models predict the training "
            "prior for patients without their modality; early fusion imputes within the training fold (median) "
            "and adds missing-modality indicators; late fusion combines the modalities a patient has; the "
            "hybrid network masks absent modalities. Missing predictor values inside a modality: median "
            "imputation fitted on the training fold. Patients without an endpoint are left out of that task "
            "(see 6b). Missingness linked to the label is tested (chi-square, Diagnostics).",
        ],
        " ",
    )


def _i12a(ctx: _Context) -> tuple[str, str]:
    c = ctx.config
    site = " Also leave-one-site-out external folds (12d, 16)." if c.get("validation") == "site" else ""
    return FILLED, (
        f"All patients are used for development and evaluation by nested cross-validation: {c.get('folds')} outer "
        f"folds stratified by the label and grouped by patient, repeated {c.get('repeats')} time(s); "
        f"tuning by {c.get('inner_splits')}-fold inner cross-validation of the outer training part only.{site}"
    )


def _i12b(ctx: _Context) -> tuple[str, str]:
    harm = ctx.config.get("harmonise") or []
    return FILLED, (
        "Inside each training part: per-modality median imputation and standard scaling of numeric "
        "features, TF-IDF (+SVD) of report term counts; no other transformation"
        + (f"; ComBat harmonisation by site of {', '.join(harm)}" if harm else "")
        + "."
    )


def _i12c(ctx: _Context) -> tuple[str, str]:
    c = ctx.config
    return FILLED, (
        f"Estimators: {', '.join(c.get('estimators', [])) or '-'}; fusions: {', '.join(c.get('fusions', [])) or '-'}"
        f"{'; a prior-only baseline' if c.get('baseline') else ''}; modality sets: {c.get('modality_sets')}. "
        f"Hyperparameters tuned with Optuna ({c.get('n_trials')} trials per cell, inner {c.get('inner_splits')}-fold "
        f"CV, ROC-AUC), seed {ctx.prov.get('seed')}; late fusion {c.get('late_fusion')}. Internal validation: 12a."
    )


def _i12d(ctx: _Context) -> tuple[str, str]:
    status, text = _pointer(
        ctx, "transport", "Heterogeneity across centres (internal vs external AUC per site)"
    )
    if status == FILLED:
        return status, text
    sub = ctx.table("subgroups")
    if sub:
        return (
            PARTLY,
            f"Performance per site: see {sub}. External validation by site: not computed in this run.",
        )
    return status, text


def _i12e(ctx: _Context) -> tuple[str, str]:
    pct = int(round(ctx.level * 100))
    extra = []
    for key, what in (
        ("calibration", "calibration (intercept, slope, plot)"),
        ("decision_curve", "clinical utility (decision curves, net benefit)"),
        ("modality_shapley", "modality contributions (Shapley values)"),
        ("robustness", "robustness to missing modalities"),
    ):
        path = ctx.table(key)
        extra.append(f"{what}: {path}" if path else f"{what}: not computed in this run")
    return FILLED, (
        f"Discrimination: ROC-AUC with {pct}% CI (DeLong; macro one-vs-rest AUC with a bootstrap CI for "
        "multiclass tasks); balanced accuracy, F1, Brier score; ROC curves. Comparisons: paired DeLong tests "
        "(bootstrap for multiclass), p adjusted within each family (Holm). " + "; ".join(extra) + "."
    )


def _i12f(ctx: _Context) -> tuple[str, str]:
    return FILLED, "No model updating or recalibration is performed by the run."


def _i12g(ctx: _Context) -> tuple[str, str]:
    return FILLED, (
        "Predictions are the out-of-fold probabilities of each outer fold's model, stored in "
        "predictions.parquet; a patient's probabilities are averaged over the repeats before scoring."
    )


def _i13(ctx: _Context) -> tuple[str, str]:
    return FILLED, "No resampling or class weighting; folds are stratified by the label; no recalibration."


def _i14(ctx: _Context) -> tuple[str, str]:
    sub = ctx.table("subgroups")
    run_part = f"Performance by site, sex, age band and Montreal location: {sub}." if sub else ""
    return _authors("any approach to fairness and its rationale", run_part)


def _i15(ctx: _Context) -> tuple[str, str]:
    return FILLED, (
        "Output: a probability per class. Balanced accuracy and F1 classify at the most probable class "
        "(threshold 0.5 for binary tasks); no other threshold is chosen by the run"
        + (
            "; net benefit over a range of thresholds in the decision curves"
            if ctx.table("decision_curve")
            else ""
        )
        + "."
    )


def _i16(ctx: _Context) -> tuple[str, str]:
    if ctx.config.get("validation") == "site":
        return _authors(
            "differences between the centres in setting, eligibility, outcome and predictors",
            "External folds train on some sites and test on another (see 12d).",
        )
    return FILLED, "Internal validation only: development and evaluation data come from the same cohort."


def _i18f(ctx: _Context) -> tuple[str, str]:
    git = ctx.prov.get("git") or {}
    v = ctx.prov.get("versions") or {}
    libs = ", ".join(f"{k} {val}" for k, val in sorted(v.items()) if val)
    return PARTLY, (
        f"cdbench {v.get('cdbench', '?')}, git commit {git.get('commit') or '?'}"
        f"{' (uncommitted changes)' if git.get('dirty') else ''}, code version {ctx.prov.get('code_version', '?')}, "
        f"config hash {ctx.prov.get('config_hash', '?')}, seed {ctx.prov.get('seed', '?')}; Python "
        f"{ctx.prov.get('python', '?')}; {libs}. To be completed by the authors: where the code is available."
    )


def _i20a(ctx: _Context) -> tuple[str, str]:
    n = ctx.n_patients
    lines = []
    for name, spec in sorted(ctx.tasks.items()):
        k = spec.get("n_patients")
        per = _class_counts(spec)
        miss = f", {n - int(k)} without the endpoint" if n and k is not None else ""
        lines.append(f"{name}: {k} analysed ({per}){miss}")
    return FILLED, f"{n if n is not None else '?'} patients in the cohort; " + _join(lines) + "."


def _i20b(ctx: _Context) -> tuple[str, str]:
    have = [t for t in ("table1_cohort", "table_availability") if (ctx.tables_dir / f"{t}.csv").exists()]
    if not have:
        return NOT_COMPUTED, "No cohort summary in the run folder: not computed in this run."
    return FILLED, (
        f"Characteristics overall and by class, with missing values: "
        f"{', '.join(f'{REPORT_DIR}/{REPORT_TABLES_DIR}/{t}.csv' for t in have)} (Table 1 and the availability "
        "table of the report)."
    )


def _i20c(ctx: _Context) -> tuple[str, str]:
    if ctx.config.get("validation") == "site":
        path = ctx.table("subgroups")
        return _authors(
            "a comparison of the predictor distributions between the centres",
            f"Per-site characteristics: Table 1 by site is not built; performance per site: {path}."
            if path
            else "",
        )
    return FILLED, "Not applicable: no separate evaluation data (internal validation)."


def _i21(ctx: _Context) -> tuple[str, str]:
    cells = ctx.run.get("cells", pd.DataFrame())
    lines = []
    for name, spec in sorted(ctx.tasks.items()):
        part = f"{name}: {spec.get('n_patients')} patients ({_class_counts(spec)})"
        if len(cells) and {"task", "n_train", "n_test"} <= set(cells.columns):
            g = cells[(cells["task"] == name) & (cells["status"].astype(str) == "ok")]
            if "validation" in g.columns:
                g = g[g["validation"].astype(str) != "external"]  # the outer CV folds only
            if len(g):
                part += (
                    f"; each outer fold trains on {int(g['n_train'].min())}-{int(g['n_train'].max())} and tests on "
                    f"{int(g['n_test'].min())}-{int(g['n_test'].max())} patients; tuning uses "
                    f"{ctx.config.get('inner_splits')}-fold CV of the training part"
                )
        lines.append(part)
    return FILLED, _join(lines) + "."


def _i22(ctx: _Context) -> tuple[str, str]:
    return _authors(
        "the final model (fitted object or formula) and its access, if released",
        "The run stores predictions, not fitted models; each model is reproduced from the code, the "
        f"configuration (hash {ctx.prov.get('config_hash', '?')}) and the seed ({ctx.prov.get('seed', '?')}).",
    )


def _i23a(ctx: _Context) -> tuple[str, str]:
    pct = int(round(ctx.level * 100))
    lines = []
    for task in sorted(ctx.perf["task"].unique()) if len(ctx.perf) else []:
        ranked = ranked_models(ctx.perf, task)
        if ranked.empty:
            continue
        b = ranked.iloc[0]
        base = ctx.perf[(ctx.perf["task"] == task) & (ctx.perf["modality_set"] == BASELINE_SET)]
        ref = (
            f"; prior-only baseline AUC {fmt_ci(base['auc'].iat[0], base['auc_low'].iat[0], base['auc_high'].iat[0])}"
            if len(base)
            else ""
        )
        lines.append(
            f"{task}: best model {b['model']}, AUC {fmt_ci(b['auc'], b['auc_low'], b['auc_high'])} ({pct}% CI), n = {int(b['n'])}{ref}"
        )
    if not lines:
        return NOT_COMPUTED, "No model could be scored: not computed in this run."
    extra = []
    for key, what in (
        ("calibration", "calibration"),
        ("decision_curve", "decision curves"),
        ("subgroups", "subgroups"),
    ):
        path = ctx.table(key)
        extra.append(f"{what}: {path}" if path else f"{what}: not computed in this run")
    return FILLED, _join(lines) + ". Every model: the performance tables of the report. " + "; ".join(
        extra
    ) + "."


def _i23b(ctx: _Context) -> tuple[str, str]:
    return _pointer(ctx, "transport", "Performance across centres (internal vs external, per site)")


def _i24(ctx: _Context) -> tuple[str, str]:
    return FILLED, "Not applicable: no model updating (12f)."


def _i26(ctx: _Context) -> tuple[str, str]:
    warnings = [d for d in ctx.diagnostics if getattr(d, "severity", "") in ("warning", "error")]
    codes = sorted({d.code for d in warnings})
    run_part = (
        f"The run's diagnostics flag {len(warnings)} threat(s) to validity ({', '.join(codes)}; see Diagnostics)."
        if warnings
        else "The run's diagnostics flag no threat to validity."
    )
    return _authors("the limitations and their effect on bias, uncertainty and generalisability", run_part)


def _i27a(ctx: _Context) -> tuple[str, str]:
    path = ctx.table("robustness")
    run_part = (
        f"AUC with modalities withheld at prediction time: {path}."
        if path
        else "Robustness to missing modalities: not computed in this run."
    )
    return _authors("how poor-quality or unavailable inputs should be handled in use", run_part)


_AUTHOR_ONLY = {
    "2": "the abstract (TRIPOD+AI for Abstracts)",
    "3a": "the healthcare context, the rationale and the existing models",
    "3b": "the target population, the intended use in the care pathway and its users",
    "3c": "known health inequalities between sociodemographic groups",
    "6c": "the treatments received and how they were handled",
    "8b": "the qualifications and characteristics of the outcome assessors (e.g. endoscopists scoring SES-CD)",
    "8c": "any blinding of outcome assessment",
    "9c": "the qualifications and characteristics of the predictor assessors (radiologists, report authors)",
    "17": "the ethics committee and the consent or its waiver",
    "18a": "the funding and the funders' role",
    "18b": "the conflicts of interest",
    "18c": "where the protocol can be accessed, or that there was none",
    "18d": "the registration, or that the study was not registered",
    "18e": "the availability of the data",
    "19": "any patient and public involvement, or that there was none",
    "25": "the overall interpretation, including fairness",
    "27b": "the user interaction and expertise needed",
    "27c": "the next steps for research",
}
_FILLERS: dict[str, Callable[[_Context], tuple[str, str]]] = {
    "1": _i1, "4": _i4, "5a": _i5a, "5b": _i5b, "6a": _i6a, "6b": _i6b, "7": _i7, "8a": _i8a, "9a": _i9a,
    "9b": _i9b, "10": _i10, "11": _i11, "12a": _i12a, "12b": _i12b, "12c": _i12c, "12d": _i12d,
    "12e": _i12e, "12f": _i12f, "12g": _i12g, "13": _i13, "14": _i14, "15": _i15, "16": _i16,
    "18f": _i18f, "20a": _i20a, "20b": _i20b, "20c": _i20c, "21": _i21, "22": _i22, "23a": _i23a,
    "23b": _i23b, "24": _i24, "26": _i26, "27a": _i27a,
}  # fmt: skip


def tripod_checklist(
    run: Mapping[str, Any],
    perf: pd.DataFrame,
    *,
    run_dir: str | Path,
    tables_dir: str | Path,
    level: float = 0.95,
    diagnostics: Sequence[Any] = (),
) -> list[TripodItem]:
    """Every TRIPOD+AI item, filled from a loaded run (``benchmarks.store.load_run``), its performance
    frame and the report tables already written in ``tables_dir`` (build it after them)."""
    prov = dict(run.get("provenance") or {})
    ctx = _Context(
        run=run,
        perf=perf,
        tables_dir=Path(tables_dir),
        run_dir=Path(run_dir),
        level=level,
        diagnostics=diagnostics,
        prov=prov,
        config=dict(prov.get("config") or {}),
        tasks=dict(run.get("tasks") or {}),
        cohort=run.get("cohort_summary", pd.DataFrame()),
    )
    items = []
    for number, section, topic in TRIPOD_AI_ITEMS:
        if number in _FILLERS:
            status, text = _FILLERS[number](ctx)
        else:
            status, text = _authors(_AUTHOR_ONLY[number])
        items.append(TripodItem(number, section, topic, status, text))
    return items


def tripod_markdown(items: Sequence[TripodItem], *, run_name: str = "") -> str:
    """The text of ``tripod_ai.md``: a table per section, every item with its status and content."""
    counts = {s: sum(i.status == s for i in items) for s in STATUSES}
    lines = [
        "# TRIPOD+AI checklist",
        "",
        f"Run {markdown_escape(run_name)}. {REFERENCE} Each item is filled from the run's records where it can be; "
        "the rest is marked for the authors. Item wording is paraphrased; use the article's checklist for the "
        "submission.",
        "",
        "Status: " + ", ".join(f"{k}: {v}" for k, v in counts.items()) + f" (of {len(items)} items).",
        "",
    ]
    for section in dict.fromkeys(i.section for i in items):
        lines += [f"## {section}", "", "| Item | Topic | Status | Content |", "|---|---|---|---|"]
        for i in items:
            if i.section == section:
                lines.append(
                    f"| {i.item} | {markdown_escape(i.topic)} | {i.status} | {markdown_escape(i.text)} |"
                )
        lines.append("")
    return "\n".join(lines)


def tripod_table(items: Sequence[TripodItem]) -> Table:
    """The checklist as a report table (a longtable in the PDF's appendix)."""
    data = pd.DataFrame([vars(i) for i in items], columns=["item", "section", "topic", "status", "text"])
    display = pd.DataFrame(
        {
            "Item": data["item"],
            "Topic": data["topic"],
            "Status": data["status"].map(
                {FILLED: "run", PARTLY: "run + authors", AUTHORS: "authors", NOT_COMPUTED: "not computed"}
            ),
            "Content": data["text"],
        }
    )
    return Table(
        name=TRIPOD_TABLE,
        data=data,
        display=display,
        caption="TRIPOD+AI checklist (Collins et al., BMJ 2024), filled from the run where it can be.",
        label="tab:tripod-ai",
        notes=[
            "Status run: filled from the run's records; run + authors: partly filled, to be completed by the "
            "authors; authors: to be completed by the authors; not computed: the statistic is not in this run.",
            REFERENCE,
        ],
        align=r"lp{3.2cm}p{1.5cm}p{10.2cm}",
    )


__all__ = [
    "AUTHORS",
    "FILLED",
    "NOT_COMPUTED",
    "PARTLY",
    "STATUSES",
    "TRIPOD_AI_ITEMS",
    "TRIPOD_MD",
    "TripodItem",
    "tripod_checklist",
    "tripod_markdown",
    "tripod_table",
]
