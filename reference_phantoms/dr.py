"""Reference DR phantoms (WS 76-2020 DR tests, IEC 62220-1-1) with exact ground truth.

Each ``*_phantom(det, rng, ...)`` generator is pure: it returns a :class:`PhantomSet` (arrays, manifest
tests, truth) and depends only on its arguments. Each ``make_*(out_dir, ...)`` writer writes the DICOM
files, ``truth.json`` and ``manifest.toml`` into ``out_dir`` and returns the manifest path.

Truth definitions (the contract the analyzers are tested against)
-----------------------------------------------------------------
All values are in rescaled PV (PV = stored x RescaleSlope + RescaleIntercept) and come from the
*noise-free* image (float32 noise-free PV, accumulated in float64) unless stated otherwise. ROIs are
``phantomqc.core.roi.rect_roi_mm`` rectangles (centre in mm from the top-left pixel centre; the image
centre is ((rows - 1) p / 2, (cols - 1) p / 2)).

- dr.dark_noise.mean_pv: mean of the noise-free dark image over the central 100 x 100 mm ROI (= offset).
  dr.dark_noise.sd_pv: sqrt(sigma_e^2 + slope^2 / 12 + s_nf^2), s_nf^2 the (n - 1) variance of the
  noise-free ROI (0 without an offset ramp).
- dr.ddi.value: mean ExposureIndex of the three ~10 uGy exposures, EI = 100 K (1 + e).
  dr.ddi.deviation_percent: 100 e exactly (IEC 62494-1: K_calc = EI / 100 uGy; (K_calc - K) / K x 100).
- dr.signal_transfer.r_squared (labels linear / log / power): P_i = noise-free central 100 x 100 mm ROI
  mean of flat i, K_i the nominal kerma. Fits, all ordinary least squares in float64:
  linear P = a K + b; log P = A + B ln K (LSQ in ln K); power ln P = ln c + g ln K (LSQ in log-log,
  Phat = c K^g). R^2 = 1 - sum (P_i - Phat_i)^2 / sum (P_i - mean P)^2, always in the PV domain.
  The fits have no offset term beyond the ones written, so a 'power' detector (P = offset + c K^gamma)
  has a power-model R^2 slightly below 1 (0.998 with the defaults); linear and log detectors give 1.
- dr.response_uniformity.cv_percent: 100 x sample SD (n - 1) / mean of the five noise-free 40 x 40 mm ROI
  means, centred at the image centre and at ((rows - 1) p / 4 or 3 (rows - 1) p / 4, same for x).
- dr.ghosting.error_percent: (m_ghost - m_non) / m_non x 100 on the noise-free "after" image; ghost ROI
  20 x 20 mm centred on the block centre, non-ghost ROI 20 x 20 mm centred 40 mm to the right (+x).
  The lag field outside the block is uniform, so the value does not depend on the non-ghost position as
  long as that ROI is >= 10 mm clear of the block edge (the blurred edge, sigma 0.1 mm, is then flat to
  < 1e-15). The ghost is darker (negative error): the area under the block recorded no signal to lag.
- dr.artifacts.count: number of injected artefacts (dead column segment, hot row segment, dead pixel
  cluster, gain band: 1 each). The +/- 5 % heel gradient is not an artefact.
- dr.mtf (labels horizontal = along x, from the near-vertical edge; vertical = along y): the detector's
  axis presampling MTF, MTF(f) = exp(-2 pi^2 sigma^2 f^2) |sinc(f p)|, sigma = sigma_x_mm (horizontal) or
  sigma_y_mm (vertical), sinc(u) = sin(pi u) / (pi u). mtf50_per_mm solves MTF = 0.5 (brentq);
  at_nyquist = MTF(1 / (2 p)). A slanted-edge estimate at angle t differs slightly: projected on the
  edge normal MTF_n(f) = exp(-2 pi^2 s_n^2 f^2) sinc(f p cos t) sinc(f p sin t), s_n^2 = (sigma cos t)^2
  + (sigma_other sin t)^2; projected on the pixel axis (IEC) MTF_x(f) = MTF_n(f / cos t). Both variants
  are recorded per file; they differ from the axis MTF by < 1 % in MTF50 for t <= 5 degrees.
- dr.limiting_resolution.lp_per_mm (labels horizontal / vertical): highest gauge group with
  f < 1 / (2 p) strictly AND axis MTF(f) >= 0.15. nyquist_per_mm = 1 / (2 p).
- dr.nnps (white noise, linear detector only): NNPS = var_PV x p^2 / (mean - offset)^2 mm^2 at every
  frequency, var_PV = gain^2 K / (q_eff p^2) + sigma_e^2 + slope^2 / 12, i.e.
  NNPS = 1 / (q_eff K) + (sigma_e^2 + slope^2 / 12) p^2 / (gain K)^2.
- dr.dqe (linear detector only): DQE(f) = MTF(f)^2 / (q K NNPS) at f = 0.5 / mm, q = 30174 (RQA5), MTF the
  axis MTF of the label's direction.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy.optimize import brentq

from phantomqc.core.roi import rect_roi_mm, roi_stats
from phantomqc.io.write import new_uid, write_dx
from reference_phantoms._writing import json_default, toml_value

from ._detector import (DETECTOR_2048, DETECTOR_3000, F1, DetectorModel, Rendered,
                        aperture_blurred_interval, detector_preset, render)

__all__ = [
    "DetectorModel", "DETECTOR_3000", "DETECTOR_2048", "detector_preset",
    "PhantomImage", "PhantomSet",
    "dark_phantom", "flats_phantom", "ddi_phantom", "uniformity_phantom", "ghosting_phantom",
    "edge_phantom", "gauge_phantom", "artifacts_phantom", "dr_suite",
    "make_dark", "make_flats", "make_ddi", "make_uniformity", "make_ghosting", "make_edge", "make_gauge",
    "make_artifacts", "make_dr_suite", "write_phantom_set", "DR_PHANTOMS",
    "stp_r_squared", "mtf_axis", "mtf50_per_mm", "load_gauge", "sigma_for_limit",
    "DEFINITIONS",
]

GENERATOR = "reference_phantoms.dr 1"
_GAUGES = Path(__file__).resolve().parent.parent / "phantomqc" / "dr" / "gauges.toml"
_RESOLVED_MTF = 0.15
_ROI_CENTRAL_MM = 100.0
_BASE_TIME = _dt.datetime(2026, 1, 5, 9, 0, 0)

DEFINITIONS: dict[str, str] = {
    "pv": "All truth values are rescaled PV (stored x RescaleSlope + RescaleIntercept) from the noise-free image "
          "(float32, accumulated in float64). ROIs: phantomqc.core.roi.rect_roi_mm, centres in mm from the "
          "top-left pixel centre; image centre ((rows-1) p/2, (cols-1) p/2).",
    "detector": "P = offset + g S(K); linear S = gain K; log S = A ln(max(K,K0)/K0); power S = c K^gamma. "
                "Quantum noise var = (g S'(K))^2 K / (q_eff p^2), q_eff = efficiency x q (q = 30174 /(uGy mm^2), RQA5); "
                "electronic noise sigma_e; stored = round((P - intercept)/slope), quantisation var slope^2/12. "
                "Noise is white (not blurred).",
    "dr.dark_noise.mean_pv": "Noise-free mean of the central 100 x 100 mm ROI of the dark image (= offset).",
    "dr.dark_noise.sd_pv": "sqrt(sigma_e^2 + slope^2/12 + var_nf), var_nf the (n-1) variance of the noise-free ROI.",
    "dr.ddi.value": "Mean ExposureIndex (0018,1411) of the ~10 uGy exposures; EI = 100 K (1 + ddi_error).",
    "dr.ddi.deviation_percent": "(K_calc - K_meas)/K_meas x 100 with K_calc = EI/100 uGy (IEC 62494-1) = 100 ddi_error.",
    "dr.signal_transfer.r_squared": "P_i = noise-free central 100 x 100 mm ROI mean, K_i nominal kerma. OLS in float64: "
                                    "linear P = aK + b; log P = A + B ln K; power ln P = ln c + g ln K (Phat = c K^g). "
                                    "R^2 = 1 - sum (P_i - Phat_i)^2 / sum (P_i - mean P)^2 in the PV domain.",
    "dr.response_uniformity.cv_percent": "100 x SD(n-1)/mean of the 5 noise-free 40 x 40 mm ROI means at the image "
                                         "centre and the quadrant centres ((rows-1)p/4 or 3(rows-1)p/4, same in x).",
    "dr.ghosting.error_percent": "(m_ghost - m_non)/m_non x 100 on the noise-free 'after' image; ghost ROI 20 x 20 mm at "
                                "the block centre, non-ghost ROI 20 x 20 mm centred 40 mm to the right (+x). The lag field "
                                "outside the block is uniform: any non-ghost ROI >= 10 mm clear of the block edge gives "
                                "the same value. Negative: the ghost is darker.",
    "dr.artifacts.count": "Number of injected artefacts (each dead column segment, hot row segment, dead cluster or "
                          "gain band counts 1); the heel gradient is not an artefact.",
    "dr.mtf": "Axis presampling MTF: MTF(f) = exp(-2 pi^2 sigma^2 f^2) |sinc(f p)|, sinc(u) = sin(pi u)/(pi u); "
              "horizontal: sigma_x (near-vertical edge), vertical: sigma_y. mtf50 solves MTF = 0.5 (brentq); "
              "at_nyquist = MTF(1/(2p)). Edge-normal and axis-projection variants are in files[...].",
    "dr.limiting_resolution": "Highest gauge group with f < 1/(2p) strictly and axis MTF(f) >= 0.15; "
                              "nyquist_per_mm = 1/(2p).",
    "dr.nnps": "White noise: NNPS(f) = var_PV p^2 / (mean - offset)^2 = 1/(q_eff K) + (sigma_e^2 + slope^2/12) p^2 "
               "/ (gain K)^2 mm^2 at every f (linear detector only).",
    "dr.dqe": "DQE(f) = MTF(f)^2 / (q K NNPS(f)), q = 30174 /(uGy mm^2) (RQA5), MTF the axis MTF of the label "
              "(linear detector only).",
}


# ----------------------------------------------------------------------------------------------------
# containers
# ----------------------------------------------------------------------------------------------------
@dataclass
class PhantomImage:
    """One image of a phantom: file name, rendered pixels, extra DICOM header and per-file truth."""

    filename: str
    rendered: Rendered
    header: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def stored(self) -> np.ndarray:
        return self.rendered.stored

    @property
    def pv(self) -> np.ndarray:
        return self.rendered.pv

    @property
    def noise_free_pv(self) -> np.ndarray:
        return self.rendered.noise_free_pv


@dataclass
class PhantomSet:
    """Images plus the manifest ``[[test]]`` tables and the truth of one or more phantoms."""

    detector: DetectorModel
    images: list[PhantomImage] = field(default_factory=list)
    tests: list[dict[str, Any]] = field(default_factory=list)
    expected: list[dict[str, Any]] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)

    def extend(self, other: PhantomSet) -> PhantomSet:
        self.images += other.images
        self.tests += other.tests
        self.expected += other.expected
        self.parameters.update(other.parameters)
        return self

    def image(self, filename: str) -> PhantomImage:
        for im in self.images:
            if im.filename == filename:
                return im
        raise KeyError(filename)

    def value(self, metric_id: str, label: str | None = None) -> float:
        for e in self.expected:
            if e["id"] == metric_id and e["label"] == label:
                return e["value"]
        raise KeyError((metric_id, label))


def _exp(metric_id: str, value: float, unit: str, test: str, note: str, label: str | None = None) -> dict:
    value = value if isinstance(value, int) else float(value)
    return {"id": metric_id, "label": label, "value": value, "unit": unit, "test": test,
            "tolerance_note": note}


def _rng(rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _centre_mm(det: DetectorModel) -> tuple[float, float]:
    return ((det.shape[0] - 1) * det.pitch_mm / 2.0, (det.shape[1] - 1) * det.pitch_mm / 2.0)


def _central_roi(det: DetectorModel, size_mm: float = _ROI_CENTRAL_MM):
    return rect_roi_mm(det.shape, det.spacing_mm, _centre_mm(det), size_mm, name="central")


def _nf_mean(img, roi) -> float:
    return roi_stats(img, roi)[0]


def _header(det: DetectorModel, kind: str, *, kvp: float = 70.0, kerma: float | None = None,
            ddi_error: float | None = None) -> dict[str, Any]:
    h: dict[str, Any] = {"KVP": kvp, "ImageComments": f"phantomqc reference phantom: {kind}",
                         "SeriesDescription": f"phantomqc {kind}",
                         "PixelIntensityRelationship": "LOG" if det.response == "log" else "LIN"}
    if kerma is not None and ddi_error is not None and kerma > 0:
        ei = 100.0 * kerma * (1.0 + ddi_error)
        h.update({"ExposureIndex": ei, "TargetExposureIndex": 1000.0,
                  "DeviationIndex": 10.0 * math.log10(ei / 1000.0)})
    return h


# ----------------------------------------------------------------------------------------------------
# fits and MTF helpers (the truth formulas)
# ----------------------------------------------------------------------------------------------------
def stp_r_squared(kerma_uGy, mean_pv, model: str) -> float:
    """R^2 of the STP fit, in the PV domain (see the module docstring for the exact definitions)."""
    k = np.asarray(kerma_uGy, dtype=np.float64)
    p = np.asarray(mean_pv, dtype=np.float64)
    if model == "linear":
        a = np.column_stack([k, np.ones_like(k)])
        coef = np.linalg.lstsq(a, p, rcond=None)[0]
        phat = a @ coef
    elif model == "log":
        a = np.column_stack([np.log(k), np.ones_like(k)])
        coef = np.linalg.lstsq(a, p, rcond=None)[0]
        phat = a @ coef
    elif model == "power":
        a = np.column_stack([np.log(k), np.ones_like(k)])
        g, lnc = np.linalg.lstsq(a, np.log(p), rcond=None)[0]
        phat = np.exp(lnc) * k ** g
    else:
        raise ValueError(f"model must be 'linear', 'log' or 'power'; received {model!r}")
    ss_res = float(np.sum((p - phat) ** 2))
    ss_tot = float(np.sum((p - p.mean()) ** 2))
    return 1.0 - ss_res / ss_tot


def mtf_axis(f_per_mm, sigma_mm: float, pitch_mm: float) -> np.ndarray:
    """exp(-2 pi^2 sigma^2 f^2) |sinc(f p)|: Gaussian presampling blur times the square pixel aperture."""
    f = np.asarray(f_per_mm, dtype=np.float64)
    return np.exp(-2.0 * np.pi ** 2 * sigma_mm ** 2 * f ** 2) * np.abs(np.sinc(f * pitch_mm))


def mtf50_per_mm(sigma_mm: float, pitch_mm: float, mtf: Callable | None = None) -> float:
    """The frequency where the axis MTF (or ``mtf``) is 0.5, by brentq on (0, 1/p)."""
    fn = mtf or (lambda f: float(mtf_axis(f, sigma_mm, pitch_mm)))
    return float(brentq(lambda f: fn(f) - 0.5, 1e-9, (1.0 - 1e-9) / pitch_mm, xtol=1e-12, rtol=1e-14))


def load_gauge(name: str = "huttner18") -> dict:
    """A gauge table from phantomqc/dr/gauges.toml: frequencies_lp_per_mm, line_pairs_per_group."""
    with open(_GAUGES, "rb") as fh:
        table = tomllib.load(fh)
    if name not in table:
        raise ValueError(f"gauge {name!r} is not in {_GAUGES}; known gauges: {sorted(table)}")
    return table[name]


def sigma_for_limit(limit_lp_per_mm: float, pitch_mm: float, gauge: str = "huttner18") -> float:
    """Gaussian sigma (mm) that makes ``limit_lp_per_mm`` the highest resolved group of the gauge.

    The threshold 0.15 is put midway in log between the group and its successor:
    MTF(f_limit) x MTF(f_next) = 0.15^2. Raises ValueError unless f_limit is a group of the gauge below
    Nyquist whose successor is >= 15 % higher in frequency (a closer successor gives no safe margin).
    """
    freqs = [float(f) for f in load_gauge(gauge)["frequencies_lp_per_mm"]]
    f1 = float(limit_lp_per_mm)
    if f1 not in freqs or freqs.index(f1) == len(freqs) - 1:
        raise ValueError(f"limit_lp_per_mm={limit_lp_per_mm} must be a group of gauge {gauge!r} other than the "
                         f"last; groups: {freqs}")
    f2 = freqs[freqs.index(f1) + 1]
    nyq = 1.0 / (2.0 * pitch_mm)
    if f1 >= nyq:
        raise ValueError(f"limit_lp_per_mm={f1} is not below the Nyquist frequency {nyq:.3f} lp/mm")
    if f2 < 1.15 * f1:
        ok = [a for a, b in zip(freqs, freqs[1:]) if b >= 1.15 * a and a < nyq]
        raise ValueError(f"limit_lp_per_mm={f1}: the next group {f2} is less than 15 % higher, so the resolved/"
                         f"unresolved threshold cannot be placed with a margin; choose one of {ok}")
    s1, s2 = np.sinc(f1 * pitch_mm), np.sinc(min(f2, 0.999 / pitch_mm) * pitch_mm)
    num = math.log(s1) + math.log(s2) - 2.0 * math.log(_RESOLVED_MTF)
    if num <= 0:
        raise ValueError(f"limit_lp_per_mm={f1}: the pixel aperture alone already makes it unresolved")
    return math.sqrt(num / (2.0 * math.pi ** 2 * (f1 ** 2 + f2 ** 2)))


# ----------------------------------------------------------------------------------------------------
# 1. dark
# ----------------------------------------------------------------------------------------------------
def dark_phantom(det: DetectorModel, rng, *, filename: str = "dark.dcm") -> PhantomSet:
    """A dark image (K = 0): offset (map) plus electronic noise."""
    r = render(det, 0.0, _rng(rng))
    roi = _central_roi(det)
    mean, sd_nf = roi_stats(r.noise_free_pv, roi)
    sd_nf = 0.0 if det.offset_ramp_pv == 0.0 else sd_nf
    sd = math.sqrt(det.sigma_e_pv ** 2 + det.quantisation_var_pv2 + sd_nf ** 2)
    n = roi.n_pixels
    img = PhantomImage(filename, r, _header(det, "dark", kvp=40.0),
                       {"kind": "dark", "air_kerma_uGy": 0.0, "roi": _roi_dict(roi)})
    exp = [_exp("dr.dark_noise.mean_pv", mean, "PV", "dr.dark_noise",
                f"noise-free; the measured mean scatters by sd/sqrt(N) = {sd / math.sqrt(n):.2g} PV"),
           _exp("dr.dark_noise.sd_pv", sd, "PV", "dr.dark_noise",
                f"expected SD; the sample SD scatters by sd/sqrt(2N) = {sd / math.sqrt(2 * n):.2g} PV")]
    return PhantomSet(det, [img], [{"kind": "dr.dark_noise", "images": [filename]}], exp,
                      {"dark": {"offset_pv": det.offset_pv, "offset_ramp_pv": det.offset_ramp_pv}})


def _roi_dict(roi) -> dict:
    return {"row0": roi.row0, "col0": roi.col0, "nrows": roi.nrows, "ncols": roi.ncols, "name": roi.name}


# ----------------------------------------------------------------------------------------------------
# 2. flats and STP; DDI and NNPS
# ----------------------------------------------------------------------------------------------------
def _flat_name(k: float) -> str:
    return f"flat_{k:02.0f}uGy.dcm" if float(k).is_integer() else f"flat_{k:g}uGy.dcm".replace(".", "p", 1)


def flats_phantom(det: DetectorModel, rng, *, kerma_uGy=(1.0, 5.0, 10.0, 20.0, 30.0),
                  gain_drift: dict[int, float] | None = None, target_r_squared: float | None = None,
                  drift_index: int = -1, ddi_error: float = 0.04) -> PhantomSet:
    """Flat fields for the signal transfer property.

    ``gain_drift`` maps an image index to a gain factor (e.g. {3: 1.2}). ``target_r_squared`` instead
    solves the gain drift of image ``drift_index`` (default the highest kerma: a saturation-like droop, the
    smallest drift that reaches R^2 = 0.90 for the linear model) so that the R^2 of the detector's own
    model equals it.
    """
    rng = _rng(rng)
    ks = [float(k) for k in kerma_uGy]
    if len(ks) < 3 or min(ks) <= 0:
        raise ValueError(f"kerma_uGy needs at least 3 positive values; received {kerma_uGy}")
    roi = _central_roi(det)
    off = _nf_mean(np.broadcast_to(np.asarray(det.offset_map(), np.float32), det.shape), roi)
    sig = np.array([float(det.signal(np.float64(k))) for k in ks])
    drift = {i % len(ks): v for i, v in (gain_drift or {}).items()}
    drift_index = drift_index % len(ks)
    if target_r_squared is not None:
        def r2(d):
            g = np.ones(len(ks))
            g[drift_index] = 1.0 + d
            return stp_r_squared(ks, off + g * sig, det.response) - target_r_squared
        if r2(0.0) < 0:
            raise ValueError(f"target_r_squared={target_r_squared} is above the undrifted R^2")
        # a gain droop (saturation-like) first, a gain rise if a droop cannot reach the target
        if r2(-0.95) < 0:
            d = brentq(r2, -0.95, 0.0, xtol=1e-14)
        elif r2(3.0) < 0:
            d = brentq(r2, 0.0, 3.0, xtol=1e-14)
        else:
            raise ValueError(f"target_r_squared={target_r_squared} cannot be reached by drifting image "
                             f"{drift_index}; choose another drift_index")
        drift[drift_index] = 1.0 + d
    images, means = [], []
    for i, k in enumerate(ks):
        g = float(drift.get(i, 1.0))
        r = render(det, np.float32(k), rng, gain=None if g == 1.0 else np.float32(g))
        m = _nf_mean(r.noise_free_pv, roi)
        means.append(m)
        name = _flat_name(k)
        images.append(PhantomImage(name, r, _header(det, f"flat {k:g} uGy", kerma=k, ddi_error=ddi_error),
                                   {"kind": "flat", "air_kerma_uGy": k, "gain_drift": g,
                                    "expected_central_mean_pv": m, "roi": _roi_dict(roi)}))
    exp = [_exp("dr.signal_transfer.r_squared", stp_r_squared(ks, means, model), "1", "dr.signal_transfer",
                "noise-free ROI means; noise moves each mean by ~sd/sqrt(N), R^2 by < 1e-5", label=model)
           for model in ("linear", "log", "power")]
    test = {"kind": "dr.signal_transfer", "images": [im.filename for im in images], "air_kerma_uGy": ks,
            "response": "auto"}
    params = {"signal_transfer": {"kerma_uGy": ks, "expected_model": det.response,
                                  "gain_drift": {str(k): v for k, v in drift.items()},
                                  "expected_central_mean_pv": means}}
    return PhantomSet(det, images, [test], exp, params)


def nnps_white(det: DetectorModel, kerma_uGy: float) -> float:
    """NNPS (mm^2) of the linear detector's white noise at kerma K, uniform gain."""
    if det.response != "linear":
        raise ValueError("nnps_white: the NNPS truth is defined for a linear detector only")
    var = det.quantum_var(kerma_uGy) + det.sigma_e_pv ** 2 + det.quantisation_var_pv2
    return float(var * det.pixel_area_mm2 / (det.gain_pv_per_uGy * kerma_uGy) ** 2)


