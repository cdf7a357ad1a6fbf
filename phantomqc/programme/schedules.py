"""QC schedules: RFC 5545 recurrences, QC windows, and due / overdue / expected-but-missing checks (issue 7, §3).

A :class:`~phantomqc.programme.models.Schedule` says when a test ``kind`` is due on a device: an RFC 5545 ``RRULE``
(expanded with ``dateutil.rrule``) from ``dtstart``, a QC window around each due time and an optional cut-off time
of day. Every time here is the scanner's local wall-clock time, naive, like ``AnalysisRun.acquired_at`` (see
``docs/programme_design.md``, "Times").

Definitions
-----------
occurrence
    One due time ``due`` produced by the rule (``dtstart``'s time of day is the due time of day).
QC window
    The closed interval ``[due - window_before_h, due + window_after_h]``; both edges count.
cut-off
    The time by which the result of an occurrence is expected. With ``cutoff = "HH:MM"`` it is the first ``HH:MM``
    at or after ``due`` (a daily check due at 00:00 with cut-off ``"10:00"`` is expected by 10:00 that day), never
    later than the window end; with ``cutoff = ""`` it is the window end.
satisfying run
    A run of the schedule's device and kind, acquired at or before ``as_of``, whose ``status`` is not ``"error"``
    and whose ``acquired_at`` lies inside the occurrence's window. Windows may overlap (a daily window of 24 h
    ends when the next one opens): a run counts for exactly one occurrence, the one whose due time is nearest to
    the run (on a tie, the earlier occurrence). A run outside every window satisfies nothing.
state of an occurrence at ``as_of``
    - ``done``: a satisfying run exists (``late`` tells whether it came after the cut-off);
    - ``upcoming``: not done and the window has not opened (``as_of < window_start``);
    - ``due``: not done, the window is open and the cut-off has not passed (``as_of <= cutoff_at``);
    - ``expected_missing``: not done and the cut-off has passed, for a *daily* check (``FREQ=DAILY``) or any
      schedule with an explicit ``HH:MM`` cut-off: the result that should have arrived by then is missing;
    - ``overdue``: not done and the window has closed, for the other schedules (weekly, monthly, ...).
next due (how a result advances the due date)
    The first occurrence after the *last satisfied* occurrence (the first occurrence of the rule when none was
    ever satisfied). A run inside the window of occurrence *k* therefore moves the due date to occurrence *k + 1*,
    whether it arrived before or after the due time; a run before a window opens or after it closes moves nothing.
    Occurrences missed before the last satisfied one stay in the record as missed; they do not hold the due date
    back.

This follows the QC-window model of QATrack+ (due date, window start and end intervals, and "performed inside the
window sets the due date forward to the next instance of the recurrence rule") [1]_, with two differences chosen
here: a run after the window closes does not advance the due date (it satisfies no occurrence; the missed
occurrence stays reported), and a cut-off time of day marks a daily check as expected-but-missing before its
window has closed.

References
----------
.. [1] QATrack+ documentation, "Frequencies & Scheduling" (docs/admin/qa/frequencies.rst, qatrackplus/qatrackplus).
.. [2] RFC 5545, "Internet Calendaring and Scheduling Core Object Specification", section 3.3.10 (RECUR).
"""

from __future__ import annotations

import bisect
import datetime as _dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dateutil.rrule import rrule, rrulestr
from sqlalchemy import select
from sqlalchemy.orm import Session

from phantomqc._shared.errors import InputError
from phantomqc.programme.devices import resolve_device, resolve_site
from phantomqc.programme.models import AnalysisRun, AuditEntry, Device, Schedule, Site

__all__ = [
    "DEFAULT_WINDOW_AFTER_H",
    "PRESETS",
    "STATES",
    "DueRow",
    "MissedOccurrence",
    "Occurrence",
    "OccurrenceStatus",
    "add_schedule",
    "default_window_after_h",
    "due_report",
    "find_device",
    "find_site",
    "is_daily",
    "list_schedules",
    "next_due",
    "occurrences",
    "parse_cutoff",
    "parse_rule",
    "resolve_rule",
    "status_on",
]

