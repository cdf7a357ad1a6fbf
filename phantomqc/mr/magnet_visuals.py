"""Figure specifications of the single-object MR tests (MagNET / IPEM) and of the SNR of the ACR slice 7.

Pure functions: each takes the analysed image(s), the pixel spacing and the analyzer's frozen result object, and
returns a tuple of :mod:`phantomqc.core.visuals` specs (``ImagePanel``, ``Plot``) that
:mod:`phantomqc.report.figures` draws. Nothing here measures: every number on a figure is a field of the result
(the ROIs, their means and SNRs, the profiles and the fitted ramps); the only arrays computed are the noise maps
shown, the difference ``I1 - I2`` of an SNR pair (NEMA MS 1 method 1) and the residual ``I - B_k * I`` of the
smoothing method (McCann et al. 2013), both exactly as :mod:`phantomqc.mr.snr` forms them.

- :func:`snr_pair_visuals`: image 1 with the five ROIs and their per-ROI SNR, and the difference image as a noise
  map (symmetric window).
- :func:`flood_visuals`: the WS/T 263 nine ROIs with their means and the NEMA MS 3 extremes; the IPEM fractional
  uniformity bands; the single-image SNR signal and background ROIs; a plot of the two uniformity profiles with
  the accepted band.
- :func:`ghosting_visuals`: the bottle, ghost-band and noise ROIs on a background window.
- :func:`slice_width_visuals`: the rods and the two ramp bands on the image, and each ramp's profile with its fit
  and FWHM.
- :func:`snr_panels`: the ROI panel and the noise-map panel shared with the ACR runner
  (:func:`phantomqc.mr.acr._visuals`).
- :func:`visuals_or_warning`: run a builder; a figure problem becomes a warning, never a lost measurement.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

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
    "flood_visuals",
    "ghosting_visuals",
    "slice_width_visuals",
    "smoothing_residual",
    "snr_pair_visuals",
    "snr_panels",
    "visuals_or_warning",
]

#: Half-width of the symmetric window of a noise map, in standard deviations of the map.
NOISE_WINDOW_SD: float = 4.0

_ROI_COLORS = ("tab:orange", "tab:cyan")


# ---------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------

def visuals_or_warning(build: Callable[..., tuple], *args: Any, **kwargs: Any) -> tuple[tuple, tuple[str, ...]]:
    """``(build(*args, **kwargs), ())``, or ``((), ("figure not drawn: <cause>",))`` when the builder raises.

    The figures of a test are a by-product of its measurements: a spec that cannot be built (an unexpected result
    shape, a degenerate image) must never lose the numbers, so the runner reports the cause as a warning instead.
    This is a batch boundary in the sense of STYLE.md: the only place a builder's exception is caught.
    """
    try:
        return tuple(build(*args, **kwargs)), ()
    except Exception as exc:  # noqa: BLE001 - a figure problem never loses the measurements
        return (), (f"figure not drawn: {type(exc).__name__}: {exc}",)


def _fmt(v: float, digits: int = 3) -> str:
    """``v`` to ``digits`` significant figures, without an exponent for the magnitudes of MR pixel values."""
    if not math.isfinite(v):
        return "n/a"
    if v != 0 and abs(v) >= 10 ** digits:
        return f"{v:.0f}"
    return f"{v:.{digits}g}"


def _window(image: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.5) -> tuple[float, float]:
    """Display window from percentiles of the finite pixels (the ACR figures' convention)."""
    a = np.asarray(image, dtype=np.float64)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(a, (low_pct, high_pct)))
    if not hi > lo:
        hi = lo + max(abs(lo) * 0.01, 1.0)
    return lo, hi


