"""Artefacts (WS 76-2020, DR part): automated search of a flat field for dead or hot lines, clusters of
defective pixels and structured non-uniformity (bands).

WS 76-2020 only asks for a visual check ("no artefacts"). This module makes that check repeatable.

Method
------
1. One pass over the image (``_kernels._flat_pass``) gives row sums, column sums, block sums on the
   display grid (f x f pixels, the preview) and, on coarse blocks of about 64 x 64 pixels, the sum of
   squares, minimum and maximum.
2. Background and noise: coarse-block means and SDs, each median-filtered over 5 x 5 blocks (so a line
   or a cluster inside one block column does not leak into them), interpolated bilinearly between block
   centres. This follows heel effect and gain gradients; the normalised residual is
   z = (v - background) / local SD.
3. Defective pixels: only the coarse blocks whose minimum or maximum could reach |z| > T are visited at
   pixel level (``_flag_pixels``). Flagged pixels are grouped by 8-connectivity.
4. Lines (steps 4 and 5 in ``_kernels._line_band_profiles``): row means and column means, detrended by a
   robust polynomial and a running median over ``line_window_mm``; robust
   z = (d - median d) / (1.4826 MAD d) > T flags a line. Before that, the excess of every compact group of
   flagged pixels (bounding box shorter than ``line_window_mm``) is removed from the profiles, so that a
   strong cluster is not also reported as a hot row and column. Adjacent lines of the same polarity are one
   artefact.
5. Bands: the profiles, with lines replaced by their local median, are detrended by the robust polynomial
   and a running median over ``band_trend_mm`` and smoothed by a
   ``band_smooth_mm`` boxcar. Their noise is the larger of the white-noise prediction (line-profile noise /
   sqrt(boxcar width)) and the robust SD of the smoothed profile itself. Each run of at least two
   consecutive rows (or columns) with |z| > T of one sign is one band.
6. Clusters: flagged pixels not on a detected line or band, grouped by 8-connectivity; a group of >= 2
   pixels is one cluster. Isolated single pixels are listed as ``defective_pixels`` and are *not* counted
   as artefacts (every detector has a few, and the manufacturer's defect map corrects them; counting them
   would also make the count depend on the noise tail of millions of independent pixels).

``count`` = lines + bands + clusters.

Thresholds and false alarms (Bonferroni)
----------------------------------------
The default ``threshold_sigma`` T = 6 comes from the manifest kind. For Gaussian noise P(|z| > 6) = 2.0e-9.
- Lines: about 2 x 3000 = 6000 row and column tests per 3000^2 image -> expected false lines 1.2e-5.
- Bands: after a 5 mm boxcar about (3000 / 36) x 2 = 170 independent windows -> 3e-7.
- Clusters: a false cluster needs two adjacent pixels both beyond 6 sigma: about 9e6 x 4 x (2e-9)^2 ~ 1e-10.
- Single pixels: 9e6 x 2e-9 = 0.018 per image (Poisson noise at 1000 quanta per pixel roughly doubles
  the upper tail), which is why they are listed but not counted.
The family-wise false-alarm probability of ``count > 0`` on a clean Gaussian flat field is therefore
~1e-5 per image; a Bonferroni bound for alpha = 1e-3 over ~6200 tests would need only T = 4.6, so T = 6
leaves margin for the uncertainty of the noise estimates (MAD of 3000 samples: ~2.5 %; 5 x 5-block
median of 4096-pixel SDs: < 1 %) and for mildly non-Gaussian noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, sparse
from scipy.sparse import csgraph

from phantomqc.core.registry import TestOutput
from phantomqc.core.types import ImageData, Measurement, Quantity
from phantomqc.core.visuals import ImagePanel, MapPanel
from phantomqc.dr import _kernels
from phantomqc.dr._common import _axis_counts, as_image, check_dr_images, display_factor, spacing_list

__all__ = ["Artifact", "ArtifactResult", "FlatStats", "artifacts", "flat_stats", "run"]

_MAX_FLAGGED = 2_000_000


@dataclass(frozen=True)
class Artifact:
    """One artefact. ``kind``: 'row', 'column' (dead or hot lines, possibly several adjacent), 'row_band',
    'column_band', 'cluster'. ``polarity``: 'dark' or 'bright'. ``rows`` and ``cols`` are half-open pixel
    ranges (start, stop). ``strength_sigma``: the largest |z| (profile z for lines and bands, pixel z for
    clusters)."""

    kind: str
    polarity: str
    rows: tuple[int, int]
    cols: tuple[int, int]
    strength_sigma: float
    n_pixels: int


@dataclass(frozen=True)
class FlatStats:
    """Everything one pass over a flat field gives (see ``flat_stats``)."""

    row_mean: NDArray
    col_mean: NDArray
    preview: NDArray
    fine_px: int
    block_px: int
    block_mean: NDArray
    block_sd: NDArray
    block_min: NDArray
    block_max: NDArray
    block_counts: NDArray


@dataclass(frozen=True)
class ArtifactResult:
    """Artefact search result.

    ``defect_map`` is a boolean map on the preview grid (``map_scale`` pixels per cell) marking every
    detected artefact and defective pixel; ``full_mask(shape)`` gives it at full resolution.
    """

    count: Quantity
    artifacts: tuple[Artifact, ...]
    defective_pixels: tuple[tuple[int, int, float], ...]
    n_defective_pixels: int
    defect_map: NDArray
    map_scale: int
    preview: NDArray
    noise_sd_pv: float
    threshold_sigma: float
    line_window_mm: float
    band_smooth_mm: float
    band_trend_mm: float
    block_px: int
    warnings: tuple[str, ...] = ()

    def full_mask(self, shape: tuple[int, int]) -> NDArray:
        """Boolean mask at full resolution: lines, bands, cluster bounding boxes and defective pixels."""
        m = np.zeros(shape, dtype=bool)
        for a in self.artifacts:
            m[a.rows[0]:a.rows[1], a.cols[0]:a.cols[1]] = True
        for r, c, _ in self.defective_pixels:
            m[r, c] = True
        return m


def _odd(n: float, lo: int = 3) -> int:
    n = max(lo, int(round(n)))
    return n if n % 2 else n + 1


def flat_stats(image: NDArray, *, fine_px: int, block_px: int, bands: int = 8) -> FlatStats:
    """One pass over ``image`` (``_kernels._flat_pass``), in ``bands`` horizontal bands processed in parallel.

    ``block_px`` must be a multiple of ``fine_px``. Returns row and column means, the ``fine_px`` preview
    (block means) and coarse-block mean, SD (n - 1), min and max. The bands are fixed (not one per thread),
    so the column sums, added band by band, do not depend on the number of threads.
    """
    a = image
    rows, cols = a.shape
    f = int(fine_px)
    k = max(1, int(block_px) // f)
    nfy, nfx = max(1, rows // f), max(1, cols // f)
    ncy, ncx = max(1, nfy // k), max(1, nfx // k)
    shift = float(a[rows // 2, cols // 2])
    n_bands = max(1, min(int(bands), ncy))
    cuts = np.array([round(i * ncy / n_bands) for i in range(n_bands + 1)], dtype=np.int64)
    row_sums = np.empty(rows)
    col_parts = np.empty((n_bands, cols))
    fine = np.empty((nfy, nfx))
    csum = np.empty((ncy, ncx))
    s2 = np.empty((ncy, ncx))
    bmin = np.empty((ncy, ncx))
    bmax = np.empty((ncy, ncx))
    _kernels._flat_pass(a, f, k, shift, cuts, row_sums, col_parts, fine, csum, s2, bmin, bmax)
    col_sums = col_parts[0].copy()
    for c in col_parts[1:]:
        col_sums += c
    # preview: block means; only the last row and column of blocks hold more than f x f pixels
    ry, rx = _axis_counts(rows, f), _axis_counts(cols, f)
    preview = np.multiply(fine, 1.0 / (f * f), dtype=np.float32)
    preview[-1, :] *= np.float32(f / ry[-1])
    preview[:, -1] *= np.float32(f / rx[-1])
    preview += np.float32(shift)
    ccount = np.outer(_axis_counts(rows, f * k), _axis_counts(cols, f * k)).astype(np.float64)
    cmean = csum / ccount
    var = (s2 - csum * cmean) / np.maximum(ccount - 1, 1)
    return FlatStats(row_mean=row_sums / cols + shift, col_mean=col_sums / rows + shift, preview=preview,
                     fine_px=f, block_px=f * k, block_mean=cmean + shift, block_sd=np.sqrt(np.maximum(var, 0.0)),
                     block_min=bmin, block_max=bmax, block_counts=ccount)


def _interp_index(n: int, centres: NDArray) -> tuple[NDArray, NDArray]:
    """Bilinear-interpolation index and weight of every pixel 0..n-1 between block ``centres`` (len >= 2)."""
    p = np.arange(n, dtype=np.float64)
    i0 = np.clip(np.searchsorted(centres, p, side="right") - 1, 0, centres.size - 2)
    w = np.clip((p - centres[i0]) / (centres[i0 + 1] - centres[i0]), 0.0, 1.0)
    return i0.astype(np.int64), w


def _extreme3x3(g: NDArray, op) -> NDArray:
    """Minimum (``op=np.minimum``) or maximum over the 3 x 3 neighbourhood of each cell, edges mirrored: the
    same as ``scipy.ndimage.minimum_filter(g, size=3, mode='reflect')``, without its set-up cost on a small grid."""
    ny, nx = g.shape
    p = np.empty((ny + 2, nx + 2))
    p[1:-1, 1:-1] = g
    p[0, 1:-1] = g[0]
    p[-1, 1:-1] = g[-1]
    p[:, 0] = p[:, 1]
    p[:, -1] = p[:, -2]
    out = p[0:ny, 0:nx].copy()
    for i in range(3):
        for j in range(3):
            if i or j:
                op(out, p[i:i + ny, j:j + nx], out=out)
    return out


def _block_centres(n: int, b: int, nb: int) -> NDArray:
    starts = np.arange(nb) * b
    stops = np.append(starts[1:], n)
    return (starts + stops - 1) / 2.0


def _runs(mask: NDArray) -> list[tuple[int, int]]:
    """Half-open (start, stop) of each run of True."""
    if not mask.any():
        return []
    m = np.concatenate(([False], mask, [False])).astype(np.int8)
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def _signed_runs(z: NDArray, thr: float) -> list[tuple[int, int, int]]:
    out = []
    for sign in (1, -1):
        for s, e in _runs(sign * z > thr):
            out.append((s, e, sign))
    return sorted(out)


def _components(r: NDArray, c: NDArray, cols: int) -> tuple[int, NDArray]:
    """8-connected components of a sparse set of pixels."""
    n = r.size
    if n == 0:
        return 0, np.zeros(0, dtype=np.int64)
    lin = r.astype(np.int64) * cols + c
    order = np.argsort(lin)
    slin = lin[order]
    src, dst = [], []
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
        ok = (c + dx >= 0) & (c + dx < cols)
        target = lin + dy * cols + dx
        pos = np.clip(np.searchsorted(slin, target), 0, n - 1)
        hit = ok & (slin[pos] == target)
        src.append(np.flatnonzero(hit))
        dst.append(order[pos[hit]])
    s = np.concatenate(src)
    d = np.concatenate(dst)
    g = sparse.coo_matrix((np.ones(s.size), (s, d)), shape=(n, n))
    return csgraph.connected_components(g, directed=False)


def artifacts(image: NDArray, spacing_mm: tuple[float, float], *, threshold_sigma: float = 6.0,
              line_window_mm: float = 4.0, band_smooth_mm: float = 5.0, band_trend_mm: float = 60.0,
              block_px: int = 64, preview_max_px: int = 512) -> ArtifactResult:
    """Automated artefact search on a uniform flat field (see the module docstring for the method).

    Parameters
    ----------
    image : ndarray
        A for-processing flat field ``(y, x)`` (float32, uint16 or int16).
    spacing_mm : (float, float)
        Pixel spacing (row, column) in mm.
    threshold_sigma : float
        Detection threshold T in noise SDs, for pixels, line profiles and band profiles.
    line_window_mm : float
        Running-median window that separates lines from the smooth profile; groups of adjacent lines up to
        about half of it are found as lines.
    band_smooth_mm, band_trend_mm : float
        Boxcar width over which band profiles are averaged, and the trend window (bands wider than about
        half of it are absorbed by the trend).
    block_px : int
        Approximate side of the blocks for background and noise estimation (rounded to a multiple of the
        preview block).
    preview_max_px : int
        Largest side of the block-mean preview returned for display.

    Returns
    -------
    ArtifactResult
    """
    if not threshold_sigma > 0:
        raise ValueError(f"threshold_sigma must be > 0, got {threshold_sigma}")
    a = as_image(image)
    sy, sx = spacing_list(spacing_mm, 1)[0]
    rows, cols = a.shape
    thr = float(threshold_sigma)
    warnings: list[str] = []
    f = display_factor(a.shape, preview_max_px)
    k = max(1, int(round(block_px / f)))
    st = flat_stats(a, fine_px=f, block_px=f * k)
    B = st.block_px
    ncy, ncx = st.block_mean.shape

    # background and noise grids
    bg = np.empty_like(st.block_mean)
    sd = np.empty_like(st.block_sd)
    _kernels._median_filter2d(np.ascontiguousarray(st.block_mean), 2, bg)
    _kernels._median_filter2d(np.ascontiguousarray(st.block_sd), 2, sd)
    noise_sd = float(np.median(sd))
    if not noise_sd > 0:
        warnings.append("the image has no noise (SD 0 in every block); pixel-level search skipped")
        sd = np.full_like(sd, np.inf)
    else:
        sd = np.maximum(sd, 1e-3 * noise_sd)
    yc = _block_centres(rows, B, ncy)
    xc = _block_centres(cols, B, ncx)
    bg_i, sd_i = bg, sd
    if ncy == 1:
        bg_i, sd_i, yc = np.vstack([bg_i, bg_i]), np.vstack([sd_i, sd_i]), np.array([yc[0], yc[0] + 1.0])
    if ncx == 1:
        bg_i, sd_i, xc = np.hstack([bg_i, bg_i]), np.hstack([sd_i, sd_i]), np.array([xc[0], xc[0] + 1.0])
    iy0, wy = _interp_index(rows, yc)
    ix0, wx = _interp_index(cols, xc)

    # candidate blocks: could any pixel reach |z| > thr given the neighbouring grid values?
    bg_lo = _extreme3x3(bg, np.minimum)
    bg_hi = _extreme3x3(bg, np.maximum)
    sd_lo = _extreme3x3(sd, np.minimum)
    cand = (st.block_max > bg_lo + thr * sd_lo) | (st.block_min < bg_hi - thr * sd_lo)
    cy, cx = np.nonzero(cand)
    r0 = (cy * B).astype(np.int64)
    r1 = np.where(cy == ncy - 1, rows, (cy + 1) * B).astype(np.int64)
    c0 = (cx * B).astype(np.int64)
    c1 = np.where(cx == ncx - 1, cols, (cx + 1) * B).astype(np.int64)
    cap = int(min(_MAX_FLAGGED, int(np.sum((r1 - r0) * (c1 - c0))) if cy.size else 1))
    out_r = np.empty(max(cap, 1), np.int32)
    out_c = np.empty(max(cap, 1), np.int32)
    out_z = np.empty(max(cap, 1), np.float64)
    no_skip_r = np.zeros(rows, np.uint8)
    no_skip_c = np.zeros(cols, np.uint8)
    n_flag = int(_kernels._flag_pixels(a, r0, r1, c0, c1, iy0, wy, ix0, wx, np.ascontiguousarray(bg_i),
                                       np.ascontiguousarray(sd_i), no_skip_r, no_skip_c, thr, out_r, out_c, out_z))
    if n_flag > cap:
        warnings.append(f"{n_flag} pixels exceed {thr:g} sigma; only the first {cap} are analysed (is this a "
                        f"uniform flat field?)")
        n_flag = cap
    fr, fc, fz = out_r[:n_flag].astype(np.int64), out_c[:n_flag].astype(np.int64), out_z[:n_flag]
    ncomp, lab = _components(fr, fc, cols)

    # remove compact flagged groups from the profiles so that they do not show up as lines
    line_w_r = _odd(line_window_mm / sy, 5)
    line_w_c = _odd(line_window_mm / sx, 5)
    row_mean = st.row_mean.copy()
    col_mean = st.col_mean.copy()
    if n_flag:
        exc = fz * _interp_grid(sd_i, iy0, wy, ix0, wx, fr, fc)
        rmin = ndimage.minimum(fr, lab, np.arange(ncomp))
        rmax = ndimage.maximum(fr, lab, np.arange(ncomp))
        cmin = ndimage.minimum(fc, lab, np.arange(ncomp))
        cmax = ndimage.maximum(fc, lab, np.arange(ncomp))
        compact = ((np.asarray(rmax) - rmin + 1) < line_w_r) & ((np.asarray(cmax) - cmin + 1) < line_w_c)
        sel = compact[lab]
        row_mean -= np.bincount(fr[sel], weights=exc[sel], minlength=rows) / cols
        col_mean -= np.bincount(fc[sel], weights=exc[sel], minlength=cols) / rows

    found: list[Artifact] = []
    skip_r = np.zeros(rows, bool)
    skip_c = np.zeros(cols, bool)
    z_line = (np.empty(rows), np.empty(cols))
    z_band = (np.empty(rows), np.empty(cols))
    scales = np.empty((2, 2))
    ax_w = (line_w_r, line_w_c)
    _kernels._line_band_profiles(
        row_mean, col_mean,
        np.array([min(ax_w[0], _odd(rows - 2, 1)), min(ax_w[1], _odd(cols - 2, 1))], np.int64), thr,
        np.array([noise_sd / math.sqrt(cols), noise_sd / math.sqrt(rows)]),
        np.array([min(_odd(band_trend_mm / sy, 5), _odd(rows - 2, 1)),
                  min(_odd(band_trend_mm / sx, 5), _odd(cols - 2, 1))], np.int64),
        np.array([max(1, int(round(band_smooth_mm / sy))), max(1, int(round(band_smooth_mm / sx)))], np.int64),
        z_line[0], z_band[0], z_line[1], z_band[1], scales)
    for ax, (axis, n_other, skip) in enumerate((("row", cols, skip_r), ("column", rows, skip_c))):
        z, zb = z_line[ax], z_band[ax]
        for s, e, sg in _signed_runs(z, thr):
            skip[s:e] = True
            rr, cc = ((s, e), (0, cols)) if axis == "row" else ((0, rows), (s, e))
            found.append(Artifact(axis, "bright" if sg > 0 else "dark", rr, cc, float(np.max(np.abs(z[s:e]))),
                                  (e - s) * n_other))
        for s, e, sg in _signed_runs(zb, thr):
            if e - s < 2:
                continue
            skip[s:e] = True
            rr, cc = ((s, e), (0, cols)) if axis == "row" else ((0, rows), (s, e))
            found.append(Artifact(f"{axis}_band", "bright" if sg > 0 else "dark", rr, cc,
                                  float(np.max(np.abs(zb[s:e]))), (e - s) * n_other))

    # clusters among the flagged pixels that are not on lines or bands
    keep = ~(skip_r[fr] | skip_c[fc])
    kr, kc, kz = fr[keep], fc[keep], fz[keep]
    defective: list[tuple[int, int, float]] = []
    n_def = 0
    if kr.size:
        ncomp2, lab2 = _components(kr, kc, cols)
        sizes = np.bincount(lab2, minlength=ncomp2)
        for i in range(ncomp2):
            m = lab2 == i
            if sizes[i] >= 2:
                found.append(Artifact("cluster", "bright" if kz[m][np.argmax(np.abs(kz[m]))] > 0 else "dark",
                                      (int(kr[m].min()), int(kr[m].max()) + 1), (int(kc[m].min()), int(kc[m].max()) + 1),
                                      float(np.max(np.abs(kz[m]))), int(sizes[i])))
            else:
                n_def += 1
                if len(defective) < 10000:
                    j = int(np.flatnonzero(m)[0])
                    defective.append((int(kr[j]), int(kc[j]), float(kz[j])))

    # defect map on the preview grid
    nfy, nfx = st.preview.shape
    dmap = np.zeros((nfy, nfx), bool)

    def _cells(lo, hi, n_cells):
        return min(lo // f, n_cells - 1), min((hi - 1) // f, n_cells - 1) + 1

    for art in found:
        ra, rb = _cells(art.rows[0], art.rows[1], nfy)
        ca, cb = _cells(art.cols[0], art.cols[1], nfx)
        if art.kind == "cluster":
            continue
        dmap[ra:rb, ca:cb] = True
    if kr.size:
        dmap[np.minimum(kr // f, nfy - 1), np.minimum(kc // f, nfx - 1)] = True
    found.sort(key=lambda t: (t.kind, t.rows, t.cols))
    return ArtifactResult(count=Quantity(len(found), "1"), artifacts=tuple(found), defective_pixels=tuple(defective),
                          n_defective_pixels=n_def, defect_map=dmap, map_scale=f, preview=st.preview,
                          noise_sd_pv=noise_sd, threshold_sigma=thr, line_window_mm=float(line_window_mm),
                          band_smooth_mm=float(band_smooth_mm), band_trend_mm=float(band_trend_mm), block_px=B,
                          warnings=tuple(warnings))


def _interp_grid(g: NDArray, iy0, wy, ix0, wx, r: NDArray, c: NDArray) -> NDArray:
    a, b, ty, tx = iy0[r], ix0[c], wy[r], wx[c]
    return ((1 - ty) * ((1 - tx) * g[a, b] + tx * g[a, b + 1]) + ty * ((1 - tx) * g[a + 1, b] + tx * g[a + 1, b + 1]))


def run(images: list[ImageData], params: dict) -> TestOutput:
    """Runner for the manifest kind ``dr.artifacts``: the count is the total over all images."""
    warnings = check_dr_images(images, "dr.artifacts")
    thr = float(params.get("threshold_sigma", 6.0))
    results, visuals = [], []
    for im in images:
        res = artifacts(im.pixels, im.spacing_mm, threshold_sigma=thr)
        results.append(res)
        warnings += [f"{im.meta.path}: {w}" for w in res.warnings]
        visuals.append(ImagePanel(title=f"Flat field {im.meta.path}", image=im.pixels, spacing_mm=im.spacing_mm))
        shown = ndimage.binary_dilation(res.defect_map, iterations=2) if res.defect_map.any() else res.defect_map
        visuals.append(MapPanel(title=f"Artefacts ({int(res.count.value)}) {im.meta.path}", mask=shown,
                                background=res.preview))
    total = sum(int(r.count.value) for r in results)
    return TestOutput(
        measurements=(Measurement("dr.artifacts.count", float(total), "1"),),
        details=tuple(results), visuals=tuple(visuals), warnings=tuple(warnings),
        parameters={"threshold_sigma": thr, "per_image_count": [int(r.count.value) for r in results],
                    "artifacts": [[{"kind": t.kind, "polarity": t.polarity, "rows": list(t.rows), "cols": list(t.cols),
                                    "strength_sigma": t.strength_sigma, "n_pixels": t.n_pixels} for t in r.artifacts]
                                  for r in results],
                    "n_defective_pixels": [r.n_defective_pixels for r in results],
                    "line_window_mm": results[0].line_window_mm, "band_smooth_mm": results[0].band_smooth_mm,
                    "band_trend_mm": results[0].band_trend_mm, "block_px": results[0].block_px},
        analyzer="dr.artifacts")
