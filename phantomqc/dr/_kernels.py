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

from phantomqc._shared.jit import njit, prange

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


@njit(parallel=True)
def _flat_pass(img, f, k, shift, band_cuts, row_sums, col_parts, fine_sums, blk_sum, blk_sumsq, blk_min, blk_max):
    """One pass over a flat field, collecting everything the artefact search needs.

    - ``row_sums[y]``: sum of ``v - shift`` along row ``y``;
    - ``col_parts[b, x]``: sum of ``v - shift`` over the rows of band ``b`` in column ``x`` (the column sums
      are ``col_parts.sum(0)``, added in band order, so the result does not depend on the thread count);
    - ``fine_sums``: sums of ``v - shift`` over ``f`` x ``f`` blocks (the display grid, shape
      ``(max(1, rows // f), max(1, cols // f))``);
    - ``blk_sum``, ``blk_sumsq``, ``blk_min``, ``blk_max``: sum and sum of squares of ``v - shift``, minimum
      and maximum of ``v`` over coarse blocks of ``k`` x ``k`` fine blocks (shape
      ``(max(1, nfy // k), max(1, nfx // k))``).

    Band ``b`` holds the coarse block rows ``band_cuts[b] .. band_cuts[b + 1] - 1`` (``band_cuts`` increasing,
    from 0 to the number of coarse block rows); bands run in parallel (``prange``) and each reads its pixels
    once. Every output element is overwritten.
    """
    for b in prange(band_cuts.shape[0] - 1):
        _flat_band(img, f, k, shift, band_cuts[b], band_cuts[b + 1], row_sums, col_parts[b], fine_sums, blk_sum,
                   blk_sumsq, blk_min, blk_max)


@njit
def _flat_band(img, f, k, shift, cy0, cy1, row_sums, col_sums, fine_sums, blk_sum, blk_sumsq, blk_min, blk_max):
    """``_flat_pass`` over the coarse block rows ``cy0 .. cy1 - 1``; ``col_sums`` (this band's) is overwritten.

    Rows are taken two at a time, so that the column accumulators (in L2, not in registers) are loaded and
    stored once per two pixels; the pixel loop is element-wise over x and vectorises without fastmath. Row sums use 8 interleaved accumulators (lane j adds the columns x = j mod 8)."""
    rows, cols = img.shape
    nfy, nfx = fine_sums.shape
    ncy, ncx = blk_sumsq.shape
    cacc = np.empty(cols)
    cacc2 = np.empty(cols)
    # running column min / max in the native dtype, double-buffered: each row pair reads one buffer and
    # writes the other (an in-place select would be compiled to a masked store, which is microcoded and
    # about 4x slower on AMD Zen)
    mn_a = np.empty(cols, dtype=img.dtype)
    mn_b = np.empty(cols, dtype=img.dtype)
    mx_a = np.empty(cols, dtype=img.dtype)
    mx_b = np.empty(cols, dtype=img.dtype)
    n8 = cols - cols % 8
    for x in range(cols):
        col_sums[x] = 0.0
    for cy in range(cy0, cy1):
        fy0 = cy * k
        fy1 = nfy if cy == ncy - 1 else fy0 + k
        for cx in range(ncx):
            blk_sum[cy, cx] = 0.0
        for x in range(cols):
            cacc2[x] = 0.0
            mn_a[x] = img[fy0 * f, x]
            mx_a[x] = img[fy0 * f, x]
        for fy in range(fy0, fy1):
            y0 = fy * f
            y1 = rows if fy == nfy - 1 else y0 + f
            for x in range(cols):
                cacc[x] = 0.0
            for y in range(y0, y1 - 1, 2):
                _acc_rows(img, y, 2, shift, cacc, cacc2, mn_a, mn_b, mx_a, mx_b)
                mn_a, mn_b = mn_b, mn_a
                mx_a, mx_b = mx_b, mx_a
            if (y1 - y0) % 2:
                _acc_rows(img, y1 - 1, 1, shift, cacc, cacc2, mn_a, mn_b, mx_a, mx_b)
                mn_a, mn_b = mn_b, mn_a
                mx_a, mx_b = mx_b, mx_a
            for y in range(y0, y1):
                row_sums[y] = _row_sum(img, y, n8) - shift * cols
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
            q = 0.0
            mn = np.float64(mn_a[x0])
            mx = np.float64(mx_a[x0])
            for x in range(x0, x1):
                q += cacc2[x]
                if mn_a[x] < mn:
                    mn = np.float64(mn_a[x])
                if mx_a[x] > mx:
                    mx = np.float64(mx_a[x])
            blk_sumsq[cy, cx] = q
            blk_min[cy, cx] = mn
            blk_max[cy, cx] = mx


@njit
def _acc_rows(img, y, n, shift, cacc, cacc2, mn_in, mn_out, mx_in, mx_out):
    """Add rows ``y`` (and ``y + 1`` when ``n == 2``) to the column sums of ``v - shift`` and of its square;
    ``mn_out`` / ``mx_out`` = column min / max of ``mn_in`` / ``mx_in`` and the row(s)."""
    cols = img.shape[1]
    if n == 2:
        for x in range(cols):
            r0 = img[y, x]
            r1 = img[y + 1, x]
            v0 = np.float64(r0) - shift
            v1 = np.float64(r1) - shift
            cacc[x] += v0 + v1
            cacc2[x] += v0 * v0 + v1 * v1
            lo = r0 if r0 < r1 else r1
            hi = r1 if r0 < r1 else r0
            c = mn_in[x]
            mn_out[x] = lo if lo < c else c
            c = mx_in[x]
            mx_out[x] = hi if hi > c else c
    else:
        for x in range(cols):
            raw = img[y, x]
            v = np.float64(raw) - shift
            cacc[x] += v
            cacc2[x] += v * v
            c = mn_in[x]
            mn_out[x] = raw if raw < c else c
            c = mx_in[x]
            mx_out[x] = raw if raw > c else c


@njit
def _row_sum(img, y, n8):
    """Sum of row ``y`` in float64: 8 interleaved accumulators (lane j adds x = j mod 8), then the tail."""
    cols = img.shape[1]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    for x in range(0, n8, 8):
        s0 += np.float64(img[y, x])
        s1 += np.float64(img[y, x + 1])
        s2 += np.float64(img[y, x + 2])
        s3 += np.float64(img[y, x + 3])
        s4 += np.float64(img[y, x + 4])
        s5 += np.float64(img[y, x + 5])
        s6 += np.float64(img[y, x + 6])
        s7 += np.float64(img[y, x + 7])
    t = s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7
    for x in range(n8, cols):
        t += np.float64(img[y, x])
    return t


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


@njit(parallel=True)
def _median_filter2d(grid, h, out):
    """Median over the (2h+1) x (2h+1) neighbourhood of each cell of a small float64 grid, with edge
    cells repeated ('nearest'), into ``out``. For an even count (never: the window is odd) the upper median.
    Rows of cells run in parallel (``prange``); each is independent, so the result does not depend on it."""
    ny, nx = grid.shape
    w = 2 * h + 1
    for i in prange(ny):
        buf = np.empty(w * w)
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
