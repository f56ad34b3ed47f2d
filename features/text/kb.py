"""The shipped Crohn's disease knowledge base (UMLS CUIs, English and French synonyms, abbreviations) and its
linker index. Concepts without a verifiable CUI carry a local identifier (``CDB`` + 4 digits)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEFAULT_KB_PATH = DATA_DIR / "cd_kb.tsv"
KB_COLUMNS = (
    "cui",
    "name",
    "group",
    "synonyms",
    "abbreviations",
    "synonyms_fr",
    "abbreviations_fr",
    "checked_by",
)
KB_GROUPS = ("disease", "finding", "symptom", "anatomy", "treatment", "procedure")
CUI_RE = re.compile(r"C\d{7}|CDB\d{4}")
LOCAL_ID_RE = re.compile(r"CDB\d{4}")
"""cdbench's own identifiers, for findings without a verified UMLS CUI (``checked_by`` starts with 'local:')."""


class KnowledgeBaseError(ValueError):
    """The knowledge-base file is malformed (message names file, line and field)."""


@dataclass(frozen=True)
class Concept:
    cui: str
    name: str
    group: str
    synonyms: tuple[str, ...]
    abbreviations: tuple[str, ...]
    checked_by: str
    synonyms_fr: tuple[str, ...] = ()
    abbreviations_fr: tuple[str, ...] = ()

    def synonyms_in(self, language: str) -> tuple[str, ...]:
        """The synonyms of ``language`` ("en" or "fr")."""
        return self.synonyms_fr if language == "fr" else self.synonyms

    def abbreviations_in(self, language: str) -> tuple[str, ...]:
        """The abbreviations of ``language`` ("en" or "fr")."""
        return self.abbreviations_fr if language == "fr" else self.abbreviations

    @property
    def is_local(self) -> bool:
        """True for a cdbench identifier (no UMLS CUI verified)."""
        return bool(LOCAL_ID_RE.fullmatch(self.cui))


def _split(field: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in field.split("|") if s.strip())


def read_kb(path: str | Path = DEFAULT_KB_PATH) -> list[Concept]:
    """Read and validate a KB TSV (``#`` comment lines, then a header row with ``KB_COLUMNS``)."""
    path = Path(path)
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]
    reader = csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    if tuple(reader.fieldnames or ()) != KB_COLUMNS:
        raise KnowledgeBaseError(f"{path}: header must be {list(KB_COLUMNS)}, got {reader.fieldnames}")
    concepts: list[Concept] = []
    seen: set[str] = set()
    owner: dict[str, str] = {}
    for i, row in enumerate(reader, start=1):
        where = f"{path}, data row {i}"
        cui = (row["cui"] or "").strip()
        if not CUI_RE.fullmatch(cui):
            raise KnowledgeBaseError(
                f"{where}, field 'cui': {cui!r} is not a CUI (C + 7 digits) or a local id (CDB + 4 digits)"
            )
        if cui in seen:
            raise KnowledgeBaseError(f"{where}, field 'cui': duplicate {cui}")
        seen.add(cui)
        group = (row["group"] or "").strip()
        if group not in KB_GROUPS:
            raise KnowledgeBaseError(f"{where}, field 'group': {group!r} not in {list(KB_GROUPS)}")
        synonyms = tuple(s.lower() for s in _split(row["synonyms"] or ""))
        synonyms_fr = tuple(s.lower() for s in _split(row["synonyms_fr"] or ""))
        abbreviations = _split(row["abbreviations"] or "")
        abbreviations_fr = _split(row["abbreviations_fr"] or "")
        checked_by = (row["checked_by"] or "").strip()
        if not synonyms or not synonyms_fr:
            raise KnowledgeBaseError(f"{where}, field 'synonyms' or 'synonyms_fr': empty")
        if not checked_by:
            raise KnowledgeBaseError(f"{where}, field 'checked_by': empty")
        if bool(LOCAL_ID_RE.fullmatch(cui)) != checked_by.startswith("local:"):
            raise KnowledgeBaseError(
                f"{where}, field 'checked_by': a local id, and only a local id, says 'local:'"
            )
        forms = synonyms + synonyms_fr + tuple(a.lower() for a in abbreviations + abbreviations_fr)
        for form in forms:
            if owner.setdefault(form, cui) != cui:
                raise KnowledgeBaseError(f"{where}: surface form {form!r} also belongs to {owner[form]}")
        concepts.append(
            Concept(
                cui,
                row["name"].strip(),
                group,
                synonyms,
                abbreviations,
                checked_by,
                synonyms_fr,
                abbreviations_fr,
            )
        )
    if not concepts:
        raise KnowledgeBaseError(f"{path}: no concepts")
    return concepts


@lru_cache(maxsize=4)
def load_kb(path: str = str(DEFAULT_KB_PATH)) -> tuple[Concept, ...]:
    return tuple(read_kb(path))


def to_scispacy_kb(concepts: tuple[Concept, ...]):
    """The KB as a ``scispacy.linking_utils.KnowledgeBase`` (aliases = synonyms + abbreviations, both languages)."""
    from scispacy.linking_utils import Entity, KnowledgeBase

    entities = [
        Entity(
            concept_id=c.cui,
            canonical_name=c.name,
            aliases=list(dict.fromkeys(c.synonyms + c.synonyms_fr + c.abbreviations + c.abbreviations_fr)),
            types=[c.group],
        )
        for c in concepts
    ]
    return KnowledgeBase(entities)


def build_candidate_generator(concepts: tuple[Concept, ...], *, ef_search: int = 200):
    """A scispacy ``CandidateGenerator`` over the KB aliases, with an index built here.

    scispacy's own ``create_tfidf_ann_index`` refuses to run with scipy>=1.11 (it serialises float16
    sparse matrices); the index is small, so it is rebuilt in memory with the same recipe: character
    3-gram TF-IDF (``char_wb``) and an nmslib HNSW index in cosine space over sparse vectors.
    """
    import nmslib
    from scispacy.candidate_generation import CandidateGenerator
    from sklearn.feature_extraction.text import TfidfVectorizer

    kb = to_scispacy_kb(concepts)
    aliases = sorted(kb.alias_to_cuis)
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), min_df=1, dtype=np.float32)
    vectors = vectorizer.fit_transform(aliases).astype(np.float32)
    index = nmslib.init(method="hnsw", space="cosinesimil_sparse", data_type=nmslib.DataType.SPARSE_VECTOR)
    index.addDataPointBatch(vectors)
    index.createIndex({"M": 30, "efConstruction": 200, "post": 0, "indexThreadQty": 1}, print_progress=False)
    index.setQueryTimeParams({"efSearch": ef_search})
    return CandidateGenerator(index, vectorizer, aliases, kb)
