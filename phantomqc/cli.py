"""The ``phantomqc`` command. Each verb imports only what it needs, so ``--help`` answers fast."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from phantomqc import __version__

_TEST_TYPES = ("acceptance", "status", "stability")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="phantomqc",
        description="DICOM image-quality measurement for phantom acceptance and constancy tests, judged "
                    "against WS 76 / WS 519 / Taiyuan / ACR / NEMA / IEC thresholds.")
    p.add_argument("--version", action="version", version=f"phantomqc {__version__}")
    sub = p.add_subparsers(dest="verb", metavar="VERB")

    a = sub.add_parser("analyze", help="analyse manifests and DICOM files, folders or zips",
                       description="Analyse manifests (*.toml) and DICOM inputs. Exit status: 0 everything analysed "
                                   "and nothing failed, 1 a verdict failed, 2 an input could not be analysed.")
    a.add_argument("inputs", nargs="+", metavar="PATH|MANIFEST")
    a.add_argument("--profile", help="standards profile id or .toml path (default: the manifest's, else taiyuan-2024)")
    a.add_argument("--test-type", choices=_TEST_TYPES, help="default: the manifest's, else status")
    a.add_argument("--kind", help="force the test kind for DICOM paths given without a manifest")
    a.add_argument("--baseline", metavar="RESULT.json", help="an earlier phantomqc.analysis/1 result whose "
                                                              "values are the baselines")
    a.add_argument("--json", metavar="FILE|-", help="write the JSON document to FILE, or - for standard output")
    a.add_argument("--report", metavar="DIR", help="write report.html and its figures to DIR")
    a.add_argument("--sr", metavar="FILE.dcm", help="write the results as a DICOM SR (TID 1500 measurement report)")
    a.add_argument("--send-sr", metavar="HOST:PORT:AE", help="C-STORE the results SR to this AE (e.g. a PACS)")
    a.add_argument("--workers", type=int, default=1, metavar="N", help="processes to use (default 1)")
    a.add_argument("--executor", metavar="dask://HOST:PORT",
                   help="run the analyses on a Dask distributed cluster (its workers must see the input paths); "
                        "--workers N then bounds the tasks in flight (default: the cluster's threads)")
    a.add_argument("--no-progress", action="store_true", help="no progress bar")
    a.add_argument("--store", action="store_true",
                   help="record the results in the results store (baselines from it are used for the verdicts)")
    a.add_argument("--store-figures", action="store_true",
                   help="with --store: keep the analyzer figures of every run (acceptance runs always keep them)")
    a.add_argument("--site", help="with --store: the site of devices seen for the first time")
    a.add_argument("--department", help="with --store: their department")
    a.add_argument("--db", metavar="URL", help="with --store: the results store (default $PHANTOMQC_DB, else the "
                                               "SQLite file; see `phantomqc db where`)")

    d = sub.add_parser("demo", help="generate reference phantoms, analyse them and write a report")
    d.add_argument("--out", default="phantomqc-demo", metavar="DIR", help="output folder (default ./phantomqc-demo)")
    d.add_argument("--detector", choices=("3000", "2048"), default="3000",
                   help="reference detector: 3000 x 3000 at 0.139 mm or 2048 x 2048 at 0.2 mm")
    d.add_argument("--profile", default="taiyuan-2024")
    d.add_argument("--test-type", choices=_TEST_TYPES, default="acceptance")
    d.add_argument("--workers", type=int, default=1, metavar="N")
    d.add_argument("--no-progress", action="store_true")

    ph = sub.add_parser("phantoms", help="reference phantoms")
    phs = ph.add_subparsers(dest="phantoms_verb", metavar="make|list")
    mk = phs.add_parser("make", help="write a reference phantom as DICOM with truth.json and manifest.toml")
    mk.add_argument("kind", metavar="KIND", help="e.g. dr-suite, dr-dark, dr-edge (see `phantomqc phantoms list`)")
    mk.add_argument("--out", required=True, metavar="DIR")
    mk.add_argument("--detector", choices=("3000", "2048"), default="3000")
    mk.add_argument("--dtype", choices=("uint16", "int16"), default="uint16")
    mk.add_argument("--seed", type=int, default=0)
    mk.add_argument("--quality", choices=("pass", "fail"), default="pass")
    phs.add_parser("list", help="list the phantom kinds")

    pr = sub.add_parser("profiles", help="standards profiles")
    prs = pr.add_subparsers(dest="profiles_verb", metavar="list|show")
    prs.add_parser("list", help="list the shipped profiles")
    sh = prs.add_parser("show", help="show a profile's criteria")
    sh.add_argument("id")

    sub.add_parser("kinds", help="the manifest's test kinds and their fields")
    sub.add_parser("metrics", help="every measurement id with unit, definition and source")
    sub.add_parser("schema", help="print the JSON Schema of the analysis document")
    from phantomqc.cli_rubric import add_rubric_parser

    add_rubric_parser(sub)
    from phantomqc import cli_ingest, cli_programme, cli_programme_due, cli_programme_report, cli_programme_trend

    cli_programme.register(sub)
    cli_programme_due.register(sub)
    cli_programme_trend.register(sub)
    cli_programme_report.register(sub)
    cli_ingest.register(sub)
    return p


def _cmd_analyze(args) -> int:
    from phantomqc._shared.errors import PhantomQCError
    from phantomqc.pipeline import analyze, load_baseline_json

    baseline = {}
    if (args.site or args.department or args.db or args.store_figures) and not args.store:
        print("phantomqc: error: --site, --department, --db and --store-figures need --store", file=sys.stderr)
        return 2
    if args.send_sr:
        from phantomqc._shared.errors import InputError
        from phantomqc.ingest.send import parse_destination

        try:
            parse_destination(args.send_sr)
        except InputError as exc:
            print(f"phantomqc: error: --send-sr: {exc}", file=sys.stderr)
            return 2
    try:
        store = None
        if args.store:
            from phantomqc.programme.store import Store

            store = Store(args.db)
        if args.baseline:
            baseline = load_baseline_json(args.baseline)
        from phantomqc.ingest.executors import make_executor

        with make_executor(args.executor, max(1, args.workers)) as executor:
            doc, results = analyze(args.inputs, profile=args.profile, test_type=args.test_type, kind=args.kind,
                                   baseline=baseline, workers=max(1, args.workers),
                                   progress=not args.no_progress and sys.stderr.isatty(),
                                   command=" ".join(["phantomqc"] + sys.argv[1:]),
                                   baseline_for=store.baseline_hook() if store else None, executor=executor)
        if store is not None:
            from phantomqc.report.figures import figure_pngs

            outcome = store.record(results, site=args.site, department=args.department,
                                   source=" ".join(str(i) for i in args.inputs), figures=figure_pngs,
                                   all_figures=args.store_figures)
            _report_stored(doc, results, outcome)
    except PhantomQCError as exc:
        print(f"phantomqc: error: {exc}", file=sys.stderr)
        return 2
    _emit(doc, results, args.json, args.report)
    sr_status = _sr_out(results, args.sr, args.send_sr) if (args.sr or args.send_sr) else 0
    return max(doc["summary"]["exit_status"], sr_status)


def _report_stored(doc: dict, results: list, outcome) -> None:
    """Put each analysis's store outcome into the JSON (``stored``) and the site-level warnings into both."""
    from phantomqc.programme.store import with_site_verdicts

    for rec in outcome.records:
        results[rec.index] = with_site_verdicts(results[rec.index], rec)
        entry = doc["analyses"][rec.index] if rec.index < len(doc["analyses"]) else None
        if entry is not None:
            entry["warnings"] = list(results[rec.index].warnings)
            entry["stored"] = {"run_id": rec.run_id, "device_id": rec.device_id, "status": rec.status,
                               "review": rec.review, "baselines_set": rec.baselines_set, "message": rec.message,
                               "figures_stored": rec.figures_stored}
        if rec.message:
            print(f"phantomqc: store: analysis {rec.index + 1}: {rec.message}", file=sys.stderr)
        for w in rec.figure_warnings:
            print(f"phantomqc: store: analysis {rec.index + 1}: {w}", file=sys.stderr)
    print(f"store: {outcome.summary()}", file=sys.stderr)