#: the frequency presets, with the RRULE each one expands to (``{...}`` filled from ``dtstart``).
PRESETS: dict[str, str] = {
    "daily": "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR",
    "daily-all": "FREQ=DAILY",
    "weekly": "FREQ=WEEKLY;BYDAY={weekday}",
    "monthly": "FREQ=MONTHLY;{monthday}",
    "quarterly": "FREQ=MONTHLY;INTERVAL=3;{monthday}",
    "half-yearly": "FREQ=MONTHLY;INTERVAL=6;{monthday}",
    "yearly": "FREQ=YEARLY;BYMONTH={month};{monthday}",
}

#: the QC window after the due time, in hours, when none is given, by the rule's FREQ (a choice: the standards
#: name the frequency of a test, not a window). Monthly and longer rules with INTERVAL > 1 get the longer value.
DEFAULT_WINDOW_AFTER_H: dict[str, float] = {"DAILY": 24.0, "WEEKLY": 72.0, "MONTHLY": 7 * 24.0,
                                            "MONTHLY_LONG": 14 * 24.0, "YEARLY": 30 * 24.0}

#: the states, most urgent first (the order of ``due_report``).
STATES = ("expected_missing", "overdue", "due", "upcoming", "done")

_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_FREQS_TOO_FINE = ("HOURLY", "MINUTELY", "SECONDLY")
_CUTOFF_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


# ---------------------------------------------------------------------------------------------------------------
# rules
# ---------------------------------------------------------------------------------------------------------------

def _monthday(day: int) -> str:
    """BYMONTHDAY that keeps ``day`` and falls back to the month's last day when the month is shorter.

    RFC 5545 skips invalid dates ("FREQ=MONTHLY" from the 31st has no February), so days 29-31 use the set
    ``28..day`` with ``BYSETPOS=-1``: the largest of those days that exists in the month, i.e. ``min(day, length)``.
    """
    if day <= 28:
        return f"BYMONTHDAY={day}"
    return "BYMONTHDAY=" + ",".join(str(d) for d in range(28, day + 1)) + ";BYSETPOS=-1"


def resolve_rule(rule_or_preset: str, dtstart: _dt.datetime) -> str:
    """The RRULE text (without the ``RRULE:`` prefix) of a preset name or a raw rule, validated.

    Parameters
    ----------
    rule_or_preset : str
        A preset of :data:`PRESETS` (``daily`` = working days Monday to Friday, ``daily-all``, ``weekly`` on
        ``dtstart``'s weekday, ``monthly``, ``quarterly``, ``half-yearly``, ``yearly`` on ``dtstart``'s day) or an
        RFC 5545 RRULE such as ``"FREQ=WEEKLY;BYDAY=MO,TH"`` (an ``RRULE:`` prefix is accepted).
    dtstart : datetime
        The first possible due time (scanner local time, naive).

    Returns
    -------
    str
        The rule, e.g. ``"FREQ=WEEKLY;BYDAY=TU"``.

    Raises
    ------
    InputError
        The rule is not valid RFC 5545, is finer than daily, or never occurs at or after ``dtstart``.

    Examples
    --------
    >>> import datetime as dt
    >>> resolve_rule("weekly", dt.datetime(2026, 11, 3))
    'FREQ=WEEKLY;BYDAY=TU'
    """
    if not isinstance(dtstart, _dt.datetime):
        raise InputError(f"dtstart must be a datetime, received {dtstart!r}")
    text = (rule_or_preset or "").strip()
    key = text.lower()
    if key in PRESETS:
        text = PRESETS[key].format(weekday=_WEEKDAYS[dtstart.weekday()], monthday=_monthday(dtstart.day),
                                   month=dtstart.month)
    elif text.upper().startswith("RRULE:"):
        text = text[len("RRULE:"):]
    parse_rule(text, dtstart)
    return text


