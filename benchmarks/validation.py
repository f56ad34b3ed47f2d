"""Problems found in a cohort folder, and the report that lists them all."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

SEVERITIES = ("error", "warning")


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


@dataclass
class ValidationReport:
    """Every problem found in one pass over a cohort folder, plus per-modality counts.

    ``counts`` maps ``"patients"`` to ``{"total": n}``, each modality to ``{"available", "missing",
    "rows", "rows_excluded"}`` (patients with / without usable data, table rows, rows excluded) and
    ``"endpoints"`` to the number of patients with a value for each endpoint column present.
    """

    root: Path
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    check_images: str = "header"

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


class CohortError(Exception):
    """The cohort has fatal problems; ``report`` holds every problem found."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.format())
