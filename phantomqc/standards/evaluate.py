"""Judge measurements against a profile. Never touches pixels.

Every measurement gets at least one verdict. A measurement that a test should have produced but did not
gets ``not_evaluated`` with the reason, so a missing number is never a silent pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

from phantomqc.core.types import Measurement, Verdict
from phantomqc.standards.profiles import Criterion, Profile, Rule

__all__ = ["evaluate", "References", "reference_key", "parse_reference_key"]


def reference_key(metric: str, label: str | None) -> str:
    """Key of a baseline or spec value: ``"metric"`` or ``"metric[label]"``."""
    return metric if label is None else f"{metric}[{label}]"


def parse_reference_key(key: str) -> tuple[str, str | None]:
    if key.endswith("]") and "[" in key:
        metric, label = key[:-1].split("[", 1)
        return metric, label
    return key, None


@dataclass(frozen=True)
class References:
    """Baselines and manufacturer specifications, keyed by ``reference_key``."""

    baseline: Mapping[str, float]
    spec: Mapping[str, float]
    baseline_source: str = ""

    def lookup(self, which: str, metric: str, label: str | None) -> float | None:
        table = self.baseline if which == "baseline" else self.spec
        for key in (reference_key(metric, label), metric):
            if key in table:
                return float(table[key])
        return None


_EMPTY = References({}, {})


def _reference_value(rule: Rule, m: Measurement, others: Mapping[tuple, Measurement],
                     refs: References) -> tuple[float | None, str]:
    if rule.reference == "none":
        return None, ""
    if rule.reference in ("baseline", "spec"):
        v = refs.lookup(rule.reference, m.id, m.label)
        if v is None:
            why = ("needs a baseline (give `baseline = {...}` in the manifest or --baseline an earlier result)"
                   if rule.reference == "baseline" else
                   "needs the manufacturer's specification (give `spec = {...}` in the manifest)")
            return None, why
        return v, ""
    other_id = rule.reference.split(":", 1)[1]
    o = others.get((other_id, m.label)) or others.get((other_id, None))
    if o is None or not math.isfinite(o.value):
        return None, f"needs the measurement {other_id} of the same analysis"
    return o.value, ""


def _apply(rule: Rule, x: float, ref: float | None) -> float:
    if rule.deviation == "none" or ref is None:
        return x
    if rule.deviation == "difference":
        return x - ref
    if ref == 0:
        return math.copysign(math.inf, x) if x != 0 else math.nan
    if rule.deviation == "percent":
        return (x - ref) / abs(ref) * 100.0
    return x / ref  # ratio


def _finite(m: Measurement | None) -> bool:
    return m is not None and math.isfinite(m.value)


def _condition(c: Criterion, by_key: Mapping[tuple, Measurement]) -> bool | None:
    """Whether the criterion's ``when`` conditions hold (True when it has none); None when one cannot be decided
    because its measurement is missing from the analysis."""
    for metric, rule in c.when:
        m = by_key.get((metric, None))
        if not _finite(m):
            return None
        if not rule.holds(m.value):
            return False
    return True


def _judge(c: Criterion, m: Measurement, others, refs: References, test_type: str) -> Verdict:
    base = dict(measurement=m.id, label=m.label, criterion=c.describe(),
                source=" — ".join(s for s in (c.source, c.clause) if s), value=m.value, unit=m.unit,
                test_type=test_type, confirmed=c.confirmed)
    if not math.isfinite(m.value):
        return Verdict(status="not_evaluated", reason=f"no value: {m.note or 'the analysis gave no number'}", **base)
    reasons, results, used_ref = [], [], None
    for rule in c.rules:
        ref, why = _reference_value(rule, m, others, refs)
        if why:
            reasons.append(why)
            continue
        d = _apply(rule, m.value, ref)
        if math.isnan(d):
            reasons.append(f"the reference value is 0, so the {rule.deviation} deviation is undefined")
            continue
        ok = rule.holds(d)
        results.append(ok)
        if ref is not None and (used_ref is None or ok):
            used_ref = ref
    if not results:
        return Verdict(status="not_evaluated", reason="; ".join(dict.fromkeys(reasons)), **base)
    return Verdict(status="pass" if any(results) else "fail", reference=used_ref, **base)


def evaluate(measurements: Iterable[Measurement], profile: Profile, test_type: str, *,
             references: References | None = None, expected_metrics: Iterable[str] = (),
             missing_reasons: Mapping[str, str] | None = None) -> tuple[Verdict, ...]:
    """Verdicts for one analysis.

    Parameters
    ----------
    measurements
        What the analysis produced.
    profile, test_type
        The standards profile and ``"acceptance"``, ``"status"`` or ``"stability"``.
    references
        Baselines and manufacturer specifications.
    expected_metrics
        Metric ids the test should have produced; those absent get ``not_evaluated`` verdicts for every
        criterion of the profile that names them.
    missing_reasons
        Optional reason per missing metric id (for example the analyzer's warning).
    """
    refs = references or _EMPTY
    ms = list(measurements)
    by_key = {(m.id, m.label): m for m in ms}
    out: list[Verdict] = []
    for m in ms:
        crits, unknown = [], []
        for c in profile.criteria_for(m.id, m.label, test_type):
            state = _condition(c, by_key)
            if state is None:
                unknown.append(c)
            elif state:
                crits.append(c)
        for c in unknown if not crits else ():
            missing = ", ".join(w for w, _ in c.when if not _finite(by_key.get((w, None))))
            out.append(Verdict(measurement=m.id, label=m.label, status="not_evaluated", criterion=c.describe(),
                               source=" — ".join(s for s in (c.source, c.clause) if s), value=m.value, unit=m.unit,
                               test_type=test_type, confirmed=c.confirmed,
                               reason=f"the limit depends on {missing}, which this analysis did not measure"))
        if unknown and not crits:
            continue
        if not crits:
            out.append(Verdict(measurement=m.id, label=m.label, status="not_evaluated",
                               criterion="—", source=f"{profile.id} {profile.version}",
                               reason=f"the profile has no limit for this metric in {'an' if test_type[0] in 'aeiou' else 'a'} "
                                      f"{test_type} test",
                               value=m.value, unit=m.unit, test_type=test_type, has_criterion=False))
            continue
        out.extend(_judge(c, m, by_key, refs, test_type) for c in crits)
    produced = {m.id for m in ms}
    reasons = missing_reasons or {}
    for metric in dict.fromkeys(expected_metrics):
        if metric in produced:
            continue
        for c in profile.criteria:
            if c.metric == metric and test_type in c.test_types:
                out.append(Verdict(measurement=metric, label=c.label, status="not_evaluated",
                                   criterion=c.describe(), source=" — ".join(s for s in (c.source, c.clause) if s),
                                   reason=reasons.get(metric, "the analysis did not produce this measurement"),
                                   test_type=test_type, confirmed=c.confirmed))
    return tuple(out)
