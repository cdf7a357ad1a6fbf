"""Noise power spectrum building blocks (IEC 62220-1-1:2015 clause 7.3; Dobbins et al. 1995, Med Phys 22:1581).

- ``detrend_poly2``: subtract a 2-D second-order polynomial fitted by least squares (IEC 62220-1-1: removes
  the heel effect and other slow trends). The normal equations are built from separable moments, so a
  region of 900 x 900 pixels costs a few passes over the data and no design matrix.
- ``nps_2d``: ``NPS(u, v) = dx dy / (Nx Ny) < |DFT(ROI - mean(ROI))|^2 >`` over square ROIs of ``roi_px``
  overlapping by half in both directions, averaged over ROIs and regions. Unit: PV^2 mm^2.
- ``axis_cut``: the IEC 1-D cut: the ``n_lines`` rows (or columns) on either side of the frequency axis,
  **excluding the axis itself**, each point placed at its radial frequency ``sqrt(u^2 + v^2)`` and averaged
  in bins of the frequency step.
- ``radial_average``: average over annuli of one frequency step, excluding both axes (where row and column
  correlated noise, not the isotropic quantum noise, concentrates).

A white noise of variance ``s^2`` has ``NPS = s^2 dx dy`` at every frequency (Parseval); the relative
standard error of an average of M independent periodogram values is ``1 / sqrt(M)``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["detrend_poly2", "roi_starts", "nps_2d", "axis_cut", "radial_average"]


def detrend_poly2(region: NDArray) -> tuple[NDArray, NDArray]:
    """Subtract the least-squares surface ``c0 + c1 x + c2 y + c3 x^2 + c4 x y + c5 y^2``.

    Returns ``(residual, fitted)`` in float64. Coordinates are scaled to [-1, 1] for conditioning.

    Example
    -------
    >>> y, x = np.mgrid[0:50, 0:60]
    >>> res, fit = detrend_poly2(3.0 + 0.1 * x + 0.02 * x * y)
    >>> float(np.abs(res).max()) < 1e-9
    True
    """
    z = np.asarray(region, dtype=np.float64)
    ny, nx = z.shape
    x = np.linspace(-1.0, 1.0, nx)
    y = np.linspace(-1.0, 1.0, ny)
    # basis functions are products px_i(x) * py_j(y) with (i, j) in this list
    terms = [(0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2)]
    px = [np.ones(nx), x, x * x]
    py = [np.ones(ny), y, y * y]
    ata = np.empty((6, 6))
    for a, (i, j) in enumerate(terms):
        for b, (k, l) in enumerate(terms):
            ata[a, b] = np.dot(px[i], px[k]) * np.dot(py[j], py[l])
    zx = [z @ px[i] for i in range(3)]  # per-row sums weighted by x^i
    atb = np.array([np.dot(py[j], zx[i]) for (i, j) in terms])
    coef = np.linalg.solve(ata, atb)
    fitted = np.zeros_like(z)
    for c, (i, j) in zip(coef, terms):
        fitted += c * np.outer(py[j], px[i])
    return z - fitted, fitted


def roi_starts(n: int, roi_px: int) -> NDArray:
    """Start indices of ROIs of ``roi_px`` overlapping by half along an axis of ``n`` pixels, centred."""
    if n < roi_px:
        return np.zeros(0, dtype=np.int64)
    step = roi_px // 2
    k = (n - roi_px) // step + 1
    first = (n - (roi_px + (k - 1) * step)) // 2
    return first + step * np.arange(k, dtype=np.int64)


def nps_2d(regions: Sequence[NDArray], spacing_mm: tuple[float, float], *, roi_px: int = 256
           ) -> tuple[NDArray, NDArray, NDArray, int]:
    """2-D NPS of detrended regions: ``(nps, fu, fv, n_rois)``.

    ``nps`` is ``fftshift``-ed, shape ``(roi_px, roi_px)`` indexed ``[v, u]``; ``fu`` / ``fv`` are the
    matching shifted frequency axes in cycles/mm. Each region must already be detrended (``detrend_poly2``);
    every ROI also has its own mean removed. ``NPS = dx dy / (N N) < |DFT|^2 >`` (PV^2 mm^2).
    """
    sy, sx = (float(s) for s in spacing_mm)
    n = int(roi_px)
    acc = np.zeros((n, n))
    count = 0
    for reg in regions:
        reg = np.asarray(reg, dtype=np.float64)
        rs, cs = roi_starts(reg.shape[0], n), roi_starts(reg.shape[1], n)
        for r in rs:
            for c in cs:
                block = reg[r:r + n, c:c + n]
                acc += np.abs(np.fft.fft2(block - block.mean())) ** 2
                count += 1
    if count == 0:
        raise ValueError(f"no {n} x {n} ROI fits in the regions given (shapes "
                         f"{[np.shape(r) for r in regions]}); use a smaller roi_px or a larger region")
    nps = np.fft.fftshift(acc / count * (sx * sy) / (n * n))
    fu = np.fft.fftshift(np.fft.fftfreq(n, d=sx))
    fv = np.fft.fftshift(np.fft.fftfreq(n, d=sy))
    return nps, fu, fv, count


def axis_cut(nps: NDArray, fu: NDArray, fv: NDArray, *, axis: str = "u", n_lines: int = 7
             ) -> tuple[NDArray, NDArray, NDArray]:
    """IEC 62220-1-1 1-D cut along ``axis`` ('u' horizontal, 'v' vertical).

    Uses the ``n_lines`` lines on each side of the axis, not the axis. Each value is placed at its radial
    frequency ``sqrt(u^2 + v^2)`` and averaged in bins ``[(k - 1/2) df, (k + 1/2) df)``, k >= 1, up to the
    Nyquist frequency along the axis. Returns ``(f, value, n_points)``.
    """
    if axis == "u":
        a, fa, fo = nps, fu, fv
    elif axis == "v":
        a, fa, fo = nps.T, fv, fu
    else:
        raise ValueError(f"axis must be 'u' or 'v', got {axis!r}")
    i0 = int(np.argmin(np.abs(fo)))
    lines = np.r_[i0 - n_lines:i0, i0 + 1:i0 + n_lines + 1]
    sub = a[lines, :]
    fr = np.hypot(fa[None, :], fo[lines][:, None])
    df = abs(fa[1] - fa[0])
    k = np.rint(fr / df).astype(np.int64)
    kmax = int(np.rint(np.max(np.abs(fa)) / df))
    sel = (k >= 1) & (k <= kmax)
    sums = np.bincount(k[sel], weights=sub[sel], minlength=kmax + 1)
    cnt = np.bincount(k[sel], minlength=kmax + 1)
    ks = np.nonzero(cnt)[0]
    ks = ks[ks >= 1]
    return ks * df, sums[ks] / cnt[ks], cnt[ks]


def radial_average(nps: NDArray, fu: NDArray, fv: NDArray, *, exclude_axes: bool = True
                   ) -> tuple[NDArray, NDArray, NDArray]:
    """Average over annuli of width ``df = max(du, dv)``, centres ``k df`` (k >= 1), up to the lower of the
    two Nyquist frequencies. Returns ``(f, value, n_points)``."""
    du, dv = abs(fu[1] - fu[0]), abs(fv[1] - fv[0])
    df = max(du, dv)
    fr = np.hypot(fu[None, :], fv[:, None])
    k = np.rint(fr / df).astype(np.int64)
    kmax = int(np.floor(min(np.max(np.abs(fu)), np.max(np.abs(fv))) / df + 1e-9))
    sel = (k >= 1) & (k <= kmax)
    if exclude_axes:
        sel &= (np.abs(fu)[None, :] > 0.5 * du) & (np.abs(fv)[:, None] > 0.5 * dv)
    sums = np.bincount(k[sel], weights=nps[sel], minlength=kmax + 1)
    cnt = np.bincount(k[sel], minlength=kmax + 1)
    ks = np.arange(1, kmax + 1)
    ks = ks[cnt[ks] > 0]
    return ks * df, sums[ks] / cnt[ks], cnt[ks]
