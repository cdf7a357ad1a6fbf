"""Dark noise (WS 76-2020, DR part): mean and SD of the central 10 cm x 10 cm ROI of a dark image."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from phantomqc.core.registry import TestOutput
from phantomqc.core.roi import RectROI
from phantomqc.core.types import ImageData, Measurement, Quantity
from phantomqc.dr._common import (as_image_list, central_roi, check_dr_images, roi_panel, roi_mean_sd,
                                  spacing_list)

__all__ = ["DarkNoiseResult", "dark_noise", "run"]


@dataclass(frozen=True)
class DarkNoiseResult:
    """Dark-noise result. ``mean_pv`` is the mean of the per-image ROI means; ``sd_pv`` the root mean square
    of the per-image ROI SDs (n - 1)."""

    mean_pv: Quantity
    sd_pv: Quantity
    per_image_mean_pv: tuple[float, ...]
    per_image_sd_pv: tuple[float, ...]
    rois: tuple[RectROI, ...]
    roi_size_mm: float
    warnings: tuple[str, ...] = ()


def dark_noise(images: NDArray | list[NDArray], spacing_mm, *, roi_size_mm: float = 100.0) -> DarkNoiseResult:
    """Mean and standard deviation of the pixel values in the central square ROI of dark images.

    Parameters
    ----------
    images : ndarray or list of ndarray
        One dark image ``(y, x)``, a stack ``(n, y, x)`` or a list of images (float32, uint16, int16).
    spacing_mm : (float, float) or list of them
        Pixel spacing (row, column) in mm, for all images or one pair per image.
    roi_size_mm : float
        Side of the square ROI centred at ((rows-1) sy / 2, (cols-1) sx / 2) mm. WS 76-2020: 100 mm.

    Returns
    -------
    DarkNoiseResult

    Notes
    -----
    Per image i: m_i = mean of the ROI, s_i = sqrt(sum (v - m_i)^2 / (N - 1)).
    Over n images: mean = (1/n) sum m_i, SD = sqrt((1/n) sum s_i^2) (the pooled SD for equal ROI sizes).

    References
    ----------
    WS 76-2020, DR part, dark noise (formerly WS 521-2017).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((1000, 1000), 100.0, np.float32)
    >>> dark_noise(img, (0.15, 0.15)).mean_pv.value
    100.0
    """
    if not (roi_size_mm > 0):
        raise ValueError(f"roi_size_mm must be > 0 mm, got {roi_size_mm}")
    arrays = as_image_list(images)
    spacings = spacing_list(spacing_mm, len(arrays))
    rois, means, sds = [], [], []
    for i, (a, sp) in enumerate(zip(arrays, spacings)):
        roi = central_roi(a.shape, sp, roi_size_mm, name=f"central {roi_size_mm:g} mm" if len(arrays) == 1
                          else f"central {roi_size_mm:g} mm #{i + 1}")
        m, s = roi_mean_sd(a, roi)
        rois.append(roi)
        means.append(m)
        sds.append(s)
    n = len(means)
    mean = float(np.mean(means))
    sd = float(math.sqrt(np.mean(np.square(sds))))
    mean_unc = float(np.std(means, ddof=1) / math.sqrt(n)) if n > 1 else None
    return DarkNoiseResult(mean_pv=Quantity(mean, "PV", mean_unc), sd_pv=Quantity(sd, "PV"),
                           per_image_mean_pv=tuple(means), per_image_sd_pv=tuple(sds), rois=tuple(rois),
                           roi_size_mm=float(roi_size_mm))


def run(images: list[ImageData], params: dict) -> TestOutput:
    """Runner for the manifest kind ``dr.dark_noise``."""
    warnings = check_dr_images(images, "dr.dark_noise")
    roi_size_mm = float(params.get("roi_size_mm", 100.0))
    res = dark_noise([im.pixels for im in images], [im.spacing_mm for im in images], roi_size_mm=roi_size_mm)
    warnings += list(res.warnings)
    visuals = tuple(roi_panel(f"Dark image {im.meta.path}", im.pixels, im.spacing_mm, [roi])
                    for im, roi in zip(images, res.rois))
    return TestOutput(
        measurements=(Measurement.of("dr.dark_noise.mean_pv", res.mean_pv),
                      Measurement.of("dr.dark_noise.sd_pv", res.sd_pv)),
        details=res, visuals=visuals, warnings=tuple(warnings),
        parameters={"roi_size_mm": roi_size_mm, "n_images": len(images),
                    "per_image_mean_pv": list(res.per_image_mean_pv), "per_image_sd_pv": list(res.per_image_sd_pv)},
        analyzer="dr.dark_noise")
