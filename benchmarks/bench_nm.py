"""Gamma-camera, SPECT and PET analysis speed on the in-memory twins and, when ``../shared/realdata`` exists, on the
real files (``nm/UNIFORMIDAD_1.dcm``, ``nm/Jaszack.dcm``, ``pet/nema_iq_recon_1``), with pylinac's nuclear classes and
pynemaiqpet on the same real files when their environments exist.

Targets (PET/SPECT issue), median after warm-up (JIT compile / cache load excluded, timed apart in a fresh interpreter):
NEMA NU 1 uniformity of a 256^2 flood at most 10 ms; Jaszczak tomographic contrast at most 0.1 s; NEMA NU 2 image
quality on a 192^2 x 89 volume at most 0.15 s. Timings are of the analysis on decoded arrays; decoding is printed beside.

pylinac (3.26) pins numpy < 2, so it lives in its own virtual environment (``.venv-bench``, or the interpreter named
by ``PHANTOMQC_PYLINAC_PYTHON``); pynemaiqpet pins pydicom < 3 (``.venv-pynema``, or ``PHANTOMQC_PYNEMA_PYTHON``). Both
are driven by a subprocess and never touch phantomqc's environment; their times include their own DICOM reading (they
take file paths), so ours are printed with and without decoding.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _timing import median_s

from phantomqc.io import read_frames

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"
FLOOD_FILE = REALDATA / "nm" / "UNIFORMIDAD_1.dcm"
JASZCZAK_FILE = REALDATA / "nm" / "Jaszack.dcm"
PET_FOLDER = REALDATA / "pet" / "nema_iq_recon_1"

UNIFORMITY_TARGET_S = 0.010
CONTRAST_TARGET_S = 0.100
NEMA_IQ_TARGET_S = 0.150
PET_ACTIVITY_RATIO_REAL = 10.0  # golden note for pet/nema_iq_recon_1: sphere ~16800 / background ~1687

# pylinac: best of `rounds` calls of each class on the real files, in one interpreter (the first call of each is the
# warm-up: imports and its caches), reading included since its classes take paths
_PYLINAC_SCRIPT = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import matplotlib; matplotlib.use("Agg")
from pylinac.nuclear import PlanarUniformity, TomographicContrast
flood, jaszczak, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
def run(fn):
    fn()
    ts = []
    for _ in range(rounds):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[len(ts) // 2]
out = {}
for name, cls, path in (("uniformity", PlanarUniformity, flood), ("contrast", TomographicContrast, jaszczak)):
    if path == "-":
        continue
    try:
        out[name] = run(lambda: cls(path).analyze())
    except Exception as exc:  # a pylinac failure is reported, not fatal for the benchmark
        out[name + "_error"] = f"{type(exc).__name__}: {exc}"[:200]
import pylinac
out["version"] = pylinac.__version__
print(json.dumps(out))
"""

# pynemaiqpet: its whole-body analysis (what its `pynemaiqpet_wb` command runs, without the figures): read the DICOM
# folder with pymirc, fit the six sphere profiles (same signal, nominal radii, 1.5 mm glass wall), background ROI
_PYNEMA_SCRIPT = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import matplotlib; matplotlib.use("Agg")
import pymirc.fileio as pmf
from pynemaiqpet.nema_wb import fit_WB_NEMA_sphere_profiles
folder, rounds = sys.argv[1], int(sys.argv[2])
def once():
    t0 = time.perf_counter()
    dcm = pmf.DicomVolume(folder + "/*.dcm")
    vol = dcm.get_data()
    t1 = time.perf_counter()
    fit_WB_NEMA_sphere_profiles(vol, dcm.voxsize, sameSignal=True, Rfix=[18.5, 14.0, 11.0, 8.5, 6.5, 5.0],
                                dfix=1.5, showBGROI=False)
    return t1 - t0, time.perf_counter() - t1
