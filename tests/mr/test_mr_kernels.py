"""The MR numba kernels against slow, obvious pure-NumPy twins (STYLE.md: stumpy model).

Run also with NUMBA_DISABLE_JIT=1 (the kernel bodies as plain Python). The twins recompute every quantity the
obvious way (explicit masks, shifted copies); agreement is to float64 rounding (rtol 1e-9: sums of a few thousand
terms)."""

from __future__ import annotations

import numpy as np
import pytest

from phantomqc.mr import _kernels

RTOL = 1e-9  # float64 sums of <= 1e5 terms of similar size: rounding ~1e-12 relative


def _bilinear_twin(img, r, c):
    img = np.asarray(img, dtype=np.float64)
    r0, c0 = np.floor(r).astype(int), np.floor(c).astype(int)
    ok = (r0 >= 0) & (c0 >= 0) & (r0 + 1 < img.shape[0]) & (c0 + 1 < img.shape[1])
    r0c, c0c = np.where(ok, r0, 0), np.where(ok, c0, 0)
    fr, fc = r - r0, c - c0
    v = ((img[r0c, c0c] * (1 - fc) + img[r0c, c0c + 1] * fc) * (1 - fr)
         + (img[r0c + 1, c0c] * (1 - fc) + img[r0c + 1, c0c + 1] * fc) * fr)
    return np.where(ok, v, 0.0)


def _template_scores_twin(img, cr, cc, sy, sx, py, px, pw, thetas, dr, dc):
    out = np.empty((thetas.size, dr.size, dc.size))
    for t, th in enumerate(thetas):
        xr = px * np.cos(th) - py * np.sin(th)
        yr = px * np.sin(th) + py * np.cos(th)
        for i, a in enumerate(dr):
            for j, b in enumerate(dc):
                out[t, i, j] = np.sum(pw * _bilinear_twin(img, cr + a + yr / sy, cc + b + xr / sx))
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16, np.int16])
def test_template_scores_kernel_matches_twin(dtype):
    rng = np.random.default_rng(1)
    img = (rng.uniform(0, 1000, (40, 50))).astype(dtype)
    py, px = rng.uniform(-12, 12, 200), rng.uniform(-12, 12, 200)
    pw = rng.normal(size=200)
    thetas = np.array([0.0, 0.3, 2.0, -1.1])
    dr, dc = np.array([-1.5, 0.0, 0.7]), np.array([0.25, -2.0])
    sy, sx = 0.9, 1.1
    out = np.empty((4, 3, 2))
    _kernels._template_scores(img, 20.3, 24.6, sy, sx, py, px, pw, thetas, dr, dc, out)
    # points pushed off the image edge count 0 in both
    np.testing.assert_allclose(out, _template_scores_twin(img, 20.3, 24.6, sy, sx, py, px, pw, thetas, dr, dc),
                               rtol=RTOL, atol=1e-9)


