"""``phantomqc serve`` (the DICOM listener) and ``phantomqc ingest`` (the same from a folder)."""

from __future__ import annotations

import json
import logging
import sys

__all__ = ["register"]


def register(sub) -> None:
    s = sub.add_parser("serve", help="DICOM storage SCP: receive QC images, analyse and store each series",
                       description="Listen for DICOM C-STORE and C-ECHO. Each instance is written and fsync'd before "
                                   "it is acknowledged; a series with no new instance for --stable seconds is "
                                   "identified, analysed and recorded in the results store. Runs until SIGINT/SIGTERM.")
    s.add_argument("--port", type=int, default=11112)
    s.add_argument("--host", default="0.0.0.0", help="address to listen on (default all; 127.0.0.1 for loopback)")
    s.add_argument("--ae-title", default="PHANTOMQC")
    s.add_argument("--allowed-aes", metavar="FILE", help="calling AE titles allowed, one per line; others are "
                                                         "refused")
    s.add_argument("--storage", default="phantomqc-storage", metavar="DIR",
                   help="where instances are kept (default ./phantomqc-storage)")
    s.add_argument("--stable", type=float, default=10.0, metavar="SECONDS",
                   help="a series is complete when nothing arrived for this long (default 10)")
    s.add_argument("--workers", type=int, default=1, metavar="N", help="processes analysing the series")
    s.add_argument("--executor", metavar="dask://HOST:PORT", help="analyse on a Dask cluster instead")
    s.add_argument("--sr", action="store_true", help="write each series' results as DICOM SR into STORAGE/sr/")
    s.add_argument("--send-sr", metavar="HOST:PORT:AE", help="and C-STORE each SR to this AE (e.g. the PACS)")
    s.add_argument("--site", help="site of devices seen for the first time")
    s.add_argument("--department")
    s.add_argument("--db", metavar="URL", help="results store (default $PHANTOMQC_DB, else the SQLite file)")
    s.add_argument("--list-series", action="store_true",
                   help="print the state of every series in --storage (e.g. the unrecognised ones) and exit")
    s.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    s.set_defaults(func=_cmd_serve)

    i = sub.add_parser("ingest", help="analyse and store every series in a folder (optionally watching it)",
                       description="Group the DICOM files under DIR into series, identify, analyse and record "
                                   "them in the results store. DIR is only read. Exit status: 0 done, 2 an input "
                                   "could not be analysed or identified.")
    i.add_argument("folder", metavar="DIR")
    i.add_argument("--watch", action="store_true", help="keep polling DIR and analyse new series as they settle")
    i.add_argument("--stable", type=float, default=10.0, metavar="SECONDS",
                   help="with --watch: analyse when nothing changed for this long (default 10)")
    i.add_argument("--workers", type=int, default=1, metavar="N")
    i.add_argument("--executor", metavar="dask://HOST:PORT", help="analyse on a Dask cluster instead")
    i.add_argument("--site")
    i.add_argument("--department")
    i.add_argument("--db", metavar="URL")
    i.add_argument("--json", action="store_true", help="print the summary as JSON")
    i.set_defaults(func=_cmd_ingest)


def _logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("pynetdicom").setLevel(logging.WARNING if level != "DEBUG" else logging.DEBUG)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _missing_server_extra() -> str:
    import importlib.util

    missing = [m for m in ("pynetdicom",) if importlib.util.find_spec(m) is None]
    return ("phantomqc: error: the DICOM listener needs " + ", ".join(missing)
            + ": pip install 'phantomqc[server]'") if missing else ""


def _cmd_serve(args) -> int:
    if not args.list_series and _missing_server_extra():
        print(_missing_server_extra(), file=sys.stderr)
        return 2
    from phantomqc.ingest.scp import QCServer, read_allowed_aes
    from phantomqc.ingest.spool import Spool

    _logging(args.log_level)
    if args.list_series:
        sp = Spool(args.storage)
        for uid in sp.all_series():
            st = sp.state(uid)
            print(f"{st.state:<13} {len(sp.instances(uid)):>5} inst  {st.modality:<3} {st.calling_ae:<16} {uid}"
                  + (f"\n    {st.reason}" if st.state != "analysed" and st.reason else ""))
        return 0
    from phantomqc._shared.errors import PhantomQCError

    try:
        allowed = read_allowed_aes(args.allowed_aes) if args.allowed_aes else None
        if args.send_sr:
            from phantomqc.ingest.send import parse_destination

            parse_destination(args.send_sr)
    except (OSError, ValueError, PhantomQCError) as exc:
        print(f"phantomqc: error: {exc}", file=sys.stderr)
        return 2
    QCServer(args.storage, host=args.host, port=args.port, ae_title=args.ae_title, allowed_aes=allowed,
             stable_seconds=args.stable, db=args.db, site=args.site, department=args.department,
             workers=args.workers, executor=args.executor, write_sr=args.sr,
             send_sr=args.send_sr).serve_forever()
    return 0


def _cmd_ingest(args) -> int:
    import signal

    from phantomqc._shared.errors import PhantomQCError
    from phantomqc.ingest.folder import FolderIngest
    from phantomqc.programme.store import Store

    _logging("INFO")
    try:
        from phantomqc.ingest.executors import make_executor

        ing = FolderIngest(args.folder, Store(args.db), stable_seconds=args.stable, workers=args.workers,
                           site=args.site, department=args.department,
                           executor=make_executor(args.executor, args.workers))
    except PhantomQCError as exc:
        print(f"phantomqc: error: {exc}", file=sys.stderr)
        return 2
    if args.watch:
        signal.signal(signal.SIGTERM, lambda *a: ing.stop_event.set())
        try:
            ing.run_once()
            rep = ing.watch()
        except KeyboardInterrupt:
            return 0
    else:
        rep = ing.run_once()
    ing.close()
    summary = {"files": rep.files, "analyses": rep.analyses, "stored": rep.stored, "already_stored": rep.duplicates,
               "unrecognised": [{"path": p, "reason": r} for p, r in rep.unrecognised],
               "errors": [{"path": p, "reason": r} for p, r in rep.errors]}
    if args.json:
        print(json.dumps(summary, indent=1, ensure_ascii=False))
    else:
        print(f"{rep.files} file(s), {rep.analyses} analyses: {rep.stored} stored, {rep.duplicates} already stored")
        for p, r in rep.unrecognised:
            print(f"unrecognised: {p}: {r}")
        for p, r in rep.errors:
            print(f"error: {p}: {r}")
    return 2 if (rep.unrecognised or rep.errors) else 0
