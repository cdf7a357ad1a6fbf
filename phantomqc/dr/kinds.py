"""DR test kinds: the ``[[test]]`` blocks of a manifest. Data only; each runner is ``run`` in its analyzer module."""

from phantomqc.core.registry import FieldDef, KindDef

_DR = ("DX", "CR", "RG", "DR")
_ROI10 = FieldDef("roi_size_mm", "float", "Side of the central square ROI.", default=100.0, unit="mm")
_LIN = FieldDef("linearize", "bool", "Linearise the images to air kerma with the fit of the manifest's "
                "dr.signal_transfer test before analysis (IEC 62220-1-1); ignored when there is none.", default=True)
_KERMA = FieldDef("air_kerma_uGy", "float_list", "Dosimeter air kerma at the detector surface, one per image.",
                  per_image=True, unit="uGy")

KINDS = (
    KindDef(
        "dr.dark_noise", "Dark noise: mean and SD of the central 10 x 10 cm ROI of a dark image.", _DR,
        "phantomqc.dr.dark_noise:run", 1, None, (_ROI10,),
        ("dr.dark_noise.mean_pv", "dr.dark_noise.sd_pv"),
        images_doc="One or more for-processing dark images (collimator closed, 2 mm lead on the port)."),
    KindDef(
        "dr.ddi", "Detector dose indicator and its deviation from the measured air kerma.", _DR,
        "phantomqc.dr.ddi:run", 1, None,
        (FieldDef("air_kerma_uGy", "float_list", "Dosimeter air kerma for each exposure (about 10 uGy).",
                  per_image=True, unit="uGy"),
         FieldDef("ddi_formula", "str", "How the dose indicator maps to air kerma: 'iec62494' (K = EI/100 uGy), "
                  "'linear' (K = ddi_uGy_per_unit x value) or 'none'.", default="iec62494",
                  choices=("iec62494", "linear", "none")),
         FieldDef("ddi_uGy_per_unit", "float", "Slope for ddi_formula = 'linear'.", unit="uGy"),
         _ROI10),
        ("dr.ddi.value", "dr.ddi.deviation_percent"),
        images_doc="Three for-processing exposures at about 10 uGy (70 kV, 1 mm Cu)."),
    KindDef(
        "dr.signal_transfer", "Signal transfer property: fit PV against air kerma and report R^2.", _DR,
        "phantomqc.dr.signal_transfer:run", 3, None,
        (FieldDef("air_kerma_uGy", "float_list", "Dosimeter air kerma for each image.", required=True,
                  per_image=True, unit="uGy"),
         FieldDef("response", "str", "Detector response model; 'auto' chooses the best justified one.",
                  default="auto", choices=("auto", "linear", "log", "power")),
         _ROI10),
        ("dr.signal_transfer.r_squared",),
        images_doc="Five for-processing flat fields at about 1, 5, 10, 20 and 30 uGy."),
    KindDef(
        "dr.response_uniformity", "Response uniformity: CV of five 4 x 4 cm ROI means.", _DR,
        "phantomqc.dr.uniformity:run", 1, 1,
        (FieldDef("roi_size_mm", "float", "Side of each square ROI.", default=40.0, unit="mm"),),
        ("dr.response_uniformity.cv_percent",),
        images_doc="The 10 uGy for-processing flat field of the DDI test."),
    KindDef(
        "dr.ghosting", "Ghosting (lag): residual image of a lead block in the following blank exposure.", _DR,
        "phantomqc.dr.ghosting:run", 2, 2,
        (FieldDef("block_size_mm", "float", "Side of the lead block.", default=40.0, unit="mm"),
         FieldDef("roi_size_mm", "float", "Side of the equal-area ghost and non-ghost ROIs.", default=20.0,
                  unit="mm")),
        ("dr.ghosting.error_percent",),
        images_doc="First the lead-block exposure, then the blank taken within 1.5 min."),
    KindDef(
        "dr.artifacts", "Artefacts: dead or hot lines, defective-pixel clusters, structured non-uniformity.", _DR,
        "phantomqc.dr.artifacts:run", 1, None,
        (FieldDef("threshold_sigma", "float", "Detection threshold in noise SDs.", default=6.0),),
        ("dr.artifacts.count",),
        images_doc="Uniform for-processing flat fields."),
    KindDef(
        "dr.limiting_resolution", "Limiting spatial resolution from line-pair gauges, against Nyquist.", _DR,
        "phantomqc.dr.limiting_resolution:run", 1, 2,
        (FieldDef("gauge", "str", "Gauge type (group frequencies in phantomqc/dr/gauges.toml).",
                  default="huttner18"),),
        ("dr.limiting_resolution.lp_per_mm", "dr.limiting_resolution.nyquist_per_mm"),
        images_doc="One image with two perpendicular gauges, or one image per gauge."),
    KindDef(
        "dr.mtf", "Presampling MTF from a slanted edge (IEC 62220-1): MTF50 and MTF at Nyquist.", _DR,
        "phantomqc.dr.mtf:run", 1, 2,
        (FieldDef("roi_size_mm", "float", "Side of the square ROI around the edge centre.", default=50.0,
                  unit="mm"), _LIN),
        ("dr.mtf.mtf50_per_mm", "dr.mtf.at_nyquist"),
        images_doc="Slanted-edge images (edge 2 to 5 degrees from a pixel axis); one per direction."),
    KindDef(
        "dr.nnps", "Normalised noise power spectrum (IEC 62220-1) of flat fields.", _DR,
        "phantomqc.dr.nnps:run", 1, None,
        (FieldDef("roi_px", "int", "Side of each NPS ROI in pixels.", default=256),
         FieldDef("region_mm", "float", "Side of the central analysis region.", default=125.0, unit="mm"),
         FieldDef("offset_pv", "float", "Pixel value at zero air kerma, removed before normalisation "
                  "(only without linearisation).", default=0.0, unit="PV"), _LIN),
        ("dr.nnps.at_0p5_per_mm", "dr.nnps.at_nyquist"),
        images_doc="Flat fields at one air kerma."),
    KindDef(
        "dr.dqe", "Detective quantum efficiency from MTF and NNPS at a given air kerma and beam quality.", _DR,
        "phantomqc.dr.dqe:run", 1, None,
        (FieldDef("edge_images", "path_list", "Slanted-edge images (one per direction).", required=True),
         FieldDef("air_kerma_uGy", "float", "Air kerma of the flat fields.", required=True, unit="uGy"),
         FieldDef("beam_quality", "str", "IEC 61267 beam quality.", default="RQA5",
                  choices=("RQA3", "RQA5", "RQA7", "RQA9")),
         FieldDef("offset_pv", "float", "Pixel value at zero air kerma.", default=0.0, unit="PV"),
         FieldDef("roi_px", "int", "Side of each NPS ROI in pixels.", default=256), _LIN),
        ("dr.dqe.at_0p5_per_mm",),
        images_doc="Flat fields at the air kerma given; the edge images in edge_images."),
)
