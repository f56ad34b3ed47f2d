"""Bootstrap CIs (resampling design, equivalence to a plain loop, BCa), multiple testing, comparisons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score, roc_auc_score
from statsmodels.stats.multitest import multipletests

from reports import bootstrap as bootstrap_module
from reports.stats import (
    adjust_pvalues,
    bootstrap_ci,
    bootstrap_diff_ci,
    delong_test,
    pairwise_delong,
    resample_weights,
)


def _data(n=200, seed=0, shift=1.0):
    rng = np.random.default_rng(seed)
    y = (rng.uniform(size=n) < 0.35).astype(int)
    score = rng.normal(size=n) + shift * y
    return y, 1 / (1 + np.exp(-score))


def test_same_seed_same_result_and_seed_matters():
    y, p = _data()
    a = bootstrap_ci(y, p, "roc_auc", n_boot=300, seed=11)
    b = bootstrap_ci(y, p, "roc_auc", n_boot=300, seed=11)
    c = bootstrap_ci(y, p, "roc_auc", n_boot=300, seed=12)
    assert a.ci == b.ci and np.array_equal(a.replicates, b.replicates)
    assert a.ci != c.ci
    assert a.estimate == pytest.approx(roc_auc_score(y, p))
    assert a.ci_low < a.estimate < a.ci_high


def test_replicates_equal_a_plain_loop_over_the_same_resamples():
    y, p = _data(n=150, seed=3)
    p = np.round(p, 1)  # ties
    res = bootstrap_ci(y, p, "roc_auc", n_boot=200, seed=5)
    W = resample_weights(y, n_boot=200, seed=5)
    loop = [roc_auc_score(np.repeat(y, w.astype(int)), np.repeat(p, w.astype(int))) for w in W]
    np.testing.assert_allclose(res.replicates, loop, atol=1e-12)
    lo, hi = np.quantile(loop, [0.025, 0.975])
    assert res.ci == pytest.approx((lo, hi))


def test_resampling_is_stratified_by_class():
    y, _ = _data(n=97, seed=1)
    W = resample_weights(y, n_boot=50, seed=0)
    assert np.all(W @ (y == 1) == (y == 1).sum())
    assert np.all(W.sum(axis=1) == y.size)
    W_free = resample_weights(y, n_boot=50, seed=0, stratify=False)
    assert np.all(W_free.sum(axis=1) == y.size) and not np.all(W_free @ (y == 1) == (y == 1).sum())


def test_patient_level_resampling_takes_all_rows_of_a_patient():
    rng = np.random.default_rng(0)
    n_pat, repeats = 60, 3
    patient = np.repeat([f"P{i:03d}" for i in range(n_pat)], repeats)
    y_pat = rng.integers(0, 2, n_pat)
    y = np.repeat(y_pat, repeats)
    W = resample_weights(y, n_boot=40, seed=1, groups=patient)
    per_patient = W.reshape(40, n_pat, repeats)
    assert np.all(per_patient == per_patient[:, :, :1])  # a drawn patient brings all their rows
    assert np.all(per_patient[:, :, 0] @ (y_pat == 1) == (y_pat == 1).sum())  # patients stratified by class
    p = 1 / (1 + np.exp(-(rng.normal(size=y.size) + y)))
    res = bootstrap_ci(y, p, "roc_auc", n_boot=200, seed=2, groups=patient)
    assert res.resampling == "patients" and res.n_units == n_pat
    rows = bootstrap_ci(y, p, "roc_auc", n_boot=200, seed=2)
    assert rows.resampling == "rows" and rows.n_units == y.size
    # treating 3 correlated rows per patient as independent understates the uncertainty
    assert res.se > rows.se


def test_inconsistent_patient_labels_are_refused():
    y = np.array([0, 1, 1, 0])
    with pytest.raises(ValueError, match="patient 'P1'"):
        bootstrap_ci(y, [0.1, 0.9, 0.8, 0.3], "roc_auc", n_boot=50, groups=["P1", "P1", "P2", "P3"])
    with pytest.raises(ValueError, match="missing"):
        bootstrap_ci(y, [0.1, 0.9, 0.8, 0.3], "roc_auc", n_boot=50, groups=["P1", None, "P2", "P3"])


def test_bca_acceleration_matches_the_analytic_jackknife_of_a_mean():
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(scale=0.3, size=300), 0, 1)
    x = ((p >= 0.5) == (y == 1)).astype(float)  # accuracy is the mean of x
    u = x - x.mean()
    expected = np.sum(u**3) / (6 * np.sum(u**2) ** 1.5)
    res = bootstrap_ci(y, p, "accuracy", n_boot=500, seed=1, method="bca", stratify=False)
    assert res.acceleration == pytest.approx(expected, rel=1e-9)
    assert res.method == "BCa bootstrap" and np.isfinite(res.bias_z0)
    pct = bootstrap_ci(y, p, "accuracy", n_boot=500, seed=1, method="percentile", stratify=False)
    assert np.array_equal(res.replicates, pct.replicates)  # same resamples, different interval rule


def test_bca_uses_block_jackknife_for_many_units(monkeypatch):
    monkeypatch.setattr(bootstrap_module, "JACKKNIFE_MAX_BLOCKS", 100)
    rng = np.random.default_rng(9)
    y = rng.integers(0, 2, 1000)
    p = np.clip(0.5 + 0.4 * (y - 0.5) + rng.normal(scale=0.35, size=1000), 0, 1)
    x = ((p >= 0.5) == (y == 1)).astype(float)
    u = x - x.mean()
    exact = np.sum(u**3) / (6 * np.sum(u**2) ** 1.5)
    res = bootstrap_ci(y, p, "accuracy", n_boot=200, seed=1, method="bca", stratify=False)
    assert np.isfinite(res.acceleration)
    assert abs(res.acceleration - exact) < 0.02  # an estimate of the same quantity, not the same value


def test_bca_handles_a_degenerate_distribution():
    y = np.array([0] * 10 + [1] * 10)
    p = np.r_[np.linspace(0.0, 0.4, 10), np.linspace(0.6, 1.0, 10)]
    res = bootstrap_ci(y, p, "roc_auc", n_boot=100, seed=0, method="bca")
    assert res.ci == (1.0, 1.0) and res.bias_z0 == 0.0


def test_paired_difference_uses_the_same_resamples():
    y, pa = _data(n=180, seed=4, shift=1.5)
    _, pb = _data(n=180, seed=5, shift=0.2)
    diff = bootstrap_diff_ci(y, pa, pb, "roc_auc", n_boot=300, seed=3, names=("good", "weak"))
    ra = bootstrap_ci(y, pa, "roc_auc", n_boot=300, seed=3)
    rb = bootstrap_ci(y, pb, "roc_auc", n_boot=300, seed=3)
    np.testing.assert_allclose(diff.replicates, ra.replicates - rb.replicates)
    assert diff.estimate == pytest.approx(roc_auc_score(y, pa) - roc_auc_score(y, pb))
    assert diff.ci_low > 0 and diff.p_value < 0.01
    assert list(diff.summary.index) == ["good - weak"]
    same = bootstrap_diff_ci(y, pa, pa, "roc_auc", n_boot=100, seed=3)
    assert same.ci == (0.0, 0.0) and same.p_value == 1.0


def test_multiclass_metric_and_errors():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 4, 240)
    logits = rng.normal(size=(240, 4)) + 1.3 * np.eye(4)[y]
    P = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    res = bootstrap_ci(y, P, "qwk", n_boot=200, seed=0, method="bca")
    assert res.estimate == pytest.approx(cohen_kappa_score(y, P.argmax(1), weights="quadratic"))
    assert res.ci_low < res.estimate < res.ci_high
    with pytest.raises(ValueError, match="method"):
        bootstrap_ci(y, P, "qwk", n_boot=100, method="basic")
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_ci(y, P, "qwk", n_boot=5)
    with pytest.raises(ValueError, match="differ in shape"):
        bootstrap_diff_ci(y % 3, P, P[:, :3], "accuracy", n_boot=50)


def test_undefined_resamples_are_dropped_with_a_warning():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.9])
    with pytest.warns(UserWarning, match="gave NaN"):
        res = bootstrap_ci(y, p, "roc_auc", n_boot=200, seed=0, stratify=False)
    assert 0 < res.n_valid < 200 and res.replicates.size == res.n_valid


def test_bootstrap_result_renders():
    y, p = _data()
    res = bootstrap_ci(y, p, "brier", n_boot=100, seed=0)
    frame = res.summary
    assert frame.index.tolist() == ["brier"] and frame.loc["brier", "method"] == "percentile bootstrap"
    assert "brier" in res.to_latex() and "\\bottomrule" in res.to_latex()


def test_adjust_pvalues():
    p = [0.01, 0.04, 0.03]
    np.testing.assert_allclose(adjust_pvalues(p, "holm"), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(adjust_pvalues(p, "fdr_bh"), [0.03, 0.04, 0.04])
    rng = np.random.default_rng(0)
    many = rng.uniform(size=25) ** 2
    for method in ("holm", "fdr_bh"):
        np.testing.assert_allclose(adjust_pvalues(many, method), multipletests(many, method=method)[1])
    with_nan = adjust_pvalues([0.01, np.nan, 0.04], "holm")
    assert np.isnan(with_nan[1]) and with_nan[0] == pytest.approx(0.02)
    with pytest.raises(ValueError, match="method"):
        adjust_pvalues(p, "sidak_typo")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        adjust_pvalues([0.5, 1.5])


def test_pairwise_delong_family():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    scores = {
        "imaging": rng.normal(size=300) + 1.5 * y,
        "text": rng.normal(size=300) + y,
        "pro": rng.normal(size=300),
    }
    fam = pairwise_delong(y, scores, correction="holm")
    frame = fam.summary
    assert len(frame) == 3 and "p_adjusted" in frame and set(frame["correction"]) == {"Holm"}
    raw = [
        delong_test(y, scores[a], scores[b]).p_value
        for a, b in [("imaging", "text"), ("imaging", "pro"), ("text", "pro")]
    ]
    np.testing.assert_allclose(frame["p_value"], raw)
    np.testing.assert_allclose(frame["p_adjusted"], multipletests(raw, method="holm")[1])
    ref = pairwise_delong(y, scores, reference="imaging", correction="fdr_bh").summary
    assert list(ref.index) == ["imaging - text", "imaging - pro"]
    assert isinstance(fam.to_latex(), str) and isinstance(frame, pd.DataFrame)
    with pytest.raises(KeyError):
        pairwise_delong(y, scores, reference="clinical")
