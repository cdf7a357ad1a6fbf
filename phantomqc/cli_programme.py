"""The QC programme's commands: devices, sites, baselines, tolerances, service events, reviews, the audit log and
the database itself. ``due``/``schedule``, ``trend`` and ``report`` have their own modules.

Every command takes ``--db URL`` (default ``PHANTOMQC_DB``, else the SQLite file; ``phantomqc db where`` prints it).
Exit status: 0 done, 2 a usage or input error (printed with its cause).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys

__all__ = ["register", "add_store_options"]


def add_store_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", help="results store (default: $PHANTOMQC_DB, else the SQLite file; "
                                               "see `phantomqc db where`)")


def _store(args):
    from phantomqc.programme.store import Store

    return Store(args.db, actor=getattr(args, "user", None))


def _date(text: str) -> _dt.datetime:
    try:
        return _dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or date-time: {text!r}") from None


def _print_table(rows: list[dict], cols: list[str]) -> None:
    if not rows:
        print("(none)")
        return
    width = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols}
    print("  ".join(c.ljust(width[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(width[c]) for c in cols))


def register(sub) -> None:
    """Add the programme's verbs to the ``phantomqc`` sub-parsers."""
    db = sub.add_parser("db", help="the results store: where it is, upgrade its schema")
    dbs = db.add_subparsers(dest="db_verb", metavar="where|upgrade", required=True)
    for name, h in (("where", "print the store's URL"), ("upgrade", "upgrade the schema to this version")):
        x = dbs.add_parser(name, help=h)
        add_store_options(x)
        x.set_defaults(func=_cmd_db)

    dv = sub.add_parser("device", help="devices in the results store")
    dvs = dv.add_subparsers(dest="device_verb", metavar="list|assign", required=True)
    x = dvs.add_parser("list", help="list devices (and their site)")
    x.add_argument("--site")
    x.add_argument("--json", action="store_true")
    add_store_options(x)
    x.set_defaults(func=_cmd_device)
    x = dvs.add_parser("assign", help="move a device to a site (e.g. from 'unassigned')")
    x.add_argument("device", metavar="DEVICE", help="device id or name")
    x.add_argument("site")
    x.add_argument("--department", default="")
    add_store_options(x)
    x.set_defaults(func=_cmd_device)

    st = sub.add_parser("site", help="sites and the rules that place new devices")
    sts = st.add_subparsers(dest="site_verb", metavar="add|rule", required=True)
    x = sts.add_parser("add", help="add a site, or change its automatic-baseline rule")
    x.add_argument("name")
    x.add_argument("--auto-baseline", choices=("on", "off"),
                   help="the first accepted acceptance result sets the baselines (default on)")
    add_store_options(x)
    x.set_defaults(func=_cmd_site)
    x = sts.add_parser("rule", help="new devices whose tags match go to SITE (shell patterns, all must match)")
    x.add_argument("name", metavar="SITE")
    for f in ("station-name", "ae-title", "manufacturer", "serial", "modality"):
        x.add_argument(f"--{f}", default="")
    x.add_argument("--department", default="")
    x.add_argument("--priority", type=int, default=100, help="lower wins (default 100)")
    add_store_options(x)
    x.set_defaults(func=_cmd_site)

    bl = sub.add_parser("baseline", help="a device's baselines: list, history, set, re-baseline from a run")
    bls = bl.add_subparsers(dest="baseline_verb", metavar="list|history|set|from-run", required=True)
    x = bls.add_parser("list", help="the active baselines of a device")
    x.add_argument("device", metavar="DEVICE")
    add_store_options(x)
    x.set_defaults(func=_cmd_baseline)
    x = bls.add_parser("history", help="every baseline a metric has had, with reasons")
    x.add_argument("device", metavar="DEVICE")
    x.add_argument("metric")
    x.add_argument("--label")
    add_store_options(x)
    x.set_defaults(func=_cmd_baseline)
    x = bls.add_parser("set", help="set one baseline by hand (audited; needs --reason)")
    x.add_argument("device", metavar="DEVICE")
    x.add_argument("metric")
    x.add_argument("value", type=float)
    x.add_argument("--label")
    x.add_argument("--unit", default="")
    x.add_argument("--reason", required=True)
    x.add_argument("--user")
    add_store_options(x)
    x.set_defaults(func=_cmd_baseline)
    x = bls.add_parser("from-run", help="re-baseline a device from a stored run (audited; needs --reason)")
    x.add_argument("run", type=int, metavar="RUN_ID")
    x.add_argument("--metric", action="append", help="only these metrics (repeatable)")
    x.add_argument("--reason", required=True)
    x.add_argument("--user")
    add_store_options(x)
    x.set_defaults(func=_cmd_baseline)

    tl = sub.add_parser("tolerance", help="a site's own tolerance and action levels (four-limit model)")
    tls = tl.add_subparsers(dest="tolerance_verb", metavar="set", required=True)
    x = tls.add_parser("set", help="set the levels for a metric at a site (or one device)")
    x.add_argument("site")
    x.add_argument("metric")
    x.add_argument("--label")
    x.add_argument("--device")
    x.add_argument("--mode", choices=("absolute", "percent"), default="absolute",
                   help="compare the value, or its deviation from the baseline in percent")
    for f in ("act-low", "tol-low", "tol-high", "act-high"):
        x.add_argument(f"--{f}", type=float)
    x.add_argument("--user")
    add_store_options(x)
    x.set_defaults(func=_cmd_tolerance)

    sv = sub.add_parser("service", help="service events (shown on trends)")
    svs = sv.add_subparsers(dest="service_verb", metavar="add", required=True)
    x = svs.add_parser("add", help="record a service event")
    x.add_argument("device", metavar="DEVICE")
    x.add_argument("description")
    x.add_argument("--at", type=_date, help="when (scanner local time; default now)")
    x.add_argument("--kind", default="service", help="e.g. repair, calibration, part, software")
    x.add_argument("--user")
    add_store_options(x)
    x.set_defaults(func=_cmd_service)

    rv = sub.add_parser("review", help="the review queue: failing or incomplete results wait for a reviewer")
    rvs = rv.add_subparsers(dest="review_verb", metavar="list|approve|reject", required=True)
    x = rvs.add_parser("list", help="results waiting for review")
    x.add_argument("--site")
    x.add_argument("--state", default="pending", choices=("pending", "approved", "rejected"))
    x.add_argument("--json", action="store_true")
    add_store_options(x)
    x.set_defaults(func=_cmd_review)
    for verb in ("approve", "reject"):
        x = rvs.add_parser(verb, help=f"{verb} a result (audited; needs --comment)")
        x.add_argument("run", type=int, metavar="RUN_ID")
        x.add_argument("--comment", required=True)
        x.add_argument("--user", help="the reviewer's name (default: the login name)")
        add_store_options(x)
        x.set_defaults(func=_cmd_review)

    au = sub.add_parser("audit", help="the append-only audit log")
    au.add_argument("--entity", help="e.g. baseline, analysis_run, device, tolerance")
    au.add_argument("--id", type=int, dest="entity_id")
    au.add_argument("--action", help="prefix, e.g. baseline. or review.")
    au.add_argument("--json", action="store_true")
    add_store_options(au)
    au.set_defaults(func=_cmd_audit)


