"""Signal transfer property (WS 76-2020, DR part): fit mean PV against air kerma and report R^2.

Model selection for ``response = "auto"``
-----------------------------------------
All three models (linear P = aK + b, log P = A + B ln K, power P = c K^g) have two parameters, so the
information criteria (AIC, BIC) reduce to comparing residual sums of squares in the PV domain: the best
supported model is the one with the smallest RSS, i.e. the highest R^2. Linear is the default response of
for-processing DR data (IEC 62220-1 linearised data), so it is kept unless another model is better by a
margin that is both

1. statistically supported: Delta AIC = n ln(RSS_linear / RSS_other) > 2 (Burnham & Anderson, *Model
   Selection and Multimodel Inference*, 2002: Delta < 2 means "substantial support" for both models), and
2. practically relevant: R^2_other - R^2_linear > 0.001, one unit in the third decimal of R^2 (the limits
   0.95 and 0.98 are given to two decimals), so that numerically negligible gains never switch the model.

Among the non-linear models that pass both tests, the one with the higher R^2 is chosen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from phantomqc._shared.errors import InputError
from phantomqc.core.registry import TestOutput
from phantomqc.core.roi import RectROI
from phantomqc.core.types import ImageData, Measurement, Quantity
from phantomqc.core.visuals import Curve, Plot
from phantomqc.dr._common import as_image_list, central_roi, check_dr_images, roi_mean_sd, spacing_list

__all__ = ["ModelFit", "SignalTransferResult", "fit_signal_transfer", "signal_transfer", "run", "MODELS",
           "AUTO_DELTA_AIC", "AUTO_MIN_R2_GAIN"]

MODELS = ("linear", "log", "power")
AUTO_DELTA_AIC = 2.0
AUTO_MIN_R2_GAIN = 0.001


@dataclass(frozen=True)
class ModelFit:
    """One fitted model. ``params``: linear {a, b}; log {A, B}; power {c, g}. R^2 and RSS in the PV domain."""

    model: str
    params: dict
    r_squared: float
    rss: float
    predicted_pv: tuple[float, ...]

    def predict(self, kerma_uGy: NDArray) -> NDArray:
        k = np.asarray(kerma_uGy, dtype=np.float64)
        p = self.params
        if self.model == "linear":
            return p["a"] * k + p["b"]
        if self.model == "log":
            return p["A"] + p["B"] * np.log(k)
        return p["c"] * np.power(k, p["g"])

    def to_kerma(self, pv: NDArray) -> NDArray:
        """The inverse conversion function: air kerma (uGy) from pixel values, as float32.

        IEC 62220-1-1 linearises images with it before MTF, NNPS and DQE: linear K = (P - b)/a, log
        K = exp((P - A)/B), power K = (P/c)^(1/g). Pixel values outside the model's domain give NaN.
        """
        x = np.asarray(pv, dtype=np.float64)
        p = self.params
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            if self.model == "linear":
                k = (x - p["b"]) / p["a"]
            elif self.model == "log":
                k = np.exp((x - p["A"]) / p["B"])
            else:
                k = np.power(np.where(x > 0, x / p["c"], np.nan), 1.0 / p["g"])
        return k.astype(np.float32)


@dataclass(frozen=True)
class SignalTransferResult:
    """``r_squared`` is the R^2 of the ``model`` used (chosen or given); ``fits`` holds every model that
    could be fitted."""

    r_squared: Quantity
    model: str
    response: str
    fits: dict
    kerma_uGy: tuple[float, ...]
    mean_pv: tuple[float, ...]
    rois: tuple[RectROI, ...]
    roi_size_mm: float
    selection_rule: str
    warnings: tuple[str, ...] = field(default_factory=tuple)


def _r_squared(p: NDArray, phat: NDArray) -> tuple[float, float]:
    rss = float(np.sum((p - phat) ** 2))
    tss = float(np.sum((p - p.mean()) ** 2))
    return (1.0 - rss / tss if tss > 0 else float("nan")), rss


def _fit(model: str, k: NDArray, p: NDArray) -> ModelFit:
    if model == "linear":
        a, b = np.polyfit(k, p, 1)
        params = {"a": float(a), "b": float(b)}
        phat = a * k + b
    elif model == "log":
        B, A = np.polyfit(np.log(k), p, 1)
        params = {"A": float(A), "B": float(B)}
        phat = A + B * np.log(k)
    else:
        g, lnc = np.polyfit(np.log(k), np.log(p), 1)
        params = {"c": float(math.exp(lnc)), "g": float(g)}
        phat = math.exp(lnc) * np.power(k, g)
    r2, rss = _r_squared(p, phat)
    return ModelFit(model, params, r2, rss, tuple(float(v) for v in phat))


def _choose(fits: dict, n: int) -> str:
    if "linear" not in fits:
        return max(fits, key=lambda m: fits[m].r_squared)
    lin = fits["linear"]
    best = "linear"
    for m in ("log", "power"):
        f = fits.get(m)
        if f is None:
            continue
        if lin.rss <= 0:
            continue
        daic = math.inf if f.rss <= 0 else n * math.log(lin.rss / f.rss)
        if daic > AUTO_DELTA_AIC and f.r_squared - lin.r_squared > AUTO_MIN_R2_GAIN:
            if best == "linear" or f.r_squared > fits[best].r_squared:
                best = m
    return best


SELECTION_RULE = (f"auto: linear unless another model has Delta AIC = n ln(RSS_lin/RSS) > {AUTO_DELTA_AIC:g} "
                  f"and R^2 higher by more than {AUTO_MIN_R2_GAIN:g}; then the highest R^2 of those")


def fit_signal_transfer(kerma_uGy: Sequence[float], mean_pv: Sequence[float], *,
                        response: str = "auto") -> tuple[str, dict, list[str]]:
    """Fit the three response models to (kerma, PV) pairs and choose one.

    Returns ``(model, fits, warnings)``. Raises ``ValueError`` when fewer than 3 distinct kerma values are
    given, or when ``response`` is 'log' or 'power' and a kerma (or, for power, a PV) is not > 0.
    """
    if response not in ("auto",) + MODELS:
        raise ValueError(f"response must be one of auto, linear, log, power; got {response!r}")
    k = np.asarray(kerma_uGy, dtype=np.float64)
    p = np.asarray(mean_pv, dtype=np.float64)
    if k.shape != p.shape or k.ndim != 1:
        raise ValueError(f"air_kerma_uGy and mean_pv must be 1-D of equal length, got {k.shape} and {p.shape}")
    if not np.all(np.isfinite(k)):
        raise ValueError(f"air_kerma_uGy must be finite, got {k.tolist()}")
    if np.unique(k).size < 3:
        raise ValueError(f"the signal transfer fit needs at least 3 distinct air kerma values, got {k.tolist()} uGy; "
                         f"WS 76-2020 uses about 1, 5, 10, 20 and 30 uGy")
    warnings: list[str] = []
    wanted = MODELS if response == "auto" else (response,)
    fits: dict[str, ModelFit] = {}
    for m in wanted:
        if m in ("log", "power") and np.any(k <= 0):
            msg = f"the {m} model needs every air kerma > 0 uGy, got {k.tolist()}"
            if response == m:
                raise ValueError(msg)
            warnings.append(msg + f"; the {m} model is not fitted")
            continue
        if m == "power" and np.any(p <= 0):
            msg = f"the power model needs every mean PV > 0, got {p.tolist()} (subtract no offset that makes PV <= 0)"
            if response == m:
                raise ValueError(msg)
            warnings.append(msg + "; the power model is not fitted")
            continue
        fits[m] = _fit(m, k, p)
    model = _choose(fits, k.size) if response == "auto" else response
    kmin, kmax = float(k.min()), float(k.max())
    if kmin > 2.0 or kmax < 20.0:
        warnings.append(f"the air kerma values span {kmin:g} to {kmax:g} uGy; WS 76-2020 asks for about 1 to 30 uGy "
                        f"(1, 5, 10, 20, 30), so R^2 over this range may not be comparable with the limits")
    return model, fits, warnings


def signal_transfer(images: NDArray | list[NDArray], spacing_mm, air_kerma_uGy: Sequence[float], *,
                    response: str = "auto", roi_size_mm: float = 100.0) -> SignalTransferResult:
    """Signal transfer property: mean PV of the central ROI of each flat field against air kerma.

    Parameters
    ----------
    images : list of ndarray or ndarray (n, y, x)
        For-processing flat fields, one per air kerma (at least 3 distinct kerma values).
    spacing_mm : (float, float) or list of them
        Pixel spacing (row, column) in mm.
    air_kerma_uGy : list of float
        Dosimeter air kerma of each image, uGy.
    response : {'auto', 'linear', 'log', 'power'}
        The detector response model, or 'auto' (see the module docstring for the rule).
    roi_size_mm : float
        Side of the central ROI (WS 76-2020: 100 mm).

    Returns
    -------
    SignalTransferResult

    Notes
    -----
    linear: P = aK + b (least squares); log: P = A + B ln K (least squares in ln K); power: ln P = ln c + g ln K
    (least squares in log-log), prediction c K^g. For every model R^2 = 1 - sum (P_i - P^_i)^2 / sum (P_i - P)^2
    in the PV domain.
    """
    arrays = as_image_list(images)
    n = len(arrays)
    if len(air_kerma_uGy) != n:
        raise ValueError(f"air_kerma_uGy must have one value per image ({n}), got {len(air_kerma_uGy)}")
    spacings = spacing_list(spacing_mm, n)
    rois, pv = [], []
    for i, (a, sp) in enumerate(zip(arrays, spacings)):
        roi = central_roi(a.shape, sp, roi_size_mm, name=f"central {roi_size_mm:g} mm #{i + 1}")
        rois.append(roi)
        pv.append(roi_mean_sd(a, roi)[0])
    model, fits, warnings = fit_signal_transfer(air_kerma_uGy, pv, response=response)
    return SignalTransferResult(r_squared=Quantity(fits[model].r_squared, "1"), model=model, response=response,
                                fits=fits, kerma_uGy=tuple(float(v) for v in air_kerma_uGy), mean_pv=tuple(pv),
                                rois=tuple(rois), roi_size_mm=float(roi_size_mm),
                                selection_rule=SELECTION_RULE if response == "auto" else f"given: {response}",
                                warnings=tuple(warnings))


def _fit_plot(res: SignalTransferResult) -> Plot:
    k = np.asarray(res.kerma_uGy)
    curves = [Curve(k, np.asarray(res.mean_pv), label="mean PV (central ROI)", style="points")]
    lo = max(float(k.min()) * 0.9, 1e-6) if k.min() > 0 else float(k.min())
    grid = np.linspace(lo, float(k.max()) * 1.05, 200)
    for m, f in res.fits.items():
        g = grid if m == "linear" else grid[grid > 0]
        mark = " (chosen)" if m == res.model else ""
        curves.append(Curve(g, f.predict(g), label=f"{m}: R² = {f.r_squared:.4f}{mark}"))
    return Plot(title="Signal transfer property", curves=tuple(curves), x_label="air kerma (µGy)",
                y_label="mean pixel value", notes=(res.selection_rule,))


def run(images: list[ImageData], params: dict) -> TestOutput:
    """Runner for the manifest kind ``dr.signal_transfer``."""
    warnings = check_dr_images(images, "dr.signal_transfer")
    kerma = params.get("air_kerma_uGy")
    if kerma is None:
        raise InputError("dr.signal_transfer needs air_kerma_uGy (one dosimeter reading per image) in the manifest",
                         path=images[0].meta.path)
    response = params.get("response", "auto") or "auto"
    roi_size_mm = float(params.get("roi_size_mm", 100.0))
    try:
        res = signal_transfer([im.pixels for im in images], [im.spacing_mm for im in images], list(kerma),
                              response=response, roi_size_mm=roi_size_mm)
    except ValueError as exc:
        raise InputError(f"dr.signal_transfer: {exc}", path=images[0].meta.path) from exc
    warnings += list(res.warnings)
    fits = {m: {"r_squared": f.r_squared, "rss_pv2": f.rss, **f.params} for m, f in res.fits.items()}
    return TestOutput(
        measurements=(Measurement.of("dr.signal_transfer.r_squared", res.r_squared, label=res.model),),
        details=res, visuals=(_fit_plot(res),), warnings=tuple(warnings),
        parameters={"response": response, "model": res.model, "selection_rule": res.selection_rule,
                    "roi_size_mm": roi_size_mm, "air_kerma_uGy": list(res.kerma_uGy),
                    "mean_pv": list(res.mean_pv), "fits": fits},
        analyzer="dr.signal_transfer")
