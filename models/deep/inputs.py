"""Per-modality inputs of the deep networks: which patients have a modality, their tensors, the encoder
and the augmentation that go with them.

A patient HAS a modality iff its block in X has any non-NaN value AND the raw handle has a record of it
(so withholding a block by NaN at prediction time makes the modality missing). Raw arrays are requested
only for the patients who have the modality, in the order given; anything learnt from data (the diary's
standardisation, the static pro features' median imputation and scaling) is fitted on the training rows
passed to ``fit``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from models.blocks import block_availability
from models.deep.augment import DayDropout, ImagingAugment, TokenDropout
from models.deep.encoders import (
    DiaryEncoder,
    ImagingEncoder,
    TextEncoder,
    pooled_states,
    pretrained_top_layers,
)

DEEP_MODALITIES: tuple[str, ...] = ("imaging", "text", "pro")


def check_raw_modality(raw: Any, modality: str) -> None:
    """A clear error when the deep models have no encoder for ``modality`` or ``raw`` lacks it."""
    if modality not in DEEP_MODALITIES:
        raise ValueError(
            f"the deep models have encoders for {list(DEEP_MODALITIES)}, not for the {modality!r} block of X; "
            f"select only those modalities for estimator 'deep' / fusion 'attention'"
        )
    built = list(getattr(raw, "info", {}) or {})
    if modality not in built:
        raise ValueError(
            f"the raw inputs have no {modality!r} arrays (built: {built}); build them with "
            f"features.raw.build_raw_inputs(..., modalities=[..., {modality!r}])"
        )


def patients_with(raw: Any, modality: str, X: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, int]:
    """Rows of X that have ``modality`` (bool) and how many have its block but no raw record."""
    block = block_availability(X, {modality: columns})[modality].to_numpy()
    has = np.zeros(len(X), dtype=bool)
    if block.any():
        ids = [str(p) for p in X.index[block]]
        has[block] = np.asarray(raw.has(modality, ids), dtype=bool)
    return has, int((block & ~has).sum())


class ModalityInputs:
    """Base: ``fit`` on the training rows, then ``arrays`` (row-aligned numpy arrays, one per encoder
    input) for any rows that have the modality; ``encoder`` and ``augment`` for the network."""

    n_inputs: int
    modality: str

    def fit(self, raw: Any, ids: Sequence[str], X: pd.DataFrame) -> ModalityInputs:
        return self

    def arrays(self, raw: Any, ids: Sequence[str], X: pd.DataFrame) -> list[np.ndarray]:
        raise NotImplementedError

    def empty(self, n: int) -> list[np.ndarray]:
        """Zero arrays for ``n`` rows (what absent rows hold; encoders never run on them)."""
        raise NotImplementedError

    def encoder(self, width: int, dropout: float) -> nn.Module:
        raise NotImplementedError

    def augment(self, tensors: list[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
        return tensors


def _batch(raw: Any, modality: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
    out = raw.batch(modality, list(ids))
    present = np.asarray(out.get("present", np.ones(len(ids), bool)), dtype=bool)
    if not present.all():
        pid = list(ids)[int(np.argmax(~present))]
        raise ValueError(f"raw inputs: patient {pid} has no {modality!r} record although has() said so")
    return out


class ImagingInputs(ModalityInputs):
    n_inputs = 2
    modality = "imaging"

    def __init__(self, augment: bool = True) -> None:
        self.use_augment = augment
        self._augmenter: ImagingAugment | None = None

    def fit(self, raw: Any, ids: Sequence[str], X: pd.DataFrame) -> ImagingInputs:
        info = dict(raw.info.get("imaging", {}))
        self.grid_ = int(info["grid"]) if "grid" in info else None
        return self

    def arrays(self, raw: Any, ids: Sequence[str], X: pd.DataFrame) -> list[np.ndarray]:
        b = _batch(raw, "imaging", ids)
        roi = np.asarray(b["roi"], dtype=np.float32)
        if roi.ndim != 5 or roi.shape[1] != 2 or len(set(roi.shape[2:])) != 1:
            raise ValueError(f"raw imaging: roi must be (n, 2, G, G, G), got {roi.shape}")
        if self.grid_ is None:
            self.grid_ = int(roi.shape[2])
        elif roi.shape[2] != self.grid_:
            raise ValueError(f"raw imaging: roi grid {roi.shape[2]} differs from the fitted {self.grid_}")
        if not np.isfinite(roi).all():
            pid = list(ids)[int(np.argmax(~np.isfinite(roi).reshape(len(roi), -1).all(axis=1)))]
            raise ValueError(f"raw imaging: patient {pid} has non-finite ROI values; rebuild the raw inputs")
        return [roi, np.asarray(b["ct"], dtype=np.float32).reshape(-1)]

    def empty(self, n: int) -> list[np.ndarray]:
        g = int(self.grid_ or 1)
        return [np.zeros((n, 2, g, g, g), np.float32), np.zeros(n, np.float32)]

    def encoder(self, width: int, dropout: float) -> nn.Module:
        return ImagingEncoder(int(self.grid_), width, dropout)

    def augment(self, tensors: list[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
        if not self.use_augment:
            return tensors
        if self._augmenter is None:
            self._augmenter = ImagingAugment()
        return self._augmenter(tensors, generator)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_augmenter": None}  # rebuilt on demand; keeps pickles small


class TextInputs(ModalityInputs):
    """Report states, token masks, used slots and the pooled states over all tokens (the skip path)."""

    n_inputs = 4
    modality = "text"

    def __init__(self, tokens: int = 16, augment: bool = True) -> None:
        self.tokens = tokens
        self.use_augment = augment

    def fit(self, raw: Any, ids: Sequence[str], X: pd.DataFrame) -> TextInputs:
        info = dict(raw.info.get("text", {}))
        if "model" in info and info["model"]:
            self.model_path_ = str(info["model"])
        else:
            from features.text.extractors import default_model_path

            self.model_path_ = str(default_model_path())
        self.frozen_layers_ = int(info.get("frozen_layers", 5))
        self.shape_: tuple[int, ...] | None = None
        b = _batch(raw, "text", ids)
        pooled = pooled_states(
            np.asarray(b["hidden"]), np.asarray(b["attention"], bool), np.asarray(b["reports"], bool)
        )
        pooled = pooled[np.isfinite(pooled).all(axis=1)]
        if len(pooled):
            mean, std = pooled.mean(axis=0), pooled.std(axis=0)
        else:
            mean, std = np.zeros(pooled.shape[1]), np.ones(pooled.shape[1])
        self.input_mean_ = mean.astype(np.float32)
        self.input_scale_ = np.where(std > 1e-6, std, 1.0).astype(np.float32)
        return self

    def arrays(self, raw: Any, ids: Sequence[str], X: pd.DataFrame) -> list[np.ndarray]:
        b = _batch(raw, "text", ids)
        hidden, attention = np.asarray(b["hidden"]), np.asarray(b["attention"], dtype=bool)
        reports = np.asarray(b["reports"], dtype=bool)
        if hidden.ndim != 4 or attention.shape != hidden.shape[:3] or reports.shape != hidden.shape[:2]:
            raise ValueError(
                f"raw text: expected hidden (n, R, L, H), attention (n, R, L), reports (n, R); got "
                f"{hidden.shape}, {attention.shape}, {reports.shape}"
            )
        self.shape_ = tuple(hidden.shape[1:])
        pooled = np.nan_to_num(pooled_states(hidden, attention, reports), nan=0.0).astype(np.float32)
        return [hidden.astype(np.float16, copy=False), attention, reports, pooled]

    def empty(self, n: int) -> list[np.ndarray]:
        r, length, h = self.shape_ or (1, 1, 1)
        return [
            np.zeros((n, r, length, h), np.float16),
            np.zeros((n, r, length), bool),
            np.zeros((n, r), bool),
            np.zeros((n, h), np.float32),
        ]

    def encoder(self, width: int, dropout: float) -> nn.Module:
        layers, config = pretrained_top_layers(self.model_path_, self.frozen_layers_)
        mean, scale = torch.from_numpy(self.input_mean_), torch.from_numpy(self.input_scale_)
        return TextEncoder(layers, config, width, dropout, mean, scale)

    def augment(self, tensors: list[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
        return TokenDropout(self.tokens)(tensors, generator) if self.use_augment else tensors


class ProInputs(ModalityInputs):
    """The diary, standardised per item on the training rows' answered days, and X's pro block."""

    n_inputs = 2
    modality = "pro"

    def __init__(self, columns: list[str], day_dropout: float = 0.1, augment: bool = True) -> None:
        self.columns = columns
        self.day_dropout = day_dropout
        self.use_augment = augment

    def fit(self, raw: Any, ids: Sequence[str], X: pd.DataFrame) -> ProInputs:
        diary = self._diary(raw, ids)
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(diary, axis=(0, 1)) if np.isfinite(diary).any() else np.zeros(3)
            std = np.nanstd(diary, axis=(0, 1)) if np.isfinite(diary).any() else np.ones(3)
        self.mean_ = np.nan_to_num(mean, nan=0.0).astype(np.float32)
        self.scale_ = np.where(np.isfinite(std) & (std > 1e-6), std, 1.0).astype(np.float32)
        static = self._static_frame(X)
        usable = [c for c in self.columns if static[c].notna().any()]
        self.static_columns_ = usable
        self.static_ = (
            make_pipeline(SimpleImputer(strategy="median"), StandardScaler()).fit(static[usable])
            if usable
            else None
        )
        return self

    def _diary(self, raw: Any, ids: Sequence[str]) -> np.ndarray:
        diary = np.asarray(_batch(raw, "pro", ids)["diary"], dtype=np.float32)
        if diary.ndim != 3 or diary.shape[1:] != (7, 3):
            raise ValueError(f"raw pro: diary must be (n, 7, 3), got {diary.shape}")
        if np.isinf(diary).any():
            pid = list(ids)[int(np.argmax(np.isinf(diary).reshape(len(diary), -1).any(axis=1)))]
            raise ValueError(f"raw pro: patient {pid} has an infinite diary value; rebuild the raw inputs")
        return diary

    def _static_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.columns if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks the pro columns {missing[:3]} the deep model was fitted with")
        static = X[self.columns].astype(float)
        bad = np.isinf(static.to_numpy())
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise ValueError(
                f"patient {X.index[r]}: column {self.columns[c]!r} is infinite; fix the value or leave it empty"
            )
        return static

    def arrays(self, raw: Any, ids: Sequence[str], X: pd.DataFrame) -> list[np.ndarray]:
        diary = self._diary(raw, ids)
        answered = np.isfinite(diary)
        values = np.where(answered, (diary - self.mean_) / self.scale_, 0.0)
        seq = np.concatenate([values, answered.astype(np.float32)], axis=2).astype(np.float32)
        if self.static_ is None:
            static = np.zeros((len(ids), 0), np.float32)
        else:
            static = self.static_.transform(self._static_frame(X)[self.static_columns_]).astype(np.float32)
        return [seq, static]

    def empty(self, n: int) -> list[np.ndarray]:
        return [np.zeros((n, 7, 6), np.float32), np.zeros((n, len(self.static_columns_)), np.float32)]

    def encoder(self, width: int, dropout: float) -> nn.Module:
        return DiaryEncoder(len(self.static_columns_), width, dropout)

    def augment(self, tensors: list[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
        return DayDropout(self.day_dropout)(tensors, generator) if self.use_augment else tensors


def make_inputs(modality: str, columns: list[str], *, augment: bool, text_tokens: int) -> ModalityInputs:
    """The inputs object of ``modality`` (``columns``: its block in X)."""
    if modality == "imaging":
        return ImagingInputs(augment=augment)
    if modality == "text":
        return TextInputs(tokens=text_tokens, augment=augment)
    if modality == "pro":
        return ProInputs(columns, augment=augment)
    raise ValueError(f"no deep encoder for modality {modality!r}; expected one of {list(DEEP_MODALITIES)}")
