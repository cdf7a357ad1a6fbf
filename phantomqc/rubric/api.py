"""JSON in, JSON out: the rubric layer for a reporting workstation's QC pop-up, and for the command line.

Every function takes plain JSON values (or a JSON text) and returns a JSON-ready ``dict`` with a ``"schema"`` key.
Nothing here reads or writes files; the command line (``phantomqc rubric ...``) does the file handling and calls
these functions. :func:`handle` dispatches one request object ``{"action": ..., ...}``, so a workstation needs only
one entry point::

    >>> from phantomqc.rubric import api
    >>> reply = api.handle({"action": "score", "records": [{"exam_id": "1", "exam_date": "2026-10-09",
    ...     "device_type": "CT", "exam_part": "胸部", "staff": "技师01", "staff_role": "technologist",
    ...     "qc_person": "质控员", "form": "image_quality", "failed_items": "image_quality.item.1"}]})
    >>> reply["records"][0]["score"]
    4

Errors: a request that cannot be understood at all (unknown action, wrong type) gives
``{"schema": "phantomqc.rubric_error/1", "error": {"type", "message"}}`` from :func:`handle`; a bad *record* inside
a good request is reported in that document's ``rejected`` list and the other records are still processed.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from phantomqc._shared.errors import InputError, PhantomQCError
from phantomqc.rubric.forms import Form, load_forms
from phantomqc.rubric.scoring import RecordSet, parse_records

__all__ = ["SCORES_SCHEMA", "FORMS_SCHEMA", "ERROR_SCHEMA", "forms", "form", "score", "scores_document", "stats",
           "sample", "filter_", "check", "nm", "gold", "permissions", "handle", "ACTIONS"]

SCORES_SCHEMA = "phantomqc.rubric_scores/1"
FORMS_SCHEMA = "phantomqc.rubric_forms/1"
ERROR_SCHEMA = "phantomqc.rubric_error/1"


def _json(value: Any, what: str) -> Any:
    if isinstance(value, (str, bytes)):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise InputError(f"{what} is not valid JSON: {exc}") from exc
    return value


def _rows(value: Any, what: str, key: str) -> list:
    value = _json(value, what)
    if isinstance(value, Mapping) and key in value:
        value = value[key]
    if not isinstance(value, list):
        raise InputError(f"{what}: expected a list of objects (or an object with a '{key}' list), "
                         f"got {type(value).__name__}")
    return value


def form_dict(f: Form) -> dict:
    """One form as JSON: what a QC pop-up needs to show it (items in seed order, rule and its documented choice)."""
    r = f.rule
    return {"id": f.id, "title": f.title, "seed": f.seed, "source": f.source, "category": f.category,
            "notes": list(f.notes), "min_score": f.min_score, "max_score": f.max_score,
            "rule": {"kind": r.kind, "seed_rule": r.seed_rule, "choice": r.choice, "severe_score": r.severe_score,
                     "score_by_satisfied": list(r.score_by_satisfied), "full_score": r.full_score,
                     "deduct_per_unmet": r.deduct_per_unmet, "floor_score": r.floor_score,
                     "pass_min_score": r.pass_min_score, "excellent_score": r.excellent_score,
                     "total_points": r.total_points},
            "items": [{"code": i.code, "kind": i.kind, "number": i.number, "name": i.name, "text": i.text,
                       "clause": i.clause, "section": i.section, "points": i.points,
                       "applies_to_tracer": i.applies_to_tracer or None} for i in f.items]}


def forms() -> dict:
    """Every packaged form, summarised: ``{"schema", "forms": [{id, title, seed, category, rule_kind, n_items}]}``."""
    return {"schema": FORMS_SCHEMA,
            "forms": [{"id": f.id, "title": f.title, "seed": f.seed, "source": f.source, "category": f.category,
                       "rule_kind": f.rule.kind, "n_severe": len(f.severe_items), "n_items": len(f.criteria_items),
                       "min_score": f.min_score, "max_score": f.max_score} for f in load_forms().values()]}


def form(form_id: str) -> dict:
    """One form in full (:func:`form_dict`) under ``{"schema", "form"}``. Unknown id -> :class:`InputError`."""
    fs = load_forms()
    if form_id not in fs:
        raise InputError(f"unknown form '{form_id}'; expected one of {sorted(fs)}")
    return {"schema": FORMS_SCHEMA, "form": form_dict(fs[form_id])}


def scores_document(rs: RecordSet) -> dict:
    """The scored records of a :class:`RecordSet` as a ``phantomqc.rubric_scores/1`` document."""
    recs = []
    for r in rs.records:
        res = r.result
        recs.append({"row": r.row, "exam_id": r.exam_id, "exam_date": r.exam_date.isoformat(),
                     "device_type": r.device_type, "exam_part": r.exam_part, "staff": r.staff,
                     "staff_role": r.staff_role, "qc_person": r.qc_person, "form": r.form, "score": res.score,
                     "max_score": res.max_score, "passed": res.passed, "verdict": res.verdict, "severe": res.severe,
                     "satisfied": res.satisfied, "applicable": res.applicable,
                     "failed_items": list(res.failed_items),
                     "deductions": [{"item": d.code, "points": d.points} for d in res.deductions],
                     "comment": r.comment})
    return {"schema": SCORES_SCHEMA, "source": rs.source, "n_records": len(recs), "n_rejected": len(rs.errors),
            "records": recs, "rejected": [{"row": e.row, "message": e.message} for e in rs.errors]}


def score(records: Any) -> dict:
    """Score QC records (a list of record objects, or JSON text of one): ``phantomqc.rubric_scores/1``.

    ``score`` may be empty in a record (computed from ``failed_items``); when given it must agree, or the record is
    rejected with its row number (1-based position in the list) and the reason.
    """
    return scores_document(parse_records(_rows(records, "records", "records"), first_row=1))


def stats(records: Any, *, month: str | None = None, exams: Any = None) -> dict:
    """Seed 001 section 5.1/6 statistics (:func:`phantomqc.rubric.stats.rubric_stats`) from JSON values."""
    from phantomqc.rubric.stats import rubric_stats

    ex = None if exams is None else _rows(exams, "exams", "exams")
    return rubric_stats(_rows(records, "records", "records"), month=month, exams=ex)


def sample(exams: Any, rules: Any, *, seed: int, month: str | None = None) -> dict:
    """Random QC sample (seed 001 7.2.1.1) of an exam list; ``rules`` is a rules mapping or TOML text."""
    from phantomqc.rubric import sampling

    return sampling.sample_exams(_rows(exams, "exams", "exams"), sampling.sampling_rules(rules), seed=int(seed),
                                 month=month)


_FILTER_KEYS = ("date_from", "date_to", "device_type", "exam_part", "staff", "staff_role", "text")


def filter_(exams: Any, **filters: Any) -> dict:
    """Centralised QC (seed 001 7.2.1.3): the exams matching every given filter (see
    :func:`phantomqc.rubric.sampling.filter_exams`), with the exam list validated first."""
    from phantomqc.rubric.sampling import filter_exams, parse_exams

    rows, errors = parse_exams(_rows(exams, "exams", "exams"))
    kept = filter_exams(rows, **filters)
    return {"schema": "phantomqc.rubric_filter/1", "n_exams": len(rows), "n_selected": len(kept),
            "filters": filters, "exams": kept, "errors": list(errors)}


def check(report: Any) -> dict:
    """Check one report (template fields as an object, or the plain text with the template's headings)."""
    from phantomqc.rubric.checks import check_report

    if isinstance(report, str) and report.lstrip().startswith("{"):
        report = _json(report, "report")
    return check_report(report)


def nm(cases: Any, *, month: str | None = None) -> dict:
    """NM-01..NM-08 indicators (seed 000) from case records."""
    from phantomqc.rubric.nm import nm_indicators

    return nm_indicators(_rows(cases, "cases", "cases"), month=month)


def gold(readings: Any) -> dict:
    """Gold standard (seed 001 7.3.1): two readers, arbitration, Cohen's kappa."""
    from phantomqc.rubric.gold import gold_standard

    return gold_standard(_rows(readings, "readings", "readings"))


def permissions(role: str, form_id: str) -> dict:
    """Whether ``role`` may score ``form_id`` (seed 001 7.2.2 graded QC)."""
    from phantomqc.rubric.permissions import may_score

    return {"schema": "phantomqc.rubric_permission/1", "role": role, "form": form_id,
            "allowed": may_score(role, form_id)}


ACTIONS = {
    "forms": lambda req: forms(),
    "form": lambda req: form(str(req.get("form") or req.get("id") or "")),
    "score": lambda req: score(req.get("records")),
    "stats": lambda req: stats(req.get("records"), month=req.get("month"), exams=req.get("exams")),
    "sample": lambda req: sample(req.get("exams"), req.get("rules") or {}, seed=req.get("seed", 0),
                                 month=req.get("month")),
    "filter": lambda req: filter_(req.get("exams"), **{k: req[k] for k in _FILTER_KEYS if k in req}),
    "check": lambda req: check(req.get("report")),
    "nm": lambda req: nm(req.get("cases"), month=req.get("month")),
    "gold": lambda req: gold(req.get("readings")),
    "permission": lambda req: permissions(str(req.get("role", "")), str(req.get("form", ""))),
}


def handle(request: Any) -> dict:
    """Answer one request ``{"action": <one of ACTIONS>, ...arguments}`` (an object or its JSON text).

    Never raises for bad input: the reply is an error document naming the cause.
    """
    try:
        req = _json(request, "request")
        if not isinstance(req, Mapping):
            raise InputError(f"request: expected a JSON object with an 'action', got {type(req).__name__}")
        action = req.get("action")
        if action not in ACTIONS:
            raise InputError(f"unknown action {action!r}; expected one of {sorted(ACTIONS)}")
        return ACTIONS[action](req)
    except PhantomQCError as exc:
        return {"schema": ERROR_SCHEMA, "error": {"type": type(exc).__name__, "message": str(exc)}}
    except (TypeError, ValueError) as exc:
        return {"schema": ERROR_SCHEMA, "error": {"type": type(exc).__name__, "message": f"bad request: {exc}"}}
