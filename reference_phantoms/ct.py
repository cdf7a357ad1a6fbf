"""Reference CT phantoms (CatPhan 504/600/604, ACR 464, 20 cm water) as CT series with exact ground truth.

* :func:`render_slice` -- the noise-free float32 HU image of one axial slice (for analyzer unit tests).
* :func:`ct_series` -- a whole series (noise, quantisation, roll / shift / tilt / couch / offset / cupping /
  partial scans / overlapping slices) with its truth (``expected[]`` entries with the ids of docs/ct_design.md;
  definitions in :data:`DEFINITIONS`).
* :func:`make_ct_series`, :func:`make_ct_suite`, :data:`CT_PHANTOMS` -- write CT Image Storage series
  (``series/CT0001.dcm``...), ``truth.json`` ("phantomqc.truth/1") and ``manifest.toml`` (ws519-2019).

Rendering model
---------------
* In-plane: each module's z-invariant cross-section (body disc, wall, inserts, holes, bars, low-contrast rods) is
  the continuous object convolved with an isotropic Gaussian PSF of ``psf_sigma_mm``, POINT-SAMPLED at the pixel
  centres. The PSF is split in two Gaussians: one of sigma_d = sigma / sqrt(2) drawn
  analytically with every edge (a rectangle: a product of erf steps, exact; a disc: the non-central chi-square
  cdf of the distance to its centre, exact, or beyond 50 sigma_d radius the erf with the curvature shift
  sigma_d^2 / 2r, < 3e-5 of the contrast) on a grid 4x (or more: fine
  spacing h <= 0.49 sigma) finer than the pixels, and the rest (variance sigma^2 - sigma_d^2) applied in Fourier
  space. What the fine sampling folds back is then below exp(-pi^2 sigma^2 / (2 h^2)) < 2e-9 of the contrast
  (a box-coverage drawing would alias: 0.1 % of an edge's contrast). The spectrum is folded
  onto the coarse grid (every F-th fine pixel is a coarse pixel centre) and inverted. Centre offsets are drawn
  at the nearest 2 mm step and the remainder is a Fourier phase ramp (exact for the band-limited object); the
  fine grid is padded by 6 sigma + 2 mm so that nothing wraps into the image. A straight edge is the erf of the
  PSF to < 0.01 % of its contrast (tests/phantoms/test_ct_phantoms.py).
* Through-plane: the slice sensitivity profile (SSP, :class:`SliceProfile`) has FWHM = the thickness. A slice is
  the SSP-weighted mix of the module cross-sections it overlaps (module boundaries are planes at z_min/z_max;
  outside every module there is air).
* Wire ramps: see :func:`_add_ramps`; the bead: see :func:`_add_beads`.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import scipy.fft as sfft
from scipy.optimize import brentq
from scipy.special import chndtr, ndtr

from phantomqc.ct.geometry import RAMP_FACTOR, CTPhantom, Module, get_phantom, point_mm
from reference_phantoms._writing import json_default, toml_value

__all__ = ["SliceProfile", "slice_profile", "render_slice", "AIR_HU", "BEAD_LENGTH_MM", "FINE_FACTOR",
           "CTPhantomSeries", "ct_series", "write_ct_series", "make_ct_series", "make_ct_suite", "ct_suite_specs",
           "CT_PHANTOMS", "DEFINITIONS", "noise_filter", "gaussian_mtf", "mtf_points_lp_per_cm", "bar_ctf",
           "ctdiw_mgy", "CTDI_READINGS", "bead_strength_hu_mm3"]

AIR_HU = -1000.0
#: The twin's bead has an integrated strength Q = hu x (pi d^2 / 4) x BEAD_LENGTH_MM (HU mm^3): a short rod of the
#: bead's cross-section. With the CatPhan bead of geometry.py (32000 HU, 0.28 mm) the peak is ~1960 HU in a 2.5 mm
#: slice centred on it.
BEAD_LENGTH_MM = 2.5
#: Fine-grid oversampling of the in-plane renderer.
FINE_FACTOR = 4
#: Centre offsets are drawn in steps of this size; the remainder (at most half of it) is a Fourier shift.
_SNAP_MM = 2.0
_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))

# ---------------------------------------------------------------------------------------------------------------
# Slice sensitivity profile


@dataclass(frozen=True)
class SliceProfile:
    """A slice sensitivity profile (SSP) along z.

    ``kind == "gaussian"``: ``s(z) = exp(-z^2 / (2 sigma^2))``. ``kind == "rect_gauss"``: a rectangle of width
    ``width_mm`` convolved with a Gaussian of ``sigma_mm``. ``fwhm_mm`` is the profile's computed FWHM.
    """

    kind: str
    width_mm: float
    sigma_mm: float
    fwhm_mm: float

    def peak_normalised(self, z: np.ndarray | float) -> np.ndarray:
        """s(z) / s(0): 1 at the slice centre."""
        z = np.asarray(z, dtype=float)
        if self.kind == "gaussian":
            return np.exp(-0.5 * (z / self.sigma_mm) ** 2)
        h = self.width_mm / 2.0
        p0 = ndtr(h / self.sigma_mm) - ndtr(-h / self.sigma_mm)
        return (ndtr((z + h) / self.sigma_mm) - ndtr((z - h) / self.sigma_mm)) / p0

    def density(self, z: np.ndarray | float) -> np.ndarray:
        """Area-normalised SSP (1/mm): the weight of an object at distance z from the slice centre."""
        z = np.asarray(z, dtype=float)
        if self.kind == "gaussian":
            return np.exp(-0.5 * (z / self.sigma_mm) ** 2) / (math.sqrt(2 * math.pi) * self.sigma_mm)
        h = self.width_mm / 2.0
        return (ndtr((z + h) / self.sigma_mm) - ndtr((z - h) / self.sigma_mm)) / self.width_mm

    def cdf(self, z: np.ndarray | float) -> np.ndarray:
        """Integral of :meth:`density` from -inf to z."""
        z = np.asarray(z, dtype=float)
        s = self.sigma_mm
        if self.kind == "gaussian":
            return ndtr(z / s)

        def psi(u):  # integral of Phi(t / s) dt from -inf to u
            return u * ndtr(u / s) + s * np.exp(-0.5 * (u / s) ** 2) / math.sqrt(2 * math.pi)

        h = self.width_mm / 2.0
        return (psi(z + h) - psi(z - h)) / self.width_mm

    def blurred_peak_normalised(self, z: np.ndarray | float, extra_sigma_mm: float) -> np.ndarray:
        """``peak_normalised`` convolved with a unit-area Gaussian of ``extra_sigma_mm`` (closed form)."""
        z = np.asarray(z, dtype=float)
        st = math.hypot(self.sigma_mm, extra_sigma_mm)
        if self.kind == "gaussian":
            return (self.sigma_mm / st) * np.exp(-0.5 * (z / st) ** 2)
        h = self.width_mm / 2.0
        p0 = ndtr(h / self.sigma_mm) - ndtr(-h / self.sigma_mm)
        return (ndtr((z + h) / st) - ndtr((z - h) / st)) / p0

    @property
    def support_mm(self) -> float:
        """Half-width beyond which the profile is < 1e-12 of its peak."""
        return self.width_mm / 2.0 + 7.5 * self.sigma_mm


def _rect_gauss_fwhm(width: float, sigma: float) -> float:
    h = width / 2.0
    peak = ndtr(h / sigma) - ndtr(-h / sigma)
    f = lambda z: ndtr((z + h) / sigma) - ndtr((z - h) / sigma) - 0.5 * peak  # noqa: E731
    return 2.0 * brentq(f, 0.0, h + 10 * sigma, xtol=1e-13)


def slice_profile(thickness_mm: float) -> SliceProfile:
    """The twin's SSP for a slice of FWHM ``thickness_mm``.

    Gaussian (FWHM = T) for T < 2 mm; otherwise a rectangle convolved with a Gaussian of FWHM 0.2 T, the
    rectangle's width solved (brentq) so that the composite FWHM equals T to 1e-9 mm.
    """
    t = float(thickness_mm)
    if not (0.1 <= t <= 20.0):
        raise ValueError(f"thickness_mm must be in [0.1, 20] mm, got {thickness_mm!r}")
    if t < 2.0:
        return SliceProfile("gaussian", 0.0, t / _FWHM_PER_SIGMA, t)
    sigma = 0.2 * t / _FWHM_PER_SIGMA
    width = brentq(lambda w: _rect_gauss_fwhm(w, sigma) - t, 0.3 * t, t, xtol=1e-13)
    return SliceProfile("rect_gauss", width, sigma, _rect_gauss_fwhm(width, sigma))


# ---------------------------------------------------------------------------------------------------------------
# In-plane rendering


@dataclass(frozen=True)
class _Grid:
    """The coarse image grid, and the padded fine grid the cross-sections are drawn on.

    The fine grid has ``F`` fine pixels per coarse pixel (at least FINE_FACTOR; more when the PSF is narrow
    compared with the pixel, so that the fine spacing h is <= 0.49 sigma). It extends ``pad`` coarse pixels beyond
    the image on every side (more on the far sides, to an FFT-friendly size): at least 6 PSF sigmas plus the
    largest residual shift, so that neither the periodic blur nor the residual Fourier shift wraps anything into
    the image. Fine pixel (i, j) is at y = (i - F pad_y) hy, x = (j - F pad_x) hx (mm from the top-left image
    pixel centre).
    """

    shape: tuple[int, int]
    spacing: tuple[float, float]  # (row = y, col = x), mm
    psf_sigma: float

    @property
    def F(self) -> int:
        return max(FINE_FACTOR, int(math.ceil(max(self.spacing) / (0.49 * self.psf_sigma) - 1e-9)))

    @property
    def pad(self) -> tuple[int, int]:
        m = 6.0 * self.psf_sigma + _SNAP_MM + 1.0
        return (int(math.ceil(m / self.spacing[0])), int(math.ceil(m / self.spacing[1])))

    @property
    def padded_shape(self) -> tuple[int, int]:
        py, px = self.pad
        return (sfft.next_fast_len(self.shape[0] + 2 * py, real=True),
                sfft.next_fast_len(self.shape[1] + 2 * px, real=True))

    @property
    def fine_shape(self):
        ny, nx = self.padded_shape
        return (ny * self.F, nx * self.F)

    @property
    def fine_origin(self) -> tuple[int, int]:
        return (self.pad[0] * self.F, self.pad[1] * self.F)

    @property
    def h(self):  # fine spacing (y, x)
        return (self.spacing[0] / self.F, self.spacing[1] / self.F)

    @property
    def sigma_draw(self) -> float:
        """The part of the PSF drawn analytically with the edges (the rest is applied in Fourier space).

        sigma_d = sigma / sqrt(2) maximises the suppression of what the fine sampling folds back: an alias at
        output frequency f comes from 1/h - f, weighted by exp(-2 pi^2 (sigma_d^2 (1/h - f)^2 + (sigma^2 -
        sigma_d^2) f^2)), whose largest value is exp(-pi^2 sigma^2 / (2 h^2)) here: < 2e-9 with h <= 0.49 sigma.
        """
        return self.psf_sigma / math.sqrt(2.0)

    @property
    def centre_mm(self):  # (x, y) of the image centre, mm from the top-left pixel centre
        return ((self.shape[1] - 1) * self.spacing[1] / 2.0, (self.shape[0] - 1) * self.spacing[0] / 2.0)


def _box(grid: _Grid, x0, x1, y0, y1):
    """Fine-grid index slices and coordinates (mm) of the box [x0, x1] x [y0, y1] (mm), clipped."""
    hy, hx = grid.h
    ny, nx = grid.fine_shape
    oy, ox = grid.fine_origin
    i0 = max(0, int(math.floor(y0 / hy)) + oy - 1)
    i1 = min(ny, int(math.ceil(y1 / hy)) + oy + 2)
    j0 = max(0, int(math.floor(x0 / hx)) + ox - 1)
    j1 = min(nx, int(math.ceil(x1 / hx)) + ox + 2)
    if i0 >= i1 or j0 >= j1:
        return None
    y = ((np.arange(i0, i1) - oy) * hy)[:, None]
    x = ((np.arange(j0, j1) - ox) * hx)[None, :]
    return (slice(i0, i1), slice(j0, j1)), x, y


def _disc_profile(rr, r, sa):
    """A disc of radius r blurred by an isotropic Gaussian of sa, at distance rr from its centre, exactly:
    P(|N((rr, 0), sa^2 I)| <= r) = chndtr((r / sa)^2, 2, (rr / sa)^2) (non-central chi-square cdf).

    Evaluated on a radial table of 1201 points over [r - 9 sa, r + 9 sa] and linearly interpolated (table step
    sa / 67: interpolation error < 1e-5); 1 inside and 0 outside the table (< 1e-18 away). Discs larger than
    50 sa (the phantom body, the couch) use the curvature-corrected erf below (chndtr is slow there)."""
    if r > 50.0 * sa:
        # large disc: the erf of the distance with the curvature shift sa^2 / (2 r) (the blurred disc's
        # half-value contour): error < 3e-5 of the contrast at r = 50 sa, falling as (sa / r)^2
        out = (rr < r).astype(np.float64)
        band = np.abs(rr - r) < 9.0 * sa  # elsewhere the erf is 0 or 1 to < 1e-18
        out[band] = ndtr((r - sa * sa / (2.0 * r) - rr[band]) / sa)
        return out
    lo, hi = max(0.0, r - 9.0 * sa), r + 9.0 * sa
    t = np.linspace(lo, hi, 1201)
    prof = chndtr((r / sa) ** 2, 2, (t / sa) ** 2)
    return np.interp(rr, t, prof, left=1.0 if lo > 0 else float(prof[0]), right=0.0)


def _draw_disc(img, grid: _Grid, cx, cy, r, value):
    """Add ``value`` x the Gaussian(sigma_draw)-blurred disc (centre (cx, cy) mm, radius r), point-sampled."""
    sa = grid.sigma_draw
    e = r + 8.0 * sa
    b = _box(grid, cx - e, cx + e, cy - e, cy + e)
    if b is None:
        return
    sl, x, y = b
    img[sl] += value * _disc_profile(np.sqrt((x - cx) ** 2 + (y - cy) ** 2), r, sa)


def _draw_rect(img, grid: _Grid, cx, cy, half_u, half_v, ang_rad, value):
    """Add ``value`` x the Gaussian(sigma_draw)-blurred rectangle centred (cx, cy), half-sizes (half_u, half_v)
    along e_u = (cos a, sin a) and e_v = (-sin a, cos a): the product of two erf steps (exact: an isotropic
    Gaussian is separable in the rectangle's own axes)."""
    sa = grid.sigma_draw
    c, s = math.cos(ang_rad), math.sin(ang_rad)
    ex = abs(half_u * c) + abs(half_v * s) + 8.0 * sa
    ey = abs(half_u * s) + abs(half_v * c) + 8.0 * sa
    b = _box(grid, cx - ex, cx + ex, cy - ey, cy + ey)
    if b is None:
        return
    sl, x, y = b
    dx, dy = x - cx, y - cy
    u = dx * c + dy * s
    v = -dx * s + dy * c
    img[sl] += value * ((ndtr((half_u - u) / sa) - ndtr((-half_u - u) / sa))
                        * (ndtr((half_v - v) / sa) - ndtr((-half_v - v) / sa)))


def _draw_module(img, grid: _Grid, ph: CTPhantom, mod: Module, roll: float, cupping_hu: float,
                 offset=(0.0, 0.0)):
    """The cross-section of ``mod`` minus air (blurred by sigma_draw), centred at the image centre +
    ``offset``, on the fine grid."""
    x0, y0 = grid.centre_mm
    x0, y0 = x0 + offset[0], y0 + offset[1]
    R = ph.diameter_mm / 2.0
    bg = mod.background_hu
    if ph.wall_mm > 0:
        _draw_disc(img, grid, x0, y0, R, ph.wall_hu - AIR_HU)
        _draw_disc(img, grid, x0, y0, R - ph.wall_mm, bg - ph.wall_hu)
    else:
        _draw_disc(img, grid, x0, y0, R, bg - AIR_HU)
    if cupping_hu:
        # radial parabola -cupping (1 - r^2 / R_in^2) inside the inner disc (times its blurred indicator)
        r_in = R - ph.wall_mm
        sa = grid.sigma_draw
        e = r_in + 8.0 * sa
        sl, x, y = _box(grid, x0 - e, x0 + e, y0 - e, y0 + e)
        rr = np.sqrt((x - x0) ** 2 + (y - y0) ** 2)
        img[sl] += -cupping_hu * (1.0 - (rr / r_in) ** 2) * _disc_profile(rr, r_in, sa)
    for ins in mod.inserts:
        px, py = point_mm(ins.angle_deg, ins.distance_mm, roll)
        _draw_disc(img, grid, x0 + px, y0 + py, ins.diameter_mm / 2.0, ins.hu - bg)
    ca, sa_ = math.cos(math.radians(roll)), math.sin(math.radians(roll))
    for hole in mod.holes:
        px, py = hole.x_mm * ca - hole.y_mm * sa_, hole.x_mm * sa_ + hole.y_mm * ca
        _draw_disc(img, grid, x0 + px, y0 + py, hole.diameter_mm / 2.0, hole.hu - bg)
    for t in mod.targets:
        px, py = point_mm(t.angle_deg, t.distance_mm, roll)
        _draw_disc(img, grid, x0 + px, y0 + py, t.diameter_mm / 2.0, t.contrast_hu)
    for g in mod.line_pairs:
        a = math.radians(g.angle_deg + roll)
        r_mid = (g.r_inner_mm + g.r_outer_mm) / 2.0
        w = g.bar_width_mm
        er, et = (math.cos(a), math.sin(a)), (-math.sin(a), math.cos(a))
        for k in range(g.n_bars):
            t_off = (k - (g.n_bars - 1) / 2.0) * 2.0 * w
            cx = x0 + r_mid * er[0] + t_off * et[0]
            cy = y0 + r_mid * er[1] + t_off * et[1]
            _draw_rect(img, grid, cx, cy, (g.r_outer_mm - g.r_inner_mm) / 2.0, w / 2.0, a, g.hu)


def _draw_couch(img, grid: _Grid, top_mm: float):
    """A curved table top (radius 500 mm, concave up): 1.5 mm skins of +100 HU around a 12 mm foam core of
    -300 HU, its top surface ``top_mm`` below the image centre at the centre column, spanning the image width."""
    x0, y0 = grid.centre_mm
    rc = 500.0
    cy = y0 + top_mm - rc  # circle centre above
    hy, hx = grid.h
    ny, nx = grid.fine_shape
    ymin = y0 + top_mm - 60.0
    b = _box(grid, -nx * hx, nx * hx, ymin, y0 + top_mm + 20.0)
    if b is None:
        return
    sl, x, y = b
    dx, dy = x - x0, y - cy
    rr = np.sqrt(dx * dx + dy * dy)
    sa = grid.sigma_draw
    layers = ((0.0, 1.5, 100.0), (1.5, 13.5, -300.0), (13.5, 15.0, 100.0))
    below = (dy > 0).astype(float)
    for r0, r1, hu in layers:
        cov = _disc_profile(rr, rc + r1, sa) - _disc_profile(rr, rc + r0, sa)
        img[sl] += (hu - AIR_HU) * cov * below


class _LRU(OrderedDict):
    def __init__(self, maxsize):
        super().__init__()
        self.maxsize = maxsize

    def get_or(self, key, fn):
        if key in self:
            self.move_to_end(key)
            return self[key]
        val = fn()
        self.put(key, val)
        return val

    def put(self, key, val):
        self[key] = val
        self.move_to_end(key)
        while len(self) > self.maxsize:
            self.popitem(last=False)


_SPECTRA = _LRU(8)  # 8 x 17 MB (2048 x 1025 complex64) at most


def _transfer(grid: _Grid):
    """The rest of the PSF, a Gaussian of variance sigma^2 - sigma_draw^2, on the fine rfft2 grid (separable)."""
    hy, hx = grid.h
    ny, nx = grid.fine_shape
    fy = sfft.fftfreq(ny, d=hy)
    fx = sfft.rfftfreq(nx, d=hx)
    s2 = grid.psf_sigma ** 2 - grid.sigma_draw ** 2
    gy = np.exp(-2 * math.pi ** 2 * s2 * fy ** 2)
    gx = np.exp(-2 * math.pi ** 2 * s2 * fx ** 2)
    return gy, gx, fy, fx


def _blurred_spectrum(grid: _Grid, key, draw):
    """Cached fine spectrum of the blurred (object - air) cross-section drawn by ``draw(img, grid)``."""
    def make():
        img = np.zeros(grid.fine_shape, dtype=np.float64)
        draw(img, grid)
        spec = sfft.rfft2(img, workers=-1)
        gy, gx, _, _ = _transfer(grid)
        spec *= gy[:, None]
        spec *= gx[None, :]
        return spec.astype(np.complex64)  # storage: the rounding adds < 1e-4 HU to the sampled image
    return _SPECTRA.get_or((grid, key), make)


def _sample(grid: _Grid, spec, offset_xy=(0.0, 0.0)) -> np.ndarray:
    """Coarse image (float64) of the fine spectrum, shifted by ``offset_xy`` mm: the continuous blurred object
    sampled at the coarse pixel centres (every F-th fine pixel), cropped from the padded grid."""
    F = grid.F
    ny, nx = grid.padded_shape
    dx, dy = offset_xy
    if dx or dy:
        _, _, fy, fx = _transfer(grid)
        spec = spec * np.exp(-2j * math.pi * fy * dy)[:, None]
        spec *= np.exp(-2j * math.pi * fx * dx)[None, :]
    folded = spec.reshape(F, ny, spec.shape[1]).sum(axis=0)
    rows = sfft.ifft(folded, axis=0, workers=-1) / F
    full = sfft.irfft(rows, n=nx * F, axis=1, workers=-1)
    py, px = grid.pad
    return np.ascontiguousarray(full[py:py + grid.shape[0], ::F][:, px:px + grid.shape[1]])


def _resolve(phantom) -> CTPhantom:
    return get_phantom(phantom) if isinstance(phantom, str) else phantom


def _module_weights(ph: CTPhantom, ssp: SliceProfile, z_mm: float) -> list[tuple[Module, float]]:
    out = []
    for m in ph.modules:
        w = float(ssp.cdf(m.z_max_mm - z_mm) - ssp.cdf(m.z_min_mm - z_mm))
        if w > 1e-12:
            out.append((m, w))
    return out


def _add_ramps(img, grid: _Grid, mod: Module, ssp: SliceProfile, dz_mm: float, centre_xy, roll: float):
    """Add the wire ramps of ``mod`` for a slice ``dz_mm`` from the module offset (ramp z centre).

    Model: along the ramp direction u (mm from the ramp centre) the wire is at z_w(u) = z_c + sign u tan 23 deg;
    the slice shows intensity hu x s(sign u tan 23 - dz), s the SSP normalised to peak 1 (so its FWHM along u is
    FWHM(SSP) / tan 23), convolved along u with the in-plane Gaussian PSF (closed form: the SSP's Gaussian
    widened by sigma_psf x tan 23 in z). Across the wire the profile is the PSF: hu x exp(-v^2 / (2 sigma^2)).
    The wire's ends (length_mm) are a blurred window multiplied onto the along-wire profile (an approximation
    only where the profile is non-zero at the wire ends, i.e. slices > 8 mm from the ramp centre).
    """
    sig = grid.psf_sigma
    sy, sx = grid.spacing
    ny, nx = grid.shape
    for rp in mod.ramps:
        cxp, cyp = point_mm(rp.angle_deg, rp.distance_mm, roll)
        cx, cy = centre_xy[0] + cxp, centre_xy[1] + cyp
        a = math.radians(roll) + (0.0 if rp.direction == "x" else math.pi / 2)
        eu = (math.cos(a), math.sin(a))
        half = rp.length_mm / 2 + 6 * sig
        ext_x = abs(half * eu[0]) + 6 * sig
        ext_y = abs(half * eu[1]) + 6 * sig
        j0, j1 = max(0, int((cx - ext_x) / sx)), min(nx, int((cx + ext_x) / sx) + 2)
        i0, i1 = max(0, int((cy - ext_y) / sy)), min(ny, int((cy + ext_y) / sy) + 2)
        if i0 >= i1 or j0 >= j1:
            continue
        x = np.arange(j0, j1)[None, :] * sx - cx
        y = np.arange(i0, i1)[:, None] * sy - cy
        u = x * eu[0] + y * eu[1]
        v = -x * eu[1] + y * eu[0]
        zrel = rp.sign * u * RAMP_FACTOR - dz_mm
        along = ssp.blurred_peak_normalised(zrel, sig * RAMP_FACTOR)
        L2 = rp.length_mm / 2
        window = ndtr((u + L2) / sig) - ndtr((u - L2) / sig)
        img[i0:i1, j0:j1] += rp.hu * along * window * np.exp(-0.5 * (v / sig) ** 2)


def _add_beads(img, grid: _Grid, mod: Module, ssp: SliceProfile, z_mm: float, centre_xy, roll: float):
    """Add the module's beads: point sources of strength Q = hu (pi d^2 / 4) BEAD_LENGTH_MM (HU mm^3), weighted
    by the area-normalised SSP at the bead's z, blurred in-plane by the Gaussian PSF (analytic, point-sampled):
    value = Q SSP(z_bead - z) exp(-r^2 / (2 sigma^2)) / (2 pi sigma^2)."""
    sig = grid.psf_sigma
    sy, sx = grid.spacing
    ny, nx = grid.shape
    ca, sa = math.cos(math.radians(roll)), math.sin(math.radians(roll))
    for b in mod.beads:
        w = float(ssp.density(b.z_mm - z_mm))
        if w < 1e-12:
            continue
        q = b.hu * math.pi * b.diameter_mm ** 2 / 4.0 * BEAD_LENGTH_MM
        bx = centre_xy[0] + b.x_mm * ca - b.y_mm * sa
        by = centre_xy[1] + b.x_mm * sa + b.y_mm * ca
        ext = 8 * sig
        j0, j1 = max(0, int((bx - ext) / sx)), min(nx, int((bx + ext) / sx) + 2)
        i0, i1 = max(0, int((by - ext) / sy)), min(ny, int((by + ext) / sy) + 2)
        if i0 >= i1 or j0 >= j1:
            continue
        x = np.arange(j0, j1)[None, :] * sx - bx
        y = np.arange(i0, i1)[:, None] * sy - by
        img[i0:i1, j0:j1] += q * w * np.exp(-0.5 * (x * x + y * y) / sig ** 2) / (2 * math.pi * sig ** 2)


def bead_strength_hu_mm3(bead) -> float:
    """Integrated strength of a bead in the twin, HU mm^3 (see ``BEAD_LENGTH_MM``)."""
    return bead.hu * math.pi * bead.diameter_mm ** 2 / 4.0 * BEAD_LENGTH_MM


def couch_top_default_mm(ph: CTPhantom, center_offset_mm=(0.0, 0.0)) -> float:
    """Default distance of the couch top below the image centre: 3 mm under the phantom."""
    return ph.diameter_mm / 2.0 + float(center_offset_mm[1]) + 3.0


def render_slice(phantom, z_mm: float, *, shape=(512, 512), spacing_mm=(0.48828125, 0.48828125),
                 psf_sigma_mm: float = 0.4, thickness_mm: float = 2.5, roll_deg: float = 0.0,
                 center_offset_mm=(0.0, 0.0), hu_offset: float = 0.0, couch: bool = False,
                 couch_top_mm: float | None = None, cupping_hu: float = 0.0,
                 ssp: SliceProfile | None = None) -> np.ndarray:
    """Noise-free HU image (float32) of one axial slice of a CT phantom twin.

    Parameters
    ----------
    phantom : CTPhantom or str
        The phantom or its id (``phantomqc.ct.geometry.PHANTOMS``).
    z_mm : float
        Slice centre in the phantom frame (mm from the origin module's centre).
    shape : (rows, cols)
    spacing_mm : (row, col) pixel spacing, mm.
    psf_sigma_mm : float
        Standard deviation of the isotropic Gaussian in-plane PSF, mm (> 0).
    thickness_mm : float
        Nominal slice thickness = FWHM of the SSP (ignored if ``ssp`` is given).
    roll_deg : float
        Phantom roll (added to every angle, clockwise on the screen).
    center_offset_mm : (x, y)
        Phantom axis position relative to the image centre ((cols - 1) sx / 2, (rows - 1) sy / 2), mm.
    hu_offset : float
        Calibration offset added to every CT number, air included.
    couch : bool
        Draw a curved table top under the phantom (``couch_top_mm`` below the image centre; default 3 mm under
        the phantom).
    cupping_hu : float
        Known cupping: adds -cupping_hu (1 - r^2 / R_in^2) inside the phantom (R_in = inner radius).
    ssp : SliceProfile, optional
        Use this SSP instead of ``slice_profile(thickness_mm)``.

    Returns
    -------
    ndarray, float32, shape ``shape``.

    Notes
    -----
    See the module docstring. Pixel (r, c) is at x = c sx, y = r sy (mm) from the top-left pixel centre.
    """
    ph = _resolve(phantom)
    grid = _make_grid(shape, spacing_mm, psf_sigma_mm)
    ssp = ssp or slice_profile(thickness_mm)
    off = (float(center_offset_mm[0]), float(center_offset_mm[1]))
    top = None
    if couch:
        top = couch_top_default_mm(ph, off) if couch_top_mm is None else float(couch_top_mm)
    out = _render(ph, float(z_mm), grid, ssp, float(roll_deg), off, float(hu_offset), top, float(cupping_hu))
    return out.astype(np.float32)


def _make_grid(shape, spacing_mm, psf_sigma_mm) -> _Grid:
    if not psf_sigma_mm > 0:
        raise ValueError(f"psf_sigma_mm must be > 0, got {psf_sigma_mm!r}")
    shape = (int(shape[0]), int(shape[1]))
    spacing = (float(spacing_mm[0]), float(spacing_mm[1]))
    if min(shape) < 8 or not (min(spacing) > 0):
        raise ValueError(f"shape must be at least 8 x 8 and spacing_mm positive; got {shape}, {spacing_mm}")
    grid = _Grid(shape, spacing, float(psf_sigma_mm))
    if max(grid.fine_shape) > 8192:
        raise ValueError(f"psf_sigma_mm = {psf_sigma_mm} mm is too narrow for {max(spacing)} mm pixels on a "
                         f"{shape} matrix (the fine grid would be {grid.fine_shape}); use a wider PSF or a "
                         f"smaller matrix")
    return grid


def _render(ph: CTPhantom, z: float, grid: _Grid, ssp: SliceProfile, roll: float, off: tuple[float, float],
            hu_offset: float, couch_top: float | None, cupping: float, plane_cache: _LRU | None = None
            ) -> np.ndarray:
    """float64 noise-free slice; ``plane_cache`` (optional LRU) keeps sampled module planes per offset."""
    x0, y0 = grid.centre_mm
    centre = (x0 + off[0], y0 + off[1])
    out = np.zeros(grid.shape, dtype=np.float64)
    weights = _module_weights(ph, ssp, z)
    # the cross-section is drawn at the offset snapped to _SNAP_MM steps; the residual is a Fourier shift
    snap = (round(off[0] / _SNAP_MM) * _SNAP_MM, round(off[1] / _SNAP_MM) * _SNAP_MM)
    resid = (off[0] - snap[0], off[1] - snap[1])
    for mod, w in weights:
        key = ("module", ph.id, ph.diameter_mm, ph.wall_mm, ph.wall_hu, repr(mod), roll, cupping, snap)
        pkey = (key, off)
        plane = None if plane_cache is None else plane_cache.get(pkey)
        if plane is None:
            spec = _blurred_spectrum(grid, key,
                                     lambda img, g, m=mod: _draw_module(img, g, ph, m, roll, cupping, snap))
            plane = _sample(grid, spec, resid)
            if plane_cache is not None:
                plane_cache.put(pkey, plane)
        out += w * plane
    for mod, _w in weights:
        if mod.ramps:
            _add_ramps(out, grid, mod, ssp, z - mod.offset_mm, centre, roll)
    for mod in ph.modules:  # a bead may be seen by a slice whose SSP reaches it from outside its module
        if mod.beads:
            _add_beads(out, grid, mod, ssp, z, centre, roll)
    if couch_top is not None:
        spec = _blurred_spectrum(grid, ("couch", round(couch_top, 9)), lambda img, g: _draw_couch(img, g, couch_top))
        pkey = ("couch", couch_top)
        plane = None if plane_cache is None else plane_cache.get(pkey)
        if plane is None:
            plane = _sample(grid, spec)
            if plane_cache is not None:
                plane_cache.put(pkey, plane)
        out += plane
    out += AIR_HU + hu_offset
    return out


# ---------------------------------------------------------------------------------------------------------------
# Noise


def noise_filter(shape, spacing_mm, texture: str = "white", fc_per_mm: float = 0.5) -> np.ndarray | None:
    """Normalised noise-shaping filter H on the rfft2 grid, mean(|H|^2) over the full DFT grid = 1 (so that
    filtering unit white noise gives unit pixel variance), or None for white noise.

    ``texture == "ct"``: H(f) = K |f| exp(-(|f| / fc)^2), the ramp of filtered back-projection times a
    Gaussian apodisation; K normalises it.
    """
    if texture == "white":
        return None
    if texture != "ct":
        raise ValueError(f"noise texture must be 'white' or 'ct', got {texture!r}")
    if not fc_per_mm > 0:
        raise ValueError(f"nps_fc_per_mm must be > 0, got {fc_per_mm!r}")
    ny, nx = shape
    fy = sfft.fftfreq(ny, d=spacing_mm[0])
    fx_full = sfft.fftfreq(nx, d=spacing_mm[1])
    f_full = np.hypot(fy[:, None], fx_full[None, :])
    h_full = f_full * np.exp(-(f_full / fc_per_mm) ** 2)
    k = 1.0 / math.sqrt(float(np.mean(h_full ** 2)))
    fx = sfft.rfftfreq(nx, d=spacing_mm[1])
    f = np.hypot(fy[:, None], fx[None, :])
    return k * f * np.exp(-(f / fc_per_mm) ** 2)


def _noise(shape, sd: float, h: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    w = rng.standard_normal(shape)
    if h is None or sd == 0:
        return sd * w
    return sd * sfft.irfft2(sfft.rfft2(w, workers=-1) * h, s=shape, workers=-1)


def _ws519_d_min(rows: list[dict]) -> float | None:
    """WS 519 reading of one contrast group: the smallest diameter detected together with every larger target
    of the group (rows with "diameter_mm" and "detected"); None when the largest is not detected."""
    d_min = None
    for r in sorted(rows, key=lambda r: -r["diameter_mm"]):
        if not r["detected"]:
            break
        d_min = r["diameter_mm"]
    return d_min


def _noise_autocorr(shape, h: np.ndarray | None) -> np.ndarray | None:
    """Autocorrelation per unit pixel variance of the generated noise on the (circular) image grid,
    R(tau) = irfft2(|H|^2)(tau), R(0) = 1 (mean |H|^2 = 1); None for white noise (R = delta)."""
    if h is None:
        return None
    return sfft.irfft2(h.astype(np.float64) ** 2, s=shape)


def _pattern_var_of_noise(w: np.ndarray, sd: float, autocorr: np.ndarray | None, quant_var: float) -> float:
    """Exact variance of sum(w * noise) over a window of weights ``w`` for the generated noise of pixel SD ``sd``
    (autocorrelation ``autocorr`` from ``_noise_autocorr``, None for white) plus white quantisation noise of
    variance ``quant_var``: sd^2 sum_tau A_w(tau) R(tau) + quant_var sum w^2, A_w the autocorrelation of w."""
    w = np.asarray(w, dtype=np.float64)
    ww = float(np.sum(w * w))
    if autocorr is None:
        return (sd ** 2 + quant_var) * ww
    H, W = w.shape
    ny, nx = autocorr.shape
    if 2 * H > ny or 2 * W > nx:
        raise ValueError(f"weight window {w.shape} too large for the {autocorr.shape} noise grid")
    # A_w on a (2H, 2W) grid: circular there, but w fits in one quarter, so no lag wraps onto another
    A = sfft.irfft2(np.abs(sfft.rfft2(w, s=(2 * H, 2 * W))) ** 2, s=(2 * H, 2 * W))
    lag_r = np.where(np.arange(2 * H) < H, np.arange(2 * H), np.arange(2 * H) - 2 * H) % ny
    lag_c = np.where(np.arange(2 * W) < W, np.arange(2 * W), np.arange(2 * W) - 2 * W) % nx
    return sd ** 2 * float(np.sum(A * autocorr[np.ix_(lag_r, lag_c)])) + quant_var * ww


def _lc_masks(shape, spacing, tx: float, ty: float, d: float, others) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Pixel masks of a low-contrast target's ROI T (disc of 0.7 d) and local background B (0.5 d + 2 < rho <=
    0.5 d + 5 mm, minus the pixels within 2 mm of another target's edge), with the tests of
    phantomqc.ct._kernels._disc_stats / _annulus_stats; centre (tx, ty) and ``others`` [(x, y, d)] in mm from the
    top-left pixel centre. Returns the window origin (row, col) and the two boolean masks on it."""
    sy, sx = spacing
    cr, cc = ty / sy, tx / sx
    r_out = 0.5 * d + 5.0
    r0 = max(0, int(math.floor(cr - r_out / sy)) - 1)
    r1 = min(shape[0] - 1, int(math.ceil(cr + r_out / sy)) + 1)
    c0 = max(0, int(math.floor(cc - r_out / sx)) - 1)
    c1 = min(shape[1] - 1, int(math.ceil(cc + r_out / sx)) + 1)
    rows = np.arange(r0, r1 + 1, dtype=np.float64)[:, None]
    cols = np.arange(c0, c1 + 1, dtype=np.float64)[None, :]
    rr, rc = 0.35 * d / sy, 0.35 * d / sx
    dy, dx = (rows - cr) / rr, (cols - cc) / rc
    t_mask = dy * dy + dx * dx <= 1.0
    ddy, ddx = (rows - cr) * sy, (cols - cc) * sx
    q = ddx * ddx + ddy * ddy
    r_in = 0.5 * d + 2.0
    b_mask = (q > r_in * r_in) & (q <= r_out * r_out)
    for ox, oy, od in others:
        ey, ex = (rows - oy / sy) * sy, (cols - ox / sx) * sx
        rad = od / 2.0 + 2.0
        b_mask &= ~(ey * ey + ex * ex <= rad * rad)
    return r0, c0, t_mask, b_mask


# ---------------------------------------------------------------------------------------------------------------
# Series


GENERATOR = "reference_phantoms.ct 1"
_BASE_TIME = _dt.datetime(2026, 1, 5, 10, 0, 0)
_Z_ORIGIN_MM = -150.0
#: MTF / geometry / thickness entries use these ROI conventions (docs/ct_design.md): a pixel belongs to a disc
#: iff ((r - cr) / rr)^2 + ((c - cc) / rc)^2 <= 1 (phantomqc.ct._kernels._disc_stats).

DEFINITIONS: dict[str, str] = {
    "hu": "All truth values are HU = stored x RescaleSlope + RescaleIntercept. ROI means come from the NOISE-FREE "
          "rendered slice (float64) at the module's analysis offset, with the disc rule of "
          "phantomqc.ct._kernels._disc_stats (pixel centres inside the disc). The noise-free image is the "
          "continuous object blurred by the Gaussian PSF and point-sampled; so an 80 % insert ROI differs from the "
          "nominal CT number by the PSF's edge leakage (recorded per insert as nf_minus_nominal_hu).",
    "ssp": "Slice sensitivity profile: Gaussian of FWHM T for T < 2 mm; otherwise a rectangle convolved with a "
           "Gaussian of FWHM 0.2 T, the rectangle's width solved so that the FWHM is T (actual_thickness_mm when "
           "given). A slice is the SSP-weighted mix of the module cross-sections; module faces are planes "
           "perpendicular to z (also with tilt).",
    "ramps": "Wire ramp at 23 deg: along the ramp direction u the slice shows hu x s(sign u tan 23 - dz), s the SSP "
             "normalised to peak 1, convolved along u with the in-plane PSF; across the wire a Gaussian of the PSF "
             "sigma, peak hu. FWHM along u before the in-plane blur = FWHM(SSP) / tan 23 exactly; "
             "ramp_profile_fwhm_mm in parameters.slice_thickness is the FWHM of the blurred profile x tan 23.",
    "bead": "Point source of strength Q = hu pi d^2/4 x 2.5 mm (HU mm^3), weighted by the area-normalised SSP at "
            "its z, blurred by the Gaussian PSF: Q SSP(z_b - z) exp(-r^2/2 sigma^2)/(2 pi sigma^2).",
    "ct.mtf": "MTF(f) = exp(-2 pi^2 sigma^2 f^2) (the continuous PSF; the images are point-sampled, no pixel "
              "aperture): MTF50 = sqrt(ln 2 / (2 pi^2 sigma^2)), MTF10 = sqrt(ln 10 / (2 pi^2 sigma^2)), x 10 "
              "for lp/cm; labels psf (bead) and esf (edge) have the same value.",
    "ct.noise": "sd = sqrt(noise_sd^2 + slope^2/12 + var_nf): the generated noise (white, or 'ct' texture "
                "normalised to the same pixel variance), the rounding to integers, and the (n-1) variance of the "
                "noise-free image in the centre disc of 0.4 D. percent = sd sqrt(T/10)/10 with T the nominal "
                "(SliceThickness) thickness.",
    "ct.water": "mean of the noise-free image over the centre disc of 0.1 D (D = phantom outer diameter) in the "
                "uniformity module (includes hu_offset and cupping).",
    "ct.uniformity": "diff[pos] = noise-free mean of the disc of 0.1 D at 12/3/6/9 o'clock (image frame), its edge "
                     "edge_gap_mm inside the phantom edge, minus the centre-disc mean; max_abs_diff = max |diff|. "
                     "With cupping c (added -c (1 - r^2/R_in^2)), the continuous value is c rho^2/R_in^2, rho the "
                     "ROI-centre distance (parameters.uniformity.analytic_diff_hu).",
    "ct.linearity": "mean_hu[insert] = noise-free mean over a disc of 0.8 d at the insert centre (nominal + "
                    "hu_offset + PSF leakage + cupping); max_abs_error_hu = max |mean_hu - nominal| with nominal the "
                    "geometry table WITHOUT the offset.",
    "ct.slice_thickness": "mm = FWHM of the SSP actually used; deviation = mm - nominal (deviation_mm, tiers "
                          "nominal_above_2mm / nominal_below_1mm) or 100 (mm - nominal)/nominal (deviation_percent, "
                          "tier nominal_1_to_2mm), nominal = SliceThickness.",
    "ct.geometry": "Distances between the hole / BB centres of the drawing (in-plane geometry is exact).",
    "ct.low_contrast": "effective contrast = noise-free mean over the pixels of the disc of 0.7 d at the target minus "
                       "the mean over the annulus 0.5 d + 2 < rho <= 0.5 d + 5 mm (excluding pixels within 2 mm of "
                       "another target's edge), pixel rules of phantomqc.ct._kernels._disc_stats / _annulus_stats; "
                       "cnr = |contrast| / ct.noise sd. Detection (Chao et al. 2000): C_t = 3.29 sigma_C, sigma_C "
                       "the exact noise SD of the statistic C = sum(w x image), w = 1/N_T on the target pixels and "
                       "-1/N_B on the annulus pixels of THAT target (white: sqrt((sd^2 + 1/12)(1/N_T + 1/N_B)); 'ct': "
                       "sd^2 sum_tau A_w(tau) R(tau) + (1/12) sum w^2, A_w the autocorrelation of w, R that of the "
                       "noise from the NPS). Per single slice. detected iff contrast >= C_t (sign of the nominal "
                       "contrast); margin = contrast / C_t. detectability_mm = mean over 1, 0.5, 0.3 % of (smallest d "
                       "detected together with every larger target of its group x contrast %); null when the largest "
                       "target of a group is not detected.",
    "ct.line_pairs": "Not truth-exact (criterion-dependent). parameters.line_pairs gives each group's analytic bar "
                     "modulation CTF(f) = 4/pi sum_k (-1)^k MTF((2k+1) f)/(2k+1) for the Gaussian MTF.",
    "nps": "'ct' texture: NPS(f) = sd^2 sx sy K^2 f^2 exp(-2 (f/fc)^2) (HU^2 mm^2), K from parameters.noise."
           "filter_k, plus the white quantisation part sx sy / 12. White: NPS = sd^2 sx sy.",
}


@dataclass
class CTPhantomSeries:
    """A generated CT series: stored slices, their positions, and the truth."""

    phantom: CTPhantom
    stored: np.ndarray  # (n, rows, cols) int16 or uint16
    noise_free_hu: np.ndarray  # (n, rows, cols) float32, before noise and rounding
    z_mm: np.ndarray  # phantom-frame z of each slice (ascending)
    z_origin_mm: float  # ImagePositionPatient z of phantom z = 0
    centers_mm: np.ndarray  # (n, 2): phantom axis (x, y) per slice, mm from the top-left pixel centre
    spacing_mm: tuple[float, float]
    thickness_mm: float  # nominal (SliceThickness)
    spacing_z_mm: float
    ssp: SliceProfile
    rescale_intercept: float
    rescale_slope: float
    expected: list[dict]
    parameters: dict
    kind: str  # manifest kind
    test: dict  # the manifest [[test]] table (without images)

    @property
    def hu(self) -> np.ndarray:
        """(n, rows, cols) float32 HU = stored x slope + intercept."""
        return (self.stored.astype(np.float32) * np.float32(self.rescale_slope)
                + np.float32(self.rescale_intercept))

    @property
    def z_patient_mm(self) -> np.ndarray:
        return self.z_origin_mm + self.z_mm

    def value(self, metric_id: str, label: str | None = None):
        for e in self.expected:
            if e["id"] == metric_id and e["label"] == label:
                return e["value"]
        raise KeyError((metric_id, label))


def _exp(metric_id: str, value, unit: str, test: str, note: str, label: str | None = None) -> dict:
    if value is not None and not isinstance(value, int):
        value = float(value)
    return {"id": metric_id, "label": label, "value": value, "unit": unit, "test": test, "tolerance_note": note}


def _pair(v, name: str) -> tuple[float, float]:
    if np.ndim(v) == 0:
        return float(v), 0.0
    if len(v) != 2:
        raise ValueError(f"{name} must be a number or (x, y), got {v!r}")
    return float(v[0]), float(v[1])


def _disc_values(img: np.ndarray, cx_mm: float, cy_mm: float, r_mm: float, spacing) -> np.ndarray:
    sy, sx = spacing
    cr, cc, rr, rc = cy_mm / sy, cx_mm / sx, r_mm / sy, r_mm / sx
    r0, r1 = max(0, int(math.ceil(cr - rr))), min(img.shape[0] - 1, int(math.floor(cr + rr)))
    c0, c1 = max(0, int(math.ceil(cc - rc))), min(img.shape[1] - 1, int(math.floor(cc + rc)))
    r = np.arange(r0, r1 + 1)[:, None]
    c = np.arange(c0, c1 + 1)[None, :]
    m = ((r - cr) / rr) ** 2 + ((c - cc) / rc) ** 2 <= 1.0
    return img[r0:r1 + 1, c0:c1 + 1][m]


def gaussian_mtf(f_per_mm, sigma_mm: float):
    """exp(-2 pi^2 sigma^2 f^2)."""
    return np.exp(-2.0 * math.pi ** 2 * sigma_mm ** 2 * np.asarray(f_per_mm, dtype=float) ** 2)


def mtf_points_lp_per_cm(sigma_mm: float) -> tuple[float, float]:
    """(MTF50, MTF10) of the Gaussian PSF in lp/cm."""
    k = 2.0 * math.pi ** 2 * sigma_mm ** 2
    return 10.0 * math.sqrt(math.log(2.0) / k), 10.0 * math.sqrt(math.log(10.0) / k)


def bar_ctf(lp_per_cm: float, sigma_mm: float, n_terms: int = 200) -> float:
    """Square-wave response of the Gaussian MTF at ``lp_per_cm``: 4/pi sum_k (-1)^k MTF((2k+1) f)/(2k+1)."""
    f = lp_per_cm / 10.0
    k = np.arange(n_terms)
    return float(4.0 / math.pi * np.sum((-1.0) ** k * gaussian_mtf((2 * k + 1) * f, sigma_mm) / (2 * k + 1)))


def _tier(nominal: float) -> tuple[str, str]:
    if nominal > 2.0:
        return "ct.slice_thickness.deviation_mm", "nominal_above_2mm"
    if nominal >= 1.0:
        return "ct.slice_thickness.deviation_percent", "nominal_1_to_2mm"
    return "ct.slice_thickness.deviation_mm", "nominal_below_1mm"


_KIND_BY_PHANTOM = {"catphan504": "ct.catphan", "catphan600": "ct.catphan", "catphan604": "ct.catphan",
                    "acr464": "ct.acr464", "water200": "ct.water"}


def ct_series(phantom="catphan504", *, thickness_mm: float = 2.5, spacing_z_mm: float | None = None,
              z_start_mm: float | None = None, z_stop_mm: float | None = None, z_phase_mm: float = 0.0,
              blank_slices=0, roll_deg: float = 0.0, shift_mm=(0.0, 0.0), tilt_deg=(0.0, 0.0),
              couch: bool = False, hu_offset: float = 0.0, noise_sd_hu: float = 10.0, noise_texture: str = "white",
              nps_fc_per_mm: float = 0.5, psf_sigma_mm: float = 0.4, matrix: int | tuple[int, int] = 512,
              pixel_mm: float = 0.48828125, seed: int = 0, rng: np.random.Generator | None = None,
              dtype: str = "int16", cupping_hu: float = 0.0, actual_thickness_mm: float | None = None,
              z_origin_mm: float = _Z_ORIGIN_MM, kernel: str = "STANDARD", ctdivol_mgy: float = 25.0,
              edge_gap_mm: float = 10.0, average_mm: float = 10.0, name: str | None = None) -> CTPhantomSeries:
    """Generate an axial CT series of a phantom twin, with its truth.

    Parameters
    ----------
    phantom : str or CTPhantom
        ``catphan504``, ``catphan600``, ``catphan604``, ``acr464`` or ``water200``.
    thickness_mm : float
        Nominal reconstructed thickness (SliceThickness), 0.6 to 10 mm: the SSP FWHM unless
        ``actual_thickness_mm`` is given (a scanner whose real thickness differs from its label).
    spacing_z_mm : float, optional
        Slice spacing; default = thickness (may be smaller: overlapping reconstructions).
    z_start_mm, z_stop_mm : float, optional
        Phantom-frame z range of the slices (default: the phantom's extent +/- 5 mm). Slices sit at
        ``z_phase_mm + k spacing`` inside the range (so by default one slice is at each module offset that is a
        multiple of the spacing).
    blank_slices : int or (int, int)
        Extra slices added before / after the range (air when beyond the phantom, partial otherwise).
    roll_deg : float
        Phantom roll (+/- 15 deg), clockwise on the screen.
    shift_mm : (x, y)
        Phantom axis at phantom z = 0, relative to the image centre (+/- 30 mm).
    tilt_deg : float or (x, y)
        Axis tilt: the centre moves by z tan(tilt) along x and y; module faces stay perpendicular to z.
    couch : bool
        Curved table top under the phantom (3 mm below the lowest point of the phantom over the series).
    hu_offset : float
        Calibration offset added to every CT number (air included).
    noise_sd_hu : float
        Pixel SD of the generated noise, before rounding.
    noise_texture : {"white", "ct"}
        White noise, or white noise filtered by |f| exp(-(f/fc)^2) (``nps_fc_per_mm``), same pixel SD.
    psf_sigma_mm : float
        In-plane Gaussian PSF sigma.
    matrix, pixel_mm : int or (rows, cols), float
        Image matrix and square pixel size (0.48828125 = 250 mm FOV; 0.7, 0.390625 ...).
    seed, rng :
        The noise comes only from ``rng`` (default ``np.random.default_rng(seed)``).
    dtype : {"int16", "uint16"}
        Stored pixels; RescaleIntercept -1024 (uint16: lowered by multiples of 1024 if HU < -1024 occur),
        slope 1, values rounded to integers.
    cupping_hu : float
        Known cupping (-c (1 - r^2/R_in^2) inside the phantom), giving a known uniformity difference.
    z_origin_mm : float
        ImagePositionPatient z of phantom z = 0.
    kernel, ctdivol_mgy :
        ConvolutionKernel and CTDIvol written to the headers.
    edge_gap_mm, average_mm :
        The uniformity-ROI edge gap and the analyzers' slice-averaging range used to decide which modules are
        in the scan (a module is in the scan iff a slice whose nominal slab [z - T/2, z + T/2] lies inside the
        module is within ``average_mm`` of the module offset).

    Returns
    -------
    CTPhantomSeries
    """
    ph = _resolve(phantom)
    t_nom = float(thickness_mm)
    if not 0.5 <= t_nom <= 10.0:
        raise ValueError(f"thickness_mm must be in [0.5, 10] mm, got {thickness_mm!r}")
    ssp = slice_profile(t_nom if actual_thickness_mm is None else float(actual_thickness_mm))
    dz = t_nom if spacing_z_mm is None else float(spacing_z_mm)
    if not dz > 0:
        raise ValueError(f"spacing_z_mm must be > 0, got {spacing_z_mm!r}")
    if dtype not in ("int16", "uint16"):
        raise ValueError(f"dtype must be 'int16' or 'uint16', got {dtype!r}")
    shape = (matrix, matrix) if np.ndim(matrix) == 0 else (int(matrix[0]), int(matrix[1]))
    spacing = (float(pixel_mm), float(pixel_mm))
    grid = _make_grid(shape, spacing, psf_sigma_mm)
    shift = _pair(shift_mm, "shift_mm")
    tilt = _pair(tilt_deg, "tilt_deg")
    tan_t = (math.tan(math.radians(tilt[0])), math.tan(math.radians(tilt[1])))
    nb = (int(blank_slices), int(blank_slices)) if np.ndim(blank_slices) == 0 else tuple(map(int, blank_slices))
    z0 = ph.z_min_mm - 5.0 if z_start_mm is None else float(z_start_mm)
    z1 = ph.z_max_mm + 5.0 if z_stop_mm is None else float(z_stop_mm)
    k0 = math.ceil((z0 - z_phase_mm) / dz - 1e-9) - nb[0]
    k1 = math.floor((z1 - z_phase_mm) / dz + 1e-9) + nb[1]
    if k1 < k0:
        raise ValueError(f"no slice in z range [{z0}, {z1}] mm with spacing {dz} mm")
    z = z_phase_mm + dz * np.arange(k0, k1 + 1, dtype=float)
    z = np.round(z, 9)
    roll = float(roll_deg)

    def offset_at(zz: float) -> tuple[float, float]:
        return (shift[0] + zz * tan_t[0], shift[1] + zz * tan_t[1])

    offs = [offset_at(float(zz)) for zz in z]
    couch_top = None
    if couch:
        couch_top = ph.diameter_mm / 2.0 + max(o[1] for o in offs) + 3.0
    cache = _LRU(12)  # sampled planes per (module, offset): a tilted series misses, a straight one hits
    nf = np.empty((len(z),) + shape, dtype=np.float32)
    for i, zz in enumerate(z):
        nf[i] = _render(ph, float(zz), grid, ssp, roll, offs[i], float(hu_offset), couch_top, float(cupping_hu),
                        cache)
    # noise and quantisation
    seed_used = seed if rng is None else None
    rng = rng if rng is not None else np.random.default_rng(seed)
    h = noise_filter(shape, spacing, noise_texture, nps_fc_per_mm)
    slope = 1.0
    intercept = -1024.0
    hu = nf.astype(np.float64)
    for i in range(len(z)):
        hu[i] += _noise(shape, float(noise_sd_hu), h, rng)
    if dtype == "uint16":
        lo = float(hu.min())
        if lo < intercept - 0.5:
            intercept = -1024.0 * (1 + math.ceil((-1024.0 - lo) / 1024.0))
    stored_f = np.rint((hu - intercept) / slope)
    info = np.iinfo(np.int16 if dtype == "int16" else np.uint16)
    n_clipped = int(np.count_nonzero((stored_f < info.min) | (stored_f > info.max)))
    stored = np.clip(stored_f, info.min, info.max).astype(dtype)
    del hu, stored_f

    centers = np.array([(grid.centre_mm[0] + o[0], grid.centre_mm[1] + o[1]) for o in offs])
    kind = _KIND_BY_PHANTOM.get(ph.id, "ct.catphan")
    test_name = name or ph.id
    params = {
        "phantom": ph.id, "phantom_title": ph.title, "kind": kind, "name": test_name,
        "thickness_mm": t_nom, "actual_thickness_mm": ssp.fwhm_mm,
        "ssp": {"kind": ssp.kind, "width_mm": ssp.width_mm, "sigma_mm": ssp.sigma_mm, "fwhm_mm": ssp.fwhm_mm},
        "spacing_z_mm": dz, "z_start_mm": z0, "z_stop_mm": z1, "z_phase_mm": float(z_phase_mm),
        "blank_slices": list(nb), "n_slices": int(len(z)), "z_origin_mm": float(z_origin_mm),
        "origin_z_patient_mm": float(z_origin_mm), "roll_deg": roll, "shift_mm": list(shift),
        "tilt_deg": list(tilt), "couch": bool(couch), "couch_top_mm": couch_top, "hu_offset": float(hu_offset),
        "noise": {"sd_hu": float(noise_sd_hu), "texture": noise_texture,
                  "nps_fc_per_mm": float(nps_fc_per_mm) if noise_texture == "ct" else None,
                  "filter_k": _filter_k(shape, spacing, nps_fc_per_mm) if noise_texture == "ct" else None,
                  "quantisation_var_hu2": slope ** 2 / 12.0},
        "psf_sigma_mm": float(psf_sigma_mm), "matrix": list(shape), "pixel_mm": float(pixel_mm),
        "seed": seed_used, "dtype": dtype, "rescale_intercept": intercept,
        "rescale_slope": slope, "n_clipped": n_clipped, "cupping_hu": float(cupping_hu), "kernel": kernel,
        "ctdivol_mgy": ctdivol_mgy, "edge_gap_mm": float(edge_gap_mm), "average_mm": float(average_mm),
        "fine_factor": grid.F, "sigma_draw_mm": grid.sigma_draw, "bead_length_mm": BEAD_LENGTH_MM,
        "module_z_patient_mm": {m.name: float(z_origin_mm + m.offset_mm) for m in ph.modules},
    }
    test = {"kind": kind, "name": test_name, "nominal_thickness_mm": t_nom}
    if kind == "ct.catphan":
        test["model"] = ph.id
    series = CTPhantomSeries(ph, stored, nf, z, float(z_origin_mm), centers, spacing, t_nom, dz, ssp, intercept,
                             slope, [], params, kind, test)
    series.expected = _truth(series, grid, h, offset_at, couch_top, cache)
    return series


def _filter_k(shape, spacing, fc) -> float:
    ny, nx = shape
    fy = sfft.fftfreq(ny, d=spacing[0])
    fx = sfft.fftfreq(nx, d=spacing[1])
    f = np.hypot(fy[:, None], fx[None, :])
    return 1.0 / math.sqrt(float(np.mean((f * np.exp(-(f / fc) ** 2)) ** 2)))


def _in_scan(s: CTPhantomSeries, mod: Module) -> tuple[bool, str]:
    t = s.thickness_mm
    avg = s.parameters["average_mm"]
    ok = [(zz - t / 2 >= mod.z_min_mm - 1e-9) and (zz + t / 2 <= mod.z_max_mm + 1e-9)
          and abs(zz - mod.offset_mm) <= avg + 1e-9 for zz in s.z_mm]
    if any(ok):
        return True, ""
    return False, (f"module {mod.name} (z {mod.z_min_mm:g} to {mod.z_max_mm:g} mm, offset {mod.offset_mm:g} mm) "
                   f"has no slice whose {t:g} mm slab lies inside it within {avg:g} mm of its offset")


def _truth(s: CTPhantomSeries, grid: _Grid, h, offset_at, couch_top, cache) -> list[dict]:
    ph, p = s.phantom, s.parameters
    test = p["kind"]
    roll = p["roll_deg"]
    sp = s.spacing_mm
    sig = p["psf_sigma_mm"]
    x_c, y_c = grid.centre_mm
    D = ph.diameter_mm
    exp: list[dict] = []
    missing = {}
    q_var = p["noise"]["quantisation_var_hu2"]
    sd_noise = p["noise"]["sd_hu"]

    def nf_at(mod: Module):
        off = offset_at(mod.offset_mm)
        img = _render(ph, mod.offset_mm, grid, s.ssp, roll, off, p["hu_offset"], couch_top, p["cupping_hu"], cache)
        return img, (x_c + off[0], y_c + off[1])

    present = {}
    for m in ph.modules:
        ok, why = _in_scan(s, m)
        present[m.name] = ok
        if not ok:
            missing[m.name] = why
    p["modules_in_scan"] = [m.name for m in ph.modules if present[m.name]]
    p["modules_not_in_scan"] = missing

    # ---- uniformity / water / noise module ----
    umod = next((m for m in ph.modules if m.kind in ("uniformity", "acr_uniformity", "water")), None)
    sd_total = None
    if umod is not None and present[umod.name]:
        img, (cx, cy) = nf_at(umod)
        r_roi = 0.05 * D
        rho = D / 2 - p["edge_gap_mm"] - r_roi
        centre_vals = _disc_values(img, cx, cy, r_roi, sp)
        m_c = float(centre_vals.mean())
        exp.append(_exp("ct.water.mean_hu", m_c, "HU", test, "noise-free centre-disc mean (0.1 D) of module "
                        f"{umod.name}; sampling SE of a measured ROI mean ~ sd/sqrt(N)"))
        diffs = {}
        for pos, (ux, uy) in {"top": (0, -1), "right": (1, 0), "bottom": (0, 1), "left": (-1, 0)}.items():
            v = _disc_values(img, cx + ux * rho, cy + uy * rho, r_roi, sp)
            diffs[pos] = float(v.mean()) - m_c
            exp.append(_exp("ct.uniformity.diff_hu", diffs[pos], "HU", test,
                            "noise-free peripheral minus centre disc mean", label=pos))
        exp.append(_exp("ct.uniformity.max_abs_diff_hu", max(abs(v) for v in diffs.values()), "HU", test,
                        "max |diff| over 12/3/6/9 o'clock ROIs (edge 'edge_gap_mm' inside the edge)"))
        r_in = D / 2 - ph.wall_mm
        p["uniformity"] = {"module": umod.name, "roi_diameter_mm": 2 * r_roi, "roi_centre_distance_mm": rho,
                           "analytic_diff_hu": p["cupping_hu"] * rho ** 2 / r_in ** 2,
                           "cupping_inner_radius_mm": r_in}
        vals = _disc_values(img, cx, cy, 0.2 * D, sp)
        var_nf = float(np.var(vals, ddof=1))
        sd_total = math.sqrt(sd_noise ** 2 + q_var + var_nf)
        n_px = vals.size
        exp.append(_exp("ct.noise.sd_hu", sd_total, "HU", test,
                        f"sqrt(noise^2 + 1/12 + var_nf); the sample SD of N = {n_px} px scatters by about "
                        f"sd/sqrt(2N) = {sd_total / math.sqrt(2 * n_px):.2g} HU per slice (more for 'ct' texture)"))
        exp.append(_exp("ct.noise.percent", sd_total * math.sqrt(s.thickness_mm / 10.0) / 10.0, "%", test,
                        "sd sqrt(T/10)/10, T the nominal thickness"))
        p["noise"]["var_nf_hu2"] = var_nf
    if sd_total is None:
        sd_total = math.sqrt(sd_noise ** 2 + q_var)

    # ---- HU / geometry / thickness module ----
    hmod = next((m for m in ph.modules if m.kind in ("hu_geometry", "acr_hu")), None)
    if hmod is not None and present[hmod.name]:
        img, (cx, cy) = nf_at(hmod)
        errs, lin = [], {}
        for ins in hmod.inserts:
            px, py = point_mm(ins.angle_deg, ins.distance_mm, roll)
            v = float(_disc_values(img, cx + px, cy + py, 0.4 * ins.diameter_mm, sp).mean())
            lin[ins.name] = {"nominal_hu": ins.hu, "nf_mean_hu": v,
                             "nf_minus_nominal_hu": v - ins.hu - p["hu_offset"]}
            errs.append(abs(v - ins.hu))
            exp.append(_exp("ct.linearity.mean_hu", v, "HU", test,
                            f"noise-free mean over 0.8 d; nominal {ins.hu:g} + offset {p['hu_offset']:g}", ins.name))
        exp.append(_exp("ct.linearity.max_abs_error_hu", max(errs), "HU", test,
                        "max |mean - nominal| (nominal without the offset)"))
        p["linearity"] = lin
        if hmod.ramps:
            fwhm = s.ssp.fwhm_mm
            exp.append(_exp("ct.slice_thickness.mm", fwhm, "mm", test,
                            "FWHM of the SSP used (exact); the ramp measures it through the in-plane PSF"))
            mid, label = _tier(s.thickness_mm)
            dev = fwhm - s.thickness_mm if mid.endswith("_mm") else 100.0 * (fwhm - s.thickness_mm) / s.thickness_mm
            exp.append(_exp(mid, dev, "mm" if mid.endswith("_mm") else "%", test,
                            "actual SSP FWHM minus nominal", label=label))
            zz = np.linspace(-4 * fwhm - 5, 4 * fwhm + 5, 40001)
            prof = s.ssp.blurred_peak_normalised(zz, sig * RAMP_FACTOR)
            above = zz[prof >= prof.max() / 2]
            p["slice_thickness"] = {"ssp_fwhm_mm": fwhm, "ramp_profile_fwhm_mm": float(above[-1] - above[0]),
                                    "ramp_factor": RAMP_FACTOR,
                                    "psf_fwhm_mm": sig * _FWHM_PER_SIGMA}
        exp.append(_exp("ct.phantom.roll_deg", roll, "deg", test, "the roll used to draw the phantom"))
    if hmod is not None and hmod.holes and present[hmod.name]:
        hp = {h_.name: (h_.x_mm, h_.y_mm) for h_ in hmod.holes}
        sides = {"top": ("upper left", "upper right"), "right": ("upper right", "lower right"),
                 "bottom": ("lower left", "lower right"), "left": ("upper left", "lower left")}
        for lab, (a, b) in sides.items():
            exp.append(_exp("ct.geometry.length_mm", math.dist(hp[a], hp[b]), "mm", test,
                            "hole centre distance of the drawing", label=lab))

    # ---- ACR BBs ----
    for m in ph.modules:
        bbs = [h_ for h_ in m.holes if h_.name.startswith("BB")]
        if len(bbs) == 2 and present[m.name]:
            exp.append(_exp("ct.geometry.length_mm", math.dist((bbs[0].x_mm, bbs[0].y_mm), (bbs[1].x_mm, bbs[1].y_mm)),
                            "mm", test, "BB centre distance of the drawing", label="bb_distance"))

    # ---- resolution ----
    mtf50, mtf10 = mtf_points_lp_per_cm(sig)
    lpmod = next((m for m in ph.modules if m.kind in ("line_pairs", "acr_resolution")), None)
    if lpmod is not None and present[lpmod.name]:
        labels = ("psf", "esf") if lpmod.beads else ()
        for lab in labels:
            exp.append(_exp("ct.mtf.mtf50_lp_per_cm", mtf50, "lp/cm", test, "analytic Gaussian MTF", label=lab))
            exp.append(_exp("ct.mtf.mtf10_lp_per_cm", mtf10, "lp/cm", test, "analytic Gaussian MTF", label=lab))
        p["line_pairs"] = [{"lp_per_cm": g.lp_per_cm, "bar_width_mm": g.bar_width_mm, "ctf": bar_ctf(g.lp_per_cm, sig),
                            "mtf": float(gaussian_mtf(g.lp_per_cm / 10.0, sig))} for g in lpmod.line_pairs]
    p["mtf"] = {"mtf50_lp_per_cm": mtf50, "mtf10_lp_per_cm": mtf10, "sigma_mm": sig}

    # ---- low contrast ----
    lcmod = next((m for m in ph.modules if m.kind in ("low_contrast", "acr_low_contrast")), None)
    if lcmod is not None and present[lcmod.name]:
        img, (cx, cy) = nf_at(lcmod)
        pos = [(cx + point_mm(t.angle_deg, t.distance_mm, roll)[0], cy + point_mm(t.angle_deg, t.distance_mm, roll)[1],
                t.diameter_mm) for t in lcmod.targets]
        rows, by_label, skipped = [], {}, []
        autocorr = _noise_autocorr(s.stored.shape[1:], h)
        for i, t in enumerate(lcmod.targets):
            tx, ty, d = pos[i]
            others = [q for j, q in enumerate(pos) if j != i]
            r0, c0, tm, bm = _lc_masks(img.shape, sp, tx, ty, d, others)
            n_t, n_b = int(tm.sum()), int(bm.sum())
            if n_t == 0 or n_b == 0:
                skipped.append(f"{t.label}: its ROI holds no pixel at {sp[0]:g} mm pixels")
                continue
            win = img[r0:r0 + tm.shape[0], c0:c0 + tm.shape[1]].astype(np.float64)
            c_eff = float(win[tm].mean() - win[bm].mean())
            # the detection statistic C = sum(w * image): its noise SD, exactly, for the generated noise
            w = tm / n_t - bm / n_b
            sigma_c = math.sqrt(_pattern_var_of_noise(w, sd_noise, autocorr, q_var))
            thr = 3.29 * sigma_c
            sgn = 1.0 if t.contrast_percent >= 0 else -1.0
            row = {"label": t.label, "group": t.group, "contrast_percent": t.contrast_percent, "diameter_mm": d,
                   "nominal_hu": t.contrast_hu, "effective_hu": c_eff, "sigma_c_hu": sigma_c, "threshold_hu": thr,
                   "n_target_px": n_t, "n_background_px": n_b,
                   "margin": sgn * c_eff / thr if thr > 0 else math.inf,
                   "detected": bool(sgn * c_eff > 0 and sgn * c_eff >= thr), "cnr": abs(c_eff) / sd_total}
            rows.append(row)
            by_label.setdefault(t.label, []).append(row)
        for lab, rs in by_label.items():
            c = float(np.mean([r["effective_hu"] for r in rs]))
            note = "noise-free target minus local background" + (f" (mean of {len(rs)} rods)" if len(rs) > 1 else "")
            exp.append(_exp("ct.low_contrast.contrast_hu", c, "HU", test, note, label=lab))
            exp.append(_exp("ct.low_contrast.cnr", abs(c) / sd_total, "1", test,
                            "effective contrast / noise sd; measured CNR scatters with the background SD and mean",
                            label=lab))
        groups = {}
        for r in rows:
            groups.setdefault(r["contrast_percent"], []).append(r)
        if lcmod.kind == "low_contrast":
            per_group, why = {}, []
            for cp in (1.0, 0.5, 0.3):
                d_min = _ws519_d_min(groups.get(cp, []))
                per_group[f"{cp:g}%"] = d_min * cp if d_min is not None else None
                if d_min is None:
                    why.append(f"the largest {cp:g} % target does not reach its threshold")
            vals = list(per_group.values())
            value = None if any(v is None for v in vals) else float(np.mean(vals))
            note = ("mean over 1, 0.5, 0.3 % of (smallest d detected with every larger one) x contrast; ambiguous "
                    "targets have margin near 1 (parameters.low_contrast.targets)")
            if value is None:
                note = "undefined: " + "; ".join(why)
            exp.append(_exp("ct.low_contrast.detectability_mm", value, "mm", test, note))
            p["low_contrast_groups"] = per_group
        p["low_contrast"] = {"module": lcmod.name, "targets": rows, "noise_sd_hu": sd_total, "skipped": skipped}
    return exp


# ---------------------------------------------------------------------------------------------------------------
# Writing




def _manifest_text(tests: list[dict], spec: dict | None = None, profile: str = "ws519-2019",
                   test_type: str = "acceptance") -> str:
    lines = ['schema = "phantomqc.manifest/1"', f"profile = {toml_value(profile)}",
             f"test_type = {toml_value(test_type)}", "",
             "# written by reference_phantoms.ct; the expected values are in truth.json", ""]
    if spec:
        lines += ["# the reference scanner's 'manufacturer specification'",
                  "spec = {" + ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in spec.items()) + "}", ""]
    for t in tests:
        lines.append("[[test]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in t.items()]
        lines.append("")
    return "\n".join(lines)


def _slice_records(s: CTPhantomSeries, folder: str) -> list[dict]:
    return [{"file": f"{folder}/CT{i + 1:04d}.dcm", "instance_number": i + 1, "z_phantom_mm": float(z),
             "z_patient_mm": float(s.z_origin_mm + z), "center_mm": [float(c) for c in s.centers_mm[i]]}
            for i, z in enumerate(s.z_mm)]


def write_ct_series(s: CTPhantomSeries, folder: str | Path, *, study_uid: str | None = None,
                    series_number: int = 1) -> list[Path]:
    """Write every slice of ``s`` as CT Image Storage files ``CT0001.dcm ...`` into ``folder`` (ascending z,
    ascending InstanceNumber); ImagePositionPatient puts the image centre on the isocentre (x = y = 0)."""
    from phantomqc.io.write import new_uid, write_ct

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    study_uid = study_uid or new_uid()
    series_uid, frame_uid = new_uid(), new_uid()
    rows, cols = s.stored.shape[1:]
    sy, sx = s.spacing_mm
    x0, y0 = -(cols - 1) * sx / 2.0, -(rows - 1) * sy / 2.0
    p = s.parameters
    desc = f"{s.phantom.id.upper()} {s.thickness_mm:g}mm"
    t = _BASE_TIME + _dt.timedelta(minutes=5 * series_number)
    hdr = {"SeriesDescription": desc, "ImageComments": f"phantomqc reference phantom: {s.phantom.id}",
           "StudyDate": _BASE_TIME.strftime("%Y%m%d"), "StudyTime": _BASE_TIME.strftime("%H%M%S"),
           "SeriesDate": t.strftime("%Y%m%d"), "SeriesTime": t.strftime("%H%M%S"),
           "AcquisitionDate": t.strftime("%Y%m%d"), "AcquisitionTime": t.strftime("%H%M%S"),
           "ContentDate": t.strftime("%Y%m%d"), "ContentTime": t.strftime("%H%M%S"),
           "ProtocolName": f"phantomqc {s.phantom.id}", "XRayTubeCurrent": 200, "ExposureTime": 1000,
           "DataCollectionDiameter": 500.0, "ReconstructionDiameter": float(cols * sx)}
    paths = []
    for i, z in enumerate(s.z_mm):
        paths.append(write_ct(folder / f"CT{i + 1:04d}.dcm", s.stored[i], spacing_mm=s.spacing_mm,
                              position_mm=(x0, y0, float(s.z_origin_mm + z)), slice_thickness_mm=s.thickness_mm,
                              spacing_between_slices_mm=s.spacing_z_mm, rescale_slope=s.rescale_slope,
                              rescale_intercept=s.rescale_intercept, series_uid=series_uid, study_uid=study_uid,
                              frame_of_reference_uid=frame_uid, instance_number=i + 1, series_number=series_number,
                              kvp=120.0, convolution_kernel=p["kernel"], ctdivol_mgy=p["ctdivol_mgy"],
                              header=hdr))
    return paths


def _truth_doc(parameters: dict, expected: list[dict], slices: list[dict] | None = None) -> dict:
    doc = {"schema": "phantomqc.truth/1", "generator": GENERATOR, "parameters": parameters,
           "definitions": DEFINITIONS, "expected": expected}
    if slices is not None:
        doc["slices"] = slices
    return doc


def make_ct_series(out_dir: str | Path, *, phantom="catphan504", study_uid: str | None = None,
                   series_number: int = 1, **kwargs) -> Path:
    """Generate :func:`ct_series` (keyword options passed on) and write ``out_dir/series/CT*.dcm``,
    ``out_dir/truth.json`` and ``out_dir/manifest.toml`` (profile ws519-2019, acceptance, one [[test]] with
    ``images = ["series"]``); return the manifest path."""
    out = Path(out_dir)
    s = ct_series(phantom, **kwargs)
    write_ct_series(s, out / "series", study_uid=study_uid, series_number=series_number)
    _write_series_docs(s, out, "series")
    return out / "manifest.toml"


def _write_series_docs(s: CTPhantomSeries, out: Path, folder: str) -> None:
    doc = _truth_doc(s.parameters, s.expected, _slice_records(s, folder))
    (out / "truth.json").write_text(json.dumps(doc, indent=1, default=json_default))
    (out / "manifest.toml").write_text(_manifest_text([{**s.test, "images": [folder]}]))


# ---------------------------------------------------------------------------------------------------------------
# Suite

#: CTDI readings of the suite (head phantom, 120 kV): CTDIw = (C + 2 mean(P)) / 3.
CTDI_READINGS = {"center_mgy": 38.6, "peripheral_mgy": [44.2, 43.1, 42.5, 43.8], "pitch": 1.0, "phantom": "head"}


def ctdiw_mgy(center_mgy: float, peripheral_mgy) -> float:
    """CTDIw = (C + 2 P_mean) / 3 (IEC 60601-2-44)."""
    return (float(center_mgy) + 2.0 * float(np.mean(peripheral_mgy))) / 3.0


def ct_suite_specs(quality: str = "pass") -> dict[str, dict]:
    """The series of :func:`make_ct_suite`: sub-folder name -> (phantom + :func:`ct_series` options)."""
    if quality not in ("pass", "fail"):
        raise ValueError(f"quality must be 'pass' or 'fail', got {quality!r}")
    fail = quality == "fail"
    specs = {
        # 71 slices of 2.5 mm every 2 mm (overlapping) from -96 to 44 mm: the whole CatPhan 504
        "catphan504": dict(phantom="catphan504", thickness_mm=2.5, spacing_z_mm=2.0, z_start_mm=-96.0,
                           z_stop_mm=44.0, noise_sd_hu=4.0, roll_deg=3.0, shift_mm=(4.0, -6.0),
                           actual_thickness_mm=4.0 if fail else None),
        "catphan604": dict(phantom="catphan604", thickness_mm=5.0, spacing_z_mm=5.0, noise_sd_hu=4.0,
                           roll_deg=-2.0, couch=True, cupping_hu=12.0 if fail else 0.0),
        "acr464": dict(phantom="acr464", thickness_mm=5.0, spacing_z_mm=5.0, noise_sd_hu=4.0, roll_deg=1.5,
                       z_start_mm=-20.0, z_stop_mm=140.0),
        "water": dict(phantom="water200", thickness_mm=10.0, spacing_z_mm=10.0, z_start_mm=-30.0, z_stop_mm=30.0,
                      noise_sd_hu=25.0 if fail else 3.0, hu_offset=8.0 if fail else 0.0,
                      noise_texture="ct", psf_sigma_mm=0.5),
    }
    return specs


def make_ct_suite(out_dir: str | Path, *, seed: int = 0, quality: str = "pass", **ignored) -> Path:
    """Write the CT reference suite into ``out_dir`` and return the top-level manifest path.

    Sub-folders catphan504/ (71 slices of 2.5 mm every 2 mm), catphan604/ (5 mm, couch), acr464/ (5 mm) and
    water/ (7 slices of 10 mm, 'ct' noise texture), each with series/, truth.json and its own manifest.toml; a
    top-level manifest.toml listing the four series tests (``images = ["<name>/series"]``, ``name = <name>``)
    and a ``ct.ctdi`` test with dosimeter readings, and a top-level truth.json with every expected value (each
    entry also carries ``name``, the manifest test it belongs to) plus the CTDIw / CTDIvol truth.

    ``quality="fail"`` breaks WS 519-2019 acceptance limits: water +8 HU offset and 25 HU noise at 10 mm;
    CatPhan 504 SSP FWHM 4 mm under a 2.5 mm SliceThickness (+1.5 mm); CatPhan 604 cupping 12 HU (uniformity);
    CTDIw 25 % above the specification.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from phantomqc.io.write import new_uid

    study = new_uid()
    tests, expected, params = [], [], {"quality": quality, "seed": seed, "series": {}}
    for k, (name, spec) in enumerate(ct_suite_specs(quality).items()):
        s = ct_series(name=name, rng=np.random.default_rng([seed, k]), **spec)
        s.parameters["seed"] = [seed, k]
        sub = out / name
        write_ct_series(s, sub / "series", study_uid=study, series_number=k + 1)
        _write_series_docs(s, sub, "series")
        tests.append({**s.test, "images": [f"{name}/series"]})
        expected += [{**e, "name": name} for e in s.expected]
        params["series"][name] = {"folder": name, "options": {kk: (list(v) if isinstance(v, tuple) else v)
                                                             for kk, v in spec.items()}}
    c = CTDI_READINGS
    w = ctdiw_mgy(c["center_mgy"], c["peripheral_mgy"])
    spec_w = w / 1.25 if quality == "fail" else w * 1.04
    tests.append({"kind": "ct.ctdi", "name": "ctdi_head", "center_mgy": c["center_mgy"],
                  "peripheral_mgy": c["peripheral_mgy"], "pitch": c["pitch"], "phantom": c["phantom"]})
    expected += [{**_exp("ct.ctdi.ctdiw_mgy", w, "mGy", "ct.ctdi", "(C + 2 mean P)/3 exactly", label="head"),
                  "name": "ctdi_head"},
                 {**_exp("ct.ctdi.ctdivol_mgy", w / c["pitch"], "mGy", "ct.ctdi", "CTDIw / pitch", label="head"),
                  "name": "ctdi_head"}]
    params["ctdi"] = {**c, "spec_ctdiw_mgy": spec_w, "deviation_from_spec_percent": 100.0 * (w - spec_w) / spec_w}
    (out / "truth.json").write_text(json.dumps(_truth_doc(params, expected), indent=1, default=json_default))
    man = out / "manifest.toml"
    man.write_text(_manifest_text(tests, spec={"ct.ctdi.ctdiw_mgy": spec_w}))
    return man


def _maker(phantom_id: str, **defaults) -> Callable[..., Path]:
    def make(out_dir: str | Path, *, seed: int = 0, quality: str = "pass", **ignored) -> Path:
        opts = dict(defaults)
        if quality == "fail":
            spec = ct_suite_specs("fail")
            fail = next((sp for sp in spec.values() if sp["phantom"] == phantom_id),
                        {"hu_offset": 8.0, "cupping_hu": 12.0})
            opts = {**opts, **{k: v for k, v in fail.items() if k != "phantom"}}
        elif quality != "pass":
            raise ValueError(f"quality must be 'pass' or 'fail', got {quality!r}")
        return make_ct_series(out_dir, phantom=phantom_id, seed=seed, **opts)
    make.__name__ = f"make_ct_{phantom_id}"
    make.__doc__ = (f"Write a {phantom_id} CT series (series/, truth.json, manifest.toml) into ``out_dir``; "
                    f"``quality='fail'`` applies the suite's failing settings where it has some. Other options "
                    f"(detector, dtype of the DR makers) are ignored. Returns the manifest path.")
    return make


CT_PHANTOMS: dict[str, Callable[..., Path]] = {
    "ct-suite": make_ct_suite,
    "ct-catphan504": _maker("catphan504", thickness_mm=2.5, spacing_z_mm=2.0, z_start_mm=-96.0, z_stop_mm=44.0,
                            noise_sd_hu=4.0),
    "ct-catphan604": _maker("catphan604", thickness_mm=2.5, noise_sd_hu=4.0),
    "ct-catphan600": _maker("catphan600", thickness_mm=2.5, noise_sd_hu=4.0),
    "ct-acr464": _maker("acr464", thickness_mm=5.0, noise_sd_hu=4.0, z_start_mm=-20.0, z_stop_mm=140.0),
    "ct-water": _maker("water200", thickness_mm=10.0, z_start_mm=-30.0, z_stop_mm=30.0, noise_sd_hu=3.0),
}
"""CT phantom kinds for ``phantomqc phantoms make KIND --out DIR``: maker(out_dir, *, seed=0, quality='pass',
**ignored) -> manifest path."""
