"""`import benchmarks` must load this repository's package from any working directory.

pysbd (pulled in by scispacy) installs a foreign top-level package named `benchmarks` into site-packages.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest


def test_foreign_benchmarks_package_is_installed_so_this_test_means_something():
    site_packages = [Path(p) for p in sys.path if p.endswith("site-packages")]
    assert any((p / "benchmarks" / "__init__.py").exists() for p in site_packages), (
        "pysbd's stray `benchmarks` package is not installed; the guard below is then untested"
    )


@pytest.mark.parametrize("module", ["benchmarks", "features", "models", "reports"])
def test_our_packages_win_from_any_directory(tmp_path, module, repo_root):
    out = subprocess.run(
        [sys.executable, "-c", f"import {module}; print({module}.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(out.stdout.strip()).resolve().is_relative_to(repo_root)


def test_cli_runs_from_another_directory(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--help"], cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "generate" in out.stdout and "validate" in out.stdout


def test_in_process_import_is_ours(repo_root):
    spec = importlib.util.find_spec("benchmarks")
    assert Path(spec.origin).resolve().is_relative_to(repo_root)
