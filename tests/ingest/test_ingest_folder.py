"""``phantomqc ingest DIR [--watch]``: series found, analysed and stored once; the folder only read; unrecognised
files listed with their reason; new series picked up by the watch."""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from pathlib import Path

import pytest

from phantomqc.cli import main
from phantomqc.ingest.folder import FolderIngest
from phantomqc.programme.store import Store


def _tree_digest(root: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    from reference_phantoms.ct import make_ct_series
    from reference_phantoms.mr import make_magnet_flood

    base = tmp_path_factory.mktemp("src")
    for i in range(2):
        make_ct_series(base / f"ct{i}", phantom="water200", thickness_mm=10.0, spacing_z_mm=10.0, z_start_mm=-10.0,
                       z_stop_mm=10.0, noise_sd_hu=2.0, matrix=128, pixel_mm=1.953125, seed=i)
    make_magnet_flood(base / "mr0", matrix=128, seed=3)
    return base


def test_ingest_once_stores_each_series_once_and_only_reads_the_folder(sources, tmp_path, capsys):
    folder = tmp_path / "incoming"
    shutil.copytree(sources, folder)
    (folder / "notes.txt").write_text("beside the images: skipped")
    (folder / "broken.dcm").write_bytes(b"not a dicom file at all")
    before = _tree_digest(folder)
    db = f"sqlite:///{tmp_path / 'store.sqlite'}"
    code = main(["ingest", str(folder), "--db", db, "--json"])
    out = capsys.readouterr().out
    assert code == 2  # broken.dcm could not be analysed
    import json

    summary = json.loads(out)
    assert summary["stored"] == 4  # two CT water series, one MR flood, and the error entry of broken.dcm
    assert [e["path"] for e in summary["errors"]] == [str(folder / "broken.dcm")]
    assert main(["ingest", str(folder), "--db", db, "--json"]) == 2
    again = json.loads(capsys.readouterr().out)
    assert again["stored"] == 0 and again["already_stored"] == 4
    assert _tree_digest(folder) == before  # nothing written, moved, touched or deleted
    runs = Store(db).runs()
    assert sorted(r.kind for r in runs if r.status != "error") == ["ct.water", "ct.water", "mr.flood"]


def test_watch_picks_up_series_that_arrive_later(sources, tmp_path):
    folder = tmp_path / "watched"
    folder.mkdir()
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    ing = FolderIngest(folder, store, stable_seconds=0.5, poll_seconds=0.1)
    reports = []
    t = threading.Thread(target=lambda: reports.append(ing.watch(max_seconds=30)))
    t.start()
    try:
        time.sleep(0.3)
        shutil.copytree(sources / "ct0", folder / "ct0")  # a series arrives
        assert _until(lambda: len(store.runs()) == 1, 15)
        shutil.copytree(sources / "ct1", folder / "ct1")  # and later another one
        assert _until(lambda: len(store.runs()) == 2, 15)
    finally:
        ing.stop_event.set()
        t.join(timeout=30)
    total = reports[0]
    assert total.stored == 2 and total.duplicates == 0 and not total.errors


def test_unrecognised_series_is_listed_with_its_reason(tmp_path, capsys):
    from ._dicom import secondary_capture

    secondary_capture(tmp_path / "in" / "sc.dcm")
    code = main(["ingest", str(tmp_path / "in"), "--db", f"sqlite:///{tmp_path / 's.sqlite'}"])
    out = capsys.readouterr().out
    assert code == 2 and "unrecognised:" in out and "modality OT" in out


def _until(pred, timeout: float) -> bool:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if pred():
            return True
        time.sleep(0.1)
    return pred()
