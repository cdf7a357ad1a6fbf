"""Score one QC record against its form, and read QC record files (CSV or JSON) with per-row errors.

A record is one scored exam and form, with the columns of :data:`RECORD_COLUMNS` (plus an optional
``tracer`` column for the PET/CT checklist). ``failed_items`` lists item codes separated by ``;``: the severe
items that occurred, the criteria not met, the checklist elements missing, or the score-sheet lines with
deductions (``code`` loses the line's points, ``code:-N`` loses N of them). An empty ``score`` is computed;
a given score must equal the computed one or the record is rejected.

Rows are numbered as a spreadsheet shows them: in a CSV the header is row 1 and the first record row 2; in
JSON (a list of objects, or ``{"records": [...]}``) the first record is row 1.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from phantomqc._shared.errors import InputError
from phantomqc.rubric._tables import read_table
from phantomqc.rubric.forms import ITEM_CODE_PATTERN, Form, load_forms

__all__ = ["RECORD_COLUMNS", "STAFF_ROLES", "PASS_TEXT", "FAIL_TEXT", "FDG", "Deduction", "FormScore", "QCRecord",
           "RowError", "RecordSet", "parse_failed_items", "score_form", "validate_record", "parse_records",
           "read_records"]

RECORD_COLUMNS = ("exam_id", "exam_date", "device_type", "exam_part", "staff", "staff_role", "qc_person", "form",
                  "score", "failed_items", "comment")
REQUIRED_VALUES = ("exam_id", "exam_date", "device_type", "staff", "staff_role", "form")
STAFF_ROLES = ("technologist", "doctor")
PASS_TEXT = "合格"
FAIL_TEXT = "不合格"
FDG = "18F-FDG"
_DEDUCTION = re.compile(r"^(?P<code>[^:\s]+)(?::-(?P<points>[0-9]+))?$")


@dataclass(frozen=True)
class Deduction:
    """One entry of ``failed_items``: an item code and, on score sheets, the points deducted (None = all)."""

    code: str
    points: int | None = None


@dataclass(frozen=True)
class FormScore:
    """The result of scoring one record against its form.

    ``score`` is None for the pass/fail application form. ``passed`` is the seed's 合格 (score ≥ the form's
    ``pass_min_score``; no item for the application form; complete for the checklist). ``severe`` tells that a
    severe item decided the score. ``satisfied`` counts the criteria (or checklist elements) met.
    """

    form_id: str
    score: int | None
    max_score: int | None
    passed: bool
    verdict: str
    failed_items: tuple[str, ...]
    deductions: tuple[Deduction, ...]
    severe: bool
    satisfied: int | None
    applicable: int | None


@dataclass(frozen=True)
class QCRecord:
    """One valid QC record with its computed score."""

    row: int
    exam_id: str
    exam_date: _dt.date
    device_type: str
    exam_part: str
    staff: str
    staff_role: str
    qc_person: str
    form: str
    result: FormScore
    comment: str
    tracer: str = ""

    @property
    def score(self) -> int | None:
        return self.result.score


@dataclass(frozen=True)
class RowError:
    """A rejected record: its row number and the reason (an :class:`InputError`, not raised)."""

    row: int
    error: InputError

    @property
    def message(self) -> str:
        return str(self.error)


@dataclass(frozen=True)
class RecordSet:
    """The valid records and the rejected rows of one input."""

    records: tuple[QCRecord, ...]
    errors: tuple[RowError, ...]
    source: str | None = None


def parse_failed_items(value: str | Iterable[str] | None) -> tuple[Deduction, ...]:
    """Split ``failed_items`` (``;``-separated text, or a list) into deductions; blanks are ignored.

    Raises
    ------
    InputError
        An entry is not ``code`` or ``code:-N`` with N a whole number.
    """
    if value is None:
        return ()
    parts = value.split(";") if isinstance(value, str) else [str(v) for v in value]
    out = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        m = _DEDUCTION.match(part)
        if m is None:
            raise InputError(f"failed_items entry '{part}' is not 'code' or 'code:-N' (N points deducted)")
        out.append(Deduction(m["code"], None if m["points"] is None else int(m["points"])))
    return tuple(out)


def _check_codes(form: Form, deductions: tuple[Deduction, ...], tracer: str) -> None:
    known = set(form.codes)
    seen: set[str] = set()
    for d in deductions:
        if d.code not in known:
            m = ITEM_CODE_PATTERN.match(d.code)
            hint = (f" (it belongs to form '{m['form']}')" if m and m["form"] != form.id
                    else f"; form '{form.id}' has {form.codes[0]} .. {form.codes[-1]}")
            raise InputError(f"unknown item code '{d.code}' for form '{form.id}'{hint}")
        if d.code in seen:
            raise InputError(f"item code '{d.code}' is listed twice in failed_items")
        seen.add(d.code)
        item = form.item(d.code)
        if d.points is not None:
            if form.rule.kind != "points":
                raise InputError(f"'{d.code}:-{d.points}': partial deductions are only for score sheets; "
                                 f"form '{form.id}' takes plain item codes")
            if not 1 <= d.points <= item.points:
                raise InputError(f"'{d.code}:-{d.points}': deduction must be 1..{item.points} (the item's points)")
        if item.applies_to_tracer and tracer and tracer != item.applies_to_tracer:
            raise InputError(f"item '{d.code}' ({item.text}) applies only to {item.applies_to_tracer}, "
                             f"but the tracer is '{tracer}'")


def score_form(form: Form | str, failed_items: str | Iterable[str] | None = None, *, tracer: str = "") -> FormScore:
    """Score one exam on one form from the items it failed.

    Parameters
    ----------
    form : Form or str
        The form, or a packaged form id.
    failed_items : str or iterable of str
        Item codes (``;``-separated text or a list); on score sheets ``code:-N`` deducts N points.
    tracer : str
        Radiopharmaceutical, for the PET/CT checklist only; empty means unknown (treated as 18F-FDG, see the
        form's ``choice``).

    Returns
    -------
    FormScore

    Raises
    ------
    InputError
        Unknown form or item code, duplicate code, or an invalid deduction.

    Notes
    -----
    With ``s`` severe items listed, ``u`` criteria unmet out of ``n`` and ``k = n - u`` satisfied:
    ``severe_then_count``: ``severe_score if s else table[k]``; ``severe_then_deduct``:
    ``severe_score if s else max(floor, full - deduct * u)``; ``points``: ``total - sum(deductions)``;
    ``checklist``: elements present out of those applicable.
    """
    if isinstance(form, str):
        forms = load_forms()
        if form not in forms:
            raise InputError(f"unknown form '{form}'; expected one of {sorted(forms)}")
        form = forms[form]
    tracer = (tracer or "").strip()
    deductions = parse_failed_items(failed_items)
    _check_codes(form, deductions, tracer)
    codes = tuple(d.code for d in deductions)
    rule = form.rule
    kinds = [form.item(c).kind for c in codes]
    severe = "severe" in kinds
    n_criteria = len(form.criteria_items)
    unmet = kinds.count("item")
    common = dict(form_id=form.id, failed_items=codes, deductions=deductions, severe=severe)
    if rule.kind == "any_item_fails":
        ok = not codes
        return FormScore(score=None, max_score=None, passed=ok, verdict=PASS_TEXT if ok else FAIL_TEXT,
                         satisfied=n_criteria - unmet, applicable=n_criteria, **common)
    if rule.kind in ("severe_then_count", "severe_then_deduct"):
        satisfied = n_criteria - unmet
        if severe:
            score = rule.severe_score
        elif rule.kind == "severe_then_count":
            score = rule.score_by_satisfied[satisfied]
        else:
            score = max(rule.floor_score, rule.full_score - rule.deduct_per_unmet * unmet)
        ok = score >= rule.pass_min_score
        return FormScore(score=score, max_score=form.max_score, passed=ok, verdict=PASS_TEXT if ok else FAIL_TEXT,
                         satisfied=satisfied, applicable=n_criteria, **common)
    if rule.kind == "points":
        lost = sum(form.item(d.code).points if d.points is None else d.points for d in deductions)
        score = rule.total_points - lost
        ok = score >= rule.pass_min_score
        return FormScore(score=score, max_score=rule.total_points, passed=ok, verdict=PASS_TEXT if ok else FAIL_TEXT,
                         satisfied=None, applicable=None, **common)
    # checklist
    applicable = [i for i in form.items if not i.applies_to_tracer or i.applies_to_tracer == (tracer or FDG)]
    present = len(applicable) - len(codes)
    ok = not codes
    return FormScore(score=present, max_score=len(applicable), passed=ok, verdict="完整" if ok else "不完整",
                     satisfied=present, applicable=len(applicable), **common)


def _text(row: Mapping[str, Any], key: str) -> str:
    v = row.get(key)
    return "" if v is None else str(v).strip()


def _parse_date(text: str) -> _dt.date:
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return _dt.datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise InputError(f"exam_date '{text}' is not a date; expected YYYY-MM-DD (or YYYYMMDD)")


def _given_score(raw: Any, form: Form) -> int | str | None:
    """The record's ``score`` as int (or 合格/不合格 for the application form); None when empty."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if form.rule.kind == "any_item_fails":
        text = str(raw).strip()
        if text not in (PASS_TEXT, FAIL_TEXT):
            raise InputError(f"score '{text}' for form '{form.id}' must be '{PASS_TEXT}' or '{FAIL_TEXT}' "
                             f"(or empty to compute it)")
        return text
    if isinstance(raw, bool):
        raise InputError(f"score {raw!r} is not a whole number")
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw).strip()
        if not re.fullmatch(r"[+-]?[0-9]+(\.0+)?", text):
            raise InputError(f"score '{text}' is not a whole number")
        value = int(float(text))
    lo, hi = form.min_score, form.max_score
    if not lo <= value <= hi:
        raise InputError(f"score {value} is out of range for form '{form.id}' ({lo}..{hi})")
    return value