def _symmetric_window(noise: np.ndarray, sd: float | None) -> tuple[float, float]:
    """(-h, h) with h = ``NOISE_WINDOW_SD`` x ``sd``; from the 99.5th percentile of |noise| when ``sd`` is not a
    positive number."""
    if sd is None or not (math.isfinite(sd) and sd > 0):
        a = np.abs(np.asarray(noise, dtype=np.float64))
        a = a[np.isfinite(a)]
        sd = float(np.percentile(a, 99.5)) / NOISE_WINDOW_SD if a.size else 1.0
        if not sd > 0:
            sd = 1.0
    h = NOISE_WINDOW_SD * float(sd)
    return -h, h


def _rect(roi: Any, label: str = "", color: str = "tab:orange") -> RectOverlay:
    """A ``RectROI`` (first pixel and size) as an overlay."""
    return RectOverlay(float(roi.row0), float(roi.col0), float(roi.nrows), float(roi.ncols), label=label, color=color)


def _disc(row: float, col: float, radius_mm: float, spacing_mm: Sequence[float], label: str = "",
          color: str = "tab:orange"):
    """A disc of ``radius_mm`` about (row, col): a ``CircleOverlay`` on square pixels, else its ellipse in pixels
    as a closed line (a circle in mm, as the analyzers' disc masks are)."""
    sy, sx = float(spacing_mm[0]), float(spacing_mm[1])
    if abs(sy - sx) <= 1e-6 * max(sy, sx):
        return CircleOverlay(float(row), float(col), radius_mm / sy, label=label, color=color)
    t = np.linspace(0.0, 2.0 * np.pi, 61)
    return LineOverlay(tuple(float(v) for v in row + radius_mm / sy * np.sin(t)),
                       tuple(float(v) for v in col + radius_mm / sx * np.cos(t)), label=label, color=color)


def _sp(spacing_mm: Sequence[float]) -> tuple[float, float]:
    return float(spacing_mm[0]), float(spacing_mm[1])


def smoothing_residual(image: np.ndarray, kernel_px: int) -> np.ndarray:
    """The noise image of the smoothing SNR method: ``I - B_k * I`` (k x k boxcar, edges reflected), float64.

    The same array :func:`phantomqc.mr.snr.snr_smoothing` measures its noise SD in (McCann et al. 2013).
    """
    from scipy import ndimage

    f = np.asarray(image, dtype=np.float64)
    return f - ndimage.uniform_filter(f, int(kernel_px), mode="reflect")


def _same_rois(a: Sequence[Any], b: Sequence[Any]) -> bool:
    key = lambda r: (r.row0, r.col0, r.nrows, r.ncols)
    return len(a) == len(b) and all(key(p) == key(q) for p, q in zip(a, b))


# ---------------------------------------------------------------------------------------------------------------
# SNR
# ---------------------------------------------------------------------------------------------------------------

