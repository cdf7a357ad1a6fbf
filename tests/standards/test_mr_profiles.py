"""MR profiles (acr-mri, wst263-2006, taiyuan-2024's MR items) and the `when` condition that picks a
field-strength-dependent limit."""

import pytest

from phantomqc._shared.errors import ProfileError
from phantomqc.core.types import Measurement
from phantomqc.standards.evaluate import evaluate
from phantomqc.standards.profiles import load_profile


def m(metric, value, unit="1", label=None):
    return Measurement(metric, value, unit, label=label)


def _piu(field_t, piu):
    ms = [m("mr.uniformity.piu_percent", piu, "%")]
    if field_t is not None:
        ms.append(m("mr.field_strength.t", field_t, "T"))
    vs = [v for v in evaluate(ms, load_profile("acr-mri"), "acceptance") if v.measurement.endswith("piu_percent")]
    return vs


@pytest.mark.parametrize("field_t,piu,status", [
    (1.5, 87.5, "pass"), (1.5, 87.4, "fail"),   # below 3 T: PIU >= 87.5 %
    (3.0, 82.0, "pass"), (3.0, 81.9, "fail"),   # 3 T: PIU >= 82 %
    (3.0, 85.0, "pass"), (1.5, 85.0, "fail"),   # the same PIU passes at 3 T and fails at 1.5 T
    (2.89, 82.5, "pass"),                       # a 3 T system whose header says 2.89 T
])
def test_piu_limit_follows_field_strength(field_t, piu, status):
    (v,) = _piu(field_t, piu)
    assert v.status == status
    assert ("below 3 T" in v.source) == (field_t < 2.0)


def test_unknown_field_strength_is_not_evaluated_with_reason():
    vs = _piu(None, 90.0)
    assert len(vs) == 2 and all(v.status == "not_evaluated" for v in vs)
    assert all("mr.field_strength.t" in v.reason for v in vs)


def test_lcd_total_limits():
    prof = load_profile("acr-mri")
    for field_t, spokes, status in ((3.0, 37, "pass"), (3.0, 36, "fail"), (1.5, 9, "pass"), (1.5, 8, "fail")):
        ms = [m("mr.lcd.spokes", spokes, label="total"), m("mr.field_strength.t", field_t, "T"),
              m("mr.lcd.spokes", 10, label="slice11")]
        (v,) = [v for v in evaluate(ms, prof, "acceptance") if v.label == "total"]
        assert v.status == status and v.confirmed == (field_t >= 2.0)


@pytest.mark.parametrize("label,value,status", [
    ("slice5_diagonal1", 192.0, "pass"), ("slice5_diagonal1", 192.1, "fail"), ("slice1_vertical", 187.9, "fail"),
    ("sagittal_si", 146.0, "pass"), ("sagittal_si", 150.2, "fail"),
])
def test_acr_geometry_limits(label, value, status):
    (v,) = evaluate([m("mr.geometry.length_mm", value, "mm", label)], load_profile("acr-mri"), "status")
    assert v.status == status


def test_acr_other_limits():
    prof = load_profile("acr-mri")
    cases = [("mr.slice_thickness.mm", 5.7, "pass"), ("mr.slice_thickness.mm", 4.29, "fail"),
             ("mr.ghosting.ratio", 0.025, "pass"), ("mr.ghosting.ratio", 0.026, "fail"),
             ("mr.resolution.hole_mm", 1.0, "pass"), ("mr.resolution.hole_mm", 1.1, "fail")]
    for metric, value, status in cases:
        (v,) = evaluate([m(metric, value)], prof, "acceptance")
        assert v.status == status, (metric, value)
    for label, value, status in (("slice1", -5.0, "pass"), ("slice11", 5.1, "fail")):
        (v,) = evaluate([m("mr.slice_position.bar_difference_mm", value, "mm", label)], prof, "acceptance")
        assert v.status == status


def test_wst263_limits_are_flagged_unconfirmed_and_taiyuan_inherits_them():
    for pid in ("wst263-2006", "taiyuan-2024"):
        (v,) = evaluate([m("mr.uniformity.wst263_percent", 74.9, "%")], load_profile(pid), "status")
        assert v.status == "fail" and v.confirmed is False


def test_when_needs_a_known_metric(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('schema = "phantomqc.profile/1"\nid = "x"\nversion = "1"\ntitle = "x"\nsource = "x"\n'
                 '[[criterion]]\nmetric = "mr.ghosting.ratio"\ntest_type = "acceptance"\ncompare = "<="\n'
                 'limit = 0.025\nwhen = { metric = "mr.no_such", compare = "<", limit = 3 }\n', encoding="utf-8")
    with pytest.raises(ProfileError, match="'when' needs a known metric id"):
        load_profile(str(p))
