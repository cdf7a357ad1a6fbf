"""Self-checks of the MR digital twins: a wrong renderer, slice profile, wedge, noise model or truth formula fails
one of these. Each tolerance says where it comes from."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import tomllib
from scipy import ndimage

from phantomqc.io.read import read_frames, read_image
from phantomqc.mr._series import mr_series
from phantomqc.mr.geometry import ACR_LARGE
from reference_phantoms import mr as rmr

H = 250.0 / 256  # default pixel, mm


def _half_crossings(p: np.ndarray, level: float) -> tuple[float, float]:
    """First rising and last falling crossing of ``level`` (linear interpolation, sample units)."""
    i = np.flatnonzero(p >= level)
    lo, hi = i[0], i[-1]
    left = lo - 1 + (level - p[lo - 1]) / (p[lo] - p[lo - 1])
    right = hi + (p[hi] - level) / (p[hi] - p[hi + 1])
    return left, right


def _ramp_fwhm_mm(frac1: np.ndarray, y_mm: float, center=(127.5, 127.5), h=H, step=0.1) -> float:
    """FWHM along x of the ramp band at ``y_mm`` (mean of three rows across the 2 mm band), by profile."""
    xs = np.arange(-60, 60, step)
    prof = np.mean([ndimage.map_coordinates(frac1, [np.full(xs.size, center[0] + (y_mm + dy) / h),
                                                     center[1] + xs / h], order=1) for dy in (-0.3, 0.0, 0.3)],
                   axis=0)
    # background: the insert beside the ramp (|x| 45-60 mm). Not 0: the sinc acquisition leaks the fluid above and
    # below the 11.5 mm insert into the band rows as a pedestal of a few % (an analyzer must subtract it too)
    base = float(np.median(prof[(np.abs(xs) > 45) & (np.abs(xs) < 60)]))
    lvl = base + (prof.max() - base) / 2
    a, b = _half_crossings(prof, lvl)
    return (b - a) * step


# The ramp is a 1 mm slot 10:1 through a rect slice profile: a trapezoid of FWHM 10 T exactly, and a symmetric
# blur leaves the FWHM of its 10 mm linear edges unchanged. With a 0.5 px Gaussian k-space apodisation the residual
# ringing is < 0.1 % and FWHM / 10 = T to 0.01 mm. Unapodised (the default, pure sinc acquisition) the Gibbs ringing
# of the hole arrays 30 mm below (their pitch is near the Nyquist period) ripples the lower band by +-3 % of its
# height: 0.04 mm (0.4 mm of FWHM, 0.4 px).
@pytest.mark.parametrize("T", [3.0, 5.0, 7.0])
def test_ramp_fwhm_gives_thickness(T):
    smooth = rmr.render_acr_slice(1, slice_thickness_mm=T, psf_sigma_mm=0.5 * H)
    sharp = rmr.render_acr_slice(1, slice_thickness_mm=T)
    for y in ACR_LARGE.ramps.y_mm:
        assert _ramp_fwhm_mm(smooth, y) / ACR_LARGE.ramps.slope_ratio == pytest.approx(T, abs=0.01)
        assert _ramp_fwhm_mm(sharp, y) / ACR_LARGE.ramps.slope_ratio == pytest.approx(T, abs=0.04)


def _bar_end_mm(frac: np.ndarray, x_mm: float, h=H, center=(127.5, 127.5)) -> float:
    """y (mm) where the bar column at ``x_mm`` crosses half the fluid level, from inside the bar downwards."""
    ys = np.arange(-85.0, -40.0, 0.05)
    prof = ndimage.map_coordinates(frac, [center[0] + ys / h, np.full(ys.size, center[1] + x_mm / h)], order=1)
    i = int(np.flatnonzero(prof >= 0.5)[0])
    return ys[i - 1] + (0.5 - prof[i - 1]) / (prof[i] - prof[i - 1]) * 0.05


# 45 deg wedges: bar difference (right - left) = 2 x offset. The bar end is a 5 mm linear ramp (the slice
# thickness) whose 50 % point is exact; the tolerance 0.05 mm covers the ringing of the 5.5 mm-wide bar's sides.
@pytest.mark.parametrize("offset", [-2.0, 0.0, 1.5])
@pytest.mark.parametrize("slice_no", [1, 11])
def test_wedge_bar_difference(offset, slice_no):
    frac = rmr.render_acr_slice(slice_no, slice_offset_mm=offset)
    w = ACR_LARGE.wedges_slice1
    right = _bar_end_mm(frac, w.right_x_mm) + 95.0
    left = _bar_end_mm(frac, w.left_x_mm) + 95.0
    assert right - left == pytest.approx(2.0 * offset, abs=0.05)
    assert (right + left) / 2 == pytest.approx(95.0 + w.y_end_mm, abs=0.05)


def test_lcd_contrast_in_twin():
    """The 7 mm disks of slice 11 carry 5.1 % (x scale) contrast: the integral of (image - background) over a 14 mm
    circle around a disk, / the disk's area. (The centre value alone overshoots by ~8 %: the circular Gibbs ringing
    of a sinc-acquired disk focuses at its centre; the integral is what the acquisition preserves.)"""
    g = ACR_LARGE
    h = H
    yy, xx = np.mgrid[:256, :256]
    off = rmr.render_acr_slice(11, lcd_contrast_scale=0.0)  # the same slice without the disks
    for scale in (1.0, 2.0):
        frac = rmr.render_acr_slice(11, lcd_contrast_scale=scale)
        d = g.lcd_spoke_table()[0].disks[2]  # the 7 mm disk at 38 mm
        a = math.radians(d.angle_deg)
        x, y = g.lcd_center_mm[0] + d.radius_mm * math.cos(a), g.lcd_center_mm[1] + d.radius_mm * math.sin(a)
        near = np.hypot((yy - 127.5) * h - y, (xx - 127.5) * h - x) < 7.0
        c = float((frac - off)[near].sum()) * h * h / (math.pi * 3.5 ** 2)
        # the ringing tail beyond 7 mm from the disk centre and the ring edge 2.5 mm outside: < 2 % of the contrast
        assert c == pytest.approx(0.051 * scale, rel=0.02)


def test_rician_mean_formula():
    rng = np.random.default_rng(0)
    for m, s in ((0.0, 10.0), (15.0, 10.0), (200.0, 10.0)):
        mc = np.hypot(m + rng.normal(0, s, 400_000), rng.normal(0, s, 400_000)).mean()
        # Monte-Carlo SD of the mean ~ 0.66 s / sqrt(4e5) = 0.01 s; 5 of them
        assert float(rmr.rician_mean(np.array(m), s)) == pytest.approx(mc, abs=0.05 * s)
    assert float(rmr.rician_mean(np.array(0.0), 1.0)) == pytest.approx(math.sqrt(math.pi / 2))  # Rayleigh mean


def test_piu_and_ghost_truth_rules():
    flat = np.zeros((256, 256))
    yy, xx = np.mgrid[:256, :256]
    flat[np.hypot(yy - 127.5, xx - 127.5) * H < 95] = 1000.0
    kw = {"large_radius_mm": ACR_LARGE.uniformity.large_radius_mm, "small_radius_mm": ACR_LARGE.uniformity.small_radius_mm}
    assert rmr.piu_percent(flat, (127.5, 127.5), (H, H), **kw) == pytest.approx(100.0)
    # a linear ramp 900..1100 across the large ROI: PIU = 100 (1 - 200' / 2000) with the 1 cm^2 means at the ends
    ramp = flat * (1.0 + 0.1 * (xx - 127.5) * H / (ACR_LARGE.uniformity.large_radius_mm - 5.64))
    piu = rmr.piu_percent(ramp, (127.5, 127.5), (H, H), **kw)
    assert piu == pytest.approx(90.0, abs=0.3)  # ROI-centre grid quantisation (1 px of 80 mm: 0.12 %)
    ghost = flat.copy()
    rois = rmr.ghost_rois(flat.shape, (127.5, 127.5), (H, H), 250.0)
    ghost[rois["top"]] = 30.0
    ghost[rois["bottom"]] = 10.0
    assert rmr.ghosting_ratio(ghost, (127.5, 127.5), (H, H), 250.0) == pytest.approx(40.0 / 2000.0)
    for m in rois.values():
        assert m.sum() * H * H == pytest.approx(1000.0, rel=0.03)  # 10 cm^2 (pixel-centre rasterisation)
        assert not np.any(m & (flat > 0))  # outside the phantom


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("mr_acr")
    man = rmr.make_acr_series(out, seed=7, slice_offset_mm=1.0, rotation_deg=1.0, shift_mm=(2.0, -1.0),
                              repeat=True, field_strength_t=3.0, snr=90.0)
    return out, man


def test_acr_written_and_read_back(written):
    out, man = written
    truth = json.loads((out / "truth.json").read_text())
    manifest = tomllib.loads(man.read_text())
    assert truth["schema"] == "phantomqc.truth/1" and manifest["test"][0]["images"] == ["series"] \
        and manifest["test"][0]["repeat"] == ["series2"]
    files = sorted((out / "series").glob("MR*.dcm"))
    assert len(files) == 11
    s = mr_series([f for p in reversed(files) for f in read_frames(p)])  # given in reverse: sorted back
    assert [int(im.meta.instance_number) for im in s.images] == list(range(1, 12))
    assert s.orientation == "axial" and s.slice_spacing_mm == pytest.approx(10.0)
    assert s.field_strength_t == 3.0 and s.phase_encoding == "COL" and not s.is_localizer
    exp = {(e["id"], e["label"]): e["value"] for e in truth["expected"]}
    assert exp[("mr.frequency.hz", None)] == pytest.approx(s.frequency_hz, abs=1.0)  # (0018,0084) has 6 decimals
    assert exp[("mr.slice_position.bar_difference_mm", "slice1")] == pytest.approx(2.0)
    assert exp[("mr.slice_thickness.mm", None)] == 5.0
    # stored pixels = rounded noisy magnitude: the SNR of the written slice 7 (large ROI mean / sigma) is the truth
    p = truth["parameters"]
    img7 = s.images[6].pixels
    yy, xx = np.mgrid[:256, :256]
    large = np.hypot(yy - p["center_px"][0], xx - p["center_px"][1]) * H < ACR_LARGE.uniformity.large_radius_mm
    assert img7[large].mean() / p["noise_sigma"] == pytest.approx(exp[("mr.snr.single_image", None)], rel=0.005)
    # subtraction: SD of the difference / sqrt 2 is sigma (n ~ 21000 px: relative SE 0.5 %; 4 SE)
    s2 = mr_series([read_image(q) for q in sorted((out / "series2").glob("MR*.dcm"))])
    diff = (s2.images[6].pixels - img7)[large]
    assert diff.std() / math.sqrt(2) == pytest.approx(p["noise_sigma"], rel=0.02)


def test_acr_truth_values_consistent(written):
    out, _ = written
    truth = json.loads((out / "truth.json").read_text())
    exp = {(e["id"], e["label"]): e for e in truth["expected"]}
    assert 80.0 < exp[("mr.uniformity.piu_percent", None)]["value"] < 100.0
    # the expected-magnitude ghost ratio is below the noiseless one (the noise floor fills the reference ellipses)
    assert 0 < exp[("mr.ghosting.ratio", None)]["value"] < truth["parameters"]["ghost_ratio_noiseless"]
    assert exp[("mr.ghosting.percent", None)]["value"] == pytest.approx(100 * exp[("mr.ghosting.ratio", None)]["value"])
    n = [exp[("mr.lcd.spokes", f"slice{k}")]["value"] for k in (8, 9, 10, 11)]
    assert n == sorted(n) and exp[("mr.lcd.spokes", "total")]["value"] == sum(n)  # contrast rises 8 -> 11
    assert all("how" in e for e in truth["expected"])


def test_lcd_spokes_monotone_in_noise():
    totals = [sum(rmr.lcd_spokes_truth(rmr.S0 / snr, rmr.S0, (H, H)).values()) for snr in (400.0, 100.0, 40.0, 15.0)]
    assert totals[0] == 40  # high CNR: every spoke of every slice
    assert all(a >= b for a, b in itertools.pairwise(totals)) and totals[-1] < totals[0]
    # CNR = c S sqrt(n_px) / sigma: doubling the contrast is doubling the SNR
    assert rmr.lcd_spokes_truth(10.0, 1000.0, (H, H), scale=2.0) == rmr.lcd_spokes_truth(5.0, 1000.0, (H, H))


def test_localizer_and_magnet(tmp_path):
    man = rmr.make_acr_localizer(tmp_path / "loc", shift_mm=(0.0, 0.0))
    s = mr_series([read_image(p) for p in (tmp_path / "loc" / "series").glob("*.dcm")])
    assert s.is_localizer and "LOCALIZER" in s.localizer_reason and s.orientation == "sagittal"
    img = s.images[0].pixels
    # the S-I extent of the fluid at half level along the centre column = 148 mm (inner length); the rectangle's
    # edges are sinc-acquired steps (50 % point exact), noise SNR 50 moves each crossing by ~0.02 px
    col = img[:, 128].astype(float)
    a, b = _half_crossings(col, np.median(col[60:200]) / 2)
    assert (b - a) * H == pytest.approx(148.0, abs=0.3)
    assert json.loads((tmp_path / "loc" / "truth.json").read_text())["expected"][0]["label"] == "sagittal_si"

    man = rmr.make_magnet_snr_pair(tmp_path / "snr", snr=120.0, seed=2)
    a1 = read_image(tmp_path / "snr" / "series1" / "MR0001.dcm").pixels
    a2 = read_image(tmp_path / "snr" / "series2" / "MR0001.dcm").pixels
    yy, xx = np.mgrid[:256, :256]
    roi = np.hypot(yy - 127.5, xx - 127.5) * H < 60
    snr_sub = a1[roi].mean() / ((a1 - a2)[roi].std() / math.sqrt(2))
    truth = json.loads((tmp_path / "snr" / "truth.json").read_text())
    exp = {e["id"]: e["value"] for e in truth["expected"]}
    assert snr_sub == pytest.approx(exp["mr.snr.subtraction"], rel=0.03)  # n = 11800 px: SE 0.7 %, 4 SE
    man = rmr.make_magnet_flood(tmp_path / "flood", shading=0.2, seed=3)
    assert tomllib.loads(man.read_text())["test"][0]["kind"] == "mr.flood"
    wst = json.loads((tmp_path / "flood" / "truth.json").read_text())["expected"][0]["value"]
    assert 80.0 < wst < 95.0  # 20 % quadratic drop to the rim: clearly non-uniform, but not absurd


def test_registry():
    assert set(rmr.MR_PHANTOMS) == {"mr-acr", "mr-acr-localizer", "mr-magnet-snr", "mr-magnet-flood",
                                    "mr-magnet-slice-width", "mr-magnet-ghosting"}
