"""What counts as bad input, and the checks of files and folders a run needs before its first training step.

Bad input is whatever the app detects *before the first training step*: a config check, an ``instantiate`` that
rejects its arguments, the data module's ``setup()``, a checkpoint that cannot be resumed, a shape check, an
unwritable run or cache directory. Every app (``train.py`` / ``python -m lightning_r1``, ``evaluate``, ``generate``,
``posthoc_ema``) runs through :func:`run_app`, which prints such an error as one line and exits with code 2.
An error raised once training has started is a bug or a fault of the run, not of the input: it keeps its
traceback and exit code 1 (a non-finite loss keeps its own one-line message and exit code 1).
"""

from __future__ import annotations

import os
import sys
import traceback
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from lightning_r1.console import quiet_known_notices

BAD_INPUT_EXIT_CODE = 2
NONFINITE_EXIT_CODE = 1


class ConfigError(ValueError):
    """Bad input, detected before the first training step; the message is the one line the user sees.

    A subclass of ``ValueError`` so code (and tests) that catch ``ValueError`` for bad values keep working.
    """


class CheckpointError(ConfigError):
    """``ckpt_path`` names a file that is missing, unreadable, or a checkpoint of another set-up."""


def bad_input(where: str, expected: str, got: str) -> ConfigError:
    """The house form: ``<where>: expected <expected>, got <got>``."""
    return ConfigError(f"{where}: expected {expected}, got {got}")


def one_line(err: BaseException) -> str:
    """The first non-empty line of ``err``'s message (its type name when it has none)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def check_writable_dir(where: str, path: str | os.PathLike, probe_bytes: int = 64 * 1024) -> Path:
    """Create ``path`` if needed and prove it takes a file of ``probe_bytes`` (written, flushed and removed).

    Catches a path below a regular file, a read-only mount, a directory without write permission (not for root,
    whom permissions do not stop) and a full disk (the probe's bytes must fit).

    Raises:
        ConfigError: ``<where>: expected a writable directory, got <path> (<reason>)``.
    """
    path = Path(path)
    probe = path / f".lightning_r1-write-probe-{uuid.uuid4().hex[:8]}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(b"\0" * probe_bytes)
            f.flush()
            os.fsync(f.fileno())
    except OSError as err:
        reason = err.strerror or one_line(err)
        raise bad_input(where, "a writable directory", f"{path} ({reason})") from None
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass
    return path


class NonFiniteLossError(RuntimeError):
    """A loss or penalty became NaN/Inf; the message names the iteration and the term."""

    @classmethod
    def from_terms(
        cls, iteration: int, loss: torch.Tensor, terms: dict[str, torch.Tensor]
    ) -> NonFiniteLossError:
        bad = next((name for name, value in terms.items() if not torch.isfinite(value).all()), None)
        if bad is None and bool(torch.isfinite(loss)):  # under DDP: another process saw the NaN
            return cls(
                f"iteration {iteration}: a loss is not finite on another process; training stopped on every "
                "process and the last good checkpoint is kept (set gan.skip_nonfinite=true to skip such steps)"
            )
        bad = bad or "the loss"
        value = float(terms[bad]) if bad in terms else float(loss)
        return cls(
            f"iteration {iteration}: {bad} is {value}; training stopped and the last good checkpoint is kept "
            "(set gan.skip_nonfinite=true to skip such steps instead)"
        )


# Errors that are bad input when raised before the first training step (the app marks them; train.py reads the mark).
SETUP_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    FileNotFoundError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
)


def mark_bad_input(err: BaseException) -> BaseException:
    """Record on ``err`` that it was raised before training started (its type and message stay as they are)."""
    err.lightning_r1_bad_input = True  # type: ignore[attr-defined]
    return err


def is_bad_input(err: BaseException) -> bool:
    """A :class:`ConfigError`, or an error the app marked as raised before the first training step."""
    return isinstance(err, ConfigError) or bool(getattr(err, "lightning_r1_bad_input", False))


def run_app(
    body: Callable[[], Any],
    setup_errors: tuple[type[BaseException], ...] = (),
    sweep_job: Callable[[BaseException], Any] | None = None,
) -> Any:
    """Call an app's ``body``, with the notices nobody can act on kept off the screen (:mod:`lightning_r1.console`).

    Bad input (:func:`is_bad_input`, or one of ``setup_errors``) ends the app with ``lightning_r1: error: <one line>``
    on stderr and exit code 2; a non-finite loss with its one line and exit code 1; any other error keeps its
    traceback. ``HYDRA_FULL_ERROR=1`` shows the traceback of every error.

    ``sweep_job``: in a sweep (``-m``) a failed job does not end the app: its line (and its traceback, when it is not
    bad input) is printed and ``sweep_job(err)`` is returned instead, so the sweep goes on.
    """
    try:
        with quiet_known_notices():
            return body()
    except Exception as err:
        short = is_bad_input(err) or isinstance(err, (*setup_errors, NonFiniteLossError))
        full = not short or os.environ.get("HYDRA_FULL_ERROR") == "1"
        if sweep_job is None:
            if full:
                raise
            print(f"lightning_r1: error: {one_line(err)}", file=sys.stderr)
            sys.exit(NONFINITE_EXIT_CODE if isinstance(err, NonFiniteLossError) else BAD_INPUT_EXIT_CODE)
        if full:
            traceback.print_exc()
        print(f"lightning_r1: {'error' if short else 'job failed'}: {one_line(err)}", file=sys.stderr)
        return sweep_job(err)


def zip_problem(path: Path) -> str | None:
    """Why ``path`` is not an intact ``torch.save`` zip archive, or ``None`` when it is."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    # a flipped byte in a header can also read as an unsupported zip version or an encrypted entry
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as err:
        return f"not a complete archive: {err}"
    return None if bad is None else f"checksum mismatch in {bad}"
