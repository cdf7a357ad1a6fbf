"""Scoring rules at their boundaries, and per-row rejection of bad QC records."""

import json

import pytest

from phantomqc._shared.errors import InputError
from phantomqc.rubric.forms import get_form
from phantomqc.rubric.scoring import RECORD_COLUMNS, parse_records, read_records, score_form


def _unmet(form_id, n):
    return [i.code for i in get_form(form_id).criteria_items[:n]]


# ---- seed 001 application: any one item -> 不合格 ----
def test_application_pass_fail():
    assert score_form("application", "").verdict == "合格"
    for i in range(1, 6):
        r = score_form("application", f"application.item.{i}")
        assert not r.passed and r.verdict == "不合格" and r.score is None


# ---- severe -> 1 in every graded form ----
@pytest.mark.parametrize("form_id", ["image_quality", "film_layout", "reconstruction_3d", "report_quality",
                                     "report_review"])
def test_any_severe_gives_1(form_id):
    f = get_form(form_id)
    for item in f.severe_items:
        r = score_form(f, [item.code])
        assert r.score == 1 and r.severe and not r.passed
    # severe overrides all criteria satisfied
    assert score_form(f, [f.severe_items[-1].code]).score == 1


# expected score by number of criteria NOT met, from Appendix A (last entry = 0 satisfied, our choice where open)
@pytest.mark.parametrize("form_id,by_unmet", [
    ("image_quality", [5, 4, 3, 3, 2, 1]),      # 5 ok; 1 不符合 4; 2-3 符合 3; 1 符合 2; 0 符合: choice 1
    ("film_layout", [5, 4, 3, 2, 1]),           # 0 satisfied: choice 1
    ("reconstruction_3d", [5, 4, 3, 2, 1]),     # 0 satisfied: choice 1
    ("report_review", [5, 4, 3, 2, 1]),         # 0 satisfied: choice 1
    ("report_quality", [5, 4, 3, 2, 1]),        # 5 minus 1 per unmet, down to 1 (seed covers 0 satisfied)
])
def test_count_rules(form_id, by_unmet):
    for unmet, expected in enumerate(by_unmet):
        r = score_form(form_id, _unmet(form_id, unmet))
        assert r.score == expected, (form_id, unmet)
        assert r.passed == (expected >= 3)
        assert r.satisfied == len(by_unmet) - 1 - unmet


def test_report_quality_floor_is_1_not_0():
    f = get_form("report_quality")
    assert f.rule.floor_score == 1 and f.rule.full_score - f.rule.deduct_per_unmet * len(f.criteria_items) == 1
    assert score_form(f, [i.code for i in f.criteria_items]).score == 1


# ---- points sheets at the failing boundary ----
@pytest.mark.parametrize("form_id,fails", [
    ("report_b1", ["report_b1.item.6:-9"], ),            # 30 - 9 = 21
    ("cmr_report", ["cmr_report.item.4", "cmr_report.item.6"]),  # 100 - 20 - 20 = 60
    ("cmr_film", ["cmr_film.item.1:-20", "cmr_film.item.4"]),    # 100 - 20 - 20 = 60
])
def test_points_boundary(form_id, fails):
    f = get_form(form_id)
    at = score_form(f, fails)
    assert at.score == f.rule.pass_min_score and at.passed and at.verdict == "合格"
    # one more point lost -> below the threshold -> 不合格
    extra = [c for c in f.codes if c not in {x.split(":")[0] for x in fails}][0]
    below = score_form(f, fails + [f"{extra}:-1"])
    assert below.score == f.rule.pass_min_score - 1 and not below.passed and below.verdict == "不合格"


def test_points_full_and_whole_item():
    assert score_form("report_b1", "").score == 30
    assert score_form("report_b1", "report_b1.item.7").score == 20
    assert score_form("report_b1", "report_b1.item.1;report_b1.item.3:-1").score == 27
    assert score_form("cmr_report", [f"cmr_report.item.{i}" for i in range(1, 8)]).score == 0


@pytest.mark.parametrize("fails,needle", [
    ("report_b1.item.1:-3", "1..2"),
    ("report_b1.item.1:-0", "1..2"),
    ("report_b1.item.1;report_b1.item.1", "twice"),
    ("report_b1.item.1:3", "code:-N"),
])
def test_bad_deductions(fails, needle):
    with pytest.raises(InputError, match=needle):
        score_form("report_b1", fails)


def test_partial_deduction_refused_on_graded_form():
    with pytest.raises(InputError, match="score sheets"):
        score_form("film_layout", "film_layout.item.1:-1")


# ---- PET/CT checklist ----
def test_petct_checklist():
    assert score_form("petct_report_elements", "", tracer="18F-FDG").score == 22
    r = score_form("petct_report_elements", "", tracer="68Ga-PSMA")
    assert (r.score, r.max_score, r.passed, r.verdict) == (21, 21, True, "完整")
    r = score_form("petct_report_elements", "petct_report_elements.item.22;petct_report_elements.item.3")
    assert (r.score, r.max_score, r.passed, r.verdict) == (20, 22, False, "不完整")  # empty tracer -> FDG
    assert r.failed_items == ("petct_report_elements.item.22", "petct_report_elements.item.3")
    with pytest.raises(InputError, match="applies only to 18F-FDG"):
        score_form("petct_report_elements", "petct_report_elements.item.22", tracer="68Ga-PSMA")


