"""Figures of the MagNET MR tests and of the ACR slice-7 SNR (issue 4, section "4. Report").

Each test writes a reference phantom as DICOM with its manifest, runs ``phantomqc.pipeline.analyze`` on it and
writes the report (``phantomqc.report.write.write_report``, what ``phantomqc analyze --report`` does), then checks
that the PNGs exist and are real pictures, and that the figure specs put each ROI where the analyzer measured it.
The ghosting and slice-width objects have no maker in ``reference_phantoms`` yet: they are drawn here with the same
recipes as ``test_ghosting.py`` and ``test_slice_thickness.py`` and written with ``reference_phantoms``' writer.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from phantomqc.core.visuals import CircleOverlay, ImagePanel, LineOverlay, Plot, PointOverlay, RangeBand, RectOverlay
from phantomqc.io.write import new_uid
from phantomqc.mr.magnet_visuals import NOISE_WINDOW_SD, visuals_or_warning
from phantomqc.pipeline import analyze
from phantomqc.report.figures import render_visual
from phantomqc.report.write import write_report
from reference_phantoms._writing import write_mr
from reference_phantoms.mr import magnet_slice_width_image, make_acr_series, make_magnet_flood, make_magnet_snr_pair

S0 = 1000.0


# ---------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------

def _report(manifest: Path, out: Path):
    """analyze + write_report; returns (document with figures, results)."""
    doc, results = analyze([manifest])
    assert results[0].error is None, results[0].error
    doc2, html = write_report(doc, results, out)
    assert html.is_file()
    return doc2, results


def _assert_pngs(doc: dict, out: Path, n: int) -> None:
    """``n`` figures listed, each a real picture: a PNG of the report's size whose pixels vary (not blank)."""
    figs = doc["analyses"][0]["figures"]
    assert len(figs) == n, figs
    for rel in figs:
        p = out / rel
        assert p.is_file() and p.stat().st_size > 10_000, p  # a 704 x 528 figure with an image or curves
        a = np.asarray(Image.open(p).convert("L"), dtype=float)
        assert a.shape == (528, 704)
        assert a.std() > 20.0, p  # a blank or single-colour figure has a std of a few grey levels at most


def _rect_key(ov: RectOverlay) -> tuple:
    return (ov.row0, ov.col0, ov.nrows, ov.ncols)


def _roi_key(roi) -> tuple:
    return (float(roi.row0), float(roi.col0), float(roi.nrows), float(roi.ncols))


def _rects(panel: ImagePanel, color: str | None = None) -> list[RectOverlay]:
    return [o for o in panel.overlays if isinstance(o, RectOverlay) and (color is None or o.color == color)]


def _write_single(folder: Path, img: np.ndarray, spacing: float, kind: str, extra: str = "") -> Path:
    """One axial MR image (uint16) and a manifest of one ``kind`` test; returns the manifest."""
    write_mr(folder / "series" / "MR0001.dcm", np.clip(np.rint(img), 0, 65535).astype(np.uint16),
             spacing_mm=(spacing, spacing), position_mm=(0.0, 0.0, 0.0), series_uid=new_uid(), study_uid=new_uid(),
             frame_of_reference_uid=new_uid())
    m = folder / "manifest.toml"
    m.write_text(f'schema = "phantomqc.manifest/1"\n\n[[test]]\nkind = "{kind}"\nimages = ["series"]\n{extra}')
    return m


# ---------------------------------------------------------------------------------------------------------------
# SNR pair
# ---------------------------------------------------------------------------------------------------------------

