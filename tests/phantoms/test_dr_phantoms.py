"""Reference DR phantoms: written files, and self-consistency of the truth."""

import json
import math
import tomllib

import numpy as np
import pydicom
import pytest
from scipy import ndimage
from scipy.special import ndtr

from phantomqc.core.roi import rect_roi_mm, roi_stats
from phantomqc.dr.kinds import KINDS
from phantomqc.dr.metrics import METRICS
from reference_phantoms.dr import DR_PHANTOMS as PHANTOMS
from reference_phantoms.dr import (
    ARTIFACT_TYPES, artifacts_phantom, dark_phantom, ddi_phantom, detector_preset, dr_suite, edge_fraction,
    edge_phantom, flats_phantom, gauge_phantom, ghosting_phantom, load_gauge, mtf_axis,
    nnps_white, sigma_for_limit, stp_r_squared, uniformity_phantom, write_phantom_set,
)

DET = detector_preset("2048", "uint16")
DET16 = detector_preset("2048", "int16")


def _centre(det):
    return ((det.shape[0] - 1) * det.pitch_mm / 2, (det.shape[1] - 1) * det.pitch_mm / 2)


# ---------------------------------------------------------------------------------------------- suite files
@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    ps = dr_suite("2048", "int16", seed=3)
    out = tmp_path_factory.mktemp("suite")
    manifest = write_phantom_set(ps, out)
    return ps, out, manifest


def test_suite_files_read_back_with_tags_and_pixels(suite):
    ps, out, _ = suite
    names = {im.filename for im in ps.images}
    assert {"dark.dcm", "flat_01uGy.dcm", "flat_30uGy.dcm", "uniformity.dcm", "lag_block.dcm", "lag_after.dcm",
            "edge_h.dcm", "edge_v.dcm", "gauge.dcm", "artifacts.dcm", "ddi_1.dcm"} <= names
    for im in ps.images:
        ds = pydicom.dcmread(out / im.filename)
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1.1.1", im.filename
        assert ds.PresentationIntentType == "FOR PROCESSING" and ds.Modality == "DX"
        assert [float(v) for v in ds.ImagerPixelSpacing] == [0.2, 0.2]
        assert ds.PixelRepresentation == 1
        assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (0.5, 1000.0)
        pv = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_array_equal(pv, im.pv)  # exact: stored integers, slope 0.5


def test_suite_manifest_uses_the_declared_kinds_and_fields(suite):
    ps, out, manifest = suite
    doc = tomllib.loads(manifest.read_text())
    assert (doc["schema"], doc["profile"], doc["test_type"]) == ("phantomqc.manifest/1", "ws76-2020-dr",
                                                                 "acceptance")
    kinds = {k.name: k for k in KINDS}
    assert {t["kind"] for t in doc["test"]} == set(kinds)  # one [[test]] per DR kind
    for t in doc["test"]:
        kd = kinds[t["kind"]]
        allowed = {"kind", "images"} | {f.name for f in kd.fields}
        assert set(t) <= allowed, (t["kind"], set(t) - allowed)
        assert kd.min_images <= len(t["images"]) <= (kd.max_images or 99)
        for f in kd.fields:
            if f.per_image and f.name in t:
                assert len(t[f.name]) == len(t["images"])
        for name in t["images"] + t.get("edge_images", []):
            assert (out / name).is_file()


def test_suite_truth_json_ids_labels_and_files(suite):
    ps, out, _ = suite
    truth = json.loads((out / "truth.json").read_text())
    assert truth["schema"] == "phantomqc.truth/1" and "definitions" in truth
    metrics = {m.id: m for m in METRICS}
    for e in truth["expected"]:
        m = metrics[e["id"]]
        assert e["unit"] == m.unit
        assert (e["label"] in m.labels) if m.labels else e["label"] is None
        assert math.isfinite(e["value"])
    assert set(truth["files"]) == {im.filename for im in ps.images}
    assert {e["id"] for e in truth["expected"]} == set(metrics)  # every DR metric has a truth


def test_same_seed_same_pixels():
    a = dark_phantom(DET, 7).images[0].stored
    b = dark_phantom(DET, 7).images[0].stored
    c = dark_phantom(DET, 8).images[0].stored
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_registry_makers_write_a_manifest(tmp_path):
    assert "dr-suite" in PHANTOMS
    m = PHANTOMS["dr-dark"](tmp_path, detector="2048", seed=1)
    assert m.name == "manifest.toml" and (tmp_path / "dark.dcm").is_file() and (tmp_path / "truth.json").is_file()