def validate_record(row: Mapping[str, Any], row_number: int, forms: Mapping[str, Form] | None = None) -> QCRecord:
    """Check one record and score it.

    Raises
    ------
    InputError
        The first problem found, with the row number: missing value, bad date, unknown staff role, unknown
        form or item code, score out of range, or a score that disagrees with ``failed_items``.
    """
    forms = load_forms() if forms is None else forms
    try:
        for key in REQUIRED_VALUES:
            if not _text(row, key):
                raise InputError(f"'{key}' is empty; every record needs {', '.join(REQUIRED_VALUES)}")
        exam_date = _parse_date(_text(row, "exam_date"))
        role = _text(row, "staff_role")
        if role not in STAFF_ROLES:
            raise InputError(f"staff_role '{role}' is not one of {STAFF_ROLES}")
        form_id = _text(row, "form")
        if form_id not in forms:
            raise InputError(f"unknown form '{form_id}'; expected one of {sorted(forms)}")
        form = forms[form_id]
        tracer = _text(row, "tracer")
        result = score_form(form, row.get("failed_items"), tracer=tracer)
        given = _given_score(row.get("score"), form)
        if given is not None:
            computed = result.verdict if form.rule.kind == "any_item_fails" else result.score
            if given != computed:
                listed = ";".join(result.failed_items) or "(none)"
                raise InputError(f"score {given} disagrees with failed_items {listed}, which give {computed} on "
                                 f"form '{form_id}'; correct one of them, or leave score empty to compute it")
    except InputError as exc:
        raise InputError(f"row {row_number}: {exc.cause}") from None
    return QCRecord(row=row_number, exam_id=_text(row, "exam_id"), exam_date=exam_date,
                    device_type=_text(row, "device_type"), exam_part=_text(row, "exam_part"),
                    staff=_text(row, "staff"), staff_role=role, qc_person=_text(row, "qc_person"), form=form_id,
                    result=result, comment=_text(row, "comment"), tracer=tracer)