def ddi_phantom(det: DetectorModel, rng, *, kerma_uGy: float = 10.0, n_images: int = 3,
                ddi_error: float = 0.04) -> PhantomSet:
    """Three flat fields at ~10 uGy with ExposureIndex = 100 K (1 + ddi_error); also the NNPS flats."""
    rng = _rng(rng)
    k = float(kerma_uGy)
    images = []
    roi = _central_roi(det)
    for i in range(n_images):
        r = render(det, np.float32(k), rng)
        images.append(PhantomImage(f"ddi_{i + 1}.dcm", r, _header(det, f"DDI flat {k:g} uGy", kerma=k,
                                                                   ddi_error=ddi_error),
                                   {"kind": "flat", "air_kerma_uGy": k,
                                    "exposure_index": 100.0 * k * (1.0 + ddi_error),
                                    "expected_central_mean_pv": _nf_mean(r.noise_free_pv, roi)}))
    names = [im.filename for im in images]
    ei = 100.0 * k * (1.0 + ddi_error)
    exp = [_exp("dr.ddi.value", ei, "1", "dr.ddi", "exact (header ExposureIndex)"),
           _exp("dr.ddi.deviation_percent", round(100.0 * ddi_error, 12), "%", "dr.ddi",
                "exact for K_calc = EI/100 uGy")]
    tests = [{"kind": "dr.ddi", "images": names, "air_kerma_uGy": [k] * n_images, "ddi_formula": "iec62494"},
             {"kind": "dr.nnps", "images": names, "offset_pv": float(det.offset_pv)}]
    if det.response == "linear":
        nn = nnps_white(det, k)
        note = ("white-noise model value at every f; an NNPS estimate from M ROIs of 256^2 scatters by "
                "~1/sqrt(M x ring pixels)")
        exp += [_exp("dr.nnps.at_0p5_per_mm", nn, "mm^2", "dr.nnps", note),
                _exp("dr.nnps.at_nyquist", nn, "mm^2", "dr.nnps", note)]
    return PhantomSet(det, images, tests, exp, {"ddi": {"kerma_uGy": k, "ddi_error": ddi_error}})


