"""DR normalised noise power spectrum (IEC 62220-1-1:2015 clause 7.3; Dobbins et al. 1995).

For each flat field: take the central ``region_mm`` square, subtract ``offset_pv`` (the pixel value at zero air
kerma, so that the data are linear in air kerma with zero intercept), record its mean ``S``, subtract a 2-D
second-order polynomial fit, cut ``roi_px`` ROIs overlapping by half and average their periodograms:

    NPS(u, v) = dx dy / (Nx Ny) < |DFT(ROI - mean ROI)|^2 >,      NNPS = NPS / S^2       (mm^2)

Each image is normalised by its own mean before the images are averaged, so slightly different exposures
combine correctly. Reported: the 2-D NNPS, the IEC cuts along u (horizontal) and v (vertical) (7 lines either
side of the axis, excluding it, at radial frequency), and the radial average (excluding the axes), which gives
the metrics ``dr.nnps.at_0p5_per_mm`` and ``dr.nnps.at_nyquist`` (linear interpolation at 0.5 mm^-1 and at
f_N = 1 / (2 max(dx, dy))). The uncertainty given is the statistical one, ``value / sqrt(M)``, M the number of
independent periodogram values in the annulus: points / 2 (Hermitian symmetry) times the number of
non-overlapping ROIs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from numpy.typing import NDArray

from phantomqc.dr._common import conversion_warning, linearize_images
from phantomqc._shared.errors import InputError
from phantomqc.core.nps import axis_cut, detrend_poly2, nps_2d, radial_average
from phantomqc.core.registry import TestOutput
from phantomqc.core.roi import RectROI
from phantomqc.core.types import ImageData, Measurement, Quantity
from phantomqc.core.visuals import Band, Curve, Plot

__all__ = ["NNPSResult", "nnps", "run"]


@dataclass(frozen=True)
class NNPSResult:
    """NNPS of a set of flat fields.

    ``nnps_2d`` (mm^2) is ``fftshift``-ed and indexed ``[v, u]`` with axes ``freq_u_per_mm`` /
    ``freq_v_per_mm``. ``cut_u`` / ``cut_v`` / ``radial`` are ``(frequencies_per_mm, nnps_mm2)`` pairs.
    ``mean_signal_pv`` is the mean offset-corrected signal; ``n_rois`` counts ROIs over all images.
    """

    at_0p5_per_mm: Quantity
    at_nyquist: Quantity
    nyquist_per_mm: float
    mean_signal_pv: Quantity
    nnps_2d: NDArray
    freq_u_per_mm: NDArray
    freq_v_per_mm: NDArray
    cut_u: tuple[NDArray, NDArray]
    cut_v: tuple[NDArray, NDArray]
    radial: tuple[NDArray, NDArray]
    n_rois: int
    n_images: int
    region: RectROI
    parameters: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def _central_region(shape: tuple[int, int], spacing_mm: tuple[float, float], region_mm: float,
                    warnings: list[str]) -> RectROI:
    sy, sx = spacing_mm
    nr, nc = int(round(region_mm / sy)), int(round(region_mm / sx))
    if nr > shape[0] or nc > shape[1]:
        warnings.append(f"the {region_mm:g} mm analysis region does not fit the image of {shape[0] * sy:.1f} x "
                        f"{shape[1] * sx:.1f} mm; using the whole image along the short side")
        nr, nc = min(nr, shape[0]), min(nc, shape[1])
    return RectROI((shape[0] - nr) // 2, (shape[1] - nc) // 2, nr, nc, "nnps region")


def nnps(images: Sequence[NDArray], spacing_mm: tuple[float, float], *, region_mm: float = 125.0,
         roi_px: int = 256, offset_pv: float = 0.0, n_lines: int = 7) -> NNPSResult:
    """Normalised NPS of flat fields taken at one air kerma (IEC 62220-1-1:2015).

    Parameters
    ----------
    images : sequence of (y, x) arrays, linear (for-processing) flat fields of the same size and spacing.
    spacing_mm : (row, col) pixel spacing in mm.
    region_mm : side of the central square analysed (IEC: 125 mm).
    roi_px : side of each NPS ROI in pixels (IEC: 256), overlapping by half.
    offset_pv : pixel value at zero air kerma, subtracted before normalisation.
    n_lines : lines either side of an axis averaged in the 1-D cuts (IEC: 7).

    Returns
    -------
    NNPSResult

    Notes
    -----
    ``NNPS(u, v) = (dx dy / (Nx Ny)) < |DFT(I - P2 - mean)|^2 > / S^2`` with ``P2`` the fitted quadratic
    surface and ``S`` the mean offset-corrected signal.

    References
    ----------
    IEC 62220-1-1:2015; J. T. Dobbins III et al., Med. Phys. 22 (1995) 1581-1593.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> flat = 1000.0 + rng.normal(0.0, 10.0, (512, 512))
    >>> r = nnps([flat], (0.2, 0.2), region_mm=100.0, roi_px=128)
    >>> bool(abs(r.at_0p5_per_mm.value / (100.0 * 0.04 / 1000.0 ** 2) - 1) < 0.1)
    True
    """
    if len(images) == 0:
        raise InputError("nnps needs at least one flat field; none was given")
    sy, sx = (float(s) for s in spacing_mm)
    warnings: list[str] = []
    shape = np.shape(images[0])
    region = _central_region(shape, (sy, sx), region_mm, warnings)
    if region.nrows < roi_px or region.ncols < roi_px:
        raise InputError(f"the analysis region of {region.nrows} x {region.ncols} px is smaller than roi_px = "
                         f"{roi_px}; use a smaller roi_px or a larger region_mm")
    acc = None
    n_rois = 0
    means = []
    for k, im in enumerate(images):
        if np.shape(im) != shape:
            raise InputError(f"flat field {k} has shape {np.shape(im)}, expected {shape} like the first")
        reg = np.asarray(im, dtype=np.float64)[region.slices] - float(offset_pv)
        s = float(reg.mean())
        if not s > 0:
            raise InputError(f"flat field {k} has mean {s:.4g} PV after removing offset_pv = {offset_pv:g}; "
                             "expected a positive signal: check offset_pv and that the image is a flat field")
        means.append(s)
        res, _ = detrend_poly2(reg)
        nps, fu, fv, n = nps_2d([res], (sy, sx), roi_px=roi_px)
        acc = nps / s ** 2 if acc is None else acc + nps / s ** 2
        n_rois += n
    nn2 = acc / len(images)
    fr, rad, cnt = radial_average(nn2, fu, fv)
    fcu, cu, _ = axis_cut(nn2, fu, fv, axis="u", n_lines=n_lines)
    fcv, cv, _ = axis_cut(nn2, fu, fv, axis="v", n_lines=n_lines)
    f_nyq = 1.0 / (2.0 * max(sy, sx))
    # independent ROIs: non-overlapping ones, i.e. about a quarter of the half-overlapping grid
    n_indep_rois = len(images) * max(1, region.nrows // roi_px) * max(1, region.ncols // roi_px)

    def at(f0: float) -> Quantity:
        if not (fr[0] <= f0 <= fr[-1] + 1e-9):
            return Quantity(float("nan"), "mm^2")
        v = float(np.interp(f0, fr, rad))
        m = float(np.interp(f0, fr, cnt)) / 2.0 * n_indep_rois
        return Quantity(v, "mm^2", v / math.sqrt(m))

    params = {"region_mm": float(region_mm), "roi_px": int(roi_px), "offset_pv": float(offset_pv),
              "n_lines": int(n_lines), "detrend": "2-D second-order polynomial", "spacing_mm": (sy, sx)}
    return NNPSResult(
        at_0p5_per_mm=at(0.5), at_nyquist=at(f_nyq), nyquist_per_mm=f_nyq,
        mean_signal_pv=Quantity(float(np.mean(means)), "PV"),
        nnps_2d=nn2, freq_u_per_mm=fu, freq_v_per_mm=fv, cut_u=(fcu, cu), cut_v=(fcv, cv), radial=(fr, rad),
        n_rois=n_rois, n_images=len(images), region=region, parameters=params, warnings=tuple(warnings))


def run(images: list[ImageData], params: dict) -> TestOutput:
    """Pipeline entry for ``dr.nnps``: flat fields at one air kerma."""
    from phantomqc.dr.mtf import check_dr_images, display_panel

    warnings = check_dr_images(images, "dr.nnps")
    sp = images[0].spacing_mm
    for im in images[1:]:
        if not np.allclose(im.spacing_mm, sp, rtol=1e-6) or im.shape != images[0].shape:
            raise InputError(f"flat fields differ in size or spacing ({im.shape}, {im.spacing_mm} mm against "
                             f"{images[0].shape}, {sp} mm); give flat fields from one detector mode",
                             path=im.meta.path)
    arrays, lin_note = linearize_images(images, params)
    if conversion_warning(params):
        warnings.append(conversion_warning(params))
    offset = 0.0 if lin_note else float(params.get("offset_pv", 0.0))
    r = nnps(arrays, sp, region_mm=float(params.get("region_mm", 125.0)),
             roi_px=int(params.get("roi_px", 256)), offset_pv=offset)
    warnings.extend(r.warnings)
    if lin_note is None:
        warnings.append("not linearised: the NNPS assumes a linear detector with the given offset_pv; add a "
                        "dr.signal_transfer test to the manifest to linearise with its fit (IEC 62220-1-1)")
    ms = (Measurement.of("dr.nnps.at_0p5_per_mm", r.at_0p5_per_mm,
                         note=None if math.isfinite(r.at_0p5_per_mm.value) else "0.5 /mm is outside the spectrum"),
          Measurement.of("dr.nnps.at_nyquist", r.at_nyquist))
    reg = r.region
    panel = display_panel("Flat field (NNPS region)", images[0].pixels, sp,
                          rects=[(reg.row0, reg.col0, reg.nrows, reg.ncols, f"{r.parameters['region_mm']:g} mm")])
    plot = Plot("Normalised noise power spectrum", (
        Curve(r.cut_u[0], r.cut_u[1], "horizontal (u)"), Curve(r.cut_v[0], r.cut_v[1], "vertical (v)"),
        Curve(r.radial[0], r.radial[1], "radial")), "spatial frequency (1/mm)", "NNPS (mm^2)",
        (Band("x", 0.5, "0.5 /mm"), Band("x", r.nyquist_per_mm, "Nyquist")), log_y=True)
    return TestOutput(measurements=ms, details=r, visuals=(panel, plot), warnings=tuple(warnings),
                      parameters={**r.parameters, "linearization": lin_note or "none"}, analyzer="dr.nnps")
