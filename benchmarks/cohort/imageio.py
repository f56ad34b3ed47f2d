"""Reading medical images: NIfTI, NRRD, MetaImage (MHA/MHD) files and DICOM series folders.

Validation needs three things at very different costs, so they are separate functions:

- ``read_image_info``: the geometry from the header only (size, spacing, origin, direction, pixel type);
- ``check_integrity``: a cheap test that the voxel data is complete (NIfTI: compare the declared data
  size with the file, or with the gzip trailer for ``.nii.gz``), falling back to a full read for the
  formats where no cheap test exists;
- ``read_image``: the whole image with its voxels;
- ``non_finite_voxels``: where an image stores NaN or infinite voxels (for NIfTI from the file's own
  bytes, because ITK's NIfTI reader silently turns them into 0).

Masks are read by ``read_mask`` only (validation and extraction alike): a label image (NIfTI, NRRD,
MHA, DICOM series folder), an RTSTRUCT or a DICOM-SEG (a DICOM file, or a folder holding only that
file; the file's Modality decides, not its name), always returned as a label image on the image's
exact grid with the label value of each configured region (``regions``: the ``label`` cell of
imaging.csv). RTSTRUCT and SEG masks need their image as the DICOM series folder they were drawn on
(a mask referencing another SeriesInstanceUID is an error naming both). RTSTRUCT contours are filled
here with OpenCV following rt-utils' convention, but in each slice's true row/column geometry:
rt-utils 1.2.7 itself mis-reads contours on non-square slices (it allocates columns x rows) and swaps
the two pixel spacings. SEG frames are mapped onto the series' slices by SOPInstanceUID with highdicom.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from benchmarks.cohort.regions import DEFAULT_REGIONS, SEPARATOR, Region

NIFTI_SUFFIXES = (".nii", ".nii.gz")
NRRD_SUFFIXES = (".nrrd", ".nhdr")
META_SUFFIXES = (".mha", ".mhd")
IMAGE_SUFFIXES = NIFTI_SUFFIXES + NRRD_SUFFIXES + META_SUFFIXES
FLOAT_PIXEL_IDS = (sitk.sitkFloat32, sitk.sitkFloat64)
FLOAT_PIXEL_TYPES = frozenset(sitk.GetPixelIDValueAsString(i) for i in FLOAT_PIXEL_IDS)
"""Pixel types (as in ``ImageInfo.pixel_type``) that can hold NaN or infinite voxels."""
NIFTI_FLOAT_DTYPES = {16: "f4", 64: "f8"}
"""NIfTI datatype codes of scalar floating-point voxels (DT_FLOAT32, DT_FLOAT64) and their numpy type."""


class ImageReadError(Exception):
    """An image (or DICOM series) cannot be read or its data is incomplete."""


class MaskMismatchError(ImageReadError):
    """A readable mask that does not fit its image or its ``label`` cell (another series, structures to
    name, overlapping regions); the message says what to change."""

    category = "mask mismatch"


@dataclass(frozen=True)
class ImageInfo:
    """Geometry and pixel type of an image, as read from its header."""

    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]
    pixel_type: str
    n_components: int
    format: str

    @property
    def dimension(self) -> int:
        return len(self.size)

    @property
    def is_float(self) -> bool:
        """Whether the voxels are floating point, so that some may be NaN or infinite."""
        return self.pixel_type in FLOAT_PIXEL_TYPES


def image_format(path: str | os.PathLike[str]) -> str:
    """``"nifti"``, ``"nrrd"``, ``"meta"`` or ``"dicom"`` (a folder); raises ``ImageReadError`` otherwise."""
    p = Path(path)
    if p.is_dir():
        return "dicom"
    name = p.name.lower()
    if name.endswith(NIFTI_SUFFIXES):
        return "nifti"
    if name.endswith(NRRD_SUFFIXES):
        return "nrrd"
    if name.endswith(META_SUFFIXES):
        return "meta"
    if name.endswith(".dcm"):
        raise ImageReadError("a single DICOM file is not supported: give the folder holding the series")
    raise ImageReadError(
        f"unsupported image format (expected a folder or one of {', '.join(IMAGE_SUFFIXES)})"
    )


def _short(exc: BaseException) -> str:
    """The informative line of a (multi-line, path-laden) ITK exception message."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for ln in lines:
        for tag in ("sitk::ERROR:", "itk::ERROR:", "Description:"):
            if tag in ln:
                return ln.split(tag, 1)[1].strip()[:300]
    return (lines[-1] if lines else type(exc).__name__)[:300]


