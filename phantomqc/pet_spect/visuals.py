"""Report figures of the gamma-camera, SPECT and PET tests, as plain-data specs (``phantomqc.core.visuals``).

Each function takes an analysis result (``planar``, ``spect``, ``nema_iq``) and, where the figure shows pixels, the
image it was measured on, and returns a tuple of specs that ``phantomqc.report.figures`` draws. Nothing here is
recomputed: every ROI, mask, profile, fit and value comes from the result. Overlay coordinates are pixels (row,
column) of the panel's image, so a ROI drawn here sits exactly where the analyzer put it.

- :func:`uniformity_visuals` -- the smoothed NU 1 flood with the UFOV / CFOV outlines, the max / min pixels and the
  worst differential-uniformity runs; the flood itself with the outlines.
- :func:`four_bar_visuals` -- the four-bar image with the two profile bands; each profile with its Gaussian fits.
- :func:`quadrant_bar_visuals` -- the quadrant-bar image with the four bar regions; MTF against bar frequency.
- :func:`jaszczak_visuals` -- a slice through the cold spheres with every sphere ROI, the processed uniformity slice
  with its UFOV / CFOV / centre ROIs, and the contrasts against sphere diameter.
- :func:`cor_visuals` -- centroid against gantry angle with the fitted sinusoid, and the residuals.
- :func:`nema_iq_visuals` -- the central slice with every sphere, background and lung ROI; the five background slices
  with their 60 ROIs per size; contrast and background variability against diameter; RC_max and RC_A50 against
  diameter with the EARL bands of the ``nema-earl`` profile (:func:`earl_bands`).

Pure data (no matplotlib); the only file read is the packaged standards profile, by :func:`earl_bands`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import numpy as np

from phantomqc.core.visuals import (
    Band,
    CircleOverlay,
    Curve,
    ImagePanel,
    LineOverlay,
    Plot,
    PointOverlay,
    RangeBand,
    RectOverlay,
)

__all__ = [
    "cor_visuals",
    "earl_bands",
    "four_bar_visuals",
    "jaszczak_visuals",
    "mask_outline",
    "nema_iq_visuals",
    "quadrant_bar_visuals",
    "uniformity_visuals",
]

_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
_UFOV_COLOR = "tab:orange"
_CFOV_COLOR = "tab:cyan"
_MAX_COLOR = "#ff3030"
_MIN_COLOR = "#3090ff"
_DU_COLOR = "#ffd700"
_DU_CFOV_COLOR = "#ff40ff"
_BAND_COLORS = {"EARL1": "#8e44ad", "EARL2": "#16a085"}


# ---------------------------------------------------------------------------------------------------------------
# helpers


def mask_outline(mask, *, label: str = "", color: str = "tab:orange", scale: int = 1,
                 anchor: str = "top-right") -> tuple[LineOverlay, ...]:
    """The outline of a boolean mask as closed polylines, in pixels of an image ``scale`` times finer.

    Parameters
    ----------
    mask : ndarray of bool (y, x)
        The region.
    label : str
        Written at the end of the longest outline.
    color : str
        Line colour.
    scale : int
        The mask is on a grid of ``scale`` x ``scale`` blocks of the panel's image (e.g. the NU 1 rebinned grid
        drawn on the flood): a coordinate u of the mask maps to (u + 0.5) scale - 0.5.
    anchor : {"top-right", "bottom-right"}
        Where the longest outline ends (hence where its label sits, to the right of that point).

    Returns
    -------
    tuple of LineOverlay
        One per connected outline (longest first); empty for an empty mask.

    Notes
    -----
    The outline is the 0.5 iso-line of the mask padded with one row / column of zeros
    (``skimage.measure.find_contours``): it runs along the pixel edges between a pixel inside and one outside,
    cutting the corners of the pixel staircase diagonally.
    """
    from skimage.measure import find_contours  # local: keeps ``import phantomqc`` cheap

    m = np.pad(np.asarray(mask, dtype=float), 1)
    if not m.any():
        return ()
    contours = sorted(find_contours(m, 0.5), key=len, reverse=True)
    out = []
    for j, c in enumerate(contours):
        rows, cols = c[:, 0] - 1.0, c[:, 1] - 1.0
        if j == 0 and len(c) > 2 and np.allclose(c[0], c[-1]):  # end the closed line where the label goes
            key = cols - rows if anchor == "top-right" else cols + rows
            i = int(np.argmax(key[:-1]))
            rows = np.concatenate([rows[i:-1], rows[:i + 1]])
            cols = np.concatenate([cols[i:-1], cols[:i + 1]])
        rows = (rows + 0.5) * scale - 0.5
        cols = (cols + 0.5) * scale - 0.5
        out.append(LineOverlay(tuple(float(v) for v in rows), tuple(float(v) for v in cols),
                               label if j == 0 else "", color))
    return tuple(out)


def _corner_label(mask, label: str, color: str, scale: int = 1) -> PointOverlay:
    """A label without a marker just inside the top-left corner of a mask's bounding box (panel pixels)."""
    m = np.asarray(mask, bool)
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    r = (rows[0] + 0.5) * scale - 0.5 + 0.04 * m.shape[0] * scale
    c = (cols[0] + 0.5) * scale - 0.5
    return PointOverlay(float(r), float(c), label, color, "")