def _sr_out(results, sr_path: str | None, send_to: str | None) -> int:
    """Write and/or send the results SR (``--sr``, ``--send-sr``); 2 when that fails, else 0."""
    import tempfile

    from phantomqc._shared.errors import PhantomQCError
    from phantomqc.ingest.send import parse_destination, send_dataset
    from phantomqc.report.sr import write_sr

    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = write_sr(results, sr_path or Path(tmp) / "phantomqc-sr.dcm")
            for line in out.skipped:
                print(f"phantomqc: sr: {line}", file=sys.stderr)
            if sr_path:
                print(f"sr: {out.path} ({out.groups} measurement group(s))", file=sys.stderr)
            if send_to:
                host, port, ae = parse_destination(send_to)
                status = send_dataset(out.path, host, port, ae)
                if status not in (0x0000, 0xB000, 0xB006, 0xB007):
                    print(f"phantomqc: error: --send-sr: {send_to} answered C-STORE status 0x{status:04X}",
                          file=sys.stderr)
                    return 2
                print(f"sr: sent to {send_to} (status 0x{status:04X})", file=sys.stderr)
    except PhantomQCError as exc:
        print(f"phantomqc: error: sr: {exc}", file=sys.stderr)
        return 2
    return 0


def _emit(doc: dict, results, json_target: str | None, report_dir: str | None) -> None:
    if report_dir:
        from phantomqc.report.write import write_report

        doc_with_figs, html = write_report(doc, results, Path(report_dir))
        doc.clear()
        doc.update(doc_with_figs)
        print(f"report: {html}", file=sys.stderr)
    for a in doc["analyses"]:
        if a.get("error"):
            print(f"phantomqc: input error: {a['error']['message']}", file=sys.stderr)
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    if json_target == "-":
        sys.stdout.write(text + "\n")
    elif json_target:
        Path(json_target).parent.mkdir(parents=True, exist_ok=True)
        Path(json_target).write_text(text + "\n", encoding="utf-8")
        print(f"json: {json_target}", file=sys.stderr)
    s = doc["summary"]
    v = s["verdicts"]
    print(f"{s['analyses']} analyses: {v['pass']} pass, {v['fail']} fail, {v['not_evaluated']} not evaluated, "
          f"{v.get('no_limit', 0)} without a limit, {s['input_errors']} input error(s); overall {s['overall']}",
          file=sys.stderr)


