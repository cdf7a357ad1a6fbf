"""Report figures of the gamma-camera, SPECT and PET tests (phantomqc.pet_spect.visuals): the specs are built for
each kind, every ROI overlay sits where the analyzer's ROI is, the EARL bands are the profile's limits, and each
figure renders to a PNG."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phantomqc.core.visuals import (
    CircleOverlay,
    ImagePanel,
    LineOverlay,
    Plot,
    PointOverlay,
    RangeBand,
    RectOverlay,
)
from phantomqc.pet_spect import planar as P
from phantomqc.pet_spect import visuals as V
from phantomqc.pet_spect.nema_iq import locate_iec, nema_iq, recovery_coefficients, sphere_label
from phantomqc.pet_spect.spect import center_of_rotation, tomographic_contrast, tomographic_uniformity
from phantomqc.report.figures import render_visual
from phantomqc.standards.profiles import load_profile
from reference_phantoms import nm
from reference_phantoms.pet import iec_body_phantom
from reference_phantoms.spect import cor_projections, jaszczak_volume

# Coordinates are copied, never recomputed: they must match exactly (only float addition of a crop offset that
# is an integer, which is exact for pixel coordinates far below 2**52).
EXACT = 0.0


def _render_all(specs, tmp_path, stem):
    paths = [render_visual(s, tmp_path / f"{stem}_{i}.png") for i, s in enumerate(specs)]
    for p in paths:
        assert p.is_file() and p.stat().st_size > 2000, p  # a drawn 704x528 PNG, not an empty file
    return paths


def _overlays(panel, kind):
    return [o for o in panel.overlays if isinstance(o, kind)]


# ---------------------------------------------------------------------------------------------------------------
# core helper


def test_mask_outline_runs_along_the_pixel_edges():
    m = np.zeros((10, 12), bool)
    m[2:6, 3:9] = True  # rows 2..5, cols 3..8
    (line,) = V.mask_outline(m, label="box")
    r, c = np.array(line.rows), np.array(line.cols)
    # the 0.5 iso-line between inside and outside pixel centres lies half a pixel outside the edge pixels
    assert r.min() == pytest.approx(1.5) and r.max() == pytest.approx(5.5)
    assert c.min() == pytest.approx(2.5) and c.max() == pytest.approx(8.5)
    assert (r[0], c[0]) == (r[-1], c[-1])  # closed
    assert line.label == "box"
    # on a grid 4 times finer: u -> (u + 0.5) 4 - 0.5, so the edge 1.5 becomes 7.5 (between fine pixels 7 and 8)
    (fine,) = V.mask_outline(m, scale=4)
    assert min(fine.rows) == pytest.approx(7.5) and max(fine.cols) == pytest.approx(35.5)
    assert V.mask_outline(np.zeros((4, 4), bool)) == ()


# ---------------------------------------------------------------------------------------------------------------
# planar


def test_uniformity_visuals_mark_the_result_locations(tmp_path):
    img, _ = nm.flood((128, 128), (4.0, 4.0), counts_per_pixel=2.0e4, rng=np.random.default_rng(3))
    res = P.nema_uniformity(img, (4.0, 4.0))
    specs = V.uniformity_visuals(res, img, (4.0, 4.0))
    assert len(specs) == 2 and all(isinstance(s, ImagePanel) for s in specs)
    smoothed, flood = specs
    assert smoothed.image is res.smoothed and flood.image.shape == img.shape
    for name, where in (("max", res.max_location), ("min", res.min_location)):
        pts = {(p.row, p.col) for p in _overlays(smoothed, PointOverlay) if p.label.startswith(name)}
        assert pts == {tuple(float(v) for v in where[f]) for f in ("ufov", "cfov")}
        # on the flood: the centre of the k x k block, (u + 0.5) k - 0.5
        k = res.rebin_factor
        pts = {(p.row, p.col) for p in _overlays(flood, PointOverlay) if p.label.startswith(name)}
        assert pts == {tuple((v + 0.5) * k - 0.5 for v in where[f]) for f in ("ufov", "cfov")}
    boxes = _overlays(smoothed, RectOverlay)
    width = res.parameters["du_width"]
    for fov in ("ufov", "cfov"):
        r, c, d = res.du_location[fov]
        size = (1.0, float(width)) if d == "row" else (float(width), 1.0)
        assert any((b.row0, b.col0, b.nrows, b.ncols) == (r, c, *size) for b in boxes), fov
    # the UFOV outline encloses exactly the UFOV's pixels: its extent is the mask's bounding box +- half a pixel
    rows = np.flatnonzero(res.ufov_mask.any(axis=1))
    ufov_line = max(_overlays(smoothed, LineOverlay), key=lambda l: max(l.rows) - min(l.rows))
    assert min(ufov_line.rows) == pytest.approx(rows[0] - 0.5) and max(ufov_line.rows) == pytest.approx(rows[-1] + 0.5)
    # window: the smoothed UFOV's range, so the non-uniformity fills the grey scale
    vals = res.smoothed[res.ufov_mask]
    assert smoothed.window == (vals.min(), vals.max())
    _render_all(specs, tmp_path, "flood")


def test_four_bar_visuals_profiles_and_fits(tmp_path):
    img, _truth = nm.four_bar_image((256, 256), (2.0, 2.0), fwhm_mm=7.5, rng=np.random.default_rng(0))
    res = P.four_bar(img, (2.0, 2.0), bar_separation_mm=100.0)
    panel, px, py = V.four_bar_visuals(res, img, (2.0, 2.0))
    assert isinstance(panel, ImagePanel) and isinstance(px, Plot) and isinstance(py, Plot)
    # the profile boxes, shifted back by the crop, are the band across and the profile's extent along
    bx, by = _overlays(panel, RectOverlay)
    pos = res.profiles["x"][0]
    r0, c0 = _crop_origin(panel, img, res.band["x"][0] - bx.row0, pos[0] - bx.col0)
    assert (bx.row0 + r0, bx.col0 + c0, bx.nrows, bx.ncols) == (res.band["x"][0], pos[0],
                                                                res.band["x"][1] - res.band["x"][0] + 1, pos.size)
    pos = res.profiles["y"][0]
    assert (by.row0 + r0, by.col0 + c0, by.nrows, by.ncols) == (pos[0], res.band["y"][0], pos.size,
                                                                res.band["y"][1] - res.band["y"][0] + 1)
    for plot, ax in ((px, "x"), (py, "y")):
        data, fit1, fit2 = plot.curves
        assert np.array_equal(data.x, res.profiles[ax][0]) and np.array_equal(data.y, res.profiles[ax][1])
        for fit, pk in zip((fit1, fit2), res.peaks[ax]):
            # the drawn fit peaks at base + amplitude at the fitted centre (sampled finely: within 1 % of amplitude)
            i = int(np.argmax(fit.y))
            assert fit.x[i] == pytest.approx(pk.centre_px, abs=0.5)
            assert fit.y[i] == pytest.approx(pk.base + pk.amplitude, rel=0.01)
            assert f"{pk.fwhm_mm:.2f}" in fit.label
    _render_all((panel, px, py), tmp_path, "fourbar")


def _crop_origin(panel, image, r0, c0):
    """The crop offset (r0, c0) implied by one overlay, checked: the panel's image is ``image[r0:, c0:]``."""
    r0, c0 = int(r0), int(c0)
    h, w = panel.image.shape
    assert np.array_equal(image[r0:r0 + h, c0:c0 + w], panel.image), "the panel is not this crop of the image"
    return r0, c0


