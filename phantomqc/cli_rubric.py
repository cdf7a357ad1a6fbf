"""``phantomqc rubric ...``: the clinical QC forms, scoring, statistics, sampling, report checks and NM indicators.

Exit status: 0 when everything was processed; 1 when ``check`` found a report that fails (an error-severity
finding); 2 when an input file could not be used, or some rows were rejected (the other rows are still processed
and reported).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_rubric_parser", "cmd_rubric"]


def add_rubric_parser(sub) -> None:
    r = sub.add_parser("rubric", help="clinical image and report QC: forms, scores, statistics, checks (seeds 000-004)")
    rs = r.add_subparsers(dest="rubric_verb", metavar="VERB")
    f = rs.add_parser("forms", help="list the QC forms, or show one with its items and scoring rule")
    f.add_argument("words", nargs="*", metavar="show ID", help="'show ID' (or just ID) shows one form")
    f.add_argument("--json", metavar="FILE", help="write the forms as JSON ('-' for stdout)")

    def common(p, inputs_help: str, *, many: bool = False, report: bool = True, month: bool = False) -> None:
        p.add_argument("inputs" if many else "input", nargs="+" if many else None, help=inputs_help)
        p.add_argument("--json", metavar="FILE", help="write the JSON document ('-' for stdout)")
        if report:
            p.add_argument("--report", metavar="DIR", help="write report.html, charts, CSV tables and rubric.json")
        if month:
            p.add_argument("--month", metavar="YYYY-MM", help="only this month")

    common(rs.add_parser("score", help="score QC records (CSV or JSON) on their forms"), "QC record file")
    st = rs.add_parser("stats", help="seed 001 section 5.1/6 statistics (figures 2-8) from QC records")
    common(st, "QC record file", month=True)
    st.add_argument("--exams", metavar="FILE", help="exam list (CSV or JSON) for the workload tables (figures 5/6)")
    sa = rs.add_parser("sample", help="random QC sample of an exam list (seed 001 7.2.1.1), reproducible with --seed")
    common(sa, "exam list (CSV or JSON)", report=False, month=True)
    sa.add_argument("--rules", required=True, metavar="TOML", help="sampling rules file")
    sa.add_argument("--seed", type=int, required=True, help="random seed (same seed, same sample)")
    fl = rs.add_parser("filter", help="centralised QC (seed 001 7.2.1.3): select exams by date, device, part, person")
    common(fl, "exam list (CSV or JSON)", report=False)
    fl.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="first exam date (inclusive)")
    fl.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="last exam date (inclusive)")
    for name in ("device-type", "exam-part", "staff", "staff-role"):
        fl.add_argument(f"--{name}", action="append", metavar="VALUE", help="keep exams with this value (repeatable)")
    fl.add_argument("--text", action="append", metavar="TEXT", help="keep exams containing this text in any column")
    common(rs.add_parser("check", help="check radiology reports (seed 002; PET/CT seed 000; CMR seed 004)"),
           "report files (JSON, or text with the template headings)", many=True)
    common(rs.add_parser("nm", help="NM-01..NM-08 indicators (seed 000) from case records"), "case file (CSV or JSON)",
           month=True)
    pm = rs.add_parser("permissions", help="graded QC (seed 001 7.2.2): which role may score which form; "
                                           "with --records, check who scored what")
    pm.add_argument("--records", metavar="FILE", help="QC records to check (CSV or JSON)")
    pm.add_argument("--roles", metavar="FILE", help="qc_person -> role table (CSV or JSON with qc_person, role)")
    pm.add_argument("--json", metavar="FILE", help="write the JSON document ('-' for stdout)")
    common(rs.add_parser("gold", help="gold standard: two readers, arbitration, Cohen's kappa (seed 001 7.3.1)"),
           "readings file (CSV or JSON)")


def _emit(doc: dict, target: str | None, *, default_stdout: bool = False) -> None:
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    if target == "-" or (target is None and default_stdout):
        sys.stdout.write(text + "\n")
    elif target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(text + "\n", encoding="utf-8")
        print(f"json: {target}", file=sys.stderr)


def _report(out: str | None, **docs: Any) -> None:
    if not out:
        return
    from phantomqc.report.rubric_html import write_rubric_report

    html = write_rubric_report(Path(out), **docs)
    print(f"report: {html}", file=sys.stderr)


def _rejected(doc: dict, key: str = "rejected") -> int:
    rows = doc.get(key) or []
    for e in rows:
        print(f"phantomqc: rejected: {e.get('message', e) if isinstance(e, dict) else e}", file=sys.stderr)
    return len(rows)


def _forms(args) -> int:
    from phantomqc._shared.errors import InputError
    from phantomqc.rubric import api

    words = [w for w in (getattr(args, "words", None) or []) if w != "show"]
    if len(words) > 1:
        raise InputError(f"'rubric forms' takes at most one form id, got {words}")
    args.id = words[0] if words else None
    if args.id:
        doc = api.form(args.id)
        if args.json:
            _emit(doc, args.json)
            return 0
        f = doc["form"]
        print(f"{f['id']}: {f['title']}  (seed {f['seed']}, {f['source']}; {f['category']})")
        print(f"rule: {f['rule']['kind']}: {f['rule']['seed_rule']}")
        if f["rule"]["choice"]:
            print(f"choice: {f['rule']['choice']}")
        for it in f["items"]:
            pts = f" [{it['points']} 分]" if it["points"] is not None else ""
            name = f"{it['name']}：" if it["name"] else ""
            print(f"  {it['code']:<32s} {name}{it['text']}{pts}")
        return 0
    doc = api.forms()
    if args.json:
        _emit(doc, args.json)
        return 0
    for f in doc["forms"]:
        rng = f"{f['min_score']}-{f['max_score']}" if f["max_score"] is not None else "合格/不合格"
        print(f"{f['id']:<24s} {f['rule_kind']:<20s} {f['n_severe']:2d} severe {f['n_items']:3d} items  "
              f"score {rng:<10s} {f['title']}  (seed {f['seed'][:3]})")
    return 0


def _read_rows(path: str, what: str, key: str = "rows") -> list[dict]:
    """A CSV or JSON table file as a list of row dicts (whole-file problems raise InputError naming the file)."""
    from phantomqc.rubric._tables import read_table

    return read_table(path, what=what, key=key)[0]


def _score(args) -> int:
    from phantomqc.rubric.api import scores_document
    from phantomqc.rubric.scoring import read_records

    doc = scores_document(read_records(args.input))
    _emit(doc, args.json)
    _report(args.report, scores=doc, sources=[args.input])
    n_bad = _rejected(doc)
    print(f"{doc['n_records']} record(s) scored, {n_bad} rejected", file=sys.stderr)
    return 2 if n_bad else 0


def _stats(args) -> int:
    from phantomqc.rubric.scoring import read_records
    from phantomqc.rubric.stats import rubric_stats

    exams = _read_rows(args.exams, "exam list", "exams") if args.exams else None
    doc = rubric_stats(read_records(args.input), month=args.month, exams=exams)
    _emit(doc, args.json)
    _report(args.report, stats=doc, sources=[args.input] + ([args.exams] if args.exams else []))
    n_bad = _rejected(doc) + _rejected(doc, "exam_rejected")
    m = doc["monthly"]
    for row in m:
        print(f"{row['month']}: 抽查例数 {row['sampled_count']}, 合格例数 {row['passed_count']}, "
              f"合格率 {row['pass_rate_percent']:.1f} %", file=sys.stderr)
    return 2 if n_bad else 0


def _sample(args) -> int:
    from phantomqc.rubric import sampling

    exams, errors = sampling.read_exams(args.input)
    doc = sampling.sample_exams(exams, sampling.load_sampling_rules(args.rules), seed=args.seed, month=args.month)
    doc["errors"] = list(errors) + list(doc.get("errors", []))
    _emit(doc, args.json, default_stdout=True)
    n_bad = _rejected(doc, "errors")
    print(f"{doc['n_sampled']} of {doc['n_exams']} exam(s) sampled (seed {args.seed})", file=sys.stderr)
    return 2 if n_bad else 0


def _filter(args) -> int:
    from phantomqc.rubric.sampling import filter_exams, read_exams

    exams, errors = read_exams(args.input)
    kept = filter_exams(exams, date_from=args.date_from, date_to=args.date_to, device_type=args.device_type,
                        exam_part=args.exam_part, staff=args.staff, staff_role=args.staff_role, text=args.text)
    doc = {"schema": "phantomqc.rubric_filter/1", "source": args.input, "n_exams": len(exams), "n_selected": len(kept),
           "filters": {k: getattr(args, k) for k in ("date_from", "date_to", "device_type", "exam_part", "staff",
                                                     "staff_role", "text") if getattr(args, k) is not None},
           "exams": kept, "errors": list(errors)}
    _emit(doc, args.json, default_stdout=True)
    print(f"{len(kept)} of {len(exams)} exam(s) selected", file=sys.stderr)
    return 2 if _rejected(doc, "errors") else 0


def _check(args) -> int:
    from phantomqc.rubric.checks import check_reports

    doc = check_reports(args.inputs)
    _emit(doc, args.json, default_stdout=not args.report)
    _report(args.report, checks=doc, sources=list(args.inputs))
    results = doc.get("results", [])
    n_err = sum(1 for r in results if r.get("error"))
    n_fail = sum(1 for r in results if not r.get("error") and not r["result"]["passed"])
    for r in results:
        if r.get("error"):
            print(f"phantomqc: input error: {r['error']}", file=sys.stderr)
    print(f"{len(results)} report(s): {len(results) - n_err - n_fail} pass, {n_fail} with errors found, "
          f"{n_err} unreadable", file=sys.stderr)
    return 2 if n_err else (1 if n_fail else 0)


def _nm(args) -> int:
    from phantomqc.rubric.nm import nm_indicators, read_cases

    cases, errors = read_cases(args.input)
    doc = nm_indicators(cases, month=args.month, errors=errors)
    _emit(doc, args.json, default_stdout=not args.report)
    _report(args.report, nm=doc, sources=[args.input])
    n_bad = _rejected(doc, "errors")
    return 2 if n_bad else 0


def _gold(args) -> int:
    from phantomqc.rubric.gold import gold_standard

    doc = gold_standard(_read_rows(args.input, "readings", "readings"))
    _emit(doc, args.json, default_stdout=not args.report)
    _report(args.report, gold=doc, sources=[args.input])
    return 2 if _rejected(doc, "errors") else 0


def _permissions(args) -> int:
    from phantomqc._shared.errors import InputError
    from phantomqc.rubric.forms import load_forms
    from phantomqc.rubric.permissions import check_record_permissions, load_permissions
    from phantomqc.rubric.scoring import read_records

    perms = load_permissions()
    form_ids = list(load_forms())
    doc: dict = {"schema": "phantomqc.rubric_permissions/1", "source": perms.source,
                 "roles": [{"id": r.id, "label": r.label, "level": r.level, "forms": sorted(r.forms),
                            "basis": r.basis} for r in perms.roles]}
    if args.records:
        if not args.roles:
            raise InputError("--records needs --roles FILE (a table of qc_person and role)")
        table = {str(r.get("qc_person", "")).strip(): str(r.get("role", "")).strip()
                 for r in _read_rows(args.roles, "role table", "roles")}
        rs = read_records(args.records)
        doc["violations"] = check_record_permissions(rs, table, permissions=perms)
        doc["rejected"] = [{"row": e.row, "message": e.message} for e in rs.errors]
    if args.json:
        _emit(doc, args.json)
    else:
        print(f"{'role':<18s}{'level':>6s}  " + " ".join(f[:10].ljust(10) for f in form_ids))
        for r in perms.roles:
            print(f"{r.id:<18s}{r.level:>6d}  " + " ".join(("yes" if f in r.forms else "-").ljust(10)
                                                          for f in form_ids) + f"  {r.label}")
        for v in doc.get("violations", []):
            print(f"violation: {v['message']}")
    n_bad = len(doc.get("violations", [])) + _rejected(doc)
    return 1 if doc.get("violations") else (2 if n_bad else 0)


def cmd_rubric(args) -> int:
    from phantomqc._shared.errors import PhantomQCError

    verbs = {"forms": _forms, "score": _score, "stats": _stats, "sample": _sample, "check": _check, "nm": _nm,
             "gold": _gold, "permissions": _permissions, "filter": _filter}
    verb = args.rubric_verb or "forms"
    if args.rubric_verb is None:
        args.words, args.json = [], None
    try:
        return verbs[verb](args)
    except PhantomQCError as exc:
        print(f"phantomqc: error: {exc}", file=sys.stderr)
        return 2
