"""Slanted-edge presampling MTF (phantomqc.core.mtf) against analytic truth, without noise.

Noise-free edges isolate the method's bias. The exact truth along the edge normal is the projected Gaussian
times the projected square aperture (conftest.true_mtf_normal). Tolerances: MTF50 within 0.5 % and MTF(f_N)
within 0.005. Measured bias is < 0.3 % / 0.004 (Hann window, ESF range); a missing sinc(f d)^2 correction
shifts MTF50 by about 0.9 % and MTF(f_N) by 5 % relative, and binning along the row instead of the normal
(no cos correction) shifts MTF50 by 1.4 % at 9.5 degrees, so each would fail.
"""

import math

import numpy as np
import pytest

import _synthetic as synth  # tests/ is on the pytest path (pyproject.toml)
render_edge, true_mtf_normal = synth.render_edge, synth.true_mtf_normal
from phantomqc._shared.errors import AnalysisError
from phantomqc.core.mtf import mtf50, mtf_at, slanted_edge_mtf
from phantomqc.core.roi import block_mean


@pytest.mark.parametrize("pitch,angle,sx,sy,orientation", [
    (0.139, 3.0, 0.10, 0.10, "vertical"),
    (0.2, 2.0, 0.05, 0.05, "horizontal"),
    (0.2, 9.5, 0.10, 0.10, "vertical"),
    (0.139, 1.5, 0.05, 0.15, "horizontal"),
    (0.139, 4.0, 0.05, 0.15, "vertical"),
])
def test_noise_free_edge_matches_exact_truth(pitch, angle, sx, sy, orientation):
    n = int(60 / pitch)
    img = render_edge((n, n), (pitch, pitch), angle_deg=angle, sigma_x_mm=sx, sigma_y_mm=sy,
                      orientation=orientation)
    r = slanted_edge_mtf(img, (pitch, pitch))
    assert r.direction == ("horizontal" if orientation == "vertical" else "vertical")
    assert abs(abs(r.edge.angle_deg) - angle) < 0.02  # sub-pixel line fit: 0.02 deg is 0.1 px over 50 mm
    # along x (vertical edge) the blur across the edge is sigma_x, else sigma_y
    s_across, s_along = (sx, sy) if orientation == "vertical" else (sy, sx)
    f = r.frequencies_per_mm
    truth = true_mtf_normal(f, s_across, s_along, pitch, pitch, angle)
    assert r.mtf50_per_mm.value == pytest.approx(mtf50(f, truth), rel=0.005)
    assert abs(r.mtf_at_nyquist.value - mtf_at(f, truth, r.nyquist_per_mm)) < 0.005
    assert r.nyquist_per_mm == pytest.approx(1 / (2 * pitch))
    assert r.mtf[0] == pytest.approx(1.0)


def test_anisotropic_blur_is_attributed_to_the_right_axis():
    """sigma_x = 0.05, sigma_y = 0.15: the horizontal MTF50 must be the high one; swapped axes would fail."""
    p, n = 0.139, 430
    v = slanted_edge_mtf(render_edge((n, n), (p, p), angle_deg=3, sigma_x_mm=0.05, sigma_y_mm=0.15), (p, p))
    h = slanted_edge_mtf(render_edge((n, n), (p, p), angle_deg=3, sigma_x_mm=0.05, sigma_y_mm=0.15,
                                     orientation="horizontal"), (p, p))
    assert v.direction == "horizontal" and h.direction == "vertical"
    f = v.frequencies_per_mm
    assert v.mtf50_per_mm.value == pytest.approx(mtf50(f, true_mtf_normal(f, 0.05, 0.15, p, p, 3)), rel=0.005)
    assert h.mtf50_per_mm.value == pytest.approx(mtf50(f, true_mtf_normal(f, 0.15, 0.05, p, p, 3)), rel=0.005)
    assert v.mtf50_per_mm.value > 1.5 * h.mtf50_per_mm.value


@pytest.mark.parametrize("angle", [0.3, 14.0])
def test_edge_angle_outside_1_to_10_degrees_is_refused(angle):
    img = render_edge((300, 300), (0.2, 0.2), angle_deg=angle, sigma_x_mm=0.1, sigma_y_mm=0.1)
    with pytest.raises(AnalysisError, match="degrees"):
        slanted_edge_mtf(img, (0.2, 0.2))


def test_edge_off_centre_is_found_and_manual_centre_works():
    p = 0.2
    img = render_edge((500, 500), (p, p), angle_deg=2.5, offset_mm=(5.0, 18.0))
    r = slanted_edge_mtf(img, (p, p), roi_size_mm=40.0)
    # the ROI must be centred on the edge within a few pixels (edge at x = centre + 18 mm)
    assert abs((r.roi.col0 + r.roi.ncols / 2) * p - (250 * p + 18.0)) < 2.0
    r2 = slanted_edge_mtf(img, (p, p), roi_size_mm=40.0, center_mm=(250 * p + 5.0, 250 * p + 18.0))
    assert r2.mtf50_per_mm.value == pytest.approx(r.mtf50_per_mm.value, rel=0.01)


def test_mtf_worsens_monotonically_with_blur():
    p = 0.139
    m = [slanted_edge_mtf(render_edge((360, 360), (p, p), angle_deg=3, sigma_x_mm=s, sigma_y_mm=s), (p, p))
         .mtf50_per_mm.value for s in (0.05, 0.1, 0.15, 0.2)]
    assert all(a > b for a, b in zip(m, m[1:]))


def test_helpers():
    assert mtf50(np.array([0.0, 1.0, 2.0]), np.array([1.0, 0.6, 0.2])) == pytest.approx(1.25)
    assert math.isnan(mtf50(np.array([0.0, 1.0]), np.array([1.0, 0.9])))
    np.testing.assert_allclose(block_mean(np.arange(16.0).reshape(4, 4), 2), [[2.5, 4.5], [10.5, 12.5]])
