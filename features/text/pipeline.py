"""The offline clinical NLP pipeline: tokenizer, sentences, sections, abbreviations, KB linking, context.

One pipeline per report language (``language`` "en" or "fr", same components, same CUIs, so a mixed cohort
has one feature space): ``spacy.blank("en")`` with scispacy's ``combined_rule_tokenizer``, or, for French,
spaCy's multi-language tokenizer with French elision prefixes ("d'abcès" -> "d'" "abcès"; spaCy's own French
tokenizer compiles its exception regexes for about 10 s at import, in every worker process), then

1. ``sentencizer`` and ``cd_sections`` (section headers of either language, in any case, with or without
   accents, and line breaks start sentences; every token gets ``Token._.section`` in {"body", "history",
   "technique", "findings", "impression", "other"});
2. scispacy's ``abbreviation_detector`` (Schwartz-Hearst "long form (SF)" pairs within a report);
3. an ``entity_ruler`` over the KB: synonyms matched case-insensitively (plus plural forms; French forms
   also without accents), abbreviations case-sensitively. English reports use the English forms; French
   reports use the French forms and the English ones (radiologists write "comb sign", "creeping fat").
   Then ``cd_fuzzy`` (optional) proposes one-edit misspellings of long single words (a swap of two
   adjacent letters counts as one edit: "fistual") and inflected forms of them ("fistulation",
   "sténosante": a KB stem plus a known suffix);
4. ``cd_linker``: links every mention to a CUI (``Span._.cui``, ``Span._.link_score``). Mentions that are
   KB aliases link exactly; fuzzy mentions and the long forms of abbreviations defined in the report go
   through scispacy's ``CandidateGenerator`` (char-3-gram TF-IDF + nmslib over the KB aliases, index built
   here). A KB abbreviation that the report defines as something else ("cluster of differentiation (CD)")
   is dropped. With ``linker="scispacy_umls"`` scispacy's full UMLS ``EntityLinker`` links instead (its
   data must already be in the local scispacy cache; nothing is downloaded here).
5. the ConText components of features.text.negation: ``Span._.negex``, ``Span._.uncertain``,
   ``Span._.historical`` and ``Span._.family``, with the report language's termsets.

Why an EntityRuler rather than NER + linker: no biomedical NER model can be installed offline, and the KB
is small and curated, so dictionary matching over its synonyms is precise and fast; the linker still
decides the CUI (abbreviation resolution, misspellings) with scispacy's own candidate machinery.

The pipeline is built lazily, once per process and configuration (``get_nlp``), so it works in
joblib/loky workers.
"""

from __future__ import annotations

import os
import re
import warnings
from functools import lru_cache

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span, Token

from benchmarks.cohort.language import SUPPORTED_LANGUAGES, fold_accents, strip_accents
from features.text.kb import DEFAULT_KB_PATH, Concept, build_candidate_generator, load_kb
from features.text.negation import add_context

