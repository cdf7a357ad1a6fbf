"""The clinical QC report: seed 001 section 6 tables and charts, the 5.1 monthly indicators, report-text checks,
NM indicators, random-QC samples and the gold standard, as one self-contained HTML page plus CSV tables.

Never recomputes a number: every value comes from the rubric documents (``phantomqc.rubric_stats/1``,
``phantomqc.rubric_check/1`` batch, ``phantomqc.rubric_nm/1``, ``phantomqc.rubric_sample/1``,
``phantomqc.rubric_gold/1``, ``phantomqc.rubric_scores/1``). Percentages are shown to one decimal, as figure 7 does.
"""

from __future__ import annotations

import base64
import csv
import datetime as _dt
import json
from pathlib import Path
from typing import Any, Sequence

__all__ = ["write_rubric_report", "build_tables"]

_SCORES = (5, 4, 3, 2, 1)
_ROLE_ZH = {"technologist": "技师", "doctor": "医师"}


def _pct(x: Any) -> str:
    return "—" if x is None else f"{round(float(x), 1):g}"


def _table(tid: str, title: str, columns: Sequence[str], rows: list[list[Any]], *, caption: str = "",
           bold_last: bool = False) -> dict:
    return {"id": tid, "title": title, "columns": list(columns), "rows": rows, "caption": caption,
            "bold_last": bold_last}


def _score_tables(stats: dict) -> list[dict]:
    out = []
    for role in ("technologist", "doctor"):
        rows = [r for r in stats.get("score_distribution", []) if r["staff_role"] == role]
        if not rows:
            continue
        devices = sorted({r["device_type"] for r in rows})
        staff: list[str] = []
        for r in rows:
            if r["staff"] not in staff:
                staff.append(r["staff"])
        cell = {(r["staff"], r["device_type"], r["score"]): r["count"] for r in rows}
        body = []
        for s in staff:
            line: list[Any] = [s]
            for d in devices:
                line += [cell.get((s, d, sc), "") for sc in _SCORES]
            body.append(line)
        total: list[Any] = ["合计"]
        for d in devices:
            total += [sum(cell.get((s, d, sc), 0) for s in staff) for sc in _SCORES]
        body.append(total)
        cols = [_ROLE_ZH[role]] + [f"{d} {sc}分" for d in devices for sc in _SCORES]
        title = "图2 质控评分统计（技师）" if role == "technologist" else "质控评分统计（医师，6.5）"
        out.append(_table(f"fig2_{role}", title, cols, body, bold_last=True,
                          caption="每人每种设备类型各分数的例数；空格 = 该人员无此设备类型的记录。"))
    return out


def build_tables(stats: dict) -> list[dict]:
    """The seed 001 section 5.1 and 6 tables of a ``phantomqc.rubric_stats/1`` document, as header + rows."""
    tables = []
    monthly = stats.get("monthly", [])
    if monthly:
        rows = [[m["month"], "全部", m["sampled_count"], m["passed_count"], _pct(m["pass_rate_percent"])]
                for m in monthly]
        rows += [[m["month"], f["form"], f["sampled_count"], f["passed_count"], _pct(f["pass_rate_percent"])]
                 for m in monthly for f in m["by_form"]]
        tables.append(_table("monthly", "5.1 月度指标", ["月份", "表单", "抽查例数", "合格例数（≥3分）", "合格率 (%)"], rows,
                             caption="合格例数按第 5.1 条计：评分 ≥ 3 分；与图 7 中“合格”（恰为 3 分）不同。"))
    tables += _score_tables(stats)
    details = stats.get("deduction_details", [])
    if details:
        rows = [[d["exam_date"], d["device_type"], d["exam_part"], d["staff"], d["qc_person"], f"{d['score']}分",
                 "；".join(f"{i['name'] or ''} {i['text']}".strip() for i in d["unmet_items"]),
                 "；".join(i["text"] for i in d["severe_items"]), d["comment"]] for d in details]
        tables.append(_table("fig3", "图3 质控扣分明细",
                             ["日期", "设备类型", "检查部位", "医生/技师", "质控人", "分数", "不符合项", "严重扣分项", "问题说明"],
                             rows))
    items = stats.get("deductions", [])
    if items:
        rows = [[d["form"], d["kind_label"], d["count"], f"{d['name'] or ''} {d['text']}".strip(), d["item"]]
                for d in items]
        tables.append(_table("fig4", "图4 质控扣分项目", ["表单", "扣分类型", "扣分数", "扣分项目", "代码"], rows))
    work = stats.get("workload", [])
    if work:
        devices = sorted({w["device_type"] for w in work})
        totals = stats.get("workload_totals", {})
        cell = {(w["staff"], w["device_type"]): w["exams"] for w in work}
        rows = [[s["staff"], s["exams"]] + [cell.get((s["staff"], d), "") for d in devices]
                for s in totals.get("by_staff", [])]
        by_dev = {d["device_type"]: d["exams"] for d in totals.get("by_device_type", [])}
        rows.append(["合计", totals.get("total", 0)] + [by_dev.get(d, 0) for d in devices])
        tables.append(_table("fig5", "图5 技师工作量统计", ["技师", "合计"] + devices, rows, bold_last=True))
    for role in ("technologist", "doctor"):
        q = [r for r in stats.get("quality_rates", []) if r["staff_role"] == role]
        if not q:
            continue
        rows = [[r["staff"], r["qc_count"], _pct(r["excellent_percent"]), _pct(r["good_percent"]),
                 _pct(r["score3_percent"]), _pct(r["not_passing_percent"]), _pct(r["pass_percent"])] for r in q]
        title = "图7 技师质量统计" if role == "technologist" else "医师质量统计（6.5）"
        tables.append(_table(f"fig7_{role}", title,
                             [_ROLE_ZH[role], "被质控数", "优秀率(%)", "良好率(%)", "合格率(%)（3分）", "不合格率(%)",
                              "≥3分率(%)（5.1）"], rows,
                             caption="5分：优秀；4分：良好；3分：合格；2分、1分：不合格。最后一列为第 5.1 条意义的合格率（≥3 分）。"))
    return tables


