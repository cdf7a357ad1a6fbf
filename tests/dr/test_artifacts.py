import os

import numpy as np
import pytest

from phantomqc.core.types import ImageData, ImageMeta
from phantomqc.core.visuals import MapPanel
from phantomqc.dr.artifacts import artifacts, run

SIZES = {"3000@0.139": ((3000, 3000), (0.139, 0.139)), "2048@0.2": ((2048, 2048), (0.2, 0.2))}

# Full-size images through pure-Python kernels would take minutes: with NUMBA_DISABLE_JIT=1 the kernel
# bodies are covered by test_kernels.py instead.
pytestmark = pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="full-size images need the JIT")


def _flat(shape, seed, quanta=1000.0, dtype=np.float32):
    """Clean flat field: smooth +/-5 % heel gradient along x, a 3 % quadratic fall-off along y and Poisson
    noise (``quanta`` per pixel at the centre). Returns the image and its noise-free expectation."""
    rng = np.random.default_rng(seed)
    y = np.linspace(-1, 1, shape[0])[:, None]
    x = np.linspace(-1, 1, shape[1])[None, :]
    mean = quanta * (1 + 0.05 * x) * (1 - 0.03 * y ** 2)
    return rng.poisson(mean).astype(dtype), mean


def _inject(img, mean):
    """Dead column, hot row, 5 x 5 bright cluster and a 6 mm dark band (at 0.139 or 0.2 mm). Amplitudes in
    units of the pixel noise sqrt(mean). Returns the expected (kind, polarity, rows or cols) of each."""
    s = np.sqrt(mean)
    n0, n1 = img.shape
    img[:, n1 // 4] = 0                                                    # dead column
    img[n0 // 3, :] += 8 * s[n0 // 3, :]                                   # hot row (+8 sigma per pixel)
    r, c = n0 // 5, 3 * n1 // 5
    img[r:r + 5, c:c + 5] += 20 * s[r:r + 5, c:c + 5]                      # 5 x 5 cluster, +20 sigma
    b0 = 3 * n0 // 4
    img[b0:b0 + 40, :] -= 0.5 * s[b0:b0 + 40, :]                            # band of 40 rows at -0.5 sigma/pixel
    return {("column", "dark", n1 // 4), ("row", "bright", n0 // 3), ("cluster", "bright", r), ("row_band", "dark", b0)}


@pytest.mark.parametrize("seed", range(5))
def test_clean_2048_gives_zero(seed):
    shape, sp = SIZES["2048@0.2"]
    img, _ = _flat(shape, seed)
    res = artifacts(img, sp)
    # false-alarm probability per image ~1e-5 at 6 sigma (module docstring): any count is a failure
    assert res.count.value == 0, res.artifacts


@pytest.mark.parametrize("seed", range(2))
def test_clean_3000_gives_zero(seed):
    shape, sp = SIZES["3000@0.139"]
    img, _ = _flat(shape, 100 + seed, quanta=3000.0, dtype=np.uint16)
    res = artifacts(img, sp)
    assert res.count.value == 0, res.artifacts


@pytest.mark.parametrize("name", list(SIZES))
def test_injected_defects_exact_count(name):
    shape, sp = SIZES[name]
    img, mean = _flat(shape, 7)
    expected = _inject(img, mean)
    res = artifacts(img, sp)
    assert res.count.value == 4, res.artifacts
    got = set()
    for a in res.artifacts:
        pos = a.cols[0] if a.kind.startswith("column") else a.rows[0]
        got.add((a.kind, a.polarity, pos))
    for kind, pol, pos in expected:
        match = [g for g in got if g[0] == kind and g[1] == pol]
        assert match, (kind, got)
        tol = 0 if kind in ("row", "column", "cluster") else round(5.0 / sp[0]) // 2 + 1
        # lines and clusters are exact; a band's edges are widened by at most half the 5 mm boxcar
        assert min(abs(m[2] - pos) for m in match) <= tol
    cl = [a for a in res.artifacts if a.kind == "cluster"][0]
    assert cl.n_pixels == 25 and cl.strength_sigma > 15
    assert res.defect_map.shape == res.preview.shape and res.defect_map.any()


def test_adjacent_lines_are_one_artifact_and_single_pixels_are_not_counted():
    shape, sp = SIZES["2048@0.2"]
    img, mean = _flat(shape, 3)
    img[:, 1000:1002] = 0              # two adjacent dead columns: one artefact
    img[500, 700] += 30 * 32           # isolated hot pixel (~30 sigma): listed, not counted
    res = artifacts(img, sp)
    assert res.count.value == 1, res.artifacts
    (a,) = res.artifacts
    assert (a.kind, a.cols) == ("column", (1000, 1002))
    assert (500, 700) in {(r, c) for r, c, _ in res.defective_pixels}


def test_strong_cluster_is_not_also_a_line():
    shape, sp = SIZES["2048@0.2"]
    img, mean = _flat(shape, 4)
    img[1000:1003, 1000:1003] = 60000   # a saturated 3 x 3 cluster would shift its rows' means by many sigma
    res = artifacts(img, sp)
    assert [a.kind for a in res.artifacts] == ["cluster"]


def test_run_sums_images_and_draws_map():
    shape, sp = SIZES["2048@0.2"]
    img1, mean = _flat(shape, 5)
    img1[:, 100] = 0
    img2, _ = _flat(shape, 6)
    ims = [ImageData(img1, sp, ImageMeta(path="ff1.dcm", modality="DX")),
           ImageData(img2, sp, ImageMeta(path="ff2.dcm", modality="DX"))]
    out = run(ims, {"threshold_sigma": 6.0})
    (m,) = out.measurements
    assert m.id == "dr.artifacts.count" and m.value == 1 and m.unit == "1"
    maps = [v for v in out.visuals if isinstance(v, MapPanel)]
    assert len(maps) == 2 and maps[0].mask.sum() > res_cells(maps[0])
    assert max(maps[0].mask.shape) <= 512


def res_cells(panel):
    # the dilated map is wider than the single column of cells the line covers
    return panel.mask.shape[0]
