"""What is recorded beside the results: provenance (versions, commit, seed, config, cohort, timings) and
the per-patient cohort summary that Table 1 and the availability figures read."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.experiment.code_hash import ROOT, code_version
from benchmarks.experiment.config import RunConfig
from features.engine import library_versions

TRACKED_LIBRARIES = (
    "cdbench",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "xgboost-cpu",
    "torch",
    "optuna",
    "pyradiomics-bhklab",
    "SimpleITK",
    "spacy",
    "scispacy",
    "negspacy",
    "sentence-transformers",
    "statsmodels",
    "dask",
    "distributed",
)
SUMMARY_COLUMNS = (
    "site",
    "sex",
    "age",
    "montreal_location",
    "montreal_behaviour",
    "perianal",
    "crp",
    "calprotectin",
    "leukocytes",
    "ses_cd",
    "maria",
    "cdai",
    "hbi",
    "severity",
)
"""Clinical columns and endpoints of patients.csv kept in the cohort summary (never text)."""


def git_commit() -> dict[str, Any]:
    """The checkout's commit and whether it has uncommitted changes (None outside a git checkout)."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
        return {"commit": sha.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


def cohort_identity(cohort: Any) -> dict[str, Any]:
    """The cohort actually used: its folder, size, modality counts and a hash of its tables' contents."""
    root = Path(cohort.root).resolve()
    h = hashlib.sha256()
    tables = {}
    for name in sorted(p.name for p in root.glob("*.csv")):
        data = (root / name).read_bytes()
        h.update(name.encode())
        h.update(hashlib.sha256(data).digest())
        tables[name] = hashlib.sha256(data).hexdigest()[:16]
    return {
        "path": str(root),
        "n_patients": int(len(cohort.patients)),
        "available": {m: int(cohort.availability[m].sum()) for m in cohort.availability.columns},
        "tables_sha256": tables,
        "hash": h.hexdigest()[:16],
    }


def provenance(
    config: RunConfig, timings: dict[str, float], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Versions, git commit, seed, config hash, timings and the machine, stored with every run."""
    return {
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": config.identity(),
        "config_hash": config.config_hash(),
        "seed": config.seed,
        "execution": {"n_jobs": config.n_jobs, "scheduler": config.scheduler, "storage": config.storage},
        "versions": library_versions(TRACKED_LIBRARIES),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "git": git_commit(),
        "code_version": code_version(),
        "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
        **(extra or {}),
    }


def cohort_summary(cohort: Any, blocks: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per patient for Table 1 and availability: clinical columns and endpoints, never text."""
    keep = [c for c in SUMMARY_COLUMNS if c in cohort.patients.columns]
    summary = cohort.patients[keep].copy()
    for m in cohort.availability.columns:
        summary[f"avail_{m}"] = cohort.availability[m].astype(bool)
        summary[f"features_{m}"] = summary.index.isin(blocks[m].index) if m in blocks else False
    summary.index.name = "patient_id"
    return summary.reset_index()
