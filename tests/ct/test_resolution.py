"""CT MTF from a bead (PSF, Hankel transform) and from a circular edge (ESF): truth tests.

Truth: a Gaussian PSF of sigma gives MTF(f) = exp(-2 pi^2 sigma^2 f^2), so MTF50 = sqrt(ln 2 / (2 pi^2)) / sigma
and MTF10 = sqrt(ln 10 / (2 pi^2)) / sigma (x 10 for lp/cm). The images are point-sampled (no pixel aperture),
like a CT reconstruction and like ``reference_phantoms.ct``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import erf

from phantomqc.core.visuals import Plot
from phantomqc.ct import _kernels
from phantomqc.ct.geometry import CATPHAN504
from phantomqc.ct.resolution import CTMTFResult, mtf_from_bead, mtf_from_circular_edge, mtf_panels

P = 0.48828125  # 250 mm / 512


def truth_lp_per_cm(sigma_mm: float) -> tuple[float, float]:
    k = 2.0 * math.pi ** 2 * sigma_mm ** 2
    return 10.0 * math.sqrt(math.log(2.0) / k), 10.0 * math.sqrt(math.log(10.0) / k)


def bead_image(sigma, amp, centre_px, n=80, spacing=(P, P), bg=40.0, noise=0.0, rng=None):
    """A Gaussian blob sampled at the pixel centres, centre (row, col) at sub-pixel precision."""
    sy, sx = spacing
    yy, xx = np.mgrid[0:n, 0:n]
    img = bg + amp * np.exp(-(((yy - centre_px[0]) * sy) ** 2 + ((xx - centre_px[1]) * sx) ** 2) / (2 * sigma ** 2))
    if noise:
        img = img + rng.normal(0.0, noise, img.shape)
    return img.astype(np.float32)


def disc_image(sigma, centre_px, radius_mm=100.0, n=512, inside=0.0, outside=-1000.0, noise=0.0, rng=None):
    """A disc blurred by a Gaussian: the radial profile of a large blurred disc is the straight-edge ESF (the
    curvature term is O(sigma^2 / R) = 0.006 mm here)."""
    yy, xx = np.mgrid[0:n, 0:n]
    rho = np.hypot((yy - centre_px[0]) * P, (xx - centre_px[1]) * P)
    img = outside + (inside - outside) * 0.5 * (1.0 - erf((rho - radius_mm) / (math.sqrt(2.0) * sigma)))
    if noise:
        img = img + rng.normal(0.0, noise, img.shape)
    return img.astype(np.float32)


# --------------------------------------------------------------------------------------------- kernel twin

def _radial_bin_twin(img, cr, cc, sy, sx, r_ref, d_min, inv_bin, sector_ok, shift, nb):
    rr, cc_ = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    dy, dx = (rr - cr) * sy, (cc_ - cc) * sx
    rho = np.sqrt(dx * dx + dy * dy)
    b = np.floor((rho - r_ref - d_min) * inv_bin)
    ok = (b >= 0) & (b < nb)
    if sector_ok.size > 1:
        s = np.floor((np.arctan2(dy, dx) + np.pi) / (2 * np.pi) * sector_ok.size).astype(int)
        s = np.minimum(s, sector_ok.size - 1)
        ok &= sector_ok[s]
    k = b[ok].astype(int)
    v = img[ok].astype(np.float64) - shift
    return (np.bincount(k, v, nb), np.bincount(k, v * v, nb), np.bincount(k, rho[ok] - r_ref, nb),
            np.bincount(k, minlength=nb).astype(float))


@pytest.mark.parametrize("sectors", [1, 36])
def test_radial_bin_kernel_matches_numpy_twin(sectors):
    rng = np.random.default_rng(5)
    img = rng.normal(0, 100, (120, 130)).astype(np.float32)
    sector_ok = np.ones(sectors, dtype=bool) if sectors == 1 else rng.random(sectors) > 0.3
    nb = 150
    args = (img, 61.3, 58.7, 0.5, 0.6, 20.0, -4.0, 1.0 / 0.05, sector_ok, 3.0)
    out = [np.zeros(nb) for _ in range(4)]
    _kernels._radial_bin(*args, *out)
    ref = _radial_bin_twin(*args, nb)
    for a, b in zip(out, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-9)
    assert out[3].sum() > 1000  # the annulus was actually visited


# --------------------------------------------------------------------------------------------- bead

@pytest.mark.parametrize("sigma", [0.3, 0.4, 0.6, 0.8])
@pytest.mark.parametrize("phase", [(0.0, 0.0), (0.5, 0.5), (0.3, -0.2)])
def test_bead_gaussian_noise_free_any_subpixel_phase(sigma, phase):
    # A pixel-centred bead has no sample between r = 0 and r = 1 px, a corner-centred one none below 0.7 px: the
    # Gaussian-baseline spline must interpolate both. Measured error <= 0.22 % (sigma 0.3 mm, MTF10 beyond
    # Nyquist); 0.5 % leaves room for the tabulation (0.1 px) and the taper, and is 6x below the 3 % target.
    t50, t10 = truth_lp_per_cm(sigma)
    img = bead_image(sigma, 400.0, (40 + phase[0], 40 + phase[1]))
    r = mtf_from_bead([img], (P, P), [(41.0, 39.0)])
    assert r.method == "psf" and not r.warnings
    assert r.mtf50_lp_per_cm.value == pytest.approx(t50, rel=0.005)
    assert r.mtf10_lp_per_cm.value == pytest.approx(t10, rel=0.005)
    # FWHM of the fitted PSF: 2 sqrt(2 ln 2) sigma (the ramp correction uses it); 1 % for the same reasons
    assert r.fwhm_mm.value == pytest.approx(2.3548 * sigma, rel=0.01)
    assert r.mtf[0] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("spacing", [(0.39, 0.39), (0.7, 0.7), (0.45, 0.5)])
def test_bead_other_spacings(spacing):
    # same accuracy budget as above; (0.45, 0.5) checks non-square pixels (distances are in mm)
    sigma = 0.5
    t50, t10 = truth_lp_per_cm(sigma)
    img = bead_image(sigma, 300.0, (40.27, 39.61), spacing=spacing)
    r = mtf_from_bead([img], spacing, [(40, 40)])
    assert r.mtf50_lp_per_cm.value == pytest.approx(t50, rel=0.005)
    assert r.mtf10_lp_per_cm.value == pytest.approx(t10, rel=0.005)


def test_bead_pooled_over_slices_of_different_amplitude():
    # slices see the bead with different strengths (its z within the slice profile): the pooled shape is the
    # same, so the MTF is unchanged (noise-free: same 0.5 % budget); the weak slice is weighted down, not dropped
    sigma = 0.45
    t50, t10 = truth_lp_per_cm(sigma)
    imgs = [bead_image(sigma, a, (40.2, 39.7)) for a in (120.0, 480.0, 60.0)]
    r = mtf_from_bead(imgs, (P, P), [(40, 40)] * 3)
    assert r.parameters["slices_used"] == [0, 1, 2]
    assert r.mtf50_lp_per_cm.value == pytest.approx(t50, rel=0.005)
    assert r.mtf10_lp_per_cm.value == pytest.approx(t10, rel=0.005)


def test_bead_with_noise_within_3_percent():
    # sigma 0.4 mm, peak 490 HU (the twin's CatPhan bead in a 2.5 mm slice), noise 2 HU: the SD of MTF50 over
    # seeds is 0.7 % and of MTF10 0.5 % (measured over 100 seeds), so 3 % is > 4 SD
    rng = np.random.default_rng(11)
    t50, t10 = truth_lp_per_cm(0.4)
    for _ in range(8):
        c = (40 + rng.random(), 40 + rng.random())
        r = mtf_from_bead([bead_image(0.4, 490.0, c, noise=2.0, rng=rng)], (P, P), [(40, 40)])
        assert r.mtf50_lp_per_cm.value == pytest.approx(t50, rel=0.03)
        assert r.mtf10_lp_per_cm.value == pytest.approx(t10, rel=0.03)


def test_bead_reported_uncertainty_matches_the_scatter():
    # 60 seeds at 10 HU noise (peak 490 HU): the white-noise propagation must describe the actual scatter.
    # The SD of an SD from 60 samples is 9 %; the delta method adds a few %: accept a ratio within 0.7 .. 1.4.
    rng = np.random.default_rng(3)
    t50, _ = truth_lp_per_cm(0.4)
    vals, uncs = [], []
    for _ in range(60):
        c = (40 + rng.random(), 40 + rng.random())
        r = mtf_from_bead([bead_image(0.4, 490.0, c, noise=10.0, rng=rng)], (P, P), [(40, 40)])
        vals.append(r.mtf50_lp_per_cm.value)
        uncs.append(r.mtf50_lp_per_cm.uncertainty)
    ratio = np.std(vals, ddof=1) / np.mean(uncs)
    assert 0.7 < ratio < 1.4, ratio
    # and no bias beyond 3 standard errors of the mean
    assert abs(np.mean(vals) - t50) < 3 * np.std(vals) / math.sqrt(len(vals))


def test_bead_mtf_worsens_monotonically_with_blur():
    m50 = [mtf_from_bead([bead_image(s, 300.0, (40.3, 40.1))], (P, P), [(40, 40)]).mtf50_lp_per_cm.value
           for s in (0.3, 0.4, 0.5, 0.6, 0.8)]
    assert all(a > b for a, b in zip(m50, m50[1:]))


def test_bead_not_found_gives_nan_and_a_reason():
    rng = np.random.default_rng(0)
    img = (40 + rng.normal(0, 10, (80, 80))).astype(np.float32)
    r = mtf_from_bead([img], (P, P), [(40, 40)])
    assert math.isnan(r.mtf50_lp_per_cm.value) and math.isnan(r.fwhm_mm.value)
    assert any("not evaluated" in w for w in r.warnings)


def test_bead_on_the_twin_ctp528():
    ct = pytest.importorskip("reference_phantoms.ct")
    for sigma, roll, off in ((0.4, 0.0, (0.0, 0.0)), (0.6, 12.0, (14.0, -9.0))):
        img = ct.render_slice(CATPHAN504, CATPHAN504.module("CTP528").offset_mm, psf_sigma_mm=sigma,
                              roll_deg=roll, center_offset_mm=off)
        a = math.radians(roll)
        bx, by = -20.0 * math.sin(a), 20.0 * math.cos(a)  # the bead at (0, 20) mm, rolled
        guess = (255.5 + (off[1] + by) / P + 1.2, 255.5 + (off[0] + bx) / P - 0.7)  # off by ~1 px
        r = mtf_from_bead([img], (P, P), [guess])
        t50, t10 = ct.mtf_points_lp_per_cm(sigma)
        assert r.mtf50_lp_per_cm.value == pytest.approx(t50, rel=0.005)
        assert r.mtf10_lp_per_cm.value == pytest.approx(t10, rel=0.005)


# --------------------------------------------------------------------------------------------- edge

@pytest.mark.parametrize("sigma", [0.3, 0.4, 0.6, 0.8])
def test_edge_gaussian_noise_free(sigma):
    # Measured error <= 0.03 %. Tolerance 0.3 %: the Tukey window's flat top (2.5 mm) holds the LSF to 3 sigma at
    # sigma = 0.8 mm (bias < 0.1 %), the bin/difference sinc correction is exact, the curvature O(sigma^2/R)
    rng = np.random.default_rng(int(sigma * 10))
    c = (255.5 + rng.random(), 255.5 + rng.random())
    t50, t10 = truth_lp_per_cm(sigma)
    r = mtf_from_circular_edge([disc_image(sigma, c)], (P, P), [(c[0] + 4.0, c[1] - 3.0)], 98.0)
    assert r.method == "esf"
    assert r.mtf50_lp_per_cm.value == pytest.approx(t50, rel=0.003)
    assert r.mtf10_lp_per_cm.value == pytest.approx(t10, rel=0.003)
    assert r.fwhm_mm.value == pytest.approx(2.3548 * sigma, rel=0.01)  # measured <= 0.7 %
    assert r.center_px == pytest.approx(c, abs=0.02)  # the refined centre: 0.01 mm
    assert r.parameters["radius_mm"][0] == pytest.approx(100.0, abs=0.02)


def test_edge_with_noise_within_3_percent_and_honest_uncertainty():
    # 10 HU noise, 1000 HU edge, 3 slices: MTF50 SD 0.15 %, MTF10 0.35 % for one slice (measured); 3 % is > 8 SD.
    rng = np.random.default_rng(21)
    for sigma in (0.4, 0.8):
        t50, t10 = truth_lp_per_cm(sigma)
        imgs = [disc_image(sigma, (255.3, 256.2), noise=10.0, rng=rng) for _ in range(3)]
        r = mtf_from_circular_edge(imgs, (P, P), [(256.0, 256.0)] * 3, 100.0)
        assert r.mtf50_lp_per_cm.value == pytest.approx(t50, rel=0.03)
        assert r.mtf10_lp_per_cm.value == pytest.approx(t10, rel=0.03)
        # the reported standard uncertainty covers the actual error (4 u, plus 0.1 % of model error)
        for q, t in ((r.mtf50_lp_per_cm, t50), (r.mtf10_lp_per_cm, t10)):
            assert 0 < q.uncertainty < 0.01 * t
            assert abs(q.value - t) < 4 * q.uncertainty + 0.001 * t


def test_edge_on_the_twin_ctp486_with_couch_roll_and_shift():
    # the couch touches the phantom's bottom: its rays are rejected and the ESF uses the other sectors
    ct = pytest.importorskip("reference_phantoms.ct")
    sigma = 0.5
    off = (20.0, -25.0)
    img = ct.render_slice(CATPHAN504, CATPHAN504.module("CTP486").offset_mm, psf_sigma_mm=sigma, roll_deg=15.0,
                          center_offset_mm=off, couch=True)
    guess = (255.5 + off[1] / P + 2.0, 255.5 + off[0] / P - 2.5)
    rng = np.random.default_rng(2)
    imgs = [img + rng.normal(0, 5.0, img.shape).astype(np.float32) for _ in range(3)]
    r = mtf_from_circular_edge(imgs, (P, P), [guess] * 3, 100.0)
    t50, t10 = ct.mtf_points_lp_per_cm(sigma)
    # 5 HU noise, 3 slices: SD ~0.1 % (MTF50), 0.2 % (MTF10); 0.5 % without the couch's sectors, 3 % with them
    assert r.mtf50_lp_per_cm.value == pytest.approx(t50, rel=0.005)
    assert r.mtf10_lp_per_cm.value == pytest.approx(t10, rel=0.005)
    for n in r.parameters["rays_kept"]:  # the couch sector was dropped in every slice...
        assert 250 < n < 360  # ...and only that
    assert r.parameters["noise_sd_hu"] == pytest.approx(5.0, rel=0.1)  # no couch in the "flat" ESF bins


@pytest.mark.parametrize("noise", [0.0, 10.0])
def test_edge_not_found_gives_nan(noise):
    # a flat image, and pure noise (which has "edges" everywhere): no circle stands 10 noise SDs out
    img = np.random.default_rng(0).normal(0.0, noise, (512, 512)).astype(np.float32)
    r = mtf_from_circular_edge([img], (P, P), [(255.5, 255.5)], 100.0)
    assert math.isnan(r.mtf50_lp_per_cm.value)
    assert any("not evaluated" in w for w in r.warnings)


def test_edge_tilted_series_each_slice_its_own_circle():
    # a tilted phantom: the circle moves 0.4 px from slice to slice; each slice is refined (the others from the
    # middle one's circle moved by the given centres' difference): noise-free, same 0.3 % budget as above
    sigma = 0.5
    t50, t10 = truth_lp_per_cm(sigma)
    cs = [(255.2 + 0.4 * k, 256.1 - 0.3 * k) for k in range(3)]
    imgs = [disc_image(sigma, c) for c in cs]
    guesses = [(c[0] + 1.5, c[1] - 1.0) for c in cs]
    r = mtf_from_circular_edge(imgs, (P, P), guesses, 100.0)
    assert r.parameters["slices_used"] == [0, 1, 2]
    for got, c in zip(r.parameters["centers_px"], cs):
        assert got == pytest.approx(c, abs=0.02)
    assert r.mtf50_lp_per_cm.value == pytest.approx(t50, rel=0.003)
    assert r.mtf10_lp_per_cm.value == pytest.approx(t10, rel=0.003)


def test_mtf_panels():
    b = mtf_from_bead([bead_image(0.4, 300.0, (40.3, 40.1))], (P, P), [(40, 40)])
    e = mtf_from_circular_edge([disc_image(0.4, (256.2, 255.9))], (P, P), [(256.0, 256.0)], 100.0)
    panels = mtf_panels([b, e])
    assert all(isinstance(p, Plot) for p in panels) and len(panels) == 3
    assert isinstance(b, CTMTFResult)