# ----------------------------------------------------------------------------------------------------
# 3. response uniformity
# ----------------------------------------------------------------------------------------------------
def uniformity_rois(det: DetectorModel, size_mm: float = 40.0):
    """The five WS 76-2020 ROIs: centre, then the quadrant centres (top-left, top-right, bottom-left, bottom-right)."""
    h = (det.shape[0] - 1) * det.pitch_mm
    w = (det.shape[1] - 1) * det.pitch_mm
    centres = [("centre", (h / 2, w / 2)), ("top_left", (h / 4, w / 4)), ("top_right", (h / 4, 3 * w / 4)),
               ("bottom_left", (3 * h / 4, w / 4)), ("bottom_right", (3 * h / 4, 3 * w / 4))]
    return [rect_roi_mm(det.shape, det.spacing_mm, c, size_mm, name=n) for n, c in centres], centres


def _cv_percent(means) -> float:
    m = np.asarray(means, dtype=np.float64)
    return float(m.std(ddof=1) / m.mean() * 100.0)


def _uniformity_pattern(det: DetectorModel) -> np.ndarray:
    """A smooth zero-centre pattern: heel-like ramps in x and y and a radial fall-off (float32)."""
    y = np.linspace(-1.0, 1.0, det.shape[0], dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, det.shape[1], dtype=np.float32)[None, :]
    return (0.6 * x - 0.5 * x * x) + (0.25 * y - 0.5 * y * y)


