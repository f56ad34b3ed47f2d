"""The cohort contract: file names, required columns and the documented item columns.

This module is the single source of truth for column names. The synthetic generator writes them,
the loader validates them, and the extractors read them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MODALITIES: tuple[str, ...] = ("imaging", "text", "pro")
"""Modalities in canonical order. A modality set is written as names joined by '+' in this order."""

PATIENTS_FILE = "patients.csv"
IMAGING_FILE = "imaging.csv"
REPORTS_FILE = "reports.csv"
PRO_FILE = "pro.csv"
GROUND_TRUTH_FILE = "ground_truth.csv"  # written by the generator *outside* the cohort folder

MODALITY_FILES: dict[str, str] = {"imaging": IMAGING_FILE, "text": REPORTS_FILE, "pro": PRO_FILE}

PATIENT_ID = "patient_id"
IMAGE_COLUMN = "image"
MASK_COLUMN = "mask"
IMAGE_MODALITY_COLUMN = "modality"
REPORT_TYPE_COLUMN = "report_type"
TEXT_COLUMN = "text"
LANGUAGE_COLUMN = "language"  # optional in reports.csv: ISO 639-1 code; detected when absent
LABEL_COLUMN = "label"  # optional in imaging.csv: the mask region(s) to read (benchmarks.cohort.regions)
DATE_COLUMN = "date"  # optional in imaging.csv, reports.csv, pro.csv: ISO 8601 date (YYYY-MM-DD)
TIMEPOINT_COLUMN = "timepoint"  # optional there too: visit number, 0 = baseline
ENDPOINT_DATE_COLUMN = "endpoint_date"  # optional in patients.csv: when the endpoints were assessed
PATIENTS_REQUIRED = (PATIENT_ID,)
IMAGING_REQUIRED = (PATIENT_ID, IMAGE_COLUMN, MASK_COLUMN, IMAGE_MODALITY_COLUMN)
REPORTS_REQUIRED = (PATIENT_ID, REPORT_TYPE_COLUMN, TEXT_COLUMN)
PRO_REQUIRED = (PATIENT_ID,)
IMAGE_MODALITIES = ("MR", "CT")
REPORT_TYPES = ("mre", "colonoscopy", "clinic", "pathology", "cte")


@dataclass(frozen=True)
class ItemSpec:
    """Allowed values of one numeric column: a closed range, integer or not, or an explicit set."""

    low: float
    high: float
    integer: bool = True
    allowed: tuple[float, ...] | None = None
    description: str = ""

    def problem(self, value: object) -> str | None:
        """Return why ``value`` is invalid, or None when it is valid. Missing values are not judged here."""
        if isinstance(value, bool):
            value = int(value)
        try:
            x = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return f"not a number: {value!r}"
        if x != x:  # NaN is missing, judged elsewhere
            return None
        if self.integer and not float(x).is_integer():
            return f"not an integer: {value!r}"
        if self.allowed is not None and x not in self.allowed:
            return f"{value!r} not in {list(self.allowed)}"
        if not (self.low <= x <= self.high):
            return f"{value!r} outside [{self.low:g}, {self.high:g}]"
        return None


# --- patients.csv ----------------------------------------------------------------------------------
SEVERITY_CLASSES = ("inactive", "mild", "moderate", "severe")
"""4-class severity from the total SES-CD (the bands are ``SEVERITY_SES_CD_BANDS``)."""

SES_CD_COLUMN = "ses_cd"
ENDPOINTS: dict[str, ItemSpec] = {
    SES_CD_COLUMN: ItemSpec(
        0, 60, description="Simple Endoscopic Score for CD, total over 5 segments (0-60)"
    ),
    "maria": ItemSpec(0, 500, integer=False, description="global MaRIA, sum of segmental MaRIA"),
    "cdai": ItemSpec(-100, 1100, integer=False, description="Crohn's Disease Activity Index"),
    "hbi": ItemSpec(0, 100, description="Harvey-Bradshaw Index"),
}
SEVERITY_COLUMN = "severity"
ENDPOINT_COLUMNS = (*ENDPOINTS, SEVERITY_COLUMN)

SEVERITY_SES_CD_BANDS: tuple[tuple[str, float, float], ...] = tuple(
    zip(SEVERITY_CLASSES, (0, 3, 7, 16), (2, 6, 15, math.inf), strict=True)
)
"""Moskovitz-style SES-CD bands (class, lowest, highest total) behind ``SEVERITY_CLASSES``: 0-2, 3-6,
7-15, >=16."""


def severity_from_ses_cd(ses_cd: float) -> str | None:
    """Severity class of a total SES-CD under ``SEVERITY_SES_CD_BANDS`` (None when missing)."""
    if ses_cd is None or ses_cd != ses_cd:
        return None
    # The last band whose lower edge is reached (also places a non-integer total between bands).
    name = SEVERITY_SES_CD_BANDS[0][0]
    for band, low, _ in SEVERITY_SES_CD_BANDS:
        if ses_cd >= low:
            name = band
    return name


PATIENT_OPTIONAL: dict[str, ItemSpec] = {
    "age": ItemSpec(0, 120, integer=False, description="age at the visit, years"),
    "crp": ItemSpec(0, 500, integer=False, description="C-reactive protein, mg/L"),
    "calprotectin": ItemSpec(0, 10000, integer=False, description="faecal calprotectin, ug/g"),
    "leukocytes": ItemSpec(0, 100, integer=False, description="blood leukocytes, 10^9/L"),
}
SEX_COLUMN = "sex"
PATIENT_CATEGORICAL: dict[str, tuple[str, ...]] = {
    SEX_COLUMN: ("M", "F"),
    "montreal_location": ("L1", "L2", "L3", "L4"),
    "montreal_behaviour": ("B1", "B2", "B3"),
}
PATIENT_FLAGS = ("perianal", "montreal_l4")
FLAG_SPEC = ItemSpec(0, 1, description="0/1 flag")
PATIENT_NUMERIC: dict[str, ItemSpec] = {
    **ENDPOINTS,
    **PATIENT_OPTIONAL,
    **{c: FLAG_SPEC for c in PATIENT_FLAGS},
}
"""Allowed values of every numeric column of patients.csv."""
PATIENT_TEXT = ("site",)  # free text: kept as written, never converted to numbers

# --- pro.csv ----------------------------------------------------------------------------------------
DAYS = range(1, 8)
DIARY_STOOLS = tuple(f"diary_stools_d{d}" for d in DAYS)
DIARY_PAIN = tuple(f"diary_pain_d{d}" for d in DAYS)
DIARY_WELLBEING = tuple(f"diary_wellbeing_d{d}" for d in DAYS)
CDAI_COMPLICATIONS = (
    "cdai_arthritis",  # arthritis / arthralgia
    "cdai_iritis",  # iritis / uveitis
    "cdai_skin_mouth",  # erythema nodosum, pyoderma gangrenosum, aphthous stomatitis
    "cdai_anal",  # anal fissure, fistula or abscess
    "cdai_other_fistula",
    "cdai_fever",  # fever > 37.8 C in the past week
)
HBI_COMPLICATIONS = (
    "hbi_arthralgia",
    "hbi_uveitis",
    "hbi_erythema_nodosum",
    "hbi_aphthous_ulcers",
    "hbi_pyoderma_gangrenosum",
    "hbi_anal_fissure",
    "hbi_new_fistula",
    "hbi_abscess",
)
IBDQ_ITEMS = tuple(f"ibdq_{i:02d}" for i in range(1, 33))
SIBDQ_ITEMS = tuple(f"sibdq_{i:02d}" for i in range(1, 11))

PRO_ITEMS: dict[str, ItemSpec] = {
    **{c: ItemSpec(0, 50, description="liquid or very soft stools that day") for c in DIARY_STOOLS},
    **{c: ItemSpec(0, 3, description="abdominal pain that day, 0 none - 3 severe") for c in DIARY_PAIN},
    **{
        c: ItemSpec(0, 4, description="general well-being that day, 0 well - 4 terrible")
        for c in DIARY_WELLBEING
    },
    **{c: ItemSpec(0, 1, description="CDAI complication category present (0/1)") for c in CDAI_COMPLICATIONS},
    "cdai_antidiarrhoeal": ItemSpec(0, 1, description="takes opiates/diphenoxylate/loperamide for diarrhoea"),
    "cdai_abdominal_mass": ItemSpec(
        0, 5, allowed=(0, 2, 5), description="0 none, 2 questionable, 5 definite"
    ),
    "haematocrit": ItemSpec(10, 70, integer=False, description="haematocrit, %"),
    "weight_kg": ItemSpec(20, 300, integer=False, description="body weight, kg"),
    "height_m": ItemSpec(1.0, 2.3, integer=False, description="height, m"),
    "hbi_wellbeing": ItemSpec(0, 4, description="previous day: 0 very well - 4 terrible"),
    "hbi_pain": ItemSpec(0, 3, description="previous day: 0 none - 3 severe"),
    "hbi_liquid_stools": ItemSpec(0, 50, description="previous day: liquid or soft stools"),
    "hbi_abdominal_mass": ItemSpec(0, 3, description="0 none, 1 dubious, 2 definite, 3 definite and tender"),
    **{c: ItemSpec(0, 1, description="HBI complication present (0/1)") for c in HBI_COMPLICATIONS},
    **{c: ItemSpec(1, 7, description="IBDQ-32 item, 1 worst - 7 best") for c in IBDQ_ITEMS},
    **{c: ItemSpec(1, 7, description="SIBDQ item, 1 worst - 7 best") for c in SIBDQ_ITEMS},
}


NO_MODALITY = "none"
"""Name of the empty modality set: a patient with no modality, the prior-only baseline model."""


def modality_set_name(modalities: tuple[str, ...] | list[str] | set[str]) -> str:
    """Canonical name of a modality set, e.g. ``{'pro', 'imaging'} -> 'imaging+pro'``; empty: ``"none"``."""
    unknown = set(modalities) - set(MODALITIES)
    if unknown:
        raise ValueError(f"unknown modalities {sorted(unknown)}; known: {list(MODALITIES)}")
    return "+".join(m for m in MODALITIES if m in modalities) or NO_MODALITY
