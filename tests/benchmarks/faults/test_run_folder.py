"""User files are never touched and one run writes a folder at a time (issue 12, items 1, 4 and 5).

Each case ends in one clear message naming the folder, a non-zero exit (2: a folder the run cannot use)
and no traceback; the folders involved are byte-for-byte unchanged.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import lock, store
from benchmarks.experiment.runner import run_matrix
from benchmarks.run import main
from tests import REPO_ROOT


def _refused(argv: list[str], capsys) -> str:
    """Run the command line in-process; it must exit 2 with a message and no traceback."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "cdbench: error: " in err and "Traceback" not in err
    return err


def _features_argv(cohort: Path, out: Path, toml: Path) -> list[str]:
    return [
        "features",
        "--cohort",
        str(cohort),
        "--out",
        str(out),
        "--config",
        str(toml),
        "--profile",
        "smoke",
    ]


# --- the cohort and user folders are never written ------------------------------------------------------
def test_out_at_or_inside_the_cohort_is_refused(valid_cohort, pro_only_toml, tree_hashes, capsys):
    before = tree_hashes(valid_cohort)
    for out in (valid_cohort, valid_cohort / "runs" / "mine"):
        for command in ("all", "features", "matrix"):
            argv = [command, "--cohort", str(valid_cohort), "--out", str(out), "--config", str(pro_only_toml)]
            err = _refused(argv, capsys)
            assert f"{out} is the cohort folder {valid_cohort} or inside it" in err
    argv = _features_argv(valid_cohort, valid_cohort.parent / "elsewhere", pro_only_toml)
    err = _refused([*argv, "--cache", str(valid_cohort / "cache")], capsys)
    assert f"{valid_cohort / 'cache'} is the cohort folder {valid_cohort} or inside it" in err
    assert tree_hashes(valid_cohort) == before
    assert not (valid_cohort / "runs").exists()


def test_out_at_a_cohort_without_cohort_flag_is_refused(valid_cohort, tree_hashes, capsys):
    """``all`` without --cohort generates into --out: a user's cohort folder there is not cdbench's."""
    before = tree_hashes(valid_cohort)
    err = _refused(["all", "--out", str(valid_cohort), "--profile", "smoke"], capsys)
    assert "was not created by cdbench" in err and "patients.csv" in err
    assert tree_hashes(valid_cohort) == before


def test_out_with_unrelated_files_is_refused(tmp_path, valid_cohort, pro_only_toml, tree_hashes, capsys):
    out = tmp_path / "mine"
    (out / "report").mkdir(parents=True)
    (out / "report" / "summary.md").write_text("my notes", encoding="utf-8")
    for name in ("tasks.json", "predictions.parquet", "notes.txt"):
        (out / name).write_text("mine", encoding="utf-8")
    before = tree_hashes(out)
    err = _refused(_features_argv(valid_cohort, out, pro_only_toml), capsys)
    assert f"{out} is not empty and was not created by cdbench" in err
    assert "notes.txt" in err and "report/" in err and "give a new or empty folder" in err
    assert tree_hashes(out) == before


def test_out_at_an_existing_file_is_refused(tmp_path, capsys):
    path = tmp_path / "results.txt"
    path.write_text("mine", encoding="utf-8")
    err = _refused(["all", "--out", str(path), "--profile", "smoke"], capsys)
    assert f"{path} is a file, not a folder" in err
    assert path.read_text(encoding="utf-8") == "mine"


def test_generate_never_replaces_a_file_it_did_not_write(tmp_path, tree_hashes, capsys):
    out = tmp_path / "gen"
    out.mkdir()
    (out / "ground_truth.csv").write_text("patient_id\nMINE\n", encoding="utf-8")
    before = tree_hashes(out)
    err = _refused(["generate", "--out", str(out), "--n", "3"], capsys)
    assert "ground_truth.csv" in err and "was not created by cdbench" in err
    assert tree_hashes(out) == before
    # its own folder it may write again, and a run folder is not a generator folder
    fresh = tmp_path / "fresh"
    assert main(["generate", "--out", str(fresh), "--n", "3"]) == 0
    assert main(["generate", "--out", str(fresh), "--n", "4", "--seed", "2"]) == 0
    assert len(pd.read_csv(fresh / "ground_truth.csv")) == 4
    run = store.claim_folder(tmp_path / "run", "run")
    capsys.readouterr()
    err = _refused(["generate", "--out", str(run), "--n", "3"], capsys)
    assert "is a cdbench run folder, not a synthetic folder" in err


def test_report_checks_the_folder_before_creating_anything(tmp_path, capsys):
    missing = tmp_path / "no" / "such" / "run"
    assert "does not exist" in _refused(["report", "--run", str(missing)], capsys)
    assert not (tmp_path / "no").exists()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "predictions.parquet").write_text("mine", encoding="utf-8")
    assert "is not a cdbench run folder" in _refused(["report", "--run", str(foreign)], capsys)
    assert sorted(p.name for p in foreign.iterdir()) == ["predictions.parquet"]
    empty_run = store.claim_folder(tmp_path / "empty_run", "run")
    assert "holds no results yet" in _refused(["report", "--run", str(empty_run)], capsys)
    assert not (empty_run / store.REPORT_DIR).exists()


