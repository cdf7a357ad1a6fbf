"""Scan files, folders and zip archives and group the images into sorted series.

See :func:`scan`. The reading of single files is :mod:`phantomqc.io.read`.
"""

from __future__ import annotations

import math
import os
import sys
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from phantomqc._shared.errors import DicomAttributeError, InputError, InvalidImageError, PhantomQCError
from phantomqc.core.types import ImageData
from phantomqc.io.read import read_frames

__all__ = ["Series", "ScanResult", "scan"]

# Geometry is compared after rounding, so that header round-off (e.g. 0.48828125 vs 0.488281) does not
# split a series: 1e-4 mm and 1e-4 in direction cosines are far below any meaningful difference.
_DECIMALS = 4
# A slice gap that differs from the median gap by more than this fraction is reported as non-uniform.
_GAP_TOLERANCE = 0.01


def _normal(orientation: tuple[float, ...] | None) -> np.ndarray | None:
    if orientation is None or len(orientation) != 6:
        return None
    n = np.cross(np.asarray(orientation[:3], float), np.asarray(orientation[3:], float))
    norm = float(np.linalg.norm(n))
    return None if norm == 0 or not math.isfinite(norm) else n / norm


@dataclass(frozen=True, eq=False)
class Series:
    """The images of one series, sorted, with a consistent matrix, spacing, orientation and modality.

    Parameters
    ----------
    uid : str
        (0020,000E) *Series Instance UID* ("" when the files have none: each such file is its own series).
    modality : str
        (0008,0060) *Modality*.
    images : tuple of ImageData
        Sorted by position along the slice normal when every image has a position and orientation, else by
        (0020,0013) *Instance Number* (then frame index), else by path (then frame index).
    warnings : tuple of str
        What the grouping noticed: a series split because its images differ, duplicate positions, uneven
        slice gaps, duplicate instances dropped.

    Notes
    -----
    Equality is identity (``eq=False``): comparing pixel arrays element-wise is not what ``==`` should do.
    """

    uid: str
    modality: str
    images: tuple[ImageData, ...]
    warnings: tuple[str, ...] = field(default=())

    @cached_property
    def volume(self) -> np.ndarray:
        """The images stacked as a read-only float32 ``(z, y, x)`` array (built once, then cached).

        Returns
        -------
        numpy.ndarray
            C-contiguous float32, ``volume[k]`` is ``images[k].pixels``. It is read-only so that an analyzer
            cannot change the cached copy by accident; take ``.copy()`` to modify it.
        """
        vol = np.stack([im.pixels for im in self.images]).astype(np.float32, copy=False)
        vol.flags.writeable = False
        return vol

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """``(dz, dy, dx)`` in mm.

        Returns
        -------
        tuple of float
            ``dy, dx`` from the images; ``dz`` is the median of the gaps between consecutive positions
            along the slice normal when at least two distinct positions are known, else (0018,0088)
            *Spacing Between Slices* (absolute value), else (0018,0050) *Slice Thickness*.

        Raises
        ------
        DicomAttributeError
            When neither positions, Spacing Between Slices nor Slice Thickness give ``dz``.
        """
        dy, dx = self.images[0].spacing_mm
        projections = self._projections()
        if projections is not None and len(projections) >= 2:
            gaps = np.abs(np.diff(projections))
            gaps = gaps[gaps > 10.0 ** -_DECIMALS]
            if gaps.size:
                return (float(np.median(gaps)), dy, dx)
        meta = self.images[0].meta
        between = meta.extra.get("spacing_between_slices_mm")
        if between is not None and abs(between) > 0:
            return (abs(float(between)), dy, dx)
        if meta.slice_thickness_mm is not None and meta.slice_thickness_mm > 0:
            return (float(meta.slice_thickness_mm), dy, dx)
        raise DicomAttributeError(
            f"series {self.uid or '(no Series Instance UID)'}: the slice spacing is unknown: the images have no "
            f"usable (0020,0032) Image Position (Patient), (0018,0088) Spacing Between Slices or (0018,0050) "
            f"Slice Thickness; re-export the series with its geometry", path=meta.path)

    @property
    def paths(self) -> tuple[str, ...]:
        """The files of the series, in image order, each once."""
        return tuple(dict.fromkeys(im.meta.path for im in self.images))

    def _projections(self) -> np.ndarray | None:
        """Positions along the common slice normal, or None when some image lacks its geometry."""
        normal = _normal(self.images[0].meta.image_orientation_patient)
        if normal is None:
            return None
        out = []
        for im in self.images:
            pos = im.meta.image_position_patient
            if pos is None:
                return None
            out.append(float(np.dot(normal, pos)))
        return np.asarray(out)


@dataclass(frozen=True, eq=False)
class ScanResult:
    """What :func:`scan` found.

    Parameters
    ----------
    series : tuple of Series
        Every good series, ordered by Series Instance UID, then first path.
    errors : tuple of PhantomQCError
        One entry per input that could not be read (its ``path`` names the file or archive member).
    """

    series: tuple[Series, ...]
    errors: tuple[PhantomQCError, ...]


