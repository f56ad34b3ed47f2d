"""Statistics for the report, one import for notebooks.

``delong_ci`` / ``delong_test`` / ``delong_ovr`` (pROC-exact DeLong), ``bootstrap_ci`` /
``bootstrap_diff_ci`` (vectorised stratified patient-level bootstrap), ``adjust_pvalues`` (Holm,
Benjamini-Hochberg) and ``pairwise_delong`` (a family of paired DeLong tests with adjusted p-values).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from reports._results import StatResult
from reports.bootstrap import (
    BootstrapDiffResult,
    BootstrapResult,
    bootstrap_ci,
    bootstrap_diff_ci,
    resample_weights,
)
from reports.delong import DeLongOvRResult, DeLongResult, DeLongTestResult, delong_ci, delong_ovr, delong_test
from reports.multitest import MULTITEST_METHODS, adjust_pvalues

__all__ = [
    "BootstrapDiffResult",
    "BootstrapResult",
    "PairwiseDeLongResult",
    "DeLongOvRResult",
    "DeLongResult",
    "DeLongTestResult",
    "StatResult",
    "adjust_pvalues",
    "bootstrap_ci",
    "bootstrap_diff_ci",
    "delong_ci",
    "delong_ovr",
    "delong_test",
    "pairwise_delong",
    "resample_weights",
]


@dataclass(frozen=True, repr=False)
class PairwiseDeLongResult(StatResult):
    """A family of paired tests with multiplicity-adjusted p-values."""

    tests: tuple[DeLongTestResult, ...]
    correction: str
    method: str = "DeLong paired tests"

    @property
    def p_adjusted(self) -> np.ndarray:
        return adjust_pvalues([t.p_value for t in self.tests], method=self.correction)

    @property
    def summary(self) -> pd.DataFrame:
        frame = pd.concat([t.summary for t in self.tests]) if self.tests else pd.DataFrame()
        if self.tests:
            frame.insert(frame.columns.get_loc("p_value") + 1, "p_adjusted", self.p_adjusted)
            frame["correction"] = MULTITEST_METHODS[self.correction]
        return frame


def pairwise_delong(
    y_true: Iterable,
    scores: Mapping[str, Iterable],
    *,
    reference: str | None = None,
    correction: str = "holm",
    level: float = 0.95,
) -> PairwiseDeLongResult:
    """Paired DeLong tests of every pair of models (or each model against ``reference``), p adjusted."""
    names = list(scores)
    if reference is not None and reference not in scores:
        raise KeyError(f"reference model {reference!r} is not among {names}")
    pairs = (
        [(reference, n) for n in names if n != reference]
        if reference is not None
        else list(combinations(names, 2))
    )
    tests = tuple(delong_test(y_true, scores[a], scores[b], level=level, names=(a, b)) for a, b in pairs)
    adjust_pvalues([], method=correction)  # validates the method name early
    return PairwiseDeLongResult(tests=tests, correction=correction)
