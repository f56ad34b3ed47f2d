"""Fusion of modality blocks: single modality, late fusion (mean / weighted / stacked) and its combiner.

Early fusion is the plain registry pipeline with missing-modality indicators
(``models.registry.make_pipeline(..., missing_indicators=True)``); hybrid fusion lives in
``models.hybrid``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from models.base import ProbabilisticClassifier, encode_labels
from models.blocks import block_availability, split_blocks
from models.registry import make_pipeline
from models.tuning import auc_score, expand_proba, inner_folds, oof_predict, predict_aligned

LATE_METHODS = ("mean", "weighted", "stacked")


def prior_proba(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Class frequencies of ``y`` (labels 0..n_classes-1)."""
    counts = np.bincount(np.asarray(y, dtype=int), minlength=n_classes).astype(float)
    return counts / counts.sum()


def modality_weights(train_oof: dict[str, np.ndarray], y_train: np.ndarray) -> dict[str, float]:
    """Normalised weights max(AUC - 0.5, 0) of each modality's out-of-fold predictions (equal if all 0)."""
    y = np.asarray(y_train, dtype=int)
    raw: dict[str, float] = {}
    for m, oof in train_oof.items():
        oof = np.asarray(oof, dtype=float)
        has = ~np.isnan(oof).any(axis=1)
        auc = auc_score(y[has], oof[has], np.arange(oof.shape[1])) if has.any() else float("nan")
        raw[m] = 0.0 if np.isnan(auc) else max(auc - 0.5, 0.0)
    total = sum(raw.values())
    if total <= 0:
        return {m: 1.0 / len(raw) for m in raw}
    return {m: w / total for m, w in raw.items()}


def _stack_features(
    probas: dict[str, np.ndarray], present: dict[str, np.ndarray], prior: np.ndarray
) -> np.ndarray:
    cols = []
    for m, p in probas.items():
        filled = np.where(present[m][:, None], np.nan_to_num(p, nan=0.0), prior[None, :])
        cols += [filled[:, 1:], (~present[m]).astype(float)[:, None]]  # drop the redundant column 0
    return np.hstack(cols)


def combine_late(
    train_oof: dict[str, np.ndarray],
    y_train: np.ndarray,
    test_proba: dict[str, np.ndarray],
    available_test: pd.DataFrame,
    method: str,
    seed: int,
) -> np.ndarray:
    """Combine per-modality probabilities into one (n_test, n_classes) array.

    ``train_oof[m]``: out-of-fold probabilities of modality m's model on the training patients, aligned
    with ``y_train`` (labels 0..K-1), NaN rows for patients without m. ``test_proba[m]``: its test
    probabilities, aligned with the rows of ``available_test`` (bool, one column per modality; rows
    where m is absent are ignored and may be NaN). A test patient is predicted from the modalities it
    has: ``mean`` averages them, ``weighted`` uses ``modality_weights`` renormalised over them,
    ``stacked`` feeds a logistic meta-learner (fitted on the training OOF, absent modalities filled
    with the training prior plus an indicator). A patient with no modality gets the prior (mean,
    weighted) or the meta-learner's intercept-only answer (stacked).
    """
    if method not in LATE_METHODS:
        raise ValueError(f"unknown late fusion method {method!r}; expected one of {LATE_METHODS}")
    modalities = list(train_oof)
    if not modalities:
        raise ValueError("combine_late needs at least one modality")
    if set(test_proba) != set(modalities):
        raise ValueError(f"train_oof has modalities {modalities} but test_proba has {sorted(test_proba)}")
    missing_cols = [m for m in modalities if m not in available_test.columns]
    if missing_cols:
        raise ValueError(f"available_test lacks columns {missing_cols}")
    y = np.asarray(y_train, dtype=int)
    n_test = len(available_test)
    K = np.asarray(train_oof[modalities[0]]).shape[1]
    if y.min(initial=0) < 0 or y.max(initial=0) >= K:
        raise ValueError(f"y_train labels must be in 0..{K - 1}")
    train = {m: np.asarray(train_oof[m], dtype=float) for m in modalities}
    test = {m: np.asarray(test_proba[m], dtype=float) for m in modalities}
    present = {m: available_test[m].to_numpy(dtype=bool) for m in modalities}
    for m in modalities:
        if train[m].shape != (len(y), K):
            raise ValueError(f"train_oof[{m!r}] has shape {train[m].shape}, expected {(len(y), K)}")
        if test[m].shape != (n_test, K):
            raise ValueError(f"test_proba[{m!r}] has shape {test[m].shape}, expected {(n_test, K)}")
        bad = present[m] & ~np.isfinite(test[m]).all(axis=1)
        if bad.any():
            pid = available_test.index[np.argmax(bad)]
            raise ValueError(f"test_proba[{m!r}] is not finite for patient {pid!r}, who has modality {m!r}")
    prior = prior_proba(y, K)

    if method == "stacked":
        if len(np.unique(y)) < 2:
            return np.tile(prior, (n_test, 1))
        train_present = {m: np.isfinite(train[m]).all(axis=1) for m in modalities}
        meta = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
        meta.fit(_stack_features(train, train_present, prior), y)
        out = expand_proba(
            meta.predict_proba(_stack_features(test, present, prior)), meta.classes_, np.arange(K)
        )
        return out / out.sum(axis=1, keepdims=True)

    weights = modality_weights(train, y) if method == "weighted" else {m: 1.0 for m in modalities}
    num = np.zeros((n_test, K))
    den = np.zeros(n_test)
    for m in modalities:
        w = weights[m] * present[m]
        num += w[:, None] * np.nan_to_num(test[m], nan=0.0)
        den += w
    zero = den <= 0
    if method == "weighted":  # available modalities all weigh 0: fall back to their plain mean
        for m in modalities:
            num[zero] += present[m][zero, None] * np.nan_to_num(test[m][zero], nan=0.0)
            den[zero] += present[m][zero]
        zero = den <= 0
    out = np.where(zero[:, None], prior[None, :], num / np.where(zero, 1.0, den)[:, None])
    return out / out.sum(axis=1, keepdims=True)


