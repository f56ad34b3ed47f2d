"""Settings of the whole suite and the fixtures several test packages share.

- settings: offline model loading, a headless plotting backend, quiet third-party logs;
- paths: ``repo_root``, ``data_dir`` (``tests/data``);
- cohort folders: ``make_volume``, ``make_mask``, ``write_dicom_series``, ``build_valid_cohort``,
  ``copy_cohort``, ``edit_csv``, ``tree_hashes``;
- a fake run folder for the report tests and the ``report`` command: ``make_fake_run``,
  ``fake_run_models``, ``fake_run_failed_model``.

Factories are session-scoped fixtures that return the builder function, so module-scoped fixtures can
use them too.
"""

from __future__ import annotations

import csv
import hashlib
import json
import locale
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from benchmarks.cohort import schema
from benchmarks.cohort.schema import MODALITIES, SEVERITY_CLASSES
from tests import DATA_DIR, REPO_ROOT

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``tests/data``: committed reference data (pyradiomics baselines, pROC golden values, NegEx set)."""
    return DATA_DIR


# --- cohort folders: tiny, valid, written without the synthetic generator ------------------------------
SIZE_ZYX = (6, 12, 12)  # numpy order; the image is 12 x 12 x 6 voxels
SPACING = (0.8, 0.8, 3.0)
ORIGIN = (-10.0, 5.0, 20.0)


def _make_volume(seed: int, spacing=SPACING, origin=ORIGIN, size_zyx=SIZE_ZYX) -> sitk.Image:
    rng = np.random.default_rng(seed)
    img = sitk.GetImageFromArray((rng.random(size_zyx) * 500).astype(np.int16))
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    return img


def _make_mask(reference: sitk.Image, empty: bool = False) -> sitk.Image:
    arr = np.zeros(sitk.GetArrayViewFromImage(reference).shape, dtype=np.uint8)
    if not empty:
        arr[2:4, 3:8, 4:9] = 1
    mask = sitk.GetImageFromArray(arr)
    mask.CopyInformation(reference)
    return mask


def _write_dicom_series(image: sitk.Image, folder: Path) -> None:
    """Write a 3-D int16 image as a DICOM series, one file per slice, with the tags ITK needs to stack it.

    GDCM's writer switches the process's C locale to "C", which makes Python's default text encoding
    ASCII for the rest of the process; the locale is restored afterwards.
    """
    saved = locale.setlocale(locale.LC_ALL)
    try:
        _write_dicom_slices(image, folder)
    finally:
        locale.setlocale(locale.LC_ALL, saved)


def _write_dicom_slices(image: sitk.Image, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    series_uid = "1.2.826.0.1.3680043.2.1125." + "1" * 8
    direction = image.GetDirection()
    orientation = "\\".join(
        str(v) for v in (direction[0], direction[3], direction[6], direction[1], direction[4], direction[7])
    )
    stamp = time.strftime("%Y%m%d")
    for z in range(image.GetDepth()):
        sl = image[:, :, z]
        tags = {
            "0008|0060": "MR",
            "0008|0020": stamp,
            "0008|0021": stamp,
            "0008|0008": "DERIVED\\SECONDARY",
            "0020|000d": series_uid + ".1",
            "0020|000e": series_uid,
            "0020|0037": orientation,
            "0020|0032": "\\".join(str(v) for v in image.TransformIndexToPhysicalPoint((0, 0, z))),
            "0020|0013": str(z + 1),
            "0018|0050": str(image.GetSpacing()[2]),
            "0028|0030": f"{image.GetSpacing()[1]}\\{image.GetSpacing()[0]}",
            "0008|0018": f"{series_uid}.{z + 1}",
        }
        for k, v in tags.items():
            sl.SetMetaData(k, v)
        writer.SetFileName(str(folder / f"slice_{z:03d}.dcm"))
        writer.Execute(sl)


def _pro_row(pid: str, seed: int) -> dict[str, object]:
    """A complete questionnaire row with valid values for every documented item."""
    rng = np.random.default_rng(seed)
    row: dict[str, object] = {schema.PATIENT_ID: pid}
    for col, spec in schema.PRO_ITEMS.items():
        if spec.allowed is not None:
            row[col] = int(rng.choice(spec.allowed))
        elif spec.integer:
            row[col] = int(rng.integers(int(spec.low), int(min(spec.high, spec.low + 5)) + 1))
        else:
            row[col] = round(float(rng.uniform(spec.low, spec.high)), 2)
    return row


def _write_csv(path: Path, rows: list[dict[str, object]], columns: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in columns})


def _read_csv_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


# Patients and what each has. "007" checks that leading zeros survive; P006 has no imaging,
# P005 no reports, P004 no questionnaire; formats cover NIfTI (.nii.gz/.nii), NRRD, MHA and DICOM.
PATIENTS = [
    {"patient_id": "007", "site": "A", "sex": "F", "age": 34, "ses_cd": 12, "maria": 35.5, "cdai": 260.0, "hbi": 9, "severity": "moderate", "crp": 12.5, "montreal_location": "L3", "perianal": 1},
    {"patient_id": "P002", "site": "A", "sex": "M", "age": 51, "ses_cd": 1, "maria": 6.0, "cdai": 90.0, "hbi": 2, "severity": "inactive", "crp": 1.0, "montreal_location": "L1", "perianal": 0},
    {"patient_id": "P003", "site": "B", "sex": "F", "age": 27, "ses_cd": 20, "maria": 80.2, "cdai": 480.0, "hbi": 18, "severity": "severe", "crp": 60.0, "montreal_location": "L2", "perianal": 0},
    {"patient_id": "P004", "site": "B", "sex": "M", "age": 45, "ses_cd": 4, "maria": 15.0, "cdai": 170.0, "hbi": 6, "severity": "mild", "crp": 4.2, "montreal_location": "L3", "perianal": 1},
    {"patient_id": "P005", "site": "A", "sex": "F", "age": 63, "ses_cd": 8, "maria": 30.0, "cdai": 230.0, "hbi": 8, "severity": "moderate", "crp": 20.0, "montreal_location": "L1", "perianal": 0},
    {"patient_id": "P006", "site": "B", "sex": "M", "age": 19, "ses_cd": 2, "maria": 9.0, "cdai": 120.0, "hbi": 3, "severity": "inactive", "crp": 2.0, "montreal_location": "L2", "perianal": 0},
]  # fmt: skip
PATIENT_COLUMNS = list(PATIENTS[0])
SCANS = {"007": "nii.gz", "P002": "nrrd", "P003": "mha", "P004": "dicom", "P005": "nii"}
REPORTS = {
    "007": [("mre", "Thickened terminal ileum with mural hyperenhancement. No abscess."),
            ("colonoscopy", "Deep ulcers in the ileum; the rectum is spared.")],
    "P002": [("mre", "No active inflammation.")],
    "P003": [("mre", "Long-segment ileal disease with a fistula."), ("clinic", "Crohn’s flare, 8 stools/day.")],
    "P004": [("colonoscopy", "Aphthous ulcers in the right colon.")],
    "P006": [("clinic", "Doing well, no abdominal pain.")],
}  # fmt: skip
PRO_PATIENTS = ["007", "P002", "P003", "P005", "P006"]


def _build_valid_cohort(root: Path) -> Path:
    """Write a small valid cohort folder at ``root`` (created) and return it."""
    root.mkdir(parents=True, exist_ok=True)
    images = root / "images"
    images.mkdir()
    _write_csv(root / schema.PATIENTS_FILE, PATIENTS, PATIENT_COLUMNS)
    scan_rows = []
    for i, (pid, fmt) in enumerate(SCANS.items()):
        img = _make_volume(seed=i)
        mask = _make_mask(img)
        if fmt == "dicom":
            image_rel = f"images/{pid}_series"
            _write_dicom_series(img, root / image_rel)
            mask_rel = f"images/{pid}_mask.nii.gz"
        else:
            image_rel = f"images/{pid}_image.{fmt}"
            mask_rel = f"images/{pid}_mask.{fmt}"
            sitk.WriteImage(img, str(root / image_rel))
        sitk.WriteImage(mask, str(root / mask_rel))
        scan_rows.append(
            {"patient_id": pid, "image": image_rel, "mask": mask_rel, "modality": "MR", "sequence": "T2"}
        )
    _write_csv(root / schema.IMAGING_FILE, scan_rows, [*schema.IMAGING_REQUIRED, "sequence"])
    report_rows = [
        {"patient_id": pid, "report_type": rt, "text": text, "date": "2024-01-0" + str(k + 1)}
        for pid, items in REPORTS.items()
        for k, (rt, text) in enumerate(items)
    ]
    _write_csv(root / schema.REPORTS_FILE, report_rows, [*schema.REPORTS_REQUIRED, "date"])
    pro_rows = [_pro_row(pid, seed=i) for i, pid in enumerate(PRO_PATIENTS)]
    _write_csv(root / schema.PRO_FILE, pro_rows, [schema.PATIENT_ID, *schema.PRO_ITEMS])
    return root


def _copy_cohort(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def _edit_csv(path: Path, fn) -> None:
    """Rewrite a CSV after ``fn(columns, rows)`` edited the (mutable) columns list and row dicts in place."""
    columns, rows = _read_csv_rows(path)
    fn(columns, rows)
    _write_csv(path, rows, columns)


def _tree_hashes(root: Path) -> dict[str, str]:
    """SHA-256 and mtime of every file under ``root`` (symlinks hashed as their target text)."""
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(root))] = "link:" + str(p.readlink())
        elif p.is_file():
            st = p.stat()
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest() + f":{st.st_mtime_ns}"
    return out


@pytest.fixture(scope="session")
def make_volume():
    """``make_volume(seed, spacing=, origin=, size_zyx=)``: a random int16 volume (12 x 12 x 6 voxels)."""
    return _make_volume


@pytest.fixture(scope="session")
def make_mask():
    """``make_mask(reference, empty=False)``: a UInt8 mask on the reference grid (a 5 x 5 x 2 box)."""
    return _make_mask


@pytest.fixture(scope="session")
def write_dicom_series():
    """``write_dicom_series(image, folder)``: the image as a DICOM series, one file per slice."""
    return _write_dicom_series


@pytest.fixture(scope="session")
def build_valid_cohort():
    """``build_valid_cohort(root) -> root``: six patients, every modality missing for someone, every
    image format (NIfTI .nii.gz/.nii, NRRD, MHA, DICOM), a leading-zero id ("007")."""
    return _build_valid_cohort


@pytest.fixture(scope="session")
def copy_cohort():
    """``copy_cohort(src, dst) -> dst`` (symlinks kept)."""
    return _copy_cohort


@pytest.fixture(scope="session")
def edit_csv():
    """``edit_csv(path, fn)``: rewrite a CSV after ``fn(columns, rows)`` edited them in place."""
    return _edit_csv


@pytest.fixture(scope="session")
def tree_hashes():
    """``tree_hashes(root)``: content hash and mtime of every file under ``root``."""
    return _tree_hashes


# --- a fake run folder -----------------------------------------------------------------------------------
# A realistic fake run folder, following the result schemas exactly: predictions.parquet,
# metrics.parquet, cells.parquet, cohort_summary.parquet, provenance.json and tasks.json. Scores come
# from a seeded latent disease activity with a known modality signal strength (imaging > text > pro,
# fusions above their best single modality), so tests can check that the report ranks models right.

SIGNAL = {"imaging": 1.6, "text": 1.1, "pro": 0.6}
"""Signal-to-noise of each modality's scores; a fusion gets the root sum of squares, shrunk a little."""

