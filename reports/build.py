"""Rebuild every table, figure, ``report.tex`` (+ PDF) and ``summary.md`` of a run from its result files.

The run is read through :func:`benchmarks.store.load_run` (stored out-of-fold predictions, metrics,
cells, cohort summary, provenance, tasks); nothing is refitted. The statistics live in
:mod:`reports.comparisons`, the findings in :mod:`reports.diagnostics`, the figures in
:mod:`reports.task_figures` and the summary in :mod:`reports.summary`; this module only orders them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmarks.cohort.language import REPORT_LANGUAGE_COLUMN
from benchmarks.store import (
    REPORT_DIR,
    REPORT_FIGURES_DIR,
    REPORT_TABLES_DIR,
    SUMMARY_MD,
    internal_rows,
    load_run,
    write_csv,
    write_text,
)
from reports import tables as T
from reports.comparisons import (
    POOLING_NOTE,
    DefaultComparisons,
    default_comparisons,
    per_class_auc_frame,
    performance_frame,
    pool_predictions,
    split_models,
    task_classes,
)
from reports.diagnostics import (
    MISSINGNESS_TABLE,
    Diagnostic,
    diagnose_run,
    diagnostics_table,
    extraction_failures,
    failed_cells,
    missingness_frame,
    validation_exclusions,
)
from reports.evaluation import evaluation_sections
from reports.latex import FigureEntry, LatexError, Section, compile_pdf, write_report_tex
from reports.summary import headline_text, summary_markdown, task_headline
from reports.task_figures import figure_models, task_figures
from reports.transport import site_and_robustness_sections
from reports.tripod import TRIPOD_MD, tripod_checklist, tripod_markdown, tripod_table

log = logging.getLogger(__name__)


@dataclass
class ReportPaths:
    """Where :func:`build_report` wrote everything, its diagnostics and its headline (plain text lines)."""

    out_dir: Path
    tables: dict[str, dict[str, Path]]
    figures: dict[str, dict[str, Path]]
    report_tex: Path
    report_pdf: Path | None
    summary_md: Path
    diagnostics: list[Diagnostic]
    headline: list[str] = field(default_factory=list)
    pdf_error: str | None = None
    seconds: float = 0.0


def _cohort_tables(cohort: pd.DataFrame, pooled: pd.DataFrame | None = None) -> list[T.Table]:
    """Table 1 and the availability table (with each task's patients per pattern, from ``pooled``)."""
    if cohort.empty:
        return []
    out = []
    if "severity" in cohort.columns:
        out.append(T.cohort_table(cohort))
    if len(T.modality_flags(cohort).columns):
        tasks = {} if pooled is None else {t: g["patient_id"].unique() for t, g in pooled.groupby("task")}
        out.append(T.availability_table(cohort, task_patients=tasks))
    return out


def _report_languages(cohort: pd.DataFrame) -> dict[str, str] | None:
    """Patient id -> language group of the reports, from the cohort summary (None when it has none)."""
    if REPORT_LANGUAGE_COLUMN not in cohort.columns or cohort.empty:
        return None
    return dict(
        zip(
            cohort["patient_id"].astype(str),
            cohort[REPORT_LANGUAGE_COLUMN].fillna("").astype(str),
            strict=True,
        )
    )


def _task_tables(
    task: str,
    task_type: str,
    perf: pd.DataFrame,
    comps: DefaultComparisons,
    *,
    n_boot: int,
    level: float,
    paired_bootstrap: bool,
) -> tuple[T.Table, T.Table]:
    """The performance and the comparison table of one task, with the notes on how CIs were computed."""
    notes = [POOLING_NOTE]
    if task_type != "binary":
        notes.append(f"Macro OvR AUC CI: percentile bootstrap over patients, {n_boot} resamples.")
    else:
        notes.append("AUC CI: DeLong.")
    cnotes = [POOLING_NOTE]
    if paired_bootstrap and task_type == "binary":
        cnotes.append(f"Bootstrap CI: paired percentile bootstrap over patients, {n_boot} resamples.")
    return (
        T.performance_table(perf, task=task, task_type=task_type, level=level, notes=notes),
        T.comparison_table(comps.summary, task=task, level=level, notes=cnotes),
    )


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

    ``pdf``: build ``report.pdf``; when pdflatex is installed but fails, ``pdf_error`` holds why and
    ``summary.md`` says so (the command line then exits non-zero); without pdflatex the PDF is skipped.
    ``out_dir`` defaults to the run's report folder. ``n_boot`` resamples are used for multiclass AUC CIs,
    ROC bands and (with ``paired_bootstrap``) a bootstrap CI of every ΔAUC beside the DeLong CI.
    Same inputs and seed give identical files.
    """
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir / REPORT_DIR
    tab_dir, fig_dir = out_dir / REPORT_TABLES_DIR, out_dir / REPORT_FIGURES_DIR
    tab_dir.mkdir(parents=True, exist_ok=True)
    fig_dir.mkdir(parents=True, exist_ok=True)
    run = load_run(run_dir)
    every_prediction = run["predictions"]  # with the site folds and harmonised models: reports.transport
    run["predictions"] = internal_rows(every_prediction)  # what every other table reads
    pred, cells, tasks = run["predictions"], run["cells"], run["tasks"]

    # "has a modality": the cohort summary's one definition, for every per-pattern statistic
    pooled = T.with_modality_patterns(pool_predictions(pred), run["cohort_summary"])
    task_list = sorted(pooled["task"].unique())
    classes = {t: task_classes(tasks, t, pooled) for t in task_list}
    task_types = {t: ttype for t, (ttype, _) in classes.items()}
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
    diagnostics = diagnose_run(run, pooled, miss, {t: names for t, (_, names) in classes.items()})

    saved_tables: dict[str, dict[str, Path]] = {}

    def save(t: T.Table) -> str:
        saved_tables[t.name] = t.save(tab_dir)
        return f"{REPORT_TABLES_DIR}/{t.name}.tex"

    sections: list[Section] = []
    cohort_paths = [save(t) for t in _cohort_tables(run["cohort_summary"], pooled)]
    if cohort_paths:
        sections.append(Section("Cohort", paragraphs=[T.MODALITY_DEFINITION], tables=cohort_paths))

    perf_tables, comp_tables = [], []
    for task in task_list:
        perf_table, comp_table = _task_tables(
            task, task_types[task], perf, comps, n_boot=n_boot, level=level, paired_bootstrap=paired_bootstrap
        )
        perf_tables.append(perf_table)
        comp_tables.append(comp_table)
    for task in task_list:  # one-vs-rest detail for multiclass tasks
        ttype, names = classes[task]
        if ttype != "binary":
            models = split_models(pooled, task, len(names))
            frame = per_class_auc_frame(models, figure_models(perf, task), names, level=level)
            if len(frame):
                perf_tables.append(T.per_class_table(frame, task=task, level=level))
    failed_table = T.failed_cells_table(cells) if len(failed_cells(cells)) else None
    n_models = perf.groupby("task").size().to_dict() if len(perf) else {}
    sections.append(
        Section(
            "Model performance",
            paragraphs=[f"Task {t}: {n_models.get(t, 0)} models ({task_types[t]})." for t in task_list],
            tables=[save(t) for t in perf_tables],
        )
    )
    sections.append(Section("Pairwise comparisons", tables=[save(t) for t in comp_tables]))
    if len(T.deep_training_frame(cells)):
        sections.append(
            Section(
                "Deep networks",
                paragraphs=["How each deep network trained, per model: epochs, time and memory per cell."],
                tables=[save(T.deep_training_table(cells))],
            )
        )
    if failed_table is not None:
        sections.append(Section("Failed cells", tables=[save(failed_table)]))
    excluded = validation_exclusions(run)
    sections.append(Section("Left out by validation", paragraphs=excluded))
    extraction = extraction_failures(run)
    extraction_table = extraction.table()
    sections.append(
        Section(
            "Extraction failures",
            paragraphs=extraction.lines(),
            tables=[save(extraction_table)] if extraction_table is not None else [],
        )
    )

    saved_figs: dict[str, dict[str, Path]] = {}
    fig_entries: list[FigureEntry] = []
    report_language = _report_languages(run["cohort_summary"])
    for task in task_list:
        models = split_models(pooled, task, len(classes[task][1]))
        figs, entries = task_figures(
            task,
            task_types[task],
            models,
            perf,
            comps,
            fig_dir,
            n_boot=n_boot,
            level=level,
            seed=seed,
            report_language=report_language,
        )
        saved_figs.update(figs)
        fig_entries += entries
    sections.append(Section("Figures", figures=fig_entries))
    evaluation, evaluation_figs = evaluation_sections(
        {t: split_models(pooled, t, len(classes[t][1])) for t in task_list},
        task_types, perf, run["cohort_summary"], fig_dir, save, n_boot=n_boot, level=level, seed=seed,
    )  # fmt: skip
    sections += evaluation
    saved_figs.update(evaluation_figs)
    external, external_figs = site_and_robustness_sections(
        {**run, "predictions": every_prediction}, fig_dir, save, n_boot=n_boot, seed=seed
    )
    sections += external
    saved_figs.update(external_figs)

    write_csv(miss, tab_dir / f"{MISSINGNESS_TABLE}.csv")  # the chi-square frame beside the table
    sections.append(Section("Diagnostics", tables=[save(diagnostics_table(diagnostics))]))
    # TRIPOD+AI last: it points to the tables written above
    tripod = tripod_checklist(
        run, perf, run_dir=run_dir, tables_dir=tab_dir, level=level, diagnostics=diagnostics
    )
    write_text(tripod_markdown(tripod, run_name=run_dir.name), out_dir / TRIPOD_MD)
    sections.append(Section("TRIPOD+AI checklist", tables=[save(tripod_table(tripod))], appendix=True))

    tex = write_report_tex(
        out_dir,
        "cdbench benchmark report",
        sections,
        preface=[
            f"Run folder: {run_dir.name}. Rebuilt from stored out-of-fold predictions only.",
            POOLING_NOTE,
        ],
    )
    pdf_path, pdf_error = None, None
    if pdf:
        try:
            pdf_path = compile_pdf(tex)
        except (LatexError, OSError) as exc:  # the sources are written; the caller decides the exit code
            pdf_error = str(exc)
            log.warning("%s not built: %s", tex.with_suffix(".pdf").name, exc)
    headline = [task_headline(t, task_types[t], perf, comps) for t in task_list]
    summary_md = write_text(
        summary_markdown(
            run["provenance"], headline, perf_tables, comp_tables, failed_table, diagnostics,
            n_boot=n_boot, level=level, adjust=comps.adjust, pdf_error=pdf_error, extraction=extraction,
            excluded=excluded,
        ),
        out_dir / SUMMARY_MD,
    )  # fmt: skip
    return ReportPaths(
        out_dir=out_dir,
        tables=saved_tables,
        figures=saved_figs,
        report_tex=tex,
        report_pdf=pdf_path,
        summary_md=summary_md,
        diagnostics=diagnostics,
        headline=headline_text(headline),
        pdf_error=pdf_error,
        seconds=time.perf_counter() - t0,
    )
