"""``phantomqc ingest DIR [--watch]``: the listener's work, from a folder.

Every DICOM file under ``DIR`` (recursively; hidden files and folders, DICOMDIR and documents such as ``.json``,
``.toml``, ``.txt`` or ``.pdf`` skipped, as ``phantomqc analyze`` skips them in a folder) is grouped into series, identified,
analysed and recorded in the results store. The folder is only read: nothing is moved, renamed, written or deleted
there. Running it again over the same folder stores nothing twice (the store recognises the same inputs).

With ``watch``, the folder is polled; files that are new or changed are collected, and when nothing has changed for
``stable_seconds`` the series they belong to are analysed whole (a late instance of a series analysed earlier makes
the whole series be analysed again, as a new run with more inputs).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FolderIngest", "IngestReport"]

log = logging.getLogger("phantomqc.ingest")


@dataclass
class IngestReport:
    """What one pass (or a whole watch) did."""

    files: int = 0
    analyses: int = 0
    stored: int = 0
    duplicates: int = 0
    unrecognised: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    run_ids: list[int] = field(default_factory=list)

    def add(self, other: "IngestReport") -> None:
        self.files += other.files
        self.analyses += other.analyses
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.unrecognised += other.unrecognised
        self.errors += other.errors
        self.run_ids += other.run_ids


def _series_uid(path: str) -> str:
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"])
        return str(ds.get("SeriesInstanceUID", "") or "")
    except Exception:  # noqa: BLE001 - not DICOM: the analysis gives it its error entry
        return ""


class FolderIngest:
    """Ingest a folder once (``run_once``) or watch it (``watch``)."""

    def __init__(self, folder: str | Path, store, *, stable_seconds: float = 10.0, poll_seconds: float = 1.0,
                 workers: int = 1, site: str | None = None, department: str | None = None,
                 executor=None) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            from phantomqc._shared.errors import InputError

            raise InputError("not a folder", path=str(folder))
        self.store = store
        self.stable_seconds, self.poll_seconds = float(stable_seconds), float(poll_seconds)
        self.workers, self.site, self.department, self.executor = max(1, workers), site, department, executor
        self._seen: dict[str, tuple[int, int]] = {}  # path -> (mtime_ns, size) when last analysed
        self._series_of: dict[str, str] = {}
        self._pending: dict[str, tuple[int, int]] = {}
        self._last_change = 0.0
        self.stop_event = threading.Event()

    def _walk(self) -> dict[str, tuple[int, int]]:
        from phantomqc.io._scan import _skipped  # the same documents-beside-the-images rule as a folder scan

        out = {}
        for root, dirs, files in os.walk(self.folder):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for f in files:
                if _skipped(f):
                    continue
                p = os.path.join(root, f)
                try:
                    st = os.stat(p)
                except OSError:
                    continue
                out[p] = (st.st_mtime_ns, st.st_size)
        return out

    def _collect(self) -> bool:
        """Note new or changed files; True when something changed since the last poll."""
        changed = False
        for p, sig in self._walk().items():
            if self._seen.get(p) != sig and self._pending.get(p) != sig:
                self._pending[p] = sig
                changed = True
        if changed:
            self._last_change = time.monotonic()
        return changed

    def _batch(self) -> list[str]:
        """The pending files and every other known file of the series they belong to."""
        series = set()
        for p in self._pending:
            uid = self._series_of.get(p) if self._seen.get(p) == self._pending[p] else None
            uid = uid or _series_uid(p)
            self._series_of[p] = uid
            if uid:
                series.add(uid)
        extra = [p for p, uid in self._series_of.items() if uid in series and p not in self._pending
                 and os.path.exists(p)]
        return sorted(set(self._pending) | set(extra))

    def _analyse(self, paths: list[str]) -> IngestReport:
        from phantomqc.pipeline import analyze

        rep = IngestReport(files=len(paths))
        if not paths:
            return rep
        if self.executor is None:
            from phantomqc.ingest.executors import make_executor

            self.executor = make_executor(None, self.workers)  # kept: a pool's workers stay warm between batches
        _, results = analyze(paths, executor=self.executor, progress=False, baseline_for=self.store.baseline_hook(),
                             command="phantomqc ingest")
        from phantomqc.report.figures import figure_pngs  # drawn only for the runs the store keeps figures of

        outcome = self.store.record(results, site=self.site, department=self.department,
                                    source=f"phantomqc ingest {self.folder}", figures=figure_pngs)
        rep.analyses = len(results)
        rep.stored, rep.duplicates = outcome.stored, outcome.duplicates
        rep.run_ids = [r.run_id for r in outcome.records if r.run_id is not None]
        for r in results:
            if r.error:
                where = (r.error.get("path") or (r.input.paths[0] if r.input.paths else "?"))
                (rep.unrecognised if r.analyzer == "identify" else rep.errors).append((where, r.error["message"]))
        return rep

    def run_once(self) -> IngestReport:
        """Analyse everything new or changed now, without waiting."""
        self._collect()
        return self._flush()

    def _flush(self) -> IngestReport:
        batch = self._batch()
        pending, self._pending = self._pending, {}
        rep = self._analyse(batch)
        self._seen.update(pending)
        log.info("ingested %d file(s): %d analyses, %d stored, %d already stored, %d unrecognised, %d error(s)",
                 rep.files, rep.analyses, rep.stored, rep.duplicates, len(rep.unrecognised), len(rep.errors))
        return rep

    def close(self) -> None:
        if self.executor is not None:
            self.executor.close()

    def watch(self, *, max_seconds: float | None = None) -> IngestReport:
        """Poll until ``stop_event`` is set (or ``max_seconds`` pass); analyse each quiet batch."""
        total = IngestReport()
        t_end = None if max_seconds is None else time.monotonic() + max_seconds
        while not self.stop_event.is_set() and (t_end is None or time.monotonic() < t_end):
            self._collect()
            if self._pending and time.monotonic() - self._last_change >= self.stable_seconds:
                total.add(self._flush())
            self.stop_event.wait(self.poll_seconds)
        return total
