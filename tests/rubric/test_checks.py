"""Automatic report checks (phantomqc.rubric.checks): seed 002 附录 C passes, its mutations are flagged with the
right rule and the exact span, and every rule has a positive and a negative case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phantomqc._shared.errors import InputError, ProfileError
from phantomqc.rubric.checks import RULE_IDS, SCHEMA, check_report, check_reports, load_check_rules
from phantomqc.rubric.forms import load_forms
from phantomqc.rubric.report_text import parse_report, read_report

DATA = Path(__file__).with_name("data")
APPENDIX_C_JSON = DATA / "appendix_c.json"
APPENDIX_C_TXT = DATA / "appendix_c.txt"
PETCT_JSON = DATA / "petct_fdg.json"


def base() -> dict:
    return json.loads(APPENDIX_C_JSON.read_text(encoding="utf-8"))


def by_rule(result: dict, rule: str) -> list[dict]:
    return [f for f in result["findings"] if f["rule"] == rule]


def errors(result: dict) -> list[dict]:
    return [f for f in result["findings"] if f["severity"] == "error"]


def span_of(report: dict, key: str, field: str, needle: str, occurrence: int = 0) -> dict:
    """The expected span of the ``occurrence``-th ``needle`` in ``report[key]`` (canonical ``field``)."""
    text = report[key]
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(needle, start + 1)
    return {"field": field, "start": start, "end": start + len(needle), "text": needle}


def assert_only(result: dict, rule: str, spans: list[dict]) -> None:
    """Exactly these error/warning findings, all of ``rule``, with these spans (in order)."""
    got = [f for f in result["findings"] if f["severity"] != "info"]
    assert [f["rule"] for f in got] == [rule] * len(spans), got
    assert [f["span"] for f in got] == spans


# ------------------------------------------------------------------------------------------------ Appendix C


def test_appendix_c_json_passes():
    r = check_report(APPENDIX_C_JSON.read_text(encoding="utf-8"))
    assert r["schema"] == SCHEMA
    assert r["passed"] is True
    assert errors(r) == [] and r["counts"]["warning"] == 0
    # the anonymised 报告时间 is noted, not failed
    (info,) = r["findings"]
    assert info["rule"] == "date_format" and info["severity"] == "info"
    assert info["span"]["text"] == "XXXX年XX月XX日X时X分"
    json.dumps(r)  # JSON-serialisable


def test_appendix_c_text_passes_and_parses_like_json():
    assert check_report(APPENDIX_C_TXT)["passed"]  # a Path is read as a file
    t = read_report(APPENDIX_C_TXT)
    j = read_report(APPENDIX_C_JSON)
    assert dict(t.fields) == dict(j.fields)
    r = check_report(t)
    assert r["passed"] is True and errors(r) == [] and r["counts"]["warning"] == 0
    assert r["path"] == str(APPENDIX_C_TXT)


def test_text_field_offsets_point_into_source():
    t = read_report(APPENDIX_C_TXT)
    for name, text in t.fields.items():
        off = t.field_offsets[name]
        assert t.source_text[off:off + len(text)] == text
    assert t.fields["exam_time"] == "2024年09月08日 10:24:22"
    assert t.fields["clinical_diagnosis"] == "头晕；"
    assert t.fields["conclusion"].startswith("1、右侧顶部脑膜瘤；")


# ------------------------------------------------------------------------------------------------ the 5 mutations


def test_mutation_left_right_swapped():
    d = base()
    d["诊断结论"] = d["诊断结论"].replace("右侧顶部脑膜瘤", "左侧顶部脑膜瘤")
    r = check_report(d)
    assert not r["passed"]
    assert_only(r, "laterality_mismatch", [span_of(d, "诊断结论", "conclusion", "左侧顶部")])
    assert by_rule(r, "laterality_mismatch")[0]["form_item"] == "report_quality.severe.2"


def test_mutation_left_right_swapped_plain_text():
    src = APPENDIX_C_TXT.read_text(encoding="utf-8").replace("1、右侧顶部脑膜瘤", "1、左侧顶部脑膜瘤")
    rep = parse_report(src)
    r = check_report(rep)
    (f,) = errors(r)
    assert f["rule"] == "laterality_mismatch"
    s = f["span"]
    assert (s["field"], s["start"], s["end"], s["text"]) == ("conclusion", 2, 6, "左侧顶部")
    off = rep.field_offsets["conclusion"]
    assert src[off + s["start"]:off + s["end"]] == "左侧顶部"


def test_mutation_vague_enhancement():
    d = base()
    d["影像描述"] = d["影像描述"].replace("DWI上信号不高，增强后未见强化", "DWI上信号不高，增强后未见明显强化")
    r = check_report(d)
    assert not r["passed"]
    assert_only(r, "vague_phrase", [span_of(d, "影像描述", "description", "未见明显强化")])


def test_mutation_uterus_for_male():
    d = base()
    d["性别"] = "男"
    d["影像描述"] += "子宫形态如常。"
    r = check_report(d)
    assert not r["passed"]
    assert_only(r, "sex_specific_organ", [span_of(d, "影像描述", "description", "子宫")])
    assert by_rule(r, "sex_specific_organ")[0]["form_item"] == "report_quality.severe.3"


def test_mutation_conclusion_order_reversed():
    d = base()
    items = ["老年性脑改变", "缺血性脑白质病变，改良Fazekas2级", "多发腔梗软化灶", "右侧顶部脑膜瘤"]
    d["诊断结论"] = "\n".join(f"{i}、{t}；" for i, t in enumerate(items, 1))
    r = check_report(d)
    assert not r["passed"]
    # 白质 (description sentence 4) comes first; the items whose findings are earlier (sentences 3 and 2) are
    # out of order. 老年性脑改变 shares no term with the description and is not placed.
    assert_only(r, "conclusion_order", [span_of(d, "诊断结论", "conclusion", "多发腔梗软化灶"),
                                        span_of(d, "诊断结论", "conclusion", "右侧顶部脑膜瘤")])


def test_mutation_prior_comparison_date_removed():
    d = base()
    d["影像描述"] += "与2024年03月01日MRI比较，病变较前增大。"
    r = check_report(d)
    assert r["passed"] and errors(r) == [] and r["counts"]["warning"] == 0
    d["影像描述"] = d["影像描述"].replace("与2024年03月01日MRI比较", "与MRI比较")
    r = check_report(d)
    assert not r["passed"]
    assert_only(r, "prior_without_date", [span_of(d, "影像描述", "description", "与MRI比较")])


# ------------------------------------------------------------------------------------------------ each rule


def test_required_field():
    d = base()
    del d["审核医师"]
    d["诊断结论"] = "  "
    r = check_report(d)
    fs = by_rule(r, "required_field")
    assert len(fs) == 2 and all(f["span"] is None and f["severity"] == "error" for f in fs)
    assert {f["form_item"] for f in fs} == {None, "report_quality.severe.6"}
    assert any("审核医师" in f["message"] for f in fs)
    assert by_rule(check_report(base()), "required_field") == []


@pytest.mark.parametrize("value,rule,needle", [
    ("09月08日 10:24", "date_format", "09月08日 10:24"),          # no year
    ("2024-02-30 10:24", "date_format", "2024-02-30"),             # not a calendar date
    ("2023-02-29 10:24", "date_format", "2023-02-29"),             # not a leap year
    ("2024-13-01 10:24", "date_format", "2024-13-01"),             # month 13
    ("2024年09月08日", "time_to_minute", "2024年09月08日"),       # no time
    ("2024年09月08日 10时", "time_to_minute", "2024年09月08日 10时"),  # hour without minute
    ("2024-09-08 25:10", "time_to_minute", "25:10"),               # not a clock time
])
def test_date_and_time_format_flagged(value, rule, needle):
    d = base()
    d["检查时间"] = value
    assert_only(check_report(d), rule, [span_of(d, "检查时间", "exam_time", needle)])


@pytest.mark.parametrize("value", ["2024年9月8日 10:24", "2024-09-08 10:24", "2024/09/08 10时24分",
                                   "2024.09.08 10:24:22", "2024-02-29 23:59"])
def test_date_and_time_format_accepted(value):
    d = base()
    d["检查时间"] = value
    d["报告时间"] = value
    r = check_report(d)
    assert r["findings"] == []  # the placeholder note is gone too


def test_mri_sequence_orientations_need_semicolon():
    d = base()
    d["检查技术"] = "扫描范围：颅顶-颅底；扫描序列：横断位：T1WI，T2WI，冠状位：T1WI+C"
    assert_only(check_report(d), "mri_sequence_format", [span_of(d, "检查技术", "technique", "T1WI，T2WI，冠状位")])


def test_mri_sequence_separators_and_tokens():
    d = base()
    d["检查技术"] = "扫描序列：横断位：T1WI、T2WI；冠状位：T1增强"
    r = check_report(d)
    fs = by_rule(r, "mri_sequence_format")
    assert [(f["severity"], f["span"]["text"], f["span"]["start"]) for f in fs] == [
        ("error", "、", d["检查技术"].index("、")),
        ("warning", "T1增强", d["检查技术"].index("T1增强")),
    ]
    d["检查技术"] = "扫描序列：横断位：T1WI，T2WI;冠状位：T1WI+C"
    fs = by_rule(check_report(d), "mri_sequence_format")
    assert [f["span"]["text"] for f in fs] == [";"]


def test_mri_sequence_not_checked_for_ct():
    d = base()
    d["检查名称"] = "头颅CT平扫"
    d["检查技术"] = "扫描范围：颅顶-颅底；层厚5mm，软组织算法重建"
    assert by_rule(check_report(d), "mri_sequence_format") == []


@pytest.mark.parametrize("old,new,needle,severity", [
    ("FLAIR上其周边可见稍高信号影", "FLAIR上其周边可见略高信号影", "略高信号", "error"),
    ("T1WI呈等或稍低信号", "T1WI呈等或较低信号", "较低信号", "error"),
    ("T2WI及FLAIR呈稍高信号", "T2WI及FLAIR呈高信号", "高信号", "warning"),
])
def test_density_signal_grade(old, new, needle, severity):
    d = base()
    d["影像描述"] = d["影像描述"].replace(old, new)
    (f,) = [f for f in check_report(d)["findings"] if f["severity"] != "info"]
    assert f["rule"] == "density_signal_grade" and f["severity"] == severity
    assert f["span"] == span_of(d, "影像描述", "description", needle, occurrence=0 if needle != "高信号" else
                                 d["影像描述"].count("高信号", 0, d["影像描述"].index(new)))


def test_density_scale_words_pass():
    d = base()
    d["影像描述"] = "病灶呈明显低密度，另见中度高密度及等密度灶，T2WI呈明显高信号、稍低信号、中度低信号。"
    d["诊断结论"] = "病灶。"
    assert by_rule(check_report(d), "density_signal_grade") == []


@pytest.mark.parametrize("new,needle,severity", [
    ("稍强化", "稍强化", "error"),
    ("轻中度强化", "轻中度强化", "error"),
    ("较明显强化", "较明显强化", "error"),
    ("可见强化", "强化", "warning"),
])
def test_enhancement_grade(new, needle, severity):
    d = base()
    d["影像描述"] = d["影像描述"].replace("病变明显均匀强化", "病变" + new)
    (f,) = [f for f in check_report(d)["findings"] if f["severity"] != "info"]
    assert f["rule"] == "enhancement_grade" and f["severity"] == severity
    assert f["span"] == span_of(d, "影像描述", "description", needle, occurrence=0)


def test_enhancement_scale_passes():
    d = base()
    d["影像描述"] = d["影像描述"].replace("病变明显均匀强化", "病变呈中度不均匀强化，另一灶轻度环形强化，余无强化")
    assert by_rule(check_report(d), "enhancement_grade") == []


def test_vague_phrase_department_extension(tmp_path):
    extra = tmp_path / "dept.toml"
    extra.write_text('[rules.vague_phrase]\nadd_phrases = ["脑膜尾征"]\nseverity = "warning"\n', encoding="utf-8")
    rules = load_check_rules(extra=extra)
    assert "未见明显强化" in rules.rule("vague_phrase")["phrases"]  # appended, not replaced
    r = check_report(base(), rules=rules)
    (f,) = by_rule(r, "vague_phrase")
    assert f["severity"] == "warning" and f["span"]["text"] == "脑膜尾征"
    assert r["passed"]  # a warning does not fail
    assert by_rule(check_report(base()), "vague_phrase") == []


def test_laterality_bilateral_description_is_consistent():
    d = base()
    d["诊断结论"] += "\n5、左侧基底节区腔隙灶。"  # description: 双侧基底节区
    assert by_rule(check_report(d), "laterality_mismatch") == []


@pytest.mark.parametrize("sex,text,flagged", [
    ("女", "前列腺不大。", "前列腺"),
    ("女", "子宫及双侧附件未见异常。", None),
    ("男", "前列腺不大。", None),
    ("XX", "子宫形态如常。", None),  # anonymised sex: not compared
])
def test_sex_specific_organ(sex, text, flagged):
    d = base()
    d["性别"] = sex
    d["影像描述"] += text
    fs = by_rule(check_report(d), "sex_specific_organ")
    assert [f["span"]["text"] for f in fs] == ([flagged] if flagged else [])
    if flagged:
        assert fs[0]["span"] == span_of(d, "影像描述", "description", flagged)


def _abdomen(history: str, description: str) -> dict:
    d = base()
    d.update({"检查名称": "上腹部CT平扫", "检查技术": "扫描范围：膈顶至肾下极；层厚5mm", "history": history,
              "影像描述": description, "诊断结论": "上腹部CT平扫未见异常。"})
    return d


@pytest.mark.parametrize("history,description,flagged", [
    ("胆囊切除术后5年", "肝脏形态如常。胆囊不大，壁不厚。", "胆囊"),
    ("胆囊切除术后5年", "肝脏形态如常。胆囊缺如，胆囊窝未见积液。", None),
    ("胆囊切除术后5年", "肝脏形态如常。胆囊呈术后改变。", None),
    ("胆囊结石", "肝脏形态如常。胆囊不大，壁不厚。", None),
    ("胃大部切除术后", "胃呈术后改变，残胃未见异常。肝脏形态如常。", None),
])
def test_removed_organ_described(history, description, flagged):
    d = _abdomen(history, description)
    fs = by_rule(check_report(d), "removed_organ_described")
    assert [f["span"] for f in fs] == ([span_of(d, "影像描述", "description", flagged)] if flagged else [])


def test_finding_without_diagnosis():
    d = base()
    d["诊断结论"] = "1、多发腔梗软化灶；\n2、缺血性脑白质病变，改良Fazekas2级；\n3、老年性脑改变。"
    r = check_report(d)
    desc = d["影像描述"]
    start = desc.index("右侧顶部")
    end = desc.index("。", start)
    assert_only(r, "finding_without_diagnosis",
                [{"field": "description", "start": start, "end": end, "text": desc[start:end]}])


def test_finding_without_diagnosis_normal_conclusion():
    d = _abdomen("", "肝脏形态如常。肝右叶见一低密度结节，边界清楚。胆囊不大。")
    d["影像描述"] = d["影像描述"].replace("低密度", "稍低密度")
    r = check_report(d)
    desc = d["影像描述"]
    s = "肝右叶见一稍低密度结节，边界清楚"
    assert [f["span"] for f in by_rule(r, "finding_without_diagnosis")] == [
        {"field": "description", "start": desc.index(s), "end": desc.index(s) + len(s), "text": s}]
    d["诊断结论"] = "肝右叶结节，建议增强扫描。"
    assert by_rule(check_report(d), "finding_without_diagnosis") == []


def test_too_many_differentials():
    d = base()
    d["诊断结论"] = d["诊断结论"].replace("右侧顶部脑膜瘤", "右侧顶部占位，考虑脑膜瘤、孤立性纤维瘤、转移瘤或淋巴瘤可能")
    (f,) = by_rule(check_report(d), "too_many_differentials")
    assert f["severity"] == "warning"
    assert f["span"] == span_of(d, "诊断结论", "conclusion", "脑膜瘤、孤立性纤维瘤、转移瘤或淋巴瘤")
    d = base()
    d["诊断结论"] = d["诊断结论"].replace("右侧顶部脑膜瘤", "右侧顶部占位，考虑脑膜瘤、孤立性纤维瘤或转移瘤可能")
    assert by_rule(check_report(d), "too_many_differentials") == []


def test_prior_reference_needs_a_date_somewhere():
    d = base()
    d["影像描述"] += "病变较前增大。"
    assert [f["span"]["text"] for f in by_rule(check_report(d), "prior_without_date")] == ["较前"]
    d["prior_exams"] = [{"date": "2024-03-01", "modality": "MRI"}]
    assert by_rule(check_report(d), "prior_without_date") == []


def test_unit_consistency():
    d = base()
    d["影像描述"] = d["影像描述"].replace("2.4cm×1.8cm×2.3cm", "2.4cm×1.8cm×2.3cm") + "另见一小结节，直径约5.0mm。"
    d["诊断结论"] += "\n5、右侧顶部小结节。"
    fs = by_rule(check_report(d), "unit_consistency")
    assert [f["span"] for f in fs] == [span_of(d, "影像描述", "description", "5.0mm")]
    assert by_rule(check_report(base()), "unit_consistency") == []


def test_decimal_consistency():
    d = base()
    d["影像描述"] = d["影像描述"].replace("2.4cm×1.8cm×2.3cm", "2.4cm×1.8cm×2.45cm")
    assert_only(check_report(d), "decimal_consistency", [span_of(d, "影像描述", "description", "2.45")])


# ------------------------------------------------------------------------------------------------ PET/CT


def petct() -> dict:
    return json.loads(PETCT_JSON.read_text(encoding="utf-8"))


def test_petct_complete_passes():
    r = check_report(petct())
    assert r["findings"] == [] and r["passed"]


def test_petct_one_element_missing():
    d = petct()
    d["technique"] = d["technique"].replace("，注射后60min行显像", "")
    (f,) = check_report(d)["findings"]
    assert f["rule"] == "petct_element_missing" and f["span"] is None
    assert f["form_item"] == "petct_report_elements.item.6"
    assert "显像时间" in f["message"]


def test_petct_elements_mapping_overrides_detection():
    d = petct()
    d["elements"] = {"20": False, "petct_report_elements.item.7": "未使用"}
    fs = check_report(d)["findings"]
    assert [f["form_item"] for f in fs] == ["petct_report_elements.item.20"]
    d["elements"] = {"99": True}
    with pytest.raises(InputError, match="elements"):
        check_report(d)


def test_petct_fdg_without_glucose():
    d = petct()
    del d["blood_glucose_mmol_per_l"]
    d["technique"] = d["technique"].replace("空腹血糖5.6mmol/L。", "")
    (f,) = check_report(d)["findings"]
    assert f["rule"] == "petct_glucose_missing" and f["form_item"] == "petct_report_elements.item.22"
    d["technique"] = "空腹血糖 6.1 mmol/L。" + d["technique"]  # stated in the text instead
    assert check_report(d)["findings"] == []


def test_petct_non_fdg_tracer_needs_no_glucose():
    d = petct()
    del d["blood_glucose_mmol_per_l"]
    d["technique"] = d["technique"].replace("空腹血糖5.6mmol/L。", "").replace("18F-FDG", "68Ga-PSMA-11")
    d["radiopharmaceutical"] = "68Ga-PSMA-11"
    assert by_rule(check_report(d), "petct_glucose_missing") == []
    d["radiopharmaceutical"] = ""  # no tracer named anywhere -> read as 18F-FDG (form's choice)
    d["technique"] = d["technique"].replace("68Ga-PSMA-11", "显像剂")
    d["exam_name"] = "PET/CT 全身显像"
    assert len(by_rule(check_report(d), "petct_glucose_missing")) == 1


# ------------------------------------------------------------------------------------------------ CMR


def cmr(lvef: float, conclusion: str) -> dict:
    d = base()
    d.update({"检查名称": "心脏MRI平扫+增强", "检查技术": "扫描序列：四腔心：电影序列",
              "影像描述": "左心室腔大小正常，室壁厚度正常。", "诊断结论": conclusion,
              "measurements": {"lvef_percent": lvef}})
    return d


def test_cmr_lvef_45_stated_normal_is_flagged():
    d = cmr(45, "左心室收缩功能正常。")
    (f,) = by_rule(check_report(d), "cmr_grade_contradiction")
    assert f["severity"] == "error" and f["form_item"] == "cmr_report.item.7"
    assert f["span"] == {"field": "conclusion", "start": 0, "end": 9, "text": "左心室收缩功能正常"}
    assert "轻度减低" in f["message"]


def test_cmr_consistent_and_unverifiable():
    assert by_rule(check_report(cmr(60, "左心室收缩功能正常。")), "cmr_grade_contradiction") == []
    assert by_rule(check_report(cmr(45, "左心室收缩功能减低。")), "cmr_grade_contradiction") == []
    d = cmr(60, "左心室收缩功能正常，右心室收缩功能正常。")
    (f,) = by_rule(check_report(d), "cmr_grade_contradiction")  # RVEF not measured
    assert f["severity"] == "info" and f["span"]["text"] == "右心室收缩功能正常"


def test_cmr_bad_measurement_is_input_error():
    with pytest.raises(InputError, match="lvef_percent"):
        check_report(cmr(145, "左心室收缩功能正常。"))


# ------------------------------------------------------------------------------------------------ batch, rules


def test_check_reports_bad_files(tmp_path):
    bad_utf8 = tmp_path / "gbk.txt"
    bad_utf8.write_bytes("影像描述：肝脏".encode("gbk"))
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"exam_no": "1",', encoding="utf-8")
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    array = tmp_path / "array.json"
    array.write_text("[1, 2]", encoding="utf-8")
    missing = tmp_path / "missing.json"
    out = check_reports([APPENDIX_C_JSON, bad_utf8, bad_json, empty, array, missing, APPENDIX_C_TXT])
    assert out["counts"] == {"files": 7, "checked": 2, "passed": 2, "failed": 0, "errors": 5}
    assert out["schema"] == "phantomqc.rubric_check_batch/1"
    entries = out["results"]
    assert [Path(e["path"]).name for e in entries] == ["appendix_c.json", "gbk.txt", "bad.json", "empty.txt",
                                                        "array.json", "missing.json", "appendix_c.txt"]
    causes = {Path(e["path"]).name: e["error"]["message"] for e in entries if "error" in e}
    assert "not UTF-8" in causes["gbk.txt"]
    assert "not valid JSON" in causes["bad.json"]
    assert "empty" in causes["empty.txt"]
    assert "object" in causes["array.json"]
    assert "cannot read" in causes["missing.json"]
    assert all(str(tmp_path) in e["error"]["path"] for e in entries if "error" in e)
    assert entries[0]["result"]["passed"] and entries[-1]["result"]["passed"]
    assert entries[0]["result"]["schema"] == SCHEMA
    json.dumps(out)


def test_rule_form_items_exist_and_every_rule_is_there():
    rules = load_check_rules()
    forms = load_forms()
    for rid in RULE_IDS:
        r = rules.rule(rid)
        code = r["form_item"].replace("{n}", "1")
        if code:
            forms[code.split(".")[0]].item(code)  # KeyError if it did not exist
        else:
            assert r["form_item_reason"]


def test_rules_override_and_disable(tmp_path):
    extra = tmp_path / "dept.toml"
    extra.write_text('[rules.sex_specific_organ]\nenabled = false\n', encoding="utf-8")
    d = base()
    d["性别"] = "男"
    d["影像描述"] += "子宫形态如常。"
    assert by_rule(check_report(d, rules=load_check_rules(extra=extra)), "sex_specific_organ") == []


@pytest.mark.parametrize("text,match", [
    ('[rules.vague_phrase]\nseverity = "fatal"\n', "severity"),
    ('[rules.vague_phrase]\nform_item = "report_quality.item.99"\n', "not an item"),
    ('[rules.vague_phrase]\nform_item = ""\nform_item_reason = ""\n', "form_item_reason"),
    ('[rules.prior_without_date]\ncomparison_patterns = ["与("]\n', "regular expression"),
    ('not toml = = =', "TOML"),
])
def test_bad_rule_files(tmp_path, text, match):
    extra = tmp_path / "bad.toml"
    extra.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError, match=match):
        load_check_rules(extra=extra)


def test_parse_errors():
    with pytest.raises(InputError, match="empty"):
        parse_report("   ")
    with pytest.raises(InputError, match="heading"):
        parse_report("肝脏形态如常。")
    with pytest.raises(InputError, match="twice"):
        parse_report({"conclusion": "a", "诊断结论": "b"})
    with pytest.raises(InputError, match="measurements"):
        parse_report({"measurements": [1]})