def snr_panels(image: np.ndarray, spacing_mm: Sequence[float], results: Sequence[Any], *, noise_image: np.ndarray,
               noise_sd: float | None, image_title: str, noise_title: str,
               outline: tuple[tuple[float, float], float] | None = None) -> tuple[ImagePanel, ImagePanel]:
    """The image with the ROIs of one or more SNR methods, and a noise map with the noise ROIs.

    Parameters
    ----------
    image : ndarray
        The image the signal was measured on, ``(rows, cols)``.
    spacing_mm : (float, float)
        Pixel spacing (row, column), mm.
    results : sequence of SNRResult
        The methods to show (e.g. subtraction, smoothing); each ROI is labelled with its SNR, the methods'
        values separated by ``|`` in the order given when they share their ROIs.
    noise_image : ndarray
        The noise map (``I1 - I2`` or ``I - B_k * I``), same shape as ``image``.
    noise_sd : float or None
        The standard deviation of ``noise_image`` in the phantom: the window is +-4 of it (symmetric about 0).
    image_title, noise_title : str
        The panels' titles.
    outline : ((row, col), radius_mm), optional
        The phantom's outline (from :func:`phantomqc.mr.localize.find_phantom`), drawn in black on the noise map,
        where the phantom's edge is otherwise hard to see.

    Returns
    -------
    (ImagePanel, ImagePanel)
    """
    sp = _sp(spacing_mm)
    ov: list = []
    if len(results) > 1 and all(_same_rois(results[0].signal_rois, r.signal_rois) for r in results[1:]):
        for i, roi in enumerate(results[0].signal_rois):
            lab = " | ".join(_fmt(r.roi_snr[i]) for r in results) if len(results[0].roi_snr) > i else ""
            ov.append(_rect(roi, lab, _ROI_COLORS[0]))
    else:
        for j, r in enumerate(results):
            for i, roi in enumerate(r.signal_rois):
                lab = _fmt(r.roi_snr[i]) if len(r.roi_snr) == len(r.signal_rois) else ""
                ov.append(_rect(roi, lab, _ROI_COLORS[j % len(_ROI_COLORS)]))
    first = ImagePanel(image_title, image, tuple(ov), window=_window(image), spacing_mm=sp)
    noise_ov = []
    seen: set = set()
    for r in results:
        for roi in r.noise_rois:
            k = (roi.row0, roi.col0, roi.nrows, roi.ncols)
            if k not in seen:
                seen.add(k)
                noise_ov.append(_rect(roi, "", "tab:green"))
    if outline is not None:
        (orow, ocol), orad = outline
        noise_ov.append(_disc(orow, ocol, orad, sp, "", "black"))
    noise = ImagePanel(noise_title, noise_image, tuple(noise_ov), window=_symmetric_window(noise_image, noise_sd),
                       spacing_mm=sp, cmap="RdBu_r")
    return first, noise


def snr_pair_visuals(image1: np.ndarray, image2: np.ndarray, spacing_mm: Sequence[float], subtraction: Any,
                     smoothing: Any, *, circle: Any = None) -> tuple:
    """Figure specs of an SNR pair (``mr.snr_pair``).

    Parameters
    ----------
    image1, image2 : ndarray
        The two repeated acquisitions, ``(rows, cols)``, as analysed (rescaled).
    spacing_mm : (float, float)
        Pixel spacing (row, column), mm.
    subtraction, smoothing : SNRResult
        :func:`phantomqc.mr.snr.snr_subtraction` of the pair and :func:`phantomqc.mr.snr.snr_smoothing` of image 1.
    circle : PhantomCircle, optional
        The phantom found on image 1: its outline is drawn on the noise map.

    Returns
    -------
    tuple of ImagePanel
        Image 1 with the five ROIs, each labelled with its SNR by both methods; the difference ``I1 - I2`` (the
        NEMA MS 1 noise image, SD sqrt(2) sigma) with the noise ROIs, in a window of +-4 sqrt(2) sigma.
    """
    k = smoothing.parameters.get("kernel_px", "?")
    t1 = (f"SNR pair, image 1: subtraction {_fmt(subtraction.snr.value, 4)}, smoothing {_fmt(smoothing.snr.value, 4)}"
          f"\nper-ROI SNR: subtraction | smoothing ({k} × {k} px boxcar)")
    diff = np.asarray(image1, dtype=np.float64) - np.asarray(image2, dtype=np.float64)
    sd_diff = math.sqrt(2.0) * float(subtraction.noise_sd.value)
    t2 = (f"Noise map I1 − I2: σ = SD/√2 = {_fmt(subtraction.noise_sd.value)} (mean over the ROIs)"
          f"\nwindow ±{NOISE_WINDOW_SD:g} SD (±{_fmt(NOISE_WINDOW_SD * sd_diff)})")
    return snr_panels(image1, spacing_mm, (subtraction, smoothing), noise_image=diff, noise_sd=sd_diff,
                      image_title=t1, noise_title=t2,
                      outline=None if circle is None else (tuple(circle.center_px), float(circle.radius_mm)))


# ---------------------------------------------------------------------------------------------------------------
# flood (uniformity and single-image SNR)
# ---------------------------------------------------------------------------------------------------------------

