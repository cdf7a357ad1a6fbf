"""Parse a radiology report of the seed 002 template (附录 A, 表 A.1) into fields, keeping character offsets.

A report is either JSON (an object whose keys are the template's field names, in Chinese or their English aliases,
plus optional data keys such as ``measurements`` or ``elements``) or plain text with the template's headings
(``检查号``, ``影像描述：``, ``诊断结论：`` ...). The headings and keys are data, in ``rules/report_checks.toml``
(``[fields.*]`` and ``[data_keys]``), so a department can add its own spellings.

Every field keeps its text exactly as written; checks report spans as offsets into that text, and
:attr:`Report.field_offsets` gives where each field starts in the plain-text source.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

from phantomqc._shared.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from phantomqc.rubric.checks import CheckRules

__all__ = ["Report", "parse_report", "read_report"]


@dataclass(frozen=True)
class Report:
    """One parsed report.

    Attributes
    ----------
    fields : mapping of str to str
        Canonical field name (``exam_no``, ``description``, ``conclusion`` ...) to the field's text exactly as
        written (headings and the heading's colon excluded, surrounding whitespace kept out). Spans of findings
        are offsets into these strings. Fields absent from the report are absent here.
    field_offsets : mapping of str to int
        For a plain-text report, where each field's text starts in :attr:`source_text`; empty for JSON.
    data : mapping of str to object
        The non-text JSON data: ``report_id``, ``prior_exams``, ``blood_glucose_mmol_per_l``, ``measurements``,
        ``elements`` (only those given).
    source_format : str
        ``"json"`` or ``"text"``.
    source_text : str or None
        The plain-text source (None for a JSON or mapping input).
    path : str or None
        The file the report came from, when known.
    unknown_keys : tuple of str
        JSON keys that are neither a field nor a data key (kept out of the checks).
    """

    fields: Mapping[str, str]
    field_offsets: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    source_format: str = "json"
    source_text: str | None = None
    path: str | None = None
    unknown_keys: tuple[str, ...] = ()

    def text(self, name: str) -> str:
        """The text of field ``name``; ``""`` when the report does not have it."""
        return self.fields.get(name, "")

    @property
    def report_id(self) -> str | None:
        """``report_id`` from the data, else the 检查号, else the file name without extension."""
        rid = self.data.get("report_id")
        if rid not in (None, ""):
            return str(rid)
        exam_no = self.fields.get("exam_no", "").strip()
        if exam_no:
            return exam_no
        return Path(self.path).stem if self.path else None


def _default_rules() -> CheckRules:
    from phantomqc.rubric.checks import load_check_rules  # the rules module imports this one

    return load_check_rules()


def _field_text(value: Any, key: str, path: str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InputError(f"key {key!r}: expected text, got {value!r}", path=path)
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    raise InputError(f"key {key!r}: expected text (a string, a number or a list of strings), got "
                     f"{type(value).__name__}", path=path)


def _from_mapping(obj: Mapping[str, Any], rules: CheckRules, path: str | None) -> Report:
    key_to_field = rules.field_keys
    key_to_data = rules.data_keys
    fields: dict[str, str] = {}
    data: dict[str, Any] = {}
    unknown = []
    for key, value in obj.items():
        if not isinstance(key, str):
            unknown.append(str(key))
            continue
        if key in key_to_field:
            name = key_to_field[key]
            if name in fields:
                raise InputError(f"field {name!r} is given twice (key {key!r}); keep one", path=path)
            text = _field_text(value, key, path)
            if text is not None:
                fields[name] = text
        elif key in key_to_data:
            if value is not None:
                data[key_to_data[key]] = value
        else:
            unknown.append(key)
    for name in ("measurements", "elements"):
        if name in data and not isinstance(data[name], Mapping):
            raise InputError(f"key {name!r}: expected an object (mapping), got {type(data[name]).__name__}",
                             path=path)
    return Report(MappingProxyType(fields), MappingProxyType({}), MappingProxyType(data), "json", None, path,
                  tuple(unknown))


def _from_text(text: str, rules: CheckRules, path: str | None) -> Report:
    headings = rules.field_headings  # heading word -> field name
    alternation = "|".join(re.escape(h) for h in sorted(headings, key=len, reverse=True))
    pattern = re.compile(rf"(?:^|(?<=\s))({alternation})[ \t\u3000]*[：:]?", re.M)
    starts: list[tuple[int, int, str]] = []  # (heading start, value start, field)
    seen = set()
    for m in pattern.finditer(text):
        name = headings[m.group(1)]
        if name in seen:  # a repeated heading word is read as text of the field before it
            continue
        seen.add(name)
        starts.append((m.start(), m.end(), name))
    if not starts:
        raise InputError("no heading of the report template (附录 A: 检查号, 影像描述：, 诊断结论： ...) found; "
                         "give the report as JSON or with the template's headings", path=path)
    fields: dict[str, str] = {}
    offsets: dict[str, int] = {}
    for k, (_, v0, name) in enumerate(starts):
        v1 = starts[k + 1][0] if k + 1 < len(starts) else len(text)
        raw = text[v0:v1]
        lead = len(raw) - len(raw.lstrip())
        value = raw.strip()
        fields[name] = value
        offsets[name] = v0 + lead
    return Report(MappingProxyType(fields), MappingProxyType(offsets), MappingProxyType({}), "text", text, path, ())


def parse_report(source: str | Mapping[str, Any], *, path: str | Path | None = None,
                 rules: CheckRules | None = None) -> Report:
    """Parse a report given as JSON text, plain text or a mapping.

    Parameters
    ----------
    source : str or mapping
        A mapping of template keys, or text: JSON when it starts with ``{`` or ``[`` or ``path`` ends in
        ``.json``, else plain text with the template's headings.
    path : str or Path, optional
        The file the source came from, named in errors and in the result.
    rules : CheckRules, optional
        Where the headings and keys come from; default the packaged ``rules/report_checks.toml``.

    Returns
    -------
    Report
        Fields with their exact text, plain-text offsets, and the JSON data keys.

    Raises
    ------
    InputError
        Empty text, invalid JSON, JSON that is not an object, a field given twice, a text value of the wrong type,
        or plain text with no template heading. The message names the file.

    Notes
    -----
    Plain text: a heading counts at the start of a line or after whitespace, optionally followed by ``：``; its
    field's text runs to the next heading and is stripped of surrounding whitespace. The first occurrence of a
    heading wins; a later repeat is text of the field before it. Text before the first heading (the title line
    ``XX医院放射影像检查报告``) is ignored. A JSON list of strings is joined with line breaks.

    Examples
    --------
    >>> r = parse_report("检查号 123  性别 男\\n影像描述：肝脏形态如常。\\n诊断结论：肝脏未见异常。")
    >>> r.fields["description"], r.fields["sex"]
    ('肝脏形态如常。', '男')
    >>> parse_report({"exam_no": "A1", "诊断结论": "未见异常"}).fields["conclusion"]
    '未见异常'
    """
    rules = rules if rules is not None else _default_rules()
    spath = None if path is None else str(path)
    if isinstance(source, Mapping):
        return _from_mapping(source, rules, spath)
    if not isinstance(source, str):
        raise InputError(f"a report must be text or a mapping, got {type(source).__name__}", path=spath)
    if not source.strip():
        raise InputError("the report is empty", path=spath)
    if source.lstrip().startswith(("{", "[")) or (spath is not None and spath.lower().endswith(".json")):
        try:
            obj = json.loads(source)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc}", path=spath) from None
        if not isinstance(obj, dict):
            raise InputError(f"a JSON report must be an object, got {type(obj).__name__}", path=spath)
        return _from_mapping(obj, rules, spath)
    return _from_text(source, rules, spath)


def read_report(path: str | Path, *, rules: CheckRules | None = None) -> Report:
    """Read one report file (UTF-8, JSON or plain text) and parse it with :func:`parse_report`.

    Parameters
    ----------
    path : str or Path
        The report file.
    rules : CheckRules, optional
        As for :func:`parse_report`.

    Returns
    -------
    Report

    Raises
    ------
    InputError
        The file cannot be read, is not UTF-8, is empty, or does not parse.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the report: {exc.strerror or exc}", path=p) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r}); save the report "
                         f"as UTF-8", path=p) from None
    if not text.strip():
        raise InputError("the report file is empty", path=p)
    return parse_report(text, path=p, rules=rules)
