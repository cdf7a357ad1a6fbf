"""Seed 000 nuclear-medicine indicators NM-01 to NM-08 on a hand-counted case file.

tests/rubric/data/nm_cases.csv holds 49 cases over 2025-03 and 2025-04. Every count below was made by reading that
file row by row (the comment after each count names the cases), not by re-running the library's filters. Rates are
compared with pytest.approx(rel=1e-12): the expected value is the same ratio of two small integers, so the only
possible difference is the last bit of float rounding.
"""

import csv
import json
import shutil
from pathlib import Path

import pytest

from phantomqc._shared.errors import InputError, ProfileError
from phantomqc.rubric.nm import NM_RULES_TOML, SCHEMA, load_nm_rules, nm_indicators, parse_cases, read_cases

DATA = Path(__file__).with_name("data") / "nm_cases.csv"
IDS = ("NM-01", "NM-02", "NM-03", "NM-04", "NM-05", "NM-06", "NM-07", "NM-08")

# (numerator, denominator) per indicator, counted by hand from nm_cases.csv.
MARCH = {
    "NM-01": (1, 4),  # bone scans B01-B04; extravasation only B02 (是)
    "NM-02": (2, 4),  # DTC T01-T04; TSH > 30: T01 45.2, T03 30.1 (T02 = 30 is not > 30, T04 12.5)
    "NM-03": (2, 3),  # items performed+organised: TSH, FT3, FT4 (Tg not organised, CA125 not performed);
                      # participated: TSH, FT4 (FT3 否)
    "NM-04": (2, 3),  # SPECT S01-S03; pass S01, S03
    "NM-05": (2, 4),  # PET/CT images P01-P04; pass P01, P02
    "NM-06": (1, 2),  # lymphoma D01, D02; scored D01
    "NM-07": (3, 4),  # reports R01-R04; complete R01 (FDG, none missing), R03 (PSMA, none missing, no glucose
                      # needed), R04 (flag 是); R02 is FDG without 血糖浓度 (item.22)
    "NM-08": (1, 2),  # inpatients F01-F03; with pathology F01, F02 (F03 none); concordant F01
}
APRIL = {
    "NM-01": (1, 3),  # B05-B07; extravasation B05 (1)
    "NM-02": (1, 3),  # T05-T07; TSH > 30: T05 80 (T06 22, T07 29.9)
    "NM-03": (2, 2),  # TSH and FT3 organised and performed, both participated (Tg not organised)
    "NM-04": (2, 2),  # S04, S05 both Y
    "NM-05": (1, 1),  # P05 true
    "NM-06": (2, 2),  # D03, D04 both 是
    "NM-07": (1, 3),  # R05-R07; complete only R07 (flag 1); R05 blank tracer = FDG, lacks item.22; R06 lacks 10, 11
    "NM-08": (2, 2),  # F04-F06; pathology F04, F05 (F06 none); both concordant
}
OVERALL = {
    "NM-01": (2, 7),  # B02, B05 of B01-B07
    "NM-02": (3, 7),  # T01, T03, T05 of T01-T07; T02 (30, metastases) and T04 (12.5, metastases) stay in the
                      # denominator
    "NM-03": (2, 3),  # distinct items TSH, FT3, FT4; FT3 skipped the March round, so only TSH and FT4 took part
                      # in every organised round of the period
    "NM-04": (4, 5),  # S01, S03, S04, S05 of S01-S05
    "NM-05": (3, 5),  # P01, P02, P05 of P01-P05
    "NM-06": (3, 4),  # D01, D03, D04 of D01-D04
    "NM-07": (4, 7),  # R01, R03, R04, R07 of R01-R07
    "NM-08": (3, 4),  # F01, F04, F05 of F01, F02, F04, F05 (F03, F06 have no pathology)
}
NAMES = {
    "NM-01": "全身骨显像静脉注射放射性药物外渗率",
    "NM-03": "核医学实验室室间质量评价项目参加率",
    "NM-08": "住院患者首次行 18F-FDG PET/CT 诊断符合率",
}


def _doc(path=DATA, **kw):
    cases, errors = read_cases(path)
    return nm_indicators(cases, errors=errors, **kw)


