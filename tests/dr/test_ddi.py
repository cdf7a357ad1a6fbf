import numpy as np
import pytest

from phantomqc.core.types import ImageData, ImageMeta
from phantomqc.dr.ddi import SOURCE_EI, SOURCE_PV, ddi, run


def _imgs(values, shape=(1000, 1000)):
    return [np.full(shape, v, np.float32) for v in values]


def _data(values, ei=None, di=None):
    ei = ei or [None] * len(values)
    di = di or [None] * len(values)
    return [ImageData(a, (0.15, 0.15), ImageMeta(path=f"ddi{i}.dcm", modality="DX", exposure_index=e,
                                                 deviation_index=d))
            for i, (a, e, d) in enumerate(zip(_imgs(values), ei, di))]


def test_exposure_index_and_iec_deviation():
    res = ddi(_imgs([500, 510, 520]), (0.15, 0.15), exposure_index=[980.0, 1000.0, 1020.0],
              air_kerma_uGy=[9.0, 9.5, 10.0])
    assert res.source == SOURCE_EI and res.value.unit == "1"
    assert res.value.value == pytest.approx(1000.0)
    # K_calc = 1000 / 100 = 10 uGy, K_meas = 9.5 uGy -> (10 - 9.5) / 9.5 x 100 = +5.263 %
    assert res.deviation_percent.value == pytest.approx(0.5 / 9.5 * 100)
    assert res.k_calc_uGy == pytest.approx(10.0) and res.k_meas_uGy == pytest.approx(9.5)


def test_fallback_to_mean_pv_with_warning_and_no_iec_deviation():
    res = ddi(_imgs([500, 510, 530]), (0.15, 0.15), exposure_index=[1000.0, None, 1000.0],
              air_kerma_uGy=[10, 10, 10])
    assert res.source == SOURCE_PV and res.value.unit == "PV"
    assert res.value.value == pytest.approx(1540 / 3)
    assert res.deviation_percent is None
    assert any("falls back to the mean PV" in w for w in res.warnings)
    assert any("needs an Exposure Index" in w for w in res.warnings)


def test_linear_formula_on_mean_pv():
    res = ddi(_imgs([400, 400, 400]), (0.15, 0.15), air_kerma_uGy=[10.0, 10.0, 10.0], ddi_formula="linear",
              ddi_uGy_per_unit=0.0275)
    # K_calc = 0.0275 x 400 = 11 uGy -> +10 %
    assert res.deviation_percent.value == pytest.approx(10.0)


def test_no_kerma_no_deviation():
    res = ddi(_imgs([400]), (0.15, 0.15), exposure_index=[1000.0])
    assert res.deviation_percent is None
    assert any("air_kerma_uGy" in w for w in res.warnings)


def test_run_emits_deviation_only_when_computable():
    out = run(_data([500, 500, 500], ei=[1100.0] * 3, di=[0.4, 0.5, 0.6]),
              {"air_kerma_uGy": [10.0, 10.0, 10.0], "ddi_formula": "iec62494", "ddi_uGy_per_unit": None,
               "roi_size_mm": 100.0})
    ms = {m.id: m for m in out.measurements}
    assert ms["dr.ddi.value"].value == pytest.approx(1100.0) and ms["dr.ddi.value"].unit == "1"
    assert ms["dr.ddi.deviation_percent"].value == pytest.approx(10.0)
    assert out.details.deviation_index.value == pytest.approx(0.5)
    out = run(_data([500, 500, 500]), {"air_kerma_uGy": None, "ddi_formula": "iec62494", "roi_size_mm": 100.0})
    assert [m.id for m in out.measurements] == ["dr.ddi.value"]
    assert out.measurements[0].unit == "PV"
    assert any("not computed" in w for w in out.warnings)
