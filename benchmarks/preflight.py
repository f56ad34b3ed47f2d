"""Checks of a cohort against the run's configuration, made before any cell runs.

Policy:

- tasks: a task whose endpoint gives fewer than two classes among the patients (a single class, or
  no patient with a value, or no such column) cannot be learned or scored. When a run starts
  (``all``, ``matrix``) every configured task is checked and such a task is an error (``TaskError``)
  that names the task, the endpoint, the class counts and the fix, before anything is extracted or
  fitted. ``validate`` checks every task of the task file whose endpoint the cohort has and lists the
  ones with a single class as warnings of ``patients.csv``, field the endpoint.
- modalities: a modality that no patient has features for (its table absent or empty, every row
  excluded by validation, or every case failed extraction) is a modality with zero patients; the
  modality sets that need it are left out of the matrix, with a line saying so, and the run goes on.
  Nothing left to run is an error.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.cohort import Problem, UserError, ValidationReport, schema
from benchmarks.cohort.loading import inspect_cohort
from benchmarks.experiment.config import RunConfig, TaskDef, load_tasks
from benchmarks.experiment.taskdata import encode_labels


class TaskError(UserError):
    """Configured tasks that cannot run on this cohort; the message lists each one and the fix."""


def task_problems(tasks: dict[str, TaskDef], endpoints: pd.DataFrame, severity: str) -> list[Problem]:
    """One problem (of ``severity``) per task with fewer than two classes among the patients."""
    out = []
    for name, task in tasks.items():
        why = _single_class(task, endpoints)
        if why is not None:
            fix = (
                f"check the {task.endpoint} column of {schema.PATIENTS_FILE}, or leave {name!r} out of "
                "`tasks` in the run's configuration (--config FILE)"
            )
            message = f"task {name!r} ({task.description or task.type}): {why}; {fix}"
            out.append(Problem(severity, None, schema.PATIENTS_FILE, task.endpoint, message))
    return out


def _single_class(task: TaskDef, endpoints: pd.DataFrame) -> str | None:
    """Why the task has fewer than two classes among the patients, or None when it has two or more."""
    if task.endpoint not in endpoints:
        return f"the endpoint column {task.endpoint!r} is not in {schema.PATIENTS_FILE}"
    try:
        y = encode_labels(endpoints, task)
    except ValueError as exc:
        return str(exc)
    if y.empty:
        return f"no patient has a {task.endpoint} value"
    counts = y.value_counts()
    if len(counts) >= 2:
        return None
    names = task.class_names
    return (
        f"all {len(y)} patients with a {task.endpoint} value are in one class ({names[int(counts.index[0])]!r}), "
        "so the task cannot be learned or scored"
    )


def check_tasks(config: RunConfig, endpoints: pd.DataFrame) -> None:
    """Raise ``TaskError`` when a configured task has fewer than two classes among the patients."""
    problems = task_problems(config.task_defs(), endpoints, "error")
    if problems:
        lines = [p.format() for p in problems]
        raise TaskError(f"{len(problems)} configured task(s) cannot run on this cohort:\n" + "\n".join(lines))


def validate_with_tasks(
    path: str | os.PathLike[str],
    *,
    check_images: str = "header",
    tasks_file: str | Path | None = None,
    selection: Any = None,
) -> ValidationReport:
    """``validate_cohort``'s report (listing what the ``selection`` rules keep) plus a warning for each
    task of ``tasks_file`` (default: the shipped task definitions) whose endpoint the cohort has but that
    has a single class among its patients."""
    report, tables = inspect_cohort(path, check_images, strict=False, selection=selection)
    if tables is not None and tables.patients is not None:
        tasks = {n: t for n, t in load_tasks(tasks_file).items() if t.endpoint in tables.patients.columns}
        report.problems.extend(task_problems(tasks, tables.patients, "warning"))
    return report


def drop_empty_modalities(config: RunConfig, blocks: dict[str, pd.DataFrame]) -> tuple[RunConfig, list[str]]:
    """The configuration without the modality sets that need a modality no patient has features for,
    and one line per such modality saying what was left out; ``UserError`` when nothing is left."""
    empty = [m for m in schema.MODALITIES if m not in blocks or blocks[m].empty]
    sets = config.modality_set_names()
    notes = []
    for m in empty:
        needing = [s for s in sets if m in s.split("+")]
        if needing:
            notes.append(
                f"no patient has {m} features ({schema.MODALITY_FILES[m]} absent or empty, every row "
                f"excluded, or every case failed extraction): leaving out the {len(needing)} modality "
                f"set(s) that need it: {', '.join(needing)}"
            )
    kept = [s for s in sets if not set(s.split("+")) & set(empty)]
    if not kept:
        raise UserError(
            f"no configured modality set can run: no patient has features for {', '.join(empty)}; "
            "check the cohort with `python -m benchmarks.run validate --cohort DIR` and the extraction "
            "failures (extraction_failures.parquet in the run folder)"
        )
    if len(kept) == len(sets):
        return config, notes
    return dataclasses.replace(config, modality_sets=kept), notes