SECTION_LABELS = ("body", "history", "technique", "findings", "impression", "other")
_SECTION_HEADERS: dict[str, tuple[str, ...]] = {
    "history": (
        "clinical history",
        "clinical hx",
        "past medical history",
        "past history",
        "relevant history",
        "pmh",
        "hx",
        "background",
        "history",
        "clinical details",
        "clinical information",
        "clinical indication",
        "indications",
        "indication",
        "reason for examination",
        "reason for exam",
        "reason for referral",
        "clinical question",
        # French
        "renseignements cliniques",
        "renseignement clinique",
        "motif de l'examen",
        "motif de la demande",
        "motif",
        "contexte clinique",
        "contexte",
        "histoire de la maladie",
        "antécédents",
        "antecedents",
        "atcd",
        "question posée",
        "demande",
        "anamnèse",
    ),
    "technique": (
        "technique",
        "protocol",
        "sequences",
        "procedure",
        "comparison",
        "examination",
        "preparation",
        "protocole",
        "séquences",
        "préparation",
        "matériel et méthode",
        "examen réalisé",
        "comparaison",
    ),
    "findings": (
        "findings",
        "report",
        "description",
        "macroscopic",
        "microscopic",
        "gross description",
        "résultats",
        "résultat",
        "compte rendu",
        "compte-rendu",
        "constatations",
        "observations",
        "descriptif",
    ),
    "impression": (
        "impression",
        "conclusions",
        "conclusion",
        "summary",
        "opinion",
        "final diagnosis",
        "diagnosis",
        "comments",
        "comment",
        "assessment",
        "en conclusion",
        "synthèse",
        "interprétation",
        "avis",
        "diagnostic",
        "commentaires",
        "commentaire",
    ),
    "other": (
        "recommendations",
        "recommendation",
        "plan",
        "medications",
        "follow up",
        "follow-up",
        "recommandations",
        "conduite à tenir",
        "proposition",
        "propositions",
        "suivi",
    ),
}
# Headers are matched on the text with its accents folded (one character for one, so offsets hold).
_HEADER_TO_SECTION = {fold_accents(h): s for s, hs in _SECTION_HEADERS.items() for h in hs}
_HEADER_RE = re.compile(
    r"(?:^|(?<=\n)|(?<=[.!?]\s))[ \t]*("
    + "|".join(sorted((re.escape(h) for h in _HEADER_TO_SECTION), key=len, reverse=True))
    + r")[ \t\u00a0\u202f]*:",
    re.IGNORECASE,
)


def find_sections(text: str) -> list[tuple[int, int, str]]:
    """Character ranges ``(start, end, section)`` covering ``text``; text before any header is "body".

    A header is one of ``_SECTION_HEADERS`` (English or French, any case, accents optional) at the start of
    a line or after a sentence end, followed by a colon (French typography's space before it allowed).
    """
    folded = fold_accents(text)
    marks = [(m.start(1), _HEADER_TO_SECTION[m.group(1).lower()]) for m in _HEADER_RE.finditer(folded)]
    bounds = [(0, "body")] + marks
    out = []
    for (start, label), nxt in zip(bounds, bounds[1:] + [(len(text), "")], strict=True):
        if nxt[0] > start:
            out.append((start, nxt[0], label))
    return out


if not Token.has_extension("section"):
    Token.set_extension("section", default="body")
if not Span.has_extension("cui"):
    Span.set_extension("cui", default=None)
if not Span.has_extension("link_score"):
    Span.set_extension("link_score", default=0.0)


@Language.component("cd_sections")
def cd_sections(doc: Doc) -> Doc:
    """Section of every token, and sentence starts at headers, line breaks and after '?'-queries."""
    starts = {}
    for start, _end, label in find_sections(doc.text):
        starts[start] = label
    label = "body"
    header_chars = sorted(starts)
    j = 0
    for tok in doc:
        while j < len(header_chars) and header_chars[j] <= tok.idx:
            label = starts[header_chars[j]]
            if tok.idx == header_chars[j] or doc.text[header_chars[j] : tok.idx].strip() == "":
                tok.is_sent_start = True
            j += 1
        tok._.section = label
    for tok in doc[1:]:
        prev = doc[tok.i - 1]
        if "\n" in prev.whitespace_ or prev.is_space and "\n" in prev.text:
            if not tok.is_space:
                tok.is_sent_start = True
        # UK radiology writes queries as "?fistula": the '?' belongs to the finding, not a sentence end.
        if prev.text == "?" and not prev.whitespace_ and tok.is_alpha:
            tok.is_sent_start = False
            if tok.i >= 2 and doc[tok.i - 2].text in {".", "!", ";"}:
                prev.is_sent_start = True
    return doc


def _plurals(word: str) -> set[str]:
    out = {word + "s", word + "es"}
    if word.endswith("a"):
        out.add(word + "e")
    if word.endswith("is"):
        out.add(word[:-2] + "es")
    if word.endswith("y"):
        out.add(word[:-1] + "ies")
    if word.endswith("um"):
        out.add(word[:-2] + "a")
    return out


