"""The object mask of a flood (uniform) phantom image and the distance of each pixel to its edge.

Private helper of :mod:`phantomqc.mr.uniformity` (WS/T 263, NEMA MS 3) and :mod:`phantomqc.mr.snr`
(single-image SNR): the ROIs of those methods are placed inside the *object* -- the pixels that hold signal --
rather than inside a fitted circle, so that a rectangle (a sagittal or coronal image of a cylinder) and a phantom
with an air bubble (a signal void inside its outline) are measured where there is signal. For a circular flood
without voids the regions are those of the circle methods to within a pixel.

Rules (one for every method):

- **object mask**: pixels of the 3 x 3 median-filtered image (noise removed, edges kept where they are) above
  ``p1 + 0.15 (p99 - p1)`` (its 1st and 99th percentiles), the largest 4-connected component, holes *not* filled
  (voids stay excluded).
- **outline**: the given circle when the caller gives ``center_px`` and ``radius_mm``; otherwise the fitted
  circle (:func:`phantomqc.mr.snr._phantom`, the robust edge fit) when the object is a disc (>= 98 % of the
  filled component inside it and >= 90 % of it covered); else the object mask itself (a rectangle: a sagittal or
  coronal cylinder). **Voids** inside a circle are its pixels, more than 2 pixels inside it, that are not object
  (an air bubble at the top of an axial image is open to the air beyond the wall, so it is no hole of the
  component; the circle finds it); inside any other outline, the holes of the component.
- **centre**: the given or fitted circle's centre; for another shape the centroid of the hole-filled component.
- **distance** of a pixel to the edge: inside a circle min(``R - rho`` exactly, the distance to the nearest
  void), so that a disc without voids gives exactly the regions of the circle methods; otherwise the distance to
  the nearest non-object pixel (:func:`scipy.ndimage.distance_transform_edt` with the pixel spacing, the image
  border counting as outside). A distance between pixel centres is reduced by half a pixel, to the boundary
  between the two pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from phantomqc._shared.errors import PhantomNotFoundError

#: Object threshold as a fraction of the way from the 1st to the 99th percentile of the 3 x 3 median-filtered image.
#: On the real floods (phantomqc/realdata mr/uniformity) the phantom's darkest 0.5 % lie at 400-600 with the 99th
#: percentile at 1250-2340 (bright edge bands), the air background below 80 away from the ghosts and the bubble of
#: axial_oil at ~20: 0.15 (190-350) keeps the whole phantom, while 0.25 already cuts holes into the dark bottom of
#: cor.dcm (and 0.30 loses 9 % of it). The object area changes by < 1 % between 0.10 and 0.20 on all four files.
OBJECT_THRESHOLD_FRACTION: float = 0.15

#: A disc is taken as the outline when >= this fraction of the filled component lies inside the fitted circle
#: (+ 2 pixels) and the component (+ voids) covers >= 90 % of the circle.
_DISC_INSIDE_FRACTION = 0.98
_DISC_COVER_FRACTION = 0.90
#: Non-object pixels closer than this to the circle are edge partial volume, not voids (pixels).
_VOID_MARGIN_PX = 2.0
#: A void smaller than this (mm^2) is noise, not reported.
_MIN_VOID_MM2 = 10.0


@dataclass(frozen=True)
class FloodObject:
    """The object of a flood image.

    ``mask``: the object pixels that may hold ROIs (voids excluded; inside the circle when one was given);
    ``distance_mm``: distance of each pixel centre to the object's edge or the nearest void (0 outside ``mask``);
    ``center_px``: the centre (row, col); ``area_mm2``: area of ``mask``; ``void_area_mm2``: area of the voids
    inside the outline; ``outline``: "given circle", "fitted circle" or "object mask"; ``circle``: (centre, radius)
    of the given circle (its distance term is exact), else None; ``equivalent_radius_mm``: the given or fitted
    radius, else sqrt(filled area / pi); ``threshold``: the object threshold used; ``void_distance_mm``: with a
    given circle, the distance to the nearest void (None without voids).
    """

    mask: np.ndarray
    distance_mm: np.ndarray
    center_px: tuple[float, float]
    area_mm2: float
    void_area_mm2: float
    outline: str
    circle: tuple[tuple[float, float], float] | None
    equivalent_radius_mm: float
    threshold: float
    spacing_mm: tuple[float, float]
    center_found: bool
    void_distance_mm: np.ndarray | None = None

    @property
    def placement(self) -> str:
        """How the ROIs were placed, for a result's ``parameters``."""
        return "object mask" if self.circle is None else f"object mask inside the {self.outline}"

    def void_warnings(self) -> list[str]:
        """The warning for a signal void inside the outline, or none."""
        if self.void_area_mm2 < _MIN_VOID_MM2:
            return []
        return [(f"signal void of {self.void_area_mm2:.0f} mm^2 inside the phantom ({self.outline}; an air "
                 "bubble?) excluded from the ROIs")]


