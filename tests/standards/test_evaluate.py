"""The evaluator: comparators, baselines, specs, references to other metrics, alternatives, missing values."""

import math

import pytest

from phantomqc.core.types import Measurement
from phantomqc.standards.evaluate import References, evaluate, parse_reference_key, reference_key
from phantomqc.standards.profiles import Criterion, Profile, Rule


def _profile(*criteria):
    return Profile(id="t", version="1", title="test", source="TEST", criteria=tuple(criteria))


def _one(ms, prof, tt="acceptance", refs=None, **kw):
    return evaluate(ms, prof, tt, references=refs, **kw)


@pytest.mark.parametrize("compare,limit,x,status", [
    (">=", 0.98, 0.98, "pass"), (">=", 0.98, 0.9799, "fail"),
    (">", 5.0, 5.0, "fail"), (">", 5.0, 5.01, "pass"),
    ("<=", 5.0, 5.0, "pass"), ("<=", 5.0, 5.0001, "fail"),
    ("<", 0.45, 0.45, "fail"), ("<", 0.45, 0.4499, "pass"),
    ("abs<=", 6.0, -6.0, "pass"), ("abs<=", 6.0, -6.01, "fail"),
    ("abs<", 6.0, -6.0, "fail"),
])
def test_absolute_comparators_at_the_boundary(compare, limit, x, status):
    prof = _profile(Criterion("dr.response_uniformity.cv_percent", ("acceptance",), (Rule(compare, limit),)))
    (v,) = _one([Measurement("dr.response_uniformity.cv_percent", x, "%")], prof)
    assert v.status == status
    assert v.value == x


def test_range_rule():
    prof = _profile(Criterion("dr.response_uniformity.cv_percent", ("acceptance",),
                              (Rule("range", low=4.3, high=5.7),)))
    assert _one([Measurement("dr.response_uniformity.cv_percent", 5.7, "%")], prof)[0].status == "pass"
    assert _one([Measurement("dr.response_uniformity.cv_percent", 4.29, "%")], prof)[0].status == "fail"


def test_baseline_percent_deviation_and_missing_baseline():
    rule = Rule("abs<=", 50.0, reference="baseline", deviation="percent")
    prof = _profile(Criterion("dr.dark_noise.mean_pv", ("stability",), (rule,)))
    m = Measurement("dr.dark_noise.mean_pv", 152.0, "PV")
    # 152 vs 100 is +52 % -> fail; vs 102 is +49.0 % -> pass
    assert _one([m], prof, "stability", References({"dr.dark_noise.mean_pv": 100.0}, {}))[0].status == "fail"
    v = _one([m], prof, "stability", References({"dr.dark_noise.mean_pv": 102.0}, {}))[0]
    assert v.status == "pass" and v.reference == 102.0
    v = _one([m], prof, "stability")[0]
    assert v.status == "not_evaluated" and "needs a baseline" in v.reason


def test_baseline_difference_and_ratio():
    prof = _profile(
        Criterion("ct.water.mean_hu", ("stability",), (Rule("abs<=", 4.0, reference="baseline", deviation="difference"),)),
        Criterion("dr.limiting_resolution.lp_per_mm", ("stability",),
                  (Rule(">=", 0.9, reference="baseline", deviation="ratio"),)))
    refs = References({"ct.water.mean_hu": 1.0, "dr.limiting_resolution.lp_per_mm[horizontal]": 3.4}, {})
    vs = _one([Measurement("ct.water.mean_hu", 5.5, "HU"),
               Measurement("dr.limiting_resolution.lp_per_mm", 3.1, "lp/mm", label="horizontal")],
              prof, "stability", refs)
    # 5.5 - 1.0 = 4.5 > 4 -> fail; 3.1/3.4 = 0.912 >= 0.9 -> pass
    assert [v.status for v in vs] == ["fail", "pass"]


def test_labelled_baseline_is_preferred_and_unlabelled_is_the_fallback():
    refs = References({"m.x.y[horizontal]": 2.0, "m.x.y": 5.0}, {})
    assert refs.lookup("baseline", "m.x.y", "horizontal") == 2.0
    assert refs.lookup("baseline", "m.x.y", "vertical") == 5.0
    assert parse_reference_key(reference_key("a.b.c", "h")) == ("a.b.c", "h")
    assert parse_reference_key("a.b.c") == ("a.b.c", None)


def test_any_of_with_spec_or_other_metric():
    crit = Criterion("dr.limiting_resolution.lp_per_mm", ("acceptance",), (
        Rule(">=", 0.9, reference="spec", deviation="ratio"),
        Rule(">=", 0.8, reference="metric:dr.limiting_resolution.nyquist_per_mm", deviation="ratio")))
    prof = _profile(crit)
    ms = [Measurement("dr.limiting_resolution.lp_per_mm", 2.8, "lp/mm", label="horizontal"),
          Measurement("dr.limiting_resolution.nyquist_per_mm", 3.597, "lp/mm", label="horizontal")]
    # no spec: 2.8 / 3.597 = 0.778 < 0.8 -> fail (the evaluable alternative fails)
    v = [x for x in _one(ms, prof) if x.measurement == "dr.limiting_resolution.lp_per_mm"][0]
    assert v.status == "fail"
    # with a spec of 3.0: 2.8/3.0 = 0.933 >= 0.9 -> pass
    v = [x for x in _one(ms, prof, refs=References({}, {"dr.limiting_resolution.lp_per_mm": 3.0}))
         if x.measurement == "dr.limiting_resolution.lp_per_mm"][0]
    assert v.status == "pass"
    # nothing evaluable -> not evaluated with both reasons
    v = _one(ms[:1], prof)[0]
    assert v.status == "not_evaluated" and "specification" in v.reason and "nyquist" in v.reason


def test_metric_without_limit_and_missing_expected_metric():
    prof = _profile(Criterion("dr.ddi.deviation_percent", ("acceptance",), (Rule("abs<=", 20.0),)))
    vs = _one([Measurement("dr.ddi.value", 100.0, "1")], prof, expected_metrics=["dr.ddi.deviation_percent"],
              missing_reasons={"dr.ddi.deviation_percent": "no air kerma given"})
    st = {(v.measurement, v.status): v for v in vs}
    assert st[("dr.ddi.value", "not_evaluated")].reason.startswith("the profile has no limit")
    assert st[("dr.ddi.deviation_percent", "not_evaluated")].reason == "no air kerma given"


def test_nan_measurement_is_never_a_pass():
    prof = _profile(Criterion("dr.response_uniformity.cv_percent", ("acceptance",), (Rule("<=", 5.0),)))
    (v,) = _one([Measurement("dr.response_uniformity.cv_percent", math.nan, "%", note="ROI outside the field")], prof)
    assert v.status == "not_evaluated" and "ROI outside the field" in v.reason


def test_test_type_selects_criteria():
    prof = _profile(Criterion("dr.signal_transfer.r_squared", ("acceptance",), (Rule(">=", 0.98),)),
                    Criterion("dr.signal_transfer.r_squared", ("status", "stability"), (Rule(">=", 0.95),)))
    m = [Measurement("dr.signal_transfer.r_squared", 0.97, "1", label="linear")]
    assert _one(m, prof, "acceptance")[0].status == "fail"
    assert _one(m, prof, "status")[0].status == "pass"
    assert _one(m, prof, "stability")[0].status == "pass"
