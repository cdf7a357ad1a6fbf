"""Nuclear-medicine quality indicators NM-01 to NM-08 of seed 000 (核医学专业医疗质量控制指标 2025 年版).

Each indicator is a rate, numerator / denominator × 100 %, over the case records of a period, per month
(``YYYY-MM`` of ``exam_date``) and over the whole input. Which case type an indicator counts, and which condition puts
a case in its denominator and numerator, are data in ``rules/nm_indicators.toml``; this module only applies them.

Case records
------------
CSV (header row, UTF-8) or JSON (a list of objects, or ``{"cases": [...]}``), one case per row. Rows are numbered
as a spreadsheet shows them: in a CSV the header is row 1 and the first case row 2; in JSON the first case is row 1.

Every row has ``case_id``, ``exam_date`` (``YYYY-MM-DD``) and ``case_type``; the other columns depend on the type
(an empty cell, or a missing JSON key, means "not given"; columns not listed here are ignored):

======================================  ========  ==========================================================
case_type                               counted   fields
======================================  ========  ==========================================================
``bone_scan``                           NM-01     ``extravasation`` (required)
``dtc_i131``                            NM-02     ``tsh_mIU_per_L`` (required), ``widespread_metastases``,
                                                  ``remnant_thyroid_excess``, ``remark``
``lab_eqa_item``                        NM-03     ``lab_item``, ``item_performed`` (default true),
                                                  ``eqa_organised`` (required), ``eqa_participated``
                                                  (required when performed and organised)
``spect_image``                         NM-04     ``image_quality_pass`` (required)
``petct_image``                         NM-05     ``image_quality_pass`` (required)
``lymphoma_fdg_petct``                  NM-06     ``deauville_scored`` (required)
``petct_report``                        NM-07     ``report_elements_complete`` and/or ``report_missing_elements``
                                                  (at least one), ``tracer``
``inpatient_first_fdg_petct``           NM-08     ``pathology_available`` (required), ``concordant`` (required
                                                  when pathology is available)
======================================  ========  ==========================================================

Booleans accept ``true/false``, ``1/0``, ``是/否``, ``Y/N`` (and ``yes/no``; case-insensitive), or JSON booleans.
``tsh_mIU_per_L`` is a number ≥ 0. ``report_missing_elements`` lists the missing elements of the
``petct_report_elements`` checklist separated by ``;`` (``petct_report_elements.item.22`` or ``item.22``), or
``none``/``无``/``-`` for none; the report is complete when none is missing, and for 18F-FDG (or an empty
``tracer``) 血糖浓度 (item 22) is one of the elements. ``(case_type, case_id)`` must be unique.

A row with a bad date, an unknown case type, a bad boolean, a TSH that is not a number, a required field missing, an
unknown element code or ``report_elements_complete`` contradicting ``report_missing_elements`` is rejected with its
row number and reason; the other rows still count.

Choices where the seed is silent
--------------------------------
- NM-02: every DTC 131I case stays in the denominator (the seed's 定义 counts 总例数). A case with TSH ≤ 30 and
  widespread metastases without a ``remark`` gives a ``warning`` finding "remark required"; a case with TSH ≤ 30 and
  ``remnant_thyroid_excess`` gives an ``info`` finding with the seed's guidance (二次手术).
- NM-03 counts distinct lab items (``lab_item``, else ``case_id``), one row per item and EQA round. An item is in the
  numerator of a period only if it took part in every organised round of that period.
- NM-08: cases without pathology are valid rows outside the denominator.
- A denominator of 0 gives ``rate_percent`` None and a ``note`` saying why.

The output document is described in :func:`nm_indicators`.
"""

from __future__ import annotations

import functools
import math
import operator
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from phantomqc._shared.errors import InputError, ProfileError
from phantomqc.rubric._tables import read_table
from phantomqc.rubric.forms import get_form
from phantomqc.rubric.scoring import RowError, _parse_date, _text, score_form
from phantomqc.rubric.stats import _check_month, _month_of, _percent

__all__ = ["SCHEMA", "NM_RULES_TOML", "COMMON_COLUMNS", "SEVERITIES", "NMCase", "NMIndicator", "NMRules",
           "load_nm_rules", "parse_cases", "read_cases", "nm_indicators"]

