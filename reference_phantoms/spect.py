"""SPECT digital twins with exact truth, in memory: a Jaszczak-like reconstruction and centre-of-rotation projections.

- :func:`jaszczak_volume`: a uniform cylinder with a known multiplicative non-uniformity pattern, six cold spheres of
  known diameters and positions (contrast 100 % before blur: no activity in the spheres), a Gaussian blur of known
  FWHM and Poisson or Gaussian noise from an ``rng``.
- :func:`cor_projections`: projections of a point source orbiting a rotation axis offset by a known amount from the
  image centre, with a known axial drift.

Writing them as NM DICOM (``RotationInformationSequence`` for the COR angles) is left to the DICOM writers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["JASZCZAK_SPHERES_MM", "TC99M_HALF_LIFE_S", "cor_projections", "count_rate_series",
           "jaszczak_volume", "sensitivity_acquisition"]

#: Deluxe Jaszczak cold-sphere diameters, largest first (mm).
JASZCZAK_SPHERES_MM: tuple[float, ...] = (38.0, 31.8, 25.4, 19.1, 15.9, 12.7)


def jaszczak_volume(*, shape: tuple[int, int, int] = (40, 128, 128), pixel_mm: float = 4.0,
                    slice_mm: float | None = None, cylinder_diameter_mm: float = 216.0, counts: float = 1000.0,
                    nonuniformity: float = 0.05, spheres: bool = True,
                    sphere_diameters_mm: Sequence[float] = JASZCZAK_SPHERES_MM, sphere_ring_mm: float = 60.0,
                    sphere_z_mm: float = 0.0, sphere_start_deg: float = 20.0, fwhm_mm: float = 0.0,
                    noise: str = "poisson", rng: np.random.Generator | None = None) -> tuple[np.ndarray, dict]:
    """A Jaszczak-like SPECT reconstruction (z, y, x) and its truth.

    The activity is ``counts`` x (1 + ``nonuniformity`` x r^2/R^2 - ``nonuniformity``/2): a radial bowl (cupping
    inverted) whose in-plane max/min are known, zero outside the cylinder and in the spheres. Spheres sit on a ring of
    radius ``sphere_ring_mm`` around the axis, at height ``sphere_z_mm`` from the volume's centre, 60 degrees apart in
    decreasing size counter-clockwise from ``sphere_start_deg``. ``fwhm_mm`` > 0 blurs with an isotropic Gaussian;
    ``noise`` is ``"poisson"``, ``"gaussian"`` (SD = sqrt(counts)) or ``"none"``.

    Truth: ``spacing_mm``, ``center_zyx`` (voxels), ``sphere_centers_zyx`` (voxels, largest first),
    ``sphere_diameters_mm``, ``background`` (mean activity of the cylinder), ``profile`` (the bowl parameters),
    ``noiseless`` (the blurred volume before noise) and ``activity`` (before blur).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    nz, ny, nx = shape
    dz = pixel_mm if slice_mm is None else slice_mm
    zc, yc, xc = (nz - 1) / 2.0, (ny - 1) / 2.0, (nx - 1) / 2.0
    z, y, x = np.ogrid[:nz, :ny, :nx]
    r2 = ((y - yc) * pixel_mm) ** 2 + ((x - xc) * pixel_mm) ** 2
    big_r = cylinder_diameter_mm / 2.0
    inside = np.broadcast_to(r2 <= big_r**2, shape)
    bowl = 1.0 + nonuniformity * r2 / big_r**2 - nonuniformity / 2.0
    act = np.where(inside, counts * np.broadcast_to(bowl, shape), 0.0).astype(np.float64)
    centres = []
    if spheres:
        for i, d in enumerate(sphere_diameters_mm):
            a = math.radians(sphere_start_deg + 60.0 * i)
            cy = yc + sphere_ring_mm * math.sin(a) / pixel_mm
            cx = xc + sphere_ring_mm * math.cos(a) / pixel_mm
            cz = zc + sphere_z_mm / dz
            centres.append((cz, cy, cx))
            m = ((z - cz) * dz) ** 2 + ((y - cy) * pixel_mm) ** 2 + ((x - cx) * pixel_mm) ** 2 <= (d / 2.0) ** 2
            act[m] = 0.0
    vol = act
    if fwhm_mm > 0:
        from scipy import ndimage as ndi

        s = fwhm_mm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
        vol = ndi.gaussian_filter(act, (s / dz, s / pixel_mm, s / pixel_mm), mode="constant")
    clean = vol.copy()
    if noise == "poisson":
        vol = rng.poisson(np.clip(vol, 0, None)).astype(np.float64)
    elif noise == "gaussian":
        vol = vol + rng.normal(0.0, 1.0, vol.shape) * np.sqrt(np.clip(vol, 0, None))
    elif noise != "none":
        raise ValueError(f"noise must be 'poisson', 'gaussian' or 'none', got {noise!r}")
    truth = {"spacing_mm": (dz, pixel_mm, pixel_mm), "center_zyx": (zc, yc, xc), "sphere_centers_zyx": centres,
                 "sphere_diameters_mm": tuple(float(d) for d in sphere_diameters_mm), "background": counts,
                 "profile": {"kind": "radial bowl", "nonuniformity": nonuniformity, "radius_mm": big_r}, "fwhm_mm": fwhm_mm,
                 "noiseless": clean, "activity": act}
    return vol, truth


