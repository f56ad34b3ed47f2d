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
from benchmarks.store import CELLS, MODEL_KEYS
from reports.formatting import fmt_num, fmt_p
from reports.tables import Table

LABEL_FROM_FEATURE_AUC = 0.99
"""A feature whose univariate AUC (either direction) reaches this alone separates the label."""
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
    "LABEL_DERIVED_FROM_FEATURE": "one feature alone separates a task's label: the endpoint is likely computed from it",
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
        *diagnose_label_features(run["feature_label_checks"]),
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
                    f"(chi-square p = {fmt_p(r.p_value)}; missing by class: {rate_txt}); a model may learn "
                    "the label from the missingness pattern",
                    task=r.task,
                    details={"modality": r.modality, "p_value": r.p_value, "chi2": r.chi2},
                )
            )
    return out


# --- features and hyperparameters --------------------------------------------------------------------------
def diagnose_label_features(checks: pd.DataFrame) -> list[Diagnostic]:
    """Flag features whose univariate AUC (either direction) reaches ``LABEL_FROM_FEATURE_AUC``."""
    if checks.empty:
        return []
    hits = checks[checks["separation"] >= LABEL_FROM_FEATURE_AUC]
    out = []
    for task, g in hits.groupby("task", sort=True):
        names = ", ".join(f"{r.feature} (AUC {fmt_num(r.auc)})" for r in g.head(5).itertuples())
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
