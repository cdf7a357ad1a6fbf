"""Statistical process control for constancy checks: the individuals / moving-range chart and the Western
Electric rules. Pure NumPy: no I/O, no database, no plotting.

A daily or weekly QC value is one number per check, so the chart is the Shewhart chart for individual
measurements (the *I-chart*) with its companion moving-range chart (*MR-chart*), and the out-of-control
patterns are those of the Western Electric handbook. Everything here follows Montgomery's textbook.

Chart limits
------------
The series is split into *phases* at the indices given in ``phase_starts`` (the points where a new baseline
came into force, typically after a service event). Each phase gets its own limits, computed from its first
``n_limits`` points (the *limit window*; all the points of the phase when it is shorter, or when ``n_limits`` is
``None``):

- moving ranges ``MR_i = |x_i − x_{i−1}|`` for consecutive points *of the same phase* (the first point of a
  phase has no moving range: the range across a baseline change measures the change, not the noise);
- ``MR̄`` = the mean of the moving ranges inside the limit window (``n − 1`` of them for ``n`` points);
- centre line ``x̄`` = the mean of the limit window, or the value given in ``centres`` for that phase;
- ``σ̂ = MR̄ / d₂`` with ``d₂ = 1.128`` (the expected range of two normal observations, in units of σ);
- I-chart limits ``x̄ ± 3σ̂``; the 1σ and 2σ zones used by the rules are ``x̄ ± σ̂`` and ``x̄ ± 2σ̂``;
- MR-chart: centre ``MR̄``, upper limit ``D₄·MR̄ = 3.267·MR̄``, lower limit ``D₃·MR̄ = 0``.

The limits are those of a Phase I study on the window, applied unchanged to the rest of the phase (Phase II
monitoring), so a slow drift after the window is measured against the in-control state of the window. A phase
with fewer than two points has no moving range, hence no limits: its points are never flagged.

Western Electric rules
----------------------
Evaluated on the I-chart, within each phase, with the phase's own centre and σ̂:

1. one point beyond 3σ̂ (either side);
2. two of three consecutive points beyond 2σ̂, on the same side;
3. four of five consecutive points beyond 1σ̂, on the same side;
4. eight consecutive points on the same side of the centre line.

"Beyond kσ̂" means ``|x − x̄| > kσ̂``; a point exactly on the centre line is on neither side and breaks a run of
rule 4. A rule is flagged at the point that completes the pattern: that point is itself one of the points beyond
the zone (rules 2, 3) or the eighth point of the run (rule 4), and the window lies inside one phase. This is
the point where the pattern is first visible, so ``first_index`` is when an engineer looking at the chart every
day would first have seen it.

References
----------
.. [1] D. C. Montgomery, *Introduction to Statistical Quality Control*, 7th ed., Wiley, 2013: section 5.3.6
   (the Western Electric "sensitizing" rules) and section 6.4 (control charts for individual measurements:
   ``σ̂ = MR̄/d₂``, the MR chart with ``D₃ = 0``, ``D₄ = 3.267``; ``d₂``, ``D₄`` for ``n = 2`` from Appendix VI).
.. [2] Western Electric Company, *Statistical Quality Control Handbook*, 1956, section 1-B.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from phantomqc._shared.errors import InputError

__all__ = ["D2", "D4", "DEFAULT_N_LIMITS", "WE_RULES", "PhaseLimits", "SPCResult", "individuals_chart",
           "western_electric"]

#: d₂ for subgroups of n = 2 (a moving range of two consecutive points), Montgomery Appendix VI.
D2: float = 1.128
#: D₄ for n = 2: the MR chart's upper control limit is ``D4 * MR̄`` (D₃ = 0 so its lower limit is 0).
D4: float = 3.267
#: Points at the start of each phase that define its limits (the limit window), unless told otherwise.
DEFAULT_N_LIMITS: int = 20

#: The Western Electric rules, by number, as the chart legends name them.
WE_RULES: dict[int, str] = {
    1: "1 point beyond 3σ",
    2: "2 of 3 beyond 2σ, same side",
    3: "4 of 5 beyond 1σ, same side",
    4: "8 in a row on one side",
}


@dataclass(frozen=True)
class PhaseLimits:
    """The limits of one phase: points ``start`` .. ``stop - 1``; the first ``n_window`` define them."""

    start: int
    stop: int
    n_window: int
    centre: float
    sigma: float
    mr_bar: float

    @property
    def ucl(self) -> float:
        return self.centre + 3.0 * self.sigma

    @property
    def lcl(self) -> float:
        return self.centre - 3.0 * self.sigma

    @property
    def mr_ucl(self) -> float:
        return D4 * self.mr_bar


@dataclass(frozen=True)
class SPCResult:
    """An individuals / moving-range chart with its Western Electric flags.

    Every per-point array has the length of the series. ``rules[i, r - 1]`` is True when rule ``r`` fires at
    point ``i``; ``first_index[r]`` is the first such ``i`` (None when the rule never fires). Points of a phase
    without limits have NaN limits and no flag.
    """

    values: NDArray[np.float64]
    phase: NDArray[np.int64]              # phase number of each point (0-based)
    phases: tuple[PhaseLimits, ...]
    in_window: NDArray[np.bool_]          # the point is one of those that define its phase's limits
    centre: NDArray[np.float64]
    sigma: NDArray[np.float64]
    ucl: NDArray[np.float64]
    lcl: NDArray[np.float64]
    moving_range: NDArray[np.float64]     # NaN at the first point of each phase
    mr_centre: NDArray[np.float64]
    mr_ucl: NDArray[np.float64]
    mr_beyond_ucl: NDArray[np.bool_]
    rules: NDArray[np.bool_]              # shape (n, 4)
    first_index: dict[int, int | None]
    n_limits: int | None

    @property
    def phase_starts(self) -> tuple[int, ...]:
        return tuple(p.start for p in self.phases)

    def rules_at(self, i: int) -> tuple[int, ...]:
        """The numbers of the rules that fire at point ``i``."""
        return tuple(int(r) + 1 for r in np.flatnonzero(self.rules[i]))

    @property
    def flagged(self) -> NDArray[np.bool_]:
        """Points where any rule fires."""
        return self.rules.any(axis=1)


def _check_values(values: ArrayLike) -> NDArray[np.float64]:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise InputError(f"spc: 'values' must be one-dimensional, got shape {x.shape}")
    if x.size and not np.all(np.isfinite(x)):
        bad = np.flatnonzero(~np.isfinite(x))
        raise InputError(f"spc: 'values' must be finite, got NaN or inf at index {bad[:5].tolist()}; "
                         f"leave the points without a number out of the series")
    return x


def _check_starts(phase_starts: Sequence[int], n: int) -> list[int]:
    starts = sorted({int(s) for s in phase_starts} | {0})
    if starts and (starts[0] < 0 or starts[-1] > max(n - 1, 0)):
        raise InputError(f"spc: 'phase_starts' must lie in 0 .. {max(n - 1, 0)} (indices of the series), "
                         f"got {list(phase_starts)}")
    return starts


def individuals_chart(values: ArrayLike, *, phase_starts: Sequence[int] = (), n_limits: int | None = DEFAULT_N_LIMITS,
                      centres: Sequence[float | None] | None = None) -> SPCResult:
    """Individuals and moving-range chart with the Western Electric rules, limits restarting at each phase.

    Parameters
    ----------
    values : array_like of float, shape (n,)
        The series in time order; every value finite.
    phase_starts : sequence of int, optional
        Indices where a new phase begins (a baseline change). Index 0 always starts a phase.
    n_limits : int or None, optional
        How many points at the start of each phase define its limits (default 20). ``None``: every point of
        the phase. A phase shorter than ``n_limits`` uses all its points.
    centres : sequence of float or None, optional
        A centre line per phase (e.g. the baseline value) instead of the window mean; ``None`` entries keep the
        window mean.

    Returns
    -------
    SPCResult
        Limits per point and per phase, moving ranges, and the rule flags.

    Notes
    -----
    ``σ̂ = MR̄/d₂``, ``d₂ = 1.128``; I-chart ``x̄ ± 3σ̂``; MR chart upper limit ``3.267·MR̄`` [1]_. See the module
    docstring for the window and the rules.

    References
    ----------
    .. [1] D. C. Montgomery, *Introduction to Statistical Quality Control*, 7th ed., Wiley, 2013, section 6.4.

    Examples
    --------
    >>> r = individuals_chart([10.0, 10.2, 9.9, 10.1, 10.0, 13.0], n_limits=5)
    >>> round(r.phases[0].sigma, 4)   # MR̄ = (0.2 + 0.3 + 0.2 + 0.1) / 4 = 0.2
    0.1773
    >>> r.first_index[1]
    5
    """
    x = _check_values(values)
    n = x.size
    if n_limits is not None and (isinstance(n_limits, bool) or int(n_limits) < 2):
        raise InputError(f"spc: 'n_limits' must be at least 2 (a moving range needs two points) or None, "
                         f"got {n_limits!r}")
    starts = _check_starts(phase_starts, n) if n else [0]
    if centres is not None and len(centres) != len(starts):
        raise InputError(f"spc: 'centres' needs one entry per phase ({len(starts)}), got {len(centres)}")
    bounds = list(zip(starts, starts[1:] + [n]))

    phase = np.zeros(n, dtype=np.int64)
    in_window = np.zeros(n, dtype=bool)
    centre = np.full(n, np.nan)
    sigma = np.full(n, np.nan)
    mr = np.full(n, np.nan)
    mr_centre = np.full(n, np.nan)
    phases: list[PhaseLimits] = []
    for k, (a, b) in enumerate(bounds):
        phase[a:b] = k
        if b - a >= 2:
            mr[a + 1:b] = np.abs(np.diff(x[a:b]))
        w = (b - a) if n_limits is None else min(int(n_limits), b - a)
        in_window[a:a + w] = True
        if w >= 2:
            mr_bar = float(np.mean(mr[a + 1:a + w]))
            c = float(np.mean(x[a:a + w]))
            if centres is not None and centres[k] is not None:
                c = float(centres[k])
            s = mr_bar / D2
        else:
            mr_bar = c = s = float("nan")
        phases.append(PhaseLimits(a, b, w, c, s, mr_bar))
        centre[a:b], sigma[a:b], mr_centre[a:b] = c, s, mr_bar

    ucl, lcl = centre + 3.0 * sigma, centre - 3.0 * sigma
    mr_ucl = D4 * mr_centre
    with np.errstate(invalid="ignore"):
        mr_beyond = np.isfinite(mr) & np.isfinite(mr_ucl) & (mr > mr_ucl)
    rules = western_electric(x, centre, sigma, phase)
    first = {r: (int(np.flatnonzero(rules[:, r - 1])[0]) if rules[:, r - 1].any() else None) for r in WE_RULES}
    return SPCResult(values=x, phase=phase, phases=tuple(phases), in_window=in_window, centre=centre, sigma=sigma,
                     ucl=ucl, lcl=lcl, moving_range=mr, mr_centre=mr_centre, mr_ucl=mr_ucl,
                     mr_beyond_ucl=mr_beyond, rules=rules, first_index=first, n_limits=n_limits)


def _count_in_window(flag: NDArray[np.bool_], phase: NDArray[np.int64], m: int) -> NDArray[np.int64]:
    """For each i, how many of ``flag[i-m+1 .. i]`` are True, or -1 when that window crosses a phase start or
    runs off the start of the series."""
    n = flag.size
    out = np.full(n, -1, dtype=np.int64)
    if n < m:
        return out
    c = np.concatenate(([0], np.cumsum(flag, dtype=np.int64)))
    idx = np.arange(m - 1, n)
    counts = c[idx + 1] - c[idx + 1 - m]
    same_phase = phase[idx] == phase[idx - m + 1]
    out[idx] = np.where(same_phase, counts, -1)
    return out


def western_electric(values: ArrayLike, centre: ArrayLike, sigma: ArrayLike,
                     phase: ArrayLike | None = None) -> NDArray[np.bool_]:
    """The four Western Electric rules at every point.

    Parameters
    ----------
    values, centre, sigma : array_like of float, shape (n,)
        The series and, per point, its centre line and σ̂ (NaN where there are no limits: never flagged).
    phase : array_like of int, shape (n,), optional
        Phase number per point; a rule's window never spans two phases. Default: one phase.

    Returns
    -------
    ndarray of bool, shape (n, 4)
        Column ``r - 1`` is rule ``r`` (see the module docstring for the rules and where a rule is flagged).

    References
    ----------
    .. [1] D. C. Montgomery, *Introduction to Statistical Quality Control*, 7th ed., Wiley, 2013, section 5.3.6.
    """
    x = np.asarray(values, dtype=np.float64)
    c = np.asarray(centre, dtype=np.float64)
    s = np.asarray(sigma, dtype=np.float64)
    ph = np.zeros(x.size, dtype=np.int64) if phase is None else np.asarray(phase, dtype=np.int64)
    if not (x.shape == c.shape == s.shape == ph.shape) or x.ndim != 1:
        raise InputError(f"spc: values, centre, sigma and phase must be 1-D of one length, got shapes "
                         f"{x.shape}, {c.shape}, {s.shape}, {ph.shape}")
    ok = np.isfinite(c) & np.isfinite(s) & (s > 0)
    with np.errstate(invalid="ignore"):
        z = np.where(ok, (x - c) / np.where(ok, s, 1.0), 0.0)
    rules = np.zeros((x.size, 4), dtype=bool)
    rules[:, 0] = ok & (np.abs(z) > 3.0)
    for col, (k, m, need) in ((1, (2.0, 3, 2)), (2, (1.0, 5, 4))):
        for sign in (1.0, -1.0):
            beyond = ok & (sign * z > k)
            hit = (_count_in_window(beyond, ph, m) >= need) & beyond
            rules[:, col] |= hit
    for sign in (1.0, -1.0):
        side = ok & (sign * z > 0)
        rules[:, 3] |= _count_in_window(side, ph, 8) == 8
    return rules
