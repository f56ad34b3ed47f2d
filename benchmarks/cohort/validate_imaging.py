"""imaging.csv: one row per scan; the image and mask it names must be usable together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.cohort import imageio, schema
from benchmarks.cohort.cells import attributed_rows, clear_bad_utf8, is_na, show
from benchmarks.cohort.image_checks import ImageChecker
from benchmarks.cohort.paths import resolve_inside
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
        paths[col] = path
    return paths


def _check_scan(log: ProblemLog, images: ImageChecker, pid: str, row: Row, paths: dict[str, Path]) -> bool:
    """Whether the scan's image and mask are readable, non-empty and share one geometry."""
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
    elif mask.labels_without_one is not None:
        msg = (
            f"mask has no voxel labelled 1 (labels {mask.labels_without_one}); "
            f"radiomics reads label 1 unless configured ({f} row {row.num})"
        )
        log.add("warning", mask_rel, msg, patient=pid, field=schema.MASK_COLUMN, row=row.num)
    if img_info is None or mask.info is None:
        return False
    diffs = imageio.geometry_differences(img_info, mask.info)
    for d in diffs:
        error(mask_rel, schema.MASK_COLUMN, f"mask {d}")
    return not diffs and mask.content is None
