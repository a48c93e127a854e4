"""Helpers shared by the scripts in ``benchmarks/`` (run them as ``python benchmarks/<script>.py``).

- ``common``: constants, models, batches, process set-up, machine description, shared command-line flags.
- ``raw_loop``: the framework-free reference loop (``raw``, ``raw_r1``).
- ``gan_variants``: ``lightning_r1.GAN`` with a set of regularizers on a real ``lightning.Trainer``.
- ``variants``: the variant names and ``make_runner``, which builds the runner for a name.
- ``interleave``: running the variants in turns, one iteration each, and the per-iteration timer.
- ``stats``, ``report``: medians, ratios, goals and the printed tables of ``step_time.py``.
- ``fid``: the timed FID evaluations of ``fid_time.py``.

It also knows the process environment a script without Lightning has: Lightning sets
``PYTORCH_NVML_BASED_CUDA_CHECK=1`` at import, which makes every ``Adam.step`` of torch 2.14 load NVML again; the
raw loop runs with the variable as it was when the process started, as a textbook script would (``raw_loop.py``).
"""

import os

NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"


def at_process_start(name: str) -> str | None:
    """The environment variable ``name`` as the process started with it (Linux: ``/proc/self/environ``, whatever
    was imported since); elsewhere its value now."""
    try:
        with open("/proc/self/environ", "rb") as f:
            entries = f.read().split(b"\0")
    except OSError:
        return os.environ.get(name)
    prefix = name.encode() + b"="
    return next((e[len(prefix) :].decode() for e in entries if e.startswith(prefix)), None)


NVML_CHECK_WITHOUT_LIGHTNING = at_process_start(NVML_CHECK)
