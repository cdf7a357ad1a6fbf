"""The listener's storage: every instance on disk (fsync'd) before it is acknowledged, grouped by series, with the
state of each series kept beside it so that a restart loses nothing.

Layout of ``STORAGE``::

    series/<SeriesInstanceUID>/<SOPInstanceUID>.dcm   the instances, exactly the bytes received (with file meta)
    state/<SeriesInstanceUID>.json                    receiving | analysed | unrecognised | error, with the reason,
                                                      the calling AE, the run ids and the instance count analysed
    tmp/                                              partial writes; renamed into place only when complete

An instance is written to ``tmp/``, flushed and fsync'd, renamed into its series folder and the folder fsync'd:
after the C-STORE response has been sent the instance survives a crash or a power cut. A second copy of the same
SOP Instance replaces the first (a resend is not a new instance).

``SeriesTracker`` knows when each series last received an instance; a series is *stable* when nothing has arrived for
``stable_seconds``. On start, every series that is not yet analysed is tracked again with "now" as its last arrival,
so a series interrupted by a crash waits for its remaining instances before it is analysed.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Spool", "SeriesTracker", "SeriesState", "safe_uid"]

_UID_RE = re.compile(r"^[0-9.]{1,64}$")


def safe_uid(uid: str) -> str:
    """A UID usable as a file name; anything else (a malformed UID) is refused."""
    uid = str(uid).strip().rstrip("\x00")
    if not _UID_RE.match(uid) or ".." in uid:
        raise ValueError(f"not a valid DICOM UID: {uid!r}")
    return uid


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class SeriesState:
    series_uid: str
    state: str = "receiving"  # receiving | analysed | unrecognised | error
    reason: str = ""
    calling_ae: str = ""
    modality: str = ""
    instances_analysed: int = 0
    run_ids: tuple[int, ...] = ()
    updated: float = 0.0

    def to_dict(self) -> dict:
        return {"series_uid": self.series_uid, "state": self.state, "reason": self.reason,
                "calling_ae": self.calling_ae, "modality": self.modality,
                "instances_analysed": self.instances_analysed, "run_ids": list(self.run_ids), "updated": self.updated}


class Spool:
    """The storage folder (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.series_dir = self.root / "series"
        self.state_dir = self.root / "state"
        self.tmp_dir = self.root / "tmp"
        for d in (self.series_dir, self.state_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)
        for stale in self.tmp_dir.iterdir():  # partial writes of a crashed run were never acknowledged
            stale.unlink(missing_ok=True)
        self._lock = threading.Lock()

    def write_instance(self, data: bytes, series_uid: str, sop_uid: str) -> Path:
        """Write one instance durably (see the module docstring); returns its path."""
        series_uid, sop_uid = safe_uid(series_uid), safe_uid(sop_uid)
        folder = self.series_dir / series_uid
        tmp = self.tmp_dir / f"{uuid.uuid4().hex}.part"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        new_folder = not folder.exists()
        folder.mkdir(exist_ok=True)
        final = folder / f"{sop_uid}.dcm"
        os.replace(tmp, final)
        _fsync_dir(folder)
        if new_folder:
            _fsync_dir(self.series_dir)
        return final

    def instances(self, series_uid: str) -> list[Path]:
        return sorted((self.series_dir / safe_uid(series_uid)).glob("*.dcm"))

    def all_series(self) -> list[str]:
        return sorted(p.name for p in self.series_dir.iterdir() if p.is_dir())

    def state(self, series_uid: str) -> SeriesState:
        p = self.state_dir / f"{safe_uid(series_uid)}.json"
        if not p.exists():
            return SeriesState(series_uid)
        d = json.loads(p.read_text(encoding="utf-8"))
        d["run_ids"] = tuple(d.get("run_ids", ()))
        return SeriesState(**d)

    def set_state(self, st: SeriesState) -> None:
        st.updated = time.time()
        p = self.state_dir / f"{safe_uid(st.series_uid)}.json"
        tmp = self.tmp_dir / f"{uuid.uuid4().hex}.state"
        with self._lock:
            tmp.write_text(json.dumps(st.to_dict(), indent=1), encoding="utf-8")
            os.replace(tmp, p)

    def pending(self) -> list[str]:
        """Series with instances that have not all been analysed (new ones, or ones that grew since)."""
        out = []
        for uid in self.all_series():
            st = self.state(uid)
            if st.state == "receiving" or len(self.instances(uid)) != st.instances_analysed:
                out.append(uid)
        return out


class SeriesTracker:
    """Last arrival per series; ``stable()`` gives the series idle for ``stable_seconds``."""

    def __init__(self, stable_seconds: float, clock=time.monotonic) -> None:
        self.stable_seconds = float(stable_seconds)
        self._clock = clock
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def touch(self, series_uid: str) -> None:
        with self._lock:
            self._last[series_uid] = self._clock()

    def stable(self) -> list[str]:
        now = self._clock()
        with self._lock:
            return sorted(uid for uid, t in self._last.items() if now - t >= self.stable_seconds)

    def forget(self, series_uid: str, *, if_before: float | None = None) -> bool:
        """Stop tracking a series, unless it received an instance after ``if_before`` (then keep it)."""
        with self._lock:
            t = self._last.get(series_uid)
            if t is None:
                return True
            if if_before is not None and t > if_before:
                return False
            del self._last[series_uid]
            return True

    def now(self) -> float:
        return self._clock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._last)
