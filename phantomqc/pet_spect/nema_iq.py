"""PET image quality on the NEMA/IEC body phantom (NEMA NU 2): contrast, background variability, lung residual,
recovery coefficients, a blurred-sphere PSF fit, and the activity-concentration accuracy of a uniform cylinder.

Every function takes a ``(z, y, x)`` volume in activity-concentration units (Bq/ml or any proportional unit) and the
spacing ``(dz, dy, dx)`` in mm. Positions are in mm from the centre of the first voxel: ``p_mm = index x spacing``.

* :func:`locate_iec` -- the sphere plane, the ring centre (= the lung insert's axis), which sphere is where, sub-voxel
  sphere centres and the 12 background-ROI positions. Pass its result to the others to localise once.
* :func:`nema_iq` -- NU 2 percent contrast Q_H (hot) / Q_C (cold), background variability N and lung residual.
* :func:`recovery_coefficients` -- RC_mean, RC_max, RC_A50, RC_peak against the true sphere concentration, with the
  EARL1/EARL2 bands attached as data (no pass/fail here).
* :func:`fit_sphere_psf` -- per-sphere fit of a ball of the known inner diameter convolved with an isotropic Gaussian
  (FWHM, sphere concentration, background, centre).
* :func:`uniform_concentration` -- mean of a large central cylindrical ROI of a uniform cylinder against the expected
  (decay-corrected, from the caller) concentration.

Geometry (STANDARDS.md section 10; IEC 61675-1 / NEMA NU 2): six spheres of inner diameter 10, 13, 17, 22, 28, 37 mm
with their centres on a circle of 114.4 mm diameter (60 deg apart, in order of size), concentric with the lung insert
(50 mm outer diameter); the sphere centres lie in one transverse plane.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage, optimize, special

from phantomqc._shared.errors import InputError, PhantomNotFoundError
from phantomqc.core.types import Quantity

__all__ = [
    "SPHERE_DIAMETERS_MM", "RING_RADIUS_MM", "LUNG_DIAMETER_MM", "EARL_BANDS", "sphere_label",
    "CircleROI", "IECLocation", "NemaIQResult", "RecoveryResult", "SphereFit", "SphereFitResult",
    "UniformResult", "locate_iec", "nema_iq", "recovery_coefficients", "fit_sphere_psf",
    "uniform_concentration", "blurred_sphere_profile",
]

#: Inner diameters of the six spheres, smallest first (mm).
SPHERE_DIAMETERS_MM: tuple[float, ...] = (10.0, 13.0, 17.0, 22.0, 28.0, 37.0)
#: Radius of the circle through the sphere centres (114.4 mm diameter).
RING_RADIUS_MM = 57.2
#: Outer diameter of the lung insert.
LUNG_DIAMETER_MM = 50.0
#: Volume of the SUV_peak sphere (1 ml = 1000 mm^3) and its radius.
PEAK_RADIUS_MM = (3.0 * 1000.0 / (4.0 * math.pi)) ** (1.0 / 3.0)
_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))

#: EARL recovery-coefficient bands (low, high), keyed by sphere diameter in mm. EARL2 as in STANDARDS.md section 10
#: (as coded in pynemaiqpet); EARL1 from the EANM/EARL FDG-PET/CT accreditation specification (Boellaard et al.,
#: EJNMMI 2015, table of the original EARL standard). Data for the profiles; this module never judges.
EARL_BANDS: dict[str, dict[str, dict[float, tuple[float, float]]]] = {
    "EARL2": {
        "rc_a50": {37.0: (0.85, 1.00), 28.0: (0.82, 0.97), 22.0: (0.80, 0.99), 17.0: (0.76, 0.97),
                   13.0: (0.63, 0.86), 10.0: (0.39, 0.61)},
        "rc_max": {37.0: (1.05, 1.29), 28.0: (1.01, 1.26), 22.0: (1.01, 1.32), 17.0: (1.00, 1.38),
                   13.0: (0.85, 1.22), 10.0: (0.52, 0.88)},
    },
    "EARL1": {
        "rc_a50": {37.0: (0.76, 0.89), 28.0: (0.72, 0.85), 22.0: (0.63, 0.78), 17.0: (0.57, 0.73),
                   13.0: (0.44, 0.60), 10.0: (0.27, 0.43)},
        "rc_max": {37.0: (0.95, 1.16), 28.0: (0.91, 1.13), 22.0: (0.83, 1.09), 17.0: (0.73, 1.01),
                   13.0: (0.59, 0.85), 10.0: (0.34, 0.57)},
    },
}

_EDGE_CLEARANCE_MM = 15.0        # background ROI edge to phantom edge / sphere edge (NU 2)
_BG_OFFSETS_MM = (0.0, -10.0, 10.0, -20.0, 20.0)   # the five background slices about the sphere plane (NU 2)
_N_BG_ROIS = 12
_LUNG_ROI_MM = 30.0


def sphere_label(diameter_mm: float) -> str:
    """The measurement label of a sphere, e.g. ``sphere_10mm``."""
    return f"sphere_{diameter_mm:g}mm"


# ---------------------------------------------------------------------------------------------------------------
# Result types


@dataclass(frozen=True)
class CircleROI:
    """A circular ROI on one transverse slice: the pixels whose centres lie within ``radius_mm`` of
    (``center_y_px``, ``center_x_px``) on slice ``slice_index``."""

    name: str
    slice_index: int
    center_y_px: float
    center_x_px: float
    radius_mm: float
    n_pixels: int


@dataclass(frozen=True)
class IECLocation:
    """Where the IEC body phantom is.

    ``sphere_centers_mm[d]`` is the (z, y, x) centre of the sphere of inner diameter ``d`` (mm from the first voxel
    centre); ``ring_center_mm`` the (y, x) of the lung insert's axis; ``plane_z_mm`` the sphere plane;
    ``rotation_deg`` the angle of the 37 mm sphere about the ring centre (0 = +x, counter-clockwise towards -y, as
    displayed with row 0 at the top) and ``handedness`` +1 when the sizes decrease counter-clockwise.
    ``background_level`` is a first robust estimate of the background concentration, ``body_mask`` the phantom's
    transverse outline (mean over its axial extent), ``background_centers_mm`` the 12 (y, x) background-ROI centres,
    ``phantom_slices`` the (first, last) slice of the phantom.
    """

    sphere_centers_mm: dict[float, tuple[float, float, float]]
    ring_center_mm: tuple[float, float]
    plane_z_mm: float
    rotation_deg: float
    handedness: int
    background_level: float
    body_mask: np.ndarray
    background_centers_mm: tuple[tuple[float, float], ...]
    phantom_slices: tuple[int, int]
    cold_spheres: tuple[float, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class NemaIQResult:
    """NEMA NU 2 image quality.

    Per sphere label (``sphere_10mm`` ... ``sphere_37mm``): ``contrast_percent`` (Q_H for hot spheres, Q_C for the
    cold ones listed in ``cold_spheres_mm``), ``background_variability_percent`` N, the sphere-ROI mean
    ``sphere_mean`` (C_H or C_C), the background mean ``background_mean`` C_B and SD ``background_sd`` SD_B over the 60
    ROIs of that size. ``lung_residual_percent`` is the mean over the five background slices of
    C_lung,i / C_B(37 mm) x 100 (per slice in ``lung_residual_per_slice_percent``).
    ``sphere_rois``, ``background_rois`` (60 per size, keyed by label) and ``lung_rois`` are kept for the figures.
    """

    contrast_percent: dict[str, Quantity]
    background_variability_percent: dict[str, Quantity]
    sphere_mean: dict[str, float]
    background_mean: dict[str, float]
    background_sd: dict[str, float]
    lung_residual_percent: Quantity
    lung_residual_per_slice_percent: tuple[float, ...]
    cold_spheres_mm: tuple[float, ...]
    activity_ratio: float
    central_slice: int
    background_slices: tuple[int, ...]
    sphere_rois: tuple[CircleROI, ...]
    background_rois: dict[str, tuple[CircleROI, ...]]
    lung_rois: tuple[CircleROI, ...]
    location: IECLocation
    parameters: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecoveryResult:
    """Recovery coefficients per sphere label: measured concentration / ``sphere_concentration``.

    ``rc_mean``: mean over the voxels whose centres lie inside the sphere (inner diameter, at the located centre);
    ``rc_max``: the hottest voxel within the sphere radius + one voxel diagonal; ``rc_a50``: mean of the voxels
    connected to the hottest one at or above ``B + 0.5 (max - B)`` (50 % isocontour adapted for background, EARL),
    ``B`` = ``background_concentration``; ``rc_peak``: the highest mean of a 1 ml sphere centred on any voxel inside
    the sphere. ``earl_bands`` copies :data:`EARL_BANDS` for the profiles (no verdict here).
    """

    rc_mean: dict[str, Quantity]
    rc_max: dict[str, Quantity]
    rc_a50: dict[str, Quantity]
    rc_peak: dict[str, Quantity]
    n_voxels: dict[str, int]
    a50_n_voxels: dict[str, int]
    sphere_concentration: float
    background_concentration: float
    location: IECLocation
    earl_bands: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class SphereFit:
    """One sphere's fit: FWHM of the isotropic Gaussian PSF, the sphere and background concentrations, the centre
    (z, y, x) mm, the rms residual and the number of voxels fitted."""

    diameter_mm: float
    fwhm_mm: Quantity
    sphere_concentration: float
    background: float
    center_mm: tuple[float, float, float]
    rms_residual: float
    n_voxels: int


@dataclass(frozen=True)
class SphereFitResult:
    """Per-sphere PSF fits (``fits`` by label) and the FWHM range over them (``fwhm_min_mm``, ``fwhm_max_mm``)."""

    fits: dict[str, SphereFit]
    fwhm_min_mm: Quantity
    fwhm_max_mm: Quantity
    location: IECLocation
    parameters: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class UniformResult:
    """Activity-concentration accuracy of a uniform cylinder: ``concentration_error_percent`` =
    (measured - expected) / expected x 100, ``measured`` the mean of the central cylindrical ROI (radius
    ``roi_radius_mm`` about ``center_mm`` (y, x), slices ``slices``), per-slice means for the figure."""

    concentration_error_percent: Quantity
    measured: Quantity
    expected_bq_per_ml: float
    center_mm: tuple[float, float]
    phantom_radius_mm: float
    roi_radius_mm: float
    slices: tuple[int, int]
    slice_means: tuple[float, ...]
    n_voxels: int
    parameters: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------------------------
# Input checks


def _as_volume(volume, spacing_mm) -> tuple[np.ndarray, tuple[float, float, float]]:
    vol = np.asarray(volume)
    if vol.ndim != 3:
        raise InputError(f"volume must be a 3-D (z, y, x) array, got shape {vol.shape}; stack the transverse slices "
                         "in order along the first axis")
    if not np.issubdtype(vol.dtype, np.floating):
        vol = vol.astype(np.float32)
    try:
        sp = tuple(float(s) for s in spacing_mm)
    except TypeError:
        raise InputError(f"spacing_mm must be (dz, dy, dx) in mm, got {spacing_mm!r}") from None
    if len(sp) != 3 or not all(math.isfinite(s) and s > 0 for s in sp):
        raise InputError(f"spacing_mm must be three positive sizes (dz, dy, dx) in mm, got {spacing_mm!r}")
    return vol, sp  # type: ignore[return-value]


def _check_cold(cold_spheres) -> tuple[float, ...]:
    cold = tuple(sorted(float(d) for d in cold_spheres))
    bad = [d for d in cold if d not in SPHERE_DIAMETERS_MM]
    if bad:
        raise InputError(f"cold_spheres names {bad}, which are not sphere diameters; use some of "
                         f"{SPHERE_DIAMETERS_MM} (NU 2-2001/2007: (28, 37))")
    return cold


# ---------------------------------------------------------------------------------------------------------------
# Localisation


def _background_estimate(vol: np.ndarray) -> float:
    sub = vol[::2, ::2, ::2]
    top = float(np.percentile(sub, 99.0))
    if not top > 0:
        raise PhantomNotFoundError("the volume has no positive signal; expected an IEC body phantom filled with "
                                   "activity")
    level = float(np.median(sub[sub > 0.3 * top]))
    return float(np.median(sub[sub > 0.5 * level]))


def _circle_mask(shape2, sp2, center_mm, radius_mm) -> np.ndarray:
    yy = np.arange(shape2[0]) * sp2[0] - center_mm[0]
    xx = np.arange(shape2[1]) * sp2[1] - center_mm[1]
    return (yy[:, None] ** 2 + xx[None, :] ** 2) <= radius_mm ** 2


def _refine_center(vol, sp, c0, radius_mm, sign, iterations=3):
    """Centroid of the upper half of the sphere's contrast (sign = +1 hot, -1 cold) in a ball about ``c0``."""
    c = np.asarray(c0, float)
    half = radius_mm + 6.0
    for _ in range(iterations):
        lo = [max(0, int(math.floor((c[i] - half) / sp[i]))) for i in range(3)]
        hi = [min(vol.shape[i], int(math.ceil((c[i] + half) / sp[i])) + 1) for i in range(3)]
        if any(h - l < 2 for l, h in zip(lo, hi)):
            return c, False
        block = np.asarray(vol[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]], dtype=np.float64)
        z = np.arange(lo[0], hi[0]) * sp[0] - c[0]
        y = np.arange(lo[1], hi[1]) * sp[1] - c[1]
        x = np.arange(lo[2], hi[2]) * sp[2] - c[2]
        r2 = z[:, None, None] ** 2 + y[None, :, None] ** 2 + x[None, None, :] ** 2
        inside = r2 <= (radius_mm + 4.0) ** 2
        shell = (r2 > (radius_mm + 4.0) ** 2) & (r2 <= half ** 2)
        bg = float(np.median(block[shell])) if shell.any() else 0.0
        s = sign * (block - bg)
        s[~inside] = 0.0
        peak = float(s.max())
        if not peak > 0:
            return c, False
        w = np.clip(s - 0.5 * peak, 0.0, None)
        tot = float(w.sum())
        c = np.array([c[0] + float((w.sum((1, 2)) * z).sum()) / tot,
                      c[1] + float((w.sum((0, 2)) * y).sum()) / tot,
                      c[2] + float((w.sum((0, 1)) * x).sum()) / tot])
    return c, True


