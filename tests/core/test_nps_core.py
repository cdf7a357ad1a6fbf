"""NPS building blocks (phantomqc.core.nps): detrending, white-noise level, IEC cuts excluding the axes."""

import numpy as np
import pytest

from phantomqc.core.nps import axis_cut, detrend_poly2, nps_2d, radial_average, roi_starts


def test_detrend_removes_any_quadratic_exactly():
    y, x = np.mgrid[0:90, 0:120].astype(float)
    surf = 5.0 + 0.3 * x - 0.2 * y + 1e-3 * x * x + 2e-3 * x * y - 4e-3 * y * y
    res, fit = detrend_poly2(surf)
    assert np.abs(res).max() < 1e-9  # exact up to rounding
    np.testing.assert_allclose(fit, surf, atol=1e-9)


def test_roi_starts_half_overlap_centred():
    s = roi_starts(900, 256)
    assert list(np.diff(s)) == [128] * (len(s) - 1) and s[-1] + 256 <= 900 and s[0] == 900 - (s[-1] + 256)


def test_white_noise_nps_level_and_axes_excluded(rng):
    """White noise of SD s has NPS = s^2 dx dy. 18 non-overlapping-equivalent 128 x 128 ROIs give a mean over
    ~ 18 x 8192 independent values: 5 SE = 5 / sqrt(1.5e5) = 1.3 %; a missing dx dy or 1/(N N) is off by x25+.
    Row offsets (power on the u = 0 line only) must not reach the v cut nor the radial average."""
    s, (sy, sx) = 7.0, (0.15, 0.1)
    img = rng.normal(0.0, s, (768, 384))
    nps, fu, fv, n = nps_2d([img], (sy, sx), roi_px=128)
    truth = s * s * sx * sy
    assert n == 11 * 5
    assert np.mean(nps) == pytest.approx(truth, rel=5 / np.sqrt(18 * 8192))
    stripes = img + rng.normal(0.0, 20.0, (768, 1))  # each row offset: a column structure in the spectrum
    nps2, fu, fv, _ = nps_2d([stripes - stripes.mean()], (sy, sx), roi_px=128)
    fcv, cv, cnt = axis_cut(nps2, fu, fv, axis="v")
    fr, rad, _ = radial_average(nps2, fu, fv)
    # each cut bin averages >= 14 x 18 independent values: 5 SE <= 5 / sqrt(14 * 18) = 32 %; the stripe power
    # (20^2 / 7^2 x N = 1000 times the white level on the axis) would exceed that by orders of magnitude
    assert np.all(np.abs(cv / truth - 1) < 0.35)
    assert np.all(np.abs(rad / truth - 1) < 0.35)
    fcu, cu, _ = axis_cut(nps2, fu, fv, axis="u")
    assert fcu[-1] == pytest.approx(1 / (2 * sx)) and fcv[-1] == pytest.approx(1 / (2 * sy))
    assert fr[-1] <= min(1 / (2 * sx), 1 / (2 * sy)) + 1e-9
