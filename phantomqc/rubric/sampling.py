"""Random QC sampling (seed 001 7.2.1.1) and the centralised-QC exam filter (seed 001 7.2.1.3).

Random QC (随机质控，强制质控) marks exams "根据抽样规则及概率" – by sampling rules and probabilities – so that the QC
form pops up when the report is submitted. Here the rules are data (a TOML file, see
``rules/sampling_example.toml``): a default probability and rules by ``device_type``, ``staff``, ``staff_role`` and
``exam_part``, each with its probability. The issue adds stratification: every person with an exam in a month gets
at least ``min_per_person`` sampled exams that month.

Centralised QC (集中质控，回顾性质控): QC staff "筛选出特定的检查" – pick out particular exams – and score them;
:func:`filter_exams` is that filter over the exam list.

The exam list
-------------
CSV or JSON (a list of objects, or ``{"exams": [...]}``), UTF-8, with at least the columns of
:data:`EXAM_COLUMNS`; other columns are kept. Rows are numbered as in :mod:`phantomqc.rubric.scoring`: in a CSV the
header is row 1 and the first exam row 2; in JSON the first exam is row 1. A bad row (empty ``exam_id``, ``staff``
or ``device_type``, a bad ``exam_date``, a ``staff_role`` other than technologist/doctor, a repeated ``exam_id``)
becomes an error entry ``{"row", "exam_id", "message"}`` and the other rows go on. ``exam_part`` may be empty.

Pure functions: no global state; the only randomness is ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import datetime as _dt
import sys
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from phantomqc._shared.errors import InputError
from phantomqc.rubric._tables import read_table
from phantomqc.rubric.scoring import STAFF_ROLES, _parse_date, _text
from phantomqc.rubric.stats import _check_month, _natural

__all__ = ["SAMPLE_SCHEMA", "RULES_SCHEMA", "EXAM_COLUMNS", "RULE_FIELDS", "SamplingRule", "SamplingRules",
           "load_sampling_rules", "parse_sampling_rules", "read_exams", "parse_exams", "sample_exams",
           "filter_exams"]

SAMPLE_SCHEMA = "phantomqc.rubric_sample/1"
RULES_SCHEMA = "phantomqc.sampling_rules/1"
EXAM_COLUMNS = ("exam_id", "exam_date", "device_type", "exam_part", "staff", "staff_role")
_REQUIRED_VALUES = ("exam_id", "device_type", "staff", "staff_role")
# Precedence among rules with the same priority and the same number of conditions: a rule on a more specific
# field wins. A person is narrower than an exam part, an exam part than a device type, a device type than a role.
RULE_FIELDS = ("staff", "exam_part", "device_type", "staff_role")
_RULE_KEYS = {"name", "priority", "probability", "note", *RULE_FIELDS}
_TOP_KEYS = {"schema", "default_probability", "min_per_person", "rules", "notes", "description"}
PRECEDENCE = ("the matching rule with the highest 'priority' (default 0) wins; among equal priorities the rule "
              "with more conditions; then the rule on the more specific field (staff > exam_part > device_type > "
              "staff_role); then the rule listed first. No matching rule: default_probability.")


# ------------------------------------------------------------------------------------------------ rules


@dataclass(frozen=True)
class SamplingRule:
    """One sampling rule: the exams it matches (field -> accepted values, all fields must match) and its
    probability.

    ``conditions`` is a tuple of ``(field, values)`` with ``field`` in :data:`RULE_FIELDS`; an exam matches when,
    for every condition, its value of that field (stripped) equals one of ``values``.
    """

    name: str
    conditions: tuple[tuple[str, tuple[str, ...]], ...]
    probability: float
    priority: int = 0
    index: int = 0
    note: str = ""

    def matches(self, exam: Mapping[str, Any]) -> bool:
        """True when every condition holds for ``exam``."""
        return all(_text(exam, field) in values for field, values in self.conditions)

    def precedence_key(self) -> tuple:
        """Larger wins: (priority, number of conditions, specificity of the fields, earlier in the file)."""
        fields = {f for f, _ in self.conditions}
        return (self.priority, len(self.conditions), tuple(f in fields for f in RULE_FIELDS), -self.index)

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"name": self.name, "priority": self.priority, "probability": self.probability}
        for field, values in self.conditions:
            d[field] = list(values)
        if self.note:
            d["note"] = self.note
        return d


@dataclass(frozen=True)
class SamplingRules:
    """The sampling rules of one file: default probability, rules and the per-person monthly minimum."""

    default_probability: float
    rules: tuple[SamplingRule, ...] = ()
    min_per_person: int = 1
    source: str | None = None

    def probability_for(self, exam: Mapping[str, Any]) -> tuple[float, str]:
        """The probability of ``exam`` and the name of the rule that set it (``"default"`` when none matched)."""
        hits = [r for r in self.rules if r.matches(exam)]
        if not hits:
            return self.default_probability, "default"
        best = max(hits, key=SamplingRule.precedence_key)
        return best.probability, best.name

    def to_dict(self) -> dict:
        return {"schema": RULES_SCHEMA, "source": self.source, "default_probability": self.default_probability,
                "min_per_person": self.min_per_person, "precedence": PRECEDENCE,
                "rules": [r.to_dict() for r in self.rules]}


def _probability(value: Any, where: str, source: str | None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise InputError(f"{where}: probability must be a number from 0 to 1, got {value!r}", path=source)
    return float(value)


def _values(value: Any, where: str, source: str | None) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v.strip() for v in items):
        raise InputError(f"{where}: expected a non-empty string or list of non-empty strings, got {value!r}",
                         path=source)
    return tuple(v.strip() for v in items)


def parse_sampling_rules(data: Mapping[str, Any], *, source: str | None = None) -> SamplingRules:
    """Validate sampling rules given as a mapping (the parsed TOML, or JSON from a workstation).

    Parameters
    ----------
    data : mapping
        ``default_probability`` (required), ``min_per_person`` (default 1), ``rules`` (list of tables with
        ``probability`` and at least one of ``device_type``, ``staff``, ``staff_role``, ``exam_part``; optional
        ``name``, ``priority``, ``note``), optional ``schema`` (``phantomqc.sampling_rules/1``).
    source : str, optional
        The file the data came from, named in errors.

    Returns
    -------
    SamplingRules

    Raises
    ------
    InputError
        Unknown keys, a probability outside 0..1, a rule without conditions, an unknown staff_role value, a
        negative ``min_per_person``.

    Examples
    --------
    >>> r = parse_sampling_rules({"default_probability": 0.05, "rules": [{"device_type": "CT", "probability": 0.2}]})
    >>> r.probability_for({"device_type": "CT", "staff": "A1"})
    (0.2, 'rule 1')
    """
    if not isinstance(data, Mapping):
        raise InputError(f"sampling rules must be a table (mapping), got {type(data).__name__}", path=source)
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise InputError(f"unknown top-level keys {sorted(unknown)}; expected some of {sorted(_TOP_KEYS)}",
                         path=source)
    if "schema" in data and data["schema"] != RULES_SCHEMA:
        raise InputError(f"schema is {data['schema']!r}; this version reads {RULES_SCHEMA!r}", path=source)
    if "default_probability" not in data:
        raise InputError("missing 'default_probability' (the probability of an exam no rule matches)", path=source)
    default = _probability(data["default_probability"], "default_probability", source)
    mpp = data.get("min_per_person", 1)
    if isinstance(mpp, bool) or not isinstance(mpp, int) or mpp < 0:
        raise InputError(f"min_per_person must be a whole number >= 0 (0 switches stratification off), got {mpp!r}",
                         path=source)
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise InputError("'rules' must be a list of tables ([[rules]] in TOML)", path=source)
    rules = []
    for i, raw in enumerate(raw_rules, start=1):
        where = f"rules[{i}]"
        if not isinstance(raw, Mapping):
            raise InputError(f"{where} must be a table, got {type(raw).__name__}", path=source)
        bad = set(raw) - _RULE_KEYS
        if bad:
            raise InputError(f"{where} has unknown keys {sorted(bad)}; expected some of {sorted(_RULE_KEYS)}",
                             path=source)
        if "probability" not in raw:
            raise InputError(f"{where} has no 'probability'", path=source)
        conditions = tuple((f, _values(raw[f], f"{where}.{f}", source)) for f in RULE_FIELDS if f in raw)
        if not conditions:
            raise InputError(f"{where} has no condition; give at least one of {', '.join(RULE_FIELDS)}",
                             path=source)
        for field, values in conditions:
            if field == "staff_role":
                wrong = [v for v in values if v not in STAFF_ROLES]
                if wrong:
                    raise InputError(f"{where}.staff_role {wrong} not in {STAFF_ROLES}", path=source)
        priority = raw.get("priority", 0)
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise InputError(f"{where}.priority must be a whole number, got {priority!r}", path=source)
        name = raw.get("name", f"rule {i}")
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{where}.name must be a non-empty string, got {name!r}", path=source)
        rules.append(SamplingRule(name=name.strip(), conditions=conditions,
                                  probability=_probability(raw["probability"], f"{where}.probability", source),
                                  priority=priority, index=i, note=str(raw.get("note", ""))))
    names = [r.name for r in rules]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"rule names {dupes} are used twice; names identify the rule in the sample", path=source)
    return SamplingRules(default_probability=default, rules=tuple(rules), min_per_person=mpp, source=source)


def load_sampling_rules(path: str | Path) -> SamplingRules:
    """Read sampling rules from a TOML file (UTF-8).

    Parameters
    ----------
    path : str or Path
        The rules file; see ``phantomqc/rubric/rules/sampling_example.toml`` for the documented format.

    Returns
    -------
    SamplingRules

    Raises
    ------
    InputError
        The file is missing, not UTF-8 TOML, or breaks the format (see :func:`parse_sampling_rules`); the
        message names the file.

    Notes
    -----
    Precedence when several rules match one exam: the highest ``priority`` (default 0) wins; among equal
    priorities the rule with more conditions; then the rule on the more specific field
    (staff > exam_part > device_type > staff_role); then the rule listed first. An exam no rule matches gets
    ``default_probability``. The seed (001 7.2.1.1) says only "根据抽样规则及概率标记检查"; this precedence is ours.

    Examples
    --------
    >>> from phantomqc.rubric.sampling import SAMPLING_EXAMPLE_TOML
    >>> load_sampling_rules(SAMPLING_EXAMPLE_TOML).min_per_person
    1
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read sampling rules as UTF-8 TOML: {exc}", path=path) from exc
    return parse_sampling_rules(data, source=str(path))


