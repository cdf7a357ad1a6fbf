"""CTDIw / CTDIvol (WS 519-2019): the formula, input validation, the runner, and the pipeline end to end with a
manifest that has no image."""

import math
import textwrap

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from phantomqc._shared.errors import InputError
from phantomqc.core.registry import all_metrics, get_kind
from phantomqc.core.types import ImageData, ImageMeta
from phantomqc.ct.ctdi import ctdi, ctdi_vol, ctdi_w, run
from phantomqc.pipeline import analyze

# Every value below is computed by hand; floating-point sums of four to six numbers near 1..100 agree to within
# a few ulp, so rel=1e-12 is ample and still far below any formula error (which would be >= 1 %).
REL = 1e-12


def test_ctdi_w_is_one_third_centre_two_thirds_peripheral_mean():
    # C = 30, P = (40 + 42 + 44 + 50)/4 = 44  ->  (30 + 88)/3 = 39.333...
    q = ctdi_w(30.0, [40.0, 42.0, 44.0, 50.0])
    assert q.unit == "mGy" and q.value == pytest.approx(118.0 / 3.0, rel=REL)
    # not the plain mean of the five holes (41.2), nor (C + P)/2 (37)
    assert abs(q.value - 41.2) > 1.0 and abs(q.value - 37.0) > 1.0


def test_ctdi_w_weights_and_symmetry():
    base = ctdi_w(20.0, [30.0, 31.0, 32.0, 33.0]).value
    # dCTDIw/dC = 1/3, dCTDIw/dP_i = 2/3 x 1/4 = 1/6
    assert ctdi_w(23.0, [30.0, 31.0, 32.0, 33.0]).value - base == pytest.approx(1.0, rel=1e-9)
    assert ctdi_w(20.0, [36.0, 31.0, 32.0, 33.0]).value - base == pytest.approx(1.0, rel=1e-9)
    # the order of the peripheral holes does not matter
    assert ctdi_w(20.0, (33.0, 32.0, 31.0, 30.0)).value == pytest.approx(base, rel=REL)
    assert ctdi_w(20.0, np.array([30.0, 31.0, 32.0, 33.0])).value == pytest.approx(base, rel=REL)
    # a homogeneous dose distribution gives that dose
    assert ctdi_w(12.5, [12.5] * 4).value == pytest.approx(12.5, rel=REL)


def test_ctdi_vol_divides_by_pitch():
    assert ctdi_vol(40.0, 0.8).value == pytest.approx(50.0, rel=REL)
    assert ctdi_vol(40.0).value == 40.0
    r = ctdi(30.0, [45.0] * 4, pitch=1.375, phantom="body")
    assert r.ctdiw_mgy.value == pytest.approx(40.0, rel=REL)
    assert r.ctdivol_mgy.value == pytest.approx(40.0 / 1.375, rel=REL)
    assert r.peripheral_mean_mgy == 45.0 and r.phantom == "body" and r.displayed_ctdivol_mgy is None


@pytest.mark.parametrize("center,peripheral,field", [
    (30.0, [40.0, 41.0, 42.0], "peripheral_mgy"),
    (30.0, [40.0, 41.0, 42.0, 43.0, 44.0], "peripheral_mgy"),
    (30.0, 40.0, "peripheral_mgy"),
    (30.0, "40 41 42 43", "peripheral_mgy"),
    (30.0, [40.0, 0.0, 42.0, 43.0], "peripheral_mgy"),
    (30.0, [40.0, -1.0, 42.0, 43.0], "peripheral_mgy"),
    (30.0, [40.0, math.nan, 42.0, 43.0], "peripheral_mgy"),
    (0.0, [40.0, 41.0, 42.0, 43.0], "center_mgy"),
    (-3.0, [40.0, 41.0, 42.0, 43.0], "center_mgy"),
    (math.inf, [40.0, 41.0, 42.0, 43.0], "center_mgy"),
    ("a", [40.0, 41.0, 42.0, 43.0], "center_mgy"),
])
def test_bad_readings_raise_input_error_naming_the_field(center, peripheral, field):
    with pytest.raises(InputError, match=field):
        ctdi_w(center, peripheral)


def test_bad_pitch_and_phantom():
    with pytest.raises(InputError, match="pitch"):
        ctdi(30.0, [40.0] * 4, pitch=0.0)
    with pytest.raises(InputError, match="phantom"):
        ctdi(30.0, [40.0] * 4, phantom="pediatric")


def _meta(**extra) -> ImageMeta:
    return ImageMeta(path="scan.dcm", modality="CT", extra=dict(extra))


def test_run_without_image_gives_both_metrics_labelled_by_phantom():
    out = run([], {"center_mgy": 30.0, "peripheral_mgy": [45.0] * 4, "pitch": 0.8, "phantom": "head"})
    ms = {m.id: m for m in out.measurements}
    assert ms["ct.ctdi.ctdiw_mgy"].value == pytest.approx(40.0, rel=REL)
    assert ms["ct.ctdi.ctdivol_mgy"].value == pytest.approx(50.0, rel=REL)
    known = all_metrics()
    for m in out.measurements:
        assert m.label == "head" and m.unit == known[m.id].unit
        assert m.label in known[m.id].labels if known[m.id].labels else True
    assert set(ms) == set(get_kind("ct.ctdi").metrics)
    assert out.parameters["peripheral_mean_mgy"] == 45.0 and out.parameters["displayed_ctdivol_mgy"] is None
    assert out.warnings == () and out.analyzer == "ct.ctdi"


