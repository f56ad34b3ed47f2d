"""What every cdbench classifier shares: prediction from probabilities, label encoding, row normalisation."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class ProbabilisticClassifier(ClassifierMixin, BaseEstimator):
    """Base class: subclasses set ``classes_`` in ``fit`` and implement ``predict_proba``;
    ``predict`` is the most probable class."""

    def predict(self, X: object) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


def encode_labels(y: object) -> tuple[np.ndarray, np.ndarray]:
    """``classes_`` and labels encoded as 0..n_classes-1."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-dimensional, got shape {y.shape}")
    classes, encoded = np.unique(y, return_inverse=True)
    return classes, encoded.astype(np.int64)


def normalise_rows(proba: np.ndarray) -> np.ndarray:
    """Probabilities rescaled so that each row sums to exactly 1 (up to rounding)."""
    proba = np.asarray(proba, dtype=float)
    return proba / proba.sum(axis=1, keepdims=True)
