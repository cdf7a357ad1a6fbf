"""The clinical QC forms of the seed standards, loaded from ``rubric/forms/*.toml`` and validated.

Each form file holds its items in the seed's own order and wording, and its scoring rule as data
(``[scoring]``). Item codes are ``<form>.severe.<n>`` (defects that alone give the lowest score) and
``<form>.item.<n>`` (criteria, or point-carrying lines of a score sheet), numbered as in the seed.

Scoring rule kinds
------------------
``any_item_fails``
    Pass/fail form: any listed item makes it 不合格 (seed 001 application form).
``severe_then_count``
    Any severe item gives ``severe_score``; otherwise ``score_by_satisfied[k]`` for ``k`` items satisfied.
``severe_then_deduct``
    Any severe item gives ``severe_score``; otherwise ``full_score - deduct_per_unmet * unmet``, not below
    ``floor_score``.
``points``
    Score sheet: ``total_points`` minus the deductions; 不合格 below ``pass_min_score``.
``checklist``
    Element checklist: the score is the number of applicable elements present; complete when none is missing.
"""

from __future__ import annotations

import functools
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from phantomqc._shared.errors import ProfileError

__all__ = ["FormItem", "ScoringRule", "Form", "RULE_KINDS", "FORMS_DIR", "load_form", "load_forms", "get_form",
           "ITEM_CODE_PATTERN"]

FORMS_DIR = Path(__file__).with_name("forms")
RULE_KINDS = ("any_item_fails", "severe_then_count", "severe_then_deduct", "points", "checklist")
ITEM_CODE_PATTERN = re.compile(r"^(?P<form>[a-z][a-z0-9_]*)\.(?P<kind>severe|item)\.(?P<number>[1-9][0-9]*)$")

_ITEM_KEYS = {"code", "text", "name", "clause", "section", "section_points", "section_count", "seed_section_heading",
              "evidence", "method", "points", "applies_to_tracer"}
_FORM_KEYS = {"id", "title", "seed", "source", "category", "notes", "scoring", "items"}
_RULE_KEYS = {"kind", "seed_rule", "choice", "severe_score", "score_by_satisfied", "full_score", "deduct_per_unmet",
              "floor_score", "pass_min_score", "excellent_score", "total_points"}


@dataclass(frozen=True)
class FormItem:
    """One line of a form, with the seed's wording.

    ``kind`` is ``"severe"`` or ``"item"``; ``number`` is its number within that kind. ``points`` is set on
    score sheets only; ``applies_to_tracer`` restricts a checklist element to one radiopharmaceutical.
    """

    code: str
    kind: str
    number: int
    text: str
    name: str = ""
    clause: str = ""
    section: str = ""
    section_points: int | None = None
    evidence: str = ""
    method: str = ""
    points: int | None = None
    applies_to_tracer: str = ""


@dataclass(frozen=True)
class ScoringRule:
    """A form's scoring rule as data (see the module docstring for the kinds)."""

    kind: str
    seed_rule: str
    choice: str = ""
    severe_score: int | None = None
    score_by_satisfied: tuple[int, ...] = ()
    full_score: int | None = None
    deduct_per_unmet: int | None = None
    floor_score: int | None = None
    pass_min_score: int | None = None
    excellent_score: int | None = None
    total_points: int | None = None


