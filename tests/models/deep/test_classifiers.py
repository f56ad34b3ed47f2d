"""DeepClassifier and AttentionFusionClassifier: scikit-learn conventions, repeatable CPU fits, they can
learn (overfit a tiny batch, beat the prior on planted signal), missing modalities cannot leak in, fits
request only training patients' raw arrays, and what they record (epochs, seconds, device, memory)."""

from __future__ import annotations

import contextlib
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from models.deep import AttentionFusionClassifier, DeepClassifier, deep_stats, space_deep, using_raw
from models.deep.context import current_raw
from models.torch_mlp import autocast_context
from tests.models.deep.conftest import FAST, LoggingProbe, SharedLog, make_cohort

KINDS = ("imaging", "text", "pro", "attention")


def _cols(X, kind: str):
    return X if kind == "attention" else X[[c for c in X.columns if c.startswith(f"{kind}:")]]


def _make(kind: str, **kw):
    return AttentionFusionClassifier(**kw) if kind == "attention" else DeepClassifier(**kw)


@pytest.fixture(scope="module")
def fitted_fusion():
    """An attention fusion fitted on 48 patients (all three modalities, some missing), and its data."""
    X, y, raw = make_cohort(n=72, seed=3, signal=1.0)
    Xtr, ytr, Xte = X.iloc[:48], y[:48], X.iloc[48:]
    with using_raw(raw):
        clf = AttentionFusionClassifier(random_state=0, **FAST).fit(Xtr, ytr)
    return clf, Xtr, ytr, Xte, raw


# --- scikit-learn conventions ----------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [DeepClassifier, AttentionFusionClassifier])
def test_init_stores_params_and_clone_keeps_them(cls, cohort) -> None:
    raw = cohort()[2]
    est = cls(raw=raw, lr=3e-3, width=16, random_state=4)
    params = est.get_params()
    assert params["raw"] is raw and params["lr"] == 3e-3 and params["width"] == 16
    twin = clone(est)
    assert twin.get_params() == params and twin.get_params()["raw"] is raw
    assert set(space_deep_params()) <= set(f"clf__{p}" for p in params)


def space_deep_params() -> dict:
    import optuna

    return space_deep(optuna.trial.FixedTrial({"clf__lr": 1e-3, "clf__weight_decay": 1e-4, "clf__width": 32,
                                               "clf__dropout": 0.1}))  # fmt: skip


def test_without_raw_inputs_is_a_clear_error(cohort) -> None:
    X, y, _ = cohort()
    with pytest.raises(ValueError, match="using_raw"):
        current_raw()
    with pytest.raises(ValueError, match="using_raw"):
        DeepClassifier(**FAST).fit(_cols(X, "pro"), y)


def test_bad_inputs_are_clear_errors(cohort) -> None:
    X, y, raw = cohort()
    with using_raw(raw), pytest.raises(ValueError, match="one modality block"):
        DeepClassifier(**FAST).fit(X, y)
    text_only = type(raw)(raw.ids, raw.arrays, {"imaging": raw.info["imaging"]})
    with using_raw(text_only), pytest.raises(ValueError, match="build_raw_inputs"):
        DeepClassifier(**FAST).fit(_cols(X, "text"), y)
    bad = _cols(X, "pro").copy()
    bad.iloc[5, 0] = np.inf
    with using_raw(raw), pytest.raises(ValueError, match=rf"patient {bad.index[5]}: column 'pro:pro__s0'"):
        DeepClassifier(**FAST).fit(bad, y)
    with using_raw(raw), pytest.raises(ValueError, match="multiple of heads"):
        AttentionFusionClassifier(width=18, heads=4, **{k: v for k, v in FAST.items() if k != "width"}).fit(
            X, y
        )
    with using_raw(raw), pytest.raises(TypeError, match="DataFrame"):
        DeepClassifier(**FAST).fit(X.to_numpy(), y)


# --- repeatable ----------------------------------------------------------------------------------------
def test_cpu_fits_with_the_same_seed_predict_identically(fitted_fusion) -> None:
    clf, Xtr, ytr, Xte, raw = fitted_fusion
    with using_raw(raw):
        again = clone(clf).fit(Xtr, ytr)
        np.testing.assert_array_equal(again.predict_proba(Xte), clf.predict_proba(Xte))
        pro = _cols(Xtr, "pro")
        a = DeepClassifier(random_state=1, **FAST).fit(pro, ytr).predict_proba(_cols(Xte, "pro"))
        b = DeepClassifier(random_state=2, **FAST).fit(pro, ytr).predict_proba(_cols(Xte, "pro"))
    assert not np.array_equal(a, b)  # the seed matters, so the equality above is not vacuous


def test_pickled_model_predicts_the_same_outside_the_scope(fitted_fusion) -> None:
    clf, _, _, Xte, raw = fitted_fusion
    with using_raw(raw):
        inside = clf.predict_proba(Xte)
    twin = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(twin.predict_proba(Xte), inside)  # the fit's handle is kept


