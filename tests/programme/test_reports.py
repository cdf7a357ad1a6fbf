"""The programme reports: the acceptance-test PDF of a device and the period report of a site.

Rows are created directly through the models (not through the store), so that every number in the reports is one
this file put in and counted by hand.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from phantomqc._shared.errors import InputError
from phantomqc.programme.db import open_engine
from phantomqc.programme.models import (
    AnalysisRun,
    Baseline,
    Department,
    Device,
    MeasurementRow,
    ProfileSnapshot,
    Review,
    Schedule,
    ServiceEvent,
    Site,
    VerdictRow,
    utcnow,
)
from phantomqc.programme.period import acceptable_band, acceptance_data, period_data

_N = [0]


def _run(s: Session, dev: Device | None, kind: str, at: dt.datetime, status: str, *, test_type: str = "status",
         meas=(), verd=(), review: tuple | None = None, snap: ProfileSnapshot | None = None,
         site: Site | None = None) -> AnalysisRun:
    """One run; ``meas`` = (metric, label, value, unit, uncertainty); ``verd`` = dicts of VerdictRow fields;
    ``review`` = (state, reviewer, comment) (default: approved automatically when the run passed, else pending)."""
    _N[0] += 1
    run = AnalysisRun(device_id=dev.id if dev else None, site_id=(dev.site_id if dev else site.id), kind=kind,
                      analyzer=kind, test_type=test_type, config_hash="c" * 64, phantomqc_version="0.1.0",
                      input_key=hashlib.sha256(f"{_N[0]}".encode()).hexdigest(),
                      input={"series_instance_uid": f"1.2.826.0.1.{_N[0]}", "paths": ["a.dcm", "b.dcm"]},
                      parameters={}, status=status, acquired_at=at,
                      profile_snapshot_id=snap.id if snap else None)
    s.add(run)
    s.flush()
    for metric, label, value, unit, unc in meas:
        s.add(MeasurementRow(run_id=run.id, metric=metric, label=label, value=value, unit=unit, uncertainty=unc))
    for v in verd:
        s.add(VerdictRow(run_id=run.id, **v))
    if review is None:
        review = ("approved", "phantomqc", "") if status == "pass" else ("pending", "", "")
    s.add(Review(run_id=run.id, state=review[0], automatic=status == "pass", reviewer=review[1], comment=review[2],
                 decided_at=None if review[0] == "pending" else utcnow()))
    s.flush()
    return run


def _rule(compare, limit=None, low=None, high=None, reference="none", deviation="none") -> dict:
    return {"rules": [{"compare": compare, "limit": limit, "low": low, "high": high, "reference": reference,
                       "deviation": deviation}], "unit": "", "confirmed": True, "when": []}


def _verdict(metric, status, criterion, limits, *, label="", value=None, reference=None, baseline_id=None,
             confirmed=True, reason="", source="WS 76-2020 5.2", origin="profile") -> dict:
    return {"metric": metric, "label": label, "status": status, "criterion": criterion, "limits": limits,
            "value": value, "reference": reference, "baseline_id": baseline_id, "confirmed": confirmed,
            "reason": reason, "source": source, "origin": origin, "test_type": "acceptance"}


def build_acceptance(s: Session, *, long_table_rows: int = 0) -> Device:
    """A DR device (Chinese name) with three acceptance tests (one failing verdict, one unconfirmed limit, one not
    evaluated, one site tolerance), an older acceptance run and a status run that the report must leave out."""
    site = Site(name="市第一人民医院")
    s.add(site)
    s.flush()
    dep = Department(site_id=site.id, name="放射科")
    s.add(dep)
    s.flush()
    dev = Device(key="SN-DR-0042", site_id=site.id, department_id=dep.id, name="DR 3号机房", modality="DX",
                 manufacturer="联影 United Imaging", model="uDR 780i", serial="DR0042", station_name="DR3",
                 ae_title="DR3_AE")
    s.add(dev)
    snap = ProfileSnapshot(sha256="a" * 64, profile_id="ws76-2020-dr", version="2020.1",
                           content={"summary": {"title": "WS 76-2020 DR 验收检测"}, "criteria": []})
    s.add(snap)
    s.flush()
    t0 = dt.datetime(2026, 10, 12, 9, 0)
    # an older dark-noise acceptance run (superseded by the later one) and a status run: both left out
    _run(s, dev, "dr.dark_noise", t0 - dt.timedelta(days=3), "fail", test_type="acceptance", snap=snap,
         meas=[("dr.dark_noise.mean_pv", "", 999.0, "PV", None)])
    _run(s, dev, "dr.dark_noise", t0 + dt.timedelta(days=20), "pass", test_type="status", snap=snap,
         meas=[("dr.dark_noise.mean_pv", "", 555.0, "PV", None)])
    _run(s, dev, "dr.dark_noise", t0, "pass", test_type="acceptance", snap=snap,
         meas=[("dr.dark_noise.mean_pv", "", 102.375, "PV", 0.4125), ("dr.dark_noise.std_pv", "", 3.1416, "PV", None)],
         verd=[_verdict("dr.dark_noise.mean_pv", "pass", "x ≤ 200 PV", _rule("<=", 200.0), value=102.375)])
    _run(s, dev, "dr.signal_transfer", t0 + dt.timedelta(minutes=10), "incomplete", test_type="acceptance",
         snap=snap,
         meas=[("dr.signal_transfer.r_squared", "", 0.99871, "1", None),
               ("dr.signal_transfer.slope_pv_per_ugy", "", 48.25, "PV/µGy", 0.61)],
         verd=[_verdict("dr.signal_transfer.r_squared", "pass", "x ≥ 0.98", _rule(">=", 0.98), confirmed=False),
               _verdict("dr.signal_transfer.slope_pv_per_ugy", "not_evaluated",
                        "|(x − spec)/spec| ≤ 10 %", None, reason="needs a manufacturer specification")])
    rows = [("dr.limiting_resolution.lp_per_mm", "horizontal", 3.58, "lp/mm", None),
            ("dr.limiting_resolution.lp_per_mm", "vertical", 2.21, "lp/mm", None)]
    verd = [_verdict("dr.limiting_resolution.lp_per_mm", "pass", "x/spec ≥ 0.9",
                     _rule(">=", 0.9, reference="spec", deviation="ratio"), label="horizontal", reference=3.6),
            _verdict("dr.limiting_resolution.lp_per_mm", "fail", "x/spec ≥ 0.9",
                     _rule(">=", 0.9, reference="spec", deviation="ratio"), label="vertical", reference=3.6),
            _verdict("dr.limiting_resolution.lp_per_mm", "tolerance", "tol −5 % … +5 %, act −10 % … +10 %",
                     {"mode": "percent", "act_low": -10.0, "tol_low": -5.0, "tol_high": 5.0, "act_high": 10.0},
                     label="horizontal", reference=3.8, origin="site", source="site tolerance 1")]
    for k in range(long_table_rows):
        rows.append(("dr.mtf.mtf_at_freq", f"f={0.1 * (k + 1):.1f}", round(0.97 - 0.011 * k, 4), "1", 0.004))
    _run(s, dev, "dr.limiting_resolution", t0 + dt.timedelta(minutes=25), "fail", test_type="acceptance",
         snap=snap, meas=rows, verd=verd, review=("rejected", "李医生", "垂直方向分辨率不足, 已报修"))
    s.flush()
    return dev


# --------------------------------------------------------------------------------------------------
# acceptance data


@pytest.fixture
def session(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    with Session(engine) as s:
        yield s
    engine.dispose()


def test_acceptance_data_takes_latest_acceptance_run_per_kind(session):
    dev = build_acceptance(session)
    data = acceptance_data(session, dev)
    assert [t.kind for t in data.tests] == ["dr.dark_noise", "dr.signal_transfer", "dr.limiting_resolution"]
    dark = data.tests[0]
    # the older failing acceptance run (999 PV) and the later status run (555 PV) are left out
    assert [r.value for r in dark.rows] == [102.375, 3.1416]
    assert data.overall == "FAIL"
    assert [(r.metric, r.label, r.status) for _t, r in data.failing] == [
        ("dr.limiting_resolution.lp_per_mm", "vertical", "fail")]
    assert data.profiles[0].profile_id == "ws76-2020-dr"
    assert data.profiles[0].title == "WS 76-2020 DR 验收检测"
    # judged profile verdicts: 1 + 2 + 2 = 5, one of them unconfirmed (r_squared)
    assert (data.profiles[0].n_verdicts, data.profiles[0].n_unconfirmed) == (5, 1)
    assert data.device.department == "放射科" and data.device.site == "市第一人民医院"
    # the same device by serial, station name and id; explicit run ids in the given order
    assert acceptance_data(session, "DR0042").device.id == dev.id
    assert acceptance_data(session, "DR3").device.id == dev.id
    ids = [t.run_id for t in data.tests]
    assert [t.run_id for t in acceptance_data(session, dev.id, run_ids=ids[::-1]).tests] == ids[::-1]


def test_acceptance_data_errors_name_the_device(session):
    build_acceptance(session)
    with pytest.raises(InputError, match="no device named 'nope'"):
        acceptance_data(session, "nope")
    with pytest.raises(InputError, match=r"\[99999\]"):
        acceptance_data(session, "DR3", run_ids=[99999])


def test_overall_is_pass_or_incomplete_without_failures(session):
    dev = build_acceptance(session)
    data = acceptance_data(session, dev)
    ids = {t.kind: t.run_id for t in data.tests}
    assert acceptance_data(session, dev, run_ids=[ids["dr.dark_noise"]]).overall == "PASS"
    # a not_evaluated verdict leaves the report incomplete, never a silent pass
    assert acceptance_data(session, dev, run_ids=[ids["dr.dark_noise"], ids["dr.signal_transfer"]]).overall \
        == "INCOMPLETE"


def test_rows_join_measurements_and_verdicts(session):
    dev = build_acceptance(session)
    res = acceptance_data(session, dev).tests[2]
    got = [(r.label, r.status, r.origin, r.reference_kind) for r in res.rows]
    # horizontal has a profile verdict then the site tolerance; vertical one failing verdict
    assert got == [("horizontal", "pass", "profile", "spec"), ("horizontal", "tolerance", "site", "baseline"),
                   ("vertical", "fail", "profile", "spec")]


@pytest.mark.parametrize("limits, ref, expected", [
    (_rule("<=", 200.0), None, (True, None, 200.0, None, None)),
    (_rule("range", low=-7.0, high=7.0), None, (True, -7.0, 7.0, None, None)),
    # |x - b| <= 4 around a baseline of 2: [-2, 6]
    (_rule("abs<=", 4.0, reference="baseline", deviation="difference"), 2.0, (True, -2.0, 6.0, None, None)),
    # |(x - b)/b| <= 50 % with b = 10: [5, 15]
    (_rule("abs<=", 50.0, reference="baseline", deviation="percent"), 10.0, (True, 5.0, 15.0, None, None)),
    # x/spec >= 0.9 with spec 3.6: [3.24, open)
    (_rule(">=", 0.9, reference="spec", deviation="ratio"), 3.6, (True, 3.24, None, None, None)),
    # a baseline-relative rule without its reference gives no band
    (_rule("abs<=", 50.0, reference="baseline", deviation="percent"), None, (False, None, None, None, None)),
    ({"mode": "percent", "act_low": -10.0, "tol_low": -5.0, "tol_high": 5.0, "act_high": 10.0}, 4.0,
     (True, 3.8, 4.2, 3.6, 4.4)),
    # a negative baseline (-20 HU, e.g.) reverses the ends: -5 % of -20 is -19, +5 % is -21
    ({"mode": "percent", "act_low": -10.0, "tol_low": -5.0, "tol_high": 5.0, "act_high": 10.0}, -20.0,
     (True, -21.0, -19.0, -22.0, -18.0)),
    ({"mode": "absolute", "act_low": None, "tol_low": None, "tol_high": 3.0, "act_high": 5.0}, None,
     (True, None, 3.0, None, 5.0)),
    (None, 1.0, (False, None, None, None, None)),
])
def test_acceptable_band(limits, ref, expected):
    got = acceptable_band(limits, ref)
    assert got[0] == expected[0]
    for g, e in zip(got[1:], expected[1:]):
        # 1e-12: the inverse deviations are one multiplication or addition, exact to rounding
        assert (g is None and e is None) or g == pytest.approx(e, abs=1e-12)


# --------------------------------------------------------------------------------------------------
# acceptance PDF


def _n_pages(pdf: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf.read_bytes()))


def test_table_rows_carry_every_value_and_verdict(session):
    from phantomqc.report.acceptance import acceptance_table_rows, failing_rows

    data = acceptance_data(session, build_acceptance(session))
    cells = [r["cells"] for t in data.tests for r in acceptance_table_rows(t)]
    values = [c[2] for c in cells]
    assert values == ["102.4 ± 0.4125", "3.142", "0.9987", "48.25 ± 0.6100", "3.580", "3.580", "2.210"]
    assert [c[7] for c in cells] == ["PASS", "info", "PASS", "NOT EVAL.", "PASS", "TOLERANCE", "FAIL"]
    assert cells[2][4] == "x ≥ 0.98 †"  # unconfirmed limit marked
    assert "needs a manufacturer specification" in cells[3][4]
    assert cells[4][5] == "spec 3.600"
    assert failing_rows(data) == [["3. dr.limiting_resolution", "dr.limiting_resolution.lp_per_mm [vertical]",
                                   "2.210 lp/mm", "x/spec ≥ 0.9", "FAIL"]]


def test_acceptance_pdf_pages_and_text(session, tmp_path):
    from phantomqc.report.acceptance import render_acceptance_pdf

    data = acceptance_data(session, build_acceptance(session))
    out = render_acceptance_pdf(data, tmp_path / "sub" / "report.pdf")
    raw = out.read_bytes()
    assert raw.startswith(b"%PDF-") and raw.rstrip().endswith(b"%%EOF")
    # the cover, then one page per test (each starts a page; these tables and figures fit on one)
    assert _n_pages(out) == 1 + 3
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed (scripts/install-system-packages.sh installs it): the "
                    "page count was checked, not the text")
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True,
                          check=True).stdout
    text = " ".join(text.split())  # pdftotext spaces out large type ("Overall   result:"): compare words
    for s in ("102.4 ± 0.4125", "3.142", "0.9987", "48.25 ± 0.6100", "3.580", "2.210", "Overall result: FAIL",
              "Page 4 of 4", "Physicist", "Approved by", "DR0042", "uDR 780i"):
        assert s in text, s
    failing = text.split("Failing verdicts", 1)[1].split("Signatures", 1)[0]
    # the failing verdict is listed on the cover (and only it: the horizontal label passed)
    assert "dr.limiting_resolution.lp_per_mm" in failing and "[vertical]" in failing and "2.210 lp/mm" in failing
    assert "FAIL" in failing and "horizontal" not in failing


def test_long_table_continues_on_next_page(session, tmp_path):
    from phantomqc.report.acceptance import render_acceptance_pdf

    data = acceptance_data(session, build_acceptance(session, long_table_rows=50))
    out = render_acceptance_pdf(data, tmp_path / "long.pdf", signatories=())
    # 53 table rows of about 0.17 in (one line each) need more than the 8.5 in left under the test's header:
    # the third test takes at least two pages, so the report has at least 1 + 2 + 2 pages
    assert _n_pages(out) >= 5
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
        assert "dr.limiting_resolution (continued)" in text
        assert "f=5.0" in text  # the last row


# --------------------------------------------------------------------------------------------------
# period report


def build_period(s: Session) -> Site:
    """Hand-counted October 2026 of one site:

    - CT 1: 10 runs in October: 8 pass, 1 fail (rejected review), 1 incomplete -> 80 %;
    - MR 1: 5 runs in October: 3 pass, 1 fail (pending), 1 error -> 60 %; plus one run on 30 September 23:59
      and one on 1 November 00:00, both outside the period;
    - PET 1: no run -> no pass rate;
    - a device of another site with a failing October run, which must not appear.
    Site: 15 runs, 11 pass -> 73.33 %.
    """
    site, other = Site(name="Hospital A"), Site(name="Hospital B")
    s.add_all([site, other])
    s.flush()
    ct = Device(key="ct1", site_id=site.id, name="CT 1", modality="CT")
    mr = Device(key="mr1", site_id=site.id, name="MR 1", modality="MR")
    pet = Device(key="pet1", site_id=site.id, name="PET 1", modality="PT")
    far = Device(key="ctb", site_id=other.id, name="CT B", modality="CT")
    s.add_all([ct, mr, pet, far])
    s.flush()
    day = dt.datetime(2026, 10, 1, 8, 0)
    water = [("ct.water.mean_hu", "", 1.0, "HU", None)]
    ok = [_verdict("ct.water.mean_hu", "pass", "|x| ≤ 4 HU", _rule("abs<=", 4.0))]
    for k in range(8):
        _run(s, ct, "ct.catphan", day + dt.timedelta(days=k), "pass", meas=water, verd=ok)
    _run(s, ct, "ct.catphan", day + dt.timedelta(days=8), "fail",
         meas=[("ct.water.mean_hu", "", 7.5, "HU", None)],
         verd=[_verdict("ct.water.mean_hu", "fail", "|x| ≤ 4 HU", _rule("abs<=", 4.0), value=7.5)],
         review=("rejected", "Dr. Wang", "water out of range; recalibrated"))
    _run(s, ct, "ct.catphan", dt.datetime(2026, 10, 31, 23, 30), "incomplete", meas=water,
         verd=[_verdict("ct.water.mean_hu", "not_evaluated", "|x − baseline| ≤ 4 HU", None,
                        reason="needs a baseline")])
    for k in range(3):
        _run(s, mr, "mr.acr", day + dt.timedelta(days=k, hours=1), "pass")
    _run(s, mr, "mr.acr", day + dt.timedelta(days=5), "fail",
         meas=[("mr.uniformity.piu_percent", "", 80.0, "%", None)],
         verd=[_verdict("mr.uniformity.piu_percent", "fail", "x ≥ 87.5 %", _rule(">=", 87.5), value=80.0)])
    err = _run(s, mr, "mr.acr", day + dt.timedelta(days=6), "error")
    err.error = {"type": "PhantomNotFoundError", "message": "no ACR phantom in series 3"}
    _run(s, mr, "mr.acr", dt.datetime(2026, 9, 30, 23, 59), "fail")
    _run(s, mr, "mr.acr", dt.datetime(2026, 11, 1, 0, 0), "fail")
    _run(s, far, "ct.catphan", day, "fail")
    s.add(ServiceEvent(device_id=ct.id, at=day + dt.timedelta(days=9), kind="repair",
                       description="tube replaced", recorded_by="engineer"))
    s.add(Baseline(device_id=ct.id, metric="ct.water.mean_hu", value=1.0, unit="HU"))
    s.flush()
    return site


def test_period_pass_rates_hand_counted(db_url):
    engine = open_engine(db_url)
    with Session(engine) as s:
        build_period(s)
        d = period_data(s, "Hospital A", dt.date(2026, 10, 1), dt.date(2026, 10, 31),
                        as_of=dt.datetime(2026, 10, 31, 23, 59))
        by = {r.device.name: r for r in d.devices}
        assert set(by) == {"CT 1", "MR 1", "PET 1"}
        ct, mr, pet = by["CT 1"], by["MR 1"], by["PET 1"]
        assert (ct.n_runs, ct.n_pass, ct.n_fail, ct.n_incomplete, ct.n_error) == (10, 8, 1, 1, 0)
        assert (mr.n_runs, mr.n_pass, mr.n_fail, mr.n_incomplete, mr.n_error) == (5, 3, 1, 0, 1)
        # exact ratios of small integers: 8/10, 3/5, 11/15
        assert ct.pass_rate_percent == pytest.approx(80.0, abs=1e-9)
        assert mr.pass_rate_percent == pytest.approx(60.0, abs=1e-9)
        assert pet.n_runs == 0 and pet.pass_rate_percent is None
        assert (d.totals.n_runs, d.totals.n_pass) == (15, 11)
        assert d.totals.pass_rate_percent == pytest.approx(100.0 * 11 / 15, abs=1e-9)
        # pending reviews: CT incomplete, MR fail, MR error
        assert d.totals.n_pending_review == 3
        # non-passing runs, failures first (then by date): MR fail (6 Oct), CT fail (9 Oct, rejected, with its
        # comment), MR error, CT incomplete
        assert [(n.device, n.status) for n in d.non_passing] == [("MR 1", "fail"), ("CT 1", "fail"),
                                                                  ("MR 1", "error"), ("CT 1", "incomplete")]
        first = d.non_passing[1]
        assert first.review.state == "rejected" and first.review.comment == "water out of range; recalibrated"
        assert first.findings == ("fail: ct.water.mean_hu = 7.5 HU; |x| ≤ 4 HU",)
        assert "PhantomNotFoundError" in d.non_passing[2].findings[0]
        assert [e.description for e in d.service_events] == ["tube replaced"]
    engine.dispose()


def test_period_overdue_from_schedules(session):
    site = build_period(session)
    pet = session.query(Device).filter_by(key="pet1").one()
    # a daily check from 20 October with nothing done: every working day 20-30 October missed (9 days)
    session.add(Schedule(device_id=pet.id, kind="pet.daily_qc", rrule="FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR",
                         dtstart=dt.datetime(2026, 10, 20, 8, 0), window_after_h=24.0, cutoff="10:00"))
    session.flush()
    d = period_data(session, site, dt.date(2026, 10, 1), dt.date(2026, 10, 31),
                    as_of=dt.datetime(2026, 10, 31, 23, 59))
    assert d.overdue is not None, d.overdue_message
    (row,) = d.overdue
    assert (row.device, row.kind) == ("PET 1", "pet.daily_qc")
    # 20-23, 26-30 October: 9 working days, all before the 31st 23:59
    assert [m[0].date() for m in row.missed] == [dt.date(2026, 10, k) for k in (20, 21, 22, 23, 26, 27, 28, 29, 30)]


def test_period_without_schedules_module(session, monkeypatch):
    site = build_period(session)
    monkeypatch.setitem(sys.modules, "phantomqc.programme.schedules", None)  # import now raises ImportError
    d = period_data(session, site, dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    assert d.overdue is None and "schedules not available" in d.overdue_message


def test_period_rejects_reversed_dates(session):
    build_period(session)
    with pytest.raises(InputError, match="before it starts"):
        period_data(session, "Hospital A", dt.date(2026, 10, 31), dt.date(2026, 10, 1))
    with pytest.raises(InputError, match="Hospital A"):  # the message lists the known sites
        period_data(session, "Hospital Z", dt.date(2026, 10, 1), dt.date(2026, 10, 31))


def test_period_html_lists_rates_failures_and_reviews(session, tmp_path):
    from phantomqc.report.period import render_period_html

    site = build_period(session)
    d = period_data(session, site, dt.date(2026, 10, 1), dt.date(2026, 10, 31),
                    as_of=dt.datetime(2026, 10, 31, 23, 59))
    out = render_period_html(d, tmp_path / "period.html")
    html = out.read_text(encoding="utf-8")
    for s in ("80.0 %", "60.0 %", "73.3 %", "water out of range; recalibrated", "Dr. Wang", "no ACR phantom",
              "tube replaced", "PET 1"):
        assert s in html, s
    assert "<script" not in html and "http://" not in html and "https://" not in html  # self-contained


# --------------------------------------------------------------------------------------------------
# command line


def _cli(argv: list[str]) -> int:
    import argparse

    from phantomqc.cli_programme_report import register

    p = argparse.ArgumentParser(prog="phantomqc")
    register(p.add_subparsers(dest="verb"))
    args = p.parse_args(argv)
    return args.func(args)


def test_cli_writes_both_reports(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    engine = open_engine(url)
    with Session(engine) as s:
        build_acceptance(s)
        build_period(s)
        s.commit()
    engine.dispose()
    assert _cli(["report", "acceptance", "DR3", "--out", str(tmp_path / "a.pdf"), "--db", url]) == 0
    assert "overall FAIL" in capsys.readouterr().out
    assert _n_pages(tmp_path / "a.pdf") == 4
    # --from/--to as months: the whole of October
    assert _cli(["report", "period", "--site", "Hospital A", "--from", "2026-10", "--to", "2026-10",
                 "--out", str(tmp_path / "p.pdf"), "--db", url]) == 0
    assert "15 checks, pass rate 73.3 %" in capsys.readouterr().out
    assert (tmp_path / "p.pdf").read_bytes().startswith(b"%PDF-")
    assert _cli(["report", "period", "--site", "Hospital A", "--from", "2026-10-01", "--to", "2026-10-31",
                 "--out", str(tmp_path / "p.html"), "--db", url]) == 0
    assert "73.3 %" in (tmp_path / "p.html").read_text(encoding="utf-8")
    # errors name the cause and exit 2
    assert _cli(["report", "acceptance", "nope", "--out", str(tmp_path / "x.pdf"), "--db", url]) == 2
    assert "no device named 'nope'" in capsys.readouterr().err
    assert _cli(["report", "period", "--site", "Hospital A", "--from", "October", "--to", "2026-10",
                 "--out", str(tmp_path / "x.html"), "--db", url]) == 2
    assert "not a date: 'October'" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# with runs recorded by the store (the rules and limits as the store keeps them)


def test_acceptance_report_of_store_recorded_runs(tmp_path):
    from phantomqc.programme.store import Store
    from phantomqc.report.acceptance import acceptance_table_rows, render_acceptance_pdf

    from ._results import ct_water_result

    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    st = Store(url, actor="physicist")
    st.record([ct_water_result(0.4, uid="1", test_type="acceptance")], site="Site A")
    st.set_tolerance("Site A", "ct.water.mean_hu", act_low=-4, tol_low=-2, tol_high=2, act_high=4)
    # a later acceptance run of the same kind replaces the first in the report; it crosses the site tolerance
    st.record([ct_water_result(2.5, uid="2", test_type="acceptance", when="2026-01-06T08:00:00")])
    with st.session() as s:
        data = acceptance_data(s, "CT1")
        (test,) = data.tests
        rows = {(r.metric, r.origin): r for r in test.rows}
        water = rows[("ct.water.mean_hu", "profile")]
        assert water.value == 2.5 and water.status == "pass"
        # the store's rule for ws519-2019 acceptance water is a fixed interval around 0 HU: a band was derived
        assert water.has_band and water.band_low is not None and water.band_high is not None
        assert water.band_low < 0.0 < water.band_high
        site = rows[("ct.water.mean_hu", "site")]
        # absolute site levels give the tolerance band [-2, 2] and action levels [-4, 4] as stored
        assert (site.status, site.band_low, site.band_high, site.action_low, site.action_high) == \
            ("tolerance", -2.0, 2.0, -4.0, 4.0)
        assert data.overall == "INCOMPLETE" and data.profiles[0].profile_id == "ws519-2019"
        assert any(c["cells"][7] == "TOLERANCE" for c in acceptance_table_rows(test))
        out = render_acceptance_pdf(data, tmp_path / "ct.pdf")
    assert _n_pages(out) == 2


def test_values_without_a_limit_are_information_not_open_findings(tmp_path):
    """A verdict that only says "the profile has no limit for this metric" is neither a finding of a run that did
    not pass nor an open item of the acceptance report: the value is shown with no status."""
    from phantomqc.programme.period import acceptance_data
    from phantomqc.programme.store import Store
    from programme._results import ct_water_result

    st = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    r = ct_water_result(9.0, uid="1", test_type="acceptance")  # 9 HU > 6 HU: fails
    from dataclasses import replace

    from phantomqc.core.types import Measurement, Verdict

    extra = Measurement("ct.noise.sd_hu", 3.0, "HU")
    info = Verdict(measurement="ct.noise.sd_hu", label=None, status="not_evaluated", criterion="—", source="x",
                   reason="the profile has no limit for this metric in an acceptance test", value=3.0, unit="HU",
                   test_type="acceptance", has_criterion=False)
    r = replace(r, measurements=r.measurements + (extra,), verdicts=r.verdicts + (info,))
    st.record([r], site="A")
    findings = st.review_queue("A")[0]["findings"]
    assert findings and not any("ct.noise.sd_hu" in f for f in findings)
    with st.session() as s:
        data = acceptance_data(s, "CT1")
    row = next(x for t in data.tests for x in t.rows if x.metric == "ct.noise.sd_hu")
    assert row.status == "" and row.value == 3.0
    assert data.tests[0].count("not_evaluated") == 0