def _plurals_fr(word: str) -> set[str]:
    if word.endswith(("s", "x", "z")):
        return set()
    if word.endswith("al"):
        return {word[:-2] + "aux"}
    if word.endswith(("eau", "au", "eu")):
        return {word + "x"}
    return {word + "s"}


def _variants_fr(form: str) -> set[str]:
    """A French form, its plurals (first word, last word, both) and all of them without accents."""
    words = form.split(" ")
    first, last = words[0], words[-1]
    out = {form}
    firsts = _plurals_fr(first) if first.replace("-", "").isalpha() and len(first) >= 3 else set()
    lasts = (
        _plurals_fr(last) if len(words) > 1 and last.replace("-", "").isalpha() and len(last) >= 3 else set()
    )
    for f in firsts:
        out.add(" ".join([f, *words[1:]]))
    for la in lasts:
        out.add(" ".join([*words[:-1], la]))
        for f in firsts:
            out.add(" ".join([f, *words[1:-1], la]))
    return (
        out
        | {strip_accents(f) for f in out}
        | {f.replace("\u0153", "oe").replace("\u00e6", "ae") for f in out}
    )


def _english_forms(concept: Concept) -> set[str]:
    forms: set[str] = set()
    for syn in concept.synonyms:
        forms.add(syn)
        head, _, last = syn.rpartition(" ")
        if last.isalpha() and len(last) >= 3:
            forms.update(f"{head} {p}".strip() for p in _plurals(last))
    return forms


def surface_forms(concept: Concept, language: str = "en") -> set[str]:
    """The forms the ruler matches for ``language``.

    English: the English synonyms plus plural forms of their last word. French: the French synonyms, their
    plurals (first and/or last word) and every one of them without accents, plus the English forms.
    """
    forms = _english_forms(concept)
    if language == "fr":
        for syn in concept.synonyms_fr:
            forms |= _variants_fr(syn)
    return forms


def _abbreviations(concept: Concept, language: str) -> tuple[str, ...]:
    return concept.abbreviations + (concept.abbreviations_fr if language == "fr" else ())


def ruler_patterns(nlp: Language, concepts: tuple[Concept, ...], language: str = "en") -> list[dict]:
    """EntityRuler patterns: synonyms (+ plural of the last word) as LOWER phrases, abbreviations by ORTH."""
    patterns: list[dict] = []
    for c in concepts:
        label = c.group.upper()
        for form in sorted(surface_forms(c, language)):
            patterns.append({"label": label, "id": c.cui, "pattern": form})
        for abbr in _abbreviations(c, language):
            toks = [t.text for t in nlp.tokenizer(abbr)]
            patterns.append({"label": label, "id": c.cui, "pattern": [{"ORTH": t} for t in toks]})
            if len(toks) == 1 and toks[0].isalpha():
                patterns.append({"label": label, "id": c.cui, "pattern": [{"ORTH": toks[0] + "s"}]})
    return patterns


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def within_one_edit(a: str, b: str) -> bool:
    """Levenshtein distance <= 1, or one swap of two adjacent letters ("fistual" / "fistula")."""
    from spacy.matcher import levenshtein

    if levenshtein(a, b) <= 1:
        return True
    if len(a) != len(b):
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


_STEM_ENDINGS = ("ae", "is", "es", "um", "us", "a", "e", "s", "y")
INFLECTION_SUFFIXES = (
    "ation",
    "ations",
    "ising",
    "izing",
    "ised",
    "ized",
    "isation",
    "ization",
    "ous",
    "ing",
    "ed",
    "ic",
    "ant",
    "ante",
    "ants",
    "antes",
    "é",
    "ée",
    "és",
    "ées",
    "eux",
    "euse",
    "isant",
    "isante",
    "isants",
    "isantes",
    "isé",
    "isée",
    "isés",
    "isées",
    "ique",
)
"""Suffixes an inflected form adds to a KB word's stem: "fistul|ation", "fistul|ising", "sténos|ante"."""


def _stem(word: str) -> str:
    for ending in _STEM_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 5:
            return word[: -len(ending)]
    return word


