"""Interrupted runs: SIGKILL in every stage, and a full disk while writing (issue 12, item 11).

The kill points are drawn from a seeded generator (``CDBENCH_FAULT_SEED`` picks another draw), each one a
count of files a stage has finished, so the kill always lands inside that stage.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from benchmarks import store
from benchmarks.experiment.runner import run_matrix
from benchmarks.run import main
from tests import REPO_ROOT

SEED = int(os.environ.get("CDBENCH_FAULT_SEED", "12"))
N_PATIENTS = "20"


def _all(cli_command, run_dir: Path, toml: Path) -> list[str]:
    return cli_command(
        "all",
        "--out",
        str(run_dir),
        "--n",
        N_PATIENTS,
        "--profile",
        "smoke",
        "--config",
        str(toml),
        "--no-pdf",
    )


def _count(pattern: str):
    return lambda run_dir: sum(1 for p in run_dir.glob(pattern) if not store.is_temporary(p.name))


# stage -> (progress counter, how many of its files may be done at the kill, the file it writes last)
STAGES = {
    "generate": (_count("synthetic/cohort/images/*/*.nii.gz"), (1, 16), "synthetic/generated.json"),
    "features": (_count("cache/*/*.parquet"), (1, 2), store.FEATURE_SUMMARY),
    "matrix": (_count("cells/*.parquet"), (1, 14), store.PREDICTIONS),
    "report": (_count("report/*/*"), (1, 12), "report/summary.md"),
}


def _kill_when(cmd: list[str], run_dir: Path, count, at: int, timeout: float = 240) -> None:
    """Start ``cmd``, SIGKILL its whole process group once ``count(run_dir) >= at``."""
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and proc.poll() is None and count(run_dir) < at:
            time.sleep(0.002)
        assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before {at} files were written"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_run_toml, cli_command) -> Path:
    run_dir = tmp_path_factory.mktemp("interrupts") / "reference"
    subprocess.run(_all(cli_command, run_dir, tiny_run_toml), cwd=REPO_ROOT, check=True, capture_output=True)
    return run_dir


def test_sigkill_in_every_stage_then_rerun_gives_identical_results(
    reference, tiny_run_toml, cli_command, tmp_path, temporary_files
):
    rng = random.Random(SEED)
    run_dir = tmp_path / "killed"
    cmd = _all(cli_command, run_dir, tiny_run_toml)
    for stage, (count, (low, high), last) in STAGES.items():  # each rerun resumes, then is killed again
        at = rng.randint(low, min(high, count(reference) - 1))
        _kill_when(cmd, run_dir, count, at)
        assert not (run_dir / last).exists(), f"the kill at {at} files missed the {stage} stage"
    subprocess.run(cmd, cwd=REPO_ROOT, check=True, capture_output=True)
    for name in (store.PREDICTIONS, store.METRICS):
        assert (run_dir / name).read_bytes() == (reference / name).read_bytes(), name
    assert not temporary_files(run_dir)  # the leftovers of killed writers are removed
    assert not (run_dir / store.QUARANTINE_DIR).exists()  # no file was ever torn
    assert (run_dir / store.LOCK_FILE).read_text(encoding="utf-8") == ""


# --- a full disk ------------------------------------------------------------------------------------------
def _disk_fills_at(monkeypatch, folder: str, nth: int) -> list[Path]:
    """From the ``nth`` write of a file under ``folder`` on, write half of it and raise ENOSPC."""
    real = Path.write_bytes
    calls: list[Path] = []

    def write_bytes(self: Path, data: bytes) -> int:
        if self.parent.name == folder and store.is_temporary(self.name):
            calls.append(self)
            if len(calls) >= nth:
                real(self, data[: len(data) // 2])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    return calls


def test_disk_full_while_writing_a_cell_leaves_nothing_partial(
    toy_blocks, smoke_config, tmp_path, monkeypatch, temporary_files
):
    toy, config = toy_blocks(), smoke_config()
    reference = tmp_path / "reference"
    run_matrix(config, *toy, reference, progress=False)
    run_dir = tmp_path / "full"
    with monkeypatch.context() as m:
        calls = _disk_fills_at(m, store.CELLS_DIR, nth=random.Random(SEED).randint(2, 6))
        with pytest.raises(store.StorageError, match="no space left on the device while writing") as info:
            run_matrix(config, *toy, run_dir, progress=False)
    failed_at = calls[-1].name.split(".")[1]  # the cell whose write failed
    assert f"{store.CELLS_DIR}/{failed_at}.parquet" in str(info.value)
    assert not temporary_files(run_dir)
    written = sorted((run_dir / store.CELLS_DIR).glob("*.parquet"))
    assert len(written) == len(calls) - 1 and not (run_dir / store.PREDICTIONS).exists()
    for path in written:  # every file left is whole and passes its check
        store.read_sealed(path)
    outcome = run_matrix(config, *toy, run_dir, progress=False)
    assert outcome.n_skipped == len(written) and outcome.n_failed == 0
    for name in (store.PREDICTIONS, store.METRICS):
        assert (run_dir / name).read_bytes() == (reference / name).read_bytes(), name


def test_disk_full_in_the_command_line_is_a_message_and_exit_1(
    valid_cohort, pro_only_toml, tmp_path, monkeypatch, capsys, temporary_files
):
    run_dir = tmp_path / "run"
    argv = ["features", "--cohort", str(valid_cohort), "--out", str(run_dir)]
    argv += ["--config", str(pro_only_toml), "--profile", "smoke"]
    with monkeypatch.context() as m:
        _disk_fills_at(m, "pro_indices", nth=1)
        assert main(argv) == 1
    err = capsys.readouterr().err
    assert "cdbench: error: no space left on the device while writing " in err and "Traceback" not in err
    assert f"{run_dir / store.CACHE_DIR / 'pro_indices'}/" in err and "rerun" in err
    assert not temporary_files(run_dir)
    assert main(argv) == 0
