"""Numba kernels of the DR family.

Each kernel takes contiguous arrays and scalars and writes into preallocated outputs; the public
functions in ``phantomqc.dr`` validate, allocate and call them. Each has a slow pure-NumPy twin in
``tests/dr/test_kernels.py``. Pixel arrays may be float32, uint16 or int16 (numba compiles one
specialisation per dtype); every sum is accumulated in float64.

Block grids fold the tail: with block size ``f`` there are ``n = max(1, size // f)`` blocks along an
axis and the last block also holds the ``size % f`` leftover pixels, so every pixel belongs to exactly one
block and no pixel is dropped.
"""

from __future__ import annotations

import numpy as np

from phantomqc._shared.jit import njit

__all__: list[str] = []


@njit
def _rect_sums(img, r0, r1, c0, c1, shift, out):
    """out[0] = sum(v - shift), out[1] = sum((v - shift)^2) over ``img[r0:r1, c0:c1]``.

    Subtracting ``shift`` (a value near the mean) keeps the sum of squares free of cancellation."""
    s = 0.0
    s2 = 0.0
    for y in range(r0, r1):
        rs = 0.0
        rs2 = 0.0
        for x in range(c0, c1):
            v = np.float64(img[y, x]) - shift
            rs += v
            rs2 += v * v
        s += rs
        s2 += rs2
    out[0] = s
    out[1] = s2


@njit
def _block_sums(img, f, out):
    """Sum of each ``f`` x ``f`` block into ``out`` (float64, shape ``(max(1, rows // f), max(1, cols // f))``,
    every element overwritten); tail rows and columns fold into the last block."""
    rows, cols = img.shape
    nby, nbx = out.shape
    cacc = np.zeros(cols)
    for by in range(nby):
        y0 = by * f
        y1 = rows if by == nby - 1 else y0 + f
        for x in range(cols):
            cacc[x] = 0.0
        for y in range(y0, y1):
            for x in range(cols):
                cacc[x] += np.float64(img[y, x])
        for bx in range(nbx):
            x0 = bx * f
            x1 = cols if bx == nbx - 1 else x0 + f
            s = 0.0
            for x in range(x0, x1):
                s += cacc[x]
            out[by, bx] = s