def parse_records(rows: Iterable[Mapping[str, Any]], *, first_row: int = 1, source: str | None = None,
                  forms: Mapping[str, Form] | None = None) -> RecordSet:
    """Validate and score every row; bad rows become :class:`RowError` entries and the rest go on."""
    forms = load_forms() if forms is None else forms
    good, bad = [], []
    for n, row in enumerate(rows, start=first_row):
        if not isinstance(row, Mapping):
            bad.append(RowError(n, InputError(f"row {n}: expected an object with the record columns, "
                                              f"got {type(row).__name__}", path=source)))
            continue
        try:
            good.append(validate_record(row, n, forms))
        except InputError as exc:
            bad.append(RowError(n, InputError(exc.cause, path=source)))
    return RecordSet(records=tuple(good), errors=tuple(bad), source=source)


def read_records(path: str | Path, *, forms: Mapping[str, Form] | None = None) -> RecordSet:
    """Read a QC record file (``.csv`` or ``.json``, UTF-8) and score every record.

    Raises
    ------
    InputError
        Only when the file as a whole is unusable (missing, not UTF-8, not JSON, wrong header). A bad record is
        returned in ``RecordSet.errors`` with its row number.
    """
    rows, first = read_table(path, what="QC records", key="records", required=RECORD_COLUMNS)
    return parse_records(rows, first_row=first, source=str(path), forms=forms)
