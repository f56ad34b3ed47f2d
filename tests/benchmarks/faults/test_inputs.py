"""Faults in the user's input folder (issue 12): each case built on the fly from a small valid cohort.

Every case ends in a message naming the patient (where there is one), the file and the field, with the
fix; no traceback; a non-zero exit only where the run cannot proceed; the folder is never modified.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from benchmarks import store
from benchmarks.cohort import UserError, load_cohort, schema, validate_cohort
from benchmarks.preflight import TaskError, drop_empty_modalities, validate_with_tasks
from benchmarks.run import build_parser, main
from features.engine import FAILURE_COLUMNS, extract_features
from features.imaging import RadiomicsExtractor
from features.registry import make_extractor
from tests.benchmarks.cohort.test_cohort import only

ROI = (slice(2, 4), slice(3, 8), slice(4, 9))  # the conftest mask's box, (z, y, x)


@pytest.fixture
def root(valid_cohort: Path, tmp_path: Path, copy_cohort) -> Path:
    """A private copy of the six-patient valid cohort (``build_valid_cohort``), to break."""
    return copy_cohort(valid_cohort, tmp_path / "cohort")


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid synthetic cohort large enough for a small run of the matrix (24 patients)."""
    from benchmarks.synthetic import generate_cohort

    return Path(generate_cohort(tmp_path_factory.mktemp("synthetic") / "gen", n=24, seed=3))


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A feature cache the runs on copies of ``synthetic_root`` share (same files, same features)."""
    return tmp_path_factory.mktemp("feature-cache")


@pytest.fixture
def tiny_config(tiny_run_toml: Path) -> Path:
    """The fault suite's smallest run: one task, enet, four modality sets, light extractors."""
    return tiny_run_toml


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str]:
    """``main(argv)`` in this process: exit code and everything printed."""
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out + out.err


def run_matrix(
    capsys: pytest.CaptureFixture, root: Path, run_dir: Path, config: Path, cache: Path
) -> tuple[int, str]:
    """The ``matrix`` command on ``root`` with a run configuration and a feature cache."""
    return run_cli(capsys, "matrix", "--cohort", root, "--out", run_dir, "--config", config, "--cache", cache)


# --- 1. a missing or empty modality table is a modality with zero patients ----------------------------
def _drop_table(root: Path, file: str, how: str) -> None:
    if how == "missing":
        (root / file).unlink()
    else:  # only the header row
        (root / file).write_text((root / file).read_text(encoding="utf-8").splitlines()[0] + "\n")


@pytest.mark.parametrize(("file", "modality"), [(schema.REPORTS_FILE, "text"), (schema.PRO_FILE, "pro")])
@pytest.mark.parametrize("how", ["missing", "header only"])
def test_extraction_of_a_modality_without_patients_gives_zero_rows(
    root: Path, file: str, modality: str, how: str
) -> None:
    _drop_table(root, file, how)
    cohort = load_cohort(root)
    assert not cohort.availability[modality].any()
    name = {"text": "report_concepts", "pro": "pro_indices"}[modality]
    res = extract_features(make_extractor(name), cohort, progress=False)
    assert res.features.empty and res.n_computed == 0
    assert res.failures.empty and list(res.failures.columns) == FAILURE_COLUMNS


@pytest.mark.parametrize(
    ("file", "how"),
    [(schema.REPORTS_FILE, "missing"), (schema.REPORTS_FILE, "header only"), (schema.PRO_FILE, "missing")],
)
def test_features_command_goes_on_without_a_modality_table(
    root: Path, tmp_path: Path, tiny_config: Path, capsys, file: str, how: str
) -> None:
    _drop_table(root, file, how)
    code, out = run_cli(
        capsys, "features", "--cohort", root, "--out", tmp_path / "run", "--config", tiny_config
    )
    assert code == 0, out
    assert "Traceback" not in out and "KeyError" not in out
    summary = pd.read_parquet(tmp_path / "run" / store.FEATURE_SUMMARY).set_index(["extractor", "part"])
    empty = ("report_concepts", "") if file == schema.REPORTS_FILE else ("pro_indices", "")
    assert summary.at[empty, "patients"] == 0 and summary.at[empty, "failed"] == 0
    assert summary.at[("radiomics", "MR"), "patients"] == 5  # one row per extractor part
    assert file in out  # the validation report names the table


