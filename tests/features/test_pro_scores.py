"""PRO scoring against the reference test vectors (crohns_clinical_reference.md, sections 8.1-8.3, 8.6)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.cohort.schema import DIARY_PAIN, DIARY_STOOLS, IBDQ_ITEMS, SIBDQ_ITEMS
from features.pro import (
    IBDQ_DOMAINS,
    SCORE_COLUMNS,
    ScoringRules,
    cdai_band,
    cdai_from_components,
    compute_scores,
    hbi_band,
    pro2_remission,
    pro2_score,
    pro3_score,
    round_half_away,
    standard_weight,
)


@pytest.fixture(scope="module")
def score_one(pro_frame):
    def score_one(row: dict, sex: str | None = "M", rules: ScoringRules | None = None) -> pd.Series:
        out = compute_scores(pro_frame({"P1": row}), pd.Series({"P1": sex}), rules=rules)
        return out.loc["P1"]

    return score_one


def components(s: pd.Series) -> list[float]:
    names = ["stools", "pain", "wellbeing", "complications", "antidiarrhoeal", "mass", "hct", "weight"]
    return [s[f"cdai_component_{n}"] for n in names]


# --- CDAI ---------------------------------------------------------------------------------------------
def test_cdai_1_readycalculator_weight_5pct_below_standard(score_one, item_row) -> None:
    # Male, height 2.0 m -> standard weight 22.1 * 4 = 88.4 kg; 5% below is 83.98 kg.
    row = item_row(
        stools=4,
        pain=1,
        wellbeing=1,
        complications=1,
        antidiarrhoeal=1,
        mass=0,
        hct=40,
        weight_kg=83.98,
        height_m=2.0,
    )
    s = score_one(row, "M")
    assert s["standard_weight_kg"] == pytest.approx(88.4)
    assert components(s) == pytest.approx([8, 5, 7, 20, 30, 0, 42, 5])
    assert s["cdai"] == 117
    assert s["cdai_unrounded"] == pytest.approx(117)
    assert s["cdai_band"] == "remission"
    assert s["cdai_reason"] == ""


def test_cdai_2_haematocrit_component() -> None:
    c = cdai_from_components(0, 0, 0, 0, 0, 0, 40, 70, "M", standard_weight_kg=70)
    assert c["cdai_component_hct"].iloc[0] == 42
    c = cdai_from_components(0, 0, 0, 0, 0, 0, 40, 70, "F", standard_weight_kg=70)
    assert c["cdai_component_hct"].iloc[0] == 12


def test_cdai_3_merck_per_day_averages(score_one, height_for, item_row) -> None:
    c = cdai_from_components(
        3, 2, 2, 2, 1, 2, 40, 63, "M", standard_weight_kg=70, diary_inputs="per_day_average"
    ).iloc[0]
    assert components(c) == pytest.approx([42, 70, 98, 40, 30, 20, 42, 10])
    assert c["cdai"] == 352
    assert cdai_band(c["cdai"]) == "moderate"
    # Same patient through the daily diary columns: 3 stools, pain 2 and well-being 2 every day.
    row = item_row(
        stools=21, pain=14, wellbeing=14, complications=2, antidiarrhoeal=1, mass=2, hct=40,
        weight_kg=63, height_m=height_for(70, "M"),
    )  # fmt: skip
    row["cdai_arthritis"], row["cdai_iritis"], row["cdai_fever"] = 1, 0, 1  # arthralgia + fever
    s = score_one(row, "M")
    assert components(s) == pytest.approx([42, 70, 98, 40, 30, 20, 42, 10])
    assert s["cdai"] == 352


def test_cdai_4_female_at_standard_weight(score_one, item_row) -> None:
    row = item_row(stools=7, pain=3, wellbeing=4, hct=38, height_m=1.6, weight_kg=20.8 * 1.6**2)
    s = score_one(row, "F")
    assert components(s) == pytest.approx([14, 15, 28, 0, 0, 0, 24, 0], abs=1e-9)
    assert s["cdai"] == 81
    assert s["cdai_band"] == "remission"


def test_cdai_5_severe(score_one, height_for, item_row) -> None:
    row = item_row(
        stools=56, pain=21, wellbeing=28, complications=3, antidiarrhoeal=1, mass=5, hct=30,
        weight_kg=56, height_m=height_for(70, "M"),
    )  # fmt: skip
    s = score_one(row, "M")
    assert components(s) == pytest.approx([112, 105, 196, 60, 30, 50, 102, 20])
    assert s["cdai"] == 675
    assert s["cdai_band"] == "severe"


@pytest.mark.parametrize(
    ("clamp", "floor", "expected"),
    [(False, None, -38), (False, -10.0, -28), (True, -10.0, -10), (True, None, -20)],
)
def test_cdai_6_switches(
    clamp: bool, floor: float | None, expected: int, score_one, height_for, item_row
) -> None:
    rules = ScoringRules(clamp_hct_at_zero=clamp, weight_floor=floor)
    c = cdai_from_components(0, 0, 0, 0, 0, 0, 45, 72, "F", standard_weight_kg=60, rules=rules).iloc[0]
    assert c["cdai"] == expected
    row = item_row(hct=45, weight_kg=72, height_m=height_for(60, "F"))
    s = score_one(row, "F", rules)
    assert s["cdai"] == expected
    assert s["cdai_unrounded"] == pytest.approx(expected)


def test_cdai_default_rules_are_original_hct_and_floored_weight(score_one, height_for, item_row) -> None:
    rules = ScoringRules()
    assert rules.clamp_hct_at_zero is False and rules.weight_floor == -10.0 and rules.diary_min_days == 7
    assert score_one(item_row(hct=45, weight_kg=72, height_m=height_for(60, "F")), "F")["cdai"] == -28


@pytest.mark.parametrize(
    ("total", "band"),
    [(149, "remission"), (150, "mild"), (220, "mild"), (221, "moderate"), (450, "moderate"), (451, "severe")],
)
def test_cdai_b_bands(total: int, band: str) -> None:
    assert cdai_band(total) == band


def test_cdai_band_edge_configurable(score_one, height_for, item_row) -> None:
    assert cdai_band(220, mild_moderate_edge=219) == "moderate"
    assert cdai_band(219, mild_moderate_edge=219) == "mild"
    assert cdai_band(float("nan")) is None
    # The rules' edge reaches the band column of compute_scores.
    row = item_row(stools=35, pain=14, wellbeing=7, hct=47, weight_kg=70, height_m=height_for(70, "M"))
    base = score_one(row, "M")  # 70 + 70 + 49 = 189
    assert base["cdai"] == 189 and base["cdai_band"] == "mild"
    assert score_one(row, "M", ScoringRules(cdai_mild_moderate_edge=180))["cdai_band"] == "moderate"


@pytest.mark.parametrize(
    ("height", "male", "female"), [(1.75, 67.68, 63.70), (1.65, 60.17, 56.63)]
)  # fmt: skip
def test_stdwt(height: float, male: float, female: float) -> None:
    assert standard_weight(height, "M") == pytest.approx(male, abs=0.005)
    assert standard_weight(height, "F") == pytest.approx(female, abs=0.005)


def test_rounding_is_half_away_from_zero_and_components_are_kept() -> None:
    assert round_half_away(np.array([116.5, 117.5, -37.5, 0.4999])).tolist() == [117, 118, -38, 0]
    # Weight 0.5% below standard gives a 0.5 weight term: 42 + 0.5 -> 42.5 -> 43.
    c = cdai_from_components(0, 0, 0, 0, 0, 0, 40, 69.65, "M", standard_weight_kg=70).iloc[0]
    assert c["cdai_component_weight"] == pytest.approx(0.5)
    assert c["cdai_unrounded"] == pytest.approx(42.5)
    assert c["cdai"] == 43


def test_cdai_from_components_argument_checks() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        cdai_from_components(0, 0, 0, 0, 0, 0, 40, 70, "M")
    with pytest.raises(ValueError, match="diary_inputs"):
        cdai_from_components(0, 0, 0, 0, 0, 0, 40, 70, "M", standard_weight_kg=70, diary_inputs="mean")


# --- HBI ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("items", "expected", "band"),
    [((2, 2, 5, 1, 2), 12, "moderate"), ((1, 1, 2, 0, 0), 4, "remission"), ((4, 3, 10, 3, 3), 23, "severe")],
)
def test_hbi_vectors(items: tuple, expected: int, band: str, score_one, item_row) -> None:
    s = score_one(item_row(hbi=items))
    assert s["hbi"] == expected
    assert s["hbi_band"] == band
    assert s["hbi_reason"] == ""


@pytest.mark.parametrize(
    ("x", "band"),
    [(4, "remission"), (5, "mild"), (7, "mild"), (8, "moderate"), (16, "moderate"), (17, "severe")],
)
def test_hbi_b_bands(x: int, band: str) -> None:
    assert hbi_band(x) == band


def test_hbi_1_named_complications(score_one, item_row) -> None:
    row = item_row(hbi=(2, 2, 5, 1, 0))
    row["hbi_arthralgia"], row["hbi_anal_fissure"] = 1, 1
    assert score_one(row)["hbi"] == 12


# --- PRO2 / PRO3 --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sf", "ap", "expected"), [(1.5, 1.0, 8.0), (2.8, 1.0, 10.6), (6, 2, 22.0), (4, 1.5, 15.5)]
)  # fmt: skip
def test_pro2_vectors(sf: float, ap: float, expected: float) -> None:
    assert pro2_score(sf, ap) == pytest.approx(expected)


def test_pro2_remission_rules_separate_the_vectors() -> None:
    # PRO2-1: exactly 8 is not < 8 but meets Khanna's item cut-points.
    assert pro2_remission(1.5, 1.0, "khanna_lt8") == 0.0
    assert pro2_remission(1.5, 1.0, "sf1.5_ap1") == 1.0
    # PRO2-2: remission under SF<=2.8/AP<=1 only (and SF<=3).
    assert pro2_remission(2.8, 1.0, "khanna_lt8") == 0.0
    assert pro2_remission(2.8, 1.0, "sf1.5_ap1") == 0.0
    assert pro2_remission(2.8, 1.0, "sf2.8_ap1") == 1.0
    assert pro2_remission(2.8, 1.0, "sf3_ap1") == 1.0
    assert pro2_remission(3.0, 1.0, "sf2.8_ap1") == 0.0
    assert pro2_remission(1.0, 1.1, "sf3_ap1") == 0.0
    assert pro2_remission(1.0, 0.5, "khanna_lt8") == 1.0
    assert np.isnan(pro2_remission(float("nan"), 1.0))
    with pytest.raises(ValueError, match="unknown PRO2 remission rule"):
        pro2_remission(1, 1, "made_up")
    with pytest.raises(ValueError, match="pro2_remission_rule"):
        ScoringRules(pro2_remission_rule="made_up")


def test_pro2_pro3_from_daily_diary(score_one, item_row) -> None:
    # PRO2-3: 6 stools and pain 2 per day; well-being 1 per day.
    s = score_one(item_row(stools=42, pain=14, wellbeing=7))
    assert (s["sf_mean"], s["ap_mean"], s["wb_mean"]) == pytest.approx((6, 2, 1))
    assert s["pro2"] == pytest.approx(22.0)
    assert s["pro3"] == pytest.approx(29.0)
    assert s["pro3"] == pytest.approx(pro3_score(6, 2, 1))
    assert s["pro2_remission"] == 0.0
    # Mean SF 3 (sum 21), AP 1 (sum 7): remission only under the SF<=3 rule.
    row = item_row(stools=21, pain=7)
    assert score_one(row, rules=ScoringRules(pro2_remission_rule="sf3_ap1"))["pro2_remission"] == 1.0
    assert score_one(row, rules=ScoringRules(pro2_remission_rule="sf2.8_ap1"))["pro2_remission"] == 0.0
    # 7 x PRO2 is the CDAI points of stools + pain.
    s = score_one(item_row(stools=19, pain=9))
    assert 7 * s["pro2"] == pytest.approx(s["cdai_component_stools"] + s["cdai_component_pain"])


# --- IBDQ / SIBDQ ---------------------------------------------------------------------------------------
def test_ibdq_domain_map() -> None:
    assert {d: len(v) for d, v in IBDQ_DOMAINS.items()} == {
        "bowel": 10,
        "systemic": 5,
        "emotional": 12,
        "social": 5,
    }
    assert sorted(i for v in IBDQ_DOMAINS.values() for i in v) == list(range(1, 33))


@pytest.mark.parametrize(("value", "total", "remission"), [(5, 160, 0.0), (7, 224, 1.0), (1, 32, 0.0)])
def test_ibdq_constant_answers(value: int, total: int, remission: float, score_one, item_row) -> None:
    s = score_one(item_row(ibdq=value))
    assert s["ibdq_total"] == total
    assert (s["ibdq_bowel"], s["ibdq_systemic"], s["ibdq_emotional"], s["ibdq_social"]) == (
        10 * value,
        5 * value,
        12 * value,
        5 * value,
    )
    assert s["ibdq_remission"] == remission


def test_ibdq_remission_threshold_configurable(score_one, item_row) -> None:
    row = item_row(ibdq=5)
    row.update({c: 6 for c in IBDQ_ITEMS[:8]})  # 160 + 8 = 168
    assert score_one(row)["ibdq_total"] == 168
    assert score_one(row)["ibdq_remission"] == 0.0
    assert score_one(row, rules=ScoringRules(ibdq_remission_threshold=168))["ibdq_remission"] == 1.0


def test_ibdq_domains_follow_the_map(score_one, item_row) -> None:
    row = item_row(ibdq=1)
    for i in IBDQ_DOMAINS["bowel"]:
        row[f"ibdq_{i:02d}"] = 7
    for i in IBDQ_DOMAINS["social"]:
        row[f"ibdq_{i:02d}"] = 3
    s = score_one(row)
    assert (s["ibdq_bowel"], s["ibdq_systemic"], s["ibdq_emotional"], s["ibdq_social"]) == (70, 5, 12, 15)
    assert s["ibdq_total"] == 102


@pytest.mark.parametrize(("value", "total"), [(1, 10), (7, 70)])
def test_sibdq_range(value: int, total: int, score_one, item_row) -> None:
    s = score_one(item_row(sibdq=value))
    assert s["sibdq_total"] == total
    assert s["sibdq_remission"] == float(total >= 50)


# --- missing items ---------------------------------------------------------------------------------------
def test_cdai_needs_the_full_diary_by_default(score_one, item_row) -> None:
    row = item_row(stools=14, pain=7, wellbeing=7)
    row[DIARY_STOOLS[2]] = np.nan
    s = score_one(row)
    assert np.isnan(s["cdai"]) and np.isnan(s["cdai_component_stools"]) and np.isnan(s["cdai_unrounded"])
    assert "stools diary has 6 of 7 days" in s["cdai_reason"]
    assert s["cdai_band"] is None
    assert np.isnan(s["pro2"]) and "stools" in s["pro2_reason"]
    assert np.isnan(s["pro3"])
    assert not np.isnan(s["hbi"])  # other indices are unaffected


def test_diary_prorating_from_min_days(score_one, height_for, item_row) -> None:
    # 5 answered days with 2 stools each: pro-rated weekly sum 14, mean 2.
    row = item_row(stools=14, pain=7, wellbeing=7, hct=47, weight_kg=70, height_m=height_for(70, "M"))
    for c in DIARY_STOOLS[5:]:
        row[c] = np.nan
    for c in DIARY_STOOLS[:5]:
        row[c] = 2
    rules = ScoringRules(diary_min_days=4)
    s = score_one(row, rules=rules)
    assert s["cdai_component_stools"] == pytest.approx(28)
    assert s["sf_mean"] == pytest.approx(2)
    assert s["cdai"] == 28 + 35 + 49
    assert s["cdai_reason"] == ""
    row[DIARY_STOOLS[4]] = np.nan  # 4 days still enough
    assert score_one(row, rules=rules)["cdai"] == 112
    row[DIARY_STOOLS[3]] = np.nan  # 3 days: not enough
    s = score_one(row, rules=rules)
    assert np.isnan(s["cdai"]) and "3 of 7 days (needs 4)" in s["cdai_reason"]
    with pytest.raises(ValueError, match="diary_min_days"):
        ScoringRules(diary_min_days=0)


def test_cdai_missing_item_or_sex_is_nan_with_reason(score_one, pro_frame, item_row) -> None:
    row = item_row()
    row["height_m"] = np.nan
    s = score_one(row)
    assert np.isnan(s["cdai"]) and "height_m" in s["cdai_reason"]
    s = score_one(item_row(), sex=None)
    assert np.isnan(s["cdai"]) and "sex" in s["cdai_reason"]
    # Absent columns count as missing.
    df = pro_frame({"P1": item_row()}).drop(columns=["cdai_fever", "haematocrit"])
    s = compute_scores(df, pd.Series({"P1": "M"})).loc["P1"]
    assert np.isnan(s["cdai"]) and "cdai_fever" in s["cdai_reason"] and "haematocrit" in s["cdai_reason"]


def test_hbi_missing_item_is_nan_with_reason(score_one, item_row) -> None:
    row = item_row(hbi=(1, 1, 1, 0, 0))
    row["hbi_uveitis"] = None
    s = score_one(row)
    assert np.isnan(s["hbi"]) and "hbi_uveitis" in s["hbi_reason"] and s["hbi_band"] is None


def test_ibdq_imputes_one_missing_item_per_domain(score_one, item_row) -> None:
    row = item_row(ibdq=5)
    bowel = [f"ibdq_{i:02d}" for i in IBDQ_DOMAINS["bowel"]]
    row[bowel[0]] = 7
    row[bowel[1]] = np.nan  # answered bowel items: 7 + 8 x 5 = 47 over 9 -> mean 47/9
    s = score_one(row)
    assert s["ibdq_bowel"] == pytest.approx(47 / 9 * 10)
    assert s["ibdq_total"] == pytest.approx(47 / 9 * 10 + 25 + 60 + 25)
    assert s["ibdq_n_imputed"] == 1 and s["ibdq_total_reason"] == ""
    row[bowel[2]] = np.nan  # two missing in one domain: that domain and the total are NaN
    s = score_one(row)
    assert np.isnan(s["ibdq_bowel"]) and np.isnan(s["ibdq_total"]) and np.isnan(s["ibdq_remission"])
    assert "2 of 10 items missing" in s["ibdq_bowel_reason"] and "bowel" in s["ibdq_total_reason"]
    assert s["ibdq_social"] == 25 and s["ibdq_social_reason"] == ""
    strict = ScoringRules(ibdq_max_missing_per_domain=0)
    one = item_row(ibdq=5)
    one[IBDQ_ITEMS[1]] = np.nan  # item 2: systemic
    s = score_one(one, rules=strict)
    assert np.isnan(s["ibdq_systemic"]) and np.isnan(s["ibdq_total"]) and s["ibdq_bowel"] == 50


def test_sibdq_missing_rule(score_one, item_row) -> None:
    row = item_row(sibdq=4)
    row[SIBDQ_ITEMS[0]] = np.nan
    assert score_one(row)["sibdq_total"] == 40
    row[SIBDQ_ITEMS[1]] = np.nan
    s = score_one(row)
    assert np.isnan(s["sibdq_total"]) and "2 of 10 items missing" in s["sibdq_total_reason"]


def test_every_score_has_a_reason_column_and_reasons_explain_nans(pro_frame, item_row) -> None:
    rows = {"A": item_row(), "B": item_row()}
    for c in [*DIARY_PAIN[:2], "hbi_pain", IBDQ_ITEMS[0], IBDQ_ITEMS[4], SIBDQ_ITEMS[0], SIBDQ_ITEMS[1]]:
        rows["B"][c] = np.nan
    out = compute_scores(pro_frame(rows), pd.Series({"A": "M", "B": "F"}))
    assert list(out.index) == ["A", "B"]
    for c in SCORE_COLUMNS:
        assert out[c].notna()["A"] and out[f"{c}_reason"]["A"] == ""
        assert out[c].isna()["B"] == (out[f"{c}_reason"]["B"] != ""), c
    assert out.loc["B", ["cdai", "hbi", "pro2", "pro3", "ibdq_total", "sibdq_total"]].isna().all()
    assert out.loc["B", "ibdq_social"] == 25


# --- invalid input ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("col", "value", "message"),
    [
        ("ibdq_07", 8, "outside"),
        ("ibdq_07", 0, "outside"),
        ("diary_pain_d3", 4, "outside"),
        ("diary_stools_d1", 2.5, "not an integer"),
        ("diary_wellbeing_d2", "bad", "not a number"),
        ("cdai_abdominal_mass", 3, "not in"),
        ("haematocrit", 5.0, "outside"),
        ("height_m", "1,75", "not a number"),
    ],
)
def test_invalid_items_raise_naming_patient_and_item(
    col: str, value: object, message: str, pro_frame, item_row
) -> None:
    rows = {"P1": item_row(), "P7": item_row()}
    rows["P7"][col] = value
    with pytest.raises(ValueError, match=rf"patient P7, item {col}: .*{message}"):
        compute_scores(pro_frame(rows), pd.Series({"P1": "M", "P7": "F"}))


def test_numeric_strings_and_bools_are_accepted(pro_frame, item_row) -> None:
    row = item_row(ibdq=5)
    row["ibdq_01"] = "5"
    row["cdai_fever"] = False
    df = pro_frame({"P1": row}).astype(object)
    assert compute_scores(df, pd.Series({"P1": "M"})).loc["P1", "ibdq_total"] == 160


def test_bad_sex_and_duplicate_ids_raise(score_one, pro_frame, item_row) -> None:
    with pytest.raises(ValueError, match=r"patient P1, field sex: 'X'"):
        score_one(item_row(), sex="X")
    df = pd.concat([pro_frame({"P1": item_row()}), pro_frame({"P1": item_row()})])
    with pytest.raises(ValueError, match="duplicate patient ids"):
        compute_scores(df, pd.Series({"P1": "M"}))
    with pytest.raises(TypeError):
        compute_scores(item_row(), pd.Series({"P1": "M"}))  # type: ignore[arg-type]


def test_unknown_columns_are_ignored_and_input_is_not_modified(pro_frame, item_row) -> None:
    df = pro_frame({"P1": item_row()})
    df["free_text_note"] = "anything"
    before = df.copy()
    out = compute_scores(df, pd.Series({"P1": "M"}))
    pd.testing.assert_frame_equal(df, before)
    assert "free_text_note" not in out.columns
