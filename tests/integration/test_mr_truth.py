"""The ACR and MagNET twins (reference_phantoms.mr) analysed end to end, against their truth.

Tolerances are the MR issue's: lengths 0.5 mm, slice thickness 0.15 mm, slice position 0.3 mm, PIU 1 percentage
point, ghost ratio 0.002, SNR 5 %. The twins are acquired like a scanner (k-space truncation, Rician noise), so
these are end-to-end errors, not formula round-off. Variants: 256^2 and 512^2, rotated, shifted, with a slice
offset. The smoothing SNR is checked on the MagNET flood pair, not on ACR slice 7: the twin's N/2 ghost puts a
2 % edge inside the phantom on slice 7, structure that the smoothing method counts as noise by design.
"""

import json

import pytest

from phantomqc.mr.acr import analyze_acr
from reference_phantoms.mr import acr_volume

VARIANTS = {
    "256": dict(matrix=256, seed=0),
    "256_rot_shift_offset": dict(matrix=256, rotation_deg=2.5, shift_mm=(7.0, -5.0), slice_offset_mm=1.5, seed=1),
    "512_rot_offset": dict(matrix=512, rotation_deg=-1.5, slice_offset_mm=-2.0, seed=2),
}
TOL = {"mr.geometry.length_mm": 0.5, "mr.slice_thickness.mm": 0.15, "mr.slice_position.bar_difference_mm": 0.3,
       "mr.uniformity.piu_percent": 1.0, "mr.ghosting.ratio": 0.002, "mr.resolution.hole_mm": 1e-9}


@pytest.fixture(scope="module", params=list(VARIANTS))
def analysed(request):
    twin = acr_volume(repeat=True, **VARIANTS[request.param])
    out = analyze_acr(list(twin.images), twin.spacing_mm, phase_encoding="COL", repeat=list(twin.images_repeat))
    got = {(m.id, m.label): m.value for m in out["measurements"]}
    exp = {(e["id"], e.get("label")): e["value"] for e in twin.expected}
    return request.param, got, exp, out


def test_acr_twin_recovers_truth(analysed):
    name, got, exp, _ = analysed
    checked = 0
    for (mid, label), tol in ((k, TOL[k[0]]) for k in exp if k[0] in TOL):
        assert got[(mid, label)] == pytest.approx(exp[(mid, label)], abs=tol), (name, mid, label)
        checked += 1
    assert checked == 12  # 6 lengths, thickness, 2 positions, holes, PIU, ghost ratio


def test_acr_twin_subtraction_snr(analysed):
    name, got, exp, _ = analysed
    # 5 %: the ROI means of 5 x (20 mm)^2 ROIs over ~2000 pixels give an SD of the SNR estimate of ~1.6 %
    assert got[("mr.snr.subtraction", None)] == pytest.approx(exp[("mr.snr.subtraction", None)], rel=0.05)


def test_ghost_percent_is_100_times_ratio(analysed):
    _, got, _, _ = analysed
    assert got[("mr.ghosting.percent", None)] == pytest.approx(100 * got[("mr.ghosting.ratio", None)], rel=1e-12)


def test_slice_offset_moves_the_bars_both_ends():
    a = acr_volume(slice_offset_mm=0.0, seed=3)
    b = acr_volume(slice_offset_mm=2.0, seed=3)
    ra = analyze_acr(list(a.images), a.spacing_mm, phase_encoding="COL")
    rb = analyze_acr(list(b.images), b.spacing_mm, phase_encoding="COL")
    da = {m.label: m.value for m in ra["measurements"] if m.id == "mr.slice_position.bar_difference_mm"}
    db = {m.label: m.value for m in rb["measurements"] if m.id == "mr.slice_position.bar_difference_mm"}
    for lab in ("slice1", "slice11"):
        assert db[lab] - da[lab] == pytest.approx(4.0, abs=0.3)  # 45 deg wedges: bar difference = 2 x offset


