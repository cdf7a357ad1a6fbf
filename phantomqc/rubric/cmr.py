"""Cardiac MR measurement calculator of seed 004 (北京市心脏磁共振检查规范), section 4.

Given measured diameters, wall thicknesses, ejection fractions, regurgitant fractions or indices, the jet extent of
atrioventricular regurgitation, the aortic valve area and LGE%, it returns the grade the seed prescribes, with the
seed's Chinese term and an English key, and it checks report phrases against those grades.

The thresholds live in ``rules/cmr_criteria.toml``, each with the seed clause it comes from; this module only
applies them. Everything here is pure: no I/O beyond reading that data file, no global state that changes a grade.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from phantomqc._shared.errors import InputError, ProfileError

__all__ = [
    "CMR_CRITERIA_TOML",
    "CmrRules",
    "CmrGrade",
    "StatementFinding",
    "StatementCheck",
    "load_cmr_rules",
    "grade_cmr",
    "grade_cmr_all",
    "check_cmr_statement",
]

CMR_CRITERIA_TOML = Path(__file__).with_name("rules") / "cmr_criteria.toml"

_OPS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
_COND_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|==|!=|<|>)\s*(.+?)\s*$")


# ------------------------------------------------------------------------------------------------ rule data


@dataclass(frozen=True)
class _Field:
    name: str
    label: str
    kind: str  # "number" | "category" | "bool"
    unit: str = ""
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    values: tuple[str, ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Condition:
    field: str
    op: str
    value: Any  # float, bool, str, or _FieldRef
    text: str


@dataclass(frozen=True)
class _FieldRef:
    name: str


@dataclass(frozen=True)
class _Grade:
    key: str
    term: str
    abnormal: bool
    term_from_seed: bool
    when: tuple[tuple[_Condition, ...], ...]  # empty: the "otherwise" grade


@dataclass(frozen=True)
class _Criterion:
    id: str
    label: str
    section: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    require_one_of: tuple[str, ...]
    boundary: str
    grades: tuple[_Grade, ...]
    statements: tuple[tuple[str, tuple[str, ...]], ...]  # (normalised phrase, consistent grade keys)


@dataclass(frozen=True)
class CmrRules:
    """The parsed criteria file: fields, criteria (in file order) and the phrase normalisation."""

    source: str
    fields: Mapping[str, _Field]
    criteria: Mapping[str, _Criterion]
    normalization: tuple[tuple[str, str], ...]

    def normalize(self, text: str) -> str:
        """Remove whitespace and apply the file's replacements, so report text and phrases compare alike."""
        out = re.sub(r"\s+", "", text)
        for old, new in self.normalization:
            out = out.replace(old, new)
        return out


def _parse_condition(text: str, fields: Mapping[str, _Field], where: str) -> _Condition:
    m = _COND_RE.match(text)
    if m is None:
        raise ProfileError(f"{where}: condition {text!r} is not '<field> <op> <value>'")
    name, op, raw = m.groups()
    if name not in fields:
        raise ProfileError(f"{where}: condition {text!r} uses unknown field {name!r}")
    value: Any
    if raw in ("true", "false"):
        value = raw == "true"
    elif len(raw) >= 2 and raw[0] == raw[-1] == "'":
        value = raw[1:-1]
        if value not in fields[name].values:
            raise ProfileError(f"{where}: {value!r} is not a value of field {name!r} ({fields[name].values})")
    elif raw in fields:
        value = _FieldRef(raw)
    else:
        try:
            value = float(raw)
        except ValueError:
            raise ProfileError(f"{where}: condition {text!r}: {raw!r} is neither a number, true/false, "
                               f"a 'quoted' category nor a field name") from None
    return _Condition(name, op, value, text.strip())


