"""Steady glibc malloc for CPU timings: freed activations stay in the process instead of going back to the OS.

By default glibc serves every allocation above its (adaptive) mmap threshold with a fresh ``mmap`` and returns it
with ``munmap`` when freed, so the next tensor of that size page-faults in new, zeroed pages. How often that
happens depends on each thread's malloc arena: two identical training loops in one process (the benchmark runs
each variant in its own thread) measured up to 13 % apart, and at ResNet-64 the raw loop ran its convolutions 7 %
slower than the GAN's thread with the same operators and FLOPs. With the thresholds below, both differences fall
to about 1 % and every variant gets 10–15 % faster (docs/benchmarks.md). The settings are read by glibc at process
start, hence the restart; other C libraries ignore them.
"""

from __future__ import annotations

import os
import sys

STEADY_MALLOC = {
    "MALLOC_MMAP_THRESHOLD_": str(4 << 30),  # no mmap per allocation below 4 GiB
    "MALLOC_TRIM_THRESHOLD_": str(4 << 30),  # do not hand freed heap back to the OS
    "MALLOC_TOP_PAD_": str(512 << 20),  # grow the heap in 512 MiB steps
}
OPT_OUT = "BENCH_DEFAULT_MALLOC"  # set to 1 to time with glibc's default behaviour


def malloc_mode() -> str:
    """``"steady"`` when this process runs with :data:`STEADY_MALLOC`, else ``"default"``."""
    return "steady" if all(os.environ.get(k) == v for k, v in STEADY_MALLOC.items()) else "default"


def restart_with_steady_malloc() -> None:
    """Re-execute the running script once with :data:`STEADY_MALLOC` (Linux only; skipped when opted out)."""
    if sys.platform != "linux" or os.environ.get(OPT_OUT) == "1" or malloc_mode() == "steady":
        return
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **STEADY_MALLOC})
