"""Write images as DICOM Part 10 files: DX projections (:func:`write_dx`) and CT slices (:func:`write_ct`).

The writers produce valid DX Image Storage objects (For Processing by default) and CT Image Storage objects,
explicit VR little endian, with a file meta group; both share one dataset builder (file meta, SOP Common,
Patient, Study, Series, Equipment). They are used by ``reference_phantoms`` to write digital phantoms as a
device would, and by tests that need DICOM with known tags.

Notes
-----
- The DX Image module makes Rescale Intercept (0028,1052), Rescale Slope (0028,1053) and Rescale Type
  (0028,1054) type 1, so they are always written: identity (0, 1, "US") for ``uint16`` data, the given
  values otherwise. ``int16`` data with a non-identity rescale is not strictly DX-conformant but is a
  variant that readers must handle, and the reference phantoms use it on purpose.
- CT: HU = stored x RescaleSlope + RescaleIntercept (Rescale Type "HU"); int16 or uint16 stored values.
- Pixel values are written as they are given (the *stored* values); the writer never rescales.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID, generate_uid
from pydicom.valuerep import DSfloat

__all__ = ["write_dx", "write_ct", "new_uid", "DX_FOR_PROCESSING", "DX_FOR_PRESENTATION", "CT_IMAGE_STORAGE"]

DX_FOR_PROCESSING = "1.2.840.10008.5.1.4.1.1.1.1.1"
"""SOP Class UID of Digital X-Ray Image Storage - For Processing."""
DX_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
"""SOP Class UID of Digital X-Ray Image Storage - For Presentation."""

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
"""SOP Class UID of CT Image Storage."""

_SPACING_ATTRS = ("ImagerPixelSpacing", "PixelSpacing", "both")
_INTENTS = {"FOR PROCESSING": DX_FOR_PROCESSING, "FOR PRESENTATION": DX_FOR_PRESENTATION}


def new_uid() -> str:
    """A new globally unique DICOM UID (pydicom's ``generate_uid``)."""
    return str(generate_uid())


def _ds(value: float) -> DSfloat:
    """A Decimal String value that always fits the 16-character limit of the DS VR."""
    return DSfloat(float(value), auto_format=True)


def _coerce(keyword: str, value: Any) -> Any:
    """Convert a Python value to what pydicom expects for ``keyword``'s VR (DS and IS need care)."""
    vr = dictionary_VR(keyword)
    if vr == "DS":
        if isinstance(value, (list, tuple, np.ndarray)):
            return [_ds(v) for v in value]
        return _ds(value)
    if vr == "IS":
        if isinstance(value, (list, tuple, np.ndarray)):
            return [int(v) for v in value]
        return int(value)
    if vr in ("US", "SS", "UL", "SL") and isinstance(value, (np.integer, float)):
        return int(value)
    if vr in ("FD", "FL") and isinstance(value, np.floating):
        return float(value)
    return value


def _part10_dataset(sop_class: str, modality: str, *, series_uid: str, study_uid: str, instance_number: int,
                    series_number: int, patient_name: str, model_name: str, device_serial: str,
                    station_name: str = "PHANTOMQC") -> Dataset:
    """A Part 10 dataset with its file meta group and the modules every phantomqc object shares: SOP Common,
    Patient, General Study, General Series, General Equipment and the date/time and instance number of the
    General Image module. Explicit VR little endian."""
    sop_uid = new_uid()
    now = _dt.datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S.%f")

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "PHANTOMQC_0_1"

    ds = Dataset()
    ds.file_meta = meta
    # SOP Common
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    # Patient
    ds.PatientName = patient_name
    ds.PatientID = "PHANTOMQC"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    # General Study
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = date
    ds.StudyTime = time
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    # General Series
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = int(series_number)
    ds.SeriesDate = date
    ds.SeriesTime = time
    # General Equipment
    ds.Manufacturer = "phantomqc reference phantom"
    ds.ManufacturerModelName = model_name
    ds.DeviceSerialNumber = device_serial
    ds.StationName = station_name
    ds.SoftwareVersions = "phantomqc 0.1"
    # General Image (common part)
    ds.InstanceNumber = int(instance_number)
    ds.ContentDate = date
    ds.ContentTime = time
    ds.AcquisitionDate = date
    ds.AcquisitionTime = time
    return ds


def _image_pixel(ds: Dataset, arr: np.ndarray, pixel_representation: int) -> None:
    """Image Pixel module of a 16-bit MONOCHROME2 single-frame image."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(arr.shape[0]), int(arr.shape[1])
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = pixel_representation


def _apply_header(ds: Dataset, header: dict[str, Any] | None, who: str) -> None:
    """Set the caller's extra DICOM keywords last (they override the defaults)."""
    for keyword, value in (header or {}).items():
        if tag_for_keyword(keyword) is None:
            raise ValueError(f"{who}: header key {keyword!r} is not a DICOM keyword; use the keyword as in "
                             f"the DICOM dictionary, e.g. 'ExposureIndex'")
        setattr(ds, keyword, _coerce(keyword, value))


def _save(ds: Dataset, arr: np.ndarray, path: Path) -> Path:
    """Attach the pixel data (little endian OW) and write the Part 10 file."""
    little = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    ds.add_new(0x7FE00010, "OW", np.ascontiguousarray(little).tobytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def _stored_2d(arr: np.ndarray, who: str) -> int:
    """PixelRepresentation of a 2-D uint16 / int16 array; ValueError otherwise."""
    if arr.ndim != 2:
        raise ValueError(f"{who}: 'stored' must be a 2-D (y, x) array; received shape {arr.shape}")
    if arr.dtype == np.uint16:
        return 0
    if arr.dtype == np.int16:
        return 1
    raise ValueError(f"{who}: 'stored' must be uint16 or int16; received {arr.dtype}. "
                     f"Quantise and cast the pixel values first.")


def write_dx(path: str | Path, stored: np.ndarray, *, spacing_mm: tuple[float, float],
             spacing_attr: str = "ImagerPixelSpacing", rescale_slope: float = 1.0,
             rescale_intercept: float = 0.0, presentation_intent: str = "FOR PROCESSING",
             series_uid: str, study_uid: str, instance_number: int = 1,
             header: dict[str, Any] | None = None) -> Path:
    """Write one DX image as a DICOM Part 10 file.

    Parameters
    ----------
    path : str or Path
        Output file; its parent folder is created when missing.
    stored : ndarray, (y, x), uint16 or int16
        The stored pixel values. ``PixelRepresentation`` is 0 for uint16 and 1 for int16.
    spacing_mm : (float, float)
        Pixel spacing (row spacing, column spacing) in mm at the detector.
    spacing_attr : {"ImagerPixelSpacing", "PixelSpacing", "both"}
        Which spacing attribute(s) to write. DX requires (0018,1164) *Imager Pixel Spacing*;
        "PixelSpacing" writes only (0028,0030) *Pixel Spacing*, a non-conformant variant for reader tests.
    rescale_slope, rescale_intercept : float
        Written to (0028,1053) and (0028,1052); PV = stored x slope + intercept.
    presentation_intent : {"FOR PROCESSING", "FOR PRESENTATION"}
        Sets (0008,0068) *Presentation Intent Type* and the SOP class.
    series_uid, study_uid : str
        Series and study instance UIDs.
    instance_number : int
        (0020,0013) *Instance Number*.
    header : dict, optional
        DICOM keywords mapped to values, set last (they override the defaults), e.g.
        ``{"KVP": 70, "ExposureIndex": 1040.0, "StationName": "DR3"}``.

    Returns
    -------
    Path
        The path written.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> p = write_dx(os.path.join(tempfile.mkdtemp(), "a.dcm"), np.zeros((4, 5), np.uint16),
    ...              spacing_mm=(0.2, 0.2), series_uid=new_uid(), study_uid=new_uid())
    >>> p.name
    'a.dcm'
    """
    path = Path(path)
    arr = np.asarray(stored)
    pixel_representation = _stored_2d(arr, "write_dx")
    if spacing_attr not in _SPACING_ATTRS:
        raise ValueError(f"write_dx: spacing_attr must be one of {_SPACING_ATTRS}; received {spacing_attr!r}")
    intent = presentation_intent.upper()
    if intent not in _INTENTS:
        raise ValueError(f"write_dx: presentation_intent must be 'FOR PROCESSING' or 'FOR PRESENTATION'; "
                         f"received {presentation_intent!r}")
    sy, sx = (float(spacing_mm[0]), float(spacing_mm[1]))
    if not (sy > 0 and sx > 0):
        raise ValueError(f"write_dx: spacing_mm must be positive; received {spacing_mm}")
    if not rescale_slope or not np.isfinite(rescale_slope):
        raise ValueError(f"write_dx: rescale_slope must be finite and non-zero; received {rescale_slope}")

    sop_class = _INTENTS[intent]
    ds = _part10_dataset(sop_class, "DX", series_uid=series_uid, study_uid=study_uid,
                         instance_number=instance_number, series_number=instance_number, patient_name="PHANTOM^DR",
                         model_name="phantomqc digital detector", device_serial="PQC-0001")
    ds.PresentationIntentType = intent
    # General Image / DX Image
    ds.PatientOrientation = ""
    ds.ImageType = ["ORIGINAL", "PRIMARY", ""]
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.PixelIntensityRelationship = "LIN"
    ds.PixelIntensityRelationshipSign = 1
    ds.PresentationLUTShape = "IDENTITY"
    ds.RescaleIntercept = _ds(rescale_intercept)
    ds.RescaleSlope = _ds(rescale_slope)
    ds.RescaleType = "US"
    # DX Detector
    ds.DetectorType = "SCINTILLATOR"
    if spacing_attr in ("ImagerPixelSpacing", "both"):
        ds.ImagerPixelSpacing = [_ds(sy), _ds(sx)]
    if spacing_attr in ("PixelSpacing", "both"):
        ds.PixelSpacing = [_ds(sy), _ds(sx)]
    _image_pixel(ds, arr, pixel_representation)
    if intent == "FOR PRESENTATION":
        lo, hi = (float(v) * rescale_slope + rescale_intercept
                  for v in np.percentile(arr[::8, ::8], [1.0, 99.0]))
        ds.WindowCenter = _ds((lo + hi) / 2.0)
        ds.WindowWidth = _ds(max(hi - lo, 1.0))
    _apply_header(ds, header, "write_dx")
    return _save(ds, arr, path)



def write_ct(path: str | Path, stored: np.ndarray, *, spacing_mm: tuple[float, float],
             position_mm: tuple[float, float, float], slice_thickness_mm: float,
             spacing_between_slices_mm: float | None = None, rescale_slope: float = 1.0,
             rescale_intercept: float = -1024.0, series_uid: str, study_uid: str, frame_of_reference_uid: str,
             instance_number: int = 1, series_number: int = 1, kvp: float = 120.0,
             convolution_kernel: str = "STANDARD", ctdivol_mgy: float | None = None,
             window: tuple[float, float] = (40.0, 400.0), header: dict[str, Any] | None = None) -> Path:
    """Write one axial CT slice as a DICOM Part 10 CT Image Storage file.

    Parameters
    ----------
    path : str or Path
        Output file; its parent folder is created when missing.
    stored : ndarray, (y, x), int16 or uint16
        The stored pixel values; HU = stored x ``rescale_slope`` + ``rescale_intercept``.
    spacing_mm : (float, float)
        (0028,0030) *Pixel Spacing*: (row spacing, column spacing) in mm.
    position_mm : (float, float, float)
        (0020,0032) *Image Position (Patient)* of the top-left pixel centre, mm. The orientation is axial,
        (0020,0037) = [1, 0, 0, 0, 1, 0]; (0020,1041) *Slice Location* = ``position_mm[2]``.
    slice_thickness_mm : float
        (0018,0050) *Slice Thickness* (the nominal reconstructed thickness).
    spacing_between_slices_mm : float, optional
        (0018,0088) *Spacing Between Slices*; omitted when None.
    rescale_slope, rescale_intercept : float
        (0028,1053) and (0028,1052); (0028,1054) *Rescale Type* is "HU".
    series_uid, study_uid, frame_of_reference_uid : str
        Series, study and frame-of-reference UIDs (one frame of reference per series).
    instance_number, series_number : int
        (0020,0013) and (0020,0011).
    kvp, convolution_kernel, ctdivol_mgy :
        (0018,0060) *KVP*, (0018,1210) *Convolution Kernel*, (0018,9345) *CTDIvol* (omitted when None).
    window : (centre, width)
        (0028,1050) / (0028,1051), HU.
    header : dict, optional
        DICOM keywords mapped to values, set last (they override the defaults).

    Returns
    -------
    Path
        The path written.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> p = write_ct(os.path.join(tempfile.mkdtemp(), "c.dcm"), np.full((4, 5), 1024, np.int16),
    ...              spacing_mm=(0.5, 0.5), position_mm=(-1.0, -0.75, -150.0), slice_thickness_mm=2.5,
    ...              series_uid=new_uid(), study_uid=new_uid(), frame_of_reference_uid=new_uid())
    >>> p.name
    'c.dcm'
    """
    path = Path(path)
    arr = np.asarray(stored)
    pixel_representation = _stored_2d(arr, "write_ct")
    sy, sx = (float(spacing_mm[0]), float(spacing_mm[1]))
    if not (sy > 0 and sx > 0):
        raise ValueError(f"write_ct: spacing_mm must be positive; received {spacing_mm}")
    if not (float(slice_thickness_mm) > 0):
        raise ValueError(f"write_ct: slice_thickness_mm must be positive; received {slice_thickness_mm}")
    if len(position_mm) != 3 or not all(np.isfinite(float(v)) for v in position_mm):
        raise ValueError(f"write_ct: position_mm must be three finite numbers (x, y, z); received {position_mm}")
    if not rescale_slope or not np.isfinite(rescale_slope):
        raise ValueError(f"write_ct: rescale_slope must be finite and non-zero; received {rescale_slope}")

    ds = _part10_dataset(CT_IMAGE_STORAGE, "CT", series_uid=series_uid, study_uid=study_uid,
                         instance_number=instance_number, series_number=series_number, patient_name="PHANTOM^CT",
                         model_name="phantomqc CT scanner", device_serial="PQC-CT-0001",
                         station_name="PHANTOMQC-CT")
    ds.PatientPosition = "HFS"
    ds.BodyPartExamined = "HEAD"
    # Frame of Reference
    ds.FrameOfReferenceUID = frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    # General Image / Image Plane
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.AcquisitionNumber = 1
    ds.BurnedInAnnotation = "NO"
    ds.ImagePositionPatient = [_ds(v) for v in position_mm]
    ds.ImageOrientationPatient = [_ds(v) for v in (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)]
    ds.SliceLocation = _ds(position_mm[2])
    ds.PixelSpacing = [_ds(sy), _ds(sx)]
    ds.SliceThickness = _ds(slice_thickness_mm)
    if spacing_between_slices_mm is not None:
        ds.SpacingBetweenSlices = _ds(spacing_between_slices_mm)
    # CT Image
    ds.RescaleIntercept = _ds(rescale_intercept)
    ds.RescaleSlope = _ds(rescale_slope)
    ds.RescaleType = "HU"
    ds.KVP = _ds(kvp)
    ds.ConvolutionKernel = convolution_kernel
    ds.ScanOptions = "AXIAL MODE"
    if ctdivol_mgy is not None:
        ds.CTDIvol = float(ctdivol_mgy)
    _image_pixel(ds, arr, pixel_representation)
    ds.WindowCenter = _ds(window[0])
    ds.WindowWidth = _ds(window[1])
    _apply_header(ds, header, "write_ct")
    return _save(ds, arr, path)
