"""Gold standard (seed 001 7.3.1): two senior readers, a third to arbitrate; Cohen's kappa between the readers.

The kappa values are computed by hand in each test from the contingency table (Cohen 1960: kappa = (p_o - p_e) /
(1 - p_e); Cohen 1968 for the weighted forms), written out as fractions, not through the library's own table.
"""

import doctest
import json
import math

import numpy as np
import pytest

import phantomqc.rubric.gold as gold
from phantomqc._shared.errors import InputError
from phantomqc.rubric.gold import GOLD_SCHEMA, Z_95, _kappa_se, cohen_kappa, gold_standard, kappa_table


def _pairs(table, labels):
    """Expand a contingency table (rows: rater 1, columns: rater 2) into two label lists."""
    a, b = [], []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            a += [labels[i]] * count
            b += [labels[j]] * count
    return a, b


# classic 2x2 example: 50 items; yes/yes 20, yes/no 5, no/yes 10, no/no 15
T2 = [[20, 5], [10, 15]]
# 3x3 example on scores 1..3, n = 50; row sums 13, 17, 20; column sums 14, 18, 18
T3 = [[10, 2, 1], [3, 12, 2], [1, 4, 15]]


def test_kappa_2x2_classic():
    a, b = _pairs(T2, ["yes", "no"])
    p_o = (20 + 15) / 50  # 0.70
    p_e = (25 / 50) * (30 / 50) + (25 / 50) * (20 / 50)  # rater 1 yes 25/50, rater 2 yes 30/50 -> 0.50
    assert p_o == pytest.approx(0.70) and p_e == pytest.approx(0.50)
    assert cohen_kappa(a, b) == pytest.approx((p_o - p_e) / (1 - p_e)) == pytest.approx(0.40)
    cats, table = kappa_table(a, b, categories=["yes", "no"])
    assert cats == ["yes", "no"] and table.tolist() == T2


def test_kappa_3x3_unweighted_and_weighted_by_hand():
    a, b = _pairs(T3, [1, 2, 3])
    n2 = 50 * 50
    p_o = (10 + 12 + 15) / 50  # 37/50
    p_e = (13 * 14 + 17 * 18 + 20 * 18) / n2  # 848/2500
    assert cohen_kappa(a, b) == pytest.approx((p_o - p_e) / (1 - p_e)) == pytest.approx(0.606538, abs=1e-6)
    # linear weights 1 - |i-j|/2: off by one 0.5, off by two 0; off-by-one cells 2+3+2+4 = 11
    off1_e = 13 * 18 + 17 * 14 + 17 * 18 + 20 * 18  # r1 c2 + r2 c1 + r2 c3 + r3 c2 = 1138
    pw_o, pw_e = (37 + 0.5 * 11) / 50, (848 + 0.5 * off1_e) / n2
    assert cohen_kappa(a, b, weights="linear") == pytest.approx((pw_o - pw_e) / (1 - pw_e))
    assert cohen_kappa(a, b, weights="linear") == pytest.approx(0.653740, abs=1e-6)
    # quadratic weights 1 - (|i-j|/2)^2: off by one 0.75
    pq_o, pq_e = (37 + 0.75 * 11) / 50, (848 + 0.75 * off1_e) / n2
    assert cohen_kappa(a, b, weights="quadratic") == pytest.approx((pq_o - pq_e) / (1 - pq_e))
    assert cohen_kappa(a, b, weights="quadratic") == pytest.approx(0.702567, abs=1e-6)


def test_perfect_chance_and_systematic_disagreement():
    assert cohen_kappa([1, 2, 3, 3, 5], [1, 2, 3, 3, 5]) == pytest.approx(1.0)
    assert cohen_kappa([1, 2, 3, 3, 5], [1, 2, 3, 3, 5], weights="quadratic") == pytest.approx(1.0)
    # independent margins: counts = n * outer((0.5, 0.5), (0.4, 0.6)) -> p_o = p_e = 0.5 -> kappa 0
    a, b = _pairs([[20, 30], [20, 30]], ["合格", "不合格"])
    assert cohen_kappa(a, b) == pytest.approx(0.0, abs=1e-12)
    # always opposite: p_o = 0, p_e = 0.5 -> -1
    a, b = _pairs([[0, 5], [5, 0]], [0, 1])
    assert cohen_kappa(a, b) == pytest.approx(-1.0)


def test_kappa_undefined_when_p_e_is_one():
    assert cohen_kappa([4, 4, 4], [4, 4, 4]) is None
    assert cohen_kappa([4, 4, 4], [4, 4, 4], categories=[1, 2, 3, 4, 5], weights="linear") is None
    doc = gold_standard([{"exam_id": f"E{i}", "form": "image_quality", "reader_1": "R1", "score_1": 5,
                          "reader_2": "R2", "score_2": 5} for i in range(4)])
    ag = doc["agreement"]
    assert ag["kappa"] is None and ag["kappa_se"] is None and "undefined" in ag["note"]
    assert ag["observed_percent"] == 100.0 and ag["n"] == 4


