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

__all__ = ["Decision", "identify_series", "pair_single_images", "DR_MODALITIES"]

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
    if first.modality == "MR":
        return [_identify_mr(series, paths)]
    if first.modality == "NM":
        return [_identify_nm(series, paths)]
    if first.modality == "PT":
        return [_identify_pt(series, paths)]
    raise PhantomNotFoundError(
        f"no analyzer for modality {first.modality or '(none)'} in phantomqc {_version()}: this version analyses "
        f"DR/CR (DX, CR), CT, MR, NM and PT images", path=paths[0])


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
        raise PhantomNotFoundError(f"could not identify this CT series: {exc.cause}", path=paths[0]) from None
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
                                   f"({exc.cause}). Give --kind KIND or a manifest", path=paths[0]) from None
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


# (pattern on SeriesDescription / ImageComments / ProtocolName, MR test kind). "snr" is matched between non-letters
# because vendors write SNR_UNI_..., SNR SAG MEAS1, ...
_MR_TAG_RULES: tuple[tuple[str, str], ...] = (
    (r"(?<![a-z])acr(?![a-z])", "mr.acr"),
    (r"(?<![a-z])snr(?![a-z])|signal[ _-]?to[ _-]?noise|信噪比|(?<![a-z])[0-9]?meas[0-9]?(?![a-z])|repeat",
     "mr.snr_pair"),
    (r"slice[ _-]?width|slicewidth|层厚", "mr.slice_width"),
    (r"ghost|鬼影", "mr.ghosting"),
    (r"uniformit|flood|均匀", "mr.flood"),
)


def _identify_mr(series, paths: tuple[str, ...]) -> Decision:
    """An MR series: the localiser and the tags first, then the image (an 11-slice axial series of a 190 mm
    cylinder is the ACR phantom; a single image of one object is a flood image)."""
    from phantomqc.mr._series import mr_series

    try:
        s = mr_series(series.images, kind="identify", single_sagittal_is_localizer=False)
    except PhantomQCError as exc:
        raise PhantomNotFoundError(f"could not identify this MR series: {exc.cause}", path=paths[0]) from None
    text = _text_of(series.images[0].meta) + " " + s.protocol_name.lower()
    n = len(s.images)
    acr_named = re.search(_MR_TAG_RULES[0][0], text)
    if s.is_localizer and n == 1 and s.orientation == "sagittal":
        return Decision("mr.acr_localizer", f"modality MR; a sagittal localiser ({s.localizer_reason})", paths)
    for pattern, kind in _MR_TAG_RULES:
        m = re.search(pattern, text)
        if not m:
            continue
        if kind == "mr.acr" and n == 1 and s.orientation == "sagittal":
            kind = "mr.acr_localizer"
        if kind == "mr.acr" and n != 11:
            continue
        return Decision(kind, f"modality MR; description/protocol contain '{m.group(0)}'", paths)
    if n == 11 and s.orientation == "axial":
        from phantomqc.mr.localize import find_phantom

        mid = s.images[6]
        try:
            circle = find_phantom(mid.pixels, mid.spacing_mm)
        except PhantomQCError as exc:
            raise PhantomNotFoundError(f"an 11-image axial MR series without a phantom in view on its 7th image "
                                       f"({exc.cause})", path=paths[0]) from None
        if 180.0 <= circle.diameter_mm <= 200.0:
            return Decision("mr.acr", f"modality MR; 11 axial images of a {circle.diameter_mm:.0f} mm cylinder "
                            f"(the ACR large phantom: 190 mm)", paths)
    if acr_named and s.orientation == "axial" and n > 1:
        raise PhantomNotFoundError(f"an ACR series ('{acr_named.group(0)}' in its description) needs the 11 axial "
                                   f"slices; this one has {n} (a partial scan?). Send the whole series, or give "
                                   f"--kind KIND for another test", path=paths[0])
    if n in (1, 2):
        from phantomqc.mr.localize import find_phantom

        im = s.images[0]
        try:
            circle = find_phantom(im.pixels, im.spacing_mm)
        except PhantomQCError as exc:
            raise PhantomNotFoundError(f"no phantom in view, so no MR test applies: {exc.cause}",
                                       path=paths[0]) from None
        if n == 2:
            return Decision("mr.snr_pair", "modality MR; two images of one slice (a repeated acquisition)", paths)
        return Decision("mr.flood", f"modality MR; one image of a {circle.diameter_mm:.0f} mm object without a test "
                        f"named in its tags: analysed as a flood (uniform object) image; give --kind to choose "
                        f"another test", paths)
    raise PhantomNotFoundError(f"could not tell which MR test this {n}-image {s.orientation} series is for: its "
                               f"description names none and it is not an 11-slice ACR series. Give --kind KIND or "
                               f"list it in a manifest (see `phantomqc kinds`)", path=paths[0])


_NM_TAG_RULES: tuple[tuple[str, str], ...] = (
    (r"jaszc?z?ak|jaszack", "spect.jaszczak"),
    (r"(?<![a-z])unif|flood|均匀", "nm.uniformity"),
    (r"four[ _-]?bar|4[ _-]?bar", "nm.four_bar"),
    (r"quadrant", "nm.quadrant_bar"),
)


