"""Multiple-testing correction over a family of comparisons (statsmodels' ``multipletests``)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from statsmodels.stats.multitest import multipletests

__all__ = ["adjust_pvalues", "MULTITEST_METHODS"]

MULTITEST_METHODS = {"holm": "Holm", "fdr_bh": "Benjamini-Hochberg", "bonferroni": "Bonferroni"}


def adjust_pvalues(pvalues: Iterable[float], method: str = "holm") -> np.ndarray:
    """Adjusted p-values (Holm: family-wise error; ``fdr_bh``: false discovery rate).

    NaN p-values (undefined tests) are kept as NaN and are not counted in the family.
    """
    if method not in MULTITEST_METHODS:
        raise ValueError(f"method must be one of {sorted(MULTITEST_METHODS)}, got {method!r}")
    p = np.asarray(list(pvalues) if not isinstance(pvalues, np.ndarray) else pvalues, dtype=float).ravel()
    finite = ~np.isnan(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    out = np.full(p.shape, np.nan)
    if finite.any():
        out[finite] = multipletests(p[finite], method=method)[1]
    return out