def locate_iec(volume, spacing_mm, *, cold_spheres=(), activity_ratio: float = 4.0,
               sphere_centers_mm: dict | None = None) -> IECLocation:
    """Find the IEC body phantom: sphere plane, ring centre and rotation, sphere centres and background ROIs.

    Parameters
    ----------
    volume : ndarray (z, y, x)
        Activity concentration.
    spacing_mm : (dz, dy, dx)
        Voxel size in mm.
    cold_spheres : sequence of float
        Diameters of the spheres filled without activity (NU 2-2001/2007: ``(28, 37)``); used to recognise them.
    activity_ratio : float
        Sphere-to-background ratio, used only to weigh the size template that decides which sphere is where.
    sphere_centers_mm : dict, optional
        Manual override: ``{diameter: (z, y, x) mm}`` for all six spheres (detection of the spheres is skipped; the
        ring centre is their mean).

    Returns
    -------
    IECLocation

    Notes
    -----
    1. Background B: median of the voxels above half the median of the voxels above 30 % of the 99th percentile.
    2. Phantom slices: transverse area above B/2 at least half the largest. Outline: the mean image over those slices
       above B/2, holes filled, largest component. Lung insert: the largest component below B/2 inside it; its
       centroid is the ring centre.
    3. Sphere plane: the slice of largest summed ``|v - B|`` over the annulus 57.2 +- 22 mm about the ring centre
       (3-slice running mean), ignoring 15 mm at each end of the phantom.
    4. On the mean of the slices within 5 mm of that plane, the ring profile (mean of ``v - B`` over radii
       57.2 +- 4 mm) at 0.5 deg steps; the six positions are the offset (mod 60 deg) of largest summed |profile|;
       which sphere is where is the one of the 12 assignments (start, direction) maximising the dot product of the
       six values with the template ``(a_k - 1) d_k`` (a_k = ``activity_ratio``, 0 for cold spheres).
    5. Each centre is refined to sub-voxel precision by three iterations of the centroid of
       ``max(s (v - B_local) - peak/2, 0)`` within the sphere radius + 4 mm (s = +1 hot, -1 cold); a centre more than
       3 mm from the rigid ring fitted to all six is replaced by the ring's (with a warning).
    6. Background ROIs: the 12 centres are spaced evenly by arc length along the outer boundary of the region where
       a 37 mm ROI keeps 15 mm from the phantom edge, the spheres and the lung insert (rays from the outline's
       centroid, 1 deg apart), the 12 chosen as far apart as possible (greedy walk from the 37 mm sphere's angle,
       bisection on the spacing); smaller ROIs are concentric (NU 2). Overlaps are reported in the warnings.
    """
    vol, sp = _as_volume(volume, spacing_mm)
    cold = _check_cold(cold_spheres)
    warnings: list[str] = []
    bg = _background_estimate(vol)
    nz, ny, nx = vol.shape
    sp2 = (sp[1], sp[2])

    area = (vol > 0.5 * bg).sum(axis=(1, 2))
    ph = np.flatnonzero(area >= 0.5 * area.max())
    z0, z1 = int(ph[0]), int(ph[-1])
    mean2d = vol[z0:z1 + 1].mean(axis=0)
    lab, n = ndimage.label(mean2d > 0.5 * bg)
    if n == 0:
        raise PhantomNotFoundError("no phantom outline above half the background level; expected an IEC body phantom")
    sizes = ndimage.sum_labels(np.ones_like(lab), lab, index=np.arange(1, n + 1))
    body = ndimage.binary_fill_holes(lab == (int(np.argmax(sizes)) + 1))
    cold_lab, nc = ndimage.label(body & (mean2d < 0.5 * bg))
    lung_area_px = math.pi * (0.5 * LUNG_DIAMETER_MM) ** 2 / (sp2[0] * sp2[1])
    if nc == 0:
        raise PhantomNotFoundError("no lung insert (a cold disc inside the phantom outline) found; expected the IEC "
                                   "body phantom with its central lung insert")
    csz = ndimage.sum_labels(np.ones_like(cold_lab), cold_lab, index=np.arange(1, nc + 1))
    k = int(np.argmax(csz)) + 1
    if csz[k - 1] < 0.3 * lung_area_px:
        warnings.append(f"the lung insert found is small ({csz[k - 1] * sp2[0] * sp2[1]:.0f} mm^2 against "
                        f"{lung_area_px * sp2[0] * sp2[1]:.0f} mm^2 expected)")
    cy, cx = ndimage.center_of_mass(cold_lab == k)
    ring_c = (cy * sp2[0], cx * sp2[1])

    if sphere_centers_mm is not None:
        centers = {float(d): tuple(float(v) for v in c) for d, c in sphere_centers_mm.items()}
        if sorted(centers) != list(SPHERE_DIAMETERS_MM):
            raise InputError(f"sphere_centers_mm must give all six spheres {SPHERE_DIAMETERS_MM}, got {sorted(centers)}")
        arr = np.array([centers[d] for d in SPHERE_DIAMETERS_MM])
        ring_c = (float(arr[:, 1].mean()), float(arr[:, 2].mean()))
        plane = float(arr[:, 0].mean())
        d37 = np.array(centers[37.0][1:]) - np.array(ring_c)
        rot = math.degrees(math.atan2(-d37[0], d37[1]))
        d28 = np.array(centers[28.0][1:]) - np.array(ring_c)
        hand = 1 if ((math.degrees(math.atan2(-d28[0], d28[1])) - rot) % 360.0) < 180.0 else -1
    else:
        # sphere plane
        ann = _circle_mask((ny, nx), sp2, ring_c, RING_RADIUS_MM + 22.0) & ~_circle_mask(
            (ny, nx), sp2, ring_c, RING_RADIUS_MM - 22.0)
        score = np.abs(vol[:, ann] - bg).sum(axis=1)
        score = np.convolve(score, np.ones(3) / 3.0, mode="same")
        end = int(math.ceil(15.0 / sp[0]))      # the phantom's partial end slices deviate from B everywhere
        score[:z0 + end] = -np.inf
        score[max(z0 + end + 1, z1 + 1 - end):] = -np.inf
        zc = int(np.argmax(score))
        half_slab = max(1, int(round(5.0 / sp[0])))
        slab = vol[max(0, zc - half_slab):zc + half_slab + 1].mean(axis=0) - bg
        theta = np.deg2rad(np.arange(0.0, 360.0, 0.5))
        prof = np.zeros(theta.size)
        for r in np.arange(RING_RADIUS_MM - 4.0, RING_RADIUS_MM + 4.01, 1.0):
            yy = (ring_c[0] - r * np.sin(theta)) / sp2[0]
            xx = (ring_c[1] + r * np.cos(theta)) / sp2[1]
            prof += ndimage.map_coordinates(slab, [yy, xx], order=1, mode="nearest")
        prof /= 9.0
        absprof = np.abs(prof).reshape(6, 120).sum(axis=0)   # offsets 0..59.5 deg
        off = int(np.argmax(absprof))
        vals = prof[off + 120 * np.arange(6)]
        template = np.array([((0.0 if d in cold else activity_ratio) - 1.0) * d for d in SPHERE_DIAMETERS_MM[::-1]])
        best = None
        for start in range(6):
            for hand in (1, -1):
                idx = (start + hand * np.arange(6)) % 6
                s = float(np.dot(vals[idx], template))
                if best is None or s > best[0]:
                    best = (s, start, hand)
        _, start, hand = best
        rot = (off * 0.5 + 60.0 * start) % 360.0
        centers = {}
        for i, d in enumerate(SPHERE_DIAMETERS_MM[::-1]):
            a = math.radians(rot + hand * 60.0 * i)
            centers[d] = (zc * sp[0], ring_c[0] - RING_RADIUS_MM * math.sin(a), ring_c[1] + RING_RADIUS_MM * math.cos(a))
        # refine
        refined = {}
        for d in SPHERE_DIAMETERS_MM:
            c, ok = _refine_center(vol, sp, centers[d], d / 2.0, -1.0 if d in cold else 1.0)
            refined[d] = c if ok else np.asarray(centers[d], float)
            if not ok:
                warnings.append(f"{sphere_label(d)}: no contrast found for sub-voxel refinement; nominal position kept")
        arr = np.array([refined[d] for d in SPHERE_DIAMETERS_MM])
        ring_fit = (float(arr[:, 1].mean()), float(arr[:, 2].mean()))
        w = np.array(SPHERE_DIAMETERS_MM) ** 3
        plane = float((arr[:, 0] * w).sum() / w.sum())
        # rigid ring rotation fitted (circular mean of angle residuals, weighted by volume)
        resid = []
        for i, d in enumerate(SPHERE_DIAMETERS_MM[::-1]):
            c = refined[d]
            ang = math.atan2(-(c[1] - ring_fit[0]), c[2] - ring_fit[1])
            resid.append(ang - math.radians(rot + hand * 60.0 * i))
        wr = w[::-1]
        rot = (rot + math.degrees(math.atan2((wr * np.sin(resid)).sum(), (wr * np.cos(resid)).sum()))) % 360.0
        centers = {}
        for i, d in enumerate(SPHERE_DIAMETERS_MM[::-1]):
            a = math.radians(rot + hand * 60.0 * i)
            ring_pos = np.array([plane, ring_fit[0] - RING_RADIUS_MM * math.sin(a),
                                 ring_fit[1] + RING_RADIUS_MM * math.cos(a)])
            dev = float(np.linalg.norm(refined[d] - ring_pos))
            if dev > 3.0:
                warnings.append(f"{sphere_label(d)}: refined centre {dev:.1f} mm from the fitted ring; the ring "
                                "position is used")
                centers[d] = tuple(float(v) for v in ring_pos)
            else:
                centers[d] = tuple(float(v) for v in refined[d])
        if math.hypot(ring_fit[0] - ring_c[0], ring_fit[1] - ring_c[1]) > 5.0:
            warnings.append(f"the sphere ring's centre is {math.hypot(ring_fit[0] - ring_c[0], ring_fit[1] - ring_c[1]):.1f} mm "
                            "from the lung insert's centroid")
        ring_c = ring_fit

    bg_centers = _background_centers(body, sp2, ring_c, centers, rot, warnings)
    return IECLocation(sphere_centers_mm=centers, ring_center_mm=(float(ring_c[0]), float(ring_c[1])),
                       plane_z_mm=float(plane), rotation_deg=float(rot), handedness=int(hand),
                       background_level=bg, body_mask=body, background_centers_mm=bg_centers,
                       phantom_slices=(z0, z1), cold_spheres=cold, warnings=tuple(warnings))