# ----------------------------------------------------------------------------------------------------
# Collecting inputs
# ----------------------------------------------------------------------------------------------------


# Files inside a folder or archive that are documents beside the images, never DICOM: skipped, not errors.
# A file given by name on the command line is always read, whatever its name.
_DOCUMENT_SUFFIXES = (".json", ".toml", ".md", ".txt", ".html", ".htm", ".png", ".jpg", ".jpeg", ".pdf", ".csv",
                      ".xml", ".py", ".log")


def _skipped(name: str) -> bool:
    base = name.rstrip("/").rsplit("/", 1)[-1]
    return base.startswith(".") or base.upper() == "DICOMDIR" or base.lower().endswith(_DOCUMENT_SUFFIXES)


def _hidden_member(member: str) -> bool:
    parts = [p for p in member.split("/") if p]
    return any(p.startswith(".") or p == "__MACOSX" for p in parts) or bool(parts and _skipped(parts[-1]))


def _is_zip_name(name: str) -> bool:
    return name.lower().endswith(".zip")


# An input is either ("file", display, path, None) or ("member", display, None, bytes), or an error.
_Item = tuple[str, str, str | None, bytes | None]


def _zip_items(display: str, source: str | bytes, errors: list[PhantomQCError], depth: int = 0) -> Iterator[_Item]:
    """The members of a zip archive, read into memory one at a time (nested archives are opened too)."""
    import io

    try:
        archive = zipfile.ZipFile(source if isinstance(source, str) else io.BytesIO(source), "r")
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        errors.append(InvalidImageError(f"not a readable zip archive ({exc}); check that the download or copy "
                                        f"finished, or unpack it and scan the folder", path=display))
        return
    with archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.is_dir() or _hidden_member(info.filename):
                continue
            name = f"{display}!{info.filename}"
            try:
                data = archive.read(info)
            except Exception as exc:  # batch boundary: encrypted, unsupported compression, CRC errors ...
                errors.append(InvalidImageError(f"cannot read the archive member: {type(exc).__name__}: {exc}; "
                                                f"unpack the archive and scan the folder", path=name))
                continue
            if _is_zip_name(info.filename) and depth < 4:
                yield from _zip_items(name, data, errors, depth + 1)
            else:
                yield ("member", name, None, data)


def _items(paths: Iterable[str | Path], errors: list[PhantomQCError]) -> Iterator[_Item]:
    seen: set[str] = set()
    for p in paths:
        path = os.fspath(p)
        key = os.path.realpath(path)
        if key in seen:
            continue
        seen.add(key)
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if _skipped(name):
                        continue
                    full = os.path.join(root, name)
                    real = os.path.realpath(full)
                    if real in seen:
                        continue
                    seen.add(real)
                    if _is_zip_name(name):
                        yield from _zip_items(full, full, errors)
                    else:
                        yield ("file", full, full, None)
        elif os.path.isfile(path):
            if _is_zip_name(path):
                yield from _zip_items(path, path, errors)
            else:
                yield ("file", path, path, None)
        else:
            errors.append(InputError("no such file or folder; check the path", path=path))


# ----------------------------------------------------------------------------------------------------
# Grouping and sorting
# ----------------------------------------------------------------------------------------------------


def _round(values, decimals: int = _DECIMALS):
    return None if values is None else tuple(round(float(v), decimals) + 0.0 for v in values)


def _geometry_key(im: ImageData) -> tuple:
    m = im.meta
    return (m.extra.get("frame_of_reference_uid", ""), m.modality, im.pixels.shape, _round(im.spacing_mm),
            _round(m.image_orientation_patient))


def _describe(key: tuple) -> str:
    frame_of_reference, modality, shape, spacing, orientation = key
    text = f"{modality or '?'} {shape[0]}x{shape[1]} at {spacing[0]:g}x{spacing[1]:g} mm"
    if orientation is not None:
        text += f", orientation {'/'.join(f'{v:g}' for v in orientation)}"
    if frame_of_reference:
        text += f", frame of reference {frame_of_reference}"
    return text


def _sorted(images: list[ImageData]) -> tuple[list[ImageData], list[str]]:
    """Sort one consistent group; return the images and warnings about their positions."""
    warnings: list[str] = []
    normal = _normal(images[0].meta.image_orientation_patient)
    positions = [im.meta.image_position_patient for im in images]
    tie = [(im.meta.instance_number if im.meta.instance_number is not None else math.inf, im.meta.path,
            im.meta.frame_index or 0) for im in images]
    if normal is not None and all(p is not None for p in positions):
        proj = [float(np.dot(normal, p)) for p in positions]
        order = sorted(range(len(images)), key=lambda i: (round(proj[i], _DECIMALS), tie[i]))
        z = np.asarray([proj[i] for i in order])
        if len(z) >= 2:
            gaps = np.diff(z)
            n_dup = int(np.sum(np.abs(gaps) <= 10.0 ** -_DECIMALS))
            if n_dup:
                warnings.append(f"{n_dup} of {len(z)} images repeat a slice position "
                                f"already taken; the series may mix acquisitions (echoes, phases or repeats); its "
                                f"volume stacks them in instance-number order at each position")
            real = gaps[np.abs(gaps) > 10.0 ** -_DECIMALS]
            if real.size >= 2:
                med = float(np.median(real))
                if np.max(np.abs(real - med)) > _GAP_TOLERANCE * med:
                    warnings.append(f"uneven slice gaps: {float(real.min()):.4g} to {float(real.max()):.4g} mm "
                                    f"(median {med:.4g} mm); spacing_mm uses the median")
    elif all(im.meta.instance_number is not None for im in images):
        order = sorted(range(len(images)), key=lambda i: tie[i])
    else:
        order = sorted(range(len(images)), key=lambda i: (images[i].meta.path, images[i].meta.frame_index or 0))
    return [images[i] for i in order], warnings


