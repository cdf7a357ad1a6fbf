"""Individuals / moving-range chart and Western Electric rules (phantomqc.programme.spc).

Most series are hand-made: a limit window of alternating values with a known moving range, so the centre and σ̂
are exact, followed by the pattern under test. ``_series(pattern)`` builds them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from phantomqc._shared.errors import InputError
from phantomqc.programme.spc import D2, D4, individuals_chart, western_electric

# Limit window: 20 points alternating 10 ± 0.5612. Every moving range is 1.1224 (= 2 · 0.5612), so
# MR̄ = 1.1224 and σ̂ = MR̄ / 1.128 = 0.995035..., centre 10 exactly (10 pairs cancel).
_HALF = 0.5612
WINDOW = np.array([10.0 + _HALF * (1 if i % 2 == 0 else -1) for i in range(20)])
SIGMA = 2 * _HALF / D2
N_W = WINDOW.size


def _series(z_pattern) -> np.ndarray:
    """The window then points at ``10 + z·σ̂`` (z in units of the window's σ̂)."""
    return np.concatenate([WINDOW, 10.0 + SIGMA * np.asarray(z_pattern, dtype=float)])


def _first(values, rule, **kw):
    return individuals_chart(values, **kw).first_index[rule]


# --- limits ----------------------------------------------------------------------------------------------------


def test_sigma_is_mean_moving_range_over_d2_on_a_known_series():
    # x = 1, 3, 2, 6, 4: moving ranges 2, 1, 4, 2 -> MR̄ = 9/4 = 2.25; σ̂ = 2.25 / 1.128; centre 16/5 = 3.2
    r = individuals_chart([1.0, 3.0, 2.0, 6.0, 4.0], n_limits=None)
    ph = r.phases[0]
    assert ph.mr_bar == pytest.approx(2.25, abs=1e-12)  # exact arithmetic on small integers
    assert ph.sigma == pytest.approx(2.25 / 1.128, abs=1e-12)
    assert ph.centre == pytest.approx(3.2, abs=1e-12)
    assert ph.ucl == pytest.approx(3.2 + 3 * 2.25 / 1.128, abs=1e-12)
    assert ph.lcl == pytest.approx(3.2 - 3 * 2.25 / 1.128, abs=1e-12)
    assert ph.mr_ucl == pytest.approx(3.267 * 2.25, abs=1e-12)
    np.testing.assert_allclose(r.moving_range, [np.nan, 2, 1, 4, 2], equal_nan=True)


def test_limits_come_from_the_first_n_points_only():
    # window of 20 alternating points, then 10 points far away: the limits must not move
    x = np.concatenate([WINDOW, np.full(10, 50.0)])
    r = individuals_chart(x)  # default n_limits = 20
    assert r.phases[0].n_window == 20
    assert r.phases[0].centre == pytest.approx(10.0, abs=1e-12)
    assert r.phases[0].sigma == pytest.approx(SIGMA, rel=1e-12)
    assert r.in_window.sum() == 20 and r.in_window[:20].all()
    # with n_limits = None every point defines them, so the centre is the mean of all 30
    assert individuals_chart(x, n_limits=None).phases[0].centre == pytest.approx((200 + 500) / 30, rel=1e-12)


def test_phases_restart_limits_and_moving_ranges():
    a = WINDOW
    b = 100.0 + 2.0 * (WINDOW - 10.0)  # second phase: centre 100, twice the spread
    r = individuals_chart(np.concatenate([a, b]), phase_starts=[20])
    assert len(r.phases) == 2
    assert r.phases[1].centre == pytest.approx(100.0, abs=1e-9)
    assert r.phases[1].sigma == pytest.approx(2 * SIGMA, rel=1e-12)
    assert math.isnan(r.moving_range[20])  # no range across the baseline change
    assert not r.rules.any()  # the jump of 90 between phases is not a signal
    # the same data as one phase: the jump fires rule 1 at the first point of b
    assert individuals_chart(np.concatenate([a, b])).first_index[1] == 20


def test_given_centre_replaces_window_mean():
    r = individuals_chart(WINDOW, centres=[10.3])
    assert r.phases[0].centre == 10.3
    assert r.phases[0].sigma == pytest.approx(SIGMA, rel=1e-12)


# --- Western Electric rules: fire exactly where expected, not on a near miss ------------------------------------


def test_rule1_fires_at_the_point_beyond_3_sigma():
    assert _first(_series([0.5, -0.5, 3.05, 0.0]), 1) == N_W + 2
    assert _first(_series([0.5, -0.5, -3.05, 0.0]), 1) == N_W + 2
    assert _first(_series([0.5, -0.5, 2.95, 0.0]), 1) is None  # just inside


def test_rule2_two_of_three_beyond_2_sigma_same_side():
    assert _first(_series([0.3, 2.1, 0.3, 2.1, 0.0]), 2) == N_W + 3
    assert _first(_series([0.3, -2.1, -2.1, 0.0]), 2) == N_W + 2
    # near misses: 2 of 4 (not 2 of 3), opposite sides, or one of them at 1.9σ
    assert _first(_series([2.1, 0.3, 0.3, 2.1, 0.0]), 2) is None
    assert _first(_series([2.1, -2.1, 0.3, 0.0]), 2) is None
    assert _first(_series([2.1, 0.3, 1.9, 0.0]), 2) is None


def test_rule3_four_of_five_beyond_1_sigma_same_side():
    assert _first(_series([1.2, 1.2, 0.5, 1.2, 1.2, 0.0]), 3) == N_W + 4
    assert _first(_series([-1.2, -1.2, -1.2, -1.2, 0.0]), 3) == N_W + 3
    # near misses: 4 of 6, or 3 of 5
    assert _first(_series([1.2, 1.2, 0.5, 0.5, 1.2, 1.2, 0.0]), 3) is None
    assert _first(_series([1.2, 1.2, 0.5, 0.9, 1.2, 0.0]), 3) is None


def test_rule4_eight_in_a_row_on_one_side():
    assert _first(_series([0.2] * 8 + [-0.2]), 4) == N_W + 7
    # the window's last point (index 19) is below the centre, so it counts: the run of 8 below ends at N_W + 6
    assert _first(_series([-0.2] * 9), 4) == N_W + 6
    # near misses: seven in a row, or a point exactly on the centre line breaking the run
    assert _first(_series([0.2] * 7 + [-0.2] + [0.2] * 7), 4) is None
    assert _first(_series([0.2] * 4 + [0.0] + [0.2] * 4), 4) is None


def test_window_points_never_fire_rule4():
    # the alternating window itself never has two points on one side in a row
    assert not individuals_chart(WINDOW).rules.any()


def test_rules_do_not_span_a_phase_change():
    # seven points above at the end of phase 0, one above at the start of phase 1: no rule 4
    a = _series([0.2] * 7)
    b = WINDOW + 0.2 * SIGMA  # phase 1 begins above where phase 0's centre was
    x = np.concatenate([a, b])
    assert individuals_chart(x, phase_starts=[a.size]).first_index[4] is None
    assert individuals_chart(x).first_index[4] == a.size  # as one phase the run completes at the next point


def test_rules_at_lists_every_rule_of_a_point():
    r = individuals_chart(_series([2.5, 3.5]))
    assert r.rules_at(N_W + 1) == (1, 2)  # 3.5σ: beyond 3σ, and 2 of 2 beyond 2σ
    assert r.rules_at(N_W) == ()


def test_western_electric_ignores_points_without_limits():
    x = np.array([0.0, 5.0, 5.0, 5.0])
    rules = western_electric(x, np.full(4, np.nan), np.full(4, np.nan))
    assert not rules.any()


# --- false-alarm rate -------------------------------------------------------------------------------------------


def test_rule1_false_alarm_rate_on_normal_noise():
    """On in-control N(0, 1) data, rule 1 fires on 2Φ(−3) = 0.27 % of the points."""
    n = 10_000
    x = np.random.default_rng(20261123).standard_normal(n)
    r = individuals_chart(x, n_limits=None)  # limits from all 10 000 points: σ̂ is then precise
    p0 = 2 * norm.sf(3.0)  # 0.0026998
    # (a) The limits give the nominal rate. σ̂ = MR̄/d₂ is unbiased for normal data; its relative standard error
    # with 9 999 (correlated) moving ranges is about 0.0088 (measured over 300 seeds while writing this test;
    # CV of one MR is 0.756, sqrt(9999) ≈ 100, the lag-1 correlation inflates it by ~1.15). The rate at the
    # estimated limits, against the true N(0,1), then has a standard error of 2·3·φ(3)·0.0088 ≈ 2.3e-4.
    # Allow 3.29 of them (two-sided 0.1 %): |p_limits − p0| ≤ 7.7e-4. With σ̂ = MR̄ (d₂ forgotten) p_limits
    # would be 7e-4, with 2σ limits 0.046: both far outside.
    ph = r.phases[0]
    p_limits = norm.cdf(ph.lcl) + norm.sf(ph.ucl)
    assert abs(p_limits - p0) <= 3.29 * 2 * 3 * norm.pdf(3.0) * 0.0088
    # (b) The count of points beyond those limits is binomial(n, p_limits): allow 3.29 binomial standard
    # deviations (two-sided 0.1 %), sqrt(10 000 · 0.0027) ≈ 5.2 points, i.e. about ±17 of ~27.
    k = int(r.rules[:, 0].sum())
    assert abs(k - n * p_limits) <= 3.29 * math.sqrt(n * p_limits * (1 - p_limits))
    # and the count agrees with the points actually outside the drawn limits
    assert k == int(np.sum((x > ph.ucl) | (x < ph.lcl)))


# --- input checks ------------------------------------------------------------------------------------------------


def test_non_finite_values_are_refused_with_their_index():
    with pytest.raises(InputError, match=r"index \[2\]"):
        individuals_chart([1.0, 2.0, np.nan, 3.0])


def test_bad_n_limits_and_phase_starts_are_refused():
    with pytest.raises(InputError, match="n_limits"):
        individuals_chart([1.0, 2.0, 3.0], n_limits=1)
    with pytest.raises(InputError, match="phase_starts"):
        individuals_chart([1.0, 2.0, 3.0], phase_starts=[5])


def test_a_one_point_phase_has_no_limits_and_no_flags():
    r = individuals_chart(np.concatenate([WINDOW, [99.0]]), phase_starts=[20])
    assert math.isnan(r.phases[1].sigma)
    assert not r.rules[20].any()
    assert r.mr_ucl[0] == pytest.approx(D4 * 2 * _HALF, rel=1e-12)
