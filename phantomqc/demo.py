"""``phantomqc demo``: generate the reference phantoms, analyse them and write the report.

The demo is the project's main job on a fresh machine: it shows every analyzer that has landed on a
digital phantom whose true values are known, judged against a standards profile.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

__all__ = ["run_demo"]


def run_demo(out: Path, *, detector: str = "3000", profile: str = "taiyuan-2024", test_type: str = "acceptance",
             workers: int = 1, progress: bool = True) -> int:
    """Write reference phantoms to ``out/phantoms``, analyse them, and write ``out/report.html`` and
    ``out/analysis.json``. Returns 0 when the report was written (failed verdicts are part of the demo),
    2 when an input could not be analysed."""
    from phantomqc.pipeline import analyze
    from phantomqc.report.write import write_report
    from reference_phantoms.ct import make_ct_suite
    from reference_phantoms.dr import make_dr_suite

    out = Path(out)
    t0 = time.perf_counter()
    suite = out / "phantoms" / f"dr_{detector}"
    print(f"phantomqc demo: writing the DR reference phantoms ({detector} detector) to {suite}", file=sys.stderr)
    make_dr_suite(suite, detector=detector, seed=0)
    ct_suite = out / "phantoms" / "ct"
    print(f"phantomqc demo: writing the CT reference phantoms (CatPhan 504 and 604, ACR 464, water) to {ct_suite}",
          file=sys.stderr)
    make_ct_suite(ct_suite, seed=0)
    t1 = time.perf_counter()
    print(f"  phantoms written in {t1 - t0:.1f} s; analysing", file=sys.stderr)
    doc, results = analyze([suite / "manifest.toml", ct_suite / "manifest.toml"], profile=profile,
                           test_type=test_type, workers=workers, progress=progress and sys.stderr.isatty(),
                           command="phantomqc demo")
    t2 = time.perf_counter()
    doc, html = write_report(doc, results, out)
    t3 = time.perf_counter()
    n_true = 0
    for truth_file in [suite / "truth.json", *sorted(ct_suite.glob("*/truth.json")), ct_suite / "truth.json"]:
        if truth_file.is_file():
            n_true += len(json.loads(truth_file.read_text(encoding="utf-8")).get("expected", []))
    s = doc["summary"]
    v = s["verdicts"]
    print(f"  analysed in {t2 - t1:.1f} s, report in {t3 - t2:.1f} s (total {t3 - t0:.1f} s)", file=sys.stderr)
    print(f"  {s['analyses']} analyses: {v['pass']} pass, {v['fail']} fail, {v['not_evaluated']} not evaluated, "
          f"{v.get('no_limit', 0)} without a limit, {s['input_errors']} input error(s); overall {s['overall']}; "
          f"the truth files hold {n_true} known values", file=sys.stderr)
    print(f"report: {html}\njson:   {out / 'analysis.json'}")
    return 2 if s["input_errors"] else 0
