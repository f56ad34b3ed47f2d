"""What validation learns from opening the image and mask files, each file opened once per pass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from benchmarks.cohort import imageio
from benchmarks.cohort.regions import DEFAULT_REGIONS, Region

CHECK_IMAGES = ("none", "header", "full")
"""Image checks: ``none`` (paths only, no file opened), ``header`` (geometry from headers, a cheap
truncation test, mask voxels for emptiness and labels, NaN or infinite voxels inside the mask of a
floating-point image; the default) or ``full`` (``validate --deep``: also every voxel of every image,
so a NaN or infinite voxel anywhere in an image is found)."""

SHOWN_LABELS = 5
"""Most mask labels named in a message."""


@dataclass(frozen=True)
class ImageCheck:
    """An image's geometry, or why it cannot be read."""

    info: imageio.ImageInfo | None
    error: str | None


@dataclass(frozen=True)
class MaskCheck:
    """What validation learns from a mask read as extraction reads it (``imageio.read_mask``): its
    geometry (on the image's grid for an RTSTRUCT or DICOM-SEG) or read error, what is wrong with its
    voxels (``content``: an error), its ``kind``, the labels present (label values, or the structure
    names / segment numbers that have contours or frames: the first ``SHOWN_LABELS``, ``n_labels`` in
    all), the configured regions with no voxel (``absent``), the labels present that no region selects
    (``unused``: the first ``SHOWN_LABELS``, ``n_unused`` in all) and whether it labels every voxel."""

    info: imageio.ImageInfo | None
    error: str | None
    content: str | None = None
    kind: str = "label"
    labels: tuple[int | float | str, ...] = ()
    n_labels: int = 0
    absent: tuple[Region, ...] = ()
    unused: tuple[int | float | str, ...] = ()
    n_unused: int = 0
    covers_image: bool = False


@dataclass(frozen=True)
class NonFiniteCheck:
    """NaN or infinite voxels of an image: ``inside`` its mask (voxels > 0) and in the ``whole`` image
    (None when only the mask's slices were read), or why the voxels could not be read."""

    inside: int = 0
    whole: int | None = None
    error: str | None = None


class ImageChecker:
    """Checks image and mask files at one level of ``CHECK_IMAGES``, remembering each file's result."""

    def __init__(self, mode: str):
        if mode not in CHECK_IMAGES:
            raise ValueError(f"check_images must be one of {CHECK_IMAGES}, got {mode!r}")
        self.mode = mode
        self._images: dict[Path, ImageCheck] = {}
        self._masks: dict[tuple[Path, Path, tuple[Region, ...]], MaskCheck] = {}
        self._non_finite: dict[tuple[Path, Path, tuple[Region, ...]], NonFiniteCheck] = {}

    def image(self, path: Path) -> ImageCheck:
        """Geometry or read error of an image.

        In ``header`` mode a NIfTI file is checked from its header plus the cheap truncation test;
        other formats have no such test, so they are read whole (once) and the geometry is taken from
        the image read, which also gives DICOM series exactly the geometry the extractors will see.
        """
        if path not in self._images:
            try:
                self._images[path] = ImageCheck(self._image_info(path), None)
            except imageio.ImageReadError as exc:
                self._images[path] = ImageCheck(None, str(exc))
        return self._images[path]

    def _image_info(self, path: Path) -> imageio.ImageInfo:
        if self.mode == "header" and imageio.image_format(path) == "nifti":
            info = imageio.read_image_info(path)
            imageio.check_integrity(path)
            return info
        return imageio.info_from_image(imageio.read_image(path), imageio.image_format(path))

    def mask(self, path: Path, image: Path, regions: tuple[Region, ...] = DEFAULT_REGIONS) -> MaskCheck:
        """Geometry, read error, content problem and labels of the mask of ``image`` read for
        ``regions``; its voxels are read (masks are small; an RTSTRUCT is rasterised)."""
        key = (path, image, regions)
        if key not in self._masks:
            self._masks[key] = _check_mask(path, image, regions)
        return self._masks[key]

    def non_finite(
        self, image: Path, mask: Path, regions: tuple[Region, ...] = DEFAULT_REGIONS
    ) -> NonFiniteCheck:
        """NaN or infinite voxels of a floating-point image whose mask shares its geometry.

        ``header`` mode reads only the slices of the image the mask covers and counts the voxels
        inside the mask (the voxels of ``regions``; of every label when none of them has a voxel);
        ``full`` mode reads the whole image. NIfTI voxels come from the file's bytes
        (``imageio.non_finite_voxels``): ITK's reader would show them as 0.
        """
        key = (image, mask, regions)
        if key not in self._non_finite:
            try:
                self._non_finite[key] = self._count_non_finite(image, mask, regions)
            except imageio.ImageReadError as exc:
                self._non_finite[key] = NonFiniteCheck(error=str(exc))
        return self._non_finite[key]

    def _count_non_finite(self, image: Path, mask: Path, regions: tuple[Region, ...]) -> NonFiniteCheck:
        read = imageio.read_mask(mask, image, regions)
        arr = sitk.GetArrayViewFromImage(read.image)  # ``read`` holds the image the view needs
        roi = np.isin(arr, list(read.labels.values()))
        if not roi.any():
            roi = arr > 0
        if self.mode == "full":
            bad = imageio.non_finite_voxels(image)
            return NonFiniteCheck() if bad is None else NonFiniteCheck(int((bad & roi).sum()), int(bad.sum()))
        slices = np.flatnonzero(roi.any(axis=(1, 2)))
        first, last = int(slices[0]), int(slices[-1])
        bad = imageio.non_finite_voxels(image, z_range=(first, last))
        return NonFiniteCheck() if bad is None else NonFiniteCheck(int((bad & roi[first : last + 1]).sum()))


