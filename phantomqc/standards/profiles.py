"""Standards profiles: thresholds as data.

A profile is a TOML file in ``phantomqc/standards/profiles/`` (or any path given by the user):

.. code-block:: toml

    schema = "phantomqc.profile/1"
    id = "ws76-2020-dr"
    version = "2020.1"
    title = "..."
    source = "WS 76-2020, DR part"
    extends = ["other-profile-id"]    # optional, an id or a list; this profile's criteria replace the
                                      # parents' criteria with the same (metric, label, test type); a
                                      # criterion without a label replaces those of every label

    [[criterion]]
    metric = "dr.signal_transfer.r_squared"
    test_type = "acceptance"          # or a list: ["status", "stability"]
    label = "horizontal"              # optional: only that label; absent = every label
    compare = ">="                    # <=  <  >=  >  ==  abs<=  abs<  range
    limit = 0.98                      # or low / high for "range"
    reference = "none"                # none | baseline | spec | metric:<id>   (default none)
    deviation = "none"                # none | percent | difference | ratio    (default none)
    unit = "1"
    clause = "信号传递特性"
    confirmed = true                  # false: the value was not confirmed against the standard text
    note = "..."

    # alternatives: the criterion passes when any evaluable alternative passes
    [[criterion]]
    metric = "dr.limiting_resolution.lp_per_mm"
    test_type = "acceptance"
    any_of = [
      {reference = "spec", deviation = "ratio", compare = ">=", limit = 0.9},
      {reference = "metric:dr.limiting_resolution.nyquist_per_mm", deviation = "ratio", compare = ">=", limit = 0.8},
    ]

    # a condition on another measurement of the same analysis (no label): the criterion applies only when
    # it holds, e.g. the ACR limits that depend on the field strength
    [[criterion]]
    metric = "mr.uniformity.piu_percent"
    test_type = "acceptance"
    when = { metric = "mr.field_strength.t", compare = "<", limit = 2.0 }
    compare = ">="
    limit = 87.5

With a reference, the value judged is ``d = (x - ref) / ref * 100`` (percent), ``x - ref`` (difference),
``x / ref`` (ratio) or ``x`` itself (none). ``reference = "baseline"`` takes the baseline of the same
metric and label; ``"spec"`` the manufacturer's specification given in the manifest; ``"metric:<id>"``
another measurement of the same analysis with the same label.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from phantomqc._shared.errors import ProfileError
from phantomqc.core.types import TEST_TYPES

__all__ = ["Rule", "Criterion", "Profile", "load_profile", "list_profiles", "COMPARATORS", "PROFILE_SCHEMA"]

PROFILE_SCHEMA = "phantomqc.profile/1"
COMPARATORS = ("<=", "<", ">=", ">", "==", "abs<=", "abs<", "range")
_REFERENCES = ("none", "baseline", "spec")
_DEVIATIONS = ("none", "percent", "difference", "ratio")


@dataclass(frozen=True)
class Rule:
    """One comparison: ``d compare limit`` where ``d`` is the value after ``deviation`` from ``reference``."""

    compare: str
    limit: float | None = None
    low: float | None = None
    high: float | None = None
    reference: str = "none"
    deviation: str = "none"

    def describe(self, metric_symbol: str = "x", unit: str = "") -> str:
        """A human-readable criterion, e.g. ``|x − baseline|/baseline ≤ 50 %``."""
        ref = self.reference
        ref_name = {"baseline": "baseline", "spec": "spec"}.get(ref, ref.split(":", 1)[-1])
        x = metric_symbol
        unit_s = f" {unit}" if unit and unit != "1" else ""
        if self.deviation == "percent":
            expr, unit_s = f"(x − {ref_name})/{ref_name}", " %"
        elif self.deviation == "difference":
            expr = f"x − {ref_name}"
        elif self.deviation == "ratio":
            expr, unit_s = f"x/{ref_name}", ""
        else:
            expr = x
        if self.compare == "range":
            return f"{_fmt(self.low)} ≤ {expr} ≤ {_fmt(self.high)}{unit_s}"
        if self.compare.startswith("abs"):
            op = "≤" if self.compare == "abs<=" else "<"
            return f"|{expr}| {op} {_fmt(self.limit)}{unit_s}"
        op = {"<=": "≤", ">=": "≥", "<": "<", ">": ">", "==": "="}[self.compare]
        return f"{expr} {op} {_fmt(self.limit)}{unit_s}"

    def holds(self, d: float) -> bool:
        c = self.compare
        if c == "range":
            return self.low <= d <= self.high  # type: ignore[operator]
        lim = self.limit
        return {"<=": d <= lim, "<": d < lim, ">=": d >= lim, ">": d > lim, "==": d == lim,
                "abs<=": abs(d) <= lim, "abs<": abs(d) < lim}[c]  # type: ignore[operator]


def _when_text(metric: str, rule: Rule) -> str:
    """``field_strength.t < 2.9`` for a condition on ``mr.field_strength.t``."""
    return rule.describe(metric_symbol=metric.split(".", 1)[-1])


def _fmt(v: float | None) -> str:
    if v is None:
        return "?"
    return f"{v:g}"


@dataclass(frozen=True)
class Criterion:
    metric: str
    test_types: tuple[str, ...]
    rules: tuple[Rule, ...]
    unit: str = ""
    label: str | None = None
    clause: str = ""
    source: str = ""
    confirmed: bool = True
    note: str = ""
    when: tuple[tuple[str, Rule], ...] = ()

    @property
    def needs_baseline(self) -> bool:
        return any(r.reference == "baseline" for r in self.rules)

    def describe(self) -> str:
        text = " or ".join(r.describe(unit=self.unit) for r in self.rules)
        if self.when:
            text += " (when " + " and ".join(_when_text(m, r) for m, r in self.when) + ")"
        return text

    def key(self, test_type: str) -> tuple:
        return (self.metric, self.label, test_type)


@dataclass(frozen=True)
class Profile:
    id: str
    version: str
    title: str
    source: str
    criteria: tuple[Criterion, ...]
    extends: str | None = None
    path: str = ""
    notes: str = ""
    chain: tuple[str, ...] = field(default_factory=tuple)

    def criteria_for(self, metric: str, label: str | None, test_type: str) -> list[Criterion]:
        return [c for c in self.criteria if c.metric == metric and test_type in c.test_types
                and (c.label is None or c.label == label)]

    def summary(self) -> dict:
        return {"id": self.id, "version": self.version, "title": self.title, "source": self.source,
                "extends": self.extends, "chain": list(self.chain)}


def _builtin_dir():
    return resources.files("phantomqc.standards") / "profiles"


def list_profiles() -> list[Profile]:
    """Every shipped profile, sorted by id."""
    out = []
    for entry in sorted(_builtin_dir().iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            out.append(load_profile(entry.name[:-5]))
    return out


def _read_profile_file(ref: str) -> tuple[dict, str]:
    p = Path(ref)
    if ref.endswith(".toml") and p.exists():
        text, where = p.read_text(encoding="utf-8"), str(p)
    else:
        entry = _builtin_dir() / f"{ref}.toml"
        if not entry.is_file():
            known = ", ".join(sorted(e.name[:-5] for e in _builtin_dir().iterdir() if e.name.endswith(".toml")))
            raise ProfileError(f"unknown profile '{ref}'; shipped profiles are: {known}; "
                               f"or give the path of a profile .toml file")
        text, where = entry.read_text(encoding="utf-8"), f"phantomqc/standards/profiles/{ref}.toml"
    try:
        return tomllib.loads(text), where
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"not valid TOML: {exc}", path=where) from None


def _parse_rule(d: dict, where: str, i: int) -> Rule:
    ctx = f"criterion #{i + 1}"
    compare = d.get("compare")
    if compare not in COMPARATORS:
        raise ProfileError(f"{ctx}: 'compare' must be one of {', '.join(COMPARATORS)}, got {compare!r}", path=where)
    ref = d.get("reference", "none")
    if ref not in _REFERENCES and not (isinstance(ref, str) and ref.startswith("metric:")):
        raise ProfileError(f"{ctx}: 'reference' must be none, baseline, spec or metric:<id>, got {ref!r}",
                           path=where)
    dev = d.get("deviation", "none")
    if dev not in _DEVIATIONS:
        raise ProfileError(f"{ctx}: 'deviation' must be one of {', '.join(_DEVIATIONS)}, got {dev!r}", path=where)
    if ref != "none" and dev == "none":
        raise ProfileError(f"{ctx}: a reference ({ref}) needs a deviation (percent, difference or ratio)",
                           path=where)
    if compare == "range":
        lo, hi = d.get("low"), d.get("high")
        if not isinstance(lo, (int, float)) or not isinstance(hi, (int, float)) or lo > hi:
            raise ProfileError(f"{ctx}: compare = 'range' needs numeric low <= high, got low={lo!r} high={hi!r}",
                               path=where)
        return Rule(compare, None, float(lo), float(hi), ref, dev)
    lim = d.get("limit")
    if not isinstance(lim, (int, float)) or isinstance(lim, bool) or not math.isfinite(lim):
        raise ProfileError(f"{ctx}: 'limit' must be a number, got {lim!r}", path=where)
    return Rule(compare, float(lim), None, None, ref, dev)


def _parse_criteria(data: dict, where: str, default_source: str) -> list[Criterion]:
    from phantomqc.core.registry import all_metrics

    metrics = all_metrics()
    out = []
    for i, c in enumerate(data.get("criterion", [])):
        metric = c.get("metric")
        if metric not in metrics:
            raise ProfileError(f"criterion #{i + 1}: unknown metric id {metric!r}; see `phantomqc metrics`",
                               path=where)
        tt = c.get("test_type")
        tts = (tt,) if isinstance(tt, str) else tuple(tt or ())
        bad = [t for t in tts if t not in TEST_TYPES]
        if not tts or bad:
            raise ProfileError(f"criterion #{i + 1} ({metric}): 'test_type' must be one or more of "
                               f"{', '.join(TEST_TYPES)}, got {tt!r}", path=where)
        if "any_of" in c:
            rules = tuple(_parse_rule(r, where, i) for r in c["any_of"])
            if not rules:
                raise ProfileError(f"criterion #{i + 1} ({metric}): 'any_of' is empty", path=where)
        else:
            rules = (_parse_rule(c, where, i),)
        confirmed = c.get("confirmed", True)
        if not isinstance(confirmed, bool):
            raise ProfileError(f"criterion #{i + 1} ({metric}): 'confirmed' must be true or false", path=where)
        when = c.get("when", ())
        when = (when,) if isinstance(when, dict) else tuple(when)
        conds = []
        for w in when:
            if not isinstance(w, dict) or w.get("metric") not in metrics:
                raise ProfileError(f"criterion #{i + 1} ({metric}): 'when' needs a known metric id, got "
                                   f"{w.get('metric') if isinstance(w, dict) else w!r}", path=where)
            if w.get("reference", "none") != "none":
                raise ProfileError(f"criterion #{i + 1} ({metric}): a 'when' condition compares the value itself "
                                   f"(no reference)", path=where)
            conds.append((w["metric"], _parse_rule(w, where, i)))
        out.append(Criterion(metric=metric, test_types=tts, rules=rules, unit=str(c.get("unit", metrics[metric].unit)),
                             label=c.get("label"), clause=str(c.get("clause", "")),
                             source=str(c.get("source", default_source)), confirmed=confirmed,
                             note=str(c.get("note", "")), when=tuple(conds)))
    return out


def load_profile(ref: str, _seen: tuple[str, ...] = ()) -> Profile:
    """Load a profile by shipped id (``"ws76-2020-dr"``) or by path to a ``.toml`` file.

    ``extends`` is resolved recursively; a child's criterion replaces every parent criterion with the same
    metric, label and test type. Raises ``ProfileError`` naming the file and the field on any problem.
    """
    data, where = _read_profile_file(ref)
    if data.get("schema") != PROFILE_SCHEMA:
        raise ProfileError(f"'schema' must be \"{PROFILE_SCHEMA}\", got {data.get('schema')!r}", path=where)
    for key in ("id", "version", "title", "source"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ProfileError(f"missing or empty '{key}' (a string)", path=where)
    pid = data["id"]
    if pid in _seen:
        raise ProfileError(f"'extends' makes a cycle: {' -> '.join(_seen + (pid,))}", path=where)
    own = _parse_criteria(data, where, data["source"])
    parents = data.get("extends") or []
    if isinstance(parents, str):
        parents = [parents]
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise ProfileError(f"'extends' must be a profile id or a list of ids, got {parents!r}", path=where)
    criteria: list[Criterion] = []
    chain: tuple[str, ...] = ()
    # a child criterion without a label replaces the parents' criteria of every label of that metric
    overridden = {c.key(t) for c in own for t in c.test_types}
    overridden_all_labels = {(c.metric, t) for c in own if c.label is None for t in c.test_types}
    for parent_id in parents:
        parent = load_profile(parent_id, _seen + (pid,))
        chain = chain + parent.chain + (parent.id,)
        for pc in parent.criteria:
            keep = tuple(t for t in pc.test_types
                         if pc.key(t) not in overridden and (pc.metric, t) not in overridden_all_labels)
            if keep:
                criteria.append(Criterion(pc.metric, keep, pc.rules, pc.unit, pc.label, pc.clause, pc.source,
                                          pc.confirmed, pc.note))
    criteria.extend(own)
    return Profile(id=pid, version=data["version"], title=data["title"], source=data["source"],
                   criteria=tuple(criteria), extends=", ".join(parents) or None, path=where,
                   notes=str(data.get("notes", "")), chain=chain)
