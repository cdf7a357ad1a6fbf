"""Which test does a series of images without a manifest ask for? Tags first, the image second.

The tag rules are data: ``phantomqc/identify_rules.toml`` (shipped), with a site's own rules file
(``PHANTOMQC_IDENTIFY_RULES`` or ``identify_series(..., rules_path=...)``) tried before them. A rule matches on the
modality, (0028,0300) *Quality Control Image*, the (0050,0010) *Device Sequence*, the series description, protocol
name, image comments, station name and body part examined, and gives one or more test kinds. Where no rule matches,
the image itself is looked at (a uniform field, a slanted edge, a CatPhan CTP404 insert pattern, a water cylinder,
the ACR MRI phantom, a flood, four bars, the IEC body phantom...).

Every decision records its reason (which rule and which tag, or what the image showed). A series that cannot be
identified raises ``PhantomNotFoundError`` naming the file and the cause, so it gets an error entry and is never
silently dropped.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tomllib

from phantomqc._shared.errors import InputError, PhantomNotFoundError, PhantomQCError
from phantomqc.core.registry import all_kinds

__all__ = [
    "DR_MODALITIES",
    "RULES_ENV",
    "SHIPPED_RULES_PATH",
    "Decision",
    "IdentifyRule",
    "identify_series",
    "load_rules",
    "pair_single_images",
]

DR_MODALITIES = ("DX", "CR", "RG", "DR")

#: Environment variable naming a site's rules file (tried before the shipped rules).
RULES_ENV = "PHANTOMQC_IDENTIFY_RULES"
#: The shipped rules.
SHIPPED_RULES_PATH = Path(__file__).with_name("identify_rules.toml")
_RULES_SCHEMA = "phantomqc.identify_rules/1"

# rule key -> (tag as DICOM names it, how to read it from ImageMeta)
_TAG_FIELDS = {
    "series_description": ("(0008,103E) Series Description", lambda m: m.series_description),
    "image_comments": ("(0020,4000) Image Comments", lambda m: m.image_comments),
    "protocol_name": ("(0018,1030) Protocol Name", lambda m: str(m.extra.get("protocol_name", "") or "")),
    "station_name": ("(0008,1010) Station Name", lambda m: m.station_name),
    "body_part_examined": ("(0018,0015) Body Part Examined",
                           lambda m: str(m.extra.get("body_part_examined", "") or "")),
}
_TEXT_FIELDS = ("series_description", "image_comments", "protocol_name")
_RULE_KEYS = {"name", "modality", "quality_control_image", "device", "text", "kinds", *_TAG_FIELDS}


@dataclass(frozen=True)
class IdentifyRule:
    """One tag rule (see ``phantomqc/identify_rules.toml`` for the fields).

    ``patterns`` maps a condition key (``text``, ``device`` or a key of the tag fields) to its compiled,
    case-insensitive regex; ``source`` is the rules file the rule came from.
    """

    name: str
    kinds: tuple[str, ...]
    source: str
    modality: tuple[str, ...] = ()
    quality_control_image: bool | None = None
    patterns: tuple[tuple[str, re.Pattern], ...] = ()

    def match(self, meta) -> str | None:
        """The reason this rule matches ``meta`` (an ``ImageMeta``), or ``None`` when a condition fails."""
        why = []
        if self.modality and meta.modality.upper() not in self.modality:
            return None
        if self.quality_control_image is not None:
            qc = str(meta.extra.get("quality_control_image", "") or "").upper() == "YES"
            if qc != self.quality_control_image:
                return None
            why.append(f"(0028,0300) Quality Control Image is {'YES' if qc else 'not YES'}")
        for key, pattern in self.patterns:
            if key == "text":
                fields = [(_TAG_FIELDS[k][0], _TAG_FIELDS[k][1](meta)) for k in _TEXT_FIELDS]
            elif key == "device":
                fields = [("(0050,0010) Device Sequence", v) for v in meta.extra.get("device_sequence", ()) or ()]
            else:
                fields = [(_TAG_FIELDS[key][0], _TAG_FIELDS[key][1](meta))]
            hit = next(((tag, value, m) for tag, value in fields if value for m in [pattern.search(value)] if m),
                        None)
            if hit is None:
                return None
            tag, value, m = hit
            why.append(f"{tag} '{value}' contains '{m.group(0)}'")
        where = "shipped rules" if self.source == str(SHIPPED_RULES_PATH) else f"rules file {self.source}"
        return f"rule '{self.name}' ({where}): " + "; ".join(why)


def _rule_from_table(t: dict, index: int, source: str, kinds_known) -> IdentifyRule:
    where = f"[[rule]] #{index + 1}" + (f" ('{t['name']}')" if isinstance(t.get("name"), str) else "")
    unknown = sorted(set(t) - _RULE_KEYS)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown}; a rule takes {sorted(_RULE_KEYS)}", path=source)
    kinds = t.get("kinds")
    if isinstance(kinds, str):
        kinds = [kinds]
    if not kinds or not all(isinstance(k, str) for k in kinds):
        raise InputError(f"{where}: 'kinds' must be a list of test kinds, got {kinds!r}", path=source)
    bad = [k for k in kinds if k not in kinds_known]
    if bad:
        raise InputError(f"{where}: unknown test kind(s) {bad}; see `phantomqc kinds`", path=source)
    modality = t.get("modality", ())
    if isinstance(modality, str):
        modality = [modality]
    qc = t.get("quality_control_image")
    if qc is not None and not isinstance(qc, bool):
        raise InputError(f"{where}: 'quality_control_image' must be true or false, got {qc!r}", path=source)
    patterns = []
    for key in ("text", "device", *_TAG_FIELDS):
        if key in t:
            try:
                patterns.append((key, re.compile(str(t[key]), re.IGNORECASE)))
            except re.error as exc:
                raise InputError(f"{where}: '{key}' is not a valid regular expression ({exc})", path=source) from None
    if not patterns and qc is None:
        raise InputError(f"{where}: a rule needs a condition besides 'modality' (text, device, a tag or "
                         f"quality_control_image), so that the image is still looked at when the tags are silent",
                         path=source)
    return IdentifyRule(name=str(t.get("name", f"#{index + 1}")), kinds=tuple(kinds), source=source,
                        modality=tuple(str(m).upper() for m in modality), quality_control_image=qc,
                        patterns=tuple(patterns))


@functools.lru_cache(maxsize=16)
def _load_rules_file(path: str, mtime_ns: int) -> tuple[IdentifyRule, ...]:
    """The rules of one file, parsed and validated (cached on the path and its modification time)."""
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise InputError(f"cannot read the identification rules file: {exc.strerror}", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"the identification rules file is not valid TOML: {exc}", path=path) from None
    schema = doc.get("schema", _RULES_SCHEMA)
    if schema != _RULES_SCHEMA:
        raise InputError(f"schema {schema!r} is not {_RULES_SCHEMA!r}", path=path)
    tables = doc.get("rule", [])
    if not isinstance(tables, list):
        raise InputError("the rules must be [[rule]] tables", path=path)
    known = all_kinds()
    return tuple(_rule_from_table(t, i, path, known) for i, t in enumerate(tables))


def load_rules(rules_path: str | os.PathLike | None = None) -> tuple[IdentifyRule, ...]:
    """The tag rules in the order they are tried: the site's (``rules_path``, else the file named by
    ``$PHANTOMQC_IDENTIFY_RULES``), then the shipped ``phantomqc/identify_rules.toml``.

    Raises ``InputError`` naming the file when a rules file cannot be read or a rule is invalid (an unknown key
    or test kind, a bad regular expression, no condition).
    """
    site = rules_path if rules_path is not None else (os.environ.get(RULES_ENV) or None)
    files = ([str(Path(site).resolve())] if site else []) + [str(SHIPPED_RULES_PATH)]
    out: list[IdentifyRule] = []
    for f in files:
        try:
            mtime = os.stat(f).st_mtime_ns
        except OSError as exc:
            raise InputError(f"cannot read the identification rules file ({RULES_ENV} or rules_path): "
                             f"{exc.strerror}", path=f) from None
        out.extend(_load_rules_file(f, mtime))
    return tuple(out)


def _match_rules(meta, rules, accept=None) -> tuple[tuple[str, ...], str] | None:
    """The kinds and reason of the first rule that matches ``meta``; ``accept(kinds)`` may adjust the kinds or
    return ``None`` to pass a rule over."""
    for rule in rules:
        why = rule.match(meta)
        if why is None:
            continue
        kinds = rule.kinds if accept is None else accept(rule.kinds)
        if kinds is None:
            continue
        return kinds, f"modality {meta.modality}; {why}"
    return None


def _qc_note(meta) -> str:
    qc = str(meta.extra.get("quality_control_image", "") or "").upper()
    return " ((0028,0300) Quality Control Image is YES: a QC image, but of no phantom phantomqc recognises)" \
        if qc == "YES" else ""


@dataclass(frozen=True)
class Decision:
    """One test to run on a series: its ``kind``, the ``reason`` (which rule and tag, or what the image showed)
    and the ``paths`` of its files."""

    kind: str
    reason: str
    paths: tuple[str, ...] = ()


def identify_series(series, *, kind: str | None = None, rules_path: str | os.PathLike | None = None
                    ) -> list[Decision]:
    """Decide the test kinds for one series (``phantomqc.io.Series``): tags first, the image second.

    Parameters
    ----------
    series : phantomqc.io.Series
        The images of one series.
    kind : str, optional
        Forces the test (``--kind``).
    rules_path : path, optional
        A site's rules file, tried before the shipped rules; default: ``$PHANTOMQC_IDENTIFY_RULES`` if set.

    Returns
    -------
    list of Decision
        One or more tests, each with the reason.

    Raises
    ------
    PhantomNotFoundError
        Neither the tags nor the image tell the test; the message names the file and what was seen.
    InputError
        An unknown forced kind, or an invalid rules file.
    """
    first = series.images[0].meta
    paths = tuple(dict.fromkeys(im.meta.path for im in series.images))
    if kind is not None:
        kinds = all_kinds()
        if kind not in kinds:
            raise InputError(f"unknown test kind {kind!r}; see `phantomqc kinds`", path=paths[0])
        return [Decision(kind, f"forced by --kind {kind}", paths)]
    rules = load_rules(rules_path)
    if first.modality == "MR":  # the localiser first, and the ACR rule needs the series' shape
        return _identify_mr(series, paths, rules)
    hit = _match_rules(first, rules)
    if hit is not None:
        return [Decision(k, hit[1], paths) for k in hit[0]]
    if first.modality in DR_MODALITIES:
        return _identify_dr(series, paths)
    from_image = {"CT": _identify_ct, "NM": _identify_nm, "PT": _identify_pt}.get(first.modality)
    if from_image is not None:
        return [from_image(series, paths)]
    raise PhantomNotFoundError(
        f"no analyzer for modality {first.modality or '(none)'} in phantomqc {_version()}: this version analyses "
        f"DR/CR (DX, CR), CT, MR, NM and PT images, and no identification rule names this series"
        f"{_qc_note(first)}", path=paths[0])


# ----------------------------------------------------------------------------------------------------
# DR / CR
# ----------------------------------------------------------------------------------------------------
#: Below this fraction of the positive stored range (2^BitsStored - 1, or 2^(BitsStored-1) - 1 when signed) a
#: uniform DR image may be a dark image (the detector offset) as well as a barely exposed flat: the image alone
#: cannot tell them apart. (A 1 uGy flat of the 16-bit reference detector is at 0.76 %, its dark image at 0.15 %.)
_DR_DARK_FRACTION = 0.01


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


def _looks_like_edge(pixels: np.ndarray) -> tuple[bool, str]:
    """A slanted edge: the image splits into a dark and a bright part (each >= 15 % of the image) whose boundary
    is one straight line across the field (boundary points within 2 % of the image size of a fitted line).

    Works on a block-mean image of about 128 x 128; the line is the total-least-squares fit (first principal
    axis) of the boundary pixels.
    """
    h, w = pixels.shape
    b = max(1, min(h, w) // 128)
    hh, ww = (h // b) * b, (w // b) * b
    small = pixels[:hh, :ww].reshape(hh // b, b, ww // b, b).mean(axis=(1, 3), dtype=np.float64)
    lo, hi = np.percentile(small, [5.0, 95.0])
    if not hi > lo:
        return False, "no contrast"
    bright = small > 0.5 * (lo + hi)
    frac = float(bright.mean())
    if not 0.15 <= frac <= 0.85:
        return False, f"{frac * 100:.0f} % of the image above the mid level (an edge splits it 15-85 %)"
    edge = np.zeros_like(bright)
    edge[:, 1:] |= bright[:, 1:] != bright[:, :-1]
    edge[1:, :] |= bright[1:, :] != bright[:-1, :]
    ys, xs = np.nonzero(edge)
    if ys.size < 10:
        return False, "no boundary"
    pts = np.column_stack([ys, xs]).astype(np.float64)
    pts -= pts.mean(axis=0)
    _, _, vt = np.linalg.svd(pts, full_matrices=False)
    resid = np.abs(pts @ vt[1])
    span = float(np.ptp(pts @ vt[0]))
    n = min(small.shape)
    straight = float(np.percentile(resid, 95)) <= 0.02 * n and span >= 0.6 * n
    return straight, (f"boundary points within {float(np.percentile(resid, 95)) / n * 100:.1f} % of the image size "
                      f"of one line spanning {span / n * 100:.0f} % of it")


def _identify_dr(series, paths: tuple[str, ...]) -> list[Decision]:
    """DR/CR from the image (the tag rules come first): a uniform field (``dr.response_uniformity`` +
    ``dr.artifacts``), unless its signal is so low that it may be a dark image (then unrecognised); else one
    straight edge across the field (``dr.mtf``)."""
    first = series.images[0].meta
    pixels = series.images[0].pixels
    flat, why = _looks_flat(pixels)
    if flat:
        bits = int(first.bits_stored or 16)
        signed = first.extra.get("pixel_representation") == 1
        full = float(2 ** (bits - 1) - 1 if signed else 2 ** bits - 1)  # the positive stored range
        stored_median = (float(np.median(pixels[::4, ::4])) - first.rescale_intercept) / (first.rescale_slope or 1.0)
        if stored_median < _DR_DARK_FRACTION * full:
            raise PhantomNotFoundError(
                f"this {first.modality} image is uniform ({why}) but its signal is low: median {stored_median:.0f} "
                f"of the positive stored range 0..{full:.0f} ({stored_median / full * 100:.2f} %, below "
                f"{_DR_DARK_FRACTION * 100:.0f} %). A dark image (detector offset, no exposure) and a barely "
                f"exposed flat field look alike, and its description and comments name no test. Give --kind "
                f"dr.dark_noise (or another kind) or list it in a manifest{_qc_note(first)}", path=paths[0])
        return [Decision(k, f"modality {first.modality}; the image is a uniform field ({why})", paths)
                for k in ("dr.response_uniformity", "dr.artifacts")]
    edge, why_edge = _looks_like_edge(pixels)
    if edge:
        return [Decision("dr.mtf", f"modality {first.modality}; the image is a straight edge across the field "
                         f"({why_edge})", paths)]
    raise PhantomNotFoundError(
        f"could not tell which DR test this {first.modality} image is for: its description and comments name "
        f"no test, it is not a uniform field ({why}) and not a single straight edge ({why_edge}); a line-pair "
        f"gauge or a lag (ghosting) exposure is not recognised from the image. Give --kind KIND or list it in a "
        f"manifest (see `phantomqc kinds`){_qc_note(first)}", path=paths[0])


# ----------------------------------------------------------------------------------------------------
# CT
# ----------------------------------------------------------------------------------------------------
def _ct_insert_areas_mm2(sl: np.ndarray, c, r_px: float, px_area_mm2: float) -> tuple[float, float, float]:
    """Areas (mm^2) above +500 HU and below -500 HU within ``r_px`` of ``c`` on one slice, and the HU spread
    (99.5th - 0.5th percentile) there."""
    yy, xx = np.ogrid[:sl.shape[0], :sl.shape[1]]
    inside = (yy - c[0]) ** 2 + (xx - c[1]) ** 2 <= r_px ** 2
    v = sl[inside]
    if v.size == 0:
        return 0.0, 0.0, float("inf")
    return (float((v > 500.0).sum()) * px_area_mm2, float((v < -500.0).sum()) * px_area_mm2,
            float(np.percentile(v, 99.5) - np.percentile(v, 0.5)))


def _identify_ct(series, paths: tuple[str, ...]) -> Decision:
    """A CT series from the image (the tag rules come first): a CatPhan CTP404 insert pattern; else a ~200 mm cylinder with
    a dense (> +500 HU) and an air (< -500 HU) insert of >= 150 mm^2 each on one slice (the ACR 464 CT-number
    module); else a cylinder uniform on every slice (a water phantom)."""
    meta = series.images[0].meta
    from phantomqc.ct._series import ct_series
    from phantomqc.ct.localize import identify_catphan, localize

    try:
        s = ct_series(series.images, "identify")
    except PhantomQCError as exc:
        raise PhantomNotFoundError(f"could not identify this CT series: {exc.cause}", path=paths[0]) from None
    try:
        _, why, conf = identify_catphan(s.slices, s.spacing_mm, s.z_mm, thickness_mm=s.thickness_mm)
        if conf >= 0.5:
            return Decision("ct.catphan", f"modality CT; the image shows a CatPhan CTP404 pattern ({why})", paths)
    except PhantomQCError:
        pass
    try:
        loc = localize(s.slices, s.spacing_mm, s.z_mm, "water200", thickness_mm=s.thickness_mm)
    except PhantomQCError as exc:
        raise PhantomNotFoundError(f"could not identify this CT series: no CatPhan pattern, and no cylinder "
                                   f"({exc.cause}). Give --kind KIND or a manifest{_qc_note(meta)}",
                                   path=paths[0]) from None
    r_px = 0.35 * loc.diameter_mm / s.spacing_mm[0]
    px_area = float(s.spacing_mm[0] * s.spacing_mm[1])
    present = [i for i, c in enumerate(loc.centers_px) if np.isfinite(c[0])]
    worst_spread, worst_i = 0.0, None
    for i in present:
        dense, air, spread = _ct_insert_areas_mm2(s.slices[i], loc.centers_px[i], r_px, px_area)
        if 150.0 <= loc.diameter_mm <= 250.0 and dense >= 150.0 and air >= 150.0:
            return Decision("ct.acr464", f"modality CT; a {loc.diameter_mm:.0f} mm cylinder with a dense insert "
                            f"({dense:.0f} mm^2 above +500 HU) and an air insert ({air:.0f} mm^2 below -500 HU) on "
                            f"slice {i + 1} and no CatPhan CTP404 pattern: the ACR 464 CT-number module", paths)
        if spread > worst_spread:
            worst_spread, worst_i = spread, i
    if present:
        mid = present[len(present) // 2]
        c = loc.centers_px[mid]
        y0, y1 = int(max(c[0] - r_px, 0)), int(c[0] + r_px)
        x0, x1 = int(max(c[1] - r_px, 0)), int(c[1] + r_px)
        core = s.slices[mid][y0:y1:2, x0:x1:2]
        sd = float(np.std(core))
        median = float(np.median(core))
        if 150.0 <= loc.diameter_mm <= 250.0 and abs(median) < 100.0 and worst_spread < 12.0 * max(sd, 1.0):
            return Decision("ct.water", f"modality CT; a uniform cylinder of {loc.diameter_mm:.0f} mm with median "
                            f"{median:.0f} HU, uniform on all {len(present)} slices (a water phantom)", paths)
    raise PhantomNotFoundError(
        f"could not tell which CT phantom this series shows: its description names none, it has no CatPhan insert "
        f"pattern, no ACR 464 dense-and-air inserts, and it is not uniform on every slice (HU spread "
        f"{worst_spread:.0f} on slice {(worst_i or 0) + 1}). Give --kind ct.catphan|ct.acr464|ct.water or list "
        f"it in a manifest{_qc_note(meta)}", path=paths[0])


# ----------------------------------------------------------------------------------------------------
# MR
# ----------------------------------------------------------------------------------------------------
#: The ACR large phantom seen on a sagittal localiser: 148 mm long (inside) by 190 mm in diameter.
_ACR_SAGITTAL_MM = (148.0, 190.0)


def _object_extent_mm(im) -> tuple[float, float]:
    """Extent (rows, columns) in mm of the object above half the 99th percentile (rows / columns with more than
    3 such pixels)."""
    px = np.asarray(im.pixels, dtype=np.float64)
    mask = px > 0.5 * np.percentile(px, 99)
    rows = np.nonzero(mask.sum(axis=1) > 3)[0]
    cols = np.nonzero(mask.sum(axis=0) > 3)[0]
    if rows.size == 0 or cols.size == 0:
        return 0.0, 0.0
    return float((rows[-1] - rows[0]) * im.spacing_mm[0]), float((cols[-1] - cols[0]) * im.spacing_mm[1])


#: A flood (uniform object) has no dark structure: at most this fraction of the pixels within 70 % of its
#: diameter is below half the median (measured: 0 on every real and twin flood, 0.0068 on a slice-width object).
_MR_FLOOD_MAX_DARK_FRACTION = 0.002


def _dark_fraction_inside(im, circle) -> float:
    """Fraction of the pixels within 70 % of the fitted circle's diameter below half their median."""
    px = np.asarray(im.pixels, dtype=np.float64)
    cy, cx = circle.center_px
    r = 0.35 * circle.diameter_mm / im.spacing_mm[0]
    yy, xx = np.ogrid[:px.shape[0], :px.shape[1]]
    v = px[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r]
    if v.size == 0:
        return 0.0
    return float(np.mean(v < 0.5 * np.median(v)))