# ---- records ----
def _row(**kw):
    base = dict(exam_id="E1", exam_date="2024-09-08", device_type="CT", exam_part="头颅", staff="A1",
                staff_role="technologist", qc_person="Q1", form="image_quality", score="",
                failed_items="", comment="")
    base.update(kw)
    return base


def test_score_computed_when_empty_and_accepted_when_agreeing():
    rs = parse_records([_row(failed_items="image_quality.item.1"), _row(score="4", failed_items="image_quality.item.1"),
                        _row(form="application", score="不合格", failed_items="application.item.2")])
    assert not rs.errors
    assert [r.score for r in rs.records] == [4, 4, None]
    assert rs.records[2].result.verdict == "不合格"


@pytest.mark.parametrize("kw,needle", [
    (dict(form="nope"), "unknown form 'nope'"),
    (dict(failed_items="image_quality.item.9"), "unknown item code 'image_quality.item.9'"),
    (dict(failed_items="film_layout.item.1"), "belongs to form 'film_layout'"),
    (dict(score="6"), "out of range"),
    (dict(score="0"), "out of range"),
    (dict(form="report_b1", score="31"), r"out of range .* \(0\.\.30\)"),
    (dict(score="3.5"), "not a whole number"),
    (dict(score="5", failed_items="image_quality.severe.2"), "disagrees with failed_items"),
    (dict(form="application", score="合格", failed_items="application.item.1"), "disagrees"),
    (dict(form="application", score="3"), "must be '合格' or '不合格'"),
    (dict(exam_date="2024-13-01"), "exam_date '2024-13-01' is not a date"),
    (dict(exam_date="08/09/2024"), "not a date"),
    (dict(staff_role="nurse"), "staff_role 'nurse'"),
    (dict(exam_id=""), "'exam_id' is empty"),
])
def test_bad_record_rejected_rest_processed(kw, needle):
    rs = parse_records([_row(), _row(**kw), _row(exam_id="E3")])
    assert [r.exam_id for r in rs.records] == ["E1", "E3"]
    assert len(rs.errors) == 1 and rs.errors[0].row == 2
    assert rs.errors[0].message.startswith("row 2: ")
    assert isinstance(rs.errors[0].error, InputError)
    import re
    assert re.search(needle, rs.errors[0].message), rs.errors[0].message


def test_csv_rows_numbered_like_a_spreadsheet(tmp_path):
    p = tmp_path / "qc.csv"
    lines = [",".join(RECORD_COLUMNS),
             "E1,2024-09-08,CT,头颅,张三,technologist,李四,image_quality,,image_quality.item.1;image_quality.item.2,",
             "E2,2024-09-31,MR,膝,王五,doctor,李四,report_quality,5,,日期错",
             "E3,20240909,DR,胸,赵六,doctor,李四,report_b1,20,report_b1.item.6,"]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rs = read_records(p)
    assert [(r.exam_id, r.score) for r in rs.records] == [("E1", 3), ("E3", 20)]
    assert rs.records[0].staff == "张三" and rs.records[1].exam_date.isoformat() == "2024-09-09"
    assert [e.row for e in rs.errors] == [3] and "not a date" in rs.errors[0].message
    assert str(p) in rs.errors[0].message
    assert not rs.records[1].result.passed  # B.1: 20 < 21


def test_csv_bom_and_missing_column(tmp_path):
    p = tmp_path / "qc.csv"
    p.write_text(",".join(RECORD_COLUMNS) + "\nE1,2024-09-08,CT,,A,doctor,,film_layout,,,\n", encoding="utf-8-sig")
    assert read_records(p).records[0].score == 5
    p.write_text("exam_id,form\nE1,film_layout\n", encoding="utf-8")
    with pytest.raises(InputError, match="lacks columns"):
        read_records(p)


def test_json_records(tmp_path):
    p = tmp_path / "qc.json"
    recs = [_row(failed_items=["image_quality.severe.1"], score=1),
            _row(form="petct_report_elements", tracer="18F-FDG", failed_items="petct_report_elements.item.22",
                 score=21),
            "not an object",
            _row(score=None, form="cmr_film", failed_items="cmr_film.item.1;cmr_film.item.2")]
    p.write_text(json.dumps({"records": recs}, ensure_ascii=False), encoding="utf-8")
    rs = read_records(p)
    assert [r.score for r in rs.records] == [1, 21, 50]
    assert not rs.records[2].result.passed  # 50 < 60
    assert [e.row for e in rs.errors] == [3]


def test_unreadable_files(tmp_path):
    p = tmp_path / "qc.json"
    p.write_text("{", encoding="utf-8")
    with pytest.raises(InputError, match="not valid JSON"):
        read_records(p)
    q = tmp_path / "qc.xlsx"
    q.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="expected .csv or .json"):
        read_records(q)
