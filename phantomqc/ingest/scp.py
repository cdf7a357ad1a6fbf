"""The DICOM listener: ``phantomqc serve``.

A pynetdicom storage SCP that

- accepts the storage SOP classes of DX, CR, CT, MR, NM and PT images, their enhanced multi-frame forms and
  secondary captures, in every transfer syntax pydicom can decode, and answers C-ECHO;
- writes each instance to disk and fsyncs it before acknowledging (``Spool.write_instance``); a write that fails
  gives the failure status 0xA700 (out of resources), a data set that cannot be decoded or has no (or an invalid) SOP
  Instance or Series Instance UID gives 0xC210 / 0xC211 (cannot understand), an image whose pixel data is missing or
  shorter than its header says gives 0xA900 (does not match the SOP class) — never a silent success;
- refuses calling AE titles outside ``allowed_aes`` when a list is given (association rejected);
- logs aborted associations (with the count of instances they had stored) and malformed data sets, and carries on;
- groups instances into series; when a series has received nothing for ``stable_seconds`` it is identified,
  analysed (``phantomqc.pipeline.analyze`` on the series folder, with the results store's baselines) and recorded in
  the results store. A series that cannot be identified is kept, its state ``unrecognised`` with the reason, and
  listed (``phantomqc ingest status STORAGE``); it is never dropped.

The analysis runs in one background thread; stable series are analysed in batches, ``workers`` processes at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Iterable

from phantomqc.ingest.spool import SeriesState, SeriesTracker, Spool

__all__ = ["QCServer", "STORAGE_SOP_CLASSES", "read_allowed_aes"]

log = logging.getLogger("phantomqc.serve")

#: the storage SOP classes accepted (pynetdicom names)
STORAGE_SOP_CLASSES = (
    "DigitalXRayImageStorageForPresentation", "DigitalXRayImageStorageForProcessing",
    "ComputedRadiographyImageStorage",
    "CTImageStorage", "EnhancedCTImageStorage", "LegacyConvertedEnhancedCTImageStorage",
    "MRImageStorage", "EnhancedMRImageStorage", "EnhancedMRColorImageStorage", "LegacyConvertedEnhancedMRImageStorage",
    "NuclearMedicineImageStorage",
    "PositronEmissionTomographyImageStorage", "EnhancedPETImageStorage", "LegacyConvertedEnhancedPETImageStorage",
    "SecondaryCaptureImageStorage", "MultiFrameGrayscaleWordSecondaryCaptureImageStorage",
)


def _pixel_problem(ds, event) -> str:
    """Why an image's pixel data cannot be what its header says ("" when it can): missing, or, in a native
    (uncompressed) transfer syntax, shorter than Rows x Columns x Samples x Frames x Bits Allocated / 8."""
    try:
        if "Rows" not in ds or "PixelData" not in ds:
            return "" if "Rows" not in ds else "no Pixel Data"
        ts = event.context.transfer_syntax
        from pydicom.uid import UID

        if UID(ts).is_compressed:
            return ""
        expected = (int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1) or 1)
                    * int(ds.get("NumberOfFrames", 1) or 1) * int(ds.BitsAllocated) + 7) // 8
        got = len(ds.PixelData)
        return "" if got >= expected else f"Pixel Data holds {got} bytes where the header needs {expected} (truncated)"
    except Exception as exc:  # noqa: BLE001 - an element that cannot be decoded
        return f"the image attributes cannot be decoded ({exc})"


def read_allowed_aes(path: str | Path) -> frozenset[str]:
    """AE titles, one per line; ``#`` starts a comment; blank lines ignored."""
    out = set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        t = line.split("#", 1)[0].strip()
        if t:
            if len(t) > 16:
                raise ValueError(f"{path}: AE title {t!r} is longer than 16 characters")
            out.add(t)
    if not out:
        raise ValueError(f"{path}: no AE title in the allowed list")
    return frozenset(out)


