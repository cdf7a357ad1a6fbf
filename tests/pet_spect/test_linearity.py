"""NEMA NU 1 intrinsic spatial linearity and the line-source kind: truth from reference_phantoms.nm.line_grid_image
(absolute and differential linearity computed from the generating slit positions, never from the image).

Noise scale used in the tolerances: a slit of the default twin (Gaussian FWHM 4 mm convolved with the 1 mm slit,
sigma_eff = sqrt(1.70^2 + 1/12) = 1.72 mm) gathers peak x 1.72 x sqrt(2 pi) / 0.8 counts per 0.8 mm row, 37.5 rows
per 30 mm band: N = 2.0e5 counts at a peak of 1000. Its centroid has sigma_p = sigma_eff / sqrt(N) = 0.0038 mm
(measured: the SD of noise-only spacings is 0.0054 = sqrt(2) sigma_p).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from phantomqc._shared.errors import InputError, InvalidImageError, PhantomNotFoundError
from phantomqc.core.registry import all_kinds, all_metrics
from phantomqc.core.types import ImageData, ImageMeta
from phantomqc.core.visuals import ImagePanel, Plot
from phantomqc.pet_spect import linearity as L
from phantomqc.pet_spect.runners import run_line_source, run_linearity
from reference_phantoms import nm

SP = (0.8, 0.8)
#: a 205 mm field (7 x 7 slits and bands in the UFOV) for the tests that do not need the full detector: faster
SMALL = {"shape": (256, 256), "field_size_mm": 195.0}


def _sigma_p(peak_counts: float) -> float:
    s_eff = math.sqrt((4.0 / (2 * math.sqrt(2 * math.log(2)))) ** 2 + 1.0 / 12.0)
    n = peak_counts * s_eff * math.sqrt(2 * math.pi) / SP[1] * 30.0 / SP[0]
    return s_eff / math.sqrt(n)


def _image(pixels, path="mem.dcm", modality="NM"):
    return ImageData(np.asarray(pixels, dtype=np.float32), SP, ImageMeta(path=path, modality=modality))


def _check(r, truth, abs_tol, rel_tol):
    for fov in ("ufov", "cfov"):
        assert r.absolute_mm[fov].value == pytest.approx(truth["absolute_mm"][fov], abs=abs_tol), fov
        assert r.differential_mm[fov].value == pytest.approx(truth["differential_mm"][fov], rel=rel_tol), fov
        assert r.line_residual_sd_mm[fov].value == pytest.approx(truth["line_residual_sd_mm"][fov], rel=rel_tol)
    # the same peaks belong to each FOV as in the generator's geometry
    assert int(r.in_ufov.sum()) == truth["n_points"]["ufov"]
    assert int(r.in_cfov.sum()) == truth["n_points"]["cfov"]


# ---------------------------------------------------------------------------------------------------------------
# truth recovery
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation, field, offset, rotation", [
    ("x", "rectangular", 0.0, 0.0),
    ("y", "rectangular", 0.37, 0.0),  # sub-pixel shift of the grid
    ("x", "circular", 7.0, -1.0),
    ("y", "circular", 0.0, 1.0),
])
def test_truth_noise_free(orientation, field, offset, rotation):
    # noise-free, point-sampled slit images: the iterated centroid of a symmetric peak sampled at >= 5 pixels per
    # FWHM is exact to ~1e-4 mm (aliasing of a Gaussian of sigma 2.1 px: exp(-2 pi^2 sigma^2) ~ 0); 0.002 mm and 1 %
    # leave room for the band-edge rows, yet a centroid window bias of a tenth of a pixel (0.08 mm) would fail
    size = 390.0 if field == "rectangular" else 400.0
    img, truth = nm.line_grid_image(orientation=orientation, field=field, field_size_mm=size, grid_offset_mm=offset,
                                    rotation_deg=rotation)
    r = L.spatial_linearity(img, SP)
    assert r.orientation == orientation
    _check(r, truth, abs_tol=0.002, rel_tol=0.01)
    assert r.parameters["tilt_deg"] == pytest.approx(rotation, abs=0.01)
    assert r.grid_fit["ufov"][1] == pytest.approx(30.0 / math.cos(math.radians(rotation)), abs=0.02)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("distortion", [0.5, 1.0])
def test_truth_with_poisson_noise(seed, distortion):
    # peak 1000 counts: sigma_p = 0.0038 mm; the largest residual moves by at most ~4 sigma_p = 0.015 mm -> 0.02 mm
    # (the brief allows 0.05); the spacing SD gains sqrt(2) sigma_p in quadrature and a sampling error of about
    # sqrt(2) sigma_p / SD ~ 2 % of 0.25 mm -> 5 % (brief: 10 %)
    img, truth = nm.line_grid_image(distortion_mm=distortion, rng=np.random.default_rng(seed))
    r = L.spatial_linearity(img, SP)
    _check(r, truth, abs_tol=0.02, rel_tol=0.05)


@pytest.mark.parametrize("orientation", ["x", "y"])
def test_truth_anisotropic_pixels_uint16(orientation):
    # rectangular pixels (0.9 mm rows, 0.7 mm columns) stored as uint16 Poisson counts: the band weights and the
    # centroids work in mm along each axis; sigma_p stays ~0.004 mm (the counts per band are ~ the same), so the
    # same 0.02 mm / 5 % as the noisy 0.8 mm case
    sp = (0.9, 0.7)
    img, truth = nm.line_grid_image(shape=(448, 576), spacing_mm=sp, orientation=orientation,
                                    rng=np.random.default_rng(3))
    r = L.spatial_linearity(img.astype(np.uint16), sp)
    assert r.orientation == orientation
    _check(r, truth, abs_tol=0.02, rel_tol=0.05)


def test_linearity_scales_with_distortion():
    # the metrics are linear in the displacement field: doubling it doubles both (noise-free, to 1 %)
    a = L.spatial_linearity(nm.line_grid_image(distortion_mm=0.4, **SMALL)[0], SP)
    b = L.spatial_linearity(nm.line_grid_image(distortion_mm=0.8, **SMALL)[0], SP)
    for fov in ("ufov", "cfov"):
        assert b.absolute_mm[fov].value == pytest.approx(2 * a.absolute_mm[fov].value, rel=0.01)
        assert b.differential_mm[fov].value == pytest.approx(2 * a.differential_mm[fov].value, rel=0.01)


def test_zero_distortion_is_noise_only():
    img, truth = nm.line_grid_image(distortion_mm=0.0, peak_counts=1000.0, rng=np.random.default_rng(4))
    assert truth["absolute_mm"]["ufov"] < 1e-9
    r = L.spatial_linearity(img, SP)
    sp = _sigma_p(1000.0)
    for fov in ("ufov", "cfov"):
        # max of ~143 |N(0, sigma_p)| residuals: P(> 5 sigma_p) < 1e-4
        assert r.absolute_mm[fov].value < 5 * sp
        # SD of ~130 noise spacings estimates sqrt(2) sigma_p with a relative SE of ~6 %: bound 1.5 x
        assert r.differential_mm[fov].value < 1.5 * math.sqrt(2) * sp
    # and with no noise at all both are 0 to rounding
    r0 = L.spatial_linearity(nm.line_grid_image(distortion_mm=0.0)[0], SP)
    assert r0.absolute_mm["ufov"].value < 1e-6 and r0.differential_mm["ufov"].value < 1e-6


def test_grid_fit_ignores_magnification():
    # a pure scale error (the slits 31 mm apart) is not non-linearity: the fitted spacing absorbs it
    img, _ = nm.line_grid_image(line_spacing_mm=31.0, distortion_mm=0.0, **SMALL)
    r = L.spatial_linearity(img, SP)
    assert r.grid_fit["ufov"][1] == pytest.approx(31.0, abs=1e-3)
    assert r.absolute_mm["ufov"].value < 1e-3


def test_large_tilt_raises_clearly():
    img, _ = nm.line_grid_image(rotation_deg=30.0, field="circular", field_size_mm=400.0)
    with pytest.raises(PhantomNotFoundError, match="tilted by about 30"):
        L.spatial_linearity(img, SP)


# ---------------------------------------------------------------------------------------------------------------
# orientation, bad input
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", ["x", "y"])
def test_detect_orientation(orientation):
    img, _ = nm.line_grid_image(orientation=orientation, rotation_deg=1.0, **SMALL)
    assert L.detect_line_orientation(img, SP) == orientation
    line, _ = nm.line_source_image((256, 256), SP, axis=orientation)
    assert L.detect_line_orientation(line, SP) == orientation


def test_no_lines_raises():
    flat = np.random.default_rng(0).poisson(500.0, (256, 256)).astype(float)
    with pytest.raises(PhantomNotFoundError, match="no lines"):
        L.spatial_linearity(flat, SP)
    with pytest.raises(PhantomNotFoundError, match="no line grid"):
        L.spatial_linearity(flat, SP, orientation="x")
    with pytest.raises(PhantomNotFoundError, match="no counts"):
        L.spatial_linearity(np.zeros((128, 128)), SP)
    one_line, _ = nm.line_source_image((256, 256), SP)
    with pytest.raises(PhantomNotFoundError, match="1 line peak"):
        L.spatial_linearity(one_line, SP, orientation="x")


def test_bad_parameters():
    img, _ = nm.line_grid_image(**SMALL)
    with pytest.raises(InvalidImageError):
        L.spatial_linearity(np.ones((3, 64, 64)), SP)
    with pytest.raises(InputError, match="orientation"):
        L.spatial_linearity(img, SP, orientation="z")
    with pytest.raises(InputError, match="cfov_fraction"):
        L.spatial_linearity(img, SP, cfov_fraction=0.0)
    with pytest.raises(InputError, match="spacing_mm"):
        L.spatial_linearity(img, (0.0, 0.8))


# ---------------------------------------------------------------------------------------------------------------
# runners, registry, figures
# ---------------------------------------------------------------------------------------------------------------


def test_run_linearity_two_images_and_one():
    ix, tx = nm.line_grid_image(orientation="x", distortion_mm=0.6, **SMALL)
    iy, ty = nm.line_grid_image(orientation="y", distortion_mm=0.3, distortion_phase=1.0, **SMALL)
    out = run_linearity([_image(iy, "y.dcm"), _image(ix, "x.dcm")], {})  # order does not matter
    got = {(m.id, m.label): m.value for m in out.measurements}
    assert len(got) == 8
    for o, t in (("x", tx), ("y", ty)):
        for fov in ("ufov", "cfov"):  # float32 pixels: tolerances as noise-free
            assert got[("nm.linearity.absolute_mm", f"{fov}_{o}")] == pytest.approx(t["absolute_mm"][fov], abs=0.002)
            assert got[("nm.linearity.differential_mm", f"{fov}_{o}")] == pytest.approx(t["differential_mm"][fov],
                                                                                        rel=0.01)
    assert {type(v) for v in out.visuals} == {ImagePanel, Plot} and len(out.visuals) == 4
    one = run_linearity([_image(iy)], {"orientation": "auto"})
    assert {m.label for m in one.measurements} == {"ufov_y", "cfov_y"}
    with pytest.raises(InputError, match="same way"):
        run_linearity([_image(ix, "a.dcm"), _image(ix, "b.dcm")], {})
    with pytest.raises(InputError, match="Modality"):
        run_linearity([_image(ix, modality="PT")], {})


@pytest.mark.parametrize("axis", ["x", "y"])
def test_run_line_source_fwhm_within_2_percent(axis):
    # 0.8 mm pixels, FWHM 8 mm (10 pixels, NU 1 sampling), 5000 counts at the peak summed over 256 rows:
    # linear interpolation biases the FWHM by < 1 % and the noise moves it by < 0.1 %; tolerance 2 % (brief)
    img, truth = nm.line_source_image((256, 256), SP, fwhm_mm=8.0, offset_mm=0.3, axis=axis, peak_counts=5000.0,
                                      rng=np.random.default_rng(2))
    out = run_line_source([_image(img)], {})  # axis detected
    got = {(m.id, m.label): m.value for m in out.measurements}
    assert got[("nm.line_source.fwhm_mm", axis)] == pytest.approx(truth["fwhm_mm"], rel=0.02)
    assert got[("nm.line_source.fwtm_mm", axis)] == pytest.approx(truth["fwtm_mm"], rel=0.02)
    assert {type(v) for v in out.visuals} == {ImagePanel, Plot}


def test_registry_lists_the_kinds_and_ids():
    kinds, metrics = all_kinds(), all_metrics()
    assert kinds["nm.linearity"].metrics == ("nm.linearity.absolute_mm", "nm.linearity.differential_mm")
    assert (kinds["nm.linearity"].min_images, kinds["nm.linearity"].max_images) == (1, 2)
    assert kinds["nm.line_source"].load_runner() is run_line_source
    for mid in ("nm.linearity.absolute_mm", "nm.linearity.differential_mm"):
        assert metrics[mid].unit == "mm" and metrics[mid].labels == ("ufov_x", "cfov_x", "ufov_y", "cfov_y")
    assert {"nm.line_source.fwhm_mm", "nm.line_source.fwtm_mm"} <= set(metrics)


def test_visuals_carry_the_result_peaks():
    img, _ = nm.line_grid_image(orientation="y", distortion_mm=0.8, **SMALL)
    r = L.spatial_linearity(img, SP)
    panel, plot = L.linearity_visuals(r, img)
    assert panel.image is img  # the analysed image, not a copy
    rows, cols = r.peak_rc()
    j, i = r.worst["ufov"]
    # the red marker sits on the worst peak, and its label gives the absolute linearity
    worst = [o for o in panel.overlays if getattr(o, "color", "") == "tab:red"]
    assert len(worst) == 1 and (worst[0].row, worst[0].col) == (rows[j, i], cols[j, i])
    assert f"{r.absolute_mm['ufov'].value:.2f}" in worst[0].label
    assert np.array_equal(plot.curves[0].y, r.profile[1])
