"""Analysis results as a DICOM Structured Report (TID 1500 Measurement Report), and back.

:func:`analysis_sr` turns the results of ``phantomqc.pipeline.analyze`` into a Comprehensive 3D SR document
(highdicom) whose root is a TID 1500 "Imaging Measurement Report"; :func:`write_sr` writes it to a file and
:func:`read_sr` reads such a file back into plain dictionaries.

The document, item by item (PS3.16 template numbers):

- **Observation context (TID 1001).** The observer is a device (TID 1004): phantomqc with its version. The
  subject is a device (TID 1010, Subject Class = DCM 121007 "Device"): the Device Subject Name is the phantom
  (``"no phantom (<kind>)"`` for a test without one, such as a DR dark image);
  the manufacturer, model name and serial number are those of the scanner under test (the manifest's
  ``[device]`` table overrides the DICOM tags), and the Physical Location is the manifest's device name or else
  the Station Name. Each measurement group repeats these items (HAS OBS CONTEXT), because one document may hold
  the tests of several phantoms or scanners; a group's context overrides the document's (PS3.3 C.17.3.2.5).
- **One measurement group per test (TID 1501)**, i.e. per ``AnalysisResult`` without an error. Its Tracking
  Identifier (TID 4108) is the test kind (``ct.water``) with a new Tracking UID. It carries the algorithm
  identification (TID 4019: name ``phantomqc``, version, and parameters ``config_sha256=...``,
  ``profile=...``, ``test_type=...``, ``analyzer=...``, ``parameters=<JSON>``) and the source images as IMAGE
  items (DCM 121112 "Source of Measurement"), where their SOP Class is known.
- **One NUM item (TID 300) per finite measurement.** Its concept name is a code of the private coding scheme
  ``99PHQC``: the code value is the metric id (in (0008,0119) Long Code Value when it is longer than the 16
  characters of Code Value, PS3.3 8.8), the meaning is the metric's definition from the registry, cut to the 64 characters of LO. The
  unit is a UCUM code (:data:`UCUM_UNITS`). The value is written both as (0040,A30A) Numeric Value (DS, 16
  characters) and as (0040,A161) Floating Point Value (FD, the exact binary64), so it reads back bit for bit.
  The measurement label (``"top"``, ``"sphere_10mm"``) and the link to its verdict are a TID 4108 Tracking
  Identifier inside the NUM item: the identifier text is ``metric`` or ``metric[label]`` (the reference key of
  ``phantomqc.standards``) and its Tracking UID is shared with the verdict. The standard uncertainty (k = 1),
  where known, is a pair of TID 310 items "+/- range of measurement uncertainty" (SCT 371886008 / 371885007)
  in the measurement's own unit, and a note is a DCM 121106 "Comment" TEXT item.
- **A non-finite measurement** (NaN or +/-inf, which a value's note explains) has no NUM item: DS cannot hold
  NaN, the standard's form (an empty Measured Value Sequence with a Numeric Value Qualifier, PS3.3 C.18.1) has
  no place for the unit and highdicom 0.28 cannot read it back. It is a CODE item instead, concept name the
  metric code, value the CID 42 "Numeric Value Qualifier" code: DCM 114000 "Not a number", 114001
  "Negative Infinity" or 114002 "Positive Infinity", with the same tracking identifier and comment.
- **One qualitative evaluation (CODE) per verdict**: concept name the metric code, value ``99PHQC`` ``pass``,
  ``fail`` or ``not_evaluated`` (PS3.16 has no code for a QC tolerance verdict: CID 222 "Normality" speaks of
  anatomy). Its children: the measurement's tracking identifier (HAS OBS CONTEXT) and, as HAS PROPERTIES, the
  criterion text, the criterion's source, the reason (for ``not_evaluated``), the test type, and whether the
  limit is confirmed and whether the profile sets one at all (SCT 373066001 "Yes" / 373067005 "No").

The private scheme is declared in (0008,0110) Coding Scheme Identification Sequence (PS3.3 C.12.1.1.2). Text
is UTF-8 (Specific Character Set ``ISO_IR 192``): criteria and sources are Chinese. The document goes into the
study of the first result's source images (patient and study attributes copied from their header); with no
readable source header it opens a new study with empty patient attributes (Type 2). Source images of other
studies are listed in the Pertinent Other Evidence Sequence. A source whose header cannot be read (a member of
a zip archive, a file removed since the analysis) is not referenced: an IMAGE reference needs its SOP Class.

References
----------
DICOM PS3.3 A.35.13 (Comprehensive 3D SR IOD), C.17 (SR Document modules), C.18.1 (Numeric Measurement
Macro); PS3.16 TID 1500, 1501, 300, 310, 1001, 1004, 1010, 4019, 4108, CID 42.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phantomqc import __version__
from phantomqc._shared.errors import InputError, PhantomQCError
from phantomqc.core.types import AnalysisResult, Measurement, Verdict

__all__ = ["SCHEME", "UCUM_UNITS", "SRWriteResult", "analysis_sr", "config_hash", "read_sr", "ucum_unit",
           "write_sr"]

log = logging.getLogger(__name__)

SCHEME = "99PHQC"
"""Designator of phantomqc's private coding scheme (metric ids and verdicts)."""