def _parse_rules(data: Mapping[str, Any], source: str) -> CmrRules:
    fields: dict[str, _Field] = {}
    for name, f in data.get("fields", {}).items():
        fields[name] = _Field(
            name=name, label=f["label"], kind=f["kind"], unit=f.get("unit", ""), min=f.get("min"),
            max=f.get("max"), min_exclusive=bool(f.get("min_exclusive", False)),
            values=tuple(f.get("values", ())), aliases=tuple(f.get("aliases", {}).items()))
    norm = tuple((a, b) for a, b in data.get("phrase_normalization", {}).get("replace", ()))
    rules_tmp = CmrRules(source, fields, {}, norm)
    criteria: dict[str, _Criterion] = {}
    for cid, c in data.get("criteria", {}).items():
        where = f"{source}: criteria.{cid}"
        grades = []
        raw_grades = c.get("grades", [])
        for i, g in enumerate(raw_grades):
            when = tuple(tuple(_parse_condition(t, fields, f"{where}.grades[{i}]") for t in alt)
                         for alt in g.get("when", ()))
            if not when and i != len(raw_grades) - 1:
                raise ProfileError(f"{where}: grade {g['key']!r} has no 'when' but is not the last grade")
            grades.append(_Grade(g["key"], g["term"], bool(g["abnormal"]), bool(g.get("term_from_seed", True)),
                                 when))
        keys = {g.key for g in grades}
        stmts: dict[str, tuple[str, ...]] = {}
        for s in c.get("statements", ()):
            bad = set(s["consistent_with"]) - keys
            if bad:
                raise ProfileError(f"{where}: statement {s['phrase']!r} names unknown grades {sorted(bad)}")
            stmts[rules_tmp.normalize(s["phrase"])] = tuple(s["consistent_with"])
        for g in grades:
            stmts.setdefault(rules_tmp.normalize(g.term), (g.key,))
        for name in (*c.get("required", ()), *c.get("optional", ())):
            if name not in fields:
                raise ProfileError(f"{where}: input {name!r} is not in [fields]")
        criteria[cid] = _Criterion(
            id=cid, label=c["label"], section=c["section"], required=tuple(c.get("required", ())),
            optional=tuple(c.get("optional", ())), require_one_of=tuple(c.get("require_one_of", ())),
            boundary=c.get("boundary", ""), grades=tuple(grades), statements=tuple(stmts.items()))
    return CmrRules(source, fields, criteria, norm)


@lru_cache(maxsize=8)
def _load_cached(path: str) -> CmrRules:
    p = Path(path)
    if not p.exists():
        raise ProfileError(f"CMR criteria file {p} is missing; it ships with phantomqc as rubric/rules/"
                           f"cmr_criteria.toml", path=p)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"not valid TOML: {exc}", path=p) from None
    return _parse_rules(data, str(p))


def load_cmr_rules(path: str | Path | None = None) -> CmrRules:
    """Read and check the CMR criteria file.

    Parameters
    ----------
    path : str or Path, optional
        A criteria TOML file; default the packaged ``rubric/rules/cmr_criteria.toml``.

    Returns
    -------
    CmrRules
        The parsed fields, criteria and phrase normalisation. The parse is cached per path; the object is
        immutable.

    Raises
    ------
    ProfileError
        The file is missing, not TOML, or refers to an unknown field, value or grade.
    """
    return _load_cached(str(Path(path) if path is not None else CMR_CRITERIA_TOML))


# ------------------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class CmrGrade:
    """The grade of one criterion of seed 004 section 4.

    Attributes
    ----------
    criterion : str
        Criterion id, e.g. ``"lvef"``.
    label : str
        What is judged, in the seed's words, e.g. ``"左室收缩功能 (LVEF)"``.
    key : str
        English grade key, e.g. ``"mildly_reduced"``.
    term : str
        Chinese grade term, e.g. ``"左室收缩功能轻度减低"``.
    term_from_seed : bool
        False where the seed leaves the grade implicit (mostly "normal") and the term is ours.
    abnormal : bool
        Whether the grade is a finding.
    section : str
        The seed clause, e.g. ``"4.2.1.3"``.
    rule : str
        The condition that decided the grade, as written in the criteria file; ``"otherwise"`` for the last grade.
    inputs : tuple of (str, object)
        The validated inputs the criterion read, in its declared order.
    warnings : tuple of str
        Rules that could not be applied because an optional input was missing.
    """

    criterion: str
    label: str
    key: str
    term: str
    term_from_seed: bool
    abnormal: bool
    section: str
    rule: str
    inputs: tuple[tuple[str, Any], ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class StatementFinding:
    """One grade phrase found in a report statement, compared with the computed grade.

    ``consistent`` is None when the measurements needed to grade that criterion were not given.
    """

    criterion: str
    phrase: str
    stated_keys: tuple[str, ...]
    computed: CmrGrade | None
    consistent: bool | None
    message: str


@dataclass(frozen=True)
class StatementCheck:
    """All findings of :func:`check_cmr_statement` for one statement."""

    statement: str
    findings: tuple[StatementFinding, ...]

    @property
    def contradictions(self) -> tuple[StatementFinding, ...]:
        """The findings whose phrase disagrees with the computed grade."""
        return tuple(f for f in self.findings if f.consistent is False)

    @property
    def consistent(self) -> bool:
        """True when no phrase contradicts a computed grade (unverifiable phrases do not count)."""
        return not self.contradictions


# ------------------------------------------------------------------------------------------------ validation


def _validate_value(f: _Field, value: Any) -> Any:
    if f.kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"field {f.name!r} ({f.label}): expected a number in {f.unit}, got {value!r}")
        v = float(value)
        if not math.isfinite(v):
            raise InputError(f"field {f.name!r} ({f.label}): expected a finite number, got {value!r}")
        if f.min is not None and (v <= f.min if f.min_exclusive else v < f.min):
            rel = ">" if f.min_exclusive else ">="
            raise InputError(f"field {f.name!r} ({f.label}): must be {rel} {f.min:g} {f.unit}, got {v:g}; "
                             f"check the measurement and its unit")
        if f.max is not None and v > f.max:
            raise InputError(f"field {f.name!r} ({f.label}): must be <= {f.max:g} {f.unit}, got {v:g}; "
                             f"give percentages as 0-100, not fractions above 100")
        return v
    if f.kind == "bool":
        if not isinstance(value, bool):
            raise InputError(f"field {f.name!r} ({f.label}): expected true or false, got {value!r}")
        return value
    # category
    aliases = dict(f.aliases)
    if isinstance(value, str):
        v = value.strip()
        v = aliases.get(v, v)
        if v in f.values:
            return v
    raise InputError(f"field {f.name!r} ({f.label}): expected one of {list(f.values)} "
                     f"(or {sorted(aliases)}), got {value!r}")