def _check(indicators, expected):
    assert [i["id"] for i in indicators] == list(IDS)
    for ind in indicators:
        num, den = expected[ind["id"]]
        assert (ind["id"], ind["numerator"], ind["denominator"]) == (ind["id"], num, den)
        assert ind["rate_percent"] == pytest.approx(100.0 * num / den, rel=1e-12)


def test_overall_rates_by_hand():
    doc = _doc()
    assert doc["schema"] == SCHEMA and doc["month"] is None and doc["errors"] == []
    _check(doc["indicators"], OVERALL)
    for ind in doc["indicators"]:
        assert ind["note"] is None
        if ind["id"] in NAMES:
            assert ind["name"] == NAMES[ind["id"]]
    rates = {i["id"]: round(i["rate_percent"], 1) for i in doc["indicators"]}
    assert rates == {"NM-01": 28.6, "NM-02": 42.9, "NM-03": 66.7, "NM-04": 80.0, "NM-05": 60.0, "NM-06": 75.0,
                     "NM-07": 57.1, "NM-08": 75.0}
    json.dumps(doc, ensure_ascii=False)  # the document is JSON as it stands


def test_monthly_rates_by_hand():
    doc = _doc()
    months = [(m["month"], m["id"]) for m in doc["monthly"]]
    assert months == [(m, i) for m in ("2025-03", "2025-04") for i in IDS]
    for month, expected in (("2025-03", MARCH), ("2025-04", APRIL)):
        rows = [m for m in doc["monthly"] if m["month"] == month]
        _check(rows, expected)


def test_month_filter_counts_only_that_month():
    doc = _doc(month="2025-04")
    assert doc["month"] == "2025-04"
    _check(doc["indicators"], APRIL)
    assert {m["month"] for m in doc["monthly"]} == {"2025-04"}
    # only the April NM-02 finding (T06, remnant thyroid); T04's remark finding is a March case
    assert [(f["case_id"], f["severity"]) for f in doc["findings"]] == [("T06", "info")]
    with pytest.raises(InputError, match="YYYY-MM"):
        _doc(month="2025-4")


def test_nm02_findings_remark_required_and_second_surgery():
    doc = _doc()
    got = [(f["case_id"], f["row"], f["indicator"], f["severity"]) for f in doc["findings"]]
    # T04: TSH 12.5 with widespread metastases and no remark (CSV row 12); T06: TSH 22 with 残甲过多 (row 14).
    # T02 (TSH exactly 30, metastases) has a remark, so no finding; T07 (29.9, no reason given) has none either.
    assert got == [("T04", 12, "NM-02", "warning"), ("T06", 14, "NM-02", "info")]
    assert "remark required" in doc["findings"][0]["message"]
    assert "二次手术" in doc["findings"][1]["message"]


def _dtc(case_id, tsh, **extra):
    return {"case_id": case_id, "exam_date": "2025-03-01", "case_type": "dtc_i131", "tsh_mIU_per_L": tsh, **extra}


def test_nm02_tsh_boundary_is_strictly_greater_than_30():
    doc = nm_indicators([_dtc("a", "30"), _dtc("b", "30.1"), _dtc("c", 30.0), _dtc("d", 30.0001)])
    nm02 = doc["indicators"][1]
    assert (nm02["numerator"], nm02["denominator"]) == (2, 4)  # b and d exceed 30; a and c equal it


def test_nm02_remark_rule_and_denominator():
    meta = {"widespread_metastases": "是"}
    doc = nm_indicators([_dtc("at30", "30", **meta), _dtc("above", "30.1", **meta),
                         _dtc("noted", "10", remark="广泛骨转移", **meta)])
    nm02 = doc["indicators"][1]
    # all three stay in the denominator; only 'above' is 达标
    assert (nm02["numerator"], nm02["denominator"]) == (1, 3)
    # TSH = 30 is not above 30, so metastases without a remark needs one; 30.1 is above, so no remark is needed;
    # 'noted' has its remark
    assert [(f["case_id"], f["severity"]) for f in doc["findings"]] == [("at30", "warning")]


