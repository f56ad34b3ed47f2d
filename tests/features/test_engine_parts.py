"""The engine's parts and failures (issue 10): per-part extraction and cache, not-applicable inputs, failure
categories kept through the cache, failures never counted as cached, patients who lose a modality named."""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

import pandas as pd
import pytest

from benchmarks.store import FeatureCache
from features import engine, registry
from features.base import ExtractionError, Extractor
from features.engine import (
    CATEGORY,
    FAILURE_COLUMNS,
    NO_APPLICABLE_PART,
    extract_features,
    extract_modalities,
    failure_counts,
    recipe_hash,
    recipe_of,
)

CALLS: list[tuple[str, str]] = []


class ScanCohort:
    """Patients with scans by kind ("MR", "CT"): each scan is a text standing for its voxels."""

    def __init__(self, scans: dict[str, dict[str, str]]) -> None:
        self.scans = scans
        self.availability = pd.DataFrame({"imaging": [True] * len(scans)}, index=list(scans))


class KindExtractor(Extractor):
    """One part of :class:`ScanExtractor`: the scans of one kind; a scan "bad" fails, "crash" raises a
    TypeError, "fp-error" fails while fingerprinting."""

    name: ClassVar[str] = "fake_scans"
    version: ClassVar[str] = "1"
    modality: ClassVar[str] = "imaging"

    def __init__(self, part: str = "MR", scale: float = 1.0) -> None:
        self.part = part
        self.scale = scale

    @property
    def prefix(self) -> str:
        return f"scan__{self.part.lower()}__"

    def inputs(self, cohort: ScanCohort, patient_id: str) -> str | None:
        return cohort.scans[patient_id].get(self.part)

    def input_fingerprint(self, inputs: str) -> str:
        if inputs == "fp-error":
            raise OSError("cannot hash the file")
        return hashlib.sha256(inputs.encode()).hexdigest()

    def extract(self, inputs: str) -> dict[str, float]:
        CALLS.append((engine.part_of(self), inputs))
        if inputs == "bad":
            raise ExtractionError(
                "mask origin differs from the image's; resample it", category="geometry mismatch"
            )
        if inputs == "crash":
            nothing: Any = None
            return nothing["boom"]  # the issue's TypeError, from a real bug
        return {"length": len(inputs) * self.scale}


class ScanExtractor(KindExtractor):
    """A multi-part extractor: one :class:`KindExtractor` per configured kind."""

    def __init__(self, kinds: tuple[str, ...] = ("MR", "CT"), scale: float = 1.0) -> None:
        self.kinds = kinds
        self.scale = scale

    def parts(self) -> list[KindExtractor]:
        return [KindExtractor(k, self.scale) for k in self.kinds]


@pytest.fixture()
def fake_registry(monkeypatch):
    monkeypatch.setitem(registry.EXTRACTORS, "fake_scans", f"{__name__}:ScanExtractor")


@pytest.fixture()
def cohort() -> ScanCohort:
    return ScanCohort(
        {
            "A": {"MR": "good mr"},  # MR only: the CT part does not apply
            "B": {"CT": "good ct"},  # CT only
            "C": {"MR": "mr scan", "CT": "ct scan"},  # both
            "D": {"MR": "bad", "CT": "crash"},  # every part fails: loses imaging
            "E": {"MR": "bad", "CT": "a ct"},  # MR fails, CT succeeds: keeps imaging
            "F": {"CT": "fp-error"},
        }
    )


def _run(cohort: ScanCohort, tmp_path, **kw: Any) -> engine.FeatureSet:
    return extract_modalities(
        cohort,
        {"imaging": ["fake_scans"]},
        kw.pop("params", {}),
        cache=FeatureCache(tmp_path),
        progress=False,
        **kw,
    )


def test_parts_are_extracted_cached_and_joined(cohort, fake_registry, tmp_path) -> None:
    CALLS.clear()
    fs = _run(cohort, tmp_path)
    block = fs.blocks["imaging"]
    assert sorted(block.index) == ["A", "B", "C", "E"]  # D and F: no part succeeded
    assert list(block.columns) == ["scan__mr__length", "scan__ct__length"]  # in the order of parts()
    assert block.loc["C"].tolist() == [7.0, 7.0]
    assert pd.isna(block.at["A", "scan__ct__length"]) and pd.isna(block.at["B", "scan__mr__length"])
    # each part its own recipe and cache table under the extractor's name
    keys = {recipe_hash(recipe_of(KindExtractor(k))) for k in ("MR", "CT")}
    assert len(keys) == 2 and {p.stem for p in (tmp_path / "fake_scans").glob("*.parquet")} == keys
    summary = fs.summary().set_index("part")
    assert list(fs.summary().columns) == engine.SUMMARY_COLUMNS
    assert summary.loc["MR", ["patients", "failed", "not_applicable", "cached", "computed"]].tolist() == [
        2,
        2,
        2,
        0,
        4,
    ]
    assert summary.loc["CT", ["patients", "failed", "not_applicable", "cached", "computed"]].tolist() == [
        3,
        2,
        1,
        0,
        4,
    ]
    assert (summary["extractor"] == "fake_scans").all() and (summary["modality"] == "imaging").all()