def _validate(measurements: Mapping[str, Any], rules: CmrRules) -> dict[str, Any]:
    out = {}
    for name, value in measurements.items():
        if name not in rules.fields:
            raise InputError(f"unknown measurement key {name!r}; known keys: {sorted(rules.fields)}")
        if value is None:
            continue
        out[name] = _validate_value(rules.fields[name], value)
    return out


# ------------------------------------------------------------------------------------------------ grading


def _eval(cond: _Condition, values: Mapping[str, Any]) -> bool | None:
    """True/False, or None when a field it reads is missing."""
    if cond.field not in values:
        return None
    rhs = cond.value
    if isinstance(rhs, _FieldRef):
        if rhs.name not in values:
            return None
        rhs = values[rhs.name]
    return _OPS[cond.op](values[cond.field], rhs)


def _grade_one(crit: _Criterion, values: Mapping[str, Any]) -> CmrGrade:
    missing = [n for n in crit.required if n not in values]
    if missing:
        raise InputError(f"criterion {crit.id!r} (seed {crit.section}) needs field(s) {missing}; "
                         f"got {sorted(values)}")
    if crit.require_one_of and not any(n in values for n in crit.require_one_of):
        raise InputError(f"criterion {crit.id!r} (seed {crit.section}) needs at least one of "
                         f"{list(crit.require_one_of)}")
    warnings: list[str] = []
    chosen, rule = None, "otherwise"
    for g in crit.grades:
        if not g.when:
            chosen = g
            break
        skipped = []
        for alt in g.when:
            results = [_eval(c, values) for c in alt]
            if all(r is True for r in results):
                chosen, rule = g, " and ".join(c.text for c in alt)
                break
            if any(r is None for r in results) and not any(r is False for r in results):
                skipped.append(" and ".join(c.text for c in alt))
        if chosen is not None:
            break
        for s in skipped:
            warnings.append(f"rule '{s}' of seed {crit.section} (grade {g.term}) not applied: an input is missing")
    if chosen is None:
        raise InputError(f"criterion {crit.id!r}: the inputs {dict(values)} fall in no grade of seed "
                         f"{crit.section}")
    used = tuple((n, values[n]) for n in (*crit.required, *crit.optional) if n in values)
    return CmrGrade(crit.id, crit.label, chosen.key, chosen.term, chosen.term_from_seed, chosen.abnormal,
                    crit.section, rule, tuple(dict.fromkeys(used)), tuple(warnings))


def grade_cmr(criterion: str, measurements: Mapping[str, Any], *, rules: CmrRules | None = None) -> CmrGrade:
    """Grade one criterion of seed 004 section 4.

    Parameters
    ----------
    criterion : str
        A criterion id of the criteria file: ``left_atrium``, ``left_ventricle``, ``right_atrium``,
        ``right_ventricle``, ``ascending_aorta``, ``main_pulmonary_artery``, ``lv_wall_thickness``, ``lvef``,
        ``rvef``, ``aortic_regurgitation``, ``pulmonary_regurgitation``, ``mitral_regurgitation``,
        ``tricuspid_regurgitation``, ``mitral_regurgitation_extent``, ``tricuspid_regurgitation_extent``,
        ``aortic_stenosis``, ``lge``.
    measurements : mapping of str to number, str or bool
        Measured values by field name (e.g. ``lvef_percent``, ``la_ap_mm``, ``sex``). Extra known fields are
        ignored; ``None`` counts as not given.
    rules : CmrRules, optional
        Criteria to apply; default :func:`load_cmr_rules` ().

    Returns
    -------
    CmrGrade
        The grade, its Chinese term, English key, seed clause and the rule that decided it.

    Raises
    ------
    InputError
        Unknown criterion or measurement key, an out-of-range value (negative length, EF > 100 %), or a missing
        required input; the message names the field.

    Notes
    -----
    The grades of a criterion are tried in file order; the first whose condition holds is returned. Each
    condition is a comparison written in the criteria file exactly as in the seed, e.g. LVEF
    (seed 4.2.1.3): ``<30`` 重度, ``30 ≤ x < 40`` 中度, ``40 ≤ x < 50`` 轻度, ``50 ≤ x < 55`` 正常低值, else normal.

    References
    ----------
    北京市心脏磁共振检查规范 (seed ``004_039a10c6d4a15c93``), section 4 图像后处理.

    Examples
    --------
    >>> grade_cmr("lvef", {"lvef_percent": 45}).term
    '左室收缩功能轻度减低'
    """
    rules = rules if rules is not None else load_cmr_rules()
    if criterion not in rules.criteria:
        raise InputError(f"unknown CMR criterion {criterion!r}; known: {sorted(rules.criteria)}")
    return _grade_one(rules.criteria[criterion], _validate(measurements, rules))


