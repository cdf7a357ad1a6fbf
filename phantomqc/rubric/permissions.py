"""Graded QC permissions (seed 001 7.2.2, 分级质控): which role may score which QC form.

The seed says only "为各级角色分配相应的质控项目权限" (assign each level of role its QC items); its figure 13 is not in
the text. The roles and the role -> forms table are therefore data, in ``rules/permissions.toml``, with the choice
and its basis documented there. The packaged roles, lowest level first:

======================  ==========  ======================================================================
id                      label       forms
======================  ==========  ======================================================================
``technologist_qc``     技师质控员  image_quality, film_layout, reconstruction_3d
``reporting_doctor``    报告医生    the above + application
``auditing_doctor``     审核医生    the above + report_quality
``qc_group``            科室质控组  the above + report_review, report_b1, cmr_report, cmr_film, petct_report_elements
``director``            科主任      every form
======================  ==========  ======================================================================

A role may be named by its id, its Chinese label or one of its aliases. Pure functions; the only I/O is reading
the permissions file.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from phantomqc._shared.errors import InputError
from phantomqc.rubric.forms import load_forms
from phantomqc.rubric.scoring import QCRecord, RecordSet

__all__ = ["PERMISSIONS_SCHEMA", "PERMISSIONS_TOML", "Role", "Permissions", "load_permissions", "parse_permissions",
           "may_score", "check_record_permissions"]

PERMISSIONS_SCHEMA = "phantomqc.rubric_permissions/1"
PERMISSIONS_TOML = Path(__file__).with_name("rules") / "permissions.toml"
_TOP_KEYS = {"schema", "seed", "source", "notes", "roles"}
_ROLE_KEYS = {"id", "label", "aliases", "level", "forms", "basis"}


@dataclass(frozen=True)
class Role:
    """One QC role: id, Chinese label, other names, level (1 = lowest) and the forms it may score."""

    id: str
    label: str
    level: int
    forms: frozenset[str]
    aliases: tuple[str, ...] = ()
    basis: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return (self.id, self.label, *self.aliases)

    def to_dict(self) -> dict:
        return {"id": self.id, "label": self.label, "aliases": list(self.aliases), "level": self.level,
                "forms": sorted(self.forms), "basis": self.basis}


@dataclass(frozen=True)
class Permissions:
    """The roles of one permissions file, lowest level first."""

    roles: tuple[Role, ...]
    source: str | None = None

    def role(self, name: str) -> Role:
        """The role named ``name`` (id, label or alias, spaces trimmed).

        Raises
        ------
        InputError
            No role has that name; the message lists the known roles.
        """
        key = name.strip() if isinstance(name, str) else name
        for r in self.roles:
            if key in r.names:
                return r
        known = ", ".join(f"{r.id} ({r.label})" for r in self.roles)
        raise InputError(f"unknown QC role {name!r}; expected one of {known}", path=self.source)

    def to_dict(self) -> dict:
        return {"schema": PERMISSIONS_SCHEMA, "source": self.source, "roles": [r.to_dict() for r in self.roles]}


def _strings(value: Any, where: str, source: str | None, *, allow_empty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or (not value and not allow_empty) or \
            not all(isinstance(v, str) and v.strip() for v in value):
        raise InputError(f"{where} must be a list of non-empty strings, got {value!r}", path=source)
    return tuple(v.strip() for v in value)


def parse_permissions(data: Mapping[str, Any], *, source: str | None = None) -> Permissions:
    """Validate a permissions table (the parsed TOML, or JSON from a workstation).

    Raises
    ------
    InputError
        Unknown keys, a role without id/label/level/forms, a name used by two roles, an unknown form id.
    """
    if not isinstance(data, Mapping):
        raise InputError(f"permissions must be a table, got {type(data).__name__}", path=source)
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise InputError(f"unknown top-level keys {sorted(unknown)}; expected some of {sorted(_TOP_KEYS)}",
                         path=source)
    if "schema" in data and data["schema"] != PERMISSIONS_SCHEMA:
        raise InputError(f"schema is {data['schema']!r}; this version reads {PERMISSIONS_SCHEMA!r}", path=source)
    raw_roles = data.get("roles")
    if not isinstance(raw_roles, list) or not raw_roles:
        raise InputError("no roles; give one [[roles]] table per role", path=source)
    known_forms = load_forms()
    roles, owner = [], {}
    for i, raw in enumerate(raw_roles, start=1):
        where = f"roles[{i}]"
        if not isinstance(raw, Mapping):
            raise InputError(f"{where} must be a table, got {type(raw).__name__}", path=source)
        bad = set(raw) - _ROLE_KEYS
        if bad:
            raise InputError(f"{where} has unknown keys {sorted(bad)}; expected some of {sorted(_ROLE_KEYS)}",
                             path=source)
        for key in ("id", "label"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise InputError(f"{where} needs a non-empty '{key}'", path=source)
        level = raw.get("level")
        if isinstance(level, bool) or not isinstance(level, int) or level < 1:
            raise InputError(f"{where} ('{raw['id']}') level must be a whole number >= 1, got {level!r}",
                             path=source)
        forms = _strings(raw.get("forms"), f"{where} ('{raw['id']}') forms", source, allow_empty=True)
        wrong = [f for f in forms if f not in known_forms]
        if wrong:
            raise InputError(f"role '{raw['id']}' lists unknown forms {wrong}; expected ids among "
                             f"{sorted(known_forms)}", path=source)
        if len(set(forms)) != len(forms):
            raise InputError(f"role '{raw['id']}' lists a form twice: {list(forms)}", path=source)
        aliases = _strings(raw.get("aliases", []), f"{where} ('{raw['id']}') aliases", source, allow_empty=True)
        role = Role(id=raw["id"].strip(), label=raw["label"].strip(), level=level, forms=frozenset(forms),
                    aliases=aliases, basis=str(raw.get("basis", "")))
        if any(r.id == role.id for r in roles):
            raise InputError(f"role id '{role.id}' is defined twice", path=source)
        for name in set(role.names):
            if name in owner:
                raise InputError(f"the name '{name}' is used by roles '{owner[name]}' and '{role.id}'; each role "
                                 f"name must be unique", path=source)
            owner[name] = role.id
        roles.append(role)
    return Permissions(roles=tuple(sorted(roles, key=lambda r: (r.level, r.id))), source=source)


def _read(p: Path) -> Permissions:
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read the permissions file as UTF-8 TOML: {exc}", path=p) from exc
    return parse_permissions(data, source=str(p))


def load_permissions(path: str | Path | None = None) -> Permissions:
    """Read a permissions file (default: the packaged ``rules/permissions.toml``).

    Parameters
    ----------
    path : str or Path, optional
        A TOML file in the format documented in the packaged file.

    Returns
    -------
    Permissions

    Raises
    ------
    InputError
        The file is unreadable or breaks the format (see :func:`parse_permissions`); the message names the file.

    Examples
    --------
    >>> [r.id for r in load_permissions().roles]
    ['technologist_qc', 'reporting_doctor', 'auditing_doctor', 'qc_group', 'director']
    """
    if path is None:
        return _packaged()
    return _read(Path(path))


@functools.lru_cache(maxsize=1)
def _packaged() -> Permissions:
    """The packaged file, read once (it is part of the install, not user data)."""
    return _read(PERMISSIONS_TOML)


def _check_form(form_id: str) -> str:
    forms = load_forms()
    key = form_id.strip() if isinstance(form_id, str) else form_id
    if key not in forms:
        raise InputError(f"unknown form {form_id!r}; expected one of {sorted(forms)}")
    return key


def may_score(role: str, form_id: str, *, permissions: Permissions | None = None) -> bool:
    """Whether ``role`` may score ``form_id`` (seed 001 7.2.2, graded QC).

    Parameters
    ----------
    role : str
        Role id, Chinese label or alias (e.g. ``"reporting_doctor"`` or ``"报告医生"``).
    form_id : str
        A packaged form id (``phantomqc rubric forms``).
    permissions : Permissions, optional
        Default: :func:`load_permissions` ().

    Returns
    -------
    bool

    Raises
    ------
    InputError
        Unknown role or unknown form; the message names it and lists the known ones.

    Examples
    --------
    >>> may_score("报告医生", "image_quality"), may_score("reporting_doctor", "report_quality")
    (True, False)
    """
    perms = load_permissions() if permissions is None else permissions
    r = perms.role(role)
    return _check_form(form_id) in r.forms


def check_record_permissions(records: RecordSet | Iterable[QCRecord], qc_roles: Mapping[str, str], *,
                             permissions: Permissions | None = None, forbid_self_qc: bool = False) -> list[dict]:
    """The QC records scored by someone whose role may not score that form.

    Parameters
    ----------
    records : RecordSet or iterable of QCRecord
        Scored records (:func:`phantomqc.rubric.scoring.read_records`).
    qc_roles : mapping of str to str
        ``qc_person`` -> role (id, label or alias).
    permissions : Permissions, optional
        Default: :func:`load_permissions` ().
    forbid_self_qc : bool
        Also flag records where ``qc_person`` is the scored ``staff`` (reason ``self_qc``). Off by default: the
        seed does not forbid it.

    Returns
    -------
    list of dict
        One violation per offending record, in record order: ``{row, exam_id, form, qc_person, role, reason,
        message}`` with ``reason`` ``"no_qc_person"`` (empty qc_person), ``"unknown_qc_person"`` (not in
        ``qc_roles``; ``role`` None), ``"form_not_permitted"`` or ``"self_qc"``. ``role`` is the role id. Empty when
        every record is allowed.

    Raises
    ------
    InputError
        A role in ``qc_roles`` is unknown (naming the person and the role), or ``records`` holds something other
        than QCRecord objects.

    Examples
    --------
    >>> from phantomqc.rubric.scoring import parse_records
    >>> rs = parse_records([{"exam_id": "E1", "exam_date": "2024-03-02", "device_type": "CT", "staff": "D1",
    ...                      "staff_role": "doctor", "qc_person": "T9", "form": "report_quality"}])
    >>> [v["reason"] for v in check_record_permissions(rs, {"T9": "技师质控员"})]
    ['form_not_permitted']
    """
    perms = load_permissions() if permissions is None else permissions
    if qc_roles is None or not isinstance(qc_roles, Mapping):
        raise InputError(f"qc_roles must map qc_person to role, got {type(qc_roles).__name__}")
    person_role: dict[str, Role] = {}
    for person, role_name in qc_roles.items():
        try:
            person_role[str(person).strip()] = perms.role(role_name)
        except InputError as exc:
            raise InputError(f"qc_roles['{person}']: {exc.cause}", path=exc.path) from None
    items = records.records if isinstance(records, RecordSet) else records
    out = []
    for rec in items:
        if not isinstance(rec, QCRecord):
            raise InputError(f"expected QCRecord objects (from read_records/parse_records), got "
                             f"{type(rec).__name__}")
        base = {"row": rec.row, "exam_id": rec.exam_id, "form": rec.form, "qc_person": rec.qc_person or None}
        who = rec.qc_person.strip()
        if not who:
            out.append({**base, "role": None, "reason": "no_qc_person",
                        "message": f"row {rec.row}: exam '{rec.exam_id}' form '{rec.form}' has no qc_person, so "
                                   f"its permission cannot be checked"})
            continue
        role = person_role.get(who)
        if role is None:
            out.append({**base, "role": None, "reason": "unknown_qc_person",
                        "message": f"row {rec.row}: qc_person '{who}' has no role in qc_roles; add them"})
            continue
        if rec.form not in role.forms:
            allowed = ", ".join(sorted(role.forms)) or "none"
            out.append({**base, "role": role.id, "reason": "form_not_permitted",
                        "message": f"row {rec.row}: qc_person '{who}' ({role.label}) may not score form "
                                   f"'{rec.form}'; that role may score: {allowed}"})
        elif forbid_self_qc and who == rec.staff:
            out.append({**base, "role": role.id, "reason": "self_qc",
                        "message": f"row {rec.row}: qc_person '{who}' scored their own exam '{rec.exam_id}'"})
    return out
