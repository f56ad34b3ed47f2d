"""DeLong's AUC variance, confidence interval and paired test, matching R's pROC (``method = "delong"``).

Fast DeLong (Sun & Xu 2014): the structural components (placements) come from midranks, so one AUC, its
variance and the covariance between paired AUCs cost O(n log n). Conventions are pROC 1.18's with
``levels = c(0, 1), direction = "<"``: a higher score means class 1, an AUC below 0.5 is never flipped,
ties count 1/2.

- variance ``S10/m + S01/n`` with the sample (m-1, n-1) covariances of the placements;
- CI ``AUC +- z * sqrt(var)`` clipped to [0, 1] (pROC's ``ci.auc``);
- paired test ``z = (AUC_a - AUC_b) / sqrt(var_a + var_b - 2 cov)``, two-sided ``p = 2 Phi(-|z|)``,
  CI of the difference ``d +- z * sd`` (not clipped, as pROC); when the difference and its standard
  error are both 0 (identical rankings, or both curves perfect), ``z = 0`` and ``p = 1`` as in pROC;
- with fewer than 2 patients in a class the variance, CI, z and p are NaN (pROC returns NA).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from reports._results import IntervalResult, StatResult

__all__ = ["DeLongResult", "DeLongTestResult", "DeLongOvRResult", "delong_ci", "delong_test", "delong_ovr"]


def _check_binary(y_true: Iterable, scores: Sequence[Iterable]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D, got shape {y.shape}")
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise ValueError(f"y_true must be binary 0/1 (1 = positive class), found values {sorted(values)[:5]}")
    arrays = [np.asarray(s, dtype=float).ravel() for s in scores]
    for i, s in enumerate(arrays):
        if s.size != y.size:
            raise ValueError(f"score vector {i} has {s.size} entries but y_true has {y.size}")
    S = np.vstack(arrays)
    if not np.all(np.isfinite(S)):
        row, col = np.argwhere(~np.isfinite(S))[0]
        raise ValueError(f"score vector {row} has a NaN or infinite value at position {col}")
    pos = y == 1
    if pos.sum() == 0 or (~pos).sum() == 0:
        raise ValueError(
            f"an AUC needs both classes; got {int(pos.sum())} positives and {int((~pos).sum())} negatives"
        )
    return pos, S


def _midranks_sorted(v: np.ndarray) -> np.ndarray:
    """1-based midranks of an ascending array (tied values share the mean of their ranks)."""
    starts = np.flatnonzero(np.r_[True, v[1:] != v[:-1]])
    ends = np.r_[starts[1:], v.size]
    return np.repeat((starts + ends + 1) / 2.0, ends - starts)


def _placements(pos: np.ndarray, S: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs (k,), positive placements V10 (k, m) and negative placements V01 (k, n) from midranks.

    One sort of the pooled scores per model: the positives and the negatives appear in it in their own
    sorted order, so their within-class midranks come from the same pass (Sun & Xu 2014).
    """
    m, n = int(pos.sum()), int((~pos).sum())
    k = S.shape[0]
    V10, V01 = np.empty((k, m)), np.empty((k, n))
    rank_pos = np.cumsum(pos) - 1  # position of each patient within its own class, original order
    rank_neg = np.cumsum(~pos) - 1
    for i in range(k):
        order = np.argsort(S[i])
        z = S[i][order]
        tz = _midranks_sorted(z)
        is_pos = pos[order]
        tx = _midranks_sorted(z[is_pos])
        ty = _midranks_sorted(z[~is_pos])
        # share of negatives below each positive (ties 1/2), and of positives above each negative
        V10[i, rank_pos[order[is_pos]]] = (tz[is_pos] - tx) / n
        V01[i, rank_neg[order[~is_pos]]] = 1.0 - (tz[~is_pos] - ty) / m
    auc = V10.mean(axis=1)
    return auc, V10, V01


def _covariance(auc: np.ndarray, V10: np.ndarray, V01: np.ndarray) -> np.ndarray:
    m, n = V10.shape[1], V01.shape[1]
    if m < 2 or n < 2:
        return np.full((auc.size, auc.size), np.nan)
    D10, D01 = V10 - auc[:, None], V01 - auc[:, None]
    return (D10 @ D10.T) / ((m - 1) * m) + (D01 @ D01.T) / ((n - 1) * n)