def _disk_statistics_twin(img, cr, cc, sy, sx, diam, rin, rout, blo, bhi, er, ec, emm, gr, gc, gmm, nsub):
    img = np.asarray(img, dtype=np.float64)
    H, W = img.shape
    rows, cols = np.indices((H, W))
    sub = (np.arange(nsub) + 0.5) / nsub - 0.5
    out = np.empty((cr.size, 6))
    wm = np.zeros((cr.size, H, W))
    for k in range(cr.size):
        yy = ((rows[..., None, None] + sub[:, None] - cr[k]) * sy)
        xx = ((cols[..., None, None] + sub[None, :] - cc[k]) * sx)
        f = ((yy ** 2 + xx ** 2) <= (diam[k] / 2) ** 2).mean(axis=(2, 3))
        d2 = ((rows - cr[k]) * sy) ** 2 + ((cols - cc[k]) * sx) ** 2
        g2 = ((rows - gr) * sy) ** 2 + ((cols - gc) * sx) ** 2
        bg = (f == 0) & (d2 > rin[k] ** 2) & (d2 <= rout[k] ** 2) & (g2 <= gmm ** 2)
        bg &= (g2 >= blo[k] ** 2) & (g2 <= bhi[k] ** 2)
        for m in range(er.size):
            bg &= ((rows - er[m]) * sy) ** 2 + ((cols - ec[m]) * sx) ** 2 > emm[m] ** 2
        wm[k] = np.where(f > 0, f / f.sum(), 0.0) - np.where(bg, 1.0 / bg.sum(), 0.0)
        mt, mb = np.sum(f * img) / f.sum(), img[bg].mean()
        out[k] = (f.sum(), mt, bg.sum(), mb, mt - mb, np.sum(f * f) / f.sum())
    return out, wm


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16])
def test_disk_statistics_kernel_matches_twin(dtype):
    rng = np.random.default_rng(3)
    img = rng.uniform(100, 200, (60, 64)).astype(dtype)
    cr, cc = np.array([20.2, 30.7, 45.0]), np.array([18.4, 33.1, 40.3])
    diam = np.array([7.0, 2.11, 1.5])
    sy, sx = 0.98, 1.05
    rin, rout = diam / 2 + 1.0, diam / 2 + 13.0
    gr, gc = 30.0, 31.0
    rad = np.hypot((cr - gr) * sy, (cc - gc) * sx)
    hb = np.maximum(diam / 2, 1.5)
    emm = diam / 2 + 1.0
    out = np.empty((3, 6))
    wm = np.empty((3,) + img.shape)
    _kernels._disk_statistics(img, cr, cc, sy, sx, diam, rin, rout, rad - hb, rad + hb, cr, cc, emm, gr, gc, 28.0,
                              5, out, wm)
    t_out, t_wm = _disk_statistics_twin(img, cr, cc, sy, sx, diam, rin, rout, rad - hb, rad + hb, cr, cc, emm,
                                        gr, gc, 28.0, 5)
    np.testing.assert_allclose(out, t_out, rtol=RTOL, atol=1e-9)
    np.testing.assert_allclose(wm, t_wm, rtol=RTOL, atol=1e-15)
    # zero-sum weights (a constant offset cancels); area of the 7 mm disk: sum f = pi r^2 / pixel area to the
    # 5 x 5 sub-sampling error (~2 %)
    np.testing.assert_allclose(wm.sum(axis=(1, 2)), 0.0, atol=1e-12)
    assert out[0, 0] == pytest.approx(np.pi * 3.5 ** 2 / (sy * sx), rel=0.03)


def test_pattern_variance_matches_the_direct_quadratic_form():
    """var(C) from the FFT path equals w' K w with K(p, q) = c(q - p) computed directly (the biased masked
    autocovariance sum_p r_p r_(p+l) / n); and for white noise it equals sigma^2 sum w^2 within the scatter."""
    from scipy import fft

    from phantomqc.mr.lcd import _pattern_variances

    rng = np.random.default_rng(5)
    H, W = 24, 26
    res = rng.normal(size=(H, W))
    mask = rng.uniform(size=(H, W)) > 0.2
    res = np.where(mask, res, 0.0)
    n = int(mask.sum())
    shape = (fft.next_fast_len(2 * H, real=True), fft.next_fast_len(2 * W, real=True))
    acov = fft.irfft2(np.abs(fft.rfft2(res, s=shape)) ** 2 / n, s=shape)
    wm = np.zeros((2, H, W))
    wm[0, 5:9, 6:10] = 1 / 16
    wm[0, 12:14, 3:20] = -1 / 34
    wm[1, 15:18, 15:18] = rng.normal(size=(3, 3))
    got = _pattern_variances(wm, acov, shape)

    def c(a, b):
        s = 0.0
        for i in range(H):
            for j in range(W):
                if 0 <= i + a < H and 0 <= j + b < W:
                    s += res[i, j] * res[i + a, j + b]
        return s / n

    for k in range(2):
        idx = np.argwhere(wm[k] != 0)
        direct = sum(wm[k][tuple(p)] * wm[k][tuple(q)] * c(*(q - p)) for p in idx for q in idx)
        assert got[k] == pytest.approx(direct, rel=1e-9)
