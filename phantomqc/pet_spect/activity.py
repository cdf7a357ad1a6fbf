"""Activity-based tests: gamma-camera planar sensitivity and count-rate performance (NEMA NU 1), PET SUV.

Pure functions on counts, seconds and activities. The runners turn the DICOM timing tags and the manifest's
activities and times into the elapsed seconds these functions take.

- :func:`decay_factor`, :func:`decay_average_factor`: A(t)/A(0) = exp(-lambda t) and the mean of it over an
  acquisition of length T, (1 - exp(-lambda T)) / (lambda T), with lambda = ln 2 / T_1/2.
- :func:`planar_sensitivity`: counts of a source image (less a background image's rate) over the decay-corrected
  activity and the duration, in cps/MBq.
- :func:`count_rate_dead_time`: the paralysable model R_obs = R_true exp(-R_true tau), R_true = s A, fitted to a
  series of observed rates at known activities; maximum observed rate and the rate at 20 % count loss.
- :func:`suv_body_weight`: body-weight SUV of a concentration from the injected dose decayed to the reference time.

References
----------
- NEMA NU 1-2018, *Performance Measurements of Gamma Cameras*, sections 3.2 (count-rate performance, decaying-source
  method) and 3.3 (system planar sensitivity).
- S. R. Cherry, J. A. Sorenson, M. E. Phelps, *Physics in Nuclear Medicine*, 4th ed. (2012), chapter 11.C (dead-time
  models: paralysable R_o = R_t exp(-R_t tau), maximum 1/(e tau) at R_t = 1/tau).
- QIBA FDG-PET/CT profile and the QIBA "SUV vendor-neutral pseudo-code" (2013): SUV_bw = C x weight / (dose x
  exp(-ln 2 (t_scan - t_inj) / T_1/2)), the scan reference time being (0008,0021/0031) Series Date/Time when
  (0054,1102) Decay Correction is START.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from phantomqc._shared.errors import AnalysisError, InputError, InvalidImageError
from phantomqc.core.types import Measurement, Quantity

__all__ = [
    "CountRateResult",
    "SensitivityResult",
    "count_rate_dead_time",
    "decay_average_factor",
    "decay_factor",
    "planar_sensitivity",
    "suv_body_weight",
]

#: Observed rate at 20 % count loss in units of 1/tau: R_t = -ln(0.8)/tau, R_o = 0.8 R_t.
_LOSS20_PER_INV_TAU = 0.8 * -math.log(0.8)


def _positive(name: str, value: float) -> float:
    v = float(value)
    if not (v > 0 and math.isfinite(v)):
        raise InputError(f"{name} must be a positive finite number, got {value!r}")
    return v


def decay_factor(elapsed_s: float | NDArray, half_life_s: float) -> float | NDArray:
    """Fraction of the activity left after ``elapsed_s`` seconds: exp(-ln 2 x elapsed / T_1/2).

    Parameters
    ----------
    elapsed_s : float or array
        Time since the reference (negative: before it, the factor is then > 1).
    half_life_s : float
        Physical half-life in seconds (Tc-99m 21624.9 s, F-18 6586.2 s).

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> round(decay_factor(6586.2, 6586.2), 12)
    0.5
    """
    lam = math.log(2.0) / _positive("half_life_s", half_life_s)
    return np.exp(-lam * np.asarray(elapsed_s, dtype=np.float64)) if np.ndim(elapsed_s) else \
        math.exp(-lam * float(elapsed_s))


def decay_average_factor(duration_s: float, half_life_s: float) -> float:
    """Mean activity over an acquisition of ``duration_s`` as a fraction of the activity at its start.

    Notes
    -----
    (1/T) integral_0^T exp(-lambda t) dt = (1 - exp(-lambda T)) / (lambda T), lambda = ln 2 / T_1/2 (NEMA NU 1-2018
    section 3.3: the decay during the acquisition). Computed with ``expm1`` so that it tends to 1 without
    cancellation for T << T_1/2.

    Examples
    --------
    >>> round(decay_average_factor(21624.9, 21624.9), 12)   # half a half-life lost: 0.5 / ln 2
    0.721347520444
    """
    t = float(duration_s)
    if not (t >= 0 and math.isfinite(t)):
        raise InputError(f"duration_s must be >= 0 and finite, got {duration_s!r}")
    x = math.log(2.0) / _positive("half_life_s", half_life_s) * t
    return 1.0 if x == 0 else -math.expm1(-x) / x


# ----------------------------------------------------------------------------------------------------------------
# planar sensitivity


@dataclass(frozen=True)
class SensitivityResult:
    """System planar sensitivity (id ``nm.sensitivity.cps_per_mbq``).

    ``sensitivity`` = ``net_rate_cps`` / ``mean_activity_mbq``; ``mean_activity_mbq`` = A(t_cal) exp(-lambda
    (t0 - t_cal)) (1 - exp(-lambda T)) / (lambda T): the activity averaged over the acquisition. The uncertainty is
    the Poisson one of the counts (source and background)."""

    sensitivity: Quantity
    counts: float
    background_cps: float
    net_rate_cps: float
    activity_at_start_mbq: float
    mean_activity_mbq: float
    duration_s: float
    half_life_s: float
    parameters: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def measurements(self) -> list[Measurement]:
        """``nm.sensitivity.cps_per_mbq``."""
        return [Measurement.of("nm.sensitivity.cps_per_mbq", self.sensitivity)]


def planar_sensitivity(image: NDArray, *, activity_mbq: float, elapsed_s: float, duration_s: float,
                       half_life_s: float, background: NDArray | None = None,
                       background_duration_s: float | None = None) -> SensitivityResult:
    """System planar sensitivity in cps/MBq from one static image of a source of known activity.

    Parameters
    ----------
    image : (y, x) array
        Counts of the source acquisition (whole field of view).
    activity_mbq : float
        Calibrated activity of the source (MBq) at the calibration time.
    elapsed_s : float
        Acquisition start minus the calibration time, in seconds.
    duration_s : float
        Acquisition duration (s), e.g. (0018,1242) Actual Frame Duration.
    half_life_s : float
        Half-life of the radionuclide (s).
    background : (y, x) array, optional
        A background acquisition without the source; its count rate is subtracted.
    background_duration_s : float, optional
        Its duration (s); required with ``background``.

    Returns
    -------
    SensitivityResult

    Notes
    -----
    NEMA NU 1-2018 section 3.3: S = R / A with the source's decay corrected to the calibration time and within the
    acquisition. Here the activity is carried to the acquisition instead, which is the same:

        A0 = A_cal exp(-lambda (t0 - t_cal)),    A_mean = A0 (1 - exp(-lambda T)) / (lambda T),
        S = (C / T - R_bg) / A_mean.

    Uncertainty: sqrt(C / T^2 + C_bg / T_bg^2) / A_mean (Poisson counts).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((10, 10), 900.0)  # 90 000 counts in 10 s from 100 MBq: 90 cps/MBq
    >>> r = planar_sensitivity(img, activity_mbq=100.0, elapsed_s=0.0, duration_s=10.0, half_life_s=1e12)
    >>> round(r.sensitivity.value, 6)
    90.0
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2 or img.size == 0:
        raise InvalidImageError(f"image must be a non-empty (y, x) count image, got shape {img.shape}")
    a_cal = _positive("activity_mbq", activity_mbq)
    t = _positive("duration_s", duration_s)
    t_half = _positive("half_life_s", half_life_s)
    el = float(elapsed_s)
    if not math.isfinite(el):
        raise InputError(f"elapsed_s must be finite, got {elapsed_s!r}")
    warnings: list[str] = []
    counts = float(img.sum())
    bg_rate, bg_var = 0.0, 0.0
    if background is not None:
        bg = np.asarray(background, dtype=np.float64)
        if bg.shape != img.shape:
            raise InvalidImageError(f"background has shape {bg.shape}, the source image {img.shape}: give a background "
                                    "acquisition of the same matrix")
        if background_duration_s is None:
            raise InputError("background_duration_s is required with a background image")
        tb = _positive("background_duration_s", background_duration_s)
        bg_rate, bg_var = float(bg.sum()) / tb, float(bg.sum()) / tb**2
    if el < 0:
        warnings.append(f"the acquisition starts {-el:.0f} s before the activity calibration time")
    a0 = a_cal * decay_factor(el, t_half)
    a_mean = a0 * decay_average_factor(t, t_half)
    net = counts / t - bg_rate
    if net <= 0:
        raise AnalysisError(f"planar_sensitivity: the net count rate is {net:.4g} cps (source {counts / t:.4g} cps, "
                            f"background {bg_rate:.4g} cps): the source image holds no counts above background")
    u = math.sqrt(counts / t**2 + bg_var) / a_mean
    return SensitivityResult(
        sensitivity=Quantity(net / a_mean, "cps/MBq", u), counts=counts, background_cps=bg_rate, net_rate_cps=net,
        activity_at_start_mbq=a0, mean_activity_mbq=a_mean, duration_s=t, half_life_s=t_half,
        parameters={"activity_mbq": a_cal, "elapsed_s": el, "duration_s": t, "half_life_s": t_half,
                    "background": background is not None},
        warnings=tuple(warnings))