def _largest_component(mask: np.ndarray) -> np.ndarray:
    lab, n = ndimage.label(mask)
    if n == 0:
        raise PhantomNotFoundError("no pixel above the object threshold: expected a flood phantom")
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes))


def _disc(shape, sp, center, radius_mm) -> tuple[np.ndarray, np.ndarray]:
    yy = (np.arange(shape[0]) - center[0]) * sp[0]
    xx = (np.arange(shape[1]) - center[1]) * sp[1]
    rho = np.sqrt(yy[:, None] ** 2 + xx[None, :] ** 2)
    return rho <= radius_mm, rho


def _edt_mm(inside: np.ndarray, sp: tuple[float, float]) -> np.ndarray:
    """Distance (mm) from each ``inside`` pixel centre to the boundary with the nearest outside pixel (the image
    border counts as outside); +inf everywhere when nothing is outside."""
    padded = np.pad(inside, 1, constant_values=False)
    d = ndimage.distance_transform_edt(padded, sampling=sp)[1:-1, 1:-1]
    return np.where(inside, np.maximum(d - 0.5 * min(sp), 0.0), 0.0)


def _circle_object(comp, sp, c, r, outline, thr, found) -> FloodObject:
    """The object inside a circle: the disc minus the voids (non-object pixels more than the margin inside it);
    the distance is min(R - rho, distance to the nearest void)."""
    pix_mm2 = sp[0] * sp[1]
    _, rho = _disc(comp.shape, sp, c, r)
    disc = rho <= r
    # a void reaches deeper than the margin (edge partial volume does not); it is then taken whole, up to the edge
    cand = disc & ~comp
    core = cand & (rho <= r - _VOID_MARGIN_PX * max(sp))
    voids = cand & ndimage.binary_dilation(core, iterations=int(math.ceil(_VOID_MARGIN_PX)) + 1) if core.any() \
        else core
    mask = disc & ~voids
    d_circle = np.where(disc, r - rho, 0.0)
    d_void = _edt_mm(~voids, sp) if voids.any() else None
    dist = np.where(mask, d_circle if d_void is None else np.minimum(d_circle, d_void), 0.0)
    return FloodObject(mask, dist, c, float(mask.sum()) * pix_mm2, float(voids.sum()) * pix_mm2, outline, (c, r),
                       r, thr, sp, found, d_void)


def flood_object(img: np.ndarray, sp: tuple[float, float], center_px: tuple[float, float] | None = None,
                 radius_mm: float | None = None, *,
                 threshold_fraction: float = OBJECT_THRESHOLD_FRACTION) -> FloodObject:
    """The object mask, centre and edge-distance map of a flood image (see the module notes for the rules).

    Parameters
    ----------
    img : ndarray
        The image, ``(rows, cols)`` (validated by the caller).
    sp : (float, float)
        Pixel spacing (row, column), mm (validated by the caller).
    center_px, radius_mm : optional
        A caller's centre (row, col) and radius: with both, the outline is that circle; one of them replaces the
        fitted (or centroid) value.
    threshold_fraction : float
        Object threshold between the 1st and 99th percentiles of the filtered image.

    Returns
    -------
    FloodObject
    """
    from phantomqc.mr.snr import _phantom  # lazy: snr imports this module

    f = img.astype(np.float64)
    sm = ndimage.median_filter(f, 3, mode="nearest")
    lo, hi = (float(v) for v in np.percentile(sm, [1.0, 99.0]))
    if not hi > lo:
        raise PhantomNotFoundError("the image is constant (1st and 99th percentiles equal): expected a flood phantom")
    thr = lo + threshold_fraction * (hi - lo)
    comp = _largest_component(sm > thr)
    given_c = None if center_px is None else (float(center_px[0]), float(center_px[1]))
    if given_c is not None and radius_mm is not None:
        return _circle_object(comp, sp, given_c, float(radius_mm), "given circle", thr, False)
    filled = ndimage.binary_fill_holes(comp)
    # a disc: the fitted circle holds the filled component and the component (with any bubble) fills the circle
    try:
        fc, fr = _phantom(img, sp)
    except PhantomNotFoundError:
        fc = None
    if fc is not None:
        _, rho = _disc(img.shape, sp, fc, fr)
        inside = filled[rho <= fr + _VOID_MARGIN_PX * max(sp)].sum() / max(int(filled.sum()), 1)
        in_circle = rho <= fr
        if inside >= _DISC_INSIDE_FRACTION and (filled & in_circle).sum() >= _DISC_COVER_FRACTION * in_circle.sum():
            c = given_c if given_c is not None else (float(fc[0]), float(fc[1]))
            r = float(radius_mm) if radius_mm is not None else float(fr)
            return _circle_object(comp, sp, c, r, "fitted circle", thr, given_c is None)
    # any other shape (a rectangle): the component itself; its holes are the voids
    pix_mm2 = sp[0] * sp[1]
    voids = filled & ~comp
    if given_c is not None:
        c, found = given_c, False
    else:
        rows, cols = np.nonzero(filled)
        c, found = (float(rows.mean()), float(cols.mean())), True
    mask = comp.copy()
    if radius_mm is not None:
        mask &= _disc(img.shape, sp, c, float(radius_mm))[0]
    return FloodObject(mask, _edt_mm(mask, sp), c, float(mask.sum()) * pix_mm2, float(voids.sum()) * pix_mm2,
                       "object mask", None,
                       float(radius_mm) if radius_mm is not None else math.sqrt(filled.sum() * pix_mm2 / math.pi),
                       thr, sp, found)


