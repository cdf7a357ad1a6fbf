"""Each numba kernel of phantomqc.core._kernels against its slow, obvious NumPy twin."""

import math

import numpy as np
import pytest

from phantomqc.core import _kernels


def _esf_bin_twin(img, x0, y0, nx, ny, sx, sy, d_min, inv_bin, nb):
    r, c = np.indices(img.shape)
    d = (c * sx - x0) * nx + (r * sy - y0) * ny
    b = np.floor((d - d_min) * inv_bin)
    ok = (b >= 0) & (b < nb)
    k = b[ok].astype(int)
    return np.bincount(k, weights=img[ok], minlength=nb), np.bincount(k, minlength=nb)


@pytest.mark.parametrize("shape,angle,spacing", [((40, 50), 3.0, (0.1, 0.1)), ((33, 21), -7.0, (0.2, 0.15)),
                                                 ((1, 5), 0.0, (1.0, 1.0))])
def test_esf_bin_matches_twin(shape, angle, spacing, rng):
    img = rng.normal(size=shape)
    th = math.radians(angle)
    sy, sx = spacing
    args = (shape[1] * sx / 2, 1.3, math.cos(th), -math.sin(th), sx, sy, -2.0, 1.0 / (0.25 * sx))
    nb = 64
    sums, counts = np.zeros(nb), np.zeros(nb, dtype=np.int64)
    _kernels._esf_bin(img, *args, sums, counts)
    s2, c2 = _esf_bin_twin(img, *args, nb)
    # same float64 additions in a different order: agreement to rounding (1e-12 relative)
    np.testing.assert_allclose(sums, s2, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(counts, c2)
    assert counts.sum() > 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint16, np.int16])
@pytest.mark.parametrize("shape,b", [((12, 12), 3), ((13, 17), 4), ((5, 5), 1), ((67, 45), 6)])
def test_block_sums_matches_twin(shape, b, dtype, rng):
    img = (rng.normal(size=shape) * 100 + 1000).astype(dtype)
    out = np.full((shape[0] // b, shape[1] // b), np.nan)
    _kernels._block_sums(img, b, b, out)
    ny, nx = out.shape
    twin = img[:ny * b, :nx * b].astype(np.float64).reshape(ny, b, nx, b).sum(axis=(1, 3))
    np.testing.assert_allclose(out, twin, rtol=1e-12, atol=1e-12)
