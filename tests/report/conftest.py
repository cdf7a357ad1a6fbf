"""Hand-built analysis results for the report tests (and for rendering an example report by hand:
``python tests/report/conftest.py /tmp/report_example``)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from phantomqc.core.types import AnalysisResult, InputInfo, Measurement, Verdict
from phantomqc.core.visuals import Band, CircleOverlay, Curve, ImagePanel, MapPanel, Plot, RectOverlay

PROFILE_ID = "taiyuan-2024"
VERSION = "0.1.0-test"
ERROR_MESSAGE = "/data/broken/k99.dcm: (7FE0,0010) Pixel Data is missing; re-export the image with pixels"
SCRIPT_WARNING = "ImageComments was <script>alert('x')</script> & more"
BROKEN_TITLE = "Broken curve spec"


def make_results() -> list[AnalysisResult]:
    rng = np.random.default_rng(1234)
    img = rng.normal(1000.0, 12.0, size=(200, 240)).astype(np.float32)
    panel = ImagePanel(
        title="Dark image with ROIs", image=img,
        overlays=(RectOverlay(20, 30, 40, 40, "ROI centre"),
                  RectOverlay(120, 150, 50, 60, "ROI corner", color="tab:green"),
                  CircleOverlay(100, 120, 25, "disc")),
        spacing_mm=(0.143, 0.143))
    defect = rng.random((60, 80)) > 0.985
    map_panel = MapPanel(title="Defective pixels", mask=defect, background=img)
    f = np.linspace(0.0, 3.5, 120)
    mtf_h = np.exp(-0.8 * f)
    mtf_v = np.exp(-0.9 * f)
    mtf_v[50:55] = np.nan  # NaN must break the line, not the figure
    mtf = Plot(title="Pre-sampled MTF", curves=(Curve(f, mtf_h, "horizontal"), Curve(f, mtf_v, "vertical", "points")),
               x_label="spatial frequency (1/mm)", y_label="MTF",
               refs=(Band("y", 0.5, "MTF 50 %"), Band("x", 3.5, "Nyquist 3.5 /mm")), notes=("edge angle 2.1°",))
    nps = Plot(title="Normalised NPS", curves=(Curve(f, 2e-5 * np.exp(-f) + 1e-7, "NNPS", "step"),),
               x_label="spatial frequency (1/mm)", y_label="NNPS (mm²)", log_y=True)
    broken = Plot(title=BROKEN_TITLE, curves=(Curve(np.arange(5.0), np.arange(7.0), "bad"),), x_label="x", y_label="y")

    dr = AnalysisResult(
        input=InputInfo(paths=("/data/dr/dark.dcm", "/data/dr/k10.dcm"),
                        series_instance_uid="1.2.826.0.1.3680043.8.498.1",
                        modality="DX", manufacturer="ACME Imaging", station_name="DR-ROOM-3",
                        device_serial_number="SN-0042", acquisition_datetime="20240501T101500",
                        sop_instance_uids=("1.2.826.0.1.3680043.8.498.1.1", "1.2.826.0.1.3680043.8.498.1.2"),
                        spacing_source="ImagerPixelSpacing", presentation_intent="FOR PROCESSING"),
        analyzer="dr.dark_noise", kind="dr.dark_noise", phantom=None, identified_by="manifest kind",
        measurements=(
            Measurement("dr.dark_noise.mean_pv", 101.23456, "1", uncertainty=0.0123),
            Measurement("dr.dark_noise.std_pv", 3.4567, "1"),
            Measurement("dr.mtf.f50_per_mm", 1.23456789, "1/mm", label="horizontal"),
            Measurement("dr.uniformity.max_dev_percent", 12345.678, "%"),
            Measurement("dr.lag.ratio_percent", float("nan"), "%", note="lag image missing"),
        ),
        verdicts=(
            Verdict("dr.dark_noise.mean_pv", None, "pass", "x <= 200", "WS 76-2020 4.1 table 2",
                    value=101.23456, unit="1", test_type="status"),
            Verdict("dr.dark_noise.std_pv", None, "fail", "x <= 2", "WS 76-2020 4.1 table 2",
                    value=3.4567, unit="1", test_type="status"),
            Verdict("dr.mtf.f50_per_mm", "horizontal", "not_evaluated", "baseline ± 10 %", "WS 76-2020 4.7",
                    reason="needs a baseline", test_type="status"),
            Verdict("dr.uniformity.max_dev_percent", None, "pass", "x <= 20000 %", "Taiyuan seed 5.3",
                    test_type="status", confirmed=False),
        ),
        warnings=(SCRIPT_WARNING, "pixel spacing from ImagerPixelSpacing (detector plane)"),
        parameters={"roi_size_mm": 10.0, "edge_offset_mm": 15, "rois": ["centre", "corner"]},
        visuals=(panel, map_panel, mtf, broken, nps),
    )
    failed = AnalysisResult(
        input=InputInfo(paths=("/data/broken/k99.dcm",)), analyzer="", kind="dr.signal_transfer",
        error={"type": "InvalidImageError", "message": ERROR_MESSAGE, "path": "/data/broken/k99.dcm"})
    return [dr, failed]


def make_document(results: list[AnalysisResult]) -> dict:
    return {
        "schema": "phantomqc.analysis/1",
        "phantomqc_version": VERSION,
        "profile": {"id": PROFILE_ID, "version": "2024.1", "title": "Taiyuan DR QC profile",
                    "test_type": "status", "source": {"standard": "WS 76-2020", "clause": "4"}},
        "generated_at": "2024-05-01T10:20:00+08:00",
        "command": ["phantomqc", "analyze", "manifest.toml", "--html", "out/"],
        "analyses": [r.to_dict() for r in results],
        "summary": {"pass": 2, "fail": 1, "not_evaluated": 1},
    }


@pytest.fixture(scope="session")
def consts() -> SimpleNamespace:
    """The strings the tests look for (test modules do not import conftest, so that any pytest
    import mode works)."""
    return SimpleNamespace(PROFILE_ID=PROFILE_ID, VERSION=VERSION, ERROR_MESSAGE=ERROR_MESSAGE,
                           SCRIPT_WARNING=SCRIPT_WARNING, BROKEN_TITLE=BROKEN_TITLE)


@pytest.fixture(scope="session")
def results() -> list[AnalysisResult]:
    return make_results()


@pytest.fixture(scope="session")
def document(results) -> dict:
    return make_document(results)


@pytest.fixture(scope="session")
def report_dir(tmp_path_factory, document, results) -> Path:
    from phantomqc.report.html import write_html

    out = tmp_path_factory.mktemp("report")
    write_html(document, results, out)
    return out


if __name__ == "__main__":  # render an example report to look at
    from phantomqc.report.html import write_html

    res = make_results()
    print(write_html(make_document(res), res, Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/report_example")))
