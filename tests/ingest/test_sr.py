"""The results SR (phantomqc.report.sr) and its C-STORE (phantomqc.ingest.send).

Ground truth: the results of real pipeline runs on reference phantoms (a CT water series, a DR dark image, an MR
flood, an NM flood). Every measurement value, unit, label, uncertainty and verdict must come back from the file
exactly: the value travels as (0040,A161) Floating Point Value (FD, binary64), so float equality is required,
not a tolerance. The document is checked against the Comprehensive 3D SR IOD (PS3.3 A.35.13) by a small
dciodvfy-style checker below (Type 1/2 attributes of each module, the content tree's item macros, the
relationship constraints and the VR of every element), and is sent to a pynetdicom storage SCP on loopback.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from phantomqc._shared.errors import InputError, PhantomQCError
from phantomqc.core.registry import all_metrics
from phantomqc.core.types import Measurement
from phantomqc.ingest.send import parse_destination, send_dataset
from phantomqc.report.sr import SCHEME, UCUM_UNITS, analysis_sr, config_hash, read_sr, ucum_unit, write_sr
from phantomqc.standards.evaluate import reference_key

C3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"


# ------------------------------------------------------------------------------------------------ fixtures
def _ct_water(out: Path) -> list:
    from reference_phantoms.ct import make_ct_series

    return [make_ct_series(out, phantom="water200", thickness_mm=10, spacing_z_mm=10, z_start_mm=-10, z_stop_mm=10,
                           matrix=256, pixel_mm=0.9765625)]


def _dr_dark(out: Path) -> list:
    from reference_phantoms import PHANTOMS

    return [PHANTOMS["dr-dark"](out, detector="2048")]


def _mr_flood(out: Path) -> list:
    from reference_phantoms import PHANTOMS

    return [PHANTOMS["mr-magnet-flood"](out)]


def _nm_flood(out: Path) -> list:
    from reference_phantoms._writing import write_nm
    from reference_phantoms.nm import flood

    img, _ = flood((128, 128), (4.0, 4.0), counts_per_pixel=1.0e4, rng=np.random.default_rng(2))
    p = out / "flood.dcm"
    write_nm(p, np.clip(np.round(img), 0, 65535).astype(np.uint16), spacing_mm=(4.0, 4.0),
             series_uid=generate_uid(), study_uid=generate_uid(), series_description="FLOOD")
    return [str(p)]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Judged results of four reference phantoms, one per modality family (each in its own study)."""
    from phantomqc.pipeline import analyze

    out = []
    for name, make in (("ct", _ct_water), ("dr", _dr_dark), ("mr", _mr_flood), ("nm", _nm_flood)):
        folder = tmp_path_factory.mktemp(name)
        _, res = analyze(make(folder))
        assert res and all(r.error is None for r in res), [r.error for r in res]
        out.extend(res)
    return out


@pytest.fixture(scope="module")
def sr_file(results, tmp_path_factory):
    return write_sr(results, tmp_path_factory.mktemp("sr") / "qc.dcm")


# ------------------------------------------------------------------------------------------------ units
def test_every_registry_unit_has_a_ucum_code():
    units = {m.unit for m in all_metrics().values()}
    missing = sorted(units - set(UCUM_UNITS))
    assert not missing, f"metric units without a UCUM code: {missing}"


def test_ucum_codes_read_back_to_one_unit():
    # (code, meaning) must identify the phantomqc unit: lp/mm and 1/mm share the UCUM code /mm
    pairs = list(UCUM_UNITS.values())
    assert len(set(pairs)) == len(pairs)
    assert ucum_unit("HU").value == "[hnsf'U]" and ucum_unit("lp/mm").value == "/mm"
    assert ucum_unit("HU").scheme_designator == "UCUM"


def test_an_unknown_unit_is_an_error_not_unitless(results):
    with pytest.raises(InputError, match="furlong"):
        ucum_unit("furlong")
    r = results[0]
    bad = dataclasses.replace(r, measurements=(Measurement("ct.water.mean_hu", 1.0, "furlong"),), verdicts=())
    with pytest.raises(InputError, match="ct.water.mean_hu"):
        analysis_sr([bad], read_source_headers=False)