def parse_rule(rule_text: str, dtstart: _dt.datetime) -> rrule:
    """Parse one RRULE (no DTSTART, RDATE or EXDATE lines) against ``dtstart``; a clear error if it is invalid.

    Raises
    ------
    InputError
        Naming the rule and what is wrong with it.
    """
    hint = (f"expected a preset ({', '.join(PRESETS)}) or an RFC 5545 RRULE such as "
            f"'FREQ=WEEKLY;BYDAY=MO'")
    text = (rule_text or "").strip()
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:"):]
    if not text or "\n" in text or ":" in text:
        raise InputError(f"schedule rule {rule_text!r} is not a single RRULE; {hint}")
    try:
        rule = rrulestr(text, dtstart=dtstart)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        msg = str(exc)
        if "UNTIL" in msg:
            msg = "UNTIL must be a local time without 'Z' (schedules are in the scanner's local time)"
        raise InputError(f"schedule rule {rule_text!r} is not a valid RFC 5545 RRULE ({msg}); {hint}") from None
    if not isinstance(rule, rrule):  # pragma: no cover - rrulestr returns an rruleset only for several lines
        raise InputError(f"schedule rule {rule_text!r} is not a single RRULE; {hint}")
    freq = _freq(text)
    if freq in _FREQS_TOO_FINE:
        raise InputError(f"schedule rule {rule_text!r} has FREQ={freq}; QC checks are scheduled at most daily "
                         f"(use FREQ=DAILY;BYHOUR=8,16 for several checks a day)")
    if rule.after(dtstart, inc=True) is None:
        raise InputError(f"schedule rule {rule_text!r} never occurs at or after {dtstart.isoformat()}; check its "
                         f"COUNT, UNTIL and BY... parts")
    return rule


def _freq(rule_text: str) -> str:
    m = re.search(r"(?:^|;)\s*FREQ\s*=\s*([A-Za-z]+)", rule_text, flags=re.IGNORECASE)
    return m.group(1).upper() if m else ""


def is_daily(rule_text: str) -> bool:
    """True for a daily check (``FREQ=DAILY``), whose missing result is reported as expected-but-missing."""
    return _freq(rule_text) == "DAILY"


def default_window_after_h(rule_text: str) -> float:
    """The QC window after the due time used when none is given (:data:`DEFAULT_WINDOW_AFTER_H`), in hours."""
    freq = _freq(rule_text)
    m = re.search(r"INTERVAL\s*=\s*(\d+)", rule_text, flags=re.IGNORECASE)
    interval = int(m.group(1)) if m else 1
    if freq == "MONTHLY" and interval > 1:
        return DEFAULT_WINDOW_AFTER_H["MONTHLY_LONG"]
    return DEFAULT_WINDOW_AFTER_H.get(freq, 24.0)


def parse_cutoff(cutoff: str | None) -> _dt.time | None:
    """``"HH:MM"`` (24 h) as a time, ``""``/``None`` as ``None`` (the cut-off is the window end)."""
    if cutoff is None or str(cutoff).strip() == "":
        return None
    m = _CUTOFF_RE.match(str(cutoff).strip())
    if m is None:
        raise InputError(f"cut-off {cutoff!r} is not a time of day; expected 'HH:MM' (24 h, e.g. '10:00') or '' "
                         f"for the end of the QC window")
    return _dt.time(int(m.group(1)), int(m.group(2)))


# ---------------------------------------------------------------------------------------------------------------
# the pure core
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Occurrence:
    """One due time of a schedule with its QC window and cut-off (scanner local time, naive)."""

    due: _dt.datetime
    window_start: _dt.datetime
    window_end: _dt.datetime
    cutoff_at: _dt.datetime


@dataclass(frozen=True)
class OccurrenceStatus:
    """An occurrence judged at ``as_of``: its state and the run that satisfied it (``None`` when none did)."""

    due: _dt.datetime
    window_start: _dt.datetime
    window_end: _dt.datetime
    cutoff_at: _dt.datetime
    state: str
    run_id: int | None = None
    run_acquired_at: _dt.datetime | None = None
    late: bool = False  # done, but after the cut-off

    def to_dict(self) -> dict[str, Any]:
        return {"due": self.due.isoformat(), "window_start": self.window_start.isoformat(),
                "window_end": self.window_end.isoformat(), "cutoff_at": self.cutoff_at.isoformat(),
                "state": self.state, "run_id": self.run_id,
                "run_acquired_at": None if self.run_acquired_at is None else self.run_acquired_at.isoformat(),
                "late": self.late}


