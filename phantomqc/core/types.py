"""The plain data that flows between the layers.

- ``Quantity``: a value with its unit and, where known, its standard uncertainty.
- ``Measurement``: one reported number, with a metric id of the form ``modality.test.quantity``.
- ``Verdict``: the standards layer's judgement of one measurement.
- ``ImageMeta`` / ``ImageData``: one decoded 2-D image, pixels after the modality rescale, spacing in mm.
- ``AnalysisResult``: everything one analysis produced, which the JSON contract serialises.

All are frozen dataclasses, validated when created.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = [
    "Quantity",
    "Measurement",
    "Verdict",
    "VerdictStatus",
    "TestType",
    "TEST_TYPES",
    "ImageMeta",
    "ImageData",
    "InputInfo",
    "AnalysisResult",
]

_METRIC_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+){2,}$")

TestType = Literal["acceptance", "status", "stability"]
TEST_TYPES: tuple[str, ...] = ("acceptance", "status", "stability")
VerdictStatus = Literal["pass", "fail", "not_evaluated"]


def _as_float(value: Any, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a real number, got {value!r} ({type(value).__name__})") from None
    return out


@dataclass(frozen=True)
class Quantity:
    """A value with a unit. ``unit`` is a plain string such as ``"mm"``, ``"%"``, ``"HU"``, ``"1"``."""

    value: float
    unit: str
    uncertainty: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _as_float(self.value, "Quantity.value"))
        if not isinstance(self.unit, str):
            raise TypeError(f"Quantity.unit must be a string, got {self.unit!r}")
        if self.uncertainty is not None:
            u = _as_float(self.uncertainty, "Quantity.uncertainty")
            if u < 0 or math.isnan(u):
                raise ValueError(f"Quantity.uncertainty must be >= 0, got {u}")
            object.__setattr__(self, "uncertainty", u)

    def __str__(self) -> str:
        unc = "" if self.uncertainty is None else f" ± {self.uncertainty:.4g}"
        unit = "" if self.unit in ("", "1") else f" {self.unit}"
        return f"{self.value:.6g}{unc}{unit}"


@dataclass(frozen=True)
class Measurement:
    """One reported number.

    ``id`` is ``modality.test.quantity`` (lower case, dots), e.g. ``dr.dark_noise.mean_pv``.
    ``label`` distinguishes several values of one metric (``"horizontal"``, ``"sphere_10mm"``).
    A value may be NaN only when ``note`` says why; the standards layer then gives ``not_evaluated``.
    """

    id: str
    value: float
    unit: str
    label: str | None = None
    uncertainty: float | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _METRIC_ID.match(self.id):
            raise ValueError(
                f"Measurement id must look like 'modality.test.quantity' in lower case, got {self.id!r}")
        object.__setattr__(self, "value", _as_float(self.value, f"Measurement {self.id} value"))
        if not math.isfinite(self.value) and not self.note:
            raise ValueError(f"Measurement {self.id} is {self.value}; a non-finite value needs a note saying why")
        if self.uncertainty is not None:
            object.__setattr__(self, "uncertainty", _as_float(self.uncertainty, f"{self.id} uncertainty"))
        if self.label is not None and not isinstance(self.label, str):
            raise TypeError(f"Measurement {self.id} label must be a string or None, got {self.label!r}")

    @classmethod
    def of(cls, id: str, q: Quantity, label: str | None = None, note: str | None = None) -> "Measurement":
        """Build from a ``Quantity``."""
        return cls(id=id, value=q.value, unit=q.unit, label=label, uncertainty=q.uncertainty, note=note)

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.id, self.label)

    def to_dict(self) -> dict:
        d = {"id": self.id, "label": self.label, "value": _json_float(self.value), "unit": self.unit,
             "uncertainty": None if self.uncertainty is None else _json_float(self.uncertainty)}
        if self.note:
            d["note"] = self.note
        return d


def _json_float(x: float) -> float | None:
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class Verdict:
    """The judgement of one measurement against one criterion of a profile."""

    measurement: str
    label: str | None
    status: VerdictStatus
    criterion: str
    source: str
    reason: str | None = None
    value: float | None = None
    unit: str | None = None
    test_type: str | None = None
    confirmed: bool = True
    reference: float | None = None
    has_criterion: bool = True  # False: the profile sets no limit for this metric (an informational value)

    def __post_init__(self) -> None:
        if self.status not in ("pass", "fail", "not_evaluated"):
            raise ValueError(f"Verdict status must be pass, fail or not_evaluated, got {self.status!r}")
        if self.status == "not_evaluated" and not self.reason:
            raise ValueError(f"not_evaluated verdict for {self.measurement} needs a reason")

    def to_dict(self) -> dict:
        return {"measurement": self.measurement, "label": self.label, "status": self.status,
                "criterion": self.criterion, "source": self.source, "reason": self.reason,
                "value": None if self.value is None else _json_float(self.value), "unit": self.unit,
                "test_type": self.test_type, "confirmed": self.confirmed,
                "reference": None if self.reference is None else _json_float(self.reference),
                "has_criterion": self.has_criterion}


@dataclass(frozen=True)
class ImageMeta:
    """What the analysis needs from the DICOM header of one image (or one frame).

    ``spacing_source`` says which attribute gave the spacing: ``"ImagerPixelSpacing"`` (detector plane,
    projection images), ``"PixelSpacing"``, ``"PixelSpacing (calibrated)"``, ``"NominalScannedPixelSpacing"``,
    ``"PixelMeasuresSequence"`` (enhanced objects) or ``"manual"``.
    ``presentation_intent`` is ``"FOR PROCESSING"``, ``"FOR PRESENTATION"`` or ``None`` when the header
    does not say.
    """

    path: str
    modality: str
    sop_instance_uid: str = ""
    sop_class_uid: str = ""
    series_instance_uid: str = ""
    study_instance_uid: str = ""
    frame_index: int | None = None
    manufacturer: str = ""
    model: str = ""
    station_name: str = ""
    device_serial_number: str = ""
    acquisition_datetime: str = ""
    source_ae_title: str = ""  # (0002,0016) of the file meta: the AE that wrote or sent the file
    series_description: str = ""
    image_comments: str = ""
    spacing_source: str = ""
    presentation_intent: str | None = None
    photometric_interpretation: str = ""
    transfer_syntax_uid: str = ""
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    rescale_type: str = ""
    bits_stored: int = 16
    stored_dtype: str = "uint16"
    image_position_patient: tuple[float, float, float] | None = None
    image_orientation_patient: tuple[float, ...] | None = None
    slice_thickness_mm: float | None = None
    instance_number: int | None = None
    exposure_index: float | None = None
    target_exposure_index: float | None = None
    deviation_index: float | None = None
    kvp: float | None = None
    exposure_uas: float | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ImageData:
    """One 2-D image. ``pixels`` is float32 ``(y, x)`` after the modality rescale; ``spacing_mm`` is
    ``(row spacing, column spacing)`` in mm."""

    pixels: np.ndarray
    spacing_mm: tuple[float, float]
    meta: ImageMeta

    def __post_init__(self) -> None:
        if not isinstance(self.pixels, np.ndarray) or self.pixels.ndim != 2:
            raise ValueError(f"ImageData.pixels must be a 2-D array, got "
                             f"{getattr(self.pixels, 'shape', type(self.pixels))} ({self.meta.path})")
        sy, sx = (float(s) for s in self.spacing_mm)
        if not (sy > 0 and sx > 0 and math.isfinite(sy) and math.isfinite(sx)):
            raise ValueError(f"spacing_mm must be two positive numbers, got {self.spacing_mm} ({self.meta.path})")
        object.__setattr__(self, "spacing_mm", (sy, sx))

    @property
    def shape(self) -> tuple[int, int]:
        return self.pixels.shape  # type: ignore[return-value]


@dataclass(frozen=True)
class InputInfo:
    """The ``input`` object of the JSON contract."""

    paths: tuple[str, ...]
    series_instance_uid: str = ""
    modality: str = ""
    manufacturer: str = ""
    station_name: str = ""
    device_serial_number: str = ""
    acquisition_datetime: str = ""
    sop_instance_uids: tuple[str, ...] = ()
    spacing_source: str = ""
    presentation_intent: str | None = None
    model: str = ""
    source_ae_title: str = ""

    @classmethod
    def from_images(cls, images: "list[ImageData] | tuple[ImageData, ...]", paths=None) -> "InputInfo":
        metas = [im.meta for im in images]
        first = metas[0] if metas else None
        return cls(
            paths=tuple(paths if paths is not None else dict.fromkeys(m.path for m in metas)),
            series_instance_uid=first.series_instance_uid if first else "",
            modality=first.modality if first else "",
            manufacturer=first.manufacturer if first else "",
            station_name=first.station_name if first else "",
            device_serial_number=first.device_serial_number if first else "",
            acquisition_datetime=first.acquisition_datetime if first else "",
            sop_instance_uids=tuple(m.sop_instance_uid for m in metas),
            spacing_source=first.spacing_source if first else "",
            presentation_intent=first.presentation_intent if first else None,
            model=first.model if first else "",
            source_ae_title=first.source_ae_title if first else "",
        )

    def to_dict(self) -> dict:
        return {"paths": list(self.paths), "series_instance_uid": self.series_instance_uid,
                "modality": self.modality, "manufacturer": self.manufacturer,
                "station_name": self.station_name, "device_serial_number": self.device_serial_number,
                "acquisition_datetime": self.acquisition_datetime,
                "sop_instance_uids": list(self.sop_instance_uids),
                "spacing_source": self.spacing_source, "presentation_intent": self.presentation_intent,
                "model": self.model, "source_ae_title": self.source_ae_title}


@dataclass(frozen=True)
class AnalysisResult:
    """One entry of ``analyses`` in the JSON contract.

    ``details`` holds the analyzer's own frozen result object (ROIs, profiles, curves) for the report;
    it is not serialised. ``visuals`` are the figure specifications (``phantomqc.core.visuals``)."""

    input: InputInfo
    analyzer: str
    kind: str
    phantom: str | None = None
    identified_by: str = ""
    measurements: tuple[Measurement, ...] = ()
    verdicts: tuple[Verdict, ...] = ()
    warnings: tuple[str, ...] = ()
    error: dict | None = None
    figures: tuple[str, ...] = ()
    parameters: dict = field(default_factory=dict)
    details: Any = None
    visuals: tuple = ()
    device: dict = field(default_factory=dict)  # the manifest's [device] table: overrides the DICOM tags
    judged_with: dict = field(default_factory=dict)  # {"profile": id, "profile_version": ..., "test_type": ...}

    def to_dict(self) -> dict:
        return {
            "input": self.input.to_dict(),
            "analyzer": self.analyzer,
            "kind": self.kind,
            "phantom": self.phantom,
            "identified_by": self.identified_by,
            "parameters": _jsonable(self.parameters),
            "measurements": [m.to_dict() for m in self.measurements],
            "verdicts": [v.to_dict() for v in self.verdicts],
            "warnings": list(self.warnings),
            "error": self.error,
            "figures": list(self.figures),
            "device": _jsonable(self.device),
            "judged_with": _jsonable(self.judged_with),
        }


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)
