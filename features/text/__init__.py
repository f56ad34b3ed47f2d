"""Clinical report text: offline NLP pipeline (features.text.pipeline) and the two text extractors."""

from features.text.extractors import ReportConceptExtractor, ReportEmbeddingExtractor, ReportInputs

__all__ = ["ReportConceptExtractor", "ReportEmbeddingExtractor", "ReportInputs"]
