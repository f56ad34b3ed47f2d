"""Optuna tuning: inner grouped CV on training rows only, search-space bounds, journal/RDB storage, fresh studies."""

from __future__ import annotations

import uuid

import numpy as np
import optuna
import pytest
from sklearn.metrics import roc_auc_score

from models.api import fit_predict_cell
from models.registry import ESTIMATORS, make_pipeline
from models.tuning import auc_score, inner_folds, make_storage, oof_predict, tune

ALL = ["imaging", "text", "pro"]


def test_tune_returns_params_inside_the_space_and_matching_oof(split_design) -> None:
    Xtr, ytr, _ = split_design(seed=1)
    make = lambda p: make_pipeline("enet", seed=0, params=p)  # noqa: E731
    res = tune(make, ESTIMATORS["enet"].space, Xtr, ytr, classes=np.arange(2), n_trials=4, inner_splits=3,
               seed=3, return_train_oof=True)  # fmt: skip
    assert res.n_trials == 4
    assert set(res.best_params) == {"clf__C", "clf__l1_ratio", "select__k"}
    assert 1e-3 <= res.best_params["clf__C"] <= 10 and 0.05 <= res.best_params["clf__l1_ratio"] <= 0.95
    assert res.best_params["select__k"] in (None, 16, 64, 256)
    # the returned out-of-fold predictions are those of the best parameters on the same inner folds
    folds = inner_folds(ytr, np.asarray(Xtr.index), 3, 3)
    expected = oof_predict(lambda: make(res.best_params), Xtr, ytr, folds, np.arange(2))
    np.testing.assert_allclose(res.train_oof, expected)
    assert res.best_value == pytest.approx(
        np.mean([auc_score(ytr[v], expected[v], np.arange(2)) for _, v in folds])
    )


@pytest.mark.parametrize("fusion,estimator", [("single", "enet"), ("early", "mlp"), ("late_stacked", "enet"),
                                              ("hybrid_gated", "enet")])  # fmt: skip
def test_fits_only_ever_see_training_patients(
    fusion: str, estimator: str, split_design, recording_probe
) -> None:
    Xtr, ytr, Xte = split_design(seed=2)
    tag = uuid.uuid4().hex
    modalities = ["imaging"] if fusion == "single" else ALL
    fit_predict_cell(Xtr, ytr, Xte, modalities=modalities, estimator=estimator, fusion=fusion, n_classes=2,
                     n_trials=2, inner_splits=3, seed=0, probe=recording_probe(tag), return_train_oof=True)  # fmt: skip
    log = recording_probe.log.pop(tag)
    fits = [set(ids) for kind, ids in log if kind == "fit"]
    train, test = set(Xtr.index), set(Xte.index)
    assert len(fits) >= 2 * 3 + 1  # two trials x three inner folds + the refit (per modality for late)
    assert all(f <= train for f in fits)
    assert any(f < train for f in fits)  # inner folds hold patients out
    assert any(
        set(ids) & test for kind, ids in log if kind == "transform"
    )  # the probe is on the predict path


def test_journal_storage_is_created_and_a_rerun_starts_a_fresh_study(tmp_path, split_design) -> None:
    """One policy: a study of the same name (an interrupted attempt) is replaced, never resumed."""
    Xtr, ytr, Xte = split_design(seed=3)
    path = tmp_path / "studies" / "optuna.journal"
    kw = dict(modalities=ALL, estimator="enet", fusion="early", n_classes=2, inner_splits=3, seed=4,
              storage=str(path), study_name="cell-0001")  # fmt: skip
    first = fit_predict_cell(Xtr, ytr, Xte, n_trials=3, return_train_oof=True, **kw)
    assert path.exists() and first.n_trials == 3
    study = optuna.load_study(study_name="cell-0001", storage=make_storage(str(path)))
    before = [t.params for t in study.trials]
    assert len(before) == 3
    again = fit_predict_cell(Xtr, ytr, Xte, n_trials=3, return_train_oof=True, **kw)
    study = optuna.load_study(study_name="cell-0001", storage=make_storage(str(path)))
    assert again.n_trials == 3 and [t.params for t in study.trials] == before
    np.testing.assert_array_equal(again.proba, first.proba)
    np.testing.assert_array_equal(again.train_oof, first.train_oof)
    fresh = fit_predict_cell(Xtr, ytr, Xte, n_trials=3, storage=None, study_name=None,
                             **{k: v for k, v in kw.items() if k not in ("storage", "study_name")})  # fmt: skip
    np.testing.assert_array_equal(fresh.proba, first.proba)  # same as a study that never existed