def grade_cmr_all(measurements: Mapping[str, Any], *, rules: CmrRules | None = None) -> tuple[CmrGrade, ...]:
    """Grade every criterion whose required inputs are given.

    Parameters
    ----------
    measurements : mapping of str to number, str or bool
        As for :func:`grade_cmr`.
    rules : CmrRules, optional
        Criteria to apply; default the packaged file.

    Returns
    -------
    tuple of CmrGrade
        In the criteria file's order (the seed's order); criteria lacking a required input are left out.

    Raises
    ------
    InputError
        Unknown measurement key or out-of-range value.

    Examples
    --------
    >>> [g.key for g in grade_cmr_all({"rvef_percent": 44.9, "rv_transverse_mm": 34})]
    ['enlarged', 'reduced']
    """
    rules = rules if rules is not None else load_cmr_rules()
    values = _validate(measurements, rules)
    out = []
    for crit in rules.criteria.values():
        if any(n not in values for n in crit.required):
            continue
        if crit.require_one_of and not any(n in values for n in crit.require_one_of):
            continue
        out.append(_grade_one(crit, values))
    return tuple(out)


def check_cmr_statement(statement: str, measurements: Mapping[str, Any], *,
                        rules: CmrRules | None = None) -> StatementCheck:
    """Check the grade phrases of a report statement against the grades the measurements give.

    Parameters
    ----------
    statement : str
        Report text, e.g. ``"左心室收缩功能正常，右室增大"``.
    measurements : mapping of str to number, str or bool
        As for :func:`grade_cmr`.
    rules : CmrRules, optional
        Criteria to apply; default the packaged file.

    Returns
    -------
    StatementCheck
        One finding per grade phrase found; ``contradictions`` lists those that disagree with the computed grade.

    Raises
    ------
    InputError
        Unknown measurement key or out-of-range value.

    Notes
    -----
    Text and phrases are normalised (whitespace removed; 左心室→左室, 左心房→左房, ...). Phrases are matched
    longest first without overlap, so "左室收缩功能正常低值" is not also read as "左室收缩功能正常", and
    "左房未见增大" is not read as "左房增大". A phrase is consistent when the computed grade key is among the
    keys the criteria file lists for it (e.g. "左室收缩功能减低" fits 轻度, 中度 and 重度). Negations not
    listed as phrases are not understood.

    Examples
    --------
    >>> check_cmr_statement("左心室收缩功能正常", {"lvef_percent": 45}).consistent
    False
    """
    rules = rules if rules is not None else load_cmr_rules()
    values = _validate(measurements, rules)
    text = rules.normalize(statement)
    phrases = sorted(((p, cid, keys) for cid, c in rules.criteria.items() for p, keys in c.statements),
                     key=lambda t: -len(t[0]))
    taken = [False] * len(text)
    hits: list[tuple[int, str, str, tuple[str, ...]]] = []
    for phrase, cid, keys in phrases:
        start = text.find(phrase)
        while start >= 0:
            end = start + len(phrase)
            if not any(taken[start:end]):
                for i in range(start, end):
                    taken[i] = True
                hits.append((start, phrase, cid, keys))
            start = text.find(phrase, start + 1)
    findings = []
    for _, phrase, cid, keys in sorted(hits):
        crit = rules.criteria[cid]
        try:
            computed = _grade_one(crit, values)
        except InputError as exc:
            findings.append(StatementFinding(cid, phrase, keys, None, None,
                                             f"'{phrase}' not checkable: {exc.cause}"))
            continue
        ok = computed.key in keys
        msg = (f"'{phrase}' agrees with {computed.term} (seed {crit.section}, {computed.rule})" if ok else
               f"'{phrase}' contradicts {computed.term} (seed {crit.section}, {computed.rule}, "
               f"inputs {dict(computed.inputs)})")
        findings.append(StatementFinding(cid, phrase, keys, computed, ok, msg))
    return StatementCheck(statement, tuple(findings))
