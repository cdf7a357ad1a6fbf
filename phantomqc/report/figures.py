"""Figures: turn the figure specs of ``phantomqc.core.visuals`` into PNG files.

This is the only module of phantomqc that imports matplotlib, and it imports it lazily, inside the
functions, so that ``import phantomqc.report`` stays cheap. It never touches pyplot or the global
``rcParams``: each figure is a ``matplotlib.figure.Figure`` drawn on its own Agg canvas, so rendering
is independent of the backend the caller has chosen and of any process-wide style.

- ``render_visual(spec, path)`` draws one spec (``ImagePanel``, ``MapPanel`` or ``Plot``) and saves it.
- ``render_figures(results, out_dir)`` draws every spec of every result into ``out_dir/figures/`` and
  records, rather than raises, a spec that cannot be drawn (the batch boundary of the report).
- ``render_all(results, out_dir)`` is the same, returning only the paths.
- ``figure_pngs(result)`` draws one result's specs to PNG bytes, each under a size bound (for the results store).

File names are ``<nn>_<kind>_<k>.png``: ``nn`` is the 1-based number of the analysis (two digits),
``kind`` its test kind with every non-alphanumeric run replaced by ``_``, ``k`` the 1-based number of the
figure within that analysis. They match the section and figure numbers of the HTML report.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from phantomqc.core.visuals import CircleOverlay, ImagePanel, LineOverlay, MapPanel, Plot, PointOverlay, RectOverlay

__all__ = ["FIGSIZE_IN", "FigureFailure", "FigureSet", "figure_filename", "render_visual",
           "render_figures", "render_all", "display_factor", "downsample", "display_panel", "PNGFigure",
           "PNGFigures", "figure_pngs"]

#: Size of every figure, in inches (width, height). At the default 110 dpi a PNG is 704 x 528 pixels.
FIGSIZE_IN: tuple[float, float] = (6.4, 4.8)

#: Display window used when an ``ImagePanel`` gives none: these percentiles of the finite pixels.
AUTO_WINDOW_PERCENTILES: tuple[float, float] = (0.5, 99.5)

#: The automatic window is computed on a regular subsample of at most about this many pixels.
AUTO_WINDOW_MAX_SAMPLES: int = 65536

_TITLE_SIZE = 11.0
_LABEL_SIZE = 10.0
_TICK_SIZE = 9.0
_SMALL_SIZE = 8.0
_REF_COLORS = ("#c0392b", "#7f8c8d", "#8e44ad", "#16a085", "#d35400")


@dataclass(frozen=True)
class FigureFailure:
    """A figure spec that could not be drawn. ``analysis_index`` is 0-based (the index into the
    results list), ``figure_number`` 1-based (as in the file name)."""

    analysis_index: int
    figure_number: int
    title: str
    error_type: str
    message: str

    def __str__(self) -> str:
        title = f" '{self.title}'" if self.title else ""
        return f"figure {self.figure_number}{title} could not be drawn: {self.error_type}: {self.message}"


@dataclass(frozen=True)
class FigureSet:
    """What ``render_figures`` produced: the PNG paths per analysis (0-based index into the results;
    every index is present, with an empty list when the analysis had no figure), the failures, and the
    title of each spec keyed by (analysis index, 1-based figure number)."""

    paths: dict[int, list[Path]]
    failures: tuple[FigureFailure, ...] = ()
    titles: dict[tuple[int, int], str] = field(default_factory=dict)

    def failures_for(self, analysis_index: int) -> list[FigureFailure]:
        return [f for f in self.failures if f.analysis_index == analysis_index]


# --------------------------------------------------------------------------------------------------
# public API


def render_visual(spec: Any, path: Path | str, *, dpi: float = 110, colorbar: bool = True) -> Path:
    """Draw one figure spec and save it as a PNG.

    Parameters
    ----------
    spec : ImagePanel | MapPanel | Plot
        The figure specification (``phantomqc.core.visuals``).
    path : Path or str
        The PNG file to write. Its folder is created when missing.
    dpi : float, optional
        Resolution. The figure is ``FIGSIZE_IN`` inches, so 110 dpi gives 704 x 528 pixels.
    colorbar : bool, optional
        Draw a colour bar beside an ``ImagePanel`` (pixel values) or a scalar ``MapPanel``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    TypeError
        ``spec`` is not one of the three spec types.
    ValueError
        The spec's data cannot be drawn: an image that is not 2-D, curves whose x and y differ in
        length, an unknown curve style or reference axis. The message names the spec's title.

    Notes
    -----
    - ``ImagePanel``: grey image, block-averaged by the smallest integer factor f that brings its larger
      side to at most ``max_display_px`` (``display_panel``); the overlays (given in pixels of ``image``)
      and ``spacing_mm`` are rescaled with it. When ``window`` is None the display window is the 0.5 and
      99.5 percentiles of the finite displayed pixels (on a regular subsample of at most
      ``AUTO_WINDOW_MAX_SAMPLES``). The pixel aspect and the scale bar in mm follow the displayed spacing.
    - ``MapPanel``: the background in grey (when given) and the map in colour over it, half
      transparent; a boolean map shows its ``True`` pixels, a scalar map its finite pixels.
    - ``Plot``: curves, reference lines (``Band``) as dashed lines, shaded ``RangeBand`` regions, legend,
      grid, optional log y axis.
      NaN breaks a line; on a log axis values <= 0 are not drawn. ``notes`` go under the axes.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from phantomqc.core.visuals import Plot, Curve
    >>> p = Plot("NPS", (Curve(np.arange(5.0), np.ones(5), "h"),), "f (1/mm)", "NPS (mm²)")
    >>> out = render_visual(p, pathlib.Path(tempfile.mkdtemp()) / "nps.png")
    >>> out.suffix
    '.png'
    """
    path = Path(path)
    if isinstance(spec, ImagePanel):
        draw = _draw_image_panel
    elif isinstance(spec, MapPanel):
        draw = _draw_map_panel
    elif isinstance(spec, Plot):
        draw = _draw_plot
    else:
        raise TypeError(f"render_visual: spec must be an ImagePanel, MapPanel or Plot from "
                        f"phantomqc.core.visuals, got {type(spec).__name__}")
    if not (isinstance(dpi, (int, float)) and math.isfinite(dpi) and dpi > 0):
        raise ValueError(f"render_visual: dpi must be a positive number, got {dpi!r}")

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE_IN, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    draw(fig, spec, colorbar=colorbar)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write to a temporary name first, so that a failure never leaves a half-written PNG behind.
    tmp = path.with_name(path.name + ".part")
    try:
        fig.savefig(tmp, format="png", dpi=dpi, facecolor="white")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def figure_filename(analysis_index: int, kind: str, figure_index: int) -> str:
    """``<nn>_<kind>_<k>.png`` for the 0-based ``analysis_index`` and ``figure_index``."""
    safe = re.sub(r"[^A-Za-z0-9]+", "_", str(kind or "")).strip("_") or "analysis"
    return f"{analysis_index + 1:02d}_{safe}_{figure_index + 1}.png"


def render_figures(results: Sequence[Any], out_dir: Path | str, *, dpi: float = 110) -> FigureSet:
    """Draw every visual of every result into ``out_dir/figures/``.

    A spec that cannot be drawn is recorded in ``FigureSet.failures`` (and any stale PNG of the same
    name is removed); the other figures are still drawn. This is the report's batch boundary, the one
    place where any exception of one figure is caught.

    Parameters
    ----------
    results : sequence of AnalysisResult
        Each result's ``visuals`` are drawn in order.
    out_dir : Path or str
        The report folder; PNGs go to ``out_dir/figures/``.
    dpi : float, optional
        Resolution, passed to ``render_visual``.

    Returns
    -------
    FigureSet
        Paths per analysis (0-based index) and the failures.
    """
    fig_dir = Path(out_dir) / "figures"
    paths: dict[int, list[Path]] = {}
    failures: list[FigureFailure] = []
    titles: dict[tuple[int, int], str] = {}
    for i, result in enumerate(results):
        paths[i] = []
        visuals = getattr(result, "visuals", None) or ()
        kind = getattr(result, "kind", "") or getattr(result, "analyzer", "")
        for k, spec in enumerate(visuals):
            path = fig_dir / figure_filename(i, kind, k)
            titles[(i, k + 1)] = str(getattr(spec, "title", "") or "")
            try:
                paths[i].append(render_visual(spec, path, dpi=dpi))
            except Exception as exc:  # noqa: BLE001 - batch boundary: one bad figure never kills the report
                path.unlink(missing_ok=True)
                failures.append(FigureFailure(analysis_index=i, figure_number=k + 1,
                                              title=str(getattr(spec, "title", "") or ""),
                                              error_type=type(exc).__name__, message=str(exc)))
    return FigureSet(paths=paths, failures=tuple(failures), titles=titles)


def render_all(results: Sequence[Any], out_dir: Path | str, *, dpi: float = 110) -> dict[int, list[Path]]:
    """Draw every visual of every result into ``out_dir/figures/``; return the PNG paths per analysis
    (0-based index into ``results``). Figures that cannot be drawn are left out; use
    ``render_figures`` to learn which and why."""
    return render_figures(results, out_dir, dpi=dpi).paths


@dataclass(frozen=True)
class PNGFigure:
    """One figure drawn to PNG bytes: its spec's ``title``, the ``png`` bytes and the ``dpi`` it was drawn at."""

    title: str
    png: bytes
    dpi: float


