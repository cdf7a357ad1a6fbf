"""Helpers shared by the DR runners and analyzers: input checks, ROI statistics, block means, ROI panels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from phantomqc._shared.errors import InputError
from phantomqc.core.roi import RectROI, rect_roi_mm
from phantomqc.core.visuals import ImagePanel, RectOverlay
from phantomqc.dr import _kernels

__all__ = ["DR_MODALITIES", "check_dr_images", "as_image", "as_image_list", "spacing_list", "central_roi",
           "roi_mean_sd", "display_factor", "roi_panel", "roi_overlay"]

DR_MODALITIES = ("DX", "CR", "RG", "DR")
_KERNEL_DTYPES = (np.float32, np.float64, np.uint16, np.int16)


def check_dr_images(images, test: str) -> list[str]:
    """Check that every image is a DR/CR projection; return warnings for non-'FOR PROCESSING' images.

    Raises ``InputError`` naming the file and its modality when an image is not DX, CR, RG or DR.
    """
    if not images:
        raise InputError(f"the DR test {test} was given no images; it needs at least one DX or CR image")
    warnings: list[str] = []
    for im in images:
        mod = (im.meta.modality or "").upper()
        if mod not in DR_MODALITIES:
            raise InputError(
                f"a {mod or 'modality-less'} image was given to the DR test {test}; it needs DX or CR images "
                f"(Modality (0008,0060) one of {', '.join(DR_MODALITIES)})", path=im.meta.path)
        pi = (im.meta.presentation_intent or "").upper()
        if pi == "FOR PRESENTATION":
            warnings.append(
                f"{im.meta.path}: Presentation Intent Type (0008,0068) is 'FOR PRESENTATION'; WS 76-2020 prescribes "
                f"for-processing images, so the values of {test} may not be comparable with the standard's limits")
    return warnings


def as_image(image, name: str = "image") -> NDArray:
    """A C-contiguous 2-D array in a dtype the kernels accept (float32, float64, uint16, int16; others -> float32)."""
    a = np.asarray(image)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (y, x) array, got shape {a.shape}")
    if a.shape[0] < 2 or a.shape[1] < 2:
        raise ValueError(f"{name} must be at least 2 x 2 pixels, got {a.shape}")
    if a.dtype.type not in _KERNEL_DTYPES:
        a = a.astype(np.float32)
    return np.ascontiguousarray(a)


def as_image_list(images, name: str = "images") -> list[NDArray]:
    """One 2-D array, a 3-D stack (n, y, x) or a sequence of 2-D arrays -> list of 2-D kernel-ready arrays."""
    if isinstance(images, np.ndarray):
        if images.ndim == 2:
            return [as_image(images, name)]
        if images.ndim == 3:
            return [as_image(a, f"{name}[{i}]") for i, a in enumerate(images)]
        raise ValueError(f"{name} must be a 2-D image or a 3-D stack, got shape {images.shape}")
    out = [as_image(a, f"{name}[{i}]") for i, a in enumerate(images)]
    if not out:
        raise ValueError(f"{name} is empty; give at least one image")
    return out


def spacing_list(spacing_mm, n: int) -> list[tuple[float, float]]:
    """``(sy, sx)`` for all images, or one pair per image -> list of n validated pairs."""
    arr = np.asarray(spacing_mm, dtype=np.float64)
    if arr.shape == (2,):
        pairs = [(float(arr[0]), float(arr[1]))] * n
    elif arr.shape == (n, 2):
        pairs = [(float(a), float(b)) for a, b in arr]
    else:
        raise ValueError(f"spacing_mm must be (row, col) in mm or one such pair per image ({n}), got {spacing_mm!r}")
    for sy, sx in pairs:
        if not (sy > 0 and sx > 0 and np.isfinite(sy) and np.isfinite(sx)):
            raise ValueError(f"spacing_mm must be positive and finite, got {(sy, sx)}")
    return pairs


def central_roi(shape: tuple[int, int], spacing_mm: tuple[float, float], size_mm: float,
                name: str = "central") -> RectROI:
    """Square ROI of ``size_mm`` centred at ((rows-1) sy / 2, (cols-1) sx / 2) mm."""
    sy, sx = spacing_mm
    centre = ((shape[0] - 1) * sy / 2.0, (shape[1] - 1) * sx / 2.0)
    return rect_roi_mm(shape, spacing_mm, centre, size_mm, name=name)


def roi_mean_sd(image: NDArray, roi: RectROI) -> tuple[float, float]:
    """Mean and sample SD (n - 1) of an ROI, accumulated in float64 by a kernel (no copy)."""
    r0, c0 = roi.row0, roi.col0
    shift = float(image[r0 + roi.nrows // 2, c0 + roi.ncols // 2])
    out = np.zeros(2)
    _kernels._rect_sums(image, r0, r0 + roi.nrows, c0, c0 + roi.ncols, shift, out)
    n = roi.n_pixels
    mean_shifted = out[0] / n
    sd = float(np.sqrt(max(out[1] - n * mean_shifted * mean_shifted, 0.0) / (n - 1))) if n > 1 else float("nan")
    return float(mean_shifted + shift), sd


def display_factor(shape: tuple[int, int], max_px: int = 512) -> int:
    """Smallest integer block size that brings the larger side to at most ``max_px`` pixels."""
    return max(1, int(np.ceil(max(shape) / float(max_px))))


def block_counts(rows: int, cols: int, f: int) -> NDArray:
    """Pixel count of each block of the folded ``f`` x ``f`` grid."""
    return np.outer(_axis_counts(rows, f), _axis_counts(cols, f)).astype(np.float64)


def _axis_counts(n: int, f: int) -> NDArray:
    nb = max(1, n // f)
    c = np.full(nb, f, dtype=np.int64)
    c[-1] = n - f * (nb - 1)
    return c


def roi_overlay(roi: RectROI, label: str = "", color: str = "tab:orange") -> RectOverlay:
    """An ROI's rectangle, in full-resolution pixels of the image it was placed on."""
    return RectOverlay(roi.row0, roi.col0, roi.nrows, roi.ncols, label=label or roi.name, color=color)


