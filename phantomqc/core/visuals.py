"""Figure specifications: what an analyzer wants drawn, in plain data.

Analyzers never plot. They return these specs inside their result objects; ``phantomqc.report`` turns
them into matplotlib figures. Coordinates of ROIs are in pixels of the image array that the panel
carries (row, column), so the report draws them without recomputing anything. An ``ImagePanel`` carries
the full-resolution image (no copy): down-sampling for display and the display window are the report's
job, done once per report rather than once per measurement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["RectOverlay", "CircleOverlay", "LineOverlay", "PointOverlay", "ImagePanel", "Curve", "Plot",
           "MapPanel", "Band", "RangeBand"]


@dataclass(frozen=True)
class RectOverlay:
    """A rectangle: top-left (row0, col0) and size (nrows, ncols), in pixels of the panel's array."""

    row0: float
    col0: float
    nrows: float
    ncols: float
    label: str = ""
    color: str = "tab:orange"


@dataclass(frozen=True)
class CircleOverlay:
    row: float
    col: float
    radius: float
    label: str = ""
    color: str = "tab:orange"


@dataclass(frozen=True)
class LineOverlay:
    rows: tuple[float, ...]
    cols: tuple[float, ...]
    label: str = ""
    color: str = "tab:cyan"


@dataclass(frozen=True)
class PointOverlay:
    """A marker at one pixel centre (row, col), with an optional label beside it. ``marker`` is a matplotlib
    marker code (``"+"``, ``"x"``, ``"o"``, ``"^"``, ``"v"``, ...)."""

    row: float
    col: float
    label: str = ""
    color: str = "tab:red"
    marker: str = "+"


@dataclass(frozen=True)
class ImagePanel:
    """An image with overlays.

    ``image`` is normally the full-resolution analysed image itself (not a copy); ``spacing_mm`` is its pixel
    spacing and overlay coordinates are in its pixels. The report block-averages an image whose larger side
    exceeds ``max_display_px`` by an integer factor, and rescales the overlays and the spacing with it.
    ``window`` is (low, high) display limits, or None for automatic (computed by the report)."""

    title: str
    image: np.ndarray
    overlays: tuple = ()
    window: tuple[float, float] | None = None
    spacing_mm: tuple[float, float] = (1.0, 1.0)
    cmap: str = "gray"
    max_display_px: int = 512


@dataclass(frozen=True)
class MapPanel:
    """A boolean or scalar map (e.g. an artefact map), drawn over an optional background image."""

    title: str
    mask: np.ndarray
    background: np.ndarray | None = None
    overlays: tuple = ()
    cmap: str = "autumn"


@dataclass(frozen=True)
class Curve:
    x: np.ndarray
    y: np.ndarray
    label: str = ""
    style: str = "line"  # line | points | step
    color: str | None = None


@dataclass(frozen=True)
class Band:
    """A horizontal or vertical reference line (``axis`` = 'x' or 'y') at ``value``."""

    axis: str
    value: float
    label: str = ""


@dataclass(frozen=True)
class RangeBand:
    """A shaded tolerance region between ``low`` and ``high`` over ``x`` (e.g. the EARL recovery bands against
    sphere diameter): drawn as a filled area with its edges, linear between the given points."""

    x: np.ndarray
    low: np.ndarray
    high: np.ndarray
    label: str = ""
    color: str | None = None


@dataclass(frozen=True)
class Plot:
    title: str
    curves: tuple[Curve, ...]
    x_label: str
    y_label: str
    refs: tuple[Band, ...] = ()
    log_y: bool = False
    x_lim: tuple[float, float] | None = None
    y_lim: tuple[float, float] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    bands: tuple[RangeBand, ...] = ()
