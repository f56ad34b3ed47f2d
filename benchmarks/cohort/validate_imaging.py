"""imaging.csv: one row per scan; the image and mask it names must be usable together.

Masks are read as extraction reads them (``imageio.read_mask``: label images, RTSTRUCT, DICOM-SEG) for
the regions of the optional ``label`` column (grammar: ``benchmarks.cohort.regions``; stored in the
loaded table in canonical form, None for the default). Errors exclude the scan: a ``label`` cell that
breaks the grammar (field ``label``), an unreadable or empty mask, a mask of another DICOM series (both
SeriesInstanceUIDs named), a geometry differing from the image's (the message gives the resampling to
apply). Warnings keep it: a configured region with no voxel (alone: extraction will fail; one of
several: an uninvolved segment), labels / structures / segments present that no region reads, a mask
covering the whole image; each says how to set the ``label`` column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.cohort import imageio, schema
from benchmarks.cohort.cells import attributed_rows, clear_bad_utf8, is_na, show
from benchmarks.cohort.image_checks import ImageChecker, MaskCheck
from benchmarks.cohort.paths import resolve_inside, special_file
from benchmarks.cohort.problems import ProblemLog
from benchmarks.cohort.regions import DEFAULT_REGIONS, Region, RegionSpecError, format_regions, parse_regions
from benchmarks.cohort.tables import SOURCE_ROW, ModalityTable, Row, read_modality_table
from benchmarks.cohort.visits import row_visit

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
        visit = row_visit(log, table, row, pid)  # date / timepoint (validated, ISO text / int)
        regions = _row_regions(log, row, pid)
        paths = _scan_paths(log, real_root, row, pid)
        if len(paths) < len(PATH_COLUMNS) or regions is None:
            continue
        if images.mode != "none" and not _check_scan(log, images, pid, row, paths, regions):
            continue
        rec: dict[str, Any] = {
            c: (None if c != schema.PATIENT_ID and is_na(row.cells[c]) else row.cells[c].strip())
            for c in table.columns
        }
        rec[schema.PATIENT_ID] = pid
        rec.update(visit)
        if schema.LABEL_COLUMN in rec:
            rec[schema.LABEL_COLUMN] = format_regions(regions) or None  # canonical; None: the default
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


def _row_regions(log: ProblemLog, row: Row, pid: str) -> tuple[Region, ...] | None:
    """The regions the row's ``label`` cell names (the default when the column or the cell is empty), or
    None after an error when the cell breaks the grammar."""
    cell = row.cells.get(schema.LABEL_COLUMN)
    if cell is None or is_na(cell):
        return DEFAULT_REGIONS
    try:
        return parse_regions(cell)
    except RegionSpecError as exc:
        msg = (
            f'label cell {show(cell.strip())}: {exc}; scan ignored. Write one label ("2"), several ("1;2;3"), '
            'named ones ("ileum=1;colon=2"), or RTSTRUCT structure names ("Bowel wall" or '
            '"ileum=Ileum wall;colon=Colon"); empty reads label 1 (an RTSTRUCT: its only structure)'
        )
        log.error_excluding(schema.IMAGING_FILE, msg, patient=pid, field=schema.LABEL_COLUMN, row=row.num)
        return None


def _check_scan(
    log: ProblemLog,
    images: ImageChecker,
    pid: str,
    row: Row,
    paths: dict[str, Path],
    regions: tuple[Region, ...] = DEFAULT_REGIONS,
) -> bool:
    """Whether the scan's image and mask (read for ``regions``) are readable, non-empty and share one
    geometry, and the image has no NaN or infinite voxel where ``images`` looks (inside the mask;
    ``full``: anywhere)."""
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
    mask = images.mask(paths[schema.MASK_COLUMN], paths[schema.IMAGE_COLUMN], regions)
    if mask.error:
        error(mask_rel, schema.MASK_COLUMN, f"unreadable or corrupt mask: {mask.error}")
    elif mask.content:
        error(mask_rel, schema.MASK_COLUMN, mask.content)
    else:
        for msg in _mask_warnings(mask, regions):
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
    if diffs:
        error(mask_rel, schema.MASK_COLUMN, f"mask {'; '.join(diffs)}: {imageio.GEOMETRY_FIX}")
    if diffs or mask.content is not None:
        return False
    if not img_info.is_float:
        return True  # integer voxels cannot be NaN or infinite
    found = images.non_finite(paths[schema.IMAGE_COLUMN], paths[schema.MASK_COLUMN], regions)
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


LABEL_HOWTO = (
    'set the label column of imaging.csv: one label ("2"), one per segment ("1;2;3"), named segments '
    '("ileum=1;colon=2"), or RTSTRUCT structure names ("Bowel wall", "ileum=Ileum wall;colon=Colon")'
)
"""How to configure the mask regions a scan reads (for messages)."""


def _label_cell(keys: list[int | float | str]) -> str | None:
    """The ``label`` cell that reads exactly ``keys`` (one region each), or None when none can."""
    parts = []
    for i, key in enumerate(keys):
        if isinstance(key, float) and not key.is_integer():
            return None
        text = str(int(key)) if isinstance(key, (int, float)) else str(key)
        try:
            parse_regions(text)
        except RegionSpecError:
            text = f"region{i + 1}={text}"  # an RTSTRUCT structure name with other characters
        parts.append(text)
    cell = ";".join(parts)
    wanted = [k if isinstance(k, str) else int(k) for k in keys]
    try:
        return cell if [r.key for r in parse_regions(cell)] == wanted else None
    except RegionSpecError:  # e.g. a structure name holding ';'
        return None


def _show_keys(values: tuple[int | float | str, ...], total: int) -> str:
    more = ", ..." if total > len(values) else ""
    return "[" + ", ".join(repr(v) if isinstance(v, str) else f"{v:g}" for v in values) + more + "]"


def _mask_warnings(mask: MaskCheck, regions: tuple[Region, ...] = DEFAULT_REGIONS) -> list[str]:
    """What looks wrong with a readable, non-empty mask: a configured region with no voxel (a single
    region: extraction will fail; one of several: an uninvolved segment), labels present that no region
    reads, a mask covering the whole image."""
    what = {"label": "label", "rtstruct": "structure", "seg": "segment"}[mask.kind]
    present = f"{what}s present: {_show_keys(mask.labels, mask.n_labels)}"
    out = []
    if mask.absent and len(regions) == 1:
        key = regions[0].key
        where = f"labelled {key}" if mask.kind == "label" else f"in {what} {key!r}"
        cell = _label_cell(list(mask.labels)) if mask.n_labels == len(mask.labels) else None
        here = f'; here, "{cell}" reads the {what}(s) present' if cell else ""
        out.append(
            f"mask has no voxel {where} ({present}), so this scan will fail extraction: {LABEL_HOWTO}{here}"
        )
    elif mask.absent:
        gone = ", ".join(
            r.name if r.name == str(r.key) else f"{r.name} ({what} {r.key})" for r in mask.absent
        )
        fate = (
            "no region has a voxel, so this scan will fail extraction"
            if len(mask.absent) == len(regions)
            else "they count as uninvolved segments (no features of their own; the patient's aggregates "
            "cover the regions present)"
        )
        out.append(
            f"region(s) {gone} have no voxel in the mask ({present}): {fate}. If unintended, {LABEL_HOWTO}"
        )
    if mask.n_unused and not (mask.absent and len(regions) == 1):  # else said above: it lists what is present
        default = "its only structure" if mask.kind == "rtstruct" else f"{what} 1, the default"
        reads = f'"{format_regions(regions)}"' if regions != DEFAULT_REGIONS else default
        cell = None
        if mask.n_unused == len(mask.unused):
            if regions == DEFAULT_REGIONS and mask.kind == "rtstruct":
                read_keys = [k for k in mask.labels if k not in mask.unused]
            else:
                read_keys = [r.key for r in regions]
            cell = _label_cell([*read_keys, *mask.unused])
            if cell is not None and regions != DEFAULT_REGIONS and any(r.name != str(r.key) for r in regions):
                named = format_regions(regions)  # keep the user's region names, add the unused keys
                extra = _label_cell(list(mask.unused))
                cell = f"{named};{extra}" if extra else None
        here = f'; here, "{cell}" reads them too' if cell else ""
        out.append(
            f"mask has {what}(s) {_show_keys(mask.unused, mask.n_unused)} that the label column does not "
            f"select (it reads {reads}); they are ignored. To use them, {LABEL_HOWTO}{here}"
        )
    if mask.covers_image:
        out.append(
            "mask labels every voxel of the image, so the features would describe the whole volume, not a "
            "region of interest (an all-ones placeholder?): give the segmentation of the region"
        )
    return out
