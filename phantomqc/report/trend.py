"""Trend charts of the QC programme: draw a ``phantomqc.programme.trends.TrendData`` as PNG or HTML.

``render_trend(data, path)`` writes ``path``: a PNG when it ends in ``.png``, a self-contained HTML page (the same
chart embedded as a base64 PNG, then a table of every point with its limits, verdicts and Western Electric flags,
the baseline history and the service events) when it ends in ``.html``.

The chart has three stacked axes sharing the time axis:

1. *values*: the measurements, with the baseline in force (a step line that steps at each re-baseline), the
   profile limits in force (red dashed lines, the pass band shaded green), the site's tolerance (orange dotted)
   and action (dark red dash-dot) levels, failing points in red and tolerance points in orange;
2. *individuals chart*: the SPC values with the centre line, the 1σ/2σ zones and the 3σ control limits of each
   phase, the limit window (the points that define the limits) shaded, and the points where a Western Electric
   rule fires ringed, one ring style per rule, the legend naming each rule and the date it first fired;
3. *moving-range chart*: ``|x_i − x_{i−1}|`` with ``MR̄`` and ``UCL = 3.267·MR̄``.

Service events (purple dotted) and baseline changes (black dashed) are vertical lines through all three axes,
labelled at the top of the first. Like ``phantomqc.report.figures``, each figure is a ``matplotlib.figure.Figure``
on its own Agg canvas: no pyplot, no global ``rcParams``. The module never recomputes a number: limits, flags and
phases all come from ``TrendData``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from phantomqc._shared.errors import InputError
from phantomqc.programme.spc import WE_RULES
from phantomqc.report.html import format_value

__all__ = ["TREND_FIGSIZE_IN", "render_trend", "trend_png_bytes", "trend_html"]

#: Size of the trend figure in inches (width, height); at the default 110 dpi the PNG is 1320 x 1100 pixels.
TREND_FIGSIZE_IN: tuple[float, float] = (12.0, 10.0)

# one look per rule: ring marker, size (points), colour; rings of growing size so that several rules firing at
# the same point stay visible
_RULE_STYLE = {1: ("o", 16, "#c0392b"), 2: ("s", 13, "#e67e22"), 3: ("D", 11, "#8e44ad"), 4: ("o", 9, "#16a085")}
_C_VALUE, _C_BASE, _C_LIMIT, _C_TOL, _C_ACT = "#1f4e79", "#111111", "#c0392b", "#e69500", "#8c564b"
_C_SERVICE, _C_REBASE, _C_FAIL = "#6a3d9a", "#111111", "#d62728"


def _font():
    from phantomqc.report.rubric_figures import find_cjk_font

    return find_cjk_font()


def _fp(size: float, text: str = ""):
    """Font properties; the CJK font (which also covers Latin) when the text has non-ASCII characters."""
    from matplotlib.font_manager import FontProperties

    f = _font()
    if f.available and any(ord(ch) >= 0x2E80 for ch in text):  # CJK radicals onwards
        return FontProperties(fname=f.path, size=size)
    return FontProperties(size=size)


def _short(text: str, n: int = 48) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _title(data) -> str:
    lab = f" [{data.label}]" if data.label else ""
    unit = f" ({data.unit})" if data.unit else ""
    return f"{data.device_name} — {data.metric}{lab}{unit}"


def _step_x(times: list[_dt.datetime]) -> list[_dt.datetime]:
    """The x of a 'post' step line through per-point values: each value holds until the next point; the last
    one is drawn for the median spacing (or a day) so that it is visible."""
    if not times:
        return []
    if len(times) > 1:
        gaps = np.diff(np.array(times, dtype="datetime64[s]")).astype(float)
        tail = _dt.timedelta(seconds=float(np.median(gaps)))
    else:
        tail = _dt.timedelta(days=1)
    return list(times) + [times[-1] + tail]


def _step(ax, times, y, **kw) -> None:
    if not np.any(np.isfinite(y)):
        return
    ax.step(_step_x(times), np.append(y, y[-1]), where="post", **kw)


def _first_dates(data) -> dict[int, _dt.datetime | None]:
    return {r: (None if k is None else data.times[k]) for r, k in data.first_rule_index().items()}


def _markers(data) -> list[tuple[_dt.datetime, str, str, str]]:
    """(time, text, colour, line style) of the vertical markers: service events and baseline changes."""
    out = []
    for e in data.service_events:
        text = f"{e.kind} {e.at:%m-%d}: {_short(e.description, 56)}" if e.description else f"{e.kind} {e.at:%m-%d}"
        out.append((e.at, text, _C_SERVICE, ":"))
    by_id = {b.id: b for b in data.baselines}
    for i in data.phase_starts:
        b = by_id.get(data.baseline_ids[i])
        t = data.times[i]
        if b is None:
            text = f"baseline {t:%m-%d}: none"
        else:
            text = f"baseline {t:%m-%d} → {format_value(b.value)}" + (f": {_short(b.reason, 56)}" if b.reason else "")
        out.append((t, text, _C_REBASE, "--"))
    return sorted(out, key=lambda m: m[0])


def _legend_right(ax, handles=None, labels=None) -> None:
    kw = dict(fontsize=7.8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)
    if handles is None:
        ax.legend(**kw)
    else:
        ax.legend(handles, labels, **kw)


def _draw(data, dpi: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    fig = Figure(figsize=TREND_FIGSIZE_IN, dpi=dpi)
    FigureCanvasAgg(fig)
    # fixed margins rather than a layout engine (which measures every tick label again); the legends sit in the
    # right margin so that they never hide a point
    gs = fig.add_gridspec(4, 1, height_ratios=[3.4, 2.4, 0.75, 1.35], left=0.06, right=0.765, top=0.925,
                          bottom=0.06, hspace=0.3)
    ax_v = fig.add_subplot(gs[0])
    ax_i = fig.add_subplot(gs[1], sharex=ax_v)
    ax_r = fig.add_subplot(gs[2], sharex=ax_v)
    ax_m = fig.add_subplot(gs[3], sharex=ax_v)
    axes = (ax_v, ax_i, ax_r, ax_m)
    t = list(data.times)
    y = np.asarray(data.values, dtype=float)
    unit = data.unit or ""

    # -- panel 1: values, baseline, limits ------------------------------------------------------------------
    lo, hi = np.asarray(data.limit_low, float), np.asarray(data.limit_high, float)
    both = np.isfinite(lo) & np.isfinite(hi)
    if both.any():
        ax_v.fill_between(_step_x(t), np.append(lo, lo[-1]), np.append(hi, hi[-1]), step="post",
                          where=np.append(both, both[-1]), color="#2ca02c", alpha=0.10, lw=0,
                          label="profile pass band")
    if np.isfinite(lo).any() or np.isfinite(hi).any():
        _step(ax_v, t, lo, color=_C_LIMIT, ls="--", lw=1.4)
        _step(ax_v, t, hi, color=_C_LIMIT, ls="--", lw=1.4)
        ax_v.plot([], [], color=_C_LIMIT, ls="--", lw=1.4, label="profile limits")
    for (lo_a, hi_a), style, lab in (((data.tol_low, data.tol_high), dict(color=_C_TOL, ls=":", lw=1.6),
                                      "site tolerance levels"),
                                     ((data.act_low, data.act_high), dict(color=_C_ACT, ls="-.", lw=1.2),
                                      "site action levels")):
        lo_a, hi_a = np.asarray(lo_a, float), np.asarray(hi_a, float)
        if np.isfinite(lo_a).any() or np.isfinite(hi_a).any():
            _step(ax_v, t, lo_a, **style)
            _step(ax_v, t, hi_a, **style)
            ax_v.plot([], [], label=lab, **style)
    _step(ax_v, t, np.asarray(data.baseline_values, float), color=_C_BASE, lw=1.8, label="baseline in force")
    ax_v.plot(t, y, color="#9aa7b5", lw=0.9, zorder=2)
    fail = data.failing
    tol = np.array([s == "tolerance" for s in data.site_statuses], dtype=bool) & ~fail
    noeval = np.array([s in ("not_evaluated", "") for s in data.statuses], dtype=bool) & ~fail & ~tol
    noeval &= np.isfinite(y)
    ok = ~fail & ~tol & ~noeval & np.isfinite(y)
    for mask, style, lab in ((ok, dict(color=_C_VALUE, marker="o", ms=4.5, ls="none"), "pass"),
                             (noeval, dict(mfc="white", mec="#7f7f7f", marker="o", ms=4.5, ls="none"),
                              "not evaluated / no verdict"),
                             (tol, dict(color=_C_TOL, marker="o", ms=6, ls="none"), "site tolerance crossed"),
                             (fail, dict(color=_C_FAIL, marker="o", ms=6.5, mec="#7b0000", ls="none"),
                              "fail / site action")):
        if mask.any():
            ax_v.plot([t[i] for i in np.flatnonzero(mask)], y[mask], zorder=3,
                      label=f"{lab} ({int(mask.sum())})", **style)
    missing = ~np.isfinite(y)
    if missing.any():  # a run without a number: an x on the time axis, never a silent gap
        ax_v.plot([t[i] for i in np.flatnonzero(missing)], np.full(int(missing.sum()), 0.02), ls="none",
                  marker="x", ms=7, mew=1.8, color="#555555", transform=ax_v.get_xaxis_transform(), zorder=5,
                  clip_on=False, label=f"no value ({int(missing.sum())})")
    ax_v.set_ylabel(f"value ({unit})" if unit else "value", fontsize=10)
    first_fail = int(np.flatnonzero(fail)[0]) if fail.any() else None
    firsts = {r: d for r, d in _first_dates(data).items() if d is not None}
    sub = [f"{len(t)} points, {t[0]:%Y-%m-%d} – {t[-1]:%Y-%m-%d}"]
    if firsts:
        r0 = min(firsts, key=lambda r: (firsts[r], r))
        sub.append(f"first SPC signal {firsts[r0]:%Y-%m-%d} (WE{r0})")
    if first_fail is not None:
        sub.append(f"first failure {t[first_fail]:%Y-%m-%d}")
    title = _title(data)
    fig.text(0.06, 0.975, title, fontproperties=_fp(13, title), weight="bold", va="top")
    fig.text(0.06, 0.948, "; ".join(sub), fontsize=10, va="top", color="#333333")

    # -- panel 2: individuals chart, panel 3: which rule fires where ----------------------------------------
    spc = data.spc
    rule_handles: list = []
    if spc is not None:
        ts = [t[i] for i in data.spc_index]
        for ph in spc.phases:
            if ph.n_window >= 2:
                a, b = ts[ph.start], ts[ph.start + ph.n_window - 1]
                ax_i.axvspan(a, b, color="#d9d9d9", alpha=0.5, lw=0,
                             label="limit window" if ph.start == 0 else None)
        for k_sig, style in ((1, dict(color="#b0b0b0", lw=0.7, ls=":")), (2, dict(color="#8c8c8c", lw=0.8, ls="--"))):
            for sign in (1, -1):
                _step(ax_i, ts, spc.centre + sign * k_sig * spc.sigma, **style,
                      label=(f"±{k_sig}σ" if sign == 1 else None))
        _step(ax_i, ts, spc.ucl, color=_C_LIMIT, lw=1.3, label="±3σ control limits")
        _step(ax_i, ts, spc.lcl, color=_C_LIMIT, lw=1.3)
        _step(ax_i, ts, spc.centre, color=_C_BASE, lw=1.2, label="centre line")
        flagged = spc.flagged
        for ph in spc.phases:  # one line per phase: the jump at a re-baseline is not a move of the process
            ax_i.plot(ts[ph.start:ph.stop], spc.values[ph.start:ph.stop], color=_C_VALUE, lw=0.8, zorder=3)
        ax_i.plot([ts[k] for k in np.flatnonzero(~flagged)], spc.values[~flagged], ls="none", marker="o",
                  ms=3.4, color=_C_VALUE, zorder=4, label="in control")
        if flagged.any():
            ax_i.plot([ts[k] for k in np.flatnonzero(flagged)], spc.values[flagged], ls="none", marker="o",
                      ms=4.6, color=_C_FAIL, zorder=4, label=f"a rule fires ({int(flagged.sum())})")
        for r in WE_RULES:
            mk, size, col = _RULE_STYLE[r]
            hit = np.flatnonzero(spc.rules[:, r - 1])
            lane = 5 - r  # rule 1 on top
            ax_r.axhline(lane, color="#eeeeee", lw=6, zorder=0)
            if hit.size:
                ax_r.plot([ts[k] for k in hit], np.full(hit.size, lane), ls="none", marker="|", ms=9, mew=2.0,
                          color=col)
                k0 = int(hit[0])  # the first firing, ringed on the I-chart
                ax_i.plot([ts[k0]], [spc.values[k0]], ls="none", marker=mk, ms=size, mfc="none", mec=col, mew=1.8,
                          zorder=5)
            first = firsts.get(r)
            when = f"first {first:%Y-%m-%d}, {hit.size} pts" if first is not None else "never fired"
            rule_handles.append(Line2D([], [], ls="none", marker=mk, ms=size * 0.7, mfc="none", mec=col, mew=1.6,
                                       label=f"WE{r}: {WE_RULES[r]}\n    {when}"))
        ax_r.set_yticks([4, 3, 2, 1], [f"WE{r}" for r in WE_RULES], fontsize=8)
        ax_r.set_ylim(0.4, 4.6)
        ax_r.tick_params(axis="y", length=0)
        ax_r.set_title("Western Electric rules: where each fires (its first firing ringed above)", fontsize=9.5,
                       loc="left")
        h0, l0 = ax_i.get_legend_handles_labels()
        _legend_right(ax_i, h0 + rule_handles, l0 + [h.get_label() for h in rule_handles])
        n_lim = "all points" if data.n_limits is None else f"first {data.n_limits} points"
        ax_i.set_title(f"Individuals chart: limits from the {n_lim} of each phase, σ = MR̄/1.128",
                       fontsize=10, loc="left")
        ax_i.set_ylabel(f"individual ({unit})" if unit else "individual", fontsize=10)

        # -- panel 4: moving range --------------------------------------------------------------------------
        mr = spc.moving_range
        ax_m.plot(ts, mr, color=_C_VALUE, lw=0.8, marker="o", ms=2.8, label="moving range")
        _step(ax_m, ts, spc.mr_centre, color=_C_BASE, lw=1.1, label="MR̄")
        _step(ax_m, ts, spc.mr_ucl, color=_C_LIMIT, lw=1.3, label="UCL = 3.267·MR̄")
        out = np.flatnonzero(spc.mr_beyond_ucl)
        if out.size:
            ax_m.plot([ts[k] for k in out], mr[out], ls="none", marker="o", ms=7, mfc="none", mec=_C_FAIL,
                      mew=1.6, label=f"beyond UCL ({out.size})")
        top = np.nanmax(np.concatenate([mr[np.isfinite(mr)], spc.mr_ucl[np.isfinite(spc.mr_ucl)], [0.0]]))
        ax_m.set_ylim(0, top * 1.12 if top > 0 else 1.0)
        _legend_right(ax_m)
        ax_m.set_title("Moving-range chart", fontsize=10, loc="left")
        ax_m.set_ylabel(f"|Δ| ({unit})" if unit else "|Δ|", fontsize=10)
    else:
        for ax in (ax_i, ax_r, ax_m):
            ax.text(0.5, 0.5, "no SPC chart: fewer than two values", transform=ax.transAxes, ha="center",
                    va="center", fontsize=10, color="#7f7f7f")
            ax.set_yticks([])

    # -- service events and baseline changes through every panel, labelled in panel 1 -----------------------
    marks = _markers(data)
    x0, x1 = date2num(t[0]), date2num(_step_x(t)[-1])
    span = max(x1 - x0, 1e-9)
    for j, (when, text, col, ls) in enumerate(marks):
        for ax in axes:
            ax.axvline(when, color=col, ls=ls, lw=1.5, zorder=1)
        right_side = (date2num(when) - x0) / span > 0.6  # text to the left of a line near the right edge
        ax_v.text(when, 0.965 - 0.085 * (j % 3), (text + " ") if right_side else (" " + text),
                  transform=ax_v.get_xaxis_transform(), ha="right" if right_side else "left", va="top",
                  color=col, fontproperties=_fp(8, text), zorder=6,
                  bbox=dict(boxstyle="square,pad=0.15", fc="white", ec="none", alpha=0.85))
    if any(m[3] == ":" for m in marks):
        ax_v.plot([], [], color=_C_SERVICE, ls=":", lw=1.5, label="service event")
    if any(m[3] == "--" for m in marks):
        ax_v.plot([], [], color=_C_REBASE, ls="--", lw=1.5, label="baseline change")
    _legend_right(ax_v)
    if marks:  # headroom for the marker labels (up to three staggered rows)
        lo_y, hi_y = ax_v.get_ylim()
        rows = min(len(marks), 3)
        frac = 0.06 + 0.085 * rows
        ax_v.set_ylim(lo_y, hi_y + frac * (hi_y - lo_y) / (1 - frac))

    for ax in axes:
        ax.grid(True, color="#e5e5e5", lw=0.6)
        ax.tick_params(labelsize=8.5)
    ax_r.grid(False)
    loc = AutoDateLocator()
    ax_m.xaxis.set_major_locator(loc)
    ax_m.xaxis.set_major_formatter(ConciseDateFormatter(loc, show_offset=False))
    for ax in (ax_v, ax_i, ax_r):
        ax.tick_params(labelbottom=False)
    ax_m.set_xlabel("acquisition date (scanner time)", fontsize=10)
    return fig


def trend_png_bytes(data, *, dpi: float = 110) -> bytes:
    """The trend chart of ``data`` as PNG bytes (see the module docstring for what it shows)."""
    fig = _draw(data, dpi)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: "Noto Sans", "DejaVu Sans", Arial, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.fail td { background: #fbe3e3; } tr.tolerance td { background: #fff2d6; } td.flag { color: #b03a2e; font-weight: bold; }
img { max-width: 100%; } .muted { color: #777; }
</style></head><body>
<h1>{{ title }}</h1>
<p>Device {{ d.device_id }} ({{ d.device_name }}); {{ n }} points from {{ t0 }} to {{ t1 }}.
Individuals chart: limits from the {{ window }} of each phase, σ = MR̄/1.128, Western Electric rules
(Montgomery, <i>Introduction to Statistical Quality Control</i>).</p>
<ul>{% for r in rules %}
<li>WE{{ r.n }} ({{ r.text }}): {% if r.first is none %}never fired{% else %}first at point {{ r.first }} ({{ r.when }}), {{ r.count }} point(s){% endif %}</li>{% endfor %}
{% if first_fail is not none %}<li>first failing point: {{ first_fail }} ({{ first_fail_when }})</li>{% endif %}</ul>
{% if warnings %}<p class="muted">Warnings: {{ warnings | join("; ") }}</p>{% endif %}
<img alt="trend chart" src="data:image/png;base64,{{ png }}">
<h2>Points</h2>
<table><tr><th>#</th><th>acquired</th><th>run</th><th>value</th><th>baseline</th><th>limits</th><th>criterion</th>
<th>verdict</th><th>site</th><th>run status</th><th>SPC phase</th><th>WE rules</th></tr>
{% for p in points %}<tr class="{{ p.cls }}"><td class="num">{{ p.i }}</td><td>{{ p.t }}</td><td class="num">{{ p.run }}</td>
<td class="num">{{ p.v }}</td><td class="num">{{ p.b }}</td><td>{{ p.lim }}</td><td>{{ p.crit }}</td><td>{{ p.s }}</td>
<td>{{ p.site }}</td><td>{{ p.rs }}</td><td class="num">{{ p.phase }}</td><td class="flag">{{ p.we }}</td></tr>
{% endfor %}</table>
<h2>Baseline history</h2>
{% if baselines %}<table><tr><th>id</th><th>value</th><th>valid from</th><th>valid to</th><th>ended (UTC)</th>
<th>set by</th><th>reason</th></tr>
{% for b in baselines %}<tr><td class="num">{{ b.id }}</td><td class="num">{{ b.value }}</td><td>{{ b.valid_from }}</td>
<td>{{ b.valid_to }}</td><td>{{ b.ended }}</td><td>{{ b.set_by }}</td><td>{{ b.reason }}</td></tr>{% endfor %}</table>
{% else %}<p class="muted">No baseline.</p>{% endif %}
<h2>SPC phases</h2>
{% if phases %}<table><tr><th>phase</th><th>points</th><th>limit window</th><th>centre</th><th>σ</th><th>LCL</th>
<th>UCL</th><th>MR̄</th><th>MR UCL</th></tr>
{% for p in phases %}<tr><td class="num">{{ p.k }}</td><td>{{ p.points }}</td><td class="num">{{ p.w }}</td>
<td class="num">{{ p.c }}</td><td class="num">{{ p.s }}</td><td class="num">{{ p.lcl }}</td><td class="num">{{ p.ucl }}</td>
<td class="num">{{ p.mr }}</td><td class="num">{{ p.mru }}</td></tr>{% endfor %}</table>
{% else %}<p class="muted">No SPC chart (fewer than two values).</p>{% endif %}
<h2>Service events</h2>
{% if events %}<table><tr><th>at</th><th>kind</th><th>description</th></tr>
{% for e in events %}<tr><td>{{ e.at }}</td><td>{{ e.kind }}</td><td>{{ e.description }}</td></tr>{% endfor %}</table>
{% else %}<p class="muted">None in this period.</p>{% endif %}
{% if levels %}<h2>Site levels</h2><p>{{ levels }}</p>{% endif %}
<p class="muted">phantomqc {{ version }}, drawn {{ drawn }}.</p>
</body></html>
"""


