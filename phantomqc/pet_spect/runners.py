"""Runners of the gamma-camera, SPECT and PET kinds: images in, measurements out. Composition only; the numbers
come from ``planar``, ``spect`` and ``nema_iq``."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from phantomqc._shared.errors import InputError
from phantomqc.core.registry import TestOutput
from phantomqc.core.types import ImageData, Measurement

__all__ = ["run_uniformity", "run_four_bar", "run_quadrant_bar", "run_linearity", "run_line_source", "run_jaszczak", "run_nema_iq", "volume_of",
           "run_cor", "run_uniform", "run_sensitivity", "run_count_rate"]


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
    from phantomqc.pet_spect.visuals import uniformity_visuals

    return TestOutput(measurements=tuple(res.measurements()), details=res, warnings=tuple(res.warnings),
                      visuals=uniformity_visuals(res, im.pixels, im.spacing_mm),
                      parameters=dict(res.parameters), phantom="flood", analyzer="nm.uniformity")


def run_four_bar(images: list[ImageData], params: dict) -> TestOutput:
    from phantomqc.pet_spect.planar import four_bar

    im = _one(images, "nm.four_bar")
    res = four_bar(im.pixels, im.spacing_mm, bar_separation_mm=float(params.get("bar_separation_mm") or 100.0))
    from phantomqc.pet_spect.visuals import four_bar_visuals

    return TestOutput(measurements=tuple(res.measurements()), details=res, warnings=tuple(res.warnings),
                      visuals=four_bar_visuals(res, im.pixels, im.spacing_mm),
                      parameters=dict(res.parameters), phantom="four_bar", analyzer="nm.four_bar")


def run_quadrant_bar(images: list[ImageData], params: dict) -> TestOutput:
    from phantomqc.pet_spect.planar import quadrant_bar

    im = _one(images, "nm.quadrant_bar")
    widths = tuple(float(w) for w in (params.get("bar_widths_mm") or (4.23, 3.18, 2.54, 2.12)))
    res = quadrant_bar(im.pixels, im.spacing_mm, bar_widths_mm=widths,
                       square_wave_correction=bool(params.get("square_wave_correction")))
    from phantomqc.pet_spect.visuals import quadrant_bar_visuals

    return TestOutput(measurements=tuple(res.measurements()), details=res, warnings=tuple(res.warnings),
                      visuals=quadrant_bar_visuals(res, im.pixels, im.spacing_mm),
                      parameters=dict(res.parameters), phantom="quadrant_bar", analyzer="nm.quadrant_bar")


def run_linearity(images: list[ImageData], params: dict) -> TestOutput:
    """nm.linearity: one slit image (``orientation`` given or detected) or two (one per orientation, detected)."""
    from phantomqc.pet_spect.linearity import detect_line_orientation, linearity_visuals, spatial_linearity

    if not 1 <= len(images) <= 2:
        raise InputError(f"nm.linearity needs one or two slit-mask images, got {len(images)}")
    for im in images:
        _one([im], "nm.linearity")
    spacing = float(params.get("line_spacing_mm") or 30.0)
    band = float(params.get("band_mm") or 30.0)
    given = params.get("orientation") or "auto"
    if len(images) == 1:
        orients = [given]
    else:
        if given != "auto":
            raise InputError(f"nm.linearity: with two images each orientation is detected; orientation = "
                             f"{given!r} applies to one image only (remove it)", path=images[0].meta.path)
        orients = [detect_line_orientation(im.pixels, im.spacing_mm, line_spacing_mm=spacing) for im in images]
        if orients[0] == orients[1]:
            raise InputError(f"nm.linearity: both images have their slits the same way (measured along "
                             f"{orients[0]}); give one image with the slits along y and one along x",
                             path=images[1].meta.path)
    ms, details, visuals, warnings = [], {}, [], []
    for im, o in zip(images, orients):
        res = spatial_linearity(im.pixels, im.spacing_mm, orientation=o, line_spacing_mm=spacing, band_mm=band)
        ms += res.measurements()
        details[res.orientation] = res
        visuals += linearity_visuals(res, im.pixels)
        warnings += [f"{res.orientation}: {w}" for w in res.warnings]
    return TestOutput(measurements=tuple(ms), details=details, visuals=tuple(visuals), warnings=tuple(warnings),
                      parameters={o: dict(r.parameters) for o, r in details.items()}, phantom="slit_mask",
                      analyzer="nm.linearity")


def run_line_source(images: list[ImageData], params: dict) -> TestOutput:
    """nm.line_source: FWHM / FWTM of one line source (``axis`` given or detected)."""
    from phantomqc.pet_spect.linearity import detect_line_orientation, line_source_figures
    from phantomqc.pet_spect.planar import line_source_fwhm

    im = _one(images, "nm.line_source")
    axis = params.get("axis") or "auto"
    if axis == "auto":
        axis = detect_line_orientation(im.pixels, im.spacing_mm)
    band = params.get("band_mm")
    res = line_source_fwhm(im.pixels, im.spacing_mm, axis=axis, band_mm=None if band is None else float(band),
                           subtract_background=bool(params.get("subtract_background")))
    return TestOutput(measurements=tuple(res.measurements()), details=res,
                      visuals=line_source_figures(res, im.pixels, im.spacing_mm), warnings=tuple(res.warnings),
                      parameters=dict(res.parameters), phantom="line_source", analyzer="nm.line_source")


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
    from phantomqc.pet_spect.visuals import jaszczak_visuals

    return TestOutput(measurements=tuple(ms), details={"uniformity": uni, "contrast": con},
                      visuals=jaszczak_visuals(uni, con, vol, spacing),
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
    from phantomqc.pet_spect.visuals import nema_iq_visuals

    return TestOutput(measurements=tuple(ms), details={"iq": iq, "recovery": rc},
                      visuals=nema_iq_visuals(iq, rc, vol, spacing, contrast_known=given is not None),
                      warnings=tuple(warnings) +
                      tuple(iq.warnings) + tuple(rc.warnings), parameters={"activity_ratio": ratio,
                                                                           "cold_spheres_mm": list(cold)},
                      phantom="iec_body", analyzer="pet.nema_iq")


# ----------------------------------------------------------------------------------------------------------------
# centre of rotation, uniform PET cylinder, planar sensitivity and count rate (activities and times from the manifest)


def _when(text, what: str, path: str | None = None):
    """An ISO 8601 date-time (manifest value or ``meta`` field) as a ``datetime``."""
    import datetime as _dt

    if isinstance(text, _dt.datetime):
        return text
    try:
        return _dt.datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise InputError(f"{what} must be an ISO 8601 date and time such as \"2026-11-23T08:00:00\", got {text!r}",
                         path=path) from None


def _seconds(later, earlier, warnings: list[str]) -> float:
    """``later - earlier`` in seconds; a time-zone offset on one side only is dropped (DICOM times are local)."""
    if (later.tzinfo is None) != (earlier.tzinfo is None):
        warnings.append("one of the times has a time-zone offset and the other none: both taken as local time")
        later, earlier = later.replace(tzinfo=None), earlier.replace(tzinfo=None)
    return (later - earlier).total_seconds()


def _half_life_s(params: dict, images: Sequence[ImageData], kind: str) -> float:
    if params.get("half_life_s") is not None:
        return float(params["half_life_s"])
    t = images[0].meta.extra.get("radionuclide_half_life_s")
    if t is None:
        raise InputError(f"{kind}: no half-life: the image has no (0054,0016) Radiopharmaceutical Information Sequence "
                         "with (0018,1075) Radionuclide Half Life; give half_life_s in the manifest (Tc-99m: 21624.9)",
                         path=images[0].meta.path)
    return float(t)


def _acquisition(im: ImageData, kind: str):
    """(start datetime, duration s) of a static NM image from (0008,0022/0032) and (0018,1242)."""
    if not im.meta.acquisition_datetime:
        raise InputError(f"{kind}: the image has no (0008,0022) Acquisition Date / (0008,0032) Acquisition Time",
                         path=im.meta.path)
    ms = im.meta.extra.get("actual_frame_duration_ms")
    if not ms or ms <= 0:
        raise InputError(f"{kind}: the image has no (0018,1242) Actual Frame Duration: the acquisition time is "
                         "unknown", path=im.meta.path)
    return _when(im.meta.acquisition_datetime, "(0008,0022/0032) Acquisition Date/Time", im.meta.path), ms / 1000.0


def run_cor(images: list[ImageData], params: dict) -> TestOutput:
    from phantomqc.pet_spect.spect import center_of_rotation

    bad = [im.meta.path for im in images if im.meta.modality != "NM"]
    if bad:
        raise InputError(f"nm.cor analyses NM projections; {bad[0]} is not one", path=bad[0])
    given = params.get("angles_deg")
    angles = list(given) if given else [im.meta.extra.get("gantry_angle_deg") for im in images]
    if any(a is None for a in angles):
        raise InputError("nm.cor: the projections carry no gantry angles ((0054,0052) Rotation Information Sequence "
                         "with Start Angle and Angular Step, and a TOMO Image Type); give angles_deg in the manifest",
                         path=images[0].meta.path)
    proj = np.stack([im.pixels for im in images]).astype(np.float64)
    res = center_of_rotation(proj, angles, images[0].spacing_mm)
    params_used = dict(res.parameters, angles="manifest angles_deg" if given else "Rotation Information Sequence")
    from phantomqc.pet_spect.visuals import cor_visuals

    return TestOutput(measurements=tuple(res.measurements()), details=res, warnings=tuple(res.warnings),
                      visuals=cor_visuals(res),
                      parameters=params_used, phantom="point_source", analyzer="nm.cor")


def run_uniform(images: list[ImageData], params: dict) -> TestOutput:
    from phantomqc.pet_spect.activity import decay_average_factor, decay_factor, suv_body_weight
    from phantomqc.pet_spect.nema_iq import uniform_concentration

    vol, spacing, warnings = volume_of(images, "pet.uniform", "PT")
    im0 = images[0]
    ex = im0.meta.extra
    if ex.get("units") and ex["units"] != "BQML":
        raise InputError(f"pet.uniform needs activity concentration images; (0054,1001) Units is {ex['units']!r}, "
                         "expected BQML", path=im0.meta.path)
    t_half = _half_life_s(params, images, "pet.uniform")
    t_cal = _when(params["activity_time"], "activity_time")
    correction = ex.get("decay_correction") or "START"
    factor = 1.0
    if correction == "ADMIN" and ex.get("radiopharmaceutical_start_datetime"):
        t_ref, source = _when(ex["radiopharmaceutical_start_datetime"], "(0018,1078)", im0.meta.path), \
            "(0018,1078) Radiopharmaceutical Start DateTime (Decay Correction ADMIN)"
    elif correction == "START" and ex.get("series_datetime"):
        t_ref, source = _when(ex["series_datetime"], "(0008,0021/0031)", im0.meta.path), \
            "(0008,0021/0031) Series Date/Time (Decay Correction START)"
    elif im0.meta.acquisition_datetime:
        t_ref = _when(im0.meta.acquisition_datetime, "(0008,0022/0032)", im0.meta.path)
        source = f"(0008,0022/0032) Acquisition Date/Time (Decay Correction {correction})"
        if correction == "NONE" and ex.get("actual_frame_duration_ms"):
            factor = decay_average_factor(ex["actual_frame_duration_ms"] / 1000.0, t_half)
            source += ", averaged over (0018,1242) Actual Frame Duration"
        elif correction != "NONE":
            warnings.append(f"the decay-correction reference time of {correction} is missing from the tags: the "
                            "acquisition start is used")
    else:
        raise InputError("pet.uniform: no reference time: the images have neither (0008,0021/0031) Series Date/Time "
                         "nor (0008,0022/0032) Acquisition Date/Time", path=im0.meta.path)
    elapsed = _seconds(t_ref, t_cal, warnings)
    expected = float(params["activity_MBq"]) * 1e6 * decay_factor(elapsed, t_half) * factor / float(params["volume_mL"])
    res = uniform_concentration(vol, spacing, expected_bq_per_ml=expected,
                                roi_fraction=float(params.get("roi_fraction") or 0.75))
    ms = [Measurement.of("pet.uniform.concentration_error_percent", res.concentration_error_percent)]
    dose, weight, t_inj = (ex.get("radionuclide_total_dose_bq"), ex.get("patient_weight_kg"),
                           ex.get("radiopharmaceutical_start_datetime"))
    if dose and weight and t_inj:
        suv = suv_body_weight(res.measured.value, injected_dose_bq=dose, half_life_s=t_half, weight_kg=weight,
                              elapsed_s=_seconds(t_ref, _when(t_inj, "(0018,1078)", im0.meta.path), warnings))
        u = None if res.measured.uncertainty is None else suv * res.measured.uncertainty / res.measured.value
        ms.append(Measurement("pet.uniform.suv_mean", suv, "1", uncertainty=u))
    else:
        missing = [n for n, v in (("(0018,1074) Radionuclide Total Dose", dose), ("(0010,1030) Patient Weight", weight),
                                  ("(0018,1078) Radiopharmaceutical Start DateTime", t_inj)) if not v]
        ms.append(Measurement("pet.uniform.suv_mean", float("nan"), "1",
                              note="the SUV needs " + ", ".join(missing) + " in the images"))
    return TestOutput(measurements=tuple(ms), details=res, warnings=tuple(warnings) + tuple(res.warnings),
                      parameters=dict(res.parameters, expected_bq_per_ml=expected, reference_time=t_ref.isoformat(),
                                      reference_time_source=source, half_life_s=t_half),
                      phantom="uniform_cylinder", analyzer="pet.uniform")


def run_sensitivity(images: list[ImageData], params: dict) -> TestOutput:
    from phantomqc.pet_spect.activity import planar_sensitivity

    bad = [im.meta.path for im in images if im.meta.modality != "NM"]
    if bad:
        raise InputError(f"nm.sensitivity analyses NM images; {bad[0]} is not one", path=bad[0])
    if len(images) not in (1, 2):
        raise InputError(f"nm.sensitivity needs one source image (and optionally one background image), got "
                         f"{len(images)} frames", path=images[0].meta.path)
    warnings: list[str] = []
    t0, duration = _acquisition(images[0], "nm.sensitivity")
    elapsed = _seconds(t0, _when(params["activity_time"], "activity_time"), warnings)
    bg, bg_t = (None, None)
    if len(images) == 2:
        bg, bg_t = images[1].pixels, _acquisition(images[1], "nm.sensitivity")[1]
    res = planar_sensitivity(images[0].pixels, activity_mbq=float(params["activity_MBq"]), elapsed_s=elapsed,
                             duration_s=duration, half_life_s=_half_life_s(params, images, "nm.sensitivity"),
                             background=bg, background_duration_s=bg_t)
    return TestOutput(measurements=tuple(res.measurements()), details=res, warnings=tuple(warnings) + res.warnings,
                      parameters=dict(res.parameters), phantom="point_source", analyzer="nm.sensitivity")


def run_count_rate(images: list[ImageData], params: dict) -> TestOutput:
    from phantomqc.pet_spect.activity import count_rate_dead_time, decay_average_factor, decay_factor

    bad = [im.meta.path for im in images if im.meta.modality != "NM"]
    if bad:
        raise InputError(f"nm.count_rate analyses NM images; {bad[0]} is not one", path=bad[0])
    n = len(images)
    acts = [float(a) for a in np.atleast_1d(params["activity_MBq"])]
    times = list(params["activity_time"])
    for name, vals in (("activity_MBq", acts), ("activity_time", times)):
        if len(vals) not in (1, n):
            raise InputError(f"nm.count_rate: {name} has {len(vals)} values for {n} images; give one per image or "
                             "one for the whole series", path=images[0].meta.path)
    t_half = _half_life_s(params, images, "nm.count_rate")
    warnings: list[str] = []
    rates, counts, mean_act = [], [], []
    for i, im in enumerate(images):
        t0, duration = _acquisition(im, "nm.count_rate")
        el = _seconds(t0, _when(times[i if len(times) == n else 0], "activity_time"), warnings)
        mean_act.append(acts[i if len(acts) == n else 0] * decay_factor(el, t_half)
                        * decay_average_factor(duration, t_half))
        c = float(im.pixels.sum(dtype=np.float64))
        counts.append(c)
        rates.append(c / duration)
    res = count_rate_dead_time(rates, mean_act, counts=counts)
    return TestOutput(measurements=tuple(res.measurements()), details=res, warnings=tuple(warnings) + res.warnings,
                      parameters=dict(res.parameters, half_life_s=t_half), phantom="point_source",
                      analyzer="nm.count_rate")