# ----------------------------------------------------------------------------------------------------------------
# count rate


@dataclass(frozen=True)
class CountRateResult:
    """Paralysable dead-time fit of a count-rate series.

    Ids: ``nm.count_rate.max_kcps`` (label ``fit``: 1/(e tau) of the fitted model; label ``measured``: the largest
    observed rate of the series), ``nm.count_rate.loss20_kcps`` (observed rate at 20 % count loss, 0.8 (-ln 0.8) /
    tau, from the fit) and ``nm.count_rate.dead_time_us`` (tau). ``sensitivity_cps_per_mbq`` is the fitted s of
    R_true = s A. The per-point rates, activities and model values are kept for the figure."""

    max_fit_kcps: Quantity
    max_measured_kcps: Quantity
    loss20_kcps: Quantity
    dead_time_us: Quantity
    sensitivity_cps_per_mbq: Quantity
    activity_mbq: np.ndarray = field(repr=False)
    observed_cps: np.ndarray = field(repr=False)
    model_cps: np.ndarray = field(repr=False)
    max_loss_percent: float = 0.0
    parameters: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def measurements(self) -> list[Measurement]:
        """``nm.count_rate.max_kcps`` (fit, measured), ``loss20_kcps``, ``dead_time_us``."""
        return [Measurement.of("nm.count_rate.max_kcps", self.max_fit_kcps, label="fit"),
                Measurement.of("nm.count_rate.max_kcps", self.max_measured_kcps, label="measured"),
                Measurement.of("nm.count_rate.loss20_kcps", self.loss20_kcps),
                Measurement.of("nm.count_rate.dead_time_us", self.dead_time_us)]