# --- it can learn --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_overfits_a_tiny_batch_with_random_labels(kind: str) -> None:
    X, _, raw = make_cohort(n=16, seed=7, signal=0.0, max_len=16, missing=False)
    y = np.random.default_rng(1).permutation(np.arange(16) % 2)
    params = dict(lr=1e-2, dropout=0.0, val_fraction=0.0, augment=False, max_epochs=30, batch_size=8,
                  width=16, progress=False, random_state=0, pretrained_lr_scale=0.1)  # fmt: skip
    if kind == "attention":
        params["modality_dropout"] = 0.0
    with using_raw(raw):
        clf = _make(kind, **params).fit(_cols(X, kind), y)
        proba = clf.predict_proba(_cols(X, kind))
    assert clf.n_epochs_ == 30
    assert (proba.argmax(axis=1) == y).all()
    assert -np.log(proba[np.arange(16), y]).mean() < 0.1  # training loss near 0 (chance: 0.69)


@pytest.mark.parametrize("kind", KINDS)
def test_beats_the_prior_on_strong_signal(kind: str, cohort) -> None:
    X, y, raw = cohort(n=96, seed=2, signal=1.0)
    tr, te = np.arange(64), np.arange(64, 96)
    with using_raw(raw):
        clf = _make(kind, random_state=0, **{**FAST, "max_epochs": 8}).fit(_cols(X.iloc[tr], kind), y[tr])
        proba = clf.predict_proba(_cols(X.iloc[te], kind))
    has = ~np.isclose(proba, clf.prior_).all(axis=1)  # rows without the modality get the prior
    assert has.sum() >= 20
    auc = roc_auc_score(y[te][has], proba[has, 1])
    loss = -np.log(proba[has, y[te][has]]).mean()
    prior_loss = -np.log(clf.prior_[y[te][has]]).mean()
    assert auc > 0.85 and loss < prior_loss, (auc, loss, prior_loss)


# --- missing modalities --------------------------------------------------------------------------------
def test_missing_modality_values_cannot_change_the_fusion_prediction(fitted_fusion) -> None:
    clf, _, _, Xte, raw = fitted_fusion
    withheld = Xte.copy()
    chosen = list(withheld.index[:8])
    for m in ("imaging", "text"):
        withheld.loc[chosen, [c for c in withheld.columns if c.startswith(f"{m}:")]] = np.nan
    holders = [p for p in chosen if p in raw._pos["text"] and p in raw._pos["imaging"]]
    assert len(holders) >= 5
    garbage = raw.replaced("text", holders, "hidden", np.float16(300.0))
    garbage = garbage.replaced("imaging", holders, "roi", 1e3)
    with using_raw(raw):
        base, present = clf.predict_proba(withheld), clf.predict_proba(Xte)
    with using_raw(garbage):
        np.testing.assert_array_equal(clf.predict_proba(withheld), base)
        changed = clf.predict_proba(Xte)  # where the blocks are there, the raw values do count
    rows = [Xte.index.get_loc(p) for p in holders]
    assert not np.allclose(changed[rows], present[rows])
    assert np.isfinite(base).all() and np.allclose(base.sum(axis=1), 1.0)


def test_block_without_a_raw_record_counts_as_missing(fitted_fusion) -> None:
    clf, Xtr, _, Xte, raw = fitted_fusion
    no_record = [p for p in Xte.index if p not in raw._pos["text"] and np.isfinite(Xte.loc[p, "text:emb__0"])]
    assert no_record
    nan_text = Xte.loc[no_record].copy()
    nan_text[[c for c in Xte.columns if c.startswith("text:")]] = np.nan
    with using_raw(raw):
        np.testing.assert_array_equal(clf.predict_proba(Xte.loc[no_record]), clf.predict_proba(nan_text))
    assert clf.n_without_raw_ == sum(p not in raw._pos["text"] for p in Xtr.index)


def test_deep_classifier_gives_the_prior_without_the_modality(cohort) -> None:
    X, y, raw = cohort()
    img = _cols(X, "imaging")
    with using_raw(raw):
        clf = DeepClassifier(random_state=0, **FAST).fit(img.iloc[:36], y[:36])
        proba = clf.predict_proba(img.iloc[36:])
        single = DeepClassifier(**FAST).fit(img.iloc[:10], np.zeros(10, int))  # one class: no network
    absent = img.iloc[36:].isna().all(axis=1).to_numpy()
    assert absent.any() and (~absent).any()
    np.testing.assert_array_equal(proba[absent], np.tile(clf.prior_, (absent.sum(), 1)))
    assert not np.isclose(proba[~absent], clf.prior_).all()
    assert clf.n_train_ == int((~img.iloc[:36].isna().all(axis=1)).sum())
    assert single.model_ is None and single.n_epochs_ == 0


