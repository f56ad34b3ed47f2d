"""Negation/uncertainty, sections, and the NegEx accuracy floor on the real annotated sentences."""

from __future__ import annotations

import pytest

from features.text.negation import status_of
from features.text.negex_eval import default_negex_path, evaluate_negex, read_negex
from features.text.pipeline import find_sections, get_nlp


def statuses(text: str) -> list[tuple[str, str]]:
    return [(e.text.lower(), status_of(e)) for e in get_nlp()(text).ents]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("No fistula or abscess.", [("fistula", "negated"), ("abscess", "negated")]),
        (
            "No evidence of stricture, fistula, abscess or lymphadenopathy.",
            [
                ("stricture", "negated"),
                ("fistula", "negated"),
                ("abscess", "negated"),
                ("lymphadenopathy", "negated"),
            ],
        ),
        ("Fistula is excluded.", [("fistula", "negated")]),
        ("Possible stricture.", [("stricture", "uncertain")]),
        ("?fistula in the pelvis.", [("fistula", "uncertain")]),
        ("An abscess cannot be excluded.", [("abscess", "uncertain")]),
        ("Suspicious for a fistula.", [("fistula", "uncertain")]),
        ("There is an abscess.", [("abscess", "affirmed")]),
        ("No fistula but there is an abscess.", [("fistula", "negated"), ("abscess", "affirmed")]),
        (
            "No fistula. Stricture of the ileum.",
            [("fistula", "negated"), ("stricture", "affirmed"), ("ileum", "affirmed")],
        ),
        ("Fistula unlikely.", [("fistula", "negated")]),
    ],
)
def test_negation_and_uncertainty(text, expected):
    assert statuses(text) == expected


def test_scope_is_bounded():
    # a trigger does not reach a finding many words later in a long sentence
    text = "No change in the appearance of the known long segment of disease where there is an abscess."
    assert dict(statuses(text))["abscess"] == "affirmed"


def test_sections():
    text = (
        "Clinical history: ?fistula.\nTechnique: MRE.\nFINDINGS: Abscess in the pelvis. "
        "IMPRESSION: Perianal fistula.\nRecommendation: surgical review."
    )
    labels = [s[2] for s in find_sections(text)]
    assert labels == ["history", "technique", "findings", "impression", "other"]
    doc = get_nlp()(text)
    got = {(e.text.lower(), e[0]._.section) for e in doc.ents}
    assert {("fistula", "history"), ("abscess", "findings"), ("perianal", "impression")} <= got
    # a header starts a sentence even without a full stop before it
    assert any(s.text.startswith("IMPRESSION") for s in doc.sents)
    assert find_sections("no headers here") == [(0, 15, "body")]


# Figures reached with max_scope=6 on annotations_reports_001-060.tsv (1,194 sentences); floors = figure - 0.005.
ACCURACY_FLOOR = 0.9832 - 0.005
F1_FLOOR = 0.9617 - 0.005


def test_negex_accuracy_floor():
    path = default_negex_path()
    rows = read_negex(path)
    assert len(rows) == 1194 and sum(r[2] for r in rows) == 261
    scores = evaluate_negex(path)
    assert scores.n_unlocated <= 5
    assert scores.accuracy >= ACCURACY_FLOOR, scores
    assert scores.f1 >= F1_FLOOR, scores
    assert scores.precision > 0.9 and scores.recall > 0.9
