"""Builders of small, valid DICOM files for the io tests (written with pydicom into tmp_path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID, generate_uid

SOP_CLASS = {
    "DX_PROCESSING": "1.2.840.10008.5.1.4.1.1.1.1.1",
    "DX_PRESENTATION": "1.2.840.10008.5.1.4.1.1.1.1",
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "ENHANCED_MR": "1.2.840.10008.5.1.4.1.1.4.1",
    "SR": "1.2.840.10008.5.1.4.1.1.88.11",
}


def make_dataset(pixels: np.ndarray | None, *, modality: str = "DX", sop_class: str | None = None,
                 series_uid: str | None = None, photometric: str = "MONOCHROME2", bits_stored: int | None = None,
                 **attrs) -> Dataset:
    """A minimal valid single-frame dataset with file meta (Explicit VR Little Endian).

    ``pixels`` (uint8/uint16/int16, 2-D) becomes (7FE0,0010); None leaves the pixel module out.
    Extra keyword arguments are set as DICOM keywords (e.g. ``PixelSpacing=[0.5, 0.5]``).
    """
    if sop_class is None:
        sop_class = {"DX": SOP_CLASS["DX_PROCESSING"], "CT": SOP_CLASS["CT"], "MR": SOP_CLASS["MR"]}.get(
            modality, SOP_CLASS["CT"])
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.Modality = modality
    ds.Manufacturer = "ACME"
    ds.ManufacturerModelName = "Detector 9000"
    ds.StationName = "ROOM3"
    ds.DeviceSerialNumber = "SN123"
    if pixels is not None:
        pixels = np.asarray(pixels)
        ds.Rows, ds.Columns = pixels.shape[-2:]
        ds.SamplesPerPixel = 1 if pixels.ndim == 2 or photometric.startswith("MONO") else 3
        ds.PhotometricInterpretation = photometric
        ds.BitsAllocated = pixels.dtype.itemsize * 8
        ds.BitsStored = bits_stored or ds.BitsAllocated
        ds.HighBit = ds.BitsStored - 1
        ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
        if ds.SamplesPerPixel == 3:
            ds.PlanarConfiguration = 0
        ds.PixelData = np.ascontiguousarray(pixels).astype(pixels.dtype.newbyteorder("<")).tobytes()
    for key, value in attrs.items():
        setattr(ds, key, value)
    return ds


def write(ds: Dataset, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def ct_slice(pixels: np.ndarray, z_mm: float, instance: int, series_uid: str, **attrs) -> Dataset:
    """One axial CT slice at table position ``z_mm`` (int16 stored, HU = stored - 1024)."""
    defaults = dict(PixelSpacing=[0.7, 0.6], SliceThickness=2.5, ImagePositionPatient=[-100.0, -120.0, z_mm],
                    ImageOrientationPatient=[1, 0, 0, 0, 1, 0], InstanceNumber=instance, RescaleSlope=1,
                    RescaleIntercept=-1024, RescaleType="HU", FrameOfReferenceUID="1.2.826.0.1.3680043.8.498.9")
    defaults.update(attrs)
    return make_dataset(pixels, modality="CT", series_uid=series_uid, **defaults)


def enhanced_mr(frames: np.ndarray, z_mm: list[float], *, spacing=(0.9, 0.8), thickness=3.0) -> Dataset:
    """Enhanced MR Image Storage: per-frame Plane Position, shared Pixel Measures and Plane Orientation."""
    ds = make_dataset(frames[0], modality="MR", sop_class=SOP_CLASS["ENHANCED_MR"])
    ds.NumberOfFrames = frames.shape[0]
    ds.PixelData = frames.astype("<u2").tobytes()
    ds.FrameOfReferenceUID = generate_uid()
    measures = Dataset()
    measures.PixelSpacing = list(spacing)
    measures.SliceThickness = thickness
    orientation = Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([measures])
    shared.PlaneOrientationSequence = Sequence([orientation])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    for z in z_mm:
        pos = Dataset()
        pos.ImagePositionPatient = [-50.0, -60.0, z]
        item = Dataset()
        item.PlanePositionSequence = Sequence([pos])
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    return ds


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def dcm():
    """The builders above, as a fixture (test modules must not import conftest by name: other test folders
    have their own conftest.py)."""
    from types import SimpleNamespace

    return SimpleNamespace(make=make_dataset, write=write, ct_slice=ct_slice, enhanced_mr=enhanced_mr,
                           SOP_CLASS=SOP_CLASS)
