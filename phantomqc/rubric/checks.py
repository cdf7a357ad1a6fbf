"""Automatic radiology report checks (issue 6 section 3), from seed 002's writing rules, seed 000's PET/CT report
elements and seed 004's CMR measurement criteria.

Each check is a rule with an id (``required_field``, ``laterality_mismatch``, ...). The rules, word lists,
severities and the form item each finding counts against are data, in ``rules/report_checks.toml``; a department
extends or overrides them with its own TOML file (:func:`load_check_rules`). This module only applies them; it is
pure (no I/O beyond reading the rule files and, in :func:`check_reports`, the reports).

Severity follows the seed's wording: a rule the seed writes with 应/不应 is an ``error`` (the report fails), one
written with 宜/不宜 is a ``warning``; heuristic sub-cases (a density word with no degree at all, an unknown
orientation word) are warnings, and notes (an anonymised value, a CMR phrase without the measurement) are ``info``.
"""

from __future__ import annotations

import calendar
import re
import sys
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, Sequence

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from phantomqc._shared.errors import InputError, PhantomQCError, ProfileError
from phantomqc.rubric.cmr import check_cmr_statement, load_cmr_rules
from phantomqc.rubric.forms import load_forms
from phantomqc.rubric.report_text import Report, parse_report, read_report

__all__ = ["CHECK_RULES_TOML", "SCHEMA", "BATCH_SCHEMA", "RULE_IDS", "SEVERITIES", "CheckRules", "load_check_rules",
           "check_report", "check_reports"]

CHECK_RULES_TOML = Path(__file__).with_name("rules") / "report_checks.toml"
SCHEMA = "phantomqc.rubric_check/1"
BATCH_SCHEMA = "phantomqc.rubric_check_batch/1"
RULES_SCHEMA = "phantomqc.report_check_rules/1"
SEVERITIES = ("error", "warning", "info")
RULE_IDS = ("required_field", "date_format", "time_to_minute", "mri_sequence_format", "density_signal_grade",
            "enhancement_grade", "vague_phrase", "laterality_mismatch", "sex_specific_organ",
            "removed_organ_described", "finding_without_diagnosis", "conclusion_order", "too_many_differentials",
            "prior_without_date", "unit_consistency", "decimal_consistency", "petct_element_missing",
            "petct_glucose_missing", "cmr_grade_contradiction")
PETCT_ELEMENTS = 21
_PUNCT = set("，、；。,;:：（）()[]【】 \t\r\n\u3000“”\"'‘’！？!?")


# ------------------------------------------------------------------------------------------------ rule data


def _freeze(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return tuple(_freeze(v) for v in obj)
    return obj


def _merge(base: dict, extra: Mapping, where: str) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if key.startswith("add_") and isinstance(value, list):
            target = key[4:]
            old = out.get(target, [])
            if not isinstance(old, list):
                raise ProfileError(f"{where}: '{key}' appends to '{target}', which is not a list")
            out[target] = [*old, *value]
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value, f"{where}.{key}")
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class CheckRules:
    """The merged, validated rule data of ``report_checks.toml`` (plus any department file).

    Attributes
    ----------
    sources : tuple of str
        The files read, base first.
    data : mapping
        The merged TOML, read-only.
    field_headings, field_keys, data_keys : mapping of str to str
        Plain-text heading, JSON key and JSON data key to canonical name (used by the parser).
    """

    sources: tuple[str, ...]
    data: Mapping[str, Any]
    field_headings: Mapping[str, str]
    field_keys: Mapping[str, str]
    data_keys: Mapping[str, str]

    def rule(self, rule_id: str) -> Mapping[str, Any]:
        """The ``[rules.<rule_id>]`` table."""
        return self.data["rules"][rule_id]

    def enabled(self, rule_id: str) -> bool:
        """False when the table says ``enabled = false``."""
        return bool(self.rule(rule_id).get("enabled", True))

    def section(self, name: str) -> Mapping[str, Any]:
        """A top-level table other than ``rules`` (``formats``, ``matching``, ``petct`` ...)."""
        return self.data.get(name, MappingProxyType({}))


def _check_form_item(code: str, forms: Mapping, where: str, path: str) -> None:
    form_id = code.split(".", 1)[0]
    if form_id not in forms:
        raise ProfileError(f"{where}: form_item {code!r} names unknown form {form_id!r}", path=path)
    try:
        forms[form_id].item(code)
    except KeyError:
        raise ProfileError(f"{where}: form_item {code!r} is not an item of form {form_id!r}", path=path) from None


def _regexes(obj: Any, where: str, path: str) -> None:
    """Compile every string under a key ending in pattern/patterns, so a bad regex fails at load time."""
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if k.endswith(("pattern", "patterns")) or k == "separators":
                for s in (v if isinstance(v, (list, tuple)) else [v]):
                    try:
                        re.compile(s)
                    except (re.error, TypeError) as exc:
                        raise ProfileError(f"{where}.{k}: {s!r} is not a regular expression ({exc})",
                                           path=path) from None
            else:
                _regexes(v, f"{where}.{k}", path)


def _validate(data: Mapping[str, Any], path: str) -> None:
    if data.get("schema") != RULES_SCHEMA:
        raise ProfileError(f"schema is {data.get('schema')!r}, expected {RULES_SCHEMA!r}", path=path)
    rules = data.get("rules", {})
    missing = [r for r in RULE_IDS if r not in rules]
    if missing:
        raise ProfileError(f"[rules] lacks {missing}; every rule needs severity and form_item", path=path)
    forms = load_forms()
    for rid, r in rules.items():
        where = f"rules.{rid}"
        for k, v in r.items():
            if k == "severity" or k.endswith("_severity"):
                if v not in SEVERITIES:
                    raise ProfileError(f"{where}.{k} = {v!r}; expected one of {SEVERITIES}", path=path)
        if "severity" not in r:
            raise ProfileError(f"{where} has no severity", path=path)
        code = r.get("form_item")
        if code is None:
            raise ProfileError(f"{where} has no form_item (write \"\" and form_item_reason when none fits)",
                               path=path)
        if code == "":
            if not r.get("form_item_reason"):
                raise ProfileError(f"{where}: form_item is empty but form_item_reason is missing", path=path)
        elif "{n}" in code:
            for n in range(1, PETCT_ELEMENTS + 1):
                _check_form_item(code.replace("{n}", str(n)), forms, where, path)
        else:
            _check_form_item(code, forms, where, path)
        for fld, c in r.get("form_item_by_field", {}).items():
            _check_form_item(c, forms, f"{where}.form_item_by_field.{fld}", path)
    for name, f in data.get("fields", {}).items():
        if not f.get("headings") or not f.get("keys"):
            raise ProfileError(f"fields.{name} needs non-empty headings and keys", path=path)
    _regexes(data, "", path)


