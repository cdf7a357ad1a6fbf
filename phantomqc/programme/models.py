"""The results store's tables (SQLAlchemy 2, typed declarative).

The same models serve SQLite (the embedded default) and PostgreSQL; the schema is created and upgraded only by
the Alembic migrations in ``phantomqc/programme/migrations`` (``Store`` runs them on open), never by
``create_all``, so that a database made by an older phantomqc is upgraded in place.

Times
-----
Two clocks, on purpose:

- *wall-clock* columns (``acquired_at``, ``ServiceEvent.at``, schedule starts) hold the scanner's local time as
  DICOM gives it (no time zone). Schedules, QC windows and cut-offs are defined in that same local time, which is
  what the engineer at the scanner means by "the daily check by 10:00".
- *record* columns (``recorded_at``, ``set_at``, ``decided_at``, the audit log) are UTC, stored as naive UTC on
  both back ends and returned time-zone aware (``UTCDateTime``).

Labels
------
A measurement's label is ``""`` for "no label" in the tables (``None`` in the JSON contract): SQL unique
constraints treat NULLs as distinct, and a baseline key must be unique per device, metric and label.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Optional

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        TypeDecorator, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["Base", "Site", "Department", "SiteRule", "Device", "Phantom", "ProfileSnapshot", "AnalysisRun",
           "MeasurementRow", "VerdictRow", "Baseline", "Tolerance", "Schedule", "ServiceEvent", "Review",
           "AuditEntry", "RunFigure", "utcnow", "UTCDateTime"]


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


class UTCDateTime(TypeDecorator):
    """A UTC instant: stored naive (UTC) on every back end, returned time-zone aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Optional[_dt.datetime], dialect) -> Optional[_dt.datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a UTC column needs a time-zone aware datetime")
        return value.astimezone(_dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Optional[_dt.datetime], dialect) -> Optional[_dt.datetime]:
        return None if value is None else value.replace(tzinfo=_dt.timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Site(Base):
    """A hospital or imaging centre. Results, limits and review queues never cross sites."""

    __tablename__ = "site"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # the first accepted acceptance result of a device becomes its baseline (per measurement); a site may switch it off
    auto_baseline: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    departments: Mapped[list["Department"]] = relationship(back_populates="site")


class Department(Base):
    __tablename__ = "department"
    __table_args__ = (UniqueConstraint("site_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    name: Mapped[str] = mapped_column(String(200))
    site: Mapped[Site] = relationship(back_populates="departments")


class SiteRule(Base):
    """Which site (and department) a newly seen device belongs to: shell-style patterns on its DICOM tags, all of
    the given ones must match; the lowest ``priority`` wins."""

    __tablename__ = "site_rule"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    department: Mapped[str] = mapped_column(String(200), default="")
    priority: Mapped[int] = mapped_column(Integer, default=100)
    station_name: Mapped[str] = mapped_column(String(200), default="")
    ae_title: Mapped[str] = mapped_column(String(64), default="")
    manufacturer: Mapped[str] = mapped_column(String(200), default="")
    serial: Mapped[str] = mapped_column(String(200), default="")
    modality: Mapped[str] = mapped_column(String(16), default="")
    site: Mapped[Site] = relationship()


class Device(Base):
    """A scanner or detector, recognised by ``key`` (see ``phantomqc.programme.devices.device_key``)."""

    __tablename__ = "device"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(500), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    department_id: Mapped[Optional[int]] = mapped_column(ForeignKey("department.id"))
    name: Mapped[str] = mapped_column(String(200), default="")
    modality: Mapped[str] = mapped_column(String(16), default="")
    manufacturer: Mapped[str] = mapped_column(String(200), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    serial: Mapped[str] = mapped_column(String(200), default="")
    station_name: Mapped[str] = mapped_column(String(200), default="")
    ae_title: Mapped[str] = mapped_column(String(64), default="")
    registered_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    registered_by: Mapped[str] = mapped_column(String(200), default="")
    site: Mapped[Site] = relationship()
    department: Mapped[Optional[Department]] = relationship()


class Phantom(Base):
    __tablename__ = "phantom"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


class ProfileSnapshot(Base):
    """The standards profile exactly as it was used (criteria as data), stored once per content hash."""

    __tablename__ = "profile_snapshot"
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    profile_id: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(100), default="")
    content: Mapped[dict[str, Any]] = mapped_column(JSON)


class AnalysisRun(Base):
    """One analysis (one entry of ``analyses``): what went in, with which software and rules, and what came out.

    ``input_key`` is the SHA-256 of the kind and the sorted SOP Instance UIDs (the paths when there are none);
    with ``phantomqc_version`` it is unique, so the same inputs analysed again by the same version are not stored
    twice (a trend has one point per acquisition). ``config_hash`` records the profile, test type and parameters
    the run was judged with."""

    __tablename__ = "analysis_run"
    __table_args__ = (UniqueConstraint("input_key", "phantomqc_version", name="uq_run_identity"),
                      Index("ix_run_device_kind_time", "device_id", "kind", "acquired_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[Optional[int]] = mapped_column(ForeignKey("device.id"))
    site_id: Mapped[Optional[int]] = mapped_column(ForeignKey("site.id"), index=True)
    phantom_id: Mapped[Optional[int]] = mapped_column(ForeignKey("phantom.id"))
    kind: Mapped[str] = mapped_column(String(100))
    analyzer: Mapped[str] = mapped_column(String(100), default="")
    test_type: Mapped[str] = mapped_column(String(20), default="")
    profile_snapshot_id: Mapped[Optional[int]] = mapped_column(ForeignKey("profile_snapshot.id"))
    config_hash: Mapped[str] = mapped_column(String(64))
    phantomqc_version: Mapped[str] = mapped_column(String(50))
    input_key: Mapped[str] = mapped_column(String(64))
    input: Mapped[dict[str, Any]] = mapped_column(JSON)  # the JSON contract's input object (UIDs, paths, tags)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    warnings: Mapped[list[Any]] = mapped_column(JSON, default=list)
    error: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))  # pass | fail | incomplete | error
    acquired_at: Mapped[Optional[_dt.datetime]] = mapped_column(DateTime)  # scanner wall clock
    recorded_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(Text, default="")
    device: Mapped[Optional[Device]] = relationship()
    phantom: Mapped[Optional[Phantom]] = relationship()
    profile_snapshot: Mapped[Optional[ProfileSnapshot]] = relationship()
    measurements: Mapped[list["MeasurementRow"]] = relationship(back_populates="run", cascade="all, delete-orphan")
    verdicts: Mapped[list["VerdictRow"]] = relationship(back_populates="run", cascade="all, delete-orphan")
    review: Mapped[Optional["Review"]] = relationship(back_populates="run", uselist=False)


class MeasurementRow(Base):
    __tablename__ = "measurement"
    __table_args__ = (Index("ix_measurement_metric", "metric", "label"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("analysis_run.id", ondelete="CASCADE"), index=True)
    metric: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(200), default="")
    value: Mapped[Optional[float]] = mapped_column(Float)  # NULL: the analysis gave no number (NaN)
    unit: Mapped[str] = mapped_column(String(50), default="")
    uncertainty: Mapped[Optional[float]] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text, default="")
    run: Mapped[AnalysisRun] = relationship(back_populates="measurements")


class RunFigure(Base):
    """One analyzer figure of a run (ROI overlay, profile, map) as the PNG bytes drawn when it was recorded, so that
    a report made later shows exactly what the physicist saw. Only some runs keep them (see
    ``phantomqc.programme.store.keeps_figures``); ``ordinal`` is the figure's 1-based number within the run and
    ``sha256`` the digest of ``png``, checked when the figure is read back."""

    __tablename__ = "run_figure"
    __table_args__ = (UniqueConstraint("run_id", "ordinal", name="uq_run_figure_ordinal"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("analysis_run.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text, default="")
    png: Mapped[bytes] = mapped_column(LargeBinary)
    width_px: Mapped[int] = mapped_column(Integer)
    height_px: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))


class VerdictRow(Base):
    """A verdict with the limits and baseline in force when it was given: ``criterion`` (the text),
    ``limits`` (the rule as data), ``reference`` (the baseline or spec value used) and ``baseline_id``."""

    __tablename__ = "verdict"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("analysis_run.id", ondelete="CASCADE"), index=True)
    metric: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20))  # pass | fail | not_evaluated (profile); ok | tolerance | action (site)
    origin: Mapped[str] = mapped_column(String(20), default="profile")  # profile | site
    criterion: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    test_type: Mapped[str] = mapped_column(String(20), default="")
    confirmed: Mapped[bool] = mapped_column(Boolean, default=True)
    has_criterion: Mapped[bool] = mapped_column(Boolean, default=True)
    value: Mapped[Optional[float]] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(50), default="")
    reference: Mapped[Optional[float]] = mapped_column(Float)
    baseline_id: Mapped[Optional[int]] = mapped_column(ForeignKey("baseline.id"))
    limits: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    run: Mapped[AnalysisRun] = relationship(back_populates="verdicts")


