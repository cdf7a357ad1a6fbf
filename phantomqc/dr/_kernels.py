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

    Subtracting ``shift`` (a value near the mean) keeps the sum of squares free of cancellation. Rows are
    added four at a time, element-wise, into per-column float64 accumulators (``_rect_rows``: 1-D row
    slices, a loop that vectorises without fastmath; a running scalar sum would be one dependent add per
    pixel), which are added up at the end."""
    nc = max(0, c1 - c0)
    cs = np.zeros(nc)
    cs2 = np.zeros(nc)
    y = r0
    while y + 4 <= r1:
        _rect_rows(img[y, c0:c1], img[y + 1, c0:c1], img[y + 2, c0:c1], img[y + 3, c0:c1], 4, shift, cs, cs2)
        y += 4
    while y < r1:
        _rect_rows(img[y, c0:c1], img[y, c0:c1], img[y, c0:c1], img[y, c0:c1], 1, shift, cs, cs2)
        y += 1
    s = 0.0
    s2 = 0.0
    for j in range(nc):
        s += cs[j]
        s2 += cs2[j]
    out[0] = s
    out[1] = s2


@njit
def _rect_rows(a0, a1, a2, a3, n, shift, cs, cs2):
    """cs += (row values - shift), cs2 += their squares, for the rows a0..a3 (n = 4) or a0 alone (n = 1)."""
    if n == 4:
        for j in range(a0.shape[0]):
            v0 = np.float64(a0[j]) - shift
            v1 = np.float64(a1[j]) - shift
            v2 = np.float64(a2[j]) - shift
            v3 = np.float64(a3[j]) - shift
            cs[j] += (v0 + v1) + (v2 + v3)
            cs2[j] += (v0 * v0 + v1 * v1) + (v2 * v2 + v3 * v3)
    else:
        for j in range(a0.shape[0]):
            v = np.float64(a0[j]) - shift
            cs[j] += v
            cs2[j] += v * v


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

    Rows are taken four (or two, or one, at the end of a block row) at a time, so that the column
    accumulators (in L2, not in registers) are loaded and stored once per four pixels; the pixel loop is
    element-wise over x and vectorises without fastmath. Row sums are added by pairwise folding
    (``_fold_row_sum``), whose loops are element-wise too, while the rows are in cache."""
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
    fold_a = np.empty(max(1, cols // 2))
    fold_b = np.empty(max(1, cols // 2))
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
            y = y0
            while y < y1:
                nr = min(4, y1 - y)
                if nr == 3:
                    nr = 2
                _acc_rows(img, y, nr, shift, cacc, cacc2, mn_a, mn_b, mx_a, mx_b)
                mn_a, mn_b = mn_b, mn_a
                mx_a, mx_b = mx_b, mx_a
                y += nr
            for y in range(y0, y1):
                row_sums[y] = _fold_row_sum(img, y, shift, fold_a, fold_b)
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
    """Add rows ``y`` .. ``y + n - 1`` (n = 1, 2 or 4) to the column sums of ``v - shift`` and of its square;
    ``mn_out`` / ``mx_out`` = column min / max of ``mn_in`` / ``mx_in`` and the rows. Several rows per call
    load and store the column accumulators once for all of them."""
    cols = img.shape[1]
    if n == 4:
        for x in range(cols):
            r0 = img[y, x]
            r1 = img[y + 1, x]
            r2 = img[y + 2, x]
            r3 = img[y + 3, x]
            v0 = np.float64(r0) - shift
            v1 = np.float64(r1) - shift
            v2 = np.float64(r2) - shift
            v3 = np.float64(r3) - shift
            cacc[x] += (v0 + v1) + (v2 + v3)
            cacc2[x] += (v0 * v0 + v1 * v1) + (v2 * v2 + v3 * v3)
            lo01 = r0 if r0 < r1 else r1
            hi01 = r1 if r0 < r1 else r0
            lo23 = r2 if r2 < r3 else r3
            hi23 = r3 if r2 < r3 else r2
            lo = lo01 if lo01 < lo23 else lo23
            hi = hi23 if hi01 < hi23 else hi01
            c = mn_in[x]
            mn_out[x] = lo if lo < c else c
            c = mx_in[x]
            mx_out[x] = hi if hi > c else c
    elif n == 2:
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
def _fold_row_sum(img, y, shift, buf_a, buf_b):
    """Sum of ``v - shift`` along row ``y`` in float64 by pairwise folding: the first half of the row plus the
    second half, then that halved again, down to 8 values added in order (an odd element left over at a fold
    is added to the total). Every fold is an element-wise loop between two buffers (``buf_a``, ``buf_b``: at
    least ``cols // 2`` long, overwritten), which vectorises without fastmath; a running sum would not."""
    cols = img.shape[1]
    h = cols // 2
    t = 0.0
    if cols % 2:
        t = np.float64(img[y, cols - 1]) - shift
    for j in range(h):
        buf_a[j] = (np.float64(img[y, j]) - shift) + (np.float64(img[y, j + h]) - shift)
    n = h
    while n > 8:
        h = n // 2
        if n % 2:
            t += buf_a[n - 1]
        for j in range(h):
            buf_b[j] = buf_a[j] + buf_a[j + h]
        buf_a, buf_b = buf_b, buf_a
        n = h
    for j in range(n):
        t += buf_a[j]
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


@njit
def _median_network(m):
    """Compare-exchange pairs (lo, hi) that bring the median (place ``m // 2``) of ``m`` values into place:
    Batcher's odd-even merge sort on the next power of two, without the pairs that touch the padding (values
    beyond ``m`` count as +inf and never move) or that cannot reach the median's place. Shape (n_pairs, 2)."""
    size = 1
    while size < m:
        size *= 2
    pairs = np.empty((max(1, size * size), 2), np.int64)
    n = 0
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (p * 2) == (i + j + k) // (p * 2) and i + j + k < m:
                        pairs[n, 0] = i + j
                        pairs[n, 1] = i + j + k
                        n += 1
            k //= 2
        p *= 2
    live = np.zeros(m, np.bool_)
    live[m // 2] = True
    use = np.zeros(n, np.bool_)
    n_use = 0
    for c in range(n - 1, -1, -1):
        if live[pairs[c, 0]] or live[pairs[c, 1]]:
            use[c] = True
            live[pairs[c, 0]] = True
            live[pairs[c, 1]] = True
            n_use += 1
    out = np.empty((n_use, 2), np.int64)
    t = 0
    for c in range(n):
        if use[c]:
            out[t, 0] = pairs[c, 0]
            out[t, 1] = pairs[c, 1]
            t += 1
    return out


@njit
def _median_filter2d(grid, h, out):
    """Median over the (2h+1) x (2h+1) neighbourhood of each cell of a small float64 grid, with edge
    cells repeated ('nearest'), into ``out`` (the window is odd, so the median is one of its values).

    The (2h+1)^2 neighbours of every cell are laid out as the rows of a scratch array (one column per cell)
    and a median network (``_median_network``) is applied to whole rows: each compare-exchange is an
    element-wise min / max over all cells and vectorises (an insertion sort per cell is mispredicted
    branches; a network per row of cells is too short a loop). The min and max go to two spare rows, which
    then stand for the two inputs (``phys``: logical row -> row of ``v``): written back in place, the min
    would be compiled to a masked store, which is microcoded and slow on AMD Zen."""
    ny, nx = grid.shape
    w = 2 * h + 1
    m = w * w
    nc = ny * nx
    net = _median_network(m)
    v = np.empty((m + 2, nc))
    phys = np.arange(m + 2)
    t = 0
    for di in range(-h, h + 1):
        for dj in range(-h, h + 1):
            for i in range(ny):
                ii = min(max(i + di, 0), ny - 1)
                for j in range(nx):
                    v[t, i * nx + j] = grid[ii, min(max(j + dj, 0), nx - 1)]
            t += 1
    s1 = m
    s2 = m + 1
    for c in range(net.shape[0]):
        la = net[c, 0]
        lb = net[c, 1]
        pa = phys[la]
        pb = phys[lb]
        _min_max(v[pa], v[pb], v[s1], v[s2])
        phys[la] = s1
        phys[lb] = s2
        s1 = pa
        s2 = pb
    med = phys[m // 2]
    for i in range(ny):
        for j in range(nx):
            out[i, j] = v[med, i * nx + j]


@njit
def _min_max(a, b, lo, hi):
    """lo, hi <- element-wise min(a, b), max(a, b) (four distinct rows: the loop vectorises)."""
    for j in range(a.shape[0]):
        x = a[j]
        y = b[j]
        lo[j] = y if y < x else x
        hi[j] = x if y < x else y


# --- line and band profiles (artefact search) ---------------------------------------------------------

@njit
def _median(buf, n):
    """Median of ``buf[:n]`` (n >= 1) as ``np.median``: the mean of the two middle values for even n.
    ``buf[:n]`` is reordered (in place, no copy: about 2.5 x faster than numba's ``np.median``)."""
    k = n // 2
    v = _select(buf, 0, n - 1, k)
    if n % 2:
        return v
    m = buf[0]
    for i in range(1, k):  # the largest of the lower half, which _select left below k
        if buf[i] > m:
            m = buf[i]
    return (m + v) / 2


@njit
def _select(a, lo, hi, k):
    """The k-th smallest value of ``a[lo:hi + 1]``, moved to ``a[k]`` with no larger value before it and no
    smaller one after it (quickselect: Hoare partition around the median of the first, middle and last)."""
    while hi > lo:
        mid = (lo + hi) >> 1
        x = a[lo]
        y = a[mid]
        z = a[hi]
        if x > y:
            x, y = y, x
        if y > z:
            y = z
        if x > y:
            y = x
        i = lo
        j = hi
        while i <= j:
            while a[i] < y:
                i += 1
            while a[j] > y:
                j -= 1
            if i <= j:
                t = a[i]
                a[i] = a[j]
                a[j] = t
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return a[k]
    return a[k]


@njit
def _robust_scale(v, n, med, work):
    """1.4826 x the median absolute deviation of ``v[:n]`` from ``med``; the population SD where that is not
    > 0, and 1 where that is 0 too. ``work`` (>= n long) is overwritten."""
    for i in range(n):
        work[i] = abs(v[i] - med)
    scale = 1.4826 * _median(work, n)
    if not scale > 0:
        m = 0.0
        for i in range(n):
            m += v[i]
        m /= n
        s = 0.0
        for i in range(n):
            s += (v[i] - m) * (v[i] - m)
        scale = np.sqrt(s / n)
        if scale == 0:
            scale = 1.0
    return scale


@njit
def _legendre(n, order, out):
    """Legendre polynomials P_0 .. P_order at n points spread evenly over [-1, 1] into ``out`` (n, order + 1)."""
    for i in range(n):
        x = -1.0 + 2.0 * i / (n - 1) if n > 1 else -1.0
        out[i, 0] = 1.0
        if order >= 1:
            out[i, 1] = x
        for k in range(1, order):
            out[i, k + 1] = ((2 * k + 1) * x * out[i, k] - k * out[i, k - 1]) / (k + 1)


@njit
def _robust_polyfit(q, V, iterations, trend, keep, r, work, work2):
    """Least-squares polynomial trend of ``q`` in the basis ``V`` (n, m) into ``trend``, re-fitted up to
    ``iterations`` times without the points beyond 3 robust SDs (1.4826 MAD about the median of the kept
    residuals). Stops early when the kept set does not change or would keep <= m points. Normal equations,
    Gaussian elimination with partial pivoting. ``keep`` (uint8), ``r``, ``work``, ``work2`` (all n long) are
    scratch."""
    n, m = V.shape
    A = np.empty((m, m))
    b = np.empty(m)
    coef = np.empty(m)
    for i in range(n):
        keep[i] = 1
    for _ in range(iterations + 1):
        for a in range(m):
            b[a] = 0.0
            for c in range(m):
                A[a, c] = 0.0
        for i in range(n):
            if keep[i]:
                for a in range(m):
                    va = V[i, a]
                    b[a] += va * q[i]
                    for c in range(a, m):
                        A[a, c] += va * V[i, c]
        for a in range(m):
            for c in range(a):
                A[a, c] = A[c, a]
        _solve_small(A, b, coef)
        nk = 0
        for i in range(n):
            t = 0.0
            for a in range(m):
                t += V[i, a] * coef[a]
            trend[i] = t
            r[i] = q[i] - t
            if keep[i]:
                work[nk] = r[i]
                nk += 1
        for i in range(nk):
            work2[i] = work[i]
        med = _median(work2, nk)
        scale = _robust_scale(work, nk, med, work2)
        n_new = 0
        same = True
        lim = 3.0 * scale
        for i in range(n):
            k = 1 if abs(r[i] - med) <= lim else 0
            n_new += k
            if k != keep[i]:
                same = False
            work[i] = k
        if n_new <= m or same:
            break
        for i in range(n):
            keep[i] = 1 if work[i] > 0 else 0


@njit
def _solve_small(A, b, x):
    """x = A^-1 b for a small square system (Gaussian elimination with partial pivoting; A, b overwritten).
    A zero pivot gives a zero coefficient."""
    m = b.shape[0]
    for c in range(m):
        p = c
        for i in range(c + 1, m):
            if abs(A[i, c]) > abs(A[p, c]):
                p = i
        if p != c:
            for j in range(m):
                A[c, j], A[p, j] = A[p, j], A[c, j]
            b[c], b[p] = b[p], b[c]
        if A[c, c] == 0:
            continue
        for i in range(c + 1, m):
            f = A[i, c] / A[c, c]
            for j in range(c, m):
                A[i, j] -= f * A[c, j]
            b[i] -= f * b[c]
    for c in range(m - 1, -1, -1):
        if A[c, c] == 0:
            x[c] = 0.0
            continue
        t = b[c]
        for j in range(c + 1, m):
            t -= A[c, j] * x[j]
        x[c] = t / A[c, c]


@njit
def _reflect(i, n):
    """Index ``i`` folded into 0 .. n-1 with scipy.ndimage's 'reflect' (d c b a | a b c d | d c b a)."""
    p = 2 * n
    i = i % p
    if i < 0:
        i += p
    return i if i < n else p - 1 - i


@njit
def _running_median(d, w, out, buf):
    """Median over the window of odd width ``w`` centred on each sample of ``d`` (ends 'reflect'), as
    ``scipy.ndimage.median_filter(d, w, mode='reflect')``, into ``out``. ``buf`` (>= len(d) + 3 w long) is
    scratch. Narrow windows keep the window sorted (``_running_median_sorted``), wide ones (w > 64, where
    the shifts cost) track the median's rank (``_running_median_ranks``); both are exact."""
    if w > 64:
        _running_median_ranks(d, w, out)
    else:
        _running_median_sorted(d, w, out, buf)


@njit
def _running_median_ranks(d, w, out):
    """``_running_median`` by ranks: the reflected signal is ranked once (``_radix_order``), a 0/1 table over
    the ranks marks the window, and the median's rank moves to the next marked rank up or down as samples
    enter and leave (about len / w table steps per sample, no sorting per step)."""
    n = d.shape[0]
    h = w // 2
    m = n + 2 * h
    e = np.empty(m)
    for k in range(m):
        e[k] = d[_reflect(k - h, n)]
    order = np.empty(m, np.int64)
    _radix_order(e, order)
    rank = np.empty(m, np.int64)
    for k in range(m):
        rank[order[k]] = k
    present = np.zeros(m + 1, np.int64)
    for k in range(w):
        present[rank[k]] = 1
    ptr = 0
    below = 0  # marked ranks below ptr
    while not (below == h and present[ptr]):
        below += present[ptr]
        ptr += 1
    out[0] = e[order[ptr]]
    for i in range(1, n):
        ro = rank[i - 1]
        rn = rank[i - 1 + w]
        present[ro] = 0
        present[rn] = 1
        if ro < ptr:
            below -= 1
        if rn < ptr:
            below += 1
        while below > h:
            ptr -= 1
            below -= present[ptr]
        while not (below == h and present[ptr]):
            below += present[ptr]
            ptr += 1
        out[i] = e[order[ptr]]


@njit
def _radix_order(x, order):
    """``order`` <- a permutation that sorts the float64 ``x`` ascending (NaNs excluded from the contract):
    LSD radix sort, 8 bits at a time, of the IEEE bits mapped to order-preserving unsigned keys; digits that
    are the same for every value are skipped."""
    n = x.shape[0]
    keys = np.empty(n, np.uint64)
    bits = x.view(np.uint64)
    sign = np.uint64(1) << np.uint64(63)
    for i in range(n):
        b = bits[i]
        keys[i] = ~b if b & sign else b | sign
        order[i] = i
    k2 = np.empty(n, np.uint64)
    o1 = order
    o2 = np.empty(n, np.int64)
    cnt = np.empty(257, np.int64)
    mask = np.uint64(255)
    for byte in range(8):
        sh = np.uint64(8 * byte)
        for j in range(257):
            cnt[j] = 0
        for i in range(n):
            cnt[np.int64((keys[i] >> sh) & mask) + 1] += 1
        skip = False
        for j in range(1, 257):
            if cnt[j] == n:
                skip = True
        if skip:
            continue
        for j in range(1, 257):
            cnt[j] += cnt[j - 1]
        for i in range(n):
            dgt = np.int64((keys[i] >> sh) & mask)
            pos = cnt[dgt]
            cnt[dgt] = pos + 1
            k2[pos] = keys[i]
            o2[pos] = o1[i]
        keys, k2 = k2, keys
        o1, o2 = o2, o1
    if o1 is not order:
        for i in range(n):
            order[i] = o1[i]


@njit
def _running_median_sorted(d, w, out, buf):
    """``_running_median`` with the window kept sorted in ``buf`` (>= len(d) + 3 w long: the window, a copy
    buffer and the reflected signal). Each step finds the leaving and the entering value's places by
    counting (``_bound``) and shifts the values between them by one (a shift towards higher places goes
    through the copy buffer: forward copies vectorise, an in-place backward shift does not)."""
    n = d.shape[0]
    h = w // 2
    tmp = buf[w:2 * w]
    e = buf[2 * w:2 * w + n + 2 * h]
    for k in range(n + 2 * h):
        e[k] = d[_reflect(k - h, n)]
    win = buf[:w]
    for k in range(w):
        v = e[k]
        j = k
        while j > 0 and win[j - 1] > v:
            win[j] = win[j - 1]
            j -= 1
        win[j] = v
    out[0] = win[h]
    for i in range(1, n):
        old = e[i - 1]
        new = e[i - 1 + w]
        if new > old:
            p = _bound(win, old, False)  # first place of old
            q = _bound(win, new, False) - 1  # last place below new
            for j in range(p, q):
                win[j] = win[j + 1]
            win[q] = new
        elif new < old:
            p = _bound(win, old, False)
            q = _bound(win, new, True)  # first place above new
            for j in range(p - q):
                tmp[j] = win[q + j]
            for j in range(p - q):
                win[q + 1 + j] = tmp[j]
            win[q] = new
        out[i] = win[h]


@njit
def _bound(a, x, upper):
    """First place in the sorted ``a`` with ``a[i] >= x`` (``upper``: ``a[i] > x``), ``len(a)`` if none:
    the number of values below (``upper``: not above) ``x``, counted over the whole (short) window; the
    count vectorises, where a bisection's branches would be mispredicted half of the time on noise."""
    c = 0
    if upper:
        for i in range(a.shape[0]):
            c += 1 if a[i] <= x else 0
    else:
        for i in range(a.shape[0]):
            c += 1 if a[i] < x else 0
    return c


@njit
def _boxcar(d, w, out):
    """Mean over ``w`` samples (ends 'reflect') as ``scipy.ndimage.uniform_filter1d(d, w, mode='reflect')``:
    output i averages the samples i - w // 2 .. i - w // 2 + w - 1. Running sum."""
    n = d.shape[0]
    lo = -(w // 2)
    s = 0.0
    for k in range(w):
        s += d[_reflect(lo + k, n)]
    out[0] = s / w
    for i in range(1, n):
        s += d[_reflect(i + lo + w - 1, n)] - d[_reflect(i - 1 + lo, n)]
        out[i] = s / w


@njit
def _line_band_profile(profile, line_w, thr, floor_scale, trend_w, smooth_w, z_line, z_band, scales):
    """Line and band z-profiles of one row- or column-mean profile (``artifacts`` steps 4 and 5).

    Lines: ``trend`` = robust order-4 polynomial (2 re-fits), ``base = trend + running median (line_w) of
    profile - trend``, ``r = profile - base``, ``z_line = (r - median r) / scale`` with ``scale`` = the larger
    of 1.4826 MAD(r) and ``floor_scale``. Bands: samples with ``|z_line| > thr`` replaced by ``base``, minus
    their robust polynomial trend, minus their running median (``trend_w``), boxcar over ``smooth_w``;
    ``z_band`` = that / noise, noise = max(scale / sqrt(smooth_w), 1.4826 MAD of the smoothed profile).
    ``scales`` <- (line scale, band noise). Windows are odd.

    The smooth trend (heel effect, log response) is removed by the robust polynomial before the running
    median: on a steep ramp a running median returns most samples unchanged, the residuals are mostly exactly
    0 and their MAD collapses. For the same reason the line scale is never taken below ``floor_scale``, the
    white-noise prediction of the SD of a line mean (pixel SD / sqrt(pixels per line))."""
    n = profile.shape[0]
    V = np.empty((n, 5))
    _legendre(n, 4, V)
    keep = np.empty(n, np.uint8)
    trend = np.empty(n)
    r = np.empty(n)
    work = np.empty(max(n + 3 * line_w, n + 3 * trend_w))
    work2 = np.empty(n)
    rm = np.empty(n)
    base = np.empty(n)
    q = np.empty(n)
    _robust_polyfit(profile, V, 2, trend, keep, r, work, work2)
    for i in range(n):
        q[i] = profile[i] - trend[i]
    _running_median(q, line_w, rm, work)
    for i in range(n):
        base[i] = trend[i] + rm[i]
        r[i] = profile[i] - base[i]
        work[i] = r[i]
    med = _median(work, n)
    scale = max(_robust_scale(r, n, med, work), floor_scale)
    for i in range(n):
        z = (r[i] - med) / scale
        z_line[i] = z
        q[i] = base[i] if (z > thr or z < -thr) else profile[i]
    _robust_polyfit(q, V, 2, trend, keep, r, work, work2)
    for i in range(n):
        r[i] = q[i] - trend[i]
    _running_median(r, trend_w, rm, work)
    for i in range(n):
        r[i] -= rm[i]
    _boxcar(r, smooth_w, q)
    for i in range(n):
        work[i] = q[i]
    med_s = _median(work, n)
    noise = max(scale / np.sqrt(smooth_w), _robust_scale(q, n, med_s, work))
    for i in range(n):
        z_band[i] = q[i] / noise
    scales[0] = scale
    scales[1] = noise


@njit(parallel=True)
def _line_band_profiles(prof_r, prof_c, line_w, thr, floor_scale, trend_w, smooth_w, z_line_r, z_band_r,
                        z_line_c, z_band_c, scales):
    """``_line_band_profile`` of the row profile (axis 0) and the column profile (axis 1) in parallel;
    ``line_w``, ``floor_scale``, ``trend_w``, ``smooth_w`` hold the two axes' parameters, ``scales`` (2, 2)."""
    for a in prange(2):
        if a == 0:
            _line_band_profile(prof_r, line_w[0], thr, floor_scale[0], trend_w[0], smooth_w[0], z_line_r, z_band_r,
                               scales[0])
        else:
            _line_band_profile(prof_c, line_w[1], thr, floor_scale[1], trend_w[1], smooth_w[1], z_line_c, z_band_c,
                               scales[1])
