"""The QC programme from the command line, on a real reference phantom: analyze --store, devices, baselines,
duplicates, review, schedules and due, trend, the acceptance PDF and the audit log."""

from __future__ import annotations

import json

import pytest

from phantomqc.cli import main


@pytest.fixture(scope="module")
def water(tmp_path_factory):
    from reference_phantoms.ct import make_ct_series

    out = tmp_path_factory.mktemp("water")
    make_ct_series(out, phantom="water200", thickness_mm=10.0, spacing_z_mm=10.0, z_start_mm=-10.0, z_stop_mm=10.0,
                   noise_sd_hu=2.0, matrix=256, pixel_mm=0.9765625)
    return out / "manifest.toml"


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_programme_commands_end_to_end(water, tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'store.sqlite'}"
    code, out, err = _run(capsys, "analyze", water, "--store", "--site", "太原市中心医院", "--db", db, "--json", "-",
                          "--no-progress")
    assert code == 0, err
    doc = json.loads(out)
    stored = doc["analyses"][0]["stored"]
    assert stored["status"] == "pass" and stored["review"] == "approved" and stored["baselines_set"] > 0
    assert "stored 1 run(s)" in err

    code, out, _ = _run(capsys, "device", "list", "--db", db, "--json")
    devices = json.loads(out)
    assert len(devices) == 1 and devices[0]["site"] == "太原市中心医院"
    device = devices[0]["name"]

    code, out, _ = _run(capsys, "baseline", "list", device, "--db", db)
    mean = doc["analyses"][0]["measurements"][0]
    assert mean["id"] == "ct.water.mean_hu" and f"ct.water.mean_hu = {mean['value']:.6g}" in out

    # the same inputs again: recognised, not stored twice
    code, _, err = _run(capsys, "analyze", water, "--store", "--db", db, "--test-type", "stability", "--no-progress")
    assert code == 0 and "1 duplicate" in err

    # a baseline change needs a reason (argparse refuses without --reason)
    with pytest.raises(SystemExit) as e:
        main(["baseline", "set", device, "ct.water.mean_hu", "1.0", "--db", db])
    assert e.value.code == 2
    capsys.readouterr()
    code, out, _ = _run(capsys, "baseline", "set", device, "ct.water.mean_hu", "1.0", "--reason", "recalibrated",
                        "--db", db, "--user", "physicist")
    assert code == 0
    code, out, _ = _run(capsys, "baseline", "history", device, "ct.water.mean_hu", "--db", db)
    assert "recalibrated" in out and "first accepted acceptance test" in out

    # schedules: a daily check from the day of the acquisition, which satisfies that day's occurrence
    acq = doc["analyses"][0]["input"]["acquisition_datetime"][:10]
    code, _, err = _run(capsys, "schedule", "add", device, "ct.water", "--every", "daily", "--start",
                        f"{acq}T07:00", "--cutoff", "10:00", "--db", db)
    assert code == 0, err
    code, out, _ = _run(capsys, "due", "--date", f"{acq}T12:00", "--db", db, "--json")
    rows = json.loads(out)["rows"]
    assert rows[0]["kind"] == "ct.water" and rows[0]["last_run_id"] == stored["run_id"]

    code, _, err = _run(capsys, "trend", device, "ct.water.mean_hu", "--out", tmp_path / "t.png", "--db", db)
    assert code == 0, err
    assert (tmp_path / "t.png").stat().st_size > 10_000

    code, _, err = _run(capsys, "report", "acceptance", device, "--out", tmp_path / "a.pdf", "--db", db)
    assert code == 0, err
    assert (tmp_path / "a.pdf").read_bytes()[:5] == b"%PDF-"

    code, out, _ = _run(capsys, "review", "list", "--db", db)
    assert "(nothing waiting)" in out
    code, out, _ = _run(capsys, "audit", "--db", db, "--json")
    actions = [a["action"] for a in json.loads(out)]
    assert actions[:3] == ["site.create", "device.register", "run.record"]
    assert "baseline.set" in actions and "schedule.add" in actions


def test_store_options_need_store(water, capsys):
    code, _, err = _run(capsys, "analyze", water, "--site", "X", "--no-progress")
    assert code == 2 and "need --store" in err


def test_unknown_device_is_a_clear_error(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    code, _, err = _run(capsys, "baseline", "list", "CT-NOPE", "--db", db)
    assert code == 2 and "no device named 'CT-NOPE'" in err
