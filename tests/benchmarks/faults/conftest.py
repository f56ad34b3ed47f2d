"""Fixtures of the fault suite: tiny run configurations, the command line in a subprocess, file helpers.

Every fixture is built on the fly: cohorts from ``build_valid_cohort`` or ``generate --n 20``, feature
blocks from ``toy_blocks``, so each fault starts from a small valid input.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import store
from tests import REPO_ROOT

TINY_RUN = """
tasks = ["endo_active"]
modality_sets = ["imaging", "text", "pro", "imaging+text+pro"]
estimators = ["enet"]
fusions = ["single", "early", "late_mean"]
repeats = 1
folds = 3
n_trials = 1
inner_splits = 2
n_boot = 50
n_jobs = 1
[features]
imaging = ["radiomics"]
text = ["report_concepts"]
pro = ["pro_indices"]
"""
"""The smallest ``all`` run that passes through every stage: 18 cells, no sentence model."""

PRO_ONLY = """
n_jobs = 1
[features]
pro = ["pro_indices"]
"""
"""A ``features`` run that extracts the questionnaire indices only (a second or so)."""


@pytest.fixture(scope="session")
def tiny_run_toml(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("configs") / "tiny_run.toml"
    path.write_text(TINY_RUN, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def pro_only_toml(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("configs") / "pro_only.toml"
    path.write_text(PRO_ONLY, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def valid_cohort(tmp_path_factory, build_valid_cohort) -> Path:
    return build_valid_cohort(tmp_path_factory.mktemp("faults") / "cohort")


def _cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.run", *args]


def _run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        _cli_command(*args), cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="session")
def cli():
    """``cli(*args) -> CompletedProcess``: ``python -m benchmarks.run ARGS`` in a subprocess."""
    return _run_cli


@pytest.fixture(scope="session")
def cli_command():
    """``cli_command(*args) -> argv`` of ``python -m benchmarks.run ARGS``."""
    return _cli_command


def _temporary_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and store.is_temporary(p.name)]


@pytest.fixture(scope="session")
def temporary_files():
    """``temporary_files(root)``: every leftover of an interrupted atomic write under ``root``."""
    return _temporary_files
