"""The HTML report: content, self-containment, escaping, embedded figures, resilience."""

from __future__ import annotations

import base64
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from phantomqc.report.html import build_context, format_value, overall_status, write_html

ROOT = Path(__file__).resolve().parents[2]
# 6.4 x 4.8 in at the default 110 dpi (figures.FIGSIZE_IN); savefig keeps the size (no tight bbox).
EXPECTED_PNG_SIZE = (704, 528)
DATA_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def html(report_dir) -> str:
    return (report_dir / "report.html").read_text(encoding="utf-8")


def test_report_is_written(report_dir, html):
    assert (report_dir / "report.html").is_file()
    assert html.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in html


def test_header_content(consts, html):
    assert consts.PROFILE_ID in html
    assert "2024.1" in html  # profile version
    assert consts.VERSION in html
    assert "2024-05-01T10:20:00+08:00" in html
    assert "状态检测" in html and "Status test" in html
    assert "WS 76-2020" in html  # profile source
    for device_fact in ("ACME Imaging", "DR-ROOM-3", "SN-0042"):
        assert device_fact in html


def test_every_measurement_and_status_is_shown(results, html):
    for r in results:
        for m in r.measurements:
            assert m.id in html
    assert "badge-pass" in html and "badge-fail" in html and "badge-not_evaluated" in html
    assert "needs a baseline" in html  # the not-evaluated reason
    assert html.count("tag-unconfirmed") >= 2  # the legend and the one unconfirmed verdict
    # counts: 2 pass, 1 fail, 1 not evaluated, 1 input error; the overall banner is FAIL
    assert re.search(r'count-pass"><span class="n">2<', html)
    assert re.search(r'count-fail"><span class="n">1<', html)
    assert re.search(r'count-ne"><span class="n">1<', html)
    assert re.search(r'count-err"><span class="n">1<', html)
    assert 'banner-fail' in html


def test_values_are_formatted_with_units(html):
    assert "101.2" in html and "101.23456" not in html
    assert "1.235\u00a01/mm" in html  # verdict value taken from the measurement, with its unit
    assert "12346\u00a0%" in html
    assert "± 0.012" in html


def test_error_is_prominent(consts, html):
    assert "callout-error" in html
    assert "InvalidImageError" in html
    assert consts.ERROR_MESSAGE in html


def test_input_files_and_uids(results, html):
    for r in results:
        for p in r.input.paths:
            assert p in html
        for uid in r.input.sop_instance_uids:
            assert uid in html
    assert results[0].input.series_instance_uid in html


def test_provenance_footer(consts, html):
    footer = html[html.index('<footer class="provenance">'):]
    assert consts.VERSION in footer and consts.PROFILE_ID in footer
    assert "phantomqc analyze manifest.toml --html out/" in footer
    assert "/data/dr/dark.dcm" in footer


def test_html_is_escaped(consts, html):
    assert "<script>" not in html
    assert "&lt;script&gt;alert(" in html
    assert consts.SCRIPT_WARNING.split("<")[0] in html


def test_self_contained(html):
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert not re.search(r'(src|href)="(?!data:|#)', html), "only data URIs and in-page anchors allowed"
    assert "http://" not in html and "https://" not in html


def test_figures_embedded_and_on_disk(report_dir, results, html):
    uris = DATA_URI.findall(html)
    n_ok = len(results[0].visuals) - 1  # one spec is broken
    assert len(uris) == n_ok
    for b64 in uris:
        assert _png_size(base64.b64decode(b64)) == EXPECTED_PNG_SIZE
    files = sorted((report_dir / "figures").glob("*.png"))
    assert [f.name for f in files] == ["01_dr_dark_noise_1.png", "01_dr_dark_noise_2.png",
                                       "01_dr_dark_noise_3.png", "01_dr_dark_noise_5.png"]
    for f, b64 in zip(files, uris):
        assert f.read_bytes() == base64.b64decode(b64)


def test_broken_visual_is_noted_not_fatal(consts, html):
    assert "figure-failure" in html
    assert consts.BROKEN_TITLE in html
    assert "5 x values but 7 y values" in html
    assert "Figure 1.5" in html  # the figure after the broken one is still drawn


