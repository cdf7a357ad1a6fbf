"""Graded QC permissions (seed 001 7.2.2): which role may score which form, per rules/permissions.toml.

The expected table is typed here by hand from the documented choice in rules/permissions.toml (the seed's figure
13 is not in its text), so a change to the data file must be made in both places on purpose.
"""

import doctest

import pytest

import phantomqc.rubric.permissions as permissions_mod
from phantomqc._shared.errors import InputError
from phantomqc.rubric.forms import load_forms
from phantomqc.rubric.permissions import (check_record_permissions, load_permissions, may_score,
                                          parse_permissions)
from phantomqc.rubric.scoring import parse_records

TECH = {"image_quality", "film_layout", "reconstruction_3d"}
REPORTING = TECH | {"application"}
AUDITING = REPORTING | {"report_quality"}
QC_GROUP = AUDITING | {"report_review", "report_b1", "cmr_report", "cmr_film", "petct_report_elements"}
ALLOWED = {"technologist_qc": TECH, "reporting_doctor": REPORTING, "auditing_doctor": AUDITING,
           "qc_group": QC_GROUP, "director": QC_GROUP}
ALL_FORMS = sorted(load_forms())
LABELS = {"technologist_qc": "技师质控员", "reporting_doctor": "报告医生", "auditing_doctor": "审核医生",
          "qc_group": "科室质控组", "director": "科主任"}


def test_the_packaged_forms_are_the_ten_expected():
    assert set(ALL_FORMS) == QC_GROUP and len(ALL_FORMS) == 10


@pytest.mark.parametrize("role", sorted(ALLOWED))
@pytest.mark.parametrize("form_id", ALL_FORMS)
def test_role_x_form(role, form_id):
    expected = form_id in ALLOWED[role]
    assert may_score(role, form_id) is expected
    assert may_score(LABELS[role], form_id) is expected  # the Chinese label names the same role


def test_roles_levels_and_aliases():
    perms = load_permissions()
    assert [r.id for r in perms.roles] == ["technologist_qc", "reporting_doctor", "auditing_doctor", "qc_group",
                                           "director"]
    assert [r.level for r in perms.roles] == [1, 2, 3, 4, 5]
    assert perms.role("主任").id == "director" and perms.role(" 质控组长 ").id == "qc_group"
    assert perms.role("上级医师").id == "auditing_doctor"
    # graded: each level may score everything the level below may
    for lower, higher in zip(perms.roles, perms.roles[1:]):
        assert lower.forms <= higher.forms, (lower.id, higher.id)
    assert all(r.basis for r in perms.roles)  # every choice carries its reason


def test_unknown_role_or_form_names_it():
    with pytest.raises(InputError, match="'nurse'") as exc:
        may_score("nurse", "image_quality")
    assert "reporting_doctor" in str(exc.value)
    with pytest.raises(InputError, match="'image_qualty'") as exc:
        may_score("director", "image_qualty")
    assert "image_quality" in str(exc.value)


def _records():
    base = {"exam_date": "2024-03-02", "device_type": "CT", "exam_part": "胸部", "staff_role": "technologist"}
    return parse_records([
        {**base, "exam_id": "E1", "staff": "T1", "qc_person": "D1", "form": "image_quality"},   # allowed
        {**base, "exam_id": "E2", "staff": "T1", "qc_person": "T9", "form": "application"},     # tech: no
        {**base, "exam_id": "E3", "staff": "D2", "staff_role": "doctor", "qc_person": "D1",
         "form": "report_quality"},                                                           # reporting: no
        {**base, "exam_id": "E4", "staff": "D2", "staff_role": "doctor", "qc_person": "A1",
         "form": "report_quality"},                                                           # auditing: yes
        {**base, "exam_id": "E5", "staff": "T1", "qc_person": "X1", "form": "image_quality"},   # not in qc_roles
        {**base, "exam_id": "E6", "staff": "T1", "qc_person": "", "form": "image_quality"},     # no qc_person
        {**base, "exam_id": "E7", "staff": "Q1", "staff_role": "doctor", "qc_person": "Q1",
         "form": "report_review"},                                                            # self QC
    ])