def _background_centers(body, sp2, ring_c, centers, rot_deg, warnings) -> tuple[tuple[float, float], ...]:
    r_roi = max(SPHERE_DIAMETERS_MM) / 2.0
    dist_edge = ndimage.distance_transform_edt(body, sampling=sp2)
    ny, nx = body.shape
    yy = np.arange(ny)[:, None] * sp2[0]
    xx = np.arange(nx)[None, :] * sp2[1]
    allowed = dist_edge >= _EDGE_CLEARANCE_MM + r_roi
    for d, c in centers.items():
        allowed &= (yy - c[1]) ** 2 + (xx - c[2]) ** 2 >= (d / 2.0 + _EDGE_CLEARANCE_MM + r_roi) ** 2
    allowed &= (yy - ring_c[0]) ** 2 + (xx - ring_c[1]) ** 2 >= (LUNG_DIAMETER_MM / 2.0 + _EDGE_CLEARANCE_MM + r_roi) ** 2
    if not allowed.any():
        raise PhantomNotFoundError("no room for the 37 mm background ROIs 15 mm from the phantom edge and the "
                                   "spheres; is this an IEC body phantom?")
    # outer boundary of the allowed region along rays from the body's centroid
    by, bx = ndimage.center_of_mass(body)
    c0 = (by * sp2[0], bx * sp2[1])
    ang = np.deg2rad(rot_deg + np.arange(0.0, 360.0, 1.0))
    radii = np.arange(0.0, 250.0, 0.5)
    py = (c0[0] - radii[None, :] * np.sin(ang)[:, None]) / sp2[0]
    px = (c0[1] + radii[None, :] * np.cos(ang)[:, None]) / sp2[1]
    iy = np.clip(np.rint(py).astype(int), 0, ny - 1)
    ix = np.clip(np.rint(px).astype(int), 0, nx - 1)
    inside = allowed[iy, ix] & (py >= 0) & (py <= ny - 1) & (px >= 0) & (px <= nx - 1)
    has = inside.any(axis=1)
    last = radii.size - 1 - np.argmax(inside[:, ::-1], axis=1)
    pts = np.stack([c0[0] - radii[last] * np.sin(ang), c0[1] + radii[last] * np.cos(ang)], axis=1)[has]
    # 12 of those points (angular order from the 37 mm sphere's angle) as far apart as possible: bisection on the
    # spacing of a greedy walk that keeps each new point at least that far from those already chosen
    dmat = np.linalg.norm(pts[:, None, :] - pts[None, :, :], axis=2)

    def walk(step):
        chosen = [0]
        mind = dmat[0].copy()
        for i in range(1, len(pts)):
            if mind[i] >= step:
                chosen.append(i)
                if len(chosen) == _N_BG_ROIS:
                    break
                np.minimum(mind, dmat[i], out=mind)
        return chosen

    lo_s, hi_s = 0.0, float(dmat.max())
    for _ in range(20):
        mid = 0.5 * (lo_s + hi_s)
        if len(walk(mid)) >= _N_BG_ROIS:
            lo_s = mid
        else:
            hi_s = mid
    idx = walk(lo_s)
    out = tuple((float(pts[i, 0]), float(pts[i, 1])) for i in idx)
    near = 0
    for (py_, px_) in out:
        for d, c in centers.items():
            if math.hypot(py_ - c[1], px_ - c[2]) < d / 2.0 + _EDGE_CLEARANCE_MM + r_roi - 1e-6:
                near += 1
                break
    if near:
        warnings.append(f"{near} of the 12 background ROIs are closer than {_EDGE_CLEARANCE_MM:g} mm to a sphere "
                        "(no room along the phantom's outline)")
    arr = np.array(out)
    dmin = min(np.linalg.norm(arr[i] - arr[j]) for i in range(len(arr)) for j in range(i + 1, len(arr)))
    if dmin < 2.0 * r_roi:
        warnings.append(f"two 37 mm background ROIs overlap (centres {dmin:.1f} mm apart)")
    return out


