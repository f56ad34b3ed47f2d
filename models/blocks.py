"""Modality blocks of the design matrix: columns are named ``"<modality>:<feature column>"``."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from benchmarks.cohort.schema import MODALITIES
from features.text_vectorize import COUNT_MARKER

SEPARATOR = ":"


def modality_of(column: str) -> str:
    """The modality part of a design-matrix column name."""
    modality, sep, feature = str(column).partition(SEPARATOR)
    if not sep or not modality or not feature:
        raise ValueError(f"column {column!r} is not named '<modality>:<feature>'")
    return modality


def is_text_count(column: str) -> bool:
    """True for a text count column ``text:txt__cnt__*`` (TF-IDF weighted in-fold)."""
    return str(column).partition(SEPARATOR)[2].startswith(COUNT_MARKER)


def split_blocks(columns: Iterable[str]) -> dict[str, list[str]]:
    """Group columns by modality, modalities in canonical order (unknown ones after, by appearance)."""
    blocks: dict[str, list[str]] = {}
    for col in columns:
        blocks.setdefault(modality_of(col), []).append(col)
    order = [m for m in MODALITIES if m in blocks] + [m for m in blocks if m not in MODALITIES]
    return {m: blocks[m] for m in order}


def block_availability(X: pd.DataFrame, blocks: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """Boolean frame (index of X, one column per modality): True where the patient has any value."""
    blocks = split_blocks(X.columns) if blocks is None else blocks
    return pd.DataFrame(
        {
            m: X[cols].notna().any(axis=1).to_numpy() if cols else np.zeros(len(X), bool)
            for m, cols in blocks.items()
        },
        index=X.index,
    )


def select_modalities(X: pd.DataFrame, modalities: Iterable[str]) -> pd.DataFrame:
    """The columns of X that belong to ``modalities`` (all of them must have a block)."""
    blocks = split_blocks(X.columns)
    wanted = list(modalities)
    missing = [m for m in wanted if m not in blocks]
    if missing:
        raise ValueError(f"modalities {missing} have no columns in X; blocks present: {list(blocks)}")
    cols = [c for m in blocks if m in wanted for c in blocks[m]]
    return X.loc[:, cols]
