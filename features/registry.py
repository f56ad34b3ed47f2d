"""The one registry of feature extractors: registry name -> class (imported lazily)."""

from __future__ import annotations

from importlib import import_module
from typing import Any

EXTRACTORS: dict[str, str] = {
    "radiomics": "features.imaging:RadiomicsExtractor",
    "report_concepts": "features.text:ReportConceptExtractor",
    "report_embeddings": "features.text:ReportEmbeddingExtractor",
    "pro_indices": "features.pro:ProExtractor",
}


def get_extractor_class(name: str) -> type:
    """Return the extractor class registered under ``name``."""
    try:
        module, attr = EXTRACTORS[name].split(":")
    except KeyError:
        raise KeyError(f"unknown extractor {name!r}; registered: {sorted(EXTRACTORS)}") from None
    return getattr(import_module(module), attr)


def make_extractor(name: str, **params: Any) -> Any:
    """Instantiate the extractor ``name`` with ``params``."""
    return get_extractor_class(name)(**params)