QC_ROLES = {"D1": "报告医生", "T9": "technologist_qc", "A1": "审核医生", "Q1": "qc_group"}


def test_check_record_permissions():
    rs = _records()
    assert len(rs.records) == 7 and not rs.errors
    v = check_record_permissions(rs, QC_ROLES)
    assert [(x["exam_id"], x["reason"], x["role"]) for x in v] == [
        ("E2", "form_not_permitted", "technologist_qc"), ("E3", "form_not_permitted", "reporting_doctor"),
        ("E5", "unknown_qc_person", None), ("E6", "no_qc_person", None)]
    assert v[0]["row"] == 2 and "may not score form 'application'" in v[0]["message"]
    # the same records as a plain list, and with self-QC forbidden
    v2 = check_record_permissions(list(rs.records), QC_ROLES, forbid_self_qc=True)
    assert [(x["exam_id"], x["reason"]) for x in v2][-1] == ("E7", "self_qc")
    assert len(v2) == 5


def test_check_record_permissions_bad_input():
    with pytest.raises(InputError, match="qc_roles\\['D1'\\].*'radiographer'"):
        check_record_permissions(_records(), {"D1": "radiographer"})
    with pytest.raises(InputError, match="QCRecord"):
        check_record_permissions([{"exam_id": "E1"}], QC_ROLES)


def test_custom_permissions_file(tmp_path):
    p = tmp_path / "perm.toml"
    p.write_text('schema = "phantomqc.rubric_permissions/1"\n'
                 '[[roles]]\nid = "qc"\nlabel = "质控员"\nlevel = 1\nforms = ["report_b1"]\n', encoding="utf-8")
    perms = load_permissions(p)
    assert may_score("质控员", "report_b1", permissions=perms)
    assert not may_score("qc", "image_quality", permissions=perms)
    with pytest.raises(InputError, match="director"):  # the packaged roles are not in this file
        may_score("director", "report_b1", permissions=perms)
    v = check_record_permissions([r for r in _records().records if r.exam_id == "E1"], {"D1": "qc"},
                                 permissions=perms)
    assert [x["reason"] for x in v] == ["form_not_permitted"] and "report_b1" in v[0]["message"]


@pytest.mark.parametrize("data,match", [
    ({"roles": []}, "no roles"),
    ({"roles": [{"id": "a", "label": "甲", "level": 1, "forms": ["nope"]}]}, "unknown forms \\['nope'\\]"),
    ({"roles": [{"id": "a", "label": "甲", "level": 0, "forms": []}]}, "level"),
    ({"roles": [{"id": "a", "level": 1, "forms": []}]}, "label"),
    ({"roles": [{"id": "a", "label": "甲", "level": 1, "forms": ["report_b1", "report_b1"]}]}, "twice"),
    ({"roles": [{"id": "a", "label": "甲", "level": 1, "forms": []},
                {"id": "b", "label": "甲", "level": 2, "forms": []}]}, "'甲' is used by roles"),
    ({"roles": [{"id": "a", "label": "甲", "level": 1, "forms": []},
                {"id": "a", "label": "乙", "level": 2, "forms": []}]}, "defined twice"),
    ({"roles": [{"id": "a", "label": "甲", "level": 1, "forms": [], "inherits": ["b"]}]}, "unknown keys"),
    ({"schema": "x/2", "roles": []}, "schema"),
])
def test_bad_permissions(data, match):
    with pytest.raises(InputError, match=match):
        parse_permissions(data)


def test_bad_permissions_file_names_the_file(tmp_path):
    p = tmp_path / "perm.toml"
    p.write_text("[[roles]]\nid = ", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_permissions(p)
    assert str(p) in str(exc.value)


def test_docstring_examples_run():
    assert doctest.testmod(permissions_mod).failed == 0
