"""MR slice thickness: the ACR crossed 10:1 ramps (slice 1) and the MagNET slice-width object (trapezoid fit).

ACR ramps (``acr_slice_thickness``)
-----------------------------------
1. **Frame.** Pixels are read in the phantom frame (x right, y down, origin at the phantom centre, rotated by
   ``rotation_deg`` clockwise on the screen) by bilinear interpolation at 1/4 pixel.
2. **Insert.** The dark slice-thickness insert is found on the vertical profile (mean over x = -20..20 mm) as
   the dark run around the centre whose edges cross half-way between the phantom signal and the insert's
   minimum.
3. **Ramps.** The upper ramp's band fills the upper half of the insert and the lower ramp's the lower half
   (seen on every vendor's images); each profile is centred in its half. With ``rotation_deg=None`` the rotation
   is the mean tilt of the insert's top and bottom edges between x = -50 and +50 mm.
4. **Profiles.** Along each ramp, the profile along x averaged over ``band_half_height_mm`` either side of the
   band's centre.
5. **FWHM.** The profile is smoothed by a ``smooth_mm`` box; background = its 5th percentile (the insert's
   dark level: on some scanners, e.g. the Siemens series of the real data, the profile's ends carry 20 % of the
   peak from the slice profile's tails, which is not the insert's level); the ramp signal is the median of the
   profile over the central half of a first-pass FWHM (the ACR guidance's "mean ramp signal", read in an ROI in
   the ramp; unlike the maximum it has no upward noise bias: on the noisy GE 512^2 series the thickness moves by
   0.03 mm instead of 0.15 mm between 1 and 4 mm of smoothing); the FWHM is the distance between the first
   crossings of ``background + (ramp signal - background) / 2`` walking outward from the centre, each by linear
   interpolation.
6. ``T = 0.2 a b / (a + b)`` with ``a``, ``b`` the two FWHM **in mm** [ACR]. (hazen 2.0.0 forgets the pixel
   spacing and reports pixels.) The crossed ramps make the formula first-order independent of a tilt of the
   phantom about the x axis.

MagNET slice width (``magnet_slice_width``)
-------------------------------------------
The MagNET geometry / slice-width test object holds a 3 x 3 grid of rods and two pairs of crossed ramps
inclined at 11.3 deg (tan = 0.2) to the image plane, between the rod rows. IPEM Report 112 / MagNET:

1. **Rods.** The nine rods are the dark holes inside the object's half-level mask (the nine largest); each centre
   is refined twice by the darkness-weighted centroid in a 12 mm box (sub-pixel), then sorted in rows (top to
   bottom) and columns.
2. **Profiles.** The upper ramp's band lies half-way between the top and middle rod rows, the lower band half-way
   between the middle and bottom rows; each profile runs along the line joining the midpoints of the left and of
   the right rod pairs (so it follows a rotated object), read every 1/4 pixel (bilinear) and averaged over
   ``band_half_height_mm`` either side.
3. **Baseline.** A quadratic through the ``baseline_mm`` at each end of the profile (no ramp signal there) starts
   the fit; it is then refined with the trapezoid: it carries the coil shading under the ramp.
4. **Trapezoid fit.** ``f(x) = c0 + c1 x + c2 x^2 + A clip((w/2 + r/2 - |x - x0|) / r, 0, 1)`` (plateau
   ``w - r`` wide, linear ramps ``r`` wide either side, FWHM ``w`` exactly), fitted by nonlinear least squares
   (Levenberg-Marquardt, continuous parameters: no integer sample counts). The FWHM of the ramp's image is ``w``.
5. **Geometric correction.** Each FWHM is divided by the measured rod separation over its nominal 120 mm
   (top ramp: mean of the upper and middle rows' outer-rod separations; bottom: middle and lower rows), so that
   a scaling error of the image does not enter the slice width.
6. **Crossed ramps with tilt.** For ramps at +-``ramp_angle_deg`` (theta) to the slice and a phantom tilted by
   ``phi``, the two FWHM are ``a = T / tan(theta + phi)`` and ``b = T / tan(theta - phi)``. With
   ``alpha = 180 deg - 2 theta`` (the angle between the ramps) the exact solution (AAPM Report 28) is
   ``T = (sqrt(cos^2(alpha) (b - a)^2 + 4 a b) + (a + b) cos(alpha)) / (2 sin(alpha))``, which is ``a tan(theta)``
   when ``a = b``; the tilt follows as ``phi = atan(T / b) - theta`` (reported). See :func:`crossed_ramp_width`.

Measurement ids: ``mr.slice_thickness.mm`` (ACR) and ``mr.slice_width.mm`` (MagNET).

References
----------
ACR, *Large and Medium Phantom Test Guidance for the ACR MRI Accreditation Program* (2018, 2022).
AAPM Report 28 (1990), slice thickness with crossed ramps. IPEM Report 112 (2014), MagNET test objects.
NEMA MS 5-2018, slice thickness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, optimize

from phantomqc._shared.errors import AnalysisError, InputError, PhantomNotFoundError
from phantomqc.core.types import Quantity
from phantomqc.mr.acr_geometry import _check_image, resolve_center

__all__ = [
    "AcrSliceThicknessResult",
    "MagnetRampFit",
    "MagnetSliceWidthResult",
    "RampProfile",
    "acr_slice_thickness",
    "crossed_ramp_width",
    "frame_sample",
    "fwhm_mm",
    "magnet_slice_width",
]


@dataclass(frozen=True)
class RampProfile:
    """One ramp's profile: ``x_mm`` (phantom frame) and ``values``, the FWHM and its half-level crossings, the
    background and peak used, and the band's centre ``y_mm`` in the phantom frame."""

    name: str
    y_mm: float
    x_mm: NDArray
    values: NDArray
    fwhm_mm: Quantity
    left_mm: float
    right_mm: float
    background: float
    peak: float