@dataclass(frozen=True)
class PNGFigures:
    """What ``figure_pngs`` drew: the figures in spec order and a message for each spec left out."""

    figures: tuple[PNGFigure, ...]
    skipped: tuple[str, ...] = ()


def figure_pngs(result: Any, *, max_figures: int = 8, max_png_bytes: int = 400_000, dpi: float = 110
                ) -> PNGFigures:
    """Draw the first ``max_figures`` visuals of one result as PNG bytes, each under ``max_png_bytes``.

    The renderer of ``phantomqc.programme.store.Store.record(..., figures=figure_pngs)``: the store keeps the
    bytes and never imports matplotlib.

    Parameters
    ----------
    result : AnalysisResult
        Its ``visuals`` are drawn in order, with ``render_visual``.
    max_figures : int, optional
        Specs after this many are not drawn (a message says how many).
    max_png_bytes : int, optional
        A PNG larger than this is drawn again at a lower resolution, at most three more times; one still too
        large is left out with a message.
    dpi : float, optional
        The first resolution tried (110 dpi gives 704 x 528 pixels).

    Returns
    -------
    PNGFigures
        The drawn figures and the messages of the specs left out: a spec that cannot be drawn is skipped, with
        its error, and the others are still drawn (the store's batch boundary).

    Notes
    -----
    PNG size grows about with the pixel count, so a figure of ``n`` bytes is redrawn at
    ``dpi * 0.9 * sqrt(max_png_bytes / n)`` (the 0.9 leaves room for the noise of an image, which compresses
    worse than text), never below 40 dpi.
    """
    import tempfile

    visuals = tuple(getattr(result, "visuals", None) or ())
    out: list[PNGFigure] = []
    skipped: list[str] = []
    if len(visuals) > max_figures:
        skipped.append(f"figures {max_figures + 1} to {len(visuals)} not stored: a run keeps at most "
                       f"{max_figures} figures")
    with tempfile.TemporaryDirectory(prefix="phantomqc-fig-") as tmp:
        for k, spec in enumerate(visuals[:max_figures], 1):
            title = _title(spec)
            name = f"figure {k}" + (f" '{title}'" if title else "")
            path = Path(tmp) / f"{k}.png"
            d = float(dpi)
            try:
                for _attempt in range(4):
                    png, used = render_visual(spec, path, dpi=d).read_bytes(), d
                    if len(png) <= max_png_bytes or d <= 40:
                        break
                    d = max(40.0, d * 0.9 * math.sqrt(max_png_bytes / len(png)))
            except Exception as exc:  # noqa: BLE001 - batch boundary: one bad figure never keeps a run out
                skipped.append(f"{name} could not be drawn: {type(exc).__name__}: {exc}")
                continue
            if len(png) > max_png_bytes:
                skipped.append(f"{name} not stored: {len(png)} bytes at {used:.0f} dpi, more than {max_png_bytes}")
                continue
            out.append(PNGFigure(title=title, png=png, dpi=used))
    return PNGFigures(figures=tuple(out), skipped=tuple(skipped))


