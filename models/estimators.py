"""Classifier factories and their Optuna search spaces.

A factory takes the seed and returns an unfitted classifier; a space takes an Optuna trial and returns
pipeline parameters (``clf__*`` for the classifier, ``select__k`` for feature selection). Ranges span
what a cohort of a few hundred patients supports; none is narrowed to save time (XGBoost searches 50 to
1,000 trees at learning rates from 0.01: the ``quick`` profile's shorter runs come from fewer cells and
trials, not from smaller ranges).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.svm import SVC

from models.base import ProbabilisticClassifier, normalise_rows
from models.torch_mlp import TorchMLPClassifier, validate_fit, validate_predict


def space_select(trial: Any) -> dict[str, Any]:
    """Tunable feature selection: keep all columns, or the top-k by ANOVA F."""
    choice = trial.suggest_categorical("select__k", ["all", "16", "64", "256"])
    return {"select__k": None if choice == "all" else int(choice)}


class CalibratedSVC(ProbabilisticClassifier):
    """RBF/linear SVC with sigmoid-calibrated probabilities from a seeded, stratified internal CV.

    The number of calibration folds shrinks to the smallest class count, so small training folds of a
    multiclass task do not fail.
    """

    def __init__(
        self,
        C: float = 1.0,
        kernel: str = "rbf",
        gamma: str | float = "scale",
        cv: int = 3,
        random_state: int | None = None,
    ) -> None:
        self.C = C
        self.kernel = kernel
        self.gamma = gamma
        self.cv = cv
        self.random_state = random_state

    def fit(self, X: object, y: object) -> CalibratedSVC:
        X, self.classes_, y_enc = validate_fit(self, X, y)
        if len(self.classes_) < 2:
            raise ValueError("CalibratedSVC got only 1 class in the training rows; it needs at least 2")
        smallest = int(np.bincount(y_enc).min())
        if smallest >= 2:
            folds: object = StratifiedKFold(
                min(self.cv, smallest), shuffle=True, random_state=self.random_state
            )
        else:  # a single-row class cannot be stratified; its calibration folds may lack it
            kfold = KFold(min(self.cv, len(y_enc)), shuffle=True, random_state=self.random_state)
            folds = list(kfold.split(X))  # explicit splits: sklearn refuses a splitter object here
        svc = SVC(C=self.C, kernel=self.kernel, gamma=self.gamma, random_state=self.random_state)
        self.model_ = CalibratedClassifierCV(svc, method="sigmoid", cv=folds).fit(X, y_enc)
        return self

    def predict_proba(self, X: object) -> np.ndarray:
        X = validate_predict(self, X)
        return normalise_rows(self.model_.predict_proba(X))


class XGBLabelClassifier(ProbabilisticClassifier):
    """XGBoost (hist, ``n_jobs=1``, seeded: deterministic) accepting any label values.

    ``max_bin=64`` (XGBoost's default is 256): with a few hundred patients a feature rarely has more
    distinct values than that, and the histograms cost about a quarter of the time.
    """

    def __init__(
        self,
        n_estimators: int = 200,
        max_depth: int = 3,
        learning_rate: float = 0.05,
        subsample: float = 0.8,
        colsample_bytree: float = 0.5,
        min_child_weight: float = 1.0,
        reg_lambda: float = 1.0,
        max_bin: int = 64,
        random_state: int | None = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.max_bin = max_bin
        self.random_state = random_state

    def fit(self, X: object, y: object) -> XGBLabelClassifier:
        from xgboost import XGBClassifier

        X, self.classes_, y_enc = validate_fit(self, X, y)
        if len(self.classes_) < 2:
            raise ValueError("XGBLabelClassifier got only 1 class in the training rows; it needs at least 2")
        self.model_ = XGBClassifier(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            learning_rate=self.learning_rate,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            min_child_weight=self.min_child_weight,
            reg_lambda=self.reg_lambda,
            tree_method="hist",
            max_bin=self.max_bin,
            n_jobs=1,
            random_state=0 if self.random_state is None else self.random_state,
            verbosity=0,
        ).fit(X, y_enc)
        return self

    def predict_proba(self, X: object) -> np.ndarray:
        X = validate_predict(self, X)
        return normalise_rows(self.model_.predict_proba(X))


# --- factories (seed -> unfitted classifier) and spaces (trial -> pipeline params) ----------------


def make_prior(seed: int) -> DummyClassifier:
    return DummyClassifier(strategy="prior")


def space_prior(trial: Any) -> dict[str, Any]:
    return {}


def make_enet(seed: int) -> LogisticRegression:
    return LogisticRegression(solver="saga", l1_ratio=0.5, C=0.1, max_iter=2000, tol=1e-3, random_state=seed)


def space_enet(trial: Any) -> dict[str, Any]:
    return {
        "clf__C": trial.suggest_float("clf__C", 1e-3, 10.0, log=True),
        "clf__l1_ratio": trial.suggest_float("clf__l1_ratio", 0.05, 0.95),
        **space_select(trial),
    }


def make_svm(seed: int) -> CalibratedSVC:
    return CalibratedSVC(C=1.0, kernel="rbf", random_state=seed)


def space_svm(trial: Any) -> dict[str, Any]:
    return {
        "clf__C": trial.suggest_float("clf__C", 1e-2, 100.0, log=True),
        "clf__kernel": trial.suggest_categorical("clf__kernel", ["rbf", "linear"]),
        **space_select(trial),
    }


def make_rf(seed: int) -> RandomForestClassifier:
    return RandomForestClassifier(
        n_estimators=300, min_samples_leaf=2, max_features="sqrt", n_jobs=1, random_state=seed
    )


def space_rf(trial: Any) -> dict[str, Any]:
    return {
        "clf__n_estimators": trial.suggest_int("clf__n_estimators", 100, 500, step=100),
        "clf__max_depth": trial.suggest_categorical("clf__max_depth", [3, 6, 12, None]),
        "clf__min_samples_leaf": trial.suggest_int("clf__min_samples_leaf", 1, 10, log=True),
        "clf__max_features": trial.suggest_categorical("clf__max_features", ["sqrt", "log2", 0.3]),
    }


def make_xgb(seed: int) -> XGBLabelClassifier:
    return XGBLabelClassifier(random_state=seed)


def space_xgb(trial: Any) -> dict[str, Any]:
    return {
        "clf__n_estimators": trial.suggest_int("clf__n_estimators", 50, 1000, log=True),
        "clf__max_depth": trial.suggest_int("clf__max_depth", 2, 6),
        "clf__learning_rate": trial.suggest_float("clf__learning_rate", 0.01, 0.3, log=True),
        "clf__subsample": trial.suggest_float("clf__subsample", 0.6, 1.0),
        "clf__colsample_bytree": trial.suggest_float("clf__colsample_bytree", 0.3, 1.0),
        "clf__min_child_weight": trial.suggest_float("clf__min_child_weight", 1.0, 10.0, log=True),
    }


def make_mlp(seed: int) -> TorchMLPClassifier:
    return TorchMLPClassifier(random_state=seed)


def space_mlp(trial: Any) -> dict[str, Any]:
    return {
        "clf__hidden_units": trial.suggest_categorical("clf__hidden_units", [16, 32, 64, 128]),
        "clf__n_layers": trial.suggest_int("clf__n_layers", 1, 2),
        "clf__dropout": trial.suggest_float("clf__dropout", 0.0, 0.5),
        "clf__lr": trial.suggest_float("clf__lr", 1e-4, 1e-2, log=True),
        "clf__weight_decay": trial.suggest_float("clf__weight_decay", 1e-6, 1e-2, log=True),
        **space_select(trial),
    }


def make_deep(seed: int) -> BaseEstimator:
    from models.deep import DeepClassifier  # torch and MONAI load only when a deep model is built

    return DeepClassifier(random_state=seed)


def make_attention(seed: int) -> BaseEstimator:
    from models.deep import AttentionFusionClassifier

    return AttentionFusionClassifier(random_state=seed)


def space_deep(trial: Any) -> dict[str, Any]:
    from models.deep import space_deep as space

    return space(trial)
