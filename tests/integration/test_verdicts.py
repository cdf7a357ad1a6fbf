"""Verdicts of the shipped profiles on a passing and a failing reference phantom, for acceptance, status and
stability tests, with and without a baseline. The measurements come from the end-to-end analyses of
conftest.py; the standards layer judges them here with each profile and test type."""

import json

import pytest

from phantomqc.cli import main
from phantomqc.standards.evaluate import References, evaluate, reference_key
from phantomqc.standards.profiles import load_profile

PASS, FAIL = "3000-u16-s3-linear", "2048-i16-s5-fail"


def _verdicts(suite, profile, test_type, baseline=None, spec=None):
    prof = load_profile(profile)
    refs = References(baseline or {}, spec or {})
    out = {}
    for r in suite.results:
        for v in evaluate(r.measurements, prof, test_type, references=refs):
            out.setdefault((v.measurement, v.label), []).append(v)
    return out


def _status(vs, metric, label=None):
    statuses = {v.status for v in vs[(metric, label)]}
    assert len(statuses) == 1, vs[(metric, label)]
    return statuses.pop()


def _baseline_of(suite):
    return {reference_key(m.id, m.label): m.value for r in suite.results for m in r.measurements}


JUDGED = ["dr.signal_transfer.r_squared", "dr.response_uniformity.cv_percent", "dr.ghosting.error_percent",
          "dr.artifacts.count"]


def _r2_label(vs):
    return next(lab for (mid, lab) in vs if mid == "dr.signal_transfer.r_squared")


@pytest.mark.parametrize("profile", ["taiyuan-2024", "ws76-2020-dr"])
@pytest.mark.parametrize("test_type", ["acceptance", "status", "stability"])
def test_passing_phantom_passes_and_failing_phantom_fails(suites, profile, test_type):
    good = _verdicts(suites[PASS], profile, test_type)
    bad = _verdicts(suites[FAIL], profile, test_type)
    for metric in JUDGED:
        lg = _r2_label(good) if metric.endswith("r_squared") else None
        lb = _r2_label(bad) if metric.endswith("r_squared") else None
        assert _status(good, metric, lg) == "pass", (metric, good[(metric, lg)])
        assert _status(bad, metric, lb) == "fail", (metric, bad[(metric, lb)])


def test_acceptance_limits_differ_from_status_limits(suites):
    """R^2 = 0.96 fails the WS 76 acceptance limit (0.98) and passes the status limit (0.95)."""
    from phantomqc.core.types import Measurement

    m = [Measurement("dr.signal_transfer.r_squared", 0.96, "1", label="linear")]
    for profile in ("taiyuan-2024", "ws76-2020-dr"):
        prof = load_profile(profile)
        assert evaluate(m, prof, "acceptance")[0].status == "fail"
        assert evaluate(m, prof, "status")[0].status == "pass"


@pytest.mark.parametrize("profile", ["taiyuan-2024", "ws76-2020-dr"])
def test_stability_without_baseline_is_not_evaluated(suites, profile):
    vs = _verdicts(suites[PASS], profile, "stability")
    v = vs[("dr.dark_noise.mean_pv", None)][0]
    assert v.status == "not_evaluated" and "needs a baseline" in v.reason


@pytest.mark.parametrize("profile", ["taiyuan-2024", "ws76-2020-dr"])
def test_stability_against_baseline(suites, profile):
    base = _baseline_of(suites[PASS])
    # the passing phantom against its own values: within every band
    same = _verdicts(suites[PASS], profile, "stability", baseline=base)
    assert _status(same, "dr.dark_noise.mean_pv") == "pass"
    # the failing phantom's dark offset is twice the passing one's: +100 % > 50 %
    bad = _verdicts(suites[FAIL], profile, "stability", baseline=base)
    v = bad[("dr.dark_noise.mean_pv", None)][0]
    assert v.status == "fail" and v.reference == pytest.approx(base["dr.dark_noise.mean_pv"])


