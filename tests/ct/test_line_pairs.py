"""CT line-pair groups: bar modulation against the square-wave response of the known MTF, the limiting group.

Truth: for a Gaussian PSF of sigma the bar modulation of an infinite square wave is Coltman's
CTF(f) = 4/pi sum_k (-1)^k MTF((2k+1) f)/(2k+1). The twin's groups have 2 to 5 bars; ``finite_modulation``
below evaluates the analyzer's estimator exactly on the blurred finite pattern (erf sums), which differs from
Coltman's CTF by < 0.01 (checked here) - the finite-bar effect.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.special import ndtr

from phantomqc.core.visuals import ImagePanel, Plot
from phantomqc.ct import _kernels
from phantomqc.ct.geometry import ACR464, CATPHAN504
from phantomqc.ct.line_pairs import (_modulation, _pattern, _read_positions, analyze_line_pairs, coltman_ctf,
                                     line_pair_panels, spline5_transfer)
from phantomqc.ct.resolution import mtf_from_bead

ct = pytest.importorskip("reference_phantoms.ct")

P = 0.48828125
C0 = (255.5, 255.5)  # phantom axis in a 512 x 512 image with no offset
M528 = CATPHAN504.module("CTP528")


def gaussian_mtf(f_per_mm, sigma):
    return np.exp(-2 * math.pi ** 2 * sigma ** 2 * np.asarray(f_per_mm) ** 2)


def finite_modulation(g, sigma):
    """The analyzer's estimator on the exact blurred finite bar pattern (1-D: the bars are long)."""
    bars, gaps, w, _ = _pattern(g)
    tp = _read_positions(bars, gaps, w)
    v = sum(ndtr((tp - (b - w / 2)) / sigma) - ndtr((tp - (b + w / 2)) / sigma) for b in bars)
    return float(_modulation(v, bars.size, gaps.size, 1.0))


def alias_bound(g, sigma, roll=0.0):
    """Sum of the Coltman weights 4/pi MTF((2k+1) f)/(2k+1) of the harmonics at or above the pixel grid's Nyquist
    limit in the group's direction: point sampling folds them back; each can move (bar - gap) by twice its
    weight, so |M - expected| <= 2 x this bound from aliasing."""
    a = math.radians(g.angle_deg + roll)
    f = g.lp_per_cm / 10.0
    tot = 0.0
    for k in range(0, 200):
        fk = (2 * k + 1) * f
        if fk * max(abs(math.sin(a)), abs(math.cos(a))) >= 0.5 / P:
            tot += 4 / math.pi * float(gaussian_mtf(fk, sigma)) / (2 * k + 1)
    return tot


@pytest.fixture(scope="module")
def slices():
    out = {}
    for sigma in (0.3, 0.4, 0.5, 0.6, 0.8):
        out[sigma] = ct.render_slice(CATPHAN504, M528.offset_mm, psf_sigma_mm=sigma)
    return out


# --------------------------------------------------------------------------------------------- kernel twin

def test_spline5_kernel_matches_scipy():
    rng = np.random.default_rng(2)
    img = rng.normal(0, 1, (40, 50))
    coef = ndimage.spline_filter(img, order=5, mode="mirror")
    rows = rng.uniform(3, 35, 2000)
    cols = rng.uniform(3, 45, 2000)
    out = np.empty(rows.size)
    _kernels._spline5_eval(coef, rows, cols, out)
    ref = ndimage.map_coordinates(coef, [rows, cols], order=5, prefilter=False, mode="mirror")
    np.testing.assert_allclose(out, ref, atol=1e-12)
    # at the pixel centres the interpolant returns the image (interpolating spline)
    r, c = np.meshgrid(np.arange(5, 30), np.arange(5, 40), indexing="ij")
    out = np.empty(r.size)
    _kernels._spline5_eval(coef, r.ravel().astype(float), c.ravel().astype(float), out)
    np.testing.assert_allclose(out, img[5:30, 5:40].ravel(), atol=1e-9)
    # a point whose support leaves the array is NaN
    out = np.empty(1)
    _kernels._spline5_eval(coef, np.array([1.0]), np.array([10.0]), out)
    assert np.isnan(out[0])


