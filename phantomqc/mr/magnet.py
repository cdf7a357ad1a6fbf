"""Runners of the single-object MR tests: the SNR pair, the flood (uniformity) image, ghosting and slice width.

Each runner takes the images of one test (a manifest ``[[test]]`` block or an identified series) and returns a
:class:`~phantomqc.core.registry.TestOutput`. The measurements come from the pure functions of ``snr``,
``uniformity``, ``ghosting`` and ``slice_thickness``; here they are only composed, with the acquisition parameters
read from the headers (:func:`phantomqc.mr._series.mr_series`).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from phantomqc._shared.errors import InputError
from phantomqc.core.registry import TestOutput
from phantomqc.core.types import ImageData, Measurement
from phantomqc.mr._series import MrSeries, mr_series
from phantomqc.mr.magnet_visuals import (
    flood_visuals,
    ghosting_visuals,
    slice_width_visuals,
    snr_pair_visuals,
    visuals_or_warning,
)

__all__ = ["run_snr_pair", "run_flood", "run_ghosting", "run_slice_width", "normalised", "header_measurements"]


def _q(metric: str, q: Any, *, label: str | None = None, note: str = "") -> Measurement:
    value = getattr(q, "value", q)
    unc = getattr(q, "uncertainty", None)
    unit = getattr(q, "unit", None) or "1"
    return Measurement(metric, float(value), unit, label=label, uncertainty=unc, note=note or None)


def header_measurements(s: MrSeries) -> list[Measurement]:
    """Field strength and resonance frequency from the header (for the field-dependent limits and the drift)."""
    out = []
    if s.field_strength_t is not None and math.isfinite(s.field_strength_t):
        out.append(Measurement("mr.field_strength.t", float(s.field_strength_t), "T",
                               note="(0018,0087) Magnetic Field Strength"))
    if s.frequency_hz is not None and math.isfinite(s.frequency_hz):
        out.append(Measurement("mr.frequency.hz", float(s.frequency_hz), "Hz", note="(0018,0084) Imaging Frequency"))
    return out


def normalised(snr_value: float, s: MrSeries, *, label: str) -> tuple[Measurement | None, str | None]:
    """``mr.snr.normalised`` from a measured SNR and the series' parameters; None and the reason when a parameter
    is missing."""
    from phantomqc.mr.snr import normalised_snr

    need = {"slice thickness (0018,0050)": s.slice_thickness_mm, "averages (0018,0083)": s.averages,
            "pixel bandwidth (0018,0095)": s.bandwidth_hz_per_px, "repetition time (0018,0080)": s.tr_ms}
    missing = [k for k, v in need.items() if v is None]
    if missing:
        return None, f"normalised SNR ({label}) not computed: the header lacks {', '.join(missing)}"
    rows, cols = s.matrix
    res = normalised_snr(snr_value, pixel_spacing_mm=s.spacing_mm, slice_thickness_mm=s.slice_thickness_mm,
                         n_averages=s.averages, n_phase_encoding=rows, n_frequency_encoding=cols,
                         bandwidth_hz_per_pixel=s.bandwidth_hz_per_px, repetition_time_ms=s.tr_ms)
    return _q("mr.snr.normalised", res.normalised_snr, label=label,
              note="MagNET normalisation: 1 ml voxel, 1 s acquisition, ±30 kHz (rows taken as phase steps)"), None


def _phase(s: MrSeries, params: dict) -> str:
    p = (params.get("phase_encoding") or s.phase_encoding or "").upper()
    if p not in ("ROW", "COL"):
        raise InputError("the phase-encoding direction is unknown: (0018,1312) In-plane Phase Encoding Direction is "
                         "absent; give phase_encoding = 'ROW' or 'COL' in the manifest")
    return p


def _single(images: Sequence[ImageData], kind: str) -> tuple[MrSeries, ImageData]:
    s = mr_series(images, kind=kind)
    return s, s.images[len(s.images) // 2]


def run_snr_pair(images: list[ImageData], params: dict) -> TestOutput:
    """Two repeated acquisitions of a flood object: subtraction SNR (NEMA MS 1), smoothing SNR of the first,
    both normalised (MagNET)."""
    from phantomqc.mr.localize import find_phantom
    from phantomqc.mr.snr import snr_smoothing, snr_subtraction

    if len(images) != 2:
        raise InputError(f"mr.snr_pair needs exactly 2 images (two repeated acquisitions), got {len(images)}")
    a = mr_series(images[:1], kind="mr.snr_pair")
    b = mr_series(images[1:], kind="mr.snr_pair")
    if a.images[0].pixels.shape != b.images[0].pixels.shape:
        raise InputError("the two SNR images have different matrices "
                         f"{a.images[0].pixels.shape} and {b.images[0].pixels.shape}")
    im1, im2 = a.images[0].pixels, b.images[0].pixels
    circle = find_phantom(im1, a.spacing_mm)
    kernel = int(params.get("smoothing_kernel_px") or 9)
    sub = snr_subtraction(im1, im2, a.spacing_mm, center_px=circle.center_px)
    smo = snr_smoothing(im1, a.spacing_mm, center_px=circle.center_px, kernel_px=kernel)
    ms = [_q("mr.snr.subtraction", sub.snr), _q("mr.snr.smoothing", smo.snr)]
    warnings = list(a.warnings) + list(sub.warnings) + list(smo.warnings)
    for value, label in ((sub.snr.value, "subtraction"), (smo.snr.value, "smoothing")):
        m, why = normalised(value, a, label=label)
        if m is not None:
            ms.append(m)
        else:
            warnings.append(why)
    ms += header_measurements(a)
    parameters: dict = {"smoothing_kernel_px": kernel}
    offset = _stored_offset_equivalent(a, b, circle.center_px, kernel)
    if offset is not None:
        parameters["stored_value_snr"], note = offset
        warnings.append(note)
    vis, vis_warnings = visuals_or_warning(snr_pair_visuals, im1, im2, a.spacing_mm, sub, smo, circle=circle)
    return TestOutput(measurements=tuple(ms), details={"subtraction": sub, "smoothing": smo, "circle": circle},
                      visuals=vis, warnings=tuple(warnings) + vis_warnings, parameters=parameters, phantom="flood",
                      analyzer="mr.snr_pair")


def _stored_offset_equivalent(a: MrSeries, b: MrSeries, center_px, kernel: int) -> tuple[dict, str] | None:
    """The SNR a tool that ignores the Modality LUT would report, when the stored values carry an offset.

    Some files store a signed (real-valued) image as unsigned values shifted by a constant, and undo the shift
    with (0028,1052) *Rescale Intercept* (Philips real images: stored 2047.5 is 0, intercept -5053 at slope 2.47).
    phantomqc measures on the rescaled values, as DICOM defines them. A tool that reads the stored values (hazen,
    MATLAB ``dicomread``) measures a signal that includes the shift, and its SNR is larger by about
    shift / noise SD. The same methods are run on the stored values here so that a physicist can compare with
    such a tool's history; the reported measurements are not changed. None when there is no intercept.
    """
    from phantomqc.mr.snr import snr_smoothing, snr_subtraction

    ma, mb = a.images[0].meta, b.images[0].meta
    if ma.rescale_intercept == 0.0 and mb.rescale_intercept == 0.0:
        return None
    stored = [(im.pixels.astype(np.float64) - m.rescale_intercept) / (m.rescale_slope or 1.0)
              for im, m in ((a.images[0], ma), (b.images[0], mb))]
    sub = snr_subtraction(stored[0], stored[1], a.spacing_mm, center_px=center_px)
    smo = snr_smoothing(stored[0], a.spacing_mm, center_px=center_px, kernel_px=kernel)
    values: dict = {"subtraction": sub.snr.value, "smoothing": smo.snr.value}
    for label in ("subtraction", "smoothing"):
        m, _ = normalised(values[label], a, label=label)
        if m is not None:
            values[f"normalised_{label}"] = m.value
    shift = -ma.rescale_intercept / (ma.rescale_slope or 1.0)
    shown = ", ".join(f"{k.replace('_', ' ')} {v:.4g}" for k, v in values.items())
    note = (f"the stored pixel values carry an offset: (0028,1052) Rescale Intercept {ma.rescale_intercept:g} at "
            f"slope {ma.rescale_slope:.4g} maps stored {shift:.1f} to 0. SNR is measured on the rescaled values; "
            f"on the stored values, as tools that ignore the rescale compute it, it would be: {shown}")
    return {"rescale_intercept": ma.rescale_intercept, "rescale_slope": ma.rescale_slope,
            "stored_zero": shift, **values}, note


def run_flood(images: list[ImageData], params: dict) -> TestOutput:
    """A flood (uniform) object image: uniformity (IPEM fractional, WS/T 263, NEMA MS 3) and single-image and
    WS/T 263 SNR."""
    from phantomqc.mr.localize import find_phantom
    from phantomqc.mr.snr import snr_single_image, snr_wst263
    from phantomqc.mr.uniformity import ipem_fractional_uniformity, nema_ms3_uniformity, wst263_uniformity

    s, im = _single(images, "mr.flood")
    px = im.pixels
    circle = find_phantom(px, s.spacing_mm)
    c, r = circle.center_px, circle.radius_mm
    gap = float(params.get("edge_gap_mm") or 10.0)
    frac = ipem_fractional_uniformity(px, s.spacing_mm)
    # WS/T 263, NEMA MS 3 and the single-image SNR place their ROIs in the object mask (a rectangle for a sagittal
    # or coronal cylinder, a bubble cut out), not in the fitted circle: they are given no centre or radius
    wst = wst263_uniformity(px, s.spacing_mm, edge_gap_mm=gap)
    ms3 = nema_ms3_uniformity(px, s.spacing_mm)
    ms = [_q("mr.uniformity.fractional", frac.horizontal, label="horizontal"),
          _q("mr.uniformity.fractional", frac.vertical, label="vertical"),
          _q("mr.uniformity.wst263_percent", wst.uniformity_percent),
          _q("mr.uniformity.nema_ms3_percent", ms3.nonuniformity_percent)]
    warnings = list(s.warnings) + list(wst.warnings) + [w for w in ms3.warnings if w not in wst.warnings]
    details: dict = {"circle": circle, "fractional": frac, "wst263": wst, "nema_ms3": ms3}
    snr_calls = (("single_image", "single_image", lambda: snr_single_image(px, s.spacing_mm)),
                 ("wst263", "snr_wst263", lambda: snr_wst263(px, s.spacing_mm, center_px=c, radius_mm=r)))
    for name, key, call in snr_calls:
        try:
            res = call()
        except InputError as exc:  # e.g. no background left in a tight field of view
            warnings.append(f"{name} SNR not computed: {exc.cause}")
            continue
        details[key] = res
        ms.append(_q(f"mr.snr.{name}", res.snr))
        warnings += [w for w in res.warnings if w not in warnings]
    ms += header_measurements(s)
    vis, vis_warnings = visuals_or_warning(flood_visuals, px, s.spacing_mm, fractional=frac, wst263=wst, nema_ms3=ms3,
                                           single_image=details.get("single_image"),
                                           snr_wst263=details.get("snr_wst263"))
    return TestOutput(measurements=tuple(ms), details=details, visuals=vis, warnings=tuple(warnings) + vis_warnings,
                      parameters={"edge_gap_mm": gap, "roi_placement": wst.parameters["roi_placement"]},
                      phantom="flood", analyzer="mr.flood")


def run_ghosting(images: list[ImageData], params: dict) -> TestOutput:
    """MagNET small-bottle ghosting along the phase-encode direction."""
    from phantomqc.mr.ghosting import small_bottle_ghosting

    s, im = _single(images, "mr.ghosting")
    res = small_bottle_ghosting(im.pixels, s.spacing_mm, phase_encoding_direction=_phase(s, params))
    ms = [_q("mr.ghosting.small_bottle_percent", res.percent)] + header_measurements(s)
    vis, vis_warnings = visuals_or_warning(ghosting_visuals, im.pixels, s.spacing_mm, res)
    return TestOutput(measurements=tuple(ms), details=res, visuals=vis,
                      warnings=tuple(s.warnings) + tuple(res.warnings) + vis_warnings,
                      parameters={"phase_encoding": _phase(s, params)}, phantom="magnet_ghosting",
                      analyzer="mr.ghosting")


def run_slice_width(images: list[ImageData], params: dict) -> TestOutput:
    """MagNET geometry / slice-width object: slice width from the ramp profiles."""
    from phantomqc.mr.slice_thickness import magnet_slice_width

    s, im = _single(images, "mr.slice_width")
    res = magnet_slice_width(im.pixels, s.spacing_mm)
    ms = [_q("mr.slice_width.mm", res.slice_width_mm)] + header_measurements(s)
    vis, vis_warnings = visuals_or_warning(slice_width_visuals, im.pixels, s.spacing_mm, res)
    return TestOutput(measurements=tuple(ms), details=res, visuals=vis,
                      warnings=tuple(s.warnings) + tuple(res.warnings) + vis_warnings,
                      parameters={}, phantom="magnet_geometry", analyzer="mr.slice_width")
