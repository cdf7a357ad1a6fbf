"""Synthetic ground-truth generators shared by the core and DR MTF / NPS / line-pair tests
(``import _synthetic``: ``tests/`` is on the pytest path, see pyproject.toml).

Every generator renders the object analytically: Gaussian blur, then exact integration over the square
pixel aperture along the axis that crosses the structure, and an 8-point midpoint rule along the other axis
(the integrand changes there only through the small tilt, so the rule's error is far below 1e-4).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

HUTTNER18 = (0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.2, 2.5, 2.8, 3.1, 3.4, 3.7, 4.0, 4.3, 4.6, 5.0)


def _psi(t):
    """Antiderivative of the standard normal CDF: d/dt [t Phi(t) + phi(t)] = Phi(t)."""
    return t * ndtr(t) + np.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi)


def _render_vertical_edge(shape, sy, sx, angle_deg, sigma_x, sigma_y, lo, hi, x_edge_mm, y_edge_mm, n_sub=8):
    th = math.radians(angle_deg)
    c, s = math.cos(th), math.sin(th)
    sig = math.sqrt((sigma_x * c) ** 2 + (sigma_y * s) ** 2)  # Gaussian projected on the edge normal
    sig = max(sig, 1e-6)
    ny, nx = shape
    x = np.arange(nx) * sx
    out = np.zeros(shape)
    for k in range(n_sub):
        y = (np.arange(ny) + (k + 0.5) / n_sub - 0.5) * sy
        # normal distance u = (x - xe) cos - (y - ye) sin; integrate Phi(u / sig) exactly over x in the pixel
        u0 = ((x[None, :] - 0.5 * sx - x_edge_mm) * c - (y[:, None] - y_edge_mm) * s) / sig
        u1 = u0 + sx * c / sig
        out += (_psi(u1) - _psi(u0)) * sig / (c * sx)
    out /= n_sub
    return lo + (hi - lo) * out


def render_edge(shape=(360, 360), spacing_mm=(0.139, 0.139), *, angle_deg=3.0, sigma_x_mm=0.1, sigma_y_mm=0.1,
                orientation="vertical", lo=200.0, hi=1200.0, offset_mm=(0.0, 0.0), noise_sd=0.0, rng=None):
    """A blurred straight edge through the image centre (+ offset), ``angle_deg`` from the column axis
    (``orientation='vertical'``) or from the row axis (``'horizontal'``)."""
    sy, sx = spacing_mm
    if orientation == "vertical":
        img = _render_vertical_edge(shape, sy, sx, angle_deg, sigma_x_mm, sigma_y_mm, lo, hi,
                                    (shape[1] - 1) / 2 * sx + offset_mm[1], (shape[0] - 1) / 2 * sy + offset_mm[0])
    else:
        img = _render_vertical_edge(shape[::-1], sx, sy, angle_deg, sigma_y_mm, sigma_x_mm, lo, hi,
                                    (shape[0] - 1) / 2 * sy + offset_mm[0],
                                    (shape[1] - 1) / 2 * sx + offset_mm[1]).T
    if noise_sd:
        img = img + rng.normal(0.0, noise_sd, img.shape)
    return np.ascontiguousarray(img, dtype=np.float32)


def true_mtf(f, sigma_mm, pitch_mm):
    """Presampling MTF along a pixel axis: Gaussian blur times the square aperture."""
    f = np.asarray(f, dtype=np.float64)
    return np.exp(-2.0 * math.pi ** 2 * sigma_mm ** 2 * f ** 2) * np.abs(np.sinc(f * pitch_mm))


def true_mtf_normal(f, sigma_x_mm, sigma_y_mm, pitch_x_mm, pitch_y_mm, angle_deg):
    """Exact presampling MTF along the normal of a near-vertical edge tilted by ``angle_deg``: projected
    Gaussian times the projection of the rectangular aperture (two boxes, widths p_x cos, p_y sin)."""
    th = math.radians(angle_deg)
    c, s = math.cos(th), abs(math.sin(th))
    sig2 = (sigma_x_mm * c) ** 2 + (sigma_y_mm * s) ** 2
    f = np.asarray(f, dtype=np.float64)
    return np.exp(-2 * math.pi ** 2 * sig2 * f ** 2) * np.abs(np.sinc(f * pitch_x_mm * c) * np.sinc(f * pitch_y_mm * s))


def correlated_noise(shape, sd_white, sigma_px, rng):
    """White noise of SD ``sd_white`` filtered (periodically, by FFT) with a Gaussian of ``sigma_px`` pixels.

    Exact spectrum on the DFT grid: NPS(u, v) = sd^2 dx dy exp(-4 pi^2 sigma_px^2 (u_px^2 + v_px^2)),
    u_px, v_px in cycles per pixel."""
    w = rng.normal(0.0, sd_white, shape)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    h = np.exp(-2.0 * math.pi ** 2 * sigma_px ** 2 * (fx ** 2 + fy ** 2))
    return np.real(np.fft.ifft2(np.fft.fft2(w) * h))


def _group_layout(freqs, lp_per_group, start_mm, spacer_mm):
    """Open slits (u0, u1) along the strip: each group has ``lp_per_group`` slits of width 1/(2f) separated
    by lead bars of the same width; groups separated by ``spacer_mm`` of lead."""
    slits, groups, u = [], [], start_mm
    for f in freqs:
        h = 0.5 / f
        g0 = u
        for _ in range(lp_per_group):
            slits.append((u, u + h))
            u += 2 * h
        groups.append((g0, u - h))
        u += spacer_mm - h
    return slits, groups, u


def _blurred_boxes_1d(t, boxes, sigma):
    out = np.zeros_like(t)
    for a, b in boxes:
        out += ndtr((t - a) / sigma) - ndtr((t - b) / sigma)
    return out


def _box_integral_1d(t, boxes, sigma):
    """Antiderivative in t of the blurred boxes."""
    out = np.zeros_like(t)
    for a, b in boxes:
        out += sigma * (_psi((t - a) / sigma) - _psi((t - b) / sigma))
    return out


def render_gauge(shape, pitch_mm, *, freqs=HUTTNER18, lp_per_group=5, axis="x", centre_mm=None, angle_deg=0.0,
                 sigma_mm=0.1, width_mm=12.0, end_mm=5.0, spacer_mm=2.0, open_pv=1000.0,
                 lead_transmission=0.25, noise_sd=0.0, rng=None, slit_fraction=0.8):
    """A line-pair gauge: a lead strip ``width_mm`` wide (transmission ``lead_transmission``) with open slits
    covering ``slit_fraction`` of its width, groups in increasing frequency along ``axis``, rotated by
    ``angle_deg`` about its centre. Square pixels of ``pitch_mm``. Returns (image, strip length mm)."""
    p = float(pitch_mm)
    sig = max(sigma_mm, 1e-6)
    slits, _, total = _group_layout(freqs, lp_per_group, end_mm, spacer_mm)
    length = total + end_mm - spacer_mm
    if axis == "y":
        img, L = render_gauge(shape[::-1], p, freqs=freqs, lp_per_group=lp_per_group, axis="x",
                              centre_mm=None if centre_mm is None else centre_mm[::-1], angle_deg=-angle_deg,
                              sigma_mm=sigma_mm, width_mm=width_mm, end_mm=end_mm, spacer_mm=spacer_mm,
                              open_pv=open_pv, lead_transmission=lead_transmission, noise_sd=0.0,
                              slit_fraction=slit_fraction)
        img = np.ascontiguousarray(img.T)
    else:
        ny, nx = shape
        if centre_mm is None:
            centre_mm = ((ny - 1) / 2 * p, (nx - 1) / 2 * p)
        cy, cx = centre_mm
        th = math.radians(angle_deg)
        c, s = math.cos(th), math.sin(th)
        strip = [(0.0, length)]
        # antiderivative tables along u (step 1 um): the pixel integral along x is G(u1) - G(u0)
        t = np.arange(-2.0 - 6 * sig, length + 2.0 + 6 * sig, 0.001)
        G_strip = _box_integral_1d(t, strip, sig)
        G_slit = _box_integral_1d(t, slits, sig)
        x = np.arange(nx) * p - cx
        n_sub = 8
        acc = np.zeros(shape)
        w_sl = slit_fraction * width_mm / 2
        for k in range(n_sub):
            y = (np.arange(ny) + (k + 0.5) / n_sub - 0.5) * p - cy
            # strip coordinates: u along the strip (from its start), v across (from its centre line)
            u0 = (x[None, :] - 0.5 * p) * c + y[:, None] * s + length / 2
            u1 = u0 + p * c
            v = -(x[None, :]) * s + y[:, None] * c
            g_strip_u = (np.interp(u1, t, G_strip) - np.interp(u0, t, G_strip)) / (p * c)
            g_slit_u = (np.interp(u1, t, G_slit) - np.interp(u0, t, G_slit)) / (p * c)
            g_strip_v = _blurred_boxes_1d(v, [(-width_mm / 2, width_mm / 2)], sig)
            g_slit_v = _blurred_boxes_1d(v, [(-w_sl, w_sl)], sig)
            acc += 1.0 - (1 - lead_transmission) * (g_strip_u * g_strip_v - g_slit_u * g_slit_v)
        img = open_pv * acc / n_sub
        L = length
    if noise_sd:
        img = img + rng.normal(0.0, noise_sd, img.shape)
    return np.ascontiguousarray(img, dtype=np.float32), L