def _shift(overlays, dr: float, dc: float) -> tuple:
    """The overlays moved by (dr, dc) pixels: for a panel cropped from the image the ROIs were found on."""
    from dataclasses import replace

    out = []
    for ov in overlays:
        if isinstance(ov, (CircleOverlay, PointOverlay)):
            out.append(replace(ov, row=ov.row + dr, col=ov.col + dc))
        elif isinstance(ov, RectOverlay):
            out.append(replace(ov, row0=ov.row0 + dr, col0=ov.col0 + dc))
        elif isinstance(ov, LineOverlay):
            out.append(replace(ov, rows=tuple(v + dr for v in ov.rows), cols=tuple(v + dc for v in ov.cols)))
        else:
            out.append(ov)
    return tuple(out)


def _crop_box(shape, r0: float, r1: float, c0: float, c1: float) -> tuple[int, int, int, int]:
    """Integer (row0, row1, col0, col1), end exclusive, of the pixel rectangle covering [r0, r1] x [c0, c1],
    clipped to ``shape``."""
    return (max(0, math.floor(r0)), min(shape[0], math.ceil(r1) + 1),
            max(0, math.floor(c0)), min(shape[1], math.ceil(c1) + 1))


def _points(locations: Mapping[str, tuple], kind: str, color: str, marker: str, scale: int = 1) -> list[PointOverlay]:
    """One marker per distinct location of ``{fov: (row, col)}``; a location shared by the UFOV and the CFOV gets
    one marker labelled with both."""
    by_loc: dict[tuple[int, int], list[str]] = {}
    for fov in ("ufov", "cfov"):
        if fov in locations:
            r, c = (int(v) for v in locations[fov][:2])
            by_loc.setdefault((r, c), []).append(fov.upper())
    return [PointOverlay((r + 0.5) * scale - 0.5, (c + 0.5) * scale - 0.5, f"{kind} {'/'.join(f)}", color, marker)
            for (r, c), f in by_loc.items()]


def _du_boxes(where: Mapping[str, tuple], width: int, horizontal_of, scale: int = 1) -> list[RectOverlay]:
    """The DU runs ``{fov: (row, col, direction)}`` of the UFOV (gold) and the CFOV (pink; gold when both share
    one run) as boxes. Two distinct runs close to each other get one label, on the first,
    so that the labels never overlap; the values are in the panel's title."""
    by_run: dict[tuple, list[str]] = {}
    for fov in ("ufov", "cfov"):
        if fov in where and where[fov][0] >= 0:
            r, c, d = where[fov]
            by_run.setdefault((int(r), int(c), bool(horizontal_of(d))), []).append(fov)
    runs = list(by_run.items())
    near = len(runs) == 2 and abs(runs[0][0][0] - runs[1][0][0]) <= width + 3 and \
        abs(runs[0][0][1] - runs[1][0][1]) <= width + 8
    first = min(range(len(runs)), key=lambda j: (runs[j][0][1], runs[j][0][0])) if runs else 0  # leftmost
    out = []
    for j, ((r, c, horiz), fovs) in enumerate(runs):
        color = _DU_CFOV_COLOR if fovs == ["cfov"] else _DU_COLOR
        lab = "DU " + "/".join(f.upper() for f in fovs)
        if near:
            lab = "DU" if j == first else ""
        box = _run_box(r, c, horiz, width, lab, color)
        if scale != 1:
            box = RectOverlay(box.row0 * scale, box.col0 * scale, box.nrows * scale, box.ncols * scale, box.label,
                              box.color)
        out.append(box)
    return out


def _du_legend(where: Mapping[str, tuple]) -> str:
    """Title suffix naming the DU boxes' colours when the UFOV and the CFOV runs differ."""
    runs = {tuple(where[f]) for f in ("ufov", "cfov") if f in where}
    return "\nDU run: UFOV gold, CFOV pink" if len(runs) == 2 else ""


def _run_box(row: int, col: int, horizontal: bool, width: int, label: str, color: str = _DU_COLOR) -> RectOverlay:
    """The ``width``-pixel run of a differential uniformity starting at (row, col)."""
    return RectOverlay(float(row), float(col), 1.0 if horizontal else float(width),
                       float(width) if horizontal else 1.0, label, color)


def _finite_window(values: np.ndarray) -> tuple[float, float] | None:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    lo, hi = float(v.min()), float(v.max())
    return (lo, hi) if hi > lo else None


