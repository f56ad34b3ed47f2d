"""Fixtures of the models tests: random design matrices with missing blocks, and a recording probe."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin

from models.api import CellFit, fit_predict_cell

HAS_TFIDF = importlib.util.find_spec("features.text_vectorize") is not None


def _make_design(
    n: int = 60, n_classes: int = 2, seed: int = 0, text_counts: bool = HAS_TFIDF
) -> tuple[pd.DataFrame, np.ndarray]:
    """X (patient-indexed, "<modality>:<feature>" columns) with signal in every block, and labels y."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    rng.shuffle(y)
    signal = y[:, None].astype(float)
    blocks = {
        "imaging": {
            f"imaging:rad__f{i:02d}": rng.normal(size=n) + 0.8 * signal[:, 0] * (i < 3) for i in range(8)
        },
        "text": {f"text:emb__{i:04d}": rng.normal(size=n) + 0.6 * signal[:, 0] * (i == 0) for i in range(4)},
        "pro": {f"pro:pro__s{i}": rng.normal(size=n) + 0.7 * signal[:, 0] * (i < 2) for i in range(5)},
    }
    if text_counts:
        for i in range(6):
            lam = 1.0 + 2.0 * (y == (i % n_classes)) if i < 3 else np.full(n, 1.5)
            blocks["text"][f"text:txt__cnt__term{i}"] = rng.poisson(lam).astype(float)
    X = pd.DataFrame({c: v for b in blocks.values() for c, v in b.items()})
    X.index = pd.Index([f"P{i:04d}" for i in range(n)], name="patient_id")
    X["imaging:rad__allnan"] = np.nan
    X["pro:pro__const"] = 3.0
    # missing modalities (whole blocks NaN); the last patient has none at all
    idx = np.arange(n)
    for m, rows in (("imaging", idx % 5 == 0), ("text", idx % 7 == 1), ("pro", idx % 6 == 2)):
        cols = [c for c in X.columns if c.startswith(f"{m}:")]
        X.loc[rows | (idx == n - 1), cols] = np.nan
    X.iloc[:, 1] = np.where(rng.random(n) < 0.1, np.nan, X.iloc[:, 1])  # scattered missing values
    return X, y


class RecordingProbe(TransformerMixin, BaseEstimator):
    """Records the patient ids every fit/transform sees, keyed by ``tag``, in a class-level log."""

    log: dict[str, list[tuple[str, tuple[str, ...]]]] = {}

    def __init__(self, tag: str = "default") -> None:
        self.tag = tag

    def fit(self, X: pd.DataFrame, y: object = None) -> RecordingProbe:
        assert isinstance(X, pd.DataFrame)
        RecordingProbe.log.setdefault(self.tag, []).append(("fit", tuple(X.index)))
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        RecordingProbe.log.setdefault(self.tag, []).append(("transform", tuple(X.index)))
        return X


def _split_design(n_classes: int = 2, seed: int = 0, n: int = 64, n_test: int = 16):
    """``make_design(n, n_classes, seed)`` cut into (X_train, y_train, X_test): the last ``n_test``
    patients are the test part, and the very last has no modality at all."""
    X, y = _make_design(n, n_classes, seed=seed)
    return X.iloc[:-n_test], y[:-n_test], X.iloc[-n_test:]


def _assert_rowwise(predict, X_test: pd.DataFrame) -> None:
    """``predict(X)`` computes each row from that row alone, to the bit: with one block withheld from every
    other patient, the others keep their probabilities and the withheld ones get those of the frame with
    the block withheld from everybody (what ``benchmarks.experiment.cell.robustness_frame`` assembles)."""
    base = np.asarray(predict(X_test))
    chosen = np.arange(len(X_test)) % 2 == 0
    modalities = sorted({c.split(":", 1)[0] for c in X_test.columns})
    for m in modalities:
        cols = [c for c in X_test.columns if c.startswith(f"{m}:")]
        half, every = X_test.copy(), X_test.copy()
        half.loc[half.index[chosen], cols] = np.nan
        every.loc[every.index, cols] = np.nan
        expected = np.where(chosen[:, None], np.asarray(predict(every)), base)
        np.testing.assert_array_equal(np.asarray(predict(half)), expected, err_msg=f"withheld {m}")


def _fit_cell(Xtr, ytr, Xte, fusion, n_classes, **kw) -> CellFit:
    modalities = ["pro"] if fusion == "single" else ["imaging", "text", "pro"]
    return fit_predict_cell(
        Xtr, ytr, Xte, modalities=modalities, estimator="enet", fusion=fusion, n_classes=n_classes,
        n_trials=kw.pop("n_trials", 0), inner_splits=3, seed=5, return_train_oof=True, **kw,
    )  # fmt: skip


@pytest.fixture(scope="session")
def make_design():
    """``make_design(n=60, n_classes=2, seed=0, text_counts=HAS_TFIDF) -> (X, y)``: "<modality>:<feature>"
    columns with signal in every block; whole blocks missing for some patients, the last patient has none,
    an all-NaN and a constant column, scattered missing values."""
    return _make_design


@pytest.fixture(scope="session")
def split_design():
    """``split_design(n_classes=2, seed=0, n=64, n_test=16) -> (X_train, y_train, X_test)``."""
    return _split_design


@pytest.fixture(scope="session")
def recording_probe():
    """The ``RecordingProbe`` class: ``RecordingProbe(tag)`` logs every fit/transform under ``tag``."""
    return RecordingProbe


@pytest.fixture(scope="session")
def fit_cell():
    """``fit_cell(X_train, y_train, X_test, fusion, n_classes, n_trials=0, **kw)``: ``fit_predict_cell``
    with enet (seed 5, 3 inner splits, train OOF returned) on "pro" for ``single``, else on all blocks."""
    return _fit_cell


@pytest.fixture(scope="session")
def assert_rowwise():
    """``assert_rowwise(predict, X_test)``: ``predict`` computes each row from that row alone."""
    return _assert_rowwise
