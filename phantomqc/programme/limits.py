"""A site's own tolerance and action levels: QATrack+'s four-limit model, as pure functions.

The levels are ``act_low ≤ tol_low ≤ tol_high ≤ act_high``; any may be absent (no limit on that side). The
quantity compared is the value itself (``mode = "absolute"``) or its deviation from the device's baseline in
percent (``mode = "percent"``: ``d = (x − b) / |b| · 100``). The state is

- ``ok``: ``tol_low ≤ d ≤ tol_high``;
- ``tolerance``: outside the tolerance levels but inside the action levels (look at it, keep scanning);
- ``action``: outside an action level (stop and act).

These sit beside the standards profile's verdicts, never in place of them: a site may be stricter than the
standard, and its own levels are reported as such (``origin = "site"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["FourLimits", "SiteCheck", "classify"]


@dataclass(frozen=True)
class FourLimits:
    mode: str = "absolute"  # absolute | percent
    act_low: float | None = None
    tol_low: float | None = None
    tol_high: float | None = None
    act_high: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("absolute", "percent"):
            raise ValueError(f"tolerance mode must be 'absolute' or 'percent', got {self.mode!r}")
        levels = [v for v in (self.act_low, self.tol_low, self.tol_high, self.act_high) if v is not None]
        if levels != sorted(levels):
            raise ValueError("the levels must satisfy act_low <= tol_low <= tol_high <= act_high, got "
                             f"{self.act_low}, {self.tol_low}, {self.tol_high}, {self.act_high}")
        if not levels:
            raise ValueError("a tolerance needs at least one level")

    def describe(self) -> str:
        q = "(x − baseline)/baseline %" if self.mode == "percent" else "x"
        f = lambda v: "−∞" if v is None else f"{v:g}"  # noqa: E731
        g = lambda v: "+∞" if v is None else f"{v:g}"  # noqa: E731
        return (f"site levels on {q}: tolerance [{f(self.tol_low)}, {g(self.tol_high)}], "
                f"action [{f(self.act_low)}, {g(self.act_high)}]")

    def to_dict(self) -> dict:
        return {"mode": self.mode, "act_low": self.act_low, "tol_low": self.tol_low, "tol_high": self.tol_high,
                "act_high": self.act_high}


@dataclass(frozen=True)
class SiteCheck:
    state: str  # ok | tolerance | action | not_evaluated
    compared: float | None  # the value or its percent deviation
    reason: str = ""


def classify(value: float | None, limits: FourLimits, baseline: float | None = None) -> SiteCheck:
    """The state of ``value`` against the four levels (see the module docstring)."""
    if value is None or not math.isfinite(value):
        return SiteCheck("not_evaluated", None, "no value")
    if limits.mode == "percent":
        if baseline is None:
            return SiteCheck("not_evaluated", None, "needs a baseline (the site's levels are in % of baseline)")
        if baseline == 0:
            return SiteCheck("not_evaluated", None, "the baseline is 0, so a percent deviation is undefined")
        d = (value - baseline) / abs(baseline) * 100.0
    else:
        d = float(value)
    if (limits.act_low is not None and d < limits.act_low) or (limits.act_high is not None and d > limits.act_high):
        return SiteCheck("action", d)
    if (limits.tol_low is not None and d < limits.tol_low) or (limits.tol_high is not None and d > limits.tol_high):
        return SiteCheck("tolerance", d)
    return SiteCheck("ok", d)
