"""A generated month of QC records (reference_phantoms.rubric) against its truth, and the report drawn from it.

The truth is counted from the generator's plan (score chosen first, failed items picked from the form's rule
table), not from phantomqc.rubric.stats, so equality checks scoring, parsing and statistics together. Counts are
integers and compared exactly; percentages are exact ratios of those counts, compared to 1e-9.
"""

import csv
import json
import warnings

import pytest

from phantomqc.report.rubric_figures import find_cjk_font, render_rubric_charts
from phantomqc.report.rubric_html import build_tables, write_rubric_report
from phantomqc.rubric.scoring import read_records
from phantomqc.rubric.stats import rubric_stats
from reference_phantoms.rubric import make_rubric_month


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    out = tmp_path_factory.mktemp("rubric_month")
    records = make_rubric_month(out, month="2026-10", seed=3)
    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    with (out / "exams.csv").open(encoding="utf-8") as fh:
        exams = list(csv.DictReader(fh))
    stats = rubric_stats(read_records(records), month="2026-10", exams=exams)
    return out, truth, stats


def test_month_statistics_equal_the_plan(month):
    _, truth, stats = month
    got = sorted((r["staff"], r["staff_role"], r["device_type"], r["score"], r["count"])
                 for r in stats["score_distribution"] if r["count"])
    want = sorted((r["staff"], r["staff_role"], r["device_type"], r["score"], r["count"])
                  for r in truth["score_distribution"])
    assert got == want
    assert stats["n_records"] == truth["n_score_records"]
    assert stats["n_other_records"] == truth["n_other_records"]  # application-form records counted apart
    rates = {(r["staff"], r["staff_role"]): r for r in stats["quality_rates"]}
    for t in truth["pass_percent"]:
        r = rates[(t["staff"], t["staff_role"])]
        assert r["qc_count"] == t["qc_count"]
        assert r["pass_percent"] == pytest.approx(t["pass_percent"], abs=1e-9)
    m = stats["monthly"][0]
    assert (m["sampled_count"], m["passed_count"]) == (truth["monthly"]["sampled_count"],
                                                       truth["monthly"]["passed_count"])
    assert {d["item"]: d["count"] for d in stats["deductions"] if d["count"]} == truth["deductions"]
    assert sorted((w["staff"], w["device_type"], w["exams"]) for w in stats["workload"]) == \
        sorted((w["staff"], w["device_type"], w["exams"]) for w in truth["workload"])
    assert stats["workload_totals"]["total"] == truth["n_exams"]


def test_bad_rows_rejected_with_row_and_reason_rest_counted(month):
    _, truth, stats = month
    got = {r["row"]: r["message"] for r in stats["rejected"]}
    assert sorted(got) == [b["row"] for b in truth["rejected_rows"]]
    reasons = {"unknown form": "unknown form", "bad date": "is not a date",
               "score disagrees with failed_items": "disagrees with failed_items"}
    for b in truth["rejected_rows"]:
        assert f"row {b['row']}:" in got[b["row"]] and reasons[b["reason"]] in got[b["row"]]
        assert "qc_records.csv" in got[b["row"]]  # names the file


def test_tables_totals_rows_match_statistics(month):
    _, truth, stats = month
    tables = {t["id"]: t for t in build_tables(stats)}
    fig2 = tables["fig2_technologist"]
    total_row = fig2["rows"][-1]
    assert total_row[0] == "合计"
    devices = sorted({r["device_type"] for r in stats["score_distribution"] if r["staff_role"] == "technologist"})
    for i, dev in enumerate(devices):
        for j, score in enumerate((5, 4, 3, 2, 1)):
            want = sum(r["count"] for r in truth["score_distribution"]
                       if r["staff_role"] == "technologist" and r["device_type"] == dev and r["score"] == score)
            assert total_row[1 + 5 * i + j] == want
    fig5 = tables["fig5"]
    assert fig5["rows"][-1][:2] == ["合计", truth["n_exams"]]
    fig7 = tables["fig7_technologist"]
    for row in fig7["rows"]:  # one decimal, as figure 7 prints
        for cell in row[2:]:
            assert cell == "—" or len(cell.partition(".")[2]) <= 1