def test_report_on_a_damaged_result_table_names_it(tmp_path, capsys):
    run_dir = store.claim_folder(tmp_path / "run", "run")
    (run_dir / store.PREDICTIONS).write_bytes(b"PAR1 torn")
    err = _refused(["report", "--run", str(run_dir)], capsys)
    assert f"{run_dir / store.PREDICTIONS} is damaged" in err and "to rebuild it from the cell files" in err


def test_a_cache_folder_follows_the_same_rules(tmp_path, valid_cohort):
    user = tmp_path / "user"
    user.mkdir()
    (user / "data.csv").write_text("x", encoding="utf-8")
    with pytest.raises(store.FolderError, match="was not created by cdbench"):
        store.FeatureCache(user)
    with pytest.raises(store.FolderError, match="cohort folder"):
        store.FeatureCache(valid_cohort / "cache", cohort=valid_cohort)
    with pytest.raises(store.FolderError, match="is a cdbench run folder, not a cache folder"):
        store.FeatureCache(store.claim_folder(tmp_path / "run", "run"))
    cache = store.FeatureCache(tmp_path / "cache")
    assert json.loads((cache.root / store.MARKER).read_text(encoding="utf-8"))["kind"] == "cache"
    assert store.FeatureCache(tmp_path / "cache").root == cache.root  # its own folder is reused


# --- one writer per run folder ----------------------------------------------------------------------------
HOLDER = """
import sys, time
from benchmarks import store
with store.open_run(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def _start_holder(run_dir: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_dir)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_on_a_held_folder_stops_at_once_naming_the_holder(
    tmp_path, valid_cohort, pro_only_toml, toy_blocks, smoke_config, cli, capsys
):
    run_dir = tmp_path / "run"
    holder = _start_holder(run_dir)
    try:
        t0 = time.perf_counter()
        err = _refused(_features_argv(valid_cohort, run_dir, pro_only_toml), capsys)
        assert time.perf_counter() - t0 < 5
        assert f"run folder {run_dir} is in use by another cdbench run" in err
        assert f"process {holder.pid} on host {socket.gethostname()}, started 20" in err
        with pytest.raises(lock.LockHeld) as info:  # run_matrix called directly takes the lock too
            run_matrix(smoke_config(), *toy_blocks(), run_dir, progress=False)
        assert info.value.holder["pid"] == holder.pid
        out = cli("all", "--out", str(run_dir), "--profile", "smoke")  # a second `all`, as in the issue
        assert out.returncode == 2 and "in use by another cdbench run" in out.stderr
        assert "Traceback" not in out.stderr
    finally:
        holder.kill()
        holder.wait()
    assert sorted(p.name for p in run_dir.iterdir()) == sorted([store.LOCK_FILE, store.MARKER])


def test_a_killed_runs_lock_is_taken_over_and_its_leftovers_removed(tmp_path, caplog):
    run_dir = tmp_path / "run"
    holder = _start_holder(run_dir)
    leftover = run_dir / store.CELLS_DIR / f".x.{holder.pid}.1.tmp.parquet"
    leftover.parent.mkdir()
    leftover.write_bytes(b"half a file")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with caplog.at_level(logging.WARNING, logger="cdbench.lock"), store.open_run(run_dir):
        record = json.loads((run_dir / store.LOCK_FILE).read_text(encoding="utf-8"))
        assert record["pid"] == os.getpid()
    assert (
        f"taking over the lock of a run that ended without releasing it (process {holder.pid}" in caplog.text
    )
    assert not leftover.exists()
    assert (run_dir / store.LOCK_FILE).read_text(encoding="utf-8") == ""  # released cleanly


def test_the_lock_is_reentrant_within_a_process(tmp_path, toy_blocks, smoke_config):
    config = smoke_config(modality_sets=["pro"], fusions=["single"])
    with store.open_run(tmp_path / "run") as run_dir:
        outcome = run_matrix(config, *toy_blocks(), run_dir, progress=False)  # takes it again
        assert outcome.n_failed == 0
        assert json.loads((run_dir / store.LOCK_FILE).read_text(encoding="utf-8"))["pid"] == os.getpid()
    assert (run_dir / store.LOCK_FILE).read_text(encoding="utf-8") == ""


# --- a feature cache shared by concurrent runs --------------------------------------------------------
WRITER = """
import sys, time
from pathlib import Path
import pandas as pd
from benchmarks.store import FeatureCache
root, tag, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
cache = FeatureCache(root)
while not go.exists():
    time.sleep(0.005)
rows = {}
for i in range(12):  # as the engine does: each flush writes every row this process has
    rows[f"{tag}{i:02d}"] = {"_fingerprint": f"fp{i}", "_error": None, "value": float(i)}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "patient_id"
    cache.write("shared", "k", frame.sort_index())
"""


def test_concurrent_runs_sharing_a_cache_lose_no_rows(tmp_path):
    root, go = tmp_path / "cache", tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(root), tag, str(go)], cwd=REPO_ROOT)
        for tag in ("A", "B", "C")
    ]
    time.sleep(1.0)
    go.touch()
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    table = store.read_sealed(root / "shared" / "k.parquet").to_pandas()  # whole and checksummed
    assert sorted(table.index) == sorted(f"{t}{i:02d}" for t in "ABC" for i in range(12))
    assert not (root / store.QUARANTINE_DIR).exists()
    assert not [p for p in root.rglob("*") if store.is_temporary(p.name)]
