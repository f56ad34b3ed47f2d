"""The deep models on the raw data as scikit-learn classifiers on the patient-indexed design matrix.

Policy (both classes):

- X is indexed by patient_id with ``"<modality>:<feature>"`` columns; a patient HAS a modality iff its
  block has any non-NaN value AND the raw handle has a record (``models.deep.inputs``). Only the fixed
  features of the pro block are used as features (beside the diary); the other blocks only say who has
  the modality. Raw arrays are requested only for the rows given to ``fit`` / ``predict_proba``.
- ``raw=None`` means the raw inputs of the enclosing ``models.deep.using_raw`` scope at fit time; the
  fitted model keeps that handle (paths only) for later predictions outside the scope.
- Training (``models.torch_mlp.train_network``): Adam + cross-entropy, early stopping on a seeded
  validation split of the training rows (``val_fraction``; the best epoch's weights are restored),
  augmentation of the training batches only (``models.deep.augment``), the pretrained text layers at
  ``lr * pretrained_lr_scale``. One CPU thread; on CPU two fits with the same ``random_state`` (None
  means 0) give identical predictions. ``device="auto"`` trains on CUDA when present, with autocast
  (``mixed_precision``) there only.
- Parameters: ``lr``, ``weight_decay``, ``width`` (embedding / token size), ``dropout`` (the Optuna space,
  :func:`space_deep`); ``batch_size``, ``max_epochs``, ``patience``, ``val_fraction``; ``augment``;
  ``text_tokens`` (tokens a report keeps per training step: token dropout, see ``models.deep.augment``);
  ``pretrained_lr_scale`` (the MiniLM layers' learning rate relative to ``lr``); ``mixed_precision``;
  ``eval_batch_size`` (rows per validation / prediction pass); ``progress`` (a bar over epochs).
  Defaults were chosen to fit the ``--profile deep`` budget (one fit ~10-30 s on one CPU thread on a
  400-patient cohort's outer training part): ``max_epochs=12``, ``patience=3`` (3-fold fits on the
  synthetic cohort stopped after 5-12 epochs), ``text_tokens=16`` (1.8 s per text epoch instead of 2.9 s
  with 32 tokens on 230 patients, AUC 0.838 vs 0.840).
- Fitted attributes: ``classes_``, ``n_epochs_``, ``epoch_seconds_`` (wall time of each epoch),
  ``device_``, ``peak_memory_mb_`` (the process's peak resident memory during the fit, sampled; on CUDA
  ``gpu_peak_memory_mb_`` too), ``n_without_raw_`` (training rows with the block but no raw record).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from torch import nn

from models.base import ProbabilisticClassifier, encode_labels
from models.blocks import split_blocks
from models.deep.augment import modality_dropout
from models.deep.context import current_raw, peek_raw
from models.deep.encoders import TextEncoder
from models.deep.inputs import ModalityInputs, check_raw_modality, make_inputs, patients_with
from models.torch_mlp import (
    TorchTrainingMixin,
    autocast_context,
    resolve_device,
    seeded_torch,
    softmax_proba,
    torch_threads,
)


class DeepNet(nn.Module):
    """One modality's encoder -> dropout -> linear head."""

    def __init__(self, encoder: nn.Module, width: int, n_classes: int, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, n_classes))

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(*tensors))


