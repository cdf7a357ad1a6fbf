"""Gamma-camera intrinsic spatial linearity from a slit-mask (line-grid) image, NEMA NU 1.

Pure functions of a 2-D count image ``(y, x)`` and its pixel spacing in mm ``(row, column)``:

* :func:`detect_line_orientation` -- whether the lines of a slit or line-source image run along y (``"x"``: their
  positions are measured along x) or along x (``"y"``);
* :func:`spatial_linearity` -- absolute and differential linearity over the UFOV and the CFOV for one slit
  orientation.

The result is a frozen dataclass with :class:`~phantomqc.core.types.Quantity` values, every peak position it found
(for the report's figure), the masks, one band profile, every parameter used and its warnings; ``measurements()``
gives ``nm.linearity.absolute_mm`` and ``nm.linearity.differential_mm`` with labels ``ufov_x``, ``cfov_x`` (or
``_y``). :func:`linearity_visuals` and :func:`line_source_figures` (for
:func:`~phantomqc.pet_spect.planar.line_source_fwhm`) turn results into figure specifications (plain data). No
thresholds, I/O or plotting here.

What NEMA NU 1 asks, and what this module follows
-------------------------------------------------
NU 1 (2007 and later, section "Intrinsic spatial linearity") images a lead mask of parallel 1 mm slits 30 mm apart
covering the UFOV, once with the slits along y and once along x. The data are summed parallel to the slits into
line-spread profiles at most 30 mm wide, and the peak of each slit in each profile is located. *Absolute linearity*
is the largest displacement of a peak from a set of equally spaced parallel lines fitted to all peaks by least
squares, fitted separately to the UFOV and to the CFOV data and separately for each orientation. *Differential
linearity* is a standard deviation of the peak locations; NU 1-2007 words it as the SD of each slit's peak
locations about its own best-fit line, while the older NU 1 wording (and the phantomqc brief) takes the SD of the
spacings between adjacent slits. The reported ``nm.linearity.differential_mm`` is the spacing SD; the per-slit
form is kept in the result (``line_residual_sd_mm``) for comparison with vendor data sheets that use it.

Choices where NU 1 is silent (all parameters of :func:`spatial_linearity`):

* bands of exactly 30 mm (``band_mm``) along the slits, centred on the field centre, edge rows weighted by their
  overlap with the band;
* the peak location is an iterated, background-subtracted centroid in a window of +- 1.5 FWHM about the peak (the
  first moment is the mean slit position over the band even where the slit bends inside it; a Gaussian fit is
  not);
* the field is where a box one line spacing wide across the slits holds a slit (half a spacing beyond the outer
  slits); UFOV = that field scaled to 95 % of its linear size about its centroid (as
  :func:`~phantomqc.pet_spect.planar.nema_uniformity`), CFOV = 75 % of the UFOV; a peak belongs to a FOV when both
  ends of its band segment do;
* displacements are measured along the measurement axis (x for slits along y), as NU 1 states ("in the X or Y
  direction"); the fitted grid has a free offset, spacing and angle, so a rotated mask or a magnification error is
  not counted as non-linearity.

References
----------
NEMA NU 1-2018 (and 2007), Performance Measurements of Gamma Cameras, section 2.2 "Intrinsic spatial linearity".
IAEA Human Health Series No. 6 (2009), Quality Assurance for SPECT Systems, intrinsic linearity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.signal import find_peaks

from phantomqc._shared.errors import InputError, PhantomNotFoundError
from phantomqc.core.types import Measurement, Quantity
from phantomqc.pet_spect.planar import _as_image, _largest_component, _scale_mask, _spacing, nema_peak_width

__all__ = ["LinearityResult", "detect_line_orientation", "line_source_figures", "linearity_visuals",
           "spatial_linearity"]

_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


def _frame(img: NDArray, spacing: tuple[float, float], orientation: str):
    """(array with rows along the lines and columns along the measurement axis, spacing along a, along b)."""
    sy, sx = spacing
    if orientation == "x":
        return img, sx, sy
    return np.ascontiguousarray(img.T), sy, sx


def _modulation(profile: NDArray, sigma_px: float) -> float:
    p = np.asarray(profile, dtype=np.float64)
    m = float(np.mean(p))
    if not m > 0:
        return 0.0
    return float(np.std(p - ndimage.gaussian_filter1d(p, sigma_px, mode="nearest")) / m)


def detect_line_orientation(image, spacing_mm, *, line_spacing_mm: float = 30.0) -> Literal["x", "y"]:
    """Which way the lines of a slit-mask or line-source image run.

    Parameters
    ----------
    image : ndarray (y, x)
        Counts.
    spacing_mm : (float, float)
        Pixel spacing (row, column), mm.
    line_spacing_mm : float
        The slit spacing (sets the high-pass scale: a third of it).

    Returns
    -------
    {"x", "y"}
        ``"x"`` when the lines run along y (their positions, and the distortion, are measured along x).

    Notes
    -----
    Over the central half of the irradiated field's bounding box, the mean profiles along x (the rows averaged)
    and along y are high-pass filtered (minus a Gaussian smoothing of ``line_spacing_mm / 3``); the profile whose
    relative SD is larger crosses the lines. The central box keeps the field edges out of both profiles.

    Raises
    ------
    PhantomNotFoundError
        When the image has no counts or neither profile is modulated (no lines).
    """
    img = _as_image(image)
    sy, sx = _spacing(spacing_mm)
    if not float(img.max()) > 0:
        raise PhantomNotFoundError("the image has no counts: no line pattern to find")
    sm = ndimage.gaussian_filter(img, (line_spacing_mm / sy, line_spacing_mm / sx))
    rows, cols = np.nonzero(sm > 0.2 * float(sm.max()))
    r0, r1, c0, c1 = rows.min(), rows.max(), cols.min(), cols.max()
    rq, cq = (r1 - r0) // 4, (c1 - c0) // 4
    box = img[r0 + rq: r1 - rq + 1, c0 + cq: c1 - cq + 1]
    if box.shape[0] < 3 or box.shape[1] < 3:
        raise PhantomNotFoundError(f"the irradiated field is too small ({r1 - r0 + 1} x {c1 - c0 + 1} pixels) to "
                                   "find lines in")
    mx = _modulation(box.mean(axis=0), line_spacing_mm / 3.0 / sx)
    my = _modulation(box.mean(axis=1), line_spacing_mm / 3.0 / sy)
    if max(mx, my) < 0.05:
        raise PhantomNotFoundError(f"no lines found: the profiles across the image vary by {100 * max(mx, my):.2g} % "
                                   "of their mean at the line scale; expected a slit-mask or line-source image")
    return "x" if mx >= my else "y"


@dataclass(frozen=True)
class LinearityResult:
    """NEMA NU 1 intrinsic spatial linearity for one slit orientation.

    ``orientation``: ``"x"`` (slits along y, distortion measured along x) or ``"y"``.
    ``absolute_mm`` / ``differential_mm`` / ``line_residual_sd_mm``: ``{"ufov": Quantity, "cfov": Quantity}``.
    ``grid_fit``: ``{fov: (offset_mm, spacing_mm, slope)}`` of the fitted grid ``a = offset + spacing k + slope b``.
    Peak table (bands x slits): ``peaks_a_mm`` positions along the measurement axis (NaN: not found),
    ``band_centers_mm`` along the slits, ``line_index`` the slit numbers (0 = the slit nearest the field centre),
    ``peak_fwhm_mm`` the FWHM of each peak (NEMA interpolation, background subtracted), ``in_ufov`` / ``in_cfov``
    the membership, ``residual_mm`` ``{fov: residuals from that FOV's grid}`` (NaN outside it), ``worst``
    ``{fov: (band, slit)}`` of the largest residual. Coordinates are mm from the centre of pixel (0, 0).
    ``profile``: ``(a_mm, counts)`` of the band nearest the field centre, ``profile_band`` its index;
    ``background`` the background level per band. ``ufov_mask`` / ``cfov_mask`` are on the image grid.
    """

    orientation: str
    absolute_mm: dict[str, Quantity]
    differential_mm: dict[str, Quantity]
    line_residual_sd_mm: dict[str, Quantity]
    grid_fit: dict[str, tuple[float, float, float]]
    peaks_a_mm: NDArray = field(repr=False)
    band_centers_mm: NDArray = field(repr=False)
    line_index: NDArray = field(repr=False)
    peak_fwhm_mm: NDArray = field(repr=False)
    in_ufov: NDArray = field(repr=False)
    in_cfov: NDArray = field(repr=False)
    residual_mm: dict[str, NDArray] = field(repr=False)
    worst: dict[str, tuple[int, int]]
    profile: tuple[NDArray, NDArray] = field(repr=False)
    profile_band: int
    background: NDArray = field(repr=False)
    ufov_mask: NDArray = field(repr=False)
    cfov_mask: NDArray = field(repr=False)
    spacing_mm: tuple[float, float]
    warnings: tuple[str, ...] = ()
    parameters: dict = field(default_factory=dict)

    def peak_rc(self) -> tuple[NDArray, NDArray]:
        """(row, column) pixel coordinates of every peak (same shape as ``peaks_a_mm``)."""
        sy, sx = self.spacing_mm
        b = np.broadcast_to(self.band_centers_mm[:, None], self.peaks_a_mm.shape)
        if self.orientation == "x":
            return b / sy, self.peaks_a_mm / sx
        return self.peaks_a_mm / sy, b / sx

    def measurements(self) -> list[Measurement]:
        """``nm.linearity.absolute_mm`` and ``nm.linearity.differential_mm``, labels ``ufov_<o>`` / ``cfov_<o>``."""
        out = []
        for fov in ("ufov", "cfov"):
            label = f"{fov}_{self.orientation}"
            for mid, q in (("nm.linearity.absolute_mm", self.absolute_mm[fov]),
                           ("nm.linearity.differential_mm", self.differential_mm[fov])):
                note = None if math.isfinite(q.value) else f"too few slit peaks inside the {fov.upper()}"
                out.append(Measurement.of(mid, q, label=label, note=note))
        return out


def _field_mask(arr: NDArray, sa: float, sb: float, line_spacing_mm: float, threshold: float) -> NDArray:
    """Pixels where a box one line spacing wide (across) and ~5 mm long (along the slits) holds a slit."""
    na_box = max(1, round(line_spacing_mm / sa))
    nb_box = max(1, round(5.0 / sb))
    sm = ndimage.uniform_filter(arr, size=(nb_box, na_box), mode="constant")
    top = float(sm.max())
    if not top > 0:
        raise PhantomNotFoundError("the slit image has no counts")
    level = float(np.median(sm[sm > 0.2 * top]))
    mask = sm > threshold * level
    close = max(1, na_box // 2)
    mask = ndimage.binary_closing(mask, structure=np.ones((1, close), bool), iterations=1, border_value=0)
    return ndimage.binary_fill_holes(_largest_component(mask))


def _band_weights(nb: int, sb: float, centers_mm: NDArray, band_mm: float) -> NDArray:
    """(n_bands, nb) overlap (rows) of each pixel row [r - 1/2, r + 1/2] sb with each band."""
    lo = (np.arange(nb) - 0.5) * sb
    hi = lo + sb
    b0 = centers_mm[:, None] - band_mm / 2.0
    b1 = centers_mm[:, None] + band_mm / 2.0
    return np.clip(np.minimum(hi[None, :], b1) - np.maximum(lo[None, :], b0), 0.0, None) / sb


def _centroid(profile: NDArray, start: float, half_px: float, bg: float, iterations: int = 20) -> float:
    """Background-subtracted centroid (pixels) in a window of +- ``half_px`` about a moving centre, edge pixels
    weighted by their overlap with the window; iterated until the centre moves < 1e-6 px."""
    n = profile.size
    c = float(start)
    idx = np.arange(n, dtype=np.float64)
    for _ in range(iterations):
        lo, hi = c - half_px, c + half_px
        i0, i1 = max(0, math.floor(lo) - 1), min(n, math.ceil(hi) + 2)
        x = idx[i0:i1]
        w = np.clip(np.minimum(x + 0.5, hi) - np.maximum(x - 0.5, lo), 0.0, 1.0)
        v = (profile[i0:i1] - bg) * w
        s = float(v.sum())
        if not s > 0:
            return float("nan")
        new = float((v * x).sum() / s)
        if abs(new - c) < 1e-6:
            return new
        c = new
    return c


def _band_peaks(profile: NDArray, sa: float, line_spacing_mm: float, prominence: float) -> NDArray:
    sm = ndimage.gaussian_filter1d(profile, 1.0)
    top = float(sm.max())
    if not top > 0:
        return np.zeros(0, dtype=np.int64)
    # prominence against the maximum (not the range): a flat flood's noise ripples are not slits
    pk, _ = find_peaks(sm, distance=max(1, int(0.5 * line_spacing_mm / sa)), prominence=prominence * top)
    return pk


def _band_background(profile: NDArray, peaks: NDArray) -> float:
    """Median of the profile minima between adjacent peaks (the slit mask's transmission and scatter)."""
    if peaks.size < 2:
        return float(np.min(profile))
    mins = [float(np.min(profile[a:b + 1])) for a, b in pairwise(peaks)]
    return float(np.median(mins))


def _strip_tilt(arr: NDArray, sa: float, sb: float, bc: float, line_spacing_mm: float, sep_mm: float = 15.0,
                strip_mm: float = 6.0) -> float:
    """tan(tilt) of the slits from the shift between two thin strips ``sep_mm`` apart about ``bc`` (cross-correlation
    within +- half a line spacing, parabolic sub-pixel peak); unambiguous up to 45 degrees."""
    w = _band_weights(arr.shape[0], sb, np.array([bc - sep_mm / 2.0, bc + sep_mm / 2.0]), strip_mm)
    p1, p2 = (w @ arr) / w.sum(axis=1)[:, None]
    p1, p2 = p1 - p1.mean(), p2 - p2.mean()
    cc = np.correlate(p2, p1, mode="full")
    zero = p1.size - 1
    lag_max = max(1, int(0.5 * line_spacing_mm / sa))
    lo, hi = zero - lag_max, zero + lag_max + 1
    k = lo + int(np.argmax(cc[lo:hi]))
    off = 0.0
    if 0 < k < cc.size - 1:
        den = cc[k - 1] - 2.0 * cc[k] + cc[k + 1]
        off = 0.5 * (cc[k - 1] - cc[k + 1]) / den if den != 0 else 0.0
    return (k - zero + off) * sa / sep_mm


def _grid_fit(k: NDArray, b: NDArray, a: NDArray) -> tuple[NDArray, NDArray]:
    design = np.column_stack([np.ones(a.size), k, b])
    coef, *_ = np.linalg.lstsq(design, a, rcond=None)
    return coef, a - design @ coef


def spatial_linearity(image, spacing_mm, *, orientation: Literal["auto", "x", "y"] = "auto",
                      line_spacing_mm: float = 30.0, band_mm: float = 30.0, ufov_fraction: float = 0.95,
                      cfov_fraction: float = 0.75, window_fwhm: float = 1.5, field_threshold: float = 0.5,
                      prominence: float = 0.25, max_tilt_deg: float = 10.0) -> LinearityResult:
    """NEMA NU 1 intrinsic spatial linearity (absolute and differential) of a slit-mask image.

    Parameters
    ----------
    image : ndarray (y, x)
        Counts of the slit-mask acquisition (one orientation).
    spacing_mm : (float, float)
        Pixel spacing (row, column), mm. NU 1 asks for a pixel of at most a tenth of the FWHM across the slits.
    orientation : {"auto", "x", "y"}
        ``"x"``: slits along y, positions (and the distortion) measured along x; ``"y"``: slits along x.
        ``"auto"``: :func:`detect_line_orientation`.
    line_spacing_mm : float
        Nominal slit spacing (NU 1: 30 mm); the fitted spacing is free, this sets the search scales.
    band_mm : float
        Width of the bands summed along the slits into profiles (NU 1: 30 mm or less).
    ufov_fraction, cfov_fraction : float
        UFOV = the detected field scaled to ``ufov_fraction`` of its linear size about its centroid; CFOV = the
        UFOV scaled to ``cfov_fraction`` (NU 1: 0.75).
    window_fwhm : float
        Half-width of the centroid window, in FWHMs of the central band's strongest peak (capped at 0.45 of the
        spacing).
    field_threshold : float
        The field is where the across-slit box mean exceeds this fraction of its typical level inside.
    prominence : float
        A peak must rise this fraction of the band profile's maximum above its surroundings.
    max_tilt_deg : float
        Largest tilt of the slits against the detector axis that is analysed (NU 1 aligns them): a 30 mm band
        smears a slit tilted by theta over 30 tan(theta) mm, and its peaks cannot be followed from band to band
        beyond about 20 degrees.

    Returns
    -------
    LinearityResult

    Notes
    -----
    With the peak positions ``a_jk`` (band j centred at ``b_j`` along the slits, slit k), for each FOV:

    * the grid ``a = c + d k + t b`` is fitted by least squares to the FOV's peaks (c, d, t free: offset, spacing
      and the tangent of the mask's tilt); absolute linearity = max |a_jk - (c + d k + t b_j)|;
    * differential linearity = the sample SD (n - 1) of the spacings ``a_j,k+1 - a_jk`` of adjacent slits both in
      the FOV, over all bands;
    * ``line_residual_sd_mm`` = the mean over slits with >= 3 peaks of the SD (n - 2) of the slit's peaks about its
      own least-squares line.

    Slits are numbered in the central band (0 = the peak nearest the field centre) and followed band by band
    outwards, each band's peaks matched to the previous band's grid within 0.35 spacing; a tilt of up to ~20
    degrees is followed.

    The tilt is first estimated from the shift between two 6 mm strips 15 mm apart in the central band; it seeds the
    band-to-band tracking.

    Raises
    ------
    PhantomNotFoundError
        No line pattern (fewer than 3 slits in the central band), fewer than 3 slits / 2 bands in the UFOV, or slits
        tilted by more than ``max_tilt_deg``.
    InputError
        A parameter out of range.

    Examples
    --------
    >>> from reference_phantoms.nm import line_grid_image
    >>> img, truth = line_grid_image(distortion_mm=0.5)
    >>> r = spatial_linearity(img, (0.8, 0.8))
    >>> r.orientation, abs(r.absolute_mm["ufov"].value - truth["absolute_mm"]["ufov"]) < 0.05
    ('x', True)
    """
    img = _as_image(image)
    sy, sx = _spacing(spacing_mm)
    for name, v in (("ufov_fraction", ufov_fraction), ("cfov_fraction", cfov_fraction),
                    ("field_threshold", field_threshold), ("prominence", prominence)):
        if not (0.0 < float(v) <= 1.0):
            raise InputError(f"{name} must be in (0, 1], got {v!r}")
    if not (line_spacing_mm > 0 and band_mm > 0 and window_fwhm > 0):
        raise InputError(f"line_spacing_mm, band_mm and window_fwhm must be positive, got {line_spacing_mm!r}, "
                         f"{band_mm!r}, {window_fwhm!r}")
    if orientation == "auto":
        orientation = detect_line_orientation(img, (sy, sx), line_spacing_mm=line_spacing_mm)
    elif orientation not in ("x", "y"):
        raise InputError(f"orientation must be 'auto', 'x' or 'y', got {orientation!r}")
    arr, sa, sb = _frame(img, (sy, sx), orientation)
    nb, na = arr.shape
    warnings: list[str] = []

    # field, UFOV, CFOV (in the (b, a) frame)
    fmask = _field_mask(arr, sa, sb, line_spacing_mm, field_threshold)
    ufov = _scale_mask(fmask, ufov_fraction)
    cfov = _scale_mask(ufov, cfov_fraction)
    cb_px, _ = ndimage.center_of_mass(fmask)
    rows = np.nonzero(fmask.any(axis=1))[0]
    b_lo, b_hi = rows.min() * sb, rows.max() * sb
    bc = cb_px * sb
    j_lo = -math.ceil((bc - b_lo) / band_mm + 0.5)
    j_hi = math.ceil((b_hi - bc) / band_mm + 0.5)
    centers = bc + band_mm * np.arange(j_lo, j_hi + 1, dtype=np.float64)
    wts = _band_weights(nb, sb, centers, band_mm)
    keep = wts.sum(axis=1) > 0.5
    centers, wts = centers[keep], wts[keep]
    profiles = (wts @ arr) / wts.sum(axis=1)[:, None]
    j0 = int(np.argmin(np.abs(centers - bc)))

    # the central band: slit numbers, FWHM and the centroid window
    pk0 = _band_peaks(profiles[j0], sa, line_spacing_mm, prominence)
    if pk0.size < 3:
        raise PhantomNotFoundError(f"no line grid found: {pk0.size} line peak(s) in the central {band_mm:g} mm band "
                                   f"(expected parallel slits {line_spacing_mm:g} mm apart across the field; "
                                   f"orientation '{orientation}')")
    bg0 = _band_background(profiles[j0], pk0)
    top = int(pk0[np.argmax(profiles[j0][pk0])])
    half_sp = max(2, round(0.5 * line_spacing_mm / sa))
    seg = profiles[j0][max(0, top - half_sp): top + half_sp + 1] - bg0
    fwhm_px, _, _ = nema_peak_width(seg, level=0.5)
    if not math.isfinite(fwhm_px):
        raise PhantomNotFoundError("the central slit peak does not fall to half its height within half a line "
                                   "spacing: not a slit-mask image, or line_spacing_mm is wrong")
    half_px = float(np.clip(window_fwhm * fwhm_px, 2.0, 0.45 * line_spacing_mm / sa))
    if fwhm_px < 10.0:
        warnings.append(f"the slit FWHM spans {fwhm_px:.1f} pixels; NU 1 asks for pixels of at most a tenth of the "
                        "FWHM across the slits")

    tan_tilt = _strip_tilt(arr, sa, sb, centers[j0], line_spacing_mm)
    if abs(math.degrees(math.atan(tan_tilt))) > max_tilt_deg:
        raise PhantomNotFoundError(f"the slits are tilted by about {math.degrees(math.atan(tan_tilt)):.1f} degrees "
                                   f"against the detector axis (more than max_tilt_deg = {max_tilt_deg:g}); NU 1 "
                                   "aligns the slit mask with the detector axes: realign it or rotate the image")

    # every band: peaks, centroids, slit numbers by tracking from the central band outwards
    n_bands = centers.size
    found: list[dict[int, float]] = [{} for _ in range(n_bands)]
    background = np.zeros(n_bands)

    def refine(j: int) -> tuple[NDArray, float]:
        p = profiles[j]
        pk = _band_peaks(p, sa, line_spacing_mm, prominence)
        bg = _band_background(p, pk)
        pos = np.array([_centroid(p, float(i), half_px, bg) for i in pk])
        return pos[np.isfinite(pos)], bg

    pos0, background[j0] = refine(j0)
    d0 = float(np.median(np.diff(pos0)))
    field_cols = np.nonzero(fmask.any(axis=0))[0]
    centre_a = 0.5 * (field_cols.min() + field_cols.max())
    ref = int(np.argmin(np.abs(pos0 - centre_a)))
    model = {j0: (pos0[ref], d0)}
    for p in pos0:
        found[j0][round((p - pos0[ref]) / d0)] = float(p)
    for order, sign in ((range(j0 + 1, n_bands), 1.0), (range(j0 - 1, -1, -1), -1.0)):
        prev = [j0]
        for j in order:
            pos, background[j] = refine(j)
            c1, d1 = model[prev[-1]]
            if len(prev) >= 2:
                c1 = c1 + (c1 - model[prev[-2]][0])
            else:
                c1 = c1 + sign * tan_tilt * band_mm / sa
            claim: dict[int, float] = {}
            for p in pos:
                k = round((p - c1) / d1)
                r = abs(p - c1 - k * d1)
                if r < 0.35 * d1 and (k not in claim or r < abs(claim[k] - c1 - k * d1)):
                    claim[k] = float(p)
            if len(claim) >= 2:
                ks = np.array(sorted(claim))
                ps = np.array([claim[k] for k in ks])
                d_new, c_new = np.polyfit(ks, ps, 1)
                model[j] = (float(c_new), float(d_new))
            else:
                model[j] = (c1, d1)
            found[j] = claim
            prev.append(j)
    all_k = sorted({k for f in found for k in f})
    line_index = np.array(all_k, dtype=np.int64)
    col_of = {k: i for i, k in enumerate(all_k)}
    peaks_px = np.full((n_bands, line_index.size), np.nan)
    for j, f in enumerate(found):
        for k, p in f.items():
            peaks_px[j, col_of[k]] = p
    peaks_a = peaks_px * sa

    # per-peak FWHM (for the report; NEMA interpolation on the background-subtracted window)
    pf = np.full(peaks_px.shape, np.nan)
    for j in range(n_bands):
        for i in np.nonzero(np.isfinite(peaks_px[j]))[0]:
            c = round(peaks_px[j, i])
            lo, hi = max(0, c - half_sp), min(na, c + half_sp + 1)
            w50, _, _ = nema_peak_width(profiles[j][lo:hi] - background[j], level=0.5)
            pf[j, i] = w50 * sa

    # FOV membership: both ends of the band segment inside the FOV mask
    def member(mask: NDArray) -> NDArray:
        out = np.zeros(peaks_px.shape, bool)
        for end in (-0.5, 0.5):
            r = np.rint((centers[:, None] + end * band_mm) / sb)
            c = np.rint(np.nan_to_num(peaks_px, nan=-1.0))
            ok = np.isfinite(peaks_px) & (r >= 0) & (r < nb) & (c >= 0) & (c < na)
            hit = np.zeros(peaks_px.shape, bool)
            rr = np.clip(r, 0, nb - 1).astype(np.int64)
            rr = np.broadcast_to(rr, peaks_px.shape)
            cc = np.clip(c, 0, na - 1).astype(np.int64)
            hit[ok] = mask[rr[ok], cc[ok]]
            out = hit if end < 0 else (out & hit)
        return out

    in_ufov, in_cfov = member(ufov), member(cfov)
    bgrid = np.broadcast_to(centers[:, None], peaks_px.shape)
    kgrid = np.broadcast_to(line_index[None, :].astype(np.float64), peaks_px.shape)
    absolute, differential, line_sd, fits, residual, worst = {}, {}, {}, {}, {}, {}
    for fov, m in (("ufov", in_ufov), ("cfov", in_cfov)):
        n_lines = int(np.count_nonzero(m.any(axis=0)))
        n_bands_in = int(np.count_nonzero(m.any(axis=1)))
        res = np.full(peaks_px.shape, np.nan)
        if n_lines < 3 or n_bands_in < 2:
            msg = (f"{n_lines} slit(s) in {n_bands_in} band(s) inside the {fov.upper()}: at least 3 slits in 2 "
                   "bands are needed")
            if fov == "ufov":
                raise PhantomNotFoundError(f"no usable line grid: {msg}")
            warnings.append(msg + f"; {fov.upper()} linearity not measured")
            absolute[fov] = differential[fov] = line_sd[fov] = Quantity(float("nan"), "mm")
            fits[fov] = (float("nan"),) * 3
            residual[fov] = res
            worst[fov] = (-1, -1)
            continue
        coef, r = _grid_fit(kgrid[m], bgrid[m], peaks_a[m])
        res[m] = r
        fits[fov] = (float(coef[0]), float(coef[1]), float(coef[2]))
        residual[fov] = res
        iw = int(np.nanargmax(np.abs(res)))
        worst[fov] = (iw // res.shape[1], iw % res.shape[1])
        absolute[fov] = Quantity(float(np.max(np.abs(r))), "mm")
        both = m[:, 1:] & m[:, :-1] & (np.diff(line_index)[None, :] == 1)
        spacings = np.diff(peaks_a, axis=1)[both]
        differential[fov] = Quantity(float(np.std(spacings, ddof=1)) if spacings.size > 1 else float("nan"), "mm")
        sds = []
        for i in range(line_index.size):
            mi = m[:, i]
            if mi.sum() >= 3:
                _, slope_res = np.polyfit(bgrid[mi, i], peaks_a[mi, i], 1, full=True)[:2]
                ss = float(slope_res[0]) if slope_res.size else 0.0
                sds.append(math.sqrt(ss / (mi.sum() - 2)))
        line_sd[fov] = Quantity(float(np.mean(sds)) if sds else float("nan"), "mm")
    tilt = math.degrees(math.atan(fits["ufov"][2]))
    if abs(tilt) > 3.0:
        warnings.append(f"the slit mask is tilted by {tilt:.1f} degrees; NU 1 aligns the slits with the detector axes "
                        "(displacements are measured along the axis, not across the tilted slits)")
    a_mm = np.arange(na) * sa
    if orientation == "x":
        ufov_img, cfov_img = ufov, cfov
    else:
        ufov_img, cfov_img = np.ascontiguousarray(ufov.T), np.ascontiguousarray(cfov.T)
    params = {"orientation": orientation, "line_spacing_mm": line_spacing_mm, "band_mm": band_mm,
              "ufov_fraction": ufov_fraction, "cfov_fraction": cfov_fraction, "window_fwhm": window_fwhm,
              "window_half_width_mm": half_px * sa, "field_threshold": field_threshold, "prominence": prominence,
              "peak_location": "iterated background-subtracted centroid",
              "differential": "SD of adjacent-slit spacings (line_residual_sd_mm: NU 1-2007 per-slit SD)",
              "max_tilt_deg": max_tilt_deg, "fitted_spacing_mm": fits["ufov"][1], "tilt_deg": tilt}
    return LinearityResult(orientation=orientation, absolute_mm=absolute, differential_mm=differential,
                           line_residual_sd_mm=line_sd, grid_fit=fits, peaks_a_mm=peaks_a, band_centers_mm=centers,
                           line_index=line_index, peak_fwhm_mm=pf, in_ufov=in_ufov, in_cfov=in_cfov,
                           residual_mm=residual, worst=worst, profile=(a_mm, profiles[j0].copy()), profile_band=j0,
                           background=background, ufov_mask=ufov_img, cfov_mask=cfov_img, spacing_mm=(sy, sx),
                           warnings=tuple(warnings), parameters=params)


def linearity_visuals(result: LinearityResult, image: NDArray, *, title: str = "") -> tuple:
    """Figure specs of one orientation: the image with every peak (UFOV peaks orange, CFOV cyan, the largest
    UFOV displacement red) and the fitted UFOV grid lines; the central band's profile with a Gaussian at each
    centroid (height from the profile, FWHM as measured)."""
    from phantomqc.core.visuals import Band, CircleOverlay, Curve, ImagePanel, LineOverlay, Plot

    o = result.orientation
    sy, sx = result.spacing_mm
    rr, cc = result.peak_rc()
    rad = 3.0 / min(sy, sx)
    ov: list = []
    c0, d, t = result.grid_fit["ufov"]
    m_u = result.in_ufov
    if math.isfinite(d):
        for i, k in enumerate(result.line_index):
            bands = result.band_centers_mm[m_u[:, i]]
            if bands.size == 0:
                continue
            b_ends = np.array([bands.min() - 0.5 * result.parameters["band_mm"],
                               bands.max() + 0.5 * result.parameters["band_mm"]])
            a_ends = c0 + d * k + t * b_ends
            if o == "x":
                ov.append(LineOverlay(tuple(b_ends / sy), tuple(a_ends / sx), "", "tab:cyan"))
            else:
                ov.append(LineOverlay(tuple(a_ends / sy), tuple(b_ends / sx), "", "tab:cyan"))
    for j, i in zip(*np.nonzero(np.isfinite(result.peaks_a_mm))):
        colour = "tab:green" if result.in_cfov[j, i] else ("tab:orange" if m_u[j, i] else "tab:gray")
        ov.append(CircleOverlay(float(rr[j, i]), float(cc[j, i]), rad, "", colour))
    wj, wi = result.worst["ufov"]
    if wj >= 0:
        ov.append(CircleOverlay(float(rr[wj, wi]), float(cc[wj, wi]), 3 * rad,
                                f"max {result.absolute_mm['ufov'].value:.2f} mm", "tab:red"))
    name = title or f"Spatial linearity ({o})"
    panel = ImagePanel(f"{name}: peaks (UFOV orange, CFOV green), fitted UFOV grid", image, tuple(ov),
                       spacing_mm=(sy, sx))
    a_mm, prof = result.profile
    j0 = result.profile_band
    bg = float(result.background[j0])
    model = np.full(a_mm.shape, bg)
    sa = sx if o == "x" else sy
    for i in np.nonzero(np.isfinite(result.peaks_a_mm[j0]))[0]:
        mu, fw = result.peaks_a_mm[j0, i], result.peak_fwhm_mm[j0, i]
        if not math.isfinite(fw):
            continue
        near = np.abs(a_mm - mu) <= 0.5 * fw
        h = (float(prof[near].max()) if near.any() else float(np.interp(mu, a_mm, prof))) - bg
        model += h * np.exp(-0.5 * ((a_mm - mu) / (fw / _FWHM_PER_SIGMA)) ** 2)
    found = result.peaks_a_mm[j0][np.isfinite(result.peaks_a_mm[j0])]
    curves = (Curve(a_mm, prof, "band profile", "points"),
              Curve(a_mm, model, "Gaussian at each centroid (measured FWHM)", "line"),
              Curve(found, np.interp(found, a_mm, model), "peak centroids", "points", "tab:red"))
    plot = Plot(f"{name}: profile of the central {result.parameters['band_mm']:g} mm band "
                f"(b = {result.band_centers_mm[j0]:.0f} mm)", curves, f"{o} (mm)", "mean counts per row",
                refs=(Band("y", bg, "background"),),
                notes=((f"absolute UFOV {result.absolute_mm['ufov'].value:.3f} mm, CFOV "
                        f"{result.absolute_mm['cfov'].value:.3f} mm; differential UFOV "
                        f"{result.differential_mm['ufov'].value:.3f} mm, CFOV "
                        f"{result.differential_mm['cfov'].value:.3f} mm; pixel {sa:.3g} mm"),))
    return panel, plot


def line_source_figures(result, image: NDArray, spacing_mm) -> tuple:
    """Figure specs of a line-source measurement (:class:`~phantomqc.pet_spect.planar.LineSourceResult`): the image
    with the line found (through the profile's peak, along the summed direction), and the profile with a
    least-squares Gaussian (plus constant) fit and the half- and tenth-maximum levels of the NEMA measurement."""
    from scipy.optimize import curve_fit

    from phantomqc.core.visuals import Band, Curve, ImagePanel, LineOverlay, Plot

    sy, sx = _spacing(spacing_mm)
    img = np.asarray(image)
    prof = np.asarray(result.profile, dtype=np.float64)
    step = sx if result.axis == "x" else sy
    x = np.arange(prof.size) * step
    pk = float(result.peak_px)
    if result.axis == "x":
        line = LineOverlay((0.0, float(img.shape[0] - 1)), (pk, pk), "", "tab:red")
    else:
        line = LineOverlay((pk, pk), (0.0, float(img.shape[1] - 1)), "", "tab:red")
    panel = ImagePanel(f"Line source: peak at {result.axis} = {pk * step:.1f} mm (red), FWHM "
                       f"{result.fwhm_mm.value:.2f} mm", img, (line,), spacing_mm=(sy, sx))

    def gauss(u, base, amp, mu, sig):
        return base + amp * np.exp(-0.5 * ((u - mu) / sig) ** 2)

    _, _, top = nema_peak_width(prof, level=0.5)  # the parabolic peak: NEMA's maximum
    p0 = (float(np.min(prof)), top - float(np.min(prof)), pk * step, max(result.fwhm_mm.value, step) / _FWHM_PER_SIGMA)
    notes = []
    curves = [Curve(x, prof, "summed counts", "points")]
    try:
        f, _ = curve_fit(gauss, x, prof, p0=p0, maxfev=4000)
        curves.append(Curve(x, gauss(x, *f), f"Gaussian fit: FWHM {abs(f[3]) * _FWHM_PER_SIGMA:.2f} mm", "line"))
    except (RuntimeError, ValueError):
        notes.append("the Gaussian fit did not converge (shown: the NEMA levels only)")
    i = int(np.argmax(prof))
    refs = (Band("y", 0.5 * top, f"half maximum: FWHM {result.fwhm_mm.value:.2f} mm (NEMA)"),
            Band("y", 0.1 * top, f"tenth maximum: FWTM {result.fwtm_mm.value:.2f} mm (NEMA)"))
    half = max(8, int(3 * result.fwhm_mm.value / step)) if math.isfinite(result.fwhm_mm.value) else prof.size
    lim = (x[max(0, i - half)], x[min(prof.size - 1, i + half)])
    plot = Plot(f"Line-source profile along {result.axis}", tuple(curves), f"{result.axis} (mm)", "counts",
                refs=refs, x_lim=(float(lim[0]), float(lim[1])), notes=tuple(notes))
    return panel, plot
