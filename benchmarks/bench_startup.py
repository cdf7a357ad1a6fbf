"""Start-up costs, measured on their own: JIT compile time of the DR and CT kernels with a cold numba cache,
and ``phantomqc --help``."""

import os
import subprocess
import sys
import textwrap

_COLD = textwrap.dedent("""
    import sys, time
    from reference_phantoms.dr import make_dr_suite
    from phantomqc.io import read_image
    sys.path.insert(0, {bench!r})
    from bench_dr import flat_field_suite
    make_dr_suite({out!r}, detector="2048", seed=0, only=("dark",))
    im = read_image({out!r} + "/dark.dcm")
    t0 = time.perf_counter(); flat_field_suite(im); t1 = time.perf_counter()
    flat_field_suite(im); t2 = time.perf_counter()
    print(f"{{(t1 - t0) - (t2 - t1):.4f}}")
""")


def test_jit_compile_time_cold_cache(benchmark, tmp_path):
    """First call minus second call of the flat-field suite, in a fresh process with an empty numba cache."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba_cache")}
    code = _COLD.format(bench=os.path.dirname(__file__), out=str(tmp_path / "ph"))
    compile_s = []

    def once():
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        compile_s.append(float(out.stdout.strip().splitlines()[-1]))

    benchmark.pedantic(once, rounds=1, iterations=1)
    benchmark.extra_info["jit_compile_s"] = compile_s[0]
    print(f"\nJIT compile (cold numba cache), DR flat-field kernels: {compile_s[0]:.2f} s")


_COLD_CT = textwrap.dedent("""
    import time
    from reference_phantoms.ct import ct_series
    from phantomqc.ct._series import CTSeries
    from phantomqc.ct.catphan import analyze_catphan
    s = ct_series("catphan504", thickness_mm=5.0, seed=0)
    hu = [a.astype("float32") for a in s.hu]
    ser = CTSeries(tuple(hu), tuple(float(z) for z in s.z_patient_mm), (s.parameters["pixel_mm"],) * 2, 5.0, "test",
                   ())
    t0 = time.perf_counter(); analyze_catphan(ser, model="catphan504"); t1 = time.perf_counter()
    analyze_catphan(ser, model="catphan504"); t2 = time.perf_counter()
    print(f"{{(t1 - t0) - (t2 - t1):.4f}}")
""")


def test_jit_compile_time_cold_cache_ct(benchmark, tmp_path):
    """First call minus second call of the CatPhan analysis, in a fresh process with an empty numba cache."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba_cache")}
    compile_s = []

    def once():
        out = subprocess.run([sys.executable, "-c", _COLD_CT.format()], env=env, capture_output=True, text=True,
                             check=True)
        compile_s.append(float(out.stdout.strip().splitlines()[-1]))

    benchmark.pedantic(once, rounds=1, iterations=1)
    benchmark.extra_info["jit_compile_s"] = compile_s[0]
    print(f"\nJIT compile (cold numba cache), CT CatPhan kernels: {compile_s[0]:.2f} s")


def test_help_startup(benchmark):
    def run():
        subprocess.run([sys.executable, "-m", "phantomqc", "--help"], capture_output=True, check=True)

    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
