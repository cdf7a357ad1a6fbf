"""Statistics of the seed 001 QC report tables (section 6, figures 2 to 8) and monthly indicators (section 5.1).

Pure functions: QC records (and an optional exam list) in, one plain JSON-ready ``dict`` out. No charts, no files.

Which records count
-------------------
Only records of the seed's *score forms* count toward score statistics: the forms of category ``评分类``
(seed 001 4.1.2: image quality, film layout, 3D reconstruction, report quality, audited report quality), whose
scores run 1..5. The application form (``规范类``) is 合格/不合格 with ``score`` None, and the 30- and 100-point
sheets and the PET/CT checklist are on other scales; they are counted in ``n_other_records`` and left out.

The two senses of 合格
---------------------
Seed 001 uses "合格" twice, and the document keeps them apart:

* figure 7 legend, "3分：合格": the share of exams scored exactly 3 -> ``score3_percent``;
* section 5.1 合格例数 / 合格率, and ``pass_percent``: the share scored 3 or more (the forms' ``pass_min_score``)
  -> ``passed_count`` and ``pass_rate_percent`` (monthly), ``pass_percent`` (per person).

Percentages are full floats; rounding is for display only. (The seed's figure 7 shows 1/16 = 6.25 % as 6.2, which
is Python's ``round(x, 1)``: round half to even on the binary value.)
"""

from __future__ import annotations

import datetime as _dt
import re
from collections import Counter, defaultdict
from typing import Any, Iterable, Mapping

from phantomqc._shared.errors import InputError
from phantomqc.rubric.forms import Form, load_forms
from phantomqc.rubric.scoring import STAFF_ROLES, QCRecord, RecordSet, parse_records

__all__ = ["SCHEMA", "SCORE_FORM_CATEGORY", "SCORES", "PASS_MIN_SCORE", "TERMS", "rubric_stats", "is_score_form"]

SCHEMA = "phantomqc.rubric_stats/1"
SCORE_FORM_CATEGORY = "评分类"
SCORES = (5, 4, 3, 2, 1)  # column order of figure 2
EXCELLENT, GOOD, SCORE3 = 5, 4, 3  # figure 7 legend: 5 优秀, 4 良好, 3 合格; 2 and 1 不合格
PASS_MIN_SCORE = 3  # section 5.1 合格 and pass_percent: score >= 3
TERMS = {
    "excellent_percent": "优秀率（5分）",
    "good_percent": "良好率（4分）",
    "score3_percent": "合格率（图7：3分）",
    "not_passing_percent": "不合格率（2分、1分）",
    "pass_percent": "合格率（5.1：≥3分）",
    "qc_count": "被质控数",
    "sampled_count": "抽查例数",
    "passed_count": "合格例数（≥3分）",
    "pass_rate_percent": "合格率（合格例数/抽查例数×100%）",
}
_MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")


def is_score_form(form: Form) -> bool:
    """True for the seed 001 评分类 forms (1..5 points), the only ones in the score statistics."""
    return form.category == SCORE_FORM_CATEGORY