# (modality_set, estimator, fusion); the hybrid network ignores the estimator axis
MODELS: tuple[tuple[str, str, str], ...] = (
    *((m, e, "single") for m in MODALITIES for e in ("enet", "rf")),
    *(("imaging+pro", e, "early") for e in ("enet", "rf")),
    *(("imaging+text+pro", e, "early") for e in ("enet", "rf")),
    *(("imaging+text+pro", e, "late_mean") for e in ("enet", "rf")),
    ("imaging+text+pro", "hybrid", "hybrid_concat"),
)
FAILED_MODEL = ("endo_active", "imaging+text", "enet", "early")  # every cell of it fails
PARTLY_FAILED = ("severity4", "imaging+text+pro", "rf", "early", 1, 3)  # one fold of one repeat fails

TASKS = {
    "endo_active": {
        "type": "binary",
        "endpoint": "ses_cd",
        "description": "Endoscopically active disease: SES-CD >= 3",
        "family": "endoscopic",
        "threshold": 3,
        "class_names": ["inactive", "active"],
    },
    "severity4": {
        "type": "multiclass",
        "endpoint": "severity",
        "description": "4-class endoscopic severity from SES-CD: inactive 0-2, mild 3-6, moderate 7-15, severe >= 16",
        "family": "endoscopic",
        "threshold": None,
        "class_names": list(SEVERITY_CLASSES),
    },
}