def roi_panel(title: str, image: NDArray, spacing_mm: tuple[float, float],
              rois: Sequence[RectROI] = ()) -> ImagePanel:
    """An ``ImagePanel`` of the full-resolution ``image`` (no copy) with the ROIs drawn; the report
    down-samples it for display and chooses the window."""
    return ImagePanel(title=title, image=image, overlays=tuple(roi_overlay(r) for r in rois),
                      spacing_mm=(float(spacing_mm[0]), float(spacing_mm[1])))


# A conversion function that explains less than this share of the variance of the signal-transfer means is
# not trusted for linearisation (a drifting or saturating flat would bend the MTF, NNPS and DQE).
MIN_CONVERSION_R_SQUARED = 0.99


def conversion_warning(params: dict) -> str | None:
    """Why a conversion function given to a test was not used, or None."""
    conv = params.get("conversion")
    if conv and params.get("linearize") is not False and not float(conv.get("r_squared", 1.0)) >= \
            MIN_CONVERSION_R_SQUARED:
        return (f"the signal-transfer fit ({conv['model']}, R^2 = {float(conv['r_squared']):.4f}) is below "
                f"{MIN_CONVERSION_R_SQUARED} and is not used to linearise; check the signal-transfer images")
    return None


def linearize_images(images, params: dict) -> tuple[list, str | None]:
    """Pixel arrays of ``images`` in the air-kerma domain when ``params['conversion']`` holds a signal-transfer
    fit (``{"model": ..., "params": {...}}``, put there by the pipeline from the manifest's dr.signal_transfer
    test), else the pixel arrays unchanged. Returns the arrays and a note saying what was done.

    IEC 62220-1-1 requires linearised data for MTF, NNPS and DQE; for a linear detector this only removes the
    offset and the gain, for a logarithmic or power-law detector it changes the shape of the ESF and the NPS.
    """
    conv = params.get("conversion")
    if not conv or params.get("linearize") is False:
        return [im.pixels for im in images], None
    r2 = float(conv.get("r_squared", 1.0))
    if not r2 >= MIN_CONVERSION_R_SQUARED:
        return [im.pixels for im in images], None
    from phantomqc.dr.signal_transfer import ModelFit

    fit = ModelFit(conv["model"], dict(conv["params"]), float("nan"), float("nan"), ())
    arrays = [fit.to_kerma(im.pixels) for im in images]
    for im, a in zip(images, arrays):
        if not np.isfinite(a).all():
            from phantomqc._shared.errors import AnalysisError

            raise AnalysisError(f"linearisation with the {fit.model} signal-transfer fit gives undefined air kerma "
                                f"for some pixels; set linearize = false for this test or check the fit",
                                path=im.meta.path)
    return arrays, f"linearised to air kerma with the {fit.model} signal-transfer fit {conv['params']}"