def _occurrence(schedule: Any, due: _dt.datetime, cutoff: _dt.time | None) -> Occurrence:
    start = due - _dt.timedelta(hours=float(schedule.window_before_h or 0.0))
    end = due + _dt.timedelta(hours=float(schedule.window_after_h or 0.0))
    if cutoff is None:
        cut = end
    else:
        cut = _dt.datetime.combine(due.date(), cutoff)
        if cut < due:
            cut += _dt.timedelta(days=1)
        cut = min(cut, end)
    return Occurrence(due, start, end, cut)


def _rule_of(schedule: Any) -> rrule:
    return parse_rule(schedule.rrule, schedule.dtstart)


def occurrences(schedule: Any, start: _dt.datetime, end: _dt.datetime) -> list[Occurrence]:
    """The occurrences of ``schedule`` whose due time lies in ``[start, end]`` (both included).

    Parameters
    ----------
    schedule : Schedule or any object with ``rrule``, ``dtstart``, ``window_before_h``, ``window_after_h``, ``cutoff``
    start, end : datetime
        Scanner local time, naive.

    Returns
    -------
    list of Occurrence
        In time order, each with its window ``[due - window_before_h, due + window_after_h]`` and cut-off.

    Examples
    --------
    >>> import datetime as dt, types
    >>> s = types.SimpleNamespace(rrule="FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", dtstart=dt.datetime(2026, 11, 2),
    ...                           window_before_h=0.0, window_after_h=24.0, cutoff="10:00")
    >>> [o.due.day for o in occurrences(s, dt.datetime(2026, 11, 6), dt.datetime(2026, 11, 9))]
    [6, 9]
    """
    if start > end:
        raise InputError(f"occurrences: start {start.isoformat()} is after end {end.isoformat()}")
    cutoff = parse_cutoff(schedule.cutoff)
    return [_occurrence(schedule, d, cutoff) for d in _rule_of(schedule).between(start, end, inc=True)]


def _assign(occs: Sequence[Occurrence], runs: Sequence[Any]) -> list[Any | None]:
    """For each occurrence the earliest run assigned to it (each run goes to the window-containing occurrence whose
    due time is nearest, ties to the earlier one)."""
    dues = [o.due for o in occs]
    chosen: list[Any | None] = [None] * len(occs)
    if not occs:
        return chosen
    after, before = occs[0].window_end - occs[0].due, occs[0].due - occs[0].window_start  # the same for all
    for run in runs:
        t = run.acquired_at
        # run inside [due - before, due + after]  <=>  due inside [t - after, t + before]: scan that slice of dues
        lo = bisect.bisect_left(dues, t - after)
        hi = bisect.bisect_right(dues, t + before)
        best = None
        for i in range(lo, hi):
            o = occs[i]
            inside = o.window_start <= t <= o.window_end
            if inside and (best is None or abs(o.due - t) < abs(occs[best].due - t)):
                best = i
        if best is not None and (chosen[best] is None or t < chosen[best].acquired_at):
            chosen[best] = run
    return chosen


def _run_counts(schedule: Any, run: Any, as_of: _dt.datetime) -> bool:
    return (getattr(run, "acquired_at", None) is not None and run.acquired_at <= as_of
            and getattr(run, "status", "") != "error"
            and getattr(run, "device_id", None) == schedule.device_id and getattr(run, "kind", None) == schedule.kind)


