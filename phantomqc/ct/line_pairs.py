"""CT high-contrast resolution from bar (line-pair) groups: bar modulation per group and the limiting group.

Used for the CatPhan CTP528 (1 to 21 lp/cm) and the ACR 464 module 4 (4 to 12 lp/cm).

Method
------
1. **Geometry.** A group (``geometry.LinePairGroup``) is ``n`` parallel bars of width w = 5 / f mm (f in lp/cm),
   gaps of the same width, the bars' long axis radial, the group centred at the mid radius on the ray at
   ``angle_deg + roll``. Positions along the group are t (mm, along the tangent e_t at the group centre; bar k
   centred at t_k = (k - (n - 1)/2) 2 w, gap centres half-way between) and u (mm, along the radius from the mid
   radius).
2. **Sampling.** The image is read at (u, t) points with quintic B-spline interpolation (kernel
   ``_spline5_eval`` on a crop around the bar ring prefiltered by ``scipy.ndimage.spline_filter``, order 5). Bilinear interpolation would not do: as a filter it
   passes only sinc^2(nu) of a pattern at nu cycles per pixel, 0.82 at 5 lp/cm with 0.49 mm pixels, so the bars
   would look blurred by the reading itself. The quintic spline passes, along a pixel axis, 0.998 at 0.25, 0.98
   at 0.35, 0.92 at 0.40 and ~0.6 at 0.5 cycles per pixel (phase-averaged; recorded per group as
   ``interpolation_transfer``; oblique groups fare better, their frequency being split between the two axes).
   Values are averaged over ``n_lines`` lines at u spread over the central bar length (bars' ends 2.5 mm clear:
   more than 3 sigma of a PSF of sigma 0.8 mm, so that the ends' blur does not lower the bars).
3. **Alignment.** The roll and centre from the localisation are good to ~0.1 mm, but a 21 lp/cm bar is 0.24 mm
   wide. Each group with bars >= 1 mm wide is located along t by the phase of its profile's fundamental over
   n whole periods (iterated); the shifts s_k at angles a_k are fitted by
   ``s = r_mid dtheta - dx sin a + dy cos a`` (a small extra roll and centre offset; roll only when fewer than
   three groups), and every group is read at its predicted shift. Bar and gap values are read at the aligned
   nominal centres, not searched for (a search would pick up noise maxima in unresolved groups).
4. **Bar contrast C** is measured, not assumed, on the widest group (lowest frequency): blurring preserves the
   integral, so ``C = int (p(t) - b) dt / (n w)`` over the group's extent plus 1.5 mm either side, b the mean of
   two lines 3 mm beyond the bars' ends. This holds at any blur (the ACR's widest bars are only 1.25 mm).
5. **Modulation** ``M = (mean of the n bar-centre values - mean of the n - 1 gap-centre values) / C``, each
   value taken relative to the local mean over one period (the mean of the two bar/gap boundaries around it,
   which carries neither the fundamental nor any odd harmonic). For a periodic pattern that is the plain
   (bar - gap) / C; for a group of 2 to 6 bars it removes the fall-off of the blurred group's envelope at its
   ends, which would otherwise lower the outer bars and drive M of an unresolved group to about -0.03. Averaged
   over the slices given (at most ``max_slices``, the middle ones; slices with the same centre are averaged
   before the reading).
6. **Noise floor.** The same reading (same u, t pattern, rigidly rotated about the phantom centre) is applied to
   up to 8 copies of the group's footprint on a ring just inside the bars (uniform material; the median-based
   SD ignores one copy falling on a bead). ``sigma_M`` is 1.4826 x the median of |M_null| over the copies
   (read on the averaged slices, or on the middle slice and divided by sqrt(number of slices) when the slices'
   centres differ). This measures the real noise texture (CT noise
   is not white) through the same interpolation.
7. **Resolved group**: ``M >= min_modulation`` (0.05), ``M >= k_sigma sigma_M`` (3) and the group below the
   Nyquist limit of the pixel grid in its direction (``f |e_t,x| < 1 / (2 s_x)`` and ``f |e_t,y| < 1 / (2 s_y)``;
   at or above it the bars alias). The **limiting group** is the highest frequency such that it and every lower
   group are resolved.

Bar modulation and the MTF
--------------------------
A square wave of contrast C and frequency f (bar = gap) has the Fourier series
``C/2 + (2C/pi) sum_k (-1)^k cos(2 pi (2k+1) f t) / (2k+1)``; a linear system multiplies each harmonic by its
MTF, so the difference between a bar centre and a gap centre is C times the contrast transfer function
(Coltman 1954)::

    CTF(f) = 4/pi sum_{k>=0} (-1)^k MTF((2k+1) f) / (2k+1).

With ``mtf`` given, ``ctf_predicted`` records this for every group (MTF interpolated on the measured curve,
taken as 0 beyond its last frequency, twice Nyquist). It is a consistency check, not a correction: the
measured M also differs from it because the bars are few (a group's outer bars have a neighbour on one side
only: for a Gaussian PSF this lowers M by < 0.01 where M > 0.1), because of the interpolation transfer above,
and, near the Nyquist limit, because of the sampling phase. Where only the fundamental survives (3 f beyond
the MTF's reach) ``M ~ 4/pi MTF(f)``: M = 0.05 corresponds to MTF ~ 0.04.

References
----------
J. W. Coltman, J. Opt. Soc. Am. 44 (1954) 468. AAPM Report 233 (2019). WS 519-2019 (high-contrast resolution).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import ndimage

from phantomqc._shared.errors import InputError
from phantomqc.core.types import Quantity
from phantomqc.core.visuals import Band, Curve, ImagePanel, LineOverlay, Plot
from phantomqc.ct import _kernels
from phantomqc.ct.geometry import LinePairGroup

__all__ = ["LinePairGroupResult", "LinePairResult", "analyze_line_pairs", "line_pair_panels", "coltman_ctf",
           "spline5_transfer"]


@dataclass(frozen=True)
class LinePairGroupResult:
    """One bar group. ``modulation`` = (mean bar-centre value - mean gap-centre value) / bar contrast;
    ``modulation_sd`` its noise SD from the null copies (NaN when none fitted); ``ctf_predicted`` the Coltman
    CTF from the given MTF (None without one); ``interpolation_transfer`` the quintic-spline reading's
    phase-averaged transfer at the group's frequency and direction; ``profile_t_mm`` / ``profile_hu`` the
    line-averaged profile across the bars (middle slice), t = 0 at the group centre after alignment;
    ``path_px`` the two ends ((row, col), (row, col)) of the central sampling line in the middle slice."""

    lp_per_cm: float
    n_bars: int
    modulation: float
    modulation_sd: float
    ctf_predicted: float | None
    interpolation_transfer: float
    below_nyquist: bool
    resolved: bool
    peaks_hu: tuple[float, ...]
    valleys_hu: tuple[float, ...]
    shift_mm: float
    profile_t_mm: np.ndarray
    profile_hu: np.ndarray
    path_px: tuple[tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class LinePairResult:
    """All groups, the limiting group (None, with a warning, when none is resolved), the measured bar contrast
    and background, the alignment found, the parameters and warnings."""

    groups: tuple[LinePairGroupResult, ...]
    limiting_lp_per_cm: Quantity | None
    bar_contrast_hu: Quantity
    background_hu: float
    alignment: dict
    criterion: str
    parameters: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def coltman_ctf(f_lp_per_cm: float, frequencies_lp_per_cm: np.ndarray, mtf: np.ndarray) -> float:
    """Square-wave contrast transfer 4/pi sum_k (-1)^k MTF((2k+1) f)/(2k+1) from a tabulated MTF (0 beyond it).

    Example
    -------
    >>> f = np.linspace(0, 20, 2001)
    >>> round(coltman_ctf(5.0, f, np.exp(-2 * np.pi ** 2 * 0.04 ** 2 * f ** 2)), 4)  # sigma 0.4 mm in cm
    0.5778
    """
    fr = np.asarray(frequencies_lp_per_cm, dtype=np.float64)
    m = np.asarray(mtf, dtype=np.float64)
    total = 0.0
    k = 0
    while (2 * k + 1) * f_lp_per_cm <= fr[-1]:
        fk = (2 * k + 1) * f_lp_per_cm
        total += (-1) ** k * float(np.interp(fk, fr, m)) / (2 * k + 1)
        k += 1
    return 4.0 / math.pi * total


def spline5_transfer(nu: np.ndarray | float) -> np.ndarray:
    """Phase-averaged transfer of quintic B-spline interpolation at nu cycles per pixel along one axis:
    sinc^6(nu) / ((66 + 52 cos 2 pi nu + 2 cos 4 pi nu) / 120)."""
    nu = np.asarray(nu, dtype=np.float64)
    den = (66.0 + 52.0 * np.cos(2 * np.pi * nu) + 2.0 * np.cos(4 * np.pi * nu)) / 120.0
    return np.sinc(nu) ** 6 / den


class _Reader:
    """Quintic B-spline reader of one image (kernel ``_spline5_eval``) on a prefiltered crop around the bar ring.

    Points are given in the phantom frame as (angle a of e_r, radius r, offsets u along e_r, t along e_t):
    (r + u) e_r + t e_t; ``a`` may be an array (copies of one pattern rotated about the centre)."""

    def __init__(self, imgs: list[np.ndarray], cr: float, cc: float, sy: float, sx: float, r_max_mm: float):
        """``imgs``: one image, or several (same centre) that are averaged over the crop before the prefilter."""
        self.sy, self.sx, self.cr, self.cc = sy, sx, cr, cc
        pad = 6
        shape = imgs[0].shape
        r0 = max(0, int(math.floor(cr - r_max_mm / sy)) - pad)
        r1 = min(shape[0], int(math.ceil(cr + r_max_mm / sy)) + pad + 1)
        c0 = max(0, int(math.floor(cc - r_max_mm / sx)) - pad)
        c1 = min(shape[1], int(math.ceil(cc + r_max_mm / sx)) + pad + 1)
        self.r0, self.c0 = r0, c0
        crop = np.asarray(imgs[0][r0:r1, c0:c1], dtype=np.float64)
        if len(imgs) > 1:
            crop = crop.copy()
            for im in imgs[1:]:
                crop += im[r0:r1, c0:c1]
            crop /= len(imgs)
        self.coef = ndimage.spline_filter(crop, order=5, mode="mirror")

    def points(self, a, r: float, u: np.ndarray, t: np.ndarray):
        """(rows, cols) in the crop, shape (n_a, n_u, n_t) (n_a = 1 for a scalar angle)."""
        a = np.atleast_1d(np.asarray(a, dtype=np.float64))[:, None, None]
        ca, sa = np.cos(a), np.sin(a)
        ru = (r + np.asarray(u, dtype=np.float64))[None, :, None]
        tt = np.asarray(t, dtype=np.float64)[None, None, :]
        x = ru * ca - tt * sa
        y = ru * sa + tt * ca
        return self.cr + y / self.sy - self.r0, self.cc + x / self.sx - self.c0

    def read(self, a, r: float, u: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Values, shape (n_a, n_u, n_t); NaN where the spline support leaves the crop."""
        return self.read_many([(a, r, u, t)])[0]

    def read_many(self, specs) -> list[np.ndarray]:
        """``read`` for several (a, r, u, t) specs in one kernel call."""
        pts = [self.points(*sp) for sp in specs]
        rows = np.concatenate([p[0].ravel() for p in pts])
        cols = np.concatenate([p[1].ravel() for p in pts])
        out = np.empty(rows.size)
        _kernels._spline5_eval(self.coef, rows, cols, out)
        res, i = [], 0
        for p in pts:
            res.append(out[i:i + p[0].size].reshape(p[0].shape))
            i += p[0].size
        return res