def test_snr_pair_figures(tmp_path):
    man = make_magnet_snr_pair(tmp_path / "pair", seed=3)
    truth = json.loads((tmp_path / "pair" / "truth.json").read_text())["parameters"]
    doc, results = _report(man, tmp_path / "rep")
    _assert_pngs(doc, tmp_path / "rep", 2)
    r = results[0]
    sub, smo, circle = r.details["subtraction"], r.details["smoothing"], r.details["circle"]
    image, noise = r.visuals
    # the five ROIs drawn are the ROIs measured, each labelled "subtraction SNR | smoothing SNR"
    rects = _rects(image)
    assert [_rect_key(o) for o in rects] == [_roi_key(q) for q in sub.signal_rois]
    for o, a, b in zip(rects, sub.roi_snr, smo.roi_snr):
        assert o.label == f"{a:.3g} | {b:.3g}"
    # the noise map is I1 - I2: its SD in each ROI / sqrt 2, averaged, is the analyzer's sigma (same pixels, same
    # ddof: exact to rounding)
    sd = [float(noise.image[q.slices].std(ddof=1)) / math.sqrt(2) for q in sub.noise_rois]
    assert np.mean(sd) == pytest.approx(sub.noise_sd.value, rel=1e-9)
    # ... and the twin's sigma: 2000 pixels, SE of an SD 1/sqrt(2 * 2000) = 1.6 %; 5 % is 3 SE
    assert np.mean(sd) == pytest.approx(truth["noise_sigma"], rel=0.05)
    lo, hi = noise.window
    assert lo == -hi == pytest.approx(-NOISE_WINDOW_SD * math.sqrt(2) * sub.noise_sd.value)
    # every noise ROI lies inside the phantom (corners within the found radius) and the outline is the one found
    for o in _rects(noise, "tab:green"):
        for rr in (o.row0, o.row0 + o.nrows - 1):
            for cc in (o.col0, o.col0 + o.ncols - 1):
                d = math.hypot((rr - circle.center_px[0]) * noise.spacing_mm[0],
                               (cc - circle.center_px[1]) * noise.spacing_mm[1])
                assert d < circle.radius_mm
    (ring,) = [o for o in noise.overlays if isinstance(o, CircleOverlay)]
    assert (ring.row, ring.col) == pytest.approx(circle.center_px)
    assert noise.cmap != "gray"


# ---------------------------------------------------------------------------------------------------------------
# flood
# ---------------------------------------------------------------------------------------------------------------

def test_flood_figures(tmp_path):
    from phantomqc.mr.uniformity import wst263_uniformity

    man = make_magnet_flood(tmp_path / "flood", seed=5, shading=0.1)
    doc, results = _report(man, tmp_path / "rep")
    _assert_pngs(doc, tmp_path / "rep", 5)
    r = results[0]
    d = r.details
    wst_panel, ms3_panel, ipem_panel, profiles, snr_panel = r.visuals
    sp = wst_panel.spacing_mm
    # nine circles at the WS/T 263 ROIs, labelled with their means; the largest red, the smallest blue
    ref = wst263_uniformity(wst_panel.image, sp, center_px=d["circle"].center_px, radius_mm=d["circle"].radius_mm)
    circles = [o for o in wst_panel.overlays if isinstance(o, CircleOverlay)]
    assert len(circles) == 9
    for o, roi in zip(circles, ref.rois):
        assert (o.row, o.col, o.radius) == pytest.approx((roi.row, roi.col, roi.radius_mm / sp[0]))
        assert o.label == f"{ref.roi_means[roi.name]:.4g}"
    assert circles[int(np.argmax([ref.roi_means[q.name] for q in ref.rois]))].color == "tab:red"
    assert circles[int(np.argmin([ref.roi_means[q.name] for q in ref.rois]))].color == "tab:blue"
    # NEMA MS 3: the markers on the filtered extremes
    n3 = d["nema_ms3"]
    pts = [o for o in ms3_panel.overlays if isinstance(o, PointOverlay)]
    assert [(p.row, p.col) for p in pts] == [n3.max_px, n3.min_px]
    # IPEM: the bands and the central ROI drawn, the profiles plotted against mm from the centre with the band
    f = d["fractional"]
    assert [_rect_key(o) for o in _rects(ipem_panel)] == [_roi_key(q) for q in
                                                          (f.horizontal_band, f.vertical_band, f.central_roi)]
    h, v = profiles.curves
    np.testing.assert_array_equal(h.y, f.horizontal_profile)
    np.testing.assert_array_equal(v.y, f.vertical_profile)
    # a centred 156 mm profile: about -78 .. +78 mm (one pixel either way for the band's rounding)
    assert h.x[0] == pytest.approx(-78.1, abs=1.0) and h.x[-1] == pytest.approx(78.1, abs=1.0)
    (band,) = profiles.bands
    assert isinstance(band, RangeBand)
    assert band.low[0] == pytest.approx(0.9 * f.reference) and band.high[0] == pytest.approx(1.1 * f.reference)
    # single-image SNR: the signal disc and the four corner ROIs; the window shows the background's noise
    si = d["single_image"]
    assert {_rect_key(o) for o in _rects(snr_panel, "tab:green")} == {_roi_key(q) for q in si.noise_rois}
    bg_hi = max(float(np.percentile(snr_panel.image[q.slices], 99)) for q in si.noise_rois)
    assert snr_panel.window[0] < bg_hi < snr_panel.window[1] < si.signal.value


