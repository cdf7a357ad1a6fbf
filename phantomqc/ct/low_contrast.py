"""CT low-contrast detectability: contrast, CNR and statistical detection of supra-slice targets.

Used for the CatPhan CTP515 (1 %, 0.5 %, 0.3 % targets of 2 to 15 mm; the WS 519-2019 figure, read on ONE image:
the orchestrator passes the single slice nearest the module offset) and the ACR 464 module 2 (0.6 % rods;
``ws519_groups=()``, CNR per rod, the ACR CNR being the 25 mm rod's).

Definitions (docs/ct_design.md)
-------------------------------
* Target ROI T: the pixels whose centres lie in a disc of diameter 0.7 d at the target centre (phantom centre +
  (angle + roll, distance), per slice).
* Local background B: the pixels with 0.5 d + 2 mm < rho <= 0.5 d + 5 mm from the target centre, except those
  within 2 mm of any other target's edge.
* Contrast ``C = mean(T) - mean(B)`` (HU), ``C% = C / 10`` (1 % = 10 HU); over several slices the means are
  averaged slice by slice.
* ``CNR = |C| / sigma_noise`` (AAPM TG-233 practice: contrast against the local background, noise from a uniform
  region). sigma_noise is the pixel SD of the module's uniform region on the same slice: the disc inside the target
  ring that holds the sigma_C placements (below; 2 mm clear of every target's edge, CTP515 ~21 000 px at 0.49 mm),
  after the smooth trend a + b x + c y + e rho^2 is removed, pixels beyond 4 robust SDs (1.4826 MAD) of the median
  dropped, with n - 4 degrees of freedom; over several slices the RMS ``sqrt(mean_k sigma_k^2)`` (the CNR is that
  of one slice, as a reader sees one image). Why not the annulus SD: the annulus of one target holds N_B ~ 100 to
  1 000 px, its SD has a relative SE 1/sqrt(2 N_B) >= 2.5 %, so a per-target CNR could not be measured to 5 %;
  the region's 1/sqrt(2 N) is < 0.7 % for N >= 10 000. The annulus SD is kept per target (``background_sd_hu``).
* Detection (the idea of Chao et al. 2000: the threshold comes from the measured variability of the detection
  statistic at the object size): ``C_t = 3.29 sigma_C``, sigma_C the noise SD of the statistic C itself, i.e. of
  the target's own pixel pattern (its T pixels weighted 1/N_T, its B pixels weighted -1/N_B, exclusions and
  sub-pixel phase included) translated by whole pixels to many background positions. 3.29 = 2 x 1.645: a target
  whose true contrast is C_t is seen with 95 % power by a decision level of 1.645 sigma_C, which a noise-only
  target passes with 5 % probability (one-sided). A target is detected iff its MEASURED ``s C >= C_t`` (and
  ``s C > 0``), s the sign of its nominal contrast, i.e. the measurement estimates whether the true contrast
  reaches C_t; ``margin = s C / C_t``. A noise-only target passes ``C >= 3.29 sigma_C`` with probability
  1 - Phi(3.29) = 0.05 % (a little more through the estimation error of sigma_C).
  sigma_C is the SD of the SAME statistic (not of full d-disc means: C subtracts a noisy background from a 0.7 d
  disc, its SD is ~1.7 times that of a d-disc mean for white noise).
* Background placements: the pattern's whole footprint (radius 0.5 d + 5 mm) stays 2 mm clear of every target's
  edge on the inside of the target ring: placed centres within ``rho_max = min_t(dist_t - d_t / 2) - 2 -
  (0.5 d + 5)`` mm of the phantom axis (CTP515: 35.5 - d/2 mm). Placements lie on a lattice of step ~0.35 d
  (>= 1 px). Each residue class of the lattice modulo the footprint diameter is a grid of NON-OVERLAPPING
  placements (independent samples for white noise); sigma_C^2 is the variance pooled within those grids,
  ``sum_g sum_(k in g) (C_k - mean_g)^2 / sum_g (n_g - 1)``: each grid alone is an unbiased estimate, pooling
  the shifted grids uses the whole region and lowers its scatter. Before that a smooth trend a + b x + c y +
  e rho^2 (cupping, a gradient) fitted to the region's pixels is removed from the image, and placements beyond
  4 robust SDs of the median are dropped (a structure that is not in the drawing).
  Where fewer than ``_MIN_PER_GRID`` non-overlapping placements fit per grid (CTP515 15 mm, ACR 25 mm rod),
  sigma_C is extrapolated by a power law ``a d^-b`` fitted (log-log) to the measured targets, and a warning says
  so.
* WS 519 figure: for each contrast group c in ``ws519_groups`` (1, 0.5, 0.3 %) the smallest diameter d_min(c)
  such that it **and every larger target of the group** is detected (a false positive among the small targets
  cannot then skip over an undetected larger one); ``detectability_mm = mean_c d_min(c) x c``. When a group has
  no detected target (its largest is not detected) the figure is not evaluable: ``None`` with the reason.

Everything is a difference of means or an SD, so adding a constant to the image changes nothing (no threshold
depends on a global HU window); sums are accumulated relative to one pixel of each slice, so the results are
offset-independent to rounding.

References
----------
WS 519-2019 (low-contrast resolution). C. Chao, P. L. Chen, et al., "Statistical method of low-contrast
detectability", Med. Phys. 27 (2000) (threshold contrast 3.29 sigma). AAPM Report 233 (2019) (CNR: contrast
against the local background, noise from a uniform region).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from phantomqc._shared.errors import InputError
from phantomqc.core.types import Quantity
from phantomqc.core.visuals import Band, CircleOverlay, Curve, ImagePanel, Plot
from phantomqc.ct import _kernels
from phantomqc.ct.geometry import LowContrastTarget, point_mm

__all__ = ["LowContrastTargetResult", "LowContrastResult", "analyze_low_contrast", "low_contrast_panels",
           "Z_DETECTION"]

#: Chao et al. (2000): the threshold contrast is 3.29 = 2 x 1.645 noise SDs of the detection statistic.
Z_DETECTION = 3.29
_TARGET_FRACTION = 0.7
_BG_IN_MM, _BG_OUT_MM, _EXCLUDE_MM = 2.0, 5.0, 2.0
#: fewer non-overlapping footprints than this fit in the region (by area, pi rho_max^2 / (2 r_out)^2): sigma_C is
#: extrapolated. CTP515 15 mm: 3.9 fit, measured sigma_C unbiased with 10 % scatter (white noise, 40 seeds);
#: ACR 25 mm rod: 0.8 fit, extrapolated
_MIN_PER_GRID = 3.0
#: lattice step of the background placements: 0.35 d (the T radius), at least _MIN_STEP_MM and one pixel (a denser
#: lattice lowers the scatter of sigma_C little: 2.5 % -> 1.7 % for 2 mm targets at a 1.5 mm step, for twice the time)
_STEP_FRACTION = 0.35
_MIN_STEP_MM = 2.0
_ROBUST_Z = 4.0
#: the noise region's pixel rejection (beyond _ROBUST_Z robust SDs) is refused when it would drop more than this
#: fraction: Gaussian noise loses 6e-5 there, a small structure (a CTP515 subslice rod, a speck) < 0.5 %; more means a
#: spiky, quantized distribution (noise < 0.5 HU on integer pixels: MAD ~ 0) that the rejection would gut
_MAX_REJECT_FRACTION = 0.005
#: fewer trend-removed region pixels than this per slice: sigma_noise scatters by > 1/sqrt(2 x 5000) = 1 %: warned
_MIN_NOISE_PX = 5000


@dataclass(frozen=True)
class LowContrastTargetResult:
    """One target. Means and contrasts in HU (averaged over the slices); ``background_sd_hu`` the SD of its
    local annulus pixels pooled over the slices (for information: the CNR divides by the module's
    ``noise_sd_hu``); ``cnr = |contrast_hu| / noise_sd_hu``; ``sigma_c_hu`` the noise SD of C,
    ``threshold_hu`` = C_t = 3.29 sigma_C; ``center_px`` in the middle slice; radii in mm; ``n_placements``
    background placements used for sigma_C, ``n_independent`` the number of non-overlapping footprints that fit in
    their region (by area), ``sigma_c_method`` "measured" or how it was extrapolated."""

    label: str
    group: str
    contrast_percent_nominal: float
    diameter_mm: float
    center_px: tuple[float, float]
    roi_radius_mm: float
    background_radii_mm: tuple[float, float]
    mean_target_hu: float
    mean_background_hu: float
    contrast_hu: float
    contrast_percent: float
    background_sd_hu: float
    cnr: float
    threshold_hu: float
    detected: bool
    margin: float
    n_target_px: int
    n_background_px: int
    sigma_c_hu: float
    n_placements: int
    n_independent: float
    sigma_c_method: str


@dataclass(frozen=True)
class LowContrastResult:
    """All targets; the WS 519 figure (None with ``detectability_reason`` when not evaluable or not asked);
    ``smallest_detected_mm`` per contrast group (None: none detected); ``axis_px`` the phantom axis (row, col) in
    the middle slice and ``region_radius_mm`` the radius around it of the uniform region that holds every
    background placement; ``noise_sd_hu`` the pixel SD of that region (trend removed, outliers rejected, RMS over
    the slices; uncertainty sd / sqrt(2 n)), the CNR's denominator, from ``noise_n_px`` pixels (all slices)."""

    targets: tuple[LowContrastTargetResult, ...]
    detectability_mm: Quantity | None
    detectability_reason: str | None
    smallest_detected_mm: dict
    axis_px: tuple[float, float]
    region_radius_mm: float
    n_slices: int
    noise_sd_hu: Quantity
    noise_n_px: int
    parameters: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def _detrended(img, shift, axis_rc, sy, sx, radius_mm):
    """``img - shift`` minus the least-squares trend a + b x + c y + e rho^2 fitted to the pixels within
    ``radius_mm`` of the axis, on a crop that holds that disc; the mask of that disc in the crop, the number of
    trend parameters fitted (4, or 0 when the disc holds fewer than 10 pixels) and the crop origin (row, col)."""
    ar, ac = axis_rc
    r0 = max(0, int(math.floor(ar - radius_mm / sy)) - 1)
    r1 = min(img.shape[0], int(math.ceil(ar + radius_mm / sy)) + 2)
    c0 = max(0, int(math.floor(ac - radius_mm / sx)) - 1)
    c1 = min(img.shape[1], int(math.ceil(ac + radius_mm / sx)) + 2)
    crop = np.asarray(img[r0:r1, c0:c1], dtype=np.float64) - shift
    y = ((np.arange(r0, r1) - ar) * sy)[:, None]
    x = ((np.arange(c0, c1) - ac) * sx)[None, :]
    rho2 = x * x + y * y
    inside = rho2 <= radius_mm * radius_mm
    n_in = int(inside.sum())
    n_par = 0
    if n_in >= 10:
        s = max(radius_mm, 1e-9)  # scaled coordinates keep the normal equations well conditioned
        xs, ys = np.broadcast_to(x / s, crop.shape)[inside], np.broadcast_to(y / s, crop.shape)[inside]
        A = np.empty((4, n_in))
        A[0], A[1], A[2], A[3] = 1.0, xs, ys, xs * xs + ys * ys
        coef = np.linalg.solve(A @ A.T, A @ crop[inside])
        crop = crop - (coef[0] + coef[1] * (x / s) + coef[2] * (y / s) + coef[3] * (rho2 / (s * s)))
        n_par = 4
    return crop, inside, n_par, (r0, c0)