SCHEMA = "phantomqc.rubric_nm/1"
NM_RULES_TOML = Path(__file__).with_name("rules") / "nm_indicators.toml"
COMMON_COLUMNS = ("case_id", "exam_date", "case_type")
SEVERITIES = ("warning", "info")
FIELD_KINDS = ("bool", "number", "text", "element_codes")
SCOPES = ("denominator", "numerator", "denominator_not_numerator")
_OPS = {"==": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt,
        "<=": operator.le}
_TRACER_FIELD = "tracer"


# --------------------------------------------------------------------------------------------------- rule data


@dataclass(frozen=True)
class _Condition:
    field: str
    op: str
    value: Any

    def holds(self, values: Mapping[str, Any]) -> bool:
        v = values.get(self.field)
        return v is not None and _OPS[self.op](v, self.value)

    def text(self) -> str:
        return f"{self.field} {self.op} {str(self.value).lower() if isinstance(self.value, bool) else self.value}"


@dataclass(frozen=True)
class _FieldSpec:
    name: str
    label: str
    kind: str
    min: float | None = None
    default: Any = None
    form: str = ""
    none_words: tuple[str, ...] = ()
    derives: str = ""


@dataclass(frozen=True)
class _CaseType:
    name: str
    label: str
    required: tuple[str, ...]
    required_one_of: tuple[str, ...]
    required_if: tuple[tuple[str, tuple[_Condition, ...]], ...]


@dataclass(frozen=True)
class _CaseFinding:
    scope: str
    when: tuple[_Condition, ...]
    unless_given: str
    severity: str
    message: str


@dataclass(frozen=True)
class NMIndicator:
    """One indicator of seed 000 as data: the seed's wording and the case conditions of its two counts."""

    id: str
    name: str
    definition: str
    numerator_text: str
    denominator_text: str
    case_type: str
    count: str  # "cases" | "distinct"
    denominator: tuple[_Condition, ...]
    numerator: tuple[_Condition, ...]
    distinct_by: str = ""
    distinct_numerator: str = "all"  # "all" | "any"
    case_findings: tuple[_CaseFinding, ...] = ()
    choice: str = ""


@dataclass(frozen=True)
class NMRules:
    """The parsed ``nm_indicators.toml``: boolean spellings, fields, case types and indicators (seed order)."""

    source: str
    true_values: frozenset[str]
    false_values: frozenset[str]
    fields: Mapping[str, _FieldSpec]
    case_types: Mapping[str, _CaseType]
    indicators: tuple[NMIndicator, ...]


def _fail(msg: str, path: Path) -> ProfileError:
    return ProfileError(f"{msg}; fix the NM indicator rules file", path=path)


def _conditions(raw: Any, fields: Mapping[str, _FieldSpec], path: Path, where: str) -> tuple[_Condition, ...]:
    if not isinstance(raw, list):
        raise _fail(f"{where}: expected a list of {{field, op, value}} conditions, got {raw!r}", path)
    out = []
    for c in raw:
        if not isinstance(c, Mapping) or set(c) != {"field", "op", "value"}:
            raise _fail(f"{where}: condition {c!r} must have exactly 'field', 'op' and 'value'", path)
        spec = fields.get(c["field"])
        if spec is None:
            raise _fail(f"{where}: condition on unknown field {c['field']!r}", path)
        op, value = c["op"], c["value"]
        if op not in _OPS:
            raise _fail(f"{where}: op {op!r} is not one of {sorted(_OPS)}", path)
        if spec.kind == "bool" and (not isinstance(value, bool) or op not in ("==", "!=")):
            raise _fail(f"{where}: bool field {spec.name!r} needs op == or != and value true/false", path)
        if spec.kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _fail(f"{where}: number field {spec.name!r} needs a numeric value, got {value!r}", path)
            value = float(value)
        if spec.kind in ("text", "element_codes"):
            raise _fail(f"{where}: conditions on {spec.kind} field {spec.name!r} are not supported", path)
        out.append(_Condition(c["field"], op, value))
    return tuple(out)


def _str_list(d: Mapping, key: str, path: Path, where: str) -> tuple[str, ...]:
    v = d.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise _fail(f"{where}: '{key}' must be a list of strings, got {v!r}", path)
    return tuple(v)