def _diameter_of(label: str) -> float:
    m = re.fullmatch(r"sphere_([0-9.]+)mm", label)
    return float(m.group(1)) if m else float("nan")


def _fmt(v: float, spec: str = ".2f") -> str:
    return format(v, spec) if math.isfinite(v) else "n/a"


# ---------------------------------------------------------------------------------------------------------------
# NU 1 flood uniformity


def uniformity_visuals(res, image=None, spacing_mm=None) -> tuple:
    """Figures of a NEMA NU 1 flood uniformity (:class:`~phantomqc.pet_spect.planar.UniformityResult`).

    Parameters
    ----------
    res : UniformityResult
        From :func:`~phantomqc.pet_spect.planar.nema_uniformity`.
    image : ndarray (y, x), optional
        The flood as analysed; adds a second panel with the UFOV / CFOV drawn on it.
    spacing_mm : (float, float), optional
        The flood's pixel spacing (default: the rebinned pixel / the rebin factor).

    Returns
    -------
    tuple
        ``ImagePanel`` of the smoothed rebinned flood (window: min to max of the UFOV) with the UFOV and CFOV
        outlines, the max (red +) and min (blue x) pixels of each and the 5-pixel run of largest differential
        uniformity of each (yellow box); then, with ``image``, the flood with the outlines and the max / min
        pixels at the centres of their blocks.
    """
    k = int(res.rebin_factor)
    iu, du = res.integral_percent, res.differential_percent
    ov: list = []
    ov += mask_outline(res.ufov_mask, color=_UFOV_COLOR)
    ov += mask_outline(res.cfov_mask, color=_CFOV_COLOR)
    ov.append(_corner_label(res.ufov_mask, "UFOV", _UFOV_COLOR))
    ov.append(_corner_label(res.cfov_mask, "CFOV", _CFOV_COLOR))
    width = int(res.parameters.get("du_width", 5))
    ov += _du_boxes(res.du_location, width, lambda d: d == "row")
    ov += _points(res.max_location, "max", _MAX_COLOR, "+")
    ov += _points(res.min_location, "min", _MIN_COLOR, "x")
    win = _finite_window(np.asarray(res.smoothed)[np.asarray(res.ufov_mask, bool)])
    out: list = [ImagePanel(
        f"NU 1 flood, {k}×{k} rebinned ({res.pixel_mm[1]:.3g} mm), smoothed\nIU UFOV {_fmt(iu['ufov'].value)} %, "
        f"CFOV {_fmt(iu['cfov'].value)} %; DU UFOV {_fmt(du['ufov'].value)} %, CFOV {_fmt(du['cfov'].value)} %"
        f"{_du_legend(res.du_location)}",
        np.asarray(res.smoothed), tuple(ov),
        window=win, spacing_mm=tuple(float(v) for v in res.pixel_mm))]
    if image is not None:
        sp = tuple(float(v) for v in spacing_mm) if spacing_mm is not None else \
            (res.pixel_mm[0] / k, res.pixel_mm[1] / k)
        img = np.asarray(image)
        ov2: list = []
        ov2 += mask_outline(res.ufov_mask, color=_UFOV_COLOR, scale=k)
        ov2 += mask_outline(res.cfov_mask, color=_CFOV_COLOR, scale=k)
        ov2.append(_corner_label(res.ufov_mask, "UFOV", _UFOV_COLOR, scale=k))
        ov2.append(_corner_label(res.cfov_mask, "CFOV", _CFOV_COLOR, scale=k))
        ov2 += _points(res.max_location, "max", _MAX_COLOR, "+", scale=k)
        ov2 += _points(res.min_location, "min", _MIN_COLOR, "x", scale=k)
        # display window: the 0.5 / 99.5 percentiles of the UFOV's pixels (the dark surround would flatten it)
        u = np.asarray(res.ufov_mask, bool)
        ny, nx = u.shape[0] * k, u.shape[1] * k
        vals = img[:ny, :nx][np.repeat(np.repeat(u, k, axis=0), k, axis=1)]
        win = None
        if vals.size:
            lo, hi = (float(v) for v in np.percentile(vals, (0.5, 99.5)))
            win = (lo, hi) if hi > lo else None
        out.append(ImagePanel(f"Flood as acquired, CFOV mean {res.cfov_mean_counts.value:.4g} counts per "
                              f"{res.pixel_mm[1]:.3g} mm pixel", img, tuple(ov2), window=win, spacing_mm=sp))
    return tuple(out)


# ---------------------------------------------------------------------------------------------------------------
# four-bar, quadrant-bar, line source