class SingleModalityClassifier(ProbabilisticClassifier):
    """A registry pipeline on one modality's block, trained on the patients who have that modality.

    Test patients without the modality get the training class prior.
    """

    def __init__(
        self,
        estimator: str = "enet",
        modality: str = "imaging",
        params: dict[str, Any] | None = None,
        text_components: int | None = 32,
        probe: BaseEstimator | None = None,
        random_state: int = 0,
    ) -> None:
        self.estimator = estimator
        self.modality = modality
        self.params = params
        self.text_components = text_components
        self.probe = probe
        self.random_state = random_state

    def _make(self) -> BaseEstimator:
        return make_pipeline(
            self.estimator,
            seed=self.random_state,
            params=self.params,
            text_components=self.text_components,
            probe=self.probe,
        )

    def fit(self, X: pd.DataFrame, y: object) -> SingleModalityClassifier:
        blocks = split_blocks(X.columns)
        if self.modality not in blocks:
            raise ValueError(f"X has no {self.modality!r} columns; blocks: {list(blocks)}")
        self.classes_, y_enc = encode_labels(y)
        self.columns_ = blocks[self.modality]
        has = block_availability(X, {self.modality: self.columns_})[self.modality].to_numpy()
        if not has.any():
            raise ValueError(f"no training patient has modality {self.modality!r}")
        self.prior_ = prior_proba(y_enc, len(self.classes_))
        self.model_ = self._make().fit(X.loc[has, self.columns_], y_enc[has])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "model_")
        out = np.tile(self.prior_, (len(X), 1))
        has = block_availability(X, {self.modality: self.columns_})[self.modality].to_numpy()
        if has.any():
            out[has] = predict_aligned(self.model_, X.loc[has, self.columns_], np.arange(len(self.classes_)))
        return out


class LateFusionClassifier(ProbabilisticClassifier):
    """One registry pipeline per modality (fitted on the patients who have it), combined by ``combine_late``.

    ``modality_params`` maps modality -> pipeline parameters (e.g. tuned ones). For ``weighted`` and
    ``stacked`` the per-modality out-of-fold predictions come from a seeded inner grouped stratified CV
    on the training rows (or from ``fit(..., train_oof=...)`` when the caller already has them).
    """

    def __init__(
        self,
        method: str = "mean",
        estimator: str = "enet",
        modality_params: dict[str, dict[str, Any]] | None = None,
        inner_splits: int = 3,
        text_components: int | None = 32,
        probe: BaseEstimator | None = None,
        random_state: int = 0,
    ) -> None:
        self.method = method
        self.estimator = estimator
        self.modality_params = modality_params
        self.inner_splits = inner_splits
        self.text_components = text_components
        self.probe = probe
        self.random_state = random_state

    def _make(self, modality: str) -> BaseEstimator:
        params = (self.modality_params or {}).get(modality)
        return make_pipeline(
            self.estimator,
            seed=self.random_state,
            params=params,
            text_components=self.text_components,
            probe=self.probe,
        )

    def fit(
        self, X: pd.DataFrame, y: object, train_oof: dict[str, np.ndarray] | None = None
    ) -> LateFusionClassifier:
        if self.method not in LATE_METHODS:
            raise ValueError(f"unknown late fusion method {self.method!r}; expected one of {LATE_METHODS}")
        self.classes_, y_enc = encode_labels(y)
        K = len(self.classes_)
        self.blocks_ = split_blocks(X.columns)
        avail = block_availability(X, self.blocks_)
        self.models_: dict[str, BaseEstimator] = {}
        self.train_oof_: dict[str, np.ndarray] = {}
        for m, cols in self.blocks_.items():
            has = avail[m].to_numpy()
            if not has.any():
                continue  # nobody in training has it: the modality cannot contribute
            sub, y_sub = X.loc[has, cols], y_enc[has]
            if train_oof is not None and m in train_oof:
                oof = np.asarray(train_oof[m], dtype=float)
                if oof.shape != (len(X), K):
                    raise ValueError(f"train_oof[{m!r}] has shape {oof.shape}, expected {(len(X), K)}")
            else:
                oof = np.full((len(X), K), np.nan)
                if self.method != "mean":
                    folds = inner_folds(y_sub, np.asarray(sub.index), self.inner_splits, self.random_state)
                    oof[has] = oof_predict(lambda m=m: self._make(m), sub, y_sub, folds, np.arange(K))
            self.train_oof_[m] = oof
            self.models_[m] = self._make(m).fit(sub, y_sub)
        if not self.models_:
            raise ValueError("no training patient has any modality")
        self.y_ = y_enc
        return self

    def modality_proba(self, X: pd.DataFrame) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
        """Per-modality test probabilities (NaN where absent) and the availability frame."""
        check_is_fitted(self, "models_")
        K = len(self.classes_)
        avail = block_availability(X, {m: self.blocks_[m] for m in self.models_})
        probas = {}
        for m, model in self.models_.items():
            p = np.full((len(X), K), np.nan)
            has = avail[m].to_numpy()
            if has.any():
                p[has] = predict_aligned(model, X.loc[has, self.blocks_[m]], np.arange(K))
            probas[m] = p
        return probas, avail

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        probas, avail = self.modality_proba(X)
        return combine_late(self.train_oof_, self.y_, probas, avail, self.method, self.random_state)