class AttentionFusionNet(nn.Module):
    """Encoders per modality -> one token each (+ a modality embedding; a learned token where the modality
    is missing) -> a transformer encoder layer over [CLS] + tokens -> head on CLS.

    ``forward(*tensors, present)``: the modalities' tensors in order, then ``present`` (n, M bool).
    Encoders run only on the rows that have their modality, so a missing modality's values never reach
    the prediction.
    """

    def __init__(
        self,
        encoders: list[nn.Module],
        n_inputs: list[int],
        width: int,
        n_classes: int,
        heads: int,
        dropout: float,
    ) -> None:
        super().__init__()
        m = len(encoders)
        self.encoders = nn.ModuleList(encoders)
        self.n_inputs = list(n_inputs)
        self.cls = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.missing = nn.Parameter(torch.randn(m, width) * 0.02)
        self.modality_embedding = nn.Parameter(torch.randn(m, width) * 0.02)
        self.mixer = nn.TransformerEncoderLayer(
            d_model=width,
            nhead=heads,
            dim_feedforward=2 * width,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.norm = nn.LayerNorm(width)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, n_classes))

    def tokens(self, tensors: list[torch.Tensor], present: torch.Tensor) -> torch.Tensor:
        n = present.shape[0]
        tokens, start = [], 0
        for j, (enc, k) in enumerate(zip(self.encoders, self.n_inputs, strict=True)):
            parts, start = tensors[start : start + k], start + k
            token = self.missing[j].expand(n, -1)
            rows = present[:, j]
            if rows.any():
                idx = rows.nonzero(as_tuple=True)[0]
                emb = enc(*[t[idx] for t in parts])
                token = token.index_put((idx,), emb.to(token.dtype))
            tokens.append(token + self.modality_embedding[j])
        return torch.stack(tokens, dim=1)  # (n, M, width)

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        *xs, present = tensors
        present = present.bool()
        tokens = self.tokens(list(xs), present)
        seq = torch.cat([self.cls.expand(len(tokens), -1, -1).to(tokens.dtype), tokens], dim=1)
        return self.head(self.norm(self.mixer(seq)[:, 0]))


def _prior(y: np.ndarray, n_classes: int) -> np.ndarray:
    counts = np.bincount(y, minlength=n_classes).astype(float)
    return counts / counts.sum()


def _forward(model: nn.Module, batch: list[torch.Tensor], training: bool) -> torch.Tensor:
    return model(*batch)


