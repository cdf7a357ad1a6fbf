"""ACR large MRI phantom: the runner of the manifest kinds ``mr.acr`` (axial 11-slice series) and
``mr.acr_localizer`` (sagittal localiser). Composition only: the numbers come from the pure functions of
``localize``, ``acr_geometry``, ``slice_thickness``, ``slice_position``, ``resolution``, ``uniformity``,
``ghosting``, ``snr`` and ``lcd``.

Slice map and rotation come once from :func:`phantomqc.mr.localize.acr_slices`; each slice's centre from its own
outline fit (falling back to the slice-7 centre when an outline cannot be fitted, e.g. the grid of slice 5). Each
test runs on its own: a failure of one (an exception from a measurement) is recorded as a warning and that test's
numbers are left out with a NaN and a note, so the other tests of the series are still reported. Only
:class:`~phantomqc._shared.errors.PhantomQCError` is caught; a programming error still surfaces.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from phantomqc._shared.errors import InputError, PhantomQCError
from phantomqc.core.registry import TestOutput
from phantomqc.core.types import ImageData, Measurement
from phantomqc.mr._series import mr_series
from phantomqc.mr.magnet import _q, header_measurements

__all__ = ["run", "run_localizer", "analyze_acr"]

#: The ACR tests of an axial series: measurement ids each produces, for NaN entries when the test fails.
_TEST_METRICS = {
    "geometry": (("mr.geometry.length_mm", "slice1_horizontal"), ("mr.geometry.length_mm", "slice1_vertical"),
                 ("mr.geometry.length_mm", "slice5_horizontal"), ("mr.geometry.length_mm", "slice5_vertical"),
                 ("mr.geometry.length_mm", "slice5_diagonal1"), ("mr.geometry.length_mm", "slice5_diagonal2")),
    "slice_thickness": (("mr.slice_thickness.mm", None),),
    "slice_position": (("mr.slice_position.bar_difference_mm", "slice1"),
                       ("mr.slice_position.bar_difference_mm", "slice11")),
    "resolution": (("mr.resolution.hole_mm", None),),
    "mtf": (("mr.resolution.mtf50_mm", None),),
    "uniformity": (("mr.uniformity.piu_percent", None),),
    "ghosting": (("mr.ghosting.ratio", None), ("mr.ghosting.percent", None)),
    "snr": (("mr.snr.smoothing", None),),
    "lcd": tuple(("mr.lcd.spokes", lab) for lab in ("slice8", "slice9", "slice10", "slice11", "total")),
}
_UNITS = {"mr.geometry.length_mm": "mm", "mr.slice_thickness.mm": "mm", "mr.slice_position.bar_difference_mm": "mm",
          "mr.resolution.hole_mm": "mm", "mr.resolution.mtf50_mm": "mm", "mr.uniformity.piu_percent": "%",
          "mr.ghosting.percent": "%"}


def _nan(test: str, why: str) -> list[Measurement]:
    return [Measurement(mid, float("nan"), _UNITS.get(mid, "1"), label=lab, note=f"{test} not measured: {why}")
            for mid, lab in _TEST_METRICS[test]]


def analyze_acr(slices: list, spacing_mm: tuple[float, float], *, phase_encoding: str, repeat: list | None = None,
                rotation_deg: float | None = None, smoothing_kernel_px: int = 25) -> dict[str, Any]:
    """Every ACR test on an 11-slice axial series (arrays in acquisition order along the slice normal).

    Returns a dict: ``measurements`` (list), ``results`` (test -> result object, for figures), ``slice_map``,
    ``warnings``.
    """
    import numpy as np

    from phantomqc.mr import acr_geometry, ghosting, lcd, resolution, slice_position, slice_thickness, snr, uniformity
    from phantomqc.mr.localize import acr_slices

    vol = np.stack(slices)
    smap = acr_slices(vol, spacing_mm)
    rot = smap.rotation_deg if rotation_deg is None else float(rotation_deg)
    warnings = list(smap.warnings)
    img = {k: vol[smap.slice_index(k)] for k in range(1, 12)}
    c7 = smap.circle(7)

    def centre(k: int) -> tuple[float, float]:
        try:
            return smap.circle(k).center_px
        except (KeyError, IndexError):
            return c7.center_px

    ms: list[Measurement] = []
    results: dict[str, Any] = {}

    def attempt(test: str, fn: Callable[[], list[Measurement]]) -> None:
        try:
            ms.extend(fn())
        except PhantomQCError as exc:
            warnings.append(f"ACR {test}: {exc.cause if hasattr(exc, 'cause') else exc}")
            ms.extend(_nan(test, str(getattr(exc, "cause", exc))))

    def geometry() -> list[Measurement]:
        # lengths are diameters along the image axes and diagonals (ACR: "horizontal, vertical, diagonals"), so
        # they are measured in the image frame; each slice's centre comes from its own outline
        r1 = acr_geometry.acr_lengths(img[1], spacing_mm, angles_deg=(0, 90), slice_label="slice1")
        r5 = acr_geometry.acr_lengths(img[5], spacing_mm, angles_deg=(0, 90, 45, 135), slice_label="slice5")
        results["geometry"] = (r1, r5)
        return [_q("mr.geometry.length_mm", q, label=lab) for r in (r1, r5) for lab, q in r.lengths_mm.items()]

    def thickness() -> list[Measurement]:
        r = slice_thickness.acr_slice_thickness(img[1], spacing_mm, center_px=centre(1))
        results["slice_thickness"] = r
        return [_q("mr.slice_thickness.mm", r.thickness_mm)]

    def position() -> list[Measurement]:
        out = []
        for k in (1, 11):
            r = slice_position.acr_slice_position(img[k], spacing_mm, center_px=centre(k), rotation_deg=rot)
            results[f"slice_position_{k}"] = r
            out.append(_q("mr.slice_position.bar_difference_mm", r.bar_difference_mm, label=f"slice{k}"))
        return out

    def holes() -> list[Measurement]:
        r = resolution.acr_hole_arrays(img[1], spacing_mm, center_px=centre(1), rotation_deg=rot)
        results["resolution"] = r
        # no size resolved (e.g. a coarse matrix): NaN, with the analyzer's reason as the note
        note = "" if math.isfinite(r.hole_mm.value) else ("; ".join(r.warnings) or "no hole array resolved")
        return [_q("mr.resolution.hole_mm", r.hole_mm, note=note)]

    def mtf() -> list[Measurement]:
        r = resolution.edge_mtf50(img[1], spacing_mm, center_px=centre(1))
        results["mtf"] = r
        warnings.extend(r.warnings)
        q = r.mtf50_mm
        if not math.isfinite(q.value):
            return _nan("mtf", "; ".join(r.warnings) or "the edge MTF did not reach 50 %")
        return [_q("mr.resolution.mtf50_mm", q)]

    def piu() -> list[Measurement]:
        r = uniformity.acr_piu(img[7], spacing_mm, center_px=c7.center_px)
        results["uniformity"] = r
        return [_q("mr.uniformity.piu_percent", r.piu_percent)]

    def ghost() -> list[Measurement]:
        r = ghosting.acr_ghosting(img[7], spacing_mm, center_px=c7.center_px, radius_mm=c7.radius_mm,
                                  phase_encoding_direction=phase_encoding)
        results["ghosting"] = r
        warnings.extend(r.warnings)
        return [_q("mr.ghosting.ratio", r.ratio), _q("mr.ghosting.percent", r.percent)]

    def signal_noise() -> list[Measurement]:
        r = snr.snr_smoothing(img[7], spacing_mm, center_px=c7.center_px, kernel_px=smoothing_kernel_px)
        results["snr"] = r
        out = [_q("mr.snr.smoothing", r.snr)]
        if repeat is not None:
            rvol = np.stack(repeat)
            r2 = snr.snr_subtraction(img[7], rvol[smap.slice_index(7)], spacing_mm, center_px=c7.center_px)
            results["snr_subtraction"] = r2
            out.append(_q("mr.snr.subtraction", r2.snr))
        return out

    def low_contrast() -> list[Measurement]:
        # the four slices together: the spoke pattern turns by a fixed step from slice to slice, and a joint fit
        # keeps a noisy slice from locking one spoke off
        rs = lcd.acr_lcd_series([img[k] for k in (8, 9, 10, 11)], spacing_mm,
                                center_px=[centre(k) for k in (8, 9, 10, 11)], rotation_deg=rot)
        results["lcd"] = tuple(rs)
        out = [_q("mr.lcd.spokes", r.spokes, label=f"slice{k}") for k, r in zip((8, 9, 10, 11), rs)]
        out.append(_q("mr.lcd.spokes", lcd.acr_lcd_total(rs), label="total"))
        return out

    for test, fn in (("geometry", geometry), ("slice_thickness", thickness), ("slice_position", position),
                     ("resolution", holes), ("mtf", mtf), ("uniformity", piu), ("ghosting", ghost),
                     ("snr", signal_noise), ("lcd", low_contrast)):
        attempt(test, fn)
    return {"measurements": ms, "results": results, "slice_map": smap, "warnings": warnings, "rotation_deg": rot}


def run(images: list[ImageData], params: dict) -> TestOutput:
    """Runner for the manifest kind ``mr.acr``."""
    s = mr_series(images, kind="mr.acr")
    if len(s.images) != 11:
        raise InputError(f"mr.acr needs the 11 images of one axial ACR series, got {len(s.images)}")
    if s.orientation not in ("axial", "oblique"):
        raise InputError(f"mr.acr needs an axial series; this one is {s.orientation} (the sagittal localiser is "
                         f"the kind mr.acr_localizer)")
    phase = (params.get("phase_encoding") or s.phase_encoding or "ROW").upper()
    repeat = None
    warnings = list(s.warnings)
    if params.get("repeat"):
        from phantomqc.io.read import read_frames

        # the pipeline hands path_list fields over already decoded (ImageData); a path is read here
        rep_images = [f for p in params["repeat"]
                      for f in ([p] if isinstance(p, ImageData) else read_frames(p))]
        rs = mr_series(rep_images, kind="mr.acr repeat")
        if len(rs.images) != 11 or rs.images[0].pixels.shape != s.images[0].pixels.shape:
            raise InputError("the repeat series must be 11 images of the same matrix as the ACR series")
        repeat = [im.pixels for im in rs.images]
    if not s.phase_encoding and not params.get("phase_encoding"):
        warnings.append("(0018,1312) In-plane Phase Encoding Direction is absent: ghosting assumed along rows; give "
                        "phase_encoding in a manifest")
    out = analyze_acr([im.pixels for im in s.images], s.spacing_mm, phase_encoding=phase, repeat=repeat,
                      rotation_deg=params.get("rotation_deg"),
                      smoothing_kernel_px=int(params.get("smoothing_kernel_px") or 25))
    ms = list(out["measurements"])
    hdr = header_measurements(s)
    if params.get("field_strength_t") is not None:
        hdr = [m for m in hdr if m.id != "mr.field_strength.t"]
        hdr.append(Measurement("mr.field_strength.t", float(params["field_strength_t"]), "T", note="manifest"))
    ms += hdr
    smap = out["slice_map"]
    # the ACR series are T1 (SE, TR 500 ms, TE 20 ms) and T2 (SE, TR 2000 ms, TE 80 ms): recorded, for the report
    weighting = ("T1" if s.tr_ms < 1000.0 and (s.te_ms or 0.0) < 40.0 else
                 "T2" if s.tr_ms >= 1000.0 and (s.te_ms or 0.0) >= 40.0 else "other") if s.tr_ms else "unknown"
    return TestOutput(measurements=tuple(ms), details=out["results"], visuals=_visuals(s, out, repeat),
                      warnings=tuple(warnings + out["warnings"]),
                      parameters={"phase_encoding": phase, "rotation_deg": out["rotation_deg"],
                                  "rotation_method": smap.rotation_method, "slice_map_confidence": smap.confidence,
                                  "reversed": smap.reversed, "weighting": weighting,
                                  "tr_ms": s.tr_ms, "te_ms": s.te_ms, "smoothing_kernel_px":
                                      int(params.get("smoothing_kernel_px") or 25)},
                      phantom="acr_large", analyzer="mr.acr")


def run_localizer(images: list[ImageData], params: dict) -> TestOutput:
    """Runner for ``mr.acr_localizer``: the superior-inferior length on the sagittal localiser."""
    from phantomqc.mr.acr_geometry import sagittal_length

    s = mr_series(images, kind="mr.acr_localizer", single_sagittal_is_localizer=True)
    im = s.images[0]
    iop = im.meta.image_orientation_patient
    axis = "rows"
    if iop is not None and len(iop) == 6:
        # the patient z axis (S-I) runs along the image columns (down the rows) when the column cosine has the
        # larger z component
        axis = "rows" if abs(iop[5]) >= abs(iop[2]) else "cols"
    r = sagittal_length(im.pixels, s.spacing_mm, axis=axis)
    ms = [_q("mr.geometry.length_mm", q, label=lab) for lab, q in r.lengths_mm.items()] \
        if hasattr(r, "lengths_mm") else [_q("mr.geometry.length_mm", r.length_mm, label="sagittal_si")]
    ms += header_measurements(s)
    return TestOutput(measurements=tuple(ms), details=r, warnings=tuple(s.warnings) + tuple(r.warnings),
                      parameters={"axis": axis}, phantom="acr_large", analyzer="mr.acr_localizer")


def _ellipse_line(row: float, col: float, semi_y_px: float, semi_x_px: float, label: str, color: str):
    import numpy as np

    from phantomqc.core.visuals import LineOverlay

    # start and end at the top, where the label is drawn: from the rightmost point it ran off the image edge
    t = np.linspace(-0.5 * np.pi, 1.5 * np.pi, 49)
    return LineOverlay(tuple(float(v) for v in row + semi_y_px * np.sin(t)),
                       tuple(float(v) for v in col + semi_x_px * np.cos(t)), label=label, color=color)


def _snr_visuals(res: dict, image7, repeat7, spacing_mm, circle7=None) -> tuple:
    """Slice 7 with the SNR ROIs (per-ROI SNR of each method) and its noise map: the difference from the repeat
    series when there is one (NEMA MS 1), else the smoothing method's residual ``I - B_k * I`` (McCann 2013)."""
    import numpy as np

    from phantomqc.mr.magnet_visuals import NOISE_WINDOW_SD, smoothing_residual, snr_panels

    smo = res["snr"]
    sub = res.get("snr_subtraction")
    k = smo.parameters.get("kernel_px", 25)
    title = f"ACR slice 7 SNR: smoothing ({k} × {k} px) {smo.snr.value:.1f}"
    if sub is not None:
        title += f", subtraction {sub.snr.value:.1f}\nper-ROI SNR: smoothing | subtraction"
    else:
        title += "\nper-ROI SNR"
    if sub is not None and repeat7 is not None:
        noise = np.asarray(image7, dtype=np.float64) - np.asarray(repeat7, dtype=np.float64)
        sd = math.sqrt(2.0) * sub.noise_sd.value
        what = f"I1 − I2 (repeat series): σ = SD/√2 = {sub.noise_sd.value:.3g}"
    else:
        noise = smoothing_residual(image7, k)
        sd = smo.noise_sd.value
        what = f"I − box{k}(I): σ = {smo.noise_sd.value:.3g}"
    return snr_panels(image7, spacing_mm, (smo,) if sub is None else (smo, sub), noise_image=noise, noise_sd=sd,
                      image_title=title, noise_title=f"ACR slice 7 noise map {what}\nwindow ±{NOISE_WINDOW_SD:g} SD "
                      f"(±{NOISE_WINDOW_SD * sd:.3g}); SNR ROIs green",
                      outline=None if circle7 is None else (tuple(circle7.center_px), float(circle7.radius_mm)))