# --------------------------------------------------------------------------------------------------
# helpers


def _title(spec: Any) -> str:
    return str(getattr(spec, "title", "") or "")


def _as_image(arr: Any, what: str, title: str) -> np.ndarray:
    a = np.asarray(arr)
    if a.dtype == bool:
        a = a.astype(np.float32)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"{what} of figure '{title}' must be a non-empty 2-D array, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.number):
        raise ValueError(f"{what} of figure '{title}' must be numeric, got dtype {a.dtype}")
    return a.astype(np.float64, copy=False)


def _auto_window(img: np.ndarray) -> tuple[float, float]:
    """The 0.5 .. 99.5 percentile window of the finite pixels; never an empty interval.

    Computed on a regular subsample (every s-th row and column) of at most about
    ``AUTO_WINDOW_MAX_SAMPLES`` pixels, so that a large image never needs a full sort."""
    s = max(1, int(math.ceil(math.sqrt(img.size / AUTO_WINDOW_MAX_SAMPLES))))
    sub = img[::s, ::s] if img.ndim == 2 and s > 1 else img
    finite = sub[np.isfinite(sub)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(finite, AUTO_WINDOW_PERCENTILES))
    if not hi > lo:
        lo, hi = float(finite.min()), float(finite.max())
    if not hi > lo:
        pad = max(abs(lo) * 0.01, 0.5)
        lo, hi = lo - pad, hi + pad
    return lo, hi