def _fake_patients(n: int, rng: np.random.Generator) -> pd.DataFrame:
    ids = [f"P{i:04d}" for i in range(1, n + 1)]
    severity_idx = rng.choice(4, size=n, p=[0.3, 0.3, 0.25, 0.15])
    bands = [(0, 2), (3, 6), (7, 15), (16, 30)]
    ses = np.array([rng.integers(bands[k][0], bands[k][1] + 1) for k in severity_idx])
    latent = (ses - ses.mean()) / ses.std()
    age = np.round(rng.normal(38, 12, n).clip(16, 85), 1)
    crp = np.round(np.exp(rng.normal(1.5 + 0.6 * latent, 0.8)), 1)
    crp[rng.random(n) < 0.1] = np.nan
    calpro = np.round(np.exp(rng.normal(5.2 + 0.7 * latent, 0.6)), 0)
    calpro[rng.random(n) < 0.15] = np.nan
    # imaging is missing more often in inactive patients (scans ordered when disease is suspected):
    # the missingness-vs-label diagnostic must find it
    p_img_missing = np.where(severity_idx == 0, 0.55, 0.08)
    avail = {
        "imaging": rng.random(n) >= p_img_missing,
        "text": rng.random(n) >= 0.12,
        "pro": rng.random(n) >= 0.15,
    }
    none = ~(avail["imaging"] | avail["text"] | avail["pro"])
    avail["pro"][none] = True
    frame = pd.DataFrame(
        {
            "patient_id": ids,
            "site": rng.choice(["Leuven", "Oxford", "Zurich"], size=n),
            "sex": rng.choice(["M", "F"], size=n),
            "age": age,
            "montreal_location": rng.choice(["L1", "L2", "L3"], size=n, p=[0.4, 0.2, 0.4]),
            "montreal_behaviour": rng.choice(["B1", "B2", "B3"], size=n, p=[0.6, 0.3, 0.1]),
            "perianal": (rng.random(n) < 0.2).astype(int),
            "crp": crp,
            "calprotectin": calpro,
            "ses_cd": ses,
            "maria": np.round((40 + 25 * latent + rng.normal(0, 15, n)).clip(0), 1),
            "cdai": np.round((180 + 70 * latent + rng.normal(0, 60, n)).clip(0), 0),
            "hbi": np.round((5 + 2.5 * latent + rng.normal(0, 2, n)).clip(0)).astype(int),
            "severity": [SEVERITY_CLASSES[k] for k in severity_idx],
            "avail_imaging": avail["imaging"],
            "avail_text": avail["text"],
            "avail_pro": avail["pro"],
        }
    )
    frame.loc[rng.random(n) < 0.05, "sex"] = None
    frame["_latent"] = latent
    frame["_severity_idx"] = severity_idx
    return frame