def _read_toml(path: Path) -> dict:
    if not path.exists():
        raise ProfileError("report check rules file not found", path=path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"not a readable TOML file: {exc}", path=path) from None


@lru_cache(maxsize=16)
def _load_cached(paths: tuple[str, ...]) -> CheckRules:
    data = _read_toml(Path(paths[0]))
    for p in paths[1:]:
        data = _merge(data, _read_toml(Path(p)), p)
    _validate(data, " + ".join(paths))
    headings: dict[str, str] = {}
    keys: dict[str, str] = {}
    for name, f in data["fields"].items():
        for h in f["headings"]:
            headings[h] = name
        for k in f["keys"]:
            keys[k] = name
    dkeys = {k: name for name, ks in data.get("data_keys", {}).items() for k in ks}
    return CheckRules(paths, _freeze(data), MappingProxyType(headings), MappingProxyType(keys),
                      MappingProxyType(dkeys))


def load_check_rules(path: str | Path | None = None, *,
                     extra: str | Path | Sequence[str | Path] | None = None) -> CheckRules:
    """Read the report check rules, with optional department overrides.

    Parameters
    ----------
    path : str or Path, optional
        The base rules file; default the packaged ``rubric/rules/report_checks.toml``.
    extra : str, Path or sequence of them, optional
        Department files merged over the base, in order: tables merge key by key, a value replaces the base
        value, and a list key written ``add_<name>`` is appended to the list ``<name>``.

    Returns
    -------
    CheckRules
        Immutable; cached per file list.

    Raises
    ------
    ProfileError
        A file is missing or not TOML, a severity is not error/warning/info, a form item code does not exist in
        ``rubric/forms``, a rule lacks a form item or the reason for none, or a regular expression is invalid.

    Examples
    --------
    >>> rules = load_check_rules()
    >>> rules.rule("laterality_mismatch")["form_item"]
    'report_quality.severe.2'
    """
    base = Path(path) if path is not None else CHECK_RULES_TOML
    extras: list = [] if extra is None else ([extra] if isinstance(extra, (str, Path)) else list(extra))
    return _load_cached((str(base), *(str(Path(e)) for e in extras)))


# ------------------------------------------------------------------------------------------------ helpers


@dataclass(frozen=True)
class _Seg:
    """A piece of a field's text: [start, end) offsets into the field."""

    start: int
    end: int
    text: str


def _segments(text: str, seps: str, *, base: int = 0) -> list[_Seg]:
    """Split at any character of ``seps``; strip whitespace; drop empty pieces; offsets kept."""
    out, start = [], 0
    for i, ch in enumerate(text + seps[0]):
        if ch in seps or i == len(text):
            piece = text[start:i]
            lead = len(piece) - len(piece.lstrip())
            stripped = piece.strip()
            if stripped:
                out.append(_Seg(base + start + lead, base + start + lead + len(stripped), stripped))
            start = i + 1
    return out


def _span(field: str, text: str, start: int, end: int) -> dict:
    return {"field": field, "start": start, "end": end, "text": text[start:end]}


def _whole(field: str, text: str) -> dict:
    lead = len(text) - len(text.lstrip())
    return _span(field, text, lead, lead + len(text.strip()))


def _ends_with_any(text: str, words: Iterable[str]) -> str | None:
    for w in sorted(words, key=len, reverse=True):
        if w and text.endswith(w):
            return w
    return None


def _find_all(text: str, word: str) -> Iterable[int]:
    i = text.find(word)
    while i >= 0:
        yield i
        i = text.find(word, i + 1)


class _Ctx:
    """One report under one rule set: findings are added through :meth:`add`."""

    def __init__(self, report: Report, rules: CheckRules) -> None:
        self.report = report
        self.rules = rules
        self.findings: list[dict] = []

    def add(self, rule_id: str, message: str, span: dict | None, *, severity_key: str = "severity",
            form_item: str | None = None) -> None:
        r = self.rules.rule(rule_id)
        code = form_item if form_item is not None else r["form_item"]
        self.findings.append({"rule": rule_id, "severity": r.get(severity_key, r["severity"]), "message": message,
                              "span": span, "form_item": code or None})

    def text(self, name: str) -> str:
        return self.report.text(name)

    def placeholder(self, text: str) -> bool:
        chars = self.rules.section("anonymised").get("placeholder_chars", "X")
        return any(c in chars for c in text)

    def fill_placeholders(self, text: str) -> str:
        chars = self.rules.section("anonymised").get("placeholder_chars", "X")
        return "".join("1" if c in chars else c for c in text)

    def sex(self) -> str | None:
        r = self.rules.rule("sex_specific_organ")
        value = self.text("sex").strip()
        if value in r["male_values"]:
            return "male"
        if value in r["female_values"]:
            return "female"
        return None


# ------------------------------------------------------------------------------------------------ checks


def _check_required(ctx: _Ctx) -> None:
    by_field = ctx.rules.rule("required_field").get("form_item_by_field", {})
    for name, f in ctx.rules.section("fields").items():
        if f.get("required") and not ctx.text(name).strip():
            ctx.add("required_field", f"required field '{f['headings'][0]}' ({name}) of template A.1 is missing "
                    f"or empty; fill it in", None, form_item=by_field.get(name))


