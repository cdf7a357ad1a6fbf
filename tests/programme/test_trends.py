"""Trend data from the results store (phantomqc.programme.trends) and its rendering (phantomqc.report.trend).

The rows are made directly with the models (not through ``Store``), so these tests pin what ``trend_data`` reads
from each column. ``build_drift_scenario`` is also what drew ``docs/trend_ct_water.png (the README's picture comes from the demo's scenario; this writes a synthetic one)``:

    .venv/bin/python -c "import tests.programme.test_trends as t; t.write_example('docs/trend_ct_water.png (the README's picture comes from the demo's scenario; this writes a synthetic one)')"
"""

from __future__ import annotations

import base64
import datetime as _dt
import io
import math
import struct
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session

from phantomqc._shared.errors import InputError
from phantomqc.programme.db import open_engine
from phantomqc.programme.models import (
    AnalysisRun,
    Baseline,
    Device,
    MeasurementRow,
    ServiceEvent,
    Site,
    Tolerance,
    VerdictRow,
    utcnow,
)
from phantomqc.programme.spc import individuals_chart
from phantomqc.programme.trends import band_from_criterion, band_from_limits, trend_data

METRIC = "ct.water.mean_hu"
DAY0 = _dt.datetime(2026, 3, 2, 8, 30)
DRIFT_START, DRIFT_PER_DAY, NOISE_SD, SERVICE_DAY, N_DAYS = 30, 0.1, 0.3, 80, 120
BASE1 = 0.4          # acceptance baseline (HU)
LIMIT_HU = 4.0       # WS 519-2019 stability: water within baseline ± 4 HU
RULE = {"compare": "abs<=", "limit": LIMIT_HU, "low": None, "high": None, "reference": "baseline",
        "deviation": "difference"}
CRITERION = "|x − baseline| ≤ 4 HU"


def _run(s: Session, dev: Device, day: float, value: float | None, *, base: Baseline | None, status: str = "",
         site_tol: Tolerance | None = None, i: int = 0) -> AnalysisRun:
    t = DAY0 + _dt.timedelta(days=day)
    ok = value is not None and base is not None and abs(value - base.value) <= LIMIT_HU
    vstatus = "not_evaluated" if value is None or base is None else ("pass" if ok else "fail")
    run = AnalysisRun(device_id=dev.id, site_id=dev.site_id, kind="ct.water", test_type="stability",
                      config_hash="c" * 64, phantomqc_version="0.1.0", input_key=f"{dev.id:04d}{i:060d}",
                      input={}, status=status or ("pass" if ok else "fail" if vstatus == "fail" else "incomplete"),
                      acquired_at=t)
    s.add(run)
    s.flush()
    s.add(MeasurementRow(run_id=run.id, metric=METRIC, label="", value=value, unit="HU"))
    s.add(VerdictRow(run_id=run.id, metric=METRIC, label="", status=vstatus, origin="profile", criterion=CRITERION,
                     value=value, unit="HU", reference=None if base is None else base.value,
                     baseline_id=None if base is None else base.id, limits={"rules": [RULE], "unit": "HU"},
                     reason="" if vstatus != "not_evaluated" else "needs a baseline"))
    if site_tol is not None and value is not None:
        state = "action" if abs(value) > site_tol.act_high else "tolerance" if abs(value) > site_tol.tol_high else "ok"
        s.add(VerdictRow(run_id=run.id, metric=METRIC, label="", status=state, origin="site",
                         criterion="site levels", value=value, reference=None,
                         limits={"tolerance_id": site_tol.id, "mode": site_tol.mode, "act_low": site_tol.act_low,
                                 "tol_low": site_tol.tol_low, "tol_high": site_tol.tol_high,
                                 "act_high": site_tol.act_high}))
    return run


def drift_values(seed: int, n_days: int = N_DAYS) -> np.ndarray:
    """Daily water HU: baseline 0.4, +0.1 HU/day from day 30, back to 0.1 after the service (day 80); noise 0.3 HU
    (rounded to 0.001 HU as a scanner report would be)."""
    d = np.arange(n_days)
    mean = np.where(d < SERVICE_DAY, BASE1 + DRIFT_PER_DAY * np.maximum(0, d - DRIFT_START), BASE1 - 0.3)
    return np.round(mean + NOISE_SD * np.random.default_rng(seed).standard_normal(n_days), 3)


