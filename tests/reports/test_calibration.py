"""Calibration intercept/slope against statsmodels GLMs, their bootstrap CIs against the GLM's Wald CIs and
simulated (mis)calibration with a known truth, Wilson bins against statsmodels, the table."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.stats.proportion import proportion_confint

from reports.calibration import (
    calibration_bins,
    calibration_frame,
    calibration_summary,
    calibration_table,
    lowess_curve,
    wilson_interval,
)
from reports.comparisons import ModelPredictions


def _logit(p):
    return np.log(p) - np.log1p(-p)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _sample(rng, n, *, slope=1.0, shift=0.0):
    """True risks p ~ logit-normal, y ~ Bernoulli(p); the model reports sigmoid((logit p - shift) / slope),
    so the recalibration logit P(y) = a + b logit(model) has b = slope (and a = shift when slope = 1)."""
    true = _sigmoid(rng.normal(-0.3, 1.2, n))
    y = (rng.random(n) < true).astype(int)
    return y, _sigmoid((_logit(true) - shift) / slope)


@pytest.mark.parametrize("seed", [0, 1])
def test_point_estimates_equal_statsmodels_glm(seed):
    y, p = _sample(np.random.default_rng(seed), 400, slope=0.7, shift=0.3)
    got = calibration_summary(y, p, n_boot=0)
    x = _logit(p)
    slope_fit = sm.GLM(y, sm.add_constant(x), family=sm.families.Binomial()).fit()
    icpt_fit = sm.GLM(y, np.ones((y.size, 1)), family=sm.families.Binomial(), offset=x).fit()
    assert got["slope"] == pytest.approx(slope_fit.params[1], abs=1e-8)
    assert got["intercept"] == pytest.approx(icpt_fit.params[0], abs=1e-8)
    assert got["n"] == 400 and got["n_events"] == y.sum() and got["observed_rate"] == pytest.approx(y.mean())


def test_bootstrap_cis_agree_with_glm_wald_cis_in_a_large_sample():
    y, p = _sample(np.random.default_rng(3), 3000, slope=0.5)
    got = calibration_summary(y, p, n_boot=400, seed=0)
    x = _logit(p)
    slope_ci = sm.GLM(y, sm.add_constant(x), family=sm.families.Binomial()).fit().conf_int()[1]
    icpt_ci = sm.GLM(y, np.ones((y.size, 1)), family=sm.families.Binomial(), offset=x).fit().conf_int()[0]
    for kind, ref in (("slope", slope_ci), ("intercept", icpt_ci)):
        lo, hi = got[f"{kind}_low"], got[f"{kind}_high"]
        assert lo < got[kind] < hi
        assert abs((hi - lo) / (ref[1] - ref[0]) - 1) < 0.2, (kind, lo, hi, ref)
        assert abs((lo + hi) / 2 - (ref[0] + ref[1]) / 2) < 0.25 * (ref[1] - ref[0])
    assert got["n_valid_slope"] == 400


@pytest.mark.parametrize(
    ("slope", "shift", "truth"),
    [(1.0, 0.0, (0.0, 1.0)), (2.0, 0.0, (None, 2.0)), (0.5, 0.0, (None, 0.5)), (1.0, -0.8, (-0.8, 1.0))],
    ids=["calibrated", "too-moderate", "overconfident", "over-predicting"],
)
def test_simulated_miscalibration_gives_the_known_intercept_and_slope(slope, shift, truth):
    """Mean over 30 data sets of 1000 patients (SE about 0.01-0.03); 0.05 allows 2-4 SE plus the small
    finite-sample bias of the maximum-likelihood slope. The intercept is only known when the slope is 1."""
    rng = np.random.default_rng(int(slope * 10 - shift * 10))
    est = np.array(
        [
            [
                calibration_summary(*_sample(rng, 1000, slope=slope, shift=shift), n_boot=0)[k]
                for k in ("intercept", "slope")
            ]
            for _ in range(30)
        ]
    )
    intercept, slope_hat = est.mean(axis=0)
    assert slope_hat == pytest.approx(truth[1], abs=0.05)
    if truth[0] is not None:
        assert intercept == pytest.approx(truth[0], abs=0.05)


def test_bootstrap_ci_of_the_slope_covers_the_truth():
    """R = 100 data sets of 300 patients, true slope 0.6, 200 resamples each (about 4 s). Binomial SE of a
    coverage of 0.95 at R = 100 is 0.022: band [0.87, 0.99] (3.6 SE below, allowing the known slight
    anti-conservatism of percentile intervals; 1.8 SE above: a correct method reaches 100/100 with p = 0.006)."""
    rng = np.random.default_rng(2)
    covered = 0
    for r in range(100):
        got = calibration_summary(*_sample(rng, 300, slope=0.6), n_boot=200, seed=r)
        covered += got["slope_low"] <= 0.6 <= got["slope_high"]
    assert 0.87 <= covered / 100 <= 0.99, covered


def test_undefined_fit_gives_nan_not_an_error():
    y = np.array([0, 0, 1, 1] * 5)
    got = calibration_summary(y, np.where(y == 1, 0.9, 0.1), n_boot=50)  # perfectly separated
    assert np.isnan(got["slope"]) and np.isnan(got["slope_low"])


def test_wilson_interval_equals_statsmodels():
    k, n = np.array([0, 3, 12, 25, 7]), np.array([10, 24, 25, 25, 9])
    lo, hi = wilson_interval(k, n, 0.95)
    ref_lo, ref_hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert np.allclose(lo, ref_lo, atol=1e-12) and np.allclose(hi, ref_hi, atol=1e-12)


def test_bins_have_counts_cis_and_enough_patients():
    y, p = _sample(np.random.default_rng(5), 300)
    b = calibration_bins(y, p)
    assert len(b) == 10 and b["n"].sum() == 300 and b["events"].sum() == y.sum()
    assert (b["n"] >= 29).all()  # quantile bins
    assert (b["observed_low"] <= b["observed"]).all() and (b["observed"] <= b["observed_high"]).all()
    assert b["mean_predicted"].is_monotonic_increasing
    small = calibration_bins(y[:48], p[:48])
    assert len(small) == 4 and (small["n"] >= 10).all()  # at least 10 patients per bin
    curve = lowess_curve(y, p)
    assert curve["predicted"].is_monotonic_increasing and len(curve) == 300
    big_y, big_p = _sample(np.random.default_rng(6), 3000)
    c = lowess_curve(big_y, big_p)
    mid = c[(c["predicted"] > 0.2) & (c["predicted"] < 0.8)]
    assert np.max(np.abs(mid["smoothed"] - mid["predicted"])) < 0.08  # calibrated: near the diagonal


def test_frame_and_table():
    rng = np.random.default_rng(9)
    y, p = _sample(rng, 200, slope=0.6)
    ids = np.array([f"P{i:03d}" for i in range(200)])
    m = ModelPredictions(
        ("endo_active", "imaging", "enet", "single"), ids, y, np.column_stack([1 - p, p]), None
    )
    summary, bins, smooth = calibration_frame([m], n_boot=100)
    assert len(summary) == 1 and summary["model"].iat[0] == m.label and len(bins) == 10
    assert summary["slope"].iat[0] == pytest.approx(calibration_summary(y, p, n_boot=0)["slope"])
    assert set(smooth["model"]) == {m.label}
    table = calibration_table(summary)
    assert table.name == "calibration"
    assert list(table.display.columns) == [
        "Task",
        "Model",
        "n",
        "Events",
        "Mean predicted",
        "Observed",
        "Intercept (95% CI)",
        "Slope (95% CI)",
    ]
    assert "(" in table.display["Slope (95% CI)"].iat[0]
