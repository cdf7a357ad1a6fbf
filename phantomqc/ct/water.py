"""Water phantom (WS 519-2019): CT number of water, uniformity and noise on the central slices.

WS 519-2019 asks for a homogeneous water cylinder of 18 to 22 cm inner diameter at the centre of the scan field,
head conditions, a slice close to 10 mm and CTDIw <= 50 mGy; the three values are read on one image. phantomqc
averages the ROI means over the slices within ``average_mm`` of the phantom's middle (``average_mm = 0``: the
single middle image) and records every slice's values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from phantomqc.core.registry import TestOutput
from phantomqc.core.types import ImageData, Measurement
from phantomqc.ct._series import CTSeries, ct_series, missing_warnings, uniform_measurements

__all__ = ["WaterResult", "analyze_water", "run"]

_METRICS = ("ct.water.mean_hu", "ct.uniformity.max_abs_diff_hu", "ct.noise.sd_hu", "ct.noise.percent")


@dataclass(frozen=True)
class WaterResult:
    localization: Any
    uniform: Any
    warnings: tuple[str, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    parameters: dict = field(default_factory=dict)


def analyze_water(series: CTSeries, *, average_mm: float = 10.0, edge_gap_mm: float = 10.0,
                  edge_gap_to: str = "roi_edge", water_air_hu: float = 1000.0) -> WaterResult:
    """Analyse a water-phantom series: find the cylinder, then measure the slices about its middle.

    Notes
    -----
    Water CT number: mean of a centre disc of 10 % of the phantom image diameter D. Uniformity: the largest
    |mean(peripheral) - mean(centre)| over discs of 0.1 D at 12, 3, 6 and 9 o'clock, 10 mm inside the edge.
    Noise: SD of a centre disc of 0.4 D; n = SD x sqrt(T/10) x 100 % / (CT_water - CT_air).

    References
    ----------
    WS 519-2019, CT number of water, uniformity and noise.
    """
    from phantomqc.ct.localize import localize
    from phantomqc.ct.uniform import analyze_uniform_section

    T = series.thickness_mm
    loc = localize(series.slices, series.spacing_mm, series.z_mm, "water200", thickness_mm=T, average_mm=average_mm)
    warnings = list(series.warnings) + list(loc.warnings)
    d = float(loc.diameter_mm)
    if not 170.0 <= d <= 230.0:
        warnings.append(f"the phantom image diameter is {d:.1f} mm; WS 519-2019 asks for a water phantom of 18 to "
                        f"22 cm inner diameter")
    ii = tuple(loc.module_slices.get("water", ()))
    ms: list[Measurement] = []
    uni = None
    if not ii:
        warnings += missing_warnings(_METRICS, loc.module_reasons.get("water", "no slice lies inside the phantom"))
    else:
        uni = analyze_uniform_section([series.slices[i] for i in ii], series.spacing_mm,
                                      [loc.centers_px[i] for i in ii], diameter_mm=d, thickness_mm=T,
                                      edge_gap_mm=edge_gap_mm, edge_gap_to=edge_gap_to, water_air_hu=water_air_hu)
        warnings += list(uni.warnings)
        ms += uniform_measurements(uni)
    params = {"nominal_thickness_mm": T, "thickness_source": series.thickness_source, "diameter_mm": d,
              "slices": [int(i) for i in ii], "slice_z_mm": [float(series.z_mm[i]) for i in ii],
              "average_mm": average_mm, "edge_gap_mm": edge_gap_mm, "edge_gap_to": edge_gap_to,
              "water_air_hu": water_air_hu,
              "localization": {"method": loc.method, "confidence": float(loc.confidence)}}
    return WaterResult(loc, uni, tuple(warnings), tuple(ms), params)


def run(images: list[ImageData], params: dict) -> TestOutput:
    """Runner for the manifest kind ``ct.water``."""
    series = ct_series(images, "ct.water", params.get("nominal_thickness_mm"))
    avg = params.get("average_mm")
    res = analyze_water(series, average_mm=10.0 if avg is None else float(avg),
                        edge_gap_mm=float(params.get("edge_gap_mm") or 10.0),
                        edge_gap_to=params.get("edge_gap_to") or "roi_edge",
                        water_air_hu=float(params.get("water_air_hu") or 1000.0))
    visuals: tuple = ()
    if res.uniform is not None:
        from phantomqc.ct.uniform import uniform_panels

        ii = res.parameters["slices"]
        visuals = tuple(uniform_panels(res.uniform, series.slices[ii[len(ii) // 2]], series.spacing_mm))
    return TestOutput(measurements=res.measurements, details=res, visuals=visuals, warnings=res.warnings,
                      parameters=res.parameters, phantom="water200", analyzer="ct.water")
