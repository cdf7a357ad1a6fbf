import math

import numpy as np
import pytest

from phantomqc._shared.errors import InputError
from phantomqc.core.types import ImageData, ImageMeta
from phantomqc.dr.dark_noise import dark_noise, run


def _data(px, spacing=(0.15, 0.15), modality="DX", path="dark.dcm", **meta):
    return ImageData(px, spacing, ImageMeta(path=path, modality=modality, **meta))


@pytest.mark.parametrize("spacing,shape", [((0.139, 0.139), (3000, 3000)), ((0.2, 0.2), (1024, 1100)),
                                           ((0.15, 0.1), (900, 1300))])
@pytest.mark.parametrize("dtype", [np.float32, np.uint16, np.int16])
def test_white_noise_offset(spacing, shape, dtype):
    rng = np.random.default_rng(7)
    img = np.round(100 + rng.normal(0, 4, shape)).astype(dtype) if dtype != np.float32 else \
        (100 + rng.normal(0, 4, shape)).astype(np.float32)
    res = dark_noise(img, spacing)
    roi = res.rois[0]
    n = roi.n_pixels
    # the ROI is 100 mm square: round(100 / s) pixels a side
    assert (roi.nrows, roi.ncols) == (round(100 / spacing[0]), round(100 / spacing[1]))
    # integer rounding adds uniform quantisation noise of variance 1/12
    sigma = 4.0 if dtype == np.float32 else math.sqrt(16 + 1 / 12)
    assert abs(res.mean_pv.value - 100) < 3 * sigma / math.sqrt(n)      # 3 SE of the mean
    assert abs(res.sd_pv.value - sigma) < 3 * sigma / math.sqrt(2 * n)  # 3 SE of an SD
    assert res.mean_pv.unit == res.sd_pv.unit == "PV"


def test_sd_is_sample_sd_of_the_central_roi():
    # 4 pixels ROI (spacing 50 mm, ROI 100 mm -> 2 x 2) with values 0, 2, 4, 6: ddof=1 SD = sqrt(20/3)
    img = np.full((4, 4), 99.0, np.float32)
    img[1:3, 1:3] = [[0, 2], [4, 6]]
    res = dark_noise(img, (50.0, 50.0))
    assert res.mean_pv.value == pytest.approx(3.0)
    assert res.sd_pv.value == pytest.approx(math.sqrt(20 / 3))  # ddof=0 would give sqrt(5)


def test_several_images_mean_of_means_and_rms_of_sds():
    rng = np.random.default_rng(1)
    offs, sds = [100.0, 110.0, 130.0], [2.0, 4.0, 8.0]
    imgs = [(o + rng.normal(0, s, (800, 800))).astype(np.float32) for o, s in zip(offs, sds)]
    res = dark_noise(imgs, (0.15, 0.15))
    np.testing.assert_allclose(res.per_image_mean_pv, offs, atol=0.05)  # 3 SE = 3*8/sqrt(444^2) = 0.05
    assert res.mean_pv.value == pytest.approx(np.mean(res.per_image_mean_pv), rel=1e-12)
    assert res.sd_pv.value == pytest.approx(math.sqrt(np.mean(np.square(res.per_image_sd_pv))), rel=1e-12)
    # RMS of 2, 4, 8 = 5.29; the plain mean would be 4.67: distinguishable at 3 SE (< 0.02)
    assert res.sd_pv.value == pytest.approx(math.sqrt((4 + 16 + 64) / 3), abs=0.05)


def test_run_measurements_and_visuals():
    img = (100 + np.random.default_rng(2).normal(0, 4, (1000, 1200))).astype(np.float32)
    out = run([_data(img, presentation_intent="FOR PRESENTATION")], {"roi_size_mm": 100.0})
    ids = {m.id: m for m in out.measurements}
    assert set(ids) == {"dr.dark_noise.mean_pv", "dr.dark_noise.sd_pv"}
    assert ids["dr.dark_noise.mean_pv"].unit == "PV"
    assert any("FOR PRESENTATION" in w for w in out.warnings)
    panel = out.visuals[0]
    # the full-resolution image itself (the report down-samples it), with the ROI in its pixels
    assert panel.image is img and panel.spacing_mm == (0.15, 0.15) and panel.window is None
    ov = panel.overlays[0]
    roi = out.details.rois[0]
    assert (ov.row0, ov.col0, ov.nrows, ov.ncols) == (roi.row0, roi.col0, roi.nrows, roi.ncols)
    assert out.analyzer == "dr.dark_noise"


def test_ct_image_is_rejected_naming_the_file():
    img = np.zeros((500, 500), np.float32)
    with pytest.raises(InputError, match="CT image was given to the DR test dr.dark_noise") as ei:
        run([_data(img, modality="CT", path="/data/ct001.dcm")], {"roi_size_mm": 100.0})
    assert "/data/ct001.dcm" in str(ei.value)


def test_roi_larger_than_image():
    with pytest.raises(ValueError, match="does not fit"):
        dark_noise(np.zeros((100, 100), np.float32), (0.15, 0.15))
