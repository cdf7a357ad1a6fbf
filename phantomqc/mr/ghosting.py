"""MR ghosting: the ACR percent-signal ghosting (slice 7) and the MagNET / IPEM small-bottle ghosting.

Measurement ids: ``mr.ghosting.ratio``, ``mr.ghosting.percent``, ``mr.ghosting.small_bottle_percent``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from phantomqc._shared.errors import InputError, PhantomNotFoundError
from phantomqc.core.roi import RectROI
from phantomqc.core.types import Quantity
from phantomqc.mr.geometry import ACR_LARGE
from phantomqc.mr.snr import DiscROI, _as_image, _center, _disc_mask, _ellipse_mask, _phantom, _spacing

__all__ = ["ACRGhostingResult", "EllipseROI", "SmallBottleGhostingResult", "acr_ghosting", "small_bottle_ghosting"]


_ACR_U = ACR_LARGE.uniformity  # slice-7 ROI rules (large 200 cm^2; ghost ellipses 10 cm^2, 4:1)


def _pe_direction(value: str) -> str:
    """Normalise (0018,1312) In-plane Phase Encoding Direction: 'ROW' (phase along a row, i.e. left-right) or
    'COL' (along a column, top-bottom)."""
    v = str(value).strip().upper()
    if v in ("ROW", "ROWS", "LR", "RL", "HORIZONTAL", "X"):
        return "ROW"
    if v in ("COL", "COLUMN", "COLUMNS", "AP", "PA", "VERTICAL", "Y"):
        return "COL"
    raise InputError(f"phase_encoding_direction must be 'ROW' or 'COL' as in (0018,1312) In-plane Phase Encoding "
                     f"Direction, got {value!r}")


@dataclass(frozen=True)
class EllipseROI:
    """An elliptical ROI: centre (row, col) in pixels, semi-axes along rows (y) and columns (x) in mm."""

    name: str
    row: float
    col: float
    semi_y_mm: float
    semi_x_mm: float
    n_pixels: int = 0


@dataclass(frozen=True)
class ACRGhostingResult:
    """ACR percent-signal ghosting on slice 7.

    ``ratio`` (id ``mr.ghosting.ratio``, unit "1") = |((top + bottom) - (left + right)) / (2 large)|; ``percent``
    (id ``mr.ghosting.percent``) = 100 ratio. ``phase_pair`` names the ROI pair lying along the phase-encode
    direction (``"left_right"`` for 'ROW', ``"top_bottom"`` for 'COL'), and ``signed_phase_ratio`` =
    ((phase pair) - (frequency pair)) / (2 large), positive when the excess signal is along the phase direction,
    as ghosts should be.
    """

    ratio: Quantity
    percent: Quantity
    signed_phase_ratio: float
    phase_encoding_direction: str
    phase_pair: str
    means: dict[str, float]
    large_roi: DiscROI
    ghost_rois: tuple[EllipseROI, ...]
    warnings: tuple[str, ...] = ()
    parameters: dict = field(default_factory=dict)


def acr_ghosting(image: np.ndarray, spacing_mm: tuple[float, float], *, center_px: tuple[float, float] | None = None,
                 radius_mm: float | None = None, phase_encoding_direction: str = "ROW",
                 large_roi_area_cm2: float = _ACR_U.large_area_mm2 / 100.0,
                 ghost_roi_area_cm2: float = _ACR_U.ghost_area_mm2 / 100.0,
                 ghost_roi_axis_ratio: float = _ACR_U.ghost_axis_ratio, margin_mm: float = 3.0) -> ACRGhostingResult:
    """ACR percent-signal ghosting on slice 7 (ids ``mr.ghosting.ratio`` and ``mr.ghosting.percent``).

    Parameters
    ----------
    image : ndarray
        Slice 7 of the ACR axial series, ``(rows, cols)``.
    spacing_mm : (float, float)
        Pixel spacing (row, column), mm.
    center_px, radius_mm : optional
        Phantom centre (row, col) in pixels and radius in mm; found when not given.
    phase_encoding_direction : {"ROW", "COL"}
        (0018,1312) In-plane Phase Encoding Direction. It does not change the ratio; it decides which ROI pair is
        the phase pair, recorded with the signed ratio.
    large_roi_area_cm2 : float
        Area of the large central ROI (ACR: 200 cm^2).
    ghost_roi_area_cm2, ghost_roi_axis_ratio : float
        The four elliptical background ROIs (ACR: ~10 cm^2, length:width 4:1), long axis parallel to the phantom
        edge, each centred half-way between the phantom edge and the image edge.
    margin_mm : float
        Least clearance between a ghost ROI and the phantom edge or the image edge. Where the gap is too narrow the
        ROI is made thinner and longer (same area) and a warning is given.

    Returns
    -------
    ACRGhostingResult

    Notes
    -----
    ghosting ratio = |((top + bottom) - (left + right)) / (2 x large)|, the means of the four ellipses and of the
    large ROI; percent-signal ghosting = 100 x ratio. ACR limit: ratio <= 0.025 (not applied here).

    References
    ----------
    ACR (2018, 2022) *Large and Medium Phantom Test Guidance for the ACR MRI Accreditation Program*, section 6.
    """
    img = _as_image(image)
    sp = _spacing(spacing_mm)
    pe = _pe_direction(phase_encoding_direction)
    if not (large_roi_area_cm2 > 0 and ghost_roi_area_cm2 > 0 and ghost_roi_axis_ratio >= 1):
        raise InputError("large_roi_area_cm2 and ghost_roi_area_cm2 must be positive and ghost_roi_axis_ratio >= 1")
    center, radius, found = _center(img, sp, center_px, radius_mm)
    if radius is None:
        radius = _phantom(img, sp)[1]
    h, w = img.shape
    f = img.astype(np.float64)
    warnings: list[str] = []
    r_large = math.sqrt(large_roi_area_cm2 * 100.0 / math.pi)
    lmask = _disc_mask(img.shape, sp, center, r_large)
    large = float(f[lmask].mean())
    if not large > 0:
        raise InputError("the large ROI mean is not positive: is this a magnitude image of the phantom?")
    area = ghost_roi_area_cm2 * 100.0
    short0 = math.sqrt(area / (math.pi * ghost_roi_axis_ratio))
    cy, cx = center
    # gap (mm) between the phantom edge and the image edge on each side; pixel centres run 0 .. n-1
    gaps = {"top": cy * sp[0] - radius, "bottom": (h - 1 - cy) * sp[0] - radius,
            "left": cx * sp[1] - radius, "right": (w - 1 - cx) * sp[1] - radius}
    rois, means = [], {}
    for name, gap in gaps.items():
        short = min(short0, gap / 2.0 - margin_mm)
        if short <= 0.5 * min(sp):
            raise PhantomNotFoundError(f"no room for the {name} ghost ROI: the phantom is {gap:.1f} mm from the image "
                                       "edge; use a larger field of view")
        if short < short0:
            warnings.append(f"{name} ghost ROI made thinner ({2 * short:.1f} mm instead of {2 * short0:.1f} mm) to fit "
                            f"the {gap:.1f} mm between the phantom and the image edge")
        long_ = area / (math.pi * short)
        d = (radius + gap / 2.0)
        if name in ("top", "bottom"):
            c = (cy + (-d if name == "top" else d) / sp[0], cx)
            sy_mm, sx_mm = short, long_
        else:
            c = (cy, cx + (-d if name == "left" else d) / sp[1])
            sy_mm, sx_mm = long_, short
        m = _ellipse_mask(img.shape, sp, c, sy_mm, sx_mm)
        if m.sum() < 4:
            raise PhantomNotFoundError(f"the {name} ghost ROI lies outside the image: check the phantom centre")
        means[name] = float(f[m].mean())
        rois.append(EllipseROI(name, c[0], c[1], sy_mm, sx_mm, int(m.sum())))
    tb, lr = means["top"] + means["bottom"], means["left"] + means["right"]
    ratio = abs((tb - lr) / (2.0 * large))
    phase_pair = "left_right" if pe == "ROW" else "top_bottom"
    signed = ((lr - tb) if pe == "ROW" else (tb - lr)) / (2.0 * large)
    means["large"] = large
    return ACRGhostingResult(
        ratio=Quantity(ratio, "1"), percent=Quantity(100.0 * ratio, "%"), signed_phase_ratio=signed,
        phase_encoding_direction=pe, phase_pair=phase_pair, means=means,
        large_roi=DiscROI("large", cy, cx, r_large, int(lmask.sum())), ghost_rois=tuple(rois),
        warnings=tuple(warnings),
        parameters={"large_roi_area_cm2": large_roi_area_cm2, "ghost_roi_area_cm2": ghost_roi_area_cm2,
                    "ghost_roi_axis_ratio": ghost_roi_axis_ratio, "margin_mm": margin_mm,
                    "phantom_radius_mm": radius, "center_found": found, "center_px": center})


@dataclass(frozen=True)
class SmallBottleGhostingResult:
    """MagNET / IPEM small-bottle ghosting (id ``mr.ghosting.small_bottle_percent``).

    ``percent`` = 100 |ghost - noise| / signal; ``signal_roi`` on the bottle, ``ghost_roi`` the band along the
    phase-encode direction through the bottle, ``noise_rois`` background squares outside that band.
    """

    percent: Quantity
    signal: float
    ghost: float
    noise: float
    phase_encoding_direction: str
    bottle_bbox_px: tuple[int, int, int, int]
    signal_roi: RectROI
    ghost_roi: RectROI
    noise_rois: tuple[RectROI, ...]
    warnings: tuple[str, ...] = ()
    parameters: dict = field(default_factory=dict)


def _bottle_bbox(f: np.ndarray, threshold_fraction: float) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) pixel rows/cols of the largest object above threshold_fraction x max."""
    sm = ndimage.uniform_filter(f, 3)
    mx = float(sm.max())
    if not mx > 0:
        raise PhantomNotFoundError("no signal in the image: expected a small bottle")
    lab, _ = ndimage.label(sm > threshold_fraction * mx)
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    rows, cols = np.nonzero(lab == int(np.argmax(sizes)))
    return int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())


