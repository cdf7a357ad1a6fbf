"""STYLE.md: the kernel bodies are also run as plain Python (NUMBA_DISABLE_JIT=1), so their coverage counts and a
kernel that only works compiled is caught. Runs the kernel-versus-NumPy-twin tests in a subprocess with the JIT
off; the README's single test command therefore covers both modes."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def test_kernel_twins_pass_without_the_jit():
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    files = [str(ROOT / "dr" / "test_kernels.py"), str(ROOT / "core" / "test_core_kernels.py")]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           *files], env=env, capture_output=True, text=True, timeout=600)
    tail = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and " failed" not in proc.stdout, tail


def test_ct_kernel_twins_pass_without_the_jit():
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    files = [str(ROOT / "ct" / f"test_{n}.py") for n in ("localize", "ctp404", "uniform", "resolution", "line_pairs",
                                                          "low_contrast")]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "-k", "twin or kernel", *files], env=env, capture_output=True, text=True, timeout=600)
    tail = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and " failed" not in proc.stdout, tail


def test_mr_kernel_twins_pass_without_the_jit():
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    files = [str(ROOT / "mr" / "test_mr_kernels.py")]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           *files], env=env, capture_output=True, text=True, timeout=600)
    tail = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and " failed" not in proc.stdout, tail


def test_pet_spect_kernel_twins_pass_without_the_jit():
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    files = [str(ROOT / "pet_spect" / "test_pet_spect_kernels.py")]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           *files], env=env, capture_output=True, text=True, timeout=600)
    tail = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and " failed" not in proc.stdout, tail