# ------------------------------------------------------------------------------------------------ round trip
def _by_kind(groups):
    return {g["kind"]: g for g in groups}


def test_every_value_unit_label_and_verdict_round_trips(results, sr_file):
    groups = _by_kind(read_sr(sr_file.path))
    assert sr_file.groups == len(results) == len(groups) and not sr_file.skipped
    n_values = n_verdicts = 0
    for r in results:
        g = groups[r.kind]
        got = {reference_key(m["id"], m["label"]): m for m in g["measurements"]}
        assert len(got) == len(g["measurements"]) == len(r.measurements)
        for m in r.measurements:
            back = got[reference_key(m.id, m.label)]
            assert back["id"] == m.id and back["label"] == m.label
            assert back["value"] == m.value  # binary64 through (0040,A161): exact
            assert back["unit"] == m.unit and back["ucum"] == UCUM_UNITS[m.unit][0]
            assert back["uncertainty"] == m.uncertainty
            assert back["note"] == m.note
            n_values += 1
        assert len(g["verdicts"]) == len(r.verdicts)
        for v, back in zip(r.verdicts, g["verdicts"]):
            assert (back["measurement"], back["label"], back["status"]) == (v.measurement, v.label, v.status)
            assert back["criterion"] == v.criterion and back["source"] == v.source
            assert back["reason"] == v.reason and back["test_type"] == v.test_type
            assert back["confirmed"] is v.confirmed and back["has_criterion"] is v.has_criterion
            # the verdict points at its measurement through the shared Tracking UID
            meas = got.get(reference_key(v.measurement, v.label))
            if meas is not None:
                assert back["tracking_uid"] == meas["tracking_uid"]
            n_verdicts += 1
    assert n_values >= 15 and n_verdicts >= 15  # the four phantoms give 8 + 2 + 8 + 4 values
    statuses = {v.status for r in results for v in r.verdicts}
    assert {"pass", "fail", "not_evaluated"} <= statuses  # every verdict code is exercised


def test_ds_copy_of_each_value_is_within_its_16_characters(sr_file, results):
    # (0040,A30A) Numeric Value is DS (16 characters): a sign, a point and a 4-character exponent leave >= 10
    # significant digits, so its relative error is <= 5e-10; checked against the exact FD value
    ds = pydicom.dcmread(sr_file.path)
    seen = 0
    for item in _walk(ds.ContentSequence):
        if item.ValueType == "NUM" and item.MeasuredValueSequence:
            mv = item.MeasuredValueSequence[0]
            exact = float(mv.FloatingPointValue)
            assert len(str(mv["NumericValue"].value.original_string or mv.NumericValue)) <= 16
            assert abs(float(mv.NumericValue) - exact) <= 5e-10 * max(abs(exact), 1e-300)
            seen += 1
    assert seen >= sum(len(r.measurements) for r in results)


def test_subject_algorithm_and_evidence(results, sr_file):
    from highdicom.sr import srread

    groups = _by_kind(read_sr(sr_file.path))
    for r in results:
        g = groups[r.kind]
        assert g["device"]["name"] == (r.phantom or f"no phantom ({r.kind})")  # a DR dark image has none
        assert g["device"].get("manufacturer") == (r.input.manufacturer or None)
        assert g["device"].get("model") == (r.input.model or None)
        assert g["device"].get("serial") == (r.input.device_serial_number or None)
        assert g["algorithm"]["name"] == "phantomqc" and g["algorithm"]["version"]
        assert g["config_sha256"] == config_hash(r) and len(g["config_sha256"]) == 64
        assert set(g["source_sop_instance_uids"]) == set(r.input.sop_instance_uids)
    sr = srread(sr_file.path)
    subject = sr.content.get_subject_contexts()[0]
    assert subject.subject_class.value == "121007"  # DCM Device
    assert subject.subject_class_specific_context.device_name == results[0].phantom == "water200"
    # the document joins the study of the first result's images; the other studies are other evidence
    first = pydicom.dcmread(results[0].input.paths[0], stop_before_pixels=True)
    assert sr.StudyInstanceUID == first.StudyInstanceUID and sr.PatientID == first.PatientID
    evidence = {e[2] for e in sr.get_evidence()}
    assert evidence == {u for r in results for u in r.input.sop_instance_uids}
    assert {e[2] for e in sr.get_evidence(current_procedure_only=True)} == set(results[0].input.sop_instance_uids)


