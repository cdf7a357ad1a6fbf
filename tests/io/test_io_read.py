"""phantomqc.io.read: single files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless, RLELossless

from phantomqc._shared.errors import DicomAttributeError, InvalidImageError, PhantomQCError
from phantomqc.io import read_frames, read_header, read_image


def test_import_phantomqc_io_does_not_import_pydicom():
    code = "import sys, phantomqc.io; print('pydicom' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_dx_imager_pixel_spacing_for_processing(tmp_path, dcm, rng):
    stored = rng.integers(0, 4096, size=(40, 30), dtype=np.uint16)
    ds = dcm.make(stored, modality="DX", sop_class=dcm.SOP_CLASS["DX_PROCESSING"], bits_stored=12,
                  ImagerPixelSpacing=[0.15, 0.14], PixelSpacing=[0.1, 0.1], KVP=70, Exposure=4,
                  ExposureIndex=250.5, TargetExposureIndex=300, DeviationIndex=-0.8,
                  AcquisitionDate="20240501", AcquisitionTime="102233.5", ImageComments="RQA5")
    path = dcm.write(ds, tmp_path / "dx.dcm")
    img = read_image(path)
    assert img.spacing_mm == (0.15, 0.14)  # detector plane wins over the calibrated Pixel Spacing
    m = img.meta
    assert m.spacing_source == "ImagerPixelSpacing"
    assert m.presentation_intent == "FOR PROCESSING"  # from the SOP class: (0008,0068) is absent
    assert (m.modality, m.manufacturer, m.model, m.station_name, m.device_serial_number) == (
        "DX", "ACME", "Detector 9000", "ROOM3", "SN123")
    assert m.kvp == 70 and m.exposure_uas == 4000.0  # mAs -> uAs
    assert (m.exposure_index, m.target_exposure_index, m.deviation_index) == (250.5, 300.0, -0.8)
    assert m.acquisition_datetime == "2024-05-01T10:22:33.5"
    assert m.image_comments == "RQA5" and m.bits_stored == 12 and m.stored_dtype == "uint16"
    assert m.frame_index is None and m.path == str(path)
    assert img.pixels.dtype == np.float32 and img.pixels.flags.c_contiguous
    np.testing.assert_array_equal(img.pixels, stored.astype(np.float32))


def test_dx_pixel_spacing_only_and_explicit_intent(tmp_path, dcm):
    ds = dcm.make(np.ones((8, 9), np.uint16), modality="DX", sop_class=dcm.SOP_CLASS["DX_PROCESSING"],
                  PixelSpacing=[0.2, 0.25], PresentationIntentType="FOR PRESENTATION", ExposureInuAs=1234)
    img = read_image(dcm.write(ds, tmp_path / "dx.dcm"))
    assert img.spacing_mm == (0.2, 0.25)
    assert img.meta.spacing_source == "PixelSpacing"
    assert img.meta.presentation_intent == "FOR PRESENTATION"  # the attribute wins over the SOP class
    assert img.meta.exposure_uas == 1234.0


def test_uint16_rescale_is_exact(tmp_path, dcm):
    stored = np.array([[0, 1, 2, 65535], [100, 200, 300, 400]], dtype=np.uint16)
    ds = dcm.make(stored, modality="CT", PixelSpacing=[1, 1], RescaleSlope=0.5, RescaleIntercept=-10)
    img = read_image(dcm.write(ds, tmp_path / "u.dcm"))
    expected = np.array([[-10, -9.5, -9, 32757.5], [40, 90, 140, 190]], dtype=np.float32)
    np.testing.assert_array_equal(img.pixels, expected)  # all exactly representable in float32
    assert (img.meta.rescale_slope, img.meta.rescale_intercept) == (0.5, -10.0)


def test_int16_rescale_hu_and_monochrome1_not_inverted(tmp_path, dcm):
    stored = np.array([[-2000, -1024, 0], [1024, 3071, 32767]], dtype=np.int16)
    ds = dcm.make(stored, modality="CT", PixelSpacing=[0.5, 0.5], RescaleSlope=1, RescaleIntercept=-1024,
                  RescaleType="HU", photometric="MONOCHROME1")
    img = read_image(dcm.write(ds, tmp_path / "i.dcm"))
    np.testing.assert_array_equal(img.pixels, stored.astype(np.float32) - 1024)
    assert img.meta.stored_dtype == "int16" and img.meta.rescale_type == "HU"
    assert img.meta.photometric_interpretation == "MONOCHROME1"


def test_bits_above_bits_stored_are_cleared_or_sign_extended(tmp_path, dcm):
    # unsigned 12 bits stored, with garbage (an old overlay) in bit 15: the value is the low 12 bits
    ds = dcm.make(np.array([[0x8005, 0x0FFF]], np.uint16), modality="CT", PixelSpacing=[1, 1], bits_stored=12)
    np.testing.assert_array_equal(read_image(dcm.write(ds, tmp_path / "u.dcm")).pixels, [[5, 4095]])
    # signed 12 bits stored: 0x0FFF is -1 and 0x0800 is -2048 in two's complement on 12 bits
    ds = dcm.make(np.array([[0x0FFF, 0x0800, 0x07FF]], np.uint16).view(np.int16), modality="CT",
                  PixelSpacing=[1, 1], bits_stored=12)
    np.testing.assert_array_equal(read_image(dcm.write(ds, tmp_path / "s.dcm")).pixels, [[-1, -2048, 2047]])


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless], ids=["rle", "j2k"])
def test_compressed_decodes_to_original_values(tmp_path, dcm, rng, syntax):
    stored = rng.integers(-1024, 3000, size=(64, 48), dtype=np.int16)
    ds = dcm.make(stored, modality="CT", PixelSpacing=[0.5, 0.5], RescaleIntercept=0, RescaleSlope=1)
    ds.compress(syntax, stored)
    path = dcm.write(ds, tmp_path / "c.dcm")
    img = read_image(path)
    assert img.meta.transfer_syntax_uid == syntax
    np.testing.assert_array_equal(img.pixels, stored.astype(np.float32))


def test_transfer_syntax_without_decoder_names_it(tmp_path, dcm):
    ds = dcm.make(np.zeros((4, 4), np.uint8), modality="CT", PixelSpacing=[1, 1])
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2 video: no pixel decoder exists
    ds.PixelData = encapsulate([b"\x00" * 16])
    path = tmp_path / "mpeg.dcm"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(InvalidImageError, match=r"1\.2\.840\.10008\.1\.2\.4\.100 \(MPEG2") as info:
        read_image(path)
    assert info.value.path == str(path)


def test_enhanced_mr_frames(tmp_path, dcm, rng):
    frames = rng.integers(0, 1000, size=(3, 10, 12), dtype=np.uint16)
    z = [10.0, 14.0, 18.0]
    path = dcm.write(dcm.enhanced_mr(frames, z), tmp_path / "emr.dcm")
    out = read_frames(path)
    assert len(out) == 3
    for k, im in enumerate(out):
        assert im.meta.frame_index == k
        assert im.spacing_mm == (0.9, 0.8) and im.meta.spacing_source == "PixelMeasuresSequence"
        assert im.meta.image_position_patient == (-50.0, -60.0, z[k])
        assert im.meta.image_orientation_patient == (1, 0, 0, 0, 1, 0)
        assert im.meta.slice_thickness_mm == 3.0
        np.testing.assert_array_equal(im.pixels, frames[k])
    with pytest.raises(InvalidImageError, match="read_frames"):
        read_image(path)


def test_enhanced_per_frame_rescale(tmp_path, dcm):
    frames = np.full((2, 4, 4), 10, np.uint16)
    ds = dcm.enhanced_mr(frames, [0.0, 5.0])
    for item, (slope, intercept) in zip(ds.PerFrameFunctionalGroupsSequence, [(2.0, 0.0), (1.0, -3.0)]):
        pvt = Dataset()
        pvt.RescaleSlope, pvt.RescaleIntercept, pvt.RescaleType = slope, intercept, "US"
        item.PixelValueTransformationSequence = [pvt]
    out = read_frames(dcm.write(ds, tmp_path / "e.dcm"))
    assert out[0].pixels[0, 0] == 20.0 and out[1].pixels[0, 0] == 7.0
    assert out[0].meta.rescale_slope == 2.0 and out[1].meta.rescale_intercept == -3.0


def test_single_frame_read_frames_sets_index(tmp_path, dcm):
    ds = dcm.make(np.zeros((4, 4), np.uint16), modality="CT", PixelSpacing=[1, 1])
    (im,) = read_frames(dcm.write(ds, tmp_path / "a.dcm"))
    assert im.meta.frame_index == 0


def test_missing_spacing(tmp_path, dcm):
    path = dcm.write(dcm.make(np.zeros((4, 4), np.uint16), modality="DX"), tmp_path / "nospacing.dcm")
    with pytest.raises(DicomAttributeError, match=r"\(0018,1164\) Imager Pixel Spacing nor \(0028,0030\)") as info:
        read_image(path)
    assert str(info.value).startswith(f"{path}: no pixel spacing")
    path = dcm.write(dcm.make(np.zeros((4, 4), np.uint16), modality="CT"), tmp_path / "ct.dcm")
    with pytest.raises(DicomAttributeError, match=r"\(0028,0030\) Pixel Spacing nor a \(0028,9110\)"):
        read_image(path)


def test_non_positive_spacing(tmp_path, dcm):
    path = dcm.write(dcm.make(np.zeros((4, 4), np.uint16), modality="CT", PixelSpacing=[0, 0.5]),
                     tmp_path / "zero.dcm")
    with pytest.raises(DicomAttributeError, match=r"\(0028,0030\) Pixel Spacing is '0"):
        read_image(path)


def test_rgb_is_rejected(tmp_path, dcm):
    ds = dcm.make(np.zeros((4, 4, 3), np.uint8), modality="DX", photometric="RGB", PixelSpacing=[1, 1])
    path = dcm.write(ds, tmp_path / "rgb.dcm")
    with pytest.raises(InvalidImageError, match=r"unsupported photometric interpretation 'RGB' \(0028,0004\)"):
        read_image(path)


def test_not_dicom(tmp_path):
    path = tmp_path / "notes.dcm"
    path.write_text("this is a text file, not an image\n" * 10)
    with pytest.raises(InvalidImageError, match="not a DICOM file: no 'DICM' marker at byte 128") as info:
        read_image(path)
    assert info.value.path == str(path)
    with pytest.raises(InvalidImageError, match="not a DICOM file"):
        read_header(path)


def test_truncated_pixel_data_says_expected_and_found(tmp_path, dcm):
    ds = dcm.make(np.zeros((100, 100), np.uint16), modality="CT", PixelSpacing=[1, 1])
    good = dcm.write(ds, tmp_path / "good.dcm").read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(good[: len(good) - 5000])
    with pytest.raises(InvalidImageError, match=r"expected 20000 bytes .* found 15000 bytes"):
        read_image(cut)


def test_truncated_header(tmp_path, dcm):
    ds = dcm.make(np.zeros((4, 4), np.uint16), modality="CT", PixelSpacing=[1, 1])
    good = dcm.write(ds, tmp_path / "good.dcm").read_bytes()
    header_end = len(good) - 32 - 12  # 16 pixels x 2 bytes, 12-byte (7FE0,0010) element header
    cut = tmp_path / "cut.dcm"
    # every cut point from inside the file meta to just before the pixel data: never a raw exception,
    # never a silent success, and the message says the file is cut or damaged
    for n in range(134, header_end, 7):
        cut.write_bytes(good[:n])
        with pytest.raises(InvalidImageError, match="truncated|corrupt") as info:
            read_image(cut)
        assert info.value.path == str(cut), n


def test_no_pixel_data(tmp_path, dcm):
    ds = dcm.make(None, modality="SR", sop_class=dcm.SOP_CLASS["SR"])
    path = dcm.write(ds, tmp_path / "sr.dcm")
    with pytest.raises(InvalidImageError, match=r"no pixel data: .*\(7FE0,0010\)"):
        read_image(path)
    assert read_header(path).modality == "SR"  # identification still works


def test_read_header_skips_pixels_and_reports_spacing(tmp_path, dcm):
    ds = dcm.make(np.zeros((100, 100), np.uint16), modality="DX", ImagerPixelSpacing=[0.1, 0.1])
    good = dcm.write(ds, tmp_path / "good.dcm").read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(good[:-10000])  # broken pixel data: the header reader must not care
    meta = read_header(cut)
    assert meta.modality == "DX" and meta.spacing_source == "ImagerPixelSpacing"
    assert meta.extra["spacing_mm"] == (0.1, 0.1) and meta.extra["rows"] == 100


def test_data_bytes_and_preamble_less_dataset(tmp_path, dcm):
    stored = np.arange(12, dtype=np.uint16).reshape(3, 4)
    ds = dcm.make(stored, modality="CT", PixelSpacing=[1, 1])
    raw = dcm.write(ds, tmp_path / "a.dcm").read_bytes()
    img = read_image("virtual.dcm", data=raw)  # the path is only a name
    assert img.meta.path == "virtual.dcm"
    np.testing.assert_array_equal(img.pixels, stored)
    # the same dataset without preamble and file meta (old ACR-NEMA style exports), implicit VR
    bare = tmp_path / "bare.dcm"
    ds2 = dcm.make(stored, modality="CT", PixelSpacing=[1, 1])
    del ds2.file_meta
    ds2.save_as(bare, implicit_vr=True, little_endian=True)
    assert bare.read_bytes()[128:132] != b"DICM"
    img = read_image(bare)
    np.testing.assert_array_equal(img.pixels, stored)
    assert img.meta.transfer_syntax_uid == "1.2.840.10008.1.2"


def test_errors_are_phantomqc_errors_for_garbage(tmp_path):
    path = tmp_path / "garbage.dcm"
    path.write_bytes(b"\x08\x00\x05\x00" + bytes(range(256)) * 3)  # starts like group 0008, then noise
    with pytest.raises(PhantomQCError):
        read_image(path)


def test_slope_not_exact_in_float32_is_rounded_once(tmp_path, dcm):
    # 0.1 is not a float32 number: the product is formed in float64 and rounded once to float32
    stored = np.array([[1, 3, 7, 65535]], np.uint16)
    ds = dcm.make(stored, modality="PT", PixelSpacing=[2, 2], RescaleSlope=0.1, RescaleIntercept=0)
    img = read_image(dcm.write(ds, tmp_path / "pt.dcm"))
    np.testing.assert_array_equal(img.pixels, (stored.astype(np.float64) * 0.1).astype(np.float32))
