"""The data of one trend: a device's values of one measurement over time, with what they were judged against.

``trend_data(session, device, metric)`` reads the results store and returns a plain ``TrendData``: the points in
time order, the baseline history, the limits in force at each point, the site's tolerance levels, the service
events, and the individuals / moving-range chart with the Western Electric flags (``phantomqc.programme.spc``).
Drawing is ``phantomqc.report.trend``; this module never plots.

Where each piece comes from
---------------------------
- *Points*: every ``MeasurementRow`` of the metric (and label; ``""`` = no label) in a run of the device, ordered by
  the run's acquisition time (scanner wall clock), then run id. A run without an acquisition time is placed at
  its record time (converted to naive UTC) with a warning. A measurement without a number (NULL) stays in the
  series as NaN: it is shown in the table, drawn as a gap, and left out of the SPC chart.
- *Status*: the profile verdict of that measurement in that run (``pass``, ``fail``, ``not_evaluated``; ``""``
  when the run has none), the run's status, and the site verdict (``ok``, ``tolerance``, ``action``; ``""``).
- *Profile limits in force*: from that profile verdict, ``limits`` (the criterion's rules as data:
  ``{"rules": [{compare, limit, low, high, reference, deviation}, ...]}``) with ``reference`` (the baseline or
  spec value used) turned into a band of values ``[limit_low, limit_high]``. A criterion with several
  alternatives (it passes when any passes) gives the envelope of their bands. When ``limits`` is missing, the
  criterion text is read instead (the forms ``Rule.describe`` writes). NaN where a side has no limit.
- *Baseline per point*: the baseline the verdict of that point names (``baseline_id``: what was in force when it
  was judged); otherwise the latest baseline whose ``valid_from`` is not after the point.
- *Site levels per point*: from the site verdict's ``limits`` and ``reference``; otherwise from the site's active
  ``Tolerance`` (the device's own row wins over the site-wide one) and the point's baseline.
- *Phases of the SPC chart*: a new phase starts at each point whose baseline differs from the previous point's
  (a re-baseline restarts the chart limits); points without a baseline before the first one form their own phase.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from phantomqc._shared.errors import InputError
from phantomqc.programme.models import (
    AnalysisRun,
    Baseline,
    Device,
    MeasurementRow,
    ServiceEvent,
    Tolerance,
    VerdictRow,
)
from phantomqc.programme.spc import DEFAULT_N_LIMITS, SPCResult, individuals_chart

__all__ = ["BaselineEntry", "ServiceEntry", "SiteLevels", "TrendData", "trend_data", "band_from_limits",
           "band_from_criterion", "site_band"]


@dataclass(frozen=True)
class BaselineEntry:
    """One baseline of the history. ``valid_to`` is the ``valid_from`` of the next one (wall clock, None for
    the last); ``ended_at`` is when it was ended in the store (UTC record time)."""

    id: int
    value: float
    valid_from: _dt.datetime | None
    valid_to: _dt.datetime | None
    ended_at: _dt.datetime | None
    active: bool
    reason: str
    set_by: str


@dataclass(frozen=True)
class ServiceEntry:
    at: _dt.datetime
    kind: str
    description: str


@dataclass(frozen=True)
class SiteLevels:
    """The site's four levels for this metric (QATrack+ model), as configured now."""

    tolerance_id: int
    mode: str  # absolute | percent
    act_low: float | None
    tol_low: float | None
    tol_high: float | None
    act_high: float | None
    device_specific: bool


