"""Patient-reported outcome features: clinical indices (CDAI, HBI, PRO2/PRO3, IBDQ, SIBDQ) and raw items.

The pure scoring lives in :mod:`features.pro_scores`; this module re-exports it and adds the extractor.
"""

from __future__ import annotations

from features.pro_scores import (
    BAND_CODES,
    IBDQ_DOMAINS,
    PRO2_REMISSION_RULES,
    SCORE_COLUMNS,
    ScoringRules,
    cdai_band,
    cdai_from_components,
    compute_scores,
    hbi_band,
    ibdq_remission,
    pro2_remission,
    pro2_score,
    pro3_score,
    standard_weight,
)

__all__ = [
    "BAND_CODES",
    "IBDQ_DOMAINS",
    "PRO2_REMISSION_RULES",
    "SCORE_COLUMNS",
    "ScoringRules",
    "cdai_band",
    "cdai_from_components",
    "compute_scores",
    "hbi_band",
    "ibdq_remission",
    "pro2_remission",
    "pro2_score",
    "pro3_score",
    "standard_weight",
]
