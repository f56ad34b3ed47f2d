"""The one registry of estimators and fusion strategies, and the pipeline every estimator runs in.

Adding an estimator: a factory ``make_x(seed)`` and a space ``space_x(trial)`` (``models/estimators.py``)
and one line in ``ESTIMATORS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import Pipeline

from models import estimators as E
from models.hybrid import HybridFusionClassifier, space_hybrid
from models.preprocess import BlockPreprocessor, SelectTopK
from models.tuning import probe_space

HYBRID_ESTIMATOR = "hybrid"
"""The estimator column of the hybrid networks' cells (they have no estimator of their own)."""


@dataclass(frozen=True)
class EstimatorSpec:
    """An estimator's factory (seed -> unfitted classifier) and Optuna space (trial -> pipeline params).

    ``cost``: its rough tuning time per modality relative to enet (measured on the smoke cohort); it only
    orders the cells submitted to the workers (largest first), never what they compute.

    ``raw``: the estimator learns from the raw inputs (images, report tokens, diaries: ``features.raw``)
    found by patient id, not from the fixed features: its pipeline is ``[probe] -> clf`` on the
    patient-indexed frame, and it has no early fusion (the intermediate fusion of raw encoders is the
    ``attention`` fusion).
    """

    make: Callable[[int], BaseEstimator]
    space: Callable[[Any], dict[str, Any]]
    description: str = ""
    cost: float = 1.0
    raw: bool = False


ESTIMATORS: dict[str, EstimatorSpec] = {
    "prior": EstimatorSpec(E.make_prior, E.space_prior, "class prior only (no features)", 0.0),
    "enet": EstimatorSpec(E.make_enet, E.space_enet, "elastic-net logistic regression (saga)", 1.0),
    "svm": EstimatorSpec(E.make_svm, E.space_svm, "SVC with sigmoid-calibrated probabilities", 2.0),
    "rf": EstimatorSpec(E.make_rf, E.space_rf, "random forest", 25.0),
    "xgb": EstimatorSpec(E.make_xgb, E.space_xgb, "XGBoost (hist, n_jobs=1)", 2.5),
    "mlp": EstimatorSpec(E.make_mlp, E.space_mlp, "torch MLP with early stopping", 18.0),
    "deep": EstimatorSpec(
        E.make_deep,
        E.space_deep,
        "deep network on the raw data: 3D CNN (imaging), fine-tuned MiniLM (text), GRU (diary)",
        60.0,
        raw=True,
    ),
}


def make_hybrid(fusion: str, seed: int) -> BaseEstimator:
    """The hybrid network on fixed features, ``fusion`` concat or gated."""
    return HybridFusionClassifier(fusion=fusion, random_state=seed)


@dataclass(frozen=True)
class FusionSpec:
    """How modality blocks are combined: kind is single | early | late | hybrid.

    A hybrid fusion is a network of its own: ``make`` (seed -> unfitted classifier on the patient-indexed
    frame) builds it, its ``space`` replaces the estimator's, its ``cost`` the estimator's
    (``EstimatorSpec.cost``), and ``estimator`` is the name its cells carry in the estimator column.
    """

    kind: str
    method: str | None = None  # late: mean | weighted | stacked; hybrid: concat | gated | attention
    description: str = ""
    space: Callable[[Any], dict[str, Any]] | None = None
    cost: float | None = None
    make: Callable[[int], BaseEstimator] | None = None
    estimator: str | None = None


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
        "hybrid", "concat", "torch encoders per modality, concatenated embeddings", space_hybrid, 6.0,
        partial(make_hybrid, "concat"), HYBRID_ESTIMATOR,
    ),
    "hybrid_gated": FusionSpec(
        "hybrid", "gated", "torch encoders per modality, attention-gated embeddings", space_hybrid, 6.0,
        partial(make_hybrid, "gated"), HYBRID_ESTIMATOR,
    ),
    "attention": FusionSpec(
        "hybrid", "attention",
        "deep encoders on the raw data per modality, cross-modal attention over modality tokens "
        "(learned token for a missing modality, modality dropout)",
        E.space_deep, 150.0, E.make_attention, "deep",
    ),
}  # fmt: skip


def uses_raw(estimator: str, fusion: str) -> bool:
    """Whether a cell learns from the raw inputs (a raw estimator, or a fusion network of raw encoders)."""
    spec = FUSIONS.get(fusion)
    if spec is not None and spec.kind == "hybrid":
        return spec.estimator in ESTIMATORS and ESTIMATORS[spec.estimator].raw
    return estimator in ESTIMATORS and ESTIMATORS[estimator].raw


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
    if spec.raw:
        if missing_indicators:
            raise ValueError(f"estimator {estimator!r} learns from the raw data and has no early fusion")
        return _with_params(Pipeline([*steps, ("clf", spec.make(seed))]), params)
    steps += [
        (
            "prep",
            BlockPreprocessor(text_components, missing_indicators=missing_indicators, random_state=seed),
        ),
        ("select", SelectTopK(None)),
        ("clf", spec.make(seed)),
    ]
    return _with_params(Pipeline(steps), params)


def make_network_pipeline(
    fusion: str, *, seed: int, params: dict[str, Any] | None = None, probe: BaseEstimator | None = None
) -> Pipeline:
    """``[probe] -> clf`` for a hybrid fusion network (it does its own per-block preprocessing)."""
    spec = get_fusion_spec(fusion)
    if spec.make is None:
        raise ValueError(f"fusion {fusion!r} is not a network of its own")
    steps: list[tuple[str, Any]] = [("probe", clone(probe))] if probe is not None else []
    return _with_params(Pipeline([*steps, ("clf", spec.make(seed))]), params)


def _with_params(pipe: Pipeline, params: dict[str, Any] | None) -> Pipeline:
    if params:
        pipe.set_params(**params)
    return pipe
