"""Figure rendering: each spec type, file naming, failure capture, no global matplotlib state."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from phantomqc.core.visuals import Band, Curve, ImagePanel, LineOverlay, MapPanel, Plot, RectOverlay
from phantomqc.report.figures import (FIGSIZE_IN, _auto_window, _nice_length, figure_filename, render_all,
                                      render_figures, render_visual)


ROOT = Path(__file__).resolve().parents[2]


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _pixels(path) -> np.ndarray:
    from matplotlib.image import imread
    return imread(path)


@pytest.mark.parametrize("dpi", [72, 110])
def test_image_panel_size(tmp_path, dpi):
    rng = np.random.default_rng(0)
    spec = ImagePanel("noise", rng.normal(size=(64, 80)), overlays=(RectOverlay(5, 5, 10, 10, "a"),
                                                                     LineOverlay((0, 60), (0, 70), "p")),
                      spacing_mm=(0.2, 0.1))
    out = render_visual(spec, tmp_path / "sub" / "a.png", dpi=dpi)
    assert out.is_file()
    # Agg truncates the pixel size: int(inches * dpi)
    assert _png_size(out) == (int(FIGSIZE_IN[0] * dpi), int(FIGSIZE_IN[1] * dpi))


def test_overlay_colour_is_drawn(tmp_path):
    # a flat image with one pure-green rectangle: green pixels must appear, and only from the overlay
    spec = ImagePanel("flat", np.zeros((50, 50)), overlays=(RectOverlay(10, 10, 30, 30, color="#00ff00"),),
                      window=(0.0, 1.0))
    px = _pixels(render_visual(spec, tmp_path / "g.png", colorbar=False))
    green = (px[..., 1] > 0.9) & (px[..., 0] < 0.2) & (px[..., 2] < 0.2)
    assert green.sum() > 100
    spec_no = ImagePanel("flat", np.zeros((50, 50)), window=(0.0, 1.0))
    px_no = _pixels(render_visual(spec_no, tmp_path / "n.png", colorbar=False))
    assert not ((px_no[..., 1] > 0.9) & (px_no[..., 0] < 0.2)).any()


def test_image_panel_with_nan_and_constant(tmp_path):
    img = np.full((30, 30), 7.0)
    img[3, 3] = np.nan
    render_visual(ImagePanel("const", img), tmp_path / "c.png")
    render_visual(ImagePanel("all nan", np.full((8, 8), np.nan)), tmp_path / "n.png")


def test_map_panel_bool_and_scalar(tmp_path):
    rng = np.random.default_rng(1)
    m = rng.random((40, 40)) > 0.9
    render_visual(MapPanel("bool", m, background=rng.normal(size=(80, 80))), tmp_path / "b.png")
    render_visual(MapPanel("scalar", rng.normal(size=(40, 40))), tmp_path / "s.png")


def test_plot_with_nan_log_and_refs(tmp_path):
    x = np.linspace(0, 1, 50)
    y = np.sin(6 * x)  # negative values: not drawn on the log axis, no crash
    y[10] = np.nan
    spec = Plot("p", (Curve(x, y, "s"), Curve(x, np.abs(y) + 0.1, "abs", "step"),
                      Curve(x, np.full(50, np.nan), "all nan")),
                "x (mm)", "y (1)", refs=(Band("y", 0.5, "limit"), Band("x", 0.3, "cut"), Band("y", -1, "neg")),
                log_y=True, x_lim=(0, 1), notes=("a note",))
    render_visual(spec, tmp_path / "p.png")


def test_plot_without_curves(tmp_path):
    render_visual(Plot("empty", (), "x", "y"), tmp_path / "e.png")


@pytest.mark.parametrize("spec, err, match", [
    (Plot("bad", (Curve(np.arange(3.0), np.arange(4.0)),), "x", "y"), ValueError, "3 x values but 4 y"),
    (Plot("bad", (Curve(np.arange(3.0), np.arange(3.0), style="bars"),), "x", "y"), ValueError, "style 'bars'"),
    (Plot("bad", (), "x", "y", refs=(Band("z", 1.0),)), ValueError, "axis 'z'"),
    (ImagePanel("bad", np.zeros(5)), ValueError, "2-D"),
    (ImagePanel("bad", np.zeros((4, 4)), window=(1.0, 1.0)), ValueError, "low < high"),
    (ImagePanel("bad", np.zeros((4, 4)), overlays=("x",)), TypeError, "overlay 0"),
    ("not a spec", TypeError, "ImagePanel, MapPanel or Plot"),
])
def test_bad_specs_raise_clear_errors(tmp_path, spec, err, match):
    with pytest.raises(err, match=match):
        render_visual(spec, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
    assert not list(tmp_path.glob("*.part"))


def test_figure_filename():
    assert figure_filename(0, "dr.dark_noise", 0) == "01_dr_dark_noise_1.png"
    assert figure_filename(11, "pet/nema iq", 2) == "12_pet_nema_iq_3.png"
    assert figure_filename(0, "", 0) == "01_analysis_1.png"


def test_render_all_and_failures(tmp_path, results, consts):
    stale = tmp_path / "figures" / "01_dr_dark_noise_4.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    fs = render_figures(results, tmp_path)
    assert sorted(fs.paths) == [0, 1]
    assert [p.name for p in fs.paths[0]] == ["01_dr_dark_noise_1.png", "01_dr_dark_noise_2.png",
                                             "01_dr_dark_noise_3.png", "01_dr_dark_noise_5.png"]
    assert fs.paths[1] == []
    assert len(fs.failures) == 1 and fs.failures[0].title == consts.BROKEN_TITLE
    assert fs.failures[0].figure_number == 4 and fs.failures_for(0) == list(fs.failures)
    assert not stale.exists(), "a stale PNG of a failed figure must not survive"
    assert render_all(results[1:], tmp_path / "b") == {0: []}


def test_no_pyplot_no_global_state(tmp_path):
    import matplotlib

    backend = matplotlib.get_backend()
    rc = dict(matplotlib.rcParams)
    render_visual(Plot("p", (Curve(np.arange(3.0), np.arange(3.0)),), "x", "y"), tmp_path / "p.png")
    assert matplotlib.get_backend() == backend
    assert dict(matplotlib.rcParams) == rc
    # pyplot is never imported: check in a fresh interpreter (a pytest plugin may import it here)
    code = ("import sys, numpy as np; from phantomqc.core.visuals import *; "
            "from phantomqc.report.figures import render_visual as r; "
            f"r(ImagePanel('a', np.zeros((9, 9))), r'{tmp_path / 'i.png'}'); "
            f"r(MapPanel('m', np.eye(9) > 0), r'{tmp_path / 'm.png'}'); "
            "print('matplotlib.pyplot' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT)}, check=True).stdout.split()
    assert out == ["False", "True"]


@pytest.mark.parametrize("target, expected", [(37.0, 20.0), (10.0, 10.0), (0.9, 0.5), (0.15, 0.1), (4.99, 2.0)])
def test_nice_length(target, expected):
    assert _nice_length(target) == pytest.approx(expected)


def test_auto_window_percentiles():
    img = np.arange(1001.0).reshape(7, 143)
    lo, hi = _auto_window(img)
    assert lo == pytest.approx(5.0) and hi == pytest.approx(995.0)  # 0.5 and 99.5 % of 0..1000


def test_full_resolution_panel_is_downsampled_with_its_overlays(tmp_path):
    """A 3000 x 3000 panel at 0.139 mm with overlays in full-resolution pixels: the report shows a 500 x 500
    block mean (f = 6), the overlays land on the same anatomy, and the spacing grows to 6 x 0.139 mm."""
    from phantomqc.core.visuals import CircleOverlay
    from phantomqc.report.figures import display_panel

    img = np.zeros((3000, 3000), np.float32)
    img[1200:1440, 600:900] = 1.0  # a bright 240 x 300 px block, exactly what the rectangle marks
    rect = RectOverlay(1200, 600, 240, 300, "block")
    circle = CircleOverlay(2999.0, 5.5, 60.0, "c")  # the last pixel row; the edge between blocks 0 and 1
    line = LineOverlay((0.0, 2999.0), (2.5, 2.5), "l")
    spec = ImagePanel("big", img, overlays=(rect, circle, line), spacing_mm=(0.139, 0.139))
    shown, ovs, (sy, sx), f = display_panel(spec)
    assert f == 6 and shown.shape == (500, 500)
    assert (sy, sx) == pytest.approx((0.834, 0.834))
    assert shown.shape[1] * sx == pytest.approx(417.0)  # 3000 px at 0.139 mm
    r, c, ln = ovs
    assert (r.row0, r.col0, r.nrows, r.ncols) == pytest.approx((200, 100, 40, 50))
    # the rectangle covers exactly the displayed pixels that hold the block
    rows, cols = np.nonzero(shown > 0.5)
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (200, 240, 100, 150)
    # block 499 holds pixels 2994..2999 (centre 2996.5 -> 499): pixel 2999 is 2.5 px = 2.5/6 block past it;
    # the pixel edge 5.5 between blocks 0 and 1 is the displayed edge 0.5
    assert (c.row, c.col, c.radius) == pytest.approx((499.0 + 2.5 / 6, 0.5, 10.0))
    assert ln.rows == pytest.approx((-5 / 12, 499 + 5 / 12)) and ln.cols == pytest.approx((0.0, 0.0))
    # a small panel is drawn as it is
    small = ImagePanel("small", img[:400, :300], overlays=(rect,), spacing_mm=(0.139, 0.139))
    shown2, ovs2, sp2, f2 = display_panel(small)
    assert f2 == 1 and shown2.shape == (400, 300) and ovs2 == (rect,) and sp2 == (0.139, 0.139)
    render_visual(spec, tmp_path / "big.png")