def _match_date(text: str, fmt: Mapping) -> tuple[re.Match | None, bool]:
    """(first date match, whether it is a calendar date)."""
    for p in fmt["date_patterns"]:
        m = re.search(p, text)
        if m:
            y, mo, d = int(m.group("y")), int(m.group("m")), int(m.group("d"))
            ok = y >= 1 and 1 <= mo <= 12 and 1 <= d <= calendar.monthrange(max(y, 1), mo if 1 <= mo <= 12 else 1)[1]
            return m, ok
    return None, False


def _match_time(text: str, fmt: Mapping) -> tuple[re.Match | None, bool]:
    for p in fmt["time_patterns"]:
        m = re.search(p, text)
        if m:
            return m, int(m.group("H")) < 24 and int(m.group("M")) < 60
    return None, False


def _check_datetime(ctx: _Ctx) -> None:
    fmt = ctx.rules.section("formats")
    heading = {n: f["headings"][0] for n, f in ctx.rules.section("fields").items()}
    for name in ctx.rules.rule("date_format")["fields"]:
        text = ctx.text(name)
        if not text.strip():
            continue  # required_field reports it
        whole = _whole(name, text)
        if ctx.placeholder(text):
            filled = ctx.fill_placeholders(text)
            if _match_date(filled, fmt)[0] is not None:
                ctx.add("date_format", f"'{heading[name]}' {text.strip()!r} is an anonymised placeholder; its date "
                        f"and time format were not checked", whole, severity_key="anonymised_severity")
                continue
        dm, dok = _match_date(text, fmt)
        if dm is None:
            ctx.add("date_format", f"'{heading[name]}' {text.strip()!r} gives no date with year, month and day "
                    f"(e.g. 2024年09月08日 or 2024-09-08)", whole)
        elif not dok:
            ctx.add("date_format", f"'{heading[name]}' date {dm.group(0)!r} is not a calendar date",
                    _span(name, text, dm.start(), dm.end()))
        if ctx.rules.enabled("time_to_minute") and name in ctx.rules.rule("time_to_minute")["fields"]:
            rest = text[dm.end():] if dm is not None else text
            off = dm.end() if dm is not None else 0
            tm, tok = _match_time(rest, fmt)
            if tm is None:
                ctx.add("time_to_minute", f"'{heading[name]}' {text.strip()!r} gives no time to the minute "
                        f"(e.g. 10:24 or 10时24分)", whole)
            elif not tok:
                ctx.add("time_to_minute", f"'{heading[name]}' time {tm.group(0)!r} is not a clock time",
                        _span(name, text, off + tm.start(), off + tm.end()))


def _check_mri_sequences(ctx: _Ctx) -> None:
    r = ctx.rules.rule("mri_sequence_format")
    probe = " ".join(ctx.text(n) for n in ("exam_name", "modality", "technique"))
    if not re.search(r["applies_pattern"], probe):
        return
    text = ctx.text("technique")
    if not text.strip():
        return  # required_field reports it
    orients = set(r["orientations"])
    others = tuple(r["other_labels"])
    m = re.search(r["sequence_label_pattern"], text)
    if m is not None:
        start = m.end()
    else:
        hits = [text.find(o) for o in orients if o in text]
        if not hits:
            ctx.add("mri_sequence_format", "MRI technique gives no scan sequences as '方位：加权成像技术+特殊对比' "
                    "(e.g. 扫描序列：横断位：T1WI，T2WI；矢状位：T2WI)", _whole("technique", text))
            return
        start = min(hits)
    for i in range(start, len(text)):
        if text[i] in ";":
            ctx.add("mri_sequence_format", "orientation groups must be separated by the full-width '；', "
                    "found ';'", _span("technique", text, i, i + 1))
    for group in _segments(text[start:], "；;", base=start):
        if group.text.startswith(others):
            break  # the next technique item (层厚, 重建 ...) ends the sequence list
        parts = re.split(r"[：:]", group.text)
        offs, pos = [], group.start
        for p in parts:
            offs.append(pos)
            pos += len(p) + 1
        if len(parts) == 1:
            ctx.add("mri_sequence_format", f"sequence group {group.text!r} has no orientation: write "
                    f"'方位：序列，序列'", _span("technique", text, group.start, group.end))
            continue
        labels = [(p.strip(), o + len(p) - len(p.lstrip())) for p, o in zip(parts[:-1], offs[:-1])]
        bad_group = False
        for lab, lo in labels:
            if re.search(r"[，,]", lab):
                ctx.add("mri_sequence_format", f"{lab!r}: orientation groups must be separated by '；', not '，'",
                        _span("technique", text, lo, lo + len(lab)))
                bad_group = True
                continue
            for name in re.split(r"[、/]", lab):
                if name.strip() and name.strip() not in orients:
                    i = text.find(name.strip(), lo)
                    ctx.add("mri_sequence_format", f"{name.strip()!r} is not an orientation of the rule list "
                            f"({'、'.join(r['orientations'][:4])} ...)", _span("technique", text, i,
                                                                             i + len(name.strip())),
                            severity_key="token_severity")
        if not bad_group and len({lab for lab, _ in labels}) > 1:
            lo = labels[1][1]
            ctx.add("mri_sequence_format", f"two different orientation labels in one group "
                    f"({labels[0][0]!r}, {labels[1][0]!r}); separate orientations with '；'",
                    _span("technique", text, labels[0][1], lo + len(labels[1][0])))
            bad_group = True
        seq, so = parts[-1], offs[-1]
        if not seq.strip():
            ctx.add("mri_sequence_format", f"orientation {labels[0][0]!r} lists no sequence",
                    _span("technique", text, group.start, group.end))
            continue
        for j, ch in enumerate(seq):
            if ch in "、,":
                ctx.add("mri_sequence_format", f"sequences of one orientation must be separated by '，', found "
                        f"{ch!r}", _span("technique", text, so + j, so + j + 1))
        if bad_group:
            continue
        for tok in _segments(seq, "，、,", base=so):
            if not re.match(r["sequence_pattern"], tok.text):
                ctx.add("mri_sequence_format", f"sequence {tok.text!r} is not '加权成像技术+特殊对比' "
                        f"(e.g. T1WI+C)", _span("technique", text, tok.start, tok.end),
                        severity_key="token_severity")