def test_spline5_transfer_formula():
    # phase-averaged transfer of the interpolator: read a sampled cosine at many random phases
    nu = 0.3
    x = np.arange(200)
    img = np.cos(2 * np.pi * nu * x)[None, :].repeat(12, axis=0)
    coef = ndimage.spline_filter(img, order=5, mode="mirror")
    t = 50 + np.arange(100000) * 0.001  # every phase, over whole periods of the signal and of its replica
    v = ndimage.map_coordinates(coef, [np.full(t.size, 6.0), t], order=5, prefilter=False)
    amp = 2 * np.mean(v * np.cos(2 * np.pi * nu * t))
    assert amp == pytest.approx(float(spline5_transfer(nu)), abs=1e-3)  # quadrature error of the mean < 1e-4


def test_coltman_matches_the_generator():
    f = np.linspace(0, 25, 5001)
    for lp in (2.0, 5.0, 8.0):
        assert coltman_ctf(lp, f, gaussian_mtf(f / 10, 0.4)) == pytest.approx(ct.bar_ctf(lp, 0.4), abs=1e-6)


# --------------------------------------------------------------------------------------------- truth

@pytest.mark.parametrize("sigma", [0.3, 0.4, 0.6, 0.8])
def test_modulation_matches_the_square_wave_response(slices, sigma):
    r = analyze_line_pairs([slices[sigma]], (P, P), [C0], 0.0, M528.line_pairs)
    assert r.bar_contrast_hu.value == pytest.approx(1000.0, rel=0.005)  # the twin's bars: +1000 HU
    checked = 0
    for g, gr in zip(sorted(M528.line_pairs, key=lambda g: g.lp_per_cm), r.groups):
        col = ct.bar_ctf(g.lp_per_cm, sigma)
        fin = finite_modulation(g, sigma)
        assert abs(fin - col) < 0.01  # finite number of bars: < 0.01 from Coltman's infinite pattern
        if not gr.below_nyquist or gr.interpolation_transfer < 0.9:
            continue  # near and above Nyquist the reading depends on the sampling phase
        # expected: the finite pattern through the interpolator (T <= 1); tolerance: 0.005 for the reading
        # (contrast to 0.5 %, bar ends 2.5 mm clear), + 2 x the aliased harmonics (point-sampled twin)
        tol = 0.005 + 2 * alias_bound(g, sigma)
        assert gr.modulation == pytest.approx(fin * gr.interpolation_transfer, abs=tol), (g.lp_per_cm, tol)
        checked += 1
    assert checked >= 5


def test_limiting_group_moves_down_as_blur_grows(slices):
    lim = []
    for sigma in (0.3, 0.4, 0.5, 0.6, 0.8):
        r = analyze_line_pairs([slices[sigma]], (P, P), [C0], 0.0, M528.line_pairs)
        lim.append(r.limiting_lp_per_cm.value)
        # the criterion as documented: every group up to the limit resolved, the next one not
        res = [g.resolved for g in r.groups]
        k = res.index(False)
        assert r.groups[k - 1].lp_per_cm == r.limiting_lp_per_cm.value
        # and the limit agrees with the analytic CTF: CTF(limit) >= ~0.05 (the criterion; the reading's
        # transfer T >= 0.9 costs at most 10 %), and the next group is unresolved by blur (CTF < 0.05) or lies
        # at / above the Nyquist limit of the grid (sigma = 0.3 mm: 12 lp/cm > 10.2 lp/cm)
        assert ct.bar_ctf(lim[-1], sigma) > 0.045
        nxt = r.groups[k]
        assert ct.bar_ctf(nxt.lp_per_cm, sigma) < 0.05 or not nxt.below_nyquist
    assert all(a >= b for a, b in zip(lim, lim[1:])) and lim[0] > lim[-1], lim


def test_mtf_given_records_the_predicted_ctf(slices):
    sigma = 0.4
    img = slices[sigma]
    bead = mtf_from_bead([img], (P, P), [(255.5 + 20 / P, 255.5)])
    r = analyze_line_pairs([img], (P, P), [C0], 0.0, M528.line_pairs, mtf=bead)
    for g in r.groups:
        assert g.ctf_predicted is not None
        if g.below_nyquist:
            # consistency check promised in the docstring: within ~0.05 (finite bars < 0.01, interpolation
            # transfer (1 - T) M, aliasing)
            assert abs(g.modulation - g.ctf_predicted) < 0.05
            assert g.ctf_predicted == pytest.approx(ct.bar_ctf(g.lp_per_cm, sigma), abs=0.003)


