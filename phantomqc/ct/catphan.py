"""CatPhan 504/600/604 analysis: localise once, then measure each module that is in the scan.

Thin orchestration (``analyze_catphan``) over the pure module analyzers: ``localize`` (axis, roll, module
slices), ``ctp404`` (CT-number linearity, geometry, slice thickness), ``uniform`` (CTP486: water, uniformity,
noise), ``resolution`` (bead PSF and edge MTF), ``line_pairs`` (CTP528) and ``low_contrast`` (CTP515). A module
that is not in the scan gives ``not_evaluated`` for its measurements with the reason, and the other modules are
still measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from phantomqc.core.registry import TestOutput
from phantomqc.core.types import ImageData, Measurement
from phantomqc.ct import geometry as geo
from phantomqc.ct._series import (CTSeries, ct_series, missing_warnings, nearest_slice, phantom_to_px, runner_options,
                                  thickness_measurements, uniform_measurements)

__all__ = ["CatphanResult", "analyze_catphan", "run", "MODULE_METRICS"]

#: The measurements each module gives (for not_evaluated reasons when the module is not in the scan).
MODULE_METRICS: dict[str, tuple[str, ...]] = {
    "CTP404": ("ct.linearity.max_abs_error_hu", "ct.geometry.length_mm"),
    "CTP404_ramps": ("ct.slice_thickness.mm",),
    "CTP486": ("ct.water.mean_hu", "ct.uniformity.max_abs_diff_hu", "ct.noise.sd_hu", "ct.noise.percent"),
    "CTP528": ("ct.line_pairs.limiting_lp_per_cm", "ct.mtf.mtf50_lp_per_cm", "ct.mtf.mtf10_lp_per_cm"),
    "CTP515": ("ct.low_contrast.detectability_mm",),
}


@dataclass(frozen=True)
class CatphanResult:
    """Everything ``analyze_catphan`` measured, per module (``None`` where the module is not in the scan)."""

    phantom_id: str
    identified_by: str
    localization: Any
    thickness_mm: float
    ctp404: Any = None
    uniform: Any = None
    mtf_psf: Any = None
    mtf_esf: Any = None
    line_pairs: Any = None
    low_contrast: Any = None
    warnings: tuple[str, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    parameters: dict = field(default_factory=dict)


def _sel(series: CTSeries, idx: tuple[int, ...]):
    return [series.slices[i] for i in idx]


def analyze_catphan(series: CTSeries, *, model: str = "auto", kernel_class: str = "conventional",
                    average_mm: float = 10.0, edge_gap_mm: float = 10.0, edge_gap_to: str = "roi_edge",
                    origin_z_mm: float | None = None, roll_deg: float | None = None,
                    center_mm: tuple[float, float] | None = None,
                    nominal_hu: dict[str, float] | None = None) -> CatphanResult:
    """Analyse a CatPhan series (ordered by z) module by module.

    Parameters
    ----------
    series : CTSeries
        From :func:`phantomqc.ct._series.ct_series`.
    model : {"auto", "catphan504", "catphan600", "catphan604"}
        The phantom; "auto" recognises it from the CTP404 insert pattern.
    kernel_class : {"conventional", "high_resolution"}
        Label of the limiting line-pair measurement (the WS 519 limits depend on it).
    average_mm, edge_gap_mm, edge_gap_to
        See docs/ct_design.md (slice averaging; WS 519 peripheral ROI placement).
    origin_z_mm, roll_deg, center_mm
        Manual overrides of the localisation.
    nominal_hu
        Nominal CT numbers per insert (certificate values), replacing the tabulated ones.

    Returns
    -------
    CatphanResult
    """
    from phantomqc.ct.localize import identify_catphan, localize

    warnings: list[str] = list(series.warnings)
    T = series.thickness_mm
    sp = series.spacing_mm
    if model == "auto":
        pid, why, conf = identify_catphan(series.slices, sp, series.z_mm, thickness_mm=T)
        identified = f"{pid} recognised from the CTP404 insert pattern ({why}; confidence {conf:.2f})"
    else:
        pid = model
        identified = f"{pid} given in the manifest"
    phantom = geo.get_phantom(pid)
    loc = localize(series.slices, sp, series.z_mm, phantom, thickness_mm=T, average_mm=average_mm,
                   origin_z_mm=origin_z_mm, roll_deg=roll_deg, center_mm=center_mm)
    warnings += list(loc.warnings)
    ms: list[Measurement] = []
    roll_note = "manual override" if roll_deg is not None else None
    ms.append(Measurement("ct.phantom.roll_deg", float(loc.roll_deg), "deg", note=roll_note))

    def idx(name: str) -> tuple[int, ...]:
        got = tuple(loc.module_slices.get(name, ()))
        if not got:
            warnings.extend(missing_warnings(MODULE_METRICS.get(name, ()), loc.module_reasons.get(
                name, f"the {name} module is not in the scan")))
        return got

    def centres(ii):
        return [loc.centers_px[i] for i in ii]

    # ---- CTP528 first: its bead PSF gives the in-plane FWHM that corrects the ramp lengths -------------------
    mtf_psf = mtf_esf = lp = None
    i528 = idx("CTP528")
    if i528:
        from phantomqc.ct.line_pairs import analyze_line_pairs
        from phantomqc.ct.resolution import mtf_from_bead

        m528 = phantom.module("CTP528")
        if m528.beads:
            bead = m528.beads[0]
            near = tuple(i for i in range(len(series.slices)) if loc.phantom_present[i]
                         and abs(loc.z_phantom(i) - bead.z_mm) <= max(T, 1.0))
            if near:
                guesses = [phantom_to_px(loc.centers_px[i], sp, bead.x_mm, bead.y_mm, loc.roll_deg) for i in near]
                mtf_psf = mtf_from_bead(_sel(series, near), sp, guesses)
                warnings += list(mtf_psf.warnings)
        lp = analyze_line_pairs(_sel(series, i528), sp, centres(i528), loc.roll_deg, m528.line_pairs, mtf=mtf_psf)
        warnings += list(getattr(lp, "warnings", ()))
    # ---- CTP486: uniformity, water, noise, and the edge MTF on the phantom outline ---------------------------
    uni = None
    i486 = idx("CTP486")
    if i486:
        from phantomqc.ct.resolution import mtf_from_circular_edge
        from phantomqc.ct.uniform import analyze_uniform_section

        uni = analyze_uniform_section(_sel(series, i486), sp, centres(i486), diameter_mm=loc.diameter_mm,
                                      thickness_mm=T, edge_gap_mm=edge_gap_mm, edge_gap_to=edge_gap_to)
        warnings += list(uni.warnings)
        mtf_esf = mtf_from_circular_edge(_sel(series, i486), sp, centres(i486), loc.diameter_mm / 2.0)
        warnings += list(mtf_esf.warnings)
    # ---- CTP404: linearity, geometry, slice thickness ------------------------------------------------------------
    c404 = None
    i404 = idx("CTP404")
    iramp = tuple(loc.module_slices.get("CTP404_ramps", ()))
    if i404:
        from phantomqc.ct.ctp404 import analyze_ctp404

        psf_fwhm = None
        for r in (mtf_psf, mtf_esf):
            if r is not None and np.isfinite(r.fwhm_mm.value):
                psf_fwhm = float(r.fwhm_mm.value)
                break
        if psf_fwhm is None:
            warnings.append("ct.slice_thickness.mm: no MTF measurement (CTP528 bead or CTP486 edge) to remove the "
                            "in-plane blur from the ramp profiles; the thickness is uncorrected")
        ramp_i = iramp[0] if iramp else None
        c404 = analyze_ctp404(_sel(series, i404), sp, centres(i404), loc.roll_deg, phantom.module("CTP404"),
                              ramp_slice=series.slices[ramp_i] if ramp_i is not None else None,
                              ramp_center_px=loc.centers_px[ramp_i] if ramp_i is not None else None,
                              thickness_mm=T, psf_fwhm_mm=psf_fwhm, nominal_hu=nominal_hu)
        warnings += list(c404.warnings)
    if not iramp:
        warnings.extend(missing_warnings(MODULE_METRICS["CTP404_ramps"], loc.module_reasons.get(
            "CTP404_ramps", "the CTP404 ramp slice is not in the scan")))
    # ---- CTP515: low contrast -----------------------------------------------------------------------------------------
    lc = None
    i515 = idx("CTP515")
    if i515:
        from phantomqc.ct.low_contrast import analyze_low_contrast

        # WS 519 reads low contrast on ONE image: averaging slices would lower the noise and flatter the result
        one = (nearest_slice(loc, i515, phantom.module("CTP515").offset_mm),)
        lc = analyze_low_contrast(_sel(series, one), sp, centres(one), loc.roll_deg,
                                  phantom.module("CTP515").targets)
        warnings += list(lc.warnings)

    ms += _measurements(c404, uni, mtf_psf, mtf_esf, lp, lc, T, kernel_class, warnings)
    params = {"phantom": pid, "nominal_thickness_mm": T, "thickness_source": series.thickness_source,
              "localization": {"method": loc.method, "confidence": float(loc.confidence),
                               "origin_z_mm": float(loc.origin_z_mm), "roll_deg": float(loc.roll_deg),
                               "diameter_mm": float(loc.diameter_mm),
                               "tilt_mm_per_mm": [float(v) for v in loc.tilt_mm_per_mm],
                               "module_slices": {k: [int(i) for i in v] for k, v in loc.module_slices.items()},
                               "module_reasons": dict(loc.module_reasons)},
              "average_mm": average_mm, "edge_gap_mm": edge_gap_mm, "edge_gap_to": edge_gap_to,
              "kernel_class": kernel_class, "n_slices": len(series.slices)}
    return CatphanResult(pid, identified, loc, T, c404, uni, mtf_psf, mtf_esf, lp, lc, tuple(warnings),
                         tuple(ms), params)


def _measurements(c404, uni, mtf_psf, mtf_esf, lp, lc, T: float, kernel_class: str,
                  warnings: list[str]) -> list[Measurement]:
    ms: list[Measurement] = []
    if c404 is not None:
        for name, q in c404.mean_hu.items():
            ms.append(Measurement.of("ct.linearity.mean_hu", q, label=name))
        ms.append(Measurement.of("ct.linearity.max_abs_error_hu", c404.max_abs_error_hu))
        for side, q in c404.lengths_mm.items():
            ms.append(Measurement.of("ct.geometry.length_mm", q, label=side))
        if c404.thickness_mm is not None and np.isfinite(c404.thickness_mm.value):
            ms += thickness_measurements(c404.thickness_mm, T)
        elif not any("ct.slice_thickness.mm" in w for w in warnings):
            warnings.append("ct.slice_thickness.mm: not evaluated: no ramp gave a usable profile")
    if uni is not None:
        ms += uniform_measurements(uni)
    for r in (mtf_psf, mtf_esf):
        if r is None:
            continue
        for mid, q in (("ct.mtf.mtf50_lp_per_cm", r.mtf50_lp_per_cm), ("ct.mtf.mtf10_lp_per_cm", r.mtf10_lp_per_cm)):
            if np.isfinite(q.value):
                ms.append(Measurement.of(mid, q, label=r.method))
    if lp is not None:
        q = lp.limiting_lp_per_cm
        if q is not None and np.isfinite(q.value):
            ms.append(Measurement.of("ct.line_pairs.limiting_lp_per_cm", q, label=kernel_class))
        else:
            warnings.append("ct.line_pairs.limiting_lp_per_cm: not evaluated: no line-pair group is resolved "
                            "by the criterion (see the CTP528 figure)")
    if lc is not None:
        for t in lc.targets:
            ms.append(Measurement("ct.low_contrast.cnr", float(t.cnr), "1", label=t.label))
            ms.append(Measurement("ct.low_contrast.contrast_hu", float(t.contrast_hu), "HU", label=t.label))
        if lc.detectability_mm is not None and np.isfinite(lc.detectability_mm.value):
            ms.append(Measurement.of("ct.low_contrast.detectability_mm", lc.detectability_mm))
        else:
            warnings.append(f"ct.low_contrast.detectability_mm: not evaluated: "
                            f"{lc.detectability_reason or 'a contrast group has no detected target'}")
    return ms


def catphan_visuals(res: CatphanResult, series: CTSeries) -> tuple:
    """Figures: localisation, each module with its ROIs, ramp profiles, MTF curves, line pairs, low contrast."""
    from phantomqc.ct.localize import localization_panels

    out: list = list(localization_panels(res.localization, series.slices, series.spacing_mm))
    loc = res.localization
    sp = series.spacing_mm

    def first(name):
        ii = loc.module_slices.get(name, ())
        i = nearest_slice(loc, ii, geo.get_phantom(res.phantom_id).module(name).offset_mm)
        return None if i is None else series.slices[i]

    if res.ctp404 is not None:
        from phantomqc.ct.ctp404 import ctp404_panels

        ramp = loc.module_slices.get("CTP404_ramps", ())
        out += list(ctp404_panels(res.ctp404, series.slices[ramp[0]] if ramp else first("CTP404"), sp))
    if res.uniform is not None:
        from phantomqc.ct.uniform import uniform_panels

        out += list(uniform_panels(res.uniform, first("CTP486"), sp))
    mtfs = [r for r in (res.mtf_psf, res.mtf_esf) if r is not None]
    if mtfs:
        from phantomqc.ct.resolution import mtf_panels

        out += list(mtf_panels(mtfs))
    if res.line_pairs is not None:
        from phantomqc.ct.line_pairs import line_pair_panels

        out += list(line_pair_panels(res.line_pairs, first("CTP528"), sp))
    if res.low_contrast is not None:
        from phantomqc.ct.low_contrast import low_contrast_panels

        out += list(low_contrast_panels(res.low_contrast, first("CTP515"), sp))
    return tuple(out)


def run(images: list[ImageData], params: dict) -> TestOutput:
    """Runner for the manifest kind ``ct.catphan``."""
    series = ct_series(images, "ct.catphan", params.get("nominal_thickness_mm"))
    res = analyze_catphan(series, model=params.get("model") or "auto", **runner_options(params))
    return TestOutput(measurements=res.measurements, details=res, visuals=catphan_visuals(res, series),
                      warnings=tuple(res.warnings), parameters=res.parameters, phantom=res.phantom_id,
                      analyzer="ct.catphan")