def test_categories_change_weighted_kappa_only_through_positions():
    a, b = [1, 2, 4, 4], [2, 2, 4, 1]
    # categories seen: [1, 2, 4] -> positions 0, 1, 2; the full scale 1..5 puts 4 at distance 3 from 1
    k_seen, k_scale = cohen_kappa(a, b, weights="linear"), cohen_kappa(a, b, categories=range(1, 6), weights="linear")
    assert k_seen != pytest.approx(k_scale)
    # by hand on the full scale, disagreement weights |i-j| (scale-free): pairs (1,2),(2,2),(4,4),(4,1)
    # observed disagreement = (1 + 0 + 0 + 3)/4 = 1; expected = mean over a x b of |x - y|
    exp = np.mean([abs(x - y) for x in a for y in b])
    assert k_scale == pytest.approx(1 - 1 / exp)
    # unweighted kappa does not depend on unused categories
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa(a, b, categories=range(1, 6)))


@pytest.mark.parametrize("args,kwargs,match", [
    (([1, 2], [1]), {}, "2 and 1 ratings"),
    (([], []), {}, "no ratings"),
    (([1, 6], [1, 2]), {"categories": [1, 2, 3]}, "not in categories"),
    (([1, 2], [1, 2]), {"weights": "cubic"}, "weights"),
    (([1, 2], [1, 2]), {"categories": [1, 1, 2]}, "repeat"),
])
def test_cohen_kappa_bad_input(args, kwargs, match):
    with pytest.raises(InputError, match=match):
        cohen_kappa(*args, **kwargs)


def test_kappa_se_by_hand_on_2x2():
    # Fleiss, Cohen & Everitt (1969) on T2: p = [[.4, .1], [.2, .3]], rows (.5, .5), columns (.6, .4), k = .4
    k, pe = 0.4, 0.5
    diag = 0.4 * (1 - (0.5 + 0.6) * (1 - k)) ** 2 + 0.3 * (1 - (0.5 + 0.4) * (1 - k)) ** 2
    off = (1 - k) ** 2 * (0.1 * (0.6 + 0.5) ** 2 + 0.2 * (0.4 + 0.5) ** 2)  # p_12 (p_.1 + p_2.)^2 + p_21 (...)
    var = (diag + off - (k - pe * (1 - k)) ** 2) / (50 * (1 - pe) ** 2)
    assert _kappa_se(np.array(T2), k, pe) == pytest.approx(math.sqrt(var)) == pytest.approx(0.126997, abs=1e-6)


def test_kappa_se_matches_simulated_spread():
    # Ground truth for the SE formula: draw 20 000 tables of n = 400 from a fixed 3x3 cell distribution with
    # unequal margins and take the standard deviation of the kappas. The relative standard error of a sample SD
    # from m draws is about 1/sqrt(2 m) = 0.5 %; the large-sample formula's own bias at n = 400 is O(1/n). A 3 %
    # tolerance passes the FCE formula and fails it with the marginals of the off-diagonal term transposed
    # ((p_i. + p_.j)^2 instead of (p_.i + p_j.)^2), which is 32 % off for this asymmetric table.
    P = np.array([[0.40, 0.25, 0.10], [0.0, 0.10, 0.05], [0.0, 0.0, 0.10]])  # rater 2 systematically higher
    n, m = 400, 20_000
    tables = np.random.default_rng(2024).multinomial(n, P.ravel(), size=m).reshape(m, 3, 3) / n
    p_o = np.trace(tables, axis1=1, axis2=2)
    p_e = np.einsum("ki,ki->k", tables.sum(axis=2), tables.sum(axis=1))
    sd = np.std((p_o - p_e) / (1 - p_e), ddof=1)
    row, col = P.sum(axis=1), P.sum(axis=0)
    pe_true = float(row @ col)
    k_true = (np.trace(P) - pe_true) / (1 - pe_true)
    se = _kappa_se(P * n, k_true, pe_true)
    assert se == pytest.approx(sd, rel=0.03)
    # the transposed-marginal variant is outside the tolerance, so the test can tell the two apart
    off = P.copy()
    np.fill_diagonal(off, 0)
    wrong_b = (1 - k_true) ** 2 * float((off * (row[:, None] + col[None, :]) ** 2).sum())
    right_b = (1 - k_true) ** 2 * float((off * (col[:, None] + row[None, :]) ** 2).sum())
    wrong_se = math.sqrt(se ** 2 + (wrong_b - right_b) / (n * (1 - pe_true) ** 2))
    assert abs(wrong_se / sd - 1) > 0.03


