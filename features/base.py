"""The one contract every feature extractor follows."""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd
from sklearn.base import BaseEstimator

from features.engine import extract_features


class ExtractionError(Exception):
    """A single case could not be extracted; the message is recorded as the reason (never report text).

    ``category`` is a short, fixed phrase naming the kind of failure (e.g. "geometry mismatch",
    "label absent", "unreadable file"): failures are counted by it in the run summary and the report.
    """

    def __init__(self, message: str, *, category: str = "extraction error") -> None:
        super().__init__(message)
        self.category = category


class Extractor(BaseEstimator):
    """A fixed, per-patient feature extractor.

    Subclasses set ``name`` (the registry key), ``version`` (bump when output changes), ``modality``
    (one of ``benchmarks.cohort.schema.MODALITIES``) and ``prefix`` (column namespace, e.g.
    ``"rad__"``), take their parameters in ``__init__`` like scikit-learn estimators, and implement:

    - ``inputs(cohort, patient_id)``: the patient's raw inputs for this modality (paths, rows, texts);
      ``None`` when the patient lacks the modality.
    - ``input_fingerprint(inputs)``: a string that changes whenever the inputs change (content hashes of
      files, hashes of texts). It goes into the cache key; it must never contain report text.
    - ``extract(inputs)``: a flat ``{feature_name: float}`` dict without the prefix. Raise
      ``ExtractionError`` (or any exception) for a case that cannot be processed: the engine records the
      reason and yields a missing row, it never crashes the run.

    Extractors are stateless: whatever is learned from data (vocabularies, TF-IDF, SVD, scalers) lives
    in the model pipelines and is fitted inside the training fold. ``fit`` exists for the contract and
    returns ``self``.

    ``transform`` runs the extractor over a cohort through ``features.engine.extract_features``
    (parallel, cached, failures recorded as missing values).
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "0"
    modality: ClassVar[str] = ""
    prefix: ClassVar[str] = ""

    def fit(self, cohort: Any, patient_ids: list[str] | None = None) -> Extractor:
        return self

    def inputs(self, cohort: Any, patient_id: str) -> Any:
        raise NotImplementedError

    def input_fingerprint(self, inputs: Any) -> str:
        raise NotImplementedError

    def extract(self, inputs: Any) -> dict[str, float]:
        raise NotImplementedError

    def transform(
        self, cohort: Any, patient_ids: list[str] | None = None, **engine_kwargs: Any
    ) -> pd.DataFrame:
        """Features for ``patient_ids`` (default: all patients with this modality), through the engine."""
        return extract_features(self, cohort, patient_ids=patient_ids, **engine_kwargs).features