def _cmd_demo(args) -> int:
    from phantomqc.demo import run_demo

    return run_demo(Path(args.out), detector=args.detector, profile=args.profile, test_type=args.test_type,
                    workers=max(1, args.workers), progress=not args.no_progress)


def _cmd_phantoms(args) -> int:
    from reference_phantoms import PHANTOMS

    if args.phantoms_verb == "list" or args.phantoms_verb is None:
        for name, fn in PHANTOMS.items():
            doc = (fn.__doc__ or "").strip().splitlines()
            print(f"{name:16s} {doc[0] if doc else ''}")
        return 0
    if args.kind not in PHANTOMS:
        print(f"phantomqc: error: unknown phantom kind {args.kind!r}; known: {', '.join(PHANTOMS)}", file=sys.stderr)
        return 2
    out = PHANTOMS[args.kind](Path(args.out), detector=args.detector, dtype=args.dtype, seed=args.seed,
                              quality=args.quality)
    print(f"wrote {out}")
    return 0


def _cmd_profiles(args) -> int:
    from phantomqc._shared.errors import ProfileError
    from phantomqc.standards.profiles import list_profiles, load_profile

    if args.profiles_verb == "show":
        try:
            p = load_profile(args.id)
        except ProfileError as exc:
            print(f"phantomqc: error: {exc}", file=sys.stderr)
            return 2
        print(f"{p.id} {p.version}: {p.title}\nsource: {p.source}")
        if p.chain:
            print(f"extends: {' -> '.join(p.chain)}")
        if p.notes:
            print(f"notes: {p.notes}")
        print()
        for c in p.criteria:
            lab = f"[{c.label}]" if c.label else ""
            flag = "" if c.confirmed else "  (limit not confirmed)"
            print(f"{c.metric}{lab:<20s} {'/'.join(c.test_types):<28s} {c.describe():<48s} "
                  f"{c.source}: {c.clause}{flag}")
        return 0
    for p in list_profiles():
        ext = f" (extends {', '.join(p.chain)})" if p.chain else ""
        print(f"{p.id:18s} {p.version:8s} {len(p.criteria):3d} criteria  {p.title}{ext}")
    return 0


def _cmd_kinds(args) -> int:
    from phantomqc.core.registry import all_kinds

    for k in all_kinds().values():
        n = (f"{k.min_images}" if k.min_images == k.max_images else
             f">= {k.min_images}" if k.max_images is None else f"{k.min_images}-{k.max_images}")
        print(f"{k.name}\n  {k.summary}\n  modalities: {', '.join(k.modalities)}; images: {n}. {k.images_doc}")
        for f in k.fields:
            req = "required" if f.required else f"default {f.default!r}"
            extra = "; one per image" if f.per_image else ""
            choices = f"; one of {', '.join(map(str, f.choices))}" if f.choices else ""
            unit = f" [{f.unit}]" if f.unit else ""
            print(f"  - {f.name} ({f.type}{unit}, {req}{extra}{choices}): {f.doc}")
        print(f"  measures: {', '.join(k.metrics)}\n")
    return 0


def _cmd_metrics(args) -> int:
    from phantomqc.core.registry import all_metrics

    for m in all_metrics().values():
        labels = f" labels: {', '.join(m.labels)}." if m.labels else ""
        print(f"{m.id} [{m.unit}]\n  {m.definition}{labels}\n  source: {m.source}\n")
    return 0


def _cmd_schema(args) -> int:
    from importlib import resources

    sys.stdout.write((resources.files("phantomqc") / "schema" / "analysis-1.json").read_text(encoding="utf-8"))
    return 0


def _cmd_rubric(args) -> int:
    from phantomqc.cli_rubric import cmd_rubric

    return cmd_rubric(args)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"analyze": _cmd_analyze, "demo": _cmd_demo, "phantoms": _cmd_phantoms, "profiles": _cmd_profiles,
                "kinds": _cmd_kinds, "metrics": _cmd_metrics, "schema": _cmd_schema, "rubric": _cmd_rubric}
    if args.verb is None:
        _parser().print_help()
        return 0
    try:
        if args.verb not in handlers:  # the programme's verbs carry their handler
            fn = getattr(args, "func", None) or getattr(args, "handler", None)
            if fn is None:
                _parser().parse_args([args.verb, "--help"])
            return fn(args)
        return handlers[args.verb](args)
    except BrokenPipeError:  # e.g. `phantomqc metrics | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
