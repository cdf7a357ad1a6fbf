"""The JSON API for a reporting workstation: every action, JSON text in and out, and error documents."""

import json

from phantomqc.rubric import api

REC = {"exam_id": "1", "exam_date": "2026-10-09", "device_type": "CT", "exam_part": "胸部", "staff": "技师01",
       "staff_role": "technologist", "qc_person": "质控员", "form": "image_quality", "score": "",
       "failed_items": "image_quality.item.1", "comment": ""}


def test_forms_and_form_for_the_popup():
    doc = api.handle({"action": "forms"})
    assert doc["schema"] == api.FORMS_SCHEMA and len(doc["forms"]) == 10
    one = api.handle(json.dumps({"action": "form", "form": "report_b1"}))
    f = one["form"]
    assert f["rule"]["total_points"] == 30 and f["rule"]["pass_min_score"] == 21
    assert sum(i["points"] for i in f["items"]) == 30  # the sheet's lines add up to its 30 points
    json.dumps(one, ensure_ascii=False)


def test_score_action_scores_and_rejects_rows():
    bad = dict(REC, exam_id="2", score="5")  # item.1 unmet gives 4, not 5
    doc = api.handle({"action": "score", "records": [REC, bad]})
    assert doc["schema"] == api.SCORES_SCHEMA
    assert [r["score"] for r in doc["records"]] == [4]
    assert doc["rejected"][0]["row"] == 2 and "disagrees" in doc["rejected"][0]["message"]


def test_stats_action_from_json_text():
    doc = api.handle(json.dumps({"action": "stats", "records": [REC, dict(REC, exam_id="3", failed_items="")],
                                 "month": "2026-10"}, ensure_ascii=False))
    assert doc["schema"] == "phantomqc.rubric_stats/1"
    r = doc["quality_rates"][0]
    assert (r["qc_count"], r["excellent_percent"], r["good_percent"]) == (2, 50.0, 50.0)


def test_bad_requests_give_error_documents():
    for req in ("not json", [], {"action": "nope"}, {"action": "form", "form": "nope"},
                {"action": "score", "records": 5}):
        doc = api.handle(req)
        assert doc["schema"] == api.ERROR_SCHEMA and doc["error"]["message"]


def test_nm_action():
    case = {"case_id": "B1", "exam_date": "2025-03-02", "case_type": "bone_scan", "extravasation": "否"}
    doc = api.handle({"action": "nm", "cases": [case, dict(case, case_id="B2", extravasation="是")]})
    nm01 = next(i for i in doc["indicators"] if i["id"] == "NM-01")
    assert (nm01["numerator"], nm01["denominator"], nm01["rate_percent"]) == (1, 2, 50.0)


def test_filter_action_validates_then_filters():
    exams = [{"exam_id": "1", "exam_date": "2026-10-01", "device_type": "CT", "exam_part": "胸部", "staff": "技师01",
              "staff_role": "technologist"},
             {"exam_id": "2", "exam_date": "2026-10-02", "device_type": "MR", "exam_part": "头颅", "staff": "技师02",
              "staff_role": "technologist"},
             {"exam_id": "3", "exam_date": "2026-10-40", "device_type": "CT", "exam_part": "胸部", "staff": "技师01",
              "staff_role": "technologist"}]
    doc = api.handle({"action": "filter", "exams": exams, "device_type": "CT"})
    assert [e["exam_id"] for e in doc["exams"]] == ["1"]  # exam 3 has a bad date: an error entry, not selected
    assert [e["row"] for e in doc["errors"]] == [3]
