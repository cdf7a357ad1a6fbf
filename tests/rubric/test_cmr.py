"""Tests of the seed 004 section 4 CMR measurement calculator (phantomqc.rubric.cmr).

Every numeric threshold of section 4 is tested just below, at and just above it. The step EPS = 0.01 (mm, %, cm²)
is far below any reported measurement precision (0.1 mm, 1 %) and far above float rounding, so a ≤/< swap in the
criteria file or in the code makes one of the three cases fail.
"""

from __future__ import annotations

import dataclasses

import pytest

from phantomqc._shared.errors import InputError, ProfileError
from phantomqc.rubric.cmr import (
    CMR_CRITERIA_TOML,
    check_cmr_statement,
    grade_cmr,
    grade_cmr_all,
    load_cmr_rules,
)

EPS = 0.01

# (criterion, other inputs, field, threshold, key below, key at, key above, seed clause)
BOUNDARIES = [
    # 4.1.1.4: LA AP ≥40 alone; AP >35 together with LR >55
    ("left_atrium", {}, "la_ap_mm", 40.0, "normal", "enlarged", "enlarged", "4.1.1.4"),
    ("left_atrium", {"la_lr_mm": 56.0}, "la_ap_mm", 35.0, "normal", "normal", "enlarged", "4.1.1.4"),
    ("left_atrium", {"la_ap_mm": 36.0}, "la_lr_mm", 55.0, "normal", "normal", "enlarged", "4.1.1.4"),
    # 4.1.2.2: LV transverse >55 male, >50 female
    ("left_ventricle", {"sex": "male"}, "lv_transverse_mm", 55.0, "normal", "normal", "enlarged", "4.1.2.2"),
    ("left_ventricle", {"sex": "female"}, "lv_transverse_mm", 50.0, "normal", "normal", "enlarged", "4.1.2.2"),
    # 4.1.3.2: RA AP 50-55 饱满 (closed), >55 增大
    ("right_atrium", {}, "ra_ap_mm", 50.0, "normal", "full", "full", "4.1.3.2"),
    ("right_atrium", {}, "ra_ap_mm", 55.0, "full", "full", "enlarged", "4.1.3.2"),
    # 4.1.4.2: RV transverse ≥34
    ("right_ventricle", {}, "rv_transverse_mm", 34.0, "normal", "enlarged", "enlarged", "4.1.4.2"),
    # 4.1.5.2: ascending aorta ≥40, MPA ≥30, MPA > AA (not for the young)
    ("ascending_aorta", {}, "ascending_aorta_mm", 40.0, "normal", "widened", "widened", "4.1.5.2"),
    ("main_pulmonary_artery", {}, "main_pulmonary_artery_mm", 30.0, "normal", "widened", "widened", "4.1.5.2"),
    ("main_pulmonary_artery", {"ascending_aorta_mm": 25.0, "young": False}, "main_pulmonary_artery_mm", 25.0,
     "normal", "normal", "widened", "4.1.5.2"),
    # 4.1.6.3: septum ≥11, lateral wall ≥8
    ("lv_wall_thickness", {}, "septal_thickness_mm", 11.0, "normal", "thickened", "thickened", "4.1.6.3"),
    ("lv_wall_thickness", {}, "lateral_wall_thickness_mm", 8.0, "normal", "thickened", "thickened", "4.1.6.3"),
    # 4.2.1.3: LVEF <30 重度, [30,40) 中度, [40,50) 轻度, [50,55) 正常低值, ≥55 normal
    ("lvef", {}, "lvef_percent", 30.0, "severely_reduced", "moderately_reduced", "moderately_reduced", "4.2.1.3"),
    ("lvef", {}, "lvef_percent", 40.0, "moderately_reduced", "mildly_reduced", "mildly_reduced", "4.2.1.3"),
    ("lvef", {}, "lvef_percent", 50.0, "mildly_reduced", "low_normal", "low_normal", "4.2.1.3"),
    ("lvef", {}, "lvef_percent", 55.0, "low_normal", "normal", "normal", "4.2.1.3"),
    # 4.2.2.3: RVEF ≥45 大致正常
    ("rvef", {}, "rvef_percent", 45.0, "reduced", "normal", "normal", "4.2.2.3"),
    # 4.3.2: AR RF <30, [30,50], >50; PR RF <20, [20,40], >40
    ("aortic_regurgitation", {}, "ar_regurgitant_fraction_percent", 30.0, "small", "moderate", "moderate", "4.3.2"),
    ("aortic_regurgitation", {}, "ar_regurgitant_fraction_percent", 50.0, "moderate", "moderate", "large", "4.3.2"),
    ("pulmonary_regurgitation", {}, "pr_regurgitant_fraction_percent", 20.0, "small", "moderate", "moderate",
     "4.3.2"),
    ("pulmonary_regurgitation", {}, "pr_regurgitant_fraction_percent", 40.0, "moderate", "moderate", "large",
     "4.3.2"),
    # 4.3.3: MR/TR regurgitant index <20, [20,40), ≥40
    ("mitral_regurgitation", {}, "mr_regurgitant_index_percent", 20.0, "mild", "moderate", "moderate", "4.3.3"),
    ("mitral_regurgitation", {}, "mr_regurgitant_index_percent", 40.0, "moderate", "severe", "severe", "4.3.3"),
    ("tricuspid_regurgitation", {}, "tr_regurgitant_index_percent", 20.0, "mild", "moderate", "moderate", "4.3.3"),
    ("tricuspid_regurgitation", {}, "tr_regurgitant_index_percent", 40.0, "moderate", "severe", "severe", "4.3.3"),
    # 4.3.4.1: aortic valve area <1 重度, [1,1.5] 中度, >1.5 轻度
    ("aortic_stenosis", {}, "aortic_valve_area_cm2", 1.0, "severe", "moderate", "moderate", "4.3.4.1"),
    ("aortic_stenosis", {}, "aortic_valve_area_cm2", 1.5, "moderate", "moderate", "mild", "4.3.4.1"),
    # 4.4.3: 正常人无 LGE (0 is the lower end of the range, so no "below")
    ("lge", {}, "lge_percent", 0.0, None, "absent", "present", "4.4.3"),
]


