"""Reference gamma-camera planar images with known answers (in memory: arrays plus a truth dict, no I/O).

* :func:`flood` -- a flood through a rectangular, circular or octagonal detector with a known smooth gain map;
  the truth is the NU 1 uniformity of the noise-free expected counts after the same rebinning and smoothing.
* :func:`four_bar_image` -- two pairs of parallel line sources with a Gaussian LSF of known FWHM, rendered on a
  pixel that may differ from the header's (known true pixel size).
* :func:`quadrant_bar_image` -- four quadrants of opaque bars (width = gap) blurred by a Gaussian LSF, with the
  analytic value of the statistical-moments modulation for each bar width.
* :func:`line_source_image` -- one line source with a Gaussian LSF.
* :func:`line_grid_image` -- a NEMA NU 1 slit mask (1 mm slits 30 mm apart) seen through a known smooth distortion
  field, with the absolute and differential linearity of the generating slit positions.

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
    "line_grid_image",
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


def line_grid_image(shape=(512, 512), spacing_mm=(0.8, 0.8), *, orientation: str = "x",
                    line_spacing_mm: float = 30.0, slit_width_mm: float = 1.0, fwhm_mm: float = 4.0,
                    distortion_mm: float = 0.5, distortion_wavelength_mm=(170.0, 400.0),
                    distortion_phase: float = 0.3, grid_offset_mm: float = 0.0, rotation_deg: float = 0.0,
                    field: str = "rectangular", field_size_mm: float = 390.0, peak_counts: float = 1000.0,
                    background_counts: float = 2.0, band_mm: float = 30.0, ufov_fraction: float = 0.95,
                    cfov_fraction: float = 0.75, rng: np.random.Generator | None = None):
    """NEMA NU 1 slit-mask (line-grid) image with a known distortion field: parallel slits ``slit_width_mm`` wide,
    ``line_spacing_mm`` apart, imaged through a Gaussian LSF of ``fwhm_mm``.

    Frame: ``a`` is the measurement axis (x for ``orientation="x"``: lines along y, distortion measured along x;
    y for ``"y"``), ``b`` the axis along the lines; both in mm from the image centre. Slit k lies at
    ``a_k(b) = (grid_offset + k P) / cos(theta) + b tan(theta)`` (the mask rotated by ``rotation_deg``). The camera
    moves each event along ``a`` by ``D(a, b) = distortion_mm sin(2 pi a / L_a + phase) cos(2 pi b / L_b)``
    (``distortion_wavelength_mm = (L_a, L_b)``), so the imaged slit lies at ``A_k(b) = a_k(b) + D(a_k(b), b)``.
    Its cross-profile is the slit (a box of ``slit_width_mm``) convolved with the Gaussian, evaluated at pixel
    centres; intensity is uniform along the slit, inside the detector field (``"rectangular"``: a square of side
    ``field_size_mm``; ``"circular"``: that diameter), plus ``background_counts`` inside the field (mask
    transmission). Poisson noise from ``rng``.

    Truth (computed from the generating positions ``A_k(b)``, never from the image), for the NU 1 analysis in
    bands of ``band_mm`` along the lines centred on the field centre (``phantomqc.pet_spect.linearity``):

    * ``positions_mm[j][k]``: the band average of ``A_k(b)`` (the peak position a band's profile has);
    * field: the union over slits of ``[A_k - P/2, A_k + P/2] x`` (the slit's chord in the field) -- what a box of
      one line spacing across the lines sees -- scaled about its centroid by ``ufov_fraction`` (UFOV) and by
      ``ufov_fraction x cfov_fraction`` (CFOV); a point belongs to a FOV when both ends of its band segment do;
    * ``absolute_mm[fov]``: the largest |residual| of the points from the least-squares grid
      ``a = c + d k + t b`` (equally spaced parallel lines; c, d, t free) fitted to that FOV's points;
    * ``differential_mm[fov]``: the sample SD (n - 1) of the spacings ``A_{k+1} - A_k`` of adjacent slits in one
      band, both in the FOV;
    * ``line_residual_sd_mm[fov]``: the mean over slits (>= 3 points) of the SD (n - 2) of the residuals from each
      slit's own straight line (the NU 1-2007 wording of differential linearity);
    * ``n_points[fov]``, ``fwhm_mm`` (the Gaussian), ``orientation``, ``line_spacing_mm``.

    Returns ``(image, truth)``.
    """
    if orientation not in ("x", "y"):
        raise ValueError(f"orientation must be 'x' or 'y', got {orientation!r}")
    if field not in ("rectangular", "circular"):
        raise ValueError(f"field must be 'rectangular' or 'circular', got {field!r}")
    ny, nx = shape
    sy, sx = spacing_mm
    # work in the (b, a) frame: rows along b, columns along a; transpose at the end for "y"
    (nb, na), (sb, sa) = ((ny, nx), (sy, sx)) if orientation == "x" else ((nx, ny), (sx, sy))
    a = (np.arange(na) - (na - 1) / 2.0) * sa
    b = (np.arange(nb) - (nb - 1) / 2.0) * sb
    th = math.radians(rotation_deg)
    la, lb = distortion_wavelength_mm
    half = field_size_mm / 2.0

    def imaged(k, bb):
        ak = (grid_offset_mm + k * line_spacing_mm) / math.cos(th) + bb * math.tan(th)
        return ak + distortion_mm * np.sin(2.0 * math.pi * ak / la + distortion_phase) * np.cos(2.0 * math.pi * bb / lb)

    def inside(aa, bb):
        if field == "rectangular":
            return (np.abs(aa) <= half) & (np.abs(bb) <= half)
        return aa ** 2 + bb ** 2 <= half ** 2

    def chord(ak):  # extent along b of a line at a = ak inside the field
        if field == "rectangular":
            return (-half, half) if abs(ak) <= half else None
        if abs(ak) >= half:
            return None
        h = math.sqrt(half ** 2 - ak ** 2)
        return (-h, h)

    s = fwhm_mm / _FWHM_PER_SIGMA
    w = slit_width_mm
    kmax = math.ceil((abs(grid_offset_mm) + 2.0 * half) / line_spacing_mm) + 1
    ks = [k for k in range(-kmax, kmax + 1) if chord(imaged(k, 0.0)) is not None]
    B, Acol = np.meshgrid(b, a, indexing="ij")
    expected = np.zeros((nb, na))
    from scipy.special import erf as verf

    for k in ks:
        pos = imaged(k, b)[:, None]
        d = Acol - pos
        if w > 0:
            prof = 0.5 * (verf((d + w / 2.0) / (math.sqrt(2.0) * s)) - verf((d - w / 2.0) / (math.sqrt(2.0) * s)))
            prof /= math.erf(w / (2.0 * math.sqrt(2.0) * s))  # peak 1
        else:
            prof = np.exp(-0.5 * (d / s) ** 2)
        expected += peak_counts * prof
    fmask = inside(Acol, B)
    expected = (expected + background_counts) * fmask
    if orientation == "y":
        expected = np.ascontiguousarray(expected.T)

    # ---- truth from the generating positions
    P = line_spacing_mm

    def in_field(pa, pb):  # a box one spacing wide across the lines contains a slit inside the field
        out = np.zeros(np.broadcast(pa, pb).shape, bool)
        for k in ks:
            ak = imaged(k, pb)
            out |= (np.abs(pa - ak) <= P / 2.0) & inside(ak, pb)
        return out

    ga = np.linspace(-half - P, half + P, 2 * math.ceil(2.0 * (half + P)) + 1)  # symmetric, <= 0.5 mm steps
    GA, GB = np.meshgrid(ga, ga, indexing="ij")
    fm = in_field(GA, GB)
    ca, cb = float(GA[fm].mean()), float(GB[fm].mean())
    nband = math.ceil(half / band_mm) + 1
    bands = np.array([cb + j * band_mm for j in range(-nband, nband + 1)])
    fine = bands[:, None] + np.linspace(-0.5, 0.5, 401)[None, :] * band_mm
    pos = np.stack([imaged(k, fine).mean(axis=1) for k in ks], axis=1)  # (bands, slits): band means of A_k(b)
    b_end = bands[:, None, None] + np.array([-0.5, 0.5])[None, None, :] * band_mm  # both ends of each segment
    a_end = np.stack([imaged(k, b_end[:, 0, :]) for k in ks], axis=1)
    b_end = np.broadcast_to(b_end, a_end.shape)
    member = {}
    for fov, f in (("ufov", ufov_fraction), ("cfov", ufov_fraction * cfov_fraction)):
        member[fov] = np.all(in_field(ca + (a_end - ca) / f, cb + (b_end - cb) / f), axis=2)
    absolute, differential, line_sd, npts = {}, {}, {}, {}
    kk = np.array(ks, dtype=float)[None, :] * np.ones((len(bands), 1))
    bb = np.array(bands)[:, None] * np.ones((1, len(ks)))
    for fov, m in member.items():
        design = np.column_stack([np.ones(m.sum()), kk[m], bb[m]])
        coef, *_ = np.linalg.lstsq(design, pos[m], rcond=None)
        absolute[fov] = float(np.max(np.abs(pos[m] - design @ coef)))
        both = m[:, 1:] & m[:, :-1]
        differential[fov] = float(np.std(np.diff(pos, axis=1)[both], ddof=1))
        sds = []
        for i in range(len(ks)):
            mi = m[:, i]
            if mi.sum() >= 3:
                d1 = np.column_stack([np.ones(mi.sum()), bb[mi, i]])
                c1, *_ = np.linalg.lstsq(d1, pos[mi, i], rcond=None)
                sds.append(float(np.sqrt(np.sum((pos[mi, i] - d1 @ c1) ** 2) / (mi.sum() - 2))))
        line_sd[fov] = float(np.mean(sds))
        npts[fov] = int(m.sum())
    truth = {"orientation": orientation, "line_spacing_mm": P, "fwhm_mm": fwhm_mm, "slit_width_mm": w,
             "rotation_deg": rotation_deg, "band_mm": band_mm, "band_centers_mm": bands, "lines": ks,
             "positions_mm": pos, "member": member, "absolute_mm": absolute, "differential_mm": differential,
             "line_residual_sd_mm": line_sd, "n_points": npts, "field_center_mm": (ca, cb)}
    return _noisy(expected, rng), truth
