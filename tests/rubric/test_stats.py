"""Seed 001 section 6 tables (figures 2-8) and section 5.1 monthly indicators from QC records.

The expected numbers are typed from seed 001 (../shared/seeds/001_081b2c55d4188ea1.txt, section 6). Figure 2,
figure 4 (its form items), figure 5 and figure 7 are given there as numbers; the records below are built to
reproduce those numbers. Counts are exact integers, so they are compared exactly; figure 7 prints percentages
to one decimal, so ours are compared after round(x, 1).
"""

import json

import pytest

from phantomqc._shared.errors import InputError
from phantomqc.rubric.scoring import parse_records
from phantomqc.rubric.stats import SCHEMA, rubric_stats

# image_quality (Appendix A): 0 unmet -> 5, 1 unmet -> 4, 2 unmet -> 3, 4 unmet -> 2, any severe -> 1
_IQ_FAILED = {5: "", 4: "image_quality.item.1", 3: "image_quality.item.1;image_quality.item.2",
              2: "image_quality.item.1;image_quality.item.2;image_quality.item.3;image_quality.item.4",
              1: "image_quality.severe.1"}
_SCORES = (5, 4, 3, 2, 1)


def _rec(n, staff, score, *, device="CT", role="technologist", date="2024-03-15", form="image_quality",
         failed=None):
    return {"exam_id": f"E{n}", "exam_date": date, "device_type": device, "exam_part": "胸部", "staff": staff,
            "staff_role": role, "qc_person": "质控人1", "form": form,
            "score": "" if score is None else str(score),
            "failed_items": _IQ_FAILED[score] if failed is None else failed, "comment": ""}


# ---- figure 2: counts per person x device type for scores 5,4,3,2,1; None = blank cell (no records) ----
FIG2 = {
    "A1": {"CT": (3, 1, 0, 0, 0), "DR": (1, 0, 0, 0, 0)},
    "A2": {"CT": (4, 0, 1, 0, 0), "DR": (5, 1, 0, 0, 0)},
    "A3": {"CT": (4, 1, 0, 0, 0), "DR": (5, 0, 0, 0, 0)},
    "A4": {"CT": (7, 3, 0, 0, 0)},
    "A5": {"CT": (6, 0, 0, 0, 0), "DR": (6, 1, 0, 0, 0)},
    "A6": {"CT": (9, 0, 0, 0, 0), "DR": (4, 0, 0, 0, 0)},
    "A7": {"CT": (6, 4, 0, 0, 0), "DR": (8, 1, 0, 0, 0)},
    "A8": {"CT": (10, 1, 0, 0, 0), "DR": (0, 1, 0, 0, 0)},
    "A9": {"CT": (7, 2, 0, 0, 0), "DR": (4, 0, 1, 0, 0), "MR": (3, 0, 0, 0, 0)},
    "A10": {"CT": (11, 4, 0, 0, 0), "DR": (1, 0, 0, 0, 0)},
}
FIG2_TOTALS = {"CT": (67, 16, 1, 0, 0), "DR": (34, 4, 1, 0, 0), "MR": (3, 0, 0, 0, 0)}  # the 合计 row


def _fig2_records():
    rows, n = [], 0
    for staff, cells in FIG2.items():
        for dev, counts in cells.items():
            for score, c in zip(_SCORES, counts):
                for _ in range(c):
                    n += 1
                    rows.append(_rec(n, staff, score, device=dev))
    return rows


def test_figure2_table_and_totals_row():
    doc = rubric_stats(_fig2_records())
    assert doc["schema"] == SCHEMA and not doc["rejected"]
    got = {}
    for row in doc["score_distribution"]:
        got.setdefault(row["staff"], {}).setdefault(row["device_type"], {})[row["score"]] = row["count"]
    want = {s: {d: dict(zip(_SCORES, c)) for d, c in cells.items()} for s, cells in FIG2.items()}
    assert got == want  # exact, zeros included (e.g. A8 DR 5分 = 0), blank cells absent (A1 MR)
    assert [r["staff"] for r in doc["score_distribution"][::5]][:3] == ["A1", "A1", "A2"]  # A2 before A10
    assert doc["score_distribution"][-1]["staff"] == "A10"
    totals = {}
    for row in doc["score_distribution_totals"]:
        totals.setdefault(row["device_type"], {})[row["score"]] = row["count"]
    assert totals == {d: dict(zip(_SCORES, c)) for d, c in FIG2_TOTALS.items()}
    assert doc["n_records"] == sum(sum(c) for c in FIG2_TOTALS.values())
    json.dumps(doc, ensure_ascii=False)  # plain data


