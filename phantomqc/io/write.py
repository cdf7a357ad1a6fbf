"""Write 2-D projection images as DICOM DX objects.

The writer produces a valid DX Image Storage object (For Processing by default), explicit VR little
endian, with a file meta group. It is used by ``reference_phantoms`` to write digital phantoms as a
detector would, and by tests that need DICOM with known tags.

Notes
-----
- The DX Image module makes Rescale Intercept (0028,1052), Rescale Slope (0028,1053) and Rescale Type
  (0028,1054) type 1, so they are always written: identity (0, 1, "US") for ``uint16`` data, the given
  values otherwise. ``int16`` data with a non-identity rescale is not strictly DX-conformant but is a
  variant that readers must handle, and the reference phantoms use it on purpose.
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

__all__ = ["write_dx", "new_uid", "DX_FOR_PROCESSING", "DX_FOR_PRESENTATION"]

DX_FOR_PROCESSING = "1.2.840.10008.5.1.4.1.1.1.1.1"
"""SOP Class UID of Digital X-Ray Image Storage - For Processing."""
DX_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
"""SOP Class UID of Digital X-Ray Image Storage - For Presentation."""

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
    if arr.ndim != 2:
        raise ValueError(f"write_dx: 'stored' must be a 2-D (y, x) array; received shape {arr.shape}")
    if arr.dtype == np.uint16:
        pixel_representation = 0
    elif arr.dtype == np.int16:
        pixel_representation = 1
    else:
        raise ValueError(f"write_dx: 'stored' must be uint16 or int16; received {arr.dtype}. "
                         f"Quantise and cast the pixel values first.")
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
    ds.PatientName = "PHANTOM^DR"
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
    # General / DX Series
    ds.Modality = "DX"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = int(instance_number)
    ds.SeriesDate = date
    ds.SeriesTime = time
    ds.PresentationIntentType = intent
    # General Equipment
    ds.Manufacturer = "phantomqc reference phantom"
    ds.ManufacturerModelName = "phantomqc digital detector"
    ds.DeviceSerialNumber = "PQC-0001"
    ds.StationName = "PHANTOMQC"
    ds.SoftwareVersions = "phantomqc 0.1"
    # General Image / DX Image
    ds.InstanceNumber = int(instance_number)
    ds.PatientOrientation = ""
    ds.ContentDate = date
    ds.ContentTime = time
    ds.AcquisitionDate = date
    ds.AcquisitionTime = time
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
    # Image Pixel
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(arr.shape[0]), int(arr.shape[1])
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = pixel_representation
    if intent == "FOR PRESENTATION":
        lo, hi = (float(v) * rescale_slope + rescale_intercept
                  for v in np.percentile(arr[::8, ::8], [1.0, 99.0]))
        ds.WindowCenter = _ds((lo + hi) / 2.0)
        ds.WindowWidth = _ds(max(hi - lo, 1.0))

    for keyword, value in (header or {}).items():
        if tag_for_keyword(keyword) is None:
            raise ValueError(f"write_dx: header key {keyword!r} is not a DICOM keyword; use the keyword as in "
                             f"the DICOM dictionary, e.g. 'ExposureIndex'")
        setattr(ds, keyword, _coerce(keyword, value))

    little = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    ds.add_new(0x7FE00010, "OW", np.ascontiguousarray(little).tobytes())

    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
