"""A month of clinical QC records with known statistics: the rubric layer's reference "phantom".

The rubric layer never touches pixels, so its reference data are tables: an exam list, the QC records scored on
the seed 001 forms, and the truth that follows from the plan the records were generated from. The plan is drawn
first (for every exam sampled for QC: the person, the device type, the form and the *score*), then each record's
``failed_items`` are chosen from the form's own rule table so that the form gives that score. The expected
statistics in ``truth.json`` are counted from the plan, never from :mod:`phantomqc.rubric.stats`, so the test that
compares the two checks the scoring rules, the parsing and the statistics together.

``make_rubric_month(out_dir, month="2026-10", seed=0)`` writes::

    exams.csv            the month's exam list (workload, figures 5/6; input of the sampler)
    qc_records.csv       the QC records (figures 2-8, section 5.1), plus three deliberately bad rows
    sampling_rules.toml  random-QC rules for ``phantomqc rubric sample``
    truth.json           expected counts, rates and rejected rows
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
from collections import Counter
from pathlib import Path

import numpy as np

__all__ = ["make_rubric_month", "make_nm_month", "make_gold_readings", "make_sample_reports", "APPENDIX_C", "TECHNOLOGISTS", "DOCTORS", "DEVICE_TYPES", "EXAM_PARTS", "RECORD_COLUMNS"]

RECORD_COLUMNS = ("exam_id", "exam_date", "device_type", "exam_part", "staff", "staff_role", "qc_person", "form",
                  "score", "failed_items", "comment")
TECHNOLOGISTS = ("技师01", "技师02", "技师03", "技师04", "技师05", "技师06")
DOCTORS = ("医师01", "医师02", "医师03", "医师04", "医师05")
DEVICE_TYPES = ("CT", "DR", "MR")
EXAM_PARTS = ("头颅", "胸部", "腹部", "腰椎", "膝关节")
#: Exams per working day by device type (a mid-size department).
_EXAMS_PER_DAY = {"CT": 12, "DR": 10, "MR": 5}
#: Which technologists work on which device types (a person x device type cell of figure 2 exists only here).
_TECH_DEVICES = {"技师01": ("CT", "DR"), "技师02": ("CT",), "技师03": ("DR", "MR"), "技师04": ("CT", "MR"),
                 "技师05": ("DR",), "技师06": ("CT", "DR", "MR")}
#: Score probabilities (5, 4, 3, 2, 1) per person: most exams are good, a few people are weaker.
_GOOD = (0.62, 0.28, 0.07, 0.02, 0.01)
_WEAK = (0.35, 0.35, 0.18, 0.08, 0.04)
_SCORE_P = {p: (_WEAK if p in ("技师04", "医师03") else _GOOD) for p in TECHNOLOGISTS + DOCTORS}
_QC_FRACTION = 0.12  # share of exams sampled for QC in the plan (the sampler's default rule is a separate file)
_BAD_ROWS = (
    ("unknown form", {"form": "image_qualty"}),
    ("bad date", {"exam_date": "2026-13-40"}),
    ("score disagrees with failed_items", {"score": "5", "failed_items": "image_quality.item.1"}),
)


def _working_days(month: str) -> list[_dt.date]:
    y, m = (int(x) for x in month.split("-"))
    d = _dt.date(y, m, 1)
    out = []
    while d.month == m:
        if d.weekday() < 5:
            out.append(d)
        d += _dt.timedelta(days=1)
    return out


def _failed_for_score(form, score: int, rng: np.random.Generator) -> list[str]:
    """Item codes that make ``form`` give ``score``, read from the form's rule table (not from the scorer)."""
    rule = form.rule
    severe = [i.code for i in form.severe_items]
    crit = [i.code for i in form.criteria_items]
    n = len(crit)
    if rule.kind == "severe_then_count":
        unmet_options = [n - k for k, s in enumerate(rule.score_by_satisfied) if s == score]
    elif rule.kind == "severe_then_deduct":
        unmet_options = [u for u in range(n + 1) if max(rule.floor_score, rule.full_score - rule.deduct_per_unmet * u)
                         == score]
    else:
        raise ValueError(f"form {form.id} is not a 1-5 score form")
    if score == rule.severe_score and severe and (not unmet_options or rng.random() < 0.7):
        return [severe[int(rng.integers(len(severe)))]]
    if not unmet_options:
        raise ValueError(f"form {form.id} cannot give score {score}")
    unmet = unmet_options[int(rng.integers(len(unmet_options)))]
    return [crit[i] for i in sorted(rng.choice(n, size=unmet, replace=False))]