def _z(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return float(norm.ppf(0.5 + level / 2.0))


@dataclass(frozen=True, repr=False)
class DeLongResult(IntervalResult):
    """AUC with DeLong variance and pROC's CI."""

    auc: float
    variance: float
    ci_low: float
    ci_high: float
    level: float
    n_pos: int
    n_neg: int
    method: str = "DeLong"

    @property
    def se(self) -> float:
        return float(np.sqrt(self.variance))

    @property
    def summary(self) -> pd.DataFrame:
        columns = "estimate se ci_low ci_high level n_pos n_neg method"
        return self._one_row(columns, "roc_auc", "metric", estimate=self.auc)


@dataclass(frozen=True, repr=False)
class DeLongTestResult(IntervalResult):
    """Paired DeLong test of two AUCs on the same patients."""

    auc_a: float
    auc_b: float
    var_a: float
    var_b: float
    cov: float
    z: float
    p_value: float
    ci_low: float
    ci_high: float
    level: float
    n_pos: int
    n_neg: int
    names: tuple[str, str] = ("a", "b")
    method: str = "DeLong paired test (two-sided)"

    @property
    def diff(self) -> float:
        return self.auc_a - self.auc_b

    @property
    def se_diff(self) -> float:
        return float(np.sqrt(max(self.var_a + self.var_b - 2.0 * self.cov, 0.0)))

    @property
    def summary(self) -> pd.DataFrame:
        a, b = self.names
        columns = "auc_a auc_b estimate se ci_low ci_high z p_value n_pos n_neg method"
        return self._one_row(columns, f"{a} - {b}", "comparison", estimate=self.diff, se=self.se_diff)


@dataclass(frozen=True, repr=False)
class DeLongOvRResult(StatResult):
    """One-vs-rest DeLong AUC and CI for each class of a multiclass task."""

    per_class: tuple[DeLongResult, ...]
    class_names: tuple[str, ...]
    level: float
    method: str = "DeLong one-vs-rest"

    @property
    def macro_auc(self) -> float:
        return float(np.mean([r.auc for r in self.per_class]))

    @property
    def summary(self) -> pd.DataFrame:
        rows = [r.summary.iloc[0].to_dict() for r in self.per_class]
        frame = pd.DataFrame(rows, index=pd.Index(list(self.class_names), name="class"))
        frame["method"] = self.method
        return frame


def delong_ci(y_true: Iterable, y_score: Iterable, level: float = 0.95) -> DeLongResult:
    """AUC, DeLong variance and the CI ``AUC +- z sqrt(var)`` clipped to [0, 1] (pROC's ``ci.auc``)."""
    z = _z(level)
    pos, S = _check_binary(y_true, [y_score])
    auc, V10, V01 = _placements(pos, S)
    var = float(_covariance(auc, V10, V01)[0, 0])
    a = float(auc[0])
    lo, hi = (np.nan, np.nan) if np.isnan(var) else (a - z * np.sqrt(var), a + z * np.sqrt(var))
    return DeLongResult(
        auc=a,
        variance=var,
        ci_low=float(np.clip(lo, 0.0, 1.0)),
        ci_high=float(np.clip(hi, 0.0, 1.0)),
        level=level,
        n_pos=int(pos.sum()),
        n_neg=int((~pos).sum()),
    )


def delong_test(
    y_true: Iterable,
    score_a: Iterable,
    score_b: Iterable,
    *,
    level: float = 0.95,
    names: tuple[str, str] = ("a", "b"),
) -> DeLongTestResult:
    """Paired two-sided DeLong test of AUC(a) = AUC(b) on the same patients (pROC ``roc.test``)."""
    zcrit = _z(level)
    pos, S = _check_binary(y_true, [score_a, score_b])
    auc, V10, V01 = _placements(pos, S)
    C = _covariance(auc, V10, V01)
    d = float(auc[0] - auc[1])
    # a quadratic form of a PSD matrix: tiny negative values are rounding error
    var_d = C[0, 0] + C[1, 1] - 2.0 * C[0, 1]
    sig = float(np.sqrt(max(var_d, 0.0))) if np.isfinite(var_d) else np.nan
    if np.isnan(sig):
        z = np.nan
    elif sig == 0.0:
        z = 0.0 if d == 0.0 else float(np.sign(d) * np.inf)
    else:
        z = d / sig
    p = np.nan if np.isnan(z) else float(2.0 * norm.sf(abs(z)))
    return DeLongTestResult(
        auc_a=float(auc[0]),
        auc_b=float(auc[1]),
        var_a=float(C[0, 0]),
        var_b=float(C[1, 1]),
        cov=float(C[0, 1]),
        z=float(z),
        p_value=p,
        ci_low=d - zcrit * sig,
        ci_high=d + zcrit * sig,
        level=level,
        n_pos=int(pos.sum()),
        n_neg=int((~pos).sum()),
        names=tuple(names),
    )


def delong_ovr(
    y_true: Iterable, proba: Iterable, *, level: float = 0.95, class_names: Sequence[str] | None = None
) -> DeLongOvRResult:
    """Per-class one-vs-rest AUC (``proba[:, k]`` scoring class k against the rest) with DeLong CIs."""
    P = np.asarray(proba, dtype=float)
    if P.ndim != 2 or P.shape[1] < 2:
        raise ValueError(f"proba must be a 2-D (n, K>=2) array, got shape {P.shape}")
    y = np.asarray(y_true)
    if y.shape != (P.shape[0],):
        raise ValueError(f"y_true must be 1-D with {P.shape[0]} entries, got shape {y.shape}")
    K = P.shape[1]
    names = tuple(str(c) for c in (class_names if class_names is not None else range(K)))
    if len(names) != K:
        raise ValueError(f"{len(names)} class names for {K} proba columns")
    results = []
    for k in range(K):
        yk = (y == k).astype(np.int64)
        if yk.sum() == 0:
            raise ValueError(
                f"class {names[k]!r} (index {k}) has no patients; its one-vs-rest AUC is undefined"
            )
        results.append(delong_ci(yk, P[:, k], level=level))
    return DeLongOvRResult(per_class=tuple(results), class_names=names, level=level)
