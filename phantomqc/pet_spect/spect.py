"""SPECT tomographic tests: Jaszczak uniformity and cold-sphere contrast, centre of rotation.

Three pure functions on arrays in mm:

- :func:`tomographic_uniformity`: the averaged uniform section of a Jaszczak reconstruction, NEMA NU 1 rules on the
  averaged slice (rebin to 6.4 mm +- 30 %, 9-point smoothing, UFOV/CFOV, integral and differential uniformity) and the
  centre-to-border ratio, as in the IAEA NMQC toolkit.
- :func:`tomographic_contrast`: the six cold spheres, found in the image, largest first, with the contrast of the
  minimum voxel ("max contrast") and of the sphere mean ("mean contrast").
- :func:`center_of_rotation`: the point-source centroid per projection, fitted with a sinusoid by linear least
  squares; x offset of the rotation axis from the image centre and the axial (y) drift.

References
----------
- NEMA NU 1-2018, *Performance Measurements of Gamma Cameras*, sections 2.5 (uniformity) and 4 (SPECT, centre of
  rotation).
- IAEA Human Health Series No. 6, *Quality Assurance for SPECT Systems* (2009), tests 4.3.x (tomographic uniformity,
  contrast, centre of rotation, method B).
- IAEA NMQC ImageJ toolkit, operator manual (2017): tomographic uniformity and contrast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from phantomqc._shared.errors import InputError, InvalidImageError, PhantomNotFoundError
from phantomqc.core.types import Measurement, Quantity

__all__ = [
    "JASZCZAK_SPHERE_DIAMETERS_MM",
    "CenterOfRotationResult",
    "SphereROI",
    "TomographicContrastResult",
    "TomographicUniformityResult",
    "center_of_rotation",
    "tomographic_contrast",
    "tomographic_uniformity",
]

#: Cold-sphere inner diameters of the Deluxe Jaszczak phantom, largest first (mm).
JASZCZAK_SPHERE_DIAMETERS_MM: tuple[float, ...] = (38.0, 31.8, 25.4, 19.1, 15.9, 12.7)

_NINE_POINT = np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16.0


# ----------------------------------------------------------------------------------------------------------------
# input checks


def _volume(volume: NDArray, spacing_mm: Sequence[float], what: str = "volume") -> tuple[np.ndarray, tuple]:
    v = np.asarray(volume)
    if v.ndim == 2:
        v = v[None]
    if v.ndim != 3:
        raise InvalidImageError(f"{what} must be a (z, y, x) array (or one (y, x) slice), got shape {v.shape}; "
                                "stack the reconstructed slices along axis 0")
    if not np.issubdtype(v.dtype, np.number) or v.size == 0:
        raise InvalidImageError(f"{what} must be a non-empty numeric array, got dtype {v.dtype} and shape {v.shape}")
    sp = tuple(float(s) for s in spacing_mm)
    if len(sp) == 2:
        sp = (float("nan"),) + sp
    if len(sp) != 3 or not all(s > 0 and math.isfinite(s) for s in sp[1:]):
        raise InputError(f"spacing_mm must be (dz, dy, dx) or (dy, dx) in mm, positive, got {spacing_mm!r}")
    return np.ascontiguousarray(v, dtype=np.float64), sp


def _michelson_percent(hi: np.ndarray | float, lo: np.ndarray | float) -> np.ndarray | float:
    """(hi - lo) / (hi + lo) x 100, the NU 1 uniformity / NMQC contrast form."""
    return (hi - lo) / (hi + lo) * 100.0


# ----------------------------------------------------------------------------------------------------------------
# tomographic uniformity


@dataclass(frozen=True)
class TomographicUniformityResult:
    """Tomographic uniformity of the averaged uniform section of a Jaszczak (or cylinder) reconstruction.

    Measurement ids: ``nm.tomo_uniformity.integral_percent`` / ``differential_percent`` (labels ``ufov``, ``cfov``)
    and ``nm.tomo_uniformity.center_to_border``. ``image`` is the processed (rebinned, smoothed, thresholded) mean
    slice on which every number was taken; the masks are on its grid (pixel ``pixel_mm``). ``du_window_*`` give the
    5-pixel run where the CFOV/UFOV differential uniformity was found: (row, col, axis) with axis 0 = along columns
    (vertical run), 1 = along rows.
    """

    ufov_integral_percent: Quantity
    ufov_differential_percent: Quantity
    cfov_integral_percent: Quantity
    cfov_differential_percent: Quantity
    center_to_border: Quantity
    slices: tuple[int, ...]
    rebin_factor: int
    pixel_mm: float
    image: np.ndarray = field(repr=False)
    ufov_mask: np.ndarray = field(repr=False)
    cfov_mask: np.ndarray = field(repr=False)
    center_mask: np.ndarray = field(repr=False)
    du_window_ufov: tuple[int, int, int] = (0, 0, 0)
    du_window_cfov: tuple[int, int, int] = (0, 0, 0)
    parameters: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def measurements(self) -> list[Measurement]:
        """``nm.tomo_uniformity.*``: integral and differential (labels ufov / cfov) and centre-to-border."""
        return [
            Measurement.of("nm.tomo_uniformity.integral_percent", self.ufov_integral_percent, label="ufov"),
            Measurement.of("nm.tomo_uniformity.integral_percent", self.cfov_integral_percent, label="cfov"),
            Measurement.of("nm.tomo_uniformity.differential_percent", self.ufov_differential_percent, label="ufov"),
            Measurement.of("nm.tomo_uniformity.differential_percent", self.cfov_differential_percent, label="cfov"),
            Measurement.of("nm.tomo_uniformity.center_to_border", self.center_to_border),
        ]


def _rebin_factor(pixel_mm: float, low_mm: float) -> int:
    """Smallest power of two that brings the pixel to at least ``low_mm`` (6.4 mm - 30 % = 4.48 mm)."""
    k = 1
    while pixel_mm * k < low_mm:
        k *= 2
    return k


def _largest_component(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi

    lab, n = ndi.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(lab.ravel())[1:]
    return lab == (int(np.argmax(sizes)) + 1)


def _eroded(mask: np.ndarray, fraction: float, *, big: np.ndarray | None = None) -> np.ndarray:
    """The mask eroded isotropically so that its extent is ``fraction`` of the object's longest bounding-box side.

    Erosion radius = round((1 - fraction) x longest side) / 2 pixels, by the Euclidean distance to the background
    (the NMQC / pylinac rule, learnt from pylinac's ``get_fov``)."""
    from scipy import ndimage as ndi

    big = _largest_component(mask) if big is None else big
    rows = np.flatnonzero(big.any(axis=1))
    cols = np.flatnonzero(big.any(axis=0))
    if rows.size == 0:
        return big
    longest = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    radius = round((1.0 - fraction) * longest) / 2.0
    dist = ndi.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    return dist > radius


def _differential(image: np.ndarray, mask: np.ndarray, window: int) -> tuple[float, tuple[int, int, int]]:
    """Largest (max - min)/(max + min) x 100 over every run of ``window`` pixels along rows and columns, counting only
    runs that lie wholly inside ``mask``. Uses helper P1's planar kernel when present, else vectorised NumPy."""
    try:  # helper P1's numba sliding min/max (planar module), when present
        from phantomqc.pet_spect.planar import differential_uniformity
    except ImportError:  # pragma: no cover - the NumPy path below is the fallback
        differential_uniformity = None
    if differential_uniformity is not None:
        val, (r, c, direction) = differential_uniformity(image, mask, width=window)
        return float(val), (int(r), int(c), 1 if direction == "row" else 0)
    return _differential_numpy(image, mask, window)


def _differential_numpy(image: np.ndarray, mask: np.ndarray, window: int) -> tuple[float, tuple[int, int, int]]:
    """Vectorised NumPy twin of the differential uniformity (runs leaving ``mask`` hold a NaN and are skipped)."""
    best, where = -1.0, (0, 0, 0)
    from numpy.lib.stride_tricks import sliding_window_view

    b = np.where(mask, image, np.nan)
    for axis in (0, 1):
        if b.shape[axis] < window:
            continue
        w = sliding_window_view(b, window, axis=axis)
        hi = w.max(axis=-1)
        lo = w.min(axis=-1)  # NaN anywhere in the run -> NaN: the run leaves the FOV
        d = _michelson_percent(hi, lo)
        if np.isfinite(d).any():
            idx = np.unravel_index(int(np.nanargmax(d)), d.shape)
            if d[idx] > best:
                best, where = float(d[idx]), (int(idx[0]), int(idx[1]), axis)
    return best, where


def tomographic_uniformity(volume: NDArray, spacing_mm: Sequence[float], *, slices: Sequence[int] | slice | None = None,
                           ufov_fraction: float = 0.8, cfov_fraction: float = 0.75, center_fraction: float = 0.4,
                           threshold_fraction: float = 0.75, min_pixel_mm: float = 4.48,
                           du_window: int = 5) -> TomographicUniformityResult:
    """Tomographic integral and differential uniformity and the centre-to-border ratio.

    Parameters
    ----------
    volume : (z, y, x) array
        Reconstructed SPECT slices (counts), or one (y, x) slice.
    spacing_mm : (dz, dy, dx) or (dy, dx)
        Voxel size in mm.
    slices : sequence of int, slice or None
        Slices to average (the uniform section). ``None`` averages every slice, which is the NMQC default range
        (first to last slice) and what its reference values were measured with.
    ufov_fraction, cfov_fraction, center_fraction : float
        UFOV extent as a fraction of the phantom's diameter; CFOV and centre ROI as fractions of the UFOV.
    threshold_fraction : float
        Pixels below this fraction of the mean of the "meaningful" pixels (> 10 % of the maximum) are outside.
    min_pixel_mm : float
        The rebinned pixel is the native one doubled until it is at least this (NU 1: 6.4 mm - 30 % = 4.48 mm).
    du_window : int
        Differential-uniformity run length in (rebinned) pixels (NU 1: 5).

    Returns
    -------
    TomographicUniformityResult

    Notes
    -----
    The mean slice is rebinned by summing ``k x k`` blocks (k a power of two), smoothed once with the 9-point kernel
    (1 2 1; 2 4 2; 1 2 1)/16, its border row and column set to zero and thresholded. UFOV = the phantom eroded to
    ``ufov_fraction`` of its diameter, CFOV = ``cfov_fraction`` of that, centre ROI = ``center_fraction`` of it.

    - IU = (max - min)/(max + min) x 100 over the FOV.
    - DU = the largest (max - min)/(max + min) x 100 over every run of 5 pixels along rows and columns inside it.
    - centre-to-border = mean(centre ROI) / mean(UFOV minus CFOV): below 1 flags under-corrected attenuation.

    References
    ----------
    NEMA NU 1-2018 section 2.5; IAEA Human Health Series No. 6 (2009), test 4.3.3; IAEA NMQC operator manual.

    Examples
    --------
    >>> from reference_phantoms.spect import jaszczak_volume
    >>> vol, truth = jaszczak_volume(noise="none", spheres=False)
    >>> r = tomographic_uniformity(vol, truth["spacing_mm"])
    >>> r.cfov_integral_percent.unit
    '%'
    """
    v, sp = _volume(volume, spacing_mm)
    if slices is None:
        idx = np.arange(v.shape[0])
    elif isinstance(slices, slice):
        idx = np.arange(v.shape[0])[slices]
    else:
        idx = np.asarray(list(slices), dtype=int)
    if idx.size == 0 or idx.min() < -v.shape[0] or idx.max() >= v.shape[0]:
        raise InputError(f"slices must select at least one of the {v.shape[0]} slices, got {slices!r}")
    for name, f in (("ufov_fraction", ufov_fraction), ("cfov_fraction", cfov_fraction),
                    ("center_fraction", center_fraction), ("threshold_fraction", threshold_fraction)):
        if not 0 < f <= 1:
            raise InputError(f"{name} must be in (0, 1], got {f}")
    from scipy import ndimage as ndi

    warnings: list[str] = []
    mean = v[idx].mean(axis=0)
    dy, dx = sp[1], sp[2]
    if not math.isclose(dy, dx, rel_tol=1e-3):
        warnings.append(f"non-square pixels {dy:.4g} x {dx:.4g} mm: the rebinning uses the column spacing")
    k = _rebin_factor(dx, min_pixel_mm)
    ny, nx = mean.shape[0] // k * k, mean.shape[1] // k * k
    img = mean[:ny, :nx].reshape(ny // k, k, nx // k, k).sum(axis=(1, 3))
    img = ndi.convolve(img, _NINE_POINT, mode="constant", cval=0.0)
    img[0, :] = img[-1, :] = 0.0
    img[:, 0] = img[:, -1] = 0.0
    if img.max() <= 0:
        raise PhantomNotFoundError("tomographic_uniformity: the averaged slice has no positive counts; "
                                   "check the slice range and that the volume holds the reconstruction")
    thr = img[img > 0.1 * img.max()].mean() * threshold_fraction
    img[img < thr] = 0.0
    phantom = _largest_component(img > 0)
    phantom = ndi.binary_fill_holes(phantom)
    img = np.where(phantom, img, 0.0)
    ufov = _eroded(phantom, ufov_fraction) & phantom
    cfov = _eroded(phantom, ufov_fraction * cfov_fraction) & phantom
    centre = _eroded(phantom, ufov_fraction * center_fraction) & phantom
    if cfov.sum() < du_window or centre.sum() == 0:
        raise PhantomNotFoundError(f"tomographic_uniformity: the CFOV has {int(cfov.sum())} pixels of "
                                   f"{k * dx:.3g} mm: the phantom is too small or not found in the averaged slice")
    ring = ufov & ~cfov

    def iu(mask: np.ndarray) -> float:
        x = img[mask]
        return float(_michelson_percent(x.max(), x.min()))

    du_u, win_u = _differential(img, ufov, du_window)
    du_c, win_c = _differential(img, cfov, du_window)
    cbr = float(img[centre].mean() / img[ring].mean()) if ring.any() else float("nan")
    if ring.sum() == 0:
        warnings.append("the UFOV minus CFOV ring is empty: centre-to-border ratio is NaN")
    return TomographicUniformityResult(
        ufov_integral_percent=Quantity(iu(ufov), "%"),
        ufov_differential_percent=Quantity(du_u, "%"),
        cfov_integral_percent=Quantity(iu(cfov), "%"),
        cfov_differential_percent=Quantity(du_c, "%"),
        center_to_border=Quantity(cbr, "1"),
        slices=tuple(int(i) for i in idx),
        rebin_factor=k,
        pixel_mm=k * dx,
        image=img,
        ufov_mask=ufov,
        cfov_mask=cfov,
        center_mask=centre,
        du_window_ufov=win_u,
        du_window_cfov=win_c,
        parameters={"ufov_fraction": ufov_fraction, "cfov_fraction": cfov_fraction, "center_fraction": center_fraction,
                        "threshold_fraction": threshold_fraction, "min_pixel_mm": min_pixel_mm, "du_window": du_window,
                        "slices": "all" if slices is None else [int(i) for i in idx]},
        warnings=tuple(warnings),
    )


# ----------------------------------------------------------------------------------------------------------------
# tomographic contrast


@dataclass(frozen=True)
class SphereROI:
    """One cold sphere: centre (z, y, x) in voxels, nominal diameter, the ROI statistics and the contrasts.

    ``max_percent`` = (1 - C_min/C_B) x 100 and ``mean_percent`` = (1 - C_mean/C_B) x 100 (IAEA / NEMA cold contrast,
    ids ``nm.tomo_contrast.max_percent`` / ``mean_percent``); ``max_michelson_percent`` = (C_B - C_min)/(C_B + C_min)
    x 100 and ``mean_michelson_percent`` likewise: the form the IAEA NMQC toolkit (and pylinac) report.
    """

    label: str
    diameter_mm: float
    z: float
    y: float
    x: float
    radius_px: float
    mean_counts: float
    min_counts: float
    n_voxels: int
    max_percent: Quantity
    mean_percent: Quantity
    max_michelson_percent: Quantity
    mean_michelson_percent: Quantity


@dataclass(frozen=True)
class TomographicContrastResult:
    """Cold-sphere contrast of a Jaszczak reconstruction, spheres largest first (labels ``sphere1`` ... ``sphere6``).

    ``background`` is C_B, the mean of the UFOV (``ufov_fraction`` of the phantom) of ``background_slice``;
    ``sphere_slice`` the slice of strongest non-uniformity where the search started. ``deficit_map`` is the
    smoothed (C_B - counts) map of that slice used to find the spheres (for figures)."""

    spheres: tuple[SphereROI, ...]
    background: Quantity
    background_slice: int
    sphere_slice: int
    phantom_center_yx: tuple[float, float]
    phantom_radius_mm: float
    deficit_map: np.ndarray = field(repr=False)
    parameters: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def measurements(self) -> list[Measurement]:
        """``nm.tomo_contrast.max_percent`` / ``mean_percent`` per sphere (labels sphere1 ... sphere6)."""
        out = []
        for s in self.spheres:
            out.append(Measurement.of("nm.tomo_contrast.max_percent", s.max_percent, label=s.label))
            out.append(Measurement.of("nm.tomo_contrast.mean_percent", s.mean_percent, label=s.label))
        return out


def _slice_fov_stats(v: np.ndarray, ufov_fraction: float) -> tuple[np.ndarray, ...]:
    """Per slice: UFOV mean, Michelson non-uniformity, area, centre (y, x) and equivalent radius of the phantom."""
    from scipy import ndimage as ndi

    gmax = v.max()
    nz = v.shape[0]
    means = np.full(nz, np.nan)
    unif = np.full(nz, np.nan)
    area = np.zeros(nz)
    cy = np.full(nz, np.nan)
    cx = np.full(nz, np.nan)
    for z in range(nz):
        m = v[z] > 0.1 * gmax
        if not m.any():
            continue
        # holes filled: cold spheres below the threshold (unblurred or low-count data) are inside the phantom
        big = ndi.binary_fill_holes(_largest_component(m))
        u = _eroded(big, ufov_fraction, big=big) & big
        if not u.any():
            continue
        x = v[z][u]
        means[z] = x.mean()
        unif[z] = _michelson_percent(x.max(), x.min())
        area[z] = u.sum()
        yy, xx = np.nonzero(big)
        cy[z], cx[z] = yy.mean(), xx.mean()
    return means, unif, area, cy, cx


def _ball(radius_px: tuple[float, float, float]) -> np.ndarray:
    rz, ry, rx = radius_px
    nz, ny, nx = (math.floor(r) for r in radius_px)
    z, y, x = np.ogrid[-nz:nz + 1, -ny:ny + 1, -nx:nx + 1]
    return ((z / rz) ** 2 + (y / ry) ** 2 + (x / rx) ** 2) <= 1.0


def tomographic_contrast(volume: NDArray, spacing_mm: Sequence[float], *,
                         sphere_diameters_mm: Sequence[float] = JASZCZAK_SPHERE_DIAMETERS_MM,
                         ufov_fraction: float = 0.8, background_slice: int | None = None,
                         sphere_slice: int | None = None, search_mm: float = 20.0,
                         search_slices: int = 3, smoothing_mm: float | None = None) -> TomographicContrastResult:
    """Contrast of the cold spheres of a Jaszczak SPECT reconstruction, largest sphere first.

    Parameters
    ----------
    volume : (z, y, x) array
        Reconstructed slices covering at least the sphere section and one uniform slice.
    spacing_mm : (dz, dy, dx)
        Voxel size in mm.
    sphere_diameters_mm : sequence of float
        Inner diameters, largest first (Deluxe Jaszczak: 38, 31.8, 25.4, 19.1, 15.9, 12.7 mm).
    ufov_fraction : float
        Background ROI = the phantom's slice eroded to this fraction of its diameter.
    background_slice, sphere_slice : int or None
        Manual overrides. By default the background slice is the most uniform slice (smallest (max - min)/(max + min)
        in its UFOV, among slices whose UFOV area is typical) and the sphere search starts on the least uniform one.
    search_mm, search_slices : float, int
        Each sphere's centre is refined within +- ``search_mm`` in-plane of its detected position and +-
        ``search_slices`` slices, as the position of lowest mean over the sphere's nominal volume.
    smoothing_mm : float or None
        Gaussian sigma of the detection map (default: the in-plane pixel size).

    Returns
    -------
    TomographicContrastResult

    Notes
    -----
    Detection: on the least uniform slice (averaged with its neighbours), the deficit map C_B - counts is smoothed and
    its six deepest local maxima inside the phantom are the spheres. The deepest is sphere 1; the others are taken in
    their angular order around the ring, in the direction of the deeper neighbour (the Jaszczak spheres are mounted by
    decreasing size around a circle), so a shallow small sphere is never confused with a large one.

    Contrasts (C_B the background mean; C_min, C_mean the sphere ROI's minimum and mean):

    - ``max_percent`` = (1 - C_min/C_B) x 100, ``mean_percent`` = (1 - C_mean/C_B) x 100 (NEMA/IAEA cold contrast);
    - ``max_michelson_percent`` = (C_B - C_min)/(C_B + C_min) x 100 and the mean analogue (IAEA NMQC's "contrast").

    References
    ----------
    IAEA Human Health Series No. 6 (2009), test 4.3.5 (tomographic contrast); IAEA NMQC operator manual.
    """
    v, sp = _volume(volume, spacing_mm)
    if v.shape[0] < 3:
        raise InvalidImageError(f"tomographic_contrast needs a volume of several slices, got shape {v.shape}")
    if not math.isfinite(sp[0]):
        raise InputError(f"spacing_mm must be (dz, dy, dx) for a volume, got {spacing_mm!r}")
    diam = tuple(float(d) for d in sphere_diameters_mm)
    if not diam or any(d <= 0 for d in diam):
        raise InputError(f"sphere_diameters_mm must be positive diameters, largest first, got {sphere_diameters_mm!r}")
    from scipy import ndimage as ndi

    dz, dy, dx = sp
    warnings: list[str] = []
    means, unif, area, cy, cx = _slice_fov_stats(v, ufov_fraction)
    ok = np.isfinite(unif)
    if not ok.any():
        raise PhantomNotFoundError("tomographic_contrast: no slice holds a phantom above 10 % of the maximum")
    typical = ok & (area >= np.median(area[ok]) - np.std(area[ok]))  # >=: equal areas (std 0) are all typical
    cand = np.flatnonzero(typical)
    b_slice = int(cand[np.argmin(unif[cand])]) if background_slice is None else int(background_slice)
    # ties of the non-uniformity (several slices through zero-count spheres): the one of least UFOV mean, most cold
    top = cand[unif[cand] >= 0.98 * np.max(unif[cand])]
    s_slice = int(top[np.argmin(means[top])]) if sphere_slice is None else int(sphere_slice)
    for name, s in (("background_slice", b_slice), ("sphere_slice", s_slice)):
        if not 0 <= s < v.shape[0] or not np.isfinite(means[s]):
            raise InputError(f"{name} must index a slice holding the phantom (0..{v.shape[0] - 1}), got {s}")
    cb = float(means[b_slice])
    pc_y, pc_x = float(np.nanmedian(cy[typical])), float(np.nanmedian(cx[typical]))
    ph_r_px = math.sqrt(np.median(area[typical]) / math.pi) / ufov_fraction

    # detection map: slab of 3 slices around the sphere slice, deficit relative to the background, smoothed
    z0, z1 = max(0, s_slice - 1), min(v.shape[0], s_slice + 2)
    slab = v[z0:z1].mean(axis=0)
    sigma = (smoothing_mm if smoothing_mm is not None else dx) / dx
    yy, xx = np.indices(slab.shape)
    inside = np.hypot(yy - pc_y, xx - pc_x) < ph_r_px * 0.9
    deficit = ndi.gaussian_filter(np.where(inside, cb - slab, 0.0), sigma)
    deficit[~inside] = -np.inf
    sep = max(2, round(min(diam) / dx / 2))
    peaks = (deficit == ndi.maximum_filter(deficit, size=2 * sep + 1)) & inside & (deficit > 0)
    py, px = np.nonzero(peaks)
    if py.size < len(diam):
        raise PhantomNotFoundError(f"tomographic_contrast: found {py.size} cold spots on slice {s_slice}, expected "
                                   f"{len(diam)} spheres; pass sphere_slice= (the slice through the sphere centres)")
    # the spheres lie on one ring: its radius from the three deepest spots, then the deepest spots near that ring
    dist = np.hypot(py - pc_y, px - pc_x)
    central = dist < 0.75 * ph_r_px  # the rim's partial-volume fall-off is not a sphere
    py, px, dist = py[central], px[central], dist[central]
    order = np.argsort(deficit[py, px])[::-1]
    ring_px = float(np.median(dist[order[:3]]))
    near = order[np.abs(dist[order] - ring_px) <= max(0.3 * ring_px, diam[0] / dx / 2)]
    if near.size < len(diam):
        raise PhantomNotFoundError(f"tomographic_contrast: found {near.size} cold spots on the sphere ring of slice "
                                   f"{s_slice}, expected {len(diam)}; pass sphere_slice= (the slice through the "
                                   "sphere centres)")
    order = near[: len(diam)]
    py, px = py[order], px[order]
    ang = np.arctan2(py - pc_y, px - pc_x)
    # order around the ring from the deepest, in the direction of the deeper neighbour
    rel = np.mod(ang - ang[0], 2 * np.pi)
    ccw = np.argsort(rel)
    depth = deficit[py, px]
    forward = ccw if depth[ccw[1]] >= depth[ccw[-1]] else np.concatenate(([ccw[0]], ccw[1:][::-1]))
    py, px = py[forward], px[forward]

    spheres: list[SphereROI] = []
    for i, d in enumerate(diam):
        r_px = (d / 2 / dz, d / 2 / dy, d / 2 / dx)
        ball = _ball(r_px)
        hz, hy, hx = (s // 2 for s in ball.shape)
        sw = math.ceil(search_mm / dx)
        zc, yc, xc = s_slice, int(py[i]), int(px[i])
        lo = (max(0, zc - search_slices - hz), max(0, yc - sw - hy), max(0, xc - sw - hx))
        hi = (min(v.shape[0], zc + search_slices + hz + 1), min(v.shape[1], yc + sw + hy + 1),
              min(v.shape[2], xc + sw + hx + 1))
        sub = v[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        # mean over the ball at every voxel of the sub-volume (zero padding outside: such centres are excluded below)
        msum = ndi.correlate(sub, ball.astype(np.float64), mode="constant", cval=0.0)
        valid = np.zeros(sub.shape, bool)
        valid[hz:sub.shape[0] - hz or None, hy:sub.shape[1] - hy or None, hx:sub.shape[2] - hx or None] = True
        # restrict to the search window around the detected position
        gz, gy, gx = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        valid &= (np.abs(gz - zc) <= search_slices) & (np.abs(gy - yc) <= sw) & (np.abs(gx - xc) <= sw)
        valid &= np.hypot(gy - pc_y, gx - pc_x) <= max(ph_r_px - r_px[2], 0.0)  # the ROI stays in the phantom
        if not valid.any():
            valid = (np.abs(gz - zc) <= search_slices) & (np.abs(gy - yc) <= sw) & (np.abs(gx - xc) <= sw)
            warnings.append(f"sphere{i + 1}: the sphere ROI is cut by the volume's edge")
        msum = np.where(valid & np.isfinite(msum), msum, np.inf)
        bz, by, bx = np.unravel_index(int(np.argmin(msum)), msum.shape)
        z, y, x = bz + lo[0], by + lo[1], bx + lo[2]
        zs, ys, xs = np.ogrid[: v.shape[0], : v.shape[1], : v.shape[2]]
        zsl = slice(max(0, z - hz), z + hz + 1)
        ysl = slice(max(0, y - hy), y + hy + 1)
        xsl = slice(max(0, x - hx), x + hx + 1)
        m = (((zs[zsl] - z) / r_px[0]) ** 2 + ((ys[:, ysl] - y) / r_px[1]) ** 2
             + ((xs[:, :, xsl] - x) / r_px[2]) ** 2) <= 1.0
        vals = v[zsl, ysl, xsl][m]
        c_mean, c_min = float(vals.mean()), float(vals.min())
        spheres.append(SphereROI(
            label=f"sphere{i + 1}", diameter_mm=d, z=float(z), y=float(y), x=float(x), radius_px=r_px[2],
            mean_counts=c_mean, min_counts=c_min, n_voxels=int(vals.size),
            max_percent=Quantity((1.0 - c_min / cb) * 100.0, "%"),
            mean_percent=Quantity((1.0 - c_mean / cb) * 100.0, "%"),
            max_michelson_percent=Quantity(float(_michelson_percent(cb, c_min)), "%"),
            mean_michelson_percent=Quantity(float(_michelson_percent(cb, c_mean)), "%"),
        ))
    return TomographicContrastResult(
        spheres=tuple(spheres), background=Quantity(cb, "counts"), background_slice=b_slice, sphere_slice=s_slice,
        phantom_center_yx=(pc_y, pc_x), phantom_radius_mm=ph_r_px * dx, deficit_map=deficit,
        parameters={"sphere_diameters_mm": list(diam), "ufov_fraction": ufov_fraction, "search_mm": search_mm,
                        "search_slices": search_slices, "smoothing_mm": sigma * dx,
                        "background_slice": background_slice, "sphere_slice": sphere_slice},
        warnings=tuple(warnings),
    )


# ----------------------------------------------------------------------------------------------------------------
# centre of rotation


@dataclass(frozen=True)
class CenterOfRotationResult:
    """Centre of rotation from point-source projections.

    ``x_offset_mm`` (id ``nm.cor.deviation_mm``, label ``x``): x0 - image centre, x0 the constant term of the fitted
    sinusoid x(theta) = A sin(theta) + B cos(theta) + x0 (the projected rotation axis). ``y_deviation_mm`` (label
    ``y``): the largest |y - mean(y)| of the axial centroid over the rotation. ``x_residual_max_mm``: the largest |x -
    fit| (NMQC / pylinac report this as their "x deviation"). ``amplitude_mm`` and ``phase_deg`` describe the fit;
    centroids and residuals are kept for the COR figure.
    """

    x_offset_mm: Quantity
    y_deviation_mm: Quantity
    x_residual_max_mm: Quantity
    amplitude_mm: float
    phase_deg: float
    angles_deg: np.ndarray = field(repr=False)
    x_mm: np.ndarray = field(repr=False)
    y_mm: np.ndarray = field(repr=False)
    x_fit_mm: np.ndarray = field(repr=False)
    parameters: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def measurements(self) -> list[Measurement]:
        """``nm.cor.deviation_mm``: label x (COR offset x0 - centre), label y (axial deviation)."""
        return [Measurement.of("nm.cor.deviation_mm", self.x_offset_mm, label="x"),
                Measurement.of("nm.cor.deviation_mm", self.y_deviation_mm, label="y")]


def center_of_rotation(projections: NDArray, angles_deg: Sequence[float],
                       spacing_mm: Sequence[float]) -> CenterOfRotationResult:
    """Centre-of-rotation offset and axial drift from the projections of a point source.

    Parameters
    ----------
    projections : (n_angles, y, x) array
        One projection per gantry angle; y is the axial (rotation-axis) direction, x the transaxial one.
    angles_deg : sequence of float
        Gantry angle of each projection in degrees (from ``RotationInformationSequence``: start angle, step and
        direction).
    spacing_mm : (dy, dx) or (d_angle, dy, dx)
        Projection pixel size in mm (the first of three values is ignored).

    Returns
    -------
    CenterOfRotationResult

    Notes
    -----
    The count-weighted centroid (x_i, y_i) of each projection (background: the projection's median removed and
    negatives clipped) is measured from the image centre ((n - 1)/2 pixels) in mm. A point at radius R and phase phi
    projects to x(theta) = R sin(theta + phi) + x0 = A sin(theta) + B cos(theta) + x0, linear in (A, B, x0): solved by
    least squares. x0 is the COR offset (NEMA NU 1-2018 section 4.x; IAEA HHS 6 test 4.3.1, method B). The y (axial)
    deviation is max |y_i - mean(y)|: a tilted head or gantry sag moves the point along the axis.

    Examples
    --------
    >>> from reference_phantoms.spect import cor_projections
    >>> p, angles, truth = cor_projections(offset_mm=1.0, noise="none")
    >>> r = center_of_rotation(p, angles, truth["spacing_mm"])
    >>> abs(r.x_offset_mm.value - 1.0) < 0.05
    True
    """
    p = np.asarray(projections, dtype=np.float64)
    if p.ndim != 3:
        raise InvalidImageError(f"projections must be (n_angles, y, x), got shape {p.shape}")
    th = np.asarray(angles_deg, dtype=np.float64).ravel()
    if th.size != p.shape[0]:
        raise InputError(f"angles_deg has {th.size} angles for {p.shape[0]} projections: give one angle per "
                         "projection")
    if th.size < 4:
        raise InputError(f"center_of_rotation needs at least 4 projections for the sinusoid fit, got {th.size}")
    sp = tuple(float(s) for s in spacing_mm)[-2:]
    if len(sp) != 2 or not all(s > 0 and math.isfinite(s) for s in sp):
        raise InputError(f"spacing_mm must be (dy, dx) in mm, got {spacing_mm!r}")
    dy, dx = sp
    bg = np.median(p.reshape(p.shape[0], -1), axis=1)[:, None, None]
    w = np.clip(p - bg, 0.0, None)
    tot = w.sum(axis=(1, 2))
    if np.any(tot <= 0):
        bad = np.flatnonzero(tot <= 0).tolist()
        raise PhantomNotFoundError(f"center_of_rotation: projections {bad} hold no counts above background")
    ny, nx = p.shape[1:]
    x_mm = (w.sum(axis=1) @ np.arange(nx) / tot - (nx - 1) / 2.0) * dx
    y_mm = (w.sum(axis=2) @ np.arange(ny) / tot - (ny - 1) / 2.0) * dy
    t = np.radians(th)
    design = np.column_stack([np.sin(t), np.cos(t), np.ones_like(t)])
    (a, b, x0), *_ = np.linalg.lstsq(design, x_mm, rcond=None)
    fit = design @ np.array([a, b, x0])
    warnings = []
    span = float(np.ptp(np.mod(th, 360.0)))
    if span < 180.0:
        warnings.append(f"the projections span {span:.0f} degrees only: the sinusoid fit is poorly conditioned")
    return CenterOfRotationResult(
        x_offset_mm=Quantity(float(x0), "mm"),
        y_deviation_mm=Quantity(float(np.max(np.abs(y_mm - y_mm.mean()))), "mm"),
        x_residual_max_mm=Quantity(float(np.max(np.abs(x_mm - fit))), "mm"),
        amplitude_mm=float(math.hypot(a, b)),
        phase_deg=float(math.degrees(math.atan2(b, a))),
        angles_deg=th, x_mm=x_mm, y_mm=y_mm, x_fit_mm=fit,
        parameters={"background": "median of each projection"},
        warnings=tuple(warnings),
    )