def make_rubric_month(out_dir: Path | str, *, month: str = "2026-10", seed: int = 0) -> Path:
    """Write one month of exams and QC records with their truth; returns ``out_dir / "qc_records.csv"``."""
    from phantomqc.rubric.forms import load_forms

    forms = load_forms()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    days = _working_days(month)
    exams = []
    for day in days:
        for dev, per_day in _EXAMS_PER_DAY.items():
            techs = [t for t, devs in _TECH_DEVICES.items() if dev in devs]
            for _ in range(per_day):
                n = len(exams) + 1
                exams.append({"exam_id": f"{month.replace('-', '')}{n:04d}", "exam_date": day.isoformat(),
                              "device_type": dev, "exam_part": EXAM_PARTS[int(rng.integers(len(EXAM_PARTS)))],
                              "staff": techs[int(rng.integers(len(techs)))], "staff_role": "technologist",
                              "doctor": DOCTORS[int(rng.integers(len(DOCTORS)))]})
    records, plan = [], []
    qc_people = {"technologist": "质控技师甲", "doctor": "质控医师乙"}
    for e in exams:
        if rng.random() >= _QC_FRACTION:
            continue
        for role, person in (("technologist", e["staff"]), ("doctor", e["doctor"])):
            if role == "technologist":
                form_id = "image_quality" if rng.random() < 0.8 else "film_layout"
            else:
                form_id = "report_quality" if rng.random() < 0.8 else "report_review"
            form = forms[form_id]
            score = int(rng.choice([5, 4, 3, 2, 1], p=_SCORE_P[person]))
            failed = _failed_for_score(form, score, rng)
            give_score = rng.random() < 0.5  # half the records carry the score, half leave it to be computed
            plan.append({"staff": person, "staff_role": role, "device_type": e["device_type"], "form": form_id,
                         "score": score, "failed": failed, "month": month})
            records.append({"exam_id": e["exam_id"], "exam_date": e["exam_date"], "device_type": e["device_type"],
                            "exam_part": e["exam_part"], "staff": person, "staff_role": role,
                            "qc_person": qc_people[role], "form": form_id, "score": str(score) if give_score else "",
                            "failed_items": ";".join(failed), "comment": ""})
    # a few application-form records (pass/fail, not a score form: counted apart)
    n_application = 0
    for e in exams[::97]:
        n_application += 1
        records.append({"exam_id": e["exam_id"], "exam_date": e["exam_date"], "device_type": e["device_type"],
                        "exam_part": e["exam_part"], "staff": e["doctor"], "staff_role": "doctor",
                        "qc_person": qc_people["doctor"], "form": "application", "score": "",
                        "failed_items": "" if n_application % 3 else "application.item.1", "comment": ""})
    # three bad rows, at known positions (row numbers count the CSV header as row 1)
    bad_rows = []
    for k, (why, change) in enumerate(_BAD_ROWS):
        pos = (k + 1) * len(records) // (len(_BAD_ROWS) + 1)
        base = dict(records[pos], exam_id=f"BAD{k + 1}", form="image_quality", score="", failed_items="")
        base.update(change)
        records.insert(pos, base)
    for i, r in enumerate(records):
        if r["exam_id"].startswith("BAD"):
            bad_rows.append({"row": i + 2, "exam_id": r["exam_id"],
                             "reason": _BAD_ROWS[int(r["exam_id"][3:]) - 1][0]})

    with (out / "exams.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(exams[0]))
        w.writeheader()
        w.writerows(exams)
    with (out / "qc_records.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(RECORD_COLUMNS))
        w.writeheader()
        w.writerows(records)
    (out / "sampling_rules.toml").write_text(_SAMPLING_RULES, encoding="utf-8")

    dist = Counter((p["staff"], p["staff_role"], p["device_type"], p["score"]) for p in plan)
    per_person = Counter((p["staff"], p["staff_role"]) for p in plan)
    passed = Counter((p["staff"], p["staff_role"]) for p in plan if p["score"] >= 3)
    deductions = Counter(c for p in plan for c in p["failed"])
    workload = Counter((e["staff"], e["device_type"]) for e in exams)
    truth = {
        "month": month,
        "seed": seed,
        "n_exams": len(exams),
        "n_score_records": len(plan),
        "n_other_records": n_application,
        "score_distribution": [{"staff": s, "staff_role": r, "device_type": d, "score": sc, "count": c}
                               for (s, r, d, sc), c in sorted(dist.items())],
        "pass_percent": [{"staff": s, "staff_role": r, "qc_count": per_person[(s, r)],
                          "pass_percent": 100.0 * passed[(s, r)] / per_person[(s, r)]}
                         for (s, r) in sorted(per_person)],
        "monthly": {"sampled_count": len(plan), "passed_count": sum(1 for p in plan if p["score"] >= 3)},
        "deductions": dict(sorted(deductions.items())),
        "workload": [{"staff": s, "device_type": d, "exams": c} for (s, d), c in sorted(workload.items())],
        "rejected_rows": bad_rows,
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out / "qc_records.csv"


_SAMPLING_RULES = """\
# Random QC (seed 001 7.2.1.1): the probability that an exam is marked for QC when its report is submitted.
# Format and precedence: phantomqc/rubric/rules/sampling_example.toml. Every person with an exam in the month is
# sampled at least once (min_per_person). The probabilities are this demo department's choice, not the seed's.
schema = "phantomqc.sampling_rules/1"
default_probability = 0.05
min_per_person = 1

[[rules]]
name = "CT"
device_type = "CT"
probability = 0.10

[[rules]]
name = "MR"
device_type = "MR"
probability = 0.20

[[rules]]
name = "technologist under review"
staff = "技师04"
probability = 0.50
note = "More QC for the technologist with the lowest scores last month."
"""

#: NM case plan for one month: (case_type, denominator, numerator) and the fields that put a case in each group.
#: NM-02 also has the two special cases of the seed's remark (TSH <= 30 with widespread metastases, with a remark;
#: TSH <= 30 with too much remnant thyroid), and NM-03 one item the centre does not organise (not in the denominator).
_NM_PLAN = {
    "NM-01": ("bone_scan", 40, 1),
    "NM-02": ("dtc_i131", 12, 10),
    "NM-03": ("lab_eqa_item", 6, 5),
    "NM-04": ("spect_image", 30, 28),
    "NM-05": ("petct_image", 25, 24),
    "NM-06": ("lymphoma_fdg_petct", 8, 7),
    "NM-07": ("petct_report", 25, 22),
    "NM-08": ("inpatient_first_fdg_petct", 6, 5),
}
NM_COLUMNS = ("case_id", "exam_date", "case_type", "extravasation", "tsh_mIU_per_L", "widespread_metastases",
              "remnant_thyroid_excess", "remark", "lab_item", "item_performed", "eqa_organised", "eqa_participated",
              "image_quality_pass", "deauville_scored", "tracer", "report_elements_complete",
              "report_missing_elements", "pathology_available", "concordant")


def make_nm_month(out_dir: Path | str, *, month: str = "2026-10", seed: int = 0) -> Path:
    """Write ``nm_cases.csv`` (seed 000 NM-01..NM-08 cases of one month) and ``nm_truth.json``; returns the CSV.

    The truth is the plan of :data:`_NM_PLAN` (numerator and denominator per indicator), typed, not counted by
    :mod:`phantomqc.rubric.nm`.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    days = _working_days(month)
    rows: list[dict] = []

    def add(case_type: str, **fields) -> None:
        n = len(rows) + 1
        day = days[int(rng.integers(len(days)))]
        rows.append({"case_id": f"N{n:03d}", "exam_date": day.isoformat(), "case_type": case_type, **fields})

    for ind, (ctype, den, num) in _NM_PLAN.items():
        hits = set(rng.choice(den, size=num, replace=False).tolist())
        misses = 0
        for k in range(den):
            hit = k in hits
            misses += not hit
            if ind == "NM-01":  # the numerator is the extravasations
                add(ctype, extravasation="是" if hit else "否")
            elif ind == "NM-02":
                if hit:
                    add(ctype, tsh_mIU_per_L=f"{rng.uniform(30.5, 120):.1f}")
                elif misses == 1:
                    add(ctype, tsh_mIU_per_L="18.4", widespread_metastases="是", remark="广泛肺转移，TSH 难以升至 30 以上")
                else:
                    add(ctype, tsh_mIU_per_L="22.0", remnant_thyroid_excess="是")
            elif ind == "NM-03":
                add(ctype, lab_item=f"项目{k + 1}", eqa_organised="是", eqa_participated="是" if hit else "否")
            elif ind in ("NM-04", "NM-05"):
                add(ctype, image_quality_pass="是" if hit else "否")
            elif ind == "NM-06":
                add(ctype, deauville_scored="是" if hit else "否")
            elif ind == "NM-07":
                missing = "" if hit else ("petct_report_elements.item.22" if misses == 1 else "petct_report_elements.item.9")
                add(ctype, tracer="18F-FDG", report_missing_elements=missing or "无")
            else:
                add(ctype, pathology_available="是", concordant="是" if hit else "否")
    add("lab_eqa_item", lab_item="项目未组织", eqa_organised="否")  # NM-03: not organised, outside the denominator
    for _ in range(3):
        add("inpatient_first_fdg_petct", pathology_available="否")  # NM-08: no pathology, outside the denominator
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    path = out / "nm_cases.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(NM_COLUMNS))
        w.writeheader()
        w.writerows(rows)
    truth = {"month": month, "indicators": {k: {"numerator": num, "denominator": den}
                                            for k, (_, den, num) in _NM_PLAN.items()}}
    (out / "nm_truth.json").write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


#: Gold standard plan (seed 001 7.3.1): per exam the two senior readers' scores and, where they differ, the
#: arbiter's. ``None`` for the arbiter = disagreement still pending.
_GOLD = [(5, 5, None), (5, 5, None), (4, 4, None), (4, 5, 4), (3, 3, None), (5, 5, None), (2, 3, 3), (4, 4, None),
         (5, 4, 5), (3, 3, None), (1, 1, None), (4, 4, None), (5, 5, None), (3, 4, None), (4, 4, None), (5, 5, None)]


def make_gold_readings(out_dir: Path | str, *, month: str = "2026-10") -> Path:
    """Write ``gold_readings.csv``: 16 image-quality exams read by two senior readers, three arbitrated, one
    pending. Observed agreement 12/16 = 75 %; the truth is in ``gold_truth.json``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    days = _working_days(month)
    rows = []
    for k, (a, b, c) in enumerate(_GOLD):
        rows.append({"exam_id": f"G{k + 1:03d}", "exam_date": days[k % len(days)].isoformat(),
                     "form": "image_quality", "reader_1": "主任医师甲", "score_1": a, "reader_2": "主任医师乙",
                     "score_2": b, "arbiter": "" if a == b or c is None else "主任医师丙",
                     "score_3": "" if a == b or c is None else c})
    path = out / "gold_readings.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    agreed = sum(1 for a, b, _ in _GOLD if a == b)
    arbitrated = sum(1 for a, b, c in _GOLD if a != b and c is not None)
    truth = {"n": len(_GOLD), "agreed": agreed, "arbitrated": arbitrated,
             "pending": len(_GOLD) - agreed - arbitrated,
             "final_scores": {f"G{k + 1:03d}": (a if a == b else c) for k, (a, b, c) in enumerate(_GOLD)}}
    (out / "gold_truth.json").write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


#: Seed 002 Appendix C (表 C.1), the example radiology report, as template fields. The seed's own text.
APPENDIX_C = {
    "检查号": "XXXXXXXX", "姓名": "XXX", "性别": "XX", "年龄": "72岁", "科别": "神经内科", "临床诊断": "头晕；",
    "检查名称": "头颅MRI平扫+头颅MRI增强", "检查时间": "2024年09月08日 10:24:22",
    "检查技术": "扫描范围：颅顶-颅底；扫描序列：横断位：横断位：T1WI，T2WI，FLAIR，DWI，T1WI+C； 冠状位、矢状位：T1WI+C",
    "影像描述": ("头颅形态如常。右侧顶部大脑凸面脑外见一类圆形异常信号，病变大小约2.4cm×1.8cm×2.3cm，各序列上与脑灰质信号一致，"
             "边界清楚，边缘光滑，邻近脑组织略受压移位，邻近颅骨增厚；增强扫描后病变明显均匀强化，可见脑膜尾征。"
             "左侧侧脑室后角旁及双侧基底节区见多发斑点状脑脊液样信号影，FLAIR上其周边可见稍高信号影环绕，增强后未见强化。"
             "双侧侧脑室周围及大脑深部白质区见多发斑点状异常信号影，T1WI呈等或稍低信号，T2WI及FLAIR呈稍高信号，DWI上信号不高，"
             "增强后未见强化。中线结构无偏移。脑室系统扩张，脑沟裂增宽。"),
    "诊断结论": "1、右侧顶部脑膜瘤；\n\n2、多发腔梗软化灶；\n\n3、缺血性脑白质病变，改良Fazekas2级；\n4、老年性脑改变。",
    "报告医师": "XXX", "审核医师": "XXX", "报告时间": "XXXX年XX月XX日X时X分",
}

_PETCT = {
    "report_id": "PET-DEMO-1", "检查号": "P20261009001", "姓名": "测试", "性别": "男", "年龄": "65岁", "科别": "胸外科",
    "临床诊断": "右肺上叶结节，分期评估", "history": "右肺上叶结节3个月，未经治疗", "modality": "PET/CT",
    "检查名称": "18F-FDG PET/CT 全身显像", "检查时间": "2026-10-09 09:10", "radiopharmaceutical": "18F-FDG",
    "blood_glucose_mmol_per_l": 5.6,
    "检查技术": ("空腹血糖5.6mmol/L。经右手背静脉注射18F-FDG 370MBq，注射后60min行显像，未使用辅助药物；扫描范围：颅顶至股骨中段；"
             "低剂量CT：120kV，80mA，层厚3.75mm，未用对比剂。"),
    "影像描述": ("右肺上叶尖段见一结节，大小约2.1cm×1.8cm，FDG摄取增高，SUVmax 8.2，同机CT上为分叶状软组织密度结节。"
             "与2026年06月01日胸部CT比较，结节较前增大。本次为首次PET检查。见图1。"),
    "诊断结论": "1、右肺上叶尖段FDG代谢增高结节，考虑肺癌可能，建议病理学检查。\n图1：箭头示右肺上叶结节。",
    "报告医师": "张三", "审核医师": "李四", "报告时间": "2026-10-09 15:30",
}


def _mutated(base: dict, **changes: str) -> dict:
    d = dict(base)
    d.update(changes)
    return d


def make_sample_reports(out_dir: Path | str) -> list[Path]:
    """Write radiology reports for ``phantomqc rubric check``: seed 002 Appendix C (passes), five mutations of it
    that the issue names (each should be flagged by one rule), a complete 18F-FDG PET/CT report, the same without
    blood glucose, and a cardiac MR report that calls LVEF 45 % normal. Returns the paths in that order."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    c = APPENDIX_C
    desc, concl = c["影像描述"], c["诊断结论"]
    items = [x for x in concl.split("\n") if x.strip()]
    reports = {
        "01_appendix_c.json": c,
        "02_left_right_swapped.json": _mutated(c, 诊断结论=concl.replace("右侧顶部", "左侧顶部")),
        "03_vague_enhancement.json": _mutated(c, 影像描述=desc.replace("增强后未见强化。中线", "增强后未见明显强化。中线")),
        "04_uterus_male.json": _mutated(c, 性别="男", 影像描述=desc + "盆腔内子宫形态如常。"),
        "05_conclusion_order_reversed.json": _mutated(c, 诊断结论="\n".join(
            f"{k + 1}、{x.split('、', 1)[1]}" for k, x in enumerate(reversed(items)))),
        "06_prior_without_date.json": _mutated(c, 影像描述=desc.replace("头颅形态如常。", "头颅形态如常。与前片比较，病变较前增大。")),
        "07_petct_fdg.json": _PETCT,
        "08_petct_no_glucose.json": _mutated({k: v for k, v in _PETCT.items() if k != "blood_glucose_mmol_per_l"},
                                             report_id="PET-DEMO-2",
                                             检查技术=_PETCT["检查技术"].replace("空腹血糖5.6mmol/L。", "")),
        "09_cmr_lvef45_normal.json": _mutated(c, 检查名称="心脏MRI平扫+增强", 检查技术="扫描序列：四腔心：bSSFP；短轴位：bSSFP，PSIR+LGE",
                                              影像描述="左心室腔大小正常，室壁厚度正常。", 诊断结论="左心室收缩功能正常。",
                                              measurements={"lvef_percent": 45}),
    }
    paths = []
    for name, doc in reports.items():
        p = out / name
        p.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        paths.append(p)
    return paths
