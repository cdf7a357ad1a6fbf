"""CT metric ids: unit, definition (with the formula) and source. Data only (see docs/ct_design.md)."""

from phantomqc.core.registry import MetricDef

_WS519 = "WS 519-2019"
_SIDES = ("top", "right", "bottom", "left")

METRICS = (
    MetricDef("ct.water.mean_hu", "HU", "Mean CT number of water in a centre ROI of diameter 10 % of the phantom "
              "image diameter (averaged over the slices inside the uniform section; see docs/ct_design.md).",
              f"{_WS519}, CT number of water"),
    MetricDef("ct.uniformity.max_abs_diff_hu", "HU", "Largest |mean(peripheral ROI) - mean(centre ROI)| over the "
              "ROIs at 12, 3, 6 and 9 o'clock, 10 mm inside the phantom edge, each of diameter 10 % of the phantom "
              "image diameter.", f"{_WS519}, uniformity"),
    MetricDef("ct.uniformity.diff_hu", "HU", "mean(peripheral ROI) - mean(centre ROI), per position.",
              f"{_WS519}, uniformity", labels=_SIDES),
    MetricDef("ct.noise.sd_hu", "HU", "Standard deviation (n - 1) in a centre ROI of diameter 40 % of the phantom "
              "image diameter (RMS over the slices averaged).", f"{_WS519}, noise"),
    MetricDef("ct.noise.percent", "%", "n = sigma x sqrt(T/10) x 100 % / 1000, T the reconstructed slice "
              "thickness in mm (CT_water - CT_air = 1000 HU).", f"{_WS519}, noise"),
    MetricDef("ct.linearity.mean_hu", "HU", "Mean CT number in a disc of 80 % of the insert diameter, per insert "
              "(label = material).", f"{_WS519}, CT number linearity"),
    MetricDef("ct.linearity.max_abs_error_hu", "HU", "Largest |measured - nominal| CT number over the inserts.",
              f"{_WS519}, CT number linearity"),
    MetricDef("ct.mtf.mtf50_lp_per_cm", "lp/cm", "Spatial frequency where the MTF falls to 50 %; label psf = "
              "from the bead (Hankel transform of the radial PSF), esf = from an edge (derivative of the "
              "oversampled radial ESF).", "IEC 61223-3-5; AAPM TG-233", labels=("psf", "esf")),
    MetricDef("ct.mtf.mtf10_lp_per_cm", "lp/cm", "Spatial frequency where the MTF falls to 10 % (labels as MTF50).",
              f"{_WS519}, high-contrast resolution (MTF10)", labels=("psf", "esf")),
    MetricDef("ct.line_pairs.limiting_lp_per_cm", "lp/cm", "Highest CTP528 / ACR line-pair group resolved by the "
              "documented bar-modulation criterion (label = reconstruction kernel class).",
              f"{_WS519}, high-contrast resolution", labels=("conventional", "high_resolution")),
    MetricDef("ct.low_contrast.cnr", "1", "|mean(target) - mean(local background)| / sigma_noise, per target "
              "(label = contrast_diameter); the contrast against the target's local annulus, sigma_noise the pixel "
              "SD of the module's uniform region inside the target ring on the same slice (smooth trend a + bx + cy "
              "+ e rho^2 removed, outliers beyond 4 robust SDs dropped; RMS over slices).",
              "AAPM TG-233; ACR CT accreditation (CNR)"),
    MetricDef("ct.low_contrast.contrast_hu", "HU", "mean(target) - mean(local background), per target.",
              f"{_WS519}, low-contrast detectability"),
    MetricDef("ct.low_contrast.detectability_mm", "mm", "Mean over the 1.0, 0.5 and 0.3 % contrast sets of "
              "(smallest diameter detected together with every larger target of its set x contrast value 1, 0.5, "
              "0.3), on one image; a target is detected when its contrast (0.7 d disc minus local annulus) reaches "
              "3.29 x the noise SD of that same statistic at background positions (Chao et al. 2000).",
              f"{_WS519}, low-contrast detectability"),
    MetricDef("ct.slice_thickness.mm", "mm", "Reconstructed slice thickness: mean over the four 23 deg wire ramps "
              "of FWHM x tan 23 deg (the in-plane PSF removed in quadrature).", f"{_WS519}, slice thickness"),
    MetricDef("ct.slice_thickness.deviation_mm", "mm", "Measured minus nominal reconstructed slice thickness "
              "(label = WS 519 tier of the nominal thickness s: s > 2 mm, 1 mm <= s <= 2 mm or s < 1 mm).",
              f"{_WS519}, slice thickness", labels=("nominal_above_2mm", "nominal_1_to_2mm", "nominal_below_1mm")),
    MetricDef("ct.slice_thickness.deviation_percent", "%", "(measured - nominal)/nominal x 100 % (tier 1 mm <= "
              "s <= 2 mm).", f"{_WS519}, slice thickness", labels=("nominal_1_to_2mm",)),
    MetricDef("ct.geometry.length_mm", "mm", "Distance between geometry holes or BBs (CatPhan: sides of the 50 mm "
              "square; ACR: the 100 mm BB pair).", "CatPhan CTP404; ACR CT accreditation",
              labels=("top", "right", "bottom", "left", "bb_distance")),
    MetricDef("ct.phantom.roll_deg", "deg", "Rotation of the phantom about its axis, from the insert positions "
              "(positive = clockwise on the screen).", "phantomqc localisation"),
    MetricDef("ct.ctdi.ctdiw_mgy", "mGy", "CTDIw = (C + 2 P)/3 from the calibrated dosimeter readings: C at the "
              "centre, P the mean of the four peripheral holes (label = CTDI phantom).", f"{_WS519}, CTDIw",
              labels=("head", "body")),
    MetricDef("ct.ctdi.ctdivol_mgy", "mGy", "CTDIvol = CTDIw / pitch (label = CTDI phantom).", f"{_WS519}, CTDIw",
              labels=("head", "body")),
    MetricDef("ct.couch.position_error_mm", "mm", "|end - start| - 300 mm for a 300 mm couch travel.",
              f"{_WS519}, couch positioning"),
)
