"""Shared fixtures of the PET/SPECT tests: the real-data folder and its golden reference values.

The real images live in ``<repo>/../shared/realdata`` (see that folder's README): ``nm/`` (gamma-camera planar and
SPECT images, NMQC samples) and ``pet/`` (NEMA/IEC body phantom). They are never copied into the repository: the tests
read them in place and skip, with the reason, where the folder is absent (a fresh clone).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

#: ``<repo>/../shared/realdata``: the repository root is two levels above this file (tests/pet_spect/conftest.py).
REALDATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"


@pytest.fixture(scope="session")
def realdata_dir() -> Path:
    """Path of the shared real-data folder; skips the test when its ``nm/`` and ``pet/`` folders are both absent."""
    if not ((REALDATA_DIR / "nm").is_dir() or (REALDATA_DIR / "pet").is_dir()):
        pytest.skip(f"real NM/PET data not found under {REALDATA_DIR} (only present on the project's workstation; "
                    "see ../shared/realdata/README.md)")
    return REALDATA_DIR


@pytest.fixture(scope="session")
def golden_nm(realdata_dir: Path) -> list[dict]:
    """The golden.json entries whose ``dataset`` starts with ``nm/`` or ``pet/`` (who measured each: ``source``)."""
    golden = realdata_dir / "golden.json"
    if not golden.is_file():
        pytest.skip(f"{golden} not found: no reference values to compare with")
    entries = json.loads(golden.read_text(encoding="utf-8"))
    return [e for e in entries if str(e.get("dataset", "")).startswith(("nm/", "pet/"))]