def four_bar_visuals(res, image, spacing_mm) -> tuple:
    """Figures of a four-bar test (:class:`~phantomqc.pet_spect.planar.FourBarResult`).

    Returns the image with the two profile bands (``RectOverlay``: the band across, the profile's extent along),
    then one ``Plot`` per axis: the band's mean profile (points) and the Gaussian-plus-offset fitted to each bar,
    drawn over its half of the profile (split midway between the fitted centres).
    """
    img = np.asarray(image)
    ov = []
    for ax, color in (("x", "tab:orange"), ("y", "tab:cyan")):
        pos = np.asarray(res.profiles[ax][0], dtype=float)
        b0, b1 = res.band[ax]
        if ax == "x":
            ov.append(RectOverlay(float(b0), float(pos[0]), float(b1 - b0 + 1), float(pos.size), "x profile", color))
        else:
            ov.append(RectOverlay(float(pos[0]), float(b0), float(pos.size), float(b1 - b0 + 1), "y profile", color))
    # the panel: the two profile boxes with a margin of a tenth of their extent (the bars lie inside them)
    ra = min(o.row0 for o in ov), max(o.row0 + o.nrows for o in ov)
    ca = min(o.col0 for o in ov), max(o.col0 + o.ncols for o in ov)
    mr, mc = 0.1 * (ra[1] - ra[0]), 0.1 * (ca[1] - ca[0])
    r0, r1, c0, c1 = _crop_box(img.shape, ra[0] - mr, ra[1] + mr, ca[0] - mc, ca[1] + mc)
    out: list = [ImagePanel(f"Four-bar phantom: FWHM x {_fmt(res.fwhm_mm['x'].value)} mm, y "
                            f"{_fmt(res.fwhm_mm['y'].value)} mm", np.ascontiguousarray(img[r0:r1, c0:c1]),
                            _shift(ov, -r0, -c0), spacing_mm=tuple(float(v) for v in spacing_mm))]
    for ax in ("x", "y"):
        pos, prof = (np.asarray(a, dtype=float) for a in res.profiles[ax])
        pk = res.peaks[ax]
        split = 0.5 * (pk[0].centre_px + pk[1].centre_px)
        curves = [Curve(pos, prof, "band mean", "points", "#444444")]
        fine = np.linspace(pos[0], pos[-1], max(400, 8 * pos.size))
        for i, (p, part, color) in enumerate(zip(pk, (fine <= split, fine > split), ("tab:red", "tab:blue"))):
            x = fine[part]
            y = p.base + p.amplitude * np.exp(-0.5 * ((x - p.centre_px) / p.sigma_px) ** 2)
            curves.append(Curve(x, y, f"fit bar {i + 1}: FWHM {p.fwhm_mm:.2f} mm, FWTM {p.fwtm_mm:.2f} mm", "line",
                                color))
        hdr = res.header_pixel_size_mm[ax]
        lo, hi = float(np.min(prof)), float(np.max(prof))
        out.append(Plot(f"Four-bar profile along {ax}: FWHM {_fmt(res.fwhm_mm[ax].value)} mm", tuple(curves),
                        f"{'column' if ax == 'x' else 'row'} (pixel)", "mean counts",
                        y_lim=(lo - 0.05 * (hi - lo), hi + 0.3 * (hi - lo)) if hi > lo else None,
                        notes=((f"pixel size from the {res.bar_separation_mm:g} mm bar separation "
                               f"{res.pixel_size_mm[ax].value:.4g} mm (header {hdr:.4g} mm)"),)))
    return tuple(out)


def quadrant_bar_visuals(res, image, spacing_mm) -> tuple:
    """Figures of a quadrant-bar test (:class:`~phantomqc.pet_spect.planar.QuadrantBarResult`).

    Returns the image with each quadrant's bar region (its mask outline, labelled at its centroid with the bar width
    and MTF), then a ``Plot`` of the MTF (statistical moments) against the bar frequency 1 / (2 w) with, for each
    region, the Gaussian-LSF MTF exp(-2 pi^2 s^2 f^2) of the FWHM derived from it (the curve passes through its
    point by construction).
    """
    ov: list = []
    colors = ("tab:orange", "tab:cyan", "tab:green", "tab:pink")
    for roi, color in zip(res.rois, colors):
        ov += mask_outline(roi.mask, color=color)
        ov.append(PointOverlay(roi.centroid_px[0], roi.centroid_px[1],
                               f"{roi.bar_width_mm:.2f} mm: MTF {roi.mtf:.3f}", color, "o"))
    out: list = [ImagePanel("Quadrant-bar phantom: bar regions (widths assigned by MTF)", np.asarray(image),
                            tuple(ov), spacing_mm=tuple(float(v) for v in spacing_mm))]
    w = np.array([r.bar_width_mm for r in res.rois], dtype=float)
    m = np.array([r.mtf for r in res.rois], dtype=float)
    f = 1.0 / (2.0 * w)
    curves = [Curve(f, m, "measured (moments)", "points", "#222222")]
    fine = np.linspace(0.0, 1.25 * float(f.max()), 200)
    notes = []
    for roi, color in zip(res.rois, colors):
        lab = f"{roi.bar_width_mm:.2f}mm"
        fw = res.fwhm_mm[lab].value if lab in res.fwhm_mm else float("nan")
        if math.isfinite(fw):
            s = fw / _FWHM_PER_SIGMA
            curves.append(Curve(fine, np.exp(-2.0 * math.pi ** 2 * s * s * fine ** 2),
                                f"Gaussian LSF FWHM {fw:.2f} mm ({roi.bar_width_mm:.2f} mm bars)", "line", color))
        else:
            notes.append(f"{roi.bar_width_mm:.2f} mm bars: MTF {roi.mtf:.3g} outside (0, 1), no Gaussian LSF")
    conv = "MTF × π/4 (square-wave corrected)" if res.parameters.get("square_wave_correction") else \
        "moments modulation (NMQC convention)"
    notes.insert(0, f"MTF = {conv}")
    out.append(Plot("Quadrant-bar MTF against bar frequency", tuple(curves), "frequency 1/(2 w) (1/mm)", "MTF",
                    y_lim=(0.0, max(1.05, float(np.nanmax(m)) * 1.05) if np.isfinite(m).any() else 1.05),
                    notes=tuple(notes)))
    return tuple(out)