def _group(images: list[ImageData]) -> list[Series]:
    by_uid: dict[str, list[ImageData]] = {}
    for im in images:
        # Files without a Series Instance UID cannot be grouped safely: each is its own series.
        uid = im.meta.series_instance_uid
        by_uid.setdefault(uid if uid else "\0" + im.meta.path, []).append(im)
    out: list[Series] = []
    for key in sorted(by_uid, key=lambda k: (k, by_uid[k][0].meta.path)):
        members = by_uid[key]
        uid = "" if key.startswith("\0") else key
        # Drop the same instance seen twice (a file both in a folder and in an archive, for example).
        unique: dict[tuple, ImageData] = {}
        dropped = 0
        for im in members:
            ident = (im.meta.sop_instance_uid, im.meta.frame_index) if im.meta.sop_instance_uid else (
                im.meta.path, im.meta.frame_index)
            if ident in unique:
                dropped += 1
            else:
                unique[ident] = im
        base_warnings = [f"{dropped} duplicate image(s) (same SOP Instance UID and frame) ignored"] if dropped else []
        parts: dict[tuple, list[ImageData]] = {}
        for im in unique.values():
            parts.setdefault(_geometry_key(im), []).append(im)
        split_note = []
        if len(parts) > 1:
            summary = "; ".join(f"{len(v)} image(s) {_describe(k)}" for k, v in parts.items())
            split_note = [f"inconsistent series {uid or '(no UID)'}: its images differ in matrix, spacing, "
                          f"orientation, modality or frame of reference ({summary}); it was split into "
                          f"{len(parts)} series that each form one volume"]
        for part in sorted(parts.values(), key=lambda v: min(im.meta.path for im in v)):
            ordered, warnings = _sorted(part)
            out.append(Series(uid=uid, modality=ordered[0].meta.modality, images=tuple(ordered),
                              warnings=tuple(base_warnings + split_note + warnings)))
    return out


def scan(paths: Iterable[str | Path], *, progress: bool = False) -> ScanResult:
    """Read files, folders and zip archives and group their images into sorted series.

    Parameters
    ----------
    paths : iterable of str or Path
        Files, folders (searched recursively) and ``.zip`` archives (members read from memory, never
        unpacked to disk). A single string is accepted as one path.
    progress : bool, optional
        Show a progress bar (tqdm) on standard error.

    Returns
    -------
    ScanResult
        ``series``: every good series; ``errors``: one :class:`PhantomQCError` per input that could not be
        read, its ``path`` naming the file or ``"archive.zip!dir/file.dcm"``.

    Notes
    -----
    - Skipped silently: hidden files and folders (name starting with "."), ``DICOMDIR`` files,
      ``__MACOSX`` folders in archives, and documents found inside folders or archives (``.json``, ``.toml``,
      ``.md``, ``.txt``, ``.html``, images such as ``.png``; see ``_DOCUMENT_SUFFIXES``). Everything else is read; a non-DICOM file becomes an error entry.
    - Grouping: by (0020,000E) *Series Instance UID*; files without one are each their own series.
      Within a UID, images are further grouped by frame of reference, modality, matrix, pixel spacing and
      orientation (rounded to 1e-4). **A series whose images differ is split**, not rejected: each part
      becomes its own :class:`Series` (same ``uid``) whose ``warnings`` start with
      ``"inconsistent series <uid>: ..."``, so every image stays analysable and a volume never mixes
      matrices or geometries. Duplicate instances (same SOP Instance UID and frame) are kept once.
    - Sorting: see :class:`Series`.
    - Every frame of a multi-frame file is one image of the series.
    - Input files are opened read-only and never changed.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    errors: list[PhantomQCError] = []
    items: Iterable[_Item] = _items(paths, errors)
    if progress:
        try:
            from tqdm import tqdm

            items = tqdm(items, unit="file", desc="reading DICOM", file=sys.stderr)
        except ImportError:  # progress is a convenience; reading goes on without it
            pass
    images: list[ImageData] = []
    for _kind, display, path, data in items:
        try:
            images.extend(read_frames(path if path is not None else display, data=data))
        except PhantomQCError as exc:
            errors.append(exc)
        except Exception as exc:  # batch boundary: one bad file never stops the scan
            errors.append(InvalidImageError(f"could not read the file: {type(exc).__name__}: {exc}",
                                            path=display))
    return ScanResult(series=tuple(_group(images)), errors=tuple(errors))
