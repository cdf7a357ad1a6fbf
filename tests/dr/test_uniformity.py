import math

import numpy as np
import pytest

from phantomqc._shared.errors import InputError
from phantomqc.core.types import ImageData, ImageMeta
from phantomqc.dr.uniformity import ROI_NAMES, response_uniformity, roi_centers_mm, run


def _gain_image(shape, spacing, gains, base=1000.0):
    """Flat field whose five ROI regions (each a 60 mm square around the ROI centre) have known gains."""
    img = np.full(shape, base, np.float32)
    for (cy, cx), g in zip(roi_centers_mm(shape, spacing), gains):
        r = slice(int(round(cy / spacing[0] - 30 / spacing[0])), int(round(cy / spacing[0] + 30 / spacing[0])))
        c = slice(int(round(cx / spacing[1] - 30 / spacing[1])), int(round(cx / spacing[1] + 30 / spacing[1])))
        img[r, c] = base * g
    return img


@pytest.mark.parametrize("shape,spacing", [((3000, 3000), (0.139, 0.139)), ((2048, 2048), (0.2, 0.2)),
                                           ((2000, 2500), (0.15, 0.17))])
def test_known_gain_pattern(shape, spacing):
    gains = [1.00, 0.96, 1.03, 0.99, 1.05]
    res = response_uniformity(_gain_image(shape, spacing, gains), spacing)
    v = 1000.0 * np.array(gains)
    expected = math.sqrt(np.sum((v - v.mean()) ** 2) / 4) / v.mean() * 100  # the WS 76 formula, n - 1 = 4
    # no noise: exact up to float32 storage of the PVs (1e-7 relative)
    assert res.cv_percent.value == pytest.approx(expected, rel=1e-6)
    # ddof = 0 would give expected * sqrt(4/5) = 0.894 x: far outside the tolerance
    assert abs(res.cv_percent.value - expected * math.sqrt(4 / 5)) > 0.1 * expected
    np.testing.assert_allclose(res.roi_means_pv, v, rtol=1e-6)


def test_roi_positions_are_centre_and_quadrant_centres():
    shape, sp = (2001, 1601), (0.2, 0.25)
    res = response_uniformity(np.ones(shape, np.float32), sp)
    centres = {n: r.center_px for n, r in zip(ROI_NAMES, res.rois)}
    assert centres["centre"] == pytest.approx((1000, 800), abs=0.5)
    assert centres["upper left"] == pytest.approx((500, 400), abs=0.5)
    assert centres["lower right"] == pytest.approx((1500, 1200), abs=0.5)
    assert res.rois[0].nrows == 200 and res.rois[0].ncols == 160  # 40 mm


def test_noisy_flat_field_cv_small():
    rng = np.random.default_rng(0)
    img = rng.poisson(1000, (2048, 2048)).astype(np.float32)
    res = response_uniformity(img, (0.2, 0.2))
    # each ROI mean has SE sqrt(1000)/200 = 0.16 PV -> CV ~ 0.016 %; 5 x that is a safe bound
    assert res.cv_percent.value < 0.08


def test_run():
    img = _gain_image((2048, 2048), (0.2, 0.2), [1, 1.02, 0.98, 1, 1])
    im = ImageData(img, (0.2, 0.2), ImageMeta(path="k10.dcm", modality="CR"))
    out = run([im], {"roi_size_mm": 40.0})
    (m,) = out.measurements
    assert m.id == "dr.response_uniformity.cv_percent" and m.unit == "%"
    assert len(out.visuals[0].overlays) == 5
    with pytest.raises(InputError, match="k10.dcm"):
        run([ImageData(img, (0.2, 0.2), ImageMeta(path="k10.dcm", modality="CT"))], {})
