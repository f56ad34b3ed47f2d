"""Publication tables built from data frames, written as LaTeX (booktabs), Markdown and CSV.

Every table is a :class:`Table`: the raw numbers (``data``, saved as CSV), the formatted cells
(``display``), which cells are bold, a caption, a label and notes. Only packages shipped with
texlive-latex-base/recommended are used (booktabs, graphicx; longtable for long tables).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.cohort.schema import MODALITIES, SEVERITY_CLASSES, modality_set_name
from benchmarks.store import BASELINE_SET, MODEL_KEYS, write_csv, write_text
from reports.formatting import (
    MISSING,
    fmt_ci,
    fmt_interval,
    fmt_num,
    fmt_p,
    latex_escape,
    markdown_escape,
    slug,
)

LONG_TABLE_ROWS = 40
"""Tables with more body rows than this are written as a longtable (they would not fit one page)."""


@dataclass
class Table:
    """A table: raw ``data`` (CSV), formatted ``display`` cells, bold mask, caption, label and notes."""

    name: str
    data: pd.DataFrame
    display: pd.DataFrame
    caption: str
    label: str
    notes: list[str] = field(default_factory=list)
    bold: pd.DataFrame | None = None
    group_by: str | None = None
    group_rows: bool = False  # the group column becomes a header row above each group
    align: str | None = None

    def _bold(self, i: int, j: int) -> bool:
        return bool(self.bold is not None and self.bold.iat[i, j])

    def _rows(self) -> list[tuple[bool, list[str]]]:
        """(starts_new_group, cells) per row; repeated group values are blanked."""
        out, prev = [], object()
        cols = list(self.display.columns)
        gj = cols.index(self.group_by) if self.group_by in cols else None
        for i in range(len(self.display)):
            cells = [str(v) for v in self.display.iloc[i].tolist()]
            new_group = False
            if gj is not None:
                new_group = i > 0 and cells[gj] != prev
                prev = cells[gj]
                if i > 0 and not new_group:
                    cells[gj] = ""
            out.append((new_group, cells))
        return out

    def _layout(self) -> tuple[list[int], list[tuple[str | None, int, list[str]]]]:
        """Shown column indices and body rows as (group header or None, row index, cells)."""
        cols = list(self.display.columns)
        gj = cols.index(self.group_by) if self.group_by in cols else None
        shown = [j for j in range(len(cols)) if not (self.group_rows and j == gj)]
        rows: list[tuple[str | None, int, list[str]]] = []
        for i, (new_group, cells) in enumerate(self._rows()):
            header = None
            if self.group_rows and gj is not None and (i == 0 or new_group):
                header = cells[gj]
            elif new_group:
                header = ""
            rows.append((header, i, cells))
        return shown, rows

    def to_latex(self) -> str:
        cols = list(self.display.columns)
        shown, rows = self._layout()
        align = self.align or "".join(
            "l" if self.display[cols[j]].map(lambda v: not _numeric_looking(v)).any() else "r" for j in shown
        )
        header = " & ".join(latex_escape(cols[j]) for j in shown) + r" \\"
        body = []
        for group, i, cells in rows:
            if group is not None:
                if i > 0:
                    body.append(r"\midrule")
                if group:
                    body.append(
                        r"\multicolumn{" + str(len(shown)) + r"}{l}{\textit{" + latex_escape(group) + r"}} \\"
                    )
            tex = [
                (r"\textbf{" + latex_escape(cells[j]) + "}")
                if self._bold(i, j) and cells[j]
                else latex_escape(cells[j])
                for j in shown
            ]
            body.append(" & ".join(tex) + r" \\")
        notes = " ".join(latex_escape(n) for n in self.notes)
        caption = latex_escape(self.caption)
        if len(self.display) > LONG_TABLE_ROWS:
            lines = [
                r"{\footnotesize",
                r"\begin{longtable}{" + align + "}",
                r"\caption{" + caption + r"}\label{" + self.label + r"}\\",
                r"\toprule",
                header,
                r"\midrule",
                r"\endfirsthead",
                r"\toprule",
                header,
                r"\midrule",
                r"\endhead",
                r"\bottomrule",
                r"\endfoot",
                *body,
            ]
            if notes:
                lines += [
                    r"\midrule",
                    r"\multicolumn{" + str(len(shown)) + r"}{p{0.9\linewidth}}{" + notes + r"}\\",
                ]
            lines += [r"\end{longtable}", "}"]
            return "\n".join(lines) + "\n"
        lines = [
            r"\begin{table}",
            r"\centering",
            r"\caption{" + caption + "}",
            r"\label{" + self.label + "}",
            r"\small",
            r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
            r"\begin{tabular}{" + align + "}",
            r"\toprule",
            header,
            r"\midrule",
            *body,
            r"\bottomrule",
            r"\end{tabular}}",
        ]
        if notes:
            lines += [r"\par\smallskip", r"\parbox{\linewidth}{\footnotesize " + notes + "}"]
        lines.append(r"\end{table}")
        return "\n".join(lines) + "\n"

    def to_markdown(self) -> str:
        cols = list(self.display.columns)
        shown, rows = self._layout()
        lines = [f"**{markdown_escape(self.caption)}**", ""]
        lines.append("| " + " | ".join(markdown_escape(cols[j]) for j in shown) + " |")
        lines.append("|" + "|".join("---" for _ in shown) + "|")
        for group, i, cells in rows:
            if group and self.group_rows:
                lines.append(
                    "| " + " | ".join([f"_{markdown_escape(group)}_"] + [""] * (len(shown) - 1)) + " |"
                )
            md = [
                f"**{markdown_escape(cells[j])}**"
                if self._bold(i, j) and cells[j]
                else markdown_escape(cells[j])
                for j in shown
            ]
            lines.append("| " + " | ".join(md) + " |")
        if self.notes:
            lines += ["", *(f"_{markdown_escape(n)}_" for n in self.notes)]
        return "\n".join(lines) + "\n"

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``<name>.tex``, ``<name>.md`` and ``<name>.csv`` (the raw data) into ``out_dir``."""
        paths = {fmt: Path(out_dir) / f"{self.name}.{fmt}" for fmt in ("tex", "md", "csv")}
        write_text(self.to_latex(), paths["tex"])
        write_text(self.to_markdown(), paths["md"])
        write_csv(self.data, paths["csv"])
        return paths


