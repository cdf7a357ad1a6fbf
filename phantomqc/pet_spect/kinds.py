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
)