def _identify_nm(series, paths: tuple[str, ...]) -> Decision:
    """A gamma-camera / SPECT series: tags first (description, a RECON TOMO image type), then the image: a flood
    (its field uniform within 15 %), four bars (the four-bar analysis finds them at the header's pixel size within
    10 %), else quadrant bars."""
    from phantomqc.pet_spect.planar import block_sum, four_bar

    meta = series.images[0].meta
    text = _text_of(meta)
    for pattern, kind in _NM_TAG_RULES:
        m = re.search(pattern, text)
        if m:
            return Decision(kind, f"modality NM; description/comments contain '{m.group(0)}'", paths)
    image_type = " ".join(meta.extra.get("image_type", ())).upper()
    n = len(series.images)
    if "RECON" in image_type or n >= 10:
        return Decision("spect.jaszczak", f"modality NM; a reconstruction of {n} slices "
                        f"({'RECON TOMO in (0008,0008)' if 'RECON' in image_type else 'many frames'}): analysed as "
                        f"the Jaszczak phantom", paths)
    if n != 1:
        raise PhantomNotFoundError(f"could not tell which NM test this {n}-image series is for. Give --kind KIND or "
                                   f"a manifest", path=paths[0])
    im = series.images[0]
    px = np.asarray(im.pixels, dtype=np.float64)
    if not np.isfinite(px).all() or px.max() <= 0:
        raise PhantomNotFoundError("the NM image is empty: no counts", path=paths[0])
    k = max(1, int(round(6.4 / im.spacing_mm[1])))
    b = block_sum(px, k)
    field = b > 0.5 * np.percentile(b, 99)
    vals = b[field]
    cv = float(vals.std() / vals.mean()) if vals.size > 8 else float("inf")
    if cv < 0.15:
        return Decision("nm.uniformity", f"modality NM; a uniform field (block CV {cv * 100:.1f} % over the "
                        f"{int(field.sum())} blocks above half the maximum): a flood", paths)
    try:
        fb = four_bar(px, im.spacing_mm)
        ok = all(abs(fb.pixel_size_mm[a].value / im.spacing_mm[1] - 1.0) < 0.10 for a in ("x", "y"))
    except (PhantomQCError, KeyError, ValueError):
        ok = False
    if ok:
        return Decision("nm.four_bar", "modality NM; four line sources found 100 mm apart at the header's pixel size",
                        paths)
    return Decision("nm.quadrant_bar", f"modality NM; not a uniform field (block CV {cv * 100:.0f} %) and no four "
                    f"bars: analysed as a quadrant-bar image; give --kind to choose another test", paths)


def _identify_pt(series, paths: tuple[str, ...]) -> Decision:
    """A PET series: a volume in which the IEC body phantom's six spheres are found is the NEMA IQ test."""
    from phantomqc.pet_spect.nema_iq import locate_iec
    from phantomqc.pet_spect.runners import volume_of

    n = len(series.images)
    if n < 20:
        raise PhantomNotFoundError(f"a PET series of {n} images: phantomqc's PET tests need a volume (the IEC body "
                                   f"phantom). Give --kind KIND or a manifest", path=paths[0])
    try:
        vol, spacing, _ = volume_of(series.images, "identify", "PT")
        loc = locate_iec(vol, spacing)
    except PhantomQCError as exc:
        raise PhantomNotFoundError(f"a PET volume without the IEC body phantom's spheres ({exc.cause}). Give --kind "
                                   f"KIND or a manifest", path=paths[0]) from None
    return Decision("pet.nema_iq", f"modality PT; {n} slices with six spheres on a ring at z = "
                    f"{loc.plane_z_mm:.0f} mm: the IEC body phantom", paths)


def pair_single_images(decisions: list[tuple[Decision, object]]) -> list[tuple[Decision, object]]:
    """Join single-image ``mr.snr_pair`` decisions into pairs: two images in the same folder with the same matrix,
    pixel spacing and slice position (two acquisitions of one slice). An image left without a partner is analysed
    as a flood image (``mr.flood``), with the reason."""
    import os

    out, pending = [], {}
    for d, s in decisions:
        if d.kind != "mr.snr_pair" or len(d.paths) != 1:
            out.append((d, s))
            continue
        im = s.images[0]
        pos = im.meta.image_position_patient
        key = (os.path.dirname(d.paths[0]), im.pixels.shape, tuple(round(v, 4) for v in im.spacing_mm),
               None if pos is None else tuple(round(v, 1) for v in pos))
        pending.setdefault(key, []).append((d, s))
    for group in pending.values():
        group.sort(key=lambda ds: ds[0].paths[0])
        while len(group) >= 2:
            (a, sa), (b, _) = group.pop(0), group.pop(0)
            out.append((Decision("mr.snr_pair", f"{a.reason}; paired with {os.path.basename(b.paths[0])} (same "
                                 f"folder, matrix, spacing and slice position)", a.paths + b.paths), sa))
        for d, s in group:
            out.append((Decision("mr.flood", f"{d.reason}, but no second acquisition of the same slice was found: "
                                 f"analysed as a flood (uniform object) image", d.paths), s))
    return out


def _version() -> str:
    from phantomqc import __version__

    return __version__