def _pattern(g: LinePairGroup) -> tuple[np.ndarray, np.ndarray, float, float]:
    w = g.bar_width_mm
    n = g.n_bars
    bars = (np.arange(n) - (n - 1) / 2.0) * 2.0 * w
    gaps = 0.5 * (bars[1:] + bars[:-1])
    return bars, gaps, w, (2 * n - 1) * w


def _phase_shift(t: np.ndarray, prof: np.ndarray, g: LinePairGroup, max_shift: float) -> float | None:
    """Shift (mm) of the group's bar pattern along t from the phase of the profile's fundamental over n whole
    periods centred on the current estimate (iterated): for p(t) ~ cos(pi (t - s) / w) (a bar at the centre)
    the coefficient z = sum p exp(-i pi (t - s0) / w) has arg z = -pi (s - s0) / w."""
    _, _, w, _ = _pattern(g)
    n = g.n_bars
    if not np.all(np.isfinite(prof)):
        return None
    s = 0.0
    for _ in range(4):
        m = np.abs(t - s) <= n * w
        if m.sum() < 8:
            return None
        z = np.sum((prof[m] - prof[m].mean()) * np.exp(-1j * np.pi * (t[m] - s) / w))
        if n % 2 == 0:
            z = -z  # an even number of bars has a gap at the centre
        if not abs(z) > 0:
            return None
        ds = -float(np.angle(z)) * w / np.pi
        s += ds
        if abs(s) > max_shift:
            return None
        if abs(ds) < 1e-4:
            break
    return s