def _parse_rules(data: Mapping, path: Path) -> NMRules:
    bt = data.get("boolean_text", {})
    true_values = frozenset(s.strip().lower() for s in _str_list(bt, "true_values", path, "[boolean_text]"))
    false_values = frozenset(s.strip().lower() for s in _str_list(bt, "false_values", path, "[boolean_text]"))
    if not true_values or not false_values or true_values & false_values:
        raise _fail("[boolean_text] needs non-empty, disjoint true_values and false_values", path)

    fields: dict[str, _FieldSpec] = {}
    for name, f in (data.get("fields") or {}).items():
        where = f"[fields.{name}]"
        if name in COMMON_COLUMNS:
            raise _fail(f"{where}: {name!r} is a common column, not a field", path)
        kind = f.get("kind")
        if kind not in FIELD_KINDS:
            raise _fail(f"{where}: kind {kind!r} is not one of {FIELD_KINDS}", path)
        default = f.get("default")
        if default is not None and (kind != "bool" or not isinstance(default, bool)):
            raise _fail(f"{where}: only bool fields may have a default, and it must be true or false", path)
        if kind == "element_codes" and not f.get("form"):
            raise _fail(f"{where}: an element_codes field needs 'form'", path)
        fields[name] = _FieldSpec(name=name, label=str(f.get("label", name)), kind=kind, min=f.get("min"),
                                  default=default, form=str(f.get("form", "")),
                                  none_words=tuple(w.strip().lower() for w in _str_list(f, "none_words", path, where)),
                                  derives=str(f.get("derives", "")))
    for spec in fields.values():
        if spec.derives and (spec.derives not in fields or fields[spec.derives].kind != "bool"):
            raise _fail(f"[fields.{spec.name}]: derives {spec.derives!r}, which is not a bool field", path)

    case_types: dict[str, _CaseType] = {}
    for name, ct in (data.get("case_types") or {}).items():
        where = f"[case_types.{name}]"
        req = _str_list(ct, "required", path, where)
        one_of = _str_list(ct, "required_one_of", path, where)
        req_if = []
        for r in ct.get("required_if", []):
            if not isinstance(r, Mapping) or r.get("field") not in fields:
                raise _fail(f"{where}: required_if entry {r!r} needs a known 'field'", path)
            req_if.append((r["field"], _conditions(r.get("when"), fields, path, where)))
        unknown = [x for x in req + one_of if x not in fields]
        if unknown:
            raise _fail(f"{where}: unknown fields {unknown}", path)
        case_types[name] = _CaseType(name, str(ct.get("label", name)), req, one_of, tuple(req_if))
    if not case_types:
        raise _fail("no [case_types]", path)

    indicators = []
    for ind in data.get("indicators") or []:
        iid = ind.get("id")
        where = f"indicator {iid!r}"
        for key in ("id", "name", "definition", "numerator_text", "denominator_text", "case_type"):
            if not isinstance(ind.get(key), str) or not ind[key].strip():
                raise _fail(f"{where}: missing '{key}'", path)
        if ind["case_type"] not in case_types:
            raise _fail(f"{where}: case_type {ind['case_type']!r} is not one of {sorted(case_types)}", path)
        count = ind.get("count", "cases")
        if count not in ("cases", "distinct"):
            raise _fail(f"{where}: count {count!r} must be 'cases' or 'distinct'", path)
        distinct_by = str(ind.get("distinct_by", ""))
        distinct_numerator = ind.get("distinct_numerator", "all")
        if count == "distinct" and (fields.get(distinct_by) is None or fields[distinct_by].kind != "text"
                                    or distinct_numerator not in ("all", "any")):
            raise _fail(f"{where}: count 'distinct' needs distinct_by (a text field) and distinct_numerator "
                        f"'all' or 'any'", path)
        findings = []
        for cf in ind.get("case_findings", []):
            scope, severity = cf.get("scope"), cf.get("severity")
            if scope not in SCOPES or severity not in SEVERITIES or not str(cf.get("message", "")).strip():
                raise _fail(f"{where}: case_findings entry needs scope in {SCOPES}, severity in {SEVERITIES} "
                            f"and a message", path)
            unless = str(cf.get("unless_given", ""))
            if unless and unless not in fields:
                raise _fail(f"{where}: unless_given {unless!r} is not a field", path)
            findings.append(_CaseFinding(scope, _conditions(cf.get("when", []), fields, path, where), unless,
                                         severity, str(cf["message"])))
        indicators.append(NMIndicator(
            id=iid, name=ind["name"], definition=ind["definition"], numerator_text=ind["numerator_text"],
            denominator_text=ind["denominator_text"], case_type=ind["case_type"], count=count,
            denominator=_conditions(ind.get("denominator", []), fields, path, where + " denominator"),
            numerator=_conditions(ind.get("numerator", []), fields, path, where + " numerator"),
            distinct_by=distinct_by, distinct_numerator=distinct_numerator, case_findings=tuple(findings),
            choice=str(ind.get("choice", ""))))
    ids = [i.id for i in indicators]
    if not ids or len(set(ids)) != len(ids):
        raise _fail(f"indicator ids {ids} must be present and unique", path)
    return NMRules(source=str(data.get("source", "")), true_values=true_values, false_values=false_values,
                   fields=MappingProxyType(fields), case_types=MappingProxyType(case_types),
                   indicators=tuple(indicators))