@njit
def _flat_pass(img, f, k, shift, row_sums, col_sums, fine_sums, blk_sum, blk_sumsq, blk_min, blk_max):
    """One pass over a flat field, collecting everything the artefact search needs.

    - ``row_sums[y]``, ``col_sums[x]``: sums of ``v - shift`` along each row and column;
    - ``fine_sums``: sums of ``v - shift`` over ``f`` x ``f`` blocks (the display grid, shape
      ``(max(1, rows // f), max(1, cols // f))``);
    - ``blk_sum``, ``blk_sumsq``, ``blk_min``, ``blk_max``: sum and sum of squares of ``v - shift``, minimum
      and maximum of ``v``
      over coarse blocks of ``k`` x ``k`` fine blocks (shape ``(max(1, nfy // k), max(1, nfx // k))``).

    Every output element is overwritten except ``col_sums``, which is added to (zero it first).
    The pixel loop only does element-wise column updates (which vectorise without fastmath) and an
    8-lane row sum; block reductions happen once per band of ``f`` rows.
    """
    rows, cols = img.shape
    nfy, nfx = fine_sums.shape
    ncy, ncx = blk_sumsq.shape
    cacc = np.zeros(cols)
    cacc2 = np.zeros(cols)
    cmin = np.empty(cols, dtype=img.dtype)  # native dtype: the select vectorises
    cmax = np.empty(cols, dtype=img.dtype)
    lanes = np.zeros(8)
    n8 = cols - cols % 8
    for cy in range(ncy):
        fy0 = cy * k
        fy1 = nfy if cy == ncy - 1 else fy0 + k
        for cx in range(ncx):
            blk_sum[cy, cx] = 0.0
        for x in range(cols):
            cacc2[x] = 0.0
            cmin[x] = img[fy0 * f, x]
            cmax[x] = img[fy0 * f, x]
        for fy in range(fy0, fy1):
            y0 = fy * f
            y1 = rows if fy == nfy - 1 else y0 + f
            for x in range(cols):
                cacc[x] = 0.0
            for y in range(y0, y1):
                for x in range(cols):
                    raw = img[y, x]
                    v = np.float64(raw) - shift
                    cacc[x] += v
                    cacc2[x] += v * v
                    lo = cmin[x]
                    hi = cmax[x]
                    cmin[x] = raw if raw < lo else lo
                    cmax[x] = raw if raw > hi else hi
                for j in range(8):
                    lanes[j] = 0.0
                for x in range(0, n8, 8):
                    for j in range(8):
                        lanes[j] += np.float64(img[y, x + j])
                t = 0.0
                for j in range(8):
                    t += lanes[j]
                for x in range(n8, cols):
                    t += np.float64(img[y, x])
                row_sums[y] = t - shift * cols
            for x in range(cols):
                col_sums[x] += cacc[x]
            for fx in range(nfx):
                x0 = fx * f
                x1 = cols if fx == nfx - 1 else x0 + f
                s = 0.0
                for x in range(x0, x1):
                    s += cacc[x]
                fine_sums[fy, fx] = s
                blk_sum[cy, min(fx // k, ncx - 1)] += s
        for cx in range(ncx):
            x0 = cx * k * f
            x1 = cols if cx == ncx - 1 else x0 + k * f
            s2 = 0.0
            mn = np.float64(cmin[x0])
            mx = np.float64(cmax[x0])
            for x in range(x0, x1):
                s2 += cacc2[x]
                if cmin[x] < mn:
                    mn = np.float64(cmin[x])
                if cmax[x] > mx:
                    mx = np.float64(cmax[x])
            blk_sumsq[cy, cx] = s2
            blk_min[cy, cx] = mn
            blk_max[cy, cx] = mx


@njit
def _flag_pixels(img, cand_r0, cand_r1, cand_c0, cand_c1, iy0, wy, ix0, wx, bg, sd, skip_row, skip_col,
                 thr, out_r, out_c, out_z):
    """Pixels whose normalised residual ``z = (v - bg(y, x)) / sd(y, x)`` satisfies ``|z| > thr``.

    Only the candidate rectangles ``[cand_r0[i]:cand_r1[i], cand_c0[i]:cand_c1[i]]`` are visited; rows and
    columns with ``skip_row`` / ``skip_col`` set (already-detected lines and bands) are skipped.
    ``bg`` and ``sd`` are grids at the coarse-block centres, interpolated bilinearly:
    ``g(y, x) = (1-wy)(1-wx) g[iy0, ix0] + (1-wy) wx g[iy0, ix0+1] + wy (1-wx) g[iy0+1, ix0] + wy wx g[iy0+1, ix0+1]``
    with ``iy0[y]``, ``wy[y]``, ``ix0[x]``, ``wx[x]`` precomputed (the caller clamps them so that the
    ``+1`` neighbours exist). Writes up to ``len(out_r)`` hits and returns the total number found.
    """
    cap = out_r.shape[0]
    n = 0
    for i in range(cand_r0.shape[0]):
        for y in range(cand_r0[i], cand_r1[i]):
            if skip_row[y]:
                continue
            a = iy0[y]
            ty = wy[y]
            for x in range(cand_c0[i], cand_c1[i]):
                if skip_col[x]:
                    continue
                b = ix0[x]
                tx = wx[x]
                g = ((1.0 - ty) * ((1.0 - tx) * bg[a, b] + tx * bg[a, b + 1])
                     + ty * ((1.0 - tx) * bg[a + 1, b] + tx * bg[a + 1, b + 1]))
                s = ((1.0 - ty) * ((1.0 - tx) * sd[a, b] + tx * sd[a, b + 1])
                     + ty * ((1.0 - tx) * sd[a + 1, b] + tx * sd[a + 1, b + 1]))
                z = (np.float64(img[y, x]) - g) / s
                if z > thr or z < -thr:
                    if n < cap:
                        out_r[n] = y
                        out_c[n] = x
                        out_z[n] = z
                    n += 1
    return n


@njit
def _median_filter2d(grid, h, out):
    """Median over the (2h+1) x (2h+1) neighbourhood of each cell of a small float64 grid, with edge
    cells repeated ('nearest'), into ``out``. For an even count (never: the window is odd) the upper median."""
    ny, nx = grid.shape
    w = 2 * h + 1
    buf = np.empty(w * w)
    for i in range(ny):
        for j in range(nx):
            n = 0
            for di in range(-h, h + 1):
                ii = min(max(i + di, 0), ny - 1)
                for dj in range(-h, h + 1):
                    jj = min(max(j + dj, 0), nx - 1)
                    v = grid[ii, jj]
                    # insertion sort
                    m = n
                    while m > 0 and buf[m - 1] > v:
                        buf[m] = buf[m - 1]
                        m -= 1
                    buf[m] = v
                    n += 1
            out[i, j] = buf[n // 2]
