"""Findings about a finished run, each a :class:`Diagnostic` with a stable code (:data:`DIAGNOSTIC_CODES`).

Policy: a diagnostic never changes a number of the report; it says what a reader should distrust.
Errors are data faults (a patient predicted twice), warnings are threats to validity (failed cells,
missingness linked to the label, a tuned value at the edge of its range, a label computed from a
feature), info notes what was not checked or is incomplete. Thresholds are the module constants below.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency

from benchmarks.cohort.schema import MODALITIES
from benchmarks.store import CELLS, COHORT_SUMMARY, EXCLUDED, FAILURES, MODEL_KEYS
from reports.formatting import fmt_num, p_clause
from reports.tables import Table

LABEL_FROM_FEATURE_CI_LOW = 0.90
"""A feature flags its task (LABEL_DERIVED_FROM_FEATURE) when the lower bound of the 95% CI of its
univariate AUC (either direction; Newcombe's score interval, :func:`auc_score_interval`) exceeds this..."""
LABEL_FROM_FEATURE_MIN_N = 50
"""...among at least this many patients with a value of the feature..."""
LABEL_FROM_FEATURE_MIN_CLASS = 10
"""...at least this many of each class (a perfect split of 29 patients, 6 of one class, is not evidence)."""
LABEL_FROM_FEATURE_LEVEL = 0.95
MISSINGNESS_ALPHA = 0.05
EDGE_TOLERANCE = 0.01  # share of the (log-)range that counts as "at the edge"
EDGE_SHARE = 0.5  # a model is flagged when at least this share of its cells sit at the same edge
MISSINGNESS_TABLE = "diagnostics_missingness"
"""Stem of the chi-square frame written beside the report's tables (CSV only)."""


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
    "HPARAM_EDGE_NOT_CHECKED": f"{CELLS} has no search ranges, edges were not checked",
    "INCOMPLETE_REPEATS": "some patients of a model were predicted in fewer repeats than others",
    "LABEL_DERIVED_FROM_FEATURE": "a task's endpoint is declared computed from a modality (derived_from in "
    f"tasks.toml), or one feature alone separates its label (lower {LABEL_FROM_FEATURE_LEVEL:.0%} CI "
    "bound of "
    f"its AUC > {LABEL_FROM_FEATURE_CI_LOW:g}, n >= {LABEL_FROM_FEATURE_MIN_N}, >= "
    f"{LABEL_FROM_FEATURE_MIN_CLASS} per class): models reading it are not an independent prediction",
    "MODALITY_LOST_IN_EXTRACTION": "patients who have a modality's data got none of its features (every "
    "extractor part failed or none applied); they count as missing that modality",
}


def diagnose_run(
    run: Mapping[str, Any],
    pooled: pd.DataFrame,
    missingness: pd.DataFrame,
    class_names: dict[str, list[str]],
) -> list[Diagnostic]:
    """Every diagnostic of a loaded run (``benchmarks.store.load_run``), in the report's order."""
    cells = run["cells"]
    return [
        *diagnose_duplicates(run["predictions"]),
        *diagnose_failures(cells),
        *diagnose_repeats(pooled),
        *diagnose_missingness(missingness, class_names=class_names),
        *diagnose_hyperparameters(cells),
        *diagnose_label_features(
            run["feature_label_checks"],
            derived_from=declared_derived_from(run),
            class_counts=modality_class_counts(pooled),
        ),
        *diagnose_extraction(extraction_failures(run)),
    ]


def diagnostics_table(diagnostics: list[Diagnostic]) -> Table:
    """The report's table of diagnostics, with every code explained in the notes."""
    frame = pd.DataFrame(
        [
            {"code": d.code, "severity": d.severity, "task": d.task or "", "message": d.message}
            for d in diagnostics
        ],
        columns=["code", "severity", "task", "message"],
    )
    return Table(
        name="table_diagnostics",
        data=frame,
        display=frame.rename(columns=str.capitalize),
        caption="Diagnostics (stable codes).",
        label="tab:diagnostics",
        notes=[f"{k}: {v}." for k, v in DIAGNOSTIC_CODES.items()],
        align="lllp{0.6\\linewidth}",
    )


