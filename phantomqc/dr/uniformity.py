"""Response uniformity (WS 76-2020, DR part): CV of five 4 cm x 4 cm ROI means."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from phantomqc.core.registry import TestOutput
from phantomqc.core.roi import RectROI, rect_roi_mm
from phantomqc.core.types import ImageData, Measurement, Quantity
from phantomqc.dr._common import as_image, check_dr_images, roi_panel, roi_mean_sd, spacing_list

__all__ = ["UniformityResult", "response_uniformity", "ROI_NAMES", "run"]

ROI_NAMES = ("centre", "upper left", "upper right", "lower left", "lower right")


@dataclass(frozen=True)
class UniformityResult:
    """``cv_percent`` = sample SD (n - 1) of the five ROI means / their mean x 100. ROIs in ``ROI_NAMES`` order."""

    cv_percent: Quantity
    roi_means_pv: tuple[float, ...]
    roi_sds_pv: tuple[float, ...]
    rois: tuple[RectROI, ...]
    roi_centers_mm: tuple[tuple[float, float], ...]
    roi_size_mm: float
    warnings: tuple[str, ...] = ()


def roi_centers_mm(shape: tuple[int, int], spacing_mm: tuple[float, float]) -> tuple[tuple[float, float], ...]:
    """Centres (y, x) in mm of the image centre and the four quadrant centres, in ``ROI_NAMES`` order."""
    h = (shape[0] - 1) * spacing_mm[0]
    w = (shape[1] - 1) * spacing_mm[1]
    return ((h / 2, w / 2), (h / 4, w / 4), (h / 4, 3 * w / 4), (3 * h / 4, w / 4), (3 * h / 4, 3 * w / 4))


def response_uniformity(image: NDArray, spacing_mm: tuple[float, float], *,
                        roi_size_mm: float = 40.0) -> UniformityResult:
    """Coefficient of variation of the means of five square ROIs of a flat field.

    Parameters
    ----------
    image : ndarray
        The 10 uGy for-processing flat field ``(y, x)``.
    spacing_mm : (float, float)
        Pixel spacing (row, column) in mm.
    roi_size_mm : float
        Side of each square ROI (WS 76-2020: about 40 mm).

    Returns
    -------
    UniformityResult

    Notes
    -----
    ROIs centred at the image centre ((rows-1) sy/2, (cols-1) sx/2) and the quadrant centres
    ((rows-1) sy/4 or 3/4, (cols-1) sx/4 or 3/4). CV = sqrt(sum (V_i - V)^2 / (5 - 1)) / V x 100 %.

    References
    ----------
    WS 76-2020, DR part, response uniformity.
    """
    if not (roi_size_mm > 0):
        raise ValueError(f"roi_size_mm must be > 0 mm, got {roi_size_mm}")
    a = as_image(image)
    sp = spacing_list(spacing_mm, 1)[0]
    centres = roi_centers_mm(a.shape, sp)
    rois = tuple(rect_roi_mm(a.shape, sp, c, roi_size_mm, name=n) for c, n in zip(centres, ROI_NAMES))
    stats = [roi_mean_sd(a, r) for r in rois]
    means = np.array([m for m, _ in stats])
    mean = float(means.mean())
    warnings: list[str] = []
    if mean == 0:
        cv = float("nan")
        warnings.append("the mean of the five ROI means is 0 PV; the CV is undefined (is this a flat field?)")
    else:
        cv = float(means.std(ddof=1) / mean * 100.0)
    return UniformityResult(cv_percent=Quantity(cv, "%"), roi_means_pv=tuple(float(m) for m in means),
                            roi_sds_pv=tuple(float(s) for _, s in stats), rois=rois, roi_centers_mm=centres,
                            roi_size_mm=float(roi_size_mm), warnings=tuple(warnings))


def run(images: list[ImageData], params: dict) -> TestOutput:
    """Runner for the manifest kind ``dr.response_uniformity``."""
    warnings = check_dr_images(images, "dr.response_uniformity")
    roi_size_mm = float(params.get("roi_size_mm", 40.0))
    im = images[0]
    res = response_uniformity(im.pixels, im.spacing_mm, roi_size_mm=roi_size_mm)
    warnings += list(res.warnings)
    note = None if np.isfinite(res.cv_percent.value) else "mean of the ROI means is 0"
    return TestOutput(
        measurements=(Measurement.of("dr.response_uniformity.cv_percent", res.cv_percent, note=note),),
        details=res, visuals=(roi_panel(f"Response uniformity {im.meta.path}", im.pixels, im.spacing_mm,
                                            res.rois),),
        warnings=tuple(warnings),
        parameters={"roi_size_mm": roi_size_mm, "roi_means_pv": list(res.roi_means_pv),
                    "roi_centers_mm": [list(c) for c in res.roi_centers_mm]},
        analyzer="dr.response_uniformity")
