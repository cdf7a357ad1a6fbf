"""Numba kernels of the CT family.

Each kernel takes contiguous arrays and scalars and writes into preallocated outputs; the public functions in
``phantomqc.ct`` validate, allocate and call them. Each has a slow pure-NumPy twin in ``tests/ct/`` that the
tests compare with it. Pixel arrays may be float32, float64, uint16 or int16 (numba compiles one specialisation
per dtype); every sum is accumulated in float64.

Several engineers add to this file: each section is headed by a comment naming what it serves. Add new kernels
as a new section at the end; do not reformat the others.
"""

from __future__ import annotations

import numpy as np

from phantomqc._shared.jit import njit

__all__: list[str] = []


# ==== Disc-ROI statistics (localize / ctp404 / uniform; reuse these for every circular ROI) =======================
# ``_disc_stats(img, cr, cc, rr, rc, shift, out)`` is THE disc-ROI primitive of the CT family:
#   a pixel (r, c) belongs to the disc iff ((r - cr) / rr)**2 + ((c - cc) / rc)**2 <= 1, with the centre
#   (cr, cc) at sub-pixel precision (row, col) and the radius in pixels along rows (rr = radius_mm / row spacing)
#   and along columns (rc = radius_mm / column spacing), so a disc in mm stays a disc for non-square pixels.
#   Pixels outside the image are skipped (out[2] then counts fewer pixels than the disc area: check it).
#   out[0] = sum(v - shift), out[1] = sum((v - shift)**2), out[2] = number of pixels, all float64.
#   With n = out[2], mean = shift + out[0] / n and the sample variance (n - 1) is
#   (out[1] - out[0]**2 / n) / (n - 1); pass a ``shift`` near the expected mean (e.g. the nominal CT number)
#   so that this difference of sums does not cancel.
# ``_discs_stats(img, rows, cols, rr, rc, shifts, out)`` does the same for many discs of one image in one call
#   (out has shape (n_discs, 3)); use it to avoid one Python call per ROI.
# ``_disc_moments(img, cr, cc, rr, rc, shift, out)``: sum, row- and column-weighted sums of (v - shift) over the
#   same disc, for sub-pixel blob centroids. ``_strided_count_above``, ``_ring_stats`` and ``_ray_crossings``
#   serve the localisation (phantom presence on a strided view; median / min / max of nearest-pixel samples on
#   a circle; the outline's edge crossings along rays).


@njit
def _disc_stats(img, cr, cc, rr, rc, shift, out):
    """Sum, sum of squares (of ``v - shift``) and count of the pixels of ``img`` inside an ellipse-in-pixels
    (a disc in mm) centred at (cr, cc) with semi-axes rr (rows) and rc (columns); see the section comment."""
    nrow = img.shape[0]
    ncol = img.shape[1]
    s = 0.0
    s2 = 0.0
    n = 0.0
    if rr > 0.0 and rc > 0.0:
        r0 = max(0, int(np.ceil(cr - rr)))
        r1 = min(nrow - 1, int(np.floor(cr + rr)))
        for r in range(r0, r1 + 1):
            dy = (r - cr) / rr
            q = 1.0 - dy * dy
            if q < 0.0:
                continue
            half = rc * np.sqrt(q)
            c0 = int(np.ceil(cc - half))
            c1 = int(np.floor(cc + half))
            # make the column range agree exactly with the membership test (rounding of the square root)
            while _in_disc(r, c0 - 1, cr, cc, rr, rc):
                c0 -= 1
            while c0 <= c1 and not _in_disc(r, c0, cr, cc, rr, rc):
                c0 += 1
            while _in_disc(r, c1 + 1, cr, cc, rr, rc):
                c1 += 1
            while c1 >= c0 and not _in_disc(r, c1, cr, cc, rr, rc):
                c1 -= 1
            c0 = max(c0, 0)
            c1 = min(c1, ncol - 1)
            for c in range(c0, c1 + 1):
                v = np.float64(img[r, c]) - shift
                s += v
                s2 += v * v
            if c1 >= c0:
                n += c1 - c0 + 1
    out[0] = s
    out[1] = s2
    out[2] = n


@njit
def _in_disc(r, c, cr, cc, rr, rc):
    dy = (r - cr) / rr
    dx = (c - cc) / rc
    return dy * dy + dx * dx <= 1.0