# ---------------------------------------------------------------------------------------------- dark
@pytest.mark.parametrize("det", [DET, DET16], ids=["uint16", "int16"])
def test_dark_truth_matches_noise_free_and_empirical_statistics(det):
    ps = dark_phantom(det, 11)
    im = ps.images[0]
    roi = rect_roi_mm(det.shape, det.spacing_mm, _centre(det), 100.0)
    nf_mean, _ = roi_stats(im.noise_free_pv, roi)
    assert nf_mean == ps.value("dr.dark_noise.mean_pv") == det.offset_pv
    sd = ps.value("dr.dark_noise.sd_pv")
    assert sd == pytest.approx(math.sqrt(det.sigma_e_pv ** 2 + det.rescale_slope ** 2 / 12), rel=1e-12)
    mean, emp_sd = roi_stats(im.pv, roi)
    n = roi.n_pixels
    assert abs(emp_sd - sd) < 3 * sd / math.sqrt(2 * n)  # 3 sigma of the sample SD of N normal values
    assert abs(mean - det.offset_pv) < 3 * sd / math.sqrt(n)


# ---------------------------------------------------------------------------------------------- STP / DDI / NNPS
def test_stp_r_squared_definitions_against_independent_fits():
    k = np.array([1.0, 5.0, 10.0, 20.0, 30.0])
    p = 100 + 400 * k ** 0.9
    for model, x, y, back in (("linear", k, p, lambda v: v), ("log", np.log(k), p, lambda v: v),
                              ("power", np.log(k), np.log(p), np.exp)):
        phat = back(np.polyval(np.polyfit(x, y, 1), x))
        r2 = 1 - np.sum((p - phat) ** 2) / np.sum((p - p.mean()) ** 2)
        assert stp_r_squared(k, p, model) == pytest.approx(r2, abs=1e-12)


@pytest.mark.parametrize("response", ["linear", "log", "power"])
def test_flats_truth_is_exact_for_the_generating_model(response):
    det = DET.with_(response=response)
    ps = flats_phantom(det, 2)
    assert ps.value("dr.signal_transfer.r_squared", response) == pytest.approx(1.0, abs=1e-9) or response == "power"
    means = ps.parameters["signal_transfer"]["expected_central_mean_pv"]
    want = [det.offset_pv + float(det.signal(np.float64(k))) for k in (1, 5, 10, 20, 30)]
    np.testing.assert_allclose(means, want, rtol=1e-6)  # float32 noise-free image
    # the noisy images give the same R^2 to well within any limit's resolution
    roi = rect_roi_mm(det.shape, det.spacing_mm, _centre(det), 100.0)
    noisy = [roi_stats(im.pv, roi)[0] for im in ps.images]
    assert stp_r_squared([1, 5, 10, 20, 30], noisy, response) == pytest.approx(
        ps.value("dr.signal_transfer.r_squared", response), abs=1e-4)


def test_failing_stp_reaches_target_r_squared():
    ps = flats_phantom(DET, 2, target_r_squared=0.90)
    assert ps.value("dr.signal_transfer.r_squared", "linear") == pytest.approx(0.90, abs=1e-6)
    assert ps.images[-1].info["gain_drift"] < 1.0  # the 30 uGy flat droops


def test_ddi_header_and_nnps_of_the_white_noise(tmp_path):
    ps = ddi_phantom(DET, 4, ddi_error=0.04)
    assert ps.value("dr.ddi.value") == pytest.approx(1040.0)
    assert ps.value("dr.ddi.deviation_percent") == 4.0
    assert all(im.header["ExposureIndex"] == pytest.approx(1040.0) for im in ps.images)
    nn = ps.value("dr.nnps.at_0p5_per_mm")
    q_eff = DET.efficiency * DET.q_per_uGy_mm2
    expect = 1 / (q_eff * 10) + (DET.sigma_e_pv ** 2 + 1 / 12) * DET.pixel_area_mm2 / (DET.gain_pv_per_uGy * 10) ** 2
    assert nn == pytest.approx(expect, rel=1e-12) and nn == nnps_white(DET, 10.0)
    # empirical: var x area / (mean - offset)^2 from one large ROI; rel. SE of a variance is sqrt(2/N)
    roi = rect_roi_mm(DET.shape, DET.spacing_mm, _centre(DET), 200.0)
    mean, sd = roi_stats(ps.images[0].pv, roi)
    emp = sd ** 2 * DET.pixel_area_mm2 / (mean - DET.offset_pv) ** 2
    assert emp == pytest.approx(nn, rel=3 * math.sqrt(2 / roi.n_pixels) + 1e-4)


