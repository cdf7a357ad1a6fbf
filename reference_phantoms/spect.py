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

__all__ = ["JASZCZAK_SPHERES_MM", "cor_projections", "jaszczak_volume"]

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
