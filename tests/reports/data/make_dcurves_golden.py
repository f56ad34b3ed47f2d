"""Golden net-benefit values from the real ``dcurves`` package (not a dependency of cdbench).

Run once, outside the project's environment, with dcurves 1.1.7 (numpy 1.26.4, pandas 2.3.3):

    /tmp/dcv/bin/python tests/reports/data/make_dcurves_golden.py

It writes ``dcurves_inputs.csv`` (160 patients: outcome ``y`` and three models' predicted
probabilities, with ties, scores of exactly 0 and 1 and scores exactly at grid thresholds) and
``dcurves_golden.csv`` (dcurves' ``dca`` output: model, threshold, net_benefit, tp_rate, fp_rate,
test_pos_rate, prevalence) for thresholds 0.01..0.99. ``tests/reports/test_decision_curve.py`` compares
``reports.decision_curve`` with it.
"""

from pathlib import Path

import numpy as np
import pandas as pd
from dcurves import dca

HERE = Path(__file__).resolve().parent
THRESHOLDS = [round(i * 0.01, 2) for i in range(1, 100)]

rng = np.random.default_rng(20261127)
n = 160
y = (rng.random(n) < 0.35).astype(int)
latent = 1.4 * y + rng.normal(0, 1, n)
good = 1 / (1 + np.exp(-(latent - 0.8)))
weak = 1 / (1 + np.exp(-(0.4 * latent + rng.normal(0, 1, n) - 0.5)))
coarse = np.round(good, 1)  # ties on the 0.1 grid: scores exactly at the thresholds 0.1, 0.2, ...
frame = pd.DataFrame({"y": y, "good": good.round(6), "weak": weak.round(6), "coarse": coarse})
frame.loc[:4, "good"] = [0.0, 1.0, 0.3, 0.25, 0.5]  # boundaries; scores exactly at grid thresholds
frame.to_csv(HERE / "dcurves_inputs.csv", index=False)

data = pd.read_csv(HERE / "dcurves_inputs.csv")  # exactly what the test reads
out = dca(data=data, outcome="y", modelnames=["good", "weak", "coarse"], thresholds=THRESHOLDS)
cols = ["model", "threshold", "net_benefit", "tp_rate", "fp_rate", "test_pos_rate", "prevalence"]
out[cols].to_csv(HERE / "dcurves_golden.csv", index=False, float_format="%.17g")
print(out[cols].head())
