"""The QC programme report of a site over a period (a month, a quarter): HTML, and the same content as PDF.

Draws :class:`phantomqc.programme.period.PeriodData` and computes nothing beyond formatting: pass rates per device
and per device × test kind, the overdue and missed checks from the schedules, the checks that did not pass with
their findings and reviews, and the service events. The HTML is one self-contained file (the stylesheet of the
analysis report inlined, no script, no external resource), rendered by jinja2 from ``templates/period.html.j2``.
The PDF is drawn with matplotlib on the page helpers of :mod:`phantomqc.report.acceptance`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["period_context", "rate_text", "render_period", "render_period_html", "render_period_pdf"]

_SIGNATORIES = ("Physicist", "Head of department")


def rate_text(rate: Any) -> str:
    """``80.0 %``; ``—`` when there was no check."""
    return "—" if rate.pass_rate_percent is None else f"{rate.pass_rate_percent:.1f} %"


def _t(t: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "—" if t is None else t.strftime(fmt)


def _rate_row(r: Any) -> dict[str, Any]:
    d = r.device
    pct = r.pass_rate_percent
    return {"name": d.display_name if d is not None else "(no device)", "modality": d.modality if d else "",
            "department": d.department if d else "", "kind": r.kind, "n_runs": r.n_runs, "n_pass": r.n_pass,
            "n_fail": r.n_fail, "n_incomplete": r.n_incomplete, "n_error": r.n_error,
            "n_pending_review": r.n_pending_review, "rate": rate_text(r),
            "width": None if pct is None else round(1.2 * pct)}


def period_context(data: Any, *, signatories: Sequence[str] = _SIGNATORIES) -> dict[str, Any]:
    """The template context of the period report (plain strings and numbers)."""
    overdue = None
    if data.overdue is not None:
        overdue = [{"device": o.device, "kind": o.kind, "state": o.state, "due_at": _t(o.due_at),
                    "missed": o.missed, "detail": o.detail,
                    "missed_text": ", ".join(f"{_t(t, '%m-%d')}" + (" (overdue)" if st == "overdue" else "")
                                             for t, st in o.missed)} for o in data.overdue]
    badge = {"fail": "fail", "error": "error", "incomplete": "not_evaluated"}
    non_passing = [{"run_id": n.run_id, "acquired_at": _t(n.acquired_at), "device": n.device, "kind": n.kind,
                    "test_type": n.test_type, "status": n.status, "badge": badge.get(n.status, "not_evaluated"),
                    "findings": list(n.findings), "review": n.review,
                    "review_at": _t(n.review.decided_at) if n.review and n.review.decided_at else ""}
                   for n in data.non_passing]
    css = (Path(__file__).with_name("templates") / "report.css").read_text(encoding="utf-8")
    totals = _rate_row(data.totals)
    return {"site": data.site, "start": data.start.isoformat(), "end": data.end.isoformat(),
            "n_days": (data.end - data.start).days + 1, "as_of": _t(data.as_of),
            "generated": _t(data.generated_at), "version": data.phantomqc_version, "css": css,
            "totals": totals, "devices": [_rate_row(r) for r in data.devices],
            "by_kind": [_rate_row(r) for r in data.by_kind], "overdue": overdue,
            "overdue_message": data.overdue_message, "non_passing": non_passing,
            "service_events": [{"at": _t(e.at), "device": e.device, "kind": e.kind, "description": e.description,
                                "recorded_by": e.recorded_by} for e in data.service_events],
            "signatories": list(signatories)}


def render_period_html(data: Any, path: str | Path, *, signatories: Sequence[str] = _SIGNATORIES) -> Path:
    """Write the period report as one self-contained HTML file.

    Parameters
    ----------
    data : phantomqc.programme.period.PeriodData
    path : str or Path
        The HTML file to write; its folder is created.
    signatories : sequence of str, optional
        Roles of the signature table at the end.

    Returns
    -------
    Path
    """
    from phantomqc.report.html import _environment

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    html = _environment().get_template("period.html.j2").render(**period_context(data, signatories=signatories))
    path.write_text(html, encoding="utf-8")
    return path


def render_period_pdf(data: Any, path: str | Path, *, signatories: Sequence[str] = _SIGNATORIES) -> Path:
    """Write the period report as a PDF (A4, the same sections as the HTML).

    Parameters
    ----------
    data : phantomqc.programme.period.PeriodData
    path : str or Path
    signatories : sequence of str, optional

    Returns
    -------
    Path
    """
    from matplotlib.backends.backend_pdf import PdfPages

    from phantomqc.report import acceptance as A

    ctx = period_context(data, signatories=signatories)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = A._Doc(title="QC programme report", running=f"QC programme report · {data.site} · {ctx['start']} to "
                                                      f"{ctx['end']}", pages=[])
    doc.new_page()
    doc.text(A._ML, doc.y, "QC programme report", 20)
    doc.text(A.PAGE_SIZE_IN[0] - A._MR, doc.y + 0.05, f"phantomqc {ctx['version']}", 8, color=A._MUTED, ha="right")
    doc.text(A.PAGE_SIZE_IN[0] - A._MR, doc.y + 0.22, f"generated {ctx['generated']} UTC", 8, color=A._MUTED,
             ha="right")
    doc.y += 0.5
    doc.hline(doc.y, lw=1.6)
    doc.y += 0.14
    tot = ctx["totals"]
    period = f"{ctx['start']} to {ctx['end']} ({ctx['n_days']} days, both included, scanner clock)"
    A._kv(doc, [("Site", data.site), ("Period", period),
                ("Due checks judged at", ctx["as_of"]),
                ("Checks", (f"{tot['n_runs']}: {tot['n_pass']} passed, {tot['n_fail']} failed, "
                            f"{tot['n_incomplete']} incomplete, {tot['n_error']} not analysed; "
                            f"{tot['n_pending_review']} awaiting review")),
                ("Pass rate", f"{tot['rate']} (passed / all checks of the period)")])

    doc.heading("Pass rates per device", 11)
    cols = (("Device", 1.8, "left"), ("Modality", 0.7, "left"), ("Checks", 0.6, "right"), ("Pass", 0.55, "right"),
            ("Fail", 0.55, "right"), ("Incompl.", 0.65, "right"), ("Error", 0.55, "right"),
            ("Awaiting review", 0.87, "right"), ("Pass rate", 0.8, "right"))
    keys = ("name", "modality", "n_runs", "n_pass", "n_fail", "n_incomplete", "n_error", "n_pending_review", "rate")
    A._table(doc, cols, [[str(r[k]) for k in keys] for r in ctx["devices"]], size=7.5,
             caption="Pass rates per device")
    if ctx["by_kind"]:
        doc.heading("Per device and test kind", 10)
        kcols = (("Device", 1.6, "left"), ("Test kind", 2.0, "left"), ("Checks", 0.6, "right"),
                 ("Pass", 0.55, "right"), ("Fail", 0.55, "right"), ("Incompl.", 0.65, "right"),
                 ("Error", 0.42, "right"), ("Pass rate", 0.7, "right"))
        kkeys = ("name", "kind", "n_runs", "n_pass", "n_fail", "n_incomplete", "n_error", "rate")
        A._table(doc, kcols, [[str(r[k]) for k in kkeys] for r in ctx["by_kind"]], size=7.5,
                 caption="Per device and test kind")

    doc.heading("Overdue and missed checks", 11)
    if ctx["overdue"] is None:
        doc.paragraph(ctx["overdue_message"], 8.5, color=A._MUTED)
    elif not ctx["overdue"]:
        doc.paragraph("No scheduled check was missed in the period, and none is overdue.", 8.5, color=A._MUTED)
    else:
        ocols = (("Device", 1.3, "left"), ("Test kind", 1.4, "left"), ("Now", 0.95, "left"),
                 ("Due since", 1.0, "left"), ("Missed in the period", 2.42, "left"))
        fail = A.VERDICT_STYLE["fail"][1:]
        A._table(doc, ocols, [[o["device"], o["kind"], o["state"].replace("_", " "), o["due_at"],
                               f"{len(o['missed'])}" + (f": {o['missed_text']}" if o["missed"] else "")]
                              for o in ctx["overdue"]],
                 fills=[{2: fail} if o["state"] in ("overdue", "expected_missing") else {} for o in ctx["overdue"]],
                 size=7.5, caption="Overdue and missed checks")

    doc.heading("Checks that did not pass, with their reviews", 11)
    if not ctx["non_passing"]:
        doc.paragraph("Every check of the period passed.", 8.5, color=A._MUTED)
    else:
        ncols = (("Run", 0.42, "left"), ("Acquired", 0.95, "left"), ("Device", 0.8, "left"),
                 ("Test kind", 0.9, "left"), ("Result", 0.75, "center"), ("Findings", 1.95, "left"),
                 ("Review", 1.3, "left"))
        rows, fills = [], []
        for n in ctx["non_passing"]:
            rv = n["review"]
            review = "no review"
            if rv is not None:
                review = rv.state + (f" by {rv.reviewer}" if rv.reviewer else "")
                review += (f", {n['review_at']} UTC" if n["review_at"] else "")
                review += (f"\n{rv.comment}" if rv.comment else "")
            rows.append([f"#{n['run_id']}", n["acquired_at"], n["device"], n["kind"], n["status"].upper(),
                         "\n".join(n["findings"]) or "—", review])
            st = {"fail": "fail", "error": "fail", "incomplete": "tolerance"}.get(n["status"], "")
            fills.append({4: A.VERDICT_STYLE[st][1:]} if st else {})
        A._table(doc, ncols, rows, fills=fills, size=7, caption="Checks that did not pass")

    doc.heading("Service events", 11)
    if not ctx["service_events"]:
        doc.paragraph("No service event was recorded in the period.", 8.5, color=A._MUTED)
    else:
        scols = (("When", 1.05, "left"), ("Device", 1.2, "left"), ("Kind", 0.8, "left"),
                 ("Description", 2.9, "left"), ("Recorded by", 1.12, "left"))
        A._table(doc, scols, [[e["at"], e["device"], e["kind"], e["description"], e["recorded_by"]]
                              for e in ctx["service_events"]], size=7.5, caption="Service events")
    A._signatures(doc, signatories)
    n = len(doc.pages)
    left = f"{data.site} · QC programme report {ctx['start']} to {ctx['end']}"
    meta = {"Title": f"QC programme report: {data.site} {ctx['start']} to {ctx['end']}", "Author": "phantomqc",
            "Creator": f"phantomqc {data.phantomqc_version}"}
    with PdfPages(path, metadata=meta) as pdf:
        for k, fig in enumerate(doc.pages, 1):
            A._footer(fig, k, n, left)
            pdf.savefig(fig)
    return path


def render_period(data: Any, path: str | Path, **kwargs: Any) -> Path:
    """``render_period_pdf`` for a ``.pdf`` path, else ``render_period_html``."""
    if str(path).lower().endswith(".pdf"):
        return render_period_pdf(data, path, **kwargs)
    return render_period_html(data, path, **kwargs)

