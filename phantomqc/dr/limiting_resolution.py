"""DR limiting spatial resolution from line-pair gauges (WS 76-2020, DR part), judged against Nyquist.

Method
------
1. **Find the gauges** on a block-averaged copy (~0.5 mm pixels): pixels darker than
   ``open - 0.4 (open - lead)`` (open = median, lead = 0.1th percentile of the smoothed copy), closed over 3 mm
   and hole-filled, so that each gauge's lead strip becomes one region; regions of at least 100 mm^2 with a
   principal-axis elongation of at least 3 are gauges. The second moments give the strip's centre, axis angle,
   length and width; the strip axis is x ("horizontal") or y ("vertical"), whichever is nearer.
2. **Coordinates**: every full-resolution pixel in the central 60 % of the strip width gets its position ``u``
   along the strip axis (rotation taken into account). A search profile is the mean in bins of one pixel pitch.
3. **Levels**: open = median of a 4 mm band alongside the strip (2 to 6 mm beyond its long sides); lead = 5th
   percentile of the search profile smoothed over 3 bins (the strip ends and inter-group spacers are lead).
4. **Segments**: for each table frequency f_k below Nyquist, a window of ``line_pairs_per_group`` periods slides
   along the profile; at each position a demodulated amplitude is computed for a grid of frequencies from
   0.5 f_k to min(1.6 f_k, f_N), and the least-squares sine amplitude at f_k. Positions where the grid maximum
   lies within
   ``+-(gap to the nearest other table frequency)/2`` of f_k are candidates; once two resolved groups fix the
   direction in which frequency grows, only positions beyond the last significant group are candidates. The group
   sits at the candidate of largest least-squares amplitude at f_k (plain demodulation swings with the
   sampling phase near Nyquist and may prefer an aliased higher group). An aliased higher group can mimic f_k only with a
   smaller amplitude (monotone MTF).
5. **Modulation**: least-squares fit of ``c0 + c1 u + a cos(2 pi f_k u) + b sin(2 pi f_k u)`` to all pixel values of
   the central ``line_pairs_per_group - 2`` periods of the segment (the outer period on each side sees the
   group's ends) at their exact ``u`` (no interpolation or binning blur), amplitude ``A = hypot(a, b)`` with its
   standard error from the fit. A square wave between the lead level L and the open level O has a fundamental
   of amplitude ``(4 / pi) (O - L) / 2``, which the presampling MTF scales; hence

       M_k = A / ((O - L) / 2) x pi / 4   estimates MTF(f_k).

6. **Resolved** iff ``f_k < f_N`` strictly (at or above Nyquist the pattern aliases), ``M_k >= min_modulation``
   (0.15: the ground-truth contract with ``reference_phantoms``) and ``A >= min_significance`` standard errors
   (5). The limiting resolution is the highest group such that it and every lower group are resolved; the
   highest resolved group is reported too.

References: WS 76-2020 (limiting spatial resolution); IEC 62220-1-1:2015 for the presampling-MTF meaning of M_k.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from phantomqc._shared.errors import InputError, PhantomNotFoundError
from phantomqc.core.roi import block_mean
from phantomqc.core.registry import TestOutput
from phantomqc.core.types import ImageData, Measurement, Quantity
from phantomqc.core.visuals import Band, Curve, Plot

__all__ = ["GroupResult", "GaugeResult", "LimitingResolutionResult", "load_gauge", "find_gauges",
           "analyze_gauge", "limiting_resolution", "run"]

_GAUGES_TOML = Path(__file__).with_name("gauges.toml")


@dataclass(frozen=True)
class GroupResult:
    """One line-pair group: its modulation estimate of MTF(f), significance (amplitude / SE) and verdict of
    the resolution rule. ``start_mm`` / ``end_mm`` locate the analysed segment along the strip (from its
    centre); NaN when the group was not found."""

    frequency_lp_per_mm: float
    modulation: float
    significance: float
    below_nyquist: bool
    resolved: bool
    start_mm: float
    end_mm: float


@dataclass(frozen=True)
class GaugeResult:
    """One gauge strip.

    ``direction``: "horizontal" (strip along x) or "vertical". ``limiting_lp_per_mm``: highest group with all
    lower groups resolved; ``highest_resolved_lp_per_mm``: highest resolved group regardless. ``corners_px``:
    the four (row, col) corners of the strip. ``profile_mm`` / ``profile_pv``: the search profile."""

    direction: str
    limiting_lp_per_mm: Quantity
    highest_resolved_lp_per_mm: Quantity
    nyquist_per_mm: float
    angle_deg: float
    centre_px: tuple[float, float]
    length_mm: float
    width_mm: float
    corners_px: tuple[tuple[float, float], ...]
    open_pv: float
    lead_pv: float
    profile_mm: NDArray
    profile_pv: NDArray
    groups: tuple[GroupResult, ...]


@dataclass(frozen=True)
class LimitingResolutionResult:
    gauges: tuple[GaugeResult, ...]
    parameters: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def load_gauge(name: str = "huttner18", path: str | Path | None = None) -> tuple[tuple[float, ...], int]:
    """Group frequencies (lp/mm) and line pairs per group of a gauge from ``phantomqc/dr/gauges.toml``."""
    p = Path(path) if path is not None else _GAUGES_TOML
    if not p.exists():
        raise InputError(f"gauge table {p} is missing; it should list [{name}] frequencies_lp_per_mm")
    with open(p, "rb") as fh:
        table = tomllib.load(fh)
    if name not in table:
        raise InputError(f"gauge {name!r} is not in {p}; known gauges: {sorted(table)}")
    g = table[name]
    return tuple(float(f) for f in g["frequencies_lp_per_mm"]), int(g.get("line_pairs_per_group", 5))


@dataclass(frozen=True)
class _Strip:
    centre_rc: tuple[float, float]  # full-resolution pixels
    angle_rad: float  # angle of the strip axis from the x (or y) axis
    axis: str
    length_mm: float
    width_mm: float


# The lowest signal (0.1st percentile of the 0.5 mm image) must lie this far below the median for a lead gauge.
MIN_LEAD_DEPTH = 0.25


def find_gauges(image: NDArray, spacing_mm: tuple[float, float]) -> list[_Strip]:
    """Locate gauge strips (see the module docstring, step 1). Raises ``PhantomNotFoundError`` if none."""
    sy, sx = spacing_mm
    f = max(1, int(round(0.5 / min(sy, sx))))
    raw = block_mean(image, f)
    small = ndimage.gaussian_filter(raw, 1.0)
    open_lv = float(np.median(small))
    lead_lv = float(np.percentile(small, 0.1))
    if not open_lv - lead_lv > 0:
        raise PhantomNotFoundError("no line-pair gauge found: the image is uniform")
    # Lead transmits a few percent: the gauge's solid lead is far darker than any gain gradient or heel effect.
    # Measured on the unsmoothed 0.5 mm image (smoothing mixes the bars with the open field): reference gauges
    # reach 0.43 (log response) to 0.87 (linear), flat fields with a +-5 % heel and a 7 % CV at most 0.09.
    raw_med = float(np.median(raw))
    depth = (raw_med - float(np.percentile(raw, 0.05))) / abs(raw_med) if raw_med else math.inf
    if depth < MIN_LEAD_DEPTH:
        raise PhantomNotFoundError(
            f"no line-pair gauge found: the darkest part of the image is only {depth * 100:.0f} % below its median "
            f"signal, while a lead gauge is at least {MIN_LEAD_DEPTH * 100:.0f} % darker than the open field")
    mask = small < open_lv - 0.4 * (open_lv - lead_lv)
    k = max(3, int(round(3.0 / (min(sy, sx) * f))))
    mask = ndimage.binary_closing(mask, np.ones((k, k), bool), border_value=0)
    mask = ndimage.binary_fill_holes(mask)
    lab, n = ndimage.label(mask)
    out = []
    ps_y, ps_x = sy * f, sx * f
    for i in range(1, n + 1):
        rr, cc = np.nonzero(lab == i)
        if rr.size * ps_y * ps_x < 100.0:
            continue
        y, x = rr * ps_y, cc * ps_x
        my, mx = y.mean(), x.mean()
        cov = np.cov(np.vstack([x - mx, y - my]))
        evals, evecs = np.linalg.eigh(cov)
        if evals[0] <= 0 or math.sqrt(evals[1] / evals[0]) < 3.0:
            continue
        vx, vy = evecs[:, 1]
        if abs(vx) >= abs(vy):
            axis = "x"
            if vx < 0:
                vx, vy = -vx, -vy
            ang = math.atan2(vy, vx)
        else:
            axis = "y"
            if vy < 0:
                vx, vy = -vx, -vy
            ang = math.atan2(vx, vy)
        u = (x - mx) * vx + (y - my) * vy
        v = -(x - mx) * vy + (y - my) * vx
        length = float(u.max() - u.min() + ps_x)
        width = float(v.max() - v.min() + ps_y)
        uc = 0.5 * (u.max() + u.min())
        vc = 0.5 * (v.max() + v.min())
        cx_mm = mx + uc * vx - vc * vy
        cy_mm = my + uc * vy + vc * vx
        # block centre i -> full-resolution i f + (f - 1) / 2
        out.append(_Strip((cy_mm / ps_y * f + (f - 1) / 2.0, cx_mm / ps_x * f + (f - 1) / 2.0), ang, axis,
                          length, width))
    if not out:
        raise PhantomNotFoundError("no line-pair gauge found: no elongated dark (lead) strip of at least 100 mm^2; "
                                   "expected one or two gauges on an open field")
    return out


def _demod_amplitude(prof: NDArray, n: int, omega: float) -> NDArray:
    """Amplitude ``2 |sum (x - mean) e^{-i omega j}| / n`` for every window of ``n`` samples (a fast local
    spectrum used to find which frequency dominates; biased near Nyquist, so not used for the amplitude)."""
    j = np.arange(prof.size)
    e = np.exp(-1j * omega * j)
    c_xe = np.concatenate([[0], np.cumsum(prof * e)])
    c_e = np.concatenate([[0], np.cumsum(e)])
    c_x = np.concatenate([[0.0], np.cumsum(prof)])
    s_xe = c_xe[n:] - c_xe[:-n]
    s_e = c_e[n:] - c_e[:-n]
    mean = (c_x[n:] - c_x[:-n]) / n
    return 2.0 * np.abs(s_xe - mean * s_e) / n


def _sliding_sine_amplitude(prof: NDArray, n: int, omega: float) -> NDArray:
    """Least-squares amplitude of ``c0 + a cos(omega j) + b sin(omega j)`` in every window of ``n`` samples.

    Exact least squares (not a plain demodulation, whose estimate near Nyquist swings with the sampling phase
    because the negative-frequency image lies close by). The nine window sums come from cumulative sums."""
    j = np.arange(prof.size, dtype=np.float64)
    c, s_ = np.cos(omega * j), np.sin(omega * j)

    def wsum(a: NDArray) -> NDArray:
        cs = np.concatenate([[0.0], np.cumsum(a)])
        return cs[n:] - cs[:-n]

    S1 = np.full(prof.size - n + 1, float(n))
    Sc, Ss = wsum(c), wsum(s_)
    Scc, Sss, Scs = wsum(c * c), wsum(s_ * s_), wsum(c * s_)
    Sx, Sxc, Sxs = wsum(prof), wsum(prof * c), wsum(prof * s_)
    A = np.stack([np.stack([S1, Sc, Ss], -1), np.stack([Sc, Scc, Scs], -1), np.stack([Ss, Scs, Sss], -1)], -2)
    rhs = np.stack([Sx, Sxc, Sxs], -1)[..., None]
    A = A + np.eye(3)[None] * 1e-9 * n
    coef = np.linalg.solve(A, rhs)[..., 0]
    return np.hypot(coef[:, 1], coef[:, 2])


def _sine_fit(u: NDArray, val: NDArray, f: float) -> tuple[float, float]:
    """Least-squares amplitude of the fundamental at ``f`` (model ``c0 + c1 u + a cos + b sin``; the linear
    term absorbs a slope or a step at a window end rather than letting it leak into the sine) and its SE."""
    w = 2.0 * math.pi * f * u
    X = np.column_stack([np.cos(w), np.sin(w), np.ones_like(u), u - u.mean()])
    coef, *_ = np.linalg.lstsq(X, val, rcond=None)
    res = val - X @ coef
    dof = max(1, u.size - 4)
    s2 = float(res @ res) / dof
    cov = s2 * np.linalg.inv(X.T @ X)
    a, b = coef[0], coef[1]
    amp = math.hypot(a, b)
    if amp == 0:
        return 0.0, float("inf")
    var = (a * a * cov[0, 0] + b * b * cov[1, 1] + 2 * a * b * cov[0, 1]) / (amp * amp)
    return amp, math.sqrt(max(var, 0.0))


def analyze_gauge(image: NDArray, spacing_mm: tuple[float, float], strip: _Strip, *,
                  frequencies_lp_per_mm: Sequence[float], line_pairs_per_group: int = 5,
                  min_modulation: float = 0.15, min_significance: float = 5.0) -> GaugeResult:
    """Measure every group of one located strip (module docstring, steps 2 to 6)."""
    sy, sx = spacing_mm
    img = np.asarray(image)
    cr, cc = strip.centre_rc
    ca, sa = math.cos(strip.angle_rad), math.sin(strip.angle_rad)
    if strip.axis == "x":
        ux, uy = ca, sa  # unit vector along the strip in (x, y) mm
        pitch = sx
    else:
        ux, uy = sa, ca
        pitch = sy
    vx, vy = -uy, ux
    half_l, half_w = strip.length_mm / 2.0 + 2.0, strip.width_mm / 2.0 + 7.0
    # bounding box of the strip plus the open band, in pixels
    ext_x = abs(ux) * half_l + abs(vx) * half_w
    ext_y = abs(uy) * half_l + abs(vy) * half_w
    r0 = max(0, int(math.floor(cr - ext_y / sy)))
    r1 = min(img.shape[0], int(math.ceil(cr + ext_y / sy)) + 1)
    c0 = max(0, int(math.floor(cc - ext_x / sx)))
    c1 = min(img.shape[1], int(math.ceil(cc + ext_x / sx)) + 1)
    sub = np.asarray(img[r0:r1, c0:c1], dtype=np.float64)
    yy = (np.arange(r0, r1) - cr)[:, None] * sy
    xx = (np.arange(c0, c1) - cc)[None, :] * sx
    u = xx * ux + yy * uy
    v = xx * vx + yy * vy
    inside_l = np.abs(u) <= strip.length_mm / 2.0
    core = inside_l & (np.abs(v) <= 0.3 * strip.width_mm)
    band = inside_l & (np.abs(v) >= strip.width_mm / 2.0 + 2.0) & (np.abs(v) <= strip.width_mm / 2.0 + 6.0)
    if band.sum() < 50 or core.sum() < 50:
        raise PhantomNotFoundError("the gauge lies too close to the image border to measure the open field "
                                   "beside it; centre the gauge on the detector")
    open_pv = float(np.median(sub[band]))
    uc, val = u[core], sub[core]
    # search profile: bins of one pitch along u
    k = np.floor((uc + strip.length_mm / 2.0) / pitch).astype(np.int64)
    nb = int(k.max()) + 1
    cnt = np.bincount(k, minlength=nb)
    prof = np.bincount(k, weights=val, minlength=nb) / np.maximum(cnt, 1)
    good = cnt > 0
    centres = -strip.length_mm / 2.0 + (np.arange(nb) + 0.5) * pitch
    prof = np.interp(centres, centres[good], prof[good])
    lead_pv = float(np.percentile(ndimage.uniform_filter1d(prof, 3), 5.0))
    half_contrast = 0.5 * (open_pv - lead_pv)
    if not half_contrast > 0:
        raise PhantomNotFoundError("the gauge strip is not darker than the open field beside it")

    f_nyq = 1.0 / (2.0 * pitch)
    freqs = np.asarray(sorted(frequencies_lp_per_mm), dtype=np.float64)
    groups = []
    found: list[tuple[float, float]] = []  # (start, end) of the significant groups so far, in frequency order
    direction = 0  # +1 when frequency grows with u, -1 when it falls; 0 until two groups are located
    for i, f in enumerate(freqs):
        below = bool(f < f_nyq)
        n = int(round(line_pairs_per_group / (f * pitch)))
        missing = GroupResult(float(f), float("nan"), float("nan"), below, False, float("nan"), float("nan"))
        if not below or n < 4 or n >= nb:
            groups.append(missing)
            continue
        others = np.delete(freqs, i)
        tol = 0.5 * float(np.min(np.abs(others - f)))
        grid = np.linspace(0.5 * f, min(1.6 * f, f_nyq * 0.999), 45)
        amps = np.array([_demod_amplitude(prof, n, 2 * math.pi * g * pitch) for g in grid])
        a_f = _sliding_sine_amplitude(prof, n, 2 * math.pi * f * pitch)
        dom = grid[np.argmax(amps, axis=0)]
        cand = np.abs(dom - f) <= tol
        # the groups follow one another in frequency order: search beyond the last group located
        starts = centres[: cand.size] - 0.5 * pitch
        if direction > 0:
            cand &= starts >= found[-1][1] - 0.5 / f
        elif direction < 0:
            cand &= starts + line_pairs_per_group / f <= found[-1][0] + 0.5 / f
        if not cand.any():
            groups.append(missing)
            continue
        s = int(np.argmax(np.where(cand, a_f, -1.0)))
        u_start = centres[s] - 0.5 * pitch
        u_end = u_start + line_pairs_per_group / f
        # fit the central periods only: the outer period on each side sees the group's ends (spacer lead and
        # the blur spilling across them), which biases a 5-period fit by up to +0.1 near Nyquist
        trim = 1.0 / f if line_pairs_per_group >= 4 else 0.0
        sel = (uc >= u_start + trim) & (uc < u_end - trim)
        amp, se = _sine_fit(uc[sel], val[sel], f)
        mod = amp / half_contrast * math.pi / 4.0
        sig = amp / se if se > 0 else float("inf")
        resolved = below and mod >= min_modulation and sig >= min_significance
        groups.append(GroupResult(float(f), float(mod), float(sig), below, bool(resolved), float(u_start),
                                  float(u_end)))
        if sig >= min_significance:
            found.append((u_start, u_end))
            if direction == 0 and len(found) >= 2:
                direction = 1 if found[-1][0] > found[0][0] else -1
    limiting = float("nan")
    for g in groups:
        if not g.resolved:
            break
        limiting = g.frequency_lp_per_mm
    res_f = [g.frequency_lp_per_mm for g in groups if g.resolved]
    highest = max(res_f) if res_f else float("nan")
    # corners for drawing
    corners = []
    for su, sv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        du, dv = su * strip.length_mm / 2.0, sv * strip.width_mm / 2.0
        corners.append((cr + (du * uy + dv * vy) / sy, cc + (du * ux + dv * vx) / sx))
    return GaugeResult(
        direction="horizontal" if strip.axis == "x" else "vertical",
        limiting_lp_per_mm=Quantity(limiting, "lp/mm"), highest_resolved_lp_per_mm=Quantity(highest, "lp/mm"),
        nyquist_per_mm=f_nyq, angle_deg=math.degrees(strip.angle_rad), centre_px=(cr, cc),
        length_mm=strip.length_mm, width_mm=strip.width_mm, corners_px=tuple(corners), open_pv=open_pv,
        lead_pv=lead_pv, profile_mm=centres, profile_pv=prof, groups=tuple(groups))


def limiting_resolution(image: NDArray, spacing_mm: tuple[float, float], *,
                        frequencies_lp_per_mm: Sequence[float], line_pairs_per_group: int = 5,
                        min_modulation: float = 0.15, min_significance: float = 5.0
                        ) -> LimitingResolutionResult:
    """Limiting resolution of every line-pair gauge found in ``image``.

    Parameters
    ----------
    image : (y, x) array; lead is dark (low pixel value), as in for-processing data.
    spacing_mm : (row, col) pixel spacing in mm.
    frequencies_lp_per_mm : group frequencies of the gauge (``load_gauge``).
    line_pairs_per_group : line pairs in each group.
    min_modulation : the lowest modulation estimate (of MTF(f)) that counts as resolved (default 0.15).
    min_significance : the fundamental must exceed this many standard errors (default 5).

    Returns
    -------
    LimitingResolutionResult
        One ``GaugeResult`` per strip, with the per-group modulation, the limiting resolution and Nyquist.

    Notes
    -----
    ``M_k = A_k / ((O - L) / 2) x pi / 4`` (A_k the fitted fundamental amplitude at f_k, O / L the open and lead
    levels) estimates the presampling MTF at f_k for a square-wave bar pattern; resolved iff f_k < f_N,
    M_k >= min_modulation and A_k >= min_significance x SE.
    """
    strips = find_gauges(image, spacing_mm)
    gauges = tuple(analyze_gauge(image, spacing_mm, s, frequencies_lp_per_mm=frequencies_lp_per_mm,
                                 line_pairs_per_group=line_pairs_per_group, min_modulation=min_modulation,
                                 min_significance=min_significance) for s in strips)
    warnings = []
    for g in gauges:
        if abs(g.angle_deg) > 5.0:
            warnings.append(f"the {g.direction} gauge is rotated by {g.angle_deg:.1f} degrees from the pixel axis")
        if not math.isfinite(g.limiting_lp_per_mm.value):
            warnings.append(f"the {g.direction} gauge: the lowest group is not resolved")
    params = {"frequencies_lp_per_mm": tuple(float(f) for f in frequencies_lp_per_mm),
              "line_pairs_per_group": int(line_pairs_per_group), "min_modulation": float(min_modulation),
              "min_significance": float(min_significance)}
    return LimitingResolutionResult(gauges, params, tuple(warnings))


def run(images: list[ImageData], params: dict) -> TestOutput:
    """Pipeline entry for ``dr.limiting_resolution``: one image with two gauges, or one image per gauge."""
    from phantomqc.dr.mtf import check_dr_images, display_panel

    warnings = check_dr_images(images, "dr.limiting_resolution")
    gauge = str(params.get("gauge", "huttner18"))
    freqs, lp = load_gauge(gauge)
    ms, visuals, details, seen = [], [], [], {}
    for im in images:
        r = limiting_resolution(im.pixels, im.spacing_mm, frequencies_lp_per_mm=freqs, line_pairs_per_group=lp)
        details.append(r)
        warnings.extend(f"{im.meta.path}: {w}" for w in r.warnings)
        lines = []
        for g in r.gauges:
            if g.direction in seen:
                raise InputError(f"two {g.direction} gauges found ({seen[g.direction]} and {im.meta.path}); "
                                 "expected one gauge per direction", path=im.meta.path)
            seen[g.direction] = im.meta.path
            note = None if math.isfinite(g.limiting_lp_per_mm.value) else "no group resolved"
            ms.append(Measurement.of("dr.limiting_resolution.lp_per_mm", g.limiting_lp_per_mm, label=g.direction,
                                     note=note))
            ms.append(Measurement("dr.limiting_resolution.nyquist_per_mm", g.nyquist_per_mm, "lp/mm",
                                  label=g.direction))
            pts = list(g.corners_px) + [g.corners_px[0]]
            for a, b in zip(pts[:-1], pts[1:]):
                lines.append((a, b, ""))
        panel = display_panel("Line-pair gauges", im.pixels, im.spacing_mm, lines=lines)
        visuals.append(panel)
        for g in r.gauges:
            fk = np.array([x.frequency_lp_per_mm for x in g.groups])
            mk = np.array([x.modulation for x in g.groups])
            visuals.append(Plot(f"Group modulation ({g.direction})", (Curve(fk, mk, g.direction, style="points"),),
                                "lp/mm", "modulation (estimate of MTF)",
                                (Band("y", 0.15, "0.15"), Band("x", g.nyquist_per_mm, "Nyquist"),
                                 Band("x", g.limiting_lp_per_mm.value if math.isfinite(g.limiting_lp_per_mm.value)
                                      else 0.0, "limit")), y_lim=(0.0, 1.1)))
    return TestOutput(measurements=tuple(ms), details=tuple(details), visuals=tuple(visuals),
                      warnings=tuple(warnings), parameters={"gauge": gauge, "frequencies_lp_per_mm": freqs,
                                                            "line_pairs_per_group": lp, "min_modulation": 0.15,
                                                            "min_significance": 5.0},
                      analyzer="dr.limiting_resolution", phantom=gauge)
