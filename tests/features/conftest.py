"""Fixtures of the features tests: MR-like volumes with a bowel-wall mask, example reports, PRO item rows,
and small stand-ins for ``benchmarks.cohort.Cohort`` (the accessors an extractor uses)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from benchmarks.cohort import schema


# --- imaging -------------------------------------------------------------------------------------------
def _make_case(
    seed: int = 0,
    shape: tuple[int, int, int] = (96, 96, 40),
    spacing: tuple[float, float, float] = (0.8, 0.8, 4.0),
    radius_mm: float = 9.0,
    wall_mm: float = 4.0,
) -> tuple[sitk.Image, sitk.Image]:
    """An int16 MR-like volume (x, y, z sizes ``shape``) and a UInt8 mask of a curved bowel-wall tube.

    Background soft tissue, a bright fluid-filled lumen, an enhancing wall whose intensity and texture
    vary with ``seed``, Rician-like noise and a smooth bias field. The tube runs along z with a sinusoidal
    course, so its bounding box is well inside the volume.
    """
    rng = np.random.default_rng(seed)
    nx, ny, nz = shape
    z, y, x = np.meshgrid(
        np.arange(nz) * spacing[2], np.arange(ny) * spacing[1], np.arange(nx) * spacing[0], indexing="ij"
    )
    cx = nx * spacing[0] / 2 + 8.0 * np.sin(z / 25.0 + seed)
    cy = ny * spacing[1] / 2 + 6.0 * np.cos(z / 30.0)
    r = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
    z0, z1 = 0.2 * nz * spacing[2], 0.8 * nz * spacing[2]
    inside_z = (z >= z0) & (z <= z1)
    wall = inside_z & (r >= radius_mm - wall_mm) & (r <= radius_mm)
    lumen = inside_z & (r < radius_mm - wall_mm)
    img = 300.0 + 40.0 * rng.standard_normal(r.shape)
    img[lumen] += 500.0
    texture = rng.standard_normal(r.shape)
    img[wall] += 250.0 + 80.0 * seed % 5 + (60.0 + 10.0 * (seed % 3)) * texture[wall]
    bias = 1.0 + 0.15 * np.sin(x / 40.0) * np.cos(y / 50.0)
    img = np.abs(img * bias + 20.0 * rng.standard_normal(r.shape) * 1j)
    image = sitk.GetImageFromArray(np.clip(img, 0, 32000).astype(np.int16))
    mask = sitk.GetImageFromArray(wall.astype(np.uint8))
    for im in (image, mask):
        im.SetSpacing(spacing)
        im.SetOrigin((-10.0, 20.0, -55.0))
    return image, mask


@pytest.fixture(scope="session")
def make_case():
    """``make_case(seed=0, shape=(96, 96, 40), spacing=, radius_mm=, wall_mm=) -> (image, mask)``."""
    return _make_case


# --- reports (synthetic, no real text) -----------------------------------------------------------------
MRE_ACTIVE = (
    "CLINICAL HISTORY: Known Crohn's disease, ?stricture.\n"
    "TECHNIQUE: MR enterography with intravenous contrast.\n"
    "FINDINGS: There is wall thickening of the terminal ileum over 15 cm with mural oedema and ulceration. "
    "No fistula or abscess. Possible stricture with prestenotic dilatation. Enlarged mesenteric lymph nodes.\n"
    "IMPRESSION: Active terminal ileitis. Fistula is excluded."
)
COLONOSCOPY_QUIET = (
    "Procedure: ileocolonoscopy. Findings: the TI was intubated and is normal. No ulcers in the colon. "
    "The rectum is normal. Conclusion: no endoscopic evidence of active Crohn's disease."
)


class ReportCohort:
    """Just enough of benchmarks.cohort.Cohort for the text extractors."""

    def __init__(self, reports: dict[str, list[tuple[str, str]]]) -> None:
        self._reports = reports
        self.patient_ids = sorted(reports)

    def reports(self, pid: str) -> pd.DataFrame:
        rows = self._reports.get(pid, [])
        return pd.DataFrame(rows, columns=["report_type", "text"])


@pytest.fixture(scope="session")
def mre_active() -> str:
    """An MR enterography report of active ileal disease (negated fistula/abscess, a possible stricture)."""
    return MRE_ACTIVE


@pytest.fixture(scope="session")
def colonoscopy_quiet() -> str:
    """An ileocolonoscopy report without active disease."""
    return COLONOSCOPY_QUIET


@pytest.fixture(scope="session")
def report_cohort():
    """``report_cohort({patient_id: [(report_type, text), ...]})``: a cohort with reports only."""
    return ReportCohort


# --- questionnaires (pro.csv items) ----------------------------------------------------------------------
def _spread(total: int, days: int = 7) -> list[int]:
    """Split an integer weekly sum over ``days`` daily integers (first days get the remainder)."""
    base, rem = divmod(total, days)
    return [base + (1 if d < rem else 0) for d in range(days)]


def _height_for(standard_weight_kg: float, sex: str) -> float:
    """Height (m) whose Keys-type standard weight is ``standard_weight_kg``."""
    return math.sqrt(standard_weight_kg / (22.1 if sex == "M" else 20.8))


def _item_row(
    *,
    stools: int = 0,
    pain: int = 0,
    wellbeing: int = 0,
    complications: int = 0,
    antidiarrhoeal: int = 0,
    mass: int = 0,
    hct: float = 45.0,
    weight_kg: float = 70.0,
    height_m: float = 1.75,
    hbi: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0),
    ibdq: int = 5,
    sibdq: int = 5,
) -> dict[str, Any]:
    """A complete, valid row of pro.csv items. Diary arguments are 7-day sums; hbi is
    (well-being, pain, liquid stools, mass, number of complications)."""
    row: dict[str, Any] = {}
    diaries = {schema.DIARY_STOOLS: stools, schema.DIARY_PAIN: pain, schema.DIARY_WELLBEING: wellbeing}
    for cols, total in diaries.items():
        row.update(zip(cols, _spread(total), strict=True))
    row.update({c: int(i < complications) for i, c in enumerate(schema.CDAI_COMPLICATIONS)})
    row["cdai_antidiarrhoeal"] = antidiarrhoeal
    row["cdai_abdominal_mass"] = mass
    row["haematocrit"] = hct
    row["weight_kg"] = weight_kg
    row["height_m"] = height_m
    wb, pn, st, ms, nc = hbi
    row.update({"hbi_wellbeing": wb, "hbi_pain": pn, "hbi_liquid_stools": st, "hbi_abdominal_mass": ms})
    row.update({c: int(i < nc) for i, c in enumerate(schema.HBI_COMPLICATIONS)})
    row.update({c: ibdq for c in schema.IBDQ_ITEMS})
    row.update({c: sibdq for c in schema.SIBDQ_ITEMS})
    assert set(row) == set(schema.PRO_ITEMS)
    return row


def _pro_frame(rows: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """DataFrame of item rows indexed by patient id."""
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "patient_id"
    return df


class ProCohort:
    """The two methods of ``benchmarks.cohort.Cohort`` the PRO extractor uses."""

    def __init__(self, items: pd.DataFrame, sex: dict[str, str | None]) -> None:
        self._items = items
        self._sex = sex

    def pro(self, pid: str) -> pd.Series | None:
        return self._items.loc[pid] if pid in self._items.index else None

    def sex(self, pid: str) -> str | None:
        return self._sex.get(pid)


@pytest.fixture(scope="session")
def height_for():
    """``height_for(standard_weight_kg, sex) -> m``: the height whose standard weight is the given one."""
    return _height_for


@pytest.fixture(scope="session")
def item_row():
    """``item_row(*, stools=0, pain=0, wellbeing=0, ..., hbi=(0, 0, 0, 0, 0), ibdq=5, sibdq=5)``: a complete,
    valid row of pro.csv items (diary arguments are 7-day sums)."""
    return _item_row


@pytest.fixture(scope="session")
def pro_frame():
    """``pro_frame({patient_id: item_row(...)})``: the rows as a frame indexed by patient id."""
    return _pro_frame


@pytest.fixture(scope="session")
def pro_cohort():
    """``pro_cohort(items_frame, {patient_id: sex})``: a cohort with questionnaires only."""
    return ProCohort