def _write_csv(path: Path, table: dict) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:  # BOM: Excel opens UTF-8 CSV correctly
        w = csv.writer(fh)
        w.writerow(table["columns"])
        w.writerows(table["rows"])


def _data_uri(path: str) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _checks_context(checks: dict | None) -> dict | None:
    if not checks:
        return None
    reports = []
    for r in checks.get("results", []):
        if r.get("error"):
            reports.append({"id": r.get("path", "?"), "error": r["error"], "passed": None, "findings": []})
            continue
        res = r.get("result", r)
        findings = [{"rule": f["rule"], "severity": f["severity"], "message": f["message"],
                     "span": (f"{f['span'].get('field', '')} [{f['span'].get('start')}:{f['span'].get('end')}] "
                              f"「{f['span'].get('text', '')}」") if f.get("span") else "—",
                     "form_item": f.get("form_item") or "—"} for f in res.get("findings", [])]
        reports.append({"id": r.get("path") or res.get("report_id"), "error": None, "passed": res.get("passed"),
                        "findings": findings})
    return {"reports": reports}


def write_rubric_report(out_dir: Path | str, *, stats: dict | None = None, checks: dict | None = None,
                        nm: dict | None = None, sample: dict | None = None, gold: dict | None = None,
                        scores: dict | None = None, title: str = "影像质控月报 · Clinical QC report",
                        sources: Sequence[str] = ()) -> Path:
    """Write ``out_dir/report.html`` (self-contained), ``out_dir/figures/*.png``, ``out_dir/tables/*.csv`` and
    ``out_dir/rubric.json`` (all given documents). Returns the HTML path.

    Every argument is one of the rubric layer's JSON documents; the sections without a document are left out.
    """
    from phantomqc import __version__
    from phantomqc.report.html import _environment
    from phantomqc.report.rubric_figures import render_rubric_charts

    out = Path(out_dir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    tables = build_tables(stats) if stats else []
    for t in tables:
        _write_csv(out / "tables" / f"{t['id']}.csv", t)
    charts = render_rubric_charts(stats, out / "figures", nm=nm) if (stats or nm) else {"charts": [], "font": {}}
    chart_by_id = {c["id"]: {**c, "data_uri": _data_uri(c["path"]),
                             "rel": str(Path(c["path"]).relative_to(out))} for c in charts["charts"]}
    # which chart follows which table
    after = {"monthly": ["monthly"], "fig2_technologist": ["fig2_technologist"], "fig2_doctor": ["fig2_doctor"],
             "fig4": ["fig4"], "fig5": ["fig6"], "fig7_technologist": ["fig8_technologist"],
             "fig7_doctor": ["fig8_doctor"]}
    for t in tables:
        t["charts"] = [chart_by_id[c] for c in after.get(t["id"], []) if c in chart_by_id]
    nm_ctx = None
    if nm:
        nm_ctx = {"doc": nm, "chart": chart_by_id.get("nm"),
                  "rows": [[i["id"], i["name"], i["numerator"], i["denominator"], _pct(i.get("rate_percent")),
                            i.get("note") or ""] for i in nm.get("indicators", [])]}
    score_rows = None
    if scores:
        score_rows = [[r.get("row"), r.get("exam_id"), r.get("form"), r.get("staff"), r.get("score"),
                       r.get("max_score"), r.get("verdict"), "；".join(r.get("failed_items", []))]
                      for r in scores.get("records", [])]
    rejected = []
    for doc in (scores, stats):
        if doc:
            for e in doc.get("rejected", doc.get("errors", [])):
                rejected.append(e.get("message") if isinstance(e, dict) else str(e))
            break
    context = {
        "title": title, "version": __version__,
        "generated_at": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "month": (stats or {}).get("month") or (nm or {}).get("month"),
        "sources": list(sources), "font": charts["font"], "tables": tables, "checks": _checks_context(checks),
        "nm": nm_ctx, "sample": sample, "gold": gold, "score_rows": score_rows, "rejected": rejected,
        "warnings": (stats or {}).get("warnings", []),
    }
    html = _environment().get_template("rubric.html.j2").render(**context)
    path = out / "report.html"
    path.write_text(html, encoding="utf-8")
    docs = {k: v for k, v in (("stats", stats), ("checks", checks), ("nm", nm), ("sample", sample),
                              ("gold", gold), ("scores", scores)) if v is not None}
    docs["charts"] = [{"id": c["id"], "title": c["title"], "path": c["rel"]} for c in chart_by_id.values()]
    docs["font"] = charts["font"]
    (out / "rubric.json").write_text(json.dumps(docs, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
