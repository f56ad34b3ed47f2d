"""DeLong against golden values from R's pROC 1.18 (scripts/make_proc_golden.R; R is not needed here)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from reports.stats import delong_ci, delong_ovr, delong_test
from tests import DATA_DIR

CASES = {c["name"]: c for c in json.loads((DATA_DIR / "proc_golden_cases.json").read_text(encoding="utf-8"))}
GOLDEN = json.loads((DATA_DIR / "proc_golden.json").read_text(encoding="utf-8"))
_SPECIAL = {"NA": np.nan, "NaN": np.nan, "Inf": np.inf, "-Inf": -np.inf}
TOL = 1e-6


def _num(x) -> float:
    return _SPECIAL[x] if isinstance(x, str) else float(x)


def _close(ours: float, theirs, what: str) -> None:
    ref = _num(theirs)
    if np.isnan(ref):
        assert np.isnan(ours), f"{what}: pROC gives NA/NaN, we give {ours}"
    else:
        assert ours == pytest.approx(ref, abs=TOL), what


def test_golden_file_covers_the_required_cases():
    assert GOLDEN["meta"]["pROC"].startswith("1.")
    names = set(CASES)
    assert {g["name"] for g in GOLDEN["cases"]} == names
    assert {"tiny_2v2", "separated_both", "constant_both", "ties_binary_scores", "single_positive"} <= names
    assert max(len(c["y"]) for c in CASES.values()) >= 3000


@pytest.mark.parametrize("golden", GOLDEN["cases"], ids=[g["name"] for g in GOLDEN["cases"]])
def test_delong_ci_matches_proc(golden):
    case = CASES[golden["name"]]
    for key in ("a", "b"):
        res = delong_ci(case["y"], case[key])
        ref = golden[key]
        assert (res.n_pos, res.n_neg) == (golden["n_pos"], golden["n_neg"])
        _close(res.auc, ref["auc"], f"{golden['name']} {key} auc")
        _close(res.variance, ref["var"], f"{golden['name']} {key} var")
        _close(res.ci_low, ref["ci_low"], f"{golden['name']} {key} ci_low")
        _close(res.ci_high, ref["ci_high"], f"{golden['name']} {key} ci_high")
        res90 = delong_ci(case["y"], case[key], level=0.90)
        _close(res90.ci_low, ref["ci90_low"], f"{golden['name']} {key} ci90_low")
        _close(res90.ci_high, ref["ci90_high"], f"{golden['name']} {key} ci90_high")


@pytest.mark.parametrize("golden", GOLDEN["cases"], ids=[g["name"] for g in GOLDEN["cases"]])
def test_delong_test_matches_proc(golden):
    case = CASES[golden["name"]]
    res = delong_test(case["y"], case["a"], case["b"])
    name = golden["name"]
    _close(res.cov, golden["cov"], f"{name} cov")
    test = golden["test"]
    if isinstance(test["messages"], str) and test["messages"].startswith("error"):
        # pROC stops (NA in an if) when a class has a single patient; we return NaN
        assert min(golden["n_pos"], golden["n_neg"]) < 2
        assert np.isnan(res.z) and np.isnan(res.p_value) and np.isnan(res.var_a)
        return
    _close(res.auc_a, test["estimate"][0], f"{name} auc_a")
    _close(res.auc_b, test["estimate"][1], f"{name} auc_b")
    _close(res.z, test["statistic"], f"{name} z")
    _close(res.p_value, test["p_value"], f"{name} p")
    _close(res.ci_low, test["ci_low"], f"{name} diff ci_low")
    _close(res.ci_high, test["ci_high"], f"{name} diff ci_high")
    _close(res.var_a, golden["a"]["var"], f"{name} var_a")
    _close(res.var_b, golden["b"]["var"], f"{name} var_b")
    assert res.diff == pytest.approx(res.auc_a - res.auc_b)


def test_degenerate_conventions():
    y = [0, 0, 0, 1, 1, 1]
    perfect = [0.1, 0.2, 0.3, 0.7, 0.8, 0.9]
    ci = delong_ci(y, perfect)
    assert (ci.auc, ci.variance, ci.ci_low, ci.ci_high) == (1.0, 0.0, 1.0, 1.0)
    both = delong_test(y, perfect, np.array(perfect) * 2)
    assert (both.z, both.p_value) == (0.0, 1.0)
    const = delong_test(y, np.zeros(6), np.ones(6))
    assert (const.auc_a, const.z, const.p_value) == (0.5, 0.0, 1.0)
    # one perfect, one constant: zero variance but different AUCs -> infinite z, p = 0
    diff = delong_test(y, perfect, np.zeros(6))
    assert diff.z == np.inf and diff.p_value == 0.0
    single = delong_ci([1, 0, 0, 0], [0.9, 0.1, 0.2, 0.3])
    assert single.auc == 1.0 and np.isnan(single.variance) and np.isnan(single.ci_low)


def test_fast_delong_agrees_with_sklearn_and_is_symmetric():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 5000)
    a = np.round(rng.normal(size=y.size) + y, 1)
    b = rng.normal(size=y.size) + 0.5 * y
    assert delong_ci(y, a).auc == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    ab, ba = delong_test(y, a, b), delong_test(y, b, a)
    assert ab.z == pytest.approx(-ba.z) and ab.p_value == pytest.approx(ba.p_value)
    assert ab.ci_low == pytest.approx(-ba.ci_high)
    # the DeLong variance is invariant to monotone transformations of the score
    assert delong_ci(y, np.exp(a)).variance == pytest.approx(delong_ci(y, a).variance, rel=1e-12)
    assert delong_ci(y.astype(bool), a).auc == delong_ci(y, a).auc


def test_delong_ovr_per_class():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3)) + 1.2 * np.eye(3)[y]
    P = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    res = delong_ovr(y, P, class_names=["low", "mid", "high"])
    frame = res.summary
    assert list(frame.index) == ["low", "mid", "high"]
    for k, name in enumerate(["low", "mid", "high"]):
        ref = delong_ci((y == k).astype(int), P[:, k])
        assert frame.loc[name, "estimate"] == pytest.approx(ref.auc)
        assert frame.loc[name, "ci_low"] == pytest.approx(ref.ci_low)
    assert res.macro_auc == pytest.approx(roc_auc_score(y, P, multi_class="ovr", average="macro"))
    with pytest.raises(ValueError, match="class 'high'"):
        delong_ovr(y[y != 2], P[y != 2], class_names=["low", "mid", "high"])


def test_delong_input_errors():
    with pytest.raises(ValueError, match="binary 0/1"):
        delong_ci([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="both classes"):
        delong_ci([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="position 1"):
        delong_ci([0, 1, 1], [0.1, np.nan, 0.3])
    with pytest.raises(ValueError, match="entries"):
        delong_test([0, 1, 1], [0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(ValueError, match="level"):
        delong_ci([0, 1], [0.1, 0.2], level=95)


def test_result_objects_render():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 100)
    res = delong_test(y, rng.normal(size=100) + y, rng.normal(size=100), names=("imaging_rf", "pro_enet"))
    frame = res.summary
    assert list(frame.index) == ["imaging_rf - pro_enet"]
    assert {"estimate", "ci_low", "ci_high", "p_value", "method"} <= set(frame.columns)
    tex = res.to_latex(caption="DeLong")
    assert "\\begin{tabular}" in tex and "imaging\\_rf - pro\\_enet" in tex and "\\toprule" in tex
    assert "DeLong" in repr(res)