def build_drift_scenario(s: Session, *, seed: int = 0, n_days: int = N_DAYS, with_site_levels: bool = True) -> dict:
    """120 daily CT water checks: noise 0.3 HU, a drift of +0.1 HU/day from day 30, a service event (tube
    recalibration) on day 79 that removes the drift, and a re-baseline from the day-80 result.

    Returns the ids and the true values for the assertions."""
    site = Site(name="General Hospital")
    s.add(site)
    s.flush()
    other = Device(key="other", site_id=site.id, name="CT room 2", modality="CT")
    dev = Device(key="CT|SN123", site_id=site.id, name="CT room 1", modality="CT", serial="SN123")
    s.add_all([other, dev])
    s.flush()
    tol = None
    if with_site_levels:
        tol = Tolerance(site_id=site.id, metric=METRIC, mode="absolute", act_low=-5.0, tol_low=-3.0, tol_high=3.0,
                        act_high=5.0)
        s.add(tol)
        s.flush()
    b1 = Baseline(device_id=dev.id, metric=METRIC, label="", value=BASE1, unit="HU", valid_from=DAY0,
                  reason="first accepted acceptance result", set_by="auto")
    s.add(b1)
    s.flush()
    values = drift_values(seed, n_days)
    runs = []
    b2 = None
    # the service event, the evening before the re-baseline
    s.add(ServiceEvent(device_id=dev.id, at=DAY0 + _dt.timedelta(days=SERVICE_DAY - 1, hours=9), kind="service",
                       description="X-ray tube recalibration, water scan re-calibrated"))
    # an event outside the series is not shown
    s.add(ServiceEvent(device_id=dev.id, at=DAY0 - _dt.timedelta(days=30), kind="install", description="installation"))
    for d in range(n_days):
        if d == SERVICE_DAY:
            run = _run(s, dev, d, float(values[d]), base=b1, site_tol=tol, i=d)  # judged against b1 ...
            b2 = Baseline(device_id=dev.id, metric=METRIC, label="", value=float(values[d]), unit="HU",
                          run_id=run.id, valid_from=run.acquired_at, set_by="physicist",
                          reason="re-baseline after X-ray tube recalibration")
            s.add(b2)
            s.flush()
            b1.active, b1.ended_at, b1.superseded_by_id = False, utcnow(), b2.id
            # ... then its own verdict is the one on the new baseline (the run that set it)
            for v in run.verdicts:
                if v.origin == "profile":
                    v.baseline_id, v.reference, v.status = b2.id, b2.value, "pass"
            runs.append(run)
            continue
        base = b1 if b2 is None else b2
        runs.append(_run(s, dev, d, float(values[d]), base=base, site_tol=tol, i=d))
    # the other device's measurements must not leak into this trend
    _run(s, other, 5, 99.0, base=None, i=10_000)
    s.commit()
    return {"device_id": dev.id, "run_ids": [r.id for r in runs], "values": values, "b1": b1.id,
            "b2": None if b2 is None else b2.id, "b2_value": None if b2 is None else b2.value, "tolerance_id": None if tol is None else tol.id}


