"""The command line: validate exit codes and messages, report rebuild, config errors, cohort untouched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.run import main
from benchmarks.store import claim_folder


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
    run_dir = claim_folder(tmp_path / "run", "run")  # a run folder carries cdbench's marker
    make_fake_run(run_dir, n_patients=60, n_repeats=1, n_folds=3)
    out = _cli("report", "--run", str(run_dir), "--n-boot", "100", cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert (run_dir / "report" / "summary.md").exists()
    assert (run_dir / "report" / "report.tex").exists()
    assert "Output folder" in out.stdout


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('estimators = ["enet"]\nn_folds = 3\n', "unknown configuration keys ['n_folds']"),
        ("estimators = [enet\n", "is not valid TOML"),
        (None, "not found; check the --config path"),
    ],
)
def test_a_bad_config_is_a_clear_error_without_traceback(tmp_path, valid_cohort, capsys, content, expected):
    cfg = tmp_path / "my.toml"
    if content is not None:
        cfg.write_text(content, encoding="utf-8")
    rc = main(["features", "--cohort", str(valid_cohort), "--config", str(cfg), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and expected in err and str(cfg) in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()  # nothing was created before the configuration was accepted


@pytest.mark.parametrize("n", ["0", "-3", "ten"])
def test_generate_with_a_bad_size_is_a_usage_error(tmp_path, capsys, n):
    with pytest.raises(SystemExit) as exc:
        main(["generate", "--out", str(tmp_path / "g"), "--n", n])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--n" in err and "Traceback" not in err
    assert not (tmp_path / "g").exists()
