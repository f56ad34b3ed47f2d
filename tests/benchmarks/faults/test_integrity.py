"""Integrity of what cdbench reuses: checksummed cell and cache files, set aside when they fail, valid
predictions only (issue 12, item 2)."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks import store
from benchmarks.experiment.runner import run_matrix
from benchmarks.run import main

CELL = "endo_active/imaging/enet/single/r0f0"  # a single-modality cell that a late fusion reuses


# --- corruptions: each turns a good file into a bad one in the way the issue saw ------------------------
def _truncate(path: Path) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def _strip_metadata(path: Path) -> None:
    """A valid parquet file without cdbench's metadata (was: KeyError b'cdbench_cell')."""
    pq.write_table(pq.read_table(path).replace_schema_metadata(None), path)


def _flip_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 3] ^= 0xFF
    path.write_bytes(bytes(raw))


def _rewrite(path: Path, edit) -> None:
    """Rewrite the table after ``edit(frame)``, keeping every footer key, the checksum included."""
    meta = pq.read_metadata(path).metadata
    frame = pq.read_table(path).to_pandas()
    edit(frame)
    table = pa.Table.from_pandas(frame, preserve_index=None)
    pq.write_table(table.replace_schema_metadata(meta), path)


def _unnormalise(path: Path) -> None:
    """Still valid parquet with cdbench's metadata, but probabilities no longer sum to 1."""

    def edit(frame: pd.DataFrame) -> None:
        frame["proba_1"] *= 1.3

    _rewrite(path, edit)


def _sealed_out_of_range(path: Path) -> None:
    """A file with a correct checksum whose "ok" predictions are invalid (as a bug would write them)."""
    table = store.read_sealed(path)
    frame = table.to_pandas()
    frame.loc[frame["part"] == "test", "proba_0"] = 2.0
    meta = {store.CELL_META_KEY: table.schema.metadata[store.CELL_META_KEY]}
    store.write_sealed(pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(meta), path)


CELL_FAULTS = {
    "truncated": (_truncate, "not a readable parquet file"),
    "no cdbench metadata": (_strip_metadata, "no cdbench checksum"),
    "one byte flipped": (_flip_byte, "not a readable parquet file|do not match its checksum"),
    "probabilities edited": (_unnormalise, "do not match its checksum"),
    "sealed but invalid": (
        _sealed_out_of_range,
        r"invalid predictions: patient \w+, proba_0 = 2 is outside \[0, 1\]",
    ),
}


@pytest.fixture(scope="module")
def toy(toy_blocks):
    return toy_blocks()


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, toy, smoke_config) -> Path:
    run_dir = tmp_path_factory.mktemp("integrity") / "reference"
    outcome = run_matrix(smoke_config(), *toy, run_dir, progress=False)
    assert outcome.n_failed == 0
    return run_dir


def _quarantined(root: Path) -> list[Path]:
    qdir = root / store.QUARANTINE_DIR
    return sorted(p for p in qdir.rglob("*") if p.is_file() and not p.name.endswith(".reason.txt"))


@pytest.mark.parametrize("fault", list(CELL_FAULTS))
def test_a_bad_cell_file_is_named_set_aside_and_recomputed(
    fault, reference_run, toy, smoke_config, tmp_path, caplog
):
    corrupt, reason = CELL_FAULTS[fault]
    run_dir = Path(shutil.copytree(reference_run, tmp_path / "run"))
    path = store.cell_path(run_dir, CELL)
    corrupt(path)
    bad_bytes = path.read_bytes()
    with caplog.at_level(logging.WARNING, logger="cdbench.store"):
        outcome = run_matrix(smoke_config(), *toy, run_dir, progress=False)
    assert outcome.n_run == 1 and outcome.n_failed == 0  # only the bad cell is recomputed
    (kept,) = _quarantined(run_dir)
    assert kept.read_bytes() == bad_bytes  # set aside, never deleted
    assert kept.parent == run_dir / store.QUARANTINE_DIR / store.CELLS_DIR
    why = kept.with_name(kept.name + ".reason.txt").read_text(encoding="utf-8")
    assert str(path) in why
    assert re.search(reason, why), why
    assert str(path) in caplog.text and "set aside" in caplog.text
    assert store.read_cell(run_dir, CELL) is not None  # the recomputed file passes its check
    for name in (store.PREDICTIONS, store.METRICS):
        assert (run_dir / name).read_bytes() == (reference_run / name).read_bytes(), name


def test_every_cell_file_carries_a_checksum_of_its_bytes(reference_run):
    path = store.cell_path(reference_run, CELL)
    digest = pq.read_metadata(path).metadata[store.CHECKSUM_KEY]
    assert len(digest) == 64 and digest != b"0" * 64
    store.read_sealed(path)  # passes
    tampered = path.read_bytes().replace(digest, digest[:-1] + (b"0" if digest[-1:] != b"0" else b"1"))
    with pytest.raises(store.CorruptFile, match="do not match"):
        store.read_sealed(_write(path.with_name("tampered.parquet"), tampered))


def _write(path: Path, raw: bytes) -> Path:
    path.write_bytes(raw)
    return path


