"""Fixtures of the deep-model tests: a fake raw-inputs handle with the ``features.raw.RawInputs`` contract
(``info`` / ``has`` / ``batch``, arrays of the interface's shapes) that can record what it is asked for,
and small cohorts whose label moves the ROI intensity, the report states and the diary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin

GRID, REPORTS, TOKENS, HIDDEN = 32, 4, 128, 384


class FakeRaw:
    """In-memory raw inputs: ``arrays[modality][key]`` stacked over ``ids[modality]``.

    ``log`` (a shared list, when given) receives ``("raw", modality, ids)`` for every ``has``/``batch``.
    Deep-copies return the same object (like the real handle, it is immutable and cheap to share).
    """

    def __init__(
        self,
        ids: dict[str, list[str]],
        arrays: dict[str, dict[str, np.ndarray]],
        info: dict[str, dict[str, Any]],
        log: list | None = None,
    ) -> None:
        self.ids = ids
        self.arrays = arrays
        self.info = info
        self.log = log
        self._pos = {m: {p: i for i, p in enumerate(v)} for m, v in ids.items()}

    def __deepcopy__(self, memo: dict) -> FakeRaw:
        return self

    def modalities(self) -> list[str]:
        return list(self.info)

    def _record(self, modality: str, patient_ids: Sequence[str]) -> None:
        if self.log is not None:
            self.log.append(("raw", modality, tuple(str(p) for p in patient_ids)))

    def has(self, modality: str, patient_ids: Sequence[str]) -> np.ndarray:
        if modality not in self.info:
            raise KeyError(modality)
        self._record(modality, patient_ids)
        return np.array([str(p) in self._pos[modality] for p in patient_ids], dtype=bool)

    def batch(self, modality: str, patient_ids: Sequence[str]) -> dict[str, np.ndarray]:
        self._record(modality, patient_ids)
        pos = self._pos[modality]
        out: dict[str, np.ndarray] = {}
        present = np.array([str(p) in pos for p in patient_ids], dtype=bool)
        for key, arr in self.arrays[modality].items():
            stacked = np.zeros((len(patient_ids), *arr.shape[1:]), dtype=arr.dtype)
            for i, p in enumerate(patient_ids):
                if str(p) in pos:
                    stacked[i] = arr[pos[str(p)]]
            out[key] = stacked
        out["present"] = present
        return out

    def replaced(self, modality: str, patients: Sequence[str], key: str, values: np.ndarray) -> FakeRaw:
        """A copy whose ``key`` arrays of ``patients`` are ``values`` (broadcast)."""
        arrays = {m: {k: v.copy() for k, v in a.items()} for m, a in self.arrays.items()}
        for p in patients:
            arrays[modality][key][self._pos[modality][p]] = values
        return FakeRaw(self.ids, arrays, self.info, self.log)


def _text_info() -> dict[str, Any]:
    from features.text.extractors import default_model_path

    return {
        "frozen_layers": 5,
        "max_tokens": TOKENS,
        "max_reports": REPORTS,
        "model": str(default_model_path()),
        "hidden_size": HIDDEN,
    }


def make_cohort(
    n: int = 48,
    seed: int = 0,
    signal: float = 1.0,
    max_len: int = 48,
    missing: bool = True,
    log: list | None = None,
) -> tuple[pd.DataFrame, np.ndarray, FakeRaw]:
    """(X, y, raw) of ``n`` patients: y balanced binary; the label adds ``signal`` to the ROI intensity
    inside the mask, moves every report token's state along a fixed direction and raises the diary's
    stools and pain. X's blocks are noise (they say who has a modality). With ``missing``: every 6th
    patient lacks imaging (NaN block), every 7th lacks text in raw only (block present, no record),
    every 5th has no diary; reports have 1-4 slots and 6..``max_len`` real tokens."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    rng.shuffle(y)
    ids = [f"P{i:04d}" for i in range(n)]
    s = signal * (y - 0.5)

    # imaging: a ball mask, intensity noise + label shift inside it
    zz, yy, xx = np.mgrid[:GRID, :GRID, :GRID]
    ball = ((zz - 16) ** 2 + (yy - 16) ** 2 + (xx - 16) ** 2 <= 49).astype(np.float32)
    roi = np.empty((n, 2, GRID, GRID, GRID), np.float32)
    roi[:, 0] = rng.normal(0, 0.5, size=(n, GRID, GRID, GRID)) + s[:, None, None, None] * ball
    roi[:, 1] = ball
    ct = (rng.random(n) < 0.5).astype(np.float32)

    # text: frozen-layer-like states (unit scale), label along one direction
    direction = rng.normal(size=HIDDEN).astype(np.float32)
    direction /= np.linalg.norm(direction) / np.sqrt(HIDDEN)
    hidden = np.zeros((n, REPORTS, TOKENS, HIDDEN), np.float16)
    attention = np.zeros((n, REPORTS, TOKENS), bool)
    reports = np.zeros((n, REPORTS), bool)
    for i in range(n):
        for r in range(int(rng.integers(1, REPORTS + 1))):
            length = int(rng.integers(6, max_len + 1))
            h = rng.normal(size=(length, HIDDEN)).astype(np.float32) + s[i] * direction
            hidden[i, r, :length] = h.astype(np.float16)
            attention[i, r, :length] = True
            reports[i, r] = True

    # diary: stools, pain, well-being; NaN where unanswered
    diary = np.stack(
        [
            rng.poisson(3 + 4 * signal * y[:, None], size=(n, 7)),
            np.clip(np.round(1 + 1.5 * signal * y[:, None] + rng.normal(0, 0.7, (n, 7))), 0, 3),
            np.clip(np.round(2 + rng.normal(0, 0.8, (n, 7))), 0, 4),
        ],
        axis=2,
    ).astype(np.float32)
    diary[rng.random((n, 7)) < 0.2] = np.nan

    X = pd.DataFrame(
        {
            **{f"imaging:rad__f{i}": rng.normal(size=n) for i in range(3)},
            **{f"text:emb__{i}": rng.normal(size=n) for i in range(3)},
            **{f"pro:pro__s{i}": rng.normal(size=n) for i in range(3)},
        },
        index=pd.Index(ids, name="patient_id"),
    )
    idx = np.arange(n)
    keep = {m: np.ones(n, bool) for m in ("imaging", "text", "pro")}
    if missing:
        X.loc[idx % 6 == 1, [c for c in X.columns if c.startswith("imaging:")]] = np.nan
        keep["imaging"] = idx % 6 != 1
        keep["text"] = idx % 7 != 2  # block present in X, no raw record
        keep["pro"] = idx % 5 != 3
        X.loc[~keep["pro"], [c for c in X.columns if c.startswith("pro:")]] = np.nan
        X.iloc[idx % 9 == 4, X.columns.get_loc("pro:pro__s1")] = np.nan  # scattered missing static values
    arrays = {
        "imaging": {"roi": roi[keep["imaging"]], "ct": ct[keep["imaging"]]},
        "text": {
            "hidden": hidden[keep["text"]],
            "attention": attention[keep["text"]],
            "reports": reports[keep["text"]],
        },
        "pro": {"diary": diary[keep["pro"]]},
    }
    raw_ids = {m: [p for p, k in zip(ids, keep[m], strict=True) if k] for m in keep}
    info = {"imaging": {"grid": GRID, "margin_mm": 10.0}, "text": _text_info(), "pro": {}}
    return X, y, FakeRaw(raw_ids, arrays, info, log)


