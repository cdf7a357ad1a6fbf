"""The results store: analyses recorded with the rules, baselines and limits in force when they were judged.

``Store`` is the one entry point the command line, the scenario tests and the DICOM listener use::

    store = Store()                                  # PHANTOMQC_DB or the default SQLite file
    doc, results = analyze(paths, baseline_for=store.baseline_hook())
    outcome = store.record(results)                  # devices, runs, measurements, verdicts, reviews, baselines

Every change a person makes (a baseline, a tolerance, a review decision, a service event, a device's site) is
written to the append-only audit log in the same transaction as the change itself.

Each analysis is recorded in its own transaction, so a batch of 2 000 results from four processes interleaves at
the level of single runs, and a run is either stored whole or not at all.

Analyzer figures (ROI overlays, profiles) are kept with the runs :func:`keeps_figures` names (acceptance runs, or
any run when asked): ``store.record(results, figures=phantomqc.report.figures.figure_pngs)``. The store never draws
and never imports matplotlib: the caller's renderer gives it PNG bytes, drawn before the run's write transaction
opens, and they are stored in that transaction with the run.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from phantomqc import __version__
from phantomqc._shared.errors import InputError
from phantomqc.core.types import AnalysisResult, Verdict
from phantomqc.programme.db import open_engine
from phantomqc.programme.devices import (DeviceFacts, ensure_device, ensure_site, facts_from, find_device,
                                         resolve_device)
from phantomqc.programme.limits import FourLimits, classify
from phantomqc.programme.models import (AnalysisRun, AuditEntry, Baseline, Device, MeasurementRow, Phantom,
                                        ProfileSnapshot, Review, RunFigure, ServiceEvent, Site, SiteRule,
                                        Tolerance, VerdictRow, utcnow)

__all__ = ["Store", "RecordOutcome", "RunRecord", "input_key", "config_hash", "profile_snapshot", "parse_wall_clock",
           "keeps_figures", "StoredFigure", "stored_figures", "FIGURE_TEST_TYPES", "MAX_FIGURES_PER_RUN", "MAX_FIGURE_PNG_BYTES"]

#: Test types whose runs keep their analyzer figures: the runs an acceptance report is built from.
FIGURE_TEST_TYPES: frozenset[str] = frozenset({"acceptance"})

#: At most this many figures are kept per run (the first ones, in the analyzer's order); an analyzer with more
#: (a CatPhan gives about a dozen) keeps its first eight, and a warning says how many were left out.
MAX_FIGURES_PER_RUN: int = 8

#: Each stored PNG stays under this many bytes; the renderer draws a larger one again at a lower resolution.
#: Why 400 kB: a figure is 704 x 528 px at 110 dpi, shown 3.4 in wide in the acceptance PDF (about 200 dpi, more
#: than print needs); an ROI overlay on a phantom image compresses to 100 to 300 kB, a plot to 20 to 60 kB, and
#: only a panel of almost pure noise (a dark or flat-field image) goes over and is redrawn at about 80 dpi. With 8
#: figures per run a run adds at most 3.2 MB to the store and to the PDF, and an acceptance campaign of some 20
#: tests stays well under 100 MB on SQLite or PostgreSQL.
MAX_FIGURE_PNG_BYTES: int = 400_000

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def keeps_figures(test_type: str | None, *, asked: bool = False) -> bool:
    """Whether a run of ``test_type`` keeps its analyzer figures in the store: the one place of that policy.

    Parameters
    ----------
    test_type : str or None
        The test type the run was judged for (``acceptance``, ``status``, ``stability``).
    asked : bool, optional
        The user asked for the figures of every run (``phantomqc analyze --store --store-figures``).

    Returns
    -------
    bool
        True for an acceptance run (:data:`FIGURE_TEST_TYPES`: the runs a signed acceptance report is built from),
        or for any run when ``asked``.

    Examples
    --------
    >>> keeps_figures("acceptance"), keeps_figures("status"), keeps_figures("status", asked=True)
    (True, False, True)
    """
    return bool(asked) or (test_type or "") in FIGURE_TEST_TYPES


def _png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's IHDR chunk; ValueError when ``png`` is not a PNG."""
    if not isinstance(png, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected PNG bytes, got {type(png).__name__}")
    png = bytes(png)
    if len(png) < 24 or not png.startswith(_PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise ValueError("the bytes are not a PNG image (no PNG signature and IHDR chunk)")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


@dataclass(frozen=True)
class StoredFigure:
    """One analyzer figure of a stored run: ``ordinal`` (1-based), ``title``, the PNG bytes, its size in pixels and
    the SHA-256 of the bytes (checked when read back by :meth:`Store.figures`)."""

    run_id: int
    ordinal: int
    title: str
    png: bytes
    width_px: int
    height_px: int
    sha256: str


def _actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "phantomqc"


def _label(label: str | None) -> str:
    return label or ""


def _finite(v) -> float | None:
    return float(v) if v is not None and math.isfinite(float(v)) else None


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()


def profile_snapshot(prof) -> tuple[dict, str]:
    """A profile as data (its summary and every criterion) and the SHA-256 of that content."""
    content = {"summary": prof.summary(), "criteria": [asdict(c) for c in prof.criteria]}
    return content, _sha(content)


def config_hash(kind: str, parameters: dict, test_type: str | None, profile_sha: str | None) -> str:
    """SHA-256 of what decided a run's numbers and verdicts: the profile content, the test type, the kind and the
    analysis parameters (the ``config_hash`` of a stored run and of a DICOM SR)."""
    return _sha({"profile": profile_sha, "test_type": test_type, "kind": kind, "parameters": parameters})


def input_key(kind: str, input_info: dict) -> str:
    """SHA-256 of the kind and the sorted SOP Instance UIDs (the paths when the input has no UIDs)."""
    uids = sorted(u for u in input_info.get("sop_instance_uids", ()) if u)
    ident = uids or sorted(str(p) for p in input_info.get("paths", ()))
    return _sha({"kind": kind, "inputs": ident})


def parse_wall_clock(text: str | None) -> _dt.datetime | None:
    """The scanner's local time from an ISO or DICOM DT string (a time zone, if any, is dropped: wall clock)."""
    if not text:
        return None
    t = str(text).strip()
    try:
        d = _dt.datetime.fromisoformat(t)
    except ValueError:
        digits = "".join(ch for ch in t.split("+")[0].split("-")[0] if ch.isdigit() or ch == ".")
        for fmt in ("%Y%m%d%H%M%S.%f", "%Y%m%d%H%M%S", "%Y%m%d%H%M", "%Y%m%d"):
            try:
                d = _dt.datetime.strptime(digits, fmt)
                break
            except ValueError:
                continue
        else:
            return None
    return d.replace(tzinfo=None)


def _run_status(verdicts: Iterable[Verdict], site_states: Iterable[str], error) -> str:
    if error:
        return "error"
    vs = list(verdicts)
    states = list(site_states)
    if any(v.status == "fail" for v in vs) or "action" in states:
        return "fail"
    # a verdict without a criterion is an informational value (the profile sets no limit): it leaves a run complete
    if any(v.status == "not_evaluated" and v.has_criterion for v in vs) or "tolerance" in states:
        return "incomplete"
    return "pass"


@dataclass(frozen=True)
class RunRecord:
    """What happened to one analysis in ``Store.record``."""

    index: int
    run_id: int | None
    device_id: int | None
    status: str  # pass | fail | incomplete | error | duplicate | unidentified
    review: str = ""  # approved | pending | ""
    baselines_set: int = 0
    device_created: bool = False
    site_checks: tuple = ()  # (metric, label, state, compared, describe)
    message: str = ""
    figures_stored: int = 0
    figure_warnings: tuple[str, ...] = ()  # figures that were not drawn or not kept (also in the run's warnings)


@dataclass
class RecordOutcome:
    records: list[RunRecord] = field(default_factory=list)
    results: list[AnalysisResult] = field(default_factory=list)  # as stored (re-judged when asked)

    @property
    def stored(self) -> int:
        return sum(1 for r in self.records if r.run_id is not None and r.status != "duplicate")

    @property
    def duplicates(self) -> int:
        return sum(1 for r in self.records if r.status == "duplicate")

    def summary(self) -> str:
        by: dict[str, int] = {}
        for r in self.records:
            by[r.status] = by.get(r.status, 0) + 1
        pend = sum(1 for r in self.records if r.review == "pending")
        base = sum(r.baselines_set for r in self.records)
        parts = [f"{n} {k}" for k, n in sorted(by.items())]
        return (f"stored {self.stored} run(s) ({', '.join(parts)}); {pend} waiting for review; "
                f"{base} baseline value(s) set")


class Store:
    """The results store on ``url`` (default ``PHANTOMQC_DB`` or the SQLite file, see ``phantomqc.programme.db``).

    Parameters
    ----------
    url
        SQLAlchemy URL or SQLite file path.
    actor
        The name written in the audit log (default: the login name).
    """

    def __init__(self, url: str | None = None, *, actor: str | None = None, engine=None) -> None:
        self.engine = engine if engine is not None else open_engine(url)
        self.actor = actor or _actor()
        self._profiles: dict = {}

    # ------------------------------------------------------------------ plumbing
    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def _audit(self, s: Session, action: str, entity: str, entity_id: int | None, site_id: int | None,
               actor: str | None = None, **detail) -> None:
        s.add(AuditEntry(actor=actor or self.actor, action=action, entity=entity, entity_id=entity_id,
                         site_id=site_id, detail=json.loads(json.dumps(detail, default=str))))

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ sites and devices
    def ensure_site(self, name: str, *, auto_baseline: bool | None = None) -> int:
        with self.session() as s, s.begin():
            site = ensure_site(s, name, actor=self.actor)
            if auto_baseline is not None and site.auto_baseline != auto_baseline:
                site.auto_baseline = auto_baseline
                self._audit(s, "site.auto_baseline", "site", site.id, site.id, auto_baseline=auto_baseline)
            return site.id

    def add_site_rule(self, site: str, *, department: str = "", priority: int = 100, **patterns: str) -> int:
        """Assign new devices whose tags match ``patterns`` (station_name, ae_title, manufacturer, serial,
        modality; shell-style) to ``site``."""
        allowed = {"station_name", "ae_title", "manufacturer", "serial", "modality"}
        bad = set(patterns) - allowed
        if bad or not any(patterns.values()):
            raise InputError(f"a site rule needs at least one of {sorted(allowed)}; got {sorted(patterns)}")
        with self.session() as s, s.begin():
            st = ensure_site(s, site, actor=self.actor)
            rule = SiteRule(site_id=st.id, department=department, priority=priority, **patterns)
            s.add(rule)
            s.flush()
            self._audit(s, "site_rule.add", "site_rule", rule.id, st.id, department=department, priority=priority,
                        **patterns)
            return rule.id

    def register_device(self, facts: DeviceFacts, *, site: str | None = None, department: str | None = None) -> int:
        with self.session() as s, s.begin():
            dev, _ = ensure_device(s, facts, site=site, department=department, actor=self.actor)
            if dev is None:
                raise InputError("the device has no serial number, station name or AE title to be recognised by")
            return dev.id

    def assign_device(self, device: str | int, site: str, department: str = "") -> None:
        """Move a device (e.g. from ``unassigned``) to ``site``; audited."""
        from phantomqc.programme.devices import _department

        with self.session() as s, s.begin():
            dev = resolve_device(s, device)
            st = ensure_site(s, site, actor=self.actor)
            old = dev.site.name
            dev.site_id = st.id
            dep = _department(s, st, department)
            dev.department_id = dep.id if dep else None
            self._audit(s, "device.assign", "device", dev.id, st.id, old_site=old, site=site, department=department)

    def devices(self, site: str | None = None) -> list[Device]:
        with self.session() as s:
            q = select(Device).join(Site).order_by(Device.id)
            if site:
                q = q.where(Site.name == site)
            out = s.scalars(q).all()
            for d in out:
                _ = d.site.name, d.department  # load while the session is open
            return list(out)

    def device(self, ref: str | int) -> Device:
        with self.session() as s:
            d = resolve_device(s, ref)
            _ = d.site.name
            return d

    # ------------------------------------------------------------------ baselines
    def _active_baselines(self, s: Session, device_id: int) -> dict[tuple[str, str], Baseline]:
        rows = s.scalars(select(Baseline).where(Baseline.device_id == device_id, Baseline.active.is_(True))).all()
        return {(b.metric, b.label): b for b in rows}

    def baselines(self, device: str | int) -> dict[str, float]:
        """The active baselines of a device, keyed like the manifest's ``baseline`` table
        (``metric`` or ``metric[label]``)."""
        from phantomqc.standards.evaluate import reference_key

        with self.session() as s:
            dev = resolve_device(s, device)
            return {reference_key(m, lab or None): b.value for (m, lab), b in self._active_baselines(s, dev.id).items()}

    def baseline_hook(self) -> Callable[[AnalysisResult], dict[str, float]]:
        """The ``baseline_for`` callable of ``pipeline.analyze``: the stored baselines of each result's device."""
        from phantomqc.standards.evaluate import reference_key

        def hook(result: AnalysisResult) -> dict[str, float]:
            facts = facts_from(result.input.to_dict(), result.device)
            with self.session() as s:
                dev = find_device(s, facts)
                if dev is None:
                    return {}
                return {reference_key(m, lab or None): b.value
                        for (m, lab), b in self._active_baselines(s, dev.id).items()}

        return hook

    def _set_baseline(self, s: Session, dev: Device, metric: str, label: str, value: float, *, unit: str,
                      reason: str, run: AnalysisRun | None, action: str, actor: str | None = None) -> Baseline:
        old = s.scalar(select(Baseline).where(Baseline.device_id == dev.id, Baseline.metric == metric,
                                              Baseline.label == label, Baseline.active.is_(True)))
        new = Baseline(device_id=dev.id, metric=metric, label=label, value=float(value), unit=unit,
                       run_id=run.id if run else None, valid_from=run.acquired_at if run else None,
                       set_by=actor or self.actor, reason=reason)
        s.add(new)
        s.flush()
        if old is not None:
            old.active = False
            old.ended_at = utcnow()
            old.superseded_by_id = new.id
        self._audit(s, action, "baseline", new.id, dev.site_id, actor=actor, device=dev.id, metric=metric,
                    label=label, value=float(value), previous=None if old is None else old.value,
                    previous_id=None if old is None else old.id, run=None if run is None else run.id, reason=reason)
        return new

    def set_baseline(self, device: str | int, metric: str, value: float, *, label: str | None = None,
                     unit: str = "", reason: str) -> int:
        """Set (or re-set) one baseline by hand. A reason is required; the old value is kept and audited."""
        if not reason or not reason.strip():
            raise InputError("a baseline change needs a reason (--reason)")
        with self.session() as s, s.begin():
            dev = resolve_device(s, device)
            return self._set_baseline(s, dev, metric, _label(label), value, unit=unit, reason=reason.strip(),
                                      run=None, action="baseline.set").id

    def rebaseline_from_run(self, run_id: int, *, reason: str, metrics: Sequence[str] | None = None) -> int:
        """Take every finite measurement of a run (or only ``metrics``) as the device's new baselines; returns
        how many were set. A reason is required; old baselines are kept and the change is audited."""
        if not reason or not reason.strip():
            raise InputError("re-baselining needs a reason (--reason)")
        with self.session() as s, s.begin():
            run = s.get(AnalysisRun, run_id)
            if run is None or run.device is None:
                raise InputError(f"no stored run {run_id} with a device")
            n = 0
            for m in run.measurements:
                if m.value is None or (metrics and m.metric not in metrics):
                    continue
                self._set_baseline(s, run.device, m.metric, m.label, m.value, unit=m.unit, reason=reason.strip(),
                                   run=run, action="baseline.rebaseline")
                n += 1
            return n

    def baseline_history(self, device: str | int, metric: str, label: str | None = None) -> list[Baseline]:
        with self.session() as s:
            dev = resolve_device(s, device)
            return list(s.scalars(select(Baseline).where(Baseline.device_id == dev.id, Baseline.metric == metric,
                                                         Baseline.label == _label(label)).order_by(Baseline.id)))

    def _auto_baselines(self, s: Session, run: AnalysisRun, dev: Device, measurements=None) -> int:
        """The first accepted acceptance result sets each measurement's baseline, if the site's rule is on.
        ``measurements``: (metric, label, value, unit) tuples (default: the run's stored rows)."""
        if run.test_type != "acceptance" or not dev.site.auto_baseline:
            return 0
        if measurements is None:
            measurements = [(m.metric, m.label, m.value, m.unit) for m in run.measurements]
        active = self._active_baselines(s, dev.id)
        n = 0
        for metric, label, value, unit in measurements:
            if value is None or (metric, label) in active:
                continue
            self._set_baseline(s, dev, metric, label, value, unit=unit,
                               reason=f"first accepted acceptance test (run {run.id}), set automatically",
                               run=run, action="baseline.auto", actor="phantomqc")
            active[(metric, label)] = None  # type: ignore[assignment] - only membership matters here
            n += 1
        return n

    # ------------------------------------------------------------------ tolerances
    def set_tolerance(self, site: str, metric: str, *, label: str | None = None, device: str | int | None = None,
                      mode: str = "absolute", act_low: float | None = None, tol_low: float | None = None,
                      tol_high: float | None = None, act_high: float | None = None) -> int:
        """A site's tolerance and action levels for one metric (all its devices, or one); replaces the previous
        ones for the same scope, which stay in the table (inactive) and in the audit log."""
        lim = FourLimits(mode, act_low, tol_low, tol_high, act_high)  # validates
        with self.session() as s, s.begin():
            st = ensure_site(s, site, actor=self.actor)
            dev_id = resolve_device(s, device).id if device is not None else None
            for old in s.scalars(select(Tolerance).where(Tolerance.site_id == st.id, Tolerance.metric == metric,
                                                         Tolerance.label == _label(label),
                                                         Tolerance.device_id.is_(dev_id) if dev_id is None
                                                         else Tolerance.device_id == dev_id,
                                                         Tolerance.active.is_(True))):
                old.active = False
            t = Tolerance(site_id=st.id, device_id=dev_id, metric=metric, label=_label(label), created_by=self.actor,
                          **lim.to_dict())
            s.add(t)
            s.flush()
            self._audit(s, "tolerance.set", "tolerance", t.id, st.id, metric=metric, label=_label(label),
                        device=dev_id, **lim.to_dict())
            return t.id

    def _tolerances(self, s: Session, dev: Device) -> dict[tuple[str, str], Tolerance]:
        rows = s.scalars(select(Tolerance).where(Tolerance.site_id == dev.site_id, Tolerance.active.is_(True),
                                                 (Tolerance.device_id.is_(None)) | (Tolerance.device_id == dev.id))
                         ).all()
        out: dict[tuple[str, str], Tolerance] = {}
        for t in sorted(rows, key=lambda t: t.device_id is not None):  # device-specific rows win
            out[(t.metric, t.label)] = t
        return out

    # ------------------------------------------------------------------ recording
    def _snapshot(self, s: Session, judged_with: dict) -> ProfileSnapshot | None:
        pid = judged_with.get("profile")
        if not pid:
            return None
        if pid not in self._profiles:
            from phantomqc.standards.profiles import load_profile

            prof = load_profile(pid)
            content, sha = profile_snapshot(prof)
            self._profiles[pid] = (prof, content, sha)
        prof, content, sha = self._profiles[pid]
        snap = s.scalar(select(ProfileSnapshot).where(ProfileSnapshot.sha256 == sha))
        if snap is None:
            try:
                with s.begin_nested():
                    snap = ProfileSnapshot(sha256=sha, profile_id=prof.id, version=prof.version, content=content)
                    s.add(snap)
            except IntegrityError:  # another writer stored the same snapshot first
                snap = s.scalar(select(ProfileSnapshot).where(ProfileSnapshot.sha256 == sha))
        return snap

    def _rules_as_data(self, judged_with: dict, v: Verdict) -> dict | None:
        entry = self._profiles.get(judged_with.get("profile", ""))
        if entry is None or not v.has_criterion:
            return None
        prof = entry[0]
        for c in prof.criteria_for(v.measurement, v.label, v.test_type or judged_with.get("test_type", "")):
            if c.describe() == v.criterion:
                return {"rules": [asdict(r) for r in c.rules], "unit": c.unit, "confirmed": c.confirmed,
                        "when": [[m, asdict(r)] for m, r in c.when]}
        return None

    def record(self, results: Sequence[AnalysisResult], *, site: str | None = None, department: str | None = None,
               source: str = "", rejudge: bool = False, figures: Callable[..., Any] | None = None,
               all_figures: bool = False) -> RecordOutcome:
        """Store each analysis (see the module docstring); returns what happened to each one.

        ``figures``: the renderer of the analyzer figures (``phantomqc.report.figures.figure_pngs``), called as
        ``figures(result, max_figures=MAX_FIGURES_PER_RUN, max_png_bytes=MAX_FIGURE_PNG_BYTES)`` for each result
        that :func:`keeps_figures` (acceptance runs; every run with ``all_figures``), before its transaction; it
        returns an object with ``figures`` (each with ``title`` and ``png`` bytes) and ``skipped`` (messages). A
        figure that could not be drawn or kept is left out with a warning (in ``RunRecord.figure_warnings`` and
        the run's stored warnings); the run is stored all the same. None (the default): no figures are stored.

        ``site`` and ``department`` place devices seen for the first time (the command line's ``--site``).
        ``rejudge``: judge each result again, inside its transaction, against its device's baselines as stored at
        that moment (and the specification it was judged with), instead of keeping its verdicts: for results
        analysed without ``baseline_hook`` (a listener, a replay). Results are recorded in order, so a batch's
        acceptance run sets the baselines its later stability runs are judged by."""
        out = RecordOutcome()
        for i, r in enumerate(results):
            pngs, fig_warn = self._render_figures(r, figures, all_figures)
            rec, stored = self._record_one(i, r, site, department, source, rejudge, pngs, fig_warn)
            out.records.append(rec)
            out.results.append(stored)
        return out

    def _rejudged(self, s: Session, dev: Device | None, r: AnalysisResult) -> AnalysisResult:
        from phantomqc.pipeline import judge_result
        from phantomqc.standards.evaluate import reference_key

        judged = r.judged_with or {}
        if r.error is not None or not judged.get("profile"):
            return r
        self._snapshot(s, judged)  # loads the profile into the cache
        prof = self._profiles[judged["profile"]][0]
        base = ({reference_key(m, lab or None): b.value for (m, lab), b in self._active_baselines(s, dev.id).items()}
                if dev is not None else {})
        return judge_result(r, prof, judged.get("test_type", "status"), baseline=base, spec=judged.get("spec", {}))

    def _render_figures(self, r: AnalysisResult, render: Callable[..., Any] | None, asked: bool
                        ) -> tuple[list[dict], list[str]]:
        """The checked figure rows (without ``run_id``) of one result and the warnings, per :func:`keeps_figures`."""
        if render is None or not keeps_figures((r.judged_with or {}).get("test_type"), asked=asked):
            return [], []
        try:
            drawn = render(r, max_figures=MAX_FIGURES_PER_RUN, max_png_bytes=MAX_FIGURE_PNG_BYTES)
            items = list(drawn.figures)
            warn = [str(w) for w in drawn.skipped]
        except Exception as exc:  # noqa: BLE001 - batch boundary: a figure never keeps a run out of the store
            return [], [f"analyzer figures not stored: {type(exc).__name__}: {exc}"]
        rows, problems = _checked_figures(items)
        return rows, warn + problems

    def add_figures(self, run_id: int, figures: Sequence[Any]) -> int:
        """Add analyzer figures (objects with ``title`` and ``png`` bytes) to a stored run, numbered after the ones
        it has; returns how many were added.

        Raises
        ------
        InputError
            No run ``run_id``; a figure that is not a PNG or is larger than ``MAX_FIGURE_PNG_BYTES``; or more than
            ``MAX_FIGURES_PER_RUN`` figures in all for the run.
        """
        with self.session() as s, s.begin():
            if s.get(AnalysisRun, run_id) is None:
                raise InputError(f"no stored run {run_id}")
            have = s.scalar(select(func.count()).select_from(RunFigure).where(RunFigure.run_id == run_id)) or 0
            rows, problems = _checked_figures(list(figures), start=have + 1, limit=MAX_FIGURES_PER_RUN - have)
            if problems:
                raise InputError(f"run {run_id}: " + "; ".join(problems))
            if rows:
                s.execute(insert(RunFigure), [dict(row, run_id=run_id) for row in rows])
            return len(rows)

    def figures(self, run_id: int) -> list[StoredFigure]:
        """The stored analyzer figures of a run, in order (empty when it has none); see :func:`stored_figures`."""
        with self.session() as s:
            return stored_figures(s, run_id)

    def _record_one(self, index: int, r: AnalysisResult, site, department, source, rejudge: bool = False,
                    pngs: Sequence[dict] = (), fig_warn: Sequence[str] = ()) -> tuple[RunRecord, AnalysisResult]:
        info = r.input.to_dict()
        facts = facts_from(info, r.device)
        judged = r.judged_with or {}
        try:
            with self.session() as s, s.begin():
                dev, created = ensure_device(s, facts, site=site, department=department, actor=self.actor)
                if rejudge:
                    r = self._rejudged(s, dev, r)
                snap = self._snapshot(s, judged)
                cfg = config_hash(r.kind, r.parameters, judged.get("test_type"), snap.sha256 if snap else None)
                key = input_key(r.kind, info)
                dup = s.execute(select(AnalysisRun.id, AnalysisRun.config_hash).where(
                    AnalysisRun.input_key == key, AnalysisRun.phantomqc_version == __version__)).first()
                if dup is not None:
                    note = "" if dup[1] == cfg else " (judged then with another profile, test type or parameters)"
                    return RunRecord(index, dup[0], dev.id if dev else None, "duplicate",
                                     message=f"these inputs were already stored by this version as run {dup[0]}{note}"
                                     ), r
                checks = self._site_checks(s, dev, r) if dev is not None else []
                status = _run_status(r.verdicts, (c[2] for c in checks), r.error)
                phantom = None
                if r.phantom:
                    phantom = s.scalar(select(Phantom).where(Phantom.name == r.phantom))
                    if phantom is None:
                        phantom = Phantom(name=r.phantom)
                        s.add(phantom)
                        s.flush()
                run = AnalysisRun(device_id=dev.id if dev else None, site_id=dev.site_id if dev else None,
                                  phantom_id=phantom.id if phantom else None, kind=r.kind, analyzer=r.analyzer,
                                  test_type=judged.get("test_type", ""), profile_snapshot_id=snap.id if snap else None,
                                  config_hash=cfg, phantomqc_version=__version__, input_key=key, input=info,
                                  parameters=json.loads(json.dumps(r.to_dict()["parameters"], default=str)),
                                  warnings=list(r.warnings) + list(fig_warn), error=r.error, status=status,
                                  acquired_at=parse_wall_clock(r.input.acquisition_datetime),
                                  recorded_by=self.actor, source=source)
                s.add(run)
                s.flush()
                active = self._active_baselines(s, dev.id) if dev is not None else {}
                m_rows = [dict(run_id=run.id, metric=m.id, label=_label(m.label), value=_finite(m.value),
                               unit=m.unit, uncertainty=_finite(m.uncertainty) if m.uncertainty is not None else None,
                               note=m.note or "") for m in r.measurements]
                v_rows = []
                for v in r.verdicts:
                    b = active.get((v.measurement, _label(v.label)))
                    uses_baseline = "baseline" in (v.criterion or "") and v.reference is not None
                    v_rows.append(dict(run_id=run.id, metric=v.measurement, label=_label(v.label), status=v.status,
                                       origin="profile", criterion=v.criterion, source=v.source, reason=v.reason or "",
                                       test_type=v.test_type or "", confirmed=v.confirmed,
                                       has_criterion=v.has_criterion, value=_finite(v.value), unit=v.unit or "",
                                       reference=_finite(v.reference),
                                       baseline_id=b.id if (b is not None and uses_baseline) else None,
                                       limits=self._rules_as_data(judged, v)))
                for metric, label, state, compared, tol, b in checks:
                    v_rows.append(dict(run_id=run.id, metric=metric, label=label, status=state, origin="site",
                                       criterion=FourLimits(tol.mode, tol.act_low, tol.tol_low, tol.tol_high,
                                                            tol.act_high).describe(),
                                       source=f"site tolerance {tol.id}", reason="", test_type=run.test_type,
                                       confirmed=True, has_criterion=True, value=compared, unit="",
                                       reference=b.value if b is not None else None,
                                       baseline_id=b.id if b is not None and tol.mode == "percent" else None,
                                       limits={"tolerance_id": tol.id, "mode": tol.mode, "act_low": tol.act_low,
                                               "tol_low": tol.tol_low, "tol_high": tol.tol_high,
                                               "act_high": tol.act_high}))
                # bulk inserts (one statement per table): a run has tens of measurements and verdicts
                if m_rows:
                    s.execute(insert(MeasurementRow), m_rows)
                if v_rows:
                    s.execute(insert(VerdictRow), v_rows)
                if pngs:
                    s.execute(insert(RunFigure), [dict(row, run_id=run.id) for row in pngs])
                automatic = status == "pass"
                s.add(Review(run_id=run.id, state="approved" if automatic else "pending", automatic=automatic,
                             reviewer="phantomqc" if automatic else "",
                             decided_at=utcnow() if automatic else None))
                s.flush()
                self._audit(s, "run.record", "analysis_run", run.id, run.site_id, kind=r.kind, status=status,
                            input_key=key)
                n_base = 0
                if automatic and dev is not None:
                    n_base = self._auto_baselines(s, run, dev, [(d["metric"], d["label"], d["value"], d["unit"])
                                                                for d in m_rows])
                return RunRecord(index, run.id, dev.id if dev else None, status if dev else "unidentified",
                                 review="approved" if automatic else "pending", baselines_set=n_base,
                                 device_created=created,
                                 site_checks=tuple((c[0], c[1], c[2], c[3]) for c in checks),
                                 message="" if dev else "the images carry no serial number, station name or AE "
                                                        "title: stored without a device",
                                 figures_stored=len(pngs), figure_warnings=tuple(fig_warn)), r
        except IntegrityError:
            # a concurrent writer stored the same run between our check and our insert
            with self.session() as s:
                dup_id = s.scalar(select(AnalysisRun.id).where(AnalysisRun.input_key == input_key(r.kind, info),
                                                               AnalysisRun.phantomqc_version == __version__))
            if dup_id is None:
                raise
            return RunRecord(index, dup_id, None, "duplicate", message=f"already stored as run {dup_id}"), r

    def _site_checks(self, s: Session, dev: Device, r: AnalysisResult) -> list:
        tols = self._tolerances(s, dev)
        if not tols:
            return []
        active = self._active_baselines(s, dev.id)
        out = []
        for m in r.measurements:
            t = tols.get((m.id, _label(m.label))) or tols.get((m.id, ""))
            if t is None:
                continue
            b = active.get((m.id, _label(m.label)))
            chk = classify(_finite(m.value), FourLimits(t.mode, t.act_low, t.tol_low, t.tol_high, t.act_high),
                           b.value if b is not None else None)
            out.append((m.id, _label(m.label), chk.state, chk.compared, t, b))
        return out

    # ------------------------------------------------------------------ service events
    def add_service_event(self, device: str | int, at: _dt.datetime, description: str, *, kind: str = "service"
                          ) -> int:
        with self.session() as s, s.begin():
            dev = resolve_device(s, device)
            ev = ServiceEvent(device_id=dev.id, at=at.replace(tzinfo=None), kind=kind, description=description,
                              recorded_by=self.actor)
            s.add(ev)
            s.flush()
            self._audit(s, "service.add", "service_event", ev.id, dev.site_id, device=dev.id, at=at.isoformat(),
                        kind=kind, description=description)
            return ev.id

    # ------------------------------------------------------------------ reviews
    def review_queue(self, site: str | None = None, *, state: str = "pending") -> list[dict]:
        """Runs waiting for a reviewer (or in ``state``), oldest first, with their failing verdicts."""
        with self.session() as s:
            q = (select(Review, AnalysisRun).join(AnalysisRun, Review.run_id == AnalysisRun.id)
                 .where(Review.state == state).order_by(AnalysisRun.acquired_at, AnalysisRun.id))
            if site:
                q = q.join(Site, AnalysisRun.site_id == Site.id).where(Site.name == site)
            out = []
            for rev, run in s.execute(q).all():
                bad = [f"{v.metric}{'[' + v.label + ']' if v.label else ''}: {v.status} ({v.criterion})"
                       for v in run.verdicts if v.status in ("fail", "not_evaluated", "tolerance", "action")
                       and v.has_criterion]  # not "the profile has no limit for this metric"
                out.append({"run_id": run.id, "device": run.device.name if run.device else "",
                            "device_id": run.device_id, "kind": run.kind, "test_type": run.test_type,
                            "acquired_at": run.acquired_at, "status": run.status, "review": rev.state,
                            "findings": bad, "error": run.error})
            return out

    def decide(self, run_id: int, approve: bool, *, comment: str, reviewer: str | None = None) -> RunRecord:
        """A reviewer's decision on a run, with a comment (required), audited. Approving an acceptance run
        applies the automatic-baseline rule to it."""
        if not comment or not comment.strip():
            raise InputError("a review decision needs a comment")
        who = reviewer or self.actor
        with self.session() as s, s.begin():
            run = s.get(AnalysisRun, run_id)
            if run is None:
                raise InputError(f"no stored run {run_id}")
            rev = run.review
            if rev is None:
                rev = Review(run_id=run.id, state="pending")
                s.add(rev)
            if rev.state != "pending":
                raise InputError(f"run {run_id} was already {rev.state} by {rev.reviewer or 'phantomqc'}")
            rev.state = "approved" if approve else "rejected"
            rev.reviewer, rev.comment, rev.decided_at, rev.automatic = who, comment.strip(), utcnow(), False
            self._audit(s, f"review.{rev.state[:-1] if rev.state.endswith('d') else rev.state}", "analysis_run",
                        run.id, run.site_id, actor=who, comment=comment.strip(), run_status=run.status)
            n = self._auto_baselines(s, run, run.device) if approve and run.device is not None else 0
            return RunRecord(0, run.id, run.device_id, run.status, review=rev.state, baselines_set=n)

    # ------------------------------------------------------------------ audit
    def audit_log(self, *, entity: str | None = None, entity_id: int | None = None, action: str | None = None
                  ) -> list[AuditEntry]:
        with self.session() as s:
            q = select(AuditEntry).order_by(AuditEntry.id)
            if entity:
                q = q.where(AuditEntry.entity == entity)
            if entity_id is not None:
                q = q.where(AuditEntry.entity_id == entity_id)
            if action:
                q = q.where(AuditEntry.action.startswith(action))
            return list(s.scalars(q))

    def runs(self, device: str | int | None = None, *, kind: str | None = None) -> list[AnalysisRun]:
        with self.session() as s:
            q = select(AnalysisRun).order_by(AnalysisRun.acquired_at, AnalysisRun.id)
            if device is not None:
                q = q.where(AnalysisRun.device_id == resolve_device(s, device).id)
            if kind:
                q = q.where(AnalysisRun.kind == kind)
            out = list(s.scalars(q))
            for r in out:
                _ = r.review, r.measurements, r.verdicts, r.device
            return out


def stored_figures(session: Session, run_id: int) -> list[StoredFigure]:
    """The stored analyzer figures of a run, in order (empty when it has none), read in an open session (the
    acceptance report reads them in the session it reads the runs in).

    Raises
    ------
    InputError
        A figure's bytes no longer match the SHA-256 stored with them (the store was altered).
    """
    rows = session.scalars(select(RunFigure).where(RunFigure.run_id == run_id).order_by(RunFigure.ordinal)).all()
    out = [StoredFigure(run_id=f.run_id, ordinal=f.ordinal, title=f.title, png=bytes(f.png), width_px=f.width_px,
                        height_px=f.height_px, sha256=f.sha256) for f in rows]
    for f in out:
        if hashlib.sha256(f.png).hexdigest() != f.sha256:
            raise InputError(f"figure {f.ordinal} of run {run_id} ('{f.title}') does not match the SHA-256 stored "
                             "with it: the store was altered after it was recorded; re-run the analysis")
    return out


def _checked_figures(items: Sequence[Any], *, start: int = 1, limit: int = MAX_FIGURES_PER_RUN
                     ) -> tuple[list[dict], list[str]]:
    """Rows of ``run_figure`` (without ``run_id``) for the figures that are PNGs under ``MAX_FIGURE_PNG_BYTES``,
    at most ``limit`` of them, numbered from ``start``; and a message for each one left out."""
    rows: list[dict] = []
    problems: list[str] = []
    for k, item in enumerate(items, 1):
        title = str(getattr(item, "title", "") or "")
        name = f"figure {k}" + (f" '{title}'" if title else "")
        try:
            png = bytes(item.png)
            w, h = _png_size(png)
        except (AttributeError, TypeError, ValueError) as exc:
            problems.append(f"{name} not stored: {exc}")
            continue
        if len(png) > MAX_FIGURE_PNG_BYTES:
            problems.append(f"{name} not stored: its PNG has {len(png)} bytes, more than the "
                            f"{MAX_FIGURE_PNG_BYTES} a stored figure may have")
            continue
        if len(rows) >= max(0, limit):
            problems.append(f"{name} not stored: a run keeps at most {MAX_FIGURES_PER_RUN} figures")
            continue
        rows.append({"ordinal": start + len(rows), "title": title, "png": png, "width_px": w, "height_px": h,
                     "sha256": hashlib.sha256(png).hexdigest()})
    return rows, problems


def with_site_verdicts(result: AnalysisResult, rec: RunRecord) -> AnalysisResult:
    """``result`` with a warning for each site tolerance or action level it crossed (for the JSON and report)."""
    extra = tuple(f"site {state} level crossed: {metric}{'[' + label + ']' if label else ''} = {compared:g}"
                  for metric, label, state, compared in rec.site_checks if state in ("tolerance", "action"))
    return replace(result, warnings=tuple(result.warnings) + extra) if extra else result
