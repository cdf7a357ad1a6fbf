"""Shipped profiles load, carry the seed's values, and `extends` merges as documented."""

import pytest

from phantomqc._shared.errors import ProfileError
from phantomqc.core.registry import all_metrics
from phantomqc.standards.profiles import list_profiles, load_profile


def _crit(profile, metric, test_type, label=None):
    cs = profile.criteria_for(metric, label, test_type)
    assert len(cs) == 1, (metric, test_type, [c.describe() for c in cs])
    return cs[0]


def test_every_shipped_profile_loads_and_names_known_metrics():
    metrics = all_metrics()
    ids = {p.id for p in list_profiles()}
    assert {"taiyuan-2024", "ws76-2020-dr", "ws519-2019-ct"} <= ids
    for p in list_profiles():
        assert p.criteria
        for c in p.criteria:
            assert c.metric in metrics


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
    expect = {"ct.couch.position_error_mm": ("abs<=", 2.0), "ct.water.mean_hu": ("abs<=", 6.0),
              "ct.uniformity.max_difference_hu": ("abs<=", 6.0), "ct.noise.percent": ("<", 0.45),
              "ct.high_contrast.lp_per_cm": (">", 5.0), "ct.low_contrast.detectability_mm": ("<", 3.0)}
    for metric, (cmp_, lim) in expect.items():
        c = _crit(p, metric, "status", label="conventional" if "high_contrast" in metric else None)
        assert (c.rules[0].compare, c.rules[0].limit) == (cmp_, lim), metric
        assert "太原" in c.source
    st = _crit(p, "ct.slice_thickness.deviation_mm", "status", label="nominal_above_2mm")
    assert (st.rules[0].compare, st.rules[0].limit) == ("abs<=", 1.0)


def test_unconfirmed_limits_are_flagged():
    p = load_profile("ws519-2019-ct")
    c = _crit(p, "ct.high_contrast.lp_per_cm", "acceptance", label="conventional")
    assert c.confirmed is False
    assert _crit(p, "ct.water.mean_hu", "acceptance").confirmed is True


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
