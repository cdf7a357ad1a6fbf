"""DR metric ids: unit, definition and source. Data only."""

from phantomqc.core.registry import MetricDef

_WS76 = "WS 76-2020 (DR part, formerly WS 521-2017)"
_IEC = "IEC 62220-1-1:2015"

METRICS = (
    MetricDef("dr.dark_noise.mean_pv", "PV",
              "Mean pixel value of the central 10 cm x 10 cm ROI of a for-processing dark image "
              "(averaged over the images given).", f"{_WS76}, dark noise"),
    MetricDef("dr.dark_noise.sd_pv", "PV",
              "Standard deviation (n - 1) of the pixel values in the central 10 cm x 10 cm ROI of the dark image.",
              f"{_WS76}, dark noise"),
    MetricDef("dr.ddi.value", "1",
              "Detector dose indicator: the Exposure Index (0018,1411) where present, otherwise the mean PV "
              "of the central 10 cm x 10 cm ROI; mean over the exposures.", f"{_WS76}, DDI"),
    MetricDef("dr.ddi.deviation_percent", "%",
              "(K_calc - K_meas) / K_meas x 100 %, K_calc the air kerma implied by the dose indicator "
              "(IEC 62494-1: K = EI / 100 uGy unless the manifest gives another calibration), "
              "K_meas the dosimeter reading.", f"{_WS76}, DDI acceptance"),
    MetricDef("dr.signal_transfer.r_squared", "1",
              "Coefficient of determination of the fit of mean central-ROI PV against air kerma, with the "
              "model (linear P = aK + b, log P = A + B ln K, power P = c K^g) given as the label.",
              f"{_WS76}, signal transfer property", labels=("linear", "log", "power")),
    MetricDef("dr.response_uniformity.cv_percent", "%",
              "CV = sqrt(sum (V_i - V_mean)^2 / (5 - 1)) / V_mean x 100 % over five 4 cm x 4 cm ROIs "
              "(centre and the four quadrant centres).", f"{_WS76}, response uniformity"),
    MetricDef("dr.ghosting.error_percent", "%",
              "(mean PV in the ghost region - mean PV in the non-ghost region) / mean PV in the non-ghost region "
              "x 100 %, equal-area ROIs, on the blank image taken after the lead-block exposure.",
              f"{_WS76}, ghosting"),
    MetricDef("dr.artifacts.count", "1",
              "Number of artefacts found automatically: dead or hot rows and columns, clusters of defective "
              "pixels and structured non-uniformity above the noise.", f"{_WS76}, artefacts"),
    MetricDef("dr.limiting_resolution.lp_per_mm", "lp/mm",
              "Highest line-pair group of the gauge whose bars are resolved.", f"{_WS76}, limiting spatial "
              "resolution", labels=("horizontal", "vertical")),
    MetricDef("dr.limiting_resolution.nyquist_per_mm", "lp/mm",
              "Nyquist frequency 1 / (2 x pixel pitch) along the direction of the measurement.",
              f"{_WS76}, limiting spatial resolution", labels=("horizontal", "vertical")),
    MetricDef("dr.mtf.mtf50_per_mm", "1/mm",
              "Spatial frequency at which the presampling MTF (slanted edge, oversampled ESF) falls to 0.5.",
              f"{_IEC}", labels=("horizontal", "vertical")),
    MetricDef("dr.mtf.at_nyquist", "1",
              "Presampling MTF at the Nyquist frequency.", f"{_IEC}", labels=("horizontal", "vertical")),
    MetricDef("dr.nnps.at_0p5_per_mm", "mm^2",
              "Normalised noise power spectrum at 0.5 mm^-1 (radial average of the 2-D NNPS).", f"{_IEC}"),
    MetricDef("dr.nnps.at_nyquist", "mm^2", "Normalised noise power spectrum near the Nyquist frequency "
              "(radial average).", f"{_IEC}"),
    MetricDef("dr.dqe.at_0p5_per_mm", "1",
              "DQE(f) = MTF(f)^2 / (q K NNPS(f)) at 0.5 mm^-1, q the photon fluence per air kerma of the "
              "beam quality (RQA5: 30174 /(mm^2 uGy)).", f"{_IEC}", labels=("horizontal", "vertical")),
)
