"""Identification (phantomqc.identify): every reference phantom kind with its tags and with its identifying text
tags blanked (no manifest either way), the configurable tag rules (site file, (0028,0300) Quality Control Image,
(0050,0010) Device Sequence) and the real data in ../shared/realdata.

An expected value is a tuple of test kinds, or ``ERR`` plus a phrase the unrecognised-series message must contain
(the cause). Exact equality: a wrong kind is a failure, never a pass.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from phantomqc._shared.errors import InputError, PhantomNotFoundError, PhantomQCError
from phantomqc.identify import RULES_ENV, identify_series, load_rules, pair_single_images
from phantomqc.io import scan
from reference_phantoms import PHANTOMS

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"

U_A = ("dr.response_uniformity", "dr.artifacts")


#: The file's decision is joined into its partner's (the second image of a pair): no decision of its own.
JOINED = ("JOINED",)


def ERR(phrase: str) -> tuple[str, str]:
    return ("ERR", phrase)


def _blank(series):
    """The series with (0008,103E) Series Description, (0020,4000) Image Comments and (0018,1030) Protocol Name
    removed."""
    ims = []
    for im in series.images:
        extra = dict(im.meta.extra)
        extra["protocol_name"] = ""
        meta = dataclasses.replace(im.meta, series_description="", image_comments="", extra=extra)
        ims.append(dataclasses.replace(im, meta=meta))
    return dataclasses.replace(series, images=tuple(ims))


def _identify(path, *, blank: bool, rules_path=None, edit=None) -> dict[str, tuple]:
    """{file name of the decision's first path: kinds (or ERR, message)} for every series under ``path``, after
    pair_single_images, as the pipeline does."""
    res = scan([str(path)])
    assert not res.errors, res.errors
    out: dict[str, tuple] = {}
    decided = []
    for s in res.series:
        s = _blank(s) if blank else s
        s = edit(s) if edit else s
        try:
            decided += [(d, s) for d in identify_series(s, rules_path=rules_path)]
        except PhantomNotFoundError as exc:
            out[os.path.basename(exc.path)] = ("ERR", str(exc))
    for d, _ in pair_single_images(decided):
        key = os.path.basename(d.paths[0])
        assert d.reason, d
        out[key] = out.get(key, ()) + (d.kind,)
        out[key + ":n"] = (len(d.paths),)
    return out


def _check(got: dict, name: str, expected) -> None:
    assert name in got, f"{name} not decided: {sorted(got)}"
    if expected[0] == "ERR":
        assert got[name][0] == "ERR", f"{name}: expected unrecognised ({expected[1]}), got {got[name]}"
        assert expected[1] in got[name][1], got[name][1]
    else:
        assert got[name] == tuple(expected), f"{name}: {got[name]}"


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reference_phantoms")
    for kind, maker in PHANTOMS.items():
        if kind in ("dr-suite", "ct-suite"):
            continue  # the suites repeat the single kinds below
        # the small DR variant: 2048 x 2048 at 0.2 mm, int16 stored with rescale slope 0.5, intercept 1000
        options = {"detector": "2048", "dtype": "int16"} if kind.startswith("dr-") else {}
        maker(root / kind, **options)
    return root


# (phantom kind, folder under it, file, expected with tags, expected with the text tags blanked)
TABLE = [
    ("dr-dark", "", "dark.dcm", ("dr.dark_noise",),
     # cannot be told from the image: uniform, at the offset level, like a barely exposed flat field
     ERR("dark image")),
    ("dr-flats", "", "flat_10uGy.dcm", U_A, U_A),
    ("dr-flats", "", "flat_30uGy.dcm", U_A, U_A),
    # 1 uGy gives PV 500, stored -1000 of the int16 range: below the 1 % under which a flat may be a dark image
    ("dr-flats", "", "flat_01uGy.dcm", U_A, ERR("barely exposed flat")),
    # the DDI test needs its EI tags named; from the image alone the exposure is a flat field
    ("dr-ddi", "", "ddi_1.dcm", ("dr.ddi",), U_A),
    ("dr-uniformity", "", "uniformity.dcm", U_A, U_A),
    ("dr-artifacts", "", "artifacts.dcm", ("dr.artifacts",), U_A),
    ("dr-edge", "", "edge_h.dcm", ("dr.mtf",), ("dr.mtf",)),
    ("dr-edge", "", "edge_v.dcm", ("dr.mtf",), ("dr.mtf",)),
    # a line-pair gauge is not recognised from the image
    ("dr-gauge", "", "gauge.dcm", ("dr.limiting_resolution",), ERR("line-pair gauge")),
    # with tags the two lag images are joined (block first); without them the block image is neither flat nor an
    # edge and the blank after it is an unexposed (dark-like) image
    ("dr-ghosting", "", "lag_block.dcm", ("dr.ghosting",), ERR("not a single straight edge")),
    ("dr-ghosting", "", "lag_after.dcm", JOINED, ERR("dark image")),
    ("ct-catphan504", "series", "CT0001.dcm", ("ct.catphan",), ("ct.catphan",)),
    ("ct-catphan600", "series", "CT0001.dcm", ("ct.catphan",), ("ct.catphan",)),
    ("ct-catphan604", "series", "CT0001.dcm", ("ct.catphan",), ("ct.catphan",)),
    ("ct-acr464", "series", "CT0001.dcm", ("ct.acr464",), ("ct.acr464",)),
    ("ct-water", "series", "CT0001.dcm", ("ct.water",), ("ct.water",)),
    ("mr-acr", "series", "MR0001.dcm", ("mr.acr",), ("mr.acr",)),
    ("mr-acr-localizer", "series", "MR0001.dcm", ("mr.acr_localizer",), ("mr.acr_localizer",)),
    ("mr-magnet-snr", "", "MR0001.dcm", ("mr.snr_pair",), ("mr.snr_pair",)),
    ("mr-magnet-flood", "series", "MR0001.dcm", ("mr.flood",), ("mr.flood",)),
    # the geometry object has internal structure (rods, ramps): not a flood, and not recognised from the image
    ("mr-magnet-slice-width", "series", "MR0001.dcm", ("mr.slice_width",), ERR("slice-width object")),
    # a small bottle off centre in a large field of view is recognised from the image
    ("mr-magnet-ghosting", "series", "MR0001.dcm", ("mr.ghosting",), ("mr.ghosting",)),
    ("nm-suite", "flood", "flood.dcm", ("nm.uniformity",), ("nm.uniformity",)),
    ("nm-suite", "four_bar", "four_bar.dcm", ("nm.four_bar",), ("nm.four_bar",)),
    ("nm-suite", "quadrant_bar", "quadrant_bar.dcm", ("nm.quadrant_bar",), ("nm.quadrant_bar",)),
    ("nm-suite", "jaszczak", "jaszczak.dcm", ("spect.jaszczak",), ("spect.jaszczak",)),
    ("nm-suite", "linearity", "slits_x.dcm", ("nm.linearity",), ("nm.linearity",)),
    ("nm-suite", "linearity", "slits_y.dcm", ("nm.linearity",), ("nm.linearity",)),
    ("nm-suite", "line_source", "line_source.dcm", ("nm.line_source",), ("nm.line_source",)),
    # TOMO projections of point sources
    ("nm-suite", "cor", "cor.dcm", ("nm.cor",), ("nm.cor",)),
    # a small source and a background count are not recognised from the image
    ("nm-suite", "sensitivity", "source.dcm", ("nm.sensitivity",), ERR("sensitivity")),
    ("nm-suite", "sensitivity", "background.dcm", ("nm.sensitivity",), ERR("sensitivity")),
    # one count-rate frame is a flood image; only its tags (and a manifest's activities) make it a count-rate test
    ("nm-suite", "count_rate", "cr01.dcm", ("nm.count_rate",), ("nm.uniformity",)),
    ("nm-suite", "pet_iq", "PT0001.dcm", ("pet.nema_iq",), ("pet.nema_iq",)),
    ("nm-suite", "pet_uniform", "PT0001.dcm", ("pet.uniform",), ("pet.uniform",)),
]


@pytest.fixture(scope="module")
def decided(phantoms) -> dict:
    cache: dict = {}

    def get(kind: str, folder: str, blank: bool) -> dict:
        key = (kind, folder, blank)
        if key not in cache:
            cache[key] = _identify(phantoms / kind / folder, blank=blank)
        return cache[key]

    return get


@pytest.mark.parametrize("blank", [False, True], ids=["tags", "blanked"])
@pytest.mark.parametrize(("kind", "folder", "name", "with_tags", "blanked"), TABLE,
                         ids=[f"{r[0]}/{r[2]}" for r in TABLE])
def test_reference_phantom(decided, kind, folder, name, with_tags, blanked, blank):
    expected = blanked if blank else with_tags
    got = decided(kind, folder, blank)
    if expected == JOINED:
        assert name not in got, got
        return
    _check(got, name, expected)


def test_every_reference_kind_is_in_the_table():
    assert {r[0] for r in TABLE} == set(PHANTOMS) - {"dr-suite", "ct-suite"}


def test_pairs_are_joined(decided):
    got = decided("dr-ghosting", "", False)
    assert got["lag_block.dcm:n"] == (2,) and "lag_after.dcm" not in got  # block first, one test for both
    assert decided("mr-magnet-snr", "", True)["MR0001.dcm:n"] == (2,)  # series1/ and series2/ of one study
    assert decided("mr-magnet-snr", "", False)["MR0001.dcm:n"] == (2,)


# ----------------------------------------------------------------------------------------------------
# rules: shipped, site file, QC image tag, device sequence
# ----------------------------------------------------------------------------------------------------
def _one(path: Path):
    res = scan([str(path)])
    assert len(res.series) == 1
    return res.series[0]


def test_shipped_rule_reason_names_rule_and_tag(phantoms):
    (d,) = identify_series(_one(phantoms / "dr-dark" / "dark.dcm"))
    assert d.kind == "dr.dark_noise"
    assert "rule 'dr-dark' (shipped rules)" in d.reason and "(0008,103E) Series Description" in d.reason


def test_site_rules_file_goes_before_the_shipped_rules(phantoms, tmp_path, monkeypatch):
    site = tmp_path / "site_rules.toml"
    site.write_text('[[rule]]\nname = "room3-flat"\nmodality = ["DX"]\ntext = "flat"\n'
                    'kinds = ["dr.response_uniformity"]\n', encoding="utf-8")
    s = _one(phantoms / "dr-flats" / "flat_10uGy.dcm")
    assert [d.kind for d in identify_series(s)] == list(U_A)  # shipped 'dr-flat'
    ds = identify_series(s, rules_path=site)
    assert [d.kind for d in ds] == ["dr.response_uniformity"]
    assert "rule 'room3-flat'" in ds[0].reason and str(site.resolve()) in ds[0].reason
    monkeypatch.setenv(RULES_ENV, str(site))
    assert [d.kind for d in identify_series(s)] == ["dr.response_uniformity"]
    assert load_rules()[0].name == "room3-flat"


@pytest.mark.parametrize(("body", "phrase"), [
    ('[[rule]]\nname = "x"\ntext = "a"\nkinds = ["no.such_kind"]\n', "unknown test kind"),
    ('[[rule]]\nname = "x"\ntext = "(unclosed"\nkinds = ["ct.water"]\n', "not a valid regular expression"),
    ('[[rule]]\nname = "x"\nmodality = ["CT"]\nkinds = ["ct.water"]\n', "needs a condition"),
    ('[[rule]]\nname = "x"\ntxt = "a"\nkinds = ["ct.water"]\n', "unknown key"),
])
def test_invalid_site_rules_name_the_file(tmp_path, body, phrase):
    site = tmp_path / "bad.toml"
    site.write_text(body, encoding="utf-8")
    with pytest.raises(InputError) as ei:
        load_rules(site)
    assert phrase in str(ei.value) and "bad.toml" in str(ei.value)


def test_quality_control_image_tag(phantoms, tmp_path):
    pydicom = pytest.importorskip("pydicom")
    f = tmp_path / "qc_dark.dcm"
    ds = pydicom.dcmread(phantoms / "dr-dark" / "dark.dcm")
    for kw in ("SeriesDescription", "ImageComments", "ProtocolName"):
        if kw in ds:
            delattr(ds, kw)
    ds.QualityControlImage = "YES"
    ds.StationName = "DR-ROOM-3"
    ds.save_as(f)
    s = _one(f)
    assert s.images[0].meta.extra["quality_control_image"] == "YES"
    with pytest.raises(PhantomNotFoundError) as ei:  # no rule: the image says dark-or-flat, with the QC note
        identify_series(s)
    assert "(0028,0300) Quality Control Image is YES" in str(ei.value)
    site = tmp_path / "rules.toml"
    site.write_text('[[rule]]\nname = "room3-dark"\nquality_control_image = true\nstation_name = "^DR-ROOM-3$"\n'
                    'kinds = ["dr.dark_noise"]\n', encoding="utf-8")
    (d,) = identify_series(s, rules_path=site)
    assert d.kind == "dr.dark_noise"
    assert "(0028,0300) Quality Control Image is YES" in d.reason and "(0008,1010) Station Name" in d.reason
    ds.QualityControlImage = "NO"
    ds.save_as(f)
    with pytest.raises(PhantomNotFoundError):  # the rule needs YES
        identify_series(_one(f), rules_path=site)


def test_device_sequence(phantoms, tmp_path):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    out = tmp_path / "water"
    out.mkdir()
    for src in sorted((phantoms / "ct-water" / "series").glob("*.dcm")):
        ds = pydicom.dcmread(src)
        for kw in ("SeriesDescription", "ImageComments", "ProtocolName"):
            if kw in ds:
                delattr(ds, kw)
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "PH-1", "99SITE", "QC phantom"
        item.ManufacturerModelName = "Water phantom 200 mm"
        ds.DeviceSequence = Sequence([item])
        ds.save_as(out / src.name)
    s = _one(out)
    assert s.images[0].meta.extra["device_sequence"] == ("QC phantom | Water phantom 200 mm",)
    (d,) = identify_series(s)
    assert d.kind == "ct.water"
    assert "rule 'ct-water-device'" in d.reason and "(0050,0010) Device Sequence" in d.reason


def test_forced_kind_and_unknown_kind(phantoms):
    s = _one(phantoms / "dr-gauge" / "gauge.dcm")
    assert identify_series(s, kind="dr.mtf")[0].reason == "forced by --kind dr.mtf"
    with pytest.raises(InputError):
        identify_series(s, kind="dr.nope")


# ----------------------------------------------------------------------------------------------------
# real data: ../shared/realdata (hazen, NMQC and pynemaiqpet samples; see its README)
# ----------------------------------------------------------------------------------------------------
# (dataset, file name of the decision, expected with tags, expected with the text tags blanked)
REAL = [
    ("nm/FourBar.dcm", "FourBar.dcm", ("nm.four_bar",), ("nm.four_bar",)),
    ("nm/QuadrantBar.dcm", "QuadrantBar.dcm", ("nm.quadrant_bar",), ("nm.quadrant_bar",)),
    ("nm/UNIFORMIDAD_1.dcm", "UNIFORMIDAD_1.dcm", ("nm.uniformity",), ("nm.uniformity",)),
    ("nm/Jaszack.dcm", "Jaszack.dcm", ("spect.jaszczak",), ("spect.jaszczak",)),
    ("pet/nema_iq_recon_1", None, ("pet.nema_iq",), ("pet.nema_iq",)),
    ("mr/snr/GE", "IM-0003-0001.dcm", ("mr.snr_pair",), ("mr.snr_pair",)),
    ("mr/snr/Philips", "Philips_IM-0011-0005.dcm", ("mr.snr_pair",), ("mr.snr_pair",)),
    ("mr/snr/Siemens", "tra_250_2meas_1.IMA", ("mr.snr_pair",), ("mr.snr_pair",)),
    ("mr/uniformity", "axial_oil.IMA", ("mr.flood",), ("mr.flood",)),
    ("mr/uniformity", "sag.dcm", ("mr.flood",), ("mr.flood",)),
    ("mr/uniformity", "cor.dcm", ("mr.flood",), ("mr.flood",)),
    # cor2 is named SNR_UNI...: an SNR image without its repeat, analysed as a flood
    ("mr/uniformity", "cor2.dcm", ("mr.flood",), ("mr.flood",)),
    ("mr/ghosting/GHOSTING", "axial_philips_ghosting.dcm", ("mr.ghosting",), ("mr.ghosting",)),
    ("mr/ghosting/GHOSTING", "IM_0001.dcm", ("mr.ghosting",), ("mr.ghosting",)),
    # the MagNET slice-width object has rods and ramps: not a flood, and not recognised from the image
    ("mr/slicewidth/SLICEWIDTH", "ANNUALQA.MR.HEAD_GENERAL.tra.slice_width.IMA", ("mr.slice_width",),
     ERR("internal structure")),
    *[(f"mr/acr/{v}", None, ("mr.acr",), ("mr.acr",))
      for v in ("Siemens", "Siemens2", "GE", "PhilipsAchieva", "SiemensSolaFit", "GE_Artist_1.5T_T1")],
    ("mr/acr/SiemensSolaFitLocalizer", "0.dcm", ("mr.acr_localizer",), ("mr.acr_localizer",)),
]


@pytest.mark.parametrize("blank", [False, True], ids=["tags", "blanked"])
@pytest.mark.parametrize(("dataset", "name", "with_tags", "blanked"), REAL, ids=[f"{r[0]}:{r[1]}" for r in REAL])
def test_real_data(dataset, name, with_tags, blanked, blank):
    path = REALDATA / dataset
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared/realdata is not part of a fresh clone)")
    got = _identify(path, blank=blank)
    if name is None:  # one series: the only decision
        (name,) = [k for k in got if not k.endswith(":n")]
    _check(got, name, blanked if blank else with_tags)
    if (blanked if blank else with_tags) == ("mr.snr_pair",):
        assert got[name + ":n"] == (2,)


def test_identify_never_raises_outside_the_project_errors(phantoms):
    """The batch boundary relies on PhantomQCError: a series of an unsupported modality is one too."""
    s = _one(phantoms / "dr-dark" / "dark.dcm")
    meta = dataclasses.replace(s.images[0].meta, modality="OT")
    s = dataclasses.replace(s, images=(dataclasses.replace(s.images[0], meta=meta),))
    with pytest.raises(PhantomQCError) as ei:
        identify_series(s)
    assert "modality OT" in str(ei.value)


def test_shipped_rules_load_and_each_names_a_modality():
    rules = load_rules()
    names = [r.name for r in rules]
    assert len(names) == len(set(names))
    assert all(r.modality for r in rules)  # a shipped rule never crosses modalities


@pytest.mark.parametrize("angle_deg", [2.0, 5.0, 11.0, 85.0])
def test_edge_detector_finds_a_slanted_edge(angle_deg):
    from phantomqc.identify import _looks_like_edge

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:512, :512].astype(np.float64)
    t = np.deg2rad(angle_deg)
    img = np.where((xx - 256) * np.cos(t) + (yy - 256) * np.sin(t) > 0, 4000.0, 300.0)
    img += rng.normal(0.0, 40.0, img.shape)
    ok, why = _looks_like_edge(img.astype(np.float32))
    assert ok, why


@pytest.mark.parametrize("shape", ["block", "two_edges", "flat"])
def test_edge_detector_rejects_other_objects(shape):
    from phantomqc.identify import _looks_like_edge

    rng = np.random.default_rng(1)
    img = np.full((512, 512), 4000.0)
    if shape == "block":  # a lead block in the middle (the lag exposure)
        img[156:356, 156:356] = 300.0
    elif shape == "two_edges":  # a bar across the field: two parallel edges, not one
        img[:, 150:350] = 300.0
    img += rng.normal(0.0, 40.0, img.shape)
    ok, why = _looks_like_edge(img.astype(np.float32))
    assert not ok, why
