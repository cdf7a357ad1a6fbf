"""Nuclear-medicine (gamma camera, SPECT) and PET metric ids: unit, definition (with the formula) and source.

Data only. The analyzers live beside this file (``planar``, ``spect``, ``nema_iq``).
"""

from phantomqc.core.registry import MetricDef

_NU1 = "NEMA NU 1-2018"
_NU2 = "NEMA NU 2-2018"
_FOV = ("ufov", "cfov")
_SPHERES_NM = ("sphere1", "sphere2", "sphere3", "sphere4", "sphere5", "sphere6")
_SPHERES_PET = ("sphere_10mm", "sphere_13mm", "sphere_17mm", "sphere_22mm", "sphere_28mm", "sphere_37mm")

METRICS = (
    MetricDef("nm.uniformity.integral_percent", "%", "Integral uniformity (max - min)/(max + min) x 100 over the UFOV "
              "or CFOV of a flood rebinned to 6.4 mm (+-30 %) pixels and smoothed once with the 9-point kernel.",
              f"{_NU1}, intrinsic / system uniformity", labels=_FOV),
    MetricDef("nm.uniformity.differential_percent", "%", "Differential uniformity: the largest (max - min)/(max + min) "
              "x 100 over every run of 5 pixels along the rows and columns of the UFOV or CFOV.",
              f"{_NU1}, intrinsic / system uniformity", labels=_FOV),
    MetricDef("nm.four_bar.fwhm_mm", "mm", "FWHM of the line-source peaks of the four-bar phantom (Gaussian fits), "
              "along x or y.", "IAEA NMQC four-bar test", labels=("x", "y")),
    MetricDef("nm.four_bar.pixel_size_mm", "mm", "Pixel size measured from the known separation of the four bars.",
              "IAEA NMQC four-bar test", labels=("x", "y")),
    MetricDef("nm.quadrant_bar.mtf", "1", "MTF at the bar frequency of a quadrant by the statistical-moments method "
              "MTF = sqrt(2 (sigma^2 - mu)) / mu (Poisson counts); label = bar width.",
              "Hander et al. 1997; IAEA NMQC"),
    MetricDef("nm.quadrant_bar.fwhm_mm", "mm", "FWHM of the Gaussian LSF whose MTF at the quadrant's bar frequency "
              "equals the measured MTF; label = bar width.", "Hander et al. 1997; IAEA NMQC"),
    MetricDef("nm.line_source.fwhm_mm", "mm", "FWHM of a line-source profile by parabolic-peak interpolation; "
              "label = the profile axis.", f"{_NU1}, spatial resolution", labels=("x", "y")),
    MetricDef("nm.line_source.fwtm_mm", "mm", "FWTM of a line-source profile by parabolic-peak interpolation; "
              "label = the profile axis.", f"{_NU1}, spatial resolution", labels=("x", "y")),
    MetricDef("nm.linearity.absolute_mm", "mm", "Intrinsic absolute linearity: the largest displacement, along the "
              "measurement axis, of a slit peak (30 mm bands along the slits, iterated centroid) from the grid of "
              "equally spaced parallel lines fitted by least squares to the UFOV or CFOV peaks; label = FOV and the "
              "axis the displacement is measured along (x: slits along y).", f"{_NU1}, intrinsic spatial linearity",
              labels=("ufov_x", "cfov_x", "ufov_y", "cfov_y")),
    MetricDef("nm.linearity.differential_mm", "mm", "Intrinsic differential linearity: the sample SD of the spacings "
              "between the peaks of adjacent slits in each band, over the UFOV or CFOV.",
              f"{_NU1}, intrinsic spatial linearity", labels=("ufov_x", "cfov_x", "ufov_y", "cfov_y")),
    MetricDef("nm.cor.deviation_mm", "mm", "Centre of rotation: x offset of the fitted sinusoid from the image "
              "centre (label x), and the axial (y) deviation of the point source over the rotation (label y).",
              f"{_NU1}, SPECT centre of rotation", labels=("x", "y")),
    MetricDef("nm.tomo_uniformity.integral_percent", "%", "Tomographic integral uniformity of the summed uniform "
              "section of a Jaszczak reconstruction (NU-1 rules on the summed slice).",
              "IAEA NMQC, tomographic uniformity", labels=_FOV),
    MetricDef("nm.tomo_uniformity.differential_percent", "%", "Tomographic differential uniformity, as above.",
              "IAEA NMQC, tomographic uniformity", labels=_FOV),
    MetricDef("nm.tomo_uniformity.center_to_border", "1", "Ratio of the central to the border counts of the summed "
              "uniform section (attenuation and scatter correction check).", "IAEA NMQC, tomographic uniformity"),
    MetricDef("nm.tomo_contrast.max_percent", "%", "Cold-sphere contrast (1 - C_min/C_background) x 100 per sphere of "
              "the Jaszczak phantom, largest first (NMQC reports the Michelson form (C_B - C_min)/(C_B + C_min) x 100; "
              "the two are related by C = 2M/(1 + M)).", "IAEA NMQC, tomographic contrast", labels=_SPHERES_NM),
    MetricDef("nm.tomo_contrast.mean_percent", "%", "Cold-sphere contrast (1 - C_mean/C_background) x 100 per sphere.",
              "IAEA NMQC, tomographic contrast", labels=_SPHERES_NM),
    MetricDef("pet.nema_iq.contrast_percent", "%", "Hot-sphere percent contrast Q_H = (C_H/C_B - 1)/(a_H/a_B - 1) x "
              "100 (cold: Q_C = (1 - C_C/C_B) x 100).", f"{_NU2}, image quality", labels=_SPHERES_PET),
    MetricDef("pet.nema_iq.background_variability_percent", "%", "Background variability N = SD_B / C_B x 100 over "
              "the 60 background ROIs of the sphere's size.", f"{_NU2}, image quality", labels=_SPHERES_PET),
    MetricDef("pet.nema_iq.lung_residual_percent", "%", "Lung residual C_lung / C_B x 100 from a 30 mm ROI in the "
              "lung insert.", f"{_NU2}, image quality"),
    MetricDef("pet.recovery.rc_mean", "1", "Recovery coefficient: mean of the sphere volume over the true "
              "concentration.", "EANM/EARL", labels=_SPHERES_PET),
    MetricDef("pet.recovery.rc_max", "1", "Recovery coefficient: the maximum voxel over the true concentration.",
              "EANM/EARL", labels=_SPHERES_PET),
    MetricDef("pet.recovery.rc_a50", "1", "Recovery coefficient: mean of the voxels at or above 50 % of the maximum "
              "(background-corrected) over the true concentration.", "EANM/EARL", labels=_SPHERES_PET),
    MetricDef("pet.recovery.rc_peak", "1", "Recovery coefficient: the 1 ml sphere of highest mean over the true "
              "concentration.", "EANM/EARL", labels=_SPHERES_PET),
    MetricDef("pet.uniform.concentration_error_percent", "%", "Activity concentration of a large central ROI of the "
              "uniform cylinder against the decay-corrected expected value, (measured - expected)/expected x 100.",
              "EANM/EARL; WS 817-2023 (SUV accuracy)"),
    # activity-based tests (phantomqc.pet_spect.activity)
    MetricDef("pet.uniform.suv_mean", "1", "Body-weight SUV of the central ROI of the uniform cylinder from the DICOM "
              "tags: C / (dose x exp(-ln2 (t_ref - t_start)/T_half) / weight); 1 by construction for a phantom of V ml "
              "filled with the dose and weighing V g.", "QIBA FDG-PET/CT profile (SUV pseudo-code); EANM/EARL"),
    MetricDef("nm.sensitivity.cps_per_mbq", "cps/MBq", "System planar sensitivity: net count rate over the source's "
              "activity averaged over the acquisition, A(t0) (1 - exp(-lambda T))/(lambda T).",
              f"{_NU1}, system planar sensitivity"),
    MetricDef("nm.count_rate.max_kcps", "kcps", "Maximum observed count rate: label fit = 1/(e tau) of the "
              "paralysable model R_o = s A exp(-s A tau) fitted to the series; label measured = the largest rate "
              "observed.", f"{_NU1}, count-rate performance", labels=("fit", "measured")),
    MetricDef("nm.count_rate.loss20_kcps", "kcps", "Observed count rate at 20 % count loss, 0.8 (-ln 0.8)/tau of the "
              "fitted paralysable model.", f"{_NU1}, count-rate performance"),
    MetricDef("nm.count_rate.dead_time_us", "us", "Paralysable dead time tau of the fitted model R_o = R_t exp(-R_t "
              "tau).", f"{_NU1}, count-rate performance"),
)
