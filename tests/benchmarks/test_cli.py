"""The command line: validate exit codes and messages, report rebuild, config errors, cohort untouched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.run import main


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *args], cwd=cwd, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def valid_cohort(tmp_path_factory, build_valid_cohort):
    return build_valid_cohort(tmp_path_factory.mktemp("cli") / "cohort")


def test_validate_valid_cohort_exits_zero_and_leaves_it_untouched(valid_cohort, tmp_path, tree_hashes):
    before = tree_hashes(valid_cohort)
    out = _cli("validate", "--cohort", str(valid_cohort), cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "VALID" in out.stdout
    assert tree_hashes(valid_cohort) == before


def test_validate_reports_every_problem_and_exits_one(valid_cohort, tmp_path, edit_csv):
    import shutil

    broken = Path(shutil.copytree(valid_cohort, tmp_path / "broken"))

    def dup_and_unknown(columns, rows):
        rows.append(dict(rows[0]))  # duplicated patient_id

    edit_csv(broken / "patients.csv", dup_and_unknown)

    def bad_pro(columns, rows):
        rows[0]["diary_pain_d3"] = "9"
        rows.append({**rows[0], "patient_id": "GHOST"})

    edit_csv(broken / "pro.csv", bad_pro)
    out = _cli("validate", "--cohort", str(broken), cwd=tmp_path)
    assert out.returncode == 1
    text = out.stdout + out.stderr
    first = pd.read_csv(valid_cohort / "patients.csv", dtype=str)["patient_id"].iloc[0]
    assert first in text and "patients.csv" in text and "patient_id" in text
    assert "diary_pain_d3" in text and "pro.csv" in text
    assert "GHOST" in text


def test_report_subcommand_rebuilds_from_results_alone(tmp_path, make_fake_run):
    run_dir = tmp_path / "run"
    make_fake_run(run_dir, n_patients=60, n_repeats=1, n_folds=3)
    out = _cli("report", "--run", str(run_dir), "--n-boot", "100", cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert (run_dir / "report" / "summary.md").exists()
    assert (run_dir / "report" / "report.tex").exists()
    assert "Output folder" in out.stdout


def test_unknown_config_key_is_a_clear_error(tmp_path, valid_cohort):
    cfg = tmp_path / "my.toml"
    cfg.write_text('estimators = ["enet"]\nn_folds = 3\n', encoding="utf-8")
    with pytest.raises(ValueError, match="n_folds"):
        main(["features", "--cohort", str(valid_cohort), "--config", str(cfg), "--out", str(tmp_path / "o")])
