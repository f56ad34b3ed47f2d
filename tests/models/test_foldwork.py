"""Work shared across a cell's trials: same predictions as the plain path, never a fit on other rows."""

from __future__ import annotations

import numpy as np
import pytest

from models import foldwork
from models.api import fit_predict_cell
from models.hybrid import HybridFusionClassifier
from models.preprocess import BlockPreprocessor

ALL = ["imaging", "text", "pro"]
CASES = [("single", "enet"), ("early", "enet"), ("early", "mlp"), ("late_stacked", "enet"),
         ("hybrid_gated", "hybrid")]  # fmt: skip


@pytest.fixture
def real_fits(monkeypatch):
    """Every BlockPreprocessor fit actually computed (not served from memory): the patient ids it saw.

    Each computed fit also stores those ids among its fitted attributes, and every ``fit`` checks that the
    state it ends with was computed on exactly the rows it was given.
    """
    seen: list[tuple[str, ...]] = []
    compute, fit = BlockPreprocessor._fit, BlockPreprocessor.fit

    def recording_compute(self, X):
        seen.append(tuple(X.index))
        self.rows_fitted_ = tuple(X.index)
        return compute(self, X)

    def checked_fit(self, X, y=None):
        out = fit(self, X, y)
        assert self.rows_fitted_ == tuple(X.index), "a fit was served for other rows than it was computed on"
        return out

    monkeypatch.setattr(BlockPreprocessor, "_fit", recording_compute)
    monkeypatch.setattr(BlockPreprocessor, "fit", checked_fit)
    return seen


@pytest.mark.parametrize("fusion,estimator", CASES)
def test_shared_path_gives_the_plain_paths_predictions_and_fits_less(
    fusion: str, estimator: str, split_design, real_fits
) -> None:
    Xtr, ytr, Xte = split_design(n_classes=3 if fusion == "early" else 2, seed=7)
    kw = dict(modalities=["text"] if fusion == "single" else ALL, estimator=estimator, fusion=fusion,
              n_classes=len(np.unique(ytr)), n_trials=3, inner_splits=3, seed=11, return_train_oof=True)  # fmt: skip
    plain = fit_predict_cell(Xtr, ytr, Xte, share_fold_work=False, **kw)
    n_plain = len(real_fits)
    shared = fit_predict_cell(Xtr, ytr, Xte, **kw)
    n_shared = len(real_fits) - n_plain
    assert shared.best_params == plain.best_params and shared.n_trials == plain.n_trials >= 3
    np.testing.assert_array_equal(shared.proba, plain.proba)
    np.testing.assert_array_equal(shared.train_oof, plain.train_oof)
    assert 0 < n_shared < n_plain  # the trials reused the fold fits
    train, test = set(Xtr.index), set(Xte.index)
    assert all(set(rows) <= train and not set(rows) & test for rows in real_fits)


def test_a_fit_is_shared_only_for_the_same_rows_values_and_parameters(make_design, real_fits) -> None:
    X, _ = make_design(50, 2, seed=4)
    a, b = X.iloc[:40], X.iloc[1:41]  # same size, one patient swapped
    changed, renamed = a.copy(), a.rename(index={a.index[0]: "someone else"})  # a value; a patient id
    changed.iloc[3, 0] += 1.0
    frames = (a, a.copy(), b, changed, renamed)
    with foldwork.sharing() as work:
        fits = [BlockPreprocessor(random_state=0).fit(f) for f in frames]
        BlockPreprocessor(random_state=1).fit(a)  # another seed: another SVD
        BlockPreprocessor(missing_indicators=True, random_state=0).fit(a)
        assert (work.hits, work.misses) == (1, 6)
        np.testing.assert_array_equal(fits[0].transform(X), fits[1].transform(X))
    assert len(real_fits) == 6
    for f, frame in zip(fits, frames, strict=True):  # each equals a fit of its own rows
        np.testing.assert_array_equal(
            f.transform(X), BlockPreprocessor(random_state=0).fit(frame).transform(X)
        )


def test_unseeded_text_reduction_and_work_outside_a_scope_are_never_shared(make_design, real_fits) -> None:
    X, _ = make_design(40, 2, seed=5)
    with foldwork.sharing() as work:
        BlockPreprocessor(random_state=None).fit(X)
        BlockPreprocessor(random_state=None).fit(X)
        assert work.hits == 0
    assert foldwork.current() is None
    BlockPreprocessor(random_state=0).fit(X)
    BlockPreprocessor(random_state=0).fit(X)
    assert len(real_fits) == 4
    with foldwork.sharing(enabled=False) as work:
        assert work is None and foldwork.current() is None


def test_shared_results_are_read_only_and_memory_is_bounded() -> None:
    work = foldwork.FoldWork(max_bytes=3 * 8 * 100)
    arrays = [work.get_or_compute(bytes([i]), lambda: np.zeros(100)) for i in range(5)]
    with pytest.raises(ValueError, match="read-only"):
        arrays[0][0] = 1.0
    assert work.misses == 5 and len(work._items) == 3  # the least recently used went first
    work.get_or_compute(bytes([4]), lambda: pytest.fail("recomputed"))
    assert work.hits == 1
    calls = []
    work.get_or_compute(bytes([0]), lambda: calls.append(1) or np.zeros(1))
    assert calls == [1]  # evicted, so computed again


def test_hybrid_networks_on_one_frame_share_its_preprocessing(make_design, real_fits) -> None:
    X, y = make_design(60, 2, seed=6)
    with foldwork.sharing():
        a = HybridFusionClassifier(random_state=3, max_epochs=5, lr=1e-3).fit(X, y)
        n = len(real_fits)
        b = HybridFusionClassifier(random_state=3, max_epochs=5, lr=5e-3).fit(X, y)
        assert len(real_fits) == n  # the second network reused every block's fit
        assert a.preps_ is b.preps_
        other = HybridFusionClassifier(random_state=4, max_epochs=5).fit(X, y)
        assert other.preps_ is not a.preps_ and len(real_fits) > n
    plain = HybridFusionClassifier(random_state=3, max_epochs=5, lr=5e-3).fit(X, y)
    np.testing.assert_array_equal(plain.predict_proba(X), b.predict_proba(X))
