"""A small, seeded torch MLP classifier with scikit-learn's interface, and the shared training loop."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from models.base import ProbabilisticClassifier, encode_labels, normalise_rows


def resolve_device(device: str) -> torch.device:
    """``"auto"``: CUDA when available, else CPU; otherwise the named device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@contextlib.contextmanager
def torch_threads(threads: int = 1) -> Iterator[None]:
    """Limit torch's CPU threads (the runner parallelises over cells), restoring the setting after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def seeded_torch(seed: int, device: torch.device, threads: int = 1) -> Iterator[None]:
    """Run with torch's RNGs seeded (global state restored afterwards) and ``threads`` CPU threads.

    One thread because the runner parallelises over cells; it also keeps CPU results reproducible.
    """
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch_threads(threads), torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def validation_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Train/validation row indices for early stopping (stratified when every class allows it)."""
    n = len(y)
    n_val = int(round(fraction * n))
    if fraction <= 0 or n < 10 or n_val < 2:
        return np.arange(n), None
    counts = np.bincount(y)
    counts = counts[counts > 0]
    if counts.min() >= 2 and n_val >= len(counts) and n - n_val >= len(counts):
        splitter: object = StratifiedShuffleSplit(n_splits=1, test_size=n_val, random_state=seed)
    else:
        splitter = ShuffleSplit(n_splits=1, test_size=n_val, random_state=seed)
    train, val = next(splitter.split(np.zeros(n), y))  # type: ignore[attr-defined]
    return np.sort(train), np.sort(val)


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train_network(
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    y: np.ndarray,
    *,
    forward: Callable[[nn.Module, list[torch.Tensor], bool], torch.Tensor],
    lr: float,
    weight_decay: float,
    batch_size: int,
    max_epochs: int,
    patience: int,
    val_fraction: float,
    seed: int,
    device: torch.device,
    augment: Callable[[list[torch.Tensor], torch.Generator], list[torch.Tensor]] | None = None,
    epoch_seconds: list[float] | None = None,
    eval_batch_size: int | None = None,
    mixed_precision: bool = False,
    progress: str | None = None,
    param_groups: list[dict[str, Any]] | None = None,
) -> tuple[nn.Module, int]:
    """Adam + cross-entropy with early stopping on a validation split of the training rows.

    ``inputs`` are row-aligned tensors (already on ``device``); ``forward(model, batch, training)``
    returns logits. The weights of the epoch with the lowest validation loss are restored. Returns the
    model and the number of epochs run.

    Optional hooks (the defaults leave the loop exactly as it was): ``augment(batch, generator)`` returns
    an augmented training batch (never applied to validation rows; its generator is seeded from ``seed``
    apart from the one that shuffles, so the row order does not depend on it); ``epoch_seconds`` gets
    each epoch's wall time appended; ``eval_batch_size`` computes the validation loss in chunks of that
    many rows; ``mixed_precision`` uses autocast (bfloat16 where supported, else float16 with a gradient
    scaler) when ``device`` is CUDA and is ignored on CPU; ``progress`` (a description) shows a bar over
    epochs (``features.progress.progress_bar``); ``param_groups`` (Adam's parameter groups, e.g. a smaller
    ``lr`` for pretrained layers) replaces ``model.parameters()``.
    """
    train_idx, val_idx = validation_split(y, val_fraction, seed)
    target = torch.as_tensor(y, dtype=torch.long, device=device)
    params = model.parameters() if param_groups is None else param_groups
    optimiser = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    augment_generator = torch.Generator().manual_seed(seed + 1) if augment is not None else None
    autocast, scaler = autocast_context(device, mixed_precision)
    best_loss, best_state, stale = np.inf, _snapshot(model), 0
    train_t = torch.as_tensor(train_idx, dtype=torch.long)
    epochs = 0
    bar = _epoch_bar(max_epochs, progress)
    try:
        for _epoch in range(max_epochs):
            started = time.perf_counter()
            epochs += 1
            model.train()
            order = train_t[torch.randperm(len(train_t), generator=generator)].to(device)
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                if len(batch) < 2 and len(order) >= 2:
                    continue  # a 1-row batch carries no useful gradient and can break normalisation layers
                optimiser.zero_grad()
                rows = [t[batch] for t in inputs]
                if augment is not None:
                    rows = augment(rows, augment_generator)  # type: ignore[arg-type]
                with autocast():
                    loss = loss_fn(forward(model, rows, True), target[batch])
                if scaler is None:
                    loss.backward()
                    optimiser.step()
                else:
                    scaler.scale(loss).backward()
                    scaler.step(optimiser)
                    scaler.update()
            stop = False
            if val_idx is not None:
                model.eval()
                with torch.no_grad(), autocast():
                    val_loss = _validation_loss(
                        model, inputs, target, val_idx, forward, loss_fn, eval_batch_size
                    )
                if val_loss < best_loss - 1e-6:
                    best_loss, best_state, stale = val_loss, _snapshot(model), 0
                else:
                    stale += 1
                    stop = stale >= patience
            if epoch_seconds is not None:
                epoch_seconds.append(time.perf_counter() - started)
            if bar is not None:
                bar.update(1)
            if stop:
                break
    finally:
        if bar is not None:
            bar.close()
    if val_idx is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, epochs


