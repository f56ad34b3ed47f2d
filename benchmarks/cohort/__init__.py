"""The cohort: its contract (``schema``), image reading (``imageio``), validation and loading.

One pass over the folder (``loading.inspect_cohort``) parses the tables (``tables``), checks every
row and cell (one module per table: ``validate_patients``, ``validate_imaging``, ``validate_reports``,
``validate_pro``) and every referenced file (``paths``, ``image_checks``), and collects *every* problem
(``problems.ProblemLog``) before anything is decided. ``validate_cohort`` returns that report;
``load_cohort`` builds a ``Cohort`` from the tables the same pass validated, refusing only on fatal
problems. Data hit by a non-fatal error (a corrupt scan, an empty report, an out-of-range item) is left
out of the cohort and listed in ``Cohort.excluded``: nothing is dropped silently. When a patient has
several scans of one image modality, several reports of one type or several questionnaires, a rule
(``selection``: closest to the ``endpoint_date``, baseline, latest; for reports also all) keeps one,
using the optional ``date`` / ``timepoint`` columns (``visits``); the report lists who had several and
what was kept (``Cohort.selection``).

Policy, chosen so that a real cohort with a few damaged files can still be benchmarked:

- fatal: no readable ``patients.csv``; a required column missing (a table separated by semicolons or
  tabs says so); empty or duplicated patient ids in ``patients.csv``; no endpoint column at all;
  malformed rows of ``patients.csv``; a path that is absolute or leaves the cohort folder, and a table
  that resolves outside it or is a special file (refused, never opened); a table that is not UTF-8
  (UTF-16 or UTF-32, NUL bytes).
- error (data excluded, run continues): rows naming unknown patients or no patient; unreadable,
  truncated or missing image files; an image or mask that is a special file (a FIFO, a device, a
  socket; refused, never opened); NaN or infinite image voxels inside the mask (anywhere in the
  image with ``check_images="full"``); a mask whose geometry differs from its image; an empty mask;
  empty or non-UTF-8 report text; impossible values (the cell is set missing); a patient with no
  endpoint value at all; a ``date``, ``timepoint`` or ``endpoint_date`` that cannot be read (the cell
  is read as missing, the row kept); a second questionnaire of a patient at the same visit.
- warning (kept): some endpoints missing; severity disagreeing with the SES-CD band; unknown columns
  in ``pro.csv``; unknown report types or image modalities; a missing modality table, or one with a
  header only; a configured mask region with no voxels (alone: the scan
  will fail extraction; one of several: an uninvolved segment), labels, structures or segments present
  but not selected by the ``label`` column, or a mask covering the whole image; an unreadable ``label``
  cell or a DICOM mask that references another series is an error.

``strict=True`` makes every error fatal.

This package is the ground floor: it imports nothing else of the project.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Exported names and their modules, imported on first use (PEP 562): a worker that needs only
# ``imageio`` (radiomics extraction) does not pay for pandas and the validators (~0.25 s per process).
_EXPORTS = {
    "NA_TOKENS": "cells",
    "CHECK_IMAGES": "image_checks",
    "Cohort": "loading",
    "load_cohort": "loading",
    "validate_cohort": "loading",
    "EXCLUDED_COLUMNS": "problems",
    "CohortError": "problems",
    "Problem": "problems",
    "UserError": "problems",
    "ValidationReport": "problems",
    "ENDPOINT_COLUMNS": "schema",
    "SEVERITY_SES_CD_BANDS": "schema",
    "severity_from_ses_cd": "schema",
    "DEFAULT_SELECTION": "selection",
    "RULES": "selection",
    "Selection": "selection",
    "SelectionError": "selection",
    "selection_rules": "selection",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
