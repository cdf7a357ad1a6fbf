"""Reference MR phantoms: a digital ACR large phantom (11 axial slices and the sagittal localiser) and MagNET-style
flood objects, written as MR Image Storage series with a ``truth.json`` of expected values.

* :func:`render_acr_slice` -- the noise-free signal fraction (0 = no signal, 1 = fluid) of one ACR slice.
* :func:`acr_volume` -- the 11 noiseless magnitude slices (shading, ghost) and the truth, no I/O.
* :func:`make_acr_series`, :func:`make_acr_localizer`, :func:`make_magnet_snr_pair`, :func:`make_magnet_flood`
  -- write ``series/MR0001.dcm``..., ``truth.json`` ("phantomqc.truth/1") and ``manifest.toml``.
* :data:`MR_PHANTOMS` -- kinds for ``phantomqc phantoms make KIND --out DIR``.

Rendering model
---------------
* In-plane: the phantom geometry of :mod:`phantomqc.mr.geometry` is evaluated on a fine grid ``F`` times finer than
  the pixels (``F`` odd, fine spacing <= 0.2 mm), with anti-aliased edges (the linear coverage of each fine cell:
  ``clip((R - r) / h + 1/2, 0, 1)`` for circles, the product of two such ramps for rectangles). The image is then
  *acquired* as an MR scanner does: the central ``N x N`` samples of the fine image's spectrum (the k-space matrix)
  are kept and reconstructed, i.e. the object convolved with the pixel's Dirichlet (sinc) kernel and point-sampled
  at the pixel centres, Gibbs ringing included; ``psf_sigma_mm`` > 0 adds a Gaussian k-space apodisation. The
  50 % point of an edge stays on the true edge (the sinc step response is antisymmetric about it;
  ``tests/phantoms/test_mr_phantoms.py`` checks the outline centre to 0.1 px).
* Through-plane: each image is a slice of rectangular profile of width ``slice_thickness_mm`` centred at
  ``z = 10 (k - 1) + slice_offset_mm``. Only the ramps and the wedges vary with z: a ramp is a fluid slot
  ``RAMPS.slot_thickness_mm`` thick along z inclined 10:1, so the image value along the ramp is the slot/slice
  overlap fraction, a trapezoid whose FWHM is exactly ``10 x max(T, slot)`` = ``10 T``; a wedge bar's end is the
  fraction of the slice above the 45-deg face, a linear ramp over ``T`` whose 50 % point moves by ``dz``, so
  ``bar_difference = right - left = 2 dz``.
* Signal: fluid ``S0 = 1000`` times a smooth multiplicative shading ``B(X, Y) = 1 - a ((X/R)^2 + (Y/R)^2) + b Y/R``
  (scanner frame, ``a = piu_shading``, ``b = a / 4``), plus an N/2 ghost: ``ghost_ratio`` times the shaded image
  circularly shifted by half the FOV along the phase-encode direction (columns, "COL"), plus Rician magnitude noise
  ``|m + n1 + i n2|``, ``n1, n2 ~ N(0, sigma^2)``; stored as uint16 (rounded; the quantisation adds 0.29 units rms).

Truth (``expected[]`` entries: id, label, value, unit, test, tolerance_note, how)
--------------------------------------------------------------------------------
Every value is computed from the noiseless image with the ACR/WS-T-263 ROI rules of ``docs/mr_design.md``; where
the Rician noise floor enters the measurement (ghost ROIs outside the phantom) from the *expected magnitude*
``E|m + n| = sigma sqrt(pi/2) L_1/2(-m^2 / 2 sigma^2)`` instead.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.fft as sfft
from scipy import ndimage, special

from phantomqc.mr.geometry import ACR_LARGE, MAGNET_FLOOD, AcrLargePhantom
from reference_phantoms._writing import MR_ORIENTATIONS, json_default, toml_value, write_mr

__all__ = [
    "DEFINITIONS",
    "GAMMA_MHZ_PER_T",
    "GENERATOR",
    "MR_PHANTOMS",
    "S0",
    "AcrTwin",
    "acr_volume",
    "ghost_rois",
    "ghosting_ratio",
    "lcd_spokes_truth",
    "lcd_spokes_distribution",
    "magnet_slice_width_image",
    "make_magnet_slice_width",
    "make_magnet_ghosting",
    "ramp_trapezoid",
    "make_acr_localizer",
    "make_acr_series",
    "make_magnet_flood",
    "make_magnet_snr_pair",
    "piu_percent",
    "render_acr_localizer",
    "render_acr_slice",
    "rician_mean",
]

GENERATOR = "reference_phantoms.mr 1"
S0 = 1000.0
#: 1H gyromagnetic ratio / 2 pi (CODATA 2018), MHz/T.
GAMMA_MHZ_PER_T = 42.577478
_BASE_TIME = _dt.datetime(2024, 1, 15, 9, 0, 0)

DEFINITIONS = {
    "mr.snr.single_image": "S / sigma: S = mean of the noiseless slice-7 signal in the ACR large ROI (200 cm^2, "
                           "centred on the phantom), sigma = the Gaussian noise SD of each channel",
    "mr.snr.subtraction": "same S / sigma (two acquisitions differing only in noise)",
    "mr.snr.smoothing": "same S / sigma",
    "mr.uniformity.piu_percent": "100 (1 - (hi - lo) / (hi + lo)), hi/lo = max/min of the mean of a 1 cm^2 "
                                 "circular ROI (pixel centres inside) over centres whose ROI lies inside the large "
                                 "ROI, on the noiseless slice 7",
    "mr.uniformity.wst263_percent": "100 (1 - (max - min) / (max + min)) over 9 circular ROIs of 200 pixels: the "
                                    "centre and 8 at 0, 45, ... 315 deg whose edge is 10 mm inside the phantom edge",
    "mr.ghosting.ratio": "|((top + bottom) - (left + right)) / (2 large)| with 10 cm^2 4:1 ellipses centred midway "
                         "between the phantom's outer wall and the FOV edge (long axis along the FOV edge), on the "
                         "expected magnitude image of slice 7",
    "mr.slice_thickness.mm": "the slice's rectangular profile width: each ramp's FWHM / 10",
    "mr.slice_position.bar_difference_mm": "right bar length - left bar length = 2 x slice offset (45 deg wedges)",
    "mr.geometry.length_mm": "inner diameter (190 mm) along any line through the centre; 148 mm S-I (sagittal)",
    "mr.resolution.hole_mm": "smallest hole size whose UL and LR arrays are both resolved in the noiseless image "
                             "(every larger size too): an array is resolved when in at least one of its rows (UL) "
                             "or columns (LR) [ACR] every gap sample is below both neighbouring hole-centre samples "
                             "(cubic B-spline reading at the drawn centres) by >= 3 sqrt(2) sigma, sigma the "
                             "channel noise SD: the analyzer's statistical criterion with the true sigma and n = 1",
    "mr.lcd.spokes": "the analyzer's statistical rule on the noiseless contrast with the true sigma: each disk's "
                     "expected z = c S (sum f^2 / sum f) / (sigma sqrt(sum f^2 / (sum f)^2 + 1 / N_B)), c the drawn "
                     "contrast, S the mean noiseless signal within 40 mm of the centre, f the disk's pixel "
                     "fractions (averaged over sub-pixel placements), N_B the pixel count of the analyzer's "
                     "background (same-radius band, 1-13 mm from the disk edge, > 1 mm from every disk, within "
                     "42 mm); one-sided p = 1 - Phi(z), Benjamini-Hochberg at alpha 0.0125 over the 30 disks taken "
                     "as observed; complete spokes counted from spoke 1 until the first incomplete one (ACR)",
    "mr.frequency.hz": "(0018,0084) Imaging Frequency x 1e6",
}


# ---- drawing primitives (fine grid) -------------------------------------------------------------------------------

def _ramp01(d: np.ndarray, h: float) -> np.ndarray:
    """Coverage of a cell of size h by the half-plane ``d > 0`` (linear in d over one cell)."""
    return np.clip(d / h + 0.5, 0.0, 1.0)


def _disc(x, y, cx, cy, r, h):
    return _ramp01(r - np.hypot(x - cx, y - cy), h)


def _rect(x, y, x0, x1, y0, y1, h):
    return _ramp01(x - x0, h) * _ramp01(x1 - x, h) * _ramp01(y - y0, h) * _ramp01(y1 - y, h)


def _overlap(a0, a1, b0, b1):
    return np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0.0, None)


@dataclass(frozen=True)
class _Grid:
    matrix: int
    fov_mm: float
    factor: int

    @property
    def h_mm(self) -> float:
        return self.fov_mm / self.matrix

    @property
    def hf_mm(self) -> float:
        return self.h_mm / self.factor

    def scanner_xy(self) -> tuple[np.ndarray, np.ndarray]:
        """Fine-cell centres in scanner mm (x right, y down), origin at the image centre ((N - 1) / 2 px)."""
        n, f = self.matrix, self.factor
        idx = (np.arange(n * f) - (f - 1) / 2.0) / f - (n - 1) / 2.0
        c = idx * self.h_mm
        return np.meshgrid(c, c)  # (X, Y), arrays (y, x)


def _grid(matrix: int, fov_mm: float) -> _Grid:
    h = fov_mm / matrix
    f = math.ceil(h / 0.2)
    if f % 2 == 0:
        f += 1
    return _Grid(int(matrix), float(fov_mm), max(f, 1))


def _to_phantom(X, Y, shift_mm, rotation_deg):
    dx, dy = X - shift_mm[0], Y - shift_mm[1]
    a = math.radians(rotation_deg)
    return dx * math.cos(a) + dy * math.sin(a), -dx * math.sin(a) + dy * math.cos(a)


def _crop_spectrum(spec: np.ndarray, n: int, axis: int) -> np.ndarray:
    """The ``n`` lowest frequencies of ``spec`` along ``axis`` in FFT order. For even ``n`` the Nyquist bin is the
    mean of the fine spectrum's +n/2 and -n/2 bins, so that a real image stays real and symmetric (no alternating
    (-1)^i artefact from a one-sided Nyquist term)."""
    nf = spec.shape[axis]
    if n % 2:
        idx = np.r_[0:n // 2 + 1, nf - n // 2:nf]
        return np.take(spec, idx, axis=axis)
    idx = np.r_[0:n // 2, nf - n // 2:nf]
    out = np.take(spec, idx, axis=axis)
    nyq = 0.5 * (np.take(spec, [n // 2], axis=axis) + np.take(spec, [nf - n // 2], axis=axis))
    sl = [slice(None)] * spec.ndim
    sl[axis] = slice(n // 2, n // 2 + 1)
    out[tuple(sl)] = nyq
    return out


def _downsample(fine: np.ndarray, f: int, psf_sigma_px: float) -> np.ndarray:
    """MR acquisition of the fine-grid object: keep the central ``N x N`` k-space samples of its spectrum (the
    acquired matrix) and reconstruct, so each pixel is the object convolved with the Dirichlet (sinc) kernel of the
    pixel, point-sampled at the pixel centre (Gibbs ringing included). ``psf_sigma_px`` > 0 adds a Gaussian k-space
    apodisation (a Gaussian PSF of that sigma, in pixels)."""
    if f > 1:
        k = (f - 1) // 2
        fine = np.roll(fine, (-k, -k), axis=(0, 1))  # pixel i's centre is fine cell i f + k
    nf = fine.shape[0]
    n = nf // f
    small = sfft.fft2(fine, workers=-1)
    for axis in (0, 1):
        small = _crop_spectrum(small, n, axis)
    if psf_sigma_px > 0:
        fr = sfft.fftfreq(n)
        g1 = np.exp(-2.0 * math.pi ** 2 * psf_sigma_px ** 2 * fr ** 2)
        small = small * g1[:, None] * g1[None, :]
    return sfft.ifft2(small, workers=-1).real / (f * f)


# ---- ACR slices -----------------------------------------------------------------------------------------------------

def _acr_fraction(number: int, x, y, hf: float, *, z_c: float, T: float, g: AcrLargePhantom,
                  lcd_contrast_scale: float, base: np.ndarray | None = None) -> np.ndarray:
    """Signal fraction of ACR slice ``number`` at phantom-frame points (x, y) (fine cells of size hf);
    ``base`` is the fluid disc, when the caller has it already."""
    R = g.inner_radius_mm
    f = _disc(x, y, 0.0, 0.0, R, hf) if base is None else base.copy()
    if number in (1, 11):
        w = g.wedges_slice1 if number == 1 else g.wedges_slice11
        # the bars: plastic from the wall down to the wedge face; fluid fraction over the slice thickness
        d = z_c - w.z_mm
        tan_w = math.tan(math.radians(w.wedge_angle_deg))
        # right bar: fluid where z' < z_v + (y - y_end) tan -> fraction of [z_c - T/2, z_c + T/2]
        fr_r = np.clip(((y - w.y_end_mm) * tan_w - d + T / 2) / T, 0.0, 1.0)
        fr_l = np.clip(((y - w.y_end_mm) * tan_w + d + T / 2) / T, 0.0, 1.0)
        g0, wd = w.gap_mm / 2, w.width_mm
        in_r = _ramp01(x - g0, hf) * _ramp01(g0 + wd - x, hf)
        in_l = _ramp01(x + g0 + wd, hf) * _ramp01(-g0 - x, hf)
        f = f * (1 - in_r * (1 - fr_r)) * (1 - in_l * (1 - fr_l))
    if number == 1:
        rp = g.ramps
        ins = _rect(x, y, -rp.insert_width_mm / 2, rp.insert_width_mm / 2, -rp.insert_height_mm / 2,
                    rp.insert_height_mm / 2, hf)
        ramp_sig = np.zeros_like(x)
        for k, yk in enumerate(rp.y_mm):
            sign = 1.0 if k == 0 else -1.0
            z_r = rp.z_cross_mm + sign * x / rp.slope_ratio
            frac = _overlap(z_c - T / 2, z_c + T / 2, z_r - rp.slot_thickness_mm / 2, z_r + rp.slot_thickness_mm / 2) / T
            band = _rect(x, y, -rp.length_mm / 2, rp.length_mm / 2, yk - rp.band_height_mm / 2,
                         yk + rp.band_height_mm / 2, hf)
            ramp_sig = ramp_sig + band * frac
        f = f * (1 - ins) + ins * ramp_sig
        # ring at the upper left
        cx, cy = g.slice1_ring_center_mm
        r0, r1 = g.slice1_ring_radii_mm
        ring = _disc(x, y, cx, cy, r1, hf) * (1 - _disc(x, y, cx, cy, r0, hf))
        f = f * (1 - ring)
        # resolution block: dark, holding fluid holes and two fluid alignment squares
        x0, x1, y0, y1 = g.resolution_block_mm
        blk = _rect(x, y, x0, x1, y0, y1, hf)
        fluid = np.zeros_like(x)
        s2 = g.alignment_square_side_mm / 2
        for (sx, sy) in g.alignment_squares_mm:
            fluid = np.maximum(fluid, _rect(x, y, sx - s2, sx + s2, sy - s2, sy + s2, hf))
        bx0, by0 = x0 - 1, y0 - 1
        sub = (x > bx0) & (x < x1 + 1) & (y > by0) & (y < y1 + 1)
        xs, ys = x[sub], y[sub]
        holes = np.zeros_like(xs)
        for pair in g.hole_pairs:
            for arr in (pair.upper_left, pair.lower_right):
                for (hx, hy) in arr.hole_centres_mm():
                    near = (np.abs(xs - hx) < arr.diameter_mm) & (np.abs(ys - hy) < arr.diameter_mm)
                    if near.any():
                        holes[near] = np.maximum(holes[near], _disc(xs[near], ys[near], hx, hy,
                                                                     arr.diameter_mm / 2, hf))
        fluid_sub = np.maximum(fluid[sub], holes)
        fluid[sub] = fluid_sub
        f = f * (1 - blk) + blk * fluid
    elif number == 5:
        gr = g.grid
        inside = _disc(x, y, 0.0, 0.0, gr.diameter_mm / 2, hf)
        p = gr.pitch_mm
        dxl = np.abs((x + p / 2) % p - p / 2)
        dyl = np.abs((y + p / 2) % p - p / 2)
        line = np.maximum(_ramp01(gr.line_mm / 2 - dxl, hf), _ramp01(gr.line_mm / 2 - dyl, hf))
        f = f * (1 - inside * line)
    if number in g.lcd_slices:
        cx, cy = g.lcd_center_mm
        r_in = g.lcd_region_diameter_mm / 2
        r_out = g.lcd_ring_outer_diameter_mm / 2
        ring = _disc(x, y, cx, cy, r_out, hf) * (1 - _disc(x, y, cx, cy, r_in, hf))
        f = f * (1 - ring)
        c = g.lcd_contrast_for_slice(number) / 100.0 * lcd_contrast_scale
        sub = np.hypot(x - cx, y - cy) < r_in
        xs, ys = x[sub], y[sub]
        add = np.zeros_like(xs)
        for spoke in g.lcd_spoke_table(number):
            for dk in spoke.disks:
                a = math.radians(dk.angle_deg)
                dxk, dyk = cx + dk.radius_mm * math.cos(a), cy + dk.radius_mm * math.sin(a)
                near = (np.abs(xs - dxk) < dk.diameter_mm) & (np.abs(ys - dyk) < dk.diameter_mm)
                add[near] = np.maximum(add[near], _disc(xs[near], ys[near], dxk, dyk, dk.diameter_mm / 2, hf))
        f[sub] = f[sub] * (1 + c * add)
    return f


def render_acr_slice(number: int, *, matrix: int = 256, fov_mm: float = 250.0, slice_thickness_mm: float = 5.0,
                     slice_offset_mm: float = 0.0, rotation_deg: float = 0.0, shift_mm=(0.0, 0.0),
                     lcd_contrast_scale: float = 1.0, psf_sigma_mm: float | None = None,
                     phantom: AcrLargePhantom = ACR_LARGE) -> np.ndarray:
    """Noise-free, unshaded signal fraction (fluid = 1) of ACR slice ``number`` (1..11) on a ``matrix``^2 grid.

    ``rotation_deg``: phantom rotation, clockwise on screen; ``shift_mm``: (x, y) of the phantom centre from the
    image centre (pixel ``(N - 1) / 2``), mm; ``slice_offset_mm``: slice centres displaced along +z.
    """
    return _render_acr_slices((int(number),), matrix=matrix, fov_mm=fov_mm, slice_thickness_mm=slice_thickness_mm,
                              slice_offset_mm=slice_offset_mm, rotation_deg=rotation_deg, shift_mm=shift_mm,
                              lcd_contrast_scale=lcd_contrast_scale, psf_sigma_mm=psf_sigma_mm, phantom=phantom)[0]


_PLAIN_SLICES = (2, 3, 4, 6, 7)  # uniform fluid in the twin: rendered once per series


def _render_acr_slices(numbers, *, matrix, fov_mm, slice_thickness_mm, slice_offset_mm, rotation_deg, shift_mm,
                       lcd_contrast_scale, psf_sigma_mm, phantom) -> np.ndarray:
    grid = _grid(matrix, fov_mm)
    X, Y = grid.scanner_xy()
    x, y = _to_phantom(X, Y, shift_mm, rotation_deg)
    del X, Y
    base = _disc(x, y, 0.0, 0.0, phantom.inner_radius_mm, grid.hf_mm)
    sig = (0.0 if psf_sigma_mm is None else psf_sigma_mm) / grid.h_mm
    out, plain = [], None
    for number in numbers:
        if number in _PLAIN_SLICES:
            if plain is None:
                plain = _downsample(base, grid.factor, sig)
            out.append(plain)
            continue
        z_c = phantom.slice_z_mm(number) + slice_offset_mm
        fine = _acr_fraction(int(number), x, y, grid.hf_mm, z_c=z_c, T=float(slice_thickness_mm), g=phantom,
                             lcd_contrast_scale=lcd_contrast_scale, base=base)
        out.append(_downsample(fine, grid.factor, sig))
    return np.stack(out)


def render_acr_localizer(*, matrix: int = 256, fov_mm: float = 250.0, shift_mm=(0.0, 0.0),
                         psf_sigma_mm: float | None = None, phantom: AcrLargePhantom = ACR_LARGE) -> np.ndarray:
    """Noise-free signal fraction of the ACR sagittal localiser: rows = S-I (superior at the top), columns = A-P.

    The fluid is the 148 x 190 mm rectangle (inner length x inner diameter); the slice-1 insert block and the
    slice-5 grid plate are drawn as dark bands across A-P (twin's own, only to give the image structure).
    """
    grid = _grid(matrix, fov_mm)
    X, Y = grid.scanner_xy()
    x, y = X - shift_mm[0], Y - shift_mm[1]
    L, D = phantom.inner_length_mm, phantom.inner_diameter_mm
    hf = grid.hf_mm
    f = _rect(x, y, -D / 2, D / 2, -L / 2, L / 2, hf)
    # phantom z (slice 1 = 0) runs upward on screen; slice 1 sits slice1_to_inner_end_mm above the inferior end
    z_of_y = (L / 2 - y) - phantom.slice1_to_inner_end_mm
    for z0, z1 in ((-3.0, 3.0), (38.5, 41.5)):
        f = f * (1 - _ramp01(z_of_y - z0, hf) * _ramp01(z1 - z_of_y, hf) * _ramp01(D / 2 - 10 - np.abs(x), hf))
    sig = (0.0 if psf_sigma_mm is None else psf_sigma_mm) / grid.h_mm
    return _downsample(f, grid.factor, sig)


# ---- signal model and truth ---------------------------------------------------------------------------------------

def _pixel_xy(matrix: int, fov_mm: float) -> tuple[np.ndarray, np.ndarray]:
    h = fov_mm / matrix
    c = (np.arange(matrix) - (matrix - 1) / 2.0) * h
    return np.meshgrid(c, c)


def _shading(matrix: int, fov_mm: float, a: float, radius_mm: float) -> np.ndarray:
    X, Y = _pixel_xy(matrix, fov_mm)
    return 1.0 - a * ((X / radius_mm) ** 2 + (Y / radius_mm) ** 2) + (a / 4.0) * (Y / radius_mm)


def rician_mean(m: np.ndarray, sigma: float) -> np.ndarray:
    """``E|m + n1 + i n2|`` for ``n ~ N(0, sigma^2)``: ``sigma sqrt(pi/2) L_1/2(-m^2 / 2 sigma^2)`` (Rice 1944),
    with ``L_1/2(x) = e^(x/2) [(1 - x) I0(-x/2) - x I1(-x/2)]`` written with the scaled Bessel functions."""
    m = np.asarray(m, dtype=np.float64)
    if sigma <= 0:
        return np.abs(m)
    t = m * m / (4.0 * sigma * sigma)  # -x/2 with x = -m^2 / 2 sigma^2
    lag = (1.0 + 2.0 * t) * special.i0e(t) + 2.0 * t * special.i1e(t)
    return sigma * math.sqrt(math.pi / 2.0) * lag


def _disk_mask(shape, center_px, radius_mm, spacing) -> np.ndarray:
    rr, cc = np.mgrid[:shape[0], :shape[1]]
    return ((rr - center_px[0]) * spacing[0]) ** 2 + ((cc - center_px[1]) * spacing[1]) ** 2 <= radius_mm ** 2


def _disk_kernel(radius_mm: float, spacing) -> np.ndarray:
    ry, rx = math.ceil(radius_mm / spacing[0]), math.ceil(radius_mm / spacing[1])
    yy, xx = np.mgrid[-ry:ry + 1, -rx:rx + 1]
    return ((yy * spacing[0]) ** 2 + (xx * spacing[1]) ** 2 <= radius_mm ** 2).astype(float)


def piu_percent(img: np.ndarray, center_px, spacing, *, large_radius_mm: float, small_radius_mm: float) -> float:
    """ACR PIU on a noiseless image: 1 cm^2 ROI means over every centre whose ROI lies inside the large ROI."""
    k = _disk_kernel(small_radius_mm, spacing)
    means = ndimage.convolve(img.astype(np.float64), k / k.sum(), mode="constant")
    ok = _disk_mask(img.shape, center_px, large_radius_mm - small_radius_mm, spacing)
    hi, lo = float(means[ok].max()), float(means[ok].min())
    return 100.0 * (1.0 - (hi - lo) / (hi + lo))


def _ellipse_mask(shape, center_px, a_mm, b_mm, horizontal: bool, spacing) -> np.ndarray:
    rr, cc = np.mgrid[:shape[0], :shape[1]]
    dy = (rr - center_px[0]) * spacing[0]
    dx = (cc - center_px[1]) * spacing[1]
    ax, ay = (a_mm, b_mm) if horizontal else (b_mm, a_mm)
    return (dx / ax) ** 2 + (dy / ay) ** 2 <= 1.0


def ghost_rois(shape, center_px, spacing, fov_mm: float, g: AcrLargePhantom = ACR_LARGE) -> dict[str, np.ndarray]:
    """The four ACR ghost ellipses (masks) of the truth rule: 10 cm^2, 4:1, centred midway between the outer wall
    and the FOV edge, long axis parallel to that FOV edge."""
    a, b = g.uniformity.ghost_semi_axes_mm
    sy, sx = spacing
    out = {}
    r_out = g.outer_diameter_mm / 2
    for name, (ux, uy) in {"top": (0, -1), "bottom": (0, 1), "left": (-1, 0), "right": (1, 0)}.items():
        if ux == 0:
            edge = (fov_mm / 2) - uy * (center_px[0] - (shape[0] - 1) / 2) * sy  # distance to the FOV edge
        else:
            edge = (fov_mm / 2) - ux * (center_px[1] - (shape[1] - 1) / 2) * sx
        d = (r_out + edge) / 2
        c = (center_px[0] + uy * d / sy, center_px[1] + ux * d / sx)
        out[name] = _ellipse_mask(shape, c, a, b, horizontal=(ux == 0), spacing=spacing)
    return out


def ghosting_ratio(img: np.ndarray, center_px, spacing, fov_mm: float, g: AcrLargePhantom = ACR_LARGE) -> float:
    large = _disk_mask(img.shape, center_px, g.uniformity.large_radius_mm, spacing)
    m = {k: float(img[v].mean()) for k, v in ghost_rois(img.shape, center_px, spacing, fov_mm, g).items()}
    return abs(((m["top"] + m["bottom"]) - (m["left"] + m["right"])) / (2.0 * float(img[large].mean())))


def _wst263_percent(img, center_px, spacing, radius_mm: float) -> float:
    r_roi = math.sqrt(200.0 * spacing[0] * spacing[1] / math.pi)
    d = radius_mm - 10.0 - r_roi
    means = []
    for k in range(9):
        if k == 0:
            c = center_px
        else:
            a = math.radians(45.0 * (k - 1))
            c = (center_px[0] + d * math.sin(a) / spacing[0], center_px[1] + d * math.cos(a) / spacing[1])
        means.append(float(img[_disk_mask(img.shape, c, r_roi, spacing)].mean()))
    return 100.0 * (1.0 - (max(means) - min(means)) / (max(means) + min(means)))


def _holes_resolved(frac1: np.ndarray, center_px, spacing, rotation_deg: float, g: AcrLargePhantom,
                    threshold: float = 0.10) -> float | None:
    """Smallest hole size resolved in both arrays of the noiseless slice-1 image (see DEFINITIONS); ``threshold``
    in the units of ``frac1``."""
    a = math.radians(rotation_deg)

    def px(xm, ym):
        xr, yr = xm * math.cos(a) - ym * math.sin(a), xm * math.sin(a) + ym * math.cos(a)
        return center_px[0] + yr / spacing[0], center_px[1] + xr / spacing[1]

    def sample(pts):
        rc = np.array([px(*p) for p in pts]).T
        return ndimage.map_coordinates(frac1, rc, order=3)

    best = None
    for pair in sorted(g.hole_pairs, key=lambda p: -p.diameter_mm):
        ok = True
        for arr, along_x in ((pair.upper_left, True), (pair.lower_right, False)):
            c = np.array(arr.hole_centres_mm()).reshape(arr.n, arr.n, 2)  # [row j][col i]
            lines = [c[j] for j in range(arr.n)] if along_x else [c[:, i] for i in range(arr.n)]
            any_line = False
            for line in lines:
                peaks = sample(line)
                gaps = sample((line[:-1] + line[1:]) / 2)
                if np.all(np.minimum(peaks[:-1], peaks[1:]) - gaps >= threshold):
                    any_line = True
            ok = ok and any_line
        if not ok:
            break  # every larger size must be resolved too
        best = pair.diameter_mm
    return best


def lcd_spokes_truth(sigma: float, signal: float, spacing, scale: float = 1.0,
                     g: AcrLargePhantom = ACR_LARGE, alpha: float = 0.0125) -> dict[int, int]:
    """Model spoke count per LCD slice: the analyzer's statistical rule on the noiseless contrast with the known
    sigma (see ``DEFINITIONS['mr.lcd.spokes']``).

    Per disk (diameter d, radius r_k from the LCD centre) and pixel spacing (sy, sx): the analyzer's statistic is the
    matched-disk mean ``sum f v / sum f`` (f the fraction of each pixel inside the disk) minus the mean of N_B
    background pixels; for white noise of SD ``sigma`` its SD is ``sigma sqrt(sum f^2 / (sum f)^2 + 1 / N_B)`` and
    its noiseless value ``c S sum f^2 / sum f`` (c the drawn contrast x ``scale``, S = ``signal``). sum f, sum f^2
    are averaged over 4 x 4 sub-pixel placements of the disk (8 x 8 sub-samples per pixel); N_B = the area / pixel
    area of the analyzer's background: the band r_k +- max(d/2, 1.5 mm) about the LCD centre, 1 to 13 mm from the
    disk's edge, more than 1 mm from every disk's edge, within 42 mm of the LCD centre (phantomqc.mr.lcd). The
    expected z's of the 30 disks are taken as observed: one-sided p = 1 - Phi(z), Benjamini-Hochberg at ``alpha``
    (the analyzer's default 0.0125), and spokes are counted from spoke 1 while all 3 disks are detected (ACR)."""
    z, number = _lcd_disk_z(sigma, signal, spacing, scale, g)
    return {sl: _lcd_count(zk, number, alpha) for sl, zk in z.items()}


def lcd_spokes_distribution(sigma: float, signal: float, spacing, scale: float = 1.0,
                            g: AcrLargePhantom = ACR_LARGE, alpha: float = 0.0125, n_draws: int = 4000,
                            seed: int = 0) -> dict[int, np.ndarray]:
    """The distribution of the spoke count per LCD slice under noise: ``n_draws`` counts per slice.

    ``lcd_spokes_truth`` applies the rule to the expected z of each disk; a noisy image's z is that plus a
    standard normal deviate (the analyzer's statistic is calibrated to unit SD), and the count stops at the first
    spoke with a disk below the cut, so near the cut the count of one image is lower than the rule on the expected
    z more often than it is higher. This draws the 30 z's independently (neighbouring disks share a few
    background pixels; their correlation is ignored) and applies the same rule to each draw.
    """
    z, number = _lcd_disk_z(sigma, signal, spacing, scale, g)
    rng = np.random.default_rng(seed)
    return {sl: np.array([_lcd_count(zk + rng.standard_normal(zk.size), number, alpha) for _ in range(n_draws)])
            for sl, zk in z.items()}


def _lcd_disk_z(sigma: float, signal: float, spacing, scale: float, g: AcrLargePhantom
                ) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """The expected z of each of the 30 disks per LCD slice, and each disk's spoke number."""
    sy, sx = float(spacing[0]), float(spacing[1])
    spokes = g.lcd_spoke_table()
    disks = [(dk.diameter_mm, dk.radius_mm, math.radians(dk.angle_deg), spoke.number) for spoke in spokes
             for dk in spoke.disks]
    diam = np.array([d[0] for d in disks])
    rad = np.array([d[1] for d in disks])
    ang = np.array([d[2] for d in disks])
    dxs, dys = rad * np.cos(ang), rad * np.sin(ang)
    # matched-filter moments, averaged over sub-pixel placements
    sub = (np.arange(8) + 0.5) / 8 - 0.5
    offs = (np.arange(4) + 0.5) / 4 - 0.5
    mom = {}
    for d in np.unique(diam):
        n = math.ceil(d / 2 / min(sy, sx)) + 2
        acc = np.zeros(2)
        for oy in offs:
            for ox in offs:
                yy = ((np.arange(-n, n + 1)[:, None] + sub[None, :]).ravel() + oy) * sy
                xx = ((np.arange(-n, n + 1)[:, None] + sub[None, :]).ravel() + ox) * sx
                inside = (yy[:, None] ** 2 + xx[None, :] ** 2) <= (d / 2) ** 2
                f = inside.reshape(2 * n + 1, 8, 2 * n + 1, 8).mean(axis=(1, 3))
                acc += (f.sum(), (f * f).sum())
        mom[float(d)] = acc / offs.size ** 2
    # background areas on a 0.1 mm grid about each disk
    h = 0.1
    z = np.empty(diam.size)
    for k in range(diam.size):
        rin = diam[k] / 2 + 1.0
        rout = rin + 12.0
        half = max(diam[k] / 2, 1.5)
        t = np.arange(-rout, rout + h / 2, h)
        yy, xx = np.meshgrid(dys[k] + t, dxs[k] + t, indexing="ij")
        rho = np.hypot(yy, xx)
        dd = np.hypot(yy - dys[k], xx - dxs[k])
        ok = (dd > rin) & (dd <= rout) & (np.abs(rho - rad[k]) <= half) & (rho <= 42.0)
        for m in np.nonzero(np.hypot(dys - dys[k], dxs - dxs[k]) < rout + diam / 2 + 1.5)[0]:
            ok &= np.hypot(yy - dys[m], xx - dxs[m]) > diam[m] / 2 + 1.0
        n_b = ok.sum() * h * h / (sy * sx)
        s1, s2 = mom[float(diam[k])]
        z[k] = (s2 / s1) / math.sqrt(s2 / s1 ** 2 + 1.0 / n_b) if n_b > 0 else 0.0
    number = np.array([d[3] for d in disks])
    out = {}
    for sl in g.lcd_slices:
        c = g.lcd_contrast_for_slice(sl) / 100.0 * scale
        out[sl] = c * signal * z / sigma if sigma > 0 else np.full(z.size, np.inf)
    return out, number


def _lcd_count(zk: np.ndarray, number: np.ndarray, alpha: float) -> int:
    """One-sided p = 1 - Phi(z), Benjamini-Hochberg at ``alpha`` over the disks, then complete spokes from 1."""
    p = 0.5 * special.erfc(zk / math.sqrt(2.0))
    order = np.argsort(p, kind="stable")
    below = p[order] <= alpha * np.arange(1, p.size + 1) / p.size
    det = np.zeros(p.size, dtype=bool)
    if below.any():
        det[order[: int(np.nonzero(below)[0].max()) + 1]] = True
    n = 0
    for s_no in range(1, int(number.max()) + 1):
        if not det[number == s_no].all():
            break
        n += 1
    return n


def _exp(metric_id: str, value, unit: str, test: str, note: str, how: str, label: str | None = None) -> dict:
    if value is not None and not isinstance(value, int):
        value = float(value)
    return {"id": metric_id, "label": label, "value": value, "unit": unit, "test": test, "tolerance_note": note,
            "how": how}


@dataclass(frozen=True)
class AcrTwin:
    """An ACR series in memory: ``noiseless`` (11, N, N) expected signal before noise (shading + ghost),
    ``images`` the noisy magnitude (float), ``sigma`` the channel noise SD, ``center_px`` the phantom centre
    (row, col), ``expected`` the truth entries, ``parameters`` the options."""

    noiseless: np.ndarray
    images: np.ndarray
    images_repeat: np.ndarray | None
    sigma: float
    spacing_mm: tuple[float, float]
    center_px: tuple[float, float]
    z_mm: tuple[float, ...]
    parameters: dict
    expected: list[dict] = field(default_factory=list)


def acr_volume(*, matrix: int = 256, fov_mm: float = 250.0, seed: int = 0, snr: float = 100.0,
               piu_shading: float = 0.08, ghost_ratio: float = 0.02, slice_thickness_mm: float = 5.0,
               slice_offset_mm: float = 0.0, rotation_deg: float = 0.0, shift_mm=(0.0, 0.0),
               lcd_contrast_scale: float = 1.0, noise_sigma: float | None = None, repeat: bool = False,
               field_strength_t: float = 1.5, psf_sigma_mm: float | None = None,
               phantom: AcrLargePhantom = ACR_LARGE) -> AcrTwin:
    """The 11-slice ACR twin in memory, with its truth (see the module docstring for the model).

    ``snr``: S / sigma with S the mean noiseless slice-7 signal in the large ROI (ignored when ``noise_sigma`` is
    given, in stored units). ``ghost_ratio``: amplitude of the N/2 ghost copy (the truth ghosting ratio is computed,
    it is close to this value). ``repeat``: also make a second acquisition (new noise) for subtraction SNR.
    """
    if matrix < 64 or fov_mm <= 0:
        raise ValueError(f"matrix must be >= 64 and fov_mm > 0, got {matrix}, {fov_mm}")
    rng = np.random.default_rng(seed)
    h = fov_mm / matrix
    spacing = (h, h)
    center_px = ((matrix - 1) / 2 + shift_mm[1] / h, (matrix - 1) / 2 + shift_mm[0] / h)
    R = phantom.inner_radius_mm
    shade = _shading(matrix, fov_mm, piu_shading, R)
    frac = _render_acr_slices(tuple(range(1, 12)), matrix=matrix, fov_mm=fov_mm,
                              slice_thickness_mm=slice_thickness_mm, slice_offset_mm=slice_offset_mm,
                              rotation_deg=rotation_deg, shift_mm=shift_mm, lcd_contrast_scale=lcd_contrast_scale,
                              psf_sigma_mm=psf_sigma_mm, phantom=phantom)
    clean = S0 * frac * shade[None]
    ghost = ghost_ratio * np.roll(clean, matrix // 2, axis=1)  # N/2 ghost along the columns (phase encode "COL")
    m = clean + ghost
    large = _disk_mask((matrix, matrix), center_px, phantom.uniformity.large_radius_mm, spacing)
    s_large = float(m[6][large].mean())
    sigma = float(noise_sigma) if noise_sigma is not None else s_large / float(snr)

    def noisy():
        n1 = rng.normal(0.0, sigma, m.shape)
        n2 = rng.normal(0.0, sigma, m.shape)
        return np.hypot(m + n1, n2)

    imgs = noisy()
    imgs2 = noisy() if repeat else None

    # ---- truth
    T = "acr"
    exp = []
    snr_true = s_large / sigma
    for mid in ("mr.snr.single_image", "mr.snr.smoothing") + (("mr.snr.subtraction",) if repeat else ()):
        exp.append(_exp(mid, snr_true, "1", T, "5 % (issue 4); the large-ROI mean differs from a smaller ROI's by the "
                                               "shading", "S_large / sigma"))
    piu = piu_percent(m[6], center_px, spacing, large_radius_mm=phantom.uniformity.large_radius_mm,
                      small_radius_mm=phantom.uniformity.small_radius_mm)
    exp.append(_exp("mr.uniformity.piu_percent", piu, "%", T, "1 percentage point (issue 4)",
                    "ACR rule on the noiseless slice 7 (docs/mr_design.md)"))
    exp.append(_exp("mr.uniformity.wst263_percent", _wst263_percent(m[6], center_px, spacing, R), "%", T,
                    "1 percentage point", "9 ROIs of 200 px on the noiseless slice 7"))
    expected_mag = rician_mean(m[6], sigma)
    gr = ghosting_ratio(expected_mag, center_px, spacing, fov_mm, phantom)
    exp.append(_exp("mr.ghosting.ratio", gr, "1", T, "0.002 (issue 4)",
                    "ACR rule on the expected (Rician-mean) magnitude of slice 7"))
    exp.append(_exp("mr.ghosting.percent", 100.0 * gr, "%", T, "0.2 percentage point", "100 x ratio"))
    exp.append(_exp("mr.slice_thickness.mm", slice_thickness_mm, "mm", T, "0.15 mm (issue 4)",
                    "rect slice profile of this width; ramp FWHM = 10 x width exactly"))
    bar = phantom.wedges_slice1.bar_difference_per_mm_offset * slice_offset_mm
    for lab in ("slice1", "slice11"):
        exp.append(_exp("mr.slice_position.bar_difference_mm", bar, "mm", T, "0.3 mm (issue 4)",
                        "2 x slice_offset_mm (right - left)", label=lab))
    for lab in ("slice1_horizontal", "slice1_vertical", "slice5_horizontal", "slice5_vertical", "slice5_diagonal1",
                "slice5_diagonal2"):
        exp.append(_exp("mr.geometry.length_mm", phantom.inner_diameter_mm, "mm", T, "0.5 mm (issue 4)",
                        "inner diameter (the drawn fluid disc)", label=lab))
    hole = _holes_resolved(m[0], center_px, spacing, rotation_deg, phantom, threshold=3.0 * math.sqrt(2.0) * sigma)
    if hole is not None:
        exp.append(_exp("mr.resolution.hole_mm", hole, "mm", T, "exact (one hole size step)",
                        DEFINITIONS["mr.resolution.hole_mm"]))
    lcd_signal = S0 * float(np.mean(shade[_disk_mask(shade.shape, center_px, 40.0, spacing)]))
    spokes = lcd_spokes_truth(sigma, lcd_signal, spacing, lcd_contrast_scale, phantom)
    for sl, n in spokes.items():
        exp.append(_exp("mr.lcd.spokes", n, "1", T, "model value: +-1 spoke per slice unless all 10 (exact at high "
                                                    "CNR)", DEFINITIONS["mr.lcd.spokes"], label=f"slice{sl}"))
    exp.append(_exp("mr.lcd.spokes", int(sum(spokes.values())), "1", T, "+-2 (model value)", "sum of the slices",
                    label="total"))
    exp.append(_exp("mr.frequency.hz", round(GAMMA_MHZ_PER_T * field_strength_t, 6) * 1e6, "Hz", T, "exact",
                    "(0018,0084) x 1e6"))
    params = {"matrix": matrix, "fov_mm": fov_mm, "seed": seed, "snr": snr_true, "piu_shading": piu_shading,
                  "ghost_amplitude": ghost_ratio, "slice_thickness_mm": slice_thickness_mm,
                  "slice_offset_mm": slice_offset_mm, "rotation_deg": rotation_deg, "shift_mm": list(shift_mm),
                  "lcd_contrast_scale": lcd_contrast_scale, "noise_sigma": sigma, "signal_large_roi": s_large,
                  "lcd_signal": lcd_signal, "center_px": list(center_px), "spacing_mm": list(spacing), "field_strength_t": field_strength_t,
                  "psf_sigma_mm": 0.0 if psf_sigma_mm is None else psf_sigma_mm, "s0": S0, "repeat": repeat,
                  "phase_encoding": "COL", "ghost_ratio_noiseless": ghosting_ratio(m[6], center_px, spacing, fov_mm,
                                                                             phantom)}
    z = tuple(phantom.slice_z_mm(k) + slice_offset_mm for k in range(1, 12))
    return AcrTwin(noiseless=m, images=imgs, images_repeat=imgs2, sigma=sigma, spacing_mm=spacing,
                   center_px=center_px, z_mm=z, parameters=params, expected=exp)


# ---- writing ------------------------------------------------------------------------------------------------------

def _stored(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img), 0, 65535).astype(np.uint16)


def _write_stack(folder: Path, images: np.ndarray, *, spacing, positions, orientation, thickness: float,
                 spacing_between: float | None, series_number: int, description: str, study_uid: str,
                 field_strength_t: float, image_type=("ORIGINAL", "PRIMARY", "M", "ND"), tr_ms: float = 500.0,
                 te_ms: float = 20.0, protocol: str = "", phase_encoding: str = "COL") -> list[Path]:
    from phantomqc.io.write import new_uid

    folder.mkdir(parents=True, exist_ok=True)
    series_uid, frame_uid = new_uid(), new_uid()
    t = _BASE_TIME + _dt.timedelta(minutes=5 * series_number)
    hdr = {"SeriesDescription": description, "ProtocolName": protocol or description,
           "ImageComments": "phantomqc reference phantom",
           "StudyDate": _BASE_TIME.strftime("%Y%m%d"), "StudyTime": _BASE_TIME.strftime("%H%M%S"),
           "SeriesDate": t.strftime("%Y%m%d"), "SeriesTime": t.strftime("%H%M%S"),
           "AcquisitionDate": t.strftime("%Y%m%d"), "AcquisitionTime": t.strftime("%H%M%S"),
           "ContentDate": t.strftime("%Y%m%d"), "ContentTime": t.strftime("%H%M%S")}
    paths = []
    for i, img in enumerate(images):
        paths.append(write_mr(folder / f"MR{i + 1:04d}.dcm", _stored(img), spacing_mm=spacing,
                              position_mm=positions[i], orientation=orientation, slice_thickness_mm=thickness,
                              spacing_between_slices_mm=spacing_between, series_uid=series_uid, study_uid=study_uid,
                              frame_of_reference_uid=frame_uid, instance_number=i + 1, series_number=series_number,
                              field_strength_t=field_strength_t, tr_ms=tr_ms, te_ms=te_ms, image_type=image_type,
                              header=hdr, phase_encoding=phase_encoding))
    return paths


def _manifest(tests: list[dict], profile: str = "acr-mri", spec: dict | None = None) -> str:
    lines = ['schema = "phantomqc.manifest/1"', f"profile = {toml_value(profile)}", 'test_type = "acceptance"', "",
             "# written by reference_phantoms.mr; the expected values are in truth.json", ""]
    if spec:
        body = ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in spec.items())
        lines += ["# the reference scanner's 'manufacturer specification'", f"spec = {{{body}}}", ""]
    for t in tests:
        lines.append("[[test]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in t.items()]
        lines.append("")
    return "\n".join(lines)


def _truth(parameters: dict, expected: list[dict], files: list[dict]) -> dict:
    return {"schema": "phantomqc.truth/1", "generator": GENERATOR, "parameters": parameters,
            "definitions": DEFINITIONS, "expected": expected, "slices": files}


def _axial_positions(matrix: int, h: float, z: tuple[float, ...], z0: float = -50.0):
    x0 = -(matrix - 1) * h / 2.0
    return [(x0, x0, z0 + zz) for zz in z]


def make_acr_series(out_dir, *, matrix: int = 256, fov_mm: float = 250.0, seed: int = 0, snr: float = 100.0,
                    piu_shading: float = 0.08, ghost_ratio: float = 0.02, slice_thickness_mm: float = 5.0,
                    slice_offset_mm: float = 0.0, rotation_deg: float = 0.0, shift_mm=(0.0, 0.0),
                    lcd_contrast_scale: float = 1.0, noise_sigma: float | None = None, repeat: bool = False,
                    field_strength_t: float = 1.5, quality: str = "pass", **ignored) -> Path:
    """Write the 11-slice axial ACR twin: ``out_dir/series/MR0001..0011.dcm`` (slice 1 first, ascending z),
    with ``repeat`` also ``out_dir/series2/`` (same signal, new noise), ``truth.json`` and ``manifest.toml``
    (profile acr-mri, kind ``mr.acr``); returns the manifest path.

    ``quality="fail"`` breaks ACR limits: PIU (shading 0.3), ghosting (0.05) and slice thickness (6.5 mm).
    """
    if quality == "fail":
        piu_shading, ghost_ratio, slice_thickness_mm = 0.3, 0.05, 6.5
    elif quality != "pass":
        raise ValueError(f"quality must be 'pass' or 'fail', got {quality!r}")
    from phantomqc.io.write import new_uid

    tw = acr_volume(matrix=matrix, fov_mm=fov_mm, seed=seed, snr=snr, piu_shading=piu_shading,
                    ghost_ratio=ghost_ratio, slice_thickness_mm=slice_thickness_mm, slice_offset_mm=slice_offset_mm,
                    rotation_deg=rotation_deg, shift_mm=shift_mm, lcd_contrast_scale=lcd_contrast_scale,
                    noise_sigma=noise_sigma, repeat=repeat, field_strength_t=field_strength_t)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    study = new_uid()
    pos = _axial_positions(matrix, tw.spacing_mm[0], tw.z_mm)
    kw = {"spacing": tw.spacing_mm, "positions": pos, "orientation": MR_ORIENTATIONS["axial"],
              "thickness": slice_thickness_mm, "spacing_between": 10.0, "study_uid": study,
              "field_strength_t": field_strength_t, "description": "ACR T1 AX", "protocol": "ACR_T1_TRA"}
    _write_stack(out / "series", tw.images, series_number=1, **kw)
    tests = [{"kind": "mr.acr", "name": "acr_t1", "images": ["series"]}]
    if repeat:
        _write_stack(out / "series2", tw.images_repeat, series_number=2, **kw)
        tests[0]["repeat"] = ["series2"]  # the subtraction SNR pair of slice 7
    files = [{"file": f"series/MR{i + 1:04d}.dcm", "acr_slice": i + 1, "z_phantom_mm": float(tw.z_mm[i]),
              "z_patient_mm": float(pos[i][2]), "center_px": list(tw.center_px)} for i in range(11)]
    (out / "truth.json").write_text(json.dumps(_truth(tw.parameters, tw.expected, files), indent=1,
                                               default=json_default))
    (out / "manifest.toml").write_text(_manifest(tests))
    return out / "manifest.toml"


def make_acr_localizer(out_dir, *, matrix: int = 256, fov_mm: float = 250.0, seed: int = 0, snr: float = 50.0,
                       shift_mm=(0.0, 0.0), field_strength_t: float = 1.5, **ignored) -> Path:
    """Write the ACR sagittal localiser (one image, (0008,0008) with LOCALIZER): ``series/MR0001.dcm``, truth
    ``mr.geometry.length_mm`` label ``sagittal_si`` = 148 mm; returns the manifest path."""
    from phantomqc.io.write import new_uid

    rng = np.random.default_rng(seed)
    h = fov_mm / matrix
    m = S0 * render_acr_localizer(matrix=matrix, fov_mm=fov_mm, shift_mm=shift_mm)
    sigma = S0 / snr
    img = np.hypot(m + rng.normal(0, sigma, m.shape), rng.normal(0, sigma, m.shape))
    out = Path(out_dir)
    # sagittal: rows along +y (posterior), columns along -z; top-left pixel at (0, y0, z_top)
    c0 = (matrix - 1) * h / 2.0
    _write_stack(out / "series", img[None], spacing=(h, h), positions=[(0.0, -c0, c0)],
                 orientation=MR_ORIENTATIONS["sagittal"], thickness=10.0, spacing_between=None, series_number=1,
                 description="Sagittal Localizer", study_uid=new_uid(), field_strength_t=field_strength_t,
                 image_type=("ORIGINAL", "PRIMARY", "LOCALIZER", "NONE"), tr_ms=200.0)
    exp = [_exp("mr.geometry.length_mm", ACR_LARGE.inner_length_mm, "mm", "acr_localizer", "0.5 mm (issue 4)",
                "inner length (the drawn fluid rectangle, S-I)", label="sagittal_si")]
    params = {"matrix": matrix, "fov_mm": fov_mm, "seed": seed, "snr": snr, "noise_sigma": sigma, "shift_mm": list(shift_mm),
                  "center_px": [(matrix - 1) / 2 + shift_mm[1] / h, (matrix - 1) / 2 + shift_mm[0] / h]}
    (out / "truth.json").write_text(json.dumps(_truth(params, exp, [{"file": "series/MR0001.dcm"}]), indent=1,
                                               default=json_default))
    (out / "manifest.toml").write_text(_manifest([{"kind": "mr.acr_localizer", "name": "acr_localizer",
                                                   "images": ["series"]}]))
    return out / "manifest.toml"


def _flood(matrix: int, fov_mm: float, shading: float, diameter_mm: float, orientation: str) -> np.ndarray:
    grid = _grid(matrix, fov_mm)
    X, Y = grid.scanner_xy()
    if orientation == "axial":
        f = _disc(X, Y, 0.0, 0.0, diameter_mm / 2, grid.hf_mm)
    else:  # a cylinder seen side-on: a rectangle diameter x length
        f = _rect(X, Y, -diameter_mm / 2, diameter_mm / 2, -MAGNET_FLOOD.length_mm / 2, MAGNET_FLOOD.length_mm / 2,
                  grid.hf_mm)
    frac = _downsample(f, grid.factor, 0.0)
    return S0 * frac * _shading(matrix, fov_mm, shading, diameter_mm / 2)


def make_magnet_snr_pair(out_dir, *, matrix: int = 256, fov_mm: float = 250.0, seed: int = 0, snr: float = 150.0,
                         orientation: str = "axial", field_strength_t: float = 1.5, **ignored) -> Path:
    """Write a MagNET-style flood SNR pair (two single-image series differing only in noise, no shading):
    ``series1/MR0001.dcm`` and ``series2/MR0001.dcm``; truth S / sigma for the SNR methods; returns the manifest."""
    from phantomqc.io.write import new_uid

    if orientation not in MR_ORIENTATIONS:
        raise ValueError(f"orientation must be one of {sorted(MR_ORIENTATIONS)}, got {orientation!r}")
    rng = np.random.default_rng(seed)
    h = fov_mm / matrix
    m = _flood(matrix, fov_mm, 0.0, MAGNET_FLOOD.diameter_mm, orientation)
    sigma = S0 / snr
    study = new_uid()
    c0 = (matrix - 1) * h / 2.0
    pos = {"axial": (-c0, -c0, 0.0), "sagittal": (0.0, -c0, c0), "coronal": (-c0, 0.0, c0)}[orientation]
    for k in (1, 2):
        img = np.hypot(m + rng.normal(0, sigma, m.shape), rng.normal(0, sigma, m.shape))
        _write_stack(Path(out_dir) / f"series{k}", img[None], spacing=(h, h), positions=[pos],
                     orientation=MR_ORIENTATIONS[orientation], thickness=5.0, spacing_between=None, series_number=k,
                     description=f"SNR flood {orientation} meas{k}", study_uid=study,
                     field_strength_t=field_strength_t)
    exp = [_exp(mid, S0 / sigma, "1", "magnet_snr", "5 % (issue 4)", "S0 / sigma (flat flood, no shading)")
           for mid in ("mr.snr.subtraction", "mr.snr.single_image", "mr.snr.smoothing")]
    exp.append(_exp("mr.uniformity.fractional", 1.0, "1", "magnet_snr", "0.02", "flat flood", label="horizontal"))
    exp.append(_exp("mr.uniformity.fractional", 1.0, "1", "magnet_snr", "0.02", "flat flood", label="vertical"))
    params = {"matrix": matrix, "fov_mm": fov_mm, "seed": seed, "snr": snr, "noise_sigma": sigma, "s0": S0,
                  "orientation": orientation, "diameter_mm": MAGNET_FLOOD.diameter_mm}
    out = Path(out_dir)
    (out / "truth.json").write_text(json.dumps(_truth(params, exp, [{"file": "series1/MR0001.dcm"},
                                                                    {"file": "series2/MR0001.dcm"}]),
                                               indent=1, default=json_default))
    (out / "manifest.toml").write_text(_manifest([{"kind": "mr.snr_pair", "name": "magnet_snr",
                                                   "images": ["series1", "series2"]}], profile="wst263-2006"))
    return out / "manifest.toml"


def make_magnet_flood(out_dir, *, matrix: int = 256, fov_mm: float = 250.0, seed: int = 0, snr: float = 150.0,
                      shading: float = 0.1, orientation: str = "axial", field_strength_t: float = 1.5,
                      **ignored) -> Path:
    """Write a shaded MagNET-style flood image (one series); truth: WS/T 263 uniformity from the noiseless image
    (centre = flood centre) and S / sigma; returns the manifest path."""
    from phantomqc.io.write import new_uid

    rng = np.random.default_rng(seed)
    h = fov_mm / matrix
    m = _flood(matrix, fov_mm, shading, MAGNET_FLOOD.diameter_mm, orientation)
    sigma = S0 / snr
    img = np.hypot(m + rng.normal(0, sigma, m.shape), rng.normal(0, sigma, m.shape))
    c0 = (matrix - 1) * h / 2.0
    pos = {"axial": (-c0, -c0, 0.0), "sagittal": (0.0, -c0, c0), "coronal": (-c0, 0.0, c0)}[orientation]
    out = Path(out_dir)
    _write_stack(out / "series", img[None], spacing=(h, h), positions=[pos], orientation=MR_ORIENTATIONS[orientation],
                 thickness=5.0, spacing_between=None, series_number=1, description=f"uniformity flood {orientation}",
                 study_uid=new_uid(), field_strength_t=field_strength_t)
    cpx = ((matrix - 1) / 2, (matrix - 1) / 2)
    exp = [_exp("mr.uniformity.wst263_percent", _wst263_percent(m, cpx, (h, h), MAGNET_FLOOD.diameter_mm / 2), "%",
                "magnet_flood", "1 percentage point", "9 ROIs of 200 px on the noiseless image (axial disc)")]
    if orientation == "axial":
        rr = np.hypot(*np.meshgrid((np.arange(matrix) - cpx[0]) * h, (np.arange(matrix) - cpx[1]) * h, indexing="ij"))
        r_ph = MAGNET_FLOOD.diameter_mm / 2
        s75 = float(m[rr <= r_ph * math.sqrt(0.75)].mean())
        s_c = float(m[rr <= math.sqrt(238.4 / math.pi)].mean())
        exp.append(_exp("mr.snr.single_image", s75 / sigma, "1", "magnet_flood", "5 % (issue 4)",
                        "mean noiseless signal in the central disc of 75 % of the phantom area / sigma"))
        exp.append(_exp("mr.snr.wst263", s_c / sigma - math.sqrt(math.pi / 2), "1", "magnet_flood", "5 % (issue 4)",
                        "(S - B) / sigma: S = mean noiseless signal in the central 238.4 mm^2 disc, B = the mean of "
                        "Rayleigh background noise, sigma sqrt(pi/2)"))
    params = {"matrix": matrix, "fov_mm": fov_mm, "seed": seed, "snr": snr, "noise_sigma": sigma, "shading": shading,
                  "orientation": orientation, "s0": S0}
    (out / "truth.json").write_text(json.dumps(_truth(params, exp, [{"file": "series/MR0001.dcm"}]), indent=1,
                                               default=json_default))
    # the twin's "manufacturer specification" of the WS/T 263 SNR: 80 % of the SNR it is made with
    (out / "manifest.toml").write_text(_manifest([{"kind": "mr.flood", "name": "magnet_flood",
                                                   "images": ["series"]}], profile="wst263-2006",
                                                 spec={"mr.snr.wst263": round(0.8 * snr, 1)}))
    return out / "manifest.toml"


def ramp_trapezoid(x, fwhm: float, edge: float, centre: float = 0.0):
    """A trapezoid of height 1 along ``x``: full width at half maximum ``fwhm``, linear edges ``edge`` wide."""
    return np.clip((0.5 * fwhm + 0.5 * edge - np.abs(x - centre)) / edge, 0.0, 1.0)


def magnet_slice_width_image(a_mm: float, b_mm: float, *, spacing=(1.0, 1.0), n: int = 256, shift=(0.4, -0.3),
                             noise: float = 2.0, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    """A MagNET-style geometry / slice-width object image: a 184 mm square of signal about 600 (a smooth shading),
    3 mm rods every 60 mm, and two ramp bands whose dips have known widths: the top band (y = -30 mm) a trapezoid
    of FWHM ``a_mm`` centred at x = -1 mm, the bottom band (y = +30 mm) one of ``b_mm`` at x = +1.5 mm, both with
    10 mm edges and 150 deep; Gaussian blur of 0.6 px and white noise of SD ``noise``. ``shift`` (rows, cols)
    moves the object centre from the image centre in pixels; ``scale`` scales the object (mm per nominal mm)."""
    sy, sx = spacing
    c = ((n - 1) / 2 + shift[0], (n - 1) / 2 + shift[1])
    rr, cc = np.mgrid[0:n, 0:n].astype(float)
    x, y = (cc - c[1]) * sx / scale, (rr - c[0]) * sy / scale
    obj = (np.abs(x) < 92) & (np.abs(y) < 92)
    img = np.where(obj, 600.0 + 0.01 * x ** 2 + 0.005 * y ** 2 + 0.3 * y, 5.0)
    for gy in (-60, 0, 60):
        for gx in (-60, 0, 60):
            img[np.hypot(x - gx, y - gy) < 3.0] = 5.0
    top = obj & (np.abs(y + 30.0) < 15.0)
    bot = obj & (np.abs(y - 30.0) < 15.0)
    img[top] -= 150.0 * ramp_trapezoid(x[top], a_mm, 10.0, -1.0)
    img[bot] -= 150.0 * ramp_trapezoid(x[bot], b_mm, 10.0, 1.5)
    img = ndimage.gaussian_filter(img, 0.6)
    return img + np.random.default_rng(seed).normal(0.0, noise, img.shape)


#: MagNET slice-width object: the ramps' angle to the slice plane (tan = 0.2, as ``phantomqc.mr.slice_thickness``
#: assumes for the MagNET object).
MAGNET_RAMP_ANGLE_DEG = math.degrees(math.atan(0.2))


def make_magnet_slice_width(out_dir, *, slice_width_mm: float = 5.0, tilt_deg: float = 0.0, seed: int = 0,
                            noise: float = 2.0, field_strength_t: float = 1.5, **ignored) -> Path:
    """Write a MagNET-style geometry / slice-width object image (one axial series, 256^2 at 1 mm) whose two crossed
    ramps show a slice of ``slice_width_mm`` tilted by ``tilt_deg`` about the ramps' axis: the dips' FWHM are
    a = T / tan(theta + phi) and b = T / tan(theta - phi) (theta the ramp angle, tan theta = 0.2), so the crossed
    ramp formula gives T back exactly. Truth: ``mr.slice_width.mm`` = T. Returns the manifest path."""
    from phantomqc.io.write import new_uid

    theta = MAGNET_RAMP_ANGLE_DEG
    a = slice_width_mm / math.tan(math.radians(theta + tilt_deg))
    b = slice_width_mm / math.tan(math.radians(theta - tilt_deg))
    img = magnet_slice_width_image(a, b, noise=noise, seed=seed)
    n = img.shape[0]
    c0 = (n - 1) / 2.0
    out = Path(out_dir)
    _write_stack(out / "series", img[None], spacing=(1.0, 1.0), positions=[(-c0, -c0, 0.0)],
                 orientation=MR_ORIENTATIONS["axial"], thickness=slice_width_mm, spacing_between=None,
                 series_number=1, description="MagNET geometry slice width", study_uid=new_uid(),
                 field_strength_t=field_strength_t)
    exp = [_exp("mr.slice_width.mm", slice_width_mm, "mm", "magnet_slice_width", "0.15 mm (issue 4)",
                "T of the crossed ramps: dips of FWHM T / tan(theta +- tilt), tan theta = 0.2")]
    params = {"slice_width_mm": slice_width_mm, "tilt_deg": tilt_deg, "ramp_angle_deg": theta, "fwhm_top_mm": a,
              "fwhm_bottom_mm": b, "seed": seed, "noise_sigma": noise, "spacing_mm": [1.0, 1.0], "matrix": n}
    (out / "truth.json").write_text(json.dumps(_truth(params, exp, [{"file": "series/MR0001.dcm"}]), indent=1,
                                               default=json_default))
    (out / "manifest.toml").write_text(_manifest([{"kind": "mr.slice_width", "name": "magnet_slice_width",
                                                   "images": ["series"]}], profile="wst263-2006"))
    return out / "manifest.toml"


def _rician_mean(nu: float, sigma: float) -> float:
    """Mean of a Rician magnitude with true signal ``nu`` and channel SD ``sigma`` (nu = 0: the Rayleigh mean)."""
    if sigma <= 0:
        return abs(nu)
    x = -(nu ** 2) / (2.0 * sigma ** 2)
    # L_1/2(x) = exp(x/2) [(1 - x) I0(-x/2) - x I1(-x/2)]; with the scaled Bessel functions ive(k, z) = exp(-z) Ik(z)
    lag = (1.0 - x) * special.ive(0, -x / 2.0) - x * special.ive(1, -x / 2.0)
    return float(sigma * math.sqrt(math.pi / 2.0) * lag)


def make_magnet_ghosting(out_dir, *, ghost_fraction: float = 0.02, phase_encoding: str = "ROW", seed: int = 0,
                         sigma: float = 5.0, field_strength_t: float = 1.5, **ignored) -> Path:
    """Write a MagNET small-bottle ghosting image (one axial series, 352^2 at 0.71 mm): a 60 mm bottle of signal
    S0 = 1000 near a corner and its phase-encode ghost, a band of ``ghost_fraction`` x S0 across the bottle's extent
    along the whole phase direction beyond 10 mm of it; Rician magnitude noise of channel SD ``sigma``.

    Truth (``mr.ghosting.small_bottle_percent``): 100 |E[ghost] - E[noise]| / E[signal] with the Rician means of
    the magnitude image (the ghost's mean is not k S0 + the noise floor: at k S0 = 20 and sigma = 5 it is 20.6,
    the air's Rayleigh mean 6.27). Returns the manifest path."""
    from phantomqc.io.write import new_uid

    if phase_encoding not in ("ROW", "COL"):
        raise ValueError(f"phase_encoding must be 'ROW' or 'COL', got {phase_encoding!r}")
    n, h = 352, 0.71
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:n, 0:n]
    y, x = (yy - 0.2 * (n - 1)) * h, (xx - 0.2 * (n - 1)) * h
    bottle = np.hypot(y, x) <= 30.0
    across, along = (y, x) if phase_encoding == "ROW" else (x, y)
    band = (np.abs(across) <= 31.0) & (np.abs(along) > 40.0)
    truth = S0 * bottle + ghost_fraction * S0 * band
    img = np.hypot(truth + rng.normal(0, sigma, truth.shape), rng.normal(0, sigma, truth.shape))
    c0 = (n - 1) * h / 2.0
    out = Path(out_dir)
    _write_stack(out / "series", img[None], spacing=(h, h), positions=[(-c0, -c0, 0.0)],
                 orientation=MR_ORIENTATIONS["axial"], thickness=5.0, spacing_between=None, series_number=1,
                 description="MagNET ghosting small bottle", study_uid=new_uid(), field_strength_t=field_strength_t,
                 phase_encoding=phase_encoding)
    e_sig, e_ghost, e_air = _rician_mean(S0, sigma), _rician_mean(ghost_fraction * S0, sigma), _rician_mean(0.0, sigma)
    value = 100.0 * abs(e_ghost - e_air) / e_sig
    exp = [_exp("mr.ghosting.small_bottle_percent", value, "%", "magnet_ghosting",
                "0.05 percentage point: the ROI means' SE is about 5 / sqrt(1000) of 1000, 0.02 pp",
                "100 |E[ghost] - E[air]| / E[signal], Rician means of the magnitude image")]
    params = {"ghost_fraction": ghost_fraction, "phase_encoding": phase_encoding, "seed": seed, "sigma": sigma,
              "s0": S0, "spacing_mm": [h, h], "matrix": n, "expected_means": [e_sig, e_ghost, e_air]}
    (out / "truth.json").write_text(json.dumps(_truth(params, exp, [{"file": "series/MR0001.dcm"}]), indent=1,
                                               default=json_default))
    (out / "manifest.toml").write_text(_manifest([{"kind": "mr.ghosting", "name": "magnet_ghosting",
                                                   "images": ["series"]}], profile="wst263-2006"))
    return out / "manifest.toml"


MR_PHANTOMS: dict[str, Callable[..., Path]] = {
    "mr-acr": make_acr_series,
    "mr-acr-localizer": make_acr_localizer,
    "mr-magnet-snr": make_magnet_snr_pair,
    "mr-magnet-flood": make_magnet_flood,
    "mr-magnet-slice-width": make_magnet_slice_width,
    "mr-magnet-ghosting": make_magnet_ghosting,
}
"""MR phantom kinds for ``phantomqc phantoms make KIND --out DIR``: maker(out_dir, *, seed=0, **options) ->
manifest path."""