# ---------------------------------------------------------------------------------------------- uniformity
@pytest.mark.parametrize("cv", [1.0, 3.0, 7.0])
def test_uniformity_cv(cv):
    ps = uniformity_phantom(DET16, 5, cv_percent=cv)
    truth = ps.value("dr.response_uniformity.cv_percent")
    assert truth == pytest.approx(cv, abs=1e-4)  # float32 gain map
    h, w = ((DET16.shape[0] - 1) * 0.2, (DET16.shape[1] - 1) * 0.2)
    centres = [(h / 2, w / 2), (h / 4, w / 4), (h / 4, 3 * w / 4), (3 * h / 4, w / 4), (3 * h / 4, 3 * w / 4)]
    rois = [rect_roi_mm(DET16.shape, DET16.spacing_mm, c, 40.0) for c in centres]
    im = ps.images[0]
    nf = np.array([roi_stats(im.noise_free_pv, r)[0] for r in rois])
    assert truth == pytest.approx(nf.std(ddof=1) / nf.mean() * 100, rel=1e-12)
    noisy = np.array([roi_stats(im.pv, r)[0] for r in rois])
    # each ROI mean moves by ~70/sqrt(40000) PV out of ~4000 PV: < 0.01 % CV change
    assert noisy.std(ddof=1) / noisy.mean() * 100 == pytest.approx(truth, abs=0.01)


# ---------------------------------------------------------------------------------------------- ghosting
@pytest.mark.parametrize("ghost", [0.0, 2.0, 8.0])
def test_ghost_error_and_independence_of_the_non_ghost_position(ghost):
    ps = ghosting_phantom(DET, 6, ghost_percent=ghost, block_shift_mm=(3.3, -7.1))
    err = ps.value("dr.ghosting.error_percent")
    assert err == pytest.approx(-ghost, abs=1e-4)
    after = ps.image("lag_after.dcm")
    by, bx = after.info["block_centre_mm"]
    g = roi_stats(after.noise_free_pv, rect_roi_mm(DET.shape, DET.spacing_mm, (by, bx), 20.0))[0]
    for dy, dx in ((0, 40.0), (0, -40.0), (45.0, 0), (0, 80.0), (-60.0, 30.0)):  # all >= 10 mm clear of the block
        n = roi_stats(after.noise_free_pv, rect_roi_mm(DET.shape, DET.spacing_mm, (by + dy, bx + dx), 20.0))[0]
        assert (g - n) / n * 100 == pytest.approx(err, abs=1e-9)


# ---------------------------------------------------------------------------------------------- MTF / edge
def test_mtf_truth_solves_mtf50_and_nyquist():
    ps = edge_phantom(DET, 1, angle_deg=4.0)
    for label, sig in (("horizontal", DET.sigma_x_mm), ("vertical", DET.sigma_y_mm)):
        f50 = ps.value("dr.mtf.mtf50_per_mm", label)
        assert float(mtf_axis(f50, sig, 0.2)) == pytest.approx(0.5, abs=1e-10)
        fn = 2.5
        assert ps.value("dr.mtf.at_nyquist", label) == pytest.approx(
            math.exp(-2 * math.pi ** 2 * sig ** 2 * fn ** 2) * 2 / math.pi, rel=1e-12)
    assert ps.value("dr.mtf.mtf50_per_mm", "horizontal") > 1.1 * ps.value("dr.mtf.mtf50_per_mm", "vertical")


