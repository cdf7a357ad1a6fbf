"""Small writers shared by the phantom makers: TOML values for manifest.toml and a JSON default for truth.json."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

__all__ = ["MR_IMAGE_STORAGE", "MR_ORIENTATIONS", "json_default", "toml_value", "write_mr", "write_nm_static",
           "write_nm_tomo", "write_pt_volume"]


def toml_value(v: Any) -> str:
    """A Python scalar or list as a TOML value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def json_default(o):
    """``json.dumps(default=...)`` for numpy scalars and arrays."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"

#: (0020,0037) of the orientations the MR twins use: axial (rows along +x, columns along +y), sagittal (rows along
#: +y posterior, columns along -z inferior) and coronal (rows along +x, columns along -z).
MR_ORIENTATIONS = {"axial": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0), "sagittal": (0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
                   "coronal": (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)}


def write_mr(path, stored: np.ndarray, *, spacing_mm: tuple[float, float], position_mm: tuple[float, float, float],
             orientation: tuple[float, ...] = MR_ORIENTATIONS["axial"], slice_thickness_mm: float = 5.0,
             spacing_between_slices_mm: float | None = None, series_uid: str, study_uid: str,
             frame_of_reference_uid: str, instance_number: int = 1, series_number: int = 1,
             field_strength_t: float = 1.5, imaging_frequency_mhz: float | None = None, tr_ms: float = 500.0,
             te_ms: float = 20.0, flip_deg: float = 90.0, pixel_bandwidth_hz: float = 130.0, averages: float = 1.0,
             phase_encoding: str = "COL", image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "M", "ND"),
             header: dict[str, Any] | None = None):
    """Write one MR image as a DICOM Part 10 *MR Image Storage* file (the same Part-10 builder as ``write_ct``).

    Parameters
    ----------
    path : str or Path
        Output file; its parent folder is created when missing.
    stored : ndarray, (y, x), uint16 or int16
        Stored pixel values (no rescale: MR magnitude images are written as they are).
    spacing_mm : (float, float)
        (0028,0030) *Pixel Spacing* (row, column) in mm.
    position_mm : (float, float, float)
        (0020,0032) *Image Position (Patient)* of the top-left pixel centre.
    orientation : six floats
        (0020,0037) *Image Orientation (Patient)*; see :data:`MR_ORIENTATIONS`.
    slice_thickness_mm, spacing_between_slices_mm : float
        (0018,0050) and (0018,0088) (omitted when None).
    field_strength_t, imaging_frequency_mhz : float
        (0018,0087) *Magnetic Field Strength* (T) and (0018,0084) *Imaging Frequency* (MHz; default
        42.577478 MHz/T x B0).
    tr_ms, te_ms, flip_deg, pixel_bandwidth_hz, averages :
        (0018,0080), (0018,0081), (0018,1314), (0018,0095) Hz/pixel, (0018,0083).
    phase_encoding : "ROW" or "COL"
        (0018,1312) *In-plane Phase Encoding Direction*.
    image_type : tuple of str
        (0008,0008) *Image Type* (add "LOCALIZER" for a localiser).
    header : dict, optional
        DICOM keywords mapped to values, set last (they override the defaults).

    Returns
    -------
    Path
    """
    from pathlib import Path

    from phantomqc.io.write import _apply_header, _ds, _image_pixel, _part10_dataset, _save, _stored_2d

    path = Path(path)
    arr = np.asarray(stored)
    pixel_representation = _stored_2d(arr, "write_mr")
    sy, sx = float(spacing_mm[0]), float(spacing_mm[1])
    if not (sy > 0 and sx > 0):
        raise ValueError(f"write_mr: spacing_mm must be positive; received {spacing_mm}")
    if len(position_mm) != 3 or len(orientation) != 6:
        raise ValueError(f"write_mr: position_mm needs 3 and orientation 6 numbers; received {position_mm}, "
                         f"{orientation}")
    if phase_encoding not in ("ROW", "COL"):
        raise ValueError(f"write_mr: phase_encoding must be 'ROW' or 'COL'; received {phase_encoding!r}")
    freq = 42.577478 * float(field_strength_t) if imaging_frequency_mhz is None else float(imaging_frequency_mhz)
    ds = _part10_dataset(MR_IMAGE_STORAGE, "MR", series_uid=series_uid, study_uid=study_uid,
                         instance_number=instance_number, series_number=series_number, patient_name="PHANTOM^MR",
                         model_name="phantomqc MR scanner", device_serial="PQC-MR-0001", station_name="PHANTOMQC-MR")
    ds.PatientPosition = "HFS"
    ds.BodyPartExamined = "HEAD"
    ds.FrameOfReferenceUID = frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.ImageType = list(image_type)
    ds.AcquisitionNumber = 1
    ds.BurnedInAnnotation = "NO"
    ds.ImagePositionPatient = [_ds(v) for v in position_mm]
    ds.ImageOrientationPatient = [_ds(v) for v in orientation]
    normal = np.cross(np.asarray(orientation[:3], float), np.asarray(orientation[3:], float))
    ds.SliceLocation = _ds(float(np.dot(np.asarray(position_mm, float), normal)))
    ds.PixelSpacing = [_ds(sy), _ds(sx)]
    ds.SliceThickness = _ds(slice_thickness_mm)
    if spacing_between_slices_mm is not None:
        ds.SpacingBetweenSlices = _ds(spacing_between_slices_mm)
    # MR Image module
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = "NONE"
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "2D"
    ds.RepetitionTime = _ds(tr_ms)
    ds.EchoTime = _ds(te_ms)
    ds.EchoTrainLength = 1
    ds.FlipAngle = _ds(flip_deg)
    ds.MagneticFieldStrength = _ds(field_strength_t)
    ds.ImagingFrequency = _ds(round(freq, 6))
    ds.ImagedNucleus = "1H"
    ds.PixelBandwidth = _ds(pixel_bandwidth_hz)
    ds.NumberOfAverages = _ds(averages)
    # frequency rows \ frequency columns \ phase rows \ phase columns, as the real Siemens (COL) and GE (ROW)
    # series write it
    ds.AcquisitionMatrix = ([int(arr.shape[1]), 0, 0, int(arr.shape[0])] if phase_encoding == "COL"
                            else [0, int(arr.shape[1]), int(arr.shape[0]), 0])
    ds.InPlanePhaseEncodingDirection = phase_encoding
    ds.ReceiveCoilName = "HEAD"
    _image_pixel(ds, arr, pixel_representation)
    _apply_header(ds, header, "write_mr")
    return _save(ds, arr, path)


NM_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.20"
PET_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.128"


def write_nm(path, frames: np.ndarray, *, spacing_mm: tuple[float, float], series_uid: str, study_uid: str,
             series_description: str, image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "STATIC", "EMISSION"),
             slice_spacing_mm: float | None = None, position_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
             series_number: int = 1, header: dict[str, Any] | None = None):
    """Write an NM Image Storage file: one frame (a planar image) or several (the slices of a reconstruction, with
    (0054,0080) Slice Vector and (0018,0088) Spacing Between Slices), counts as uint16.

    The frame-0 geometry is in the Detector Information Sequence, as cameras write it."""
    from pathlib import Path

    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    from phantomqc.io.write import _apply_header, _ds, _image_pixel, _part10_dataset, new_uid

    path = Path(path)
    arr = np.asarray(frames)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.dtype != np.uint16:
        raise ValueError(f"write_nm: frames must be uint16 counts; received {arr.dtype}")
    n = arr.shape[0]
    ds = _part10_dataset(NM_IMAGE_STORAGE, "NM", series_uid=series_uid, study_uid=study_uid, instance_number=1,
                         series_number=series_number, patient_name="PHANTOM^NM", model_name="phantomqc gamma camera",
                         device_serial="PQC-NM-0001", station_name="PHANTOMQC-NM")
    ds.SeriesDescription = series_description
    ds.ImageType = list(image_type)
    ds.FrameOfReferenceUID = new_uid()
    _image_pixel(ds, arr[0], 0)
    ds.NumberOfFrames = n
    ds.PixelSpacing = [_ds(spacing_mm[0]), _ds(spacing_mm[1])]
    det = Dataset()
    det.ImagePositionPatient = [_ds(v) for v in position_mm]
    det.ImageOrientationPatient = [_ds(v) for v in (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)]
    ds.DetectorInformationSequence = DicomSequence([det])
    ds.NumberOfDetectors = 1
    if n > 1:
        ds.FrameIncrementPointer = 0x00540080  # Slice Vector
        ds.SliceVector = list(range(1, n + 1))
        ds.NumberOfSlices = n
        if slice_spacing_mm is not None:
            ds.SpacingBetweenSlices = _ds(slice_spacing_mm)
            ds.SliceThickness = _ds(abs(slice_spacing_mm))
    else:
        ds.FrameIncrementPointer = 0x00540010  # Energy Window Vector
        ds.EnergyWindowVector = [1]
        ds.NumberOfEnergyWindows = 1
    _apply_header(ds, header, "write_nm")
    little = arr.astype("<u2", copy=False)
    ds.add_new(0x7FE00010, "OW", np.ascontiguousarray(little).tobytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_pt(path, activity_bq_per_ml: np.ndarray, *, spacing_mm: tuple[float, float], position_mm, series_uid: str,
             study_uid: str, frame_of_reference_uid: str, instance_number: int, n_slices: int,
             slice_thickness_mm: float, series_description: str = "NEMA IQ", header: dict[str, Any] | None = None):
    """Write one PET Image Storage slice: activity concentration (Bq/ml) stored as uint16 with a per-slice
    (0028,1053) Rescale Slope, Units BQML, decay-corrected, with the 18F-FDG radiopharmaceutical sequence."""
    from pathlib import Path

    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    from phantomqc.io.write import _apply_header, _ds, _image_pixel, _part10_dataset

    path = Path(path)
    a = np.asarray(activity_bq_per_ml, dtype=np.float64)
    top = float(max(a.max(), 1e-6))
    slope = top / 32000.0
    stored = np.clip(np.round(a / slope), 0, 65535).astype(np.uint16)
    ds = _part10_dataset(PET_IMAGE_STORAGE, "PT", series_uid=series_uid, study_uid=study_uid,
                         instance_number=instance_number, series_number=1, patient_name="PHANTOM^PET",
                         model_name="phantomqc PET scanner", device_serial="PQC-PT-0001", station_name="PHANTOMQC-PT")
    ds.SeriesDescription = series_description
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.FrameOfReferenceUID = frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.ImagePositionPatient = [_ds(v) for v in position_mm]
    ds.ImageOrientationPatient = [_ds(v) for v in (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)]
    ds.SliceThickness = _ds(slice_thickness_mm)
    _image_pixel(ds, stored, 0)
    ds.PixelSpacing = [_ds(spacing_mm[0]), _ds(spacing_mm[1])]
    ds.RescaleIntercept = _ds(0.0)
    ds.RescaleSlope = _ds(slope)
    ds.Units = "BQML"
    ds.DecayCorrection = "START"
    ds.CorrectedImage = ["DECY", "ATTN", "SCAT"]
    ds.NumberOfSlices = int(n_slices)
    ds.ImageIndex = int(instance_number)
    ds.SeriesType = ["STATIC", "IMAGE"]
    rp = Dataset()
    rp.Radiopharmaceutical = "Fluorodeoxyglucose"
    rp.RadionuclideHalfLife = _ds(6586.2)
    rp.RadionuclideTotalDose = _ds(3.7e8)
    rp.RadiopharmaceuticalStartTime = "080000"
    ds.RadiopharmaceuticalInformationSequence = DicomSequence([rp])
    _apply_header(ds, header, "write_pt")
    little = stored.astype("<u2", copy=False)
    ds.add_new(0x7FE00010, "OW", np.ascontiguousarray(little).tobytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def _dicom_date_time(when) -> tuple[str, str]:
    """A ``datetime`` (or ISO 8601 string) as DICOM DA and TM strings."""
    import datetime as _dt

    t = _dt.datetime.fromisoformat(when) if isinstance(when, str) else when
    return t.strftime("%Y%m%d"), t.strftime("%H%M%S.%f")


def _radiopharmaceutical_item(*, name: str, half_life_s: float, total_dose_bq: float | None, start):
    """One (0054,0016) *Radiopharmaceutical Information Sequence* item (start as a datetime or ISO string)."""
    from pydicom.dataset import Dataset

    from phantomqc.io.write import _ds

    rp = Dataset()
    rp.Radiopharmaceutical = name
    rp.RadionuclideHalfLife = _ds(half_life_s)
    if total_dose_bq is not None:
        rp.RadionuclideTotalDose = _ds(total_dose_bq)
    if start is not None:
        date, time = _dicom_date_time(start)
        rp.RadiopharmaceuticalStartTime = time
        rp.RadiopharmaceuticalStartDateTime = date + time
    return rp


def write_nm_tomo(path, projections: np.ndarray, *, spacing_mm: tuple[float, float], series_uid: str,
                  study_uid: str, start_angle_deg: float = 0.0, angular_step_deg: float | None = None,
                  rotation_direction: str = "CW", radial_position_mm: float = 200.0,
                  frame_duration_ms: float = 10000.0, series_description: str = "COR",
                  series_number: int = 1, header: dict[str, Any] | None = None):
    """Write SPECT projections as a classic multi-frame NM Image Storage TOMO acquisition (one detector, one
    rotation), counts as uint16.

    Parameters
    ----------
    path : str or Path
        Output file; its parent folder is created when missing.
    projections : ndarray, (n_angles, y, x), uint16
        One projection per gantry angle, in acquisition order.
    spacing_mm : (float, float)
        (0028,0030) *Pixel Spacing* (row, column) in mm.
    series_uid, study_uid : str
        UIDs of the series and study.
    start_angle_deg, angular_step_deg : float
        (0054,0200) *Start Angle* and (0018,1144) *Angular Step* of the (0054,0052) *Rotation Information
        Sequence*; the step defaults to 360 / n_angles. Frame i (from 0) was taken at start + i x step (CW) or
        start - i x step (CC), as ``phantomqc.io.read`` reads it back into ``meta.extra["gantry_angle_deg"]``.
    rotation_direction : "CW" or "CC"
        (0018,1140) *Rotation Direction*.
    radial_position_mm : float
        (0018,1142) *Radial Position* of every frame.
    frame_duration_ms : float
        (0018,1242) *Actual Frame Duration* of each projection.
    series_description : str
        (0008,103E).
    header : dict, optional
        DICOM keywords mapped to values, set last.

    Returns
    -------
    Path

    Notes
    -----
    The frames are indexed by (0028,0009) *Frame Increment Pointer* = Energy Window, Detector, Rotation and Angular
    View vectors (the NM TOMO rule of DICOM PS3.3 C.8.4.9.1.1); the frame angles are the Angular View Vector 1 ... n
    with the rotation's start angle and step. The Detector Information Sequence holds the frame-0 geometry.
    """
    from pathlib import Path

    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    from phantomqc.io.write import _apply_header, _ds, _image_pixel, _part10_dataset, new_uid

    path = Path(path)
    arr = np.asarray(projections)
    if arr.ndim != 3 or arr.dtype != np.uint16:
        raise ValueError(f"write_nm_tomo: projections must be a (n_angles, y, x) uint16 array; received "
                         f"{arr.dtype} {arr.shape}")
    if rotation_direction not in ("CW", "CC"):
        raise ValueError(f"write_nm_tomo: rotation_direction must be 'CW' or 'CC'; received {rotation_direction!r}")
    n = arr.shape[0]
    step = 360.0 / n if angular_step_deg is None else float(angular_step_deg)
    ds = _part10_dataset(NM_IMAGE_STORAGE, "NM", series_uid=series_uid, study_uid=study_uid, instance_number=1,
                         series_number=series_number, patient_name="PHANTOM^NM", model_name="phantomqc gamma camera",
                         device_serial="PQC-NM-0001", station_name="PHANTOMQC-NM")
    ds.SeriesDescription = series_description
    ds.ImageType = ["ORIGINAL", "PRIMARY", "TOMO", "EMISSION"]
    ds.FrameOfReferenceUID = new_uid()
    _image_pixel(ds, arr[0], 0)
    ds.NumberOfFrames = n
    ds.PixelSpacing = [_ds(spacing_mm[0]), _ds(spacing_mm[1])]
    ds.FrameIncrementPointer = [0x00540010, 0x00540020, 0x00540050, 0x00540090]
    ds.EnergyWindowVector = [1] * n
    ds.NumberOfEnergyWindows = 1
    ds.DetectorVector = [1] * n
    ds.NumberOfDetectors = 1
    ds.RotationVector = [1] * n
    ds.NumberOfRotations = 1
    ds.AngularViewVector = list(range(1, n + 1))
    det = Dataset()
    det.ImagePositionPatient = [_ds(v) for v in (-(arr.shape[2] - 1) / 2.0 * spacing_mm[1],
                                                 -(arr.shape[1] - 1) / 2.0 * spacing_mm[0], 0.0)]
    det.ImageOrientationPatient = [_ds(v) for v in (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)]
    det.RadialPosition = [_ds(radial_position_mm)] * n
    ds.DetectorInformationSequence = DicomSequence([det])
    rot = Dataset()
    rot.StartAngle = _ds(start_angle_deg)
    rot.AngularStep = _ds(step)
    rot.RotationDirection = rotation_direction
    rot.ScanArc = _ds(step * n)
    rot.ActualFrameDuration = round(frame_duration_ms)
    rot.NumberOfFramesInRotation = n
    rot.TableTraverse = _ds(0.0)
    ds.RotationInformationSequence = DicomSequence([rot])
    ds.ActualFrameDuration = round(frame_duration_ms)
    _apply_header(ds, header, "write_nm_tomo")
    little = arr.astype("<u2", copy=False)
    ds.add_new(0x7FE00010, "OW", np.ascontiguousarray(little).tobytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_nm_static(path, image: np.ndarray, *, spacing_mm: tuple[float, float], series_uid: str, study_uid: str,
                    acquisition_start, frame_duration_s: float, radiopharmaceutical: str = "Tc-99m pertechnetate",
                    half_life_s: float | None = 21624.9, series_description: str = "SENSITIVITY",
                    series_number: int = 1, header: dict[str, Any] | None = None):
    """Write one static planar NM image (a sensitivity or count-rate frame) with its acquisition timing.

    A thin layer over :func:`write_nm` that sets (0008,0022)/(0008,0032) *Acquisition Date/Time* to
    ``acquisition_start`` (a datetime or ISO 8601 string), (0018,1242) *Actual Frame Duration* (ms) and, when
    ``half_life_s`` is given, a (0054,0016) *Radiopharmaceutical Information Sequence* with (0018,1075)
    *Radionuclide Half Life* (Tc-99m: 21624.9 s). ``header`` entries are applied last. Returns the path."""
    from pydicom.sequence import Sequence as DicomSequence

    date, time = _dicom_date_time(acquisition_start)
    hdr: dict[str, Any] = {"AcquisitionDate": date, "AcquisitionTime": time, "SeriesDate": date, "SeriesTime": time,
                           "ActualFrameDuration": round(float(frame_duration_s) * 1000.0)}
    if half_life_s is not None:
        hdr["RadiopharmaceuticalInformationSequence"] = DicomSequence([_radiopharmaceutical_item(
            name=radiopharmaceutical, half_life_s=half_life_s, total_dose_bq=None, start=None)])
    hdr.update(header or {})
    return write_nm(path, image, spacing_mm=spacing_mm, series_uid=series_uid, study_uid=study_uid,
                    series_description=series_description, series_number=series_number, header=hdr)


def write_pt_volume(out_dir, volume_bq_per_ml: np.ndarray, *, spacing_mm: tuple[float, float, float],
                    series_uid: str, study_uid: str, frame_of_reference_uid: str, series_datetime,
                    injection_datetime, total_dose_bq: float, half_life_s: float = 6586.2,
                    patient_weight_kg: float, radiopharmaceutical: str = "Fluorodeoxyglucose",
                    series_description: str = "UNIFORM CYLINDER", prefix: str = "PT") -> list:
    """Write a PET volume (z, y, x) in Bq/ml, decay-corrected to the series start, one PT file per slice.

    Each slice goes through :func:`write_pt` (uint16 with a per-slice (0028,1053) *Rescale Slope*, (0054,1001)
    *Units* BQML, (0054,1102) *Decay Correction* START), with these set over its defaults: (0008,0021)/(0008,0031)
    *Series Date/Time* = ``series_datetime`` (the decay-correction reference of START), Acquisition Date/Time the
    same, (0010,1030) *Patient Weight* (kg) and a (0054,0016) *Radiopharmaceutical Information Sequence* with
    (0018,1074) *Radionuclide Total Dose* (Bq, at the start time), (0018,1078) *Radiopharmaceutical Start DateTime*
    = ``injection_datetime`` (and the Start Time), (0018,1075) *Radionuclide Half Life* (s). Slice k lies at z = k x
    dz. Returns the list of paths."""
    from pathlib import Path

    from pydicom.sequence import Sequence as DicomSequence

    out = Path(out_dir)
    vol = np.asarray(volume_bq_per_ml, dtype=np.float64)
    if vol.ndim != 3:
        raise ValueError(f"write_pt_volume: volume_bq_per_ml must be (z, y, x); received shape {vol.shape}")
    dz, dy, dx = (float(s) for s in spacing_mm)
    date, time = _dicom_date_time(series_datetime)
    paths = []
    for k in range(vol.shape[0]):
        hdr = {"SeriesDate": date, "SeriesTime": time, "AcquisitionDate": date, "AcquisitionTime": time,
               "PatientWeight": float(patient_weight_kg),
               "RadiopharmaceuticalInformationSequence": DicomSequence([_radiopharmaceutical_item(
                   name=radiopharmaceutical, half_life_s=half_life_s, total_dose_bq=total_dose_bq,
                   start=injection_datetime)])}
        paths.append(write_pt(out / f"{prefix}{k + 1:04d}.dcm", vol[k], spacing_mm=(dy, dx),
                              position_mm=(0.0, 0.0, k * dz), series_uid=series_uid, study_uid=study_uid,
                              frame_of_reference_uid=frame_of_reference_uid, instance_number=k + 1,
                              n_slices=vol.shape[0], slice_thickness_mm=dz, series_description=series_description,
                              header=hdr))
    return paths
