"""STYLE.md: the kernel bodies are also run as plain Python (NUMBA_DISABLE_JIT=1), so their coverage counts and a
kernel that only works compiled is caught. Runs the kernel-versus-NumPy-twin tests in a subprocess with the JIT
off; the README's single test command therefore covers both modes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

#: family -> (test files, pytest -k expression or None)
FAMILIES = {
    "dr_core": ([ROOT / "dr" / "test_kernels.py", ROOT / "core" / "test_core_kernels.py"], None),
    "ct": ([ROOT / "ct" / f"test_{n}.py" for n in ("localize", "ctp404", "uniform", "resolution", "line_pairs",
                                                    "low_contrast")], "twin or kernel"),
    "mr": ([ROOT / "mr" / "test_mr_kernels.py"], None),
    "pet_spect": ([ROOT / "pet_spect" / "test_pet_spect_kernels.py"], None),
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_kernel_twins_pass_without_the_jit(family):
    files, k = FAMILIES[family]
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
    cmd += ["-k", k] if k else []
    proc = subprocess.run(cmd + [str(f) for f in files], env=env, capture_output=True, text=True, timeout=600)
    tail = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and " failed" not in proc.stdout, tail
