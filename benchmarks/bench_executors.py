"""Wall time of one batch of 200 small reference series (CT water, MR flood, NM flood) analysed by
``phantomqc analyze`` in one process, with ``--workers 2`` and with ``--executor dask://...`` on a 2-worker Dask
``LocalCluster`` (issue 8, execution at scale).

Each run is a fresh ``python -m phantomqc analyze`` process, as a user would type it, so each pays the start-up it
would really pay (imports, numba cache loads, in every worker process too); the Dask cluster is started before the
timing, as a cluster is up before a batch arrives, but its workers are cold. Each is run once (``pedantic``,
``rounds=1``): the batch is itself 200 analyses. The three JSON documents are checked to be identical once the
timestamp and the echoed command line are removed.

Run with ``pytest benchmarks/bench_executors.py --benchmark-only -s``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

from ingest.test_executors import N_SERIES, make_batch  # tests/ is on the path (pyproject's pythonpath)

_DOCS: dict[str, dict] = {}


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> list[str]:
    return make_batch(tmp_path_factory.mktemp("executor_bench"))


@pytest.fixture(scope="module")
def dask_address():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(2)
        yield cluster.scheduler_address.removeprefix("tcp://")


def _analyze(inputs: list[str], extra: list[str], out: Path) -> int:
    cmd = [sys.executable, "-m", "phantomqc", "analyze", *inputs, *extra, "--json", str(out), "--no-progress"]
    return subprocess.run(cmd, capture_output=True, text=True, check=False).returncode


@pytest.mark.parametrize("executor", ["single", "workers_2", "dask_2_workers"])
def test_batch_200_series(benchmark, batch, dask_address, tmp_path, executor):
    extra = {"single": ["--workers", "1"], "workers_2": ["--workers", "2"],
             "dask_2_workers": ["--executor", f"dask://{dask_address}"]}[executor]
    out = tmp_path / f"{executor}.json"
    rc = benchmark.pedantic(_analyze, args=(batch, extra, out), rounds=1, iterations=1, warmup_rounds=0)
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert rc in (0, 1) and doc["summary"]["analyses"] == N_SERIES and doc["summary"]["input_errors"] == 0
    doc = {k: v for k, v in doc.items() if k not in ("generated_at", "command")}
    benchmark.extra_info.update(series=N_SERIES, executor=executor)
    for other, other_doc in _DOCS.items():
        assert doc == other_doc, f"{executor} and {other} differ"
    _DOCS[executor] = doc
