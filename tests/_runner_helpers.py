"""Small synthetic feature blocks and a runner entry point usable from a subprocess."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.config import load_config


def toy_blocks(n: int = 72, seed: int = 0) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
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


def smoke_config(**overrides):
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


def main(run_dir: str, n_jobs: str) -> None:
    from benchmarks.runner import run_matrix

    endpoints, blocks = toy_blocks()
    run_matrix(smoke_config(n_jobs=int(n_jobs)), endpoints, blocks, Path(run_dir), progress=False)


if __name__ == "__main__":
    main(*sys.argv[1:])
