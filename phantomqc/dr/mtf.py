"""DR presampling MTF from slanted-edge images (IEC 62220-1-1:2015): MTF50 and MTF at Nyquist.

``mtf`` is the pure analyzer (one image); ``run`` is the pipeline entry for the ``dr.mtf`` kind. The numerical
method lives in ``phantomqc.core.mtf`` (shared with CT). ``check_dr_images`` and ``display_panel`` are the
small helpers the other IEC 62220-1 runners (``dr.nnps``, ``dr.dqe``, ``dr.limiting_resolution``) share.
"""

from __future__ import annotations

import math
from typing import Sequence

from numpy.typing import NDArray

from phantomqc.dr._common import conversion_warning, linearize_images
from phantomqc._shared.errors import InputError
from phantomqc.core.mtf import SlantedEdgeResult, slanted_edge_mtf
from phantomqc.core.registry import TestOutput
from phantomqc.core.types import ImageData, Measurement
from phantomqc.core.visuals import Band, Curve, ImagePanel, LineOverlay, Plot, RectOverlay

__all__ = ["mtf", "run", "check_dr_images", "display_panel", "mtf_plot", "DR_MODALITIES"]

DR_MODALITIES = ("DX", "CR", "RG", "DR")


def check_dr_images(images: Sequence[ImageData], kind: str) -> list[str]:
    """Raise ``InputError`` for a non-DR modality (naming the file); return warnings for images whose
    (0008,0068) *Presentation Intent Type* is FOR PRESENTATION."""
    if not images:
        raise InputError(f"{kind} needs at least one image; none was given")
    warnings = []
    for im in images:
        mod = (im.meta.modality or "").upper()
        if mod not in DR_MODALITIES:
            raise InputError(f"{kind} expects a projection radiograph (Modality DX, CR, RG or DR), got "
                             f"Modality '{im.meta.modality}'; choose the for-processing DR image",
                             path=im.meta.path)
        if (im.meta.presentation_intent or "").upper() == "FOR PRESENTATION":
            warnings.append(f"{im.meta.path}: (0008,0068) Presentation Intent Type is FOR PRESENTATION; "
                            f"{kind} needs linear FOR PROCESSING data, so the result may be biased")
    return warnings


def display_panel(title: str, image: NDArray, spacing_mm: tuple[float, float], rects=(), lines=()) -> ImagePanel:
    """The full-resolution image (no copy) with overlays in its pixels; the report down-samples it.

    ``rects``: ``(row0, col0, nrows, ncols, label)``; ``lines``: ``((r0, c0), (r1, c1), label)``."""
    ov = [RectOverlay(float(r0), float(c0), float(nr), float(nc), label) for r0, c0, nr, nc, label in rects]
    ov += [LineOverlay((float(r0), float(r1)), (float(c0), float(c1)), label) for (r0, c0), (r1, c1), label in lines]
    return ImagePanel(title, image, tuple(ov), spacing_mm=(float(spacing_mm[0]), float(spacing_mm[1])))


def mtf_plot(results: Sequence[SlantedEdgeResult], title: str = "Presampling MTF") -> Plot:
    curves, refs = [], []
    for r in results:
        curves.append(Curve(r.frequencies_per_mm, r.mtf, label=r.direction))
        if math.isfinite(r.mtf50_per_mm.value):
            refs.append(Band("x", r.mtf50_per_mm.value, f"MTF50 {r.direction} {r.mtf50_per_mm.value:.2f} /mm"))
    nyq = sorted({round(r.nyquist_per_mm, 6) for r in results})
    for f in nyq:
        refs.append(Band("x", f, f"Nyquist {f:.2f} /mm"))
    refs.append(Band("y", 0.5, "0.5"))
    fmax = max(float(r.frequencies_per_mm[-1]) for r in results)
    return Plot(title, tuple(curves), "spatial frequency (1/mm)", "MTF", tuple(refs), x_lim=(0.0, fmax),
                y_lim=(0.0, 1.05))


def mtf(image: NDArray, spacing_mm: tuple[float, float], *, roi_size_mm: float = 50.0,
        center_mm: tuple[float, float] | None = None) -> SlantedEdgeResult:
    """Presampling MTF of one slanted-edge image (IEC 62220-1-1:2015). See
    ``phantomqc.core.mtf.slanted_edge_mtf``, which this wraps with the DR defaults (50 mm ROI, 1/4-pixel bins).

    Example
    -------
    >>> y, x = np.mgrid[0:300, 0:300] * 0.2
    >>> img = np.where(x - 30.0 - (y - 30.0) * np.tan(np.radians(2.5)) > 0, 900.0, 100.0)
    >>> mtf(img, (0.2, 0.2), roi_size_mm=40.0).direction
    'horizontal'
    """
    return slanted_edge_mtf(image, spacing_mm, roi_size_mm=roi_size_mm, center_mm=center_mm)


def run(images: list[ImageData], params: dict) -> TestOutput:
    """Pipeline entry for ``dr.mtf``: one or two edge images (one per direction)."""
    warnings = check_dr_images(images, "dr.mtf")
    roi_mm = float(params.get("roi_size_mm", 50.0))
    results, measurements, visuals = [], [], []
    seen: dict[str, str] = {}
    arrays, lin_note = linearize_images(images, params)
    if conversion_warning(params):
        warnings.append(conversion_warning(params))
    if lin_note is None:
        warnings.append("not linearised: the MTF assumes a linear detector; add a dr.signal_transfer test to the "
                        "manifest to linearise with its fit (IEC 62220-1-1)")
    for im, px in zip(images, arrays):
        r = mtf(px, im.spacing_mm, roi_size_mm=roi_mm)
        if r.direction in seen:
            raise InputError(f"two edge images give the {r.direction} MTF ({seen[r.direction]} and "
                             f"{im.meta.path}); give one edge image per direction", path=im.meta.path)
        seen[r.direction] = im.meta.path
        results.append(r)
        warnings.extend(f"{im.meta.path}: {w}" for w in r.warnings)
        note = None if math.isfinite(r.mtf50_per_mm.value) else "the MTF stays above 0.5 up to 2 x Nyquist"
        measurements.append(Measurement.of("dr.mtf.mtf50_per_mm", r.mtf50_per_mm, label=r.direction, note=note))
        measurements.append(Measurement.of("dr.mtf.at_nyquist", r.mtf_at_nyquist, label=r.direction))
        roi = r.roi
        visuals.append(display_panel(
            f"Edge ({r.direction} MTF, {abs(r.edge.angle_deg):.2f} deg)", im.pixels, im.spacing_mm,
            rects=[(roi.row0, roi.col0, roi.nrows, roi.ncols, "ROI")],
            lines=[(r.edge_endpoints_px[0], r.edge_endpoints_px[1], "edge")]))
    visuals.append(mtf_plot(results))
    return TestOutput(measurements=tuple(measurements), details=tuple(results), visuals=tuple(visuals),
                      warnings=tuple(warnings), parameters={"roi_size_mm": roi_mm, "bin_fraction": 0.25,
                                                            "linearization": lin_note or "none"},
                      analyzer="dr.mtf")
