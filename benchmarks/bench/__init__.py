"""Helpers shared by the scripts in ``benchmarks/`` (run them as ``python benchmarks/<script>.py``).

- ``common``: constants, models, batches, process set-up, machine description, shared command-line flags.
- ``raw_loop``: the framework-free reference loop (``raw``, ``raw_r1``).
- ``gan_variants``: ``lightning_r1.GAN`` with a set of regularizers on a real ``lightning.Trainer``.
- ``variants``: the variant names and ``make_runner``, which builds the runner for a name.
- ``interleave``: running the variants in turns, one iteration each, and the per-iteration timer.
- ``stats``, ``report``: medians, ratios, goals and the printed tables of ``step_time.py``.
- ``fid``: the timed FID evaluations of ``fid_time.py``.
"""