# ---- figure 7: (qc_count, n5, n4, n3, n_not_passing) solved by hand from the printed rates, and the rates ----
FIG7 = {
    "A1": ((4, 4, 0, 0, 0), (100, 0, 0, 0)),
    "A2": ((3, 3, 0, 0, 0), (100, 0, 0, 0)),
    "A3": ((19, 18, 1, 0, 0), (94.7, 5.3, 0, 0)),
    "A4": ((13, 12, 1, 0, 0), (92.3, 7.7, 0, 0)),
    "A5": ((10, 9, 1, 0, 0), (90, 10, 0, 0)),
    "A6": ((17, 15, 1, 1, 0), (88.2, 5.9, 5.9, 0)),
    "A7": ((8, 7, 1, 0, 0), (87.5, 12.5, 0, 0)),
    "A8": ((16, 14, 1, 1, 0), (87.5, 6.2, 6.2, 0)),  # 1/16 = 6.25 printed 6.2: round half to even
    "A9": ((13, 11, 2, 0, 0), (84.6, 15.4, 0, 0)),
    "A10": ((48, 40, 4, 3, 1), (83.3, 8.3, 6.2, 2.1)),
}


def _fig7_records(role="technologist"):
    rows, n = [], 0
    for staff, ((total, n5, n4, n3, nfail), _) in FIG7.items():
        assert n5 + n4 + n3 + nfail == total
        for score, c in ((5, n5), (4, n4), (3, n3), (2, nfail)):
            for _ in range(c):
                n += 1
                rows.append(_rec(n, staff, score, role=role))
    return rows


@pytest.mark.parametrize("role", ["technologist", "doctor"])  # 6.5: doctors are shown the same way
def test_figure7_quality_rates_to_one_decimal(role):
    doc = rubric_stats(_fig7_records(role))
    rates = {r["staff"]: r for r in doc["quality_rates"]}
    assert list(rates) == list(FIG7)  # natural order A1..A10
    for staff, ((total, *_), (exc, good, s3, fail)) in FIG7.items():
        r = rates[staff]
        assert r["staff_role"] == role and r["qc_count"] == total
        got = tuple(round(r[k], 1) for k in ("excellent_percent", "good_percent", "score3_percent",
                                             "not_passing_percent"))
        assert got == (exc, good, s3, fail), staff
        assert r["pass_percent"] == pytest.approx(100 - r["not_passing_percent"], abs=1e-9)
    # full floats kept, not display-rounded
    assert rates["A10"]["excellent_percent"] == pytest.approx(100 * 40 / 48, abs=1e-12)


# ---- figure 4: count per deduction item (the form items; 造影剂充盈度 = 10 is not an image_quality item) ----
FIG4 = {"image_quality.severe.1": 0, "image_quality.severe.2": 1, "image_quality.severe.3": 0,
        "image_quality.item.1": 29, "image_quality.item.2": 18, "image_quality.item.3": 1,
        "image_quality.item.4": 17, "image_quality.item.5": 27}


def test_figure4_deduction_counts_and_figure3_details():
    rows, n = [], 0
    for code, c in FIG4.items():
        for _ in range(c):
            n += 1
            rows.append(_rec(n, "A1", None, device="DR", failed=code))
    doc = rubric_stats(rows)
    assert not doc["rejected"]
    assert {d["item"]: d["count"] for d in doc["deductions"]} == FIG4  # zero counts listed, as in figure 4
    first = doc["deductions"][0]
    assert first["kind_label"] == "严重扣分项" and first["item"] == "image_quality.severe.1"
    fmt = next(d for d in doc["deductions"] if d["item"] == "image_quality.item.1")
    assert fmt["name"] == "格式" and fmt["text"].startswith("标记或角码位置统一") and fmt["kind_label"] == "不符合项"
    assert len(doc["deduction_details"]) == sum(FIG4.values())
    severe = [d for d in doc["deduction_details"] if d["severe_items"]]
    assert len(severe) == 1 and severe[0]["score"] == 1 and severe[0]["unmet_items"] == []
    assert severe[0]["severe_items"][0]["text"] == "原片有局部不清等原因需要重复检查的"


# ---- figure 5: workload per technologist x device type from an exam list ----
FIG5 = {"A1": {"DR": 2313}, "A2": {"CT": 564, "DR": 519}, "A3": {"CT": 364, "DR": 429},
        "A5": {"CT": 732, "DR": 19}, "A6": {"DR": 751}, "A7": {"MR": 177, "CT": 367, "DR": 204},
        "A8": {"CT": 591, "DR": 143}, "A9": {"CT": 725}, "A10": {"CT": 314, "DR": 383},
        "A11": {"MR": 337, "CT": 337, "DR": 8}}


def test_figure5_workload():
    exams = [{"staff": s, "device_type": d} for s, cells in FIG5.items() for d, c in cells.items() for _ in range(c)]
    doc = rubric_stats([], exams=exams)
    assert {(w["staff"], w["device_type"]): w["exams"] for w in doc["workload"]} == \
        {(s, d): c for s, cells in FIG5.items() for d, c in cells.items()}
    t = doc["workload_totals"]
    assert t["total"] == 9277
    assert {d["device_type"]: d["exams"] for d in t["by_device_type"]} == {"MR": 514, "CT": 3994, "DR": 4769}
    # figure 5 row order: by total, descending (A5 and A6 tie at 751, A5 first)
    assert [(r["staff"], r["exams"]) for r in t["by_staff"]] == [
        ("A1", 2313), ("A2", 1083), ("A3", 793), ("A5", 751), ("A6", 751), ("A7", 748), ("A8", 734), ("A9", 725),
        ("A10", 697), ("A11", 682)]


