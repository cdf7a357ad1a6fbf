"""Numba kernels of the MR family.

Each kernel takes contiguous arrays and scalars and writes into preallocated outputs; the public functions in
``phantomqc.mr`` validate, allocate and call them. Each has a slow pure-NumPy twin in ``tests/mr/`` that the tests
compare with it. Pixel arrays may be float32, float64, uint16 or int16 (numba compiles one specialisation per
dtype); every sum is accumulated in float64.

Several engineers add to this file: each section is headed by a comment naming what it serves. Add new kernels as
a new section at the end; do not reformat the others.
"""

from __future__ import annotations

import numpy as np

from phantomqc._shared.jit import njit

__all__: list[str] = []


# ==== Low-contrast detectability (mr/lcd.py) =======================================================================
# ``_bilinear(img, r, c)``: bilinear interpolation at the sub-pixel point (row r, col c); 0 outside the image
#   (a sample whose 2 x 2 neighbourhood is not wholly inside counts as 0).
# ``_template_scores(img, cr, cc, sy, sx, py_mm, px_mm, pw, thetas, dr_px, dc_px, out)``: the rigid-template
#   correlation of the LCD search. The template is a set of points (py_mm[k], px_mm[k]) in mm about the LCD centre
#   (y down, x right, spoke-1 angle 0) with weights pw[k] (positive in the disks, negative in their background
#   annuli, zero sum per disk). For each angle thetas[t] (radians, clockwise on the screen), row offset dr_px[i]
#   and column offset dc_px[j]: out[t, i, j] = sum_k pw[k] * bilinear(img, cr + dr_px[i] + y'_k / sy,
#   cc + dc_px[j] + x'_k / sx), with x' = x cos t - y sin t, y' = x sin t + y cos t.
# ``_disk_statistics(img, cr, cc, sy, sx, diam_mm, rin_mm, rout_mm, band_lo_mm, band_hi_mm, excl_r, excl_c,
#   excl_mm, region_r, region_c, region_mm, nsub, out, wmaps)``: the detection statistic of each disk k centred at
#   (cr[k], cc[k]) px. Weights: w_p = f_p / sum f (f_p the fraction of pixel p inside the disk of diameter
#   diam_mm[k], from nsub x nsub sub-samples) minus 1 / N_B on the background pixels B: f_p = 0, distance from
#   the disk centre in (rin_mm[k], rout_mm[k]], distance from (region_r, region_c) in [band_lo_mm[k],
#   band_hi_mm[k]] and <= region_mm, farther than excl_mm[m] from every exclusion centre (excl_r[m], excl_c[m]).
#   out[k] = (sum f, sum f v / sum f, N_B, mean_B v, C = sum w v, sum f^2 / sum f); wmaps[k] = the weights w (the
#   shape of img; zero elsewhere), from which the caller computes var(C) = w' K w. A disk with no pixel or no
#   background pixel gets NaN in out[k, 1], out[k, 3], out[k, 4] and zero weights.


@njit
def _bilinear(img, r, c):
    nrow = img.shape[0]
    ncol = img.shape[1]
    r0 = int(np.floor(r))
    c0 = int(np.floor(c))
    if r0 < 0 or c0 < 0 or r0 + 1 >= nrow or c0 + 1 >= ncol:
        return 0.0
    fr = r - r0
    fc = c - c0
    v00 = np.float64(img[r0, c0])
    v01 = np.float64(img[r0, c0 + 1])
    v10 = np.float64(img[r0 + 1, c0])
    v11 = np.float64(img[r0 + 1, c0 + 1])
    return (v00 * (1.0 - fc) + v01 * fc) * (1.0 - fr) + (v10 * (1.0 - fc) + v11 * fc) * fr


@njit
def _template_scores(img, cr, cc, sy, sx, py_mm, px_mm, pw, thetas, dr_px, dc_px, out):
    """Rigid-template correlation over angles and centre offsets; see the section comment."""
    npt = py_mm.shape[0]
    for t in range(thetas.shape[0]):
        ct = np.cos(thetas[t])
        st = np.sin(thetas[t])
        for i in range(dr_px.shape[0]):
            for j in range(dc_px.shape[0]):
                r0 = cr + dr_px[i]
                c0 = cc + dc_px[j]
                s = 0.0
                for k in range(npt):
                    x = px_mm[k]
                    y = py_mm[k]
                    xr = x * ct - y * st
                    yr = x * st + y * ct
                    s += pw[k] * _bilinear(img, r0 + yr / sy, c0 + xr / sx)
                out[t, i, j] = s


