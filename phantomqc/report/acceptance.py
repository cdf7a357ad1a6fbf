"""The acceptance-test report of a device as a PDF, drawn with matplotlib (``backend_pdf.PdfPages``).

The report draws :class:`phantomqc.programme.period.AcceptanceData` and computes nothing: every value, criterion,
reference and verdict is the one stored when the run was judged. Layout, on A4 portrait:

1. a cover page: site, department, device (manufacturer, model, serial, station), dates, phantomqc versions, the
   standards profiles with a note on unconfirmed limits, the overall result, a summary of the tests, every failing
   verdict, and the signature block (name, date and signature lines per signatory);
2. one section per test, each starting on a new page: run facts, review, warnings, the table of measurements
   (measurement id, label, value ± uncertainty, unit, limit / criterion, reference or baseline used, source clause,
   verdict in colour; long tables continue on the next page under a repeated header), a figure that places each
   value against its accepted interval, and the analyzer's own figures (ROI overlays, profiles) as the store kept
   them when the run was recorded, two per row, captioned "Figure N.k" (or one muted line saying none were kept);
3. on every page a footer with the device, the report date and "page i of n".

Text is set in the CJK font found by :func:`phantomqc.report.rubric_figures.find_cjk_font` (Noto Sans CJK SC from
``mplfonts``), so Chinese device names, departments and clauses render; without one the report is still written
with matplotlib's default font. Pages are ``matplotlib.figure.Figure`` objects on their own canvas: pyplot and the
global ``rcParams`` are never touched.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from phantomqc.report.html import format_value

__all__ = [
    "PAGE_SIZE_IN",
    "TABLE_COLUMNS",
    "VERDICT_STYLE",
    "acceptance_table_rows",
    "failing_rows",
    "render_acceptance_pdf",
    "summary_rows",
]

#: A4 portrait, inches.
PAGE_SIZE_IN: tuple[float, float] = (8.27, 11.69)
_ML, _MR, _MT, _MB = 0.6, 0.6, 0.6, 0.75  # margins, inches
_CONTENT_W = PAGE_SIZE_IN[0] - _ML - _MR

#: Verdict status -> (shown text, text colour, cell fill).
VERDICT_STYLE: dict[str, tuple[str, str, str]] = {
    "pass": ("PASS", "#1e7a3c", "#e3f4e8"),
    "ok": ("OK", "#1e7a3c", "#e3f4e8"),
    "fail": ("FAIL", "#b42318", "#fdecea"),
    "action": ("ACTION", "#b42318", "#fdecea"),
    "tolerance": ("TOLERANCE", "#8a5a00", "#fff6dc"),
    "not_evaluated": ("NOT EVAL.", "#5b6270", "#eceef1"),
    "": ("info", "#6b7280", ""),
}
_OVERALL_STYLE = {"PASS": ("#1e7a3c", "#e3f4e8"), "FAIL": ("#b42318", "#fdecea"),
                  "INCOMPLETE": ("#8a5a00", "#fff6dc")}
_RUN_STATUS = {"pass": "pass", "fail": "fail", "incomplete": "tolerance", "error": "fail"}
_INK, _MUTED, _RULE, _HEAD, _ZEBRA, _ACCENT = "#1d2330", "#6b7280", "#c9ced6", "#e6e9ef", "#f6f7f9", "#234e8c"

#: Columns of a test's table: (title, width in inches, alignment). Widths add up to the text width.
TABLE_COLUMNS: tuple[tuple[str, float, str], ...] = (
    ("Measurement", 1.4, "left"), ("Label", 0.67, "left"), ("Value ± u", 1.05, "right"), ("Unit", 0.45, "left"),
    ("Limit / criterion", 1.4, "left"), ("Reference", 0.7, "left"), ("Source", 0.7, "left"),
    ("Verdict", 0.7, "center"))


# --------------------------------------------------------------------------------------------------
# the text of the tables (tested directly: the renderer draws exactly these strings)


def _v(x: Any) -> str:
    return format_value(x)


def _dt(t: Any, *, seconds: bool = False) -> str:
    if t is None:
        return "—"
    return t.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _value_text(value: float | None, unc: float | None) -> str:
    if value is None:
        return "no value"
    return _v(value) if unc is None else f"{_v(value)} ± {_v(unc)}"


def _reference_text(row: Any) -> str:
    if row.reference is None:
        return "—"
    kind = row.reference_kind or "reference"
    bid = f" (#{row.baseline_id})" if kind == "baseline" and row.baseline_id is not None else ""
    return f"{kind} {_v(row.reference)}{bid}"


def acceptance_table_rows(test: Any) -> list[dict[str, Any]]:
    """The rows of one test's table, as drawn: ``cells`` (one string per :data:`TABLE_COLUMNS` entry) and
    ``status`` (the verdict status that colours the verdict cell).

    Unconfirmed limits are marked ``†`` after the criterion; a ``not_evaluated`` verdict's reason follows its
    criterion; a site level carries "site:" before it.
    """
    out = []
    for r in test.rows:
        crit = r.criterion or ("—" if not r.status else "")
        if r.origin == "site" and crit and not crit.lower().startswith("site"):
            crit = f"site: {crit}"
        if r.status and not r.confirmed:
            crit += " †"
        if r.reason:
            crit = f"{crit}\n({r.reason})" if crit else f"({r.reason})"
        out.append({"status": r.status, "cells": [
            r.metric, r.label or "—", _value_text(r.value, r.uncertainty), r.unit or "", crit,
            _reference_text(r), r.source or "—", VERDICT_STYLE.get(r.status, (r.status.upper(), _INK, ""))[0]]})
    return out


def summary_rows(data: Any) -> list[list[str]]:
    """The cover's table of tests: number, kind, run id, acquired, pass / fail / not evaluated counts, review,
    result."""
    rows = []
    for i, t in enumerate(data.tests, 1):
        review = "—"
        if t.review is not None:
            review = t.review.state + (" (auto)" if t.review.automatic else "")
            if t.review.reviewer and not t.review.automatic:
                review += f" by {t.review.reviewer}"
        rows.append([str(i), t.kind, f"#{t.run_id}", _dt(t.acquired_at), str(t.count("pass", "ok")),
                     str(t.count("fail", "action")), str(t.count("not_evaluated", "tolerance")), review,
                     t.status.upper() or "—"])
    return rows


def failing_rows(data: Any) -> list[list[str]]:
    """The cover's list of failing verdicts: test number and kind, measurement (label), value, criterion,
    verdict."""
    index = {id(t): i for i, t in enumerate(data.tests, 1)}
    out = []
    for t, r in data.failing:
        lab = f" [{r.label}]" if r.label else ""
        unit = f" {r.unit}" if r.unit and r.value is not None else ""
        out.append([f"{index[id(t)]}. {t.kind}", f"{r.metric}{lab}", _value_text(r.value, r.uncertainty) + unit,
                    (f"site: {r.criterion}" if r.origin == "site" and not r.criterion.lower().startswith("site")
                     else r.criterion) or "—",
                    VERDICT_STYLE.get(r.status, (r.status.upper(), _INK, ""))[0]])
    return out


# --------------------------------------------------------------------------------------------------
# text measurement and wrapping


@lru_cache(maxsize=4)
def _font_path() -> str | None:
    from phantomqc.report.rubric_figures import find_cjk_font

    return find_cjk_font().path


def _fp(size: float):
    from matplotlib.font_manager import FontProperties

    path = _font_path()
    return FontProperties(fname=path, size=size) if path else FontProperties(size=size)


@lru_cache(maxsize=8192)
def _char_em(ch: str) -> float:
    """The advance width of one character in ems (of the report font)."""
    from matplotlib.textpath import TextToPath

    try:
        w, _h, _d = TextToPath().get_text_width_height_descent(ch, _fp(100.0), ismath=False)
        return max(w / 100.0, 0.0)
    except (ValueError, RuntimeError, KeyError):
        return 1.0 if unicodedata.east_asian_width(ch) in ("W", "F") else 0.6


def _width_in(text: str, size: float) -> float:
    return sum(_char_em(c) for c in text) * size / 72.0


_BREAK_AFTER = set(" ./_-,;:)]|")
_GOOD_BREAK = set(" ./,;")  # preferred over "_" and "-" unless they leave the line less than 40 % full


def _in_number(before: str, ch: str) -> bool:
    """A decimal point or sign inside a number (``0.97``, ``1e-3``) is no place to break a line."""
    return ch in ".-" and bool(before) and (before[-1].isdigit() or before[-1] in "eE")


def _last_break(line: str) -> tuple[int, int]:
    """The break positions (any, preferred) in the carried-over start of a line."""
    last_break = last_good = -1
    for i, ch in enumerate(line, 1):
        wide = unicodedata.east_asian_width(ch) in ("W", "F")
        if (ch in _BREAK_AFTER and not _in_number(line[:i - 1], ch)) or wide:
            last_break = i
            if ch in _GOOD_BREAK or wide:
                last_good = i
    return last_break, last_good


def _wrap(text: str, width_in: float, size: float) -> list[str]:
    """Greedy wrap to ``width_in``: break after a space or punctuation, between CJK characters, or anywhere when a
    word is longer than a line."""
    lines: list[str] = []
    for para in str(text).split("\n"):
        line, last_break, last_good = "", -1, -1
        w = 0.0
        for ch in para:
            cw = _char_em(ch) * size / 72.0
            if line and w + cw > width_in and not ch.isspace():
                cut = last_good if last_good > 0.4 * len(line) else last_break
                if cut > 0:
                    head, tail = line[:cut], line[cut:]
                    lines.append(head.rstrip())
                    line = tail.lstrip()
                else:
                    lines.append(line)
                    line = ""
                w = _width_in(line, size)
                last_break, last_good = _last_break(line)
            number = _in_number(line, ch)
            line += ch
            w += cw
            if (ch in _BREAK_AFTER and not number) or unicodedata.east_asian_width(ch) in ("W", "F"):
                last_break = len(line)
                if ch in _GOOD_BREAK or unicodedata.east_asian_width(ch) in ("W", "F"):
                    last_good = len(line)
        lines.append(line.rstrip())
    return lines or [""]


# --------------------------------------------------------------------------------------------------
# pages


@dataclass
class _Doc:
    """A flow of A4 pages: ``y`` is the cursor in inches from the top of the current page."""

    title: str
    running: str
    pages: list
    y: float = 0.0

    @property
    def bottom(self) -> float:
        return PAGE_SIZE_IN[1] - _MB

    @property
    def fig(self):
        return self.pages[-1]

    def new_page(self) -> None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=PAGE_SIZE_IN)
        self.pages.append(fig)
        self.y = _MT
        if len(self.pages) > 1:
            self.text(_ML, self.y - 0.22, self.running, 7.5, color=_MUTED)
            self.hline(self.y - 0.06, color=_RULE)
            self.y += 0.12

    def need(self, h: float) -> bool:
        """Start a new page unless ``h`` inches fit; True when a page was started."""
        if self.y + h > self.bottom:
            self.new_page()
            return True
        return False

    # drawing, positions in inches from the top-left corner
    def text(self, x: float, y: float, s: str, size: float, *, color: str = _INK, ha: str = "left",
             va: str = "top") -> None:
        W, H = PAGE_SIZE_IN
        self.fig.text(x / W, 1 - y / H, s, fontproperties=_fp(size), color=color, ha=ha, va=va)

    def rect(self, x: float, y: float, w: float, h: float, *, fill: str, edge: str | None = None,
             lw: float = 0.0) -> None:
        from matplotlib.patches import Rectangle

        W, H = PAGE_SIZE_IN
        self.fig.add_artist(Rectangle((x / W, 1 - (y + h) / H), w / W, h / H, transform=self.fig.transFigure,
                                      facecolor=fill, edgecolor=edge or "none", linewidth=lw))

    def hline(self, y: float, *, x0: float = _ML, x1: float = PAGE_SIZE_IN[0] - _MR, color: str = _INK,
              lw: float = 0.6) -> None:
        from matplotlib.lines import Line2D

        W, H = PAGE_SIZE_IN
        self.fig.add_artist(Line2D([x0 / W, x1 / W], [1 - y / H, 1 - y / H], transform=self.fig.transFigure,
                                   color=color, linewidth=lw))

    def heading(self, s: str, size: float = 12.0, *, space_before: float = 0.18) -> None:
        self.need(space_before + size / 72 * 1.6 + 0.6)
        self.y += space_before
        self.text(_ML, self.y, s, size, color=_ACCENT)
        self.y += size / 72 * 1.45
        self.hline(self.y, color=_ACCENT, lw=1.0)
        self.y += 0.08

    def paragraph(self, s: str, size: float = 8.0, *, color: str = _INK, indent: float = 0.0) -> None:
        lh = size / 72 * 1.35
        for line in _wrap(s, _CONTENT_W - indent, size):
            self.need(lh)
            self.text(_ML + indent, self.y, line, size, color=color)
            self.y += lh


def _table(doc: _Doc, columns: Sequence[tuple[str, float, str]], rows: Sequence[Sequence[str]], *,
           size: float = 7.0, fills: Sequence[dict[int, tuple[str, str]]] | None = None,
           caption: str = "") -> None:
    """Draw a table at the cursor; rows that do not fit go to the next page under a repeated header.

    ``fills[i]`` maps a column index of row ``i`` to ``(text colour, cell fill)``."""
    pad_x, pad_y = 0.05, 0.035
    lh = size / 72 * 1.3
    head_size = size

    def header(cont: bool) -> None:
        if cont and caption:
            doc.text(_ML, doc.y, f"{caption} (continued)", size, color=_MUTED)
            doc.y += lh + 0.04
        wrapped = [_wrap(c[0], c[1] - 2 * pad_x, head_size) for c in columns]
        h = max(len(w) for w in wrapped) * lh + 2 * pad_y
        doc.rect(_ML, doc.y, _CONTENT_W, h, fill=_HEAD)
        x = _ML
        for (title, width, align), lines in zip(columns, wrapped):
            for k, line in enumerate(lines):
                _cell_text(doc, x, width, doc.y + pad_y + k * lh, line, head_size, align, _INK, pad_x)
            x += width
        doc.y += h
        doc.hline(doc.y, color="#9aa3b0", lw=0.8)

    first_h = None
    if rows:
        first = [_wrap(str(c), w - 2 * pad_x, size) for c, (_t, w, _a) in zip(rows[0], columns)]
        first_h = max(len(w) for w in first) * lh + 2 * pad_y
    doc.need(0.35 + (first_h or 0))
    header(False)
    for i, row in enumerate(rows):
        wrapped = [_wrap(str(c), w - 2 * pad_x, size) for c, (_t, w, _a) in zip(row, columns)]
        h = max(len(w) for w in wrapped) * lh + 2 * pad_y
        if doc.y + h > doc.bottom:
            doc.new_page()
            header(True)
        if i % 2 == 1:
            doc.rect(_ML, doc.y, _CONTENT_W, h, fill=_ZEBRA)
        x = _ML
        style = fills[i] if fills is not None else {}
        for j, ((_t, width, align), lines) in enumerate(zip(columns, wrapped)):
            color, fill = style.get(j, (_INK, ""))
            if fill:
                doc.rect(x + 0.01, doc.y + 0.012, width - 0.02, h - 0.024, fill=fill)
            for k, line in enumerate(lines):
                _cell_text(doc, x, width, doc.y + pad_y + k * lh, line, size, align, color, pad_x)
            x += width
        doc.y += h
        doc.hline(doc.y, color=_RULE, lw=0.4)
    doc.y += 0.08


def _cell_text(doc: _Doc, x: float, width: float, y: float, s: str, size: float, align: str, color: str,
               pad_x: float) -> None:
    if align == "right":
        doc.text(x + width - pad_x, y, s, size, color=color, ha="right")
    elif align == "center":
        doc.text(x + width / 2, y, s, size, color=color, ha="center")
    else:
        doc.text(x + pad_x, y, s, size, color=color)


def _kv(doc: _Doc, pairs: Sequence[tuple[str, str]], *, size: float = 8.5, key_w: float = 1.7) -> None:
    lh = size / 72 * 1.4
    for k, v in pairs:
        lines = _wrap(v or "—", _CONTENT_W - key_w, size)
        doc.need(len(lines) * lh)
        doc.text(_ML, doc.y, k, size, color=_MUTED)
        for i, line in enumerate(lines):
            doc.text(_ML + key_w, doc.y + i * lh, line, size)
        doc.y += len(lines) * lh + 0.02


# --------------------------------------------------------------------------------------------------
# sections


def _n(k: int, word: str) -> str:
    return f"{k} {word}" + ("" if k == 1 else "s")


def _device_line(d: Any) -> str:
    return " · ".join(x for x in (d.display_name, d.manufacturer, d.model, f"SN {d.serial}" if d.serial else "")
                      if x)


def _cover(doc: _Doc, data: Any, signatories: Sequence[str]) -> None:
    from phantomqc.report.rubric_figures import find_cjk_font

    d = data.device
    font = find_cjk_font()
    doc.text(_ML, doc.y, "Acceptance test report", 20)
    if font.available:
        doc.text(_ML, doc.y + 0.38, "验收检测报告", 12, color=_MUTED)
    doc.text(PAGE_SIZE_IN[0] - _MR, doc.y + 0.05, f"phantomqc {data.phantomqc_version}", 8, color=_MUTED,
             ha="right")
    doc.text(PAGE_SIZE_IN[0] - _MR, doc.y + 0.22, f"generated {_dt(data.generated_at)} UTC", 8, color=_MUTED,
             ha="right")
    doc.y += 0.68
    doc.hline(doc.y, lw=1.6)
    doc.y += 0.14
    if not font.available:
        doc.paragraph(font.message, 7.5, color="#8a5a00")

    period = "—"
    if data.first_acquired is not None:
        period = _dt(data.first_acquired)
        if data.last_acquired is not None and data.last_acquired != data.first_acquired:
            period += f" to {_dt(data.last_acquired)}"
    profiles = []
    for p in data.profiles:
        note = (f"{p.n_unconfirmed} of {_n(p.n_verdicts, 'limit')} used "
                f"{'is' if p.n_unconfirmed == 1 else 'are'} NOT confirmed against the standard's text (†)"
                if p.n_unconfirmed else f"all {_n(p.n_verdicts, 'limit')} used are confirmed")
        profiles.append(f"{p.profile_id} {p.version}" + (f" — {p.title}" if p.title else "") + f"; {note}")
    versions = ", ".join(data.run_versions) or "—"
    _kv(doc, [("Site", d.site), ("Department", d.department), ("Device", d.display_name),
              ("Modality", d.modality), ("Manufacturer", d.manufacturer), ("Model", d.model),
              ("Serial number", d.serial), ("Station name", d.station_name), ("AE title", d.ae_title),
              ("Device key", d.key), ("Tests acquired", period), ("Analysed with", f"phantomqc {versions}"),
              ("Standards profiles", "\n".join(profiles) or "—")])

    # overall result
    doc.y += 0.1
    color, fill = _OVERALL_STYLE.get(data.overall, (_INK, _HEAD))
    n_pass = sum(t.count("pass", "ok") for t in data.tests)
    n_fail = sum(t.count("fail", "action") for t in data.tests)
    n_ne = sum(t.count("not_evaluated") for t in data.tests)
    n_tol = sum(t.count("tolerance") for t in data.tests)
    n_err = sum(1 for t in data.tests if t.status == "error")
    doc.need(0.62)
    doc.rect(_ML, doc.y, _CONTENT_W, 0.56, fill=fill, edge=color, lw=1.2)
    doc.text(_ML + 0.15, doc.y + 0.1, f"Overall result: {data.overall}", 15, color=color)
    counts = (f"{_n(len(data.tests), 'test')} · {n_pass} verdicts passed · {n_fail} failed · {n_ne} not evaluated"
              + (f" · {n_tol} at a site tolerance level" if n_tol else "")
              + (f" · {_n(n_err, 'test')} could not be analysed" if n_err else ""))
    doc.text(_ML + 0.15, doc.y + 0.36, counts, 8.5, color=_INK)
    doc.y += 0.66
    if data.n_unconfirmed:
        one = data.n_unconfirmed == 1
        doc.paragraph(f"† {_n(data.n_unconfirmed, 'limit')} used in this report {'is' if one else 'are'} marked "
                      "unconfirmed in the profile: the value was not checked against the standard's text. Check "
                      f"{'it' if one else 'them'} before relying on the verdict.", 7.5, color="#8a5a00")
    doc.paragraph("Open: verdicts not evaluated (with the reason in the test's table) or at a site tolerance level.",
                  7, color=_MUTED)

    doc.heading("Tests", 11)
    cols = (("#", 0.3, "right"), ("Test kind", 1.75, "left"), ("Run", 0.45, "left"), ("Acquired", 1.1, "left"),
            ("Pass", 0.42, "right"), ("Fail", 0.42, "right"), ("Open", 0.45, "right"),
            ("Review", 1.3, "left"), ("Result", 0.88, "center"))
    rows = summary_rows(data)
    fills = []
    for t in data.tests:
        st = _RUN_STATUS.get(t.status, "")
        fills.append({8: VERDICT_STYLE[st][1:]} if st else {})
    if rows:
        _table(doc, cols, rows, fills=fills, caption="Tests", size=7.5)
    else:
        doc.paragraph("No acceptance-test run is stored for this device.", 8.5, color=_MUTED)

    doc.heading("Failing verdicts", 11)
    frows = failing_rows(data)
    if frows:
        fcols = (("Test", 1.5, "left"), ("Measurement", 2.4, "left"), ("Value", 1.0, "right"),
                 ("Limit / criterion", 1.5, "left"), ("Verdict", 0.67, "center"))
        ffills = [{4: VERDICT_STYLE.get(r.status, VERDICT_STYLE["fail"])[1:]} for _t, r in data.failing]
        _table(doc, fcols, frows, fills=ffills, caption="Failing verdicts", size=7.5)
    else:
        doc.paragraph("No verdict failed.", 8.5, color=_MUTED)
    _signatures(doc, signatories)


def _signatures(doc: _Doc, signatories: Sequence[str]) -> None:
    if not signatories:
        return
    doc.need(1.75)
    doc.heading("Signatures", 11, space_before=0.1)
    n = len(signatories)
    gap = 0.25
    w = (_CONTENT_W - gap * (n - 1)) / n
    y0 = doc.y + 0.05
    for i, role in enumerate(signatories):
        x = _ML + i * (w + gap)
        doc.text(x, y0, role, 9, color=_ACCENT)
        for k, what in enumerate(("Name", "Date", "Signature")):
            yy = y0 + 0.48 + k * 0.38
            doc.text(x, yy - 0.13, what, 7.5, color=_MUTED, va="baseline")
            doc.hline(yy, x0=x + 0.6, x1=x + w, color=_INK, lw=0.6)
    doc.y = y0 + 0.48 + 2 * 0.38 + 0.15


def _test_section(doc: _Doc, test: Any, number: int, total: int, figures: Sequence[Any] | None = None) -> None:
    doc.new_page()
    style = VERDICT_STYLE.get(_RUN_STATUS.get(test.status, ""), VERDICT_STYLE[""])
    doc.text(_ML, doc.y, f"Test {number} of {total}: {test.kind}", 13, color=_ACCENT)
    doc.rect(PAGE_SIZE_IN[0] - _MR - 1.05, doc.y - 0.02, 1.05, 0.26, fill=style[2] or _HEAD, edge=style[1], lw=0.8)
    doc.text(PAGE_SIZE_IN[0] - _MR - 0.525, doc.y + 0.03, test.status.upper() or "—", 9, color=style[1],
             ha="center")
    doc.y += 0.3
    doc.hline(doc.y, color=_ACCENT, lw=1.0)
    doc.y += 0.08
    prof = "—"
    if test.profile is not None:
        prof = f"{test.profile.profile_id} {test.profile.version}"
    review = "—"
    if test.review is not None:
        r = test.review
        review = r.state + (" (automatic)" if r.automatic else "")
        if r.reviewer and not r.automatic:
            review += f" by {r.reviewer}"
        if r.decided_at is not None:
            review += f", {_dt(r.decided_at)} UTC"
        if r.comment:
            review += f": {r.comment}"
    inputs = f"{test.n_inputs} file(s)" if test.n_inputs else "—"
    if test.series_uid:
        inputs += f", series {test.series_uid}"
    _kv(doc, [("Run", f"#{test.run_id} · {test.test_type or '—'} test · analyzer {test.analyzer or '—'}"
                      + (f" · phantom {test.phantom}" if test.phantom else "")),
              ("Acquired", (f"{_dt(test.acquired_at, seconds=True)} (scanner clock); recorded "
                            f"{_dt(test.recorded_at)} UTC by phantomqc {test.phantomqc_version or '—'}")),
              ("Inputs", inputs), ("Profile", prof), ("Review", review)], size=8, key_w=0.9)
    if test.error:
        doc.paragraph(f"Analysis error: {test.error}", 8, color="#b42318")
    for w in test.warnings:
        doc.paragraph(f"Warning: {w}", 7.5, color="#8a5a00")
    doc.y += 0.06
    rows = acceptance_table_rows(test)
    if rows:
        fills = [{7: VERDICT_STYLE.get(r["status"], VERDICT_STYLE[""])[1:]} for r in rows]
        _table(doc, TABLE_COLUMNS, [r["cells"] for r in rows], fills=fills, caption=f"Test {number}: {test.kind}")
        if any(not r.confirmed and r.status for r in test.rows):
            doc.paragraph("† limit not confirmed against the standard's text.", 7, color="#8a5a00")
    else:
        doc.paragraph("No measurement was stored for this run.", 8.5, color=_MUTED)
    _limits_figure(doc, test, number)
    if figures is not None:
        _run_figures(doc, figures, number)


# --------------------------------------------------------------------------------------------------
# the analyzer's figures, as stored with the run

_FIG_GAP_IN = 0.3  # between the two figures of a row
_FIG_MAX_H_IN = 4.2  # a tall figure is narrowed (aspect kept) so that a row never takes more than this


def _figure_box(fig: Any, col_w: float) -> tuple[float, float]:
    """(width, height) in inches of a stored figure drawn in a column ``col_w`` wide, its aspect ratio kept."""
    w_px, h_px = max(1, int(fig.width_px)), max(1, int(fig.height_px))
    w = col_w
    h = w * h_px / w_px
    if h > _FIG_MAX_H_IN:
        h = _FIG_MAX_H_IN
        w = h * w_px / h_px
    return w, h


def _run_figures(doc: _Doc, figures: Sequence[Any], number: int) -> None:
    """The run's stored analyzer figures (objects with ``title``, ``png``, ``width_px``, ``height_px``), two per
    row, each in an axes of its own aspect ratio, captioned "Figure N.k <title>"; a row that does not fit starts
    a new page. Without figures, one muted line says so."""
    if not figures:
        doc.y += 0.1
        doc.paragraph("Analyzer figures not stored for this run.", 7.5, color=_MUTED)
        return
    import io

    import numpy as np
    from matplotlib.image import imread

    W, H = PAGE_SIZE_IN
    col_w = (_CONTENT_W - _FIG_GAP_IN) / 2
    cap_size = 7.5
    cap_lh = cap_size / 72 * 1.3
    head_h = 0.5
    rows = [list(enumerate(figures[i:i + 2], i + 1)) for i in range(0, len(figures), 2)]
    for r, row in enumerate(rows):
        boxes = [_figure_box(f, col_w) for _k, f in row]
        caps = [_wrap(f"Figure {number}.{k} {getattr(f, 'title', '') or ''}".rstrip(), col_w, cap_size)
                for k, f in row]
        # each caption right under its own figure; the row is as tall as its tallest figure with its caption
        row_h = max(h + 0.08 + len(c) * cap_lh for (_w, h), c in zip(boxes, caps)) + 0.18
        if doc.y + row_h + (head_h if r == 0 else 0.0) > doc.bottom:
            doc.new_page()
        if r == 0:
            doc.y += 0.12
            doc.text(_ML, doc.y, f"Analyzer figures of test {number}", 9, color=_ACCENT)
            doc.text(_ML, doc.y + 0.18, "as drawn by the analyzer when the run was recorded, kept in the results "
                     "store with the run (SHA-256 checked when read)", 6.5, color=_MUTED)
            doc.y += head_h
        for c, ((k, f), (w, h), cap) in enumerate(zip(row, boxes, caps)):
            x = _ML + c * (col_w + _FIG_GAP_IN)
            ax = doc.fig.add_axes((x / W, 1 - (doc.y + h) / H, w / W, h / H))
            img = imread(io.BytesIO(bytes(f.png)), format="png")
            if img.ndim == 2:  # a grey PNG decodes to one channel: show it grey, not in a colour map
                img = np.repeat(img[:, :, None], 3, axis=2)
            ax.imshow(img, interpolation="none", aspect="auto")
            ax.set_axis_off()
            for j, line in enumerate(cap):
                doc.text(x, doc.y + h + 0.08 + j * cap_lh, line, cap_size)
        doc.y += row_h


# --------------------------------------------------------------------------------------------------
# the figure of a test: each value against its accepted interval


def _view(row: Any) -> tuple[float, float]:
    pts = [p for p in (row.value, row.band_low, row.band_high, row.action_low, row.action_high, row.reference)
           if p is not None and math.isfinite(p)]
    if row.value is not None and row.uncertainty is not None:
        pts += [row.value - row.uncertainty, row.value + row.uncertainty]
    lo, hi = min(pts), max(pts)
    span = hi - lo
    if span <= 0:
        span = abs(lo) * 0.2 or 1.0
    # one-sided limits get a visible open side
    pad = 0.12 * span
    lo2, hi2 = lo - pad, hi + pad
    if row.has_band and row.band_low is None:
        lo2 = min(lo2, lo - 0.3 * span)
    if row.has_band and row.band_high is None:
        hi2 = max(hi2, hi + 0.3 * span)
    return lo2, hi2


def _limits_figure(doc: _Doc, test: Any, number: int) -> None:
    rows = [r for r in test.rows if r.status and r.value is not None and math.isfinite(r.value)]
    if rows:
        _strip_chart(doc, rows, number)
    _series_figures(doc, test, number)
    if not rows and not _series_groups(test):
        doc.paragraph("No figure: no measurement of this test has a limit or a series of labels.", 7.5,
                      color=_MUTED)


def _strip_chart(doc: _Doc, rows: list[Any], number: int) -> None:
    row_h, label_w, verdict_w = 0.34, 2.35, 0.75
    head = 0.5
    i = 0
    part = 0
    while i < len(rows):
        # keep a short chart whole, and never leave fewer than 4 rows of a long one on a page
        if doc.y + head + min(len(rows) - i, 12 if i == 0 else 4) * row_h + 0.35 > doc.bottom:
            doc.new_page()
        n_fit = max(1, int((doc.bottom - doc.y - head - 0.35) // row_h))
        chunk = rows[i:i + n_fit]
        part += 1
        doc.y += 0.12
        cont = " (continued)" if part > 1 else ""
        doc.text(_ML, doc.y, f"Figure {number}. Each value against its accepted interval{cont}", 9, color=_ACCENT)
        doc.text(_ML, doc.y + 0.18, "green: accepted interval (limits as stored with the verdict, baseline-relative "
                 "limits turned into values); red dashes: site action levels; grey dots: reference; bars: ±u",
                 6.5, color=_MUTED)
        doc.y += head
        for r in chunk:
            _strip(doc, r, doc.y, row_h, label_w, verdict_w)
            doc.y += row_h
        doc.y += 0.3
        i += len(chunk)


def _series_groups(test: Any) -> list[tuple[str, str, list[Any]]]:
    """Measurements given for information only (no verdict) that share a metric over three or more labels, such
    as an MTF at several frequencies or the CT number of each insert: (metric, unit, rows)."""
    groups: dict[tuple[str, str], list[Any]] = {}
    for r in test.rows:
        if not r.status and r.label and r.value is not None and math.isfinite(r.value):
            groups.setdefault((r.metric, r.unit), []).append(r)
    return [(m, u, rs) for (m, u), rs in groups.items() if len(rs) >= 3]


def _series_figures(doc: _Doc, test: Any, number: int) -> None:
    """One chart per group of :func:`_series_groups`: the value of each label, in stored order, with ±u."""
    W, H = PAGE_SIZE_IN
    for k, (metric, unit, rows) in enumerate(_series_groups(test), 1):
        h = 2.3
        if doc.y + h + 0.6 > doc.bottom:
            doc.new_page()
        doc.y += 0.12
        letter = chr(ord("a") + k - 1)
        doc.text(_ML, doc.y, f"Figure {number}{letter}. {metric} by label (for information: no limit)", 9,
                 color=_ACCENT)
        doc.y += 0.3
        ax = doc.fig.add_axes((( _ML + 0.55) / W, 1 - (doc.y + h - 0.45) / H, (_CONTENT_W - 0.7) / W,
                               (h - 0.55) / H))
        x = list(range(len(rows)))
        y = [r.value for r in rows]
        err = [r.uncertainty if r.uncertainty is not None else 0.0 for r in rows]
        ax.errorbar(x, y, yerr=err if any(err) else None, marker="o", ms=3, lw=1.0, color=_ACCENT, capsize=1.5,
                    elinewidth=0.7)
        step = max(1, math.ceil(len(rows) / 24))
        ax.set_xticks(x[::step])
        ax.set_xticklabels([r.label for r in rows][::step], rotation=45, ha="right")
        for lab in ax.get_xticklabels():
            lab.set_fontproperties(_fp(5.5))
        ax.tick_params(axis="y", labelsize=6)
        ax.set_ylabel(unit if unit and unit != "1" else metric.rsplit(".", 1)[-1], fontproperties=_fp(7))
        ax.grid(True, color="#e5e7eb", lw=0.5)
        ax.spines[["top", "right"]].set_visible(False)
        doc.y += h


def _strip(doc: _Doc, r: Any, y: float, h: float, label_w: float, verdict_w: float) -> None:
    W, H = PAGE_SIZE_IN
    text_color, _fill = VERDICT_STYLE.get(r.status, VERDICT_STYLE[""])[1:]
    name = r.metric.split(".", 1)[-1] + (f" [{r.label}]" if r.label else "")
    name_lines = _wrap(name, label_w - 0.1, 6.5)
    if len(name_lines) > 2:
        name_lines = [name_lines[0], name_lines[1][:-1] + "…"]
    for k, line in enumerate(name_lines):
        doc.text(_ML, y + 0.04 + k * 0.11, line, 6.5)
    x0 = _ML + label_w
    aw = _CONTENT_W - label_w - verdict_w
    ax = doc.fig.add_axes((x0 / W, 1 - (y + h * 0.62) / H, aw / W, (h * 0.5) / H))
    lo, hi = _view(r)
    ax.set_xlim(lo, hi)
    ax.set_ylim(-1, 1)
    if r.has_band:
        a = r.band_low if r.band_low is not None else lo
        b = r.band_high if r.band_high is not None else hi
        ax.axvspan(a, b, color="#cfe9d6", lw=0)
        for e in (r.band_low, r.band_high):
            if e is not None:
                ax.axvline(e, color="#1e7a3c", lw=0.8)
        for e in (r.action_low, r.action_high):
            if e is not None:
                ax.axvline(e, color="#b42318", lw=0.8, ls=(0, (3, 2)))
    else:
        ax.axhline(0, color=_RULE, lw=0.6)
    if r.reference is not None:
        ax.plot([r.reference], [0], marker="o", ms=3.5, color="#8a929e", ls="none")
    color = text_color if r.status else "#4b5563"
    ax.errorbar([r.value], [0], xerr=None if r.uncertainty is None else [[r.uncertainty], [r.uncertainty]],
                marker="D", ms=4.5, color=color, ecolor=color, elinewidth=1.0, capsize=2, ls="none")
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color("#9aa3b0")
    ax.tick_params(axis="x", labelsize=5.5, length=2, pad=1, colors="#4b5563")
    ax.xaxis.get_offset_text().set_fontsize(5.5)
    ax.locator_params(axis="x", nbins=6)
    unit = f" {r.unit}" if r.unit and r.unit != "1" else ""
    doc.text(x0 + aw + 0.08, y + 0.04, VERDICT_STYLE.get(r.status, ("", "", ""))[0], 6.5, color=color)
    doc.text(x0 + aw + 0.08, y + 0.15, f"{_v(r.value)}{unit}", 6, color=_MUTED)


# --------------------------------------------------------------------------------------------------
# the document


def _footer(fig: Any, page: int, n_pages: int, left: str) -> None:
    from matplotlib.lines import Line2D

    W, H = PAGE_SIZE_IN
    y = H - _MB + 0.3
    fig.add_artist(Line2D([_ML / W, (W - _MR) / W], [1 - y / H] * 2, transform=fig.transFigure, color=_RULE,
                          linewidth=0.6))
    fig.text(_ML / W, 1 - (y + 0.08) / H, left, fontproperties=_fp(7), color=_MUTED, va="top")
    fig.text((W - _MR) / W, 1 - (y + 0.08) / H, f"Page {page} of {n_pages}", fontproperties=_fp(7), color=_MUTED,
             va="top", ha="right")


def render_acceptance_pdf(data: Any, path: str | Path, *,
                          signatories: Sequence[str] = ("Physicist", "Engineer", "Approved by"),
                          figures: Mapping[int, Sequence[Any]] | None = None) -> Path:
    """Write the acceptance-test report of a device as a PDF.

    Parameters
    ----------
    data : phantomqc.programme.period.AcceptanceData
        What to show (see :func:`phantomqc.programme.period.acceptance_data`).
    path : str or Path
        The PDF to write; its folder is created.
    signatories : sequence of str, optional
        The roles of the signature block on the cover page (name, date and signature lines each); empty for
        none.
    figures : mapping of int to sequence, optional
        The analyzer figures stored with each run, by run id
        (:func:`phantomqc.programme.store.stored_figures`: objects with ``title``, ``png`` bytes, ``width_px`` and
        ``height_px``), drawn after each test's table and figure; a run missing from the mapping, or with none,
        gets one muted line saying so. None (the default): each test's own ``figures``, as
        :func:`~phantomqc.programme.period.acceptance_data` read them from the store.

    Returns
    -------
    Path
        ``path``.

    Notes
    -----
    The cover page carries the device, the overall result, the tests, the failing verdicts and the signatures;
    each test then starts on a new page with its table and figure (a table longer than a page continues on the
    next one under a repeated header), then the analyzer figures. The page count is therefore ``1 + n_tests``
    plus one page per overflow.
    """
    from matplotlib.backends.backend_pdf import PdfPages

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dev = data.device
    running = f"Acceptance test report · {_device_line(dev)}"
    doc = _Doc(title="Acceptance test report", running=running, pages=[])
    doc.new_page()
    _cover(doc, data, signatories)
    for i, t in enumerate(data.tests, 1):
        _test_section(doc, t, i, len(data.tests), list(t.figures if figures is None else figures.get(t.run_id, ())))
    n = len(doc.pages)
    left = f"{dev.site} · {_device_line(dev)} · report of {_dt(data.generated_at)} UTC"
    meta = {"Title": f"Acceptance test report: {dev.display_name}", "Author": "phantomqc",
            "Subject": f"{dev.site} {dev.department} {dev.display_name} {dev.serial}".strip(),
            "Creator": f"phantomqc {data.phantomqc_version}",
            "Keywords": f"acceptance {data.overall}"}
    with PdfPages(path, metadata=meta) as pdf:
        for k, fig in enumerate(doc.pages, 1):
            _footer(fig, k, n, left)
            pdf.savefig(fig)
    return path