@Language.factory(
    "cd_fuzzy", default_config={"kb_path": str(DEFAULT_KB_PATH), "min_length": 7, "language": "en"}
)
class FuzzyMentions:
    """One-edit misspellings ("abcess", "fistual") and inflected forms ("fistulation", "sténosante") of
    single-word KB forms of at least ``min_length`` letters.

    A symmetric-delete index finds the misspelling candidates in a few dictionary look-ups per token
    (spaCy's FUZZY token patterns cost a Levenshtein call per token and pattern); a misspelt mention gets
    id ``"~<CUI>"``: the linker only keeps it when scispacy's candidate generator agrees. An inflected form
    is a KB word's stem (the word less a final vowel or Latin ending, at least 5 letters) followed by one
    of :data:`INFLECTION_SUFFIXES`; the stem must belong to one concept only, and the mention links to it.
    """

    def __init__(self, nlp: Language, name: str, kb_path: str, min_length: int, language: str = "en") -> None:
        self.min_length = min_length
        self.exact: set[str] = set()
        self.index: dict[str, set[tuple[str, str, str]]] = {}
        stems: dict[str, set[tuple[str, str]]] = {}
        for c in load_kb(kb_path):
            for form in surface_forms(c, language):
                self.exact.add(form)
                if " " in form or not form.isalpha() or len(form) < min_length:
                    continue
                entry = (form, c.cui, c.group.upper())
                for key in _deletes(form) | {form}:
                    self.index.setdefault(key, set()).add(entry)
                stems.setdefault(_stem(form), set()).add((c.cui, c.group.upper()))
        self.stems = {stem: next(iter(owners)) for stem, owners in stems.items() if len(owners) == 1}

    def _inflected(self, word: str) -> tuple[str, str] | None:
        for suffix in INFLECTION_SUFFIXES:
            if word.endswith(suffix) and word[: -len(suffix)] in self.stems:
                return self.stems[word[: -len(suffix)]]
        return None

    def __call__(self, doc: Doc) -> Doc:
        taken = {i for ent in doc.ents for i in range(ent.start, ent.end)}
        new = []
        for tok in doc:
            word = tok.lower_
            if tok.i in taken or not tok.is_alpha or len(word) < self.min_length - 1 or word in self.exact:
                continue
            inflected = self._inflected(word)
            if inflected is not None:
                cui, label = inflected
                new.append(Span(doc, tok.i, tok.i + 1, label=label, span_id=cui))
                continue
            cands: set[tuple[str, str, str]] = set()
            for key in _deletes(word) | {word}:
                cands |= self.index.get(key, set())
            best = sorted(c for c in cands if within_one_edit(word, c[0]))
            if best:
                form, cui, label = best[0]
                new.append(Span(doc, tok.i, tok.i + 1, label=label, span_id="~" + cui))
        if new:
            doc.ents = sorted(list(doc.ents) + new, key=lambda s: s.start)
        return doc


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


