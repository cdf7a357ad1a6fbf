"""Truth tests of the uniform-section analysis (water CT number, uniformity, noise; WS 519-2019) and of the
disc-ROI kernels it runs on (NumPy twins)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phantomqc._shared.errors import InputError
from phantomqc.core.visuals import ImagePanel, Plot
from phantomqc.ct import _kernels
from phantomqc.ct.uniform import analyze_uniform_section, uniform_panels
from reference_phantoms.ct import render_slice

SP = (0.48828125, 0.48828125)
CENTRE = (255.5, 255.5)  # image centre of a 512 x 512 render (the phantom axis without an offset)


# ---- NumPy twins of the disc kernels ---------------------------------------------------------------------------


def _twin_disc_stats(img, cr, cc, rr, rc, shift):
    r, c = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    dy = (r - cr) / rr
    dx = (c - cc) / rc
    m = dy * dy + dx * dx <= 1.0
    v = img[m].astype(np.float64) - shift
    return np.array([v.sum(), (v * v).sum(), float(m.sum())])


def _twin_disc_moments(img, cr, cc, rr, rc, shift):
    r, c = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    dy = (r - cr) / rr
    dx = (c - cc) / rc
    m = dy * dy + dx * dx <= 1.0
    w = img[m].astype(np.float64) - shift
    return np.array([w.sum(), (w * r[m]).sum(), (w * c[m]).sum(), float(m.sum())])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint16])
def test_twin_disc_stats_matches_numpy(dtype):
    rng = np.random.default_rng(7)
    img = rng.integers(0, 3000, size=(61, 47)).astype(dtype)
    out = np.zeros(3)
    for _ in range(60):
        cr, cc = rng.uniform(-5, 66), rng.uniform(-5, 52)  # some discs cross the border
        rr, rc = rng.uniform(0.3, 14), rng.uniform(0.3, 14)  # ellipses in pixels = discs for non-square pixels
        shift = float(rng.uniform(0, 3000))
        _kernels._disc_stats(img, cr, cc, rr, rc, shift, out)
        want = _twin_disc_stats(img, cr, cc, rr, rc, shift)
        assert out[2] == want[2]  # the same pixels exactly
        np.testing.assert_allclose(out[:2], want[:2], rtol=1e-12, atol=1e-6)


def test_twin_disc_stats_on_pixel_centres_and_batch():
    # radii that put pixel centres exactly on the boundary (3-4-5 triangles): <= 1 includes them
    img = np.arange(400.0).reshape(20, 20)
    out = np.zeros(3)
    _kernels._disc_stats(img, 10.0, 10.0, 5.0, 5.0, 0.0, out)
    np.testing.assert_array_equal(out, _twin_disc_stats(img, 10.0, 10.0, 5.0, 5.0, 0.0))
    rows, cols = np.array([3.2, 10.0, 17.9]), np.array([4.4, 10.0, 1.0])
    rr, rc, sh = np.array([2.0, 5.0, 3.3]), np.array([2.5, 5.0, 1.1]), np.array([1.0, 2.0, 3.0])
    many = np.zeros((3, 3))
    _kernels._discs_stats(img, rows, cols, rr, rc, sh, many)
    for k in range(3):
        np.testing.assert_allclose(many[k], _twin_disc_stats(img, rows[k], cols[k], rr[k], rc[k], sh[k]),
                                   rtol=1e-12)


def test_twin_disc_moments_matches_numpy():
    rng = np.random.default_rng(3)
    img = rng.normal(0, 50, size=(40, 50)).astype(np.float32)
    out = np.zeros(4)
    for _ in range(30):
        cr, cc, rr, rc = rng.uniform(0, 40), rng.uniform(0, 50), rng.uniform(1, 9), rng.uniform(1, 9)
        _kernels._disc_moments(img, cr, cc, rr, rc, 3.0, out)
        np.testing.assert_allclose(out, _twin_disc_moments(img, cr, cc, rr, rc, 3.0), rtol=1e-10, atol=1e-8)


# ---- truth tests on the water phantom twin --------------------------------------------------------------------


def _water(n, noise=0.0, seed=0, cupping=0.0, hu_offset=0.0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        im = render_slice("water200", -4.0 + 2.0 * i, thickness_mm=10.0, cupping_hu=cupping, hu_offset=hu_offset)
        out.append(im + rng.normal(0.0, noise, im.shape).astype(np.float32) if noise else im)
    return out


def test_water_mean_and_noise_truth():
    sigma, k = 10.0, 5
    sl = _water(k, noise=sigma, seed=11, hu_offset=3.0)
    res = analyze_uniform_section(sl, SP, [CENTRE] * k, diameter_mm=200.0, thickness_mm=10.0)
    n_c = res.rois[0].n_pixels
    # white noise: the mean of k x n_c independent pixels has SE sigma / sqrt(k n_c) (~0.12 HU); 3 SE < 0.5 HU
    se = sigma / math.sqrt(k * n_c)
    assert 3 * se < 0.5
    assert abs(res.water_mean_hu.value - 3.0) < 3 * se
    # the reported uncertainty is at least the white-noise SE (pixels pooled) and not wildly above it
    assert se * 0.99 <= res.water_mean_hu.uncertainty < 3 * se
    # SD of ~21 000 pixels per slice: relative SE 1/sqrt(2 n k) ~ 0.2 %; 3 % is the requirement, 1 % is 5 SE
    assert abs(res.noise_sd_hu.value / sigma - 1) < 0.01
    # n% = sigma sqrt(T/10) 100 / 1000 with T = 10 mm
    assert res.noise_percent.value == pytest.approx(res.noise_sd_hu.value * 1.0 * 100 / 1000, rel=1e-12)
    assert res.n_slices == k and len(res.slice_centre_mean_hu) == k and len(res.slice_noise_sd_hu) == k
    # means averaged over slices, SD = RMS of the per-slice SDs
    assert res.water_mean_hu.value == pytest.approx(np.mean(res.slice_centre_mean_hu), abs=1e-9)
    assert res.noise_sd_hu.value == pytest.approx(math.sqrt(np.mean(np.square(res.slice_noise_sd_hu))), rel=1e-12)
    # no cupping: every diff is noise only (SE sqrt(2) x ~0.12 HU)
    for p in ("top", "right", "bottom", "left"):
        assert abs(res.diffs_hu[p].value) < 3 * math.sqrt(2) * se + 0.02


def test_noise_percent_thickness_scaling():
    sl = _water(1, noise=12.0, seed=2)
    a = analyze_uniform_section(sl, SP, [CENTRE], diameter_mm=200.0, thickness_mm=10.0)
    b = analyze_uniform_section(sl, SP, [CENTRE], diameter_mm=200.0, thickness_mm=2.5, water_air_hu=980.0)
    assert b.noise_sd_hu.value == a.noise_sd_hu.value
    assert b.noise_percent.value == pytest.approx(a.noise_sd_hu.value * math.sqrt(0.25) * 100 / 980.0, rel=1e-12)


@pytest.mark.parametrize("gap_to, gap_mm, dist_mm", [("roi_edge", 10.0, 80.0), ("roi_centre", 15.0, 85.0)])
def test_uniformity_known_cupping(gap_to, gap_mm, dist_mm):
    # the twin's cupping adds -c (1 - r^2 / R_in^2) inside the 97 mm inner radius. The mean of r^2 over a disc of
    # radius a centred at distance d is d^2 + a^2 / 2, so peripheral - centre = c d^2 / R_in^2 exactly.
    c = 20.0
    (sl,) = _water(1, cupping=c)
    res = analyze_uniform_section([sl], SP, [CENTRE], diameter_mm=200.0, thickness_mm=10.0, edge_gap_to=gap_to,
                                  edge_gap_mm=gap_mm)
    assert not res.warnings
    assert res.peripheral_distance_mm == pytest.approx(dist_mm)
    want = c * dist_mm ** 2 / 97.0 ** 2
    for p in ("top", "right", "bottom", "left"):
        # the pixel discretisation of a 20 mm disc moves its mean r^2 by < 0.2 %: 0.05 HU on 13.6 HU
        assert res.diffs_hu[p].value == pytest.approx(want, abs=0.05)
    assert res.max_abs_diff_hu.value == pytest.approx(max(abs(q.value) for q in res.diffs_hu.values()))
    assert res.water_mean_hu.value == pytest.approx(-c * (1 - 10.0 ** 2 / 2 / 97.0 ** 2), abs=0.05)


def test_peripheral_positions_in_image_frame():
    # a hot spot on the right of the image must show in the 'right' ROI (3 o'clock), not elsewhere
    img = np.zeros((512, 512), np.float32)
    img[240:272, 400:430] = 100.0  # around (256, 415): right ROI centre at col 255.5 + 80 / 0.488 = 419.3
    res = analyze_uniform_section([img], SP, [CENTRE], diameter_mm=200.0, thickness_mm=10.0)
    assert res.diffs_hu["right"].value > 50
    assert res.diffs_hu["top"].value == 0 and res.diffs_hu["bottom"].value == 0 and res.diffs_hu["left"].value == 0
    assert res.max_abs_diff_position == "right"
    roi = {r.name: r for r in res.rois}
    assert roi["top"].row < roi["centre"].row and roi["right"].col > roi["centre"].col


def test_non_square_pixels_and_offsets():
    sp = (0.5, 0.4)
    img = render_slice("water200", 0.0, spacing_mm=sp, center_offset_mm=(11.3, -7.9), cupping_hu=20.0)
    centre = ((511) / 2 - 7.9 / sp[0], (511) / 2 + 11.3 / sp[1])
    res = analyze_uniform_section([img], sp, [centre], diameter_mm=200.0, thickness_mm=10.0)
    want = 20.0 * 80.0 ** 2 / 97.0 ** 2
    for p in ("top", "right", "bottom", "left"):
        assert res.diffs_hu[p].value == pytest.approx(want, abs=0.06)
    # disc areas in mm: pixel counts x pixel area match pi r^2 to within the boundary pixels (~ perimeter / 2)
    c = {r.name: r for r in res.rois}["noise"]
    assert c.n_pixels * sp[0] * sp[1] == pytest.approx(math.pi * 40.0 ** 2, rel=0.01)


def test_panels_and_validation():
    (sl,) = _water(1, noise=5.0)
    res = analyze_uniform_section([sl, sl], SP, [CENTRE, CENTRE], diameter_mm=200.0, thickness_mm=5.0)
    panels = uniform_panels(res, sl, SP)
    assert isinstance(panels[0], ImagePanel) and len(panels[0].overlays) == 6 and isinstance(panels[1], Plot)
    near = analyze_uniform_section([sl], SP, [CENTRE], diameter_mm=200.0, thickness_mm=5.0, edge_gap_mm=10.0,
                                   edge_gap_to="roi_centre")
    assert any("within" in w and "edge" in w for w in near.warnings)
    with pytest.raises(InputError, match="edge_gap_to"):
        analyze_uniform_section([sl], SP, [CENTRE], diameter_mm=200.0, thickness_mm=5.0, edge_gap_to="edge")
    with pytest.raises(InputError, match="outside the phantom"):
        analyze_uniform_section([sl], SP, [CENTRE], diameter_mm=200.0, thickness_mm=5.0, edge_gap_mm=95.0)
    with pytest.raises(InputError, match="centers_px"):
        analyze_uniform_section([sl], SP, [CENTRE, CENTRE], diameter_mm=200.0, thickness_mm=5.0)
    with pytest.raises(InputError, match="no phantom centre"):
        analyze_uniform_section([sl], SP, [(float("nan"), 3.0)], diameter_mm=200.0, thickness_mm=5.0)