def test_ws76_status_ddi_and_resolution_against_baseline(suites):
    base = _baseline_of(suites[PASS])
    vs = _verdicts(suites[FAIL], "ws76-2020-dr", "status", baseline=base)
    # DDI 1250 against a baseline of 1040: +20.2 % is outside +-20 %
    assert _status(vs, "dr.ddi.value") == "fail"
    vs_good = _verdicts(suites[PASS], "ws76-2020-dr", "status", baseline=base)
    assert _status(vs_good, "dr.limiting_resolution.lp_per_mm", "horizontal") == "pass"


def test_ws76_acceptance_dark_noise_needs_a_spec(suites):
    vs = _verdicts(suites[PASS], "ws76-2020-dr", "acceptance")
    assert _status(vs, "dr.dark_noise.mean_pv") == "not_evaluated"
    vs = _verdicts(suites[PASS], "ws76-2020-dr", "acceptance", spec={"dr.dark_noise.mean_pv": 150.0})
    assert _status(vs, "dr.dark_noise.mean_pv") == "pass"
    vs = _verdicts(suites[FAIL], "ws76-2020-dr", "acceptance", spec={"dr.dark_noise.mean_pv": 150.0})
    assert _status(vs, "dr.dark_noise.mean_pv") == "fail"  # 200 PV > 150 PV


def test_exit_status_end_to_end(suites, tmp_path):
    out = tmp_path / "r.json"
    assert main(["analyze", str(suites[PASS].manifest), "--profile", "taiyuan-2024", "--test-type", "status",
                 "--json", str(out), "--no-progress"]) == 0
    doc = json.loads(out.read_text())
    # nothing failed, but the dark-noise criterion needs a baseline or a spec: incomplete, not a silent pass
    assert doc["summary"]["overall"] == "incomplete" and doc["summary"]["verdicts"]["not_evaluated"] >= 1
    assert main(["analyze", str(suites[FAIL].manifest), "--profile", "taiyuan-2024", "--test-type", "status",
                 "--json", str(out), "--no-progress"]) == 1
    doc = json.loads(out.read_text())
    assert doc["summary"]["overall"] == "fail" and doc["profile"]["id"] == "taiyuan-2024"


def test_baseline_from_an_earlier_result_json(suites, tmp_path):
    first = tmp_path / "first.json"
    assert main(["analyze", str(suites[PASS].manifest), "--test-type", "acceptance", "--json", str(first),
                 "--no-progress"]) in (0, 1)
    second = tmp_path / "second.json"
    main(["analyze", str(suites[FAIL].manifest), "--profile", "ws76-2020-dr", "--test-type", "stability",
          "--baseline", str(first), "--json", str(second), "--no-progress"])
    doc = json.loads(second.read_text())
    # dr.ddi.value is judged against the baseline only: 1250 against the earlier 1040 is +20.2 % > 20 %
    ddi = [v for a in doc["analyses"] for v in a["verdicts"] if v["measurement"] == "dr.ddi.value"]
    assert ddi and ddi[0]["status"] == "fail" and ddi[0]["reference"] == pytest.approx(1040.0, rel=1e-6)
    # the dark mean (200 PV) fails both alternatives: the spec (150 PV) and the earlier result (100 PV) + 50 %
    dark = [v for a in doc["analyses"] for v in a["verdicts"] if v["measurement"] == "dr.dark_noise.mean_pv"]
    assert dark and dark[0]["status"] == "fail"


def test_output_validates_against_the_shipped_schema(suites, tmp_path, capsys):
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is part of the [test] extra")
    main(["schema"])
    schema = json.loads(capsys.readouterr().out)
    jsonschema.validate(suites[PASS].doc, schema)
    jsonschema.validate(suites[FAIL].doc, schema)


def test_workers_give_the_same_document(suites, tmp_path):
    """--workers 2 (a spawned process pool) gives the same measurements as the in-process run."""
    out = tmp_path / "w.json"
    assert main(["analyze", str(suites[PASS].manifest), "--workers", "2", "--json", str(out), "--no-progress"]) \
        in (0, 1)
    doc = json.loads(out.read_text())
    got = {(m["id"], m["label"]): m["value"] for a in doc["analyses"] for m in a["measurements"]}
    assert got == pytest.approx(suites[PASS].measured(), rel=1e-9)
