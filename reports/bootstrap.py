"""Vectorised, stratified, patient-level bootstrap confidence intervals for any registered metric.

A resample is a vector of draw counts over the resampling units, so a whole chunk of resamples is one
weight matrix ``W`` (B, n) evaluated by the metric's batch function (:mod:`reports.metrics`).

- Units: patients when ``groups`` is given (a drawn patient brings all their rows, e.g. the predictions
  of every CV repeat), otherwise rows.
- Stratified by class (default): each class's units are resampled within the class, so every resample
  keeps the observed class counts and a rank metric is always defined.
- Intervals: percentile, or BCa with the bias correction ``z0 = Phi^-1((#{t* < t} + #{t* = t}/2) / B)``
  and the acceleration from a leave-one-unit-out jackknife (delete-a-block jackknife over
  ``JACKKNIFE_MAX_BLOCKS`` random blocks of units when there are more units than that).
- Paired differences use the same resamples (and jackknife) for both models. Its bootstrap p-value is
  ``min(1, 2 min((1 + #{d* <= 0}) / (B + 1), (1 + #{d* >= 0}) / (B + 1)))``, the smallest two-sided level
  whose percentile interval excludes 0.
- Resamples where the metric is undefined (NaN) are dropped and counted in ``n_valid``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypedDict, Unpack

import numpy as np
import pandas as pd
from scipy.stats import norm

from reports._results import IntervalResult
from reports.metrics import Metric, check_inputs, get_metric

__all__ = [
    "BootstrapOptions",
    "BootstrapResult",
    "BootstrapDiffResult",
    "bootstrap_ci",
    "bootstrap_diff_ci",
    "resample_weights",
]

METHODS = ("percentile", "bca")
JACKKNIFE_MAX_BLOCKS = 2000
_CHUNK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class _Design:
    """Resampling units and strata of one data set."""

    unit_of_row: np.ndarray  # (n_rows,) unit index of each row
    strata: tuple[np.ndarray, ...]  # unit indices of each stratum
    n_units: int
    resampling: str  # "patients" or "rows"


def _design(y: np.ndarray, groups: Iterable | None, stratify: bool) -> _Design:
    if groups is None:
        unit_of_row = np.arange(y.size)
        unit_label = y
        resampling = "rows"
    else:
        g = np.asarray(groups)
        if g.shape != y.shape:
            raise ValueError(f"groups must have one entry per row ({y.size}), got shape {g.shape}")
        if pd.isna(g).any():
            raise ValueError(
                f"groups (patient ids) contain missing values at rows {np.flatnonzero(pd.isna(g))[:5].tolist()}"
            )
        codes, uniques = pd.factorize(g, sort=True)
        unit_of_row = codes.astype(np.int64)
        n_units = uniques.size
        lo = np.full(n_units, np.iinfo(np.int64).max)
        hi = np.full(n_units, np.iinfo(np.int64).min)
        np.minimum.at(lo, unit_of_row, y)
        np.maximum.at(hi, unit_of_row, y)
        if stratify and np.any(lo != hi):
            bad = uniques[np.flatnonzero(lo != hi)[0]]
            raise ValueError(f"patient {bad!r} has rows with different y_true; cannot stratify by class")
        unit_label = lo
        resampling = "patients"
    n_units = unit_label.size
    if stratify:
        strata = tuple(np.flatnonzero(unit_label == k) for k in np.unique(unit_label))
    else:
        strata = (np.arange(n_units),)
    return _Design(unit_of_row, strata, n_units, resampling)


def _count_chunks(design: _Design, n_boot: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Draw counts per unit, ``(chunk, n_units)`` at a time; the chunk size depends only on the data size."""
    step = max(1, _CHUNK_ELEMENTS // max(design.unit_of_row.size, design.n_units))
    for start in range(0, n_boot, step):
        b = min(step, n_boot - start)
        counts = np.empty((b, design.n_units))
        for members in design.strata:
            ns = members.size
            draws = rng.integers(0, ns, size=(b, ns))
            draws += (np.arange(b) * ns)[:, None]  # row r's draws land in bins r*ns .. r*ns + ns - 1
            counts[:, members] = np.bincount(draws.ravel(), minlength=b * ns).reshape(b, ns)
        yield counts


def resample_weights(
    y_true: Iterable, *, n_boot: int, seed: int = 0, groups: Iterable | None = None, stratify: bool = True
) -> np.ndarray:
    """The row-weight matrix ``(n_boot, n_rows)`` the bootstrap uses (for inspection and custom statistics)."""
    y = np.asarray(y_true).astype(np.int64)
    design = _design(y, groups, stratify)
    rng = np.random.default_rng(seed)
    return np.vstack([c[:, design.unit_of_row] for c in _count_chunks(design, n_boot, rng)])


def _jackknife_chunks(design: _Design, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Row weights leaving out one unit (or one block of units) at a time."""
    n = design.n_units
    if n <= JACKKNIFE_MAX_BLOCKS:
        block_of_unit = np.arange(n)
        n_blocks = n
    else:
        block_of_unit = rng.permutation(n) % JACKKNIFE_MAX_BLOCKS
        n_blocks = JACKKNIFE_MAX_BLOCKS
    block_of_row = block_of_unit[design.unit_of_row]
    step = max(1, _CHUNK_ELEMENTS // design.unit_of_row.size)
    for start in range(0, n_blocks, step):
        blocks = np.arange(start, min(n_blocks, start + step))
        yield (block_of_row[None, :] != blocks[:, None]).astype(float)


def _acceleration(jack: np.ndarray) -> float:
    jack = jack[np.isfinite(jack)]
    if jack.size < 3:
        return 0.0
    u = jack.mean() - jack
    den = 6.0 * np.sum(u**2) ** 1.5
    return float(np.sum(u**3) / den) if den > 0 else 0.0


def _interval(
    reps: np.ndarray, estimate: float, level: float, method: str, accel: float
) -> tuple[float, float, float]:
    alphas = np.array([(1 - level) / 2, (1 + level) / 2])
    if method == "percentile":
        lo, hi = np.quantile(reps, alphas)
        return float(lo), float(hi), np.nan
    share_below = (np.sum(reps < estimate) + 0.5 * np.sum(reps == estimate)) / reps.size
    z0 = float(norm.ppf(share_below))
    zq = norm.ppf(alphas)
    with np.errstate(divide="ignore", invalid="ignore"):
        adjusted = norm.cdf(z0 + (z0 + zq) / (1.0 - accel * (z0 + zq)))
    if not np.all(np.isfinite(adjusted)):
        adjusted = alphas
    lo, hi = np.quantile(reps, np.clip(adjusted, 0.0, 1.0))
    return float(lo), float(hi), z0


def _validate(n_boot: int, level: float, method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if int(n_boot) != n_boot or n_boot < 10:
        raise ValueError(f"n_boot must be an integer >= 10, got {n_boot}")


def _drop_nan(reps: np.ndarray, what: str) -> np.ndarray:
    ok = np.isfinite(reps)
    if not ok.all():
        warnings.warn(
            f"{what}: {int((~ok).sum())} of {reps.size} bootstrap resamples gave NaN and were dropped",
            stacklevel=3,
        )
    return reps[ok]


@dataclass(frozen=True, repr=False)
class _Replicated(IntervalResult):
    """The fields every bootstrap result has; its ``replicates`` give the standard error."""

    metric: str
    ci_low: float
    ci_high: float
    level: float
    method: str
    n_boot: int
    n_valid: int
    n_units: int
    resampling: str
    stratified: bool
    bias_z0: float
    acceleration: float
    replicates: np.ndarray = field(repr=False, compare=False)

    @property
    def se(self) -> float:
        return float(np.std(self.replicates, ddof=1))


@dataclass(frozen=True, repr=False)
class BootstrapResult(_Replicated):
    """Bootstrap CI of one metric for one model."""

    estimate: float

    @property
    def summary(self) -> pd.DataFrame:
        return self._one_row("estimate se ci_low ci_high level n_boot n_units method", self.metric, "metric")


@dataclass(frozen=True, repr=False)
class BootstrapDiffResult(_Replicated):
    """Paired bootstrap CI (and p-value) of ``metric(a) - metric(b)``."""

    estimate_a: float
    estimate_b: float
    p_value: float
    names: tuple[str, str]

    @property
    def estimate(self) -> float:
        return self.estimate_a - self.estimate_b

    @property
    def summary(self) -> pd.DataFrame:
        a, b = self.names
        columns = "metric estimate_a estimate_b estimate se ci_low ci_high p_value n_boot n_units method"
        return self._one_row(columns, f"{a} - {b}", "comparison")


class BootstrapOptions(TypedDict, total=False):
    """Keyword options of :func:`bootstrap_ci` and :func:`bootstrap_diff_ci`, all optional.

    ``n_boot`` resamples (an integer >= 10; 2000), CI ``level`` (0.95), ``method`` "percentile" (default)
    or "bca", ``seed`` (0), ``groups`` (patient ids: resample patients; default None, rows) and
    ``stratify`` (resample within each class; True).
    """

    n_boot: int
    level: float
    method: str
    seed: int
    groups: Iterable | None
    stratify: bool


def _run(
    y_true,
    preds: list,
    metric: str | Metric,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    method: str = "percentile",
    seed: int = 0,
    groups: Iterable | None = None,
    stratify: bool = True,
):
    _validate(n_boot, level, method)
    m = get_metric(metric)
    checked = [check_inputs(y_true, p) for p in preds]
    y = checked[0][0]
    Ps = [P for _, P in checked]
    if len(Ps) == 2 and Ps[0].shape != Ps[1].shape:
        raise ValueError(f"the two models' predictions differ in shape: {Ps[0].shape} vs {Ps[1].shape}")
    design = _design(y, groups, stratify)
    ones = np.ones((1, y.size))
    estimates = [float(m.batch_eval(y, P, ones)[0]) for P in Ps]
    rng = np.random.default_rng(seed)
    reps = [[] for _ in Ps]
    for counts in _count_chunks(design, n_boot, rng):
        W = counts[:, design.unit_of_row]
        for i, P in enumerate(Ps):
            reps[i].append(m.batch_eval(y, P, W))
    reps = [np.concatenate(r) for r in reps]
    stat = reps[0] if len(Ps) == 1 else reps[0] - reps[1]
    stat = _drop_nan(stat, m.name)
    if stat.size < 2:
        raise ValueError(f"{m.name}: fewer than 2 bootstrap resamples gave a defined value")
    estimate = estimates[0] if len(Ps) == 1 else estimates[0] - estimates[1]
    accel = np.nan
    if method == "bca":
        jack = []
        for W in _jackknife_chunks(design, rng):
            vals = [m.batch_eval(y, P, W) for P in Ps]
            jack.append(vals[0] if len(Ps) == 1 else vals[0] - vals[1])
        accel = _acceleration(np.concatenate(jack))
    lo, hi, z0 = _interval(stat, estimate, level, method, accel)
    common = dict(
        metric=m.name,
        ci_low=lo,
        ci_high=hi,
        level=level,
        method="BCa bootstrap" if method == "bca" else "percentile bootstrap",
        n_boot=int(n_boot),
        n_valid=int(stat.size),
        n_units=design.n_units,
        resampling=design.resampling,
        stratified=stratify,
        bias_z0=z0,
        acceleration=accel,
        replicates=stat,
    )
    return estimates, stat, common


def bootstrap_ci(
    y_true: Iterable, proba_or_score: Iterable, metric: str | Metric, **options: Unpack[BootstrapOptions]
) -> BootstrapResult:
    """Bootstrap CI of a registered metric (name or :class:`Metric`); same seed, same interval."""
    estimates, _, common = _run(y_true, [proba_or_score], metric, **options)
    return BootstrapResult(estimate=estimates[0], **common)


def bootstrap_diff_ci(
    y_true: Iterable,
    pred_a: Iterable,
    pred_b: Iterable,
    metric: str | Metric,
    *,
    names: tuple[str, str] = ("a", "b"),
    **options: Unpack[BootstrapOptions],
) -> BootstrapDiffResult:
    """Paired bootstrap of ``metric(a) - metric(b)``: both models are scored on the same resamples."""
    estimates, stat, common = _run(y_true, [pred_a, pred_b], metric, **options)
    B = stat.size
    p = min(1.0, 2.0 * min((1 + np.sum(stat <= 0)) / (B + 1), (1 + np.sum(stat >= 0)) / (B + 1)))
    return BootstrapDiffResult(
        estimate_a=estimates[0], estimate_b=estimates[1], p_value=float(p), names=tuple(names), **common
    )
