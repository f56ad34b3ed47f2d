"""What the report-embedding block is worth on French text: endoscopic-activity AUC of a logistic model on
the embeddings alone, English vs French synthetic reports of the same patients, and across languages.

For each encoder (all-MiniLM-L6-v2, and the multilingual USE when installed) the same synthetic patients
are written once in English and once in French (free text); the AUC of SES-CD >= 3 is measured by 5-fold
cross-validation within each language, and by training on the English reports of one half of the patients
and testing on the French reports of the other half ("en -> fr"), which is what a model trained on an
English cohort meets on French reports.

Usage: python scripts/eval_embeddings_language.py [--n 160] [--seed 7]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_val_predict  # noqa: E402

from benchmarks.synthetic import SyntheticConfig, build_tables  # noqa: E402
from features.text.extractors import ENCODERS, ReportEmbeddingExtractor, ReportInputs  # noqa: E402


def _embeddings(ext: ReportEmbeddingExtractor, reports) -> np.ndarray:
    rows = []
    for pid, g in reports.groupby("patient_id", sort=True):
        inputs = ReportInputs(str(pid), tuple(g["report_type"]), tuple(g["text"]))
        rows.append(list(ext.extract(inputs).values()))
    return np.asarray(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=160, help="patients")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    base = {"write_images": False, "templated_report_rate": 0.0, "missing_rate": {"text": 0.0}}
    _, en = build_tables(args.n, args.seed, SyntheticConfig(french_report_rate=0.0, **base))
    _, fr = build_tables(args.n, args.seed, SyntheticConfig(french_report_rate=1.0, **base))
    y = (en["patients"].sort_values("patient_id")["ses_cd"].to_numpy() >= 3).astype(int)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    half = np.arange(len(y)) < len(y) // 2
    print(f"patients: {len(y)} (active {y.mean():.2f}); AUC of SES-CD >= 3 from the embeddings alone")
    for encoder in ENCODERS:
        try:
            ext = ReportEmbeddingExtractor(encoder=encoder)
            ext.model()
        except ImportError as err:
            print(f"{encoder}: not installed ({err})")
            continue
        t0 = time.perf_counter()
        X = {"en": _embeddings(ext, en["reports"]), "fr": _embeddings(ext, fr["reports"])}
        clf = LogisticRegression(C=1.0, max_iter=5000)
        within = {
            lang: roc_auc_score(y, cross_val_predict(clf, X[lang], y, cv=cv, method="predict_proba")[:, 1])
            for lang in X
        }
        transfer = roc_auc_score(
            y[~half], clf.fit(X["en"][half], y[half]).predict_proba(X["fr"][~half])[:, 1]
        )
        same = np.mean(np.sum(X["en"] * X["fr"], axis=1))
        print(
            f"{encoder}: within English {within['en']:.3f}  within French {within['fr']:.3f}  "
            f"English -> French {transfer:.3f}  cosine(English, French report of a patient) {same:.2f}  "
            f"({time.perf_counter() - t0:.0f} s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