def _numeric_looking(v: object) -> bool:
    s = str(v).strip()
    return s in ("", MISSING) or bool(re.fullmatch(r"[<>]?-?\d[\d.,]*( \(.*\))?%?( \[.*\])?", s))


def _task_table(kind: str, task: str, **fields: Any) -> Table:
    """A table of one task: name ``table_<kind>_<task slug>``, label ``tab:<kind with hyphens>-<task slug>``."""
    return Table(
        name=f"table_{kind}_{slug(task)}", label=f"tab:{kind.replace('_', '-')}-{slug(task)}", **fields
    )


def _ci_cells(frame: pd.DataFrame, estimate: str, low: str, high: str) -> list[str]:
    """``estimate (low, high)`` cells from three columns of ``frame``."""
    return [fmt_ci(e, lo, hi) for e, lo, hi in zip(frame[estimate], frame[low], frame[high], strict=True)]


# --- Table 1: cohort characteristics ----------------------------------------------------------------
_CATEGORICAL_HINT = ("sex", "site", "montreal_location", "montreal_behaviour", "perianal", "montreal_l4")


def cohort_table(
    cohort: pd.DataFrame, *, group: str = "severity", order: tuple[str, ...] = SEVERITY_CLASSES
) -> Table:
    """Table 1: patient characteristics by ``group`` (severity class) with missing-data counts (tableone)."""
    from tableone import TableOne

    skip = {"patient_id", group}
    df = cohort[[c for c in cohort.columns if not c.startswith(("features_", "n_reports_"))]].copy()
    avail = [c for c in df.columns if c.startswith("avail_") or pd.api.types.is_bool_dtype(df[c])]
    for c in avail:  # flags as yes/no counts
        df[c] = df[c].map({True: "yes", False: "no"}).astype(object)
    columns = [c for c in df.columns if c not in skip]
    categorical = [
        c for c in columns if c in _CATEGORICAL_HINT or c in avail or not pd.api.types.is_numeric_dtype(df[c])
    ]
    for c in categorical:  # tableone counts None as a level; NaN is counted as missing
        df[c] = df[c].astype(object).where(df[c].notna(), np.nan)
    continuous = [c for c in columns if c not in categorical]
    nonnormal = [c for c in continuous if c != "age"]
    levels = [g for g in order if g in set(df[group].dropna())] + sorted(set(df[group].dropna()) - set(order))
    t1 = TableOne(
        df,
        columns=columns,
        categorical=categorical,
        continuous=continuous,
        nonnormal=nonnormal,
        groupby=group,
        order={group: levels},
        missing=True,
        pval=False,
        overall=True,
    ).tableone
    t1 = t1.copy()
    t1.columns = [c[-1] for c in t1.columns]
    t1 = t1.reset_index()
    t1.columns = ["Characteristic", "Level", *t1.columns[2:]]
    level_missing = t1["Level"].astype(str).isin(["None", "nan", "<NA>"]) & (t1["Level"].astype(str) != "")
    t1 = t1.astype(str).replace({"nan": "", "None": "", "<NA>": ""})
    t1.loc[level_missing, "Level"] = "(missing)"
    # tableone counts a missing category as a level; the Missing column is filled here for every variable
    var = t1["Characteristic"].str.split(",").str[0]
    first = ~var.duplicated()
    t1["Missing"] = [
        str(int(df[v].isna().sum())) if f and v in df.columns else "" for v, f in zip(var, first, strict=True)
    ]
    t1["Characteristic"] = t1["Characteristic"].str.replace("median [Q1,Q3]", "median [IQR]", regex=False)
    display = t1[["Characteristic", "Level", "Overall", *levels, "Missing"]]
    display.columns = ["Characteristic", "Level", "Overall", *levels, "Missing (n)"]
    return Table(
        name="table1_cohort",
        data=display.copy(),
        display=display,
        caption=f"Patient characteristics by {group.replace('_', ' ')} class (Table 1).",
        label="tab:cohort",
        notes=[
            "Continuous variables: mean (SD) when near-normal (age), otherwise median [IQR]; categorical: n (%).",
            "Missing (n): patients without a value, whole cohort. Continuous summaries exclude missing values; "
            "categorical percentages are of all patients, with missing values as the level (missing).",
            "avail_<modality>: whether the patient has that modality.",
        ],
        group_by="Characteristic",
        align="ll" + "r" * (len(display.columns) - 2),
    )