@functools.lru_cache(maxsize=None)
def _load_rules_cached(path: str) -> NMRules:
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"cannot read NM indicator rules: {exc}", path=p) from exc
    return _parse_rules(data, p)


def load_nm_rules(path: str | Path | None = None) -> NMRules:
    """Load and validate the NM indicator rules (default: the packaged ``rules/nm_indicators.toml``).

    Parameters
    ----------
    path : str or Path, optional
        A rules file in the layout of the packaged one (see its header).

    Returns
    -------
    NMRules

    Raises
    ------
    ProfileError
        The file cannot be read or breaks the layout: unknown field kind, a condition on an unknown field or with a
        value of the wrong type, an indicator on an unknown case type, duplicate ids.

    Examples
    --------
    >>> rules = load_nm_rules()
    >>> [i.id for i in rules.indicators][:3]
    ['NM-01', 'NM-02', 'NM-03']
    >>> rules.indicators[1].numerator[0].text()
    'tsh_mIU_per_L > 30.0'
    """
    return _load_rules_cached(str(Path(NM_RULES_TOML if path is None else path).resolve()))


def _as_rules(rules: NMRules | str | Path | None) -> NMRules:
    return rules if isinstance(rules, NMRules) else load_nm_rules(rules)


# --------------------------------------------------------------------------------------------------- case records


@dataclass(frozen=True)
class NMCase:
    """One valid case record: row number, id, date, type and its parsed fields (``values``; absent = not given)."""

    row: int
    case_id: str
    exam_date: Any  # datetime.date
    case_type: str
    values: Mapping[str, Any]

    @property
    def month(self) -> str:
        return _month_of(self.exam_date)


def _blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _parse_bool(raw: Any, spec: _FieldSpec, rules: NMRules) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, (int, float)) and raw in (0, 1):
        return bool(raw)
    text = str(raw).strip().lower()
    if text in rules.true_values:
        return True
    if text in rules.false_values:
        return False
    raise InputError(f"'{spec.name}' ({spec.label}) is {str(raw).strip()!r}, not a boolean; write one of "
                     f"{sorted(rules.true_values)} or {sorted(rules.false_values)}")


def _parse_number(raw: Any, spec: _FieldSpec) -> float:
    if isinstance(raw, bool):
        raise InputError(f"'{spec.name}' ({spec.label}) is {raw!r}, not a number")
    try:
        value = float(raw if isinstance(raw, (int, float)) else str(raw).strip())
    except ValueError:
        raise InputError(f"'{spec.name}' ({spec.label}) is {str(raw).strip()!r}, not a number") from None
    if not math.isfinite(value):
        raise InputError(f"'{spec.name}' ({spec.label}) is {value}, not a finite number")
    if spec.min is not None and value < spec.min:
        raise InputError(f"'{spec.name}' ({spec.label}) is {value}, below its minimum {spec.min}")
    return value


def _parse_element_codes(raw: Any, spec: _FieldSpec, tracer: str) -> tuple[tuple[str, ...], bool]:
    """The missing element codes (full form) and whether the report is complete, scored on the form."""
    parts = [str(p).strip() for p in raw] if isinstance(raw, list) else str(raw).split(";")
    parts = [p.strip() for p in parts if p.strip()]
    if len(parts) == 1 and parts[0].lower() in spec.none_words:
        parts = []
    codes = tuple(p if p.startswith(spec.form + ".") else f"{spec.form}.{p}" for p in parts)
    try:
        result = score_form(get_form(spec.form), codes, tracer=tracer)
    except (InputError, ProfileError) as exc:
        raise InputError(f"'{spec.name}': {exc.cause}") from None
    return codes, result.passed


