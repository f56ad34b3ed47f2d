"""ConText on annotated sentences: negation, certainty, temporality and experiencer, each with its accuracy.

Usage: python scripts/eval_context.py [--tsv PATH] [--language fr|en] [--max-scope N|none]
(default: the French radiology and endoscopy set tests/data/context_fr.tsv)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.text.context_eval import CONTEXT_FR_PATH, BinaryScores, evaluate_context  # noqa: E402


def _line(name: str, b: BinaryScores) -> str:
    return (
        f"{name:<11} accuracy {b.accuracy:.4f}  precision {b.precision:.4f}  recall {b.recall:.4f}  "
        f"F1 {b.f1:.4f}  (positives {b.n_positive}; TP {b.tp} FP {b.fp} FN {b.fn} TN {b.tn})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tsv", type=Path, default=CONTEXT_FR_PATH, help="annotation TSV")
    parser.add_argument("--language", default="fr", choices=("fr", "en"), help="pipeline language")
    parser.add_argument("--max-scope", default="6", help="ConText scope in words, or 'none' (default 6)")
    args = parser.parse_args(argv)
    scope = None if args.max_scope.lower() == "none" else int(args.max_scope)
    t0 = time.perf_counter()
    s = evaluate_context(args.tsv, language=args.language, max_scope=scope)
    print(f"file: {args.tsv.name}  mentions: {s.n}  sentences: {s.n_sentences}  not located: {s.n_unlocated}")
    print(f"language: {args.language}  max_scope: {scope}")
    print(_line("negated", s.negation))
    print(_line("uncertain", s.uncertain))
    print(_line("historical", s.historical))
    print(_line("family", s.family))
    print(
        f"accuracy per dimension: polarity (affirmed/negated/uncertain) {s.polarity_accuracy:.4f}  "
        f"temporality {s.temporality_accuracy:.4f}  experiencer {s.experiencer_accuracy:.4f}"
    )
    print(f"mentions found and linked to the annotated CUI by the full pipeline: {s.linked:.4f}")
    print(f"({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
