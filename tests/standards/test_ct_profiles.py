"""Verdicts of the CT profiles (ws519-2019, taiyuan-2024, acr-ct) on passing and failing measurement sets.

The measurements are built directly (no images): this tests the profiles and the evaluator, not the analyzers.
Values sit just inside or just outside each limit, so a wrong comparator (< for <=), a wrong limit or a missing
tier would change a verdict.
"""

import pytest

from phantomqc.core.types import Measurement
from phantomqc.ct._series import thickness_tier
from phantomqc.standards.evaluate import References, evaluate
from phantomqc.standards.profiles import load_profile

_UNITS = {"hu": "HU", "percent": "%", "mm": "mm", "lp_per_cm": "lp/cm", "mgy": "mGy", "cnr": "1"}


def _m(metric: str, value: float, label: str | None = None) -> Measurement:
    unit = next((u for suffix, u in _UNITS.items() if metric.endswith(suffix)), "1")
    return Measurement(metric, value, unit, label=label)


def _verdicts(ms, profile, test_type, baseline=None, spec=None):
    vs = evaluate(ms, load_profile(profile), test_type, references=References(baseline or {}, spec or {}))
    out: dict[tuple, list] = {}
    for v in vs:
        out.setdefault((v.measurement, v.label), []).append(v)
    return out


def _status(vs, metric, label=None) -> str:
    (v,) = vs[(metric, label)]
    return v.status if v.has_criterion else "no_limit"


# (metric, label): (value that passes, value that fails) for ws519-2019, per test type.
# Boundary values test the comparator: WS 519 "< 0.35 %" fails at 0.35, "±4 HU" passes at 4.0.
WS519_ACCEPTANCE = {
    ("ct.water.mean_hu", None): (-4.0, 4.1),
    ("ct.uniformity.max_abs_diff_hu", None): (5.0, 5.2),
    ("ct.noise.percent", None): (0.349, 0.35),
    ("ct.line_pairs.limiting_lp_per_cm", "conventional"): (7.0, 6.0),
    ("ct.line_pairs.limiting_lp_per_cm", "high_resolution"): (12.0, 11.0),
    ("ct.low_contrast.detectability_mm", None): (2.4, 2.5),
    ("ct.linearity.max_abs_error_hu", None): (50.0, 50.5),
    ("ct.couch.position_error_mm", None): (-2.0, 2.2),
}
WS519_STATUS = {
    ("ct.water.mean_hu", None): (5.9, -6.2),
    ("ct.uniformity.max_abs_diff_hu", None): (6.0, 6.1),
    ("ct.noise.percent", None): (0.44, 0.45),
    ("ct.line_pairs.limiting_lp_per_cm", "conventional"): (6.0, 5.0),
    ("ct.line_pairs.limiting_lp_per_cm", "high_resolution"): (11.0, 10.0),
    ("ct.low_contrast.detectability_mm", None): (2.9, 3.0),
    ("ct.couch.position_error_mm", None): (1.5, -2.5),
}


@pytest.mark.parametrize("test_type,table", [("acceptance", WS519_ACCEPTANCE), ("status", WS519_STATUS)])
def test_ws519_pass_and_fail_sets(test_type, table):
    good = [_m(metric, ok, label) for (metric, label), (ok, _) in table.items()]
    bad = [_m(metric, ko, label) for (metric, label), (_, ko) in table.items()]
    vg, vb = _verdicts(good, "ws519-2019", test_type), _verdicts(bad, "ws519-2019", test_type)
    for key in table:
        assert _status(vg, *key) == "pass", key
        assert _status(vb, *key) == "fail", key


def test_ws519_status_is_looser_than_acceptance():
    # 5 HU water, 0.40 % noise, 2.8 mm low contrast: fail acceptance, pass status (STANDARDS.md key correction 2)
    ms = [_m("ct.water.mean_hu", 5.0), _m("ct.noise.percent", 0.40), _m("ct.low_contrast.detectability_mm", 2.8)]
    acc, st = _verdicts(ms, "ws519-2019", "acceptance"), _verdicts(ms, "ws519-2019", "status")
    for m in ms:
        assert _status(acc, m.id) == "fail" and _status(st, m.id) == "pass", m.id


