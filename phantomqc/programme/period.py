"""The data of the programme reports: a device's acceptance-test report and a site's period report.

Both functions only read the results store and return plain frozen dataclasses; drawing them is the job of
:mod:`phantomqc.report.acceptance` and :mod:`phantomqc.report.period`. Nothing here recomputes an image
measurement: values, verdicts, criteria, references and reviews are shown exactly as they were stored when the run
was judged.

Choices where the standards are silent
--------------------------------------
- *Which acceptance runs.* By default the latest run with ``test_type = "acceptance"`` per test kind (latest by
  acquisition time, then by record time, then by id), whatever its status or review: a failed or rejected
  acceptance result is shown, not hidden behind an older one. ``run_ids`` selects runs explicitly.
- *Overall result of an acceptance report.* ``FAIL`` when any run failed or any verdict is ``fail`` (profile) or
  ``action`` (site level); otherwise ``INCOMPLETE`` when there is no run, a run could not be analysed (``error``)
  or is ``incomplete``, or a verdict is ``not_evaluated`` or ``tolerance``; otherwise ``PASS``.
- *Pass rate of a period.* ``100 · n_pass / n_runs`` over every run acquired in the period, so that an analysis
  error or an incomplete check is never counted as a pass. The counts per status are given beside it.
- *Period bounds.* ``start`` and ``end`` are dates in the scanners' wall clock, both included.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session, selectinload

from phantomqc import __version__
from phantomqc._shared.errors import InputError
from phantomqc.programme.devices import resolve_device, resolve_site
from phantomqc.programme.models import AnalysisRun, Device, ServiceEvent, Site

__all__ = [
    "FAILING_STATUSES",
    "OPEN_STATUSES",
    "AcceptanceData",
    "AcceptanceRow",
    "AcceptanceTest",
    "DeviceInfo",
    "NonPassingRun",
    "OverdueCheck",
    "PassRate",
    "PeriodData",
    "ProfileUse",
    "ReviewInfo",
    "ServiceNote",
    "acceptable_band",
    "acceptance_data",
    "acceptance_rows",
    "period_data",
    "resolve_device",
    "resolve_site",
]

#: Verdict statuses that fail a report: a profile ``fail`` or a site ``action`` level crossed.
FAILING_STATUSES = frozenset({"fail", "action"})
#: Verdict statuses that leave a report incomplete: a criterion not applied, or a site tolerance level crossed.
OPEN_STATUSES = frozenset({"not_evaluated", "tolerance"})


# --------------------------------------------------------------------------------------------------
# records


@dataclass(frozen=True)
class DeviceInfo:
    """A device as the reports name it (with its site and department names)."""

    id: int
    key: str
    name: str
    modality: str
    manufacturer: str
    model: str
    serial: str
    station_name: str
    ae_title: str
    site: str
    department: str

    @property
    def display_name(self) -> str:
        """The device's name, else its station name, serial or key."""
        return self.name or self.station_name or self.serial or self.key or f"device {self.id}"


@dataclass(frozen=True)
class ReviewInfo:
    state: str  # pending | approved | rejected
    automatic: bool
    reviewer: str
    comment: str
    decided_at: _dt.datetime | None


@dataclass(frozen=True)
class ProfileUse:
    """A standards profile used by the runs of a report; ``n_unconfirmed`` counts the verdicts whose limit is not
    confirmed against the standard's text (``VerdictRow.confirmed`` false)."""

    profile_id: str
    version: str
    title: str
    n_verdicts: int
    n_unconfirmed: int


