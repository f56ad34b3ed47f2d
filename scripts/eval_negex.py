"""Negation detection on the NegEx annotated sentences: accuracy and negated-class precision/recall/F1.

Usage: python scripts/eval_negex.py [--tsv PATH] [--max-scope N|none]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.text.negex_eval import default_negex_path, evaluate_negex  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tsv", type=Path, default=None, help="annotation TSV (default: tests/data/negex/)")
    parser.add_argument("--max-scope", default="6", help="NegEx scope in words, or 'none' (default 6)")
    args = parser.parse_args(argv)
    scope = None if args.max_scope.lower() == "none" else int(args.max_scope)
    path = args.tsv or default_negex_path()
    t0 = time.perf_counter()
    s = evaluate_negex(path, max_scope=scope)
    print(
        f"file: {path.name}  sentences: {s.n}  negated: {s.n_negated}  concept not located: {s.n_unlocated}"
    )
    print(f"max_scope: {scope}")
    print(f"accuracy:  {s.accuracy:.4f}")
    print(f"negated  precision {s.precision:.4f}  recall {s.recall:.4f}  F1 {s.f1:.4f}")
    print(f"confusion: TP {s.tp}  FP {s.fp}  FN {s.fn}  TN {s.tn}  ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
