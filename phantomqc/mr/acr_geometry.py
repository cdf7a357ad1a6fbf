"""ACR large MRI phantom: geometric accuracy (phantom lengths on slices 1 and 5 and the sagittal localiser).

Method (sub-pixel edges, never pixel counting)
----------------------------------------------
For a direction ``theta`` (phantom frame of :mod:`phantomqc.mr.geometry`: 0 deg = horizontal, angles clockwise on
the screen) the length is measured along the line through the phantom centre:

1. **Profiles.** For each end (``-u`` and ``+u``) the image is read along ``2 n + 1`` parallel lines at
   perpendicular offsets ``s = -half_span .. +half_span`` (step ``line_step_mm``), from the centre outward in steps
   of 1/4 of the pixel, by bilinear interpolation.
2. **Edge of one line.** The outermost sample above a coarse level (half-way between the image's background and
   its bright phantom pixels) gives a rough edge ``r0``; the plateau ``P`` is the median of the profile 3 to 8 mm
   inside ``r0``, the background ``B`` the median 3 to 10 mm outside. The edge is where the profile crosses
   ``(P + B) / 2``, by linear interpolation between the two samples around the crossing (the full width at half
   maximum convention of the ACR guidance, at sub-pixel precision).
3. **Edge at the centre line.** The edge distances ``e(s)`` of one end are fitted by a quadratic in ``s``
   (a circle of radius R gives ``e(s) = R - s^2 / (2 R)`` to 0.03 mm over +-20 mm), with iterative rejection of
   lines whose edge lies more than ``max(4 x 1.4826 MAD, 0.3 mm)`` from the fit, after first dropping those more
   than 3 mm inside the median. This is what lets the length be read where an insert touches the wall on the
   centre line: the slice-position bars at 12 o'clock of slices 1 and 11 (about 12 mm wide, dark from the wall
   down), the notch at the top of slice 5. The fit's value at ``s = 0`` is the edge.
4. **Length** = ``e_plus(0) + e_minus(0)``; uncertainty from the two fits' standard errors at ``s = 0``.

The sagittal S-I length uses the same per-line edges along the S-I axis over a wider band (80 % of the phantom's
A-P extent, lines 1 mm apart) and a straight-line fit per end (the ends of the cylinder are flat).

Limits (ACR, for the standards layer): 190 +- 2 mm in-plane, 148 +- 2 mm S-I.

Measurement ids: ``mr.geometry.length_mm`` with labels ``slice1_horizontal``, ``slice1_vertical``,
``slice5_horizontal``, ``slice5_vertical``, ``slice5_diagonal1`` (135 deg: bottom-left to top-right),
``slice5_diagonal2`` (45 deg: top-left to bottom-right), ``sagittal_si``.

References
----------
ACR, *Large and Medium Phantom Test Guidance for the ACR MRI Accreditation Program* (2018, 2022): geometric
accuracy on the sagittal localiser and on slices 1 and 5. IPEM Report 112 (2014), geometric linearity.
"""

from __future__ import annotations

import math
import warnings as _warnings
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from phantomqc._shared.errors import AnalysisError, InputError, PhantomNotFoundError
from phantomqc.core.types import Quantity

__all__ = ["DIRECTION_LABELS", "GeometricAccuracyResult", "LengthLine", "acr_lengths", "sagittal_length"]

#: label suffix of each direction (deg, phantom frame: clockwise on screen from 3 o'clock)
#: diagonal1 runs from bottom-left (SW) to top-right, diagonal2 from top-left to bottom-right (SE), the order of
#: hazen's "SW" and "SE" diagonals (checked on the real series: the other order disagrees by up to 1.3 mm)
DIRECTION_LABELS: dict[float, str] = {0.0: "horizontal", 90.0: "vertical", 135.0: "diagonal1", 45.0: "diagonal2"}


