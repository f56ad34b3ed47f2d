"""Fixtures of the cohort tests: real MR voxels written as a DICOM series, with the RTSTRUCT and DICOM-SEG
masks a planning system or a segmentation tool would export for it.

``dicom_scan(folder, ...)`` writes pyradiomics' brain MR case (``tests/data/radiomics/brain1``, cropped
to a small block of non-square slices) as a DICOM series with pydicom: one file per slice, files named
in a shuffled order, complete patient/study/series/frame-of-reference tags, axial or coronal slices. It returns a ``DicomScan``: the series folder, the image as ITK stacks it, its
tumour mask (from ``brain1_label``) and a second, disjoint region in that image's ``(z, y, x)`` order,
and writers for an RTSTRUCT (rt-utils) and a DICOM-SEG (highdicom) of given regions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from tests import DATA_DIR

BRAIN = DATA_DIR / "radiomics"
CROP_ZYX = (slice(8, 16), slice(70, 102), slice(150, 190))
"""8 slices of 32 rows x 40 columns around the tumour of ``brain1``."""


@dataclass
class DicomScan:
    folder: Path
    image: sitk.Image  # as ImageSeriesReader stacks the folder
    tumour: np.ndarray  # bool, (z, y, x) of ``image``
    other: np.ndarray  # bool, a second region disjoint from the tumour
    series_uid: str
    datasets: list[Dataset]  # the slices' headers, in ``image``'s z order

    def rtstruct(self, path: Path, regions: dict[str, np.ndarray], series_folder: Path | None = None) -> Path:
        """An RTSTRUCT of ``regions`` (name -> bool (z, y, x) array) written by rt-utils from the series."""
        from rt_utils import RTStructBuilder

        rt = RTStructBuilder.create_new(dicom_series_path=str(series_folder or self.folder))
        order = _rtutils_order(rt.series_data, self.datasets)
        for name, arr in regions.items():
            rt.add_roi(mask=np.transpose(arr[order], (1, 2, 0)), name=name)  # rt-utils: (rows, cols, slices)
        rt.save(str(path))
        return path

    def seg(self, path: Path, segments: dict[int, np.ndarray], datasets: list[Dataset] | None = None) -> Path:
        """A binary DICOM-SEG of ``segments`` (number -> bool (z, y, x) array) written by highdicom."""
        import highdicom as hd
        from pydicom.sr.codedict import codes

        numbers = sorted(segments)
        descriptions = [
            hd.seg.SegmentDescription(
                segment_number=i + 1,
                segment_label=f"segment {n}",
                segmented_property_category=codes.SCT.Tissue,
                segmented_property_type=codes.SCT.Tissue,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
            )
            for i, n in enumerate(numbers)
        ]
        assert numbers == list(range(1, len(numbers) + 1)), "highdicom numbers segments 1..n"
        pixels = np.stack([segments[n] for n in numbers], axis=-1).astype(np.uint8)
        seg = hd.seg.Segmentation(
            source_images=datasets or self.datasets,
            pixel_array=pixels,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions,
            series_instance_uid=generate_uid(),
            series_number=100,
            sop_instance_uid=generate_uid(),
            instance_number=1,
            manufacturer="cdbench tests",
            manufacturer_model_name="conftest",
            software_versions="1",
            device_serial_number="1",
        )
        seg.save_as(str(path))
        return path


def _rtutils_order(rt_series: list[Dataset], ours: list[Dataset]) -> list[int]:
    """For each slice rt-utils holds (its sorted order), the z of that slice in ITK's image."""
    z_of = {ds.SOPInstanceUID: z for z, ds in enumerate(ours)}
    return [z_of[ds.SOPInstanceUID] for ds in rt_series]


