"""Intermediate (hybrid) fusion: a torch network with one encoder per modality and a learned fusion layer.

Each block is preprocessed on its own (``BlockPreprocessor``: median imputation + scaling, text
TF-IDF+SVD to ``text_components`` dims) using only the training rows that have the block. An absent
modality is masked: its input and embedding are replaced by zeros and (gated fusion) its attention
weight is exactly 0, so the values in an absent block cannot influence the prediction. During
training, modality dropout hides present modalities at random (never all of a patient's). Inside a
``models.foldwork.sharing`` scope the per-block preprocessing of a frame (fits and transforms) is computed
once and shared by every network trained on that frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from models import foldwork
from models.base import ProbabilisticClassifier, encode_labels
from models.blocks import block_availability, split_blocks
from models.preprocess import BlockPreprocessor
from models.torch_mlp import TorchTrainingMixin, resolve_device, seeded_torch, softmax_proba, torch_threads

HYBRID_FUSIONS = ("concat", "gated")


class HybridNet(nn.Module):
    """Encoders per modality -> masked concatenation or masked attention gate -> MLP head."""

    def __init__(
        self, dims: list[int], n_classes: int, fusion: str, embed_dim: int, hidden_units: int, dropout: float
    ) -> None:
        super().__init__()
        if fusion not in HYBRID_FUSIONS:
            raise ValueError(f"unknown hybrid fusion {fusion!r}; expected one of {HYBRID_FUSIONS}")
        self.fusion = fusion
        self.encoders = nn.ModuleList(
            nn.Sequential(nn.Linear(d, embed_dim), nn.ReLU(), nn.Dropout(dropout)) for d in dims
        )
        n_mod = len(dims)
        if fusion == "gated":
            self.gate = nn.Linear(embed_dim, 1)
            head_in = embed_dim + n_mod
        else:
            head_in = embed_dim * n_mod + n_mod
        self.head = nn.Sequential(
            nn.Linear(head_in, hidden_units),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_units, n_classes),
        )

    def forward(self, xs: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        present = mask > 0.5  # (n, M)
        embs = []
        for j, (enc, x) in enumerate(zip(self.encoders, xs, strict=True)):
            keep = present[:, j : j + 1]
            e = enc(torch.where(keep, x, torch.zeros_like(x)))
            embs.append(torch.where(keep, e, torch.zeros_like(e)))
        emb = torch.stack(embs, dim=1)  # (n, M, E)
        indicators = present.to(emb.dtype)
        if self.fusion == "concat":
            fused = emb.flatten(1)
        else:
            scores = self.gate(emb).squeeze(-1).masked_fill(~present, -1e9)
            w = torch.softmax(scores, dim=1) * indicators
            w = w / w.sum(dim=1, keepdim=True).clamp_min(1e-12)
            fused = (w.unsqueeze(-1) * emb).sum(dim=1)
        return self.head(torch.cat([fused, indicators], dim=1))


class HybridFusionClassifier(TorchTrainingMixin, ProbabilisticClassifier):
    """scikit-learn classifier around ``HybridNet`` taking the design-matrix DataFrame directly.

    Deterministic on CPU for a given ``random_state`` (None means 0); CUDA when ``device="auto"`` finds
    one. Early stopping on a validation split of the training rows.
    """

    def __init__(
        self,
        fusion: str = "concat",
        embed_dim: int = 16,
        hidden_units: int = 32,
        dropout: float = 0.2,
        modality_dropout: float = 0.25,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 64,
        max_epochs: int = 150,
        patience: int = 15,
        val_fraction: float = 0.2,
        text_components: int | None = 32,
        device: str = "auto",
        random_state: int | None = None,
    ) -> None:
        self.fusion = fusion
        self.embed_dim = embed_dim
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.modality_dropout = modality_dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.text_components = text_components
        self.device = device
        self.random_state = random_state

    def _tensors(self, X: pd.DataFrame) -> tuple[list[np.ndarray], np.ndarray]:
        """Preprocessed blocks (float32) and the availability mask; shared per frame and fitted blocks."""
        if self.preps_key_ is None:
            return self._compute_tensors(X)
        parts = ("HybridFusionClassifier._tensors", self.preps_key_)
        return foldwork.shared(X, parts, lambda: self._compute_tensors(X))[0]

    def _compute_tensors(self, X: pd.DataFrame) -> tuple[list[np.ndarray], np.ndarray]:
        avail = block_availability(X, {m: self.blocks_[m] for m in self.preps_})
        xs = [
            self.preps_[m].transform(X[self.blocks_[m]]).astype(np.float32, copy=False) for m in self.preps_
        ]
        return xs, avail.to_numpy(dtype=np.float32)

    def _fit_preps(self, X: pd.DataFrame, seed: int) -> dict[str, BlockPreprocessor]:
        """One preprocessor per block with usable values, fitted on the rows that have the block."""
        avail = block_availability(X, self.blocks_)
        preps = {}
        for m, cols in self.blocks_.items():
            has = avail[m].to_numpy()
            if not has.any():
                continue
            prep = BlockPreprocessor(self.text_components, random_state=seed).fit(X.loc[has, cols])
            if len(prep.get_feature_names_out()):
                preps[m] = prep
        return preps

    def fit(self, X: pd.DataFrame, y: object) -> HybridFusionClassifier:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                f"HybridFusionClassifier needs the design-matrix DataFrame, got {type(X).__name__}"
            )
        if self.fusion not in HYBRID_FUSIONS:
            raise ValueError(f"unknown hybrid fusion {self.fusion!r}; expected one of {HYBRID_FUSIONS}")
        self.classes_, y_enc = encode_labels(y)
        if len(y_enc) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y_enc)}")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.blocks_ = split_blocks(X.columns)
        seed = 0 if self.random_state is None else int(self.random_state)
        parts = ("HybridFusionClassifier._fit_preps", self.text_components, seed)
        self.preps_, self.preps_key_ = foldwork.shared(X, parts, lambda: self._fit_preps(X, seed))
        if not self.preps_:
            raise ValueError("no modality block has usable training values")
        self.modalities_ = list(self.preps_)
        xs, mask = self._tensors(X)
        device = resolve_device(self.device)
        p_drop = float(self.modality_dropout)

        def forward(model: nn.Module, batch: list[torch.Tensor], training: bool) -> torch.Tensor:
            *bx, bm = batch
            if training and p_drop > 0:
                dropped = bm * (torch.rand(bm.shape, device=bm.device) >= p_drop).to(bm.dtype)
                emptied = (dropped.sum(dim=1, keepdim=True) == 0) & (bm.sum(dim=1, keepdim=True) > 0)
                bm = torch.where(emptied, bm, dropped)
            return model(bx, bm)

        with seeded_torch(seed, device):
            net = HybridNet(
                [x.shape[1] for x in xs],
                len(self.classes_),
                self.fusion,
                self.embed_dim,
                self.hidden_units,
                self.dropout,
            ).to(device)
            inputs = [torch.tensor(x, device=device) for x in xs] + [torch.tensor(mask, device=device)]
            model, self.n_epochs_ = self._train(net, inputs, y_enc, forward, seed, device)
            self.model_ = model.cpu()
        return self

    def network_proba(self, xs: list[np.ndarray], mask: np.ndarray) -> np.ndarray:
        """Probabilities from preprocessed blocks and the 0/1 availability mask (rows x modalities_)."""
        check_is_fitted(self, "model_")
        with torch_threads(1), torch.no_grad():
            tensors = [torch.tensor(np.asarray(x, np.float32)) for x in xs]
            logits = self.model_(tensors, torch.tensor(np.asarray(mask, np.float32)))
        return softmax_proba(logits)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "model_")
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                f"HybridFusionClassifier needs the design-matrix DataFrame, got {type(X).__name__}"
            )
        return self.network_proba(*self._tensors(X))


def space_hybrid(trial: Any) -> dict[str, Any]:
    """Optuna space of the hybrid network (pipeline step ``clf``)."""
    return {
        "clf__embed_dim": trial.suggest_categorical("clf__embed_dim", [8, 16, 32]),
        "clf__hidden_units": trial.suggest_categorical("clf__hidden_units", [16, 32, 64]),
        "clf__dropout": trial.suggest_float("clf__dropout", 0.0, 0.5),
        "clf__modality_dropout": trial.suggest_float("clf__modality_dropout", 0.0, 0.5),
        "clf__lr": trial.suggest_float("clf__lr", 3e-4, 1e-2, log=True),
        "clf__weight_decay": trial.suggest_float("clf__weight_decay", 1e-6, 1e-2, log=True),
    }
