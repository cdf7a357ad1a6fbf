"""dr.dqe on a synthetic detector with a known DQE.

Flat fields: white noise with NNPS = 1 / (eta q K) (eta = 0.6, RQA5, K = 2.5 uGy), i.e. an ideal counting
detector of efficiency eta without noise blur. Edges: Gaussian blur + pixel aperture. Then
DQE(f) = eta MTF(f)^2 exactly; each tolerance below states its statistical budget.
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
from phantomqc.dr.dqe import Q_PER_MM2_PER_UGY, dqe, dqe_curve, run  # noqa: E402

P, N = 0.139, 900
ETA, K, Q = 0.6, 2.5, 30174.0


def _flats(rng, n_img):
    mean = 2000.0
    s = mean * math.sqrt(1.0 / (ETA * Q * K) / (P * P))  # NNPS_white = s^2 p^2 / mean^2 = 1 / (eta q K)
    return [mean + rng.normal(0.0, s, (N, N)) for _ in range(n_img)]


def test_dqe_curve_formula():
    f, d = dqe_curve(np.array([0.0, 4.0]), np.array([1.0, 0.6]), np.array([1.0, 2.0]), np.array([2e-5, 2e-5]),
                     air_kerma_uGy=2.0, beam_quality="RQA9")
    mtf = 1.0 - 0.1 * f
    np.testing.assert_allclose(d, mtf ** 2 / (31077.0 * 2.0 * 2e-5), rtol=1e-12)
    assert Q_PER_MM2_PER_UGY == {"RQA3": 20673.0, "RQA5": 30174.0, "RQA7": 32362.0, "RQA9": 31077.0}
    with pytest.raises(InputError, match="beam_quality"):
        dqe_curve(f, d, f, d, air_kerma_uGy=1.0, beam_quality="RQA6")


def test_known_dqe(rng):
    sig = 0.1
    flats = _flats(rng, 3)
    n = int(60 / P)
    edges = [synth.render_edge((n, n), (P, P), angle_deg=3, sigma_x_mm=sig, sigma_y_mm=sig, orientation=o,
                               noise_sd=3.0, rng=rng) for o in ("vertical", "horizontal")]
    r = dqe(flats, (P, P), edges, air_kerma_uGy=K, beam_quality="RQA5")
    truth = ETA * synth.true_mtf(0.5, sig, P) ** 2
    # Budget: NNPS cut near 0.5 /mm averages ~ 14 lines x 2 bins x 27 independent ROIs = 750 values -> 1 SE 3.7 %
    # of 1/NNPS; MTF(0.5) ~ 0.97 known to 0.3 % -> 0.6 % in MTF^2. 4 SE ~ 15 %. A missing q, a K in mGy or
    # MTF instead of MTF^2 are off by > 3 %... so also check the mean over 0.3..1.5 /mm (M ~ 10^4, 1 SE ~ 1 %).
    for lab in ("horizontal", "vertical"):
        assert r.at_0p5_per_mm[lab].value == pytest.approx(truth, rel=0.15)
        f, d = r.curves[lab]
        sel = (f > 0.3) & (f < 1.5)
        ratio = d[sel] / (ETA * synth.true_mtf(f[sel], sig, P) ** 2)
        assert np.mean(ratio) == pytest.approx(1.0, abs=0.04)


def test_run_pairs_directions(rng):
    flats = [ImageData(f.astype(np.float32), (P, P), ImageMeta(f"f{i}.dcm", "DX")) for i, f in
             enumerate(_flats(rng, 1))]
    n = int(60 / P)
    edge = ImageData(synth.render_edge((n, n), (P, P), angle_deg=2.5, sigma_x_mm=0.1, sigma_y_mm=0.1),
                     (P, P), ImageMeta("e.dcm", "DX"))
    out = run(flats, {"edge_images": [edge], "air_kerma_uGy": K, "beam_quality": "RQA5", "offset_pv": 0.0,
                      "roi_px": 256})
    (m,) = out.measurements
    assert m.id == "dr.dqe.at_0p5_per_mm" and m.label == "horizontal" and m.unit == "1"
    assert m.value == pytest.approx(ETA * synth.true_mtf(0.5, 0.1, P) ** 2, rel=0.25)  # 1 image: 1 SE ~ 6.5 %
    with pytest.raises(InputError, match="edge_images"):
        run(flats, {"air_kerma_uGy": K})