@dataclass
class TrendData:
    """Everything a trend chart shows. Per-point sequences all have ``len(times)`` entries."""

    device_id: int
    device_name: str
    metric: str
    label: str
    unit: str
    times: list[_dt.datetime]
    values: NDArray[np.float64]               # NaN: the analysis gave no number
    run_ids: list[int]
    statuses: list[str]                        # profile verdict: pass | fail | not_evaluated | ""
    run_statuses: list[str]                    # pass | fail | incomplete | error
    site_statuses: list[str]                   # ok | tolerance | action | not_evaluated | ""
    criteria: list[str]                        # the profile criterion text in force
    references: NDArray[np.float64]            # the reference value the verdict used
    limit_low: NDArray[np.float64]             # profile limits in force, in the metric's unit
    limit_high: NDArray[np.float64]
    baseline_ids: list[int | None]
    baseline_values: NDArray[np.float64]
    tol_low: NDArray[np.float64]               # site levels in force, in the metric's unit
    tol_high: NDArray[np.float64]
    act_low: NDArray[np.float64]
    act_high: NDArray[np.float64]
    baselines: list[BaselineEntry]
    site_levels: SiteLevels | None
    service_events: list[ServiceEntry]
    phase_starts: list[int]                    # point indices where a new baseline (SPC phase) begins
    spc: SPCResult | None                      # on the finite points only (see ``spc_index``)
    spc_index: NDArray[np.int64]               # point index of each SPC position
    we_rules: list[tuple[int, ...]]            # per point: the Western Electric rules that fire there
    n_limits: int | None = DEFAULT_N_LIMITS
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.times)

    @property
    def failing(self) -> NDArray[np.bool_]:
        """Points whose profile verdict failed or that crossed a site action level."""
        return np.array([s == "fail" or t == "action" for s, t in zip(self.statuses, self.site_statuses)], dtype=bool)

    def first_rule_index(self) -> dict[int, int | None]:
        """Point index at which each Western Electric rule first fires (None: never)."""
        out: dict[int, int | None] = {1: None, 2: None, 3: None, 4: None}
        if self.spc is not None:
            for r, k in self.spc.first_index.items():
                out[r] = None if k is None else int(self.spc_index[k])
        return out


# ------------------------------------------------------------------------------------------------------------------
# limits as bands of values


def _rule_band(rule: dict, ref: float | None) -> tuple[float, float] | None:
    """The values x that satisfy one rule, as (low, high) with ±inf for an open side; None when unknown."""
    cmp_ = rule.get("compare")
    dev = rule.get("deviation") or "none"
    lim, lo, hi = rule.get("limit"), rule.get("low"), rule.get("high")
    inf = math.inf
    if cmp_ == "range":
        if lo is None or hi is None:
            return None
        d = (float(lo), float(hi))
    elif lim is None:
        return None
    elif cmp_ in ("<=", "<"):
        d = (-inf, float(lim))
    elif cmp_ in (">=", ">"):
        d = (float(lim), inf)
    elif cmp_ in ("abs<=", "abs<"):
        d = (-abs(float(lim)), abs(float(lim)))
    elif cmp_ == "==":
        d = (float(lim), float(lim))
    else:
        return None
    if dev == "none":
        return d
    if ref is None or not math.isfinite(ref):
        return None
    if dev == "difference":
        return d[0] + ref, d[1] + ref
    if dev == "percent":
        return d[0] * abs(ref) / 100.0 + ref, d[1] * abs(ref) / 100.0 + ref
    if dev == "ratio":
        a, b = d[0] * ref, d[1] * ref
        a = -inf if math.isnan(a) else a
        b = inf if math.isnan(b) else b
        return (min(a, b), max(a, b))
    return None


def band_from_limits(limits: dict | list | None, reference: float | None, *,
                     baseline: float | None = None) -> tuple[float, float]:
    """The band of passing values of a profile criterion stored as data.

    Parameters
    ----------
    limits : dict or list or None
        ``{"rules": [rule, ...]}``, a list of rules, or one rule; a rule is ``Rule`` as a dict (``compare``,
        ``limit``, ``low``, ``high``, ``reference``, ``deviation``).
    reference : float or None
        The reference value the verdict used.
    baseline : float or None
        The baseline of the point, used for a rule relative to the baseline when ``reference`` is None.

    Returns
    -------
    (low, high) : tuple of float
        The envelope of the rules' bands (the criterion passes when any rule passes), NaN for a side without a
        limit or when nothing could be converted.
    """
    if limits is None:
        return (math.nan, math.nan)
    rules = limits.get("rules", [limits]) if isinstance(limits, dict) else list(limits)
    referenced = [r for r in rules if isinstance(r, dict) and (r.get("reference") or "none") != "none"]
    bands = []
    for r in rules:
        if not isinstance(r, dict):
            continue
        which = r.get("reference") or "none"
        ref = None
        if which == "baseline":
            ref = reference if reference is not None else baseline
        elif which != "none" and len(referenced) == 1:
            ref = reference
        b = _rule_band(r, ref)
        if b is not None:
            bands.append(b)
    if not bands:
        return (math.nan, math.nan)
    lo, hi = min(b[0] for b in bands), max(b[1] for b in bands)
    return (lo if math.isfinite(lo) else math.nan, hi if math.isfinite(hi) else math.nan)