def test_config_hash_changes_with_the_profile_and_parameters(results):
    r = results[0]
    h = config_hash(r)
    assert config_hash(dataclasses.replace(r, parameters={**r.parameters, "x": 1})) != h
    other = dict(r.judged_with, profile="taiyuan-2024" if r.judged_with["profile"] != "taiyuan-2024" else "ws519-2019")
    assert config_hash(dataclasses.replace(r, judged_with=other)) != h
    assert config_hash(dataclasses.replace(r, judged_with={**r.judged_with, "test_type": "stability"})) != h


def test_config_hash_equals_the_results_store_hash(results, tmp_path):
    from sqlalchemy import select

    from phantomqc.programme.models import AnalysisRun
    from phantomqc.programme.store import Store

    store = Store(f"sqlite:///{tmp_path / 'qc.db'}")
    try:
        outcome = store.record(results[:1])
        with store.session() as s:
            stored = s.scalar(select(AnalysisRun.config_hash).where(AnalysisRun.id == outcome.records[0].run_id))
    finally:
        store.close()
    assert stored == config_hash(results[0])


def test_non_finite_measurements_are_carried_as_cid42_codes(results, tmp_path):
    r = results[0]
    extra = (Measurement("ct.water.mean_hu", float("nan"), "HU", label="edge", note="ROI outside the phantom"),
             Measurement("ct.noise.sd_hu", float("inf"), "HU", label="edge", note="division by zero"))
    out = write_sr([dataclasses.replace(r, measurements=r.measurements + extra)], tmp_path / "nan.dcm",
                   read_source_headers=False)
    g = read_sr(out.path)[0]
    back = {reference_key(m["id"], m["label"]): m for m in g["measurements"]}
    nan = back["ct.water.mean_hu[edge]"]
    assert math.isnan(nan["value"]) and nan["note"] == "ROI outside the phantom" and nan["unit"] == "HU"
    assert back["ct.noise.sd_hu[edge]"]["value"] == math.inf
    ds = pydicom.dcmread(out.path)
    def value(c):  # a metric id longer than 16 characters is a Long Code Value (PS3.3 8.8)
        return c.get("CodeValue") or c.get("LongCodeValue")

    codes = [(value(i.ConceptNameCodeSequence[0]), value(i.ConceptCodeSequence[0]))
             for i in _walk(ds.ContentSequence) if i.ValueType == "CODE"]
    assert ("ct.water.mean_hu", "114000") in codes and ("ct.noise.sd_hu", "114002") in codes
    nums = [i for i in _walk(ds.ContentSequence) if i.ValueType == "NUM"
            and i.ConceptNameCodeSequence[0].CodingSchemeDesignator == SCHEME]
    assert all(math.isfinite(float(i.MeasuredValueSequence[0].FloatingPointValue)) for i in nums)
    # without readable sources: a new study and no evidence sequences
    assert "CurrentRequestedProcedureEvidenceSequence" not in ds and "PertinentOtherEvidenceSequence" not in ds
    assert _problems(ds) == []


def test_results_with_an_error_are_left_out_and_listed(results, tmp_path):
    broken = dataclasses.replace(results[1], error={"type": "InputError", "message": "dark.dcm: truncated"},
                                 measurements=(), verdicts=())
    out = write_sr([results[0], broken], tmp_path / "e.dcm")
    assert out.groups == 1 and len(out.skipped) == 1 and "truncated" in out.skipped[0]
    assert [g["kind"] for g in read_sr(out.path)] == [results[0].kind]
    with pytest.raises(InputError, match="every one has an error"):
        analysis_sr([broken])


def test_read_sr_rejects_a_non_sr_file(results):
    with pytest.raises(InputError, match="CT0001.dcm.*1.2.840.10008.5.1.4.1.1.2'"):  # CT Image Storage
        read_sr(results[0].input.paths[0])


