"""Which test does a series of images without a manifest ask for? Tags first, the image second.

Every decision records its reason. A series that cannot be identified raises ``PhantomNotFoundError``
naming the file, so it gets an error entry and is never silently dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from phantomqc._shared.errors import InputError, PhantomNotFoundError, PhantomQCError
from phantomqc.core.registry import all_kinds

__all__ = ["Decision", "identify_series", "DR_MODALITIES"]

DR_MODALITIES = ("DX", "CR", "RG", "DR")

# (pattern on SeriesDescription / ImageComments / ProtocolName, test kinds)
_DR_TAG_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"\bdark\b|暗噪声|dark[ _-]?noise", ("dr.dark_noise",)),
    (r"slanted[ _-]?edge|\bedge\b|\bmtf\b", ("dr.mtf",)),
    (r"line[ _-]?pair|\blp\b|gauge|limiting[ _-]?resolution|分辨力", ("dr.limiting_resolution",)),
    (r"artefact|artifact|伪影", ("dr.artifacts",)),
    (r"flat[ _-]?field|\bflat\b|uniformity|均匀性", ("dr.response_uniformity", "dr.artifacts")),
)


@dataclass(frozen=True)
class Decision:
    kind: str
    reason: str
    paths: tuple[str, ...] = ()


def _text_of(meta) -> str:
    return " ".join(x for x in (meta.series_description, meta.image_comments,
                                str(meta.extra.get("ProtocolName", ""))) if x).lower()


def _looks_flat(pixels: np.ndarray) -> tuple[bool, str]:
    """A flat field: the central 80 % of the image has block means within +-15 % of their median."""
    h, w = pixels.shape
    b = max(1, min(h, w) // 32)
    core = pixels[h // 10: h - h // 10, w // 10: w - w // 10]
    hh, ww = (core.shape[0] // b) * b, (core.shape[1] // b) * b
    blocks = core[:hh, :ww].reshape(hh // b, b, ww // b, b).mean(axis=(1, 3), dtype=np.float64)
    med = float(np.median(blocks))
    if med <= 0:
        return False, "the median signal is not positive"
    spread = float(np.max(np.abs(blocks - med)) / med)
    return spread < 0.15, f"block means within {spread * 100:.1f} % of their median"


def identify_series(series, *, kind: str | None = None) -> list[Decision]:
    """Decide the test kinds for one series (``phantomqc.io.Series``).

    ``kind`` forces the test (``--kind``). Otherwise DR images are identified from the text tags, and then
    from the image (a uniform field gives the flat-field tests).
    """
    first = series.images[0].meta
    paths = tuple(dict.fromkeys(im.meta.path for im in series.images))
    if kind is not None:
        kinds = all_kinds()
        if kind not in kinds:
            raise InputError(f"unknown test kind {kind!r}; see `phantomqc kinds`", path=paths[0])
        return [Decision(kind, f"forced by --kind {kind}", paths)]
    if first.modality in DR_MODALITIES:
        text = _text_of(first)
        for pattern, kinds_for in _DR_TAG_RULES:
            m = re.search(pattern, text)
            if m:
                return [Decision(k, f"modality {first.modality}; description/comments contain '{m.group(0)}'", paths)
                        for k in kinds_for]
        flat, why = _looks_flat(series.images[0].pixels)
        if flat:
            return [Decision(k, f"modality {first.modality}; the image is a uniform field ({why})", paths)
                    for k in ("dr.response_uniformity", "dr.artifacts")]
        raise PhantomNotFoundError(
            f"could not tell which DR test this {first.modality} image is for: its description and comments name "
            f"no test, and it is not a uniform field ({why}). Give --kind KIND or list it in a manifest "
            f"(see `phantomqc kinds`)", path=paths[0])
    if first.modality == "CT":
        return [_identify_ct(series, paths)]
    raise PhantomNotFoundError(
        f"no analyzer for modality {first.modality or '(none)'} in phantomqc {_version()}: this version analyses "
        f"DR/CR (DX, CR) and CT images; MR and PET/SPECT analyzers are being added", path=paths[0])


# (pattern on SeriesDescription / ImageComments / ProtocolName, CT test kind)
_CT_TAG_RULES: tuple[tuple[str, str], ...] = (
    (r"cat ?phan|ctp ?404|ctp ?528", "ct.catphan"),
    (r"\bacr\b|gammex|\b464\b", "ct.acr464"),
    (r"\bwater\b|水模|water[ _-]?phantom", "ct.water"),
)


def _identify_ct(series, paths: tuple[str, ...]) -> Decision:
    """A CT series: tags first, then the image (CatPhan CTP404 insert pattern, else a uniform cylinder)."""
    text = _text_of(series.images[0].meta)
    for pattern, kind in _CT_TAG_RULES:
        m = re.search(pattern, text)
        if m:
            return Decision(kind, f"modality CT; description/comments contain '{m.group(0)}'", paths)
    from phantomqc.ct._series import ct_series
    from phantomqc.ct.localize import identify_catphan, localize

    try:
        s = ct_series(series.images, "identify")
    except PhantomQCError as exc:
        raise PhantomNotFoundError(f"could not identify this CT series: {exc.message}", path=paths[0]) from None
    try:
        pid, why, conf = identify_catphan(s.slices, s.spacing_mm, s.z_mm, thickness_mm=s.thickness_mm)
        if conf >= 0.5:
            return Decision("ct.catphan", f"modality CT; the image shows a CatPhan CTP404 pattern ({why})", paths)
    except PhantomQCError:
        pass
    try:
        loc = localize(s.slices, s.spacing_mm, s.z_mm, "water200", thickness_mm=s.thickness_mm)
    except PhantomQCError as exc:
        raise PhantomNotFoundError(f"could not identify this CT series: no CatPhan pattern, and no water cylinder "
                                   f"({exc.message}). Give --kind KIND or a manifest", path=paths[0]) from None
    mid = s.slices[len(s.slices) // 2]
    c = loc.centers_px[len(s.slices) // 2]
    r_px = 0.35 * loc.diameter_mm / s.spacing_mm[0]
    if np.isfinite(c[0]):
        y0, y1 = int(max(c[0] - r_px, 0)), int(c[0] + r_px)
        x0, x1 = int(max(c[1] - r_px, 0)), int(c[1] + r_px)
        core = mid[y0:y1:2, x0:x1:2]
        spread = float(np.percentile(core, 99.5) - np.percentile(core, 0.5))
        sd = float(np.std(core))
        if 150.0 <= loc.diameter_mm <= 250.0 and abs(float(np.median(core))) < 100.0 and spread < 12.0 * max(sd, 1.0):
            return Decision("ct.water", f"modality CT; a uniform cylinder of {loc.diameter_mm:.0f} mm with median "
                            f"{float(np.median(core)):.0f} HU (a water phantom)", paths)
    raise PhantomNotFoundError("could not tell which CT phantom this series shows: its description names none, it "
                               "has no CatPhan insert pattern and it is not a uniform water cylinder. Give --kind "
                               "ct.catphan|ct.acr464|ct.water or list it in a manifest", path=paths[0])


def _version() -> str:
    from phantomqc import __version__

    return __version__