# --- predictions are valid before they are written ---------------------------------------------------
@pytest.mark.parametrize(
    ("proba", "expect"),
    [
        ([[0.2, 0.8], [0.5, 0.5]], None),
        ([[0.2, 0.8], [np.nan, np.nan]], r"patient B, proba_0 = nan is not finite"),  # a test row
        ([[0.2, 0.8], [np.inf, 0.0]], "is not finite"),
        ([[-0.1, 1.1], [0.5, 0.5]], r"patient A, proba_0 = -0.1 is outside \[0, 1\]"),
        ([[0.2, 0.7], [0.5, 0.5]], r"patient A: proba_0, proba_1 sum to 0.9"),
    ],
)
def test_prediction_problem_names_patient_and_column(proba, expect):
    frame = pd.DataFrame({"patient_id": ["A", "B"], "part": "test"})
    frame[["proba_0", "proba_1"]] = proba
    problem = store.prediction_problem(frame)
    if expect is None:
        assert problem is None
    else:
        assert problem is not None and re.search(expect, problem), problem


def test_a_training_row_without_a_prediction_is_allowed_but_not_a_test_row():
    frame = pd.DataFrame({"patient_id": ["A", "B"], "part": ["train_oof", "test"]})
    frame[["proba_0", "proba_1"]] = [[np.nan, np.nan], [0.3, 0.7]]
    assert store.prediction_problem(frame) is None  # the training patient lacks the modality
    assert "patient A" in store.prediction_problem(frame.assign(part="test"))


def test_invalid_model_output_is_a_failed_cell_never_a_prediction(toy, smoke_config, tmp_path, monkeypatch):
    import benchmarks.experiment.cell as cell_module

    real = cell_module.fit_predict_cell

    def unnormalised(*args, **kwargs):
        fit = real(*args, **kwargs)
        if kwargs["modalities"] == ["pro"]:
            fit.proba = fit.proba * 0.5
        return fit

    monkeypatch.setattr(cell_module, "fit_predict_cell", unnormalised)
    config = smoke_config(modality_sets=["imaging", "pro"], fusions=["single"])
    outcome = run_matrix(config, *toy, tmp_path, progress=False)
    cells = pd.read_parquet(tmp_path / store.CELLS).set_index("modality_set")
    bad = cells.loc[["pro"]]
    assert outcome.n_failed == len(bad) == config.folds
    assert (bad["status"] == "failed").all()
    assert (
        bad["error"]
        .str.contains(r"invalid predictions: patient \w+: proba_0, proba_1 sum to 0.5, not 1")
        .all()
    )
    predictions = pd.read_parquet(tmp_path / store.PREDICTIONS)
    assert "pro" not in set(predictions["modality_set"]) and len(predictions)
    assert store.prediction_problem(predictions) is None
    with pytest.raises(ValueError, match="refusing to write invalid predictions"):
        frame = pd.DataFrame({"patient_id": ["A"], "part": "test", "proba_0": [0.9], "proba_1": [0.9]})
        store.write_cell(tmp_path, "x/y", {"status": "ok"}, frame)


# --- the feature cache --------------------------------------------------------------------------------
def _set_feature(path: Path) -> None:
    """Still valid parquet with cdbench's metadata, but one feature set to -12345."""

    def edit(frame: pd.DataFrame) -> None:
        frame.iloc[0, frame.columns.get_loc("cdai")] = -12345.0

    _rewrite(path, edit)


CACHE_FAULTS = {
    "truncated": (_truncate, "not a readable parquet file"),
    "no cdbench checksum": (lambda p: pd.read_parquet(p).to_parquet(p), "no cdbench checksum"),
    "a feature set to -12345": (_set_feature, "do not match its checksum"),
}


@pytest.fixture(scope="module")
def features_run(tmp_path_factory, valid_cohort, pro_only_toml) -> Path:
    run_dir = tmp_path_factory.mktemp("cache") / "run"
    argv = ["features", "--cohort", str(valid_cohort), "--out", str(run_dir), "--config", str(pro_only_toml)]
    assert main([*argv, "--profile", "smoke"]) == 0
    return run_dir


def _cache_table(run_dir: Path) -> Path:
    (path,) = (run_dir / store.CACHE_DIR / "pro_indices").glob("*.parquet")
    return path


@pytest.mark.parametrize("fault", list(CACHE_FAULTS))
def test_a_bad_cache_file_is_named_set_aside_and_recomputed(
    fault, features_run, valid_cohort, pro_only_toml, tmp_path, caplog
):
    corrupt, reason = CACHE_FAULTS[fault]
    run_dir = Path(shutil.copytree(features_run, tmp_path / "run"))
    path = _cache_table(run_dir)
    reference = store.read_sealed(_cache_table(features_run)).to_pandas()
    corrupt(path)
    argv = ["features", "--cohort", str(valid_cohort), "--out", str(run_dir), "--config", str(pro_only_toml)]
    with caplog.at_level(logging.WARNING, logger="cdbench.store"):
        assert main([*argv, "--profile", "smoke"]) == 0
    assert str(path) in caplog.text and "set aside" in caplog.text
    (kept,) = _quarantined(run_dir / store.CACHE_DIR)
    why = kept.with_name(kept.name + ".reason.txt").read_text(encoding="utf-8")
    assert re.search(reason, why), why
    summary = pd.read_parquet(run_dir / store.FEATURE_SUMMARY).iloc[0]
    assert summary["cached"] == 0 and summary["computed"] == len(reference)  # every row recomputed
    again = store.read_sealed(path).to_pandas()
    pd.testing.assert_frame_equal(again, reference)
    assert not (again.select_dtypes("number") == -12345).any().any()
