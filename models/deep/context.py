"""Where the deep models find the raw inputs: a scope set per cell (like ``models.harmonise.harmonising``).

The handle (``features.raw.RawInputs`` or anything with its ``info`` / ``has`` / ``batch`` contract) is
looked up by patient id; it is never a parameter that is cloned per trial, so a fit's estimators share
one handle and its per-process memo.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

_CURRENT: ContextVar[Any | None] = ContextVar("cdbench_raw_inputs", default=None)


@contextlib.contextmanager
def using_raw(raw: Any | None) -> Iterator[None]:
    """Make ``raw`` the raw inputs of every deep model fitted or predicting in this scope (None: none)."""
    token = _CURRENT.set(raw)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def peek_raw() -> Any | None:
    """The raw inputs of the enclosing :func:`using_raw` scope, or None."""
    return _CURRENT.get()


def current_raw() -> Any:
    """The raw inputs of the enclosing :func:`using_raw` scope; a clear error when there is none."""
    raw = _CURRENT.get()
    if raw is None:
        raise ValueError(
            "the deep models learn from the raw inputs (images, report states, diaries) but none were given: "
            "pass raw=<features.raw.RawInputs> to the estimator or fit inside models.deep.using_raw(raw) "
            "(build them with features.raw.build_raw_inputs)"
        )
    return raw