# ---------------------------------------------------------------------------------------------------------------
# SPECT


def jaszczak_visuals(uniformity, contrast, volume, spacing_mm) -> tuple:
    """Figures of a Jaszczak reconstruction (:mod:`phantomqc.pet_spect.spect`).

    Parameters
    ----------
    uniformity : TomographicUniformityResult or None
    contrast : TomographicContrastResult or None
    volume : ndarray (z, y, x)
        The reconstruction as analysed.
    spacing_mm : (dz, dy, dx)

    Returns
    -------
    tuple
        - the slice nearest the spheres' median centre, with every sphere ROI (centre (y, x) of the result; radius
          that of the ROI ball's cross-section on this slice) and the phantom edge;
        - the processed uniformity slice (mean of the uniform section, rebinned, smoothed) with the UFOV, CFOV and
          centre ROIs and the 5-pixel runs of largest differential uniformity;
        - the max and mean cold contrast against sphere diameter.
    """
    vol = np.asarray(volume)
    dz, dy, dx = (float(v) for v in spacing_mm)
    out: list = []
    if contrast is not None and contrast.spheres:
        k = round(float(np.median([s.z for s in contrast.spheres])))
        k = min(max(k, 0), vol.shape[0] - 1)
        cy, cx = contrast.phantom_center_yx
        rp = contrast.phantom_radius_mm / dx
        ov: list = [CircleOverlay(cy, cx, rp, "", "#7f8c8d")]
        for s in contrast.spheres:
            dz_mm = (k - s.z) * dz
            r_mm = s.radius_px * dx
            r_cut = math.sqrt(max(r_mm * r_mm - dz_mm * dz_mm, 0.0)) / dx
            ov.append(CircleOverlay(s.y, s.x, max(r_cut, 0.5), f"{s.diameter_mm:g}",
                                    "tab:orange" if r_cut > 0 else "#ff3030"))
        r0, r1, c0, c1 = _crop_box(vol.shape[1:], cy - 1.2 * rp, cy + 1.2 * rp, cx - 1.2 * rp, cx + 1.2 * rp)
        out.append(ImagePanel(f"Jaszczak cold spheres (mm), slice {k}\nbackground C_B {contrast.background.value:.4g} "
                              f"counts (slice {contrast.background_slice})",
                              np.ascontiguousarray(vol[k, r0:r1, c0:c1]), _shift(ov, -r0, -c0),
                              spacing_mm=(dy, dx)))
    if uniformity is not None:
        u = uniformity
        ov = []
        ov += mask_outline(u.ufov_mask, color=_UFOV_COLOR)
        ov += mask_outline(u.cfov_mask, color=_CFOV_COLOR)
        ov += mask_outline(u.center_mask, color="tab:green")
        width = int(u.parameters.get("du_window", 5))
        ov += _du_boxes({"ufov": u.du_window_ufov, "cfov": u.du_window_cfov}, width, lambda a: a == 1)
        img = np.asarray(u.image)
        win = _finite_window(img[np.asarray(u.ufov_mask, bool)])
        sl = f"slices {u.slices[0]}–{u.slices[-1]}" if len(u.slices) > 1 else f"slice {u.slices[0]}"
        rows, cols = np.flatnonzero((img > 0).any(axis=1)), np.flatnonzero((img > 0).any(axis=0))
        r0, r1, c0, c1 = (_crop_box(img.shape, rows[0] - 4, rows[-1] + 4, cols[0] - 4, cols[-1] + 4) if rows.size
                          else (0, img.shape[0], 0, img.shape[1]))
        title = (f"Tomographic uniformity, mean of {sl}, {u.rebin_factor}×{u.rebin_factor} rebinned\n"
                 f"IU UFOV {_fmt(u.ufov_integral_percent.value)} %, CFOV {_fmt(u.cfov_integral_percent.value)} %; "
                 f"DU UFOV {_fmt(u.ufov_differential_percent.value)} %, CFOV "
                 f"{_fmt(u.cfov_differential_percent.value)} %\ncentre/border "
                 f"{_fmt(u.center_to_border.value, '.3f')} (UFOV orange, CFOV cyan, centre green)"
                 f"{_du_legend({'ufov': u.du_window_ufov, 'cfov': u.du_window_cfov})}")
        out.append(ImagePanel(title, np.ascontiguousarray(img[r0:r1, c0:c1]), _shift(ov, -r0, -c0), window=win,
                              spacing_mm=(float(u.pixel_mm), float(u.pixel_mm))))
    if contrast is not None and contrast.spheres:
        d = np.array([s.diameter_mm for s in contrast.spheres], dtype=float)
        order = np.argsort(d)
        mx = np.array([s.max_percent.value for s in contrast.spheres], dtype=float)
        mn = np.array([s.mean_percent.value for s in contrast.spheres], dtype=float)
        out.append(Plot("Jaszczak cold-sphere contrast against diameter",
                        (Curve(d[order], mx[order], "max contrast (1 − C_min/C_B)", "line", "tab:red"),
                         Curve(d[order], mx[order], "", "points", "tab:red"),
                         Curve(d[order], mn[order], "mean contrast (1 − C_mean/C_B)", "line", "tab:blue"),
                         Curve(d[order], mn[order], "", "points", "tab:blue")),
                        "sphere diameter (mm)", "contrast (%)", refs=(Band("y", 0.0, ""),)))
    return tuple(out)