@dataclass(frozen=True)
class AcceptanceRow:
    """One line of a test's table: a measurement with one of its verdicts (or none: ``status`` ``""``).

    ``band_low`` / ``band_high`` are the accepted values of the measurement itself, in its unit, when the stored
    rule can be turned into an interval (``None`` for an open side); ``action_low`` / ``action_high`` the site's
    action levels likewise. ``has_band`` is false when no interval could be derived."""

    metric: str
    label: str
    value: float | None
    uncertainty: float | None
    unit: str
    status: str  # pass | fail | not_evaluated | ok | tolerance | action | "" (no verdict)
    origin: str  # profile | site | ""
    criterion: str
    source: str
    reason: str
    confirmed: bool
    reference: float | None
    reference_kind: str  # baseline | spec | metric id | reference | ""
    baseline_id: int | None
    band_low: float | None = None
    band_high: float | None = None
    action_low: float | None = None
    action_high: float | None = None
    has_band: bool = False

    @property
    def failing(self) -> bool:
        return self.status in FAILING_STATUSES


@dataclass(frozen=True)
class AcceptanceTest:
    run_id: int
    kind: str
    analyzer: str
    phantom: str
    test_type: str
    status: str  # pass | fail | incomplete | error
    acquired_at: _dt.datetime | None
    recorded_at: _dt.datetime | None
    phantomqc_version: str
    profile: ProfileUse | None
    rows: tuple[AcceptanceRow, ...]
    warnings: tuple[str, ...]
    error: str
    review: ReviewInfo | None
    series_uid: str
    n_inputs: int
    #: the analyzer figures stored with the run (``store.StoredFigure``), in order; empty when none were kept
    figures: tuple = ()

    def count(self, *statuses: str) -> int:
        return sum(1 for r in self.rows if r.status in statuses)


@dataclass(frozen=True)
class AcceptanceData:
    """Everything the acceptance report shows. ``overall`` is ``PASS``, ``FAIL`` or ``INCOMPLETE``."""

    device: DeviceInfo
    tests: tuple[AcceptanceTest, ...]
    profiles: tuple[ProfileUse, ...]
    overall: str
    first_acquired: _dt.datetime | None
    last_acquired: _dt.datetime | None
    run_versions: tuple[str, ...]
    generated_at: _dt.datetime
    phantomqc_version: str = __version__

    @property
    def failing(self) -> list[tuple[AcceptanceTest, AcceptanceRow]]:
        """Every failing verdict (profile ``fail`` or site ``action``), in report order."""
        return [(t, r) for t in self.tests for r in t.rows if r.failing]

    @property
    def n_unconfirmed(self) -> int:
        return sum(p.n_unconfirmed for p in self.profiles)


@dataclass(frozen=True)
class PassRate:
    """Run counts of one device (``kind`` ``""``: all kinds) or of the whole site (``device`` None)."""

    device: DeviceInfo | None
    kind: str
    n_runs: int
    n_pass: int
    n_fail: int
    n_incomplete: int
    n_error: int
    n_pending_review: int

    @property
    def pass_rate_percent(self) -> float | None:
        """``100 · n_pass / n_runs``; None when there was no run."""
        return None if self.n_runs == 0 else 100.0 * self.n_pass / self.n_runs


@dataclass(frozen=True)
class NonPassingRun:
    """A run of the period that did not pass, with what failed and its review."""

    run_id: int
    device: str
    kind: str
    test_type: str
    acquired_at: _dt.datetime | None
    status: str
    findings: tuple[str, ...]
    review: ReviewInfo | None


@dataclass(frozen=True)
class OverdueCheck:
    device: str
    kind: str
    state: str  # the state of the next due check: overdue | expected_missing | due | upcoming | done
    due_at: _dt.datetime | None
    missed: tuple[tuple[_dt.datetime, str], ...]  # (due time, overdue | expected_missing) within the period
    detail: str


@dataclass(frozen=True)
class ServiceNote:
    device: str
    at: _dt.datetime
    kind: str
    description: str
    recorded_by: str


