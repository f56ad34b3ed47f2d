"""The contract of every registered fusion (``models.registry.FUSIONS``), checked for each entry.

Each fusion runs through ``models.api.fit_predict_cell`` on a design matrix where every block is missing
for some patients and the last test patient has no modality at all: valid probabilities for binary and
4-class targets, out-of-fold training predictions, determinism; a fusion with a search space of its own
(the hybrid networks) gets parameters from it that its pipeline accepts and fits with.
"""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from models.api import make_hybrid_pipeline
from models.blocks import block_availability
from models.registry import FUSIONS
from models.tuning import SpaceProbe


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("fusion", sorted(FUSIONS))
def test_fusion_conformance(fusion: str, n_classes: int, split_design, fit_cell) -> None:
    Xtr, ytr, Xte = split_design(n_classes, seed=n_classes)
    assert not block_availability(Xte).iloc[-1].any()  # a test patient without any modality
    fit = fit_cell(Xtr, ytr, Xte, fusion, n_classes)
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
    again = fit_cell(Xtr, ytr, Xte, fusion, n_classes)
    np.testing.assert_array_equal(again.proba, fit.proba)
    np.testing.assert_array_equal(again.train_oof, fit.train_oof)


@pytest.mark.parametrize("fusion", sorted(f for f, spec in FUSIONS.items() if spec.space is not None))
def test_own_search_space_parameters_fit(fusion: str, split_design) -> None:
    Xtr, ytr, Xte = split_design(2, seed=31)
    spec = FUSIONS[fusion]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=4))
    for params in (spec.space(SpaceProbe()), spec.space(study.ask())):
        pipe = make_hybrid_pipeline(spec.method or "concat", seed=2, params=params)
        accepted = pipe.get_params()
        assert params and all(accepted[key] == value for key, value in params.items())
        proba = pipe.fit(Xtr, ytr).predict_proba(Xte)
        assert proba.shape == (len(Xte), 2) and np.isfinite(proba).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
