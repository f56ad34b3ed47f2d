"""Builders for PRO item rows used by the PRO tests."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.schema import (
    CDAI_COMPLICATIONS,
    DIARY_PAIN,
    DIARY_STOOLS,
    DIARY_WELLBEING,
    HBI_COMPLICATIONS,
    IBDQ_ITEMS,
    PRO_ITEMS,
    SIBDQ_ITEMS,
)


def spread(total: int, days: int = 7) -> list[int]:
    """Split an integer weekly sum over ``days`` daily integers (first days get the remainder)."""
    base, rem = divmod(total, days)
    return [base + (1 if d < rem else 0) for d in range(days)]


def height_for(standard_weight_kg: float, sex: str) -> float:
    """Height (m) whose Keys-type standard weight is ``standard_weight_kg``."""
    return math.sqrt(standard_weight_kg / (22.1 if sex == "M" else 20.8))


def item_row(
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
    for cols, total in ((DIARY_STOOLS, stools), (DIARY_PAIN, pain), (DIARY_WELLBEING, wellbeing)):
        row.update(zip(cols, spread(total), strict=True))
    row.update({c: int(i < complications) for i, c in enumerate(CDAI_COMPLICATIONS)})
    row["cdai_antidiarrhoeal"] = antidiarrhoeal
    row["cdai_abdominal_mass"] = mass
    row["haematocrit"] = hct
    row["weight_kg"] = weight_kg
    row["height_m"] = height_m
    wb, pn, st, ms, nc = hbi
    row.update({"hbi_wellbeing": wb, "hbi_pain": pn, "hbi_liquid_stools": st, "hbi_abdominal_mass": ms})
    row.update({c: int(i < nc) for i, c in enumerate(HBI_COMPLICATIONS)})
    row.update({c: ibdq for c in IBDQ_ITEMS})
    row.update({c: sibdq for c in SIBDQ_ITEMS})
    assert set(row) == set(PRO_ITEMS)
    return row


def frame(rows: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """DataFrame of item rows indexed by patient id."""
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "patient_id"
    return df


class FakeCohort:
    """The two methods of ``benchmarks.cohort.Cohort`` the PRO extractor uses."""

    def __init__(self, items: pd.DataFrame, sex: dict[str, str | None]) -> None:
        self._items = items
        self._sex = sex

    def pro(self, pid: str) -> pd.Series | None:
        return self._items.loc[pid] if pid in self._items.index else None

    def sex(self, pid: str) -> str | None:
        return self._sex.get(pid)


def nan_equal(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or a == b