def test_quadrant_bar_visuals_regions_and_mtf(tmp_path):
    sp = (1.0325, 1.0325)
    img, _ = nm.quadrant_bar_image((512, 512), sp, rng=np.random.default_rng(0))
    res = P.quadrant_bar(img, sp)
    panel, plot = V.quadrant_bar_visuals(res, img, sp)
    marks = _overlays(panel, PointOverlay)
    assert [(m.row, m.col) for m in marks] == [r.centroid_px for r in res.rois]
    assert len(_overlays(panel, LineOverlay)) >= 4
    pts = plot.curves[0]
    assert np.allclose(pts.x, [1.0 / (2.0 * r.bar_width_mm) for r in res.rois], rtol=0, atol=0)
    assert np.array_equal(pts.y, [r.mtf for r in res.rois])
    # each Gaussian-LSF curve passes through its own point: MTF(1/(2w)) of that FWHM equals the measured MTF
    for roi, curve in zip(res.rois, plot.curves[1:]):
        f = 1.0 / (2.0 * roi.bar_width_mm)
        assert np.interp(f, curve.x, curve.y) == pytest.approx(roi.mtf, abs=2e-3)  # linear interpolation, 200 pts
    _render_all((panel, plot), tmp_path, "quadrant")


# ---------------------------------------------------------------------------------------------------------------
# SPECT


