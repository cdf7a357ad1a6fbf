"""CT number of water, uniformity and noise in a uniform section (WS 519-2019; CatPhan CTP486, water phantom).

One function, :func:`analyze_uniform_section`, measures the slices it is given (the localisation chooses them:
their slice profiles lie inside the uniform section, within ``average_mm`` of its centre) with discs placed on
each slice's own phantom centre. ``uniform_panels`` builds the report figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from phantomqc._shared.errors import InputError
from phantomqc.core.types import Quantity
from phantomqc.ct import _kernels
from phantomqc.ct.localize import _as_image, _spacing

__all__ = ["DiscROI", "UniformResult", "analyze_uniform_section", "uniform_panels", "POSITIONS"]

#: Peripheral positions in the image frame (12 o'clock = up), not rolled with the phantom.
POSITIONS = ("top", "right", "bottom", "left")
_DIRS = {"top": (-1.0, 0.0), "right": (0.0, 1.0), "bottom": (1.0, 0.0), "left": (0.0, -1.0)}


@dataclass(frozen=True)
class DiscROI:
    """A circular ROI: centre (row, col) in pixels, radius in mm and in column pixels (for drawing)."""

    name: str
    row: float
    col: float
    radius_mm: float
    radius_px: float
    n_pixels: int = 0


@dataclass(frozen=True)
class UniformResult:
    """Water CT number, uniformity and noise of a uniform section.

    ``water_mean_hu`` is the mean over slices of the centre-disc means; ``diffs_hu[pos]`` the mean over slices of
    (peripheral mean - centre mean); ``max_abs_diff_hu`` the largest |diff| (``max_abs_diff_position`` says where);
    ``noise_sd_hu`` the RMS over slices of the SD (n - 1) in the 40 % disc; ``noise_percent`` =
    noise_sd x sqrt(T / 10) x 100 / ``water_air_hu``. Per-slice values are in ``slice_*``; ``rois`` are the
    discs on slice ``roi_slice`` (the middle one, ``n_slices // 2``), in pixels of that slice.
    """

    water_mean_hu: Quantity
    diffs_hu: dict[str, Quantity]
    max_abs_diff_hu: Quantity
    max_abs_diff_position: str
    noise_sd_hu: Quantity
    noise_percent: Quantity
    n_slices: int
    slice_centre_mean_hu: tuple[float, ...]
    slice_peripheral_mean_hu: dict[str, tuple[float, ...]]
    slice_noise_sd_hu: tuple[float, ...]
    peripheral_mean_hu: dict[str, float]
    rois: tuple[DiscROI, ...]
    roi_slice: int
    diameter_mm: float
    roi_diameter_mm: float
    noise_roi_diameter_mm: float
    peripheral_distance_mm: float
    thickness_mm: float
    edge_gap_mm: float
    edge_gap_to: str
    water_air_hu: float
    warnings: tuple[str, ...] = ()
    parameters: dict = field(default_factory=dict)


def analyze_uniform_section(slices: Sequence[np.ndarray], spacing_mm, centers_px: Sequence[tuple[float, float]], *,
                            diameter_mm: float, thickness_mm: float, edge_gap_mm: float = 10.0,
                            edge_gap_to: str = "roi_edge", water_air_hu: float = 1000.0) -> UniformResult:
    """CT number of water, uniformity and noise (WS 519-2019) over one or more slices of a uniform section.

    Parameters
    ----------
    slices : sequence of ndarray
        The slices to measure ``(rows, cols)`` in HU (all of them are used).
    spacing_mm : (float, float)
        Pixel spacing (row, column), mm.
    centers_px : sequence of (row, col)
        The phantom centre on each slice, pixels.
    diameter_mm : float
        The phantom image diameter D (the fitted outline).
    thickness_mm : float
        Nominal reconstructed slice thickness T, for the noise normalisation.
    edge_gap_mm : float
        Distance of the peripheral discs from the phantom edge.
    edge_gap_to : {"roi_edge", "roi_centre"}
        Whether ``edge_gap_mm`` is measured to the discs' edge or their centre.
    water_air_hu : float
        CT_water - CT_air in the noise formula (1000 HU).

    Returns
    -------
    UniformResult

    Notes
    -----
    Discs (a pixel belongs to a disc when its centre is inside it; kernel ``_disc_stats``) on each slice's centre:

    * centre disc of diameter d = 0.10 D: mean M_c (CT number of water);
    * peripheral discs of diameter d at 12, 3, 6 and 9 o'clock of the image (not rolled), their centres at
      D/2 - g - d/2 (``roi_edge``) or D/2 - g (``roi_centre``) from the centre, g = ``edge_gap_mm``: means M_p;
      diff_p = M_p - M_c, max |diff_p|;
    * noise disc of diameter 0.40 D: sample SD (n - 1), sigma;
    * n = sigma x sqrt(T / 10 mm) x 100 % / (CT_water - CT_air).

    Over k slices the means and differences are averaged and sigma = sqrt(mean of sigma_i^2). Uncertainties (one
    standard deviation) are the larger of the pixel-statistics value (SD / sqrt(n) per slice, combined over the
    slices; it assumes uncorrelated pixels, so it is a lower bound for CT noise, whose pixels are correlated)
    and the scatter of the per-slice values / sqrt(k) (k >= 2). For sigma the pixel value is
    sigma / sqrt(2 (N - k)), N the pixels of all slices.

    References
    ----------
    WS 519-2019, Specification for testing of quality control in X-ray computed tomography: CT number of water,
    uniformity, noise.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).normal(2.0, 10.0, (512, 512))
    >>> r = analyze_uniform_section([img], (0.5, 0.5), [(255.5, 255.5)], diameter_mm=200.0, thickness_mm=10.0)
    >>> abs(r.water_mean_hu.value - 2.0) < 0.5, abs(r.noise_sd_hu.value - 10.0) < 0.3
    (True, True)
    """
    if len(slices) == 0:
        raise InputError("analyze_uniform_section needs at least one slice; none were given")
    if len(centers_px) != len(slices):
        raise InputError(f"centers_px has {len(centers_px)} entries for {len(slices)} slices; give one "
                         f"(row, col) per slice")
    sp = _spacing(spacing_mm)
    D = float(diameter_mm)
    if not (D > 0 and math.isfinite(D)):
        raise InputError(f"diameter_mm must be > 0 mm, got {diameter_mm!r}")
    T = float(thickness_mm)
    if not (T > 0 and math.isfinite(T)):
        raise InputError(f"thickness_mm must be > 0 mm, got {thickness_mm!r}")
    if edge_gap_to not in ("roi_edge", "roi_centre"):
        raise InputError(f"edge_gap_to must be 'roi_edge' or 'roi_centre', got {edge_gap_to!r}")
    g = float(edge_gap_mm)
    if not (g >= 0):
        raise InputError(f"edge_gap_mm must be >= 0 mm, got {edge_gap_mm!r}")
    wa = float(water_air_hu)
    if not (wa > 0):
        raise InputError(f"water_air_hu must be > 0 HU, got {water_air_hu!r}")
    d = 0.10 * D
    dn = 0.40 * D
    dist = D / 2 - g - (d / 2 if edge_gap_to == "roi_edge" else 0.0)
    if dist + d / 2 > D / 2 or dist - d / 2 < 0:
        raise InputError(f"edge_gap_mm = {g:g} mm puts the peripheral ROIs (diameter {d:.1f} mm) outside the "
                         f"phantom of diameter {D:.1f} mm; use a gap between 0 and {D / 2 - d:.1f} mm")
    warnings: list[str] = []
    if D / 2 - (dist + d / 2) < 2.0:
        warnings.append(f"the peripheral ROIs reach within {D / 2 - (dist + d / 2):.1f} mm of the phantom edge: "
                        f"their means include the wall and the blurred edge (edge_gap_mm = {g:g} mm to the ROI "
                        f"{'centre' if edge_gap_to == 'roi_centre' else 'edge'})")
    sy, sx = sp
    names = ("centre",) + POSITIONS + ("noise",)
    radii = np.array([d / 2] * 5 + [dn / 2])
    k = len(slices)
    stats = np.zeros((k, 6, 3))
    out = np.zeros((6, 3))
    roi_rows = np.zeros((k, 6))
    roi_cols = np.zeros((k, 6))
    for i, (img, c) in enumerate(zip(slices, centers_px)):
        a = np.ascontiguousarray(_as_image(img, f"slice {i}"))
        r0, c0 = float(c[0]), float(c[1])
        if not (math.isfinite(r0) and math.isfinite(c0)):
            raise InputError(f"centers_px[{i}] is {c}: no phantom centre on that slice; pass only slices that "
                             f"show the phantom")
        rows = np.array([r0] + [r0 + _DIRS[p][0] * dist / sy for p in POSITIONS] + [r0])
        cols = np.array([c0] + [c0 + _DIRS[p][1] * dist / sx for p in POSITIONS] + [c0])
        hr, hc = int(round(r0)), int(round(c0))
        shift = float(a[min(max(hr, 0), a.shape[0] - 1), min(max(hc, 0), a.shape[1] - 1)])
        _kernels._discs_stats(a, rows, cols, radii / sy, radii / sx, np.full(6, shift), out)
        stats[i] = out
        stats[i, :, 0] = out[:, 0] / np.maximum(out[:, 2], 1) + shift  # mean
        n = out[:, 2]
        s_ = out[:, 0]
        stats[i, :, 1] = np.sqrt(np.maximum(out[:, 1] - s_ * s_ / np.maximum(n, 1), 0.0) / np.maximum(n - 1, 1))
        roi_rows[i], roi_cols[i] = rows, cols
    means, sds, counts = stats[:, :, 0], stats[:, :, 1], stats[:, :, 2]
    expected = math.pi * radii ** 2 / (sy * sx)
    short = counts < 0.9 * expected[None, :]
    if short.any():
        bad = sorted({names[j] for j in np.nonzero(short.any(axis=0))[0]})
        warnings.append(f"the {', '.join(bad)} ROI(s) extend beyond the image on some slices; their statistics use "
                        f"only the pixels inside")
    if (counts < 2).any():
        raise InputError("an ROI has fewer than 2 pixels inside the image: the phantom centre or diameter is wrong, "
                         "or the field of view does not hold the phantom")

    def comb(vals: np.ndarray, se_pix: np.ndarray) -> tuple[float, float]:
        m = float(vals.mean())
        u_pix = float(np.sqrt((se_pix ** 2).sum()) / k)
        u_sl = float(vals.std(ddof=1) / math.sqrt(k)) if k >= 2 else 0.0
        return m, max(u_pix, u_sl)

    se = sds / np.sqrt(counts)
    wm, wu = comb(means[:, 0], se[:, 0])
    diffs: dict[str, Quantity] = {}
    for j, p in enumerate(POSITIONS, start=1):
        v, u = comb(means[:, j] - means[:, 0], np.sqrt(se[:, j] ** 2 + se[:, 0] ** 2))
        diffs[p] = Quantity(v, "HU", u)
    worst = max(POSITIONS, key=lambda p: abs(diffs[p].value))
    mx = Quantity(abs(diffs[worst].value), "HU", diffs[worst].uncertainty)
    sd_slices = sds[:, 5]
    sigma = float(math.sqrt(float((sd_slices ** 2).mean())))
    n_tot = float(counts[:, 5].sum())
    u_sig = sigma / math.sqrt(2.0 * max(n_tot - k, 1.0))
    if k >= 2:
        u_sig = max(u_sig, float(sd_slices.std(ddof=1) / math.sqrt(k)))
    factor = math.sqrt(T / 10.0) * 100.0 / wa
    mid = k // 2
    rois = tuple(DiscROI(names[j], float(roi_rows[mid, j]), float(roi_cols[mid, j]), float(radii[j]),
                         float(radii[j] / sx), int(counts[mid, j])) for j in range(6))
    params = {"diameter_mm": D, "roi_diameter_mm": d, "noise_roi_diameter_mm": dn, "peripheral_distance_mm": dist,
              "edge_gap_mm": g, "edge_gap_to": edge_gap_to, "thickness_mm": T, "water_air_hu": wa, "n_slices": k,
              "slice_averaging": "means averaged over slices; SD = RMS of per-slice SDs"}
    return UniformResult(
        water_mean_hu=Quantity(wm, "HU", wu), diffs_hu=diffs, max_abs_diff_hu=mx, max_abs_diff_position=worst,
        noise_sd_hu=Quantity(sigma, "HU", u_sig), noise_percent=Quantity(sigma * factor, "%", u_sig * factor),
        n_slices=k, slice_centre_mean_hu=tuple(float(v) for v in means[:, 0]),
        slice_peripheral_mean_hu={p: tuple(float(v) for v in means[:, j]) for j, p in enumerate(POSITIONS, 1)},
        slice_noise_sd_hu=tuple(float(v) for v in sd_slices),
        peripheral_mean_hu={p: float(means[:, j].mean()) for j, p in enumerate(POSITIONS, 1)},
        rois=rois, roi_slice=mid, diameter_mm=D, roi_diameter_mm=d, noise_roi_diameter_mm=dn,
        peripheral_distance_mm=dist, thickness_mm=T, edge_gap_mm=g, edge_gap_to=edge_gap_to, water_air_hu=wa,
        warnings=tuple(warnings), parameters=params)


def uniform_panels(result: UniformResult, image: np.ndarray, spacing_mm) -> tuple:
    """Report figures: ``image`` (the middle measured slice) with the five 0.1 D discs and the 0.4 D noise disc,
    and, for several slices, the per-slice centre mean and noise SD."""
    from phantomqc.core.visuals import CircleOverlay, Curve, ImagePanel, Plot

    sp = _spacing(spacing_mm)
    ov = []
    for r in result.rois:
        if r.name == "noise":
            lab, col = f"noise SD {result.noise_sd_hu.value:.2f} HU", "tab:cyan"
        elif r.name == "centre":
            lab, col = f"water {result.water_mean_hu.value:.2f} HU", "tab:orange"
        else:
            lab, col = f"{r.name} {result.diffs_hu[r.name].value:+.2f} HU", "tab:orange"
        ov.append(CircleOverlay(r.row, r.col, r.radius_px, lab, col))
    c = result.water_mean_hu.value
    out: list = [ImagePanel(f"Uniform section: water {c:.2f} HU, max |diff| {result.max_abs_diff_hu.value:.2f} HU, "
                            f"noise {result.noise_sd_hu.value:.2f} HU ({result.n_slices} slice(s))", image, tuple(ov),
                            window=(c - 100.0, c + 100.0), spacing_mm=sp)]
    if result.n_slices > 1:
        x = np.arange(result.n_slices, dtype=float)
        out.append(Plot("Uniform section per slice",
                        (Curve(x, np.asarray(result.slice_centre_mean_hu), "centre mean (HU)", "points"),
                         Curve(x, np.asarray(result.slice_noise_sd_hu), "noise SD (HU)", "points")),
                        "slice (in the analysed set)", "HU"))
    return tuple(out)
