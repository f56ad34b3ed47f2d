"""What validation learns from opening the image and mask files, each file opened once per pass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from benchmarks.cohort import imageio

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
    """A mask's geometry or read error, what is wrong with its voxels (``content``: an error), its
    labels (the first ``SHOWN_LABELS`` distinct values > 0, ``n_labels`` in all, whether 1 is one) and
    whether it labels every voxel of the image."""

    info: imageio.ImageInfo | None
    error: str | None
    content: str | None = None
    labels: tuple[float, ...] = ()
    n_labels: int = 0
    has_label_one: bool = False
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
        self._masks: dict[Path, MaskCheck] = {}
        self._non_finite: dict[tuple[Path, Path], NonFiniteCheck] = {}

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

    def mask(self, path: Path) -> MaskCheck:
        """Geometry, read error, content problem and labels of a mask; its voxels are read (masks are
        small)."""
        if path not in self._masks:
            self._masks[path] = _check_mask(path)
        return self._masks[path]

    def non_finite(self, image: Path, mask: Path) -> NonFiniteCheck:
        """NaN or infinite voxels of a floating-point image whose mask shares its geometry.

        ``header`` mode reads only the slices of the image the mask covers and counts the voxels
        inside the mask; ``full`` mode reads the whole image. NIfTI voxels come from the file's bytes
        (``imageio.non_finite_voxels``): ITK's reader would show them as 0.
        """
        key = (image, mask)
        if key not in self._non_finite:
            try:
                self._non_finite[key] = self._count_non_finite(image, mask)
            except imageio.ImageReadError as exc:
                self._non_finite[key] = NonFiniteCheck(error=str(exc))
        return self._non_finite[key]

    def _count_non_finite(self, image: Path, mask: Path) -> NonFiniteCheck:
        mask_image = imageio.read_image(mask)  # held: the array view does not keep the image alive
        roi = sitk.GetArrayViewFromImage(mask_image) > 0
        del mask_image
        if self.mode == "full":
            bad = imageio.non_finite_voxels(image)
            return NonFiniteCheck() if bad is None else NonFiniteCheck(int((bad & roi).sum()), int(bad.sum()))
        slices = np.flatnonzero(roi.any(axis=(1, 2)))
        first, last = int(slices[0]), int(slices[-1])
        bad = imageio.non_finite_voxels(image, z_range=(first, last))
        return NonFiniteCheck() if bad is None else NonFiniteCheck(int((bad & roi[first : last + 1]).sum()))


def _check_mask(path: Path) -> MaskCheck:
    try:
        img = imageio.read_image(path)
    except imageio.ImageReadError as exc:
        return MaskCheck(None, str(exc))
    info = imageio.info_from_image(img, imageio.image_format(path))
    arr = sitk.GetArrayViewFromImage(img)
    if info.n_components != 1:
        return MaskCheck(
            info, None, f"mask has {info.n_components} components per voxel; expected a label image"
        )
    labelled = arr > 0
    if not labelled.any():
        return MaskCheck(info, None, "mask is empty (no voxel > 0)")
    labels = np.unique(arr[labelled])
    shown = tuple(int(v) if float(v).is_integer() else float(v) for v in labels[:SHOWN_LABELS])
    return MaskCheck(
        info,
        None,
        labels=shown,
        n_labels=len(labels),
        has_label_one=bool(np.isin(1, labels)),
        covers_image=bool(labelled.all()),
    )
