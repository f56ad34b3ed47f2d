"""The synthetic cohort as a real hospital's: CT and MR, two timepoints, multi-segment masks, sites that differ."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from scipy.stats import spearmanr

from benchmarks.cohort.regions import parse_regions
from benchmarks.synthetic import DEFAULT_SITES, SyntheticConfig, build_tables, generate_cohort
from benchmarks.synthetic.config import REFERENCE_SITE
from benchmarks.synthetic.images import SEGMENT_REGION_NAMES, ScanSpec, render_scan
from benchmarks.synthetic.latent import sample_truth
from benchmarks.synthetic.visits import plan_patient


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    """Default tables (no images) of 400 patients."""
    _, frames = build_tables(400, 3, SyntheticConfig(write_images=False))
    return frames


def _days(a: pd.Series, b: pd.Series) -> np.ndarray:
    return np.abs((pd.to_datetime(a) - pd.to_datetime(b)).dt.days.to_numpy())


def test_shares_are_as_configured(tables: dict[str, pd.DataFrame]) -> None:
    img, gt = tables["imaging"], tables["ground_truth"].set_index("patient_id")
    mods = gt.loc[img["patient_id"].unique(), "image_modalities"]
    # Binomial SE at ~340 imaging patients: 2.5 points at 30 %, 1.2 at 5 %; bands are about +- 3 SE.
    assert 0.22 <= mods.str.contains("CT").mean() <= 0.38  # ct_rate 0.30
    assert 0.015 <= (mods == "MR+CT").mean() <= 0.09  # mr_and_ct_rate 0.05
    assert 0.14 <= (gt["n_timepoints"] == 2).mean() <= 0.26  # two_timepoint_rate 0.20
    labels = img["label"].fillna("")
    multi = labels.str.contains(";")
    assert 0.19 <= multi.mean() <= 0.31  # multi_segment_rate 0.25 of scans
    single = labels[~multi]
    assert 0.015 <= (single != "").mean() <= 0.10  # other_label_rate 0.05 of single-region masks
    assert set(single[single != ""]) <= {"2", "7"}
    assert set(img["modality"]) == {"MR", "CT"} and set(img["timepoint"]) == {0, 1}
    assert img["scan_id"].is_unique and img["image"].is_unique
    # each knob at 0 removes its case
    _, plain = build_tables(
        120,
        3,
        SyntheticConfig(ct_rate=0.0, mr_and_ct_rate=0.0, two_timepoint_rate=0.0, multi_segment_rate=0.0),
    )
    assert set(plain["imaging"]["modality"]) == {"MR"}
    assert plain["imaging"]["patient_id"].is_unique and plain["pro"]["patient_id"].is_unique
    assert not plain["imaging"]["label"].fillna("").str.contains(";").any()


def test_ct_share_and_case_mix_differ_by_site(tables: dict[str, pd.DataFrame]) -> None:
    gt = tables["ground_truth"]
    has_img = gt["patient_id"].isin(tables["imaging"]["patient_id"])
    ct_by_site = gt[has_img].groupby("site")["image_modalities"].apply(lambda s: s.str.contains("CT").mean())
    # ct_share_shift: S2 -0.5 (an MR-first centre), S3 +0.5 (CT-first)
    assert ct_by_site["S3"] > ct_by_site["S2"] + 0.15
    flat = SyntheticConfig(site_shift=0.0)
    truths = [sample_truth(i, 3, flat) for i in range(400)]
    plans = pd.DataFrame(
        {"site": [t.site for t in truths], "ct": ["CT" in plan_patient(t, flat).modalities for t in truths]}
    )
    ct0 = plans.groupby("site")["ct"].mean()
    assert abs(ct0[2] - ct0[1]) < 0.12


def test_two_timepoints_dates_and_closest_rows(tables: dict[str, pd.DataFrame]) -> None:
    patients = tables["patients"].set_index("patient_id")
    gt = tables["ground_truth"].set_index("patient_id")
    assert patients["endpoint_date"].notna().all()
    assert (pd.to_datetime(patients["endpoint_date"], format="%Y-%m-%d") > "2015-12-31").all()
    two = gt.index[gt["n_timepoints"] == 2]
    for name in ("imaging", "pro"):
        frame = tables[name]
        assert frame["date"].notna().all() and frame["timepoint"].notna().all()
        end = patients.loc[frame["patient_id"], "endpoint_date"].to_numpy()
        frame = frame.assign(gap=_days(frame["date"], pd.Series(end, index=frame.index)))
        closest = frame.loc[
            frame.groupby(["patient_id", *(["modality"] if name == "imaging" else [])])["gap"].idxmin()
        ]
        assert (closest["timepoint"].to_numpy() == gt.loc[closest["patient_id"], "closest_timepoint"]).all()
        keys = ["patient_id", *(["modality"] if name == "imaging" else [])]
        several = frame[frame["patient_id"].isin(two)].groupby(keys)
        assert (several["timepoint"].nunique() == 2).all()
        dated = several.apply(lambda g: g.sort_values("timepoint")["date"].is_monotonic_increasing)
        assert dated.all(), "follow-up after baseline"
        assert (
            frame.groupby(["patient_id", "timepoint", *(["modality"] if name == "imaging" else [])])
            .size()
            .max()
            == 1
        )
    # both timepoints are genuinely present: several questionnaires for the two-visit patients
    assert tables["pro"]["patient_id"].value_counts().max() == 2
    rep = tables["reports"]
    colon = rep[rep["report_type"] == "colonoscopy"]
    assert (colon["date"].to_numpy() == patients.loc[colon["patient_id"], "endpoint_date"].to_numpy()).all()
    assert colon["patient_id"].is_unique, "one endoscopy per patient, at the endpoint"
    scans = tables["imaging"]
    closest_ids = {i for cell in gt["closest_scan_ids"] for i in cell.split(";")}
    assert (
        set(
            scans.loc[
                scans["timepoint"] == gt.loc[scans["patient_id"], "closest_timepoint"].to_numpy(), "scan_id"
            ]
        )
        <= closest_ids
    )
    # the endpoint-visit state carries the endpoint signal, the other visit measurably less
    g2 = gt.loc[two]
    rho_end = spearmanr(g2["ses_cd"], g2["maria"]).statistic
    rho_other = spearmanr(g2["ses_cd"], g2["other_maria"]).statistic
    assert rho_end > rho_other + 0.25, (rho_end, rho_other)
    assert (g2["closest_timepoint"] == 1).mean() > 0.6  # endpoint_at_followup_rate 0.75


def test_ct_volumes_are_in_hounsfield_units() -> None:
    cfg = SyntheticConfig()
    truths = sorted((sample_truth(i, 2, cfg) for i in range(24)), key=lambda t: t.mri[t.image_segment]["rce"])
    walls = []
    for t in truths[:3] + truths[-3:]:
        site = cfg.active_sites[t.site]
        scan = render_scan(t, cfg, site, ScanSpec("CT"))
        a = scan.image.astype(float)
        assert scan.image.shape == cfg.ct_shape[::-1] and a.min() >= -1024
        assert scan.spacing[0] < site.spacing_mm[0], "CT is finer in-plane than MR"
        air = a[:, :3, :3]  # outside the body
        # Gaussian (not Rician) noise around -1000 HU plus the site's offset
        assert abs(air.mean() - (-1000 + site.ct_hu_offset)) < 3 * site.ct_noise_hu / np.sqrt(air.size) + 2
        assert 0.5 * site.ct_noise_hu < air.std() < 1.5 * site.ct_noise_hu
        assert ((a > -150) & (a < -50)).mean() > 0.2, "fat"
        wall = a[scan.mask > 0]
        assert 0 < np.median(wall) < 200
        walls.append(wall.mean())
    # disease drives CT: hyperenhancing walls of the most active segments
    assert min(walls[3:]) > max(walls[:3]) + 10


def test_multi_segment_masks_match_their_label_cells(tmp_path) -> None:
    from benchmarks.cohort import validate_cohort

    cfg = SyntheticConfig(
        image_shape=(64, 64, 24), n_jobs=1, multi_segment_rate=0.5, other_label_rate=0.6, ct_rate=0.5
    )
    cohort = generate_cohort(tmp_path / "out", n=6, seed=4, config=cfg)
    img = pd.read_csv(cohort / "imaging.csv", keep_default_na=False)
    kinds = set()
    for r in img.itertuples(index=False):
        regions = parse_regions(r.label)
        mask = sitk.GetArrayFromImage(sitk.ReadImage(str(cohort / r.mask)))
        assert set(np.unique(mask)) - {0} == {region.key for region in regions}, (r.scan_id, r.label)
        for region in regions:
            assert (mask == region.key).sum() >= 20, (r.scan_id, region)
        kinds.add("multi" if len(regions) > 1 else ("default" if r.label == "" else "other"))
        if len(regions) > 1:
            assert {region.name for region in regions} <= {
                "terminal_ileum", "ascending_colon", "transverse_colon", "descending_colon", "sigmoid_colon", "rectum",
            }  # fmt: skip
            main = next(region for region in regions if region.key == 1)
            assert main.name == SEGMENT_REGION_NAMES[r.segment], "label 1 is the annotated segment"
    assert kinds == {"multi", "default", "other"}
    report = validate_cohort(cohort, check_images="full")
    assert not report.fatal and not report.problems, report.format()


def test_same_seed_gives_identical_files(tmp_path) -> None:
    cfg = SyntheticConfig(image_shape=(32, 32, 16), n_jobs=1, two_timepoint_rate=0.5, ct_rate=0.5)
    a = generate_cohort(tmp_path / "a", n=5, seed=9, config=cfg).parent
    b = generate_cohort(tmp_path / "b", n=5, seed=9, config=cfg).parent

    def files(root):
        return {
            p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
        }

    fa, fb = files(a), files(b)
    del fa[".cdbench.json"], fb[".cdbench.json"]  # the run-folder marker holds its creation time
    assert any(k.endswith(".nii.gz") for k in fa) and any("/tp1/" in k for k in fa)
    assert fa.keys() == fb.keys()
    assert [k for k in fa if fa[k] != fb[k]] == []


def test_site_shift_zero_makes_sites_identical() -> None:
    flat = SyntheticConfig(site_shift=0.0)
    for site in flat.active_sites:
        assert replace(site, name=REFERENCE_SITE.name) == REFERENCE_SITE
    assert SyntheticConfig().active_sites == DEFAULT_SITES[:3]  # 1: the profiles as given
    t = sample_truth(0, 1, flat)
    a, b = flat.active_sites[0], flat.active_sites[2]
    for modality in ("MR", "CT"):
        np.testing.assert_array_equal(
            render_scan(t, flat, a, ScanSpec(modality)).image,
            render_scan(t, flat, b, ScanSpec(modality)).image,
        )
    cfg = SyntheticConfig()
    s1, s2 = cfg.active_sites[0], cfg.active_sites[1]
    img1, img2 = render_scan(t, cfg, s1, ScanSpec("CT")).image, render_scan(t, cfg, s2, ScanSpec("CT")).image
    assert img1.std() != img2.std()
    # case mix: the latent shift of each site is gone
    z0 = [sample_truth(i, 1, flat).inflammation for i in range(5)]
    z1 = [sample_truth(i, 1, cfg).inflammation for i in range(5)]
    assert z0 != z1
    strong = SyntheticConfig(site_shift=2.0).active_sites
    assert abs(strong[1].intensity_scale - 1.0) == pytest.approx(
        2 * abs(DEFAULT_SITES[1].intensity_scale - 1.0)
    )
    with pytest.raises(ValueError, match="site_shift"):
        SyntheticConfig(site_shift=-1.0)
    with pytest.raises(ValueError, match="mr_and_ct_rate"):
        SyntheticConfig(ct_rate=0.1, mr_and_ct_rate=0.2)
    with pytest.raises(ValueError, match="visit_interval_days"):
        SyntheticConfig(visit_interval_days=(30, 60))


def test_each_label_shows_its_own_segment() -> None:
    """Each part of a multi-segment loop has its segment's wall: the thick one gets more voxels."""
    cfg = SyntheticConfig()
    t = next(
        t
        for t in (sample_truth(i, 0, cfg) for i in range(60))
        if t.mri["ileum"]["wall_mm"] - t.mri["ascending"]["wall_mm"] > 4
    )
    site = cfg.active_sites[t.site]
    for labels in ((1, 2), (2, 1)):
        mask = render_scan(t, cfg, site, ScanSpec("MR", ("ileum", "ascending"), labels)).mask
        thick, thin = (mask == labels[0]).sum(), (mask == labels[1]).sum()
        assert thick > 1.3 * thin, (labels, thick, thin)