def uniformity_phantom(det: DetectorModel, rng, *, cv_percent: float = 2.0, kerma_uGy: float = 10.0,
                       filename: str = "uniformity.dcm") -> PhantomSet:
    """A flat field whose smooth gain map g = 1 + alpha p gives the five-ROI CV ``cv_percent``."""
    rng = _rng(rng)
    rois, centres = uniformity_rois(det)
    p = _uniformity_pattern(det)
    off_img = np.broadcast_to(np.asarray(det.offset_map(), np.float32), det.shape)
    s = float(det.signal(np.float64(kerma_uGy)))
    pbar = np.array([_nf_mean(p, r) for r in rois])
    obar = np.array([_nf_mean(off_img, r) for r in rois])
    alpha_max = 0.9 / float(-p.min())
    cv = lambda a: _cv_percent(obar + s * (1.0 + a * pbar)) - cv_percent  # noqa: E731
    if cv_percent < 0 or cv(alpha_max) < 0:
        raise ValueError(f"cv_percent={cv_percent} must be in [0, {cv(alpha_max) + cv_percent:.1f}] for this pattern")
    alpha = 0.0 if cv_percent == 0 else brentq(cv, 0.0, alpha_max, xtol=1e-14)
    gain = (1.0 + np.float32(alpha) * p).astype(np.float32)
    r = render(det, np.float32(kerma_uGy), rng, gain=gain)
    means = [_nf_mean(r.noise_free_pv, roi) for roi in rois]
    truth = _cv_percent(means)
    img = PhantomImage(filename, r, _header(det, f"uniformity {kerma_uGy:g} uGy"),
                       {"kind": "uniformity", "air_kerma_uGy": float(kerma_uGy), "gain_alpha": alpha,
                        "roi_centres_mm": {n: list(c) for n, c in centres}, "roi_size_mm": 40.0,
                        "roi_means_pv": dict(zip([n for n, _ in centres], means))})
    exp = [_exp("dr.response_uniformity.cv_percent", truth, "%", "dr.response_uniformity",
                "noise-free ROI means; noise adds ~sd/sqrt(N)/mean (< 0.01 %) to each ROI mean")]
    return PhantomSet(det, [img], [{"kind": "dr.response_uniformity", "images": [filename]}], exp,
                      {"uniformity": {"cv_percent_target": cv_percent, "kerma_uGy": kerma_uGy}})


