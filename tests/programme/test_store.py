"""The results store on SQLite and on a real PostgreSQL server: devices, runs, duplicates, baselines, site
tolerances, reviews and the audit log."""

from __future__ import annotations

import datetime as _dt
import math

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from phantomqc._shared.errors import InputError
from phantomqc.programme.devices import DeviceFacts, device_key
from phantomqc.programme.limits import FourLimits, classify
from phantomqc.programme.models import VerdictRow
from phantomqc.programme.store import Store, parse_wall_clock

from ._results import ct_water_result


def test_device_key_prefers_serial_then_station_then_ae():
    assert device_key(DeviceFacts(manufacturer="GE", serial="123", station_name="CT1")) == "serial:ge|123"
    assert device_key(DeviceFacts(station_name="CT1", ae_title="CTAE")) == "station:CT1"
    assert device_key(DeviceFacts(ae_title="CTAE")) == "ae:CTAE"
    assert device_key(DeviceFacts()) is None


def test_wall_clock_parsing_iso_and_dicom():
    assert parse_wall_clock("2026-01-05T08:01:02") == _dt.datetime(2026, 1, 5, 8, 1, 2)
    assert parse_wall_clock("20260105080102.5") == _dt.datetime(2026, 1, 5, 8, 1, 2, 500000)
    assert parse_wall_clock("20260105") == _dt.datetime(2026, 1, 5)
    assert parse_wall_clock("") is None


def test_four_limits():
    lim = FourLimits("absolute", act_low=-4, tol_low=-2, tol_high=2, act_high=4)
    assert classify(1.9, lim).state == "ok"
    assert classify(2.1, lim).state == "tolerance"
    assert classify(-4.1, lim).state == "action"
    pct = FourLimits("percent", tol_low=-5, tol_high=5, act_low=-10, act_high=10)
    c = classify(107.0, pct, baseline=100.0)
    assert c.state == "tolerance" and c.compared == pytest.approx(7.0)
    assert classify(107.0, pct).state == "not_evaluated"  # percent mode needs a baseline
    with pytest.raises(ValueError, match="act_low <= tol_low"):
        FourLimits("absolute", act_low=1, tol_low=0)


def test_record_registers_device_once_and_sets_baselines_from_acceptance(db_url):
    st = Store(db_url, actor="alice")
    acc = ct_water_result(0.4, uid="1", test_type="acceptance")
    out = st.record([acc], site="Site A")
    rec = out.records[0]
    assert rec.status == "pass" and rec.review == "approved" and rec.device_created
    assert rec.baselines_set == 3
    assert st.baselines("CT1") == {"ct.water.mean_hu": 0.4, "ct.noise.percent": 0.3,
                                   "ct.uniformity.max_abs_diff_hu": 0.5}
    # the second acquisition of the same device: same device, no new registration, no new baselines
    out2 = st.record([ct_water_result(1.0, uid="2", test_type="acceptance")])
    assert out2.records[0].device_id == rec.device_id and not out2.records[0].device_created
    assert out2.records[0].baselines_set == 0
    assert [a.action for a in st.audit_log(action="device.")] == ["device.register"]
    assert len(st.devices()) == 1 and st.devices()[0].site.name == "Site A"


def test_same_inputs_same_version_are_not_stored_twice(db_url):
    st = Store(db_url)
    r = ct_water_result(0.4, uid="1")
    assert st.record([r]).stored == 1
    again = st.record([r, ct_water_result(0.4, uid="1", test_type="status")])
    assert again.stored == 0 and again.duplicates == 2
    assert "another profile, test type or parameters" in again.records[1].message
    assert len(st.runs()) == 1


