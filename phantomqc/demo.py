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
    mr_suite = out / "phantoms" / "mr"
    print(f"phantomqc demo: writing the MR reference phantoms (ACR large phantom with its repeat and sagittal "
          f"localiser, MagNET SNR pair, flood, slice-width object and ghosting bottle) to {mr_suite}", file=sys.stderr)
    mr_manifests = _make_mr_suite(mr_suite)
    from reference_phantoms.nm_suite import make_nm_suite

    nm_suite = out / "phantoms" / "nm_pet"
    print(f"phantomqc demo: writing the gamma-camera, SPECT and PET reference phantoms (flood, four-bar, quadrant-bar, "
          f"slit-mask linearity, line source, sensitivity and count-rate sources, centre-of-rotation projections, "
          f"Jaszczak, NEMA/IEC body phantom, uniform cylinder) to {nm_suite}", file=sys.stderr)
    nm_manifest = make_nm_suite(nm_suite, seed=0)
    t1 = time.perf_counter()
    print(f"  phantoms written in {t1 - t0:.1f} s; analysing", file=sys.stderr)
    doc, results = analyze([suite / "manifest.toml", ct_suite / "manifest.toml", *mr_manifests, nm_manifest],
                           profile=profile,
                           test_type=test_type, workers=workers, progress=progress and sys.stderr.isatty(),
                           command="phantomqc demo")
    t2 = time.perf_counter()
    doc, html = write_report(doc, results, out)
    t3 = time.perf_counter()
    n_true = 0
    for truth_file in [suite / "truth.json", *sorted(ct_suite.glob("*/truth.json")), ct_suite / "truth.json",
                       *sorted(mr_suite.glob("*/truth.json")), nm_suite / "truth.json"]:
        if truth_file.is_file():
            n_true += len(json.loads(truth_file.read_text(encoding="utf-8")).get("expected", []))
    s = doc["summary"]
    v = s["verdicts"]
    print(f"  analysed in {t2 - t1:.1f} s, report in {t3 - t2:.1f} s (total {t3 - t0:.1f} s)", file=sys.stderr)
    print(f"  {s['analyses']} analyses: {v['pass']} pass, {v['fail']} fail, {v['not_evaluated']} not evaluated, "
          f"{v.get('no_limit', 0)} without a limit, {s['input_errors']} input error(s); overall {s['overall']}; "
          f"the truth files hold {n_true} known values", file=sys.stderr)
    rubric_html = run_rubric_demo(out)
    programme = run_programme_demo(out, progress=progress)
    print(f"report: {html}\njson:   {out / 'analysis.json'}\nrubric: {rubric_html}\nprogramme: {programme}")
    return 2 if s["input_errors"] else 0


def run_programme_demo(out: Path, *, progress: bool = True) -> Path:
    """The QC programme's part of the demo: 120 days of daily and weekly checks on a CT, a DR and an MR scanner
    (``reference_phantoms.programme_scenario``), written as DICOM to ``out/programme_data``, analysed, and recorded
    day by day in a results store of its own, ``out/programme/store.sqlite``; then the trend charts, the due list on
    the morning after the missed CT check, the CT scanner's acceptance PDF and the site's period report.
    Returns the ``out/programme`` folder."""
    import datetime as _dt

    from phantomqc.programme import schedules
    from phantomqc.programme.period import acceptance_data, period_data
    from phantomqc.programme.store import Store
    from phantomqc.programme.trends import trend_data
    from phantomqc.report.acceptance import render_acceptance_pdf
    from phantomqc.report.period import render_period
    from phantomqc.report.trend import render_trend
    from reference_phantoms.programme_scenario import (DEVICES, SITE, ScenarioConfig, analyse_scenario, make_scenario,
                                                       replay_scenario)

    cfg = ScenarioConfig()
    data, folder = Path(out) / "programme_data", Path(out) / "programme"
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    print(f"phantomqc demo: writing {cfg.days} days of QC checks on a CT, a DR and an MR scanner to {data}",
          file=sys.stderr)
    doc, analysed = analyse_scenario(make_scenario(data, cfg), progress=progress and sys.stderr.isatty())
    db = folder / "store.sqlite"
    for stale in folder.glob("store.sqlite*"):  # this demo's own store from an earlier run, never a user's file
        stale.unlink()
    store = Store(f"sqlite:///{db}", actor="engineer li")
    replay_scenario(store, doc, analysed)
    missed = cfg.start + _dt.timedelta(days=cfg.ct_missed_day)
    with store.session() as s:
        for dev, metric in (("ct", "ct.water.mean_hu"), ("dr", "dr.artifacts.count"), ("mr", "mr.snr.wst263")):
            render_trend(trend_data(s, DEVICES[dev][3], metric), folder / f"trend_{metric.replace('.', '_')}.png")
        render_trend(trend_data(s, DEVICES["ct"][3], "ct.water.mean_hu"), folder / "trend_ct_water.html")
        due = schedules.due_report(s, _dt.datetime.combine(missed, _dt.time(12, 0)), SITE)
        (folder / "due.json").write_text(json.dumps([r.to_dict() for r in due], indent=1), encoding="utf-8")
        render_acceptance_pdf(acceptance_data(s, DEVICES["ct"][3]), folder / "acceptance_ct.pdf")
        end = cfg.start + _dt.timedelta(days=cfg.days - 1)
        render_period(period_data(s, SITE, cfg.start, end), folder / "period.html")
    pending = len(store.review_queue(SITE))
    store.close()
    print(f"  programme: {len(analysed)} checks recorded in {time.perf_counter() - t0:.1f} s; {pending} waiting "
          f"for review; trends, due list, acceptance PDF and period report in {folder}", file=sys.stderr)
    return folder


