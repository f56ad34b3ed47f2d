"""Deep models on the raw data (3D CNN, fine-tuned MiniLM top layers, diary GRU, attention fusion) as
scikit-learn classifiers; they find each patient's raw arrays through :func:`using_raw`."""

from models.deep.classifiers import (
    AttentionFusionClassifier,
    AttentionFusionNet,
    DeepClassifier,
    DeepNet,
    deep_stats,
    space_deep,
)
from models.deep.context import current_raw, using_raw

__all__ = [
    "AttentionFusionClassifier",
    "AttentionFusionNet",
    "DeepClassifier",
    "DeepNet",
    "current_raw",
    "deep_stats",
    "space_deep",
    "using_raw",
]