# ---------------------------------------------------------------------------------------------------------------
# small-bottle ghosting
# ---------------------------------------------------------------------------------------------------------------

def _bottle_image(n: int, spacing: float, k: float, rng) -> np.ndarray:
    """A 60 mm bottle of S0 in the upper-left; a ghost of k S0 along the rows beyond 10 mm of it; magnitude noise
    of sigma 5 (the recipe of test_ghosting.py, phase encoding ROW)."""
    yy, xx = np.mgrid[0:n, 0:n]
    y, x = (yy - 0.2 * (n - 1)) * spacing, (xx - 0.2 * (n - 1)) * spacing
    truth = S0 * (np.hypot(y, x) <= 30.0) + k * S0 * ((np.abs(y) <= 31.0) & (np.abs(x) > 40.0))
    return np.hypot(truth + rng.normal(0, 5.0, truth.shape), rng.normal(0, 5.0, truth.shape))


def test_ghosting_figure(tmp_path):
    sp = 0.71
    man = _write_single(tmp_path / "ghost", _bottle_image(352, sp, 0.02, np.random.default_rng(2)), sp,
                        "mr.ghosting", 'phase_encoding = "ROW"\n')
    doc, results = _report(man, tmp_path / "rep")
    _assert_pngs(doc, tmp_path / "rep", 1)
    res = results[0].details
    (panel,) = results[0].visuals
    by_colour = {c: _rects(panel, c) for c in ("tab:red", "tab:orange", "tab:green")}
    assert [_rect_key(o) for o in by_colour["tab:red"]] == [_roi_key(res.signal_roi)]
    (ghost,) = by_colour["tab:orange"]
    assert _rect_key(ghost) == _roi_key(res.ghost_roi)
    # the ghost ROI's centre is the measured band's centre, and that band lies on the bottle's rows (truth: the
    # bottle is centred at row 0.2 (n - 1) = 70.2, 60 mm = 84.5 px tall)
    centre_row = ghost.row0 + (ghost.nrows - 1) / 2
    assert centre_row == pytest.approx(res.ghost_roi.center_px[0])
    assert centre_row == pytest.approx(0.2 * 351, abs=1.0)  # bbox of a disc: symmetric to a pixel
    assert [_rect_key(o) for o in by_colour["tab:green"]] == [_roi_key(q) for q in res.noise_rois]
    assert ghost.label == f"ghost G {res.ghost:.3g}"
    # a background window: the ghost level (20 above the noise floor) is inside it and the bottle saturates
    lo, hi = panel.window
    assert lo < res.noise < res.ghost < hi < res.signal