def cor_visuals(res) -> tuple:
    """Figures of a centre-of-rotation test (:class:`~phantomqc.pet_spect.spect.CenterOfRotationResult`): the x
    centroid against gantry angle with the fitted sinusoid x0 + R sin(theta + phi) and the rotation axis x0; the x
    residuals (x - fit) and the axial deviation (y - mean y) against angle."""
    th = np.asarray(res.angles_deg, dtype=float)
    x = np.asarray(res.x_mm, dtype=float)
    y = np.asarray(res.y_mm, dtype=float)
    x0 = float(res.x_offset_mm.value)
    order = np.argsort(th)
    fine = np.linspace(float(th.min()), float(th.max()), 400)
    fit = x0 + res.amplitude_mm * np.sin(np.radians(fine) + math.radians(res.phase_deg))
    p1 = Plot(f"Centre of rotation: x centroid against angle, offset {x0:+.3f} mm",
              (Curve(th[order], x[order], "centroid x", "points", "#222222"),
               Curve(fine, fit, f"sinusoid fit, amplitude {res.amplitude_mm:.2f} mm", "line", "tab:red")),
              "gantry angle (deg)", "x from the image centre (mm)",
              refs=(Band("y", x0, f"rotation axis x0 = {x0:+.3f} mm"), Band("y", 0.0, "image centre")))
    fit_at = np.asarray(res.x_fit_mm, dtype=float)
    p2 = Plot("Centre of rotation: residuals against angle",
              (Curve(th[order], (x - fit_at)[order], f"x − fit (max {res.x_residual_max_mm.value:.3f} mm)", "line",
                     "tab:red"),
               Curve(th[order], (y - y.mean())[order], f"y − mean y (max {res.y_deviation_mm.value:.3f} mm)", "line",
                     "tab:blue")),
              "gantry angle (deg)", "deviation (mm)", refs=(Band("y", 0.0, ""),))
    return (p1, p2)


# ---------------------------------------------------------------------------------------------------------------
# PET NEMA NU 2 image quality