class QCServer:
    """The listener and its analysis thread (see the module docstring).

    Parameters
    ----------
    storage
        The storage folder (``Spool``).
    host, port, ae_title
        Where to listen and as which AE.
    allowed_aes
        Calling AE titles allowed to associate; None allows any.
    stable_seconds
        A series is analysed when it has received nothing for this long.
    db, site, department
        The results store and where new devices go.
    workers
        Processes for the analysis of a batch of stable series (a pool kept for the server's life).
    executor
        ``dask://host:port`` to analyse on a Dask cluster instead (``phantomqc.ingest.executors``).
    write_sr, send_sr
        Write each analysed series' results as a DICOM SR (``STORAGE/sr/<SeriesInstanceUID>.dcm``) and, with
        ``send_sr = "HOST:PORT:AE"``, C-STORE it there. A failure to send is logged and the SR kept.
    """

    def __init__(self, storage: str | Path, *, host: str = "0.0.0.0", port: int = 11112, ae_title: str = "PHANTOMQC",
                 allowed_aes: Iterable[str] | None = None, stable_seconds: float = 10.0, db: str | None = None,
                 site: str | None = None, department: str | None = None, workers: int = 1,
                 poll_seconds: float = 0.25, analyse: bool = True, executor: str | None = None,
                 write_sr: bool = False, send_sr: str | None = None) -> None:
        self.spool = Spool(storage)
        self.tracker = SeriesTracker(stable_seconds)
        self.host, self.port, self.ae_title = host, int(port), ae_title
        self.allowed = frozenset(allowed_aes) if allowed_aes else None
        self.db, self.site, self.department = db, site, department
        self.workers, self.poll_seconds, self.analyse_enabled = max(1, int(workers)), poll_seconds, analyse
        self._server = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._per_assoc: Counter = Counter()
        self._lock = threading.Lock()
        self.stats = Counter()
        self._store = None
        self._executor_spec = executor
        self._executor = None  # made on first use and kept: a pool's workers stay warm between batches
        self.write_sr = bool(write_sr or send_sr)
        self.send_sr = None
        if send_sr:
            from phantomqc.ingest.send import parse_destination

            self.send_sr = parse_destination(send_sr)  # a bad destination fails now, not after the first series

    # ------------------------------------------------------------------ DICOM side
    def _ae(self):
        from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, sop_class
        from pynetdicom.sop_class import Verification

        ae = AE(ae_title=self.ae_title)
        for name in STORAGE_SOP_CLASSES:
            uid = getattr(sop_class, name, None)
            if uid is not None:
                ae.add_supported_context(uid, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        ae.maximum_associations = 32
        ae.network_timeout = 60
        ae.dimse_timeout = 60
        if self.allowed is not None:
            ae.require_calling_aet = sorted(self.allowed)
        return ae

    def _on_store(self, event) -> int:
        calling = event.assoc.requestor.ae_title.strip() if event.assoc else ""
        try:
            ds = event.dataset
            sop_uid = str(ds.get("SOPInstanceUID", "") or "")
            series_uid = str(ds.get("SeriesInstanceUID", "") or "")
            modality = str(ds.get("Modality", "") or "")
        except Exception as exc:  # noqa: BLE001 - a data set pydicom cannot decode
            self.stats["malformed"] += 1
            log.warning("malformed data set from %s refused (0xC210): %s", calling, exc)
            return 0xC210
        if not sop_uid or not series_uid:
            self.stats["malformed"] += 1
            log.warning("data set from %s without %s refused (0xC211)", calling,
                        "SOP Instance UID" if not sop_uid else "Series Instance UID")
            return 0xC211
        problem = _pixel_problem(ds, event)
        if problem:
            self.stats["malformed"] += 1
            log.warning("instance %s from %s refused (0xA900): %s", sop_uid, calling, problem)
            return 0xA900
        try:
            data = event.encoded_dataset(include_meta=True)
            self.spool.write_instance(data, series_uid, sop_uid)
        except ValueError as exc:  # a UID that cannot be a file name
            self.stats["malformed"] += 1
            log.warning("data set from %s refused (0xC211): %s", calling, exc)
            return 0xC211
        except OSError as exc:
            self.stats["write_failed"] += 1
            log.error("could not store instance %s from %s (0xA700): %s", sop_uid, calling, exc)
            return 0xA700
        st = self.spool.state(series_uid)
        if st.state != "receiving" or not st.calling_ae:
            st.state, st.calling_ae, st.modality = "receiving", calling, modality
            self.spool.set_state(st)
        self.tracker.touch(series_uid)
        with self._lock:
            self._per_assoc[id(event.assoc)] += 1
        self.stats["stored"] += 1
        return 0x0000

    def _on_echo(self, event) -> int:
        return 0x0000

    def _on_aborted(self, event) -> None:
        n = self._per_assoc.pop(id(event.assoc), 0)
        self.stats["aborted"] += 1
        log.warning("association from %s aborted after %d stored instance(s); those are kept",
                    event.assoc.requestor.ae_title.strip() if event.assoc else "?", n)

    def _on_released(self, event) -> None:
        n = self._per_assoc.pop(id(event.assoc), 0)
        log.info("association from %s released after %d instance(s)", event.assoc.requestor.ae_title.strip(), n)

    def _on_rejected(self, event) -> None:
        self.stats["rejected"] += 1
        log.warning("association from %s rejected", event.assoc.requestor.ae_title.strip() if event.assoc else "?")

    def start(self) -> "QCServer":
        """Start listening (non-blocking) and the analysis thread; series left pending by an earlier run are
        tracked again from now."""
        from pynetdicom import evt

        for uid in self.spool.pending():
            self.tracker.touch(uid)
            log.info("series %s from an earlier run is pending: waiting %.0f s for more instances", uid,
                     self.tracker.stable_seconds)
        handlers = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_C_ECHO, self._on_echo),
                    (evt.EVT_ABORTED, self._on_aborted), (evt.EVT_RELEASED, self._on_released),
                    (evt.EVT_REJECTED, self._on_rejected)]
        self._server = self._ae().start_server((self.host, self.port), block=False, evt_handlers=handlers)
        self.port = self._server.server_address[1]
        if self.analyse_enabled:
            self._thread = threading.Thread(target=self._loop, name="phantomqc-analysis", daemon=True)
            self._thread.start()
        log.info("listening on %s:%d as %s; storage %s", self.host, self.port, self.ae_title, self.spool.root)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=120)
        if self._executor is not None:
            self._executor.close()

    def serve_forever(self) -> None:
        """Run until SIGINT or SIGTERM."""
        import signal

        self.start()

        def _bye(signum, frame):  # noqa: ARG001
            self._stop.set()

        signal.signal(signal.SIGTERM, _bye)
        signal.signal(signal.SIGINT, _bye)
        while not self._stop.is_set():
            time.sleep(0.2)
        self.stop()

    # ------------------------------------------------------------------ analysis side
    def store(self):
        if self._store is None:
            from phantomqc.programme.store import Store

            self._store = Store(self.db, actor=f"phantomqc serve ({self.ae_title})")
        return self._store

    def _loop(self) -> None:
        while not self._stop.is_set():
            ready = self.tracker.stable()
            if ready:
                t0 = self.tracker.now()
                try:
                    self.analyse(ready)
                except Exception:  # noqa: BLE001 - the listener must survive any analysis failure
                    log.exception("analysis of %d series failed; they stay pending", len(ready))
                    time.sleep(self.poll_seconds)
                    continue
                for uid in ready:
                    self.tracker.forget(uid, if_before=t0)
            else:
                self._stop.wait(self.poll_seconds)

    def _sr(self, uid: str, results: list) -> None:
        from phantomqc.report.sr import write_sr

        try:
            out = write_sr(results, self.spool.root / "sr" / f"{uid}.dcm")
        except Exception as exc:  # noqa: BLE001 - the listener carries on; the results are in the store
            self.stats["sr_failed"] += 1
            log.error("could not write the SR of series %s: %s", uid, exc)
            return
        self.stats["sr_written"] += 1
        if self.send_sr is None:
            return
        from phantomqc.ingest.send import send_dataset

        d = self.send_sr
        try:
            status = send_dataset(out.path, d.host, d.port, d.ae_title, calling_ae=self.ae_title)
        except Exception as exc:  # noqa: BLE001
            status = -1
            log.error("could not send the SR of series %s to %s:%s %s: %s", uid, d.host, d.port, d.ae_title, exc)
        if status == 0:
            self.stats["sr_sent"] += 1
        else:
            self.stats["sr_send_failed"] += 1
            log.warning("SR of series %s not accepted by %s (status 0x%04X); kept at %s", uid, d.ae_title,
                        status & 0xFFFF, out.path)

    def analyse(self, series_uids: list[str]) -> dict[str, SeriesState]:
        """Identify, analyse and record these series (their folders); returns their new states."""
        from phantomqc.pipeline import analyze

        store = self.store()
        folders = {uid: self.spool.series_dir / uid for uid in series_uids}
        counts = {uid: len(self.spool.instances(uid)) for uid in series_uids}
        if self._executor is None:
            from phantomqc.ingest.executors import make_executor

            self._executor = make_executor(self._executor_spec, self.workers)
        _, results = analyze([str(f) for f in folders.values()], executor=self._executor, progress=False,
                             baseline_for=store.baseline_hook(), command="phantomqc serve")
        from phantomqc.report.figures import figure_pngs  # drawn only for the runs the store keeps figures of

        outcome = store.record(results, site=self.site, department=self.department,
                               source=f"phantomqc serve {self.ae_title}", figures=figure_pngs)
        by_series: dict[str, list] = {uid: [] for uid in series_uids}
        for r, rec in zip(results, outcome.records):
            uid = next((u for u, f in folders.items() if r.input.paths and Path(r.input.paths[0]).parent == f), None)
            if uid is None and r.input.series_instance_uid in by_series:
                uid = r.input.series_instance_uid
            if uid is not None:
                by_series[uid].append((r, rec))
        states = {}
        for uid in series_uids:
            st = self.spool.state(uid)
            items = by_series[uid]
            errs = [r for r, _ in items if r.error]
            ok = [r for r, _ in items if not r.error]
            st.run_ids = tuple(rec.run_id for _, rec in items if rec.run_id is not None)
            st.instances_analysed = counts[uid]
            if ok:
                st.state, st.reason = "analysed", "; ".join(f"{r.kind}: {r.identified_by}" for r in ok)
            elif errs and all(r.analyzer == "identify" for r in errs):
                st.state, st.reason = "unrecognised", "; ".join(r.error["message"] for r in errs)
            elif errs:
                st.state, st.reason = "error", "; ".join(r.error["message"] for r in errs)
            else:
                st.state, st.reason = "error", "the analysis returned no result for this series"
            if self.write_sr and ok:
                self._sr(uid, ok)
            self.spool.set_state(st)
            states[uid] = st
            self.stats[f"series_{st.state}"] += 1
            log.info("series %s (%s, %d instance(s) from %s): %s; runs %s", uid, st.modality or "?", counts[uid],
                     st.calling_ae or "?", st.state, list(st.run_ids))
            if st.state != "analysed":
                log.warning("series %s kept as %s: %s", uid, st.state, st.reason)
        return states
