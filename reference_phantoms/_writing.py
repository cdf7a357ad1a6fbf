"""Small writers shared by the phantom makers: TOML values for manifest.toml and a JSON default for truth.json."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

__all__ = ["toml_value", "json_default"]


def toml_value(v: Any) -> str:
    """A Python scalar or list as a TOML value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def json_default(o):
    """``json.dumps(default=...)`` for numpy scalars and arrays."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
