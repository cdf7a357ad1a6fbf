"""Each DR kernel against a slow, obvious pure-NumPy twin, for float32, uint16 and int16 inputs."""

import numpy as np
import pytest

from phantomqc.dr import _kernels as K

DTYPES = (np.float32, np.uint16, np.int16)


def _img(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(1000, 50, shape)
    if dtype == np.int16:
        a -= 1200  # negative values too
    return np.ascontiguousarray(np.round(a).astype(dtype))


def _fold_index(n, f):
    nb = max(1, n // f)
    return np.minimum(np.arange(n) // f, nb - 1), nb


# --- twins -------------------------------------------------------------------------------------------

def twin_rect_sums(img, r0, r1, c0, c1, shift):
    v = img[r0:r1, c0:c1].astype(np.float64) - shift
    return v.sum(), (v * v).sum()


def twin_flat_pass(img, f, k, shift):
    v = img.astype(np.float64) - shift
    iy, nfy = _fold_index(img.shape[0], f)
    ix, nfx = _fold_index(img.shape[1], f)
    cy = np.minimum(iy // k, max(1, nfy // k) - 1)
    cx = np.minimum(ix // k, max(1, nfx // k) - 1)
    ncy, ncx = max(1, nfy // k), max(1, nfx // k)
    fine = np.zeros((nfy, nfx))
    np.add.at(fine, (iy[:, None], ix[None, :]), v)
    bs, bs2 = np.zeros((ncy, ncx)), np.zeros((ncy, ncx))
    bmin, bmax = np.full((ncy, ncx), np.inf), np.full((ncy, ncx), -np.inf)
    for i in range(ncy):
        for j in range(ncx):
            blk = img[np.ix_(cy == i, cx == j)].astype(np.float64)
            bs[i, j] = (blk - shift).sum()
            bs2[i, j] = ((blk - shift) ** 2).sum()
            bmin[i, j], bmax[i, j] = blk.min(), blk.max()
    return v.sum(1), v.sum(0), fine, bs, bs2, bmin, bmax


def twin_flag_pixels(img, rects, bgfull, sdfull, skip_r, skip_c, thr):
    hits = []
    for r0, r1, c0, c1 in rects:
        for y in range(r0, r1):
            for x in range(c0, c1):
                if skip_r[y] or skip_c[x]:
                    continue
                z = (float(img[y, x]) - bgfull[y, x]) / sdfull[y, x]
                if abs(z) > thr:
                    hits.append((y, x, z))
    return hits


def twin_median_filter2d(grid, h):
    p = np.pad(grid, h, mode="edge")
    out = np.empty_like(grid)
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            w = np.sort(p[i:i + 2 * h + 1, j:j + 2 * h + 1].ravel())
            out[i, j] = w[w.size // 2]
    return out


# --- comparisons -------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_rect_sums(dtype):
    img = _img((57, 83), dtype)
    out = np.zeros(2)
    K._rect_sums(img, 3, 50, 7, 80, 990.0, out)
    # float64 accumulation in a different order: agreement to 1e-12 relative
    np.testing.assert_allclose(out, twin_rect_sums(img, 3, 50, 7, 80, 990.0), rtol=1e-12)


@pytest.mark.parametrize("rows", [1, 3, 4, 5, 8, 67])
def test_rect_sums_row_tails(rows):
    """Rows taken four at a time, then one by one: every row count, and an empty column range."""
    img = _img((70, 40), np.float32)
    out = np.zeros(2)
    K._rect_sums(img, 2, 2 + rows, 5, 38, 1000.0, out)
    np.testing.assert_allclose(out, twin_rect_sums(img, 2, 2 + rows, 5, 38, 1000.0), rtol=1e-12)
    K._rect_sums(img, 2, 2 + rows, 5, 5, 1000.0, out)
    assert out[0] == 0.0 and out[1] == 0.0


def test_roi_mean_sd_matches_numpy():
    """Mean and SD (n - 1) from the shifted sums equal NumPy's two-pass values to 1e-9 at PV ~ 4000, SD ~ 50."""
    from phantomqc.core.roi import RectROI
    from phantomqc.dr._common import roi_mean_sd

    rng = np.random.default_rng(3)
    img = rng.normal(4000.0, 50.0, (300, 310)).astype(np.float32)
    roi = RectROI(11, 17, 203, 257)
    block = img[roi.slices].astype(np.float64)
    m, s = roi_mean_sd(img, roi)
    assert m == pytest.approx(block.mean(), rel=1e-9)
    assert s == pytest.approx(block.std(ddof=1), rel=1e-9)





@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,f,k", [((120, 96), 4, 3), ((133, 101), 6, 2), ((40, 200), 5, 1), ((9, 9), 4, 4),
                                       ((75, 37), 3, 1)])
@pytest.mark.parametrize("n_bands", [1, 3])
def test_flat_pass(dtype, shape, f, k, n_bands):
    img = _img(shape, dtype, seed=1)
    nfy, nfx = max(1, shape[0] // f), max(1, shape[1] // f)
    ncy, ncx = max(1, nfy // k), max(1, nfx // k)
    nb = min(n_bands, ncy)
    cuts = np.array([round(i * ncy / nb) for i in range(nb + 1)], np.int64)
    shift = float(img[shape[0] // 2, shape[1] // 2])
    rs, parts = np.full(shape[0], np.nan), np.full((nb, shape[1]), np.nan)
    fine = np.full((nfy, nfx), np.nan)
    bs, bs2, bmin, bmax = (np.full((ncy, ncx), np.nan) for _ in range(4))
    K._flat_pass(img, f, k, shift, cuts, rs, parts, fine, bs, bs2, bmin, bmax)
    cs = parts.sum(0)
    exp = twin_flat_pass(img, f, k, shift)
    for got, want in zip((rs, cs, fine, bs, bs2, bmin, bmax), exp):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_flag_pixels(dtype):
    rng = np.random.default_rng(3)
    img = _img((60, 70), dtype, seed=2)
    img[10, 12] = img[10, 12] + 400 if dtype != np.uint16 else 1500
    img[40, 50] = img[40, 50] - 400 if dtype != np.uint16 else 400
    bg = rng.normal(1000 if dtype != np.int16 else -200, 5, (3, 4))
    sd = rng.uniform(40, 60, (3, 4))
    yc, xc = np.array([10.0, 30.0, 50.0]), np.array([8.0, 25.0, 42.0, 60.0])
    iy0 = np.clip(np.searchsorted(yc, np.arange(60), "right") - 1, 0, 1)
    ix0 = np.clip(np.searchsorted(xc, np.arange(70), "right") - 1, 0, 2)
    wy = np.clip((np.arange(60) - yc[iy0]) / (yc[iy0 + 1] - yc[iy0]), 0, 1)
    wx = np.clip((np.arange(70) - xc[ix0]) / (xc[ix0 + 1] - xc[ix0]), 0, 1)

    def interp(g):
        a, b = iy0[:, None], ix0[None, :]
        ty, tx = wy[:, None], wx[None, :]
        return (1 - ty) * ((1 - tx) * g[a, b] + tx * g[a, b + 1]) + ty * ((1 - tx) * g[a + 1, b] + tx * g[a + 1, b + 1])

    rects = [(0, 30, 0, 35), (30, 60, 35, 70), (5, 15, 60, 70)]
    skip_r = np.zeros(60, np.uint8)
    skip_c = np.zeros(70, np.uint8)
    skip_r[20] = 1
    skip_c[3] = 1
    arr = [np.array([r[i] for r in rects], np.int64) for i in range(4)]
    out_r, out_c, out_z = np.empty(1000, np.int32), np.empty(1000, np.int32), np.empty(1000)
    for thr in (1.0, 2.5, 5.0):
        n = K._flag_pixels(img, arr[0], arr[1], arr[2], arr[3], iy0, wy, ix0, wx, bg, sd, skip_r, skip_c, thr,
                           out_r, out_c, out_z)
        want = twin_flag_pixels(img, rects, interp(bg), interp(sd), skip_r, skip_c, thr)
        assert n == len(want)
        got = sorted(zip(out_r[:n].tolist(), out_c[:n].tolist(), out_z[:n].tolist()))
        for (gy, gx, gz), (wy_, wx_, wz) in zip(got, sorted(want)):
            assert (gy, gx) == (wy_, wx_)
            assert gz == pytest.approx(wz, rel=1e-12)
    # capacity: counts everything, writes only what fits
    small = np.empty(3, np.int32), np.empty(3, np.int32), np.empty(3)
    n = K._flag_pixels(img, arr[0], arr[1], arr[2], arr[3], iy0, wy, ix0, wx, bg, sd, skip_r, skip_c, 1.0, *small)
    assert n == len(twin_flag_pixels(img, rects, interp(bg), interp(sd), skip_r, skip_c, 1.0)) > 3


@pytest.mark.parametrize("shape,h", [((7, 9), 2), ((1, 5), 2), ((12, 3), 1), ((20, 20), 2), ((45, 45), 2), ((6, 8), 3)])
def test_median_filter2d(shape, h):
    g = np.random.default_rng(4).normal(size=shape)
    out = np.empty_like(g)
    K._median_filter2d(g, h, out)
    np.testing.assert_array_equal(out, twin_median_filter2d(g, h))


# --- line and band profiles (artifacts) ---------------------------------------------------------------

def _reflect_pad(d, h):
    """scipy.ndimage 'reflect' padding (d c b a | a b c d | d c b a), any h."""
    n = d.size
    idx = np.arange(-h, n + h) % (2 * n)
    return d[np.where(idx < n, idx, 2 * n - 1 - idx)]


def twin_running_median(d, w):
    e = _reflect_pad(d, w // 2)
    return np.array([np.median(e[i:i + w]) for i in range(d.size)])


def twin_boxcar(d, w):
    e = _reflect_pad(d, w)
    lo = -(w // 2)
    return np.array([e[w + i + lo:w + i + lo + w].mean() for i in range(d.size)])


def twin_robust_scale(v, med):
    s = 1.4826 * np.median(np.abs(v - med))
    return s if s > 0 else (float(np.std(v)) or 1.0)


def twin_robust_polyfit(q, order=4, iterations=2):
    V = np.polynomial.legendre.legvander(np.linspace(-1.0, 1.0, q.size), order)
    keep = np.ones(q.size, bool)
    for _ in range(iterations + 1):
        coef = np.linalg.lstsq(V[keep], q[keep], rcond=None)[0]
        trend = V @ coef
        r = q - trend
        med = np.median(r[keep])
        new = np.abs(r - med) <= 3.0 * twin_robust_scale(r[keep], med)
        if new.sum() <= order + 1 or np.array_equal(new, keep):
            break
        keep = new
    return trend


def twin_line_band_profile(p, line_w, thr, floor_scale, trend_w, smooth_w):
    trend = twin_robust_polyfit(p)
    base = trend + twin_running_median(p - trend, line_w)
    r = p - base
    med = np.median(r)
    scale = max(twin_robust_scale(r, med), floor_scale)
    z = (r - med) / scale
    q = np.where(np.abs(z) > thr, base, p)
    rb = q - twin_robust_polyfit(q)
    rb = rb - twin_running_median(rb, trend_w)
    sm = twin_boxcar(rb, smooth_w)
    noise = max(scale / np.sqrt(smooth_w), twin_robust_scale(sm, np.median(sm)))
    return z, sm / noise, scale, noise


def _profile(n, seed, ramp=30.0):
    rng = np.random.default_rng(seed)
    x = np.linspace(-1, 1, n)
    p = 1000 + ramp * x + 8 * x ** 2 + rng.normal(0, 0.5, n)
    p[n // 3] += 10           # a line
    p[n // 2:n // 2 + 20] -= 1.5  # a band
    return p


@pytest.mark.parametrize("n,w", [(50, 5), (300, 29), (300, 3), (300, 71), (300, 433), (40, 79), (7, 13), (1, 1)])
def test_running_median(n, w):
    d = np.random.default_rng(n + w).normal(size=n)
    d[::7] = 0.25  # ties
    out = np.empty(n)
    K._running_median(d, w, out, np.empty(n + 3 * w))
    np.testing.assert_array_equal(out, twin_running_median(d, w))


@pytest.mark.parametrize("n,w", [(300, 36), (300, 35), (50, 1), (20, 40)])
def test_boxcar(n, w):
    d = np.random.default_rng(w).normal(size=n)
    out = np.empty(n)
    K._boxcar(d, w, out)
    np.testing.assert_allclose(out, twin_boxcar(d, w), rtol=0, atol=1e-12)


def test_radix_order():
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(0, 1, 500), rng.normal(1e6, 1, 50), [0.0, -0.0, 1e-300, -1e300, 3.0, 3.0]])
    order = np.empty(x.size, np.int64)
    K._radix_order(x, order)
    assert sorted(order.tolist()) == list(range(x.size))
    np.testing.assert_array_equal(x[order], np.sort(x))


def test_solve_small_and_legendre():
    rng = np.random.default_rng(6)
    A = rng.normal(size=(5, 5)) + 5 * np.eye(5)
    b = rng.normal(size=5)
    x = np.empty(5)
    K._solve_small(A.copy(), b.copy(), x)
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-12)
    V = np.empty((37, 5))
    K._legendre(37, 4, V)
    np.testing.assert_allclose(V, np.polynomial.legendre.legvander(np.linspace(-1, 1, 37), 4), atol=1e-14)


@pytest.mark.parametrize("ramp", [0.0, 30.0, 3000.0])
def test_robust_polyfit(ramp):
    p = _profile(400, 7, ramp)
    n = p.size
    V = np.empty((n, 5))
    K._legendre(n, 4, V)
    trend = np.empty(n)
    K._robust_polyfit(p, V, 2, trend, np.empty(n, np.uint8), np.empty(n), np.empty(n), np.empty(n))
    np.testing.assert_allclose(trend, twin_robust_polyfit(p), rtol=1e-10)


@pytest.mark.parametrize("ramp", [0.0, 30.0, 3000.0])
def test_line_band_profiles(ramp):
    pr, pc = _profile(400, 8, ramp), _profile(350, 9, ramp)
    args = (np.array([29, 15], np.int64), 6.0, np.array([0.01, 0.2]), np.array([201, 433], np.int64),
            np.array([36, 10], np.int64))
    zl_r, zb_r, zl_c, zb_c = np.empty(400), np.empty(400), np.empty(350), np.empty(350)
    scales = np.empty((2, 2))
    K._line_band_profiles(pr, pc, *args, zl_r, zb_r, zl_c, zb_c, scales)
    for ax, (p, zl, zb) in enumerate(((pr, zl_r, zb_r), (pc, zl_c, zb_c))):
        wz, wzb, ws, wn = twin_line_band_profile(p, args[0][ax], 6.0, args[2][ax], args[3][ax], args[4][ax])
        np.testing.assert_allclose(zl, wz, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(zb, wzb, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(scales[ax], [ws, wn], rtol=1e-10)
    assert zl_r[400 // 3] > 6.0  # the line is found


@pytest.mark.parametrize("m", [1, 9, 25, 49])
def test_median_network(m):
    net = K._median_network(m)
    rng = np.random.default_rng(m)
    v = np.round(rng.normal(size=(m, 200)), 1)  # ties too
    for a, b in net:
        lo, hi = np.empty(200), np.empty(200)
        K._min_max(v[a], v[b], lo, hi)
        np.testing.assert_array_equal(lo, np.minimum(v[a], v[b]))
        v[a], v[b] = lo, hi
    np.testing.assert_array_equal(v[m // 2], np.sort(v, axis=0)[m // 2])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cols", [1, 2, 7, 16, 17, 3001])
def test_fold_row_sum(dtype, cols):
    img = _img((3, cols), dtype)
    got = K._fold_row_sum(img, 1, 990.0, np.empty(max(1, cols // 2)), np.empty(max(1, cols // 2)))
    assert got == pytest.approx(float((img[1].astype(np.float64) - 990.0).sum()), rel=1e-12, abs=1e-9)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 10, 11, 300, 301])
def test_median(n):
    rng = np.random.default_rng(n)
    for _ in range(10):
        v = np.round(rng.normal(size=n), 1)  # ties too
        assert K._median(v.copy(), n) == np.median(v)
