"""Ghosting / lag (WS 76-2020, DR part): residual image of a lead block in the following blank exposure."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from phantomqc._shared.errors import PhantomNotFoundError
from phantomqc.core.registry import TestOutput
from phantomqc.core.roi import RectROI, rect_roi_mm
from phantomqc.core.types import ImageData, Measurement, Quantity
from phantomqc.core.roi import block_mean
from phantomqc.dr._common import (as_image, check_dr_images, display_factor, roi_panel,
                                  roi_mean_sd, spacing_list)

__all__ = ["GhostingResult", "ghosting", "locate_block", "run"]


@dataclass(frozen=True)
class GhostingResult:
    """``error_percent`` = (ghost mean - non-ghost mean) / non-ghost mean x 100 on the blank image (signed)."""

    error_percent: Quantity
    ghost_mean_pv: float
    nonghost_mean_pv: float
    block_center_mm: tuple[float, float]
    block_size_found_mm: tuple[float, float]
    ghost_roi: RectROI
    nonghost_roi: RectROI
    nonghost_side: str
    block_size_mm: float
    roi_size_mm: float
    threshold_pv: float
    warnings: tuple[str, ...] = ()


def locate_block(image: NDArray, spacing_mm: tuple[float, float], *, block_size_mm: float = 40.0,
                 max_px: int = 512) -> tuple[tuple[float, float], tuple[float, float], float]:
    """Find the lead block: a dark, roughly ``block_size_mm`` square inside the bright field.

    Works on a block-mean copy of at most ``max_px`` pixels a side. Threshold halfway between the open-field
    level (median) and the block level (0.1th percentile); the dark connected component (not touching the
    image border) whose size is closest to the block is refined at full resolution (centroid of the pixels
    below the threshold in a box around it).

    Returns ``(centre_mm (y, x), size_mm (h, w), threshold_pv)``. Raises ``PhantomNotFoundError``.
    """
    a = as_image(image)
    sy, sx = spacing_mm
    f = display_factor(a.shape, max_px)
    small = block_mean(a, f)
    open_level = float(np.median(small))
    dark_level = float(np.percentile(small, 0.1))
    mad = float(np.median(np.abs(small - open_level))) * 1.4826
    if not (open_level - dark_level > 5.0 * mad) or open_level <= dark_level:
        raise PhantomNotFoundError(
            f"no lead block found: the darkest 0.1 % of the image ({dark_level:.4g} PV) is not clearly below the open "
            f"field ({open_level:.4g} PV, noise {mad:.3g} PV); expected a {block_size_mm:g} mm lead block in a bright "
            f"field (WS 76-2020 ghosting, step 2)")
    thr = 0.5 * (open_level + dark_level)
    labels, n = ndimage.label(small < thr)
    if n == 0:
        raise PhantomNotFoundError(f"no lead block found below {thr:.4g} PV")
    objs = ndimage.find_objects(labels)
    sizes = ndimage.sum_labels(np.ones_like(small), labels, index=np.arange(1, n + 1))
    want_px = (block_size_mm / (sy * f)) * (block_size_mm / (sx * f))
    best, best_score = None, np.inf
    for i, sl in enumerate(objs):
        if sl is None:
            continue
        h_mm = (sl[0].stop - sl[0].start) * sy * f
        w_mm = (sl[1].stop - sl[1].start) * sx * f
        touches = sl[0].start == 0 or sl[1].start == 0 or sl[0].stop == small.shape[0] or sl[1].stop == small.shape[1]
        if touches:
            continue
        if not (0.5 * block_size_mm <= h_mm <= 1.6 * block_size_mm and 0.5 * block_size_mm <= w_mm <= 1.6 * block_size_mm):
            continue
        fill = sizes[i] / ((sl[0].stop - sl[0].start) * (sl[1].stop - sl[1].start))
        if fill < 0.6:
            continue
        score = abs(np.log(sizes[i] / want_px))
        if score < best_score:
            best, best_score = sl, score
    if best is None:
        raise PhantomNotFoundError(
            f"no lead block of about {block_size_mm:g} x {block_size_mm:g} mm found (dark regions below {thr:.4g} PV "
            f"are of the wrong size or touch the image border); check the block is inside the exposed field, or "
            f"set block_size_mm")
    # refine at full resolution in a box one block larger on each side
    pad = 2
    r0 = max(0, (best[0].start - pad) * f)
    r1 = min(a.shape[0], (best[0].stop + pad) * f)
    c0 = max(0, (best[1].start - pad) * f)
    c1 = min(a.shape[1], (best[1].stop + pad) * f)
    box = a[r0:r1, c0:c1] < thr
    lab, _ = ndimage.label(box)
    cy, cx = (best[0].start + best[0].stop) / 2 * f - r0, (best[1].start + best[1].stop) / 2 * f - c0
    idx = lab[int(min(max(cy, 0), box.shape[0] - 1)), int(min(max(cx, 0), box.shape[1] - 1))]
    if idx == 0:  # noise at the centre pixel: take the largest component in the box
        counts = np.bincount(lab.ravel())
        counts[0] = 0
        idx = int(np.argmax(counts))
    ys, xs = np.nonzero(lab == idx)
    centre = ((ys.mean() + r0) * sy, (xs.mean() + c0) * sx)
    size = ((ys.max() - ys.min() + 1) * sy, (xs.max() - xs.min() + 1) * sx)
    return (float(centre[0]), float(centre[1])), (float(size[0]), float(size[1])), float(thr)


def ghosting(block_image: NDArray, blank_image: NDArray, spacing_mm: tuple[float, float], *,
             block_size_mm: float = 40.0, roi_size_mm: float = 20.0) -> GhostingResult:
    """Ghost (lag) error of a lead-block exposure in the blank image taken after it.

    Parameters
    ----------
    block_image : ndarray
        Exposure with the 4 mm lead block at the detector centre (about 5 uGy), ``(y, x)``.
    blank_image : ndarray
        The blank (or dark) exposure taken within 1.5 min after, same shape.
    spacing_mm : (float, float)
        Pixel spacing (row, column) in mm.
    block_size_mm : float
        Side of the lead block (WS 76-2020: 40 mm).
    roi_size_mm : float
        Side of the equal-area square ghost and non-ghost ROIs.

    Returns
    -------
    GhostingResult

    Notes
    -----
    Ghost ROI at the block centre; non-ghost ROI of the same size centred ``block_size_mm`` to the right
    (x + block_size_mm), else left, above, below, whichever fits first.
    error = (mean_ghost - mean_nonghost) / mean_nonghost x 100 %.

    Raises
    ------
    PhantomNotFoundError
        When no block of roughly ``block_size_mm`` is found in ``block_image``.
    """
    a = as_image(block_image, "block_image")
    b = as_image(blank_image, "blank_image")
    if a.shape != b.shape:
        raise ValueError(f"block_image {a.shape} and blank_image {b.shape} must have the same shape")
    sp = spacing_list(spacing_mm, 1)[0]
    centre, size, thr = locate_block(a, sp, block_size_mm=block_size_mm)
    warnings: list[str] = []
    ghost_roi = rect_roi_mm(b.shape, sp, centre, roi_size_mm, name="ghost")
    nonghost_roi, side = None, ""
    d = block_size_mm
    for side_name, (dy, dx) in (("right", (0.0, d)), ("left", (0.0, -d)), ("above", (-d, 0.0)), ("below", (d, 0.0))):
        try:
            nonghost_roi = rect_roi_mm(b.shape, sp, (centre[0] + dy, centre[1] + dx), roi_size_mm, name="non-ghost")
        except ValueError:
            continue
        side = side_name
        break
    if nonghost_roi is None:
        raise PhantomNotFoundError(f"no room for the non-ghost ROI {d:g} mm beside the block at "
                                   f"({centre[0]:.1f}, {centre[1]:.1f}) mm; the block must be well inside the field")
    if side != "right":
        warnings.append(f"the non-ghost ROI does not fit to the right of the block; it is placed {side} of it")
    g_mean = roi_mean_sd(b, ghost_roi)[0]
    n_mean = roi_mean_sd(b, nonghost_roi)[0]
    if n_mean == 0:
        err = float("nan")
        warnings.append("the non-ghost ROI mean is 0 PV; the ghosting error is undefined")
    else:
        err = (g_mean - n_mean) / n_mean * 100.0
    return GhostingResult(error_percent=Quantity(err, "%"), ghost_mean_pv=g_mean, nonghost_mean_pv=n_mean,
                          block_center_mm=centre, block_size_found_mm=size, ghost_roi=ghost_roi,
                          nonghost_roi=nonghost_roi, nonghost_side=side, block_size_mm=float(block_size_mm),
                          roi_size_mm=float(roi_size_mm), threshold_pv=thr, warnings=tuple(warnings))


def run(images: list[ImageData], params: dict) -> TestOutput:
    """Runner for the manifest kind ``dr.ghosting`` (images: the block exposure, then the blank)."""
    warnings = check_dr_images(images, "dr.ghosting")
    if len(images) != 2:
        from phantomqc._shared.errors import InputError
        raise InputError(f"dr.ghosting needs exactly 2 images (the lead-block exposure, then the blank), got "
                         f"{len(images)}", path=images[0].meta.path)
    block_size_mm = float(params.get("block_size_mm", 40.0))
    roi_size_mm = float(params.get("roi_size_mm", 20.0))
    a, b = images
    try:
        res = ghosting(a.pixels, b.pixels, a.spacing_mm, block_size_mm=block_size_mm, roi_size_mm=roi_size_mm)
    except PhantomNotFoundError as exc:
        raise PhantomNotFoundError(exc.cause, path=a.meta.path) from exc
    warnings += list(res.warnings)
    note = None if np.isfinite(res.error_percent.value) else "non-ghost ROI mean is 0"
    visuals = (roi_panel(f"Lead-block exposure {a.meta.path}", a.pixels, a.spacing_mm, [res.ghost_roi]),
               roi_panel(f"Blank after {b.meta.path}", b.pixels, b.spacing_mm,
                             [res.ghost_roi, res.nonghost_roi]))
    return TestOutput(
        measurements=(Measurement.of("dr.ghosting.error_percent", res.error_percent, note=note),),
        details=res, visuals=visuals, warnings=tuple(warnings),
        parameters={"block_size_mm": block_size_mm, "roi_size_mm": roi_size_mm,
                    "block_center_mm": list(res.block_center_mm), "block_size_found_mm": list(res.block_size_found_mm),
                    "nonghost_side": res.nonghost_side, "ghost_mean_pv": res.ghost_mean_pv,
                    "nonghost_mean_pv": res.nonghost_mean_pv},
        analyzer="dr.ghosting")