def _read_positions(bars: np.ndarray, gaps: np.ndarray, w: float) -> np.ndarray:
    """Read positions along t: the bar centres, the gap centres, then the 2 n bar/gap boundaries."""
    bounds = np.sort(np.concatenate([bars - w / 2.0, bars + w / 2.0]))  # bar k: [2k, 2k+1]; gap j: [2j+1, 2j+2]
    return np.concatenate([bars, gaps, bounds])


def _modulation(v: np.ndarray, n_bars: int, n_gaps: int, contrast: float) -> np.ndarray:
    """M from the values at ``_read_positions`` (last axis): each bar or gap centre minus the mean of its two
    boundaries (the local mean over one period, which carries neither the fundamental nor any odd harmonic of
    the pattern), mean over bars minus mean over gaps, over the contrast."""
    pk = v[..., :n_bars]
    vl = v[..., n_bars:n_bars + n_gaps]
    b = v[..., n_bars + n_gaps:]
    loc_pk = 0.5 * (b[..., 0::2] + b[..., 1::2])  # bar k lies between boundaries 2k and 2k+1
    loc_vl = 0.5 * (b[..., 1:-1:2] + b[..., 2::2])  # gap j lies between boundaries 2j+1 and 2j+2
    return (np.mean(pk - loc_pk, axis=-1) - np.mean(vl - loc_vl, axis=-1)) / contrast


