"""The selection rules as a run setting: the `selection` key of a run configuration and the --selection
flag, part of the config hash, recorded in provenance and as the run folder's selection table."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import store
from benchmarks.cohort import DEFAULT_SELECTION, load_cohort, schema
from benchmarks.experiment.config import ConfigError, RunConfig, load_config
from benchmarks.experiment.provenance import cohort_identity
from benchmarks.run import _load_cohort, main


@pytest.fixture(scope="module")
def two_visits(tmp_path_factory, build_valid_cohort) -> Path:
    """The valid cohort where P002 has a second questionnaire, two months later, and an endpoint_date."""
    root = build_valid_cohort(tmp_path_factory.mktemp("visits") / "cohort")
    with open(root / schema.PRO_FILE, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns, rows = [*reader.fieldnames, "date"], list(reader)
    second = {**next(r for r in rows if r["patient_id"] == "P002"), "date": "2024-03-01", "hbi_pain": "3"}
    rows[1].update(date="2024-01-01", hbi_pain="1")
    with open(root / schema.PRO_FILE, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        w.writerows([*rows, second])
    patients = pd.read_csv(root / schema.PATIENTS_FILE, dtype=str, keep_default_na=False)
    patients["endpoint_date"] = ["", "2024-02-20", "", "", "", ""]
    patients.to_csv(root / schema.PATIENTS_FILE, index=False)
    return root


def test_selection_defaults_and_belongs_to_the_results_identity():
    config = load_config("smoke")
    assert config.selection == DEFAULT_SELECTION and config.identity()["selection"] == DEFAULT_SELECTION
    other = load_config("smoke", selection={"pro": "baseline"})
    assert other.selection == {**DEFAULT_SELECTION, "pro": "baseline"}
    assert other.config_hash() != config.config_hash()
    assert load_config("smoke", selection=dict(DEFAULT_SELECTION)).config_hash() == config.config_hash()


def test_selection_from_a_toml_file_one_rule_or_a_table(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('selection = {imaging = "baseline", text = "latest"}\n', encoding="utf-8")
    assert load_config("smoke", path).selection == {"imaging": "baseline", "text": "latest", "pro": "closest"}
    # a flag's table completes the file's, modality by modality
    assert load_config("smoke", path, selection={"pro": "latest"}).selection == {
        "imaging": "baseline",
        "text": "latest",
        "pro": "latest",
    }
    path.write_text('selection = "latest"\n', encoding="utf-8")
    assert set(load_config("smoke", path).selection.values()) == {"latest"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nearest", r"selection = 'nearest': unknown rule; choose from \['closest', 'baseline', 'latest'\]"),
        (
            {"imagng": "closest"},
            r"selection.imagng: unknown modality; choose from \['imaging', 'text', 'pro'\]",
        ),
        ({"pro": "all"}, r"selection.pro = 'all': unknown rule for pro; choose from"),
        ("all", "text only"),
        (["closest"], "must be a rule name"),
    ],
)
def test_a_bad_selection_is_a_config_error_naming_the_key_and_choices(value, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(selection=value)


def test_validate_lists_the_selection_with_the_flag_or_the_config(two_visits, tmp_path, capsys):
    assert main(["validate", "--cohort", str(two_visits)]) == 0
    out = capsys.readouterr().out
    assert "selection (rules: imaging closest, text all, pro closest" in out
    assert "pro      closest: 1 patient(s) with several questionnaires: P002" in out
    assert "closest (date) for 1 group(s)" in out
    assert main(["validate", "--cohort", str(two_visits), "--selection", "pro=latest,imaging=baseline"]) == 0
    assert "rules: imaging baseline, text all, pro latest" in capsys.readouterr().out
    config = tmp_path / "run.toml"
    config.write_text('selection = {pro = "baseline"}\n', encoding="utf-8")
    assert main(["validate", "--cohort", str(two_visits), "--config", str(config)]) == 0
    assert "pro      baseline: 1 patient(s)" in capsys.readouterr().out
    assert main(["validate", "--cohort", str(two_visits), "--selection", "pro=nearest"]) == 2
    err = capsys.readouterr().err
    assert "selection.pro = 'nearest'" in err and "Traceback" not in err


def test_the_run_folder_gets_the_selection_table_and_provenance_the_counts(two_visits, tmp_path, capsys):
    run_dir = store.claim_folder(tmp_path / "run", "run")
    cohort = _load_cohort(two_visits, selection=load_config("smoke").selection, run_dir=run_dir)
    table = pd.read_parquet(run_dir / store.SELECTION)
    pro = table[(table["modality"] == "pro") & (table["patient_id"] == "P002")]
    assert pro[
        ["source_row", "date", "n_candidates", "rule", "applied", "by", "fallback"]
    ].values.tolist() == [[6, "2024-03-01", 2, "closest", "closest", "date", ""]]
    assert len(table) == len(cohort.scan_table) + len(cohort.report_table) + len(cohort.pro_table)
    identity = cohort_identity(cohort)["selection"]
    assert identity["rules"] == DEFAULT_SELECTION
    assert identity["pro"] == {
        "rule": "closest",
        "rows_kept": 5,
        "patients_with_several": 1,
        "applied": {"closest": 1},
        "fallback": {},
    }
    baseline = load_cohort(two_visits, selection={"pro": "baseline"})
    assert cohort.pro("P002")["hbi_pain"] == 3.0 and baseline.pro("P002")["hbi_pain"] == 1.0