# ----------------------------------------------------------------------------------------------------
# 4. ghosting
# ----------------------------------------------------------------------------------------------------
def ghosting_phantom(det: DetectorModel, rng, *, ghost_percent: float | None = 2.0,
                     lag_fraction: float | None = None, kerma_uGy: float = 5.0, block_size_mm: float = 40.0,
                     block_shift_mm: tuple[float, float] = (0.0, 0.0), transmission: float = 0.0,
                     edge_sigma_mm: float = 0.1) -> PhantomSet:
    """Lead-block exposure and the blank after it: after = dark + lag_fraction x (signal of the block image).

    Give either ``ghost_percent`` (the magnitude of the truth error, solved for lag_fraction) or
    ``lag_fraction`` directly.
    """
    rng = _rng(rng)
    c = _centre_mm(det)
    by, bx = c[0] + block_shift_mm[0], c[1] + block_shift_mm[1]
    half = block_size_mm / 2.0
    ys = np.arange(det.shape[0]) * det.pitch_mm
    xs = np.arange(det.shape[1]) * det.pitch_mm
    fy = aperture_blurred_interval(ys, by - half, by + half, edge_sigma_mm, det.pitch_mm).astype(np.float32)
    fx = aperture_blurred_interval(xs, bx - half, bx + half, edge_sigma_mm, det.pitch_mm).astype(np.float32)
    kmap = np.float32(kerma_uGy) * (1.0 - np.float32(1.0 - transmission) * (fy[:, None] * fx[None, :]))
    a = render(det, kmap, rng)
    ghost_roi = rect_roi_mm(det.shape, det.spacing_mm, (by, bx), 20.0, name="ghost")
    non_roi = rect_roi_mm(det.shape, det.spacing_mm, (by, bx + 40.0), 20.0, name="non_ghost")
    sig_a = a.noise_free_pv - np.broadcast_to(np.asarray(det.offset_map(), np.float32), det.shape)
    if lag_fraction is None:
        if ghost_percent is None:
            raise ValueError("ghosting_phantom: give ghost_percent or lag_fraction")
        e = abs(ghost_percent) / 100.0
        s_open = _nf_mean(sig_a, non_roi)
        s_block = _nf_mean(sig_a, ghost_roi)
        off = _nf_mean(np.broadcast_to(np.asarray(det.offset_map(), np.float32), det.shape), non_roi)
        # e = lag (s_open - s_block) / (off + lag s_open)  ->  lag = e off / (s_open - s_block - e s_open)
        denom = s_open - s_block - e * s_open
        if denom <= 0:
            raise ValueError(f"ghost_percent={ghost_percent} cannot be reached with this block transmission")
        lag_fraction = e * off / denom
    b = render(det, 0.0, rng, extra_pv=np.float32(lag_fraction) * sig_a)
    m_g, m_n = _nf_mean(b.noise_free_pv, ghost_roi), _nf_mean(b.noise_free_pv, non_roi)
    err = (m_g - m_n) / m_n * 100.0
    geom = {"block_centre_mm": [by, bx], "block_size_mm": block_size_mm, "transmission": transmission,
            "edge_sigma_mm": edge_sigma_mm, "ghost_roi_centre_mm": [by, bx], "non_ghost_roi_centre_mm": [by, bx + 40.0],
            "roi_size_mm": 20.0}
    t0 = _BASE_TIME + _dt.timedelta(minutes=30)
    ha = _header(det, f"lag block {kerma_uGy:g} uGy")
    hb = _header(det, "lag blank after", kvp=40.0)
    ha.update(_times(t0))
    hb.update(_times(t0 + _dt.timedelta(seconds=60)))
    imgs = [PhantomImage("lag_block.dcm", a, ha, {"kind": "lag_block", "air_kerma_uGy": kerma_uGy, **geom}),
            PhantomImage("lag_after.dcm", b, hb, {"kind": "lag_after", "lag_fraction": lag_fraction,
                                                   "ghost_mean_pv": m_g, "non_ghost_mean_pv": m_n, **geom})]
    exp = [_exp("dr.ghosting.error_percent", err, "%", "dr.ghosting",
                "noise-free ROI means; negative = darker ghost; noise moves it by ~sqrt(2) sd/sqrt(N)/mean")]
    return PhantomSet(det, imgs, [{"kind": "dr.ghosting", "images": ["lag_block.dcm", "lag_after.dcm"]}], exp,
                      {"ghosting": {"lag_fraction": lag_fraction, "ghost_percent_target": ghost_percent,
                                    "kerma_uGy": kerma_uGy}})


def _times(t: _dt.datetime) -> dict[str, str]:
    d, tm = t.strftime("%Y%m%d"), t.strftime("%H%M%S")
    return {"AcquisitionDate": d, "AcquisitionTime": tm, "ContentDate": d, "ContentTime": tm,
            "AcquisitionDateTime": d + tm}


# ----------------------------------------------------------------------------------------------------
# 5. slanted edge
# ----------------------------------------------------------------------------------------------------
_GL_T, _GL_W = np.polynomial.legendre.leggauss(8)


def _edge_fraction_near_vertical(shape, pitch_major: float, pitch_minor: float, centre_mm, angle_deg: float,
                                 sigma_perp: float) -> np.ndarray:
    """Pixel-aperture average of Phi(d / sigma_perp) for the edge d = (x - x0) cos t - (y - y0) sin t.

    x is the column axis (pitch_major), y the row axis (pitch_minor); the high side is d > 0. Exact
    along x (antiderivative F1 of Phi), 8-point Gauss-Legendre along y. Returns float32 in [0, 1].
    """
    rows, cols = shape
    t = math.radians(angle_deg)
    c, s = math.cos(t), math.sin(t)
    y0, x0 = centre_mm
    ys = np.arange(rows, dtype=np.float64) * pitch_minor
    xs = np.arange(cols, dtype=np.float64) * pitch_major
    x_edge = x0 + (ys - y0) * s / c  # where d = 0 on each row
    out = (xs[None, :].astype(np.float32) > x_edge[:, None].astype(np.float32)).astype(np.float32)
    margin = 9.0 * sigma_perp + pitch_major + pitch_minor  # beyond it Phi is 0 or 1 to < 1e-18
    half_w = int(math.ceil(margin / (c * pitch_major))) + 2
    c_centre = np.rint(x_edge / pitch_major).astype(np.int64)
    cols_b = c_centre[:, None] + np.arange(-half_w, half_w + 1)[None, :]
    cols_b = np.clip(cols_b, 0, cols - 1)
    d = (cols_b * pitch_major - x0) * c - (ys[:, None] - y0) * s  # (rows, nb), mm at pixel centres
    acc = np.zeros(d.shape, dtype=np.float64)
    hx = c * pitch_major / 2.0
    for tv, wv in zip(_GL_T, _GL_W):
        dv = d - s * (tv * pitch_minor / 2.0)
        acc += (wv / 2.0) * (F1((dv + hx) / sigma_perp) - F1((dv - hx) / sigma_perp))
    acc *= sigma_perp / (c * pitch_major)
    rr = np.broadcast_to(np.arange(rows)[:, None], cols_b.shape)
    out[rr, cols_b] = acc.astype(np.float32)
    return out


def edge_fraction(det: DetectorModel, direction: str, angle_deg: float, centre_mm=None) -> np.ndarray:
    """Noise-free edge fraction E in [0, 1] (1 = open side) for a 'horizontal' (near-vertical edge, MTF
    along x) or 'vertical' (near-horizontal edge, MTF along y) edge through ``centre_mm`` (y, x)."""
    cy, cx = _centre_mm(det) if centre_mm is None else centre_mm
    t = math.radians(angle_deg)
    p = det.pitch_mm
    if direction == "horizontal":
        sp = math.hypot(det.sigma_x_mm * math.cos(t), det.sigma_y_mm * math.sin(t))
        return _edge_fraction_near_vertical(det.shape, p, p, (cy, cx), angle_deg, sp)
    if direction == "vertical":
        sp = math.hypot(det.sigma_y_mm * math.cos(t), det.sigma_x_mm * math.sin(t))
        et = _edge_fraction_near_vertical((det.shape[1], det.shape[0]), p, p, (cx, cy), angle_deg, sp)
        return np.ascontiguousarray(et.T)
    raise ValueError(f"direction must be 'horizontal' or 'vertical'; received {direction!r}")


def _mtf_truth(det: DetectorModel, direction: str, angle_deg: float) -> dict:
    p = det.pitch_mm
    sig, other = ((det.sigma_x_mm, det.sigma_y_mm) if direction == "horizontal"
                  else (det.sigma_y_mm, det.sigma_x_mm))
    t = math.radians(angle_deg)
    c, s = math.cos(t), math.sin(t)
    sn = math.hypot(sig * c, other * s)

    def mtf_n(f):
        return float(np.exp(-2 * np.pi ** 2 * sn ** 2 * f ** 2) * abs(np.sinc(f * p * c)) * abs(np.sinc(f * p * s)))

    fn = 1.0 / (2.0 * p)
    grid = np.round(np.arange(0.0, 2.0 * fn + 1e-9, 0.05), 10)
    return {
        "sigma_mm": sig, "sigma_perp_mm": sn, "pitch_mm": p, "nyquist_per_mm": fn,
        "mtf50_per_mm": mtf50_per_mm(sig, p), "at_nyquist": float(mtf_axis(fn, sig, p)),
        "mtf50_edge_normal_per_mm": mtf50_per_mm(sig, p, mtf_n),
        "mtf50_axis_projection_per_mm": mtf50_per_mm(sig, p, lambda f: mtf_n(f / c)),
        "curve": {"f_per_mm": grid.tolist(), "mtf": mtf_axis(grid, sig, p).tolist()},
    }


