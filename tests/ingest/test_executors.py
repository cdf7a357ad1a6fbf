"""The executors: a local process pool and a real Dask ``LocalCluster`` give the same results, in the same order, as
one process; workers receive file paths, never pixel arrays; the Dask executor keeps its bound on tasks in flight.

The batch test is the issue's done-means: 200 reference series (CT water, MR flood, NM flood) analysed by
``phantomqc analyze`` with one process, with ``--workers 2`` and with ``--executor dask://...`` on a 2-worker
``LocalCluster``; the three JSON documents are identical once the timestamp is removed. The wall times are printed
(``pytest -s``) and recorded as properties of the test (``--junitxml``); they are reported, never asserted.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest

from phantomqc._shared.errors import InputError
from phantomqc.ingest.executors import DaskExecutor, Executor, LocalExecutor, make_executor
from phantomqc.pipeline import analyze

distributed = pytest.importorskip("distributed")

N_SERIES = 200


def make_batch(out: Path, n: int = N_SERIES) -> list[str]:
    """Write ``n`` small reference series into ``out`` and return the ``phantomqc analyze`` inputs.

    About 35 % are 3-slice 256 x 256 CT water series (one manifest each), 32 % 128 x 128 MR MagNET floods (one
    manifest each) and the rest 128 x 128 NM floods in one folder, identified from their tags. Each series has its
    own noise seed, so no two results are the same.
    """
    from phantomqc.io.write import new_uid
    from reference_phantoms._writing import write_nm
    from reference_phantoms.ct import make_ct_series
    from reference_phantoms.mr import make_magnet_flood
    from reference_phantoms.nm import flood

    n_ct, n_mr = round(n * 0.35), round(n * 0.325)
    n_nm = n - n_ct - n_mr
    inputs = []
    for i in range(n_ct):
        inputs.append(str(make_ct_series(out / f"ct{i:03d}", phantom="water200", thickness_mm=10, spacing_z_mm=10,
                                         z_start_mm=-10, z_stop_mm=10, matrix=256, pixel_mm=0.9765625, seed=i)))
    for i in range(n_mr):
        inputs.append(str(make_magnet_flood(out / f"mr{i:03d}", matrix=128, seed=1000 + i)))
    study = new_uid()
    for i in range(n_nm):
        img, _ = flood((128, 128), (4.0, 4.0), counts_per_pixel=1.0e4, rng=np.random.default_rng(2000 + i))
        write_nm(out / "nm" / f"flood{i:03d}.dcm", np.clip(np.round(img), 0, 65535).astype(np.uint16),
                 spacing_mm=(4.0, 4.0), series_uid=new_uid(), study_uid=study, series_description="UNIFORMITY FLOOD",
                 series_number=i + 1)
    inputs.append(str(out / "nm"))
    return inputs


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> list[str]:
    return make_batch(tmp_path_factory.mktemp("executor_batch"))


@pytest.fixture(scope="module")
def cluster():
    """A real Dask cluster: 2 worker processes (spawned), one thread each."""
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                                  silence_logs=40) as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster, set_as_default=False) as cl:
        cl.wait_for_workers(2)
        yield cl


# module-level, so that other processes can unpickle them by reference
def _square_after(item: tuple[int, float]) -> tuple[int, int]:
    """``(i, delay_s)`` -> ``(i * i, pid)`` after sleeping ``delay_s``: early items may finish last."""
    i, delay_s = item
    time.sleep(delay_s)
    return i * i, os.getpid()


def _interval(i: int) -> tuple[int, float, float]:
    """``(i, start, end)`` of a 0.1 s task, on the system-wide monotonic clock."""
    t0 = time.monotonic()
    time.sleep(0.1)
    return i, t0, time.monotonic()


def _wait_for_last(item: tuple[int, int, str]) -> tuple[int, bool]:
    """Item 0 waits (at most 20 s) for the flag file that item ``last`` creates; ``(i, the flag was seen)``."""
    i, last, flag = item
    if i == last:
        Path(flag).touch()
    if i == 0:
        deadline = time.monotonic() + 20.0
        while not Path(flag).exists():
            if time.monotonic() > deadline:
                return i, False
            time.sleep(0.01)
    return i, True


def _fail_on_three(i: int) -> int:
    if i == 3:
        raise ValueError("item 3 is bad")
    return i


# ---------------------------------------------------------------------------------------------------------------
# the executors on their own

ITEMS = [(i, 0.05 * (i % 4 == 0)) for i in range(12)]  # every fourth item is slow: the others overtake it


@pytest.mark.parametrize("workers", [1, 2])
def test_local_executor_keeps_order(workers):
    with LocalExecutor(workers) as ex:
        out = list(ex.map(_square_after, ITEMS))
        assert ex.in_process == (workers == 1)
    assert [v for v, _ in out] == [i * i for i, _ in ITEMS]
    pids = {p for _, p in out}
    assert (pids == {os.getpid()}) if workers == 1 else (os.getpid() not in pids)


def test_dask_executor_keeps_order_and_uses_both_workers(client):
    worker_pids = set(client.run(os.getpid).values())
    assert len(worker_pids) == 2 and os.getpid() not in worker_pids  # two real worker processes
    with DaskExecutor(client) as ex:
        assert ex.window() == 2  # default bound: the cluster's 2 threads
        out = list(ex.map(_square_after, ITEMS))
    assert [v for v, _ in out] == [i * i for i, _ in ITEMS]
    assert {p for _, p in out} == worker_pids  # 12 tasks, 3 of them slow: both workers take some
    assert client.status == "running"  # a client passed in belongs to its owner: close() leaves it open


def test_dask_executor_bound_one_runs_one_task_at_a_time(client):
    with DaskExecutor(client, max_workers=1) as ex:
        assert ex.window() == 1
        out = list(ex.map(_interval, range(6)))
    assert [i for i, _, _ in out] == list(range(6))
    spans = sorted((t0, t1) for _, t0, t1 in out)
    # with one task in flight, each starts after the one before has ended (same host, one monotonic clock)
    assert all(nxt[0] >= prev[1] for prev, nxt in itertools.pairwise(spans))


def test_dask_executor_slow_head_does_not_block_the_rest(client, tmp_path):
    """Item 0 runs until the last item has run: with a window of 2, the other items must flow through the second
    worker while the first is busy (an executor that waited for results in order before submitting more would
    leave item 0 waiting for its 20 s limit and report False)."""
    flag = tmp_path / "last_item_ran"
    items = [(i, 9, str(flag)) for i in range(10)]
    with DaskExecutor(client, max_workers=2) as ex:
        out = list(ex.map(_wait_for_last, items))
    assert out == [(i, True) for i in range(10)]


@pytest.mark.parametrize("make", [lambda c: LocalExecutor(1), lambda c: LocalExecutor(2), lambda c: DaskExecutor(c)])
def test_executor_raises_a_failed_item(client, make):
    with make(client) as ex:
        it = ex.map(_fail_on_three, range(6))
        assert [next(it) for _ in range(3)] == [0, 1, 2]
        with pytest.raises(ValueError, match="item 3 is bad"):
            next(it)


def test_make_executor_parses_the_spec(client):
    assert isinstance(make_executor(None, 1), LocalExecutor)
    ex = make_executor("local", 3)
    assert isinstance(ex, LocalExecutor) and ex.workers == 3
    host_port = client.scheduler.address.removeprefix("tcp://")
    for spec, workers, window in ((f"dask://{host_port}", 1, 2), (f"tcp://{host_port}", 5, 5)):
        with make_executor(spec, workers) as dx:
            assert isinstance(dx, DaskExecutor)
            assert dx.client.scheduler.address == f"tcp://{host_port}"
            assert dx.window() == window  # workers > 1 bounds the tasks in flight; 1 leaves the cluster's size
            assert "2 workers" in dx.describe()
        assert dx.client.status != "running"  # made from an address: closed with the executor


@pytest.mark.parametrize("spec", ["http://host:8786", "host:8786", "dask://host:port", "dask://"])
def test_make_executor_rejects_bad_specs(spec):
    with pytest.raises(InputError, match="--executor"):
        make_executor(spec, 1)


def test_unreachable_scheduler_is_an_input_error():
    with pytest.raises(InputError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:1"):
        DaskExecutor("tcp://127.0.0.1:1", connect_timeout_s=0.5)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_local_executor_rejects_bad_worker_counts(workers):
    with pytest.raises(InputError, match="workers must be an integer >= 1"):
        LocalExecutor(workers)


# ---------------------------------------------------------------------------------------------------------------
# what travels to a worker


class _SpyExecutor(Executor):
    """Runs in this process and keeps every item it was given."""

    def __init__(self) -> None:
        self.items: list = []

    def map(self, fn, items):
        items = list(items)
        self.items.extend(items)
        return map(fn, items)

    def describe(self) -> str:
        return "spy"


class _NoArrayPickler(pickle.Pickler):
    def reducer_override(self, obj):
        if isinstance(obj, np.ndarray):
            raise TypeError(f"a task carries a {obj.shape} array: workers must receive file paths")
        return NotImplemented


def test_workers_receive_paths_not_arrays(batch):
    spy = _SpyExecutor()
    doc, _ = analyze(batch, executor=spy)
    assert len(spy.items) == N_SERIES == len(doc["analyses"])
    for task in spy.items:
        buf = io.BytesIO()
        _NoArrayPickler(buf).dump(task)
        # the smallest image of the batch is 128 x 128 uint16 = 32 KiB: a task under 16 KiB cannot hold one
        assert len(buf.getvalue()) < 16 * 1024
        assert task.paths and all(isinstance(p, str) and Path(p).exists() for p in task.paths)


# ---------------------------------------------------------------------------------------------------------------
# the done-means: one batch, three executors, one JSON


def _run_cli(args: list[str], out: Path) -> tuple[dict, int, float]:
    from phantomqc.cli import main

    t0 = time.perf_counter()
    rc = main(["analyze", *args, "--json", str(out), "--no-progress"])
    wall_s = time.perf_counter() - t0
    return json.loads(out.read_text(encoding="utf-8")), rc, wall_s


def _without_timestamps(doc: dict) -> dict:
    # generated_at is the timestamp; command echoes the command line, which names the executor by design
    return {k: v for k, v in doc.items() if k not in ("generated_at", "command")}


def test_same_json_single_process_workers_2_and_dask(batch, cluster, tmp_path, record_property):
    address = cluster.scheduler_address.removeprefix("tcp://")
    runs = {}
    for name, extra in (("single", ["--workers", "1"]), ("workers_2", ["--workers", "2"]),
                        ("dask_2_workers", ["--executor", f"dask://{address}"])):
        runs[name] = _run_cli([*batch, *extra], tmp_path / f"{name}.json")
    single = runs["single"][0]
    assert single["summary"]["analyses"] == N_SERIES and single["summary"]["input_errors"] == 0
    kinds = [a["analyzer"] for a in single["analyses"]]
    assert {k: kinds.count(k) for k in set(kinds)} == {"ct.water": 70, "mr.flood": 65, "nm.uniformity": 65}
    assert all(a["measurements"] for a in single["analyses"])
    for name in ("workers_2", "dask_2_workers"):
        doc, rc, _ = runs[name]
        assert rc == runs["single"][1]
        assert doc["analyses"] == single["analyses"], name  # the full list, in order
        assert _without_timestamps(doc) == _without_timestamps(single), name
    lines = []
    for name, (_, _, wall_s) in runs.items():
        record_property(f"wall_s_{name}", round(wall_s, 3))
        lines.append(f"{name}: {wall_s:.2f} s")
    print(f"\n{N_SERIES} series, wall time of `phantomqc analyze` (the single run in this already warm process; "
          f"the pool and Dask workers start cold): " + "; ".join(lines))


def test_cli_bad_executor_is_a_usage_error(batch, capsys):
    from phantomqc.cli import main

    assert main(["analyze", batch[0], "--executor", "http://scheduler:8786", "--no-progress"]) == 2
    assert "expected dask://host:port" in capsys.readouterr().err
