"""Concurrent writers lose nothing: 4 processes storing 500 results each, in parallel, on one SQLite file."""

from __future__ import annotations

import multiprocessing

from sqlalchemy import func, select

from phantomqc.programme.models import AnalysisRun, AuditEntry, Device, MeasurementRow, Review
from phantomqc.programme.store import Store

N_PROCESSES, N_RESULTS = 4, 500


def _writer(url: str, worker: int, start_event) -> tuple[int, int]:
    from programme._results import ct_water_result  # tests/ is on sys.path in the spawned child too

    results = [ct_water_result(0.1 * (i % 7), uid=f"w{worker}-{i}", serial=f"CT-{i % 3}", station=f"CT{i % 3}",
                               when=f"2026-02-{1 + i % 28:02d}T08:00:00", test_type="status")
               for i in range(N_RESULTS)]
    store = Store(url, actor=f"writer-{worker}")
    start_event.wait(60)  # all four start writing together
    out = store.record(results, site="Concurrent")
    store.close()
    return out.stored, out.duplicates


def test_four_processes_storing_500_results_each_give_exactly_2000_runs(tmp_path):
    url = f"sqlite:///{tmp_path / 'concurrent.sqlite'}"
    Store(url).close()  # the schema exists before the writers start (each would otherwise migrate too)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        start = manager.Event()
        with ctx.Pool(N_PROCESSES) as pool:
            pending = [pool.apply_async(_writer, (url, w, start)) for w in range(N_PROCESSES)]
            start.set()
            outcomes = [p.get(timeout=600) for p in pending]
    assert outcomes == [(N_RESULTS, 0)] * N_PROCESSES
    store = Store(url)
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(AnalysisRun)) == N_PROCESSES * N_RESULTS
        assert s.scalar(select(func.count(func.distinct(AnalysisRun.input_key)))) == N_PROCESSES * N_RESULTS
        assert s.scalar(select(func.count()).select_from(MeasurementRow)) == 3 * N_PROCESSES * N_RESULTS
        assert s.scalar(select(func.count()).select_from(Review)) == N_PROCESSES * N_RESULTS
        # the three devices were registered once each although four processes met them at the same time
        assert s.scalar(select(func.count()).select_from(Device)) == 3
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "run.record")) \
            == N_PROCESSES * N_RESULTS
