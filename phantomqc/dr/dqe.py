"""DR detective quantum efficiency (IEC 62220-1-1:2015 clause 7.4).

    DQE(f) = MTF(f)^2 / (q K NNPS(f))

``q`` is the photon fluence per unit air kerma of the beam quality (IEC 62220-1-1:2015 Table 2, per mm^2 per
uGy), ``K`` the air kerma of the flat fields (uGy), ``NNPS`` in mm^2. The horizontal DQE pairs the horizontal
MTF (near-vertical edge) with the NNPS cut along u; the vertical DQE pairs the vertical MTF with the cut
along v. The MTF is interpolated linearly onto the NNPS frequencies (up to the lower of the two curves' ends).
The data must be linear in air kerma (for-processing, offset removed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from numpy.typing import NDArray

from phantomqc.dr._common import linearize_images
from phantomqc._shared.errors import InputError
from phantomqc.core.mtf import SlantedEdgeResult, slanted_edge_mtf
from phantomqc.core.registry import TestOutput
from phantomqc.core.types import ImageData, Measurement, Quantity
from phantomqc.core.visuals import Band, Curve, Plot
from phantomqc.dr.nnps import NNPSResult, nnps

__all__ = ["Q_PER_MM2_PER_UGY", "DQEResult", "dqe_curve", "dqe_from_results", "dqe", "run"]

#: IEC 62220-1-1:2015 Table 2: photons per mm^2 per uGy.
Q_PER_MM2_PER_UGY = {"RQA3": 20673.0, "RQA5": 30174.0, "RQA7": 32362.0, "RQA9": 31077.0}


@dataclass(frozen=True)
class DQEResult:
    """DQE curves per direction (``curves[label] = (frequencies_per_mm, dqe)``) and DQE at 0.5 mm^-1."""

    at_0p5_per_mm: dict[str, Quantity]
    curves: dict[str, tuple[NDArray, NDArray]]
    q_per_mm2_per_uGy: float
    air_kerma_uGy: float
    beam_quality: str
    nnps: NNPSResult
    mtf: tuple[SlantedEdgeResult, ...]
    parameters: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def _q(beam_quality: str) -> float:
    try:
        return Q_PER_MM2_PER_UGY[beam_quality.upper()]
    except KeyError:
        raise InputError(f"beam_quality must be one of {sorted(Q_PER_MM2_PER_UGY)}, got {beam_quality!r}") from None


def dqe_curve(mtf_freq_per_mm: NDArray, mtf: NDArray, nnps_freq_per_mm: NDArray, nnps_mm2: NDArray, *,
              air_kerma_uGy: float, beam_quality: str = "RQA5") -> tuple[NDArray, NDArray]:
    """``DQE(f) = MTF(f)^2 / (q K NNPS(f))`` on the NNPS frequencies within the MTF's range.

    Example
    -------
    >>> f, d = dqe_curve(np.array([0.0, 2.0]), np.array([1.0, 1.0]), np.array([0.5, 1.0]),
    ...                  np.array([1.0, 1.0]) / (0.5 * 30174.0 * 2.0), air_kerma_uGy=2.0)
    >>> np.round(d, 6).tolist()
    [0.5, 0.5]
    """
    if not air_kerma_uGy > 0:
        raise InputError(f"air_kerma_uGy must be positive, got {air_kerma_uGy!r}")
    q = _q(beam_quality)
    fn = np.asarray(nnps_freq_per_mm, dtype=np.float64)
    fm = np.asarray(mtf_freq_per_mm, dtype=np.float64)
    sel = (fn >= fm[0]) & (fn <= fm[-1])
    m = np.interp(fn[sel], fm, np.asarray(mtf, dtype=np.float64))
    return fn[sel], m ** 2 / (q * air_kerma_uGy * np.asarray(nnps_mm2, dtype=np.float64)[sel])


def dqe_from_results(mtf_results: Sequence[SlantedEdgeResult], nnps_result: NNPSResult, *, air_kerma_uGy: float,
                     beam_quality: str = "RQA5") -> DQEResult:
    """Combine MTF results (one per direction) with an NNPS result."""
    curves, at = {}, {}
    warnings = list(nnps_result.warnings)
    for r in mtf_results:
        fc, nc = nnps_result.cut_u if r.direction == "horizontal" else nnps_result.cut_v
        f, d = dqe_curve(r.frequencies_per_mm, r.mtf, fc, nc, air_kerma_uGy=air_kerma_uGy,
                         beam_quality=beam_quality)
        curves[r.direction] = (f, d)
        v = float(np.interp(0.5, f, d)) if f.size and f[0] <= 0.5 <= f[-1] else float("nan")
        at[r.direction] = Quantity(v, "1")
        warnings.extend(r.warnings)
    return DQEResult(at, curves, _q(beam_quality), float(air_kerma_uGy), beam_quality.upper(), nnps_result,
                     tuple(mtf_results), {"air_kerma_uGy": float(air_kerma_uGy), "beam_quality": beam_quality.upper(),
                                          "q_per_mm2_per_uGy": _q(beam_quality)}, tuple(warnings))


def dqe(flat_images: Sequence[NDArray], spacing_mm: tuple[float, float], edge_images: Sequence[NDArray], *,
        air_kerma_uGy: float, beam_quality: str = "RQA5", offset_pv: float = 0.0, roi_px: int = 256,
        region_mm: float = 125.0, roi_size_mm: float = 50.0) -> DQEResult:
    """DQE from flat fields and slanted-edge images of one detector (same pixel spacing).

    Notes
    -----
    ``DQE(f) = MTF(f)^2 / (q K NNPS(f))``; q from IEC 62220-1-1:2015 Table 2 (RQA3 20673, RQA5 30174,
    RQA7 32362, RQA9 31077 mm^-2 uGy^-1).

    References
    ----------
    IEC 62220-1-1:2015 clause 7.4.
    """
    nn = nnps(flat_images, spacing_mm, region_mm=region_mm, roi_px=roi_px, offset_pv=offset_pv)
    mtfs = [slanted_edge_mtf(e, spacing_mm, roi_size_mm=roi_size_mm) for e in edge_images]
    return dqe_from_results(mtfs, nn, air_kerma_uGy=air_kerma_uGy, beam_quality=beam_quality)


def run(images: list[ImageData], params: dict) -> TestOutput:
    """Pipeline entry for ``dr.dqe``: flat fields in ``images``, edge images in ``params['edge_images']``."""
    from phantomqc.dr.mtf import check_dr_images, mtf_plot
    from phantomqc.dr.nnps import run as nnps_run

    edges = list(params.get("edge_images") or [])
    if not edges:
        raise InputError("dr.dqe needs edge_images (slanted-edge images, one per direction); none were given")
    if "air_kerma_uGy" not in params or params["air_kerma_uGy"] is None:
        raise InputError("dr.dqe needs air_kerma_uGy, the dosimeter reading for the flat fields")
    warnings = check_dr_images(list(images) + edges, "dr.dqe")
    nn_out = nnps_run(images, {"region_mm": params.get("region_mm", 125.0), "roi_px": params.get("roi_px", 256),
                               "offset_pv": params.get("offset_pv", 0.0), "conversion": params.get("conversion"),
                               "linearize": params.get("linearize", True)})
    warnings.extend(nn_out.warnings)
    edge_arrays, _ = linearize_images(edges, params)
    nn: NNPSResult = nn_out.details
    sp = images[0].spacing_mm
    mtfs, seen = [], {}
    for e, e_px in zip(edges, edge_arrays):
        if not np.allclose(e.spacing_mm, sp, rtol=1e-6):
            raise InputError(f"edge image spacing {e.spacing_mm} mm differs from the flat fields' {sp} mm; "
                             "use images of one detector mode", path=e.meta.path)
        r = slanted_edge_mtf(e_px, e.spacing_mm, roi_size_mm=float(params.get("roi_size_mm", 50.0)))
        if r.direction in seen:
            raise InputError(f"two edge images give the {r.direction} MTF ({seen[r.direction]} and {e.meta.path})",
                             path=e.meta.path)
        seen[r.direction] = e.meta.path
        mtfs.append(r)
    res = dqe_from_results(mtfs, nn, air_kerma_uGy=float(params["air_kerma_uGy"]),
                           beam_quality=str(params.get("beam_quality", "RQA5")))
    warnings.extend(res.warnings)
    ms = tuple(Measurement.of("dr.dqe.at_0p5_per_mm", q, label=lab,
                              note=None if math.isfinite(q.value) else "0.5 /mm is outside the DQE curve")
               for lab, q in res.at_0p5_per_mm.items())
    plot = Plot(f"DQE ({res.beam_quality}, {res.air_kerma_uGy:g} uGy)",
                tuple(Curve(f, d, lab) for lab, (f, d) in res.curves.items()), "spatial frequency (1/mm)", "DQE",
                (Band("x", 0.5, "0.5 /mm"), Band("x", nn.nyquist_per_mm, "Nyquist")), y_lim=(0.0, 1.0))
    visuals = tuple(nn_out.visuals) + (mtf_plot(mtfs), plot)
    return TestOutput(measurements=ms, details=res, visuals=visuals, warnings=tuple(dict.fromkeys(warnings)),
                      parameters={**res.parameters, **nn_out.parameters}, analyzer="dr.dqe")
