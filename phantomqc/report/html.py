"""The HTML report: one self-contained ``report.html`` for sign-off by a medical physicist.

``write_html(document, results, out_dir)`` reads the JSON-contract document (``phantomqc.analysis/1``)
for every number and word it shows, and the ``AnalysisResult`` objects only for their figure specs,
which it draws with ``phantomqc.report.figures``. The page embeds the figures as base64 PNG data URIs
and its CSS inline: no external resource, no JavaScript. The PNG files stay on disk beside it, in
``out_dir/figures/``.

The report never recomputes a measured number. It counts verdicts by status for the summary and
formats values for display (4 significant figures, see ``format_value``); the JSON keeps full precision.
"""

from __future__ import annotations

import base64
import json
import math
import shlex
from pathlib import Path
from typing import Any, Sequence

__all__ = ["TEST_TYPE_NAMES", "write_html", "build_context", "format_value", "overall_status"]

#: English and Chinese names of the test types.
TEST_TYPE_NAMES: dict[str, tuple[str, str]] = {
    "acceptance": ("Acceptance test", "验收检测"),
    "status": ("Status test", "状态检测"),
    "stability": ("Stability (constancy) test", "稳定性检测"),
}

_STATUS_LABELS = {"pass": "PASS", "fail": "FAIL", "not_evaluated": "NOT EVALUATED"}


# --------------------------------------------------------------------------------------------------
# public API


def write_html(document: dict, results: Sequence[Any], out_dir: Path | str, *,
               title: str = "phantomqc report", dpi: float = 110) -> Path:
    """Write ``out_dir/report.html`` and the figure PNGs in ``out_dir/figures/``.

    Parameters
    ----------
    document : dict
        The JSON-contract document: ``schema``, ``phantomqc_version``, ``profile``, ``generated_at``,
        ``analyses`` (``AnalysisResult.to_dict()`` each), ``summary`` and optionally ``command`` and
        ``device``. Every key may be missing; the report then says "not recorded".
    results : sequence of AnalysisResult
        The same analyses, in the same order as ``document["analyses"]``; only their ``visuals`` are
        used. When ``document`` has no ``analyses``, they are taken from ``results[i].to_dict()``.
    out_dir : Path or str
        The report folder; created when missing.
    title : str, optional
        The page title and heading.
    dpi : float, optional
        Figure resolution.

    Returns
    -------
    Path
        The path of ``report.html``.

    Notes
    -----
    A figure spec that cannot be drawn is named in its analysis section with the error; the rest of
    the report is still written.
    """
    from phantomqc.report.figures import render_figures

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = list(results or ())
    figure_set = render_figures(results, out_dir, dpi=dpi)
    context = build_context(document, results, figure_set, title=title)
    html = _environment().get_template("report.html.j2").render(**context)
    path = out_dir / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


def format_value(value: Any, *, sig: int = 4) -> str:
    """A number for display, with ``sig`` significant figures and no exponent between 1e-3 and 1e9.

    Values of 10**sig and more are shown with no decimals (all integer digits kept: a pixel value of
    12345.6 reads 12346, not 1.235e+04). ``None``, NaN and non-numbers read "—".

    Examples
    --------
    >>> format_value(0.123456), format_value(1234.56), format_value(12345.6), format_value(2.0e-5)
    ('0.1235', '1235', '12346', '2.000e-05')
    """
    if isinstance(value, bool) or value is None:
        return "—"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    if math.isnan(v):
        return "—"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if v == 0:
        return "0"
    a = abs(v)
    if 1e-3 <= a < 1e9:
        decimals = max(0, sig - 1 - math.floor(math.log10(a)))
        s = f"{v:.{decimals}f}"
        # rounding may carry into a new digit (9.9996 -> "10.000"); redo with the carried magnitude
        if decimals and abs(float(s)) >= 10 ** (math.floor(math.log10(a)) + 1):
            s = f"{v:.{max(0, decimals - 1)}f}"
        return "0" if float(s) == 0 else s
    return f"{v:.{sig - 1}e}"


