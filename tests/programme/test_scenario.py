"""120 days of a QC programme on a CT, a DR and an MR scanner (reference_phantoms.programme_scenario), on SQLite
and on a real PostgreSQL server.

The images are generated and analysed once (module fixture: real DICOM through the real pipeline, judged without
baselines); each back end then records them day by day with ``rejudge=True``, so every stability verdict is judged
against the baselines that store holds at that moment, exactly as ``phantomqc analyze --store`` would.

What the scenario must show (issue 7, "done means"):
- the baselines set from the acceptance results;
- the CT water drift (0.1 HU/day from day 20, on a day-to-day jitter of 0.3 HU) caught by the WS 519 stability limit
  (|x − baseline| ≤ 4 HU) on the day the true offset first exceeds it, and earlier by the SPC rules;
- the DR dead column (day 70) failing and waiting for review;
- the missed CT check (day 45) reported as expected-but-missing after its cut-off, not before;
- the MR coil replacement (day 63): a service event, the failing check approved by the physicist and a re-baseline
  audited with its reason;
- the trend charts rendered.
"""

from __future__ import annotations

import datetime as _dt
import numpy as np
import pytest

from phantomqc.programme import schedules
from phantomqc.programme.store import Store
from phantomqc.programme.trends import trend_data
from reference_phantoms.programme_scenario import (DEVICES, SITE, ScenarioConfig, analyse_scenario, make_scenario,
                                                   replay_scenario)

CFG = ScenarioConfig()
WS519_STABILITY_HU = 4.0  # WS 519-2019 stability: water CT number within ±4 HU of the baseline (ws519-2019.toml)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    out = tmp_path_factory.mktemp("scenario")
    doc, analysed = analyse_scenario(make_scenario(out, CFG))
    assert all(r.error is None for _, r in analysed), [(a, r.error) for a, r in analysed if r.error]
    return doc, analysed


def _day(d: int) -> _dt.date:
    return CFG.start + _dt.timedelta(days=d)


def _run_programme(db_url: str, doc: dict, analysed: list) -> dict:
    """Record the scenario day by day as the site's engineers would (``replay_scenario``)."""
    st = Store(db_url, actor="engineer li")
    out = replay_scenario(st, doc, analysed)
    rec = out["runs"][("mr", CFG.mr_service_day)]
    assert rec.status == "fail"  # SNR 120 -> 100 is below the baseline - 10 % before the re-baseline
    return {"store": st, **out}


@pytest.fixture(scope="module")
def sqlite_programme(scenario, tmp_path_factory):
    doc, analysed = scenario
    url = f"sqlite:///{tmp_path_factory.mktemp('scn-db') / 'store.sqlite'}"
    return _run_programme(url, doc, analysed)


@pytest.fixture(params=["sqlite", "postgresql"])
def programme(request, scenario, sqlite_programme):
    if request.param == "sqlite":
        return sqlite_programme
    server = request.getfixturevalue("pg_server")
    if not server.url:
        pytest.skip(f"PostgreSQL: {server.reason}")
    doc, analysed = scenario
    return _run_programme(server.new_database(), doc, analysed)


def _ct_truth(doc) -> dict[int, float]:
    return {a["day"]: a["truth"]["hu_offset"] for a in doc["acquisitions"] if a["device"] == "ct"}