def _validate_case(row: Mapping[str, Any], n: int, rules: NMRules, seen: dict) -> NMCase:
    case_id = _text(row, "case_id")
    if not case_id:
        raise InputError("'case_id' is empty; every case needs case_id, exam_date and case_type")
    date_text = _text(row, "exam_date")
    if not date_text:
        raise InputError(f"case '{case_id}': 'exam_date' is empty; expected YYYY-MM-DD")
    exam_date = _parse_date(date_text)
    ctype_name = _text(row, "case_type")
    ctype = rules.case_types.get(ctype_name)
    if ctype is None:
        raise InputError(f"case '{case_id}': unknown case_type '{ctype_name}'; expected one of "
                         f"{sorted(rules.case_types)}")
    key = (ctype_name, case_id)
    if key in seen:
        raise InputError(f"case_id '{case_id}' of case_type '{ctype_name}' already appears in row {seen[key]}; "
                         f"each case once")
    values: dict[str, Any] = {}
    tracer = _text(row, _TRACER_FIELD)
    for name, spec in rules.fields.items():
        raw = row.get(name)
        if _blank(raw):
            if spec.default is not None:
                values[name] = spec.default
            continue
        if spec.kind == "bool":
            values[name] = _parse_bool(raw, spec, rules)
        elif spec.kind == "number":
            values[name] = _parse_number(raw, spec)
        elif spec.kind == "text":
            values[name] = str(raw).strip()
    for name, spec in rules.fields.items():  # after the bools, so a derived flag can be compared
        if spec.kind != "element_codes" or _blank(row.get(name)):
            continue
        codes, complete = _parse_element_codes(row.get(name), spec, tracer)
        values[name] = codes
        if spec.derives:
            given = values.get(spec.derives)
            if given is not None and given != complete:
                listed = ";".join(codes) or "none"
                raise InputError(f"case '{case_id}': '{spec.derives}' is {str(given).lower()} but "
                                 f"'{name}' lists {listed} missing, which makes it {str(complete).lower()}; "
                                 f"correct one of them")
            values[spec.derives] = complete
    missing = [f for f in ctype.required if f not in values]
    if missing:
        labels = ", ".join(f"'{f}' ({rules.fields[f].label})" for f in missing)
        raise InputError(f"case '{case_id}': case_type '{ctype_name}' needs {labels}; it is empty")
    if ctype.required_one_of and not any(f in values for f in ctype.required_one_of):
        raise InputError(f"case '{case_id}': case_type '{ctype_name}' needs one of "
                         f"{', '.join(repr(f) for f in ctype.required_one_of)}; all are empty")
    for field, when in ctype.required_if:
        if field not in values and all(c.holds(values) for c in when):
            cond = " and ".join(c.text() for c in when)
            raise InputError(f"case '{case_id}': '{field}' ({rules.fields[field].label}) is empty; case_type "
                             f"'{ctype_name}' needs it when {cond}")
    return NMCase(row=n, case_id=case_id, exam_date=exam_date, case_type=ctype_name,
                  values=MappingProxyType(values))


def parse_cases(rows: Iterable[Mapping[str, Any]], *, first_row: int = 1, source: str | None = None,
                rules: NMRules | str | Path | None = None) -> tuple[tuple[NMCase, ...], tuple[RowError, ...]]:
    """Validate case rows (mappings of column to value); bad rows become :class:`RowError` and the rest go on.

    Parameters
    ----------
    rows : iterable of mapping
        One mapping per case, with the columns of the module docstring; values may be text or JSON scalars.
    first_row : int
        The row number of the first mapping (2 for a CSV whose header is row 1).
    source : str, optional
        The file name, put into each error.
    rules : NMRules, path or None
        The indicator rules (default: the packaged ones).

    Returns
    -------
    cases : tuple of NMCase
    errors : tuple of RowError
        Each with its row number and the reason.

    Examples
    --------
    >>> cases, errors = parse_cases([{"case_id": "1", "exam_date": "2025-03-02", "case_type": "bone_scan",
    ...                                "extravasation": "否"},
    ...                               {"case_id": "2", "exam_date": "2025-03-02", "case_type": "dtc_i131",
    ...                                "tsh_mIU_per_L": "abc"}])
    >>> cases[0].values["extravasation"], errors[0].row
    (False, 2)
    """
    rules = _as_rules(rules)
    good, bad = [], []
    seen: dict = {}
    for n, row in enumerate(rows, start=first_row):
        if not isinstance(row, Mapping):
            bad.append(RowError(n, InputError(f"row {n}: expected an object with the case columns, got "
                                              f"{type(row).__name__}", path=source)))
            continue
        try:
            case = _validate_case(row, n, rules, seen)
        except InputError as exc:
            bad.append(RowError(n, InputError(f"row {n}: {exc.cause}", path=source)))
            continue
        seen[(case.case_type, case.case_id)] = n
        good.append(case)
    return tuple(good), tuple(bad)


