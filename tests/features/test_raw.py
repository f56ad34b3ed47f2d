"""features.raw: the ROI tensor, the frozen MiniLM hidden states and the diary, their cache and the handle."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from benchmarks.cohort import load_cohort, schema
from features.base import ExtractionError
from features.engine import FAILURE_COLUMNS
from features.raw import (
    RAW_MODALITIES,
    RawImaging,
    RawInputs,
    RawText,
    TextInputs,
    build_raw_inputs,
    clear_memo,
    make_builder,
    memo_size,
    recent_first,
)
from features.registry import make_extractor


# --- a small cohort: the suite's valid cohort, with a CT-only patient and a patient with MR and CT -------
def _make_cohort_folder(root: Path, build_valid_cohort, edit_csv) -> Path:
    build_valid_cohort(root)

    def imaging(columns, rows):
        for r in rows:
            if r["patient_id"] == "P003":
                r["modality"] = "CT"
        both = dict(rows[0])  # patient 007: the same volume as a CT too
        both["modality"] = "CT"
        rows.insert(1, both)

    def pro(columns, rows):
        for r in rows:
            if r["patient_id"] == "P002":
                r["diary_pain_d3"] = ""

    edit_csv(root / schema.IMAGING_FILE, imaging)
    edit_csv(root / schema.PRO_FILE, pro)
    return root


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory, build_valid_cohort, edit_csv) -> Path:
    return _make_cohort_folder(tmp_path_factory.mktemp("raw") / "cohort", build_valid_cohort, edit_csv)


@pytest.fixture(scope="module")
def built(cohort_dir, tmp_path_factory):
    cohort = load_cohort(cohort_dir)
    cache = tmp_path_factory.mktemp("raw_cache")
    raw, failures = build_raw_inputs(cohort, RAW_MODALITIES, {}, cache_root=cache)
    return cohort, raw, failures, cache


def test_every_modality_has_its_keys_shapes_and_dtypes(built):
    cohort, raw, failures, _ = built
    assert failures.empty and list(failures.columns) == FAILURE_COLUMNS
    assert raw.modalities() == list(RAW_MODALITIES)
    ids = [*cohort.patient_ids, "nobody"]
    expected = {
        "imaging": {
            "roi": ((2, 32, 32, 32), np.float32),
            "ct": ((), np.float32),
            "spacing": ((3,), np.float32),
        },
        "text": {
            "hidden": ((3, 128, 384), np.float16),
            "attention": ((3, 128), np.bool_),
            "reports": ((3,), np.bool_),
        },
        "pro": {"diary": ((7, 3), np.float32)},
    }
    for modality, keys in expected.items():
        batch = raw.batch(modality, ids)
        assert set(batch) == {*keys, "present"}
        for key, (shape, dtype) in keys.items():
            assert batch[key].shape == (len(ids), *shape), (modality, key)
            assert batch[key].dtype == dtype, (modality, key)
        have = set(cohort.patients_with(modality))
        np.testing.assert_array_equal(batch["present"], [p in have for p in ids])
        np.testing.assert_array_equal(raw.has(modality, ids), batch["present"])
        for key in keys:  # a patient without a record: zeros
            assert not batch[key][~batch["present"]].any(), (modality, key)
            assert batch[key][batch["present"]].any(), (modality, key)
    text = raw.info["text"]
    assert (text["frozen_layers"], text["max_tokens"], text["max_reports"]) == (5, 128, 3)
    assert Path(text["model"], "config.json").is_file()
    assert raw.info["imaging"]["grid"] == 32 and raw.info["imaging"]["margin_mm"] == 10.0


def test_mr_is_preferred_and_the_ct_flag_says_which_scan(built, tmp_path):
    cohort, raw, _, _ = built
    ids = ["007", "P002", "P003"]  # 007 has MR and CT, P003 only CT
    np.testing.assert_array_equal(raw.batch("imaging", ids)["ct"], [0.0, 0.0, 1.0])
    ct_first, _ = build_raw_inputs(
        cohort, ["imaging"], {}, cache_root=tmp_path, params={"imaging": {"prefer": "CT"}}
    )
    np.testing.assert_array_equal(ct_first.batch("imaging", ids)["ct"], [1.0, 0.0, 1.0])
    roi = ct_first.batch("imaging", ids)["roi"]
    assert roi[0, 0].min() >= -1.0 and roi[0, 0].max() <= 1.0  # CT window scaled to [-1, 1]


# --- the ROI on known images -----------------------------------------------------------------------------
SPACING = (1.0, 1.2, 2.5)
ORIGIN = (-30.0, 12.0, 40.0)
SIZE_ZYX = (24, 48, 56)


def _ball_case(centre_mm, radius_mm=7.0, inside=500.0, outside=100.0, seed=0, size_zyx=SIZE_ZYX):
    """An image with a bright ball (and noise) and its mask, on the same anisotropic grid."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*(np.arange(n) for n in size_zyx), indexing="ij")
    px = ORIGIN[0] + x * SPACING[0]
    py = ORIGIN[1] + y * SPACING[1]
    pz = ORIGIN[2] + z * SPACING[2]
    ball = (px - centre_mm[0]) ** 2 + (py - centre_mm[1]) ** 2 + (pz - centre_mm[2]) ** 2 <= radius_mm**2
    values = np.where(ball, inside, outside) + rng.normal(0, 10, ball.shape)
    image = sitk.GetImageFromArray(values.astype(np.float32))
    mask = sitk.GetImageFromArray(ball.astype(np.uint8))
    for im in (image, mask):
        im.SetSpacing(SPACING)
        im.SetOrigin(ORIGIN)
    return image, mask, ball