def _natural(text: str) -> tuple:
    """Sort key putting A2 before A10."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"([0-9]+)", text) if p)


def _person_key(staff: str, role: str) -> tuple:
    role_rank = STAFF_ROLES.index(role) if role in STAFF_ROLES else len(STAFF_ROLES)
    return (role_rank, role, _natural(staff))


def _percent(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


def _month_of(d: _dt.date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def _as_records(records: Any, forms: Mapping[str, Form]) -> tuple[list[QCRecord], list[dict]]:
    """Accept a RecordSet, QCRecords, or raw record mappings (JSON in); return valid records and rejections."""
    if isinstance(records, RecordSet):
        return list(records.records), [{"row": e.row, "message": e.message} for e in records.errors]
    if records is None:
        raise InputError("records is None; pass a RecordSet, QCRecord objects or record mappings (may be empty)")
    items = list(records)
    good = [r for r in items if isinstance(r, QCRecord)]
    raw = [r for r in items if not isinstance(r, QCRecord)]
    rejected: list[dict] = []
    if raw:
        parsed = parse_records(raw, forms=forms)
        good.extend(parsed.records)
        rejected = [{"row": e.row, "message": e.message} for e in parsed.errors]
    return good, rejected


def _check_month(month: str | None) -> None:
    if month is not None and (not isinstance(month, str) or not _MONTH.match(month)):
        raise InputError(f"month {month!r} is not YYYY-MM (e.g. '2024-03'); give a month or None for all")


def _score_distribution(recs: list[QCRecord]) -> tuple[list[dict], list[dict]]:
    """Figure 2: every (person, device type) that has records, with all five scores (zeros kept)."""
    counts = Counter((r.staff, r.staff_role, r.device_type, r.score) for r in recs)
    cells = sorted({(r.staff, r.staff_role, r.device_type) for r in recs},
                   key=lambda c: (_person_key(c[0], c[1]), c[2]))
    rows = [{"staff": s, "staff_role": role, "device_type": dev, "score": sc, "count": counts[(s, role, dev, sc)]}
            for s, role, dev in cells for sc in SCORES]
    by_dev = Counter((r.device_type, r.score) for r in recs)
    totals = [{"device_type": dev, "score": sc, "count": by_dev[(dev, sc)]}
              for dev in sorted({r.device_type for r in recs}) for sc in SCORES]
    return rows, totals


def _quality_rates(recs: list[QCRecord]) -> list[dict]:
    """Figures 7/8 (technologists) and 6.5 (doctors): rates per person over all their score-form records."""
    people: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for r in recs:
        people[(r.staff, r.staff_role)][r.score] += 1
    out = []
    for (staff, role), c in sorted(people.items(), key=lambda kv: _person_key(*kv[0])):
        n = sum(c.values())
        not_passing = sum(v for s, v in c.items() if s < SCORE3)
        passing = sum(v for s, v in c.items() if s >= PASS_MIN_SCORE)
        out.append({"staff": staff, "staff_role": role, "qc_count": n,
                    "excellent_count": c[EXCELLENT], "good_count": c[GOOD], "score3_count": c[SCORE3],
                    "not_passing_count": not_passing, "pass_count": passing,
                    "excellent_percent": _percent(c[EXCELLENT], n), "good_percent": _percent(c[GOOD], n),
                    "score3_percent": _percent(c[SCORE3], n), "not_passing_percent": _percent(not_passing, n),
                    "pass_percent": _percent(passing, n)})
    return out


def _items_text(codes: Iterable[str], form: Form) -> list[dict]:
    out = []
    for code in codes:
        it = form.item(code)
        out.append({"item": code, "name": it.name, "text": it.text})
    return out


def _deductions(recs: list[QCRecord], forms: Mapping[str, Form]) -> tuple[list[dict], list[dict]]:
    """Figure 3 (one row per record with a deduction) and figure 4 (count per item, zero counts kept)."""
    details = []
    for r in sorted(recs, key=lambda r: (r.exam_date, r.row)):
        if not r.result.failed_items:
            continue
        form = forms[r.form]
        codes = r.result.failed_items
        details.append({"exam_id": r.exam_id, "exam_date": r.exam_date.isoformat(), "device_type": r.device_type,
                        "exam_part": r.exam_part, "staff": r.staff, "staff_role": r.staff_role,
                        "qc_person": r.qc_person, "form": r.form, "score": r.score,
                        "unmet_items": _items_text([c for c in codes if form.item(c).kind == "item"], form),
                        "severe_items": _items_text([c for c in codes if form.item(c).kind == "severe"], form),
                        "comment": r.comment})
    counts = Counter(c for r in recs for c in r.result.failed_items)
    used_forms = sorted({r.form for r in recs})
    items = []
    for fid in used_forms:
        form = forms[fid]
        # figure 4 order: severe items (严重扣分项) first, then criteria (不符合项), each in the seed's order
        for it in form.severe_items + form.criteria_items:
            items.append({"form": fid, "item": it.code, "kind": it.kind,
                          "kind_label": "严重扣分项" if it.kind == "severe" else "不符合项",
                          "name": it.name, "text": it.text, "count": counts[it.code]})
    return details, items


def _workload(exams: Iterable[Mapping[str, Any]] | None, month: str | None) -> tuple[list, dict, list, list]:
    """Figures 5/6: exams per staff x device type from an exam list (rows with ``staff`` and ``device_type``)."""
    if exams is None:
        return [], {"by_staff": [], "by_device_type": [], "total": 0}, [], []
    counts: Counter = Counter()
    rejected, undated = [], 0
    for n, row in enumerate(exams, start=1):
        if not isinstance(row, Mapping):
            rejected.append({"row": n, "message": f"row {n}: expected an object with staff and device_type, "
                                                  f"got {type(row).__name__}"})
            continue
        staff = str(row.get("staff") or "").strip()
        dev = str(row.get("device_type") or "").strip()
        if not staff or not dev:
            rejected.append({"row": n, "message": f"row {n}: exam needs non-empty 'staff' and 'device_type'"})
            continue
        if month is not None:
            raw = row.get("exam_date")
            if raw is None or not str(raw).strip():
                undated += 1
            else:
                text = str(raw).strip()
                if isinstance(raw, _dt.date):
                    ym = _month_of(raw)
                elif re.match(r"^[0-9]{4}-[0-9]{2}", text):
                    ym = text[:7]
                elif re.match(r"^[0-9]{8}$", text):
                    ym = f"{text[:4]}-{text[4:6]}"
                else:
                    rejected.append({"row": n, "message": f"row {n}: exam_date '{text}' is not YYYY-MM-DD"})
                    continue
                if ym != month:
                    continue
        counts[(staff, dev)] += 1
    warnings = []
    if undated:
        warnings.append(f"{undated} exam(s) have no exam_date and were counted in month {month} anyway; "
                        f"give exam_date to filter them")
    rows = [{"staff": s, "device_type": d, "exams": v}
            for (s, d), v in sorted(counts.items(), key=lambda kv: (_natural(kv[0][0]), kv[0][1]))]
    by_staff: Counter = Counter()
    by_dev: Counter = Counter()
    for (s, d), v in counts.items():
        by_staff[s] += v
        by_dev[d] += v
    totals = {"by_staff": [{"staff": s, "exams": v} for s, v in sorted(by_staff.items(),
                                                                      key=lambda kv: (-kv[1], _natural(kv[0])))],
              "by_device_type": [{"device_type": d, "exams": v} for d, v in sorted(by_dev.items())],
              "total": sum(counts.values())}
    return rows, totals, rejected, warnings


def _monthly(recs: list[QCRecord]) -> list[dict]:
    """Section 5.1 per month: 抽查例数, 合格例数 (score >= 3), 合格率, overall and per form."""
    groups: dict[str, list[QCRecord]] = defaultdict(list)
    for r in recs:
        groups[_month_of(r.exam_date)].append(r)

    def block(rs: list[QCRecord]) -> dict:
        n = len(rs)
        ok = sum(1 for r in rs if r.score >= PASS_MIN_SCORE)
        return {"sampled_count": n, "passed_count": ok, "pass_rate_percent": _percent(ok, n)}

    out = []
    for m in sorted(groups):
        rs = groups[m]
        by_form = defaultdict(list)
        for r in rs:
            by_form[r.form].append(r)
        out.append({"month": m, **block(rs), "by_form": [{"form": f, **block(v)} for f, v in sorted(by_form.items())]})
    return out


def rubric_stats(records: RecordSet | Iterable[QCRecord] | Iterable[Mapping[str, Any]], *, month: str | None = None,
                 exams: Iterable[Mapping[str, Any]] | None = None) -> dict:
    """The statistics of seed 001 section 6 (figures 2 to 8) and the monthly indicators of section 5.1.

    Parameters
    ----------
    records : RecordSet, iterable of QCRecord, or iterable of mappings
        Scored QC records (:func:`phantomqc.rubric.scoring.read_records`), or raw records with the record columns,
        which are validated here (bad rows go to ``rejected``, the rest are counted).
    month : str, optional
        ``YYYY-MM``: keep only records (and dated exams) of that month. None keeps all.
    exams : iterable of mappings, optional
        The exam list for the workload (figures 5/6): one row per exam with ``staff`` and ``device_type``, and
        ``exam_date`` when ``month`` is given (an undated exam is counted with a warning).

    Returns
    -------
    dict
        ``schema`` (``phantomqc.rubric_stats/1``), ``month``, ``scores``, ``n_records``, ``n_other_records``,
        ``score_distribution`` ``[{staff, staff_role, device_type, score, count}]`` (every score 5..1 for each
        person x device type that has records: figure 2's zeros; no row where figure 2 is blank),
        ``score_distribution_totals`` ``[{device_type, score, count}]`` (figure 2's 合计 row),
        ``quality_rates`` ``[{staff, staff_role, qc_count, excellent_percent, good_percent, score3_percent,
        not_passing_percent, pass_percent, ...counts}]`` (figure 7; doctors as 6.5),
        ``deductions`` ``[{form, item, kind, kind_label, name, text, count}]`` (figure 4, zero counts kept),
        ``deduction_details`` (figure 3), ``workload`` ``[{staff, device_type, exams}]`` and
        ``workload_totals`` (figure 5), ``monthly`` ``[{month, sampled_count, passed_count, pass_rate_percent,
        by_form}]`` (5.1), ``terms`` (Chinese labels), ``rejected``, ``exam_rejected``, ``warnings``.

    Raises
    ------
    InputError
        ``month`` is not ``YYYY-MM``, or ``records`` is None.

    Notes
    -----
    For a person with ``n`` score-form records and ``n_s`` of them scored ``s``:
    ``excellent_percent = 100 n_5 / n``, ``good_percent = 100 n_4 / n``, ``score3_percent = 100 n_3 / n``,
    ``not_passing_percent = 100 (n_2 + n_1) / n``, ``pass_percent = 100 (n_5 + n_4 + n_3) / n``.
    Per month (5.1): 合格率 = 合格例数 / 抽查例数 × 100 %, with 合格例数 the records scored ≥ 3.
    Percentages are not rounded. A person's records of several score forms are pooled, as figure 7 does.

    References
    ----------
    Seed 001 (regional remote-imaging-centre QC standard), sections 4.1.2, 5.1 and 6.1-6.5, figures 2-8.

    Examples
    --------
    >>> doc = rubric_stats([{"exam_id": "1", "exam_date": "2024-03-02", "device_type": "CT", "staff": "A1",
    ...                      "staff_role": "technologist", "form": "image_quality", "failed_items": ""}])
    >>> doc["quality_rates"][0]["excellent_percent"]
    100.0
    """
    _check_month(month)
    forms = load_forms()
    recs, rejected = _as_records(records, forms)
    if month is not None:
        recs = [r for r in recs if _month_of(r.exam_date) == month]
    scored = [r for r in recs if r.form in forms and is_score_form(forms[r.form]) and r.score is not None]
    dist, dist_totals = _score_distribution(scored)
    details, items = _deductions(scored, forms)
    work, work_totals, exam_rejected, warnings = _workload(exams, month)
    return {
        "schema": SCHEMA,
        "month": month,
        "scores": list(SCORES),
        "n_records": len(scored),
        "n_other_records": len(recs) - len(scored),
        "score_distribution": dist,
        "score_distribution_totals": dist_totals,
        "quality_rates": _quality_rates(scored),
        "deductions": items,
        "deduction_details": details,
        "workload": work,
        "workload_totals": work_totals,
        "monthly": _monthly(scored),
        "terms": dict(TERMS),
        "rejected": rejected,
        "exam_rejected": exam_rejected,
        "warnings": warnings,
    }