def test_matrix_leaves_out_the_sets_of_an_empty_modality_and_goes_on(
    synthetic_root: Path, tmp_path: Path, copy_cohort, tiny_config: Path, shared_cache: Path, capsys
) -> None:
    root = copy_cohort(synthetic_root, tmp_path / "cohort")
    (root / schema.REPORTS_FILE).unlink()
    code, out = run_matrix(capsys, root, tmp_path / "run", tiny_config, shared_cache)
    assert code == 0, out[-3000:]
    assert "leaving out the 2 modality set(s) that need it: text, imaging+text+pro" in out
    cells = pd.read_parquet(tmp_path / "run" / store.CELLS)
    assert (cells["status"] == "ok").all(), cells.loc[cells["status"] != "ok", "error"].tolist()
    assert not cells["modality_set"].str.contains("text").any()
    assert {"imaging", "pro"} <= set(cells["modality_set"])


def test_no_modality_with_patients_is_a_user_error(smoke_config) -> None:
    empty = {m: pd.DataFrame() for m in schema.MODALITIES}
    with pytest.raises(UserError, match="no configured modality set can run.*imaging, text, pro"):
        drop_empty_modalities(smoke_config(), empty)
    full = {m: pd.DataFrame({"f": [1.0]}, index=["P1"]) for m in schema.MODALITIES}
    config = smoke_config()
    assert drop_empty_modalities(config, full) == (config, [])


# --- 3. NaN and infinite voxels ------------------------------------------------------------------------
def _float_image_with(make_volume, seed: int, where: str) -> sitk.Image:
    """The patient's volume as float32 with two NaN/Inf voxels inside the mask, or one outside it."""
    img = sitk.Cast(make_volume(seed), sitk.sitkFloat32)
    arr = sitk.GetArrayFromImage(img)
    if where == "inside":
        arr[2, 4, 5] = np.nan
        arr[3, 6, 7] = np.inf
    else:
        arr[0, 0, 0] = np.nan
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(img)
    return out


@pytest.mark.parametrize(
    ("pid", "seed", "rel"), [("007", 0, "images/007_image.nii.gz"), ("P003", 2, "images/P003_image.mha")]
)
def test_non_finite_voxels_inside_the_mask_are_a_scan_error(
    root: Path, make_volume, pid: str, seed: int, rel: str
) -> None:
    sitk.WriteImage(_float_image_with(make_volume, seed, "inside"), str(root / rel))
    for mode in ("header", "full"):
        report = validate_cohort(root, check_images=mode)
        p = only(report.errors, patient_id=pid, file=rel, field="image", fatal=False)
        assert "2 voxels inside the mask are NaN or infinite" in p.message
        assert "replace them with valid intensities" in p.message and "imaging.csv row" in p.message
    cohort = load_cohort(root)
    assert not cohort.availability.at[pid, "imaging"]
    assert "NaN" in cohort.excluded.set_index("patient_id").at[pid, "reason"]


def test_non_finite_voxels_outside_the_mask_need_deep_validation(root: Path, make_volume, capsys) -> None:
    rel = "images/007_image.nii.gz"  # NIfTI: ITK's reader would show the NaN as 0
    sitk.WriteImage(_float_image_with(make_volume, 0, "outside"), str(root / rel))
    assert validate_cohort(root).problems == []
    p = only(validate_cohort(root, check_images="full").errors, patient_id="007", file=rel, field="image")
    assert "1 voxels of the image are NaN or infinite (none inside the mask)" in p.message
    code, out = run_cli(capsys, "validate", "--cohort", root)
    assert code == 0 and "VALID" in out and "NaN" not in out
    code, out = run_cli(capsys, "validate", "--deep", "--cohort", root)
    assert code == 0 and "image checks: full" in out and "USABLE" in out
    assert f"{rel}, row 1, patient 007, field image: 1 voxels of the image are NaN" in out


def test_deep_flag_reaches_the_runs_validation(
    root: Path, make_volume, tmp_path: Path, tiny_config, capsys
) -> None:
    for command in ("all", "features", "matrix"):
        assert build_parser().parse_args([command, "--cohort", "x", "--deep"]).deep
    sitk.WriteImage(_float_image_with(make_volume, 0, "outside"), str(root / "images/007_image.nii.gz"))
    code, out = run_cli(
        capsys, "features", "--deep", "--cohort", root, "--out", tmp_path / "deep", "--config", tiny_config
    )
    assert code == 0 and "image checks: full" in out and "patient 007, field image" in out
    assert "007" not in set(pd.read_parquet(tmp_path / "deep" / store.FAILURES)["patient_id"])
    # without --deep the scan passes validation and fails extraction, with the reason recorded
    code, out = run_cli(
        capsys, "features", "--cohort", root, "--out", tmp_path / "plain", "--config", tiny_config
    )
    assert code == 0, out
    failures = pd.read_parquet(tmp_path / "plain" / store.FAILURES).set_index("patient_id")
    assert "NaN or infinite and intensity normalisation uses the whole image" in failures.at["007", "reason"]


