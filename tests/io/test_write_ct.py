"""The CT writer: CT Image Storage tags, HU rescale, positions, and the read-back by phantomqc.io."""

import numpy as np
import pydicom
import pytest

from phantomqc.io import read_frames, scan
from phantomqc.io.write import CT_IMAGE_STORAGE, new_uid, write_ct, write_dx


def _write(path, arr, z=-150.0, **kw):
    kw.setdefault("spacing_mm", (0.5, 0.7))
    kw.setdefault("slice_thickness_mm", 2.5)
    kw.setdefault("series_uid", new_uid())
    kw.setdefault("study_uid", new_uid())
    kw.setdefault("frame_of_reference_uid", new_uid())
    return write_ct(path, arr, position_mm=(-10.0, -20.0, z), **kw)


def test_ct_tags_and_hu_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    arr = rng.integers(-1024, 4000, size=(30, 40)).astype(np.int16)
    p = _write(tmp_path / "a.dcm", arr, spacing_between_slices_mm=2.0, ctdivol_mgy=12.5,
               convolution_kernel="B30f", instance_number=7, header={"SeriesDescription": "CATPHAN504 2.5mm"})
    ds = pydicom.dcmread(p)
    assert ds.SOPClassUID == CT_IMAGE_STORAGE == ds.file_meta.MediaStorageSOPClassUID
    assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
    assert ds.Modality == "CT" and ds.RescaleType == "HU"
    assert [float(v) for v in ds.ImagePositionPatient] == [-10.0, -20.0, -150.0]
    assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    assert [float(v) for v in ds.PixelSpacing] == [0.5, 0.7]
    assert float(ds.SliceThickness) == 2.5 and float(ds.SpacingBetweenSlices) == 2.0
    assert float(ds.SliceLocation) == -150.0
    assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (1.0, -1024.0)
    assert float(ds.KVP) == 120.0 and ds.ConvolutionKernel == "B30f" and ds.CTDIvol == 12.5
    assert ds.FrameOfReferenceUID and ds.InstanceNumber == 7 and ds.PixelRepresentation == 1
    assert ds.Manufacturer == "phantomqc reference phantom" and ds.StationName and ds.DeviceSerialNumber
    assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (40.0, 400.0)
    assert ds.SeriesDescription == "CATPHAN504 2.5mm"
    np.testing.assert_array_equal(ds.pixel_array, arr)
    im = read_frames(p)[0]
    # the reader's HU = stored x slope + intercept, exactly (integers in float32)
    np.testing.assert_array_equal(im.pixels, arr.astype(np.float32) - 1024.0)
    assert im.spacing_mm == (0.5, 0.7)
    assert im.meta.slice_thickness_mm == 2.5
    assert tuple(im.meta.image_position_patient) == (-10.0, -20.0, -150.0)


def test_uint16_with_other_intercept(tmp_path):
    arr = np.array([[0, 1, 2048], [4095, 60000, 65535]], dtype=np.uint16)
    p = _write(tmp_path / "u.dcm", arr, rescale_intercept=-2048.0)
    ds = pydicom.dcmread(p)
    assert ds.PixelRepresentation == 0 and "SpacingBetweenSlices" not in ds and "CTDIvol" not in ds
    np.testing.assert_array_equal(read_frames(p)[0].pixels, arr.astype(np.float32) - 2048.0)


def test_scan_sorts_a_shuffled_series_by_position(tmp_path):
    uid, study, frame = new_uid(), new_uid(), new_uid()
    zs = [-150.0, -147.5, -145.0, -142.5]
    for k in (2, 0, 3, 1):  # written out of order, file names not in z order either
        arr = np.full((8, 8), 1024 + k, np.int16)
        _write(tmp_path / f"f{3 - k}.dcm", arr, z=zs[k], series_uid=uid, study_uid=study,
               frame_of_reference_uid=frame, instance_number=k + 1, spacing_between_slices_mm=2.5)
    res = scan([tmp_path])
    assert not res.errors and len(res.series) == 1
    s = res.series[0]
    assert [im.meta.image_position_patient[2] for im in s.images] == zs
    assert [float(im.pixels[0, 0]) for im in s.images] == [0.0, 1.0, 2.0, 3.0]
    assert s.spacing_mm == pytest.approx((2.5, 0.5, 0.7))


def test_write_ct_refuses_bad_input(tmp_path):
    with pytest.raises(ValueError, match="uint16 or int16"):
        _write(tmp_path / "x.dcm", np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        _write(tmp_path / "x.dcm", np.zeros((2, 4, 4), np.int16))
    with pytest.raises(ValueError, match="slice_thickness_mm"):
        _write(tmp_path / "x.dcm", np.zeros((4, 4), np.int16), slice_thickness_mm=0.0)
    with pytest.raises(ValueError, match="position_mm"):
        write_ct(tmp_path / "x.dcm", np.zeros((4, 4), np.int16), spacing_mm=(1, 1), position_mm=(0.0, 0.0),
                 slice_thickness_mm=1.0, series_uid=new_uid(), study_uid=new_uid(), frame_of_reference_uid=new_uid())
    with pytest.raises(ValueError, match="not a DICOM keyword"):
        _write(tmp_path / "x.dcm", np.zeros((4, 4), np.int16), header={"NotAKeyword": 1})


def test_dx_and_ct_share_the_common_modules(tmp_path):
    """The refactor: both writers fill SOP Common / Patient / Study / Series / Equipment the same way."""
    study = new_uid()
    dx = pydicom.dcmread(write_dx(tmp_path / "d.dcm", np.zeros((4, 4), np.uint16), spacing_mm=(0.1, 0.1),
                                  series_uid=new_uid(), study_uid=study))
    ct = pydicom.dcmread(_write(tmp_path / "c.dcm", np.zeros((4, 4), np.int16), study_uid=study))
    for kw in ("SpecificCharacterSet", "PatientID", "StudyInstanceUID", "Manufacturer", "SoftwareVersions"):
        assert dx.get(kw) == ct.get(kw), kw
    assert dx.Modality == "DX" and dx.PatientName == "PHANTOM^DR" and ct.PatientName == "PHANTOM^CT"
    assert dx.file_meta.TransferSyntaxUID == ct.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