@contextmanager
def _peak_memory(device: torch.device, record: dict[str, float]) -> Iterator[None]:
    """Peak resident memory of the process while the block runs (MB, sampled every 20 ms from
    /proc/self/statm; the process's high-water mark where /proc is missing), and on CUDA the peak of
    torch's allocations."""
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
    statm = "/proc/self/statm"
    peak = [0.0]
    stop = threading.Event()

    def rss() -> float:
        with open(statm) as f:
            return int(f.read().split()[1]) * page / 2**20

    sampler = None
    if os.path.exists(statm):
        peak[0] = rss()

        def sample() -> None:
            while not stop.wait(0.02):
                peak[0] = max(peak[0], rss())

        sampler = threading.Thread(target=sample, name="cdbench-deep-rss", daemon=True)
        sampler.start()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    try:
        yield
    finally:
        if sampler is not None:
            stop.set()
            sampler.join()
            record["peak_memory_mb"] = max(peak[0], rss())
        else:
            import resource

            record["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if device.type == "cuda":
            record["gpu_peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20


class _DeepBase(TorchTrainingMixin, ProbabilisticClassifier):
    """What both deep classifiers share: raw handle, input checks, the training call, prediction."""

    raw: Any
    lr: float
    weight_decay: float
    width: int
    dropout: float
    batch_size: int
    max_epochs: int
    patience: int
    val_fraction: float
    augment: bool
    device: str
    progress: bool
    random_state: int | None
    text_tokens: int
    pretrained_lr_scale: float
    mixed_precision: bool
    eval_batch_size: int

    def _check_X(self, X: Any, y: Any | None = None) -> None:
        name = type(self).__name__
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                f"{name} needs the patient-indexed design-matrix DataFrame, got {type(X).__name__}"
            )
        if y is not None and len(np.asarray(y)) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(np.asarray(y))}")
        if X.index.has_duplicates:
            pid = X.index[X.index.duplicated()][0]
            raise ValueError(f"patient {pid} appears twice in X; the deep models look patients up by id")

    def _fit_raw(self) -> Any:
        return self.raw if self.raw is not None else current_raw()

    def _predict_raw(self) -> Any:
        if self.raw is not None:
            return self.raw
        scoped = peek_raw()
        return scoped if scoped is not None else self.raw_

    def _seed(self) -> int:
        return 0 if self.random_state is None else int(self.random_state)

    def _param_groups(self, net: nn.Module) -> list[dict[str, Any]] | None:
        pretrained = [
            p for mod in net.modules() if isinstance(mod, TextEncoder) for p in mod.pretrained_parameters()
        ]
        if not pretrained:
            return None
        ids = {id(p) for p in pretrained}
        rest = [p for p in net.parameters() if id(p) not in ids]
        return [{"params": rest}, {"params": pretrained, "lr": self.lr * self.pretrained_lr_scale}]

    def _fit_network(
        self,
        build: Any,
        arrays: list[np.ndarray],
        y: np.ndarray,
        augment: Any,
        desc: str,
    ) -> nn.Module:
        seed = self._seed()
        device = resolve_device(self.device)
        record: dict[str, float] = {}
        started = time.perf_counter()
        epoch_seconds: list[float] = []
        with _peak_memory(device, record), seeded_torch(seed, device):
            net = build().to(device)
            tensors = [torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in arrays]
            net, self.n_epochs_ = self._train(
                net,
                tensors,
                y,
                _forward,
                seed,
                device,
                augment=augment if self.augment else None,
                epoch_seconds=epoch_seconds,
                eval_batch_size=self.eval_batch_size,
                mixed_precision=self.mixed_precision,
                progress=desc if self.progress else None,
                param_groups=self._param_groups(net),
            )
            model = net.cpu()
        self.epoch_seconds_ = epoch_seconds
        self.fit_seconds_ = time.perf_counter() - started
        self.device_ = str(device.type)
        self.peak_memory_mb_ = float(record.get("peak_memory_mb", float("nan")))
        if "gpu_peak_memory_mb" in record:
            self.gpu_peak_memory_mb_ = float(record["gpu_peak_memory_mb"])
        return model

    def _no_network(self) -> None:
        self.n_epochs_, self.epoch_seconds_, self.fit_seconds_ = 0, [], 0.0
        self.device_, self.peak_memory_mb_ = "none", float("nan")

    def _network_proba(self, arrays: list[np.ndarray]) -> np.ndarray:
        """Class probabilities of the fitted network, in chunks of ``eval_batch_size`` rows."""
        n = len(arrays[0])
        device = (
            torch.device("cuda")
            if self.device_ == "cuda" and torch.cuda.is_available()
            else torch.device("cpu")
        )
        chunk = max(int(self.eval_batch_size or n), 1)
        model = self.model_.to(device)
        autocast, _ = autocast_context(device, self.mixed_precision)
        logits = []
        try:
            with torch_threads(1), torch.no_grad():
                for start in range(0, n, chunk):
                    part = [
                        torch.from_numpy(np.ascontiguousarray(a[start : start + chunk])).to(device)
                        for a in arrays
                    ]
                    with autocast():
                        out = model(*part)
                    logits.append(out.float().cpu())
        finally:
            self.model_ = model.cpu()
        return softmax_proba(torch.cat(logits))