def _kappa_disagreement_form(a, b, cats, w):
    """Cohen's (weighted) kappa written independently, in the disagreement form
    kappa_w = 1 - sum(v_ij O_ij) / sum(v_ij E_ij), v = 0/1 (unweighted), |i-j| (linear), (i-j)^2 (quadratic),
    with O and E counted by plain loops (Cohen 1968), not through the module's table code."""
    k = len(cats)
    idx = {c: i for i, c in enumerate(cats)}
    obs = [[0.0] * k for _ in range(k)]
    for x, y in zip(a, b):
        obs[idx[x]][idx[y]] += 1
    n = len(a)
    rows = [sum(obs[i]) for i in range(k)]
    cols = [sum(obs[i][j] for i in range(k)) for j in range(k)]
    v = {None: lambda i, j: float(i != j), "linear": lambda i, j: abs(i - j),
         "quadratic": lambda i, j: (i - j) ** 2}[w]
    num = sum(v(i, j) * obs[i][j] for i in range(k) for j in range(k))
    den = sum(v(i, j) * rows[i] * cols[j] / n for i in range(k) for j in range(k))
    return 1 - num / den


def test_cross_check_with_independent_disagreement_form():
    rng = np.random.default_rng(7)
    a = rng.integers(1, 6, 300)
    b = np.clip(a + rng.integers(-1, 2, 300), 1, 5)
    for w in (None, "linear", "quadratic"):
        ours = cohen_kappa(a.tolist(), b.tolist(), categories=[1, 2, 3, 4, 5], weights=w)
        want = _kappa_disagreement_form(a.tolist(), b.tolist(), [1, 2, 3, 4, 5], w)
        assert ours == pytest.approx(want, abs=1e-12)  # same quantity, two algebraic forms: rounding only


# ---- gold-standard flows ----
def _r(eid, s1, s2, *, form="image_quality", arbiter=None, s3=None, r1="R1", r2="R2"):
    d = {"exam_id": eid, "form": form, "reader_1": r1, "score_1": s1, "reader_2": r2, "score_2": s2}
    if arbiter is not None:
        d["arbiter"] = arbiter
    if s3 is not None:
        d["score_3"] = s3
    return d


def test_agreed_arbitrated_pending():
    doc = gold_standard([_r("E1", 5, 5), _r("E2", 4, 2, arbiter="R3", s3=3), _r("E3", 2, 4),
                         _r("E4", 3, 4, arbiter="R3"), _r("E5", "4", 4.0)])
    assert doc["schema"] == GOLD_SCHEMA and doc["errors"] == []
    got = {e["exam_id"]: (e["agreed"], e["status"], e["final_score"]) for e in doc["exams"]}
    assert got == {"E1": (True, "agreed", 5), "E2": (False, "arbitrated", 3), "E3": (False, "pending", None),
                   "E4": (False, "pending", None), "E5": (True, "agreed", 4)}
    assert doc["counts"] == {"agreed": 2, "arbitrated": 1, "pending": 2}
    assert doc["pending"] == ["E3", "E4"]
    assert doc["exams"][1]["arbiter"] == "R3" and doc["exams"][1]["score_3"] == 3
    json.dumps(doc, ensure_ascii=False)


def test_arbiter_score_ignored_when_readers_agree():
    doc = gold_standard([_r("E1", 4, 4, arbiter="R3", s3=2)])
    (e,) = doc["exams"]
    assert e["status"] == "agreed" and e["final_score"] == 4
    assert len(doc["warnings"]) == 1 and "not used" in doc["warnings"][0]


def test_tolerance():
    readings = [_r("E1", 4, 5), _r("E2", 3, 5), _r("E3", 5, 5)]
    strict = {e["exam_id"]: e["status"] for e in gold_standard(readings)["exams"]}
    assert strict == {"E1": "pending", "E2": "pending", "E3": "agreed"}
    loose = gold_standard(readings, tolerance=1)
    got = {e["exam_id"]: (e["status"], e["final_score"]) for e in loose["exams"]}
    assert got == {"E1": ("agreed", 4), "E2": ("pending", None), "E3": ("agreed", 5)}  # the lower of 4 and 5
    ag = loose["agreement"]
    assert ag["within_tolerance_percent"] == pytest.approx(200 / 3) and ag["observed_percent"] == pytest.approx(100 / 3)
    with pytest.raises(InputError, match="tolerance"):
        gold_standard(readings, tolerance=-1)


