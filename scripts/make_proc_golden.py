"""Generate the DeLong golden cases and (when R with pROC is installed) pROC's answers for them.

    python scripts/make_proc_golden.py            # writes tests/data/proc_golden_cases.json, runs Rscript

The cases are seeded, so rerunning reproduces the committed inputs byte for byte. Scores are rounded to
6 decimals so that R and Python parse the same decimal text into the same doubles. R is needed only here;
the test suite reads the committed JSON files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "data" / "proc_golden_cases.json"
GOLDEN = ROOT / "tests" / "data" / "proc_golden.json"
SEED = 20261127


def _labels(n_pos: int, n_neg: int, rng: np.random.Generator) -> np.ndarray:
    y = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    return rng.permutation(y)


def _binormal(y: np.ndarray, d: float, rho: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    z1, z2 = rng.standard_normal((2, y.size))
    a = z1 + d * y
    b = rho * z1 + np.sqrt(1 - rho**2) * z2 + 0.8 * d * y
    return a, b


def make_cases() -> list[dict]:
    rng = np.random.default_rng(SEED)
    cases: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(name: str, y, a, b) -> None:
        cases.append((name, np.asarray(y), np.asarray(a, float), np.asarray(b, float)))

    for n_pos, n_neg, d, rho in [
        (15, 15, 1.0, 0.5),
        (100, 400, 0.7, 0.6),
        (40, 60, 0.0, 0.0),
        (1500, 1500, 0.5, 0.9),
    ]:
        y = _labels(n_pos, n_neg, rng)
        a, b = _binormal(y, d, rho, rng)
        add(f"random_{n_pos}v{n_neg}_rho{rho}", y, a, b)
    y = _labels(1200, 2800, rng)
    a, b = _binormal(y, 0.8, 0.7, rng)
    add("random_large_4000", y, a, b)
    # heavy ties: ordinal 0..4 scores, and binary 0/1 scores
    y = _labels(120, 180, rng)
    a, b = _binormal(y, 1.0, 0.6, rng)
    add("ties_ordinal_5levels", y, np.clip(np.round(a + 2), 0, 4), np.clip(np.round(b + 2), 0, 4))
    add("ties_binary_scores", y, (a > 0.5).astype(float), (b > 0.2).astype(float))
    y = _labels(800, 1200, rng)
    a, b = _binormal(y, 0.6, 0.8, rng)
    add("ties_rounded_2000", y, np.round(a, 1), np.round(b, 1))
    # tiny samples
    add("tiny_2v2", [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], [0.2, 0.3, 0.6, 0.1])
    add("tiny_2v2_ties", [0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9], [0.3, 0.3, 0.3, 0.3])
    add("tiny_2v3", [1, 0, 0, 1, 0], [0.9, 0.2, 0.9, 0.4, 0.1], [0.7, 0.6, 0.5, 0.4, 0.3])
    add("tiny_3v2_reversed", [1, 1, 1, 0, 0], [0.1, 0.2, 0.3, 0.8, 0.9], [0.5, 0.1, 0.7, 0.6, 0.2])
    # perfect separation, constant scores, identical and monotone-transformed scores
    y = _labels(20, 30, rng)
    sep = np.where(y == 1, 1.0, 0.0) + rng.uniform(0, 0.9, y.size)
    a2, b2 = _binormal(y, 1.0, 0.3, rng)
    add("separated_both", y, sep, sep * 2 + 1)
    add("separated_a_only", y, sep, a2)
    add("constant_a", y, np.full(y.size, 0.3), b2)
    add("constant_both", y, np.full(y.size, 0.3), np.full(y.size, 0.7))
    add("identical_scores", y, a2, a2)
    add("monotone_transform", y, a2, np.round(np.exp(a2), 6))
    add("reversed_direction", y, -a2, b2)
    # one class of size 1 (pROC: NaN / NA variance)
    add(
        "single_positive", [1, 0, 0, 0, 0, 0], [0.9, 0.1, 0.2, 0.3, 0.95, 0.5], [0.5, 0.4, 0.3, 0.2, 0.1, 0.6]
    )

    out = []
    for name, y, a, b in cases:
        out.append(
            {
                "name": name,
                "y": [int(v) for v in y],
                "a": [float(v) for v in np.round(a, 6)],
                "b": [float(v) for v in np.round(b, 6)],
            }
        )
    return out


def main() -> int:
    cases = make_cases()
    CASES.parent.mkdir(parents=True, exist_ok=True)
    CASES.write_text(json.dumps(cases, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {CASES.relative_to(ROOT)}")
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("Rscript not found: golden values not regenerated (apt-get install r-base-core r-cran-proc)")
        return 1
    script = ROOT / "scripts" / "make_proc_golden.R"
    subprocess.run([rscript, str(script), str(CASES), str(GOLDEN)], check=True)
    print(f"wrote pROC golden values to {GOLDEN.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