def _identify_mr(series, paths: tuple[str, ...], rules) -> list[Decision]:
    """An MR series: the localiser and the tag rules first, then the image: 11 axial images of a 190 mm cylinder
    (the ACR phantom), one sagittal image of a 148 x 190 mm object (its localiser), one image of a small object
    (< 100 mm) in a FOV at least twice as wide (the ghosting layout), one or two images of one object (a flood,
    or an SNR pair when a repeat of the same slice is found: see :func:`pair_single_images`)."""
    from phantomqc.mr._series import mr_series

    try:
        s = mr_series(series.images, kind="identify", single_sagittal_is_localizer=False)
    except PhantomQCError as exc:
        raise PhantomNotFoundError(f"could not identify this MR series: {exc.cause}", path=paths[0]) from None
    meta = series.images[0].meta
    n = len(s.images)
    if s.is_localizer and n == 1 and s.orientation == "sagittal":
        return [Decision("mr.acr_localizer", f"modality MR; a sagittal localiser ({s.localizer_reason})", paths)]
    acr_named = [False]

    def accept(kinds):
        if kinds[0] == "mr.acr":
            acr_named[0] = True
            if n == 1 and s.orientation == "sagittal":
                return ("mr.acr_localizer",)
            if n != 11:
                return None
        return kinds

    hit = _match_rules(meta, rules, accept)
    if hit is not None:
        return [Decision(k, hit[1], paths) for k in hit[0]]
    from phantomqc.mr.localize import find_phantom

    if n == 11 and s.orientation == "axial":
        mid = s.images[6]
        try:
            circle = find_phantom(mid.pixels, mid.spacing_mm)
        except PhantomQCError as exc:
            raise PhantomNotFoundError(f"an 11-image axial MR series without a phantom in view on its 7th image "
                                       f"({exc.cause})", path=paths[0]) from None
        if 180.0 <= circle.diameter_mm <= 200.0:
            return [Decision("mr.acr", f"modality MR; 11 axial images of a {circle.diameter_mm:.0f} mm cylinder "
                            f"(the ACR large phantom: 190 mm)", paths)]
    if acr_named[0] and s.orientation == "axial" and n > 1:
        raise PhantomNotFoundError(f"an ACR series ('acr' in its tags) needs the 11 axial slices; this one has "
                                   f"{n} (a partial scan?). Send the whole series, or give --kind KIND for another "
                                   f"test", path=paths[0])
    if n in (1, 2):
        im = s.images[0]
        try:
            circle = find_phantom(im.pixels, im.spacing_mm)
        except PhantomQCError as exc:
            raise PhantomNotFoundError(f"no phantom in view, so no MR test applies: {exc.cause}",
                                       path=paths[0]) from None
        ext = _object_extent_mm(im)
        if n == 1 and s.orientation == "sagittal" and all(
                abs(a - b) <= 10.0 for a, b in zip(sorted(ext), _ACR_SAGITTAL_MM)):
            return [Decision("mr.acr_localizer", f"modality MR; one sagittal image of an object of {ext[0]:.0f} x "
                            f"{ext[1]:.0f} mm (the ACR phantom seen from the side: 148 x 190 mm): its localiser",
                            paths)]
        fov_mm = min(im.pixels.shape[0] * im.spacing_mm[0], im.pixels.shape[1] * im.spacing_mm[1])
        if max(ext) < 100.0 and fov_mm >= 2.0 * max(ext):
            return [Decision("mr.ghosting", f"modality MR; one image of a small object ({max(ext):.0f} mm) in a "
                            f"{fov_mm:.0f} mm field of view: the ghosting layout (room for background ROIs around "
                            f"the object)", paths)]
        dark = _dark_fraction_inside(im, circle)
        if dark > _MR_FLOOD_MAX_DARK_FRACTION:
            raise PhantomNotFoundError(
                f"could not tell which MR test this {n}-image {s.orientation} series is for: its tags name none, "
                f"and the {circle.diameter_mm:.0f} mm object has internal structure ({dark * 100:.2f} % of its "
                f"central 70 % below half the median signal), so it is not a flood; a geometry or slice-width "
                f"object is not recognised from the image. Give --kind KIND (e.g. mr.slice_width) or a manifest"
                f"{_qc_note(meta)}", path=paths[0])
        if n == 2:
            return [Decision("mr.snr_pair", "modality MR; two images of one slice (a repeated acquisition)", paths)]
        return [Decision("mr.snr_pair", f"modality MR; one image of a {circle.diameter_mm:.0f} mm object without a "
                        f"test named in its tags: an SNR pair with a repeat of the same slice, else a flood "
                        f"(uniform object) image", paths)]
    raise PhantomNotFoundError(f"could not tell which MR test this {n}-image {s.orientation} series is for: its "
                               f"description names none and it is not an 11-slice ACR series. Give --kind KIND or "
                               f"list it in a manifest (see `phantomqc kinds`){_qc_note(meta)}", path=paths[0])