@dataclass(frozen=True)
class AcrSliceThicknessResult:
    """ACR slice thickness (``mr.slice_thickness.mm``) with the two ramps' FWHM ``a`` and ``b`` (mm)."""

    thickness_mm: Quantity
    fwhm_top_mm: Quantity
    fwhm_bottom_mm: Quantity
    profiles: tuple[RampProfile, RampProfile]
    insert_y_mm: tuple[float, float]
    center_px: tuple[float, float]
    parameters: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------- helpers

def frame_sample(img: NDArray, spacing: tuple[float, float], centre_px: tuple[float, float], rotation_deg: float,
                 y_mm: NDArray, x_mm: NDArray, order: int = 1) -> NDArray:
    """Image values on the grid ``y_mm`` x ``x_mm`` of the phantom frame (x right, y down, origin at the centre,
    rotated by ``rotation_deg`` clockwise on the screen); shape (len(y), len(x)); NaN outside the image."""
    sy, sx = spacing
    r = math.radians(rotation_deg)
    yy, xx = np.meshgrid(np.asarray(y_mm, float), np.asarray(x_mm, float), indexing="ij")
    cols = centre_px[1] + (xx * math.cos(r) - yy * math.sin(r)) / sx
    rows = centre_px[0] + (xx * math.sin(r) + yy * math.cos(r)) / sy
    out = ndimage.map_coordinates(img, np.stack([rows.ravel(), cols.ravel()]), order=order, mode="constant",
                                  cval=np.nan, prefilter=False).reshape(rows.shape)
    inside = (rows >= 0) & (rows <= img.shape[0] - 1) & (cols >= 0) & (cols <= img.shape[1] - 1)
    return np.where(inside, out, np.nan)


def _cross(x: NDArray, y: NDArray, level: float, i: int, step: int) -> float:
    """First crossing of ``level`` (from above) walking from index ``i`` by ``step``; linear interpolation."""
    n = y.size
    while 0 <= i + step < n:
        j = i + step
        if y[j] < level:
            return float(x[i] + (y[i] - level) * (x[j] - x[i]) / (y[i] - y[j]))
        i = j
    return float("nan")


