"""Rectangular ROIs defined in mm, and their statistics.

An ROI is placed by its centre (y, x) in mm from the image's top-left pixel *centre* and its size in mm.
Its pixel extent is the set of pixels whose centres fall inside the rectangle, so an ROI of N pixels
spacing is exactly N pixels wide whatever the sub-pixel position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RectROI", "rect_roi_mm", "roi_stats", "block_mean"]


@dataclass(frozen=True)
class RectROI:
    """A pixel rectangle ``[row0:row0+nrows, col0:col0+ncols]`` with a name."""

    row0: int
    col0: int
    nrows: int
    ncols: int
    name: str = ""

    @property
    def slices(self) -> tuple[slice, slice]:
        return (slice(self.row0, self.row0 + self.nrows), slice(self.col0, self.col0 + self.ncols))

    @property
    def center_px(self) -> tuple[float, float]:
        return (self.row0 + (self.nrows - 1) / 2.0, self.col0 + (self.ncols - 1) / 2.0)

    @property
    def n_pixels(self) -> int:
        return self.nrows * self.ncols


def rect_roi_mm(shape: tuple[int, int], spacing_mm: tuple[float, float], center_mm: tuple[float, float],
                size_mm: tuple[float, float] | float, *, name: str = "") -> RectROI:
    """The pixel rectangle of an ROI of ``size_mm`` (h, w) centred at ``center_mm`` (y, x).

    Raises ``ValueError`` when the ROI does not fit in the image, naming the ROI and the image size in mm.
    """
    if np.isscalar(size_mm):
        size_mm = (float(size_mm), float(size_mm))  # type: ignore[assignment]
    (h_mm, w_mm), (sy, sx) = size_mm, spacing_mm  # type: ignore[misc]
    nr = max(1, int(round(h_mm / sy)))
    nc = max(1, int(round(w_mm / sx)))
    cy, cx = center_mm[0] / sy, center_mm[1] / sx
    r0 = int(round(cy - (nr - 1) / 2.0))
    c0 = int(round(cx - (nc - 1) / 2.0))
    if r0 < 0 or c0 < 0 or r0 + nr > shape[0] or c0 + nc > shape[1]:
        raise ValueError(
            f"ROI {name or ''} of {h_mm:g} x {w_mm:g} mm at ({center_mm[0]:.1f}, {center_mm[1]:.1f}) mm does not fit "
            f"in an image of {shape[0] * sy:.1f} x {shape[1] * sx:.1f} mm; use a smaller ROI or a larger field")
    return RectROI(r0, c0, nr, nc, name)


def roi_stats(image: np.ndarray, roi: RectROI) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1) of the ROI, accumulated in float64."""
    block = np.asarray(image[roi.slices], dtype=np.float64)
    n = block.size
    mean = float(block.mean())
    sd = float(block.std(ddof=1)) if n > 1 else float("nan")
    return mean, sd


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor x factor`` blocks (trailing partial blocks dropped), float64.

    The image is read once in its own dtype (float32 images are not copied).

    Example
    -------
    >>> block_mean(np.arange(16.0).reshape(4, 4), 2)
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    from phantomqc._shared.errors import InputError
    from phantomqc.core import _kernels

    f = int(factor)
    if f < 1:
        raise ValueError(f"factor must be a positive integer, got {factor!r}")
    img = np.asarray(image)
    if img.dtype.kind not in "fiu":
        raise TypeError(f"block_mean needs a real-valued image, got dtype {img.dtype}")
    out = np.empty((img.shape[0] // f, img.shape[1] // f), dtype=np.float64)
    if out.size == 0:
        raise InputError(f"image of shape {img.shape} is smaller than one {f} x {f} block")
    _kernels._block_sums(np.ascontiguousarray(img), f, f, out)
    return out / (f * f)