def count_rate_dead_time(observed_cps: Sequence[float], activity_mbq: Sequence[float], *,
                         counts: Sequence[float] | None = None) -> CountRateResult:
    """Fit the paralysable dead-time model to observed count rates at known activities.

    Parameters
    ----------
    observed_cps : sequence of float
        Observed count rate of each acquisition (counts / duration), cps.
    activity_mbq : sequence of float
        The source's activity during each acquisition (MBq), decay-corrected to the acquisition (mean over it).
    counts : sequence of float, optional
        Total counts of each acquisition, for the Poisson weights; default: equal weights.

    Returns
    -------
    CountRateResult

    Notes
    -----
    Model (paralysable, NEMA NU 1-2018 section 3.2; Cherry, Sorenson & Phelps ch. 11): R_o = R_t exp(-R_t tau) with
    R_t = s A. Taking logs makes it linear in (ln s, s tau):

        ln(R_o / A) = ln s - (s tau) A,

    solved by weighted least squares with weights C_i (var ln R_o = 1 / C_i for Poisson counts). Then

    - maximum observed rate of the model: 1 / (e tau), reached at R_t = 1/tau;
    - 20 % count loss: exp(-R_t tau) = 0.8, so R_t = -ln(0.8)/tau and R_o = 0.8 (-ln 0.8)/tau = 0.1785/tau.

    Uncertainties propagate the weighted fit's covariance (scaled by the reduced chi-square when it exceeds 1).
    The model's maximum is an extrapolation when the series stays below it: a warning says so, and the
    ``measured`` label reports the largest observed rate.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([10.0, 50, 100, 200, 300]); s, tau = 1000.0, 2e-6
    >>> r = count_rate_dead_time(s * a * np.exp(-s * a * tau), a)
    >>> round(r.dead_time_us.value, 6), round(r.max_fit_kcps.value, 3)
    (2.0, 183.94)
    """
    r = np.asarray(observed_cps, dtype=np.float64).ravel()
    a = np.asarray(activity_mbq, dtype=np.float64).ravel()
    if r.size != a.size:
        raise InputError(f"observed_cps has {r.size} values for {a.size} activities: give one activity per image")
    if r.size < 3:
        raise InputError(f"count_rate_dead_time needs at least 3 acquisitions (2 fitted parameters), got {r.size}")
    if not (np.all(r > 0) and np.all(a > 0) and np.all(np.isfinite(r)) and np.all(np.isfinite(a))):
        raise InputError("observed_cps and activity_mbq must be positive and finite; an image without counts or a "
                         "zero activity cannot be fitted")
    if np.ptp(a) <= 0:
        raise InputError("the activities are all equal: the count-rate series needs different activities")
    w = np.ones_like(r) if counts is None else np.asarray(counts, dtype=np.float64).ravel()
    if w.size != r.size or not np.all(w > 0):
        raise InputError(f"counts must hold {r.size} positive values (one per image), got {counts!r}")
    y = np.log(r / a)
    design = np.column_stack([np.ones_like(a), -a])
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(design * sw[:, None], y * sw, rcond=None)
    ln_s, s_tau = (float(c) for c in coef)
    warnings: list[str] = []
    if not s_tau > 0:
        raise AnalysisError(f"count_rate_dead_time: the fitted count loss s x tau = {s_tau:.3g} /MBq is not positive: "
                            "the series shows no dead-time losses; extend it to higher activities")
    s = math.exp(ln_s)
    tau = s_tau / s
    resid = y - design @ coef
    dof = r.size - 2
    cov = np.linalg.inv(design.T @ (design * w[:, None]))
    chi2 = float(np.sum(w * resid**2) / dof) if dof > 0 else 0.0
    if counts is None or chi2 > 1.0:
        cov = cov * (chi2 if dof > 0 else 0.0)
    # tau = s_tau exp(-ln_s): d tau / d ln_s = -tau, d tau / d s_tau = 1/s
    grad = np.array([-tau, 1.0 / s])
    u_tau = math.sqrt(max(float(grad @ cov @ grad), 0.0))
    model = s * a * np.exp(-s * a * tau)
    loss = 1.0 - r / (s * a)
    if float(np.max(s * a * tau)) < 1.0:
        warnings.append(f"the series reaches R_true tau = {float(np.max(s * a * tau)):.2f} < 1: the maximum count rate "
                        "1/(e tau) is extrapolated beyond the measured activities")
    if float(np.max(loss)) < 0.2:
        warnings.append(f"the largest count loss measured is {100 * float(np.max(loss)):.1f} %: the 20 % loss rate is "
                        "extrapolated")
    rel = u_tau / tau
    max_fit = 1.0 / (math.e * tau) / 1000.0
    loss20 = _LOSS20_PER_INV_TAU / tau / 1000.0
    i_max = int(np.argmax(r))
    u_max_meas = float(r[i_max] / math.sqrt(w[i_max])) / 1000.0 if counts is not None else None  # R / sqrt(C)
    return CountRateResult(
        max_fit_kcps=Quantity(max_fit, "kcps", rel * max_fit),
        max_measured_kcps=Quantity(float(r[i_max]) / 1000.0, "kcps", u_max_meas),
        loss20_kcps=Quantity(loss20, "kcps", rel * loss20),
        dead_time_us=Quantity(tau * 1e6, "us", u_tau * 1e6),
        sensitivity_cps_per_mbq=Quantity(s, "cps/MBq", s * math.sqrt(max(float(cov[0, 0]), 0.0))),
        activity_mbq=a, observed_cps=r, model_cps=model, max_loss_percent=float(np.max(loss)) * 100.0,
        parameters={"model": "paralysable", "fit": "weighted linear least squares on ln(R/A)",
                    "weights": "counts" if counts is not None else "equal", "reduced_chi2": chi2},
        warnings=tuple(warnings))