# ---- slice thickness: the three WS 519 tiers of the nominal thickness s ---------------------------------------
def _slice_measurement(nominal_mm: float, measured_mm: float) -> Measurement:
    metric, label = thickness_tier(nominal_mm)
    dev = (measured_mm - nominal_mm) / nominal_mm * 100.0 if metric.endswith("percent") else measured_mm - nominal_mm
    return _m(metric, dev, label)


@pytest.mark.parametrize("nominal,tier", [(0.625, "nominal_below_1mm"), (0.99, "nominal_below_1mm"),
                                          (1.0, "nominal_1_to_2mm"), (1.25, "nominal_1_to_2mm"),
                                          (2.0, "nominal_1_to_2mm"), (2.5, "nominal_above_2mm"),
                                          (5.0, "nominal_above_2mm")])
def test_tier_of_the_nominal_thickness(nominal, tier):
    # WS 519: s > 2 mm and s < 1 mm in mm, 1 mm <= s <= 2 mm in %
    metric, label = thickness_tier(nominal)
    assert label == tier
    assert metric == ("ct.slice_thickness.deviation_percent" if tier == "nominal_1_to_2mm"
                      else "ct.slice_thickness.deviation_mm")


@pytest.mark.parametrize("nominal,measured,acceptance,status", [
    (0.625, 1.10, "pass", "no_limit"),   # +0.475 mm <= 0.5 mm; WS 519 has no status limit below 1 mm
    (0.625, 1.15, "fail", "no_limit"),   # +0.525 mm
    (1.25, 1.85, "pass", "no_limit"),    # +48 % <= 50 %; no status limit for 1-2 mm
    (1.25, 1.90, "fail", "no_limit"),    # +52 %
    (1.25, 0.60, "fail", "no_limit"),    # -52 %
    (5.0, 5.95, "pass", "pass"),         # +0.95 mm <= 1 mm
    (5.0, 3.90, "fail", "fail"),         # -1.1 mm
])
def test_ws519_slice_thickness_tiers(nominal, measured, acceptance, status):
    m = _slice_measurement(nominal, measured)
    assert _status(_verdicts([m], "ws519-2019", "acceptance"), m.id, m.label) == acceptance
    assert _status(_verdicts([m], "ws519-2019", "status"), m.id, m.label) == status


@pytest.mark.parametrize("nominal,measured,expected", [
    (0.625, 1.55, "pass"),   # Taiyuan's ±1 mm applies to every tier it can: +0.925 mm
    (0.625, 1.70, "fail"),   # +1.075 mm
    (1.25, 2.20, "no_limit"),  # reported in %: Taiyuan's mm limit cannot judge it, WS 519 has no status limit
    (5.0, 6.05, "fail"),
])
def test_taiyuan_slice_thickness_status(nominal, measured, expected):
    m = _slice_measurement(nominal, measured)
    assert _status(_verdicts([m], "taiyuan-2024", "status"), m.id, m.label) == expected


# ---- stability: baseline-relative, and "±20 % or ±1 mm, whichever is larger" ----------------------------------
@pytest.mark.parametrize("baseline,measured,expected", [
    (3.0, 3.95, "pass"),   # 20 % of 3 mm = 0.6 mm < 1 mm: the 1 mm limit applies; |d| = 0.95 mm
    (3.0, 4.05, "fail"),   # |d| = 1.05 mm > max(0.6, 1) mm
    (10.0, 11.9, "pass"),  # 20 % of 10 mm = 2 mm > 1 mm: the 20 % limit applies; |d| = 1.9 mm (19 %)
    (10.0, 7.9, "fail"),   # |d| = 2.1 mm (21 %)
    (5.0, 6.0, "pass"),    # both limits equal (1 mm = 20 %): on the boundary
])
def test_ws519_slice_thickness_stability_whichever_is_larger(baseline, measured, expected):
    m = _m("ct.slice_thickness.mm", measured)
    vs = _verdicts([m], "ws519-2019", "stability", baseline={"ct.slice_thickness.mm": baseline})
    (v,) = vs[(m.id, None)]
    assert v.status == expected and v.reference == baseline


