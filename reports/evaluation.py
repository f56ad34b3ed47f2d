"""The report sections of the clinical evaluation: modality Shapley values, decision curves, calibration and
subgroups, each computed by its own module from the repeat-pooled predictions (nothing is refitted).

Which models: the curves and the calibration/decision-curve table show the best model of each modality set
(:func:`reports.task_figures.figure_models`), at most :data:`MAX_UTILITY_MODELS` per panel, best first;
decision curves compare them on the patients they all predicted. Shapley values are computed for every
estimator and fusion whose modality subsets all have a model. Subgroups: the CSV has the best model of each
modality set, the table and figure the best model of the task. Decision curves and calibration are for
binary tasks; a multiclass task is skipped with a note in the report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from benchmarks.store import REPORT_FIGURES_DIR
from reports import calibration as C
from reports import decision_curve as D
from reports import subgroups as G
from reports.comparisons import ModelPredictions
from reports.figures import save_figure
from reports.formatting import slug
from reports.latex import FigureEntry, Section
from reports.shapley import shapley_report
from reports.tables import Table
from reports.task_figures import figure_models

MAX_UTILITY_MODELS = 4
"""Models per decision-curve and calibration panel (more would be unreadable)."""


def evaluation_sections(
    models_by_task: Mapping[str, Mapping[tuple, ModelPredictions]],
    task_types: Mapping[str, str],
    perf: pd.DataFrame,
    cohort: pd.DataFrame,
    fig_dir: Path,
    save: Callable[[Table], str],
    *,
    n_boot: int,
    level: float,
    seed: int,
) -> tuple[list[Section], dict[str, dict[str, Path]]]:
    """The four sections (tables saved with ``save``, which returns the path report.tex inputs) and the
    figures saved into ``fig_dir`` (by stem)."""
    figs: dict[str, dict[str, Path]] = {}
    pct = int(round(level * 100))

    def figure(kind: str, task: str, fig, data: pd.DataFrame, caption: str) -> FigureEntry:
        name = f"{kind}_{slug(task)}"
        figs[name] = save_figure(fig, data, fig_dir, name)
        return FigureEntry(
            f"{REPORT_FIGURES_DIR}/{name}.pdf", caption, f"fig:{kind.replace('_', '-')}-{slug(task)}"
        )

    tasks = list(models_by_task)
    binary = [t for t in tasks if task_types[t] == "binary"]
    skipped = [t for t in tasks if task_types[t] != "binary"]
    skip_note = (
        [
            f"Multiclass tasks ({', '.join(skipped)}) are not shown: they have no single predicted risk to threshold."
        ]
        if skipped
        else []
    )
    sections = []

    # modality contributions
    table, shap_figs, entries = shapley_report(models_by_task, fig_dir, n_boot=n_boot, level=level, seed=seed)
    figs.update(shap_figs)
    shap_text = [
        "Shapley value of a modality: its average gain in AUC when added to each subset of the other "
        "modalities, from the stored predictions of the models trained on every subset (HAIM's definition; "
        "the empty set is the prior-only baseline, AUC 0.5). The values of one model add up to its AUC minus 0.5."
    ]
    if not len(table.data):  # the notes say which modality sets each estimator and fusion lacks
        shap_text += [
            "No estimator and fusion has a model for every subset of the modalities.",
            *table.notes[2:],
        ]
    sections.append(
        Section(
            "Modality contributions (Shapley values)",
            paragraphs=shap_text,
            tables=[save(table)] if len(table.data) else [],
            figures=entries,
        )
    )

    # decision curves and calibration (binary tasks)
    dca_frames, cal_frames, dca_entries, cal_entries = [], [], [], []
    for task in binary:
        models = models_by_task[task]
        keys = figure_models(perf, task)
        shown = [models[k] for k in keys[:MAX_UTILITY_MODELS]]
        if not shown:
            continue
        try:
            frame = D.decision_curve_frame(shown)
        except ValueError as exc:
            skip_note.append(f"{task}: no decision curve ({exc}).")
        else:
            dca_frames.append(frame)
            dca_entries.append(
                figure(
                    "decision_curve",
                    task,
                    D.decision_curve_figure(frame, title=f"{task}: decision curves"),
                    frame,
                    f"{task}: net benefit of the best model of each modality set (at most {MAX_UTILITY_MODELS}), "
                    f"treat all and treat none, thresholds 0.01-0.99, on the {int(frame['n'].iat[0])} patients "
                    "every shown model predicted.",
                )
            )
        summary, bins, smooth = C.calibration_frame(
            [models[k] for k in keys], n_boot=n_boot, level=level, seed=seed
        )
        cal_frames.append(summary)
        top = set(m.label for m in shown)
        bins_top, smooth_top = bins[bins["model"].isin(top)], smooth[smooth["model"].isin(top)]
        cal_entries.append(
            figure(
                "calibration",
                task,
                C.calibration_figure(bins_top, smooth_top, title=f"{task}: calibration"),
                bins_top,
                f"{task}: observed fraction positive against the mean predicted probability in quantile bins "
                f"(up to {C.N_BINS}, at least {C.MIN_PER_BIN} patients each; the legend gives the patients per "
                f"bin) with {pct}% Wilson CIs, and a LOWESS curve, for the best model of each modality set "
                f"(at most {MAX_UTILITY_MODELS}). Below: distribution of the predicted probabilities.",
            )
        )
    dca_tables = (
        [save(D.decision_curve_table(pd.concat(dca_frames, ignore_index=True)))] if dca_frames else []
    )
    sections.append(
        Section(
            "Clinical utility (decision curves)",
            paragraphs=skip_note if dca_tables else [*skip_note, "No binary task: no decision curve."],
            tables=dca_tables,
            figures=dca_entries,
        )
    )
    cal_tables = (
        [save(C.calibration_table(pd.concat(cal_frames, ignore_index=True), level=level))]
        if cal_frames
        else []
    )
    sections.append(
        Section(
            "Calibration",
            paragraphs=skip_note if cal_tables else [*skip_note, "No binary task: no calibration."],
            tables=cal_tables,
            figures=cal_entries,
        )
    )

    # subgroups
    sub_frames, best_labels, sub_entries = [], [], []
    have = [v for v in G.SUBGROUP_VARIABLES if v in G.subgroup_columns(cohort).columns]
    for task in tasks if have else []:
        keys = figure_models(perf, task)
        if not keys:
            continue
        models = models_by_task[task]
        frame = G.model_subgroups([models[k] for k in keys], cohort, n_boot=n_boot, level=level, seed=seed)
        best = models[keys[0]].label
        best_labels.append(best)
        sub_frames.append(frame)
        sub_entries.append(
            figure(
                "subgroups",
                task,
                G.subgroup_figure(frame, model=best, title=f"{task}: AUC by subgroup, {best}"),
                frame[frame["model"] == best],
                f"{task}: AUC ({pct}% bootstrap CI) of the best model ({best}) per site, sex, age band and "
                f"Montreal location; groups with fewer than {G.MIN_CLASS} patients in a class are too small "
                "to estimate. Dashed: AUC on all patients.",
            )
        )
    sub_tables = (
        [save(G.subgroup_table(pd.concat(sub_frames, ignore_index=True), shown=best_labels, level=level))]
        if sub_frames
        else []
    )
    sections.append(
        Section(
            "Subgroups",
            paragraphs=[]
            if sub_tables
            else ["The cohort summary has no site, sex, age or Montreal location."],
            tables=sub_tables,
            figures=sub_entries,
        )
    )
    return sections, figs
