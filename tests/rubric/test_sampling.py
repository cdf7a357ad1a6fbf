"""Random QC sampling (seed 001 7.2.1.1) and the centralised-QC filter (7.2.1.3)."""

import doctest
import json
import math
import random

import pytest

import phantomqc.rubric.sampling as sampling
from phantomqc._shared.errors import InputError
from phantomqc.rubric.sampling import (SAMPLE_SCHEMA, SAMPLING_EXAMPLE_TOML, filter_exams, load_sampling_rules,
                                       parse_exams, parse_sampling_rules, read_exams, sample_exams,
                                       sampling_rules)


def _exam(i, *, staff="A1", device="CT", part="胸部", role="technologist", date="2024-03-15", **extra):
    return {"exam_id": f"E{i:05d}", "exam_date": date, "device_type": device, "exam_part": part, "staff": staff,
            "staff_role": role, **extra}


def _month_list(n=600, *, n_staff=12, month="2024-03"):
    """n exams over 28 days of one month, spread over staff, devices and parts."""
    devices, parts = ("CT", "DR", "MR"), ("胸部", "头颅", "腹部")
    return [_exam(i, staff=f"A{i % n_staff + 1}", device=devices[i % 3], part=parts[(i // 3) % 3],
                  role="doctor" if i % n_staff >= n_staff - 3 else "technologist",
                  date=f"{month}-{i % 28 + 1:02d}") for i in range(n)]


def _ids(doc):
    return [(e["exam_id"], e["reason"]) for e in doc["sampled"]]


RULES = parse_sampling_rules({"default_probability": 0.1, "min_per_person": 1,
                              "rules": [{"device_type": "MR", "probability": 0.3}]})


# ---- reproducibility ----
def test_same_seed_same_sample_and_schema():
    exams = _month_list()
    a, b = sample_exams(exams, RULES, seed=42), sample_exams(exams, RULES, seed=42)
    assert a == b
    assert a["schema"] == SAMPLE_SCHEMA and a["seed"] == 42 and a["n_exams"] == 600
    assert a["n_sampled"] == len(a["sampled"]) > 0
    json.dumps(a, ensure_ascii=False)  # JSON-serialisable
    for e in a["sampled"]:
        assert e["reason"] in ("random", "stratified") and 0 <= e["probability"] <= 1


def test_different_seed_different_sample():
    exams = _month_list()
    # ~70 exams sampled out of 600: two seeds giving the same set has probability far below 1e-50
    assert _ids(sample_exams(exams, RULES, seed=1)) != _ids(sample_exams(exams, RULES, seed=2))


def test_row_order_does_not_change_the_sample():
    exams = _month_list()
    shuffled = exams[:]
    random.Random(5).shuffle(shuffled)
    assert shuffled != exams
    a, b = sample_exams(exams, RULES, seed=9), sample_exams(shuffled, RULES, seed=9)
    assert a["sampled"] == b["sampled"] and a["by_stratum"] == b["by_stratum"]


def test_extra_columns_are_kept_and_rule_recorded():
    exams = [_exam(1, device="MR", accession="ACC1", comment="随访")]
    rules = parse_sampling_rules({"default_probability": 0.0, "min_per_person": 0,
                                  "rules": [{"name": "all MR", "device_type": "MR", "probability": 1.0}]})
    (e,) = sample_exams(exams, rules, seed=0)["sampled"]
    assert e["accession"] == "ACC1" and e["comment"] == "随访"
    assert e["rule"] == "all MR" and e["probability"] == 1.0 and e["reason"] == "random"


# ---- probabilities over 10 000 exams ----
def test_sampled_fraction_per_stratum_within_binomial_tolerance():
    devices = {"DR": 0.05, "CT": 0.2, "MR": 0.5}
    names = list(devices)
    exams = [_exam(i, device=names[i % 3], staff=f"A{i % 7}", date=f"2024-03-{i % 28 + 1:02d}")
             for i in range(10_000)]
    rules = parse_sampling_rules({"default_probability": 0.0, "min_per_person": 0,  # stratification off
                                  "rules": [{"device_type": d, "probability": p} for d, p in devices.items()]})
    for seed in (0, 1, 2):
        doc = sample_exams(exams, rules, seed=seed)
        assert doc["n_stratified"] == 0
        for dev, p in devices.items():
            n = sum(1 for e in exams if e["device_type"] == dev)
            k = sum(1 for e in doc["sampled"] if e["device_type"] == dev)
            # each exam is an independent Bernoulli(p) draw, so the sampled fraction k/n has standard deviation
            # sqrt(p (1 - p) / n) (binomial; n = 3333 or 3334 here). 4 SD is exceeded with probability 6e-5 per
            # check, so the 9 checks fail by chance with probability < 1e-3 (and the seeds are fixed). A rule
            # applied to the wrong stratum (0.05 vs 0.2: 40 SD) or a default leaking in is far outside.
            sd = math.sqrt(p * (1 - p) / n)
            assert abs(k / n - p) <= 4 * sd, (seed, dev, k / n, p, sd)
            by = [s for s in doc["by_stratum"] if s["device_type"] == dev]
            assert sum(s["sampled"] for s in by) == k
            assert sum(s["expected_random"] for s in by) == pytest.approx(n * p)


def test_probability_zero_never_and_one_always():
    exams = [_exam(i, device="CT" if i % 2 else "DR") for i in range(200)]
    rules = parse_sampling_rules({"default_probability": 0.0, "min_per_person": 0,
                                  "rules": [{"device_type": "CT", "probability": 1.0}]})
    doc = sample_exams(exams, rules, seed=3)
    assert {e["device_type"] for e in doc["sampled"]} == {"CT"} and doc["n_sampled"] == 100


# ---- stratification ----
def test_every_person_covered_each_month_with_tiny_probability():
    exams = _month_list(600, n_staff=12) + _month_list(240, n_staff=12, month="2024-04")
    exams = [{**e, "exam_id": f"{e['exam_date'][:7]}-{e['exam_id']}"} for e in exams]
    rules = parse_sampling_rules({"default_probability": 1e-6, "min_per_person": 1})
    doc = sample_exams(exams, rules, seed=11)
    people = {(e["exam_date"][:7], e["staff"]) for e in exams}
    covered = {(e["exam_date"][:7], e["staff"]) for e in doc["sampled"]}
    assert covered == people and len(people) == 24
    # p = 1e-6 on 840 exams: a random hit has probability < 1e-3, so all 24 are stratified picks, one each
    assert doc["n_sampled"] == 24 and doc["n_stratified"] == 24
    assert all(p["sampled"] == 1 and p["stratified"] == 1 for p in doc["by_person"])


def test_min_per_person_two_and_person_with_fewer_exams():
    exams = [_exam(i, staff="A1") for i in range(10)] + [_exam(100, staff="B1")]
    rules = parse_sampling_rules({"default_probability": 0.0, "min_per_person": 2})
    doc = sample_exams(exams, rules, seed=4)
    per = {p["staff"]: p["sampled"] for p in doc["by_person"]}
    assert per == {"A1": 2, "B1": 1}
    assert any("B1" in w and "fewer" in w for w in doc["warnings"])


def test_stratified_pick_is_uniform_over_the_persons_exams():
    # 5 exams, p = 0: the one stratified pick is uniform, so each exam is picked in 1/5 of 2000 seeds; the count
    # is Binomial(2000, 0.2) with SD sqrt(2000 * 0.2 * 0.8) = 17.9; 4 SD = 72
    exams = [_exam(i) for i in range(5)]
    rules = parse_sampling_rules({"default_probability": 0.0})
    counts = {e["exam_id"]: 0 for e in exams}
    for seed in range(2000):
        (e,) = sample_exams(exams, rules, seed=seed)["sampled"]
        counts[e["exam_id"]] += 1
    assert all(abs(c - 400) <= 72 for c in counts.values()), counts


def test_month_restricts_the_draw():
    exams = _month_list(60) + [_exam(900, date="2024-04-02", staff="Z9")]
    doc = sample_exams(exams, RULES, seed=1, month="2024-04")
    assert doc["n_exams"] == 1 and [e["exam_id"] for e in doc["sampled"]] == ["E00900"]
    with pytest.raises(InputError, match="YYYY-MM"):
        sample_exams(exams, RULES, seed=1, month="2024-4")


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
def test_bad_seed(seed):
    with pytest.raises(InputError, match="seed"):
        sample_exams([_exam(1)], RULES, seed=seed)


# ---- precedence ----
PREC = parse_sampling_rules({
    "default_probability": 0.01,
    "rules": [
        {"name": "CT", "device_type": "CT", "probability": 0.1},
        {"name": "doctor", "staff_role": "doctor", "probability": 0.2},
        {"name": "chest", "exam_part": "胸部", "probability": 0.3},
        {"name": "CT chest", "device_type": "CT", "exam_part": "胸部", "probability": 0.4},
        {"name": "A1", "staff": "A1", "probability": 0.5},
        {"name": "CT A1 doctor", "device_type": "CT", "staff": "A1", "staff_role": "doctor", "probability": 0.6},
        {"name": "A9 forced", "staff": ["A9", "A8"], "probability": 0.9, "priority": 1},
        {"name": "CT again", "device_type": "CT", "probability": 0.15},
    ]})


@pytest.mark.parametrize("exam,expected", [
    (dict(device_type="DR", exam_part="头颅", staff="B1", staff_role="technologist"), "default"),
    (dict(device_type="CT", exam_part="头颅", staff="B1", staff_role="technologist"), "CT"),  # first of equals
    (dict(device_type="DR", exam_part="头颅", staff="B1", staff_role="doctor"), "doctor"),
    (dict(device_type="CT", exam_part="头颅", staff="B1", staff_role="doctor"), "CT"),  # device > role
    (dict(device_type="DR", exam_part="胸部", staff="B1", staff_role="doctor"), "chest"),  # part > role
    (dict(device_type="CT", exam_part="胸部", staff="B1", staff_role="technologist"), "CT chest"),  # 2 conditions
    (dict(device_type="DR", exam_part="胸部", staff="A1", staff_role="technologist"), "A1"),  # staff > part
    (dict(device_type="CT", exam_part="胸部", staff="A1", staff_role="technologist"), "CT chest"),  # 2 > 1
    (dict(device_type="CT", exam_part="胸部", staff="A1", staff_role="doctor"), "CT A1 doctor"),  # 3 > 2
    (dict(device_type="CT", exam_part="胸部", staff="A8", staff_role="doctor"), "A9 forced"),  # priority, list
])
def test_precedence(exam, expected):
    p, name = PREC.probability_for(exam)
    assert name == expected
    assert p == ({"default": 0.01} | {r.name: r.probability for r in PREC.rules})[expected]


def test_rules_echo_and_example_file():
    rules = load_sampling_rules(SAMPLING_EXAMPLE_TOML)
    assert rules.default_probability == 0.05 and rules.min_per_person == 1
    assert rules.probability_for(_exam(1, device="CT", part="CT胸部平扫")) == (0.15, "CT chest and abdomen")
    assert rules.probability_for(_exam(1, device="CT", staff="A11")) == (0.5, "new technologist A11")
    echo = sample_exams([_exam(1)], SAMPLING_EXAMPLE_TOML, seed=1)["rules"]
    assert echo["default_probability"] == 0.05 and [r["name"] for r in echo["rules"]][:2] == ["CT", "MR"]
    assert echo["source"].endswith("sampling_example.toml") and "priority" in echo["precedence"]


@pytest.mark.parametrize("data,match", [
    ({"rules": []}, "default_probability"),
    ({"default_probability": 1.5}, "0 to 1"),
    ({"default_probability": 0.1, "min_per_person": -1}, "min_per_person"),
    ({"default_probability": 0.1, "rules": [{"probability": 0.2}]}, "no condition"),
    ({"default_probability": 0.1, "rules": [{"device_type": "CT"}]}, "no 'probability'"),
    ({"default_probability": 0.1, "rules": [{"modality": "CT", "probability": 0.2}]}, "unknown keys"),
    ({"default_probability": 0.1, "rules": [{"staff_role": "nurse", "probability": 0.2}]}, "staff_role"),
    ({"default_probability": 0.1, "rules": [{"device_type": [], "probability": 0.2}]}, "non-empty"),
    ({"default_probability": 0.1, "rules": [{"name": "x", "device_type": "CT", "probability": 0.2},
                                            {"name": "x", "device_type": "MR", "probability": 0.2}]}, "twice"),
    ({"default_probability": 0.1, "probabilty": 0.2}, "unknown top-level"),
])
def test_bad_rules(data, match):
    with pytest.raises(InputError, match=match):
        parse_sampling_rules(data)


def test_sampling_rules_from_any_form():
    text = SAMPLING_EXAMPLE_TOML.read_text(encoding="utf-8")
    from_text, from_path = sampling_rules(text), sampling_rules(SAMPLING_EXAMPLE_TOML)
    assert from_text.rules == from_path.rules and from_text.default_probability == 0.05
    assert sampling_rules(from_path) is from_path
    assert sampling_rules({"default_probability": 0.3}).default_probability == 0.3
    with pytest.raises(InputError, match="not TOML"):
        sampling_rules("default_probability = ")


def test_bad_rules_file_names_the_file(tmp_path):
    p = tmp_path / "r.toml"
    p.write_text("default_probability = 2\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_sampling_rules(p)
    assert str(p) in str(exc.value)
    p.write_text("default_probability = [\n", encoding="utf-8")
    with pytest.raises(InputError, match="TOML"):
        load_sampling_rules(p)


# ---- exam list and bad rows ----
def test_read_exams_csv_bad_rows(tmp_path):
    p = tmp_path / "exams.csv"
    p.write_text("exam_id,exam_date,device_type,exam_part,staff,staff_role,accession\n"
                 "E1,2024-03-02,CT,胸部,A1,technologist,X1\n"
                 "E2,2024-02-30,CT,胸部,A1,technologist,X2\n"
                 ",2024-03-02,CT,胸部,A1,technologist,X3\n"
                 "E4,2024-03-02,CT,胸部,A1,nurse,X4\n"
                 "E1,2024-03-03,DR,胸部,A2,doctor,X5\n"
                 "E6,20240305,DR,,A2,doctor,X6\n"
                 "E7,2024-03-06 08:30,MR,头颅,A3,doctor,X7\n", encoding="utf-8")
    exams, errors = read_exams(p)
    assert [e["exam_id"] for e in exams] == ["E1", "E6", "E7"]
    assert exams[1]["exam_date"] == "2024-03-05" and exams[2]["exam_date"] == "2024-03-06"
    assert exams[0]["accession"] == "X1"
    by_row = {e["row"]: e["message"] for e in errors}
    assert set(by_row) == {3, 4, 5, 6}  # CSV header is row 1
    assert "2024-02-30" in by_row[3] and "not a date" in by_row[3]
    assert "'exam_id' is empty" in by_row[4]
    assert "nurse" in by_row[5] and "staff_role" in by_row[5]
    assert "listed again" in by_row[6] and "row 2" in by_row[6]
    assert all(str(p) in m for m in by_row.values())
    doc = sample_exams(p, RULES, seed=0)
    assert doc["n_exams"] == 3 and len(doc["errors"]) == 4


def test_read_exams_json_and_whole_file_errors(tmp_path):
    p = tmp_path / "exams.json"
    p.write_text(json.dumps({"exams": [_exam(1), _exam(2, date="March")]}, ensure_ascii=False), encoding="utf-8")
    exams, errors = read_exams(p)
    assert len(exams) == 1 and errors[0]["row"] == 2 and errors[0]["exam_id"] == "E00002"
    bad = tmp_path / "bad.csv"
    bad.write_text("exam_id,exam_date\nE1,2024-03-01\n", encoding="utf-8")
    with pytest.raises(InputError, match="lacks columns"):
        read_exams(bad)
    (tmp_path / "exams.txt").write_text("E1", encoding="utf-8")
    with pytest.raises(InputError, match="expected .csv or .json"):
        read_exams(tmp_path / "exams.txt")
    (tmp_path / "x.json").write_text("{", encoding="utf-8")
    with pytest.raises(InputError, match="not valid JSON"):
        read_exams(tmp_path / "x.json")


def test_parse_exams_rows_not_mappings_and_missing_staff():
    exams, errors = parse_exams([_exam(1), "E2", _exam(3, staff="")])
    assert len(exams) == 1 and [e["row"] for e in errors] == [2, 3]
    assert "'staff' is empty" in errors[1]["message"]


# ---- centralised QC filter ----
FILTER_EXAMS = [
    _exam(1, device="CT", part="胸部", staff="A1", date="2024-03-01", comment="右肺结节"),
    _exam(2, device="DR", part="胸部", staff="A2", date="2024-03-10"),
    _exam(3, device="MR", part="头颅", staff="D1", role="doctor", date="2024-03-20", comment="随访 Lesion"),
    _exam(4, device="CT", part="腹部", staff="D1", role="doctor", date="2024-03-31"),
]


@pytest.mark.parametrize("kwargs,expected", [
    ({}, [1, 2, 3, 4]),
    ({"date_from": "2024-03-10"}, [2, 3, 4]),
    ({"date_to": "2024-03-10"}, [1, 2]),  # both bounds inclusive
    ({"date_from": "2024-03-10", "date_to": "2024-03-20"}, [2, 3]),
    ({"device_type": "CT"}, [1, 4]),
    ({"device_type": ["CT", "MR"]}, [1, 3, 4]),
    ({"exam_part": "胸部", "device_type": "CT"}, [1]),
    ({"staff": {"A2", "D1"}}, [2, 3, 4]),
    ({"staff_role": "doctor"}, [3, 4]),
    ({"text": "结节"}, [1]),
    ({"text": "lesion"}, [3]),  # case-insensitive
    ({"text": ["结节", "腹部"]}, [1, 4]),
    ({"staff_role": "doctor", "date_to": "2024-03-30"}, [3]),
])
def test_filter_exams(kwargs, expected):
    got = filter_exams(FILTER_EXAMS, **kwargs)
    assert [int(e["exam_id"][1:]) for e in got] == expected
    assert all(any(g is e for e in FILTER_EXAMS) for g in got)  # the rows themselves


def test_filter_exams_errors():
    with pytest.raises(InputError, match="non-empty collection"):
        filter_exams(FILTER_EXAMS, device_type=[])
    with pytest.raises(InputError, match="date_from"):
        filter_exams(FILTER_EXAMS, date_from="yesterday")
    with pytest.raises(InputError, match="read_exams"):
        filter_exams([_exam(1, date="bad")], date_to="2024-03-01")
    # no date filter: an unparsed date is not looked at
    assert len(filter_exams([_exam(1, date="bad")], device_type="CT")) == 1


def test_docstring_examples_run():
    assert doctest.testmod(sampling).failed == 0