def dicom_series_files(folder: str | os.PathLike[str]) -> list[str]:
    """Sorted slice files of the single DICOM series in ``folder``."""
    folder = str(folder)
    try:
        ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(folder)
    except RuntimeError as exc:
        raise ImageReadError(f"cannot list DICOM series: {_short(exc)}") from exc
    if not ids:
        raise ImageReadError("folder holds no DICOM series")
    if len(ids) > 1:
        raise ImageReadError(f"folder holds {len(ids)} DICOM series; put each series in its own folder")
    files = list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, ids[0]))
    if not files:
        raise ImageReadError("DICOM series has no readable slices")
    return files


def read_image(path: str | os.PathLike[str]) -> sitk.Image:
    """Read a whole image (voxels included) from a NIfTI/NRRD/MHA file or a DICOM series folder.

    NIfTI files are first checked for truncation (see ``check_integrity``): ITK silently reads a
    truncated NIfTI as if it were complete.
    """
    fmt = image_format(path)
    if fmt == "nifti":
        _check_nifti(Path(path))
    try:
        if fmt == "dicom":
            reader = sitk.ImageSeriesReader()
            reader.SetFileNames(dicom_series_files(path))
            return reader.Execute()
        return sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise ImageReadError(f"cannot read image: {_short(exc)}") from exc


@dataclass
class LabelMask:
    """A mask on its image's grid: an integer label image and the label value of each region name."""

    image: sitk.Image
    labels: dict[str, int]
    kind: str  # "label" (a label image file or series), "rtstruct" or "seg"


MASK_KINDS = ("label", "rtstruct", "seg")
DICOM_MASK_MODALITIES = {"RTSTRUCT": "rtstruct", "SEG": "seg"}
"""DICOM Modality of the mask objects ``read_mask`` rasterises, and the kind each is."""
GEOMETRY_FIX = (
    "resample the mask onto the image grid with nearest-neighbour interpolation (SimpleITK: "
    "sitk.Resample(mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0)), or re-export the mask "
    "from the image it was drawn on"
)
"""How to fix a mask whose geometry differs from its image's (for messages)."""


@dataclass(frozen=True)
class DefinedRegion:
    """A structure of an RTSTRUCT or a segment of a DICOM-SEG, as its header defines it."""

    key: int | str  # segment number (SEG) or structure name (RTSTRUCT)
    label: str  # the structure name, or the segment's label
    has_data: bool  # the structure has contours / the segment has frames

    def describe(self) -> str:
        return repr(self.key) if isinstance(self.key, str) else f"{self.key} ({self.label!r})"