class Baseline(Base):
    """A device's reference value for one measurement. Never updated in value: a re-baseline ends the active row
    (``active = False``, ``ended_at``, ``superseded_by_id``) and adds a new one, with its reason."""

    __tablename__ = "baseline"
    __table_args__ = (Index("ix_baseline_lookup", "device_id", "metric", "label", "active"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"))
    metric: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(200), default="")
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(50), default="")
    run_id: Mapped[Optional[int]] = mapped_column(ForeignKey("analysis_run.id"))
    valid_from: Mapped[Optional[_dt.datetime]] = mapped_column(DateTime)  # acquisition time of the source run
    set_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    set_by: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    ended_at: Mapped[Optional[_dt.datetime]] = mapped_column(UTCDateTime)
    superseded_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("baseline.id"))


class Tolerance(Base):
    """A site's own tolerance and action levels for one measurement (QATrack+'s four-limit model).

    ``mode`` is ``absolute`` (the levels are values of the measurement) or ``percent`` (deviation from the
    device's baseline in percent). Any level may be NULL (no limit on that side). ``device_id`` NULL applies to
    every device of the site with that metric; a device-specific row wins."""

    __tablename__ = "tolerance"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    device_id: Mapped[Optional[int]] = mapped_column(ForeignKey("device.id"))
    metric: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(200), default="")
    mode: Mapped[str] = mapped_column(String(20), default="absolute")
    act_low: Mapped[Optional[float]] = mapped_column(Float)
    tol_low: Mapped[Optional[float]] = mapped_column(Float)
    tol_high: Mapped[Optional[float]] = mapped_column(Float)
    act_high: Mapped[Optional[float]] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")