def cor_projections(*, n_angles: int = 64, shape: tuple[int, int] = (64, 64), pixel_mm: float = 4.0,
                    offset_mm: float = 1.0, radius_mm: float = 50.0, phase_deg: float = 30.0,
                    axial_mm: float = 0.0, axial_drift_mm: float = 0.0, fwhm_mm: float = 10.0,
                    counts: float = 20000.0, start_deg: float = 0.0, arc_deg: float = 360.0,
                    noise: str = "poisson", rng: np.random.Generator | None = None
                    ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Projections (n_angles, y, x) of a point source for a centre-of-rotation test, with the angles and the truth.

    The point, at ``radius_mm`` from the rotation axis and phase ``phase_deg``, projects to x(theta) = centre +
    ``offset_mm`` + radius sin(theta + phase) (mm from the image centre, (n - 1)/2), and to y = centre + ``axial_mm``
    + ``axial_drift_mm`` x sin(theta) (a sagging head: max |y - mean| = ``axial_drift_mm`` over a full circle, for
    angles sampled symmetrically). Each projection is a Gaussian of ``fwhm_mm`` holding ``counts`` counts, integrated
    exactly over each pixel (so the centroid is unbiased), with Poisson noise unless ``noise="none"``.

    Truth: ``spacing_mm``, ``offset_mm``, ``y_deviation_mm`` (max |y - mean y| of the true positions), ``x_true_mm``
    and ``y_true_mm``.
    """
    from scipy.special import erf

    rng = np.random.default_rng(0) if rng is None else rng
    ny, nx = shape
    th = start_deg + np.arange(n_angles) * arc_deg / n_angles
    t = np.radians(th)
    x_true = offset_mm + radius_mm * np.sin(t + math.radians(phase_deg))
    y_true = axial_mm + axial_drift_mm * np.sin(t)
    s = fwhm_mm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    xe = (np.arange(nx + 1) - 0.5 - (nx - 1) / 2.0) * pixel_mm
    ye = (np.arange(ny + 1) - 0.5 - (ny - 1) / 2.0) * pixel_mm

    def pix(edges: np.ndarray, mu: np.ndarray) -> np.ndarray:
        c = 0.5 * (1.0 + erf((edges[None, :] - mu[:, None]) / (math.sqrt(2.0) * s)))
        return np.diff(c, axis=1)

    px = pix(xe, x_true)
    py = pix(ye, y_true)
    proj = counts * py[:, :, None] * px[:, None, :]
    if noise == "poisson":
        proj = rng.poisson(proj).astype(np.float64)
    elif noise != "none":
        raise ValueError(f"noise must be 'poisson' or 'none', got {noise!r}")
    truth = {"spacing_mm": (pixel_mm, pixel_mm), "offset_mm": offset_mm,
                 "y_deviation_mm": float(np.max(np.abs(y_true - y_true.mean()))), "x_true_mm": x_true, "y_true_mm": y_true}
    return proj, th, truth


# ----------------------------------------------------------------------------------------------------------------
# gamma-camera activity twins: planar sensitivity and count-rate series (NEMA NU 1)

#: Tc-99m half-life in seconds (6.0069 h).
TC99M_HALF_LIFE_S = 21624.9


def _disc_counts(expected: float, shape: tuple[int, int], pixel_mm: float, diameter_mm: float,
                 rng: np.random.Generator | None) -> np.ndarray:
    """Poisson counts of total mean ``expected`` spread evenly over a centred disc (pixel fractions from 4 x 4
    sub-samples); ``rng=None`` gives the expected counts themselves."""
    ny, nx = shape
    o = (np.arange(4) + 0.5) / 4 - 0.5
    yy = ((np.arange(ny)[:, None] + o).ravel() - (ny - 1) / 2.0) * pixel_mm
    xx = ((np.arange(nx)[:, None] + o).ravel() - (nx - 1) / 2.0) * pixel_mm
    disc = ((yy[:, None] ** 2 + xx[None, :] ** 2) <= (diameter_mm / 2.0) ** 2).reshape(ny, 4, nx, 4).mean(axis=(1, 3))
    lam = expected * disc / disc.sum()
    return lam if rng is None else rng.poisson(lam).astype(np.float64)


def sensitivity_acquisition(*, sensitivity_cps_per_mbq: float = 90.0, activity_mbq: float = 40.0,
                            elapsed_s: float = 1800.0, duration_s: float = 100.0,
                            half_life_s: float = TC99M_HALF_LIFE_S, background_cps: float = 60.0,
                            background_duration_s: float = 200.0, shape: tuple[int, int] = (128, 128),
                            pixel_mm: float = 4.0, source_diameter_mm: float = 100.0,
                            rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """A planar-sensitivity acquisition (NEMA NU 1 section 3.3): the source image and a background image.

    The source (a dish of ``source_diameter_mm``) holds ``activity_mbq`` at the calibration time and is imaged from
    ``elapsed_s`` later for ``duration_s``. Its expected counts are s A_cal exp(-lambda elapsed) (1 - exp(-lambda T))
    / lambda (the decay within the acquisition integrated exactly), spread evenly over the dish; the room background
    ``background_cps`` is spread evenly over the whole field, in both images; Poisson noise from ``rng`` (None:
    noiseless expected counts). Returns ``(source, background, truth)``; truth: ``sensitivity_cps_per_mbq``,
    ``expected_counts`` (source only) and the parameters.
    """
    lam = math.log(2.0) / half_life_s
    decayed = activity_mbq * math.exp(-lam * elapsed_s)
    expected = sensitivity_cps_per_mbq * decayed * -math.expm1(-lam * duration_s) / lam
    n_pix = shape[0] * shape[1]

    def room(seconds: float) -> np.ndarray:
        lam_bg = np.full(shape, background_cps * seconds / n_pix)
        return lam_bg if rng is None else rng.poisson(lam_bg).astype(np.float64)

    source = _disc_counts(expected, shape, pixel_mm, source_diameter_mm, rng) + room(duration_s)
    background = room(background_duration_s)
    truth = {"sensitivity_cps_per_mbq": sensitivity_cps_per_mbq, "expected_counts": expected,
             "activity_mbq": activity_mbq, "elapsed_s": elapsed_s, "duration_s": duration_s, "half_life_s": half_life_s,
             "background_cps": background_cps, "background_duration_s": background_duration_s,
             "spacing_mm": (pixel_mm, pixel_mm)}
    return source, background, truth


def count_rate_series(*, sensitivity_cps_per_mbq: float = 2000.0, dead_time_s: float = 2.0e-6,
                      activity_mbq: float = 400.0, hours: Sequence[float] = (0, 1, 2, 4, 6, 9, 12, 16, 20, 26, 32, 38),
                      duration_s: float = 10.0, half_life_s: float = TC99M_HALF_LIFE_S,
                      shape: tuple[int, int] = (128, 128), pixel_mm: float = 4.0, fov_diameter_mm: float = 400.0,
                      rng: np.random.Generator | None = None) -> tuple[np.ndarray, dict]:
    """A decaying-source count-rate series (NEMA NU 1 section 3.2) with a paralysable camera.

    One source of ``activity_mbq`` at the calibration time is imaged for ``duration_s`` starting ``hours`` after it.
    Image i holds Poisson counts of mean R_o T with R_o = R_t exp(-R_t tau), R_t = s A_i, A_i the source's activity
    averaged over the acquisition, spread over a centred disc of ``fov_diameter_mm`` (an even irradiation).

    Returns ``(images (n, y, x), truth)``; truth: ``dead_time_s``, ``sensitivity_cps_per_mbq``, ``max_kcps`` = 1/(e
    tau), ``loss20_kcps`` = 0.8 (-ln 0.8)/tau, ``observed_cps`` (noiseless), ``max_measured_kcps`` (the largest
    noiseless rate of the series), ``mean_activity_mbq``, ``start_s`` and the parameters.
    """
    lam = math.log(2.0) / half_life_s
    start = np.asarray(hours, dtype=np.float64) * 3600.0
    a_mean = activity_mbq * np.exp(-lam * start) * -np.expm1(-lam * duration_s) / (lam * duration_s)
    r_true = sensitivity_cps_per_mbq * a_mean
    r_obs = r_true * np.exp(-r_true * dead_time_s)
    images = np.stack([_disc_counts(r * duration_s, shape, pixel_mm, fov_diameter_mm, rng) for r in r_obs])
    truth = {"dead_time_s": dead_time_s, "sensitivity_cps_per_mbq": sensitivity_cps_per_mbq,
             "max_kcps": 1.0 / (math.e * dead_time_s) / 1000.0,
             "loss20_kcps": 0.8 * -math.log(0.8) / dead_time_s / 1000.0, "observed_cps": r_obs,
             "max_measured_kcps": float(r_obs.max()) / 1000.0, "mean_activity_mbq": a_mean, "start_s": start,
             "activity_mbq": activity_mbq, "duration_s": duration_s, "half_life_s": half_life_s,
             "spacing_mm": (pixel_mm, pixel_mm)}
    return images, truth
