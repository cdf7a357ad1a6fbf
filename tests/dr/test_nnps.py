"""dr.nnps against known spectra: white noise (flat, s^2 dx dy / S^2) and Gaussian-filtered white noise.

Statistics: the relative SE of an average of M independent periodogram values is 1 / sqrt(M). The half-overlapping
ROIs are counted conservatively as the non-overlapping ones only (9 per 125 mm region at 0.139 mm, 256 px).
"""

import math

import numpy as np
import pytest

import _synthetic as synth  # tests/ is on the pytest path (pyproject.toml)


@pytest.fixture
def rng():
    return np.random.default_rng(20261102)

from phantomqc._shared.errors import InputError  # noqa: E402
from phantomqc.core.types import ImageData, ImageMeta  # noqa: E402
from phantomqc.core.visuals import Plot  # noqa: E402
from phantomqc.dr.nnps import nnps, run  # noqa: E402

P = 0.139
N = 900  # 125 mm at 0.139 mm


def test_white_noise_nnps_flat_and_exact(rng):
    s, mean, offset = 12.0, 1500.0, 100.0
    imgs = [offset + mean + rng.normal(0.0, s, (N, N)) for _ in range(2)]
    r = nnps(imgs, (P, P), offset_pv=offset)
    truth = s * s * P * P / mean ** 2
    assert r.n_rois == 2 * 36 and r.mean_signal_pv.value == pytest.approx(mean, rel=1e-3)
    # metrics: uncertainty is value / sqrt(M); 5 SE is a 1-in-1.7-million miss for a correct estimator, while
    # forgetting the offset (S = 1600) is -12 %, forgetting dx dy x500 and 1/N^2 x65536
    for q in (r.at_0p5_per_mm, r.at_nyquist):
        assert abs(q.value - truth) < 5 * q.uncertainty
        assert q.uncertainty / q.value < 0.05  # the SE is meaningful (M >= 400)
    # the whole radial curve: mean over all annuli, M ~ 2 x 9 x 32768 -> 5 SE = 0.6 %
    assert np.mean(r.radial[1]) == pytest.approx(truth, rel=0.01)
    for f, c in (r.cut_u, r.cut_v):
        # each cut bin: >= 14 x 18 independent values -> 5 SE = 32 %; and the curve mean within 5 %
        assert np.all(np.abs(c[3:] / truth - 1) < 0.32) and np.mean(c) == pytest.approx(truth, rel=0.05)
    assert r.nyquist_per_mm == pytest.approx(1 / (2 * P))


def test_correlated_noise_spectrum(rng):
    """Gaussian-filtered noise: NPS = s^2 dx dy exp(-4 pi^2 sigma_px^2 (u^2 + v^2) p^2). Checked where the
    spectrum is above 20 % of its peak (beyond that, leakage through the ROI's rectangular window dominates,
    a property of the IEC estimator, not of this code)."""
    s, sig_px, mean = 20.0, 1.5, 1000.0
    imgs = [mean + synth.correlated_noise((N, N), s, sig_px, rng) for _ in range(2)]
    r = nnps(imgs, (P, P))

    def truth(f):
        return s * s * P * P * np.exp(-4 * math.pi ** 2 * sig_px ** 2 * (f * P) ** 2) / mean ** 2

    f, rad = r.radial
    sel = (truth(f) > 0.2 * truth(0)) & (f > 0.1)
    # each annulus k holds ~ pi k points; M >= pi x 4 / 2 x 18 = 113 -> 5 SE <= 47 %; the mean over the
    # selected annuli has M > 5000 -> 5 SE = 7 %. A spectrum without the filter would be 2 to 5 x off.
    assert np.all(np.abs(rad[sel] / truth(f[sel]) - 1) < 0.47)
    assert np.mean(rad[sel] / truth(f[sel])) == pytest.approx(1.0, abs=0.07)
    q = r.at_0p5_per_mm
    assert abs(q.value - truth(0.5)) < 5 * q.uncertainty


def test_quadratic_trend_is_removed(rng):
    """A heel-effect ramp of +-10 % must not leak into the spectrum (without detrending the lowest bins
    would rise by orders of magnitude)."""
    y, x = np.mgrid[0:N, 0:N] / N
    img = 1000.0 * (1 + 0.2 * (x - 0.5) + 0.1 * (y - 0.5) ** 2) + rng.normal(0.0, 10.0, (N, N))
    r = nnps([img], (P, P))
    truth = 100 * P * P / 1000.0 ** 2
    f, rad = r.radial
    assert np.all(rad[:3] < 2.0 * truth)


def test_run_and_errors(rng):
    im = ImageData((1000 + rng.normal(0, 10, (N, N))).astype(np.float32), (P, P), ImageMeta("f.dcm", "DX"))
    out = run([im], {"roi_px": 256, "region_mm": 125.0, "offset_pv": 0.0})
    assert {m.id for m in out.measurements} == {"dr.nnps.at_0p5_per_mm", "dr.nnps.at_nyquist"}
    assert all(m.unit == "mm^2" for m in out.measurements)
    assert any(isinstance(v, Plot) and v.log_y for v in out.visuals)
    with pytest.raises(InputError, match="positive signal"):
        nnps([np.zeros((N, N))], (P, P))
    with pytest.raises(InputError, match="roi_px"):
        nnps([np.ones((100, 100))], (P, P))