_NUM = r"[-+−]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?"
_OPS = {"≤": "<=", "<": "<", "≥": ">=", ">": ">", "=": "=="}


def _num(s: str) -> float:
    return float(s.replace("−", "-"))


def _parse_piece(text: str) -> dict | None:
    """One rule from the text ``Rule.describe`` writes, or None."""
    t = re.sub(r"\s*\(when .*\)\s*$", "", text.strip())
    ref = r"(?P<ref>baseline|spec|[\w.]+)"
    exprs = ((rf"\(x − {ref}\)/(?P=ref)", "percent"), (rf"x − {ref}", "difference"), (rf"x/{ref}", "ratio"),
             (r"x", "none"))
    for expr, dev in exprs:
        forms = ((rf"(?P<lo>{_NUM}) ≤ {expr} ≤ (?P<hi>{_NUM})", "range"),
                 (rf"\|{expr}\| (?P<op>≤|<) (?P<lim>{_NUM})", "abs"),
                 (rf"{expr} (?P<op>≤|≥|<|>|=) (?P<lim>{_NUM})", "cmp"))
        for form, kind in forms:
            m = re.fullmatch(form + r"(?:\s.*)?", t)
            if m is None:
                continue
            g = m.groupdict()
            rule: dict = {"deviation": dev, "reference": g.get("ref") or "none"}
            if kind == "range":
                rule.update(compare="range", low=_num(g["lo"]), high=_num(g["hi"]))
            elif kind == "abs":
                rule.update(compare="abs<=" if g["op"] == "≤" else "abs<", limit=_num(g["lim"]))
            else:
                rule.update(compare=_OPS[g["op"]], limit=_num(g["lim"]))
            return rule
    return None


def band_from_criterion(criterion: str, reference: float | None, *,
                        baseline: float | None = None) -> tuple[float, float]:
    """The band of passing values read from a criterion's text (the forms ``Rule.describe`` writes, e.g.
    ``|x − baseline| ≤ 4 HU``, ``(x − baseline)/baseline ≤ 50 %``, ``0.9 ≤ x/spec ≤ 1.1``, ``x ≥ 0.98``,
    alternatives joined by ``or``). NaN sides when the text cannot be read."""
    if not criterion:
        return (math.nan, math.nan)
    rules = [_parse_piece(p) for p in criterion.split(" or ")]
    if any(r is None for r in rules):
        return (math.nan, math.nan)
    return band_from_limits({"rules": rules}, reference, baseline=baseline)


def site_band(mode: str, levels: Sequence[float | None], baseline: float | None) -> tuple[float, ...]:
    """The four site levels ``(act_low, tol_low, tol_high, act_high)`` in the metric's unit: themselves when
    ``mode`` is absolute, ``b + level·|b|/100`` when percent of the baseline ``b``; NaN for a missing level."""
    out = []
    for v in levels:
        if v is None:
            out.append(math.nan)
        elif mode == "percent":
            out.append(math.nan if baseline is None or not math.isfinite(baseline)
                       else baseline + float(v) * abs(baseline) / 100.0)
        else:
            out.append(float(v))
    return tuple(out)


# ------------------------------------------------------------------------------------------------------------------
# queries


def _find_device(session: Session, device: int | str) -> Device:
    from phantomqc.programme.devices import resolve_device

    return resolve_device(session, device)


def _naive(t: _dt.datetime) -> _dt.datetime:
    return t.astimezone(_dt.timezone.utc).replace(tzinfo=None) if t.tzinfo is not None else t


def _pick_verdict(rows: list[VerdictRow]) -> VerdictRow | None:
    """The verdict to show for a point: one with a criterion, preferring a judged one and one with limits."""
    if not rows:
        return None
    return min(rows, key=lambda v: (not v.has_criterion, v.status == "not_evaluated", v.limits is None, v.id))