class DeepClassifier(_DeepBase):
    """The unimodal deep model of X's one modality block (columns "<modality>:<feature>"):
    imaging -> MONAI 3D CNN on the ROI tensor (+ CT flag), text -> MiniLM top layer(s) fine-tuned on
    cached hidden states, reports pooled, pro -> GRU over the 7-day diary with the static block features
    (X's pro columns, median-imputed and scaled on the training rows only) beside it.

    Trains on the rows that have the modality and predicts the training prior for rows that do not (and
    for everyone when fewer than two training classes have it). See the module docstring for the policy.
    """

    def __init__(
        self,
        raw: Any = None,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        width: int = 32,
        dropout: float = 0.2,
        batch_size: int = 16,
        max_epochs: int = 12,
        patience: int = 3,
        val_fraction: float = 0.2,
        augment: bool = True,
        device: str = "auto",
        progress: bool = True,
        random_state: int | None = None,
        text_tokens: int = 16,
        pretrained_lr_scale: float = 0.1,
        mixed_precision: bool = True,
        eval_batch_size: int = 64,
    ) -> None:
        self.raw = raw
        self.lr = lr
        self.weight_decay = weight_decay
        self.width = width
        self.dropout = dropout
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.augment = augment
        self.device = device
        self.progress = progress
        self.random_state = random_state
        self.text_tokens = text_tokens
        self.pretrained_lr_scale = pretrained_lr_scale
        self.mixed_precision = mixed_precision
        self.eval_batch_size = eval_batch_size

    def fit(self, X: pd.DataFrame, y: Any) -> DeepClassifier:
        self._check_X(X, y)
        blocks = split_blocks(X.columns)
        if len(blocks) != 1:
            raise ValueError(
                f"DeepClassifier models one modality block, X has {list(blocks)}; use fusion 'single' or a late "
                "fusion for several (or the attention fusion)"
            )
        ((self.modality_, self.columns_),) = blocks.items()
        raw = self._fit_raw()
        check_raw_modality(raw, self.modality_)
        self.raw_ = raw
        self.classes_, y_enc = encode_labels(y)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.prior_ = _prior(y_enc, len(self.classes_))
        has, self.n_without_raw_ = patients_with(raw, self.modality_, X, self.columns_)
        if not has.any():
            raise ValueError(
                f"no training patient has modality {self.modality_!r} (a non-empty block and a raw record)"
            )
        self.n_train_ = int(has.sum())
        self.model_: nn.Module | None = None
        if len(np.unique(y_enc[has])) < 2:
            self._no_network()
            return self
        ids = [str(p) for p in X.index[has]]
        Xh = X.loc[has, self.columns_]
        self.inputs_: ModalityInputs = make_inputs(
            self.modality_, self.columns_, augment=self.augment, text_tokens=self.text_tokens
        ).fit(raw, ids, Xh)
        arrays = self.inputs_.arrays(raw, ids, Xh)
        inputs = self.inputs_
        n_classes = len(self.classes_)

        def build() -> nn.Module:
            return DeepNet(inputs.encoder(self.width, self.dropout), self.width, n_classes, self.dropout)

        self.model_ = self._fit_network(build, arrays, y_enc[has], inputs.augment, f"deep {self.modality_}")
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "prior_")
        self._check_X(X)
        out = np.tile(self.prior_, (len(X), 1))
        if self.model_ is None or not len(X):
            return out
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks the {self.modality_} columns {missing[:3]} the model was fitted with")
        raw = self._predict_raw()
        Xb = X[self.columns_]
        has, _ = patients_with(raw, self.modality_, Xb, self.columns_)
        if has.any():
            ids = [str(p) for p in X.index[has]]
            out[has] = self._network_proba(self.inputs_.arrays(raw, ids, Xb.loc[has]))
        return out


