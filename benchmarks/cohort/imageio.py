"""Reading medical images: NIfTI, NRRD, MetaImage (MHA/MHD) files and DICOM series folders.

Validation needs three things at very different costs, so they are separate functions:

- ``read_image_info``: the geometry from the header only (size, spacing, origin, direction, pixel type);
- ``check_integrity``: a cheap test that the voxel data is complete (NIfTI: compare the declared data
  size with the file, or with the gzip trailer for ``.nii.gz``), falling back to a full read for the
  formats where no cheap test exists;
- ``read_image``: the whole image with its voxels;
- ``non_finite_voxels``: where an image stores NaN or infinite voxels (for NIfTI from the file's own
  bytes, because ITK's NIfTI reader silently turns them into 0).
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

from benchmarks.cohort.regions import DEFAULT_REGIONS, Region

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


def read_mask(
    mask_path: str | os.PathLike[str],
    image_path: str | os.PathLike[str],
    regions: tuple[Region, ...] = DEFAULT_REGIONS,
) -> LabelMask:
    """The mask of ``image_path`` as a label image, with the label value of each of ``regions``.

    A label image (NIfTI, NRRD, MHA, DICOM series) is read as it is; its regions' keys are its labels.
    """
    if any(not r.is_label for r in regions):
        names = [r.key for r in regions if not r.is_label]
        raise ImageReadError(
            f"structure names {names} select RTSTRUCT structures, but this mask is a label image: "
            "give label numbers in the label column"
        )
    return LabelMask(read_image(mask_path), {r.name: int(r.key) for r in regions}, "label")


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