@pytest.mark.parametrize("where", ["inside", "outside"])
def test_non_finite_voxels_that_slip_through_fail_extraction(root: Path, make_volume, where: str) -> None:
    sitk.WriteImage(_float_image_with(make_volume, 0, where), str(root / "images/007_image.nii.gz"))
    cohort = load_cohort(root, validate=False)  # no image opened: the scan reaches the extractor
    res = extract_features(RadiomicsExtractor(), cohort, progress=False)
    reason = res.failures.set_index("patient_id").at["007", "reason"]
    assert reason.startswith("ExtractionError: patient 007: image ") and "007_image.nii.gz" in reason
    assert ("inside the mask (label 1)" if where == "inside" else "outside the mask") in reason
    assert "007" not in res.features.index and len(res.features) == 4
    # an extraction that reads only the ROI (no normalisation, resampling or filter) is unaffected outside it
    plain = {"imageType": {"Original": {}}, "featureClass": {"firstorder": []}, "setting": {"label": 1}}
    res = extract_features(RadiomicsExtractor(params=plain), cohort, progress=False)
    assert ("007" in res.features.index) == (where == "outside")
    assert res.features.notna().all().all()


def test_non_finite_voxels_in_the_filter_neighbourhood_fail_extraction(make_volume, make_mask) -> None:
    img = _float_image_with(make_volume, 0, "inside")
    arr = sitk.GetArrayFromImage(img)
    arr[ROI] = np.nan_to_num(arr[ROI], nan=1.0, posinf=1.0)
    arr[1, 5, 6] = np.nan  # next to the ROI (one slice below), outside the mask
    near = sitk.GetImageFromArray(arr)
    near.CopyInformation(img)
    mask = make_mask(near)
    params = {"imageType": {"Original": {}}, "featureClass": {"firstorder": []}, "setting": {"label": 1}}
    assert RadiomicsExtractor(params=params).extract_images(near, mask)  # ROI only: unaffected
    with_log = {**params, "imageType": {"Original": {}, "LoG": {"sigma": [1.0]}}}
    with pytest.raises(
        Exception, match="1 image voxels outside the mask are NaN or infinite and the LoG filter"
    ):
        RadiomicsExtractor(params=with_log).extract_images(near, mask, where="case X")


# --- 6. special files and tables outside the folder --------------------------------------------------
@contextmanager
def fifo_readers(path: Path) -> Iterator[list[str]]:
    """Record (and release) every open of the FIFO ``path`` for reading.

    A thread keeps trying to open the write end without blocking, which succeeds only while someone
    holds the FIFO open for reading; it then closes it at once, so the reader gets end-of-file instead
    of hanging the test.
    """
    seen: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: nobody is reading
                time.sleep(0.005)
                continue
            seen.append("opened for reading")
            os.close(fd)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()


