"""Hand-made analysis results for the store tests: exact numbers, no images."""

from __future__ import annotations

from phantomqc.core.types import AnalysisResult, InputInfo, Measurement
from phantomqc.pipeline import judge_result
from phantomqc.standards.profiles import load_profile

_PROFILES: dict = {}


def ct_water_result(value_hu: float, *, uid: str, serial: str = "CT-1", station: str = "CT1",
                    when: str = "2026-01-05T08:00:00", test_type: str = "stability", noise_percent: float = 0.3,
                    baseline: dict | None = None, manufacturer: str = "ACME") -> AnalysisResult:
    """A ct.water result (water mean HU, noise %, uniformity), judged with ws519-2019 for ``test_type``."""
    info = InputInfo(paths=(f"/data/{uid}.dcm",), series_instance_uid=f"1.2.{uid}", modality="CT",
                     manufacturer=manufacturer, station_name=station, device_serial_number=serial,
                     acquisition_datetime=when, sop_instance_uids=(f"1.2.3.{uid}",))
    ms = (Measurement("ct.water.mean_hu", float(value_hu), "HU"),
          Measurement("ct.noise.percent", float(noise_percent), "%"),
          Measurement("ct.uniformity.max_abs_diff_hu", 0.5, "HU"))
    r = AnalysisResult(input=info, analyzer="ct.water", kind="ct.water", phantom="water200", measurements=ms,
                       judged_with={"profile": "ws519-2019", "profile_version": "", "test_type": test_type})
    if "ws519-2019" not in _PROFILES:
        _PROFILES["ws519-2019"] = load_profile("ws519-2019")
    return judge_result(r, _PROFILES["ws519-2019"], test_type, baseline=baseline or {})
