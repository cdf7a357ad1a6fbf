"""phantomqc.io.scan: folders, archives, grouping and sorting."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest

from phantomqc._shared.errors import DicomAttributeError, InputError, InvalidImageError
from phantomqc.io import ScanResult, Series, scan


def _ct_series(dcm, folder, z_list, rng, *, shuffle=True, uid="1.2.826.0.1.3680043.8.498.100", shape=(16, 12)):
    """Write one CT slice per z; file names are in shuffled order so that the disk order is not z order."""
    stacks = {}
    order = list(range(len(z_list)))
    if shuffle:
        rng.shuffle(order)
    for name_index, k in enumerate(order):
        stored = rng.integers(0, 2000, size=shape, dtype=np.int16)
        stacks[z_list[k]] = stored.astype(np.float32) - 1024
        # instance numbers deliberately disagree with z so that sorting by position is what is tested
        ds = dcm.ct_slice(stored, z_list[k], instance=len(z_list) - name_index, series_uid=uid)
        dcm.write(ds, folder / f"img{name_index:03d}.dcm")
    return stacks


def test_ct_series_sorted_by_position(tmp_path, dcm, rng):
    z = [-20.0, -17.5, -15.0, -12.5, -10.0]
    truth = _ct_series(dcm, tmp_path / "ct", z, rng)
    result = scan([tmp_path / "ct"])
    assert isinstance(result, ScanResult) and result.errors == ()
    (series,) = result.series
    assert isinstance(series, Series) and series.modality == "CT" and len(series.images) == 5
    assert [im.meta.image_position_patient[2] for im in series.images] == z
    assert series.spacing_mm == (2.5, 0.7, 0.6)
    vol = series.volume
    assert vol.shape == (5, 16, 12) and vol.dtype == np.float32 and not vol.flags.writeable
    for k, zk in enumerate(z):
        np.testing.assert_array_equal(vol[k], truth[zk])
    assert len(series.paths) == 5 and series.warnings == ()


def test_single_slice_spacing_uses_slice_thickness(tmp_path, dcm, rng):
    _ct_series(dcm, tmp_path, [3.0], rng)
    (series,) = scan([tmp_path]).series
    assert series.spacing_mm == (2.5, 0.7, 0.6)


def test_series_without_positions_sorted_by_instance_number(tmp_path, dcm):
    uid = "1.2.826.0.1.3680043.8.498.7"
    for name, inst in (("a.dcm", 3), ("b.dcm", 1), ("c.dcm", 2)):
        ds = dcm.make(np.full((4, 4), inst, np.uint16), modality="DX", series_uid=uid,
                      ImagerPixelSpacing=[0.1, 0.1], InstanceNumber=inst)
        dcm.write(ds, tmp_path / name)
    (series,) = scan([tmp_path]).series
    assert [im.meta.instance_number for im in series.images] == [1, 2, 3]
    with pytest.raises(DicomAttributeError, match="slice spacing is unknown"):
        series.spacing_mm  # no positions, no thickness: dz is not invented


def test_zip_archive(tmp_path, dcm, rng):
    z = [0.0, 2.5, 5.0]
    _ct_series(dcm, tmp_path / "src", z, rng)
    archive = tmp_path / "series.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted((tmp_path / "src").iterdir()):
            zf.write(f, f"study/{f.name}")
        zf.writestr("study/.DS_Store", b"junk")  # hidden: skipped
        zf.writestr("__MACOSX/study/._img000.dcm", b"junk")  # resource forks: skipped
        zf.writestr("study/readme.txt", b"not dicom")  # a document beside the images: skipped
        zf.writestr("study/img999", b"not dicom either")  # no document suffix: read, and reported
    result = scan([archive])
    (series,) = result.series
    assert [im.meta.image_position_patient[2] for im in series.images] == z
    assert all(p.startswith(f"{archive}!study/img") for p in series.paths)
    (error,) = result.errors
    assert isinstance(error, InvalidImageError) and error.path == f"{archive}!study/img999"


def test_folder_with_bad_files(tmp_path, dcm, rng):
    folder = tmp_path / "mixed"
    _ct_series(dcm, folder / "ct", [0.0, 1.0], rng, uid="1.2.826.0.1.3680043.8.498.201")
    dx = dcm.make(np.ones((6, 6), np.uint16), modality="DX", ImagerPixelSpacing=[0.1, 0.1])
    dcm.write(dx, folder / "dx.dcm")
    (folder / "text.dcm").write_text("hello\n" * 50)
    good = dcm.write(dcm.make(np.zeros((50, 50), np.uint16), modality="CT", PixelSpacing=[1, 1]),
                     tmp_path / "whole.dcm").read_bytes()
    (folder / "truncated.dcm").write_bytes(good[: len(good) // 2])
    dcm.write(dcm.make(None, modality="SR", sop_class=dcm.SOP_CLASS["SR"]), folder / "report.dcm")
    (folder / ".hidden.dcm").write_text("skipped")
    (folder / "DICOMDIR").write_bytes(b"skipped")

    result = scan([folder])
    assert sorted(s.modality for s in result.series) == ["CT", "DX"]
    by_name = {os.path.basename(e.path): e for e in result.errors}
    assert set(by_name) == {"text.dcm", "truncated.dcm", "report.dcm"}
    assert "not a DICOM file" in str(by_name["text.dcm"])
    assert "truncated pixel data" in str(by_name["truncated.dcm"])
    assert "no pixel data" in str(by_name["report.dcm"])
    for e in result.errors:
        assert str(e).startswith(str(folder))


def test_missing_path_is_an_error_entry(tmp_path):
    result = scan([tmp_path / "nope"])
    assert result.series == () and isinstance(result.errors[0], InputError)


def test_inconsistent_series_is_split_with_warning(tmp_path, dcm, rng):
    uid = "1.2.826.0.1.3680043.8.498.300"
    _ct_series(dcm, tmp_path / "a", [0.0, 2.5, 5.0], rng, uid=uid, shape=(16, 12))
    _ct_series(dcm, tmp_path / "b", [0.0, 2.5], rng, uid=uid, shape=(8, 8))  # same UID, other matrix
    result = scan([tmp_path])
    assert result.errors == ()
    assert sorted(len(s.images) for s in result.series) == [2, 3]
    for s in result.series:
        assert s.uid == uid
        assert s.warnings[0].startswith(f"inconsistent series {uid}")
        assert s.volume.shape[0] == len(s.images)


def test_multiframe_file_in_scan(tmp_path, dcm, rng):
    frames = rng.integers(0, 100, size=(4, 6, 6), dtype=np.uint16)
    z = [6.0, 0.0, 4.0, 2.0]  # frames stored out of order: the series sorts them
    dcm.write(dcm.enhanced_mr(frames, z), tmp_path / "emr.dcm")
    (series,) = scan([tmp_path]).series
    assert series.spacing_mm == (2.0, 0.9, 0.8)
    np.testing.assert_array_equal(series.volume, frames[[1, 3, 2, 0]])


def test_duplicate_input_counted_once(tmp_path, dcm, rng):
    _ct_series(dcm, tmp_path, [0.0, 1.0], rng)
    result = scan([tmp_path, tmp_path, next(tmp_path.iterdir())])
    assert len(result.series) == 1 and len(result.series[0].images) == 2


def test_inputs_unchanged(tmp_path, dcm, rng):
    _ct_series(dcm, tmp_path / "d", [0.0, 1.0, 2.0], rng)
    archive = tmp_path / "d.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(next((tmp_path / "d").iterdir()), "x.dcm")
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    result = scan([tmp_path])
    assert result.errors == () and len(result.series) == 1
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(p for p in tmp_path.rglob("*") if p.is_file())}
    assert after == before