def _make_special(path: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        monkeypatch.chdir(path.parent)  # AF_UNIX addresses are limited to about 100 characters
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(path.name)
        sock.close()
    else:
        try:
            os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # what /dev/null is
        except PermissionError:
            pytest.skip("creating a device node is not permitted here")


@pytest.mark.parametrize(
    ("kind", "shown"),
    [("fifo", "a FIFO (named pipe)"), ("socket", "a socket"), ("chardev", "a character device")],
)
@pytest.mark.parametrize("field", ["image", "mask"])
def test_special_file_as_image_or_mask_is_refused_unopened(
    root: Path, monkeypatch: pytest.MonkeyPatch, kind: str, shown: str, field: str
) -> None:
    rel = f"images/P002_{field}.nrrd"
    _make_special(root / rel, kind, monkeypatch)
    with fifo_readers(root / rel) if kind == "fifo" else _nothing() as seen:
        for mode in ("none", "header", "full"):
            report = validate_cohort(root, check_images=mode)
            p = only(report.errors, patient_id="P002", file=rel, field=field, row=2, fatal=False)
            assert f"refused without opening it: it is {shown}, not a regular file" in p.message
            assert f"Point {field} at the file" in p.message
        cohort = load_cohort(root)
    assert seen == []
    assert not cohort.availability.at["P002", "imaging"] and cohort.availability.at["007", "imaging"]


@contextmanager
def _nothing() -> Iterator[list[str]]:
    yield []


def test_fifo_inside_a_dicom_series_folder_is_refused_unopened(root: Path) -> None:
    fifo = root / "images" / "P004_series" / "slice_999.dcm"
    os.mkfifo(fifo)
    with fifo_readers(fifo) as seen:
        p = only(validate_cohort(root).errors, patient_id="P004", file="images/P004_series", field="image")
    assert seen == []
    assert "slice_999.dcm in the folder is a FIFO (named pipe)" in p.message


@pytest.mark.parametrize("file", [schema.PATIENTS_FILE, schema.REPORTS_FILE])
def test_fifo_as_a_table_is_fatal_and_never_opened(root: Path, capsys, file: str) -> None:
    _make_special(root / file, "fifo", pytest.MonkeyPatch())
    with fifo_readers(root / file) as seen:
        p = only(validate_cohort(root).find(fatal=True), file=file)
        code, out = run_cli(capsys, "validate", "--cohort", root)
    assert seen == []
    assert "refused without opening it: it is a FIFO (named pipe), not a regular file" in p.message
    assert code == 1 and "INVALID" in out and file in out


@pytest.mark.parametrize("file", [schema.PATIENTS_FILE, schema.IMAGING_FILE, schema.PRO_FILE])
def test_table_linking_outside_the_folder_is_refused(root: Path, tmp_path: Path, file: str) -> None:
    outside = tmp_path / "elsewhere" / file
    outside.parent.mkdir()
    shutil.move(root / file, outside)
    (root / file).symlink_to(outside)
    report = validate_cohort(root)
    p = only(report.find(fatal=True), file=file)
    assert "resolves (through a symbolic link) outside the cohort folder" in p.message
    assert "put the table itself in the cohort folder" in p.message
    with pytest.raises(UserError):
        load_cohort(root)
    # a link that stays inside the folder is fine
    (root / file).unlink()
    (root / "tables").mkdir()
    shutil.move(outside, root / "tables" / file)
    (root / file).symlink_to(Path("tables") / file)
    assert validate_cohort(root).problems == []


# --- 10. separators, encodings, one-class tasks, mask labels ----------------------------------------------
@pytest.mark.parametrize(("sep", "named"), [(";", "semicolons (';')"), ("\t", "tabs ('\\t')")])
@pytest.mark.parametrize("file", [schema.PATIENTS_FILE, schema.IMAGING_FILE])
def test_semicolon_or_tab_separated_table_names_the_separator(
    root: Path, capsys, sep: str, named: str, file: str
) -> None:
    frame = pd.read_csv(root / file, dtype=str, keep_default_na=False)
    frame.to_csv(root / file, sep=sep, index=False)
    p = only(validate_cohort(root).find(fatal=True), file=file)
    required = schema.PATIENTS_REQUIRED if file == schema.PATIENTS_FILE else schema.IMAGING_REQUIRED
    assert p.field == ",".join(required)
    assert f"the file is separated by {named}, not commas" in p.message
    assert "save it as comma-separated UTF-8 CSV" in p.message
    code, out = run_cli(capsys, "validate", "--cohort", root)
    assert code == 1 and "separated by" in out


@pytest.mark.parametrize(
    ("encoding", "said"),
    [
        ("utf-16", "encoded as UTF-16 (it starts with the byte-order mark FF FE)"),
        ("utf-16-be", "contains NUL bytes: it is UTF-16 or UTF-32 without a byte-order mark"),
        ("utf-32", "encoded as UTF-32 (it starts with the byte-order mark FF FE 00 00)"),
    ],
)
@pytest.mark.parametrize("file", [schema.PATIENTS_FILE, schema.REPORTS_FILE])
def test_utf16_table_says_to_save_as_utf8(root: Path, encoding: str, said: str, file: str) -> None:
    text = (root / file).read_text(encoding="utf-8")
    (root / file).write_bytes(text.encode(encoding))
    p = only(validate_cohort(root).find(fatal=True), file=file)
    assert said in p.message and "cdbench reads UTF-8" in p.message and "CSV UTF-8" in p.message


def _all_active(columns: list[str], rows: list[dict]) -> None:
    for r in rows:
        if float(r["ses_cd"]) < 3:
            r["ses_cd"], r["severity"] = "5", "mild"


def test_one_class_task_is_reported_by_validate_and_stops_the_run(
    root: Path, tmp_path: Path, edit_csv, tiny_config: Path, capsys
) -> None:
    assert validate_with_tasks(root).problems == []
    edit_csv(root / schema.PATIENTS_FILE, _all_active)
    report = validate_with_tasks(root)
    p = only(report.warnings, file=schema.PATIENTS_FILE, field="ses_cd", patient_id=None)
    assert p.message.startswith("task 'endo_active' (Endoscopically active disease")
    assert "all 6 patients with a ses_cd value are in one class ('ses_cd >= 3')" in p.message
    assert "leave 'endo_active' out of `tasks`" in p.message
    code, out = run_cli(capsys, "validate", "--cohort", root)
    assert code == 0 and "task 'endo_active'" in out
    run_dir = tmp_path / "run"
    code, out = run_cli(capsys, "matrix", "--cohort", root, "--out", run_dir, "--config", tiny_config)
    assert code != 0 and "Traceback" not in out
    assert "1 configured task(s) cannot run on this cohort" in out
    assert "patients.csv, field ses_cd: task 'endo_active'" in out
    assert not (run_dir / store.FEATURE_SUMMARY).exists()  # stopped before any extraction


def test_configured_task_without_its_endpoint_column_stops_the_run(
    root: Path, tmp_path: Path, edit_csv, tiny_config: Path
) -> None:
    edit_csv(root / schema.PATIENTS_FILE, lambda cols, rows: cols.remove("maria"))
    text = tiny_config.read_text(encoding="utf-8").replace(
        '["endo_active"]', '["endo_active", "imaging_active"]'
    )
    config = tmp_path / "two_tasks.toml"
    config.write_text(text, encoding="utf-8")
    assert validate_with_tasks(root).problems == []  # validate only checks the endpoints the cohort has
    from benchmarks.run import _config_from, _run_stages

    args = build_parser().parse_args(
        ["matrix", "--cohort", str(root), "--out", str(tmp_path / "r"), "--config", str(config)]
    )
    with pytest.raises(
        TaskError, match="task 'imaging_active'.*the endpoint column 'maria' is not in patients.csv"
    ):
        _run_stages(args, _config_from(args))


def _write_mask(root: Path, rel: str, make_volume, fill) -> None:
    ref = make_volume(0)
    arr = np.zeros(sitk.GetArrayViewFromImage(ref).shape, np.uint8)
    fill(arr)
    mask = sitk.GetImageFromArray(arr)
    mask.CopyInformation(ref)
    sitk.WriteImage(mask, str(root / rel))


def test_mask_with_other_labels_warns_how_to_read_them(root: Path, make_volume) -> None:
    rel = "images/007_mask.nii.gz"

    def labels_1_and_7(arr: np.ndarray) -> None:
        arr[ROI] = 1
        arr[4, 3:8, 4:9] = 7

    _write_mask(root, rel, make_volume, labels_1_and_7)
    p = only(
        validate_cohort(root).problems, severity="warning", patient_id="007", file=rel, field="mask", row=1
    )
    assert "mask has label(s) [7] that the label column does not select (it reads label 1" in p.message
    assert "they are ignored" in p.message and '"1;2;3"' in p.message and "set the label column" in p.message
    assert load_cohort(root).availability.at["007", "imaging"]  # a warning: the scan is kept


def test_mask_covering_the_whole_image_warns(root: Path, make_volume) -> None:
    rel = "images/007_mask.nii.gz"
    _write_mask(root, rel, make_volume, lambda arr: arr.fill(1))
    p = only(validate_cohort(root).problems, severity="warning", patient_id="007", file=rel, field="mask")
    assert "mask labels every voxel of the image" in p.message and "give the segmentation" in p.message


# --- 11. a read-only cohort folder ----------------------------------------------------------------------
def _set_read_only(root: Path, read_only: bool) -> None:
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        if read_only:
            path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        else:
            path.chmod(mode | stat.S_IWUSR)


def test_read_only_cohort_validates_and_runs_unmodified(
    synthetic_root: Path,
    tmp_path: Path,
    copy_cohort,
    tree_hashes,
    tiny_config: Path,
    shared_cache: Path,
    capsys,
) -> None:
    root = copy_cohort(synthetic_root, tmp_path / "cohort")
    before = tree_hashes(root)
    _set_read_only(root, True)
    try:
        assert not os.access(root, os.W_OK) or os.geteuid() == 0  # root ignores the permission bits
        code, out = run_cli(capsys, "validate", "--deep", "--cohort", root)
        assert code == 0 and out.rstrip().endswith("VALID"), out
        code, out = run_matrix(capsys, root, tmp_path / "run", tiny_config, shared_cache)
        assert code == 0, out[-3000:]
        assert (pd.read_parquet(tmp_path / "run" / store.CELLS)["status"] == "ok").all()
        assert stat.S_IMODE(root.stat().st_mode) & stat.S_IWUSR == 0
    finally:
        _set_read_only(root, False)
    assert tree_hashes(root) == before
    assert sorted(p.name for p in root.iterdir()) == sorted(p.name for p in synthetic_root.iterdir())