def test_ws519_stability_against_a_baseline():
    baseline = {"ct.water.mean_hu": 1.0, "ct.uniformity.max_abs_diff_hu": 2.0, "ct.noise.percent": 0.30,
                "ct.line_pairs.limiting_lp_per_cm[conventional]": 6.0, "ct.ctdi.ctdiw_mgy[head]": 40.0}
    good = [_m("ct.water.mean_hu", 4.9), _m("ct.uniformity.max_abs_diff_hu", 3.9), _m("ct.noise.percent", 0.329),
            _m("ct.line_pairs.limiting_lp_per_cm", 5.2, "conventional"), _m("ct.ctdi.ctdiw_mgy", 45.9, "head")]
    # water +4.1 HU, uniformity +2.1 HU, noise +11 %, line pairs -16.7 %, CTDIw +16 %
    bad = [_m("ct.water.mean_hu", 5.1), _m("ct.uniformity.max_abs_diff_hu", 4.1), _m("ct.noise.percent", 0.333),
           _m("ct.line_pairs.limiting_lp_per_cm", 5.0, "conventional"), _m("ct.ctdi.ctdiw_mgy", 46.4, "head")]
    vg = _verdicts(good, "ws519-2019", "stability", baseline=baseline)
    vb = _verdicts(bad, "ws519-2019", "stability", baseline=baseline)
    for m in good:
        assert _status(vg, m.id, m.label) == "pass", m.id
    for m in bad:
        assert _status(vb, m.id, m.label) == "fail", m.id
    # without a baseline: not evaluated, with the reason
    (v,) = _verdicts(good[:1], "ws519-2019", "stability")[("ct.water.mean_hu", None)]
    assert v.status == "not_evaluated" and "baseline" in v.reason


def test_ws519_ctdiw_against_the_specification():
    spec = {"ct.ctdi.ctdiw_mgy": 50.0}
    for test_type, ok, ko in (("acceptance", 57.4, 57.6), ("status", 40.1, 39.9)):  # ±15 %, ±20 %
        for value, expected in ((ok, "pass"), (ko, "fail")):
            vs = _verdicts([_m("ct.ctdi.ctdiw_mgy", value, "head")], "ws519-2019", test_type, spec=spec)
            (v,) = vs[("ct.ctdi.ctdiw_mgy", "head")]
            assert v.status == expected and v.reference == 50.0, (test_type, value)
    # the body phantom: acceptance ±15 %; WS 519 sets no status limit for it
    body_spec = {"ct.ctdi.ctdiw_mgy[body]": 16.0}
    for value, expected in ((13.7, "pass"), (13.5, "fail")):  # -14.4 %, -15.6 %
        vs = _verdicts([_m("ct.ctdi.ctdiw_mgy", value, "body")], "ws519-2019", "acceptance", spec=body_spec)
        assert _status(vs, "ct.ctdi.ctdiw_mgy", "body") == expected
    vs = _verdicts([_m("ct.ctdi.ctdiw_mgy", 13.7, "body")], "ws519-2019", "status", spec=body_spec)
    assert _status(vs, "ct.ctdi.ctdiw_mgy", "body") == "no_limit"
    # no specification: not evaluated, never a silent pass
    (v,) = _verdicts([_m("ct.ctdi.ctdiw_mgy", 40.0, "head")], "ws519-2019", "acceptance")[
        ("ct.ctdi.ctdiw_mgy", "head")]
    assert v.status == "not_evaluated" and "specification" in v.reason


# ---- Taiyuan: status values of the seed, acceptance inherited from WS 519 --------------------------------------
TAIYUAN_STATUS = {
    ("ct.water.mean_hu", None): (-6.0, 6.3),
    ("ct.uniformity.max_abs_diff_hu", None): (6.0, 6.2),
    ("ct.noise.percent", None): (0.44, 0.45),
    ("ct.line_pairs.limiting_lp_per_cm", "conventional"): (6.0, 5.0),
    ("ct.low_contrast.detectability_mm", None): (2.9, 3.0),
    ("ct.couch.position_error_mm", None): (2.0, -2.1),
    ("ct.slice_thickness.deviation_mm", "nominal_above_2mm"): (-1.0, 1.1),
}