def _is_dicom_file(p: Path) -> bool:
    try:
        with open(p, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def _dicom_mask_file(path: Path) -> tuple[Path, str] | None:
    """The RTSTRUCT/SEG file ``path`` is (or, for a folder, the folder's only file is) and its kind;
    None for a label image (a file with an image suffix, or a DICOM series folder)."""
    in_folder = path.is_dir()
    if in_folder:
        try:
            files = [f for f in path.iterdir() if f.is_file() and not f.name.startswith(".")]
        except OSError:
            return None
        if len(files) != 1:
            return None
        path = files[0]
    elif path.name.lower().endswith(IMAGE_SUFFIXES):
        return None
    dcm_suffix = path.name.lower().endswith(".dcm")
    if not (dcm_suffix or _is_dicom_file(path)):
        return None
    import pydicom  # here, not at module level: only DICOM masks need it (~0.15 s per process)

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality"], force=dcm_suffix)
    except Exception as exc:  # pydicom raises many types on a damaged header
        if in_folder:
            return None
        raise ImageReadError(f"cannot read DICOM header: {exc}") from exc
    modality = str(ds.get("Modality", "")).strip().upper()
    if modality in DICOM_MASK_MODALITIES:
        return path, DICOM_MASK_MODALITIES[modality]
    if in_folder:
        return None  # a one-slice DICOM series
    raise ImageReadError(
        f"a single DICOM file of modality {modality or 'unknown'} is not a mask: give an RTSTRUCT or a "
        "DICOM-SEG file, a label image (NIfTI, NRRD, MHA) or a DICOM series folder"
    )


def mask_kind(mask_path: str | os.PathLike[str]) -> str:
    """``"rtstruct"`` or ``"seg"`` for a DICOM RTSTRUCT / SEG file (or a folder holding only that file),
    else ``"label"`` (a label image file or DICOM series folder); the DICOM Modality decides, not the
    file name."""
    found = _dicom_mask_file(Path(mask_path))
    return "label" if found is None else found[1]


def read_mask(
    mask_path: str | os.PathLike[str],
    image_path: str | os.PathLike[str],
    regions: tuple[Region, ...] = DEFAULT_REGIONS,
) -> LabelMask:
    """The mask of ``image_path`` as a label image, with the label value of each of ``regions``.

    The kind comes from the file (``mask_kind``):

    - a label image (NIfTI, NRRD, MHA, DICOM series folder) is read as it is; its regions' keys are its
      labels, and ``labels[name]`` is the key (a label with no voxel is kept: the region is absent);
    - an RTSTRUCT (a DICOM file, or a folder holding only that file) is rasterised in memory onto the
      image's grid, which must be the DICOM series folder it was drawn on. Region keys are structure
      names (an empty cell: its only structure; an error naming them when it has several). A closed
      planar contour fills the voxels whose centres it encloses on its slice, as rt-utils does; the
      contours of one structure on one slice are filled together. Region ``i`` gets label ``i + 1``;
    - a DICOM-SEG is mapped onto the image's DICOM series slice by slice (by SOPInstanceUID, with
      highdicom); region keys are segment numbers (empty cell: segment 1) and each region's label is
      its segment number. A FRACTIONAL segment holds the voxels of value >= 0.5.

    A structure or segment the file defines without contours or frames, or does not define at all, is
    an absent region (no voxel), as a label absent from a label image. The returned image has the
    image's exact geometry. ``ImageReadError`` when the mask cannot be read, references another series
    than the image's (both SeriesInstanceUIDs named), its regions overlap, or a key does not fit the
    kind (structure names for a label image or a SEG).
    """
    found = _dicom_mask_file(Path(mask_path))
    if found is None:
        if any(not r.is_label for r in regions):
            names = [r.key for r in regions if not r.is_label]
            raise ImageReadError(
                f"structure names {names} select RTSTRUCT structures, but this mask is a label image: "
                "give label numbers in the label column"
            )
        return LabelMask(read_image(mask_path), {r.name: int(r.key) for r in regions}, "label")
    path, kind = found
    if image_format(image_path) != "dicom":
        raise ImageReadError(
            f"a {_KIND_NAMES[kind]} mask is rasterised onto the DICOM series it was drawn on, but the image "
            "is a single file: give the image as its DICOM series folder, or convert the mask to a label "
            "image (NIfTI, NRRD) on the image's grid"
        )
    series = _SeriesGeometry.read(image_path)
    if kind == "rtstruct":
        arrays = _rtstruct_regions(path, series, regions)
        labels = {r.name: i + 1 for i, r in enumerate(regions)}
    else:
        arrays = _seg_regions(path, series, regions)
        labels = {r.name: int(r.key) for r in regions}
    return LabelMask(_compose(arrays, labels, series), labels, kind)


_KIND_NAMES = {"rtstruct": "RTSTRUCT", "seg": "DICOM-SEG"}


@dataclass(frozen=True)
class _SeriesGeometry:
    """A DICOM series as the image reader stacks it: its geometry, each slice's SOPInstanceUID in
    slice order (``z`` of ``sitk.GetArrayFromImage``), its SeriesInstanceUID and frame of reference."""

    info: ImageInfo
    sop_uids: tuple[str, ...]
    series_uid: str
    frame_uid: str

    @classmethod
    def read(cls, folder: str | os.PathLike[str]) -> _SeriesGeometry:
        import pydicom

        info = read_image_info(folder)
        uids: list[str] = []
        series_uid = frame_uid = ""
        tags = ["SOPInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"]
        try:
            for f in dicom_series_files(folder):
                ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=tags)
                uids.append(str(ds.SOPInstanceUID))
                series_uid = series_uid or str(ds.get("SeriesInstanceUID", ""))
                frame_uid = frame_uid or str(ds.get("FrameOfReferenceUID", ""))
        except Exception as exc:  # pydicom raises many types on a damaged header
            raise ImageReadError(f"cannot read the image series' DICOM headers: {exc}") from exc
        return cls(info, tuple(uids), series_uid, frame_uid)

    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        nx, ny, nz = self.info.size
        return nz, ny, nx

    def continuous_index(self, points: np.ndarray) -> np.ndarray:
        """(n, 3) physical points (mm) -> (n, 3) continuous (x, y, z) voxel indices on this grid."""
        d = np.asarray(self.info.direction, float).reshape(3, 3)
        rel = np.asarray(points, float) - np.asarray(self.info.origin, float)
        return np.linalg.solve(d, rel.T).T / np.asarray(self.info.spacing, float)


