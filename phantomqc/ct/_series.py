"""Shared steps of the CT runners: check and order a CT series, read its thickness, turn a module's absence into
``not_evaluated`` reasons, and map phantom-frame points to pixels."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from phantomqc._shared.errors import DicomAttributeError, InputError
from phantomqc.core.types import ImageData

__all__ = ["CTSeries", "ct_series", "thickness_tier", "phantom_to_px", "missing_warnings"]


@dataclass(frozen=True)
class CTSeries:
    """The slices of one axial CT series ordered by z (ImagePositionPatient[2]) with what the analyzers need."""

    slices: tuple[np.ndarray, ...]
    z_mm: tuple[float, ...]
    spacing_mm: tuple[float, float]
    thickness_mm: float
    thickness_source: str
    images: tuple[ImageData, ...]
    warnings: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        return self.images[0].meta.path if self.images else ""


def ct_series(images: Sequence[ImageData], kind: str, nominal_thickness_mm: float | None = None) -> CTSeries:
    """Validate ``images`` as one axial CT series and order them by z.

    Raises ``InputError`` for a non-CT image, mixed pixel spacing or matrix, or repeated positions, and
    ``DicomAttributeError`` when no slice thickness is known.
    """
    if not images:
        raise InputError(f"{kind} needs the images of one CT series; none were given")
    warnings: list[str] = []
    for im in images:
        if im.meta.modality != "CT":
            raise InputError(f"{kind} analyses CT images; this image has (0008,0060) Modality "
                             f"'{im.meta.modality or '(none)'}'. Give a CT series of the phantom", path=im.meta.path)
    first = images[0]
    for im in images[1:]:
        if im.pixels.shape != first.pixels.shape or not np.allclose(im.spacing_mm, first.spacing_mm, rtol=1e-4):
            raise InputError(f"{kind}: the images do not form one series: {im.meta.path} is "
                             f"{im.pixels.shape} at {im.spacing_mm} mm, {first.meta.path} is {first.pixels.shape} at "
                             f"{first.spacing_mm} mm. Give one series per test", path=im.meta.path)

    def z_of(im: ImageData, i: int) -> float:
        ipp = im.meta.image_position_patient
        if ipp is not None:
            return float(ipp[2])
        loc = im.meta.extra.get("slice_location_mm")
        if loc is not None:
            return float(loc)
        raise DicomAttributeError(f"{kind}: the image has neither (0020,0032) Image Position (Patient) nor "
                                  f"(0020,1041) Slice Location, so its z position is unknown", path=im.meta.path)

    z = [z_of(im, i) for i, im in enumerate(images)]
    order = sorted(range(len(images)), key=lambda i: z[i])
    zs = [z[i] for i in order]
    dup = [zs[i] for i in range(1, len(zs)) if abs(zs[i] - zs[i - 1]) < 1e-3]
    if dup:
        raise InputError(f"{kind}: {len(dup)} slice position(s) occur twice (e.g. z = {dup[0]:.2f} mm): two "
                         f"series or a repeated file. Give one series per test", path=images[order[0]].meta.path)
    if nominal_thickness_mm is not None:
        thickness, source = float(nominal_thickness_mm), "manifest nominal_thickness_mm"
    else:
        t = first.meta.slice_thickness_mm
        if t is None or not (t > 0):
            raise DicomAttributeError(f"{kind}: (0018,0050) Slice Thickness is missing or not positive; it is "
                                      f"needed for the noise normalisation and the slice-thickness test. Give "
                                      f"nominal_thickness_mm in a manifest", path=first.meta.path)
        thickness, source = float(t), "(0018,0050) Slice Thickness"
        ts = {im.meta.slice_thickness_mm for im in images}
        if len(ts) > 1:
            warnings.append(f"slice thickness varies within the series ({sorted(t for t in ts if t)} mm); "
                            f"{thickness:g} mm of the first slice is used")
    if not (thickness > 0):
        raise InputError(f"{kind}: nominal_thickness_mm must be > 0 mm, got {thickness}")
    imgs = tuple(images[i] for i in order)
    if len(zs) > 1:
        steps = np.diff(zs)
        if float(steps.max() - steps.min()) > 0.01 * max(float(np.median(steps)), 1e-6) + 1e-3:
            warnings.append(f"uneven slice spacing ({float(steps.min()):.3g} to {float(steps.max()):.3g} mm)")
    return CTSeries(tuple(im.pixels for im in imgs), tuple(zs), tuple(float(s) for s in first.spacing_mm),
                    thickness, source, imgs, tuple(warnings))


def thickness_tier(nominal_mm: float) -> tuple[str, str]:
    """WS 519-2019's three nominal-thickness ranges: (metric id of the deviation, tier label)."""
    if nominal_mm > 2.0:
        return "ct.slice_thickness.deviation_mm", "nominal_above_2mm"
    if nominal_mm >= 1.0:
        return "ct.slice_thickness.deviation_percent", "nominal_1_to_2mm"
    return "ct.slice_thickness.deviation_mm", "nominal_below_1mm"