class Schedule(Base):
    """When a test kind is due on a device: an RFC 5545 recurrence rule (``FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR``)
    from ``dtstart`` (scanner wall clock), a QC window around each due time and a cut-off time of day after
    which a check of that day counts as missing."""

    __tablename__ = "schedule"
    __table_args__ = (UniqueConstraint("device_id", "kind", name="uq_schedule_device_kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"))
    kind: Mapped[str] = mapped_column(String(100))
    rrule: Mapped[str] = mapped_column(Text)
    dtstart: Mapped[_dt.datetime] = mapped_column(DateTime)
    window_before_h: Mapped[float] = mapped_column(Float, default=0.0)
    window_after_h: Mapped[float] = mapped_column(Float, default=24.0)
    cutoff: Mapped[str] = mapped_column(String(5), default="")  # "HH:MM" local; "" = the end of the window
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    device: Mapped[Device] = relationship()


class ServiceEvent(Base):
    __tablename__ = "service_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"), index=True)
    at: Mapped[_dt.datetime] = mapped_column(DateTime)  # scanner wall clock
    kind: Mapped[str] = mapped_column(String(50), default="service")
    description: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(200), default="")
    recorded_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Review(Base):
    """The review of one run: passing runs are approved automatically (``automatic``); warnings and failures wait
    (``pending``) for a reviewer's ``approved`` or ``rejected`` with a comment."""

    __tablename__ = "review"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("analysis_run.id", ondelete="CASCADE"), unique=True)
    state: Mapped[str] = mapped_column(String(20))  # pending | approved | rejected
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    reviewer: Mapped[str] = mapped_column(String(200), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[Optional[_dt.datetime]] = mapped_column(UTCDateTime)
    run: Mapped[AnalysisRun] = relationship(back_populates="review")


class AuditEntry(Base):
    """The append-only audit log. The migration adds triggers on both back ends that refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    entity: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[Optional[int]] = mapped_column(Integer)
    site_id: Mapped[Optional[int]] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
