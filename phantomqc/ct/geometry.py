"""Declarative geometry of the CT phantoms, in mm and degrees. Data only.

The same tables drive the digital twins (``reference_phantoms.ct``) and the analyzers, as a physical phantom's
drawing drives both its manufacture and its analysis.

Conventions
-----------
* In-plane phantom frame: ``x`` to the image right (increasing column), ``y`` to the image bottom (increasing row),
  origin at the phantom axis. A point at ``(angle_deg, distance_mm)`` is at
  ``x = d cos(angle + roll)``, ``y = d sin(angle + roll)``: 0 deg is 3 o'clock, -90 deg is 12 o'clock, 90 deg is
  6 o'clock, 180 deg is 9 o'clock (angles grow clockwise on the screen).
* ``z``: along the phantom axis, in the direction of increasing DICOM patient z (ImagePositionPatient[2]), measured
  from the origin module's centre (CTP404 for a CatPhan, module 1 for ACR 464, the middle of a water phantom).
* A module occupies ``[z_min_mm, z_max_mm]`` and is analysed at ``offset_mm``.

Sources (facts, not code): the public CatPhan 500/600 manual geometry as tabulated by pylinac ``ct.py``
(CTP404 inserts at 58.7 mm, 23 deg wire ramps at 38 mm, 50 mm geometry square, module offsets 504/600/604,
CTP515 1 % target angles at 50 mm, CTP486 53 mm ROIs) and ``acr.py`` (ACR 464 module layout); nominal insert
CT numbers from the CatPhan manual ranges (Air -1000, PMP -196, LDPE -104, Polystyrene -47, Acrylic 115,
Delrin 365, Teflon 1000, 20 % bone 237, 50 % bone 725). The 0.5 % and 0.3 % CTP515 groups and the CTP528 arc
layout beyond group 8 are this twin's own (the manual gives the diameters and frequencies, not angles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["Insert", "Ramp", "Hole", "LinePairGroup", "Bead", "LowContrastTarget", "Module", "CTPhantom",
           "PHANTOMS", "get_phantom", "RAMP_ANGLE_DEG", "RAMP_FACTOR", "point_mm", "CATPHAN504", "CATPHAN600",
           "CATPHAN604", "ACR464", "WATER200"]

RAMP_ANGLE_DEG = 23.0
#: tan(23 deg) = 0.4245; WS 519-2019 rounds it to 0.42. phantomqc uses the exact tangent and says so.
RAMP_FACTOR = math.tan(math.radians(RAMP_ANGLE_DEG))


def point_mm(angle_deg: float, distance_mm: float, roll_deg: float = 0.0) -> tuple[float, float]:
    """(x, y) in mm in the phantom frame of a point at ``angle_deg`` and ``distance_mm`` from the axis."""
    a = math.radians(angle_deg + roll_deg)
    return distance_mm * math.cos(a), distance_mm * math.sin(a)


@dataclass(frozen=True)
class Insert:
    """A cylindrical insert along z: nominal CT number ``hu`` (the value the analyzer compares with)."""

    name: str
    angle_deg: float
    distance_mm: float
    diameter_mm: float
    hu: float


@dataclass(frozen=True)
class Ramp:
    """A thin wire inclined at ``RAMP_ANGLE_DEG`` to the axial plane.

    The wire's in-plane projection is a segment centred at ``(angle_deg, distance_mm)`` running along
    ``direction`` ("x" or "y", in the phantom frame) over ``length_mm``; along that segment the wire's z changes
    by ``tan(23 deg)`` per mm, so a slice of SSP FWHM T shows a line of length T / tan(23 deg).
    ``sign`` (+1 or -1) says whether z grows or falls along +direction (CatPhan ramps come in opposed pairs).
    """

    name: str
    angle_deg: float
    distance_mm: float
    direction: str
    length_mm: float = 40.0
    sign: int = 1
    hu: float = 600.0  # peak contrast of the wire in a slice that contains it fully (twin's value)


@dataclass(frozen=True)
class Hole:
    """A small air hole (or pin) along z, used for in-plane geometry."""

    name: str
    x_mm: float
    y_mm: float
    diameter_mm: float
    hu: float = -1000.0


@dataclass(frozen=True)
class LinePairGroup:
    """One group of ``n_bars`` radial bars of width ``5 / lp_per_cm`` mm (bar = gap), centred on the arc at
    ``angle_deg``, from ``r_inner_mm`` to ``r_outer_mm``; the bars' contrast is ``hu`` over the background."""

    lp_per_cm: float
    n_bars: int
    angle_deg: float
    r_inner_mm: float
    r_outer_mm: float
    hu: float

    @property
    def bar_width_mm(self) -> float:
        return 5.0 / self.lp_per_cm