@dataclass(frozen=True)
class PeriodData:
    """Everything the period report shows. ``overdue`` is None when the schedules module is not available;
    ``overdue_message`` then says so."""

    site: str
    start: _dt.date
    end: _dt.date
    as_of: _dt.datetime
    totals: PassRate
    devices: tuple[PassRate, ...]
    by_kind: tuple[PassRate, ...]
    non_passing: tuple[NonPassingRun, ...]
    overdue: tuple[OverdueCheck, ...] | None
    overdue_message: str
    service_events: tuple[ServiceNote, ...]
    generated_at: _dt.datetime
    phantomqc_version: str = __version__
    notes: tuple[str, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------------------------------
# look-ups


def _device_info(d: Device) -> DeviceInfo:
    return DeviceInfo(id=d.id, key=d.key or "", name=d.name or "", modality=d.modality or "",
                      manufacturer=d.manufacturer or "", model=d.model or "", serial=d.serial or "",
                      station_name=d.station_name or "", ae_title=d.ae_title or "",
                      site=d.site.name if d.site is not None else "",
                      department=d.department.name if d.department is not None else "")


def _review_info(run: AnalysisRun) -> ReviewInfo | None:
    r = run.review
    if r is None:
        return None
    return ReviewInfo(state=r.state or "", automatic=bool(r.automatic), reviewer=r.reviewer or "",
                      comment=r.comment or "", decided_at=r.decided_at)


# --------------------------------------------------------------------------------------------------
# limits as intervals


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _single_rule(limits: Any) -> dict | None:
    """The one rule of a stored ``limits`` object (a rule dict, or ``rules`` / ``any_of`` with one entry)."""
    if not isinstance(limits, dict):
        return None
    for k in ("rules", "any_of"):
        if k in limits:
            rules = limits[k]
            return rules[0] if isinstance(rules, list) and len(rules) == 1 and isinstance(rules[0], dict) else None
    return limits if "compare" in limits else None


def _to_value(d: float | None, deviation: str, ref: float | None) -> float | None:
    """The measurement value at which the judged quantity ``d`` equals a limit (inverse of the deviation)."""
    if d is None:
        return None
    if deviation in ("", "none", None):
        return d
    if ref is None:
        return None
    if deviation == "percent":
        return ref * (1.0 + d / 100.0)
    if deviation == "difference":
        return ref + d
    if deviation == "ratio":
        return ref * d
    return None


def acceptable_band(limits: Any, reference: float | None) -> tuple[bool, float | None, float | None,
                                                                   float | None, float | None]:
    """The accepted interval of a measurement's own value from a stored rule.

    Parameters
    ----------
    limits : dict or None
        ``VerdictRow.limits``: a profile rule ``{compare, limit | low, high, reference, deviation}`` (or
        ``{"rules": [rule]}``), or a site level set ``{mode, act_low, tol_low, tol_high, act_high}``.
    reference : float or None
        The baseline or specification value the verdict used (``VerdictRow.reference``).

    Returns
    -------
    (has_band, low, high, action_low, action_high)
        ``low``/``high`` in the measurement's unit, None for an open side; the action levels for a site rule.

    Notes
    -----
    A rule on a deviation ``d`` from a reference ``r`` is turned back into values of ``x``: ``x = r (1 + d/100)``
    (percent), ``x = r + d`` (difference), ``x = r d`` (ratio). A negative ``r`` reverses the order of the ends.
    ``abs<=`` / ``abs<`` become the symmetric interval around ``0`` (or around ``r``). ``==`` and rules with
    several alternatives give no band.

    Examples
    --------
    >>> acceptable_band({"compare": "abs<=", "limit": 4.0, "reference": "baseline", "deviation": "difference"},
    ...                 2.0)
    (True, -2.0, 6.0, None, None)
    """
    none = (False, None, None, None, None)
    if isinstance(limits, dict) and "mode" in limits and any(k in limits for k in ("tol_low", "tol_high")):
        pct = limits.get("mode") == "percent"
        dev = "percent" if pct else "none"
        vals = [_to_value(_num(limits.get(k)), dev, reference)
                for k in ("tol_low", "tol_high", "act_low", "act_high")]
        if all(v is None for v in vals):
            return none
        if pct and reference is not None and reference < 0:  # a negative baseline reverses the ends
            vals = [vals[1], vals[0], vals[3], vals[2]]
        return (True, *vals)  # type: ignore[return-value]
    rule = _single_rule(limits)
    if rule is None:
        return none
    compare = rule.get("compare")
    deviation = rule.get("deviation") or "none"
    if compare == "range":
        lo, hi = _num(rule.get("low")), _num(rule.get("high"))
    elif compare in ("abs<=", "abs<"):
        lim = _num(rule.get("limit"))
        lo, hi = (None, None) if lim is None else (-lim, lim)
    elif compare in ("<=", "<"):
        lo, hi = None, _num(rule.get("limit"))
    elif compare in (">=", ">"):
        lo, hi = _num(rule.get("limit")), None
    else:
        return none
    if lo is None and hi is None:
        return none
    a, b = _to_value(lo, deviation, reference), _to_value(hi, deviation, reference)
    if deviation not in ("none", "", None):
        if reference is None:
            return none
        if deviation in ("percent", "ratio") and reference < 0:
            a, b = b, a
    return True, a, b, None, None


# --------------------------------------------------------------------------------------------------
# acceptance


def _reference_kind(v: Any) -> str:
    if v.baseline_id is not None:
        return "baseline"
    if v.reference is None:
        return ""
    if v.origin == "site":  # the store gives a site level the device's baseline as its reference
        return "baseline"
    rule = _single_rule(v.limits)
    ref = (rule or {}).get("reference") or ""
    if ref == "baseline":
        return "baseline"
    if ref == "spec":
        return "spec"
    if isinstance(ref, str) and ref.startswith("metric:"):
        return ref.split(":", 1)[1]
    return "reference"


def acceptance_rows(run: AnalysisRun) -> tuple[AcceptanceRow, ...]:
    """The table of one run: each measurement with each of its verdicts, in stored order.

    A measurement without a verdict, or whose only verdict says the profile sets no limit for it, gives one row
    with ``status`` ``""`` (shown for information); a verdict
    whose measurement is not stored (the analysis gave no number) gives a row with the verdict's value. Profile
    verdicts come before the site's for the same measurement.
    """
    verdicts: dict[tuple[str, str], list[Any]] = {}
    for v in sorted(run.verdicts, key=lambda v: (v.origin != "profile", v.id or 0)):
        verdicts.setdefault((v.metric, v.label or ""), []).append(v)
    rows: list[AcceptanceRow] = []
    seen: set[tuple[str, str]] = set()

    def add(metric: str, label: str, value, unc, unit: str, vs: list[Any]) -> None:
        # a verdict without a criterion only says the profile sets no limit: the value is shown for information
        vs = [v for v in vs if getattr(v, "has_criterion", True)]
        if not vs:
            rows.append(AcceptanceRow(metric, label, value, unc, unit, "", "", "", "", "", True, None, "", None))
            return
        for v in vs:
            has, lo, hi, alo, ahi = acceptable_band(v.limits, v.reference)
            rows.append(AcceptanceRow(
                metric=metric, label=label, value=value if value is not None else _num(v.value), uncertainty=unc,
                unit=unit or v.unit or "", status=v.status or "", origin=v.origin or "profile",
                criterion=v.criterion or "", source=v.source or "", reason=v.reason or "",
                confirmed=bool(v.confirmed), reference=_num(v.reference), reference_kind=_reference_kind(v),
                baseline_id=v.baseline_id, band_low=lo, band_high=hi, action_low=alo, action_high=ahi,
                has_band=has))

    for m in sorted(run.measurements, key=lambda m: m.id or 0):
        key = (m.metric, m.label or "")
        vs = [] if key in seen else verdicts.get(key, [])
        seen.add(key)
        add(m.metric, m.label or "", _num(m.value), _num(m.uncertainty), m.unit or "", vs)
    for key, vs in verdicts.items():
        if key not in seen:
            seen.add(key)
            add(key[0], key[1], None, None, "", vs)
    return tuple(rows)


def _profile_of(run: AnalysisRun) -> tuple[str, str, str]:
    snap = run.profile_snapshot
    if snap is None:
        return "", "", ""
    content = snap.content if isinstance(snap.content, dict) else {}
    title = content.get("title") or ""
    for k in ("summary", "profile"):  # the store keeps {"summary": Profile.summary(), "criteria": [...]}
        if not title and isinstance(content.get(k), dict):
            title = content[k].get("title") or ""
    return snap.profile_id or "", snap.version or "", str(title)


def _run_sort_key(run: AnalysisRun) -> tuple:
    t = run.acquired_at or _dt.datetime.min
    rec = run.recorded_at.replace(tzinfo=None) if run.recorded_at is not None else _dt.datetime.min
    return (t, rec, run.id or 0)


def _overall(tests: Sequence[AcceptanceTest]) -> str:
    if not tests:
        return "INCOMPLETE"
    if any(t.status == "fail" or t.count(*FAILING_STATUSES) for t in tests):
        return "FAIL"
    if any(t.status in ("error", "incomplete") or t.count(*OPEN_STATUSES) for t in tests):
        return "INCOMPLETE"
    return "PASS"


def _input_summary(inp: Any) -> tuple[str, int]:
    if not isinstance(inp, dict):
        return "", 0
    uid = inp.get("series_instance_uid") or ""
    n = 0
    for k in ("sop_instance_uids", "paths"):
        if isinstance(inp.get(k), list):
            n = max(n, len(inp[k]))
    return str(uid), n


def acceptance_data(session: Session, device: Device | int | str, run_ids: Iterable[int] | None = None, *,
                    now: _dt.datetime | None = None) -> AcceptanceData:
    """The data of a device's acceptance-test report.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        An open session on the results store.
    device : Device, int or str
        The device (row, id, key, name, serial, station name or AE title; see :func:`resolve_device`).
    run_ids : iterable of int, optional
        The runs to report, in this order. Default: the latest acceptance run (``test_type = "acceptance"``) of
        each test kind, ordered by acquisition time.
    now : datetime, optional
        The report's creation time (UTC); default the current time.

    Returns
    -------
    AcceptanceData

    Raises
    ------
    InputError
        When the device is unknown, or a run id does not exist or belongs to another device.
    """
    from phantomqc.programme.store import stored_figures

    dev = resolve_device(session, device)
    q = (select(AnalysisRun).where(AnalysisRun.device_id == dev.id)
         .options(selectinload(AnalysisRun.measurements), selectinload(AnalysisRun.verdicts),
                  selectinload(AnalysisRun.review), selectinload(AnalysisRun.profile_snapshot),
                  selectinload(AnalysisRun.phantom)))
    if run_ids is not None:
        wanted = [int(i) for i in run_ids]
        found = {r.id: r for r in session.scalars(q.where(AnalysisRun.id.in_(wanted))).all()}
        missing = [i for i in wanted if i not in found]
        if missing:
            raise InputError(f"run(s) {missing} are not runs of device #{dev.id} ({dev.name or dev.key}); "
                             "check the ids with `phantomqc review list`")
        runs = [found[i] for i in wanted]
    else:
        latest: dict[str, AnalysisRun] = {}
        for r in session.scalars(q.where(AnalysisRun.test_type == "acceptance")).all():
            if r.kind not in latest or _run_sort_key(r) > _run_sort_key(latest[r.kind]):
                latest[r.kind] = r
        runs = sorted(latest.values(), key=lambda r: (r.acquired_at or _dt.datetime.max, r.kind))

    profiles: dict[tuple[str, str], list] = {}
    tests = []
    for r in runs:
        rows = acceptance_rows(r)
        pid, pver, ptitle = _profile_of(r)
        judged = [x for x in rows if x.status and x.origin == "profile"]
        n_unconf = sum(1 for x in judged if not x.confirmed)
        use = None
        if pid:
            use = ProfileUse(pid, pver, ptitle, len(judged), n_unconf)
            acc = profiles.setdefault((pid, pver), [ptitle, 0, 0])
            acc[1] += len(judged)
            acc[2] += n_unconf
        err = ""
        if isinstance(r.error, dict):
            err = f"{r.error.get('type', 'error')}: {r.error.get('message', '')}".strip()
        uid, n_inputs = _input_summary(r.input)
        tests.append(AcceptanceTest(
            run_id=r.id, kind=r.kind, analyzer=r.analyzer or "", phantom=r.phantom.name if r.phantom else "",
            test_type=r.test_type or "", status=r.status or "", acquired_at=r.acquired_at,
            recorded_at=r.recorded_at, phantomqc_version=r.phantomqc_version or "", profile=use, rows=rows,
            warnings=tuple(str(w) for w in (r.warnings or [])), error=err, review=_review_info(r),
            series_uid=uid, n_inputs=n_inputs, figures=tuple(stored_figures(session, r.id))))
    times = [t.acquired_at for t in tests if t.acquired_at is not None]
    return AcceptanceData(
        device=_device_info(dev), tests=tuple(tests),
        profiles=tuple(ProfileUse(k[0], k[1], v[0], v[1], v[2]) for k, v in profiles.items()),
        overall=_overall(tests), first_acquired=min(times) if times else None,
        last_acquired=max(times) if times else None,
        run_versions=tuple(sorted({t.phantomqc_version for t in tests if t.phantomqc_version})),
        generated_at=now or _dt.datetime.now(_dt.timezone.utc))


# --------------------------------------------------------------------------------------------------
# period


def _count(device: DeviceInfo | None, kind: str, runs: Sequence[AnalysisRun]) -> PassRate:
    st = [r.status for r in runs]
    pending = sum(1 for r in runs if r.review is not None and r.review.state == "pending")
    return PassRate(device=device, kind=kind, n_runs=len(runs), n_pass=st.count("pass"), n_fail=st.count("fail"),
                    n_incomplete=st.count("incomplete"), n_error=st.count("error"), n_pending_review=pending)


def _findings(run: AnalysisRun) -> tuple[str, ...]:
    out = []
    if isinstance(run.error, dict):
        out.append(f"error: {run.error.get('type', '')}: {run.error.get('message', '')}")
    for row in acceptance_rows(run):
        if row.status in FAILING_STATUSES or row.status in OPEN_STATUSES:
            lab = f" [{row.label}]" if row.label else ""
            val = "no value" if row.value is None else f"{row.value:.4g}{(' ' + row.unit) if row.unit else ''}"
            crit = f"; {row.criterion}" if row.criterion else ""
            why = f" ({row.reason})" if row.reason else ""
            out.append(f"{row.status}: {row.metric}{lab} = {val}{crit}{why}")
    return tuple(out)


def _overdue(session: Session, site: Site, start: _dt.date, as_of: _dt.datetime,
             ) -> tuple[tuple[OverdueCheck, ...] | None, str]:
    """Overdue and expected-but-missing checks from :func:`phantomqc.programme.schedules.due_report`: every
    schedule whose next check is missed at ``as_of``, or that missed an occurrence between ``start`` and
    ``as_of``."""
    try:
        from phantomqc.programme.schedules import due_report
    except ImportError:
        return None, "schedules not available (phantomqc.programme.schedules could not be imported)"
    period_start = _dt.datetime.combine(start, _dt.time.min)
    lookback_days = max((as_of - period_start).total_seconds() / 86400.0, 0.0)
    out = []
    for row in due_report(session, as_of, site.id, lookback_days=lookback_days):
        missed = tuple((m.due, m.state) for m in row.missed if period_start <= m.due <= as_of)
        if row.state not in ("overdue", "expected_missing") and not missed:
            continue
        last = f"last done {row.last_done:%Y-%m-%d %H:%M}" if row.last_done is not None else "never done"
        out.append(OverdueCheck(device=row.device_name, kind=row.kind, state=row.state, due_at=row.next_due,
                                missed=missed, detail=f"{row.rrule}; {last}"))
    out.sort(key=lambda o: (o.device, o.kind))
    return tuple(out), ""


def period_data(session: Session, site: Site | int | str, start: _dt.date, end: _dt.date, *,
                as_of: _dt.datetime | None = None, now: _dt.datetime | None = None) -> PeriodData:
    """The data of a site's programme report for the days ``start`` to ``end`` (both included).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
    site : Site, int or str
        The site (row, id or name).
    start, end : datetime.date
        First and last day of the period, scanner wall clock.
    as_of : datetime, optional
        The wall-clock time at which due and overdue checks are judged; default the end of ``end`` or the current
        local time, whichever is earlier.
    now : datetime, optional
        The report's creation time (UTC); default the current time.

    Returns
    -------
    PeriodData
        Pass rates per device (every device of the site, also those without a run), per device and kind, and for
        the site; the runs that did not pass with their findings and reviews; overdue and expected-but-missing
        checks; service events of the period.

    Raises
    ------
    InputError
        When the site is unknown or ``end`` is before ``start``.
    """
    if isinstance(start, _dt.datetime):
        start = start.date()
    if isinstance(end, _dt.datetime):
        end = end.date()
    if end < start:
        raise InputError(f"the period ends ({end}) before it starts ({start}); give --from before --to")
    st = resolve_site(session, site)
    t0 = _dt.datetime.combine(start, _dt.time.min)
    t1 = _dt.datetime.combine(end + _dt.timedelta(days=1), _dt.time.min)
    if as_of is None:
        as_of = min(t1 - _dt.timedelta(microseconds=1), _dt.datetime.now())
    devices = session.scalars(select(Device).where(Device.site_id == st.id)
                              .options(selectinload(Device.site), selectinload(Device.department))
                              .order_by(Device.name, Device.id)).all()
    dev_ids = [d.id for d in devices]
    runs = session.scalars(
        select(AnalysisRun)
        .where(or_(AnalysisRun.site_id == st.id, AnalysisRun.device_id.in_(dev_ids) if dev_ids else false()),
               AnalysisRun.acquired_at >= t0, AnalysisRun.acquired_at < t1)
        .options(selectinload(AnalysisRun.measurements), selectinload(AnalysisRun.verdicts),
                 selectinload(AnalysisRun.review))
        .order_by(AnalysisRun.acquired_at, AnalysisRun.id)).all()
    info = {d.id: _device_info(d) for d in devices}
    by_dev: dict[int | None, list[AnalysisRun]] = {d.id: [] for d in devices}
    for r in runs:
        by_dev.setdefault(r.device_id if r.device_id in info else None, []).append(r)
    dev_rates, kind_rates = [], []
    for did, rs in by_dev.items():
        di = info.get(did) if did is not None else None
        dev_rates.append(_count(di, "", rs))
        for kind in sorted({r.kind for r in rs}):
            kind_rates.append(_count(di, kind, [r for r in rs if r.kind == kind]))

    def name_of(r: AnalysisRun) -> str:
        return info[r.device_id].display_name if r.device_id in info else "(no device)"

    non_passing = tuple(
        NonPassingRun(run_id=r.id, device=name_of(r), kind=r.kind, test_type=r.test_type or "",
                      acquired_at=r.acquired_at, status=r.status, findings=_findings(r), review=_review_info(r))
        for r in sorted(runs, key=lambda r: ({"fail": 0, "error": 1, "incomplete": 2}.get(r.status, 3),
                                             r.acquired_at or t0, r.id))
        if r.status != "pass")
    overdue, message = _overdue(session, st, start, as_of)
    events = session.scalars(select(ServiceEvent).where(ServiceEvent.device_id.in_(dev_ids) if dev_ids else false(),
                                                        ServiceEvent.at >= t0, ServiceEvent.at < t1)
                             .order_by(ServiceEvent.at)).all()
    notes = (ServiceNote(device=info[e.device_id].display_name, at=e.at, kind=e.kind or "",
                         description=e.description or "", recorded_by=e.recorded_by or "") for e in events)
    return PeriodData(site=st.name, start=start, end=end, as_of=as_of, totals=_count(None, "", runs),
                      devices=tuple(dev_rates), by_kind=tuple(kind_rates), non_passing=non_passing,
                      overdue=overdue, overdue_message=message, service_events=tuple(notes),
                      generated_at=now or _dt.datetime.now(_dt.timezone.utc))