def earl_bands(profile: str = "nema-earl", *, fallback: Mapping | None = None) -> dict:
    """The EARL recovery-coefficient bands of a standards profile, by generation, metric and sphere diameter.

    Parameters
    ----------
    profile : str
        A profile id or path (``phantomqc.standards.profiles.load_profile``).
    fallback : mapping, optional
        ``{generation: {metric: {diameter_mm: (low, high)}}}`` (e.g. ``RecoveryResult.earl_bands``): generations the
        profile does not hold are taken from it, marked as not judged.

    Returns
    -------
    dict
        ``{generation: {"rc_max" | "rc_a50": {diameter_mm: (low, high)}, "judged": bool}}``. A profile criterion
        counts when its metric is ``pet.recovery.rc_max`` or ``pet.recovery.rc_a50``, its comparison a range and its
        label ``sphere_<d>mm``; its generation is the ``EARL<n>`` named in its clause (else the profile id).
    """
    from phantomqc.standards.profiles import load_profile

    prof = load_profile(profile)
    out: dict = {}
    for c in prof.criteria:
        metric = c.metric.rsplit(".", 1)[-1]
        if not c.metric.startswith("pet.recovery.") or metric not in ("rc_max", "rc_a50") or not c.label:
            continue
        rule = c.rules[0] if len(c.rules) == 1 else None
        d = _diameter_of(c.label)
        if rule is None or rule.compare != "range" or rule.low is None or rule.high is None or not math.isfinite(d):
            continue
        m = re.search(r"EARL\s*(\d)", c.clause or "")
        gen = f"EARL{m.group(1)}" if m else prof.id
        g = out.setdefault(gen, {"judged": True})
        g.setdefault(metric, {})[d] = (float(rule.low), float(rule.high))
    for gen, tables in (fallback or {}).items():
        if gen in out:
            continue
        g = {"judged": False}
        for metric, table in tables.items():
            g[metric] = {float(d): (float(lo), float(hi)) for d, (lo, hi) in table.items()}
        out[gen] = g
    return out


def _bg_rois_on(iq, k: int) -> list:
    return [r for rois in iq.background_rois.values() for r in rois if r.slice_index == k]