class AttentionFusionClassifier(_DeepBase):
    """Intermediate fusion: one encoder per modality of X -> a token each (+ modality embedding), a learned
    token replaces a missing modality, modality dropout in training (never all of a patient's),
    a transformer encoder layer over [CLS]+tokens (cross-modal attention), head on CLS.

    Every training row is used (a patient with no modality at all is all learned tokens). Modalities of X
    that no training patient has are left out. See the module docstring for the policy.
    """

    def __init__(
        self,
        raw: Any = None,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        width: int = 32,
        dropout: float = 0.2,
        modality_dropout: float = 0.25,
        heads: int = 4,
        batch_size: int = 16,
        max_epochs: int = 12,
        patience: int = 3,
        val_fraction: float = 0.2,
        augment: bool = True,
        device: str = "auto",
        progress: bool = True,
        random_state: int | None = None,
        text_tokens: int = 16,
        pretrained_lr_scale: float = 0.1,
        mixed_precision: bool = True,
        eval_batch_size: int = 64,
    ) -> None:
        self.raw = raw
        self.lr = lr
        self.weight_decay = weight_decay
        self.width = width
        self.dropout = dropout
        self.modality_dropout = modality_dropout
        self.heads = heads
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.augment = augment
        self.device = device
        self.progress = progress
        self.random_state = random_state
        self.text_tokens = text_tokens
        self.pretrained_lr_scale = pretrained_lr_scale
        self.mixed_precision = mixed_precision
        self.eval_batch_size = eval_batch_size

    def _arrays(self, raw: Any, X: pd.DataFrame) -> list[np.ndarray]:
        """Every modality's arrays for all rows of X (zeros where absent), then the presence mask."""
        arrays: list[np.ndarray] = []
        present = np.zeros((len(X), len(self.modalities_)), dtype=bool)
        for j, m in enumerate(self.modalities_):
            cols = self.blocks_[m]
            has, _ = patients_with(raw, m, X[cols], cols)
            present[:, j] = has
            got = []
            if has.any():  # the arrays first: they fix the shapes of the empty rows
                got = self.inputs_[m].arrays(raw, [str(p) for p in X.index[has]], X.loc[has, cols])
            parts = self.inputs_[m].empty(len(X))
            for full, part in zip(parts, got, strict=False):
                full[has] = part
            arrays += parts
        return [*arrays, present]

    def fit(self, X: pd.DataFrame, y: Any) -> AttentionFusionClassifier:
        self._check_X(X, y)
        if self.width % self.heads:
            raise ValueError(f"width ({self.width}) must be a multiple of heads ({self.heads})")
        raw = self._fit_raw()
        self.raw_ = raw
        blocks = split_blocks(X.columns)
        for m in blocks:
            check_raw_modality(raw, m)
        self.classes_, y_enc = encode_labels(y)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.prior_ = _prior(y_enc, len(self.classes_))
        self.blocks_: dict[str, list[str]] = {}
        self.inputs_: dict[str, ModalityInputs] = {}
        self.n_without_raw_ = 0
        for m, cols in blocks.items():
            has, n_without = patients_with(raw, m, X[cols], cols)
            self.n_without_raw_ += n_without
            if not has.any():
                continue  # nobody in training has it: it cannot contribute
            ids = [str(p) for p in X.index[has]]
            self.blocks_[m] = cols
            self.inputs_[m] = make_inputs(m, cols, augment=self.augment, text_tokens=self.text_tokens).fit(
                raw, ids, X.loc[has, cols]
            )
        if not self.blocks_:
            raise ValueError("no training patient has any modality (a non-empty block and a raw record)")
        self.modalities_ = list(self.blocks_)
        self.n_train_ = len(X)
        self.model_: nn.Module | None = None
        if len(np.unique(y_enc)) < 2:
            self._no_network()
            return self
        arrays = self._arrays(raw, X)
        inputs = [self.inputs_[m] for m in self.modalities_]
        splits = [inp.n_inputs for inp in inputs]
        p_drop = float(self.modality_dropout)
        n_classes = len(self.classes_)

        def build() -> nn.Module:
            encoders = [inp.encoder(self.width, self.dropout) for inp in inputs]
            return AttentionFusionNet(encoders, splits, self.width, n_classes, self.heads, self.dropout)

        def augment(batch: list[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
            *xs, present = batch
            present = modality_dropout(present, p_drop, generator)
            out, start = [], 0
            for j, (inp, k) in enumerate(zip(inputs, splits, strict=True)):
                parts, start = xs[start : start + k], start + k
                rows = present[:, j].nonzero(as_tuple=True)[0]
                if len(rows):
                    augmented = inp.augment([t[rows] for t in parts], generator)
                    parts = [_replace_rows(t, rows, a) for t, a in zip(parts, augmented, strict=True)]
                out += parts
            return [*out, present]

        self.model_ = self._fit_network(build, arrays, y_enc, augment, "deep attention")
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "prior_")
        self._check_X(X)
        if self.model_ is None or not len(X):
            return np.tile(self.prior_, (len(X), 1))
        missing = [c for m in self.modalities_ for c in self.blocks_[m] if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks the columns {missing[:3]} the model was fitted with")
        return self._network_proba(self._arrays(self._predict_raw(), X))


def _replace_rows(t: torch.Tensor, rows: torch.Tensor, augmented: torch.Tensor) -> torch.Tensor:
    """``t`` with ``rows`` replaced by ``augmented``. Where augmentation changed the trailing shape (token
    dropout keeps fewer tokens) the other rows become zeros of that shape: they are rows without the
    modality (or hidden by modality dropout), which the encoder never reads."""
    if augmented.shape[1:] == t.shape[1:]:
        return t.index_put((rows,), augmented.to(t.dtype))
    out = torch.zeros((len(t), *augmented.shape[1:]), dtype=t.dtype, device=t.device)
    return out.index_put((rows,), augmented.to(t.dtype))


def space_deep(trial: Any) -> dict[str, Any]:
    """Optuna space of the deep models (pipeline step ``clf``): learning rate, weight decay, width, dropout."""
    return {
        "clf__lr": trial.suggest_float("clf__lr", 3e-4, 3e-3, log=True),
        "clf__weight_decay": trial.suggest_float("clf__weight_decay", 1e-6, 1e-2, log=True),
        "clf__width": trial.suggest_categorical("clf__width", [16, 32, 64]),
        "clf__dropout": trial.suggest_float("clf__dropout", 0.0, 0.4),
    }


def _deep_nets(obj: Any, path: str, found: list[tuple[str, _DeepBase]], depth: int = 0) -> None:
    if depth > 6:
        return
    if isinstance(obj, _DeepBase):
        if hasattr(obj, "n_epochs_"):
            name = getattr(obj, "modality_", None) or "attention"
            found.append((path if path.rstrip("/").split("/")[-1] == name else f"{path}{name}", obj))
        return
    steps = getattr(obj, "steps", None)
    if isinstance(steps, list):
        for _, step in steps:
            _deep_nets(step, path, found, depth + 1)
        return
    if not isinstance(obj, BaseEstimator):
        return
    for attr in ("model_", "models_", "estimator_", "estimators_", "best_estimator_"):
        value = getattr(obj, attr, None)
        if isinstance(value, dict):
            for key, v in value.items():
                _deep_nets(v, f"{path}{key}/", found, depth + 1)
        elif isinstance(value, (list, tuple)):
            for v in value:
                _deep_nets(v, path, found, depth + 1)
        elif value is not None:
            _deep_nets(value, path, found, depth + 1)


def deep_stats(model: Any) -> dict[str, Any]:
    """Epochs, seconds per epoch, device and peak memory of the deep networks inside a fitted model
    (a Pipeline's steps, ``SingleModalityClassifier.model_``, ``LateFusionClassifier.models_`` ...);
    ``{}`` when there are none.

    ``n_epochs``: total over the networks; ``seconds_per_epoch``: their training time over their epochs;
    ``device``: the devices, comma-joined; ``peak_memory_mb``: the largest fit's peak resident memory;
    ``deep_networks``: JSON of the per-network figures (keyed by modality, or ``attention``).
    """
    found: list[tuple[str, _DeepBase]] = []
    _deep_nets(model, "", found)
    if not found:
        return {}
    per = {
        name.rstrip("/"): {
            "n_epochs": int(net.n_epochs_),
            "seconds_per_epoch": float(np.mean(net.epoch_seconds_)) if net.epoch_seconds_ else 0.0,
            "device": str(net.device_),
            "peak_memory_mb": float(net.peak_memory_mb_),
        }
        for name, net in found
    }
    epochs = sum(int(net.n_epochs_) for _, net in found)
    seconds = sum(float(np.sum(net.epoch_seconds_)) for _, net in found)
    peaks = [float(net.peak_memory_mb_) for _, net in found if np.isfinite(net.peak_memory_mb_)]
    out: dict[str, Any] = {
        "n_epochs": epochs,
        "seconds_per_epoch": seconds / epochs if epochs else 0.0,
        "device": ",".join(sorted({str(net.device_) for _, net in found})),
        "n_networks": len(found),
        "peak_memory_mb": max(peaks) if peaks else float("nan"),
        "deep_networks": json.dumps(per, sort_keys=True),
    }
    gpu = [float(net.gpu_peak_memory_mb_) for _, net in found if hasattr(net, "gpu_peak_memory_mb_")]
    if gpu:
        out["gpu_peak_memory_mb"] = max(gpu)
    return out