def _check_series(kind: str, referenced: list[str], series: _SeriesGeometry) -> None:
    """``ImageReadError`` naming both SeriesInstanceUIDs when the mask references another series."""
    if referenced and series.series_uid not in referenced:
        raise MaskMismatchError(
            f"the {_KIND_NAMES[kind]} references series {', '.join(sorted(set(referenced)))}, but the image "
            f"is series {series.series_uid}: give the mask drawn on this image, or the image series it "
            "references"
        )


def _compose(arrays: dict[str, np.ndarray], labels: dict[str, int], series: _SeriesGeometry) -> sitk.Image:
    """One label image on the series' grid from each region's boolean (z, y, x) array."""
    out = np.zeros(series.shape_zyx, np.uint16 if max(labels.values(), default=0) > 255 else np.uint8)
    owner: dict[str, np.ndarray] = {}
    for name, arr in arrays.items():
        for other, seen in owner.items():
            n = int((seen & arr).sum())
            if n:
                raise MaskMismatchError(
                    f"regions {other!r} and {name!r} overlap on {n} voxels; a voxel belongs to one region "
                    "of a label image: correct the contours, or give the regions in separate scan rows"
                )
        owner[name] = arr
        out[arr] = labels[name]
    image = sitk.GetImageFromArray(out)
    image.SetSpacing(series.info.spacing)
    image.SetOrigin(series.info.origin)
    image.SetDirection(series.info.direction)
    return image


# --- RTSTRUCT ----------------------------------------------------------------------------------------
def _read_dicom(path: Path, kind: str) -> Any:
    import pydicom

    try:
        return pydicom.dcmread(path)
    except Exception as exc:  # pydicom raises many types on a damaged file
        raise ImageReadError(f"cannot read the {_KIND_NAMES[kind]}: {exc}") from exc


def _rtstruct_contours(ds: Any) -> dict[str, list[Any]]:
    """Each structure's name and its contour items (``ContourSequence``), in the file's order."""
    names = {int(r.ROINumber): str(r.ROIName).strip() for r in ds.get("StructureSetROISequence", [])}
    contours: dict[str, list[Any]] = {name: [] for name in names.values()}
    for item in ds.get("ROIContourSequence", []):
        name = names.get(int(item.ReferencedROINumber))
        if name is not None:
            contours[name].extend(item.get("ContourSequence", []))
    return contours


def _rtstruct_referenced_series(ds: Any) -> list[str]:
    return [
        str(series.SeriesInstanceUID)
        for frame in ds.get("ReferencedFrameOfReferenceSequence", [])
        for study in frame.get("RTReferencedStudySequence", [])
        for series in study.get("RTReferencedSeriesSequence", [])
        if "SeriesInstanceUID" in series
    ]


def defined_regions(mask_path: str | os.PathLike[str]) -> list[DefinedRegion]:
    """The structures of an RTSTRUCT or the segments of a DICOM-SEG, from its header; [] for a label
    image (its labels are its voxels' values)."""
    found = _dicom_mask_file(Path(mask_path))
    if found is None:
        return []
    path, kind = found
    ds = _read_dicom(path, kind)
    if kind == "rtstruct":
        return [DefinedRegion(name, name, bool(items)) for name, items in _rtstruct_contours(ds).items()]
    framed: set[int] = set()
    for frame in ds.get("PerFrameFunctionalGroupsSequence", []):
        for ident in frame.get("SegmentIdentificationSequence", []):
            framed.add(int(ident.ReferencedSegmentNumber))
    labelmap = str(ds.get("SegmentationType", "")).upper() == "LABELMAP"
    return [
        DefinedRegion(
            int(s.SegmentNumber), str(s.get("SegmentLabel", "")), labelmap or int(s.SegmentNumber) in framed
        )
        for s in ds.get("SegmentSequence", [])
    ]