# ----------------------------------------------------------------------------------------------------
# NM / SPECT
# ----------------------------------------------------------------------------------------------------
def _count_lines(profile: np.ndarray) -> int:
    """Number of runs above half the maximum in a 1-D profile (after subtracting its 5th percentile)."""
    p = profile - np.percentile(profile, 5)
    above = p > 0.5 * p.max()
    return int(np.count_nonzero(above[1:] & ~above[:-1]) + int(above[0]))


#: Point sources: on every frame the pixels above half its maximum cover less than this fraction of it (measured:
#: 0.15 % on the COR twin, 10-14 % on Jaszczak reconstructions).
_NM_POINT_FRACTION = 0.01


def _identify_nm(series, paths: tuple[str, ...]) -> Decision:
    """A gamma-camera / SPECT series after the tag rules: a RECON TOMO image type (a Jaszczak reconstruction), TOMO
    projections of point sources (a centre-of-rotation acquisition), then the image of a single frame:
    a flood (a field over >= 40 % of the image, uniform within 15 %), four bars (the four-bar analysis finds them
    at the header's pixel size within 10 %), parallel lines of one direction (one: a line source; three or more:
    a slit mask for linearity), quadrant bars (a field over >= 30 % of the image modulated in both directions)."""
    from phantomqc.pet_spect.planar import block_sum, four_bar

    meta = series.images[0].meta
    image_type = " ".join(meta.extra.get("image_type", ())).upper()
    n = len(series.images)
    if "RECON" in image_type:
        return Decision("spect.jaszczak", f"modality NM; a reconstruction of {n} slices (RECON TOMO in (0008,0008)):"
                        f" analysed as the Jaszczak phantom", paths)
    if n >= 8 and "TOMO" in image_type:
        spot = max(float(np.mean(im.pixels > 0.5 * float(np.max(im.pixels)))) for im in series.images)
        if spot < _NM_POINT_FRACTION:
            return Decision("nm.cor", f"modality NM; {n} SPECT projections (TOMO in (0008,0008)) of point sources "
                            f"(on every frame the counts above half its maximum cover at most {spot * 100:.2f} % of "
                            f"it): a centre-of-rotation acquisition", paths)
    if n != 1:
        raise PhantomNotFoundError(
            f"could not tell which NM test this {n}-frame series is for: its description names none and it is not a "
            f"reconstruction ((0008,0008) Image Type '{image_type or '(none)'}' has no RECON) nor projections of "
            f"point sources. Give --kind KIND or a manifest{_qc_note(meta)}", path=paths[0])
    im = series.images[0]
    px = np.asarray(im.pixels, dtype=np.float64)
    if not np.isfinite(px).all() or px.max() <= 0:
        raise PhantomNotFoundError("the NM image is empty: no counts", path=paths[0])
    k = max(1, round(6.4 / im.spacing_mm[1]))
    b = block_sum(px, k)
    field = b > 0.5 * np.percentile(b, 99)
    frac = float(field.mean())
    vals = b[field]
    cv = float(vals.std() / vals.mean()) if vals.size > 8 else float("inf")
    seen = f"field above half the maximum over {frac * 100:.0f} % of the image, block CV {cv * 100:.1f} %"
    if cv < 0.15 and frac >= 0.40:
        return Decision("nm.uniformity", f"modality NM; a uniform field ({seen}): a flood", paths)
    try:
        fb = four_bar(px, im.spacing_mm)
        ok = all(abs(fb.pixel_size_mm[a].value / im.spacing_mm[1] - 1.0) < 0.10 for a in ("x", "y"))
    except (PhantomQCError, KeyError, ValueError):
        ok = False
    if ok:
        return Decision("nm.four_bar", "modality NM; four line sources found 100 mm apart at the header's pixel size",
                        paths)
    gy, gx = np.gradient(b)
    ex, ey = float((gx[field] ** 2).sum()), float((gy[field] ** 2).sum())
    ratio = ex / ey if ey > 0 else float("inf")
    if ratio > 3.0 or ratio < 1.0 / 3.0:
        profile = b.sum(axis=0) if ratio > 1.0 else b.sum(axis=1)  # across the lines
        lines = _count_lines(profile)
        along = "y" if ratio > 1.0 else "x"
        if lines == 1:
            return Decision("nm.line_source", f"modality NM; one line along {along} (gradient energy ratio "
                            f"x/y {ratio:.2g}): a line source", paths)
        if lines >= 3:
            return Decision("nm.linearity", f"modality NM; {lines} parallel lines along {along} (gradient energy "
                            f"ratio x/y {ratio:.2g}): a slit mask (intrinsic linearity)", paths)
    if frac >= 0.30 and cv >= 0.15 and 1.0 / 3.0 < ratio < 3.0:
        return Decision("nm.quadrant_bar", f"modality NM; a field over {frac * 100:.0f} % of the image modulated in "
                        f"both directions (block CV {cv * 100:.0f} %, gradient energy ratio x/y {ratio:.2f}): "
                        f"quadrant bars", paths)
    raise PhantomNotFoundError(
        f"could not tell which NM test this image is for: its description names none, and the image ({seen}, "
        f"gradient energy ratio x/y {ratio:.2g}) is not a flood, four bars, quadrant bars, a line source or a slit "
        f"mask (a small source for sensitivity, or a background count, is not recognised from the image). Give "
        f"--kind KIND or a manifest{_qc_note(meta)}", path=paths[0])