# ---------------------------------------------------------------------------------------------------------------
# ROI helpers


def _disc_offsets(sp2, radius_mm, frac_y=0.0, frac_x=0.0):
    """Pixel offsets (dy, dx) of the pixels whose centres are within ``radius_mm`` of a centre at sub-pixel
    position (frac_y, frac_x) relative to the nearest pixel."""
    ry = int(math.ceil(radius_mm / sp2[0])) + 1
    rx = int(math.ceil(radius_mm / sp2[1])) + 1
    dy, dx = np.mgrid[-ry:ry + 1, -rx:rx + 1]
    keep = ((dy - frac_y) * sp2[0]) ** 2 + ((dx - frac_x) * sp2[1]) ** 2 <= radius_mm ** 2
    return dy[keep], dx[keep]


def _disc_stats(image2d, sp2, center_mm, radius_mm):
    cy, cx = center_mm[0] / sp2[0], center_mm[1] / sp2[1]
    iy, ix = int(round(cy)), int(round(cx))
    dy, dx = _disc_offsets(sp2, radius_mm, cy - iy, cx - ix)
    yy, xx = iy + dy, ix + dx
    ok = (yy >= 0) & (yy < image2d.shape[0]) & (xx >= 0) & (xx < image2d.shape[1])
    if not ok.all():
        raise PhantomNotFoundError(f"an ROI of {2 * radius_mm:g} mm at ({center_mm[0]:.1f}, {center_mm[1]:.1f}) mm "
                                   "leaves the image; the phantom is too close to the field edge")
    vals = np.asarray(image2d[yy, xx], dtype=np.float64)
    return float(vals.mean()), int(vals.size)


