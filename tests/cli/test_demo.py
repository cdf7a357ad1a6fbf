"""`phantomqc demo` writes the report and the analysis JSON, and the JSON recovers the phantoms' truth."""

import json

import pytest

from phantomqc.cli import main


def test_demo_writes_report_and_json(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--detector", "2048", "--no-progress"]) == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    doc = json.loads((out / "analysis.json").read_text(encoding="utf-8"))
    assert doc["schema"] == "phantomqc.analysis/1" and doc["summary"]["input_errors"] == 0
    assert "data:image/png;base64," in html and "taiyuan-2024" in html
    for a in doc["analyses"]:
        for f in a["figures"]:
            assert (out / f).is_file()
    truth = json.loads((out / "phantoms" / "dr_2048" / "truth.json").read_text(encoding="utf-8"))
    measured = {(m["id"], m["label"]): m["value"] for a in doc["analyses"] for m in a["measurements"]}
    # the demo's headline numbers are the truth (detailed tolerances: tests/integration/test_dr_truth.py)
    for e in truth["expected"]:
        if e["id"] in ("dr.limiting_resolution.lp_per_mm", "dr.artifacts.count"):
            assert measured[(e["id"], e["label"])] == e["value"]
        if e["id"] == "dr.dark_noise.mean_pv":
            assert measured[(e["id"], None)] == pytest.approx(e["value"], rel=0.005)
    assert "report:" in capsys.readouterr().out
    # the rubric part: a month of clinical QC records, judged against the generator's truth
    rub = out / "rubric"
    rubric = json.loads((rub / "rubric.json").read_text(encoding="utf-8"))
    rtruth = json.loads((out / "rubric_data" / "truth.json").read_text(encoding="utf-8"))
    assert rubric["stats"]["monthly"][0]["sampled_count"] == rtruth["monthly"]["sampled_count"]
    assert rubric["stats"]["monthly"][0]["passed_count"] == rtruth["monthly"]["passed_count"]
    assert rubric["font"]["path"]  # Chinese labels drawn with a CJK font
    assert len(rubric["charts"]) == 8 and all((rub / c["path"]).is_file() for c in rubric["charts"])
    rhtml = (rub / "report.html").read_text(encoding="utf-8")
    assert "图2 质控评分统计" in rhtml and "NM-08" in rhtml and "Cohen κ" in rhtml