# ----------------------------------------------------------------------------------------------------------------
# SUV


def suv_body_weight(concentration_bq_per_ml: float, *, injected_dose_bq: float, elapsed_s: float,
                    half_life_s: float, weight_kg: float) -> float:
    """Body-weight SUV of an activity concentration.

    Parameters
    ----------
    concentration_bq_per_ml : float
        Measured concentration (Bq/ml), decay-corrected to the reference time.
    injected_dose_bq : float
        (0018,1074) Radionuclide Total Dose at the (0018,1078) Radiopharmaceutical Start DateTime.
    elapsed_s : float
        Reference time of the image's decay correction (Series Date/Time for START) minus the start time.
    half_life_s : float
        (0018,1075) Radionuclide Half Life.
    weight_kg : float
        (0010,1030) Patient Weight; for a phantom, the mass of its water (1 g/ml).

    Returns
    -------
    float
        SUV = C / (D exp(-lambda elapsed) / (1000 weight)), unitless (g/ml taken as 1).

    Notes
    -----
    QIBA SUV vendor-neutral pseudo-code. A uniform phantom of volume V ml filled with the dose D, with weight V/1000
    kg, gives SUV = 1 by construction; its departure from 1 is the scanner's calibration error.

    Examples
    --------
    >>> round(suv_body_weight(10000.0, injected_dose_bq=6.0e7, elapsed_s=0.0, half_life_s=6586.2, weight_kg=6.0), 9)
    1.0
    """
    c = float(concentration_bq_per_ml)
    dose = _positive("injected_dose_bq", injected_dose_bq)
    w = _positive("weight_kg", weight_kg)
    return c / (dose * decay_factor(float(elapsed_s), half_life_s) / (w * 1000.0))