def read_cases(path: str | Path, *, rules: NMRules | str | Path | None = None
               ) -> tuple[tuple[NMCase, ...], tuple[RowError, ...]]:
    """Read a case file (``.csv`` or ``.json``, UTF-8) and validate every row.

    Parameters
    ----------
    path : str or Path
        CSV with a header row (row 1), or JSON: a list of case objects or ``{"cases": [...]}``.
    rules : NMRules, path or None
        The indicator rules (default: the packaged ones).

    Returns
    -------
    cases : tuple of NMCase
    errors : tuple of RowError
        The rejected rows, with row number and reason (CSV: header = row 1; JSON: first case = row 1).

    Raises
    ------
    InputError
        Only when the file as a whole is unusable: missing, not UTF-8, not JSON, not a list of cases, a CSV header
        without case_id/exam_date/case_type, or an unknown suffix.
    """
    rows, first = read_table(path, what="NM case records", key="cases", required=COMMON_COLUMNS)
    return parse_cases(rows, first_row=first, source=str(path), rules=rules)


# --------------------------------------------------------------------------------------------------- indicators


def _in(conds: tuple[_Condition, ...], case: NMCase) -> bool:
    return all(c.holds(case.values) for c in conds)


def _counts(ind: NMIndicator, cases: list[NMCase]) -> tuple[int, int, int]:
    """(numerator, denominator, cases of the indicator's type) over ``cases``."""
    typed = [c for c in cases if c.case_type == ind.case_type]
    den = [c for c in typed if _in(ind.denominator, c)]
    if ind.count == "cases":
        return sum(_in(ind.numerator, c) for c in den), len(den), len(typed)
    groups: dict[str, list[NMCase]] = defaultdict(list)
    for c in den:
        groups[c.values.get(ind.distinct_by) or c.case_id].append(c)
    combine = all if ind.distinct_numerator == "all" else any
    return sum(combine(_in(ind.numerator, c) for c in g) for g in groups.values()), len(groups), len(typed)


def _note(ind: NMIndicator, rules: NMRules, den: int, typed: int, period: str) -> str | None:
    if den:
        return None
    label = rules.case_types[ind.case_type].label
    if typed == 0:
        return (f"denominator 0: no '{ind.case_type}' ({label}) cases in {period}; the rate is not defined")
    cond = " and ".join(c.text() for c in ind.denominator)
    return (f"denominator 0: {typed} '{ind.case_type}' ({label}) case(s) in {period}, none with {cond}; "
            f"the rate is not defined")


def _findings(ind: NMIndicator, cases: list[NMCase]) -> list[dict]:
    out = []
    for c in cases:
        if c.case_type != ind.case_type or not _in(ind.denominator, c):
            continue
        in_num = _in(ind.numerator, c)
        for f in ind.case_findings:
            if (f.scope == "numerator" and not in_num) or (f.scope == "denominator_not_numerator" and in_num):
                continue
            if not _in(f.when, c) or (f.unless_given and f.unless_given in c.values):
                continue
            out.append({"row": c.row, "case_id": c.case_id, "exam_date": c.exam_date.isoformat(),
                        "indicator": ind.id, "severity": f.severity, "message": f.message})
    return out


