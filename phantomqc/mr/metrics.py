"""MR metric ids: unit, definition (with the formula) and source. Data only (see docs/mr_design.md)."""

from phantomqc.core.registry import MetricDef

_ACR = "ACR Large Phantom Test Guidance (2018/2022)"
_WST = "WS/T 263-2006"
_MAGNET = "MagNET / IPEM Report 112"
_NEMA1 = "NEMA MS 1-2008"
_LENGTH_LABELS = ("slice1_horizontal", "slice1_vertical", "slice5_horizontal", "slice5_vertical", "slice5_diagonal1",
                  "slice5_diagonal2", "sagittal_si")

METRICS = (
    MetricDef("mr.snr.subtraction", "1", "Two-image SNR: mean of (I1 + I2)/2 in the signal ROI divided by "
              "SD(I1 - I2)/sqrt(2) in the same ROI.", f"{_NEMA1} method 1; {_MAGNET}"),
    MetricDef("mr.snr.single_image", "1", "Single-image SNR: signal ROI mean over the noise SD estimated from a "
              "background (air) ROI, corrected for the Rayleigh distribution of magnitude noise: sigma = "
              "SD_bg / 0.655.", f"{_NEMA1} method 4"),
    MetricDef("mr.snr.smoothing", "1", "Smoothing (McCann) SNR: signal ROI mean over the SD of (image - smoothed "
              "image) in the same ROI, corrected for the noise removed by the smoothing kernel.", _MAGNET),
    MetricDef("mr.snr.normalised", "1", "SNR normalised to a 1 mm^3 voxel, one average, one phase-encode step and "
              "1 Hz bandwidth (see docs/mr_design.md for the exact form); label = method (smoothing, subtraction).",
              _MAGNET, labels=("smoothing", "subtraction")),
    MetricDef("mr.snr.wst263", "1", "SNR = (S - B)/sigma, S = mean of a central ROI of about 250 pixels, B the "
              "background mean, sigma the background SD (see docs/mr_design.md for the reading of the standard).",
              f"{_WST}, 信噪比"),
    MetricDef("mr.uniformity.piu_percent", "%", "Percent integral uniformity PIU = 100 (1 - (high - low)/(high + "
              "low)), high and low = the largest and smallest mean of 1 cm^2 ROIs inside the 200 cm^2 ROI of slice 7.",
              f"{_ACR}, image intensity uniformity"),
    MetricDef("mr.uniformity.wst263_percent", "%", "U = [1 - (Smax - Smin)/(Smax + Smin)] x 100 % over 9 ROIs of "
              "about 200 pixels: the centre and 8 at 0, 45, ..., 315 degrees about 1 cm inside the phantom edge.",
              f"{_WST}, 图像均匀性"),
    MetricDef("mr.uniformity.nema_ms3_percent", "%", "NEMA MS 3 non-uniformity (max - min)/(max + min) x 100 % in "
              "an ROI of 75 % of the phantom area after a 3 x 3 low-pass filter.", "NEMA MS 3-2008"),
    MetricDef("mr.uniformity.fractional", "1", "Fractional uniformity: the fraction of a central profile "
              "(horizontal or vertical) within +-10 % of the central mean.", _MAGNET,
              labels=("horizontal", "vertical")),
    MetricDef("mr.ghosting.ratio", "1", "ACR ghosting ratio |((top + bottom) - (left + right)) / (2 x large ROI)| "
              "with 10 cm^2 elliptical ROIs outside the phantom, slice 7.", f"{_ACR}, percent-signal ghosting"),
    MetricDef("mr.ghosting.percent", "%", "Percent-signal ghosting = 100 x mr.ghosting.ratio.",
              f"{_ACR}, percent-signal ghosting"),
    MetricDef("mr.ghosting.small_bottle_percent", "%", "MagNET ghosting 100 |ghost - noise| / signal with the small "
              "bottle, along the phase-encode direction.", _MAGNET),
    MetricDef("mr.geometry.length_mm", "mm", "Phantom length along a line through its centre, between sub-pixel "
              "edges (half-maximum crossings); slices 1 and 5 of the axial series and the sagittal localiser.",
              f"{_ACR}, geometric accuracy", labels=_LENGTH_LABELS),
    MetricDef("mr.slice_thickness.mm", "mm", "Slice thickness 0.2 a b / (a + b) from the FWHM a and b (in mm) of the "
              "two crossed 10:1 ramps of slice 1.", f"{_ACR}, slice thickness accuracy"),
    MetricDef("mr.slice_width.mm", "mm", "MagNET slice width: FWHM of the slice profile from the ramp profiles of "
              "the geometry / slice-width object (trapezoid fit) x ramp tangent.", _MAGNET),
    MetricDef("mr.slice_position.bar_difference_mm", "mm", "Length difference of the two 45-degree wedge bars at the "
              "top of slices 1 and 11 (twice the slice displacement).", f"{_ACR}, slice position accuracy",
              labels=("slice1", "slice11")),
    MetricDef("mr.resolution.hole_mm", "mm", "Smallest hole-array size (1.1, 1.0, 0.9 mm) resolved in both the "
              "upper-left (rows) and lower-right (columns) arrays of slice 1.",
              f"{_ACR}, high-contrast spatial resolution"),
    MetricDef("mr.resolution.mtf50_mm", "mm", "Effective resolution 1 / (2 MTF50) from an edge of the slice-1 insert.",
              "edge MTF (IEC 62220-1 slanted-edge method)"),
    MetricDef("mr.lcd.spokes", "1", "Complete low-contrast spokes counted from the largest until the first spoke "
              "with an undetected disk, by a statistical detection test per disk; label = slice or total.",
              f"{_ACR}, low-contrast object detectability",
              labels=("slice8", "slice9", "slice10", "slice11", "total")),
    MetricDef("mr.frequency.hz", "Hz", "Resonance (imaging) frequency from (0018,0084) Imaging Frequency; its drift is "
              "judged against the baseline.", f"{_WST}, 共振频率"),
    MetricDef("mr.field_strength.t", "T", "Static field strength from (0018,0087) Magnetic Field Strength (decides "
              "the ACR limits that depend on it).", "DICOM header"),
)
