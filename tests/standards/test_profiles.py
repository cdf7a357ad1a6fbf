"""Shipped profiles load, carry the seed's values, and `extends` merges as documented."""

import pytest

from phantomqc._shared.errors import ProfileError
from phantomqc.core.registry import all_metrics
from phantomqc.core.types import TEST_TYPES
from phantomqc.standards.profiles import list_profiles, load_profile


def _crit(profile, metric, test_type, label=None):
    cs = profile.criteria_for(metric, label, test_type)
    assert len(cs) == 1, (metric, test_type, [c.describe() for c in cs])
    return cs[0]


def _emitted_labels() -> set[str]:
    """Labels that the analyzers emit for metrics whose MetricDef declares no fixed label set: the insert names
    and low-contrast target labels of the CT phantom drawings, and the CTDI phantoms."""
    from phantomqc.ct.ctdi import PHANTOM_DIAMETER_MM
    from phantomqc.ct.geometry import PHANTOMS

    out = set(PHANTOM_DIAMETER_MM)
    for ph in PHANTOMS.values():
        for mod in ph.modules:
            out |= {i.name for i in mod.inserts} | {t.label for t in mod.targets}
    return out


def test_every_shipped_profile_loads_and_names_known_metrics_and_labels():
    metrics = all_metrics()
    ids = {p.id for p in list_profiles()}
    assert {"taiyuan-2024", "ws76-2020-dr", "ws519-2019", "acr-ct"} <= ids
    free = _emitted_labels()
    assert {"Air", "Polyethylene", "Water", "Acrylic", "Bone", "0.6%_25mm", "head"} <= free
    for p in list_profiles():
        assert p.criteria, p.id
        for c in p.criteria:
            assert c.metric in metrics, (p.id, c.metric)
            if c.label is not None:
                declared = metrics[c.metric].labels
                assert c.label in (declared or free), (p.id, c.metric, c.label, declared)


@pytest.mark.parametrize("tt,limit", [("acceptance", 0.98), ("status", 0.95), ("stability", 0.95)])
def test_ws76_signal_transfer_limits_per_test_type(tt, limit):
    c = _crit(load_profile("ws76-2020-dr"), "dr.signal_transfer.r_squared", tt)
    assert c.rules[0].compare == ">=" and c.rules[0].limit == limit


def test_taiyuan_dr_items_are_the_seed_values():
    p = load_profile("taiyuan-2024")
    # seed 003, 第一部分 DR: R2 >= 0.95, CV <= 5.0 %, ghost <= 5.0 %, no artefacts, dark +-50 % of baseline
    assert _crit(p, "dr.signal_transfer.r_squared", "status").rules[0].limit == 0.95
    assert _crit(p, "dr.response_uniformity.cv_percent", "status").rules[0].limit == 5.0
    assert _crit(p, "dr.ghosting.error_percent", "status").rules[0].limit == 5.0
    assert _crit(p, "dr.artifacts.count", "status").rules[0].limit == 0
    dark = _crit(p, "dr.dark_noise.mean_pv", "stability")
    assert any(r.reference == "baseline" and r.limit == 50.0 for r in dark.rules)
    assert "太原" in dark.source
    # acceptance is inherited from WS 76-2020, which is stricter
    acc = _crit(p, "dr.signal_transfer.r_squared", "acceptance")
    assert acc.rules[0].limit == 0.98 and acc.source == "WS 76-2020"


def test_taiyuan_ct_items_are_the_seed_values():
    p = load_profile("taiyuan-2024")
    # seed 003, 第二部分 CT: couch ±2 mm, slice ±1 mm, water ±6 HU, uniformity ±6 HU, noise < 0.45 %,
    # high contrast > 5.0 lp/cm, low contrast < 3.0 mm
    expect = {"ct.couch.position_error_mm": ("abs<=", 2.0), "ct.water.mean_hu": ("abs<=", 6.0),
              "ct.uniformity.max_abs_diff_hu": ("abs<=", 6.0), "ct.noise.percent": ("<", 0.45),
              "ct.line_pairs.limiting_lp_per_cm": (">", 5.0), "ct.low_contrast.detectability_mm": ("<", 3.0)}
    for metric, (cmp_, lim) in expect.items():
        c = _crit(p, metric, "status", label="conventional" if "line_pairs" in metric else None)
        assert (c.rules[0].compare, c.rules[0].limit) == (cmp_, lim), metric
        assert "太原" in c.source
    for tier in ("nominal_above_2mm", "nominal_below_1mm"):  # the seed's ±1 mm has no tiers
        st = _crit(p, "ct.slice_thickness.deviation_mm", "status", label=tier)
        assert (st.rules[0].compare, st.rules[0].limit) == ("abs<=", 1.0) and "太原" in st.source
    # acceptance and the baseline-relative stability limits are the national ones
    acc = _crit(p, "ct.water.mean_hu", "acceptance")
    assert acc.rules[0].limit == 4.0 and acc.source == "WS 519-2019"
    assert _crit(p, "ct.water.mean_hu", "stability").rules[0].reference == "baseline"
    hr = _crit(p, "ct.line_pairs.limiting_lp_per_cm", "status", label="high_resolution")
    assert hr.rules[0].limit == 10.0 and hr.source == "WS 519-2019"
    assert p.chain == ("ws76-2020-dr", "ws519-2019", "wst263-2006")


