"""Check and order one MR series, and collect the acquisition parameters the MR analyzers and reports need.

``mr_series(images)`` sorts the images along the slice normal (the cross product of the two
*Image Orientation (Patient)* (0020,0037) direction cosines, dotted with *Image Position (Patient)* (0020,0032)),
names the orientation (axial / sagittal / coronal), recognises localisers, and records field strength, imaging
frequency, TR/TE/flip angle, pixel bandwidth, averages and matrix.

MR header fields
----------------
``phantomqc.io.read`` does not decode the MR acquisition attributes into ``ImageMeta``. ``mr_series`` looks for
them first in ``meta.extra`` under the keys of :data:`MR_EXTRA_KEYS` (so that ``io.read`` can add them later
without a change here), else reads them from the file named by ``meta.path`` (header only, pixels skipped),
looking at the top level, then the *Shared* and *Per-frame Functional Groups* (enhanced MR) for the image's frame.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from phantomqc.io._mr_tags import MR_EXTRA_KEYS, mr_fields
from phantomqc._shared.errors import InputError
from phantomqc.core.types import ImageData

__all__ = ["MR_EXTRA_KEYS", "MrSeries", "is_localizer", "mr_series", "orientation_of"]


_LOCALIZER_WORDS = re.compile(r"(locali[sz]er|\bloc\b|_loc\b|scout|survey|tri-?pilot|3[- ]?plane|\bpilot\b|"
                              r"aahead_scout|localizer)", re.IGNORECASE)


@dataclass(frozen=True)
class MrSeries:
    """One MR series ordered along its slice normal, with its acquisition parameters.

    ``position_mm[i]`` is image ``i``'s position along ``normal`` (increasing). ``orientation`` is ``"axial"``,
    ``"sagittal"``, ``"coronal"`` (the patient axis closest to the normal; ``obliquity_deg`` the angle between
    them) or ``"mixed"`` (images of several orientations, e.g. a 3-plane localiser; then ordered by instance
    number). ``frequency_hz`` is (0018,0084) *Imaging Frequency* converted from MHz. ``phase_encoding``
    is ``"ROW"`` (phase encoded along x, left-right on screen) or ``"COL"`` (along y) as (0018,1312) says, else
    ``""``. ``matrix`` is ``(rows, columns)`` of the image; ``acquisition_matrix`` the (0018,1310) four numbers.
    """

    images: tuple[ImageData, ...]
    position_mm: tuple[float, ...]
    normal: tuple[float, float, float] | None
    orientation: str
    obliquity_deg: float | None
    spacing_mm: tuple[float, float]
    matrix: tuple[int, int]
    slice_thickness_mm: float | None
    slice_spacing_mm: float | None
    field_strength_t: float | None
    frequency_hz: float | None
    tr_ms: float | None
    te_ms: float | None
    flip_deg: float | None
    bandwidth_hz_per_px: float | None
    averages: float | None
    acquisition_matrix: tuple[int, ...] | None
    phase_encoding: str
    is_localizer: bool
    localizer_reason: str
    manufacturer: str
    series_description: str
    protocol_name: str
    header_source: str
    warnings: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)

    @property
    def volume(self) -> np.ndarray:
        """``(z, y, x)`` float32 stack in series order."""
        return np.stack([im.pixels for im in self.images]).astype(np.float32, copy=False)

    @property
    def n_images(self) -> int:
        return len(self.images)

    @property
    def path(self) -> str:
        return self.images[0].meta.path if self.images else ""


def orientation_of(iop: Sequence[float] | None) -> tuple[str, tuple[float, float, float] | None, float | None]:
    """``(name, unit normal, obliquity in degrees)`` of an *Image Orientation (Patient)* value.

    The normal is ``row cosines x column cosines``; the name is the patient axis it lies closest to
    (x: sagittal, y: coronal, z: axial).
    """
    if iop is None or len(iop) != 6:
        return "unknown", None, None
    r = np.asarray(iop[:3], dtype=float)
    c = np.asarray(iop[3:], dtype=float)
    n = np.cross(r, c)
    norm = float(np.linalg.norm(n))
    if not norm > 0.5:
        return "unknown", None, None
    n = n / norm
    k = int(np.argmax(np.abs(n)))
    obl = math.degrees(math.acos(min(1.0, abs(float(n[k])))))
    return ("sagittal", "coronal", "axial")[k], (float(n[0]), float(n[1]), float(n[2])), obl


def is_localizer(image: ImageData) -> tuple[bool, str]:
    """Whether ``image`` is a localiser (scout/survey), and why.

    Evidence, in order: (0008,0008) *Image Type* contains ``LOCALIZER``; the series description or protocol name
    names a localiser (localizer, scout, survey, tripilot, 3-plane, loc); else False.
    """
    meta = image.meta
    itype = tuple(str(v).upper() for v in meta.extra.get("image_type", ()))
    if "LOCALIZER" in itype:
        return True, "(0008,0008) Image Type contains LOCALIZER"
    for what, text in (("(0008,103E) Series Description", meta.series_description),
                       ("(0018,1030) Protocol Name", str(meta.extra.get("protocol_name", "")))):
        if text and _LOCALIZER_WORDS.search(text):
            return True, f"{what} {text!r} names a localiser"
    return False, ""


# ---- header fields ------------------------------------------------------------------------------------------------


def _read_header_dataset(path: str):
    """The pydicom dataset of ``path`` without pixels, or None when the file cannot be read (a name only)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    p = Path(path)
    if not p.is_file():
        return None
    try:
        return pydicom.dcmread(p, stop_before_pixels=True, force=True)
    except (InvalidDicomError, OSError, ValueError, TypeError, AttributeError, EOFError):
        return None