def test_failing_twin_fails_the_acr_profile(tmp_path):
    from phantomqc.pipeline import analyze
    from reference_phantoms.mr import make_acr_series

    manifest = make_acr_series(tmp_path, quality="fail", seed=4)
    doc, _ = analyze([manifest], profile="acr-mri", test_type="acceptance", progress=False)
    failed = {v["measurement"] for a in doc["analyses"] for v in a["verdicts"] if v["status"] == "fail"}
    # quality="fail": shading 0.3 (PIU), ghost 0.05 and 6.5 mm slices break those three ACR limits
    assert {"mr.uniformity.piu_percent", "mr.slice_thickness.mm"} <= failed


@pytest.mark.parametrize("maker", ["snr", "flood"])
def test_magnet_twins_recover_snr_and_uniformity(tmp_path, maker):
    from phantomqc.pipeline import analyze
    from reference_phantoms.mr import make_magnet_flood, make_magnet_snr_pair

    manifest = (make_magnet_snr_pair if maker == "snr" else make_magnet_flood)(tmp_path, seed=5)
    doc, _ = analyze([manifest], progress=False)
    truth = json.loads((tmp_path / "truth.json").read_text(encoding="utf-8"))
    exp = {(e["id"], e.get("label")): e["value"] for e in truth["expected"]}
    (a,) = doc["analyses"]
    assert a["error"] is None
    got = {(m["id"], m["label"]): m["value"] for m in a["measurements"]}
    n = 0
    for key, v in exp.items():
        if key in got and key[0].startswith("mr.snr."):
            assert got[key] == pytest.approx(v, rel=0.05), key  # 5 % (issue 4)
            n += 1
        elif key in got and key[0] == "mr.uniformity.wst263_percent":
            assert got[key] == pytest.approx(v, abs=1.0), key
            n += 1
    assert n >= (2 if maker == "snr" else 3)
    if maker == "snr":
        # normalised SNR (MagNET, as quoted by hazen): SNR / V_ml / sqrt(N_avg N_pe TR_s) * sqrt(BW_px N_fe / 2 /
        # 1000 / 30), with the acquisition parameters read here from the header of the first image
        import math

        import pydicom

        ds = pydicom.dcmread(sorted(tmp_path.rglob("*.dcm"))[0])
        dy, dx = (float(v) for v in ds.PixelSpacing)
        v_ml = dy * dx * float(ds.SliceThickness) / 1000.0
        t_s = float(ds.NumberOfAverages) * int(ds.Rows) * float(ds.RepetitionTime) / 1000.0
        bw = math.sqrt(float(ds.PixelBandwidth) * int(ds.Columns) / 2.0 / 1000.0 / 30.0)
        for method in ("subtraction", "smoothing"):
            want = exp[(f"mr.snr.{method}", None)] / v_ml / math.sqrt(t_s) * bw
            assert got[("mr.snr.normalised", method)] == pytest.approx(want, rel=0.05), method


