"""Where the phantom is: the outline circle of one MR image, and which image of a series is ACR slice 1..11.

``find_phantom`` fits the phantom's outline (the inner wall of the fluid) on one image; ``acr_slices`` maps an
ordered axial ACR series onto the phantom's slices 1..11 and estimates the phantom's in-plane rotation.

Frames follow ``phantomqc.mr.geometry``: arrays ``(y, x)``, centre in pixels ``(row, col)``, angles clockwise on
the screen from 3 o'clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from phantomqc._shared.errors import InvalidImageError, PhantomNotFoundError
from phantomqc.mr.geometry import ACR_LARGE

__all__ = ["AcrSliceMap", "PhantomCircle", "acr_slices", "find_phantom"]


@dataclass(frozen=True)
class PhantomCircle:
    """The phantom outline on one image.

    ``center_px`` is ``(row, col)`` (floats, sub-pixel); ``radius_mm`` the fitted radius of the 50 % signal edge;
    ``edge_points_px`` the ``(row, col)`` edge points kept in the final fit (for figures); ``rejected`` how many
    edge points the robust fit dropped (bubbles, wedge bars touching the wall, ghosts); ``rotation_deg`` the
    phantom's in-plane rotation (clockwise on screen) where a caller estimated it, else None.
    """

    center_px: tuple[float, float]
    radius_mm: float
    spacing_mm: tuple[float, float]
    residual_rms_mm: float
    edge_points_px: NDArray = field(repr=False)
    rejected: int
    threshold: float
    signal_level: float
    rotation_deg: float | None = None
    rotation_method: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def diameter_mm(self) -> float:
        return 2.0 * self.radius_mm

    @property
    def center_mm(self) -> tuple[float, float]:
        """``(y, x)`` of the centre in mm from the centre of pixel (0, 0)."""
        return self.center_px[0] * self.spacing_mm[0], self.center_px[1] * self.spacing_mm[1]

    def to_px(self, x_mm: float, y_mm: float, roll_deg: float | None = None) -> tuple[float, float]:
        """``(row, col)`` of the phantom-frame point ``(x_mm, y_mm)``, rotated by ``roll_deg`` (default: the
        circle's own ``rotation_deg`` or 0)."""
        roll = self.rotation_deg if roll_deg is None else roll_deg
        a = math.radians(roll or 0.0)
        xr = x_mm * math.cos(a) - y_mm * math.sin(a)
        yr = x_mm * math.sin(a) + y_mm * math.cos(a)
        return self.center_px[0] + yr / self.spacing_mm[0], self.center_px[1] + xr / self.spacing_mm[1]


@dataclass(frozen=True)
class AcrSliceMap:
    """Which image index (into the volume passed) is ACR slice 1..11, and the phantom's rotation.

    ``index_of[k]`` is the image index of ACR slice ``k`` (1-based keys). ``reversed`` says that slice 1 was the
    last image of the volume. ``rotation_deg``: clockwise on screen, from ``rotation_method``; ``confidence``
    in [0, 1] summarises the content checks (1: slice 1 clearly has the ramp insert and slice 11 does not,
    slice 7 uniform, rotation measured on both wedge bars). ``circles`` holds the fitted outline per image.
    """

    index_of: dict[int, int]
    reversed: bool
    rotation_deg: float
    rotation_method: str
    confidence: float
    circles: tuple[PhantomCircle, ...] = field(repr=False)
    checks: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def slice_index(self, number: int) -> int:
        if number not in self.index_of:
            raise KeyError(f"ACR slice {number} is not in this series (it maps {sorted(self.index_of)})")
        return self.index_of[number]

    def circle(self, number: int) -> PhantomCircle:
        return self.circles[self.slice_index(number)]


def _spacing(spacing_mm) -> tuple[float, float]:
    try:
        sy, sx = (float(s) for s in spacing_mm)
    except (TypeError, ValueError):
        raise InvalidImageError(f"spacing_mm must be (row, column) spacing in mm, got {spacing_mm!r}") from None
    if not (sy > 0 and sx > 0 and math.isfinite(sy) and math.isfinite(sx)):
        raise InvalidImageError(f"spacing_mm must be two positive numbers, got {spacing_mm!r}")
    return sy, sx


def _circle_fit_algebraic(x: NDArray, y: NDArray) -> tuple[float, float, float]:
    """Kasa least-squares circle: minimise sum (x^2 + y^2 + D x + E y + F)^2."""
    a = np.column_stack([x, y, np.ones_like(x)])
    b = -(x * x + y * y)
    (d, e, f), *_ = np.linalg.lstsq(a, b, rcond=None)
    xc, yc = -d / 2, -e / 2
    r2 = xc * xc + yc * yc - f
    return float(xc), float(yc), float(math.sqrt(max(r2, 0.0)))


def _circle_fit_geometric(x: NDArray, y: NDArray, xc: float, yc: float, r: float,
                          n_iter: int = 20) -> tuple[float, float, float]:
    """Gauss-Newton on the geometric residuals ``|p - c| - r``, started from the algebraic fit."""
    for _ in range(n_iter):
        dx, dy = x - xc, y - yc
        d = np.hypot(dx, dy)
        d = np.where(d == 0, 1e-12, d)
        res = d - r
        jac = np.column_stack([-dx / d, -dy / d, -np.ones_like(d)])
        step, *_ = np.linalg.lstsq(jac, -res, rcond=None)
        xc, yc, r = xc + step[0], yc + step[1], r + step[2]
        if np.max(np.abs(step)) < 1e-7:
            break
    return float(xc), float(yc), float(r)


def _largest_component(mask: NDArray) -> NDArray:
    lab, n = ndimage.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes))