def _guard(fn):
    def wrapped(args) -> int:
        from phantomqc._shared.errors import PhantomQCError

        try:
            return fn(args) or 0
        except (PhantomQCError, ValueError) as exc:
            print(f"phantomqc: error: {exc}", file=sys.stderr)
            return 2
    return wrapped


@_guard
def _cmd_db(args) -> int:
    from phantomqc.programme.db import default_url, normalise_url, open_engine

    url = normalise_url(args.db) if args.db else default_url()
    if args.db_verb == "where":
        print(url)
        return 0
    open_engine(url).dispose()
    print(f"schema up to date: {url}")
    return 0


@_guard
def _cmd_device(args) -> int:
    st = _store(args)
    if args.device_verb == "assign":
        st.assign_device(args.device, args.site, args.department)
        print(f"device {args.device} -> {args.site}")
        return 0
    rows = [{"id": d.id, "name": d.name, "site": d.site.name, "modality": d.modality,
             "manufacturer": d.manufacturer, "model": d.model, "serial": d.serial, "station": d.station_name,
             "ae_title": d.ae_title, "key": d.key} for d in st.devices(args.site)]
    if args.json:
        print(json.dumps(rows, indent=1, ensure_ascii=False))
    else:
        _print_table(rows, ["id", "name", "site", "modality", "manufacturer", "model", "serial", "station"])
    return 0


