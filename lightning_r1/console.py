"""What the command-line app keeps off the user's screen: notices that nobody running it can act on.

Scoped to one run of the app (``python train.py``, ``python -m lightning_r1``, ``lightning-r1``); importing the
library changes no warning filter or logger, so a user's own program sees everything as Lightning prints it.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

# (message pattern, why it is expected here)
EXPECTED_WARNINGS = (
    (r"Experiment logs directory .* exists and is not empty", "the run directory holds config.yaml before the CSV"
     " logger starts"),
    (r".*isinstance\(treespec, LeafSpec\).*", "raised inside Lightning 2.6 on torch >= 2.10, not by user code"),
    (r"Checkpoint directory .* exists and is not empty", "a resume in place finds its own checkpoints (a new run"
     " is refused a folder holding checkpoints: lightning_r1.run_dir.earlier_run)"),
)  # fmt: skip
LIGHTNING_INFO_LOGGER = "lightning.pytorch.utilities.rank_zero"
ADVERTISEMENTS = ("💡 Tip:",)  # Lightning's logger advertisement, printed at every Trainer construction
# Lightning's device report when the machine has none of these devices: nothing to act on, and printed before any
# error the data module raises (a failed download), which must be the last line (docs/faults.md, "Bad input")
NO_DEVICE_NOTICES = (
    "GPU available: False, used: False",
    "TPU available: False, using: 0 TPU cores",
    "HPU available: False, using: 0 HPUs",
)


class DropMessages(logging.Filter):
    """Drops log records whose message starts with one of ``prefixes``."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(self.prefixes)


@contextlib.contextmanager
def quiet_known_notices() -> Iterator[None]:
    """Within the block: the expected warnings are ignored; Lightning's advertisement and its report of devices the
    machine does not have are dropped (a device that is there but unused is still reported)."""
    drop = DropMessages(ADVERTISEMENTS + NO_DEVICE_NOTICES)
    logger = logging.getLogger(LIGHTNING_INFO_LOGGER)
    with warnings.catch_warnings():
        for pattern, _why in EXPECTED_WARNINGS:
            warnings.filterwarnings("ignore", message=pattern)
        logger.addFilter(drop)
        try:
            yield
        finally:
            logger.removeFilter(drop)