def display_factor(shape: tuple[int, ...], max_px: int) -> int:
    """Smallest integer block size f that brings the larger side of ``shape`` to at most ``max_px``."""
    if not (isinstance(max_px, (int, np.integer)) and max_px >= 1):
        raise ValueError(f"max_display_px must be a positive integer, got {max_px!r}")
    return max(1, int(math.ceil(max(shape) / float(max_px))))


def downsample(img: np.ndarray, f: int) -> np.ndarray:
    """Means of ``f`` x ``f`` blocks (float64), the array cropped to a multiple of ``f`` first.

    One reshape-mean over the cropped view: no full-size copy in float64 (numpy converts block-wise)."""
    a = np.asarray(img)
    if f <= 1:
        return a
    ny, nx = max(1, a.shape[0] // f), max(1, a.shape[1] // f)
    fy, fx = min(f, a.shape[0]), min(f, a.shape[1])
    return a[:ny * fy, :nx * fx].reshape(ny, fy, nx, fx).mean(axis=(1, 3), dtype=np.float64)


def _scale_overlay(ov: Any, f: int) -> Any:
    """An overlay in pixels of the image down-sampled by ``f``.

    Block i covers pixels i f .. i f + f - 1, so a pixel-centre coordinate x maps to (x + 0.5) / f - 0.5;
    a rectangle's first pixel row0 (drawn from its edge row0 - 0.5) maps to row0 / f, sizes and radii to
    size / f."""
    if f == 1:
        return ov
    to = lambda v: (float(v) + 0.5) / f - 0.5  # noqa: E731
    if isinstance(ov, RectOverlay):
        return replace(ov, row0=float(ov.row0) / f, col0=float(ov.col0) / f, nrows=float(ov.nrows) / f,
                       ncols=float(ov.ncols) / f)
    if isinstance(ov, CircleOverlay):
        return replace(ov, row=to(ov.row), col=to(ov.col), radius=float(ov.radius) / f)
    if isinstance(ov, LineOverlay):
        return replace(ov, rows=tuple(to(v) for v in ov.rows), cols=tuple(to(v) for v in ov.cols))
    if isinstance(ov, PointOverlay):
        return replace(ov, row=to(ov.row), col=to(ov.col))
    return ov  # reported by _draw_overlays


def display_panel(spec: ImagePanel) -> tuple[np.ndarray, tuple, tuple[float, float], int]:
    """What ``render_visual`` draws for an ``ImagePanel``: the displayed image (float64), the overlays and
    the spacing (mm per displayed pixel) rescaled to it, and the block factor f."""
    title = _title(spec)
    raw = np.asarray(spec.image)
    if raw.ndim != 2 or raw.size == 0:
        raise ValueError(f"image of figure '{title}' must be a non-empty 2-D array, got shape {raw.shape}")
    sy, sx = _spacing(spec, title)
    f = display_factor(raw.shape, getattr(spec, "max_display_px", 512))
    if raw.dtype == bool:
        raw = raw.astype(np.float32)
    if f > 1 and np.issubdtype(raw.dtype, np.number):
        raw = downsample(raw, f)
    img = _as_image(raw, "image", title)
    overlays = tuple(_scale_overlay(ov, f) for ov in (spec.overlays or ()))
    return img, overlays, (sy * f, sx * f), f


def _nice_length(target: float) -> float:
    """The largest of 1, 2, 5 x 10^n that does not exceed ``target`` (> 0)."""
    exp = math.floor(math.log10(target))
    for m in (5.0, 2.0, 1.0):
        if m * 10.0**exp <= target:
            return m * 10.0**exp
    return 10.0**exp


def _fmt_mm(v: float) -> str:
    return f"{v:g} mm" if v >= 1 else f"{v * 1000:g} µm"


def _spacing(spec: Any, title: str) -> tuple[float, float]:
    try:
        sy, sx = (float(s) for s in spec.spacing_mm)
    except (TypeError, ValueError):
        raise ValueError(f"spacing_mm of figure '{title}' must be two numbers, got {spec.spacing_mm!r}") from None
    if not (sy > 0 and sx > 0 and math.isfinite(sy * sx)):
        raise ValueError(f"figure '{title}': spacing_mm {spec.spacing_mm!r} must be positive and finite")
    return sy, sx


def _outline(lw: float = 2.5):
    from matplotlib import patheffects
    return [patheffects.withStroke(linewidth=lw, foreground="black")]


def _draw_scale_bar(ax, shape: tuple[int, int], pixel_mm_x: float) -> None:
    """A white bar with a black outline, bottom left, about a fifth of the image width."""
    nrows, ncols = shape
    width_mm = ncols * pixel_mm_x
    length_mm = _nice_length(width_mm / 5.0)
    length_px = length_mm / pixel_mm_x
    x0 = 0.04 * ncols - 0.5
    y0 = nrows - 0.5 - 0.06 * nrows
    ax.plot([x0, x0 + length_px], [y0, y0], color="white", linewidth=3, solid_capstyle="butt",
            path_effects=_outline(5), zorder=5)
    ax.text(x0 + length_px / 2, y0 - 0.02 * nrows, _fmt_mm(length_mm), color="white", ha="center",
            va="bottom", fontsize=_SMALL_SIZE, path_effects=_outline(2.5), zorder=5)


def _draw_overlays(ax, overlays: Sequence[Any], title: str) -> None:
    from matplotlib.patches import Circle, Rectangle

    label_kw = dict(fontsize=_SMALL_SIZE, color="white", path_effects=_outline(2.5), zorder=6,
                    clip_on=True)
    for j, ov in enumerate(overlays or ()):
        if isinstance(ov, RectOverlay):
            # row0/col0 index the first pixel: its edge is half a pixel before its centre.
            x, y = float(ov.col0) - 0.5, float(ov.row0) - 0.5
            ax.add_patch(Rectangle((x, y), float(ov.ncols), float(ov.nrows), fill=False,
                                   edgecolor=ov.color, linewidth=1.6, zorder=4))
            if ov.label:
                ax.text(x + 1, y - 1, str(ov.label), ha="left", va="bottom", **label_kw)
        elif isinstance(ov, CircleOverlay):
            ax.add_patch(Circle((float(ov.col), float(ov.row)), float(ov.radius), fill=False,
                                edgecolor=ov.color, linewidth=1.6, zorder=4))
            if ov.label:
                ax.text(float(ov.col), float(ov.row) - float(ov.radius) - 1, str(ov.label), ha="center",
                        va="bottom", **label_kw)
        elif isinstance(ov, LineOverlay):
            rows = np.asarray(ov.rows, dtype=float).ravel()
            cols = np.asarray(ov.cols, dtype=float).ravel()
            if rows.shape != cols.shape:
                raise ValueError(f"LineOverlay {ov.label!r} of figure '{title}' has {rows.size} rows but "
                                 f"{cols.size} cols")
            ax.plot(cols, rows, color=ov.color, linewidth=1.6, zorder=4)
            if ov.label and rows.size:
                ax.text(cols[-1], rows[-1], " " + str(ov.label), ha="left", va="center", **label_kw)
        elif isinstance(ov, PointOverlay):
            ax.plot([float(ov.col)], [float(ov.row)], linestyle="none", marker=ov.marker or "None", markersize=9,
                    markeredgewidth=2.0, color=ov.color, path_effects=_outline(3.5), zorder=5)
            if ov.label:
                ax.text(float(ov.col), float(ov.row), "  " + str(ov.label), ha="left", va="center", **label_kw)
        else:
            raise TypeError(f"overlay {j} of figure '{title}' must be a RectOverlay, CircleOverlay, "
                            f"LineOverlay or PointOverlay, got {type(ov).__name__}")


def _grey_cmap(name: str):
    import matplotlib

    # KeyError with the valid names listed when unknown; NaN pixels: a muted blue, distinct from any grey
    return matplotlib.colormaps[name].with_extremes(bad="#3b5b92")


def _draw_image_panel(fig, spec: ImagePanel, *, colorbar: bool) -> None:
    title = _title(spec)
    img, overlays, (pix_y, pix_x), f = display_panel(spec)
    if spec.window is None:
        lo, hi = _auto_window(img)
        window_note = f"window {AUTO_WINDOW_PERCENTILES[0]:g}–{AUTO_WINDOW_PERCENTILES[1]:g} %"
    else:
        lo, hi = (float(v) for v in spec.window)
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
            raise ValueError(f"window of figure '{title}' must be (low, high) with low < high, "
                             f"got {spec.window!r}")
        window_note = "window fixed"
    ax = fig.add_subplot()
    im = ax.imshow(img, cmap=_grey_cmap(spec.cmap or "gray"), vmin=lo, vmax=hi,
                   aspect=pix_y / pix_x, interpolation="antialiased")
    _draw_overlays(ax, overlays, title)
    _draw_scale_bar(ax, img.shape, pix_x)
    ax.set_xlim(-0.5, img.shape[1] - 0.5)
    ax.set_ylim(img.shape[0] - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=_TITLE_SIZE)
    shown = f"{img.shape[1]} × {img.shape[0]} px" if f == 1 else \
        f"{img.shape[1]} × {img.shape[0]} px (mean of {f} × {f})"
    ax.set_xlabel(f"{shown}, {pix_x:.3g} × {pix_y:.3g} mm/px; {window_note}",
                  fontsize=_SMALL_SIZE, color="#444444")
    if colorbar:
        cb = fig.colorbar(im, ax=ax, shrink=0.85, pad=0.02)
        cb.set_label("pixel value", fontsize=_SMALL_SIZE)
        cb.ax.tick_params(labelsize=_SMALL_SIZE)


def _draw_map_panel(fig, spec: MapPanel, *, colorbar: bool) -> None:
    from matplotlib.patches import Patch

    title = _title(spec)
    raw = np.asarray(spec.mask)
    is_bool = raw.dtype == bool
    mask = _as_image(raw, "mask", title)
    nrows, ncols = mask.shape
    # Everything is drawn in the mask's pixel frame; a background of another shape is stretched over it.
    extent = (-0.5, ncols - 0.5, nrows - 0.5, -0.5)
    ax = fig.add_subplot()
    if spec.background is not None:
        bg_raw = np.asarray(spec.background)
        if bg_raw.ndim == 2 and np.issubdtype(bg_raw.dtype, np.number):
            # a background much larger than the map (e.g. the full-resolution image): block means first
            bg_raw = downsample(bg_raw, display_factor(bg_raw.shape, max(512, nrows, ncols)))
        bg = _as_image(bg_raw, "background", title)
        lo, hi = _auto_window(bg)
        ax.imshow(bg, cmap=_grey_cmap("gray"), vmin=lo, vmax=hi, extent=extent, interpolation="antialiased")
    else:
        ax.set_facecolor("#202020")
    import matplotlib

    cmap = matplotlib.colormaps[spec.cmap or "autumn"].with_extremes(bad=(0.0, 0.0, 0.0, 0.0))
    legend = []
    if is_bool:
        # one strong colour (the low end of the colormap: red for 'autumn') reads best over grey noise
        from matplotlib.colors import ListedColormap

        colour = cmap(0.0)
        shown = np.ma.masked_where(~raw, np.ones_like(mask))
        ax.imshow(shown, cmap=ListedColormap([colour]), vmin=0.0, vmax=1.0, alpha=0.85, extent=extent,
                  interpolation="nearest")
        n = int(raw.sum())
        legend.append(Patch(facecolor=colour, alpha=0.85,
                            label=f"flagged: {n} px ({100.0 * n / raw.size:.3g} %)"))
    else:
        shown = np.ma.masked_invalid(mask)
        lo, hi = _auto_window(mask)
        im = ax.imshow(shown, cmap=cmap, vmin=lo, vmax=hi, alpha=0.65, extent=extent,
                       interpolation="nearest")
        if colorbar:
            cb = fig.colorbar(im, ax=ax, shrink=0.85, pad=0.02)
            cb.ax.tick_params(labelsize=_SMALL_SIZE)
    _draw_overlays(ax, spec.overlays, title)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=_TITLE_SIZE)
    ax.set_xlabel(f"{ncols} × {nrows} map", fontsize=_SMALL_SIZE, color="#444444")
    if legend:
        ax.legend(handles=legend, loc="upper right", fontsize=_SMALL_SIZE, framealpha=0.85)