@dataclass(frozen=True)
class LengthLine:
    """One measured length.

    ``start_px`` / ``end_px``: (row, col) of the two edges on the centre line (for drawing). ``positions``: the
    rays' angular offsets from the measured direction (deg; diameters) or the parallel lines' offsets (mm; sagittal
    length); ``edges_minus_mm`` / ``edges_plus_mm``: each ray's (line's) edge distance from the centre (line) at
    the ``-u`` / ``+u`` end (NaN where none was found); ``used_minus`` / ``used_plus``: those kept by the fit.
    """

    label: str
    angle_deg: float
    length_mm: Quantity
    start_px: tuple[float, float]
    end_px: tuple[float, float]
    positions: NDArray
    edges_minus_mm: NDArray
    edges_plus_mm: NDArray
    used_minus: NDArray
    used_plus: NDArray


@dataclass(frozen=True)
class GeometricAccuracyResult:
    """Phantom lengths (``mr.geometry.length_mm``), keyed by label, with the lines used."""

    lengths_mm: dict[str, Quantity]
    lines: tuple[LengthLine, ...]
    center_px: tuple[float, float]
    parameters: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------- shared helpers

def _check_image(image, spacing_mm, what: str) -> tuple[NDArray, float, float]:
    img = np.asarray(image)
    if img.ndim != 2 or img.dtype.kind not in "fiu":
        raise InputError(f"{what}: image must be a real 2-D (y, x) array, got {img.dtype} {img.shape}")
    sy, sx = (float(v) for v in spacing_mm)
    if not (sy > 0 and sx > 0 and math.isfinite(sy) and math.isfinite(sx)):
        raise InputError(f"{what}: spacing_mm must be two positive numbers (row, col) in mm, got {spacing_mm}")
    return np.ascontiguousarray(img, dtype=np.float64), sy, sx