def nema_iq_visuals(iq, rc, volume, spacing_mm, *, contrast_known: bool = True, profile: str = "nema-earl",
                    bands: Mapping | None = None) -> tuple:
    """Figures of the NEMA NU 2 image-quality test (:mod:`phantomqc.pet_spect.nema_iq`).

    Parameters
    ----------
    iq : NemaIQResult
    rc : RecoveryResult or None
    volume : ndarray (z, y, x)
        The PET volume as analysed.
    spacing_mm : (dz, dy, dx)
    contrast_known : bool
        False when the filling's activity ratio was not given: the contrast and recovery curves, which scale with
        it, are left out (as their measurements are), with the reason in a note.
    profile : str
        The standards profile holding the EARL bands (:func:`earl_bands`).
    bands : mapping, optional
        The bands themselves (as :func:`earl_bands` returns them), instead of reading ``profile``.

    Returns
    -------
    tuple
        - the central (sphere-plane) slice with every sphere ROI, the 12 background positions with their six
          concentric ROIs and the lung-insert ROI;
        - the five background slices (a 2 x 3 mosaic of the phantom's bounding box) with all their background and
          lung ROIs (60 per sphere size);
        - contrast Q_H / Q_C and background variability N against sphere diameter;
        - RC_max, then RC_A50 (with RC_mean and RC_peak on the A50 plot for reference), against sphere diameter
          with the EARL bands as shaded ``RangeBand`` regions (left out, with the contrast, when
          ``contrast_known`` is False).
    """
    vol = np.asarray(volume)
    dz, dy, dx = (float(v) for v in spacing_mm)
    kc = int(iq.central_slice)
    out: list = []

    def roi_overlays(k: int, dr: float = 0.0, dc: float = 0.0, sphere_labels: bool = True,
                     largest_only: bool = False) -> list:
        ov: list = []
        rois = _bg_rois_on(iq, k)
        if largest_only and rois:
            rmax = max(r.radius_mm for r in rois)
            rois = [r for r in rois if r.radius_mm == rmax]
        for r in rois:
            ov.append(CircleOverlay(r.center_y_px + dr, r.center_x_px + dc, r.radius_mm / dx, "", "tab:cyan"))
        for r in iq.lung_rois:
            if r.slice_index == k:
                ov.append(CircleOverlay(r.center_y_px + dr, r.center_x_px + dc, r.radius_mm / dx, "", "#2ecc71"))
        if k == kc:
            for r in iq.sphere_rois:
                ov.append(CircleOverlay(r.center_y_px + dr, r.center_x_px + dc, r.radius_mm / dx,
                                        f"{2 * r.radius_mm:g}" if sphere_labels else "", "tab:orange"))
        return ov

    cold = ", cold " + "/".join(f"{c:g}" for c in iq.cold_spheres_mm) + " mm" if iq.cold_spheres_mm else ""
    out.append(ImagePanel(f"NEMA IQ central slice {kc}\nspheres (orange, mm){cold}, background (cyan), lung (green)",
                          np.ascontiguousarray(vol[kc]), tuple(roi_overlays(kc)), spacing_mm=(dy, dx)))

    # the five background slices, cropped to the phantom, tiled 2 x 3
    body = np.asarray(iq.location.body_mask, bool)
    rows, cols = np.flatnonzero(body.any(axis=1)), np.flatnonzero(body.any(axis=0))
    if rows.size and cols.size:
        pad = 3
        r0, r1 = max(0, rows[0] - pad), min(body.shape[0], rows[-1] + pad + 1)
        c0, c1 = max(0, cols[0] - pad), min(body.shape[1], cols[-1] + pad + 1)
        h, w = r1 - r0, c1 - c0
        slices = sorted({int(k) for k in iq.background_slices})
        n_cols = 3
        n_rows = math.ceil(len(slices) / n_cols)
        fill = float(np.min(vol[slices[0], r0:r1, c0:c1]))
        mosaic = np.full((n_rows * h, n_cols * w), fill, dtype=np.float64)
        ov = []
        for j, k in enumerate(slices):
            tr, tc = divmod(j, n_cols)
            mosaic[tr * h:(tr + 1) * h, tc * w:(tc + 1) * w] = vol[k, r0:r1, c0:c1]
            dr, dc = tr * h - r0, tc * w - c0
            off = (k - kc) * dz
            ov.append(RectOverlay(float(tr * h), float(tc * w), float(h), float(w), "", "#7f8c8d"))
            ov.append(PointOverlay(float(tr * h + 0.06 * h), float(tc * w + 0.02 * w),
                                   f"slice {k} ({off:+.0f} mm)", "#7f8c8d", ""))
            ov += roi_overlays(k, dr, dc, sphere_labels=False, largest_only=True)
        n_bg = len(next(iter(iq.background_rois.values()), ()))
        big = max((2 * r.radius_mm for rois in iq.background_rois.values() for r in rois), default=float("nan"))
        out.append(ImagePanel(f"NEMA IQ background ROIs: {n_bg} per sphere size on {len(slices)} slices\n"
                              f"(the {big:g} mm ROIs shown; the smaller ones are concentric)",
                              mosaic, tuple(ov), spacing_mm=(dy, dx)))

    labels = sorted(iq.background_variability_percent, key=_diameter_of)
    d = np.array([_diameter_of(lab) for lab in labels])
    nv = np.array([iq.background_variability_percent[lab].value for lab in labels], dtype=float)
    curves = [Curve(d, nv, "background variability N", "line", "tab:blue"), Curve(d, nv, "", "points", "tab:blue")]
    notes = []
    if contrast_known:
        cold_set = {float(c) for c in iq.cold_spheres_mm}
        q = np.array([iq.contrast_percent[lab].value if lab in iq.contrast_percent else np.nan for lab in labels])
        hot = np.array([x not in cold_set for x in d])
        if hot.any():
            curves += [Curve(d[hot], q[hot], "hot contrast Q_H", "line", "tab:red"),
                       Curve(d[hot], q[hot], "", "points", "tab:red")]
        if (~hot).any():
            curves += [Curve(d[~hot], q[~hot], "cold contrast Q_C", "points", "tab:purple")]
    else:
        notes.append("contrast and recovery not shown: the filling's activity ratio was not given (manifest field "
                     "activity_ratio)")
    notes.append(f"lung residual {_fmt(iq.lung_residual_percent.value)} %; activity ratio "
                 f"{iq.activity_ratio:g}{'' if contrast_known else ' (assumed, for localisation only)'}")
    out.append(Plot("NEMA IQ contrast and background variability", tuple(curves), "sphere diameter (mm)",
                    "percent (%)", notes=tuple(notes)))

    if rc is not None and contrast_known:
        table = dict(bands) if bands is not None else earl_bands(profile, fallback=getattr(rc, "earl_bands", None))
        for metric, name, extra in (("rc_max", "RC_max", ()), ("rc_a50", "RC_A50", ("rc_mean", "rc_peak"))):
            vals = getattr(rc, metric)
            labs = sorted(vals, key=_diameter_of)
            x = np.array([_diameter_of(lab) for lab in labs])
            y = np.array([vals[lab].value for lab in labs], dtype=float)
            rb = []
            for gen in sorted(table):
                t = table[gen].get(metric) if isinstance(table[gen], Mapping) else None
                if not t:
                    continue
                bx = np.array(sorted(t))
                judged = table[gen].get("judged", True)
                rb.append(RangeBand(bx, np.array([t[v][0] for v in bx]), np.array([t[v][1] for v in bx]),
                                    f"{gen} band" + ("" if judged else " (not in the profile, not judged)"),
                                    _BAND_COLORS.get(gen)))
            curves = [Curve(x, y, name, "line", "#222222"), Curve(x, y, "", "points", "#222222")]
            for e, color in zip(extra, ("tab:orange", "tab:gray")):
                ev = getattr(rc, e)
                curves.append(Curve(x, np.array([ev[lab].value if lab in ev else np.nan for lab in labs]),
                                    e.replace("rc_", "RC_"), "points", color))
            out.append(Plot(f"Recovery {name} against sphere diameter", tuple(curves), "sphere diameter (mm)", name,
                            notes=((f"true sphere concentration {rc.sphere_concentration:.4g} "
                                   f"(background {rc.background_concentration:.4g})"),), bands=tuple(rb)))
    return tuple(out)
