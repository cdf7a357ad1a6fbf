"""Runners of the gamma-camera, SPECT and PET kinds: images in, measurements out. Composition only; the numbers
come from ``planar``, ``spect`` and ``nema_iq``."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from phantomqc._shared.errors import InputError
from phantomqc.core.registry import TestOutput
from phantomqc.core.types import ImageData, Measurement

__all__ = ["run_uniformity", "run_four_bar", "run_quadrant_bar", "run_jaszczak", "run_nema_iq", "volume_of"]


def _one(images: Sequence[ImageData], kind: str, modality: str = "NM") -> ImageData:
    if len(images) != 1:
        raise InputError(f"{kind} needs one image, got {len(images)}")
    im = images[0]
    if im.meta.modality != modality:
        raise InputError(f"{kind} analyses {modality} images; this image has (0008,0060) Modality "
                         f"'{im.meta.modality}'", path=im.meta.path)
    return im


def volume_of(images: Sequence[ImageData], kind: str, modality: str) -> tuple[np.ndarray, tuple[float, float, float],
                                                                                 list[str]]:
    """Stack slices (or frames) into a (z, y, x) volume ordered along z; spacing (dz, dy, dx) in mm."""
    bad = [im.meta.path for im in images if im.meta.modality != modality]
    if bad:
        raise InputError(f"{kind} analyses {modality} images; {bad[0]} is not one", path=bad[0])
    shapes = {im.pixels.shape for im in images}
    if len(shapes) != 1:
        raise InputError(f"{kind}: the slices have different matrices {sorted(shapes)}", path=images[0].meta.path)
    warnings = []
    z = [im.meta.image_position_patient[2] if im.meta.image_position_patient else None for im in images]
    if all(v is not None for v in z):
        order = sorted(range(len(images)), key=lambda i: z[i])
        steps = np.diff(sorted(z))
        dz = float(np.median(np.abs(steps))) if len(steps) else float(images[0].meta.slice_thickness_mm or 1.0)
    else:
        order = list(range(len(images)))
        dz = float(images[0].meta.slice_thickness_mm or 0.0)
        warnings.append("no (0020,0032) Image Position (Patient): slices kept in file order, spacing from "
                        "(0018,0050) Slice Thickness")
    if not dz > 0:
        raise InputError(f"{kind}: the slice spacing is unknown", path=images[0].meta.path)
    vol = np.stack([images[i].pixels for i in order]).astype(np.float64)
    sy, sx = images[0].spacing_mm
    return vol, (dz, sy, sx), warnings


def run_uniformity(images: list[ImageData], params: dict) -> TestOutput:
    from phantomqc.pet_spect.planar import nema_uniformity

    im = _one(images, "nm.uniformity")
    res = nema_uniformity(im.pixels, im.spacing_mm, rebin_rule=params.get("rebin_rule") or "coarsest")
    return TestOutput(measurements=tuple(res.measurements()), details=res, warnings=tuple(res.warnings),
                      parameters=dict(res.parameters), phantom="flood", analyzer="nm.uniformity")


def run_four_bar(images: list[ImageData], params: dict) -> TestOutput:
    from phantomqc.pet_spect.planar import four_bar

    im = _one(images, "nm.four_bar")
    res = four_bar(im.pixels, im.spacing_mm, bar_separation_mm=float(params.get("bar_separation_mm") or 100.0))
    return TestOutput(measurements=tuple(res.measurements()), details=res, warnings=tuple(res.warnings),
                      parameters=dict(res.parameters), phantom="four_bar", analyzer="nm.four_bar")


def run_quadrant_bar(images: list[ImageData], params: dict) -> TestOutput:
    from phantomqc.pet_spect.planar import quadrant_bar

    im = _one(images, "nm.quadrant_bar")
    widths = tuple(float(w) for w in (params.get("bar_widths_mm") or (4.23, 3.18, 2.54, 2.12)))
    res = quadrant_bar(im.pixels, im.spacing_mm, bar_widths_mm=widths,
                       square_wave_correction=bool(params.get("square_wave_correction")))
    return TestOutput(measurements=tuple(res.measurements()), details=res, warnings=tuple(res.warnings),
                      parameters=dict(res.parameters), phantom="quadrant_bar", analyzer="nm.quadrant_bar")


def run_jaszczak(images: list[ImageData], params: dict) -> TestOutput:
    from phantomqc.pet_spect.spect import tomographic_contrast, tomographic_uniformity

    # frames of a reconstruction keep the file's order (the order NMQC reads them in)
    bad = [im.meta.path for im in images if im.meta.modality != "NM"]
    if bad:
        raise InputError(f"spect.jaszczak analyses NM reconstructions; {bad[0]} is not one", path=bad[0])
    if len(images) < 10:
        raise InputError(f"spect.jaszczak needs the reconstructed slices (at least 10), got {len(images)}",
                         path=images[0].meta.path)
    vol = np.stack([im.pixels for im in images]).astype(np.float64)
    p = [im.meta.image_position_patient for im in images]
    dz = float(abs(p[1][2] - p[0][2])) if p[0] and p[1] else float(images[0].spacing_mm[0])
    spacing = (dz, *images[0].spacing_mm)
    uni = tomographic_uniformity(vol, spacing)
    con = tomographic_contrast(vol, spacing)
    ms = list(uni.measurements()) + list(con.measurements())
    return TestOutput(measurements=tuple(ms), details={"uniformity": uni, "contrast": con},
                      warnings=tuple(uni.warnings) + tuple(con.warnings), parameters={"slice_spacing_mm": dz},
                      phantom="jaszczak", analyzer="spect.jaszczak")


def run_nema_iq(images: list[ImageData], params: dict) -> TestOutput:
    from phantomqc.pet_spect.nema_iq import locate_iec, nema_iq, recovery_coefficients

    vol, spacing, warnings = volume_of(images, "pet.nema_iq", "PT")
    given = params.get("activity_ratio")
    ratio = float(given) if given is not None else 4.0  # only locates the spheres; no contrast is reported with it
    if given is None:
        warnings.append("activity_ratio not given: the hot-sphere contrasts and recovery coefficients, which scale "
                        "with it, are not reported; give activity_ratio (the filling's sphere:background ratio) in a "
                        "manifest")
    cold = tuple(float(c) for c in (params.get("cold_spheres_mm") or ()))
    loc = locate_iec(vol, spacing, cold_spheres=cold, activity_ratio=ratio)
    iq = nema_iq(vol, spacing, activity_ratio=ratio, cold_spheres=cold, location=loc)
    ms: list[Measurement] = []
    why = "the filling's activity ratio was not given (manifest field activity_ratio)"
    for lab, q in iq.contrast_percent.items():
        if given is None:
            ms.append(Measurement("pet.nema_iq.contrast_percent", float("nan"), "%", label=lab, note=why))
        else:
            ms.append(Measurement("pet.nema_iq.contrast_percent", q.value, "%", label=lab, uncertainty=q.uncertainty))
    for lab, q in iq.background_variability_percent.items():
        ms.append(Measurement("pet.nema_iq.background_variability_percent", q.value, "%", label=lab))
    ms.append(Measurement("pet.nema_iq.lung_residual_percent", iq.lung_residual_percent.value, "%"))
    # recovery against the true concentration: the background mean times the activity ratio (the phantom's filling)
    c_b = float(np.mean(list(iq.background_mean.values())))
    rc = recovery_coefficients(vol, spacing, sphere_concentration=ratio * c_b, background_concentration=c_b,
                               location=loc)
    for name, table in (("rc_mean", rc.rc_mean), ("rc_max", rc.rc_max), ("rc_a50", rc.rc_a50),
                        ("rc_peak", rc.rc_peak)):
        for lab, q in table.items():
            if lab.replace("sphere_", "").replace("mm", "") in {f"{c:g}" for c in cold}:
                continue
            if given is None:
                ms.append(Measurement(f"pet.recovery.{name}", float("nan"), "1", label=lab, note=why))
            else:
                ms.append(Measurement(f"pet.recovery.{name}", getattr(q, "value", q), "1", label=lab,
                                      note="true concentration = activity ratio x measured background"))
    warnings.append("recovery coefficients use the measured background x the activity ratio as the true sphere "
                    "concentration; give the decay-corrected filling in a manifest for absolute recovery")
    return TestOutput(measurements=tuple(ms), details={"iq": iq, "recovery": rc}, warnings=tuple(warnings) +
                      tuple(iq.warnings) + tuple(rc.warnings), parameters={"activity_ratio": ratio,
                                                                           "cold_spheres_mm": list(cold)},
                      phantom="iec_body", analyzer="pet.nema_iq")
