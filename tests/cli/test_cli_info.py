"""The information verbs: schema, kinds, metrics, profiles, and a fast --help."""

import json
import subprocess
import sys

import pytest

from phantomqc.cli import main


def test_schema_is_valid_json_schema(capsys):
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is part of the [test] extra")
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema"]["const"] == "phantomqc.analysis/1"


def test_kinds_document_every_field(capsys):
    from phantomqc.core.registry import all_kinds

    assert main(["kinds"]) == 0
    out = capsys.readouterr().out
    for k in all_kinds().values():
        assert k.name in out
        for f in k.fields:
            assert f"- {f.name} (" in out


def test_metrics_lists_every_id_with_unit_and_source(capsys):
    from phantomqc.core.registry import all_metrics

    assert main(["metrics"]) == 0
    out = capsys.readouterr().out
    for m in all_metrics().values():
        assert f"{m.id} [{m.unit}]" in out
        assert m.source in out


def test_profiles_list_and_show(capsys):
    assert main(["profiles", "list"]) == 0
    out = capsys.readouterr().out
    assert "taiyuan-2024" in out and "ws76-2020-dr" in out
    assert main(["profiles", "show", "taiyuan-2024"]) == 0
    out = capsys.readouterr().out
    assert "dr.signal_transfer.r_squared" in out and "≥ 0.95" in out and "太原" in out
    assert main(["profiles", "show", "nope"]) == 2


def test_help_imports_nothing_heavy():
    code = ("import sys; from phantomqc.cli import _parser; _parser().format_help(); "
            "heavy = [m for m in ('numpy', 'pydicom', 'numba', 'matplotlib', 'scipy') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