SAMPLING_EXAMPLE_TOML = Path(__file__).with_name("rules") / "sampling_example.toml"
__all__ += ["SAMPLING_EXAMPLE_TOML", "sampling_rules"]


def sampling_rules(rules: SamplingRules | Mapping[str, Any] | str | Path) -> SamplingRules:
    """Sampling rules from whatever a caller holds: a :class:`SamplingRules` (returned as is), a mapping (JSON
    from a workstation, see :func:`parse_sampling_rules`), TOML text (``str``) or a file (``pathlib.Path``).

    Raises
    ------
    InputError
        The text is not TOML, or the rules break the format.

    Examples
    --------
    >>> sampling_rules('default_probability = 0.1').default_probability
    0.1
    """
    if isinstance(rules, SamplingRules):
        return rules
    if isinstance(rules, Path):
        return load_sampling_rules(rules)
    if isinstance(rules, str):
        try:
            data = tomllib.loads(rules)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"sampling rules text is not TOML: {exc}; pass a pathlib.Path to read a file") from exc
        return parse_sampling_rules(data)
    return parse_sampling_rules(rules)


# ------------------------------------------------------------------------------------------------ exam list


def _exam_date(raw: Any) -> _dt.date:
    """``YYYY-MM-DD`` or ``YYYYMMDD``, optionally followed by a time (``2024-03-02 10:15`` or ``...T10:15``)."""
    if isinstance(raw, _dt.datetime):
        return raw.date()
    if isinstance(raw, _dt.date):
        return raw
    text = "" if raw is None else str(raw).strip()
    if not text:
        raise InputError("'exam_date' is empty; expected YYYY-MM-DD")
    try:
        return _parse_date(text)
    except InputError:
        for cut in (10, 8):  # a date followed by a time of day
            if len(text) > cut and text[cut] in " T":
                try:
                    return _parse_date(text[:cut])
                except InputError:
                    pass
        raise


