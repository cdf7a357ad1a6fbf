"""MR acquisition attributes of one image or enhanced-MR frame, from its pydicom dataset.

Shared by ``io.read`` (which stores them in ``ImageMeta.extra`` when it decodes an MR image) and
``phantomqc.mr._series`` (which reads them from the file when a caller built the ImageData another way). The top
level is looked at first, then the *Per-frame* and *Shared Functional Groups* (enhanced MR) for the frame.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MR_EXTRA_KEYS", "mr_fields"]

#: ``meta.extra`` key -> (DICOM keyword, tag, functional-group sequence that holds it in enhanced MR or None)
MR_EXTRA_KEYS: dict[str, tuple[str, str, str | None]] = {
    "magnetic_field_strength_t": ("MagneticFieldStrength", "(0018,0087)", None),
    "imaging_frequency_mhz": ("ImagingFrequency", "(0018,0084)", None),
    "repetition_time_ms": ("RepetitionTime", "(0018,0080)", "MRTimingAndRelatedParametersSequence"),
    "echo_time_ms": ("EchoTime", "(0018,0081)", None),
    "effective_echo_time_ms": ("EffectiveEchoTime", "(0018,9082)", "MREchoSequence"),
    "flip_angle_deg": ("FlipAngle", "(0018,1314)", "MRTimingAndRelatedParametersSequence"),
    "pixel_bandwidth_hz": ("PixelBandwidth", "(0018,0095)", "MRImagingModifierSequence"),
    "number_of_averages": ("NumberOfAverages", "(0018,0083)", "MRAveragesSequence"),
    "acquisition_matrix": ("AcquisitionMatrix", "(0018,1310)", None),
    "phase_encoding_direction": ("InPlanePhaseEncodingDirection", "(0018,1312)", "MRFOVGeometrySequence"),
    "receive_coil_name": ("ReceiveCoilName", "(0018,1250)", "MRReceiveCoilSequence"),
    "transmit_coil_name": ("TransmitCoilName", "(0018,1251)", "MRTransmitCoilSequence"),
    "scanning_sequence": ("ScanningSequence", "(0018,0020)", None),
    "sequence_name": ("SequenceName", "(0018,0024)", None),
    "pulse_sequence_name": ("PulseSequenceName", "(0018,9005)", None),
    "spacing_between_slices_mm": ("SpacingBetweenSlices", "(0018,0088)", "PixelMeasuresSequence"),
}


def _fg_value(ds, keyword: str, seq: str | None, frame: int | None) -> Any:
    if keyword in ds:
        return ds.get(keyword)
    if seq is None:
        return None
    for fg_name, idx in (("PerFrameFunctionalGroupsSequence", frame if frame is not None else 0),
                         ("SharedFunctionalGroupsSequence", 0)):
        fg = ds.get(fg_name)
        if fg is None or len(fg) <= idx:
            continue
        item = fg[idx].get(seq)
        if item is None or len(item) == 0:
            continue
        if keyword in item[0]:
            return item[0].get(keyword)
    return None


def mr_fields(ds, frame: int | None, keys=None) -> dict[str, Any]:
    """The :data:`MR_EXTRA_KEYS` fields present in ``ds`` (for ``frame`` of an enhanced object), typed."""
    out: dict[str, Any] = {}
    for k in (MR_EXTRA_KEYS if keys is None else keys):
        kw, _tag, seq = MR_EXTRA_KEYS[k]
        v = _fg_value(ds, kw, seq, frame)
        if v is None or v == "":
            continue
        if k == "acquisition_matrix":
            try:
                out[k] = tuple(int(x) for x in v)
            except (TypeError, ValueError):
                pass
        elif k in ("phase_encoding_direction", "receive_coil_name", "transmit_coil_name", "scanning_sequence",
                   "sequence_name", "pulse_sequence_name"):
            out[k] = "\\".join(str(x) for x in v) if not isinstance(v, str) and hasattr(v, "__iter__") else str(v)
        else:
            try:
                out[k] = float(v)
            except (TypeError, ValueError):
                pass
    return out
