"""MR image intensity uniformity: ACR percent integral uniformity, WS/T 263-2006, NEMA MS 3 and the IPEM / MagNET
fractional uniformity.

Measurement ids: ``mr.uniformity.piu_percent``, ``mr.uniformity.wst263_percent``,
``mr.uniformity.nema_ms3_percent``, ``mr.uniformity.fractional`` (labels ``horizontal`` and ``vertical``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from phantomqc._shared.errors import InputError, PhantomNotFoundError
from phantomqc.core.roi import RectROI
from phantomqc.core.types import Quantity
from phantomqc.mr._flood_mask import central_region, flood_object, ray_distance_mm
from phantomqc.mr.geometry import ACR_LARGE
from phantomqc.mr.snr import DiscROI, _as_image, _center, _disc_mask, _spacing

__all__ = [
    "FractionalUniformityResult",
    "NEMAMS3UniformityResult",
    "PIUResult",
    "WST263UniformityResult",
    "acr_piu",
    "disc_mean_map",
    "ipem_fractional_uniformity",
    "nema_ms3_uniformity",
    "wst263_uniformity",
]


_ACR_U = ACR_LARGE.uniformity  # slice-7 ROI rules (large 200 cm^2, small 1 cm^2)


def disc_mean_map(image: np.ndarray, spacing_mm: tuple[float, float], radius_mm: float) -> tuple[np.ndarray, int]:
    """Mean of ``image`` in a disc of ``radius_mm`` centred on every pixel (NaN where the disc leaves the image).

    A pixel belongs to the disc when its centre is within ``radius_mm`` (an ellipse in pixels for anisotropic
    spacing). The sums come from row-wise cumulative sums: each disc is the sum of 2 r_y + 1 horizontal runs, so
    the cost is O(rows x cols x (2 r_y + 1)) array operations without Python loops over positions.

    Returns
    -------
    means : ndarray (float64)
    n_pixels : int
        Pixels in each disc.

    Examples
    --------
    >>> m, n = disc_mean_map(np.ones((20, 20)), (1.0, 1.0), 2.0)
    >>> n, float(m[10, 10]), bool(np.isnan(m[0, 0]))
    (13, 1.0, True)
    """
    img = np.asarray(image, dtype=np.float64)
    sy, sx = spacing_mm
    ry = int(math.floor(radius_mm / sy + 1e-9))
    dys = np.arange(-ry, ry + 1)
    half = np.floor(np.sqrt(np.maximum(radius_mm ** 2 - (dys * sy) ** 2, 0.0)) / sx + 1e-9).astype(int)
    wmax = int(half.max())
    h, w = img.shape
    pad = np.zeros((h + 2 * ry, w + 2 * wmax + 2), dtype=np.float64)
    pad[ry:ry + h, wmax + 1:wmax + 1 + w] = img
    csum = np.cumsum(pad, axis=1)  # csum[:, j] = sum of pad[:, :j+1]
    total = np.zeros((h, w), dtype=np.float64)
    for dy, hw in zip(dys, half):
        rows = csum[ry + dy:ry + dy + h]
        # columns x - hw .. x + hw of the image are pad columns x - hw + wmax + 1 .. x + hw + wmax + 1
        hi = rows[:, wmax + 1 + hw: wmax + 1 + hw + w]
        lo = rows[:, wmax - hw: wmax - hw + w]
        total += hi - lo
    n = int((2 * half + 1).sum())
    means = total / n
    rr = np.arange(h)[:, None]
    cc = np.arange(w)[None, :]
    inside = (rr - ry >= 0) & (rr + ry < h) & (cc - wmax >= 0) & (cc + wmax < w)
    return np.where(inside, means, np.nan), n


# ---------------------------------------------------------------------------------------------------------------
# ACR percent integral uniformity
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PIUResult:
    """ACR percent integral uniformity (id ``mr.uniformity.piu_percent``).

    ``high``/``low``: the largest and smallest mean of the small ROIs inside the large ROI; ``high_roi`` and
    ``low_roi`` where they are; ``large_roi`` the large ROI (pixels of the image).
    """

    piu_percent: Quantity
    high: Quantity
    low: Quantity
    high_roi: DiscROI
    low_roi: DiscROI
    large_roi: DiscROI
    n_positions: int
    warnings: tuple[str, ...] = ()
    parameters: dict = field(default_factory=dict)


def acr_piu(image: np.ndarray, spacing_mm: tuple[float, float], *, center_px: tuple[float, float] | None = None,
            large_roi_area_cm2: float = _ACR_U.large_area_mm2 / 100.0,
            small_roi_area_cm2: float = _ACR_U.small_area_mm2 / 100.0,
            roi_offset_mm: tuple[float, float] = (_ACR_U.large_center_dy_mm, 0.0)) -> PIUResult:
    """Percent integral uniformity of the ACR large phantom, slice 7 (id ``mr.uniformity.piu_percent``).

    Parameters
    ----------
    image : ndarray
        Slice 7 of the ACR axial series, ``(rows, cols)``.
    spacing_mm : (float, float)
        Pixel spacing (row, column), mm.
    center_px : (float, float), optional
        Phantom centre (row, col) in pixels; found when not given.
    large_roi_area_cm2 : float
        Area of the large circular ROI (ACR: 195-205 cm^2, 200 cm^2 here).
    small_roi_area_cm2 : float
        Area of the small circular ROIs whose means give high and low (ACR: ~1 cm^2).
    roi_offset_mm : (float, float)
        Shift (row, col) of the large ROI from the phantom centre, mm (ACR places it centred; some sites shift it
        down by ~5 mm to clear the top void).

    Returns
    -------
    PIUResult

    Notes
    -----
    PIU = 100 (1 - (high - low) / (high + low)), where high and low are the largest and smallest mean of a
    small ROI over every pixel position whose small ROI lies completely inside the large ROI (distance between
    the centres + r_small <= r_large) -- the exhaustive search that the ACR guidance performs by eye with the
    window level. The small-ROI means at all positions come from row cumulative sums (:func:`disc_mean_map`).
    Because the extremes of many noisy means are searched, noise lowers the PIU slightly (~ 2 sigma / (S sqrt n)).

    References
    ----------
    ACR (2018, 2022) *Large and Medium Phantom Test Guidance for the ACR MRI Accreditation Program*, section 5.
    """
    img = _as_image(image)
    sp = _spacing(spacing_mm)
    if not (large_roi_area_cm2 > small_roi_area_cm2 > 0):
        raise InputError(f"need large_roi_area_cm2 > small_roi_area_cm2 > 0, got {large_roi_area_cm2!r} and "
                         f"{small_roi_area_cm2!r}")
    center, _, found = _center(img, sp, center_px)
    c = (center[0] + roi_offset_mm[0] / sp[0], center[1] + roi_offset_mm[1] / sp[1])
    r_large = math.sqrt(large_roi_area_cm2 * 100.0 / math.pi)
    r_small = math.sqrt(small_roi_area_cm2 * 100.0 / math.pi)
    means, n_small = disc_mean_map(img, sp, r_small)
    yy = (np.arange(img.shape[0]) - c[0]) * sp[0]
    xx = (np.arange(img.shape[1]) - c[1]) * sp[1]
    dist = np.sqrt(yy[:, None] ** 2 + xx[None, :] ** 2)
    valid = (dist + r_small <= r_large) & np.isfinite(means)
    if not valid.any():
        raise InputError(f"the large ROI of {large_roi_area_cm2:g} cm^2 at {c} does not fit in the image")
    warnings: list[str] = []
    if (dist <= r_large).sum() * sp[0] * sp[1] < 0.95 * math.pi * r_large ** 2:
        warnings.append("the large ROI extends beyond the image: check the phantom centre")
    vals = np.where(valid, means, np.nan)
    i_hi = np.unravel_index(int(np.nanargmax(vals)), vals.shape)
    i_lo = np.unravel_index(int(np.nanargmin(vals)), vals.shape)
    hi, lo = float(vals[i_hi]), float(vals[i_lo])
    if not hi + lo > 0:
        raise InputError("the ROI means are not positive: is this a magnitude image of the phantom?")
    piu = 100.0 * (1.0 - (hi - lo) / (hi + lo))
    n_large = int((dist <= r_large).sum())
    return PIUResult(
        piu_percent=Quantity(piu, "%"), high=Quantity(hi, ""), low=Quantity(lo, ""),
        high_roi=DiscROI("high", float(i_hi[0]), float(i_hi[1]), r_small, n_small),
        low_roi=DiscROI("low", float(i_lo[0]), float(i_lo[1]), r_small, n_small),
        large_roi=DiscROI("large", c[0], c[1], r_large, n_large), n_positions=int(valid.sum()),
        warnings=tuple(warnings),
        parameters={"large_roi_area_cm2": large_roi_area_cm2, "small_roi_area_cm2": small_roi_area_cm2,
                    "roi_offset_mm": tuple(roi_offset_mm), "center_found": found, "center_px": center})


# ---------------------------------------------------------------------------------------------------------------
# WS/T 263-2006
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WST263UniformityResult:
    """WS/T 263-2006 image uniformity (id ``mr.uniformity.wst263_percent``): U over the nine ROI means."""

    uniformity_percent: Quantity
    s_max: float
    s_min: float
    roi_means: dict[str, float]
    rois: tuple[DiscROI, ...]
    warnings: tuple[str, ...] = ()
    parameters: dict = field(default_factory=dict)


_ANGLES = tuple(range(0, 360, 45))


def wst263_uniformity(image: np.ndarray, spacing_mm: tuple[float, float], *,
                      center_px: tuple[float, float] | None = None, radius_mm: float | None = None,
                      roi_area_mm2: float = 190.7, edge_gap_mm: float = 10.0,
                      edge_gap_to: str = "roi_edge") -> WST263UniformityResult:
    """Image uniformity by WS/T 263-2006: nine ROIs, U = [1 - (S_max - S_min)/(S_max + S_min)] x 100 %.

    Parameters
    ----------
    image : ndarray
        One magnitude image of the uniform phantom, ``(rows, cols)``.
    spacing_mm : (float, float)
        Pixel spacing (row, column), mm.
    center_px, radius_mm : optional
        Phantom centre (row, col) in pixels and radius in mm. Not given: the object mask (below) gives the centre
        and the edge. Both given: the edge is that circle, and signal voids inside it are still avoided.
    roi_area_mm2 : float
        Area of each circular ROI: the standard's "about 200 pixels" at 250 mm / 256 (0.977 mm) is 190.7 mm^2.
    edge_gap_mm : float
        Distance of the peripheral ROIs from the phantom edge ("about 1 cm").
    edge_gap_to : {"roi_edge", "roi_centre"}
        Whether ``edge_gap_mm`` is measured to the ROI edge (centre at R - gap - r) or its centre (R - gap); the
        wording of the standard is ambiguous (STANDARDS.md section 8).

    Returns
    -------
    WST263UniformityResult

    Notes
    -----
    ROIs: the centre, and eight at 0, 45, ..., 315 degrees (0 = towards +column, counter-clockwise in the displayed
    image, i.e. 90 = up). S_max, S_min = the largest and smallest of the nine means;
    U = [1 - (S_max - S_min)/(S_max + S_min)] x 100 %, i.e. 1 - half-range / mid-range.
    Source: JJF(浙)1157-2019, which follows WS/T 263-2006 (STANDARDS.md section 3).

    Placement (``parameters["roi_placement"]``, the standard is silent beyond the circle): each peripheral ROI lies
    on its ray at the last point, walking out from the centre, whose distance to the edge of the *object mask*
    (the pixels with signal; :mod:`phantomqc.mr._flood_mask`) is at least ``edge_gap_mm + r`` (``"roi_edge"``)
    or ``edge_gap_mm`` (``"roi_centre"``). For a disc of radius R this is R - gap - r (or R - gap), as for a
    circle; in a rectangle (a sagittal or coronal cylinder) every ROI stays inside with the gap, and an air
    bubble is kept at the gap like the wall (a warning gives its area).
    """
    img = _as_image(image)
    sp = _spacing(spacing_mm)
    if edge_gap_to not in ("roi_edge", "roi_centre"):
        raise InputError(f"edge_gap_to must be 'roi_edge' or 'roi_centre', got {edge_gap_to!r}")
    if center_px is not None:
        center_px = _center(img, sp, center_px)[0]  # validated
    obj = flood_object(img, sp, center_px, radius_mm)
    center = obj.center_px
    r_roi = math.sqrt(roi_area_mm2 / math.pi)
    need = edge_gap_mm + (r_roi if edge_gap_to == "roi_edge" else 0.0)
    dists = {f"deg{a}": ray_distance_mm(obj, a, need) for a in _ANGLES}
    d = min(dists.values())
    if d < 2 * r_roi:
        raise InputError(f"the phantom (equivalent radius {obj.equivalent_radius_mm:.1f} mm, {obj.outline}) is too "
                         f"small for ROIs of {roi_area_mm2:g} mm^2 at {edge_gap_mm:g} mm from its edge: the nearest "
                         f"peripheral ROI would be {d:.1f} mm from the centre")
    f = img.astype(np.float64)
    rois, means = [], {}
    warnings = obj.void_warnings()
    places = [("centre", center)] + [
        (f"deg{a}", (center[0] - dists[f"deg{a}"] * math.sin(math.radians(a)) / sp[0],
                     center[1] + dists[f"deg{a}"] * math.cos(math.radians(a)) / sp[1])) for a in _ANGLES]
    for name, c in places:
        m = _disc_mask(img.shape, sp, c, r_roi)
        if m.sum() < 3:
            raise InputError(f"ROI {name} is outside the image: check the phantom centre and radius")
        if not obj.mask[m].all():
            warnings.append(f"ROI {name} is not wholly inside the phantom (object mask): {int((~obj.mask[m]).sum())} "
                            "of its pixels are outside it or in a signal void")
        means[name] = float(f[m].mean())
        rois.append(DiscROI(name, c[0], c[1], r_roi, int(m.sum())))
    smax, smin = max(means.values()), min(means.values())
    if not smax + smin > 0:
        raise InputError("the ROI means are not positive: is this a magnitude image of the phantom?")
    u = (1.0 - (smax - smin) / (smax + smin)) * 100.0
    return WST263UniformityResult(
        uniformity_percent=Quantity(u, "%"), s_max=smax, s_min=smin, roi_means=means, rois=tuple(rois),
        warnings=tuple(warnings),
        parameters={"roi_area_mm2": roi_area_mm2, "edge_gap_mm": edge_gap_mm, "edge_gap_to": edge_gap_to,
                    "roi_placement": obj.placement, "outline": obj.outline,
                    "phantom_radius_mm": obj.equivalent_radius_mm, "roi_distance_mm": d,
                    "roi_distances_mm": dists, "object_threshold": obj.threshold,
                    "void_area_mm2": obj.void_area_mm2, "center_found": obj.center_found, "center_px": center})


# ---------------------------------------------------------------------------------------------------------------
# NEMA MS 3
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NEMAMS3UniformityResult:
    """NEMA MS 3 maximum/minimum non-uniformity (id ``mr.uniformity.nema_ms3_percent``: the non-uniformity NU,
    lower is better); ``uniformity_percent`` = 100 - NU for comparison with the ACR PIU.

    ``roi``: the region's centre and equivalent radius sqrt(area / pi) (the region itself for a disc);
    ``region_mask``: the measured pixels (a disc for a circular phantom, a rounded rectangle for a sagittal or
    coronal cylinder, with any signal void cut out)."""

    nonuniformity_percent: Quantity
    uniformity_percent: Quantity
    s_max: float
    s_min: float
    max_px: tuple[int, int]
    min_px: tuple[int, int]
    roi: DiscROI
    warnings: tuple[str, ...] = ()
    parameters: dict = field(default_factory=dict)
    region_mask: np.ndarray | None = None


def nema_ms3_uniformity(image: np.ndarray, spacing_mm: tuple[float, float], *,
                        center_px: tuple[float, float] | None = None, radius_mm: float | None = None,
                        area_fraction: float = 0.75, filter_px: int = 3) -> NEMAMS3UniformityResult:
    """Image non-uniformity by the NEMA MS 3 maximum/minimum method (id ``mr.uniformity.nema_ms3_percent``).

    Parameters
    ----------
    image : ndarray
        One magnitude image of a uniform phantom, ``(rows, cols)``.
    spacing_mm : (float, float)
        Pixel spacing (row, column), mm.
    center_px, radius_mm : optional
        Phantom centre (row, col) in pixels and radius in mm. Not given: the object mask gives the edge. Both
        given: the edge is that circle, and signal voids inside it are still cut out.
    area_fraction : float
        The measured region is this fraction of the phantom area (NEMA: >= 75 %): the phantom's pixels at least
        a distance t from its edge (a concentric disc of radius R sqrt(f) for a disc of radius R).
    filter_px : int
        Side of the low-pass (boxcar) filter applied first, in pixels: NEMA's nine-point (3 x 3) filter.

    Returns
    -------
    NEMAMS3UniformityResult

    Notes
    -----
    The image is low-pass filtered with the 3 x 3 mean filter to reduce noise, then S_max and S_min are the
    largest and smallest filtered pixel values inside the ROI;
    NU = (S_max - S_min) / (S_max + S_min) x 100 %. Source: NEMA MS 3-2008 *Determination of Image Uniformity in
    Diagnostic MR Images*, method 1, as summarised in AAPM Report 100 (2010); the standard text was not at hand.

    The region (``parameters["roi_placement"]``): the pixels of the *object mask* (the pixels with signal, voids
    such as an air bubble excluded; :mod:`phantomqc.mr._flood_mask`) whose Euclidean distance to the nearest
    non-object pixel (:func:`scipy.ndimage.distance_transform_edt` with the spacing) is >= t, with t chosen so that
    the region is ``area_fraction`` of the object's area. For a disc this is the concentric disc the standard
    describes; for a rectangle or a phantom with a bubble it keeps the same distance from every edge.
    """
    img = _as_image(image)
    sp = _spacing(spacing_mm)
    if not 0 < area_fraction <= 1:
        raise InputError(f"area_fraction must be in (0, 1], got {area_fraction!r}")
    k = int(filter_px)
    if k < 1 or k != filter_px:
        raise InputError(f"filter_px must be a positive integer (3 for NEMA's nine-point filter), got {filter_px!r}")
    if center_px is not None:
        center_px = _center(img, sp, center_px)[0]  # validated
    obj = flood_object(img, sp, center_px, radius_mm)
    center = obj.center_px
    m, t = central_region(obj, area_fraction)
    sm = ndimage.uniform_filter(img.astype(np.float64), k, mode="nearest")
    vals = np.where(m, sm, np.nan)
    imax = np.unravel_index(int(np.nanargmax(vals)), vals.shape)
    imin = np.unravel_index(int(np.nanargmin(vals)), vals.shape)
    smax, smin = float(vals[imax]), float(vals[imin])
    if not smax + smin > 0:
        raise InputError("the filtered values are not positive: is this a magnitude image of the phantom?")
    nu = 100.0 * (smax - smin) / (smax + smin)
    n = int(m.sum())
    return NEMAMS3UniformityResult(
        nonuniformity_percent=Quantity(nu, "%"), uniformity_percent=Quantity(100.0 - nu, "%"), s_max=smax,
        s_min=smin, max_px=(int(imax[0]), int(imax[1])), min_px=(int(imin[0]), int(imin[1])),
        roi=DiscROI("nema_ms3", center[0], center[1], math.sqrt(n * sp[0] * sp[1] / math.pi), n),
        warnings=tuple(obj.void_warnings()), region_mask=m,
        parameters={"area_fraction": area_fraction, "filter_px": k, "roi_placement": obj.placement,
                    "outline": obj.outline, "phantom_radius_mm": obj.equivalent_radius_mm,
                    "object_area_mm2": obj.area_mm2, "region_edge_distance_mm": t,
                    "object_threshold": obj.threshold, "void_area_mm2": obj.void_area_mm2,
                    "center_found": obj.center_found, "center_px": center})


# ---------------------------------------------------------------------------------------------------------------
# IPEM / MagNET fractional uniformity
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FractionalUniformityResult:
    """IPEM fractional uniformity (id ``mr.uniformity.fractional``, labels ``horizontal`` and ``vertical``).

    ``horizontal``/``vertical``: the fraction (unit "1") of the profile within +-``tolerance`` of ``reference``;
    the profiles (the band means) and their bands and the central ROI are kept for the figure.
    """

    horizontal: Quantity
    vertical: Quantity
    reference: float
    horizontal_profile: np.ndarray
    vertical_profile: np.ndarray
    central_roi: RectROI
    horizontal_band: RectROI
    vertical_band: RectROI
    warnings: tuple[str, ...] = ()
    parameters: dict = field(default_factory=dict)


def _object_bbox_centre(img: np.ndarray) -> tuple[float, float]:
    """Centre of the bounding box of the largest object above the half-way threshold between the 1st and 99th
    percentiles: the centre of a disc (axial sphere) and of a rectangle (sagittal / coronal cylinder) alike."""
    sm = ndimage.uniform_filter(img.astype(np.float64), 3)
    lo, hi = (float(v) for v in np.percentile(sm, [1.0, 99.0]))
    if not hi > lo:
        raise PhantomNotFoundError("the image is constant: expected a test object")
    lab, _ = ndimage.label(sm > 0.5 * (lo + hi))
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    rows, cols = np.nonzero(lab == int(np.argmax(sizes)))
    return float(rows.min() + rows.max()) / 2.0, float(cols.min() + cols.max()) / 2.0


def _mode(values: np.ndarray) -> float:
    """The most frequent value (the smallest of ties), as the IPEM method reads the central ROI."""
    u, c = np.unique(values, return_counts=True)
    return float(u[int(np.argmax(c))])


def ipem_fractional_uniformity(image: np.ndarray, spacing_mm: tuple[float, float], *,
                               center_px: tuple[float, float] | None = None, profile_length_mm: float = 156.25,
                               profile_width_mm: float = 10.0, central_roi_mm: float = 10.0,
                               tolerance: float = 0.10, reference: str = "mode") -> FractionalUniformityResult:
    """Fractional uniformity of a flood image, IPEM Report 112 / MagNET (id ``mr.uniformity.fractional``).

    Parameters
    ----------
    image : ndarray
        One magnitude image of a uniform test object (axial, sagittal or coronal), ``(rows, cols)``.
    spacing_mm : (float, float)
        Pixel spacing (row, column), mm.
    center_px : (float, float), optional
        Centre (row, col) of the test object in pixels; when not given, the centre of the bounding box of the
        object (a circle's centre for an axial sphere, the rectangle's centre for a sagittal or coronal cylinder).
    profile_length_mm : float
        Length of the horizontal and vertical profiles through the centre (MagNET: 160 pixels at 0.977 mm =
        156.25 mm).
    profile_width_mm : float
        Width of the band averaged across to form each profile (several profile lines averaged against noise).
    central_roi_mm : float
        Side of the central square ROI whose modal value is the reference.
    tolerance : float
        Half-width of the acceptance band as a fraction of the reference (+-10 %).
    reference : {"mode", "mean"}
        The reference value from the central ROI: its mode (IPEM Report 80/112, MagNET) or its mean.

    Returns
    -------
    FractionalUniformityResult

    Notes
    -----
    Fractional uniformity = (number of profile points p with (1 - t) M < p < (1 + t) M) / (number of points),
    where M is the modal value of the central ROI and each profile point is the mean across the band. Typical
    values lie between 0.6 and 1.0 (IPEM Report 80). For axial images of a sphere the profiles run along the
    image rows and columns; in sagittal and coronal images they run along the object's long and short axes.

    References
    ----------
    IPEM Report 112 (2017) *Quality Control and Artefacts in Magnetic Resonance Imaging*; IPEM Report 80 (1998).
    """
    img = _as_image(image)
    sp = _spacing(spacing_mm)
    if reference not in ("mode", "mean"):
        raise InputError(f"reference must be 'mode' or 'mean', got {reference!r}")
    if not 0 < tolerance < 1:
        raise InputError(f"tolerance must be a fraction in (0, 1), got {tolerance!r}")
    if center_px is None:
        center, found = _object_bbox_centre(img), True
    else:
        center, _, found = _center(img, sp, center_px)
    h, w = img.shape

    def band(cy: float, cx: float, len_y: float, len_x: float, name: str) -> RectROI:
        nr = max(1, int(round(len_y / sp[0])))
        nc = max(1, int(round(len_x / sp[1])))
        r0 = int(round(cy - nr / 2.0))
        c0 = int(round(cx - nc / 2.0))
        if r0 < 0 or c0 < 0 or r0 + nr > h or c0 + nc > w:
            raise InputError(f"the {name} ({len_y:g} x {len_x:g} mm) at the centre ({cy:.1f}, {cx:.1f}) leaves the "
                             f"{h} x {w} image; use a shorter profile_length_mm")
        return RectROI(r0, c0, nr, nc, name)

    croi = band(center[0], center[1], central_roi_mm, central_roi_mm, "central")
    hband = band(center[0], center[1], profile_width_mm, profile_length_mm, "horizontal")
    vband = band(center[0], center[1], profile_length_mm, profile_width_mm, "vertical")
    central = img[croi.slices]
    ref = _mode(central.ravel()) if reference == "mode" else float(central.astype(np.float64).mean())
    if not ref > 0:
        raise InputError(f"the central reference value is {ref}: expected the signal of the test object")
    hprof = img[hband.slices].astype(np.float64).mean(axis=0)
    vprof = img[vband.slices].astype(np.float64).mean(axis=1)
    lo, hi = (1.0 - tolerance) * ref, (1.0 + tolerance) * ref

    def frac(p: np.ndarray) -> float:
        return float(np.count_nonzero((p > lo) & (p < hi))) / p.size

    warnings: list[str] = []
    if reference == "mode" and np.unique(central).size == central.size:
        warnings.append("every value in the central ROI is distinct (a floating-point image?): its mode is "
                        "arbitrary; use reference='mean'")
    return FractionalUniformityResult(
        horizontal=Quantity(frac(hprof), "1"), vertical=Quantity(frac(vprof), "1"), reference=ref,
        horizontal_profile=hprof, vertical_profile=vprof, central_roi=croi, horizontal_band=hband,
        vertical_band=vband, warnings=tuple(warnings),
        parameters={"profile_length_mm": profile_length_mm, "profile_width_mm": profile_width_mm,
                    "central_roi_mm": central_roi_mm, "tolerance": tolerance, "reference": reference,
                    "center_found": found, "center_px": center})