@dataclass(frozen=True)
class Bead:
    """A small high-contrast bead (point source) for the PSF; z is the bead's own z in the phantom frame."""

    x_mm: float
    y_mm: float
    z_mm: float
    diameter_mm: float
    hu: float  # twin: integrated strength hu x (pi d^2 / 4) x 2.5 mm; see reference_phantoms.ct


@dataclass(frozen=True)
class LowContrastTarget:
    """A supra-slice low-contrast rod: nominal contrast in percent of 1000 HU (1 % = 10 HU) over the module
    background, diameter in mm."""

    group: str
    contrast_percent: float
    diameter_mm: float
    angle_deg: float
    distance_mm: float

    @property
    def contrast_hu(self) -> float:
        return self.contrast_percent * 10.0

    @property
    def label(self) -> str:
        return f"{self.contrast_percent:g}%_{self.diameter_mm:g}mm"


@dataclass(frozen=True)
class Module:
    """A slab of the phantom: its name, analysis offset and extent along z, background CT number and contents."""

    name: str
    kind: str  # "hu_geometry" | "uniformity" | "line_pairs" | "low_contrast" | "acr_hu" | "acr_low_contrast"
    #             | "acr_uniformity" | "acr_resolution" | "water"
    offset_mm: float
    z_min_mm: float
    z_max_mm: float
    background_hu: float = 0.0
    inserts: tuple[Insert, ...] = ()
    ramps: tuple[Ramp, ...] = ()
    holes: tuple[Hole, ...] = ()
    line_pairs: tuple[LinePairGroup, ...] = ()
    beads: tuple[Bead, ...] = ()
    targets: tuple[LowContrastTarget, ...] = ()


@dataclass(frozen=True)
class CTPhantom:
    """A cylindrical CT phantom: outer diameter, wall, and modules along z."""

    id: str
    title: str
    diameter_mm: float
    modules: tuple[Module, ...]
    origin_module: str
    wall_mm: float = 0.0
    wall_hu: float = 120.0
    notes: str = ""
    extra: dict = field(default_factory=dict)

    def module(self, name: str) -> Module:
        for m in self.modules:
            if m.name == name:
                return m
        raise KeyError(f"{self.id} has no module {name!r}; it has {[m.name for m in self.modules]}")

    @property
    def z_min_mm(self) -> float:
        return min(m.z_min_mm for m in self.modules)

    @property
    def z_max_mm(self) -> float:
        return max(m.z_max_mm for m in self.modules)


# ---- CatPhan ------------------------------------------------------------------------------------------------------
_INSERT_D = 12.2  # CTP404 sensitometry inserts, mm
_INSERT_R = 58.7

_AIR, _PMP, _LDPE, _POLY, _ACRYLIC, _DELRIN, _TEFLON = -1000.0, -196.0, -104.0, -47.0, 115.0, 365.0, 1000.0
_BONE20, _BONE50, _WATER = 237.0, 725.0, 0.0


def _inserts(spec: tuple[tuple[str, float, float], ...]) -> tuple[Insert, ...]:
    return tuple(Insert(n, a, _INSERT_R, _INSERT_D, hu) for n, a, hu in spec)


# CatPhan 504/604 carry a second air insert at 6 o'clock, opposite the first (the pair that roll finders such as
# pylinac's rely on)
_CTP404_504 = _inserts((("Air", -90, _AIR), ("PMP", -120, _PMP), ("LDPE", 180, _LDPE), ("Polystyrene", 120, _POLY),
                        ("Acrylic", 60, _ACRYLIC), ("Air 2", 90, _AIR), ("Delrin", 0, _DELRIN),
                        ("Teflon", -60, _TEFLON)))
_CTP404_604 = _inserts((("Air", -90, _AIR), ("PMP", -120, _PMP), ("Bone 50%", -150, _BONE50), ("LDPE", 180, _LDPE),
                        ("Polystyrene", 120, _POLY), ("Acrylic", 60, _ACRYLIC), ("Air 2", 90, _AIR),
                        ("Bone 20%", 30, _BONE20), ("Delrin", 0, _DELRIN), ("Teflon", -60, _TEFLON)))
_CTP404_600 = _inserts((("Air", 90, _AIR), ("PMP", 60, _PMP), ("LDPE", 0, _LDPE), ("Polystyrene", -60, _POLY),
                        ("Acrylic", -120, _ACRYLIC), ("Delrin", 180, _DELRIN), ("Teflon", 120, _TEFLON),
                        ("Water", -90, _WATER)))

