"""``phantomqc due`` and ``phantomqc schedule add|list``: QC schedules and what is due, overdue or missing.

``phantomqc due`` always exits 0 when the report could be made (overdue checks are information, not an error);
2 when the arguments cannot be used (unknown site or device, invalid rule, date or cut-off).

Wiring: ``register(subparsers)`` adds the verbs and sets ``args.handler``; :data:`HANDLERS` maps each verb to
its function, which takes the parsed namespace and returns the exit status.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["HANDLERS", "cmd_due", "cmd_schedule", "parse_when", "register"]

_MARK = {"expected_missing": "!! EXPECTED-MISSING", "overdue": "!! OVERDUE", "due": "DUE", "upcoming": "upcoming",
         "done": "done"}


def register(subparsers) -> None:
    """Add ``due`` and ``schedule`` to the ``phantomqc`` sub-command parsers."""
    d = subparsers.add_parser(
        "due", help="what QC is due, overdue or expected but missing",
        description="List every active schedule with its next due check, most urgent first: checks expected but "
                    "missing (a daily check not in by its cut-off), overdue checks (window closed), due now, "
                    "upcoming. Exit status 0.")
    d.add_argument("--site", metavar="S", help="only this site (name or id)")
    d.add_argument("--date", metavar="D", help="judge at YYYY-MM-DD (the end of that day) or YYYY-MM-DDTHH:MM "
                                               "(scanner local time); default: now")
    d.add_argument("--lookback", type=float, default=31.0, metavar="DAYS",
                   help="list missed checks of the last DAYS days (default 31)")
    d.add_argument("--db", metavar="URL", help="results store (default: $PHANTOMQC_DB, else the local SQLite file)")
    d.add_argument("--json", action="store_true", help="write JSON to standard output instead of a table")
    d.set_defaults(handler=cmd_due)

    s = subparsers.add_parser("schedule", help="QC schedules: add, list")
    ss = s.add_subparsers(dest="schedule_verb", metavar="add|list")
    a = ss.add_parser("add", help="schedule a test kind on a device",
                      description="Schedule test KIND on DEVICE with a preset (daily = working days, daily-all, "
                                  "weekly, monthly, quarterly, half-yearly, yearly) or an RFC 5545 RRULE.")
    a.add_argument("device", metavar="DEVICE", help="device id or name")
    a.add_argument("kind", metavar="KIND", help="test kind, e.g. ct.catphan (see `phantomqc kinds`)")
    a.add_argument("--every", required=True, metavar="PRESET|RRULE",
                   help="daily, daily-all, weekly, monthly, quarterly, half-yearly, yearly, or e.g. "
                        "'FREQ=WEEKLY;BYDAY=MO'")
    a.add_argument("--start", metavar="D", help="first due time, YYYY-MM-DD[THH:MM] local (default: today 00:00)")
    a.add_argument("--window-before", type=float, default=0.0, metavar="H", help="QC window before the due time, h")
    a.add_argument("--window-after", type=float, default=None, metavar="H",
                   help="QC window after the due time, h (default by frequency: daily 24, weekly 72, monthly 168, "
                        "quarterly/half-yearly 336, yearly 720)")
    a.add_argument("--cutoff", default="", metavar="HH:MM", help="expected by this time on the due day "
                                                                  "(default: the end of the window)")
    a.add_argument("--replace", action="store_true", help="replace the device's schedule for KIND")
    a.add_argument("--actor", help="who makes the change (default: the login name)")
    a.add_argument("--db", metavar="URL")
    ls = ss.add_parser("list", help="list the schedules")
    ls.add_argument("--site", metavar="S", help="only this site (name or id)")
    ls.add_argument("--db", metavar="URL")
    ls.add_argument("--json", action="store_true", help="write JSON to standard output")
    s.set_defaults(handler=cmd_schedule)


def parse_when(text: str | None, *, end_of_day: bool) -> _dt.datetime:
    """A local wall-clock time from ``YYYY-MM-DD`` or an ISO date-time; ``None`` is now.

    A bare date means the end of that day (``end_of_day``, for ``--date``: what the day ended with) or its start.
    """
    from phantomqc._shared.errors import InputError

    if text is None or not str(text).strip():
        return _dt.datetime.now().replace(microsecond=0)
    t = str(text).strip()
    try:
        if len(t) == 10:
            day = _dt.date.fromisoformat(t)
            return _dt.datetime.combine(day, _dt.time(23, 59, 59) if end_of_day else _dt.time(0, 0))
        when = _dt.datetime.fromisoformat(t)
    except ValueError:
        raise InputError(f"date {t!r} is not YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    if when.tzinfo is not None:
        raise InputError(f"date {t!r} has a time zone; give the scanner's local time without one")
    return when


def _session(url: str | None):
    from sqlalchemy.orm import Session

    from phantomqc.programme.db import open_engine

    return Session(open_engine(url))


def _fmt(t: _dt.datetime | None) -> str:
    if t is None:
        return "-"
    return t.strftime("%Y-%m-%d") if t.time() == _dt.time(0, 0) else t.strftime("%Y-%m-%d %H:%M")


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def cmd_due(args) -> int:
    """``phantomqc due``: print the due report (table or JSON); 0, or 2 for unusable arguments."""
    from phantomqc._shared.errors import PhantomQCError
    from phantomqc.programme.schedules import due_report

    try:
        as_of = parse_when(args.date, end_of_day=True)
        with _session(getattr(args, "db", None)) as session:
            report = due_report(session, as_of, getattr(args, "site", None),
                                lookback_days=getattr(args, "lookback", 31.0))
    except PhantomQCError as exc:
        print(f"phantomqc due: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "json", False):
        doc = {"schema": "phantomqc.due/1", "as_of": as_of.isoformat(), "site": getattr(args, "site", None),
               "rows": [r.to_dict() for r in report]}
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return 0
    print(f"QC due at {as_of.strftime('%Y-%m-%d %H:%M')}" + (f", site {args.site}" if args.site else ""))
    if not report:
        print("no active schedules")
        return 0
    table = [["STATE", "SITE", "DEVICE", "KIND", "NEXT DUE", "EXPECTED BY", "LAST DONE", "MISSED"]]
    for r in report:
        table.append([_MARK.get(r.state, r.state), r.site, r.device_name, r.kind, _fmt(r.next_due),
                      _fmt(r.cutoff_at), _fmt(r.last_done), str(len(r.missed)) if r.missed else ""])
    print(_table(table))
    missed = [r for r in report if r.missed]
    if missed:
        print(f"\nmissed in the last {getattr(args, 'lookback', 31.0):g} days:")
        for r in missed:
            days = ", ".join(f"{_fmt(m.due)}{' (expected-missing)' if m.state == 'expected_missing' else ' (overdue)'}"
                             for m in r.missed)
            print(f"  {r.site} / {r.device_name} / {r.kind}: {days}")
    return 0


def cmd_schedule(args) -> int:
    """``phantomqc schedule add|list``; 0, or 2 for unusable arguments."""
    from phantomqc._shared.errors import PhantomQCError
    from phantomqc.programme.schedules import add_schedule, find_device, list_schedules

    verb = getattr(args, "schedule_verb", None)
    if verb not in ("add", "list"):
        print("phantomqc schedule: give a verb: add or list", file=sys.stderr)
        return 2
    try:
        with _session(getattr(args, "db", None)) as session:
            if verb == "add":
                device = find_device(session, args.device)
                start = parse_when(args.start, end_of_day=False) if args.start else \
                    _dt.datetime.combine(_dt.date.today(), _dt.time(0, 0))
                row = add_schedule(session, device.id, args.kind, args.every, dtstart=start,
                                   window_before_h=args.window_before, window_after_h=args.window_after,
                                   cutoff=args.cutoff, actor=args.actor or _login(), replace=args.replace)
                session.commit()
                print(f"schedule {row.id}: {device.name or device.key} {row.kind} {row.rrule} from "
                      f"{_fmt(row.dtstart)}, window -{row.window_before_h:g} h / +{row.window_after_h:g} h"
                      + (f", expected by {row.cutoff}" if row.cutoff else ""))
                return 0
            rows = list_schedules(session, getattr(args, "site", None))
            docs = [_schedule_dict(s) for s in rows]
    except PhantomQCError as exc:
        print(f"phantomqc schedule {verb}: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps({"schema": "phantomqc.schedules/1", "schedules": docs}, indent=2,
                                    ensure_ascii=False) + "\n")
        return 0
    if not docs:
        print("no active schedules")
        return 0
    table = [["ID", "SITE", "DEVICE", "KIND", "RULE", "START", "WINDOW (h)", "CUT-OFF"]]
    for d in docs:
        table.append([str(d["id"]), d["site"], d["device"], d["kind"], d["rrule"], _fmt(
            _dt.datetime.fromisoformat(d["dtstart"])), f"-{d['window_before_h']:g}/+{d['window_after_h']:g}",
            d["cutoff"] or "window end"])
    print(_table(table))
    return 0


def _schedule_dict(s) -> dict[str, Any]:
    return {"id": s.id, "site": s.device.site.name, "device_id": s.device_id, "device": s.device.name or s.device.key,
            "kind": s.kind, "rrule": s.rrule, "dtstart": s.dtstart.isoformat(), "window_before_h": s.window_before_h,
            "window_after_h": s.window_after_h, "cutoff": s.cutoff, "created_by": s.created_by}


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (e.g. a container without a passwd entry)
        return "unknown"


HANDLERS: dict[str, Callable[[Any], int]] = {"due": cmd_due, "schedule": cmd_schedule}
