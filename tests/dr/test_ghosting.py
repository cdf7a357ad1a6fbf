import os

import numpy as np
import pytest

from phantomqc._shared.errors import PhantomNotFoundError
from phantomqc.core.types import ImageData, ImageMeta
from phantomqc.dr.ghosting import ghosting, run

# Full-size images through pure-Python kernels would take minutes: with NUMBA_DISABLE_JIT=1 the kernel
# bodies are covered by test_kernels.py instead.
pytestmark = pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="full-size images need the JIT")


def _pair(shape, spacing, shift_mm=(0.0, 0.0), lag=0.03, seed=0, open_pv=3000.0, block_pv=300.0, blank_pv=500.0):
    """Lead-block exposure and the blank after it; the blank carries a ghost of relative strength ``lag``
    exactly over the block area."""
    rng = np.random.default_rng(seed)
    cy = (shape[0] - 1) * spacing[0] / 2 + shift_mm[0]
    cx = (shape[1] - 1) * spacing[1] / 2 + shift_mm[1]
    y = np.arange(shape[0])[:, None] * spacing[0]
    x = np.arange(shape[1])[None, :] * spacing[1]
    inside = (np.abs(y - cy) <= 20.0) & (np.abs(x - cx) <= 20.0)
    a = np.where(inside, block_pv, open_pv) + rng.normal(0, 30, shape)
    b = np.where(inside, blank_pv * (1 + lag), blank_pv) + rng.normal(0, 10, shape)
    return a.astype(np.float32), b.astype(np.float32), (cy, cx)


@pytest.mark.parametrize("shape,spacing", [((3000, 3000), (0.139, 0.139)), ((2048, 2048), (0.2, 0.2))])
@pytest.mark.parametrize("shift_mm", [(0, 0), (30, 0), (-30, 0), (0, 30), (0, -30), (30, -30)])
def test_known_lag(shape, spacing, shift_mm):
    lag = 0.03
    a, b, (cy, cx) = _pair(shape, spacing, shift_mm, lag)
    res = ghosting(a, b, spacing)
    # the block centre is found to within one pixel
    assert res.block_center_mm == pytest.approx((cy, cx), abs=max(spacing))
    assert res.block_size_found_mm == pytest.approx((40.0, 40.0), abs=2 * max(spacing))
    # ROI means of 20 mm squares: SE = 10 / sqrt(n) <= 10 / 100 = 0.1 PV -> error SE ~ 0.03 %; allow 5 SE
    assert res.error_percent.value == pytest.approx(lag * 100, abs=0.15)
    assert res.nonghost_side == "right"


def test_nonghost_roi_moves_left_when_right_does_not_fit():
    shape, sp = (1000, 1000), (0.2, 0.2)  # 200 mm field; block 70 mm right of centre
    a, b, _ = _pair(shape, sp, (0.0, 70.0), lag=-0.02)
    res = ghosting(a, b, sp)
    assert res.nonghost_side == "left"
    assert res.error_percent.value == pytest.approx(-2.0, abs=0.15)
    assert any("left" in w for w in res.warnings)


def test_no_block_raises_naming_the_file():
    rng = np.random.default_rng(1)
    a = (3000 + rng.normal(0, 30, (1000, 1000))).astype(np.float32)
    b = (500 + rng.normal(0, 10, (1000, 1000))).astype(np.float32)
    with pytest.raises(PhantomNotFoundError):
        ghosting(a, b, (0.2, 0.2))
    ims = [ImageData(a, (0.2, 0.2), ImageMeta(path="lag_block.dcm", modality="DX")),
           ImageData(b, (0.2, 0.2), ImageMeta(path="lag_after.dcm", modality="DX"))]
    with pytest.raises(PhantomNotFoundError, match="lag_block.dcm"):
        run(ims, {"block_size_mm": 40.0, "roi_size_mm": 20.0})


def test_wrong_block_size_is_not_accepted():
    a, b, _ = _pair((1000, 1000), (0.2, 0.2))
    with pytest.raises(PhantomNotFoundError, match="100 x 100 mm"):
        ghosting(a, b, (0.2, 0.2), block_size_mm=100.0)


def test_run():
    a, b, _ = _pair((1500, 1500), (0.2, 0.2), lag=0.05)
    ims = [ImageData(a, (0.2, 0.2), ImageMeta(path="lag_block.dcm", modality="DX")),
           ImageData(b, (0.2, 0.2), ImageMeta(path="lag_after.dcm", modality="DX"))]
    out = run(ims, {"block_size_mm": 40.0, "roi_size_mm": 20.0})
    (m,) = out.measurements
    assert m.id == "dr.ghosting.error_percent" and m.unit == "%"
    assert m.value == pytest.approx(5.0, abs=0.15)
    assert len(out.visuals) == 2 and len(out.visuals[1].overlays) == 2