def edge_phantom(det: DetectorModel, rng, *, directions=("horizontal", "vertical"), angle_deg: float = 3.0,
                 kerma_uGy: float = 10.0, transmission: float = 0.05, centre_mm=None) -> PhantomSet:
    """Slanted-edge images (one per direction) with the axis presampling MTF as truth."""
    rng = _rng(rng)
    if not 1.0 <= abs(angle_deg) <= 10.0:
        raise ValueError(f"angle_deg must be between 1 and 10 degrees (2 to 5 is usual); received {angle_deg}")
    images, exp = [], []
    for direction in directions:
        e = edge_fraction(det, direction, angle_deg, centre_mm)
        k_lo = np.float32(kerma_uGy * transmission)
        kmap = k_lo + np.float32(kerma_uGy - kerma_uGy * transmission) * e
        del e
        r = render(det, kmap, rng)
        truth = _mtf_truth(det, direction, angle_deg)
        name = "edge_h.dcm" if direction == "horizontal" else "edge_v.dcm"
        t = math.radians(angle_deg)
        normal = ([-math.sin(t), math.cos(t)] if direction == "horizontal" else [math.cos(t), math.sin(t)])
        images.append(PhantomImage(name, r, _header(det, f"slanted edge {direction}", kerma=kerma_uGy),
                                   {"kind": "edge", "direction": direction, "angle_deg": angle_deg,
                                    "edge_point_mm": list(_centre_mm(det) if centre_mm is None else centre_mm),
                                    "normal_yx": normal, "air_kerma_uGy": kerma_uGy,
                                    "transmission": transmission, "mtf": truth}))
        note = ("axis MTF; an ideal slanted-edge estimate gives the edge-normal or axis-projection variant "
                f"(MTF50 {truth['mtf50_edge_normal_per_mm']:.4f} / {truth['mtf50_axis_projection_per_mm']:.4f})")
        exp += [_exp("dr.mtf.mtf50_per_mm", truth["mtf50_per_mm"], "1/mm", "dr.mtf", note, label=direction),
                _exp("dr.mtf.at_nyquist", truth["at_nyquist"], "1", "dr.mtf", note, label=direction)]
    test = {"kind": "dr.mtf", "images": [im.filename for im in images]}
    return PhantomSet(det, images, [test], exp, {"edge": {"angle_deg": angle_deg, "kerma_uGy": kerma_uGy,
                                                          "transmission": transmission}})


# ----------------------------------------------------------------------------------------------------
# 6. line-pair gauge
# ----------------------------------------------------------------------------------------------------
def _gauge_layout(freqs, n_lp: int, start_mm: float, gap_mm: float):
    """Bars along one axis: list of groups {f, bars [(lo, hi)], centre}; returns groups and total length."""
    groups, pos = [], start_mm
    for f in freqs:
        w = 1.0 / (2.0 * f)
        bars = [(pos + 2 * i * w, pos + 2 * i * w + w) for i in range(n_lp)]
        groups.append({"f_lp_per_mm": f, "bars_mm": bars, "centre_mm": (bars[0][0] + bars[-1][1]) / 2.0})
        pos = bars[-1][1] + gap_mm
    return groups, pos - gap_mm - start_mm


def gauge_phantom(det: DetectorModel, rng, *, gauge: str = "huttner18", layout: str = "combined",
                  kerma_uGy: float = 10.0, transmission: float = 0.05, gap_mm: float = 2.0,
                  bar_length_mm: float = 10.0) -> PhantomSet:
    """Two perpendicular line-pair gauges (bars of lead), in one image (``layout='combined'``, gauge.dcm)
    or one per image (``'separate'``: gauge_h.dcm, gauge_v.dcm). The detector's sigma_x/sigma_y blur them.
    """
    rng = _rng(rng)
    g = load_gauge(gauge)
    freqs = [float(f) for f in g["frequencies_lp_per_mm"]]
    n_lp = int(g["line_pairs_per_group"])
    cy, cx = _centre_mm(det)
    p = det.pitch_mm
    ys = np.arange(det.shape[0]) * p
    xs = np.arange(det.shape[1]) * p
    _, length = _gauge_layout(freqs, n_lp, 0.0, gap_mm)
    if length + 20.0 > min(det.shape) * p / 2.0 + 60.0:
        raise ValueError(f"gauge {gauge!r} ({length:.0f} mm) does not fit on this detector")
    # horizontal strip (along x, measures along x) above the centre; vertical strip left of it
    h_axis_c, h_cross_c = cx + 20.0, cy - 80.0
    v_axis_c, v_cross_c = cy + 20.0, cx - 80.0
    if layout == "separate":
        h_axis_c, h_cross_c, v_axis_c, v_cross_c = cx, cy, cy, cx
    gh, _ = _gauge_layout(freqs, n_lp, h_axis_c - length / 2.0, gap_mm)
    gv, _ = _gauge_layout(freqs, n_lp, v_axis_c - length / 2.0, gap_mm)
    half = bar_length_mm / 2.0

    def strip(groups, along, across, sig_along, sig_across, cross_c):
        lo = [b[0] for gr in groups for b in gr["bars_mm"]]
        hi = [b[1] for gr in groups for b in gr["bars_mm"]]
        fa = aperture_blurred_interval(along, lo, hi, sig_along, p).astype(np.float32)
        fc = aperture_blurred_interval(across, cross_c - half, cross_c + half, sig_across, p).astype(np.float32)
        return fa, fc

    fxh, fyh = strip(gh, xs, ys, det.sigma_x_mm, det.sigma_y_mm, h_cross_c)
    fyv, fxv = strip(gv, ys, xs, det.sigma_y_mm, det.sigma_x_mm, v_cross_c)
    att = np.float32(kerma_uGy * (1.0 - transmission))

    def resolved(groups, sigma):
        fn = 1.0 / (2.0 * p)
        out = []
        for gr in groups:
            m = float(mtf_axis(gr["f_lp_per_mm"], sigma, p))
            out.append({**gr, "mtf": m, "resolved": bool(gr["f_lp_per_mm"] < fn and m >= _RESOLVED_MTF)})
        return out

    gh_t, gv_t = resolved(gh, det.sigma_x_mm), resolved(gv, det.sigma_y_mm)

    def limit(groups):
        ok = [gr["f_lp_per_mm"] for gr in groups if gr["resolved"]]
        return max(ok) if ok else 0.0

    info_h = {"direction": "horizontal", "strip_axis": "x", "bars_perpendicular_to": "x",
              "cross_centre_mm": h_cross_c, "bar_length_mm": bar_length_mm, "groups": gh_t}
    info_v = {"direction": "vertical", "strip_axis": "y", "bars_perpendicular_to": "y",
              "cross_centre_mm": v_cross_c, "bar_length_mm": bar_length_mm, "groups": gv_t}
    common = {"kind": "gauge", "gauge": gauge, "air_kerma_uGy": kerma_uGy, "transmission": transmission,
              "coordinates": "mm from the top-left pixel centre; bars_mm are [lo, hi] along the strip axis"}
    images = []
    if layout == "combined":
        kmap = np.float32(kerma_uGy) - att * (fyh[:, None] * fxh[None, :] + fyv[:, None] * fxv[None, :])
        r = render(det, kmap, rng)
        images.append(PhantomImage("gauge.dcm", r, _header(det, "line-pair gauges", kvp=60.0),
                                   {**common, "gauges": [info_h, info_v]}))
    elif layout == "separate":
        for name, kmap, info in (
                ("gauge_h.dcm", np.float32(kerma_uGy) - att * (fyh[:, None] * fxh[None, :]), info_h),
                ("gauge_v.dcm", np.float32(kerma_uGy) - att * (fyv[:, None] * fxv[None, :]), info_v)):
            images.append(PhantomImage(name, render(det, kmap, rng),
                                       _header(det, f"line-pair gauge {info['direction']}", kvp=60.0),
                                       {**common, "gauges": [info]}))
    else:
        raise ValueError(f"layout must be 'combined' or 'separate'; received {layout!r}")
    fn = det.nyquist_per_mm
    note = "criterion: f < Nyquist and axis MTF >= 0.15"
    exp = [_exp("dr.limiting_resolution.lp_per_mm", limit(gh_t), "lp/mm", "dr.limiting_resolution", note,
                label="horizontal"),
           _exp("dr.limiting_resolution.lp_per_mm", limit(gv_t), "lp/mm", "dr.limiting_resolution", note,
                label="vertical"),
           _exp("dr.limiting_resolution.nyquist_per_mm", fn, "lp/mm", "dr.limiting_resolution", "exact",
                label="horizontal"),
           _exp("dr.limiting_resolution.nyquist_per_mm", fn, "lp/mm", "dr.limiting_resolution", "exact",
                label="vertical")]
    test = {"kind": "dr.limiting_resolution", "images": [im.filename for im in images], "gauge": gauge}
    return PhantomSet(det, images, [test], exp, {"gauge": {"gauge": gauge, "layout": layout}})


