"""Numba kernels for the shared MTF and NPS building blocks (``core.mtf``, ``core.nps``; CT later).

Private, array-and-scalar only, writing into preallocated outputs (house style). Each has a slow NumPy twin
in ``tests/core/test_core_kernels.py``.
"""

from __future__ import annotations

import numpy as np

from phantomqc._shared.jit import njit

__all__: list[str] = []


@njit
def _esf_bin(img, x0_mm, y0_mm, nx, ny, sx_mm, sy_mm, d_min_mm, inv_bin_mm, sums, counts):
    """One pass over ``img`` (rows, cols): accumulate each pixel into the bin of its signed distance.

    The distance of the pixel centre (row r, col c) is ``d = (c*sx - x0) * nx + (r*sy - y0) * ny`` (mm);
    its bin is ``floor((d - d_min) * inv_bin)``. Pixels outside ``[0, len(sums))`` are skipped.
    """
    nb = sums.shape[0]
    for r in range(img.shape[0]):
        yy = (r * sy_mm - y0_mm) * ny
        for c in range(img.shape[1]):
            d = (c * sx_mm - x0_mm) * nx + yy
            b = np.floor((d - d_min_mm) * inv_bin_mm)
            if b >= 0.0 and b < nb:
                k = int(b)
                sums[k] += img[r, c]
                counts[k] += 1


@njit
def _block_sums(img, by, bx, out):
    """``out[i, j] = sum(img[i*by:(i+1)*by, j*bx:(j+1)*bx])`` for the full blocks that ``out`` holds.

    Rows are added into a float64 column accumulator (a loop that vectorises), then folded per block; the
    image is read once in its own dtype, never copied."""
    ny, nx = out.shape
    ncols = nx * bx
    cacc = np.zeros(ncols)
    for i in range(ny):
        for x in range(ncols):
            cacc[x] = 0.0
        for r in range(i * by, (i + 1) * by):
            for x in range(ncols):
                cacc[x] += np.float64(img[r, x])
        for j in range(nx):
            t = 0.0
            for x in range(j * bx, (j + 1) * bx):
                t += cacc[x]
            out[i, j] = t