def _rtstruct_regions(
    path: Path, series: _SeriesGeometry, regions: tuple[Region, ...]
) -> dict[str, np.ndarray]:
    ds = _read_dicom(path, "rtstruct")
    _check_series("rtstruct", _rtstruct_referenced_series(ds), series)
    contours = _rtstruct_contours(ds)
    if not contours:
        raise ImageReadError("the RTSTRUCT defines no structure")
    listed = ", ".join(repr(n) for n in contours)
    if regions == DEFAULT_REGIONS and str(DEFAULT_REGIONS[0].key) not in contours:
        if len(contours) > 1:
            raise MaskMismatchError(
                f"the RTSTRUCT has {len(contours)} structures ({listed}): name the one(s) to read in the "
                f'label column of imaging.csv, e.g. label = "{next(iter(contours))}" (one structure) or '
                f'"{SEPARATOR.join(contours)}" (each a region; name them "ileum=Ileum;colon=Colon")'
            )
        keys = {DEFAULT_REGIONS[0].name: next(iter(contours))}
    else:
        keys = {r.name: str(r.key) for r in regions}
        numbers = [r.key for r in regions if r.is_label and str(r.key) not in contours]
        if numbers:
            raise MaskMismatchError(
                f"label(s) {numbers} select labels or segments, but this mask is an RTSTRUCT: give "
                f"structure names in the label column (its structures: {listed})"
            )
    return {name: _rasterise(contours.get(key, []), series) for name, key in keys.items()}


def _rasterise(items: list[Any], series: _SeriesGeometry) -> np.ndarray:
    """Fill a structure's closed planar contours on the series' grid: a boolean (z, y, x) array."""
    import cv2  # imported here: opencv needs libGL, and only RTSTRUCT masks use it

    nz, ny, nx = series.shape_zyx
    out = np.zeros((nz, ny, nx), bool)
    by_slice: dict[int, list[np.ndarray]] = {}
    for item in items:
        if str(item.get("ContourGeometricType", "CLOSED_PLANAR")).upper() != "CLOSED_PLANAR":
            continue  # points and open lines enclose no voxel
        pts = np.asarray(item.ContourData, float).reshape(-1, 3)
        idx = series.continuous_index(pts)
        z = np.round(idx[:, 2])
        if np.ptp(idx[:, 2]) > 0.5 or abs(float(idx[0, 2] - z[0])) > 0.5 or not 0 <= z[0] < nz:
            raise ImageReadError(
                "an RTSTRUCT contour does not lie on a slice of the image series (it is oblique to the "
                "slices or outside the volume): give the series the structures were drawn on"
            )
        by_slice.setdefault(int(z[0]), []).append(np.round(idx[:, :2]).astype(np.int32))
    for z, polygons in by_slice.items():
        plane = np.zeros((ny, nx), np.uint8)
        cv2.fillPoly(plane, polygons, 1)
        out[z] = plane.astype(bool)
    return out


