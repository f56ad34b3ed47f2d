"""In-fold preprocessing of the design matrix: per-block imputation/scaling, text TF-IDF, selection.

Everything here is fitted on the rows given to ``fit`` (the training part of a fold) only. Inside a
``models.foldwork.sharing`` scope a ``BlockPreprocessor`` fit or transform of the very same input (and
parameters) is computed once and then served from memory (``models.foldwork``'s policy). Inside a
``models.harmonise.harmonising`` scope the blocks it names are first harmonised by site with ComBat,
fitted on the same rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_selection import f_classif
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from models import foldwork, harmonise
from models.blocks import is_text_count, split_blocks


def _require_frame(X: object, who: str) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise TypeError(
            f"{who} needs a pandas DataFrame with '<modality>:<feature>' columns, got {type(X).__name__} "
            "(a probe step must return X unchanged)"
        )
    return X


def _numeric(X: pd.DataFrame, cols: list[str]) -> np.ndarray:
    try:
        return X[cols].to_numpy(dtype=float)
    except (TypeError, ValueError):
        for c in cols:
            bad = pd.to_numeric(X[c], errors="coerce").isna() & X[c].notna()
            if bad.any():
                raise ValueError(
                    f"column {c!r} is not numeric (patient {X.index[bad.to_numpy()][0]!r})"
                ) from None
        raise


def _make_text_vectorizer(n_components: int | None, random_state: int | None) -> TransformerMixin:
    # The text engineer owns TF-IDF(+SVD); it is imported lazily so dense-only matrices never need it.
    from features.text_vectorize import TfidfSVD

    return TfidfSVD(n_components=n_components, random_state=random_state)


class BlockPreprocessor(TransformerMixin, BaseEstimator):
    """Per-modality-block preprocessing of a design-matrix DataFrame into a dense float array.

    Dense columns: median imputation then standard scaling; columns that are all NaN in the training
    rows are dropped. Text count columns (``text:txt__cnt__*``): ``features.text_vectorize.TfidfSVD``
    fitted on the training rows that have the text block (absent counts read as 0), reduced to at most
    ``text_components`` dimensions (None: TF-IDF only). ``missing_indicators`` appends one 0/1 column
    per block, 1 where the patient lacks the whole block. Harmonisation: when fitted inside a
    ``models.harmonise.harmonising`` scope that names one of its blocks, a ``SiteHarmoniser`` fitted on the
    same rows comes first (kept in ``harmoniser_`` and applied by ``transform``, in or out of the scope).

    Shared work: inside a ``models.foldwork.sharing`` scope, a fit on the same frame with the same
    parameters, and a transform by such a fit of the same frame, are computed once (not when text is
    reduced with ``random_state=None``, which is not repeatable).
    """

    def __init__(
        self,
        text_components: int | None = 32,
        missing_indicators: bool = False,
        random_state: int | None = None,
    ) -> None:
        self.text_components = text_components
        self.missing_indicators = missing_indicators
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: object = None) -> BlockPreprocessor:
        X = _require_frame(X, type(self).__name__)
        if self.random_state is None and any(is_text_count(c) for c in X.columns):
            self._fit(X)  # an unseeded SVD differs between fits: nothing to share
            self.fit_key_ = None
            return self
        scope = harmonise.current()
        params = (self.text_components, self.missing_indicators, self.random_state, scope and scope.key)
        state, self.fit_key_ = foldwork.shared(X, ("BlockPreprocessor.fit", params), lambda: self._fit(X))
        self.__dict__.update(state)
        return self

    def fit_transform(self, X: pd.DataFrame, y: object = None, **fit_params: object) -> np.ndarray:
        """``fit(X).transform(X)``; shared, the transform is keyed by the fit alone (one digest of X)."""
        self.fit(X)
        work = foldwork.current()
        if work is None or self.fit_key_ is None:
            return self._transform(X)
        return work.get_or_compute(self.fit_key_ + b"/own", lambda: self._transform(X))

    def _fit(self, X: pd.DataFrame) -> dict[str, object]:
        """Fit on X; returns the fitted attributes."""
        if X.shape[0] == 0:
            raise ValueError("BlockPreprocessor.fit got no rows")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.blocks_ = split_blocks(X.columns)
        self.harmoniser_ = None
        scope = harmonise.current()
        if scope is not None and set(scope.modalities) & set(self.blocks_):
            self.harmoniser_ = scope.harmoniser().fit(X)
            X = self.harmoniser_.transform(X)
        self.dense_: dict[str, tuple[list[str], object]] = {}
        self.text_: dict[str, tuple[list[str], object]] = {}
        names: list[str] = []
        for modality, cols in self.blocks_.items():
            dense = [c for c in cols if not is_text_count(c)]
            values = _numeric(X, dense)
            keep = [c for c, ok in zip(dense, ~np.isnan(values).all(axis=0), strict=True) if ok]
            if keep:
                pipe = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
                pipe.fit(X[keep].to_numpy(dtype=float))
                self.dense_[modality] = (keep, pipe)
                names += keep
            text = [c for c in cols if is_text_count(c)]
            has = X[text].notna().any(axis=1).to_numpy() if text else np.zeros(0, bool)
            if text and has.any():
                counts = X.loc[has, text].fillna(0.0).astype(float)
                k = self.text_components
                if k is not None:
                    k = int(min(k, counts.shape[1] - 1, counts.shape[0] - 1))
                vec = _make_text_vectorizer(k if k is None or k >= 1 else None, self.random_state)
                out = np.asarray(vec.fit_transform(counts), dtype=float)
                self.text_[modality] = (text, vec)
                names += [f"{modality}:tfidf{i:03d}" for i in range(out.shape[1])]
        if self.missing_indicators:
            names += [f"missing:{m}" for m in self.blocks_]
        self.feature_names_out_ = np.asarray(names, dtype=object)
        return {k: v for k, v in vars(self).items() if k.endswith("_") and k != "fit_key_"}

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "feature_names_out_")
        X = _require_frame(X, type(self).__name__)
        fitted = getattr(self, "fit_key_", None)
        if fitted is None:
            return self._transform(X)
        return foldwork.shared(X, ("BlockPreprocessor.transform", fitted), lambda: self._transform(X))[0]

    def _transform(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks {len(missing)} training column(s), e.g. {missing[:3]}")
        if getattr(self, "harmoniser_", None) is not None:
            X = self.harmoniser_.transform(X)
        parts: list[np.ndarray] = []
        for modality in self.blocks_:
            if modality in self.dense_:
                keep, pipe = self.dense_[modality]
                parts.append(pipe.transform(X[keep].to_numpy(dtype=float)))
            if modality in self.text_:
                text, vec = self.text_[modality]
                parts.append(np.asarray(vec.transform(X[text].fillna(0.0).astype(float)), dtype=float))
        if self.missing_indicators:
            absent = [~X[cols].notna().any(axis=1).to_numpy() for cols in self.blocks_.values()]
            parts.append(np.column_stack(absent).astype(float))
        out = np.hstack(parts) if parts else np.zeros((len(X), 0))
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_


class SelectTopK(TransformerMixin, BaseEstimator):
    """Keep the ``k`` columns with the highest ANOVA F statistic (None: keep all; constant columns score 0).

    Unlike ``SelectKBest`` it tolerates ``k`` above the column count and constant columns, which happen
    when a tuned ``k`` meets a fold with fewer usable features.
    """

    def __init__(self, k: int | None = None) -> None:
        self.k = k

    def fit(self, X: np.ndarray, y: np.ndarray) -> SelectTopK:
        X = np.asarray(X, dtype=float)
        self.n_features_in_ = X.shape[1]
        if self.k is None or self.k >= X.shape[1]:
            self.support_ = np.ones(X.shape[1], bool)
            return self
        if self.k < 1:
            raise ValueError(f"SelectTopK.k must be >= 1 or None, got {self.k}")
        with np.errstate(divide="ignore", invalid="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores, _ = f_classif(X, y)
        scores = np.nan_to_num(scores, nan=0.0, posinf=np.finfo(float).max)
        top = np.argsort(-scores, kind="stable")[: self.k]
        self.support_ = np.zeros(X.shape[1], bool)
        self.support_[top] = True
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "support_")
        X = np.asarray(X, dtype=float)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"SelectTopK expected {self.n_features_in_} columns, got {X.shape[1]}")
        return X[:, self.support_]