def _centre_of_mass(channel: np.ndarray) -> np.ndarray:
    idx = np.argwhere(channel > 0.5)
    return idx.mean(axis=0)


def test_roi_is_centred_on_the_mask_with_the_margin_and_the_image_aligned():
    centre = (5.0, 35.0, 85.0)  # off the image centre: the box must move to it
    image, mask, ball = _ball_case(centre)
    roi, spacing = RawImaging().roi(image, mask, ct=False)
    assert roi.shape == (2, 32, 32, 32) and roi.dtype == np.float32
    assert set(np.unique(roi[1])) == {0.0, 1.0}
    np.testing.assert_allclose(_centre_of_mass(roi[1]), [15.5, 15.5, 15.5], atol=0.6)
    # the box: the mask's physical extent plus 10 mm on each side, made a cube
    zyx = np.argwhere(ball)
    extent = (zyx.max(axis=0) - zyx.min(axis=0) + 1)[::-1] * np.asarray(SPACING)  # x, y, z in mm
    side = extent.max() + 20.0
    np.testing.assert_allclose(spacing, np.full(3, side / 32), rtol=1e-6)
    volume_fraction = ball.sum() * np.prod(SPACING) / side**3
    assert roi[1].mean() == pytest.approx(volume_fraction, rel=0.15)
    inside, outside = roi[0][roi[1] > 0.5], roi[0][roi[1] < 0.5]
    assert inside.mean() > outside.mean() + 1.0  # the bright ball is where the mask channel is
    assert abs(roi[0].mean()) < 0.05 and roi[0].std() == pytest.approx(1.0, abs=0.05)  # MR z-score


def test_mask_channel_lies_on_the_bright_voxels_of_an_asymmetric_object():
    image, mask, ball = _ball_case((5.0, 35.0, 70.0), radius_mm=6.0)
    z, y, x = np.meshgrid(*(np.arange(n) for n in SIZE_ZYX), indexing="ij")
    px, py, pz = (ORIGIN[k] + v * SPACING[k] for k, v in enumerate((x, y, z)))
    bar = (px > 5.0) & (px < 20.0) & ((py - 35.0) ** 2 + (pz - 70.0) ** 2 <= 3.0**2)  # a tail along +x
    shape = ball | bar
    values = np.where(shape, 500.0, 100.0) + np.random.default_rng(1).normal(0, 10, shape.shape)
    image = sitk.GetImageFromArray(values.astype(np.float32))
    mask = sitk.GetImageFromArray(shape.astype(np.uint8))
    for im in (image, mask):
        im.SetSpacing(SPACING)
        im.SetOrigin(ORIGIN)
    roi, _ = RawImaging().roi(image, mask, ct=False)
    bright = roi[0] > (roi[0].max() + roi[0].min()) / 2
    assert (bright == (roi[1] > 0.5)).mean() > 0.97
    com = _centre_of_mass(roi[1])
    assert com[2] < 15.5 - 1.0  # the box reaches out along the tail (+x): the ball lies at -x of its centre
    assert abs(com[1] - 15.5) < 0.6