@pytest.fixture(scope="module")
def jaszczak():
    vol, truth = jaszczak_volume(rng=np.random.default_rng(1))
    sp = truth["spacing_mm"]
    return vol, sp, tomographic_uniformity(vol, sp), tomographic_contrast(vol, sp)


def test_jaszczak_visuals_sphere_rois(jaszczak, tmp_path):
    vol, sp, uni, con = jaszczak
    specs = V.jaszczak_visuals(uni, con, vol, sp)
    spheres, uniform, plot = specs
    k = round(float(np.median([s.z for s in con.spheres])))
    edge, *circles = _overlays(spheres, CircleOverlay)  # the first is the phantom edge
    cy, cx = con.phantom_center_yx
    r0, c0 = _crop_origin(spheres, vol[k], round(cy - edge.row), round(cx - edge.col))
    assert (edge.row + r0, edge.col + c0) == (cy, cx)
    assert len(circles) == len(con.spheres)
    for c, s in zip(circles, con.spheres):
        assert (c.row + r0, c.col + c0) == (s.y, s.x)
        # the radius is the ball's cross-section on slice k
        dz = (k - s.z) * sp[0]
        assert c.radius == pytest.approx(max(math.sqrt(max((s.radius_px * sp[2]) ** 2 - dz * dz, 0)) / sp[2], 0.5))
    boxes = _overlays(uniform, RectOverlay)
    u0, v0 = _crop_origin(uniform, uni.image, uni.du_window_ufov[0] - boxes[0].row0,
                          uni.du_window_ufov[1] - boxes[0].col0)
    starts = {(b.row0 + u0, b.col0 + v0) for b in boxes}
    assert {tuple(map(float, uni.du_window_ufov[:2])), tuple(map(float, uni.du_window_cfov[:2]))} == starts
    d = sorted(s.diameter_mm for s in con.spheres)
    assert np.array_equal(plot.curves[0].x, d)
    _render_all(specs, tmp_path, "jaszczak")


def test_cor_visuals_sinusoid(tmp_path):
    p, angles, truth = cor_projections(offset_mm=1.5, noise="none")
    res = center_of_rotation(p, angles, truth["spacing_mm"])
    fitplot, resid = V.cor_visuals(res)
    data, fit = fitplot.curves
    assert np.array_equal(np.sort(data.x), np.sort(res.angles_deg))
    # the drawn sinusoid x0 + R sin(theta + phi) equals the least-squares fit at the measured angles
    assert np.allclose(np.interp(res.angles_deg, fit.x, fit.y), res.x_fit_mm, atol=0.05)  # 400-point interpolation
    assert fitplot.refs[0].value == res.x_offset_mm.value
    x_resid = resid.curves[0]
    assert np.max(np.abs(x_resid.y)) == pytest.approx(res.x_residual_max_mm.value)
    _render_all((fitplot, resid), tmp_path, "cor")


# ---------------------------------------------------------------------------------------------------------------
# PET NEMA IQ


@pytest.fixture(scope="module")
def iec():
    vol, sp, truth = iec_body_phantom(fwhm_mm=6.0, noise_percent=2.0, rng=1)
    loc = locate_iec(vol, sp, activity_ratio=4.0)
    iq = nema_iq(vol, sp, activity_ratio=4.0, location=loc)
    rc = recovery_coefficients(vol, sp, sphere_concentration=truth["sphere_concentration"], location=loc)
    return vol, sp, iq, rc


def test_earl_bands_equal_the_profile():
    bands = V.earl_bands("nema-earl")
    prof = load_profile("nema-earl")
    n = 0
    for c in prof.criteria:
        if c.metric in ("pet.recovery.rc_max", "pet.recovery.rc_a50") and c.label:
            d = float(c.label.removeprefix("sphere_").removesuffix("mm"))
            assert bands["EARL2"][c.metric.rsplit(".", 1)[1]][d] == (c.rules[0].low, c.rules[0].high)
            n += 1
    assert n == 12  # six spheres x (RC_max, RC_A50)
    assert bands["EARL2"]["judged"] is True
    # a generation the profile lacks comes from the fallback, marked as not judged; the profile's own wins
    fb = {"EARL1": {"rc_max": {10.0: (0.34, 0.57)}}, "EARL2": {"rc_max": {10.0: (0.0, 9.0)}}}
    both = V.earl_bands("nema-earl", fallback=fb)
    assert both["EARL1"] == {"judged": False, "rc_max": {10.0: (0.34, 0.57)}}
    assert both["EARL2"]["rc_max"][10.0] == bands["EARL2"]["rc_max"][10.0]