def nm_indicators(cases: Iterable[NMCase | Mapping[str, Any]], *, month: str | None = None,
                  rules: NMRules | str | Path | None = None, errors: Iterable[RowError] = ()) -> dict:
    """The NM-01 to NM-08 rates of seed 000, overall and per month, with the per-case findings of NM-02.

    Parameters
    ----------
    cases : iterable of NMCase or mapping
        Cases from :func:`read_cases` / :func:`parse_cases`, or raw case mappings (JSON in), which are validated
        here (rejected ones go to ``errors``, numbered from 1 in the order given).
    month : str, optional
        ``YYYY-MM``: count only the cases of that month. None counts all.
    rules : NMRules, path or None
        The indicator rules (default: the packaged ``rules/nm_indicators.toml``).
    errors : iterable of RowError
        Rejected rows from :func:`read_cases`, copied into the document's ``errors``.

    Returns
    -------
    dict
        ``schema`` (``phantomqc.rubric_nm/1``), ``month``, ``indicators`` ``[{id, name, case_type, definition,
        numerator, denominator, rate_percent, note}]`` in seed order, ``monthly`` ``[{month, id, numerator,
        denominator, rate_percent}]`` (every month with cases × every indicator), ``findings`` ``[{row, case_id,
        exam_date, indicator, severity, message}]`` and ``errors`` ``[{row, message}]``. ``rate_percent`` is None
        when the denominator is 0, and then ``note`` says why (otherwise ``note`` is None).

    Raises
    ------
    InputError
        ``month`` is not ``YYYY-MM``, or ``cases`` is None.

    Notes
    -----
    For each indicator, over the cases of its ``case_type`` in the period (seed 000, 指标一 to 指标八):
    denominator = the cases meeting the denominator conditions; numerator = those of them meeting the numerator
    conditions; rate = numerator / denominator × 100 % (not rounded). NM-02's numerator is TSH > 30 mIU/L
    (strictly, the seed's ＞30). NM-03 counts distinct lab items, not cases (see the rules file's ``choice``).

    Examples
    --------
    >>> doc = nm_indicators([
    ...     {"case_id": "T1", "exam_date": "2025-03-02", "case_type": "dtc_i131", "tsh_mIU_per_L": "30.1"},
    ...     {"case_id": "T2", "exam_date": "2025-03-09", "case_type": "dtc_i131", "tsh_mIU_per_L": "30",
    ...      "widespread_metastases": "是"}])
    >>> nm02 = doc["indicators"][1]
    >>> nm02["numerator"], nm02["denominator"], nm02["rate_percent"]
    (1, 2, 50.0)
    >>> doc["findings"][0]["case_id"], doc["findings"][0]["severity"]
    ('T2', 'warning')
    """
    _check_month(month)
    if cases is None:
        raise InputError("cases is None; pass NMCase objects or case mappings (may be empty)")
    rules = _as_rules(rules)
    items = list(cases)
    good = [c for c in items if isinstance(c, NMCase)]
    raw = [c for c in items if not isinstance(c, NMCase)]
    rejected = list(errors)
    if raw:
        parsed, bad = parse_cases(raw, rules=rules)
        good.extend(parsed)
        rejected.extend(bad)
    if month is not None:
        good = [c for c in good if c.month == month]
    good.sort(key=lambda c: (c.exam_date, c.row))
    period = f"month {month}" if month is not None else "the input"

    indicators, findings = [], []
    for ind in rules.indicators:
        num, den, typed = _counts(ind, good)
        indicators.append({"id": ind.id, "name": ind.name, "case_type": ind.case_type,
                           "definition": ind.definition, "numerator": num, "denominator": den,
                           "rate_percent": _percent(num, den), "note": _note(ind, rules, den, typed, period)})
        findings.extend(_findings(ind, good))
    by_month: dict[str, list[NMCase]] = defaultdict(list)
    for c in good:
        by_month[c.month].append(c)
    monthly = []
    for m in sorted(by_month):
        for ind in rules.indicators:
            num, den, _ = _counts(ind, by_month[m])
            monthly.append({"month": m, "id": ind.id, "numerator": num, "denominator": den,
                            "rate_percent": _percent(num, den)})
    order = {ind.id: k for k, ind in enumerate(rules.indicators)}
    findings.sort(key=lambda f: (order[f["indicator"]], f["exam_date"], f["row"]))
    return {"schema": SCHEMA, "month": month, "indicators": indicators, "monthly": monthly, "findings": findings,
            "errors": [{"row": e.row, "message": e.message} for e in sorted(rejected, key=lambda e: e.row)]}