def _levels(img: NDArray) -> tuple[float, float]:
    """Robust background and bright-phantom levels of an MR slice: the median of the outer 5 % frame and the
    median of the pixels above the mean of the bright half."""
    n0, n1 = img.shape
    b0, b1 = max(1, n0 // 20), max(1, n1 // 20)
    frame = np.concatenate([img[:b0].ravel(), img[-b0:].ravel(), img[:, :b1].ravel(), img[:, -b1:].ravel()])
    bg = float(np.median(frame))
    hi = img[img > 0.5 * (bg + float(np.percentile(img, 99)))]
    if hi.size == 0:
        raise PhantomNotFoundError("no phantom signal in the image: expected a bright phantom on a dark background")
    return bg, float(np.median(hi))


def _phantom_center_px(img: NDArray) -> tuple[float, float]:
    """Centre (row, col) of the phantom: the centroid of the hole-filled, largest bright region."""
    bg, hi = _levels(img)
    mask = img > 0.5 * (bg + hi)
    lab, n = ndimage.label(mask)
    if n == 0:
        raise PhantomNotFoundError("no phantom found: no pixel above half the phantom signal")
    sizes = ndimage.sum(mask, lab, index=np.arange(1, n + 1))
    big = ndimage.binary_fill_holes(lab == int(np.argmax(sizes)) + 1)
    r, c = ndimage.center_of_mass(big)
    return float(r), float(c)


def resolve_center(img: NDArray, spacing: tuple[float, float], center_px) -> tuple[float, float]:
    """``center_px`` when given, else ``phantomqc.mr.localize.find_phantom`` (or the private fallback)."""
    if center_px is not None:
        return float(center_px[0]), float(center_px[1])
    try:  # helper A's localiser, when present
        from phantomqc.mr.localize import find_phantom  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - until localize.py exists
        return _phantom_center_px(img)
    try:
        circ = find_phantom(img, spacing)
    except PhantomNotFoundError:
        # a slice full of inserts (slice 5 grid) may defeat the radial search: the filled mask's centroid
        return _phantom_center_px(img)
    return float(circ.center_px[0]), float(circ.center_px[1])


def outer_edges(t: NDArray, prof: NDArray, level0: float, *, inside_mm: tuple[float, float] = (3.0, 8.0),
                outside_mm: tuple[float, float] = (3.0, 10.0)) -> tuple[NDArray, NDArray, NDArray]:
    """Outermost half-level crossing of each centre-outward profile (rows of ``prof``, samples at ``t`` mm).

    The outermost sample at or above ``level0`` gives ``r0``; plateau = median of the profile ``inside_mm``
    inside ``r0``, background = median ``outside_mm`` outside (or beyond ``r0 + 1 mm`` near the image border);
    the edge is the first crossing of their mean walking inward from ``r0 + 3 mm``, by linear interpolation.
    Returns (edge distance, plateau, background), NaN where a profile has none.
    """
    n, m = prof.shape
    ok = np.isfinite(prof)
    idx = np.arange(m)
    above = ok & (prof >= level0)
    has = above.any(axis=1)
    i0 = np.where(has, m - 1 - np.argmax(above[:, ::-1], axis=1), 0)
    step = float(t[1] - t[0])
    p = np.where(ok, prof, np.nan)

    def window(lo_mm: float, hi_mm: float) -> NDArray:
        k = np.arange(math.floor(lo_mm / step), math.ceil(hi_mm / step) + 1)
        idx2 = i0[:, None] + k[None, :]
        inside = (idx2 >= 0) & (idx2 < m)
        vals = np.take_along_axis(p, np.clip(idx2, 0, m - 1), axis=1)
        return np.where(inside, vals, np.nan)

    with np.errstate(all="ignore"), _warnings.catch_warnings():
        _warnings.simplefilter("ignore", RuntimeWarning)
        plateau = np.nanmedian(window(-inside_mm[1], -inside_mm[0]), axis=1)
        bg = np.nanmedian(window(outside_mm[0], outside_mm[1]), axis=1)
        # near the image border: whatever lies beyond r0 + 1 mm
        far = np.isnan(bg)
        if far.any():
            tt = t[None, :]
            sel = ok[far] & (tt > t[i0[far]][:, None] + 1.0)
            bg[far] = np.nanmedian(np.where(sel, p[far], np.nan), axis=1)
    half = 0.5 * (plateau + bg)
    last_ok = m - 1 - np.argmax(ok[:, ::-1], axis=1)
    start = np.minimum(last_ok, np.searchsorted(t, t[i0] + 3.0))
    cand = ok & (idx[None, :] <= start[:, None]) & (p >= half[:, None])
    j = np.where(cand.any(axis=1), m - 1 - np.argmax(cand[:, ::-1], axis=1), -1)
    good = has & (j >= 0) & (j < start) & np.isfinite(half)
    jj = np.clip(j, 0, m - 2)
    rows = np.arange(n)
    y0, y1 = p[rows, jj], p[rows, jj + 1]
    with np.errstate(all="ignore"):
        edge = t[jj] + (y0 - half) / (y0 - y1) * (t[jj + 1] - t[jj])
    good &= np.isfinite(edge)
    return np.where(good, edge, np.nan), plateau, bg


def sample_rays(img: NDArray, spacing: tuple[float, float], origins_px: NDArray, dirs_mm: NDArray,
                t_mm: NDArray, order: int = 1) -> NDArray:
    """Values along many lines at once: ``origins_px`` (n, 2) rows/cols, ``dirs_mm`` (n, 2) unit (dy, dx);
    returns (n, len(t_mm)), NaN outside the image."""
    sy, sx = spacing
    rows = origins_px[:, :1] + t_mm[None, :] * dirs_mm[:, :1] / sy
    cols = origins_px[:, 1:] + t_mm[None, :] * dirs_mm[:, 1:] / sx
    out = ndimage.map_coordinates(img, np.stack([rows.ravel(), cols.ravel()]), order=order, mode="constant",
                                  cval=np.nan, prefilter=False).reshape(rows.shape)
    inside = (rows >= 0) & (rows <= img.shape[0] - 1) & (cols >= 0) & (cols <= img.shape[1] - 1)
    return np.where(inside, out, np.nan)


def _radial_samples(img: NDArray, spacing: tuple[float, float], level0: float) -> NDArray:
    """Distances (mm) sampled along each ray: every 1/4 pixel from 0.4 R0 to 1.5 R0 + 20 mm (R0 the radius of
    a disc of the phantom's area), within the image's half diagonal + 20 mm: only the wall region is read."""
    sy, sx = spacing
    r0 = math.sqrt(float(np.count_nonzero(img > level0)) * sy * sx / math.pi)
    r_max = math.hypot(img.shape[0] * sy, img.shape[1] * sx) / 2.0 + 20.0
    return np.arange(0.4 * r0, min(r_max, 1.5 * r0 + 20.0), 0.25 * min(sy, sx))


def _robust_fit(design: NDArray, e: NDArray, *, one_sided: bool) -> tuple[NDArray, NDArray, NDArray]:
    """Least squares ``e ~ design @ c`` after dropping edges more than 2 mm inside the median, then iterative
    rejection of residuals below ``-max(3 x 1.4826 MAD, 0.5 mm)`` (inserts touching the wall only ever move the
    edge inward) or above ``+max(4 x 1.4826 MAD, 1 mm)``. Returns (coefficients, their covariance, kept mask)."""
    keep = np.isfinite(e)
    k = design.shape[1]
    if keep.sum() < k + 3:
        return np.full(k, np.nan), np.full((k, k), np.nan), keep
    keep &= e >= np.median(e[keep]) - 2.0
    coef = np.full(k, np.nan)
    for _ in range(20):
        if keep.sum() < k + 3:
            return np.full(k, np.nan), np.full((k, k), np.nan), keep
        coef = np.linalg.lstsq(design[keep], e[keep], rcond=None)[0]
        res = e - design @ coef
        sig = 1.4826 * float(np.median(np.abs(res[keep])))
        lo = -max(3.0 * sig, 0.5)
        hi = max(4.0 * sig, 1.0) if one_sided else -lo
        new = np.isfinite(e) & (res >= lo) & (res <= hi)
        if np.array_equal(new, keep):
            break
        keep = new
    a = design[keep]
    res = e[keep] - a @ coef
    dof = max(1, int(keep.sum()) - k)
    cov = np.linalg.inv(a.T @ a) * float(res @ res) / dof
    return coef, cov, keep


def _end_edge(img, spacing, centre, theta_deg, half_window_deg, step_deg, level0, t):
    """Edge distance at direction ``theta_deg`` from a local circle fit of the radial edges within
    +-``half_window_deg``: ``r(a) = c0 + c1 cos(a - theta) + c2 sin(a - theta)``."""
    n = round(half_window_deg / step_deg)
    da = np.arange(-n, n + 1) * step_deg
    ang = np.radians(theta_deg + da)
    dirs = np.stack([np.sin(ang), np.cos(ang)], axis=1)
    origins = np.tile(np.asarray(centre, dtype=np.float64), (ang.size, 1))
    prof = sample_rays(img, spacing, origins, dirs, t)
    e = outer_edges(t, prof, level0)[0]
    x = np.radians(da)
    design = np.stack([np.ones_like(x), np.cos(x), np.sin(x)], axis=1)
    coef, cov, keep = _robust_fit(design, e, one_sided=True)
    value = float(coef[0] + coef[1])
    var = float(cov[0, 0] + cov[1, 1] + 2 * cov[0, 1])
    return value, math.sqrt(max(var, 0.0)) if math.isfinite(var) else float("nan"), da, e, keep


def _measure(img, spacing, centre, theta, label, half_window_deg, step_deg, level0, t):
    sy, sx = spacing
    vm, um, da, em, km = _end_edge(img, spacing, centre, theta + 180.0, half_window_deg, step_deg, level0, t)
    vp, up, _, ep, kp = _end_edge(img, spacing, centre, theta, half_window_deg, step_deg, level0, t)
    warns = []
    for name, k in (("-", km), ("+", kp)):
        if k.sum() < 0.5 * k.size:
            warns.append(f"{label}: only {int(k.sum())} of {k.size} rays gave a consistent wall edge at the "
                         f"{name} end; check the phantom position")
    length = vm + vp
    if not math.isfinite(length):
        raise AnalysisError(f"{label}: no phantom edge found along {theta:g} deg; expected a bright phantom with "
                            "its wall inside the image (give center_px if the centre is wrong)")
    th = math.radians(theta)
    u = (math.sin(th), math.cos(th))
    start = (centre[0] - vm * u[0] / sy, centre[1] - vm * u[1] / sx)
    end = (centre[0] + vp * u[0] / sy, centre[1] + vp * u[1] / sx)
    unc = math.hypot(um, up)
    line = LengthLine(label, float(theta), Quantity(length, "mm", unc if math.isfinite(unc) else None), start, end,
                      da, em, ep, km, kp)
    return line, warns


# --------------------------------------------------------------------------------------------- public

def acr_lengths(image: NDArray, spacing_mm: tuple[float, float], *, center_px: tuple[float, float] | None = None,
                angles_deg: tuple[float, ...] = (0.0, 90.0), slice_label: str = "slice1",
                rotation_deg: float = 0.0, half_window_deg: float = 35.0,
                step_deg: float = 1.0) -> GeometricAccuracyResult:
    """Phantom diameters along the given directions through the centre, by sub-pixel edges.

    Parameters
    ----------
    image : (y, x) array
        One axial ACR slice (slice 1: ``angles_deg=(0, 90)``; slice 5: ``(0, 90, 45, 135)``).
    spacing_mm : (row, col) pixel spacing in mm.
    center_px : (row, col) of the phantom centre; found by ``phantomqc.mr.localize.find_phantom`` when None.
    angles_deg : directions in the phantom frame (0 = horizontal, 90 = vertical, 45 = top-left to bottom-right,
        label diagonal2; 135 = bottom-left to top-right, label diagonal1), each rotated by ``rotation_deg``
        (clockwise on screen).
    slice_label : prefix of the labels (``"slice1"``, ``"slice5"``).
    half_window_deg, step_deg : the radial rays used to fit each end's wall (see the module docstring).

    Returns
    -------
    GeometricAccuracyResult
        ``lengths_mm[label]`` for ``mr.geometry.length_mm``, e.g. ``slice5_diagonal1``; the lines and the edges.

    Notes
    -----
    Edge = crossing of ``(plateau + background) / 2`` (half maximum) on each ray; per end, a local circle
    ``r(a) = c0 + c1 cos(a - theta) + c2 sin(a - theta)`` fitted to the rays within +-``half_window_deg``,
    evaluated at ``a = theta``; length = sum of the two ends. ACR guidance 2018/2022.

    Example
    -------
    >>> yy, xx = np.mgrid[0:256, 0:256]
    >>> img = np.where(np.hypot(yy - 127.5, xx - 127.5) < 95.0, 100.0, 0.0)
    >>> r = acr_lengths(img, (1.0, 1.0), center_px=(127.5, 127.5))
    >>> round(r.lengths_mm["slice1_horizontal"].value)
    190
    """
    img, sy, sx = _check_image(image, spacing_mm, "acr_lengths")
    centre = resolve_center(img, (sy, sx), center_px)
    if not (0 < half_window_deg <= 60 and 0 < step_deg <= half_window_deg):
        raise InputError(f"acr_lengths: half_window_deg must be in (0, 60] and step_deg in (0, half_window_deg], "
                         f"got {half_window_deg}, {step_deg}")
    bg, hi = _levels(img)
    level0 = 0.5 * (bg + hi)
    t = _radial_samples(img, (sy, sx), level0)
    lines, lengths, warns = [], {}, []
    for a in angles_deg:
        key = float(a) % 180.0
        if key not in DIRECTION_LABELS:
            raise InputError(f"acr_lengths: angle {a} deg has no ACR label; use 0, 90, 45 or 135")
        label = f"{slice_label}_{DIRECTION_LABELS[key]}"
        line, w = _measure(img, (sy, sx), centre, key + float(rotation_deg), label, half_window_deg, step_deg,
                           level0, t)
        lines.append(line)
        lengths[label] = line.length_mm
        warns += w
    params = {"angles_deg": tuple(float(a) for a in angles_deg), "rotation_deg": float(rotation_deg),
              "half_window_deg": float(half_window_deg), "step_deg": float(step_deg),
              "edge_level": "half of (plateau 3-8 mm inside) + (background 3-10 mm outside)",
              "spacing_mm": (sy, sx), "slice_label": slice_label}
    return GeometricAccuracyResult(lengths, tuple(lines), centre, params, tuple(warns))


def sagittal_length(image: NDArray, spacing_mm: tuple[float, float], *, axis: str = "rows",
                    center_px: tuple[float, float] | None = None,
                    band_fraction: float = 0.8, line_step_mm: float = 1.0) -> GeometricAccuracyResult:
    """Superior-inferior length of the ACR phantom on the sagittal localiser (label ``sagittal_si``).

    Parameters
    ----------
    image : (y, x) array
        The sagittal localiser.
    spacing_mm : (row, col) pixel spacing in mm.
    axis : ``"rows"`` when S-I runs down the rows (the usual sagittal display, column direction cosines along
        -z), ``"columns"`` when it runs along a row. The caller reads it from (0020,0037) *Image Orientation
        (Patient)*.
    center_px : (row, col) of the phantom centre; the centroid of the phantom when None.
    band_fraction : the lines used cover this fraction of the phantom's extent across the S-I axis.
    line_step_mm : spacing of those lines.

    Returns
    -------
    GeometricAccuracyResult
        ``lengths_mm["sagittal_si"]``.

    Notes
    -----
    Each end's edge (half-maximum crossing) on every line, a robust straight-line fit per end (flat cylinder
    ends; lines where an insert touches the end are rejected), length at the centre line. ACR limit 148 +- 2 mm.
    """
    img, sy, sx = _check_image(image, spacing_mm, "sagittal_length")
    if axis not in ("rows", "columns"):
        raise InputError(f"sagittal_length: axis must be 'rows' or 'columns', got {axis!r}")
    centre = _phantom_center_px(img) if center_px is None else (float(center_px[0]), float(center_px[1]))
    bg, hi = _levels(img)
    level0 = 0.5 * (bg + hi)
    theta = 90.0 if axis == "rows" else 0.0
    # extent across the S-I axis at the centre, from the mask
    mask = img > level0
    across = mask[round(centre[0])] if axis == "rows" else mask[:, round(centre[1])]
    idx = np.nonzero(across)[0]
    width_mm = (idx[-1] - idx[0] + 1) * (sx if axis == "rows" else sy) if idx.size else 100.0
    half = 0.5 * band_fraction * width_mm
    n = int(half / line_step_mm)
    offsets = np.arange(-n, n + 1) * float(line_step_mm)
    t = _radial_samples(img, (sy, sx), level0)
    th = math.radians(theta)
    u = np.array([math.sin(th), math.cos(th)])
    nrm = np.array([math.cos(th), -math.sin(th)])
    origins = np.asarray(centre)[None, :] + offsets[:, None] * (nrm / np.array([sy, sx]))[None, :]
    design = np.stack([np.ones_like(offsets), offsets], axis=1)
    vals, uncs, edges, keeps = [], [], [], []
    for sign in (-1.0, 1.0):
        dirs = np.tile(sign * u, (offsets.size, 1))
        e = outer_edges(t, sample_rays(img, (sy, sx), origins, dirs, t), level0)[0]
        coef, cov, keep = _robust_fit(design, e, one_sided=True)
        vals.append(float(coef[0]))
        uncs.append(math.sqrt(max(float(cov[0, 0]), 0.0)) if np.isfinite(cov[0, 0]) else float("nan"))
        edges.append(e)
        keeps.append(keep)
    length = vals[0] + vals[1]
    if not math.isfinite(length):
        raise AnalysisError("sagittal_si: no phantom end found along the S-I axis; expected the whole phantom "
                            "inside the localiser's field (check axis)")
    warns = [f"sagittal_si: only {int(k.sum())} of {k.size} lines gave a consistent end edge"
             for k in keeps if k.sum() < 0.5 * k.size]
    unc = math.hypot(*uncs)
    start = (centre[0] - vals[0] * u[0] / sy, centre[1] - vals[0] * u[1] / sx)
    end = (centre[0] + vals[1] * u[0] / sy, centre[1] + vals[1] * u[1] / sx)
    line = LengthLine("sagittal_si", theta, Quantity(length, "mm", unc if math.isfinite(unc) else None), start, end,
                      offsets, edges[0], edges[1], keeps[0], keeps[1])
    params = {"axis": axis, "band_fraction": float(band_fraction), "line_step_mm": float(line_step_mm),
              "spacing_mm": (sy, sx)}
    return GeometricAccuracyResult({"sagittal_si": line.length_mm}, (line,), centre, params, tuple(warns))
