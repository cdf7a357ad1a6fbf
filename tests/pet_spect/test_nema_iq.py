"""NEMA NU 2 image quality, recovery coefficients, sphere PSF fit and uniform cylinder on the digital IEC body
phantom (reference_phantoms.pet) with known truth, and on the pynemaiqpet sample reconstruction (real data)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phantomqc.pet_spect.nema_iq import (SPHERE_DIAMETERS_MM, fit_sphere_psf, locate_iec, nema_iq,
                                         recovery_coefficients, sphere_label, uniform_concentration)
from reference_phantoms.pet import iec_body_phantom, uniform_cylinder


@pytest.fixture(scope="module")
def twin():
    return iec_body_phantom(fwhm_mm=6.0, noise_percent=2.0, rng=1, rotation_deg=17.0, offset_mm=(3.1, -4.3, 2.7))


@pytest.fixture(scope="module")
def truth_loc(twin):
    vol, sp, tr = twin
    return locate_iec(tr["noiseless"], sp, sphere_centers_mm=tr["sphere_centers_mm"])


def test_localisation_subvoxel(twin):
    vol, sp, tr = twin
    loc = locate_iec(vol, sp, activity_ratio=4.0)
    for d in SPHERE_DIAMETERS_MM:
        # 0.5 mm: a quarter voxel; the centroid of the upper half of a 2 %-noise sphere moves by far less
        assert np.allclose(loc.sphere_centers_mm[d], tr["sphere_centers_mm"][d], atol=0.5), d


def test_contrast_matches_noiseless_truth(twin, truth_loc):
    vol, sp, tr = twin
    res = nema_iq(vol, sp, activity_ratio=4.0)
    ref = nema_iq(tr["noiseless"], sp, activity_ratio=4.0, location=truth_loc)
    for lab, q in res.contrast_percent.items():
        # 2 pp (issue); the 10 mm ROI (19 px) mean moves by 2 %/sqrt(19)/3 x 100 ~ 0.15 pp of Q at this noise
        assert abs(q.value - ref.contrast_percent[lab].value) < 2.0, lab
    # contrast grows with size at 6 mm FWHM
    vals = [res.contrast_percent[sphere_label(d)].value for d in SPHERE_DIAMETERS_MM]
    assert all(b > a for a, b in zip(vals, vals[1:]))


def test_background_variability_white_noise(twin):
    """N for white noise of SD s on ROIs of n pixels: the ROI mean has SD s/sqrt(n), so N = s/sqrt(n)/C_B x 100.
    The sample SD of 60 ROI means scatters by 1/sqrt(2 x 59) = 9 % relative, so N^2 is averaged over 8 seeds
    (3.3 % relative) and compared within 10 % (issue)."""
    vol, sp, tr = twin
    loc = locate_iec(tr["noiseless"], sp, sphere_centers_mm=tr["sphere_centers_mm"])
    acc = {}
    for seed in range(8):
        g = np.random.default_rng(100 + seed)
        noisy = tr["noiseless"] + tr["noise_sd"] * g.standard_normal(vol.shape).astype(np.float32)
        r = nema_iq(noisy, sp, activity_ratio=4.0, location=loc)
        for lab, q in r.background_variability_percent.items():
            acc.setdefault(lab, []).append(q.value ** 2)
    for lab, v in acc.items():
        n_px = np.array([roi.n_pixels for roi in r.background_rois[lab]])
        expected = tr["noise_sd"] * math.sqrt(np.mean(1.0 / n_px)) / tr["background"] * 100.0
        assert abs(math.sqrt(np.mean(v)) / expected - 1.0) < 0.10, lab


def test_zero_blur_analytic():
    """No blur, 0.8 mm voxels: the sphere ROI holds the sphere concentration except partial-volume rim pixels,
    whose share is ~ perimeter x half a pixel / area: Q_H in [94, 100.5] (10 mm: 4 x 0.4/10 x ~0.5 ~ 8 %, the rest less);
    the lung insert is empty: residual 0."""
    vol, sp, tr = iec_body_phantom(shape=(100, 400, 400), spacing_mm=(1.0, 0.8, 0.8), fwhm_mm=0.0)
    r = nema_iq(vol, sp, activity_ratio=4.0)
    for d in SPHERE_DIAMETERS_MM:
        q = r.contrast_percent[sphere_label(d)].value
        assert 100.0 * (1 - 4 * 0.4 / d) <= q <= 100.5, (d, q)
    assert r.lung_residual_percent.value < 0.5
    assert r.background_variability_percent[sphere_label(37)].value < 0.01


def test_cold_spheres():
    vol, sp, tr = iec_body_phantom(fwhm_mm=0.0, cold_spheres=(28, 37), activity_ratio=4.0)
    r = nema_iq(vol, sp, activity_ratio=4.0, cold_spheres=(28, 37))
    # cold 37/28 mm spheres at zero blur: Q_C ~ 100 less the partial-volume rim (< 8 %)
    assert r.contrast_percent["sphere_37mm"].value > 92.0
    assert r.contrast_percent["sphere_28mm"].value > 90.0
    assert r.contrast_percent["sphere_22mm"].value > 80.0   # hot, Q_H


def test_recovery_matches_noiseless_truth(twin, truth_loc):
    vol, sp, tr = twin
    clean = iec_body_phantom(fwhm_mm=6.0, noise_percent=0.0, rotation_deg=17.0, offset_mm=(3.1, -4.3, 2.7))[0]
    rc = recovery_coefficients(clean, sp, sphere_concentration=tr["sphere_concentration"])
    ref = recovery_coefficients(tr["noiseless"], sp, sphere_concentration=tr["sphere_concentration"],
                                location=truth_loc)
    for lab in rc.rc_mean:
        for attr in ("rc_mean", "rc_max", "rc_a50", "rc_peak"):
            # 0.02 (issue): localisation from the image vs the true centres
            assert abs(getattr(rc, attr)[lab].value - getattr(ref, attr)[lab].value) < 0.02, (lab, attr)
    # noisy: mean and peak average many voxels (2 % noise / sqrt(>=15) < 0.01 of 4:1)
    rcn = recovery_coefficients(vol, sp, sphere_concentration=tr["sphere_concentration"])
    for lab in rc.rc_mean:
        assert abs(rcn.rc_mean[lab].value - ref.rc_mean[lab].value) < 0.02, lab


def test_recovery_zero_blur():
    vol, sp, tr = iec_body_phantom(shape=(100, 400, 400), spacing_mm=(1.0, 0.8, 0.8), fwhm_mm=0.0)
    rc = recovery_coefficients(vol, sp, sphere_concentration=tr["sphere_concentration"])
    for d in (17, 22, 28, 37):
        lab = sphere_label(d)
        assert abs(rc.rc_max[lab].value - 1.0) < 1e-6      # a fully inside voxel exists
        assert abs(rc.rc_peak[lab].value - 1.0) < 1e-6     # the 1 ml sphere (r 6.2 mm) fits inside
        assert 0.9 < rc.rc_mean[lab].value <= 1.0          # rim voxels (centre inside) are partial


@pytest.mark.parametrize("fwhm", [5.0, 8.0])
def test_sphere_fit_fwhm(fwhm):
    vol, sp, tr = iec_body_phantom(fwhm_mm=fwhm, noise_percent=0.5, rng=3, spacing_mm=(2.0, 2.0, 2.0),
                                   shape=(100, 180, 180))
    f = fit_sphere_psf(vol, sp)
    for lab, fit in f.fits.items():
        # 2 % (issue): the model box-averages the voxel as the twin's voxelisation does
        assert abs(fit.fwhm_mm.value / fwhm - 1.0) < 0.02, (lab, fit.fwhm_mm)


def test_uniform_concentration():
    vol, sp, tr = uniform_cylinder(concentration=5000.0, noise_percent=5.0, rng=2)
    r = uniform_concentration(vol, sp, expected_bq_per_ml=5000.0)
    assert abs(r.concentration_error_percent.value) < 0.1   # 5 % noise / sqrt(>1e5 voxels) ~ 0.02 %
    r2 = uniform_concentration(vol * 1.05, sp, expected_bq_per_ml=5000.0)
    assert abs(r2.concentration_error_percent.value - 5.0) < 0.1


# ---------------------------------------------------------------------------------------------------------------
# Real data: pynemaiqpet's sample reconstruction


@pytest.fixture(scope="module")
def real_volume(realdata_dir):
    from phantomqc.io import scan
    folder = realdata_dir / "pet" / "nema_iq_recon_1"
    if not folder.is_dir():
        pytest.fail(f"{folder} not found although the real-data folder exists: the dataset listed in "
                    f"../shared/realdata/README.md is missing")
    res = scan(sorted(folder.glob("*.dcm")))
    s = res.series[0]
    vol = np.stack([im.pixels for im in s.images])
    dz = abs(s.images[1].meta.image_position_patient[2] - s.images[0].meta.image_position_patient[2])
    return vol, (dz,) + tuple(s.images[0].spacing_mm)


def test_real_sphere_fit_golden(real_volume, golden_nm):
    """pynemaiqpet 0.5.4 (run once on this volume, golden.json) fits radial profiles with a 1.5 mm cold glass wall and
    point-sampled voxels, with R free and weights 1/r; we fit the same wall, point-sampled (subsample=1), R fixed at the
    nominal inner radius, unweighted 3-D least squares. Max FWHM 4.49 mm (golden 4.8, within 0.5). Min 3.70 mm on
    the 10 mm sphere (golden 4.1, 0.4 below, inside the 0.5 tolerance): the fixed radius and unweighted fit differ."""
    entry = next(e for e in golden_nm if e["dataset"] == "pet/nema_iq_recon_1"
                 and e["method"] == "pet_sphere_fit_crosscheck")
    vol, sp = real_volume
    f = fit_sphere_psf(vol, sp, activity_ratio=10.0, wall_thickness_mm=1.5, subsample=1)
    lo, hi = entry["expected"]
    tol = entry["tolerance"]["abs"]
    assert abs(f.fwhm_max_mm.value - hi) <= tol
    assert abs(f.fwhm_min_mm.value - lo) <= tol
    # the 10 mm sphere (4.8 voxels across) pulls our minimum below theirs; recorded: 3.70 mm (regression)
    assert abs(f.fwhm_min_mm.value - 3.70) < 0.05


def test_real_nema_iq_regression(real_volume):
    """No golden: sanity (contrast grows with size, N a few %, lung residual < 30 %) and regression values from this
    implementation (activity ratio 10 from the golden note: sphere ~16800 / background ~1687)."""
    vol, sp = real_volume
    r = nema_iq(vol, sp, activity_ratio=10.0)
    q = [r.contrast_percent[sphere_label(d)].value for d in SPHERE_DIAMETERS_MM]
    assert q[-1] > q[0] and q == sorted(q)
    # regression values of this implementation (no independent reference): N falls with ROI size, as sqrt(1/n)
    bv = {10: 8.862, 13: 6.114, 17: 4.690, 22: 3.807, 28: 3.030, 37: 2.384}
    for d, v in bv.items():
        assert abs(r.background_variability_percent[sphere_label(d)].value - v) < 0.005
    assert abs(r.lung_residual_percent.value - 0.517) < 0.005
    regression = {10: 62.55, 13: 65.04, 17: 75.20, 22: 82.56, 28: 84.16, 37: 85.64}
    for d, v in regression.items():
        assert abs(r.contrast_percent[sphere_label(d)].value - v) < 0.05
