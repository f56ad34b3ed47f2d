"""The contract of every registered estimator (``models.registry.ESTIMATORS``), checked for each entry.

Registering an estimator is enough to have it checked here, the way scikit-learn's ``check_estimator``
runs over estimators: its factory's classifier (clone, ``fit`` returns self, valid and seeded
probabilities for binary and 3-class targets), the pipeline it runs in (missing blocks, a patient without
any modality), and its Optuna search space (parameters the pipeline accepts and fits with).
"""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from models.blocks import block_availability
from models.registry import ESTIMATORS, make_pipeline
from models.tuning import SpaceProbe

NAMES = sorted(name for name, spec in ESTIMATORS.items() if not spec.raw)
RAW_NAMES = sorted(name for name, spec in ESTIMATORS.items() if spec.raw)
FAST = {
    "rf": {"clf__n_estimators": 30},
    "xgb": {"clf__n_estimators": 30},
    "mlp": {"clf__max_epochs": 40},
}


def _assert_probabilities(proba: np.ndarray, n_rows: int, n_classes: int) -> None:
    assert proba.shape == (n_rows, n_classes)
    assert np.isfinite(proba).all() and (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)


@pytest.fixture(scope="module")
def split(make_design):
    def split(n_classes: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
        X, y = make_design(72, n_classes, seed=seed)
        Xtr, ytr, Xte = X.iloc[:52].copy(), y[:52], X.iloc[52:].copy()
        # all-NaN in the training fold but present at test time: must be dropped, not crash
        Xtr["pro:pro__only_in_test"] = np.nan
        Xte["pro:pro__only_in_test"] = np.where(block_availability(Xte)["pro"], 1.0, np.nan)
        return Xtr, ytr, Xte

    return split


def _dense(n_classes: int, n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A finite matrix (no missing values: what a classifier sees after the pipeline's preprocessing)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = rng.normal(size=(n, 5)) + 1.5 * y[:, None] * (np.arange(5) < 2)
    return X, y


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("name", NAMES)
def test_factory_classifier(name: str, n_classes: int) -> None:
    X, y = _dense(n_classes)
    clf = ESTIMATORS[name].make(11)
    params = clf.get_params(deep=False)
    assert "random_state" in params  # seeded like every scikit-learn estimator
    twin = clone(clf)
    assert type(twin) is type(clf) and twin.get_params(deep=False) == params
    assert clf.fit(X, y) is clf
    proba = clf.predict_proba(X)
    _assert_probabilities(proba, len(X), n_classes)
    assert list(clf.classes_) == list(range(n_classes))
    # the same seed gives the same probabilities: a fresh factory call and a clone of it
    np.testing.assert_array_equal(ESTIMATORS[name].make(11).fit(X, y).predict_proba(X), proba)
    np.testing.assert_array_equal(twin.fit(X, y).predict_proba(X), proba)


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("name", NAMES)
def test_estimator_conformance(name: str, n_classes: int, split) -> None:
    Xtr, ytr, Xte = split(n_classes, seed=n_classes)
    pipe = make_pipeline(name, seed=7, params=FAST.get(name), missing_indicators=True)
    with pytest.raises(NotFittedError):
        clone(pipe.named_steps["clf"]).predict_proba(np.zeros((2, 3)))
    assert pipe.fit(Xtr, ytr) is pipe
    proba = pipe.predict_proba(Xte)
    assert proba.shape == (len(Xte), n_classes)
    assert np.isfinite(proba).all() and (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert list(pipe.classes_) == list(range(n_classes))
    assert set(pipe.predict(Xte)) <= set(range(n_classes))
    # clone/get_params round trip, and determinism of a clone refitted on the same data
    twin = clone(pipe)
    assert twin.get_params().keys() == pipe.get_params().keys()
    np.testing.assert_array_equal(twin.fit(Xtr, ytr).predict_proba(Xte), proba)
    # patients lacking blocks (the last test patient lacks all of them) are predicted too
    assert not block_availability(Xte).iloc[-1].any()


@pytest.mark.parametrize("name", NAMES)
def test_predictions_are_row_by_row(name: str, split, assert_rowwise) -> None:
    """A patient's probabilities do not depend on the other test patients (robustness relies on it)."""
    Xtr, ytr, Xte = split(2, seed=5)
    pipe = make_pipeline(name, seed=7, params=FAST.get(name), missing_indicators=True).fit(Xtr, ytr)
    assert_rowwise(pipe.predict_proba, Xte)


@pytest.mark.parametrize("name", NAMES)
def test_search_space_is_valid_for_the_pipeline(name: str) -> None:
    spec = ESTIMATORS[name]
    pipe = make_pipeline(name, seed=0)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(5):
        trial = study.ask()
        params = spec.space(trial)
        pipe.set_params(**params)  # every key is a pipeline parameter
        for key, dist in trial.distributions.items():
            assert dist._contains(dist.to_internal_repr(trial.params[key]))
        study.tell(trial, 0.0)


@pytest.mark.parametrize("name", NAMES)
def test_search_space_parameters_fit_with_a_missing_block(name: str, split) -> None:
    """The lower edge of the space (``SpaceProbe``) and a random Optuna trial both give parameters that
    ``make_pipeline`` accepts and fits on blocks some patients lack, as ``fit_predict_cell`` does."""
    Xtr, ytr, Xte = split(2, seed=9)
    assert (~block_availability(Xtr)).any().all()  # every block is missing for someone
    spec = ESTIMATORS[name]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=2))
    for params in (spec.space(SpaceProbe()), spec.space(study.ask())):
        pipe = make_pipeline(name, seed=3, params=params, missing_indicators=True)
        accepted = pipe.get_params()
        assert all(accepted[key] == value for key, value in params.items())
        _assert_probabilities(pipe.fit(Xtr, ytr).predict_proba(Xte), len(Xte), 2)


# --- estimators on the raw data (EstimatorSpec.raw): the same contract on a patient-indexed frame whose
# patients' images, report states and diaries come from a raw-inputs handle (a fake of features.raw's)
RAW_FAST = {"clf__max_epochs": 2, "clf__progress": False}


@pytest.fixture(scope="module")
def raw_cohort():
    from models.deep import using_raw
    from tests.models.deep.conftest import make_cohort

    def get(n_classes: int, modality: str):
        X, y, raw = make_cohort(n=40, seed=n_classes)
        y = np.arange(len(y)) % n_classes
        cols = [c for c in X.columns if c.startswith(f"{modality}:")]
        return X[cols], y, lambda: using_raw(raw)

    return get


@pytest.mark.parametrize("modality", ["imaging", "text", "pro"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("name", RAW_NAMES)
def test_raw_estimator_conformance(name: str, n_classes: int, modality: str, raw_cohort) -> None:
    X, y, context = raw_cohort(n_classes, modality)
    Xtr, ytr, Xte = X.iloc[:30], y[:30], X.iloc[30:]
    with pytest.raises(ValueError, match="early fusion"):
        make_pipeline(name, seed=7, missing_indicators=True)
    pipe = make_pipeline(name, seed=7, params=RAW_FAST)
    assert "random_state" in pipe.named_steps["clf"].get_params(deep=False)
    with context():
        with pytest.raises(NotFittedError):
            clone(pipe.named_steps["clf"]).predict_proba(Xte)
        assert pipe.fit(Xtr, ytr) is pipe
        proba = pipe.predict_proba(Xte)
        _assert_probabilities(proba, len(Xte), n_classes)
        assert list(pipe.classes_) == list(range(n_classes))
        np.testing.assert_array_equal(clone(pipe).fit(Xtr, ytr).predict_proba(Xte), proba)
    # patients without the modality (an all-NaN block) get the training prior
    lacking = ~block_availability(Xte)[modality].to_numpy()
    if lacking.any():
        prior = np.bincount(ytr, minlength=n_classes) / len(ytr)
        np.testing.assert_allclose(proba[lacking], np.tile(prior, (lacking.sum(), 1)), atol=1e-9)


@pytest.mark.parametrize("name", RAW_NAMES)
def test_raw_search_space_parameters_fit(name: str, raw_cohort) -> None:
    X, y, context = raw_cohort(2, "pro")
    spec = ESTIMATORS[name]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=2))
    for params in (spec.space(SpaceProbe()), spec.space(study.ask())):
        pipe = make_pipeline(name, seed=3, params={**params, **RAW_FAST})
        accepted = pipe.get_params()
        assert params and all(accepted[key] == value for key, value in params.items())
        with context():
            _assert_probabilities(pipe.fit(X.iloc[:30], y[:30]).predict_proba(X.iloc[30:]), 10, 2)
