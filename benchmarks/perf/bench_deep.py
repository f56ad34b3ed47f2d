"""Deep-model speed: seconds per epoch and peak memory of each encoder (imaging CNN, text top layer, diary
GRU, attention fusion), on CPU (1 thread) and on CUDA when present.

Inputs are in-memory arrays of the raw-input shapes (``features.raw``: ROI (n, 2, 32, 32, 32), report
states float16 (n, 3, 128, 384) with 1-3 full-length reports a patient as in the synthetic cohort, diary
(n, 7, 3)) and random labels, or a pickled ``features.raw.RawInputs`` (``--raw``; its patients, random
labels). Each fit runs a fixed number of epochs on 80% of the patients (early stopping off, the 20%
validation pass on, augmentation on, as in the benchmark). The baseline measured in the same run is the
existing ``TorchMLPClassifier`` on a fixed-feature matrix of the same patients (64 columns), epoch for
epoch, so the printed ratios are comparable across machines. Peak memory is the process's resident
memory sampled during the fit (``peak``) and its rise over the fit's start (``rise``); on CUDA, the
peak of torch's allocations.

Usage: python -m benchmarks.perf.bench_deep [--n 320] [--epochs 3] [--quick] [--raw RAW.pkl] [--cpu-only]
"""

from __future__ import annotations

import argparse
import os
import pickle
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ENCODERS = ("imaging", "text", "pro", "attention")


class ArrayRaw:
    """In-memory raw inputs with the ``features.raw.RawInputs`` contract (``info``, ``has``, ``batch``)."""

    def __init__(self, ids: Sequence[str], arrays: dict[str, dict[str, np.ndarray]], info: dict) -> None:
        self.info = info
        self.arrays = arrays
        self._pos = {p: i for i, p in enumerate(ids)}

    def __deepcopy__(self, memo: dict) -> ArrayRaw:
        return self

    def modalities(self) -> list[str]:
        return list(self.info)

    def has(self, modality: str, patient_ids: Sequence[str]) -> np.ndarray:
        return np.array([str(p) in self._pos for p in patient_ids], dtype=bool)

    def batch(self, modality: str, patient_ids: Sequence[str]) -> dict[str, np.ndarray]:
        rows = np.array([self._pos[str(p)] for p in patient_ids], dtype=int)
        out = {k: v[rows] for k, v in self.arrays[modality].items()}
        out["present"] = np.ones(len(rows), dtype=bool)
        return out


def fake_raw(n: int, seed: int = 0, reports: int = 3, tokens: int = 128, grid: int = 32) -> ArrayRaw:
    """Random arrays of the raw-input shapes for ``n`` patients (ids P0000...)."""
    from features.text.extractors import default_model_path

    rng = np.random.default_rng(seed)
    ids = [f"P{i:04d}" for i in range(n)]
    roi = rng.normal(0, 0.5, size=(n, 2, grid, grid, grid)).astype(np.float32)
    roi[:, 1] = (roi[:, 1] > 0.4).astype(np.float32)
    used = np.zeros((n, reports), dtype=bool)
    counts = rng.choice([1, 2, 3], size=n, p=[0.1, 0.65, 0.25]).clip(max=reports)  # ~2.2 a patient
    for i, c in enumerate(counts):
        used[i, :c] = True
    hidden = (rng.normal(size=(n, reports, tokens, 384)) * used[:, :, None, None]).astype(np.float16)
    diary = rng.poisson(3, size=(n, 7, 3)).astype(np.float32)
    diary[rng.random((n, 7)) < 0.15] = np.nan
    arrays = {
        "imaging": {"roi": roi, "ct": (rng.random(n) < 0.5).astype(np.float32)},
        "text": {"hidden": hidden, "attention": np.repeat(used[:, :, None], tokens, axis=2), "reports": used},
        "pro": {"diary": diary},
    }
    info = {
        "imaging": {"grid": grid},
        "text": {
            "frozen_layers": 5,
            "max_tokens": tokens,
            "max_reports": reports,
            "model": str(default_model_path()),
        },
        "pro": {},
    }
    return ArrayRaw(ids, arrays, info)


def design(ids: Sequence[str], raw: Any, seed: int = 0) -> pd.DataFrame:
    """A design matrix of ``ids`` whose blocks say who has each modality (pro: 8 static features)."""
    rng = np.random.default_rng(seed)
    n = len(ids)
    X = pd.DataFrame(index=pd.Index(list(ids), name="patient_id"))
    for m, k in (("imaging", 2), ("text", 2), ("pro", 8)):
        has = np.asarray(raw.has(m, list(ids)), dtype=bool) if m in raw.info else np.zeros(n, bool)
        for j in range(k):
            X[f"{m}:f{j}"] = np.where(has, rng.normal(size=n), np.nan)
    return X


