"""Charts of the clinical QC report (seed 001 section 6), with Chinese labels.

Like :mod:`phantomqc.report.figures`, every chart is a ``matplotlib.figure.Figure`` on its own Agg canvas; pyplot and
the global ``rcParams`` are never touched. Chinese text needs a CJK font, and matplotlib's default DejaVu Sans has no
CJK glyphs (they come out as empty boxes). :func:`find_cjk_font` looks for one, in this order:

1. the Noto Sans CJK SC file shipped by the ``mplfonts`` package (a declared dependency, so a fresh install has it
   and the charts look the same on every machine);
2. a system font whose family is one of :data:`CJK_FAMILIES` (Noto Sans CJK SC from Debian's ``fonts-noto-cjk``,
   Source Han Sans SC, WenQuanYi, SimHei, Microsoft YaHei, PingFang SC, ...).

When none is found the charts are still drawn, with English titles and legends, and :class:`CjkFont` carries a
message saying so; the HTML report prints that message above the charts, so nobody is left wondering why the labels
changed language. Person names and form-item texts are data, drawn as given.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["CJK_FAMILIES", "CjkFont", "find_cjk_font", "render_rubric_charts", "SCORE_COLORS"]

#: System font families that cover simplified Chinese, in order of preference.
CJK_FAMILIES: tuple[str, ...] = ("Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC", "WenQuanYi Zen Hei",
                                 "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei", "PingFang SC",
                                 "Hiragino Sans GB", "Noto Sans CJK JP", "Noto Serif CJK SC")
#: Colours of the scores 5..1 (excellent to severe) in every chart.
SCORE_COLORS = {5: "#1b7837", 4: "#7fbf7b", 3: "#f1c232", 2: "#e08214", 1: "#b2182b"}
_DPI = 110
_EN = {  # titles and legends when no CJK font is available
    "图2 质控评分统计": "Fig. 2 QC score distribution", "图4 质控扣分项目": "Fig. 4 Deductions per item",
    "图6 技师工作量图表展现": "Fig. 6 Technologist workload", "图8 技师质量图表展现": "Fig. 8 Technologist quality",
    "医师质量图表展现": "Doctor quality", "医师评分统计": "Doctor QC score distribution",
    "5.1 月度合格率": "5.1 Monthly pass rate", "核医学质控指标": "Nuclear-medicine indicators",
    "优秀（5分）": "excellent (5)", "良好（4分）": "good (4)", "合格（3分）": "score 3", "不合格（2、1分）": "not passing (2, 1)",
    "例数": "exams", "百分比 (%)": "percent (%)", "扣分次数": "count", "检查数": "exams", "合格率 (%)": "pass rate (%)",
    "率 (%)": "rate (%)", "分": "", "被质控数": "QC'd",
}


@dataclass(frozen=True)
class CjkFont:
    """The font used for Chinese labels: ``path`` None when none was found (``message`` says what to do)."""

    path: str | None
    family: str | None
    source: str
    message: str

    @property
    def available(self) -> bool:
        return self.path is not None


@lru_cache(maxsize=1)
def find_cjk_font() -> CjkFont:
    """Find a font file with simplified-Chinese glyphs (see the module docstring for the search order)."""
    try:
        from importlib import resources

        p = resources.files("mplfonts") / "fonts" / "NotoSansCJKsc-Regular.otf"
        if p.is_file():
            return CjkFont(str(p), "Noto Sans CJK SC", "mplfonts package", "")
    except (ImportError, ModuleNotFoundError, OSError):
        pass
    from matplotlib import font_manager

    by_family: dict[str, str] = {}
    for f in font_manager.fontManager.ttflist:
        if f.name in CJK_FAMILIES and f.name not in by_family and Path(f.fname).is_file():
            if f.weight in ("normal", "regular", 400, "book") or f.name not in by_family:
                by_family[f.name] = f.fname
    for fam in CJK_FAMILIES:
        if fam in by_family:
            return CjkFont(by_family[fam], fam, "system font", "")
    return CjkFont(None, None, "none",
                   "No CJK font was found, so the charts use English titles and legends and Chinese names may "
                   "show as empty boxes. Install the Python package 'mplfonts' (a phantomqc dependency) or the "
                   "Debian package 'fonts-noto-cjk'.")


def _fp(font: CjkFont, size: float):
    from matplotlib.font_manager import FontProperties

    return FontProperties(fname=font.path, size=size) if font.available else FontProperties(size=size)


def _t(text: str, font: CjkFont) -> str:
    return text if font.available else _EN.get(text, text)


def _new_figure(width_in: float, height_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _finish(fig, ax, title: str, font: CjkFont, path: Path) -> Path:
    ax.set_title(_t(title, font), fontproperties=_fp(font, 12))
    for lab in ax.get_xticklabels() + ax.get_yticklabels():
        lab.set_fontproperties(_fp(font, 9))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI)
    return path


def _legend(ax, font: CjkFont, **kw) -> None:
    ax.legend(prop=_fp(font, 8.5), frameon=False, **kw)


def _score_distribution(stats: dict, role: str, title: str, font: CjkFont, path: Path) -> Path | None:
    rows = [r for r in stats.get("score_distribution", []) if r["staff_role"] == role]
    if not rows:
        return None
    cells: dict[tuple[str, str], dict[int, int]] = {}
    for r in rows:
        cells.setdefault((r["staff"], r["device_type"]), {})[r["score"]] = r["count"]
    keys = list(cells)
    fig = _new_figure(7.2, max(2.6, 0.32 * len(keys) + 1.4))
    ax = fig.add_subplot()
    y = list(range(len(keys)))[::-1]
    left = [0] * len(keys)
    for s in (5, 4, 3, 2, 1):
        vals = [cells[k].get(s, 0) for k in keys]
        ax.barh(y, vals, left=left, color=SCORE_COLORS[s], label=f"{s}" + _t("分", font), height=0.7)
        for yi, v, l0 in zip(y, vals, left):
            if v:
                ax.text(l0 + v / 2, yi, str(v), ha="center", va="center", fontsize=7.5,
                        color="white" if s in (5, 1) else "black")
        left = [a + b for a, b in zip(left, vals)]
    ax.set_yticks(y, [f"{s} · {d}" for s, d in keys])
    ax.set_xlabel(_t("例数", font), fontproperties=_fp(font, 9.5))
    _legend(ax, font, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=5)
    return _finish(fig, ax, title, font, path)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _deductions(stats: dict, font: CjkFont, path: Path, top: int = 15) -> Path | None:
    items = sorted((d for d in stats.get("deductions", []) if d.get("count")), key=lambda d: -d["count"])[:top]
    if not items:
        return None
    fig = _new_figure(7.6, max(2.6, 0.42 * len(items) + 1.2))
    ax = fig.add_subplot()
    y = list(range(len(items)))[::-1]
    colors = ["#b2182b" if d.get("kind") == "severe" else "#4575b4" for d in items]
    ax.barh(y, [d["count"] for d in items], color=colors, height=0.65)
    for yi, d in zip(y, items):
        ax.text(d["count"], yi, f" {d['count']}", va="center", fontsize=8)
    labels = []
    for d in items:
        name = d.get("name") or d.get("text") or d["item"]
        labels.append(f"{_clip(name, 22)}\n{d['item']}")
    ax.set_yticks(y, labels)
    ax.set_xlabel(_t("扣分次数", font), fontproperties=_fp(font, 9.5))
    return _finish(fig, ax, "图4 质控扣分项目", font, path)


def _workload(stats: dict, font: CjkFont, path: Path) -> Path | None:
    rows = stats.get("workload", [])
    if not rows:
        return None
    staff = sorted({r["staff"] for r in rows}, key=lambda s: -sum(r["exams"] for r in rows if r["staff"] == s))
    devices = sorted({r["device_type"] for r in rows})
    palette = ["#4575b4", "#91bfdb", "#fc8d59", "#d73027", "#7b3294", "#008837"]
    fig = _new_figure(7.2, 4.2)
    ax = fig.add_subplot()
    bottom = [0] * len(staff)
    for i, dev in enumerate(devices):
        vals = [sum(r["exams"] for r in rows if r["staff"] == s and r["device_type"] == dev) for s in staff]
        ax.bar(range(len(staff)), vals, bottom=bottom, color=palette[i % len(palette)], label=dev, width=0.7)
        bottom = [a + b for a, b in zip(bottom, vals)]
    for x, tot in enumerate(bottom):
        ax.text(x, tot, str(tot), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(staff)), staff)
    ax.set_ylabel(_t("检查数", font), fontproperties=_fp(font, 9.5))
    _legend(ax, font, loc="upper right")
    return _finish(fig, ax, "图6 技师工作量图表展现", font, path)


def _quality(stats: dict, role: str, title: str, font: CjkFont, path: Path) -> Path | None:
    rows = [r for r in stats.get("quality_rates", []) if r["staff_role"] == role]
    if not rows:
        return None
    fig = _new_figure(7.2, max(2.6, 0.36 * len(rows) + 1.5))
    ax = fig.add_subplot()
    y = list(range(len(rows)))[::-1]
    left = [0.0] * len(rows)
    parts = (("excellent_percent", "优秀（5分）", SCORE_COLORS[5]), ("good_percent", "良好（4分）", SCORE_COLORS[4]),
             ("score3_percent", "合格（3分）", SCORE_COLORS[3]),
             ("not_passing_percent", "不合格（2、1分）", SCORE_COLORS[1]))
    for key, label, color in parts:
        vals = [r[key] or 0.0 for r in rows]
        ax.barh(y, vals, left=left, color=color, label=_t(label, font), height=0.7)
        for yi, v, l0 in zip(y, vals, left):
            if v >= 6:
                ax.text(l0 + v / 2, yi, f"{v:.1f}", ha="center", va="center", fontsize=7.5,
                        color="white" if key in ("excellent_percent", "not_passing_percent") else "black")
        left = [a + b for a, b in zip(left, vals)]
    ax.set_yticks(y, [f"{r['staff']}（{_t('被质控数', font)} {r['qc_count']}）" for r in rows])
    ax.set_xlim(0, 100)
    ax.set_xlabel(_t("百分比 (%)", font), fontproperties=_fp(font, 9.5))
    _legend(ax, font, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4)
    return _finish(fig, ax, title, font, path)


def _monthly(stats: dict, font: CjkFont, path: Path) -> Path | None:
    rows = stats.get("monthly", [])
    if len(rows) < 1:
        return None
    fig = _new_figure(min(7.2, 2.6 + 0.6 * len(rows)), 3.2)
    ax = fig.add_subplot()
    x = list(range(len(rows)))
    vals = [r["pass_rate_percent"] or 0.0 for r in rows]
    ax.bar(x, vals, color="#4575b4", width=0.5)
    ax.set_xlim(-0.75, len(rows) - 0.25)
    for xi, r in zip(x, rows):
        ax.text(xi, (r["pass_rate_percent"] or 0.0), f"{r['passed_count']}/{r['sampled_count']}", ha="center",
                va="bottom", fontsize=8)
    ax.set_xticks(x, [r["month"] for r in rows])
    ax.set_ylim(0, 105)
    ax.set_ylabel(_t("合格率 (%)", font), fontproperties=_fp(font, 9.5))
    return _finish(fig, ax, "5.1 月度合格率", font, path)


def _nm(nm_doc: dict, font: CjkFont, path: Path) -> Path | None:
    rows = [r for r in nm_doc.get("indicators", [])]
    if not rows:
        return None
    fig = _new_figure(7.2, 3.8)
    ax = fig.add_subplot()
    x = list(range(len(rows)))
    vals = [r.get("rate_percent") or 0.0 for r in rows]
    ax.bar(x, vals, color="#7b3294", width=0.6)
    for xi, r in zip(x, rows):
        txt = (f"{r['rate_percent']:.1f}%\n{r['numerator']}/{r['denominator']}" if r.get("rate_percent") is not None
               else "—")
        ax.text(xi, vals[xi], txt, ha="center", va="bottom", fontsize=7.5)
    ax.set_xticks(x, [r["id"] for r in rows])
    ax.set_ylim(0, 118)
    ax.set_ylabel(_t("率 (%)", font), fontproperties=_fp(font, 9.5))
    return _finish(fig, ax, "核医学质控指标", font, path)


def render_rubric_charts(stats: dict | None, out_dir: Path | str, *, nm: dict | None = None) -> dict[str, Any]:
    """Draw the charts of a ``phantomqc.rubric_stats/1`` document (and an NM indicator document) as PNG files.

    Parameters
    ----------
    stats : dict or None
        The statistics document of :func:`phantomqc.rubric.stats.rubric_stats`.
    out_dir : path
        Folder for the PNG files (created).
    nm : dict, optional
        A ``phantomqc.rubric_nm/1`` document.

    Returns
    -------
    dict
        ``charts``: ``[{id, title, path}]`` in report order (a chart with no data is left out);
        ``font``: ``{path, family, source, message}`` of the font used for Chinese labels.
    """
    out = Path(out_dir)
    font = find_cjk_font()
    plan: list[tuple[str, str, Any]] = []
    if stats is not None:
        plan += [
            ("monthly", "5.1 月度合格率", lambda p: _monthly(stats, font, p)),
            ("fig2_technologist", "图2 质控评分统计",
             lambda p: _score_distribution(stats, "technologist", "图2 质控评分统计", font, p)),
            ("fig4", "图4 质控扣分项目", lambda p: _deductions(stats, font, p)),
            ("fig6", "图6 技师工作量图表展现", lambda p: _workload(stats, font, p)),
            ("fig8_technologist", "图8 技师质量图表展现",
             lambda p: _quality(stats, "technologist", "图8 技师质量图表展现", font, p)),
            ("fig2_doctor", "医师评分统计",
             lambda p: _score_distribution(stats, "doctor", "医师评分统计", font, p)),
            ("fig8_doctor", "医师质量图表展现",
             lambda p: _quality(stats, "doctor", "医师质量图表展现", font, p)),
        ]
    if nm is not None:
        plan.append(("nm", "核医学质控指标", lambda p: _nm(nm, font, p)))
    charts = []
    for cid, title, draw in plan:
        p = draw(out / f"rubric_{cid}.png")
        if p is not None:
            charts.append({"id": cid, "title": _t(title, font), "path": str(p)})
    return {"charts": charts, "font": {"path": font.path, "family": font.family, "source": font.source,
                                       "message": font.message}}