def test_denominator_zero_gives_none_with_note():
    doc = _doc(month="2025-05")  # no case in May
    assert doc["monthly"] == []
    for ind in doc["indicators"]:
        assert (ind["numerator"], ind["denominator"], ind["rate_percent"]) == (0, 0, None)
        assert ind["note"].startswith("denominator 0") and "2025-05" in ind["note"]
    # NM-08 cases exist, but none has pathology: still denominator 0, and the note says which condition failed
    doc = nm_indicators([{"case_id": "F", "exam_date": "2025-03-01", "case_type": "inpatient_first_fdg_petct",
                          "pathology_available": "否"}])
    nm08 = doc["indicators"][7]
    assert (nm08["denominator"], nm08["rate_percent"]) == (0, None)
    assert "pathology_available == true" in nm08["note"]
    assert doc["monthly"][7] == {"month": "2025-03", "id": "NM-08", "numerator": 0, "denominator": 0,
                                 "rate_percent": None}


def _csv_row(header, **cells):
    return ",".join(cells.get(h, "") for h in header)


def test_bad_rows_reported_with_row_numbers_rest_still_count(tmp_path):
    text = DATA.read_text(encoding="utf-8")
    header = text.splitlines()[0].split(",")
    bad = [  # appended after the 49 cases (rows 2..50), so they are rows 51..
        (51, "is not a date", dict(case_id="X01", exam_date="2025-13-01", case_type="bone_scan", extravasation="否")),
        (52, "unknown case_type 'ct_scan'", dict(case_id="X02", exam_date="2025-03-02", case_type="ct_scan")),
        (53, "not a boolean", dict(case_id="X03", exam_date="2025-03-02", case_type="bone_scan",
                                   extravasation="maybe")),
        (54, "not a number", dict(case_id="X04", exam_date="2025-03-02", case_type="dtc_i131", tsh_mIU_per_L="abc")),
        (55, "needs 'extravasation'", dict(case_id="X05", exam_date="2025-03-02", case_type="bone_scan")),
        (56, "'concordant'", dict(case_id="X06", exam_date="2025-03-02", case_type="inpatient_first_fdg_petct",
                                  pathology_available="是")),
        (57, "unknown item code", dict(case_id="X07", exam_date="2025-03-02", case_type="petct_report",
                                       report_missing_elements="item.99")),
        (58, "correct one of them", dict(case_id="X08", exam_date="2025-03-02", case_type="petct_report",
                                         report_elements_complete="是", report_missing_elements="item.3")),
        (59, "already appears in row 38", dict(case_id="R01", exam_date="2025-03-02", case_type="petct_report",
                                               report_elements_complete="是")),
        (60, "applies only to 18F-FDG", dict(case_id="X09", exam_date="2025-03-02", case_type="petct_report",
                                             tracer="68Ga-DOTATATE", report_missing_elements="item.22")),
        (61, "below its minimum", dict(case_id="X10", exam_date="2025-03-02", case_type="dtc_i131",
                                       tsh_mIU_per_L="-1")),
        (62, "needs one of", dict(case_id="X11", exam_date="2025-03-02", case_type="petct_report")),
        (63, "'case_id' is empty", dict(exam_date="2025-03-02", case_type="bone_scan", extravasation="否")),
    ]
    path = tmp_path / "cases.csv"
    path.write_text(text.rstrip("\n") + "\n" + "\n".join(_csv_row(header, **cells) for _, _, cells in bad) + "\n",
                    encoding="utf-8")
    doc = _doc(path)
    assert [e["row"] for e in doc["errors"]] == [n for n, _, _ in bad]
    for err, (n, reason, _) in zip(doc["errors"], bad):
        assert reason in err["message"] and f"row {n}" in err["message"] and str(path) in err["message"]
    _check(doc["indicators"], OVERALL)  # the 49 good rows count exactly as before


def test_raw_mappings_are_validated_and_numbered_from_one():
    rows = [_dtc("a", "31"), _dtc("b", "x"), {"case_id": "c", "exam_date": "2025-03-01", "case_type": "bone_scan",
                                             "extravasation": "Y"}]
    doc = nm_indicators(rows)
    assert [(e["row"], "not a number" in e["message"]) for e in doc["errors"]] == [(2, True)]
    assert [(i["numerator"], i["denominator"]) for i in doc["indicators"][:2]] == [(1, 1), (1, 1)]
    cases, errors = parse_cases(rows)
    assert [c.case_id for c in cases] == ["a", "c"] and [e.row for e in errors] == [2]


_BOOL = {"是": True, "否": False, "true": True, "TRUE": True, "false": False, "False": False, "1": True, "0": False,
         "Y": True, "N": False, "n": False}
