"""Consolidation memory: the peak resident memory and time of rebuilding a run's result tables from its
cell files, streamed (``store.consolidate``: one model in memory at a time) against the baseline that
reads every cell and concatenates in memory (what cdbench did before), in the same run.

    python -m benchmarks.perf.bench_consolidate [--patients 4000] [--models 258] [--folds 5] [--quick]

Synthetic cell files of the shape of the quick profile (258 models x 5 folds = 1,290 cells; each fold's
test part is a fifth of the patients; binary probabilities; a third of the models with robustness rows,
8 withheld sets x 4 fractions) are written once to a temporary folder. Each variant then runs in a fresh
process that first imports the libraries, resets its peak (``VmHWM``, ``/proc/self/clear_refs``), builds
the tables and the metrics, and reports its peak rise over that start. Both must write equal tables.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.perf.bench_scale import peak_mb, reset_peak, rss_mb

ROBUST_SETS, ROBUST_FRACTIONS = 8, 4


def write_cells(run_dir: Path, patients: int, models: int, folds: int, seed: int = 0) -> list[str]:
    """Cell files of ``models`` binary models x ``folds`` folds over ``patients`` patients; their ids."""
    from benchmarks import store

    rng = np.random.default_rng(seed)
    ids = np.array([f"P{i:05d}" for i in range(patients)])
    cell_ids = []
    for m in range(models):
        model_id = f"task{m % 5}/set{m // 5:02d}/enet/{'early' if m % 3 else 'late_mean'}"
        for f in range(folds):
            test = ids[f::folds]
            p1 = rng.random(len(test))
            frame = pd.DataFrame({"patient_id": test, "part": "test", "y_true": rng.integers(0, 2, len(test)),
                                  "pattern": "imaging+text", "proba_0": 1 - p1, "proba_1": p1, "y_score": p1})  # fmt: skip
            if m % 3 == 0:
                frame = frame.assign(withheld=None, fraction=np.nan, masked=False)
                robust = [frame.assign(part="robust", withheld=f"w{w}", fraction=(k + 1) / ROBUST_FRACTIONS,
                                       masked=True) for w in range(ROBUST_SETS) for k in range(ROBUST_FRACTIONS)]  # fmt: skip
                frame = pd.concat([frame, *robust], ignore_index=True)
            cell_id = f"{model_id}/r0f{f}"
            meta = {"cell_id": cell_id, "model_id": model_id, "task": model_id.split("/")[0],
                    "modality_set": model_id.split("/")[1], "estimator": "enet", "fusion": model_id.split("/")[3],
                    "repeat": 0, "fold": f, "status": "ok"}  # fmt: skip
            store.write_cell(run_dir, cell_id, meta, frame)
            cell_ids.append(cell_id)
    return cell_ids


def in_memory_tables(
    run_dir: Path, cell_ids: list[str], endpoints: dict[str, str]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(cells, predictions, robustness) built the plain way: every ok cell's rows read and concatenated at
    once, then sorted (what ``store.consolidate`` must equal)."""
    from benchmarks import store

    tests, robust, metas = [], [], []
    for cell_id in sorted(cell_ids):
        meta, frame = store.read_cell(run_dir, cell_id)
        metas.append(meta)
        if meta["status"] != "ok":
            continue
        axes = {a: meta.get(a, store.AXIS_DEFAULTS.get(a)) for a in store.AXES} | {
            "endpoint": endpoints[meta["task"]]
        }
        for part, out in (("test", tests), ("robust", robust)):
            rows = frame[frame["part"] == part].drop(columns="part")
            rows = (
                rows.drop(columns=[c for c in store.ROBUSTNESS_COLUMNS if c in rows])
                if part == "test"
                else rows
            )
            if len(rows):
                out.append(pd.concat([pd.DataFrame(axes, index=rows.index), rows], axis=1))
    cells = pd.DataFrame(metas).sort_values("cell_id").reset_index(drop=True)
    preds = pd.concat(tests, ignore_index=True).sort_values(["cell_id", "patient_id"]).reset_index(drop=True)
    rob = pd.concat(robust, ignore_index=True)
    rob = rob.sort_values(["cell_id", "withheld", "fraction", "patient_id"]).reset_index(drop=True)
    return cells, preds, rob