def test_charts_have_chinese_glyphs_and_files(month, tmp_path):
    _, _, stats = month
    font = find_cjk_font()
    assert font.available, font.message  # mplfonts is a declared dependency
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = render_rubric_charts(stats, tmp_path)
    missing = [str(w.message) for w in caught if "missing from" in str(w.message)]
    assert not missing  # matplotlib warns "Glyph ... missing from font" when a Chinese label would be a box
    ids = [c["id"] for c in res["charts"]]
    assert ids == ["monthly", "fig2_technologist", "fig4", "fig6", "fig8_technologist", "fig2_doctor", "fig8_doctor"]
    for c in res["charts"]:
        data = open(c["path"], "rb").read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


@pytest.mark.filterwarnings("ignore:Glyph")  # without a CJK font matplotlib warns once per missing glyph: expected
def test_without_cjk_font_charts_say_so(month, tmp_path, monkeypatch):
    import phantomqc.report.rubric_figures as rf

    _, _, stats = month
    none = rf.CjkFont(None, None, "none", "No CJK font was found (test)")
    monkeypatch.setattr(rf, "find_cjk_font", lambda: none)
    res = rf.render_rubric_charts(stats, tmp_path)
    assert res["font"]["message"] == "No CJK font was found (test)"
    assert res["charts"][1]["title"] == "Fig. 2 QC score distribution"  # English titles, not boxes
    html = write_rubric_report(tmp_path / "rep", stats=stats).read_text(encoding="utf-8")
    assert "No CJK font was found (test)" in html


def test_report_is_self_contained_and_lists_rejected_rows(month, tmp_path):
    _, truth, stats = month
    html_path = write_rubric_report(tmp_path, stats=stats, sources=["qc_records.csv"])
    html = html_path.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert html.count("data:image/png;base64,") == 7
    for b in truth["rejected_rows"]:
        assert f"row {b['row']}:" in html
    with (tmp_path / "tables" / "fig7_technologist.csv").open(encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:2] == ["技师", "被质控数"]
    counts = {r["staff"]: r["qc_count"] for r in stats["quality_rates"] if r["staff_role"] == "technologist"}
    assert {r[0]: int(r[1]) for r in rows[1:]} == counts
    doc = json.loads((tmp_path / "rubric.json").read_text(encoding="utf-8"))
    assert doc["stats"]["schema"] == "phantomqc.rubric_stats/1" and len(doc["charts"]) == 7


def test_nm_month_rates_equal_the_plan(tmp_path):
    from phantomqc.rubric.nm import nm_indicators, read_cases
    from reference_phantoms.rubric import make_nm_month

    path = make_nm_month(tmp_path, month="2026-10", seed=5)
    truth = json.loads((tmp_path / "nm_truth.json").read_text(encoding="utf-8"))["indicators"]
    cases, errors = read_cases(path)
    assert not errors
    doc = nm_indicators(cases, month="2026-10")
    for ind in doc["indicators"]:
        t = truth[ind["id"]]
        assert (ind["numerator"], ind["denominator"]) == (t["numerator"], t["denominator"])
        assert ind["rate_percent"] == pytest.approx(100 * t["numerator"] / t["denominator"], abs=1e-9)


def test_sample_reports_each_flag_their_rule(tmp_path):
    from phantomqc.rubric.checks import check_reports
    from reference_phantoms.rubric import make_sample_reports

    expected = {"01": set(), "02": {"laterality_mismatch"}, "03": {"vague_phrase"}, "04": {"sex_specific_organ"},
                "05": {"conclusion_order"}, "06": {"prior_without_date"}, "07": set(),
                "08": {"petct_glucose_missing"}, "09": {"cmr_grade_contradiction"}}
    doc = check_reports(make_sample_reports(tmp_path))
    got = {}
    for r in doc["results"]:
        res = r["result"]
        got[r["path"].rsplit("/", 1)[-1][:2]] = {f["rule"] for f in res["findings"] if f["severity"] != "info"}
        assert res["passed"] == (not got[r["path"].rsplit("/", 1)[-1][:2]])
    assert got == expected
