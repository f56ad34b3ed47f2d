"""The extraction engine: recipe cache, recomputation on changed inputs, failures as recorded missing values."""

import hashlib

import pandas as pd
import pytest

from benchmarks.store import FeatureCache
from features.base import ExtractionError, Extractor
from features.engine import extract_features, recipe_hash, recipe_of

CALLS: list[str] = []


class FakeCohort:
    def __init__(self, texts: dict[str, str]):
        self.texts = texts
        self.availability = pd.DataFrame({"text": [True] * len(texts)}, index=list(texts))


class LengthExtractor(Extractor):
    name = "fake_length"
    version = "1"
    modality = "text"
    prefix = "len__"

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def inputs(self, cohort, patient_id):
        return cohort.texts[patient_id]

    def input_fingerprint(self, inputs):
        return hashlib.sha256(inputs.encode()).hexdigest()

    def extract(self, inputs):
        CALLS.append(inputs)
        if not inputs.strip():
            raise ExtractionError("empty report")
        words = inputs.split()
        out = {"n_words": len(words) * self.scale}
        for w in words:
            out[f"cnt__{w}"] = out.get(f"cnt__{w}", 0) + 1
        return out


@pytest.fixture()
def cohort():
    return FakeCohort({"P1": "secret ulcer ulcer", "P2": "no fistula", "P3": "   "})


def test_features_failures_and_zero_filled_counts(cohort, tmp_path):
    res = extract_features(LengthExtractor(), cohort, cache=FeatureCache(tmp_path), progress=False)
    assert list(res.features.index) == ["P1", "P2"]
    assert res.features.loc["P1", "len__n_words"] == 3
    assert res.features.loc["P1", "len__cnt__ulcer"] == 2
    assert res.features.loc["P2", "len__cnt__ulcer"] == 0  # absent count key means zero
    assert res.failures.to_dict("records") == [
        {
            "patient_id": "P3",
            "extractor": "fake_length",
            "part": "",
            "modality": "text",
            "category": "extraction error",
            "reason": "ExtractionError: empty report",
        }
    ]


def test_warm_cache_does_no_extraction_and_force_recomputes(cohort, tmp_path):
    first = extract_features(LengthExtractor(), cohort, cache=FeatureCache(tmp_path), progress=False)
    CALLS.clear()
    warm = extract_features(LengthExtractor(), cohort, cache=FeatureCache(tmp_path), progress=False)
    # P3's recorded failure is reused (not recomputed) but is a failure, never a cached row
    assert CALLS == [] and warm.n_computed == 0 and warm.n_cached == 2 and warm.n_failed == 1
    pd.testing.assert_frame_equal(first.features, warm.features)
    pd.testing.assert_frame_equal(first.failures, warm.failures)
    forced = extract_features(
        LengthExtractor(), cohort, cache=FeatureCache(tmp_path), force=True, progress=False
    )
    assert len(CALLS) == 3 and forced.n_computed == 3


def test_changed_input_or_params_are_recomputed(cohort, tmp_path):
    extract_features(LengthExtractor(), cohort, cache=FeatureCache(tmp_path), progress=False)
    CALLS.clear()
    cohort.texts["P2"] = "no fistula today"
    res = extract_features(LengthExtractor(), cohort, cache=FeatureCache(tmp_path), progress=False)
    assert len(CALLS) == 1 and res.features.loc["P2", "len__n_words"] == 3
    CALLS.clear()
    other = extract_features(LengthExtractor(scale=2.0), cohort, cache=FeatureCache(tmp_path), progress=False)
    assert len(CALLS) == 3 and other.features.loc["P1", "len__n_words"] == 6
    assert recipe_hash(recipe_of(LengthExtractor())) != recipe_hash(recipe_of(LengthExtractor(scale=2.0)))


def test_cache_never_holds_text(cohort, tmp_path):
    extract_features(LengthExtractor(), cohort, cache=FeatureCache(tmp_path), progress=False)
    blobs = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert b"secret ulcer" not in blobs and b"no fistula" not in blobs


def test_parallel_workers_give_identical_features(cohort, tmp_path):
    one = extract_features(LengthExtractor(), cohort, n_jobs=1, progress=False)
    two = extract_features(LengthExtractor(), cohort, n_jobs=2, progress=False)
    pd.testing.assert_frame_equal(one.features, two.features)