# ------------------------------------------------------------------------------------------------ validation
# A small dciodvfy-style checker for the Comprehensive 3D SR IOD (PS3.3 A.35.13, Table A.35.13-1: Patient,
# General Study, SR Document Series, General Equipment, SR Document General, SR Document Content and SOP Common
# are the mandatory modules). Type 1: present and not empty; Type 2: present, may be empty.
REQUIRED = {
    "Patient (PS3.3 C.7.1.1)": {"PatientName": "2", "PatientID": "2", "PatientBirthDate": "2", "PatientSex": "2"},
    "General Study (PS3.3 C.7.2.1)": {"StudyInstanceUID": "1", "StudyDate": "2", "StudyTime": "2",
                                      "ReferringPhysicianName": "2", "StudyID": "2", "AccessionNumber": "2"},
    "SR Document Series (PS3.3 C.17.1)": {"Modality": "1", "SeriesInstanceUID": "1", "SeriesNumber": "1",
                                          "ReferencedPerformedProcedureStepSequence": "2"},
    "General Equipment (PS3.3 C.7.5.1)": {"Manufacturer": "2"},
    "SR Document General (PS3.3 C.17.2)": {"InstanceNumber": "1", "CompletionFlag": "1", "VerificationFlag": "1",
                                           "ContentDate": "1", "ContentTime": "1",
                                           "PerformedProcedureCodeSequence": "2"},
    # the root content item: Document Content Macro (C.17.3, Table C.17-5) + Container Macro
    "SR Document Content (PS3.3 C.17.3)": {"ValueType": "1", "ConceptNameCodeSequence": "1",
                                           "ContinuityOfContent": "1", "ContentTemplateSequence": "1",
                                           "ContentSequence": "1"},
    "SOP Common (PS3.3 C.12.1)": {"SOPClassUID": "1", "SOPInstanceUID": "1", "SpecificCharacterSet": "1"},
}
ENUMS = {"Modality": {"SR"}, "CompletionFlag": {"PARTIAL", "COMPLETE"},
         "VerificationFlag": {"UNVERIFIED", "VERIFIED"}, "ValueType": {"CONTAINER"},
         "ContinuityOfContent": {"SEPARATE", "CONTINUOUS"}, "SOPClassUID": {C3D_SR}}
# Content item attributes by value type: Document Content Macro (C.17.3.2) and the value macros of C.18
# (C.18.1 Numeric Measurement, C.18.2 Code, C.18.4 Image Reference, C.18.8 Container); Text and UIDREF
# values are in Table C.17-5 itself.
ITEM = {"TEXT": {"TextValue": "1"}, "CODE": {"ConceptCodeSequence": "1"}, "NUM": {"MeasuredValueSequence": "2"},
        "UIDREF": {"UID": "1"}, "IMAGE": {"ReferencedSOPSequence": "1"},
        "CONTAINER": {"ContinuityOfContent": "1"}}
# Relationship constraints of the Comprehensive 3D SR IOD (PS3.3 Table A.35.13-2), by-value only:
# relationship -> (allowed source value types, allowed target value types)
_ALL = {"TEXT", "CODE", "NUM", "DATETIME", "DATE", "TIME", "UIDREF", "PNAME", "COMPOSITE", "IMAGE", "WAVEFORM",
        "SCOORD", "SCOORD3D", "TCOORD", "CONTAINER", "TABLE"}
RELATIONSHIPS = {
    "CONTAINS": ({"CONTAINER"}, _ALL - {"TABLE"}),
    "HAS OBS CONTEXT": ({"CONTAINER", "TEXT", "CODE", "NUM"},
                        {"TEXT", "CODE", "NUM", "DATETIME", "DATE", "TIME", "UIDREF", "PNAME", "COMPOSITE"}),
    "HAS ACQ CONTEXT": ({"CONTAINER", "IMAGE", "WAVEFORM", "COMPOSITE", "NUM"},
                        {"TEXT", "CODE", "NUM", "DATETIME", "DATE", "TIME", "UIDREF", "PNAME", "CONTAINER"}),
    "HAS CONCEPT MOD": (_ALL, {"TEXT", "CODE"}),
    "HAS PROPERTIES": ({"TEXT", "CODE", "NUM", "PNAME"}, _ALL - {"TABLE"}),
    "INFERRED FROM": ({"TEXT", "CODE", "NUM"}, _ALL - {"TABLE"}),
    "SELECTED FROM": ({"SCOORD", "TCOORD"}, {"IMAGE", "SCOORD", "SCOORD3D", "WAVEFORM"}),
}


