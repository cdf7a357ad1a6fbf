"""PET/SPECT profiles: the EARL2 bands of nema-earl at their boundaries, and WS 523 / WS 817 judged only against
the manufacturer's specification (their own limits were not retrieved: no guessed pass)."""

import pytest

from phantomqc.core.types import Measurement
from phantomqc.standards.evaluate import References, evaluate
from phantomqc.standards.profiles import load_profile

A50 = {"sphere_37mm": (0.85, 1.00), "sphere_10mm": (0.39, 0.61)}
RCMAX = {"sphere_22mm": (1.01, 1.32), "sphere_13mm": (0.85, 1.22)}


@pytest.mark.parametrize("metric,bands", [("pet.recovery.rc_a50", A50), ("pet.recovery.rc_max", RCMAX)])
def test_earl2_bands_at_their_boundaries(metric, bands):
    prof = load_profile("nema-earl")
    for label, (lo, hi) in bands.items():
        for value, status in ((lo, "pass"), (hi, "pass"), (lo - 0.005, "fail"), (hi + 0.005, "fail")):
            (v,) = evaluate([Measurement(metric, value, "1", label=label)], prof, "acceptance")
            assert v.status == status, (metric, label, value)


def test_ws523_needs_the_specification():
    prof = load_profile("ws523-2019")
    m = Measurement("nm.uniformity.integral_percent", 3.1, "%", label="ufov")
    (v,) = evaluate([m], prof, "acceptance")
    assert v.status == "not_evaluated" and "spec" in v.reason and v.confirmed is False
    spec = References({}, {"nm.uniformity.integral_percent[ufov]": 3.0})
    (v,) = evaluate([m], prof, "acceptance", references=spec)
    assert v.status == "fail"  # 3.1 % against a specification of 3.0 %
    (v,) = evaluate([Measurement("nm.uniformity.integral_percent", 2.9, "%", label="ufov")], prof, "acceptance",
                    references=spec)
    assert v.status == "pass"


def test_ws817_contrast_against_specification():
    prof = load_profile("ws817-2023")
    spec = References({}, {"pet.nema_iq.contrast_percent[sphere_10mm]": 40.0})
    for value, status in ((40.0, "pass"), (39.0, "fail")):
        (v,) = evaluate([Measurement("pet.nema_iq.contrast_percent", value, "%", label="sphere_10mm")], prof,
                        "acceptance", references=spec)
        assert v.status == status and v.confirmed is False