# --- DICOM-SEG ---------------------------------------------------------------------------------------
def _seg_regions(path: Path, series: _SeriesGeometry, regions: tuple[Region, ...]) -> dict[str, np.ndarray]:
    import highdicom  # imported here: it is slow to import and only DICOM-SEG masks need it

    try:
        seg = highdicom.seg.segread(path)
    except Exception as exc:  # highdicom and pydicom raise many types on a bad file
        raise ImageReadError(f"cannot read the DICOM-SEG: {exc}") from exc
    referenced = [str(s.SeriesInstanceUID) for s in seg.get("ReferencedSeriesSequence", [])]
    _check_series("seg", referenced, series)
    defined = {int(n): str(seg.get_segment_description(n).segment_label) for n in seg.segment_numbers}
    names = [r.key for r in regions if not r.is_label]
    if names:
        listed = ", ".join(f"{n} ({label!r})" for n, label in defined.items())
        raise MaskMismatchError(
            f"structure names {names} select RTSTRUCT structures, but this mask is a DICOM-SEG: give "
            f"segment numbers in the label column (its segments: {listed})"
        )
    wanted = [int(r.key) for r in regions if int(r.key) in defined]
    out = {r.name: np.zeros(series.shape_zyx, bool) for r in regions}
    if not wanted:
        return out
    try:
        pixels = seg.get_pixels_by_source_instance(
            list(series.sop_uids), segment_numbers=wanted, skip_overlap_checks=True
        )
    except Exception as exc:  # highdicom raises ValueError/RuntimeError/KeyError on unmatched frames
        raise ImageReadError(f"cannot map the DICOM-SEG onto the image's slices: {exc}") from exc
    if pixels.shape[:3] != series.shape_zyx:
        raise ImageReadError(
            f"the DICOM-SEG's frames ({pixels.shape[1]} x {pixels.shape[2]}) do not match the image's "
            f"slices ({series.shape_zyx[1]} x {series.shape_zyx[2]})"
        )
    threshold = 0.5 if str(seg.get("SegmentationType", "")).upper() == "FRACTIONAL" else 0
    by_number = {n: pixels[..., i] for i, n in enumerate(wanted)}
    for r in regions:
        if int(r.key) in by_number:
            arr = by_number[int(r.key)]
            out[r.name] = arr >= threshold if threshold else arr > 0
    return out


def _info(
    source: sitk.Image | sitk.ImageFileReader, pixel_type: str, n_components: int, fmt: str
) -> ImageInfo:
    """The geometry of an image or of a reader that has read a header (both have the same getters)."""
    return ImageInfo(
        size=tuple(int(s) for s in source.GetSize()),
        spacing=tuple(float(s) for s in source.GetSpacing()),
        origin=tuple(float(s) for s in source.GetOrigin()),
        direction=tuple(float(s) for s in source.GetDirection()),
        pixel_type=pixel_type,
        n_components=int(n_components),
        format=fmt,
    )


def _info_from_reader(reader: sitk.ImageFileReader, fmt: str) -> ImageInfo:
    return _info(
        reader, sitk.GetPixelIDValueAsString(reader.GetPixelID()), reader.GetNumberOfComponents(), fmt
    )


def info_from_image(image: sitk.Image, fmt: str = "memory") -> ImageInfo:
    """The ``ImageInfo`` of an image already in memory."""
    return _info(image, image.GetPixelIDTypeAsString(), image.GetNumberOfComponentsPerPixel(), fmt)


def read_image_info(path: str | os.PathLike[str]) -> ImageInfo:
    """Geometry from the header only (no voxel data), for files and DICOM series folders.

    For a DICOM series the slice headers are read one by one; the volume's origin and in-plane
    geometry come from the first slice (in series order) and the slice spacing is the distance
    between the first and the last slice divided by the number of gaps, as ITK's series reader does.
    """
    fmt = image_format(path)
    reader = sitk.ImageFileReader()
    try:
        if fmt != "dicom":
            reader.SetFileName(str(path))
            reader.ReadImageInformation()
            return _info_from_reader(reader, fmt)
        files = dicom_series_files(path)
        reader.SetFileName(files[0])
        reader.ReadImageInformation()
        first = _info_from_reader(reader, fmt)
        if len(files) == 1:
            return first
        reader.SetFileName(files[-1])
        reader.ReadImageInformation()
        last_origin = tuple(float(s) for s in reader.GetOrigin())
    except RuntimeError as exc:
        raise ImageReadError(f"cannot read image header: {_short(exc)}") from exc
    n = len(files)
    dz = math.dist(first.origin, last_origin) / (n - 1)
    if dz <= 0:
        raise ImageReadError("DICOM slices share one position: cannot stack the series")
    return ImageInfo(
        size=(first.size[0], first.size[1], n),
        spacing=(first.spacing[0], first.spacing[1], dz),
        origin=first.origin,
        direction=first.direction,
        pixel_type=first.pixel_type,
        n_components=first.n_components,
        format=fmt,
    )


