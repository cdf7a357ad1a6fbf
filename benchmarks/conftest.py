"""Benchmark data: the 3000 x 3000 reference DR suite (0.139 mm), written once per session.

Run with ``pytest benchmarks --benchmark-only`` (see README). JIT compilation is excluded: each benchmark
warms its kernels up before timing, and the compile time is measured on its own in bench_startup.py.
"""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def suite_3000(tmp_path_factory) -> Path:
    from reference_phantoms.dr import make_dr_suite

    out = tmp_path_factory.mktemp("dr3000")
    make_dr_suite(out, detector="3000", dtype="uint16", seed=0)
    return out


@pytest.fixture(scope="session")
def images_3000(suite_3000):
    from phantomqc.io import read_image

    names = ["dark", "flat_01uGy", "flat_05uGy", "flat_10uGy", "flat_20uGy", "flat_30uGy", "ddi_1", "ddi_2",
             "ddi_3", "uniformity", "lag_block", "lag_after", "edge_h", "edge_v", "gauge", "artifacts"]
    return {n: read_image(suite_3000 / f"{n}.dcm") for n in names}