# ----------------------------------------------------------------------------------------------------
# PET
# ----------------------------------------------------------------------------------------------------
def _uniform_cylinder(series) -> tuple[bool, str]:
    """A uniform cylinder: over the central 80 % of the slices where the object is present (its area above half
    the 99.5th percentile is at least half the largest), the area varies by < 5 % (CV) and, on the mean of those
    slices, the disc within 80 % of the equivalent radius has < 1 % of its pixels below 0.5 or above 1.5 times its
    median and a CV < 10 % (measured on the twin: 0, 0, 0.3 %; on the IEC body phantom: 6 % cold, 2 % hot)."""
    from phantomqc.pet_spect.runners import volume_of

    try:
        vol, spacing, _ = volume_of(series.images, "identify", "PT")
    except PhantomQCError as exc:
        return False, exc.cause
    vol = np.asarray(vol, dtype=np.float64)
    thr = 0.5 * float(np.percentile(vol, 99.5))
    area = (vol > thr).sum(axis=(1, 2)).astype(np.float64)
    present = np.nonzero(area >= 0.5 * area.max())[0]
    if present.size < 5:
        return False, f"an object on {present.size} slices"
    n = int(present[-1] - present[0] + 1)
    core = present[(present >= present[0] + n // 10) & (present <= present[-1] - n // 10)]
    area_cv = float(area[core].std() / area[core].mean())
    img = vol[core].mean(axis=0)
    mask = img > 0.5 * float(np.percentile(img, 99.5))
    r = float(np.sqrt(mask.sum() / np.pi))
    cy, cx = np.argwhere(mask).mean(axis=0)
    yy, xx = np.ogrid[:img.shape[0], :img.shape[1]]
    v = img[(yy - cy) ** 2 + (xx - cx) ** 2 <= (0.8 * r) ** 2]
    med = float(np.median(v))
    cold, hot = float(np.mean(v < 0.5 * med)), float(np.mean(v > 1.5 * med))
    cv = float(v.std() / v.mean())
    why = (f"an object of {2 * r * spacing[2]:.0f} mm over {n} slices, area CV {area_cv * 100:.1f} %, "
           f"{cold * 100:.1f} % cold and {hot * 100:.1f} % hot pixels inside, CV {cv * 100:.1f} %")
    return (area_cv < 0.05 and cold < 0.01 and hot < 0.01 and cv < 0.10), why


def _identify_pt(series, paths: tuple[str, ...]) -> Decision:
    """A PET series from the image (the tag rules come first): a volume in which the IEC body phantom's six spheres are
    found is the NEMA IQ test; a uniform cylinder is the uniformity test."""
    from phantomqc.pet_spect.nema_iq import locate_iec
    from phantomqc.pet_spect.runners import volume_of

    meta = series.images[0].meta
    n = len(series.images)
    if n < 20:
        raise PhantomNotFoundError(f"a PET series of {n} images: phantomqc's PET tests need a volume (the IEC body "
                                   f"phantom). Give --kind KIND or a manifest{_qc_note(meta)}", path=paths[0])
    try:
        vol, spacing, _ = volume_of(series.images, "identify", "PT")
        loc = locate_iec(vol, spacing)
    except PhantomQCError as exc:
        uniform, why = _uniform_cylinder(series)
        if uniform:
            return Decision("pet.uniform", f"modality PT; {why}: a uniform cylinder", paths)
        raise PhantomNotFoundError(f"a PET volume without the IEC body phantom's spheres ({exc.cause}), and not a "
                                   f"uniform cylinder ({why}). Give --kind KIND or a manifest{_qc_note(meta)}",
                                   path=paths[0]) from None
    return Decision("pet.nema_iq", f"modality PT; {n} slices with six spheres on a ring at z = "
                    f"{loc.plane_z_mm:.0f} mm: the IEC body phantom", paths)


def pair_single_images(decisions: list[tuple[Decision, object]]) -> list[tuple[Decision, object]]:
    """Join single-image ``mr.snr_pair`` decisions into pairs: two images of one study (the same (0020,000D)
    *Study Instance UID*, or the same folder when a file has none) with the same matrix, pixel spacing and slice
    position, and central means within 10 % of each other (two acquisitions of one slice). An image left without
    a partner is analysed as a flood image (``mr.flood``), with the reason.

    Single-image ``dr.ghosting`` decisions of one study and matrix are joined likewise: the lead-block exposure,
    then the blank (by acquisition time; without one, the non-uniform image first). One left alone stays alone."""
    out, pending, ghosts = [], {}, {}
    for d, s in decisions:
        if d.kind == "dr.ghosting" and len(d.paths) == 1:
            m = s.images[0].meta
            ghosts.setdefault((m.study_instance_uid or os.path.dirname(d.paths[0]), s.images[0].pixels.shape),
                              []).append((d, s))
            continue
        if d.kind != "mr.snr_pair" or len(d.paths) != 1:
            out.append((d, s))
            continue
        im = s.images[0]
        pos = im.meta.image_position_patient
        where = im.meta.study_instance_uid or os.path.dirname(d.paths[0])
        key = (where, im.pixels.shape, tuple(round(v, 4) for v in im.spacing_mm),
               None if pos is None else tuple(round(v, 1) for v in pos))
        pending.setdefault(key, []).append((d, s))
    for group in pending.values():
        group.sort(key=lambda ds: ds[0].paths[0])
        while len(group) >= 2:
            (a, sa) = group.pop(0)
            j = next((i for i, (_, sb) in enumerate(group) if _similar_signal(sa.images[0].pixels,
                                                                               sb.images[0].pixels)), None)
            if j is None:
                out.append((_unpaired(a), sa))
                continue
            b, _ = group.pop(j)
            out.append((Decision("mr.snr_pair", f"{a.reason}; paired with {os.path.basename(b.paths[0])} (same "
                                 f"study, matrix, spacing and slice position, central means within 10 %)",
                                 a.paths + b.paths), sa))
        for d, s in group:
            out.append((_unpaired(d), s))
    for group in ghosts.values():
        # the lead-block exposure first, then the blank: by acquisition time, else the non-uniform image first
        group.sort(key=lambda ds: (ds[1].images[0].meta.acquisition_datetime or "",
                                   _looks_flat(ds[1].images[0].pixels)[0], ds[0].paths[0]))
        while len(group) >= 2:
            (a, sa), (b, _) = group.pop(0), group.pop(0)
            out.append((Decision("dr.ghosting", f"{a.reason}; the lag pair: {os.path.basename(a.paths[0])} (lead "
                                 f"block) then {os.path.basename(b.paths[0])} (blank), same study and matrix, in "
                                 f"order of acquisition", a.paths + b.paths), sa))
        out.extend(group)
    return out


def _unpaired(d: Decision) -> Decision:
    return Decision("mr.flood", f"{d.reason}; no second acquisition of the same slice was found: analysed as a "
                    f"flood (uniform object) image", d.paths)


def _similar_signal(a: np.ndarray, b: np.ndarray) -> bool:
    """The means of the central half (by side) of two images agree within 10 % (a repeat acquisition)."""
    h, w = a.shape
    ca = float(np.mean(a[h // 4: 3 * h // 4, w // 4: 3 * w // 4], dtype=np.float64))
    cb = float(np.mean(b[h // 4: 3 * h // 4, w // 4: 3 * w // 4], dtype=np.float64))
    return abs(ca - cb) <= 0.10 * max(abs(ca), abs(cb), 1e-12)


def _version() -> str:
    from phantomqc import __version__

    return __version__
