"""The acquisition manifest ``phantomqc.manifest/1``: facts that are not in the images.

A manifest is a TOML file beside the images (paths are relative to it). It names the standards profile,
the test type, optional baseline and manufacturer-specification values, and one ``[[test]]`` block per
test, whose fields are documented per kind by ``phantomqc kinds``.

Validation happens before any analysis runs. Problems of the whole file (TOML syntax, schema, profile,
test type) raise ``ManifestError``. Problems of one test (unknown kind or field, missing file, wrong
number of per-image values) are collected per test with the line and field, so the other tests of the
manifest still run and the bad one gets its error entry.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from phantomqc._shared.errors import ManifestError
from phantomqc.core.registry import FieldDef, KindDef, all_kinds
from phantomqc.core.types import TEST_TYPES

__all__ = ["MANIFEST_SCHEMA", "Manifest", "TestSpec", "load_manifest", "expand_image_paths"]

MANIFEST_SCHEMA = "phantomqc.manifest/1"
_TOP_KEYS = {"schema", "profile", "test_type", "device", "test", "baseline", "spec", "site", "notes"}
_DEVICE_KEYS = {"name", "serial", "station", "manufacturer", "model", "site", "department", "ae_title"}
_COMMON_TEST_KEYS = {"kind", "images", "name"}


@dataclass(frozen=True)
class TestSpec:
    """One ``[[test]]`` block after validation. ``error`` is set when this test cannot run."""

    index: int
    kind: str
    images: tuple[Path, ...]
    params: dict
    line: int | None
    name: str = ""
    error: ManifestError | None = None


@dataclass(frozen=True)
class Manifest:
    path: Path
    profile: str | None
    test_type: str | None
    tests: tuple[TestSpec, ...]
    device: dict = field(default_factory=dict)
    baseline: dict = field(default_factory=dict)
    spec: dict = field(default_factory=dict)


class _Lines:
    """Maps TOML keys back to line numbers (tomllib does not keep them)."""

    _header = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-\"]+)\s*\]\]?\s*(#.*)?$")

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.test_starts = [i + 1 for i, ln in enumerate(self.lines) if re.match(r"^\s*\[\[\s*test\s*\]\]", ln)]
        self.first_header = next((i + 1 for i, ln in enumerate(self.lines) if self._header.match(ln)),
                                 len(self.lines) + 1)

    def _block(self, test_index: int | None) -> tuple[int, int]:
        if test_index is None:
            return 1, self.first_header
        start = self.test_starts[test_index] if test_index < len(self.test_starts) else 1
        end = len(self.lines) + 1
        for i in range(start, len(self.lines)):
            if self._header.match(self.lines[i]):
                end = i + 1
                break
        return start, end

    def of(self, key: str | None, test_index: int | None = None) -> int | None:
        start, end = self._block(test_index)
        if key is None:
            return start if test_index is not None else None
        pat = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
        for ln in range(start, min(end, len(self.lines) + 1)):
            if pat.match(self.lines[ln - 1]):
                return ln
        return start if test_index is not None else None


def expand_image_paths(entries: list[str], base: Path) -> list[Path]:
    """Resolve image entries relative to ``base``; a folder stands for the files in it (recursively, sorted,
    hidden files skipped). Raises ``FileNotFoundError`` naming the first missing entry."""
    out: list[Path] = []
    for e in entries:
        p = (base / e) if not Path(e).is_absolute() else Path(e)
        if p.is_dir():
            files = sorted(q for q in p.rglob("*") if q.is_file() and not any(part.startswith(".")
                                                                               for part in q.relative_to(p).parts))
            out.extend(files)
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(str(p))
    return out


def _check_type(fd: FieldDef, value: Any) -> str | None:
    """Return a description of what is wrong, or None."""
    def is_num(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    t = fd.type
    if t == "float" and not is_num(value):
        return f"must be a number{f' in {fd.unit}' if fd.unit else ''}, got {value!r}"
    if t == "int" and not (isinstance(value, int) and not isinstance(value, bool)):
        return f"must be an integer, got {value!r}"
    if t == "bool" and not isinstance(value, bool):
        return f"must be true or false, got {value!r}"
    if t == "str" and not isinstance(value, str):
        return f"must be a string, got {value!r}"
    if t == "float_list":
        if is_num(value) and not fd.per_image:
            return None
        if not isinstance(value, list) or not all(is_num(v) for v in value):
            return f"must be a list of numbers{f' in {fd.unit}' if fd.unit else ''}, got {value!r}"
    if t in ("str_list", "path_list") and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
        return f"must be a list of strings, got {value!r}"
    if t == "table" and not isinstance(value, dict):
        return f"must be a table, got {value!r}"
    if fd.choices and value not in fd.choices:
        return f"must be one of {', '.join(map(str, fd.choices))}, got {value!r}"
    return None


def _validate_test(i: int, raw: dict, kinds: dict[str, KindDef], base: Path, lines: _Lines,
                   where: Path) -> TestSpec:
    line = lines.of(None, i)

    def err(msg: str, key: str | None = None) -> TestSpec:
        e = ManifestError(f"test #{i + 1}: {msg}", path=where, line=lines.of(key, i) if key else line, field=key)
        return TestSpec(i, str(raw.get("kind", "")), (), {}, line, str(raw.get("name", "")), e)

    kind_name = raw.get("kind")
    if not isinstance(kind_name, str):
        return err("missing 'kind' (e.g. kind = \"dr.dark_noise\"); see `phantomqc kinds`", "kind")
    kind = kinds.get(kind_name)
    if kind is None:
        close = [k for k in kinds if k.split(".")[0] == kind_name.split(".")[0]]
        hint = f" Kinds of that modality: {', '.join(close)}." if close else ""
        return err(f"unknown kind {kind_name!r}.{hint} See `phantomqc kinds`", "kind")
    images = raw.get("images")
    if images is None and kind.min_images == 0:
        images = []  # a kind that needs no image (e.g. ct.ctdi: dosimeter readings only) may omit 'images'
    if isinstance(images, str):
        images = [images]
    if not isinstance(images, list) or not all(isinstance(x, str) for x in images) or \
            (not images and kind.min_images > 0):
        if kind.min_images == 0:
            return err(f"'images' must be a list of file or folder paths relative to the manifest, or left out "
                       f"({kind_name} needs no image), got {images!r}", "images")
        return err("'images' must be a non-empty list of file or folder paths relative to the manifest", "images")
    try:
        paths = expand_image_paths(images, base)
    except FileNotFoundError as exc:
        return err(f"image file not found: {exc.args[0]}", "images")
    n = len(paths)
    if n < kind.min_images or (kind.max_images is not None and n > kind.max_images):
        want = (f"exactly {kind.min_images}" if kind.min_images == kind.max_images else
                f"at least {kind.min_images}" if kind.max_images is None else
                f"{kind.min_images} to {kind.max_images}")
        return err(f"{kind_name} needs {want} image(s), got {n}", "images")
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _COMMON_TEST_KEYS:
            continue
        fd = kind.field(key)
        if fd is None:
            known = ", ".join(f.name for f in kind.fields) or "none"
            return err(f"unknown field {key!r} for kind {kind_name}; its fields are: {known}", key)
        problem = _check_type(fd, value)
        if problem:
            return err(f"{key} {problem}", key)
        if fd.per_image:
            vals = value if isinstance(value, list) else [value]
            if len(vals) != n:
                return err(f"{key} has {len(vals)} value(s) for {n} image(s); give one per image, in the order "
                           f"of 'images'", key)
        if fd.type == "path_list":
            try:
                value = expand_image_paths(value, base)
            except FileNotFoundError as exc:
                return err(f"file not found: {exc.args[0]}", key)
        params[key] = value
    for fd in kind.fields:
        if fd.name not in params:
            if fd.required:
                return err(f"{kind_name} needs the field {fd.name!r}: {fd.doc}", fd.name)
            params[fd.name] = fd.default
    return TestSpec(i, kind_name, tuple(paths), params, line, str(raw.get("name", "")))


def _numeric_table(tbl: Any, name: str, where: Path, lines: _Lines) -> dict:
    if tbl is None:
        return {}
    if not isinstance(tbl, dict):
        raise ManifestError(f"'{name}' must be a table of metric id = number", path=where, line=lines.of(name),
                            field=name)
    out = {}
    for k, v in tbl.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise ManifestError(f"{name} value for {k!r} must be a number, got {v!r}", path=where,
                                line=lines.of(name), field=f"{name}.{k}")
        out[str(k)] = float(v)
    return out


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest. See the module docstring for what raises and what is collected."""
    where = Path(path)
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError("manifest file not found", path=where) from None
    except UnicodeDecodeError:
        raise ManifestError("not a text (UTF-8) file; a manifest is TOML", path=where) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ManifestError(f"not valid TOML: {exc}", path=where, line=int(m.group(1)) if m else None) from None
    lines = _Lines(text)
    schema = data.get("schema")
    if schema != MANIFEST_SCHEMA:
        raise ManifestError(f"'schema' must be \"{MANIFEST_SCHEMA}\", got {schema!r}", path=where,
                            line=lines.of("schema"), field="schema")
    for key in data:
        if key not in _TOP_KEYS:
            raise ManifestError(f"unknown top-level key {key!r}; allowed: {', '.join(sorted(_TOP_KEYS))}",
                                path=where, line=lines.of(key), field=key)
    test_type = data.get("test_type")
    if test_type is not None and test_type not in TEST_TYPES:
        raise ManifestError(f"'test_type' must be one of {', '.join(TEST_TYPES)}, got {test_type!r}", path=where,
                            line=lines.of("test_type"), field="test_type")
    profile = data.get("profile")
    if profile is not None and not isinstance(profile, str):
        raise ManifestError("'profile' must be a profile id string", path=where, line=lines.of("profile"),
                            field="profile")
    device = data.get("device", {})
    if not isinstance(device, dict) or any(k not in _DEVICE_KEYS for k in device):
        bad = [k for k in device] if isinstance(device, dict) else []
        raise ManifestError(f"[device] may have {', '.join(sorted(_DEVICE_KEYS))}; got {bad}", path=where,
                            field="device")
    baseline = _numeric_table(data.get("baseline"), "baseline", where, lines)
    spec = _numeric_table(data.get("spec"), "spec", where, lines)
    raw_tests = data.get("test", [])
    if not isinstance(raw_tests, list) or not raw_tests:
        raise ManifestError("no [[test]] block: a manifest lists at least one test", path=where, field="test")
    kinds = all_kinds()
    tests = tuple(_validate_test(i, t, kinds, where.parent, lines, where) for i, t in enumerate(raw_tests))
    return Manifest(path=where, profile=profile, test_type=test_type, tests=tests, device=dict(device),
                    baseline=baseline, spec=spec)