def _region_outline(mask: Any, color: str) -> list:
    """The boundary of a region (boolean pixel mask) as closed lines between its pixels and the others (the
    0.5 level of the mask, so a disc of pixel centres is drawn as its circle); empty for None."""
    if mask is None:
        return []
    from skimage.measure import find_contours

    padded = np.pad(np.asarray(mask, dtype=np.float64), 1)
    return [LineOverlay(tuple(float(v) - 1.0 for v in c[:, 0]), tuple(float(v) - 1.0 for v in c[:, 1]), "", color)
            for c in find_contours(padded, 0.5) if len(c) > 2]


def flood_visuals(image: np.ndarray, spacing_mm: Sequence[float], *, fractional: Any = None, wst263: Any = None,
                  nema_ms3: Any = None, single_image: Any = None, snr_wst263: Any = None) -> tuple:
    """Figure specs of a flood image (``mr.flood``); any result left as None is left out.

    Parameters
    ----------
    image : ndarray
        The flood image, ``(rows, cols)``.
    spacing_mm : (float, float)
        Pixel spacing (row, column), mm.
    fractional : FractionalUniformityResult, optional
        IPEM fractional uniformity: its bands and central ROI on the image, and a plot of its profiles.
    wst263 : WST263UniformityResult, optional
        WS/T 263 uniformity: the nine ROIs labelled with their means (largest red, smallest blue).
    nema_ms3 : NEMAMS3UniformityResult, optional
        NEMA MS 3: the outline of its measured region (``region_mask``; its disc when absent) and the filtered
        maximum and minimum.
    single_image, snr_wst263 : SNRResult, optional
        Single-image SNR (the outline of its signal region, ``parameters["signal_region_mask"]``, else its disc,
        and the background ROIs) and the WS/T 263 SNR (its central disc), shown on a background window;
        ``run_flood`` passes the details ``"single_image"`` and ``"snr_wst263"``.

    Returns
    -------
    tuple of ImagePanel and Plot
    """
    sp = _sp(spacing_mm)
    win = _window(image)
    vis: list = []
    if wst263 is not None:
        means = wst263.roi_means
        hi_name = max(means, key=means.get)
        lo_name = min(means, key=means.get)
        ov = [_disc(roi.row, roi.col, roi.radius_mm, sp, _fmt(means.get(roi.name, float("nan")), 4),
                    "tab:red" if roi.name == hi_name else "tab:blue" if roi.name == lo_name else "tab:orange")
              for roi in wst263.rois]
        vis.append(ImagePanel(f"WS/T 263 uniformity U = {wst263.uniformity_percent.value:.1f} %"
                              f"\nnine ROI means: largest red, smallest blue", image, tuple(ov), window=win,
                              spacing_mm=sp))
    if nema_ms3 is not None:
        n3 = nema_ms3
        region = getattr(n3, "region_mask", None)
        ov = (_region_outline(region, "tab:cyan") if region is not None
              else [_disc(n3.roi.row, n3.roi.col, n3.roi.radius_mm, sp, "", "tab:cyan")])
        ov += [PointOverlay(float(n3.max_px[0]), float(n3.max_px[1]), "", "tab:red", "^"),
               PointOverlay(float(n3.min_px[0]), float(n3.min_px[1]), "", "tab:blue", "v")]
        k = n3.parameters.get("filter_px", 3)
        # the values go in the title, not beside the markers: the extremes are often neighbours (an edge, a bubble)
        vis.append(ImagePanel(f"NEMA MS 3 NU = {n3.nonuniformity_percent.value:.1f} %: max {_fmt(n3.s_max, 4)} (▲), "
                              f"min {_fmt(n3.s_min, 4)} (▼)\nof the {k} × {k} mean-filtered image in the cyan "
                              f"{'region' if region is not None else 'disc'} "
                              f"({100 * n3.parameters.get('area_fraction', 0.75):g} % of the phantom)",
                              image,
                              tuple(ov), window=win, spacing_mm=sp))
    if fractional is not None:
        f = fractional
        tol = float(f.parameters.get("tolerance", 0.1))
        ov = [_rect(f.horizontal_band, f"horizontal {f.horizontal.value:.3f}", "tab:orange"),
              _rect(f.vertical_band, f"vertical {f.vertical.value:.3f}", "tab:cyan"),
              _rect(f.central_roi, "", "tab:red")]
        title = (f"IPEM fractional uniformity: horizontal {f.horizontal.value:.3f}, vertical {f.vertical.value:.3f}"
                 f"\nreference M = {_fmt(f.reference, 4)} ({f.parameters.get('reference', 'mode')} of the red "
                 f"ROI), band ±{100 * tol:g} %")
        vis.append(ImagePanel(title, image, tuple(ov), window=win, spacing_mm=sp))
        cy, cx = f.parameters.get("center_px", (None, None))
        hb, vb = f.horizontal_band, f.vertical_band
        if cx is None:
            cx = hb.col0 + (hb.ncols - 1) / 2.0
            cy = vb.row0 + (vb.nrows - 1) / 2.0
        xh = (np.arange(hb.col0, hb.col0 + hb.ncols) - float(cx)) * sp[1]
        xv = (np.arange(vb.row0, vb.row0 + vb.nrows) - float(cy)) * sp[0]
        lo, hi = (1.0 - tol) * f.reference, (1.0 + tol) * f.reference
        xb = np.array([min(xh[0], xv[0]), max(xh[-1], xv[-1])])
        curves = (Curve(xh, np.asarray(f.horizontal_profile, dtype=float),
                        f"horizontal: {f.horizontal.value:.3f} in band", color="tab:orange"),
                  Curve(xv, np.asarray(f.vertical_profile, dtype=float),
                        f"vertical: {f.vertical.value:.3f} in band", color="tab:cyan"))
        vis.append(Plot(f"IPEM fractional uniformity profiles ({f.parameters.get('profile_width_mm', '?'):g} mm wide "
                        "bands)", curves, "position from the centre (mm; left to right, top to bottom)",
                        "mean signal across the band",
                        refs=(Band("y", float(f.reference), f"M = {_fmt(f.reference, 4)}"),),
                        bands=(RangeBand(xb, np.full(2, lo), np.full(2, hi), f"accepted: M ± {100 * tol:g} %"),)))
    if single_image is not None or snr_wst263 is not None:
        ov = []
        parts = []
        bg_rois: dict = {}
        for r, colour, name in ((single_image, "tab:orange", "single-image"), (snr_wst263, "tab:cyan", "WS/T 263")):
            if r is None:
                continue
            region = r.parameters.get("signal_region_mask") if isinstance(r.parameters, dict) else None
            if region is not None:
                ov += _region_outline(region, colour)
            else:
                ov += [_disc(roi.row, roi.col, roi.radius_mm, sp, "", colour) for roi in r.signal_rois]
            for roi in r.noise_rois:
                bg_rois.setdefault((roi.row0, roi.col0, roi.nrows, roi.ncols), roi)
            extra = f" (S {_fmt(r.signal.value, 4)}, σ {_fmt(r.noise_sd.value)})" if r is single_image else ""
            parts.append(f"{name} {_fmt(r.snr.value, 4)}{extra}")
        ov += [_rect(roi, "", "tab:green") for roi in bg_rois.values()]
        # background window: from the air's low percentile to a few times its level, so the noise (and any ghost
        # in a background ROI) is visible; the phantom saturates
        bg = np.concatenate([np.asarray(image, dtype=np.float64)[roi.slices].ravel() for roi in bg_rois.values()]) \
            if bg_rois else np.asarray(image, dtype=np.float64).ravel()
        b_lo, b_hi = (float(v) for v in np.percentile(bg, (0.5, 99.5)))
        bwin = (b_lo, b_lo + max(2.0 * (b_hi - b_lo), 0.02 * (win[1] - win[0]), 1e-6))
        vis.append(ImagePanel("SNR: " + ", ".join(parts) + "\nsignal: orange single-image, cyan WS/T 263; "
                              "background: green", image,
                              tuple(ov), window=bwin, spacing_mm=sp))
    return tuple(vis)


