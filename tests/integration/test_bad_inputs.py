"""Bad inputs: exit status 2, a JSON error entry naming the file and the cause, and every other input still
analysed. The user's files are never modified."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from phantomqc.cli import main
from reference_phantoms.dr import make_dr_suite


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A small valid DR set: a dark image and a uniformity flat, with their manifest."""
    d = tmp_path_factory.mktemp("good")
    make_dr_suite(d, detector="2048", seed=11, only=("dark", "uniformity"))
    return d


def _ct_file(path: Path) -> Path:
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesInstanceUID, ds.StudyInstanceUID = "CT", generate_uid(), generate_uid()
    ds.Rows = ds.Columns = 64
    ds.PixelSpacing = [0.5, 0.5]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.PixelData = np.full((64, 64), 1024, np.int16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def _no_pixels(path: Path) -> Path:
    ds = pydicom.dcmread(_ct_file(path))
    del ds.PixelData
    ds.save_as(path)
    return path


def _run(args, tmp_path):
    out = tmp_path / "result.json"
    code = main(["analyze", *map(str, args), "--json", str(out), "--no-progress"])
    return code, json.loads(out.read_text(encoding="utf-8"))


def _digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _check(code, doc, bad_name, cause_words, good_kinds):
    assert code == 2
    errs = [a for a in doc["analyses"] if a["error"]]
    assert errs, "the bad input has no error entry"
    msg = " ".join(e["error"]["message"] for e in errs)
    assert bad_name in msg, msg
    assert any(w in msg for w in cause_words), msg
    analysed = {a["kind"] for a in doc["analyses"] if not a["error"] and a["measurements"]}
    assert good_kinds <= analysed, f"other inputs were not analysed: {analysed}"
    assert doc["summary"]["exit_status"] == 2


def _bad_folder(good, tmp_path, name, make):
    d = tmp_path / "in"
    shutil.copytree(good, d)
    (d / "manifest.toml").unlink()  # analyse the folder's images by identification
    make(d / name)
    return d


def test_text_file_named_dcm(good, tmp_path):
    d = _bad_folder(good, tmp_path, "notes.dcm", lambda p: p.write_text("this is a text file\n"))
    before = _digest(d)
    code, doc = _run([d], tmp_path)
    _check(code, doc, "notes.dcm", ["not a DICOM file"], {"dr.dark_noise", "dr.response_uniformity"})
    assert _digest(d) == before  # nothing modified or deleted


def test_truncated_dicom(good, tmp_path):
    def cut(p):
        data = (good / "dark.dcm").read_bytes()
        p.write_bytes(data[: len(data) // 2])
    d = _bad_folder(good, tmp_path, "cut.dcm", cut)
    code, doc = _run([d], tmp_path)
    _check(code, doc, "cut.dcm", ["truncated"], {"dr.dark_noise", "dr.response_uniformity"})


def test_dicom_without_pixel_data(good, tmp_path):
    d = _bad_folder(good, tmp_path, "header_only.dcm", _no_pixels)
    code, doc = _run([d], tmp_path)
    _check(code, doc, "header_only.dcm", ["no pixel data"], {"dr.dark_noise", "dr.response_uniformity"})


def _manifest(tmp_path, good, extra_test: str) -> Path:
    d = tmp_path / "m"
    shutil.copytree(good, d)
    text = (d / "manifest.toml").read_text(encoding="utf-8")
    (d / "manifest.toml").write_text(text + "\n" + extra_test, encoding="utf-8")
    return d / "manifest.toml"


def test_ct_image_given_to_a_dr_test(good, tmp_path):
    man = _manifest(tmp_path, good, '[[test]]\nkind = "dr.dark_noise"\nimages = ["ct.dcm"]\n')
    _ct_file(man.parent / "ct.dcm")
    code, doc = _run([man], tmp_path)
    _check(code, doc, "ct.dcm", ["CT"], {"dr.dark_noise", "dr.response_uniformity"})
    err = next(a["error"] for a in doc["analyses"] if a["error"])
    assert err["type"] == "InputError" and "DX" in err["message"]


def test_manifest_with_four_kerma_values_for_five_images(good, tmp_path):
    block = ('[[test]]\nkind = "dr.signal_transfer"\n'
             'images = ["dark.dcm", "dark.dcm", "uniformity.dcm", "uniformity.dcm", "dark.dcm"]\n'
             'air_kerma_uGy = [1.0, 5.0, 10.0, 20.0]\n')
    man = _manifest(tmp_path, good, block)
    code, doc = _run([man], tmp_path)
    _check(code, doc, "manifest.toml", ["4 value(s) for 5 image(s)"], {"dr.dark_noise", "dr.response_uniformity"})
    err = next(a["error"] for a in doc["analyses"] if a["error"])
    assert err["type"] == "ManifestError" and err["field"] == "air_kerma_uGy" and err["line"] is not None


def test_manifest_naming_a_missing_file(good, tmp_path):
    man = _manifest(tmp_path, good, '[[test]]\nkind = "dr.artifacts"\nimages = ["flat_missing.dcm"]\n')
    code, doc = _run([man], tmp_path)
    _check(code, doc, "flat_missing.dcm", ["not found"], {"dr.dark_noise", "dr.response_uniformity"})
    err = next(a["error"] for a in doc["analyses"] if a["error"])
    assert err["field"] == "images"


def test_unreadable_manifest_does_not_stop_other_inputs(good, tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text('schema = "phantomqc.manifest/1"\n[[test]\nkind = 3\n', encoding="utf-8")
    code, doc = _run([bad, good / "manifest.toml"], tmp_path)
    _check(code, doc, "broken.toml", ["not valid TOML"], {"dr.dark_noise", "dr.response_uniformity"})


def test_no_phantom_in_view_is_an_error_entry(good, tmp_path):
    """A ghosting test whose first image has no lead block: the error names the file and says so."""
    man = _manifest(tmp_path, good, '[[test]]\nkind = "dr.ghosting"\nimages = ["uniformity.dcm", "dark.dcm"]\n')
    code, doc = _run([man], tmp_path)
    _check(code, doc, "uniformity.dcm", ["block", "not found", "no "], {"dr.dark_noise", "dr.response_uniformity"})


def test_inconsistent_series_is_split_and_reported(good, tmp_path):
    """Two images that share a SeriesInstanceUID but differ in size are analysed apart, with a warning."""
    d = tmp_path / "mixed"
    d.mkdir()
    ds = pydicom.dcmread(good / "dark.dcm")
    small = pydicom.dcmread(good / "dark.dcm")
    small.SeriesInstanceUID = ds.SeriesInstanceUID
    small.SOPInstanceUID = generate_uid()
    small.file_meta.MediaStorageSOPInstanceUID = small.SOPInstanceUID
    arr = small.pixel_array[:1024, :1024].copy()
    small.Rows, small.Columns = arr.shape
    small.PixelData = arr.tobytes()
    ds.save_as(d / "a.dcm")
    small.save_as(d / "b.dcm")
    code, doc = _run([d], tmp_path)
    assert code == 0
    entries = [a for a in doc["analyses"] if a["kind"] == "dr.dark_noise"]
    assert len(entries) == 2
    assert all(any("inconsistent series" in w for w in a["warnings"]) for a in entries)


@pytest.mark.parametrize("kind,words", [("dr.limiting_resolution", "no line-pair gauge"),
                                        ("dr.mtf", "edge")])
def test_no_gauge_or_edge_in_view(good, tmp_path, kind, words):
    """A flat field given to the resolution or MTF test: an error naming the file, not a number."""
    code, doc = _run([good / "uniformity.dcm", "--kind", kind], tmp_path)
    assert code == 2
    (entry,) = doc["analyses"]
    assert entry["error"] and "uniformity.dcm" in entry["error"]["message"] and words in entry["error"]["message"]
    assert entry["measurements"] == []