def find_phantom(image: NDArray, spacing_mm: tuple[float, float], *, expected_diameter_mm: float | None = None,
                 n_rays: int = 180) -> PhantomCircle:
    """Sub-pixel circle fit of the phantom outline on one MR image.

    Parameters
    ----------
    image : (y, x) array
        One magnitude image (any real dtype).
    spacing_mm : (float, float)
        Row and column spacing in mm.
    expected_diameter_mm : float, optional
        Nominal inner diameter (190 mm for the ACR large phantom). When given, the fit must come within 15 % of
        it, else :class:`PhantomNotFoundError`.
    n_rays : int
        Number of radial edge searches (evenly spaced in angle).

    Returns
    -------
    PhantomCircle

    Raises
    ------
    PhantomNotFoundError
        No object brighter than half the robust maximum, too few edge points, or a diameter far from
        ``expected_diameter_mm``.

    Notes
    -----
    1. Signal level ``S`` = 99th percentile of the image (robust to a few hot pixels); the object is the largest
       connected region above ``0.2 S`` (closed, holes filled: strong shading cannot split it); its centroid and
       equivalent radius seed the search.
    2. Along ``n_rays`` rays from the seed centre (bilinear samples every 0.25 px), the outermost crossing of
       ``0.2 S`` locates the edge; the crossing is then refined at the *local* half level
       ``(inside + outside) / 2``, with ``inside`` the median 3-9 mm inside and ``outside`` the median 4-10 mm
       outside the edge (so smooth coil shading does not move the edge), by linear interpolation.
    3. The edge points (in mm, so anisotropic pixels are handled) are fitted with the algebraic (Kasa) circle,
       refined by Gauss-Newton on the geometric distance; points whose residual exceeds
       ``max(3 x 1.4826 MAD, 0.5 pixel)`` (wedge bars touching the wall, bubbles) are dropped and the fit
       repeated (three rounds).
    4. Sanity: the median of the rim ``0.8 R .. R - 2 mm`` must exceed the median of ``R + 3 .. R + 10 mm`` by a
       quarter of the image range, else no phantom is in view (noise alone passes steps 1-3).

    For an analytically partial-volumed disk the 50 % crossing lies on the true edge, so the centre is unbiased;
    its noise is about ``sigma_edge / sqrt(n_rays / 2)``.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:256, :256]
    >>> img = ((yy - 120.3) ** 2 + (xx - 130.7) ** 2 < 95.0 ** 2).astype(float)
    >>> c = find_phantom(img, (1.0, 1.0))
    >>> round(c.center_px[0], 1), round(c.center_px[1], 1), round(c.radius_mm)
    (120.3, 130.7, 95)
    """
    img = np.asarray(image)
    if img.ndim != 2 or min(img.shape) < 16:
        raise InvalidImageError(f"find_phantom needs one 2-D image of at least 16 x 16 pixels, got shape "
                                f"{img.shape}")
    img = np.nan_to_num(img.astype(np.float64, copy=False))
    sy, sx = _spacing(spacing_mm)
    warnings: list[str] = []

    floor, signal = (float(v) for v in np.percentile(img, [1.0, 99.0]))
    if not signal > floor:
        raise PhantomNotFoundError(f"the image is flat (1st and 99th percentiles both {signal:g}); no phantom in "
                                   "view. Check that the right series was selected")
    thr = floor + 0.5 * (signal - floor)
    # the object mask uses a low level (20 %) so that strong coil shading (a dark centre at 3 T) cannot split it
    low = floor + 0.2 * (signal - floor)
    # the seed only needs the object's centroid and area: a 2x-subsampled image does (and is 4x cheaper)
    step = max(1, min(img.shape) // 128)
    mask = ndimage.binary_fill_holes(_largest_component(ndimage.binary_closing(img[::step, ::step] > low,
                                                                               iterations=2)))
    area_mm2 = float(mask.sum()) * sy * sx * step * step
    if area_mm2 < 400.0:
        raise PhantomNotFoundError(f"the brightest object covers only {area_mm2:.0f} mm^2 (threshold {low:.4g}); "
                                   "expected a phantom of at least 20 mm across. Check the series")
    rows, cols = np.nonzero(mask)
    r0, c0 = float(rows.mean()) * step, float(cols.mean()) * step
    rad0_mm = math.sqrt(area_mm2 / math.pi)

    # rays in mm, sampled in pixels
    step_mm = 0.25 * min(sy, sx)
    r_max_mm = 1.25 * rad0_mm + 12.0
    radii = np.arange(max(0.0, 0.7 * rad0_mm - 12.0), r_max_mm, step_mm)  # the edge lies in this annulus
    theta = np.linspace(0.0, 2 * np.pi, n_rays, endpoint=False)
    ys = r0 + np.sin(theta)[:, None] * radii[None, :] / sy
    xs = c0 + np.cos(theta)[:, None] * radii[None, :] / sx
    prof = ndimage.map_coordinates(img, [ys.ravel(), xs.ravel()], order=1, mode="constant", cval=floor)
    prof = prof.reshape(ys.shape)
    above = prof >= low
    # outermost crossing: last index along the ray that is above the half level
    has = above.any(axis=1)
    last = np.where(has, radii.size - 1 - np.argmax(above[:, ::-1], axis=1), -1)

    edge_r = np.full(n_rays, np.nan)
    i_in = (np.array([3.0, 9.0]) / step_mm).astype(int)
    i_out = (np.array([4.0, 10.0]) / step_mm).astype(int)
    w = int(3.0 / step_mm)
    rays = np.nonzero(has & (last > i_in[1] + w) & (last < radii.size - 2 - w))[0]
    if rays.size:
        p = prof[rays]
        j = last[rays][:, None]
        n_r = p.shape[1]
        inside = np.median(np.take_along_axis(p, np.clip(j - np.arange(i_in[0], i_in[1])[None, :], 0, n_r - 1),
                                              axis=1), axis=1)
        outside = np.median(np.take_along_axis(p, np.clip(j + np.arange(i_out[0], i_out[1])[None, :], 0,
                                                          n_r - 1), axis=1), axis=1)
        level = 0.5 * (inside + outside)
        # crossings of `level` within +-3 mm of the coarse edge; the outermost one is kept
        cols = np.clip(j + np.arange(-w, w + 1)[None, :], 0, n_r - 1)
        seg = np.take_along_axis(p, cols, axis=1)
        cross = (seg[:, :-1] >= level[:, None]) & (seg[:, 1:] < level[:, None])
        good = cross.any(axis=1) & (inside > outside)
        k_last = cross.shape[1] - 1 - np.argmax(cross[:, ::-1], axis=1)
        i0 = np.take_along_axis(cols, k_last[:, None], axis=1)[:, 0]
        v0 = p[np.arange(p.shape[0]), i0]
        v1 = p[np.arange(p.shape[0]), np.minimum(i0 + 1, n_r - 1)]
        with np.errstate(divide="ignore", invalid="ignore"):
            f = (v0 - level) / (v0 - v1)
        edge_r[rays[good]] = radii[i0[good]] + f[good] * step_mm
    ok = np.isfinite(edge_r)
    if ok.sum() < max(12, n_rays // 4):
        raise PhantomNotFoundError(f"only {int(ok.sum())} of {n_rays} radial searches found the phantom edge; "
                                   "expected a round object with a clear edge. Check the image or the FOV")
    ex = sx * c0 + np.cos(theta[ok]) * edge_r[ok]   # mm
    ey = sy * r0 + np.sin(theta[ok]) * edge_r[ok]
    keep = np.ones(ex.size, dtype=bool)
    xc, yc, r = _circle_fit_algebraic(ex, ey)
    for _ in range(3):
        xc, yc, r = _circle_fit_algebraic(ex[keep], ey[keep])
        xc, yc, r = _circle_fit_geometric(ex[keep], ey[keep], xc, yc, r)
        res = np.hypot(ex - xc, ey - yc) - r
        mad = float(np.median(np.abs(res[keep] - np.median(res[keep]))))
        tol = max(3.0 * 1.4826 * mad, 0.5 * min(sy, sx))
        new_keep = np.abs(res) <= tol
        if new_keep.sum() < 12 or np.array_equal(new_keep, keep):
            break
        keep = new_keep
    res = np.hypot(ex[keep] - xc, ey[keep] - yc) - r
    rms = float(np.sqrt(np.mean(res ** 2)))
    fov_mm = min(img.shape[0] * sy, img.shape[1] * sx)
    if 2 * r > 1.05 * fov_mm:
        raise PhantomNotFoundError(f"the fitted outline ({2 * r:.0f} mm) is larger than the field of view "
                                   f"({fov_mm:.0f} mm): no phantom edge in the image (noise only?), or the phantom "
                                   "is cut by the field of view")
    # an object, not noise: the rim just inside the fitted edge must be clearly brighter than just outside it
    # (read on the ray profiles, whose origin is within a few mm of the fitted centre)
    rim_in = prof[:, (radii > 0.8 * r) & (radii < r - 2.0)]
    rim_out = prof[:, (radii > r + 3.0) & (radii < r + 10.0)]
    if rim_in.size == 0 or rim_out.size == 0 or not (
            float(np.median(rim_in)) - float(np.median(rim_out)) > 0.25 * (signal - floor)):
        raise PhantomNotFoundError(
            f"no phantom edge: inside the fitted {2 * r:.0f} mm outline the signal is not clearly above the "
            "signal just outside it (median rim inside minus outside <= 25 % of the image range). Is there a "
            "phantom in view?")
    n_rej = int((~keep).sum())
    if n_rej > 0.3 * ex.size:
        warnings.append(f"{n_rej} of {ex.size} edge points rejected as outliers: the outline is not a clean circle")
    if expected_diameter_mm is not None and abs(2 * r - expected_diameter_mm) > 0.15 * expected_diameter_mm:
        raise PhantomNotFoundError(f"fitted outline diameter {2 * r:.1f} mm is not within 15 % of the expected "
                                   f"{expected_diameter_mm:g} mm; wrong phantom or wrong pixel spacing?")
    pts = np.column_stack([ey[keep] / sy, ex[keep] / sx])
    return PhantomCircle(center_px=(yc / sy, xc / sx), radius_mm=r, spacing_mm=(sy, sx), residual_rms_mm=rms,
                         edge_points_px=pts, rejected=n_rej, threshold=thr, signal_level=signal,
                         warnings=tuple(warnings))


# ---- ACR slice map ------------------------------------------------------------------------------------------------

def _phantom_grid(shape, circle: PhantomCircle, roll_deg: float = 0.0) -> tuple[NDArray, NDArray]:
    """Phantom-frame (x, y) in mm of every pixel (undoing ``roll_deg``)."""
    sy, sx = circle.spacing_mm
    rr, cc = np.mgrid[:shape[0], :shape[1]]
    dy = (rr - circle.center_px[0]) * sy
    dx = (cc - circle.center_px[1]) * sx
    a = math.radians(roll_deg)
    x = dx * math.cos(a) + dy * math.sin(a)
    y = -dx * math.sin(a) + dy * math.cos(a)
    return x, y


def _ramp_insert_score(img: NDArray, circle: PhantomCircle) -> float:
    """Fraction of dark pixels (below half the phantom level) in two 25 x 9 mm boxes at 55-80 mm left and right
    of the centre on the horizontal axis: ~1 on slice 1 (the slice-thickness insert, x = -89..89 mm,
    y = -5.7..5.8 mm, away from the ramps' signal), ~0 on the other slices (uniform fluid outside the LCD ring)."""
    x, y = _phantom_grid(img.shape, circle)
    inner = np.hypot(x, y) < 0.8 * circle.radius_mm
    level = float(np.median(img[inner]))
    box = (np.abs(x) > 55.0) & (np.abs(x) < 80.0) & (np.abs(y) < 4.5) & (np.hypot(x, y) < circle.radius_mm - 5.0)
    if box.sum() < 20 or level <= 0:
        return 0.0
    return float(np.mean(img[box] < 0.5 * level))


def _uniformity_cv(img: NDArray, circle: PhantomCircle) -> float:
    """Robust coefficient of variation (IQR / 1.349 / median) inside 0.75 R."""
    x, y = _phantom_grid(img.shape, circle)
    v = img[np.hypot(x, y) < 0.75 * circle.radius_mm]
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return float((q3 - q1) / 1.349 / med) if med > 0 else float("inf")


def _wedge_rotation(img: NDArray, circle: PhantomCircle) -> tuple[float, float]:
    """Rotation (deg, clockwise on screen) from the angle of the dark wedge bars at 12 o'clock of slice 1.

    Dark pixels (below half the local phantom level) in the annulus 70-88 mm from the centre within +-25 deg of
    12 o'clock: their centroid angle minus (-90 deg). Returns (rotation, dark area in mm^2)."""
    sy, sx = circle.spacing_mm
    rr, cc = np.mgrid[:img.shape[0], :img.shape[1]]
    dy = (rr - circle.center_px[0]) * sy
    dx = (cc - circle.center_px[1]) * sx
    rad = np.hypot(dx, dy)
    ang = np.degrees(np.arctan2(dy, dx))
    inner = rad < 0.8 * circle.radius_mm
    level = float(np.median(img[inner]))
    sector = (rad > 70.0) & (rad < min(88.0, circle.radius_mm - 4.0)) & (np.abs(ang + 90.0) < 25.0)
    dark = sector & (img < 0.5 * level)
    w = (0.5 * level - img[dark]).clip(min=0)
    if dark.sum() < 4 or w.sum() <= 0:
        return 0.0, 0.0
    # centroid direction (vector mean, so the +-180 wrap cannot matter)
    mx = float(np.sum(w * dx[dark])) / float(w.sum())
    my = float(np.sum(w * dy[dark])) / float(w.sum())
    rot = math.degrees(math.atan2(my, mx)) + 90.0
    return rot, float(dark.sum()) * sy * sx


def acr_slices(volume: NDArray, spacing_mm: tuple[float, float]) -> AcrSliceMap:
    """Decide which image of an axial ACR series is slice 1..11, and the phantom's in-plane rotation.

    Parameters
    ----------
    volume : (z, y, x) array
        The images of one axial ACR series, ordered along the slice normal (as :func:`phantomqc.mr._series.mr_series`
        returns them). 11 images are expected; with more or fewer the first/last end found to hold slice 1 is
        counted from, and slices beyond the series are left out of ``index_of``.
    spacing_mm : (float, float)
        Row and column spacing in mm.

    Returns
    -------
    AcrSliceMap

    Raises
    ------
    PhantomNotFoundError
        No phantom on the end images, or neither end shows the slice-1 ramp insert.

    Notes
    -----
    Slice order: slice 1 is the end image whose slice-thickness insert (a dark 178 x 11.5 mm bar across the
    centre, ACR guidance fig. 10) fills two boxes 55-80 mm left and right of the centre; at the other end
    (slice 11, low-contrast disks) those boxes hold uniform fluid.
    ``checks`` records both scores and the robust coefficient of variation of slice 7 (uniform).
    Rotation: angle of the centroid of the two dark wedge bars at 12 o'clock of slice 1 (70-88 mm from the
    centre), clockwise positive; its error is about (bar-centroid error) / 80 mm rad, ~0.2 deg at 256^2.
    Confidence: product of clamp((score1 - score11) / 0.3, 0, 1), clamp(wedge dark area / 100 mm^2, 0, 1) and
    (1 if slice 7's CV < 0.35 else 0.5; the Siemens 3 T series with PIU 67 % has CV 0.21).
    """
    vol = np.asarray(volume)
    if vol.ndim != 3 or vol.shape[0] < 2:
        raise InvalidImageError(f"acr_slices needs a (z, y, x) volume of at least 2 images, got shape {vol.shape}")
    sy, sx = _spacing(spacing_mm)
    warnings: list[str] = []
    n = vol.shape[0]
    circles = tuple(find_phantom(vol[i], (sy, sx)) for i in range(n))
    s_first = _ramp_insert_score(vol[0].astype(np.float64), circles[0])
    s_last = _ramp_insert_score(vol[-1].astype(np.float64), circles[-1])
    if max(s_first, s_last) < 0.2:
        raise PhantomNotFoundError(
            f"neither end image shows the ACR slice-1 thickness insert (dark fraction of the central box "
            f"{s_first:.2f} first, {s_last:.2f} last; expected > 0.2). Is this an axial ACR large-phantom series "
            "ordered along the slice normal?")
    rev = s_last > s_first
    order = list(range(n))[::-1] if rev else list(range(n))
    index_of = {k + 1: order[k] for k in range(min(n, ACR_LARGE.n_slices))}
    if n != ACR_LARGE.n_slices:
        warnings.append(f"{n} images in the series; the ACR protocol has {ACR_LARGE.n_slices}")
    i1 = index_of[1]
    rot, dark_area = _wedge_rotation(vol[i1].astype(np.float64), circles[i1])
    checks = {"ramp_score_slice1": max(s_first, s_last), "ramp_score_slice11": min(s_first, s_last),
              "wedge_dark_area_mm2": dark_area}
    conf = min(max((abs(s_first - s_last)) / 0.3, 0.0), 1.0) * min(dark_area / 100.0, 1.0)
    if 7 in index_of:
        cv7 = _uniformity_cv(vol[index_of[7]].astype(np.float64), circles[index_of[7]])
        checks["slice7_cv"] = cv7
        if cv7 >= 0.35:
            conf *= 0.5
            warnings.append(f"slice 7 is not uniform (robust CV {cv7:.2f}); check the slice order")
    if dark_area < 20.0:
        warnings.append("the slice-1 wedge bars were not found at 12 o'clock; rotation set to 0")
        rot = 0.0
    circles = tuple(_with_rotation(c, rot, "slice-1 wedge bars centroid angle") for c in circles)
    return AcrSliceMap(index_of=index_of, reversed=rev, rotation_deg=rot,
                       rotation_method="slice-1 wedge bars centroid angle (70-88 mm, 12 o'clock)",
                       confidence=float(conf), circles=circles, checks=checks, warnings=tuple(warnings))


def _with_rotation(c: PhantomCircle, rot: float, method: str) -> PhantomCircle:
    from dataclasses import replace
    return replace(c, rotation_deg=rot, rotation_method=method)
