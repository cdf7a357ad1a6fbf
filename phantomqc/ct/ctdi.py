"""CTDIw and CTDIvol (WS 519-2019) from calibrated pencil-chamber readings in a CTDI phantom.

The readings are not in the images: the manifest gives the calibrated CTDI100 at the centre hole and at the four
peripheral holes of the 16 cm (head) or 32 cm (body) PMMA phantom. One image of the scan may be given; the
CTDIvol its header displays, (0018,9345) *CTDIvol*, is then recorded beside the measured value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from phantomqc._shared.errors import InputError
from phantomqc.core.registry import TestOutput
from phantomqc.core.types import ImageData, Measurement, Quantity

__all__ = ["CTDIResult", "ctdi_w", "ctdi_vol", "ctdi", "run", "PHANTOM_DIAMETER_MM"]

PHANTOM_DIAMETER_MM = {"head": 160.0, "body": 320.0}
"""Diameter of the standard PMMA CTDI phantoms (IEC 60601-2-44)."""


@dataclass(frozen=True)
class CTDIResult:
    """CTDIw and CTDIvol with the readings they came from.

    ``displayed_ctdivol_mgy`` is the (0018,9345) CTDIvol of the image given with the test (``None`` without
    one); ``displayed_vs_measured_percent`` = (displayed - measured) / measured x 100 %.
    """

    ctdiw_mgy: Quantity
    ctdivol_mgy: Quantity
    center_mgy: float
    peripheral_mgy: tuple[float, float, float, float]
    peripheral_mean_mgy: float
    pitch: float
    phantom: str
    displayed_ctdivol_mgy: float | None = None
    displayed_vs_measured_percent: float | None = None
    warnings: tuple[str, ...] = ()


def _positive(value, field: str, what: str, fix: str = "give the calibrated reading in mGy") -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{field}: {what} must be a number, got {value!r}; {fix}") from None
    if not (math.isfinite(v) and v > 0):
        raise InputError(f"{field}: {what} must be a positive finite number, got {value!r}; {fix}")
    return v


def _readings(center_mgy, peripheral_mgy) -> tuple[float, tuple[float, ...]]:
    c = _positive(center_mgy, "center_mgy", "the calibrated CTDI100 at the centre hole")
    try:
        ps = None if isinstance(peripheral_mgy, (str, bytes)) else list(peripheral_mgy)
    except TypeError:
        ps = None
    if ps is None:
        raise InputError(f"peripheral_mgy: 4 peripheral readings (12, 3, 6 and 9 o'clock) are required, got "
                         f"{peripheral_mgy!r}; give a list of four values in mGy")
    if len(ps) != 4:
        raise InputError(f"peripheral_mgy: 4 peripheral readings (12, 3, 6 and 9 o'clock) are required, got "
                         f"{len(ps)}: {ps!r}; measure all four holes (WS 519-2019)")
    return c, tuple(_positive(p, "peripheral_mgy", f"reading #{i + 1}") for i, p in enumerate(ps))


def ctdi_w(center_mgy: float, peripheral_mgy: Sequence[float]) -> Quantity:
    """Weighted CTDI from the centre and the four peripheral CTDI100 readings.

    Parameters
    ----------
    center_mgy : float
        Calibrated CTDI100 at the centre hole, mGy (> 0).
    peripheral_mgy : sequence of 4 floats
        Calibrated CTDI100 at the 12, 3, 6 and 9 o'clock holes, mGy (> 0).

    Returns
    -------
    Quantity
        CTDIw in mGy (no uncertainty: the dosimeter's is not known here).

    Raises
    ------
    InputError
        Not exactly four peripheral readings, or a reading that is not a positive finite number; the message
        names the field.

    Notes
    -----
    CTDIw = (C + 2 P) / 3 = C/3 + (2/3) P, with C the centre reading and P the mean of the four peripheral
    readings: the centre stands for one third of the phantom's cross-section, the periphery for two thirds.

    References
    ----------
    WS 519-2019, CTDIw. IEC 60601-2-44, weighted CTDI.

    Examples
    --------
    >>> ctdi_w(30.0, [45.0, 45.0, 45.0, 45.0]).value
    40.0
    """
    c, ps = _readings(center_mgy, peripheral_mgy)
    p_mean = math.fsum(ps) / 4.0
    return Quantity((c + 2.0 * p_mean) / 3.0, "mGy")


def ctdi_vol(ctdiw_mgy: float, pitch: float = 1.0) -> Quantity:
    """CTDIvol = CTDIw / pitch (mGy). ``pitch`` > 0; 1 for an axial scan whose table increment equals the
    total collimation. Raises ``InputError`` naming ``pitch`` otherwise.

    References
    ----------
    WS 519-2019, CTDIw (CTDIvol = CTDIw / pitch). IEC 60601-2-44.

    Examples
    --------
    >>> ctdi_vol(40.0, 0.8).value
    50.0
    """
    p = _positive(pitch, "pitch", "the pitch", "give table feed per rotation / total collimation (1 for axial)")
    return Quantity(float(ctdiw_mgy) / p, "mGy")


def ctdi(center_mgy: float, peripheral_mgy: Sequence[float], *, pitch: float = 1.0, phantom: str = "head",
         displayed_ctdivol_mgy: float | None = None) -> CTDIResult:
    """CTDIw, CTDIvol and, when known, the comparison with the scanner's displayed CTDIvol.

    Parameters
    ----------
    center_mgy, peripheral_mgy
        See ``ctdi_w``.
    pitch : float
        Helical pitch (table feed per rotation / total collimation); 1 for axial scans.
    phantom : {"head", "body"}
        The 16 cm or 32 cm CTDI phantom the readings were taken in.
    displayed_ctdivol_mgy : float, optional
        The CTDIvol the scanner displayed, e.g. from (0018,9345) of an image of the scan.

    Returns
    -------
    CTDIResult

    Notes
    -----
    CTDIw = (C + 2 P)/3, P = (P12 + P3 + P6 + P9)/4; CTDIvol = CTDIw / pitch;
    displayed vs measured = (CTDIvol_displayed - CTDIvol) / CTDIvol x 100 %.

    References
    ----------
    WS 519-2019, CTDIw.
    """
    if phantom not in PHANTOM_DIAMETER_MM:
        raise InputError(f"phantom must be one of {', '.join(PHANTOM_DIAMETER_MM)}, got {phantom!r}")
    c, ps = _readings(center_mgy, peripheral_mgy)
    w = ctdi_w(c, ps)
    vol = ctdi_vol(w.value, pitch)
    warnings: list[str] = []
    shown = pct = None
    if displayed_ctdivol_mgy is not None:
        shown = float(displayed_ctdivol_mgy)
        if math.isfinite(shown) and shown > 0:
            pct = (shown - vol.value) / vol.value * 100.0
        else:
            warnings.append(f"the displayed CTDIvol {displayed_ctdivol_mgy!r} is not a positive number; it is not "
                            f"compared with the measurement")
            shown = None
    return CTDIResult(ctdiw_mgy=w, ctdivol_mgy=vol, center_mgy=c, peripheral_mgy=ps,  # type: ignore[arg-type]
                      peripheral_mean_mgy=math.fsum(ps) / 4.0, pitch=float(pitch), phantom=phantom,
                      displayed_ctdivol_mgy=shown, displayed_vs_measured_percent=pct, warnings=tuple(warnings))


def run(images: list[ImageData], params: dict) -> TestOutput:
    """Runner for the manifest kind ``ct.ctdi`` (zero or one image)."""
    if "center_mgy" not in params or params.get("center_mgy") is None:
        raise InputError("center_mgy: the calibrated CTDI100 at the centre hole is required (mGy)")
    if "peripheral_mgy" not in params or params.get("peripheral_mgy") is None:
        raise InputError("peripheral_mgy: 4 peripheral readings (12, 3, 6 and 9 o'clock) are required (mGy)")
    pitch = params.get("pitch")
    phantom = params.get("phantom") or "head"
    warnings: list[str] = []
    displayed = None
    image_path = None
    if images:
        meta = images[0].meta
        image_path = meta.path
        if meta.modality and meta.modality != "CT":
            warnings.append(f"{meta.path}: the image's modality is {meta.modality!r}, not CT")
        displayed = meta.extra.get("ctdi_vol_mgy")
        if displayed is None:
            warnings.append(f"{meta.path}: the image has no (0018,9345) CTDIvol; the displayed value is not "
                            f"compared with the measurement")
    res = ctdi(params["center_mgy"], params["peripheral_mgy"], pitch=1.0 if pitch is None else pitch,
               phantom=phantom, displayed_ctdivol_mgy=displayed)
    warnings += list(res.warnings)
    note = None
    if res.displayed_vs_measured_percent is not None:
        note = (f"displayed (0018,9345) CTDIvol {res.displayed_ctdivol_mgy:.4g} mGy vs measured "
                f"{res.ctdivol_mgy.value:.4g} mGy: {res.displayed_vs_measured_percent:+.1f} %; the scanner "
                f"displays CTDIvol for its own reference phantom, check that it is the {phantom} phantom")
    ms = (Measurement.of("ct.ctdi.ctdiw_mgy", res.ctdiw_mgy, label=phantom),
          Measurement.of("ct.ctdi.ctdivol_mgy", res.ctdivol_mgy, label=phantom, note=note))
    parameters = {"center_mgy": res.center_mgy, "peripheral_mgy": list(res.peripheral_mgy),
                  "peripheral_mean_mgy": res.peripheral_mean_mgy, "pitch": res.pitch, "phantom": phantom,
                  "phantom_diameter_mm": PHANTOM_DIAMETER_MM[phantom], "formula": "CTDIw = (C + 2 P)/3; "
                  "CTDIvol = CTDIw / pitch", "displayed_ctdivol_mgy": res.displayed_ctdivol_mgy,
                  "displayed_vs_measured_percent": res.displayed_vs_measured_percent, "image": image_path}
    return TestOutput(measurements=ms, details=res, visuals=(), warnings=tuple(warnings), parameters=parameters,
                      phantom=f"ctdi_{phantom}", analyzer="ct.ctdi")
