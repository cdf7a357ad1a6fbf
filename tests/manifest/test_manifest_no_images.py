"""A kind with min_images = 0 (ct.ctdi: dosimeter readings only) may leave 'images' out; every other kind still
needs a non-empty list, with the same message as before."""

import textwrap

from phantomqc.manifest import load_manifest

HEAD = """
schema = "phantomqc.manifest/1"
profile = "ws519-2019"
"""


def _write(tmp_path, body, files=("a.dcm", "b.dcm")):
    for f in files:
        (tmp_path / f).write_bytes(b"")
    p = tmp_path / "manifest.toml"
    p.write_text(textwrap.dedent(HEAD + body).lstrip(), encoding="utf-8")
    return p


CTDI = """
[[test]]
kind = "ct.ctdi"
center_mgy = 30.0
peripheral_mgy = [40.0, 41.0, 42.0, 43.0]
"""


def test_ctdi_without_images_is_valid_with_zero_images(tmp_path):
    (t,) = load_manifest(_write(tmp_path, CTDI)).tests
    assert t.error is None and t.images == ()
    assert t.params == {"center_mgy": 30.0, "peripheral_mgy": [40.0, 41.0, 42.0, 43.0], "pitch": 1.0,
                        "phantom": "head"}


def test_ctdi_with_an_empty_list_or_one_image(tmp_path):
    (t,) = load_manifest(_write(tmp_path, CTDI + "images = []\n")).tests
    assert t.error is None and t.images == ()
    (t,) = load_manifest(_write(tmp_path, CTDI + 'images = "a.dcm"\n')).tests
    assert t.error is None and [p.name for p in t.images] == ["a.dcm"]


def test_ctdi_with_two_images_or_a_bad_value_is_an_error(tmp_path):
    (t,) = load_manifest(_write(tmp_path, CTDI + 'images = ["a.dcm", "b.dcm"]\n')).tests
    assert t.error is not None and t.error.field == "images" and "0 to 1 image(s), got 2" in str(t.error)
    (t,) = load_manifest(_write(tmp_path, CTDI + "images = 3\n")).tests
    assert t.error is not None and t.error.field == "images" and "or left out" in str(t.error)
    (t,) = load_manifest(_write(tmp_path, CTDI + 'images = ["missing.dcm"]\n')).tests
    assert t.error is not None and "not found" in str(t.error)


def test_ctdi_still_needs_its_readings(tmp_path):
    (t,) = load_manifest(_write(tmp_path, '[[test]]\nkind = "ct.ctdi"\ncenter_mgy = 30.0\n')).tests
    assert t.error is not None and t.error.field == "peripheral_mgy"


def test_a_kind_that_needs_images_still_needs_them(tmp_path):
    for body in ('[[test]]\nkind = "dr.dark_noise"\n', '[[test]]\nkind = "dr.dark_noise"\nimages = []\n'):
        (t,) = load_manifest(_write(tmp_path, body)).tests
        assert t.error is not None and t.error.field == "images"
        assert "'images' must be a non-empty list of file or folder paths relative to the manifest" in str(t.error)
