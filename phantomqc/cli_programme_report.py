"""``phantomqc report acceptance|period``: the programme's reports from the results store.

- ``phantomqc report acceptance DEVICE --out report.pdf`` writes a device's acceptance-test report (PDF): the
  latest acceptance run of each test kind (or ``--run ID`` ...), every value, limit, verdict, figure, and a
  signature block.
- ``phantomqc report period --site S --from D --to D --out FILE.html|.pdf`` writes a site's programme report for
  a month or quarter: pass rates per device, overdue and missed checks, the checks that did not pass with their
  reviews. ``D`` is ``YYYY-MM-DD``; ``--from YYYY-MM`` means the first day of that month and ``--to YYYY-MM`` its
  last day, so ``--from 2026-10 --to 2026-12`` is the fourth quarter.

Exit status: 0 the report was written; 2 a usage or input error (unknown device or site, bad date), printed with
its cause.

Wiring: ``register(subparsers)`` adds the ``report`` verb and sets ``args.func`` (and ``args.handler``) to
:func:`cmd_report`.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as _dt
import sys

__all__ = ["cmd_report", "parse_day", "register"]


def register(subparsers) -> None:
    """Add ``report acceptance`` and ``report period`` to the ``phantomqc`` sub-command parsers."""
    r = subparsers.add_parser("report", help="programme reports: a device's acceptance PDF, a site's period report")
    rs = r.add_subparsers(dest="report_verb", metavar="acceptance|period", required=True)
    a = rs.add_parser("acceptance", help="the acceptance-test report of a device (PDF)",
                      description="Write the acceptance-test report of DEVICE as a PDF: the latest acceptance run "
                                  "of each test kind, every value, limit, verdict and figure, with signatures.")
    a.add_argument("device", metavar="DEVICE", help="device id, key, name, serial, station name or AE title")
    a.add_argument("--out", required=True, metavar="FILE.pdf", help="the PDF to write")
    a.add_argument("--run", dest="runs", type=int, action="append", metavar="ID",
                   help="report these runs instead (repeatable, in this order)")
    a.add_argument("--sign", action="append", metavar="ROLE",
                   help="a signatory role (repeatable; default: Physicist, Engineer, Approved by)")
    a.add_argument("--db", metavar="URL", help="results store (default: $PHANTOMQC_DB, else the local SQLite file)")
    p = rs.add_parser("period", help="a site's QC programme report for a period (HTML or PDF)",
                      description="Write the programme report of a site for the days --from to --to (both "
                                  "included): pass rates per device, overdue and missed checks, the checks that "
                                  "did not pass with their reviews, service events.")
    p.add_argument("--site", required=True, metavar="S", help="site name or id")
    p.add_argument("--from", dest="date_from", required=True, metavar="D", help="first day, YYYY-MM-DD or YYYY-MM")
    p.add_argument("--to", dest="date_to", required=True, metavar="D", help="last day, YYYY-MM-DD or YYYY-MM")
    p.add_argument("--out", required=True, metavar="FILE.html|FILE.pdf", help="the report to write (by suffix)")
    p.add_argument("--db", metavar="URL", help="results store (default: $PHANTOMQC_DB, else the local SQLite file)")
    for x in (a, p):
        x.set_defaults(func=cmd_report, handler=cmd_report)


def parse_day(text: str, *, last: bool) -> _dt.date:
    """``YYYY-MM-DD`` as a date; ``YYYY-MM`` as the first (``last`` False) or last day of that month.

    Raises
    ------
    InputError
        When the text is neither.
    """
    from phantomqc._shared.errors import InputError

    t = str(text).strip()
    try:
        if len(t) == 7:
            y, m = int(t[:4]), int(t[5:7])
            return _dt.date(y, m, calendar.monthrange(y, m)[1] if last else 1)
        return _dt.date.fromisoformat(t)
    except ValueError:
        raise InputError(f"not a date: {text!r}; give YYYY-MM-DD, or YYYY-MM for a whole month") from None


def cmd_report(args: argparse.Namespace) -> int:
    """Run ``phantomqc report acceptance|period``; returns the exit status."""
    from sqlalchemy.orm import Session

    from phantomqc._shared.errors import PhantomQCError
    from phantomqc.programme.db import open_engine

    try:
        engine = open_engine(args.db)
        with Session(engine) as session:
            if args.report_verb == "acceptance":
                from phantomqc.programme.period import acceptance_data
                from phantomqc.report.acceptance import render_acceptance_pdf

                if not str(args.out).lower().endswith(".pdf"):
                    raise argparse.ArgumentTypeError(f"--out must be a .pdf file, received {args.out!r}")
                data = acceptance_data(session, args.device, args.runs)
                kw = {"signatories": tuple(args.sign)} if args.sign else {}
                out = render_acceptance_pdf(data, args.out, **kw)
                print(f"{out}: acceptance report of {data.device.display_name}, {len(data.tests)} tests, "
                      f"overall {data.overall}")
            else:
                from phantomqc.programme.period import period_data
                from phantomqc.report.period import render_period

                start = parse_day(args.date_from, last=False)
                end = parse_day(args.date_to, last=True)
                data = period_data(session, args.site, start, end)
                out = render_period(data, args.out)
                rate = data.totals.pass_rate_percent
                print(f"{out}: {data.site} {start} to {end}, {data.totals.n_runs} checks, pass rate "
                      f"{'—' if rate is None else f'{rate:.1f} %'}"
                      + ("" if data.overdue is not None else f"; {data.overdue_message}"))
        engine.dispose()
    except (PhantomQCError, argparse.ArgumentTypeError) as exc:
        print(f"phantomqc report: {exc}", file=sys.stderr)
        return 2
    return 0
