"""ProExtractor: the per-patient contract (inputs, fingerprint, extract) over a fake cohort."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.base import clone

from benchmarks.cohort.schema import DIARY_STOOLS, PRO_ITEMS
from benchmarks.store import FeatureCache
from features.pro import RULE_FIELDS, ProExtractor
from features.registry import make_extractor


@pytest.fixture
def cohort(pro_cohort, pro_frame, height_for, item_row):
    rows = {
        "P1": item_row(
            stools=4, pain=1, wellbeing=1, complications=1, antidiarrhoeal=1, hct=40, weight_kg=83.98, height_m=2.0,
            hbi=(2, 2, 5, 1, 2), ibdq=5, sibdq=7,
        ),
        "P2": item_row(stools=42, pain=14, wellbeing=7, hct=45, weight_kg=72, height_m=height_for(60, "F")),
        "P3": item_row(),
    }  # fmt: skip
    rows["P3"][DIARY_STOOLS[0]] = np.nan
    return pro_cohort(pro_frame(rows), {"P1": "M", "P2": "F", "P3": None})


def test_registry_and_contract_attributes() -> None:
    ext = make_extractor("pro_indices")
    assert isinstance(ext, ProExtractor)
    assert (ext.name, ext.modality, ext.prefix) == ("pro_indices", "pro", "pro__")
    assert ext.version
    assert set(ext.get_params()) == {*RULE_FIELDS, "include_items"}
    tuned = clone(ProExtractor(weight_floor=None, pro2_remission_rule="sf3_ap1"))
    assert tuned.rules.weight_floor is None and tuned.rules.pro2_remission_rule == "sf3_ap1"


def test_inputs(cohort) -> None:
    ext = ProExtractor()
    inp = ext.inputs(cohort, "P1")
    assert inp["patient_id"] == "P1" and inp["sex"] == "M"
    assert inp["items"]["haematocrit"] == 40
    assert ext.inputs(cohort, "missing-patient") is None


def test_extract_scores_components_and_bands(cohort) -> None:
    ext = ProExtractor()
    f = ext.extract(ext.inputs(cohort, "P1"))
    assert all(isinstance(k, str) and not k.startswith("pro__") for k in f)
    assert all(isinstance(v, float) for v in f.values())
    assert f["cdai"] == 117 and f["cdai_band_code"] == 0.0
    assert f["cdai_component_hct"] == pytest.approx(42) and f["cdai_component_weight"] == pytest.approx(5)
    assert f["hbi"] == 12 and f["hbi_band_code"] == 2.0
    assert f["pro2"] == pytest.approx(2 * 4 / 7 + 5 * 1 / 7)
    assert f["ibdq_total"] == 160 and f["ibdq_remission"] == 0.0
    assert f["sibdq_total"] == 70
    # Raw items: diary summaries and every other item.
    assert f["diary_stools_sum7"] == 4 and f["diary_stools_days"] == 7
    assert f["diary_stools_mean"] == pytest.approx(4 / 7)
    assert f["item_haematocrit"] == 40 and f["item_ibdq_01"] == 5 and f["item_cdai_antidiarrhoeal"] == 1
    assert not any(k.startswith("item_diary_") for k in f)
    n_items = len([c for c in PRO_ITEMS if not c.startswith("diary_")])
    assert len([k for k in f if k.startswith("item_")]) == n_items

    f2 = ext.extract(ext.inputs(cohort, "P2"))
    assert f2["cdai"] == 84 + 70 + 49 - 18 - 10  # CDAI-6 style: Hct above standard, weight floored
    assert f2["pro2"] == pytest.approx(22)


def test_missing_items_give_nan_features_not_failures(cohort) -> None:
    ext = ProExtractor()
    f = ext.extract(ext.inputs(cohort, "P3"))
    assert math.isnan(f["cdai"]) and math.isnan(f["cdai_band_code"]) and math.isnan(f["pro2"])
    assert f["hbi"] == 0 and f["ibdq_total"] == 160
    assert f["diary_stools_days"] == 6 and math.isnan(f["diary_stools_sum7"]) and f["diary_stools_mean"] == 0
    prorated = ProExtractor(diary_min_days=4).extract(ext.inputs(cohort, "P3"))
    assert math.isnan(prorated["cdai"])  # sex is still missing
    assert prorated["pro2"] == 0.0


def test_include_items_false(cohort) -> None:
    f = ProExtractor(include_items=False).extract(ProExtractor().inputs(cohort, "P1"))
    assert "cdai" in f and not any(k.startswith(("item_", "diary_")) for k in f)


def test_fingerprint_tracks_items_sex_and_rules(cohort) -> None:
    ext = ProExtractor()
    inp = ext.inputs(cohort, "P1")
    fp = ext.input_fingerprint(inp)
    assert len(fp) == 64 and fp == ext.input_fingerprint(ext.inputs(cohort, "P1"))
    assert fp != ext.input_fingerprint(ext.inputs(cohort, "P2"))
    changed = {**inp, "items": inp["items"].copy()}
    changed["items"]["ibdq_05"] = 6
    assert ext.input_fingerprint(changed) != fp
    assert ext.input_fingerprint({**inp, "sex": "F"}) != fp
    assert ProExtractor(clamp_hct_at_zero=True).input_fingerprint(inp) != fp
    assert ProExtractor(include_items=False).input_fingerprint(inp) != fp
    # int vs float spelling of the same value and unrelated columns do not change it.
    respelled = {**inp, "items": inp["items"].astype(object)}
    respelled["items"]["haematocrit"] = 40
    respelled["items"]["note"] = "unrelated"
    assert ext.input_fingerprint(respelled) == fp


def test_invalid_item_raises_naming_patient_and_item(cohort) -> None:
    ext = ProExtractor()
    inp = ext.inputs(cohort, "P1")
    bad = {**inp, "items": inp["items"].astype(object)}
    bad["items"]["hbi_pain"] = 9
    with pytest.raises(ValueError, match=r"patient P1, item hbi_pain: 9 outside"):
        ext.extract(bad)
    with pytest.raises(ValueError, match="pro2_remission_rule"):
        ProExtractor(pro2_remission_rule="nope").extract(inp)


def test_through_the_feature_engine(cohort, tmp_path) -> None:
    from features.engine import extract_features

    cohort._items.loc["P2", "ibdq_03"] = 0  # out of range: a recorded failure, not a crash
    res = extract_features(
        ProExtractor(), cohort, ["P1", "P2", "P3"], cache=FeatureCache(tmp_path), progress=False
    )
    assert list(res.features.index) == ["P1", "P3"]
    assert res.features.loc["P1", "pro__cdai"] == 117
    assert list(res.failures["patient_id"]) == ["P2"]
    assert "patient P2, item ibdq_03" in res.failures["reason"].iloc[0]
    again = extract_features(
        ProExtractor(), cohort, ["P1", "P3"], cache=FeatureCache(tmp_path), progress=False
    )
    assert again.n_cached == 2 and again.n_computed == 0