@dataclass(frozen=True)
class Form:
    """One QC form: id, provenance, items in seed order and the scoring rule."""

    id: str
    title: str
    seed: str
    source: str
    category: str
    items: tuple[FormItem, ...]
    rule: ScoringRule
    notes: tuple[str, ...] = ()

    @property
    def severe_items(self) -> tuple[FormItem, ...]:
        return tuple(i for i in self.items if i.kind == "severe")

    @property
    def criteria_items(self) -> tuple[FormItem, ...]:
        return tuple(i for i in self.items if i.kind == "item")

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(i.code for i in self.items)

    def item(self, code: str) -> FormItem:
        """The item with this code; ``KeyError`` when the form has none."""
        for it in self.items:
            if it.code == code:
                return it
        raise KeyError(code)

    @property
    def min_score(self) -> int | None:
        """Lowest score the rule can give (``None`` for pass/fail forms)."""
        r = self.rule
        if r.kind == "severe_then_count":
            return min((r.severe_score,) + r.score_by_satisfied) if self.severe_items else min(r.score_by_satisfied)
        if r.kind == "severe_then_deduct":
            return r.floor_score
        if r.kind in ("points", "checklist"):
            return 0
        return None

    @property
    def max_score(self) -> int | None:
        """Highest score the rule can give (``None`` for pass/fail forms; all elements for a checklist)."""
        r = self.rule
        if r.kind == "severe_then_count":
            return max(r.score_by_satisfied)
        if r.kind == "severe_then_deduct":
            return r.full_score
        if r.kind == "points":
            return r.total_points
        if r.kind == "checklist":
            return len(self.items)
        return None


def _fail(msg: str, path: Path) -> ProfileError:
    return ProfileError(f"{msg}; fix the form file", path=path)


def _int_or_none(d: Mapping, key: str, path: Path, where: str) -> int | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool):
        raise _fail(f"{where}: '{key}' must be an integer, got {v!r}", path)
    return v


def _parse_rule(d: Mapping, path: Path, n_severe: int, n_items: int) -> ScoringRule:
    unknown = set(d) - _RULE_KEYS
    if unknown:
        raise _fail(f"[scoring] has unknown keys {sorted(unknown)}; expected some of {sorted(_RULE_KEYS)}", path)
    kind = d.get("kind")
    if kind not in RULE_KINDS:
        raise _fail(f"[scoring] kind is {kind!r}; expected one of {RULE_KINDS}", path)
    if not isinstance(d.get("seed_rule"), str) or not d["seed_rule"].strip():
        raise _fail("[scoring] needs 'seed_rule', the seed's rule text", path)
    ints = {k: _int_or_none(d, k, path, "[scoring]") for k in
            ("severe_score", "full_score", "deduct_per_unmet", "floor_score", "pass_min_score", "excellent_score",
             "total_points")}
    table = d.get("score_by_satisfied", [])
    if not isinstance(table, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in table):
        raise _fail(f"[scoring] score_by_satisfied must be a list of integers, got {table!r}", path)
    rule = ScoringRule(kind=kind, seed_rule=d["seed_rule"], choice=str(d.get("choice", "")),
                       score_by_satisfied=tuple(table), **ints)

    def need(*keys: str) -> None:
        missing = [k for k in keys if getattr(rule, k) in (None, ())]
        if missing:
            raise _fail(f"[scoring] kind '{kind}' needs {missing}", path)

    if kind == "severe_then_count":
        need("severe_score", "score_by_satisfied", "pass_min_score")
        if len(table) != n_items + 1:
            raise _fail(f"score_by_satisfied has {len(table)} entries; expected one per count 0..{n_items} "
                        f"({n_items + 1})", path)
        if any(b < a for a, b in zip(table, table[1:])):
            raise _fail(f"score_by_satisfied {table} must not decrease with more items satisfied", path)
        if n_severe == 0:
            raise _fail("kind 'severe_then_count' needs at least one severe item", path)
    elif kind == "severe_then_deduct":
        need("severe_score", "full_score", "deduct_per_unmet", "floor_score", "pass_min_score")
    elif kind == "points":
        need("total_points", "pass_min_score")
    elif kind in ("any_item_fails", "checklist") and n_severe:
        raise _fail(f"kind '{kind}' takes only item.<n> codes, found severe items", path)
    return rule


