"""Reference gamma-camera planar images with known answers (in memory: arrays plus a truth dict, no I/O).

* :func:`flood` -- a flood through a rectangular, circular or octagonal detector with a known smooth gain map;
  the truth is the NU 1 uniformity of the noise-free expected counts after the same rebinning and smoothing.
* :func:`four_bar_image` -- two pairs of parallel line sources with a Gaussian LSF of known FWHM, rendered on a
  pixel that may differ from the header's (known true pixel size).
* :func:`quadrant_bar_image` -- four quadrants of opaque bars (width = gap) blurred by a Gaussian LSF, with the
  analytic value of the statistical-moments modulation for each bar width.
* :func:`line_source_image` -- one line source with a Gaussian LSF.

Sampling: every pattern is evaluated at the pixel centres (point sampling), so the FWHM of the sampled profile is
the FWHM of the LSF itself (an integrating pixel would widen a Gaussian to sqrt(s^2 + p^2 / 12)). Noise is Poisson
from ``rng`` when one is given; without ``rng`` the expected (noise-free) counts are returned.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "flood",
    "flood_truth",
    "four_bar_image",
    "line_source_image",
    "quadrant_bar_image",
    "square_wave_moment_modulation",
]

_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


def _coords(shape, spacing_mm):
    ny, nx = shape
    sy, sx = spacing_mm
    y = (np.arange(ny) - (ny - 1) / 2.0) * sy
    x = (np.arange(nx) - (nx - 1) / 2.0) * sx
    return np.meshgrid(y, x, indexing="ij")


def _noisy(expected, rng):
    if rng is None:
        return expected
    return rng.poisson(expected).astype(np.float64)


#: Gain features of the default flood: (y_mm, x_mm, sigma_mm, amplitude), all inside the CFOV.
DEFAULT_FEATURES = ((-40.0, 30.0, 14.0, 0.03), (35.0, -25.0, 12.0, -0.025), (0.0, 0.0, 20.0, 0.01))


def flood(shape=(256, 256), spacing_mm=(2.0, 2.0), *, counts_per_pixel: float = 1.0e4,
          detector: str = "rectangular", detector_size_mm: float = 440.0,
          features=DEFAULT_FEATURES, rng: np.random.Generator | None = None):
    """A flood ``counts_per_pixel x G(y, x)`` inside the detector (0 outside), Poisson noise from ``rng``.

    ``detector``: ``"rectangular"`` (a square of side ``detector_size_mm``), ``"circular"`` (that diameter) or
    ``"octagonal"`` (the square with its corners cut at 45 degrees, 20 % of the side). G = 1 + sum of Gaussian
    bumps ``features`` (y, x, sigma, amplitude in mm), all well inside the CFOV, so that the flat ring outside
    them makes the UFOV and CFOV extremes those of the bumps whatever the exact mask edges.

    Returns ``(image, truth)``; truth holds the expected image, the gain map and :func:`flood_truth` values for
    block sizes 3 and 4 (``truth["uniformity"][k]`` = dict of integral / differential percent).
    """
    Y, X = _coords(shape, spacing_mm)
    h = detector_size_mm / 2.0
    if detector == "rectangular":
        inside = (np.abs(Y) <= h) & (np.abs(X) <= h)
    elif detector == "circular":
        inside = Y ** 2 + X ** 2 <= h ** 2
    elif detector == "octagonal":
        inside = (np.abs(Y) <= h) & (np.abs(X) <= h) & (np.abs(Y) + np.abs(X) <= 1.6 * h)
    else:
        raise ValueError(f"detector must be rectangular, circular or octagonal, got {detector!r}")
    gain = np.ones(shape)
    for fy, fx, s, a in features:
        gain += a * np.exp(-0.5 * ((Y - fy) ** 2 + (X - fx) ** 2) / s ** 2)
    expected = counts_per_pixel * gain * inside
    truth = {"expected": expected, "gain": gain, "detector": detector,
             "uniformity": {k: flood_truth(expected, k, central_mm=h * 0.5, spacing_mm=spacing_mm) for k in (3, 4)}}
    return _noisy(expected, rng), truth


def flood_truth(expected, k: int, *, central_mm: float, spacing_mm=(2.0, 2.0), width: int = 5) -> dict:
    """IU and DU (percent) of the noise-free flood after k x k block sums and one 9-point smoothing, over the
    rebinned pixels whose centres lie within ``central_mm`` (box half side) of the image centre.

    Written independently of the analyzer (explicit shifted sums, a plain loop over the 5-pixel runs). Valid as
    the UFOV and CFOV truth when every gain feature lies inside that box and the box inside the CFOV.
    """
    e = np.asarray(expected, dtype=np.float64)
    ny, nx = e.shape[0] // k, e.shape[1] // k
    b = np.zeros((ny, nx))
    for dy in range(k):
        for dx in range(k):
            b += e[dy: ny * k: k, dx: nx * k: k]
    p = np.pad(b, 1, mode="edge")
    w = {(-1, -1): 1, (-1, 0): 2, (-1, 1): 1, (0, -1): 2, (0, 0): 4, (0, 1): 2, (1, -1): 1, (1, 0): 2, (1, 1): 1}
    s = sum(wt * p[1 + dy: 1 + dy + ny, 1 + dx: 1 + dx + nx] for (dy, dx), wt in w.items()) / 16.0
    cy = ((np.arange(ny) + 0.5) * k - 0.5 - (e.shape[0] - 1) / 2.0) * spacing_mm[0]
    cx = ((np.arange(nx) + 0.5) * k - 0.5 - (e.shape[1] - 1) / 2.0) * spacing_mm[1]
    keep = (np.abs(cy)[:, None] <= central_mm) & (np.abs(cx)[None, :] <= central_mm)
    v = s[keep]
    iu = (v.max() - v.min()) / (v.max() + v.min()) * 100.0
    du = 0.0
    for arr, m in ((s, keep), (s.T, keep.T)):
        for r in range(arr.shape[0]):
            for c in range(arr.shape[1] - width + 1):
                if m[r, c: c + width].all():
                    run = arr[r, c: c + width]
                    du = max(du, (run.max() - run.min()) / (run.max() + run.min()) * 100.0)
    return {"integral_percent": float(iu), "differential_percent": float(du)}


def four_bar_image(shape=(512, 512), spacing_mm=(1.0325, 1.0325), *, true_pixel_mm=None, fwhm_mm: float = 7.5,
                   separation_mm: float = 100.0, bar_half_length_mm: float = 45.0, peak_counts: float = 400.0,
                   background_counts: float = 0.5, rng: np.random.Generator | None = None):
    """Four line sources forming a square: two along y at x = +- separation / 2 and two along x at y = +- s / 2.

    Each has a Gaussian cross-profile of ``fwhm_mm`` (physical mm) and soft (Gaussian) ends beyond
    ``bar_half_length_mm``. The image is rendered with the physical pixel ``true_pixel_mm`` (row, column;
    default: ``spacing_mm``) while the caller passes ``spacing_mm`` as the header's value. Returns
    ``(image, truth)``; truth: ``fwhm_mm``, ``pixel_size_mm`` {"x", "y"}, ``separation_mm``.
    """
    tp = tuple(spacing_mm) if true_pixel_mm is None else tuple(true_pixel_mm)
    Y, X = _coords(shape, tp)
    s = fwhm_mm / _FWHM_PER_SIGMA
    d = separation_mm / 2.0

    def along(u):  # soft bar ends
        return np.exp(-0.5 * (np.maximum(np.abs(u) - bar_half_length_mm, 0.0) / s) ** 2)

    img = np.zeros(shape)
    for c in (-d, d):
        img += np.exp(-0.5 * ((X - c) / s) ** 2) * along(Y)
        img += np.exp(-0.5 * ((Y - c) / s) ** 2) * along(X)
    expected = background_counts + peak_counts * img
    truth = {"fwhm_mm": fwhm_mm, "pixel_size_mm": {"x": tp[1], "y": tp[0]}, "separation_mm": separation_mm}
    return _noisy(expected, rng), truth


def square_wave_moment_modulation(bar_width_mm: float, lsf_fwhm_mm: float, n_harmonics: int = 199) -> float:
    """sqrt(2 var) / mean of an opaque-bar square wave (bar = gap = w, duty 1/2) blurred by a Gaussian LSF.

    The pattern is mean x (1 + (4 / pi) sum over odd n of MTF(n f) sin(2 pi n f x) / n), f = 1 / (2 w), so its
    variance over whole periods is mean^2 (16 / pi^2) sum (MTF(n f) / n)^2 / 2 and the moments modulation is
    (4 / pi) sqrt(sum over odd n of (MTF(n f) / n)^2), with MTF(f) = exp(-2 pi^2 s^2 f^2).
    """
    s = lsf_fwhm_mm / _FWHM_PER_SIGMA
    f = 1.0 / (2.0 * bar_width_mm)
    n = np.arange(1, n_harmonics + 1, 2, dtype=np.float64)
    mtf = np.exp(-2.0 * math.pi ** 2 * s ** 2 * (n * f) ** 2)
    return float(4.0 / math.pi * math.sqrt(np.sum((mtf / n) ** 2)))


def quadrant_bar_image(shape=(512, 512), spacing_mm=(1.0325, 1.0325), *, bar_widths_mm=(4.23, 3.18, 2.54, 2.12),
                       lsf_fwhm_mm: float = 3.5, counts: float = 2000.0, field_mm: float = 440.0,
                       gap_mm: float = 12.0, rotation_k: int = 0, rng: np.random.Generator | None = None):
    """Four quadrants of opaque bars (width = gap = w) over a flood of ``counts`` per pixel, blurred by a Gaussian
    LSF of ``lsf_fwhm_mm``; quadrants upper-right, upper-left, lower-left, lower-right hold ``bar_widths_mm`` in
    that order, rotated by ``rotation_k`` x 90 degrees (``np.rot90``). A cross of open field ``gap_mm`` wide
    separates them; bars alternate between vertical and horizontal. The blurred square wave is evaluated from its
    Fourier series (exact for the infinite pattern). Returns ``(image, truth)``: truth ``mtf[w]`` =
    exp(-2 pi^2 s^2 / (2 w)^2) (the LSF's MTF at the fundamental), ``moment_modulation[w]`` =
    :func:`square_wave_moment_modulation`, ``quadrant[w]`` = quadrant name after rotation.
    """
    Y, X = _coords(shape, spacing_mm)
    s = lsf_fwhm_mm / _FWHM_PER_SIGMA
    h = field_mm / 2.0
    img = np.where((np.abs(Y) <= h) & (np.abs(X) <= h), counts, 0.0)
    names = ("upper-right", "upper-left", "lower-left", "lower-right")
    masks = (((Y < -gap_mm / 2) & (X > gap_mm / 2)), ((Y < -gap_mm / 2) & (X < -gap_mm / 2)),
             ((Y > gap_mm / 2) & (X < -gap_mm / 2)), ((Y > gap_mm / 2) & (X > gap_mm / 2)))
    masks = tuple(m & (np.abs(Y) <= h - 10.0) & (np.abs(X) <= h - 10.0) for m in masks)
    truth = {"mtf": {}, "moment_modulation": {}, "quadrant": {}, "lsf_fwhm_mm": lsf_fwhm_mm}
    rot_names = {0: names, 1: names[1:] + names[:1], 2: names[2:] + names[:2], 3: names[3:] + names[:3]}
    for i, (w, m) in enumerate(zip(bar_widths_mm, masks)):
        f = 1.0 / (2.0 * w)
        u = X if i % 2 == 0 else Y
        wave = np.ones_like(u)
        for n in range(1, 200, 2):
            mt = math.exp(-2.0 * math.pi ** 2 * s ** 2 * (n * f) ** 2)
            if mt < 1e-12:
                break
            wave += 4.0 / math.pi * mt / n * np.sin(2.0 * math.pi * n * f * u)
        img = np.where(m, 0.5 * counts * wave, img)  # opaque bars: half the open-field mean
        truth["mtf"][w] = math.exp(-2.0 * math.pi ** 2 * s ** 2 * f ** 2)
        truth["moment_modulation"][w] = square_wave_moment_modulation(w, lsf_fwhm_mm)
        truth["quadrant"][w] = rot_names[rotation_k % 4][i]
    img = np.rot90(np.clip(img, 0.0, None), k=rotation_k)
    return _noisy(np.ascontiguousarray(img), rng), truth


def line_source_image(shape=(128, 128), spacing_mm=(2.0, 2.0), *, fwhm_mm: float = 8.0, offset_mm: float = 0.3,
                      axis: str = "x", peak_counts: float = 1000.0, rng: np.random.Generator | None = None):
    """One line source along y (``axis="x"``: the profile runs along x) or along x, at ``offset_mm`` from the
    centre, Gaussian cross-profile of ``fwhm_mm``. Returns ``(image, truth)`` with ``fwhm_mm`` and ``fwtm_mm``."""
    Y, X = _coords(shape, spacing_mm)
    s = fwhm_mm / _FWHM_PER_SIGMA
    u = X if axis == "x" else Y
    expected = peak_counts * np.exp(-0.5 * ((u - offset_mm) / s) ** 2)
    truth = {"fwhm_mm": fwhm_mm, "fwtm_mm": s * 2.0 * math.sqrt(2.0 * math.log(10.0))}
    return _noisy(expected, rng), truth
