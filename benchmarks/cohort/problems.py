"""Problems found in a cohort folder, the log that collects them during a pass, and the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.cohort import schema

SEVERITIES = ("error", "warning")
EXCLUDED_COLUMNS = (schema.PATIENT_ID, "file", "row", "field", "reason")
"""Columns of ``Cohort.excluded``: one row for each piece of data a problem keeps out of the cohort."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the cohort, located by file, row, patient and field.

    ``severity`` is ``"error"`` when the affected data cannot be used (it is excluded and recorded in
    ``Cohort.excluded``) and ``"warning"`` when it is kept but looks wrong. ``fatal`` errors make the
    whole cohort unusable (a missing ``patients.csv``, a missing required column, duplicated patient
    ids, a path leaving the folder): validation fails and ``load_cohort`` refuses to load. ``file`` is
    the CSV table, or for image problems the image path as written in ``imaging.csv``. Messages never
    quote report text.
    """

    severity: str
    patient_id: str | None
    file: str
    field: str | None
    message: str
    row: int | None = None
    fatal: bool = False

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")
        if self.fatal and self.severity != "error":
            raise ValueError("only errors can be fatal")

    def format(self) -> str:
        label = "FATAL" if self.fatal else self.severity.upper()
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.patient_id is not None:
            where.append(f"patient {self.patient_id}")
        if self.field:
            where.append(f"field {self.field}")
        return f"{label:7s} {', '.join(where)}: {self.message}"


class ProblemLog:
    """The problems of one validation pass, in the order found, and the data they exclude.

    ``strict`` makes every error fatal.
    """

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self.problems: list[Problem] = []
        self.excluded: list[dict[str, Any]] = []

    @property
    def fatal(self) -> bool:
        return any(p.fatal for p in self.problems)

    def add(
        self,
        severity: str,
        file: str,
        message: str,
        *,
        patient: str | None = None,
        field: str | None = None,
        row: int | None = None,
        fatal: bool = False,
    ) -> None:
        fatal = fatal or (self.strict and severity == "error")
        self.problems.append(Problem(severity, patient, file, field, message, row, fatal))

    def exclude(
        self, patient: str | None, file: str, row: int | None, field: str | None, reason: str
    ) -> None:
        self.excluded.append(dict(zip(EXCLUDED_COLUMNS, (patient, file, row, field, reason), strict=True)))

    def error_excluding(
        self,
        file: str,
        message: str,
        *,
        patient: str | None,
        field: str | None,
        row: int | None,
        fatal: bool = False,
        excluded_file: str | None = None,
    ) -> None:
        """An error whose data is left out: recorded once as a problem and once in ``excluded``."""
        self.add("error", file, message, patient=patient, field=field, row=row, fatal=fatal)
        self.exclude(patient, excluded_file or file, row, field, message)

    def excluded_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.excluded, columns=list(EXCLUDED_COLUMNS))


@dataclass
class ValidationReport:
    """Every problem found in one pass over a cohort folder, plus per-modality counts.

    ``counts`` maps ``"patients"`` to ``{"total": n}``, each modality to ``{"available", "missing",
    "rows", "rows_excluded"}`` (patients with / without usable data, table rows, rows excluded) and
    ``"endpoints"`` to the number of patients with a value for each endpoint column present. ``notes``
    are lines printed after the counts that are not problems (what the selection rules kept and why).
    """

    root: Path
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    check_images: str = "header"
    notes: list[str] = field(default_factory=list)

    @property
    def fatal(self) -> bool:
        return any(p.fatal for p in self.problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def find(self, **criteria: object) -> list[Problem]:
        """Problems whose attributes equal every criterion given, e.g. ``find(patient_id="P1", field="mask")``."""
        unknown = set(criteria) - set(Problem.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown Problem attribute(s): {sorted(unknown)}")
        return [p for p in self.problems if all(getattr(p, k) == v for k, v in criteria.items())]

    def to_frame(self) -> pd.DataFrame:
        cols = ["severity", "fatal", "file", "row", "patient_id", "field", "message"]
        return pd.DataFrame([{c: getattr(p, c) for c in cols} for p in self.problems], columns=cols)

    def format(self) -> str:
        """The full report: summary, counts, then every problem (fatal first, then errors, warnings)."""
        n_fatal = sum(p.fatal for p in self.problems)
        n_err = len(self.errors)
        lines = [
            f"Cohort {self.root} (image checks: {self.check_images})",
            f"{self.counts.get('patients', {}).get('total', 0)} patients; "
            f"{n_err} errors ({n_fatal} fatal), {len(self.warnings)} warnings",
        ]
        for name, c in self.counts.items():
            if name in ("patients", "endpoints"):
                continue
            lines.append(
                f"  {name:8s} available {c.get('available', 0)}, missing {c.get('missing', 0)} "
                f"({c.get('rows', 0)} rows, {c.get('rows_excluded', 0)} excluded)"
            )
        if self.counts.get("endpoints"):
            lines.append("  endpoints " + ", ".join(f"{k} {v}" for k, v in self.counts["endpoints"].items()))
        lines.extend(self.notes)
        order = {True: 0, False: 1}
        ranked = sorted(
            enumerate(self.problems), key=lambda ip: (order[ip[1].fatal], ip[1].severity != "error", ip[0])
        )
        lines.extend(p.format() for _, p in ranked)
        if self.fatal:
            lines.append(f"INVALID: {n_fatal} fatal problem(s); fix them before running anything.")
        elif n_err:
            lines.append(
                f"USABLE: {n_err} error(s) exclude the affected data (listed above); no fatal problem."
            )
        else:
            lines.append("VALID")
        return "\n".join(lines)


class UserError(Exception):
    """A problem with what the user gave (a folder, a file, a setting), not a bug in cdbench.

    The message says what is wrong, where (patient, file, field when there is one) and how to fix it;
    the command line prints it without a traceback and exits non-zero.
    """


class CohortError(UserError):
    """The cohort has fatal problems; ``report`` holds every problem found."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.format())