def test_rdb_url_storage(tmp_path, split_design) -> None:
    pytest.importorskip("sqlalchemy")
    Xtr, ytr, Xte = split_design(seed=4)
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    fit = fit_predict_cell(Xtr, ytr, Xte, modalities=["pro"], estimator="enet", fusion="single", n_classes=2,
                           n_trials=2, inner_splits=3, seed=0, storage=url, study_name="s")  # fmt: skip
    assert fit.n_trials == 2
    assert len(optuna.load_study(study_name="s", storage=url).trials) == 2


def test_zero_trials_means_defaults_and_no_study(tmp_path, split_design) -> None:
    Xtr, ytr, Xte = split_design(seed=5)
    path = tmp_path / "j.log"
    fit = fit_predict_cell(Xtr, ytr, Xte, modalities=ALL, estimator="enet", fusion="late_mean", n_classes=2,
                           n_trials=0, inner_splits=3, seed=0, storage=str(path), study_name="x")  # fmt: skip
    assert fit.best_params == {"imaging": {}, "text": {}, "pro": {}} and fit.n_trials == 0
    assert not path.exists()


def test_tuned_cell_is_deterministic_multiclass(split_design) -> None:
    Xtr, ytr, Xte = split_design(n_classes=4, seed=6, n=80)
    kw = dict(
        modalities=ALL, estimator="enet", fusion="early", n_classes=4, n_trials=3, inner_splits=3, seed=9
    )
    a = fit_predict_cell(Xtr, ytr, Xte, **kw)
    b = fit_predict_cell(Xtr, ytr, Xte, **kw)
    assert a.best_params == b.best_params
    np.testing.assert_array_equal(a.proba, b.proba)


def test_auc_score_binary_and_macro_ovr() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2, 3], 10)
    proba = rng.dirichlet(np.ones(4), size=40)
    expected = roc_auc_score(y, proba, multi_class="ovr", average="macro")
    assert auc_score(y, proba, np.arange(4)) == pytest.approx(expected)
    yb = y % 2
    pb = np.column_stack([1 - proba[:, 1], proba[:, 1]])
    assert auc_score(yb, pb, np.arange(2)) == pytest.approx(roc_auc_score(yb, pb[:, 1]))
    assert np.isnan(auc_score(np.zeros(5, int), pb[:5], np.arange(2)))
    # a class missing from the fold is skipped, not an error
    assert np.isfinite(auc_score(y[y != 3], proba[y != 3], np.arange(4)))


def test_inner_folds_are_grouped_stratified_and_shrink_for_rare_classes() -> None:
    y = np.array([0] * 20 + [1] * 10 + [2] * 2)
    groups = np.array([f"P{i}" for i in range(len(y))])
    folds = inner_folds(y, groups, 5, seed=0)
    assert len(folds) == 2  # the rarest class has two patients
    seen = np.concatenate([v for _, v in folds])
    assert sorted(seen) == list(range(len(y)))
    for tr, va in folds:
        assert not set(groups[tr]) & set(groups[va])
        assert set(y[va]) == {0, 1, 2}
    assert len(inner_folds(np.array([0, 0, 0, 1]), groups[:4], 3, seed=0)) == 2  # single-patient class
    with pytest.raises(ValueError, match="at least 2 classes"):
        inner_folds(np.zeros(6, int), groups[:6], 3, seed=0)