def test_roi_does_not_depend_on_the_scan_axes():
    image, mask, ball = _ball_case((0.0, 30.0, 70.0))
    arr = sitk.GetArrayFromImage(image)[:, :, ::-1]  # the same voxels stored right-to-left
    flipped = sitk.GetImageFromArray(np.ascontiguousarray(arr))
    flipped_mask = sitk.GetImageFromArray(np.ascontiguousarray(ball[:, :, ::-1].astype(np.uint8)))
    far_x = ORIGIN[0] + (SIZE_ZYX[2] - 1) * SPACING[0]
    for im in (flipped, flipped_mask):
        im.SetSpacing(SPACING)
        im.SetOrigin((far_x, ORIGIN[1], ORIGIN[2]))
        im.SetDirection((-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    a, _ = RawImaging().roi(image, mask, ct=False)
    b, _ = RawImaging().roi(flipped, flipped_mask, ct=False)
    assert (a[1] != b[1]).mean() < 0.002
    np.testing.assert_allclose(a[0], b[0], atol=1e-3)


def test_ct_window_and_mr_z_score():
    # near the image's edge: part of the box lies outside the image
    image, mask, ball = _ball_case((-27.0, 35.0, 70.0), inside=120.0, outside=-100.0)
    arr = sitk.GetArrayFromImage(image)
    arr[tuple(np.argwhere(ball)[0])] = 3000.0  # one bone-bright voxel in the wall
    hot = sitk.GetImageFromArray(arr)
    hot.CopyInformation(image)
    ct, _ = RawImaging().roi(hot, mask, ct=True)
    assert ct[0].min() == -1.0 and ct[0].max() == 1.0
    wall = ct[0][ct[1] > 0.5]
    assert np.median(wall) == pytest.approx(2 * (120 + 200) / 500 - 1, abs=0.03)  # 120 HU in [-200, 300]
    fat = ct[0][(ct[1] < 0.5) & (ct[0] > -1.0)]
    assert np.median(fat) == pytest.approx(2 * (-100 + 200) / 500 - 1, abs=0.03)
    assert (ct[0] == -1.0).mean() > 0.05  # grid points outside the image: the lowest value
    mr, _ = RawImaging().roi(hot, mask, ct=False)
    inside = mr[0][mr[0] > mr[0].min()]
    assert mr[0].max() < 5.0  # the 3000 voxel is clipped at the 99th percentile of the box
    assert inside.std() > 0.5 and abs(mr[0].mean()) < 0.3
    assert not np.allclose(mr[0], ct[0])


def test_union_of_the_regions_and_mask_failures():
    image, mask, ball = _ball_case((5.0, 35.0, 70.0))
    second, _, ball2 = _ball_case((5.0, 35.0, 60.0), radius_mm=4.0)
    labels = np.where(ball2 & ~ball, 2, np.where(ball, 1, 0)).astype(np.uint8)
    label_img = sitk.GetImageFromArray(labels)
    label_img.CopyInformation(mask)
    one, sp_one = RawImaging().roi(image, label_img, [1], ct=False)
    both, sp_both = RawImaging().roi(image, label_img, {"ileum": 1, "colon": 2}, ct=False)
    absent, _ = RawImaging().roi(image, label_img, [1, 5], ct=False)  # an absent region is left out
    np.testing.assert_array_equal(one, absent)
    voxel_mm3 = np.prod(SPACING)
    # the mask channel holds the regions' volume (mm^3): region 1 alone, or the union of 1 and 2
    assert one[1].sum() * sp_one.prod() == pytest.approx(ball.sum() * voxel_mm3, rel=0.1)
    assert both[1].sum() * sp_both.prod() == pytest.approx((labels > 0).sum() * voxel_mm3, rel=0.1)
    assert sp_both[0] > sp_one[0]  # the union's box is larger
    with pytest.raises(ExtractionError, match="label 5 absent") as exc:
        RawImaging().roi(image, label_img, [5], ct=False)
    assert exc.value.category == "label absent"
    empty = sitk.Image(label_img.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(label_img)
    with pytest.raises(ExtractionError, match="empty mask") as exc:
        RawImaging().roi(image, empty, [1], ct=False)
    assert exc.value.category == "empty mask"
    values = sitk.GetArrayFromImage(image)
    values[tuple(np.argwhere(ball)[0] + [0, 0, 2])] = np.nan  # in the box: it would reach the ROI
    with_nan = sitk.GetImageFromArray(values)
    with_nan.CopyInformation(image)
    with pytest.raises(ExtractionError, match="NaN or infinite") as exc:
        RawImaging().roi(with_nan, label_img, [1], ct=False)
    assert exc.value.category == "non-finite voxels"
    values[tuple(np.argwhere(ball)[0] + [0, 0, 2])] = 0.0
    values[0, 0, 0] = np.nan  # far from the box: never read
    far = sitk.GetImageFromArray(values)
    far.CopyInformation(image)
    assert np.isfinite(RawImaging().roi(far, label_img, [1], ct=False)[0]).all()
    moved = sitk.Image(label_img)
    moved.SetOrigin((0.0, 0.0, 0.0))
    with pytest.raises(ExtractionError, match="origin") as exc:
        RawImaging().roi(image, moved, [1], ct=False)
    assert exc.value.category == "geometry mismatch"


# --- text ------------------------------------------------------------------------------------------------
def test_hidden_states_equal_the_models_own_first_layers(
    report_cohort, mre_active, colonoscopy_quiet, tmp_path
):
    import torch
    from transformers import AutoModel, AutoTokenizer

    long_text = f"{mre_active}\n{colonoscopy_quiet}"  # > 128 word pieces: cut
    cohort = report_cohort(
        {"A": [("mre", long_text)], "B": [("mre", mre_active), ("colonoscopy", "Normal TI.")]}
    )
    raw, failures = build_raw_inputs(cohort, ["text"], {}, cache_root=tmp_path, patient_ids=["A", "B"])
    assert failures.empty
    batch = raw.batch("text", ["A", "B"])
    path = raw.info["text"]["model"]
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    # B's reports have no date: file order, read as chronological, most recent (last row) first
    cases = [("A", 0, long_text), ("B", 0, "Normal TI."), ("B", 1, mre_active)]
    for pid, slot, text in cases:
        enc = tok(text, truncation=True, max_length=128, return_tensors="pt")
        with torch.no_grad():
            states = model(**enc, output_hidden_states=True).hidden_states
        n = enc["input_ids"].shape[1]
        i = ["A", "B"].index(pid)
        got = batch["hidden"][i, slot].astype(np.float32)
        assert batch["attention"][i, slot].sum() == n
        np.testing.assert_allclose(got[:n], states[5][0].numpy(), atol=2e-2, rtol=2e-3)
        assert np.abs(got[:n] - states[6][0].numpy()).max() > 0.5  # not the last layer
        assert not got[n:].any()
    assert batch["attention"][0, 0].sum() == 128
    np.testing.assert_array_equal(batch["reports"], [[True, False, False], [True, True, False]])


def test_head_tail_truncation_keeps_both_ends(mre_active, colonoscopy_quiet):
    text = f"{mre_active}\n{colonoscopy_quiet}"
    builder = RawText(truncation="head_tail", head_tokens=10, max_tokens=40)
    full = RawText(max_tokens=512).token_ids(text)[1:-1]
    ids = builder.token_ids(text)
    assert len(ids) == 40
    assert ids[1:11] == full[:10] and ids[11:-1] == full[-28:]
    assert RawText(max_tokens=40).token_ids(text)[1:-1] == full[:38]


def test_reports_are_kept_most_recent_first():
    frame = pd.DataFrame(
        {"date": ["2024-01-05", "2023-02-01", "2024-03-01", "2022-01-01"], "timepoint": [1, 0, 2, 3]}
    )
    assert recent_first(frame, 3) == ([2, 0, 1], "date")
    undated = frame.assign(date=[None, "2023-02-01", None, None])
    assert recent_first(undated, 2) == ([3, 2], "timepoint")
    assert recent_first(undated.drop(columns="timepoint"), 4) == ([3, 2, 1, 0], "file order")
    assert recent_first(pd.DataFrame({"date": ["2024-01-01", "2024-01-01"]}), 2) == ([1, 0], "date")


def test_dated_reports_most_recent_in_the_first_slot(built):
    cohort, raw, _, _ = built
    builder = make_builder("text")
    inputs = builder.inputs(make_extractor("report_embeddings"), cohort, "007")
    # 007: mre dated 2024-01-01, colonoscopy 2024-01-02 -> the colonoscopy first
    assert (inputs.order, inputs.by) == ((1, 0), "date")
    latest = builder.compute(TextInputs(inputs.reports, (1,), "date"))
    n = int(latest["attention"][0].sum())
    batch = raw.batch("text", ["007"])
    assert batch["attention"][0, 0].sum() == n
    np.testing.assert_array_equal(batch["hidden"][0, 0, :n], latest["hidden"][0, :n])


# --- pro -------------------------------------------------------------------------------------------------
def test_diary_is_the_pro_csv_row(built, cohort_dir):
    cohort, raw, _, _ = built
    table = pd.read_csv(cohort_dir / schema.PRO_FILE, dtype={"patient_id": str}).set_index("patient_id")
    ids = list(table.index)
    batch = raw.batch("pro", ids)
    for i, pid in enumerate(ids):
        want = np.stack(
            [
                table.loc[pid, list(cols)].to_numpy(float)
                for cols in (schema.DIARY_STOOLS, schema.DIARY_PAIN, schema.DIARY_WELLBEING)
            ],
            axis=1,
        )
        np.testing.assert_array_equal(batch["diary"][i], want.astype(np.float32))
    p002 = batch["diary"][ids.index("P002")]
    assert np.isnan(p002[2, 1]) and np.isfinite(np.delete(p002.ravel(), 2 * 3 + 1)).all()


# --- cache, failures, parallelism, the handle ----------------------------------------------------------------
def test_rerun_reads_back_and_a_changed_input_recomputes_only_that_patient(cohort_dir, tmp_path, edit_csv):
    folder = shutil.copytree(cohort_dir, tmp_path / "cohort")
    cache = tmp_path / "cache"
    first, _ = build_raw_inputs(load_cohort(folder), ["imaging", "text"], {}, cache_root=cache)
    again, _ = build_raw_inputs(load_cohort(folder), ["imaging", "text"], {}, cache_root=cache)
    for m in ("imaging", "text"):
        assert (first.stats[m]["computed"], first.stats[m]["cached"]) == (5, 0)
        assert (again.stats[m]["computed"], again.stats[m]["cached"]) == (0, 5)
    assert again.paths == first.paths

    def new_text(columns, rows):
        rows[0]["text"] = "Normal small bowel. No inflammation."  # patient 007's first report

    edit_csv(folder / schema.REPORTS_FILE, new_text)
    image = sitk.ReadImage(str(folder / "images" / "P002_image.nrrd"))
    sitk.WriteImage(image + 7, str(folder / "images" / "P002_image.nrrd"))
    changed, _ = build_raw_inputs(load_cohort(folder), ["imaging", "text"], {}, cache_root=cache)
    for m, pid in (("imaging", "P002"), ("text", "007")):
        assert (changed.stats[m]["computed"], changed.stats[m]["cached"]) == (1, 4), m
        assert changed.paths[m][pid] != first.paths[m][pid]
        assert {p: v for p, v in changed.paths[m].items() if p != pid} == {
            p: v for p, v in first.paths[m].items() if p != pid
        }
    other, _ = build_raw_inputs(
        load_cohort(folder), ["imaging"], {}, cache_root=cache, params={"imaging": {"grid": 16}}
    )
    assert other.stats["imaging"]["computed"] == 5  # another recipe, another folder
    assert other.batch("imaging", ["P002"])["roi"].shape == (1, 2, 16, 16, 16)


def test_a_lost_or_damaged_record_is_recomputed(built, tmp_path):
    cohort, _, _, _ = built
    first, _ = build_raw_inputs(cohort, ["pro"], {}, cache_root=tmp_path)
    clear_memo()
    want = first.batch("pro", cohort.patient_ids)
    paths = first.paths["pro"]
    Path(paths["P002"]).unlink()  # as if the run had been killed before this patient
    Path(paths["P003"]).write_bytes(Path(paths["P003"]).read_bytes()[:100])  # truncated
    again, _ = build_raw_inputs(cohort, ["pro"], {}, cache_root=tmp_path)
    assert (again.stats["pro"]["computed"], again.stats["pro"]["cached"]) == (2, 3)
    assert again.paths == first.paths
    assert len(list((tmp_path / "quarantine").rglob("*.reason.txt"))) == 1
    clear_memo()
    got = again.batch("pro", cohort.patient_ids)
    np.testing.assert_array_equal(got["diary"], want["diary"])


def test_a_broken_image_is_a_failure_row_naming_patient_and_file(cohort_dir, tmp_path):
    folder = shutil.copytree(cohort_dir, tmp_path / "cohort")
    broken = folder / "images" / "P003_image.mha"
    broken.write_bytes(b"not an image at all")
    cohort = load_cohort(folder, validate=False)
    raw, failures = build_raw_inputs(cohort, ["imaging"], {}, cache_root=tmp_path / "cache")
    assert list(failures.columns) == FAILURE_COLUMNS and len(failures) == 1
    row = failures.iloc[0]
    assert (row.patient_id, row.extractor, row.part, row.modality) == ("P003", "raw_imaging", "CT", "imaging")
    assert row.category == "unreadable file"
    assert str(broken) in row.reason and "P003" in row.reason and "check the path" in row.reason
    assert "P003" not in raw.paths["imaging"] and len(raw.paths["imaging"]) == 4
    again, failures_again = build_raw_inputs(cohort, ["imaging"], {}, cache_root=tmp_path / "cache")
    assert again.stats["imaging"]["computed"] == 0 and again.stats["imaging"]["cached"] == 4
    pd.testing.assert_frame_equal(failures_again, failures)


def test_a_scan_the_extractor_does_not_cover_is_a_no_applicable_part_row(built, tmp_path):
    cohort, _, _, _ = built
    mr_only = {"radiomics": {"params": {"MR": "mr"}}}
    raw, failures = build_raw_inputs(cohort, ["imaging"], mr_only, cache_root=tmp_path)
    assert failures["patient_id"].tolist() == ["P003"]  # its only scan is a CT
    assert failures["category"].tolist() == ["no applicable part"]
    assert "P003" in failures["reason"].iloc[0]
    assert raw.batch("imaging", ["007"])["ct"][0] == 0.0 and "P003" not in raw.paths["imaging"]


def test_parallel_build_equals_serial(built, tmp_path):
    cohort, serial, _, _ = built
    parallel, failures = build_raw_inputs(cohort, ["imaging", "pro"], {}, cache_root=tmp_path, n_jobs=2)
    assert failures.empty
    for m in ("imaging", "pro"):
        a, b = serial.batch(m, cohort.patient_ids), parallel.batch(m, cohort.patient_ids)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
        assert [Path(p).name for p in parallel.paths[m].values()] == [
            Path(p).name for p in serial.paths[m].values()
        ]


def test_the_handle_pickles_small_and_loads_lazily(built):
    cohort, raw, _, _ = built
    n_records = sum(len(v) for v in raw.paths.values())
    clear_memo()
    size = len(pickle.dumps(raw))
    for m in raw.modalities():
        raw.batch(m, cohort.patient_ids)
    assert memo_size() == n_records
    assert len(pickle.dumps(raw)) == size < 600 + 250 * n_records  # paths only, no array
    copy = pickle.loads(pickle.dumps(raw))
    assert isinstance(copy, RawInputs) and copy == raw
    clear_memo()
    for m in raw.modalities():
        a, b = raw.batch(m, cohort.patient_ids), copy.batch(m, cohort.patient_ids)
        assert all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


def test_unknown_modality_or_parameter_is_refused(built, tmp_path):
    cohort, _, _, _ = built
    with pytest.raises(ValueError, match="unknown modality"):
        build_raw_inputs(cohort, ["video"], {}, cache_root=tmp_path)
    with pytest.raises(ValueError, match="unknown parameter.*'grdi'"):
        build_raw_inputs(cohort, ["imaging"], {}, cache_root=tmp_path, params={"imaging": {"grdi": 16}})
    with pytest.raises(ValueError, match="frozen_layers must be in"):
        make_builder("text", {"frozen_layers": 9})