def _walk(seq):
    for item in seq:
        yield item
        if "ContentSequence" in item:
            yield from _walk(item.ContentSequence)


def _need(ds, kw: str, typ: str, where: str, out: list) -> None:
    if kw not in ds:
        out.append(f"{where}: {kw} (Type {typ}) is missing")
    elif typ == "1" and (ds[kw].value is None or ds[kw].value == "" or
                         (isinstance(ds[kw].value, pydicom.Sequence) and len(ds[kw].value) == 0)):
        out.append(f"{where}: {kw} (Type 1) is empty")


def _code_problems(seq, where: str, out: list) -> None:
    # Code Sequence Macro (PS3.3 Table 8.8-1): exactly one of Code Value / Long Code Value / URN Code Value,
    # a Coding Scheme Designator with the first two, and a Code Meaning
    for c in seq:
        values = [k for k in ("CodeValue", "LongCodeValue", "URNCodeValue") if c.get(k)]
        if len(values) != 1:
            out.append(f"{where}: a code item has {values or 'no'} code value")
        if "URNCodeValue" not in values and not c.get("CodingSchemeDesignator"):
            out.append(f"{where}: a code item has no Coding Scheme Designator")
        if not c.get("CodeMeaning"):
            out.append(f"{where}: a code item has no Code Meaning")
        if c.get("LongCodeValue") and len(str(c.LongCodeValue)) <= 16:
            out.append(f"{where}: Long Code Value {c.LongCodeValue!r} fits in Code Value (PS3.3 8.8.1.2)")


def _vr_problems(ds, out: list, path: str = "") -> None:
    from pydicom import config
    from pydicom.valuerep import validate_value

    for elem in ds:
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value):
                _vr_problems(item, out, f"{path}{elem.keyword}[{i}].")
        elif elem.value is not None and elem.VR not in ("OB", "OW", "UN"):
            values = elem.value if isinstance(elem.value, pydicom.multival.MultiValue) else [elem.value]
            for v in values:
                if elem.VR in ("DS", "IS"):  # the validators check the encoded string of a number
                    v = getattr(v, "original_string", None) or str(v)
                try:
                    validate_value(elem.VR, v, config.RAISE)
                except ValueError as exc:
                    out.append(f"{path}{elem.keyword}: {exc}")


