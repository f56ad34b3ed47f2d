"""imaging.csv: one row per scan; the image and mask it names must be usable together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.cohort import imageio, schema
from benchmarks.cohort.cells import attributed_rows, clear_bad_utf8, is_na, show
from benchmarks.cohort.image_checks import ImageChecker, MaskCheck
from benchmarks.cohort.paths import resolve_inside, special_file
from benchmarks.cohort.problems import ProblemLog
from benchmarks.cohort.tables import SOURCE_ROW, ModalityTable, Row, read_modality_table

IMAGE_PATH = "image_path"
MASK_PATH = "mask_path"
PATH_COLUMNS = {schema.IMAGE_COLUMN: IMAGE_PATH, schema.MASK_COLUMN: MASK_PATH}
"""Each path column of imaging.csv and the column of the loaded table holding its absolute path."""


def validate_imaging(
    root: Path, known: set[str] | None, log: ProblemLog, images: ImageChecker
) -> ModalityTable:
    """The usable scans: rows of imaging.csv whose image and mask exist inside the folder and pass
    ``images`` (absolute paths in ``image_path`` and ``mask_path``)."""
    table = read_modality_table(root, "imaging", schema.IMAGING_REQUIRED, log)
    if table is None:
        return ModalityTable.of([], [*schema.IMAGING_REQUIRED, *PATH_COLUMNS.values(), SOURCE_ROW])
    real_root = root.resolve()
    records: list[dict[str, Any]] = []
    for pid, row in attributed_rows(log, table, known):
        clear_bad_utf8(log, table, row, pid)
        _check_modality(log, row, pid)
        paths = _scan_paths(log, real_root, row, pid)
        if len(paths) < len(PATH_COLUMNS):
            continue
        if images.mode != "none" and not _check_scan(log, images, pid, row, paths):
            continue
        rec: dict[str, Any] = {
            c: (None if c != schema.PATIENT_ID and is_na(row.cells[c]) else row.cells[c].strip())
            for c in table.columns
        }
        rec[schema.PATIENT_ID] = pid
        for col, path_col in PATH_COLUMNS.items():
            rec[path_col] = str(paths[col])
        rec[SOURCE_ROW] = row.num
        records.append(rec)
    return ModalityTable.of(records, [*table.columns, *PATH_COLUMNS.values(), SOURCE_ROW], len(table.rows))


def _check_modality(log: ProblemLog, row: Row, pid: str) -> None:
    col = schema.IMAGE_MODALITY_COLUMN
    modality = row.cells[col].strip()
    if is_na(modality):
        log.add(
            "warning", schema.IMAGING_FILE, "image modality is missing", patient=pid, field=col, row=row.num
        )
    elif modality not in schema.IMAGE_MODALITIES:
        msg = f"unknown image modality {show(modality)} (expected one of {list(schema.IMAGE_MODALITIES)})"
        log.add("warning", schema.IMAGING_FILE, msg, patient=pid, field=col, row=row.num)


def _scan_paths(log: ProblemLog, real_root: Path, row: Row, pid: str) -> dict[str, Path]:
    """The existing files of the row's path columns, by column; the missing and refused are recorded."""
    f = schema.IMAGING_FILE
    paths: dict[str, Path] = {}
    for col in PATH_COLUMNS:
        rel = row.cells[col].strip()
        if not rel:
            log.error_excluding(f, "path is empty; scan ignored", patient=pid, field=col, row=row.num)
            continue
        path, why = resolve_inside(real_root, rel)
        if path is None:
            msg = f"{why} ({f} row {row.num})"
            log.error_excluding(rel, msg, patient=pid, field=col, row=row.num, fatal=True, excluded_file=f)
            continue
        if not path.exists():
            msg = f"file not found ({f} row {row.num}); scan ignored"
            log.error_excluding(rel, msg, patient=pid, field=col, row=row.num, excluded_file=f)
            continue
        special = special_file(path)
        if special is not None:
            msg = (
                f"refused without opening it: {special}, not a regular file ({f} row {row.num}); "
                f"scan ignored. Point {col} at the file (or DICOM series folder) itself"
            )
            log.error_excluding(rel, msg, patient=pid, field=col, row=row.num, excluded_file=f)
            continue
        paths[col] = path
    return paths