# ---------------------------------------------------------------------------------------------------------------
# ghosting
# ---------------------------------------------------------------------------------------------------------------

def ghosting_visuals(image: np.ndarray, spacing_mm: Sequence[float], result: Any) -> tuple:
    """Figure spec of the MagNET small-bottle ghosting (``mr.ghosting``).

    Parameters
    ----------
    image : ndarray
        The small-bottle image, ``(rows, cols)``.
    spacing_mm : (float, float)
        Pixel spacing (row, column), mm.
    result : SmallBottleGhostingResult
        :func:`phantomqc.mr.ghosting.small_bottle_ghosting`.

    Returns
    -------
    tuple of ImagePanel
        The image on a background window (where the ghost is seen; the bottle saturates) with the bottle's signal
        ROI (red), the ghost band along the phase-encode direction (orange) and the four noise ROIs (green).
    """
    sp = _sp(spacing_mm)
    r = result
    f = np.asarray(image, dtype=np.float64)
    floor = float(np.percentile(f, 1.0))
    # background window: up to 4x the larger of the ghost and noise levels above the floor, at least 2 % of the
    # bottle's signal, so a 0.1 % ghost shows as grey and the bottle saturates
    level = max(r.ghost, r.noise) - floor
    hi = floor + max(4.0 * level, 0.02 * (r.signal - floor), 1e-6)
    ov = [_rect(r.signal_roi, f"S {_fmt(r.signal, 4)}", "tab:red"),
          _rect(r.ghost_roi, f"ghost G {_fmt(r.ghost)}", "tab:orange")]
    for i, roi in enumerate(r.noise_rois):
        ov.append(_rect(roi, f"N {_fmt(r.noise)}" if i == 0 else "", "tab:green"))
    title = (f"MagNET ghosting: 100 |G − N| / S = {r.percent.value:.3f} %"
             f"\nphase encoding {r.phase_encoding_direction}; background window")
    return (ImagePanel(title, image, tuple(ov), window=(floor, hi), spacing_mm=sp),)