def _ids(row):
    return f"{row[0]}-{row[2]}-{row[3]:g}-{'-'.join(f'{k}{v}' for k, v in row[1].items())}"


@pytest.mark.parametrize("row", BOUNDARIES, ids=[_ids(r) for r in BOUNDARIES])
@pytest.mark.parametrize("where", ["below", "at", "above"])
def test_boundary(row, where):
    criterion, others, field, threshold, below, at, above, section = row
    value, expected = {"below": (threshold - EPS, below), "at": (threshold, at),
                       "above": (threshold + EPS, above)}[where]
    if expected is None:  # below the lower end of the field's valid range: rejected, naming the field
        with pytest.raises(InputError, match=field):
            grade_cmr(criterion, {**others, field: value})
        return
    g = grade_cmr(criterion, {**others, field: value})
    assert g.key == expected, (criterion, field, value, g.rule)
    assert g.section == section


def test_every_numeric_threshold_of_the_file_is_tested():
    """Each number in a 'field op number' condition of the criteria file appears in BOUNDARIES for that field."""
    rules = load_cmr_rules()
    tested = {(r[0], r[2], r[3]) for r in BOUNDARIES}
    in_file = set()
    for cid, crit in rules.criteria.items():
        for g in crit.grades:
            for alt in g.when:
                for c in alt:
                    if isinstance(c.value, float):
                        in_file.add((cid, c.field, c.value))
    # the one row that is not a numeric threshold: MPA > ascending aorta (field against field), tested at AA = 25
    assert tested - in_file == {("main_pulmonary_artery", "main_pulmonary_artery_mm", 25.0)}
    assert in_file <= tested


# ---------------------------------------------------------------------------------------------- terms and sex


@pytest.mark.parametrize("lvef, term", [
    (25, "左室收缩功能重度减低"), (35, "左室收缩功能中度减低"), (45, "左室收缩功能轻度减低"),
    (52, "左室收缩功能正常低值"), (60, "左室收缩功能正常"),
])
def test_lvef_terms(lvef, term):
    assert grade_cmr("lvef", {"lvef_percent": lvef}).term == term


def test_seed_terms_are_marked():
    assert grade_cmr("right_atrium", {"ra_ap_mm": 52}).term == "右房饱满"
    assert grade_cmr("right_atrium", {"ra_ap_mm": 52}).term_from_seed
    assert not grade_cmr("lvef", {"lvef_percent": 60}).term_from_seed  # seed leaves "normal" implicit
    assert grade_cmr("rvef", {"rvef_percent": 50}).term == "右室收缩功能大致正常"


def test_lv_size_depends_on_sex():
    # 52 mm: enlarged in a woman (>50), not in a man (>55); Chinese aliases accepted
    assert grade_cmr("left_ventricle", {"lv_transverse_mm": 52, "sex": "女"}).key == "enlarged"
    assert grade_cmr("left_ventricle", {"lv_transverse_mm": 52, "sex": "男"}).key == "normal"


def test_mpa_ratio_rule_not_for_young_and_warns_when_unknown():
    base = {"main_pulmonary_artery_mm": 28.0, "ascending_aorta_mm": 26.0}
    assert grade_cmr("main_pulmonary_artery", {**base, "young": False}).key == "widened"
    assert grade_cmr("main_pulmonary_artery", {**base, "young": True}).key == "normal"
    g = grade_cmr("main_pulmonary_artery", base)
    assert g.key == "normal" and len(g.warnings) == 1 and "young" in g.warnings[0]


def test_la_pair_rule_warns_when_lr_missing_only_if_it_could_apply():
    assert grade_cmr("left_atrium", {"la_ap_mm": 37}).warnings  # 35 < AP < 40: LR could decide
    assert grade_cmr("left_atrium", {"la_ap_mm": 33}).warnings == ()  # AP ≤ 35: pair rule already false