def test_taiyuan_pass_and_fail_sets():
    good = [_m(metric, ok, label) for (metric, label), (ok, _) in TAIYUAN_STATUS.items()]
    bad = [_m(metric, ko, label) for (metric, label), (_, ko) in TAIYUAN_STATUS.items()]
    vg, vb = _verdicts(good, "taiyuan-2024", "status"), _verdicts(bad, "taiyuan-2024", "status")
    for key in TAIYUAN_STATUS:
        assert _status(vg, *key) == "pass", key
        assert _status(vb, *key) == "fail", key
        (v,) = vg[key]
        assert "太原" in v.source and v.confirmed is True, key
    # acceptance keeps the stricter national limits: 5 HU water passes Taiyuan status but fails acceptance
    m = [_m("ct.water.mean_hu", 5.0)]
    assert _status(_verdicts(m, "taiyuan-2024", "acceptance"), "ct.water.mean_hu") == "fail"
    assert _status(_verdicts(m, "taiyuan-2024", "status"), "ct.water.mean_hu") == "pass"


# ---- ACR CT: acceptance and status share the limits; every limit is unconfirmed -------------------------------
ACR = {
    ("ct.water.mean_hu", None): (7.0, -7.5),
    ("ct.uniformity.max_abs_diff_hu", None): (5.0, 5.3),
    ("ct.linearity.mean_hu", "Air"): (-1005.0, -965.0),
    ("ct.linearity.mean_hu", "Polyethylene"): (-95.0, -110.0),
    ("ct.linearity.mean_hu", "Water"): (6.9, 7.1),
    ("ct.linearity.mean_hu", "Acrylic"): (135.0, 108.0),
    ("ct.linearity.mean_hu", "Bone"): (850.0, 975.0),
    ("ct.low_contrast.cnr", "0.6%_25mm"): (1.0, 0.95),
    ("ct.line_pairs.limiting_lp_per_cm", "conventional"): (6.0, 5.0),
    ("ct.slice_thickness.deviation_mm", "nominal_above_2mm"): (1.5, -1.6),
}


@pytest.mark.parametrize("test_type", ["acceptance", "status"])
def test_acr_pass_and_fail_sets_show_unconfirmed(test_type):
    good = [_m(metric, ok, label) for (metric, label), (ok, _) in ACR.items()]
    bad = [_m(metric, ko, label) for (metric, label), (_, ko) in ACR.items()]
    vg, vb = _verdicts(good, "acr-ct", test_type), _verdicts(bad, "acr-ct", test_type)
    for key in ACR:
        assert _status(vg, *key) == "pass", key
        assert _status(vb, *key) == "fail", key
        for v in vg[key] + vb[key]:
            assert v.confirmed is False and v.to_dict()["confirmed"] is False, key
    # an insert or target the profile names no limit for is reported without one
    other = [_m("ct.linearity.mean_hu", 1000.0, "Teflon"), _m("ct.low_contrast.cnr", 0.1, "0.6%_6mm")]
    vs = _verdicts(other, "acr-ct", test_type)
    assert _status(vs, "ct.linearity.mean_hu", "Teflon") == _status(vs, "ct.low_contrast.cnr", "0.6%_6mm") == "no_limit"


def test_acr_has_no_stability_limits():
    vs = _verdicts([_m("ct.water.mean_hu", 30.0)], "acr-ct", "stability", baseline={"ct.water.mean_hu": 0.0})
    assert _status(vs, "ct.water.mean_hu") == "no_limit"


def test_ws519_unconfirmed_high_contrast_shows_in_the_verdict():
    ms = [_m("ct.line_pairs.limiting_lp_per_cm", 7.0, "conventional"), _m("ct.water.mean_hu", 1.0)]
    vs = _verdicts(ms, "ws519-2019", "acceptance")
    (lp,) = vs[("ct.line_pairs.limiting_lp_per_cm", "conventional")]
    (water,) = vs[("ct.water.mean_hu", None)]
    assert lp.status == "pass" and lp.confirmed is False and lp.to_dict()["confirmed"] is False
    assert water.confirmed is True


def test_missing_ct_metric_is_not_a_silent_pass():
    vs = evaluate([], load_profile("ws519-2019"), "acceptance",
                  expected_metrics=("ct.water.mean_hu", "ct.slice_thickness.deviation_mm"),
                  missing_reasons={"ct.water.mean_hu": "the water module is not in the scan"})
    got = {(v.measurement, v.label): v for v in vs}
    assert got[("ct.water.mean_hu", None)].status == "not_evaluated"
    assert "not in the scan" in got[("ct.water.mean_hu", None)].reason
    assert {lbl for (mid, lbl) in got if mid == "ct.slice_thickness.deviation_mm"} == {"nominal_above_2mm",
                                                                                      "nominal_below_1mm"}
