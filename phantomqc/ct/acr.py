"""ACR CT accreditation phantom (Gammex 464): the four modules.

Module 1: CT numbers of the five materials and slice thickness from its wire ramps. Module 2: low-contrast rods
(0.6 %), CNR per rod; the ACR figure is the 25 mm rod's CNR. Module 3: water CT number, uniformity, noise and the
distance of its two BBs (nominally 100 mm). Module 4: the bar groups 4 to 12 lp/cm. Thin orchestration over the
same pure analyzers as the CatPhan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from phantomqc.core.registry import TestOutput
from phantomqc.core.types import ImageData, Measurement, Quantity
from phantomqc.ct import geometry as geo
from phantomqc.ct._series import (CTSeries, ct_series, missing_warnings, nearest_slice, phantom_to_px, runner_options,
                                  thickness_measurements, uniform_measurements)

__all__ = ["ACRResult", "analyze_acr", "bb_distance", "run"]

_MODULE_METRICS = {
    "module1": ("ct.linearity.max_abs_error_hu", "ct.slice_thickness.mm"),
    "module2": ("ct.low_contrast.cnr",),
    "module3": ("ct.water.mean_hu", "ct.uniformity.max_abs_diff_hu", "ct.noise.sd_hu", "ct.noise.percent",
                "ct.geometry.length_mm", "ct.mtf.mtf50_lp_per_cm"),
    "module4": ("ct.line_pairs.limiting_lp_per_cm",),
}


@dataclass(frozen=True)
class BBResult:
    """Centroids (row, col) of the two BBs and their distance."""

    centers_px: tuple[tuple[float, float], ...]
    distance_mm: Quantity
    nominal_mm: float


@dataclass(frozen=True)
class ACRResult:
    localization: Any
    thickness_mm: float
    module1: Any = None
    low_contrast: Any = None
    uniform: Any = None
    mtf_esf: Any = None
    bbs: BBResult | None = None
    line_pairs: Any = None
    warnings: tuple[str, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    parameters: dict = field(default_factory=dict)


def bb_distance(image: np.ndarray, spacing_mm: tuple[float, float], guesses_px, *, window_mm: float = 8.0,
                nominal_mm: float = 100.0) -> BBResult:
    """Distance between two small high-contrast BBs from their intensity-weighted centroids.

    Parameters
    ----------
    image : ndarray (y, x)
        The module-3 slice in HU.
    spacing_mm : (float, float)
        Pixel spacing (row, column).
    guesses_px : sequence of two (row, col)
        Expected BB positions (from the phantom centre and roll).
    window_mm : float
        Side of the square search window around each guess.

    Notes
    -----
    In each window the BB is the brightest pixel; the centroid uses the pixels of a (window/2)-wide box about it,
    weighted by max(value - median(window), 0). Distance = sqrt((dr sy)^2 + (dc sx)^2).
    """
    sy, sx = spacing_mm
    hw = max(2, int(round(window_mm / 2 / min(sy, sx))))
    cents = []
    for r0, c0 in guesses_px:
        r0, c0 = int(round(r0)), int(round(c0))
        ys, xs = slice(max(r0 - hw, 0), r0 + hw + 1), slice(max(c0 - hw, 0), c0 + hw + 1)
        win = np.asarray(image[ys, xs], dtype=np.float64)
        if win.size == 0:
            cents.append((float("nan"), float("nan")))
            continue
        pr, pc = np.unravel_index(int(np.argmax(win)), win.shape)
        h = max(1, hw // 2)
        sub = win[max(pr - h, 0): pr + h + 1, max(pc - h, 0): pc + h + 1]
        w = np.clip(sub - np.median(win), 0.0, None)
        tot = float(w.sum())
        if tot <= 0:
            cents.append((float("nan"), float("nan")))
            continue
        rr, cc = np.mgrid[0:sub.shape[0], 0:sub.shape[1]]
        cents.append((ys.start + max(pr - h, 0) + float((w * rr).sum() / tot),
                      xs.start + max(pc - h, 0) + float((w * cc).sum() / tot)))
    (a, b), (c, d) = cents
    dist = float(np.hypot((c - a) * sy, (d - b) * sx))
    return BBResult(tuple(cents), Quantity(dist, "mm"), nominal_mm)


def analyze_acr(series: CTSeries, *, kernel_class: str = "conventional", average_mm: float = 10.0,
                edge_gap_mm: float = 10.0, edge_gap_to: str = "roi_edge", origin_z_mm: float | None = None,
                roll_deg: float | None = None, center_mm: tuple[float, float] | None = None,
                nominal_hu: dict[str, float] | None = None) -> ACRResult:
    """Analyse an ACR 464 series module by module (see the module docstring)."""
    from phantomqc.ct.localize import localize

    phantom = geo.ACR464
    T = series.thickness_mm
    sp = series.spacing_mm
    loc = localize(series.slices, sp, series.z_mm, phantom, thickness_mm=T, average_mm=average_mm,
                   origin_z_mm=origin_z_mm, roll_deg=roll_deg, center_mm=center_mm)
    warnings = list(series.warnings) + list(loc.warnings)
    ms: list[Measurement] = [Measurement("ct.phantom.roll_deg", float(loc.roll_deg), "deg",
                                         note="manual override" if roll_deg is not None else None)]

    def idx(name):
        got = tuple(loc.module_slices.get(name, ()))
        if not got:
            warnings.extend(missing_warnings(_MODULE_METRICS[name], loc.module_reasons.get(
                name, f"ACR {name} is not in the scan")))
        return got

    def sel(ii):
        return [series.slices[i] for i in ii], [loc.centers_px[i] for i in ii]

    m1 = lc = uni = bbs = lp = mtf_esf = None
    i3 = idx("module3")
    if i3:
        # the phantom outline in the uniform module: an edge MTF, whose LSF width corrects the module-1 ramps
        from phantomqc.ct.resolution import mtf_from_circular_edge

        s3, c3 = sel(i3)
        mtf_esf = mtf_from_circular_edge(s3, sp, c3, loc.diameter_mm / 2.0)
        warnings += list(mtf_esf.warnings)
        for mid, q in (("ct.mtf.mtf50_lp_per_cm", mtf_esf.mtf50_lp_per_cm),
                       ("ct.mtf.mtf10_lp_per_cm", mtf_esf.mtf10_lp_per_cm)):
            if np.isfinite(q.value):
                ms.append(Measurement.of(mid, q, label="esf"))
    psf_fwhm = (float(mtf_esf.fwhm_mm.value) if mtf_esf is not None and np.isfinite(mtf_esf.fwhm_mm.value)
                else None)
    i1 = idx("module1")
    if i1:
        from phantomqc.ct.ctp404 import analyze_ctp404

        iramp = tuple(loc.module_slices.get("module1_ramps", ()))
        ramp_i = iramp[0] if iramp else None
        if ramp_i is None:
            warnings.append("ct.slice_thickness.mm: not evaluated: " + loc.module_reasons.get(
                "module1_ramps", "no slice of module 1 shows its wire ramps"))
        s, c = sel(i1)
        m1 = analyze_ctp404(s, sp, c, loc.roll_deg, phantom.module("module1"),
                            ramp_slice=series.slices[ramp_i] if ramp_i is not None else None,
                            ramp_center_px=loc.centers_px[ramp_i] if ramp_i is not None else None,
                            thickness_mm=T, psf_fwhm_mm=psf_fwhm, nominal_hu=nominal_hu)
        warnings += list(m1.warnings)
        for name, q in m1.mean_hu.items():
            ms.append(Measurement.of("ct.linearity.mean_hu", q, label=name))
        ms.append(Measurement.of("ct.linearity.max_abs_error_hu", m1.max_abs_error_hu))
        if m1.thickness_mm is not None and np.isfinite(m1.thickness_mm.value):
            ms += thickness_measurements(m1.thickness_mm, T, note="ACR module 1 ramps" + (
                "" if psf_fwhm else ", without the in-plane PSF correction"))
    i2 = idx("module2")
    if i2:
        from phantomqc.ct.low_contrast import analyze_low_contrast

        s, c = sel(i2)
        lc = analyze_low_contrast(s, sp, c, loc.roll_deg, phantom.module("module2").targets, ws519_groups=())
        warnings += list(lc.warnings)
        # four rods per diameter share a label: report their mean (the ACR reading is per rod group)
        groups: dict[str, list] = {}
        for t in lc.targets:
            groups.setdefault(t.label, []).append(t)
        for label, ts in groups.items():
            note = f"mean of {len(ts)} rods" if len(ts) > 1 else None
            ms.append(Measurement("ct.low_contrast.cnr", float(np.mean([t.cnr for t in ts])), "1", label=label,
                                  note=note))
            ms.append(Measurement("ct.low_contrast.contrast_hu", float(np.mean([t.contrast_hu for t in ts])), "HU",
                                  label=label, note=note))
    if i3:
        from phantomqc.ct.uniform import analyze_uniform_section

        s, c = sel(i3)
        uni = analyze_uniform_section(s, sp, c, diameter_mm=loc.diameter_mm, thickness_mm=T,
                                      edge_gap_mm=edge_gap_mm, edge_gap_to=edge_gap_to)
        warnings += list(uni.warnings)
        ms += uniform_measurements(uni)
        k = nearest_slice(loc, i3, phantom.module("module3").offset_mm)
        holes = phantom.module("module3").holes
        guesses = [phantom_to_px(loc.centers_px[k], sp, h.x_mm, h.y_mm, loc.roll_deg) for h in holes]
        bbs = bb_distance(series.slices[k], sp, guesses)
        if np.isfinite(bbs.distance_mm.value):
            ms.append(Measurement.of("ct.geometry.length_mm", bbs.distance_mm, label="bb_distance"))
        else:
            warnings.append("ct.geometry.length_mm: not evaluated: the module-3 BBs were not found")
    i4 = idx("module4")
    if i4:
        from phantomqc.ct.line_pairs import analyze_line_pairs

        s, c = sel(i4)
        lp = analyze_line_pairs(s, sp, c, loc.roll_deg, phantom.module("module4").line_pairs)
        warnings += list(getattr(lp, "warnings", ()))
        q = lp.limiting_lp_per_cm
        if q is not None and np.isfinite(q.value):
            ms.append(Measurement.of("ct.line_pairs.limiting_lp_per_cm", q, label=kernel_class))
        else:
            warnings.append("ct.line_pairs.limiting_lp_per_cm: not evaluated: no bar group is resolved")
    params = {"phantom": phantom.id, "nominal_thickness_mm": T, "thickness_source": series.thickness_source,
              "localization": {"method": loc.method, "confidence": float(loc.confidence),
                               "origin_z_mm": float(loc.origin_z_mm), "roll_deg": float(loc.roll_deg),
                               "diameter_mm": float(loc.diameter_mm),
                               "module_slices": {k: [int(i) for i in v] for k, v in loc.module_slices.items()},
                               "module_reasons": dict(loc.module_reasons)},
              "average_mm": average_mm, "edge_gap_mm": edge_gap_mm, "edge_gap_to": edge_gap_to,
              "kernel_class": kernel_class}
    if bbs is not None:
        params["bb_centers_px"] = [list(c) for c in bbs.centers_px]
    return ACRResult(loc, T, m1, lc, uni, mtf_esf, bbs, lp, tuple(warnings), tuple(ms), params)


def _visuals(res: ACRResult, series: CTSeries) -> tuple:
    from phantomqc.ct.localize import localization_panels

    loc = res.localization
    sp = series.spacing_mm
    out: list = list(localization_panels(loc, series.slices, sp))

    def mid(name):
        ii = loc.module_slices.get(name, ())
        i = nearest_slice(loc, ii, geo.ACR464.module(name).offset_mm)
        return None if i is None else series.slices[i]

    if res.module1 is not None:
        from phantomqc.ct.ctp404 import ctp404_panels

        out += list(ctp404_panels(res.module1, mid("module1"), sp))
    if res.low_contrast is not None:
        from phantomqc.ct.low_contrast import low_contrast_panels

        out += list(low_contrast_panels(res.low_contrast, mid("module2"), sp))
    if res.uniform is not None:
        from phantomqc.ct.uniform import uniform_panels

        out += list(uniform_panels(res.uniform, mid("module3"), sp))
    if res.mtf_esf is not None:
        from phantomqc.ct.resolution import mtf_panels

        out += list(mtf_panels([res.mtf_esf]))
    if res.line_pairs is not None:
        from phantomqc.ct.line_pairs import line_pair_panels

        out += list(line_pair_panels(res.line_pairs, mid("module4"), sp))
    return tuple(out)


def run(images: list[ImageData], params: dict) -> TestOutput:
    """Runner for the manifest kind ``ct.acr464``."""
    series = ct_series(images, "ct.acr464", params.get("nominal_thickness_mm"))
    res = analyze_acr(series, **runner_options(params))
    return TestOutput(measurements=res.measurements, details=res, visuals=_visuals(res, series),
                      warnings=res.warnings, parameters=res.parameters, phantom="acr464", analyzer="ct.acr464")
