"""Centre of rotation from NM TOMO DICOM, the uniform PET cylinder (concentration and SUV), planar sensitivity and
count rate (phantomqc.pet_spect.activity and the runners), on twins with known answers."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from phantomqc._shared.errors import AnalysisError, InputError
from phantomqc.core.types import ImageData, ImageMeta
from phantomqc.io import read_frames
from phantomqc.pet_spect.activity import (
    count_rate_dead_time,
    decay_average_factor,
    decay_factor,
    planar_sensitivity,
    suv_body_weight,
)
from phantomqc.pet_spect.runners import run_cor, run_count_rate, run_sensitivity, run_uniform
from reference_phantoms._writing import write_nm_static, write_nm_tomo, write_pt_volume
from reference_phantoms.pet import uniform_cylinder_scan
from reference_phantoms.spect import TC99M_HALF_LIFE_S, cor_projections, count_rate_series, sensitivity_acquisition

F18_S = 6586.2


# ----------------------------------------------------------------------------------------------------------------
# decay


def test_decay_factors_against_numerical_integration():
    t_half = TC99M_HALF_LIFE_S
    assert decay_factor(t_half, t_half) == pytest.approx(0.5, rel=1e-14)
    assert decay_factor(-t_half, t_half) == pytest.approx(2.0, rel=1e-14)
    for duration in (1.0, 600.0, t_half, 5 * t_half):
        t = np.linspace(0.0, duration, 200001)
        # trapezoid on 2e5 intervals: error ~ (lambda T)^2 / (12 n^2) < 1e-10
        numeric = np.trapezoid(decay_factor(t, t_half), t) / duration
        assert decay_average_factor(duration, t_half) == pytest.approx(numeric, rel=1e-9)
    assert decay_average_factor(0.0, t_half) == 1.0


# ----------------------------------------------------------------------------------------------------------------
# centre of rotation through DICOM


def _cor_frames(tmp_path, *, offset_mm, direction, start_deg):
    arc = 360.0 if direction == "CW" else -360.0
    proj, angles, truth = cor_projections(offset_mm=offset_mm, axial_drift_mm=0.3, counts=2.0e5, start_deg=start_deg,
                                          arc_deg=arc, rng=np.random.default_rng(7))
    path = tmp_path / f"cor_{direction}.dcm"
    write_nm_tomo(path, np.round(proj).astype(np.uint16), spacing_mm=truth["spacing_mm"], series_uid="1.2.3.4",
                  study_uid="1.2.3.5", start_angle_deg=start_deg, angular_step_deg=abs(arc) / len(angles),
                  rotation_direction=direction)
    return read_frames(path), angles, truth


@pytest.mark.parametrize(("offset_mm", "direction", "start_deg"), [(1.3, "CW", 0.0), (-2.0, "CC", 90.0),
                                                                   (0.0, "CW", 180.0)])
def test_cor_angles_and_offset_from_the_dicom(tmp_path, offset_mm, direction, start_deg):
    frames, angles, truth = _cor_frames(tmp_path, offset_mm=offset_mm, direction=direction, start_deg=start_deg)
    read = np.array([f.meta.extra["gantry_angle_deg"] for f in frames])
    # the angles are rebuilt from Start Angle + (view - 1) x step (negated for CC): DS strings of 16 characters
    np.testing.assert_allclose(read, angles, atol=1e-9)
    out = run_cor(frames, {})
    got = {m.label: m.value for m in out.measurements}
    # 0.05 mm (issue 5); the noise SD of x0 is ~0.001 mm and the bias of the y deviation < 0.025 mm (2e5 counts)
    assert got["x"] == pytest.approx(truth["offset_mm"], abs=0.05)
    assert got["y"] == pytest.approx(truth["y_deviation_mm"], abs=0.05)


def test_cor_angles_matter(tmp_path):
    # the rotation direction only changes the sinusoid's phase (x0 is the same), but a wrong angular step breaks the
    # fit: the residual grows far above the noise (~0.01 mm per projection at 2e5 counts)
    frames, angles, _ = _cor_frames(tmp_path, offset_mm=1.0, direction="CW", start_deg=30.0)
    good = run_cor(frames, {}).details
    mirrored = run_cor(frames, {"angles_deg": list(90.0 - angles)}).details
    half_step = run_cor(frames, {"angles_deg": list(angles / 2.0)}).details
    assert mirrored.x_offset_mm.value == pytest.approx(good.x_offset_mm.value, abs=1e-9)
    assert good.x_residual_max_mm.value < 0.1 and half_step.x_residual_max_mm.value > 10.0


def test_cor_without_angles_asks_for_them():
    im = [ImageData(np.ones((8, 8), np.float32), (4.0, 4.0), ImageMeta(path="p.dcm", modality="NM"))] * 8
    with pytest.raises(InputError, match="angles_deg"):
        run_cor(im, {})


# ----------------------------------------------------------------------------------------------------------------
# uniform PET cylinder


def test_pt_radiopharmaceutical_tags_are_read(tmp_path):
    vol = np.full((2, 8, 8), 1000.0)
    write_pt_volume(tmp_path, vol, spacing_mm=(3.0, 2.0, 2.0), series_uid="1.2.3.1", study_uid="1.2.3.2",
                    frame_of_reference_uid="1.2.3.3", series_datetime="2026-11-23T09:30:00",
                    injection_datetime="2026-11-23T08:15:00", total_dose_bq=3.0e8, half_life_s=F18_S,
                    patient_weight_kg=71.5)
    ex = read_frames(tmp_path / "PT0001.dcm")[0].meta.extra
    assert ex["units"] == "BQML" and ex["decay_correction"] == "START"
    assert ex["radionuclide_total_dose_bq"] == 3.0e8 and ex["radionuclide_half_life_s"] == F18_S
    assert ex["patient_weight_kg"] == 71.5
    assert dt.datetime.fromisoformat(ex["series_datetime"]) == dt.datetime(2026, 11, 23, 9, 30)
    assert dt.datetime.fromisoformat(ex["radiopharmaceutical_start_datetime"]) == dt.datetime(2026, 11, 23, 8, 15)


@pytest.mark.parametrize("factor", [0.95, 1.0, 1.03])
def test_uniform_cylinder_through_dicom(tmp_path, factor):
    vol, sp, tr = uniform_cylinder_scan(calibration_factor=factor, shape=(40, 96, 96), spacing_mm=(4.0, 3.0, 3.0),
                                        diameter_mm=200.0, length_mm=120.0, rng=np.random.default_rng(1))
    write_pt_volume(tmp_path, vol, spacing_mm=sp, series_uid="1.2.3.1", study_uid="1.2.3.2",
                    frame_of_reference_uid="1.2.3.3", series_datetime=tr["scan_time"],
                    injection_datetime=tr["fill_time"], total_dose_bq=tr["activity_mbq"] * 1e6,
                    half_life_s=F18_S, patient_weight_kg=tr["weight_kg"])
    images = [im for p in sorted(tmp_path.glob("PT*.dcm")) for im in read_frames(p)]
    out = run_uniform(images, {"activity_MBq": tr["activity_mbq"], "activity_time": tr["fill_time"],
                               "volume_mL": tr["volume_ml"], "roi_fraction": 0.75})
    got = {m.id: m.value for m in out.measurements}
    # ~2.5e4 ROI voxels of 2 % noise: SD of the mean 0.013 %; 0.06 percentage points is ~5 SD
    assert got["pet.uniform.concentration_error_percent"] == pytest.approx((factor - 1) * 100, abs=0.06)
    assert got["pet.uniform.suv_mean"] == pytest.approx(factor, abs=0.0006)


def _pt_images(value, extra):
    vol = np.zeros((30, 64, 64), np.float32)
    yy, xx = np.indices((64, 64))
    vol[5:25][:, np.hypot(yy - 31.5, xx - 31.5) < 25] = value
    return [ImageData(vol[k], (4.0, 4.0), ImageMeta(path="pt.dcm", modality="PT", extra=extra,
                                                     acquisition_datetime="2026-11-23T09:00:00",
                                                     image_position_patient=(0.0, 0.0, 4.0 * k)))
            for k in range(30)]


def test_uniform_decay_reference_follows_the_decay_correction_tag():
    # 100 MBq in 10 000 ml at 08:00; ADMIN: the image is corrected to the injection (07:00), START to 09:00
    params = {"activity_MBq": 100.0, "activity_time": "2026-11-23T08:00:00", "volume_mL": 10000.0,
              "half_life_s": F18_S, "roi_fraction": 0.5}
    at_admin = 1e4 * 2.0 ** (3600.0 / F18_S)
    admin = {"decay_correction": "ADMIN", "radiopharmaceutical_start_datetime": "2026-11-23T07:00:00",
             "series_datetime": "2026-11-23T09:00:00"}
    out = run_uniform(_pt_images(at_admin, admin), params)
    # a noiseless constant image: only float32 rounding (1e-7) separates it from the expected value
    assert out.measurements[0].value == pytest.approx(0.0, abs=1e-4)
    assert "ADMIN" in out.parameters["reference_time_source"]
    start = dict(admin, decay_correction="START")
    out = run_uniform(_pt_images(at_admin, start), params)
    # the same image read as corrected to 09:00 is 2^(2 h / T_half) too high
    assert out.measurements[0].value == pytest.approx((2.0 ** (7200.0 / F18_S) - 1) * 100, abs=1e-4)
    # SUV needs the dose and the weight: without them a NaN with the reason, never a number
    suv = next(m for m in out.measurements if m.id == "pet.uniform.suv_mean")
    assert math.isnan(suv.value) and "Patient Weight" in suv.note


def test_suv_of_a_filled_phantom_is_one():
    v_ml, dose = 6283.2, 1.2e8
    # scanned one half-life after filling: the concentration has halved, so has the decayed dose
    assert suv_body_weight(dose / v_ml / 2, injected_dose_bq=dose, elapsed_s=F18_S, half_life_s=F18_S,
                           weight_kg=v_ml / 1000) == pytest.approx(1.0, rel=1e-12)
    assert suv_body_weight(1.1 * dose / v_ml, injected_dose_bq=dose, elapsed_s=0.0, half_life_s=F18_S,
                           weight_kg=v_ml / 1000) == pytest.approx(1.1, rel=1e-12)


# ----------------------------------------------------------------------------------------------------------------
# planar sensitivity


@pytest.mark.parametrize(("elapsed_s", "duration_s"), [(0.0, 60.0), (1800.0, 100.0), (-600.0, 300.0),
                                                       (3600.0, TC99M_HALF_LIFE_S)])
def test_sensitivity_noiseless_is_exact(elapsed_s, duration_s):
    src, bg, tr = sensitivity_acquisition(elapsed_s=elapsed_s, duration_s=duration_s, rng=None)
    r = planar_sensitivity(src, activity_mbq=tr["activity_mbq"], elapsed_s=elapsed_s, duration_s=duration_s,
                           half_life_s=TC99M_HALF_LIFE_S, background=bg,
                           background_duration_s=tr["background_duration_s"])
    # expected counts, no noise: only float rounding remains
    assert r.sensitivity.value == pytest.approx(90.0, rel=1e-10)


def test_sensitivity_without_decay_correction_would_be_wrong():
    # one half-life of acquisition: the mean activity is 0.72 of the start; ignoring it would read 28 % low
    src, bg, _tr = sensitivity_acquisition(duration_s=TC99M_HALF_LIFE_S, elapsed_s=0.0, rng=None)
    r = planar_sensitivity(src, activity_mbq=40.0, elapsed_s=0.0, duration_s=TC99M_HALF_LIFE_S,
                           half_life_s=TC99M_HALF_LIFE_S, background=bg, background_duration_s=200.0)
    naive = r.net_rate_cps / 40.0
    assert naive == pytest.approx(90.0 * 0.5 / math.log(2.0), rel=1e-10)
    assert r.sensitivity.value == pytest.approx(90.0, rel=1e-10)


def test_sensitivity_noise_matches_its_uncertainty():
    z = []
    for seed in range(20):
        src, bg, _tr = sensitivity_acquisition(rng=np.random.default_rng(seed))
        r = planar_sensitivity(src, activity_mbq=40.0, elapsed_s=1800.0, duration_s=100.0,
                               half_life_s=TC99M_HALF_LIFE_S, background=bg, background_duration_s=200.0)
        z.append((r.sensitivity.value - 90.0) / r.sensitivity.uncertainty)
    # 20 standard-normal z scores: |mean| < 4/sqrt(20) = 0.9, SD in (0.5, 1.6) (chi-square 19 dof, p ~ 1e-3 each side)
    assert abs(np.mean(z)) < 0.9 and 0.5 < np.std(z, ddof=1) < 1.6


def _nm_static(pixels, start, duration_s, half_life=TC99M_HALF_LIFE_S):
    extra = {"actual_frame_duration_ms": duration_s * 1000.0}
    if half_life is not None:
        extra["radionuclide_half_life_s"] = half_life
    return ImageData(np.asarray(pixels, np.float32), (4.0, 4.0),
                     ImageMeta(path="s.dcm", modality="NM", acquisition_datetime=start, extra=extra))


def test_sensitivity_runner_through_dicom(tmp_path):
    src, bg, _tr = sensitivity_acquisition(rng=np.random.default_rng(11))
    write_nm_static(tmp_path / "s.dcm", src.astype(np.uint16), spacing_mm=(4.0, 4.0), series_uid="1.2.3.1",
                    study_uid="1.2.3.2", acquisition_start="2026-11-23T10:30:00", frame_duration_s=100.0)
    write_nm_static(tmp_path / "b.dcm", bg.astype(np.uint16), spacing_mm=(4.0, 4.0), series_uid="1.2.3.3",
                    study_uid="1.2.3.2", acquisition_start="2026-11-23T10:35:00", frame_duration_s=200.0)
    images = read_frames(tmp_path / "s.dcm") + read_frames(tmp_path / "b.dcm")
    assert images[0].meta.extra["actual_frame_duration_ms"] == 100000.0
    out = run_sensitivity(images, {"activity_MBq": 40.0, "activity_time": "2026-11-23T10:00:00"})
    # 30 min after calibration, half-life from the tags; Poisson counts 3.4e5: 4 SD = 0.7 %
    assert out.parameters["elapsed_s"] == 1800.0 and out.parameters["half_life_s"] == TC99M_HALF_LIFE_S
    assert out.measurements[0].value == pytest.approx(90.0, rel=0.007)
    # the room background: 60 cps from 12 000 counts in 200 s, Poisson SD 0.55 cps, 4 SD = 2.2 cps
    d = out.details
    assert d.background_cps == pytest.approx(60.0, abs=2.2)
    # without the background image the room's counts count as source: (net + background) / net higher
    alone = run_sensitivity(images[:1], {"activity_MBq": 40.0, "activity_time": "2026-11-23T10:00:00"})
    assert alone.measurements[0].value == pytest.approx(
        out.measurements[0].value * (d.net_rate_cps + d.background_cps) / d.net_rate_cps, rel=1e-12)


def test_sensitivity_runner_needs_timing_and_half_life():
    img = np.ones((8, 8))
    no_duration = ImageData(img.astype(np.float32), (4.0, 4.0),
                            ImageMeta(path="s.dcm", modality="NM", acquisition_datetime="2026-11-23T10:30:00"))
    with pytest.raises(InputError, match="Actual Frame Duration"):
        run_sensitivity([no_duration], {"activity_MBq": 1.0, "activity_time": "2026-11-23T10:00:00"})
    with pytest.raises(InputError, match="half_life_s"):
        run_sensitivity([_nm_static(img, "2026-11-23T10:30:00", 10.0, half_life=None)],
                        {"activity_MBq": 1.0, "activity_time": "2026-11-23T10:00:00"})
    with pytest.raises(InputError, match="ISO 8601"):
        run_sensitivity([_nm_static(img, "2026-11-23T10:30:00", 10.0)],
                        {"activity_MBq": 1.0, "activity_time": "23/11/2026 10:00"})


# ----------------------------------------------------------------------------------------------------------------
# count rate


def _slow_paralysable_fit(rates, activity):
    """The nonlinear least-squares twin of the linearised fit (scipy curve_fit on R_o = s A exp(-s A tau))."""
    from scipy.optimize import curve_fit

    def model(a, s, tau_us):
        return s * a * np.exp(-s * a * tau_us * 1e-6)

    (s, tau_us), _ = curve_fit(model, activity, rates, p0=(rates[-1] / activity[-1], 1.0))
    return s, tau_us


@pytest.mark.parametrize(("s", "tau_s"), [(2000.0, 2.0e-6), (500.0, 5.0e-6), (8000.0, 0.8e-6)])
def test_count_rate_noiseless_is_exact(s, tau_s):
    a = np.array([5.0, 20, 50, 100, 200, 300, 500]) / (s * tau_s) * 2e-3  # up to R_t tau = 1
    r = count_rate_dead_time(s * a * np.exp(-s * a * tau_s), a)
    # the linearised model is exact for noiseless data: float rounding only
    assert r.dead_time_us.value == pytest.approx(tau_s * 1e6, rel=1e-9)
    assert r.sensitivity_cps_per_mbq.value == pytest.approx(s, rel=1e-9)
    assert r.max_fit_kcps.value == pytest.approx(1 / (math.e * tau_s) / 1000, rel=1e-9)
    # the 20 % loss rate by its definition: at R_t = -ln(0.8)/tau the model loses 20 %
    r_t = -math.log(0.8) / tau_s
    assert r_t * math.exp(-r_t * tau_s) / r_t == pytest.approx(0.8, rel=1e-12)
    assert r.loss20_kcps.value == pytest.approx(r_t * math.exp(-r_t * tau_s) / 1000, rel=1e-9)


def test_count_rate_agrees_with_a_nonlinear_fit_and_its_uncertainty():
    z = []
    for seed in range(10):
        imgs, tr = count_rate_series(rng=np.random.default_rng(seed))
        c = imgs.sum(axis=(1, 2))
        r = count_rate_dead_time(c / tr["duration_s"], tr["mean_activity_mbq"], counts=c)
        _, tau_slow = _slow_paralysable_fit(c / tr["duration_s"], tr["mean_activity_mbq"])
        # two fits of the same data differ by their weighting only: 0.1 % (3 x the SD of tau, 0.03 %)
        assert r.dead_time_us.value == pytest.approx(tau_slow, rel=1e-3)
        z.append((r.dead_time_us.value - 2.0) / r.dead_time_us.uncertainty)
    # z scores of 10 seeds: within 4 SD each, spread consistent with 1 (chi-square 9 dof, p ~ 1e-3 each side)
    assert max(abs(v) for v in z) < 4 and 0.3 < np.std(z, ddof=1) < 1.9


def test_count_rate_without_losses_or_points_is_refused():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(AnalysisError, match="no dead-time losses"):
        count_rate_dead_time(100.0 * a * (1 + 1e-3 * a), a)  # rising faster than linear: no loss
    with pytest.raises(InputError, match="at least 3"):
        count_rate_dead_time([1.0, 2.0], [1.0, 2.0])


def test_count_rate_runner_decaying_source(tmp_path):
    imgs, tr = count_rate_series(rng=None)
    t_cal = dt.datetime(2026, 11, 23, 8, 0)
    images = []
    for i, (img, t0) in enumerate(zip(imgs, tr["start_s"])):
        p = tmp_path / f"cr{i:02d}.dcm"
        write_nm_static(p, np.round(img).astype(np.uint16), spacing_mm=(4.0, 4.0), series_uid=f"1.2.3.{i + 10}",
                        study_uid="1.2.3.2", acquisition_start=t_cal + dt.timedelta(seconds=float(t0)),
                        frame_duration_s=tr["duration_s"])
        images += read_frames(p)
    out = run_count_rate(images, {"activity_MBq": [400.0], "activity_time": [t_cal.isoformat()]})
    got = {(m.id, m.label): m.value for m in out.measurements}
    # expected counts rounded to integers per pixel (~100-300 counts each): relative error of a sum ~1e-4
    assert got[("nm.count_rate.dead_time_us", None)] == pytest.approx(2.0, rel=2e-3)
    assert got[("nm.count_rate.max_kcps", "fit")] == pytest.approx(tr["max_kcps"], rel=2e-3)
    assert got[("nm.count_rate.loss20_kcps", None)] == pytest.approx(tr["loss20_kcps"], rel=2e-3)
    assert got[("nm.count_rate.max_kcps", "measured")] == pytest.approx(tr["max_measured_kcps"], rel=2e-3)
    with pytest.raises(InputError, match="activity_MBq has 2 values for 12 images"):
        run_count_rate(images, {"activity_MBq": [400.0, 300.0], "activity_time": [t_cal.isoformat()]})


# ----------------------------------------------------------------------------------------------------------------
# Jaszczak sphere detection (issue 5 follow-up: zero-count spheres made holes in the slice masks, so the sphere
# slices looked atypically small and were never chosen; with 100 % non-uniformity ties the first was taken)


@pytest.mark.parametrize(("counts", "fwhm_mm"), [(1000.0, 0.0), (50.0, 0.0), (50.0, 10.0)])
def test_jaszczak_finds_all_six_spheres(counts, fwhm_mm):
    from phantomqc.pet_spect.spect import tomographic_contrast
    from reference_phantoms.spect import jaszczak_volume

    vol, truth = jaszczak_volume(counts=counts, fwhm_mm=fwhm_mm, rng=np.random.default_rng(4))
    r = tomographic_contrast(vol, truth["spacing_mm"])
    centres = np.asarray(truth["sphere_centers_zyx"])
    for s, (cz, cy, cx), d in zip(r.spheres, centres, truth["sphere_diameters_mm"]):
        # each ROI lands on its own sphere, largest first: within a quarter of its diameter (4 mm voxels)
        assert math.hypot(s.y - cy, s.x - cx) * 4.0 < d / 4, (s.label, s.y, s.x, cy, cx)
        assert abs(s.z - cz) * 4.0 < d / 4