def _write_series(image: sitk.Image, folder: Path, patient: str, seed: int) -> tuple[str, list[str]]:
    folder.mkdir(parents=True, exist_ok=True)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    d = np.asarray(image.GetDirection()).reshape(3, 3)
    sx, sy, sz = image.GetSpacing()
    arr = sitk.GetArrayViewFromImage(image)
    nz = arr.shape[0]
    files = [f"IM{k:04d}" for k in np.random.default_rng(seed).permutation(nz)]  # names say nothing
    sops = []
    for z in range(nz):
        sop = generate_uid()
        sops.append(sop)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, sop
        ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex = patient, f"Test^{patient}", "", "O"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20240105", "101500", "1", "A1"
        ds.ReferringPhysicianName, ds.Manufacturer = "", "cdbench tests"
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "MR", 3, z + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImageOrientationPatient = [float(v) for v in (*d[:, 0], *d[:, 1])]
        ds.ImagePositionPatient = [float(v) for v in image.TransformIndexToPhysicalPoint((0, 0, z))]
        ds.PixelSpacing = [sy, sx]  # DICOM: row spacing (along y), column spacing (along x)
        ds.SliceThickness = sz
        ds.Rows, ds.Columns = arr.shape[1], arr.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = np.ascontiguousarray(arr[z], dtype="<i2").tobytes()
        ds.save_as(folder / files[z], enforce_file_format=True)
    return series, sops


def _dicom_scan(
    folder: Path,
    *,
    patient: str = "P1",
    spacing: tuple[float, float, float] = (0.78125, 0.78125, 6.5),
    coronal: bool = False,
    crop_zyx: tuple[slice, slice, slice] = CROP_ZYX,
    seed: int = 0,
) -> DicomScan:
    image = sitk.ReadImage(str(BRAIN / "brain1_image.nrrd"))
    label = sitk.ReadImage(str(BRAIN / "brain1_label.nrrd"))
    arr = sitk.GetArrayFromImage(image)[crop_zyx]
    tumour = sitk.GetArrayFromImage(label)[crop_zyx] > 0
    src = sitk.GetImageFromArray(arr)
    src.SetSpacing(spacing)
    src.SetOrigin((-120.0, -80.5, 30.0))
    if coronal:  # rows run feet-ward, slices front to back: a direction matrix that is not the identity
        src.SetDirection((1, 0, 0, 0, 0, 1, 0, -1, 0))
    series, sops = _write_series(src, folder, patient, seed)
    reader = sitk.ImageSeriesReader()
    files = reader.GetGDCMSeriesFileNames(str(folder))
    reader.SetFileNames(files)
    read = reader.Execute()
    datasets = [pydicom.dcmread(f) for f in files]
    # ITK's z order may differ from the order written: map the known masks through SOPInstanceUIDs
    written_z = {sop: z for z, sop in enumerate(sops)}
    order = [written_z[ds.SOPInstanceUID] for ds in datasets]
    tumour = tumour[order]
    other = np.zeros_like(tumour)
    other[1:3, 2:9, 25:37] = True  # an asymmetric box away from the tumour
    other &= ~tumour
    assert tumour.any() and other.any() and np.array_equal(sitk.GetArrayViewFromImage(read), arr[order])
    return DicomScan(folder, read, tumour, other, series, datasets)


@pytest.fixture(scope="session")
def dicom_scan() -> Callable[..., DicomScan]:
    """``dicom_scan(folder, patient=, spacing=, coronal=, crop_zyx=, seed=) -> DicomScan``."""
    return _dicom_scan


@pytest.fixture(scope="module")
def valid_root(tmp_path_factory: pytest.TempPathFactory, build_valid_cohort) -> Path:
    """A valid cohort, built once per module; tests that change it take ``root``."""
    return build_valid_cohort(tmp_path_factory.mktemp("valid") / "cohort")


@pytest.fixture
def root(valid_root: Path, tmp_path: Path, copy_cohort) -> Path:
    """A private copy of the valid cohort, to break."""
    return copy_cohort(valid_root, tmp_path / "cohort")
