"""ACR / MagNET geometry tables and MR series handling (ordering, orientation, header fields, localisers).

Real-data tests read ``../shared/realdata/mr`` in place (fixture ``realdata_dir``) and skip when it is absent.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

from phantomqc._shared.errors import InputError
from phantomqc.io.read import read_frames, read_image
from phantomqc.mr import geometry as G
from phantomqc.mr._series import mr_series, orientation_of

ACR_DIRS = ("GE", "GE_Artist_1.5T_T1", "PhilipsAchieva", "Siemens", "Siemens2", "SiemensSolaFit")


# ---- geometry ---------------------------------------------------------------------------------------------------

def test_acr_slice_positions_and_dimensions():
    g = G.ACR_LARGE
    assert [s.z_mm for s in g.slices()] == [10.0 * k for k in range(11)]  # ACR: 5 mm slices, 5 mm gaps
    assert g.inner_diameter_mm == 190.0 and g.inner_length_mm == 148.0
    assert g.slices()[0].contents[0] == "slice_thickness_ramps" and "uniform" in g.slices()[6].contents
    with pytest.raises(ValueError, match="1..11"):
        G.acr_slice_z_mm(12)


def test_lcd_table():
    g = G.ACR_LARGE
    d = g.lcd_diameters_mm
    assert len(d) == 10 and d[0] == 7.0 and math.isclose(d[-1], 1.5)
    assert all(a > b for a, b in itertools.pairwise(d))  # monotone: spoke 1 largest
    assert np.allclose(np.diff(d), -(7.0 - 1.5) / 9)  # 7.00, 6.39, ... (linear, hazen's table)
    spokes = g.lcd_spoke_table()
    assert [s.angle_deg - spokes[0].angle_deg for s in spokes] == [36.0 * k for k in range(10)]  # clockwise
    assert all(len(s.disks) == 3 and [k.radius_mm for k in s.disks] == [12.5, 25.0, 38.0] for s in spokes)
    assert g.lcd_contrast_percent == (1.4, 2.5, 3.6, 5.1) and g.lcd_contrast_for_slice(11) == 5.1
    # every disk lies inside the LCD fluid disk
    assert max(k.radius_mm + k.diameter_mm / 2 for s in spokes for k in s.disks) < g.lcd_region_diameter_mm / 2


def test_hole_arrays_and_rois():
    g = G.ACR_LARGE
    assert [p.diameter_mm for p in g.hole_pairs] == [1.1, 1.0, 0.9]
    for p in g.hole_pairs:
        for arr in (p.upper_left, p.lower_right):
            c = np.array(arr.hole_centres_mm())
            assert c.shape == (16, 2)
            assert np.isclose(np.diff(np.unique(c[:, 0].round(6))).min(), 2 * p.diameter_mm)  # pitch = 2 d
        assert p.lower_right.x_mm > p.upper_left.x_mm and p.lower_right.y_mm > p.upper_left.y_mm
        x0, x1, y0, y1 = g.resolution_block_mm
        assert all(x0 < x < x1 and y0 < y < y1 for x, y in p.upper_left.hole_centres_mm())
    u = g.uniformity
    assert math.isclose(math.pi * u.large_radius_mm ** 2, 20000.0)  # 200 cm^2
    a, b = u.ghost_semi_axes_mm
    assert math.isclose(math.pi * a * b, 1000.0) and math.isclose(a / b, 4.0)  # 10 cm^2, 4:1
    assert g.wedges_slice1.bar_difference_per_mm_offset == pytest.approx(2.0)  # 45 deg: twice the offset
    assert g.ramps.angle_deg == pytest.approx(5.7106, abs=1e-4)  # arctan(1/10)
    assert all(not n.confirmed for n in G.UNCONFIRMED.values())


# ---- orientation -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("iop,name", [((1, 0, 0, 0, 1, 0), "axial"), ((0, 1, 0, 0, 0, -1), "sagittal"),
                                      ((1, 0, 0, 0, 0, -1), "coronal")])
def test_orientation_of(iop, name):
    got, _normal, obl = orientation_of(iop)
    assert got == name and obl == pytest.approx(0.0, abs=1e-9)


def test_orientation_oblique():
    a = math.radians(20)
    name, _, obl = orientation_of((1, 0, 0, 0, math.cos(a), math.sin(a)))
    assert name == "axial" and obl == pytest.approx(20.0)


# ---- enhanced multi-frame MR ----------------------------------------------------------------------------------------

def _enhanced_mr(path: Path, z_mm: list[float]) -> Path:
    n = len(z_mm)
    frames = np.stack([np.full((16, 16), 100 + 10 * i, np.uint16) for i in range(n)])
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4.1"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.MagneticFieldStrength = 3.0
    ds.ImagingFrequency = 127.7
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows = ds.Columns = 16
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit, ds.PixelRepresentation = 15, 0
    ds.NumberOfFrames = n
    ds.PixelData = frames.astype("<u2").tobytes()
    meas, ori, timing, fov = Dataset(), Dataset(), Dataset(), Dataset()
    meas.PixelSpacing, meas.SliceThickness = [0.9, 0.9], 5.0
    ori.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    timing.RepetitionTime, timing.FlipAngle = 550.0, 90.0
    fov.InPlanePhaseEncodingDirection = "COL"
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([meas])
    shared.PlaneOrientationSequence = Sequence([ori])
    shared.MRTimingAndRelatedParametersSequence = Sequence([timing])
    shared.MRFOVGeometrySequence = Sequence([fov])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per = []
    for z in z_mm:
        pos, echo, item = Dataset(), Dataset(), Dataset()
        pos.ImagePositionPatient = [-7.0, -7.0, z]
        echo.EffectiveEchoTime = 20.0
        item.PlanePositionSequence = Sequence([pos])
        item.MREchoSequence = Sequence([echo])
        per.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per)
    ds.save_as(path, enforce_file_format=True)
    return path


def test_enhanced_multiframe_sorted_and_fields(tmp_path):
    p = _enhanced_mr(tmp_path / "enh.dcm", [20.0, 0.0, 10.0])
    frames = read_frames(p)
    s = mr_series(frames)
    assert s.position_mm == (0.0, 10.0, 20.0)  # sorted along the normal (0, 0, 1)
    assert [float(im.pixels[0, 0]) for im in s.images] == [110.0, 120.0, 100.0]  # frames follow their positions
    assert s.orientation == "axial" and s.slice_spacing_mm == pytest.approx(10.0)
    assert s.field_strength_t == 3.0 and s.frequency_hz == pytest.approx(127.7e6)  # (0018,0084) MHz -> Hz
    assert s.tr_ms == 550.0 and s.flip_deg == 90.0 and s.te_ms == 20.0 and s.phase_encoding == "COL"
    assert not s.is_localizer


def test_mixed_matrix_rejected(tmp_path):
    p = _enhanced_mr(tmp_path / "enh.dcm", [0.0, 10.0])
    frames = read_frames(p)
    from dataclasses import replace
    bad = replace(frames[1], pixels=np.zeros((8, 8), np.float32))
    with pytest.raises(InputError, match="do not form one series"):
        mr_series([frames[0], bad])
    with pytest.raises(InputError, match="none were given"):
        mr_series([])


# ---- real data ---------------------------------------------------------------------------------------------------

# (field strength T, imaging frequency MHz rounded, phase-encode direction) read off each series' headers
_REAL = {"GE": (1.5, 63.86, "ROW", (512, 512)), "GE_Artist_1.5T_T1": (1.5, 63.91, "ROW", (256, 256)),
         "PhilipsAchieva": (3.0, 127.73, "COL", (256, 256)), "Siemens": (3.0, 123.15, "COL", (256, 256)),
         "Siemens2": (3.0, 123.15, "COL", (256, 256)), "SiemensSolaFit": (1.5, 63.65, "COL", (256, 256))}


def _read_dir(d: Path):
    return [f for p in sorted(d.iterdir()) if p.is_file() for f in read_frames(p)]


@pytest.mark.parametrize("name", ACR_DIRS)
def test_real_acr_series(realdata_dir, name):
    s = mr_series(_read_dir(realdata_dir / "mr" / "acr" / name))
    b0, f_mhz, pe, matrix = _REAL[name]
    assert s.n_images == 11 and s.orientation == "axial" and not s.is_localizer
    assert np.all(np.diff(s.position_mm) > 0)
    assert s.slice_spacing_mm == pytest.approx(10.0, abs=0.01) and s.slice_thickness_mm == pytest.approx(5.0)
    assert s.field_strength_t == b0 and s.frequency_hz / 1e6 == pytest.approx(f_mhz, abs=0.005)
    assert s.frequency_hz / 1e6 / s.field_strength_t == pytest.approx(42.58, rel=0.05)  # gamma-bar, Siemens 3T = 2.89 T
    assert s.phase_encoding == pe and s.matrix == matrix and s.tr_ms > 0 and s.te_ms > 0
    assert s.warnings == ()


def test_real_siemens_localizer(realdata_dir):
    s = mr_series(_read_dir(realdata_dir / "mr" / "acr" / "SiemensSolaFitLocalizer"))
    assert s.orientation == "sagittal" and s.n_images == 1
    assert s.is_localizer and "Localizer" in s.localizer_reason


def test_real_magnet_not_localizers(realdata_dir):
    """The MagNET flood SNR images are not localisers, even the single sagittal GE pair (description 'SNR SAG')."""
    for d in ("Siemens", "Philips", "GE"):
        for p in sorted((realdata_dir / "mr" / "snr" / d).iterdir()):
            s = mr_series([read_image(p)])
            assert not s.is_localizer, (p, s.localizer_reason)
    sag = mr_series([read_image(realdata_dir / "mr" / "uniformity" / "sag.dcm")])
    assert sag.orientation == "sagittal" and not sag.is_localizer
    # the ACR rule ("one sagittal image is the localiser") is opt-in
    assert mr_series([read_image(realdata_dir / "mr" / "uniformity" / "sag.dcm")],
                     single_sagittal_is_localizer=True).is_localizer