def _slice_index(z_mm, dz, nz, what):
    k = int(round(z_mm / dz))
    if not 0 <= k < nz:
        raise PhantomNotFoundError(f"the {what} slice at z = {z_mm:.1f} mm is outside the volume "
                                   f"(0..{(nz - 1) * dz:.1f} mm); centre the phantom axially")
    return k


# ---------------------------------------------------------------------------------------------------------------
# NEMA NU 2 image quality


def nema_iq(volume, spacing_mm, *, activity_ratio: float = 4.0, cold_spheres=(),
            location: IECLocation | None = None) -> NemaIQResult:
    """NEMA NU 2 image quality on the IEC body phantom: percent contrast, background variability, lung residual.

    Parameters
    ----------
    volume : ndarray (z, y, x)
        Activity concentration (any proportional unit).
    spacing_mm : (dz, dy, dx)
        Voxel size in mm.
    activity_ratio : float
        True hot-sphere to background concentration ratio a_H / a_B (NU 2: 4 or 8), > 1.
    cold_spheres : sequence of float
        Diameters of the spheres filled without activity (NU 2-2001/2007: ``(28, 37)``); they get Q_C.
    location : IECLocation, optional
        From :func:`locate_iec` (found here when not given).

    Returns
    -------
    NemaIQResult

    Notes
    -----
    With j a sphere size, on the transverse slice nearest the sphere plane (the central slice):

    * C_H,j (C_C,j): mean of the circular ROI of the sphere's inner diameter at its centre;
    * C_B,j, SD_B,j: mean and sample SD (K - 1, K = 60) of the means of the 60 background ROIs of diameter j
      (12 concentric positions x the slices nearest the sphere plane and +-10, +-20 mm);
    * Q_H,j = (C_H,j / C_B,j - 1) / (a_H / a_B - 1) x 100; Q_C,j = (1 - C_C,j / C_B,j) x 100;
    * N_j = SD_B,j / C_B,j x 100;
    * lung residual: on each of the five slices i, C_lung,i = mean of a 30 mm ROI centred on the lung insert and
      dC_lung,i = C_lung,i / C_B,37mm x 100; the reported value is their mean (NU 2-2012 divides by the 60-ROI 37 mm
      background mean; its "every slice" is restricted here to the five background slices so that the noisy end
      planes of the axial field do not enter).

    A pixel belongs to a circular ROI when its centre lies inside the circle (no partial pixels).

    References
    ----------
    NEMA NU 2-2012/2018, section 7 (image quality, accuracy of attenuation and scatter corrections).

    Examples
    --------
    >>> from reference_phantoms.pet import iec_body_phantom
    >>> vol, spacing, truth = iec_body_phantom(noise_percent=0.0, fwhm_mm=0.0)
    >>> res = nema_iq(vol, spacing, activity_ratio=truth["activity_ratio"])
    >>> bool(res.contrast_percent["sphere_37mm"].value > 95.0)
    True
    """
    vol, sp = _as_volume(volume, spacing_mm)
    ratio = float(activity_ratio)
    if not ratio > 1.0:
        raise InputError(f"activity_ratio must be the sphere-to-background ratio a_H/a_B > 1 (NU 2: 4 or 8), "
                         f"got {activity_ratio!r}")
    cold = _check_cold(cold_spheres)
    loc = location if location is not None else locate_iec(vol, sp, cold_spheres=cold, activity_ratio=ratio)
    if location is not None and tuple(location.cold_spheres) != cold:
        raise InputError(f"cold_spheres {cold} differ from the location's {location.cold_spheres}; locate with the "
                         "same cold spheres")
    warnings = list(loc.warnings)
    nz = vol.shape[0]
    sp2 = (sp[1], sp[2])
    kc = _slice_index(loc.plane_z_mm, sp[0], nz, "central (sphere-plane)")
    bg_slices = tuple(_slice_index(loc.plane_z_mm + o, sp[0], nz, f"background ({o:+g} mm)") for o in _BG_OFFSETS_MM)
    lo, hi = loc.phantom_slices
    if any(not lo <= k <= hi for k in bg_slices):
        warnings.append("a background slice lies outside the phantom's axial extent")

    contrast, bv, c_sphere, c_bg, sd_bg = {}, {}, {}, {}, {}
    sphere_rois, bg_rois = [], {}
    img_c = vol[kc]
    for d in SPHERE_DIAMETERS_MM:
        lab = sphere_label(d)
        r = d / 2.0
        cz, cy, cx = loc.sphere_centers_mm[d]
        ch, n = _disc_stats(img_c, sp2, (cy, cx), r)
        sphere_rois.append(CircleROI(lab, kc, cy / sp2[0], cx / sp2[1], r, n))
        means, rois = [], []
        for k in bg_slices:
            for i, (by, bx) in enumerate(loc.background_centers_mm):
                m, nb = _disc_stats(vol[k], sp2, (by, bx), r)
                means.append(m)
                rois.append(CircleROI(f"bg{i + 1}_{lab}", k, by / sp2[0], bx / sp2[1], r, nb))
        means_a = np.asarray(means)
        cb = float(means_a.mean())
        sdb = float(means_a.std(ddof=1))
        kk = means_a.size
        if not cb > 0:
            raise PhantomNotFoundError(f"the background mean for {lab} is {cb:g}; expected a positive background")
        # standard uncertainties: Q from the SE of C_B and the ROI's own noise (SD_B / sqrt(n/n) ~ SD_B) is not
        # separable from the sphere's; report the background part only. N: SE of an SD, SD/sqrt(2(K-1)).
        if d in cold:
            q = (1.0 - ch / cb) * 100.0
            uq = ch / cb * (sdb / math.sqrt(kk)) / cb * 100.0
        else:
            q = (ch / cb - 1.0) / (ratio - 1.0) * 100.0
            uq = ch / cb * (sdb / math.sqrt(kk)) / cb / (ratio - 1.0) * 100.0
        nbv = sdb / cb * 100.0
        contrast[lab] = Quantity(q, "%", uq)
        bv[lab] = Quantity(nbv, "%", nbv / math.sqrt(2.0 * (kk - 1)))
        c_sphere[lab], c_bg[lab], sd_bg[lab] = ch, cb, sdb
        bg_rois[lab] = tuple(rois)

    cb37 = c_bg[sphere_label(37.0)]
    lung_vals, lung_rois = [], []
    for k in bg_slices:
        m, n = _disc_stats(vol[k], sp2, loc.ring_center_mm, _LUNG_ROI_MM / 2.0)
        lung_vals.append(m / cb37 * 100.0)
        lung_rois.append(CircleROI("lung", k, loc.ring_center_mm[0] / sp2[0], loc.ring_center_mm[1] / sp2[1],
                                   _LUNG_ROI_MM / 2.0, n))
    lung = float(np.mean(lung_vals))
    lung_u = float(np.std(lung_vals, ddof=1) / math.sqrt(len(lung_vals)))
    params = {"activity_ratio": ratio, "cold_spheres_mm": list(cold), "edge_clearance_mm": _EDGE_CLEARANCE_MM,
              "background_offsets_mm": list(_BG_OFFSETS_MM), "n_background_positions": _N_BG_ROIS,
              "lung_roi_diameter_mm": _LUNG_ROI_MM, "roi_rule": "pixel centre inside the circle"}
    return NemaIQResult(contrast_percent=contrast, background_variability_percent=bv, sphere_mean=c_sphere,
                        background_mean=c_bg, background_sd=sd_bg,
                        lung_residual_percent=Quantity(lung, "%", lung_u),
                        lung_residual_per_slice_percent=tuple(float(v) for v in lung_vals),
                        cold_spheres_mm=cold, activity_ratio=ratio, central_slice=kc, background_slices=bg_slices,
                        sphere_rois=tuple(sphere_rois), background_rois=bg_rois, lung_rois=tuple(lung_rois),
                        location=loc, parameters=params, warnings=tuple(warnings))