once()
rs, fs = zip(*[once() for _ in range(rounds)])
med = lambda v: sorted(v)[len(v) // 2]
print(json.dumps({"read_s": med(rs), "fit_s": med(fs)}))
"""

_PYNEMA_HOWTO = ("python3 -m venv .venv-pynema && .venv-pynema/bin/pip install pynemaiqpet "
                 "(or set PHANTOMQC_PYNEMA_PYTHON)")
_PYLINAC_HOWTO = "python3 -m venv .venv-bench && .venv-bench/bin/pip install pylinac (or set PHANTOMQC_PYLINAC_PYTHON)"


def _interpreter(env_var: str, venv: str) -> str | None:
    env = os.environ.get(env_var)
    cand = Path(env) if env else REPO / venv / "bin" / "python"
    return str(cand) if cand.is_file() else None


# ---------------------------------------------------------------- data


@pytest.fixture(scope="module")
def flood_twin():
    from reference_phantoms.nm import flood

    img, _truth = flood(shape=(256, 256), spacing_mm=(2.0, 2.0), rng=np.random.default_rng(0))
    return img, (2.0, 2.0)


@pytest.fixture(scope="module")
def jaszczak_twin():
    from reference_phantoms.spect import jaszczak_volume

    # low noise and an 8 mm system blur (as in tests/pet_spect/test_spect.py) so that all six spheres are found
    vol, truth = jaszczak_volume(counts=1e5, fwhm_mm=8.0, rng=np.random.default_rng(0))
    return vol, tuple(truth["spacing_mm"])


@pytest.fixture(scope="module")
def iec_twin():
    from reference_phantoms.pet import iec_body_phantom

    vol, sp, _truth = iec_body_phantom(shape=(89, 192, 192), spacing_mm=(2.78, 2.08, 2.08), fwhm_mm=6.0,
                                       noise_percent=5.0, rng=0)
    assert vol.shape == (89, 192, 192)
    return vol, tuple(sp)


def _read_flood(path):
    f = read_frames(path)[0]
    return f.pixels, tuple(f.spacing_mm)


def _read_jaszczak(path):
    frames = read_frames(path)
    vol = np.stack([f.pixels for f in frames]).astype(np.float64)
    dy, dx = frames[0].spacing_mm
    dz = frames[0].meta.extra.get("spacing_between_slices_mm") or frames[0].meta.slice_thickness_mm or dx
    return vol, (abs(float(dz)), dy, dx)


def _read_pet(folder):
    frames = [f for p in sorted(folder.glob("*.dcm")) for f in read_frames(p)]
    frames.sort(key=lambda f: f.meta.image_position_patient[2])
    vol = np.stack([f.pixels for f in frames])
    dz = abs(frames[1].meta.image_position_patient[2] - frames[0].meta.image_position_patient[2])
    return vol, (dz,) + tuple(frames[0].spacing_mm)


# ---------------------------------------------------------------- analyses


def _uniformity(img, sp):
    from phantomqc.pet_spect.planar import nema_uniformity

    return nema_uniformity(img, sp)


def _contrast(vol, sp):
    from phantomqc.pet_spect.spect import tomographic_contrast

    return tomographic_contrast(vol, sp)


def _nema_iq(vol, sp, ratio=4.0):
    from phantomqc.pet_spect.nema_iq import nema_iq

    return nema_iq(vol, sp, activity_ratio=ratio)


def _sphere_fit(vol, sp):
    from phantomqc.pet_spect.nema_iq import fit_sphere_psf

    return fit_sphere_psf(vol, sp, activity_ratio=PET_ACTIVITY_RATIO_REAL, wall_thickness_mm=1.5, subsample=1)


# ---------------------------------------------------------------- twins: the targets


def test_nm_uniformity_flood_twin(benchmark, flood_twin):
    """NU-1 uniformity of a 256^2 flood <= 10 ms median after warm-up."""
    img, sp = flood_twin
    t = median_s(_uniformity, img, sp, rounds=31, warmup=3)
    benchmark.extra_info.update(uniformity_ms=t * 1e3)
    benchmark.pedantic(_uniformity, args=(img, sp), rounds=5, iterations=1, warmup_rounds=1)
    print(f"\nNM flood twin 256^2: NEMA uniformity {t * 1e3:.2f} ms median (target {UNIFORMITY_TARGET_S * 1e3:.0f} ms)",
          file=sys.stderr)
    assert t <= UNIFORMITY_TARGET_S, f"uniformity {t * 1e3:.1f} ms > {UNIFORMITY_TARGET_S * 1e3:.0f} ms"


def test_spect_contrast_jaszczak_twin(benchmark, jaszczak_twin):
    """Jaszczak tomographic contrast <= 0.1 s median after warm-up."""
    vol, sp = jaszczak_twin
    t = median_s(_contrast, vol, sp, rounds=9, warmup=2)
    benchmark.extra_info.update(contrast_ms=t * 1e3)
    benchmark.pedantic(_contrast, args=(vol, sp), rounds=3, iterations=1, warmup_rounds=1)
    print(f"\nSPECT Jaszczak twin {vol.shape[0]} x {vol.shape[1]}^2: tomographic contrast {t * 1e3:.0f} ms median "
          f"(target {CONTRAST_TARGET_S * 1e3:.0f} ms)", file=sys.stderr)
    assert t <= CONTRAST_TARGET_S, f"tomographic contrast {t * 1e3:.0f} ms > {CONTRAST_TARGET_S * 1e3:.0f} ms"


def test_pet_nema_iq_twin(benchmark, iec_twin):
    """NEMA IQ on a 192^2 x 89 volume (2.08 x 2.08 x 2.78 mm) <= 0.15 s median after warm-up."""
    vol, sp = iec_twin
    t = median_s(_nema_iq, vol, sp, rounds=9, warmup=2)
    benchmark.extra_info.update(nema_iq_ms=t * 1e3)
    benchmark.pedantic(_nema_iq, args=(vol, sp), rounds=3, iterations=1, warmup_rounds=1)
    print(f"\nPET IEC twin 89 x 192^2: NEMA IQ {t * 1e3:.0f} ms median (target {NEMA_IQ_TARGET_S * 1e3:.0f} ms)",
          file=sys.stderr)
    assert t <= NEMA_IQ_TARGET_S, f"NEMA IQ {t * 1e3:.0f} ms > {NEMA_IQ_TARGET_S * 1e3:.0f} ms"


# ---------------------------------------------------------------- real files, against pylinac and pynemaiqpet


def test_nm_real_files_vs_pylinac():
    """Uniformity on UNIFORMIDAD_1.dcm and tomographic contrast on Jaszack.dcm, then pylinac's PlanarUniformity and
    TomographicContrast on the same files in one run; prints the ratios pylinac / phantomqc (ours with decoding
    included, and without). Skips without ../shared/realdata."""
    if not (FLOOD_FILE.is_file() and JASZCZAK_FILE.is_file()):
        pytest.skip(f"real data not found under {REALDATA / 'nm'}")
    img, sp = _read_flood(FLOOD_FILE)
    vol, vsp = _read_jaszczak(JASZCZAK_FILE)
    t_u = median_s(_uniformity, img, sp, rounds=31, warmup=3)
    t_ud = median_s(_read_flood, FLOOD_FILE, rounds=9)
    t_c = median_s(_contrast, vol, vsp, rounds=9, warmup=2)
    t_cd = median_s(_read_jaszczak, JASZCZAK_FILE, rounds=5)
    line = (f"\nNM real {FLOOD_FILE.name} {img.shape[0]}x{img.shape[1]}: uniformity {t_u * 1e3:.2f} ms median "
            f"(decode {t_ud * 1e3:.1f} ms more)"
            f"\nSPECT real {JASZCZAK_FILE.name} {vol.shape[0]}x{vol.shape[1]}x{vol.shape[2]}: tomographic contrast "
            f"{t_c * 1e3:.0f} ms median (decode {t_cd * 1e3:.0f} ms more)")
    py = _interpreter("PHANTOMQC_PYLINAC_PYTHON", ".venv-bench")
    if py is None:
        line += f"\npylinac not installed ({_PYLINAC_HOWTO})"
    else:
        proc = subprocess.run([py, "-c", _PYLINAC_SCRIPT, str(FLOOD_FILE), str(JASZCZAK_FILE), "3"],
                              capture_output=True, text=True, timeout=900, check=False)
        if proc.returncode != 0:
            line += f"\npylinac failed to run: {proc.stderr[-400:]}"
        else:
            pl = json.loads(proc.stdout.strip().splitlines()[-1])
            ver = pl.get("version", "?")
            if "uniformity" in pl:
                p = pl["uniformity"]
                line += (f"\npylinac {ver} PlanarUniformity (its reading included): {p * 1e3:.1f} ms median; "
                         f"ratio pylinac/phantomqc {p / (t_u + t_ud):.1f}x with our decode, {p / t_u:.1f}x analysis")
            if "contrast" in pl:
                p = pl["contrast"]
                line += (f"\npylinac {ver} TomographicContrast (its reading included): {p * 1e3:.0f} ms median; "
                         f"ratio pylinac/phantomqc {p / (t_c + t_cd):.1f}x with our decode, {p / t_c:.1f}x analysis")
            errs = {k: v for k, v in pl.items() if k.endswith("_error")}
            if errs:
                line += f"\npylinac errors: {errs}"
    print(line, file=sys.stderr)
    assert t_u <= UNIFORMITY_TARGET_S, f"uniformity {t_u * 1e3:.1f} ms > {UNIFORMITY_TARGET_S * 1e3:.0f} ms"
    assert t_c <= CONTRAST_TARGET_S, f"tomographic contrast {t_c * 1e3:.0f} ms > {CONTRAST_TARGET_S * 1e3:.0f} ms"


def test_pet_real_folder_vs_pynemaiqpet():
    """NEMA IQ (and the sphere-profile fit, pynemaiqpet's own analysis) on nema_iq_recon_1, then pynemaiqpet's
    whole-body analysis on the same folder; prints the ratios. pynemaiqpet computes recovery from fitted sphere
    profiles, not NEMA NU 2 contrast / background variability, so its like-for-like counterpart is our
    fit_sphere_psf; the ratio against nema_iq is printed too. Skips without ../shared/realdata."""
    if not PET_FOLDER.is_dir():
        pytest.skip(f"real data not found at {PET_FOLDER}")
    vol, sp = _read_pet(PET_FOLDER)
    t_iq = median_s(_nema_iq, vol, sp, PET_ACTIVITY_RATIO_REAL, rounds=9, warmup=2)
    t_fit = median_s(_sphere_fit, vol, sp, rounds=3, warmup=1)
    t_dec = median_s(_read_pet, PET_FOLDER, rounds=3)
    line = (f"\nPET real {PET_FOLDER.name} {vol.shape[0]}x{vol.shape[1]}x{vol.shape[2]}: NEMA IQ {t_iq * 1e3:.0f} ms "
            f"median, sphere-profile fit {t_fit * 1e3:.0f} ms (decode {t_dec * 1e3:.0f} ms more)")
    py = _interpreter("PHANTOMQC_PYNEMA_PYTHON", ".venv-pynema")
    if py is None:
        line += f"\npynemaiqpet not installed, comparison skipped: {_PYNEMA_HOWTO}"
    else:
        proc = subprocess.run([py, "-c", _PYNEMA_SCRIPT, str(PET_FOLDER), "3"], capture_output=True, text=True, check=False,
                              timeout=900)
        if proc.returncode != 0:
            line += f"\npynemaiqpet failed to run: {proc.stderr[-400:]}"
        else:
            pn = json.loads(proc.stdout.strip().splitlines()[-1])
            tot = pn["read_s"] + pn["fit_s"]
            line += (f"\npynemaiqpet sphere fit {pn['fit_s'] * 1e3:.0f} ms + its reading {pn['read_s'] * 1e3:.0f} ms: "
                     f"ratio pynemaiqpet/phantomqc {pn['fit_s'] / t_fit:.1f}x (fit vs fit), "
                     f"{tot / (t_fit + t_dec):.1f}x (reading included), "
                     f"{pn['fit_s'] / t_iq:.1f}x (its fit vs our NEMA IQ)")
    print(line, file=sys.stderr)
    assert t_iq <= NEMA_IQ_TARGET_S, f"NEMA IQ {t_iq * 1e3:.0f} ms > {NEMA_IQ_TARGET_S * 1e3:.0f} ms"


# ---------------------------------------------------------------- first use


def test_nm_jit_compile_time():
    """First import and first call of the PET/SPECT analyzers in a fresh interpreter (JIT compile or cache load),
    measured apart from the warm timings above."""
    code = ("import time, numpy as np; t0 = time.perf_counter(); "
            "from phantomqc.pet_spect import _kernels, planar, spect, nema_iq; t1 = time.perf_counter(); "
            "from reference_phantoms.nm import flood; img, _ = flood(rng=np.random.default_rng(0)); "
            "t2 = time.perf_counter(); planar.nema_uniformity(img, (2.0, 2.0)); t3 = time.perf_counter(); "
            "print(t1 - t0, t3 - t2)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=str(REPO), check=False)
    assert proc.returncode == 0, proc.stderr[-500:]
    t_imp, t_first = (float(x) for x in proc.stdout.split()[-2:])
    print(f"\nPET/SPECT import {t_imp:.2f} s; first NEMA uniformity call (compile or cache load) {t_first:.2f} s",
          file=sys.stderr)
