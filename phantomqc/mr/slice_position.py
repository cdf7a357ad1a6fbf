"""ACR large MRI phantom: slice position from the crossed 45 deg wedges (slices 1 and 11).

Two crossed 45 deg wedges show, at the top of slices 1 and 11, as two dark bars side by side running down from
the wall. A slice displaced by ``dz`` along the phantom axis lengthens one bar and shortens the other by ``dz``
each, so the bar-length difference is ``2 dz`` [ACR].

Method
------
1. **Frame.** Pixels are read in the phantom frame (x right, y down, origin at the centre, rotated by
   ``rotation_deg`` clockwise on the screen) by bilinear interpolation at 1/4 pixel.
2. **Bars across.** The horizontal profile averaged over ``y = bar_row_mm +- 5 mm`` (inside both bars, well above
   their lower ends) is dark around x = 0; the half-level crossings of the dark runs reaching within 10 mm of the
   centre line (a thin septum between the bars may split them) give the pair's outer edges ``xl``, ``xr``; the left bar is ``[xl, (xl + xr)/2]``, the right bar ``[(xl + xr)/2, xr]``.
3. **Bar ends.** For each bar, the vertical profile averaged over the central half of its width; the bar's lower
   end is the first crossing, walking down from inside the bar, of the level half-way between the bar's
   darkness (median over ``bar_row_mm +- 5 mm``) and the phantom signal below it (median over 10 mm starting
   ``below_mm`` under the deepest end candidate), by linear interpolation (sub-pixel).
4. **Lengths.** Each bar's length runs from the inner wall (the top edge of the phantom beside the pair, on
   vertical profiles 4 to 10 mm either side of it, same half-level rule) to its lower end.
5. **Difference** ``= length(right bar) - length(left bar)`` (image left/right as displayed, the bars at the
   top): positive when the right bar is longer. This is the sign convention of hazen 2.0.0's regression values
   (checked on the four real series of ``golden.json``, e.g. GE slice 11: right bar 4.5 mm longer, +4.47) and of
   the twin in ``phantomqc.mr.geometry.WedgePair``. The ACR guidance asks for the difference with a sign; the
   limit ``|difference| <= 5 mm`` does not depend on it.

Measurement id: ``mr.slice_position.bar_difference_mm`` (label ``slice1`` / ``slice11``).

References
----------
ACR, *Large and Medium Phantom Test Guidance for the ACR MRI Accreditation Program* (2018, 2022): slice position
accuracy, bar length difference on slices 1 and 11, limit 5 mm (7 mm in some editions for slice 11).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from phantomqc._shared.errors import PhantomNotFoundError
from phantomqc.core.types import Quantity
from phantomqc.mr.acr_geometry import _check_image, resolve_center
from phantomqc.mr.slice_thickness import frame_sample

__all__ = ["BarProfile", "SlicePositionResult", "acr_slice_position"]


@dataclass(frozen=True)
class BarProfile:
    """One wedge bar: its x range (phantom frame, mm), the vertical profile ``y_mm`` / ``values`` used, the
    lower end ``end_y_mm`` and the ``length_mm`` from the wall."""

    name: str
    x_range_mm: tuple[float, float]
    y_mm: NDArray
    values: NDArray
    end_y_mm: float
    length_mm: Quantity


@dataclass(frozen=True)
class SlicePositionResult:
    """Bar-length difference (``mr.slice_position.bar_difference_mm``), right minus left, with both bars."""

    bar_difference_mm: Quantity
    left: BarProfile
    right: BarProfile
    wall_y_mm: float
    center_px: tuple[float, float]
    rotation_deg: float
    parameters: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def _first_up(y: NDArray, v: NDArray, level: float, i: int) -> float:
    """First crossing of ``level`` from below walking to larger index from ``i``; linear interpolation."""
    while i + 1 < v.size:
        if v[i + 1] >= level > v[i] or (v[i] < level <= v[i + 1]):
            return float(y[i] + (level - v[i]) * (y[i + 1] - y[i]) / (v[i + 1] - v[i]))
        i += 1
    return float("nan")


def _dark_run(x: NDArray, v: NDArray, level: float, i: int) -> tuple[float, float]:
    def walk(step):
        k = i
        while 0 <= k + step < v.size:
            j = k + step
            if v[j] >= level:
                return float(x[k] + (level - v[k]) * (x[j] - x[k]) / (v[j] - v[k]))
            k = j
        return float("nan")
    return walk(-1), walk(+1)


def acr_slice_position(image: NDArray, spacing_mm: tuple[float, float], *,
                       center_px: tuple[float, float] | None = None, rotation_deg: float = 0.0,
                       bar_row_mm: float = -80.0, below_mm: float = 5.0) -> SlicePositionResult:
    """ACR slice-position bar-length difference on slice 1 or slice 11.

    Parameters
    ----------
    image : (y, x) array
        ACR slice 1 or 11, the wedge bars at 12 o'clock.
    spacing_mm : (row, col) pixel spacing in mm.
    center_px : (row, col) of the phantom centre; ``find_phantom`` when None.
    rotation_deg : in-plane rotation of the phantom, clockwise on the screen.
    bar_row_mm : y (phantom frame, negative = up) of a row that crosses both bars above their ends.
    below_mm : the phantom level under the bars is read over 10 mm starting this far below the lower end.

    Returns
    -------
    SlicePositionResult
        ``bar_difference_mm`` = right bar length - left bar length, and the bars' profiles.

    Notes
    -----
    Bar ends at the half-level crossing between the bar and the phantom below (sub-pixel); difference =
    ``L_right - L_left`` = twice the slice displacement (45 deg wedges) [ACR guidance 2018/2022]. Limit (ACR):
    ``|difference| <= 5 mm``.
    """
    img, sy, sx = _check_image(image, spacing_mm, "acr_slice_position")
    centre = resolve_center(img, (sy, sx), center_px)
    rot = float(rotation_deg)
    step = 0.25 * min(sy, sx)
    warns: list[str] = []

    # 2. the pair of bars across x
    x = np.arange(-25.0, 25.0 + step / 2, step)
    yb = np.arange(bar_row_mm - 5.0, bar_row_mm + 5.0 + step / 2, step)
    hp = np.nanmean(frame_sample(img, (sy, sx), centre, rot, yb, x), axis=0)
    near = np.abs(x) <= 8.0
    i_min = int(np.nonzero(near)[0][np.argmin(hp[near])])
    n8 = max(1, x.size // 8)
    signal = float(np.nanmedian(np.concatenate([hp[:n8], hp[-n8:]])))
    level = 0.5 * (signal + float(hp[i_min]))
    if not float(hp[i_min]) < 0.5 * signal:  # the bars are signal voids
        raise PhantomNotFoundError(
            f"acr_slice_position: no pair of dark wedge bars found at y = {bar_row_mm:g} mm from the centre (the "
            f"darkest point there is {float(hp[i_min]) / signal:.0%} of the phantom signal); expected ACR slice 1 "
            "or 11 with the bars at 12 o'clock (check the slice, the centre and the rotation)")
    # the dark runs that reach within 10 mm of the centre line (a thin septum between the bars may show)
    lab, n_runs = ndimage.label(hp < level)
    runs = [k for k in range(1, n_runs + 1) if np.any(np.abs(x[lab == k]) <= 10.0)]
    xl = xr = float("nan")
    if runs:
        i_lo = int(np.nonzero(lab == runs[0])[0][0])
        i_hi = int(np.nonzero(lab == runs[-1])[0][-1])
        xl = _dark_run(x, hp, level, i_lo)[0]
        xr = _dark_run(x, hp, level, i_hi)[1]
    if not (math.isfinite(xl) and math.isfinite(xr)) or not (4.0 < xr - xl < 30.0):
        raise PhantomNotFoundError(
            f"acr_slice_position: no pair of dark wedge bars found at y = {bar_row_mm:g} mm from the centre "
            f"(found {xl:.1f} to {xr:.1f} mm); expected ACR slice 1 or 11 with the bars at 12 o'clock "
            "(check the slice, the centre and the rotation)")
    xm = 0.5 * (xl + xr)

    # 3. the lower end of each bar
    y = np.arange(bar_row_mm - 5.0, -20.0 + step / 2, step)
    bars = []
    for name, (a, b) in (("left", (xl, xm)), ("right", (xm, xr))):
        q = 0.25 * (b - a)
        xs = np.arange(a + q, b - q + step / 2, step)
        vp = np.nanmean(frame_sample(img, (sy, sx), centre, rot, y, xs), axis=1)
        dark = float(np.nanmedian(vp[y <= bar_row_mm + 5.0]))
        bars.append((name, (a, b), vp, dark))
    # phantom level below the deeper of the two rough ends
    rough = []
    for _, _, vp, dark in bars:
        lvl = 0.5 * (dark + float(np.nanmax(vp)))
        above = np.nonzero(vp >= lvl)[0]
        rough.append(float(y[above[0]]) if above.size else float("nan"))
    y_below = np.nanmax(rough) + below_mm
    sel = (y >= y_below) & (y <= y_below + 10.0)
    results = []
    for name, rng, vp, dark in bars:
        sig = float(np.nanmedian(vp[sel])) if sel.any() else float(np.nanmax(vp))
        level = 0.5 * (dark + sig)
        i0 = int(np.searchsorted(y, bar_row_mm))
        end = _first_up(y, vp, level, i0)
        results.append((name, rng, vp, end))
    if not all(math.isfinite(r[3]) for r in results):
        raise PhantomNotFoundError("acr_slice_position: a wedge bar has no lower end between the row "
                                   f"{bar_row_mm:g} mm and y = -20 mm; check the slice (1 or 11) and the centre")

    # 4. the wall beside the pair
    yw = np.arange(-115.0, bar_row_mm + step / 2, step)
    walls = []
    for xa, xb in ((xl - 10.0, xl - 4.0), (xr + 4.0, xr + 10.0)):
        xs = np.arange(xa, xb + step / 2, step)
        vp = np.nanmean(frame_sample(img, (sy, sx), centre, rot, yw, xs), axis=1)
        ok = np.isfinite(vp)
        if ok.sum() < 8:
            continue
        inside = float(np.nanmedian(vp[yw >= bar_row_mm - 10.0]))
        outside = float(np.nanmin(vp[ok]))
        lvl = 0.5 * (inside + outside)
        above = np.nonzero(ok & (vp >= lvl))[0]
        if above.size and above[0] > 0:
            j = int(above[0])
            walls.append(float(yw[j - 1] + (lvl - vp[j - 1]) * (yw[j] - yw[j - 1]) / (vp[j] - vp[j - 1])))
    wall = float(np.mean(walls)) if walls else float("nan")
    if not walls:
        warns.append("the phantom's top wall beside the bars was not found; bar lengths are NaN (their "
                     "difference does not need it)")

    profiles = []
    for name, rng, vp, end in results:
        length = end - wall
        profiles.append(BarProfile(name, rng, y, vp, end, Quantity(length, "mm")))
    diff = results[1][3] - results[0][3]
    params = {"rotation_deg": rot, "bar_row_mm": float(bar_row_mm), "below_mm": float(below_mm),
              "sample_step_mm": step, "spacing_mm": (sy, sx),
              "sign": "right bar length - left bar length (image as displayed)"}
    return SlicePositionResult(Quantity(diff, "mm"), profiles[0], profiles[1], wall, centre, rot, params,
                               tuple(warns))