def status_on(schedule: Any, runs: Iterable[Any], as_of: _dt.datetime, *,
              start: _dt.datetime | None = None) -> list[OccurrenceStatus]:
    """Every occurrence of ``schedule`` from ``start`` up to ``as_of``, and the next upcoming one, with its state.

    Pure: it reads only its arguments (no database).

    Parameters
    ----------
    schedule : Schedule or any object with ``device_id``, ``kind``, ``rrule``, ``dtstart``, ``window_before_h``,
        ``window_after_h`` and ``cutoff``
    runs : iterable of AnalysisRun or any objects with ``device_id``, ``kind``, ``acquired_at``, ``status``, ``id``
        Runs of other devices or kinds, runs with ``status == "error"``, without ``acquired_at`` or acquired after
        ``as_of`` are ignored.
    as_of : datetime
        The moment the states are judged at (scanner local time, naive).
    start : datetime, optional
        The earliest due time considered (default: the schedule's ``dtstart``).

    Returns
    -------
    list of OccurrenceStatus
        The occurrences whose window opened at or before ``as_of``, then the first one whose window opens later
        (state ``upcoming``), in time order. The states are defined in the module docstring.

    Notes
    -----
    A run satisfies the occurrence whose window ``[due - before, due + after]`` (closed) contains its
    ``acquired_at``; with overlapping windows, the one whose due time is nearest. The QC-window model follows
    QATrack+ [1]_.

    References
    ----------
    .. [1] QATrack+ documentation, "Frequencies & Scheduling" (docs/admin/qa/frequencies.rst).
    """
    rule = _rule_of(schedule)
    cutoff = parse_cutoff(schedule.cutoff)
    daily_or_cutoff = is_daily(schedule.rrule) or cutoff is not None
    before = _dt.timedelta(hours=float(schedule.window_before_h or 0.0))
    first = schedule.dtstart if start is None else max(start, schedule.dtstart)
    dues = rule.between(first, as_of + before, inc=True) if first <= as_of + before else []
    nxt = rule.after(max(as_of + before, first - _dt.timedelta(microseconds=1)), inc=False)
    if nxt is not None and (not dues or nxt > dues[-1]):
        dues.append(nxt)
    occs = [_occurrence(schedule, d, cutoff) for d in dues]
    counted = sorted((r for r in runs if _run_counts(schedule, r, as_of)), key=lambda r: r.acquired_at)
    chosen = _assign(occs, counted)
    out = []
    for o, run in zip(occs, chosen):
        late = False
        if run is not None:
            state = "done"
            late = run.acquired_at > o.cutoff_at
        elif as_of < o.window_start:
            state = "upcoming"
        elif as_of <= o.cutoff_at:
            state = "due"
        else:  # without an HH:MM cut-off, cutoff_at is the window end: the window has closed
            state = "expected_missing" if daily_or_cutoff else "overdue"
        out.append(OccurrenceStatus(o.due, o.window_start, o.window_end, o.cutoff_at, state,
                                    None if run is None else getattr(run, "id", None),
                                    None if run is None else run.acquired_at, late))
    return out


def next_due(statuses: Sequence[OccurrenceStatus]) -> OccurrenceStatus | None:
    """The next due occurrence: the first one after the last satisfied (``done``) one.

    The first occurrence when none is done; ``None`` when the last done occurrence is the rule's last (a rule with
    COUNT or UNTIL that has run out).
    """
    last_done = max((i for i, s in enumerate(statuses) if s.state == "done"), default=-1)
    return statuses[last_done + 1] if last_done + 1 < len(statuses) else None


# ---------------------------------------------------------------------------------------------------------------
# the store
# ---------------------------------------------------------------------------------------------------------------

def find_site(session: Session, site: int | str) -> Site:
    """A site by id or name (``phantomqc.programme.devices.resolve_site``)."""
    return resolve_site(session, site)


def find_device(session: Session, device: int | str) -> Device:
    """A device by id, key, name, serial, station or AE title (``phantomqc.programme.devices.resolve_device``)."""
    return resolve_device(session, device)