# ---------------------------------------------------------------------------------------------------------------
# Recovery coefficients


def _ball_block(vol, sp, center, radius_mm):
    """The sub-block about ``center`` (z, y, x mm) covering ``radius_mm`` and the squared distances of its voxel
    centres from ``center``."""
    lo = [max(0, int(math.floor((center[i] - radius_mm) / sp[i]))) for i in range(3)]
    hi = [min(vol.shape[i], int(math.ceil((center[i] + radius_mm) / sp[i])) + 1) for i in range(3)]
    block = np.asarray(vol[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]], dtype=np.float64)
    z = np.arange(lo[0], hi[0]) * sp[0] - center[0]
    y = np.arange(lo[1], hi[1]) * sp[1] - center[1]
    x = np.arange(lo[2], hi[2]) * sp[2] - center[2]
    r2 = z[:, None, None] ** 2 + y[None, :, None] ** 2 + x[None, None, :] ** 2
    return block, r2, (z, y, x)


def _peak_kernel(sp):
    rz, ry, rx = (int(math.ceil(PEAK_RADIUS_MM / s)) for s in sp)
    z, y, x = np.mgrid[-rz:rz + 1, -ry:ry + 1, -rx:rx + 1]
    k = ((z * sp[0]) ** 2 + (y * sp[1]) ** 2 + (x * sp[2]) ** 2 <= PEAK_RADIUS_MM ** 2).astype(np.float64)
    return k / k.sum()