def test_baselines_come_from_the_acceptance_results(scenario, programme):
    st, runs = programme["store"], programme["runs"]
    for dev in ("ct", "dr", "mr"):
        acc = next(r for r in st.runs(DEVICES[dev][3]) if r.id == runs[(dev, 0)].run_id)
        assert acc.test_type == "acceptance"
        values = {(m.metric, m.label): m.value for m in acc.measurements if m.value is not None}
        assert values
        for (metric, label), v in values.items():
            # the first baseline of every measurement is exactly the acceptance value (later ones: re-baselines)
            first = st.baseline_history(DEVICES[dev][3], metric, label or None)[0]
            assert first.value == v and first.run_id == acc.id, (dev, metric, label)
        if dev != "mr":  # the MR baselines were re-set after the coil replacement (tested below)
            active = st.baselines(DEVICES[dev][3])
            assert {k: active[k] for k in active} == {(m if not lab else f"{m}[{lab}]"): v
                                                        for (m, lab), v in values.items()}
    auto = st.audit_log(action="baseline.auto")
    assert {a.detail["run"] for a in auto} >= {runs[("ct", 0)].run_id, runs[("dr", 0)].run_id}
    # the acceptance runs keep their analyzer figures (for the signed report); the daily status checks do not
    for dev in ("ct", "dr"):
        figs = st.figures(runs[(dev, 0)].run_id)
        assert figs and all(f.png.startswith(b"\x89PNG") for f in figs), dev
        assert st.figures(runs[(dev, 1)].run_id) == [], dev


def test_ct_drift_caught_on_the_right_day_by_the_stability_limit_and_earlier_by_spc(scenario, programme):
    doc, _ = scenario
    st, runs = programme["store"], programme["runs"]
    truth = _ct_truth(doc)
    base_true = truth[0]
    measured_base = st.baseline_history(DEVICES["ct"][3], "ct.water.mean_hu")[0].value
    # the measured baseline is the true day-0 offset within the error of the water mean: pixel SD 1 HU over the
    # 3 x ~300 pixels of the WS 519 central ROI gives SE ~0.035 HU (plus int16 rounding, dithered by the noise);
    # 0.15 HU is 4 SE
    assert measured_base == pytest.approx(base_true, abs=0.15)
    days = sorted(truth)
    expected = next(d for d in days if abs(truth[d] - base_true) > WS519_STABILITY_HU)
    # the boundary is not ambiguous: no day's true deviation lies within 4 combined SE (0.2 HU) of the limit, so the
    # measured verdicts must flip on exactly that day
    assert min(abs(abs(truth[d] - base_true) - WS519_STABILITY_HU) for d in days) > 0.2
    failing = [d for d in days if d > 0 and runs[("ct", d)].status == "fail"]
    assert failing[0] == expected, (failing[:3], expected)
    assert expected > CFG.ct_drift_start_day + 30  # 0.1 HU/day needs ~40 days to reach 4 HU
    with st.session() as s:
        tr = trend_data(s, DEVICES["ct"][3], "ct.water.mean_hu")
    flagged = [(t.date() - CFG.start).days for t, rules in zip(tr.times, tr.we_rules) if rules]
    after = [d for d in flagged if d >= CFG.ct_drift_start_day]
    assert after, "no Western Electric rule fired on the drift"
    # the first signal after the drift starts comes weeks before the stability limit is crossed (here 9 days after
    # the start, when the drift is 0.9 HU = 3 sigma of the day-to-day jitter)
    assert after[0] < expected - 14, (after[0], expected)
    # and it is the drift, not noise: from then on a rule fires on every point until the end of the series
    assert all(tr.we_rules[i] for i, t in enumerate(tr.times) if (t.date() - CFG.start).days >= after[0] + 3)
    # before the drift the chart is in control but for SPC's own false alarms: rules 1-4 together have an in-control
    # average run length of about 92 points (Champ & Woodall 1987), i.e. ~0.2 signals expected in the 16 pre-drift
    # points; this seed gives one (rule 3 on day 4). More than two would mean limits that are too tight.
    assert len([d for d in flagged if d < CFG.ct_drift_start_day]) <= 2


