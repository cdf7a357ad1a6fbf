"""Declarative geometry of the MR QC phantoms, in mm and degrees. Data only.

The same tables drive the digital twins (``reference_phantoms.mr``) and the analyzers.

Conventions
-----------
* In-plane phantom frame: ``x`` to the image right (increasing column), ``y`` to the image bottom (increasing
  row), origin at the phantom axis. A point at ``(angle_deg, distance_mm)`` is at ``x = d cos(angle + roll)``,
  ``y = d sin(angle + roll)``: 0 deg is 3 o'clock, -90 deg is 12 o'clock, 90 deg is 6 o'clock; angles grow
  clockwise on the screen (as in ``phantomqc.ct.geometry``). ``roll`` (the phantom's in-plane rotation) is
  positive clockwise on the screen.
* The ACR phantom is drawn as set up per the ACR guidance: the slice-position wedge bars ("vertical bars") at the
  top of slice 1 (12 o'clock), the resolution insert below the centre.
* ``z``: along the phantom axis from slice 1 (the crossed-wedge vertex, ``z = 0``) towards slice 11
  (``z = 100 mm``). The 11 ACR slices are 5 mm thick with a 5 mm gap, so slice ``k`` is centred at
  ``z = 10 (k - 1)`` mm.

Sources (facts, not code)
-------------------------
* [ACR] ACR, *Large and Medium Phantom Test Guidance for the ACR MRI Accreditation Program* (2018 rev. and
  2022); *Phantom Test Guidance for Use of the Large MRI Phantom* (2005): 190 mm inner diameter, 148 mm inner
  length, 11 slices 5 mm / 10 mm spacing from the wedge vertex; 10:1 crossed ramps and
  ``T = 0.2 L1 L2 / (L1 + L2)``; 45 deg crossed wedges with bar difference = 2 x slice displacement;
  1.1/1.0/0.9 mm hole arrays (UL array for left-right, LR array for up-down resolution, hole spacing twice the
  diameter); PIU large ROI 195-205 cm^2 and 1 cm^2 search ROIs; ghost ellipses 10 cm^2, 4:1, outside the
  phantom; LCD slices 8-11 with 1.4, 2.5, 3.6, 5.1 % contrast, 10 spokes of 3 disks, diameters 7.0 to 1.5 mm.
* [pylinac] J. Kerns, pylinac ``acr.py`` (ACRMRILarge), as an independent reading of the drawings: slice-thickness
  profile ROIs 3 mm above and 2.5 mm below the centre, 100 mm long; wedge-bar ROIs 65 mm above the centre at
  +-2.5 deg, 25 mm long; hole-array ROI centres (angle/distance); the uniformity ROI 5 mm below the centre.
* [hazen] GSTT-CSC hazen ``acr_low_contrast_object_detectability.py`` (after Golestani & Gee 2025,
  doi:10.1002/acm2.70173): LCD disk diameters 7.00, 6.39, ..., 1.50 mm (linear), disk radii 12.5, 25.0, 38.0 mm,
  spokes clockwise with decreasing size, 36 deg apart, first spoke searched about 25 deg clockwise of 12 o'clock.
* [real] measured by phantomqc on the real ACR series in ``../shared/realdata/mr/acr`` (outline-centred frame,
  see ``tests/mr/test_geometry_series.py``): slice-1 insert extents, wedge bars, hole-array and LCD centres.
* [MagNET] MagNET / IPEM Report 112 test objects as imaged in the hazen test data (the real images in
  ``realdata/mr``): flood bottle, and the slice-width (geometry) object with two pairs of crossed ramps.

Numbers marked ``confirmed=False`` (in :data:`UNCONFIRMED`) are this twin's own choices or read off third-party
ROI placements, not the ACR drawing; the analyzers may use them only as search starting points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "ACR_LARGE",
    "MAGNET_FLOOD",
    "MAGNET_SLICE_WIDTH",
    "UNCONFIRMED",
    "AcrLargePhantom",
    "AcrSlice",
    "Grid",
    "HoleArray",
    "HoleArrayPair",
    "LcdSpoke",
    "LowContrastDisk",
    "MagnetFlood",
    "MagnetSliceWidthObject",
    "Num",
    "RampPair",
    "UniformityRois",
    "WedgePair",
    "acr_slice_z_mm",
    "ellipse_axes_mm",
    "point_mm",
]


@dataclass(frozen=True)
class Num:
    """A documented number: its value, unit, source and whether it was confirmed against the source drawing."""

    value: float
    unit: str
    source: str
    confirmed: bool = True


def point_mm(angle_deg: float, distance_mm: float, roll_deg: float = 0.0) -> tuple[float, float]:
    """(x, y) in mm in the phantom frame of a point at ``angle_deg`` and ``distance_mm`` from the axis."""
    a = math.radians(angle_deg + roll_deg)
    return distance_mm * math.cos(a), distance_mm * math.sin(a)


def ellipse_axes_mm(area_mm2: float, axis_ratio: float) -> tuple[float, float]:
    """Semi-axes ``(a, b)`` in mm of an ellipse of ``area_mm2`` with ``a / b = axis_ratio`` (pi a b = area)."""
    b = math.sqrt(area_mm2 / (math.pi * axis_ratio))
    return axis_ratio * b, b


# ---- ACR large phantom --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RampPair:
    """The two crossed 10:1 signal ramps of slice 1 (slice-thickness insert).

    Each ramp is a fluid-filled slot inclined to the image plane with ``dz/dx = +-1/slope_ratio``; a slice of
    thickness T shows each ramp as a bright band along x of FWHM ``slope_ratio * T``. The bands run along x, of
    height ``band_height_mm`` in y, centred at ``y_mm`` (upper ramp first). The dark insert that holds them is a
    rectangle ``insert_width_mm`` x ``insert_height_mm`` centred on the axis. At ``z = z_cross_mm`` both ramps
    are centred at ``x = 0``; ``slot_thickness_mm`` is the slot's extent along z.
    """

    slope_ratio: float = 10.0           # [ACR] "10:1", ramps at arctan(0.1) = 5.71 deg to the slice
    y_mm: tuple[float, float] = (-3.0, 2.5)  # [pylinac] thickness ROIs 3 mm above / 2.5 mm below centre
    band_height_mm: float = 2.0         # twin's own (confirmed=False); real bands are weak, partial-volumed slots
    length_mm: float = 170.0            # twin's own: the ramps run the insert's length
    insert_width_mm: float = 178.0      # [real] dark insert x = -89..+89 mm on GE, Philips, SolaFit slice 1
    insert_height_mm: float = 11.5      # [real] y = -5.7..+5.8 mm on the same three series
    slot_thickness_mm: float = 1.0      # [ACR/hazen doc] "1 mm wide slots"; < T so FWHM stays slope_ratio * T
    z_cross_mm: float = 0.0

    @property
    def angle_deg(self) -> float:
        return math.degrees(math.atan(1.0 / self.slope_ratio))


@dataclass(frozen=True)
class WedgePair:
    """Two 45-deg crossed wedges seen as two dark vertical bars side by side (slices 1 and 11).

    The bars run from the phantom's inner wall (``y = -R``) down to ``y = y_end_mm`` when the slice is at the
    wedge vertex; a slice displaced by ``dz`` along +z lengthens the right bar by ``dz / tan(45 deg)`` and shortens
    the left bar by the same, so ``bar_difference = right - left = 2 dz`` (ACR: "twice the displacement").
    Left bar spans ``x in [-gap/2 - width, -gap/2]``, right bar ``[gap/2, gap/2 + width]``.
    """

    z_mm: float                          # vertex position along z
    width_mm: float = 5.5                # [real] the bar pair spans x = -5.5..+5.5 mm on GE 512^2 slice 1
    gap_mm: float = 0.0                  # [real] no visible gap between the bars
    y_end_mm: float = -61.0              # [real] bar ends at y = -61 mm (GE slice 1); [pylinac] ROI at 65 +- 12.5
    wedge_angle_deg: float = 45.0        # [ACR]

    @property
    def bar_difference_per_mm_offset(self) -> float:
        """d(bar_difference)/d(dz) = 2 / tan(wedge angle) = 2 for 45 deg wedges [ACR]."""
        return 2.0 / math.tan(math.radians(self.wedge_angle_deg))

    @property
    def left_x_mm(self) -> float:
        return -self.gap_mm / 2 - self.width_mm / 2

    @property
    def right_x_mm(self) -> float:
        return self.gap_mm / 2 + self.width_mm / 2


@dataclass(frozen=True)
class HoleArray:
    """A 4 x 4 array of fluid-filled holes of ``diameter_mm``, pitch ``2 x diameter`` [ACR], centred at (x, y)."""

    diameter_mm: float
    x_mm: float
    y_mm: float
    n: int = 4  # [ACR] 4 x 4

    @property
    def pitch_mm(self) -> float:
        return 2.0 * self.diameter_mm

    def hole_centres_mm(self) -> tuple[tuple[float, float], ...]:
        off = (self.n - 1) / 2.0
        return tuple((self.x_mm + (i - off) * self.pitch_mm, self.y_mm + (j - off) * self.pitch_mm)
                     for j in range(self.n) for i in range(self.n))


@dataclass(frozen=True)
class HoleArrayPair:
    """The upper-left (left-right resolution) and lower-right (up-down resolution) arrays of one hole size."""

    diameter_mm: float
    upper_left: HoleArray
    lower_right: HoleArray


def _hole_pair(d: float, cx: float, cy: float) -> HoleArrayPair:
    # LR array = UL array shifted by one array pitch period n x pitch = 8 d along x and y [real, GE 512^2:
    # the LR array's first row/column sits one pitch beyond the UL array's last].
    s = 4 * 2.0 * d
    return HoleArrayPair(d, HoleArray(d, cx - s / 2, cy - s / 2), HoleArray(d, cx + s / 2, cy + s / 2))


@dataclass(frozen=True)
class Grid:
    """Slice 5 geometry grid: dark lines ``line_mm`` wide at ``pitch_mm`` inside a circle of ``diameter_mm``."""

    pitch_mm: float = 15.0        # twin's own, close to the Siemens slice-5 grid (confirmed=False)
    line_mm: float = 1.5          # twin's own (confirmed=False)
    diameter_mm: float = 150.0    # twin's own (confirmed=False)


@dataclass(frozen=True)
class LowContrastDisk:
    spoke: int          # 1..10, 1 = largest
    index: int          # 1..3 from the centre out
    diameter_mm: float
    radius_mm: float    # distance of the disk centre from the LCD centre
    angle_deg: float    # phantom frame, clockwise from 3 o'clock, before roll


@dataclass(frozen=True)
class LcdSpoke:
    number: int
    angle_deg: float
    diameter_mm: float
    disks: tuple[LowContrastDisk, ...]


@dataclass(frozen=True)
class UniformityRois:
    """Slice 7 ROI rules [ACR]: large ROI area, small (1 cm^2) search ROIs, ghost ellipses outside the phantom."""

    large_area_mm2: float = 20000.0      # [ACR] 195-205 cm^2 -> 200 cm^2
    large_center_dy_mm: float = 0.0      # ACR: centred; [pylinac] uses +5 mm (below centre), not adopted
    small_area_mm2: float = 100.0        # [ACR] 1 cm^2
    ghost_area_mm2: float = 1000.0       # [ACR] 10 cm^2
    ghost_axis_ratio: float = 4.0        # [ACR] length:width about 4:1

    @property
    def large_radius_mm(self) -> float:
        return math.sqrt(self.large_area_mm2 / math.pi)

    @property
    def small_radius_mm(self) -> float:
        return math.sqrt(self.small_area_mm2 / math.pi)

    @property
    def ghost_semi_axes_mm(self) -> tuple[float, float]:
        return ellipse_axes_mm(self.ghost_area_mm2, self.ghost_axis_ratio)


@dataclass(frozen=True)
class AcrSlice:
    number: int        # 1..11
    z_mm: float
    contents: tuple[str, ...]


def acr_slice_z_mm(number: int) -> float:
    """Centre of ACR slice ``number`` (1..11) along z, from slice 1: 10 mm steps [ACR]."""
    if not 1 <= int(number) <= 11:
        raise ValueError(f"ACR slice number must be 1..11, got {number!r}")
    return 10.0 * (int(number) - 1)


@dataclass(frozen=True)
class AcrLargePhantom:
    """The ACR large MRI phantom (all lengths mm)."""

    inner_diameter_mm: float = 190.0     # [ACR]
    inner_length_mm: float = 148.0       # [ACR]
    wall_mm: float = 6.4                 # twin's own: 1/4 in acrylic wall (confirmed=False); outer ~203 mm
    n_slices: int = 11                   # [ACR]
    slice_thickness_mm: float = 5.0      # [ACR]
    slice_spacing_mm: float = 10.0       # [ACR] 5 mm gap
    slice1_to_inner_end_mm: float = 24.0  # twin's own: slice 1 centre to the inferior inner end (confirmed=False)
    ramps: RampPair = RampPair()
    wedges_slice1: WedgePair = WedgePair(z_mm=0.0)      # [ACR] slice 1 at the vertex
    wedges_slice11: WedgePair = WedgePair(z_mm=100.0)   # [ACR] slice 11 at the second vertex
    # [ACR] hole sizes; pair centres measured on GE 512^2 slice 1 [real] (agree within 1.5 mm with [pylinac]'s
    # Row/Col ROI centres, which give (-14.0, 39.4), (8.9, 39.0), (31.5, 39.5)):
    hole_pairs: tuple[HoleArrayPair, ...] = (_hole_pair(1.1, -13.3, 38.0), _hole_pair(1.0, 9.0, 38.0),
                                             _hole_pair(0.9, 32.3, 38.0))
    # dark resolution insert block that holds the holes [real, GE slice 1]: x0, x1, y0, y1
    resolution_block_mm: tuple[float, float, float, float] = (-58.0, 57.0, 19.0, 57.0)
    # two bright 8 mm alignment squares in the resolution block [real, GE slice 1]: centres (x, y), side
    alignment_squares_mm: tuple[tuple[float, float], ...] = ((-44.0, 35.0), (-33.0, 44.0))
    alignment_square_side_mm: float = 8.0
    # ring (dark annulus, fluid inside) at the upper left of slice 1 [real: Philips, SolaFit, GE]: centre, radii
    slice1_ring_center_mm: tuple[float, float] = (-45.0, -50.0)
    slice1_ring_radii_mm: tuple[float, float] = (12.0, 18.0)
    grid: Grid = Grid()
    uniformity: UniformityRois = UniformityRois()
    lcd_slices: tuple[int, ...] = (8, 9, 10, 11)                 # [ACR]
    lcd_contrast_percent: tuple[float, ...] = (1.4, 2.5, 3.6, 5.1)  # [ACR], slices 8..11
    # [real] circle fit of the LCD ring on slice 11 of GE, GE Artist, Philips, Siemens, SolaFit: centre
    # x = -2.5..1.2, y = 5.9..7.5 mm (below the outline centre), ring inner radius 44.0 +- 0.2 mm, outer ~52
    lcd_center_mm: tuple[float, float] = (0.0, 6.5)
    lcd_region_diameter_mm: float = 88.0                         # [real] fluid disk inside the ring
    lcd_ring_outer_diameter_mm: float = 104.0                    # [real] approx.
    lcd_spokes: int = 10                                         # [ACR]
    lcd_disk_radii_mm: tuple[float, ...] = (12.5, 25.0, 38.0)    # [hazen]
    lcd_diameter_max_mm: float = 7.0                             # [ACR]
    lcd_diameter_min_mm: float = 1.5                             # [ACR]
    # spoke 1 (largest disks) angle on slice 11: [hazen] search starts 25 deg clockwise of 12 o'clock (-65 deg);
    # measured on all five real series here (phantomqc.mr.lcd fits): about -63 deg on slice 11, and the sheet turns
    # by +9 deg from each LCD slice to the next (about -90, -81, -72, -63 on slices 8..11). confirmed=False
    lcd_spoke1_angle_deg: float = -63.0
    lcd_sheet_step_deg: float = 9.0
    lcd_spoke_direction: int = 1                                  # +1: sizes decrease clockwise [hazen]

    def slice_z_mm(self, number: int) -> float:
        return acr_slice_z_mm(number)

    def slices(self) -> tuple[AcrSlice, ...]:
        contents = {1: ("slice_thickness_ramps", "slice_position_wedges", "hole_arrays", "geometry"),
                    5: ("grid", "geometry"), 7: ("uniform", "ghosting", "snr"),
                    11: ("slice_position_wedges", "low_contrast")}
        for k in (8, 9, 10):
            contents[k] = ("low_contrast",)
        return tuple(AcrSlice(k, self.slice_z_mm(k), contents.get(k, ("uniform",))) for k in range(1, 12))

    @property
    def lcd_diameters_mm(self) -> tuple[float, ...]:
        """7.0 -> 1.5 mm in 10 equal steps [ACR]/[hazen]: 7.00, 6.39, 5.78, ... 1.50."""
        n = self.lcd_spokes
        step = (self.lcd_diameter_max_mm - self.lcd_diameter_min_mm) / (n - 1)
        return tuple(self.lcd_diameter_max_mm - i * step for i in range(n))

    def lcd_spoke1_angle_for_slice(self, number: int) -> float:
        """Spoke-1 angle on LCD slice ``number`` (8..11): the slice-11 angle minus the sheet step per slice."""
        return self.lcd_spoke1_angle_deg - self.lcd_sheet_step_deg * (self.lcd_slices[-1] - int(number))

    def lcd_spoke_table(self, slice_number: int | None = None) -> tuple[LcdSpoke, ...]:
        """The 10 spokes; on LCD slice ``slice_number`` turned by the sheet step (None: as on slice 11)."""
        base = self.lcd_spoke1_angle_deg if slice_number is None else self.lcd_spoke1_angle_for_slice(slice_number)
        out = []
        for i, d in enumerate(self.lcd_diameters_mm):
            ang = base + self.lcd_spoke_direction * i * 360.0 / self.lcd_spokes
            disks = tuple(LowContrastDisk(i + 1, j + 1, d, r, ang) for j, r in enumerate(self.lcd_disk_radii_mm))
            out.append(LcdSpoke(i + 1, ang, d, disks))
        return tuple(out)

    def lcd_contrast_for_slice(self, number: int) -> float:
        return self.lcd_contrast_percent[self.lcd_slices.index(int(number))]

    @property
    def inner_radius_mm(self) -> float:
        return self.inner_diameter_mm / 2

    @property
    def outer_diameter_mm(self) -> float:
        return self.inner_diameter_mm + 2 * self.wall_mm


ACR_LARGE = AcrLargePhantom()

# ---- MagNET objects -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MagnetFlood:
    """MagNET flood-field object as imaged: a uniform cylinder seen end-on (axial) or a rectangle (sag/cor)."""

    diameter_mm: float = 190.0   # twin's own, close to the real flood images' extent (confirmed=False)
    length_mm: float = 200.0     # twin's own (confirmed=False)


@dataclass(frozen=True)
class MagnetSliceWidthObject:
    """MagNET geometry / slice-width object: a square block with rods for in-plane geometry and two pairs of
    crossed ramps for slice width.

    Ramps are thin inclined plates (``tan(angle) = ramp_tan``); a slice of FWHM T shows each as a band of length
    ``T / ramp_tan`` along its direction. ``pair_y_mm``: the two horizontal pairs' y centres; each pair has an upper
    and a lower ramp ``pair_sep_mm`` apart with opposite slopes. Rods: 3 x 3 grid at ``rod_pitch_mm``.
    """

    size_mm: float = 190.0          # twin's own (confirmed=False)
    ramp_tan: float = 0.2           # MagNET/IPEM 112 slice-width plates at 11.3 deg (tan = 0.2) (confirmed=False)
    ramp_length_mm: float = 100.0   # twin's own (confirmed=False)
    ramp_band_mm: float = 2.0       # twin's own (confirmed=False)
    pair_y_mm: tuple[float, float] = (-20.0, 20.0)  # twin's own (confirmed=False)
    pair_sep_mm: float = 6.0        # twin's own (confirmed=False)
    rod_pitch_mm: float = 60.0      # twin's own (confirmed=False)
    rod_diameter_mm: float = 6.0    # twin's own (confirmed=False)


MAGNET_FLOOD = MagnetFlood()
MAGNET_SLICE_WIDTH = MagnetSliceWidthObject()

#: Every number above that is this twin's own or read off third-party ROI placements (``confirmed=False``).
UNCONFIRMED: dict[str, Num] = {
    "ramps.band_height_mm": Num(2.0, "mm", "twin's own", False),
    "wedges.width_mm": Num(5.5, "mm", "measured on one real series, not the drawing", False),
    "wedges.y_end_mm": Num(-61.0, "mm", "measured on one real series, not the drawing", False),
    "wall_mm": Num(6.4, "mm", "1/4 in acrylic wall", False),
    "slice1_to_inner_end_mm": Num(24.0, "mm", "twin's own", False),
    "hole_pairs.centres": Num(38.0, "mm", "measured on GE slice 1; pylinac ROIs agree within 1.5 mm", False),
    "resolution_block_mm": Num(115.0, "mm", "measured on GE slice 1", False),
    "grid": Num(15.0, "mm", "twin's own pitch / line / extent", False),
    "lcd_center_mm": Num(6.5, "mm", "measured on 5 real series (y below the outline centre)", False),
    "lcd_spoke1_angle_deg": Num(-63.0, "deg", "slice 11, fitted on five real series; hazen starts at -65", False),
    "lcd_sheet_step_deg": Num(9.0, "deg", "turn per LCD slice, fitted on five real series", False),
    "magnet.flood": Num(190.0, "mm", "twin's own", False),
    "magnet.slice_width": Num(0.2, "1", "ramp tangent; pair layout twin's own", False),
}