@Language.factory(
    "cd_linker",
    default_config={"kb_path": str(DEFAULT_KB_PATH), "linker": "cd_kb", "threshold": 0.8, "k": 10},
)
class CDLinker:
    """Link ruler mentions (and abbreviations defined in the report) to CUIs; sets ``Span._.cui``."""

    def __init__(self, nlp: Language, name: str, kb_path: str, linker: str, threshold: float, k: int) -> None:
        if linker not in ("cd_kb", "scispacy_umls"):
            raise ValueError(f"linker must be 'cd_kb' or 'scispacy_umls', got {linker!r}")
        self.concepts = load_kb(kb_path)
        self.linker = linker
        self.threshold = threshold
        self.k = k
        self.fuzzy_floor = 0.6
        self.alias_to_cui: dict[str, str] = {}
        self.abbr_to_cui: dict[str, str] = {}
        for c in self.concepts:
            for s in surface_forms(c, "fr"):  # every form of both languages
                self.alias_to_cui[_normalise(s)] = c.cui
            for a in c.abbreviations + c.abbreviations_fr:
                self.abbr_to_cui[a] = c.cui
        self._generator = None
        self._umls = None
        if linker == "scispacy_umls":
            self._umls = _load_umls_linker(threshold)

    @property
    def generator(self):
        if self._generator is None:
            self._generator = build_candidate_generator(self.concepts)
        return self._generator

    def link_strings(
        self, texts: list[str], proposals: list[str] | None = None
    ) -> list[tuple[str, float] | None]:
        """Best KB concept per string: exact alias match (score 1), else the nearest alias above threshold.

        ``proposals`` (optional, per string) is a CUI proposed by a one-edit fuzzy match: it is accepted
        when the candidate generator gives that concept a similarity of at least ``fuzzy_floor``.
        """
        proposals = proposals or [""] * len(texts)
        out: list[tuple[str, float] | None] = [None] * len(texts)
        todo = []
        for i, t in enumerate(texts):
            key = _normalise(t)
            if key in self.alias_to_cui:
                out[i] = (self.alias_to_cui[key], 1.0)
            elif t.strip() in self.abbr_to_cui:
                out[i] = (self.abbr_to_cui[t.strip()], 1.0)
            else:
                todo.append(i)
        if todo:
            batch = self.generator([_normalise(texts[i]) for i in todo], self.k)
            for i, cands in zip(todo, batch, strict=True):
                scored = sorted(((max(c.similarities), c.concept_id) for c in cands), reverse=True)
                by_cui = {cui: sim for sim, cui in scored}
                if proposals[i] and by_cui.get(proposals[i], 0.0) >= self.fuzzy_floor:
                    out[i] = (proposals[i], float(by_cui[proposals[i]]))
                elif scored and scored[0][0] >= self.threshold:
                    out[i] = (scored[0][1], float(scored[0][0]))
        return out

    def __call__(self, doc: Doc) -> Doc:
        has_long = Span.has_extension("long_form")
        exact: list[tuple[Span, tuple[str, float]]] = []
        mentions: list[tuple[Span, str, str]] = []  # span, string to link, cui proposed by a fuzzy pattern
        for ent in doc.ents:
            long_form = ent._.get("long_form") if has_long else None
            if long_form is not None:
                mentions.append((ent, long_form.text, ""))
            elif ent.ent_id_.startswith("~"):
                mentions.append((ent, ent.text, ent.ent_id_[1:]))
            elif self._umls is None and ent.ent_id_:
                exact.append((ent, (ent.ent_id_, 1.0)))
            else:
                mentions.append((ent, ent.text, ""))
        taken = {i for ent in doc.ents for i in range(ent.start, ent.end)}
        if Doc.has_extension("abbreviations"):
            for short in doc._.abbreviations:
                if short._.long_form is not None and not any(
                    i in taken for i in range(short.start, short.end)
                ):
                    mentions.append(
                        (Span(doc, short.start, short.end, label="ABBREVIATION"), short._.long_form.text, "")
                    )
                    taken.update(range(short.start, short.end))
        texts = [m[1] for m in mentions]
        if self._umls is not None:
            links = self._link_umls(texts)
        else:
            links = self.link_strings(texts, proposals=[m[2] for m in mentions])
        kept = []
        pairs = [(m[0], link) for m, link in zip(mentions, links, strict=True)] + exact
        for span, link in pairs:
            if link is None:
                continue
            if span.label_ == "ABBREVIATION":
                span = Span(doc, span.start, span.end, label=self._group_label(link[0]))
            span._.cui, span._.link_score = link
            kept.append(span)
        doc.ents = sorted(kept, key=lambda s: s.start)
        return doc

    def _group_label(self, cui: str) -> str:
        for c in self.concepts:
            if c.cui == cui:
                return c.group.upper()
        return "UMLS"

    def _link_umls(self, texts: list[str]) -> list[tuple[str, float] | None]:
        gen = self._umls.candidate_generator
        out: list[tuple[str, float] | None] = []
        for cands in gen(texts, self._umls.k):
            scored = sorted(((max(c.similarities), c.concept_id) for c in cands), reverse=True)
            out.append(
                (scored[0][1], float(scored[0][0])) if scored and scored[0][0] >= self.threshold else None
            )
        return out


