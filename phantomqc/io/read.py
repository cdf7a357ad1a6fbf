"""Read DICOM images into :class:`~phantomqc.core.types.ImageData`.

This module and :mod:`phantomqc.io._scan` are the only places in phantomqc that import pydicom.

Public functions
----------------
read_image
    One single-frame 2-D image, pixels after the modality rescale, spacing in mm.
read_frames
    Every frame of a file (single-frame, classic multi-frame or enhanced multi-frame).
read_header
    The header only (no pixel decoding), for identification.
scan, Series, ScanResult
    Many files, folders and zip archives, grouped into sorted series (defined in
    :mod:`phantomqc.io._scan`, re-exported here).

Notes
-----
What the readers guarantee:

- ``pixels`` is a C-contiguous float32 ``(y, x)`` array equal to ``stored * slope + intercept``
  (the modality rescale). No VOI LUT, window or presentation LUT is ever applied, and MONOCHROME1
  images are *not* inverted: ``meta.photometric_interpretation`` records the photometric so that an
  analyzer can decide.
- ``spacing_mm`` is ``(row spacing, column spacing)`` in mm; ``meta.spacing_source`` names the
  attribute it came from.
- Every failure is a :class:`~phantomqc._shared.errors.PhantomQCError` subclass whose ``path`` names
  the file and whose message gives the cause and the fix. No pydicom, numpy or OS exception escapes.
- Input files are opened read-only and never modified.
- No pydicom global configuration is read or changed for the result; a decoded value never depends on
  process-wide state.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from phantomqc._shared.errors import DicomAttributeError, InvalidImageError, PhantomQCError
from phantomqc.core.types import ImageData, ImageMeta

__all__ = ["read_image", "read_frames", "read_header"]

#: Modalities whose images are projections: the spacing of interest is at the detector plane.
PROJECTION_MODALITIES = frozenset({"DX", "CR", "MG", "RF", "XA", "IO", "PX", "RG", "DR"})

#: SOP Class UID -> Presentation Intent Type implied by the storage class.
_INTENT_BY_SOP_CLASS = {
    "1.2.840.10008.5.1.4.1.1.1.1": "FOR PRESENTATION",  # Digital X-Ray
    "1.2.840.10008.5.1.4.1.1.1.1.1": "FOR PROCESSING",
    "1.2.840.10008.5.1.4.1.1.1.2": "FOR PRESENTATION",  # Digital Mammography X-Ray
    "1.2.840.10008.5.1.4.1.1.1.2.1": "FOR PROCESSING",
    "1.2.840.10008.5.1.4.1.1.1.3": "FOR PRESENTATION",  # Digital Intra-Oral X-Ray
    "1.2.840.10008.5.1.4.1.1.1.3.1": "FOR PROCESSING",
}

#: Transfer syntaxes whose pixel data are stored natively (not encapsulated).
_NATIVE_LITTLE = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99"})
_NATIVE_BIG = frozenset({"1.2.840.10008.1.2.2"})

_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)  # Pixel Data, Float Pixel Data, Double Float Pixel Data

_ACCEPTED_PHOTOMETRIC = ("MONOCHROME1", "MONOCHROME2")

# A group number a preamble-less DICOM dataset may start with (little endian): command group,
# file meta, directory, or the identifying group 0008.
_PLAUSIBLE_FIRST_GROUPS = frozenset({0x0000, 0x0002, 0x0004, 0x0008})


def _package_advice(ts: UID) -> str:
    """Which package decodes a transfer syntax, as a sentence for an error message."""
    name = ts.name if ts.is_valid and ts.name != ts else "unknown transfer syntax"
    if ts in ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"):
        pkg = "pylibjpeg and pylibjpeg-libjpeg (or pyjpegls)"
    elif ts.startswith("1.2.840.10008.1.2.4.9") or ts.startswith("1.2.840.10008.1.2.4.20"):
        pkg = "pylibjpeg and pylibjpeg-openjpeg"
    elif ts.startswith("1.2.840.10008.1.2.4.5") or ts.startswith("1.2.840.10008.1.2.4.7"):
        pkg = "pylibjpeg and pylibjpeg-libjpeg"
    elif ts == "1.2.840.10008.1.2.5":
        pkg = "pylibjpeg-rle (pydicom's own RLE decoder should already work)"
    else:
        pkg = ""
    if pkg:
        return f"transfer syntax {ts} ({name}): install {pkg} (pip install {pkg.split(' (')[0].replace(' and ', ' ')})"
    return (f"transfer syntax {ts} ({name}) has no pixel decoder in pydicom or its plugins; re-export the "
            f"image uncompressed (Explicit VR Little Endian) or losslessly compressed")


# ----------------------------------------------------------------------------------------------------
# Opening files
# ----------------------------------------------------------------------------------------------------


def _source(path: str | Path, data: bytes | None) -> tuple[str, Any]:
    """Return the display path and what to hand to pydicom (a path string or an in-memory buffer)."""
    display = os.fspath(path)
    if data is not None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes or None, got {type(data).__name__}")
        return display, io.BytesIO(data)
    return display, display


def _head(src: Any, n: int = 132) -> bytes:
    if isinstance(src, io.BytesIO):
        return src.getbuffer()[:n].tobytes()
    with open(src, "rb") as fh:
        return fh.read(n)


def _size(src: Any) -> int:
    if isinstance(src, io.BytesIO):
        return src.getbuffer().nbytes
    return os.path.getsize(src)


def _dcmread(src: Any, display: str, *, stop_before_pixels: bool) -> Dataset:
    """Read a dataset read-only, strictly first, with a validated preamble-less fallback.

    Raises
    ------
    InvalidImageError
        Not DICOM, or a truncated / corrupt header.
    """
    try:
        size = _size(src)
    except OSError as exc:
        raise InvalidImageError(f"cannot open the file: {exc.strerror or exc}; check that it exists and is "
                                f"readable", path=display) from None
    if size == 0:
        raise InvalidImageError("not a DICOM file: the file is empty (0 bytes)", path=display)
    try:
        head = _head(src)
    except OSError as exc:
        raise InvalidImageError(f"cannot read the file: {exc.strerror or exc}", path=display) from None
    has_marker = len(head) >= 132 and head[128:132] == b"DICM"
    forced = False
    if not has_marker:
        # pydicom would refuse without force=True. Only force when the file starts like a dataset
        # (a plausible first group, little endian); text, images and archives are rejected here.
        group = int.from_bytes(head[:2], "little") if len(head) >= 2 else -1
        if group not in _PLAUSIBLE_FIRST_GROUPS or len(head) < 8:
            raise InvalidImageError(
                "not a DICOM file: no 'DICM' marker at byte 128 and no readable DICOM header; "
                "export the image from the scanner or PACS as DICOM (Part 10) and try again",
                path=display)
        forced = True
    if isinstance(src, io.BytesIO):
        src.seek(0)
    try:
        ds = pydicom.dcmread(src, force=forced, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        raise InvalidImageError(
            "not a DICOM file: no 'DICM' marker at byte 128 and no readable DICOM header; "
            "export the image from the scanner or PACS as DICOM (Part 10) and try again",
            path=display) from None
    except Exception as exc:  # pydicom raises many types on damaged headers (IndexError, EOFError, ...)
        raise InvalidImageError(
            f"truncated or corrupt DICOM header ({size} bytes in the file; reading stopped with "
            f"{type(exc).__name__}: {exc}); the file is incomplete or damaged: copy or export it again",
            path=display) from None
    _check_truncated_elements(ds, display, size, skip_pixels=True)
    if forced:
        try:
            ok = any(ds.get(k) not in (None, "") for k in ("SOPClassUID", "Modality", "Rows"))
        except Exception:  # a forced parse of garbage fails on value conversion
            ok = False
        if not ok:
            raise InvalidImageError(
                "not a DICOM file: no 'DICM' marker at byte 128 and no readable DICOM header "
                "(no SOP Class UID, Modality or Rows found); export the image as DICOM (Part 10)",
                path=display)
    return ds


def _check_truncated_elements(ds: Dataset, display: str, size: int, *, skip_pixels: bool) -> None:
    """Raise when pydicom read an element value shorter than its declared length (file cut short)."""
    for tag, elem in ds._dict.items():  # raw elements only; no value conversion happens here
        length = getattr(elem, "length", None)
        value = getattr(elem, "value", None)
        if length is None or length == 0xFFFFFFFF or not isinstance(value, (bytes, bytearray)):
            continue
        if skip_pixels and int(tag) in _PIXEL_TAGS:
            continue  # reported by _decode, with the expected and found pixel byte counts
        if len(value) < length:
            raise InvalidImageError(
                f"truncated file: element ({tag.group:04X},{tag.element:04X}) declares {length} bytes but only "
                f"{len(value)} are present before the end of the file ({size} bytes); the file is "
                f"incomplete: copy or export it again", path=display)


# ----------------------------------------------------------------------------------------------------
# Header values
# ----------------------------------------------------------------------------------------------------


def _joined(ds: Dataset | None, keyword: str) -> str:
    """A string attribute that may be multi-valued (e.g. (0018,1210) *Convolution Kernel*), values joined by
    a backslash as in the DICOM encoding; '' when absent."""
    value = _get(ds, keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _get(ds: Dataset | None, keyword: str, default: Any = None) -> Any:
    """A converted element value, or ``default`` when absent, empty or unreadable."""
    if ds is None:
        return default
    try:
        value = ds.get(keyword, None)
    except Exception:  # an unconvertible value is treated as absent
        return default
    if value is None or value == "":
        return default
    return value


def _str(ds: Dataset | None, keyword: str) -> str:
    value = _get(ds, keyword, "")
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _float(ds: Dataset | None, keyword: str) -> float | None:
    value = _get(ds, keyword)
    if value is None:
        return None
    try:
        if type(value).__name__ == "MultiValue" or isinstance(value, (list, tuple)):
            value = value[0]
        out = float(value)
    except (TypeError, ValueError, IndexError):
        return None
    return out if math.isfinite(out) else None


def _int(ds: Dataset | None, keyword: str) -> int | None:
    value = _float(ds, keyword)
    return None if value is None else int(round(value))


def _floats(ds: Dataset | None, keyword: str, n: int) -> tuple[float, ...] | None:
    value = _get(ds, keyword)
    if value is None:
        return None
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if len(out) != n or not all(math.isfinite(v) for v in out):
        return None
    return out


def _iso_datetime(date: str, time: str = "") -> str:
    """``YYYYMMDD`` + ``HHMMSS.ffffff`` (or a DT value) as ISO 8601; the raw text when it does not parse."""
    raw = (date + time).strip()
    d = date.strip()
    if len(d) >= 8 and d[:8].isdigit():
        rest = d[8:] + time.strip()
        out = f"{d[0:4]}-{d[4:6]}-{d[6:8]}"
        tz = ""
        for sign in ("+", "-"):
            if sign in rest:
                rest, tz = rest.split(sign, 1)[0], sign + rest.split(sign, 1)[1]
        rest = rest.replace(":", "")
        if rest:
            hh, mm, ss = rest[0:2], rest[2:4] or "00", rest[4:] or "00"
            if not (hh.isdigit() and mm.isdigit()):
                return raw
            out += f"T{hh}:{mm}:{ss}"
        return out + tz
    return raw


def _acquisition_datetime(ds: Dataset) -> str:
    dt = _str(ds, "AcquisitionDateTime")
    if dt:
        return _iso_datetime(dt)
    for date_kw, time_kw in (("AcquisitionDate", "AcquisitionTime"), ("ContentDate", "ContentTime")):
        date = _str(ds, date_kw)
        if date:
            return _iso_datetime(date, _str(ds, time_kw))
    return ""


def _functional_item(ds: Dataset, frame: int | None, sequence: str) -> Dataset | None:
    """The first item of a functional-group macro ``sequence`` for ``frame``: per-frame, else shared."""
    if frame is not None:
        per_frame = _get(ds, "PerFrameFunctionalGroupsSequence")
        if per_frame is not None and frame < len(per_frame):
            seq = _get(per_frame[frame], sequence)
            if seq:
                return seq[0]
    shared = _get(ds, "SharedFunctionalGroupsSequence")
    if shared:
        seq = _get(shared[0], sequence)
        if seq:
            return seq[0]
    return None


def _is_enhanced(ds: Dataset) -> bool:
    return "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds


def _spacing_value(ds: Dataset, keyword: str, tag: str, display: str) -> tuple[float, float] | None:
    """Two positive numbers from a spacing attribute, None when absent; raise when present but unusable."""
    if keyword not in ds:
        return None
    raw = _get(ds, keyword)
    if raw is None:
        return None  # present but empty: treated as absent (type 2 attributes may be empty)
    try:
        values = tuple(float(v) for v in raw)
    except (TypeError, ValueError):
        values = ()
    if len(values) == 1:
        values = (values[0], values[0])
    if len(values) != 2 or not all(math.isfinite(v) and v > 0 for v in values):
        text = "\\".join(str(v) for v in raw) if type(raw).__name__ == "MultiValue" else str(raw)
        raise DicomAttributeError(
            f"{tag} {_TAG_NAMES[keyword]} is '{text}'; expected two positive numbers in mm "
            f"(row spacing\\column spacing). Re-export the image with a valid spacing, or give the "
            f"spacing manually", path=display)
    return values


_TAG_NAMES = {
    "ImagerPixelSpacing": "Imager Pixel Spacing",
    "PixelSpacing": "Pixel Spacing",
    "NominalScannedPixelSpacing": "Nominal Scanned Pixel Spacing",
}


def _spacing(ds: Dataset, modality: str, frame: int | None,
             display: str) -> tuple[tuple[float, float] | None, str, str]:
    """Find the pixel spacing. Returns ``(spacing or None, source, message when missing)``."""
    candidates: list[tuple[Dataset, str, str, str]] = []
    if modality in PROJECTION_MODALITIES:
        candidates += [(ds, "ImagerPixelSpacing", "(0018,1164)", "ImagerPixelSpacing"),
                       (ds, "PixelSpacing", "(0028,0030)", "PixelSpacing"),
                       (ds, "NominalScannedPixelSpacing", "(0018,2010)", "NominalScannedPixelSpacing")]
        missing = ("no pixel spacing: neither (0018,1164) Imager Pixel Spacing nor (0028,0030) Pixel Spacing "
                   "is present; phantomqc needs the spacing in mm to place ROIs. Re-export the image with its "
                   "spacing (most consoles have a 'DICOM export with calibration' or 'FOR PROCESSING' option), "
                   "or give the spacing manually")
    else:
        candidates += [(ds, "PixelSpacing", "(0028,0030)", "PixelSpacing")]
        missing = ("no pixel spacing: neither (0028,0030) Pixel Spacing nor a (0028,9110) Pixel Measures "
                   "Sequence is present; phantomqc needs the spacing in mm to place ROIs. Re-export the image "
                   "with its spacing, or give the spacing manually")
    for dataset, keyword, tag, source in candidates:
        value = _spacing_value(dataset, keyword, tag, display)
        if value is not None:
            return value, source, ""
    measures = _functional_item(ds, frame if frame is not None else 0, "PixelMeasuresSequence")
    if measures is not None:
        value = _spacing_value(measures, "PixelSpacing", "(0028,9110) Pixel Measures Sequence >(0028,0030)",
                               display)
        if value is not None:
            return value, "PixelMeasuresSequence", ""
    if modality not in PROJECTION_MODALITIES:
        # Secondary captures of projection images sometimes carry only the detector spacing.
        value = _spacing_value(ds, "ImagerPixelSpacing", "(0018,1164)", display)
        if value is not None:
            return value, "ImagerPixelSpacing", ""
    return None, "", missing


def _stored_dtype(ds: Dataset, pixel_tag: int | None) -> str:
    if pixel_tag == 0x7FE00008:
        return "float32"
    if pixel_tag == 0x7FE00009:
        return "float64"
    bits = _int(ds, "BitsAllocated") or 16
    signed = (_int(ds, "PixelRepresentation") or 0) == 1
    if bits <= 8:
        base = 8
    elif bits <= 16:
        base = 16
    elif bits <= 32:
        base = 32
    else:
        base = 64
    if bits == 1:
        return "bool"
    return f"{'int' if signed else 'uint'}{base}"


def _pixel_tag(ds: Dataset) -> int | None:
    for tag in _PIXEL_TAGS:
        if tag in ds:
            return tag
    return None


def _base_meta(ds: Dataset, display: str, transfer_syntax: str) -> ImageMeta:
    """The header fields shared by every frame of a file."""
    modality = _str(ds, "Modality").upper()
    sop_class = _str(ds, "SOPClassUID")
    intent = _str(ds, "PresentationIntentType").upper() or _INTENT_BY_SOP_CLASS.get(sop_class)
    exposure_uas = _float(ds, "ExposureInuAs")
    if exposure_uas is None:
        mas = _float(ds, "Exposure")
        exposure_uas = None if mas is None else mas * 1000.0
    image_type = _get(ds, "ImageType")
    extra: dict[str, Any] = {
        "rows": _int(ds, "Rows"),
        "columns": _int(ds, "Columns"),
        "number_of_frames": _int(ds, "NumberOfFrames") or 1,
        "bits_allocated": _int(ds, "BitsAllocated"),
        "pixel_representation": _int(ds, "PixelRepresentation"),
        "image_type": tuple(str(v) for v in image_type) if image_type is not None else (),
        "protocol_name": _str(ds, "ProtocolName"),
        "study_description": _str(ds, "StudyDescription"),
        "body_part_examined": _str(ds, "BodyPartExamined"),
        "frame_of_reference_uid": _str(ds, "FrameOfReferenceUID"),
        "spacing_between_slices_mm": _float(ds, "SpacingBetweenSlices"),
        "software_versions": _str(ds, "SoftwareVersions"),
        "convolution_kernel": _joined(ds, "ConvolutionKernel"),
        "ctdi_vol_mgy": _float(ds, "CTDIvol"),
        "slice_location_mm": _float(ds, "SliceLocation"),
        "gantry_tilt_deg": _float(ds, "GantryDetectorTilt"),
        "spiral_pitch_factor": _float(ds, "SpiralPitchFactor"),
        # (0028,0300) Quality Control Image ("YES" / "NO" / "BOTH" / ""), read by phantomqc.identify
        "quality_control_image": _str(ds, "QualityControlImage").upper(),
        # (0050,0010) Device Sequence: per item "code meaning | model name | description" (non-empty parts)
        "device_sequence": tuple(
            " | ".join(v for v in (_str(item, "CodeMeaning"), _str(item, "ManufacturerModelName"),
                                   _str(item, "DeviceDescription")) if v)
            for item in (_get(ds, "DeviceSequence") or ())),
    }
    return ImageMeta(
        path=display,
        modality=modality,
        sop_instance_uid=_str(ds, "SOPInstanceUID"),
        sop_class_uid=sop_class,
        series_instance_uid=_str(ds, "SeriesInstanceUID"),
        study_instance_uid=_str(ds, "StudyInstanceUID"),
        manufacturer=_str(ds, "Manufacturer"),
        model=_str(ds, "ManufacturerModelName"),
        station_name=_str(ds, "StationName"),
        device_serial_number=_str(ds, "DeviceSerialNumber"),
        acquisition_datetime=_acquisition_datetime(ds),
        source_ae_title=_str(getattr(ds, "file_meta", None), "SourceApplicationEntityTitle"),
        series_description=_str(ds, "SeriesDescription"),
        image_comments=_str(ds, "ImageComments"),
        presentation_intent=intent or None,
        photometric_interpretation=_str(ds, "PhotometricInterpretation").upper(),
        transfer_syntax_uid=transfer_syntax,
        rescale_slope=1.0,
        rescale_intercept=0.0,
        rescale_type=_str(ds, "RescaleType"),
        bits_stored=_int(ds, "BitsStored") or _int(ds, "BitsAllocated") or 16,
        stored_dtype=_stored_dtype(ds, _pixel_tag(ds)),
        image_position_patient=_floats(ds, "ImagePositionPatient", 3),  # type: ignore[arg-type]
        image_orientation_patient=_floats(ds, "ImageOrientationPatient", 6),
        slice_thickness_mm=_float(ds, "SliceThickness"),
        instance_number=_int(ds, "InstanceNumber"),
        exposure_index=_float(ds, "ExposureIndex"),
        target_exposure_index=_float(ds, "TargetExposureIndex"),
        deviation_index=_float(ds, "DeviationIndex"),
        kvp=_float(ds, "KVP"),
        exposure_uas=exposure_uas,
        extra=extra,
    )


def _rescale(ds: Dataset, frame: int | None, display: str) -> tuple[float, float, str]:
    """Slope, intercept and type for ``frame``: enhanced functional groups first, then (0028,1053/1052)."""
    item = _functional_item(ds, frame if frame is not None else 0, "PixelValueTransformationSequence") \
        if _is_enhanced(ds) else None
    src = item if item is not None and ("RescaleSlope" in item or "RescaleIntercept" in item) else ds
    slope = _float(src, "RescaleSlope")
    intercept = _float(src, "RescaleIntercept")
    if "RescaleSlope" in src and slope is None and _get(src, "RescaleSlope") is not None:
        raise DicomAttributeError(f"(0028,1053) Rescale Slope is {_get(src, 'RescaleSlope')!r}; expected a "
                                  f"number. Re-export the image", path=display)
    if slope == 0.0:
        raise DicomAttributeError("(0028,1053) Rescale Slope is 0, which would erase the image; expected a "
                                  "non-zero number. Re-export the image", path=display)
    return (1.0 if slope is None else slope, 0.0 if intercept is None else intercept,
            _str(src, "RescaleType"))


def _nm_pet_fields(ds: Dataset, frame: int | None) -> dict[str, Any]:
    """NM / PT timing, activity and gantry-angle attributes for ``meta.extra`` (absent ones are left out).

    ``gantry_angle_deg`` of a classic multi-frame NM TOMO frame ``f``: the (0054,0052) *Rotation Information
    Sequence* item of its (0054,0100) *Rotation Vector* entry, (0054,0200) *Start Angle* + (view - 1) x (0018,1144)
    *Angular Step*, view = its (0054,0090) *Angular View Vector* entry, the step negated for (0018,1140) *Rotation
    Direction* CC; a detector's own Start Angle in the Detector Information Sequence takes precedence."""
    out: dict[str, Any] = {}
    for key, kw in (("units", "Units"), ("decay_correction", "DecayCorrection")):
        if _str(ds, kw):
            out[key] = _str(ds, kw).upper()
    for key, kw in (("patient_weight_kg", "PatientWeight"), ("actual_frame_duration_ms", "ActualFrameDuration"),
                    ("decay_factor", "DecayFactor"), ("frame_reference_time_ms", "FrameReferenceTime")):
        if _float(ds, kw) is not None:
            out[key] = _float(ds, kw)
    if _str(ds, "SeriesDate") and _str(ds, "SeriesTime"):
        out["series_datetime"] = _iso_datetime(_str(ds, "SeriesDate"), _str(ds, "SeriesTime"))
    rp = _get(ds, "RadiopharmaceuticalInformationSequence")
    if rp is not None and len(rp):
        item = rp[0]
        for key, kw in (("radionuclide_total_dose_bq", "RadionuclideTotalDose"),
                        ("radionuclide_half_life_s", "RadionuclideHalfLife")):
            if _float(item, kw) is not None:
                out[key] = _float(item, kw)
        start = _str(item, "RadiopharmaceuticalStartDateTime")
        if not start and _str(item, "RadiopharmaceuticalStartTime") and _str(ds, "SeriesDate"):
            start = _str(ds, "SeriesDate") + _str(item, "RadiopharmaceuticalStartTime")
        if start:
            out["radiopharmaceutical_start_datetime"] = _iso_datetime(start)
    rotations = _get(ds, "RotationInformationSequence")
    f = frame if frame is not None else 0
    if rotations is not None and len(rotations) and "TOMO" in " ".join(str(v) for v in (_get(ds, "ImageType") or ())):
        def entry(kw: str) -> int:
            vec = _get(ds, kw)
            try:
                return int(vec[f]) if vec is not None and f < len(vec) else 1
            except (TypeError, ValueError):
                return 1
        rot = rotations[min(max(entry("RotationVector"), 1), len(rotations)) - 1]
        start, step = _float(rot, "StartAngle"), _float(rot, "AngularStep")
        detectors = _get(ds, "DetectorInformationSequence")
        det = entry("DetectorVector")
        if detectors is not None and 1 <= det <= len(detectors):
            start = _float(detectors[det - 1], "StartAngle") if "StartAngle" in detectors[det - 1] else start
        if start is not None and step is not None:
            sign = -1.0 if _str(rot, "RotationDirection").upper() == "CC" else 1.0
            out["gantry_angle_deg"] = start + sign * (entry("AngularViewVector") - 1) * step
    return out