def _prefix(crop):
    """Row-wise prefix sums of ``crop`` (one leading zero column)."""
    psum = np.zeros((crop.shape[0], crop.shape[1] + 1))
    np.cumsum(crop, axis=1, out=psum[:, 1:])
    return psum


def _region_variance(crop, inside, n_par):
    """Pixel variance of the trend-removed region (``inside``) after dropping pixels beyond ``_ROBUST_Z`` robust
    SDs (1.4826 MAD) of the median, degrees of freedom n - n_par (n - 1 without a trend). The rejection is not
    applied when it would drop more than ``_MAX_REJECT_FRACTION`` of the pixels (then the MAD does not describe
    the distribution: low noise on coarsely quantized pixels). Returns (var, n used, rejection applied)."""
    v = crop[inside]
    if v.size < 2:
        return float("nan"), int(v.size), True
    # the cut's median and MAD from a regular subsample of ~4000 pixels (the cut position then scatters by ~2 %,
    # which moves the SD of Gaussian noise by < 1e-5; the full-size medians would double the module's time)
    sub = v[::max(1, v.size // 4096)]
    med = float(np.median(sub))
    mad = 1.4826 * float(np.median(np.abs(sub - med)))
    keep = np.abs(v - med) <= _ROBUST_Z * mad
    applied = mad > 0 and v.size - int(np.count_nonzero(keep)) <= _MAX_REJECT_FRACTION * v.size
    if applied:
        v = v[keep]
    n = int(v.size)
    dof = n - max(n_par, 1)
    if dof < 1:
        return float("nan"), n, applied
    d = v - v.mean()
    return float(np.dot(d, d)) / dof, n, applied


def analyze_low_contrast(slices, spacing_mm, centers_px, roll_deg: float, targets: Sequence[LowContrastTarget], *,
                         ws519_groups: tuple[float, ...] = (1.0, 0.5, 0.3)) -> LowContrastResult:
    """Contrast, CNR and statistical detection of low-contrast targets; the WS 519 detectability figure.

    Parameters
    ----------
    slices : sequence of (y, x) arrays
        Slices of the low-contrast module (HU, any real dtype; supra-slice targets are in all of them). WS 519
        reads one image: pass the single slice nearest the module offset.
    spacing_mm : (row, col) pixel spacing in mm.
    centers_px : one (row, col) phantom-axis position per slice.
    roll_deg : phantom roll (degrees, clockwise on the screen), added to every target angle.
    targets : the module's ``LowContrastTarget`` s (``geometry``).
    ws519_groups : contrast values (percent) whose groups form the WS 519 figure; ``()`` for none (ACR).

    Returns
    -------
    LowContrastResult

    Notes
    -----
    ``C = mean_T - mean_B``, ``CNR = |C| / sigma_noise`` (sigma_noise the pixel SD of the trend-removed uniform
    region inside the target ring), ``C_t = 3.29 sigma_C`` with sigma_C the SD of the same
    statistic (the target's T - B pixel pattern) at non-overlapping background placements, detected iff
    ``s C >= C_t``; ``detectability = mean_c (d_min(c) c)``, d_min(c) the smallest diameter detected together
    with every larger one of its group. See the module docstring for the ROIs and the choices.

    References
    ----------
    WS 519-2019; Chao et al., Med. Phys. 27 (2000); AAPM Report 233 (2019).

    Example
    -------
    >>> from phantomqc.ct.geometry import LowContrastTarget
    >>> yy, xx = np.mgrid[0:256, 0:256] * 0.5
    >>> img = np.where((yy - 64) ** 2 + (xx - 89) ** 2 <= 7.5 ** 2, 50.0, 40.0)
    >>> t = LowContrastTarget("1%", 1.0, 15.0, 0.0, 25.0)
    >>> r = analyze_low_contrast([img], (0.5, 0.5), [(128.0, 128.0)], 0.0, [t], ws519_groups=())
    >>> round(r.targets[0].contrast_hu, 6)
    10.0
    """
    if isinstance(slices, np.ndarray) and slices.ndim == 2:
        slices = [slices]
    imgs = [np.ascontiguousarray(s) for s in slices]
    cents = [(float(c[0]), float(c[1])) for c in centers_px]
    if not imgs or len(cents) != len(imgs):
        raise InputError(f"analyze_low_contrast: {len(imgs)} slices and {len(cents)} centres; give one (row, col) "
                         "centre per slice, at least one slice")
    for s in imgs:
        if s.ndim != 2 or s.dtype.kind not in "fiu" or s.shape != imgs[0].shape:
            raise InputError(f"analyze_low_contrast: slices must be real 2-D arrays of one shape, got {s.dtype} "
                             f"{s.shape}")
    targets = list(targets)
    if not targets:
        raise InputError("analyze_low_contrast: no targets given (geometry Module.targets)")
    sy, sx = (float(v) for v in spacing_mm)
    K = len(imgs)
    i_mid = K // 2
    warnings: list[str] = []
    nt = len(targets)
    xy = np.array([point_mm(t.angle_deg, t.distance_mm, roll_deg) for t in targets])  # (nt, 2) mm from the axis
    diam = np.array([t.diameter_mm for t in targets])
    r_roi = _TARGET_FRACTION * diam / 2.0
    r_in = diam / 2.0 + _BG_IN_MM
    r_out = diam / 2.0 + _BG_OUT_MM
    # other targets whose exclusion zone (edge + 2 mm) reaches each annulus
    dist = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    ex_rad = diam / 2.0 + _EXCLUDE_MM
    near = [[j for j in range(nt) if j != i and dist[i, j] < r_out[i] + ex_rad[j]] for i in range(nt)]
    ex_ptr = np.concatenate([[0], np.cumsum([len(n) for n in near])]).astype(np.int64)
    ex_idx = np.array([j for n in near for j in n], dtype=np.int64)

    # ---- per slice: target discs, background annuli ---------------------------------------------------------------
    t_stats = np.zeros((K, nt, 3))
    b_stats = np.zeros((K, nt, 3))
    shifts = np.zeros(K)
    t_rows = np.zeros((K, nt))
    t_cols = np.zeros((K, nt))
    for k, (img, (cr, cc)) in enumerate(zip(imgs, cents)):
        shift = float(img[min(max(int(round(cr)), 0), img.shape[0] - 1), min(max(int(round(cc)), 0), img.shape[1] - 1)])
        shifts[k] = shift
        rows = cr + xy[:, 1] / sy
        cols = cc + xy[:, 0] / sx
        t_rows[k], t_cols[k] = rows, cols
        _kernels._discs_stats(img, rows, cols, r_roi / sy, r_roi / sx, np.full(nt, shift), t_stats[k])
        _kernels._annuli_stats(img, rows, cols, sy, sx, r_in, r_out, ex_ptr, ex_idx, ex_rad, shift, b_stats[k])
    if np.any(t_stats[:, :, 2] < 3) or np.any(b_stats[:, :, 2] < 3):
        few = np.any(t_stats[:, :, 2] < 3, axis=0) | np.any(b_stats[:, :, 2] < 3, axis=0)
        bad = sorted({targets[i].label for i in range(nt) if few[i]})
        warnings.append(f"ct.low_contrast: targets {', '.join(bad)} fall (partly) outside the image; their values "
                        "are unreliable")

    # ---- sigma_C: each target's own T - B pattern at background placements inside the target ring -------------------
    region = float(np.min(np.hypot(xy[:, 0], xy[:, 1]) - diam / 2.0)) - _EXCLUDE_MM
    # slices with one centre (no tilt): the statistic is linear, so its slice average is the statistic of the
    # slice-averaged image (relative to each slice's shift, so the offset still cancels exactly)
    c_mid = cents[i_mid]
    same_centre = all(abs(c[0] - c_mid[0]) <= 0.05 and abs(c[1] - c_mid[1]) <= 0.05 for c in cents)
    # non-overlapping footprints (radius r_out) that fit in the placement region, by area
    per_grid = np.pi * np.maximum(region - r_out, 0.0) ** 2 / (2.0 * r_out) ** 2
    # each slice's region, the trend removed: sigma_noise (the CNR's denominator) and, for one slice or a tilted
    # axis, the sigma_C placements
    det = [_detrended(img, sh, c, sy, sx, region) for img, sh, c in zip(imgs, shifts, cents)]
    fields = []
    if not np.any(per_grid >= _MIN_PER_GRID):
        pass  # nothing to measure: every sigma_C is extrapolated or not evaluated below
    elif same_centre and K > 1:
        avg = np.zeros(imgs[0].shape)
        for img, sh in zip(imgs, shifts):
            avg += img
            avg -= sh
        avg /= K
        crop, _, _, org = _detrended(avg, 0.0, c_mid, sy, sx, region)
        fields = [((_prefix(crop), org), i_mid)]
    else:
        fields = [((_prefix(crop), org), k) for k, (crop, _, _, org) in enumerate(det)]
    # ---- sigma_noise: pixel SD of the trend-removed region, pooled over the slices (RMS) ----------------------------
    noise_var, noise_n, refused = [], [], 0
    for crop, inside, n_par, _ in det:
        v, n, applied = _region_variance(crop, inside, n_par)
        noise_var.append(v)
        noise_n.append(n)
        refused += not applied
    noise_sd = math.sqrt(float(np.mean(noise_var))) if all(np.isfinite(noise_var)) else float("nan")
    n_noise = int(sum(noise_n))
    if not np.isfinite(noise_sd):
        warnings.append(f"ct.low_contrast: the uniform region inside the target ring (radius {region:.1f} mm) holds "
                        f"too few pixels ({min(noise_n)}) for the noise SD; CNR not evaluated")
    elif min(noise_n) < _MIN_NOISE_PX:
        warnings.append(f"ct.low_contrast: the noise SD of the CNR comes from only {min(noise_n)} pixels per slice "
                        f"(< {_MIN_NOISE_PX}); it scatters by {100 / math.sqrt(2 * min(noise_n)):.1f} % per slice")
    if refused:
        warnings.append("ct.low_contrast: the noise region's pixel distribution is too spiky for the robust "
                        f"rejection (it would drop > {100 * _MAX_REJECT_FRACTION:g} % of the pixels; quantized "
                        f"low noise?) on {refused} slice(s): no pixel rejected there")
    sigma_c = np.full(nt, np.nan)
    n_pl = np.zeros(nt, dtype=np.int64)
    how = [""] * nt
    stat = np.zeros(3)
    counts = np.zeros(3, dtype=np.int64)
    for i in range(nt):
        d = diam[i]
        rho_max = region - r_out[i]
        if per_grid[i] < _MIN_PER_GRID:
            continue  # extrapolated below
        step = max(_STEP_FRACTION * d, _MIN_STEP_MM)
        s_r, s_c = max(1, int(round(step / sy))), max(1, int(round(step / sx)))
        # lattice residues modulo the footprint diameter: each class is a grid of non-overlapping footprints
        k_r = int(math.floor(2.0 * r_out[i] / (s_r * sy))) + 1
        k_c = int(math.floor(2.0 * r_out[i] / (s_c * sx))) + 1
        n_max = (int(2 * rho_max / (s_r * sy)) + 3) * (int(2 * rho_max / (s_c * sx)) + 3)
        vals = np.zeros(n_max)
        cls = np.zeros(n_max, dtype=np.int64)
        acc = np.zeros(n_max)
        ex = np.array(near[i], dtype=np.int64)
        hr, hc = int(math.ceil(r_out[i] / sy)) + 2, int(math.ceil(r_out[i] / sx)) + 2
        size = (2 * hr + 1) * (3 + ex.size)
        run_r, run_c0, run_c1 = (np.zeros(size, dtype=np.int64) for _ in range(3))
        run_w = np.zeros(size)
        m = 0
        for (psum, (o_r, o_c)), k in fields:
            cr, cc = t_rows[k, i], t_cols[k, i]
            ar, ac = int(math.floor(cr + 0.5)), int(math.floor(cc + 0.5))
            _kernels._lc_pattern(cr, cc, ar, ac, sy, sx, r_roi[i] / sy, r_roi[i] / sx, r_in[i], r_out[i],
                                 t_rows[k, ex], t_cols[k, ex], ex_rad[ex], hr, hc, run_r, run_c0, run_c1, run_w,
                                 counts)
            # the drawing's offset of the target from the axis: the same lattice in every slice
            m = _kernels._lc_placements(psum, ar - o_r, ac - o_c, run_r, run_c0, run_c1, run_w, int(counts[0]),
                                        xy[i, 1], xy[i, 0], sy, sx, s_r, s_c, rho_max, k_r, k_c, vals, cls)
            acc[:m] += vals[:m]
        acc[:m] /= len(fields)
        _kernels._lc_pooled_sd(acc, cls, m, k_r * k_c, _ROBUST_Z, stat)
        n_pl[i] = int(stat[1])
        if np.isfinite(stat[0]):
            sigma_c[i], how[i] = float(stat[0]), "measured"
    measured = [i for i in range(nt) if how[i] == "measured"]
    pos = [i for i in measured if sigma_c[i] > 0]
    d_pos = sorted({float(diam[j]) for j in pos})
    for i in range(nt):
        if how[i] == "measured":
            continue
        why = (f"only {per_grid[i]:.1f} non-overlapping background footprints fit inside the target ring "
               f"(< {_MIN_PER_GRID:g})" if per_grid[i] < _MIN_PER_GRID else "its background placements leave the image")
        if len(d_pos) >= 2:
            # sigma_C ~ a d^-b fitted (log-log) to the measured targets; the fit follows the actual noise texture
            b, a = np.polyfit(np.log(diam[pos]), np.log(sigma_c[pos]), 1)
            sigma_c[i] = math.exp(a + b * math.log(diam[i]))
            how[i] = (f"extrapolated (sigma_C ~ d^{b:.2f} from the measured "
                      f"{', '.join(f'{v:g}' for v in d_pos)} mm targets)")
            warnings.append(f"ct.low_contrast: {targets[i].label}: {why}; sigma_C is {how[i]}")
        elif measured and not pos:
            sigma_c[i], how[i] = 0.0, "extrapolated (the measured background has no noise)"
        else:
            how[i] = "not evaluated"
            warnings.append(f"ct.low_contrast: {targets[i].label}: {why}, and too few targets are measured to "
                            "extrapolate sigma_C from; C_t not evaluated")

    # ---- per target --------------------------------------------------------------------------------------------------
    nT = np.maximum(t_stats[:, :, 2], 1.0)
    nB = np.maximum(b_stats[:, :, 2], 1.0)
    mt = t_stats[:, :, 0] / nT  # (K, nt), relative to each slice's shift
    mb = b_stats[:, :, 0] / nB
    var_b = np.maximum(b_stats[:, :, 1] - b_stats[:, :, 0] ** 2 / nB, 0.0) / np.maximum(nB - 1.0, 1.0)
    C_all = np.mean(mt - mb, axis=0)  # exact difference of the sums: the shifts cancel
    sd_all = np.sqrt(np.mean(var_b, axis=0))
    mean_t_all = np.mean(mt + shifts[:, None], axis=0)
    mean_b_all = np.mean(mb + shifts[:, None], axis=0)
    results = []
    for i, t in enumerate(targets):
        C, sd_b = float(C_all[i]), float(sd_all[i])
        if not np.isfinite(noise_sd):
            cnr = float("nan")
        else:
            cnr = abs(C) / noise_sd if noise_sd > 0 else (float("inf") if C != 0 else float("nan"))
        Ct = Z_DETECTION * float(sigma_c[i])
        sgn = 1.0 if t.contrast_percent >= 0 else -1.0
        detected = bool(np.isfinite(Ct) and sgn * C > 0 and sgn * C >= Ct)
        margin = sgn * C / Ct if Ct > 0 else (float("inf") if sgn * C > 0 else float("nan"))
        results.append(LowContrastTargetResult(
            t.label, t.group, float(t.contrast_percent), float(t.diameter_mm),
            (float(t_rows[i_mid, i]), float(t_cols[i_mid, i])), float(r_roi[i]), (float(r_in[i]), float(r_out[i])),
            float(mean_t_all[i]), float(mean_b_all[i]), C, C / 10.0, sd_b, cnr, Ct, detected, float(margin),
            int(t_stats[i_mid, i, 2]), int(b_stats[i_mid, i, 2]), float(sigma_c[i]), int(n_pl[i]),
            float(per_grid[i]), how[i]))

    # ---- WS 519 figure ---------------------------------------------------------------------------------------------
    smallest: dict = {}
    reasons = []
    present = []
    for c in ws519_groups:
        members = [r for r in results if abs(r.contrast_percent_nominal - c) < 1e-9]
        if not members:
            warnings.append(f"ct.low_contrast: no {c:g} % targets in this module; the WS 519 figure leaves that "
                            "group out")
            continue
        present.append(c)
        members.sort(key=lambda r: -r.diameter_mm)
        d_min = None
        for r in members:
            if not r.detected:
                break
            d_min = r.diameter_mm
        smallest[c] = d_min
        if d_min is None:
            big = members[0]
            reasons.append(f"the {c:g} % group has no detected target (its largest, {big.diameter_mm:g} mm, has "
                           f"C = {big.contrast_hu:.2f} HU against C_t = {big.threshold_hu:.2f} HU)")
    if not ws519_groups:
        det, reason = None, "WS 519 figure not requested (ws519_groups is empty)"
    elif not present:
        det, reason = None, "none of the WS 519 contrast groups is among the targets"
    elif reasons:
        det, reason = None, "not evaluable: " + "; ".join(reasons)
    else:
        det = Quantity(float(np.mean([smallest[c] * c for c in present])), "mm")
        reason = None
    params = {"spacing_mm": (sy, sx), "roll_deg": float(roll_deg), "n_slices": K, "target_fraction": _TARGET_FRACTION,
              "background_mm": (_BG_IN_MM, _BG_OUT_MM), "exclude_mm": _EXCLUDE_MM, "z": Z_DETECTION,
              "ws519_groups": tuple(float(c) for c in ws519_groups), "d_min_rule": "contiguous from the largest",
              "sigma_c": "pooled within-grid SD of the target's own T - B pattern at non-overlapping background "
                         "placements (trend a + bx + cy + e rho^2 removed)",
              "placement_step_fraction": _STEP_FRACTION, "min_step_mm": _MIN_STEP_MM,
              "min_independent_placements": _MIN_PER_GRID, "robust_z": _ROBUST_Z,
              "cnr": "|C| / noise_sd_hu, noise_sd_hu the pixel SD of the uniform region inside the target ring "
                     "(trend a + bx + cy + e rho^2 removed, pixels beyond robust_z robust SDs dropped, dof n - 4, "
                     "RMS over the slices)",
              "noise_region_radius_mm": region, "noise_n_px_per_slice": tuple(noise_n),
              "noise_max_reject_fraction": _MAX_REJECT_FRACTION}
    noise_q = Quantity(noise_sd, "HU", noise_sd / math.sqrt(2.0 * n_noise)
                       if np.isfinite(noise_sd) and n_noise > 0 else None)
    return LowContrastResult(tuple(results), det, reason, smallest, (float(c_mid[0]), float(c_mid[1])), region, K,
                             noise_q, n_noise, params, tuple(warnings))


def low_contrast_panels(result: LowContrastResult, image, spacing_mm) -> tuple:
    """Figure specifications: the module with the target ROIs (green detected, red not) and their background
    annuli, CNR against diameter per group, and contrast against the threshold C_t per target."""
    p = math.sqrt(float(spacing_mm[0]) * float(spacing_mm[1]))
    ov = []
    largest = {}
    for t in result.targets:
        largest[t.group] = max(largest.get(t.group, 0.0), t.diameter_mm)
    for t in result.targets:
        col = "tab:green" if t.detected else "tab:red"
        lab = t.group if t.diameter_mm == largest[t.group] else ""  # one label per group keeps the figure legible
        ov.append(CircleOverlay(t.center_px[0], t.center_px[1], t.roi_radius_mm / p, label=lab, color=col))
        ov.append(CircleOverlay(t.center_px[0], t.center_px[1], t.background_radii_mm[1] / p, color="tab:blue"))
    if result.region_radius_mm > 0 and result.targets:
        ov.append(CircleOverlay(result.axis_px[0], result.axis_px[1], result.region_radius_mm / p,
                                label="sigma_C / noise region", color="tab:cyan"))
    notes = []
    if np.isfinite(result.noise_sd_hu.value):
        notes.append(f"CNR = |C| / {result.noise_sd_hu.value:.3g} HU (region noise SD, {result.noise_n_px} px)")
    if result.detectability_mm is not None:
        notes.append(f"WS 519 detectability {result.detectability_mm.value:.3g} mm")
    elif result.detectability_reason:
        notes.append(result.detectability_reason)
    # a narrow window about the background, or 1 % targets would be invisible in a -1000..+1000 HU window
    window = None
    if result.targets:
        bg = float(np.median([t.mean_background_hu for t in result.targets]))
        half = max(4.0 * float(result.noise_sd_hu.value) if np.isfinite(result.noise_sd_hu.value) else 0.0, 15.0)
        window = (bg - half, bg + half)
    panel = ImagePanel("Low contrast: targets (green detected, red not)", image, tuple(ov), window=window,
                       spacing_mm=tuple(spacing_mm))
    groups = sorted({t.group for t in result.targets})
    cnr_curves, c_curves = [], []
    for g in groups:
        ts = sorted((t for t in result.targets if t.group == g), key=lambda t: t.diameter_mm)
        d = np.array([t.diameter_mm for t in ts])
        cnr_curves.append(Curve(d, np.array([t.cnr for t in ts]), label=g, style="points"))
        c_curves.append(Curve(d, np.array([t.contrast_hu for t in ts]), label=f"C {g}", style="points"))
        c_curves.append(Curve(d, np.array([t.threshold_hu for t in ts]), label=f"C_t {g}"))
    cnr_plot = Plot("Low contrast: CNR", tuple(cnr_curves), "diameter (mm)", "CNR", notes=tuple(notes))
    c_plot = Plot("Low contrast: contrast and threshold", tuple(c_curves), "diameter (mm)", "HU",
                  refs=(Band("y", 0.0, ""),), notes=("detected iff C >= C_t = 3.29 sigma_C (SD of C itself)",))
    return panel, cnr_plot, c_plot
