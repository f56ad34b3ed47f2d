"""The one registry of estimators and fusion strategies, and the pipeline every estimator runs in.

Adding an estimator: a factory ``make_x(seed)`` and a space ``space_x(trial)`` (``models/estimators.py``)
and one line in ``ESTIMATORS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import Pipeline

from models import estimators as E
from models.hybrid import space_hybrid
from models.preprocess import BlockPreprocessor, SelectTopK
from models.tuning import probe_space


@dataclass(frozen=True)
class EstimatorSpec:
    """An estimator's factory (seed -> unfitted classifier) and Optuna space (trial -> pipeline params).

    ``cost``: its rough tuning time per modality relative to enet (measured on the smoke cohort); it only
    orders the cells submitted to the workers (largest first), never what they compute.
    """

    make: Callable[[int], BaseEstimator]
    space: Callable[[Any], dict[str, Any]]
    description: str = ""
    cost: float = 1.0


ESTIMATORS: dict[str, EstimatorSpec] = {
    "prior": EstimatorSpec(E.make_prior, E.space_prior, "class prior only (no features)", 0.0),
    "enet": EstimatorSpec(E.make_enet, E.space_enet, "elastic-net logistic regression (saga)", 1.0),
    "svm": EstimatorSpec(E.make_svm, E.space_svm, "SVC with sigmoid-calibrated probabilities", 2.0),
    "rf": EstimatorSpec(E.make_rf, E.space_rf, "random forest", 25.0),
    "xgb": EstimatorSpec(E.make_xgb, E.space_xgb, "XGBoost (hist, n_jobs=1)", 2.5),
    "mlp": EstimatorSpec(E.make_mlp, E.space_mlp, "torch MLP with early stopping", 18.0),
}


@dataclass(frozen=True)
class FusionSpec:
    """How modality blocks are combined: kind is single | early | late | hybrid.

    A hybrid fusion is a network of its own: its ``space`` replaces the estimator's, its ``cost`` the
    estimator's (``EstimatorSpec.cost``).
    """

    kind: str
    method: str | None = None  # late: mean | weighted | stacked; hybrid: concat | gated
    description: str = ""
    space: Callable[[Any], dict[str, Any]] | None = None
    cost: float | None = None


FUSIONS: dict[str, FusionSpec] = {
    "single": FusionSpec("single", None, "one modality's block, trained on the patients who have it"),
    "early": FusionSpec("early", None, "concatenated blocks plus missing-modality indicators"),
    "late_mean": FusionSpec("late", "mean", "mean of per-modality model probabilities"),
    "late_weighted": FusionSpec(
        "late", "weighted", "per-modality probabilities weighted by inner OOF AUC-0.5"
    ),
    "late_stacked": FusionSpec(
        "late", "stacked", "logistic meta-learner on out-of-fold per-modality probabilities"
    ),
    "hybrid_concat": FusionSpec(
        "hybrid", "concat", "torch encoders per modality, concatenated embeddings", space_hybrid, 6.0
    ),
    "hybrid_gated": FusionSpec(
        "hybrid", "gated", "torch encoders per modality, attention-gated embeddings", space_hybrid, 6.0
    ),
}


def get_estimator_spec(name: str) -> EstimatorSpec:
    try:
        return ESTIMATORS[name]
    except KeyError:
        raise KeyError(f"unknown estimator {name!r}; registered: {sorted(ESTIMATORS)}") from None


def get_fusion_spec(name: str) -> FusionSpec:
    try:
        return FUSIONS[name]
    except KeyError:
        raise KeyError(f"unknown fusion {name!r}; registered: {sorted(FUSIONS)}") from None


def search_space_of(estimator: str, fusion: str) -> Callable[[Any], dict[str, Any]]:
    """The Optuna space a cell searches: the hybrid network's for hybrid fusions, else the estimator's."""
    spec = get_fusion_spec(fusion)
    return spec.space if spec.space is not None else get_estimator_spec(estimator).space


def cost_of(estimator: str, fusion: str) -> float:
    """Rough relative tuning time per modality of a cell (for ordering only; 1.0 when unregistered)."""
    spec = FUSIONS.get(fusion)
    if spec is not None and spec.cost is not None:
        return spec.cost
    return ESTIMATORS[estimator].cost if estimator in ESTIMATORS else 1.0


def search_ranges(estimator: str, fusion: str) -> dict[str, list[float]]:
    """Numeric ranges ``{param: [low, high]}`` of the space a cell searches."""
    return probe_space(search_space_of(estimator, fusion)).ranges


def make_pipeline(
    estimator: str,
    *,
    seed: int,
    params: dict[str, Any] | None = None,
    missing_indicators: bool = False,
    text_components: int | None = 32,
    probe: BaseEstimator | None = None,
) -> Pipeline:
    """``[probe] -> prep (BlockPreprocessor) -> select (SelectTopK) -> clf`` for a registered estimator.

    ``probe`` (cloned) is the first step and receives the patient-indexed DataFrame unchanged.
    """
    spec = get_estimator_spec(estimator)
    steps: list[tuple[str, Any]] = []
    if probe is not None:
        steps.append(("probe", clone(probe)))
    steps += [
        (
            "prep",
            BlockPreprocessor(text_components, missing_indicators=missing_indicators, random_state=seed),
        ),
        ("select", SelectTopK(None)),
        ("clf", spec.make(seed)),
    ]
    pipe = Pipeline(steps)
    if params:
        pipe.set_params(**params)
    return pipe
