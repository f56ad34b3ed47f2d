"""What is recorded beside the results: provenance (versions, commit, seed, config, cohort, timings) and
the per-patient cohort summary that Table 1 and the availability figures read."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.cohort import schema
from benchmarks.cohort.language import (
    DEFAULT_LANGUAGE,
    REPORT_LANGUAGE_COLUMN,
    SUPPORTED_LANGUAGES,
    UNDETERMINED,
)
from benchmarks.experiment.code_hash import ROOT, code_version
from benchmarks.experiment.config import RunConfig
from benchmarks.experiment.taskdata import availability_patterns, design_matrix
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
    "lingua-language-detector",
    "sentence-transformers",
    "transformers",
    "monai",
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
    """The cohort actually used: its folder, size, modality counts, a hash of its tables' contents and
    the selection (the rules, and per modality the rows kept, the patients with several candidates, the
    rule each decision applied and the patients whose rule fell back, by id: ``Selection.summary``)."""
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
        "selection": cohort.selection.summary() if getattr(cohort, "selection", None) is not None else None,
    }


def accelerator() -> dict[str, Any]:
    """The device the torch networks train on (``device="auto"``: CUDA when present, else CPU), and the GPU's
    name when there is one. Each cell on a network also records its own ``device``."""
    import torch

    if torch.cuda.is_available():
        return {"device": "cuda", "name": torch.cuda.get_device_name(0), "cuda": torch.version.cuda}
    return {"device": "cpu", "torch_threads_per_cell": 1}


def provenance(
    config: RunConfig, timings: dict[str, float], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Versions, git commit, seed, config hash, timings and the machine, stored with every run, and the
    definition of each task (``task_definitions``: endpoint, threshold or classes, ``derived_from``), which
    the report's diagnostics and TRIPOD+AI checklist read."""
    return {
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": config.identity(),
        "config_hash": config.config_hash(),
        "seed": config.seed,
        "task_definitions": {name: asdict(t) for name, t in config.task_defs().items()},
        "execution": {"n_jobs": config.n_jobs, "scheduler": config.scheduler, "storage": config.storage},
        "versions": library_versions(TRACKED_LIBRARIES),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "accelerator": accelerator(),
        "git": git_commit(),
        "code_version": code_version(),
        "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
        **(extra or {}),
    }


def report_language_counts(cohort: Any) -> pd.DataFrame:
    """Per patient: ``n_reports_en``, ``n_reports_fr``, ``n_reports_other_language`` (reports in a language
    the text features do not read) and :data:`REPORT_LANGUAGE_COLUMN`. Undetermined ("und") counts as
    English, as the text features read it. Languages come from the validated reports (given or detected)."""
    idx = pd.Index(cohort.patient_ids, name="patient_id")
    table = cohort.report_table
    col = schema.LANGUAGE_COLUMN
    langs = (
        table[col].fillna(DEFAULT_LANGUAGE)
        if col in table.columns
        else pd.Series(DEFAULT_LANGUAGE, table.index)
    )
    langs = langs.replace(UNDETERMINED, DEFAULT_LANGUAGE)
    groups = langs.where(langs.isin(SUPPORTED_LANGUAGES), "other_language")
    counts = pd.crosstab(table[schema.PATIENT_ID], groups) if len(table) else pd.DataFrame(index=idx)
    out = pd.DataFrame(index=idx)
    for key in (*SUPPORTED_LANGUAGES, "other_language"):
        out[f"n_reports_{key}"] = counts[key].reindex(idx, fill_value=0).astype(int) if key in counts else 0

    def group(row: pd.Series) -> str:
        present = [lang for lang in SUPPORTED_LANGUAGES if row[f"n_reports_{lang}"] > 0]
        return "+".join(present) if present else ("other" if row["n_reports_other_language"] else "none")

    out[REPORT_LANGUAGE_COLUMN] = out.apply(group, axis=1) if len(out) else pd.Series(dtype=str)
    return out


def cohort_summary(cohort: Any, blocks: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per patient for Table 1 and availability: clinical columns, endpoints and report languages
    (:func:`report_language_counts`), never text.

    ``avail_<m>``: the patient has rows of modality m in the cohort tables. ``features_<m>``: the patient
    *has* modality m, the report's one definition: at least one feature value of it, by the very rule
    (:func:`~benchmarks.experiment.taskdata.availability_patterns`) that gives the predictions' pattern.
    """
    keep = [c for c in SUMMARY_COLUMNS if c in cohort.patients.columns]
    summary = cohort.patients[keep].copy()
    patterns = availability_patterns(design_matrix(blocks, summary.index)).str.split("+")
    for m in cohort.availability.columns:
        summary[f"avail_{m}"] = cohort.availability[m].astype(bool)
        summary[f"features_{m}"] = patterns.map(lambda p, m=m: m in p).astype(bool).to_numpy()
    summary = summary.join(report_language_counts(cohort))
    summary.index.name = "patient_id"
    return summary.reset_index()
