"""Builders for tiny, valid cohort folders used by the cohort tests (no dependency on the generator)."""

from __future__ import annotations

import csv
import hashlib
import locale
import shutil
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from benchmarks import schema

SIZE_ZYX = (6, 12, 12)  # numpy order; the image is 12 x 12 x 6 voxels
SPACING = (0.8, 0.8, 3.0)
ORIGIN = (-10.0, 5.0, 20.0)


def make_volume(seed: int, spacing=SPACING, origin=ORIGIN, size_zyx=SIZE_ZYX) -> sitk.Image:
    rng = np.random.default_rng(seed)
    img = sitk.GetImageFromArray((rng.random(size_zyx) * 500).astype(np.int16))
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    return img


def make_mask(reference: sitk.Image, empty: bool = False) -> sitk.Image:
    arr = np.zeros(sitk.GetArrayViewFromImage(reference).shape, dtype=np.uint8)
    if not empty:
        arr[2:4, 3:8, 4:9] = 1
    mask = sitk.GetImageFromArray(arr)
    mask.CopyInformation(reference)
    return mask


def write_dicom_series(image: sitk.Image, folder: Path) -> None:
    """Write a 3-D int16 image as a DICOM series, one file per slice, with the tags ITK needs to stack it.

    GDCM's writer switches the process's C locale to "C", which makes Python's default text encoding
    ASCII for the rest of the process; the locale is restored afterwards.
    """
    saved = locale.setlocale(locale.LC_ALL)
    try:
        _write_dicom_series(image, folder)
    finally:
        locale.setlocale(locale.LC_ALL, saved)


def _write_dicom_series(image: sitk.Image, folder: Path) -> None:
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


def pro_row(pid: str, seed: int) -> dict[str, object]:
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


def write_csv(path: Path, rows: list[dict[str, object]], columns: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in columns})


def read_csv_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
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


def build_valid_cohort(root: Path) -> Path:
    """Write a small valid cohort folder at ``root`` (created) and return it."""
    root.mkdir(parents=True, exist_ok=True)
    images = root / "images"
    images.mkdir()
    write_csv(root / schema.PATIENTS_FILE, PATIENTS, PATIENT_COLUMNS)
    scan_rows = []
    for i, (pid, fmt) in enumerate(SCANS.items()):
        img = make_volume(seed=i)
        mask = make_mask(img)
        if fmt == "dicom":
            image_rel = f"images/{pid}_series"
            write_dicom_series(img, root / image_rel)
            mask_rel = f"images/{pid}_mask.nii.gz"
        else:
            image_rel = f"images/{pid}_image.{fmt}"
            mask_rel = f"images/{pid}_mask.{fmt}"
            sitk.WriteImage(img, str(root / image_rel))
        sitk.WriteImage(mask, str(root / mask_rel))
        scan_rows.append(
            {"patient_id": pid, "image": image_rel, "mask": mask_rel, "modality": "MR", "sequence": "T2"}
        )
    write_csv(root / schema.IMAGING_FILE, scan_rows, [*schema.IMAGING_REQUIRED, "sequence"])
    report_rows = [
        {"patient_id": pid, "report_type": rt, "text": text, "date": "2024-01-0" + str(k + 1)}
        for pid, items in REPORTS.items()
        for k, (rt, text) in enumerate(items)
    ]
    write_csv(root / schema.REPORTS_FILE, report_rows, [*schema.REPORTS_REQUIRED, "date"])
    pro_rows = [pro_row(pid, seed=i) for i, pid in enumerate(PRO_PATIENTS)]
    write_csv(root / schema.PRO_FILE, pro_rows, [schema.PATIENT_ID, *schema.PRO_ITEMS])
    return root


def copy_cohort(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def edit_csv(path: Path, fn) -> None:
    """Rewrite a CSV after ``fn(columns, rows)`` edited the (mutable) columns list and row dicts in place."""
    columns, rows = read_csv_rows(path)
    fn(columns, rows)
    write_csv(path, rows, columns)


def tree_hashes(root: Path) -> dict[str, str]:
    """SHA-256 and mtime of every file under ``root`` (symlinks hashed as their target text)."""
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(root))] = "link:" + str(p.readlink())
        elif p.is_file():
            st = p.stat()
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest() + f":{st.st_mtime_ns}"
    return out