# ---------------------------------------------------------------------------------------------------------------
# slice width
# ---------------------------------------------------------------------------------------------------------------

def _band_geometry(fit: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The band's left and right ends (row, col) in pixels, or None when the result has no ``band_end_px``."""
    ends = getattr(fit, "band_end_px", ())
    if not ends or len(ends) != 2:
        return None
    return np.asarray(ends[0], dtype=float), np.asarray(ends[1], dtype=float)


def slice_width_visuals(image: np.ndarray, spacing_mm: Sequence[float], result: Any) -> tuple:
    """Figure specs of the MagNET slice width (``mr.slice_width``).

    Parameters
    ----------
    image : ndarray
        The slice-width image, ``(rows, cols)``.
    spacing_mm : (float, float)
        Pixel spacing (row, column), mm.
    result : MagnetSliceWidthResult
        :func:`phantomqc.mr.slice_thickness.magnet_slice_width`.

    Returns
    -------
    tuple of ImagePanel and Plot
        The image with the nine rods, each ramp band (centre line and the edges of the averaged band) and its FWHM
        as a red segment; then one plot per ramp: the profile, the fitted baseline and baseline + trapezoid, and
        the FWHM as two vertical lines at ``x0 -+ w/2``.
    """
    sp = _sp(spacing_mm)
    r = result
    mm = np.array(sp)
    half = float(r.parameters.get("band_half_height_mm", 0.0))
    ov: list = []
    for fit, colour in zip(r.ramps, ("tab:orange", "tab:cyan")):
        geo = _band_geometry(fit)
        w = float(fit.fwhm_mm.value)
        if geo is None:  # an older result: the band's mean row only
            ov.append(LineOverlay((fit.band_row_px, fit.band_row_px), (0.0, float(np.shape(image)[1] - 1)),
                                  label=fit.name, color=colour))
            continue
        p0, p1 = geo
        length_mm = float(np.hypot(*((p1 - p0) * mm)))
        u = (p1 - p0) * mm / length_mm               # unit vector along the band, mm
        nrm = np.array([u[1], -u[0]])               # across the band, mm
        mid = 0.5 * (p0 + p1)
        for s in (-half, half):
            a, b = p0 + s * nrm / mm, p1 + s * nrm / mm
            ov.append(LineOverlay((float(a[0]), float(b[0])), (float(a[1]), float(b[1])), color=colour))
        # a short label: it starts at the band's right end, near the image edge; the values are in the title
        ov.append(LineOverlay((float(p0[0]), float(p1[0])), (float(p0[1]), float(p1[1])), label=fit.name,
                              color=colour))
        q0 = mid + (fit.center_mm - 0.5 * w) * u / mm
        q1 = mid + (fit.center_mm + 0.5 * w) * u / mm
        ov.append(LineOverlay((float(q0[0]), float(q1[0])), (float(q0[1]), float(q1[1])), color="tab:red"))
    rods = np.asarray(r.rods_px, dtype=float).reshape(-1, 2)
    ov += [PointOverlay(float(row), float(col), "", "tab:green", "+") for row, col in rods]
    fw = {fit.name: fit.fwhm_mm.value for fit in r.ramps}
    fw_text = ", ".join(f"{k} {v:.1f} mm" for k, v in fw.items())
    title = (f"MagNET slice width {r.slice_width_mm.value:.2f} mm (tilt {r.tilt_deg:.1f}°)"
             f"\nFWHM (red) {fw_text}; bands ±{half:g} mm; rods green")
    vis: list = [ImagePanel(title, image, tuple(ov), window=_window(image), spacing_mm=sp)]
    ramp_angle = float(r.parameters.get("ramp_angle_deg", 11.3))
    for fit in r.ramps:
        w = float(fit.fwhm_mm.value)
        x = np.asarray(fit.x_mm, dtype=float)
        vals = np.asarray(fit.values, dtype=float)
        xl, xr = float(fit.center_mm - 0.5 * w), float(fit.center_mm + 0.5 * w)
        y0, y1 = float(np.nanmin(vals)), float(np.nanmax(vals))
        curves = (Curve(x, vals, "profile", color="#555555"),
                  Curve(x, np.asarray(fit.baseline, dtype=float), "fitted baseline", color="tab:green"),
                  Curve(x, np.asarray(fit.model, dtype=float), "baseline + trapezoid fit", color="tab:blue"),
                  # the FWHM: two vertical lines at x0 -+ w/2, one curve broken by NaN so they share a colour
                  Curve(np.array([xl, xl, np.nan, xr, xr]), np.array([y0, y1, np.nan, y0, y1]),
                        f"FWHM {w:.2f} mm", color="tab:red"))
        own = r.slice_width_top_mm if fit.name == "top" else r.slice_width_bottom_mm
        notes = ((f"FWHM {w:.2f} mm / rod scale {fit.scale:.4f} = {fit.fwhm_corrected_mm.value:.2f} mm; "
                  f"× tan {ramp_angle:g}° = {own.value:.2f} mm"),
                 f"slice width from both ramps (crossed, tilt-corrected): {r.slice_width_mm.value:.2f} mm")
        vis.append(Plot(f"MagNET {fit.name} ramp: FWHM {w:.2f} mm (trapezoid edges {fit.ramp_width_mm:.1f} mm)", curves,
                        "position along the band (mm, left to right)", "mean signal across the band",
                        notes=notes))
    return tuple(vis)
