"""One reader for the rubric layer's table files (QC records, exam lists, NM cases, readings): CSV or JSON, UTF-8."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Mapping, Sequence

from phantomqc._shared.errors import InputError

__all__ = ["read_table"]


def read_table(path: str | Path, *, what: str, key: str, required: Sequence[str] = ()) -> tuple[list, int]:
    """Read a table file as a list of rows, and the row number of its first row.

    A ``.csv`` file has a header row (row 1; the first data row is row 2, as a spreadsheet shows it) that must hold
    the ``required`` columns; a ``.json`` file is a list of objects, or an object with a ``key`` list (first row 1).
    Raises :class:`InputError` naming the file when the file as a whole is unusable (missing, not UTF-8, not JSON,
    wrong header, unknown suffix); bad *rows* are the caller's to report.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the {what} as UTF-8 text: {exc}", path=path) from exc
    suffix = path.suffix.lower()
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in required if c not in header]
        if missing:
            raise InputError(f"CSV header lacks columns {missing}; the {what} needs {', '.join(required)}", path=path)
        reader.fieldnames = header
        return list(reader), 2
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc}", path=path) from exc
        if isinstance(data, Mapping):
            data = data.get(key)
        if not isinstance(data, list):
            raise InputError(f"expected a JSON list of {what} rows, or an object with a '{key}' list", path=path)
        return data, 1
    raise InputError(f"unknown {what} file type '{path.suffix}'; expected .csv or .json", path=path)