def test_workload_month_filter_and_bad_exam_rows():
    exams = [{"staff": "A1", "device_type": "CT", "exam_date": "2024-03-01"},
             {"staff": "A1", "device_type": "CT", "exam_date": "20240302"},
             {"staff": "A1", "device_type": "CT", "exam_date": "2024-04-01"},
             {"staff": "A1", "device_type": "DR"},  # undated: counted, with a warning
             {"staff": "", "device_type": "CT"}, "junk"]
    doc = rubric_stats([], month="2024-03", exams=exams)
    assert {(w["device_type"], w["exams"]) for w in doc["workload"]} == {("CT", 2), ("DR", 1)}
    assert [e["row"] for e in doc["exam_rejected"]] == [5, 6]
    assert len(doc["warnings"]) == 1 and "exam_date" in doc["warnings"][0]


# ---- section 5.1 monthly indicators and the two senses of 合格 ----
def _two_months():
    rows = [_rec(i, "B1", s, role="doctor", date="2024-03-10") for i, s in enumerate((5, 4, 3, 2, 1))]
    rows += [_rec(10 + i, "B1", s, role="doctor", date="2024-04-02") for i, s in enumerate((5, 3, 3, 2))]
    # report_quality: 5 minus 1 per unmet item -> 2 unmet gives 3
    rows.append(_rec(20, "B1", 3, role="doctor", date="2024-04-03", form="report_quality",
                     failed="report_quality.item.1;report_quality.item.2"))
    # application form: pass/fail only, not a score form -> left out of the score statistics
    rows.append(_rec(30, "B1", None, role="doctor", date="2024-04-03", form="application", failed=""))
    return rows


def test_monthly_indicators():
    doc = rubric_stats(_two_months())
    m = {x["month"]: x for x in doc["monthly"]}
    assert list(m) == ["2024-03", "2024-04"]
    # March: scores 5,4,3,2,1 -> 抽查 5, 合格 (>=3) 3, 合格率 60 %
    assert (m["2024-03"]["sampled_count"], m["2024-03"]["passed_count"]) == (5, 3)
    assert m["2024-03"]["pass_rate_percent"] == pytest.approx(60.0, abs=1e-12)
    # April: 5,3,3,2 on image_quality + 3 on report_quality -> 5 sampled, 4 passed, 80 %
    assert (m["2024-04"]["sampled_count"], m["2024-04"]["passed_count"]) == (5, 4)
    assert m["2024-04"]["pass_rate_percent"] == pytest.approx(80.0, abs=1e-12)
    by_form = {f["form"]: f for f in m["2024-04"]["by_form"]}
    assert by_form["report_quality"]["passed_count"] == 1 and by_form["image_quality"]["sampled_count"] == 4
    assert doc["n_other_records"] == 1 and doc["n_records"] == 10


def test_two_senses_of_hege():
    doc = rubric_stats(_two_months())
    (r,) = doc["quality_rates"]
    assert r["staff_role"] == "doctor" and r["qc_count"] == 10
    # score 3 exactly (figure 7 合格): 1 in March + 3 in April = 4 of 10; score >= 3 (5.1 合格): 7 of 10
    assert r["score3_percent"] == pytest.approx(40.0, abs=1e-12)
    assert r["pass_percent"] == pytest.approx(70.0, abs=1e-12)
    assert r["not_passing_percent"] == pytest.approx(30.0, abs=1e-12)
    assert doc["terms"]["score3_percent"] != doc["terms"]["pass_percent"]


def test_month_filter():
    doc = rubric_stats(_two_months(), month="2024-03")
    assert doc["month"] == "2024-03" and [x["month"] for x in doc["monthly"]] == ["2024-03"]
    assert doc["n_records"] == 5 and doc["n_other_records"] == 0
    assert doc["quality_rates"][0]["pass_percent"] == pytest.approx(60.0, abs=1e-12)
    assert rubric_stats(_two_months(), month="2023-01")["score_distribution"] == []
    for bad in ("2024-3", "2024-13", "March", 202403):
        with pytest.raises(InputError, match="YYYY-MM"):
            rubric_stats([], month=bad)


def test_empty_input():
    doc = rubric_stats([])
    assert doc["schema"] == SCHEMA
    for key in ("score_distribution", "score_distribution_totals", "quality_rates", "deductions",
                "deduction_details", "workload", "monthly", "rejected"):
        assert doc[key] == [], key
    assert doc["workload_totals"]["total"] == 0 and doc["n_records"] == 0


def test_accepts_recordset_and_reports_rejected_rows():
    rows = _two_months() + [_rec(99, "B2", 5, date="2024-02-30")]  # bad date
    from_raw = rubric_stats(rows)
    assert [e["row"] for e in from_raw["rejected"]] == [len(rows)] and "date" in from_raw["rejected"][0]["message"]
    rs = parse_records(rows)
    from_set = rubric_stats(rs)
    assert from_set["quality_rates"] == from_raw["quality_rates"] and from_set["rejected"] == from_raw["rejected"]
    assert rubric_stats(list(rs.records))["monthly"] == from_raw["monthly"]