def _check_scan(log: ProblemLog, images: ImageChecker, pid: str, row: Row, paths: dict[str, Path]) -> bool:
    """Whether the scan's image and mask are readable, non-empty and share one geometry, and the image
    has no NaN or infinite voxel where ``images`` looks (inside the mask; ``full``: anywhere)."""
    f = schema.IMAGING_FILE
    where = f"({f} row {row.num}); scan ignored"
    img_rel = row.cells[schema.IMAGE_COLUMN].strip()
    mask_rel = row.cells[schema.MASK_COLUMN].strip()

    def error(rel: str, field: str, message: str) -> None:
        log.error_excluding(rel, f"{message} {where}", patient=pid, field=field, row=row.num, excluded_file=f)

    image = images.image(paths[schema.IMAGE_COLUMN])
    img_info = image.info
    if image.error:
        error(img_rel, schema.IMAGE_COLUMN, f"unreadable or corrupt image: {image.error}")
    elif img_info is not None and (img_info.dimension != 3 or img_info.n_components != 1):
        error(
            img_rel,
            schema.IMAGE_COLUMN,
            f"a {img_info.dimension}-D image with {img_info.n_components} component(s) "
            "per voxel; a 3-D scalar volume is expected",
        )
        img_info = None
    mask = images.mask(paths[schema.MASK_COLUMN])
    if mask.error:
        error(mask_rel, schema.MASK_COLUMN, f"unreadable or corrupt mask: {mask.error}")
    elif mask.content:
        error(mask_rel, schema.MASK_COLUMN, mask.content)
    else:
        for msg in _mask_warnings(mask):
            log.add(
                "warning",
                mask_rel,
                f"{msg} ({f} row {row.num})",
                patient=pid,
                field=schema.MASK_COLUMN,
                row=row.num,
            )
    if img_info is None or mask.info is None:
        return False
    diffs = imageio.geometry_differences(img_info, mask.info)
    for d in diffs:
        error(mask_rel, schema.MASK_COLUMN, f"mask {d}")
    if diffs or mask.content is not None:
        return False
    if not img_info.is_float:
        return True  # integer voxels cannot be NaN or infinite
    found = images.non_finite(paths[schema.IMAGE_COLUMN], paths[schema.MASK_COLUMN])
    if found.error:
        error(img_rel, schema.IMAGE_COLUMN, f"unreadable or corrupt image: {found.error}")
    elif found.inside:
        whole = f" ({found.whole} in the whole image)" if found.whole else ""
        error(
            img_rel,
            schema.IMAGE_COLUMN,
            f"{found.inside} voxels inside the mask are NaN or infinite{whole}: the features would be "
            "wrong; replace them with valid intensities in the image file, or correct the mask",
        )
    elif found.whole:
        error(
            img_rel,
            schema.IMAGE_COLUMN,
            f"{found.whole} voxels of the image are NaN or infinite (none inside the mask): intensity "
            "normalisation, resampling and filters read them; replace them with valid intensities",
        )
    return not (found.error or found.inside or found.whole)


def _mask_warnings(mask: MaskCheck) -> list[str]:
    """What looks wrong with a non-empty mask's labels: radiomics reads label 1 only."""
    more = ", ..." if mask.n_labels > len(mask.labels) else ""
    shown = "[" + ", ".join(f"{v:g}" for v in mask.labels) + more + "]"
    out = []
    if not mask.has_label_one:
        out.append(
            f"mask has no voxel labelled 1 (labels {shown}); radiomics reads label 1 (the 'label' setting "
            "of its parameter file), so this scan will fail extraction: relabel the region of interest to 1"
        )
    elif mask.n_labels > 1:
        out.append(
            f"mask has {mask.n_labels} labels ({shown}); radiomics reads label 1 only (the 'label' setting "
            "of its parameter file) and ignores the others: if the region of interest has another label, "
            "relabel it to 1"
        )
    if mask.covers_image:
        out.append(
            "mask labels every voxel of the image, so the features would describe the whole volume, not a "
            "region of interest (an all-ones placeholder?): give the segmentation of the region"
        )
    return out