def test_pass_fail_form():
    doc = gold_standard([_r("E1", "合格", "pass", form="application"),
                         _r("E2", "fail", "合格", form="application", arbiter="R3", s3="不合格"),
                         _r("E3", "不合格", "FAIL", form="application")])
    got = [(e["score_1"], e["score_2"], e["status"], e["final_score"]) for e in doc["exams"]]
    assert got == [("合格", "合格", "agreed", "合格"), ("不合格", "合格", "arbitrated", "不合格"),
                   ("不合格", "不合格", "agreed", "不合格")]
    # table 合格/不合格: rows (2, 1)... pairs (合格,合格), (不合格,合格), (不合格,不合格): p_o = 2/3,
    # rater 1 合格 1/3, rater 2 合格 2/3: p_e = 1/3 * 2/3 + 2/3 * 1/3 = 4/9; kappa = (2/3 - 4/9)/(5/9) = 0.4
    assert doc["agreement"]["kappa"] == pytest.approx(0.4) and doc["agreement"]["scale"] == "pass_fail"


def test_agreement_block_on_the_3x3_table():
    a, b = _pairs(T3, [1, 2, 3])
    doc = gold_standard([_r(f"E{i}", x, y) for i, (x, y) in enumerate(zip(a, b))])
    ag = doc["agreement"]
    assert ag["n"] == 50 and ag["categories"] == [1, 2, 3, 4, 5]
    assert ag["observed_percent"] == pytest.approx(74.0) and ag["expected_percent"] == pytest.approx(33.92)
    assert ag["kappa"] == pytest.approx(0.606538, abs=1e-6)
    # linear weighted kappa is scale-free in the disagreement weights, and 4, 5 are unused end categories,
    # so it equals the 3-category hand value
    assert ag["weighted_kappa_linear"] == pytest.approx(0.653740, abs=1e-6)
    assert ag["kappa_se"] == pytest.approx(_kappa_se(np.array(T3), ag["kappa"], 0.3392))
    lo, hi = ag["kappa_ci95"]
    assert lo == pytest.approx(ag["kappa"] - Z_95 * ag["kappa_se"]) and hi == pytest.approx(
        ag["kappa"] + Z_95 * ag["kappa_se"])
    assert doc["counts"]["agreed"] == 37 and doc["counts"]["pending"] == 13
    assert doc["agreement_by_form"][0]["form"] == "image_quality"
    assert doc["agreement_by_form"][0]["kappa"] == pytest.approx(ag["kappa"])


def test_mixed_scales_give_per_form_kappa_only():
    doc = gold_standard([_r("E1", 5, 4), _r("E2", 3, 3), _r("E1", "合格", "不合格", form="application"),
                         _r("E2", "合格", "合格", form="application")])
    assert doc["agreement"]["kappa"] is None and "scales" in doc["agreement"]["note"]
    assert doc["agreement"]["n"] == 4
    assert [b["form"] for b in doc["agreement_by_form"]] == ["application", "image_quality"]


def test_bad_rows_are_listed_and_the_rest_go_on():
    rows = [
        _r("E1", 5, 5),
        _r("", 5, 5),                                  # 2 missing exam_id
        _r("E3", 5, 5, form="nonsense"),               # 3 unknown form
        _r("E4", 6, 5),                                # 4 out of range
        _r("E5", 4.5, 5),                              # 5 not a whole number
        _r("E6", 4, 5, r2="R1"),                       # 6 same reader twice
        _r("E7", 4, 2, arbiter="R2", s3=3),            # 7 arbiter is a reader
        _r("E8", 4, 2, s3=3),                          # 8 score_3 without arbiter
        _r("E1", 4, 4),                                # 9 exam/form read twice
        _r("E10", "pass", 5),                          # 10 pass/fail word on a score form
        "E11",                                         # 11 not an object
        _r("E12", 4, 2, arbiter="R3", s3=0),           # 12 arbiter's score out of range
        _r("E13", None, 2),                            # 13 empty score
    ]
    doc = gold_standard(rows)
    assert [e["exam_id"] for e in doc["exams"]] == ["E1"]
    msgs = {e["row"]: e["message"] for e in doc["errors"]}
    assert sorted(msgs) == list(range(2, 14))
    expected = {2: "'exam_id' is empty", 3: "unknown form 'nonsense'", 4: "out of range", 5: "not a whole number",
                6: "two different readers", 7: "third reader", 8: "without the arbiter", 9: "already read at row 1",
                10: "not a whole number", 11: "expected an object", 12: "score_3 0 is out of range",
                13: "'score_1' is empty"}
    for row, text in expected.items():
        assert text in msgs[row] and msgs[row].startswith(f"row {row}:"), (row, msgs[row])
    assert doc["agreement"]["n"] == 1


def test_empty_and_none():
    doc = gold_standard([])
    assert doc["exams"] == [] and doc["agreement"]["n"] == 0 and doc["agreement"]["kappa"] is None
    with pytest.raises(InputError, match="None"):
        gold_standard(None)


def test_docstring_examples_run():
    assert doctest.testmod(gold).failed == 0