def overall_status(n_fail: int, n_error: int, n_verdicts: int, n_open: int = 0) -> str:
    """``"FAIL"`` when any verdict failed; otherwise ``"INCOMPLETE"`` when an input could not be
    analysed, nothing was judged, or ``n_open`` criteria of the profile could not be applied (no baseline,
    no specification); otherwise ``"PASS"``. Values for which the profile has no limit are informational and
    do not make a report incomplete; the banner counts them."""
    if n_fail:
        return "FAIL"
    if n_error or not n_verdicts or n_open:
        return "INCOMPLETE"
    return "PASS"


def build_context(document: dict, results: Sequence[Any], figure_set: Any = None, *,
                  title: str = "phantomqc report") -> dict:
    """The template context, built defensively from ``document`` (any key may be missing).

    ``figure_set`` is a ``phantomqc.report.figures.FigureSet`` (or None for no figures)."""
    doc = document if isinstance(document, dict) else {}
    results = list(results or ())
    notes: list[str] = []
    analyses_raw = doc.get("analyses")
    if not isinstance(analyses_raw, list):
        analyses_raw = [r.to_dict() for r in results if hasattr(r, "to_dict")]
    elif results and len(results) != len(analyses_raw):
        notes.append(f"The document lists {len(analyses_raw)} analyses but {len(results)} results were "
                     f"given for the figures; figures are matched by position.")

    profile = _dict(doc.get("profile"))
    test_type = _str(profile.get("test_type")) or _str(doc.get("test_type"))
    analyses = [_analysis_context(i, _dict(a), figure_set) for i, a in enumerate(analyses_raw)]

    counts = {"pass": 0, "fail": 0, "not_evaluated": 0}
    n_open = 0
    for a in analyses:
        for v in a["verdicts"]:
            if v["status"] in counts:
                counts[v["status"]] += 1
            if v["status"] == "not_evaluated" and v.get("has_criterion", True):
                n_open += 1
    n_verdicts = counts["pass"] + counts["fail"]
    n_error = sum(1 for a in analyses if a["error"])
    n_unconfirmed = sum(1 for a in analyses for v in a["verdicts"] if v["unconfirmed"])
    status = overall_status(counts["fail"], n_error, n_verdicts, n_open)
    detail = []
    if counts["fail"]:
        detail.append(f"{counts['fail']} verdict{'s' if counts['fail'] != 1 else ''} failed")
    if n_error:
        detail.append(f"{n_error} input{'s' if n_error != 1 else ''} could not be analysed")
    if not n_verdicts:
        detail.append("no measurement was judged")
    if n_open:
        detail.append(f"{n_open} criteri{'a' if n_open != 1 else 'on'} could not be applied (see the reasons)")
    if counts["not_evaluated"] - n_open:
        detail.append(f"{counts['not_evaluated'] - n_open} informational value(s) without a limit")
    if n_unconfirmed:
        detail.append(f"{n_unconfirmed} judged against an unconfirmed limit")
    if status == "PASS" and not detail:
        detail.append("every measurement met its criterion")

    command = doc.get("command")
    if isinstance(command, (list, tuple)):
        command = shlex.join(str(c) for c in command)

    return {
        "title": title,
        "schema": _str(doc.get("schema")),
        "version": _str(doc.get("phantomqc_version")),
        "generated_at": _str(doc.get("generated_at")),
        "profile": {
            "id": _str(profile.get("id")),
            "version": _str(profile.get("version")),
            "title": _str(profile.get("title")),
            "source": _source_text(profile.get("source")),
        },
        "test_type": _test_type_context(test_type),
        "devices": _devices(doc, analyses),
        "counts": {**counts, "not_evaluated": n_open, "no_limit": counts["not_evaluated"] - n_open},
        "n_error": n_error,
        "n_analyses": len(analyses),
        "n_unconfirmed": n_unconfirmed,
        "overall": status,
        "overall_detail": "; ".join(detail),
        "analyses": analyses,
        "command": _str(command),
        "notes": notes,
    }