@njit
def _disk_statistics(img, cr, cc, sy, sx, diam_mm, rin_mm, rout_mm, band_lo_mm, band_hi_mm, excl_r, excl_c, excl_mm,
                     region_r, region_c, region_mm, nsub, out, wmaps):
    """Matched-disk contrast against its background pixels and the weight maps; see the section comment."""
    nrow = img.shape[0]
    ncol = img.shape[1]
    pix = max(sy, sx)
    for k in range(cr.shape[0]):
        rad = 0.5 * diam_mm[k]
        # the box: pixels within rout of the disk centre and within the region
        rmax = max(rout_mm[k], rad + 1.5 * pix)
        r0 = max(0, int(np.floor(max(cr[k] - rmax / sy, region_r - region_mm / sy))) - 1)
        r1 = min(nrow - 1, int(np.ceil(min(cr[k] + rmax / sy, region_r + region_mm / sy))) + 1)
        c0 = max(0, int(np.floor(max(cc[k] - rmax / sx, region_c - region_mm / sx))) - 1)
        c1 = min(ncol - 1, int(np.ceil(min(cc[k] + rmax / sx, region_c + region_mm / sx))) + 1)
        # the disk's own pixels may lie outside the region: widen the box to hold them
        r0 = max(0, min(r0, int(np.floor(cr[k] - rad / sy)) - 2))
        r1 = min(nrow - 1, max(r1, int(np.ceil(cr[k] + rad / sy)) + 2))
        c0 = max(0, min(c0, int(np.floor(cc[k] - rad / sx)) - 2))
        c1 = min(ncol - 1, max(c1, int(np.ceil(cc[k] + rad / sx)) + 2))
        nr = r1 - r0 + 1
        nc = c1 - c0 + 1
        for i in range(nrow):
            for j in range(ncol):
                wmaps[k, i, j] = 0.0
        if nr <= 0 or nc <= 0:
            for q in range(6):
                out[k, q] = np.nan
            continue
        f = np.zeros((nr, nc))
        isb = np.zeros((nr, nc), dtype=np.bool_)
        sf = 0.0
        sf2 = 0.0
        sfv = 0.0
        nb = 0.0
        sbv = 0.0
        reach2 = (rad + pix) * (rad + pix)
        for i in range(nr):
            r = r0 + i
            for j in range(nc):
                c = c0 + j
                dy = (r - cr[k]) * sy
                dx = (c - cc[k]) * sx
                d2 = dy * dy + dx * dx
                v = np.float64(img[r, c])
                if d2 <= reach2:
                    # fraction of the pixel inside the disk, from nsub x nsub sub-samples
                    inside = 0
                    for a in range(nsub):
                        yy = (r - 0.5 + (a + 0.5) / nsub - cr[k]) * sy
                        for b in range(nsub):
                            xx = (c - 0.5 + (b + 0.5) / nsub - cc[k]) * sx
                            if yy * yy + xx * xx <= rad * rad:
                                inside += 1
                    if inside > 0:
                        fr = inside / (nsub * nsub)
                        f[i, j] = fr
                        sf += fr
                        sf2 += fr * fr
                        sfv += fr * v
                        continue
                if d2 <= rin_mm[k] * rin_mm[k] or d2 > rout_mm[k] * rout_mm[k]:
                    continue
                gy = (r - region_r) * sy
                gx = (c - region_c) * sx
                g2 = gy * gy + gx * gx
                if g2 > region_mm * region_mm or g2 < band_lo_mm[k] * band_lo_mm[k] \
                        or g2 > band_hi_mm[k] * band_hi_mm[k]:
                    continue
                ok = True
                for m in range(excl_r.shape[0]):
                    ey = (r - excl_r[m]) * sy
                    ex = (c - excl_c[m]) * sx
                    if ey * ey + ex * ex <= excl_mm[m] * excl_mm[m]:
                        ok = False
                        break
                if ok:
                    isb[i, j] = True
                    nb += 1.0
                    sbv += v
        if sf <= 0.0 or nb <= 0.0:
            for q in range(6):
                out[k, q] = np.nan
            out[k, 0] = sf
            out[k, 2] = nb
            continue
        mean_t = sfv / sf
        mean_b = sbv / nb
        for i in range(nr):
            for j in range(nc):
                if f[i, j] > 0.0:
                    wmaps[k, r0 + i, c0 + j] = f[i, j] / sf
                elif isb[i, j]:
                    wmaps[k, r0 + i, c0 + j] = -1.0 / nb
        out[k, 0] = sf
        out[k, 1] = mean_t
        out[k, 2] = nb
        out[k, 3] = mean_b
        out[k, 4] = mean_t - mean_b
        out[k, 5] = sf2 / sf