def in_memory(run_dir: Path, cell_ids: list[str], endpoints: dict[str, str]) -> pd.DataFrame:
    """The baseline: the tables built in memory (``in_memory_tables``), written, then scored."""
    from benchmarks import store
    from benchmarks.experiment.scoring import metrics_table, model_metrics

    cells, preds, rob = in_memory_tables(run_dir, cell_ids, endpoints)
    store.write_table(cells, run_dir / store.CELLS)
    store.write_table(preds, run_dir / store.PREDICTIONS)
    store.write_table(rob, run_dir / store.ROBUSTNESS)
    parts = [model_metrics(g, "binary") for _, g in preds.groupby("model_id", sort=False)]
    return metrics_table(parts, sorted(endpoints))


def streamed(run_dir: Path, cell_ids: list[str], endpoints: dict[str, str]) -> pd.DataFrame:
    """``store.consolidate`` with the metrics scored model by model, as the runner does."""
    from benchmarks import store
    from benchmarks.experiment.scoring import metrics_table, model_metrics

    parts: list[pd.DataFrame] = []
    store.consolidate(
        run_dir, cell_ids, endpoints, on_model=lambda g: parts.append(model_metrics(g, "binary"))
    )
    return metrics_table(parts, sorted(endpoints))


def _child(variant: str, run_dir: Path, out_dir: Path) -> None:
    import shutil

    from benchmarks import store

    shutil.copytree(run_dir / store.CELLS_DIR, out_dir / store.CELLS_DIR)
    cell_ids = json.loads((run_dir / "ids.json").read_text())
    endpoints = {f"task{i}": "ses_cd" for i in range(5)}
    start = rss_mb()
    exact = reset_peak()
    t = time.perf_counter()
    metrics = (streamed if variant == "streamed" else in_memory)(out_dir, cell_ids, endpoints)
    seconds = time.perf_counter() - t
    store.write_table(metrics, out_dir / store.METRICS)
    print(json.dumps({"seconds": seconds, "start_mb": start, "peak_mb": peak_mb(), "exact_peak": exact}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="consolidation memory: streamed vs in memory")
    parser.add_argument("--patients", type=int, default=4000)
    parser.add_argument("--models", type=int, default=258)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1,000 patients, 60 models")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return 0
    patients, models = (1000, 60) if args.quick else (args.patients, args.models)
    from benchmarks import store

    with tempfile.TemporaryDirectory(prefix="cdbench-consolidate-") as tmp:
        src = Path(tmp) / "src"
        t = time.perf_counter()
        ids = write_cells(src, patients, models, args.folds)
        (src / "ids.json").write_text(json.dumps(ids))
        print(f"{len(ids)} cells over {patients} patients written in {time.perf_counter() - t:.0f} s")
        results = {}
        for variant in ("in_memory", "streamed"):
            out = Path(tmp) / variant
            cmd = [
                sys.executable,
                "-m",
                "benchmarks.perf.bench_consolidate",
                "--child",
                variant,
                str(src),
                str(out),
            ]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            results[variant] = json.loads(done.stdout.strip().splitlines()[-1])
        for name in (store.PREDICTIONS, store.ROBUSTNESS, store.CELLS, store.METRICS):
            a = pd.read_parquet(Path(tmp) / "in_memory" / name)
            b = pd.read_parquet(Path(tmp) / "streamed" / name)
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        rows = len(pd.read_parquet(Path(tmp) / "streamed" / store.PREDICTIONS, columns=["y_true"]))
    print(f"predictions: {rows:,} rows; the tables of both variants are equal")
    for variant, r in results.items():
        rise = r["peak_mb"] - r["start_mb"]
        print(
            f"{variant:<10} {r['seconds']:6.1f} s   peak {r['peak_mb']:7.0f} MB   rise over start {rise:7.0f} MB"
        )
    base, new = results["in_memory"], results["streamed"]
    ratio = (new["peak_mb"] - new["start_mb"]) / max(base["peak_mb"] - base["start_mb"], 1.0)
    print(f"streamed / in memory: peak rise x{ratio:.2f}, time x{new['seconds'] / base['seconds']:.2f}")
    if not (base["exact_peak"] and new["exact_peak"]):
        print("note: /proc/self/clear_refs not writable; peaks include the import phase")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
