"""Tests of the synthetic cohort generator: contract, realism bands, determinism, images, knobs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from scipy.stats import spearmanr

from benchmarks.cohort.regions import parse_regions
from benchmarks.cohort.schema import (
    ENDPOINTS,
    MODALITIES,
    PATIENT_CATEGORICAL,
    PATIENT_OPTIONAL,
    PRO_ITEMS,
    SEVERITY_CLASSES,
)
from benchmarks.store import FolderError
from benchmarks.synthetic import SyntheticConfig, build_tables, generate_cohort, severity_class

TABLES = ("patients.csv", "imaging.csv", "reports.csv", "pro.csv")
TINY = {"image_shape": (32, 32, 16), "n_jobs": 1}


@pytest.fixture(scope="module")
def default_cohort(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    """The default cohort (n=400, seed 0), tables only."""
    out = tmp_path_factory.mktemp("default")
    cohort = generate_cohort(out, n=400, seed=0, config=SyntheticConfig(write_images=False))
    frames = {name.removesuffix(".csv"): pd.read_csv(cohort / name) for name in TABLES}
    frames["ground_truth"] = pd.read_csv(out / "ground_truth.csv")
    return frames


def _rho(a: pd.Series, b: pd.Series) -> float:
    return float(spearmanr(a, b).statistic)


# Bands: the Spearman SE at n=400 is about (1 - rho^2) / sqrt(n - 3), i.e. 0.044 at rho 0.35, 0.035 at
# 0.53, 0.022 at 0.75 and 0.018 at 0.8. Each band is the reference target (section 9.1) +- about 3 SE, so
# a correct generator passes for any seed while a mis-specified loading (e.g. PROs driven by inflammation
# as strongly as endoscopy is) fails.
REALISM_BANDS = {
    ("cdai", "ses_cd"): (0.22, 0.50),  # target rho 0.38 (Schoepfer 2010), 0.32 (Cellier 1994)
    ("calprotectin", "ses_cd"): (0.65, 0.85),  # target 0.75
    ("maria", "ses_cd"): (0.70, 0.90),  # target ~0.8 (segmental MaRIA vs CDEIS 0.82)
    ("hbi", "cdai"): (0.70, 0.90),  # target 0.80 (Vermeire 2010)
    ("crp", "ses_cd"): (0.42, 0.64),  # target 0.53
    ("leukocytes", "ses_cd"): (0.28, 0.56),  # target 0.42
}


@pytest.mark.parametrize("pair", list(REALISM_BANDS))
def test_realism_correlations(default_cohort: dict[str, pd.DataFrame], pair: tuple[str, str]) -> None:
    p = default_cohort["patients"]
    lo, hi = REALISM_BANDS[pair]
    rho = _rho(p[pair[0]], p[pair[1]])
    assert lo <= rho <= hi, f"Spearman {pair}: {rho:.3f} outside [{lo}, {hi}]"


def test_prevalences_and_missingness(default_cohort: dict[str, pd.DataFrame]) -> None:
    p = default_cohort["patients"]
    share = p["severity"].value_counts(normalize=True).reindex(list(SEVERITY_CLASSES), fill_value=0)
    # Targets 35/25/25/15 %; binomial SE at n=400 is <= 2.5 points, bands are +- ~3 SE.
    for cls, target in zip(SEVERITY_CLASSES, (0.35, 0.25, 0.25, 0.15), strict=True):
        assert abs(share[cls] - target) <= 0.075, (cls, share[cls])
    assert 0.37 <= (p["cdai"] < 150).mean() <= 0.53  # CDAI remission ~45 %
    assert (p["severity"] == [severity_class(v) for v in p["ses_cd"]]).all()
    gt = default_cohort["ground_truth"]
    avail = gt[[f"avail_{m}" for m in MODALITIES]]
    assert (avail.sum(axis=1) >= 1).all(), "every patient keeps at least one modality"
    for m in MODALITIES:
        assert 0.08 <= 1 - gt[f"avail_{m}"].mean() <= 0.27, m
    # the tables agree with the availability truth
    assert set(default_cohort["imaging"]["patient_id"]) == set(gt.loc[gt.avail_imaging == 1, "patient_id"])
    assert set(default_cohort["pro"]["patient_id"]) == set(gt.loc[gt.avail_pro == 1, "patient_id"])
    assert set(default_cohort["reports"]["patient_id"]) == set(gt.loc[gt.avail_text == 1, "patient_id"])
    # PRO missingness is MNAR (sicker patients answer less often), imaging the other way round.
    miss_pro = gt["avail_pro"] == 0
    assert gt.loc[miss_pro, "latent_inflammation"].mean() > gt.loc[~miss_pro, "latent_inflammation"].mean()


def test_schema_and_ranges(default_cohort: dict[str, pd.DataFrame]) -> None:
    p = default_cohort["patients"]
    expected = [
        "patient_id", "site", "sex", "age", "montreal_location", "montreal_l4", "montreal_behaviour",
        "perianal", "crp", "calprotectin", "leukocytes", "ses_cd", "maria", "cdai", "hbi", "severity",
        "endpoint_date",
    ]  # fmt: skip
    assert list(p.columns) == expected
    assert p["patient_id"].is_unique and p["patient_id"].iloc[0] == "P0001"
    for col, spec in {**ENDPOINTS, **PATIENT_OPTIONAL}.items():
        bad = [v for v in p[col] if spec.problem(v) is not None]
        assert not bad, (col, bad[:3])
    for col, allowed in PATIENT_CATEGORICAL.items():
        assert set(p[col]) <= set(allowed), col
    assert set(p["site"]) == {"S1", "S2", "S3"}
    pro = default_cohort["pro"]
    assert list(pro.columns) == ["patient_id", "date", "timepoint", *PRO_ITEMS]
    for col, spec in PRO_ITEMS.items():
        assert pro[col].notna().all(), col
        bad = [v for v in pro[col] if spec.problem(v) is not None]
        assert not bad, (col, bad[:3])
        if spec.integer:
            assert pd.api.types.is_integer_dtype(pro[col]), col
    r = default_cohort["reports"]
    assert set(r["report_type"]) == {"mre", "cte", "colonoscopy"}
    mre = r.loc[r.report_type == "mre", "text"]
    french = mre.str.contains("RÉSULTATS :|RESULTATS :|DESCRIPTION :", regex=True)
    assert 0.2 < french.mean() < 0.4  # french_report_rate 0.3
    assert mre[~french].str.contains("TECHNIQUE:").all() and mre[~french].str.contains("FINDINGS:").all()
    assert mre[~french].str.contains("IMPRESSION:").all()
    assert mre[french].str.contains("TECHNIQUE :").all() and mre[french].str.contains("CONCLUSION :").all()


def test_cdai_hbi_are_the_scores_of_the_items(default_cohort: dict[str, pd.DataFrame]) -> None:
    from features.pro_scores import compute_scores

    p = default_cohort["patients"].set_index("patient_id")
    closest = default_cohort["ground_truth"].set_index("patient_id")["closest_timepoint"]
    pro = default_cohort["pro"]
    pro = pro[pro["timepoint"].to_numpy() == closest.loc[pro["patient_id"]].to_numpy()].set_index(
        "patient_id"
    )
    assert pro.index.is_unique and len(pro) == default_cohort["pro"]["patient_id"].nunique()
    scores = compute_scores(pro[list(PRO_ITEMS)], p["sex"])
    np.testing.assert_array_equal(scores["cdai"].to_numpy(), p.loc[pro.index, "cdai"].to_numpy())
    np.testing.assert_array_equal(scores["hbi"].to_numpy(), p.loc[pro.index, "hbi"].to_numpy())
    # patients without the PRO modality still have their clinic CDAI/HBI
    assert p["cdai"].notna().all() and p["hbi"].notna().all()


def test_reports_do_not_state_scores(default_cohort: dict[str, pd.DataFrame]) -> None:
    text = default_cohort["reports"]["text"]
    assert not text.str.contains(r"SES-CD|MaRIA|\bSES\b|CDAI|Harvey", case=False, regex=True).any()
    # varied phrasing: many distinct impressions, hedges, negations and abbreviations are present
    impressions = text.str.extract(r"IMPRESSION:\s*(.*)", expand=False).dropna()
    assert impressions.nunique() > 40
    lower = text.str.lower()
    for token in ("cannot exclude", "no fistula or abscess", "possible", "likely", "without stricture"):
        assert lower.str.contains(token, regex=False).any(), token
    for abbrev in ("TI", "CD", "SB", "MRE"):
        assert text.str.contains(rf"\b{abbrev}\b", regex=True).any(), abbrev
    _, tables = build_tables(30, 0, SyntheticConfig(explicit_scores_in_text=True))
    t = tables["reports"]["text"]
    assert t.str.contains("SES-CD: ").any() and t.str.contains("MaRIA").any()


def test_patient_does_not_depend_on_cohort_size() -> None:
    _, small = build_tables(5, 3, SyntheticConfig())
    _, big = build_tables(12, 3, SyntheticConfig())
    pd.testing.assert_frame_equal(small["patients"], big["patients"].iloc[:5])
    pd.testing.assert_frame_equal(small["ground_truth"], big["ground_truth"].iloc[:5])


def _read_dir(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.csv"))}


def _arrays(cohort) -> dict[str, np.ndarray]:
    img = pd.read_csv(cohort / "imaging.csv")
    out = {}
    for r in img.itertuples(index=False):
        out[r.image] = sitk.GetArrayFromImage(sitk.ReadImage(str(cohort / r.image)))
        out[r.mask] = sitk.GetArrayFromImage(sitk.ReadImage(str(cohort / r.mask)))
    return out


def test_determinism_images_and_parallelism(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import benchmarks.synthetic.generate as gen

    monkeypatch.setattr(gen, "MIN_SCANS_FOR_WORKERS", 0)  # really use 2 worker processes below
    a = generate_cohort(tmp_path / "a", n=6, seed=11, config=SyntheticConfig(**TINY))
    b = generate_cohort(tmp_path / "b", n=6, seed=11, config=SyntheticConfig(**{**TINY, "n_jobs": 2}))
    c = generate_cohort(
        tmp_path / "c", n=6, seed=11, config=SyntheticConfig(**{**TINY, "write_images": False})
    )
    d = generate_cohort(tmp_path / "d", n=6, seed=12, config=SyntheticConfig(**TINY))
    assert _read_dir(tmp_path / "a") == _read_dir(tmp_path / "b") == _read_dir(tmp_path / "c")
    assert _read_dir(tmp_path / "a") != _read_dir(tmp_path / "d")
    arr_a, arr_b = _arrays(a), _arrays(b)
    assert arr_a.keys() == arr_b.keys() and len(arr_a) > 0
    for k in arr_a:
        np.testing.assert_array_equal(arr_a[k], arr_b[k])
    assert not (c / "images").exists()
    arr_d = _arrays(d)
    common = sorted(set(arr_a) & set(arr_d))
    assert any(not np.array_equal(arr_a[k], arr_d[k]) for k in common)


def test_images_geometry_and_validation(tmp_path) -> None:
    from benchmarks.cohort import validate_cohort

    cfg = SyntheticConfig(**{**TINY, "image_shape": (48, 48, 20)})
    cohort = generate_cohort(tmp_path / "out", n=8, seed=5, config=cfg)
    img = pd.read_csv(cohort / "imaging.csv")
    gt = pd.read_csv(tmp_path / "out" / "ground_truth.csv").set_index("patient_id")
    sites = {s.name: s for s in cfg.active_sites}
    patients = pd.read_csv(cohort / "patients.csv").set_index("patient_id")
    assert len(img) > 0
    for r in img.itertuples(index=False):
        im = sitk.ReadImage(str(cohort / r.image))
        mk = sitk.ReadImage(str(cohort / r.mask))
        assert im.GetPixelID() == sitk.sitkInt16 and mk.GetPixelID() == sitk.sitkUInt8
        ct = r.modality == "CT"
        site = sites[patients.at[r.patient_id, "site"]]
        assert im.GetSize() == (cfg.ct_shape if ct else (48, 48, 20)) == mk.GetSize()
        assert im.GetSpacing() == mk.GetSpacing()
        assert im.GetSpacing() == pytest.approx(site.ct_spacing_mm if ct else site.spacing_mm, abs=1e-5)
        assert im.GetOrigin() == mk.GetOrigin()
        m = sitk.GetArrayFromImage(mk)
        a = sitk.GetArrayFromImage(im)
        labels = {region.key for region in parse_regions(r.label)}
        assert set(np.unique(m)) == {0, *labels} and (m > 0).sum() >= 20
        assert a.min() >= (-1024 if ct else 0)
        assert a[m > 0].mean() > np.median(a)  # enhancing wall brighter than the body
        if r.timepoint == gt.at[r.patient_id, "closest_timepoint"]:
            assert r.segment == gt.at[r.patient_id, "image_segment"]
    report = validate_cohort(cohort)
    assert not report.fatal and not report.problems, report.format()


def test_imaging_signal_shows_in_the_wall(tmp_path) -> None:
    """Wall thickness rendered in the mask follows the truth; imaging_signal=0 removes it."""
    from benchmarks.synthetic.images import render_scan
    from benchmarks.synthetic.latent import sample_truth

    cfg = SyntheticConfig(image_shape=(64, 64, 24))
    flat = SyntheticConfig(image_shape=(64, 64, 24), imaging_signal=0.0)
    truths = [sample_truth(i, 2, cfg) for i in range(40)]
    truths = sorted(truths, key=lambda t: t.mri[t.image_segment]["wall_mm"])
    thin, thick = truths[:4], truths[-4:]

    def wall_mean(ts, c):
        out = []
        for t in ts:
            s = render_scan(t, c, c.active_sites[t.site])
            out.append(s.image[s.mask > 0].mean() / np.median(s.image[s.image > 0]))
        return np.mean(out)

    def voxels(ts, c):
        return np.mean([render_scan(t, c, c.active_sites[t.site]).mask.sum() for t in ts])

    assert voxels(thick, cfg) > 1.5 * voxels(thin, cfg)
    assert wall_mean(thick, cfg) > wall_mean(thin, cfg)
    assert voxels(thick, flat) < 1.3 * voxels(thin, flat)


def test_signal_knobs_and_config_validation() -> None:
    _, base = build_tables(400, 1, SyntheticConfig())
    _, weak = build_tables(400, 1, SyntheticConfig(pro_signal=0.0))
    r_base = _rho(base["patients"]["cdai"], base["patients"]["ses_cd"])
    r_weak = _rho(weak["patients"]["cdai"], weak["patients"]["ses_cd"])
    assert r_weak < r_base - 0.1

    # text_signal=0: the endoscopist's wording no longer follows the truth
    def remission_gap(tables: dict[str, pd.DataFrame]) -> float:
        rep = tables["reports"].merge(tables["patients"][["patient_id", "severity"]], on="patient_id")
        rep = rep[rep.report_type == "colonoscopy"]
        impression = rep["text"].str.extract(r"IMPRESSION:(.*)", expand=False)
        calm = impression.str.contains("remission|healing|No endoscopic|Normal ileo", regex=True)
        return calm[rep.severity == "inactive"].mean() - calm[rep.severity == "severe"].mean()

    _, blind = build_tables(400, 1, SyntheticConfig(text_signal=0.0))
    assert remission_gap(base) > 0.3 and abs(remission_gap(blind)) < 0.15
    with pytest.raises(ValueError, match="n_sites"):
        SyntheticConfig(n_sites=9)
    with pytest.raises(ValueError, match="missing_rate"):
        SyntheticConfig(missing_rate={"imaging": 1.5})
    with pytest.raises(ValueError, match="unknown modalities"):
        SyntheticConfig(mnar_strength={"genomics": 1.0})
    _, five = build_tables(50, 0, SyntheticConfig(n_sites=5))
    assert set(five["patients"]["site"]) == {"S1", "S2", "S3", "S4", "S5"}


def test_refuses_to_overwrite_foreign_folder(tmp_path) -> None:
    (tmp_path / "cohort").mkdir()
    (tmp_path / "cohort" / "mine.txt").write_text("user data")
    with pytest.raises(FolderError, match="was not created by cdbench"):
        generate_cohort(tmp_path, n=3, config=SyntheticConfig(write_images=False))
    assert (tmp_path / "cohort" / "mine.txt").read_text() == "user data"
    # its own folder is replaced cleanly on a rerun
    out = tmp_path / "own"
    generate_cohort(out, n=4, seed=1, config=SyntheticConfig(write_images=False))
    generate_cohort(out, n=3, seed=1, config=SyntheticConfig(write_images=False))
    assert len(pd.read_csv(out / "cohort" / "patients.csv")) == 3
