"""``phantomqc rubric ...`` end to end: files in, JSON and report out, exit statuses, bad inputs named."""

import csv
import json

import pytest

from phantomqc.cli import main
from reference_phantoms.rubric import make_rubric_month


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli_month")
    make_rubric_month(out, month="2026-10", seed=1)
    return out, json.loads((out / "truth.json").read_text(encoding="utf-8"))


def test_forms_list_and_show(capsys):
    assert main(["rubric", "forms"]) == 0
    out = capsys.readouterr().out
    for fid in ("application", "image_quality", "film_layout", "reconstruction_3d", "report_quality",
                "report_review", "report_b1", "cmr_report", "cmr_film", "petct_report_elements"):
        assert fid in out
    assert main(["rubric", "forms", "show", "report_quality"]) == 0
    out = capsys.readouterr().out
    assert "report_quality.severe.2" in out and "报告左、右写反" in out and "累计递减直至 1 分" in out
    assert main(["rubric", "forms", "image_quality", "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["form"]["rule"]["score_by_satisfied"] == [1, 2, 3, 3, 4, 5]


def test_forms_unknown_id_names_it(capsys):
    assert main(["rubric", "forms", "show", "no_such_form"]) == 2
    assert "unknown form 'no_such_form'" in capsys.readouterr().err


def test_stats_json_report_and_rejected_rows(month, tmp_path, capsys):
    out, truth = month
    rc = main(["rubric", "stats", str(out / "qc_records.csv"), "--exams", str(out / "exams.csv"), "--month",
               "2026-10", "--json", "-", "--report", str(tmp_path / "rep")])
    assert rc == 2  # three rows rejected; the rest counted
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    assert doc["schema"] == "phantomqc.rubric_stats/1"
    assert doc["monthly"][0]["sampled_count"] == truth["monthly"]["sampled_count"]
    assert sorted(r["row"] for r in doc["rejected"]) == [b["row"] for b in truth["rejected_rows"]]
    for b in truth["rejected_rows"]:
        assert f"row {b['row']}:" in cap.err
    assert (tmp_path / "rep" / "report.html").is_file()
    assert (tmp_path / "rep" / "tables" / "fig2_technologist.csv").is_file()


def test_score_computes_and_checks_scores(month, capsys):
    out, truth = month
    assert main(["rubric", "score", str(out / "qc_records.csv"), "--json", "-"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "phantomqc.rubric_scores/1"
    assert doc["n_rejected"] == len(truth["rejected_rows"])
    with (out / "qc_records.csv").open(encoding="utf-8") as fh:
        given = {(r["exam_id"], r["staff"]): r["score"] for r in csv.DictReader(fh)}
    n_given = 0
    for r in doc["records"]:
        g = given[(r["exam_id"], r["staff"])]
        if g:
            n_given += 1
            assert int(g) == r["score"]  # a given score is accepted only when failed_items give the same
    assert n_given > 20


def test_unreadable_and_wrong_type_files_are_named(tmp_path, capsys):
    bad = tmp_path / "records.csv"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    assert main(["rubric", "score", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "UTF-8" in err
    other = tmp_path / "records.xlsx"
    other.write_text("x", encoding="utf-8")
    assert main(["rubric", "stats", str(other)]) == 2
    assert "records.xlsx" in capsys.readouterr().err
    missing = tmp_path / "none.csv"
    assert main(["rubric", "score", str(missing)]) == 2
    assert "none.csv" in capsys.readouterr().err
    assert bad.read_bytes() == b"\xff\xfe\x00garbage"  # input never modified


def test_nm_cli_rates_and_row_errors(tmp_path, capsys):
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "rubric" / "data" / "nm_cases.csv"
    assert main(["rubric", "nm", str(src), "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "phantomqc.rubric_nm/1" and [i["id"] for i in doc["indicators"]] == \
        [f"NM-0{k}" for k in range(1, 9)]
    text = src.read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "cases.csv"
    bad.write_text("\n".join(text + [text[1].replace(text[1].split(",")[0], "BADROW", 1).replace("2025-", "2025-13-", 1)])
                   + "\n", encoding="utf-8")
    assert main(["rubric", "nm", str(bad), "--json", "-"]) == 2
    doc2 = json.loads(capsys.readouterr().out)
    assert [e["row"] for e in doc2["errors"]] == [len(text) + 1]


def test_sample_reproducible_and_every_person_covered(month, capsys):
    out, truth = month
    args = ["rubric", "sample", str(out / "exams.csv"), "--rules", str(out / "sampling_rules.toml"), "--seed", "11",
            "--month", "2026-10"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert [e["exam_id"] for e in first["sampled"]] == [e["exam_id"] for e in again["sampled"]]
    assert main(args[:-3] + ["12"] + args[-2:]) == 0
    other = json.loads(capsys.readouterr().out)
    assert [e["exam_id"] for e in other["sampled"]] != [e["exam_id"] for e in first["sampled"]]
    people = {w["staff"] for w in truth["workload"]}
    assert {e["staff"] for e in first["sampled"]} == people  # stratified: every technologist sampled this month


def test_gold_cli_counts(tmp_path, capsys):
    from reference_phantoms.rubric import make_gold_readings

    path = make_gold_readings(tmp_path)
    truth = json.loads((tmp_path / "gold_truth.json").read_text(encoding="utf-8"))
    assert main(["rubric", "gold", str(path), "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["counts"] == {"agreed": truth["agreed"], "arbitrated": truth["arbitrated"],
                             "pending": truth["pending"]}
    assert {e["exam_id"]: e["final_score"] for e in doc["exams"]} == truth["final_scores"]
    assert doc["agreement"]["observed_percent"] == pytest.approx(100 * truth["agreed"] / truth["n"])


def test_permissions_matrix_and_violation(month, tmp_path, capsys):
    out, _ = month
    assert main(["rubric", "permissions"]) == 0
    assert "technologist_qc" in capsys.readouterr().out
    roles = tmp_path / "roles.csv"
    roles.write_text("qc_person,role\n质控技师甲,technologist_qc\n质控医师乙,reporting_doctor\n", encoding="utf-8")
    # the generated records have the doctor QC person scoring report_quality, which a 报告医生 may not
    assert main(["rubric", "permissions", "--records", str(out / "qc_records.csv"), "--roles", str(roles),
                 "--json", "-"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["violations"] and all(v["form"] in ("report_quality", "report_review") for v in doc["violations"])


def test_filter_centralised_qc(month, capsys):
    out, _ = month
    with (out / "exams.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    want = [r["exam_id"] for r in rows if r["device_type"] in ("MR", "CT") and r["staff"] == "技师04"
            and "2026-10-05" <= r["exam_date"] <= "2026-10-09"]
    assert 0 < len(want) < len(rows)
    assert main(["rubric", "filter", str(out / "exams.csv"), "--device-type", "MR", "--device-type", "CT",
                 "--staff", "技师04", "--from", "2026-10-05", "--to", "2026-10-09"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [e["exam_id"] for e in doc["exams"]] == want
    assert doc["n_selected"] == len(want) and doc["n_exams"] == len(rows)
