"""Optuna tuning inside the training part only, over an inner grouped stratified CV.

Objective (maximised): ROC-AUC for binary tasks, macro one-vs-rest ROC-AUC for multiclass tasks
(classes absent from a validation fold are skipped), averaged over inner folds. Trials run
sequentially with a seeded TPE sampler; a median pruner sees the running mean after each inner fold.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

DEFAULT_STUDY_NAME = "cdbench"
OBJECTIVE = "roc_auc (binary) / macro one-vs-rest roc_auc (multiclass), mean over inner folds"


def expand_proba(proba: np.ndarray, model_classes: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Columns of ``proba`` (ordered as ``model_classes``) placed into the columns of ``classes``."""
    proba = np.asarray(proba, dtype=float)
    model_classes = np.asarray(model_classes)
    classes = np.asarray(classes)
    if len(model_classes) == len(classes) and np.array_equal(model_classes, classes):
        return proba
    unknown = set(model_classes.tolist()) - set(classes.tolist())
    if unknown:
        raise ValueError(f"model predicts classes {sorted(unknown)} outside {classes.tolist()}")
    out = np.zeros((proba.shape[0], len(classes)))
    out[:, np.searchsorted(classes, model_classes)] = proba
    return out


def predict_aligned(model: BaseEstimator, X: pd.DataFrame, classes: np.ndarray) -> np.ndarray:
    """``model.predict_proba(X)`` with one column per entry of ``classes``."""
    return expand_proba(model.predict_proba(X), model.classes_, classes)