def test_rejudge_uses_the_stored_baseline_and_keeps_it_with_the_verdict(db_url):
    st = Store(db_url)
    st.record([ct_water_result(0.4, uid="1", test_type="acceptance")], site="A")
    # judged without a baseline: not evaluated; re-judged at record time against the stored 0.4 HU
    late = ct_water_result(4.5, uid="2")
    assert next(v for v in late.verdicts if v.measurement == "ct.water.mean_hu").status == "not_evaluated"
    out = st.record([late, ct_water_result(4.3, uid="3")], rejudge=True)
    v_fail = next(v for v in out.results[0].verdicts if v.measurement == "ct.water.mean_hu")
    v_pass = next(v for v in out.results[1].verdicts if v.measurement == "ct.water.mean_hu")
    assert v_fail.status == "fail" and v_fail.reference == pytest.approx(0.4)  # |4.5 - 0.4| = 4.1 > 4
    assert v_pass.status == "pass"  # |4.3 - 0.4| = 3.9 <= 4
    assert out.records[0].status == "fail" and out.records[0].review == "pending"
    # a later re-baseline does not change what the failing run was judged against
    st.set_baseline("CT1", "ct.water.mean_hu", 4.0, unit="HU", reason="tube replaced")
    with st.session() as s:
        row = s.query(VerdictRow).filter_by(run_id=out.records[0].run_id, metric="ct.water.mean_hu").one()
        assert row.reference == pytest.approx(0.4) and row.baseline_id is not None
        assert row.limits["rules"][0]["reference"] == "baseline" and row.limits["rules"][0]["limit"] == 4.0
        assert "baseline" in row.criterion


def test_auto_baseline_rule_can_be_switched_off_per_site(db_url):
    st = Store(db_url)
    st.ensure_site("Manual", auto_baseline=False)
    out = st.record([ct_water_result(0.4, uid="1", test_type="acceptance")], site="Manual")
    assert out.records[0].baselines_set == 0 and st.baselines("CT1") == {}
    assert st.audit_log(action="site.auto_baseline")[0].detail == {"auto_baseline": False}


def test_failing_acceptance_waits_for_review_and_approval_sets_baselines(db_url):
    st = Store(db_url, actor="engineer")
    out = st.record([ct_water_result(7.0, uid="1", test_type="acceptance")], site="A")  # |7| > 6 HU (acceptance)
    rec = out.records[0]
    assert rec.status == "fail" and rec.review == "pending" and st.baselines("CT1") == {}
    queue = st.review_queue("A")
    assert [q["run_id"] for q in queue] == [rec.run_id]
    assert any("ct.water.mean_hu" in f for f in queue[0]["findings"])
    with pytest.raises(InputError, match="comment"):
        st.decide(rec.run_id, True, comment=" ")
    done = st.decide(rec.run_id, True, comment="offset known; recalibrated next day", reviewer="dr. wang")
    assert done.review == "approved" and done.baselines_set == 3
    assert st.review_queue("A") == []
    entry = st.audit_log(action="review.")[0]
    assert entry.actor == "dr. wang" and entry.detail["comment"] == "offset known; recalibrated next day"
    with pytest.raises(InputError, match="already approved"):
        st.decide(rec.run_id, False, comment="too late")


def test_review_queues_are_isolated_between_sites(db_url):
    st = Store(db_url)
    st.record([ct_water_result(9.0, uid="1", test_type="acceptance", serial="A1", station="A-CT")], site="A")
    st.record([ct_water_result(9.0, uid="2", test_type="acceptance", serial="B1", station="B-CT")], site="B")
    assert [q["device"] for q in st.review_queue("A")] == ["A-CT"]
    assert [q["device"] for q in st.review_queue("B")] == ["B-CT"]
    assert len(st.review_queue()) == 2


