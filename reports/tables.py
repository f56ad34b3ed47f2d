"""Publication tables built from data frames, written as LaTeX (booktabs), Markdown and CSV.

Every table is a :class:`Table`: the raw numbers (``data``, saved as CSV), the formatted cells
(``display``), which cells are bold, a caption, a label and notes. Only packages shipped with
texlive-latex-base/recommended are used (booktabs, graphicx; longtable for long tables).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
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


# --- "has a modality": the one definition every table, figure and CSV of the report reads -----------
MODALITY_DEFINITION = (
    "A patient has a modality when the run holds at least one feature value of it for that patient: the "
    "modality's data is in the cohort tables and its extraction did not fail (a failed extraction counts "
    "as missing). This is what the models see; every table, figure and CSV of the report uses it."
)
"""The definition stated in the report (cohort summary ``features_<modality>``, written at run time by the
same rule as the ``pattern`` column of the predictions)."""


def modality_flags(cohort: pd.DataFrame) -> pd.DataFrame:
    """Per patient (index ``patient_id``), one boolean column per modality: whether the patient has it.

    Reads the cohort summary's ``features_<modality>`` columns (the definition above); a run folder written
    before they existed falls back to ``avail_<modality>`` (data present in the cohort tables).
    """
    ids = cohort["patient_id"].astype(str) if "patient_id" in cohort.columns else cohort.index.astype(str)
    out = pd.DataFrame(index=pd.Index(ids.to_numpy(), name="patient_id"))
    for m in MODALITIES:
        for col in (f"features_{m}", f"avail_{m}"):
            if col in cohort.columns:
                out[m] = cohort[col].fillna(False).astype(bool).to_numpy()
                break
    return out


def modality_patterns(cohort: pd.DataFrame) -> pd.Series:
    """Per patient, the canonical name of the modalities they have (:func:`modality_flags`), e.g.
    ``imaging+pro``; ``none`` for a patient with none."""
    flags = modality_flags(cohort)
    mods = list(flags.columns)
    values = flags.to_numpy(bool)
    return pd.Series(
        [modality_set_name([m for m, v in zip(mods, row, strict=True) if v]) for row in values],
        index=flags.index,
        dtype=object,
        name="pattern",
    )


def with_modality_patterns(pooled: pd.DataFrame, cohort: pd.DataFrame) -> pd.DataFrame:
    """``pooled`` (predictions) with its ``pattern`` column read from the cohort summary
    (:func:`modality_patterns`), so every per-pattern statistic uses the one definition; unchanged when the
    run has no cohort summary or the summary does not name a patient."""
    if cohort.empty or "patient_id" not in cohort.columns or not len(modality_flags(cohort).columns):
        return pooled
    by_patient = modality_patterns(cohort)
    mapped = pooled["patient_id"].astype(str).map(by_patient)
    stored = pooled["pattern"] if "pattern" in pooled.columns else pd.Series(None, index=pooled.index)
    return pooled.assign(pattern=mapped.where(mapped.notna(), stored))


def _group_levels(values: pd.Series, order: tuple[str, ...]) -> list[str]:
    present = set(values.dropna().astype(str))
    return [g for g in order if g in present] + sorted(present - set(order))


# --- Table 1: cohort characteristics ----------------------------------------------------------------
_CATEGORICAL_HINT = ("sex", "site", "montreal_location", "montreal_behaviour", "perianal", "montreal_l4")
_TABLE1_SKIP_PREFIXES = ("avail_", "features_", "n_reports_")
_TABLE1_SKIP = ("patient_id", "modality_pattern")
MAX_LEVELS = 20
"""A non-numeric column with more distinct values than this (identifiers, dates) is left out of Table 1."""
NO_ENDPOINT = "No endpoint"
_BINARY_LEVELS = ({0, 1}, {False, True}, {"no", "yes"}, {"0", "1"})
_LABELS = {
    "sex": "Sex",
    "age": "Age",
    "site": "Site",
    "montreal_location": "Montreal location",
    "montreal_behaviour": "Montreal behaviour",
    "perianal": "Perianal disease",
    "crp": "CRP",
    "calprotectin": "Faecal calprotectin",
    "leukocytes": "Leukocytes",
    "ses_cd": "SES-CD",
    "maria": "MaRIA",
    "cdai": "CDAI",
    "hbi": "HBI",
    "report_language": "Report language",
}


def _binary_positive(values: pd.Series) -> object | None:
    """The positive level of a binary variable (1, True, "yes"), or None when it is not binary."""
    present = set(values.dropna().tolist())
    if not present:
        return None
    norm = {str(v).lower() if isinstance(v, str) else v for v in present}
    for levels in _BINARY_LEVELS:
        if norm <= levels and len(levels) == 2:
            pos = sorted(levels, key=str)[-1]  # 1, True, "yes" and "1" sort last
            return next((v for v in present if (str(v).lower() if isinstance(v, str) else v) == pos), pos)
    return None


def _pct(k: int, d: int) -> str:
    return f"{k} ({100.0 * k / d:.1f})" if d else MISSING


def cohort_table(
    cohort: pd.DataFrame, *, group: str = "severity", order: tuple[str, ...] = SEVERITY_CLASSES
) -> Table:
    """Table 1: patient characteristics overall, by ``group`` class and for patients without it.

    Policy: the class columns and "No endpoint" (patients whose ``group`` is missing) partition the
    cohort, so their n sum to the overall n. Binary variables (0/1, yes/no, True/False) are one row,
    n (%) of the positive level; other categorical variables one row per level, n (%); percentages are of
    the patients with a value in that column. Continuous variables: mean (SD) for age, otherwise median
    [IQR], of the patients with a value. Missing (n) counts the patients without a value, whole cohort.
    The modality rows use :func:`modality_flags` (:data:`MODALITY_DEFINITION`).
    """
    cohort = cohort.reset_index(drop=True)
    df = cohort[
        [
            c
            for c in cohort.columns
            if c not in (*_TABLE1_SKIP, group) and not c.startswith(_TABLE1_SKIP_PREFIXES)
        ]
    ].copy()
    for m, has in modality_flags(cohort).items():
        df[f"has_{m}"] = has.to_numpy()
    gvals = cohort[group] if group in cohort.columns else pd.Series(np.nan, index=cohort.index)
    levels = _group_levels(gvals, order)
    gstr = gvals.astype(object).where(gvals.notna(), None).map(lambda v: None if v is None else str(v))
    columns: list[tuple[str, np.ndarray]] = [("Overall", np.ones(len(cohort), bool))]
    columns += [(g, (gstr == g).to_numpy()) for g in levels]
    columns.append((NO_ENDPOINT, gstr.isna().to_numpy()))
    names = [c for c, _ in columns]

    records: list[dict[str, Any]] = []  # the tidy data (CSV)
    display_rows: list[dict[str, str]] = []

    def add(label: str, level: str, cells: dict[str, str], missing: str) -> None:
        display_rows.append({"Characteristic": label, "Level": level, **cells, "Missing (n)": missing})

    add("n", "", {c: str(int(sel.sum())) for c, sel in columns}, "")
    for c, sel in columns:
        records.append({"variable": "n", "level": "", "statistic": "n", "column": c, "n": int(sel.sum())})
    skipped = []
    for var in df.columns:
        s = df[var]
        label = _LABELS.get(var, f"Has {var[4:]}" if var.startswith("has_") else var.replace("_", " "))
        n_missing = int(s.isna().sum())
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        positive = _binary_positive(s)
        if positive is not None:
            hit = (s == positive).to_numpy()
            known = s.notna().to_numpy()
            cells = {}
            for c, sel in columns:
                k, d = int((hit & sel).sum()), int((known & sel).sum())
                cells[c] = _pct(k, d)
                records.append({"variable": var, "level": str(positive), "statistic": "count", "column": c,
                                "n": k, "denominator": d})  # fmt: skip
            add(f"{label}, n (%)", "", cells, str(n_missing))
        elif numeric and var not in _CATEGORICAL_HINT:
            x = pd.to_numeric(s, errors="coerce").to_numpy(float)
            mean_sd = var == "age"
            cells = {}
            for c, sel in columns:
                v = x[sel & np.isfinite(x)]
                rec = {"variable": var, "level": "", "column": c, "n": int(v.size)}
                if mean_sd:
                    mu, sd = (float(v.mean()), float(v.std(ddof=1))) if v.size > 1 else (np.nan, np.nan)
                    cells[c] = f"{fmt_num(mu, 1)} ({fmt_num(sd, 1)})" if v.size else MISSING
                    records.append({**rec, "statistic": "mean_sd", "mean": mu, "sd": sd})
                else:
                    q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75]) if v.size else (np.nan,) * 3
                    digits = 0 if np.all(np.mod(v, 1) == 0) and v.size else 1
                    cells[c] = (
                        f"{fmt_num(med, digits)} [{fmt_num(q1, digits)}, {fmt_num(q3, digits)}]"
                        if v.size
                        else MISSING
                    )
                    records.append({**rec, "statistic": "median_iqr", "median": med, "q1": q1, "q3": q3})
            stat = "mean (SD)" if mean_sd else "median [IQR]"
            add(f"{label}, {stat}", "", cells, str(n_missing))
        else:
            vals = s.astype(object).where(s.notna(), None).map(lambda v: None if v is None else str(v))
            lv = sorted(set(vals.dropna()))
            if len(lv) > MAX_LEVELS:
                skipped.append(var)
                continue
            known = vals.notna().to_numpy()
            for i, level in enumerate(lv):
                hit = (vals == level).to_numpy()
                cells = {}
                for c, sel in columns:
                    k, d = int((hit & sel).sum()), int((known & sel).sum())
                    cells[c] = _pct(k, d)
                    records.append({"variable": var, "level": level, "statistic": "count", "column": c,
                                    "n": k, "denominator": d})  # fmt: skip
                add(f"{label}, n (%)", level, cells, str(n_missing) if i == 0 else "")
    display = pd.DataFrame(display_rows, columns=["Characteristic", "Level", *names, "Missing (n)"])
    data = pd.DataFrame(
        records,
        columns=[
            "variable",
            "level",
            "statistic",
            "column",
            "n",
            "denominator",
            "mean",
            "sd",
            "median",
            "q1",
            "q3",
        ],
    )
    notes = [
        "Continuous variables: mean (SD) for age, otherwise median [IQR]; binary variables: n (%) of the "
        "positive level; other categorical variables: n (%) per level. Percentages and summaries are of "
        "the patients with a value in that column; Missing (n): patients without a value, whole cohort.",
        f"{NO_ENDPOINT}: patients without a {group.replace('_', ' ')} class; the class columns and "
        f"{NO_ENDPOINT} sum to Overall.",
        f"Has imaging / text / pro: {MODALITY_DEFINITION}",
    ]
    if skipped:
        notes.append(f"Left out (more than {MAX_LEVELS} distinct values): {', '.join(skipped)}.")
    return Table(
        name="table1_cohort",
        data=data,
        display=display,
        caption=f"Patient characteristics overall and by {group.replace('_', ' ')} class (Table 1).",
        label="tab:cohort",
        notes=notes,
        group_by="Characteristic",
        align="ll" + "r" * (len(display.columns) - 2),
    )


# --- modality availability -------------------------------------------------------------------------
def availability_frame(
    cohort: pd.DataFrame, *, group: str = "severity", task_patients: Mapping[str, Iterable[str]] | None = None
) -> pd.DataFrame:
    """Availability patterns (e.g. ``imaging+pro``, from :func:`modality_flags`) with counts overall, by
    ``group`` class, for patients without one (:data:`NO_ENDPOINT`) and, per task of ``task_patients``
    (task -> its patients, those with a known endpoint), column ``<task> (n)``."""
    flags = modality_flags(cohort)
    mods = list(flags.columns)
    pattern = modality_patterns(cohort)
    out = pd.DataFrame({"pattern": pattern.to_numpy()})
    for m in mods:
        out[m] = flags[m].to_numpy()
    frame = out.groupby("pattern", sort=False).agg(**{m: (m, "first") for m in mods}, n=("pattern", "size"))
    frame["percent"] = 100.0 * frame["n"] / max(len(cohort), 1)
    if group in cohort.columns:
        g = cohort[group].astype(object).where(cohort[group].notna(), NO_ENDPOINT).astype(str).to_numpy()
        by = pd.crosstab(out["pattern"].to_numpy(), g)
        levels = _group_levels(cohort[group], SEVERITY_CLASSES)
        for lv in [*levels, NO_ENDPOINT]:
            frame[lv] = by[lv].reindex(frame.index, fill_value=0).astype(int) if lv in by else 0
    for task, ids in (task_patients or {}).items():
        of_task = pattern[pattern.index.isin(set(map(str, ids)))]
        frame[f"{task} (n)"] = of_task.value_counts().reindex(frame.index, fill_value=0).astype(int)
    return frame.sort_values("n", ascending=False, kind="stable").reset_index()


def availability_table(
    cohort: pd.DataFrame, *, group: str = "severity", task_patients: Mapping[str, Iterable[str]] | None = None
) -> Table:
    """Patients per availability pattern (:data:`MODALITY_DEFINITION`), overall, by class and per task
    (the patients each task's per-pattern results are computed on)."""
    frame = availability_frame(cohort, group=group, task_patients=task_patients)
    mods = [m for m in MODALITIES if m in frame.columns]
    display = pd.DataFrame({"Pattern": frame["pattern"]})
    for m in mods:
        display[m] = np.where(frame[m], "yes", MISSING)
    display["n"] = frame["n"].astype(int).astype(str)
    display["%"] = frame["percent"].map(lambda v: fmt_num(v, 1))
    for g in frame.columns[len(mods) + 3 :]:
        display[str(g)] = frame[g].astype(int).astype(str)
    counts = ", ".join(f"{m}: {int(frame.loc[frame[m], 'n'].sum())}" for m in mods)
    notes = [f"Patients with each modality: {counts}; N = {int(frame['n'].sum())}.", MODALITY_DEFINITION]
    if task_patients:
        notes.append(
            "Task columns (n): the task's patients (endpoint known) with that pattern, as in the task's "
            "per-pattern figure and missingness diagnostics."
        )
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
    "fusion_vs_components": "Best fusion of each set vs its modalities and the best single modality",
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


DEEP_TRAINING_COLUMNS = ("n_epochs", "seconds_per_epoch", "fit_seconds", "peak_memory_mb", "device")


def deep_training_frame(cells: pd.DataFrame) -> pd.DataFrame:
    """Per model that trained a deep network: its finished cells, epochs (mean, min, max over the cells),
    mean seconds per epoch, mean fit seconds per cell (tuning included), largest peak memory and the
    devices. Empty when no cell trained one (the columns come from ``models.deep.deep_stats``)."""
    keys = [k for k in MODEL_KEYS if k in cells.columns]
    if "n_epochs" not in cells.columns:
        return pd.DataFrame(columns=[*keys, "n_cells"])
    done = cells[(cells["status"].astype(str) == "ok") & cells["n_epochs"].notna()]
    rows = []
    for key, g in done.groupby(keys, sort=True):
        epochs = g["n_epochs"].astype(float)
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "n_cells": len(g),
                "epochs_mean": float(epochs.mean()),
                "epochs_min": int(epochs.min()),
                "epochs_max": int(epochs.max()),
                "seconds_per_epoch": float(g["seconds_per_epoch"].astype(float).mean()),
                "fit_seconds": float(g["fit_seconds"].astype(float).mean()),
                "peak_memory_mb": float(g["peak_memory_mb"].astype(float).max()),
                "device": ",".join(sorted({d for v in g["device"].astype(str) for d in v.split(",")})),
            }
        )
    return pd.DataFrame(rows)