def _validation_loss(
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    target: torch.Tensor,
    val_idx: np.ndarray,
    forward: Callable[[nn.Module, list[torch.Tensor], bool], torch.Tensor],
    loss_fn: nn.Module,
    chunk: int | None,
) -> float:
    device = target.device
    if chunk is None or chunk >= len(val_idx):
        v = torch.as_tensor(val_idx, dtype=torch.long, device=device)
        return float(loss_fn(forward(model, [t[v] for t in inputs], False), target[v]))
    total = 0.0
    for start in range(0, len(val_idx), chunk):
        v = torch.as_tensor(val_idx[start : start + chunk], dtype=torch.long, device=device)
        total += float(loss_fn(forward(model, [t[v] for t in inputs], False).float(), target[v])) * len(v)
    return total / len(val_idx)


def autocast_context(
    device: torch.device, enabled: bool
) -> tuple[Callable[[], contextlib.AbstractContextManager], torch.amp.GradScaler | None]:
    """The autocast context factory and gradient scaler of a fit (no-ops unless CUDA and ``enabled``)."""
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext, None
    if torch.cuda.is_bf16_supported():
        return (lambda: torch.autocast("cuda", dtype=torch.bfloat16)), None
    return (lambda: torch.autocast("cuda", dtype=torch.float16)), torch.amp.GradScaler("cuda")


def _epoch_bar(total: int, desc: str | None) -> Any:
    if desc is None:
        return None
    import sys

    from features.progress import progress_bar

    # a terminal shows the bar while it runs; a log keeps each fit's last line (its epochs)
    return progress_bar(total, desc, "epoch", leave=not sys.stderr.isatty())


def validate_fit(est: BaseEstimator, X: object, y: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn input validation for a classifier's fit: finite 2-D X, classification targets.

    Returns X as float64, ``classes_`` and the labels encoded as 0..n_classes-1.
    """
    X, y = validate_data(est, X, y, dtype=np.float64)
    check_classification_targets(y)
    classes, y_enc = encode_labels(y)
    return X, classes, y_enc


def validate_predict(est: BaseEstimator, X: object) -> np.ndarray:
    """scikit-learn input validation for predict: fitted, same column count, finite."""
    check_is_fitted(est)
    return validate_data(est, X, dtype=np.float64, reset=False)


def softmax_proba(logits: torch.Tensor) -> np.ndarray:
    """Class probabilities from logits, in float64, rows summing to 1."""
    return normalise_rows(torch.softmax(logits.double(), dim=1).numpy())


class TorchTrainingMixin:
    """Training parameters shared by the torch classifiers and the call that uses them."""

    lr: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    patience: int
    val_fraction: float

    def _train(
        self,
        model: nn.Module,
        inputs: Sequence[torch.Tensor],
        y: np.ndarray,
        forward: Callable[[nn.Module, list[torch.Tensor], bool], torch.Tensor],
        seed: int,
        device: torch.device,
        **options: Any,
    ) -> tuple[nn.Module, int]:
        """``train_network`` with this estimator's training parameters; ``options`` are its optional ones."""
        return train_network(
            model,
            inputs,
            y,
            forward=forward,
            lr=self.lr,
            weight_decay=self.weight_decay,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            patience=self.patience,
            val_fraction=self.val_fraction,
            seed=seed,
            device=device,
            **options,
        )


def _mlp_forward(model: nn.Module, batch: list[torch.Tensor], training: bool) -> torch.Tensor:
    return model(batch[0])


class TorchMLPClassifier(TorchTrainingMixin, ProbabilisticClassifier):
    """Multilayer perceptron (ReLU, dropout) trained with Adam and early stopping.

    Deterministic on CPU for a given ``random_state`` (None means 0); uses CUDA when ``device="auto"``
    and a GPU is present. Expects an already preprocessed numeric matrix (see ``models.registry``).
    """

    def __init__(
        self,
        hidden_units: int = 64,
        n_layers: int = 1,
        dropout: float = 0.2,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 64,
        max_epochs: int = 200,
        patience: int = 20,
        val_fraction: float = 0.2,
        device: str = "auto",
        random_state: int | None = None,
    ) -> None:
        self.hidden_units = hidden_units
        self.n_layers = n_layers
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.device = device
        self.random_state = random_state

    def _build(self, n_in: int, n_out: int) -> nn.Module:
        layers: list[nn.Module] = []
        width = n_in
        for _ in range(self.n_layers):
            layers += [nn.Linear(width, self.hidden_units), nn.ReLU(), nn.Dropout(self.dropout)]
            width = self.hidden_units
        layers.append(nn.Linear(width, n_out))
        return nn.Sequential(*layers)

    def fit(self, X: object, y: object) -> TorchMLPClassifier:
        X, self.classes_, y_enc = validate_fit(self, X, y)
        X = X.astype(np.float32)
        seed = 0 if self.random_state is None else int(self.random_state)
        device = resolve_device(self.device)
        with seeded_torch(seed, device):
            model = self._build(X.shape[1], len(self.classes_)).to(device)
            model, self.n_epochs_ = self._train(
                model, [torch.tensor(X, device=device)], y_enc, _mlp_forward, seed, device
            )
            self.model_ = model.cpu()
        return self

    def predict_proba(self, X: object) -> np.ndarray:
        X = validate_predict(self, X).astype(np.float32)
        with torch_threads(1), torch.no_grad():
            logits = self.model_(torch.tensor(X))
        return softmax_proba(logits)