def fwhm_mm(x_mm: NDArray, values: NDArray, *, background: float | None = None,
            smooth_mm: float = 2.0, plateau: bool = False) -> tuple[float, float, float, float, float]:
    """FWHM of a single bright peak on a flat background, by linear interpolation of the half-level crossings.

    With ``plateau=True`` the peak level is then replaced by the median of the raw profile over the central half of
    that first-pass FWHM and the crossings are searched again (the ACR "mean ramp signal").

    Background = ``background`` or the 5th percentile of the smoothed profile (the darkest part of the insert:
    its ends can carry signal from the slice profile's tails or from the phantom); the profile is smoothed by a box
    of ``smooth_mm`` (a symmetric box leaves the half-level crossing of a point-symmetric edge where it is, and
    stops a noise dip inside the peak from ending the walk); peak = maximum of the smoothed profile; the crossings
    of ``background + (peak - background) / 2`` are the first ones walking outward from the maximum. Returns
    ``(fwhm, left, right, background, peak)``; NaN width when a side never falls below the half level.

    Example
    -------
    >>> x = np.linspace(-50, 50, 1001)
    >>> round(fwhm_mm(x, np.clip((25.0 - np.abs(x)) / 10.0, 0.0, 1.0))[0], 2)
    40.0
    """
    x = np.asarray(x_mm, float)
    v = np.asarray(values, float)
    dx = float(x[1] - x[0])
    w = max(1, round(smooth_mm / dx))
    sm = ndimage.uniform_filter1d(v, w, mode="nearest")
    if background is None:
        background = float(np.percentile(sm, 5.0))
    ipk = int(np.argmax(sm))
    peak = float(sm[ipk])
    half = background + 0.5 * (peak - background)
    left = _cross(x, sm, half, ipk, -1)
    right = _cross(x, sm, half, ipk, +1)
    if plateau and math.isfinite(left) and math.isfinite(right):
        # the ACR's "mean ramp signal": the median over the central half of the first-pass FWHM, which, unlike the
        # maximum, carries no upward noise bias
        mid, q = 0.5 * (left + right), 0.25 * (right - left)
        core = (x >= mid - q) & (x <= mid + q)
        if core.sum() >= 3:
            peak = float(np.median(v[core]))
            half = background + 0.5 * (peak - background)
            ipk = int(np.argmin(np.abs(x - mid)))
            if sm[ipk] >= half:
                left = _cross(x, sm, half, ipk, -1)
                right = _cross(x, sm, half, ipk, +1)
    return right - left, left, right, background, peak


def _half_crossings(y: NDArray, v: NDArray, level: float, i: int) -> tuple[float, float]:
    """Crossings of ``level`` (from below: a dark run) on both sides of index ``i``."""
    def walk(step):
        k = i
        while 0 <= k + step < v.size:
            j = k + step
            if v[j] >= level:
                return float(y[k] + (level - v[k]) * (y[j] - y[k]) / (v[j] - v[k]))
            k = j
        return float("nan")
    return walk(-1), walk(+1)


# --------------------------------------------------------------------------------------------- ACR

