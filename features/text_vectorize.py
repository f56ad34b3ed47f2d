"""In-fold TF-IDF (+ optional truncated SVD) over the ``txt__cnt__*`` count columns of a design matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import TruncatedSVD
from sklearn.utils.validation import check_is_fitted

from features.engine import COUNT_PREFIX

COUNT_MARKER = f"txt__{COUNT_PREFIX}"
"""Text count columns: the text extractors' prefix ``txt__`` and the engine's sparse-count prefix."""


class TfidfSVD(TransformerMixin, BaseEstimator):
    """TF-IDF weighting fitted on the training rows only, then an optional TruncatedSVD.

    Works on a DataFrame (or array) whose count columns contain ``count_marker`` (default
    ``"txt__cnt__"``, so both ``txt__cnt__w_fistula`` and ``text:txt__cnt__C0016169_negated`` are taken);
    an array is treated as all counts. Other columns are passed through unchanged after the text block
    when ``passthrough`` is True, dropped otherwise.

    - ``min_df``: a term is kept when it occurs (count > 0) in at least ``min_df`` training rows (int) or
      that fraction of them (float in (0, 1)); vocabulary selection therefore happens in-fold.
    - idf = ln((1 + n) / (1 + df)) + 1 (smooth, as scikit-learn), tf = counts (``sublinear_tf``:
      1 + ln(tf)), rows L2-normalised (``norm="l2"``) or not (None).
    - ``n_components``: None keeps the TF-IDF columns; an int projects them with TruncatedSVD
      (``random_state``), clipped to what the training data allows.
    - Rows with a missing value in any count column (a patient without reports) are ignored in ``fit``
      and come out as all-NaN text features, so a downstream imputer/mask still sees them as missing.
    """

    def __init__(
        self,
        n_components: int | None = None,
        min_df: int | float = 1,
        random_state: int | None = None,
        sublinear_tf: bool = False,
        norm: str | None = "l2",
        count_marker: str = COUNT_MARKER,
        passthrough: bool = True,
    ) -> None:
        self.n_components = n_components
        self.min_df = min_df
        self.random_state = random_state
        self.sublinear_tf = sublinear_tf
        self.norm = norm
        self.count_marker = count_marker
        self.passthrough = passthrough

    def _split(self, X) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
        if isinstance(X, pd.DataFrame):
            names = [str(c) for c in X.columns]
            counts = [c for c in names if self.count_marker in c]
            others = [c for c in names if self.count_marker not in c]
            C = X[counts].to_numpy(dtype=np.float64) if counts else np.zeros((len(X), 0))
            rest = X[others].to_numpy(dtype=np.float64) if others else np.zeros((len(X), 0))
            return C, rest, counts, others
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim != 2:
            raise ValueError(f"TfidfSVD expects a 2-D input, got shape {arr.shape}")
        names = [f"x{i}" for i in range(arr.shape[1])]
        return arr, np.zeros((len(arr), 0)), names, []

    def fit(self, X, y=None) -> TfidfSVD:
        C, _O, counts, others = self._split(X)
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = C.shape[1] + len(others)
        if (C < 0).any():
            raise ValueError("TfidfSVD: count columns must be non-negative")
        rows = ~np.isnan(C).any(axis=1)
        train = C[rows]
        n = len(train)
        df = (train > 0).sum(axis=0)
        if isinstance(self.min_df, float) and 0 < self.min_df < 1:
            threshold = self.min_df * n
        elif isinstance(self.min_df, (int, np.integer)) and self.min_df >= 1:
            threshold = int(self.min_df)
        else:
            raise ValueError(f"min_df must be an int >= 1 or a float in (0, 1), got {self.min_df!r}")
        keep = (df >= threshold) & (df > 0)
        self.count_columns_ = list(counts)
        self.other_columns_ = list(others)
        self.vocabulary_ = [c for c, k in zip(counts, keep, strict=True) if k]
        self.keep_ = keep
        self.idf_ = np.log((1.0 + n) / (1.0 + df[keep])) + 1.0
        self.svd_ = None
        if self.n_components is not None and self.vocabulary_:
            k = int(min(self.n_components, len(self.vocabulary_) - 1, max(n - 1, 0)))
            if k >= 1:
                self.svd_ = TruncatedSVD(n_components=k, random_state=self.random_state)
                self.svd_.fit(self._tfidf(train))
        return self

    def _tfidf(self, C: np.ndarray) -> np.ndarray:
        tf = C[:, self.keep_]
        if self.sublinear_tf:
            tf = np.where(tf > 0, 1.0 + np.log(np.where(tf > 0, tf, 1.0)), 0.0)
        W = tf * self.idf_
        if self.norm == "l2":
            norms = np.linalg.norm(W, axis=1, keepdims=True)
            W = W / np.where(norms > 0, norms, 1.0)
        elif self.norm is not None:
            raise ValueError(f"norm must be 'l2' or None, got {self.norm!r}")
        return W

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "idf_")
        if isinstance(X, pd.DataFrame):
            missing = [c for c in self.count_columns_ + self.other_columns_ if c not in X.columns]
            if missing:
                raise ValueError(
                    f"TfidfSVD.transform: {len(missing)} fitted columns are missing, e.g. {missing[:3]}"
                )
            C = X[self.count_columns_].to_numpy(dtype=np.float64)
            rest = X[self.other_columns_].to_numpy(dtype=np.float64)
        else:
            C, rest, _, _ = self._split(X)
            if C.shape[1] != len(self.count_columns_):
                raise ValueError(
                    f"TfidfSVD.transform: expected {len(self.count_columns_)} columns, got {C.shape[1]}"
                )
        rows = ~np.isnan(C).any(axis=1)
        width = self.svd_.n_components if self.svd_ is not None else len(self.vocabulary_)
        T = np.full((len(C), width), np.nan)
        if rows.any():
            W = self._tfidf(C[rows])
            T[rows] = self.svd_.transform(W) if self.svd_ is not None else W
        return np.hstack([T, rest]) if self.passthrough else T

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "idf_")
        if self.svd_ is not None:
            text = [f"txt__svd__{i:03d}" for i in range(self.svd_.n_components)]
        else:
            text = [f"{c}__tfidf" for c in self.vocabulary_]
        names = text + (self.other_columns_ if self.passthrough else [])
        return np.asarray(names, dtype=object)
