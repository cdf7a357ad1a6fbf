"""MR inputs without a manifest: identification from tags and from the image, the SNR pair joined across two
series, --kind forcing, and bad inputs (wrong modality, no phantom, partial series) with errors naming the file
while the rest of the batch is still analysed. Inputs are never modified."""

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from phantomqc.pipeline import analyze
from reference_phantoms.mr import make_acr_localizer, make_acr_series, make_magnet_snr_pair


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    root = tmp_path_factory.mktemp("mr_inputs")
    make_acr_series(root / "acr", seed=7)
    make_acr_localizer(root / "loc", seed=7)
    make_magnet_snr_pair(root / "snr", seed=7)
    return root


def _kinds(doc):
    return sorted(a["kind"] for a in doc["analyses"])


def test_folders_identified_without_manifest(twins):
    before = _digest(twins)
    doc, _ = analyze([twins / "acr" / "series", twins / "loc" / "series", twins / "snr"], progress=False)
    assert _kinds(doc) == ["mr.acr", "mr.acr_localizer", "mr.snr_pair"]
    for a in doc["analyses"]:
        assert a["error"] is None and a["identified_by"]
    assert _digest(twins) == before  # inputs untouched


def test_acr_identified_from_the_image_when_tags_are_silent(twins, tmp_path):
    blank = tmp_path / "blank"
    blank.mkdir()
    for p in sorted((twins / "acr" / "series").iterdir()):
        ds = pydicom.dcmread(p)
        ds.SeriesDescription = ""
        ds.ProtocolName = ""
        ds.save_as(blank / p.name)
    doc, _ = analyze([blank], progress=False)
    (a,) = doc["analyses"]
    assert a["kind"] == "mr.acr" and "190 mm cylinder" in a["identified_by"]
    assert a["error"] is None


def test_kind_forces_a_test(twins):
    doc, _ = analyze([twins / "snr" / "series1"] if (twins / "snr" / "series1").is_dir() else
                     [sorted((twins / "snr").rglob("*.dcm"))[0]], kind="mr.flood", progress=False)
    (a,) = doc["analyses"]
    assert a["kind"] == "mr.flood" and "forced" in a["identified_by"] and a["error"] is None


def test_bad_inputs_named_and_batch_continues(twins, tmp_path):
    # a partial ACR series: 9 of the 11 slices
    part = tmp_path / "partial"
    part.mkdir()
    files = sorted((twins / "acr" / "series").iterdir())
    for p in files[:9]:
        shutil.copy(p, part / p.name)
    # no phantom in view: one MR image of noise only
    noise = tmp_path / "noise"
    noise.mkdir()
    ds = pydicom.dcmread(files[6])
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 20, size=(ds.Rows, ds.Columns), dtype=np.uint16)
    ds.PixelData = arr.tobytes()
    ds.SeriesDescription = "ACR T1 AX"
    ds.SeriesInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(noise / "noise.dcm")
    # a non-DICOM file
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.dcm").write_text("not a DICOM file", encoding="utf-8")
    doc, _ = analyze([part, noise, junk, twins / "loc" / "series"], progress=False)
    by_path = {}
    for a in doc["analyses"]:
        for p in a["input"]["paths"]:
            by_path[Path(p).parent.name] = a
    assert by_path["series"]["error"] is None  # the localiser is still analysed
    for name, needle in (("partial", "11"), ("noise", "noise.dcm"), ("junk", "notes.dcm")):
        err = by_path[name]["error"]
        assert err is not None, name
        assert needle in err["message"], (name, err["message"])


def test_wrong_modality_for_an_mr_kind(tmp_path):
    from reference_phantoms.ct import make_ct_series

    make_ct_series(tmp_path, phantom="water200", seed=0)
    doc, _ = analyze([tmp_path / "series"], kind="mr.flood", progress=False)
    (a,) = doc["analyses"]
    assert a["error"] is not None and "MR" in a["error"]["message"]
