"""``phantomqc trend DEVICE METRIC``: draw the trend of one measurement of one device from the results store.

    phantomqc trend "CT room 1" ct.water.mean_hu --out water.png
    phantomqc trend 3 pet.nema_iq.contrast_percent --label sphere_10mm --from 2026-01-01 --out iq.html

The chart shows the values with the baseline and limits in force, the individuals / moving-range chart with the
Western Electric rules, and the service events and baseline changes (``phantomqc.report.trend``).

Exit status: 0 the chart was written; 2 the device, metric or period gave nothing to draw, or an argument was
wrong (the message says which and what exists).
"""

from __future__ import annotations

import datetime as _dt
import sys

__all__ = ["register", "cmd_trend", "parse_when"]


def register(subparsers) -> None:
    """Add the ``trend`` verb to the ``phantomqc`` sub-command parsers; its handler is ``cmd_trend``
    (also set as the parser default ``handler``)."""
    p = subparsers.add_parser(
        "trend", help="trend chart of one measurement of one device: baseline, limits, SPC chart, events",
        description="Draw the time series of METRIC on DEVICE from the results store, with the baseline and "
                    "limits in force, an individuals / moving-range chart with the Western Electric rules flagged, "
                    "and service events and baseline changes as markers. Exit status: 0 written, 2 nothing to "
                    "draw or a wrong argument.")
    p.add_argument("device", metavar="DEVICE", help="device id or name (or key, station name, serial, AE title)")
    p.add_argument("metric", metavar="METRIC", help="measurement id, e.g. ct.water.mean_hu")
    p.add_argument("--label", default=None, metavar="L", help="measurement label (default: the unlabelled one)")
    p.add_argument("--from", dest="date_from", metavar="D", help="first date, YYYY-MM-DD or ISO date-time")
    p.add_argument("--to", dest="date_to", metavar="D", help="last date (a date includes the whole day)")
    p.add_argument("--out", required=True, metavar="FILE.png|.html", help="the chart (PNG) or a page (HTML)")
    p.add_argument("--db", default=None, metavar="URL",
                   help="results store: a SQLAlchemy URL or SQLite path (default: $PHANTOMQC_DB, else the "
                        "default SQLite file)")
    p.add_argument("--limit-points", type=int, default=20, metavar="N",
                   help="points at the start of each baseline period that set the SPC limits (default 20)")
    p.set_defaults(handler=cmd_trend)


def parse_when(text: str | None, *, end: bool = False) -> _dt.datetime | None:
    """A ``--from``/``--to`` value: ``YYYY-MM-DD`` (the start, or with ``end`` the last instant, of that day) or
    an ISO date-time (scanner wall clock, no time zone)."""
    from phantomqc._shared.errors import InputError

    if text is None:
        return None
    s = text.strip()
    try:
        if len(s) == 10:
            d = _dt.date.fromisoformat(s)
            return _dt.datetime.combine(d, _dt.time.max if end else _dt.time.min)
        t = _dt.datetime.fromisoformat(s)
    except ValueError:
        raise InputError(f"trend: {'--to' if end else '--from'} must be YYYY-MM-DD or an ISO date-time, "
                         f"got {text!r}") from None
    return t.replace(tzinfo=None) if t.tzinfo is None else t.astimezone().replace(tzinfo=None)


def cmd_trend(args) -> int:
    """Run ``phantomqc trend``; returns the exit status."""
    from pathlib import Path

    from sqlalchemy.orm import Session

    from phantomqc._shared.errors import PhantomQCError
    from phantomqc.programme.db import open_engine
    from phantomqc.programme.trends import trend_data
    from phantomqc.report.trend import render_trend

    out = Path(args.out)
    try:
        if out.suffix.lower() not in (".png", ".html", ".htm"):
            from phantomqc._shared.errors import InputError

            raise InputError(f"trend: --out must end in .png or .html, got {args.out!r}")
        start, end = parse_when(args.date_from), parse_when(args.date_to, end=True)
        n_limits = args.limit_points
        if n_limits is not None and n_limits < 2:
            from phantomqc._shared.errors import InputError

            raise InputError(f"trend: --limit-points must be at least 2, got {n_limits}")
        engine = open_engine(args.db)
        try:
            with Session(engine) as s:
                data = trend_data(s, args.device, args.metric, label=args.label, start=start, end=end,
                                  n_limits=n_limits)
        finally:
            engine.dispose()
        path = render_trend(data, out)
    except PhantomQCError as exc:
        print(f"phantomqc: error: {exc}", file=sys.stderr)
        return 2
    for w in data.warnings:
        print(f"phantomqc: warning: {w}", file=sys.stderr)
    firsts = {r: k for r, k in data.first_rule_index().items() if k is not None}
    fails = [i for i, f in enumerate(data.failing) if f]
    parts = [f"{len(data)} points"]
    if firsts:
        r0 = min(firsts, key=lambda r: (firsts[r], r))
        parts.append(f"first SPC signal {data.times[firsts[r0]]:%Y-%m-%d} (WE{r0})")
    else:
        parts.append("no SPC signal")
    parts.append(f"first failure {data.times[fails[0]]:%Y-%m-%d}" if fails else "no failure")
    print(f"trend: {path} ({'; '.join(parts)})", file=sys.stderr)
    return 0