def test_failures_have_their_category_and_the_all_failed_patients_are_named(cohort, fake_registry, tmp_path):
    fs = _run(cohort, tmp_path)
    assert list(fs.failures.columns) == FAILURE_COLUMNS
    got = {(r.patient_id, r.part): r.category for r in fs.failures.itertuples()}
    assert got == {
        ("D", "MR"): "geometry mismatch",
        ("E", "MR"): "geometry mismatch",
        ("D", "CT"): "TypeError",  # no category: the exception's type
        ("F", "CT"): "OSError",  # an exception in input_fingerprint is a failure of that patient
    }
    assert "resample it" in fs.failures.set_index(["patient_id", "part"]).at[("D", "MR"), "reason"]
    counts = fs.failure_counts()
    assert counts[["modality", "part", "category", "n"]].values.tolist() == [
        ["imaging", "CT", "OSError", 1],
        ["imaging", "CT", "TypeError", 1],
        ["imaging", "MR", "geometry mismatch", 2],
    ]
    assert counts.set_index("category").at["geometry mismatch", "fix"].startswith("resample the mask")
    assert fs.lost == {"imaging": ["D", "F"]}  # E keeps imaging through its CT part
    prov = fs.provenance()
    assert prov["lost_patients"] == {"imaging": ["D", "F"]} and prov["n_failed"] == 4
    assert {(f["part"], f["category"], f["n"]) for f in prov["failures"]} == {
        ("CT", "OSError", 1),
        ("CT", "TypeError", 1),
        ("MR", "geometry mismatch", 2),
    }


def test_rerun_reuses_failures_as_failures_never_as_cached(cohort, fake_registry, tmp_path) -> None:
    first = _run(cohort, tmp_path)
    CALLS.clear()
    again = _run(cohort, tmp_path)
    assert CALLS == []  # nothing recomputed: the recorded failures are reused
    summary = again.summary().set_index("part")
    assert summary.loc["MR", ["cached", "failed", "computed"]].tolist() == [2, 2, 0]
    assert summary.loc["CT", ["cached", "failed", "computed"]].tolist() == [3, 2, 0]  # F is not cached either
    pd.testing.assert_frame_equal(first.failures, again.failures)  # categories read back from the cache
    pd.testing.assert_frame_equal(first.blocks["imaging"], again.blocks["imaging"])
    assert again.lost == first.lost


def test_old_cache_rows_without_a_category_get_one_from_their_reason(cohort, tmp_path) -> None:
    part = KindExtractor("MR")
    cache = FeatureCache(tmp_path)
    extract_features(part, cohort, cache=cache, progress=False)
    key = recipe_hash(recipe_of(part))
    table = cache.read(part.name, key)
    table.loc["D", "_error"] = "ValueError: an old failure"
    cache.write(part.name, key, table.drop(columns=CATEGORY))  # as written before categories existed
    CALLS.clear()
    res = extract_features(part, cohort, cache=cache, progress=False)
    assert CALLS == []
    assert res.failures.set_index("patient_id")["category"].to_dict() == {
        "D": "ValueError",
        "E": "extraction error",  # an ExtractionError's default category
    }


def test_a_part_that_does_not_apply_gives_no_row_and_no_failure(tmp_path) -> None:
    cohort = ScanCohort({"A": {"MR": "good mr"}, "B": {"MR": "other mr"}})
    res = extract_features(KindExtractor("CT"), cohort, cache=FeatureCache(tmp_path), progress=False)
    assert res.features.empty and res.failures.empty and list(res.failures.columns) == FAILURE_COLUMNS
    assert (res.n_not_applicable, res.n_cached, res.n_computed, res.n_failed) == (2, 0, 0, 0)


def test_a_patient_no_part_applies_to_is_a_failure_not_a_silent_loss(fake_registry, tmp_path) -> None:
    """The issue's case: the extractor only reads MR, so a CT-only patient would silently lose imaging."""
    cohort = ScanCohort({"A": {"MR": "good mr"}, "B": {"CT": "a ct"}})
    fs = _run(cohort, tmp_path, params={"fake_scans": {"kinds": ("MR",)}})
    assert list(fs.blocks["imaging"].index) == ["A"]
    assert fs.summary()["failed"].tolist() == [0]  # the MR part itself did not fail on B
    (row,) = fs.failures.to_dict("records")
    assert row["patient_id"] == "B" and row["category"] == NO_APPLICABLE_PART and row["part"] == ""
    assert "patient B has imaging data but no configured part of fake_scans applies" in row["reason"]
    assert fs.lost == {"imaging": ["B"]}


def test_an_extractor_without_parts_is_its_own_part(tmp_path) -> None:
    class WholeExtractor(KindExtractor):
        prefix = "whole__"

        def __init__(self, scale: float = 1.0) -> None:
            self.scale = scale

        def inputs(self, cohort: ScanCohort, patient_id: str) -> str | None:
            return cohort.scans[patient_id].get("MR")

    cohort = ScanCohort({"A": {"MR": "good mr"}})
    whole = WholeExtractor()
    assert "part" not in recipe_of(whole)  # the cache key of an extractor without parts is unchanged
    assert engine.extractor_parts(whole) == [whole]
    res = extract_features(whole, cohort, cache=FeatureCache(tmp_path), progress=False)
    assert res.part == "" and res.features.to_dict() == {"whole__length": {"A": 7.0}}


def test_parts_must_have_distinct_names_and_columns(fake_registry, tmp_path) -> None:
    with pytest.raises(ValueError, match="distinct, non-empty names"):
        engine.extractor_parts(ScanExtractor(kinds=("MR", "MR")))
    with pytest.raises(ValueError, match="no parts"):
        engine.extractor_parts(ScanExtractor(kinds=()))
    frame = pd.DataFrame({"x": [1.0]}, index=["A"])
    with pytest.raises(ValueError, match="'a' and 'b' both give column"):
        engine._join_parts([("a", frame), ("b", frame)], "imaging")


def test_failure_counts_of_no_failure() -> None:
    counts = failure_counts(pd.DataFrame(columns=FAILURE_COLUMNS))
    assert counts.empty and list(counts.columns) == ["modality", "part", "category", "n", "example", "fix"]