def analyze_line_pairs(slices, spacing_mm, centers_px, roll_deg: float, groups: Sequence[LinePairGroup], *,
                       mtf=None, n_lines: int = 7, max_slices: int = 3, min_modulation: float = 0.05,
                       k_sigma: float = 3.0) -> LinePairResult:
    """Bar modulation of every line-pair group and the limiting group.

    Parameters
    ----------
    slices : sequence of (y, x) arrays
        Slices of the line-pair module (HU).
    spacing_mm : (row, col) pixel spacing in mm.
    centers_px : one (row, col) phantom-axis position per slice.
    roll_deg : phantom roll (degrees, clockwise on the screen), added to every group angle.
    groups : the module's ``LinePairGroup`` s (``geometry``).
    mtf : CTMTFResult, optional
        When given, the Coltman CTF predicted from it is recorded per group.
    n_lines : number of lines across the bars, spread over the bars' central length, that are averaged.
    max_slices : at most this many slices (the middle ones) are averaged (0: all).
    min_modulation, k_sigma : the resolution criterion (module docstring, step 7).

    Returns
    -------
    LinePairResult

    Notes
    -----
    ``M = (mean_k [p(t_k) - pbar(t_k)] - mean_j [p(g_j) - pbar(g_j)]) / C`` with t_k the bar centres, g_j the gap
    centres, ``pbar(x) = (p(x - w/2) + p(x + w/2)) / 2`` the local mean over one period (for a periodic pattern
    it is the mean level, and M reduces to (bar - gap) / C; for the few bars of a group it removes the fall-off
    of the blurred group's envelope, which otherwise drives M of an unresolved group below 0), and C the
    measured bar contrast; limiting group = highest f with
    every group f' <= f resolved (``M >= min_modulation``, ``M >= k_sigma sigma_M``, f below the directional
    Nyquist limit). For a square-wave pattern ``M ~ CTF(f) = 4/pi sum_k (-1)^k MTF((2k+1) f)/(2k+1)``.

    References
    ----------
    Coltman, J. Opt. Soc. Am. 44 (1954) 468; AAPM Report 233 (2019).
    """
    if isinstance(slices, np.ndarray) and slices.ndim == 2:
        slices = [slices]
    imgs = [np.asarray(s) for s in slices]
    cents = [(float(c[0]), float(c[1])) for c in centers_px]
    if not imgs or len(cents) != len(imgs):
        raise InputError(f"analyze_line_pairs: {len(imgs)} slices and {len(cents)} centres; give one (row, col) "
                         "centre per slice, at least one slice")
    groups = sorted(groups, key=lambda g: g.lp_per_cm)
    if not groups:
        raise InputError("analyze_line_pairs: no line-pair groups given (geometry Module.line_pairs)")
    sy, sx = (float(v) for v in spacing_mm)
    warnings: list[str] = []
    order = list(range(len(imgs)))
    if max_slices and len(imgs) > max_slices:
        mid = (len(imgs) - 1) / 2.0
        order = sorted(sorted(order, key=lambda i: (abs(i - mid), i))[:max_slices])
    i_mid = order[len(order) // 2]
    r_max = max(g.r_outer_mm for g in groups) + 4.0
    # slices whose centres agree within 0.05 px (no tilt) are averaged before reading: one prefilter, same result
    spread = max(max(abs(cents[k][0] - cents[i_mid][0]), abs(cents[k][1] - cents[i_mid][1])) for k in order)
    if spread <= 0.05:
        readers = [_Reader([imgs[k] for k in order], cents[i_mid][0], cents[i_mid][1], sy, sx, r_max)]
    else:
        readers = [_Reader([imgs[k]], cents[k][0], cents[k][1], sy, sx, r_max) for k in order]
    rd = readers[len(readers) // 2]
    n_avg = len(readers)  # the null copies are read on one reader: its noise is that of 1 / n_avg of the average

    # line offsets across the bars' central length (bar ends 2.5 mm clear)
    half_len = max(min((g.r_outer_mm - g.r_inner_mm) / 2.0 for g in groups) - 2.5, 0.0)
    us = np.linspace(-half_len, half_len, max(int(n_lines), 1)) if half_len > 0 else np.zeros(1)
    us3 = us[np.unique(np.linspace(0, us.size - 1, min(3, us.size)).round().astype(int))]

    def dense_t(w, L, margin):
        step = min(0.1, w / 8.0)
        n = int(math.ceil((L / 2.0 + margin) / step))
        return np.arange(-n, n + 1) * step

    # per group: angle of e_r, mid radius, bar / gap centres, bar width, extent, read positions
    info = []
    for g in groups:
        bars, gaps, w, L = _pattern(g)
        info.append((math.radians(g.angle_deg + roll_deg), 0.5 * (g.r_inner_mm + g.r_outer_mm), bars, gaps, w, L,
                     _read_positions(bars, gaps, w)))

    # ---- dense profiles (display, self-alignment, contrast) and background, on the middle reader -------------------
    max_shift = 1.5
    t_dense = [dense_t(w, L, w / 2.0 + max_shift) for (_, _, _, _, w, L, _) in info]
    g0 = groups[0]
    a0, rm0, _, _, w0, L0, _ = info[0]
    bl = (g0.r_outer_mm - g0.r_inner_mm) / 2.0 + 3.0
    got = rd.read_many([(a, rm, us3, t) for (a, rm, *_), t in zip(info, t_dense)]
                       + [(a0, rm0, np.array([-bl, bl]), t_dense[0])])
    dense = [v[0].mean(axis=0) for v in got[:-1]]
    bgv = got[-1][0]
    background = float(np.nanmean(bgv))
    bg_sd = float(np.nanstd(bgv))
    t0 = t_dense[0]
    sel = np.abs(t0) <= L0 / 2.0 + 1.5
    contrast = float(np.sum(dense[0][sel] - background) * (t0[1] - t0[0]) / (g0.n_bars * w0))
    if not (abs(contrast) > 0 and np.isfinite(contrast)):
        warnings.append("ct.line_pairs: not evaluated: no bar contrast found in the widest group (is the module "
                        "in the image, and the centre right?)")
        contrast = float("nan")

    # ---- noise SD of M per group: rigid rotations of the read pattern onto a ring inside the bars --------------------
    r_null = min(g.r_inner_mm for g in groups) - 2.0 - half_len - 1.0
    specs, n_cps = [], []
    for (a, _, bars, gaps, w, L, tp) in info:
        n_cp = int(min(8, math.floor(2 * math.pi * r_null / (L + 2.0 + 2 * w)))) if r_null - half_len > 2.0 else 0
        n_cps.append(n_cp)
        if n_cp >= 3:
            specs.append((a + math.pi / n_cp + 2 * math.pi * np.arange(n_cp) / n_cp, r_null, us, tp))
    got = iter(rd.read_many(specs)) if specs else iter(())
    sd_M = []
    for (_, _, bars, gaps, *_), n_cp in zip(info, n_cps):
        if n_cp < 3:
            sd_M.append(float("nan"))
            continue
        v = next(got).mean(axis=1)  # (n_cp, n_points)
        ms = _modulation(v[np.all(np.isfinite(v), axis=1)], bars.size, gaps.size, contrast)
        ok = ms.size >= 3 and np.isfinite(contrast)
        sd_M.append(1.4826 * float(np.median(np.abs(ms))) / math.sqrt(n_avg) if ok else float("nan"))

    # ---- alignment: self-phase of each group; a global (roll, centre) model for the others -------------------------
    def below_nyquist(g, a):  # the group's frequency vector f e_t inside the pixel grid's Nyquist square
        f_mm = g.lp_per_cm / 10.0
        return f_mm * abs(math.sin(a)) < 0.5 / sx and f_mm * abs(math.cos(a)) < 0.5 / sy

    below = [below_nyquist(g, inf[0]) for g, inf in zip(groups, info)]
    self_shift = [_phase_shift(t, p, g, max_shift) if b else None
                  for g, t, p, b in zip(groups, t_dense, dense, below)]
    fit_i = [i for i, g in enumerate(groups) if g.bar_width_mm >= 1.0 and self_shift[i] is not None]
    align = {"dtheta_deg": 0.0, "dx_mm": 0.0, "dy_mm": 0.0, "n_groups": len(fit_i), "rms_mm": float("nan")}
    if fit_i:
        angs = np.array([info[i][0] for i in fit_i])
        rmids = np.array([info[i][1] for i in fit_i])
        s_arr = np.array([self_shift[i] for i in fit_i])
        A = np.column_stack([rmids, -np.sin(angs), np.cos(angs)])
        # weighted least squares with weak priors (roll 1 deg, centre 0.2 mm; shifts good to 0.01 mm): well
        # conditioned even when the groups used span a short arc
        prior = np.array([1.0 / math.radians(1.0), 1.0 / 0.2, 1.0 / 0.2])
        sol = np.linalg.solve(A.T @ A / 0.01 ** 2 + np.diag(prior ** 2), A.T @ s_arr / 0.01 ** 2)
        res = s_arr - A @ sol
        align.update({"dtheta_deg": math.degrees(sol[0]), "dx_mm": float(sol[1]), "dy_mm": float(sol[2]),
                      "rms_mm": float(np.sqrt(np.mean(res ** 2)))})
        if align["rms_mm"] > 0.1:
            warnings.append(f"ct.line_pairs: the groups' positions scatter by {align['rms_mm']:.2f} mm RMS about the "
                            "fitted roll and centre")
    else:
        warnings.append("ct.line_pairs: no group with bars >= 1 mm wide could be located; groups that cannot "
                        "locate themselves are read at their nominal positions")
    dth = math.radians(align["dtheta_deg"])
    model_shift = [rm * dth - align["dx_mm"] * math.sin(a) + align["dy_mm"] * math.cos(a) for (a, rm, *_) in info]

    # ---- modulation, averaged over the readers, at the self shift if it is trustworthy, else the model shift --------
    def m_batch(idx, shifts):
        vals = [r.read_many([(info[i][0], info[i][1], us, info[i][6] + sh) for i, sh in zip(idx, shifts)])
                for r in readers]
        res = {}
        for j, i in enumerate(idx):
            v = np.mean([vr[j][0].mean(axis=0) for vr in vals], axis=0)
            nb, ng = info[i][2].size, info[i][3].size
            res[i] = (float(_modulation(v, nb, ng, contrast)), v[:nb], v[nb:nb + ng])
        return res

    cand = [ss if ss is not None and abs(ss - model_shift[i]) <= info[i][4] / 2.0 else None
            for i, ss in enumerate(self_shift)]
    first = m_batch(list(range(len(groups))), [c if c is not None else model_shift[i] for i, c in enumerate(cand)])
    # a group locates itself only where its modulation is far above the noise (else its phase is noise)
    redo = [i for i, c in enumerate(cand) if c is not None and not (
        np.isfinite(first[i][0]) and (first[i][0] >= 5.0 * sd_M[i] if np.isfinite(sd_M[i]) else first[i][0] >= 0.1))]
    second = m_batch(redo, [model_shift[i] for i in redo]) if redo else {}
    out: list[LinePairGroupResult] = []
    mtf_f = None if mtf is None or getattr(mtf, "mtf", np.zeros(0)).size == 0 else np.asarray(mtf.frequencies_lp_per_cm)
    n_self = 0
    for gi, g in enumerate(groups):
        a, rm, bars, gaps, w, L, _ = info[gi]
        if gi in second:
            (M, pk, vl), s_used = second[gi], model_shift[gi]
        else:
            (M, pk, vl), s_used = first[gi], (cand[gi] if cand[gi] is not None else model_shift[gi])
            n_self += cand[gi] is not None
        et = (-math.sin(a), math.cos(a))
        f_mm = g.lp_per_cm / 10.0
        T = float(spline5_transfer(f_mm * abs(et[0]) * sx) * spline5_transfer(f_mm * abs(et[1]) * sy))
        resolved = bool(below[gi] and np.isfinite(M) and M >= min_modulation
                        and (not np.isfinite(sd_M[gi]) or M >= k_sigma * sd_M[gi]))
        ctf = coltman_ctf(g.lp_per_cm, mtf_f, mtf.mtf) if mtf_f is not None else None
        t = t_dense[gi]
        ends = [(rd.cr + (rm * math.sin(a) + tt * math.cos(a)) / sy, rd.cc + (rm * math.cos(a) - tt * math.sin(a)) / sx)
                for tt in (t[0] + s_used, t[-1] + s_used)]
        path = (ends[0], ends[1])
        out.append(LinePairGroupResult(float(g.lp_per_cm), int(g.n_bars), M, sd_M[gi], ctf, T, bool(below[gi]),
                                       resolved, tuple(float(v) for v in pk), tuple(float(v) for v in vl),
                                       float(s_used), t - s_used, dense[gi], path))
    align["n_self_aligned"] = int(n_self)
    limiting = None
    for gr in out:
        if not gr.resolved:
            break
        limiting = gr.lp_per_cm
    if limiting is None:
        warnings.append("ct.line_pairs.limiting_lp_per_cm: not evaluated: the lowest-frequency group is not "
                        "resolved by the criterion")
    elif limiting == out[-1].lp_per_cm:
        warnings.append(f"ct.line_pairs: every group up to the highest ({limiting:g} lp/cm) is resolved; the "
                        "limiting resolution may be higher than the phantom can show")
    above = [gr.lp_per_cm for gr in out if not gr.below_nyquist]
    if above:
        warnings.append(f"ct.line_pairs: groups {', '.join(f'{f:g}' for f in above)} lp/cm are at or above the "
                        "Nyquist limit of the pixel grid in their direction and are not counted as resolved")
    criterion = (f"M >= {min_modulation:g} and M >= {k_sigma:g} sigma_M (noise SD of M from null copies), group "
                 "below the directional Nyquist limit; limiting = highest group with it and all lower groups "
                 "resolved")
    params = {"spacing_mm": (sy, sx), "roll_deg": float(roll_deg), "n_lines": int(us.size),
              "line_offsets_mm": [float(v) for v in us], "slices_used": order, "max_slices": int(max_slices),
              "min_modulation": float(min_modulation), "k_sigma": float(k_sigma), "interpolation": "quintic B-spline",
              "background_sd_hu": bg_sd}
    return LinePairResult(tuple(out), None if limiting is None else Quantity(limiting, "lp/cm"),
                          Quantity(contrast, "HU"), background, align, criterion, params, tuple(warnings))


def line_pair_panels(result: LinePairResult, image, spacing_mm) -> tuple:
    """Figure specifications: the module image with each group's sampling line (green: resolved), the
    modulation per group against frequency (with the predicted CTF and the noise floor), and the profiles."""
    overlays = []
    for g in result.groups:
        (r0, c0), (r1, c1) = g.path_px
        overlays.append(LineOverlay((r0, r1), (c0, c1), label=f"{g.lp_per_cm:g}",
                                    color="tab:green" if g.resolved else "tab:red"))
    panel = ImagePanel("Line pairs: groups read", image, tuple(overlays), spacing_mm=tuple(spacing_mm))
    f = np.array([g.lp_per_cm for g in result.groups])
    curves = [Curve(f, np.array([g.modulation for g in result.groups]), label="measured M", style="points")]
    sd = np.array([g.modulation_sd for g in result.groups])
    k = float(result.parameters.get("k_sigma", 3.0))
    if np.any(np.isfinite(sd)):
        curves.append(Curve(f, k * sd, label=f"{k:g} x noise SD", style="step"))
    if all(g.ctf_predicted is not None for g in result.groups):
        curves.append(Curve(f, np.array([g.ctf_predicted for g in result.groups]), label="CTF from the MTF"))
    refs = [Band("y", float(result.parameters.get("min_modulation", 0.05)), "criterion")]
    if result.limiting_lp_per_cm is not None:
        refs.append(Band("x", result.limiting_lp_per_cm.value, "limiting"))
    mplot = Plot("Bar modulation", tuple(curves), "spatial frequency (lp/cm)", "M", refs=tuple(refs),
                 notes=(result.criterion,))
    prof_curves = tuple(Curve(g.profile_t_mm, g.profile_hu, label=f"{g.lp_per_cm:g} lp/cm")
                        for g in result.groups)
    pplot = Plot("Bar profiles (across the bars)", prof_curves, "t (mm)", "HU")
    return panel, mplot, pplot
