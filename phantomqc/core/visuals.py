"""Figure specifications: what an analyzer wants drawn, in plain data.

Analyzers never plot. They return these specs inside their result objects; ``phantomqc.report`` turns
them into matplotlib figures. Coordinates of ROIs are in pixels of the image array that the panel
carries (row, column), so the report draws them without recomputing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["RectOverlay", "CircleOverlay", "LineOverlay", "ImagePanel", "Curve", "Plot", "MapPanel",
           "Band"]


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
class ImagePanel:
    """An image with overlays. ``image`` may be downsampled by ``scale`` (overlay coordinates are in the
    downsampled array's pixels). ``window`` is (low, high) display limits or None for automatic."""

    title: str
    image: np.ndarray
    overlays: tuple = ()
    scale: float = 1.0
    window: tuple[float, float] | None = None
    spacing_mm: tuple[float, float] = (1.0, 1.0)
    cmap: str = "gray"


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
