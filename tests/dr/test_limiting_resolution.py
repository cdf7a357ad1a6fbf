"""dr.limiting_resolution on analytically rendered line-pair gauges (Gaussian blur, exact pixel aperture along
the strip, noise), against the ground-truth contract with reference_phantoms: the limit is the highest group
with f < f_N = 1 / (2 p) and presampling MTF(f) = exp(-2 pi^2 sigma^2 f^2) |sinc(f p)| >= 0.15, all lower
groups resolved too.

The blur-limited case uses sigma = 0.2777 mm: MTF(1.0) = 0.21 and MTF(1.2) = 0.107 at 0.139 mm, the symmetric
margin (x1.4 either side of 0.15) in log space. (MTF(1.0) = 0.3 with MTF(1.2) < 0.15 is impossible for
Gaussian x sinc: the Gaussian alone falls only by exp(-0.44 a) between 1.0 and 1.2.)
"""


import numpy as np
import pytest

import _synthetic as synth  # tests/ is on the pytest path (pyproject.toml)

from phantomqc._shared.errors import InputError, PhantomNotFoundError  # noqa: E402
from phantomqc.core.types import ImageData, ImageMeta  # noqa: E402
from phantomqc.dr import limiting_resolution as lr  # noqa: E402

F = synth.HUTTNER18


def truth_limit(pitch, sigma):
    lim = float("nan")
    for f in F:
        if f < 1 / (2 * pitch) and synth.true_mtf(f, sigma, pitch) >= 0.15:
            lim = f
        else:
            break
    return lim


CASES = [  # pitch, sigma, axis, rotation (deg), centre shift (mm), expected
    (0.139, 0.05, "x", 0.4, (1.3, -2.1), 3.4),   # Nyquist-limited: 3.7 > f_N = 3.60
    (0.2, 0.05, "y", 0.7, (-0.9, 0.37), 2.2),    # 2.5 is exactly at f_N = 2.5: aliased, not resolved
    (0.139, 0.2777, "x", -1.0, (0.0, 0.0), 1.0),  # blur-limited
    (0.2, 0.2777, "y", 0.5, (2.0, 1.1), 1.0),    # blur-limited
    (0.139, 0.1, "x", 1.0, (0.0, 0.5), 2.8),     # mid: MTF(2.8) = 0.164, MTF(3.1) = 0.108
]


@pytest.mark.parametrize("pitch,sigma,axis,angle,shift,expected", CASES)
def test_synthetic_gauge(pitch, sigma, axis, angle, shift, expected):
    assert truth_limit(pitch, sigma) == expected  # the expectation is the contract's, not hand-picked
    rng = np.random.default_rng(int(pitch * 1000 + sigma * 100))
    long_px, short_px = int(125 / pitch), int(60 / pitch)
    shape = (short_px, long_px) if axis == "x" else (long_px, short_px)
    centre = ((shape[0] - 1) / 2 * pitch + shift[0], (shape[1] - 1) / 2 * pitch + shift[1])
    img, _ = synth.render_gauge(shape, pitch, axis=axis, angle_deg=angle, sigma_mm=sigma, centre_mm=centre,
                                noise_sd=10.0, rng=rng)
    r = lr.limiting_resolution(img, (pitch, pitch), frequencies_lp_per_mm=F)
    (g,) = r.gauges
    assert g.direction == ("horizontal" if axis == "x" else "vertical")
    assert g.limiting_lp_per_mm.value == expected
    assert g.highest_resolved_lp_per_mm.value == expected
    assert g.nyquist_per_mm == pytest.approx(1 / (2 * pitch))
    assert abs(abs(g.angle_deg) - abs(angle)) < 0.3  # moments of a 0.5 mm mask
    # the modulation estimates MTF(f): within 0.035 for groups below 0.8 f_N (noise SE < 0.005; the aliased
    # third harmonic at f = f_s / 4 adds up to 0.025 at zero rotation)
    for grp in g.groups:
        if grp.frequency_lp_per_mm < 0.8 * g.nyquist_per_mm and synth.true_mtf(grp.frequency_lp_per_mm,
                                                                                sigma, pitch) > 0.05:
            assert abs(grp.modulation - synth.true_mtf(grp.frequency_lp_per_mm, sigma, pitch)) < 0.035
        if grp.frequency_lp_per_mm >= g.nyquist_per_mm:
            assert not grp.resolved


def test_two_perpendicular_gauges_in_one_image(tmp_path, monkeypatch):
    p, sigma = 0.139, 0.1
    n = int(150 / p)
    rng = np.random.default_rng(7)
    gx, _ = synth.render_gauge((n, n), p, axis="x", sigma_mm=sigma, angle_deg=0.5,
                               centre_mm=(20.0, 70.0))
    gy, _ = synth.render_gauge((n, n), p, axis="y", sigma_mm=sigma, angle_deg=-0.3,
                               centre_mm=(85.0, 135.0))
    img = gx * gy / 1000.0 + rng.normal(0.0, 10.0, (n, n))  # transmissions multiply
    toml = tmp_path / "gauges.toml"
    toml.write_text("[huttner18]\nfrequencies_lp_per_mm = [" + ", ".join(map(str, F)) + "]\n"
                    "line_pairs_per_group = 5\n")
    monkeypatch.setattr(lr, "_GAUGES_TOML", toml)
    out = lr.run([ImageData(img.astype(np.float32), (p, p), ImageMeta("lp.dcm", "DX"))], {"gauge": "huttner18"})
    got = {(m.id, m.label): m.value for m in out.measurements}
    assert got == {("dr.limiting_resolution.lp_per_mm", "horizontal"): 2.8,
                   ("dr.limiting_resolution.lp_per_mm", "vertical"): 2.8,
                   ("dr.limiting_resolution.nyquist_per_mm", "horizontal"): pytest.approx(1 / (2 * p)),
                   ("dr.limiting_resolution.nyquist_per_mm", "vertical"): pytest.approx(1 / (2 * p))}
    assert all(m.unit == "lp/mm" for m in out.measurements)


def test_no_gauge_and_missing_table(tmp_path):
    with pytest.raises(PhantomNotFoundError):
        lr.limiting_resolution(np.full((300, 300), 1000.0), (0.2, 0.2), frequencies_lp_per_mm=F)
    with pytest.raises(InputError, match="missing"):
        lr.load_gauge("huttner18", path=tmp_path / "none.toml")