def _problems(ds) -> list[str]:
    """Every violation found; [] for a valid document."""
    out: list[str] = []
    for module, attrs in REQUIRED.items():
        for kw, typ in attrs.items():
            _need(ds, kw, typ, module, out)
    for kw, allowed in ENUMS.items():
        if kw in ds and ds[kw].value not in allowed:
            out.append(f"{kw} = {ds[kw].value!r}, not one of {sorted(allowed)}")
    tid = ds.ContentTemplateSequence[0] if ds.get("ContentTemplateSequence") else None
    if tid is None or tid.get("MappingResource") != "DCMR" or tid.get("TemplateIdentifier") != "1500":
        out.append("the root is not TID 1500 (Content Template Sequence DCMR 1500)")
    if ds.get("ConceptNameCodeSequence"):
        _code_problems(ds.ConceptNameCodeSequence, "root", out)
    for kw in ("CurrentRequestedProcedureEvidenceSequence", "PertinentOtherEvidenceSequence"):
        for study in ds.get(kw, []):  # Hierarchical SOP Instance Reference Macro (PS3.3 Table C.17-3)
            _need(study, "StudyInstanceUID", "1", kw, out)
            for series in study.get("ReferencedSeriesSequence", []):
                _need(series, "SeriesInstanceUID", "1", kw, out)
                for inst in series.get("ReferencedSOPSequence", []):
                    _need(inst, "ReferencedSOPClassUID", "1", kw, out)
                    _need(inst, "ReferencedSOPInstanceUID", "1", kw, out)

    def items(parent_type: str, seq, depth: int):
        for i, item in enumerate(seq):
            where = f"content item at depth {depth} #{i + 1}"
            for kw in ("RelationshipType", "ValueType", "ConceptNameCodeSequence"):  # C.17.3.2 / Table C.17-6
                _need(item, kw, "1", where, out)
            vt, rel = item.get("ValueType"), item.get("RelationshipType")
            if rel not in RELATIONSHIPS:
                out.append(f"{where}: Relationship Type {rel!r} is not defined")
            else:
                sources, targets = RELATIONSHIPS[rel]
                if parent_type not in sources or vt not in targets:
                    out.append(f"{where}: {parent_type} {rel} {vt} is not allowed (PS3.3 Table A.35.13-2)")
            for kw, typ in ITEM.get(vt, {}).items():
                _need(item, kw, typ, f"{where} ({vt})", out)
            if item.get("ConceptNameCodeSequence"):
                _code_problems(item.ConceptNameCodeSequence, where, out)
            if vt == "CODE" and item.get("ConceptCodeSequence"):
                _code_problems(item.ConceptCodeSequence, where, out)
            if vt == "NUM":
                mvs = item.get("MeasuredValueSequence") or []
                if not mvs and not item.get("NumericValueQualifierCodeSequence"):
                    out.append(f"{where}: an empty Measured Value Sequence needs a Numeric Value Qualifier (C.18.1)")
                for mv in mvs:
                    _need(mv, "NumericValue", "1", where, out)
                    _need(mv, "MeasurementUnitsCodeSequence", "1", where, out)
                    if mv.get("MeasurementUnitsCodeSequence"):
                        _code_problems(mv.MeasurementUnitsCodeSequence, where, out)
                        if mv.MeasurementUnitsCodeSequence[0].get("CodingSchemeDesignator") != "UCUM":
                            out.append(f"{where}: the unit is not a UCUM code")
            if vt == "IMAGE":
                for ref in item.get("ReferencedSOPSequence", []):
                    _need(ref, "ReferencedSOPClassUID", "1", where, out)
                    _need(ref, "ReferencedSOPInstanceUID", "1", where, out)
            if "ContentSequence" in item:
                items(vt, item.ContentSequence, depth + 1)

    items("CONTAINER", ds.get("ContentSequence", []), 1)
    schemes = {c.CodingSchemeDesignator for c in ds.get("CodingSchemeIdentificationSequence", [])}
    if SCHEME not in schemes:  # a private scheme is declared in the SOP Common module (PS3.3 C.12.1.1.2)
        out.append(f"the private coding scheme {SCHEME} is not in the Coding Scheme Identification Sequence")
    meta = getattr(ds, "file_meta", None)
    if meta is not None and meta.get("MediaStorageSOPClassUID") not in (None, ds.get("SOPClassUID")):
        out.append("(0002,0002) Media Storage SOP Class UID differs from (0008,0016)")
    _vr_problems(ds, out)
    return out


def test_written_file_passes_the_iod_checker(sr_file):
    ds = pydicom.dcmread(sr_file.path)  # a Part 10 file pydicom reads back
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert ds.SOPClassUID == C3D_SR
    assert _problems(ds) == []


def test_the_checker_finds_what_is_wrong(sr_file):
    ds = pydicom.dcmread(sr_file.path)
    del ds.CompletionFlag
    ds.VerificationFlag = "MAYBE"
    group = next(i for i in _walk(ds.ContentSequence) if i.get("ValueType") == "CONTAINER")
    num = next(i for i in _walk(group.ContentSequence) if i.ValueType == "NUM")
    num.RelationshipType = "HAS CONCEPT MOD"  # NUM may not modify a concept
    del num.MeasuredValueSequence[0].MeasurementUnitsCodeSequence
    text = next(i for i in _walk(ds.ContentSequence) if i.ValueType == "TEXT")
    del text.ConceptNameCodeSequence
    with pytest.warns(UserWarning, match="64"):
        ds.SeriesDescription = "x" * 65  # LO is at most 64 characters
    found = "\n".join(_problems(ds))
    for expected in ("CompletionFlag (Type 1) is missing", "VerificationFlag = 'MAYBE'",
                     "HAS CONCEPT MOD NUM is not allowed", "MeasurementUnitsCodeSequence (Type 1) is missing",
                     "ConceptNameCodeSequence (Type 1) is missing", "SeriesDescription"):
        assert expected in found, found


