"""Site harmonisation of modality blocks with ComBat, fitted inside every fit on its training rows only.

ComBat (Johnson et al. 2007; the implementation is ``combatlearn.ComBat``, method "johnson": parametric
empirical Bayes location and scale per site and feature) removes a site's additive and multiplicative
offset from each feature. Policy:

- batch = the patient's site (patients.csv ``site``); the features of a block are harmonised on the rows
  that have the block and a site, with a training site counting only when it has at least
  ``min_per_site`` such rows; fewer than two such sites: the block is left as it is;
- fitted on the rows given to ``fit`` only: inside a pipeline these are the training rows of the inner or
  outer fold, so no test patient's features reach a ComBat fit;
- a site that was not among the training rows (the held-out site of a site fold) cannot have its
  offsets estimated from training data. Its rows are passed through unchanged, i.e. read as having no
  site effect relative to the pooled training sites (the johnson transform with zero location and unit
  scale). The alternative, estimating the new site's offsets from its own unlabelled test features,
  would make each test prediction depend on the other test patients' features (transductive); cdbench
  does not do it;
- no covariate is protected (the labels are not known at prediction time), so a genuine difference of
  case mix between sites is removed along with the scanner effect: read harmonised results with that in
  mind;
- missing values: a feature with missing cells is harmonised with those cells filled by the training
  median during ComBat and restored as missing afterwards; a feature constant within a training site is
  left as it is; text count columns are never harmonised;
- blocks to harmonise and the sites come from the enclosing :func:`harmonising` scope (set per cell by
  ``models.api.fit_predict_cell``); ``models.preprocess.BlockPreprocessor`` fits a :class:`SiteHarmoniser`
  first when a block it preprocesses is in scope, and keeps it for ``transform``.
"""

from __future__ import annotations

import contextlib
import hashlib
import warnings
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from models.blocks import is_text_count, split_blocks

MIN_PER_SITE = 2


class SiteHarmoniser(TransformerMixin, BaseEstimator):
    """ComBat per modality block of a design-matrix DataFrame (index patient_id), batch = site.

    ``sites``: patient id -> site for every patient that may be seen (training or test; a site is not a
    label); ``modalities``: the blocks to harmonise. Returns a DataFrame of the same shape (see the module
    docstring for the policy on unseen sites and missing values).
    """

    def __init__(
        self,
        sites: pd.Series | None = None,
        modalities: Sequence[str] = (),
        min_per_site: int = MIN_PER_SITE,
    ) -> None:
        self.sites = sites
        self.modalities = modalities
        self.min_per_site = min_per_site

    def _site_of(self, X: pd.DataFrame) -> pd.Series:
        if self.sites is None:
            raise ValueError("SiteHarmoniser needs the patients' sites")
        return self.sites.reindex(X.index)

    def fit(self, X: pd.DataFrame, y: object = None) -> SiteHarmoniser:
        from combatlearn import ComBat

        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"SiteHarmoniser needs the design-matrix DataFrame, got {type(X).__name__}")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        site = self._site_of(X)
        blocks = split_blocks(X.columns)
        self.models_: dict[str, tuple[list[str], pd.Series, list[str], object]] = {}
        for m in self.modalities:
            dense = [c for c in blocks.get(m, []) if not is_text_count(c)]
            if not dense:
                continue
            present = X[dense].notna().any(axis=1) & site.notna()
            counts = site[present.to_numpy()].value_counts()
            seen = sorted(str(s) for s, n in counts.items() if n >= self.min_per_site)
            rows = np.array(present & site.isin(seen), dtype=bool)
            if len(seen) < 2:
                continue
            values = X.loc[rows, dense]
            medians = values.median()
            filled = values.fillna(medians)
            spread = filled.groupby(site[rows].to_numpy()).std(ddof=1)
            cols = [c for c in dense if np.isfinite(medians[c]) and bool((spread[c] > 1e-12).all())]
            if not cols:
                continue
            known = self.sites.dropna().astype(str)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                combat = ComBat(known, method="johnson").fit(filled[cols])
            self.models_[m] = (cols, medians[cols], seen, combat)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "models_")
        if not self.models_:
            return X
        out = X.copy()
        site = self._site_of(X)
        for cols, medians, seen, combat in self.models_.values():
            rows = np.array(X[cols].notna().any(axis=1) & site.isin(seen), dtype=bool)
            if not rows.any():
                continue  # only unseen sites (passed through) or patients without the block
            values = X.loc[rows, cols]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                adjusted = combat.transform(values.fillna(medians)).astype(float)
            out.loc[rows, cols] = adjusted.where(values.notna()).to_numpy()
        return out


@dataclass(frozen=True)
class Harmonisation:
    """What a :func:`harmonising` scope harmonises: these modalities' blocks, batch = ``sites``."""

    modalities: tuple[str, ...]
    sites: pd.Series

    @property
    def key(self) -> str:
        """A digest of the modalities and the sites (part of the key of shared fold work)."""
        h = hashlib.sha256(repr(self.modalities).encode())
        h.update("\x1f".join(f"{k}={v}" for k, v in self.sites.items()).encode())
        return h.hexdigest()[:16]

    def harmoniser(self) -> SiteHarmoniser:
        return SiteHarmoniser(self.sites, self.modalities)


_CURRENT: ContextVar[Harmonisation | None] = ContextVar("cdbench_harmonisation", default=None)


def current() -> Harmonisation | None:
    """The harmonisation of the enclosing :func:`harmonising` scope, or None (nothing is harmonised)."""
    return _CURRENT.get()


@contextlib.contextmanager
def harmonising(modalities: Sequence[str], sites: pd.Series | None) -> Iterator[Harmonisation | None]:
    """Harmonise ``modalities`` by ``sites`` in every fit of the block (nothing when either is empty)."""
    spec = None
    if modalities and sites is not None:
        known = sites[sites.notna()].astype(str)
        spec = Harmonisation(tuple(modalities), known)
    token = _CURRENT.set(spec)
    try:
        yield spec
    finally:
        _CURRENT.reset(token)