# --- leakage -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("estimator", "fusion", "modalities"),
                         [("deep", "single", ["pro"]), ("deep", "attention", ["imaging", "text", "pro"])])  # fmt: skip
def test_fits_request_only_training_patients(estimator: str, fusion: str, modalities: list[str]) -> None:
    from models.api import fit_predict_cell

    log = SharedLog()
    X, y, raw = make_cohort(n=60, seed=5, log=log)
    Xtr, ytr, Xte = X.iloc[:44], y[:44], X.iloc[44:]
    fit_predict_cell(
        Xtr, ytr, Xte, modalities=modalities, estimator=estimator, fusion=fusion, n_classes=2, n_trials=1,
        inner_splits=2, seed=0, probe=LoggingProbe(log), raw=raw,
        network_params={"clf__max_epochs": 2, "clf__progress": False, "clf__width": 16},
    )  # fmt: skip
    test_ids = set(map(str, Xte.index))
    fits, scope = 0, None
    for event in log:
        if event[0] in ("fit", "transform"):
            scope = event
            fits += event[0] == "fit"
            continue
        assert scope is not None, "raw arrays requested outside any pipeline step"
        asked = set(event[2])
        assert asked <= set(scope[1]), (scope[0], sorted(asked - set(scope[1]))[:3])
        if scope[0] == "fit":
            assert not asked & test_ids
    assert fits >= 3  # two inner fits and the refit
    assert any(e[0] == "raw" and set(e[2]) & test_ids for e in log)  # the test part is predicted


# --- what a fit records --------------------------------------------------------------------------------
def test_progress_bar_shows_epochs(cohort, capsys) -> None:
    X, y, raw = cohort()
    with using_raw(raw):
        clf = DeepClassifier(random_state=0, **{**FAST, "progress": True, "max_epochs": 5, "patience": 9})
        clf.fit(_cols(X, "pro"), y)
    err = capsys.readouterr().err
    assert "deep pro" in err and "5/5" in err and "epoch" in err
    with using_raw(raw):
        DeepClassifier(random_state=0, **FAST).fit(_cols(X, "pro"), y)
    assert "deep pro" not in capsys.readouterr().err


def test_records_device_epochs_and_memory(cohort) -> None:
    X, y, raw = cohort()
    with using_raw(raw):
        clf = DeepClassifier(device="cpu", random_state=0, **FAST).fit(_cols(X, "imaging"), y)
    assert clf.device_ == "cpu" and 1 <= clf.n_epochs_ <= FAST["max_epochs"]
    assert len(clf.epoch_seconds_) == clf.n_epochs_ and all(s > 0 for s in clf.epoch_seconds_)
    assert clf.peak_memory_mb_ > 50 and not hasattr(clf, "gpu_peak_memory_mb_")
    autocast, scaler = autocast_context(torch.device("cpu"), True)
    assert autocast is contextlib.nullcontext and scaler is None  # mixed precision is for CUDA only


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fit_uses_the_gpu_with_mixed_precision(fitted_fusion) -> None:
    _, Xtr, ytr, Xte, raw = fitted_fusion
    with using_raw(raw):
        clf = AttentionFusionClassifier(device="cuda", random_state=0, **FAST).fit(Xtr, ytr)
        proba = clf.predict_proba(Xte)
    assert clf.device_ == "cuda" and clf.gpu_peak_memory_mb_ > 0
    assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0)
    assert deep_stats(clf)["device"] == "cuda"


def test_deep_stats_finds_the_networks_inside_fitted_models(fitted_fusion, cohort) -> None:
    from models.fusion import LateFusionClassifier, SingleModalityClassifier
    from models.registry import make_pipeline

    clf = fitted_fusion[0]
    stats = deep_stats(make_pipeline_with(clf))
    assert stats["n_networks"] == 1 and stats["n_epochs"] == clf.n_epochs_ and stats["device"] == "cpu"
    assert np.isclose(stats["seconds_per_epoch"], np.mean(clf.epoch_seconds_))
    X, y, raw = cohort()
    fast = {f"clf__{k}": v for k, v in {**FAST, "max_epochs": 2}.items()}
    with using_raw(raw):
        single = SingleModalityClassifier("deep", "pro", params=fast).fit(_cols(X, "pro"), y)
        late = LateFusionClassifier(
            "mean", "deep", modality_params={m: fast for m in ("imaging", "text", "pro")}
        )
        late.fit(X, y)
    assert deep_stats(single)["n_networks"] == 1
    s = deep_stats(late)
    assert s["n_networks"] == 3 and s["n_epochs"] == sum(m[-1].n_epochs_ for m in late.models_.values())
    assert set(__import__("json").loads(s["deep_networks"])) == {"imaging", "text", "pro"}
    assert deep_stats(make_pipeline("enet", seed=0)) == {}


def make_pipeline_with(clf):
    from sklearn.pipeline import Pipeline

    return Pipeline([("probe", LoggingProbe(SharedLog())), ("clf", clf)])