# ----------------------------------------------------------------------------------------------------
# 7. artefacts
# ----------------------------------------------------------------------------------------------------
ARTIFACT_TYPES = ("dead_column", "hot_row", "cluster", "band")


def artifacts_phantom(det: DetectorModel, rng, *, artifacts=ARTIFACT_TYPES, kerma_uGy: float = 10.0,
                      heel_percent: float = 5.0, hot_gain: float = 1.5, band_gain: float = 1.02,
                      band_rows: int = 40, cluster_px: int = 5, filename: str = "artifacts.dcm") -> PhantomSet:
    """A flat field with a heel gradient (+/- heel_percent along y, not an artefact) and injected artefacts.

    Each type in ``artifacts`` is injected once: a dead column segment (gain 0: offset + noise), a hot row
    segment (gain x hot_gain), a cluster_px x cluster_px dead block and a band of band_rows rows with gain x
    band_gain. They are >= 50 px apart and >= 50 px from the border. ``artifacts=()`` is the clean variant.
    """
    rng = _rng(rng)
    unknown = set(artifacts) - set(ARTIFACT_TYPES)
    if unknown:
        raise ValueError(f"unknown artefact types {sorted(unknown)}; choose from {ARTIFACT_TYPES}")
    h, w = det.shape
    yn = np.linspace(-1.0, 1.0, h, dtype=np.float32)[:, None]
    gain = np.repeat((1.0 + np.float32(heel_percent / 100.0) * yn).astype(np.float32), w, axis=1)
    placed = []
    if "dead_column" in artifacts:
        c, r0, r1 = int(round(0.30 * w)), int(round(0.10 * h)), int(round(0.45 * h))
        gain[r0:r1, c] = 0.0
        placed.append({"type": "dead_column", "rows": [r0, r1], "cols": [c, c + 1]})
    if "hot_row" in artifacts:
        r, c0, c1 = int(round(0.70 * h)), int(round(0.10 * w)), int(round(0.45 * w))
        gain[r, c0:c1] *= np.float32(hot_gain)
        placed.append({"type": "hot_row", "rows": [r, r + 1], "cols": [c0, c1]})
    if "cluster" in artifacts:
        r0, c0 = int(round(0.25 * h)) - cluster_px // 2, int(round(0.75 * w)) - cluster_px // 2
        gain[r0:r0 + cluster_px, c0:c0 + cluster_px] = 0.0
        placed.append({"type": "cluster", "rows": [r0, r0 + cluster_px], "cols": [c0, c0 + cluster_px]})
    if "band" in artifacts:
        r0 = int(round(0.55 * h))
        gain[r0:r0 + band_rows, 50:w - 50] *= np.float32(band_gain)
        placed.append({"type": "band", "rows": [r0, r0 + band_rows], "cols": [50, w - 50], "gain": band_gain})
    _check_separation(placed, det.shape)
    r = render(det, np.float32(kerma_uGy), rng, gain=gain)
    img = PhantomImage(filename, r, _header(det, f"artefacts {kerma_uGy:g} uGy"),
                       {"kind": "artifacts", "air_kerma_uGy": kerma_uGy, "heel_percent": heel_percent,
                        "heel_axis": "y", "artifacts": placed,
                        "index_convention": "rows/cols are [start, stop) pixel indices"})
    exp = [_exp("dr.artifacts.count", len(placed), "1", "dr.artifacts", "exact count of injected artefacts")]
    return PhantomSet(det, [img], [{"kind": "dr.artifacts", "images": [filename]}], exp,
                      {"artifacts": {"types": list(artifacts), "heel_percent": heel_percent}})


def _check_separation(placed, shape) -> None:
    h, w = shape
    for a in placed:
        if a["rows"][0] < 50 or a["cols"][0] < 50 or a["rows"][1] > h - 50 or a["cols"][1] > w - 50:
            raise ValueError(f"artefact {a} is closer than 50 px to the border")
    for i, a in enumerate(placed):
        for b in placed[i + 1:]:
            gr = max(b["rows"][0] - a["rows"][1], a["rows"][0] - b["rows"][1])
            gc = max(b["cols"][0] - a["cols"][1], a["cols"][0] - b["cols"][1])
            if max(gr, gc) < 50:
                raise ValueError(f"artefacts {a['type']} and {b['type']} are closer than 50 px")


# ----------------------------------------------------------------------------------------------------
# suite
# ----------------------------------------------------------------------------------------------------
def _dqe_expected(det: DetectorModel, kerma_uGy: float, directions=("horizontal", "vertical")) -> list[dict]:
    nn = nnps_white(det, kerma_uGy)
    out = []
    for d in directions:
        sig = det.sigma_x_mm if d == "horizontal" else det.sigma_y_mm
        mtf = float(mtf_axis(0.5, sig, det.pitch_mm))
        out.append(_exp("dr.dqe.at_0p5_per_mm", mtf ** 2 / (det.q_per_uGy_mm2 * kerma_uGy * nn), "1", "dr.dqe",
                        "model value MTF^2/(q K NNPS) with the axis MTF and the white-noise NNPS", label=d))
    return out