_BOOL_COLUMNS = {"extravasation", "widespread_metastases", "remnant_thyroid_excess", "item_performed",
                 "eqa_organised", "eqa_participated", "image_quality_pass", "deauville_scored",
                 "report_elements_complete", "pathology_available", "concordant"}


def _without_rows(doc):
    """The document with row numbers removed (CSV rows start at 2, JSON rows at 1)."""
    doc = json.loads(json.dumps(doc))
    for f in doc["findings"]:
        f.pop("row")
    return doc


def test_json_input_equivalent_to_csv(tmp_path):
    with DATA.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    as_text = tmp_path / "text.json"
    as_text.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    # typed JSON: real booleans and numbers, empty cells left out, wrapped in {"cases": [...]}
    typed = []
    for r in rows:
        t = {}
        for k, v in r.items():
            if v == "":
                continue
            t[k] = _BOOL[v] if k in _BOOL_COLUMNS else float(v) if k == "tsh_mIU_per_L" else v
        typed.append(t)
    as_typed = tmp_path / "typed.json"
    as_typed.write_text(json.dumps({"cases": typed}, ensure_ascii=False), encoding="utf-8")
    ref = _doc()
    for path in (as_text, as_typed):
        doc = _doc(path)
        assert _without_rows(doc) == _without_rows(ref)
        assert [f["row"] for f in doc["findings"]] == [11, 13]  # JSON numbers the first case 1, CSV 2
    _check(_doc(as_typed)["indicators"], OVERALL)


def test_whole_file_problems_raise_input_error(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("case_id,case_type\n1,bone_scan\n", encoding="utf-8")
    with pytest.raises(InputError, match="exam_date") as exc:
        read_cases(p)
    assert str(p) in str(exc.value)
    p = tmp_path / "b.json"
    p.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="not valid JSON"):
        read_cases(p)
    p.write_text('{"records": []}', encoding="utf-8")
    with pytest.raises(InputError, match="'cases' list"):
        read_cases(p)
    p = tmp_path / "c.xlsx"
    p.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="expected .csv or .json"):
        read_cases(p)
    with pytest.raises(InputError, match="cases is None"):
        nm_indicators(None)


def test_rules_are_data(tmp_path):
    rules = load_nm_rules()
    nm02 = rules.indicators[1]
    assert (nm02.numerator[0].field, nm02.numerator[0].op, nm02.numerator[0].value) == ("tsh_mIU_per_L", ">", 30.0)
    text = NM_RULES_TOML.read_text(encoding="utf-8")
    # a department threshold of 50 mIU/L: only T05 (80) remains 达标 out of 7 (T01 45.2 and T03 30.1 drop out)
    p = tmp_path / "tsh50.toml"
    p.write_text(text.replace('op = ">", value = 30.0', 'op = ">", value = 50.0'), encoding="utf-8")
    doc = _doc(rules=p)
    assert (doc["indicators"][1]["numerator"], doc["indicators"][1]["denominator"]) == (1, 7)
    # NM-03 with "any": FT3 took part in the April round, so all 3 items count over the two months
    p = tmp_path / "any.toml"
    p.write_text(text.replace('distinct_numerator = "all"', 'distinct_numerator = "any"'), encoding="utf-8")
    nm03 = _doc(rules=p)["indicators"][2]
    assert (nm03["numerator"], nm03["denominator"]) == (3, 3)


def test_bad_rules_file_raises_profile_error(tmp_path):
    text = NM_RULES_TOML.read_text(encoding="utf-8")
    p = tmp_path / "bad.toml"
    p.write_text(text.replace('{ field = "extravasation", op = "==", value = true }',
                              '{ field = "extravasaton", op = "==", value = true }'), encoding="utf-8")
    with pytest.raises(ProfileError, match="unknown field 'extravasaton'"):
        load_nm_rules(p)
    p.write_text(text.replace('op = ">", value = 30.0', 'op = ">", value = "30"'), encoding="utf-8")
    with pytest.raises(ProfileError, match="numeric value"):
        load_nm_rules(p)
    shutil.copy(NM_RULES_TOML, tmp_path / "ok.toml")
    assert [i.id for i in load_nm_rules(tmp_path / "ok.toml").indicators] == list(IDS)
