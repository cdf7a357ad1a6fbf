"""QC schedules (issue 7, section 3): presets, QC windows, due / overdue / expected-but-missing, the due report.

Calendar used throughout (November 2026)::

    Mo Tu We Th Fr Sa Su
                       1
     2  3  4  5  6  7  8
     9 10 11 12 13 14 15
    16 17 18 19 20 21 22
    23 24 25 26 27 28 29
    30

Times are exact datetimes (no tolerance needed anywhere).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import types

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from phantomqc._shared.errors import InputError
from phantomqc.cli_programme_due import register
from phantomqc.programme.db import open_engine
from phantomqc.programme.models import AnalysisRun, AuditEntry, Device, Schedule, Site
from phantomqc.programme.schedules import (
    add_schedule,
    due_report,
    list_schedules,
    next_due,
    occurrences,
    resolve_rule,
    status_on,
)

D = dt.datetime
H = dt.timedelta(hours=1)
S1 = dt.timedelta(seconds=1)
_keys = itertools.count()


def _sched(rule: str, dtstart: D, *, before: float = 0.0, after: float = 24.0, cutoff: str = "",
           device_id: int = 1, kind: str = "dr.daily") -> types.SimpleNamespace:
    """A schedule for the pure core (no database): the same attributes as ``models.Schedule``."""
    return types.SimpleNamespace(rrule=resolve_rule(rule, dtstart), dtstart=dtstart, window_before_h=before,
                                 window_after_h=after, cutoff=cutoff, device_id=device_id, kind=kind)


def _run(at: D, *, status: str = "pass", device_id: int = 1, kind: str = "dr.daily") -> types.SimpleNamespace:
    return types.SimpleNamespace(id=next(_keys), acquired_at=at, status=status, device_id=device_id, kind=kind)


def _states(statuses) -> dict[D, str]:
    return {s.due: s.state for s in statuses}


# --------------------------------------------------------------------------------------------------------------
# presets over a known calendar
# --------------------------------------------------------------------------------------------------------------

NOV_WORKING_DAYS = [2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 16, 17, 18, 19, 20, 23, 24, 25, 26, 27, 30]


@pytest.mark.parametrize("preset, dtstart, start, end, rule, expected", [
    # working days only: the weekends (7-8, 14-15, 21-22, 28-29) and Sunday 1 are absent; the month ends Monday 30
    ("daily", D(2026, 11, 1, 0, 0), D(2026, 11, 1), D(2026, 11, 30, 23, 59),
     "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", [D(2026, 11, d) for d in NOV_WORKING_DAYS]),
    # every day, weekend included, across the month end
    ("daily-all", D(2026, 11, 1, 8, 0), D(2026, 11, 27), D(2026, 12, 2, 8, 0),
     "FREQ=DAILY", [D(2026, 11, 27, 8), D(2026, 11, 28, 8), D(2026, 11, 29, 8), D(2026, 11, 30, 8),
                    D(2026, 12, 1, 8), D(2026, 12, 2, 8)]),
    # the weekday of dtstart (Tuesday 3 November)
    ("weekly", D(2026, 11, 3, 7, 30), D(2026, 11, 1), D(2026, 12, 1, 23, 0),
     "FREQ=WEEKLY;BYDAY=TU", [D(2026, 11, d, 7, 30) for d in (3, 10, 17, 24)] + [D(2026, 12, 1, 7, 30)]),
    # the 31st falls back to each month's last day (February 28, April 30), never skipping a month
    ("monthly", D(2026, 1, 31), D(2026, 1, 1), D(2026, 5, 31),
     "FREQ=MONTHLY;BYMONTHDAY=28,29,30,31;BYSETPOS=-1",
     [D(2026, 1, 31), D(2026, 2, 28), D(2026, 3, 31), D(2026, 4, 30), D(2026, 5, 31)]),
    ("monthly", D(2026, 11, 2), D(2026, 11, 1), D(2027, 1, 31), "FREQ=MONTHLY;BYMONTHDAY=2",
     [D(2026, 11, 2), D(2026, 12, 2), D(2027, 1, 2)]),
    ("quarterly", D(2026, 1, 31), D(2026, 1, 1), D(2027, 1, 31),
     "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=28,29,30,31;BYSETPOS=-1",
     [D(2026, 1, 31), D(2026, 4, 30), D(2026, 7, 31), D(2026, 10, 31), D(2027, 1, 31)]),
    ("half-yearly", D(2026, 8, 31), D(2026, 1, 1), D(2027, 12, 31),
     "FREQ=MONTHLY;INTERVAL=6;BYMONTHDAY=28,29,30,31;BYSETPOS=-1",
     [D(2026, 8, 31), D(2027, 2, 28), D(2027, 8, 31)]),
    # 29 February falls back to the 28th in common years
    ("yearly", D(2024, 2, 29), D(2024, 1, 1), D(2028, 12, 31),
     "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=28,29;BYSETPOS=-1",
     [D(2024, 2, 29), D(2025, 2, 28), D(2026, 2, 28), D(2027, 2, 28), D(2028, 2, 29)]),
])
def test_presets_give_the_calendar_dates(preset, dtstart, start, end, rule, expected):
    sch = _sched(preset, dtstart)
    assert sch.rrule == rule
    assert [o.due for o in occurrences(sch, start, end)] == expected


def test_raw_rrule_is_accepted_with_or_without_prefix():
    for text in ("FREQ=WEEKLY;BYDAY=MO,TH", "RRULE:FREQ=WEEKLY;BYDAY=MO,TH"):
        sch = _sched(text, D(2026, 11, 1))
        assert sch.rrule == "FREQ=WEEKLY;BYDAY=MO,TH"
        assert [o.due.day for o in occurrences(sch, D(2026, 11, 1), D(2026, 11, 15))] == [2, 5, 9, 12]


@pytest.mark.parametrize("bad, words", [
    ("FREQ=FORTNIGHTLY", "FREQ"),
    ("FREQ=DAILY;BYDAY=XX", "BYDAY"),
    ("every tuesday", "not a valid RFC 5545"),
    ("FREQ=HOURLY", "at most daily"),
    ("FREQ=DAILY;COUNT=0", "never occurs"),
    ("FREQ=DAILY;UNTIL=20261231T000000Z", "without 'Z'"),
    ("DTSTART:20261101T000000\nRRULE:FREQ=DAILY", "single RRULE"),
    ("", "single RRULE"),
])
def test_bad_rrule_is_a_clear_error_naming_the_rule(bad, words):
    with pytest.raises(InputError) as info:
        resolve_rule(bad, D(2026, 11, 1))
    msg = str(info.value)
    assert repr(bad) in msg and words in msg


# --------------------------------------------------------------------------------------------------------------
# windows, cut-offs and states (pure core)
# --------------------------------------------------------------------------------------------------------------

def test_window_edges_count_and_one_second_outside_does_not():
    # weekly, due Tuesday 3 Nov 08:00, window [Tue 06:00, Thu 08:00]
    sch = _sched("weekly", D(2026, 11, 3, 8), before=2.0, after=48.0)
    due = D(2026, 11, 3, 8)
    w0, w1 = due - 2 * H, due + 48 * H
    as_of = D(2026, 11, 6)
    for at, counts in [(w0 - S1, False), (w0, True), (w1, True), (w1 + S1, False)]:
        st = status_on(sch, [_run(at)], as_of)
        first = st[0]
        assert (first.due, first.window_start, first.window_end) == (due, w0, w1)
        assert (first.state == "done") is counts, at
        assert first.state == ("done" if counts else "overdue")


def test_missed_working_day_is_expected_missing_after_the_cutoff_not_before():
    # daily working-day check, due 00:00, expected by 10:00; done Monday 2 and Wednesday 4, missing Tuesday 3
    sch = _sched("daily", D(2026, 11, 2), after=24.0, cutoff="10:00")
    runs = [_run(D(2026, 11, 2, 8, 15)), _run(D(2026, 11, 4, 9, 0))]
    tue = D(2026, 11, 3)
    assert _states(status_on(sch, runs, D(2026, 11, 3, 10, 0)))[tue] == "due"  # at the cut-off: still due
    assert _states(status_on(sch, runs, D(2026, 11, 3, 10, 0, 1)))[tue] == "expected_missing"
    later = status_on(sch, runs, D(2026, 11, 4, 12, 0))
    assert _states(later) == {D(2026, 11, 2): "done", tue: "expected_missing", D(2026, 11, 4): "done",
                              D(2026, 11, 5): "upcoming"}
    # the Wednesday result advances the due date past the missed Tuesday
    assert next_due(later).due == D(2026, 11, 5)
    # a run after the Tuesday cut-off but inside its window is done, and late
    st = _states(status_on(sch, runs + [_run(D(2026, 11, 3, 14, 0))], D(2026, 11, 4, 12, 0)))
    assert st[tue] == "done"
    assert [s.late for s in status_on(sch, runs + [_run(D(2026, 11, 3, 14, 0))], D(2026, 11, 4, 12))
            if s.due == tue] == [True]


def test_weekend_is_never_expected_for_working_day_checks():
    sch = _sched("daily", D(2026, 11, 2), cutoff="10:00")
    runs = [_run(D(2026, 11, d, 9)) for d in (2, 3, 4, 5, 6)]
    st = status_on(sch, runs, D(2026, 11, 8, 23))  # Sunday night
    assert set(_states(st).values()) == {"done", "upcoming"}
    assert next_due(st).due == D(2026, 11, 9)


def test_weekly_check_a_day_late_inside_its_window_is_done():
    sch = _sched("weekly", D(2026, 11, 3), after=72.0)
    st = status_on(sch, [_run(D(2026, 11, 4, 15, 0))], D(2026, 11, 5))
    assert st[0].state == "done" and st[0].run_acquired_at == D(2026, 11, 4, 15, 0)
    assert not st[0].late  # no HH:MM cut-off: the cut-off is the window end
    assert next_due(st).due == D(2026, 11, 10)


def test_monthly_goes_from_due_to_overdue_when_its_window_closes():
    sch = _sched("monthly", D(2026, 10, 1), after=7 * 24.0)
    runs = [_run(D(2026, 10, 3))]
    nov1 = D(2026, 11, 1)
    assert _states(status_on(sch, runs, D(2026, 10, 31)))[nov1] == "upcoming"
    assert _states(status_on(sch, runs, D(2026, 11, 5)))[nov1] == "due"
    assert _states(status_on(sch, runs, D(2026, 11, 8)))[nov1] == "due"  # window end 8 Nov 00:00 included
    st = status_on(sch, runs, D(2026, 11, 8, 0, 0, 1))
    assert _states(st)[nov1] == "overdue"
    assert next_due(st).due == nov1 and next_due(st).state == "overdue"
    # a run after the window closed satisfies nothing: still overdue
    assert _states(status_on(sch, runs + [_run(D(2026, 11, 20))], D(2026, 11, 21)))[nov1] == "overdue"


def test_a_result_inside_the_window_advances_the_due_date_and_one_before_it_does_not():
    # weekly, due Tuesday 3 Nov 08:00, window from 1 day before to 2 days after
    sch = _sched("weekly", D(2026, 11, 3, 8), before=24.0, after=48.0)
    as_of = D(2026, 11, 2, 12)
    assert next_due(status_on(sch, [], as_of)).due == D(2026, 11, 3, 8)
    # Monday 1 Nov 07:59: before the window opens (Mon 2 Nov 08:00): nothing moves
    early = status_on(sch, [_run(D(2026, 11, 2, 7, 59))], as_of)
    assert next_due(early).due == D(2026, 11, 3, 8) and next_due(early).state == "due"
    # inside the window, before the due time: the due date moves to the next Tuesday
    inside = status_on(sch, [_run(D(2026, 11, 2, 9, 0))], as_of)
    assert next_due(inside).due == D(2026, 11, 10, 8) and next_due(inside).state == "upcoming"
    # missed two weeks, then done in the window of 24 Nov: the next due is 1 Dec, not the missed 10 or 17 Nov
    st = status_on(sch, [_run(D(2026, 11, 3, 9)), _run(D(2026, 11, 24, 9))], D(2026, 11, 25))
    assert _states(st)[D(2026, 11, 10, 8)] == "overdue" and _states(st)[D(2026, 11, 17, 8)] == "overdue"
    assert next_due(st).due == D(2026, 12, 1, 8)


def test_error_runs_and_other_devices_or_kinds_do_not_count():
    sch = _sched("weekly", D(2026, 11, 3), after=48.0)
    at = D(2026, 11, 3, 9)
    for run in (_run(at, status="error"), _run(at, device_id=2), _run(at, kind="ct.catphan")):
        assert status_on(sch, [run], D(2026, 11, 4))[0].state == "due"
    for status in ("pass", "fail", "incomplete"):  # a failed check was still performed
        assert status_on(sch, [_run(at, status=status)], D(2026, 11, 4))[0].state == "done"
    # a run acquired after as_of is not known yet
    assert status_on(sch, [_run(D(2026, 11, 4, 12))], D(2026, 11, 4, 11))[0].state == "due"


def test_one_run_satisfies_one_occurrence_the_nearest():
    # daily-all, windows 2 h before to 24 h after: Monday's is [Sun 22:00, Tue 00:00], Tuesday's [Mon 22:00,
    # Wed 00:00]; they overlap from Mon 22:00 to Tue 00:00
    sch = _sched("daily-all", D(2026, 11, 2), before=2.0, after=24.0)
    st = _states(status_on(sch, [_run(D(2026, 11, 2, 23, 0))], D(2026, 11, 3, 12)))
    # 23:00 Monday is 23 h after Monday's due and 1 h before Tuesday's: it is Tuesday's check, Monday is missed
    assert st[D(2026, 11, 2)] == "expected_missing" and st[D(2026, 11, 3)] == "done"


def test_cutoff_before_the_due_time_of_day_means_the_next_day_and_is_clamped_to_the_window():
    sch = _sched("daily-all", D(2026, 11, 2, 20, 0), after=16.0, cutoff="06:00")
    o = occurrences(sch, D(2026, 11, 2), D(2026, 11, 2, 23))[0]
    assert o.cutoff_at == D(2026, 11, 3, 6, 0)
    sch = _sched("daily-all", D(2026, 11, 2, 8, 0), after=1.0, cutoff="10:00")
    assert occurrences(sch, D(2026, 11, 2), D(2026, 11, 2, 23))[0].cutoff_at == D(2026, 11, 2, 9, 0)


# --------------------------------------------------------------------------------------------------------------
# the store
# --------------------------------------------------------------------------------------------------------------

@pytest.fixture()
def session(db_url):
    """A session on a fresh store, on SQLite (a file in tmp_path) and on PostgreSQL (``conftest.db_url``)."""
    engine = open_engine(db_url)
    with Session(engine) as s:
        yield s
    engine.dispose()


def _site_device(session, site: str, name: str, modality: str = "DR") -> Device:
    st = session.scalar(select(Site).where(Site.name == site))
    if st is None:
        st = Site(name=site)
        session.add(st)
        session.flush()
    dev = Device(key=f"{site}/{name}", site_id=st.id, name=name, modality=modality)
    session.add(dev)
    session.flush()
    return dev


def _store_run(session, dev: Device, kind: str, at: D, status: str = "pass") -> AnalysisRun:
    run = AnalysisRun(device_id=dev.id, site_id=dev.site_id, kind=kind, acquired_at=at, status=status,
                      input_key=f"k{next(_keys)}", config_hash="c", phantomqc_version="0.1.0", input={})
    session.add(run)
    session.flush()
    return run


def test_add_schedule_is_audited_and_refuses_a_duplicate_unless_replaced(session):
    dev = _site_device(session, "North", "DR room 3")
    row = add_schedule(session, dev.id, "dr.dark_noise", "daily", dtstart=D(2026, 11, 2), cutoff="10:00",
                       actor="alice")
    session.commit()
    assert (row.rrule, row.window_before_h, row.window_after_h, row.cutoff) == \
        ("FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", 0.0, 24.0, "10:00")
    audit = session.scalars(select(AuditEntry)).all()
    assert [(a.actor, a.action, a.entity, a.entity_id, a.site_id) for a in audit] == \
        [("alice", "schedule.add", "schedule", row.id, dev.site_id)]
    assert audit[0].detail["rule"] == "daily" and audit[0].detail["rrule"] == row.rrule
    with pytest.raises(InputError, match="already has a schedule"):
        add_schedule(session, dev.id, "dr.dark_noise", "weekly", dtstart=D(2026, 11, 2), actor="bob")
    add_schedule(session, dev.id, "dr.dark_noise", "weekly", dtstart=D(2026, 11, 2), actor="bob", replace=True)
    session.commit()
    last = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (last.actor, last.action) == ("bob", "schedule.replace")
    assert last.detail["previous"]["rrule"] == "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR"
    assert session.scalars(select(Schedule)).one().rrule == "FREQ=WEEKLY;BYDAY=MO"
    # the default window by frequency: weekly = 72 h
    assert session.scalars(select(Schedule)).one().window_after_h == 72.0


def test_add_schedule_rejects_bad_input_and_writes_nothing(session):
    dev = _site_device(session, "North", "DR room 3")
    session.commit()
    with pytest.raises(InputError, match="'FREQ=DAILY;BYDAY=XX'"):
        add_schedule(session, dev.id, "dr.dark_noise", "FREQ=DAILY;BYDAY=XX", dtstart=D(2026, 11, 2), actor="a")
    with pytest.raises(InputError, match="HH:MM"):
        add_schedule(session, dev.id, "dr.dark_noise", "daily", dtstart=D(2026, 11, 2), cutoff="25:00", actor="a")
    with pytest.raises(InputError, match="no device"):
        add_schedule(session, 999, "dr.dark_noise", "daily", dtstart=D(2026, 11, 2), actor="a")
    with pytest.raises(InputError, match="window"):
        add_schedule(session, dev.id, "dr.dark_noise", "daily", dtstart=D(2026, 11, 2), window_after_h=-1.0,
                     actor="a")
    session.rollback()
    assert session.scalars(select(Schedule)).all() == [] and session.scalars(select(AuditEntry)).all() == []


def _two_sites(session):
    """North: DR daily (Tuesday 3 Nov missed) and CT monthly (November overdue); South: MR weekly, done."""
    dr = _site_device(session, "North", "DR room 3")
    ct = _site_device(session, "North", "CT 1", "CT")
    mr = _site_device(session, "South", "MR 1", "MR")
    add_schedule(session, dr.id, "dr.dark_noise", "daily", dtstart=D(2026, 11, 2), cutoff="10:00", actor="t")
    add_schedule(session, ct.id, "ct.catphan", "monthly", dtstart=D(2026, 10, 1), window_after_h=7 * 24.0,
                 actor="t")
    add_schedule(session, mr.id, "mr.acr", "weekly", dtstart=D(2026, 11, 2), actor="t")
    for d in (2, 4, 5, 6, 9):
        _store_run(session, dr, "dr.dark_noise", D(2026, 11, d, 8, 30))
    _store_run(session, dr, "dr.dark_noise", D(2026, 11, 10, 8, 0), status="error")  # does not count
    _store_run(session, ct, "ct.catphan", D(2026, 10, 2, 9))
    _store_run(session, mr, "mr.acr", D(2026, 11, 3, 16))  # a day late, inside the 72 h window
    _store_run(session, mr, "mr.acr", D(2026, 11, 9, 16))
    session.commit()
    return dr, ct, mr


def test_due_report_marks_missing_and_overdue_and_sorts_most_urgent_first(session):
    _two_sites(session)
    rows = due_report(session, D(2026, 11, 10, 12, 0), lookback_days=31)
    got = [(r.site, r.device_name, r.kind, r.state, r.next_due) for r in rows]
    assert got == [
        # 1 Nov (window closed 8 Nov) is older than the DR's 10 Nov, missing since its 10:00 cut-off
        ("North", "CT 1", "ct.catphan", "overdue", D(2026, 11, 1)),
        ("North", "DR room 3", "dr.dark_noise", "expected_missing", D(2026, 11, 10)),
        ("South", "MR 1", "mr.acr", "upcoming", D(2026, 11, 16)),
    ]
    ct, dr, mr = rows
    assert [(m.due, m.state) for m in dr.missed] == [(D(2026, 11, 3), "expected_missing"),
                                                    (D(2026, 11, 10), "expected_missing")]
    assert dr.last_done == D(2026, 11, 9, 8, 30)
    assert [(m.due, m.state) for m in ct.missed] == [(D(2026, 11, 1), "overdue")]
    assert ct.last_done == D(2026, 10, 2, 9)
    assert mr.missed == () and mr.last_done == D(2026, 11, 9, 16)
    # a shorter look-back leaves the 3 Nov miss out
    short = {r.kind: r for r in due_report(session, D(2026, 11, 10, 12, 0), lookback_days=2)}
    assert [m.due for m in short["dr.dark_noise"].missed] == [D(2026, 11, 10)]
    # before the 10:00 cut-off the DR check of the day is only due
    early = {r.kind: r for r in due_report(session, D(2026, 11, 10, 9, 0))}
    assert early["dr.dark_noise"].state == "due"
    assert json.dumps([r.to_dict() for r in rows])  # the JSON form is serialisable


def test_site_filter_isolates_sites(session):
    _two_sites(session)
    as_of = D(2026, 11, 10, 12)
    assert {r.site for r in due_report(session, as_of, site="South")} == {"South"}
    assert {r.device_name for r in due_report(session, as_of, site="North")} == {"DR room 3", "CT 1"}
    south = session.scalar(select(Site).where(Site.name == "South"))
    assert [s.kind for s in list_schedules(session, site=south.id)] == ["mr.acr"]
    assert [s.kind for s in list_schedules(session)] == ["ct.catphan", "dr.dark_noise", "mr.acr"]
    with pytest.raises(InputError, match="known sites: North"):
        due_report(session, as_of, site="East")


# --------------------------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------------------------

def _cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="phantomqc")
    register(p.add_subparsers(dest="verb"))
    args = p.parse_args(argv)
    return args.handler(args)


def test_cli_schedule_add_list_and_due(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/db.sqlite"
    engine = open_engine(url)
    with Session(engine) as s:
        _site_device(s, "North", "DR room 3")
        _site_device(s, "North", "CT 1", "CT")
        s.commit()
    assert _cli(["schedule", "add", "DR room 3", "dr.dark_noise", "--every", "daily", "--start", "2026-11-02",
                 "--cutoff", "10:00", "--actor", "alice", "--db", url]) == 0
    assert "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR" in capsys.readouterr().out
    assert _cli(["schedule", "add", "2", "ct.catphan", "--every", "FREQ=MONTHLY;BYMONTHDAY=1", "--start",
                 "2026-10-01", "--window-after", "168", "--db", url]) == 0
    capsys.readouterr()
    assert _cli(["schedule", "add", "CT 1", "ct.water", "--every", "FREQ=MONTHLY;BYDAY=XX", "--db", url]) == 2
    assert "'FREQ=MONTHLY;BYDAY=XX'" in capsys.readouterr().err
    assert _cli(["schedule", "add", "no such", "ct.water", "--every", "daily", "--db", url]) == 2
    assert "no device named 'no such'" in capsys.readouterr().err

    assert _cli(["schedule", "list", "--json", "--db", url]) == 0
    listed = json.loads(capsys.readouterr().out)["schedules"]
    assert [(d["device"], d["kind"], d["rrule"]) for d in listed] == \
        [("CT 1", "ct.catphan", "FREQ=MONTHLY;BYMONTHDAY=1"),
         ("DR room 3", "dr.dark_noise", "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR")]
    assert listed[1]["created_by"] == "alice" and listed[0]["window_after_h"] == 168.0

    with Session(engine) as s:
        dr = s.scalar(select(Device).where(Device.name == "DR room 3"))
        _store_run(s, dr, "dr.dark_noise", D(2026, 11, 2, 9))
        s.commit()
    assert _cli(["due", "--date", "2026-11-03T12:00", "--db", url]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    ct_line = next(i for i, l in enumerate(lines) if "CT 1" in l and "ct.catphan" in l)
    dr_line = next(i for i, l in enumerate(lines) if "DR room 3" in l and "dr.dark_noise" in l)
    assert "!! OVERDUE" in lines[ct_line] and "!! EXPECTED-MISSING" in lines[dr_line] and ct_line < dr_line
    assert "2026-11-03 (expected-missing)" in out

    assert _cli(["due", "--date", "2026-11-03T09:00", "--json", "--site", "North", "--db", url]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {r["kind"]: r["state"] for r in doc["rows"]} == {"ct.catphan": "overdue", "dr.dark_noise": "due"}
    assert _cli(["due", "--site", "East", "--db", url]) == 2
    assert "no site 'East'" in capsys.readouterr().err
    engine.dispose()