# --- modality availability -------------------------------------------------------------------------
def availability_frame(cohort: pd.DataFrame, *, group: str = "severity") -> pd.DataFrame:
    """Availability patterns (e.g. ``imaging+pro``) with counts overall and by ``group``."""
    mods = [m for m in MODALITIES if f"avail_{m}" in cohort.columns]
    flags = cohort[[f"avail_{m}" for m in mods]].fillna(False).astype(bool)
    pattern = flags.apply(lambda r: modality_set_name([m for m, v in zip(mods, r, strict=True) if v]), axis=1)
    out = pd.DataFrame({"pattern": pattern})
    for m in mods:
        out[m] = flags[f"avail_{m}"].to_numpy()
    frame = out.groupby("pattern", sort=False).agg(**{m: (m, "first") for m in mods}, n=("pattern", "size"))
    frame["percent"] = 100.0 * frame["n"] / len(cohort)
    if group in cohort.columns:
        by = pd.crosstab(pattern, cohort[group])
        levels = [g for g in SEVERITY_CLASSES if g in by.columns] + [
            g for g in by.columns if g not in SEVERITY_CLASSES
        ]
        frame = frame.join(by[levels])
    return frame.sort_values("n", ascending=False, kind="stable").reset_index()


def availability_table(cohort: pd.DataFrame, *, group: str = "severity") -> Table:
    frame = availability_frame(cohort, group=group)
    mods = [m for m in MODALITIES if m in frame.columns]
    display = pd.DataFrame({"Pattern": frame["pattern"]})
    for m in mods:
        display[m] = np.where(frame[m], "yes", MISSING)
    display["n"] = frame["n"].astype(int).astype(str)
    display["%"] = frame["percent"].map(lambda v: fmt_num(v, 1))
    for g in frame.columns[len(mods) + 3 :]:
        display[str(g)] = frame[g].astype(int).astype(str)
    counts = ", ".join(f"{m}: {int(frame.loc[frame[m], 'n'].sum())}" for m in mods)
    notes = [f"Patients with each modality: {counts}; N = {int(frame['n'].sum())}."]
    by_language = [c for c in cohort.columns if c.startswith("n_reports_")]
    if by_language:  # reports per language (cohort summary: given in reports.csv or detected)
        langs = ", ".join(
            f"{c.removeprefix('n_reports_').replace('_language', '')}: {int(cohort[c].sum())}"
            for c in by_language
        )
        notes.append(f"Reports by language: {langs}.")
    return Table(
        name="table_availability",
        data=frame,
        display=display,
        caption="Modality availability patterns (patients per pattern, overall and by class).",
        label="tab:availability",
        notes=notes,
    )


