"""Recognising a device from its DICOM tags, and registering a new one exactly once.

A device is known by a *key* made from the most specific identity its images carry:

1. ``serial:<manufacturer>|<DeviceSerialNumber>`` when the serial number is present (it is unique per
   manufacturer, and survives renaming the station);
2. ``station:<StationName>`` otherwise;
3. ``ae:<Source AE title>`` as the last resort (the AE that sent the file, (0002,0016)).

The manifest's ``[device]`` table overrides the tags (``serial``, ``station``, ``manufacturer``, ``model``, ``name``,
``ae_title``, ``site``, ``department``). A new device's site comes, in this order, from the command line, the
manifest, the first matching site rule (shell-style patterns on its tags, lowest priority first) or, failing all,
the site ``unassigned`` (listed by ``phantomqc device list`` so that someone assigns it).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from phantomqc.programme.models import AuditEntry, Department, Device, Site, SiteRule

__all__ = ["DeviceFacts", "facts_from", "device_key", "find_device", "ensure_device", "ensure_site",
           "UNASSIGNED_SITE", "resolve_device", "resolve_site"]

UNASSIGNED_SITE = "unassigned"


@dataclass(frozen=True)
class DeviceFacts:
    """What the images (and the manifest) say about the device that made them."""

    modality: str = ""
    manufacturer: str = ""
    model: str = ""
    serial: str = ""
    station_name: str = ""
    ae_title: str = ""
    name: str = ""
    site: str = ""
    department: str = ""


def facts_from(input_info: Mapping, override: Mapping | None = None) -> DeviceFacts:
    """Device facts from the JSON contract's ``input`` object and the manifest's ``[device]`` table."""
    o = dict(override or {})
    g = input_info.get

    def pick(key_o: str, key_i: str) -> str:
        return str(o.get(key_o) or g(key_i) or "").strip()

    return DeviceFacts(modality=str(g("modality") or "").strip().upper(),
                       manufacturer=pick("manufacturer", "manufacturer"), model=pick("model", "model"),
                       serial=pick("serial", "device_serial_number"), station_name=pick("station", "station_name"),
                       ae_title=pick("ae_title", "source_ae_title"), name=str(o.get("name") or "").strip(),
                       site=str(o.get("site") or "").strip(), department=str(o.get("department") or "").strip())


def device_key(f: DeviceFacts) -> str | None:
    """The identity key of the device (see the module docstring), or None when the images carry none."""
    if f.serial:
        return f"serial:{f.manufacturer.lower()}|{f.serial}"
    if f.station_name:
        return f"station:{f.station_name}"
    if f.ae_title:
        return f"ae:{f.ae_title}"
    return None


def _audit(session: Session, actor: str, action: str, entity: str, entity_id: int | None, site_id: int | None,
           **detail) -> None:
    session.add(AuditEntry(actor=actor, action=action, entity=entity, entity_id=entity_id, site_id=site_id,
                           detail=detail))


def ensure_site(session: Session, name: str, *, actor: str = "phantomqc") -> Site:
    site = session.scalar(select(Site).where(Site.name == name))
    if site is None:
        site = Site(name=name)
        session.add(site)
        session.flush()
        _audit(session, actor, "site.create", "site", site.id, site.id, name=name)
    return site


def _department(session: Session, site: Site, name: str) -> Department | None:
    if not name:
        return None
    dep = session.scalar(select(Department).where(Department.site_id == site.id, Department.name == name))
    if dep is None:
        dep = Department(site_id=site.id, name=name)
        session.add(dep)
        session.flush()
    return dep


def _rule_matches(rule: SiteRule, f: DeviceFacts) -> bool:
    pairs = ((rule.station_name, f.station_name), (rule.ae_title, f.ae_title), (rule.manufacturer, f.manufacturer),
             (rule.serial, f.serial), (rule.modality, f.modality))
    if not any(p for p, _ in pairs):
        return False
    return all(fnmatchcase(v.upper(), p.upper()) for p, v in pairs if p)


def find_device(session: Session, f: DeviceFacts) -> Device | None:
    key = device_key(f)
    return None if key is None else session.scalar(select(Device).where(Device.key == key))


def ensure_device(session: Session, f: DeviceFacts, *, site: str | None = None, department: str | None = None,
                  actor: str = "phantomqc") -> tuple[Device | None, bool]:
    """The device these facts identify, registered if new; returns ``(device, created)``; ``(None, False)``
    when the images carry no identity at all."""
    key = device_key(f)
    if key is None:
        return None, False
    dev = session.scalar(select(Device).where(Device.key == key))
    if dev is not None:
        return dev, False
    how = "command line" if site else "manifest" if f.site else ""
    site_name, dep_name = site or f.site, department or f.department
    if not site_name:
        rules = session.scalars(select(SiteRule).order_by(SiteRule.priority, SiteRule.id)).all()
        rule = next((r for r in rules if _rule_matches(r, f)), None)
        if rule is not None:
            site_name, dep_name, how = rule.site.name, dep_name or rule.department, f"site rule {rule.id}"
    if not site_name:
        site_name, how = UNASSIGNED_SITE, "no site given and no site rule matched"
    s = ensure_site(session, site_name, actor=actor)
    dep = _department(session, s, dep_name or "")
    dev = Device(key=key, site_id=s.id, department_id=dep.id if dep else None,
                 name=f.name or f.station_name or f.serial or f.ae_title, modality=f.modality,
                 manufacturer=f.manufacturer, model=f.model, serial=f.serial, station_name=f.station_name,
                 ae_title=f.ae_title, registered_by=actor)
    session.add(dev)
    session.flush()
    _audit(session, actor, "device.register", "device", dev.id, s.id, key=key, site=site_name, how=how,
           department=dep_name or "")
    return dev, True


def resolve_device(session: Session, device: "Device | int | str") -> Device:
    """A device by row, id, or text matched against key, name, serial, station name and AE title (in that order).

    The one lookup behind every command that takes DEVICE. Raises ``InputError`` when nothing matches (listing the
    known devices) or when a text matches several devices (listing them: give the id)."""
    from phantomqc._shared.errors import InputError

    if isinstance(device, Device):
        return device
    if isinstance(device, int) or (isinstance(device, str) and device.strip().isdigit()):
        row = session.get(Device, int(device))
        if row is not None:
            return row
    text = str(device).strip()
    for col in (Device.key, Device.name, Device.serial, Device.station_name, Device.ae_title):
        rows = session.scalars(select(Device).where(col == text).order_by(Device.id)).all()
        if len(rows) == 1:
            return rows[0]
        if len(rows) > 1:
            names = ", ".join(f"{r.id} ({r.name or r.key})" for r in rows)
            raise InputError(f"device {text!r} is ambiguous: {len(rows)} devices have that {col.key} ({names}); "
                             "give its id instead")
    known = session.scalars(select(Device).order_by(Device.id).limit(20)).all()
    names = ", ".join(f"{d.id} ({d.name or d.key})" for d in known) or "none"
    raise InputError(f"no device named {text!r} in the results store (matched by id, key, name, serial, station "
                     f"name or AE title); known devices: {names}. See `phantomqc device list`")


def resolve_site(session: Session, site: "Site | int | str") -> Site:
    """A site by row, id or name; ``InputError`` naming the known sites when none matches."""
    from phantomqc._shared.errors import InputError

    if isinstance(site, Site):
        return site
    if isinstance(site, int) or (isinstance(site, str) and site.strip().isdigit()):
        row = session.get(Site, int(site))
        if row is not None:
            return row
    row = session.scalars(select(Site).where(Site.name == str(site))).first()
    if row is None:
        known = ", ".join(session.scalars(select(Site.name).order_by(Site.name)).all()) or "none"
        raise InputError(f"no site {site!r} in the results store (known sites: {known})")
    return row