# --- cheap integrity check --------------------------------------------------------------------------
@dataclass(frozen=True)
class _NiftiHeader:
    endian: str  # "<" or ">"
    shape: tuple[int, ...]  # sizes along x, y, z, ... (dim[1..ndim], each at least 1)
    datatype: int
    bitpix: int
    vox_offset: int

    @property
    def n_voxels(self) -> int:
        return math.prod(self.shape)

    @property
    def expected_bytes(self) -> int:
        """Total uncompressed size (header + voxels) the header declares."""
        return self.vox_offset + self.n_voxels * self.bitpix // 8


def _parse_nifti_header(header: bytes) -> _NiftiHeader | None:
    """The fields of a NIfTI-1/2 header that locate and type the voxels, or None if not NIfTI."""
    if len(header) < 4:
        return None
    for endian in "<>":
        (sizeof_hdr,) = struct.unpack(endian + "i", header[:4])
        if sizeof_hdr == 348 and len(header) >= 348:
            dims = struct.unpack(endian + "8h", header[40:56])
            datatype, bitpix = struct.unpack(endian + "2h", header[70:74])
            (vox_offset,) = struct.unpack(endian + "f", header[108:112])
            break
        if sizeof_hdr == 540 and len(header) >= 540:
            datatype, bitpix = struct.unpack(endian + "2h", header[12:16])
            dims = struct.unpack(endian + "8q", header[16:80])
            (vox_offset,) = struct.unpack(endian + "q", header[168:176])
            break
    else:
        return None
    ndim = int(dims[0])
    if not 1 <= ndim <= 7 or bitpix <= 0:
        return None
    shape = tuple(max(int(d), 1) for d in dims[1 : ndim + 1])
    return _NiftiHeader(endian, shape, int(datatype), int(bitpix), int(vox_offset))


def _nifti_expected_bytes(header: bytes) -> int | None:
    """Total uncompressed size (header + voxels) a NIfTI-1/2 header declares, or None if not NIfTI."""
    parsed = _parse_nifti_header(header)
    return None if parsed is None else parsed.expected_bytes


def _gunzip_length(path: Path) -> int:
    """Decompress a gzip file in chunks (checking CRCs) and return its uncompressed length."""
    total = 0
    with gzip.open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            total += len(chunk)
    return total


def check_integrity(path: str | os.PathLike[str], full: bool = False) -> None:
    """Raise ``ImageReadError`` when the voxel data of an image is incomplete or corrupt.

    NIfTI files get a cheap test: the size the header declares is compared with the file size
    (``.nii``) or with the gzip trailer (``.nii.gz``, which records the uncompressed length; a
    truncated file ends in compressed bytes instead). Only when the trailer disagrees is the stream
    decompressed, to tell a multi-member gzip from a truncated one. ITK itself reads a truncated
    NIfTI without complaint, so ``read_image`` runs this test too. Other formats, and every
    format when ``full`` is true, are also read completely.
    """
    p = Path(path)
    if image_format(p) == "nifti" and not full:
        _check_nifti(p)
    else:
        read_image(p)


def _open_nifti(p: Path) -> Any:
    """The file's uncompressed byte stream (``.nii.gz`` through gzip)."""
    return gzip.open(p, "rb") if p.name.lower().endswith(".gz") else open(p, "rb")


def _check_nifti(p: Path) -> None:
    gz = p.name.lower().endswith(".gz")
    try:
        with _open_nifti(p) as fh:
            header = fh.read(540)
        expected = _nifti_expected_bytes(header)
        if expected is None:
            raise ImageReadError("not a NIfTI-1/2 header")
        if not gz:
            actual = p.stat().st_size
            if actual < expected:
                raise ImageReadError(
                    f"truncated: the header declares {expected} bytes, the file has {actual}"
                )
            return
        with open(p, "rb") as fh:
            fh.seek(-4, os.SEEK_END)
            (isize,) = struct.unpack("<I", fh.read(4))
        if isize == expected % (1 << 32):
            return
        actual = _gunzip_length(p)
    except (OSError, EOFError, zlib.error, struct.error) as exc:
        raise ImageReadError(f"corrupt or truncated compressed data: {exc}") from exc
    if actual < expected:
        raise ImageReadError(f"truncated: the header declares {expected} bytes, the data has {actual}")