def trend_data(session: Session, device: int | str, metric: str, label: str | None = None,
               start: _dt.datetime | _dt.date | None = None, end: _dt.datetime | _dt.date | None = None, *,
               n_limits: int | None = DEFAULT_N_LIMITS) -> TrendData:
    """The trend of one measurement of one device, with its baselines, limits, events and SPC chart.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        A session on the results store.
    device : int or str
        The device id, or its name (else its key, station name, serial or AE title; must be unique).
    metric : str
        The measurement id, e.g. ``ct.water.mean_hu``.
    label : str or None, optional
        The measurement label; None or ``""`` for the unlabelled measurement.
    start, end : datetime or date, optional
        Only points acquired in ``[start, end]`` (wall clock); a date ``end`` includes that whole day.
    n_limits : int or None, optional
        Points at the start of each SPC phase that define its limits (see ``phantomqc.programme.spc``).

    Returns
    -------
    TrendData

    Raises
    ------
    InputError
        Unknown device, or no point of that metric (the message lists the metrics and labels the device has).
    """
    dev = _find_device(session, device)
    lab = label or ""
    if isinstance(start, _dt.date) and not isinstance(start, _dt.datetime):
        start = _dt.datetime.combine(start, _dt.time.min)
    if isinstance(end, _dt.date) and not isinstance(end, _dt.datetime):
        end = _dt.datetime.combine(end, _dt.time.max)
    warnings: list[str] = []

    rows = session.execute(
        select(MeasurementRow, AnalysisRun).join(AnalysisRun, MeasurementRow.run_id == AnalysisRun.id)
        .where(AnalysisRun.device_id == dev.id, MeasurementRow.metric == metric, MeasurementRow.label == lab)).all()
    points = []
    n_untimed = 0
    for m, run in rows:
        t = run.acquired_at
        if t is None:
            t = _naive(run.recorded_at)
            n_untimed += 1
        if (start is not None and t < start) or (end is not None and t > end):
            continue
        points.append((t, run.id, m, run))
    if n_untimed:
        warnings.append(f"{n_untimed} run(s) have no acquisition time and are placed at their record time (UTC)")
    if not points:
        have = session.execute(
            select(MeasurementRow.metric, MeasurementRow.label).join(AnalysisRun)
            .where(AnalysisRun.device_id == dev.id).distinct()).all()
        labels = sorted(repr(lb) for mt, lb in have if mt == metric)
        hint = (f"this metric has the labels {', '.join(labels)}: give one with --label" if labels else
                f"its metrics: {', '.join(sorted({mt for mt, _ in have})) or 'none'}")
        when = "" if start is None and end is None else f" between {start} and {end}"
        raise InputError(f"trend: device {dev.id} ({dev.name or dev.key}) has no {metric!r} "
                         f"label {lab!r}{when}; {hint}")
    points.sort(key=lambda p: (p[0], p[1], p[2].id))
    run_ids = [p[1] for p in points]

    verdicts: dict[tuple[int, str], list[VerdictRow]] = {}
    for v in session.scalars(select(VerdictRow).where(VerdictRow.run_id.in_(set(run_ids)),
                                                      VerdictRow.metric == metric, VerdictRow.label == lab)):
        verdicts.setdefault((v.run_id, v.origin), []).append(v)

    base_rows = session.scalars(select(Baseline).where(Baseline.device_id == dev.id, Baseline.metric == metric,
                                                       Baseline.label == lab)
                                .order_by(Baseline.valid_from.is_(None), Baseline.valid_from, Baseline.id)).all()
    baselines = [BaselineEntry(b.id, float(b.value), b.valid_from,
                               base_rows[i + 1].valid_from if i + 1 < len(base_rows) else None,
                               b.ended_at, bool(b.active), b.reason or "", b.set_by or "")
                 for i, b in enumerate(base_rows)]
    by_id = {b.id: b for b in baselines}
    timed = [b for b in baselines if b.valid_from is not None]

    tols = session.scalars(select(Tolerance).where(Tolerance.site_id == dev.site_id, Tolerance.metric == metric,
                                                   Tolerance.label == lab, Tolerance.active.is_(True),
                                                   (Tolerance.device_id == dev.id) | Tolerance.device_id.is_(None))
                           .order_by(Tolerance.device_id.is_(None), Tolerance.id.desc())).all()
    levels = None
    if tols:
        t0 = tols[0]
        levels = SiteLevels(t0.id, t0.mode, t0.act_low, t0.tol_low, t0.tol_high, t0.act_high,
                            t0.device_id is not None)

    n = len(points)
    nan = np.full(n, np.nan)
    values, refs, lim_lo, lim_hi, base_val = nan.copy(), nan.copy(), nan.copy(), nan.copy(), nan.copy()
    a_lo, t_lo, t_hi, a_hi = nan.copy(), nan.copy(), nan.copy(), nan.copy()
    statuses, run_statuses, site_statuses, criteria, base_ids = [], [], [], [], []
    unit = ""
    for i, (t, rid, m, run) in enumerate(points):
        values[i] = np.nan if m.value is None else float(m.value)
        unit = unit or m.unit
        run_statuses.append(run.status)
        pv = _pick_verdict(verdicts.get((rid, "profile"), []))
        sv = _pick_verdict(verdicts.get((rid, "site"), []))
        bid = None
        for v in (pv, sv):
            if v is not None and v.baseline_id is not None and v.baseline_id in by_id:
                bid = v.baseline_id
                break
        if bid is None:
            cands = [b for b in timed if b.valid_from <= t]
            bid = cands[-1].id if cands else None
        base_ids.append(bid)
        b = by_id[bid].value if bid is not None else None
        base_val[i] = np.nan if b is None else b
        statuses.append(pv.status if pv is not None else "")
        criteria.append(pv.criterion if pv is not None else "")
        if pv is not None:
            refs[i] = np.nan if pv.reference is None else pv.reference
            band = band_from_limits(pv.limits, pv.reference, baseline=b) if pv.limits is not None else \
                band_from_criterion(pv.criterion, pv.reference, baseline=b)
            lim_lo[i], lim_hi[i] = band
        site_statuses.append(sv.status if sv is not None else "")
        if sv is not None and isinstance(sv.limits, dict) and "mode" in sv.limits:
            L = sv.limits
            ref = sv.reference if sv.reference is not None else b
            a_lo[i], t_lo[i], t_hi[i], a_hi[i] = site_band(L["mode"], [L.get("act_low"), L.get("tol_low"),
                                                                       L.get("tol_high"), L.get("act_high")], ref)
        elif levels is not None:
            a_lo[i], t_lo[i], t_hi[i], a_hi[i] = site_band(levels.mode, [levels.act_low, levels.tol_low,
                                                                         levels.tol_high, levels.act_high], b)

    phase_starts = [i for i in range(1, n) if base_ids[i] != base_ids[i - 1]]
    finite = np.flatnonzero(np.isfinite(values))
    if finite.size < n:
        warnings.append(f"{n - finite.size} point(s) have no value and are left out of the SPC chart")
    spc = None
    we: list[tuple[int, ...]] = [()] * n
    if finite.size >= 2:
        pos = np.searchsorted(finite, phase_starts)  # SPC position of the first finite point at or after each start
        spc = individuals_chart(values[finite], phase_starts=[int(p) for p in pos if p < finite.size],
                                n_limits=n_limits)
        for k, i in enumerate(finite):
            we[int(i)] = spc.rules_at(k)
    else:
        warnings.append("fewer than two values: no SPC chart")

    lo_t = min(p[0] for p in points) if start is None else start
    hi_t = max(p[0] for p in points) if end is None else end
    events = [ServiceEntry(e.at, e.kind, e.description) for e in session.scalars(
        select(ServiceEvent).where(ServiceEvent.device_id == dev.id, ServiceEvent.at >= lo_t, ServiceEvent.at <= hi_t)
        .order_by(ServiceEvent.at, ServiceEvent.id))]

    return TrendData(device_id=dev.id, device_name=dev.name or dev.key, metric=metric, label=lab, unit=unit,
                     times=[p[0] for p in points], values=values, run_ids=run_ids, statuses=statuses,
                     run_statuses=run_statuses, site_statuses=site_statuses, criteria=criteria, references=refs,
                     limit_low=lim_lo, limit_high=lim_hi, baseline_ids=base_ids, baseline_values=base_val,
                     tol_low=t_lo, tol_high=t_hi, act_low=a_lo, act_high=a_hi, baselines=baselines,
                     site_levels=levels, service_events=events, phase_starts=phase_starts, spc=spc,
                     spc_index=finite.astype(np.int64), we_rules=we, n_limits=n_limits, warnings=warnings)

