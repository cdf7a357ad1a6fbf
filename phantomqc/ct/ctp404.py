"""CatPhan CTP404 module: CT-number linearity, in-plane geometry (50 mm square) and slice thickness (wire ramps).

:func:`analyze_ctp404` measures the slices the localisation chose (HU inserts and holes: every slice of the module
within ``average_mm`` of its centre; ramps: the single slice nearest the centre). ``ctp404_panels`` builds the
report figures. The same function serves any module described by :class:`phantomqc.ct.geometry.Module` with
inserts, holes and/or ramps (an empty group is skipped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import ndimage

from phantomqc._shared.errors import InputError
from phantomqc.core.types import Quantity
from phantomqc.ct import _kernels
from phantomqc.ct import geometry as geo
from phantomqc.ct.geometry import RAMP_ANGLE_DEG, RAMP_FACTOR, Module
from phantomqc.ct.localize import RAMP_END_CLEAR_MM as _RAMP_END_CLEAR_MM
from phantomqc.ct.localize import _as_image, _blob_centroid, _phantom_to_px, _spacing

__all__ = ["InsertROI", "RampProfile", "CTP404Result", "analyze_ctp404", "ctp404_panels", "SIDES",
           "insert_hu", "hole_lengths", "ramp_thickness"]

#: Sides of the geometry square: (label, first hole, second hole).
SIDES = (("top", "upper left", "upper right"), ("right", "upper right", "lower right"),
         ("bottom", "lower left", "lower right"), ("left", "upper left", "lower left"))
_ROI_FRACTION = 0.80          # linearity ROI diameter / insert diameter (WS 519)
_HOLE_WINDOW_MM = 1.5         # hole centroid disc = hole radius + this
_HOLE_BG_MM = 2.0             # ... background annulus width
_RAMP_MARGIN_MM = 5.0         # ramp profile: +- (length/2 + margin) along the ramp
_RAMP_SEARCH_MM = 3.0         # ... wire searched within +- this across the ramp
_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass(frozen=True)
class InsertROI:
    """A linearity ROI: disc of 80 % of the insert diameter at the insert centre (row, col px on the display
    slice), its radius in mm and column pixels, and the pixel count pooled over the slices."""

    name: str
    row: float
    col: float
    radius_mm: float
    radius_px: float
    n_pixels: int


@dataclass(frozen=True)
class RampProfile:
    """One wire ramp's profile along the ramp and its FWHM.

    ``u_mm`` is the position along the ramp from its centre, ``profile_hu`` the weighted mean over the band
    ``v0_mm +- band_half_mm`` across the wire (weights: the wire's own across-profile); ``left_mm`` and
    ``right_mm`` are the half-maximum points; ``thickness_raw_mm`` = FWHM x tan 23 deg, ``thickness_mm`` =
    sqrt(FWHM^2 - w^2) x tan 23 deg (NaN without w).
    ``used`` is False (with ``note``) when the profile has no clear peak or the wire line reaches a ramp end.
    ``corners_rc`` are the band's corners (rows, cols) in pixels for drawing.
    """

    name: str
    u_mm: np.ndarray
    profile_hu: np.ndarray
    background_hu: float
    peak_hu: float
    level_hu: float
    left_mm: float
    right_mm: float
    fwhm_mm: float
    thickness_raw_mm: float
    thickness_mm: float
    v0_mm: float
    band_half_mm: float
    used: bool
    note: str
    corners_rc: tuple[tuple[float, ...], tuple[float, ...]]


@dataclass(frozen=True)
class CTP404Result:
    """CT-number linearity, geometry and slice thickness of a CTP404-type module.

    Linearity: ``mean_hu[name]`` (Quantity, uncertainty = standard error, see Notes of :func:`analyze_ctp404`),
    ``sd_hu``, ``n_pixels``, ``nominal_hu``, ``error_hu`` (= mean - nominal), ``max_abs_error_hu``
    (``max_abs_error_insert`` says which), per-slice means in ``slice_mean_hu``.
    Geometry: ``lengths_mm[side]`` for top/right/bottom/left, hole centres in ``hole_centers_px`` (pixels of the
    slices, from their mean). Slice thickness: ``thickness_mm`` (mean over the used ramps of the PSF-corrected
    values; the raw mean when no PSF width was given; None without a ramp slice), ``thickness_raw_mm``, per-ramp
    ``ramps``.
    """

    mean_hu: dict[str, Quantity]
    sd_hu: dict[str, float]
    n_pixels: dict[str, int]
    nominal_hu: dict[str, float]
    error_hu: dict[str, float]
    max_abs_error_hu: Quantity
    max_abs_error_insert: str
    slice_mean_hu: dict[str, tuple[float, ...]]
    insert_rois: tuple[InsertROI, ...]
    lengths_mm: dict[str, Quantity]
    hole_centers_px: dict[str, tuple[float, float]]
    thickness_mm: Quantity | None
    thickness_raw_mm: Quantity | None
    ramps: tuple[RampProfile, ...]
    n_slices: int
    roll_deg: float
    display_center_px: tuple[float, float]
    ramp_center_px: tuple[float, float] | None
    psf_fwhm_mm: float | None
    nominal_thickness_mm: float
    warnings: tuple[str, ...] = ()
    parameters: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------------
# HU inserts


def insert_hu(slices: Sequence[np.ndarray], spacing_mm, centers_px, roll_deg: float, module: Module,
              nominal_hu: dict[str, float] | None = None, *, roi_fraction: float = _ROI_FRACTION):
    """Mean CT number of each insert of ``module`` over ``slices`` (discs of ``roi_fraction`` x the insert
    diameter). Returns (stats per insert name: dict(mean, sd, n, sem, slice_means, nominal), rois on the middle
    slice, warnings)."""
    sp = _spacing(spacing_mm)
    sy, sx = sp
    nominal = {ins.name: float(ins.hu) for ins in module.inserts}
    if nominal_hu:
        unknown = sorted(set(nominal_hu) - set(nominal))
        if unknown:
            raise InputError(f"nominal_hu names {unknown}, which are not inserts of {module.name}; its inserts are "
                             f"{sorted(nominal)}")
        nominal.update({k: float(v) for k, v in nominal_hu.items()})
    ins = module.inserts
    m = len(ins)
    k = len(slices)
    radius = np.array([roi_fraction * s.diameter_mm / 2 for s in ins])
    shifts = np.array([nominal[s.name] for s in ins])
    q = [geo.point_mm(s.angle_deg, s.distance_mm) for s in ins]
    pooled = np.zeros((m, 3))
    per = np.zeros((k, m))
    out = np.zeros((m, 3))
    rows_mid = cols_mid = None
    for i, (img, c) in enumerate(zip(slices, centers_px)):
        a = _as_image(img, f"slice {i}")
        if not (math.isfinite(c[0]) and math.isfinite(c[1])):
            raise InputError(f"centers_px[{i}] is {tuple(c)}: no phantom centre on that slice; pass only slices "
                             f"that show the phantom")
        pts = [_phantom_to_px(c, sp, x, y, roll_deg) for x, y in q]
        rows = np.array([p[0] for p in pts])
        cols = np.array([p[1] for p in pts])
        _kernels._discs_stats(a, rows, cols, radius / sy, radius / sx, shifts, out)
        pooled += out
        per[i] = shifts + out[:, 0] / np.maximum(out[:, 2], 1)
        if i == k // 2:
            rows_mid, cols_mid = rows, cols
    warnings: list[str] = []
    stats = {}
    expected = k * math.pi * radius ** 2 / (sy * sx)
    rois = []
    for j, s in enumerate(ins):
        S, S2, n = pooled[j]
        if n < 2:
            raise InputError(f"the {s.name} insert ROI has {int(n)} pixels inside the image: the phantom centre or "
                             f"roll is wrong, or the field of view cuts the insert")
        if n < 0.9 * expected[j]:
            warnings.append(f"the {s.name} insert ROI extends beyond the image ({int(n)} of about "
                            f"{expected[j]:.0f} pixels)")
        mean = shifts[j] + S / n
        sd = math.sqrt(max(S2 - S * S / n, 0.0) / (n - 1))
        sem = sd / math.sqrt(n)
        if k >= 2:
            sem = max(sem, float(per[:, j].std(ddof=1)) / math.sqrt(k))
        stats[s.name] = dict(mean=float(mean), sd=float(sd), n=int(n), sem=float(sem),
                             slice_means=tuple(float(v) for v in per[:, j]), nominal=nominal[s.name])
        rois.append(InsertROI(s.name, float(rows_mid[j]), float(cols_mid[j]), float(radius[j]),
                              float(radius[j] / sx), int(n)))
    return stats, tuple(rois), warnings


# ---------------------------------------------------------------------------------------------------------------
# Geometry holes


def hole_lengths(slices: Sequence[np.ndarray], spacing_mm, centers_px, roll_deg: float, module: Module):
    """Centroids of the geometry holes on the mean of ``slices`` and the side lengths of their square.

    Returns (lengths: side -> (mm, standard uncertainty mm), centres: name -> (row, col), warnings)."""
    sp = _spacing(spacing_mm)
    sy, sx = sp
    holes = {h.name: h for h in module.holes}
    k = len(slices)
    mid = k // 2
    c = centers_px[mid]
    guesses = {n: _phantom_to_px(c, sp, h.x_mm, h.y_mm, roll_deg) for n, h in holes.items()}
    pad = max(h.diameter_mm / 2 for h in holes.values()) + _HOLE_WINDOW_MM + _HOLE_BG_MM + 2.0
    r0 = int(math.floor(min(g[0] for g in guesses.values()) - pad / sy))
    r1 = int(math.ceil(max(g[0] for g in guesses.values()) + pad / sy)) + 1
    c0 = int(math.floor(min(g[1] for g in guesses.values()) - pad / sx))
    c1 = int(math.ceil(max(g[1] for g in guesses.values()) + pad / sx)) + 1
    h_, w_ = np.asarray(slices[0]).shape
    warnings: list[str] = []
    if r0 < 0 or c0 < 0 or r1 > h_ or c1 > w_:
        warnings.append("the geometry holes are too close to the image border to be measured")
        return {}, {}, warnings
    box = np.zeros((r1 - r0, c1 - c0))
    for img in slices:
        box += np.asarray(img)[r0:r1, c0:c1]
    box /= k
    centres: dict[str, tuple[float, float]] = {}
    sig: dict[str, float] = {}
    for n, h in holes.items():
        R = h.diameter_mm / 2 + _HOLE_WINDOW_MM
        sign = math.copysign(1.0, h.hu - module.background_hu)
        r, cc, mass, sd = _blob_centroid(box, sp, (guesses[n][0] - r0, guesses[n][1] - c0), R, sign,
                                         bg_width_mm=_HOLE_BG_MM, iterations=4)
        if not math.isfinite(r):
            warnings.append(f"the {n} geometry hole was not found near its expected place")
            continue
        moved = math.hypot((r + r0 - guesses[n][0]) * sy, (cc + c0 - guesses[n][1]) * sx)
        if moved > 1.5:
            warnings.append(f"the {n} geometry hole is {moved:.1f} mm from its expected place (roll or centre "
                            f"error, or a different phantom)")
        centres[n] = (r + r0, cc + c0)
        # white-noise standard error of a weighted centroid along one axis: sd sqrt(sum x^2) / mass,
        # sum x^2 over a disc of radius R = pi R^4 / 4 / (pixel area)  (mm^2 x pixels)
        sig[n] = sd * math.sqrt(math.pi * R ** 4 / 4.0 / (sy * sx)) / mass
    lengths = {}
    for side, a, b in SIDES:
        if a in centres and b in centres:
            d = math.hypot((centres[a][0] - centres[b][0]) * sy, (centres[a][1] - centres[b][1]) * sx)
            lengths[side] = (d, math.hypot(sig[a], sig[b]))
    return lengths, centres, warnings


# ---------------------------------------------------------------------------------------------------------------
# Slice thickness


def ramp_thickness(image: np.ndarray, spacing_mm, center_px, roll_deg: float, ramp: geo.Ramp, *,
                   psf_fwhm_mm: float | None, band_half_mm: float = 1.5) -> RampProfile:
    """FWHM of one wire ramp's profile on ``image`` and the slice thickness it gives (see :func:`analyze_ctp404`)."""
    sp = _spacing(spacing_mm)
    sy, sx = sp
    step = 0.5 * min(sy, sx)
    L2 = ramp.length_mm / 2
    H = L2 + _RAMP_MARGIN_MM
    u = np.arange(-H, H + 1e-9, step)
    v = np.arange(-_RAMP_SEARCH_MM, _RAMP_SEARCH_MM + 1e-9, 2 * step)
    a = math.radians(roll_deg) + (0.0 if ramp.direction == "x" else math.pi / 2)
    eu = (math.cos(a), math.sin(a))
    ev = (-eu[1], eu[0])
    cxp, cyp = geo.point_mm(ramp.angle_deg, ramp.distance_mm, roll_deg)
    X = cxp + u[None, :] * eu[0] + v[:, None] * ev[0]
    Y = cyp + u[None, :] * eu[1] + v[:, None] * ev[1]
    vals = _cubic(image, center_px[0] + Y / sy, center_px[1] + X / sx)

    def corners(v0):
        cu = (-H, H, H, -H, -H)
        cv = (v0 - band_half_mm, v0 - band_half_mm, v0 + band_half_mm, v0 + band_half_mm, v0 - band_half_mm)
        xs = [cxp + p * eu[0] + q * ev[0] for p, q in zip(cu, cv)]
        ys = [cyp + p * eu[1] + q * ev[1] for p, q in zip(cu, cv)]
        return (tuple(center_px[0] + y / sy for y in ys), tuple(center_px[1] + x / sx for x in xs))

    nan = float("nan")

    def bad(note, prof=None, v0=0.0, bg=nan, pk=nan):
        return RampProfile(ramp.name, u, np.full(u.size, np.nan) if prof is None else prof, bg, pk, nan, nan, nan,
                           nan, nan, nan, v0, band_half_mm, False, note, corners(v0))

    if np.isnan(vals).any():
        return bad("the ramp profile leaves the image")
    # locate the wire line across the ramp: centroid of the across-profile of the background-free sum along u
    tails = np.abs(u) > L2 + 1.0
    across = (vals - np.median(vals[:, tails], axis=1, keepdims=True)).sum(axis=1)
    j = int(np.argmax(across))
    near = np.abs(v - v[j]) <= 1.0
    w = np.clip(across[near], 0.0, None)
    v0 = float((w * v[near]).sum() / w.sum()) if w.sum() > 0 else 0.0
    band = np.abs(v - v0) <= band_half_mm + 1e-9
    wv = np.clip(across[band], 0.0, None)
    if not wv.sum() > 0:
        wv = np.ones(int(band.sum()))
    prof = (wv[:, None] * vals[band]).sum(axis=0) / wv.sum()
    bg = float(np.median(prof[tails]))
    noise = 1.4826 * float(np.median(np.abs(prof[tails] - bg)))
    p = prof - bg
    k = int(np.argmax(p))
    raw_pk = float(p[k])
    if not raw_pk > max(6.0 * noise, 1e-6):
        return bad(f"no clear wire peak (peak {raw_pk:.1f} HU over a background noise of {noise:.1f} HU)", prof, v0,
                   bg, raw_pk + bg)
    # first pass FWHM with the raw maximum, then the peak from a parabola over the top
    fw0 = _fwhm(u, p, 0.5 * raw_pk)
    half_w = max(0.6, 0.25 * (fw0[2] if math.isfinite(fw0[2]) else 1.0))
    top = np.abs(u - u[k]) <= half_w
    pk = raw_pk
    if top.sum() >= 3:
        cf = np.polyfit(u[top] - u[k], p[top], 2)
        if cf[0] < 0:
            xv = -cf[1] / (2 * cf[0])
            xv = min(max(xv, -half_w), half_w)
            pk = float(np.polyval(cf, xv))
        else:
            pk = float(np.polyval(cf, 0.0))
    level = 0.5 * pk
    left, right, fwhm, dip = _fwhm(u, p, level)
    note = ""
    if not (math.isfinite(left) and math.isfinite(right)):
        return bad("the profile does not fall to half maximum inside the profile ROI (the wire line is longer than "
                   "the ROI or the background is uneven)", prof, v0, bg, pk + bg)
    if left < -L2 + _RAMP_END_CLEAR_MM or right > L2 - _RAMP_END_CLEAR_MM:
        return bad(f"the wire line ({left:.1f}..{right:.1f} mm) reaches the end of the {ramp.length_mm:g} mm ramp: "
                   f"this slice is too far from the ramp centre for its thickness", prof, v0, bg, pk + bg)
    if dip:
        note = "the profile dips below half maximum between its half-maximum points (noise?); outer points used"
    t_raw = fwhm * RAMP_FACTOR
    if psf_fwhm_mm is not None:
        d2 = fwhm * fwhm - psf_fwhm_mm * psf_fwhm_mm
        t_cor = math.sqrt(d2) * RAMP_FACTOR if d2 > 0 else nan
        if not d2 > 0:
            return bad(f"the profile FWHM {fwhm:.2f} mm is not wider than the in-plane PSF FWHM "
                       f"{psf_fwhm_mm:.2f} mm", prof, v0, bg, pk + bg)
    else:
        t_cor = nan
    return RampProfile(ramp.name, u, prof, bg, pk + bg, level + bg, left, right, fwhm, t_raw, t_cor, v0,
                       band_half_mm, True, note, corners(v0))


def _cubic(img: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Cubic B-spline interpolation of ``img`` at (rows, cols), prefiltered on the bounding crop only (4 pixels
    of margin); NaN where a point lies outside the image. Bilinear interpolation would lower the peak of a
    profile a few pixels wide by up to p^2 |f''| / 8 between pixel centres (about 6 % for a thin slice's wire
    line at 0.5 mm pixels) and so widen its FWHM; the cubic spline is exact to a few 0.1 % for such band-limited
    profiles."""
    h, w = img.shape
    ok = (rows >= 0) & (rows <= h - 1) & (cols >= 0) & (cols <= w - 1)
    if not ok.all():
        return np.full(rows.shape, np.nan)
    r0 = max(0, int(math.floor(rows.min())) - 4)
    r1 = min(h, int(math.ceil(rows.max())) + 5)
    c0 = max(0, int(math.floor(cols.min())) - 4)
    c1 = min(w, int(math.ceil(cols.max())) + 5)
    crop = np.asarray(img[r0:r1, c0:c1], dtype=np.float64)
    return ndimage.map_coordinates(crop, [rows - r0, cols - c0], order=3, mode="nearest", prefilter=True)


def _fwhm(u: np.ndarray, p: np.ndarray, level: float) -> tuple[float, float, float, bool]:
    """Outermost crossings of ``level`` by the profile ``p`` (walking in from each end, linear interpolation),
    their distance, and whether the profile dips below ``level`` between them."""
    above = p >= level
    idx = np.nonzero(above)[0]
    nan = float("nan")
    if idx.size == 0 or idx[0] == 0 or idx[-1] == p.size - 1:
        return nan, nan, nan, False
    i, j = int(idx[0]), int(idx[-1])
    left = float(u[i - 1] + (level - p[i - 1]) / (p[i] - p[i - 1]) * (u[i] - u[i - 1]))
    right = float(u[j] + (p[j] - level) / (p[j] - p[j + 1]) * (u[j + 1] - u[j]))
    dip = bool(idx.size != j - i + 1)
    return left, right, right - left, dip


# ---------------------------------------------------------------------------------------------------------------
# analyze_ctp404


def analyze_ctp404(slices: Sequence[np.ndarray], spacing_mm, centers_px: Sequence[tuple[float, float]],
                   roll_deg: float, module: Module, *, ramp_slice: np.ndarray | None,
                   ramp_center_px: tuple[float, float] | None, thickness_mm: float,
                   psf_fwhm_mm: float | None = None, nominal_hu: dict[str, float] | None = None,
                   band_half_mm: float = 1.5) -> CTP404Result:
    """CT-number linearity, geometry and slice thickness of a CatPhan CTP404 module.

    Parameters
    ----------
    slices : sequence of ndarray
        The module's slices to average (HU), e.g. ``Localization.module_slices["CTP404"]``.
    spacing_mm : (float, float)
        Pixel spacing (row, column), mm.
    centers_px : sequence of (row, col)
        Phantom centre on each slice.
    roll_deg : float
        Phantom roll (clockwise on the screen), from the localisation.
    module : Module
        The module drawing (``phantom.module("CTP404")``): inserts, holes, ramps.
    ramp_slice : ndarray or None
        The slice for the ramps (``module_slices["CTP404_ramps"]``); None: no slice thickness (warning).
    ramp_center_px : (row, col) or None
        Phantom centre on ``ramp_slice``.
    thickness_mm : float
        Nominal reconstructed slice thickness (recorded; the measurement does not use it).
    psf_fwhm_mm : float, optional
        FWHM of the in-plane PSF (from the MTF) removed in quadrature from the ramp FWHM; None: no correction
        (warning).
    nominal_hu : dict, optional
        Nominal CT numbers per insert name replacing the module's tabulated values (certificate values).
    band_half_mm : float
        Half-width of the band across the wire averaged into the ramp profile.

    Returns
    -------
    CTP404Result

    Notes
    -----
    **Linearity**: disc of 80 % of the insert diameter at each insert centre
    ``c + R(roll) (d cos a, d sin a)``; pixels of all slices are pooled (same disc size on every slice, so the
    mean equals the mean of the per-slice means up to pixel-count differences of a few pixels); SD (n - 1) of the
    pooled pixels; the uncertainty of the mean is the larger of SD / sqrt(n) (independent pixels: a lower bound
    for CT noise) and SD(per-slice means) / sqrt(k) (k >= 2 slices). error = mean - nominal;
    max |error| over the inserts.

    **Geometry**: on the mean of the slices, each hole's centroid with weights sign (v - b) over a disc of the
    hole radius + 1.5 mm, b the mean of the 2 mm annulus around it, re-centred 4 times (sub-pixel; unbiased
    without clipping). Side lengths sqrt((dr sy)^2 + (dc sx)^2) between adjacent holes. Uncertainty: white-noise
    propagation SD_b sqrt(pi R^4 / 4 / (sy sx)) / mass per centroid.

    **Slice thickness** (per ramp, on ``ramp_slice``): cubic-spline samples on a grid along the ramp (every half
    pixel, u over +-(length/2 + 5 mm), >= 45 mm) and across it (every pixel, v over +-3 mm); the wire line is
    located across the ramp (centroid of the background-free sums along u near their maximum, so a small roll
    or centre error does not matter) and the profile is the mean over ``v0 +- band_half_mm`` weighted by those
    sums (clipped at 0): a matched filter across the wire, linear in the image so it keeps the profile's shape
    along u, with about 1.5 times the signal-to-noise ratio of a plain band mean for a wire blurred to 0.4 mm.
    Background b = median of the profile beyond the ramp ends (|u| > length/2 + 1 mm); peak P from a parabola
    fitted over the top (+-max(0.6 mm, FWHM/4) about the maximum); the half-maximum points where the profile
    crosses b + (P - b)/2, walking in from both ends, linearly interpolated. T_raw = FWHM tan 23 deg (exact
    tangent 0.4245; WS 519 rounds it to 0.42), T = sqrt(FWHM^2 - w^2) tan 23 deg with w = ``psf_fwhm_mm`` (the
    PSF blurs the line along u by w in quadrature: exact for a Gaussian SSP and PSF; for a trapezoidal SSP it
    reads 0.01-0.04 mm thin at 2-10 mm, the most at 2 mm, and ``thickness_raw_mm`` is then the closer value).
    A ramp is excluded (warning) when its profile has no clear peak (< 6 x the background noise) or a
    half-maximum point lies within 1 mm of a wire end. The result is the mean over the used ramps; its
    uncertainty SD / sqrt(n) over them (n >= 2).

    References
    ----------
    WS 519-2019, CT number linearity and reconstructed slice thickness; The Phantom Laboratory, CatPhan 500/600
    manual (CTP404 layout, 23 deg wire ramps).
    """
    if len(slices) == 0:
        raise InputError("analyze_ctp404 needs at least one slice of the module; none were given")
    if len(centers_px) != len(slices):
        raise InputError(f"centers_px has {len(centers_px)} entries for {len(slices)} slices; give one (row, col) "
                         f"per slice")
    sp = _spacing(spacing_mm)
    if psf_fwhm_mm is not None and not (psf_fwhm_mm >= 0 and math.isfinite(psf_fwhm_mm)):
        raise InputError(f"psf_fwhm_mm must be >= 0 mm or None, got {psf_fwhm_mm!r}")
    if not (band_half_mm > 0):
        raise InputError(f"band_half_mm must be > 0 mm, got {band_half_mm!r}")
    roll = float(roll_deg)
    warnings: list[str] = []
    k = len(slices)
    cen = [(float(c[0]), float(c[1])) for c in centers_px]

    # ---- linearity --------------------------------------------------------------------------------------------
    mean_hu: dict[str, Quantity] = {}
    sd_hu, n_px, nominal, err, per = {}, {}, {}, {}, {}
    rois: tuple[InsertROI, ...] = ()
    if module.inserts:
        stats, rois, w = insert_hu(slices, sp, cen, roll, module, nominal_hu)
        warnings += w
        for name, st in stats.items():
            mean_hu[name] = Quantity(st["mean"], "HU", st["sem"])
            sd_hu[name], n_px[name], nominal[name] = st["sd"], st["n"], st["nominal"]
            err[name] = st["mean"] - st["nominal"]
            per[name] = st["slice_means"]
        worst = max(err, key=lambda n: abs(err[n]))
        max_err = Quantity(abs(err[worst]), "HU", mean_hu[worst].uncertainty)
    else:
        worst, max_err = "", Quantity(float("nan"), "HU")

    # ---- geometry ------------------------------------------------------------------------------------------------
    lengths: dict[str, Quantity] = {}
    holes: dict[str, tuple[float, float]] = {}
    if module.holes:
        lens, holes, w = hole_lengths(slices, sp, cen, roll, module)
        warnings += w
        lengths = {s: Quantity(d, "mm", u) for s, (d, u) in lens.items()}

    # ---- slice thickness ---------------------------------------------------------------------------------------
    ramps: list[RampProfile] = []
    t_q = t_raw_q = None
    if module.ramps:
        if ramp_slice is None or ramp_center_px is None:
            warnings.append("ct.slice_thickness.mm: not evaluated: no slice lies close enough to the ramp centre "
                            "for its thickness (see the localisation's CTP404_ramps reason)")
        else:
            img = _as_image(ramp_slice, "ramp_slice")
            rc = (float(ramp_center_px[0]), float(ramp_center_px[1]))
            for rp in module.ramps:
                ramps.append(ramp_thickness(img, sp, rc, roll, rp, psf_fwhm_mm=psf_fwhm_mm,
                                            band_half_mm=band_half_mm))
            for r in ramps:
                if not r.used:
                    warnings.append(f"ct.slice_thickness.mm: the {r.name} ramp is excluded: {r.note}")
                elif r.note:
                    warnings.append(f"ct.slice_thickness.mm: {r.name} ramp: {r.note}")
            used = [r for r in ramps if r.used]
            if used:
                raw = np.array([r.thickness_raw_mm for r in used])
                t_raw_q = Quantity(float(raw.mean()), "mm",
                                   float(raw.std(ddof=1) / math.sqrt(raw.size)) if raw.size >= 2 else None)
                if psf_fwhm_mm is None:
                    warnings.append("ct.slice_thickness.mm: no in-plane PSF width was given, so the ramp FWHM is "
                                    "not corrected for the in-plane blur (the thickness is overestimated, most for "
                                    "thin slices)")
                    t_q = t_raw_q
                else:
                    cor = np.array([r.thickness_mm for r in used])
                    t_q = Quantity(float(cor.mean()), "mm",
                                   float(cor.std(ddof=1) / math.sqrt(cor.size)) if cor.size >= 2 else None)
                if len(used) < len(ramps):
                    warnings.append(f"ct.slice_thickness.mm: the mean of {len(used)} of {len(ramps)} ramps")
            else:
                warnings.append("ct.slice_thickness.mm: not evaluated: no ramp gave a usable profile")
    params = {"roi_fraction": _ROI_FRACTION, "pixels": "pooled over the slices", "n_slices": k,
              "roll_deg": roll, "psf_fwhm_mm": psf_fwhm_mm, "nominal_thickness_mm": float(thickness_mm),
              "ramp_factor": RAMP_FACTOR, "ramp_angle_deg": RAMP_ANGLE_DEG, "band_half_mm": band_half_mm,
              "hole_window_mm": _HOLE_WINDOW_MM, "hole_background_mm": _HOLE_BG_MM}
    return CTP404Result(
        mean_hu=mean_hu, sd_hu=sd_hu, n_pixels=n_px, nominal_hu=nominal, error_hu=err, max_abs_error_hu=max_err,
        max_abs_error_insert=worst, slice_mean_hu=per, insert_rois=rois, lengths_mm=lengths,
        hole_centers_px=holes, thickness_mm=t_q, thickness_raw_mm=t_raw_q, ramps=tuple(ramps), n_slices=k,
        roll_deg=roll, display_center_px=cen[k // 2],
        ramp_center_px=None if ramp_center_px is None else (float(ramp_center_px[0]), float(ramp_center_px[1])),
        psf_fwhm_mm=psf_fwhm_mm, nominal_thickness_mm=float(thickness_mm), warnings=tuple(warnings),
        parameters=params)


def ctp404_panels(result: CTP404Result, image: np.ndarray, spacing_mm) -> tuple:
    """Report figures: ``image`` (the ramp slice or a module slice) with the insert ROIs, the measured hole
    centres and the ramp bands, and a plot of the four ramp profiles with their half-maximum points."""
    from phantomqc.core.visuals import Band, CircleOverlay, Curve, ImagePanel, LineOverlay, Plot

    sp = _spacing(spacing_mm)
    ov: list = []
    for r in result.insert_rois:
        m = result.mean_hu.get(r.name)
        ov.append(CircleOverlay(r.row, r.col, r.radius_px, f"{r.name} {m.value:.1f} HU" if m else r.name))
    for n, (r, c) in result.hole_centers_px.items():
        ov.append(CircleOverlay(r, c, 1.0 / sp[1], n, "tab:green"))
    for side, a, b in SIDES:
        if a in result.hole_centers_px and b in result.hole_centers_px and side in result.lengths_mm:
            (ra, ca), (rb, cb) = result.hole_centers_px[a], result.hole_centers_px[b]
            ov.append(LineOverlay((ra, rb), (ca, cb), f"{side} {result.lengths_mm[side].value:.2f} mm", "tab:green"))
    for rp in result.ramps:
        ov.append(LineOverlay(rp.corners_rc[0], rp.corners_rc[1], f"{rp.name} ramp",
                              "tab:cyan" if rp.used else "tab:red"))
    t = result.thickness_mm
    title = "CTP404: linearity" + (f", max |error| {result.max_abs_error_hu.value:.1f} HU"
                                   if math.isfinite(result.max_abs_error_hu.value) else "")
    if t is not None:
        title += f", slice thickness {t.value:.2f} mm"
    out: list = [ImagePanel(title, image, tuple(ov), window=(-300.0, 500.0), spacing_mm=sp)]
    if result.ramps:
        curves = []
        for rp in result.ramps:
            curves.append(Curve(rp.u_mm, rp.profile_hu - (rp.background_hu if math.isfinite(rp.background_hu)
                                                          else 0.0), f"{rp.name}"))
            if rp.used:
                half = rp.level_hu - rp.background_hu
                curves.append(Curve(np.array([rp.left_mm, rp.right_mm]), np.array([half, half]),
                                    f"{rp.name} FWHM {rp.fwhm_mm:.2f} mm -> {rp.thickness_raw_mm:.2f} mm raw"
                                    + (f", {rp.thickness_mm:.2f} mm corrected" if math.isfinite(rp.thickness_mm)
                                       else ""), "points"))
        w = result.psf_fwhm_mm
        notes = (f"T = sqrt(FWHM^2 - w^2) x tan 23 deg, w = "
                 f"{f'{w:.2f} mm' if w is not None else 'not given (no correction)'}",)
        out.append(Plot("CTP404 wire ramp profiles (background removed)", tuple(curves),
                        "position along the ramp (mm)", "CT number above background (HU)",
                        refs=(Band("y", 0.0, "background"),), notes=notes))
    return tuple(out)