def test_nema_iq_visuals_rois_and_bands(iec, tmp_path):
    vol, sp, iq, rc = iec
    specs = V.nema_iq_visuals(iq, rc, vol, sp)
    central, mosaic, contrast, rcmax, rca50 = specs
    # central slice: every sphere ROI and every background / lung ROI of that slice, at the result's coordinates
    assert np.array_equal(central.image, vol[iq.central_slice])
    circ = {(c.row, c.col, c.radius) for c in _overlays(central, CircleOverlay)}
    for r in iq.sphere_rois:
        assert (r.center_y_px, r.center_x_px, r.radius_mm / sp[2]) in circ
    on_central = [r for rois in iq.background_rois.values() for r in rois if r.slice_index == iq.central_slice]
    assert len(on_central) == 12 * len(iq.background_rois)  # 12 positions x every sphere size
    for r in on_central + [r for r in iq.lung_rois if r.slice_index == iq.central_slice]:
        assert (r.center_y_px, r.center_x_px, r.radius_mm / sp[2]) in circ
    # the mosaic holds the 60 largest background ROIs (12 on each of the 5 slices) and the 5 lung ROIs
    big = max(r.radius_mm for rois in iq.background_rois.values() for r in rois)
    bg = [c for c in _overlays(mosaic, CircleOverlay) if c.color == "tab:cyan"]  # the background ROIs' colour
    assert len(bg) == 60 and all(c.radius == big / sp[2] for c in bg)
    assert sum(1 for c in _overlays(mosaic, CircleOverlay) if c.radius == iq.lung_rois[0].radius_mm / sp[2]) == len(iq.lung_rois) == 5
    # contrast plot: Q_H per diameter from the result
    q = next(c for c in contrast.curves if c.label == "hot contrast Q_H")
    assert np.array_equal(q.y, [iq.contrast_percent[sphere_label(d)].value for d in q.x])
    # RC plots: the values of the result and the EARL2 bands of the profile
    prof = V.earl_bands("nema-earl")
    for plot, metric in ((rcmax, "rc_max"), (rca50, "rc_a50")):
        assert np.array_equal(plot.curves[0].y, [getattr(rc, metric)[sphere_label(d)].value for d in plot.curves[0].x])
        earl2 = next(b for b in plot.bands if b.label.startswith("EARL2"))
        assert isinstance(earl2, RangeBand)
        for d, lo, hi in zip(earl2.x, earl2.low, earl2.high):
            assert (lo, hi) == prof["EARL2"][metric][d]
        assert any(b.label.startswith("EARL1") for b in plot.bands)  # from the result's table, not judged
    _render_all(specs, tmp_path, "nemaiq")


def test_nema_iq_visuals_without_ratio_hide_contrast_and_recovery(iec):
    vol, sp, iq, rc = iec
    specs = V.nema_iq_visuals(iq, rc, vol, sp, contrast_known=False)
    assert len(specs) == 3  # no RC plots
    plot = specs[2]
    assert [c.label for c in plot.curves if c.label] == ["background variability N"]
    assert any("activity ratio was not given" in n for n in plot.notes)


def test_runners_attach_the_figures(tmp_path):
    """A runner returns the figures and the report draws each of them without a failure."""
    from phantomqc.core.types import ImageData, ImageMeta
    from phantomqc.pet_spect import runners
    from phantomqc.report.figures import render_figures

    img, _ = nm.flood((128, 128), (4.0, 4.0), counts_per_pixel=2.0e4, rng=np.random.default_rng(3))
    im = ImageData(img.astype(np.float32), (4.0, 4.0), ImageMeta(path="flood.dcm", modality="NM"))
    out = runners.run_uniformity([im], {})
    assert len(out.visuals) == 2
    fs = render_figures([out], tmp_path)
    assert not fs.failures and len(fs.paths[0]) == 2
