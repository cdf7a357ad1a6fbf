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


def twin_block_sums(img, f):
    iy, ny = _fold_index(img.shape[0], f)
    ix, nx = _fold_index(img.shape[1], f)
    out = np.zeros((ny, nx))
    np.add.at(out, (iy[:, None], ix[None, :]), img.astype(np.float64))
    return out


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


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,f", [((64, 64), 8), ((67, 45), 6), ((5, 130), 7), ((10, 10), 16)])
def test_block_sums(dtype, shape, f):
    img = _img(shape, dtype)
    out = np.full((max(1, shape[0] // f), max(1, shape[1] // f)), np.nan)
    K._block_sums(img, f, out)
    np.testing.assert_allclose(out, twin_block_sums(img, f), rtol=1e-12)


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


@pytest.mark.parametrize("shape,h", [((7, 9), 2), ((1, 5), 2), ((12, 3), 1), ((20, 20), 2)])
def test_median_filter2d(shape, h):
    g = np.random.default_rng(4).normal(size=shape)
    out = np.empty_like(g)
    K._median_filter2d(g, h, out)
    np.testing.assert_array_equal(out, twin_median_filter2d(g, h))