def _frame_meta(ds: Dataset, base: ImageMeta, frame: int | None, n_frames: int,
                display: str) -> tuple[ImageMeta, tuple[float, float] | None, str]:
    """Per-frame metadata; returns ``(meta, spacing or None, missing-spacing message)``."""
    changes: dict[str, Any] = {"frame_index": frame}
    spacing, source, missing = _spacing(ds, base.modality, frame, display)
    changes["spacing_source"] = source
    slope, intercept, rtype = _rescale(ds, frame, display)
    changes.update(rescale_slope=slope, rescale_intercept=intercept, rescale_type=rtype)
    extra = dict(base.extra)
    if spacing is not None:
        extra["spacing_mm"] = spacing
    if base.modality in ("NM", "PT"):
        extra.update(_nm_pet_fields(ds, frame))
    if base.modality == "MR":
        from phantomqc.io._mr_tags import mr_fields

        extra.update(mr_fields(ds, frame))
        extra["mr_fields_read"] = True  # the absent MR attributes are absent from the file too
    if _is_enhanced(ds):
        f = frame if frame is not None else 0
        pos = _functional_item(ds, f, "PlanePositionSequence")
        ori = _functional_item(ds, f, "PlaneOrientationSequence")
        meas = _functional_item(ds, f, "PixelMeasuresSequence")
        content = _functional_item(ds, f, "FrameContentSequence")
        if pos is not None:
            changes["image_position_patient"] = _floats(pos, "ImagePositionPatient", 3)
        if ori is not None:
            changes["image_orientation_patient"] = _floats(ori, "ImageOrientationPatient", 6)
        if meas is not None:
            if _float(meas, "SliceThickness") is not None:
                changes["slice_thickness_mm"] = _float(meas, "SliceThickness")
            if _float(meas, "SpacingBetweenSlices") is not None:
                extra["spacing_between_slices_mm"] = _float(meas, "SpacingBetweenSlices")
        if content is not None:
            stack = _get(content, "InStackPositionNumber")
            if stack is not None:
                extra["in_stack_position"] = int(stack)
            acq = _str(content, "FrameAcquisitionDateTime")
            if acq:
                extra["frame_acquisition_datetime"] = _iso_datetime(acq)
    elif n_frames > 1 or base.image_position_patient is None:
        # Classic multi-frame (NM): the geometry of frame 0 is in the Detector Information Sequence.
        f = frame if frame is not None else 0
        detector = _get(ds, "DetectorInformationSequence")
        pos0 = base.image_position_patient
        ori = base.image_orientation_patient
        if detector is not None and len(detector) == 1:
            pos0 = pos0 or _floats(detector[0], "ImagePositionPatient", 3)
            ori = ori or _floats(detector[0], "ImageOrientationPatient", 6)
        step = base.extra.get("spacing_between_slices_mm")
        image_type = " ".join(base.extra.get("image_type", ()))
        tomographic = "TOMO" in image_type or base.modality in ("PT", "CT", "MR")
        if pos0 is not None and ori is not None:
            changes["image_orientation_patient"] = ori
            if f == 0:
                changes["image_position_patient"] = pos0
            elif step is not None and tomographic:
                normal = np.cross(ori[:3], ori[3:])
                changes["image_position_patient"] = tuple(float(p + f * step * n) for p, n in zip(pos0, normal))
                extra["position_derived"] = "frame 0 position + frame index x (0018,0088) Spacing Between Slices"
            else:
                changes["image_position_patient"] = None
    changes["extra"] = extra
    return replace(base, **changes), spacing, missing