@_guard
def _cmd_site(args) -> int:
    st = _store(args)
    if args.site_verb == "add":
        auto = None if args.auto_baseline is None else args.auto_baseline == "on"
        sid = st.ensure_site(args.name, auto_baseline=auto)
        print(f"site {sid}: {args.name}")
        return 0
    rid = st.add_site_rule(args.name, department=args.department, priority=args.priority,
                           **{k: v for k, v in (("station_name", args.station_name), ("ae_title", args.ae_title),
                                                ("manufacturer", args.manufacturer), ("serial", args.serial),
                                                ("modality", args.modality)) if v})
    print(f"site rule {rid} -> {args.name}")
    return 0


@_guard
def _cmd_baseline(args) -> int:
    st = _store(args)
    v = args.baseline_verb
    if v == "list":
        for k, val in sorted(st.baselines(args.device).items()):
            print(f"{k} = {val:.6g}")
        return 0
    if v == "history":
        rows = [{"id": b.id, "value": f"{b.value:.6g}", "unit": b.unit, "active": b.active,
                 "valid_from": b.valid_from or "", "set_at": b.set_at.isoformat(timespec="seconds"),
                 "by": b.set_by, "reason": b.reason} for b in st.baseline_history(args.device, args.metric, args.label)]
        _print_table(rows, ["id", "value", "unit", "active", "valid_from", "set_at", "by", "reason"])
        return 0
    if v == "set":
        bid = st.set_baseline(args.device, args.metric, args.value, label=args.label, unit=args.unit,
                              reason=args.reason)
        print(f"baseline {bid} set")
        return 0
    n = st.rebaseline_from_run(args.run, reason=args.reason, metrics=args.metric)
    print(f"{n} baseline value(s) set from run {args.run}")
    return 0


@_guard
def _cmd_tolerance(args) -> int:
    st = _store(args)
    tid = st.set_tolerance(args.site, args.metric, label=args.label, device=args.device, mode=args.mode,
                           act_low=args.act_low, tol_low=args.tol_low, tol_high=args.tol_high,
                           act_high=args.act_high)
    print(f"tolerance {tid} set")
    return 0


@_guard
def _cmd_service(args) -> int:
    st = _store(args)
    eid = st.add_service_event(args.device, args.at or _dt.datetime.now(), args.description, kind=args.kind)
    print(f"service event {eid} recorded")
    return 0


@_guard
def _cmd_review(args) -> int:
    st = _store(args)
    if args.review_verb == "list":
        rows = st.review_queue(args.site, state=args.state)
        if args.json:
            print(json.dumps(rows, indent=1, default=str, ensure_ascii=False))
            return 0
        for r in rows:
            print(f"run {r['run_id']}  {r['acquired_at'] or '':<19}  {r['device']:<20} {r['kind']:<18} "
                  f"{r['test_type']:<10} {r['status']}")
            for f in r["findings"]:
                print(f"    {f}")
            if r["error"]:
                print(f"    error: {r['error'].get('message', '')}")
        if not rows:
            print("(nothing waiting)" if args.state == "pending" else "(none)")
        return 0
    rec = st.decide(args.run, args.review_verb == "approve", comment=args.comment, reviewer=args.user)
    extra = f"; {rec.baselines_set} baseline value(s) set" if rec.baselines_set else ""
    print(f"run {rec.run_id} {rec.review}{extra}")
    return 0


@_guard
def _cmd_audit(args) -> int:
    st = _store(args)
    rows = [{"id": a.id, "at": a.at.isoformat(timespec="seconds"), "actor": a.actor, "action": a.action,
             "entity": a.entity, "entity_id": a.entity_id, "detail": a.detail}
            for a in st.audit_log(entity=args.entity, entity_id=args.entity_id, action=args.action)]
    if args.json:
        print(json.dumps(rows, indent=1, ensure_ascii=False, default=str))
        return 0
    for r in rows:
        print(f"{r['id']:>5} {r['at']} {r['actor']:<12} {r['action']:<20} {r['entity']}:{r['entity_id']}  "
              f"{json.dumps(r['detail'], ensure_ascii=False)}")
    return 0
