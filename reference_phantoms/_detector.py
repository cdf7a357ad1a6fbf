"""A simple flat-panel detector model with exactly known response, noise and blur.

Model
-----
For air kerma K (uGy) at a pixel, gain map g (1 by default) and offset O (PV):

- response ``linear``: S(K) = gain x K
- response ``log``:    S(K) = A x ln(max(K, K0) / K0)      (floor at K0 = 0.05 uGy: S = 0 below it)
- response ``power``:  S(K) = c x K^gamma
- noise-free pixel value  P = O + g x S(K)
- quantum noise (white, Gaussian approximation of Poisson): the kerma a pixel of area a^2 records has
  variance K / (q_eff a^2), q_eff = efficiency x q (q = 30174 quanta / (uGy mm^2) for RQA5,
  efficiency 0.6 by default, a DQE(0)-like factor). Propagated through the response:
  var_q = (g S'(K))^2 K / (q_eff a^2); for a linear detector var_q = (g gain)^2 K / (q_eff a^2).
- electronic noise: white, SD sigma_e (PV), independent of K.
- stored value = round((P + noise - intercept) / slope), clipped to the dtype range; PV = stored x slope +
  intercept. Rounding adds variance slope^2 / 12 (exact for noise SD >> slope).

Blur: the presampling PSF is an anisotropic Gaussian (sigma_x_mm, sigma_y_mm) convolved with the square
pixel aperture (100 % fill factor). It is applied analytically to the phantom's kerma pattern by the
renderers in ``reference_phantoms.dr``; the noise is white (not blurred), so the NNPS is flat.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.special import ndtr

__all__ = ["DetectorModel", "DETECTOR_3000", "DETECTOR_2048", "RQA5_Q_PER_UGY_MM2", "detector_preset",
           "Rendered", "render", "aperture_blurred_interval", "F1"]

RQA5_Q_PER_UGY_MM2 = 30174.0
"""IEC 62220-1-1 photon fluence per air kerma for RQA5, 1 / (mm^2 uGy)."""

_DTYPES = {"uint16": np.uint16, "int16": np.int16}


@dataclass(frozen=True)
class DetectorModel:
    """A flat-panel detector: geometry, response, noise, blur and stored dtype (see the module docstring)."""

    shape: tuple[int, int] = (3000, 3000)
    pitch_mm: float = 0.139
    response: str = "linear"
    offset_pv: float = 100.0
    offset_ramp_pv: float = 0.0
    gain_pv_per_uGy: float = 400.0
    log_a_pv: float = 1000.0
    log_k0_uGy: float = 0.05
    power_c_pv: float = 400.0
    power_gamma: float = 0.85
    q_per_uGy_mm2: float = RQA5_Q_PER_UGY_MM2
    efficiency: float = 0.6
    sigma_e_pv: float = 3.0
    sigma_x_mm: float = 0.05
    sigma_y_mm: float = 0.07
    dtype: str = "uint16"
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0

    def __post_init__(self) -> None:
        if self.response not in ("linear", "log", "power"):
            raise ValueError(f"DetectorModel.response must be 'linear', 'log' or 'power'; received {self.response!r}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"DetectorModel.dtype must be 'uint16' or 'int16'; received {self.dtype!r}")
        if self.dtype == "uint16" and (self.rescale_slope != 1.0 or self.rescale_intercept != 0.0):
            raise ValueError("DetectorModel: uint16 data are written without rescale; use dtype='int16' for a "
                             f"rescale (received slope {self.rescale_slope}, intercept {self.rescale_intercept})")
        if self.pitch_mm <= 0 or min(self.shape) < 256:
            raise ValueError(f"DetectorModel: pitch_mm must be > 0 and shape at least 256 x 256; received "
                             f"{self.pitch_mm} mm, {self.shape}")

    # --- derived quantities -------------------------------------------------------------------------
    @property
    def spacing_mm(self) -> tuple[float, float]:
        return (self.pitch_mm, self.pitch_mm)

    @property
    def pixel_area_mm2(self) -> float:
        return self.pitch_mm * self.pitch_mm

    @property
    def q_eff_per_uGy_mm2(self) -> float:
        """Effective (detected) quanta per uGy per mm^2: efficiency x q."""
        return self.efficiency * self.q_per_uGy_mm2

    @property
    def nyquist_per_mm(self) -> float:
        return 1.0 / (2.0 * self.pitch_mm)

    @property
    def quantisation_var_pv2(self) -> float:
        return self.rescale_slope ** 2 / 12.0

    @property
    def stored_dtype(self) -> type:
        return _DTYPES[self.dtype]

    @property
    def pv_range(self) -> tuple[float, float]:
        info = np.iinfo(self.stored_dtype)
        return (info.min * self.rescale_slope + self.rescale_intercept,
                info.max * self.rescale_slope + self.rescale_intercept)

    def signal(self, kerma_uGy):
        """S(K): the noise-free signal above the offset, PV (works on scalars and arrays)."""
        k = np.asarray(kerma_uGy)
        if self.response == "linear":
            out = self.gain_pv_per_uGy * k
        elif self.response == "log":
            out = self.log_a_pv * np.log(np.maximum(k, self.log_k0_uGy) / self.log_k0_uGy)
        else:
            out = self.power_c_pv * np.power(np.maximum(k, 0.0), self.power_gamma)
        return out

    def quantum_var(self, kerma_uGy):
        """(S'(K))^2 K / (q_eff a^2): quantum-noise variance of the signal, PV^2, for unit gain map."""
        k = np.maximum(np.asarray(kerma_uGy), 0.0)
        qa = self.q_eff_per_uGy_mm2 * self.pixel_area_mm2
        if self.response == "linear":
            v = self.gain_pv_per_uGy ** 2 * k / qa
        elif self.response == "log":
            # S' = A / K above K0 (0 below): var = A^2 / (K q_eff a^2)
            above = k > self.log_k0_uGy
            v = np.where(above, self.log_a_pv ** 2 / np.where(above, k, 1.0) / qa, 0.0)
        else:
            g = self.power_gamma
            v = (self.power_c_pv * g) ** 2 * np.power(k, 2.0 * g - 1.0) / qa
        return v

    def offset_map(self) -> np.ndarray | float:
        """The offset, PV: a scalar, or a (1, x) row when ``offset_ramp_pv`` (peak to peak along x) is set."""
        if self.offset_ramp_pv == 0.0:
            return float(self.offset_pv)
        x = np.linspace(-0.5, 0.5, self.shape[1], dtype=np.float64)
        return (self.offset_pv + self.offset_ramp_pv * x).astype(np.float32)[None, :]

    def with_(self, **changes) -> DetectorModel:
        return replace(self, **changes)

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["shape"] = list(self.shape)
        d["q_eff_per_uGy_mm2"] = self.q_eff_per_uGy_mm2
        d["nyquist_per_mm"] = self.nyquist_per_mm
        return d


DETECTOR_3000 = DetectorModel(shape=(3000, 3000), pitch_mm=0.139)
DETECTOR_2048 = DetectorModel(shape=(2048, 2048), pitch_mm=0.2)


def detector_preset(detector: str | DetectorModel = "3000", dtype: str = "uint16", **changes) -> DetectorModel:
    """A preset detector ("3000": 3000 x 3000 at 0.139 mm, "2048": 2048 x 2048 at 0.2 mm) with a dtype.

    ``dtype="int16"`` stores with rescale slope 0.5 and intercept 1000 PV, so PV = 0.5 x stored + 1000.
    """
    if isinstance(detector, DetectorModel):
        base = detector
    elif str(detector) == "3000":
        base = DETECTOR_3000
    elif str(detector) == "2048":
        base = DETECTOR_2048
    else:
        raise ValueError(f"detector must be '3000', '2048' or a DetectorModel; received {detector!r}")
    if dtype == "int16":
        base = replace(base, dtype="int16", rescale_slope=0.5, rescale_intercept=1000.0)
    elif dtype == "uint16":
        base = replace(base, dtype="uint16", rescale_slope=1.0, rescale_intercept=0.0)
    else:
        raise ValueError(f"dtype must be 'uint16' or 'int16'; received {dtype!r}")
    return replace(base, **changes) if changes else base


@dataclass(frozen=True)
class Rendered:
    """One rendered image: stored values and the noise-free PV (float32) they came from."""

    stored: np.ndarray
    noise_free_pv: np.ndarray | float
    slope: float
    intercept: float

    @property
    def pv(self) -> np.ndarray:
        """The rescaled stored values, PV = stored x slope + intercept (float64)."""
        return self.stored.astype(np.float64) * self.slope + self.intercept


def render(det: DetectorModel, kerma_uGy, rng: np.random.Generator, *, gain=None, extra_pv=None,
           quantum_noise: bool = True) -> Rendered:
    """Noise-free PV and noisy stored values of a kerma pattern through the detector model.

    ``kerma_uGy`` is a scalar or an array of the detector shape (already blurred); ``gain`` a multiplicative
    map of the signal (scalar or broadcastable array); ``extra_pv`` a noise-free PV added to the mean
    without quantum noise (lag signal).
    """
    shape = det.shape
    k = kerma_uGy if np.isscalar(kerma_uGy) else np.asarray(kerma_uGy, dtype=np.float32)
    g = 1.0 if gain is None else gain
    s = det.signal(k)
    mean = det.offset_map() + (g * s if gain is not None else s)
    if extra_pv is not None:
        mean = mean + extra_pv
    var = det.sigma_e_pv ** 2
    if quantum_noise:
        qv = det.quantum_var(k)
        var = var + (qv if gain is None else (np.asarray(g, dtype=np.float32) ** 2) * qv)
    lo, hi = det.pv_range
    if float(np.min(mean)) < lo or float(np.max(mean)) > hi:
        raise ValueError(f"render: noise-free PV {float(np.min(mean)):.1f} .. {float(np.max(mean)):.1f} exceeds what "
                         f"{det.dtype} with slope {det.rescale_slope} and intercept {det.rescale_intercept} can "
                         f"store ({lo:.1f} .. {hi:.1f}); lower the kerma or the gain")
    mean = np.broadcast_to(np.asarray(mean, dtype=np.float32), shape)
    sd = np.sqrt(var).astype(np.float32) if isinstance(var, np.ndarray) else np.float32(np.sqrt(var))
    z = rng.standard_normal(shape, dtype=np.float32)
    z *= sd
    z += mean
    if det.rescale_intercept != 0.0:
        z -= np.float32(det.rescale_intercept)
    if det.rescale_slope != 1.0:
        z *= np.float32(1.0 / det.rescale_slope)
    np.rint(z, out=z)
    info = np.iinfo(det.stored_dtype)
    np.clip(z, info.min, info.max, out=z)
    stored = z.astype(det.stored_dtype)
    return Rendered(stored, mean, det.rescale_slope, det.rescale_intercept)


def F1(z):
    """Antiderivative of the standard normal CDF: F1(z) = z Phi(z) + phi(z)."""
    z = np.asarray(z, dtype=np.float64)
    return z * ndtr(z) + np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)