def _vague_spans(ctx: _Ctx) -> dict[str, list[tuple[int, int]]]:
    r = ctx.rules.rule("vague_phrase")
    out: dict[str, list[tuple[int, int]]] = {}
    for name in r["fields"]:
        text = ctx.text(name)
        taken: list[tuple[int, int]] = []
        for phrase in sorted(r["phrases"], key=len, reverse=True):
            for i in _find_all(text, phrase):
                if not any(a < i + len(phrase) and i < b for a, b in taken):
                    taken.append((i, i + len(phrase)))
        out[name] = sorted(taken)
    return out


def _check_vague(ctx: _Ctx, vague: Mapping[str, list[tuple[int, int]]]) -> None:
    for name, spans in vague.items():
        text = ctx.text(name)
        for a, b in spans:
            ctx.add("vague_phrase", f"vague phrase {text[a:b]!r} is not allowed; grade the enhancement as 无强化, "
                    f"轻度强化, 中度强化 or 明显强化", _span(name, text, a, b))


def _check_density(ctx: _Ctx) -> None:
    r = ctx.rules.rule("density_signal_grade")
    nouns = "|".join(re.escape(n) for n in r["nouns"])
    for name in r["fields"]:
        text = ctx.text(name)
        for m in re.finditer(rf"[高低](?:{nouns})", text):
            before = text[:m.start()]
            bad = _ends_with_any(before, r["non_scale_prefixes"])
            if bad is not None:
                a = m.start() - len(bad)
                ctx.add("density_signal_grade", f"{text[a:m.end()]!r} uses a degree word not on the 7-grade scale "
                        f"(明显低、中度低、稍低、等、稍高、中度高、明显高)", _span(name, text, a, m.end()))
            elif _ends_with_any(before, r["scale_prefixes"]) is None:
                ctx.add("density_signal_grade", f"{m.group(0)!r} has no degree: grade it on the 7-grade scale "
                        f"(明显/中度/稍 + 高/低, or 等)", _span(name, text, m.start(), m.end()),
                        severity_key="ungraded_severity")


def _check_enhancement(ctx: _Ctx, vague: Mapping[str, list[tuple[int, int]]]) -> None:
    r = ctx.rules.rule("enhancement_grade")
    patterns = sorted(r["pattern_words"], key=len, reverse=True)
    for name in r["fields"]:
        text = ctx.text(name)
        for i in _find_all(text, "强化"):
            end = i + 2
            if text.startswith(tuple(r["noun_followers"]), end):
                continue
            if any(a < end and i < b for a, b in vague.get(name, ())):
                continue  # reported as a vague phrase
            pos = i
            while True:
                w = _ends_with_any(text[:pos], patterns)
                if w is None:
                    break
                pos -= len(w)
            before = text[:pos]
            bad = _ends_with_any(before, r["non_scale_degrees"])
            if bad is not None:
                a = pos - len(bad)
                ctx.add("enhancement_grade", f"{text[a:end]!r} uses a degree not on the 4-grade scale "
                        f"(无强化、轻度强化、中度强化、明显强化)", _span(name, text, a, end))
            elif (_ends_with_any(before, r["scale_degrees"]) is None
                  and _ends_with_any(before, r["negations"]) is None):
                ctx.add("enhancement_grade", f"{text[pos:end]!r} gives no degree: use 无强化, 轻度强化, 中度强化 or "
                        f"明显强化", _span(name, text, pos, end), severity_key="ungraded_severity")


def _lateral_mentions(text: str, terms: Sequence[str]) -> list[tuple[str, str, int, int]]:
    by_len = sorted(terms, key=len, reverse=True)
    out = []
    for k, ch in enumerate(text):
        if ch not in "左右双":
            continue
        best = None
        for j in ((k + 2, k + 1) if text[k + 1:k + 2] == "侧" else (k + 1,)):
            for t in by_len:
                if text.startswith(t, j):
                    if best is None or len(t) > len(best[0]):
                        best = (t, j)
                    break
        if best is not None:
            out.append((ch, best[0], k, best[1] + len(best[0])))
    return out