UCUM_UNITS: dict[str, tuple[str, str]] = {
    "1": ("1", "no units"),
    "%": ("%", "percent"),
    "mm": ("mm", "millimeter"),
    "mm^2": ("mm2", "square millimeter"),
    "HU": ("[hnsf'U]", "Hounsfield unit"),
    # a line pair is one cycle: UCUM has no "lp", so lp/mm is a spatial frequency in 1/mm; the meaning keeps
    # the two apart, and the reader maps (code, meaning) back
    "lp/mm": ("/mm", "line pairs per millimeter"),
    "lp/cm": ("/cm", "line pairs per centimeter"),
    "1/mm": ("/mm", "per millimeter"),
    "PV": ("{PV}", "pixel value"),  # a stored detector value: a UCUM annotation of the unit 1
    "mGy": ("mGy", "milligray"),
    "kcps": ("10*3{counts}/s", "kilocounts per second"),
    "cps/MBq": ("{counts}/s/MBq", "counts per second per megabecquerel"),
    "deg": ("deg", "degree"),
    "Hz": ("Hz", "hertz"),
    "T": ("T", "tesla"),
    "us": ("us", "microsecond"),
}
"""phantomqc unit -> (UCUM code, code meaning). A unit not listed here is an error, never a silent "1"."""

_UNIT_BACK = {v: k for k, v in UCUM_UNITS.items()}

_VERDICT_MEANING = {"pass": "Pass", "fail": "Fail", "not_evaluated": "Not evaluated"}
_NONFINITE = {"nan": ("114000", "Not a number"), "-inf": ("114001", "Negative Infinity"),
              "inf": ("114002", "Positive Infinity")}