# ----------------------------------------------------------------------------------------------------
# Pixel decoding
# ----------------------------------------------------------------------------------------------------


def _check_photometric(ds: Dataset, display: str) -> None:
    photometric = _str(ds, "PhotometricInterpretation").upper()
    samples = _int(ds, "SamplesPerPixel") or 1
    if photometric and photometric not in _ACCEPTED_PHOTOMETRIC:
        raise InvalidImageError(
            f"unsupported photometric interpretation '{photometric}' (0028,0004): phantomqc analyses grey-scale "
            f"images only (MONOCHROME1 or MONOCHROME2); export the original grey-scale image instead of a "
            f"colour or secondary-capture copy", path=display)
    if samples != 1:
        raise InvalidImageError(
            f"(0028,0002) Samples per Pixel is {samples}; phantomqc analyses grey-scale images only (1 sample "
            f"per pixel); export the original grey-scale image", path=display)


def _geometry(ds: Dataset, display: str) -> tuple[int, int, int, int]:
    rows, cols = _int(ds, "Rows"), _int(ds, "Columns")
    frames = _int(ds, "NumberOfFrames") or 1
    bits = _int(ds, "BitsAllocated")
    for value, name in ((rows, "(0028,0010) Rows"), (cols, "(0028,0011) Columns"),
                        (bits, "(0028,0100) Bits Allocated")):
        if value is None or value <= 0:
            raise DicomAttributeError(f"{name} is missing or not positive ({value!r}); the image matrix is "
                                      f"undefined. Re-export the image", path=display)
    return rows, cols, max(frames, 1), bits  # type: ignore[return-value]


