"""The PET/SPECT numba kernels against slow, obvious NumPy twins."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from phantomqc.pet_spect import _kernels


def _du_windows_twin(img, mask, width):
    """Per-run (max - min) / (max + min) x 100 where the whole run is masked, else -1."""
    win = sliding_window_view(img.astype(np.float64), width, axis=1)
    mwin = sliding_window_view(mask.astype(bool), width, axis=1)
    hi, lo = win.max(axis=-1), win.min(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(hi + lo == 0, 0.0, (hi - lo) / (hi + lo) * 100.0)
    return np.where(mwin.all(axis=-1), c, -1.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint16])
@pytest.mark.parametrize("width", [5, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_du_windows_matches_twin(dtype, width, seed):
    rng = np.random.default_rng(seed)
    img = rng.poisson(1000.0, (23, 31)).astype(dtype)
    mask = (rng.random((23, 31)) > 0.15).astype(np.uint8)
    out = np.empty((23, 31 - width + 1))
    _kernels._du_windows(np.ascontiguousarray(img), mask, width, out)
    # both compute the same float64 expression: equal to rounding
    np.testing.assert_allclose(out, _du_windows_twin(img, mask, width), rtol=1e-12, atol=1e-12)


def test_du_windows_zero_sum_and_all_masked_out():
    img = np.zeros((2, 6))
    out = np.empty((2, 2))
    _kernels._du_windows(img, np.ones((2, 6), np.uint8), 5, out)
    assert np.all(out == 0.0)
    _kernels._du_windows(img, np.zeros((2, 6), np.uint8), 5, out)
    assert np.all(out == -1.0)