_NONFINITE_BACK = {code: key for key, (code, _) in _NONFINITE.items()}
_PRIVATE_MEANING = {
    "criterion": "Criterion",
    "criterion_source": "Source of the criterion",
    "reason": "Reason",
    "test_type": "Test type",
    "limit_confirmed": "Limit confirmed",
    "has_criterion": "Profile sets a limit",
    "phantom_qc": "Phantom image quality test",
}
_SOURCE_HEADER_TAGS = ["SpecificCharacterSet", "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID",
                       "SeriesInstanceUID", "PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                       "AccessionNumber", "StudyID", "StudyDate", "StudyTime", "ReferringPhysicianName"]


@dataclass(frozen=True)
class SRWriteResult:
    """What :func:`write_sr` wrote: the file, the SR's SOP Instance UID, the number of measurement groups,
    and one line for each result that was left out (an analysis error)."""

    path: str
    sop_instance_uid: str
    groups: int
    skipped: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------------- codes
def _hd():
    import highdicom as hd

    return hd


def _code(value: str, meaning: str, scheme: str = SCHEME):
    return _hd().sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def _lo(text: str) -> str:
    """A Code Meaning (LO): at most 64 characters, no backslash or control characters (PS3.5 6.2)."""
    t = " ".join(str(text).replace("\\", "/").split())
    if len(t) <= 64:
        return t
    cut = t[:61].rsplit(" ", 1)[0] if " " in t[:61] else t[:61]
    return cut + "..."


def _metric_code(metric_id: str, definitions: dict[str, str]):
    return _code(metric_id, _lo(definitions.get(metric_id) or metric_id))


def ucum_unit(unit: str, *, metric: str = ""):
    """The UCUM code of a phantomqc unit, as a highdicom ``CodedConcept``.

    Parameters
    ----------
    unit : str
        A phantomqc unit (``"HU"``, ``"%"``, ``"lp/mm"`` ...), a key of :data:`UCUM_UNITS`.
    metric : str, optional
        The metric id, named in the error message.

    Raises
    ------
    InputError
        The unit has no UCUM mapping: add it to :data:`UCUM_UNITS`.

    Examples
    --------
    >>> ucum_unit("HU").value
    "[hnsf'U]"
    """
    try:
        code, meaning = UCUM_UNITS[unit]
    except KeyError:
        what = f" of {metric}" if metric else ""
        raise InputError(f"the unit {unit!r}{what} has no UCUM code for the DICOM SR; known units: "
                         f"{', '.join(sorted(UCUM_UNITS))}. Add it to phantomqc.report.sr.UCUM_UNITS") from None
    return _code(code, meaning, "UCUM")


def config_hash(result: AnalysisResult) -> str:
    """SHA-256 of what decided the result's numbers and verdicts: profile, test type, kind and parameters.

    It is the ``config_hash`` that the results store records for the same analysis
    (``phantomqc.programme.store``): ``_sha({"profile": <SHA-256 of the profile snapshot>, "test_type": ...,
    "kind": ..., "parameters": ...})``, with the store's own ``_sha`` (canonical JSON, sorted keys). The
    profile snapshot is the profile's summary and criteria as data, so editing a limit changes the hash. A
    result judged with no profile hashes ``"profile": None``.
    """
    from phantomqc.programme.store import config_hash as _config_hash, profile_snapshot

    judged = result.judged_with or {}
    profile_sha = None
    if judged.get("profile"):
        from phantomqc.standards.profiles import load_profile

        profile_sha = profile_snapshot(load_profile(judged["profile"]))[1]
    return _config_hash(result.kind, result.parameters, judged.get("test_type"), profile_sha)


# ----------------------------------------------------------------------------------------------- evidence
def _source_files(paths: Iterable[str]) -> list[str]:
    out = []
    for p in paths:
        if os.path.isfile(p):
            out.append(p)
        elif os.path.isdir(p):
            out.extend(str(f) for f in sorted(Path(p).rglob("*")) if f.is_file())
    return out


def _read_source_headers(result: AnalysisResult) -> list:
    """Headers (no pixels) of the result's source files whose SOP Instance UID the result lists."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    wanted = {u for u in result.input.sop_instance_uids if u}
    out, seen = [], set()
    for f in _source_files(result.input.paths):
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=_SOURCE_HEADER_TAGS)
        except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
            log.info("SR evidence: %s is not readable as DICOM (%s); not referenced", f, exc)
            continue
        uid = str(ds.get("SOPInstanceUID", ""))
        if not uid or not ds.get("SOPClassUID") or not ds.get("StudyInstanceUID") or uid in seen:
            continue
        if wanted and uid not in wanted:
            continue
        seen.add(uid)
        for kw in _SOURCE_HEADER_TAGS[5:]:  # highdicom reads these directly from the first evidence item
            if kw not in ds:
                setattr(ds, kw, "")
        out.append(ds)
    missing = wanted - seen
    if missing:
        log.warning("SR: %d source SOP instance(s) of %s have no readable header (SOP Class unknown); they are "
                    "not referenced", len(missing), result.kind)
    return out


def _placeholder_evidence():
    """A stand-in for highdicom when no source header is readable: a new study, empty patient attributes."""
    from pydicom import Dataset
    from pydicom.uid import generate_uid

    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.34"
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    for kw in _SOURCE_HEADER_TAGS[5:]:
        setattr(ds, kw, "")
    return ds


# ----------------------------------------------------------------------------------------------- content
def _text(name, value: str, rel: str):
    hd = _hd()
    return hd.sr.TextContentItem(name=name, value=str(value), relationship_type=rel)


def _yes_no(name, flag: bool, rel: str):
    hd = _hd()
    value = _code("373066001", "Yes", "SCT") if flag else _code("373067005", "No", "SCT")
    return hd.sr.CodeContentItem(name=name, value=value, relationship_type=rel)


def _device_items(result: AnalysisResult) -> tuple[dict, Any]:
    """(facts, TID 1010 items) of the result: the phantom and the scanner under test."""
    hd = _hd()
    o = dict(result.device or {})
    inp = result.input
    facts = {
        "name": result.phantom or f"no phantom ({result.kind})",  # e.g. a DR dark image
        "manufacturer": str(o.get("manufacturer") or inp.manufacturer or "").strip() or None,
        "model": str(o.get("model") or inp.model or "").strip() or None,
        "serial": str(o.get("serial") or inp.device_serial_number or "").strip() or None,
        "location": str(o.get("name") or o.get("station") or inp.station_name or "").strip() or None,
    }
    items = hd.sr.SubjectContextDevice(name=facts["name"], manufacturer_name=facts["manufacturer"],
                                       model_name=facts["model"], serial_number=facts["serial"],
                                       physical_location=facts["location"])
    return facts, items


def _tracking(key: str, uid: str):
    return _hd().sr.TrackingIdentifier(uid=uid, identifier=key)


def _content_sequence(items):
    seq = _hd().sr.ContentSequence()
    seq.extend(items)
    return seq


def _measurement_item(m: Measurement, uid: str, definitions: dict[str, str]):
    """The NUM item (a TID 300 ``Measurement``) or, for a non-finite value, the CID 42 CODE item."""
    hd = _hd()
    from phantomqc.standards.evaluate import reference_key

    name = _metric_code(m.id, definitions)
    tracking = _tracking(reference_key(m.id, m.label), uid)
    extra = []
    if m.note:
        extra.append(_text(_code("121106", "Comment", "DCM"), m.note, "HAS PROPERTIES"))
    if not math.isfinite(m.value):
        key = "nan" if math.isnan(m.value) else ("inf" if m.value > 0 else "-inf")
        code, meaning = _NONFINITE[key]
        qe = hd.sr.QualitativeEvaluation(name=name, value=_code(code, meaning, "DCM"))
        qe[0].ContentSequence = _content_sequence(list(tracking) + extra)
        return qe
    unit = ucum_unit(m.unit, metric=m.id)
    num = hd.sr.Measurement(name=name, value=float(m.value), unit=unit, tracking_identifier=tracking)
    if m.uncertainty is not None and math.isfinite(m.uncertainty):
        # TID 310 rows "+/- range of measurement uncertainty", here the standard uncertainty (k = 1), in the
        # measurement's unit (highdicom's MeasurementProperties would write them unitless)
        for code, meaning in (("371886008", "+, range of upper measurement uncertainty"),
                              ("371885007", "-, range of lower measurement uncertainty")):
            extra.append(hd.sr.NumContentItem(name=_code(code, meaning, "SCT"), value=float(m.uncertainty),
                                              unit=unit, relationship_type="HAS PROPERTIES"))
    num[0].ContentSequence.extend(extra)
    return num


def _verdict_item(v: Verdict, uid: str, definitions: dict[str, str]):
    hd = _hd()
    from phantomqc.standards.evaluate import reference_key

    qe = hd.sr.QualitativeEvaluation(name=_metric_code(v.measurement, definitions),
                                     value=_code(v.status, _VERDICT_MEANING[v.status]))
    children = list(_tracking(reference_key(v.measurement, v.label), uid))
    for key, text in (("criterion", v.criterion), ("criterion_source", v.source), ("reason", v.reason),
                      ("test_type", v.test_type)):
        if text:
            children.append(_text(_code(key, _PRIVATE_MEANING[key]), text, "HAS PROPERTIES"))
    children.append(_yes_no(_code("limit_confirmed", _PRIVATE_MEANING["limit_confirmed"]), v.confirmed,
                            "HAS PROPERTIES"))
    children.append(_yes_no(_code("has_criterion", _PRIVATE_MEANING["has_criterion"]), v.has_criterion,
                            "HAS PROPERTIES"))
    qe[0].ContentSequence = _content_sequence(children)
    return qe


def _algorithm(result: AnalysisResult):
    judged = result.judged_with or {}
    params = [f"config_sha256={config_hash(result)}",
              f"profile={judged.get('profile', '')} {judged.get('profile_version', '')}".rstrip(),
              f"test_type={judged.get('test_type', '')}",
              f"analyzer={result.analyzer}",
              "parameters=" + json.dumps(result.to_dict()["parameters"], sort_keys=True, ensure_ascii=False)]
    return _hd().sr.AlgorithmIdentification(name="phantomqc", version=__version__, parameters=params)


def _group(result: AnalysisResult, headers: list, definitions: dict[str, str]):
    hd = _hd()
    from pydicom.uid import generate_uid

    from phantomqc.standards.evaluate import reference_key

    uids: dict[str, str] = {}
    measurements, evaluations = [], []
    for m in result.measurements:
        uid = uids.setdefault(reference_key(m.id, m.label), generate_uid())
        item = _measurement_item(m, uid, definitions)
        (measurements if isinstance(item, hd.sr.Measurement) else evaluations).append(item)
    for v in result.verdicts:
        uid = uids.setdefault(reference_key(v.measurement, v.label), generate_uid())
        evaluations.append(_verdict_item(v, uid, definitions))
    sources = [hd.sr.SourceImageForMeasurementGroup(referenced_sop_class_uid=ds.SOPClassUID,
                                                    referenced_sop_instance_uid=ds.SOPInstanceUID)
               for ds in headers]
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking(result.kind, generate_uid()), algorithm_id=_algorithm(result),
        measurements=measurements or None, qualitative_evaluations=evaluations or None,
        source_images=sources or None)
    _, device = _device_items(result)
    content = group[0].ContentSequence
    for i, item in enumerate(device):  # after the two tracking-identifier items
        content.insert(2 + i, item)
    return group


def analysis_sr(results: Sequence[AnalysisResult], *, evidence: Sequence | None = None,
                read_source_headers: bool = True, series_number: int = 9700, instance_number: int = 1,
                institution_name: str | None = None, series_description: str = "phantomqc QC results"):
    """A Comprehensive 3D SR document (TID 1500) holding the measurements and verdicts of ``results``.

    Parameters
    ----------
    results : sequence of AnalysisResult
        The results of ``phantomqc.pipeline.analyze``. Results with an ``error`` are left out and logged
        (see :func:`write_sr` for the list).
    evidence : sequence of pydicom.Dataset, optional
        Headers of the source images (a listener has them in memory). When given, no file is read.
    read_source_headers : bool, optional
        Read the headers of the results' input files (pixels are not read) to reference them and to put the
        document into their study. Default True.
    series_number, instance_number : int, optional
        Of the new SR series and document.
    institution_name : str, optional
        (0008,0080) of the document.
    series_description : str, optional
        (0008,103E) of the new SR series.

    Returns
    -------
    highdicom.sr.Comprehensive3DSR
        The document (a ``pydicom.Dataset``), Specific Character Set ISO_IR 192.

    Raises
    ------
    InputError
        No result without an error, or a measurement whose unit has no UCUM code.

    Notes
    -----
    The layout of the document is described in the module docstring.
    """
    hd = _hd()
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    from phantomqc.core.registry import all_metrics

    ok = [r for r in results if r.error is None]
    for line in _skipped(results):
        log.warning("SR: %s", line)
    if not ok:
        raise InputError(f"none of the {len(results)} result(s) can go into a DICOM SR: every one has an error "
                         f"({'; '.join(_skipped(results)[:3])})")
    definitions = {k: m.definition for k, m in all_metrics().items()}

    by_uid: dict[str, Any] = {}
    if evidence is not None:
        for ds in evidence:
            by_uid.setdefault(str(ds.SOPInstanceUID), ds)
    per_result = []
    for r in ok:
        if evidence is not None:
            hdrs = [by_uid[u] for u in dict.fromkeys(r.input.sop_instance_uids) if u in by_uid]
        elif read_source_headers:
            hdrs = _read_source_headers(r)
        else:
            hdrs = []
        per_result.append(hdrs)
    all_headers = list({str(ds.SOPInstanceUID): ds for hdrs in per_result for ds in hdrs}.values())
    placeholder = not all_headers
    ev = all_headers or [_placeholder_evidence()]

    groups = [_group(r, hdrs, definitions) for r, hdrs in zip(ok, per_result)]
    _, subject_device = _device_items(ok[0])
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(entropy_srcs=["phantomqc", "device observer"]), name="phantomqc",
            manufacturer_name="phantomqc", model_name="phantomqc"))
    context = hd.sr.ObservationContext(
        observer_device_context=observer,
        subject_context=hd.sr.SubjectContext(subject_class=codes.DCM.Device,
                                             subject_class_specific_context=subject_device))
    report = hd.sr.MeasurementReport(observation_context=context,
                                     procedure_reported=_code("phantom_qc", _PRIVATE_MEANING["phantom_qc"]),
                                     imaging_measurements=groups)
    from highdicom.coding_schemes import CodingSchemeIdentificationItem

    scheme = CodingSchemeIdentificationItem(designator=SCHEME, name="phantomqc metrics and QC verdicts",
                                               version=__version__, responsible_organization="phantomqc")
    now = _dt.datetime.now()
    sr = hd.sr.Comprehensive3DSR(
        evidence=ev, content=report[0], series_instance_uid=generate_uid(), series_number=series_number,
        sop_instance_uid=generate_uid(), instance_number=instance_number, manufacturer="phantomqc",
        is_complete=True, is_final=False, is_verified=False, institution_name=institution_name,
        series_description=series_description, coding_schemes=[scheme], manufacturer_model_name="phantomqc",
        software_versions=__version__, device_serial_number="none", specific_character_set="ISO_IR 192",
        content_date=now.date(), content_time=now.time(), record_evidence=True)
    if placeholder:  # the stand-in instance is no evidence: the document references no image
        for kw in ("CurrentRequestedProcedureEvidenceSequence", "PertinentOtherEvidenceSequence"):
            if kw in sr:
                delattr(sr, kw)
    return sr


def _skipped(results: Sequence[AnalysisResult]) -> list[str]:
    out = []
    for r in results:
        if r.error is not None:
            where = ", ".join(r.input.paths[:2]) + (" ..." if len(r.input.paths) > 2 else "")
            out.append(f"{r.kind} ({where}) left out: {r.error.get('type')}: {r.error.get('message')}")
    return out


def write_sr(results: Sequence[AnalysisResult], path: str | Path, **options) -> SRWriteResult:
    """Write :func:`analysis_sr` of ``results`` to ``path`` (DICOM Part 10 file, Explicit VR Little Endian).

    ``options`` are passed to :func:`analysis_sr`. Returns what was written, with one line for each result
    left out because of its analysis error (those are logged too).

    Raises
    ------
    InputError
        As :func:`analysis_sr`, or the file cannot be written.
    """
    sr = analysis_sr(results, **options)
    p = Path(path)
    try:
        if p.parent and not p.parent.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
        sr.save_as(p, enforce_file_format=True)
    except OSError as exc:
        raise InputError(f"cannot write the DICOM SR: {exc}", path=p) from None
    return SRWriteResult(path=str(p), sop_instance_uid=str(sr.SOPInstanceUID),
                         groups=sum(1 for r in results if r.error is None), skipped=tuple(_skipped(results)))


# ----------------------------------------------------------------------------------------------- reading
def _as_sr(path_or_dataset):
    hd = _hd()
    import pydicom
    from pydicom import Dataset
    from pydicom.errors import InvalidDicomError

    where = None if isinstance(path_or_dataset, Dataset) else path_or_dataset
    try:
        ds = path_or_dataset if isinstance(path_or_dataset, Dataset) else pydicom.dcmread(path_or_dataset)
        if isinstance(ds, (hd.sr.Comprehensive3DSR, hd.sr.ComprehensiveSR, hd.sr.EnhancedSR)):
            return ds
        sop_class = str(ds.get("SOPClassUID", ""))
        cls = {"1.2.840.10008.5.1.4.1.1.88.34": hd.sr.Comprehensive3DSR,
               "1.2.840.10008.5.1.4.1.1.88.33": hd.sr.ComprehensiveSR,
               "1.2.840.10008.5.1.4.1.1.88.22": hd.sr.EnhancedSR}.get(sop_class)
        if cls is None:
            raise InputError(f"(0008,0016) SOP Class UID {sop_class!r} is not an Enhanced, Comprehensive or "
                             f"Comprehensive 3D SR: give the SR file that phantomqc wrote", path=where)
        return cls.from_dataset(ds)
    except PhantomQCError:
        raise
    except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, AttributeError, KeyError, IndexError,
            RuntimeError) as exc:  # what pydicom and highdicom raise on a file that is not a readable SR
        raise InputError(f"not a readable DICOM SR document: {type(exc).__name__}: {exc}", path=where) from None


def _name(item) -> tuple[str, str]:
    n = item.name
    return (str(n.scheme_designator), str(n.value))


def _children(item) -> list:
    return list(item.ContentSequence) if "ContentSequence" in item else []


def _tracking_of(item) -> tuple[str | None, str | None]:
    key = uid = None
    for c in _children(item):
        if _name(c) == ("DCM", "112039"):
            key = str(c.value)
        elif _name(c) == ("DCM", "112040"):
            uid = str(c.value)
    return key, uid


def _yes(item) -> bool:
    return str(item.value.value) == "373066001"


def read_sr(path_or_dataset) -> list[dict]:
    """Read a phantomqc SR (a file path or a dataset) back with highdicom: one dict per measurement group.

    Returns
    -------
    list of dict
        Per group: ``kind``, ``tracking_uid``, ``device`` (``name`` = phantom, ``manufacturer``, ``model``,
        ``serial``, ``location``), ``algorithm`` (``name``, ``version``, ``parameters``), ``config_sha256``,
        ``source_sop_instance_uids``, ``measurements`` (``id``, ``label``, ``value``, ``unit`` (phantomqc),
        ``ucum``, ``uncertainty``, ``note``, ``tracking_uid``) and ``verdicts`` (``measurement``, ``label``,
        ``status``, ``criterion``, ``source``, ``reason``, ``test_type``, ``confirmed``, ``has_criterion``,
        ``tracking_uid``). A non-finite measurement has ``value`` NaN or +/-inf and the unit of the metric
        registry (the SR item carries none).

    Raises
    ------
    InputError
        Not an SR document, or not a TID 1500 Measurement Report.
    """
    from phantomqc.core.registry import all_metrics
    from phantomqc.standards.evaluate import parse_reference_key

    sr = _as_sr(path_or_dataset)
    report = sr.content
    if not hasattr(report, "get_image_measurement_groups"):
        raise InputError("the SR document is not a TID 1500 Measurement Report (no (0040,A504) Content Template "
                         "Sequence with Template Identifier 1500)")
    registry = all_metrics()
    out = []
    for group in report.get_image_measurement_groups():
        root = group[0]
        g: dict[str, Any] = {"kind": group.tracking_identifier, "tracking_uid": str(group.tracking_uid),
                             "device": {}, "algorithm": {"parameters": []}, "config_sha256": None,
                             "source_sop_instance_uids": [], "measurements": [], "verdicts": []}
        for c in _children(root):
            sd = _name(c)
            if sd == ("DCM", "121193"):
                g["device"]["name"] = c.value
            elif sd == ("DCM", "121194"):
                g["device"]["manufacturer"] = c.value
            elif sd == ("DCM", "121195"):
                g["device"]["model"] = c.value
            elif sd == ("DCM", "121196"):
                g["device"]["serial"] = c.value
            elif sd == ("DCM", "121197"):
                g["device"]["location"] = c.value
            elif sd == ("DCM", "111001"):
                g["algorithm"]["name"] = c.value
            elif sd == ("DCM", "111003"):
                g["algorithm"]["version"] = c.value
            elif sd == ("DCM", "111002"):
                g["algorithm"]["parameters"].append(c.value)
                if str(c.value).startswith("config_sha256="):
                    g["config_sha256"] = str(c.value).split("=", 1)[1]
            elif c.ValueType == "IMAGE":
                g["source_sop_instance_uids"].append(str(c.referenced_sop_instance_uid))
            elif c.ValueType == "NUM" and sd[0] == SCHEME:
                key, uid = _tracking_of(c)
                _, label = parse_reference_key(key or sd[1])
                unit = c.unit
                phq_unit = _UNIT_BACK.get((str(unit.value), str(unit.meaning)))
                m = {"id": sd[1], "label": label, "value": float(c.value), "unit": phq_unit,
                     "ucum": str(unit.value), "uncertainty": None, "note": None, "tracking_uid": uid}
                for p in _children(c):
                    if _name(p) == ("SCT", "371886008"):
                        m["uncertainty"] = float(p.value)
                    elif _name(p) == ("DCM", "121106"):
                        m["note"] = p.value
                g["measurements"].append(m)
            elif c.ValueType == "CODE" and sd[0] == SCHEME:
                key, uid = _tracking_of(c)
                _, label = parse_reference_key(key or sd[1])
                val = c.value
                if str(val.scheme_designator) == "DCM" and str(val.value) in _NONFINITE_BACK:
                    note = next((p.value for p in _children(c) if _name(p) == ("DCM", "121106")), None)
                    md = registry.get(sd[1])
                    g["measurements"].append({"id": sd[1], "label": label,
                                              "value": float(_NONFINITE_BACK[str(val.value)]),
                                              "unit": md.unit if md else None, "ucum": None, "uncertainty": None,
                                              "note": note, "tracking_uid": uid})
                elif str(val.scheme_designator) == SCHEME and str(val.value) in _VERDICT_MEANING:
                    v = {"measurement": sd[1], "label": label, "status": str(val.value), "criterion": None,
                         "source": None, "reason": None, "test_type": None, "confirmed": None,
                         "has_criterion": None, "tracking_uid": uid}
                    for p in _children(c):
                        pn = _name(p)
                        if pn[0] != SCHEME:
                            continue
                        field_ = {"criterion": "criterion", "criterion_source": "source", "reason": "reason",
                                  "test_type": "test_type", "limit_confirmed": "confirmed",
                                  "has_criterion": "has_criterion"}.get(pn[1])
                        if field_ in ("confirmed", "has_criterion"):
                            v[field_] = _yes(p)
                        elif field_:
                            v[field_] = p.value
                    g["verdicts"].append(v)
        out.append(g)
    return out
