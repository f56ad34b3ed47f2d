"""The one contract every feature extractor follows."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import pandas as pd


class ExtractionError(Exception):
    """A single case could not be extracted; the message is recorded as the reason (never report text).

    ``category`` is a short, fixed phrase naming the kind of failure (e.g. "geometry mismatch",
    "label absent", "unreadable file"): failures are counted by it in the run summary and the report.
    """

    def __init__(self, message: str, *, category: str = "extraction error") -> None:
        super().__init__(message)
        self.category = category


class Params:
    """scikit-learn's parameter protocol (``get_params``, ``set_params``, ``sklearn.base.clone``) without
    importing scikit-learn: an extraction worker starts in a fraction of the time (scikit-learn and the
    SciPy it pulls cost ~0.7 s per process). Parameters are the ``__init__`` arguments, stored unchanged."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        init = cls.__init__
        if init is object.__init__:
            return []
        params = inspect.signature(init).parameters.values()
        if any(p.kind == p.VAR_POSITIONAL for p in params):
            raise TypeError(f"{cls.__name__}.__init__ must not take *args (scikit-learn convention)")
        return sorted(p.name for p in params if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The ``__init__`` parameters and their values (``deep`` adds ``name__param`` of nested ones)."""
        out: dict[str, Any] = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params: Any) -> Params:
        """Set parameters by name; an unknown name is a ``ValueError`` listing the valid ones."""
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"invalid parameter {key!r} for {type(self).__name__}; valid: {valid}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({args})"


class Extractor(Params):
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
        from features.engine import extract_features

        return extract_features(self, cohort, patient_ids=patient_ids, **engine_kwargs).features