def _load_umls_linker(threshold: float):
    """scispacy's full UMLS linker, only from files already in the local scispacy cache."""
    from scispacy.candidate_generation import UmlsLinkerPaths
    from scispacy.file_cache import DATASET_CACHE, url_to_filename

    missing = [
        url
        for url in UmlsLinkerPaths
        if not os.path.exists(os.path.join(DATASET_CACHE, url_to_filename(url)))
        and not any(f.startswith(url_to_filename(url)) for f in _listdir(DATASET_CACHE))
    ]
    if missing:
        raise RuntimeError(
            "linker='scispacy_umls' needs scispacy's UMLS linker files in the local cache "
            f"({DATASET_CACHE}); {len(missing)} are missing and nothing is downloaded at run time"
        )
    from scispacy.linking import EntityLinker

    return EntityLinker(name="umls", threshold=threshold, filter_for_definitions=False)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _register_abbreviation_detector() -> None:
    """scispacy's AbbreviationDetector, silenced: it warns (W036) on every report without a "long (SF)" pair."""
    from scispacy.abbreviation import AbbreviationDetector

    if "cd_abbreviation_detector" in Language.factories:
        return

    @Language.factory("cd_abbreviation_detector", default_config={"make_serializable": False})
    class QuietAbbreviationDetector(AbbreviationDetector):
        def __call__(self, doc: Doc) -> Doc:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=r".*W036.*")
                return super().__call__(doc)


_ELISION = r"(?i:(?:jusqu|lorsqu|puisqu|quoiqu|qu|[dlnjmtsc]))['\u2019]"


def make_tokenizer(nlp: Language, language: str = "en"):
    """The tokenizer of ``language``, also splitting "abscess/phlegmon" (3+ letters each side).

    English: scispacy's combined rule tokenizer. French: spaCy's multi-language tokenizer whose prefixes
    also split off the elided words ("d'", "l'", "n'", "qu'", "jusqu'", with ' or ’).
    """
    if language == "fr":
        from spacy.util import compile_prefix_regex

        tokenizer = nlp.tokenizer
        prefixes = [_ELISION, *nlp.Defaults.prefixes]
        tokenizer.prefix_search = compile_prefix_regex(prefixes).search
    else:
        from scispacy.custom_tokenizer import combined_rule_tokenizer

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            tokenizer = combined_rule_tokenizer(nlp)
    base = tokenizer.infix_finditer.__self__.pattern
    tokenizer.infix_finditer = re.compile(base + r"|(?<=[^\W\d_]{3})/(?=[^\W\d_]{3})").finditer
    return tokenizer


def build_nlp(
    kb_path: str = str(DEFAULT_KB_PATH),
    linker: str = "cd_kb",
    fuzzy: bool = True,
    max_scope: int | None = 6,
    link_threshold: float = 0.8,
    language: str = "en",
) -> Language:
    """Build the full pipeline for reports in ``language`` (see module docstring)."""
    if language not in SUPPORTED_LANGUAGES:
        raise ValueError(f"language must be one of {list(SUPPORTED_LANGUAGES)}, got {language!r}")
    _register_abbreviation_detector()
    nlp = spacy.blank("xx" if language == "fr" else language)
    nlp.tokenizer = make_tokenizer(nlp, language)
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("cd_sections")
    nlp.add_pipe("cd_abbreviation_detector", name="abbreviation_detector")
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER", "validate": False})
    concepts = load_kb(kb_path)
    ruler.add_patterns(ruler_patterns(nlp, concepts, language))
    if fuzzy:
        nlp.add_pipe("cd_fuzzy", config={"kb_path": kb_path, "language": language})
    nlp.add_pipe(
        "cd_linker", config={"kb_path": kb_path, "linker": linker, "threshold": link_threshold, "k": 10}
    )
    add_context(nlp, language=language, max_scope=max_scope)
    return nlp


get_nlp = lru_cache(maxsize=8)(build_nlp)
"""The pipeline for this configuration (the arguments of :func:`build_nlp`), built once per process."""