def _validate_exam(row: Any, n: int) -> dict:
    if not isinstance(row, Mapping):
        raise InputError(f"row {n}: expected an object with the exam columns, got {type(row).__name__}")
    if None in row:  # csv.DictReader puts surplus fields under None
        raise InputError(f"row {n}: more fields than the header has columns; quote values that contain commas")
    try:
        for key in _REQUIRED_VALUES:
            if not _text(row, key):
                raise InputError(f"'{key}' is empty; every exam needs {', '.join(_REQUIRED_VALUES)} and exam_date")
        date = _exam_date(row.get("exam_date"))
        role = _text(row, "staff_role")
        if role not in STAFF_ROLES:
            raise InputError(f"staff_role '{role}' is not one of {STAFF_ROLES}")
    except InputError as exc:
        raise InputError(f"row {n}: {exc.cause}") from None
    out = dict(row)
    for key in EXAM_COLUMNS:
        out[key] = _text(row, key)
    out["exam_date"] = date.isoformat()
    return out


def parse_exams(rows: Iterable[Any], *, first_row: int = 1, source: str | None = None) -> tuple[list[dict], list[dict]]:
    """Validate exam rows; return ``(exams, errors)``.

    Each valid exam comes back as a new dict with the :data:`EXAM_COLUMNS` as stripped text, ``exam_date`` as
    ``YYYY-MM-DD``, and every other column unchanged. Each bad row gives ``{"row", "exam_id", "message"}``. A
    repeated ``exam_id`` is an error on the later row (the first is kept).
    """
    exams, errors, first_seen = [], [], {}
    for n, row in enumerate(rows, start=first_row):
        try:
            exam = _validate_exam(row, n)
            eid = exam["exam_id"]
            if eid in first_seen:
                raise InputError(f"row {n}: exam_id '{eid}' is listed again (first at row {first_seen[eid]}); "
                                 f"list each exam once")
        except InputError as exc:
            eid = _text(row, "exam_id") if isinstance(row, Mapping) else ""
            errors.append({"row": n, "exam_id": eid or None, "message": str(InputError(exc.cause, path=source))})
            continue
        first_seen[eid] = n
        exams.append(exam)
    return exams, errors