def recovery_coefficients(volume, spacing_mm, *, sphere_concentration: float,
                          background_concentration: float | None = None, activity_ratio: float | None = None,
                          location: IECLocation | None = None) -> RecoveryResult:
    """Recovery coefficients of the six hot spheres against the true sphere concentration.

    Parameters
    ----------
    volume : ndarray (z, y, x)
        Activity concentration, in the unit of ``sphere_concentration``.
    spacing_mm : (dz, dy, dx)
        Voxel size in mm.
    sphere_concentration : float
        The true (decay-corrected) sphere concentration, > 0.
    background_concentration : float, optional
        The background B of the A50 threshold. Default: the mean of the 60 37 mm background ROIs of
        :func:`nema_iq` (the measured background, as EARL's background-adapted isocontour uses).
    activity_ratio : float, optional
        Used only to localise (default: ``sphere_concentration`` / the robust background estimate).
    location : IECLocation, optional
        From :func:`locate_iec`.

    Returns
    -------
    RecoveryResult

    Notes
    -----
    RC = C / a_H with C:

    * mean: voxels whose centres lie inside the sphere's inner diameter at its located centre;
    * max: the hottest voxel with centre within the sphere radius + one voxel diagonal of the centre;
    * A50: the mean of the voxels connected (6-connectivity) to that hottest voxel with value
      >= B + 0.5 (max - B), searched within the sphere radius + 5 mm (EARL: 50 % isocontour adapted for
      background; without the background term the VOI would grow into the background for small spheres);
    * peak: the largest mean of a 1 ml sphere (radius 6.20 mm, voxel centres inside) centred on a voxel whose
      centre lies inside the sphere.

    References
    ----------
    Boellaard R. et al., FDG PET/CT: EANM procedure guidelines for tumour imaging, version 2.0, EJNMMI 2015;
    Kaalep A. et al., EANM/EARL FDG-PET/CT accreditation - summary results from the first 200 accredited imaging
    systems (EARL2), EJNMMI 2018.
    """
    vol, sp = _as_volume(volume, spacing_mm)
    a_h = float(sphere_concentration)
    if not a_h > 0:
        raise InputError(f"sphere_concentration must be the true sphere concentration > 0, got {sphere_concentration!r}")
    if location is None:
        bg0 = _background_estimate(vol)
        ratio = float(activity_ratio) if activity_ratio is not None else max(a_h / bg0, 1.5)
        location = locate_iec(vol, sp, activity_ratio=ratio)
    warnings = list(location.warnings)
    if background_concentration is None:
        kc = _slice_index(location.plane_z_mm, sp[0], vol.shape[0], "central")
        bgs = []
        for o in _BG_OFFSETS_MM:
            k = _slice_index(location.plane_z_mm + o, sp[0], vol.shape[0], "background")
            for c in location.background_centers_mm:
                bgs.append(_disc_stats(vol[k], (sp[1], sp[2]), c, 18.5)[0])
        b = float(np.mean(bgs))
        del kc
    else:
        b = float(background_concentration)
    peak_k = _peak_kernel(sp)
    diag = math.sqrt(sum(s * s for s in sp))
    rc_mean, rc_max, rc_a50, rc_peak, nvox, na50 = {}, {}, {}, {}, {}, {}
    for d in SPHERE_DIAMETERS_MM:
        lab = sphere_label(d)
        r = d / 2.0
        c = location.sphere_centers_mm[d]
        if d in location.cold_spheres:
            warnings.append(f"{lab} is cold: no recovery coefficient")
            continue
        block, r2, _ = _ball_block(vol, sp, c, r + 5.0 + PEAK_RADIUS_MM)
        inside = r2 <= r * r
        if not inside.any():
            raise PhantomNotFoundError(f"{lab}: no voxel centre inside the sphere; the voxels ({sp} mm) are too "
                                       "coarse for it")
        mean = float(block[inside].mean())
        search = r2 <= (r + diag) ** 2
        vals = np.where(search, block, -np.inf)
        imax = np.unravel_index(int(np.argmax(vals)), block.shape)
        vmax = float(block[imax])
        thr = b + 0.5 * (vmax - b)
        cand = (block >= thr) & (r2 <= (r + 5.0) ** 2)
        lab_a, _ = ndimage.label(cand)
        a50 = lab_a == lab_a[imax]
        peak_map = ndimage.correlate(block, peak_k, mode="nearest")
        peak = float(peak_map[inside].max())
        rc_mean[lab] = Quantity(mean / a_h, "1")
        rc_max[lab] = Quantity(vmax / a_h, "1")
        rc_a50[lab] = Quantity(float(block[a50].mean()) / a_h, "1")
        rc_peak[lab] = Quantity(peak / a_h, "1")
        nvox[lab] = int(inside.sum())
        na50[lab] = int(a50.sum())
    params = {"sphere_concentration": a_h, "background_concentration": b,
              "a50_threshold": "B + 0.5 (max - B)", "peak_radius_mm": PEAK_RADIUS_MM}
    return RecoveryResult(rc_mean=rc_mean, rc_max=rc_max, rc_a50=rc_a50, rc_peak=rc_peak, n_voxels=nvox,
                          a50_n_voxels=na50, sphere_concentration=a_h, background_concentration=b,
                          location=location, earl_bands=EARL_BANDS, parameters=params, warnings=tuple(warnings))


# ---------------------------------------------------------------------------------------------------------------
# Blurred-sphere PSF fit


def blurred_sphere_profile(r_mm, radius_mm: float, sigma_mm: float) -> np.ndarray:
    """The uniform ball of radius R (value 1) convolved with an isotropic 3-D Gaussian of SD sigma, at distance r
    from its centre:

    f(r) = 1/2 [erf((R - r)/(sqrt2 s)) + erf((R + r)/(sqrt2 s))]
           + s / (r sqrt(2 pi)) [exp(-(R + r)^2 / 2s^2) - exp(-(R - r)^2 / 2s^2)],

    with the limit erf(R/(sqrt2 s)) - sqrt(2/pi) (R/s) exp(-R^2/2s^2) at r = 0, and the ball's indicator at s = 0.
    """
    r = np.abs(np.asarray(r_mm, dtype=np.float64))
    R = float(radius_mm)
    s = float(sigma_mm)
    if s <= 0:
        return (r <= R).astype(np.float64)
    a = math.sqrt(2.0) * s
    out = 0.5 * (special.erf((R - r) / a) + special.erf((R + r) / a))
    small = r < 1e-6 * max(s, 1e-12)
    rs = np.where(small, 1.0, r)
    out = out + s / (rs * math.sqrt(2.0 * math.pi)) * (np.exp(-((R + r) ** 2) / (2 * s * s))
                                                       - np.exp(-((R - r) ** 2) / (2 * s * s)))
    if small.any():
        out[small] = special.erf(R / a) - math.sqrt(2.0 / math.pi) * (R / s) * math.exp(-R * R / (2 * s * s))
    return out


