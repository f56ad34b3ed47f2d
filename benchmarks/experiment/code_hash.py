"""Hashes that decide whether a finished cell may be reused: of the code that computes it, and of its inputs."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CELL_CODE = ("models", "benchmarks/experiment")
"""Folders whose Python files compute a cell (estimators, fusion, tuning, the experiment itself)."""
CELL_CODE_FILES = ("features/text_vectorize.py",)
"""Single files outside those folders that compute a cell (the in-fold text vectoriser)."""


@functools.cache
def code_version() -> str:
    """Hash of the code that computes a cell, so a finished cell is not reused after that code changed."""
    h = hashlib.sha256()
    paths = [p for d in CELL_CODE for p in sorted((ROOT / d).glob("*.py"))]
    for path in paths + [ROOT / f for f in CELL_CODE_FILES]:
        h.update(path.relative_to(ROOT).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def digest(label: str, values: np.ndarray, names: list) -> str:
    """A short hash of a labelled array and its names (labels, a feature block)."""
    h = hashlib.sha256(label.encode())
    h.update(json.dumps(names).encode())
    h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()[:20]
