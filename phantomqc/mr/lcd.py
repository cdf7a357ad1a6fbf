"""ACR low-contrast object detectability (LCD): complete spokes on slices 8-11 by a per-disk statistical test.

Method
------
1. **Template fit.** The 30 disks (10 spokes x 3 disks, diameters 7.0 -> 1.5 mm, disk centres 12.5, 25.0 and
   38.0 mm from the LCD centre, spokes 36 deg apart, sizes decreasing clockwise: ``phantomqc.mr.geometry``) form a
   rigid template. Each disk contributes its mean minus the mean of a thin annulus about it (zero-sum weights, so
   shading and any constant cancel), weighted by its area (d / 7 mm)^2: the large, always visible disks steer
   the fit, the small ones (whose detection is decided later) hardly move it. The spoke-1 angle is searched over
   the whole circle in 3 deg steps for both handednesses (a mirrored image reverses the size order), then
   angle and centre are refined together by a pattern search on 3 x 3 x 3 grids whose steps halve from
   1.5 deg / 1.5 mm to 0.05 deg / 0.05 mm. The centre search starts from a rotation-invariant score (a blob
   filter summed along the three disk circles) within 12 mm of ``center_px``: on the real ACR images the spoke
   pattern is centred 5 to 8 mm from the phantom axis. Angles follow ``phantomqc.mr.geometry``: clockwise on
   the screen from 3 o'clock.
2. **Per-disk statistic.** The LCD region (42 mm about the fitted centre; the LCD disc's edge is at ~44.5 mm)
   is detrended by a quadratic surface fitted away from the disks (shading). For each disk, the matched-disk
   contrast ``C = sum_p f_p v_p / sum_p f_p - mean_B(v)``, f_p the fraction of pixel p inside the disk (the
   non-prewhitening matched filter of a flat disk), B the background pixels **at the same distance from the LCD
   centre** (the radial band r_k +- max(d/2, 1.5 mm)), 1 to 13 mm from the disk's edge, more than 1 mm from every
   disk. Measuring the background at the same radius cancels any radial structure exactly, notably the Gibbs
   ringing of the sheet's circular edge, which on the real images lowered the outer (38 mm) disks' contrast by
   ~20 % against a plain annulus. C is a linear statistic ``w . v`` of the image, so its noise variance is
   ``var(C) = sum_l K(l) sum_p w_p w_(p+l)`` with K the noise autocovariance (Barrett & Myers 2004, ch. 13-14:
   the variance of a linear observer), over all lags. K is estimated on the same slice from the region's
   pixels away from the disks, after the trend and the radial profile (0.5 mm rings) are removed, as the biased
   (positive semi-definite) estimator ``c(l) = sum_p r_p r_(p+l) / n``, through the zero-padded FFT. Correlated
   noise (filtered or interpolated reconstructions) then widens var(C) as it should, where a test on pixels
   taken as independent would be over-confident; and a truncated lag window is avoided (with low-frequency
   background structure it made var(C) too large, by up to 2x on the Philips slice 8).
   **Scale check.** The same statistic (a 2 mm disk against its same-radius band) is evaluated at ~100
   disk-free placements of the slice (midway between the spokes on the disk circles, and on the circles midway
   between them); the RMS of its model z there, kappa, scales sigma_C (the measured-variability idea of Chao et
   al. 2000's statistical method). On white or correlated synthetic noise kappa ~ 1; on the real slices 0.55-1.1:
   the Philips slices 8-9 hold background structure the stationary model overrates (kappa 0.55-0.7).
3. **Decision.** ``z = C / sqrt(var(C))`` and the one-sided p-value ``1 - Phi(z)`` (the disks are brighter than
   the sheet around them). The 30 tests of a slice are corrected for multiplicity by the Benjamini-Hochberg
   procedure at false-discovery rate ``alpha`` (default 0.0125 = 0.05 / 4 slices), as proposed by Golestani &
   Gee (2025), whose test is a GLM on radial profiles; ours is a 2-D z-test of each disk against its own local
   background with the noise correlation accounted for (same idea, independent design).
4. **Count (ACR rule).** A spoke is complete when its 3 disks are detected; complete spokes are counted from
   spoke 1 (largest) and the count stops at the first incomplete spoke.

Measurement ids: ``mr.lcd.spokes`` (label ``slice8`` ... ``slice11``; :func:`acr_lcd_total` gives label
``total``).

References
----------
ACR, *Large and Medium Phantom Test Guidance for the ACR MRI Accreditation Program* (2022), section 7.
A. M. Golestani, J. M. Gee, "A statistical approach to automated analysis of the low-contrast object detectability
test for the large ACR MRI phantom", J. Appl. Clin. Med. Phys. 26 (2025) e70173, doi:10.1002/acm2.70173.
C. Chao et al., "Statistical method of low-contrast detectability", Med. Phys. 27 (2000) (measured variability).
Y. Benjamini, Y. Hochberg, "Controlling the false discovery rate", J. R. Stat. Soc. B 57 (1995) 289-300.
H. H. Barrett, K. J. Myers, *Foundations of Image Science*, Wiley (2004) (variance of a linear test statistic).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import fft, ndimage

from phantomqc._shared.errors import InputError
from phantomqc.core.types import Quantity
from phantomqc.core.visuals import CircleOverlay, ImagePanel
from phantomqc.mr import _kernels
from phantomqc.mr.geometry import ACR_LARGE

__all__ = ["DEFAULT_ALPHA", "LcdDisk", "LcdResult", "acr_lcd", "acr_lcd_total", "lcd_panels"]

#: Golestani & Gee (2025): FDR 0.05 over the study, 0.0125 per slice (0.05 / 4 slices)
DEFAULT_ALPHA = 0.0125
# geometry (to move into geometry.py): the LCD region inside which the sheet's background is uniform. On the real
# images (Siemens, Philips, GE) the LCD disc's edge (half maximum) is at 44.5 mm from the spoke pattern's centre,
# with an overshoot at 43-43.5 mm; the outermost 7 mm disk reaches 41.5 mm. 42 mm keeps 2.5 mm from the edge.
_REGION_RADIUS_MM = 42.0
#: the spoke pattern turns by +9 deg from each LCD slice to the next (8 -> 11), measured on all five real ACR series
#: here (spoke 1 at about -90, -81, -72, -63 deg): used by :func:`acr_lcd_series` (geometry.ACR_LARGE)
SHEET_STEP_DEG = ACR_LARGE.lcd_sheet_step_deg
# background of a disk: the pixels at the same distance from the LCD centre as the disk (radial band
# r_k +- max(d/2, 1.5 mm)), 1 mm to 13 mm from the disk's edge along that band, more than 1 mm from every disk
_BG_GAP_MM = 1.0
_BG_ARC_MM = 12.0
_BAND_MIN_HALF_MM = 1.5
_HIGHPASS_MM = 10.0      # the noise residual's local mean (Gaussian sigma) is removed before K is estimated
_EXCL_MARGIN_MM = 1.0    # no background pixel within 1 mm of any disk's edge
_NSUB = 5                # 5 x 5 sub-samples per pixel for the disk fractions f_p
# template of the fit: points on a 0.75 mm grid, annulus 0.75 to 2.25 mm beyond the edge
_TPL_STEP_MM = 0.75
_TPL_GAP_MM = 0.75
_TPL_WIDTH_MM = 1.5
_COARSE_STEP_DEG = 3.0
_PRIOR_HALF_RANGE_DEG = 6.0   # angle search about a given spoke1_angle_deg
_COARSE_TPL_STEP_MM = 1.25   # a sparser template for the whole-circle search
# pattern search: 3 x 3 x 3 grids (angle in deg, centre row / col in mm) whose step halves, from 1.5 (reach +-3)
_REFINE_STEPS = (1.5, 0.75, 0.375, 0.1875, 0.09375, 0.046875)
_MAX_CENTER_SHIFT_MM = 4.0
# series fit (acr_lcd_series): the slopes per slice of the shared pattern are refined along with it, with their own
# halving steps: the sheet step (reach ~ +-0.75 deg per slice about the given step, capped at _MAX_STEP_CHANGE_DEG;
# the real series step by 8.5-9.4 deg) and the centre drift (reach ~ +-0.5 mm per slice: on the real series the
# fitted centre moves by up to 0.8 mm relative to the phantom outline from slice 8 to 11, linearly in the slice)
_STEP_REFINE_DEG = (0.375, 0.1875, 0.09375, 0.046875, 0.0234375, 0.01171875)
_MAX_STEP_CHANGE_DEG = 1.0
# ... then each slice keeps a residual of its own, within ~ +-0.16 mm / +-0.16 deg of the shared pattern (steps
# 0.094, 0.047, 0.023): the uncertainty of its phantom-centre estimate (find_phantom, ~0.1 mm) and of a sheet's
# mounting, far below what lost a disk on the twin (slice 11's fit alone drifted 1.1-1.6 px onto its wedge bars)
_SLICE_REFINE_STEPS = (0.09375, 0.046875, 0.0234375)
_SLOPE_STEPS_MM = (0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125)
# centre search: the spoke pattern's centre is not the phantom's (the real ACR images put it ~5-8 mm away), so it
# is first located within _CENTER_SEARCH_MM of center_px: the sum of a blob filter (difference of Gaussians,
# sigma 1 and 3 mm) along the three disk circles (12.5, 25, 38 mm) is largest where the circles pass through
# the disks (rotation-invariant, so before the angle is known)
_CENTER_SEARCH_MM = 12.0
_CENTER_STEP_MM = 1.0
_DOG_SIGMAS_MM = (1.0, 3.0)
#: pixels farther than 12 % from the region median (the sheet's bright rim, its dark edge ring, air) are
#: set to the median for the fit, so that a template displaced onto them scores nothing (the disks are <= 5.1 %)
_NEUTRAL_FRACTION = 0.12
_EDGE_GUARD_MM = 3.0
# the noise scale check (see _null_calibration): 2 mm disks at disk-free placements; fewer than 20 usable: no scaling
_NULL_DIAM_MM = 2.0
_MIN_NULLS = 20


@dataclass(frozen=True)
class LcdDisk:
    """One disk. ``center_px`` (row, col) where it was measured; ``contrast`` = C in image units (matched-disk
    mean minus local background mean), ``contrast_percent = 100 C / background``; ``sigma_c`` the noise SD of C;
    ``z = C / sigma_c``; ``p_value`` one-sided; ``detected`` after the Benjamini-Hochberg correction of the slice;
    ``expected_z`` the z a disk of the nominal contrast would have (None without a nominal contrast):
    ``contrast_nominal x background x (sum f^2 / sum f) / sigma_c``; ``background_radii_mm`` (inner, outer) distance of
    the background pixels from the disk centre (they also lie in the same-radius band about the LCD centre);
    ``n_disk_px`` = sum of the pixel fractions f_p, ``n_background_px``."""

    spoke: int
    index: int
    diameter_mm: float
    center_px: tuple[float, float]
    background_radii_mm: tuple[float, float]
    mean_disk: float
    mean_background: float
    contrast: float
    contrast_percent: float
    sigma_c: float
    z: float
    p_value: float
    detected: bool
    expected_z: float | None
    n_disk_px: float
    n_background_px: int


@dataclass(frozen=True)
class LcdResult:
    """One LCD slice. ``spokes`` (mr.lcd.spokes, label ``label``): complete spokes counted from spoke 1 up to the
    first incomplete one; ``spokes_complete`` per spoke (1..10); ``disks`` the 30 disks, spoke by spoke from the
    centre out; ``center_px`` the fitted LCD centre (row, col); ``spoke1_angle_deg`` the fitted spoke-1 angle
    (image frame, clockwise on the screen from 3 o'clock, in [-180, 180)); ``spoke1_angle_phantom_deg`` the same
    minus the phantom rotation ``rotation_deg`` given; ``direction`` +1 when the sizes decrease clockwise (as
    built), -1 for a mirrored image; ``noise_sd`` the pixel noise SD of the LCD region (trend removed);
    ``noise_autocorrelation`` K(l) / K(0) at lags (1, 0) and (0, 1) pixels (row, col); ``alpha`` the FDR level;
    ``z_threshold`` the smallest z detected (None when none); ``sigma_scale`` kappa, the measured scale applied to
    the model sigma_C (RMS z of the statistic at ``n_null_placements`` disk-free placements; 1 for noise the model
    describes)."""

    spokes: Quantity
    label: str
    spokes_complete: tuple[bool, ...]
    disks: tuple[LcdDisk, ...]
    center_px: tuple[float, float]
    spoke1_angle_deg: float
    spoke1_angle_phantom_deg: float
    direction: int
    noise_sd: float
    noise_autocorrelation: tuple[float, float]
    alpha: float
    z_threshold: float | None
    region_radius_mm: float
    sigma_scale: float
    n_null_placements: int
    parameters: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def _disk_table():
    """(spoke, index, diameter, radius, angle offset in rad for direction +1) of the 30 disks, from the geometry."""
    g = ACR_LARGE
    rows = []
    for i, d in enumerate(g.lcd_diameters_mm):
        for j, r in enumerate(g.lcd_disk_radii_mm):
            rows.append((i + 1, j + 1, float(d), float(r), math.radians(i * 360.0 / g.lcd_spokes)))
    return rows


def _disk_xy_mm(table, angle_rad, direction):
    """Disk centres (y, x) in mm about the LCD centre for spoke-1 angle ``angle_rad`` and handedness."""
    ys = np.array([r * math.sin(angle_rad + direction * a) for (_, _, _, r, a) in table])
    xs = np.array([r * math.cos(angle_rad + direction * a) for (_, _, _, r, a) in table])
    return ys, xs


def _template(table, direction, h):
    """Template points (y, x in mm at spoke-1 angle 0) on an ``h`` mm grid and weights: area-weighted
    disk-minus-annulus means."""
    ys, xs = _disk_xy_mm(table, 0.0, direction)
    diam = np.array([t[2] for t in table])
    py, px, pw = [], [], []
    for k in range(len(table)):
        rad = 0.5 * diam[k]
        rout = rad + _TPL_GAP_MM + _TPL_WIDTH_MM
        n = math.ceil(rout / h)
        g = (np.arange(-n, n + 1) * h)
        gy, gx = np.meshgrid(g, g, indexing="ij")
        gy, gx = gy.ravel(), gx.ravel()
        rho = np.hypot(gy, gx)
        py_k, px_k = gy + ys[k], gx + xs[k]
        inner = rho <= rad
        ring = (rho > rad + _TPL_GAP_MM) & (rho <= rout)
        # ring points near any other disk or outside the region are dropped
        dd = np.hypot(py_k[:, None] - ys[None, :], px_k[:, None] - xs[None, :]) - 0.5 * diam[None, :]
        ring &= (dd.min(axis=1) > _TPL_GAP_MM) & (np.hypot(py_k, px_k) <= _REGION_RADIUS_MM)
        a_k = (diam[k] / 7.0) ** 2
        if inner.sum() == 0 or ring.sum() == 0:
            continue
        for m, wgt in ((inner, a_k / inner.sum()), (ring, -a_k / ring.sum())):
            py.append(py_k[m])
            px.append(px_k[m])
            pw.append(np.full(int(m.sum()), wgt))
    return (np.ascontiguousarray(np.concatenate(py)), np.ascontiguousarray(np.concatenate(px)),
            np.ascontiguousarray(np.concatenate(pw)))


_TEMPLATES: dict = {}


def _templates(table):
    if not _TEMPLATES:
        for direction in (1, -1):
            _TEMPLATES[direction] = _template(table, direction, _TPL_STEP_MM)
            _TEMPLATES[("coarse", direction)] = _template(table, direction, _COARSE_TPL_STEP_MM)
    return _TEMPLATES


def _fit_image(img, cr, cc, sy, sx):
    """The blob-filtered crop about (cr, cc) that the fit works on, and its origin (row0, col0).

    The crop (large enough for the centre search) is filtered by a difference of Gaussians (sigma 1 and 3 mm:
    a disk detector that removes shading); where a pixel lies farther than _NEUTRAL_FRACTION from the region
    median (the sheet's edge ring, the bright rim, air), the filtered image is set to 0 within 3 mm of it, so that
    a template displaced onto those edges scores nothing."""
    reach = _CENTER_SEARCH_MM + _MAX_CENTER_SHIFT_MM + ACR_LARGE.lcd_disk_radii_mm[-1] + 8.0
    r0 = max(0, math.floor(cr - reach / sy))
    r1 = min(img.shape[0], math.ceil(cr + reach / sy) + 1)
    c0 = max(0, math.floor(cc - reach / sx))
    c1 = min(img.shape[1], math.ceil(cc + reach / sx) + 1)
    crop = np.asarray(img[r0:r1, c0:c1], dtype=np.float64)
    y = ((np.arange(r0, r1) - cr) * sy)[:, None]
    x = ((np.arange(c0, c1) - cc) * sx)[None, :]
    med = float(np.median(crop[(x * x + y * y) <= 35.0 ** 2]))
    bad = np.abs(crop - med) > _NEUTRAL_FRACTION * abs(med)
    crop = np.where(bad, med, crop)
    s1, s2 = _DOG_SIGMAS_MM
    dog = (ndimage.gaussian_filter(crop, (s1 / sy, s1 / sx)) - ndimage.gaussian_filter(crop, (s2 / sy, s2 / sx)))
    ky, kx = math.ceil(_EDGE_GUARD_MM / sy), math.ceil(_EDGE_GUARD_MM / sx)
    yy, xx = np.ogrid[-ky:ky + 1, -kx:kx + 1]
    foot = (yy * sy) ** 2 + (xx * sx) ** 2 <= _EDGE_GUARD_MM ** 2
    bad = ndimage.binary_dilation(bad, structure=foot)
    return np.ascontiguousarray(np.where(bad, 0.0, dog)), r0, c0


def _center_scores(dog, cr, cc, sy, sx):
    """The rotation-invariant centre score: the blob-filter sum along the three disk circles centred at the
    offsets (g[i], g[j]) mm (row, col) from (cr, cc) on a _CENTER_STEP_MM grid within +-_CENTER_SEARCH_MM.
    Returns (g, score[i, j])."""
    phi = np.deg2rad(np.arange(0.0, 360.0, 2.0))
    radii = np.asarray(ACR_LARGE.lcd_disk_radii_mm, dtype=np.float64)
    py = np.ascontiguousarray((radii[:, None] * np.sin(phi)[None, :]).ravel())
    px = np.ascontiguousarray((radii[:, None] * np.cos(phi)[None, :]).ravel())
    pw = np.ones(py.size)
    n = round(_CENTER_SEARCH_MM / _CENTER_STEP_MM)
    g = np.arange(-n, n + 1) * _CENTER_STEP_MM
    out = np.empty((1, g.size, g.size))
    _kernels._template_scores(dog, cr, cc, sy, sx, py, px, pw, np.zeros(1), g / sy, g / sx, out)
    return g, out[0]


def _locate_center(dog, cr, cc, sy, sx):
    """Centre (row, col, crop pixels) of the disk circles: the grid point within _CENTER_SEARCH_MM of (cr, cc)
    that maximises the blob-filter sum along the three disk circles."""
    g, score = _center_scores(dog, cr, cc, sy, sx)
    i, j = np.unravel_index(int(np.argmax(score)), score.shape)
    return cr + g[i] / sy, cc + g[j] / sx


def _fit(img, cr, cc, sy, sx, table, angle_prior_deg=None, directions=(1, -1)):
    """Angle search (the whole circle, or +-_PRIOR_HALF_RANGE_DEG about ``angle_prior_deg``) for each handedness
    in ``directions``, then joint angle / centre refinement. Returns (angle_rad, direction, row, col, score)."""
    tpls = _templates(table)
    if angle_prior_deg is None:
        thetas = np.deg2rad(np.arange(0.0, 360.0, _COARSE_STEP_DEG))
    else:
        thetas = np.deg2rad(float(angle_prior_deg) + np.arange(-_PRIOR_HALF_RANGE_DEG, _PRIOR_HALF_RANGE_DEG + 0.5,
                                                                 1.0))
    zero = np.zeros(1)
    best = None
    for direction in directions:
        py, px, pw = tpls[("coarse", direction)]
        out = np.empty((thetas.size, 1, 1))
        _kernels._template_scores(img, float(cr), float(cc), sy, sx, py, px, pw, thetas, zero, zero, out)
        t = int(np.argmax(out[:, 0, 0]))
        if best is None or out[t, 0, 0] > best[4]:
            best = (float(thetas[t]), direction, float(cr), float(cc), float(out[t, 0, 0]))
    theta, direction, r0, c0, score = best
    py, px, pw = tpls[direction]
    grid = np.arange(-1, 2, dtype=np.float64)
    out = np.empty((3, 3, 3))
    for step in _REFINE_STEPS:
        th = theta + np.deg2rad(step) * grid
        _kernels._template_scores(img, r0, c0, sy, sx, py, px, pw, th, grid * step / sy, grid * step / sx, out)
        t, i, j = np.unravel_index(int(np.argmax(out)), out.shape)
        theta, r0, c0, score = float(th[t]), r0 + grid[i] * step / sy, c0 + grid[j] * step / sx, float(out[t, i, j])
    return theta, direction, r0, c0, score


def _noise_model(img, cr, cc, sy, sx, dy_mm, dx_mm, diam):
    """The LCD region's crop with its smooth trend removed, and the noise autocovariance K.

    A quadratic trend a + b x + c y + d x^2 + e xy + f y^2 is fitted to the region's pixels away from the disks
    and subtracted from the whole crop (shading). For K, the radial profile of that residual (0.5 mm rings: the
    Gibbs ringing of the sheet's circular edge, which the same-radius background cancels) is removed as well, and
    K is the autocovariance of what remains, over all lags (biased estimate sum r_p r_(p+l) / n, positive
    semi-definite, from the zero-padded power spectrum). Returns (detrended crop, row0, col0, trend at the disk
    centres, c(l) on the padded grid (lag modulo the padded shape), padded shape, residual, its mask, n pixels)."""
    R = _REGION_RADIUS_MM
    r0 = max(0, math.floor(cr - R / sy) - 3)
    r1 = min(img.shape[0], math.ceil(cr + R / sy) + 4)
    c0 = max(0, math.floor(cc - R / sx) - 3)
    c1 = min(img.shape[1], math.ceil(cc + R / sx) + 4)
    crop = np.asarray(img[r0:r1, c0:c1], dtype=np.float64)
    y = ((np.arange(r0, r1) - cr) * sy)[:, None]
    x = ((np.arange(c0, c1) - cc) * sx)[None, :]
    rho = np.sqrt(x * x + y * y)
    mask = rho <= R
    for k in range(diam.size):
        mask &= ((y - dy_mm[k]) ** 2 + (x - dx_mm[k]) ** 2) > (0.5 * diam[k] + _EXCL_MARGIN_MM) ** 2
    n = int(mask.sum())
    ys, xs = np.broadcast_to(y / R, crop.shape), np.broadcast_to(x / R, crop.shape)
    terms = (np.ones_like(xs), xs, ys, xs * xs, xs * ys, ys * ys)
    A = np.stack([t[mask] for t in terms])
    coef = np.linalg.solve(A @ A.T, A @ crop[mask])
    trend = sum(cf * t for cf, t in zip(coef, terms))
    detr = crop - trend
    u, v = dx_mm / R, dy_mm / R
    trend_at = coef[0] + coef[1] * u + coef[2] * v + coef[3] * u * u + coef[4] * u * v + coef[5] * v * v
    ring = np.minimum((rho / 0.5).astype(np.int64), int(R / 0.5) + 1)
    sums = np.bincount(ring[mask], weights=detr[mask], minlength=ring.max() + 1)
    cnts = np.bincount(ring[mask], minlength=ring.max() + 1)
    prof = np.where(cnts > 0, sums / np.maximum(cnts, 1), 0.0)
    res = np.where(mask, detr - prof[ring], 0.0)
    # minus its local mean (Gaussian, sigma 10 mm ~ the extent of a disk's pattern, normalised to the mask): the
    # residual shading that a quadratic does not follow (the Philips slices 8-9) is structure on scales larger than
    # a pattern, which cancels in its zero-sum weights; kept in K, its broad autocovariance made var(C) ~1.7-2x the
    # spread of C measured at disk-free positions. White noise loses 1 / (4 pi sigma^2 / pixel^2) ~ 0.1 % of its
    # variance to this high-pass filter. (At 5 mm the disk-free spread exceeded sigma_C by up to 25 % on Siemens
    # and GE: structure at 5-10 mm scales does move C.)
    sig = (_HIGHPASS_MM / sy, _HIGHPASS_MM / sx)
    m = mask.astype(np.float64)
    local = ndimage.gaussian_filter(res, sig, mode="constant") / np.maximum(
        ndimage.gaussian_filter(m, sig, mode="constant"), 1e-6)
    res = np.where(mask, res - local, 0.0)
    # the residual's power spectrum, zero-padded (no wrap-around for any lag within the crop): its inverse transform
    # is the biased autocovariance c(l) = sum_p r_p r_(p+l) / n over ALL lags, a positive semi-definite estimate
    shape = tuple(fft.next_fast_len(2 * m, real=True) for m in res.shape)
    acov = fft.irfft2(np.abs(fft.rfft2(res, s=shape)) ** 2 / max(n, 1), s=shape)  # c(l) at l mod shape
    return np.ascontiguousarray(detr), r0, c0, trend_at, acov, shape, res, mask, n


def _pattern_variances(wmaps, acov, shape):
    """var(C_k) = sum_l K(l) A_k(l), A_k the autocorrelation of the weights w_k, K(l) = c(l) the biased
    autocovariance ``acov`` (indexed by the lag modulo ``shape``). A_k is computed exactly on the bounding box
    of w_k (all boxes
    zero-padded to one size and transformed in one batch), so only lags within the patterns are summed (A_k is
    zero beyond)."""
    n = wmaps.shape[0]
    nz = wmaps != 0
    anyr, anyc = nz.any(axis=2), nz.any(axis=1)
    out = np.full(n, np.nan)
    ok = anyr.any(axis=1)
    if not ok.any():
        return out
    r0 = np.argmax(anyr, axis=1)
    r1 = anyr.shape[1] - np.argmax(anyr[:, ::-1], axis=1)
    c0 = np.argmax(anyc, axis=1)
    c1 = anyc.shape[1] - np.argmax(anyc[:, ::-1], axis=1)
    h = int(np.max((r1 - r0)[ok]))
    w = int(np.max((c1 - c0)[ok]))
    boxes = np.zeros((n, h, w))
    for k in np.nonzero(ok)[0]:
        boxes[k, :r1[k] - r0[k], :c1[k] - c0[k]] = wmaps[k, r0[k]:r1[k], c0[k]:c1[k]]
    ps = (fft.next_fast_len(2 * h - 1), fft.next_fast_len(2 * w - 1, real=True))
    a = fft.irfft2(np.abs(fft.rfft2(boxes, s=ps, axes=(1, 2))) ** 2, s=ps, axes=(1, 2))
    ia = np.r_[0:h, ps[0] - h + 1:ps[0]]
    ib = np.r_[0:w, ps[1] - w + 1:ps[1]]
    ka = np.r_[0:h, shape[0] - h + 1:shape[0]]
    kb = np.r_[0:w, shape[1] - w + 1:shape[1]]
    val = np.einsum("kij,ij->k", a[:, ia][:, :, ib], acov[np.ix_(ka, kb)])
    out[ok] = val[ok]
    return out


def _lag1_correlation(res, mask):
    """Correlation of the residual with itself one pixel down and one pixel right (for the record)."""
    k0 = float(np.sum(res[mask] ** 2)) / max(int(mask.sum()), 1)
    both_r = mask[1:, :] & mask[:-1, :]
    both_c = mask[:, 1:] & mask[:, :-1]
    if k0 <= 0 or not both_r.any() or not both_c.any():
        return math.nan, (math.nan, math.nan)
    kr = float(np.mean((res[1:, :] * res[:-1, :])[both_r]))
    kc = float(np.mean((res[:, 1:] * res[:, :-1])[both_c]))
    return math.sqrt(k0), (kr / k0, kc / k0)


def _null_calibration(detr, cr, cc, sy, sx, theta, direction, table, disk_r, disk_c, diam, acov, shape):
    """kappa = RMS of z = C / sqrt(var_model(C)) over disk-free placements of the same statistic (a _NULL_DIAM_MM
    disk against its same-radius band), and their number. Placements: midway between the spokes on the disk
    circles, and at 1/4 and 3/4 of the spoke interval on the circles midway between the disk circles, those more
    than 1 mm from every disk's edge. The scale is measured, as in Chao et al. (2000)'s statistical method, on the
    image itself, so that structure the stationary noise model misdescribes does not bias sigma_C."""
    radii = np.asarray(ACR_LARGE.lcd_disk_radii_mm, dtype=np.float64)
    mids = 0.5 * (radii[1:] + radii[:-1])
    step = 2.0 * math.pi / ACR_LARGE.lcd_spokes
    ang, rad = [], []
    for i in range(ACR_LARGE.lcd_spokes):
        a = theta + direction * step * i
        for r in radii:
            ang.append(a + direction * 0.5 * step)
            rad.append(r)
        for r in mids:
            for frac in (0.25, 0.75):
                ang.append(a + direction * frac * step)
                rad.append(r)
    ang, rad = np.array(ang), np.array(rad)
    ny, nx = rad * np.sin(ang), rad * np.cos(ang)
    dy, dx = (disk_r - cr) * sy, (disk_c - cc) * sx
    gap = np.hypot(ny[:, None] - dy[None, :], nx[:, None] - dx[None, :]) - 0.5 * diam[None, :] - 0.5 * _NULL_DIAM_MM
    keep = gap.min(axis=1) > _EXCL_MARGIN_MM
    if not keep.any():
        return 1.0, 0
    ny, nx, rad = ny[keep], nx[keep], rad[keep]
    m = ny.size
    nd = np.full(m, _NULL_DIAM_MM)
    half = np.maximum(0.5 * nd, _BAND_MIN_HALF_MM)
    rin = 0.5 * nd + _BG_GAP_MM
    out = np.empty((m, 6))
    wmaps = np.empty((m,) + detr.shape)
    _kernels._disk_statistics(detr, np.ascontiguousarray(cr + ny / sy), np.ascontiguousarray(cc + nx / sx), sy, sx,
                              nd, rin, rin + _BG_ARC_MM, rad - half, rad + half, disk_r, disk_c,
                              0.5 * diam + _EXCL_MARGIN_MM, cr, cc, _REGION_RADIUS_MM, _NSUB, out, wmaps)
    var = _pattern_variances(wmaps, acov, shape)
    z = out[:, 4] / np.sqrt(np.where(var > 0, var, np.nan))
    z = z[np.isfinite(z)]
    if z.size == 0:
        return 1.0, 0
    return float(np.sqrt(np.mean(z * z))), int(z.size)


def _benjamini_hochberg(p, alpha):
    """Rejections of the BH step-up procedure at FDR ``alpha`` (NaN p-values are never rejected)."""
    p = np.asarray(p, dtype=np.float64)
    ok = np.isfinite(p)
    m = int(p.size)
    out = np.zeros(m, dtype=bool)
    if m == 0:
        return out
    q = np.where(ok, p, np.inf)
    order = np.argsort(q, kind="stable")
    below = q[order] <= alpha * np.arange(1, m + 1) / m
    if below.any():
        kmax = int(np.nonzero(below)[0].max())
        out[order[: kmax + 1]] = True
    return out


def _one_sided_p(z):
    return np.array([0.5 * math.erfc(v / math.sqrt(2.0)) if np.isfinite(v) else np.nan for v in z])


def acr_lcd(image, spacing_mm: Sequence[float], *, center_px: Sequence[float], rotation_deg: float = 0.0,
            contrast_percent: float | None = None, alpha: float = DEFAULT_ALPHA, slice_number: int | None = None,
            spoke1_angle_deg: float | None = None, mirrored: bool | None = None,
            rng: np.random.Generator | None = None) -> LcdResult:
    """Count the complete low-contrast spokes of one ACR LCD slice (8 to 11) by a per-disk z-test.

    Parameters
    ----------
    image : (y, x) array
        One LCD slice (magnitude image; any real dtype).
    spacing_mm : (float, float)
        Pixel spacing (row, column) in mm.
    center_px : (float, float)
        Starting estimate of the LCD centre (row, col): the phantom centre (``find_phantom``). The spoke
        pattern's centre is searched within 12 mm of it (on real ACR images it lies ~5-8 mm away).
    rotation_deg : float
        The phantom's in-plane rotation (clockwise on the screen). The spoke-1 angle is searched over the whole
        circle whatever this is (the four LCD sheets are not aligned with each other); it only gives
        ``spoke1_angle_phantom_deg``.
    contrast_percent : float, optional
        Nominal disk contrast of the slice (ACR: 1.4, 2.5, 3.6, 5.1 % on slices 8-11); gives each disk's
        ``expected_z``. Taken from the geometry when ``slice_number`` is given.
    alpha : float
        False-discovery rate of the Benjamini-Hochberg correction over the 30 disks of the slice.
    slice_number : int, optional
        8 to 11: the measurement label ``slice<k>`` (``"lcd"`` when not given).
    spoke1_angle_deg : float, optional
        A prior for the spoke-1 angle (image frame, as ``LcdResult.spoke1_angle_deg``): the search is restricted to
        +-6 deg about it. On the real series the four sheets step by +9 deg from slice 8 to 11 (spoke 1 at about
        -90, -81, -72, -63 deg on an unrotated phantom), so a caller can fit slice 11 (highest contrast) first and
        pass ``angle_11 - 9 (11 - k)`` for slice k: at very low CNR the whole-circle search can lock onto noise.
    mirrored : bool, optional
        True / False: search only the mirrored / as-built handedness; None (default): both.
    rng : numpy.random.Generator, optional
        Unused (the analysis is deterministic); accepted for the analyzer contract.

    Returns
    -------
    LcdResult
        ``spokes`` is mr.lcd.spokes (label ``slice<k>``).

    Notes
    -----
    Per disk, ``C = sum f_p v_p / sum f_p - mean_B(v)``, ``var(C) = sum_l K(l) sum_p w_p w_(p+l)``,
    ``sigma_C = kappa sqrt(var C)`` (kappa measured at disk-free placements), ``z = C / sigma_C``,
    ``p = 1 - Phi(z)``; detected where the Benjamini-Hochberg procedure at ``alpha``
    rejects over the 30 disks; ACR count = complete spokes from the largest until the first incomplete one (see
    the module docstring for the template fit and the references: ACR 2022 guidance section 7; Golestani & Gee
    2025; Benjamini & Hochberg 1995; Barrett & Myers 2004; Chao et al. 2000).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> img = 1000.0 + rng.normal(0.0, 5.0, (256, 256))   # no disks at all
    >>> res = acr_lcd(img, (0.98, 0.98), center_px=(128.0, 128.0))
    >>> int(res.spokes.value)
    0
    """
    del rng
    img, sy, sx, cr, cc = _checked(image, spacing_mm, center_px, "acr_lcd")
    if not 0.0 < float(alpha) < 1.0:
        raise InputError(f"acr_lcd: alpha must be in (0, 1), got {alpha!r}")
    if slice_number is not None and int(slice_number) not in ACR_LARGE.lcd_slices:
        raise InputError(f"acr_lcd: slice_number must be one of {ACR_LARGE.lcd_slices}, got {slice_number!r}")
    table = _disk_table()
    crop, o_r, o_c = _fit_image(img, cr, cc, sy, sx)
    lr, lc = _locate_center(crop, cr - o_r, cc - o_c, sy, sx)
    directions = (1, -1) if mirrored is None else ((-1,) if mirrored else (1,))
    directions = tuple(d * ACR_LARGE.lcd_spoke_direction for d in directions)
    theta, direction, r0, c0, score = _fit(crop, lr, lc, sy, sx, table, spoke1_angle_deg, directions)
    return _measure(img, sy, sx, cr, cc, theta, direction, r0 + o_r, c0 + o_c, score, contrast_percent=contrast_percent,
                    alpha=alpha, slice_number=slice_number, rotation_deg=rotation_deg,
                    extra={"spoke1_angle_prior_deg": spoke1_angle_deg, "mirrored_arg": mirrored, "fit": "slice"})


def _checked(image, spacing_mm, center_px, fn):
    """The validated image (contiguous; float64 unless float32 or integer), spacing and start centre."""
    img = np.asarray(image)
    if img.ndim != 2:
        raise InputError(f"{fn}: image must be a 2-D (y, x) array, got shape {img.shape}; pass one slice")
    if img.dtype.kind not in "fiu":
        raise InputError(f"{fn}: image must be a real numeric array, got dtype {img.dtype}")
    if img.dtype.kind == "f" and not np.isfinite(img).all():
        raise InputError(f"{fn}: image holds NaN or infinite pixels; replace them (e.g. np.nan_to_num) first")
    try:
        sy, sx = (float(s) for s in spacing_mm)
    except (TypeError, ValueError):
        raise InputError(f"{fn}: spacing_mm must be two numbers (row, col) in mm, got {spacing_mm!r}") from None
    if not (sy > 0 and sx > 0 and math.isfinite(sy) and math.isfinite(sx)):
        raise InputError(f"{fn}: spacing_mm must be two positive finite numbers, got {spacing_mm!r}")
    try:
        cr, cc = (float(v) for v in center_px)
    except (TypeError, ValueError):
        raise InputError(f"{fn}: center_px must be (row, col), got {center_px!r}") from None
    if not (0 <= cr < img.shape[0] and 0 <= cc < img.shape[1]):
        raise InputError(f"{fn}: center_px {center_px!r} is outside the image of shape {img.shape}; pass the "
                         "phantom centre (phantomqc.mr.localize.find_phantom)")
    if img.dtype.kind == "f" and img.dtype != np.float64 and img.dtype != np.float32:
        img = img.astype(np.float64)
    return np.ascontiguousarray(img), sy, sx, cr, cc


def _measure(img, sy, sx, cr, cc, theta, direction, r0, c0, score, *, contrast_percent, alpha, slice_number,
             rotation_deg, extra):
    """The per-disk statistics, the BH decision and the count for the pattern at (theta, direction, r0, c0)."""
    if contrast_percent is None and slice_number is not None:
        contrast_percent = ACR_LARGE.lcd_contrast_for_slice(int(slice_number))
    warnings: list[str] = []
    table = _disk_table()
    shift_mm = math.hypot((r0 - cr) * sy, (c0 - cc) * sx)
    if shift_mm > _CENTER_SEARCH_MM - 1.0:
        warnings.append(f"LCD centre found {shift_mm:.1f} mm from center_px (search limit "
                        f"{_CENTER_SEARCH_MM:.0f} mm): check the phantom centre")
    if direction != ACR_LARGE.lcd_spoke_direction:
        warnings.append("disk sizes decrease anticlockwise: mirrored image (or a spoke pattern not found)")
    if not score > 0:
        warnings.append("no disk pattern brighter than its surroundings was found (template score <= 0)")

    dy_mm, dx_mm = _disk_xy_mm(table, theta, direction)
    diam = np.array([t[2] for t in table])
    rows = r0 + dy_mm / sy
    cols = c0 + dx_mm / sx
    detr, o_r, o_c, trend_at, acov, shape, res, rmask, n_noise = _noise_model(img, r0, c0, sy, sx, dy_mm, dx_mm,
                                                                                 diam)
    noise_sd, rho = _lag1_correlation(res, rmask)
    radii = np.array([t[3] for t in table])
    half_band = np.maximum(0.5 * diam, _BAND_MIN_HALF_MM)
    rin = 0.5 * diam + _BG_GAP_MM
    rout = rin + _BG_ARC_MM
    out = np.empty((diam.size, 6))
    wmaps = np.empty((diam.size,) + detr.shape)
    lr, lcol = np.ascontiguousarray(rows - o_r), np.ascontiguousarray(cols - o_c)
    _kernels._disk_statistics(detr, lr, lcol, sy, sx, diam, rin, rout, radii - half_band, radii + half_band, lr,
                              lcol, 0.5 * diam + _EXCL_MARGIN_MM, r0 - o_r, c0 - o_c, _REGION_RADIUS_MM, _NSUB,
                              out, wmaps)
    var = _pattern_variances(wmaps, acov, shape)
    out[:, 1] += trend_at
    out[:, 3] += trend_at
    contrast = out[:, 4]
    kappa, n_null = _null_calibration(detr, r0 - o_r, c0 - o_c, sy, sx, theta, direction, table, lr, lcol, diam,
                                      acov, shape)
    if n_null < _MIN_NULLS:
        warnings.append(f"only {n_null} disk-free placements fit for the noise check: sigma_C from the noise model "
                        "alone (not scaled)")
        kappa = 1.0
    sigma = kappa * np.where(var > 0, np.sqrt(np.where(var > 0, var, 0.0)), np.nan)
    z = contrast / sigma
    p = _one_sided_p(z)
    detected = _benjamini_hochberg(p, float(alpha))
    if np.isnan(p).any():
        warnings.append(f"{int(np.isnan(p).sum())} disk(s) could not be measured (outside the image or no "
                        "background pixels): counted as not detected")

    disks = []
    for k, (spoke, index, d, _, _) in enumerate(table):
        bg = float(out[k, 3])
        ez = None
        if contrast_percent is not None and np.isfinite(sigma[k]) and sigma[k] > 0:
            ez = float(contrast_percent / 100.0 * bg * out[k, 5] / sigma[k])
        disks.append(LcdDisk(spoke, index, d, (float(rows[k]), float(cols[k])), (float(rin[k]), float(rout[k])),
                             float(out[k, 1]), bg, float(contrast[k]),
                             float(100.0 * contrast[k] / bg) if bg != 0 else float("nan"), float(sigma[k]),
                             float(z[k]), float(p[k]), bool(detected[k]), ez, float(out[k, 0]), int(out[k, 2])))
    n_spokes = ACR_LARGE.lcd_spokes
    complete = tuple(bool(all(dk.detected for dk in disks if dk.spoke == s)) for s in range(1, n_spokes + 1))
    count = 0
    for c in complete:
        if not c:
            break
        count += 1
    zdet = [dk.z for dk in disks if dk.detected]
    angle_deg = (math.degrees(theta) + 180.0) % 360.0 - 180.0
    label = f"slice{int(slice_number)}" if slice_number is not None else "lcd"
    params = {"alpha": float(alpha), "spacing_mm": (sy, sx), "contrast_percent_nominal": contrast_percent,
              "slice_number": slice_number,
              "center_px_start": (cr, cc), **extra, "center_shift_mm": shift_mm,
              "rotation_deg": float(rotation_deg),
              "disk_radii_mm": tuple(ACR_LARGE.lcd_disk_radii_mm), "diameters_mm": tuple(ACR_LARGE.lcd_diameters_mm),
              "region_radius_mm": _REGION_RADIUS_MM, "background_gap_mm": _BG_GAP_MM,
              "background_arc_mm": _BG_ARC_MM, "background_band_min_half_mm": _BAND_MIN_HALF_MM,
              "exclusion_margin_mm": _EXCL_MARGIN_MM, "noise_highpass_sigma_mm": _HIGHPASS_MM,
              "null_disk_diameter_mm": _NULL_DIAM_MM, "noise_pixels": n_noise, "template_score": score,
              "test": "one-sided z, Benjamini-Hochberg FDR over the 30 disks"}
    return LcdResult(spokes=Quantity(float(count), "1"), label=label, spokes_complete=complete,
                     disks=tuple(disks), center_px=(float(r0), float(c0)), spoke1_angle_deg=angle_deg,
                     spoke1_angle_phantom_deg=(angle_deg - float(rotation_deg) + 180.0) % 360.0 - 180.0,
                     direction=int(direction), noise_sd=noise_sd, noise_autocorrelation=rho, alpha=float(alpha),
                     z_threshold=float(min(zdet)) if zdet else None, region_radius_mm=_REGION_RADIUS_MM,
                     sigma_scale=float(kappa), n_null_placements=int(n_null), parameters=params,
                     warnings=tuple(warnings))


def acr_lcd_series(images: Sequence, spacing_mm: Sequence[float], *, center_px, slice_numbers=(8, 9, 10, 11),
                   rotation_deg: float = 0.0, alpha: float = DEFAULT_ALPHA,
                   sheet_step_deg: float = SHEET_STEP_DEG) -> tuple[LcdResult, ...]:
    """:func:`acr_lcd` on the LCD slices of one series, with the spoke-1 angle fitted jointly over the slices.

    A single low-CNR slice can align the template one spoke off (36 deg: the sizes differ by only 0.6 mm from
    spoke to spoke); the four sheets share one pattern turned by ``sheet_step_deg`` from slice to slice, so the
    whole-circle search sums the four slices' template scores at ``theta + step (k - k0)`` (each slice's centre
    located separately), and each slice is then analysed with that angle as its prior (+-6 deg) and the
    handedness found.

    Parameters
    ----------
    images : sequence of (y, x) arrays
        The slices, in the order of ``slice_numbers``.
    spacing_mm : (float, float)
        Pixel spacing (row, column) in mm, common to the slices.
    center_px : (float, float) or sequence of them
        The phantom centre (row, col), one for all slices or one per slice.
    slice_numbers : sequence of int
        The ACR slice numbers of ``images`` (8 to 11).
    rotation_deg, alpha
        As in :func:`acr_lcd`.
    sheet_step_deg : float
        The turn of the pattern from one LCD slice to the next (+9 deg on all five real series here: Siemens,
        Siemens Sola, Philips Achieva, GE Artist 256^2 and GE 512^2).

    Returns
    -------
    tuple of LcdResult
        One per slice (mr.lcd.spokes, labels ``slice<k>``); :func:`acr_lcd_total` sums them.
    """
    images = list(images)
    numbers = [int(k) for k in slice_numbers]
    if len(images) != len(numbers) or not images:
        raise InputError(f"acr_lcd_series: {len(images)} images for slice_numbers {tuple(numbers)}; pass one image "
                         "per slice number")
    if any(k not in ACR_LARGE.lcd_slices for k in numbers):
        raise InputError(f"acr_lcd_series: slice_numbers must be among {ACR_LARGE.lcd_slices}, got {tuple(numbers)}")
    if not 0.0 < float(alpha) < 1.0:
        raise InputError(f"acr_lcd_series: alpha must be in (0, 1), got {alpha!r}")
    cen = np.asarray(center_px, dtype=np.float64)
    centres = [tuple(cen)] * len(images) if cen.ndim == 1 else [tuple(c) for c in cen]
    if len(centres) != len(images):
        raise InputError(f"acr_lcd_series: {len(centres)} centres for {len(images)} images")
    checked = [_checked(img, spacing_mm, c, f"acr_lcd_series (slice {k})")
               for img, c, k in zip(images, centres, numbers)]
    sy, sx = checked[0][1], checked[0][2]
    table = _disk_table()
    tpls = _templates(table)
    # slice positions relative to the series' middle (the centre and angle slopes pivot there)
    u = np.array(numbers, dtype=np.float64) - 0.5 * (min(numbers) + max(numbers))
    fits = []
    for img, _, _, cr, cc in checked:
        crop, o_r, o_c = _fit_image(img, cr, cc, sy, sx)
        fits.append((crop, cr - o_r, cc - o_c))
    # 1. one centre offset (mm from each slice's phantom centre): the summed rotation-invariant scores
    g = None
    csum = 0.0
    for crop, lr, lc in fits:
        g, sc = _center_scores(crop, lr, lc, sy, sx)
        csum = csum + sc
    i, j = np.unravel_index(int(np.argmax(csum)), csum.shape)
    off_r, off_c = float(g[i]), float(g[j])
    # 2. one spoke-1 angle (at the middle of the series) and handedness: the summed whole-circle scores
    thetas = np.deg2rad(np.arange(0.0, 360.0, _COARSE_STEP_DEG))
    step = math.radians(float(sheet_step_deg))
    zero = np.zeros(1)
    best = None
    for direction in (1, -1):
        py, px, pw = tpls[("coarse", direction)]
        tot = np.zeros(thetas.size)
        for (crop, lr, lc), uk in zip(fits, u):
            out = np.empty((thetas.size, 1, 1))
            _kernels._template_scores(crop, lr + off_r / sy, lc + off_c / sx, sy, sx, py, px, pw,
                                      thetas + direction * step * uk, zero, zero, out)
            tot += out[:, 0, 0]
        t = int(np.argmax(tot))
        if best is None or tot[t] > best[1]:
            best = (direction, float(tot[t]), float(thetas[t]))
    direction, _, theta = best
    # 3. joint refinement of the six pattern parameters shared by the slices: angle and centre offset at the
    #    middle, and their slopes per slice (sheet step; centre drift, see _SLOPE_STEPS_MM)
    par = _joint_refine(fits, u, sy, sx, tpls[direction], direction, theta, step, off_r, off_c)
    theta, step, off_r, off_c, sl_r, sl_c, _ = par
    results = []
    py, px, pw = tpls[direction]
    g3 = np.arange(-1, 2, dtype=np.float64)
    out3 = np.empty((3, 3, 3))
    for (img, _, _, cr, cc), (crop, lr, lc), uk, k in zip(checked, fits, u, numbers):
        # 4. each slice's own residual: a pattern search bounded to +-_SLICE_REACH (see the constant)
        th_k, rr, cl = theta + direction * step * uk, lr + (off_r + sl_r * uk) / sy, lc + (off_c + sl_c * uk) / sx
        sc = math.nan
        for h in _SLICE_REFINE_STEPS:
            th = th_k + np.deg2rad(h) * g3
            _kernels._template_scores(crop, rr, cl, sy, sx, py, px, pw, th, g3 * h / sy, g3 * h / sx, out3)
            t, i, j = np.unravel_index(int(np.argmax(out3)), out3.shape)
            th_k, rr, cl, sc = float(th[t]), rr + g3[i] * h / sy, cl + g3[j] * h / sx, float(out3[t, i, j])
        r0, c0 = rr + cr - lr, cl + cc - lc
        results.append(_measure(img, sy, sx, cr, cc, th_k, direction, r0, c0, sc,
                                contrast_percent=None, alpha=alpha, slice_number=k, rotation_deg=rotation_deg,
                                extra={"fit": "series", "sheet_step_fitted_deg": math.degrees(step),
                                       "center_offset_mm": (off_r + sl_r * uk, off_c + sl_c * uk),
                                       "center_slope_mm_per_slice": (sl_r, sl_c)}))
    return tuple(results)


def _joint_refine(fits, u, sy, sx, tpl, direction, theta, step, off_r, off_c):
    """Pattern search of the series' shared pattern: slice k (at u_k slices from the middle) has spoke 1 at
    ``theta + direction step u_k`` and its centre at its phantom centre + (off_r + sl_r u_k, off_c + sl_c u_k) mm.
    Block by block at each step level (the template scores summed over the slices): (theta, off_r, off_c) on a
    3 x 3 x 3 grid, then the sheet step (3 values), then the centre slopes (3 x 3). Returns (theta, step, off_r,
    off_c, sl_r, sl_c, per-slice scores)."""
    py, px, pw = tpl
    grid = np.arange(-1, 2, dtype=np.float64)
    sl_r = sl_c = 0.0
    step0 = step
    out3 = np.empty((3, 3, 3))
    out1 = np.empty((3, 1, 1))
    out2 = np.empty((1, 3, 3))
    zero = np.zeros(1)
    for lev, h in enumerate(_REFINE_STEPS):
        tot = np.zeros((3, 3, 3))
        for (crop, lr, lc), uk in zip(fits, u):
            th = theta + direction * step * uk + np.deg2rad(h) * grid
            _kernels._template_scores(crop, lr + (off_r + sl_r * uk) / sy, lc + (off_c + sl_c * uk) / sx, sy, sx,
                                      py, px, pw, th, grid * h / sy, grid * h / sx, out3)
            tot += out3
        t, i, j = np.unravel_index(int(np.argmax(tot)), tot.shape)
        theta, off_r, off_c = theta + math.radians(h) * grid[t], off_r + grid[i] * h, off_c + grid[j] * h
        hs = math.radians(_STEP_REFINE_DEG[lev])
        if abs(step + hs - step0) <= math.radians(_MAX_STEP_CHANGE_DEG) + 1e-12:
            tot1 = np.zeros(3)
            for (crop, lr, lc), uk in zip(fits, u):
                th = theta + direction * (step + hs * grid) * uk
                _kernels._template_scores(crop, lr + (off_r + sl_r * uk) / sy, lc + (off_c + sl_c * uk) / sx, sy,
                                          sx, py, px, pw, th, zero, zero, out1)
                tot1 += out1[:, 0, 0]
            step += hs * grid[int(np.argmax(tot1))]
        hc = _SLOPE_STEPS_MM[lev]
        tot2 = np.zeros((3, 3))
        for (crop, lr, lc), uk in zip(fits, u):
            _kernels._template_scores(crop, lr + (off_r + sl_r * uk) / sy, lc + (off_c + sl_c * uk) / sx, sy, sx,
                                      py, px, pw, np.array([theta + direction * step * uk]),
                                      grid * hc * uk / sy, grid * hc * uk / sx, out2)
            tot2 += out2[0]
        i, j = np.unravel_index(int(np.argmax(tot2)), tot2.shape)
        sl_r, sl_c = sl_r + grid[i] * hc, sl_c + grid[j] * hc
    scores = []
    for (crop, lr, lc), uk in zip(fits, u):
        _kernels._template_scores(crop, lr + (off_r + sl_r * uk) / sy, lc + (off_c + sl_c * uk) / sx, sy, sx,
                                  py, px, pw, np.array([theta + direction * step * uk]), zero, zero, out1[:1])
        scores.append(float(out1[0, 0, 0]))
    return theta, step, off_r, off_c, sl_r, sl_c, scores


def acr_lcd_total(results: Sequence[LcdResult]) -> Quantity:
    """The ACR LCD score: the sum of the complete-spoke counts of the slices (mr.lcd.spokes, label ``total``).

    Parameters
    ----------
    results : sequence of LcdResult
        The slices 8 to 11 (any number; each counted once).

    Returns
    -------
    Quantity
        The total number of complete spokes (unit "1").
    """
    results = list(results)
    if not results:
        raise InputError("acr_lcd_total: no LcdResult given; pass the results of slices 8 to 11")
    return Quantity(float(sum(r.spokes.value for r in results)), "1")


def lcd_panels(result: LcdResult, image, spacing_mm) -> tuple:
    """Figure specification: the LCD region (cropped to it, with a margin of 15 % of its radius, so that the 1.5 mm
    disks stay visible), each disk green when detected and red when not, spoke numbers 1 and 10 at their outer
    disk, and the region's outline (cyan)."""
    sy, sx = float(spacing_mm[0]), float(spacing_mm[1])
    p = math.sqrt(sy * sx)
    img = np.asarray(image)
    cr, cc = result.center_px
    r_px = (result.region_radius_mm * 1.15) / np.array([sy, sx])
    r0, r1 = max(0, int(math.floor(cr - r_px[0]))), min(img.shape[0], int(math.ceil(cr + r_px[0])) + 1)
    c0, c1 = max(0, int(math.floor(cc - r_px[1]))), min(img.shape[1], int(math.ceil(cc + r_px[1])) + 1)
    ov = []
    for dk in result.disks:
        lab = str(dk.spoke) if dk.index == 3 and dk.spoke in (1, 10) else ""
        ov.append(CircleOverlay(dk.center_px[0] - r0, dk.center_px[1] - c0, 0.5 * dk.diameter_mm / p, label=lab,
                                color="tab:green" if dk.detected else "tab:red"))
    ov.append(CircleOverlay(cr - r0, cc - c0, result.region_radius_mm / p, color="tab:cyan"))
    bg = float(np.median([dk.mean_background for dk in result.disks]))
    half = 6.0 * result.noise_sd if np.isfinite(result.noise_sd) and result.noise_sd > 0 else 0.1 * abs(bg)
    title = f"LCD {result.label}: {int(result.spokes.value)} complete spokes\ndisks: green detected, red not"
    return (ImagePanel(title, img[r0:r1, c0:c1], tuple(ov), window=(bg - half, bg + half), spacing_mm=(sy, sx)),)