class SharedLog(list):
    """An event list that clones and deep copies share (so every clone of a probe logs to one place)."""

    def __deepcopy__(self, memo: dict) -> SharedLog:
        return self


class LoggingProbe(TransformerMixin, BaseEstimator):
    """A pipeline's first step: appends ``("fit" | "transform", ids)`` to the shared ``log`` list."""

    def __init__(self, log: list | None = None) -> None:
        self.log = log

    def fit(self, X: pd.DataFrame, y: object = None) -> LoggingProbe:
        self.log.append(("fit", tuple(str(p) for p in X.index)))
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        self.log.append(("transform", tuple(str(p) for p in X.index)))
        return X


@pytest.fixture(scope="session")
def cohort():
    """``make_cohort`` (memoised per arguments for the session: the arrays are read-only by contract)."""
    memo: dict[tuple, tuple] = {}

    def get(**kw: Any) -> tuple[pd.DataFrame, np.ndarray, FakeRaw]:
        key = tuple(sorted(kw.items()))
        if key not in memo or kw.get("log") is not None:
            memo[key] = make_cohort(**kw)
        X, y, raw = memo[key]
        return X.copy(), y.copy(), raw

    return get


FAST = {"max_epochs": 6, "patience": 3, "batch_size": 16, "progress": False, "width": 16}
"""Small settings for fits that only need to run."""