def test_highdicom_reads_it_as_a_tid1500_report(sr_file, results):
    import highdicom as hd

    sr = hd.sr.srread(sr_file.path)
    assert isinstance(sr, hd.sr.Comprehensive3DSR)
    assert isinstance(sr.content, hd.sr.MeasurementReport)
    groups = sr.content.get_image_measurement_groups()
    assert [g.tracking_identifier for g in groups] == [r.kind for r in results]
    m = groups[0].get_measurements()[0]
    assert m.unit.value == UCUM_UNITS[results[0].measurements[0].unit][0]
    assert m.name.value == results[0].measurements[0].id and m.name.scheme_designator == SCHEME
    assert len(m.name.meaning) <= 64


# ------------------------------------------------------------------------------------------------ sending
def test_parse_destination():
    assert parse_destination("pacs.local:11112:ORTHANC") == ("pacs.local", 11112, "ORTHANC")
    d = parse_destination("[::1]:104:PACS")
    assert (d.host, d.port, d.ae_title) == ("::1", 104, "PACS")
    for bad, why in (("pacs:11112", "HOST:PORT:AE_TITLE"), ("pacs:abc:AE", "integer"), ("pacs:0:AE", "1..65535"),
                     ("pacs:104:" + "A" * 17, "1 to 16"), ("pacs:104:", "HOST:PORT:AE_TITLE")):
        with pytest.raises(InputError, match=why.replace(".", r"\.").replace("(", r"\(")):
            parse_destination(bad)


@pytest.fixture()
def storage_scp():
    """A pynetdicom storage SCP on a free loopback port; yields (port, received datasets)."""
    from pynetdicom import AE, AllStoragePresentationContexts, evt

    received = []

    def on_store(event):
        ds = event.dataset
        ds.file_meta = event.file_meta
        received.append(ds)
        return 0x0000

    ae = AE(ae_title="TESTPACS")
    ae.supported_contexts = AllStoragePresentationContexts
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()


def test_send_sr_to_a_storage_scp(sr_file, storage_scp):
    port, received = storage_scp
    status = send_dataset(sr_file.path, "127.0.0.1", port, "TESTPACS", timeout=10)
    assert status == 0x0000 and len(received) == 1
    sent = pydicom.dcmread(sr_file.path)
    got = received[0]
    assert got.SOPInstanceUID == sent.SOPInstanceUID
    assert pydicom.Dataset(got) == pydicom.Dataset(sent)  # every element, nested items included
    assert read_sr(got) == read_sr(sent)


def test_send_to_a_closed_port_is_an_error(sr_file):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PhantomQCError, match="association"):
        send_dataset(sr_file.path, "127.0.0.1", port, "NOBODY", timeout=5)


def test_cli_writes_and_sends_the_sr(tmp_path, storage_scp):
    from phantomqc.cli import main

    port, received = storage_scp
    man = _dr_dark(tmp_path / "in")[0]
    out = tmp_path / "qc.dcm"
    rc = main(["analyze", str(man), "--no-progress", "--sr", str(out), "--send-sr", f"127.0.0.1:{port}:TESTPACS"])
    assert rc in (0, 1)  # analysed; a failed verdict is 1
    assert out.is_file() and len(received) == 1 and received[0].SOPInstanceUID == pydicom.dcmread(out).SOPInstanceUID
    assert [g["kind"] for g in read_sr(out)] == ["dr.dark_noise"]
    assert main(["analyze", str(man), "--no-progress", "--send-sr", "nohost:port:AE"]) == 2


def test_two_concurrent_sends_both_arrive(sr_file, storage_scp):
    # two senders at once (the SCP serves each association in its own thread): both arrive, once each
    port, received = storage_scp
    codes = []
    threads = [threading.Thread(target=lambda: codes.append(send_dataset(sr_file.path, "127.0.0.1", port,
                                                                        "TESTPACS", timeout=10)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert codes == [0, 0] and len(received) == 2
