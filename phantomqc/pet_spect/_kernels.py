"""Numba kernels of the PET/SPECT family.

Each kernel takes contiguous arrays and scalars and writes into preallocated outputs; the public functions in
``phantomqc.pet_spect`` validate, allocate and call them. Each has a slow pure-NumPy twin in
``tests/pet_spect/test_pet_spect_kernels.py`` that the tests compare with it. Every value is accumulated in float64.

Several engineers may add to this file: each section is headed by a comment naming what it serves. Add new kernels
as a new section at the end; do not reformat the others.
"""

from __future__ import annotations

import numpy as np

from phantomqc._shared.jit import njit

__all__: list[str] = []


# ==== NEMA NU 1 differential uniformity (planar.py) ================================================================
# ``_du_windows(img, mask, width, out)``: for every row r and every start column c such that the ``width``
#   consecutive pixels img[r, c:c + width] all have mask != 0, out[r, c] = (max - min) / (max + min) x 100 over that
#   run (0 when max + min == 0); out[r, c] = -1 where the run leaves the mask. out has shape (rows, cols - width + 1).
#   Columns: call it on the transposed (contiguous) arrays. A plain width-wide scan: for the NU-1 width of 5 it
#   costs 5 comparisons per pixel and needs no van Herk / Gil-Werman buffers.


@njit
def _du_windows(img, mask, width, out):
    """Percent contrast (max - min) / (max + min) x 100 of every fully-masked run of ``width`` pixels in each row
    of ``img``; -1 for runs that leave ``mask`` (see the section comment)."""
    nrow = img.shape[0]
    nstart = out.shape[1]
    for r in range(nrow):
        run = 0  # masked pixels ending at column c + width - 1, capped at width
        for c in range(width - 1):
            if mask[r, c] != 0:
                run += 1
            else:
                run = 0
        for c in range(nstart):
            if mask[r, c + width - 1] != 0:
                run += 1
            else:
                run = 0
            if run >= width:
                lo = np.float64(img[r, c])
                hi = lo
                for k in range(1, width):
                    v = np.float64(img[r, c + k])
                    lo = min(lo, v)
                    hi = max(hi, v)
                s = hi + lo
                out[r, c] = 0.0 if s == 0.0 else (hi - lo) / s * 100.0
            else:
                out[r, c] = -1.0
