"""The metric registry against independent implementations (scikit-learn, statsmodels)."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn import metrics as skm

from reports.metrics import (
    METRICS,
    Metric,
    compute_metrics,
    get_metric,
    make_metric,
    metrics_for_task,
    weighted_auc,
)


def _binary(n=300, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    logit = 1.2 * (y - 0.5) + rng.normal(size=n)
    p = 1 / (1 + np.exp(-logit))
    if ties:
        p = np.round(p, 1)
    return y, np.column_stack([1 - p, p])


def _multiclass(n=400, K=4, seed=1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)
    logits = rng.normal(size=(n, K)) + 1.5 * np.eye(K)[y]
    P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, P


def test_registry_directions_and_tasks():
    assert set(metrics_for_task("binary")) >= {
        "roc_auc",
        "pr_auc",
        "accuracy",
        "balanced_accuracy",
        "sensitivity",
        "specificity",
        "f1",
        "brier",
        "calibration_intercept",
        "calibration_slope",
    }
    assert set(metrics_for_task("multiclass")) >= {"roc_auc_ovr", "qwk", "f1_macro", "brier", "accuracy"}
    assert metrics_for_task("ordinal") == metrics_for_task("multiclass")
    assert METRICS["roc_auc"].greater_is_better and not METRICS["brier"].greater_is_better
    assert (
        METRICS["calibration_slope"].greater_is_better is None and METRICS["calibration_slope"].ideal == 1.0
    )
    assert METRICS["calibration_slope"].badness(0.8) == pytest.approx(0.2)
    assert METRICS["brier"].badness(0.1) < METRICS["brier"].badness(0.2)
    assert METRICS["roc_auc"].badness(0.9) < METRICS["roc_auc"].badness(0.8)
    for name, m in METRICS.items():
        assert m.name == name and m.label and m.tasks


@pytest.mark.parametrize("ties", [False, True])
def test_binary_metrics_match_sklearn(ties):
    y, P = _binary(ties=ties)
    p = P[:, 1]
    pred = (p >= 0.5).astype(int)
    got = compute_metrics(y, P, "binary")
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert got["pr_auc"] == pytest.approx(skm.average_precision_score(y, p), abs=1e-12)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred), abs=1e-12)
    assert got["sensitivity"] == pytest.approx(skm.recall_score(y, pred), abs=1e-12)
    assert got["specificity"] == pytest.approx(skm.recall_score(1 - y, 1 - pred), abs=1e-12)
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred), abs=1e-12)
    assert got["brier"] == pytest.approx(skm.brier_score_loss(y, p), abs=1e-12)


def test_threshold_is_a_parameter():
    y, P = _binary()
    p = P[:, 1]
    m = get_metric("sensitivity@0.3")
    assert m.name == "sensitivity@0.3" and "0.3" in m.label
    assert m(y, P) == pytest.approx(skm.recall_score(y, (p >= 0.3).astype(int)))
    spec = get_metric("specificity@0.7")(y, P)
    assert spec == pytest.approx(skm.recall_score(1 - y, (p < 0.7).astype(int)))
    assert compute_metrics(y, P, "binary", names=["f1@0.4"])["f1@0.4"] == pytest.approx(
        skm.f1_score(y, (p >= 0.4).astype(int))
    )
    with pytest.raises(KeyError):
        get_metric("roc_auc@0.3")
    with pytest.raises(ValueError):
        get_metric("sensitivity@1.5")


def test_multiclass_metrics_match_sklearn():
    y, P = _multiclass()
    pred = P.argmax(axis=1)
    got = compute_metrics(y, P, "multiclass")
    assert got["roc_auc_ovr"] == pytest.approx(skm.roc_auc_score(y, P, multi_class="ovr", average="macro"))
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert got["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert got["qwk"] == pytest.approx(skm.cohen_kappa_score(y, pred, weights="quadratic"))
    onehot = np.eye(P.shape[1])[y]
    assert got["brier"] == pytest.approx(np.mean(np.sum((P - onehot) ** 2, axis=1)))
    assert got["brier"] == pytest.approx(skm.brier_score_loss(y, P))


def _logit(p):
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


@pytest.mark.parametrize("seed", [0, 3])
def test_calibration_matches_statsmodels_glm(seed):
    rng = np.random.default_rng(seed)
    n = 500
    true_logit = rng.normal(size=n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-true_logit))).astype(int)
    # a miscalibrated model: overconfident (slope < 1) and shifted (intercept != 0)
    p = 1 / (1 + np.exp(-(1.8 * true_logit + 0.4)))
    x = _logit(p)
    slope_fit = sm.GLM(y, sm.add_constant(x), family=sm.families.Binomial()).fit()
    icpt_fit = sm.GLM(y, np.ones((n, 1)), family=sm.families.Binomial(), offset=x).fit()
    P = np.column_stack([1 - p, p])
    got = compute_metrics(y, P, "binary", names=["calibration_intercept", "calibration_slope"])
    assert got["calibration_slope"] == pytest.approx(slope_fit.params[1], abs=1e-7)
    assert got["calibration_intercept"] == pytest.approx(icpt_fit.params[0], abs=1e-7)
    assert 0.4 < got["calibration_slope"] < 0.75  # recovers ~1/1.8


def test_calibration_of_a_calibrated_model_is_ideal_in_large_samples():
    rng = np.random.default_rng(7)
    p = rng.uniform(0.02, 0.98, 20000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    got = compute_metrics(y, p, "binary", names=["calibration_intercept", "calibration_slope"])
    assert abs(got["calibration_intercept"]) < 0.05
    assert abs(got["calibration_slope"] - 1) < 0.05


def test_calibration_undefined_cases_are_nan():
    y = np.array([0, 0, 1, 1])
    separated = np.array([0.1, 0.2, 0.8, 0.9])
    assert np.isnan(get_metric("calibration_slope")(y, separated))
    assert np.isnan(get_metric("calibration_slope")(y, np.full(4, 0.4)))  # constant p: slope unidentified
    assert np.isfinite(get_metric("calibration_intercept")(y, np.full(4, 0.4)))
    assert np.isnan(get_metric("calibration_intercept")(np.zeros(4, int), np.full(4, 0.4)))


def test_weighted_batch_equals_repeated_rows():
    """A weight row of draw counts must give the metric of the data with rows repeated that often."""
    rng = np.random.default_rng(5)
    yb, Pb = _binary(n=120, seed=2, ties=True)
    ym, Pm = _multiclass(n=150, K=3, seed=3)
    for y, P, task in ((yb, Pb, "binary"), (ym, Pm, "multiclass")):
        W = rng.multinomial(y.size, np.full(y.size, 1 / y.size), size=6).astype(float)
        for name in metrics_for_task(task):
            m = METRICS[name]
            batch = m.batch_eval(y, P, W)
            for b in range(W.shape[0]):
                idx = np.repeat(np.arange(y.size), W[b].astype(int))
                assert batch[b] == pytest.approx(m(y[idx], P[idx]), abs=1e-9, nan_ok=True), name


def test_weighted_auc_with_fractional_weights_matches_sklearn():
    y, P = _binary(n=200, seed=9, ties=True)
    w = np.random.default_rng(1).uniform(0, 2, y.size)
    got = weighted_auc(y == 1, P[:, 1], w[None, :])[0]
    assert got == pytest.approx(skm.roc_auc_score(y, P[:, 1], sample_weight=w), abs=1e-12)


def test_custom_metric_without_batch_uses_generic_loop():
    def youden(y_true, proba):
        pred = proba[:, 1] >= 0.5
        return pred[y_true == 1].mean() + (~pred[y_true == 0]).mean() - 1

    m = Metric("youden", youden, True, frozenset({"binary"}), "Youden index")
    y, P = _binary(n=80)
    W = np.vstack([np.ones(80), np.r_[np.full(40, 2.0), np.zeros(40)]])
    got = m.batch_eval(y, P, W)
    assert got[0] == pytest.approx(youden(y, P))
    assert got[1] == pytest.approx(youden(y[:40], P[:40]))
    with pytest.raises(ValueError, match="counts"):
        m.batch_eval(y, P, W * 0.5)


def test_make_metric_validates():
    with pytest.raises(ValueError, match="task"):
        make_metric("x", lambda y, P, W: W.sum(1), greater_is_better=True, tasks=["regression"], label="x")
    with pytest.raises(ValueError, match="either"):
        make_metric(
            "x", lambda y, P, W: W.sum(1), greater_is_better=True, tasks=["binary"], label="x", ideal=0.0
        )


def test_bad_inputs_give_clear_errors():
    y, P = _binary(n=10)
    with pytest.raises(ValueError, match="row 3"):
        bad = P.copy()
        bad[3, 1] = np.nan
        compute_metrics(y, bad, "binary")
    with pytest.raises(ValueError, match=r"y_true\[2\] = 5"):
        compute_metrics(np.r_[y[:2], 5, y[3:]], P, "binary")
    with pytest.raises(ValueError, match="one per proba row"):
        compute_metrics(y[:-1], P, "binary")
    with pytest.raises(ValueError, match="does not match"):
        compute_metrics(y, np.column_stack([P, np.zeros(10)]), "binary")
    with pytest.raises(ValueError, match="does not apply"):
        compute_metrics(y, P, "binary", names=["qwk"])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        compute_metrics(y, np.linspace(-2, 2, 10), "binary", names=["brier"])
    with pytest.raises(KeyError, match="unknown metric"):
        get_metric("auroc")
    with pytest.raises(ValueError, match="task type"):
        compute_metrics(y, P, "regression")


def test_one_dimensional_scores_work_for_rank_metrics():
    y, P = _binary()
    raw = np.log(P[:, 1] / P[:, 0]) * 3.0  # a decision score outside [0, 1]
    assert compute_metrics(y, raw, "binary", names=["roc_auc"])["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, raw)
    )


def test_missing_class_makes_ovr_auc_nan():
    y, P = _multiclass(n=60, K=3)
    keep = y != 2
    assert np.isnan(compute_metrics(y[keep], P[keep], "multiclass", names=["roc_auc_ovr"])["roc_auc_ovr"])