# --- NaN and infinite voxels -------------------------------------------------------------------------
def non_finite_voxels(
    path: str | os.PathLike[str],
    image: sitk.Image | None = None,
    z_range: tuple[int, int] | None = None,
) -> np.ndarray | None:
    """Where a 3-D scalar image stores NaN or infinite voxels: a boolean array in ``(z, y, x)`` order
    (``sitk.GetArrayViewFromImage``'s), restricted to the slices ``z_range`` (first, last) when given;
    None when its voxels are integers, which cannot hold them.

    NIfTI voxels are read from the file's own bytes (only the slices asked for): ITK's NIfTI reader
    replaces NaN and infinite values by 0 without a word, so they are invisible in the image it returns.
    Other formats keep them: ``image`` (that file, already read) is used, or the file is read.
    """
    if image_format(path) == "nifti":
        return _nifti_non_finite(Path(path), z_range)
    return non_finite_in(image if image is not None else read_image(path), z_range)


def non_finite_in(image: sitk.Image, z_range: tuple[int, int] | None = None) -> np.ndarray | None:
    """NaN or infinite voxels of an image in memory (see ``non_finite_voxels``)."""
    if image.GetPixelID() not in FLOAT_PIXEL_IDS:
        return None
    arr = sitk.GetArrayViewFromImage(image)
    if z_range is not None and arr.ndim == 3:
        arr = arr[z_range[0] : z_range[1] + 1]
    return ~np.isfinite(arr)


def _nifti_non_finite(p: Path, z_range: tuple[int, int] | None) -> np.ndarray | None:
    try:
        with _open_nifti(p) as fh:
            header = _parse_nifti_header(fh.read(540))
            if header is None:
                raise ImageReadError("not a NIfTI-1/2 header")
            code = NIFTI_FLOAT_DTYPES.get(header.datatype)
            if code is None:
                return None
            nx, ny, nz = (*header.shape, 1, 1)[:3]
            z0, z1 = z_range if z_range is not None else (0, header.n_voxels // (nx * ny) - 1)
            plane = nx * ny * header.bitpix // 8
            fh.seek(header.vox_offset + z0 * plane)
            n_planes = z1 - z0 + 1
            data = fh.read(n_planes * plane)
    except (OSError, EOFError, zlib.error) as exc:
        raise ImageReadError(f"corrupt or truncated compressed data: {exc}") from exc
    if len(data) < n_planes * plane:
        raise ImageReadError(
            f"truncated: slices {z0}-{z1} need {n_planes * plane} bytes, the data has {len(data)}"
        )
    arr = np.frombuffer(data, dtype=header.endian + code).reshape(n_planes, ny, nx)
    return ~np.isfinite(arr)


# --- geometry comparison ----------------------------------------------------------------------------
def geometry_differences(image: ImageInfo, mask: ImageInfo, rtol: float = 1e-4) -> list[str]:
    """Human-readable differences between the geometry of an image and its mask (empty if they match).

    Sizes must be equal; spacing is compared with relative tolerance ``rtol``; origins with an
    absolute tolerance of ``rtol`` times the largest spacing (a tiny fraction of a voxel); direction
    cosines with absolute tolerance ``rtol``.
    """
    out: list[str] = []
    if image.size != mask.size:
        out.append(f"size {list(mask.size)} differs from the image's {list(image.size)}")
        if len(image.size) != len(mask.size):
            return out

    def close(a: tuple[float, ...], b: tuple[float, ...], atol: float, rel: float) -> bool:
        return all(abs(x - y) <= atol + rel * max(abs(x), abs(y)) for x, y in zip(a, b, strict=True))

    if not close(image.spacing, mask.spacing, 0.0, rtol):
        out.append(f"spacing {_fmt(mask.spacing)} differs from the image's {_fmt(image.spacing)}")
    scale = max((abs(s) for s in image.spacing), default=1.0) or 1.0
    if not close(image.origin, mask.origin, rtol * scale, rtol):
        out.append(f"origin {_fmt(mask.origin)} differs from the image's {_fmt(image.origin)}")
    if not close(image.direction, mask.direction, rtol, 0.0):
        out.append(f"direction {_fmt(mask.direction)} differs from the image's {_fmt(image.direction)}")
    return out


def _fmt(v: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{x:.6g}" for x in v) + ")"