def test_snr_pair_with_offset_stored_values(tmp_path):
    """A pair stored as Philips stores real images: every stored value shifted up by 2048 and (0028,1052) Rescale
    Intercept -2048 taking it back. The reported SNR must be that of the rescaled image (the same as the unshifted
    pair, to rounding), and ``parameters.stored_value_snr`` the SNR a tool reading stored values gets: the signal
    then includes the shift, so (S0 + 2048) / sigma = 150 * 3.048 = 457 (within 5 %, issue 4's SNR tolerance)."""
    import pydicom

    from phantomqc.pipeline import analyze
    from reference_phantoms.mr import S0, make_magnet_snr_pair

    manifest = make_magnet_snr_pair(tmp_path, seed=5, snr=150.0)
    plain, _ = analyze([manifest], progress=False)
    shift = 2048
    for path in sorted(tmp_path.rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        assert float(ds.get("RescaleIntercept", 0)) == 0.0 and float(ds.get("RescaleSlope", 1)) == 1.0
        ds.PixelData = (ds.pixel_array.astype("uint16") + shift).tobytes()
        ds.RescaleIntercept, ds.RescaleSlope = str(-shift), "1"
        ds.save_as(path)
    shifted, _ = analyze([manifest], progress=False)
    (a0,), (a1,) = plain["analyses"], shifted["analyses"]
    assert a1["error"] is None
    before = {(m["id"], m["label"]): m["value"] for m in a0["measurements"]}
    after = {(m["id"], m["label"]): m["value"] for m in a1["measurements"]}
    for key in (("mr.snr.subtraction", None), ("mr.snr.smoothing", None), ("mr.snr.normalised", "smoothing")):
        assert after[key] == pytest.approx(before[key], rel=1e-6), key  # the same rescaled pixels
    assert "stored_value_snr" not in a0["parameters"]
    stored = a1["parameters"]["stored_value_snr"]
    assert stored["stored_zero"] == pytest.approx(shift)
    for method in ("subtraction", "smoothing"):
        assert stored[method] == pytest.approx(150.0 * (S0 + shift) / S0, rel=0.05), method
        ratio = stored[f"normalised_{method}"] / after[("mr.snr.normalised", method)]
        assert ratio == pytest.approx(stored[method] / after[(f"mr.snr.{method}", None)], rel=1e-9)
    assert any("Rescale Intercept -2048" in w for w in a1["warnings"])
    assert not any("repeat a slice position" in w for w in a0["warnings"] + a1["warnings"])


@pytest.mark.parametrize(("kwargs"), [{}, {"slice_width_mm": 3.0, "tilt_deg": 2.0, "seed": 3},
                                      {"slice_width_mm": 7.0, "tilt_deg": -1.5, "seed": 1}])
def test_magnet_slice_width_twin(tmp_path, kwargs):
    """The MagNET geometry object written as DICOM, analysed with its manifest: slice width within 0.15 mm (issue 4).
    A wrong ramp tangent (e.g. 0.25 instead of 0.2) would give T 25 % off; a crossed-ramp formula without the tilt
    would be off by T (1 - cos) terms of 0.1-0.2 mm at 2 deg on 3 mm."""
    from phantomqc.pipeline import analyze
    from reference_phantoms.mr import make_magnet_slice_width

    doc, _ = analyze([make_magnet_slice_width(tmp_path, **kwargs)], progress=False)
    (a,) = doc["analyses"]
    assert a["error"] is None and a["kind"] == "mr.slice_width"
    truth = json.loads((tmp_path / "truth.json").read_text(encoding="utf-8"))
    (e,) = truth["expected"]
    (m,) = [m for m in a["measurements"] if m["id"] == "mr.slice_width.mm"]
    assert m["value"] == pytest.approx(e["value"], abs=0.15)


@pytest.mark.parametrize(("kwargs"), [{}, {"phase_encoding": "COL", "ghost_fraction": 0.005, "seed": 2},
                                      {"ghost_fraction": 0.0, "seed": 1}, {"ghost_fraction": 0.05, "seed": 4}])
def test_magnet_ghosting_twin(tmp_path, kwargs):
    """MagNET small-bottle ghosting on a Rician magnitude twin: within 0.05 percentage point of 100 |E[ghost] -
    E[air]| / E[signal] (the ROI means' standard errors are about 0.02 pp). Reading the ghost along the frequency
    direction instead (phase and frequency swapped) gives 0.36 instead of 1.44 at k = 2 %; leaving out the
    noise floor's subtraction would give 2.06."""
    from phantomqc.pipeline import analyze
    from reference_phantoms.mr import make_magnet_ghosting

    doc, _ = analyze([make_magnet_ghosting(tmp_path, **kwargs)], progress=False)
    (a,) = doc["analyses"]
    assert a["error"] is None and a["kind"] == "mr.ghosting"
    truth = json.loads((tmp_path / "truth.json").read_text(encoding="utf-8"))
    (e,) = truth["expected"]
    (m,) = [m for m in a["measurements"] if m["id"] == "mr.ghosting.small_bottle_percent"]
    assert m["value"] == pytest.approx(e["value"], abs=0.05)