def deep_training_table(cells: pd.DataFrame) -> Table:
    """How the deep networks trained: epochs, seconds per epoch, fit time, peak memory, device per model."""
    frame = deep_training_frame(cells)
    display = pd.DataFrame(
        {
            "Task": frame["task"],
            "Modality set": frame["modality_set"],
            "Fusion": frame["fusion"],
            "Estimator": frame["estimator"],
            "Cells": frame["n_cells"].astype(int).astype(str),
            "Epochs (range)": [
                f"{m:.1f} ({lo}-{hi})"
                for m, lo, hi in zip(
                    frame["epochs_mean"], frame["epochs_min"], frame["epochs_max"], strict=True
                )
            ],
            "s/epoch": frame["seconds_per_epoch"].map(lambda v: f"{v:.2f}"),
            "Fit s/cell": frame["fit_seconds"].map(lambda v: f"{v:.0f}"),
            "Peak MB": frame["peak_memory_mb"].map(lambda v: MISSING if not np.isfinite(v) else f"{v:.0f}"),
            "Device": frame["device"],
        }
    )
    return Table(
        name="table_deep_training",
        data=frame,
        display=display,
        caption="Training of the deep networks (the final fit of each outer fold).",
        label="tab:deep_training",
        notes=[
            "Epochs: trained epochs of the final fit of each cell (early stopping on an inner validation "
            "split), summed over the networks of a fused model; mean (min-max) over the cells. s/epoch: "
            "mean wall seconds per epoch. Fit s/cell: mean wall seconds of a cell's fitting, Optuna tuning "
            "included. Peak MB: largest peak resident memory of a final fit.",
        ],
        group_by="Task",
        align="lllllrrrrl",
    )
