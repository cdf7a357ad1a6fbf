"""Reference DR suites, written as DICOM and analysed end to end once per session.

Each configuration is a detector size, a stored dtype (uint16, or int16 with rescale slope 0.5 and intercept
1000), a noise seed, a detector response and a quality (pass or fail). The suites are analysed through the
same pipeline as ``phantomqc analyze manifest.toml``.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from phantomqc.pipeline import analyze
from reference_phantoms.dr import make_dr_suite

# (id, detector, dtype, seed, quality, response)
CONFIGS = [
    ("2048-u16-s0-linear", "2048", "uint16", 0, "pass", "linear"),
    ("2048-i16-s1-log", "2048", "int16", 1, "pass", "log"),
    ("2048-u16-s2-power", "2048", "uint16", 2, "pass", "power"),
    ("3000-u16-s3-linear", "3000", "uint16", 3, "pass", "linear"),
    ("3000-i16-s4-linear", "3000", "int16", 4, "pass", "linear"),
    ("2048-i16-s5-fail", "2048", "int16", 5, "fail", "linear"),
    ("3000-u16-s6-fail", "3000", "uint16", 6, "fail", "linear"),
]


@dataclass
class Suite:
    id: str
    manifest: Path
    truth: dict
    doc: dict
    results: list

    def measured(self) -> dict:
        return {(m["id"], m["label"]): m["value"] for a in self.doc["analyses"] for m in a["measurements"]}


_cache: dict = {}


def suite_for(cfg, tmp_path_factory) -> Suite:
    cid, det, dtype, seed, quality, response = cfg
    if cid not in _cache:
        out = tmp_path_factory.mktemp(cid)
        man = make_dr_suite(out, detector=det, dtype=dtype, seed=seed, quality=quality, response=response)
        doc, results = analyze([man])
        _cache[cid] = Suite(cid, man, json.loads((out / "truth.json").read_text(encoding="utf-8")), doc, results)
    return _cache[cid]


@pytest.fixture(scope="session", params=CONFIGS, ids=[c[0] for c in CONFIGS])
def dr_suite(request, tmp_path_factory) -> Suite:
    return suite_for(request.param, tmp_path_factory)


@pytest.fixture(scope="session")
def suites(tmp_path_factory):
    return {c[0]: suite_for(c, tmp_path_factory) for c in CONFIGS}
