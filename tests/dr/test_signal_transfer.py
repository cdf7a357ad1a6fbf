
import numpy as np
import pytest

from phantomqc._shared.errors import InputError
from phantomqc.core.types import ImageData, ImageMeta
from phantomqc.dr.signal_transfer import fit_signal_transfer, run, signal_transfer

K = np.array([1.0, 5.0, 10.0, 20.0, 30.0])
# fixed, known departures from each model (PV), so that R^2 < 1 and can be checked exactly
WIGGLE = np.array([3.0, -5.0, 4.0, -2.0, 1.0])


def _images(pv, shape=(800, 800)):
    # noise-free constant images: the ROI mean is the PV exactly (float32 storage, 1e-7 relative)
    return [np.full(shape, p, np.float32) for p in pv]


def _r2(p, phat):
    return 1 - np.sum((p - phat) ** 2) / np.sum((p - p.mean()) ** 2)


def _independent_r2(model, k, p):
    """R^2 in the PV domain by an independent closed-form least squares."""
    x = k if model == "linear" else np.log(k)
    y = np.log(p) if model == "power" else p
    xm, ym = x.mean(), y.mean()
    slope = np.sum((x - xm) * (y - ym)) / np.sum((x - xm) ** 2)
    icpt = ym - slope * xm
    phat = np.exp(icpt + slope * x) if model == "power" else icpt + slope * x
    return _r2(p, phat)


@pytest.mark.parametrize("model,truth", [
    ("linear", lambda k: 100.0 * k + 200.0),
    ("log", lambda k: 1000.0 + 800.0 * np.log(k)),
    ("power", lambda k: 300.0 * k ** 0.6),
])
def test_models_r_squared_and_auto_choice(model, truth):
    p = truth(K) + WIGGLE
    res = signal_transfer(_images(p), (0.15, 0.15), K.tolist())
    assert res.model == model  # auto picks the generating model
    for m in ("linear", "log", "power"):
        # float32 storage of PVs of ~3000 perturbs R^2 by << 1e-6
        assert res.fits[m].r_squared == pytest.approx(_independent_r2(m, K, p), abs=1e-6)
    assert res.r_squared.value == pytest.approx(_independent_r2(model, K, p), abs=1e-6)
    assert res.r_squared.value < 1.0


def test_power_r2_is_in_pv_domain_not_log_domain():
    p = 300.0 * K ** 0.6 + np.array([30.0, -40.0, 35.0, -20.0, 10.0])
    _, fits, _ = fit_signal_transfer(K, p, response="power")
    g, lnc = np.polyfit(np.log(K), np.log(p), 1)
    r2_log_domain = _r2(np.log(p), lnc + g * np.log(K))
    assert fits["power"].r_squared == pytest.approx(_r2(p, np.exp(lnc) * K ** g), rel=1e-12)
    assert abs(fits["power"].r_squared - r2_log_domain) > 1e-4


def test_auto_prefers_linear_when_gain_is_negligible():
    # a nearly linear power law (g = 0.999): the other models are not better by > 0.001 in R^2
    p = 100.0 * K ** 0.999 + 200.0 + WIGGLE
    model, fits, _ = fit_signal_transfer(K, p)
    assert model == "linear"


def test_given_response_is_used():
    p = 1000.0 + 800.0 * np.log(K) + WIGGLE
    model, fits, _ = fit_signal_transfer(K, p, response="linear")
    assert model == "linear" and set(fits) == {"linear"}


def test_errors():
    with pytest.raises(ValueError, match="at least 3 distinct"):
        fit_signal_transfer([1, 1, 5, 5], [1, 1, 2, 2])
    with pytest.raises(ValueError, match="air kerma > 0"):
        fit_signal_transfer([0, 5, 10], [1, 2, 3], response="log")
    model, fits, warns = fit_signal_transfer([0.0, 5, 10, 20], [200, 700, 1200, 2200])
    assert model == "linear" and "log" not in fits and any("not fitted" in w for w in warns)


def test_kerma_range_warning():
    _, _, warns = fit_signal_transfer([5, 6, 7], [1, 2, 3.1])
    assert any("span" in w for w in warns)


def test_run():
    p = 100.0 * K + 200.0 + WIGGLE
    ims = [ImageData(a, (0.15, 0.15), ImageMeta(path=f"k{i}.dcm", modality="DX")) for i, a in enumerate(_images(p))]
    out = run(ims, {"air_kerma_uGy": K.tolist(), "response": "auto", "roi_size_mm": 100.0})
    (m,) = out.measurements
    assert m.id == "dr.signal_transfer.r_squared" and m.label == "linear" and m.unit == "1"
    assert set(out.parameters["fits"]) == {"linear", "log", "power"}
    plot = out.visuals[0]
    assert len(plot.curves) == 4 and any("R²" in c.label for c in plot.curves)
    with pytest.raises(InputError, match="k0.dcm"):
        run(ims[:3], {"air_kerma_uGy": [1.0, 1.0, 1.0], "response": "auto"})