def test_figure_failure_is_a_warning_not_a_lost_measurement(tmp_path, monkeypatch):
    """A figure builder that raises leaves the measurements and adds 'figure not drawn: <cause>'."""
    from phantomqc.mr import magnet

    def broken(*args, **kwargs):
        raise ValueError("no room for the label")

    from phantomqc.mr.ghosting import small_bottle_ghosting

    monkeypatch.setattr(magnet, "ghosting_visuals", broken)
    sp = 0.71
    img = _bottle_image(352, sp, 0.02, np.random.default_rng(4))
    man = _write_single(tmp_path / "ghost", img, sp, "mr.ghosting", 'phase_encoding = "ROW"\n')
    _, results = analyze([man])
    r = results[0]
    assert r.error is None and r.visuals == ()
    (m,) = [m for m in r.measurements if m.id == "mr.ghosting.small_bottle_percent"]
    # the measurement is intact: the analyzer's value on the stored (rounded) pixels
    direct = small_bottle_ghosting(np.rint(img), (sp, sp), phase_encoding_direction="ROW")
    assert m.value == pytest.approx(direct.percent.value, rel=1e-6)
    assert "figure not drawn: ValueError: no room for the label" in r.warnings
    assert visuals_or_warning(lambda: (1, 2)) == ((1, 2), ())


# ---------------------------------------------------------------------------------------------------------------
# MagNET slice width
# ---------------------------------------------------------------------------------------------------------------

def _slice_width_image(a_mm: float, b_mm: float) -> np.ndarray:
    """The MagNET slice-width object of test_slice_thickness.py (1 mm pixels), from reference_phantoms."""
    return magnet_slice_width_image(a_mm, b_mm)


def test_slice_width_figures(tmp_path):
    a = b = 5.0 / math.tan(math.radians(11.3))  # a 5 mm slice: FWHM 25.0 mm on both ramps
    man = _write_single(tmp_path / "sw", _slice_width_image(a, b), 1.0, "mr.slice_width")
    doc, results = _report(man, tmp_path / "rep")
    _assert_pngs(doc, tmp_path / "rep", 3)
    res = results[0].details
    panel, top_plot, bottom_plot = results[0].visuals
    c = (255 / 2 + 0.4, 255 / 2 - 0.3)
    # the nine rods are marked where they were found, and where they are (60 mm grid; 0.3 px for the sub-pixel
    # centroid of a 3 mm rod blurred by 0.6 px)
    pts = [o for o in panel.overlays if isinstance(o, PointOverlay)]
    np.testing.assert_allclose([(p.row, p.col) for p in pts], np.asarray(res.rods_px).reshape(-1, 2))
    grid = [(c[0] + gy, c[1] + gx) for gy in (-60, 0, 60) for gx in (-60, 0, 60)]
    np.testing.assert_allclose([(p.row, p.col) for p in pts], grid, atol=0.3)
    for fit, y_true, x_true in zip(res.ramps, (-30.0, 30.0), (-1.0, 1.5)):
        (centre,) = [o for o in panel.overlays if isinstance(o, LineOverlay) and o.label == fit.name]
        assert (centre.rows[0], centre.cols[0]) == pytest.approx(fit.band_end_px[0])
        assert (centre.rows[-1], centre.cols[-1]) == pytest.approx(fit.band_end_px[1])
        # the band runs through the ramp: half-way between the rod rows, y = -+30 mm (the rods' 0.3 px)
        assert np.mean(centre.rows) == pytest.approx(c[0] + y_true, abs=0.3)
        # the red segment is the FWHM, centred on the dip: its length is the fitted FWHM and its centre the
        # ramp's (0.5 mm: the fit's centre on a noisy profile, and the rods' 0.3 px)
        (seg,) = [o for o in panel.overlays if isinstance(o, LineOverlay) and o.color == "tab:red"
                  and abs(np.mean(o.rows) - np.mean(centre.rows)) < 5]
        assert math.hypot(seg.rows[1] - seg.rows[0], seg.cols[1] - seg.cols[0]) == pytest.approx(fit.fwhm_mm.value)
        assert np.mean(seg.cols) == pytest.approx(c[1] + x_true, abs=0.5)
    for plot, fit in ((top_plot, res.ramps[0]), (bottom_plot, res.ramps[1])):
        assert isinstance(plot, Plot)
        prof, base, model, fwhm = plot.curves
        np.testing.assert_array_equal(prof.y, fit.values)
        np.testing.assert_array_equal(model.y, fit.model)
        np.testing.assert_array_equal(base.y, fit.baseline)
        xs = fwhm.x[np.isfinite(fwhm.x)]
        half = fit.fwhm_mm.value / 2
        assert sorted(set(xs)) == pytest.approx([fit.center_mm - half, fit.center_mm + half])
        assert fit.fwhm_mm.value == pytest.approx(a, abs=0.4)  # test_slice_thickness's tolerance for the FWHM


