"""Digital PET phantoms (in memory, with truth): the NEMA/IEC body phantom and a uniform cylinder.

Rendering: the object is voxelised with partial volume (each voxel's fraction inside, from ``supersample``^3
sub-voxel points for the spheres and ``supersample``^2 in-plane points for the body outline and the lung insert, times
the exact axial overlap), then blurred with an isotropic Gaussian PSF (``scipy.ndimage.gaussian_filter``, sigma =
FWHM / 2.3548 per axis in voxels), then noise is added: white Gaussian of SD ``noise_percent`` % of the background
concentration, or ``"poisson"``-like (SD proportional to sqrt(value), equal to that at the background level).

Geometry (phantom frame, mm, origin at the lung insert's axis, y down as displayed): body outline = the arc of radius
147 mm centred 35 mm below the axis (upper part) and, below that line, a 140 mm wide rectangle with two quarter discs
of radius 77 mm (interior 294 x 224 mm); interior length 180 mm; sphere plane 70 mm from the lid; spheres 10 ... 37 mm
on the 114.4 mm ring, the 37 mm at angle ``rotation_deg`` and sizes decreasing counter-clockwise; lung insert 50 mm,
no activity, full length. No glass walls.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from phantomqc.pet_spect.nema_iq import RING_RADIUS_MM, SPHERE_DIAMETERS_MM, LUNG_DIAMETER_MM

__all__ = ["iec_body_phantom", "uniform_cylinder", "uniform_cylinder_scan"]


def _axial_fraction(nz, dz, z0, z1):
    lo = np.arange(nz) * dz - dz / 2.0
    return np.clip(np.minimum(lo + dz, z1) - np.maximum(lo, z0), 0.0, None) / dz


def _body_inside(v, u):
    upper = (v <= 35.0) & (u ** 2 + (v - 35.0) ** 2 <= 147.0 ** 2)
    lower = (v > 35.0) & (v <= 112.0) & ((np.abs(u) <= 70.0) | ((np.abs(u) - 70.0) ** 2 + (v - 35.0) ** 2 <= 77.0 ** 2))
    return upper | lower


def iec_body_phantom(*, shape=(89, 192, 192), spacing_mm=(2.78, 2.08, 2.08), activity_ratio: float = 4.0,
                     background: float = 1000.0, fwhm_mm: float = 6.0, noise_percent: float = 0.0,
                     noise: str = "gaussian", rotation_deg: float = 0.0, offset_mm=(0.0, 0.0, 0.0),
                     cold_spheres=(), supersample: int = 4, rng=None):
    """The IEC body phantom. Returns ``(volume float32 (z, y, x), spacing_mm, truth)``; truth holds the sphere
    centres (z, y, x mm from the first voxel centre), ring centre, plane, the concentrations, the PSF FWHM, the
    noise SD and ``noiseless`` (the blurred volume before noise)."""
    nz, ny, nx = shape
    dz, dy, dx = spacing_mm
    cz = (nz - 1) * dz / 2.0 + offset_mm[0]
    cy = (ny - 1) * dy / 2.0 - 20.0 + offset_mm[1]
    cx = (nx - 1) * dx / 2.0 + offset_mm[2]
    plane = cz
    z_lid = plane - 70.0
    fz = _axial_fraction(nz, dz, z_lid, z_lid + 180.0)
    s = supersample
    o = (np.arange(s) + 0.5) / s - 0.5
    yy = (np.arange(ny)[:, None] + o[None, :]).ravel() * dy - cy
    xx = (np.arange(nx)[:, None] + o[None, :]).ravel() * dx - cx
    V, U = np.meshgrid(yy, xx, indexing="ij")
    body2 = _body_inside(V, U).reshape(ny, s, nx, s).mean(axis=(1, 3))
    lung2 = (U ** 2 + V ** 2 <= (LUNG_DIAMETER_MM / 2.0) ** 2).reshape(ny, s, nx, s).mean(axis=(1, 3))
    vol = background * (np.clip(body2 - lung2, 0, 1))[None, :, :] * fz[:, None, None]
    cold = tuple(float(d) for d in cold_spheres)
    centers = {}
    for i, d in enumerate(SPHERE_DIAMETERS_MM[::-1]):
        a = math.radians(rotation_deg + 60.0 * i)
        c = (plane, cy - RING_RADIUS_MM * math.sin(a), cx + RING_RADIUS_MM * math.cos(a))
        centers[d] = c
        r = d / 2.0
        lo = [max(0, int(math.floor((c[k] - r) / sp)) - 1) for k, sp in enumerate(spacing_mm)]
        hi = [min(shape[k], int(math.ceil((c[k] + r) / sp)) + 2) for k, sp in enumerate(spacing_mm)]
        gz = (np.arange(lo[0], hi[0])[:, None] + o[None, :]).ravel() * dz - c[0]
        gy = (np.arange(lo[1], hi[1])[:, None] + o[None, :]).ravel() * dy - c[1]
        gx = (np.arange(lo[2], hi[2])[:, None] + o[None, :]).ravel() * dx - c[2]
        inside = (gz[:, None, None] ** 2 + gy[None, :, None] ** 2 + gx[None, None, :] ** 2) <= r * r
        frac = inside.reshape(hi[0] - lo[0], s, hi[1] - lo[1], s, hi[2] - lo[2], s).mean(axis=(1, 3, 5))
        a_s = 0.0 if d in cold else activity_ratio * background
        vol[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] += (a_s - background) * frac
    if fwhm_mm > 0:
        sig = [fwhm_mm / (2.0 * math.sqrt(2.0 * math.log(2.0))) / sp for sp in spacing_mm]
        blurred = ndimage.gaussian_filter(vol, sig, mode="constant", truncate=5.0)
    else:
        blurred = vol.copy()
    sd = noise_percent / 100.0 * background
    out = blurred.copy()
    if sd > 0:
        g = np.random.default_rng(rng)
        e = g.standard_normal(out.shape)
        if noise == "poisson":
            out += sd * np.sqrt(np.clip(blurred, 0, None) / background) * e
        else:
            out += sd * e
    truth = {"sphere_centers_mm": centers, "ring_center_mm": (cy, cx), "plane_z_mm": plane,
             "activity_ratio": float(activity_ratio), "background": float(background),
             "sphere_concentration": float(activity_ratio * background), "fwhm_mm": float(fwhm_mm),
             "noise_sd": sd, "noise": noise, "cold_spheres": cold, "rotation_deg": float(rotation_deg),
             "noiseless": blurred.astype(np.float32)}
    return out.astype(np.float32), tuple(float(v) for v in spacing_mm), truth


def uniform_cylinder(*, shape=(60, 128, 128), spacing_mm=(3.0, 2.5, 2.5), diameter_mm: float = 200.0,
                     length_mm: float = 150.0, concentration: float = 5000.0, fwhm_mm: float = 6.0,
                     noise_percent: float = 0.0, rng=None):
    """A uniform cylinder of known concentration (Bq/ml). Returns ``(volume, spacing_mm, truth)``."""
    nz, ny, nx = shape
    dz, dy, dx = spacing_mm
    s = 4
    o = (np.arange(s) + 0.5) / s - 0.5
    yy = ((np.arange(ny)[:, None] + o).ravel() - (ny - 1) / 2.0) * dy
    xx = ((np.arange(nx)[:, None] + o).ravel() - (nx - 1) / 2.0) * dx
    disc = ((yy[:, None] ** 2 + xx[None, :] ** 2) <= (diameter_mm / 2) ** 2).reshape(ny, s, nx, s).mean(axis=(1, 3))
    zc = (nz - 1) * dz / 2.0
    fz = _axial_fraction(nz, dz, zc - length_mm / 2, zc + length_mm / 2)
    vol = concentration * disc[None] * fz[:, None, None]
    if fwhm_mm > 0:
        sig = [fwhm_mm / 2.3548200450309493 / sp for sp in spacing_mm]
        vol = ndimage.gaussian_filter(vol, sig, mode="constant")
    if noise_percent > 0:
        vol = vol + noise_percent / 100 * concentration * np.random.default_rng(rng).standard_normal(vol.shape)
    return vol.astype(np.float32), tuple(float(v) for v in spacing_mm), {"concentration": float(concentration)}


def uniform_cylinder_scan(*, activity_mbq: float = 60.0, fill_time: str = "2026-11-23T08:00:00",
                          scan_time: str = "2026-11-23T09:00:00", half_life_s: float = 6586.2,
                          calibration_factor: float = 1.03, shape=(60, 128, 128), spacing_mm=(3.0, 2.5, 2.5),
                          diameter_mm: float = 200.0, length_mm: float = 150.0, fwhm_mm: float = 6.0,
                          noise_percent: float = 2.0, rng=None):
    """A uniform-cylinder PET scan for the activity-concentration and SUV check, with its timing.

    The cylinder (``diameter_mm`` x ``length_mm`` of water, volume V = pi r^2 L) is filled with ``activity_mbq``
    measured at ``fill_time`` and scanned at ``scan_time`` (ISO 8601). The image, decay-corrected to the scan start,
    shows the true concentration A exp(-lambda (t_scan - t_fill)) / V times ``calibration_factor`` (a scanner
    calibration error of (factor - 1) x 100 %), via :func:`uniform_cylinder` (partial-volume edges, ``fwhm_mm``
    blur, white noise of ``noise_percent`` % of the concentration).

    Returns ``(volume Bq/ml, spacing_mm, truth)``; truth: ``volume_ml``, ``true_bq_per_ml`` (at the scan),
    ``concentration_error_percent`` = (factor - 1) x 100, ``suv_mean`` = factor (a phantom of V ml weighing V g
    filled with the dose has SUV 1), ``weight_kg`` = V / 1000 and the parameters.
    """
    import datetime as dt

    volume_ml = math.pi * (diameter_mm / 2.0) ** 2 * length_mm / 1000.0
    elapsed = (dt.datetime.fromisoformat(scan_time) - dt.datetime.fromisoformat(fill_time)).total_seconds()
    true_c = activity_mbq * 1e6 * math.exp(-math.log(2.0) * elapsed / half_life_s) / volume_ml
    vol, sp, _ = uniform_cylinder(shape=shape, spacing_mm=spacing_mm, diameter_mm=diameter_mm, length_mm=length_mm,
                                  concentration=true_c * calibration_factor, fwhm_mm=fwhm_mm,
                                  noise_percent=noise_percent, rng=rng)
    truth = {"volume_ml": volume_ml, "true_bq_per_ml": true_c, "calibration_factor": calibration_factor,
             "concentration_error_percent": (calibration_factor - 1.0) * 100.0, "suv_mean": calibration_factor,
             "weight_kg": volume_ml / 1000.0, "activity_mbq": activity_mbq, "fill_time": fill_time,
             "scan_time": scan_time, "half_life_s": half_life_s}
    return vol, sp, truth