def _parse_item(d: Mapping, form_id: str, path: Path) -> FormItem:
    unknown = set(d) - _ITEM_KEYS
    if unknown:
        raise _fail(f"item {d.get('code')!r} has unknown keys {sorted(unknown)}", path)
    code = d.get("code")
    m = ITEM_CODE_PATTERN.match(code) if isinstance(code, str) else None
    if m is None:
        raise _fail(f"item code {code!r} does not match '<form>.severe.<n>' or '<form>.item.<n>'", path)
    if m["form"] != form_id:
        raise _fail(f"item code {code!r} does not start with the form id '{form_id}'", path)
    text = d.get("text")
    if not isinstance(text, str) or not text.strip():
        raise _fail(f"item {code!r} has no 'text'", path)
    return FormItem(code=code, kind=m["kind"], number=int(m["number"]), text=text, name=str(d.get("name", "")),
                    clause=str(d.get("clause", "")), section=str(d.get("section", "")),
                    section_points=_int_or_none(d, "section_points", path, code),
                    evidence=str(d.get("evidence", "")), method=str(d.get("method", "")),
                    points=_int_or_none(d, "points", path, code),
                    applies_to_tracer=str(d.get("applies_to_tracer", "")))


def load_form(path: str | Path) -> Form:
    """Load and validate one form file.

    Raises
    ------
    ProfileError
        The file is not valid TOML, or breaks the form contract: unknown keys, a code not matching
        ``<form>.(severe|item).<n>``, duplicate codes, numbering not 1..n in order, a rule missing its
        parameters, a score table of the wrong length, or score-sheet points not summing to ``total_points``.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"cannot read form file: {exc}", path=path) from exc
    unknown = set(data) - _FORM_KEYS
    if unknown:
        raise _fail(f"unknown top-level keys {sorted(unknown)}", path)
    for key in ("id", "title", "seed", "source"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise _fail(f"missing '{key}'", path)
    form_id = data["id"]
    if path.stem != form_id:
        raise _fail(f"form id '{form_id}' differs from the file name '{path.stem}'", path)
    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise _fail("no [[items]]", path)
    items = tuple(_parse_item(d, form_id, path) for d in raw_items)
    codes = [i.code for i in items]
    dupes = sorted({c for c in codes if codes.count(c) > 1})
    if dupes:
        raise _fail(f"duplicate item codes {dupes}", path)
    for kind in ("severe", "item"):
        numbers = [i.number for i in items if i.kind == kind]
        if numbers != list(range(1, len(numbers) + 1)):
            raise _fail(f"{kind} items are numbered {numbers}; expected 1..{len(numbers)} in seed order", path)
    n_severe = sum(i.kind == "severe" for i in items)
    rule = _parse_rule(data.get("scoring") or {}, path, n_severe, len(items) - n_severe)
    if rule.kind == "points":
        missing = [i.code for i in items if i.points is None or i.points <= 0]
        if missing:
            raise _fail(f"score-sheet items {missing} need positive 'points'", path)
        total = sum(i.points for i in items)
        if total != rule.total_points:
            raise _fail(f"item points sum to {total}; total_points is {rule.total_points}", path)
    notes = data.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise _fail("'notes' must be a list of strings", path)
    return Form(id=form_id, title=data["title"], seed=data["seed"], source=data["source"],
                category=str(data.get("category", "")), items=items, rule=rule, notes=tuple(notes))


@functools.lru_cache(maxsize=None)
def _load_dir(directory: str) -> Mapping[str, Form]:
    forms = {}
    for p in sorted(Path(directory).glob("*.toml")):
        f = load_form(p)
        forms[f.id] = f
    if not forms:
        raise ProfileError("no form files (*.toml) found", path=directory)
    return MappingProxyType(forms)


def load_forms(directory: str | Path | None = None) -> Mapping[str, Form]:
    """All forms in ``directory`` (default: the packaged forms), keyed by form id, read-only."""
    return _load_dir(str(FORMS_DIR if directory is None else Path(directory).resolve()))


def get_form(form_id: str) -> Form:
    """The packaged form with this id; ``ProfileError`` naming the known ids otherwise."""
    forms = load_forms()
    try:
        return forms[form_id]
    except KeyError:
        raise ProfileError(f"unknown form '{form_id}'; expected one of {sorted(forms)}") from None