def test_roll_shift_and_localisation_error(slices):
    # rolled and shifted phantom, read with a centre 0.3 px off and a roll 0.3 deg off: the alignment
    # must recover the bars (a 10 lp/cm bar is 0.5 mm wide; 0.3 deg at 47 mm is 0.25 mm)
    sigma = 0.4
    ref = analyze_line_pairs([slices[sigma]], (P, P), [C0], 0.0, M528.line_pairs)
    off = (12.0, -9.0)
    img = ct.render_slice(CATPHAN504, M528.offset_mm, psf_sigma_mm=sigma, roll_deg=10.0, center_offset_mm=off)
    c = (255.5 + off[1] / P + 0.3, 255.5 + off[0] / P - 0.3)
    r = analyze_line_pairs([img], (P, P), [c], 10.3, M528.line_pairs)
    assert r.limiting_lp_per_cm == ref.limiting_lp_per_cm
    for a, b in zip(r.groups, ref.groups):
        if a.below_nyquist and a.interpolation_transfer > 0.9:
            # the rolled groups sit at other angles to the pixel grid: aliasing and T differ (see above)
            assert a.modulation == pytest.approx(b.modulation, abs=0.01 + 2 * alias_bound(
                next(g for g in M528.line_pairs if g.lp_per_cm == a.lp_per_cm), sigma, 10.0))
    assert r.alignment["dtheta_deg"] == pytest.approx(-0.3, abs=0.05)


def test_noise_floor_and_noisy_slices(slices):
    # 10 HU noise, 3 slices: M moves by its noise only, and the noise SD from the null copies is right
    sigma = 0.4
    ref = analyze_line_pairs([slices[sigma]], (P, P), [C0], 0.0, M528.line_pairs)
    rng = np.random.default_rng(7)
    ms = []
    for _ in range(6):
        imgs = [slices[sigma] + rng.normal(0, 10.0, slices[sigma].shape) for _ in range(3)]
        r = analyze_line_pairs(imgs, (P, P), [C0] * 3, 0.0, M528.line_pairs)
        ms.append([g.modulation for g in r.groups])
        sd = np.array([g.modulation_sd for g in r.groups])
        assert np.all(sd > 0) and np.all(sd < 0.01)
        for a, b in zip(r.groups, ref.groups):
            assert abs(a.modulation - b.modulation) < 5 * a.modulation_sd + 0.002
    ms = np.array(ms)
    # empirical SD over 6 seeds vs the reported SD (median over groups of the ratio): the SD of an SD from
    # 6 samples is ~30 %, the null-copy SD (8 copies, median-based) ~40 %: accept 0.4 .. 2.5
    ratio = np.median(ms.std(axis=0, ddof=1) / sd)
    assert 0.4 < ratio < 2.5, ratio


def test_unresolved_groups_read_zero_not_negative(slices):
    # the local-mean correction removes the fall-off of a blurred group's ends: an unresolved group reads ~0
    r = analyze_line_pairs([slices[0.8]], (P, P), [C0], 0.0, M528.line_pairs)
    for g in r.groups[8:]:
        assert abs(g.modulation) < 0.005


def test_acr_module4(slices):
    m4 = ACR464.module("module4")
    sigma = 0.4
    img = ct.render_slice(ACR464, m4.offset_mm, psf_sigma_mm=sigma)
    r = analyze_line_pairs([img], (P, P), [C0], 0.0, m4.line_pairs)
    # the widest ACR group (4 lp/cm, 1.25 mm bars) is itself blurred: the contrast from the integral is still 1000
    assert r.bar_contrast_hu.value == pytest.approx(1000.0, rel=0.01)
    for g, gr in zip(sorted(m4.line_pairs, key=lambda g: g.lp_per_cm), r.groups):
        if gr.below_nyquist and gr.interpolation_transfer > 0.9:
            fin = finite_modulation(g, sigma)
            assert gr.modulation == pytest.approx(fin * gr.interpolation_transfer,
                                                  abs=0.005 + 2 * alias_bound(g, sigma)), g.lp_per_cm
    assert r.limiting_lp_per_cm is not None and 8.0 <= r.limiting_lp_per_cm.value <= 10.0


def test_panels(slices):
    r = analyze_line_pairs([slices[0.4]], (P, P), [C0], 0.0, M528.line_pairs)
    panel, mplot, pplot = line_pair_panels(r, slices[0.4], (P, P))
    assert isinstance(panel, ImagePanel) and isinstance(mplot, Plot) and isinstance(pplot, Plot)
    assert len(panel.overlays) == len(M528.line_pairs)