def _fmt_t(t: _dt.datetime | None) -> str:
    return "—" if t is None else t.strftime("%Y-%m-%d %H:%M")


def _lim_text(lo: float, hi: float) -> str:
    if math.isnan(lo) and math.isnan(hi):
        return "—"
    if math.isnan(lo):
        return f"≤ {format_value(hi)}"
    if math.isnan(hi):
        return f"≥ {format_value(lo)}"
    return f"{format_value(lo)} – {format_value(hi)}"


def _context(data, png: bytes) -> dict[str, Any]:
    from phantomqc import __version__

    firsts = data.first_rule_index()
    spc = data.spc
    phase_of = {int(i): int(spc.phase[k]) for k, i in enumerate(data.spc_index)} if spc is not None else {}
    fail = data.failing
    points = []
    for i, t in enumerate(data.times):
        cls = "fail" if fail[i] else ("tolerance" if data.site_statuses[i] == "tolerance" else "")
        points.append(dict(i=i, t=_fmt_t(t), run=data.run_ids[i], v=format_value(data.values[i]),
                           b=format_value(data.baseline_values[i]),
                           lim=_lim_text(float(data.limit_low[i]), float(data.limit_high[i])), crit=data.criteria[i],
                           s=data.statuses[i] or "—", site=data.site_statuses[i] or "—", rs=data.run_statuses[i],
                           phase=phase_of.get(i, "—"), we=", ".join(f"WE{r}" for r in data.we_rules[i]), cls=cls))
    rules = []
    for r, text in WE_RULES.items():
        k = firsts[r]
        cnt = int(spc.rules[:, r - 1].sum()) if spc is not None else 0
        rules.append(dict(n=r, text=text, first=k, when=None if k is None else _fmt_t(data.times[k]), count=cnt))
    phases = []
    if spc is not None:
        for k, p in enumerate(spc.phases):
            a, b = int(data.spc_index[p.start]), int(data.spc_index[p.stop - 1])
            phases.append(dict(k=k, points=f"{a} – {b}", w=p.n_window, c=format_value(p.centre),
                               s=format_value(p.sigma), lcl=format_value(p.lcl), ucl=format_value(p.ucl),
                               mr=format_value(p.mr_bar), mru=format_value(p.mr_ucl)))
    lv = data.site_levels
    levels = None
    if lv is not None:
        q = "% of baseline" if lv.mode == "percent" else (data.unit or "absolute")
        levels = (f"tolerance [{format_value(lv.tol_low)}, {format_value(lv.tol_high)}], action "
                  f"[{format_value(lv.act_low)}, {format_value(lv.act_high)}] ({q}; "
                  f"{'this device' if lv.device_specific else 'every device of the site'})")
    first_fail = int(np.flatnonzero(fail)[0]) if fail.any() else None
    return dict(title=_title(data), d=data, n=len(data.times), t0=_fmt_t(data.times[0]), t1=_fmt_t(data.times[-1]),
                window="all points" if data.n_limits is None else f"first {data.n_limits} points",
                rules=rules, first_fail=first_fail,
                first_fail_when=None if first_fail is None else _fmt_t(data.times[first_fail]),
                warnings=list(data.warnings), png=base64.b64encode(png).decode("ascii"), points=points,
                baselines=[dict(id=b.id, value=format_value(b.value), valid_from=_fmt_t(b.valid_from),
                                valid_to=_fmt_t(b.valid_to), ended=_fmt_t(b.ended_at), set_by=b.set_by or "—",
                                reason=b.reason or "—") for b in data.baselines],
                phases=phases, events=[dict(at=_fmt_t(e.at), kind=e.kind, description=e.description)
                                       for e in data.service_events],
                levels=levels, version=__version__,
                drawn=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def trend_html(data, *, dpi: float = 110, png: bytes | None = None) -> str:
    """The trend of ``data`` as one self-contained HTML page (chart embedded, no external resource).

    ``png`` is the chart when it was already drawn (``trend_png_bytes``); it is drawn when None."""
    from jinja2 import Environment

    env = Environment(autoescape=True)
    chart = trend_png_bytes(data, dpi=dpi) if png is None else png
    return env.from_string(_HTML).render(**_context(data, chart))


def render_trend(data, path: Path | str, *, dpi: float = 110) -> Path:
    """Write the trend chart of ``data`` to ``path``.

    Parameters
    ----------
    data : phantomqc.programme.trends.TrendData
        What to draw (``trend_data`` gives it).
    path : Path or str
        ``*.png`` for the chart, ``*.html`` for a self-contained page with the chart and the table of points.
        The folder is created when missing.
    dpi : float, optional
        Resolution of the chart.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        ``path`` ends in neither ``.png`` nor ``.html``, or ``data`` has no point.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".png", ".html", ".htm"):
        raise InputError(f"trend: the output must end in .png or .html, got {p.name!r}", path=p)
    if len(data.times) == 0:
        raise InputError("trend: nothing to draw (no point)", path=p)
    p.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        p.write_bytes(trend_png_bytes(data, dpi=dpi))
    else:
        p.write_text(trend_html(data, dpi=dpi), encoding="utf-8")
    return p