def central_region(obj: FloodObject, area_fraction: float) -> tuple[np.ndarray, float]:
    """The pixels of the object at least ``t`` from its edge, ``t`` chosen so that they are ``area_fraction`` of
    the object's pixels; returns (region, t_mm). For a disc of radius R this is the concentric disc R sqrt(f).

    Ties at ``t`` are all kept, so the region may exceed the fraction by the pixels of one distance value.
    """
    d = obj.distance_mm[obj.mask]
    n = d.size
    if n == 0:
        raise PhantomNotFoundError("the flood object mask is empty")
    k = max(1, int(math.ceil(area_fraction * n - 1e-9)))
    t = float(np.partition(d, n - k)[n - k])  # the k-th largest distance
    return obj.mask & (obj.distance_mm >= t), t


def _distance_at(obj: FloodObject, rho_mm: float, unit: tuple[float, float]) -> float:
    """Edge distance at ``rho_mm`` from the centre along ``unit`` (mm direction, row and col): bilinear in the
    map; for a given circle min(R - rho exactly, the interpolated void distance)."""
    (cy, cx), sp = obj.center_px, obj.spacing_mm
    py, px = cy + rho_mm * unit[0] / sp[0], cx + rho_mm * unit[1] / sp[1]
    h, w = obj.mask.shape
    if not (0 <= py <= h - 1 and 0 <= px <= w - 1):
        return -1.0
    if obj.circle is None:
        return float(ndimage.map_coordinates(obj.distance_mm, [[py], [px]], order=1)[0])
    (ccy, ccx), r = obj.circle
    d_circle = r - math.hypot((py - ccy) * sp[0], (px - ccx) * sp[1])
    if obj.void_distance_mm is None:
        return d_circle
    return min(d_circle, float(ndimage.map_coordinates(obj.void_distance_mm, [[py], [px]], order=1)[0]))


def ray_distance_mm(obj: FloodObject, angle_deg: float, min_distance_mm: float) -> float:
    """Distance (mm) from the centre, along the ray at ``angle_deg`` (0 = +column, 90 = up), of the last point
    before the edge distance first falls below ``min_distance_mm`` (walked outwards in quarter-pixel steps, the
    crossing refined by bisection); -1 when the centre itself is closer than that to the edge."""
    a = math.radians(angle_deg)
    unit = (-math.sin(a), math.cos(a))
    step = 0.25 * min(obj.spacing_mm)
    if _distance_at(obj, 0.0, unit) < min_distance_mm:
        return -1.0
    lo = 0.0
    limit = math.hypot(obj.mask.shape[0] * obj.spacing_mm[0], obj.mask.shape[1] * obj.spacing_mm[1])
    while lo < limit and _distance_at(obj, lo + step, unit) >= min_distance_mm:
        lo += step
    hi = lo + step
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if _distance_at(obj, mid, unit) >= min_distance_mm:
            lo = mid
        else:
            hi = mid
    return lo