def _same_family(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


def _check_laterality(ctx: _Ctx) -> None:
    terms = ctx.rules.rule("laterality_mismatch")["terms"]
    desc, concl = ctx.text("description"), ctx.text("conclusion")
    dm = _lateral_mentions(desc, terms)
    for side, term, a, b in _lateral_mentions(concl, terms):
        if side == "双":
            continue
        same = [m for m in dm if _same_family(m[1], term)]
        if not same or any(m[0] in (side, "双") for m in same):
            continue
        first = same[0]
        ctx.add("laterality_mismatch", f"conclusion says {concl[a:b]!r} but the description gives only "
                f"{desc[first[2]:first[3]]!r} for {term}; left and right disagree", _span("conclusion", concl, a, b))


def _check_sex_organs(ctx: _Ctx) -> None:
    r = ctx.rules.rule("sex_specific_organ")
    sex = ctx.sex()
    if sex is None:
        return  # unknown or anonymised sex: nothing to compare
    wrong = r["female_only"] if sex == "male" else r["male_only"]
    label = "男" if sex == "male" else "女"
    for name in r["fields"]:
        text = ctx.text(name)
        taken: list[tuple[int, int]] = []
        for organ in sorted(wrong, key=len, reverse=True):
            for i in _find_all(text, organ):
                if any(a < i + len(organ) and i < b for a, b in taken):
                    continue
                taken.append((i, i + len(organ)))
                ctx.add("sex_specific_organ", f"{organ!r} is described for a patient of sex {label}",
                        _span(name, text, i, i + len(organ)))


def _check_removed_organs(ctx: _Ctx) -> None:
    r = ctx.rules.rule("removed_organ_described")
    removed: dict[str, str] = {}
    for hf in r["history_fields"]:
        htext = ctx.text(hf)
        for organ in r["organs"]:
            for m in re.finditer(re.escape(organ) + r["removal_pattern"], htext):
                if not any(w in m.group(0)[len(organ):] for w in r["partial_words"]):
                    removed.setdefault(organ, m.group(0))
    if not removed:
        return
    desc = ctx.text("description")
    clauses = _segments(desc, "，。；,;\n")
    flagged: set[int] = set()
    for organ in sorted(removed, key=len, reverse=True):
        for i in _find_all(desc, organ):
            clause = next((c for c in clauses if c.start <= i < c.end), None)
            if clause is None or clause.start in flagged:
                continue
            if any(w in clause.text for w in r["ok_words"]):
                continue
            flagged.add(clause.start)
            ctx.add("removed_organ_described", f"{organ!r} is described as present, but the history says "
                    f"{removed[organ]!r}; write 缺如 or 术后改变", _span("description", desc, i, i + len(organ)))


# ---- description/conclusion alignment (finding_without_diagnosis, conclusion_order)


def _conclusion_items(text: str) -> list[_Seg]:
    enum = re.compile(r"^\s*(?:\d{1,2}\s*(?:[、)）]|[.．](?!\d))|[（(]\d{1,2}[)）]|[①-⑳])\s*")
    out = []
    for seg in _segments(text, "\n；;。"):
        m = enum.match(seg.text)
        cut = m.end() if m else 0
        body = seg.text[cut:]
        stripped = body.rstrip("，,、 \t")
        if stripped:
            out.append(_Seg(seg.start + cut, seg.start + cut + len(stripped), stripped))
    return out


def _key_term(item: str, target: str, stop: frozenset, min_chars: int) -> tuple[str, int] | None:
    """Longest substring of ``item`` (no punctuation, not a stop term) found in ``target``: (term, position)."""
    best: tuple[str, int] | None = None
    n = len(item)
    for length in range(n, min_chars - 1, -1):
        for s in range(0, n - length + 1):
            sub = item[s:s + length]
            if sub in stop or any(c in _PUNCT for c in sub):
                continue
            pos = target.find(sub)
            if pos >= 0 and (best is None or pos < best[1]):
                best = (sub, pos)
        if best is not None:
            return best
    return None


def _alignment(ctx: _Ctx):
    """Description sentences, positive ones, conclusion items, normal flags and key-term helper."""
    fw = ctx.rules.rule("finding_without_diagnosis")
    mt = ctx.rules.section("matching")
    stop = frozenset(mt.get("stop_terms", ()))
    min_chars = int(mt.get("min_term_chars", 2))
    desc, concl = ctx.text("description"), ctx.text("conclusion")
    sentences = _segments(desc, "。\n")
    positive = []
    for k, s in enumerate(sentences):
        for c in _segments(s.text, "，,；;"):
            if (any(t in c.text for t in fw["abnormal_terms"])
                    and not any(t in c.text for t in (*fw["negation_terms"], *fw["comparison_terms"]))):
                positive.append(k)
                break
    items = _conclusion_items(concl)
    normal = [any(t in it.text for t in fw["normal_terms"]) for it in items]

    def key(item: _Seg, target: str):
        return _key_term(item.text, target, stop, min_chars)

    return desc, concl, sentences, positive, items, normal, key


def _check_findings_diagnosed(ctx: _Ctx, al) -> None:
    desc, _, sentences, positive, items, normal, key = al
    if not positive:
        return
    cand = {k: [j for j, it in enumerate(items) if not normal[j] and key(it, sentences[k].text) is not None]
            for k in positive}
    match_item: dict[int, int] = {}  # item -> sentence

    def augment(k: int, seen: set) -> bool:
        for j in cand[k]:
            if j in seen:
                continue
            seen.add(j)
            if j not in match_item or augment(match_item[j], seen):
                match_item[j] = k
                return True
        return False

    for k in positive:
        augment(k, set())
    covered = set(match_item.values())
    for j, it in enumerate(items):  # an item matching no sentence by words accounts for one left, in order
        if normal[j] or j in match_item:
            continue
        left = [k for k in positive if k not in covered]
        if not left:
            break
        lo = max((k for i, k in match_item.items() if i < j), default=-1)
        hi = min((k for i, k in match_item.items() if i > j), default=len(sentences))
        inside = [k for k in left if lo < k < hi]
        k = (inside or left)[0]
        match_item[j] = k
        covered.add(k)
    for k in positive:
        if k not in covered:
            s = sentences[k]
            ctx.add("finding_without_diagnosis", f"the description's finding {s.text[:40]!r} has no diagnosis in "
                    f"the conclusion", _span("description", desc, s.start, s.end))


def _check_conclusion_order(ctx: _Ctx, al) -> None:
    desc, concl, sentences, _, items, normal, key = al
    prev: tuple[int, _Seg] | None = None
    for j, it in enumerate(items):
        if normal[j]:
            continue
        kt = key(it, desc)
        if kt is None:
            continue
        sent = next(k for k, s in enumerate(sentences) if s.start <= kt[1] < s.end)
        if prev is not None and sent < prev[0]:
            ctx.add("conclusion_order", f"conclusion item {it.text!r} (its term {kt[0]!r} is in description sentence "
                    f"{sent + 1}) comes after {prev[1].text!r} (sentence {prev[0] + 1}); order the conclusion as the "
                    f"description", _span("conclusion", concl, it.start, it.end))
        elif prev is None or sent > prev[0]:
            prev = (sent, it)


def _check_differentials(ctx: _Ctx) -> None:
    r = ctx.rules.rule("too_many_differentials")
    concl = ctx.text("conclusion")
    limit = int(r["max_possibilities"])
    for it in _conclusion_items(concl):
        for cl in _segments(it.text, "，,", base=it.start):
            if not any(m in cl.text for m in r["markers"]):
                continue
            a, b = cl.start, cl.end
            lead = next((lm for lm in sorted(r["lead_markers"], key=len, reverse=True) if lm in cl.text), None)
            if lead is not None:
                a = cl.start + cl.text.find(lead) + len(lead)
            while True:
                t = _ends_with_any(concl[a:b], r["trailing_markers"])
                if t is None or b - len(t) <= a:
                    break
                b -= len(t)
            phrase = concl[a:b]
            parts = [p for p in re.split(r["separators"], phrase) if p.strip()]
            if len(parts) > limit:
                ctx.add("too_many_differentials", f"{len(parts)} possibilities for one lesion ({phrase!r}); give at "
                        f"most {limit}, in order of likelihood", _span("conclusion", concl, a, b))


def _prior_dated(ctx: _Ctx, date_re: str) -> bool:
    priors = ctx.report.data.get("prior_exams")
    if not priors:
        return False
    for p in priors if isinstance(priors, (list, tuple)) else [priors]:
        text = str(p.get("date", "")) if isinstance(p, Mapping) else str(p)
        if re.search(date_re, text):
            return True
    return False


def _check_prior_dates(ctx: _Ctx) -> None:
    r = ctx.rules.rule("prior_without_date")
    date_re = ctx.rules.section("formats")["prior_date_pattern"]
    dated = _prior_dated(ctx, date_re)
    for name in r["fields"]:
        text = ctx.text(name)
        sentences = _segments(text, "。；;\n")
        hits = []
        for p in r["comparison_patterns"]:
            hits += [(m.start(), m.end(), True) for m in re.finditer(p, text)]
        for p in r["reference_patterns"]:
            hits += [(m.start(), m.end(), False) for m in re.finditer(p, text)]
        flagged: set[int] = set()
        for a, b, explicit in sorted(hits):
            s = next((s for s in sentences if s.start <= a < s.end), None)
            if s is None:
                continue
            if re.search(date_re, s.text):
                dated = True
                continue
            if s.start in flagged or (not explicit and dated):
                continue
            if explicit and any(h[2] and h[0] != a and s.start <= h[0] < s.end and h[0] < a for h in hits):
                continue
            flagged.add(s.start)
            ctx.add("prior_without_date", f"comparison with a prior exam {text[a:b]!r} gives no date of that exam; "
                    f"write it (e.g. 与2024年03月01日MRI比较)", _span(name, text, a, b))


def _check_measurements(ctx: _Ctx) -> None:
    r = ctx.rules.rule("unit_consistency")
    units = r["units"]
    unit_re = "|".join(re.escape(u) for u in sorted(units, key=len, reverse=True))
    num = r"(?<![A-Za-z0-9.])\d+(?:\.\d+)?"
    group_re = re.compile(rf"{num}\s*(?:(?:{unit_re})(?![A-Za-z]))?(?:\s*[×xX*＊]\s*\d+(?:\.\d+)?\s*"
                          rf"(?:(?:{unit_re})(?![A-Za-z]))?)*")
    one_re = re.compile(rf"(\d+(?:\.\d+)?)\s*((?:{unit_re})(?![A-Za-z]))?")
    groups = []  # (field, text, start, end, unit, [(start, end, decimals)])
    for name in r["fields"]:
        text = ctx.text(name)
        for g in group_re.finditer(text):
            nums = [(g.start() + m.start(1), g.start() + m.end(1), m.group(1), m.group(2))
                    for m in one_re.finditer(g.group(0))]
            if not any(u for *_, u in nums):
                continue
            # a number without its own unit takes the next unit written after it in the group
            resolved, nxt = [], None
            for s, e, v, u in reversed(nums):
                nxt = units[u] if u else nxt
                resolved.append((s, e, v, nxt))
            resolved.reverse()
            resolved = [x for x in resolved if x[3] is not None]
            groups.append((name, text, g.start(), g.end(), resolved))
    if not groups:
        return
    all_units = [u for *_, res in groups for (_, _, _, u) in res]
    counts = Counter(all_units)
    if len(counts) > 1:
        major = max(counts, key=lambda u: (counts[u], -all_units.index(u)))
        for name, text, a, b, res in groups:
            if any(u != major for *_, u in res):
                ctx.add("unit_consistency", f"measurement {text[a:b]!r} is in "
                        f"{'/'.join(sorted({u for *_, u in res}))} while most are in {major}; use one unit",
                        _span(name, text, a, b))
    if not ctx.rules.enabled("decimal_consistency"):
        return
    per_unit: dict[str, list] = {}
    for name, text, _, _, res in groups:
        for s, e, v, u in res:
            per_unit.setdefault(u, []).append((name, text, s, e, len(v.split(".")[1]) if "." in v else 0))
    for u, vals in per_unit.items():
        decs = [d for *_, d in vals]
        c = Counter(decs)
        mode = max(c, key=lambda d: (c[d], -decs.index(d)))
        for name, text, s, e, d in vals:
            if d != mode:
                ctx.add("decimal_consistency", f"{text[s:e]}{u} has {d} decimal place(s) while the other {u} "
                        f"measurements have {mode}; keep the decimals uniform", _span(name, text, s, e))


def _element_key(key: Any) -> int | None:
    m = re.fullmatch(r"(?:petct_report_elements\.)?(?:item\.)?(\d+)", str(key).strip())
    return int(m.group(1)) if m else None


def _truthy(v: Any) -> bool:
    if isinstance(v, str):
        return bool(v.strip())
    return bool(v)


def _check_petct(ctx: _Ctx) -> None:
    r = ctx.rules.rule("petct_element_missing")
    probe = " ".join(ctx.text(n) for n in ("modality", "exam_name"))
    if not re.search(r["applies_pattern"], probe):
        return
    given: dict[int, Any] = {}
    for k, v in (ctx.report.data.get("elements") or {}).items():
        n = _element_key(k)
        if n is None or not 1 <= n <= PETCT_ELEMENTS + 1:
            raise InputError(f"elements: key {k!r} is not a PET/CT element number 1-22 (or "
                             f"petct_report_elements.item.<n>)", path=ctx.report.path)
        given[n] = v
    form = load_forms()["petct_report_elements"]
    spec = ctx.rules.section("petct").get("elements", {})
    if ctx.rules.enabled("petct_element_missing"):
        for n in range(1, PETCT_ELEMENTS + 1):
            e = spec.get(str(n), {})
            if n in given:
                present = _truthy(given[n])
            elif e.get("conditional"):
                present = True
            else:
                present = any(ctx.text(f).strip() for f in e.get("nonempty", ())) or any(
                    re.search(p, ctx.text(f)) for f in e.get("fields", ()) for p in e.get("patterns", ()))
            if not present:
                code = r["form_item"].replace("{n}", str(n))
                item = form.item(code)
                how = "marked absent in 'elements'" if n in given else "not found in the report text"
                ctx.add("petct_element_missing", f"PET/CT report element {n} ({item.section}: {item.text}) is "
                        f"missing ({how})", None, form_item=code)
    g = ctx.rules.rule("petct_glucose_missing")
    if not ctx.rules.enabled("petct_glucose_missing"):
        return
    tracer = ctx.text("radiopharmaceutical")
    if not tracer.strip():
        m = re.search(g["tracer_pattern"], " ".join(ctx.text(n) for n in ("technique", "exam_name")))
        tracer = m.group(0) if m else ""
    if tracer.strip() and not re.search(g["fdg_pattern"], tracer):
        return  # not 18F-FDG: no glucose element
    glucose = ctx.report.data.get("blood_glucose_mmol_per_l")
    if glucose is not None and (isinstance(glucose, bool) or not isinstance(glucose, (int, float))
                                or not glucose > 0):
        raise InputError(f"blood_glucose_mmol_per_l: expected a positive number in mmol/L, got {glucose!r}",
                         path=ctx.report.path)
    present = (glucose is not None or _truthy(given.get(PETCT_ELEMENTS + 1))
               or any(re.search(g["glucose_pattern"], ctx.text(f)) for f in ctx.report.fields))
    if not present:
        which = tracer.strip() or "no tracer named, read as 18F-FDG"
        ctx.add("petct_glucose_missing", f"18F-FDG PET/CT report ({which}) gives no blood glucose (血糖浓度, "
                f"mmol/L)", None)


def _normalized_with_map(text: str, pairs: Sequence[tuple[str, str]]) -> tuple[str, list[int], list[int]]:
    """The CMR normalisation of ``text`` and, for each normalised character, its original [start, end)."""
    chars, starts, ends = [], [], []
    for i, c in enumerate(text):
        if not c.isspace():
            chars.append(c)
            starts.append(i)
            ends.append(i + 1)
    s = "".join(chars)
    for old, new in pairs:
        if not old or old not in s:
            continue
        ns, nst, nen, i = [], [], [], 0
        while i < len(s):
            if s.startswith(old, i):
                a, b = starts[i], ends[i + len(old) - 1]
                for c in new:
                    ns.append(c)
                    nst.append(a)
                    nen.append(b)
                i += len(old)
            else:
                ns.append(s[i])
                nst.append(starts[i])
                nen.append(ends[i])
                i += 1
        s, starts, ends = "".join(ns), nst, nen
    return s, starts, ends


def _check_cmr(ctx: _Ctx) -> None:
    meas = ctx.report.data.get("measurements")
    if not meas:
        return
    cmr_rules = load_cmr_rules()
    values = dict(meas)
    if "sex" not in values and ctx.sex() is not None and "sex" in cmr_rules.fields:
        values["sex"] = ctx.sex()
    r = ctx.rules.rule("cmr_grade_contradiction")
    for name in r["fields"]:
        text = ctx.text(name)
        if not text.strip():
            continue
        try:
            result = check_cmr_statement(text, values, rules=cmr_rules)
        except InputError as exc:
            raise InputError(f"measurements: {exc.cause}", path=ctx.report.path) from None
        norm, starts, ends = _normalized_with_map(text, cmr_rules.normalization)
        cursor = 0
        for f in result.findings:
            pos = norm.find(f.phrase, cursor)
            if pos < 0:
                pos = norm.find(f.phrase)
            span = _span(name, text, starts[pos], ends[pos + len(f.phrase) - 1]) if pos >= 0 else None
            cursor = pos + 1 if pos >= 0 else cursor
            if f.consistent is False:
                ctx.add("cmr_grade_contradiction", f"{f.message}", span)
            elif f.consistent is None:
                ctx.add("cmr_grade_contradiction", f.message, span, severity_key="unverifiable_severity")


# ------------------------------------------------------------------------------------------------ public API


def _coerce(report: Report | Mapping[str, Any] | str, rules: CheckRules) -> Report:
    if isinstance(report, Report):
        return report
    if isinstance(report, Path):
        return read_report(report, rules=rules)
    return parse_report(report, rules=rules)


def check_report(report: Report | Mapping[str, Any] | str | Path, *,
                 rules: CheckRules | str | Path | None = None) -> dict:
    """Run every enabled check on one report.

    Parameters
    ----------
    report : Report, mapping, str or Path
        A parsed :class:`Report`, a mapping of template keys, report text (JSON or plain text; see
        :func:`~phantomqc.rubric.report_text.parse_report`) or a ``Path`` to a report file.
    rules : CheckRules, str or Path, optional
        The rules; a path is read with :func:`load_check_rules`. Default the packaged rules.

    Returns
    -------
    dict
        ``{"schema": "phantomqc.rubric_check/1", "report_id", "path", "passed", "findings", "counts",
        "rules_sources"}``. ``passed`` is true when no finding has severity ``error``. Each finding is
        ``{"rule", "severity", "message", "span", "form_item"}``; ``span`` is ``{"field", "start", "end", "text"}``
        with ``text == report.fields[field][start:end]``, or None for something missing. ``counts`` is
        ``{"error", "warning", "info", "by_rule": {rule: n}}``.

    Raises
    ------
    InputError
        The report does not parse, or its ``measurements``, ``elements`` or ``blood_glucose_mmol_per_l`` are
        invalid (the message names the key and the file).

    Notes
    -----
    The rules (seed 002 sections 报告书写要求 to 诊断结论, seed 000 NM-07, seed 004 section 4) are in the module
    and TOML docs. Text heuristics and their limits:

    - *finding_without_diagnosis*: description sentences (split at 。 and line breaks) with an abnormal term in a
      clause free of negation are findings; conclusion items (lines, ；, 。, numbered) that are not normal
      statements are diagnoses. A finding and a diagnosis match when they share a key term (a substring of >= 2
      characters, not a stop term); a maximum matching pairs them, then each unmatched diagnosis accounts for one
      unmatched finding between its neighbours' findings. Findings left over are flagged. It cannot tell whether a
      diagnosis that shares no word (附录 C: "老年性脑改变" for "脑室系统扩张，脑沟裂增宽") really covers the
      finding it is paired with.
    - *conclusion_order*: each item's key term (longest shared substring; earliest on ties) gives the description
      sentence it refers to; the sentence numbers must not decrease. Items without a key term are skipped.
    - *laterality_mismatch*: a side word (左/右 [+ 侧]) followed by a listed anatomical term; only terms written
      after the side word (右侧顶部, 左肾) are seen, not 肝右叶.

    Examples
    --------
    >>> r = check_report({"sex": "男", "description": "盆腔内见子宫，形态如常。", "conclusion": "未见异常。"})
    >>> [f["span"]["text"] for f in r["findings"] if f["rule"] == "sex_specific_organ"]
    ['子宫']
    """
    if rules is None:
        rules = load_check_rules()
    elif not isinstance(rules, CheckRules):
        rules = load_check_rules(rules)
    rep = _coerce(report, rules)
    ctx = _Ctx(rep, rules)
    vague = _vague_spans(ctx)
    al = _alignment(ctx)
    steps: list[tuple[str, Callable[[], None]]] = [
        ("required_field", lambda: _check_required(ctx)),
        ("date_format", lambda: _check_datetime(ctx)),
        ("mri_sequence_format", lambda: _check_mri_sequences(ctx)),
        ("density_signal_grade", lambda: _check_density(ctx)),
        ("enhancement_grade", lambda: _check_enhancement(ctx, vague)),
        ("vague_phrase", lambda: _check_vague(ctx, vague)),
        ("laterality_mismatch", lambda: _check_laterality(ctx)),
        ("sex_specific_organ", lambda: _check_sex_organs(ctx)),
        ("removed_organ_described", lambda: _check_removed_organs(ctx)),
        ("finding_without_diagnosis", lambda: _check_findings_diagnosed(ctx, al)),
        ("conclusion_order", lambda: _check_conclusion_order(ctx, al)),
        ("too_many_differentials", lambda: _check_differentials(ctx)),
        ("prior_without_date", lambda: _check_prior_dates(ctx)),
        ("unit_consistency", lambda: _check_measurements(ctx)),
        ("petct_element_missing", lambda: _check_petct(ctx)),
        ("cmr_grade_contradiction", lambda: _check_cmr(ctx)),
    ]
    for rule_id, step in steps:
        if rule_id == "date_format" and not (rules.enabled("date_format") or rules.enabled("time_to_minute")):
            continue
        if rule_id == "unit_consistency" and not (rules.enabled("unit_consistency")
                                                  or rules.enabled("decimal_consistency")):
            continue
        if rule_id == "petct_element_missing" and not (rules.enabled("petct_element_missing")
                                                       or rules.enabled("petct_glucose_missing")):
            continue
        if rule_id not in ("date_format", "unit_consistency", "petct_element_missing") and not rules.enabled(rule_id):
            continue
        step()
    findings = [f for f in ctx.findings if rules.enabled(f["rule"])]
    by_rule = Counter(f["rule"] for f in findings)
    sev = Counter(f["severity"] for f in findings)
    return {
        "schema": SCHEMA,
        "report_id": rep.report_id,
        "path": rep.path,
        "passed": sev["error"] == 0,
        "findings": findings,
        "counts": {"error": sev["error"], "warning": sev["warning"], "info": sev["info"],
                   "by_rule": dict(sorted(by_rule.items()))},
        "rules_sources": list(rules.sources),
    }


def check_reports(paths: Iterable[str | Path], *, rules: CheckRules | str | Path | None = None) -> dict:
    """Check many report files; a bad file gets an error entry and the others are still checked.

    Parameters
    ----------
    paths : iterable of str or Path
        Report files (UTF-8, JSON or plain text).
    rules : CheckRules, str or Path, optional
        As for :func:`check_report`.

    Returns
    -------
    dict
        ``{"schema": "phantomqc.rubric_check_batch/1", "results": [...], "counts": {"files", "checked",
        "passed", "failed", "errors"}}``, one entry of ``results`` per file in input order: either
        ``{"path", "result": <check_report result>}`` or ``{"path", "error": {"type", "message", "path"}}`` for a
        file that could not be read or checked (not UTF-8, bad JSON, empty, invalid measurements ...).

    Raises
    ------
    ProfileError
        The rules file is invalid (that stops the batch: no report could be checked).

    Examples
    --------
    >>> check_reports([])["counts"]
    {'files': 0, 'checked': 0, 'passed': 0, 'failed': 0, 'errors': 0}
    """
    if rules is None:
        rules = load_check_rules()
    elif not isinstance(rules, CheckRules):
        rules = load_check_rules(rules)
    entries: list[dict] = []
    for p in paths:
        try:
            entries.append({"path": str(p), "result": check_report(read_report(p, rules=rules), rules=rules)})
        except PhantomQCError as exc:
            err = exc.to_dict()
            err["path"] = err["path"] or str(p)
            entries.append({"path": str(p), "error": err})
        except Exception as exc:  # noqa: BLE001 - batch boundary: one bad file never stops the batch
            entries.append({"path": str(p), "error": {"type": type(exc).__name__, "message": f"{p}: {exc}",
                                                      "path": str(p)}})
    checked = [e["result"] for e in entries if "result" in e]
    return {
        "schema": BATCH_SCHEMA,
        "results": entries,
        "counts": {"files": len(entries), "checked": len(checked), "passed": sum(r["passed"] for r in checked),
                   "failed": sum(not r["passed"] for r in checked), "errors": len(entries) - len(checked)},
    }
