"""Every registered fusion through fit_predict_cell, late fusion combination and hybrid masking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from models.api import fit_predict_cell
from models.blocks import block_availability
from models.fusion import LateFusionClassifier, SingleModalityClassifier, combine_late, modality_weights
from models.hybrid import HybridFusionClassifier, HybridNet

ALL = ["imaging", "text", "pro"]


@pytest.mark.parametrize("method", ["mean", "weighted", "stacked"])
def test_late_fusion_classifier_matches_the_cell_path(method: str, split_design, fit_cell) -> None:
    Xtr, ytr, Xte = split_design(2, seed=11)
    late = LateFusionClassifier(method=method, estimator="enet", inner_splits=3, random_state=5)
    assert late.fit(Xtr, ytr) is late
    proba = late.predict_proba(Xte)
    np.testing.assert_allclose(proba, fit_cell(Xtr, ytr, Xte, f"late_{method}", 2).proba, atol=1e-12)
    np.testing.assert_array_equal(clone(late).fit(Xtr, ytr).predict_proba(Xte), proba)


def test_late_fusion_predicts_missing_modality_from_the_others(split_design) -> None:
    Xtr, ytr, Xte = split_design(2, seed=12)
    late = LateFusionClassifier(method="mean", estimator="enet", random_state=0).fit(Xtr, ytr)
    per, avail = late.modality_proba(Xte)
    proba = late.predict_proba(Xte)
    rows = np.flatnonzero(~avail["imaging"].to_numpy() & avail[["text", "pro"]].all(axis=1).to_numpy())
    assert len(rows) > 0
    for i in rows:
        np.testing.assert_allclose(proba[i], (per["text"][i] + per["pro"][i]) / 2)
        assert np.isnan(per["imaging"][i]).all()
    nothing = np.flatnonzero(~avail.any(axis=1).to_numpy())
    assert len(nothing) >= 1  # patients with no modality at all get the prior
    np.testing.assert_allclose(
        proba[nothing], np.tile(np.bincount(ytr, minlength=2) / len(ytr), (len(nothing), 1))
    )
    # an imaging-only change to the other training patients cannot move that patient's prediction
    X2 = Xtr.copy()
    X2[[c for c in Xtr.columns if c.startswith("imaging:")]] *= 3.0
    p2 = LateFusionClassifier(method="mean", estimator="enet", random_state=0).fit(X2, ytr).predict_proba(Xte)
    np.testing.assert_allclose(p2[rows], proba[rows])


def test_single_modality_classifier_uses_prior_without_the_modality(split_design) -> None:
    Xtr, ytr, Xte = split_design(2, seed=13)
    model = SingleModalityClassifier("enet", "imaging", random_state=0).fit(Xtr, ytr)
    proba = model.predict_proba(Xte)
    missing = ~block_availability(Xte)["imaging"].to_numpy()
    assert missing.any()
    np.testing.assert_allclose(proba[missing], np.tile(np.bincount(ytr) / len(ytr), (missing.sum(), 1)))


def _toy_late(n: int = 80, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    good = np.column_stack([1 - (0.2 + 0.6 * y), 0.2 + 0.6 * y]) + rng.normal(0, 0.01, (n, 2))
    good = np.clip(good, 0.01, 0.99)
    good /= good.sum(axis=1, keepdims=True)
    noise = rng.uniform(0.3, 0.7, n)
    bad = np.column_stack([1 - noise, noise])
    return y, {"imaging": good, "pro": bad}


def test_combine_late_mean_weighted_stacked() -> None:
    y, oof = _toy_late()
    oof["pro"][::4] = np.nan  # a quarter of the training patients lack pro
    w = modality_weights(oof, y)
    assert w["imaging"] > 0.9 and abs(sum(w.values()) - 1) < 1e-12
    test = {"imaging": np.array([[0.9, 0.1], [0.2, 0.8], [np.nan, np.nan], [np.nan, np.nan]]),
            "pro": np.array([[0.1, 0.9], [0.5, 0.5], [0.3, 0.7], [np.nan, np.nan]])}  # fmt: skip
    avail = pd.DataFrame({"imaging": [True, True, False, False], "pro": [True, True, True, False]},
                         index=["a", "b", "c", "d"])  # fmt: skip
    mean = combine_late(oof, y, test, avail, "mean", 0)
    np.testing.assert_allclose(mean[0], [0.5, 0.5])
    np.testing.assert_allclose(mean[2], [0.3, 0.7])  # only pro available
    np.testing.assert_allclose(mean[3], [0.5, 0.5])  # nothing: the training prior
    weighted = combine_late(oof, y, test, avail, "weighted", 0)
    assert weighted[0, 0] > 0.8  # follows the informative modality
    np.testing.assert_allclose(weighted[2], [0.3, 0.7])
    stacked = combine_late(oof, y, test, avail, "stacked", 0)
    assert stacked[0, 0] > 0.5 and stacked[1, 1] > 0.5
    for out in (mean, weighted, stacked):
        assert out.shape == (4, 2) and np.isfinite(out).all()
        np.testing.assert_allclose(out.sum(axis=1), 1.0)
    np.testing.assert_array_equal(stacked, combine_late(oof, y, test, avail, "stacked", 0))
    bad = {**test, "pro": test["pro"].copy()}
    bad["pro"][1] = np.nan
    with pytest.raises(ValueError, match="patient 'b'"):
        combine_late(oof, y, bad, avail, "mean", 0)
    with pytest.raises(ValueError, match="unknown late fusion"):
        combine_late(oof, y, test, avail, "median", 0)


@pytest.mark.parametrize("fusion", ["concat", "gated"])
def test_hybrid_masks_absent_modalities(fusion: str, split_design) -> None:
    Xtr, ytr, Xte = split_design(2, seed=21)
    model = HybridFusionClassifier(fusion=fusion, max_epochs=40, random_state=1).fit(Xtr, ytr)
    xs, mask = model._tensors(Xte)
    base = model.network_proba(xs, mask)
    np.testing.assert_allclose(base, model.predict_proba(Xte))
    rng = np.random.default_rng(0)
    for j in range(len(xs)):
        absent = mask[:, j] == 0
        assert absent.any()
        noisy = [x.copy() for x in xs]
        noisy[j][absent] = rng.normal(0, 100, noisy[j][absent].shape)
        noisy[j][np.flatnonzero(absent)[0]] = np.nan  # even garbage cannot leak through the mask
        np.testing.assert_array_equal(model.network_proba(noisy, mask), base)
        present = [x.copy() for x in xs]  # the same change in a present block does move predictions
        present[j][~absent] += rng.normal(0, 5, present[j][~absent].shape)
        assert not np.allclose(model.network_proba(present, mask), base)
    # clone + refit is deterministic
    np.testing.assert_array_equal(clone(model).fit(Xtr, ytr).predict_proba(Xte), model.predict_proba(Xte))


def test_hybrid_net_handles_patients_without_any_modality() -> None:
    import torch

    net = HybridNet([3, 2], n_classes=4, fusion="gated", embed_dim=4, hidden_units=8, dropout=0.0)
    xs = [torch.randn(3, 3), torch.randn(3, 2)]
    mask = torch.tensor([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
    out = net(xs, mask)
    assert out.shape == (3, 4) and torch.isfinite(out).all()


def test_fit_predict_cell_rejects_bad_input(split_design, fit_cell) -> None:
    Xtr, ytr, Xte = split_design(2, seed=1)
    with pytest.raises(ValueError, match="both the training and the test"):
        fit_cell(Xtr, ytr, Xtr.iloc[:3], "early", 2)
    with pytest.raises(ValueError, match="outside 0..1"):
        fit_cell(Xtr, np.where(np.arange(len(ytr)) == 0, 2, ytr), Xte, "early", 2)
    with pytest.raises(KeyError, match="unknown fusion"):
        fit_cell(Xtr, ytr, Xte, "latest", 2)
    with pytest.raises(ValueError, match="exactly one modality"):
        fit_predict_cell(Xtr, ytr, Xte, modalities=ALL, estimator="enet", fusion="single", n_classes=2,
                         n_trials=0, inner_splits=3, seed=0)  # fmt: skip