def aperture_blurred_interval(centres_mm: np.ndarray, lo_mm, hi_mm, sigma_mm: float,
                              aperture_mm: float) -> np.ndarray:
    """Indicator of [lo, hi] blurred by a Gaussian (sigma) and averaged over a pixel aperture, exactly.

    For a pixel centred at x of width a: (1/a) int_{x-a/2}^{x+a/2} [Phi((hi-u)/s) - Phi((lo-u)/s)] du
    = (s/a) [F1((hi-x+a/2)/s) - F1((hi-x-a/2)/s) - F1((lo-x+a/2)/s) + F1((lo-x-a/2)/s)].
    ``lo``/``hi`` may be arrays (several intervals, summed). Returns float64 of ``centres_mm``' shape.
    """
    x = np.asarray(centres_mm, dtype=np.float64)[:, None]
    lo = np.atleast_1d(np.asarray(lo_mm, dtype=np.float64))[None, :]
    hi = np.atleast_1d(np.asarray(hi_mm, dtype=np.float64))[None, :]
    s, a = float(sigma_mm), float(aperture_mm)
    if s <= 0:
        raise ValueError(f"sigma_mm must be > 0; received {sigma_mm}")
    h = a / 2.0
    out = np.zeros(x.shape[0], dtype=np.float64)
    # evaluate only where the pixel is near an interval edge; elsewhere the value is exactly 0 or 1
    margin = 9.0 * s + a
    for j in range(lo.shape[1]):
        l, r = lo[0, j], hi[0, j]
        inside = (x[:, 0] > l + margin) & (x[:, 0] < r - margin)
        near = ~inside & (x[:, 0] > l - margin) & (x[:, 0] < r + margin)
        out[inside] += 1.0
        xn = x[near, 0]
        out[near] += (s / a) * (F1((r - xn + h) / s) - F1((r - xn - h) / s)
                                - F1((l - xn + h) / s) + F1((l - xn - h) / s))
    return out