def auc_score(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    """Binary ROC-AUC of the positive column, or macro one-vs-rest AUC; NaN when undefined."""
    y = np.asarray(y)
    if len(classes) == 2:
        if len(np.unique(y)) < 2:
            return float("nan")
        return float(roc_auc_score(y == classes[1], proba[:, 1]))
    scores = []
    for k, c in enumerate(classes):
        pos = y == c
        if 0 < pos.sum() < len(y):
            scores.append(roc_auc_score(pos, proba[:, k]))
    return float(np.mean(scores)) if scores else float("nan")


def inner_folds(
    y: np.ndarray, groups: np.ndarray, n_splits: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded StratifiedGroupKFold splits (groups = patient ids).

    The number of folds shrinks to the smallest class count (at least 2) so every validation fold
    holds every class where possible; a class with a single patient then sits in one fold only.
    """
    y = np.asarray(y)
    _, counts = np.unique(y, return_counts=True)
    if len(counts) < 2:
        raise ValueError(
            f"inner CV needs at least 2 classes among the {len(y)} training rows, got {len(counts)}"
        )
    n = int(min(n_splits, max(2, counts.min()), len(np.unique(groups))))
    if n < 2:
        raise ValueError(f"inner CV needs at least 2 training patients, got {len(np.unique(groups))}")
    cv = StratifiedGroupKFold(n_splits=n, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class" for single-patient classes
        return list(cv.split(np.zeros(len(y)), y, groups))


def oof_predict(
    make: Callable[[], BaseEstimator],
    X: pd.DataFrame,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    classes: np.ndarray,
) -> np.ndarray:
    """Out-of-fold probabilities (rows never in a validation fold stay NaN)."""
    oof = np.full((len(X), len(classes)), np.nan)
    for train, val in folds:
        model = make().fit(X.iloc[train], y[train])
        oof[val] = predict_aligned(model, X.iloc[val], classes)
    return oof


def make_storage(storage: Any) -> Any:
    """None: in memory; an Optuna storage object as is; ``"scheme://..."``: RDB URL; else a journal file."""
    if storage is None or isinstance(storage, optuna.storages.BaseStorage):
        return storage
    text = str(storage)
    if "://" in text:
        return text
    path = Path(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def prepare_storage(storage: Any) -> None:
    """Create an RDB storage's schema once, before workers open it: several processes creating the tables
    of a new database at the same time race (sqlite: ``UNIQUE constraint failed: alembic_version``)."""
    if isinstance(storage, str) and "://" in storage:
        optuna.storages.RDBStorage(storage)


@dataclass
class TuneResult:
    best_params: dict[str, Any]
    n_trials: int
    best_value: float | None
    train_oof: np.ndarray | None


def _finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return study.get_trials(deepcopy=False, states=states)


def tune(
    make: Callable[[dict[str, Any]], BaseEstimator],
    space: Callable[[Any], dict[str, Any]],
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    classes: np.ndarray,
    n_trials: int,
    inner_splits: int,
    seed: int,
    storage: Any = None,
    study_name: str | None = None,
    return_train_oof: bool = False,
) -> TuneResult:
    """Tune ``make(params)`` over ``space`` with inner CV on (X, y) only; groups are ``X.index``.

    A study is never resumed: any study of the same name in ``storage`` (an interrupted attempt) is
    deleted first, because a resumed study draws different trials than an uninterrupted one and results
    must not depend on interruptions. ``n_trials=0`` returns the default parameters ``{}`` without a
    study. With ``return_train_oof`` the out-of-fold probabilities of the best parameters are returned.
    """
    y = np.asarray(y)
    classes = np.asarray(classes)
    groups = np.asarray(X.index)
    folds = inner_folds(y, groups, inner_splits, seed) if (n_trials > 0 or return_train_oof) else []
    if n_trials <= 0 or not _has_space(space):
        oof = oof_predict(lambda: make({}), X, y, folds, classes) if return_train_oof else None
        return TuneResult({}, 0, None, oof)

    best_oof: dict[int, np.ndarray] = {}

    def objective(trial: optuna.Trial) -> float:
        params = space(trial)
        oof = np.full((len(X), len(classes)), np.nan)
        scores: list[float] = []
        for step, (train, val) in enumerate(folds):
            model = make(params).fit(X.iloc[train], y[train])
            oof[val] = predict_aligned(model, X.iloc[val], classes)
            s = auc_score(y[val], oof[val], classes)
            if not np.isnan(s):
                scores.append(s)
            if scores:
                trial.report(float(np.mean(scores)), step)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        value = float(np.mean(scores)) if scores else 0.5
        try:
            improved = value > trial.study.best_value
        except ValueError:  # no completed trial yet
            improved = True
        if improved:
            best_oof.clear()
            best_oof[trial.number] = oof
        return value

    name = study_name or DEFAULT_STUDY_NAME
    storage = make_storage(storage)
    _delete_study(name, storage)
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
    )
    study.optimize(objective, n_trials=n_trials, n_jobs=1, gc_after_trial=False, show_progress_bar=False)
    best = study.best_trial
    params = space(optuna.trial.FixedTrial(best.params))
    oof = best_oof[best.number] if return_train_oof else None
    return TuneResult(params, len(_finished(study)), float(best.value), oof)


def _delete_study(name: str, storage: Any) -> None:
    if storage is None:  # in memory: every study is new
        return
    try:
        optuna.delete_study(study_name=name, storage=storage)
    except KeyError:  # no such study
        pass


class SpaceProbe:
    """Stands in for an Optuna trial to read a search space: its numeric ranges and how many parameters."""

    def __init__(self) -> None:
        self.ranges: dict[str, list[float]] = {}
        self.n_params = 0

    def suggest_float(self, name: str, low: float, high: float, **_: Any) -> float:
        self.ranges[name] = [low, high]
        self.n_params += 1
        return low

    def suggest_int(self, name: str, low: int, high: int, **_: Any) -> int:
        self.ranges[name] = [low, high]
        self.n_params += 1
        return low

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        self.n_params += 1
        return list(choices)[0]


def probe_space(space: Callable[[Any], dict[str, Any]]) -> SpaceProbe:
    """Run ``space`` on a :class:`SpaceProbe` and return the probe."""
    probe = SpaceProbe()
    space(probe)
    return probe


def _has_space(space: Callable[[Any], dict[str, Any]]) -> bool:
    """False for estimators without hyperparameters (e.g. the prior): nothing to tune."""
    return probe_space(space).n_params > 0
