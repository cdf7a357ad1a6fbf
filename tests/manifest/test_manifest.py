"""Manifest validation: defaults filled, and every error points to its line and field."""

import textwrap

import pytest

from phantomqc._shared.errors import ManifestError
from phantomqc.manifest import load_manifest


def _write(tmp_path, body, files=("a.dcm", "b.dcm", "c.dcm", "d.dcm", "e.dcm")):
    for f in files:
        (tmp_path / f).write_bytes(b"")
    p = tmp_path / "manifest.toml"
    p.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return p


GOOD = """
schema = "phantomqc.manifest/1"
profile = "ws76-2020-dr"
test_type = "acceptance"
baseline = {"dr.dark_noise.mean_pv" = 102.0}

[device]
name = "DR room 3"
serial = "A123"

[[test]]
kind = "dr.dark_noise"
images = ["a.dcm"]

[[test]]
kind = "dr.signal_transfer"
images = ["a.dcm", "b.dcm", "c.dcm", "d.dcm", "e.dcm"]
air_kerma_uGy = [1.02, 5.1, 10.0, 20.3, 30.1]
"""


def test_good_manifest_fills_defaults(tmp_path):
    m = load_manifest(_write(tmp_path, GOOD))
    assert m.profile == "ws76-2020-dr" and m.test_type == "acceptance"
    assert m.baseline == {"dr.dark_noise.mean_pv": 102.0}
    assert m.device["serial"] == "A123"
    dark, stp = m.tests
    assert dark.error is None and dark.params == {"roi_size_mm": 100.0}
    assert stp.params["response"] == "auto" and stp.params["air_kerma_uGy"][0] == 1.02
    assert [p.name for p in stp.images] == ["a.dcm", "b.dcm", "c.dcm", "d.dcm", "e.dcm"]
    assert stp.line == 14


def test_four_kerma_values_for_five_images_points_to_the_line(tmp_path):
    body = GOOD.replace("[1.02, 5.1, 10.0, 20.3, 30.1]", "[1.02, 5.1, 10.0, 20.3]")
    m = load_manifest(_write(tmp_path, body))
    assert m.tests[0].error is None  # the other test is unaffected
    err = m.tests[1].error
    assert err is not None and err.line == 17 and err.field == "air_kerma_uGy"
    assert "4 value(s) for 5 image(s)" in str(err) and "manifest.toml" in str(err)


def test_missing_file_points_to_images(tmp_path):
    body = GOOD.replace('images = ["a.dcm"]', 'images = ["missing.dcm"]')
    m = load_manifest(_write(tmp_path, body))
    err = m.tests[0].error
    assert err.field == "images" and err.line == 12 and "missing.dcm" in str(err)


@pytest.mark.parametrize("old,new,field,needle", [
    ('kind = "dr.dark_noise"', 'kind = "dr.darknoise"', "kind", "unknown kind"),
    ('images = ["a.dcm"]', 'images = ["a.dcm"]\nroi_mm = 3', "roi_mm", "unknown field"),
    ('air_kerma_uGy = [1.02, 5.1, 10.0, 20.3, 30.1]', 'response = "auto"', "air_kerma_uGy", "needs the field"),
    ('air_kerma_uGy = [1.02, 5.1, 10.0, 20.3, 30.1]', 'air_kerma_uGy = ["1", 5.1, 10.0, 20.3, 30.1]',
     "air_kerma_uGy", "list of numbers"),
    ('images = ["a.dcm", "b.dcm", "c.dcm", "d.dcm", "e.dcm"]', 'images = ["a.dcm", "b.dcm"]', "images", "at least 3"),
])
def test_test_level_errors(tmp_path, old, new, field, needle):
    m = load_manifest(_write(tmp_path, GOOD.replace(old, new)))
    errs = [t.error for t in m.tests if t.error]
    assert len(errs) == 1
    assert errs[0].field == field and needle in str(errs[0]) and errs[0].line is not None


@pytest.mark.parametrize("old,new,needle,line", [
    ('schema = "phantomqc.manifest/1"', 'schema = "phantomqc.manifest/9"', "'schema'", 1),
    ('test_type = "acceptance"', 'test_type = "annual"', "test_type", 3),
    ('test_type = "acceptance"', 'test_type = "acceptance"\nrooms = 3', "unknown top-level key", 4),
    ('profile = "ws76-2020-dr"', 'profile = "ws76-2020-dr', "not valid TOML", 2),
])
def test_file_level_errors(tmp_path, old, new, needle, line):
    with pytest.raises(ManifestError) as ei:
        load_manifest(_write(tmp_path, GOOD.replace(old, new)))
    assert needle in str(ei.value) and ei.value.line == line and "manifest.toml" in str(ei.value)


def test_folder_entry_expands_to_its_files(tmp_path):
    (tmp_path / "series").mkdir()
    for i in range(3):
        (tmp_path / "series" / f"{i}.dcm").write_bytes(b"")
    (tmp_path / "series" / ".hidden").write_bytes(b"")
    body = GOOD.replace('images = ["a.dcm", "b.dcm", "c.dcm", "d.dcm", "e.dcm"]', 'images = ["series/"]').replace(
        "[1.02, 5.1, 10.0, 20.3, 30.1]", "[1.0, 5.0, 10.0]")
    m = load_manifest(_write(tmp_path, body))
    assert m.tests[1].error is None and len(m.tests[1].images) == 3
