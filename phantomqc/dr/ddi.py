"""Detector dose indicator (WS 76-2020, DR part): DDI value and its deviation from the measured air kerma."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from phantomqc.core.registry import TestOutput
from phantomqc.core.roi import RectROI
from phantomqc.core.types import ImageData, Measurement, Quantity
from phantomqc.dr._common import (as_image_list, central_roi, check_dr_images, roi_panel, roi_mean_sd,
                                  spacing_list)

__all__ = ["DDIResult", "ddi", "run", "SOURCE_EI", "SOURCE_PV"]

SOURCE_EI = "Exposure Index (0018,1411)"
SOURCE_PV = "mean PV of the central ROI"
_FORMULAS = ("iec62494", "linear", "none")


@dataclass(frozen=True)
class DDIResult:
    """DDI result.

    ``value`` is the mean Exposure Index (unit "1") when every image has one, else the mean central-ROI PV
    (unit "PV"); ``source`` says which. ``deviation_percent`` is None when it could not be computed (the
    warnings say why). ``k_calc_uGy`` is the air kerma implied by the DDI, ``k_meas_uGy`` the mean dosimeter
    reading."""

    value: Quantity
    source: str
    per_image_value: tuple[float, ...]
    per_image_mean_pv: tuple[float, ...]
    deviation_percent: Quantity | None
    k_calc_uGy: float | None
    k_meas_uGy: float | None
    deviation_index: Quantity | None
    rois: tuple[RectROI, ...]
    ddi_formula: str
    ddi_uGy_per_unit: float | None
    roi_size_mm: float
    warnings: tuple[str, ...] = ()


def ddi(images: NDArray | list[NDArray], spacing_mm, *, exposure_index: Sequence[float | None] | None = None,
        deviation_index: Sequence[float | None] | None = None,
        air_kerma_uGy: Sequence[float] | None = None, ddi_formula: str = "iec62494",
        ddi_uGy_per_unit: float | None = None, roi_size_mm: float = 100.0) -> DDIResult:
    """Detector dose indicator and the deviation of the air kerma it implies from the measured one.

    Parameters
    ----------
    images : ndarray or list of ndarray
        The exposures (WS 76-2020: three at about 10 uGy, 70 kV, 1 mm Cu).
    spacing_mm : (float, float) or list of them
        Pixel spacing (row, column) in mm.
    exposure_index : list of float or None
        Exposure Index (0018,1411) of each image (None where absent).
    deviation_index : list of float or None
        Deviation Index (0018,1413) of each image, reported when every image has one.
    air_kerma_uGy : list of float, optional
        Dosimeter air kerma of each exposure.
    ddi_formula : {'iec62494', 'linear', 'none'}
        'iec62494': K_calc = EI / 100 uGy (IEC 62494-1, RQA5), only with an Exposure Index;
        'linear': K_calc = ddi_uGy_per_unit x value; 'none': no deviation.
    ddi_uGy_per_unit : float, optional
        Slope for 'linear'.
    roi_size_mm : float
        Side of the central ROI for the mean-PV fallback.

    Returns
    -------
    DDIResult

    Notes
    -----
    value = (1/n) sum EI_i when all images have an EI, else (1/n) sum mean PV_i of the central ROI.
    deviation = (K_calc - K_meas) / K_meas x 100 %, K_meas = (1/n) sum K_i.
    """
    if ddi_formula not in _FORMULAS:
        raise ValueError(f"ddi_formula must be one of {_FORMULAS}, got {ddi_formula!r}")
    arrays = as_image_list(images)
    n = len(arrays)
    spacings = spacing_list(spacing_mm, n)
    warnings: list[str] = []

    def _per_image(seq, name):
        if seq is None:
            return [None] * n
        seq = list(seq)
        if len(seq) != n:
            raise ValueError(f"{name} must have one entry per image ({n}), got {len(seq)}")
        return [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in seq]

    ei = _per_image(exposure_index, "exposure_index")
    di = _per_image(deviation_index, "deviation_index")
    kerma = _per_image(air_kerma_uGy, "air_kerma_uGy")

    rois, pv = [], []
    for i, (a, sp) in enumerate(zip(arrays, spacings)):
        roi = central_roi(a.shape, sp, roi_size_mm, name=f"central {roi_size_mm:g} mm #{i + 1}")
        rois.append(roi)
        pv.append(roi_mean_sd(a, roi)[0])

    have_ei = all(v is not None for v in ei)
    if have_ei:
        per_value = [float(v) for v in ei]
        value = Quantity(float(np.mean(per_value)), "1")
        source = SOURCE_EI
    else:
        per_value = list(pv)
        value = Quantity(float(np.mean(pv)), "PV")
        source = SOURCE_PV
        missing = sum(v is None for v in ei)
        warnings.append(f"{missing} of {n} images have no Exposure Index (0018,1411); the DDI falls back to the "
                        f"mean PV of the central {roi_size_mm:g} mm ROI (WS 76-2020 allows this when there is no DDI)")

    dev_idx = None
    if all(v is not None for v in di):
        dev_idx = Quantity(float(np.mean([float(v) for v in di])), "1")

    k_meas = None
    if all(v is not None for v in kerma):
        if any(k <= 0 for k in kerma):
            raise ValueError(f"air_kerma_uGy must be > 0 uGy for every exposure, got {kerma}")
        k_meas = float(np.mean(kerma))

    k_calc = None
    if ddi_formula == "iec62494":
        if have_ei:
            k_calc = value.value / 100.0
        else:
            warnings.append("the DDI deviation is not computed: ddi_formula 'iec62494' (K = EI / 100 uGy) needs an "
                            "Exposure Index (0018,1411) in every image; give ddi_formula = 'linear' with "
                            "ddi_uGy_per_unit for a mean-PV calibration")
    elif ddi_formula == "linear":
        if ddi_uGy_per_unit is None or not (ddi_uGy_per_unit > 0):
            warnings.append(f"the DDI deviation is not computed: ddi_formula 'linear' needs ddi_uGy_per_unit > 0, got "
                            f"{ddi_uGy_per_unit!r}")
        else:
            k_calc = float(ddi_uGy_per_unit) * value.value
    else:
        warnings.append("the DDI deviation is not computed: ddi_formula is 'none'")

    deviation = None
    if k_meas is None:
        warnings.append("the DDI deviation is not computed: air_kerma_uGy (the dosimeter reading) is not given for "
                        "every exposure")
    elif k_calc is not None:
        deviation = Quantity((k_calc - k_meas) / k_meas * 100.0, "%")
    return DDIResult(value=value, source=source, per_image_value=tuple(per_value), per_image_mean_pv=tuple(pv),
                     deviation_percent=deviation, k_calc_uGy=k_calc, k_meas_uGy=k_meas, deviation_index=dev_idx,
                     rois=tuple(rois), ddi_formula=ddi_formula,
                     ddi_uGy_per_unit=None if ddi_uGy_per_unit is None else float(ddi_uGy_per_unit),
                     roi_size_mm=float(roi_size_mm), warnings=tuple(warnings))


def run(images: list[ImageData], params: dict) -> TestOutput:
    """Runner for the manifest kind ``dr.ddi``."""
    warnings = check_dr_images(images, "dr.ddi")
    roi_size_mm = float(params.get("roi_size_mm", 100.0))
    formula = params.get("ddi_formula", "iec62494") or "iec62494"
    slope = params.get("ddi_uGy_per_unit")
    res = ddi([im.pixels for im in images], [im.spacing_mm for im in images],
              exposure_index=[im.meta.exposure_index for im in images],
              deviation_index=[im.meta.deviation_index for im in images],
              air_kerma_uGy=params.get("air_kerma_uGy"), ddi_formula=formula, ddi_uGy_per_unit=slope,
              roi_size_mm=roi_size_mm)
    warnings += list(res.warnings)
    ms = [Measurement.of("dr.ddi.value", res.value, note=f"source: {res.source}")]
    if res.deviation_percent is not None:
        ms.append(Measurement.of("dr.ddi.deviation_percent", res.deviation_percent))
    visuals = tuple(roi_panel(f"DDI exposure {im.meta.path}", im.pixels, im.spacing_mm, [roi])
                    for im, roi in zip(images, res.rois))
    return TestOutput(
        measurements=tuple(ms), details=res, visuals=visuals, warnings=tuple(warnings),
        parameters={"roi_size_mm": roi_size_mm, "ddi_formula": formula, "ddi_uGy_per_unit": slope,
                    "source": res.source, "per_image_value": list(res.per_image_value),
                    "k_calc_uGy": res.k_calc_uGy, "k_meas_uGy": res.k_meas_uGy,
                    "deviation_index": None if res.deviation_index is None else res.deviation_index.value},
        analyzer="dr.ddi")
