"""Truth tests of the CT localisation (outline, axis, origin, roll, module slices, model recognition) on series
rendered by the phantom twins (reference_phantoms.ct.render_slice), and NumPy twins of its kernels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phantomqc._shared.errors import PhantomNotFoundError
from phantomqc.core.visuals import ImagePanel, Plot
from phantomqc.ct import _kernels
from phantomqc.ct import geometry as geo
from phantomqc.ct.localize import (_bilinear, fit_outline, identify_catphan, localization_panels, localize)
from reference_phantoms.ct import render_slice

SP = (0.48828125, 0.48828125)
_CACHE: dict = {}


def _series(phantom="catphan504", zs=(0.0,), *, roll=0.0, off=(0.0, 0.0), tilt_deg=(0.0, 0.0), noise=0.0, seed=0,
            couch=False, thickness=2.5, hu_offset=0.0, sp=SP, shape=(512, 512)):
    """Slices at phantom-frame z ``zs``; a tilt is rendered as the axis moving by tan(tilt) per mm of z (a
    sheared phantom: for 2 deg it differs from a rotated one by < 0.06 % in z)."""
    key = (phantom, tuple(zs), roll, off, tilt_deg, noise, seed, couch, thickness, hu_offset, sp, shape)
    if key not in _CACHE:
        rng = np.random.default_rng(seed)
        tx, ty = (math.tan(math.radians(t)) for t in tilt_deg)
        out = []
        for z in zs:
            # the couch stays put (its own rendering is cached per height) 3 mm under the lowest phantom position
            top = 103.0 + off[1] + abs(ty) * max(abs(v) for v in zs)
            im = render_slice(phantom, z, shape=shape, spacing_mm=sp, thickness_mm=thickness, roll_deg=roll,
                              center_offset_mm=(off[0] + tx * z, off[1] + ty * z), couch=couch,
                              couch_top_mm=top, hu_offset=hu_offset)
            out.append(im + rng.normal(0.0, noise, im.shape).astype(np.float32) if noise else im)
        _CACHE[key] = out
    return _CACHE[key]


def _axis_px(z, off=(0.0, 0.0), tilt_deg=(0.0, 0.0), sp=SP, shape=(512, 512)):
    tx, ty = (math.tan(math.radians(t)) for t in tilt_deg)
    return ((shape[0] - 1) / 2 + (off[1] + ty * z) / sp[0], (shape[1] - 1) / 2 + (off[0] + tx * z) / sp[1])


# ---- kernel twins -------------------------------------------------------------------------------------------------


def test_twin_strided_count_above():
    rng = np.random.default_rng(0)
    img = rng.normal(0, 100, (97, 61)).astype(np.float32)
    out = np.zeros(2, dtype=np.int64)
    for step in (1, 3, 8):
        _kernels._strided_count_above(img, step, 12.5, out)
        v = img[::step, ::step]
        assert out[0] == np.count_nonzero(v > 12.5) and out[1] == v.size


def test_twin_ring_stats():
    rng = np.random.default_rng(1)
    img = rng.normal(0, 100, (80, 90))
    th = np.linspace(0, 2 * np.pi, 181)[:-1]
    buf, out = np.zeros(180), np.zeros(4)
    for r0, c0, rad in ((40.0, 45.0, 20.0), (5.3, 80.2, 30.0), (40.0, 45.0, 500.0)):
        dr, dc = rad * np.sin(th), rad * np.cos(th)
        _kernels._ring_stats(img, r0, c0, dr, dc, buf, out)
        r, c = np.rint(r0 + dr).astype(int), np.rint(c0 + dc).astype(int)
        ok = (r >= 0) & (r < 80) & (c >= 0) & (c < 90)
        v = img[r[ok], c[ok]]
        assert out[3] == ok.sum()
        if ok.any():
            np.testing.assert_allclose(out[:3], [np.median(v), v.min(), v.max()], rtol=1e-12)
        else:
            assert np.isnan(out[:3]).all()


def test_twin_ray_crossings():
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[0:120, 0:110]
    img = np.where(np.hypot(yy - 60.3, xx - 50.7) < 40.0, 0.0, -1000.0) + rng.normal(0, 30, (120, 110))
    th = np.arange(36) * (2 * np.pi / 36)
    ct, st = np.cos(th), np.sin(th)
    sy, sx = 0.5, 0.45
    radii = np.arange(14.0, 24.0, 0.2)
    out = np.empty(36)
    _kernels._ray_crossings(img, 60.3, 50.7, ct, st, sy, sx, radii, -500.0, out)
    # twin: bilinear samples, outward crossings, the one nearest the middle of the radii
    prof = _bilinear(img, 60.3 + radii[None, :] * st[:, None] / sy, 50.7 + radii[None, :] * ct[:, None] / sx)
    mid = 0.5 * (radii[0] + radii[-1])
    for k in range(36):
        p = prof[k]
        best, bd = np.nan, np.inf
        for j in range(radii.size - 1):
            if p[j] >= -500 and p[j + 1] < -500:
                t = radii[j] + (p[j] + 500) / (p[j] - p[j + 1]) * (radii[j + 1] - radii[j])
                if abs(t - mid) < bd:
                    best, bd = t, abs(t - mid)
        if np.isnan(best):
            assert np.isnan(out[k])
        else:
            assert out[k] == pytest.approx(best, rel=1e-12)


# ---- outline ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sp, off, couch", [(SP, (12.3, -7.7), False), (SP, (30.0, -30.0), True),
                                            ((0.5, 0.42), (-4.1, 9.9), True)])
def test_fit_outline_subpixel(sp, off, couch):
    (img,) = _series("catphan504", (-65.0,), off=off, couch=couch, sp=sp, noise=10.0, seed=3)
    o = fit_outline(img, sp)
    want = _axis_px(-65.0, off, sp=sp)
    assert o.found and 0.5 < o.confidence <= 1.0
    # edge points from 90 rays with sub-pixel crossings: the centre is good to ~0.01 px; 0.05 px = 0.025 mm
    assert abs(o.center_px[0] - want[0]) < 0.05 and abs(o.center_px[1] - want[1]) < 0.05
    assert o.diameter_mm == pytest.approx(200.0, abs=0.05)
    assert o.centre_px == o.center_px


def test_fit_outline_rejects_air_and_noise():
    rng = np.random.default_rng(4)
    assert not fit_outline(np.full((256, 256), -1000.0) + rng.normal(0, 20, (256, 256)), SP).found
    o = fit_outline(rng.normal(0, 600, (256, 256)), SP)
    assert not o.found and o.reason


# ---- localisation of CatPhan series ------------------------------------------------------------------------------


ZS_SHORT = tuple(np.arange(-25.0, 25.01, 5.0))


@pytest.mark.parametrize("roll", [-15.0, -5.0, 0.0, 7.0, 15.0])
def test_roll_recovered(roll):
    sl = _series("catphan504", ZS_SHORT, roll=roll, noise=10.0, seed=int(roll + 20))
    loc = localize(sl, SP, [z + 40.0 for z in ZS_SHORT], "catphan504", thickness_mm=2.5)
    # requirement 0.3 deg; insert centroids (contrast 50-2000 HU, ~600 pixels each) in 10 HU of noise give the roll
    # to ~0.01 deg, so 0.1 deg would already flag a wrong formula
    assert abs(loc.roll_deg - roll) < 0.1
    assert loc.origin_z_mm == pytest.approx(40.0, abs=0.1)
    assert "roll: ring cross-correlation" in loc.method


@pytest.mark.parametrize("off", [(30.0, -30.0), (-30.0, 30.0)])
def test_shift_30mm(off):
    sl = _series("catphan504", ZS_SHORT, roll=-5.0, off=off, noise=10.0, seed=9)
    loc = localize(sl, SP, list(ZS_SHORT), "catphan504", thickness_mm=2.5)
    for i, z in enumerate(ZS_SHORT):
        want = _axis_px(z, off)
        # the field of view cuts 10 % of the outline; the axis is still good to < 0.05 px (0.025 mm)
        assert abs(loc.centers_px[i][0] - want[0]) < 0.05 and abs(loc.centers_px[i][1] - want[1]) < 0.05
    assert abs(loc.roll_deg + 5.0) < 0.1
    assert loc.diameter_mm == pytest.approx(200.0, abs=0.1)


def test_tilt_2deg_blank_ends_and_couch():
    zs = tuple(np.arange(-135.0, 80.01, 5.0))  # the phantom spans -95..45 mm: air and couch only at both ends
    tilt = (2.0, -1.0)
    sl = _series("catphan504", zs, tilt_deg=tilt, roll=3.0, couch=True, noise=10.0, seed=12)
    loc = localize(sl, SP, [z - 300.0 for z in zs], "catphan504", thickness_mm=2.5)
    present = np.array(loc.phantom_present)
    zz = np.array(zs)
    # presence: slices whose profile is wholly inside the phantom are present, those wholly outside are not
    assert present[(zz > -95 + 1.25) & (zz < 45 - 1.25)].all()
    assert not present[(zz < -95 - 1.25) | (zz > 45 + 1.25)].any()
    assert all(math.isnan(c[0]) for c, p in zip(loc.centers_px, present) if not p)
    assert loc.tilt_mm_per_mm[0] == pytest.approx(math.tan(math.radians(2.0)), abs=0.001)
    assert loc.tilt_mm_per_mm[1] == pytest.approx(math.tan(math.radians(-1.0)), abs=0.001)
    for i in np.nonzero(present)[0]:
        want = _axis_px(zs[i], tilt_deg=tilt)
        assert math.hypot(*(np.subtract(loc.centers_px[i], want) * SP)) < 0.1  # mm
    assert loc.origin_z_mm == pytest.approx(-300.0, abs=0.1)
    assert abs(loc.roll_deg - 3.0) < 0.1
    # tilt 2.2 deg: a module's usable range shrinks by g = 100 mm x tan(2.2 deg) = 3.9 mm at each end (the
    # module faces are that much out of the slice plane at the phantom edge)
    g = 100.0 * math.hypot(math.tan(math.radians(2.0)), math.tan(math.radians(1.0)))
    for name in ("CTP404", "CTP486", "CTP515"):
        m = geo.CATPHAN504.module(name)
        want = tuple(i for i, z in enumerate(zs) if m.z_min_mm + g <= z - 1.25 and z + 1.25 <= m.z_max_mm - g
                     and abs(z - m.offset_mm) <= 10.0)
        assert loc.module_slices[name] == want, name
    assert [zs[i] for i in loc.module_slices["CTP404"]] == [-5.0, 0.0, 5.0]
    assert all(loc.module_slices[m] for m in ("CTP404", "CTP404_ramps", "CTP486", "CTP528", "CTP515"))


def test_module_slice_rule_and_missing_modules():
    # 10 mm slices every 10 mm, the CTP404 centre 3 mm off the slice grid; the scan stops inside CTP404's
    # neighbour CTP528 (15..45 mm), and CTP486 (-95..-45 mm) is outside
    zs = tuple(np.arange(-33.0, 17.01, 10.0))  # phantom z -33..17
    sl = _series("catphan504", zs, thickness=10.0, noise=5.0, seed=1)
    loc = localize(sl, SP, [z + 3.0 for z in zs], "catphan504", thickness_mm=10.0, average_mm=10.0)
    assert loc.origin_z_mm == pytest.approx(3.0, abs=0.1)
    T = 10.0
    for m in geo.CATPHAN504.modules:
        # in the scan iff a nominal slab +-T/2 fits; that nearest slice always, others within average_mm whose
        # slab widened by the SSP tails (+-3T/4) fits
        slab = [i for i, z in enumerate(zs) if m.z_min_mm <= z - T / 2 and z + T / 2 <= m.z_max_mm]
        near = {min(slab, key=lambda i: abs(zs[i] - m.offset_mm))} if slab else set()
        tails = {i for i, z in enumerate(zs) if m.z_min_mm <= z - 0.75 * T and z + 0.75 * T <= m.z_max_mm
                 and abs(z - m.offset_mm) <= 10.0}
        assert loc.module_slices[m.name] == tuple(sorted(near | tails)), m.name
    assert loc.module_slices["CTP404"] == (3, 4)  # z = -3, 7 mm: slabs +-3T/4 -10.5..4.5 and -0.5..14.5 inside
    # the ramp slice: |z| + T/2 = 8 mm <= (20 - 1) mm x tan 23 deg = 8.07 mm (half maximum 1 mm from a wire end)
    assert loc.module_slices["CTP404_ramps"] == (3,)
    assert loc.module_slices["CTP528"] == ()
    assert "CTP528 spans z 15.0..45.0 mm from the CTP404 centre" in loc.module_reasons["CTP528"]
    assert "the scan covers -38.0..22.0 mm" in loc.module_reasons["CTP528"]
    assert loc.module_slices["CTP486"] == () and "CTP486 spans z -95.0..-45.0" in loc.module_reasons["CTP486"]
    # average_mm = 0: the single slice nearest each offset
    loc0 = localize(sl, SP, [z + 3.0 for z in zs], "catphan504", thickness_mm=10.0, average_mm=0.0)
    assert loc0.module_slices["CTP404"] == (3,) and loc0.module_slices["CTP515"] == (0,)
    # thick slices on a grid that puts slabs against the module faces: the tails rule drops them
    zs2 = (-10.0, 0.0, 10.0)
    sl2 = _series("catphan504", zs2, thickness=10.0, noise=5.0, seed=2)
    loc2 = localize(sl2, SP, list(zs2), "catphan504", thickness_mm=10.0, origin_z_mm=0.0, roll_deg=0.0)
    assert loc2.module_slices["CTP404"] == (1,)  # +-10 mm: slab +-5 touches the faces at +-15 mm


def test_scan_inside_ctp404_uses_the_ramps():
    zs = (-5.0, -2.5, 0.0, 2.5, 5.0)
    sl = _series("catphan504", zs, roll=6.0, noise=10.0, seed=4)
    loc = localize(sl, SP, [z + 17.3 for z in zs], "catphan504", thickness_mm=2.5)
    # the wire positions give z to a few 0.01 mm (a line of 5.9 mm along a 23 deg ramp)
    assert loc.origin_z_mm == pytest.approx(17.3, abs=0.1)
    assert "wire positions on the ramps" in loc.method and loc.warnings


@pytest.mark.parametrize("hu_offset", [-100.0, 100.0])
def test_hu_offset(hu_offset):
    sl = _series("catphan504", ZS_SHORT, roll=2.0, noise=10.0, seed=6, hu_offset=hu_offset)
    loc = localize(sl, SP, list(ZS_SHORT), "catphan504", thickness_mm=2.5)
    assert abs(loc.roll_deg - 2.0) < 0.1 and loc.origin_z_mm == pytest.approx(0.0, abs=0.1)
    assert loc.diameter_mm == pytest.approx(200.0, abs=0.1)


def test_not_found_errors():
    rng = np.random.default_rng(5)
    air = [np.full((256, 256), -1000.0, np.float32) + rng.normal(0, 10, (256, 256)).astype(np.float32)
           for _ in range(4)]
    with pytest.raises(PhantomNotFoundError, match="no phantom in any"):
        localize(air, (0.9765625,) * 2, [0.0, 5.0, 10.0, 15.0], "catphan504", thickness_mm=2.5)
    noise = [rng.normal(0, 500, (256, 256)).astype(np.float32) for _ in range(4)]
    with pytest.raises(PhantomNotFoundError, match="no circular phantom outline"):
        localize(noise, (0.9765625,) * 2, [0.0, 5.0, 10.0, 15.0], "catphan504", thickness_mm=2.5)
    # a partial scan without the origin module: never guess the origin
    zs = (-90.0, -80.0, -70.0, -60.0, -50.0)
    sl = _series("catphan504", zs, noise=5.0, seed=2)
    with pytest.raises(PhantomNotFoundError, match="origin module CTP404 was not found"):
        localize(sl, SP, list(zs), "catphan504", thickness_mm=2.5)
    with pytest.raises(PhantomNotFoundError):
        identify_catphan(sl, SP, list(zs), thickness_mm=2.5)
    # ... unless the user gives the origin: then the other modules are found, and the roll is declared unknown
    loc = localize(sl, SP, list(zs), "catphan504", thickness_mm=2.5, origin_z_mm=0.0)
    assert "override origin_z_mm" in loc.method and loc.module_slices["CTP486"]
    assert loc.module_slices["CTP404"] == () and any("roll was not measured" in w for w in loc.warnings)


def test_overrides_are_applied_and_recorded():
    sl = _series("catphan504", ZS_SHORT, roll=4.0, noise=5.0, seed=7)
    loc = localize(sl, SP, list(ZS_SHORT), "catphan504", thickness_mm=2.5, origin_z_mm=1.0, roll_deg=-2.0,
                   center_mm=(120.0, 130.0))
    assert loc.origin_z_mm == 1.0 and loc.roll_deg == -2.0
    i = ZS_SHORT.index(0.0)
    # the centre override holds at the origin z (1.0 mm; the fitted tilt here is ~0)
    assert loc.centers_px[i][1] * SP[1] == pytest.approx(120.0, abs=0.01)
    assert loc.centers_px[i][0] * SP[0] == pytest.approx(130.0, abs=0.01)
    for key in ("override origin_z_mm", "override roll_deg", "override center_mm"):
        assert key in loc.method
    # centre override alone: it holds on the detected origin slice, the origin and roll are still measured
    only = localize(sl, SP, list(ZS_SHORT), "catphan504", thickness_mm=2.5, center_mm=(127.5, 125.0))
    assert only.centers_px[i][1] * SP[1] == pytest.approx(127.5, abs=0.01)
    assert only.centers_px[i][0] * SP[0] == pytest.approx(125.0, abs=0.01)
    assert abs(only.origin_z_mm) < 0.3 and abs(only.roll_deg - 4.0) < 0.2


@pytest.mark.parametrize("pid, roll", [("catphan504", 5.0), ("catphan600", -8.0), ("catphan604", 12.0)])
def test_identify_catphan(pid, roll):
    zs = (-5.0, 0.0, 5.0)
    sl = _series(pid, zs, roll=roll, noise=10.0, seed=3)
    got, why, conf = identify_catphan(sl, SP, list(zs), thickness_mm=2.5)
    assert got == pid, why
    assert conf > 0.5 and pid in why
    loc = localize(sl, SP, list(zs), pid, thickness_mm=2.5)
    assert abs(loc.roll_deg - roll) < 0.1


def test_acr464():
    zs = tuple(np.arange(-30.0, 150.01, 10.0))
    sl = _series("acr464", zs, roll=-4.0, off=(10.0, 5.0), noise=10.0, seed=8)
    loc = localize(sl, SP, [z + 50.0 for z in zs], "acr464", thickness_mm=2.5)
    assert loc.origin_z_mm == pytest.approx(50.0, abs=0.3)  # module 1 ends interpolated between 10 mm slices
    assert abs(loc.roll_deg + 4.0) < 0.1
    for name, off in (("module1", 0.0), ("module2", 40.0), ("module3", 80.0), ("module4", 120.0)):
        got = [zs[i] for i in loc.module_slices[name]]
        assert got and all(abs(z - off) <= 10.0 for z in got), name


def test_water_phantom_ends_and_single_slice():
    zs = tuple(np.arange(-90.0, 90.01, 10.0))  # the water cylinder spans -60..60 mm
    sl = _series("water200", zs, thickness=10.0, noise=10.0, seed=1)
    loc = localize(sl, SP, [z + 7.0 for z in zs], "water200", thickness_mm=10.0)
    # ends where the median CT number on the D/4 circle crosses halfway: exact for a box profile sampled by an
    # SSP whose support is inside the 10 mm spacing (here the ends fall mid-way between slices)
    assert loc.origin_z_mm == pytest.approx(7.0, abs=0.2)
    assert loc.module_slices["water"] == tuple(i for i, z in enumerate(zs) if abs(z) <= 10.0)
    assert loc.roll_deg == 0.0 and not loc.warnings
    one = localize(sl[9:10], SP, [7.0], "water200", thickness_mm=10.0)
    assert one.module_slices["water"] == (0,) and one.origin_z_mm == 7.0


def test_panels():
    sl = _series("catphan504", ZS_SHORT, roll=7.0, noise=10.0, seed=27)
    loc = localize(sl, SP, list(ZS_SHORT), "catphan504", thickness_mm=2.5)
    p = localization_panels(loc, sl, SP)
    assert isinstance(p[0], ImagePanel) and isinstance(p[1], Plot)
    assert loc.z_phantom(0) == pytest.approx(-25.0, abs=0.1)