def _visuals(s, out, repeat=None) -> tuple:
    """Figure specs: slice 1 with the length lines, ramps' rows and wedge bars; the ramp profiles; slice 5 with its
    lengths; slice 7 with the PIU and ghosting ROIs; slice 7 with the SNR ROIs and its noise map; the four LCD
    slices with every disk. A failure of the SNR figures is added to ``out["warnings"]`` (which ``run`` reads
    after this call), never raised."""
    import numpy as np

    from phantomqc.core.visuals import CircleOverlay, Curve, ImagePanel, LineOverlay, Plot

    res, smap = out["results"], out["slice_map"]
    sp = s.spacing_mm
    img = {k: s.images[smap.slice_index(k)].pixels for k in range(1, 12)}
    vis: list = []

    def window(a) -> tuple[float, float]:
        lo, hi = np.percentile(a, (1, 99.5))
        return float(lo), float(hi)

    def length_lines(r, color="tab:cyan") -> list:
        # short labels (H, V, D1, D2, in mm): a long one at the right end of a line ran off the image
        short = {"horizontal": "H", "vertical": "V", "diagonal1": "D1", "diagonal2": "D2"}
        return [LineOverlay((ln.start_px[0], ln.end_px[0]), (ln.start_px[1], ln.end_px[1]),
                            label=f"{short.get(ln.label.split('_', 1)[-1], ln.label.split('_', 1)[-1])} "
                                  f"{ln.length_mm.value:.1f}", color=color)
                for ln in r.lines]

    if "geometry" in res:
        r1, r5 = res["geometry"]
        ov = length_lines(r1)
        th = res.get("slice_thickness")
        notes = []  # the ramps' and bars' values: in the title, as labels they overlapped the length labels
        if th is not None:
            notes.append("ramps (orange) FWHM " + ", ".join(f"{p.fwhm_mm.value:.1f}" for p in th.profiles) + " mm")
            c = th.center_px
            for prof in th.profiles:
                row = c[0] + prof.y_mm / sp[0]
                ov.append(LineOverlay((row, row), (c[1] + prof.left_mm / sp[1], c[1] + prof.right_mm / sp[1]),
                                      color="tab:orange"))
        for k in (1,):
            pos = res.get(f"slice_position_{k}")
            if pos is not None:
                c = pos.center_px
                for bar, colr in ((pos.left, "tab:green"), (pos.right, "tab:red")):
                    x = c[1] + 0.5 * sum(bar.x_range_mm) / sp[1]
                    ov.append(LineOverlay((c[0] + bar.end_y_mm / sp[0], c[0] + pos.wall_y_mm / sp[0]), (x, x),
                                          color=colr))
                notes.append(f"bars L {pos.left.length_mm.value:.1f} (green), R {pos.right.length_mm.value:.1f} (red) mm")
        vis.append(ImagePanel("ACR slice 1: lengths (cyan, mm)" + (": " if notes else "") + "\n".join(notes), img[1],
                              tuple(ov), window=window(img[1]), spacing_mm=sp))
        vis.append(ImagePanel("ACR slice 5: lengths (mm): horizontal H, vertical V, diagonals D1, D2", img[5],
                              tuple(length_lines(r5)), window=window(img[5]), spacing_mm=sp))
    th = res.get("slice_thickness")
    if th is not None:
        curves = tuple(Curve(np.asarray(p.x_mm), np.asarray(p.values), label=f"{p.name}: FWHM {p.fwhm_mm.value:.2f} mm")
                       for p in th.profiles)
        vis.append(Plot(f"Slice-thickness ramps: T = 0.2ab/(a+b) = {th.thickness_mm.value:.2f} mm", curves,
                        "position along the ramp (mm)", "signal"))
    if "uniformity" in res or "ghosting" in res:
        ov = []
        pix = float(np.sqrt(sp[0] * sp[1]))
        u = res.get("uniformity")
        if u is not None:
            # the value goes in the title: a label on the large ROI's top collided with the high ROI's
            ov.append(CircleOverlay(u.large_roi.row, u.large_roi.col, u.large_roi.radius_mm / pix,
                                    color="tab:cyan"))
            ov.append(CircleOverlay(u.high_roi.row, u.high_roi.col, u.high_roi.radius_mm / pix, label="high",
                                    color="tab:red"))
            ov.append(CircleOverlay(u.low_roi.row, u.low_roi.col, u.low_roi.radius_mm / pix, label="low",
                                    color="tab:blue"))
        g = res.get("ghosting")
        if g is not None:
            for e in g.ghost_rois:
                # no label: the right ROI's name ran off the image; the positions name themselves
                ov.append(_ellipse_line(e.row, e.col, e.semi_y_mm / sp[0], e.semi_x_mm / sp[1], "",
                                        "tab:orange"))
        parts = []
        if u is not None:
            parts.append(f"PIU {u.piu_percent.value:.1f} % (cyan ROI; high red, low blue)")
        if g is not None:
            parts.append(f"ghost ratio {g.ratio.value:.4f} (orange ROIs)")
        title = "ACR slice 7: " + "\n".join(parts)
        lo, hi = window(img[7])
        vis.append(ImagePanel(title, img[7], tuple(ov), window=(lo, hi), spacing_mm=sp))
        if g is not None:  # the same slice windowed on the background, where the ghost signal is
            bg = float(np.percentile(img[7], 20))
            pair = str(getattr(g, "phase_pair", "")).replace("_", "/")
            vis.append(ImagePanel(f"ACR slice 7, background window (ghosts)\nphase-encode pair: {pair}; "
                                  f"ghost ratio {g.ratio.value:.4f}", img[7], tuple(ov[3:] if u else ov),
                                  window=(0.0, max(bg * 4.0, 1e-6) if bg > 0 else 0.05 * hi), spacing_mm=sp))
    if "snr" in res:
        try:
            rep7 = None if repeat is None else repeat[smap.slice_index(7)]
            vis.extend(_snr_visuals(res, img[7], rep7, sp, smap.circle(7)))
        except Exception as exc:  # noqa: BLE001 - a figure problem never loses the measurements
            out["warnings"].append(f"figure not drawn: ACR slice 7 SNR: {type(exc).__name__}: {exc}")
    if "lcd" in res:
        from phantomqc.mr.lcd import lcd_panels

        for k, r in zip((8, 9, 10, 11), res["lcd"]):
            vis.extend(lcd_panels(r, img[k], sp))
    return tuple(vis)
