"""scikit-learn checks of our classifiers, the in-fold preprocessing and the torch MLP.

The contract every registered estimator meets is in ``test_estimator_contract.py``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.utils import estimator_checks as ec

from models.blocks import block_availability, is_text_count, split_blocks
from models.estimators import CalibratedSVC, XGBLabelClassifier
from models.preprocess import BlockPreprocessor, SelectTopK
from models.torch_mlp import TorchMLPClassifier, resolve_device

CHEAP_CHECKS = [
    ec.check_estimators_unfitted,
    ec.check_estimators_nan_inf,
    ec.check_n_features_in_after_fitting,
    ec.check_classifiers_regression_target,
    ec.check_get_params_invariance,
    ec.check_set_params,
    ec.check_estimators_fit_returns_self,
    ec.check_fit2d_predict1d,
    ec.check_supervised_y_2d,
]


@pytest.mark.parametrize(
    "est", [TorchMLPClassifier(max_epochs=10), CalibratedSVC(), XGBLabelClassifier(n_estimators=10)], ids=type
)
@pytest.mark.parametrize("check", CHEAP_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_estimator_checks(est: object, check: object) -> None:
    check(type(est).__name__, clone(est))


def test_block_helpers() -> None:
    cols = ["pro:pro__a", "imaging:rad__x", "text:txt__cnt__fistula", "text:emb__0001"]
    assert list(split_blocks(cols)) == ["imaging", "text", "pro"]
    assert is_text_count("text:txt__cnt__fistula") and not is_text_count("text:emb__0001")
    with pytest.raises(ValueError, match="not named"):
        split_blocks(["no_modality"])


def test_block_preprocessor_fits_on_training_rows_only(make_design) -> None:
    X, _ = make_design(40, 2, seed=3, text_counts=False)
    prep = BlockPreprocessor(missing_indicators=True).fit(X.iloc[:30])
    names = list(prep.get_feature_names_out())
    assert "imaging:rad__allnan" not in names  # all-NaN in training: dropped
    assert names[-3:] == ["missing:imaging", "missing:text", "missing:pro"]
    out = prep.transform(X.iloc[30:])
    assert out.shape == (10, len(names)) and np.isfinite(out).all()
    np.testing.assert_array_equal(out[:, -3:], ~block_availability(X.iloc[30:]).to_numpy())
    # the constant column scales to 0, and test values do not change what was learned
    const = names.index("pro:pro__const")
    assert np.all(out[block_availability(X.iloc[30:])["pro"].to_numpy(), const] == 0.0)
    X2 = X.copy()
    X2.iloc[30:, :5] = 1e6
    np.testing.assert_array_equal(
        BlockPreprocessor(missing_indicators=True).fit(X2.iloc[:30]).transform(X.iloc[30:]), out
    )
    with pytest.raises(TypeError, match="DataFrame"):
        prep.transform(X.to_numpy())
    bad = X.assign(**{"pro:pro__text": "high"})
    with pytest.raises(ValueError, match=r"'pro:pro__text' is not numeric \(patient 'P0000'\)"):
        BlockPreprocessor().fit(bad)


def test_block_preprocessor_text_counts_go_through_tfidf_svd(make_design) -> None:
    pytest.importorskip("features.text_vectorize", reason="features.text_vectorize not available")
    X, _ = make_design(40, 2, seed=4, text_counts=True)
    n_counts = sum(is_text_count(c) for c in X.columns)
    prep = BlockPreprocessor(text_components=3, random_state=0).fit(X)
    names = list(prep.get_feature_names_out())
    assert sum(n.startswith("text:tfidf") for n in names) == 3
    assert not any(is_text_count(n) for n in names)
    out = prep.transform(X)
    assert np.isfinite(out).all() and out.shape[1] == len(names)
    wide = BlockPreprocessor(text_components=None).fit(X)
    assert sum(n.startswith("text:tfidf") for n in wide.get_feature_names_out()) == n_counts


def test_select_top_k_keeps_informative_columns() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    X = np.column_stack(
        [rng.normal(size=60), y + 0.1 * rng.normal(size=60), np.ones(60), rng.normal(size=60)]
    )
    sel = SelectTopK(k=1).fit(X, y)
    assert sel.support_.tolist() == [False, True, False, False]
    assert SelectTopK(k=10).fit(X, y).transform(X).shape == (60, 4)


def test_mlp_early_stopping_and_determinism() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 6))
    y = (X[:, 0] > 0).astype(int)
    mlp = TorchMLPClassifier(max_epochs=400, patience=5, random_state=3).fit(X, y)
    assert mlp.n_epochs_ < 400  # stopped early on the internal validation split
    again = TorchMLPClassifier(max_epochs=400, patience=5, random_state=3).fit(X, y)
    np.testing.assert_array_equal(mlp.predict_proba(X), again.predict_proba(X))
    other = TorchMLPClassifier(max_epochs=400, patience=5, random_state=4).fit(X, y)
    assert not np.array_equal(mlp.predict_proba(X), other.predict_proba(X))
    assert (mlp.predict(X) == y).mean() > 0.8
    assert torch.get_num_threads() >= 1


def test_torch_device_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"
    assert resolve_device("cpu").type == "cpu"


@pytest.mark.parametrize("name", ["enet", "svm", "xgb", "mlp"])  # those with class-sensitive internals
def test_single_patient_class_does_not_break_a_cell(name: str, make_design) -> None:
    from models.api import fit_predict_cell

    X, y = make_design(40, 3, seed=8, text_counts=False)
    y = y.copy()
    y[5] = 3  # a fourth class with one training patient: some inner folds never see it
    fit = fit_predict_cell(
        X.iloc[:32], y[:32], X.iloc[32:], modalities=["imaging", "text", "pro"], estimator=name, fusion="early",
        n_classes=4, n_trials=0, inner_splits=3, seed=0, return_train_oof=True,
    )  # fmt: skip
    assert fit.proba.shape == (8, 4) and np.isfinite(fit.proba).all()
    np.testing.assert_allclose(fit.proba.sum(axis=1), 1.0, atol=1e-9)
    assert fit.train_oof.shape == (32, 4) and np.isfinite(fit.train_oof).all()
