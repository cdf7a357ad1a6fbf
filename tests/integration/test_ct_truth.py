"""CT truth tests: digital CatPhan / ACR / water series written as DICOM, analysed end to end through the
pipeline (``phantomqc analyze manifest.toml``), every measurement compared with ``truth.json``.

Tolerances (the CT issue's "done means", each justified where it is used):
* ROI means (insert HU, water): 0.5 HU. The series below average >= 5 slices of >= 300 px per insert, so the
  standard error is <= 10 / sqrt(1500) = 0.26 HU; the test asserts the analysis's own standard error is at most
  0.5 / 3 before comparing, so 0.5 HU is >= 3 SE and a formula error of 0.5 HU is caught.
* Noise SD: 3 % (the SD of >= 20000 px scatters by 1 / sqrt(2N) = 0.5 %).
* MTF50 / MTF10: 3 % of the analytic Gaussian values.
* Slice thickness: 0.1 mm for 1 to 10 mm, 10 % below 1 mm.
* Geometry: 0.1 mm. Roll: 0.3 deg.
* Low-contrast CNR: 5 %, on the targets whose CNR the data can measure to that precision (3 SE <= 5 %).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from phantomqc.pipeline import analyze
from reference_phantoms.ct import make_ct_series

# (case id, phantom, generator keywords)
# 8 HU noise (<= 10 HU as the issue asks) so that the insert means, over 11 slices of 311 px, have SE 0.14 HU
_CP = dict(phantom="catphan504", thickness_mm=2.0, z_start_mm=-92.0, z_stop_mm=48.0, noise_sd_hu=8.0)
CASES = {
    "nominal": dict(_CP, seed=1),
    "offset_plus100": dict(_CP, seed=1, hu_offset=100.0),
    "offset_minus100": dict(_CP, seed=1, hu_offset=-100.0),
    "roll+15_shift+30x": dict(_CP, seed=2, roll_deg=15.0, shift_mm=(30.0, 0.0)),
    "roll-15_shift-30y": dict(_CP, seed=3, roll_deg=-15.0, shift_mm=(0.0, -30.0)),
    "tilt2_couch_blank": dict(_CP, seed=4, tilt_deg=(2.0, 0.0), couch=True, blank_slices=(3, 3), roll_deg=4.0),
    "partial_no_528_486": dict(_CP, seed=5, z_start_mm=-40.0, z_stop_mm=12.0),
    "overlap_2.5_at_1.25": dict(phantom="catphan504", thickness_mm=2.5, spacing_z_mm=1.25, z_start_mm=-75.0,
                                z_stop_mm=42.0, seed=6, noise_texture="ct", noise_sd_hu=8.0),
    "thin_0.6": dict(phantom="catphan504", thickness_mm=0.6, spacing_z_mm=1.0, z_start_mm=-20.0, z_stop_mm=42.0,
                     seed=7, noise_sd_hu=8.0),
    "t1_uint16": dict(phantom="catphan504", thickness_mm=1.0, z_start_mm=-20.0, z_stop_mm=42.0, seed=8,
                      dtype="uint16"),
    "t5": dict(phantom="catphan504", thickness_mm=5.0, z_start_mm=-95.0, z_stop_mm=45.0, seed=9, noise_sd_hu=5.0),
    "t10": dict(phantom="catphan504", thickness_mm=10.0, z_start_mm=-90.0, z_stop_mm=40.0, seed=10, noise_sd_hu=5.0),
    "lowcontrast_quiet": dict(phantom="catphan504", thickness_mm=2.0, z_start_mm=-45.0, z_stop_mm=12.0,
                              seed=11, noise_sd_hu=1.0),
    "catphan604": dict(phantom="catphan604", thickness_mm=2.0, seed=12, noise_sd_hu=7.0),
    "catphan600": dict(phantom="catphan600", thickness_mm=2.5, seed=13, roll_deg=-6.0, noise_sd_hu=6.0),
    "acr464": dict(phantom="acr464", thickness_mm=2.5, seed=14),
    "water": dict(phantom="water200", thickness_mm=10.0, seed=15, cupping_hu=6.0),
}


@dataclass
class Case:
    id: str
    folder: Path
    truth: dict
    analysis: dict

    @property
    def expected(self) -> dict:
        return {(e["id"], e["label"]): e["value"] for e in self.truth["expected"]}

    def measured(self) -> dict:
        return {(m["id"], m["label"]): m for m in self.analysis["measurements"]}


_cache: dict[str, Case] = {}


def case(cid: str, tmp_path_factory) -> Case:
    if cid not in _cache:
        out = tmp_path_factory.mktemp(cid.replace("+", "p"))
        man = make_ct_series(out, **CASES[cid])
        doc, _ = analyze([man], profile="ws519-2019", test_type="acceptance")
        assert len(doc["analyses"]) == 1
        a = doc["analyses"][0]
        assert a["error"] is None, a["error"]
        _cache[cid] = Case(cid, out, json.loads((out / "truth.json").read_text(encoding="utf-8")), a)
    return _cache[cid]


def _thickness_tol(nominal_mm: float) -> float:
    return 0.1 if nominal_mm >= 1.0 else 0.1 * nominal_mm


def _check(c: Case, mid: str, tol_abs=None, tol_rel=None, labels=None, need_se: float | None = None):
    exp = c.expected
    got = c.measured()
    keys = [k for k in exp if k[0] == mid and (labels is None or k[1] in labels) and exp[k] is not None]
    assert keys, f"{c.id}: truth has no {mid}"
    bad = []
    for k in keys:
        assert k in got, f"{c.id}: {k} not measured; warnings: {c.analysis['warnings']}"
        m = got[k]
        if need_se is not None and m.get("uncertainty") is not None:
            assert m["uncertainty"] <= need_se, f"{c.id}: {k} SE {m['uncertainty']:.3f} too large for the test"
        tol = tol_abs if tol_abs is not None else tol_rel * abs(exp[k])
        if not abs(m["value"] - exp[k]) <= tol:
            bad.append((k, m["value"], exp[k], tol))
    assert not bad, f"{c.id}: {bad}"


POSE_CASES = ["nominal", "roll+15_shift+30x", "roll-15_shift-30y", "tilt2_couch_blank", "overlap_2.5_at_1.25",
              "catphan604", "catphan600"]


@pytest.mark.parametrize("cid", POSE_CASES + ["partial_no_528_486", "t5"])
def test_insert_hu_and_linearity(cid, tmp_path_factory):
    c = case(cid, tmp_path_factory)
    _check(c, "ct.linearity.mean_hu", tol_abs=0.5, need_se=0.5 / 3)
    _check(c, "ct.linearity.max_abs_error_hu", tol_abs=0.5)


@pytest.mark.parametrize("cid", POSE_CASES + ["partial_no_528_486", "acr464", "catphan600"])
def test_roll(cid, tmp_path_factory):
    _check(case(cid, tmp_path_factory), "ct.phantom.roll_deg", tol_abs=0.3)


@pytest.mark.parametrize("cid", POSE_CASES + ["partial_no_528_486"])
def test_geometry_50mm(cid, tmp_path_factory):
    _check(case(cid, tmp_path_factory), "ct.geometry.length_mm", tol_abs=0.1)


@pytest.mark.parametrize("cid", ["nominal", "roll+15_shift+30x", "tilt2_couch_blank", "overlap_2.5_at_1.25", "thin_0.6",
                                 "t1_uint16", "t5", "t10", "catphan604", "partial_no_528_486"])
def test_slice_thickness(cid, tmp_path_factory):
    c = case(cid, tmp_path_factory)
    t = c.truth["parameters"]["thickness_mm"]
    _check(c, "ct.slice_thickness.mm", tol_abs=_thickness_tol(t))


@pytest.mark.parametrize("cid", ["nominal", "roll-15_shift-30y", "tilt2_couch_blank", "overlap_2.5_at_1.25", "t10",
                                 "catphan604", "water", "acr464"])
def test_water_uniformity_noise(cid, tmp_path_factory):
    c = case(cid, tmp_path_factory)
    _check(c, "ct.water.mean_hu", tol_abs=0.5, need_se=0.5 / 3)
    # a difference of two ROI means: SE = sqrt(2) x the SE of one ROI mean, <= 0.12 HU here, so 0.5 HU >= 4 SE
    _check(c, "ct.uniformity.diff_hu", tol_abs=0.5)
    _check(c, "ct.noise.sd_hu", tol_rel=0.03)
    _check(c, "ct.noise.percent", tol_rel=0.03)


@pytest.mark.parametrize("cid", ["nominal", "roll+15_shift+30x", "tilt2_couch_blank", "overlap_2.5_at_1.25", "t5",
                                 "catphan604"])
def test_mtf50_mtf10(cid, tmp_path_factory):
    c = case(cid, tmp_path_factory)
    _check(c, "ct.mtf.mtf50_lp_per_cm", tol_rel=0.03)
    _check(c, "ct.mtf.mtf10_lp_per_cm", tol_rel=0.03)


def _precise_targets(c: Case) -> list[str]:
    """Targets whose CNR the data measure to 5 % at 3 SE. CNR = |C| / sigma_noise, C against the local annulus,
    sigma_noise the pixel SD of the uniform region inside the target ring: relative SE of CNR ~
    sqrt(sigma^2/N_t + sigma^2/N_b) / C (the means) combined with 1/sqrt(2 N_region) (the SD), N the ROI pixel
    counts. N_region from the analysis parameters when the runner records it, else a conservative 10 000 (CTP515's
    region holds ~21 600 px at 0.49 mm)."""
    p = c.truth["parameters"]
    sp = p["pixel_mm"]
    n_sl = 1  # low contrast is read on the single slice nearest the CTP515 offset (WS 519 reads one image)
    n_region = (c.analysis.get("parameters") or {}).get("low_contrast", {}).get("noise_n_px", 10_000)
    out = []
    for t in p["low_contrast"]["targets"]:
        d = t["diameter_mm"]
        n_t = math.pi * (0.35 * d) ** 2 / sp ** 2 * n_sl
        n_b = math.pi * ((0.5 * d + 5) ** 2 - (0.5 * d + 2) ** 2) / sp ** 2 * n_sl * 0.5  # up to half excluded
        cnr = t["cnr"]  # = C / sigma
        se = math.hypot(math.sqrt(1 / n_t + 1 / n_b) / cnr, 1 / math.sqrt(2 * n_region))
        if 3 * se <= 0.05:
            out.append(t["label"])
    return out


def test_low_contrast_cnr(tmp_path_factory):
    c = case("lowcontrast_quiet", tmp_path_factory)
    labels = _precise_targets(c)
    # one image (as WS 519 reads it) at 3 HU noise: the large 1 % and 0.5 % targets are measurable to 5 %
    assert len(labels) >= 3, labels
    _check(c, "ct.low_contrast.cnr", tol_rel=0.05, labels=labels)


def test_low_contrast_detectability_all_seen_when_quiet(tmp_path_factory):
    c = case("lowcontrast_quiet", tmp_path_factory)
    margins = [t["margin"] for t in c.truth["parameters"]["low_contrast"]["targets"]]
    exp = c.expected[("ct.low_contrast.detectability_mm", None)]
    # no target within 30 % of its threshold, so the true decision is not a coin toss for the noise realisation
    if all(not (0.7 <= m <= 1.3) for m in margins):
        _check(c, "ct.low_contrast.detectability_mm", tol_abs=1e-9)
    else:
        pytest.fail(f"the quiet phantom has ambiguous targets (margins {margins}); choose its noise so none is")
    assert exp is not None


_SHIFT_INVARIANT = ("ct.low_contrast.cnr", "ct.low_contrast.contrast_hu", "ct.low_contrast.detectability_mm",
                    "ct.noise.sd_hu", "ct.mtf.mtf50_lp_per_cm", "ct.mtf.mtf10_lp_per_cm", "ct.slice_thickness.mm",
                    "ct.geometry.length_mm", "ct.phantom.roll_deg", "ct.uniformity.max_abs_diff_hu")


@pytest.mark.parametrize("cid,shift", [("offset_plus100", 100.0), ("offset_minus100", -100.0)])
def test_low_contrast_and_geometry_do_not_move_with_the_hu_scale(cid, shift, tmp_path_factory):
    """The same noise realisation with every CT number shifted by +-100 HU: low contrast (and everything else
    that is not a CT number) is identical; CT numbers move by exactly the shift."""
    base = case("nominal", tmp_path_factory).measured()
    moved = case(cid, tmp_path_factory).measured()
    n_lc = 0
    for k, m in base.items():
        assert k in moved, k
        if k[0] in _SHIFT_INVARIANT:
            n_lc += k[0].startswith("ct.low_contrast")
            # float32 pixels carry ~7 significant digits: +-100 HU on values near 1000 HU moves the rounding by
            # ~1e-4 HU per pixel, which reaches the results at the 1e-5 relative level (the edge MTF, which
            # differentiates a 1000 HU step, at ~1e-5..1e-4); a formula that used absolute CT numbers would move
            # by whole HU or whole percent
            assert moved[k]["value"] == pytest.approx(m["value"], rel=1e-4, abs=1e-4), (k, m["value"],
                                                                                        moved[k]["value"])
        elif k[0] in ("ct.linearity.mean_hu", "ct.water.mean_hu"):
            assert moved[k]["value"] - m["value"] == pytest.approx(shift, abs=1e-3), k
    assert n_lc >= 50  # CNR and contrast of the 27 CTP515 targets, and the WS 519 figure


def test_partial_scan_reports_missing_modules(tmp_path_factory):
    c = case("partial_no_528_486", tmp_path_factory)
    statuses = {(v["measurement"], v["label"]): v for v in c.analysis["verdicts"]}
    for mid in ("ct.water.mean_hu", "ct.noise.percent", "ct.line_pairs.limiting_lp_per_cm"):
        vs = [v for (m, _), v in statuses.items() if m == mid]
        assert vs and all(v["status"] == "not_evaluated" for v in vs), (mid, vs)
        assert all("CTP" in (v["reason"] or "") for v in vs), vs
    got = c.measured()
    assert ("ct.linearity.max_abs_error_hu", None) in got and ("ct.slice_thickness.mm", None) in got


def test_acr464_modules(tmp_path_factory):
    c = case("acr464", tmp_path_factory)
    _check(c, "ct.linearity.mean_hu", tol_abs=0.5)
    _check(c, "ct.geometry.length_mm", tol_abs=0.1)
    # module 1's ramps, corrected with the LSF width of the edge MTF measured on module 3's outline
    _check(c, "ct.slice_thickness.mm", tol_abs=0.1)
    from reference_phantoms.ct import mtf_points_lp_per_cm

    mtf50, mtf10 = mtf_points_lp_per_cm(c.truth["parameters"]["psf_sigma_mm"])  # analytic Gaussian MTF
    got = c.measured()
    assert got[("ct.mtf.mtf50_lp_per_cm", "esf")]["value"] == pytest.approx(mtf50, rel=0.03)
    assert got[("ct.mtf.mtf10_lp_per_cm", "esf")]["value"] == pytest.approx(mtf10, rel=0.03)
    got = c.measured()
    assert ("ct.low_contrast.cnr", "0.6%_25mm") in got


def test_water_phantom_with_cupping(tmp_path_factory):
    c = case("water", tmp_path_factory)
    exp = c.expected[("ct.uniformity.max_abs_diff_hu", None)]
    assert exp > 2.0  # the known cupping gives a real, non-zero uniformity truth
    _check(c, "ct.uniformity.max_abs_diff_hu", tol_abs=0.5)