def acr_slice_thickness(image: NDArray, spacing_mm: tuple[float, float], *,
                        center_px: tuple[float, float] | None = None, rotation_deg: float | None = None,
                        band_half_height_mm: float = 1.0,
                        profile_half_length_mm: float = 75.0, smooth_mm: float = 2.0) -> AcrSliceThicknessResult:
    """ACR slice thickness from the two crossed 10:1 ramps of slice 1.

    Parameters
    ----------
    image : (y, x) array
        ACR slice 1.
    spacing_mm : (row, col) pixel spacing in mm.
    center_px : (row, col) of the phantom centre; ``find_phantom`` when None.
    rotation_deg : in-plane rotation of the phantom, clockwise on the screen; None: measured from the tilt of
        the insert's edges between x = -50 and +50 mm.
    band_half_height_mm : each ramp's profile is the mean over this half height about the band's centre.
    profile_half_length_mm : the profiles run over x = -this..+this.
    smooth_mm : box width used to find the peak level (the crossings use the raw profile).

    Returns
    -------
    AcrSliceThicknessResult
        ``thickness_mm`` (``mr.slice_thickness.mm``), ``fwhm_top_mm`` (a), ``fwhm_bottom_mm`` (b), the profiles.

    Notes
    -----
    ``T = 0.2 a b / (a + b)``, a and b the FWHM in mm of the upper and lower ramps' bands (ACR guidance
    2018/2022; 10:1 ramps, so each FWHM is 10 T for an untilted phantom; the harmonic form cancels a tilt to first
    order). Limit (ACR): 5.0 +- 0.7 mm.
    """
    img, sy, sx = _check_image(image, spacing_mm, "acr_slice_thickness")
    centre = resolve_center(img, (sy, sx), center_px)
    step = 0.25 * min(sy, sx)
    warns: list[str] = []

    # 2. the insert on vertical profiles at the centre and at x = -+50 mm (its edges give the rotation)
    def insert_edges(rot: float, xc: float) -> tuple[float, float]:
        y = np.arange(-25.0, 25.0 + step / 2, step)
        xs = np.arange(xc - 10.0, xc + 10.0 + step / 2, step)
        vprof = np.nanmean(frame_sample(img, (sy, sx), centre, rot, y, xs), axis=1)
        near = np.abs(y) <= 10.0
        i_min = int(np.nonzero(near)[0][np.argmin(vprof[near])])
        n6 = max(1, vprof.size // 6)
        signal = float(np.nanmedian(np.concatenate([vprof[:n6], vprof[-n6:]])))
        return _half_crossings(y, vprof, 0.5 * (signal + float(vprof[i_min])), i_min)

    rot = 0.0 if rotation_deg is None else float(rotation_deg)
    if rotation_deg is None:
        (t1, b1), (t2, b2) = insert_edges(0.0, -50.0), insert_edges(0.0, 50.0)
        d = [v for v in ((t2 - t1), (b2 - b1)) if math.isfinite(v)]
        if d:
            rot = math.degrees(math.atan2(float(np.mean(d)), 100.0))
    top, bottom = insert_edges(rot, 0.0)
    if not (math.isfinite(top) and math.isfinite(bottom)) or not (4.0 < bottom - top < 25.0):
        raise PhantomNotFoundError(
            f"acr_slice_thickness: no dark slice-thickness insert found across the centre (found {top:.1f} to "
            f"{bottom:.1f} mm); expected ACR slice 1 with the insert about 10 mm tall (check the slice and centre)")

    # 3. the two ramps fill the upper and lower halves of the insert: bands centred in each half
    mid = 0.5 * (top + bottom)
    y_top = 0.5 * (top + mid)
    y_bot = 0.5 * (mid + bottom)
    band_half_height_mm = min(band_half_height_mm, 0.25 * (bottom - top) - 0.25)

    # 4-5. profiles along x and their FWHM
    x = np.arange(-profile_half_length_mm, profile_half_length_mm + step / 2, step)
    profiles = []
    for name, yc in (("top", y_top), ("bottom", y_bot)):
        yy = np.arange(yc - band_half_height_mm, yc + band_half_height_mm + step / 2, step)
        p = np.nanmean(frame_sample(img, (sy, sx), centre, rot, yy, x), axis=0)
        w, left, right, bg, pk = fwhm_mm(x, p, smooth_mm=smooth_mm, plateau=True)
        if not math.isfinite(w):
            raise AnalysisError(f"acr_slice_thickness: the {name} ramp's profile does not fall to half its peak "
                                f"within x = +-{profile_half_length_mm:g} mm; check the slice (slice 1) and centre")
        if pk - bg < 5.0 * float(np.std(np.diff(p))) / math.sqrt(2.0):
            warns.append(f"the {name} ramp stands only {pk - bg:.3g} above the insert; the FWHM may be noisy")
        profiles.append(RampProfile(name, yc, x, p, Quantity(w, "mm"), left, right, bg, pk))
    a, b = profiles[0].fwhm_mm.value, profiles[1].fwhm_mm.value
    t = 0.2 * a * b / (a + b)
    if abs(a - b) > 0.3 * max(a, b):
        warns.append(f"the ramps' FWHM differ by {abs(a - b):.1f} mm ({a:.1f} and {b:.1f}): the phantom may be "
                     "tilted or the slice mispositioned")
    params = {"rotation_deg": rot, "rotation_measured": rotation_deg is None,
              "band_half_height_mm": float(band_half_height_mm),
              "profile_half_length_mm": float(profile_half_length_mm), "smooth_mm": float(smooth_mm),
              "sample_step_mm": step, "spacing_mm": (sy, sx), "formula": "0.2*a*b/(a+b), a and b in mm"}
    return AcrSliceThicknessResult(Quantity(t, "mm"), profiles[0].fwhm_mm, profiles[1].fwhm_mm,
                                   (profiles[0], profiles[1]), (top, bottom), centre, params, tuple(warns))


# --------------------------------------------------------------------------------------------- MagNET

@dataclass(frozen=True)
class MagnetRampFit:
    """One ramp of the MagNET object: the profile (``x_mm`` along the band, ``values``), the fitted baseline
    and trapezoid (``model``), the FWHM before and after the rod-distance correction, the band's y (pixels).
    ``band_end_px``: the band's centre line, from its left end to its right end ((row, col), (row, col)) in
    pixels; ``x_mm`` = 0 at its midpoint, increasing towards the right end."""

    name: str
    x_mm: NDArray
    values: NDArray
    model: NDArray
    baseline: NDArray
    fwhm_mm: Quantity
    fwhm_corrected_mm: Quantity
    ramp_width_mm: float
    amplitude: float
    center_mm: float
    scale: float
    band_row_px: float
    band_end_px: tuple = ()


@dataclass(frozen=True)
class MagnetSliceWidthResult:
    """MagNET slice width (``mr.slice_width.mm``): the crossed-ramp combination of the two geometry-corrected
    FWHM, with each ramp's fit, the rods (pixels, rows top to bottom, columns left to right), the tilt, and the
    top and bottom ramps' own widths ``fwhm x tan(theta)``."""

    slice_width_mm: Quantity
    slice_width_top_mm: Quantity
    slice_width_bottom_mm: Quantity
    tilt_deg: float
    ramps: tuple[MagnetRampFit, MagnetRampFit]
    rods_px: NDArray
    rod_distances_horizontal_mm: NDArray
    rod_distances_vertical_mm: NDArray
    parameters: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def crossed_ramp_width(a_mm: float, b_mm: float, ramp_angle_deg: float) -> tuple[float, float]:
    """Slice width and tilt from the FWHM ``a``, ``b`` of two ramps at +-``ramp_angle_deg`` to the slice.

    With ``alpha = 180 - 2 theta`` the angle between the ramps (AAPM Report 28)::

        T = (sqrt(cos^2(alpha) (b - a)^2 + 4 a b) + (a + b) cos(alpha)) / (2 sin(alpha))

    and the tilt ``phi = atan(T / b) - theta`` (deg). For ``a = b``: ``T = a tan(theta)``, ``phi = 0``.

    Example
    -------
    >>> t, phi = crossed_ramp_width(25.0, 25.0, 11.3)
    >>> round(t, 2), round(phi, 6)
    (5.0, 0.0)
    """
    th = math.radians(ramp_angle_deg)
    al = math.pi - 2.0 * th
    t = (math.sqrt(math.cos(al) ** 2 * (b_mm - a_mm) ** 2 + 4.0 * a_mm * b_mm)
         + (a_mm + b_mm) * math.cos(al)) / (2.0 * math.sin(al))
    phi = math.degrees(math.atan(t / b_mm) - th)
    return t, phi


def _trapezoid(x, amp, x0, w, r):
    r = abs(r) + 1e-9
    return amp * np.clip((0.5 * abs(w) + 0.5 * r - np.abs(x - x0)) / r, 0.0, 1.0)


def _find_rods(img: NDArray, spacing: tuple[float, float]) -> NDArray:
    """Nine rod centres (row, col), sorted in rows top to bottom and columns left to right."""
    from phantomqc.mr.acr_geometry import _levels
    sy, sx = spacing
    bg, hi = _levels(img)
    mask = img > 0.5 * (bg + hi)
    lab, n = ndimage.label(mask)
    if n == 0:
        raise PhantomNotFoundError("magnet_slice_width: no test object found in the image")
    sizes = ndimage.sum(mask, lab, index=np.arange(1, n + 1))
    obj = lab == int(np.argmax(sizes)) + 1
    holes = ndimage.binary_fill_holes(obj) & ~obj
    hl, hn = ndimage.label(holes)
    if hn < 9:
        raise PhantomNotFoundError(f"magnet_slice_width: found {hn} dark rods inside the object, expected 9 "
                                   "(3 x 3 grid); check that this is the MagNET slice-width image")
    area = ndimage.sum(holes, hl, index=np.arange(1, hn + 1)) * sy * sx
    order = np.argsort(area)[::-1][:9]
    cents = np.array(ndimage.center_of_mass(holes, hl, index=(order + 1).tolist()))
    # sub-pixel: darkness-weighted centroid in a 12 mm box, twice
    out = []
    for r, c in cents:
        for _ in range(2):
            hr, hc = round(6.0 / sy), round(6.0 / sx)
            r0, r1 = max(0, round(r) - hr), min(img.shape[0], round(r) + hr + 1)
            c0, c1 = max(0, round(c) - hc), min(img.shape[1], round(c) + hc + 1)
            box = img[r0:r1, c0:c1]
            border = np.concatenate([box[0], box[-1], box[:, 0], box[:, -1]])
            w = np.clip(np.median(border) - box, 0.0, None)
            if not w.sum() > 0:
                break
            rr, cc = np.mgrid[r0:r1, c0:c1]
            r, c = float((w * rr).sum() / w.sum()), float((w * cc).sum() / w.sum())
        out.append((r, c))
    pts = np.array(out)
    pts = pts[np.argsort(pts[:, 0])]
    rows = [pts[3 * i:3 * i + 3] for i in range(3)]
    return np.stack([row[np.argsort(row[:, 1])] for row in rows])  # (3, 3, 2)


def magnet_slice_width(image: NDArray, spacing_mm: tuple[float, float], *, ramp_angle_deg: float = 11.3,
                       rod_separation_mm: float = 120.0, band_half_height_mm: float = 10.0,
                       baseline_mm: float = 30.0, sample_step_px: float = 0.25) -> MagnetSliceWidthResult:
    """MagNET slice width from the two crossed ramps of the geometry / slice-width test object.

    Parameters
    ----------
    image : (y, x) array
        The MagNET slice-width image (rods in a 3 x 3 grid, ramp bands between the rod rows).
    spacing_mm : (row, col) pixel spacing in mm.
    ramp_angle_deg : angle of the ramps to the slice (MagNET: 11.3 deg, tan = 0.2).
    rod_separation_mm : nominal distance between the outer rods of a row (geometric correction).
    band_half_height_mm : each profile is the mean over this half height about the band's centre line.
    baseline_mm : length at each end of the profile that fixes the initial quadratic baseline.
    sample_step_px : the profile is read every this many pixels along the band (bilinear).

    Returns
    -------
    MagnetSliceWidthResult
        ``slice_width_mm`` (``mr.slice_width.mm``), per-ramp fits, rods, tilt.

    Notes
    -----
    Fit per ramp: ``p(x) = c0 + c1 x + c2 x^2 + A clip((w/2 + r/2 - |x - x0|) / r, 0, 1)`` (least squares,
    continuous parameters); FWHM ``w`` divided by (measured / nominal outer-rod separation); the two corrected
    FWHM combined by :func:`crossed_ramp_width` (AAPM Report 28; IPEM Report 112 / MagNET).
    """
    img, sy, sx = _check_image(image, spacing_mm, "magnet_slice_width")
    if not 0 < ramp_angle_deg < 45:
        raise InputError(f"magnet_slice_width: ramp_angle_deg must be in (0, 45), got {ramp_angle_deg}")
    warns: list[str] = []
    rods = _find_rods(img, (sy, sx))
    mm = np.array([sy, sx])

    def dist(p, q):
        return float(np.hypot(*((p - q) * mm)))
    horiz = np.array([dist(rods[i, 0], rods[i, 2]) for i in range(3)])   # top, middle, bottom rows
    vert = np.array([dist(rods[0, j], rods[2, j]) for j in range(3)])    # left, middle, right columns
    scale_top = float(np.mean(horiz[0:2])) / rod_separation_mm
    scale_bot = float(np.mean(horiz[1:3])) / rod_separation_mm

    fits = []
    for name, ra, rb, scale in (("top", 0, 1, scale_top), ("bottom", 1, 2, scale_bot)):
        p_left = 0.5 * (rods[ra, 0] + rods[rb, 0])
        p_right = 0.5 * (rods[ra, 2] + rods[rb, 2])
        vec = p_right - p_left
        length_mm = float(np.hypot(*(vec * mm)))
        u = vec * mm / length_mm                   # unit vector along the band (dy, dx) in mm
        nrm = np.array([u[1], -u[0]])              # across the band
        step = sample_step_px * min(sy, sx)
        t = np.arange(0.0, length_mm + 1e-9, step)
        s = np.arange(-band_half_height_mm, band_half_height_mm + 1e-9, min(sy, sx))
        pts = (p_left[None, None, :] + (t[None, :, None] * u[None, None, :] + s[:, None, None]
                                         * nrm[None, None, :]) / mm[None, None, :])
        vals = ndimage.map_coordinates(img, [pts[..., 0].ravel(), pts[..., 1].ravel()], order=1,
                                       mode="nearest").reshape(pts.shape[:2])
        prof = vals.mean(axis=0)
        x = t - 0.5 * length_mm
        # initial baseline from the ends, dip or bump from the corrected profile
        ends = (x <= x[0] + baseline_mm) | (x >= x[-1] - baseline_mm)
        c = np.polyfit(x[ends], prof[ends], 2)
        corr = prof - np.polyval(c, x)
        amp0 = float(corr[np.argmax(np.abs(ndimage.uniform_filter1d(corr, 9)))])
        sgn = 1.0 if amp0 > 0 else -1.0
        wts = np.clip(sgn * corr, 0, None)
        x00 = float((wts * x).sum() / wts.sum()) if wts.sum() > 0 else 0.0
        w00 = float(wts.sum() * step / abs(amp0)) if amp0 != 0 else 0.3 * length_mm

        def resid(p, x=x, prof=prof):
            return np.polyval(p[4:], x) + _trapezoid(x, p[0], p[1], p[2], p[3]) - prof
        p0 = np.array([amp0, x00, w00, 0.3 * w00, c[0], c[1], c[2]])
        fit = optimize.least_squares(resid, p0, method="lm", x_scale="jac")
        amp, x0, w, r = fit.x[0], fit.x[1], abs(fit.x[2]), abs(fit.x[3])
        # standard error of w from the Jacobian
        try:
            jac = fit.jac
            dof = max(1, x.size - 7)
            cov = np.linalg.inv(jac.T @ jac) * float(fit.fun @ fit.fun) / dof
            unc_w = float(math.sqrt(max(cov[2, 2], 0.0)))
        except np.linalg.LinAlgError:
            unc_w = None
        if r > w:
            warns.append(f"the {name} ramp's fit is triangular (ramp {r:.1f} mm > FWHM {w:.1f} mm)")
        baseline = np.polyval(fit.x[4:], x)
        model = baseline + _trapezoid(x, amp, x0, w, r)
        fits.append(MagnetRampFit(name, x, prof, model, baseline, Quantity(w, "mm", unc_w),
                                  Quantity(w / scale, "mm", None if unc_w is None else unc_w / scale), float(r),
                                  float(amp), float(x0), scale, float(0.5 * (p_left[0] + p_right[0])),
                                  band_end_px=(tuple(float(v) for v in p_left), tuple(float(v) for v in p_right))))
    a = fits[0].fwhm_corrected_mm.value
    b = fits[1].fwhm_corrected_mm.value
    width, tilt = crossed_ramp_width(a, b, ramp_angle_deg)
    tan_t = math.tan(math.radians(ramp_angle_deg))
    params = {"ramp_angle_deg": float(ramp_angle_deg), "rod_separation_mm": float(rod_separation_mm),
              "band_half_height_mm": float(band_half_height_mm), "baseline_mm": float(baseline_mm),
              "sample_step_px": float(sample_step_px), "spacing_mm": (sy, sx),
              "model": "quadratic baseline + trapezoid, least squares"}
    return MagnetSliceWidthResult(Quantity(width, "mm"), Quantity(a * tan_t, "mm"), Quantity(b * tan_t, "mm"),
                                  tilt, (fits[0], fits[1]), rods, horiz, vert, params, tuple(warns))
