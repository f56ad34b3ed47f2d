"""The contract of every registered fusion (``models.registry.FUSIONS``), checked for each entry.

Each fusion runs through ``models.api.fit_predict_cell`` on a design matrix where every block is missing
for some patients and the last test patient has no modality at all: valid probabilities for binary and
4-class targets, out-of-fold training predictions, determinism; a fusion with a search space of its own
(the hybrid networks) gets parameters from it that its pipeline accepts and fits with.
"""

from __future__ import annotations

import contextlib

import numpy as np
import optuna
import pytest

from models.blocks import block_availability
from models.registry import FUSIONS, make_network_pipeline, uses_raw
from models.tuning import SpaceProbe, predict_aligned

RAW_FAST = {"clf__max_epochs": 2, "clf__progress": False}


def _raw_split(n_classes: int, seed: int):
    """A fusion on the raw data: a frame, labels and the fake raw handle of ``tests.models.deep``, the last
    test patient without any modality."""
    from tests.models.deep.conftest import make_cohort

    X, _, raw = make_cohort(n=48, seed=seed)
    X.iloc[-1] = np.nan
    y = np.arange(len(X)) % n_classes
    return X.iloc[:36], y[:36], X.iloc[36:], raw


@pytest.mark.parametrize("fusion", sorted(f for f in FUSIONS if not uses_raw("enet", f)))
def test_fixed_feature_fusions_predict_row_by_row(fusion: str, split_design, fit_cell, assert_rowwise):
    """A patient's probabilities do not depend on the other test patients (robustness relies on it)."""
    Xtr, ytr, Xte = split_design(3, seed=4)
    fit = fit_cell(Xtr, ytr, Xte, fusion, 3)
    if fusion == "single":  # fit_cell's single-modality model reads "pro"
        Xte = Xte[[c for c in Xte.columns if c.startswith("pro:")]]
    assert_rowwise(lambda X: predict_aligned(fit.model, X, np.arange(3)), Xte)


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("fusion", sorted(FUSIONS))
def test_fusion_conformance(fusion: str, n_classes: int, split_design, fit_cell) -> None:
    kw = {}
    if uses_raw("enet", fusion):
        Xtr, ytr, Xte, raw = _raw_split(n_classes, seed=n_classes)
        kw = {"raw": raw, "network_params": RAW_FAST}
    else:
        Xtr, ytr, Xte = split_design(n_classes, seed=n_classes)
    assert not block_availability(Xte).iloc[-1].any()  # a test patient without any modality
    fit = fit_cell(Xtr, ytr, Xte, fusion, n_classes, **kw)
    assert fit.proba.shape == (len(Xte), n_classes)
    assert np.isfinite(fit.proba).all() and (fit.proba >= 0).all()
    np.testing.assert_allclose(fit.proba.sum(axis=1), 1.0, atol=1e-9)
    assert fit.train_oof.shape == (len(Xtr), n_classes)
    has = block_availability(Xtr)
    if fusion == "single":  # out-of-fold only for the training patients who have the modality
        np.testing.assert_array_equal(np.isfinite(fit.train_oof).all(axis=1), has["pro"].to_numpy())
    else:
        assert np.isfinite(fit.train_oof).all()
    assert fit.fit_seconds > 0 and fit.predict_seconds >= 0 and fit.n_trials == 0
    if n_classes != 2:
        return  # determinism is checked once per fusion (binary) to keep the suite fast
    again = fit_cell(Xtr, ytr, Xte, fusion, n_classes, **kw)
    np.testing.assert_array_equal(again.proba, fit.proba)
    np.testing.assert_array_equal(again.train_oof, fit.train_oof)


@pytest.mark.parametrize("fusion", sorted(f for f, spec in FUSIONS.items() if spec.space is not None))
def test_own_search_space_parameters_fit(fusion: str, split_design) -> None:
    context, fast = contextlib.nullcontext, {}
    if uses_raw("enet", fusion):
        from models.deep import using_raw

        Xtr, ytr, Xte, raw = _raw_split(2, seed=31)
        context, fast = (lambda: using_raw(raw)), RAW_FAST
    else:
        Xtr, ytr, Xte = split_design(2, seed=31)
    spec = FUSIONS[fusion]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=4))
    for params in (spec.space(SpaceProbe()), spec.space(study.ask())):
        pipe = make_network_pipeline(fusion, seed=2, params={**params, **fast})
        accepted = pipe.get_params()
        assert params and all(accepted[key] == value for key, value in params.items())
        with context():
            proba = pipe.fit(Xtr, ytr).predict_proba(Xte)
        assert proba.shape == (len(Xte), 2) and np.isfinite(proba).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
