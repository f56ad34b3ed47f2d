"""Fixtures of the benchmarks tests: toy feature blocks and a small run configuration for the runner."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.experiment.config import RunConfig, load_config


def _toy_blocks(n: int = 72, seed: int = 0) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Endpoints and three feature blocks with signal about ses_cd; ~15% of patients miss each block."""
    rng = np.random.default_rng(seed)
    ids = [f"P{i:03d}" for i in range(n)]
    latent = rng.normal(size=n)
    ses = np.clip(np.round(6 + 5 * latent + rng.normal(0, 2, n)), 0, 40)
    endpoints = pd.DataFrame(
        {"ses_cd": ses, "cdai": 150 + 60 * rng.normal(size=n)}, index=pd.Index(ids, name="patient_id")
    )
    blocks = {}
    for m, (prefix, width, strength) in {
        "imaging": ("rad__", 6, 1.0),
        "text": ("txt__", 5, 0.8),
        "pro": ("pro__", 4, 0.3),
    }.items():
        values = strength * latent[:, None] + rng.normal(size=(n, width))
        frame = pd.DataFrame(values, index=ids, columns=[f"{prefix}f{j}" for j in range(width)])
        keep = rng.random(n) > 0.15
        blocks[m] = frame[keep]
    return endpoints, blocks


def _smoke_config(**overrides) -> RunConfig:
    base = dict(
        tasks=["endo_active"],
        estimators=["enet"],
        modality_sets=["imaging", "pro", "imaging+pro"],
        fusions=["single", "early", "late_stacked"],
        repeats=1,
        folds=3,
        n_trials=2,
        inner_splits=2,
        n_jobs=1,
    )
    base.update(overrides)
    return load_config("smoke", **base)


@pytest.fixture(scope="session")
def toy_blocks():
    """``toy_blocks(n=72, seed=0) -> (endpoints, {modality: block})``."""
    return _toy_blocks


@pytest.fixture(scope="session")
def smoke_config():
    """``smoke_config(**overrides)``: one task, enet, three modality sets and fusions, 3 folds, 2 trials."""
    return _smoke_config