def _shown(values: list[int | float | str]) -> tuple[int | float | str, ...]:
    return tuple(
        v if isinstance(v, str) else int(v) if float(v).is_integer() else float(v)
        for v in values[:SHOWN_LABELS]
    )


def _check_mask(path: Path, image: Path, regions: tuple[Region, ...]) -> MaskCheck:
    try:
        read = imageio.read_mask(path, image, regions)
        defined = imageio.defined_regions(path) if read.kind != "label" else []
    except imageio.MaskMismatchError as exc:  # readable, but not for this image or label cell
        return MaskCheck(None, None, str(exc))
    except imageio.ImageReadError as exc:
        return MaskCheck(None, str(exc))
    fmt = imageio.image_format(path) if read.kind == "label" else read.kind
    info = imageio.info_from_image(read.image, fmt)
    arr = sitk.GetArrayViewFromImage(read.image)
    if info.n_components != 1:
        return MaskCheck(
            info, None, f"mask has {info.n_components} components per voxel; expected a label image"
        )
    labelled = arr > 0
    if read.kind == "label":
        if not labelled.any():
            return MaskCheck(info, None, "mask is empty (no voxel > 0)")
        present: list[int | float | str] = [v.item() for v in np.unique(arr[labelled])]
        selected: set[int | float | str] = set(read.labels.values())
    else:
        present = [d.key for d in defined if d.has_data]
        if not present and not labelled.any():
            what = "contour" if read.kind == "rtstruct" else "segment frame"
            return MaskCheck(info, None, f"mask is empty (the {read.kind.upper()} has no {what})", read.kind)
        names = [d.key for d in defined]
        if read.kind == "rtstruct" and regions == DEFAULT_REGIONS and str(regions[0].key) not in names:
            selected = set(names)  # read_mask took the only structure
        else:
            selected = {str(r.key) if read.kind == "rtstruct" else r.key for r in regions}
    found = set(np.unique(arr[labelled]).tolist())
    absent = tuple(r for r in regions if read.labels[r.name] not in found)
    unused = [v for v in present if v not in selected]
    return MaskCheck(
        info,
        None,
        kind=read.kind,
        labels=_shown(present),
        n_labels=len(present),
        absent=absent,
        unused=_shown(unused),
        n_unused=len(unused),
        covers_image=bool(labelled.all()),
    )
