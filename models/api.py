"""The one entry point the runner calls: tune, fit and predict one benchmark cell."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning

from models import foldwork, harmonise
from models.blocks import block_availability, select_modalities
from models.fusion import LateFusionClassifier, SingleModalityClassifier, combine_late
from models.registry import (
    get_estimator_spec,
    get_fusion_spec,
    make_network_pipeline,
    make_pipeline,
    search_space_of,
    uses_raw,
)
from models.tuning import inner_folds, predict_aligned, tune


@dataclass
class CellFit:
    """Result of one cell: test probabilities (n_test, n_classes) and what produced them."""

    proba: np.ndarray
    best_params: dict[str, Any]
    train_oof: np.ndarray | None
    fit_seconds: float
    predict_seconds: float
    n_trials: int
    model: BaseEstimator | None = None  # the refitted model that predicted the test part


def _check_inputs(X_train: Any, y_train: Any, X_test: Any, n_classes: int) -> np.ndarray:
    for name, X in (("X_train", X_train), ("X_test", X_test)):
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                f"{name} must be a pandas DataFrame indexed by patient_id, got {type(X).__name__}"
            )
        if X.index.has_duplicates:
            raise ValueError(f"{name} has duplicate patient ids, e.g. {X.index[X.index.duplicated()][0]!r}")
    if list(X_train.columns) != list(X_test.columns):
        raise ValueError("X_train and X_test must have the same columns in the same order")
    shared = X_train.index.intersection(X_test.index)
    if len(shared):
        raise ValueError(f"patient {shared[0]!r} is in both the training and the test part")
    y = np.asarray(y_train)
    if y.shape != (len(X_train),):
        raise ValueError(f"y_train has shape {y.shape}, expected ({len(X_train)},)")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(int)
        else:
            raise ValueError("y_train must hold integer class labels 0..n_classes-1")
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    bad = (y < 0) | (y >= n_classes)
    if bad.any():
        raise ValueError(
            f"patient {X_train.index[np.argmax(bad)]!r} has label {y[np.argmax(bad)]} outside 0..{n_classes - 1}"
        )
    return y.astype(np.int64)


def _study(study_name: str | None, suffix: str) -> str | None:
    return None if study_name is None else f"{study_name}{suffix}"


def fit_predict_cell(
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_test: pd.DataFrame,
    *,
    modalities: list[str] | tuple[str, ...] | str,
    estimator: str,
    fusion: str,
    n_classes: int,
    n_trials: int,
    inner_splits: int,
    seed: int,
    storage: Any = None,
    study_name: str | None = None,
    probe: BaseEstimator | None = None,
    return_train_oof: bool = False,
    share_fold_work: bool = True,
    harmonised: list[str] | tuple[str, ...] = (),
    sites: pd.Series | None = None,
    raw: Any = None,
    network_params: dict[str, Any] | None = None,
) -> CellFit:
    """Tune on the training part (inner grouped CV), refit on all of it, predict the test part.

    Fusions: ``single`` (one modality, trained on the patients who have it; test patients without
    it get the training prior; ``train_oof`` is NaN for training patients without it), ``early``
    (all blocks + missing indicators), ``late_*`` (each modality tuned and fitted on the patients who
    have it, combined by ``combine_late``; ``best_params`` maps modality -> params and each modality
    gets its own study ``<study_name>/<modality>``), ``hybrid_*`` (``estimator`` ignored). Labels of
    the test part are never passed in. ``probe`` (cloned) is the first step of every pipeline fitted.

    ``share_fold_work`` (the default; False is the plain path, kept as the benchmark's baseline): the
    cell's frames are made one float block (cheap row slices) and preprocessing fits and transforms are
    computed once per exact input and shared by the trials (``models.foldwork``); same predictions.

    ``harmonised`` modalities are harmonised by ``sites`` (patient id -> site) with ComBat inside every fit
    (``models.harmonise``: fitted on that fit's training rows only; unseen sites pass unchanged).

    ``raw`` (``features.raw.RawInputs``) is where a model on the raw data (``models.registry.uses_raw``)
    finds each patient's images, report states and diary, by the patient ids of the frames it is given;
    ``network_params`` (e.g. ``{"clf__max_epochs": 8}``) are fixed pipeline parameters of such a model,
    applied under every trial's and kept in ``best_params``.
    """
    y = _check_inputs(X_train, y_train, X_test, n_classes)
    spec = get_fusion_spec(fusion)
    modalities = modalities.split("+") if isinstance(modalities, str) else list(modalities)
    if spec.kind == "single" and len(modalities) != 1:
        raise ValueError(f"fusion 'single' takes exactly one modality, got {modalities}")
    if spec.kind != "hybrid":
        get_estimator_spec(estimator)
    raw_cell = uses_raw(estimator, fusion)
    if raw_cell and raw is None:
        raise ValueError(f"{estimator}/{fusion} learns from the raw data: pass the raw inputs (raw=...)")
    fixed = dict(network_params or {}) if raw_cell else {}
    Xtr = select_modalities(X_train, modalities)
    Xte = X_test.loc[:, Xtr.columns]
    if share_fold_work:
        Xtr, Xte = Xtr.copy(), Xte.copy()  # a copy is consolidated: one block
    classes = np.arange(n_classes)
    start = time.perf_counter()
    if harmonised and sites is None:
        raise ValueError(f"harmonising {list(harmonised)} needs the patients' sites")
    with (
        warnings.catch_warnings(),
        foldwork.sharing(share_fold_work),
        harmonise.harmonising(harmonised, sites),
        _raw_inputs(raw if raw_cell else None),
    ):
        warnings.simplefilter("ignore", ConvergenceWarning)
        if spec.kind in ("early", "hybrid"):
            space = search_space_of(estimator, fusion)
            if spec.kind == "early":

                def make(params: dict[str, Any]) -> BaseEstimator:
                    return make_pipeline(
                        estimator, seed=seed, params=params, missing_indicators=True, probe=probe
                    )
            else:

                def make(params: dict[str, Any]) -> BaseEstimator:
                    return make_network_pipeline(fusion, seed=seed, params={**params, **fixed}, probe=probe)

            result = tune(
                make, space, Xtr, y, classes=classes, n_trials=n_trials, inner_splits=inner_splits, seed=seed,
                storage=storage, study_name=study_name, return_train_oof=return_train_oof,
            )  # fmt: skip
            model = make(result.best_params).fit(Xtr, y)
            fit_seconds = time.perf_counter() - start
            t0 = time.perf_counter()
            proba = predict_aligned(model, Xte, classes)
            return CellFit(
                proba,
                {**result.best_params, **fixed},
                result.train_oof,
                fit_seconds,
                time.perf_counter() - t0,
                result.n_trials,
                model,
            )

        # single and late: one tuned model per modality on the training patients who have it
        space = get_estimator_spec(estimator).space
        avail = block_availability(Xtr)
        best: dict[str, dict[str, Any]] = {}
        oofs: dict[str, np.ndarray] = {}
        total_trials = 0
        need_oof = return_train_oof or (spec.kind == "late" and spec.method != "mean")
        for m in modalities:
            has = avail[m].to_numpy()
            if not has.any():
                raise ValueError(f"no training patient has modality {m!r}")
            sub = Xtr.loc[has, [c for c in Xtr.columns if c.startswith(f"{m}:")]]

            def make(params: dict[str, Any]) -> BaseEstimator:
                return make_pipeline(estimator, seed=seed, params={**params, **fixed}, probe=probe)

            suffix = "" if spec.kind == "single" else f"/{m}"
            result = tune(
                make, space, sub, y[has], classes=classes, n_trials=n_trials, inner_splits=inner_splits, seed=seed,
                storage=storage, study_name=_study(study_name, suffix), return_train_oof=need_oof,
            )  # fmt: skip
            best[m] = {**result.best_params, **fixed}
            total_trials += result.n_trials
            if need_oof:
                full = np.full((len(Xtr), n_classes), np.nan)
                full[has] = result.train_oof
                oofs[m] = full

        if spec.kind == "single":
            m = modalities[0]
            model: BaseEstimator = SingleModalityClassifier(
                estimator, m, best[m], probe=probe, random_state=seed
            )
            model.fit(Xtr, y)
            fit_seconds = time.perf_counter() - start
            t0 = time.perf_counter()
            proba = predict_aligned(model, Xte, classes)
            return CellFit(
                proba, best[m], oofs.get(m), fit_seconds, time.perf_counter() - t0, total_trials, model
            )

        method = spec.method or "mean"
        train_oof = {m: oofs.get(m, np.full((len(Xtr), n_classes), np.nan)) for m in modalities}
        late = LateFusionClassifier(
            method, estimator, best, inner_splits=inner_splits, probe=probe, random_state=seed
        )
        late.fit(Xtr, y, train_oof=train_oof)
        fit_seconds = time.perf_counter() - start
        t0 = time.perf_counter()
        proba = predict_aligned(late, Xte, classes)
        predict_seconds = time.perf_counter() - t0
        cross = (
            _cross_fitted_late(train_oof, y, avail[modalities], method, inner_splits, seed)
            if return_train_oof
            else None
        )
        return CellFit(proba, best, cross, fit_seconds, predict_seconds, total_trials, late)


@contextmanager
def _raw_inputs(raw: Any) -> Iterator[None]:
    """The raw inputs the deep models of this fit read (``models.deep.using_raw``); nothing without."""
    if raw is None:
        yield
        return
    from models.deep import using_raw  # torch and MONAI load only for cells on the raw data

    with using_raw(raw):
        yield


def _cross_fitted_late(
    train_oof: dict[str, np.ndarray],
    y: np.ndarray,
    avail: pd.DataFrame,
    method: str,
    inner_splits: int,
    seed: int,
) -> np.ndarray:
    """Late-fusion out-of-fold predictions on the training part: the combiner never sees the row it predicts."""
    K = next(iter(train_oof.values())).shape[1]
    out = np.full((len(y), K), np.nan)
    for tr, va in inner_folds(y, np.asarray(avail.index), inner_splits, seed):
        out[va] = combine_late(
            {m: o[tr] for m, o in train_oof.items()},
            y[tr],
            {m: o[va] for m, o in train_oof.items()},
            avail.iloc[va],
            method,
            seed,
        )
    return out
