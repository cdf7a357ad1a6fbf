"""CT metric ids that the standards profiles name. Data only.

The analyzers that produce them belong to the CT work (WS 519-2019 water phantom and Catphan-type modules);
they are declared here so that profiles such as ``taiyuan-2024`` and ``ws519-2019-ct`` can be validated and
``phantomqc metrics`` lists them.
"""

from phantomqc.core.registry import MetricDef

_WS519 = "WS 519-2019"

METRICS = (
    MetricDef("ct.water.mean_hu", "HU", "Mean CT number of water in a centre ROI of diameter 10 % of the phantom "
              "image diameter.", f"{_WS519}, CT number of water"),
    MetricDef("ct.uniformity.max_difference_hu", "HU", "Largest |mean(peripheral ROI) - mean(centre ROI)| over the "
              "ROIs at 3, 6, 9 and 12 o'clock about 10 mm inside the phantom edge.", f"{_WS519}, uniformity"),
    MetricDef("ct.noise.sd_hu", "HU", "Standard deviation in a centre ROI of diameter 40 % of the phantom image "
              "diameter.", f"{_WS519}, noise"),
    MetricDef("ct.noise.percent", "%", "n = sigma x sqrt(T/10) / 1000 x 100 %, T the slice thickness in mm.",
              f"{_WS519}, noise"),
    MetricDef("ct.high_contrast.lp_per_cm", "lp/cm", "Highest resolved line-pair group (or MTF10).",
              f"{_WS519}, high-contrast resolution", labels=("conventional", "high_resolution")),
    MetricDef("ct.high_contrast.mtf10_lp_per_cm", "lp/cm", "Spatial frequency where the MTF falls to 10 %.",
              f"{_WS519}, high-contrast resolution", labels=("conventional", "high_resolution")),
    MetricDef("ct.low_contrast.detectability_mm", "mm", "Mean over the 1.0, 0.5 and 0.3 % contrast sets of "
              "(smallest visible diameter x nominal contrast).", f"{_WS519}, low-contrast detectability"),
    MetricDef("ct.slice_thickness.measured_mm", "mm", "Reconstructed slice thickness from the 23 deg wire ramps "
              "(FWHM x tan 23 deg).", f"{_WS519}, slice thickness"),
    MetricDef("ct.slice_thickness.deviation_mm", "mm", "Measured minus nominal reconstructed slice thickness.",
              f"{_WS519}, slice thickness"),
    MetricDef("ct.slice_thickness.deviation_percent", "%", "(measured - nominal)/nominal x 100 % (1 to 2 mm "
              "nominal).", f"{_WS519}, slice thickness"),
    MetricDef("ct.linearity.max_error_hu", "HU", "Largest |nominal - measured| CT number over the inserts.",
              f"{_WS519}, CT number linearity"),
    MetricDef("ct.couch.position_error_mm", "mm", "|end - start| - 300 mm for a 300 mm couch travel.",
              f"{_WS519}, couch positioning"),
)
