"""ComBat harmonisation by site inside the fold (models.harmonise): policy, no leakage, and that it helps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from models.api import fit_predict_cell
from models.harmonise import SiteHarmoniser, harmonising
from models.preprocess import BlockPreprocessor


def _shifted_cohort(
    n: int = 400, seed: int = 0, noise: int = 20
) -> tuple[pd.DataFrame, np.ndarray, pd.Series]:
    """Imaging features with a scanner offset at one site, where label and site are confounded in training.

    ``f0`` carries the signal in every site; at Bergen (85% positive, against 15% at Aarhus) the ``noise``
    other features are offset by +1, so in training they track the label through the site. Cork, the
    external site, has no offset and a balanced case mix.
    """
    rng = np.random.default_rng(seed)
    site = rng.choice(["Aarhus", "Bergen", "Cork"], n, p=[0.35, 0.35, 0.3])
    p_pos = np.select([site == "Aarhus", site == "Bergen"], [0.15, 0.85], 0.5)
    y = (rng.random(n) < p_pos).astype(int)
    X = rng.normal(size=(n, noise + 1))
    X[:, 0] += y
    X[np.ix_(site == "Bergen", range(1, noise + 1))] += 1.0
    ids = pd.Index([f"P{i:03d}" for i in range(n)], name="patient_id")
    frame = pd.DataFrame(X, index=ids, columns=[f"imaging:rad__f{j}" for j in range(noise + 1)])
    return frame, y, pd.Series(site, index=ids, dtype=object)


def test_training_sites_are_aligned_and_an_unseen_site_passes_unchanged():
    X, _, site = _shifted_cohort()
    X["text:txt__cnt__C0001_affirmed"] = 3.0  # a text count column: never harmonised
    X.iloc[5, 1] = np.nan
    train = site != "Cork"
    h = SiteHarmoniser(site, ["imaging"]).fit(X[train.to_numpy()])
    out = h.transform(X)
    before = X[train.to_numpy()].groupby(site[train]).mean()["imaging:rad__f1"]
    after = out[train.to_numpy()].groupby(site[train]).mean()["imaging:rad__f1"]
    assert abs(before["Bergen"] - before["Aarhus"]) > 0.8 and abs(after["Bergen"] - after["Aarhus"]) < 0.1
    cork = (site == "Cork").to_numpy()
    pd.testing.assert_frame_equal(out[cork], X[cork])  # unseen site: passed through
    assert np.isnan(out.iloc[5, 1])  # a missing value stays missing
    assert (out["text:txt__cnt__C0001_affirmed"] == 3.0).all()
    assert clone(h).get_params()["modalities"] == ["imaging"]  # scikit-learn conventions


def test_block_preprocessor_harmonises_only_inside_a_scope_and_keeps_it_for_transform():
    X, y, site = _shifted_cohort()
    plain = BlockPreprocessor().fit(X).transform(X)
    with harmonising(["imaging"], site):
        prep = BlockPreprocessor().fit(X)
    assert prep.harmoniser_ is not None
    harmonised = prep.transform(X)  # outside the scope: the fitted harmoniser is still applied
    assert not np.allclose(plain, harmonised)
    with harmonising(["pro"], site):  # a scope naming another block changes nothing
        np.testing.assert_array_equal(BlockPreprocessor().fit(X).transform(X), plain)


def _external_auc(harmonised: list[str], X, y, site) -> float:
    train = (site != "Cork").to_numpy()
    fit = fit_predict_cell(
        X[train], y[train], X[~train], modalities=["imaging"], estimator="enet", fusion="single",
        n_classes=2, n_trials=3, inner_splits=3, seed=0, harmonised=harmonised, sites=site,
    )  # fmt: skip
    return roc_auc_score(y[~train], fit.proba[:, 1])


def test_combat_improves_the_external_auc_under_a_site_shift():
    X, y, site = _shifted_cohort()
    raw, combat = _external_auc([], X, y, site), _external_auc(["imaging"], X, y, site)
    assert combat > raw + 0.05, (raw, combat)  # measured: 0.738 -> 0.822


def test_harmonising_needs_the_sites():
    X, y, _ = _shifted_cohort(60)
    with pytest.raises(ValueError, match="sites"):
        fit_predict_cell(X[:40], y[:40], X[40:], modalities=["imaging"], estimator="enet", fusion="single",
                         n_classes=2, n_trials=1, inner_splits=2, seed=0, harmonised=["imaging"])  # fmt: skip