# --------------------------------------------------------------------------------------------------
# context helpers


def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).with_name("templates"))),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = format_value
    return env


def _dict(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def _list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) else []


def _str(x: Any) -> str:
    if x is None:
        return ""
    return x if isinstance(x, str) else str(x)


def _source_text(src: Any) -> str:
    """A profile or verdict source: a string, or a dict such as {standard, edition, clause}."""
    if isinstance(src, dict):
        parts = [_str(src.get(k)) for k in ("standard", "title", "edition", "clause") if src.get(k)]
        rest = [f"{k}: {v}" for k, v in src.items() if k not in ("standard", "title", "edition", "clause")
                and v not in (None, "")]
        return ", ".join(parts + rest)
    if isinstance(src, (list, tuple)):
        return "; ".join(_source_text(s) for s in src)
    return _str(src)


def _test_type_context(test_type: str) -> dict:
    en, zh = TEST_TYPE_NAMES.get(test_type, (test_type, ""))
    return {"id": test_type, "en": en, "zh": zh}


def _with_unit(text: str, unit: Any) -> str:
    unit = _str(unit)
    if text == "—" or unit in ("", "1"):
        return text
    return f"{text}\u00a0{unit}" if unit != "%" else f"{text}\u00a0%"


def _param_text(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (dict, list, tuple)):
        try:
            return json.dumps(v, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            return str(v)
    return "—" if v is None else str(v)


def _measurement_value(measurements: list[dict], mid: str, label: Any) -> tuple[Any, Any]:
    for m in measurements:
        if m.get("id") == mid and m.get("label") == label:
            return m.get("value"), m.get("unit")
    return None, None


def _analysis_context(index: int, a: dict, figure_set: Any) -> dict:
    inp = _dict(a.get("input"))
    kind = _str(a.get("kind")) or _str(a.get("analyzer")) or f"analysis {index + 1}"
    paths = [_str(p) for p in _list(inp.get("paths"))]
    uids = [_str(u) for u in _list(inp.get("sop_instance_uids"))]
    if len(uids) == len(paths):
        files = [{"path": p, "uid": u} for p, u in zip(paths, uids)]
        extra_uids: list[str] = []
    else:  # several frames per file, or uids not recorded: list them apart
        files = [{"path": p, "uid": ""} for p in paths]
        extra_uids = uids

    measurements = []
    raw_measurements = [_dict(m) for m in _list(a.get("measurements"))]
    for m in raw_measurements:
        measurements.append({
            "id": _str(m.get("id")),
            "label": _str(m.get("label")),
            "value": format_value(m.get("value")),
            "unit": _str(m.get("unit")),
            "uncertainty": "" if m.get("uncertainty") is None else format_value(m.get("uncertainty"), sig=2),
            "note": _str(m.get("note")),
        })

    verdicts = []
    for v in (_dict(v) for v in _list(a.get("verdicts"))):
        mid, label = _str(v.get("measurement")), v.get("label")
        value, unit = v.get("value"), v.get("unit")
        if value is None:  # the verdict may not repeat the value: take the measurement's, unrounded
            mvalue, munit = _measurement_value(raw_measurements, mid, label)
            value, unit = mvalue, (unit or munit)
        status = _str(v.get("status")) or "not_evaluated"
        reference = v.get("reference")
        verdicts.append({
            "kind": kind,
            "measurement": mid,
            "label": _str(label),
            "value": _with_unit(format_value(value), unit),
            "criterion": _str(v.get("criterion")),
            "reference": "" if reference is None else _with_unit(format_value(reference), unit),
            "status": status,
            "status_label": ("NO LIMIT" if status == "not_evaluated" and v.get("has_criterion", True) is False
                             else _STATUS_LABELS.get(status, status.upper())),
            "reason": _str(v.get("reason")),
            "source": _source_text(v.get("source")),
            "test_type": _str(v.get("test_type")),
            "unconfirmed": v.get("confirmed") is False,
            "has_criterion": v.get("has_criterion", True) is not False,
        })

    error = a.get("error")
    if error is not None:
        e = _dict(error)
        error = {"type": _str(e.get("type")) or "Error",
                 "message": _str(e.get("message")) if e else _str(error),
                 "path": _str(e.get("path"))}

    figures, failures = [], []
    if figure_set is not None:
        for k, p in enumerate(figure_set.paths.get(index, [])):
            p = Path(p)
            try:
                data = base64.b64encode(p.read_bytes()).decode("ascii")
            except OSError as exc:
                failures.append({"number": f"{index + 1}.{k + 1}", "title": p.name,
                                 "error": f"could not be read back: {exc}"})
                continue
            number = _figure_number(p, k)
            figures.append({"number": f"{index + 1}.{number}", "file": f"figures/{p.name}",
                            "data_uri": f"data:image/png;base64,{data}",
                            "title": _figure_title(figure_set, index, number)})
        failures += [{"number": f"{index + 1}.{f.figure_number}", "title": f.title,
                      "error": f"{f.error_type}: {f.message}"} for f in figure_set.failures_for(index)]

    parameters = [{"name": _str(k), "value": _param_text(v)} for k, v in _dict(a.get("parameters")).items()]
    return {
        "number": index + 1,
        "anchor": f"analysis-{index + 1}",
        "kind": kind,
        "analyzer": _str(a.get("analyzer")),
        "phantom": _str(a.get("phantom")),
        "identified_by": _str(a.get("identified_by")),
        "modality": _str(inp.get("modality")),
        "series_uid": _str(inp.get("series_instance_uid")),
        "acquisition_datetime": _str(inp.get("acquisition_datetime")),
        "spacing_source": _str(inp.get("spacing_source")),
        "presentation_intent": _str(inp.get("presentation_intent")),
        "manufacturer": _str(inp.get("manufacturer")),
        "station_name": _str(inp.get("station_name")),
        "device_serial_number": _str(inp.get("device_serial_number")),
        "files": files,
        "extra_uids": extra_uids,
        "parameters": parameters,
        "warnings": [_str(w) for w in _list(a.get("warnings"))],
        "error": error,
        "measurements": measurements,
        "verdicts": verdicts,
        "judged": [v for v in verdicts if v["has_criterion"]],
        "n_no_limit": sum(1 for v in verdicts if not v["has_criterion"]),
        "figures": figures,
        "figure_failures": failures,
    }


def _figure_number(path: Path, fallback_index: int) -> int:
    """The 1-based figure number k from a ``<nn>_<kind>_<k>.png`` name."""
    try:
        return int(path.stem.rsplit("_", 1)[1])
    except (IndexError, ValueError):
        return fallback_index + 1


def _figure_title(figure_set: Any, index: int, number: int) -> str:
    titles = getattr(figure_set, "titles", None)
    if isinstance(titles, dict):
        return _str(titles.get((index, number)))
    return ""


def _devices(doc: dict, analyses: list[dict]) -> list[dict]:
    """Distinct (manufacturer, station, serial) of the inputs; a manifest ``device`` block first."""
    out: list[dict] = []
    dev = _dict(doc.get("device"))
    if dev:
        out.append({"name": _str(dev.get("name")), "manufacturer": _str(dev.get("manufacturer")),
                    "station": _str(dev.get("station_name") or dev.get("station")),
                    "serial": _str(dev.get("serial") or dev.get("device_serial_number")),
                    "modality": _str(dev.get("modality")), "from_manifest": True})
    seen = set()
    for a in analyses:
        key = (a["manufacturer"], a["station_name"], a["device_serial_number"], a["modality"])
        if key in seen or not any(key[:3]):
            continue
        seen.add(key)
        out.append({"name": "", "manufacturer": key[0], "station": key[1], "serial": key[2],
                    "modality": key[3], "from_manifest": False})
    return out
