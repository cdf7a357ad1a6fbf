"""All phantomqc exceptions.

Every message says what was received, what was expected and what to do, and names the file when
there is one. ``except Exception`` is allowed only at the batch boundary (``phantomqc.pipeline``).
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "PhantomQCError",
    "InvalidImageError",
    "DicomAttributeError",
    "PhantomNotFoundError",
    "ProfileError",
    "ManifestError",
    "InputError",
    "AnalysisError",
]


class PhantomQCError(Exception):
    """Base class. ``path`` names the offending file when there is one."""

    error_type = "PhantomQCError"

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        self.cause = message
        full = message if self.path is None else f"{self.path}: {message}"
        super().__init__(full)

    def to_dict(self) -> dict:
        """The ``error`` object of the JSON contract."""
        return {"type": type(self).__name__, "message": str(self), "path": self.path}


class InvalidImageError(PhantomQCError):
    """The file is not a usable image: not DICOM, truncated, no pixel data, bad photometric."""


class DicomAttributeError(PhantomQCError):
    """A DICOM attribute the analysis needs is missing or has an unusable value."""


class PhantomNotFoundError(PhantomQCError):
    """The expected phantom or object is not in the image."""


class ProfileError(PhantomQCError):
    """A standards profile is malformed or unknown."""


class ManifestError(PhantomQCError):
    """An acquisition manifest is malformed. ``line`` and ``field`` point at the problem."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.line = line
        self.field = field
        where = []
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message, path=path)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["line"] = self.line
        d["field"] = self.field
        return d


class InputError(PhantomQCError):
    """The inputs do not fit the requested test (wrong modality, wrong count, missing file)."""


class AnalysisError(PhantomQCError):
    """An analysis could not produce a number from otherwise valid input."""