def dr_suite(detector: str | DetectorModel = "3000", dtype: str = "uint16", seed: int = 0, *,
             quality: str = "pass", response: str = "linear", angle_deg: float = 3.0,
             limit_lp_per_mm: float | None = None, gauge: str = "huttner18",
             gauge_layout: str = "combined", only: tuple[str, ...] | None = None) -> PhantomSet:
    """All WS 76-2020 DR phantoms (and IEC MTF/NNPS/DQE) as one PhantomSet; see :func:`make_dr_suite`."""
    if quality not in ("pass", "fail"):
        raise ValueError(f"quality must be 'pass' or 'fail'; received {quality!r}")
    fail = quality == "fail"
    det = detector_preset(detector, dtype, response=response)
    if fail:
        det = det.with_(offset_pv=2.0 * det.offset_pv)
    if limit_lp_per_mm is not None:
        s = sigma_for_limit(limit_lp_per_mm, det.pitch_mm, gauge)
        det = det.with_(sigma_x_mm=s, sigma_y_mm=s)
    parts = ("dark", "flats", "ddi", "uniformity", "ghosting", "edge", "gauge", "artifacts")
    seeds = dict(zip(parts, np.random.SeedSequence(seed).spawn(len(parts))))
    chosen = parts if only is None else tuple(only)
    suite = PhantomSet(det, parameters={"detector": det.as_dict(), "quality": quality, "seed": seed})
    gen = lambda name: np.random.default_rng(seeds[name])  # noqa: E731
    ddi_error = 0.25 if fail else 0.04
    for name in chosen:
        if name == "dark":
            suite.extend(dark_phantom(det, gen(name)))
        elif name == "flats":
            suite.extend(flats_phantom(det, gen(name), target_r_squared=0.90 if fail else None,
                                       ddi_error=ddi_error))
        elif name == "ddi":
            suite.extend(ddi_phantom(det, gen(name), ddi_error=ddi_error))
        elif name == "uniformity":
            suite.extend(uniformity_phantom(det, gen(name), cv_percent=7.0 if fail else 2.0))
        elif name == "ghosting":
            suite.extend(ghosting_phantom(det, gen(name), ghost_percent=8.0 if fail else 2.0))
        elif name == "edge":
            suite.extend(edge_phantom(det, gen(name), angle_deg=angle_deg))
        elif name == "gauge":
            suite.extend(gauge_phantom(det, gen(name), gauge=gauge, layout=gauge_layout))
        elif name == "artifacts":
            suite.extend(artifacts_phantom(det, gen(name), artifacts=ARTIFACT_TYPES if fail else ()))
        else:
            raise ValueError(f"unknown suite part {name!r}; choose from {parts}")
    if {"ddi", "edge"} <= set(chosen) and det.response == "linear":
        ddi_names = [im.filename for im in suite.images if im.filename.startswith("ddi_")]
        edges = [im.filename for im in suite.images if im.filename.startswith("edge_")]
        suite.tests.append({"kind": "dr.dqe", "images": ddi_names, "edge_images": edges, "air_kerma_uGy": 10.0,
                            "beam_quality": "RQA5", "offset_pv": float(det.offset_pv)})
        suite.expected += _dqe_expected(det, 10.0)
    return suite


# ----------------------------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------------------------


# The reference detector's nominal dark offset is 100 PV; its "manufacturer" allows up to 150 PV.
SPEC_DARK_MEAN_PV = 150.0


def manufacturer_spec(ps: PhantomSet) -> dict[str, float]:
    """A manufacturer specification for the reference detector, for the acceptance criteria that compare with
    one: the dark-image mean PV (at most ``SPEC_DARK_MEAN_PV``) and the limiting resolution (the group that a
    Nyquist-limited detector of this pitch resolves, as in truth.json)."""
    kinds = {t["kind"] for t in ps.tests}
    spec: dict[str, float] = {}
    if "dr.dark_noise" in kinds:
        spec["dr.dark_noise.mean_pv"] = SPEC_DARK_MEAN_PV
    lim = [e["value"] for e in ps.expected if e["id"] == "dr.limiting_resolution.lp_per_mm"]
    if lim:
        spec["dr.limiting_resolution.lp_per_mm"] = float(min(lim))
    return spec


def write_phantom_set(ps: PhantomSet, out_dir: str | Path, *, profile: str = "ws76-2020-dr",
                      test_type: str = "acceptance", generator: str = GENERATOR) -> Path:
    """Write every image as DX For Processing DICOM, plus truth.json and manifest.toml; return the manifest path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    det = ps.detector
    study = new_uid()
    for i, im in enumerate(ps.images, start=1):
        hdr = {"StudyDate": _BASE_TIME.strftime("%Y%m%d"), "StudyTime": _BASE_TIME.strftime("%H%M%S")}
        hdr.update(_times(_BASE_TIME + _dt.timedelta(minutes=2 * i)))
        hdr.update(im.header)
        write_dx(out / im.filename, im.stored, spacing_mm=det.spacing_mm, rescale_slope=det.rescale_slope,
                 rescale_intercept=det.rescale_intercept, series_uid=new_uid(), study_uid=study,
                 instance_number=i, header=hdr)
    truth = {"schema": "phantomqc.truth/1", "generator": generator, "parameters": ps.parameters,
             "definitions": DEFINITIONS, "files": {im.filename: im.info for im in ps.images},
             "expected": ps.expected}
    (out / "truth.json").write_text(json.dumps(truth, indent=1, default=json_default))
    lines = ['schema = "phantomqc.manifest/1"', f"profile = {toml_value(profile)}",
             f"test_type = {toml_value(test_type)}", "",
             "# written by reference_phantoms.dr; the expected values are in truth.json", ""]
    spec = manufacturer_spec(ps)
    if spec:
        lines += ["# the reference detector's 'manufacturer specification' (acceptance criteria that need one)",
                  "spec = {" + ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in spec.items()) + "}",
                  ""]
    for t in ps.tests:
        lines.append("[[test]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in t.items()]
        lines.append("")
    manifest = out / "manifest.toml"
    manifest.write_text("\n".join(lines))
    return manifest


def _writer(build: Callable[..., PhantomSet]) -> Callable[..., Path]:
    def make(out_dir: str | Path, *, detector: str | DetectorModel = "3000", dtype: str = "uint16",
             seed: int = 0, **kwargs) -> Path:
        det = detector_preset(detector, dtype)
        ps = build(det, np.random.default_rng(seed), **kwargs)
        ps.parameters = {"detector": det.as_dict(), "seed": seed, **ps.parameters}
        return write_phantom_set(ps, out_dir)
    make.__name__ = "make_" + build.__name__.replace("_phantom", "")
    make.__doc__ = (f"Write :func:`{build.__name__}` (keyword options passed on) as DICOM + truth.json + "
                    f"manifest.toml into ``out_dir``; return the manifest path.")
    return make


make_dark = _writer(dark_phantom)
make_flats = _writer(flats_phantom)
make_ddi = _writer(ddi_phantom)
make_uniformity = _writer(uniformity_phantom)
make_ghosting = _writer(ghosting_phantom)
make_edge = _writer(edge_phantom)
make_gauge = _writer(gauge_phantom)
make_artifacts = _writer(artifacts_phantom)


def make_dr_suite(out_dir: str | Path, *, detector: str | DetectorModel = "3000", dtype: str = "uint16",
                  seed: int = 0, quality: str = "pass", **kwargs) -> Path:
    """Write the whole DR reference suite into ``out_dir`` and return the path of its manifest.toml.

    Files: dark.dcm, flat_01uGy ... flat_30uGy.dcm, ddi_1..3.dcm (10 uGy, ExposureIndex set),
    uniformity.dcm, lag_block.dcm, lag_after.dcm, edge_h.dcm, edge_v.dcm, gauge.dcm, artifacts.dcm,
    truth.json, manifest.toml (profile ws76-2020-dr, acceptance). ``quality='fail'`` breaks the
    WS 76-2020 limits: CV 7 %, ghost 8 %, STP R^2 0.90 (the 30 uGy flat's gain droops), artefacts present,
    offset doubled, DDI deviation +25 %.
    Other keywords: response, angle_deg, limit_lp_per_mm, gauge, gauge_layout, only (see :func:`dr_suite`).
    """
    ps = dr_suite(detector, dtype, seed, quality=quality, **kwargs)
    return write_phantom_set(ps, out_dir)


DR_PHANTOMS: dict[str, Callable[..., Path]] = {
    "dr-suite": make_dr_suite,
    "dr-dark": make_dark,
    "dr-flats": make_flats,
    "dr-ddi": make_ddi,
    "dr-uniformity": make_uniformity,
    "dr-ghosting": make_ghosting,
    "dr-edge": make_edge,
    "dr-gauge": make_gauge,
    "dr-artifacts": make_artifacts,
}
"""Phantom kinds for ``phantomqc phantoms make KIND --out DIR``: each maker(out_dir, **options) -> manifest path."""