def fit_sphere_psf(volume, spacing_mm, *, activity_ratio: float = 4.0, location: IECLocation | None = None,
                   fwhm_guess_mm: float = 6.0, margin_fwhm: float = 1.5, subsample: int = 3,
                   wall_thickness_mm: float = 0.0) -> SphereFitResult:
    """Fit each hot sphere with a ball of its known inner diameter convolved with an isotropic Gaussian.

    The model value of a voxel is ``B + (A - B) * mean over its subsample^3 sub-voxel points of f(|p - c|)``, f from
    :func:`blurred_sphere_profile` (so the voxel's box average is modelled: a voxelised phantom blurred on its grid,
    or a scanner image read as voxel means). Free parameters: centre c (3), FWHM, A, B; fitted by least squares
    (``scipy.optimize.least_squares``) over the voxels within ``R + margin_fwhm x fwhm_guess_mm`` of the located
    centre. The FWHM uncertainty is the fit's standard error (from the Jacobian and the residual variance).

    ``wall_thickness_mm`` > 0 models the cold glass wall of a real phantom (no activity between R and R + w):
    value = ``B + A f_R - B f_(R+w)``; pynemaiqpet's whole-body fit fixes w = 1.5 mm. A digital phantom has no wall
    (0, the default).
    """
    vol, sp = _as_volume(volume, spacing_mm)
    if subsample < 1:
        raise InputError(f"subsample must be >= 1, got {subsample}")
    loc = location if location is not None else locate_iec(vol, sp, activity_ratio=activity_ratio)
    warnings = list(loc.warnings)
    offs = (np.arange(subsample) + 0.5) / subsample - 0.5
    oz, oy, ox = np.meshgrid(offs * sp[0], offs * sp[1], offs * sp[2], indexing="ij")
    sub = np.stack([oz.ravel(), oy.ravel(), ox.ravel()], axis=1)     # (S, 3)
    fits = {}
    for d in SPHERE_DIAMETERS_MM:
        if d in loc.cold_spheres:
            continue
        lab = sphere_label(d)
        R = d / 2.0
        c0 = np.asarray(loc.sphere_centers_mm[d], float)
        rfit = R + margin_fwhm * fwhm_guess_mm
        block, r2, (z, y, x) = _ball_block(vol, sp, c0, rfit)
        m = r2 <= rfit * rfit
        pz, py, px = np.nonzero(m)
        pts = np.stack([z[pz] + c0[0], y[py] + c0[1], x[px] + c0[2]], axis=1)   # absolute mm
        data = block[m]
        b0 = float(np.median(data[r2[m] > (R + fwhm_guess_mm) ** 2])) if (r2[m] > (R + fwhm_guess_mm) ** 2).any() \
            else float(data.min())
        a0 = float(np.percentile(data[r2[m] <= (0.5 * R) ** 2], 90)) if (r2[m] <= (0.5 * R) ** 2).any() else float(data.max())

        def model(p):
            cz, cy, cx, fw, amp, bgv = p
            q = pts[:, None, :] + sub[None, :, :] - np.array([cz, cy, cx])
            rr = np.sqrt((q * q).sum(axis=2))
            sg = abs(fw) / _FWHM_PER_SIGMA
            f = blurred_sphere_profile(rr.ravel(), R, sg).reshape(rr.shape).mean(axis=1)
            if wall_thickness_mm > 0:
                fw_ = blurred_sphere_profile(rr.ravel(), R + wall_thickness_mm, sg).reshape(rr.shape).mean(axis=1)
                return bgv + amp * f - bgv * fw_
            return bgv + (amp - bgv) * f

        p0 = np.array([c0[0], c0[1], c0[2], fwhm_guess_mm, a0, b0])
        sol = optimize.least_squares(lambda p: model(p) - data, p0, x_scale=np.array([1, 1, 1, 1, abs(a0) + 1e-9,
                                                                                         abs(a0) + 1e-9]),
                                     method="lm")
        res = sol.fun
        dof = max(1, data.size - 6)
        s2 = float(res @ res) / dof
        try:
            cov = np.linalg.inv(sol.jac.T @ sol.jac) * s2
            ufw = float(math.sqrt(max(cov[3, 3], 0.0)))
        except np.linalg.LinAlgError:
            ufw = float("nan")
            warnings.append(f"{lab}: singular fit, no FWHM uncertainty")
        fw = abs(float(sol.x[3]))
        fits[lab] = SphereFit(diameter_mm=d, fwhm_mm=Quantity(fw, "mm", ufw if math.isfinite(ufw) else None),
                              sphere_concentration=float(sol.x[4]), background=float(sol.x[5]),
                              center_mm=(float(sol.x[0]), float(sol.x[1]), float(sol.x[2])),
                              rms_residual=math.sqrt(s2), n_voxels=int(data.size))
        if not sol.success:
            warnings.append(f"{lab}: the fit did not converge ({sol.message})")
    fws = [f.fwhm_mm.value for f in fits.values()]
    params = {"fwhm_guess_mm": fwhm_guess_mm, "margin_fwhm": margin_fwhm, "subsample": subsample,
              "wall_thickness_mm": wall_thickness_mm,
              "model": "ball (inner diameter) * isotropic Gaussian, voxel box-averaged"}
    return SphereFitResult(fits=fits, fwhm_min_mm=Quantity(min(fws), "mm"), fwhm_max_mm=Quantity(max(fws), "mm"),
                           location=loc, parameters=params, warnings=tuple(warnings))


# ---------------------------------------------------------------------------------------------------------------
# Uniform cylinder


def uniform_concentration(volume, spacing_mm, *, expected_bq_per_ml: float, roi_fraction: float = 0.75,
                          axial_margin_mm: float = 20.0) -> UniformResult:
    """Activity-concentration accuracy of a uniform cylinder from a large central cylindrical ROI.

    Parameters
    ----------
    volume : ndarray (z, y, x)
        Activity concentration in Bq/ml.
    spacing_mm : (dz, dy, dx)
        Voxel size in mm.
    expected_bq_per_ml : float
        The true concentration at the scan's reference time (activity decay-corrected by the caller, divided by the
        fill volume), > 0.
    roi_fraction : float
        ROI radius as a fraction of the phantom's radius (0 < f < 1; default 0.75, keeping a wide margin from the
        edge's partial-volume zone).
    axial_margin_mm : float
        Slices closer than this to the phantom's axial ends are excluded.

    Returns
    -------
    UniformResult

    Notes
    -----
    The phantom is the voxels above half the median of the voxels above 30 % of the 99th percentile; its slices are
    those whose area is at least half the largest; its transverse centre and radius (sqrt(area / pi)) come from the
    mean outline of those slices. measured = mean over every ROI voxel of the kept slices;
    error = (measured - expected) / expected x 100.
    """
    vol, sp = _as_volume(volume, spacing_mm)
    exp_c = float(expected_bq_per_ml)
    if not exp_c > 0:
        raise InputError(f"expected_bq_per_ml must be > 0 (the decay-corrected activity / volume), got "
                         f"{expected_bq_per_ml!r}")
    if not 0.0 < roi_fraction < 1.0:
        raise InputError(f"roi_fraction must be in (0, 1), got {roi_fraction!r}")
    level = _background_estimate(vol)
    mask = vol > 0.5 * level
    area = mask.sum(axis=(1, 2))
    ph = np.flatnonzero(area >= 0.5 * area.max())
    z0, z1 = int(ph[0]), int(ph[-1])
    m = int(round(axial_margin_mm / sp[0]))
    k0, k1 = z0 + m, z1 - m
    warnings = []
    if k1 < k0:
        k0 = k1 = (z0 + z1) // 2
        warnings.append(f"the phantom is shorter than twice the axial margin ({axial_margin_mm:g} mm); the central "
                        "slice alone is used")
    outline = mask[z0:z1 + 1].mean(axis=0) >= 0.5
    cy, cx = ndimage.center_of_mass(outline)
    center = (cy * sp[1], cx * sp[2])
    radius = math.sqrt(float(outline.sum()) * sp[1] * sp[2] / math.pi)
    r_roi = roi_fraction * radius
    disc = _circle_mask(vol.shape[1:], (sp[1], sp[2]), center, r_roi)
    vals = np.asarray(vol[k0:k1 + 1][:, disc], dtype=np.float64)
    slice_means = vals.mean(axis=1)
    measured = float(vals.mean())
    u = float(slice_means.std(ddof=1) / math.sqrt(len(slice_means))) if len(slice_means) > 1 else None
    err = (measured - exp_c) / exp_c * 100.0
    params = {"roi_fraction": roi_fraction, "axial_margin_mm": axial_margin_mm}
    return UniformResult(concentration_error_percent=Quantity(err, "%", None if u is None else u / exp_c * 100.0),
                         measured=Quantity(measured, "Bq/ml", u), expected_bq_per_ml=exp_c, center_mm=center,
                         phantom_radius_mm=radius, roi_radius_mm=r_roi, slices=(k0, k1),
                         slice_means=tuple(float(v) for v in slice_means), n_voxels=int(vals.size),
                         parameters=params, warnings=tuple(warnings))