def _header_fields(image: ImageData) -> tuple[dict[str, Any], str]:
    """MR acquisition fields of ``image``: from ``meta.extra`` when io.read provided them, else from the file."""
    extra = image.meta.extra
    out: dict[str, Any] = {}
    missing = [k for k in MR_EXTRA_KEYS if k not in extra]
    for k in MR_EXTRA_KEYS:
        if k in extra:
            out[k] = extra[k]
    if not missing or extra.get("mr_fields_read"):
        return out, "meta.extra"
    ds = _read_header_dataset(image.meta.path)
    if ds is None:
        return out, "meta.extra (file not readable: MR acquisition fields unknown)"
    out.update(mr_fields(ds, image.meta.frame_index, missing))
    return out, "file header (pydicom, pixels skipped)"


def _first(values: list, key: str) -> Any:
    for v in values:
        if v.get(key) is not None:
            return v[key]
    return None


def mr_series(images: Sequence[ImageData], *, kind: str = "mr", single_sagittal_is_localizer: bool = False) -> MrSeries:
    """Validate ``images`` as one MR series, order them along the slice normal and collect its parameters.

    Parameters
    ----------
    images : sequence of ImageData
        The images (or enhanced-MR frames from :func:`phantomqc.io.read.read_frames`) of one series.
    kind : str
        Name of the caller, for messages.
    single_sagittal_is_localizer : bool
        Treat a series of one sagittal image as a localiser even without header evidence (the ACR sagittal
        localiser of an ACR session). Off by default: a MagNET sagittal flood image is one sagittal image too.

    Returns
    -------
    MrSeries

    Raises
    ------
    InputError
        No images, a non-MR image, or images of different matrix or pixel spacing.

    Notes
    -----
    Order: position ``p = IPP . n`` with ``n = row x column`` cosines of (0020,0037); without orientation, (0020,1041)
    *Slice Location*, then (0020,0013) *Instance Number* (each fallback adds a warning). Images of several
    orientations (3-plane localiser) keep instance-number order and ``orientation = "mixed"``.
    Slice spacing: the median step between sorted positions (0 steps, i.e. repeated positions, are warned about).
    """
    if not images:
        raise InputError(f"{kind} needs the images of one MR series; none were given")
    warnings: list[str] = []
    for im in images:
        if im.meta.modality and im.meta.modality != "MR":
            raise InputError(f"{kind} analyses MR images; this image has (0008,0060) Modality "
                             f"'{im.meta.modality}'. Give an MR series of the phantom", path=im.meta.path)
    first = images[0]
    for im in images[1:]:
        if im.pixels.shape != first.pixels.shape or not np.allclose(im.spacing_mm, first.spacing_mm, rtol=1e-4):
            raise InputError(f"{kind}: the images do not form one series: {im.meta.path} is {im.pixels.shape} at "
                             f"{im.spacing_mm} mm, {first.meta.path} is {first.pixels.shape} at {first.spacing_mm} "
                             "mm. Give one series per test", path=im.meta.path)

    orients = [orientation_of(im.meta.image_orientation_patient) for im in images]
    names = {o[0] for o in orients}
    normal = orients[0][1]
    obliquity = orients[0][2]
    positions: list[float]
    if len(names) > 1:
        orientation = "mixed"
        order = sorted(range(len(images)), key=lambda i: (images[i].meta.instance_number or 0, i))
        positions = [float("nan")] * len(images)
        warnings.append(f"images of several orientations ({', '.join(sorted(names))}): kept in instance-number order")
    elif normal is not None and all(im.meta.image_position_patient is not None for im in images):
        orientation = orients[0][0]
        n = np.asarray(normal)
        positions = [float(np.dot(np.asarray(im.meta.image_position_patient), n)) for im in images]
        order = sorted(range(len(images)), key=lambda i: (positions[i], images[i].meta.instance_number or 0))
    else:
        orientation = orients[0][0]
        locs = [im.meta.extra.get("slice_location_mm") for im in images]
        if all(v is not None for v in locs):
            positions = [float(v) for v in locs]
            warnings.append("no (0020,0032)/(0020,0037) geometry: ordered by (0020,1041) Slice Location")
        else:
            positions = [float(im.meta.instance_number or i) for i, im in enumerate(images)]
            warnings.append("no (0020,0032)/(0020,0037) geometry or (0020,1041) Slice Location: ordered by "
                            "(0020,0013) Instance Number")
        order = sorted(range(len(images)), key=lambda i: positions[i])
    if obliquity is not None and obliquity > 10.0 and orientation != "mixed":
        warnings.append(f"the slices are {obliquity:.1f} deg oblique to the {orientation} plane")

    imgs = tuple(images[i] for i in order)
    pos = tuple(positions[i] for i in order)
    steps = np.diff(np.asarray(pos, dtype=float)) if len(pos) > 1 else np.array([])
    steps = steps[np.isfinite(steps)]
    slice_spacing = float(np.median(steps)) if steps.size else None
    if steps.size and np.any(np.abs(steps) < 1e-3):
        warnings.append(f"{int(np.sum(np.abs(steps) < 1e-3))} repeated slice position(s): several acquisitions of "
                        "one slice in this series")
    elif steps.size > 1 and np.ptp(steps) > 0.05 * max(abs(slice_spacing or 0), 1e-6):
        warnings.append(f"uneven slice spacing ({steps.min():.2f} to {steps.max():.2f} mm)")

    fields_list = []
    sources = set()
    for im in imgs:
        f, src = _header_fields(im)
        fields_list.append(f)
        sources.add(src)
    hdr = fields_list[0]
    for key in ("repetition_time_ms", "echo_time_ms", "flip_angle_deg", "pixel_bandwidth_hz"):
        vals = {f.get(key) for f in fields_list if f.get(key) is not None}
        if len(vals) > 1:
            warnings.append(f"{key} differs between images: {sorted(vals)}")

    freq_mhz = _first(fields_list, "imaging_frequency_mhz")
    te = _first(fields_list, "echo_time_ms")
    if te is None:
        te = _first(fields_list, "effective_echo_time_ms")
    pe = str(_first(fields_list, "phase_encoding_direction") or "").upper()
    pe = pe if pe in ("ROW", "COL") else ""

    loc_flags = [is_localizer(im) for im in imgs]
    loc, reason = loc_flags[0]
    if not loc and single_sagittal_is_localizer and len(imgs) == 1 and orientation == "sagittal":
        loc, reason = True, "a single sagittal image (the ACR sagittal localiser)"
    if not loc and orientation == "mixed":
        loc, reason = True, "images of several orientations (a 3-plane localiser)"

    thickness = first.meta.slice_thickness_mm
    spacing_between = _first(fields_list, "spacing_between_slices_mm")
    return MrSeries(
        images=imgs, position_mm=pos, normal=normal, orientation=orientation, obliquity_deg=obliquity,
        spacing_mm=first.spacing_mm, matrix=(int(first.pixels.shape[0]), int(first.pixels.shape[1])),
        slice_thickness_mm=thickness,
        slice_spacing_mm=slice_spacing if slice_spacing is not None else spacing_between,
        field_strength_t=_first(fields_list, "magnetic_field_strength_t"),
        frequency_hz=None if freq_mhz is None else float(freq_mhz) * 1e6,
        tr_ms=_first(fields_list, "repetition_time_ms"), te_ms=te,
        flip_deg=_first(fields_list, "flip_angle_deg"),
        bandwidth_hz_per_px=_first(fields_list, "pixel_bandwidth_hz"),
        averages=_first(fields_list, "number_of_averages"),
        acquisition_matrix=_first(fields_list, "acquisition_matrix"),
        phase_encoding=pe, is_localizer=loc, localizer_reason=reason,
        manufacturer=first.meta.manufacturer, series_description=first.meta.series_description,
        protocol_name=str(first.meta.extra.get("protocol_name", "")),
        header_source="; ".join(sorted(sources)), warnings=tuple(warnings),
        extra={k: v for k, v in hdr.items() if k not in ("imaging_frequency_mhz",)},
    )