@pytest.fixture
def session(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    with Session(engine) as s:
        yield s
    engine.dispose()


@pytest.fixture(scope="module")
def scenario_data(tmp_path_factory):
    """The 120-day scenario, built once for the tests that only read it."""
    engine = open_engine(f"sqlite:///{tmp_path_factory.mktemp('trend') / 'store.sqlite'}")
    with Session(engine) as s:
        info = build_drift_scenario(s)
        data = trend_data(s, "CT room 1", METRIC)
    engine.dispose()
    return info, data


# --- trend_data ---------------------------------------------------------------------------------------------------


def test_trend_data_on_both_back_ends(db_url):
    """The same rows give the same trend on SQLite and on PostgreSQL: in time order, with the right baseline."""
    engine = open_engine(db_url)
    try:
        with Session(engine) as s:
            info = build_drift_scenario(s, n_days=84)
            d = trend_data(s, info["device_id"], METRIC)
            assert d.run_ids == info["run_ids"]
            np.testing.assert_array_equal(d.values, info["values"])
            assert d.baseline_ids == [info["b1"]] * 80 + [info["b2"]] * 4
            assert d.phase_starts == [SERVICE_DAY]
    finally:
        engine.dispose()


def test_points_in_time_order_with_their_run_ids(scenario_data):
    info, d = scenario_data
    assert len(d) == N_DAYS
    assert d.times == [DAY0 + _dt.timedelta(days=k) for k in range(N_DAYS)]
    assert d.run_ids == info["run_ids"]
    np.testing.assert_array_equal(d.values, info["values"])
    assert d.unit == "HU" and d.device_name == "CT room 1"


def test_baseline_per_point_steps_at_the_rebaseline(scenario_data):
    info, d = scenario_data
    assert d.baseline_ids == [info["b1"]] * SERVICE_DAY + [info["b2"]] * (N_DAYS - SERVICE_DAY)
    np.testing.assert_array_equal(d.baseline_values[:SERVICE_DAY], BASE1)
    np.testing.assert_array_equal(d.baseline_values[SERVICE_DAY:], info["b2_value"])
    assert [b.id for b in d.baselines] == [info["b1"], info["b2"]]
    first, second = d.baselines
    assert not first.active and first.ended_at is not None and first.valid_to == second.valid_from
    assert second.active and second.valid_to is None
    assert second.reason == "re-baseline after X-ray tube recalibration"
    assert d.phase_starts == [SERVICE_DAY]


def test_profile_limits_in_force_per_point(scenario_data):
    info, d = scenario_data
    # baseline ± 4 HU, with the baseline of each point (exact: one addition of binary floats)
    np.testing.assert_allclose(d.limit_low[:SERVICE_DAY], BASE1 - LIMIT_HU, rtol=0, atol=1e-12)
    np.testing.assert_allclose(d.limit_high[SERVICE_DAY:], info["b2_value"] + LIMIT_HU, rtol=0, atol=1e-12)
    assert d.criteria[0] == CRITERION
    # the statuses are read, not recomputed: the first failure is the first point beyond baseline + 4 HU
    over = np.flatnonzero(np.abs(info["values"][:SERVICE_DAY] - BASE1) > LIMIT_HU)
    assert d.statuses.index("fail") == over[0]
    assert d.failing[over[0]] and not d.failing[: over[0]].any()


def test_site_levels_from_the_site_verdicts(scenario_data):
    info, d = scenario_data
    assert d.site_levels is not None and d.site_levels.tolerance_id == info["tolerance_id"]
    assert not d.site_levels.device_specific
    np.testing.assert_array_equal(d.tol_high, 3.0)
    np.testing.assert_array_equal(d.act_low, -5.0)
    assert "tolerance" in d.site_statuses and "action" in d.site_statuses


def test_service_events_inside_the_period_only(scenario_data):
    _, d = scenario_data
    assert [e.kind for e in d.service_events] == ["service"]
    assert d.service_events[0].at == DAY0 + _dt.timedelta(days=SERVICE_DAY - 1, hours=9)


def test_spc_catches_the_drift_before_the_stability_limit(scenario_data):
    info, d = scenario_data
    first = d.first_rule_index()
    first_any = min(k for k in first.values() if k is not None)
    first_fail = int(np.flatnonzero(d.failing)[0])
    # the drift starts on day 30; the SPC limits come from days 0-19, so with this seed the first signal comes
    # after day 30 and before the ±4 HU limit is crossed (≈ day 66 for 0.1 HU/day from 0.4 HU, noise 0.3 HU).
    # (Not every seed is quiet before day 30: with σ̂ from 20 points the four rules together give a false signal
    # in days 20-29 for about half of the seeds; see the next test.)
    assert DRIFT_START < first_any < first_fail
    # the chart restarts at the re-baseline: its second phase has its own limits from days 80-99
    assert d.spc is not None and len(d.spc.phases) == 2
    assert d.spc.phases[1].start == SERVICE_DAY and d.spc.phases[1].n_window == 20
    assert d.spc.phases[1].centre == pytest.approx(float(np.mean(info["values"][80:100])), rel=1e-12)
    # and per point, the rules listed match the SPC flags
    assert d.we_rules[first_any] and all(d.we_rules[k] == () for k in range(DRIFT_START))


@pytest.mark.parametrize("seed", range(1, 9))
def test_first_signal_after_the_drift_starts_precedes_the_failure(seed):
    # the same series as the scenario, straight into the chart (the store adds nothing to this question)
    x = drift_values(seed)[:SERVICE_DAY]
    r = individuals_chart(x)
    flagged = [i for i in np.flatnonzero(r.flagged) if i >= DRIFT_START]
    first_fail = int(np.flatnonzero(np.abs(x - BASE1) > LIMIT_HU)[0])
    # the limit is crossed from about day 63 (0.4 + 0.1·(d − 30) > 4.4 at d = 70, earlier with noise); by then
    # the mean has been more than 2 noise SDs above the centre for 25 days, which rules 2-4 see within a few points
    assert flagged and flagged[0] < first_fail - 10


def test_period_filter_and_label(session):
    build_drift_scenario(session, n_days=25)
    d = trend_data(session, "CT room 1", METRIC, start=_dt.date(2026, 3, 12), end=_dt.date(2026, 3, 21))
    assert len(d) == 10  # days 10 to 19 inclusive of the whole end day
    assert d.times[0] == DAY0 + _dt.timedelta(days=10)
    with pytest.raises(InputError, match="no 'ct.water.mean_hu' label 'centre'"):
        trend_data(session, "CT room 1", METRIC, label="centre")


def test_device_by_id_name_or_serial_and_unknown(session):
    info = build_drift_scenario(session, n_days=25)
    for ref in (info["device_id"], str(info["device_id"]), "CT room 1", "SN123"):
        assert trend_data(session, ref, METRIC).device_id == info["device_id"]
    with pytest.raises(InputError, match="no device named 'CT room 9'.*CT room 1"):
        trend_data(session, "CT room 9", METRIC)
    with pytest.raises(InputError, match="its metrics: ct.water.mean_hu"):
        trend_data(session, "CT room 1", "ct.noise.percent")


def test_missing_value_stays_in_the_series_but_not_in_the_chart(session):
    info = build_drift_scenario(session, n_days=25)
    row = session.query(MeasurementRow).filter(MeasurementRow.run_id == info["run_ids"][5]).one()
    row.value = None
    session.commit()
    d = trend_data(session, "CT room 1", METRIC)
    assert len(d) == 25 and math.isnan(d.values[5])
    assert d.spc.values.size == 24 and 5 not in d.spc_index
    assert any("no value" in w for w in d.warnings)


# --- limits as bands ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule, ref, band", [
    ({"compare": "abs<=", "limit": 4, "reference": "baseline", "deviation": "difference"}, 0.5, (-3.5, 4.5)),
    ({"compare": "abs<=", "limit": 50, "reference": "baseline", "deviation": "percent"}, 2.0, (1.0, 3.0)),
    ({"compare": ">=", "limit": 0.9, "reference": "spec", "deviation": "ratio"}, 10.0, (9.0, math.nan)),
    ({"compare": "range", "low": -6, "high": 6, "reference": "none", "deviation": "none"}, None, (-6.0, 6.0)),
    ({"compare": "<", "limit": 0.35, "reference": "none", "deviation": "none"}, None, (math.nan, 0.35)),
])
def test_band_from_limits(rule, ref, band):
    got = band_from_limits({"rules": [rule]}, ref)
    np.testing.assert_allclose(got, band, rtol=0, atol=1e-12)