@njit
def _discs_stats(img, rows, cols, rr, rc, shifts, out):
    """``_disc_stats`` for discs ``k`` centred at (rows[k], cols[k]) with semi-axes (rr[k], rc[k]) and shift
    shifts[k]; out[k, 0:3] = sum, sum of squares, count."""
    tmp = np.zeros(3)
    for k in range(rows.shape[0]):
        _disc_stats(img, rows[k], cols[k], rr[k], rc[k], shifts[k], tmp)
        out[k, 0] = tmp[0]
        out[k, 1] = tmp[1]
        out[k, 2] = tmp[2]


@njit
def _disc_moments(img, cr, cc, rr, rc, shift, out):
    """First moments over the same disc as ``_disc_stats``: with w = v - shift, out[0] = sum(w),
    out[1] = sum(w * row), out[2] = sum(w * col), out[3] = number of pixels (all float64). The weighted
    centroid of a blob is (out[1] / out[0], out[2] / out[0]) when ``shift`` is the local background."""
    nrow = img.shape[0]
    ncol = img.shape[1]
    s = 0.0
    sr = 0.0
    sc = 0.0
    n = 0.0
    if rr > 0.0 and rc > 0.0:
        r0 = max(0, int(np.ceil(cr - rr)))
        r1 = min(nrow - 1, int(np.floor(cr + rr)))
        for r in range(r0, r1 + 1):
            for c in range(max(0, int(np.floor(cc - rc)) - 1), min(ncol - 1, int(np.ceil(cc + rc)) + 1) + 1):
                if _in_disc(r, c, cr, cc, rr, rc):
                    w = np.float64(img[r, c]) - shift
                    s += w
                    sr += w * r
                    sc += w * c
                    n += 1.0
    out[0] = s
    out[1] = sr
    out[2] = sc
    out[3] = n


@njit
def _strided_count_above(img, step, threshold, out):
    """out[0] = number of pixels of ``img[::step, ::step]`` above ``threshold``, out[1] = pixels visited."""
    k = 0
    t = 0
    for r in range(0, img.shape[0], step):
        for c in range(0, img.shape[1], step):
            t += 1
            if img[r, c] > threshold:
                k += 1
    out[0] = k
    out[1] = t


