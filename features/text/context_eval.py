"""ConText measured on annotated sentences: negation, certainty, temporality and experiencer per mention.

The annotation file (``tests/data/context_fr.tsv``, tab-separated, one mention a row) has the columns
``source`` (mre, ct, us, colonoscopy, pathology, clinic), ``concept`` (the mention as written, a whole-word
substring of the sentence), ``cui`` (the KB concept it must link to), ``polarity`` (affirmed, negated,
uncertain), ``temporality`` (current, historical), ``experiencer`` (patient, other) and ``sentence``.

As for the NegEx corpus (:mod:`features.text.negex_eval`), the annotated span is placed in the sentence and
only the sentence, section and ConText components run, so the scores measure context and not dictionary
coverage; the fraction of annotated mentions that the full pipeline finds and links to the annotated CUI
is reported beside them (``linked``).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from spacy.tokens import Span

from features.text.negation import (
    COMPONENT_NAMES,
    CONTEXT_DIMENSIONS,
    experiencer_of,
    status_of,
    temporality_of,
)
from features.text.pipeline import get_nlp

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTEXT_FR_PATH = REPO_ROOT / "tests" / "data" / "context_fr.tsv"
CONTEXT_COLUMNS = ("source", "concept", "cui", "polarity", "temporality", "experiencer", "sentence")
LABELS = {
    "polarity": ("affirmed", "negated", "uncertain"),
    "temporality": ("current", "historical"),
    "experiencer": ("patient", "other"),
}


@dataclass(frozen=True)
class ContextRow:
    """One annotated mention."""

    source: str
    concept: str
    cui: str
    polarity: str
    temporality: str
    experiencer: str
    sentence: str


@dataclass(frozen=True)
class BinaryScores:
    """Accuracy and positive-class precision/recall/F1 of a yes/no decision."""

    n: int
    n_positive: int
    accuracy: float
    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    tn: int


def binary_scores(truth: list[bool], pred: list[bool]) -> BinaryScores:
    """Accuracy and positive-class precision, recall and F1 of ``pred`` against ``truth``."""
    tp = sum(t and p for t, p in zip(truth, pred, strict=True))
    fp = sum(p and not t for t, p in zip(truth, pred, strict=True))
    fn = sum(t and not p for t, p in zip(truth, pred, strict=True))
    tn = len(truth) - tp - fp - fn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return BinaryScores(len(truth), sum(truth), (tp + tn) / len(truth), precision, recall, f1, tp, fp, fn, tn)


@dataclass(frozen=True)
class ContextScores:
    """Scores of every ConText dimension on an annotated set."""

    n: int
    n_sentences: int
    n_unlocated: int
    negation: BinaryScores
    polarity_accuracy: float
    temporality_accuracy: float
    experiencer_accuracy: float
    uncertain: BinaryScores
    historical: BinaryScores
    family: BinaryScores
    linked: float


def locate(sentence: str, concept: str, *, whole_word: bool = False) -> tuple[int, int] | None:
    """Character span of ``concept`` in ``sentence``: exact case first, then upper case, then any case."""
    words = concept.split()
    edge = r"(?<![^\W_])" if whole_word else ""
    tail = r"(?![^\W_])" if whole_word else ""
    pattern = edge + r"\s+".join(re.escape(w) for w in words) + tail
    m = re.search(pattern, sentence) if concept.upper() == concept else None
    m = m or re.search(edge + r"\s+".join(re.escape(w.upper()) for w in words) + tail, sentence)
    m = m or re.search(pattern, sentence, flags=re.IGNORECASE)
    return (m.start(), m.end()) if m else None


def context_of_spans(
    items: list[tuple[str, tuple[int, int] | None]],
    *,
    language: str = "en",
    max_scope: int | None = 6,
    dimensions: tuple[str, ...] = CONTEXT_DIMENSIONS,
) -> list[dict[str, bool] | None]:
    """For each (sentence, character span): the ConText flags of that span placed as the only entity
    (``{"negex": ..., "uncertain": ..., "historical": ..., "family": ...}``); None without a span."""
    nlp = get_nlp(max_scope=max_scope, language=language)
    procs = [nlp.get_pipe(n) for n in ("sentencizer", "cd_sections")] + [
        nlp.get_pipe(COMPONENT_NAMES[d]) for d in dimensions
    ]
    out: list[dict[str, bool] | None] = []
    for sentence, loc in items:
        if loc is None:
            out.append(None)
            continue
        doc = nlp.make_doc(sentence)
        doc.ents = [doc.char_span(loc[0], loc[1], label="CONCEPT", alignment_mode="expand")]
        for proc in procs:
            doc = proc(doc)
        ent = doc.ents[0]
        out.append({d: bool(ent._.get(d)) for d in dimensions} if isinstance(ent, Span) else None)
    return out


def read_context_set(path: str | Path = CONTEXT_FR_PATH) -> list[ContextRow]:
    """Rows of an annotation TSV (see the module docstring); a bad label names the line and field."""
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        if tuple(reader.fieldnames or ()) != CONTEXT_COLUMNS:
            raise ValueError(f"{path}: header must be {list(CONTEXT_COLUMNS)}, got {reader.fieldnames}")
        for i, row in enumerate(reader, start=2):
            for field, allowed in LABELS.items():
                if row[field] not in allowed:
                    raise ValueError(
                        f"{path}, line {i}, field {field!r}: {row[field]!r} not in {list(allowed)}"
                    )
            rows.append(ContextRow(**{c: row[c].strip() for c in CONTEXT_COLUMNS}))
    return rows


def _linked(rows: list[ContextRow], language: str, max_scope: int | None) -> float:
    nlp = get_nlp(max_scope=max_scope, language=language)
    hits = 0
    for row, doc in zip(rows, nlp.pipe([r.sentence for r in rows]), strict=True):
        loc = locate(row.sentence, row.concept, whole_word=True)
        if loc is not None and any(
            e._.cui == row.cui and e.start_char < loc[1] and loc[0] < e.end_char for e in doc.ents
        ):
            hits += 1
    return hits / len(rows)


def evaluate_context(
    path: str | Path = CONTEXT_FR_PATH, *, language: str = "fr", max_scope: int | None = 6
) -> ContextScores:
    """Every dimension's accuracy (an unlocated mention counts as affirmed, current, patient)."""
    rows = read_context_set(path)
    locs = [locate(r.sentence, r.concept, whole_word=True) for r in rows]
    flags = context_of_spans(
        [(r.sentence, loc) for r, loc in zip(rows, locs, strict=True)], language=language, max_scope=max_scope
    )
    none = dict.fromkeys(CONTEXT_DIMENSIONS, False)
    flags = [f or none for f in flags]

    def accuracy(field: str, predicted: list[str]) -> float:
        return sum(getattr(r, field) == p for r, p in zip(rows, predicted, strict=True)) / len(rows)

    polarity = ["negated" if f["negex"] else "uncertain" if f["uncertain"] else "affirmed" for f in flags]
    return ContextScores(
        n=len(rows),
        n_sentences=len({r.sentence for r in rows}),
        n_unlocated=sum(loc is None for loc in locs),
        negation=binary_scores([r.polarity == "negated" for r in rows], [f["negex"] for f in flags]),
        polarity_accuracy=accuracy("polarity", polarity),
        temporality_accuracy=accuracy(
            "temporality", ["historical" if f["historical"] else "current" for f in flags]
        ),
        experiencer_accuracy=accuracy("experiencer", ["other" if f["family"] else "patient" for f in flags]),
        uncertain=binary_scores(
            [r.polarity == "uncertain" for r in rows], [p == "uncertain" for p in polarity]
        ),
        historical=binary_scores(
            [r.temporality == "historical" for r in rows], [f["historical"] for f in flags]
        ),
        family=binary_scores([r.experiencer == "other" for r in rows], [f["family"] for f in flags]),
        linked=_linked(rows, language, max_scope),
    )


__all__ = [
    "BinaryScores",
    "ContextRow",
    "ContextScores",
    "binary_scores",
    "context_of_spans",
    "evaluate_context",
    "experiencer_of",
    "locate",
    "read_context_set",
    "status_of",
    "temporality_of",
]
