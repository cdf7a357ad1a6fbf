"""Gamma-camera, SPECT and PET test kinds: the ``[[test]]`` blocks of a manifest. Data only."""

from phantomqc.core.registry import FieldDef, KindDef

_NM = ("NM",)
_PT = ("PT",)

KINDS = (
    KindDef(
        "nm.uniformity", "Gamma-camera flood: NEMA NU 1 integral and differential uniformity over the UFOV and CFOV.",
        _NM, "phantomqc.pet_spect.runners:run_uniformity", 1, 1,
        (FieldDef("rebin_rule", "str", "NU 1 allows pixels of 6.4 mm +- 30 %: 'coarsest' takes the largest block that "
                  "stays inside (NMQC's choice), 'nearest' the block closest to 6.4 mm.", default="coarsest",
                  choices=("coarsest", "nearest")),),
        ("nm.uniformity.integral_percent", "nm.uniformity.differential_percent"),
        images_doc="One flood image (intrinsic or extrinsic)."),
    KindDef(
        "nm.four_bar", "Four-bar (four line sources) phantom: FWHM of the lines and the pixel size from their known "
        "separation.", _NM, "phantomqc.pet_spect.runners:run_four_bar", 1, 1,
        (FieldDef("bar_separation_mm", "float", "Distance between adjacent bars.", default=100.0, unit="mm"),),
        ("nm.four_bar.fwhm_mm", "nm.four_bar.pixel_size_mm"), images_doc="One image of the four-bar phantom."),
    KindDef(
        "nm.quadrant_bar", "Quadrant-bar phantom: MTF per quadrant by the statistical-moments method and the FWHM of "
        "the Gaussian LSF with that MTF.", _NM, "phantomqc.pet_spect.runners:run_quadrant_bar", 1, 1,
        (FieldDef("bar_widths_mm", "float_list", "Bar widths of the four quadrants.",
                  default=(4.23, 3.18, 2.54, 2.12), unit="mm"),
         FieldDef("square_wave_correction", "bool", "Multiply the moments modulation by pi/4 (the bars' square wave) "
                  "to report the MTF proper; off reproduces NMQC.", default=False)),
        ("nm.quadrant_bar.mtf", "nm.quadrant_bar.fwhm_mm"), images_doc="One image of the quadrant-bar phantom."),
    # NU 1 slit-mask linearity and the line source (phantomqc.pet_spect.linearity, planar.line_source_fwhm)
    KindDef(
        "nm.linearity", "Slit-mask (line-grid) images: NEMA NU 1 intrinsic spatial linearity, absolute (largest "
        "displacement from the fitted grid of equally spaced lines) and differential (SD of the slit spacings), "
        "over the UFOV and CFOV.", _NM, "phantomqc.pet_spect.runners:run_linearity", 1, 2,
        (FieldDef("orientation", "str", "With one image: 'x' when the slits run along y (distortion measured along "
                  "x), 'y' when they run along x; 'auto' detects it. With two images each is detected.",
                  default="auto", choices=("auto", "x", "y")),
         FieldDef("line_spacing_mm", "float", "Nominal slit spacing of the mask (NU 1: 30 mm).", default=30.0,
                  unit="mm"),
         FieldDef("band_mm", "float", "Width of the bands summed along the slits into profiles (NU 1: <= 30 mm).",
                  default=30.0, unit="mm")),
        ("nm.linearity.absolute_mm", "nm.linearity.differential_mm"),
        images_doc="One or two slit-mask images: the slits along y and/or along x."),
    KindDef(
        "nm.line_source", "Line source: FWHM and FWTM of its profile by NEMA parabolic-peak interpolation.", _NM,
        "phantomqc.pet_spect.runners:run_line_source", 1, 1,
        (FieldDef("axis", "str", "Direction of the profile: 'x' for a line along y, 'y' for a line along x; 'auto' "
                  "detects it.", default="auto", choices=("auto", "x", "y")),
         FieldDef("band_mm", "float", "Sum only a band of this length along the line, centred on the image; default "
                  "the whole image.", unit="mm"),
         FieldDef("subtract_background", "bool", "Subtract the median of the profile's outer quarters first (NEMA "
                  "measures raw counts).", default=False)),
        ("nm.line_source.fwhm_mm", "nm.line_source.fwtm_mm"), images_doc="One image of the line source."),
    KindDef(
        "spect.jaszczak", "Jaszczak SPECT reconstruction: tomographic uniformity (integral, differential, "
        "centre-to-border) and cold-sphere contrast.", _NM, "phantomqc.pet_spect.runners:run_jaszczak", 1, None,
        (),
        ("nm.tomo_uniformity.integral_percent", "nm.tomo_uniformity.differential_percent",
         "nm.tomo_uniformity.center_to_border", "nm.tomo_contrast.max_percent", "nm.tomo_contrast.mean_percent"),
        images_doc="The reconstructed slices (a multi-frame NM file or one file per slice)."),
    KindDef(
        "pet.nema_iq", "NEMA NU 2 image quality on the NEMA/IEC body phantom: hot-sphere contrast, background "
        "variability, lung residual, recovery coefficients.", _PT, "phantomqc.pet_spect.runners:run_nema_iq", 20, None,
        (FieldDef("activity_ratio", "float", "Sphere-to-background activity ratio of the filling (NU 2: 4 or 8). "
                  "Without it the contrasts and recovery coefficients are not computed (they scale with it)."),
         FieldDef("cold_spheres_mm", "float_list", "Diameters of the spheres filled cold (NU 2-2007: 28 and 37).",
                  default=(), unit="mm")),
        ("pet.nema_iq.contrast_percent", "pet.nema_iq.background_variability_percent",
         "pet.nema_iq.lung_residual_percent", "pet.recovery.rc_mean", "pet.recovery.rc_max", "pet.recovery.rc_a50",
         "pet.recovery.rc_peak"),
        images_doc="The PET volume of the IEC body phantom (one series)."),
    # activity-based tests and the centre of rotation (phantomqc.pet_spect.activity, spect.center_of_rotation)
    KindDef(
        "nm.cor", "SPECT centre of rotation: x offset of the point source's sinusoid from the image centre and its "
        "axial (y) deviation over the rotation.", _NM, "phantomqc.pet_spect.runners:run_cor", 1, 1,
        (FieldDef("angles_deg", "float_list", "Gantry angle of each projection, overriding the angles read from the "
                  "Rotation Information Sequence (for files without it).", unit="deg"),),
        ("nm.cor.deviation_mm",),
        images_doc="The point-source projections: one multi-frame NM TOMO file (Rotation Information Sequence)."),
    KindDef(
        "pet.uniform", "Uniform PET cylinder: activity-concentration accuracy against the decay-corrected filling, and "
        "the body-weight SUV from the DICOM radiopharmaceutical tags.", _PT, "phantomqc.pet_spect.runners:run_uniform",
        1, None,
        (FieldDef("activity_MBq", "float", "Activity put in the phantom, measured in the dose calibrator.",
                  required=True, unit="MBq"),
         FieldDef("activity_time", "str", "Date and time of that measurement, ISO 8601 (\"2026-11-23T08:00:00\").",
                  required=True),
         FieldDef("volume_mL", "float", "Volume of water in the phantom.", required=True, unit="ml"),
         FieldDef("half_life_s", "float", "Half-life of the radionuclide; default: (0018,1075) of the images.",
                  unit="s"),
         FieldDef("roi_fraction", "float", "Radius of the central ROI as a fraction of the phantom's radius.",
                  default=0.75)),
        ("pet.uniform.concentration_error_percent", "pet.uniform.suv_mean"),
        images_doc="The PET volume of the uniform cylinder (one series, Bq/ml)."),
    KindDef(
        "nm.sensitivity", "Gamma-camera system planar sensitivity (NEMA NU 1) from a source of known activity, decay "
        "corrected to the acquisition and within it.", _NM, "phantomqc.pet_spect.runners:run_sensitivity", 1, 2,
        (FieldDef("activity_MBq", "float", "Calibrated activity of the source.", required=True, unit="MBq"),
         FieldDef("activity_time", "str", "Date and time of the calibration, ISO 8601.", required=True),
         FieldDef("half_life_s", "float", "Half-life of the radionuclide; default: (0018,1075) of the image.",
                  unit="s")),
        ("nm.sensitivity.cps_per_mbq",),
        images_doc="One static image of the source (acquisition start and (0018,1242) Actual Frame Duration in its "
        "tags), optionally followed by a background image without the source."),
    KindDef(
        "nm.count_rate", "Gamma-camera count-rate performance (NEMA NU 1): paralysable dead-time fit of a series of "
        "static images at known activities; maximum count rate and the rate at 20 % loss.", _NM,
        "phantomqc.pet_spect.runners:run_count_rate", 3, None,
        (FieldDef("activity_MBq", "float_list", "Activity of the source for each image, or one calibrated activity "
                  "decayed to every image (the decaying-source method).", required=True, unit="MBq"),
         FieldDef("activity_time", "str_list", "ISO 8601 date and time of each activity (one per image, or one).",
                  required=True),
         FieldDef("half_life_s", "float", "Half-life of the radionuclide; default: (0018,1075) of the images.",
                  unit="s")),
        ("nm.count_rate.max_kcps", "nm.count_rate.loss20_kcps", "nm.count_rate.dead_time_us"),
        images_doc="Static images of the source at increasing activities (one file each)."),
)