def read_exams(path: str | Path) -> tuple[list[dict], list[dict]]:
    """Read an exam list (``.csv`` or ``.json``, UTF-8) and validate every row.

    Parameters
    ----------
    path : str or Path
        CSV with a header holding at least :data:`EXAM_COLUMNS`, or JSON (a list of objects, or an object with an
        ``exams`` list).

    Returns
    -------
    exams : list of dict
        The valid rows (see :func:`parse_exams`).
    errors : list of dict
        ``{"row", "exam_id", "message"}`` per bad row: a bad date, an empty exam_id/staff/device_type, a staff_role
        other than technologist or doctor, a repeated exam_id.

    Raises
    ------
    InputError
        Only when the whole file is unusable: missing, not UTF-8, not JSON, a CSV header without the columns.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "exams.csv")
    >>> _ = open(p, "w", encoding="utf-8").write(
    ...     "exam_id,exam_date,device_type,exam_part,staff,staff_role\\n"
    ...     "E1,2024-03-02,CT,胸部,A1,technologist\\nE2,2024-13-40,DR,胸部,A2,technologist\\n")
    >>> exams, errors = read_exams(p)
    >>> [e["exam_id"] for e in exams], errors[0]["row"]
    (['E1'], 3)
    """
    rows, first = read_table(path, what="exam list", key="exams", required=EXAM_COLUMNS)
    return parse_exams(rows, first_row=first, source=str(path))


