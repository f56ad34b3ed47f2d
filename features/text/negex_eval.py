"""Negation detection measured on the NegEx annotated sentences (concept in upper case, Affirmed/Negated)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from spacy.tokens import Span

from features.text.pipeline import get_nlp

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
class NegexScores:
    n: int
    n_negated: int
    n_unlocated: int
    accuracy: float
    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    tn: int


def _locate(sentence: str, concept: str) -> tuple[int, int] | None:
    words = concept.split()
    pattern = r"\s+".join(re.escape(w) for w in words)
    m = re.search(pattern, sentence) if concept.upper() == concept else None
    m = m or re.search(r"\s+".join(re.escape(w.upper()) for w in words), sentence)
    m = m or re.search(pattern, sentence, flags=re.IGNORECASE)
    return (m.start(), m.end()) if m else None


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
    nlp = get_nlp(max_scope=max_scope)
    pre = [nlp.get_pipe(n) for n in ("sentencizer", "cd_sections")]
    negex = nlp.get_pipe("negex")
    out: list[bool | None] = []
    for sentence, concept in sentences_concepts:
        loc = _locate(sentence, concept)
        if loc is None:
            out.append(None)
            continue
        doc = nlp.make_doc(sentence)
        for proc in pre:
            doc = proc(doc)
        span = doc.char_span(loc[0], loc[1], label="CONCEPT", alignment_mode="expand")
        doc.ents = [span]
        doc = negex(doc)
        out.append(bool(doc.ents[0]._.negex) if isinstance(doc.ents[0], Span) else None)
    return out


def evaluate_negex(path: str | Path | None = None, *, max_scope: int | None = 6) -> NegexScores:
    """Accuracy and negated-class precision/recall/F1; an unlocated concept counts as predicted affirmed."""
    rows = read_negex(path or default_negex_path())
    preds = predict_negated([(s, c) for s, c, _ in rows], max_scope=max_scope)
    tp = fp = fn = tn = 0
    for (_, _, truth), pred in zip(rows, preds, strict=True):
        p = bool(pred)
        tp += p and truth
        fp += p and not truth
        fn += (not p) and truth
        tn += (not p) and not truth
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return NegexScores(
        n=len(rows),
        n_negated=sum(r[2] for r in rows),
        n_unlocated=sum(p is None for p in preds),
        accuracy=(tp + tn) / len(rows),
        precision=precision,
        recall=recall,
        f1=f1,
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
    )