def _fit(kind: str, X: pd.DataFrame, y: np.ndarray, raw: Any, epochs: int, device: str) -> dict[str, Any]:
    from models.deep import AttentionFusionClassifier, DeepClassifier, using_raw

    params = dict(
        max_epochs=epochs,
        patience=epochs + 1,
        device=device,
        progress=False,
        random_state=0,
        val_fraction=0.2,
    )
    if kind == "attention":
        clf: Any = AttentionFusionClassifier(**params)
        Xk = X
    else:
        clf = DeepClassifier(**params)
        Xk = X[[c for c in X.columns if c.startswith(f"{kind}:")]]
    start_rss = _rss_mb()
    t0 = time.perf_counter()
    with using_raw(raw):
        clf.fit(Xk, y)
        fit_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        clf.predict_proba(Xk)
        predict_s = time.perf_counter() - t1
    per_epoch = clf.epoch_seconds_[1:] or clf.epoch_seconds_  # the first epoch carries one-off warm-up
    return {
        "encoder": kind,
        "device": clf.device_,
        "n_train": int(getattr(clf, "n_train_", len(Xk))),
        "epochs": int(clf.n_epochs_),
        "s_per_epoch": float(np.median(per_epoch)),
        "first_epoch_s": float(clf.epoch_seconds_[0]),
        "fit_s": fit_s,
        "predict_s": predict_s,
        "peak_mb": float(clf.peak_memory_mb_),
        "rise_mb": float(clf.peak_memory_mb_ - start_rss),
        "gpu_peak_mb": float(getattr(clf, "gpu_peak_memory_mb_", float("nan"))),
    }


def _baseline(n: int, epochs: int, seed: int = 0) -> float:
    """Median seconds per epoch of TorchMLPClassifier on an (n, 64) matrix, ``epochs`` epochs."""
    from models.torch_mlp import TorchMLPClassifier, seeded_torch, train_network

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 64)).astype(np.float32)
    y = (rng.random(n) < 0.5).astype(np.int64)
    import torch

    mlp = TorchMLPClassifier(random_state=0)
    times: list[float] = []
    device = torch.device("cpu")
    with seeded_torch(0, device):
        net = mlp._build(64, 2)
        train_network(
            net, [torch.tensor(X)], y, forward=lambda m, b, t: m(b[0]), lr=1e-3, weight_decay=1e-4,
            batch_size=mlp.batch_size, max_epochs=max(epochs, 5) * 4, patience=10**6, val_fraction=0.2,
            seed=0, device=device, epoch_seconds=times,
        )  # fmt: skip
    return float(np.median(times[1:]))


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def measure(
    raw: Any, ids: Sequence[str], epochs: int, devices: Sequence[str], encoders: Sequence[str]
) -> tuple[float, list[dict[str, Any]]]:
    """The baseline's seconds per epoch and one row per (device, encoder), with one torch thread on CPU;
    random balanced labels."""
    from models.torch_mlp import torch_threads

    X = design(ids, raw)
    y = np.random.default_rng(1).permutation(np.arange(len(ids)) % 2)
    with torch_threads(1):
        base = _baseline(len(ids), epochs)
        rows = [_fit(kind, X, y, raw, epochs, device) for device in devices for kind in encoders]
    return base, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="deep-model speed and memory per encoder")
    parser.add_argument("--n", type=int, default=320, help="patients (default 320: a 400-patient outer fold)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="160 patients, 2 epochs (under ~2 minutes)")
    parser.add_argument("--raw", type=Path, default=None, help="a pickled features.raw.RawInputs to time on")
    parser.add_argument("--cpu-only", action="store_true")
    parser.add_argument("--encoders", default=",".join(ENCODERS))
    args = parser.parse_args(argv)
    n, epochs = (160, 2) if args.quick else (args.n, args.epochs)
    import torch

    t_setup = time.perf_counter()
    if args.raw is not None:
        with open(args.raw, "rb") as f:
            raw = pickle.load(f)
        ids = sorted({p for m in raw.modalities() for p in raw.paths[m]})[:n]
        source = f"{args.raw} ({len(ids)} patients)"
    else:
        raw = fake_raw(n)
        ids = [f"P{i:04d}" for i in range(n)]
        source = f"fake arrays, {n} patients"
    setup_s = time.perf_counter() - t_setup
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() and not args.cpu_only else [])
    base, rows = measure(raw, ids, epochs, devices, args.encoders.split(","))
    print(f"{source}; {epochs} epochs each, 80% train / 20% validation; setup {setup_s:.1f} s")
    print(f"machine: {os.cpu_count()} CPUs, torch threads 1, load average {os.getloadavg()[0]:.1f}")
    if "cuda" in devices:
        print(f"GPU: {torch.cuda.get_device_name(0)}")
    print(f"baseline TorchMLPClassifier, (n, 64) matrix: {base * 1e3:.1f} ms/epoch")
    header = (
        f"{'encoder':<10} {'device':<6} {'n_train':>7} {'s/epoch':>8} {'1st ep s':>8} {'fit s':>7} "
        f"{'pred s':>7} {'peak MB':>8} {'rise MB':>8} {'GPU MB':>7} {'x MLP':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['encoder']:<10} {r['device']:<6} {r['n_train']:>7} {r['s_per_epoch']:>8.3f} "
            f"{r['first_epoch_s']:>8.2f} {r['fit_s']:>7.1f} {r['predict_s']:>7.2f} {r['peak_mb']:>8.0f} "
            f"{r['rise_mb']:>8.0f} {r['gpu_peak_mb']:>7.0f} {r['s_per_epoch'] / base:>7.0f}"
        )
    cpu = [r for r in rows if r["device"] == "cpu"]
    if cpu:  # per-epoch cost is about linear in the patients
        proj = ", ".join(f"{r['encoder']} {r['s_per_epoch'] * 320 / r['n_train'] * 10:.0f} s" for r in cpu)
        print(f"projected CPU fit of 10 epochs on 320 patients (a 400-patient outer fold's refit): {proj}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