def small_bottle_ghosting(image: np.ndarray, spacing_mm: tuple[float, float], *, phase_encoding_direction: str = "ROW",
                          roi_size_mm: float = 10.0, gap_mm: float = 21.0, edge_margin_mm: float = 3.5,
                          threshold_fraction: float = 0.4) -> SmallBottleGhostingResult:
    """Ghosting of a small bottle placed off-centre, the MagNET / IPEM Report 112 method
    (id ``mr.ghosting.small_bottle_percent``).

    Parameters
    ----------
    image : ndarray
        Image of the small bottle, placed off-centre so that its ghosts along the phase-encode direction fall on
        empty background, ``(rows, cols)``.
    spacing_mm : (float, float)
        Pixel spacing (row, column), mm.
    phase_encoding_direction : {"ROW", "COL"}
        (0018,1312) In-plane Phase Encoding Direction: the ghosts lie along it.
    roi_size_mm : float
        Side of the square signal ROI (on the bottle) and of the four noise ROIs (10 mm).
    gap_mm : float
        Clearance between the bottle and the ghost band, so that no ringing at the bottle edge is counted (MagNET:
        30 pixels; 21 mm at the 0.71 mm of its protocol).
    edge_margin_mm : float
        Distance of the ghost band from the image edge.
    threshold_fraction : float
        The bottle is the largest object above this fraction of the image maximum.

    Returns
    -------
    SmallBottleGhostingResult

    Notes
    -----
    ghosting = 100 x |S_ghost - S_noise| / S_signal, with S_signal the mean of a square ROI at the bottle centre,
    S_ghost the mean of the band covering the bottle's extent across the phase direction and running along the
    phase direction from ``gap_mm`` beyond the bottle to the far image edge, and S_noise the mean of four
    background squares in the quarter of the image away from the bottle (outside the ghost band), spaced from
    the bottle's position towards the far side. This is IPEM Report 112's "(S_g - S_n)/(S_p - S_n)" with the
    noise left out of the denominator, as the MagNET script does (S_n << S_p). On a magnitude image the ghost
    does not add linearly to the Rayleigh noise floor (E|g + n| != g + E|n|): for a ghost of a few sigma the result
    is low by up to ~1.25 sigma / S_signal, a property of the method.
    """
    img = _as_image(image)
    sp = _spacing(spacing_mm)
    pe = _pe_direction(phase_encoding_direction)
    if not 0 < threshold_fraction < 1:
        raise InputError(f"threshold_fraction must be in (0, 1), got {threshold_fraction!r}")
    f = img.astype(np.float64)
    h, w = img.shape
    top, bottom, left, right = _bottle_bbox(f, threshold_fraction)
    cr, cc = (top + bottom) / 2.0, (left + right) / 2.0
    nr = max(2, int(round(roi_size_mm / sp[0])))
    nc = max(2, int(round(roi_size_mm / sp[1])))
    sig_roi = RectROI(int(round(cr - (nr - 1) / 2)), int(round(cc - (nc - 1) / 2)), nr, nc, "signal")
    warnings: list[str] = []
    if pe == "ROW":  # ghosts along the row direction: band = the bottle's rows, across columns
        gap = int(round(gap_mm / sp[1]))
        edge = int(round(edge_margin_mm / sp[1]))
        if cc >= w / 2.0:
            c0, c1 = edge, left - gap
        else:
            c0, c1 = right + gap + 1, w - edge
        if c1 - c0 < 2:
            raise PhantomNotFoundError("no room for the ghost band beside the bottle: place it nearer an image edge")
        ghost_roi = RectROI(top, c0, bottom - top + 1, c1 - c0, "ghost")
        nrow = int(round(0.75 * h)) if cr < h / 2.0 else int(round(0.25 * h))
        far = 0.0 if cc >= w / 2.0 else float(w)
        step = (far - cc) / 4.0
        centres = [(nrow, cc + i * step) for i in range(4)]
    else:
        gap = int(round(gap_mm / sp[0]))
        edge = int(round(edge_margin_mm / sp[0]))
        if cr >= h / 2.0:
            r0, r1 = edge, top - gap
        else:
            r0, r1 = bottom + gap + 1, h - edge
        if r1 - r0 < 2:
            raise PhantomNotFoundError("no room for the ghost band beside the bottle: place it nearer an image edge")
        ghost_roi = RectROI(r0, left, r1 - r0, right - left + 1, "ghost")
        ncol = int(round(0.75 * w)) if cc < w / 2.0 else int(round(0.25 * w))
        far = 0.0 if cr >= h / 2.0 else float(h)
        step = (far - cr) / 4.0
        centres = [(cr + i * step, ncol) for i in range(4)]
    noise_rois = []
    for i, (r, c) in enumerate(centres):
        r0 = int(np.clip(round(r - (nr - 1) / 2), 0, h - nr))
        c0 = int(np.clip(round(c - (nc - 1) / 2), 0, w - nc))
        noise_rois.append(RectROI(r0, c0, nr, nc, f"noise{i + 1}"))
    s = float(f[sig_roi.slices].mean())
    g = float(f[ghost_roi.slices].mean())
    n = float(np.concatenate([f[r.slices].ravel() for r in noise_rois]).mean())
    if not (s > g and s > n):
        raise PhantomNotFoundError("the bottle signal is not above the ghost and noise levels: is the bottle in the "
                                   "image and the image a magnitude image?")
    for r in noise_rois:
        if f[r.slices].mean() > 0.2 * s:
            warnings.append(f"noise ROI {r.name} has a mean above 20 % of the bottle signal: it may overlap an object")
    pct = 100.0 * abs(g - n) / s
    return SmallBottleGhostingResult(
        percent=Quantity(pct, "%"), signal=s, ghost=g, noise=n, phase_encoding_direction=pe,
        bottle_bbox_px=(top, bottom, left, right), signal_roi=sig_roi, ghost_roi=ghost_roi,
        noise_rois=tuple(noise_rois), warnings=tuple(warnings),
        parameters={"roi_size_mm": roi_size_mm, "gap_mm": gap_mm, "edge_margin_mm": edge_margin_mm,
                    "threshold_fraction": threshold_fraction})