def add_schedule(session: Session, device_id: int, kind: str, rule_or_preset: str, *, dtstart: _dt.datetime,
                 window_before_h: float = 0.0, window_after_h: float | None = None, cutoff: str = "",
                 actor: str, replace: bool = False) -> Schedule:
    """Schedule test ``kind`` on a device, audited. The caller commits the session.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
    device_id : int
    kind : str
        The test kind (``phantomqc kinds``), e.g. ``"ct.catphan"``.
    rule_or_preset : str
        A preset (:data:`PRESETS`) or an RFC 5545 RRULE; stored expanded (see :func:`resolve_rule`).
    dtstart : datetime
        First possible due time, scanner local time (naive); its time of day is the due time of day.
    window_before_h, window_after_h : float
        The QC window around each due time, in hours. ``window_after_h=None``: :func:`default_window_after_h`.
    cutoff : str
        ``"HH:MM"``: the result is expected by then on the due day (see the module docstring); ``""``: by the
        window end.
    actor : str
        Who made the change (audit log).
    replace : bool
        Replace an existing schedule of the same device and kind instead of refusing.

    Returns
    -------
    Schedule
        The new (or replaced) row, flushed (it has its id).

    Raises
    ------
    InputError
        Unknown device, empty kind or actor, invalid rule, window or cut-off, or a schedule for this device and
        kind already exists and ``replace`` is false.
    """
    if not kind or not str(kind).strip():
        raise InputError("a schedule needs a test kind (e.g. 'ct.catphan'); received an empty kind")
    if not actor or not str(actor).strip():
        raise InputError("add_schedule needs an actor (who makes the change) for the audit log")
    if isinstance(dtstart, _dt.datetime) and dtstart.tzinfo is not None:
        raise InputError(f"dtstart {dtstart.isoformat()} has a time zone; schedules are in the scanner's local "
                         f"time: give a naive datetime")
    device = session.get(Device, device_id)
    if device is None:
        raise InputError(f"no device with id {device_id!r} in the results store")
    rule_text = resolve_rule(rule_or_preset, dtstart)
    parse_cutoff(cutoff)
    after = default_window_after_h(rule_text) if window_after_h is None else float(window_after_h)
    before = float(window_before_h)
    if not (before >= 0.0 and after >= 0.0) or before + after <= 0.0:
        raise InputError(f"QC window of {before} h before and {after} h after the due time: both must be >= 0 "
                         f"and their sum > 0")
    fields = {"rrule": rule_text, "dtstart": dtstart, "window_before_h": before, "window_after_h": after,
              "cutoff": (cutoff or "").strip()}
    row = session.scalar(select(Schedule).where(Schedule.device_id == device.id, Schedule.kind == kind))
    old = None
    if row is not None:
        if not replace:
            raise InputError(f"device {device.name or device.id!r} already has a schedule for {kind!r} "
                             f"({row.rrule}); pass replace=True (--replace) to change it")
        old = {"rrule": row.rrule, "dtstart": row.dtstart.isoformat(), "window_before_h": row.window_before_h,
               "window_after_h": row.window_after_h, "cutoff": row.cutoff, "active": row.active}
        for k, v in fields.items():
            setattr(row, k, v)
        row.active = True
    else:
        row = Schedule(device_id=device.id, kind=kind, created_by=actor, active=True, **fields)
        session.add(row)
    session.flush()
    detail = {"device_id": device.id, "kind": kind, "rule": rule_or_preset,
              **{k: (v.isoformat() if isinstance(v, _dt.datetime) else v) for k, v in fields.items()}}
    if old is not None:
        detail["previous"] = old
    session.add(AuditEntry(actor=actor, action="schedule.replace" if old else "schedule.add", entity="schedule",
                           entity_id=row.id, site_id=device.site_id, detail=detail))
    session.flush()
    return row


def list_schedules(session: Session, site: int | str | None = None, *,
                   include_inactive: bool = False) -> list[Schedule]:
    """The schedules (active only by default), of one site when ``site`` (id or name) is given, ordered by site,
    device name and kind."""
    q = select(Schedule).join(Device, Schedule.device_id == Device.id).join(Site, Device.site_id == Site.id)
    if site is not None:
        q = q.where(Device.site_id == find_site(session, site).id)
    if not include_inactive:
        q = q.where(Schedule.active.is_(True))
    return list(session.scalars(q.order_by(Site.name, Device.name, Device.id, Schedule.kind)))


