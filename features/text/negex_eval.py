"""Negation detection measured on the NegEx annotated sentences (concept in upper case, Affirmed/Negated)."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path

from features.text.context_eval import BinaryScores, binary_scores, context_of_spans, locate

REPO_ROOT = Path(__file__).resolve().parents[2]
NEGEX_FILE = "annotations_reports_001-060.tsv"
NEGEX_CANDIDATES = (REPO_ROOT / "tests" / "data" / "negex", REPO_ROOT.parent / "shared" / "data" / "negex")


def default_negex_path() -> Path:
    """The annotation file: the copy in tests/data/negex/, else ../shared/data/negex/ beside the repo."""
    for folder in NEGEX_CANDIDATES:
        if (folder / NEGEX_FILE).exists():
            return folder / NEGEX_FILE
    raise FileNotFoundError(f"{NEGEX_FILE} not found in {[str(c) for c in NEGEX_CANDIDATES]}")


@dataclass(frozen=True)
class NegexScores(BinaryScores):
    """Negated-class scores on the NegEx sentences, and how many concepts could not be located."""

    n_unlocated: int = 0

    @property
    def n_negated(self) -> int:
        return self.n_positive


def read_negex(path: str | Path) -> list[tuple[str, str, bool]]:
    """Rows (sentence, concept, is_negated) of a NegEx annotation TSV."""
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        for i, row in enumerate(reader, start=2):
            label = (row.get("Negation") or "").strip()
            if label not in ("Affirmed", "Negated"):
                raise ValueError(f"{path}, line {i}, field 'Negation': {label!r} is not Affirmed/Negated")
            rows.append(
                ((row["Sentence"] or "").strip().strip('"'), row["Concept"].strip(), label == "Negated")
            )
    return rows


def predict_negated(
    sentences_concepts: list[tuple[str, str]], *, max_scope: int | None = 6
) -> list[bool | None]:
    """For each (sentence, concept): is the concept span negated? None where the span is not found."""
    items = [(sentence, locate(sentence, concept)) for sentence, concept in sentences_concepts]
    flags = context_of_spans(items, language="en", max_scope=max_scope, dimensions=("negex",))
    return [None if f is None else f["negex"] for f in flags]


def evaluate_negex(path: str | Path | None = None, *, max_scope: int | None = 6) -> NegexScores:
    """Accuracy and negated-class precision/recall/F1; an unlocated concept counts as predicted affirmed."""
    rows = read_negex(path or default_negex_path())
    preds = predict_negated([(s, c) for s, c, _ in rows], max_scope=max_scope)
    scores = binary_scores([r[2] for r in rows], [bool(p) for p in preds])
    return NegexScores(**asdict(scores), n_unlocated=sum(p is None for p in preds))