def phantom_to_px(center_px: tuple[float, float], spacing_mm: tuple[float, float], x_mm: float, y_mm: float,
                  roll_deg: float) -> tuple[float, float]:
    """(row, col) of the phantom-frame point (x, y) mm after rolling it by ``roll_deg`` about the axis."""
    a = math.radians(roll_deg)
    xr = x_mm * math.cos(a) - y_mm * math.sin(a)
    yr = x_mm * math.sin(a) + y_mm * math.cos(a)
    return center_px[0] + yr / spacing_mm[0], center_px[1] + xr / spacing_mm[1]


def missing_warnings(metric_ids: Sequence[str], reason: str) -> list[str]:
    """One warning per metric that a missing module leaves unmeasured; the pipeline turns each into a
    ``not_evaluated`` verdict with this reason."""
    return [f"{m}: not evaluated: {reason}" for m in metric_ids]


def uniform_measurements(uni) -> list:
    """The WS 519 water / uniformity / noise measurements of a ``UniformResult``."""
    from phantomqc.core.types import Measurement

    ms = [Measurement.of("ct.water.mean_hu", uni.water_mean_hu)]
    ms += [Measurement.of("ct.uniformity.diff_hu", q, label=side) for side, q in uni.diffs_hu.items()]
    ms += [Measurement.of("ct.uniformity.max_abs_diff_hu", uni.max_abs_diff_hu),
           Measurement.of("ct.noise.sd_hu", uni.noise_sd_hu), Measurement.of("ct.noise.percent", uni.noise_percent)]
    return ms


def thickness_measurements(thickness, nominal_mm: float, note: str | None = None) -> list:
    """Measured slice thickness and its deviation, labelled with the WS 519 tier of the nominal thickness (mm
    always; percent as well for 1 to 2 mm)."""
    from phantomqc.core.types import Measurement

    mid, tier = thickness_tier(nominal_mm)
    t = thickness.value
    ms = [Measurement.of("ct.slice_thickness.mm", thickness, note=note),
          Measurement("ct.slice_thickness.deviation_mm", t - nominal_mm, "mm", label=tier)]
    if mid.endswith("percent"):
        ms.append(Measurement(mid, (t - nominal_mm) / nominal_mm * 100.0, "%", label=tier))
    return ms


def runner_options(params: dict) -> dict:
    """The manifest fields common to the CT phantom runners, with their defaults, as keyword arguments."""
    c = params.get("center_mm")
    avg = params.get("average_mm")
    return {"average_mm": 10.0 if avg is None else float(avg),
            "edge_gap_mm": float(params.get("edge_gap_mm") or 10.0),
            "edge_gap_to": params.get("edge_gap_to") or "roi_edge",
            "origin_z_mm": params.get("origin_z_mm"), "roll_deg": params.get("roll_deg"),
            "center_mm": (float(c[0]), float(c[1])) if c else None, "nominal_hu": params.get("nominal_hu"),
            "kernel_class": params.get("kernel_class") or "conventional"}


def nearest_slice(loc, indices, z_phantom_mm: float):
    """The index among ``indices`` whose phantom-frame z is nearest ``z_phantom_mm`` (None when empty)."""
    return min(indices, key=lambda i: abs(loc.z_phantom(i) - z_phantom_mm)) if indices else None