def test_missing_keys_are_tolerated(tmp_path):
    path = write_html({}, [], tmp_path)
    text = path.read_text(encoding="utf-8")
    assert "INCOMPLETE" in text and "not recorded" in text
    # an analysis with almost nothing in it
    path = write_html({"analyses": [{"kind": "ct.water", "verdicts": [{"measurement": "ct.water.mean_hu"}]}],
                       "profile": "not a dict"}, [], tmp_path)
    assert "ct.water.mean_hu" in path.read_text(encoding="utf-8")


def test_document_without_analyses_uses_results(tmp_path, results):
    ctx = build_context({"profile": {"id": "x"}}, results)
    assert [a["kind"] for a in ctx["analyses"]] == ["dr.dark_noise", "dr.signal_transfer"]
    assert ctx["counts"] == {"pass": 2, "fail": 1, "not_evaluated": 1, "no_limit": 0}


def test_mismatched_result_count_is_noted(document, results):
    ctx = build_context(document, results[:1])
    assert any("2 analyses but 1 results" in n for n in ctx["notes"])


@pytest.mark.parametrize("n_fail, n_error, n_verdicts, n_open, expected", [
    (0, 0, 3, 0, "PASS"), (1, 0, 3, 0, "FAIL"), (1, 1, 3, 0, "FAIL"), (0, 1, 3, 0, "INCOMPLETE"),
    (0, 0, 0, 0, "INCOMPLETE"), (0, 0, 3, 1, "INCOMPLETE"), (1, 0, 3, 1, "FAIL"),
])
def test_overall_status(n_fail, n_error, n_verdicts, n_open, expected):
    assert overall_status(n_fail, n_error, n_verdicts, n_open) == expected


def test_a_criterion_that_could_not_be_applied_makes_the_report_incomplete(tmp_path):
    from phantomqc.core.types import AnalysisResult, InputInfo, Verdict

    ok = Verdict("dr.artifacts.count", None, "pass", "x ≤ 0", "WS 76-2020")
    info = Verdict("dr.mtf.at_nyquist", "horizontal", "not_evaluated", "—", "p", reason="no limit",
                   has_criterion=False)
    open_ = Verdict("dr.dark_noise.mean_pv", None, "not_evaluated", "x/spec ≤ 1", "WS 76-2020",
                    reason="needs the manufacturer's specification")
    r = AnalysisResult(InputInfo(("a.dcm",)), "dr.x", "dr.x", verdicts=(ok, info))
    text = write_html({"analyses": [r.to_dict()]}, [], tmp_path).read_text(encoding="utf-8")
    assert "banner-pass" in text  # an informational value alone does not block PASS
    r = AnalysisResult(InputInfo(("a.dcm",)), "dr.x", "dr.x", verdicts=(ok, info, open_))
    text = write_html({"analyses": [r.to_dict()]}, [], tmp_path).read_text(encoding="utf-8")
    assert "banner-incomplete" in text and "could not be applied" in text


def test_pass_banner(tmp_path, results):
    r = results[0]
    passing = [v.to_dict() for v in r.verdicts if v.status == "pass"]
    doc = {"analyses": [dict(r.to_dict(), verdicts=passing)], "profile": {"test_type": "acceptance"}}
    text = write_html(doc, [], tmp_path).read_text(encoding="utf-8")
    assert "banner-pass" in text and "验收检测" in text


@pytest.mark.parametrize("value, expected", [
    (0.123456, "0.1235"), (1234.56, "1235"), (12345.6, "12346"), (101.23456, "101.2"), (9.99996, "10.00"),
    (-3.14159, "-3.142"), (0.0, "0"), (2.0e-5, "2.000e-05"), (3.2e10, "3.200e+10"), (None, "—"),
    (float("nan"), "—"), (float("inf"), "∞"), ("abc", "—"), (True, "—"), (-0.00001234, "-1.234e-05"),
])
def test_format_value(value, expected):
    assert format_value(value) == expected


def test_import_is_cheap():
    code = ("import sys, phantomqc.report, phantomqc.report.html, phantomqc.report.figures; "
            "print('matplotlib' in sys.modules, 'jinja2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT)}, check=True).stdout.split()
    assert out == ["False", "False"]