def _native_dtype(bits: int, signed: bool, big_endian: bool) -> np.dtype | None:
    if bits not in (8, 16, 32):
        return None
    dt = np.dtype(f"{'i' if signed else 'u'}{bits // 8}")
    return dt.newbyteorder(">" if big_endian else "<") if bits > 8 else dt


def _fix_unused_bits(raw: np.ndarray, bits_stored: int, signed: bool) -> np.ndarray:
    """Clear (unsigned) or sign-extend (signed) the bits above Bits Stored.

    The check on the unsigned path is one ``max`` pass; the copy only happens when high bits are set.
    """
    nbits = raw.dtype.itemsize * 8
    if bits_stored >= nbits or bits_stored <= 0:
        return raw
    if not raw.dtype.isnative:
        raw = raw.astype(raw.dtype.newbyteorder("="))
    if signed:
        shift = nbits - bits_stored
        return (raw << shift) >> shift  # arithmetic shift sign-extends
    mask = (1 << bits_stored) - 1
    if raw.size and int(raw.max()) > mask:
        return raw & raw.dtype.type(mask)
    return raw


def _decode(ds: Dataset, display: str, transfer_syntax: str, file_size: int | str = "?") -> np.ndarray:
    """Decode the pixel data to an integer or float array of shape ``(frames, rows, cols)``."""
    pixel_tag = _pixel_tag(ds)
    if pixel_tag is None:
        sop = _str(ds, "SOPClassUID")
        media_sop = _str(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID")
        announced = UID(sop or media_sop).name if (sop or media_sop) else ""
        if "Rows" in ds or not sop or ("Image" in announced and "Storage" in announced):
            # The header describes an image (or stops before its own SOP Class UID): the file was cut
            # before (7FE0,0010), which pydicom does not report when the cut falls between elements.
            what = f"a {_int(ds, 'Rows')} x {_int(ds, 'Columns')} image" if "Rows" in ds else \
                f"an image of SOP class '{announced or '?'}'"
            raise InvalidImageError(
                f"no pixel data: the file ends at byte {file_size} before the (7FE0,0010) Pixel Data element "
                f"although its header describes {what}; the file is truncated or was exported header-only: "
                f"copy or export it again", path=display)
        sop_name = UID(sop).name if sop else "unknown SOP class"
        raise InvalidImageError(
            f"no pixel data: the file has no (7FE0,0010) Pixel Data element (SOP class {sop or '?'} "
            f"'{sop_name}', modality '{_str(ds, 'Modality') or '?'}'); it is not an image (for example a "
            f"structured report or a header-only file); select the image files instead", path=display)
    _check_photometric(ds, display)
    rows, cols, frames, bits = _geometry(ds, display)
    signed = (_int(ds, "PixelRepresentation") or 0) == 1
    bits_stored = _int(ds, "BitsStored") or bits
    ts = UID(transfer_syntax)
    native = ts in _NATIVE_LITTLE or ts in _NATIVE_BIG
    elem = ds[pixel_tag]
    value = elem.value
    if native and pixel_tag == 0x7FE00010 and not elem.is_undefined_length:
        dtype = _native_dtype(bits, signed, ts in _NATIVE_BIG)
        if dtype is not None:
            expected = rows * cols * frames * dtype.itemsize
            found = len(value) if value is not None else 0
            if found < expected:
                raise InvalidImageError(
                    f"truncated pixel data (7FE0,0010): expected {expected} bytes (Rows {rows} x Columns {cols} "
                    f"x {frames} frame(s) x {bits} bits), found {found} bytes; the file is incomplete: copy or "
                    f"export it again", path=display)
            raw = np.frombuffer(value, dtype=dtype, count=rows * cols * frames).reshape(frames, rows, cols)
            return _fix_unused_bits(raw, bits_stored, signed)
    if native:
        # 1-bit and float pixel data, or unusual bit depths: pydicom's native decoder unpacks them.
        if pixel_tag == 0x7FE00010 and bits == 1:
            expected = (rows * cols * frames + 7) // 8
            if value is not None and len(value) < expected:
                raise InvalidImageError(
                    f"truncated pixel data (7FE0,0010): expected {expected} bytes (Rows {rows} x Columns {cols} "
                    f"x {frames} frame(s) x 1 bit), found {len(value)} bytes; the file is incomplete: copy or "
                    f"export it again", path=display)
    from pydicom.pixels import get_decoder  # imported here: only needed off the fast path

    try:
        decoder = get_decoder(ts)
    except NotImplementedError:  # pydicom has no decoder at all for this syntax: say which package would add one
        raise InvalidImageError(
            f"cannot decode the pixel data: {_package_advice(ts)}", path=display) from None
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies) if decoder.missing_dependencies else ""
        raise InvalidImageError(
            f"cannot decode the pixel data: no installed plugin decodes {_package_advice(ts)}"
            + (f" [pydicom says: {missing}]" if missing else ""), path=display)
    try:
        arr, _ = decoder.as_array(ds, raw=True)
    except Exception as exc:  # decoder plugins raise their own types on corrupt or truncated streams
        kind = "compressed " if not native else ""
        raise InvalidImageError(
            f"could not decode the {kind}pixel data (transfer syntax {ts} {ts.name}): {type(exc).__name__}: "
            f"{exc}; the file may be truncated or corrupt: copy or export it again", path=display) from None
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if arr.ndim != 3:
        raise InvalidImageError(f"decoded pixel data has shape {arr.shape}; expected (frames, rows, cols) "
                                f"grey-scale data", path=display)
    return arr