def _make_mr_suite(out: Path) -> list[Path]:
    """The MR twins of the demo, one folder each; returns their manifests."""
    from reference_phantoms.mr import (make_acr_localizer, make_acr_series, make_magnet_flood, make_magnet_ghosting,
                                       make_magnet_slice_width, make_magnet_snr_pair)

    return [make_acr_series(out / "acr", seed=0, repeat=True), make_acr_localizer(out / "acr_localizer", seed=0),
            make_magnet_snr_pair(out / "magnet_snr", seed=0), make_magnet_flood(out / "magnet_flood", seed=0),
            make_magnet_slice_width(out / "magnet_slice_width", seed=0),
            make_magnet_ghosting(out / "magnet_ghosting", seed=0)]


def run_rubric_demo(out: Path, *, month: str = "2026-10", seed: int = 0) -> Path:
    """The rubric layer's part of the demo: a month of generated QC records, exams, NM cases, gold-standard
    readings and radiology reports (``out/rubric_data``), turned into the clinical QC report ``out/rubric``."""
    import csv

    from phantomqc.report.rubric_html import write_rubric_report
    from phantomqc.rubric.checks import check_reports
    from phantomqc.rubric.gold import gold_standard
    from phantomqc.rubric.nm import nm_indicators, read_cases
    from phantomqc.rubric.sampling import load_sampling_rules, read_exams, sample_exams
    from phantomqc.rubric.scoring import read_records
    from phantomqc.rubric.stats import rubric_stats
    from reference_phantoms.rubric import make_gold_readings, make_nm_month, make_rubric_month, make_sample_reports

    data = Path(out) / "rubric_data"
    print(f"phantomqc demo: writing a month ({month}) of clinical QC records, NM cases and reports to {data}",
          file=sys.stderr)
    records = make_rubric_month(data, month=month, seed=seed)
    nm_cases = make_nm_month(data, month=month, seed=seed)
    gold_file = make_gold_readings(data, month=month)
    reports = make_sample_reports(data / "reports")
    exams, exam_errors = read_exams(data / "exams.csv")
    stats = rubric_stats(read_records(records), month=month, exams=exams)
    sample = sample_exams(exams, load_sampling_rules(data / "sampling_rules.toml"), seed=seed, month=month)
    cases, case_errors = read_cases(nm_cases)
    nm = nm_indicators(cases, month=month, errors=case_errors)
    with gold_file.open(encoding="utf-8") as fh:
        gold = gold_standard(list(csv.DictReader(fh)))
    checks = check_reports(reports)
    html = write_rubric_report(Path(out) / "rubric", stats=stats, checks=checks, nm=nm, sample=sample, gold=gold,
                               sources=[str(p.relative_to(out)) for p in (records, data / "exams.csv", nm_cases,
                                                                         gold_file, data / "reports")])
    m = stats["monthly"][0]
    n_fail = sum(1 for r in checks["results"] if not r.get("error") and not r["result"]["passed"])
    print(f"  rubric: {m['sampled_count']} QC'd exams, 合格率 {m['pass_rate_percent']:.1f} %, "
          f"{len(stats['rejected'])} rejected row(s) (deliberate); {len(checks['results'])} reports checked, "
          f"{n_fail} with findings; sample of {sample['n_sampled']}/{sample['n_exams']} exams", file=sys.stderr)
    return html
