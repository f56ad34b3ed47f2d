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
  header only; a mask without label 1, with other labels besides 1 (radiomics reads label 1 only), or
  covering the whole image.

``strict=True`` makes every error fatal.

This package is the ground floor: it imports nothing else of the project.
"""

from __future__ import annotations

from benchmarks.cohort.cells import NA_TOKENS
from benchmarks.cohort.image_checks import CHECK_IMAGES
from benchmarks.cohort.loading import Cohort, load_cohort, validate_cohort
from benchmarks.cohort.problems import EXCLUDED_COLUMNS, CohortError, Problem, UserError, ValidationReport
from benchmarks.cohort.schema import ENDPOINT_COLUMNS, SEVERITY_SES_CD_BANDS, severity_from_ses_cd
from benchmarks.cohort.selection import DEFAULT_SELECTION, RULES, Selection, SelectionError, selection_rules

__all__ = [
    "CHECK_IMAGES",
    "DEFAULT_SELECTION",
    "ENDPOINT_COLUMNS",
    "EXCLUDED_COLUMNS",
    "NA_TOKENS",
    "RULES",
    "SEVERITY_SES_CD_BANDS",
    "Cohort",
    "CohortError",
    "Problem",
    "Selection",
    "SelectionError",
    "UserError",
    "ValidationReport",
    "load_cohort",
    "selection_rules",
    "severity_from_ses_cd",
    "validate_cohort",
]