def _model_scores(
    cohort: pd.DataFrame, modality_set: str, estimator: str, rng: np.random.Generator, n_repeats: int
) -> np.ndarray:
    """One noisy score per patient and repeat (patients x repeats); the baseline scores nothing."""
    if modality_set == "none":
        return np.zeros((len(cohort), n_repeats))
    mods = modality_set.split("+")
    have = np.stack([cohort[f"avail_{m}"].to_numpy(bool) for m in mods], axis=1)
    # a patient lacking a modality gets no signal from it (the model sees NaN features there)
    strength = np.sqrt((have * np.array([SIGNAL[m] ** 2 for m in mods])).sum(axis=1)) * 0.95
    strength *= {"enet": 1.0, "rf": 0.9, "hybrid": 1.02}[estimator]
    latent = cohort["_latent"].to_numpy()
    shared = rng.normal(0, 1, len(cohort))  # model-specific error shared by the repeats
    per_repeat = rng.normal(0, 0.35, (len(cohort), n_repeats))
    return strength[:, None] * latent[:, None] + shared[:, None] + per_repeat


def _proba(score: np.ndarray, task: str, prior: np.ndarray) -> np.ndarray:
    if not np.any(score):
        return np.tile(prior, (len(score), 1))
    if len(prior) == 2:
        p1 = 1.0 / (1.0 + np.exp(-(0.9 * score + 0.6)))
        return np.stack([1 - p1, p1], axis=1)
    centres = np.array([-2.0, -0.4, 1.0, 2.4])
    logits = -0.5 * (score[:, None] - centres[None, :]) ** 2
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _fake_cell(task: str, mset: str, est: str, fusion: str, r: int, f: int) -> dict:
    return {
        "cell_id": f"{task}/{mset}/{est}/{fusion}/r{r}f{f}",
        "model_id": f"{task}/{mset}/{est}/{fusion}",
        "task": task,
        "modality_set": mset,
        "estimator": est,
        "fusion": fusion,
        "repeat": r,
        "fold": f,
    }


