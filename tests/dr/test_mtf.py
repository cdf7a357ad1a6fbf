"""dr.mtf on noisy synthetic slanted edges against the analytic presampling MTF along the pixel axis,
Gaussian x |sinc(f p)|, and the runner contract.

Tolerances: MTF50 within 3 % and MTF(f_N) within 0.03 absolute, the accuracy the reference-phantom issue
requires. With noise SD 5 PV on a 1000 PV step (SNR 200) the measured scatter over seeds is about 0.7 % RMS
for MTF50 and 0.007 for MTF(f_N), so a 3 % / 0.03 limit is more than 4 SD; the axis-vs-normal difference of
the truth (<= 0.3 % at 5 degrees) is inside it. A wrong frequency scale (e.g. pixels instead of mm, or a
bin of 1 px treated as 1/4 px) is off by 30 % or more.
"""

import numpy as np
import pytest

import _synthetic as synth  # tests/ is on the pytest path (pyproject.toml)
render_edge, true_mtf = synth.render_edge, synth.true_mtf

from phantomqc._shared.errors import InputError  # noqa: E402
from phantomqc.core.mtf import mtf50, mtf_at  # noqa: E402
from phantomqc.core.types import ImageData, ImageMeta, Measurement  # noqa: E402
from phantomqc.core.visuals import ImagePanel, Plot  # noqa: E402
from phantomqc.dr.metrics import METRICS  # noqa: E402
from phantomqc.dr.mtf import mtf, run  # noqa: E402

CASES = [(0.139, 2.0, 0.05, "vertical", 1), (0.139, 5.0, 0.15, "horizontal", 2), (0.2, 3.0, 0.10, "vertical", 3),
         (0.2, 4.0, 0.05, "horizontal", 4), (0.139, 3.5, 0.10, "horizontal", 5)]


@pytest.mark.parametrize("pitch,angle,sigma,orientation,seed", CASES)
def test_noisy_edge_within_3_percent(pitch, angle, sigma, orientation, seed):
    rng = np.random.default_rng(seed)
    n = int(60 / pitch)
    img = render_edge((n, n), (pitch, pitch), angle_deg=angle, sigma_x_mm=sigma, sigma_y_mm=sigma,
                      orientation=orientation, noise_sd=5.0, rng=rng, offset_mm=(0.7, -1.3))
    r = mtf(img, (pitch, pitch))
    f = r.frequencies_per_mm
    truth = true_mtf(f, sigma, pitch)
    assert r.mtf50_per_mm.value == pytest.approx(mtf50(f, truth), rel=0.03)
    assert abs(r.mtf_at_nyquist.value - mtf_at(f, truth, 1 / (2 * pitch))) < 0.03


def _im(pixels, spacing, modality="DX", intent="FOR PROCESSING", path="edge.dcm"):
    return ImageData(np.asarray(pixels, np.float32), spacing, ImageMeta(path=path, modality=modality,
                                                                         presentation_intent=intent))


def test_run_two_directions_measurements_and_visuals():
    p, n = 0.2, 300
    v = render_edge((n, n), (p, p), angle_deg=3, sigma_x_mm=0.05, sigma_y_mm=0.15)
    h = render_edge((n, n), (p, p), angle_deg=3, sigma_x_mm=0.05, sigma_y_mm=0.15, orientation="horizontal")
    out = run([_im(v, (p, p), path="v.dcm"), _im(h, (p, p), intent="FOR PRESENTATION", path="h.dcm")],
              {"roi_size_mm": 50.0})
    known = {m.id: m for m in METRICS}
    got = {(m.id, m.label): m for m in out.measurements}
    assert set(got) == {("dr.mtf.mtf50_per_mm", "horizontal"), ("dr.mtf.mtf50_per_mm", "vertical"),
                        ("dr.mtf.at_nyquist", "horizontal"), ("dr.mtf.at_nyquist", "vertical")}
    for m in out.measurements:
        assert isinstance(m, Measurement) and m.unit == known[m.id].unit and m.label in known[m.id].labels
    assert got[("dr.mtf.mtf50_per_mm", "horizontal")].value > got[("dr.mtf.mtf50_per_mm", "vertical")].value
    assert any("FOR PRESENTATION" in w and "h.dcm" in w for w in out.warnings)
    assert sum(isinstance(x, ImagePanel) for x in out.visuals) == 2
    assert any(isinstance(x, Plot) for x in out.visuals)


def test_run_rejects_non_dr_modality():
    img = render_edge((200, 200), (0.2, 0.2))
    with pytest.raises(InputError, match="CT") as e:
        run([_im(img, (0.2, 0.2), modality="CT", path="ct.dcm")], {})
    assert "ct.dcm" in str(e.value)
