"""CT inputs that are wrong in one way each: every one gets an error entry naming the file and the cause, the
other inputs of the batch are still analysed, and no input file is changed."""

from __future__ import annotations

import hashlib
import shutil

import pydicom
import pytest

from phantomqc.pipeline import analyze
from reference_phantoms.ct import make_ct_series
from reference_phantoms.dr import make_dark


@pytest.fixture(scope="module")
def catphan(tmp_path_factory):
    out = tmp_path_factory.mktemp("cp")
    make_ct_series(out, phantom="catphan504", thickness_mm=5.0, z_start_mm=-90.0, z_stop_mm=40.0, seed=21)
    return out / "series"


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_series_without_manifest_is_identified_from_its_tags_and_analysed(catphan):
    before = _digest(catphan)
    doc, _ = analyze([catphan], profile="ws519-2019", test_type="status")
    (a,) = doc["analyses"]
    assert a["error"] is None and a["kind"] == "ct.catphan"
    assert "CATPHAN" in a["identified_by"].upper()
    assert _digest(catphan) == before  # never modify the user's files


def test_truncated_slice_gets_its_own_error_and_the_series_is_still_analysed(catphan, tmp_path):
    folder = tmp_path / "series"
    shutil.copytree(catphan, folder)
    victim = sorted(folder.glob("*.dcm"))[3]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 3])
    doc, _ = analyze([folder], profile="ws519-2019", test_type="status")
    errors = [a for a in doc["analyses"] if a["error"]]
    ok = [a for a in doc["analyses"] if not a["error"]]
    assert len(errors) == 1 and victim.name in errors[0]["error"]["message"]
    assert len(ok) == 1 and ok[0]["kind"] == "ct.catphan" and ok[0]["measurements"]


def test_wrong_modality_for_a_ct_kind(tmp_path):
    man = make_dark(tmp_path / "dr", detector="2048", seed=0)
    dark = man.parent / "dark.dcm"
    doc, _ = analyze([dark], kind="ct.catphan")
    (a,) = doc["analyses"]
    assert a["error"] is not None
    assert "dark.dcm" in a["error"]["message"] and "Modality" in a["error"]["message"]
    assert doc["summary"]["exit_status"] == 2


def test_no_phantom_in_view(tmp_path):
    """A series of air only (the couch moved past the phantom): a clear error, not numbers from empty slices."""
    make_ct_series(tmp_path, phantom="catphan504", thickness_mm=5.0, z_start_mm=100.0, z_stop_mm=130.0, seed=0)
    doc, _ = analyze([tmp_path / "manifest.toml"])
    (a,) = doc["analyses"]
    assert a["error"] is not None and a["error"]["type"] == "PhantomNotFoundError"
    assert "CT0001" in a["error"]["message"] or "series" in a["error"]["message"]


def test_missing_slice_thickness_is_named(catphan, tmp_path):
    folder = tmp_path / "series"
    shutil.copytree(catphan, folder)
    for p in folder.glob("*.dcm"):
        ds = pydicom.dcmread(p)
        del ds.SliceThickness
        ds.save_as(p)
    doc, _ = analyze([folder], kind="ct.catphan")
    (a,) = doc["analyses"]
    assert a["error"] is not None and "(0018,0050) Slice Thickness" in a["error"]["message"]


def test_water_identified_from_the_image_when_the_tags_are_silent(tmp_path):
    make_ct_series(tmp_path, phantom="water200", thickness_mm=10.0, seed=2)
    for p in (tmp_path / "series").glob("*.dcm"):
        ds = pydicom.dcmread(p)
        ds.SeriesDescription = "QA"
        ds.ImageComments = ""
        ds.save_as(p)
    doc, _ = analyze([tmp_path / "series"], profile="ws519-2019", test_type="status")
    (a,) = doc["analyses"]
    assert a["error"] is None and a["kind"] == "ct.water", a
    assert "uniform cylinder" in a["identified_by"]
