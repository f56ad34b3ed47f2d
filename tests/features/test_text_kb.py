"""The shipped knowledge base: format, unique ids, every surface form maps to one CUI, linking."""

from __future__ import annotations

import re

import pytest

from features.text.kb import DEFAULT_KB_PATH, KnowledgeBaseError, read_kb, to_scispacy_kb
from features.text.pipeline import get_nlp


def test_kb_integrity():
    concepts = read_kb(DEFAULT_KB_PATH)
    cuis = [c.cui for c in concepts]
    assert len(cuis) == len(set(cuis)) >= 50
    assert all(re.fullmatch(r"C\d{7}", c) for c in cuis)
    forms: dict[str, str] = {}
    for c in concepts:
        assert c.checked_by.startswith(("code-search:", "memory"))
        for f in c.synonyms + tuple(a.lower() for a in c.abbreviations):
            assert forms.setdefault(f, c.cui) == c.cui, f
    kb = to_scispacy_kb(tuple(concepts))
    for c in concepts:
        for f in c.synonyms + c.abbreviations:
            assert kb.alias_to_cuis[f] == {c.cui}
    groups = {c.group for c in concepts}
    assert {"finding", "anatomy", "treatment", "disease"} <= groups


def test_kb_rejects_bad_rows(tmp_path):
    good = DEFAULT_KB_PATH.read_text(encoding="utf-8")
    bad = tmp_path / "kb.tsv"
    bad.write_text(good.replace("C0016169\t", "C001616\t"), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="not a CUI"):
        read_kb(bad)
    bad.write_text(good.replace("fistula|fistulae", "abscess|fistulae", 1), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="also belongs"):
        read_kb(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thickening of the TI.", {"TI": "C0020885"}),
        ("Terminal ileal ulcers.", {"Terminal ileal": "C0020885", "ulcers": "C0041582"}),
        (
            "Known CD on adalimumab and azathioprine.",
            {"CD": "C0010346", "adalimumab": "C1122087", "azathioprine": "C0004482"},
        ),
        (
            "A stenosis in the SB with fistulae.",
            {"stenosis": "C1261287", "SB": "C0021852", "fistulae": "C0016169"},
        ),
        ("Perianal abcess.", {"Perianal": "C1275631", "abcess": "C0000833"}),  # one-edit misspelling
        (
            "Caecal pole and ileocaecal valve are normal.",
            {"Caecal pole": "C0007531", "ileocaecal valve": "C0020880"},
        ),
    ],
)
def test_linking_synonyms_and_abbreviations(text, expected):
    doc = get_nlp()(text)
    assert {e.text: e._.cui for e in doc.ents} == expected


def test_abbreviation_defined_in_report():
    nlp = get_nlp()
    doc = nlp("Inflammatory bowel disease (IBD) was suspected. Findings support IBD.")
    assert [e._.cui for e in doc.ents if e.text == "IBD"] == ["C0021390", "C0021390"]
    # a KB abbreviation that the report defines as something else is not linked
    doc = nlp("Cluster of differentiation (CD) markers were stained. CD positive cells.")
    assert [e.text for e in doc.ents if e.text == "CD"] == []


def test_umls_linker_needs_local_data(monkeypatch, tmp_path):
    from scispacy import file_cache

    from features.text import pipeline

    monkeypatch.setattr(file_cache, "DATASET_CACHE", str(tmp_path))  # an empty cache: never download
    with pytest.raises(RuntimeError, match="nothing is downloaded"):
        pipeline.build_nlp(linker="scispacy_umls")
    with pytest.raises(ValueError, match="linker must be"):
        pipeline.build_nlp(linker="other")
