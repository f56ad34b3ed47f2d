"""The validation pass over a cohort folder, and the ``Cohort`` built from the tables it validated.

The pass also applies the selection rules (``benchmarks.cohort.selection``): the ``Cohort`` sees, for
each patient, the kept scan per image modality, the kept reports and the kept questionnaire; what was
kept and why is ``Cohort.selection`` and is printed in the validation report."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmarks.cohort import schema
from benchmarks.cohort.image_checks import ImageChecker
from benchmarks.cohort.problems import CohortError, ProblemLog, ValidationReport
from benchmarks.cohort.selection import Selection, select, selection_rules
from benchmarks.cohort.tables import ModalityTable
from benchmarks.cohort.validate_imaging import validate_imaging
from benchmarks.cohort.validate_patients import present_endpoints, validate_patients
from benchmarks.cohort.validate_pro import validate_pro
from benchmarks.cohort.validate_reports import validate_reports

SelectionSetting = str | Mapping[str, str] | None
"""A rule name for every modality, a mapping modality -> rule, or None (``selection.DEFAULT_SELECTION``)."""


@dataclass
class ValidatedTables:
    """What a validation pass keeps: the patient table, one ``ModalityTable`` per modality (in
    ``schema.MODALITIES`` order: every usable row, the candidates), the record of everything excluded,
    the rows the selection rules kept (``selected``, per modality) and the ``Selection``."""

    patients: pd.DataFrame | None
    modalities: dict[str, ModalityTable]
    excluded: pd.DataFrame
    selected: dict[str, pd.DataFrame] = field(default_factory=dict)
    selection: Selection | None = None


def inspect_cohort(
    path: str | os.PathLike[str], check_images: str, strict: bool, selection: SelectionSetting = None
) -> tuple[ValidationReport, ValidatedTables | None]:
    """One pass: every table checked, every problem collected (None for the tables without a folder),
    then the selection rules applied to the usable rows (``SelectionError`` for an unknown rule, before
    anything is read).

    Without a usable patients.csv the other tables are still checked (all but the unknown-patient
    test), so that one run lists every problem.
    """
    rules = selection_rules(selection)
    images = ImageChecker(check_images)
    root = Path(path)
    log = ProblemLog(strict)
    if not root.is_dir():
        log.add("error", str(root), "cohort folder not found", fatal=True)
        return ValidationReport(root=root, problems=log.problems, check_images=check_images), None
    patients = validate_patients(root, log)
    known = None if patients is None else set(patients.index)
    modalities = {
        "imaging": validate_imaging(root, known, log, images),
        "text": validate_reports(root, known, log),
        "pro": validate_pro(root, known, log),
    }
    for table in modalities.values():
        _typed_visits(table.frame)
    selected, chosen = select({m: t.frame for m, t in modalities.items()}, rules, _endpoint_dates(patients))
    report = ValidationReport(
        root=root,
        problems=log.problems,
        counts=_counts(patients, modalities),
        check_images=check_images,
        notes=chosen.lines(),
    )
    return report, ValidatedTables(patients, modalities, log.excluded_frame(), selected, chosen)


def _typed_visits(frame: pd.DataFrame) -> None:
    """Timepoints as nullable integers (validated whole numbers; None when missing)."""
    if schema.TIMEPOINT_COLUMN in frame.columns:
        frame[schema.TIMEPOINT_COLUMN] = frame[schema.TIMEPOINT_COLUMN].astype("Int64")


def _endpoint_dates(patients: pd.DataFrame | None) -> dict[str, str | None]:
    col = schema.ENDPOINT_DATE_COLUMN
    if patients is None or col not in patients.columns:
        return {}
    return {str(p): (None if pd.isna(v) else str(v)) for p, v in patients[col].items()}


def _counts(patients: pd.DataFrame | None, modalities: dict[str, ModalityTable]) -> dict[str, dict[str, int]]:
    n = len(patients) if patients is not None else 0
    counts: dict[str, dict[str, int]] = {"patients": {"total": n}}
    for modality, table in modalities.items():
        have = table.patient_ids
        counts[modality] = {
            "available": len(have),
            "missing": n - len(have) if patients is not None else 0,
            "rows": table.n_rows,
            "rows_excluded": table.n_rows - len(table.frame),
        }
    if patients is not None:
        counts["endpoints"] = {c: int(patients[c].notna().sum()) for c in present_endpoints(patients.columns)}
    return counts


def validate_cohort(
    path: str | os.PathLike[str],
    *,
    check_images: str = "header",
    strict: bool = False,
    selection: SelectionSetting = None,
) -> ValidationReport:
    """Check a cohort folder and return every problem found (the folder is only read, never written).

    ``check_images``: ``"header"`` (default: geometry from headers, a cheap truncation test, mask voxels
    for the emptiness test), ``"full"`` (also every image voxel) or ``"none"`` (paths only).
    ``strict``: treat every error as fatal. ``selection``: the rules whose outcome the report lists
    (``benchmarks.cohort.selection``; default ``DEFAULT_SELECTION``).
    """
    return inspect_cohort(path, check_images, strict, selection)[0]


class Cohort:
    """A validated cohort: patient table, endpoints, availability mask and per-patient modality data.

    Rows excluded by validation are not visible through the accessors; they are listed in ``excluded``
    (patient_id, file, row, field, reason). ``availability`` counts only usable data. The accessors
    return the rows the selection rules kept; ``selection`` says which rows those are and why.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        report: ValidationReport,
        *,
        patients: pd.DataFrame,
        scans: pd.DataFrame,
        reports: pd.DataFrame,
        pro: pd.DataFrame,
        excluded: pd.DataFrame,
        selection: Selection | None = None,
    ):
        """``patients`` is indexed by patient_id; ``scans``, ``reports`` and ``pro`` have a patient_id
        column (the validated tables of ``inspect_cohort``, after selection); ``selection`` records what
        was kept (None: the tables were given as they are)."""
        self.root: Path = Path(root).resolve()
        self.report = report
        self.patients: pd.DataFrame = patients
        self.patient_ids: list[str] = sorted(self.patients.index)
        self.endpoints: pd.DataFrame = self.patients[present_endpoints(self.patients.columns)].copy()
        self.scan_table = scans
        self.report_table = reports
        items = [c for c in pro.columns if c in schema.PRO_ITEMS]
        self.pro_table: pd.DataFrame = pro.set_index(schema.PATIENT_ID)[items]
        self.excluded: pd.DataFrame = excluded
        self.selection: Selection | None = selection
        self._scan_rows = self.scan_table.groupby(schema.PATIENT_ID, sort=False).indices
        self._report_rows = self.report_table.groupby(schema.PATIENT_ID, sort=False).indices
        idx = pd.Index(self.patient_ids, name=schema.PATIENT_ID)
        self.availability: pd.DataFrame = pd.DataFrame(
            {
                "imaging": idx.isin(list(self._scan_rows)),
                "text": idx.isin(list(self._report_rows)),
                "pro": idx.isin(list(self.pro_table.index)),
            },
            index=idx,
        )[list(schema.MODALITIES)]

    def _check(self, pid: str) -> None:
        if pid not in self.patients.index:
            raise KeyError(f"unknown patient {pid!r}")

    def scans(self, pid: str) -> pd.DataFrame:
        """The patient's selected rows of imaging.csv (at most one per image modality), with absolute
        ``image_path`` and ``mask_path``."""
        self._check(pid)
        return self.scan_table.iloc[self._scan_rows.get(pid, [])].reset_index(drop=True)

    def reports(self, pid: str) -> pd.DataFrame:
        """The patient's selected reports (report_type, text and the other columns of reports.csv; every
        usable report under the default rule ``"all"``)."""
        self._check(pid)
        return self.report_table.iloc[self._report_rows.get(pid, [])].reset_index(drop=True)

    def pro(self, pid: str) -> pd.Series | None:
        """The patient's selected questionnaire: its items (floats, NaN when unanswered), or None."""
        self._check(pid)
        if pid not in self.pro_table.index:
            return None
        return self.pro_table.loc[pid].copy()

    def sex(self, pid: str) -> str | None:
        self._check(pid)
        if schema.SEX_COLUMN not in self.patients.columns:
            return None
        v = self.patients.at[pid, schema.SEX_COLUMN]
        return v if isinstance(v, str) else None

    def patients_with(self, modality: str) -> list[str]:
        """Sorted ids of the patients that have usable data for ``modality``."""
        return [p for p, ok in self.availability[modality].items() if ok]

    def __repr__(self) -> str:
        avail = ", ".join(f"{m} {int(self.availability[m].sum())}" for m in schema.MODALITIES)
        return f"Cohort({str(self.root)!r}, {len(self.patient_ids)} patients; {avail}; {len(self.excluded)} excluded)"


def load_cohort(
    path: str | os.PathLike[str],
    *,
    validate: bool = True,
    check_images: str = "header",
    strict: bool = False,
    selection: SelectionSetting = None,
) -> Cohort:
    """Validate and load a cohort folder; raise ``CohortError`` (with every problem) if any is fatal.

    ``validate=False`` skips the checks that open image files (``check_images="none"``); the tables
    are always checked, since the cohort cannot be built from tables with fatal problems, and paths
    leaving the folder are always refused. ``selection``: the rules that pick a patient's scan per image
    modality, reports and questionnaire among several (``benchmarks.cohort.selection``; a rule name, a
    mapping modality -> rule, or None for ``DEFAULT_SELECTION``).
    """
    report, tables = inspect_cohort(path, check_images if validate else "none", strict, selection)
    if report.fatal or tables is None or tables.patients is None:
        raise CohortError(report)
    return Cohort(
        path,
        report,
        patients=tables.patients,
        scans=tables.selected["imaging"],
        reports=tables.selected["text"],
        pro=tables.selected["pro"],
        excluded=tables.excluded,
        selection=tables.selection,
    )
