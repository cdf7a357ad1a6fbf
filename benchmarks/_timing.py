"""Timing helper shared by the benchmark files (the benchmark folder is on sys.path when pytest runs them)."""

import statistics
import time


def median_s(fn, *args, rounds=15, warmup=1):
    """Median wall time in seconds of ``fn(*args)`` over ``rounds`` calls, after ``warmup`` untimed calls (JIT
    compile / cache load, page faults)."""
    for _ in range(warmup):
        fn(*args)
    ts = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn(*args)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)
