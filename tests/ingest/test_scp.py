"""The DICOM listener over loopback with real pynetdicom associations: a 2 000-instance load test from four
concurrent associations, and the fault tests (server killed mid-series, aborted association, malformed data set,
disallowed AE title)."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import (CTImageStorage, DigitalXRayImageStorageForProcessing, MRImageStorage,
                                  NuclearMedicineImageStorage, Verification)
from sqlalchemy import func, select

from phantomqc.ingest.scp import QCServer
from phantomqc.programme.models import AnalysisRun
from phantomqc.programme.store import Store

CONTEXTS = (CTImageStorage, MRImageStorage, NuclearMedicineImageStorage, DigitalXRayImageStorageForProcessing)


# ---------------------------------------------------------------------------------------------- reference phantoms
def _ct_series(out: Path, n_slices: int = 40) -> list[Path]:
    from reference_phantoms.ct import make_ct_series

    make_ct_series(out, phantom="water200", thickness_mm=2.0, spacing_z_mm=2.0, z_start_mm=-n_slices,
                   z_stop_mm=n_slices + 2, noise_sd_hu=3.0, matrix=128, pixel_mm=1.953125)
    files = sorted((out / "series").glob("*.dcm"))
    assert len(files) >= n_slices
    return files[:n_slices]


def _mr_series(out: Path) -> list[Path]:
    from reference_phantoms.mr import make_acr_series

    make_acr_series(out, matrix=128)
    return sorted((out / "series").glob("*.dcm"))


def _dr_image(out: Path) -> list[Path]:
    from reference_phantoms._detector import DetectorModel
    from reference_phantoms.dr import artifacts_phantom, write_phantom_set

    ps = artifacts_phantom(DetectorModel(shape=(256, 256), pitch_mm=1.0), np.random.default_rng(1), artifacts=())
    write_phantom_set(ps, out)
    return [out / ps.images[0].filename]


def _nm_image(out: Path) -> list[Path]:
    from reference_phantoms._writing import write_nm
    from reference_phantoms.nm import flood

    img, _ = flood((128, 128), (4.0, 4.0), counts_per_pixel=1.0e4, rng=np.random.default_rng(2))
    p = out / "flood.dcm"
    write_nm(p, np.clip(np.round(img), 0, 65535).astype(np.uint16), spacing_mm=(4.0, 4.0),
             series_uid=generate_uid(), study_uid=generate_uid(), series_description="FLOOD")
    return [p]


def _clones(files: list[Path], out: Path, n: int, tag: str) -> list[list[Path]]:
    """``n`` copies of a series, each with its own Series and SOP Instance UIDs (distinct acquisitions)."""
    src = [pydicom.dcmread(f) for f in files]
    series = []
    for k in range(n):
        suid = generate_uid()
        folder = out / f"{tag}{k:04d}"
        folder.mkdir(parents=True)
        paths = []
        for i, ds in enumerate(src):
            ds.SeriesInstanceUID = suid
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            p = folder / f"{i:04d}.dcm"
            ds.save_as(p, enforce_file_format=True)
            paths.append(p)
        series.append(paths)
    return series


@pytest.fixture(scope="module")
def load_set(tmp_path_factory):
    """2 000 instances: 25 CT water series of 40 slices, 40 ACR MR series of 11 slices, 280 DR flat fields and 280
    NM floods."""
    base = tmp_path_factory.mktemp("load")
    series = []
    series += _clones(_ct_series(base / "src_ct"), base / "send", 25, "ct")
    series += _clones(_mr_series(base / "src_mr"), base / "send", 40, "mr")
    series += _clones(_dr_image(base / "src_dr"), base / "send", 280, "dr")
    series += _clones(_nm_image(base / "src_nm"), base / "send", 280, "nm")
    assert sum(len(s) for s in series) == 2000
    return series


def _send(port: int, files: list[Path], calling: str = "LOADSCU", errors: list | None = None) -> list[int]:
    ae = AE(ae_title=calling)
    for c in CONTEXTS:
        ae.add_requested_context(c)
    assoc = ae.associate("127.0.0.1", port, ae_title="PHANTOMQC")
    assert assoc.is_established, f"association from {calling} not established"
    statuses = []
    try:
        for f in files:
            st = assoc.send_c_store(f)
            statuses.append(int(st.Status) if st else -1)
    finally:
        assoc.release()
    return statuses


def _wait(predicate, timeout: float, step: float = 0.25) -> bool:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


# ---------------------------------------------------------------------------------------------- load test
def test_load_2000_instances_over_four_associations(load_set, tmp_path, record_property):
    db = f"sqlite:///{tmp_path / 'store.sqlite'}"
    srv = QCServer(tmp_path / "storage", host="127.0.0.1", port=0, stable_seconds=2.0, db=db, site="Load",
                   workers=2).start()
    try:
        # four concurrent associations, each sending whole series (a series never spans two associations, as a
        # modality sends it), interleaved across modalities
        order = sorted(load_set, key=lambda s: hash(s[0].parent.name))
        chunks = [order[i::4] for i in range(4)]
        results: list[list[int]] = [[] for _ in range(4)]
        t0 = time.perf_counter()
        threads = [threading.Thread(target=lambda i=i: results[i].extend(
            _send(srv.port, [f for s in chunks[i] for f in s], calling=f"LOAD{i}"))) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        t_sent = time.perf_counter() - t0
        assert all(st == 0 for r in results for st in r) and sum(len(r) for r in results) == 2000
        n_series = len(load_set)
        done = _wait(lambda: sum(1 for u in srv.spool.all_series() if srv.spool.state(u).state != "receiving")
                     == n_series and not srv.spool.pending(), timeout=900)
        t_done = time.perf_counter() - t0
    finally:
        srv.stop()
    assert done, f"{len(srv.spool.pending())} series still pending"
    # every instance stored, once
    stored = {p.stem for u in srv.spool.all_series() for p in srv.spool.instances(u)}
    sent = {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for s in load_set for f in s}
    assert stored == sent and srv.stats["stored"] == 2000
    # every series identified and analysed, with every instance
    states = [srv.spool.state(u) for u in srv.spool.all_series()]
    assert len(states) == n_series
    assert [s for s in states if s.state != "analysed"] == []
    assert all(st.instances_analysed == len(srv.spool.instances(st.series_uid)) for st in states)
    # every result in the database, nothing duplicated
    run_ids = [r for st in states for r in st.run_ids]
    store = Store(db)
    with store.session() as s:
        n_runs = s.scalar(select(func.count()).select_from(AnalysisRun))
        n_keys = s.scalar(select(func.count(func.distinct(AnalysisRun.input_key))))
        kinds = dict(s.execute(select(AnalysisRun.kind, func.count()).group_by(AnalysisRun.kind)).all())
    assert n_runs == len(run_ids) == len(set(run_ids)) == n_keys
    assert kinds["ct.water"] == 25 and kinds["nm.uniformity"] == 280
    assert kinds["dr.artifacts"] == 280 and kinds["mr.acr"] == 40
    rate_in, rate_all = 2000 / t_sent, 2000 / t_done
    record_property("instances_per_second_received", round(rate_in, 1))
    record_property("instances_per_second_end_to_end", round(rate_all, 1))
    print(f"\nload: 2000 instances received in {t_sent:.1f} s ({rate_in:.0f}/s); {n_series} series analysed and "
          f"{n_runs} runs stored {t_done:.1f} s after the first byte ({rate_all:.0f} instances/s end to end)")


# ---------------------------------------------------------------------------------------------- fault tests
@pytest.fixture
def server(tmp_path):
    srv = QCServer(tmp_path / "storage", host="127.0.0.1", port=0, stable_seconds=1.0,
                   db=f"sqlite:///{tmp_path / 'store.sqlite'}", allowed_aes={"GOODAE", "OTHERAE"}).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def ct_files(tmp_path_factory):
    return _ct_series(tmp_path_factory.mktemp("ct"), n_slices=8)


def test_echo_and_a_disallowed_ae_title_is_refused(server):
    ae = AE(ae_title="BADAE")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="PHANTOMQC")
    assert not assoc.is_established and assoc.is_rejected
    ae2 = AE(ae_title="GOODAE")
    ae2.add_requested_context(Verification)
    assoc2 = ae2.associate("127.0.0.1", server.port, ae_title="PHANTOMQC")
    assert assoc2.is_established
    assert int(assoc2.send_c_echo().Status) == 0
    assoc2.release()
    assert server.spool.all_series() == []


def test_malformed_data_sets_get_a_failure_status_and_the_server_carries_on(server, ct_files, tmp_path):
    ds = pydicom.dcmread(ct_files[0])
    # 1. no Series Instance UID: cannot be grouped
    no_series = tmp_path / "noseries.dcm"
    bad = ds.copy()
    del bad.SeriesInstanceUID
    bad.save_as(no_series, enforce_file_format=True)
    # 2. an image whose pixel data was cut short in transfer
    truncated = tmp_path / "truncated.dcm"
    data = ct_files[0].read_bytes()
    truncated.write_bytes(data[: len(data) - 5000])
    # 3. a SOP Instance UID that is not a UID (it could not be a file name either)
    bad_uid = tmp_path / "baduid.dcm"
    bad = ds.copy()
    bad.SOPInstanceUID = "1.2.3/../../etc"
    bad.save_as(bad_uid, enforce_file_format=True)
    statuses = _send(server.port, [no_series, truncated, bad_uid, ct_files[0]], calling="GOODAE")
    assert statuses[0] == 0xC211
    assert statuses[1] == 0xA900
    assert statuses[2] == 0xC211
    assert statuses[3] == 0  # the next instance on the same association is stored
    assert server.stats["malformed"] == 3 and server.stats["stored"] == 1
    assert [p.name for p in (server.spool.root / "tmp").iterdir()] == []  # no partial file left behind


def test_aborted_association_is_logged_and_its_instances_kept(server, ct_files, caplog):
    caplog.set_level(logging.WARNING, logger="phantomqc.serve")
    ae = AE(ae_title="OTHERAE")
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="PHANTOMQC")
    for f in ct_files[:3]:
        assert int(assoc.send_c_store(f).Status) == 0
    assoc.abort()
    assert _wait(lambda: server.stats["aborted"] == 1, 10)
    assert any("aborted after 3 stored instance(s)" in r.getMessage() for r in caplog.records)
    # other associations are unaffected
    assert _send(server.port, ct_files[3:], calling="GOODAE") == [0] * (len(ct_files) - 3)
    uid = server.spool.all_series()[0]
    assert len(server.spool.instances(uid)) == len(ct_files)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(storage: Path, db: str, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "phantomqc", "serve", "--host", "127.0.0.1", "--port", str(port), "--storage",
           str(storage), "--stable", "3", "--db", db]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def ready():
        try:
            ae = AE(ae_title="PROBE")
            ae.add_requested_context(Verification)
            a = ae.associate("127.0.0.1", port, ae_title="PHANTOMQC")
            ok = a.is_established
            if ok:
                a.release()
            return ok
        except Exception:  # noqa: BLE001
            return False

    assert _wait(ready, 60, 0.5), "the server did not start"
    return proc


def test_server_killed_mid_series_completes_the_series_after_restart(ct_files, tmp_path):
    storage, db, port = tmp_path / "storage", f"sqlite:///{tmp_path / 'store.sqlite'}", _free_port()
    proc = _serve(storage, db, port)
    try:
        assert _send(port, ct_files[:4], calling="CTSCU") == [0] * 4
        proc.send_signal(signal.SIGKILL)  # no clean shutdown: only what was fsync'd survives
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    proc = _serve(storage, db, port)
    try:
        assert _send(port, ct_files[4:], calling="CTSCU") == [0] * (len(ct_files) - 4)
        uid = pydicom.dcmread(ct_files[0], stop_before_pixels=True).SeriesInstanceUID
        from phantomqc.ingest.spool import Spool

        spool = Spool(storage)
        assert _wait(lambda: spool.state(uid).state == "analysed", 60)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    st = spool.state(uid)
    assert st.instances_analysed == len(ct_files) and len(st.run_ids) == 1
    runs = Store(db).runs()
    assert len(runs) == 1 and len(runs[0].input["sop_instance_uids"]) == len(ct_files)  # never the partial series
    assert "pending" in out  # the restarted server said it was waiting for the rest of the series


def test_unrecognised_series_is_kept_and_listed(server, tmp_path, capsys):
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

    from ._dicom import secondary_capture

    p = secondary_capture(tmp_path / "sc.dcm", size=64)
    sc = pydicom.dcmread(p)
    ae = AE(ae_title="GOODAE")
    ae.add_requested_context(SecondaryCaptureImageStorage, ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="PHANTOMQC")
    assert int(assoc.send_c_store(p).Status) == 0
    assoc.release()
    uid = str(sc.SeriesInstanceUID)
    assert _wait(lambda: server.spool.state(uid).state not in ("receiving",), 30)
    st = server.spool.state(uid)
    assert st.state == "unrecognised" and "modality OT" in st.reason
    assert server.spool.instances(uid)  # kept
    from phantomqc.cli import main

    assert main(["serve", "--list-series", "--storage", str(server.spool.root)]) == 0
    out = capsys.readouterr().out
    assert uid in out and st.state in out


def test_each_analysed_series_goes_back_as_an_sr_to_the_pacs(ct_files, tmp_path):
    """A second pynetdicom SCP stands in for the PACS: the listener's SR of the series arrives there and reads back
    with the series' numbers."""
    from pynetdicom import evt
    from pynetdicom.sop_class import Comprehensive3DSRStorage

    from phantomqc.report.sr import read_sr

    received = []

    def on_store(event):
        ds = event.dataset
        ds.file_meta = event.file_meta
        received.append(ds)
        return 0x0000

    pacs = AE(ae_title="PACS")
    pacs.add_supported_context(Comprehensive3DSRStorage)
    pacs_srv = pacs.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    srv = QCServer(tmp_path / "storage", host="127.0.0.1", port=0, stable_seconds=1.0,
                   db=f"sqlite:///{tmp_path / 'store.sqlite'}",
                   send_sr=f"127.0.0.1:{pacs_srv.server_address[1]}:PACS").start()
    try:
        assert _send(srv.port, ct_files, calling="CTSCU") == [0] * len(ct_files)
        assert _wait(lambda: len(received) == 1, 60)
    finally:
        srv.stop()
        pacs_srv.shutdown()
    groups = read_sr(received[0])
    stored = Store(f"sqlite:///{tmp_path / 'store.sqlite'}").runs()[0]
    values = {(m["id"], m.get("label")): m["value"] for g in groups for m in g["measurements"]}
    for m in stored.measurements:
        if m.value is not None:
            assert values[(m.metric, m.label or None)] == m.value
    assert srv.stats["sr_sent"] == 1