# Four wire ramps 38 mm from the axis at 3, 6, 9 and 12 o'clock, in opposed pairs.
_RAMPS = (Ramp("top", -90, 38.0, "x", sign=1), Ramp("right", 0, 38.0, "y", sign=-1),
          Ramp("bottom", 90, 38.0, "x", sign=-1), Ramp("left", 180, 38.0, "y", sign=1))
# Four 3 mm air holes at the corners of a 50 mm square (in-plane geometry / scaling).
_HOLES = (Hole("upper left", -25.0, -25.0, 3.0), Hole("upper right", 25.0, -25.0, 3.0),
          Hole("lower left", -25.0, 25.0, 3.0), Hole("lower right", 25.0, 25.0, 3.0))


def _line_pair_groups(start_deg: float, radius_mm: float = 47.0, gap_mm: float = 4.0, hu: float = 1000.0,
                      step_sign: int = 1) -> tuple[LinePairGroup, ...]:
    """CTP528: groups 1 to 21 lp/cm laid along the arc at ``radius_mm`` from ``start_deg``, each group's arc
    length (2 n - 1) bar widths, groups separated by ``gap_mm`` of arc."""
    out = []
    s = 0.0  # arc length from the start, mm
    for k in range(1, 22):
        n = 2 if k == 1 else 3 if k == 2 else 4 if k <= 4 else 5
        w = 5.0 / k
        length = (2 * n - 1) * w
        centre = s + length / 2
        ang = start_deg + step_sign * math.degrees(centre / radius_mm)
        out.append(LinePairGroup(float(k), n, ang, radius_mm - 5.0, radius_mm + 5.0, hu))
        s += length + gap_mm
    return tuple(out)


def _ctp515_targets(start_angles: dict[float, float], distance_mm: float = 50.0) -> tuple[LowContrastTarget, ...]:
    """Supra-slice rods 15, 9, 8, 7, 6, 5, 4, 3, 2 mm for each contrast, each group along the arc at
    ``distance_mm``. The 1 % group's first six angles are CatPhan's; the rest keep the same centre-to-centre
    clearance (half the sum of the diameters plus 4.5 mm of arc)."""
    diams = (15.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0)
    out = []
    for contrast, a0 in start_angles.items():
        ang = a0
        for i, d in enumerate(diams):
            if i:
                ang += math.degrees((diams[i - 1] / 2 + d / 2 + 4.5) / distance_mm)
            out.append(LowContrastTarget(f"{contrast:g}%", contrast, d, ang, distance_mm))
    return tuple(out)


_CTP515_504 = _ctp515_targets({1.0: -87.4, 0.5: 32.6, 0.3: 152.6})
_CTP515_600 = _ctp515_targets({1.0: 92.6, 0.5: 212.6, 0.3: 332.6})


def _catphan(pid: str, title: str, ctp404_inserts, offsets: dict[str, tuple[float, float, float]],
             ctp515_targets, lp_start_deg: float, lp_sign: int) -> CTPhantom:
    o = offsets
    bead_module = "CTP528"
    modules = (
        Module("CTP404", "hu_geometry", *o["CTP404"], background_hu=0.0, inserts=ctp404_inserts, ramps=_RAMPS,
               holes=_HOLES),
        Module("CTP486", "uniformity", *o["CTP486"], background_hu=0.0),
        Module("CTP528", "line_pairs", *o["CTP528"], background_hu=0.0,
               line_pairs=_line_pair_groups(lp_start_deg, step_sign=lp_sign),
               # a tungsten-carbide bead: peak about 2000 HU in a 2.5 mm slice (the real bead reads in the thousands)
               beads=(Bead(0.0, 20.0, o[bead_module][0], 0.28, 32000.0),)),
        Module("CTP515", "low_contrast", *o["CTP515"], background_hu=40.0, targets=ctp515_targets),
    )
    return CTPhantom(pid, title, 200.0, modules, "CTP404", wall_mm=0.0,
                     notes="CatPhan-type digital twin: module offsets as the published CatPhan drawings; the "
                           "twin's bars are +1000 HU, its wire ramps +600 HU, its CTP515 background 40 HU.")


# (offset, z_min, z_max) per module, mm from the CTP404 centre
CATPHAN504 = _catphan("catphan504", "CatPhan 504-type", _CTP404_504,
                      {"CTP404": (0.0, -15.0, 15.0), "CTP528": (30.0, 15.0, 45.0),
                       "CTP515": (-30.0, -45.0, -15.0), "CTP486": (-65.0, -95.0, -45.0)},
                      _CTP515_504, 180.0, 1)