def test_ws519_ct_limits_per_test_type():
    p = load_profile("ws519-2019")
    # STANDARDS.md section 2: (acceptance, status) limits
    table = {("ct.water.mean_hu", None): (("abs<=", 4.0), ("abs<=", 6.0)),
             ("ct.uniformity.max_abs_diff_hu", None): (("abs<=", 5.0), ("abs<=", 6.0)),
             ("ct.noise.percent", None): (("<", 0.35), ("<", 0.45)),
             ("ct.low_contrast.detectability_mm", None): (("<", 2.5), ("<", 3.0)),
             ("ct.line_pairs.limiting_lp_per_cm", "conventional"): ((">", 6.0), (">", 5.0)),
             ("ct.line_pairs.limiting_lp_per_cm", "high_resolution"): ((">", 11.0), (">", 10.0)),
             ("ct.slice_thickness.deviation_mm", "nominal_above_2mm"): (("abs<=", 1.0), ("abs<=", 1.0)),
             ("ct.couch.position_error_mm", None): (("abs<=", 2.0), ("abs<=", 2.0))}
    for (metric, label), limits in table.items():
        for tt, (cmp_, lim) in zip(("acceptance", "status"), limits):
            r = _crit(p, metric, tt, label=label).rules[0]
            assert (r.compare, r.limit, r.reference) == (cmp_, lim, "none"), (metric, label, tt)
    acc_only = {("ct.slice_thickness.deviation_percent", "nominal_1_to_2mm"): 50.0,
                ("ct.slice_thickness.deviation_mm", "nominal_below_1mm"): 0.5,
                ("ct.linearity.max_abs_error_hu", None): 50.0}
    for (metric, label), lim in acc_only.items():
        assert _crit(p, metric, "acceptance", label=label).rules[0].limit == lim
        assert p.criteria_for(metric, label, "status") == []
    for metric, dev, lim in (("ct.water.mean_hu", "difference", 4.0),
                             ("ct.uniformity.max_abs_diff_hu", "difference", 2.0),
                             ("ct.noise.percent", "percent", 10.0),
                             ("ct.line_pairs.limiting_lp_per_cm", "percent", 15.0)):
        r = _crit(p, metric, "stability", label="conventional" if "line_pairs" in metric else None).rules[0]
        assert (r.reference, r.deviation, r.limit) == ("baseline", dev, lim), metric
    st = _crit(p, "ct.slice_thickness.mm", "stability")
    assert {(r.deviation, r.limit) for r in st.rules} == {("percent", 20.0), ("difference", 1.0)}
    ctdi = {tt: _crit(p, "ct.ctdi.ctdiw_mgy", tt, label="head").rules[0] for tt in TEST_TYPES}
    assert [(ctdi[t].reference, ctdi[t].limit) for t in TEST_TYPES] == [("spec", 15.0), ("spec", 20.0),
                                                                         ("baseline", 15.0)]
    # WS 519 gives the status and stability CTDIw limits for the head phantom only
    assert p.criteria_for("ct.ctdi.ctdiw_mgy", "body", "status") == []
    assert _crit(p, "ct.ctdi.ctdiw_mgy", "acceptance", label="body").rules[0].limit == 15.0
    # MTF has no WS 519 limit
    assert not any(c.metric.startswith("ct.mtf.") for c in p.criteria)