def test_semiquantitative_regurgitation():
    assert grade_cmr("mitral_regurgitation_extent", {"mr_jet_extent": "near_valve"}).term == "二尖瓣少量反流"
    assert grade_cmr("tricuspid_regurgitation_extent", {"tr_jet_extent": "心房中部"}).key == "moderate"
    assert grade_cmr("tricuspid_regurgitation_extent", {"tr_jet_extent": "atrial_roof"}).key == "large"


def test_grade_all_and_frozen():
    grades = grade_cmr_all({"lvef_percent": 45, "rvef_percent": 50, "sex": "male"})
    assert [g.criterion for g in grades] == ["lvef", "rvef"]  # left_ventricle lacks its diameter
    with pytest.raises(dataclasses.FrozenInstanceError):
        grades[0].key = "normal"  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------- invalid input


@pytest.mark.parametrize("meas, field", [
    ({"la_ap_mm": -1.0}, "la_ap_mm"),
    ({"la_ap_mm": 0.0}, "la_ap_mm"),
    ({"lvef_percent": 100.5}, "lvef_percent"),
    ({"lvef_percent": -0.1}, "lvef_percent"),
    ({"lvef_percent": float("nan")}, "lvef_percent"),
    ({"lvef_percent": "45"}, "lvef_percent"),
    ({"lv_volume_ml": 120.0}, "lv_volume_ml"),
    ({"sex": "x", "lv_transverse_mm": 50}, "sex"),
    ({"young": "no", "main_pulmonary_artery_mm": 20}, "young"),
])
def test_invalid_input_names_the_field(meas, field):
    with pytest.raises(InputError, match=field):
        grade_cmr_all(meas)


def test_missing_required_and_unknown_criterion():
    with pytest.raises(InputError, match="sex"):
        grade_cmr("left_ventricle", {"lv_transverse_mm": 56})
    with pytest.raises(InputError, match="septal_thickness_mm"):
        grade_cmr("lv_wall_thickness", {})
    with pytest.raises(InputError, match="lvef2"):
        grade_cmr("lvef2", {"lvef_percent": 50})


def test_bad_rule_file_is_a_profile_error(tmp_path):
    text = CMR_CRITERIA_TOML.read_text(encoding="utf-8").replace('"lvef_percent < 30"', '"lvef_pct < 30"')
    p = tmp_path / "bad.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError, match="lvef_pct"):
        load_cmr_rules(p)


# ---------------------------------------------------------------------------------------------- statements


def test_brief_example_lvef_45_reported_normal():
    chk = check_cmr_statement("左心室收缩功能正常", {"lvef_percent": 45})
    assert not chk.consistent
    assert chk.contradictions[0].computed.key == "mildly_reduced"


@pytest.mark.parametrize("text, meas, consistent", [
    ("左室收缩功能减低", {"lvef_percent": 35}, True),  # unspecified severity fits 中度
    ("左室收缩功能轻度减低", {"lvef_percent": 35}, False),  # wrong severity
    ("左室收缩功能正常低值", {"lvef_percent": 56}, False),  # longest match: not read as "正常"
    ("左室收缩功能正常", {"lvef_percent": 52}, True),  # 正常低值 is a normal value
    ("左 心 房 未见增大", {"la_ap_mm": 40}, False),  # whitespace and 左心房 normalised
    ("左房未见增大", {"la_ap_mm": 39.9}, True),  # "增大" inside "未见增大" is not read as enlarged
    ("右房饱满", {"ra_ap_mm": 56}, False),
    ("右房未见增大", {"ra_ap_mm": 52}, True),  # 饱满 is not 增大
    ("主动脉瓣中量反流", {"ar_regurgitant_fraction_percent": 50}, True),
    ("主动脉瓣少量反流", {"ar_regurgitant_fraction_percent": 30}, False),
    ("二尖瓣轻度关闭不全", {"mr_regurgitant_index_percent": 20}, False),
    ("主动脉瓣中度狭窄", {"aortic_valve_area_cm2": 0.9}, False),
    ("未见心肌延迟强化", {"lge_percent": 3.5}, False),
    ("右心室收缩功能大致正常", {"rvef_percent": 44}, False),
])
def test_statement_phrasings(text, meas, consistent):
    chk = check_cmr_statement(text, meas)
    assert len(chk.findings) == 1, chk.findings
    assert chk.findings[0].consistent is consistent, chk.findings[0].message


def test_statement_with_several_findings_and_unverifiable_phrase():
    chk = check_cmr_statement("左室收缩功能正常，右心室增大，升主动脉增宽。",
                              {"lvef_percent": 45, "rv_transverse_mm": 35})
    by = {f.criterion: f for f in chk.findings}
    assert by["lvef"].consistent is False
    assert by["right_ventricle"].consistent is True
    assert by["ascending_aorta"].consistent is None  # no aortic diameter given: not checkable
    assert len(chk.contradictions) == 1
