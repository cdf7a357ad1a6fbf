"""A QC programme's months on three devices, written as dated DICOM acquisitions with their truth.

``make_scenario(out_dir, ScenarioConfig())`` writes, for a CT, a DR and an MR scanner of one site, the acceptance
tests on day 0 and then the constancy checks of every following day:

- CT: daily (working days) 20 cm water phantom, 3 slices of 10 mm. The water HU carries a day-to-day calibration
  jitter N(0, ``ct_jitter_hu``) and, from ``ct_drift_start_day``, a drift of ``ct_drift_hu_per_day`` per day.
  The check of ``ct_missed_day`` is not acquired (a missed day).
- DR: daily (working days) flat-field artefact check on a 512 x 512, 0.5 mm detector. From ``dr_dead_column_day`` a
  dead column segment appears (a sudden failure).
- MR: weekly (Mondays) MagNET-style flood, WS/T 263 SNR and uniformity. On ``mr_service_day`` the head coil is
  replaced (a service event) before that day's check, and the SNR changes from ``mr_snr_before`` to
  ``mr_snr_after``: the programme re-baselines from that check, with the reason.

Each acquisition is a folder ``<date>/<device>/`` with the DICOM files and a ``manifest.toml`` (test type
``acceptance`` on day 0, ``stability`` after), stamped with the day's date and time and the device's identity
(Station Name, Device Serial Number). ``scenario.json`` lists every acquisition in time order with its truth
(the true HU offset, whether the dead column is present, the SNR) and the events.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = ["ScenarioConfig", "DEVICES", "make_scenario", "working_day"]


@dataclass(frozen=True)
class ScenarioConfig:
    start: _dt.date = _dt.date(2026, 1, 5)  # a Monday
    days: int = 120
    seed: int = 8  # chosen so that no CT day lies within 0.2 HU of the 4 HU stability limit (an unambiguous day)
    ct_drift_start_day: int = 20
    ct_drift_hu_per_day: float = 0.1
    ct_jitter_hu: float = 0.3
    ct_missed_day: int = 45
    dr_dead_column_day: int = 70
    mr_service_day: int = 63  # a Monday: the coil is replaced in the morning, the weekly check follows
    mr_snr_before: float = 120.0
    mr_snr_after: float = 100.0


#: name -> (manufacturer, model, serial, station, time of the daily check)
DEVICES = {
    "ct": ("Reference CT Co.", "RefCT 64", "CT-0001", "CT-ROOM-1", _dt.time(7, 40)),
    "dr": ("Reference DR Co.", "RefDR 43", "DR-0003", "DR-ROOM-3", _dt.time(7, 55)),
    "mr": ("Reference MR Co.", "RefMR 1.5T", "MR-0002", "MR-1", _dt.time(8, 30)),
}


def working_day(d: _dt.date) -> bool:
    return d.weekday() < 5


def _restamp(paths, when: _dt.datetime, device: str) -> None:
    """Give freshly written files the day's date and time and the device's identity."""
    import pydicom

    manufacturer, model, serial, station, _ = DEVICES[device]
    date, time = when.strftime("%Y%m%d"), when.strftime("%H%M%S")
    for p in paths:
        ds = pydicom.dcmread(p)
        ds.Manufacturer, ds.ManufacturerModelName = manufacturer, model
        ds.DeviceSerialNumber, ds.StationName = serial, station
        for kw in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
            setattr(ds, kw, date)
        for kw in ("StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime"):
            setattr(ds, kw, time)
        if "AcquisitionDateTime" in ds:
            ds.AcquisitionDateTime = date + time
        ds.save_as(p)


def _manifest(folder: Path, profile: str, test_type: str, test_lines: list[str]) -> Path:
    text = "\n".join([
        'schema = "phantomqc.manifest/1"', f'profile = "{profile}"', f'test_type = "{test_type}"', "",
        "[[test]]", *test_lines, ""])
    p = folder / "manifest.toml"
    p.write_text(text, encoding="utf-8")
    return p


def _ct(folder: Path, when: _dt.datetime, offset_hu: float, seed: int, test_type: str) -> Path:
    from reference_phantoms.ct import ct_series, write_ct_series

    s = ct_series("water200", thickness_mm=10.0, spacing_z_mm=10.0, z_start_mm=-10.0, z_stop_mm=10.0,
                  noise_sd_hu=1.0, hu_offset=offset_hu, psf_sigma_mm=0.5, matrix=256, pixel_mm=0.9765625, seed=seed)
    paths = write_ct_series(s, folder / "series")
    _restamp(paths, when, "ct")
    return _manifest(folder, "ws519-2019", test_type, ['kind = "ct.water"', 'images = ["series"]'])


def _dr(folder: Path, when: _dt.datetime, dead_column: bool, seed: int, test_type: str) -> Path:
    from reference_phantoms._detector import DetectorModel
    from reference_phantoms.dr import artifacts_phantom, write_phantom_set

    det = DetectorModel(shape=(512, 512), pitch_mm=0.5)
    ps = artifacts_phantom(det, np.random.default_rng(seed), artifacts=("dead_column",) if dead_column else ())
    write_phantom_set(ps, folder, profile="ws76-2020-dr", test_type=test_type)
    _restamp([folder / im.filename for im in ps.images], when, "dr")
    return _manifest(folder, "ws76-2020-dr", test_type, ['kind = "dr.artifacts"', 'images = ["artifacts.dcm"]'])


def _mr(folder: Path, when: _dt.datetime, snr: float, seed: int, test_type: str) -> Path:
    from reference_phantoms.mr import make_magnet_flood

    make_magnet_flood(folder, seed=seed, snr=snr, shading=0.05)
    paths = sorted(p for p in folder.rglob("*.dcm"))
    _restamp(paths, when, "mr")
    images = sorted({str(p.parent.relative_to(folder)) for p in paths})
    return _manifest(folder, "wst263-2006", test_type, ['kind = "mr.flood"', f"images = {json.dumps(images)}"])


def make_scenario(out_dir, cfg: ScenarioConfig = ScenarioConfig()) -> Path:
    """Write the scenario (see the module docstring); returns the path of ``scenario.json``."""
    out = Path(out_dir)
    rng = np.random.default_rng(cfg.seed)
    jitter = rng.normal(0.0, cfg.ct_jitter_hu, cfg.days)
    acquisitions, events = [], []
    for day in range(cfg.days):
        date = cfg.start + _dt.timedelta(days=day)
        tt = "acceptance" if day == 0 else "stability"
        if day == cfg.mr_service_day:
            events.append({"type": "service", "device": "mr", "day": day,
                           "at": _dt.datetime.combine(date, _dt.time(7, 30)).isoformat(),
                           "description": "head coil replaced", "rebaseline_after": True})
        for dev in ("ct", "dr", "mr"):
            due = (working_day(date) if dev in ("ct", "dr") else date.weekday() == cfg.start.weekday()) or day == 0
            if not due or (dev == "ct" and day == cfg.ct_missed_day):
                continue
            when = _dt.datetime.combine(date, DEVICES[dev][4])
            folder = out / date.isoformat() / dev
            seed = cfg.seed * 1000 + day * 3 + ("ct", "dr", "mr").index(dev)
            if dev == "ct":
                drift = cfg.ct_drift_hu_per_day * max(0, day - cfg.ct_drift_start_day)
                truth = {"hu_offset": float(jitter[day] + drift), "drift_hu": drift}
                manifest = _ct(folder, when, truth["hu_offset"], seed, tt)
            elif dev == "dr":
                truth = {"dead_column": day >= cfg.dr_dead_column_day}
                manifest = _dr(folder, when, truth["dead_column"], seed, tt)
            else:
                truth = {"snr": cfg.mr_snr_after if day >= cfg.mr_service_day else cfg.mr_snr_before}
                manifest = _mr(folder, when, truth["snr"], seed, tt)
            acquisitions.append({"day": day, "date": date.isoformat(), "at": when.isoformat(), "device": dev,
                                 "test_type": tt, "manifest": str(manifest.relative_to(out)), "truth": truth})
    doc = {"schema": "phantomqc.scenario/1", "config": json.loads(json.dumps(asdict(cfg), default=str)),
           "devices": {k: {"manufacturer": v[0], "model": v[1], "serial": v[2], "station": v[3]}
                       for k, v in DEVICES.items()},
           "acquisitions": acquisitions, "events": events}
    p = out / "scenario.json"
    p.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return p


SITE = "Taiyuan Central Hospital"


def analyse_scenario(scenario_json, *, progress: bool = False) -> tuple[dict, list]:
    """Analyse every acquisition of a written scenario (judged without baselines); returns the scenario document
    and ``[(acquisition, result), ...]`` in time order."""
    from tqdm.auto import tqdm

    from phantomqc.pipeline import analyze

    root = Path(scenario_json).parent
    doc = json.loads(Path(scenario_json).read_text(encoding="utf-8"))
    out = []
    for acq in tqdm(doc["acquisitions"], desc="analysing the scenario", unit="check", disable=not progress):
        _, results = analyze([str(root / acq["manifest"])])
        out.append((acq, results[0]))
    return doc, out


def replay_scenario(store, doc: dict, analysed: list, *, engineer: str = "engineer li",
                    physicist: str = "physicist zhang") -> dict:
    """Record the analysed scenario day by day in ``store`` as the site's staff would.

    - the site and a site rule (new devices whose manufacturer matches go to ``SITE``);
    - each day's results recorded with ``rejudge=True`` (judged against the baselines stored at that moment);
    - day 0: acceptance results that wait for review (a limit needing the manufacturer's specification) are
      approved by the physicist, which sets their baselines; then the schedules (CT and DR daily on working days
      with a 10:00 cut-off, MR weekly);
    - the MR service day: the service event before the check; the failing check approved by the physicist and
      the device re-baselined from it, with the reason.

    Returns ``{"runs": {(device, day): RunRecord}, "service_ids": {day: id}}``.
    """
    from phantomqc.programme import schedules
    from phantomqc.report.figures import figure_pngs  # the day-0 acceptance runs keep their analyzer figures

    store.ensure_site(SITE)
    store.add_site_rule(SITE, manufacturer="Reference * Co.", department="Medical Physics")
    cfg = doc["config"]
    start = _dt.date.fromisoformat(cfg["start"])
    runs: dict = {}
    events = {e["day"]: e for e in doc["events"]}
    service_ids: dict = {}
    for acq, result in analysed:
        day, dev = acq["day"], acq["device"]
        ev = events.get(day)
        if ev and ev["device"] == dev and day not in service_ids:
            service_ids[day] = store.add_service_event(DEVICES[dev][3], _dt.datetime.fromisoformat(ev["at"]),
                                                       ev["description"], kind="part")
        rec = store.record([result], rejudge=True, figures=figure_pngs).records[0]
        runs[(dev, day)] = rec
        if day == 0 and rec.review == "pending":
            store.decide(rec.run_id, True, comment="accepted on measurement; no manufacturer specification supplied",
                         reviewer=physicist)
        if day == 0 and dev == "mr":
            with store.session() as s, s.begin():
                for d, kind, rule, cutoff in (("ct", "ct.water", "daily", "10:00"),
                                              ("dr", "dr.artifacts", "daily", "10:00"), ("mr", "mr.flood", "weekly", "")):
                    device = schedules.find_device(s, DEVICES[d][3])
                    first = start + _dt.timedelta(days=1 if d != "mr" else 7)
                    schedules.add_schedule(s, device.id, kind, rule, dtstart=_dt.datetime.combine(first, _dt.time(7, 0)),
                                           cutoff=cutoff, actor=engineer)
        if dev == "mr" and ev and ev["device"] == "mr" and ev.get("rebaseline_after") and rec.status == "fail":
            store.decide(rec.run_id, True, comment="new head coil: SNR within the manufacturer's specification",
                         reviewer=physicist)
            store.rebaseline_from_run(rec.run_id, reason=f"head coil replaced (service event {service_ids[day]}); "
                                                         "new reference values")
    return {"runs": runs, "service_ids": service_ids}
