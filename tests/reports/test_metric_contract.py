"""The contract of every registered metric (``reports.metrics.METRICS``), for each task type it applies to.

A metric gives its best value on perfect predictions (one-hot probabilities of the true class; for a
metric with an ``ideal`` value, i.e. a calibration metric, perfectly calibrated probabilities), no
prediction scores better than perfect, it is finite on a normal case, and by its own ``badness`` it is
worse on a degraded prediction than on a good one. Registering a metric is enough to have it checked.
"""

from __future__ import annotations

import numpy as np
import pytest

from reports.metrics import METRICS, Metric

CASES = [(name, task) for name, metric in METRICS.items() for task in sorted(metric.tasks)]
BEST: dict[str, float] = {}
"""Best value of a metric whose best is not 1 (greater is better) or 0 (lower is better) nor its ideal."""
N_CLASSES = {"binary": 2, "multiclass": 4}


def _best(metric: Metric) -> float:
    if metric.ideal is not None:
        return metric.ideal
    return BEST.get(metric.name, 1.0 if metric.greater_is_better else 0.0)


def _calibrated_binary() -> tuple[np.ndarray, np.ndarray]:
    """Probabilities that are exactly calibrated: of the ten patients given p, exactly 10 p are positive
    (prevalence 0.4, so a degradation that moves the mean prediction moves the intercept too)."""
    levels = [0.1, 0.1, 0.2, 0.2, 0.3, 0.4, 0.6, 0.8, 0.9]
    p = np.repeat(levels, 10)
    y = np.concatenate([np.r_[np.ones(round(10 * q)), np.zeros(10 - round(10 * q))] for q in levels])
    return y.astype(int), np.column_stack([1 - p, p])


def _informative(n_classes: int, n: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy probabilities that favour the true class (softmax of logits with +2 on the true class)."""
    if n_classes == 2:
        return _calibrated_binary()
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    logits = rng.normal(size=(n, n_classes))
    logits[np.arange(n), y] += 2.0
    proba = np.exp(logits)
    return y, proba / proba.sum(axis=1, keepdims=True)


def _degraded(y: np.ndarray, proba: np.ndarray, weight: float = 0.3) -> np.ndarray:
    """``proba`` mixed with a one-hot of a wrong class (the next one): less accurate and miscalibrated."""
    wrong = np.eye(proba.shape[1])[(y + 1) % proba.shape[1]]
    return (1 - weight) * proba + weight * wrong


@pytest.mark.parametrize(("name", "task"), CASES, ids=[f"{n}-{t}" for n, t in CASES])
def test_best_value_on_perfect_predictions(name: str, task: str) -> None:
    metric = METRICS[name]
    if metric.ideal is not None:
        y, perfect = _calibrated_binary()
    else:
        y, _ = _informative(N_CLASSES[task])
        perfect = np.eye(N_CLASSES[task])[y]
    value = metric(y, perfect)
    assert value == pytest.approx(_best(metric), abs=1e-9)
    # and no prediction does better than perfect (where the metric is defined)
    rng = np.random.default_rng(1)
    others = [metric(y, rng.dirichlet(np.ones(perfect.shape[1]), size=len(y))) for _ in range(5)]
    assert all(metric.badness(value) <= metric.badness(v) + 1e-12 for v in others if np.isfinite(v))


@pytest.mark.parametrize(("name", "task"), CASES, ids=[f"{n}-{t}" for n, t in CASES])
def test_finite_and_worse_on_a_degraded_prediction(name: str, task: str) -> None:
    metric = METRICS[name]
    y, good = _informative(N_CLASSES[task])
    value = metric(y, good)
    assert np.isfinite(value)
    worse = metric(y, _degraded(y, good))
    assert np.isfinite(worse) and metric.badness(worse) > metric.badness(value) + 1e-6