# --- model performance -----------------------------------------------------------------------------
PERFORMANCE_COLUMNS: dict[str, tuple[str, str]] = {
    "auc": ("AUC (95% CI)", "max"),
    "balanced_accuracy": ("Bal. acc.", "max"),
    "f1": ("F1", "max"),
    "brier": ("Brier", "min"),
}


def performance_table(
    perf: pd.DataFrame, *, task: str, task_type: str, level: float = 0.95, notes=()
) -> Table:
    """Model performance of one task, grouped by modality set and fusion; the best value per column bold.

    ``perf`` has one row per model: MODEL_KEYS, n, auc, auc_low, auc_high, balanced_accuracy, f1, brier.
    """
    frame = perf[perf["task"] == task].copy()
    # the prior-only baseline (modality set "none") first, then single modalities, then fusions
    frame["_k"] = frame["modality_set"].map(
        lambda s: (0, "") if s == BASELINE_SET else (len(s.split("+")), s)
    )
    frame = frame.sort_values(["_k", "fusion", "estimator"], kind="stable").drop(columns="_k")
    frame = frame.reset_index(drop=True)
    pct = int(round(level * 100))
    display = pd.DataFrame(
        {
            "Modality set": frame["modality_set"],
            "Fusion": frame["fusion"],
            "Estimator": frame["estimator"],
            "n": frame["n"].astype(int).astype(str),
            f"AUC ({pct}% CI)": _ci_cells(frame, "auc", "auc_low", "auc_high"),
            "Bal. acc.": frame["balanced_accuracy"].map(fmt_num),
            "F1": frame["f1"].map(fmt_num),
            "Brier": frame["brier"].map(fmt_num),
        }
    )
    bold = pd.DataFrame(False, index=display.index, columns=display.columns)
    for key, col in zip(PERFORMANCE_COLUMNS, [f"AUC ({pct}% CI)", "Bal. acc.", "F1", "Brier"], strict=True):
        vals = frame[key].to_numpy(float).round(3)
        vals[frame["modality_set"].to_numpy() == BASELINE_SET] = np.nan  # the baseline is never "best"
        if np.isfinite(vals).any():
            best = np.nanmax(vals) if PERFORMANCE_COLUMNS[key][1] == "max" else np.nanmin(vals)
            bold[col] = vals == best
    f1_kind = "F1 of the positive class" if task_type == "binary" else "macro F1"
    auc_kind = "AUC" if task_type == "binary" else "macro one-vs-rest AUC"
    return _task_table(
        "performance",
        task,
        data=frame,
        display=display,
        caption=f"Model performance, task {task} ({task_type}).",
        notes=[
            f"{auc_kind} with {pct}% CI; balanced accuracy and {f1_kind} at the most probable class; "
            "Brier score (lower is better). Bold: best value per column (the prior-only baseline, modality "
            "set none, excluded).",
            *notes,
        ],
        bold=bold,
        group_by="Modality set",
    )


# --- pairwise comparisons --------------------------------------------------------------------------
FAMILY_TITLES = {
    "fusion_vs_best_unimodal": "Fusion vs best unimodal (same estimator)",
    "vs_best_overall": "vs best overall",
    "top_pairs": "Pairs among the top models",
}


