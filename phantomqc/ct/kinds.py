"""CT test kinds: the ``[[test]]`` blocks of a manifest. Data only (see docs/ct_design.md)."""

from phantomqc.core.registry import FieldDef, KindDef

_CT = ("CT",)
_AVG = FieldDef("average_mm", "float", "Average ROI means over the slices inside the module within this distance "
                "of the module's analysis position (0: the single-image reading of WS 519).", default=10.0,
                unit="mm")
_GAP = FieldDef("edge_gap_mm", "float", "Uniformity ROIs: distance from the phantom edge (WS 519: about 10 mm).",
                default=10.0, unit="mm")
_GAP_TO = FieldDef("edge_gap_to", "str", "Whether edge_gap_mm is measured to the ROI's edge or its centre (the "
                   "WS 519 wording is ambiguous).", default="roi_edge", choices=("roi_edge", "roi_centre"))
_THICK = FieldDef("nominal_thickness_mm", "float", "Nominal reconstructed slice thickness; default (0018,0050) "
                  "Slice Thickness.", unit="mm")
_KERNEL = FieldDef("kernel_class", "str", "Reconstruction kernel class of the series, for the high-contrast "
                   "limits.", default="conventional", choices=("conventional", "high_resolution"))
_ORIGIN = FieldDef("origin_z_mm", "float", "Manual override: z (ImagePositionPatient[2]) of the origin module's "
                   "centre.", unit="mm")
_ROLL = FieldDef("roll_deg", "float", "Manual override: phantom roll (clockwise on the screen).", unit="deg")
_CENTRE = FieldDef("center_mm", "float_list", "Manual override: phantom centre [x, y] in mm from the top-left "
                   "pixel centre of the origin slice.", unit="mm")
_NOMINAL = FieldDef("nominal_hu", "table", "Nominal CT numbers per insert from the phantom's certificate, e.g. "
                    "{Teflon = 990, Air = -1000}; default the phantom's tabulated values.")

KINDS = (
    KindDef(
        "ct.catphan", "CatPhan 504/600/604: localisation, HU linearity, slice thickness, geometry, uniformity, "
        "noise, MTF, line pairs and low contrast, each module that is in the scan.", _CT,
        "phantomqc.ct.catphan:run", 1, None,
        (FieldDef("model", "str", "CatPhan model; 'auto' decides from the CTP404 insert pattern.", default="auto",
                  choices=("auto", "catphan504", "catphan600", "catphan604")),
         _THICK, _KERNEL, _AVG, _GAP, _GAP_TO, _ORIGIN, _ROLL, _CENTRE, _NOMINAL),
        ("ct.phantom.roll_deg", "ct.linearity.max_abs_error_hu", "ct.slice_thickness.mm", "ct.geometry.length_mm",
         "ct.water.mean_hu", "ct.uniformity.max_abs_diff_hu", "ct.noise.sd_hu", "ct.noise.percent",
         "ct.mtf.mtf50_lp_per_cm", "ct.mtf.mtf10_lp_per_cm", "ct.line_pairs.limiting_lp_per_cm",
         "ct.low_contrast.detectability_mm"),
        images_doc="One axial CT series (a folder) covering the phantom; modules outside the scan are reported "
                   "as not evaluated."),
    KindDef(
        "ct.acr464", "ACR CT accreditation phantom (Gammex 464): CT numbers, slice thickness, low-contrast CNR, "
        "uniformity, noise, BB distance and bar resolution.", _CT,
        "phantomqc.ct.acr:run", 1, None,
        (_THICK, _KERNEL, _AVG, _GAP, _GAP_TO, _ORIGIN, _ROLL, _CENTRE, _NOMINAL),
        ("ct.linearity.max_abs_error_hu", "ct.water.mean_hu", "ct.uniformity.max_abs_diff_hu", "ct.noise.sd_hu",
         "ct.low_contrast.cnr", "ct.geometry.length_mm", "ct.line_pairs.limiting_lp_per_cm"),
        images_doc="One axial CT series covering the four modules."),
    KindDef(
        "ct.water", "Water phantom (WS 519-2019): CT number of water, uniformity and noise.", _CT,
        "phantomqc.ct.water:run", 1, None,
        (_THICK, _AVG, _GAP, _GAP_TO,
         FieldDef("water_air_hu", "float", "CT_water - CT_air in the noise formula.", default=1000.0, unit="HU")),
        ("ct.water.mean_hu", "ct.uniformity.max_abs_diff_hu", "ct.noise.sd_hu", "ct.noise.percent"),
        images_doc="An axial series (or one image) of the 18 to 22 cm water phantom at the scan centre, head "
                   "conditions, about 10 mm slices."),
    KindDef(
        "ct.ctdi", "CTDIw and CTDIvol from pencil-chamber readings in the head or body CTDI phantom.", _CT,
        "phantomqc.ct.ctdi:run", 0, 1,
        (FieldDef("center_mgy", "float", "Calibrated CTDI100 at the centre hole.", required=True, unit="mGy"),
         FieldDef("peripheral_mgy", "float_list", "Calibrated CTDI100 at the four peripheral holes (12, 3, 6, "
                  "9 o'clock).", required=True, unit="mGy"),
         FieldDef("pitch", "float", "Pitch (1 for axial scans).", default=1.0),
         FieldDef("phantom", "str", "CTDI phantom.", default="head", choices=("head", "body"))),
        ("ct.ctdi.ctdiw_mgy", "ct.ctdi.ctdivol_mgy"),
        images_doc="Optional: one image of the scan, whose (0018,9345) CTDIvol is recorded beside the "
                   "measurement."),
)