def _make_fake_run(
    run_dir: str | Path,
    *,
    n_patients: int = 120,
    n_repeats: int = 2,
    n_folds: int = 5,
    seed: int = 0,
    models: tuple[tuple[str, str, str], ...] = MODELS,
    with_search_space: bool = True,
    with_baseline: bool = True,
    with_failures: bool = True,
) -> Path:
    """Write a complete fake run folder into ``run_dir`` and return its path."""
    from reports.metrics import compute_metrics

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cohort = _fake_patients(n_patients, rng)
    y_by_task = {
        "endo_active": (cohort["ses_cd"].to_numpy() >= 3).astype(int),
        "severity4": cohort["_severity_idx"].to_numpy().astype(int),
    }
    patterns = cohort.apply(lambda r: "+".join(m for m in MODALITIES if r[f"avail_{m}"]), axis=1).to_numpy()
    folds = np.stack([rng.permutation(n_patients) % n_folds for _ in range(n_repeats)], axis=1)
    all_models = ((("none", "prior", "none"),) if with_baseline else ()) + tuple(models)

    pred_rows: list[pd.DataFrame] = []
    metric_rows: list[dict] = []
    cell_rows: list[dict] = []
    for task, spec in TASKS.items():
        k = len(spec["class_names"])
        y = y_by_task[task]
        for modality_set, estimator, fusion in all_models:
            score = _model_scores(cohort, modality_set, estimator, rng, n_repeats)
            for r in range(n_repeats):
                for f in range(n_folds):
                    axes = _fake_cell(task, modality_set, estimator, fusion, r, f)
                    test = folds[:, r] == f
                    prior = np.bincount(y[~test], minlength=k) / (~test).sum()
                    proba = _proba(score[test, r], task, prior)
                    failed = with_failures and (task, modality_set, estimator, fusion, r, f) == PARTLY_FAILED
                    params = {"C": float(np.round(10 ** rng.uniform(-2, 2), 4)), "l1_ratio": 0.5}
                    if estimator == "enet" and modality_set == "pro":
                        params["C"] = 100.0  # at the upper edge of the search space
                    cell_rows.append(
                        {
                            **axes,
                            "seed": int(rng.integers(0, 2**31 - 1)),
                            "status": "failed" if failed else "ok",
                            "error": "ValueError: Input contains NaN\nTraceback ..." if failed else None,
                            "best_params": json.dumps(params, sort_keys=True)
                            if estimator != "prior"
                            else "{}",
                            "search_space": json.dumps({"C": [0.01, 100.0], "l1_ratio": [0.0, 1.0]})
                            if estimator == "enet"
                            else None,
                            "n_trials": 20,
                            "fit_seconds": float(rng.uniform(0.5, 4.0)),
                            "predict_seconds": float(rng.uniform(0.01, 0.1)),
                            "peak_memory_mb": float(rng.uniform(200, 900)),
                            "n_train": int((~test).sum()),
                            "n_test": int(test.sum()),
                        }
                    )
                    if failed:
                        continue
                    part = pd.DataFrame(
                        {
                            **{a: [v] * int(test.sum()) for a, v in axes.items()},
                            "endpoint": spec["endpoint"],
                            "patient_id": cohort["patient_id"].to_numpy()[test],
                            "y_true": y[test],
                            "pattern": patterns[test],
                        }
                    )
                    for c in range(k):
                        part[f"proba_{c}"] = proba[:, c]
                    part["y_score"] = proba[:, 1] if k == 2 else np.nan
                    pred_rows.append(part)
        if with_failures and FAILED_MODEL[0] == task:
            for r in range(n_repeats):
                for f in range(n_folds):
                    cell_rows.append(
                        {
                            **_fake_cell(*FAILED_MODEL, r, f),
                            "seed": 0,
                            "status": "failed",
                            "error": "MemoryError: unable to allocate 3.2 GiB",
                            "best_params": "{}",
                            "search_space": None,
                            "n_trials": 0,
                            "fit_seconds": 0.0,
                            "predict_seconds": 0.0,
                            "peak_memory_mb": 0.0,
                            "n_train": 0,
                            "n_test": 0,
                        }
                    )

    predictions = pd.concat(pred_rows, ignore_index=True)
    proba_cols = [c for c in predictions.columns if c.startswith("proba_")]
    predictions = predictions[
        [c for c in predictions.columns if c not in (*proba_cols, "y_score")] + proba_cols + ["y_score"]
    ]
    # per-fold metrics and the pooled out-of-fold metrics per repeat (fold "all"), as the runner writes
    for (model_id, repeat), g in predictions.groupby(["model_id", "repeat"], sort=True):
        task_type = TASKS[g["task"].iat[0]]["type"]
        for fold, gg in [*((str(f), gg) for f, gg in g.groupby("fold")), ("all", g)]:
            proba = gg[proba_cols].dropna(axis=1, how="all").to_numpy()
            with np.errstate(all="ignore"):
                values = compute_metrics(gg["y_true"].to_numpy(), proba, task_type)
            for metric, value in values.items():
                metric_rows.append(
                    {
                        "model_id": model_id,
                        **{a: gg[a].iat[0] for a in ("task", "modality_set", "estimator", "fusion")},
                        "repeat": int(repeat),
                        "fold": fold,
                        "metric": metric,
                        "value": float(value),
                    }
                )
    predictions.sort_values(["cell_id", "patient_id"]).reset_index(drop=True).to_parquet(
        run_dir / "predictions.parquet", index=False
    )
    pd.DataFrame(metric_rows).to_parquet(run_dir / "metrics.parquet", index=False)
    cells = pd.DataFrame(cell_rows).sort_values("cell_id").reset_index(drop=True)
    if not with_search_space:
        cells = cells.drop(columns="search_space")
    cells.to_parquet(run_dir / "cells.parquet", index=False)
    summary = cohort.drop(columns=["_latent", "_severity_idx"])
    for m in MODALITIES:
        summary[f"features_{m}"] = summary[f"avail_{m}"]
    summary.to_parquet(run_dir / "cohort_summary.parquet", index=False)
    tasks = {
        t: {
            **spec,
            "n_patients": n_patients,
            "class_counts": {str(c): int(v) for c, v in enumerate(np.bincount(y_by_task[t]))},
        }
        for t, spec in TASKS.items()
    }
    (run_dir / "tasks.json").write_text(json.dumps(tasks, indent=2, sort_keys=True), encoding="utf-8")
    provenance = {
        "created_utc": "2026-11-27T20:00:00Z",
        "config_hash": "cafe1234",
        "seed": seed,
        "versions": {"cdbench": "0.1.0", "scikit-learn": "1.9.1"},
        "python": "3.11.7",
        "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False},
        "timings_seconds": {"total": 1234.5},
        "config": {"n_repeats": n_repeats, "n_folds": n_folds},
    }
    (run_dir / "provenance.json").write_text(
        json.dumps(provenance, indent=2, sort_keys=True), encoding="utf-8"
    )
    return run_dir


@pytest.fixture(scope="session")
def make_fake_run():
    """``make_fake_run(run_dir, *, n_patients=120, n_repeats=2, n_folds=5, seed=0, models=MODELS, ...)``."""
    return _make_fake_run


@pytest.fixture(scope="session")
def fake_run_models() -> tuple[tuple[str, str, str], ...]:
    """The (modality_set, estimator, fusion) models of a fake run (besides the prior baseline)."""
    return MODELS


@pytest.fixture(scope="session")
def fake_run_failed_model() -> tuple[str, str, str, str]:
    """The (task, modality_set, estimator, fusion) model whose every cell failed in a fake run."""
    return FAILED_MODEL
