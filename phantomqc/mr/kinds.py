"""MR test kinds: the ``[[test]]`` blocks of a manifest. Data only (see docs/mr_design.md)."""

from phantomqc.core.registry import FieldDef, KindDef

_MR = ("MR",)
_PHASE = FieldDef("phase_encoding", "str", "Manual override of (0018,1312) In-plane Phase Encoding Direction.",
                  choices=("ROW", "COL"))
_FIELD = FieldDef("field_strength_t", "float", "Manual override of (0018,0087) Magnetic Field Strength (the ACR PIU "
                  "and low-contrast limits depend on it).", unit="T")

KINDS = (
    KindDef(
        "mr.acr", "ACR large MRI phantom, axial 11-slice series (T1 or T2): geometric accuracy (slices 1 and 5), "
        "high-contrast resolution, slice thickness and position, uniformity (PIU), ghosting, SNR and low-contrast "
        "detectability (slices 8-11).", _MR, "phantomqc.mr.acr:run", 11, 11,
        (FieldDef("repeat", "path_list", "A repeat of the same series (same geometry) for the subtraction SNR on "
                  "slice 7."),
         _PHASE, _FIELD,
         FieldDef("rotation_deg", "float", "Manual override of the phantom's in-plane rotation (clockwise on the "
                  "screen).", unit="deg"),
         FieldDef("smoothing_kernel_px", "int", "Boxcar size of the smoothing SNR on slice 7 (MagNET: 9 for a head "
                  "coil; 25 recommended for the ACR phantom).", default=25)),
        ("mr.geometry.length_mm", "mr.resolution.hole_mm", "mr.slice_thickness.mm",
         "mr.slice_position.bar_difference_mm", "mr.uniformity.piu_percent", "mr.ghosting.ratio",
         "mr.ghosting.percent", "mr.snr.smoothing", "mr.lcd.spokes", "mr.frequency.hz"),
        images_doc="The 11 images of one axial ACR series (slice 1 at the crossed wedges)."),
    KindDef(
        "mr.acr_localizer", "ACR large MRI phantom, sagittal localiser: the superior-inferior length.", _MR,
        "phantomqc.mr.acr:run_localizer", 1, 1, (),
        ("mr.geometry.length_mm",), images_doc="One sagittal localiser image through the phantom's axis."),
    KindDef(
        "mr.snr_pair", "Two repeated acquisitions of a flood object: subtraction SNR (NEMA MS 1), smoothing SNR, both "
        "normalised (MagNET).", _MR, "phantomqc.mr.magnet:run_snr_pair", 2, 2,
        (FieldDef("smoothing_kernel_px", "int", "Boxcar size of the smoothing SNR (MagNET: 9 for a head coil).",
                  default=9),),
        ("mr.snr.subtraction", "mr.snr.smoothing", "mr.snr.normalised"),
        images_doc="Two images of the same slice acquired one after the other with identical parameters."),
    KindDef(
        "mr.flood", "Flood (uniform) object image: uniformity (IPEM fractional, WS/T 263 nine-ROI, NEMA MS 3) and "
        "single-image and WS/T 263 SNR.", _MR, "phantomqc.mr.magnet:run_flood", 1, 1,
        (FieldDef("edge_gap_mm", "float", "WS/T 263 peripheral ROIs: distance from the phantom edge (about 1 cm).",
                  default=10.0, unit="mm"),),
        ("mr.uniformity.fractional", "mr.uniformity.wst263_percent", "mr.uniformity.nema_ms3_percent",
         "mr.snr.wst263"),
        images_doc="One image of a uniform object (axial, sagittal or coronal)."),
    KindDef(
        "mr.ghosting", "MagNET small-bottle ghosting along the phase-encode direction.", _MR,
        "phantomqc.mr.magnet:run_ghosting", 1, 1, (_PHASE,), ("mr.ghosting.small_bottle_percent",),
        images_doc="One image of the small bottle placed off centre."),
    KindDef(
        "mr.slice_width", "MagNET geometry / slice-width object: slice width from the ramp profiles.", _MR,
        "phantomqc.mr.magnet:run_slice_width", 1, 1, (), ("mr.slice_width.mm",),
        images_doc="One axial image through the slice-width ramps."),
)