def test_acr_ct_limits_are_the_standards_md_values_and_unconfirmed():
    p = load_profile("acr-ct")
    ranges = {"Air": (-1005.0, -970.0), "Polyethylene": (-107.0, -84.0), "Water": (-7.0, 7.0),
              "Acrylic": (110.0, 135.0), "Bone": (850.0, 970.0)}
    for tt in ("acceptance", "status"):
        for label, (lo, hi) in ranges.items():
            r = _crit(p, "ct.linearity.mean_hu", tt, label=label).rules[0]
            assert (r.compare, r.low, r.high) == ("range", lo, hi), label
        assert _crit(p, "ct.water.mean_hu", tt).rules[0].high == 7.0
        assert _crit(p, "ct.uniformity.max_abs_diff_hu", tt).rules[0].limit == 5.0
        assert _crit(p, "ct.low_contrast.cnr", tt, label="0.6%_25mm").rules[0].limit == 1.0
        assert _crit(p, "ct.line_pairs.limiting_lp_per_cm", tt, label="conventional").rules[0].limit == 6.0
        assert _crit(p, "ct.slice_thickness.deviation_mm", tt, label="nominal_above_2mm").rules[0].limit == 1.5
    assert all(c.confirmed is False for c in p.criteria)  # STANDARDS.md section 6 is [R] throughout
    assert not any("stability" in c.test_types for c in p.criteria)


def test_unconfirmed_limits_are_flagged():
    p = load_profile("ws519-2019")
    for label in ("conventional", "high_resolution"):
        for tt in TEST_TYPES:
            assert _crit(p, "ct.line_pairs.limiting_lp_per_cm", tt, label=label).confirmed is False
    assert _crit(p, "ct.water.mean_hu", "acceptance").confirmed is True
    assert all(c.confirmed for c in p.criteria if c.metric != "ct.line_pairs.limiting_lp_per_cm")


def test_site_profile_extends_and_overrides(tmp_path):
    f = tmp_path / "site.toml"
    f.write_text('schema = "phantomqc.profile/1"\nid = "site"\nversion = "1"\ntitle = "Site"\nsource = "Site QC"\n'
                 'extends = "ws76-2020-dr"\n[[criterion]]\nmetric = "dr.response_uniformity.cv_percent"\n'
                 'test_type = "status"\ncompare = "<="\nlimit = 3.0\n', encoding="utf-8")
    p = load_profile(str(f))
    assert _crit(p, "dr.response_uniformity.cv_percent", "status").rules[0].limit == 3.0
    assert _crit(p, "dr.response_uniformity.cv_percent", "acceptance").rules[0].limit == 5.0
    assert p.chain == ("ws76-2020-dr",)


@pytest.mark.parametrize("body,needle", [
    ('id = "x"\nversion = "1"\ntitle = "t"\nsource = "s"\n', "'schema'"),
    ('schema = "phantomqc.profile/1"\nid = "x"\nversion = "1"\ntitle = "t"\nsource = "s"\n'
     '[[criterion]]\nmetric = "dr.nope.value"\ntest_type = "status"\ncompare = "<="\nlimit = 1\n', "unknown metric"),
    ('schema = "phantomqc.profile/1"\nid = "x"\nversion = "1"\ntitle = "t"\nsource = "s"\n'
     '[[criterion]]\nmetric = "dr.artifacts.count"\ntest_type = "annual"\ncompare = "<="\nlimit = 1\n', "test_type"),
    ('schema = "phantomqc.profile/1"\nid = "x"\nversion = "1"\ntitle = "t"\nsource = "s"\n'
     '[[criterion]]\nmetric = "dr.artifacts.count"\ntest_type = "status"\ncompare = "~"\nlimit = 1\n', "compare"),
])
def test_bad_profiles_name_the_file_and_field(tmp_path, body, needle):
    f = tmp_path / "bad.toml"
    f.write_text(body, encoding="utf-8")
    with pytest.raises(ProfileError) as ei:
        load_profile(str(f))
    assert needle in str(ei.value) and str(f) in str(ei.value)


def test_extends_cycle_is_an_error(tmp_path):
    head = 'schema = "phantomqc.profile/1"\nversion = "1"\ntitle = "t"\nsource = "s"\n'
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text(head + f'id = "a"\nextends = "{b.as_posix()}"\n', encoding="utf-8")
    b.write_text(head + f'id = "b"\nextends = "{a.as_posix()}"\n', encoding="utf-8")
    with pytest.raises(ProfileError, match="cycle"):
        load_profile(str(a))


def test_unknown_profile_lists_the_shipped_ones():
    with pytest.raises(ProfileError, match="ws76-2020-dr"):
        load_profile("no-such-profile")