# ------------------------------------------------------------------------------------------------ sampling


def sample_exams(exams: Iterable[Mapping[str, Any]] | str | Path, rules: SamplingRules | str | Path, *, seed: int,
                 month: str | None = None) -> dict:
    """Draw the random-QC sample of an exam list (seed 001 7.2.1.1), stratified so each person is covered monthly.

    Parameters
    ----------
    exams : iterable of mappings, or a path
        Exam rows with :data:`EXAM_COLUMNS` (validated here; bad rows go to ``errors``), or an exam-list file
        for :func:`read_exams`.
    rules : SamplingRules, or a path
        The rules, or a TOML file for :func:`load_sampling_rules`.
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed and exam list give the same sample.
    month : str, optional
        ``YYYY-MM``: sample only the exams of that month. None samples all months, each stratified on its own.

    Returns
    -------
    dict
        ``schema`` (``phantomqc.rubric_sample/1``), ``seed``, ``month``, ``rules`` (the rules echoed, with the
        precedence), ``n_exams`` (valid exams considered), ``n_sampled``, ``n_stratified``, ``sampled`` (exam dicts
        plus ``probability``, ``rule`` and ``reason`` = ``"random"`` or ``"stratified"``, ordered by date then
        exam_id), ``by_stratum`` ``[{device_type, staff, exams, sampled, random, stratified,
        expected_random}]``, ``by_person`` ``[{month, staff, staff_role, exams, sampled, stratified}]``,
        ``errors`` (bad rows: ``{row, exam_id, message}``), ``warnings``.

    Raises
    ------
    InputError
        ``seed`` is not a whole number >= 0, ``month`` is not ``YYYY-MM``, or a rules/exam file is unusable.

    Notes
    -----
    1. The valid exams (of ``month``) are sorted by ``exam_id`` (unique), so the draw does not depend on the input
       row order. ``rng = numpy.random.default_rng(seed)`` gives one uniform ``u_i`` per exam in that order; exam
       ``i`` is sampled when ``u_i < p_i``, ``p_i`` from the rules (see :func:`load_sampling_rules` for the
       precedence). So ``P(sampled) = p_i`` exactly, and p = 0 never / p = 1 always samples.
    2. Stratification: for each (month, staff) in sorted order, when fewer than ``min_per_person`` of the person's
       exams were drawn, the missing ones are drawn uniformly without replacement from their other exams with the
       same ``rng`` (all of them when the person has fewer exams than that). These are ``reason="stratified"``.
       ``min_per_person = 0`` switches this off.

    A column named ``probability``, ``rule`` or ``reason`` in the exam list is overwritten in ``sampled``.

    Examples
    --------
    >>> rules = parse_sampling_rules({"default_probability": 0.0, "min_per_person": 1})
    >>> exams = [{"exam_id": f"E{i}", "exam_date": "2024-03-02", "device_type": "CT", "exam_part": "胸部",
    ...           "staff": "A1", "staff_role": "technologist"} for i in range(5)]
    >>> doc = sample_exams(exams, rules, seed=7)
    >>> doc["n_sampled"], doc["sampled"][0]["reason"]
    (1, 'stratified')
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a whole number >= 0, got {seed!r}")
    _check_month(month)
    if not isinstance(rules, SamplingRules):
        rules = load_sampling_rules(rules)
    if isinstance(exams, (str, Path)):
        rows, errors = read_exams(exams)
    else:
        if exams is None:
            raise InputError("exams is None; pass exam rows (may be empty) or an exam-list file")
        rows, errors = parse_exams(exams)
    if month is not None:
        rows = [r for r in rows if r["exam_date"][:7] == month]
    rows.sort(key=lambda r: r["exam_id"])
    n = len(rows)
    rng = np.random.default_rng(int(seed))
    uniforms = rng.random(n)
    probs, rule_names = [], []
    for r in rows:
        p, name = rules.probability_for(r)
        probs.append(p)
        rule_names.append(name)
    reason: list[str | None] = ["random" if uniforms[i] < probs[i] else None for i in range(n)]

    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        groups[(r["exam_date"][:7], r["staff"])].append(i)
    warnings = []
    for key in sorted(groups):
        idx = groups[key]
        need = min(rules.min_per_person, len(idx)) - sum(reason[i] is not None for i in idx)
        if rules.min_per_person > len(idx):
            warnings.append(f"{key[1]} has {len(idx)} exam(s) in {key[0]}, fewer than min_per_person="
                            f"{rules.min_per_person}; all of them are sampled")
        if need > 0:
            candidates = [i for i in idx if reason[i] is None]
            for j in rng.choice(len(candidates), size=need, replace=False):
                reason[candidates[int(j)]] = "stratified"

    sampled = []
    for i in sorted((i for i in range(n) if reason[i]), key=lambda i: (rows[i]["exam_date"], rows[i]["exam_id"])):
        sampled.append({**rows[i], "probability": probs[i], "rule": rule_names[i], "reason": reason[i]})

    strata: dict[tuple[str, str], Counter] = defaultdict(Counter)
    expected: dict[tuple[str, str], float] = defaultdict(float)
    people: dict[tuple[str, str], Counter] = defaultdict(Counter)
    roles: dict[tuple[str, str], set] = defaultdict(set)
    for i, r in enumerate(rows):
        k = (r["device_type"], r["staff"])
        strata[k]["exams"] += 1
        expected[k] += probs[i]
        pk = (r["exam_date"][:7], r["staff"])
        people[pk]["exams"] += 1
        roles[pk].add(r["staff_role"])
        if reason[i]:
            strata[k]["sampled"] += 1
            strata[k][reason[i]] += 1
            people[pk]["sampled"] += 1
            people[pk][reason[i]] += 1
    by_stratum = [{"device_type": d, "staff": s, "exams": c["exams"], "sampled": c["sampled"], "random": c["random"],
                   "stratified": c["stratified"], "expected_random": expected[(d, s)]}
                  for (d, s), c in sorted(strata.items(), key=lambda kv: (kv[0][0], _natural(kv[0][1])))]
    by_person = [{"month": m, "staff": s, "staff_role": ";".join(sorted(roles[(m, s)])), "exams": c["exams"],
                  "sampled": c["sampled"], "stratified": c["stratified"]}
                 for (m, s), c in sorted(people.items(), key=lambda kv: (kv[0][0], _natural(kv[0][1])))]
    return {
        "schema": SAMPLE_SCHEMA,
        "seed": int(seed),
        "month": month,
        "rules": rules.to_dict(),
        "n_exams": n,
        "n_sampled": len(sampled),
        "n_stratified": sum(1 for x in reason if x == "stratified"),
        "sampled": sampled,
        "by_stratum": by_stratum,
        "by_person": by_person,
        "errors": errors,
        "warnings": warnings,
    }


# ------------------------------------------------------------------------------------------------ filters


def _accepted(value: str | Collection[str] | None, name: str) -> frozenset[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    if not items or not all(isinstance(v, str) for v in items):
        raise InputError(f"filter {name}={value!r}: give a string or a non-empty collection of strings "
                         f"(None for no filter)")
    return frozenset(v.strip() for v in items)


def _bound(value: str | _dt.date | None, name: str) -> _dt.date | None:
    if value is None:
        return None
    try:
        return _exam_date(value)
    except InputError:
        raise InputError(f"{name}={value!r} is not a date; expected YYYY-MM-DD or a datetime.date") from None


def filter_exams(exams: Iterable[Mapping[str, Any]], *, date_from: str | _dt.date | None = None,
                 date_to: str | _dt.date | None = None, device_type: str | Collection[str] | None = None,
                 exam_part: str | Collection[str] | None = None, staff: str | Collection[str] | None = None,
                 staff_role: str | Collection[str] | None = None, text: str | Collection[str] | None = None) -> list:
    """Select exams for centralised QC (seed 001 7.2.1.3, "筛选出特定的检查").

    Parameters
    ----------
    exams : iterable of mappings
        Exam rows (e.g. from :func:`read_exams`).
    date_from, date_to : str or datetime.date, optional
        Inclusive bounds on ``exam_date`` (``YYYY-MM-DD``).
    device_type, exam_part, staff, staff_role : str or collection of str, optional
        Keep exams whose field (stripped) equals the string, or one of the collection's strings.
    text : str or collection of str, optional
        Keep exams where the text (or one of the texts) occurs, case-insensitively, in any column's value
        (extra columns such as a diagnosis or a comment included).

    Returns
    -------
    list
        The matching rows themselves, in input order. All given filters must hold (AND); within one filter, a
        collection means any of its values (OR). None means no filter.

    Raises
    ------
    InputError
        An empty collection, a non-string value, a bad bound date, or – when a date bound is given – an exam whose
        ``exam_date`` is not a date (validate the list with :func:`read_exams` first).

    Examples
    --------
    >>> exams = [{"exam_id": "E1", "exam_date": "2024-03-02", "device_type": "CT", "exam_part": "胸部",
    ...           "staff": "A1", "staff_role": "technologist", "comment": "右肺结节"},
    ...          {"exam_id": "E2", "exam_date": "2024-03-09", "device_type": "DR", "exam_part": "胸部",
    ...           "staff": "A2", "staff_role": "technologist", "comment": ""}]
    >>> [e["exam_id"] for e in filter_exams(exams, exam_part="胸部", date_from="2024-03-05")]
    ['E2']
    >>> [e["exam_id"] for e in filter_exams(exams, text="结节")]
    ['E1']
    """
    lo, hi = _bound(date_from, "date_from"), _bound(date_to, "date_to")
    fields = {k: _accepted(v, k) for k, v in (("device_type", device_type), ("exam_part", exam_part),
                                              ("staff", staff), ("staff_role", staff_role))}
    fields = {k: v for k, v in fields.items() if v is not None}
    needles = _accepted(text, "text")
    needles = None if needles is None else [t.casefold() for t in needles]
    out = []
    for n, row in enumerate(exams, start=1):
        if not isinstance(row, Mapping):
            raise InputError(f"exam {n}: expected a mapping, got {type(row).__name__}")
        if any(_text(row, k) not in v for k, v in fields.items()):
            continue
        if lo is not None or hi is not None:
            try:
                d = _exam_date(row.get("exam_date"))
            except InputError as exc:
                raise InputError(f"exam {n} (exam_id '{_text(row, 'exam_id')}'): {exc.cause}; validate the list "
                                 f"with read_exams before filtering by date") from None
            if (lo is not None and d < lo) or (hi is not None and d > hi):
                continue
        if needles is not None:
            hay = "\n".join(str(v) for v in row.values() if v is not None).casefold()
            if not any(t in hay for t in needles):
                continue
        out.append(row)
    return out