def comparison_table(summary: pd.DataFrame, *, task: str, level: float = 0.95, notes=()) -> Table:
    """Pairwise comparisons of one task: ΔAUC with CI, DeLong p, adjusted p and the family."""
    frame = summary[summary["task"] == task].reset_index(drop=True)
    pct = int(round(level * 100))
    display = pd.DataFrame(
        {
            "Family": frame["family"].map(lambda f: FAMILY_TITLES.get(f, f)),
            "Model A": frame["model_a"],
            "Model B": frame["model_b"],
            "n": frame["n"].astype(int).astype(str),
            f"ΔAUC ({pct}% CI)": _ci_cells(frame, "delta_auc", "ci_low", "ci_high"),
        }
    )
    delong_rows = (
        frame["test"].astype(str).eq("DeLong").to_numpy() if "test" in frame else np.ones(len(frame), bool)
    )
    if "boot_ci_low" in frame and frame.loc[delong_rows, "boot_ci_low"].notna().any():
        display[f"Bootstrap {pct}% CI"] = [
            fmt_interval(lo, hi) for lo, hi in zip(frame["boot_ci_low"], frame["boot_ci_high"], strict=True)
        ]
    display["p"] = frame["p_value"].map(fmt_p)
    display["p adj."] = frame["p_adjusted"].map(fmt_p)
    methods = sorted(set(frame["adjust_method"].dropna())) if len(frame) else []
    tests = sorted(set(frame["test"].dropna())) if len(frame) else []
    bold = pd.DataFrame(False, index=display.index, columns=display.columns)
    bold["p adj."] = frame["p_adjusted"].to_numpy(float) < (1 - level)
    return _task_table(
        "comparisons",
        task,
        data=frame,
        display=display,
        caption=f"Pairwise model comparisons, task {task}.",
        notes=[
            "ΔAUC = AUC(A) - AUC(B) on the patients both models predicted.",
            f"Test: {', '.join(tests) or '-'}; p adjusted within each family ({', '.join(methods) or '-'}); "
            f"bold: adjusted p < {1 - level:.2f}.",
            *notes,
        ],
        bold=bold,
        group_by="Family",
        group_rows=True,
    )


def failed_cells_table(cells: pd.DataFrame) -> Table:
    """Cells whose status is not ``ok``, one row per model with the failed repeats/folds and the errors."""
    failed = cells[cells["status"].astype(str) != "ok"].copy()
    keys = [k for k in MODEL_KEYS if k in failed.columns]
    rows = []
    totals = cells.groupby(keys, sort=True, dropna=False).size() if keys else None
    for key, g in failed.groupby(keys, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        n_total = int(totals.loc[key if len(key) > 1 else key[0]]) if totals is not None else len(g)
        if len(g) == n_total:
            where = f"all {n_total}"
        elif {"repeat", "fold"} <= set(g.columns):
            where = ", ".join(f"r{r}/f{f}" for r, f in zip(g["repeat"], g["fold"], strict=True))
        else:
            where = ""
        errors = g["error"] if "error" in g.columns else pd.Series([""] * len(g))
        first_lines = sorted({str(e).splitlines()[0] if str(e).strip() else "" for e in errors.fillna("")})
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "n_failed": len(g),
                "n_cells": n_total,
                "status": ", ".join(sorted(set(g["status"].astype(str)))),
                "where": where,
                "error": "; ".join(e for e in first_lines if e)[:200],
            }
        )
    frame = pd.DataFrame(rows, columns=[*keys, "n_failed", "n_cells", "status", "where", "error"])
    display = frame.drop(columns="n_cells").rename(
        columns={"n_failed": "failed cells", "where": "repeat/fold"}
    )
    display = display.astype(str)
    display.columns = [str(c).replace("_", " ").capitalize() for c in display.columns]
    return Table(
        name="table_failed_cells",
        data=frame,
        display=display,
        caption="Cells that did not finish (status other than ok).",
        label="tab:failed",
        notes=["A model with failed cells is scored on the predictions of its finished cells only."],
        align="l" * len(display.columns),
    )


def per_class_table(frame: pd.DataFrame, *, task: str, level: float = 0.95) -> Table:
    """One-vs-rest AUC (DeLong CI) per class (columns) for each model (rows) of a multiclass task."""
    sub = frame[frame["task"] == task]
    pct = int(round(level * 100))
    classes = list(dict.fromkeys(sub["class"]))
    models = list(dict.fromkeys(sub["model"]))
    cell = {
        (m, c): fmt_ci(a, lo, hi)
        for m, c, a, lo, hi in zip(
            sub["model"], sub["class"], sub["auc"], sub["auc_low"], sub["auc_high"], strict=True
        )
    }
    display = pd.DataFrame({"Model": models})
    for c in classes:
        n_pos = int(sub.loc[sub["class"] == c, "n_pos"].iat[0])
        display[f"{c} (n={n_pos})"] = [cell.get((m, c), MISSING) for m in models]
    return _task_table(
        "per_class",
        task,
        data=sub.reset_index(drop=True),
        display=display,
        caption=f"One-vs-rest AUC per class, task {task} (best model of each modality set).",
        notes=[f"AUC of each class against the rest with its DeLong {pct}% CI; n = patients of the class."],
    )