def test_rebaseline_needs_a_reason_keeps_history_and_is_audited(db_url):
    st = Store(db_url, actor="physicist")
    out = st.record([ct_water_result(0.4, uid="1", test_type="acceptance")], site="A")
    with pytest.raises(InputError, match="reason"):
        st.rebaseline_from_run(out.records[0].run_id, reason="")
    new = st.record([ct_water_result(2.0, uid="2", test_type="status")])
    assert st.rebaseline_from_run(new.records[0].run_id, reason="detector recalibrated",
                                  metrics=["ct.water.mean_hu"]) == 1
    hist = st.baseline_history("CT1", "ct.water.mean_hu")
    assert [(b.value, b.active) for b in hist] == [(0.4, False), (2.0, True)]
    assert hist[0].superseded_by_id == hist[1].id and hist[0].ended_at is not None
    a = st.audit_log(action="baseline.rebaseline")[0]
    assert a.detail["reason"] == "detector recalibrated" and a.detail["previous"] == 0.4 and a.detail["value"] == 2.0


def test_site_tolerance_levels_are_judged_and_stored_beside_the_profile(db_url):
    st = Store(db_url)
    st.record([ct_water_result(0.0, uid="1", test_type="acceptance")], site="A")
    st.set_tolerance("A", "ct.water.mean_hu", act_low=-4, tol_low=-2, tol_high=2, act_high=4)
    out = st.record([ct_water_result(2.5, uid="2"), ct_water_result(1.0, uid="3")], rejudge=True)
    assert out.records[0].site_checks == (("ct.water.mean_hu", "", "tolerance", 2.5),)
    assert out.records[0].status == "incomplete" and out.records[0].review == "pending"  # profile passes (≤ 4 HU)
    assert out.records[1].site_checks[0][2] == "ok" and out.records[1].status == "pass"
    # a device-specific row wins over the site-wide one
    st.set_tolerance("A", "ct.water.mean_hu", device="CT1", mode="percent", tol_low=-5, tol_high=5)
    with st.session() as s:
        from phantomqc.programme.devices import resolve_device

        tols = st._tolerances(s, resolve_device(s, "CT1"))
    assert tols[("ct.water.mean_hu", "")].mode == "percent"


def test_device_site_from_rule_then_unassigned(db_url):
    st = Store(db_url)
    st.add_site_rule("Taiyuan", station_name="TY-*", department="Radiology")
    st.record([ct_water_result(0.1, uid="1", station="TY-CT2", serial="")])
    st.record([ct_water_result(0.1, uid="2", station="XX-CT9", serial="")])
    by = {d.station_name: d for d in st.devices()}
    assert by["TY-CT2"].site.name == "Taiyuan" and by["TY-CT2"].department.name == "Radiology"
    assert by["XX-CT9"].site.name == "unassigned"
    st.assign_device("XX-CT9", "Taiyuan")
    assert st.device("XX-CT9").site.name == "Taiyuan"
    with pytest.raises(InputError, match="at least one"):
        st.add_site_rule("Taiyuan")


def test_result_without_any_device_identity_is_still_stored(db_url):
    st = Store(db_url)
    r = ct_water_result(0.1, uid="1", station="", serial="")
    rec = st.record([r]).records[0]
    assert rec.status == "unidentified" and rec.run_id is not None and rec.device_id is None
    assert "no serial number" in rec.message


def test_audit_log_is_append_only_on_the_database(db_url):
    st = Store(db_url)
    st.ensure_site("A")
    with pytest.raises(DBAPIError, match="append-only"):
        with st.engine.begin() as conn:
            conn.execute(text("UPDATE audit_log SET actor = 'mallory'"))
    with pytest.raises(DBAPIError, match="append-only"):
        with st.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_log"))
    assert st.audit_log()[0].action == "site.create"


def test_nan_measurement_is_stored_as_null_with_its_note(db_url):
    from dataclasses import replace

    from phantomqc.core.types import Measurement

    st = Store(db_url)
    r = ct_water_result(0.1, uid="1")
    r = replace(r, measurements=r.measurements + (Measurement("ct.noise.sd_hu", math.nan, "HU", note="no ROI"),))
    run_id = st.record([r]).records[0].run_id
    run = next(x for x in st.runs() if x.id == run_id)
    m = next(m for m in run.measurements if m.metric == "ct.noise.sd_hu")
    assert m.value is None and m.note == "no ROI"