def _draw_plot(fig, spec: Plot, *, colorbar: bool) -> None:  # noqa: ARG001 - same signature as the others
    title = _title(spec)
    ax = fig.add_subplot()
    n_drawn = 0
    empty: list[str] = []
    for j, c in enumerate(spec.curves or ()):
        name = c.label or f"curve {j + 1}"
        x = np.asarray(c.x, dtype=float).ravel()
        y = np.asarray(c.y, dtype=float).ravel()
        if x.shape != y.shape:
            raise ValueError(f"curve {name!r} of figure '{title}' has {x.size} x values but {y.size} y "
                             f"values; they must have the same length")
        if spec.log_y:
            y = np.where(y > 0, y, np.nan)
        if not np.any(np.isfinite(x) & np.isfinite(y)):
            empty.append(name)
            continue
        kw = {"label": c.label or None}
        if c.color:
            kw["color"] = c.color
        if c.style == "line":
            ax.plot(x, y, linewidth=1.6, **kw)
        elif c.style == "points":
            ax.plot(x, y, linestyle="none", marker="o", markersize=4, **kw)
        elif c.style == "step":
            ax.step(x, y, where="mid", linewidth=1.4, **kw)
        else:
            raise ValueError(f"curve {name!r} of figure '{title}' has style {c.style!r}; expected "
                             f"'line', 'points' or 'step'")
        n_drawn += 1
    for j, rb in enumerate(getattr(spec, "bands", None) or ()):
        bx, lo, hi = (np.asarray(a, dtype=float).ravel() for a in (rb.x, rb.low, rb.high))
        if not (bx.shape == lo.shape == hi.shape):
            raise ValueError(f"band {rb.label!r} of figure '{title}' has {bx.size} x, {lo.size} low and {hi.size} "
                             f"high values; they must have the same length")
        colour = rb.color or _REF_COLORS[(j + 2) % len(_REF_COLORS)]
        ax.fill_between(bx, lo, hi, color=colour, alpha=0.15, linewidth=0, label=rb.label or None, zorder=1)
        for edge in (lo, hi):
            ax.plot(bx, edge, color=colour, linewidth=0.9, linestyle=":", zorder=1)
    for j, b in enumerate(spec.refs or ()):
        v = float(b.value)
        kw = dict(color=_REF_COLORS[j % len(_REF_COLORS)], linestyle="--", linewidth=1.2,
                  label=b.label or None)
        if not math.isfinite(v):
            empty.append(b.label or f"reference {j + 1}")
        elif b.axis == "y":
            if not (spec.log_y and v <= 0):
                ax.axhline(v, **kw)
        elif b.axis == "x":
            ax.axvline(v, **kw)
        else:
            raise ValueError(f"reference {b.label!r} of figure '{title}' has axis {b.axis!r}; expected "
                             f"'x' or 'y'")
    if spec.log_y and n_drawn:
        ax.set_yscale("log")
    if spec.x_lim is not None:
        ax.set_xlim(*(float(v) for v in spec.x_lim))
    if spec.y_lim is not None:
        ax.set_ylim(*(float(v) for v in spec.y_lim))
    ax.set_title(title, fontsize=_TITLE_SIZE)
    ax.set_xlabel(spec.x_label or "", fontsize=_LABEL_SIZE)
    ax.set_ylabel(spec.y_label or "", fontsize=_LABEL_SIZE)
    ax.tick_params(labelsize=_TICK_SIZE)
    ax.grid(True, which="major", color="#d0d0d0", linewidth=0.7)
    if spec.log_y:
        ax.grid(True, which="minor", color="#ececec", linewidth=0.5)
    ax.set_axisbelow(True)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=_SMALL_SIZE, framealpha=0.9, loc="best")
    notes = [str(n) for n in (spec.notes or ())]
    if empty:
        notes.append("no finite data to draw: " + ", ".join(empty))
    if not n_drawn:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="#888888",
                fontsize=_LABEL_SIZE)
    if notes:
        # supxlabel takes part in the constrained layout, so the notes never overlap the axes.
        fig.supxlabel("\n".join(notes), fontsize=_SMALL_SIZE, x=0.01, ha="left", color="#444444")