# --- cells and repeats -------------------------------------------------------------------------------------
def failed_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells whose status is not ``ok`` (none when the table has no status)."""
    if cells.empty or "status" not in cells.columns:
        return cells.iloc[0:0]
    return cells[cells["status"].astype(str) != "ok"]


def diagnose_failures(cells: pd.DataFrame) -> list[Diagnostic]:
    failed = failed_cells(cells)
    out = []
    keys = [k for k in MODEL_KEYS if k in failed.columns]
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
    keys = [*MODEL_KEYS, "repeat", "patient_id"]
    counts = pred.groupby(keys, sort=True).size()
    dup = counts[counts > 1].reset_index()
    out = []
    for key, g in dup.groupby(list(MODEL_KEYS), sort=True):
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
    for key, g in pooled.groupby(list(MODEL_KEYS), sort=True):
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


# --- missingness -------------------------------------------------------------------------------------------
def missingness_frame(pooled: pd.DataFrame) -> pd.DataFrame:
    """Chi-square test of each modality's availability against the label, per task.

    Availability comes from the ``pattern`` column of the predictions (the task's own patients).
    """
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

            rate_txt = ", ".join(f"{cname(k)}: {fmt_num(100 * v, 0)}%" for k, v in rates.items())

            out.append(
                Diagnostic(
                    "MISSINGNESS_LINKED_TO_LABEL",
                    "warning",
                    f"{r.modality} availability is associated with the label of {r.task} "
                    f"(chi-square {p_clause('p', r.p_value)}; missing by class: {rate_txt}); a model may learn "
                    "the label from the missingness pattern",
                    task=r.task,
                    details={"modality": r.modality, "p_value": r.p_value, "chi2": r.chi2},
                )
            )
    return out


# --- features and hyperparameters --------------------------------------------------------------------------
def auc_score_interval(auc: float, n_pos: int, n_neg: int, level: float = 0.95) -> tuple[float, float]:
    """Newcombe's score interval for an AUC (Stat Med 2006;25:543, method 5): the AUCs ``t`` with
    ``(auc - t)^2 <= z^2 V(t)``, ``V`` the Hanley-McNeil variance with both group sizes set to their mean.
    Unlike the Wald interval it stays wide at AUC = 1 in small groups."""
    from scipy.optimize import brentq
    from scipy.stats import norm

    if n_pos < 1 or n_neg < 1 or not np.isfinite(auc):
        return np.nan, np.nan
    z2 = norm.ppf(0.5 + level / 2) ** 2
    half = (n_pos + n_neg) / 2.0

    def f(t: float) -> float:
        v = t * (1 - t) / (n_pos * n_neg) * (1 + (half - 1) * ((1 - t) / (2 - t) + t / (1 + t)))
        return (auc - t) ** 2 - z2 * v

    eps = 1e-12
    low = 0.0 if auc <= eps or f(0.0) <= 0 else brentq(f, 0.0, max(auc - eps, eps / 2))
    high = 1.0 if auc >= 1 - eps or f(1.0) <= 0 else brentq(f, min(auc + eps, 1 - eps / 2), 1.0)
    return float(low), float(high)


def declared_derived_from(run: Mapping[str, Any]) -> dict[str, list[str]]:
    """Task -> the modalities its endpoint is declared computed from (``derived_from`` of tasks.toml, as
    recorded in tasks.json or provenance.json's ``task_definitions``)."""
    out: dict[str, list[str]] = {}
    prov = run.get("provenance") or {}
    sources = [prov.get("task_definitions") or {}, run.get("tasks") or {}]
    for source in sources:
        for task, spec in source.items():
            mods = list(spec.get("derived_from") or []) if isinstance(spec, Mapping) else []
            if mods:
                out.setdefault(str(task), mods)
    return out


def modality_class_counts(pooled: pd.DataFrame) -> dict[tuple[str, str], tuple[int, int]]:
    """(task, modality) -> (positives, negatives) among the task's patients who have that modality (the
    ``pattern`` column); binary tasks only."""
    out: dict[tuple[str, str], tuple[int, int]] = {}
    if pooled.empty or "pattern" not in pooled.columns:
        return out
    for task, g in pooled.groupby("task", sort=True):
        per = g.drop_duplicates("patient_id")
        if per["y_true"].nunique() > 2:
            continue
        parts = per["pattern"].astype(str).str.split("+")
        y = per["y_true"].to_numpy(int)
        for m in MODALITIES:
            has = parts.map(lambda p, m=m: m in p).to_numpy(bool)
            out[(str(task), m)] = (int((y[has] == 1).sum()), int((y[has] == 0).sum()))
    return out


def _feature_class_counts(
    row: Any, class_counts: Mapping[tuple[str, str], tuple[int, int]]
) -> tuple[int, int, str]:
    """(positives, negatives, how) of the patients with a value of a checked feature: the check's own
    counts, else the counts of the patients who have its modality (scaled to its n when they differ), else
    a balanced split of its n."""
    n = int(row.n)
    if "n_pos" in row._fields and np.isfinite(getattr(row, "n_pos", np.nan)):
        return int(row.n_pos), n - int(row.n_pos), "counted"
    known = class_counts.get((str(row.task), str(row.feature).split(":", 1)[0]))
    if known and sum(known) > 0:
        if sum(known) == n:
            return known[0], known[1], "counted"
        pos = int(round(n * known[0] / sum(known)))
        return pos, n - pos, "estimated from the modality's patients"
    return n // 2, n - n // 2, "class counts unknown, balanced split assumed"


def diagnose_label_features(
    checks: pd.DataFrame,
    *,
    derived_from: Mapping[str, list[str]] | None = None,
    class_counts: Mapping[tuple[str, str], tuple[int, int]] | None = None,
) -> list[Diagnostic]:
    """LABEL_DERIVED_FROM_FEATURE for every task whose endpoint is declared computed from a modality
    (``derived_from``), and for every task with a feature whose AUC CI lower bound exceeds
    :data:`LABEL_FROM_FEATURE_CI_LOW` at the stated minimum size (:data:`LABEL_FROM_FEATURE_MIN_N`,
    :data:`LABEL_FROM_FEATURE_MIN_CLASS`). ``class_counts``: :func:`modality_class_counts`."""
    out = []
    for task, mods in sorted((derived_from or {}).items()):
        out.append(
            Diagnostic(
                "LABEL_DERIVED_FROM_FEATURE",
                "warning",
                f"{task}: the endpoint is declared computed from {', '.join(mods)} (derived_from in the task "
                f"definitions), so models using {', '.join(mods)} are not an independent prediction of it",
                task=str(task),
                details={"derived_from": list(mods), "rule": "declared"},
            )
        )
    if checks.empty:
        return out
    hits = []
    for r in checks.itertuples(index=False):
        n_pos, n_neg, how = _feature_class_counts(r, class_counts or {})
        if r.n < LABEL_FROM_FEATURE_MIN_N or min(n_pos, n_neg) < LABEL_FROM_FEATURE_MIN_CLASS:
            continue
        low, _ = auc_score_interval(float(r.separation), n_pos, n_neg, LABEL_FROM_FEATURE_LEVEL)
        if low > LABEL_FROM_FEATURE_CI_LOW:
            hits.append({"task": r.task, "feature": r.feature, "auc": r.auc, "low": low, "n": int(r.n),
                         "n_pos": n_pos, "n_neg": n_neg, "how": how})  # fmt: skip
    for task, rows in pd.DataFrame(hits).groupby("task", sort=True) if hits else []:
        names = ", ".join(
            f"{h.feature} (AUC {fmt_num(h.auc)}, separation CI lower bound {fmt_num(h.low)}, n = {h.n}: "
            f"{h.n_pos} positive, {h.n_neg} negative)"
            for h in rows.head(5).itertuples()
        )
        out.append(
            Diagnostic(
                "LABEL_DERIVED_FROM_FEATURE",
                "warning",
                f"{task}: {len(rows)} feature(s) alone separate the label, e.g. {names}; the endpoint is "
                "probably computed from them, so models using that modality are not an independent "
                "prediction",
                task=str(task),
                details={
                    "features": list(rows["feature"].head(20)),
                    "n": len(rows),
                    "rule": "feature AUC CI",
                    "class_counts": sorted(set(rows["how"])),
                },
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


def diagnose_hyperparameters(cells: pd.DataFrame) -> list[Diagnostic]:
    """Flag a model whose tuned value of a parameter sits at one edge of its search range in at least
    half of its cells. Needs the cells' ``search_space`` column (JSON ``{param: [low, high]}``)."""
    if cells.empty or "best_params" not in cells.columns:
        return []
    if "search_space" not in cells.columns or cells["search_space"].isna().all():
        return [Diagnostic("HPARAM_EDGE_NOT_CHECKED", "info", f"{CELLS} has no search_space column")]
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


# --- extraction failures -----------------------------------------------------------------------------------
EXTRACTION_TABLE = "table_extraction_failures"
EXAMPLE_CHARS = 240  # an example reason in the report's table; its CSV and the run's table keep it whole


@dataclass(frozen=True)
class ExtractionFailures:
    """The run's extraction failures, read from its result files (never recomputed).

    ``counts``: failed patients per modality, part and category with an example reason; ``lost``: per
    modality, the patients who have its data but no feature of it (each has a failure row; named from
    ``cohort_summary``'s ``features_<modality>`` column); ``with_data``: patients who have each modality's
    data. ``recorded`` is False for a run folder without an extraction (no failures table, no feature
    summary); ``named`` is False when ``cohort_summary`` cannot tell who lost a modality.
    """

    recorded: bool
    counts: pd.DataFrame
    lost: dict[str, list[str]]
    with_data: dict[str, int]
    named: bool = True

    @property
    def n_failed(self) -> int:
        return int(self.counts["n"].sum()) if len(self.counts) else 0

    def lines(self) -> list[str]:
        """Plain sentences (for summary.md and report.tex): the total, then every patient who lost a
        modality, by id."""
        if not self.recorded:
            return [f"Not recorded: the run folder has no {FAILURES} (the features stage did not run)."]
        if self.counts.empty:
            return ["None: every patient with a modality's data got its features."]
        out = [
            f"{self.n_failed} failed case(s) across {len(self.counts)} modality/part/category group(s); "
            f"they count as missing values ({FAILURES} has every reason)."
        ]
        if not self.named:
            out.append(f"The patients who lost a modality cannot be named: {COHORT_SUMMARY} is absent.")
        for modality, ids in sorted(self.lost.items()):
            total = self.with_data.get(modality)
            out.append(
                f"{len(ids)}{f' of {total}' if total else ''} patient(s) with {modality} data lost it (every "
                f"extractor part failed or none applied): {', '.join(ids)}."
            )
        if self.named and not self.lost:
            out.append("No patient lost a modality entirely (another part or extractor succeeded).")
        return out

    def table(self) -> Table | None:
        """The report's table of the counts (None when there is no failure)."""
        if self.counts.empty:
            return None
        display = pd.DataFrame(
            {
                "Modality": self.counts["modality"].astype(str),
                "Part": self.counts["part"].astype(str).replace("", "–"),
                "Category": self.counts["category"].astype(str),
                "Patients": self.counts["n"].astype(int).astype(str),
                "Example reason": self.counts["example"].astype(str).map(_clip),
            }
        )
        return Table(
            name=EXTRACTION_TABLE,
            data=self.counts,
            display=display,
            caption="Extraction failures: failed patients per modality, extractor part and category.",
            label="tab:extraction-failures",
            notes=[
                "A failed case is a missing value of its modality (never counted as cached); the reasons "
                f"give the fix, and {FAILURES} in the run folder lists every patient."
            ],
            align="lllrp{0.5\\linewidth}",
        )


def _clip(text: str) -> str:
    """The start (the patient and files) and the end (the fix) of a long reason."""
    if len(text) <= EXAMPLE_CHARS:
        return text
    head = EXAMPLE_CHARS // 3
    return f"{text[:head]} ... {text[len(text) - (EXAMPLE_CHARS - head - 5) :]}"


SHOWN_IDS = 20
"""Patient ids listed per file in the sentences on rows left out by validation (all are in the table)."""


def validation_exclusions(run: Mapping[str, Any]) -> list[str]:
    """Sentences on the rows validation left out (``excluded.parquet``): the count per cohort file with the
    patients concerned, so that a reader of the report alone sees every scan, report or questionnaire
    that did not reach the features."""
    frame = run.get(EXCLUDED.split(".")[0])
    if frame is None or (frame.empty and not len(frame.columns)):
        return [f"Not recorded: the run folder has no {EXCLUDED} (a run from before it existed)."]
    if frame.empty:
        return ["None: validation left out no row and no value."]
    out = [f"{len(frame)} row(s) or value(s) left out by validation ({EXCLUDED} has every reason):"]
    for file, g in frame.groupby("file", sort=True):
        ids = sorted({str(p) for p in g["patient_id"].dropna()})
        shown = ", ".join(ids[:SHOWN_IDS]) + (f", ... ({len(ids)} patients)" if len(ids) > SHOWN_IDS else "")
        out.append(f"{file}: {len(g)} ({shown or 'no patient named'}).")
    return out


def extraction_failures(run: Mapping[str, Any]) -> ExtractionFailures:
    """The extraction failures of a loaded run (``extraction_failures`` and ``features`` tables, the
    cohort summary's ``avail_*``/``features_*`` columns)."""
    failures = run.get("extraction_failures", pd.DataFrame())
    summary = run.get("features", pd.DataFrame())
    recorded = "patient_id" in failures.columns or not summary.empty
    if failures.empty or "patient_id" not in failures.columns:
        counts = pd.DataFrame(columns=["modality", "part", "category", "n", "example"])
        return ExtractionFailures(recorded, counts, {}, {})
    blank = pd.Series("", index=failures.index)
    failures = failures.assign(
        **{
            c: (failures[c] if c in failures.columns else blank).fillna("").astype(str)
            for c in ("patient_id", "part", "modality", "category", "reason")
        }
    )
    rows = []
    for (modality, part, category), g in failures.groupby(["modality", "part", "category"], sort=True):
        rows.append(
            {
                "modality": modality,
                "part": part,
                "category": category,
                "n": int(g["patient_id"].nunique()),
                "example": g.sort_values("patient_id")["reason"].iat[0],
            }
        )
    counts = pd.DataFrame(rows)
    counts = (
        counts.assign(_neg=-counts["n"])
        .sort_values(["modality", "part", "_neg", "category"])
        .drop(columns="_neg")
        .reset_index(drop=True)
    )
    cohort = run.get("cohort_summary", pd.DataFrame())
    lost: dict[str, list[str]] = {}
    with_data: dict[str, int] = {}
    named = not cohort.empty and "patient_id" in cohort.columns
    for modality, g in failures.groupby("modality", sort=True):
        col = f"features_{modality}"
        if not named or col not in cohort.columns:
            named = False
            continue
        has = set(cohort.loc[cohort[col].astype(bool), "patient_id"].astype(str))
        ids = sorted(set(g["patient_id"]) - has)
        if ids:
            lost[modality] = ids
        if f"avail_{modality}" in cohort.columns:
            with_data[modality] = int(cohort[f"avail_{modality}"].astype(bool).sum())
    return ExtractionFailures(recorded, counts, lost, with_data, named)


def diagnose_extraction(failures: ExtractionFailures) -> list[Diagnostic]:
    """One warning per modality some patients lost entirely in extraction (the first ten named)."""
    out = []
    for modality, ids in sorted(failures.lost.items()):
        total = failures.with_data.get(modality)
        shown = ", ".join(ids[:10]) + (", ..." if len(ids) > 10 else "")
        out.append(
            Diagnostic(
                "MODALITY_LOST_IN_EXTRACTION",
                "warning",
                f"{modality}: {len(ids)}{f' of {total}' if total else ''} patients with {modality} data have "
                f"none of its features ({shown}); see Extraction failures",
                details={"modality": modality, "patients": ids},
            )
        )
    return out
