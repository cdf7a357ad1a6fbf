"""The one numba decorator every kernel uses: cached, GIL-free, strict IEEE (no fastmath).

Import this only from ``<family>/_kernels.py`` modules so that ``import phantomqc`` stays cheap.
``NUMBA_DISABLE_JIT=1`` turns every kernel into plain Python, which the test suite uses to cover kernel
bodies.
"""

from __future__ import annotations

import numba
from numba import prange  # ``range`` under NUMBA_DISABLE_JIT=1

__all__ = ["njit", "prange"]


def njit(func=None, **overrides):
    """``numba.njit(cache=True, nogil=True, fastmath=False)``; usable bare or with overrides.

    ``@njit(parallel=True)`` compiles ``prange`` loops for numba's thread pool (whichever threading layer
    numba finds: omp or workqueue here); cached like the others."""
    options = {"cache": True, "nogil": True, "fastmath": False}
    options.update(overrides)
    if func is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(func)
