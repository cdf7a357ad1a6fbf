"""CT verdicts end to end: the passing and the failing CT reference suites (CatPhan 504 and 604, ACR 464, water,
CTDI readings) judged by ``ws519-2019`` (acceptance, status, stability against a baseline) and ``taiyuan-2024``.

The failing suite breaks known limits (reference_phantoms.ct.ct_suite_specs): water +8 HU and noise 25 HU on the
water phantom, a 4 mm slice profile under a 2.5 mm SliceThickness tag on the CatPhan 504, 12 HU cupping on the
CatPhan 604 and CTDIw 25 % above the specification.
"""

from __future__ import annotations

import pytest

from phantomqc.pipeline import analyze, load_baseline_json
from reference_phantoms.ct import make_ct_suite

_cache: dict = {}


def suite(quality: str, tmp_path_factory):
    if quality not in _cache:
        out = tmp_path_factory.mktemp(f"ct_suite_{quality}")
        _cache[quality] = make_ct_suite(out, seed=3, quality=quality)
    return _cache[quality]


def _verdicts(doc, phantom=None):
    out = {}
    for a in doc["analyses"]:
        assert a["error"] is None, a["error"]
        if phantom is not None and a["phantom"] != phantom:
            continue
        for v in a["verdicts"]:
            if v.get("has_criterion", True):
                out[(a["phantom"], v["measurement"], v["label"])] = v["status"]
    return out


@pytest.mark.parametrize("profile,test_type", [("ws519-2019", "acceptance"), ("ws519-2019", "status"),
                                               ("taiyuan-2024", "acceptance"), ("taiyuan-2024", "status")])
def test_passing_suite_passes(profile, test_type, tmp_path_factory):
    doc, _ = analyze([suite("pass", tmp_path_factory)], profile=profile, test_type=test_type)
    vs = _verdicts(doc)
    assert vs, "no verdicts"
    failed = {k: s for k, s in vs.items() if s != "pass"}
    assert not failed, failed
    assert doc["summary"]["overall"] == "pass"
    # every WS 519 image-quality item is judged on at least one phantom
    judged = {k[1] for k in vs}
    assert {"ct.water.mean_hu", "ct.uniformity.max_abs_diff_hu", "ct.noise.percent",
            "ct.low_contrast.detectability_mm", "ct.line_pairs.limiting_lp_per_cm"} <= judged
    assert any(m.startswith("ct.slice_thickness.deviation") for m in judged)


@pytest.mark.parametrize("profile,test_type", [("ws519-2019", "acceptance"), ("ws519-2019", "status"),
                                               ("taiyuan-2024", "acceptance"), ("taiyuan-2024", "status")])
def test_failing_suite_fails_where_it_was_broken(profile, test_type, tmp_path_factory):
    doc, _ = analyze([suite("fail", tmp_path_factory)], profile=profile, test_type=test_type)
    vs = _verdicts(doc)
    assert vs[("water200", "ct.water.mean_hu", None)] == "fail"  # +8 HU: beyond +-4 (acceptance) and +-6 (status)
    assert vs[("water200", "ct.noise.percent", None)] == "fail"  # 25 HU at 10 mm = 2.5 % > 0.35 / 0.45 %
    assert vs[("catphan604", "ct.uniformity.max_abs_diff_hu", None)] == "fail"  # 7.7 HU > 5 / 6 HU
    thick = {k: s for k, s in vs.items() if k[0] == "catphan504" and k[1].startswith("ct.slice_thickness.dev")}
    assert thick and all(s == "fail" for s in thick.values()), thick  # 4 mm vs 2.5 mm: 1.5 mm > 1 mm
    if profile == "ws519-2019":  # the CTDIw criteria are WS 519's (the Taiyuan seed has none)
        assert vs[("ctdi_head", "ct.ctdi.ctdiw_mgy", "head")] == "fail"  # 25 % above spec: > 15 % / 20 %
    assert doc["summary"]["overall"] == "fail"
    assert doc["summary"]["exit_status"] == 1


@pytest.mark.parametrize("sub,drifted", [
    ("water", {("water200", "ct.water.mean_hu", None), ("water200", "ct.noise.percent", None)}),  # +-4 HU, +-10 %
    ("catphan604", {("catphan604", "ct.uniformity.max_abs_diff_hu", None)}),  # baseline +-2 HU
])
def test_stability_against_the_acceptance_baseline(sub, drifted, tmp_path_factory, tmp_path):
    """Stability (稳定性) compares with the baseline set at acceptance, per phantom (a baseline belongs to one
    device and phantom): the passing series is its own baseline and passes; the failing one drifted and fails."""
    import json

    good = suite("pass", tmp_path_factory).parent / sub / "manifest.toml"
    bad = suite("fail", tmp_path_factory).parent / sub / "manifest.toml"
    base_doc, _ = analyze([good], profile="ws519-2019", test_type="acceptance")
    f = tmp_path / "baseline.json"
    f.write_text(json.dumps(base_doc))
    baseline = load_baseline_json(f)
    same, _ = analyze([good], profile="ws519-2019", test_type="stability", baseline=baseline)
    vs = _verdicts(same)
    assert vs and all(s == "pass" for s in vs.values()), {k: s for k, s in vs.items() if s != "pass"}
    drift, _ = analyze([bad], profile="ws519-2019", test_type="stability", baseline=baseline)
    vd = _verdicts(drift)
    for k in drifted:
        assert vd[k] == "fail", (k, vd.get(k))
