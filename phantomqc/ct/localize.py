"""Find a CT phantom in an axial series: its axis, roll, origin along z, and the slices of each module.

The whole localisation reads a few hundred pixels per slice plus a handful of slices at full resolution (a few ms
for 71 slices of 512 x 512), instead of segmenting every slice:

1. **Presence**: the fraction of pixels above -500 HU on a view strided to about 6 mm.
2. **Outline and axis**: :func:`fit_outline` on 3 evenly spaced present slices (a 4x strided mask, a
   robust circle through its boundary, refined on the full-resolution edge), then a least-squares line through
   the centres against z: the phantom axis and its tilt.
3. **Origin along z**: for a CatPhan or ACR 464, the origin module holds an insert far below and one far above
   the background (CatPhan CTP404: Air and Teflon at 58.7 mm; ACR module 1: Air and Bone at 63 mm). Each slice
   is scored by the contrast of the minimum and maximum of 180 pixels on that circle; the run of slices that
   show both is the module, its two ends (where the score crosses half its plateau, interpolated in z) give the
   module's z-range and its centre. Where the wire ramps are in the slice nearest that centre, their wire
   positions refine it (the wire's position along a 23 deg ramp gives z; opposed ramps cancel a centre error).
   For a water phantom the origin is the middle of the phantom's z-extent.
4. **Roll**: the insert circle of the origin slice sampled at 0.25 deg, circularly cross-correlated with the
   tabulated insert pattern (coarse), then a weighted rigid fit (Procrustes) of the measured insert centroids to
   the drawing (fine; independent of the outline centre).
5. **Module slices**: per module, the slice nearest the module offset whose slice sensitivity profile (nominal
   thickness T, +-T/2 about the slice) lies wholly inside the module's z-range, and the others within
   ``average_mm`` of the offset whose profile with its tails (+-3T/4) does.

Nothing is silently guessed: a missing origin module raises :class:`PhantomNotFoundError`, a module outside the
scan gets ``()`` and the reason, and overrides are recorded in ``method``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage

from phantomqc._shared.errors import InputError, PhantomNotFoundError
from phantomqc.ct import _kernels
from phantomqc.ct import geometry as geo
from phantomqc.ct.geometry import RAMP_FACTOR, CTPhantom, Module

__all__ = ["Outline", "Localization", "fit_outline", "localize", "identify_catphan", "localization_panels",
           "PRESENCE_THRESHOLD_HU", "RAMP_END_CLEAR_MM"]

#: Pixels above this CT number count as phantom (air is -1000 HU, water 0 HU; a +-100 HU calibration offset or
#: the couch foam (about -300 HU) do not cross it the wrong way for the phantom body).
PRESENCE_THRESHOLD_HU = -500.0
_N_RAYS = 90              # outline refinement: rays around the circle
_RAY_HALF_MM = 5.0        # ... sampled +-5 mm about the coarse radius
_MIN_EDGE_CONTRAST_HU = 300.0
_RAY_COS = np.cos(np.arange(_N_RAYS) * (2 * math.pi / _N_RAYS))
_RAY_SIN = np.sin(np.arange(_N_RAYS) * (2 * math.pi / _N_RAYS))
_RING_SAMPLES = 180       # origin search: samples on the insert circle (2 deg; an insert spans >= 11.9 deg)
_ROLL_STEP_DEG = 0.25
_Z_TOL_MM = 0.05          # tolerance of the module-slice tests
_SSP_REACH = 0.75         # averaged slices: [z - 0.75 T, z + 0.75 T] inside the module (SSP tails)
#: A ramp's wire line must stay this far (along the ramp) from the wire's ends for an undisturbed FWHM.
RAMP_END_CLEAR_MM = 1.0
_CATPHAN_IDS = ("catphan504", "catphan604", "catphan600")


# ---------------------------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Outline:
    """A fitted phantom outline on one slice.

    ``center_px`` is (row, col) in pixels (also available as ``centre_px``); ``diameter_mm`` the outer image
    diameter; ``found`` False means no roughly circular object with a clear edge was found, and ``reason`` says
    why. ``confidence`` in [0, 1] is the fraction of edge rays that agree with the circle, lowered when their rms
    distance to it grows towards 1 mm.
    """

    center_px: tuple[float, float]
    diameter_mm: float
    found: bool
    confidence: float
    rms_mm: float = float("nan")
    n_edge_points: int = 0
    reason: str = ""

    @property
    def centre_px(self) -> tuple[float, float]:
        return self.center_px


@dataclass(frozen=True)
class Localization:
    """Where the phantom is in a series (see the module docstring for the method).

    ``centers_px[i]`` is the phantom axis (row, col) on slice ``i`` from the axis line (NaN where the phantom is
    absent); ``origin_z_mm`` the series z (ImagePositionPatient[2]) of the origin module's centre;
    ``tilt_mm_per_mm`` = (d x / d z, d y / d z) of the axis (x = column direction, y = row direction, mm);
    ``module_slices[name]`` the indices of the slices to analyse for that module (``()`` when none, with the
    reason in ``module_reasons[name]``); modules with wire ramps get a second entry ``name + "_ramps"``: the single
    slice nearest the offset whose SSP lies inside the ramps' z-range.
    ``score_z`` / ``score`` are the per-slice origin-search scores (for the report).
    """

    phantom_id: str
    slice_z_mm: tuple[float, ...]
    centers_px: tuple[tuple[float, float], ...]
    phantom_present: tuple[bool, ...]
    diameter_mm: float
    roll_deg: float
    origin_z_mm: float
    tilt_mm_per_mm: tuple[float, float]
    module_slices: dict[str, tuple[int, ...]]
    module_reasons: dict[str, str]
    method: str
    confidence: float
    warnings: tuple[str, ...] = ()
    score: tuple[float, ...] = ()
    outline_slices: tuple[int, ...] = ()
    spacing_mm: tuple[float, float] = (1.0, 1.0)
    thickness_mm: float = float("nan")

    def z_phantom(self, i: int) -> float:
        """Phantom-frame z (mm from the origin module's centre) of slice ``i``."""
        return float(self.slice_z_mm[i]) - float(self.origin_z_mm)


# ---------------------------------------------------------------------------------------------------------------
# Small helpers shared with ctp404 / uniform


def _spacing(spacing_mm) -> tuple[float, float]:
    try:
        sy, sx = (float(v) for v in spacing_mm)
    except (TypeError, ValueError):
        raise InputError(f"spacing_mm must be (row spacing, column spacing) in mm, got {spacing_mm!r}") from None
    if not (sy > 0 and sx > 0 and math.isfinite(sy) and math.isfinite(sx)):
        raise InputError(f"spacing_mm must be two positive numbers (mm), got {spacing_mm!r}; check (0028,0030) "
                         f"Pixel Spacing")
    return sy, sx


def _as_image(a, what: str = "image") -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2 or a.shape[0] < 8 or a.shape[1] < 8:
        raise InputError(f"{what} must be a 2-D array (rows, cols) of at least 8 x 8 pixels, got shape {a.shape}")
    if a.dtype.kind not in "fiu":
        raise InputError(f"{what} must hold numbers (CT numbers in HU), got dtype {a.dtype}")
    return a


def _bilinear(img: np.ndarray, rows, cols) -> np.ndarray:
    """Bilinear interpolation of ``img`` at (rows, cols) (float pixel coordinates); NaN outside the image."""
    rows = np.asarray(rows, dtype=np.float64)
    cols = np.asarray(cols, dtype=np.float64)
    h, w = img.shape
    ok = (rows >= 0) & (rows <= h - 1) & (cols >= 0) & (cols <= w - 1)
    r0 = np.clip(np.floor(rows), 0, h - 2).astype(np.intp)
    c0 = np.clip(np.floor(cols), 0, w - 2).astype(np.intp)
    fr = np.clip(rows - r0, 0.0, 1.0)
    fc = np.clip(cols - c0, 0.0, 1.0)
    v00 = img[r0, c0].astype(np.float64)
    v01 = img[r0, c0 + 1]
    v10 = img[r0 + 1, c0]
    v11 = img[r0 + 1, c0 + 1]
    out = (v00 * (1 - fr) + v10 * fr) * (1 - fc) + (v01 * (1 - fr) + v11 * fr) * fc
    return np.where(ok, out, np.nan)


def _phantom_to_px(center_px, sp, x_mm: float, y_mm: float, roll_deg: float) -> tuple[float, float]:
    """(row, col) of phantom-frame point (x, y) mm rolled by ``roll_deg`` about the axis at ``center_px``."""
    a = math.radians(roll_deg)
    xr = x_mm * math.cos(a) - y_mm * math.sin(a)
    yr = x_mm * math.sin(a) + y_mm * math.cos(a)
    return center_px[0] + yr / sp[0], center_px[1] + xr / sp[1]


def _kasa(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Algebraic (Kasa) circle fit: minimises sum (x^2 + y^2 + D x + E y + F)^2; returns (cx, cy, R)."""
    mx, my = float(x.mean()), float(y.mean())
    u, v = x - mx, y - my
    w = u * u + v * v
    suu, suv, svv = float((u * u).sum()), float((u * v).sum()), float((v * v).sum())
    A = np.array([[suu, suv, 0.0], [suv, svv, 0.0], [0.0, 0.0, float(u.size)]])
    b = -np.array([float((u * w).sum()), float((v * w).sum()), float(w.sum())])
    try:
        D, E, F = np.linalg.solve(A, b)
    except np.linalg.LinAlgError:
        return float("nan"), float("nan"), float("nan")
    cx, cy = -D / 2.0, -E / 2.0
    r2 = cx * cx + cy * cy - F
    return cx + mx, cy + my, math.sqrt(r2) if r2 > 0 else float("nan")


def _blob_centroid(img: np.ndarray, sp, center_px, radius_mm: float, sign: float, *, bg_width_mm: float = 2.0,
                   iterations: int = 3) -> tuple[float, float, float, float]:
    """Sub-pixel centroid of a round blob (an insert or a hole) near ``center_px``.

    Weights are ``sign x (v - background)`` (no clipping, so noise does not bias the centroid) over the disc of
    ``radius_mm`` about the current estimate; the background is the mean of the annulus from ``radius_mm`` to
    ``radius_mm + bg_width_mm``. The disc is re-centred on the centroid ``iterations`` times (kernels
    ``_disc_stats`` and ``_disc_moments``). Returns (row, col, sign x integrated contrast in HU x pixels, SD of
    the annulus in HU); NaN when the annulus leaves the image or the blob has no contrast of the given sign.
    """
    sy, sx = sp
    r, c = float(center_px[0]), float(center_px[1])
    outer = radius_mm + bg_width_mm
    n_out = math.pi * outer * outer / (sy * sx)
    tmp = np.zeros(3)
    mom = np.zeros(4)
    mass = sd = float("nan")
    nan4 = (float("nan"),) * 4
    for _ in range(iterations):
        if not (math.isfinite(r) and math.isfinite(c)):
            return nan4
        shift = float(img[min(max(int(round(r)), 0), img.shape[0] - 1), min(max(int(round(c)), 0), img.shape[1] - 1)])
        _kernels._disc_stats(img, r, c, outer / sy, outer / sx, shift, tmp)
        so, so2, no = tmp[0], tmp[1], tmp[2]
        _kernels._disc_stats(img, r, c, radius_mm / sy, radius_mm / sx, shift, tmp)
        si, si2, ni = tmp[0], tmp[1], tmp[2]
        na = no - ni
        if no < 0.98 * n_out - 2 or na < 3:
            return nan4
        bg = shift + (so - si) / na
        sd = math.sqrt(max((so2 - si2) - (so - si) ** 2 / na, 0.0) / (na - 1))
        _kernels._disc_moments(img, r, c, radius_mm / sy, radius_mm / sx, bg, mom)
        mass = sign * mom[0]
        if not mass > 0:
            return nan4
        r, c = mom[1] / mom[0], mom[2] / mom[0]
    return r, c, mass, sd


# ---------------------------------------------------------------------------------------------------------------
# Outline


def fit_outline(image, spacing_mm, *, threshold_hu: float = PRESENCE_THRESHOLD_HU, downsample: int = 4) -> Outline:
    """Sub-pixel circle fit of a cylindrical phantom's outer boundary on one axial slice.

    Parameters
    ----------
    image : ndarray
        One slice ``(rows, cols)`` in HU.
    spacing_mm : (float, float)
        Pixel spacing (row, column), mm.
    threshold_hu : float
        Pixels above this belong to an object in the coarse mask.
    downsample : int
        Stride of the coarse mask (the coarse fit reads one pixel in ``downsample**2``).

    Returns
    -------
    Outline
        ``found`` is False (with ``reason``) when no roughly circular object with a clear edge is present.

    Notes
    -----
    1. Coarse: the connected objects of the strided mask ``image[::k, ::k] > threshold_hu``, largest first; the
       boundary pixels of an object (less those on the image border, where the field of view cuts the phantom)
       get a robust circle: circles through 32 deterministic triples of points spread in angle, the one with
       most points within 1.5 strided pixels wins, then an algebraic (Kasa) fit of those inliers. A couch or
       another object that is not on the circle is thereby ignored. The object must put >= 30 % of its boundary
       points on the circle and cover >= 50 % of the circumference.
    2. Fine: 90 rays across the coarse circle, sampled (bilinear) every half pixel over +-5 mm (kernel
       ``_ray_crossings``); on each, the outward crossing of the level halfway between the phantom (median
       inside R - 10 mm) and the air (median outside R + 10 mm), linearly interpolated, nearest the coarse
       radius. A Kasa fit of these edge points with two rounds of rejection (residual > max(3 x 1.4826 MAD, a
       quarter pixel)) gives the centre and diameter. Kasa is unbiased here because the points cover most of
       the circle with sub-pixel noise.

    References
    ----------
    I. Kasa, "A circle fitting procedure and its error analysis", IEEE Trans. Instrum. Meas. 25 (1976) 8-14.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[0:256, 0:256]
    >>> img = np.where(np.hypot(yy - 120.3, xx - 130.6) <= 100.0, 0.0, -1000.0)
    >>> o = fit_outline(img, (1.0, 1.0))
    >>> o.found, round(o.center_px[0], 1), round(o.center_px[1], 1), round(o.diameter_mm)
    (True, 120.3, 130.6, 200)
    """
    a = _as_image(image)
    sy, sx = _spacing(spacing_mm)
    ds = int(downsample)
    if ds < 1:
        raise InputError(f"downsample must be an integer >= 1, got {downsample!r}")
    small = a[::ds, ::ds]
    coarse = _coarse_circle(small > threshold_hu, ds * sy, ds * sx)
    nan2 = (float("nan"), float("nan"))
    if isinstance(coarse, str):
        return Outline(nan2, float("nan"), False, 0.0, reason=coarse)
    cx, cy, R = coarse
    return _refine_circle(a, small, ds, (sy, sx), cx, cy, R)


def _coarse_circle(mask: np.ndarray, hy: float, hx: float):
    """(cx, cy, R) in mm of the largest roughly circular object of a strided mask, or a reason string."""
    lab, n = ndimage.label(mask)
    if n == 0:
        return "no pixel above the threshold (air only)"
    areas = np.bincount(lab.ravel())[1:]
    order = np.argsort(areas)[::-1][:3]
    h, w = mask.shape
    why = "no roughly circular object"
    for k in order:
        if areas[k] < 30:
            why = "the objects above the threshold are too small to be a phantom"
            break
        comp = lab == (k + 1)
        bnd = comp.copy()
        inner = comp[1:-1, 1:-1] & comp[:-2, 1:-1] & comp[2:, 1:-1] & comp[1:-1, :-2] & comp[1:-1, 2:]
        bnd[1:-1, 1:-1] &= ~inner
        rr, cc = np.nonzero(bnd)
        keep = (rr > 0) & (rr < h - 1) & (cc > 0) & (cc < w - 1)
        x, y = cc[keep] * hx, rr[keep] * hy
        if x.size < 12:
            continue
        got = _robust_circle(x, y, 1.5 * max(hx, hy))
        if got is None:
            continue
        cx, cy, R, frac, cover = got
        if frac >= 0.3 and cover >= 0.5 and R >= 5 * max(hx, hy):
            return cx, cy, R
        why = (f"the largest objects are not circular ({100 * frac:.0f} % of the boundary on the best circle, "
               f"{100 * cover:.0f} % of its circumference covered)")
    return why


def _robust_circle(x: np.ndarray, y: np.ndarray, tol: float):
    """Best circle of 32 deterministic 3-point candidates, refitted (Kasa) on its inliers.

    The points are ordered by angle about their mean; candidate k passes through the points at ranks
    i, i + n/3 and i + 2n/3 (i = k n / 96), so each candidate spans the object and a couch or other object in
    one angular sector spoils only the candidates with a vertex in that sector.

    Returns (cx, cy, R, inlier fraction, angular coverage) or None."""
    n = x.size
    order = np.argsort(np.arctan2(y - y.mean(), x - x.mean()))
    x, y = x[order], y[order]
    k = np.arange(32)
    i = (k * n) // 96
    j = (i + n // 3) % n
    m = (i + (2 * n) // 3) % n
    x1, y1, x2, y2, x3, y3 = x[i], y[i], x[j], y[j], x[m], y[m]
    d = 2.0 * (x1 * (y2 - y3) + x2 * (y3 - y1) + x3 * (y1 - y2))
    good = np.abs(d) > 1e-9
    if not good.any():
        return None
    d = np.where(good, d, 1.0)
    s1, s2, s3 = x1 * x1 + y1 * y1, x2 * x2 + y2 * y2, x3 * x3 + y3 * y3
    ux = (s1 * (y2 - y3) + s2 * (y3 - y1) + s3 * (y1 - y2)) / d
    uy = (s1 * (x3 - x2) + s2 * (x1 - x3) + s3 * (x2 - x1)) / d
    R = np.hypot(x1 - ux, y1 - uy)
    dx = x[None, :] - ux[:, None]
    dy = y[None, :] - uy[:, None]
    d2 = dx * dx + dy * dy
    lo2 = np.maximum(R - tol, 0.0) ** 2
    hi2 = (R + tol) ** 2
    score = np.where(good, ((d2 > lo2[:, None]) & (d2 < hi2[:, None])).sum(axis=1), -1)
    b = int(np.argmax(score))
    cx, cy, r = float(ux[b]), float(uy[b]), float(R[b])
    for _ in range(3):
        inl = np.abs(np.hypot(x - cx, y - cy) - r) < tol
        if inl.sum() < 6:
            return None
        cx, cy, r = _kasa(x[inl], y[inl])
        if not math.isfinite(r):
            return None
    inl = np.abs(np.hypot(x - cx, y - cy) - r) < tol
    ang = np.arctan2(y[inl] - cy, x[inl] - cx)
    bins = np.unique(((ang + math.pi) / (2 * math.pi) * 64).astype(int) % 64)
    return cx, cy, r, float(inl.mean()), bins.size / 64.0


def _refine_circle(a: np.ndarray, small: np.ndarray, ds: int, sp, cx: float, cy: float, R: float) -> Outline:
    sy, sx = sp
    nan2 = (float("nan"), float("nan"))
    view = small[::2, ::2]
    yy = (np.arange(view.shape[0]) * 2 * ds * sy - cy)[:, None]
    xx = (np.arange(view.shape[1]) * 2 * ds * sx - cx)[None, :]
    d2 = yy * yy + xx * xx
    inner = view[d2 < max(R - 10.0, 0.0) ** 2]
    outer = view[d2 > (R + 10.0) ** 2]
    if inner.size < 5:
        return Outline(nan2, float("nan"), False, 0.0, reason="the object is too small to hold a phantom")
    v_in = float(np.median(inner))
    v_out = float(np.median(outer)) if outer.size >= 5 else -1000.0
    if v_in - v_out < _MIN_EDGE_CONTRAST_HU:
        return Outline(nan2, float("nan"), False, 0.0,
                       reason=f"no clear phantom edge: inside {v_in:.0f} HU, outside {v_out:.0f} HU")
    level = 0.5 * (v_in + v_out)
    step = 0.5 * min(sy, sx)
    radii = R + np.arange(-_RAY_HALF_MM, _RAY_HALF_MM + 1e-9, step)
    ct, st = _RAY_COS, _RAY_SIN
    edge = np.empty(_N_RAYS)
    _kernels._ray_crossings(a, cy / sy, cx / sx, ct, st, sy, sx, radii, level, edge)
    okr = np.isfinite(edge)
    if okr.sum() < 0.3 * _N_RAYS:
        return Outline(nan2, float("nan"), False, 0.0,
                       reason=f"only {int(okr.sum())} of {_N_RAYS} rays cross a phantom edge")
    ex = cx + edge[okr] * ct[okr]
    ey = cy + edge[okr] * st[okr]
    keep = np.ones(ex.size, dtype=bool)
    fx, fy, fr = cx, cy, R
    for _ in range(3):
        fx, fy, fr = _kasa(ex[keep], ey[keep])
        res = np.hypot(ex - fx, ey - fy) - fr
        mad = float(np.median(np.abs(res[keep] - np.median(res[keep]))))
        tol = max(3 * 1.4826 * mad, 0.25 * min(sy, sx))
        new = np.abs(res) <= tol
        if new.sum() < 6 or np.array_equal(new, keep):
            break
        keep = new
    res = np.hypot(ex[keep] - fx, ey[keep] - fy) - fr
    rms = float(np.sqrt(np.mean(res * res)))
    frac = keep.sum() / _N_RAYS
    conf = float(frac * max(0.0, 1.0 - rms / 1.0))
    found = bool(frac >= 0.5 and rms < 1.0 and math.isfinite(fr))
    reason = "" if found else (f"the edge points do not form a circle ({100 * frac:.0f} % of the rays agree, "
                               f"rms {rms:.2f} mm)")
    return Outline((float(fy / sy), float(fx / sx)), float(2.0 * fr), found, conf, rms, int(keep.sum()), reason)


# ---------------------------------------------------------------------------------------------------------------
# Axis


@dataclass(frozen=True)
class _Axis:
    z_ref: float
    x0: float  # mm at z_ref
    y0: float
    tx: float  # d x / d z
    ty: float
    diameter_mm: float
    confidence: float
    fitted: tuple[int, ...]
    present: np.ndarray
    fracs: np.ndarray  # per slice: fraction of the strided view above the presence threshold

    def center_mm(self, z) -> tuple[np.ndarray, np.ndarray]:
        z = np.asarray(z, dtype=np.float64)
        return self.x0 + self.tx * (z - self.z_ref), self.y0 + self.ty * (z - self.z_ref)


def _check_series(slices, spacing_mm, z_mm):
    if len(slices) == 0:
        raise InputError("slices is empty: give the slices of one axial CT series")
    if len(z_mm) != len(slices):
        raise InputError(f"z_mm has {len(z_mm)} values for {len(slices)} slices; give one z per slice")
    sl = [_as_image(s, f"slice {i}") for i, s in enumerate(slices)]
    shape = sl[0].shape
    for i, s in enumerate(sl):
        if s.shape != shape:
            raise InputError(f"slice {i} is {s.shape}, slice 0 is {shape}: the slices must form one series")
    z = np.asarray(z_mm, dtype=np.float64)
    if not np.all(np.isfinite(z)):
        raise InputError("z_mm holds a non-finite value; check (0020,0032) Image Position (Patient)")
    if z.size > 1 and not np.all(np.diff(z) > 0):
        raise InputError("z_mm must increase strictly (slices ordered by (0020,0032) Image Position (Patient) z); "
                         "sort the series by z first (phantomqc.ct._series.ct_series does)")
    return sl, _spacing(spacing_mm), z


def _presence(slices, sp, nominal_d_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Per slice: fraction of pixels above the threshold on a ~6 mm strided view, and presence (bool)."""
    st = max(1, int(round(6.0 / min(sp))))
    fr = np.zeros(len(slices))
    cnt = np.zeros(2, dtype=np.int64)
    for i, s in enumerate(slices):
        _kernels._strided_count_above(s, st, PRESENCE_THRESHOLD_HU, cnt)
        fr[i] = cnt[0] / cnt[1]
    h, w = slices[0].shape
    fov = h * sp[0] * w * sp[1]
    expected = min(1.0, math.pi * (nominal_d_mm / 2.0) ** 2 / fov)
    return fr, fr >= 0.5 * expected


def _outlines(slices, sp, pick) -> list[tuple[int, Outline]]:
    """Outlines of the slices ``pick``: the full :func:`fit_outline` on the middle one, then only the fine step
    on the others, started from that circle (the axis moves by < 5 mm between them for tilts of a few
    degrees); the full fit where the fine step fails."""
    mid = int(pick[len(pick) // 2])
    first = fit_outline(slices[mid], sp)
    out = {mid: first}
    for i in pick:
        i = int(i)
        if i == mid:
            continue
        o = None
        if first.found:
            a = slices[i]
            o = _refine_circle(a, a[::4, ::4], 4, sp, first.center_px[1] * sp[1], first.center_px[0] * sp[0],
                               first.diameter_mm / 2)
        if o is None or not o.found:
            o = fit_outline(slices[i], sp)
        out[i] = o
    return [(int(i), out[int(i)]) for i in pick]


def _fit_axis(slices, sp, z, nominal_d_mm: float, center_override_mm=None, z_center=None) -> _Axis:
    fr, present = _presence(slices, sp, nominal_d_mm)
    idx = np.nonzero(present)[0]
    if idx.size == 0 and center_override_mm is None:
        raise PhantomNotFoundError(
            f"no phantom in any of the {len(slices)} slices: fewer than half the expected pixels (a "
            f"{nominal_d_mm:g} mm disc) are above {PRESENCE_THRESHOLD_HU:g} HU on every slice (max "
            f"{100 * float(fr.max()):.0f} % of the field). Check that the series shows the phantom")
    if idx.size == 0:
        present = np.ones(len(slices), dtype=bool)
        idx = np.arange(len(slices))
    inner = idx[1:-1] if idx.size >= 7 else idx
    n_fit = min(3, inner.size)
    pick = np.unique(inner[np.round(np.linspace(0, inner.size - 1, n_fit)).astype(int)])
    fits = _outlines(slices, sp, pick)
    good = [(i, o) for i, o in fits if o.found]
    if not good and center_override_mm is None:
        reasons = "; ".join(f"slice {i}: {o.reason}" for i, o in fits[:3])
        raise PhantomNotFoundError(f"no circular phantom outline found on the {len(fits)} slices tried ({reasons}). "
                                   f"Check the series, or give center_mm")
    if good:
        zz = np.array([z[i] for i, _ in good])
        xs = np.array([o.center_px[1] * sp[1] for _, o in good])
        ys = np.array([o.center_px[0] * sp[0] for _, o in good])
        dia = float(np.median([o.diameter_mm for _, o in good]))
        conf = float(np.mean([o.confidence for _, o in good]))
        z_ref = float(zz.mean())
        if zz.size >= 2 and np.ptp(zz) > 0:
            A = np.column_stack((np.ones_like(zz), zz - z_ref))
            (x0, tx), *_ = np.linalg.lstsq(A, xs, rcond=None)
            (y0, ty), *_ = np.linalg.lstsq(A, ys, rcond=None)
        else:
            x0, tx, y0, ty = float(xs.mean()), 0.0, float(ys.mean()), 0.0
    else:
        z_ref, x0, y0, tx, ty, dia, conf = float(z.mean()), 0.0, 0.0, 0.0, 0.0, nominal_d_mm, 0.5
    if center_override_mm is not None:
        zc = float(z_ref if z_center is None else z_center)
        x0, y0 = float(center_override_mm[0]), float(center_override_mm[1])
        z_ref = zc
    return _Axis(float(z_ref), float(x0), float(y0), float(tx), float(ty), dia, conf,
                 tuple(i for i, _ in good), present, fr)


def _centers_px(axis: _Axis, z, sp) -> np.ndarray:
    x, y = axis.center_mm(z)
    return np.column_stack((y / sp[0], x / sp[1]))


# ---------------------------------------------------------------------------------------------------------------
# Origin search


def _ring_score(slices, sp, cen_px, r_lo: float, r_hi: float, dlo: float, dhi: float) -> np.ndarray:
    """Per slice: min(contrast of the ring minimum / dlo, contrast of the ring maximum / dhi), the ring
    minimum sampled on the circle of radius r_lo and the maximum on r_hi (180 nearest pixels each)."""
    th = np.arange(_RING_SAMPLES) * (2 * math.pi / _RING_SAMPLES)
    ct, st = np.cos(th), np.sin(th)
    dr_lo, dc_lo = r_lo * st / sp[0], r_lo * ct / sp[1]
    dr_hi, dc_hi = r_hi * st / sp[0], r_hi * ct / sp[1]
    buf = np.zeros(_RING_SAMPLES)
    a = np.zeros(4)
    b = np.zeros(4)
    out = np.zeros(len(slices))
    for i, s in enumerate(slices):
        r0, c0 = float(cen_px[i][0]), float(cen_px[i][1])
        if not (math.isfinite(r0) and math.isfinite(c0)):
            continue
        _kernels._ring_stats(s, r0, c0, dr_lo, dc_lo, buf, a)
        if r_hi == r_lo:
            b[:] = a
        else:
            _kernels._ring_stats(s, r0, c0, dr_hi, dc_hi, buf, b)
        if a[3] < 0.8 * _RING_SAMPLES or b[3] < 0.8 * _RING_SAMPLES:
            continue
        out[i] = min((a[0] - a[1]) / dlo, (b[2] - a[0]) / dhi)
    return out


def _find_run(score: np.ndarray, z: np.ndarray, present: np.ndarray):
    """The longest run of present slices scoring >= 0.5, widened to half its plateau; its z-ends where the score
    crosses half the plateau (linear interpolation), None for an end cut by the scan. Returns
    (i0, i1, z_lo, z_hi, plateau) or None."""
    good = (score >= 0.5) & present
    if not good.any():
        return None
    best, cur, start = (0, -1), None, 0
    for i, g in enumerate(good):
        if g and cur is None:
            start, cur = i, i
        if g:
            cur = i
            if cur - start > best[1] - best[0]:
                best = (start, cur)
        else:
            cur = None
    i0, i1 = best
    plateau = float(np.median(score[i0:i1 + 1]))
    half = 0.5 * plateau
    while i0 > 0 and score[i0 - 1] >= half and present[i0 - 1]:
        i0 -= 1
    while i1 < len(score) - 1 and score[i1 + 1] >= half and present[i1 + 1]:
        i1 += 1

    def cross(ia, ib):  # ia outside (< half), ib inside
        sa, sb = score[ia], score[ib]
        return float(z[ia] + (half - sa) / (sb - sa) * (z[ib] - z[ia]))

    z_lo = cross(i0 - 1, i0) if i0 > 0 else None
    z_hi = cross(i1 + 1, i1) if i1 < len(score) - 1 else None
    return i0, i1, z_lo, z_hi, plateau


def _extremes(mod: Module):
    """The origin module's inserts with the lowest and highest CT number relative to its background."""
    lo = min(mod.inserts, key=lambda s: s.hu)
    hi = max(mod.inserts, key=lambda s: s.hu)
    return lo, hi


def _ramp_z(img, sp, center_px, roll_deg: float, mod: Module, thickness_mm: float):
    """Phantom-frame z (relative to the ramps' centre) of a slice from the wire positions along the ramps.

    For each ramp, the profile along it (mean of +-1.5 mm across the wire) minus its background (median of the
    tails beyond the ramp ends); the wire's position u_c along the ramp is the centroid of the part above half
    its peak, and z = sign x u_c x tan 23 deg. Opposed ramps have opposite signs, so the mean over a pair cancels
    an error of the centre along the ramps. Returns (z, spread) or None when fewer than two ramps show a wire."""
    zs = []
    for rp in mod.ramps:
        prof, u = _ramp_profile(img, sp, center_px, roll_deg, rp, band_half_mm=1.5)
        if prof is None:
            continue
        tails = np.abs(u) > rp.length_mm / 2 + 1.0
        bg = float(np.median(prof[tails]))
        p = prof - bg
        pk = float(p.max())
        if not pk > 100.0:
            continue
        w = np.where(p >= 0.5 * pk, p, 0.0)
        uc = float((w * u).sum() / w.sum())
        if abs(uc) + 0.5 * thickness_mm / RAMP_FACTOR > rp.length_mm / 2:
            continue
        zs.append(rp.sign * uc * RAMP_FACTOR)
    if len(zs) < 2:
        return None
    return float(np.mean(zs)), float(np.ptp(zs))


def _ramp_profile(img, sp, center_px, roll_deg: float, rp, *, band_half_mm: float, half_length_mm: float = 25.0,
                  across_offset_mm: float = 0.0):
    """Profile along a wire ramp: bilinear samples on a grid (u along the ramp every half pixel over
    +-half_length_mm, v across it every half pixel over +-band_half_mm about ``across_offset_mm``), averaged over
    v. Returns (profile, u) or (None, None) when the grid leaves the image."""
    step = 0.5 * min(sp)
    u = np.arange(-half_length_mm, half_length_mm + 1e-9, step)
    v = np.arange(-band_half_mm, band_half_mm + 1e-9, step) + across_offset_mm
    a = math.radians(roll_deg) + (0.0 if rp.direction == "x" else math.pi / 2)
    eu = (math.cos(a), math.sin(a))
    ev = (-eu[1], eu[0])
    cxp, cyp = geo.point_mm(rp.angle_deg, rp.distance_mm, roll_deg)
    X = cxp + u[None, :] * eu[0] + v[:, None] * ev[0]
    Y = cyp + u[None, :] * eu[1] + v[:, None] * ev[1]
    vals = _bilinear(img, center_px[0] + Y / sp[0], center_px[1] + X / sp[1])
    if np.isnan(vals).any():
        return None, None
    return vals.mean(axis=0), u


# ---------------------------------------------------------------------------------------------------------------
# Roll


@functools.lru_cache(maxsize=32)
def _insert_pattern(mod: Module, n: int, radius_mm: float) -> np.ndarray:
    """Expected contrast (HU over background) on the circle of ``radius_mm`` at angles k 360/n, roll 0."""
    ang = np.arange(n) * (360.0 / n)
    out = np.zeros(n)
    for ins in mod.inserts:
        if abs(ins.distance_mm - radius_mm) > ins.diameter_mm / 2:
            continue
        half = math.degrees(math.asin(min(1.0, (ins.diameter_mm / 2) / radius_mm)))
        d = (ang - ins.angle_deg + 180.0) % 360.0 - 180.0
        out[np.abs(d) <= half] += ins.hu - mod.background_hu
    out.flags.writeable = False  # cached: shared between calls
    return out


def _ring_profile(img, sp, center_px, radius_mm: float, n: int) -> np.ndarray:
    th = np.radians(np.arange(n) * (360.0 / n))
    return _bilinear(img, center_px[0] + radius_mm * np.sin(th) / sp[0],
                     center_px[1] + radius_mm * np.cos(th) / sp[1])


def _coarse_roll(ring: np.ndarray, pattern: np.ndarray, max_abs_deg: float = 180.0) -> tuple[float, float]:
    """Roll (deg) maximising the circular cross-correlation of ``ring`` with ``pattern`` (parabolic peak), and
    the Pearson correlation at that roll."""
    n = ring.size
    step = 360.0 / n
    r = np.nan_to_num(ring - np.nanmedian(ring))
    p = pattern - pattern.mean()
    c = np.fft.irfft(np.fft.rfft(r) * np.conj(np.fft.rfft(p)), n)
    lags = (np.arange(n) * step + 180.0) % 360.0 - 180.0
    cm = np.where(np.abs(lags) <= max_abs_deg, c, -np.inf)
    k = int(np.argmax(cm))
    y0, y1, y2 = c[(k - 1) % n], c[k], c[(k + 1) % n]
    den = y0 - 2 * y1 + y2
    frac = 0.5 * (y0 - y2) / den if den < 0 else 0.0
    roll = float(lags[k] + frac * step)
    pr = np.roll(p, k)
    rr = r - r.mean()
    denom = float(np.sqrt((rr * rr).sum() * (pr * pr).sum()))
    pearson = float((rr * pr).sum() / denom) if denom > 0 else 0.0
    return roll, pearson


def _fine_roll(img, sp, center_px, mod: Module, roll0: float, min_contrast_hu: float = 50.0):
    """Roll (deg) and centre (row, col) of a weighted rigid fit of the measured insert centroids to the drawing.

    Each insert with |hu - background| >= ``min_contrast_hu``: centroid by :func:`_blob_centroid` over a disc of
    the insert radius + 1.5 mm about its expected place at roll ``roll0``; weight (hu - background)^2. The fit
    minimises sum w |p_i - (c + R(theta) q_i)|^2 (closed form: theta = atan2(sum w (b_y a_x - b_x a_y),
    sum w (b_x a_x + b_y a_y)) with a, b the weighted-centred drawing and measured points). Returns
    (roll, centre, n_inserts, rms_mm) or None with fewer than two usable inserts."""
    P, Q, W = [], [], []
    for ins in mod.inserts:
        dhu = ins.hu - mod.background_hu
        if abs(dhu) < min_contrast_hu:
            continue
        qx, qy = geo.point_mm(ins.angle_deg, ins.distance_mm)
        guess = _phantom_to_px(center_px, sp, qx, qy, roll0)
        r, c, _m, _sd = _blob_centroid(img, sp, guess, ins.diameter_mm / 2 + 1.5, math.copysign(1.0, dhu))
        if not math.isfinite(r):
            continue
        P.append((c * sp[1], r * sp[0]))
        Q.append((qx, qy))
        W.append(dhu * dhu)
    if len(P) < 2:
        return None
    P, Q, W = np.array(P), np.array(Q), np.array(W)
    pm = (W[:, None] * P).sum(0) / W.sum()
    qm = (W[:, None] * Q).sum(0) / W.sum()
    a, b = Q - qm, P - pm
    sn = float((W * (b[:, 1] * a[:, 0] - b[:, 0] * a[:, 1])).sum())
    cs = float((W * (b[:, 0] * a[:, 0] + b[:, 1] * a[:, 1])).sum())
    th = math.atan2(sn, cs)
    R = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    c = pm - R @ qm
    res = P - (c + a @ R.T + R @ qm)
    rms = float(np.sqrt((res ** 2).sum(1).mean()))
    return math.degrees(th), (c[1] / sp[0], c[0] / sp[1]), len(P), rms


# ---------------------------------------------------------------------------------------------------------------
# Module slices


def _select(name: str, lo: float, hi: float, offset: float, zp: np.ndarray, present: np.ndarray, T: float,
            average_mm: float, what: str, origin_name: str, nearest_only: bool = False):
    """Indices of the slices to analyse for a module occupying [lo, hi] (phantom frame) and the reason.

    The module is in the scan when a present slice's nominal slab [zp - T/2, zp + T/2] lies in [lo, hi]; the
    nearest such slice to ``offset`` is always taken. The other slices within ``average_mm`` of ``offset`` are
    averaged only when their slab widened by the SSP tails, [zp - 3T/4, zp + 3T/4], lies in [lo, hi]: a real
    SSP is not a box, and the tails of a 10 mm slice whose slab touches a module face mix the neighbour module
    in (about 2.5 % of a 1000 HU insert contrast for the twin's trapezoidal SSP, measured). All tests allow
    ``_Z_TOL_MM`` (the origin is known to a few 0.01 mm)."""
    eps = _Z_TOL_MM
    inside = present & (zp - T / 2 >= lo - eps) & (zp + T / 2 <= hi + eps)
    strict = present & (zp - _SSP_REACH * T >= lo - eps) & (zp + _SSP_REACH * T <= hi + eps)
    if not inside.any():
        cov = zp[present]
        if cov.size:
            span = f"the scan covers {cov.min() - T / 2:.1f}..{cov.max() + T / 2:.1f} mm"
            if hi - lo < T:
                why = (f"{what} z {lo:.1f}..{hi:.1f} mm from the {origin_name} centre is shorter than the slice "
                       f"thickness {T:g} mm, so no slice lies wholly inside it ({span})")
            else:
                why = (f"{what} spans z {lo:.1f}..{hi:.1f} mm from the {origin_name} centre; no slice's profile "
                       f"(T = {T:g} mm) lies wholly inside it: {span}")
        else:
            why = "no slice shows the phantom"
        return (), why
    cand = np.nonzero(inside)[0]
    dist = np.abs(zp[cand] - offset)
    near = int(cand[int(np.argmin(dist))])
    if nearest_only:
        sel = [near]
    else:
        ok = cand[(dist <= average_mm + eps) & strict[cand]]
        sel = sorted(set(int(i) for i in ok) | {near})
    zs = zp[sel]
    why = (f"{len(sel)} slice(s) at z {zs.min():.1f}..{zs.max():.1f} mm from the {origin_name} centre: profile "
           f"(T = {T:g} mm) inside {what} z {lo:.1f}..{hi:.1f} mm" +
           ("" if nearest_only else f", within {average_mm:g} mm of the offset {offset:g} mm"))
    if not nearest_only and not strict[near]:
        why += (f"; the slice nearest the offset (z {zp[near]:.1f} mm) has its nominal slab inside the module but "
                f"its profile tails may reach the neighbouring module")
    return tuple(sel), why


# ---------------------------------------------------------------------------------------------------------------
# localize


def localize(slices: Sequence[np.ndarray], spacing_mm, z_mm: Sequence[float], phantom, *, thickness_mm: float,
             average_mm: float = 10.0, origin_z_mm: float | None = None, roll_deg: float | None = None,
             center_mm: tuple[float, float] | None = None) -> Localization:
    """Find the phantom axis, roll, origin and the slices of each module in an axial series.

    Parameters
    ----------
    slices : sequence of ndarray
        The slices ``(rows, cols)`` in HU, ordered by z ascending.
    spacing_mm : (float, float)
        Pixel spacing (row, column), mm.
    z_mm : sequence of float
        Slice positions (ImagePositionPatient[2]), strictly increasing.
    phantom : CTPhantom or str
        The phantom or its id (``catphan504``, ``catphan600``, ``catphan604``, ``acr464``, ``water200``).
    thickness_mm : float
        Nominal reconstructed slice thickness T (the SSP FWHM), mm.
    average_mm : float
        Analyse the slices within this distance of each module's offset (0: the nearest slice only).
    origin_z_mm, roll_deg : float, optional
        Overrides of the detected origin (series z of the origin module's centre) and roll.
    center_mm : (x, y), optional
        Override of the phantom centre on the origin slice, mm from the top-left pixel centre; the fitted
        tilt (if any) is kept.

    Returns
    -------
    Localization

    Raises
    ------
    PhantomNotFoundError
        No phantom outline, or (CatPhan / ACR) no slice shows the origin module's inserts.

    Notes
    -----
    See the module docstring for the steps. Module slices: slice i (phantom-frame z_i = z_mm[i] - origin) is
    taken for a module [z_min, z_max] when z_min + g <= z_i - 3T/4 and z_i + 3T/4 <= z_max - g (the nominal slab
    +-T/2 widened by the SSP tails) and |z_i - offset| <= average_mm; the slice nearest the offset is taken
    whenever its nominal slab +-T/2 is inside (so a module is in the scan exactly when a slab +-T/2 fits; each
    test with 0.05 mm of tolerance), with
    g = (D/2) |tilt| the z-excursion of a tilted axis at the phantom edge. The ramp entry uses the ramps' z-range
    +-(length/2 - 1 mm) tan 23 deg (the line's half-maximum points stay 1 mm from the wire ends; g from 40 mm)
    and only the nearest slice. Phantom z is measured along the series z (a
    tilt of 2 deg changes a distance along the axis by 0.06 %, which is ignored).
    """
    sl, sp, z = _check_series(slices, spacing_mm, z_mm)
    ph = geo.get_phantom(phantom) if isinstance(phantom, str) else phantom
    if not isinstance(ph, CTPhantom):
        raise InputError(f"phantom must be a CTPhantom or one of {', '.join(geo.PHANTOMS)}, got {phantom!r}")
    T = float(thickness_mm)
    if not (T > 0 and math.isfinite(T)):
        raise InputError(f"thickness_mm must be > 0 mm, got {thickness_mm!r}")
    avg = float(average_mm)
    if not (avg >= 0):
        raise InputError(f"average_mm must be >= 0 mm, got {average_mm!r}")
    warnings: list[str] = []
    method: list[str] = []
    n = len(sl)

    axis = _fit_axis(sl, sp, z, ph.diameter_mm, center_mm, origin_z_mm)
    present = axis.present
    if center_mm is not None:
        method.append(f"centre: override center_mm = ({center_mm[0]:g}, {center_mm[1]:g}) mm on the origin slice" +
                      (", fitted tilt kept" if axis.fitted else ", no outline fitted (tilt 0)"))
    else:
        method.append(f"outline: circle fits on slices {list(axis.fitted)} (4x strided mask, robust circle, "
                      f"refined on the full-resolution edge); axis: least-squares line through their centres")
    if abs(axis.diameter_mm - ph.diameter_mm) > 0.15 * ph.diameter_mm:
        warnings.append(f"the phantom image diameter is {axis.diameter_mm:.1f} mm, the {ph.id} drawing says "
                        f"{ph.diameter_mm:g} mm: is this the right phantom?")
    cen_all = _centers_px(axis, z, sp)
    tilt_abs = math.hypot(axis.tx, axis.ty)
    if math.degrees(math.atan(tilt_abs)) > 3.0:
        warnings.append(f"the phantom axis is tilted by {math.degrees(math.atan(tilt_abs)):.1f} deg to the scan "
                        f"axis; align the phantom")
    confidence = [axis.confidence if center_mm is None else 1.0]

    # ---- origin along z --------------------------------------------------------------------------------------
    om = ph.module(ph.origin_module)
    score = np.zeros(n)
    roll_slice = None
    run_idx: tuple[int, int] | None = None
    if om.inserts:
        lo, hi = _extremes(om)
        score = _ring_score(sl, sp, cen_all, lo.distance_mm, hi.distance_mm, om.background_hu - lo.hu,
                            hi.hu - om.background_hu)
    if origin_z_mm is not None:
        origin = float(origin_z_mm)
        method.append(f"origin: override origin_z_mm = {origin:g} mm")
    elif om.inserts:
        run = _find_run(score, z, present)
        if run is None:
            raise PhantomNotFoundError(
                f"the {ph.id} origin module {om.name} was not found: no slice shows both its {lo.name} and "
                f"{hi.name} inserts at {lo.distance_mm:g} mm from the axis (best score "
                f"{float(score.max()):.2f}, need 0.5). The scan may not cover {om.name}, or this is another "
                f"phantom; give origin_z_mm to override")
        i0, i1, z_lo, z_hi, plateau = run
        run_idx = (i0, i1)
        length = om.z_max_mm - om.z_min_mm
        ends = []
        if z_lo is not None:
            ends.append(z_lo - om.z_min_mm)
        if z_hi is not None:
            ends.append(z_hi - om.z_max_mm)
        if ends:
            origin = float(np.mean(ends))
            seen = ("both ends" if len(ends) == 2 else "its " + ("lower" if z_lo is not None else "upper") +
                    " end only (the scan cuts the other)")
            method.append(f"origin: {om.name} {lo.name}/{hi.name} ring-contrast run, slices {i0}..{i1}, {seen} at "
                          f"half plateau" + (f" (z {z_lo:.2f}..{z_hi:.2f} mm)" if len(ends) == 2 else ""))
            if len(ends) == 2 and abs((z_hi - z_lo) - length) > max(3.0, T):
                warnings.append(f"the {om.name} insert run is {z_hi - z_lo:.1f} mm long, the {ph.id} drawing "
                                f"says {length:g} mm: check the phantom model")
            confidence.append(min(1.0, plateau) * (1.0 if len(ends) == 2 else 0.8))
        else:
            origin = float(0.5 * (z[i0] + z[i1]))
            method.append(f"origin: {om.name} inserts on every slice {i0}..{i1}: the scan lies inside {om.name}")
            warnings.append(f"the whole scan lies inside {om.name}; its centre comes from the wire ramps if they "
                            f"are visible, else the middle of the scan (z {origin:.1f} mm)")
            confidence.append(0.5)
    else:
        score = _fill(sl, sp, cen_all, axis.diameter_mm)
        origin = _water_origin(axis, score, z, method, warnings, confidence)

    if center_mm is not None and origin_z_mm is None:
        # the override holds on the origin slice: re-anchor the axis there (it was anchored at the fitted slices)
        axis = dataclasses.replace(axis, z_ref=float(origin))
        cen_all = _centers_px(axis, z, sp)

    # ---- roll -----------------------------------------------------------------------------------------------------
    zp = z - origin
    cand = np.nonzero(present & ((score >= 0.5) if om.inserts else present))[0]
    if run_idx is not None:
        cand = np.arange(run_idx[0], run_idx[1] + 1)
    if cand.size:
        roll_slice = int(cand[int(np.argmin(np.abs(zp[cand] - om.offset_mm)))])
    if roll_deg is not None:
        roll = float(roll_deg)
        method.append(f"roll: override roll_deg = {roll:g} deg")
    elif om.inserts and roll_slice is not None:
        roll, how, rconf = _measure_roll(sl[roll_slice], sp, tuple(cen_all[roll_slice]), om)
        method.append(f"roll: {how} on slice {roll_slice}")
        confidence.append(rconf)
    elif om.inserts:
        roll = 0.0
        method.append("roll: not measured (0 assumed)")
        warnings.append(f"the roll was not measured: no slice shows the {om.name} inserts; 0 deg is assumed for "
                        f"every module. Give roll_deg if the phantom is rolled")
        confidence.append(0.5)
    else:
        roll = 0.0
        method.append("roll: 0 (a water phantom has no roll)")

    # ---- refine the origin with the wire ramps (CatPhan CTP404) ------------------------------------------------
    if origin_z_mm is None and om.ramps and roll_slice is not None:
        rz = _ramp_z(sl[roll_slice], sp, tuple(cen_all[roll_slice]), roll, om, T)
        if rz is not None:
            z_slice_ph, spread = rz
            new = float(z[roll_slice] - (z_slice_ph + om.offset_mm))
            tol = max(2.0, T, float(np.median(np.diff(z))) if n > 1 else 0.0)
            if spread <= 1.0 and abs(new - origin) <= tol:
                method.append(f"origin refined by the wire positions on the ramps of slice {roll_slice} "
                              f"({new - origin:+.2f} mm; ramps agree within {spread:.2f} mm)")
                origin = new
            else:
                warnings.append(f"the ramps of slice {roll_slice} put the {om.name} centre at {new:.2f} mm, the "
                                f"insert run at {origin:.2f} mm (ramps agree within {spread:.2f} mm); the insert "
                                f"run is used")
    zp = z - origin

    # ---- module slices ---------------------------------------------------------------------------------------------
    slices_out: dict[str, tuple[int, ...]] = {}
    reasons: dict[str, str] = {}
    g = 0.5 * axis.diameter_mm * tilt_abs
    for m in ph.modules:
        if m.kind == "water":
            lo_, hi_ = _water_range(score, present, z, origin, ph)
        else:
            lo_, hi_ = m.z_min_mm + g, m.z_max_mm - g
        slices_out[m.name], reasons[m.name] = _select(m.name, lo_, hi_, m.offset_mm, zp, present, T, avg,
                                                      m.name, om.name)
        if m.ramps:
            half = (min(rp.length_mm for rp in m.ramps) / 2 - RAMP_END_CLEAR_MM) * RAMP_FACTOR
            gr = 40.0 * tilt_abs
            key = m.name + "_ramps"
            slices_out[key], reasons[key] = _select(key, m.offset_mm - half + gr, m.offset_mm + half - gr,
                                                    m.offset_mm, zp, present, T, avg, f"{m.name} wire ramps",
                                                    om.name, nearest_only=True)
    cen_out = tuple((float(cen_all[i, 0]), float(cen_all[i, 1])) if present[i] else (float("nan"), float("nan"))
                    for i in range(n))
    conf = float(np.clip(np.prod(confidence), 0.0, 1.0))
    return Localization(ph.id, tuple(float(v) for v in z), cen_out, tuple(bool(p) for p in present),
                        float(axis.diameter_mm), float(roll), float(origin), (float(axis.tx), float(axis.ty)),
                        slices_out, reasons, "; ".join(method), conf, tuple(warnings),
                        tuple(float(s) for s in score), axis.fitted, sp, T)


def _measure_roll(img, sp, center_px, om: Module):
    lo, hi = _extremes(om)
    r = lo.distance_mm
    n = int(round(360.0 / _ROLL_STEP_DEG))
    ring = _ring_profile(img, sp, center_px, r, n)
    coarse, pearson = _coarse_roll(ring, _insert_pattern(om, n, r))
    fine = _fine_roll(img, sp, center_px, om, coarse)
    if fine is None:
        return coarse, (f"ring cross-correlation at {_ROLL_STEP_DEG:g} deg steps (r = {pearson:.2f}); fewer than "
                        f"two insert centroids for the fine fit"), max(0.0, pearson) * 0.8
    roll, _c, k, rms = fine
    if abs(((roll - coarse + 180) % 360) - 180) > 3.0:
        return coarse, (f"ring cross-correlation (r = {pearson:.2f}); the insert-centroid fit ({roll:.2f} deg) "
                        f"disagreed by > 3 deg and was not used"), max(0.0, pearson) * 0.7
    return roll, (f"ring cross-correlation (coarse {coarse:.2f} deg, r = {pearson:.2f}), then a weighted rigid "
                  f"fit of {k} insert centroids (rms {rms:.3f} mm)"), max(0.0, min(1.0, pearson))


def _fill(slices, sp, cen_px, diameter_mm: float) -> np.ndarray:
    """Per slice: median of 180 pixels on the circle of radius D/4 about the axis (HU); for a uniform phantom it
    is the SSP-weighted mix of water and air, so it crosses halfway at the phantom's ends."""
    r = diameter_mm / 4.0
    th = np.arange(_RING_SAMPLES) * (2 * math.pi / _RING_SAMPLES)
    dr, dc = r * np.sin(th) / sp[0], r * np.cos(th) / sp[1]
    buf = np.zeros(_RING_SAMPLES)
    a = np.zeros(4)
    out = np.full(len(slices), np.nan)
    for i, s in enumerate(slices):
        r0, c0 = float(cen_px[i][0]), float(cen_px[i][1])
        if math.isfinite(r0) and math.isfinite(c0):
            _kernels._ring_stats(s, r0, c0, dr, dc, buf, a)
            out[i] = a[0]
    return out


def _z_ends(fill: np.ndarray, present: np.ndarray, z: np.ndarray):
    """Ends of a uniform phantom along z: where ``fill`` crosses halfway between its lowest value and its
    plateau (median over the present slices), interpolated in z; None for an end the scan cuts (or when no
    slice is free of the phantom)."""
    idx = np.nonzero(present)[0]
    f = np.where(np.isfinite(fill), fill, -np.inf)
    if idx.size == 0:
        return None, None
    plateau = float(np.median(fill[present]))
    base = float(np.nanmin(fill))
    if not plateau - base > _MIN_EDGE_CONTRAST_HU:
        return None, None
    level = 0.5 * (plateau + base)
    k = int(idx[int(np.argmax(f[idx]))]) if f[idx].max() >= level else int(idx[idx.size // 2])
    i0 = k
    while i0 > 0 and f[i0 - 1] >= level:
        i0 -= 1
    i1 = k
    while i1 < z.size - 1 and f[i1 + 1] >= level:
        i1 += 1
    z_lo = z_hi = None
    if i0 > 0 and np.isfinite(fill[i0 - 1]):
        z_lo = float(z[i0 - 1] + (level - f[i0 - 1]) / (f[i0] - f[i0 - 1]) * (z[i0] - z[i0 - 1]))
    if i1 < z.size - 1 and np.isfinite(fill[i1 + 1]):
        z_hi = float(z[i1] + (f[i1] - level) / (f[i1] - f[i1 + 1]) * (z[i1 + 1] - z[i1]))
    return z_lo, z_hi


def _water_origin(axis: _Axis, fill: np.ndarray, z, method, warnings, confidence) -> float:
    z_lo, z_hi = _z_ends(fill, axis.present, z)
    idx = np.nonzero(axis.present)[0]
    a = z_lo if z_lo is not None else float(z[idx[0]])
    b = z_hi if z_hi is not None else float(z[idx[-1]])
    if z_lo is not None and z_hi is not None:
        method.append(f"origin: middle of the phantom's z-extent {z_lo:.1f}..{z_hi:.1f} mm (median CT number on "
                      f"the D/4 circle at half plateau)")
        confidence.append(1.0)
    else:
        cut = " and ".join(s for s, v in (("lower", z_lo), ("upper", z_hi)) if v is None)
        method.append(f"origin: middle of the scanned part of the phantom {a:.1f}..{b:.1f} mm (the scan cuts its "
                      f"{cut} end{'s' if ' and ' in cut else ''})")
        if len(z) > 1 and " and " not in cut:
            warnings.append(f"the scan shows only the {'upper' if cut == 'lower' else 'lower'} end of the water "
                            f"phantom; the slices about the middle of the scanned part ({0.5 * (a + b):.1f} mm) "
                            f"are analysed")
        confidence.append(0.8)
    return 0.5 * (a + b)


def _water_range(fill: np.ndarray, present: np.ndarray, z, origin: float, ph: CTPhantom) -> tuple[float, float]:
    """Uniform z-range of a water phantom relative to ``origin``: the observed ends less max(wall, 3 mm) (an end
    cut by the scan is open)."""
    z_lo, z_hi = _z_ends(fill, present, z)
    lo = -math.inf if z_lo is None else z_lo - origin + max(ph.wall_mm, 3.0)
    hi = math.inf if z_hi is None else z_hi - origin - max(ph.wall_mm, 3.0)
    return lo, hi


# ---------------------------------------------------------------------------------------------------------------
# identify_catphan


def identify_catphan(slices: Sequence[np.ndarray], spacing_mm, z_mm: Sequence[float], *,
                     thickness_mm: float) -> tuple[str, str, float]:
    """Which CatPhan (504, 600 or 604) a series shows, from the CTP404 insert pattern.

    Parameters
    ----------
    slices, spacing_mm, z_mm
        As :func:`localize`.
    thickness_mm : float
        Nominal slice thickness (recorded; the pattern does not depend on it).

    Returns
    -------
    (phantom_id, reason, confidence)

    Notes
    -----
    The CTP404 slice is found as in :func:`localize` (Air and Teflon at 58.7 mm are common to all three). On the
    slice nearest the middle of that run, the 58.7 mm circle sampled every 0.25 deg is correlated with each
    model's insert pattern (Pearson r at the best roll within +-90 deg) and the best model wins. The 600's
    pattern is the 504's turned by 180 deg (plus a water insert, invisible at 0 HU), so the 504/604 and 600 are
    told apart by where the Air insert is: at 12 o'clock (504/604) or 6 o'clock (600) within +-90 deg of roll.
    The 604 adds two bone inserts (725 and 237 HU) at -150 and 30 deg. Confidence = best r x min(1, margin /
    0.1), margin = best r - second r.

    Raises
    ------
    PhantomNotFoundError
        No slice shows the Air and Teflon inserts.
    """
    sl, sp, z = _check_series(slices, spacing_mm, z_mm)
    ref = geo.CATPHAN504
    axis = _fit_axis(sl, sp, z, ref.diameter_mm)
    cen = _centers_px(axis, z, sp)
    mod = ref.module("CTP404")
    lo, hi = _extremes(mod)
    score = _ring_score(sl, sp, cen, lo.distance_mm, hi.distance_mm, mod.background_hu - lo.hu,
                        hi.hu - mod.background_hu)
    run = _find_run(score, z, axis.present)
    if run is None:
        raise PhantomNotFoundError(
            f"no CatPhan CTP404 found: no slice shows an Air and a Teflon insert at 58.7 mm from the axis (best "
            f"score {float(score.max()):.2f}, need 0.5). Check the series, or give the model in the manifest")
    i0, i1 = run[0], run[1]
    k = (i0 + i1) // 2
    n = int(round(360.0 / _ROLL_STEP_DEG))
    ring = _ring_profile(sl[k], sp, tuple(cen[k]), lo.distance_mm, n)
    rs = {}
    for pid in _CATPHAN_IDS:
        m = geo.get_phantom(pid).module("CTP404")
        roll, r = _coarse_roll(ring, _insert_pattern(m, n, lo.distance_mm), max_abs_deg=90.0)
        rs[pid] = (r, roll)
    order = sorted(rs, key=lambda p: rs[p][0], reverse=True)
    best, second = order[0], order[1]
    margin = rs[best][0] - rs[second][0]
    conf = float(max(0.0, rs[best][0]) * min(1.0, margin / 0.1))
    why = (f"CTP404 on slices {i0}..{i1}; correlation of the 58.7 mm insert circle with each pattern (roll within "
           f"+-90 deg): " + ", ".join(f"{p} r = {rs[p][0]:.3f} at {rs[p][1]:.1f} deg" for p in order))
    return best, why, conf


# ---------------------------------------------------------------------------------------------------------------
# Figures


def localization_panels(loc: Localization, slices: Sequence[np.ndarray], spacing_mm) -> tuple:
    """Report figures of a localisation: the origin slice with the fitted outline and the insert positions, and
    the per-slice origin score against z with the module ranges."""
    from phantomqc.core.visuals import Band, CircleOverlay, Curve, ImagePanel, LineOverlay, Plot

    sp = _spacing(spacing_mm)
    ph = geo.get_phantom(loc.phantom_id)
    om = ph.module(ph.origin_module)
    z = np.asarray(loc.slice_z_mm)
    present = np.asarray(loc.phantom_present)
    out: list = []
    if present.any():
        idx = np.nonzero(present)[0]
        i = int(idx[int(np.argmin(np.abs(z[idx] - loc.origin_z_mm - om.offset_mm)))])
        c = loc.centers_px[i]
        ov = [CircleOverlay(c[0], c[1], loc.diameter_mm / 2 / sp[1], "outline", "tab:green")]
        for ins in om.inserts:
            qx, qy = geo.point_mm(ins.angle_deg, ins.distance_mm)
            r, cc = _phantom_to_px(c, sp, qx, qy, loc.roll_deg)
            ov.append(CircleOverlay(r, cc, ins.diameter_mm / 2 / sp[1], ins.name))
        ax = _phantom_to_px(c, sp, loc.diameter_mm / 2, 0.0, loc.roll_deg)
        ov.append(LineOverlay((c[0], ax[0]), (c[1], ax[1]), f"roll {loc.roll_deg:.2f} deg", "tab:red"))
        out.append(ImagePanel(f"Localisation: slice {i} (z = {z[i]:.2f} mm), roll {loc.roll_deg:.2f} deg",
                              slices[i], tuple(ov), spacing_mm=sp))
    if len(loc.score) == len(z) and len(z) > 1:
        refs = [Band("x", 0.0, f"{om.name} centre")]
        for m in ph.modules:
            for v in (m.z_min_mm, m.z_max_mm):
                refs.append(Band("x", float(v), m.name))
        out.append(Plot(f"Origin search ({om.name} inserts on the {_extremes(om)[0].distance_mm:g} mm circle)"
                        if om.inserts else "Phantom presence",
                        (Curve(z - loc.origin_z_mm, np.asarray(loc.score), "score", "points"),),
                        "z from the origin module centre (mm)", "score (1 = full insert contrast)",
                        refs=tuple(refs), notes=(loc.method,)))
    return tuple(out)
