"""The DX writer: tags, SOP classes, rescale and pixel round trip."""

import numpy as np
import pydicom
import pytest

from phantomqc.io.write import DX_FOR_PRESENTATION, DX_FOR_PROCESSING, new_uid, write_dx


def _write(tmp_path, arr, **kw):
    kw.setdefault("spacing_mm", (0.139, 0.139))
    return write_dx(tmp_path / "x.dcm", arr, series_uid=new_uid(), study_uid=new_uid(), **kw)


def test_uint16_for_processing_tags_and_pixels(tmp_path):
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 65535, size=(40, 50), dtype=np.uint16)
    p = _write(tmp_path, arr, header={"KVP": 70, "ExposureIndex": 1040.0000000000002, "StationName": "DR3"})
    ds = pydicom.dcmread(p)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.SOPClassUID == DX_FOR_PROCESSING == ds.file_meta.MediaStorageSOPClassUID
    assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
    assert ds.Modality == "DX" and ds.PresentationIntentType == "FOR PROCESSING"
    assert ds.PhotometricInterpretation == "MONOCHROME2"
    assert (ds.BitsAllocated, ds.BitsStored, ds.PixelRepresentation) == (16, 16, 0)
    assert [float(v) for v in ds.ImagerPixelSpacing] == [0.139, 0.139]
    assert "PixelSpacing" not in ds
    assert ds.Manufacturer == "phantomqc reference phantom"
    assert float(ds.ExposureIndex) == pytest.approx(1040.0) and float(ds.KVP) == 70.0
    assert ds.StationName == "DR3"
    assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (1.0, 0.0)
    np.testing.assert_array_equal(ds.pixel_array, arr)


def test_int16_with_rescale_for_presentation(tmp_path):
    arr = np.array([[-32768, -1, 0], [1, 1234, 32767]], dtype=np.int16)
    p = _write(tmp_path, arr, spacing_mm=(0.2, 0.1), spacing_attr="both", rescale_slope=0.5,
               rescale_intercept=1000.0, presentation_intent="FOR PRESENTATION")
    ds = pydicom.dcmread(p)
    assert ds.SOPClassUID == DX_FOR_PRESENTATION and ds.PresentationIntentType == "FOR PRESENTATION"
    assert ds.PixelRepresentation == 1
    assert [float(v) for v in ds.ImagerPixelSpacing] == [0.2, 0.1] == [float(v) for v in ds.PixelSpacing]
    assert (float(ds.RescaleSlope), float(ds.RescaleIntercept), ds.RescaleType) == (0.5, 1000.0, "US")
    pv = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(pv, arr * 0.5 + 1000.0)


def test_writer_refuses_bad_input(tmp_path):
    with pytest.raises(ValueError, match="uint16 or int16"):
        _write(tmp_path, np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="spacing_attr"):
        _write(tmp_path, np.zeros((4, 4), np.uint16), spacing_attr="Spacing")
    with pytest.raises(ValueError, match="not a DICOM keyword"):
        _write(tmp_path, np.zeros((4, 4), np.uint16), header={"ExposureIdx": 1.0})


def test_new_uid_is_unique_and_valid():
    a, b = new_uid(), new_uid()
    assert a != b and len(a) <= 64 and all(part.isdigit() for part in a.split("."))
