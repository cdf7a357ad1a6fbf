"""Write the report folder: figures, ``report.html`` and ``analysis.json``. Never recomputes a number."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

__all__ = ["write_report"]


def write_report(document: dict, results: list, out_dir: Path) -> tuple[dict, Path]:
    """Render every analysis's figures into ``out_dir/figures``, record their paths in the document (relative
    to ``out_dir``), and write ``out_dir/report.html`` and ``out_dir/analysis.json``.

    Returns the document with the ``figures`` lists filled, and the path of the HTML file.
    """
    from phantomqc.report.figures import render_all
    from phantomqc.report.html import write_html

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figs = render_all(results, out_dir)
    doc = copy.deepcopy(document)
    new_results = []
    for i, r in enumerate(results):
        rel = [str(Path(p).relative_to(out_dir)) if Path(p).is_absolute() else str(p) for p in figs.get(i, [])]
        doc["analyses"][i]["figures"] = rel
        new_results.append(replace(r, figures=tuple(rel)))
    html = write_html(doc, new_results, out_dir)
    (out_dir / "analysis.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return doc, html
