"""Registries of metric ids and test kinds, as data.

Each modality package declares its metrics in ``<family>/metrics.py`` (``METRICS``) and its test kinds
in ``<family>/kinds.py`` (``KINDS``). ``phantomqc metrics`` and ``phantomqc kinds`` print them; the
manifest parser validates against the kinds, and ``Measurement`` ids are checked against the metrics in
the tests. Importing the registry imports only those small data modules, never an analyzer.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MetricDef", "FieldDef", "KindDef", "TestOutput", "all_metrics", "all_kinds", "get_kind",
           "FAMILIES"]

FAMILIES: tuple[str, ...] = ("dr", "ct", "mr", "pet_spect")


@dataclass(frozen=True)
class MetricDef:
    """One reported quantity: id, unit, definition (with the formula) and source (standard and clause)."""

    id: str
    unit: str
    definition: str
    source: str
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldDef:
    """One manifest field of a test kind.

    ``type`` is one of ``float``, ``int``, ``str``, ``bool``, ``float_list``, ``str_list``, ``path_list``,
    ``table`` (a TOML inline table). ``per_image`` fields are lists with one entry per image.
    """

    name: str
    type: str
    doc: str
    required: bool = False
    default: Any = None
    choices: tuple = ()
    per_image: bool = False
    unit: str = ""


@dataclass(frozen=True)
class KindDef:
    """A test kind: what a ``[[test]]`` block of the manifest asks for."""

    name: str
    summary: str
    modalities: tuple[str, ...]
    runner: str  # "module:function"
    min_images: int = 1
    max_images: int | None = None
    fields: tuple[FieldDef, ...] = ()
    metrics: tuple[str, ...] = ()
    images_doc: str = ""

    def field(self, name: str) -> FieldDef | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def load_runner(self):
        module, func = self.runner.split(":")
        return getattr(importlib.import_module(module), func)


@dataclass(frozen=True)
class TestOutput:
    """What a test runner returns: measurements plus what the report needs to draw them."""

    measurements: tuple
    details: Any = None
    visuals: tuple = ()
    warnings: tuple[str, ...] = ()
    parameters: dict = field(default_factory=dict)
    phantom: str | None = None
    analyzer: str = ""


def _family_attr(family: str, module: str, attr: str) -> tuple:
    try:
        mod = importlib.import_module(f"phantomqc.{family}.{module}")
    except ModuleNotFoundError as exc:
        if exc.name == f"phantomqc.{family}.{module}":
            return ()
        raise
    return tuple(getattr(mod, attr, ()))


def all_metrics() -> dict[str, MetricDef]:
    out: dict[str, MetricDef] = {}
    for fam in FAMILIES:
        for m in _family_attr(fam, "metrics", "METRICS"):
            if m.id in out:
                raise RuntimeError(f"metric id {m.id} declared twice")
            out[m.id] = m
    return out


def all_kinds() -> dict[str, KindDef]:
    out: dict[str, KindDef] = {}
    for fam in FAMILIES:
        for k in _family_attr(fam, "kinds", "KINDS"):
            if k.name in out:
                raise RuntimeError(f"test kind {k.name} declared twice")
            out[k.name] = k
    return out


def get_kind(name: str) -> KindDef | None:
    return all_kinds().get(name)
