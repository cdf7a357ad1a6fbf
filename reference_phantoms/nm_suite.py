"""The gamma-camera, SPECT and PET twins written as DICOM, with truth.json and a manifest: the reference phantoms
of ``phantomqc demo`` and of the pipeline truth tests. The images come from the in-memory generators of
``reference_phantoms.nm``, ``.spect`` and ``.pet``; this module only writes them.

``make_nm_suite(out_dir, seed=0)`` writes ``flood/``, ``four_bar/``, ``quadrant_bar/``, ``jaszczak/`` (one NM file
each; the Jaszczak reconstruction as a multi-frame RECON TOMO object) and ``pet_iq/`` (the IEC body phantom, one PT
file per slice, Bq/ml), ``truth.json`` and ``manifest.toml``; returns the manifest path.
``linearity/`` (NU 1 slit masks, slits along y and along x) and ``line_source/`` come from
:func:`_write_linearity_twins`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._writing import json_default, toml_value, write_nm, write_pt

__all__ = ["make_nm_suite", "NM_PHANTOMS"]


def _u16(a: np.ndarray) -> np.ndarray:
    return np.clip(np.round(a), 0, 65535).astype(np.uint16)


def make_nm_suite(out_dir, *, seed: int = 0, **ignored) -> Path:
    """Write the NM/SPECT/PET reference phantoms (see the module docstring); returns the manifest."""
    from phantomqc.io.write import new_uid
    from reference_phantoms.nm import flood, four_bar_image, quadrant_bar_image
    from reference_phantoms.pet import iec_body_phantom
    from reference_phantoms.spect import jaszczak_volume

    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    study = new_uid()
    expected: list[dict] = []

    def exp(mid, value, label=None, how=""):
        expected.append({"id": mid, "label": label, "value": float(value), "how": how})

    # flood: noiseless expected counts (1e4 per pixel x gain), 2 mm pixels -> rebinned 4 x 4 (8 mm, NU 1 coarsest)
    img, tr = flood((256, 256), (2.0, 2.0), counts_per_pixel=1.0e4, rng=None)
    write_nm(out / "flood" / "flood.dcm", _u16(img), spacing_mm=(2.0, 2.0), series_uid=new_uid(), study_uid=study,
             series_description="UNIFORMITY FLOOD")
    u = tr["uniformity"][4]
    for lab in ("ufov", "cfov"):  # the gain bumps lie inside the CFOV: the same extremes in both fields
        exp("nm.uniformity.integral_percent", u["integral_percent"], lab, "flood_truth on the noiseless map, 4x4 blocks")
        exp("nm.uniformity.differential_percent", u["differential_percent"], lab, "as above")
    # four bars: 7.5 mm FWHM lines 100 mm apart, Poisson counts
    img, tr = four_bar_image((512, 512), (1.0325, 1.0325), fwhm_mm=7.5, rng=rng)
    write_nm(out / "four_bar" / "four_bar.dcm", _u16(img), spacing_mm=(1.0325, 1.0325), series_uid=new_uid(),
             study_uid=study, series_description="FOUR BAR")
    for ax in ("x", "y"):
        exp("nm.four_bar.fwhm_mm", tr["fwhm_mm"], ax, "Gaussian cross-profile of the generator")
        exp("nm.four_bar.pixel_size_mm", tr["pixel_size_mm"][ax], ax, "the true pixel size")
    # quadrant bars: Gaussian LSF of 3.5 mm
    img, tr = quadrant_bar_image((512, 512), (1.0325, 1.0325), lsf_fwhm_mm=3.5, rng=rng)
    write_nm(out / "quadrant_bar" / "quadrant_bar.dcm", _u16(img), spacing_mm=(1.0325, 1.0325), series_uid=new_uid(),
             study_uid=study, series_description="QUADRANT BAR")
    for w, m in tr["moment_modulation"].items():
        exp("nm.quadrant_bar.mtf", m, f"{w:.2f}mm", "moments modulation of the blurred square wave (NMQC's MTF)")
    # Jaszczak reconstruction: 40 slices of 128^2 at 4 mm, 6 cold spheres, 10 mm blur, Poisson
    vol, tr = jaszczak_volume(shape=(40, 128, 128), pixel_mm=4.0, fwhm_mm=10.0, noise="poisson", rng=rng)
    write_nm(out / "jaszczak" / "jaszczak.dcm", _u16(vol), spacing_mm=(4.0, 4.0), series_uid=new_uid(),
             study_uid=study, series_description="JASZCZAK SPECT",
             image_type=("DERIVED", "PRIMARY", "RECON TOMO", "EMISSION"), slice_spacing_mm=4.0)
    # PET: IEC body phantom, 4:1, 6 mm PSF, 3 % noise, 89 slices of 192^2
    vol, spacing, tr = iec_body_phantom(activity_ratio=4.0, fwhm_mm=6.0, noise_percent=3.0, rng=rng)
    series, forf = new_uid(), new_uid()
    dz, dy, dx = spacing
    for k in range(vol.shape[0]):
        write_pt(out / "pet_iq" / f"PT{k + 1:04d}.dcm", vol[k], spacing_mm=(dy, dx), position_mm=(0.0, 0.0, k * dz),
                 series_uid=series, study_uid=study, frame_of_reference_uid=forf, instance_number=k + 1,
                 n_slices=vol.shape[0], slice_thickness_mm=dz)
    activity_tests = _write_activity_twins(out, study, np.random.default_rng([seed, 5]), exp)  # COR, PET SUV, NU 1
    linearity_tests = _write_linearity_twins(out, study, np.random.default_rng([seed, 6]), exp)  # NU 1 slits, line
    truth = {"schema": "phantomqc.truth/1", "generator": "reference_phantoms.nm_suite", "seed": seed,
             "expected": expected, "pet": {k: tr[k] for k in ("activity_ratio", "background", "fwhm_mm", "noise_sd")}}
    (out / "truth.json").write_text(json.dumps(truth, indent=1, default=json_default) + "\n", encoding="utf-8")
    tests = [("nm.uniformity", "flood", ["flood/flood.dcm"], {}),
             ("nm.four_bar", "four_bar", ["four_bar/four_bar.dcm"], {}),
             ("nm.quadrant_bar", "quadrant_bar", ["quadrant_bar/quadrant_bar.dcm"], {}),
             ("spect.jaszczak", "jaszczak", ["jaszczak/jaszczak.dcm"], {}),
             ("pet.nema_iq", "nema_iq", ["pet_iq"], {"activity_ratio": 4.0})]
    tests += activity_tests
    tests += linearity_tests
    lines = ['schema = "phantomqc.manifest/1"', 'profile = "nema-earl"', 'test_type = "acceptance"', "",
             "# written by reference_phantoms.nm_suite; the expected values are in truth.json", ""]
    for kind, name, images, extra in tests:
        lines += ["[[test]]", f"kind = {toml_value(kind)}", f"name = {toml_value(name)}",
                  f"images = {toml_value(images)}"] + [f"{k} = {toml_value(v)}" for k, v in extra.items()] + [""]
    (out / "manifest.toml").write_text("\n".join(lines), encoding="utf-8")
    return out / "manifest.toml"


def _write_activity_twins(out: Path, study: str, rng: np.random.Generator, exp) -> list[tuple]:
    """Write ``cor/`` (point-source projections, NM TOMO), ``pet_uniform/`` (uniform cylinder, PT, 3 % calibration
    error), ``sensitivity/`` (source and background images) and ``count_rate/`` (a decaying Tc-99m source, 12
    images); record their truth with ``exp``; return their manifest tests."""
    from phantomqc.io.write import new_uid
    from reference_phantoms._writing import write_nm_static, write_nm_tomo, write_pt_volume
    from reference_phantoms.pet import uniform_cylinder_scan
    from reference_phantoms.spect import count_rate_series, cor_projections, sensitivity_acquisition

    # COR: 64 projections over 360 degrees (CW from 0), axis 1.3 mm right of the image centre, 0.4 mm axial sag
    proj, angles, tr = cor_projections(offset_mm=1.3, axial_drift_mm=0.4, counts=2.0e5, rng=rng)
    write_nm_tomo(out / "cor" / "cor.dcm", _u16(proj), spacing_mm=tr["spacing_mm"], series_uid=new_uid(),
                  study_uid=study, start_angle_deg=float(angles[0]), angular_step_deg=float(angles[1] - angles[0]))
    exp("nm.cor.deviation_mm", tr["offset_mm"], "x", "rotation-axis offset of the generator")
    exp("nm.cor.deviation_mm", tr["y_deviation_mm"], "y", "max |y - mean y| of the true axial positions")
    # uniform PET cylinder: 60 MBq F-18 at 08:00 in 4712 ml, scanned at 09:00, image 3 % high
    fill, scan = "2026-11-23T08:00:00", "2026-11-23T09:00:00"
    vol, spacing, tr = uniform_cylinder_scan(activity_mbq=60.0, fill_time=fill, scan_time=scan, rng=rng)
    volume_ml = tr["volume_ml"]
    write_pt_volume(out / "pet_uniform", vol, spacing_mm=spacing, series_uid=new_uid(), study_uid=study,
                    frame_of_reference_uid=new_uid(), series_datetime=scan, injection_datetime=fill,
                    total_dose_bq=60.0e6, half_life_s=tr["half_life_s"], patient_weight_kg=tr["weight_kg"])
    exp("pet.uniform.concentration_error_percent", tr["concentration_error_percent"], None, "image scaled by 1.03")
    exp("pet.uniform.suv_mean", tr["suv_mean"], None, "SUV 1 by construction, times the 1.03 calibration")
    # planar sensitivity: 40 MBq Tc-99m at 10:00, imaged 30 min later for 100 s; background 200 s
    s_img, b_img, tr = sensitivity_acquisition(sensitivity_cps_per_mbq=90.0, activity_mbq=40.0, elapsed_s=1800.0,
                                               duration_s=100.0, rng=rng)
    write_nm_static(out / "sensitivity" / "source.dcm", _u16(s_img), spacing_mm=tr["spacing_mm"],
                    series_uid=new_uid(), study_uid=study, acquisition_start="2026-11-23T10:30:00",
                    frame_duration_s=100.0)
    write_nm_static(out / "sensitivity" / "background.dcm", _u16(b_img), spacing_mm=tr["spacing_mm"],
                    series_uid=new_uid(), study_uid=study, acquisition_start="2026-11-23T10:35:00",
                    frame_duration_s=200.0, series_description="SENSITIVITY BACKGROUND")
    exp("nm.sensitivity.cps_per_mbq", tr["sensitivity_cps_per_mbq"], None, "s of the generator")
    # count rate: 400 MBq Tc-99m at 2026-11-23T08:00, 10 s images 0 ... 38 h later; tau = 2 us, s = 2000 cps/MBq
    import datetime as dt

    imgs, tr = count_rate_series(rng=rng)
    t_cal = dt.datetime(2026, 11, 23, 8, 0, 0)
    names = []
    for i, (img, t0) in enumerate(zip(imgs, tr["start_s"])):
        names.append(f"count_rate/cr{i + 1:02d}.dcm")
        write_nm_static(out / names[-1], _u16(img), spacing_mm=tr["spacing_mm"], series_uid=new_uid(),
                        study_uid=study, acquisition_start=t_cal + dt.timedelta(seconds=float(t0)),
                        frame_duration_s=tr["duration_s"], series_description="COUNT RATE",
                        header={"SeriesNumber": i + 1})
    exp("nm.count_rate.max_kcps", tr["max_kcps"], "fit", "1/(e tau) of the generator")
    exp("nm.count_rate.max_kcps", tr["max_measured_kcps"], "measured", "largest noiseless rate of the series")
    exp("nm.count_rate.loss20_kcps", tr["loss20_kcps"], None, "0.8 (-ln 0.8)/tau of the generator")
    exp("nm.count_rate.dead_time_us", tr["dead_time_s"] * 1e6, None, "tau of the generator")
    return [("nm.cor", "cor", ["cor/cor.dcm"], {}),
            ("pet.uniform", "pet_uniform", ["pet_uniform"], {"activity_MBq": 60.0, "activity_time": fill,
                                                             "volume_mL": volume_ml}),
            ("nm.sensitivity", "sensitivity", ["sensitivity/source.dcm", "sensitivity/background.dcm"],
             {"activity_MBq": 40.0, "activity_time": "2026-11-23T10:00:00"}),
            ("nm.count_rate", "count_rate", names, {"activity_MBq": [400.0], "activity_time": [t_cal.isoformat()],
                                                    "half_life_s": tr["half_life_s"]})]


def _write_linearity_twins(out: Path, study: str, rng: np.random.Generator, exp) -> list[tuple]:
    """Write ``linearity/`` (NU 1 slit-mask images: slits along y, rectangular field; slits along x, circular field,
    mask tilted 0.5 degrees; 0.8 mm pixels, Poisson counts) and ``line_source/`` (one line along y, FWHM 8 mm);
    record their truth with ``exp`` (linearity from the generating slit positions); return their manifest tests."""
    from phantomqc.io.write import new_uid
    from reference_phantoms.nm import line_grid_image, line_source_image

    for o, kw in (("x", {"distortion_mm": 0.5, "field": "rectangular", "field_size_mm": 390.0}),
                  ("y", {"distortion_mm": 0.35, "distortion_phase": 1.1, "field": "circular", "field_size_mm": 400.0,
                         "rotation_deg": 0.5})):
        img, tr = line_grid_image((512, 512), (0.8, 0.8), orientation=o, rng=rng, **kw)
        write_nm(out / "linearity" / f"slits_{o}.dcm", _u16(img), spacing_mm=(0.8, 0.8), series_uid=new_uid(),
                 study_uid=study, series_description=f"INTRINSIC LINEARITY {o.upper()}")
        for fov in ("ufov", "cfov"):
            exp("nm.linearity.absolute_mm", tr["absolute_mm"][fov], f"{fov}_{o}", "generating slit positions, "
                "largest residual from the least-squares grid")
            exp("nm.linearity.differential_mm", tr["differential_mm"][fov], f"{fov}_{o}", "generating slit "
                "positions, SD of adjacent spacings")
    img, tr = line_source_image((256, 256), (0.8, 0.8), fwhm_mm=8.0, offset_mm=0.3, axis="x", peak_counts=5000.0,
                                rng=rng)
    write_nm(out / "line_source" / "line_source.dcm", _u16(img), spacing_mm=(0.8, 0.8), series_uid=new_uid(),
             study_uid=study, series_description="LINE SOURCE")
    exp("nm.line_source.fwhm_mm", tr["fwhm_mm"], "x", "Gaussian cross-profile of the generator")
    exp("nm.line_source.fwtm_mm", tr["fwtm_mm"], "x", "Gaussian cross-profile of the generator")
    return [("nm.linearity", "linearity", ["linearity/slits_x.dcm", "linearity/slits_y.dcm"], {}),
            ("nm.line_source", "line_source", ["line_source/line_source.dcm"], {})]


NM_PHANTOMS = {"nm-suite": make_nm_suite}