CATPHAN604 = _catphan("catphan604", "CatPhan 604-type", _CTP404_604,
                      {"CTP404": (0.0, -15.0, 15.0), "CTP528": (40.0, 25.0, 55.0),
                       "CTP515": (-40.0, -55.0, -25.0), "CTP486": (-80.0, -105.0, -55.0)},
                      _CTP515_504, 180.0, 1)
CATPHAN600 = _catphan("catphan600", "CatPhan 600-type", _CTP404_600,
                      {"CTP404": (0.0, -15.0, 15.0), "CTP528": (-70.0, -85.0, -55.0),
                       "CTP515": (-110.0, -130.0, -90.0), "CTP486": (-160.0, -185.0, -135.0)},
                      _CTP515_600, 174.3, -1)

# ---- ACR CT accreditation phantom (Gammex 464) --------------------------------------------------------------------
_ACR_D = 200.0
ACR464 = CTPhantom(
    "acr464", "ACR 464-type (Gammex 464)", _ACR_D,
    modules=(
        Module("module1", "acr_hu", 0.0, -20.0, 20.0, background_hu=0.0,
               inserts=(Insert("Air", 45, 63.0, 25.0, -1000.0), Insert("Polyethylene", 225, 63.0, 25.0, -95.0),
                        Insert("Acrylic", 135, 63.0, 25.0, 120.0), Insert("Bone", -45, 63.0, 25.0, 955.0),
                        Insert("Water", 180, 63.0, 25.0, 0.0)),
               ramps=(Ramp("top", -90, 38.0, "x", sign=1), Ramp("bottom", 90, 38.0, "x", sign=-1))),
        Module("module2", "acr_low_contrast", 40.0, 20.0, 60.0, background_hu=90.0,
               targets=(LowContrastTarget("0.6%", 0.6, 25.0, -90.0, 50.0),) + tuple(
                   LowContrastTarget("0.6%", 0.6, d, a + math.degrees((k - 1.5) * 2.0 * d / 55.0), 55.0)
                   for d, a in ((6.0, -30.0), (5.0, 30.0), (4.0, 90.0), (3.0, 150.0), (2.0, 210.0))
                   for k in range(4))),
        Module("module3", "acr_uniformity", 80.0, 60.0, 100.0, background_hu=0.0,
               # two BBs 100 mm apart through the axis, 50 mm out: clear of the WS 519 noise ROI (0.4 D = 80 mm)
               holes=(Hole("BB 1", *point_mm(-45.0, 50.0), 1.0, hu=1500.0),
                      Hole("BB 2", *point_mm(135.0, 50.0), 1.0, hu=1500.0))),
        Module("module4", "acr_resolution", 120.0, 100.0, 140.0, background_hu=0.0,
               line_pairs=tuple(LinePairGroup(f, 6, a, 64.0, 76.0, 1000.0)
                                for f, a in ((4.0, -135.0), (5.0, -180.0), (6.0, 135.0), (7.0, 90.0), (8.0, 45.0),
                                             (9.0, 0.0), (10.0, -45.0), (12.0, -90.0)))),
    ),
    origin_module="module1", wall_mm=0.0,
    notes="ACR CT accreditation phantom-type twin: 4 modules of 40 mm, 20 cm diameter; module 2 rods at 6 HU "
          "(0.6 %) over a 90 HU background; module 4 bar groups 4 to 12 lp/cm at 70 mm.",
)

# ---- Water phantom ------------------------------------------------------------------------------------------------
WATER200 = CTPhantom(
    "water200", "20 cm water phantom", 200.0,
    modules=(Module("water", "water", 0.0, -60.0, 60.0, background_hu=0.0),),
    origin_module="water", wall_mm=3.0, wall_hu=120.0,
    notes="Homogeneous water cylinder, 20 cm outer diameter (WS 519-2019: inner diameter 18 to 22 cm) with a "
          "3 mm PMMA wall.",
)

PHANTOMS: dict[str, CTPhantom] = {p.id: p for p in (CATPHAN504, CATPHAN604, CATPHAN600, ACR464, WATER200)}


def get_phantom(phantom_id: str) -> CTPhantom:
    """The phantom geometry for ``phantom_id`` (``catphan504``, ``catphan600``, ``catphan604``, ``acr464``,
    ``water200``)."""
    try:
        return PHANTOMS[phantom_id]
    except KeyError:
        raise KeyError(f"unknown CT phantom {phantom_id!r}; known: {', '.join(PHANTOMS)}") from None