# ---------------------------------------------------------------------------------------------------------------
# ACR slice 7 SNR
# ---------------------------------------------------------------------------------------------------------------

def test_acr_snr_figures(tmp_path):
    from phantomqc.mr.acr import _snr_visuals

    man = make_acr_series(tmp_path / "acr", seed=1, repeat=True)
    truth = json.loads((tmp_path / "acr" / "truth.json").read_text())["parameters"]
    _, results = analyze([man])
    r = results[0]
    res = r.details
    smo, sub = res["snr"], res["snr_subtraction"]
    titles = [v.title for v in r.visuals]
    i = next(k for k, t in enumerate(titles) if t.startswith("ACR slice 7 SNR"))
    roi_panel, noise = r.visuals[i], r.visuals[i + 1]
    # rendering only these two keeps the test fast; the others are the ACR figures of before
    for k, spec in enumerate((roi_panel, noise)):
        p = render_visual(spec, tmp_path / f"snr{k}.png")
        assert p.stat().st_size > 10_000 and np.asarray(Image.open(p).convert("L"), dtype=float).std() > 20.0
    rects = _rects(roi_panel)
    assert [_rect_key(o) for o in rects] == [_roi_key(q) for q in smo.signal_rois]
    assert [o.label for o in rects] == [f"{a:.3g} | {b:.3g}" for a, b in zip(smo.roi_snr, sub.roi_snr)]
    # with the repeat series the noise map is the difference: per-ROI SD / sqrt 2 averages to the analyzer's sigma
    assert "I1 − I2" in noise.title
    sd = [float(noise.image[q.slices].std(ddof=1)) / math.sqrt(2) for q in sub.noise_rois]
    assert np.mean(sd) == pytest.approx(sub.noise_sd.value, rel=1e-9)
    assert np.mean(sd) == pytest.approx(truth["noise_sigma"], rel=0.05)  # 2000 px: SE 1.6 %, 3 SE
    # the noise ROIs lie inside the phantom (ACR inner radius 95 mm, centre from the twin's truth)
    cy, cx = truth["center_px"]  # (row, col)
    for o in _rects(noise, "tab:green"):
        far = max(math.hypot(rr - cy, cc - cx) for rr in (o.row0, o.row0 + o.nrows - 1)
                  for cc in (o.col0, o.col0 + o.ncols - 1)) * noise.spacing_mm[0]
        assert far < 95.0
    # without the repeat series: the smoothing residual I - box_k(I), whose per-ROI SD is the smoothing sigma
    _, resid = _snr_visuals({"snr": smo}, roi_panel.image, None, roi_panel.spacing_mm)
    sd = [float(resid.image[q.slices].std(ddof=1)) for q in smo.noise_rois]
    assert np.mean(sd) == pytest.approx(smo.noise_sd.value, rel=1e-9)
    assert resid.window == pytest.approx((-NOISE_WINDOW_SD * smo.noise_sd.value, NOISE_WINDOW_SD * smo.noise_sd.value))