@njit
def _ring_stats(img, r0, c0, drow, dcol, buf, out):
    """Nearest-pixel samples of ``img`` at (r0 + drow[k], c0 + dcol[k]) (coordinates rounded with ``np.rint``,
    half to even), skipping those outside the image; out[0] = median, out[1] = min,
    out[2] = max, out[3] = number of samples inside. ``buf`` is scratch of len(drow). NaN statistics when no
    sample is inside."""
    h = img.shape[0]
    w = img.shape[1]
    n = 0
    for k in range(drow.shape[0]):
        r = int(np.rint(r0 + drow[k]))
        c = int(np.rint(c0 + dcol[k]))
        if r >= 0 and r < h and c >= 0 and c < w:
            buf[n] = np.float64(img[r, c])
            n += 1
    out[3] = n
    if n == 0:
        out[0] = np.nan
        out[1] = np.nan
        out[2] = np.nan
        return
    v = np.sort(buf[:n])
    if n % 2 == 1:
        out[0] = v[n // 2]
    else:
        out[0] = 0.5 * (v[n // 2 - 1] + v[n // 2])
    out[1] = v[0]
    out[2] = v[n - 1]


@njit
def _ray_crossings(img, r0, c0, cos_t, sin_t, sy, sx, radii, level, out):
    """Phantom edge along rays: for ray k (direction (cos_t[k], sin_t[k]) in (x, y) mm from the centre
    (r0, c0) px), sample ``img`` bilinearly at the radii ``radii`` (mm, increasing) and find the outward
    crossings of ``level`` (v[j] >= level > v[j + 1]); out[k] = the crossing radius (linear interpolation)
    nearest the middle of ``radii``, NaN when there is none (samples outside the image never cross)."""
    h = img.shape[0]
    w = img.shape[1]
    nr = radii.shape[0]
    mid = 0.5 * (radii[0] + radii[nr - 1])
    vals = np.empty(nr)
    for k in range(cos_t.shape[0]):
        for j in range(nr):
            rr = r0 + radii[j] * sin_t[k] / sy
            cc = c0 + radii[j] * cos_t[k] / sx
            if rr < 0.0 or rr > h - 1 or cc < 0.0 or cc > w - 1:
                vals[j] = np.nan
            else:
                i0 = min(int(rr), h - 2)
                j0 = min(int(cc), w - 2)
                fr = rr - i0
                fc = cc - j0
                vals[j] = ((np.float64(img[i0, j0]) * (1.0 - fr) + np.float64(img[i0 + 1, j0]) * fr) * (1.0 - fc)
                           + (np.float64(img[i0, j0 + 1]) * (1.0 - fr) + np.float64(img[i0 + 1, j0 + 1]) * fr) * fc)
        best = np.nan
        bestd = np.inf
        for j in range(nr - 1):
            a = vals[j]
            b = vals[j + 1]
            if a >= level and b < level:
                t = radii[j] + (a - level) / (a - b) * (radii[j + 1] - radii[j])
                d = abs(t - mid)
                if d < bestd:
                    bestd = d
                    best = t
        out[k] = best


# ==== end of the disc-ROI section ==================================================================================


# ==== Radial binning and annulus statistics (resolution: edge ESF; low_contrast: background annuli) ================
# ``_radial_bin(img, cr, cc, sy, sx, r_ref_mm, d_min_mm, inv_bin_mm, sector_ok, shift, sums, sums2, sumd, counts)``
#   accumulates every pixel whose signed radial distance d = rho - r_ref_mm from the centre (cr, cc) (rho in mm,
#   pixel (r, c) at y = r sy, x = c sx) falls in bin k = floor((d - d_min) * inv_bin), 0 <= k < len(sums), into
#   sums[k] (sum of v - shift), sums2[k] (sum of (v - shift)^2), sumd[k] (sum of d) and counts[k]. Only the pixels
#   of the annulus covered by the bins are visited. ``sector_ok`` (bool, n sectors over atan2(dy, dx) in [-pi, pi)) drops angular
#   sectors; pass an array of one True to keep all (no atan2 is then computed).
# ``_annulus_stats(img, cr, cc, sy, sx, r_in_mm, r_out_mm, ex_r, ex_c, ex_rad_mm, shift, out)``: sum, sum of
#   squares (of v - shift) and count of the pixels with r_in < rho <= r_out (mm) that lie farther than ex_rad_mm[j]
#   from every exclusion centre (ex_r[j], ex_c[j]) (pixels); out = [sum, sum2, n].
# ``_annuli_stats(img, rows, cols, sy, sx, r_in_mm, r_out_mm, ex_ptr, ex_idx, ex_rad_mm, shift, out)``: the same for
#   many annuli in one call, each excluding the discs of the other centres listed for it (CSR: ex_ptr, ex_idx).


@njit
def _radial_bin(img, cr, cc, sy, sx, r_ref_mm, d_min_mm, inv_bin_mm, sector_ok, shift, sums, sums2, sumd, counts):
    """Radial ESF binning around (cr, cc); see the section comment."""
    nrow = img.shape[0]
    ncol = img.shape[1]
    nb = sums.shape[0]
    nsec = sector_ok.shape[0]
    r_in = r_ref_mm + d_min_mm
    r_out = r_ref_mm + d_min_mm + nb / inv_bin_mm
    if r_in < 0.0:
        r_in = 0.0
    r0 = max(0, int(np.ceil(cr - r_out / sy)))
    r1 = min(nrow - 1, int(np.floor(cr + r_out / sy)))
    two_pi = 2.0 * np.pi
    for r in range(r0, r1 + 1):
        dy = (r - cr) * sy
        qo = r_out * r_out - dy * dy
        if qo < 0.0:
            continue
        ho = np.sqrt(qo) / sx
        c_lo = max(0, int(np.floor(cc - ho)))
        c_hi = min(ncol - 1, int(np.ceil(cc + ho)))
        qi = r_in * r_in - dy * dy
        skip_lo = c_hi + 1
        skip_hi = c_hi
        if qi > 0.0:
            hi = np.sqrt(qi) / sx
            skip_lo = int(np.ceil(cc - hi)) + 1  # columns strictly inside the inner circle are skipped
            skip_hi = int(np.floor(cc + hi)) - 1
        for c in range(c_lo, c_hi + 1):
            if c >= skip_lo and c <= skip_hi:
                continue
            dx = (c - cc) * sx
            rho = np.sqrt(dx * dx + dy * dy)
            b = np.floor((rho - r_ref_mm - d_min_mm) * inv_bin_mm)
            if b < 0.0 or b >= nb:
                continue
            if nsec > 1:
                s = int(np.floor((np.arctan2(dy, dx) + np.pi) / two_pi * nsec))
                if s >= nsec:
                    s = nsec - 1
                if not sector_ok[s]:
                    continue
            k = int(b)
            v = np.float64(img[r, c]) - shift
            sums[k] += v
            sums2[k] += v * v
            sumd[k] += rho - r_ref_mm
            counts[k] += 1.0


@njit
def _annulus_stats(img, cr, cc, sy, sx, r_in_mm, r_out_mm, ex_r, ex_c, ex_rad_mm, shift, out):
    """Statistics of an annulus with excluded discs; see the section comment."""
    nrow = img.shape[0]
    ncol = img.shape[1]
    s = 0.0
    s2 = 0.0
    n = 0.0
    r0 = max(0, int(np.ceil(cr - r_out_mm / sy)))
    r1 = min(nrow - 1, int(np.floor(cr + r_out_mm / sy)))
    c0 = max(0, int(np.ceil(cc - r_out_mm / sx)))
    c1 = min(ncol - 1, int(np.floor(cc + r_out_mm / sx)))
    rin2 = r_in_mm * r_in_mm
    rout2 = r_out_mm * r_out_mm
    nex = ex_r.shape[0]
    for r in range(r0, r1 + 1):
        dy = (r - cr) * sy
        for c in range(c0, c1 + 1):
            dx = (c - cc) * sx
            q = dx * dx + dy * dy
            if q <= rin2 or q > rout2:
                continue
            keep = True
            for j in range(nex):
                ey = (r - ex_r[j]) * sy
                ex = (c - ex_c[j]) * sx
                if ey * ey + ex * ex <= ex_rad_mm[j] * ex_rad_mm[j]:
                    keep = False
                    break
            if keep:
                v = np.float64(img[r, c]) - shift
                s += v
                s2 += v * v
                n += 1.0
    out[0] = s
    out[1] = s2
    out[2] = n


@njit
def _annuli_stats(img, rows, cols, sy, sx, r_in_mm, r_out_mm, ex_ptr, ex_idx, ex_rad_mm, shift, out):
    """``_annulus_stats`` for annuli k centred at (rows[k], cols[k]) with radii r_in_mm[k], r_out_mm[k]; the
    exclusion discs of annulus k are those centred at (rows[j], cols[j]) with radius ex_rad_mm[j] for
    j in ex_idx[ex_ptr[k]:ex_ptr[k + 1]]; out[k] = [sum, sum2, n]."""
    tmp = np.zeros(3)
    for k in range(rows.shape[0]):
        jj = ex_idx[ex_ptr[k]:ex_ptr[k + 1]]
        _annulus_stats(img, rows[k], cols[k], sy, sx, r_in_mm[k], r_out_mm[k], rows[jj], cols[jj], ex_rad_mm[jj],
                       shift, tmp)
        out[k, 0] = tmp[0]
        out[k, 1] = tmp[1]
        out[k, 2] = tmp[2]


# ==== end of the radial-binning / annulus section ==================================================================


# ==== Quintic B-spline interpolation (line_pairs: reading bar profiles) ==============================================
# ``_spline5_eval(coef, rows, cols, out)``: out[k] = sum_{i,j} coef[i, j] beta5(rows[k] - i) beta5(cols[k] - j), the
#   quintic B-spline interpolant of the image whose spline coefficients are ``coef`` (scipy.ndimage.spline_filter,
#   order 5), at (row, col) positions in the pixels of ``coef``. A point whose 6 x 6 support leaves ``coef`` gets
#   NaN (pad the crop by 3 pixels). Same values as ``map_coordinates(coef, ..., order=5, prefilter=False)``.


@njit
def _beta5(x):
    a = abs(x)
    if a <= 1.0:
        a2 = a * a
        return 0.55 - 0.5 * a2 + 0.25 * a2 * a2 - a2 * a2 * a / 12.0
    if a <= 2.0:
        a2 = a * a
        return (17.0 / 40.0 + 5.0 * a / 8.0 - 7.0 * a2 / 4.0 + 5.0 * a2 * a / 4.0 - 3.0 * a2 * a2 / 8.0
                + a2 * a2 * a / 24.0)
    if a < 3.0:
        b = 3.0 - a
        return b * b * b * b * b / 120.0
    return 0.0


@njit
def _spline5_eval(coef, rows, cols, out):
    """Quintic B-spline interpolation at (rows[k], cols[k]); see the section comment."""
    nr = coef.shape[0]
    nc = coef.shape[1]
    wy = np.empty(6)
    wx = np.empty(6)
    for k in range(rows.shape[0]):
        r = rows[k]
        c = cols[k]
        i0 = int(np.floor(r)) - 2
        j0 = int(np.floor(c)) - 2
        if not (i0 >= 0 and j0 >= 0 and i0 + 5 < nr and j0 + 5 < nc):
            out[k] = np.nan
            continue
        for m in range(6):
            wy[m] = _beta5(r - (i0 + m))
            wx[m] = _beta5(c - (j0 + m))
        s = 0.0
        for m in range(6):
            t = 0.0
            for n in range(6):
                t += coef[i0 + m, j0 + n] * wx[n]
            s += t * wy[m]
        out[k] = s


# ==== end of the quintic B-spline section ============================================================================



# ==== Low contrast: noise SD of the detection statistic at background placements (low_contrast.sigma_C) ==============
# ``_lc_pattern(cr, cc, ar, ac, sy, sx, rr, rc, r_in, r_out, ex_r, ex_c, ex_rad, hr, hc, run_r, run_c0, run_c1,
#   run_w, counts)``: the pixels of a target's disc T (the ``_disc_stats`` test with semi-axes rr, rc px) and of
#   its annulus B (the ``_annulus_stats`` tests, mm radii, exclusion discs (ex_r, ex_c, ex_rad)), both around the
#   sub-pixel centre (cr, cc), scanned over rows ar - hr .. ar + hr and columns ac - hc .. ac + hc, written as row
#   runs relative to the anchor pixel (ar, ac): run j covers row ar + run_r[j], columns ac + run_c0[j] ..
#   ac + run_c1[j] (inclusive), weight run_w[j] = 1 / N_T (T) or -1 / N_B (B). counts = [n_runs, N_T, N_B].
#   The run arrays need (2 hr + 1) (3 + len(ex_r)) entries.
# ``_lc_placements(psum, ar, ac, run_r, run_c0, run_c1, run_w, n_runs, yi, xi, sy, sx, s_r, s_c, rho_max, k_r, k_c,
#   vals, cls)``: the weighted run sum sum_j run_w[j] (sum of the pixels of run j) of the pattern translated by
#   (i s_r, j s_c) pixels, for every lattice point (i, j) with (yi + i s_r sy)^2 + (xi + j s_c sx)^2 <= rho_max^2
#   (yi, xi the pattern centre in mm from the region centre), in row-major (i, j) order; ``psum`` is the row-wise
#   prefix sum of the image (psum[r, 0] = 0, psum[r, c + 1] = img[r, 0] + ... + img[r, c]) and (ar, ac) the anchor
#   in its pixels. vals[k] = NaN where a run would leave ``psum``; cls[k] = (i mod k_r) k_c + (j mod k_c), the
#   grid of non-overlapping placements it belongs to. Returns the number of lattice points written.
# ``_lc_pooled_sd(vals, cls, m, n_cls, z, out)``: over the finite vals[:m] within z robust SDs (1.4826 MAD) of
#   their median, the pooled within-class SD sqrt(sum_g sum (v - mean_g)^2 / sum_g (n_g - 1)); out = [SD (NaN when
#   fewer than 2 degrees of freedom), values kept, values kept / non-empty classes].


@njit
def _lc_pattern(cr, cc, ar, ac, sy, sx, rr, rc, r_in, r_out, ex_r, ex_c, ex_rad, hr, hc, run_r, run_c0, run_c1,
                run_w, counts):
    """Row runs of a target's T disc and B annulus; see the section comment."""
    n = 0
    n_t = 0
    n_b = 0
    rin2 = r_in * r_in
    rout2 = r_out * r_out
    nex = ex_r.shape[0]
    for kind in range(2):
        for r in range(ar - hr, ar + hr + 1):
            start = 0
            inrun = False
            for c in range(ac - hc, ac + hc + 2):
                m = False
                if c <= ac + hc:
                    if kind == 0:
                        m = _in_disc(r, c, cr, cc, rr, rc)
                    else:
                        dy = (r - cr) * sy
                        dx = (c - cc) * sx
                        q = dx * dx + dy * dy
                        if q > rin2 and q <= rout2:
                            m = True
                            for j in range(nex):
                                ey = (r - ex_r[j]) * sy
                                ex = (c - ex_c[j]) * sx
                                if ey * ey + ex * ex <= ex_rad[j] * ex_rad[j]:
                                    m = False
                                    break
                if m:
                    if kind == 0:
                        n_t += 1
                    else:
                        n_b += 1
                    if not inrun:
                        inrun = True
                        start = c
                elif inrun:
                    inrun = False
                    run_r[n] = r - ar
                    run_c0[n] = start - ac
                    run_c1[n] = c - 1 - ac
                    run_w[n] = kind
                    n += 1
    for j in range(n):
        if run_w[j] == 0.0:
            run_w[j] = 1.0 / max(n_t, 1)
        else:
            run_w[j] = -1.0 / max(n_b, 1)
    counts[0] = n
    counts[1] = n_t
    counts[2] = n_b


@njit
def _lc_placements(psum, ar, ac, run_r, run_c0, run_c1, run_w, n_runs, yi, xi, sy, sx, s_r, s_c, rho_max, k_r, k_c,
                   vals, cls):
    """The pattern's weighted sum at every lattice placement in the region; see the section comment."""
    rmin = 1 << 30
    rmax = -(1 << 30)
    cmin = 1 << 30
    cmax = -(1 << 30)
    for j in range(n_runs):
        rmin = min(rmin, run_r[j])
        rmax = max(rmax, run_r[j])
        cmin = min(cmin, run_c0[j])
        cmax = max(cmax, run_c1[j])
    nr = psum.shape[0]
    nc = psum.shape[1]
    i0 = int(np.ceil((-rho_max - yi) / (s_r * sy)))
    i1 = int(np.floor((rho_max - yi) / (s_r * sy)))
    j0 = int(np.ceil((-rho_max - xi) / (s_c * sx)))
    j1 = int(np.floor((rho_max - xi) / (s_c * sx)))
    rho2 = rho_max * rho_max
    m = 0
    for i in range(i0, i1 + 1):
        y = yi + i * s_r * sy
        for jj in range(j0, j1 + 1):
            x = xi + jj * s_c * sx
            if y * y + x * x > rho2:
                continue
            a_r = ar + i * s_r
            a_c = ac + jj * s_c
            if a_r + rmin < 0 or a_r + rmax >= nr or a_c + cmin < 0 or a_c + cmax + 1 >= nc:
                vals[m] = np.nan
            else:
                s = 0.0
                for j in range(n_runs):
                    r = a_r + run_r[j]
                    s += run_w[j] * (psum[r, a_c + run_c1[j] + 1] - psum[r, a_c + run_c0[j]])
                vals[m] = s
            cls[m] = (i % k_r) * k_c + (jj % k_c)
            m += 1
    return m


@njit
def _lc_pooled_sd(vals, cls, m, n_cls, z, out):
    """Robust pooled within-class SD; see the section comment."""
    fin = np.empty(m)
    nf = 0
    for k in range(m):
        if np.isfinite(vals[k]):
            fin[nf] = vals[k]
            nf += 1
    out[0] = np.nan
    out[1] = 0.0
    out[2] = 0.0
    if nf < 3:
        out[1] = nf
        return
    med = np.median(fin[:nf])
    dev = np.empty(nf)
    for k in range(nf):
        dev[k] = abs(fin[k] - med)
    lim = z * 1.4826 * np.median(dev)
    n = np.zeros(n_cls)
    s1 = np.zeros(n_cls)
    s2 = np.zeros(n_cls)
    kept = 0
    for k in range(m):
        v = vals[k]
        if not np.isfinite(v):
            continue
        v -= med
        if lim > 0.0 and abs(v) > lim:
            continue
        g = cls[k]
        n[g] += 1.0
        s1[g] += v
        s2[g] += v * v
        kept += 1
    ss = 0.0
    dof = 0.0
    groups = 0
    for g in range(n_cls):
        if n[g] > 0.0:
            groups += 1
            dof += n[g] - 1.0
            ss += max(s2[g] - s1[g] * s1[g] / n[g], 0.0)
    out[1] = kept
    out[2] = kept / max(groups, 1)
    if dof >= 2.0:
        out[0] = np.sqrt(ss / dof)


# ==== end of the low-contrast sigma_C section ========================================================================