@dataclass(frozen=True)
class MissedOccurrence:
    """An occurrence in the look-back that no run satisfied: its due time and state (overdue or expected_missing)."""

    due: _dt.datetime
    state: str

    def to_dict(self) -> dict[str, Any]:
        return {"due": self.due.isoformat(), "date": self.due.date().isoformat(), "state": self.state}


@dataclass(frozen=True)
class DueRow:
    """One schedule in the due report."""

    schedule_id: int
    device_id: int
    device_name: str
    site: str
    kind: str
    rrule: str
    state: str  # the state of the next due occurrence ("done" when the rule has run out)
    next_due: _dt.datetime | None
    window_start: _dt.datetime | None
    window_end: _dt.datetime | None
    cutoff_at: _dt.datetime | None
    last_done: _dt.datetime | None  # acquisition time of the run of the last satisfied occurrence
    last_run_id: int | None
    missed: tuple[MissedOccurrence, ...]

    def to_dict(self) -> dict[str, Any]:
        iso = (lambda t: None if t is None else t.isoformat())
        return {"schedule_id": self.schedule_id, "device_id": self.device_id, "device": self.device_name,
                "site": self.site, "kind": self.kind, "rrule": self.rrule, "state": self.state,
                "next_due": iso(self.next_due), "window_start": iso(self.window_start),
                "window_end": iso(self.window_end), "cutoff_at": iso(self.cutoff_at),
                "last_done": iso(self.last_done), "last_run_id": self.last_run_id,
                "missed": [m.to_dict() for m in self.missed]}


def _urgency(row: DueRow) -> tuple:
    rank = STATES.index(row.state) if row.state in STATES else len(STATES)
    missed_first = 0 if rank <= 1 else 1  # expected_missing and overdue are both "missed": oldest first
    far = _dt.datetime.max
    return (missed_first, row.next_due or far if missed_first == 0 else far, rank, -len(row.missed),
            row.next_due or far, row.site, row.device_name, row.kind)


def due_report(session: Session, as_of: _dt.datetime, site: int | str | None = None, *,
               lookback_days: float = 31.0) -> list[DueRow]:
    """What is due, overdue and expected-but-missing at ``as_of``, for every active schedule (of one site).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
    as_of : datetime
        Scanner local time (naive).
    site : int or str, optional
        A site id or name; only that site's devices.
    lookback_days : float
        How far back missed occurrences are listed (default 31 days).

    Returns
    -------
    list of DueRow
        Most urgent first: missed checks (``expected_missing`` and ``overdue``, the oldest due first), then ``due``,
        ``upcoming`` and ``done``, and within a state the most missed occurrences first, then the earliest due.
    """
    if lookback_days < 0:
        raise InputError(f"lookback_days must be >= 0, received {lookback_days}")
    since = as_of - _dt.timedelta(days=float(lookback_days))
    rows = []
    for sch in list_schedules(session, site):
        runs = session.scalars(select(AnalysisRun).where(
            AnalysisRun.device_id == sch.device_id, AnalysisRun.kind == sch.kind,
            AnalysisRun.acquired_at.is_not(None), AnalysisRun.acquired_at <= as_of,
            AnalysisRun.status != "error").order_by(AnalysisRun.acquired_at)).all()
        statuses = status_on(sch, runs, as_of)
        nxt = next_due(statuses)
        done = [s for s in statuses if s.state == "done"]
        last = done[-1] if done else None
        missed = tuple(MissedOccurrence(s.due, s.state) for s in statuses
                       if s.state in ("overdue", "expected_missing") and s.due >= since)
        dev = sch.device
        rows.append(DueRow(
            schedule_id=sch.id, device_id=dev.id, device_name=dev.name or dev.key, site=dev.site.name,
            kind=sch.kind, rrule=sch.rrule, state="done" if nxt is None else nxt.state,
            next_due=None if nxt is None else nxt.due, window_start=None if nxt is None else nxt.window_start,
            window_end=None if nxt is None else nxt.window_end, cutoff_at=None if nxt is None else nxt.cutoff_at,
            last_done=None if last is None else last.run_acquired_at,
            last_run_id=None if last is None else last.run_id, missed=missed))
    return sorted(rows, key=_urgency)
