"""Patient-reported outcome features: clinical indices (CDAI, HBI, PRO2/PRO3, IBDQ, SIBDQ) and raw items.

The pure scoring lives in :mod:`features.pro_scores` (re-exported here); this module adds the extractor.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.cohort.schema import DIARY_PAIN, DIARY_STOOLS, DIARY_WELLBEING, PRO_ITEMS
from features import pro_scores
from features.base import Extractor
from features.pro_scores import *  # noqa: F403 - the pure scoring API, re-exported
from features.pro_scores import (
    BAND_CODES,
    CDAI_COMPONENTS,
    RULE_FIELDS,
    SCORE_COLUMNS,
    ScoringRules,
    compute_scores,
)

__all__ = [*pro_scores.__all__, "ProExtractor"]

_DIARIES = {"stools": DIARY_STOOLS, "pain": DIARY_PAIN, "wellbeing": DIARY_WELLBEING}
_DIARY_COLUMNS = frozenset(c for cols in _DIARIES.values() for c in cols)

# Numeric outputs of compute_scores that become features (reasons and band labels are strings).
_SCORE_FEATURES: tuple[str, ...] = (
    *SCORE_COLUMNS,
    "cdai_unrounded",
    *(f"cdai_component_{c}" for c in CDAI_COMPONENTS),
    "standard_weight_kg",
    "sf_mean",
    "ap_mean",
    "wb_mean",
    "pro2_remission",
    "ibdq_remission",
    "ibdq_n_imputed",
    "sibdq_remission",
    "sibdq_n_imputed",
)


def _canonical(value: Any) -> Any:
    """JSON-stable form of one item value: floats as repr, missing as None, anything else as its repr."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return repr(float(value))
    if isinstance(value, int | float | np.integer | np.floating):
        x = float(value)
        return None if math.isnan(x) else repr(x)
    if pd.isna(value):
        return None
    return "str:" + str(value)


class ProExtractor(Extractor):
    """Clinical indices and raw questionnaire items from a patient's row of pro.csv.

    Parameters are the fields of :class:`~features.pro_scores.ScoringRules` (see there for the cited
    defaults) plus ``include_items``: also emit the raw items, the 7-day diary summarised per item as
    ``diary_<item>_mean`` (answered days), ``diary_<item>_sum7`` (NaN unless all 7 days answered) and
    ``diary_<item>_days``, and every other item as ``item_<column>``.

    Features (without the ``pro__`` prefix): the scores ``cdai``, ``hbi``, ``pro2``, ``pro3``,
    ``ibdq_*``, ``sibdq_total``; the unrounded CDAI and its components ``cdai_component_*``; diary means;
    remission flags; band codes ``cdai_band_code``/``hbi_band_code`` (0 remission .. 3 severe). Scores
    whose missing-item rule is not met are NaN. Invalid items raise ``ValueError`` naming the item.
    """

    name = "pro_indices"
    version = "1"
    modality = "pro"
    prefix = "pro__"

    def __init__(
        self,
        clamp_hct_at_zero: bool = False,
        weight_floor: float | None = -10.0,
        diary_min_days: int = 7,
        hct_standard_male: float = 47.0,
        hct_standard_female: float = 42.0,
        std_weight_coef_male: float = 22.1,
        std_weight_coef_female: float = 20.8,
        cdai_remission_edge: float = 150.0,
        cdai_mild_moderate_edge: float = 220.0,
        cdai_moderate_severe_edge: float = 450.0,
        pro2_remission_rule: str = "khanna_lt8",
        ibdq_remission_threshold: float = 170.0,
        ibdq_max_missing_per_domain: int = 1,
        sibdq_remission_threshold: float = 50.0,
        sibdq_max_missing: int = 1,
        include_items: bool = True,
    ) -> None:
        self.clamp_hct_at_zero = clamp_hct_at_zero
        self.weight_floor = weight_floor
        self.diary_min_days = diary_min_days
        self.hct_standard_male = hct_standard_male
        self.hct_standard_female = hct_standard_female
        self.std_weight_coef_male = std_weight_coef_male
        self.std_weight_coef_female = std_weight_coef_female
        self.cdai_remission_edge = cdai_remission_edge
        self.cdai_mild_moderate_edge = cdai_mild_moderate_edge
        self.cdai_moderate_severe_edge = cdai_moderate_severe_edge
        self.pro2_remission_rule = pro2_remission_rule
        self.ibdq_remission_threshold = ibdq_remission_threshold
        self.ibdq_max_missing_per_domain = ibdq_max_missing_per_domain
        self.sibdq_remission_threshold = sibdq_remission_threshold
        self.sibdq_max_missing = sibdq_max_missing
        self.include_items = include_items

    @property
    def rules(self) -> ScoringRules:
        """The :class:`ScoringRules` built from the current parameters (validated on access)."""
        return ScoringRules(**{f: getattr(self, f) for f in RULE_FIELDS})

    def inputs(self, cohort: Any, patient_id: str) -> dict[str, Any] | None:
        items = cohort.pro(patient_id)
        if items is None:
            return None
        return {"patient_id": str(patient_id), "items": pd.Series(items), "sex": cohort.sex(patient_id)}

    def input_fingerprint(self, inputs: dict[str, Any]) -> str:
        items: pd.Series = inputs["items"]
        payload = {
            "items": {c: _canonical(items[c]) for c in PRO_ITEMS if c in items.index},
            "sex": _canonical(inputs.get("sex")),
            "rules": self.rules.as_dict(),
            "include_items": bool(self.include_items),
        }
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def extract(self, inputs: dict[str, Any]) -> dict[str, float]:
        pid = inputs["patient_id"]
        row: pd.Series = inputs["items"]
        known = [c for c in PRO_ITEMS if c in row.index]
        frame = pd.DataFrame([row[known].to_numpy(dtype=object)], index=[pid], columns=known)
        sex = pd.Series([inputs.get("sex")], index=[pid], dtype=object)
        scores = compute_scores(frame, sex, rules=self.rules).iloc[0]

        out: dict[str, float] = {c: float(scores[c]) for c in _SCORE_FEATURES}
        for band in ("cdai_band", "hbi_band"):
            label = scores[band]
            out[f"{band}_code"] = float(BAND_CODES[label]) if isinstance(label, str) else float("nan")
        if self.include_items:
            # compute_scores has validated the items, so plain numeric conversion is safe here.
            values = pd.to_numeric(pd.Series(frame.iloc[0]), errors="coerce").reindex(list(PRO_ITEMS))
            for name, cols in _DIARIES.items():
                days = values[list(cols)].to_numpy(dtype=float)
                n = int((~np.isnan(days)).sum())
                out[f"diary_{name}_days"] = float(n)
                out[f"diary_{name}_mean"] = float(np.nanmean(days)) if n else float("nan")
                out[f"diary_{name}_sum7"] = float(days.sum()) if n == 7 else float("nan")
            for c in PRO_ITEMS:
                if c not in _DIARY_COLUMNS:
                    out[f"item_{c}"] = float(values[c])
        return out