def test_band_of_alternatives_is_their_envelope_and_text_gives_the_same():
    rules = [{"compare": ">=", "limit": 0.9, "reference": "baseline", "deviation": "ratio"},
             {"compare": ">=", "limit": 5.0, "reference": "none", "deviation": "none"}]
    # passes when x ≥ 9 or x ≥ 5: the band is x ≥ 5
    np.testing.assert_allclose(band_from_limits({"rules": rules}, 10.0), (5.0, np.nan))
    np.testing.assert_allclose(band_from_criterion("x/baseline ≥ 0.9 or x ≥ 5", 10.0), (5.0, np.nan))
    np.testing.assert_allclose(band_from_criterion("|x − baseline| ≤ 4 HU", 0.5), (-3.5, 4.5))
    np.testing.assert_allclose(band_from_criterion("(x − baseline)/baseline ≤ 50 %", 2.0), (np.nan, 3.0))
    assert all(math.isnan(v) for v in band_from_criterion("visual check", 1.0))


# --- rendering ------------------------------------------------------------------------------------------------------


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", data[16:24])
    return w, h


def test_render_trend_png_and_html(scenario_data, tmp_path):
    from matplotlib.image import imread

    from phantomqc.report.trend import TREND_FIGSIZE_IN, render_trend

    _, d = scenario_data
    html = render_trend(d, tmp_path / "out" / "trend.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 1
    assert "<script" not in html and "http://" not in html and "https://" not in html  # self-contained
    png = base64.b64decode(html.split("data:image/png;base64,", 1)[1].split('"', 1)[0])
    assert _png_size(png) == (round(TREND_FIGSIZE_IN[0] * 110), round(TREND_FIGSIZE_IN[1] * 110))
    # a chart, not a blank canvas: > 5 % of the pixels are not near-white (the drawing covers about a third)
    img = imread(io.BytesIO(png), format="png")
    assert (img[..., :3].min(axis=2) < 0.9).mean() > 0.05
    # one row per point plus the header, and the baseline history and the service event
    table = html.split("<h2>Points</h2>", 1)[1].split("</table>", 1)[0]
    assert table.count("<tr") == N_DAYS + 1
    assert table.count('class="fail"') == int(d.failing.sum())
    assert "re-baseline after X-ray tube recalibration" in html
    assert "X-ray tube recalibration, water scan re-calibrated" in html
    first = d.first_rule_index()
    k, r = min((k, r) for r, k in first.items() if k is not None)
    assert f"WE{r}" in html and f"first at point {k} " in html
    with pytest.raises(InputError, match=r"\.png or \.html"):
        render_trend(d, tmp_path / "trend.pdf")


def test_html_escapes_text_from_the_store(session):
    from phantomqc.report.trend import trend_html

    info = build_drift_scenario(session, n_days=25)
    session.add(ServiceEvent(device_id=info["device_id"], at=DAY0 + _dt.timedelta(days=4), kind="service",
                             description="<script>x</script> 球管更换"))
    session.commit()
    html = trend_html(trend_data(session, info["device_id"], METRIC), png=b"not drawn here")
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt; 球管更换" in html


def write_example(path: str | Path = "docs/trend_ct_water.png (the README's picture comes from the demo's scenario; this writes a synthetic one)") -> Path:
    """Draw the 120-day scenario to ``path`` (the picture in the README)."""
    import tempfile

    from phantomqc.report.trend import render_trend

    with tempfile.TemporaryDirectory() as tmp:
        engine = open_engine(f"sqlite:///{tmp}/store.sqlite")
        with Session(engine) as s:
            build_drift_scenario(s)
            out = render_trend(trend_data(s, "CT room 1", METRIC), path)
        engine.dispose()
    return out


# --- command line ---------------------------------------------------------------------------------------------------


def _cli(argv: list[str]) -> int:
    import argparse

    from phantomqc.cli_programme_trend import register

    p = argparse.ArgumentParser(prog="phantomqc")
    register(p.add_subparsers(dest="verb"))
    args = p.parse_args(argv)
    return args.handler(args)


def test_cli_trend_writes_the_chart_and_reports_errors(tmp_path, capsys):
    db = tmp_path / "store.sqlite"
    engine = open_engine(f"sqlite:///{db}")
    with Session(engine) as s:
        build_drift_scenario(s, n_days=45, with_site_levels=False)
    engine.dispose()
    out = tmp_path / "w.png"
    assert _cli(["trend", "CT room 1", METRIC, "--from", "2026-03-05", "--to", "2026-04-10", "--out", str(out),
                 "--db", str(db)]) == 0
    assert _png_size(out.read_bytes()) == (1320, 1100)  # 12 x 10 in at 110 dpi
    err = capsys.readouterr().err
    assert "37 points" in err  # 5 March to 10 April inclusive = days 3 .. 39
    assert _cli(["trend", "CT room 9", METRIC, "--out", str(tmp_path / "x.png"), "--db", str(db)]) == 2
    assert "no device named 'CT room 9'" in capsys.readouterr().err
    assert _cli(["trend", "CT room 1", METRIC, "--out", str(tmp_path / "x.pdf"), "--db", str(db)]) == 2
    assert _cli(["trend", "CT room 1", METRIC, "--from", "5 March", "--out", str(out), "--db", str(db)]) == 2
    assert "--from must be YYYY-MM-DD" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