@pytest.mark.parametrize("direction", ["horizontal", "vertical"])
def test_rendered_edge_equals_aperture_integral_of_the_blurred_edge(direction):
    """Brute force: 64 x 64 midpoint sub-samples of Phi(d / sigma_perp) over each pixel."""
    t = math.radians(3.0)
    e = edge_fraction(DET, direction, 3.0)
    cy, cx = _centre(DET)
    p = DET.pitch_mm
    if direction == "horizontal":
        sp = math.hypot(DET.sigma_x_mm * math.cos(t), DET.sigma_y_mm * math.sin(t))
        dist = lambda y, x: (x - cx) * math.cos(t) - (y - cy) * math.sin(t)  # noqa: E731
    else:
        sp = math.hypot(DET.sigma_y_mm * math.cos(t), DET.sigma_x_mm * math.sin(t))
        dist = lambda y, x: (y - cy) * math.cos(t) - (x - cx) * math.sin(t)  # noqa: E731
    rng = np.random.default_rng(0)
    u = (np.arange(64) + 0.5) / 64 - 0.5
    checked = 0
    for _ in range(60):
        r, c = rng.integers(300, 1700, size=2)
        # move to a pixel near the edge along the measurement axis
        if direction == "horizontal":
            c = int(round((cx + (r * p - cy) * math.tan(t)) / p)) + int(rng.integers(-3, 4))
        else:
            r = int(round((cy + (c * p - cx) * math.tan(t)) / p)) + int(rng.integers(-3, 4))
        yy = r * p + u[:, None] * p
        xx = c * p + u[None, :] * p
        want = ndtr(dist(yy, xx) / sp).mean()
        assert e[r, c] == pytest.approx(want, abs=2e-4), (r, c)  # midpoint-rule error of 64^2 samples
        checked += 0.0 < want < 1.0
    assert checked > 30
    low, high = (e[:, :5], e[:, -5:]) if direction == "horizontal" else (e[:5, :], e[-5:, :])
    assert np.all(low == 0.0) and np.all(high == 1.0)  # exact step far from the edge


def test_rendered_edge_matches_supersampled_gaussian_blur():
    """Independent route: ideal step on a 16x grid, scipy Gaussian blur (sigma_y, sigma_x), 16x16 binning."""
    det = DET.with_(sigma_x_mm=0.06, sigma_y_mm=0.12)
    e = edge_fraction(det, "horizontal", 5.0)
    cy, cx = _centre(det)
    p, s = det.pitch_mm, 16
    r0, c0, n = 1000, int(round(cx / p)) - 20, 40
    yy = (r0 + (np.arange(n * s) + 0.5) / s - 0.5) * p
    xx = (c0 + (np.arange(n * s) + 0.5) / s - 0.5) * p
    t = math.radians(5.0)
    step = ((xx[None, :] - cx) * math.cos(t) - (yy[:, None] - cy) * math.sin(t) > 0).astype(np.float64)
    blur = ndimage.gaussian_filter(step, (0.12 / p * s, 0.06 / p * s), mode="nearest", truncate=6.0)
    binned = blur.reshape(n, s, n, s).mean(axis=(1, 3))
    inner = (slice(8, n - 8), slice(2, n - 2))  # away from the crop's own border
    np.testing.assert_allclose(e[r0:r0 + n, c0:c0 + n][inner], binned[inner], atol=3e-3)


def test_edge_esf_gives_the_truth_mtf():
    """A plain slanted-edge analysis of the noise-free edge recovers the axis-projection MTF truth."""
    ps = edge_phantom(DET.with_(sigma_e_pv=1e-3), 0, directions=("horizontal",), angle_deg=3.0)
    im = ps.images[0]
    img = np.asarray(im.noise_free_pv, dtype=np.float64)
    t, p = math.radians(3.0), DET.pitch_mm
    cy, cx = _centre(DET)
    rows = np.arange(824, 1224)
    cols = np.arange(int(cx / p) - 40, int(cx / p) + 40)
    xdist = cols[None, :] * p - (cx + (rows[:, None] * p - cy) * math.tan(t))  # distance along x to the edge
    bins = 4
    idx = np.floor(xdist / (p / bins)).astype(int).ravel()
    idx -= idx.min()
    esf = np.bincount(idx, img[rows][:, cols].ravel()) / np.bincount(idx)
    esf = esf[5:-5]
    lsf = np.diff(esf) * np.hanning(esf.size - 1)
    f = np.fft.rfftfreq(lsf.size, d=p / bins)
    m = np.abs(np.fft.rfft(lsf))
    m /= m[0]
    truth = im.info["mtf"]
    # the binned ESF derivative adds a sinc of the bin width (p/4) and a finite-difference factor
    corr = np.abs(np.sinc(f * p / bins)) * np.abs(np.sinc(f * p / bins))
    f50 = np.interp(0.5, (m / np.maximum(corr, 1e-9))[::-1][-60:], f[::-1][-60:])
    # measured 0.08 % off; swapped sigma_x / sigma_y labels would be ~20 % off
    assert f50 == pytest.approx(truth["mtf50_axis_projection_per_mm"], rel=0.005)


