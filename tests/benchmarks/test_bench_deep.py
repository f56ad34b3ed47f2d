"""``benchmarks.perf.bench_deep`` measures what it says: every encoder trains the asked epochs on the
patients, its seconds per epoch and peak memory are positive, and the printed table has a row per encoder."""

from __future__ import annotations

import numpy as np

from benchmarks.perf import bench_deep


def test_measure_reports_each_encoder_on_cpu() -> None:
    n, epochs = 20, 2
    raw = bench_deep.fake_raw(n, tokens=16)
    ids = [f"P{i:04d}" for i in range(n)]
    base, rows = bench_deep.measure(raw, ids, epochs, ["cpu"], list(bench_deep.ENCODERS))
    assert base > 0
    assert [r["encoder"] for r in rows] == list(bench_deep.ENCODERS)
    for r in rows:
        assert r["device"] == "cpu" and r["epochs"] == epochs, r
        assert r["n_train"] == n, r  # every patient has every modality in the fake arrays
        assert r["s_per_epoch"] > 0 and r["fit_s"] >= r["s_per_epoch"], r
        assert np.isfinite(r["peak_mb"]) and r["peak_mb"] > 0, r


def test_main_prints_a_row_per_encoder(capsys) -> None:
    assert bench_deep.main(["--n", "12", "--epochs", "1", "--cpu-only", "--encoders", "pro,attention"]) == 0
    out = capsys.readouterr().out
    assert "baseline TorchMLPClassifier" in out
    lines = [line.split() for line in out.splitlines()]
    rows = {cells[0]: cells for cells in lines if cells and cells[0] in ("pro", "attention")}
    assert set(rows) == {"pro", "attention"}
    assert all(cells[1] == "cpu" and float(cells[3]) > 0 for cells in rows.values())
