"""Work shared across the trials of one cell: preprocessing fits and transforms, keyed by their exact inputs.

Inside a cell every Optuna trial refits the same preprocessing on the same inner-fold rows; only the
estimator's parameters change. Within a :func:`sharing` scope such a fit (and a transform by it) is
computed once and served from memory afterwards. Policy:

- the key is a digest of everything the result depends on: the step's parameters and the exact input
  frame (patient ids, column names, values), so a fit is only ever reused for the very same training
  rows: sharing never crosses folds and cannot bring a test row into a fit;
- a step whose result is not a function of its inputs (an unseeded random step) is never shared;
- the scope is one cell (``models.api.fit_predict_cell``), bounded by ``max_bytes`` (least recently
  used entries go first), and per thread (a ``ContextVar``); outside a scope nothing is shared;
- shared arrays are made read-only (and fitted steps are never modified after ``fit``), so no caller
  can alter what another one receives.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

import numpy as np
import pandas as pd

DEFAULT_MAX_BYTES = 512 * 2**20
T = TypeVar("T")


class FoldWork:
    """A least-recently-used memo of results by key, bounded by the bytes of the arrays it holds."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[bytes, tuple[Any, int]] = OrderedDict()
        self._bytes = 0

    def get_or_compute(self, key: bytes, compute: Callable[[], Any]) -> Any:
        """The stored result of ``key``, else ``compute()`` (stored, its arrays made read-only)."""
        if key in self._items:
            self.hits += 1
            self._items.move_to_end(key)
            return self._items[key][0]
        self.misses += 1
        value = compute()
        size = _freeze(value)
        self._items[key] = (value, size)
        self._bytes += size
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, (_, dropped) = self._items.popitem(last=False)
            self._bytes -= dropped
        return value


def _freeze(value: Any) -> int:
    """Make the numpy arrays in ``value`` (and in its lists, tuples and dicts) read-only; their bytes."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
        return value.nbytes
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return sum(_freeze(v) for v in value)
    return 0


_CURRENT: ContextVar[FoldWork | None] = ContextVar("cdbench_fold_work", default=None)


def current() -> FoldWork | None:
    """The memo of the enclosing :func:`sharing` scope, or None (nothing is shared)."""
    return _CURRENT.get()


@contextlib.contextmanager
def sharing(enabled: bool = True, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[FoldWork | None]:
    """A fresh memo for the block (None, i.e. no sharing, when not ``enabled``); the previous one after."""
    token = _CURRENT.set(FoldWork(max_bytes) if enabled else None)
    try:
        yield _CURRENT.get()
    finally:
        _CURRENT.reset(token)


def shared(X: pd.DataFrame, parts: tuple, compute: Callable[[], T]) -> tuple[T, bytes | None]:
    """``compute()``, a deterministic function of ``parts`` and the frame X, computed once per scope.

    Returns the result and its key (None outside a scope, or for a frame that is not numeric).
    """
    work = current()
    key = None if work is None else frame_digest(X, *parts)
    if key is None:
        return compute(), None
    return work.get_or_compute(key, compute), key


def frame_digest(X: pd.DataFrame, *parts: object) -> bytes | None:
    """Digest of ``parts`` and a frame's patient ids, column names and float values; None if not numeric."""
    try:
        values = np.ascontiguousarray(X.to_numpy(dtype=np.float64))
    except (TypeError, ValueError):
        return None
    h = hashlib.sha1(usedforsecurity=False)  # an identity check of our own data, not a security boundary
    h.update(repr((parts, X.shape)).encode())
    h.update("\x1f".join(map(str, X.columns.tolist())).encode())
    h.update(b"\x1e")
    h.update("\x1f".join(map(str, X.index.tolist())).encode())
    h.update(values.tobytes())
    return h.digest()
