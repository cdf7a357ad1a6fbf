"""The seed forms as data: codes, counts and point totals equal the seeds'; malformed forms are refused."""

from pathlib import Path

import pytest

from phantomqc._shared.errors import ProfileError
from phantomqc.rubric.forms import FORMS_DIR, ITEM_CODE_PATTERN, get_form, load_form, load_forms

# (severe items, criteria items) as counted in the seeds: 001 Appendix A, 002 Table B.1, 004 Tables 7.1/7.2,
# 000 NM-07 attached table (21 elements + blood glucose for 18F-FDG).
SEED_COUNTS = {
    "application": (0, 5), "image_quality": (3, 5), "film_layout": (3, 4), "reconstruction_3d": (3, 4),
    "report_quality": (7, 4), "report_review": (8, 4), "report_b1": (0, 7), "cmr_report": (0, 7),
    "cmr_film": (0, 5), "petct_report_elements": (0, 22),
}


def test_all_seed_forms_present():
    assert set(load_forms()) == set(SEED_COUNTS)


def test_item_codes_unique_and_match_pattern():
    codes = [i.code for f in load_forms().values() for i in f.items]
    assert len(codes) == len(set(codes))
    for f in load_forms().values():
        for i in f.items:
            m = ITEM_CODE_PATTERN.match(i.code)
            assert m and m["form"] == f.id and m["kind"] == i.kind and int(m["number"]) == i.number


@pytest.mark.parametrize("form_id", sorted(SEED_COUNTS))
def test_item_counts_equal_seed(form_id):
    f = get_form(form_id)
    assert (len(f.severe_items), len(f.criteria_items)) == SEED_COUNTS[form_id]


@pytest.mark.parametrize("form_id,total,section_totals", [
    ("report_b1", 30, {"1、": 10, "2、": 20}),
    ("cmr_report", 100, {"报告质控制度": 50, "报告质量": 50}),
    ("cmr_film", 100, {"胶片打印规范": 50, "互认图像质量": 50}),
])
def test_point_totals_equal_seed(form_id, total, section_totals):
    f = get_form(form_id)
    assert sum(i.points for i in f.items) == total == f.rule.total_points
    for prefix, pts in section_totals.items():
        items = [i for i in f.items if i.section.startswith(prefix)]
        assert sum(i.points for i in items) == pts
        assert all(i.section_points == pts for i in items)


def test_pass_thresholds_from_seeds():
    assert get_form("report_b1").rule.pass_min_score == 21
    assert get_form("cmr_report").rule.pass_min_score == 60
    assert get_form("cmr_film").rule.pass_min_score == 60
    for fid in ("image_quality", "film_layout", "reconstruction_3d", "report_quality", "report_review"):
        assert get_form(fid).rule.pass_min_score == 3


def test_petct_21_elements_plus_glucose():
    f = get_form("petct_report_elements")
    sections = {}
    for i in f.items[:21]:
        sections[i.section] = sections.get(i.section, 0) + 1
    # the attached table's 项目数 column
    assert sections == {"临床病史": 3, "操作流程": 6, "前后显像对比": 2, "报告描述": 4, "报告结论": 4, "报告图像": 2}
    assert f.items[21].applies_to_tracer == "18F-FDG" and "血糖" in f.items[21].text


def test_wording_copied_from_seed():
    seeds = Path(__file__).resolve().parents[2] / "docs" / "seeds"  # copies of ../shared/seeds, kept in the repo
    assert len(list(seeds.glob("*.txt"))) >= 5, seeds
    text = {p.name: "".join(p.read_text(encoding="utf-8").split()) for p in seeds.glob("*.txt")}
    for f in load_forms().values():
        seed = text[f.seed]
        for i in f.items:
            if f.id == "petct_report_elements" and i.number == 22:
                continue  # the glucose element is named in prose ("血糖浓度内容"), checked below
            assert "".join(i.text.split()) in seed, i.code
    assert "血糖浓度" in text["000_9a2b42e02e10cf10.txt"]


def test_choices_documented_for_open_cases():
    for fid in ("image_quality", "film_layout", "reconstruction_3d", "report_review", "petct_report_elements",
                "application"):
        assert get_form(fid).rule.choice


def _write(tmp_path, name, body):
    p = tmp_path / f"{name}.toml"
    p.write_text(body, encoding="utf-8")
    return p


GOOD = '''id = "x"
title = "t"
seed = "s"
source = "src"
[scoring]
kind = "points"
total_points = 3
pass_min_score = 2
seed_rule = "r"
[[items]]
code = "x.item.1"
text = "a"
points = 1
[[items]]
code = "x.item.2"
text = "b"
points = 2
'''


def test_minimal_form_loads(tmp_path):
    assert load_form(_write(tmp_path, "x", GOOD)).max_score == 3


@pytest.mark.parametrize("change,needle", [
    (("points = 2", "points = 3"), "sum to 4"),
    (('code = "x.item.2"', 'code = "x.item.1"'), "duplicate"),
    (('code = "x.item.2"', 'code = "x.item.3"'), "numbered"),
    (('code = "x.item.2"', 'code = "y.item.2"'), "form id"),
    (('code = "x.item.2"', 'code = "x.bad.2"'), "does not match"),
    (('kind = "points"', 'kind = "magic"'), "kind"),
    (('text = "b"', 'txt = "b"'), "unknown keys"),
])
def test_malformed_forms_refused(tmp_path, change, needle):
    with pytest.raises(ProfileError, match=needle):
        load_form(_write(tmp_path, "x", GOOD.replace(*change)))


def test_count_table_length_checked(tmp_path):
    body = '''id = "y"
title = "t"
seed = "s"
source = "src"
[scoring]
kind = "severe_then_count"
severe_score = 1
score_by_satisfied = [2, 5]
pass_min_score = 3
seed_rule = "r"
[[items]]
code = "y.severe.1"
text = "a"
[[items]]
code = "y.item.1"
text = "b"
[[items]]
code = "y.item.2"
text = "c"
'''
    with pytest.raises(ProfileError, match="entries"):
        load_form(_write(tmp_path, "y", body))


def test_unknown_form_id():
    with pytest.raises(ProfileError, match="unknown form"):
        get_form("nope")


def test_forms_dir_is_package_data():
    assert FORMS_DIR.is_dir() and len(list(FORMS_DIR.glob("*.toml"))) == len(SEED_COUNTS)
