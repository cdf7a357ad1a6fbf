"""DICOM input and output. The only package that imports pydicom or SimpleITK.

Importing :mod:`phantomqc.io` is cheap: pydicom is imported only when one of the names below is first
used (module ``__getattr__``).

- :func:`read_image`, :func:`read_frames`, :func:`read_header` (:mod:`phantomqc.io.read`)
- :func:`scan`, :class:`Series`, :class:`ScanResult` (:mod:`phantomqc.io._scan`)
"""

from __future__ import annotations

from typing import Any

__all__ = ["read_image", "read_frames", "read_header", "scan", "Series", "ScanResult"]

_LAZY = {
    "read_image": "phantomqc.io.read",
    "read_frames": "phantomqc.io.read",
    "read_header": "phantomqc.io.read",
    "scan": "phantomqc.io._scan",
    "Series": "phantomqc.io._scan",
    "ScanResult": "phantomqc.io._scan",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))