def _to_float32(raw: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """``raw * slope + intercept`` as a new C-contiguous float32 array (one conversion pass, in-place rescale).

    When the slope is not exact in float32 (or the data are 32-bit), the product is computed in float64 inside the
    ufunc's buffered loop and rounded once to float32, so no float64 temporary of the whole image is allocated.
    """
    if slope == 1.0:
        out = raw.astype(np.float32)  # always a copy: never hand out a view of pydicom's buffer
    elif float(np.float32(slope)) == slope and raw.dtype.itemsize <= 2:
        # 8/16-bit values and this slope are exact in float32, so the float32 product is the correctly
        # rounded exact product: same result as float64, and about twice as fast.
        out = raw.astype(np.float32)
        out *= np.float32(slope)
    else:
        out = np.empty(raw.shape, dtype=np.float32)
        np.multiply(raw, slope, out=out, casting="unsafe")
    if intercept != 0.0:
        out += np.float32(intercept)
    return out


# ----------------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------------


def _transfer_syntax(ds: Dataset) -> str:
    fm = getattr(ds, "file_meta", None)
    ts = _str(fm, "TransferSyntaxUID") if fm is not None else ""
    if not ts:
        # A preamble-less dataset read with force=True: pydicom guessed the encoding.
        little = getattr(ds, "is_little_endian", True) is not False
        implicit = getattr(ds, "is_implicit_VR", True) is not False
        ts = "1.2.840.10008.1.2" if implicit else ("1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2")
    return ts


def _read(path: str | Path, data: bytes | None, *, single: bool) -> list[ImageData]:
    display, src = _source(path, data)
    try:
        ds = _dcmread(src, display, stop_before_pixels=False)
        ts = _transfer_syntax(ds)
        base = _base_meta(ds, display, ts)
        rows, cols, frames, _ = (_geometry(ds, display) if _pixel_tag(ds) is not None else (0, 0, 1, 0))
        if single and frames > 1:
            raise InvalidImageError(
                f"the file is a multi-frame image with {frames} frames (0028,0008) Number of Frames; read_image "
                f"reads single-frame images only: use phantomqc.io.read_frames to get every frame",
                path=display)
        raw = _decode(ds, display, ts, _size(src))
        if raw.shape[0] != frames or raw.shape[1:] != (rows, cols):
            raise InvalidImageError(f"decoded pixel data has shape {raw.shape}; the header says {frames} frame(s) "
                                    f"of {rows} x {cols}; the file is corrupt: export it again", path=display)
        metas: list[tuple[ImageMeta, tuple[float, float]]] = []
        for f in range(frames):
            meta, spacing, missing = _frame_meta(ds, base, None if single else f, frames, display)
            if spacing is None:
                raise DicomAttributeError(missing, path=display)
            metas.append((meta, spacing))
        rescales = {(m.rescale_slope, m.rescale_intercept) for m, _ in metas}
        if len(rescales) == 1:
            slope, intercept = next(iter(rescales))
            pixels = _to_float32(raw, slope, intercept)
            planes = [pixels[f] for f in range(frames)]
        else:
            planes = [_to_float32(raw[f], m.rescale_slope, m.rescale_intercept) for f, (m, _) in enumerate(metas)]
        return [ImageData(pixels=p, spacing_mm=s, meta=m) for p, (m, s) in zip(planes, metas)]
    except PhantomQCError:
        raise
    except MemoryError:
        raise InvalidImageError("not enough memory to decode the image; close other programs or analyse "
                                "fewer files at once", path=display) from None
    except Exception as exc:  # boundary of one file: pydicom/numpy raise many types on damaged input
        raise InvalidImageError(f"could not read the DICOM data: {type(exc).__name__}: {exc}; the file may be "
                                f"corrupt: copy or export it again", path=display) from None


def read_image(path: str | Path, *, data: bytes | None = None) -> ImageData:
    """Read one single-frame 2-D DICOM image.

    Parameters
    ----------
    path : str or Path
        The file. With ``data``, only a name for messages (for example ``"a.zip!dir/img.dcm"``).
    data : bytes, optional
        The file's content, already in memory. The file system is not touched when given.

    Returns
    -------
    ImageData
        ``pixels``: float32 ``(y, x)`` after the modality rescale; ``spacing_mm``: ``(row, column)`` in mm;
        ``meta``: the header fields (``meta.frame_index`` is None).

    Raises
    ------
    InvalidImageError
        Not DICOM, truncated, no pixel data, a multi-frame file (use :func:`read_frames`), a colour image, or
        pixel data that no installed plugin decodes.
    DicomAttributeError
        No usable pixel spacing, a zero rescale slope, or no image matrix.

    Notes
    -----
    ``pixels = stored * RescaleSlope + RescaleIntercept``; no VOI LUT or windowing is applied and MONOCHROME1
    is not inverted. Spacing: for projection modalities (DX, CR, MG, RF, XA, IO, PX, RG, DR)
    (0018,1164) *Imager Pixel Spacing* (detector plane), then (0028,0030) *Pixel Spacing*, then (0018,2010)
    *Nominal Scanned Pixel Spacing*; for other modalities (0028,0030) *Pixel Spacing*, then the enhanced
    *Pixel Measures Sequence*. Uncompressed little-endian data of 8, 16 or 32 bits is decoded with
    ``np.frombuffer`` (no copy) and converted once to float32.

    Examples
    --------
    >>> img = read_image("dx.dcm")                          # doctest: +SKIP
    >>> img.pixels.dtype, img.spacing_mm, img.meta.spacing_source    # doctest: +SKIP
    (dtype('float32'), (0.139, 0.139), 'ImagerPixelSpacing')
    """
    return _read(path, data, single=True)[0]


def read_frames(path: str | Path, *, data: bytes | None = None) -> list[ImageData]:
    """Read every frame of a DICOM file (single-frame, classic multi-frame or enhanced multi-frame).

    Parameters
    ----------
    path : str or Path
        The file. With ``data``, only a name for messages.
    data : bytes, optional
        The file's content, already in memory.

    Returns
    -------
    list of ImageData
        One entry per frame in file order, ``meta.frame_index`` = 0, 1, ... (0 for a single-frame file).

    Raises
    ------
    InvalidImageError, DicomAttributeError
        As :func:`read_image`, except that multi-frame files are accepted.

    Notes
    -----
    Enhanced objects (Enhanced CT/MR/PET/XA, multi-frame NM with functional groups): the position, orientation,
    spacing and slice thickness of each frame come from the *Per-frame Functional Groups Sequence*
    (5200,9230) items, else the *Shared Functional Groups Sequence* (5200,9229): *Plane Position Sequence*,
    *Plane Orientation Sequence*, *Pixel Measures Sequence* and *Pixel Value Transformation Sequence*
    (rescale). Classic NM tomographic multi-frame: frame 0 takes the position of the *Detector Information
    Sequence*, frame ``i`` ``position0 + i * SpacingBetweenSlices * normal`` (flagged in
    ``meta.extra["position_derived"]``). The frames' pixel arrays are views into one float32 block when all
    frames share one rescale.
    """
    return _read(path, data, single=False)


def read_header(path: str | Path, *, data: bytes | None = None) -> ImageMeta:
    """Read the header of a DICOM file without decoding its pixels.

    Parameters
    ----------
    path : str or Path
        The file. With ``data``, only a name for messages.
    data : bytes, optional
        The file's content, already in memory.

    Returns
    -------
    ImageMeta
        The header fields of the file (of frame 0 for a multi-frame file; ``frame_index`` None).
        ``extra`` also holds ``rows``, ``columns``, ``number_of_frames``, ``image_type``, ``protocol_name``,
        ``study_description``, ``body_part_examined``, ``frame_of_reference_uid``,
        ``spacing_between_slices_mm`` and, when found, ``spacing_mm``.

    Raises
    ------
    InvalidImageError
        Not DICOM, or a truncated or corrupt header.

    Notes
    -----
    Reads with ``stop_before_pixels=True``: the pixel data is not read. A missing spacing is *not* an error
    here (``spacing_source`` is then ``""``); the readers of pixels raise it. Non-image objects (an SR, for
    example) are returned too, so that identification can say what they are.
    """
    display, src = _source(path, data)
    try:
        ds = _dcmread(src, display, stop_before_pixels=True)
        base = _base_meta(ds, display, _transfer_syntax(ds))
        try:
            meta, _, _ = _frame_meta(ds, base, None, base.extra.get("number_of_frames") or 1, display)
        except DicomAttributeError as exc:
            extra = dict(base.extra)
            extra["header_problem"] = exc.cause
            meta = replace(base, extra=extra)
        return meta
    except PhantomQCError:
        raise
    except Exception as exc:  # boundary of one file
        raise InvalidImageError(f"could not read the DICOM header: {type(exc).__name__}: {exc}; the file may be "
                                f"corrupt: copy or export it again", path=display) from None


def __getattr__(name: str) -> Any:
    """Re-export :func:`scan`, :class:`Series` and :class:`ScanResult` from :mod:`phantomqc.io._scan`."""
    if name in ("scan", "Series", "ScanResult"):
        from phantomqc.io import _scan

        return getattr(_scan, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