# ---------------------------------------------------------------------------------------------- gauge
def test_gauge_truth_criterion_and_rendering():
    ps = gauge_phantom(DET, 9)
    im = ps.images[0]
    fn = DET.nyquist_per_mm
    for info, sig in zip(im.info["gauges"], (DET.sigma_x_mm, DET.sigma_y_mm)):
        lim = ps.value("dr.limiting_resolution.lp_per_mm", info["direction"])
        for gr in info["groups"]:
            ok = gr["f_lp_per_mm"] < fn and float(mtf_axis(gr["f_lp_per_mm"], sig, DET.pitch_mm)) >= 0.15
            assert gr["resolved"] == ok
        assert lim == max(g["f_lp_per_mm"] for g in info["groups"] if g["resolved"])
    assert ps.value("dr.limiting_resolution.lp_per_mm", "horizontal") == 2.2  # Nyquist-limited at 0.2 mm
    # the horizontal gauge's widest bar (0.6 lp/mm, 0.83 mm) is dark at its centre, its gap is open
    h = im.info["gauges"][0]
    (lo, hi), (lo2, _) = h["groups"][0]["bars_mm"][:2]
    r = int(round(h["cross_centre_mm"] / DET.pitch_mm))
    bar = im.noise_free_pv[r, int(round((lo + hi) / 2 / DET.pitch_mm))]
    gap = im.noise_free_pv[r, int(round((hi + lo2) / 2 / DET.pitch_mm))]
    assert bar == pytest.approx(DET.offset_pv + 0.05 * 10 * DET.gain_pv_per_uGy, rel=1e-3)
    assert gap == pytest.approx(DET.offset_pv + 10 * DET.gain_pv_per_uGy, rel=1e-3)


def test_gauge_limit_parameter():
    s = sigma_for_limit(1.2, 0.139)
    assert mtf_axis(1.2, s, 0.139) > 0.15 * 1.2 and mtf_axis(1.4, s, 0.139) < 0.15 / 1.2
    det = detector_preset("2048").with_(sigma_x_mm=sigma_for_limit(1.0, 0.2), sigma_y_mm=sigma_for_limit(1.0, 0.2))
    ps = gauge_phantom(det, 1, layout="separate")
    assert [im.filename for im in ps.images] == ["gauge_h.dcm", "gauge_v.dcm"]
    assert ps.value("dr.limiting_resolution.lp_per_mm", "vertical") == 1.0
    with pytest.raises(ValueError, match="15 %"):
        sigma_for_limit(2.0, 0.139)
    with pytest.raises(ValueError, match="group"):
        sigma_for_limit(1.05, 0.139)
    assert load_gauge("huttner18")["line_pairs_per_group"] == 5


# ---------------------------------------------------------------------------------------------- artefacts
def test_artifacts_count_positions_and_clean_variant():
    ps = artifacts_phantom(DET, 3)
    im = ps.images[0]
    assert ps.value("dr.artifacts.count") == len(ARTIFACT_TYPES) == len(im.info["artifacts"])
    nf = im.noise_free_pv
    for a in im.info["artifacts"]:
        (r0, r1), (c0, c1) = a["rows"], a["cols"]
        assert r0 >= 50 and c0 >= 50 and r1 <= DET.shape[0] - 50 and c1 <= DET.shape[1] - 50
        if a["type"] in ("dead_column", "cluster"):
            assert np.all(nf[r0:r1, c0:c1] == DET.offset_pv)
    clean = artifacts_phantom(DET, 3, artifacts=())
    assert clean.value("dr.artifacts.count") == 0
    col = np.asarray(clean.images[0].noise_free_pv)[:, 1000] - DET.offset_pv
    assert col[-1] / col[0] == pytest.approx(1.05 / 0.95, rel=1e-5)  # the +/- 5 % heel along y
