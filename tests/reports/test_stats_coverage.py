"""Simulation: 95% DeLong and bootstrap intervals cover a known true AUC in about 95% of replicates.

Binormal data: negatives ~ N(0, 1), positives ~ N(d, 1), so the true AUC is Phi(d / sqrt(2)).

Accepted bands, and why:
- DeLong, R = 400 replicates of 100 + 100 patients: the binomial SE of a coverage of 0.95 at R = 400 is
  sqrt(0.95 * 0.05 / 400) = 0.011; the band [0.915, 0.985] is about +-3.2 SE (a correct method fails it
  with probability < 0.2%). DeLong is close to nominal at this size. A variance off by a factor of 2
  gives ~0.83 or ~0.995 coverage and fails.
- Bootstrap (percentile and BCa), R = 200 replicates with 400 resamples each: SE = 0.015 at R = 200.
  Percentile and BCa intervals are known to be somewhat anti-conservative in small samples (coverage a
  point or two under nominal at n = 200), so the band is [0.88, 0.99]: 3 SE below nominal plus 2 points
  of allowance for that bias, 2.6 SE above.
The seeds are fixed, so the test is deterministic; the bands say what a correct method must achieve.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from reports.stats import bootstrap_ci, delong_ci

D = 1.0
TRUE_AUC = float(norm.cdf(D / np.sqrt(2)))  # 0.760
N_POS = N_NEG = 100


def _sample(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = np.r_[np.ones(N_POS, int), np.zeros(N_NEG, int)]
    score = rng.standard_normal(y.size) + D * y
    return y, score


def test_delong_ci_coverage():
    rng = np.random.default_rng(2024)
    reps = 400
    covered = 0
    for _ in range(reps):
        y, s = _sample(rng)
        res = delong_ci(y, s)
        covered += res.ci_low <= TRUE_AUC <= res.ci_high
    coverage = covered / reps
    assert 0.915 <= coverage <= 0.985, coverage


def test_bootstrap_ci_coverage():
    rng = np.random.default_rng(7)
    reps = 200
    covered = {"percentile": 0, "bca": 0}
    for r in range(reps):
        y, s = _sample(rng)
        for method in covered:
            res = bootstrap_ci(y, s, "roc_auc", n_boot=400, seed=r, method=method)
            covered[method] += res.ci_low <= TRUE_AUC <= res.ci_high
    for method, count in covered.items():
        assert 0.88 <= count / reps <= 0.99, (method, count / reps)