def test_dr_dead_column_fails_and_waits_for_review(programme):
    st, runs = programme["store"], programme["runs"]
    dr_days = sorted(d for (dev, d) in runs if dev == "dr")
    first_fail = next(d for d in dr_days if runs[("dr", d)].status == "fail")
    assert first_fail == CFG.dr_dead_column_day
    assert all(runs[("dr", d)].status == "pass" for d in dr_days if d < CFG.dr_dead_column_day)
    queue = {q["run_id"]: q for q in st.review_queue(SITE)}
    q = queue[runs[("dr", first_fail)].run_id]
    assert q["review"] == "pending" and any("dr.artifacts.count" in f for f in q["findings"])
    st.decide(q["run_id"], False, comment="dead column confirmed; service called", reviewer="engineer li")
    rev = [a for a in st.audit_log(action="review.") if a.entity_id == q["run_id"]]
    assert rev and rev[-1].detail["comment"] == "dead column confirmed; service called"
    assert q["run_id"] not in {x["run_id"] for x in st.review_queue(SITE)}


def test_missed_day_is_expected_but_missing_after_its_cutoff(programme):
    st = programme["store"]
    missed = _day(CFG.ct_missed_day)
    assert missed.weekday() < 5
    with st.session() as s:
        before = schedules.due_report(s, _dt.datetime.combine(missed, _dt.time(9, 30)), SITE)
        after = schedules.due_report(s, _dt.datetime.combine(missed, _dt.time(12, 0)), SITE)
        later = schedules.due_report(s, _dt.datetime.combine(missed + _dt.timedelta(days=3), _dt.time(12, 0)), SITE)
    ct_before = next(r for r in before if r.kind == "ct.water")
    ct_after = next(r for r in after if r.kind == "ct.water")
    assert ct_before.state == "due"
    assert ct_after.state == "expected_missing" and ct_after.next_due.date() == missed
    # three days later the check has resumed, and the missed day is still listed in the look-back
    ct_later = next(r for r in later if r.kind == "ct.water")
    assert [m.due.date() for m in ct_later.missed] == [missed]
    assert all(m.state == "expected_missing" for m in ct_later.missed)
    dr_after = next(r for r in after if r.kind == "dr.artifacts")
    assert dr_after.state == "done" or dr_after.last_done.date() == missed


def test_service_event_and_rebaseline_are_audited_with_their_reason(programme):
    st, service_ids = programme["store"], programme["service_ids"]
    ev_id = service_ids[CFG.mr_service_day]
    rebase = st.audit_log(action="baseline.rebaseline")
    assert rebase and all(f"service event {ev_id}" in a.detail["reason"] for a in rebase)
    assert all(a.actor == "engineer li" for a in rebase)
    hist = st.baseline_history(DEVICES["mr"][3], "mr.snr.wst263")
    assert len(hist) == 2 and not hist[0].active and hist[1].active
    assert hist[1].value == pytest.approx(hist[0].value * CFG.mr_snr_after / CFG.mr_snr_before, rel=0.05)
    assert [a.action for a in st.audit_log(entity="service_event")] == ["service.add"]
    # after the re-baseline the weekly MR checks pass again
    runs = programme["runs"]
    later = sorted(d for (dev, d) in runs if dev == "mr" and d > CFG.mr_service_day)
    assert later and all(runs[("mr", d)].status == "pass" for d in later)


def test_trend_charts_render(programme, tmp_path):
    from phantomqc.report.trend import render_trend

    st = programme["store"]
    with st.session() as s:
        ct = trend_data(s, DEVICES["ct"][3], "ct.water.mean_hu")
        mr = trend_data(s, DEVICES["mr"][3], "mr.snr.wst263")
    assert len(ct) == sum(1 for (dev, _) in programme["runs"] if dev == "ct")
    # one new SPC phase, from the first check judged against the re-set baseline (the week after the service)
    assert [(mr.times[i].date() - CFG.start).days for i in mr.phase_starts] == [CFG.mr_service_day + 7]
    assert len(mr.service_events) == 1
    for data, name in ((ct, "ct.png"), (mr, "mr.html")):
        p = render_trend(data, tmp_path / name)
        assert p.exists() and p.stat().st_size > 10_000
    assert np.isfinite(ct.values).all()

