"""MR signal-to-noise ratio: NEMA MS 1 subtraction and single-image methods, the McCann / MagNET smoothing method,
WS/T 263-2006, and the MagNET normalisation for voxel volume, acquisition time and bandwidth.

Every function takes the image(s) as ``(rows, cols)`` arrays with the pixel spacing (row, column) in mm, and the
phantom centre in pixels (found with :func:`phantomqc.mr.localize.find_phantom` when not given). It returns an
:class:`SNRResult` with the ROIs it used, so that the report can draw them.

Measurement ids: ``mr.snr.subtraction``, ``mr.snr.single_image``, ``mr.snr.smoothing``, ``mr.snr.wst263``,
``mr.snr.normalised``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from phantomqc._shared.errors import InputError, PhantomNotFoundError
from phantomqc.core.roi import RectROI
from phantomqc.core.types import Quantity

__all__ = [
    "RAYLEIGH_MEAN_FACTOR",
    "RAYLEIGH_SD_FACTOR",
    "DiscROI",
    "NormalisedSNRResult",
    "SNRResult",
    "normalised_snr",
    "snr_single_image",
    "snr_smoothing",
    "snr_subtraction",
    "snr_wst263",
]

#: SD of the Rayleigh-distributed background of a magnitude image / the Gaussian sigma: sqrt(2 - pi/2) = 0.655
#: (NEMA MS 1-2008, method 4; Henkelman 1985).
RAYLEIGH_SD_FACTOR = math.sqrt(2.0 - math.pi / 2.0)
#: Mean of the Rayleigh-distributed background / the Gaussian sigma: sqrt(pi/2) = 1.253.
RAYLEIGH_MEAN_FACTOR = math.sqrt(math.pi / 2.0)

#: The five MagNET ROIs: centre and the four diagonals (row, col direction), as placed by McCann et al. (2013).
_FIVE = (("centre", 0.0, 0.0), ("upper_left", -1.0, -1.0), ("lower_left", 1.0, -1.0), ("upper_right", -1.0, 1.0),
         ("lower_right", 1.0, 1.0))


# ---------------------------------------------------------------------------------------------------------------
# Private helpers shared by snr.py, uniformity.py and ghosting.py
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DiscROI:
    """A circular ROI (an ellipse in pixels where the spacing is anisotropic): centre (row, col) in pixels,
    radius in mm and the number of pixels whose centres fall inside it."""

    name: str
    row: float
    col: float
    radius_mm: float
    n_pixels: int = 0


def _as_image(a, what: str = "image") -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2 or a.shape[0] < 16 or a.shape[1] < 16:
        raise InputError(f"{what} must be a 2-D array (rows, cols) of at least 16 x 16 pixels, got shape {a.shape}")
    if a.dtype.kind not in "fiu":
        raise InputError(f"{what} must hold real numbers (MR pixel values), got dtype {a.dtype}")
    return a


def _spacing(spacing_mm) -> tuple[float, float]:
    try:
        sy, sx = (float(v) for v in spacing_mm)
    except (TypeError, ValueError):
        raise InputError(f"spacing_mm must be (row spacing, column spacing) in mm, got {spacing_mm!r}") from None
    if not (sy > 0 and sx > 0 and math.isfinite(sy) and math.isfinite(sx)):
        raise InputError(f"spacing_mm must be two positive numbers (mm), got {spacing_mm!r}; "
                         "read (0028,0030) Pixel Spacing")
    return sy, sx


def _fallback_phantom(image: np.ndarray, spacing_mm: tuple[float, float]) -> tuple[tuple[float, float], float]:
    """Centre (row, col) and equivalent-circle radius (mm) of the largest bright object.

    Threshold halfway between the 1st and 99th percentiles of a lightly smoothed image (robust to a constant
    offset such as Philips' stored background of ~2048), keep the largest connected component and fill its holes.
    Used only when :mod:`phantomqc.mr.localize` is not available.
    """
    sm = ndimage.uniform_filter(image.astype(np.float64), 3)
    lo, hi = (float(v) for v in np.percentile(sm, [1.0, 99.0]))
    if not hi > lo:
        raise PhantomNotFoundError("the image is constant (1st and 99th percentiles equal): expected a phantom")
    mask = sm > 0.5 * (lo + hi)
    lab, n = ndimage.label(mask)
    if n == 0:
        raise PhantomNotFoundError("no object above the half-way threshold: expected a phantom")
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    obj = lab == int(np.argmax(sizes))
    # fill holes: background components that do not touch the image border belong to the object
    blab, _ = ndimage.label(~obj)
    border = np.unique(np.concatenate([blab[0], blab[-1], blab[:, 0], blab[:, -1]]))
    obj |= ~np.isin(blab, border)
    rows, cols = np.nonzero(obj)
    area_mm2 = rows.size * spacing_mm[0] * spacing_mm[1]
    return (float(rows.mean()), float(cols.mean())), math.sqrt(area_mm2 / math.pi)


def _phantom(image: np.ndarray, spacing_mm: tuple[float, float]) -> tuple[tuple[float, float], float]:
    """Phantom centre (row, col) in pixels and radius in mm: ``phantomqc.mr.localize.find_phantom`` when present,
    else the private threshold fallback."""
    try:
        from phantomqc.mr.localize import find_phantom  # type: ignore[attr-defined]
    except ImportError:
        return _fallback_phantom(image, spacing_mm)
    circle = find_phantom(image, spacing_mm)
    return (float(circle.center_px[0]), float(circle.center_px[1])), float(circle.radius_mm)


def _disc_mask(shape: tuple[int, int], spacing_mm: tuple[float, float], center_px: tuple[float, float],
               radius_mm: float) -> np.ndarray:
    """Pixels whose centres lie within ``radius_mm`` of ``center_px``."""
    sy, sx = spacing_mm
    yy = (np.arange(shape[0]) - center_px[0]) * sy
    xx = (np.arange(shape[1]) - center_px[1]) * sx
    return (yy[:, None] ** 2 + xx[None, :] ** 2) <= radius_mm ** 2


def _ellipse_mask(shape: tuple[int, int], spacing_mm: tuple[float, float], center_px: tuple[float, float],
                  semi_y_mm: float, semi_x_mm: float) -> np.ndarray:
    sy, sx = spacing_mm
    yy = (np.arange(shape[0]) - center_px[0]) * sy / semi_y_mm
    xx = (np.arange(shape[1]) - center_px[1]) * sx / semi_x_mm
    return (yy[:, None] ** 2 + xx[None, :] ** 2) <= 1.0


def _square_roi(shape, spacing_mm, center_px, size_mm: float, name: str) -> RectROI:
    """A square ROI of ``size_mm`` centred at ``center_px`` (pixel centres inside the square)."""
    sy, sx = spacing_mm
    nr = max(2, int(round(size_mm / sy)))
    nc = max(2, int(round(size_mm / sx)))
    r0 = int(round(center_px[0] - (nr - 1) / 2.0))
    c0 = int(round(center_px[1] - (nc - 1) / 2.0))
    if r0 < 0 or c0 < 0 or r0 + nr > shape[0] or c0 + nc > shape[1]:
        raise InputError(f"ROI '{name}' of {size_mm:g} mm at pixel ({center_px[0]:.1f}, {center_px[1]:.1f}) does not "
                         f"fit in the {shape[0]} x {shape[1]} image; use a smaller ROI or check the phantom centre")
    return RectROI(r0, c0, nr, nc, name)


def _five_rois(shape, spacing_mm, center_px, size_mm: float, offset_mm: float) -> tuple[RectROI, ...]:
    sy, sx = spacing_mm
    out = []
    for name, dr, dc in _FIVE:
        c = (center_px[0] + dr * offset_mm / sy, center_px[1] + dc * offset_mm / sx)
        out.append(_square_roi(shape, spacing_mm, c, size_mm, name))
    return tuple(out)


def _corner_rois(shape, spacing_mm, size_mm: float, margin_mm: float) -> tuple[RectROI, ...]:
    """Four square background ROIs in the image corners, ``margin_mm`` from the edges."""
    sy, sx = spacing_mm
    nr = max(2, int(round(size_mm / sy)))
    nc = max(2, int(round(size_mm / sx)))
    mr_, mc = int(round(margin_mm / sy)), int(round(margin_mm / sx))
    h, w = shape
    if 2 * (nr + mr_) > h or 2 * (nc + mc) > w:
        raise InputError(f"background ROIs of {size_mm:g} mm with a {margin_mm:g} mm margin do not fit in the "
                         f"{h} x {w} image; use smaller ROIs")
    return (RectROI(mr_, mc, nr, nc, "background_upper_left"), RectROI(mr_, w - mc - nc, nr, nc, "background_upper_right"),
            RectROI(h - mr_ - nr, mc, nr, nc, "background_lower_left"),
            RectROI(h - mr_ - nr, w - mc - nc, nr, nc, "background_lower_right"))


def _rect_overlaps_disc(roi: RectROI, spacing_mm, center_px, radius_mm: float) -> bool:
    sy, sx = spacing_mm
    rr = np.clip(center_px[0], roi.row0, roi.row0 + roi.nrows - 1)
    cc = np.clip(center_px[1], roi.col0, roi.col0 + roi.ncols - 1)
    return math.hypot((rr - center_px[0]) * sy, (cc - center_px[1]) * sx) <= radius_mm


def _center(image, spacing_mm, center_px, radius_mm=None) -> tuple[tuple[float, float], float | None, bool]:
    """The phantom centre (given, or found) and its radius (given, found, or None)."""
    if center_px is None:
        c, r = _phantom(image, spacing_mm)
        return c, (r if radius_mm is None else float(radius_mm)), True
    try:
        c = (float(center_px[0]), float(center_px[1]))
    except (TypeError, ValueError, IndexError):
        raise InputError(f"center_px must be (row, col) in pixels, got {center_px!r}") from None
    if not (0 <= c[0] < image.shape[0] and 0 <= c[1] < image.shape[1]):
        raise InputError(f"center_px {c} is outside the {image.shape[0]} x {image.shape[1]} image")
    return c, (None if radius_mm is None else float(radius_mm)), False


# ---------------------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SNRResult:
    """The SNR of one method.

    ``snr`` (unit "1") is the reported value (metric id in ``metric_id``); ``signal`` the mean signal and
    ``noise_sd`` the noise standard deviation (the mean over the ROIs where the SNR is a mean of per-ROI ratios);
    ``roi_snr`` the per-ROI ratios; ``signal_rois`` and ``noise_rois`` the ROIs (``RectROI`` or ``DiscROI``, in
    pixels of the image); ``center_px`` the phantom centre used (row, col); ``parameters`` every option used.
    """

    snr: Quantity
    signal: Quantity
    noise_sd: Quantity
    method: str
    metric_id: str
    roi_snr: tuple[float, ...]
    signal_rois: tuple
    noise_rois: tuple
    center_px: tuple[float, float]
    warnings: tuple[str, ...] = ()
    parameters: dict = field(default_factory=dict)


@dataclass(frozen=True)
class NormalisedSNRResult:
    """SNR normalised to a 1 ml voxel, 1 s of acquisition and a +-30 kHz receiver bandwidth (MagNET).

    ``normalised_snr`` (id ``mr.snr.normalised``) = ``snr`` x ``factor``; ``voxel_volume_ml``,
    ``acquisition_time_s`` (= N_avg x N_phase x TR) and ``half_bandwidth_khz`` (= BW_pixel x N_freq / 2) are the
    terms of the factor.
    """

    normalised_snr: Quantity
    snr: float
    factor: float
    voxel_volume_ml: float
    acquisition_time_s: float
    half_bandwidth_khz: float
    parameters: dict = field(default_factory=dict)


def _roi_list_stats(signal_img: np.ndarray, noise_img: np.ndarray, rois, noise_scale: float):
    sig, sd, n = [], [], []
    for roi in rois:
        s = np.asarray(signal_img[roi.slices], dtype=np.float64)
        e = np.asarray(noise_img[roi.slices], dtype=np.float64)
        sig.append(float(s.mean()))
        sd.append(float(e.std(ddof=1)) * noise_scale)
        n.append(e.size)
    return np.array(sig), np.array(sd), np.array(n)


def _ratio_result(sig, sd, n, *, method, metric_id, signal_rois, noise_rois, center, warnings, parameters) -> SNRResult:
    if np.any(sd <= 0):
        raise InputError(f"{method}: the noise SD is zero in an ROI (a constant image?): cannot compute an SNR")
    ratios = sig / sd
    snr = float(ratios.mean())
    k = ratios.size
    if k >= 2:
        unc = float(ratios.std(ddof=1) / math.sqrt(k))
    else:  # relative SD of a sample SD of n values ~ 1/sqrt(2(n-1))
        unc = snr / math.sqrt(2.0 * (n[0] - 1))
    return SNRResult(
        snr=Quantity(snr, "1", unc), signal=Quantity(float(sig.mean()), ""), noise_sd=Quantity(float(sd.mean()), ""),
        method=method, metric_id=metric_id, roi_snr=tuple(float(r) for r in ratios), signal_rois=tuple(signal_rois),
        noise_rois=tuple(noise_rois), center_px=center, warnings=tuple(warnings), parameters=parameters)


# ---------------------------------------------------------------------------------------------------------------
# Methods
# ---------------------------------------------------------------------------------------------------------------

def snr_subtraction(image1: np.ndarray, image2: np.ndarray, spacing_mm: tuple[float, float], *,
                    center_px: tuple[float, float] | None = None, roi_size_mm: float = 20.0,
                    roi_offset_mm: float = 40.0, signal_from: str = "mean") -> SNRResult:
    """SNR of two identical acquisitions by the NEMA MS 1 difference method (id ``mr.snr.subtraction``).

    Parameters
    ----------
    image1, image2 : ndarray
        Two magnitude images of the same slice acquired back to back with identical settings, ``(rows, cols)``.
    spacing_mm : (float, float)
        Pixel spacing (row, column), mm.
    center_px : (float, float), optional
        Phantom centre (row, col) in pixels; found on ``image1`` when not given.
    roi_size_mm : float
        Side of the five square ROIs (20 mm: 20 pixels at 256 x 256 over 250 mm, as MagNET).
    roi_offset_mm : float
        Row and column offset of the four peripheral ROIs from the centre (40 mm, the diagonals).
    signal_from : {"mean", "first"}
        ``"mean"``: S from (I1 + I2) / 2 (NEMA MS 1); ``"first"``: S from I1 alone (the MagNET MATLAB script and
        hazen). The two differ only by noise.

    Returns
    -------
    SNRResult

    Notes
    -----
    In each ROI i: S_i = mean of (I1 + I2)/2, sigma_i = SD(I1 - I2)/sqrt(2) (the difference of two independent
    images has variance 2 sigma^2; anything static, such as coil shading, cancels); SNR = mean_i S_i / sigma_i
    (NEMA MS 1-2008, method 1; five ROIs as MagNET / IPEM Report 112). SD with n - 1. The uncertainty is the
    standard error of the mean of the five per-ROI ratios.

    References
    ----------
    NEMA MS 1-2008 *Determination of Signal-to-Noise Ratio (SNR) in Diagnostic MR Imaging*, method 1.
    IPEM Report 112 (2017), *Quality Control and Artefacts in MRI*.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> img = np.zeros((128, 128)); img[14:114, 14:114] = 100.0
    >>> r = snr_subtraction(img + rng.normal(0, 2, img.shape), img + rng.normal(0, 2, img.shape), (1.0, 1.0),
    ...                     center_px=(63.5, 63.5), roi_size_mm=10, roi_offset_mm=20)
    >>> bool(abs(r.snr.value - 50) < 3)
    True
    """
    a = _as_image(image1, "image1")
    b = _as_image(image2, "image2")
    if a.shape != b.shape:
        raise InputError(f"image1 and image2 must have the same shape, got {a.shape} and {b.shape}")
    if signal_from not in ("mean", "first"):
        raise InputError(f"signal_from must be 'mean' or 'first', got {signal_from!r}")
    sp = _spacing(spacing_mm)
    center, _, found = _center(a, sp, center_px)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    diff = a64 - b64
    sig_img = 0.5 * (a64 + b64) if signal_from == "mean" else a64
    rois = _five_rois(a.shape, sp, center, roi_size_mm, roi_offset_mm)
    sig, sd, n = _roi_list_stats(sig_img, diff, rois, 1.0 / math.sqrt(2.0))
    return _ratio_result(sig, sd, n, method="subtraction", metric_id="mr.snr.subtraction", signal_rois=rois,
                         noise_rois=rois, center=center, warnings=[],
                         parameters={"roi_size_mm": roi_size_mm, "roi_offset_mm": roi_offset_mm,
                                     "signal_from": signal_from, "center_found": found,
                                     "noise": "SD(I1 - I2) / sqrt(2), n - 1"})


def snr_smoothing(image: np.ndarray, spacing_mm: tuple[float, float], *, center_px: tuple[float, float] | None = None,
                  kernel_px: int = 9, roi_size_mm: float = 20.0, roi_offset_mm: float = 40.0,
                  kernel_correction: bool = False) -> SNRResult:
    """Single-image SNR by the smoothed-subtraction method of McCann et al. (2013) (id ``mr.snr.smoothing``).

    Parameters
    ----------
    image : ndarray
        One magnitude image of a uniform (flood) phantom, ``(rows, cols)``.
    spacing_mm : (float, float)
        Pixel spacing (row, column), mm.
    center_px : (float, float), optional
        Phantom centre (row, col) in pixels; found when not given.
    kernel_px : int
        Side of the boxcar smoothing kernel in *pixels*, as the method defines it: 9 for a head coil, 25 for a body
        coil (McCann 2013); hazen's ACR task uses 25 on slice 7.
    roi_size_mm, roi_offset_mm : float
        The five square ROIs, as :func:`snr_subtraction`.
    kernel_correction : bool
        Divide sigma by sqrt(1 - 1/k^2), the part of white noise the k x k boxcar leaves in I - B_k * I. Off by
        default, as in the MagNET MATLAB script and McCann 2013 (whose reference values it reproduces).

    Returns
    -------
    SNRResult

    Notes
    -----
    Noise image N = I - B_k * I, where B_k is the k x k boxcar (mean) filter (edges reflected; the ROIs are far from
    the image edge). In each ROI: S_i = mean of I, sigma_i = SD(N) (n - 1); SNR = mean_i S_i / sigma_i. As in the
    MagNET MATLAB script and McCann 2013, no correction is applied to sigma: for white noise SD(N) =
    sigma sqrt(1 - 1/k^2) (0.6 % low for k = 9, 0.08 % for k = 25), and the residual of a smooth shading adds a
    little. ``parameters["white_noise_factor"]`` records sqrt(1 - 1/k^2).

    References
    ----------
    McCann, A. J., Workman, A., McGrath, C. (2013) A quick and robust method for measurement of signal-to-noise
    ratio in MRI. *Phys. Med. Biol.* 58, 3775-3790.
    """
    img = _as_image(image)
    sp = _spacing(spacing_mm)
    k = int(kernel_px)
    if k < 3 or k != kernel_px:
        raise InputError(f"kernel_px must be an integer >= 3 (9 head coil, 25 body coil), got {kernel_px!r}")
    center, _, found = _center(img, sp, center_px)
    f = img.astype(np.float64)
    noise = f - ndimage.uniform_filter(f, k, mode="reflect")
    rois = _five_rois(img.shape, sp, center, roi_size_mm, roi_offset_mm)
    wn = math.sqrt(1.0 - 1.0 / k ** 2)
    corr = 1.0 / wn if kernel_correction else 1.0
    sig, sd, n = _roi_list_stats(f, noise, rois, corr)
    return _ratio_result(sig, sd, n, method="smoothing", metric_id="mr.snr.smoothing", signal_rois=rois,
                         noise_rois=rois, center=center, warnings=[],
                         parameters={"kernel_px": k, "roi_size_mm": roi_size_mm, "roi_offset_mm": roi_offset_mm,
                                     "center_found": found, "kernel_correction": kernel_correction,
                                     "correction_factor": corr, "white_noise_factor": wn})


def _background_sigma(f: np.ndarray, rois, estimator: str) -> tuple[float, float, float, int]:
    """(sigma, background mean, background SD, n) from the pooled background ROIs."""
    vals = np.concatenate([np.asarray(f[r.slices], dtype=np.float64).ravel() for r in rois])
    mean, sd = float(vals.mean()), float(vals.std(ddof=1))
    if estimator == "sd":
        sigma = sd / RAYLEIGH_SD_FACTOR
    elif estimator == "mean":
        sigma = mean / RAYLEIGH_MEAN_FACTOR
    elif estimator == "none":
        sigma = sd
    else:
        raise InputError(f"background estimator must be 'sd', 'mean' or 'none', got {estimator!r}")
    return sigma, mean, sd, vals.size


def _background_rois(shape, sp, center, radius_mm, size_mm, margin_mm, rois, warnings):
    bg = _corner_rois(shape, sp, size_mm, margin_mm) if rois is None else tuple(rois)
    if radius_mm is not None:
        for r in bg:
            if _rect_overlaps_disc(r, sp, center, radius_mm + 5.0):
                warnings.append(f"background ROI '{r.name}' is within 5 mm of the phantom edge: the noise estimate "
                                "includes signal; use smaller background ROIs or a larger field of view")
    return bg


def snr_single_image(image: np.ndarray, spacing_mm: tuple[float, float], *,
                     center_px: tuple[float, float] | None = None, radius_mm: float | None = None,
                     signal_area_fraction: float = 0.75, background_roi_size_mm: float = 20.0,
                     background_margin_mm: float = 5.0, background_rois: Sequence[RectROI] | None = None,
                     estimator: str = "sd") -> SNRResult:
    """Single-image SNR from the signal in the phantom and the noise in the air background (id ``mr.snr.single_image``).

    Parameters
    ----------
    image : ndarray
        One magnitude image, ``(rows, cols)``.
    spacing_mm : (float, float)
        Pixel spacing (row, column), mm.
    center_px, radius_mm : optional
        Phantom centre (row, col) in pixels and radius in mm; found when not given.
    signal_area_fraction : float
        The signal region is this fraction of the phantom's area (NEMA: >= 75 %): the phantom's pixels at least a
        distance t from its edge, as :func:`phantomqc.mr.uniformity.nema_ms3_uniformity` places its region (a
        concentric disc for a disc; for a rectangle or a phantom with an air bubble the same distance from every
        edge). ``signal_rois`` holds its centre and equivalent radius, ``parameters["signal_region_mask"]`` its
        pixels.
    background_roi_size_mm, background_margin_mm : float
        The four square background ROIs in the image corners, their side and distance from the image edges.
    background_rois : sequence of RectROI, optional
        Explicit background ROIs (away from the phase-encode ghosts); replaces the corner ROIs.
    estimator : {"sd", "mean", "none"}
        How sigma is estimated from the (Rayleigh-distributed) background of a magnitude image:
        ``"sd"``: sigma = SD_bg / 0.655 (NEMA MS 1 method 4); ``"mean"``: sigma = mean_bg / 1.253;
        ``"none"``: sigma = SD_bg (no correction; for a background that is not Rayleigh).

    Returns
    -------
    SNRResult

    Notes
    -----
    SNR = S / sigma, S = mean in the signal disc. In a magnitude image the noise in air is Rayleigh distributed:
    its mean is sigma sqrt(pi/2) = 1.253 sigma and its SD sigma sqrt(2 - pi/2) = 0.655 sigma (Henkelman 1985;
    NEMA MS 1-2008, method 4). Both corrections assume a single-channel magnitude reconstruction with no
    background clipping or filtering; with parallel imaging or multi-channel coils the background is not Rayleigh
    and the method is not valid (NEMA MS 9 / MS 6). Background ROIs are pooled (SD with n - 1).

    References
    ----------
    NEMA MS 1-2008, method 4. Henkelman, R. M. (1985) Measurement of signal intensities in the presence of noise in
    MR images. *Med. Phys.* 12, 232-233.
    """
    img = _as_image(image)
    sp = _spacing(spacing_mm)
    if not 0 < signal_area_fraction <= 1:
        raise InputError(f"signal_area_fraction must be in (0, 1], got {signal_area_fraction!r}")
    from phantomqc.mr._flood_mask import central_region, flood_object

    if center_px is not None:
        center_px = _center(img, sp, center_px)[0]  # validated
    obj = flood_object(img, sp, center_px, radius_mm)
    center, radius = obj.center_px, obj.equivalent_radius_mm
    warnings: list[str] = obj.void_warnings()
    f = img.astype(np.float64)
    m, t = central_region(obj, signal_area_fraction)
    s = float(f[m].mean())
    bg = _background_rois(img.shape, sp, center, None, background_roi_size_mm, background_margin_mm,
                          background_rois, warnings)
    # the object (voids filled back in) grown by 5 mm: a background ROI that reaches it includes signal
    near = ndimage.distance_transform_edt(~ndimage.binary_fill_holes(obj.mask), sampling=sp) <= 5.0
    for r in bg:
        if near[r.slices].any():
            warnings.append(f"background ROI '{r.name}' is within 5 mm of the phantom edge: the noise estimate "
                            "includes signal; use smaller background ROIs or a larger field of view")
    sigma, bmean, bsd, nb = _background_sigma(f, bg, estimator)
    if not sigma > 0:
        raise InputError("the background has no noise (SD and mean 0): the image background was probably zeroed "
                         "by the scanner; use snr_subtraction or snr_smoothing")
    snr = s / sigma
    unc = snr / math.sqrt(2.0 * (nb - 1)) if estimator != "mean" else snr * (bsd / bmean) / math.sqrt(nb)
    n = int(m.sum())
    return SNRResult(
        snr=Quantity(snr, "1", unc), signal=Quantity(s, ""), noise_sd=Quantity(sigma, ""), method="single_image",
        metric_id="mr.snr.single_image", roi_snr=(snr,),
        signal_rois=(DiscROI("signal", center[0], center[1], math.sqrt(n * sp[0] * sp[1] / math.pi), n),),
        noise_rois=bg, center_px=center, warnings=tuple(warnings),
        parameters={"estimator": estimator, "signal_area_fraction": signal_area_fraction, "phantom_radius_mm": radius,
                    "signal_roi_placement": obj.placement, "outline": obj.outline,
                    "signal_edge_distance_mm": t, "signal_region_mask": m, "void_area_mm2": obj.void_area_mm2,
                    "background_mean": bmean, "background_sd": bsd, "background_pixels": nb,
                    "rayleigh_sd_factor": RAYLEIGH_SD_FACTOR, "rayleigh_mean_factor": RAYLEIGH_MEAN_FACTOR,
                    "center_found": obj.center_found})


def snr_wst263(image: np.ndarray, spacing_mm: tuple[float, float], *, center_px: tuple[float, float] | None = None,
               radius_mm: float | None = None, roi_area_mm2: float = 238.4, noise_from: str = "background",
               rayleigh_correction: bool = True, background_roi_size_mm: float = 20.0,
               background_margin_mm: float = 5.0, background_rois: Sequence[RectROI] | None = None) -> SNRResult:
    """SNR as WS/T 263-2006 defines it: (S - B) / sigma (id ``mr.snr.wst263``).

    Parameters
    ----------
    image : ndarray
        One magnitude image of the uniform phantom (SE, TR 500 ms, TE 30 ms, 256 x 256, FOV 250 mm, 5 mm).
    spacing_mm : (float, float)
        Pixel spacing (row, column), mm.
    center_px, radius_mm : optional
        Phantom centre (row, col) in pixels and radius in mm; found when not given.
    roi_area_mm2 : float
        Area of the central signal disc: the standard's "about 250 pixels" at 250 mm / 256 (0.977 mm pixels) is
        238.4 mm^2; kept in mm^2 so that the ROI does not change with the matrix.
    noise_from : {"background", "signal"}
        Where sigma is measured: ``"background"`` (the air ROIs, the AAPM Report 28 reading, default) or
        ``"signal"`` (the SD in the central ROI itself, the reading of the JJF(浙)1157 excerpt).
    rayleigh_correction : bool
        With ``noise_from="background"``: divide the background SD by 0.655 (NEMA MS 1), as for
        :func:`snr_single_image`.
    background_roi_size_mm, background_margin_mm, background_rois
        The background ROIs, as :func:`snr_single_image`; B is their mean.

    Returns
    -------
    SNRResult

    Notes
    -----
    SNR = (S - B) / sigma, S = mean of the central ROI, B = mean of the background ("surrounding") ROIs. The
    standard's text was not retrieved; the formula comes from the JJF(浙)1157-2019 excerpt that follows it
    (STANDARDS.md section 3), whose OCR is ambiguous about where sigma is measured. Both readings are offered and
    the one used is recorded in ``parameters``. Subtracting B removes the Rayleigh offset of the background only
    approximately (the signal is not Rayleigh); at the SNR of a QC phantom (> 20) this changes the result by < 2 %.
    """
    img = _as_image(image)
    sp = _spacing(spacing_mm)
    if noise_from not in ("background", "signal"):
        raise InputError(f"noise_from must be 'background' or 'signal', got {noise_from!r}")
    if not roi_area_mm2 > 0:
        raise InputError(f"roi_area_mm2 must be positive, got {roi_area_mm2!r}")
    center, radius, found = _center(img, sp, center_px, radius_mm)
    warnings: list[str] = []
    f = img.astype(np.float64)
    r_sig = math.sqrt(roi_area_mm2 / math.pi)
    m = _disc_mask(img.shape, sp, center, r_sig)
    vals = f[m]
    s, s_sd = float(vals.mean()), float(vals.std(ddof=1))
    bg = _background_rois(img.shape, sp, center, radius, background_roi_size_mm, background_margin_mm,
                          background_rois, warnings)
    est = ("sd" if rayleigh_correction else "none")
    sigma_bg, bmean, bsd, nb = _background_sigma(f, bg, est)
    if noise_from == "background":
        sigma, n_sigma = sigma_bg, nb
    else:
        sigma, n_sigma = s_sd, vals.size
    if not sigma > 0:
        raise InputError(f"the noise SD ({noise_from}) is zero: cannot compute an SNR; try noise_from='signal' "
                         "when the scanner zeroes the background")
    snr = (s - bmean) / sigma
    return SNRResult(
        snr=Quantity(snr, "1", abs(snr) / math.sqrt(2.0 * (n_sigma - 1))), signal=Quantity(s - bmean, ""),
        noise_sd=Quantity(sigma, ""), method="wst263", metric_id="mr.snr.wst263", roi_snr=(snr,),
        signal_rois=(DiscROI("signal", center[0], center[1], r_sig, int(m.sum())),), noise_rois=bg,
        center_px=center, warnings=tuple(warnings),
        parameters={"roi_area_mm2": roi_area_mm2, "noise_from": noise_from, "rayleigh_correction": rayleigh_correction,
                    "signal_mean": s, "signal_sd": s_sd, "background_mean": bmean, "background_sd": bsd,
                    "center_found": found})


def normalised_snr(snr, *, pixel_spacing_mm: tuple[float, float], slice_thickness_mm: float, n_averages: float,
                   n_phase_encoding: int, n_frequency_encoding: int, bandwidth_hz_per_pixel: float,
                   repetition_time_ms: float, reference_half_bandwidth_khz: float = 30.0) -> NormalisedSNRResult:
    """SNR normalised for voxel volume, acquisition time and receiver bandwidth, the MagNET way (``mr.snr.normalised``).

    Parameters
    ----------
    snr : float or Quantity
        A measured SNR (from any method).
    pixel_spacing_mm : (float, float)
        (0028,0030) Pixel Spacing (row, column), mm.
    slice_thickness_mm : float
        (0018,0050) Slice Thickness, or a measured slice width, mm.
    n_averages : float
        (0018,0083) Number of Averages.
    n_phase_encoding : int
        Phase-encoding steps (the MagNET script uses (0028,0010) Rows).
    n_frequency_encoding : int
        Frequency-encoding samples (the MagNET script uses (0028,0011) Columns).
    bandwidth_hz_per_pixel : float
        (0018,0095) Pixel Bandwidth, Hz/pixel.
    repetition_time_ms : float
        (0018,0080) Repetition Time, ms.
    reference_half_bandwidth_khz : float
        The reference receiver bandwidth (+-30 kHz).

    Returns
    -------
    NormalisedSNRResult

    Notes
    -----
    SNR is proportional to voxel volume V and to sqrt(acquisition time / bandwidth)
    (SNR ~ V sqrt(N_avg N_phase TR / BW)). The MagNET MATLAB script (quoted by hazen) normalises to a 1 ml voxel,
    1 s of sampling and a +-30 kHz bandwidth::

        SNR_norm = SNR / V_ml / sqrt(N_avg N_phase TR_s) * sqrt(BW_half_kHz / 30)

    with V_ml = dx dy dz / 1000 (mm^3 to ml), TR_s = TR / 1000 and BW_half_kHz = BW_pixel N_freq / 2 / 1000.

    References
    ----------
    IPEM Report 112 (2017); MagNET flood-field SNR protocol; hazen ``snr.py`` (GSTT-CSC/hazen).

    Examples
    --------
    >>> r = normalised_snr(100.0, pixel_spacing_mm=(1.0, 1.0), slice_thickness_mm=1000.0, n_averages=1,
    ...                    n_phase_encoding=1, n_frequency_encoding=600, bandwidth_hz_per_pixel=100.0,
    ...                    repetition_time_ms=1000.0)
    >>> round(r.normalised_snr.value, 6)
    100.0
    """
    value = snr.value if isinstance(snr, Quantity) else float(snr)
    unc = snr.uncertainty if isinstance(snr, Quantity) else None
    dy, dx = _spacing(pixel_spacing_mm)
    named = {"slice_thickness_mm": slice_thickness_mm, "n_averages": n_averages, "n_phase_encoding": n_phase_encoding,
             "n_frequency_encoding": n_frequency_encoding, "bandwidth_hz_per_pixel": bandwidth_hz_per_pixel,
             "repetition_time_ms": repetition_time_ms, "reference_half_bandwidth_khz": reference_half_bandwidth_khz}
    for k, v in named.items():
        try:
            ok = float(v) > 0 and math.isfinite(float(v))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise InputError(f"{k} must be a positive number, got {v!r}; read it from the DICOM header "
                             "(see the docstring for the tag)")
    voxel_ml = dx * dy * float(slice_thickness_mm) / 1000.0
    t_s = float(n_averages) * float(n_phase_encoding) * float(repetition_time_ms) / 1000.0
    half_bw_khz = float(bandwidth_hz_per_pixel) * float(n_frequency_encoding) / 2.0 / 1000.0
    factor = math.sqrt(half_bw_khz / float(reference_half_bandwidth_khz)) / voxel_ml / math.sqrt(t_s)
    return NormalisedSNRResult(
        normalised_snr=Quantity(value * factor, "1", None if unc is None else unc * factor), snr=value,
        factor=factor, voxel_volume_ml=voxel_ml, acquisition_time_s=t_s, half_bandwidth_khz=half_bw_khz,
        parameters={"pixel_spacing_mm": (dy, dx), **{k: float(v) for k, v in named.items()}})