def test_run_records_the_displayed_ctdivol_of_the_image():
    img = ImageData(np.zeros((8, 8), np.float32), (0.5, 0.5), _meta(ctdi_vol_mgy=52.5))
    out = run([img], {"center_mgy": 30.0, "peripheral_mgy": [45.0] * 4, "pitch": 0.8, "phantom": "head"})
    assert out.parameters["displayed_ctdivol_mgy"] == 52.5
    # (52.5 - 50)/50 = +5 %
    assert out.parameters["displayed_vs_measured_percent"] == pytest.approx(5.0, rel=1e-9)
    vol = next(m for m in out.measurements if m.id == "ct.ctdi.ctdivol_mgy")
    assert "52.5" in vol.note and "+5.0 %" in vol.note
    # an image without (0018,9345): a warning, no comparison
    out2 = run([ImageData(np.zeros((8, 8), np.float32), (0.5, 0.5), _meta())],
               {"center_mgy": 30.0, "peripheral_mgy": [45.0] * 4})
    assert out2.parameters["displayed_ctdivol_mgy"] is None
    assert any("(0018,9345)" in w for w in out2.warnings)


def test_run_without_readings_names_the_field():
    with pytest.raises(InputError, match="peripheral_mgy"):
        run([], {"center_mgy": 30.0})


# ---- end to end: a manifest with only a ct.ctdi test and no image ---------------------------------------------
def _manifest(tmp_path, center, peripheral, *, spec=50.0, extra=""):
    spec_line = f'spec = {{"ct.ctdi.ctdiw_mgy" = {spec}}}\n' if spec is not None else ""
    body = textwrap.dedent(f"""
        schema = "phantomqc.manifest/1"
        profile = "ws519-2019"
        test_type = "acceptance"
        {spec_line}
        [[test]]
        kind = "ct.ctdi"
        center_mgy = {center}
        peripheral_mgy = {peripheral}
        {extra}
        """).lstrip()
    p = tmp_path / "manifest.toml"
    p.write_text(body, encoding="utf-8")
    return p


def _only(results):
    (r,) = results
    assert r.error is None, r.error
    return r, {(v.measurement, v.label): v for v in r.verdicts}


@pytest.mark.parametrize("center,peripheral,expected", [
    (48.0, [50.0, 51.0, 49.0, 52.0], "pass"),  # CTDIw = (48 + 2 x 50.5)/3 = 49.67 mGy: -0.7 % of 50
    (40.0, [43.0, 44.0, 42.0, 43.0], "fail"),  # CTDIw = (40 + 2 x 43)/3 = 42.0 mGy: -16 % of 50
])
def test_pipeline_judges_ctdiw_against_the_spec(tmp_path, center, peripheral, expected):
    doc, results = analyze([_manifest(tmp_path, center, peripheral)], profile="ws519-2019",
                           test_type="acceptance")
    r, vs = _only(results)
    assert r.input.paths == () and r.input.sop_instance_uids == ()
    w = vs[("ct.ctdi.ctdiw_mgy", "head")]
    assert w.status == expected and w.reference == 50.0
    assert w.value == pytest.approx((center + 2.0 * sum(peripheral) / 4.0) / 3.0, rel=REL)
    assert not vs[("ct.ctdi.ctdivol_mgy", "head")].has_criterion  # WS 519 judges CTDIw only
    assert doc["summary"]["overall"] == expected and doc["summary"]["input_errors"] == 0
    assert doc["analyses"][0]["input"]["paths"] == []


def test_pipeline_without_spec_is_not_evaluated(tmp_path):
    doc, results = analyze([_manifest(tmp_path, 48.0, [50.0, 51.0, 49.0, 52.0], spec=None)])
    _, vs = _only(results)
    assert vs[("ct.ctdi.ctdiw_mgy", "head")].status == "not_evaluated"
    assert doc["summary"]["overall"] == "incomplete"


def test_pipeline_bad_readings_give_an_error_entry(tmp_path):
    doc, results = analyze([_manifest(tmp_path, 48.0, [50.0, 51.0, -49.0, 52.0])])
    (r,) = results
    assert r.error is not None and r.error["type"] == "InputError" and "peripheral_mgy" in r.error["message"]
    assert doc["summary"]["exit_status"] == 2


def _write_ct_image(path, ctdivol_mgy):
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.SeriesInstanceUID, ds.StudyInstanceUID = generate_uid(), generate_uid()
    ds.Rows = ds.Columns = 16
    ds.PixelSpacing = [0.5, 0.5]
    ds.SliceThickness = 5.0
    ds.ImagePositionPatient = [0.0, 0.0, 0.0]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit, ds.PixelRepresentation = 15, 1
    ds.RescaleSlope, ds.RescaleIntercept = 1.0, -1024.0
    ds.CTDIvol = ctdivol_mgy
    ds.PixelData = np.full((16, 16), 1024, np.int16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_pipeline_with_an_image_reads_its_displayed_ctdivol(tmp_path):
    _write_ct_image(tmp_path / "scan.dcm", 44.1)
    p = _manifest(tmp_path, 40.0, [43.0, 44.0, 42.0, 43.0], extra='images = ["scan.dcm"]')
    _, results = analyze([p])
    r, _ = _only(results)
    # measured CTDIvol = 42 mGy (pitch 1); displayed 44.1 mGy: +5 %
    assert r.parameters["displayed_ctdivol_mgy"] == pytest.approx(44.1)
    assert r.parameters["displayed_vs_measured_percent"] == pytest.approx(5.0, rel=1e-9)
    assert r.input.paths and r.input.paths[0].endswith("scan.dcm")
