"""RTSTRUCT and DICOM-SEG masks (``imageio.read_mask``): rasterised onto the image's own grid, on the right
voxels, with the errors a user needs (another series, several structures, a non-DICOM image, overlaps)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from benchmarks.cohort import imageio
from benchmarks.cohort.imageio import ImageReadError, read_mask
from benchmarks.cohort.regions import parse_regions

# rt-utils 1.2.7 saves its RTSTRUCT with attributes pydicom 3 deprecates
pytestmark = pytest.mark.filterwarnings("ignore:.FileDataset.is_:DeprecationWarning")


@pytest.fixture(scope="module")
def scan(tmp_path_factory, dicom_scan):
    """An axial series of 8 slices of 32 x 40 voxels, with an RTSTRUCT and a SEG of two regions."""
    root = tmp_path_factory.mktemp("dicom_masks")
    s = dicom_scan(root / "series")
    s.rtstruct(root / "rt.dcm", {"Tumour": s.tumour, "Other": s.other})
    s.seg(root / "seg.dcm", {1: s.tumour, 2: s.other})
    return s


def _geometry(image: sitk.Image) -> tuple:
    return image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection()


def _assert_lands(mask: imageio.LabelMask, image: sitk.Image, expected: dict[str, np.ndarray]) -> None:
    assert _geometry(mask.image) == _geometry(image)  # exactly the image's grid
    assert mask.image.GetPixelID() in (sitk.sitkUInt8, sitk.sitkUInt16)
    arr = sitk.GetArrayFromImage(mask.image)
    for name, known in expected.items():
        got = arr == mask.labels[name]
        assert got.sum() == known.sum() > 0 and np.array_equal(got, known), name
    assert not (arr > 0)[~np.logical_or.reduce(list(expected.values()))].any()


@pytest.mark.parametrize("kind", ["rtstruct", "seg"])
def test_dicom_mask_lands_on_the_known_voxels(scan, kind: str) -> None:
    path = scan.folder.parent / ("rt.dcm" if kind == "rtstruct" else "seg.dcm")
    cell = "tumour=Tumour;other=Other" if kind == "rtstruct" else "tumour=1;other=2"
    assert imageio.mask_kind(path) == kind
    mask = read_mask(path, scan.folder, parse_regions(cell))
    assert mask.kind == kind and set(mask.labels) == {"tumour", "other"}
    _assert_lands(mask, scan.image, {"tumour": scan.tumour, "other": scan.other})


def test_coronal_series_with_odd_spacing(tmp_path: Path, dicom_scan) -> None:
    """A direction that is not the identity and a slice spacing ITK rounds: the mask still lands."""
    s = dicom_scan(tmp_path / "series", coronal=True, spacing=(0.7, 0.7, 1.3), seed=3)
    assert s.image.GetDirection() != (1, 0, 0, 0, 1, 0, 0, 0, 1)
    rt = s.rtstruct(tmp_path / "rt.dcm", {"Tumour": s.tumour})
    _assert_lands(read_mask(rt, s.folder, parse_regions("Tumour")), s.image, {"Tumour": s.tumour})
    seg = s.seg(tmp_path / "seg.dcm", {1: s.tumour})
    _assert_lands(read_mask(seg, s.folder), s.image, {"1": s.tumour})  # empty cell: segment 1


def test_same_voxels_as_rt_utils_on_square_slices(tmp_path: Path, dicom_scan) -> None:
    """On square slices with square pixels (where rt-utils 1.2.7 is right) our rasteriser follows its
    convention voxel for voxel, holes and several contours per slice included."""
    from rt_utils import RTStructBuilder

    s = dicom_scan(tmp_path / "series", crop_zyx=(slice(8, 16), slice(70, 110), slice(150, 190)))
    ring = s.other.copy()
    ring[1:3, 4:7, 28:34] = False  # a hole: the contour has a child contour
    rt = s.rtstruct(tmp_path / "rt.dcm", {"Tumour": s.tumour, "Ring": ring})
    ref = RTStructBuilder.create_from(dicom_series_path=str(s.folder), rt_struct_path=str(rt))
    mask = sitk.GetArrayFromImage(read_mask(rt, s.folder, parse_regions("Tumour;Ring")).image)
    z_of = {ds.SOPInstanceUID: z for z, ds in enumerate(s.datasets)}
    order = [z_of[ds.SOPInstanceUID] for ds in ref.series_data]
    for value, name in ((1, "Tumour"), (2, "Ring")):
        theirs = np.zeros_like(s.tumour)
        theirs[order] = np.transpose(ref.get_roi_mask_by_name(name), (2, 0, 1))
        assert np.array_equal(mask == value, theirs), name


def test_rtstruct_with_non_square_pixels(tmp_path: Path, dicom_scan) -> None:
    """Contours written in physical coordinates on 0.6 x 0.9 mm pixels (rt-utils 1.2.7 swaps the two
    spacings when it converts contours, so the coordinates are written here from ITK's geometry)."""
    s = dicom_scan(tmp_path / "series", spacing=(0.6, 0.9, 4.0))
    box = np.zeros_like(s.tumour)
    box[2:5, 5:9, 10:31] = True  # rows 5-8, columns 10-30: a wide box, wrong if the axes were swapped
    rt = s.rtstruct(tmp_path / "rt.dcm", {"Box": box})
    ds = pydicom.dcmread(rt)
    contours = ds.ROIContourSequence[0].ContourSequence
    assert len(contours) == 3
    for item in contours:
        z = int(round(s.image.TransformPhysicalPointToContinuousIndex(item.ContourData[:3])[2]))
        corners = [(10, 5, z), (30, 5, z), (30, 8, z), (10, 8, z)]
        item.ContourData = [float(c) for p in corners for c in s.image.TransformIndexToPhysicalPoint(p)]
        item.NumberOfContourPoints = 4
    ds.save_as(rt)
    _assert_lands(read_mask(rt, s.folder, parse_regions("Box")), s.image, {"Box": box})


def test_folder_holding_only_the_mask_file_is_accepted(scan, tmp_path: Path) -> None:
    folder = tmp_path / "RTSTRUCT_export"
    folder.mkdir()
    shutil.copy(scan.folder.parent / "rt.dcm", folder / "1.2.840.99.1")  # PACS-style name, no suffix
    assert imageio.mask_kind(folder) == "rtstruct"
    _assert_lands(
        read_mask(folder, scan.folder, parse_regions("Tumour")), scan.image, {"Tumour": scan.tumour}
    )


def test_mask_of_another_series_names_both_series(scan, tmp_path: Path, dicom_scan) -> None:
    other = dicom_scan(tmp_path / "other", patient="P1", seed=5)  # same voxels, another acquisition
    rt = other.rtstruct(tmp_path / "rt.dcm", {"Tumour": other.tumour})
    seg = other.seg(tmp_path / "seg.dcm", {1: other.tumour})
    for path, name in ((rt, "RTSTRUCT"), (seg, "DICOM-SEG")):
        with pytest.raises(ImageReadError) as err:
            read_mask(path, scan.folder, parse_regions("Tumour" if path == rt else ""))
        msg = str(err.value)
        assert f"the {name} references series {other.series_uid}" in msg
        assert f"the image is series {scan.series_uid}" in msg


def test_default_region_of_an_rtstruct(scan, tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match=r"2 structures \('Tumour', 'Other'\).*label column"):
        read_mask(scan.folder.parent / "rt.dcm", scan.folder)
    single = scan.rtstruct(tmp_path / "single.dcm", {"Bowel wall": scan.tumour})
    mask = read_mask(single, scan.folder)
    assert mask.labels == {"1": 1}
    _assert_lands(mask, scan.image, {"1": scan.tumour})


def test_absent_structure_or_segment_is_an_empty_region(scan) -> None:
    mask = read_mask(scan.folder.parent / "rt.dcm", scan.folder, parse_regions("a=Tumour;b=Colon"))
    arr = sitk.GetArrayViewFromImage(mask.image)
    assert mask.labels == {"a": 1, "b": 2} and (arr == 1).sum() == scan.tumour.sum() and not (arr == 2).any()
    mask = read_mask(scan.folder.parent / "seg.dcm", scan.folder, parse_regions("2;5"))
    arr = sitk.GetArrayViewFromImage(mask.image)
    assert mask.labels == {"2": 2, "5": 5} and (arr == 2).sum() == scan.other.sum() and not (arr == 5).any()


def test_keys_of_the_wrong_kind_and_overlaps(scan, tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="this mask is an RTSTRUCT.*'Tumour', 'Other'"):
        read_mask(scan.folder.parent / "rt.dcm", scan.folder, parse_regions("1;2"))
    with pytest.raises(ImageReadError, match=r"this mask is a DICOM-SEG.*1 \('segment 1'\)"):
        read_mask(scan.folder.parent / "seg.dcm", scan.folder, parse_regions("Tumour"))
    both = scan.rtstruct(tmp_path / "overlap.dcm", {"A": scan.tumour, "B": scan.tumour | scan.other})
    with pytest.raises(ImageReadError, match=f"'a' and 'b' overlap on {scan.tumour.sum()} voxels"):
        read_mask(both, scan.folder, parse_regions("a=A;b=B"))


def test_dicom_mask_needs_a_dicom_series_image(scan, tmp_path: Path) -> None:
    nrrd = tmp_path / "image.nrrd"
    sitk.WriteImage(scan.image, str(nrrd))
    with pytest.raises(ImageReadError, match="RTSTRUCT mask is rasterised onto the DICOM series"):
        read_mask(scan.folder.parent / "rt.dcm", nrrd, parse_regions("Tumour"))
    slice_file = sorted(scan.folder.iterdir())[0]
    with pytest.raises(ImageReadError, match="DICOM file of modality MR is not a mask"):
        read_mask(slice_file, scan.folder)


def test_defined_regions_from_the_header(scan, tmp_path: Path) -> None:
    rt = {d.key: d.has_data for d in imageio.defined_regions(scan.folder.parent / "rt.dcm")}
    assert rt == {"Tumour": True, "Other": True}
    seg = imageio.defined_regions(scan.folder.parent / "seg.dcm")
    assert [(d.key, d.label, d.has_data) for d in seg] == [(1, "segment 1", True), (2, "segment 2", True)]
    assert imageio.defined_regions(tmp_path / "label.nrrd") == []
