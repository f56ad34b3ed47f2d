"""The run's ``summary.md`` and its headline (per task: the best model and the largest fusion gain).

The headline is data (:class:`TaskHeadline`): the summary writes it as Markdown, the command line prints
it as plain text. The rest of the summary repeats the report's tables in Markdown, then the diagnostics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from reports.comparisons import POOLING_NOTE, DefaultComparisons, comparison_text, ranked_models
from reports.diagnostics import Diagnostic, ExtractionFailures
from reports.formatting import fmt_ci, markdown_escape
from reports.tables import Table

NO_PREDICTIONS = "- No model produced predictions; see Failed cells."
PDF_NOT_BUILT = "report.pdf was not built (the LaTeX sources are in report.tex):"


@dataclass(frozen=True)
class TaskHeadline:
    """One task's headline: ``best`` (None when no model could be scored) and ``fusion_gain``."""

    task: str
    task_type: str
    best: str | None
    fusion_gain: str | None = None

    def lines(self, *, markdown: bool = False) -> list[str]:
        """Plain text lines, or Markdown (task name bold, the gain indented under its list item, every
        name escaped)."""
        esc = markdown_escape if markdown else str
        name = f"**{esc(self.task)}**" if markdown else self.task
        if self.best is None:
            return [f"- {name}: no model could be scored."]
        out = [f"- {name} ({esc(self.task_type)}): {esc(self.best)}."]
        if self.fusion_gain is not None:
            out.append(("  " if markdown else "") + f"Largest fusion gain: {esc(self.fusion_gain)}.")
        return out


def task_headline(task: str, task_type: str, perf: pd.DataFrame, comps: DefaultComparisons) -> TaskHeadline:
    """The best model of ``task`` by AUC (with CI) and its fused model with the largest ΔAUC."""
    ranked = ranked_models(perf, task)
    if ranked.empty:
        return TaskHeadline(task, task_type, None)
    b = ranked.iloc[0]
    kind = "AUC" if task_type == "binary" else "macro OvR AUC"
    best = f"best model {b['model']}, {kind} {fmt_ci(b['auc'], b['auc_low'], b['auc_high'])}"
    fam = comps.family("fusion_vs_best_unimodal", task)
    gain = comparison_text(fam.loc[fam["delta_auc"].idxmax()]) if len(fam) else None
    return TaskHeadline(task, task_type, best, gain)


def headline_text(headline: Sequence[TaskHeadline], *, markdown: bool = False) -> list[str]:
    """The headline lines of every task (a single line when there is no task)."""
    if not headline:
        return [NO_PREDICTIONS]
    return [line for h in headline for line in h.lines(markdown=markdown)]


def summary_markdown(
    provenance: Mapping[str, Any],
    headline: Sequence[TaskHeadline],
    perf_tables: Sequence[Table],
    comp_tables: Sequence[Table],
    failed_table: Table | None,
    diagnostics: Sequence[Diagnostic],
    *,
    n_boot: int,
    level: float,
    adjust: str,
    pdf_error: str | None = None,
    extraction: ExtractionFailures | None = None,
    excluded: Sequence[str] = (),
) -> str:
    """The text of ``summary.md``; ``pdf_error`` (why pdflatex failed) is stated under the headline;
    ``extraction`` gives the section "Extraction failures" (counts, and the patients who lost a modality),
    ``excluded`` the sentences of "Left out by validation"."""
    prov = provenance or {}
    git = prov.get("git", {}) if isinstance(prov.get("git"), dict) else {}
    lines = ["# cdbench run summary", ""]
    lines += [
        f"Run: config hash `{prov.get('config_hash', '?')}`, seed {prov.get('seed', '?')}, "
        f"git `{(git.get('commit') or prov.get('git_commit') or '?')}`, created {prov.get('created_utc', '?')}.",
        "",
        "## Headline",
        "",
        *headline_text(headline, markdown=True),
        "",
        *([f"**{PDF_NOT_BUILT}** {markdown_escape(pdf_error)}", ""] if pdf_error else []),
        f"_{POOLING_NOTE} Binary AUC CIs: DeLong; multiclass macro OvR AUC CIs: percentile bootstrap over "
        f"patients ({n_boot} resamples); ROC bands: bootstrap ({n_boot}). Comparisons: p adjusted within "
        f"each family ({adjust}); level {level:g}._",
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
    if excluded:
        lines += ["## Left out by validation", "", *(f"- {markdown_escape(t)}" for t in excluded), ""]
    if extraction is not None:
        lines += ["## Extraction failures", "", *(f"- {markdown_escape(t)}" for t in extraction.lines()), ""]
        table = extraction.table()
        if table is not None:
            lines += [table.to_markdown(), ""]
    lines += ["## Diagnostics", ""]
    if diagnostics:
        lines += [
            f"- `{d.code}` ({d.severity}){f' [{markdown_escape(d.task)}]' if d.task else ''}: "
            f"{markdown_escape(d.message)}"
            for d in diagnostics
        ]
    else:
        lines.append("No diagnostics.")
    lines.append("")
    return "\n".join(lines)
