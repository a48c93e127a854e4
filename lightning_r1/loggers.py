"""Experiment loggers built from Hydra configs: the run's ``metrics.csv`` (kept across a resume in place) and Weights &
Biases runs named, grouped and tagged by the sweep.

``conf/logger/wandb.yaml`` points its ``_target_`` at :func:`wandb_logger`. Every run still keeps its scalar history
in ``<run_dir>/metrics.csv`` (the app always adds a :class:`RunCSVLogger`), so reports never depend on a service.
"""

from __future__ import annotations

import configparser
import csv
import logging
import netrc
import os
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import OmegaConf

from lightning_r1.lightning_compat import CSVLoggerHooks, WandbHooks, WriterHooks

log = logging.getLogger(__name__)

WANDB_HOSTS = ("https://api.wandb.ai",)
PROBE_TIMEOUT_S = 5.0  # one HTTP request to the wandb server before going online
INIT_TIMEOUT_S = (
    20.0  # wandb.init's own limit (wandb's default: 90 s, after which the run dies with CommError)
)
FINISH_TIMEOUT_S = 120.0  # how long the end of a run waits for uploads (wandb's default: forever)


# ---- metrics.csv ------------------------------------------------------------------------------------------------
class RunCSVLogger(CSVLoggerHooks):
    """Lightning's CSVLogger that, when the run resumes in its own directory, keeps the history it wrote before.

    Lightning's writer deletes an existing ``metrics.csv`` when it starts. After :meth:`continue_history`
    (called by the app when ``ckpt_path`` is a checkpoint of this run directory) the rows up to the checkpoint's
    logging step are kept and the new rows continue them; rows logged after that checkpoint (by the run that was
    killed or stopped later) are dropped, since the resumed run logs those steps again. A new run starts an empty
    file, as Lightning does.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keep_through_step: int | None = None

    def continue_history(self, step: int) -> None:
        """Keep the rows of ``metrics.csv`` whose ``step`` is at most ``step`` (the resumed checkpoint's logging
        step); call before the logger writes."""
        self._keep_through_step = step

    def make_writer(self) -> WriterHooks | None:
        if self._keep_through_step is not None and rank_zero_only.rank == 0:
            return KeepingExperimentWriter(self.log_dir, self._keep_through_step)
        return None


class KeepingExperimentWriter(WriterHooks):
    """Lightning's CSV writer that starts from the rows of an existing ``metrics.csv`` up to ``keep_through_step``."""

    def __init__(self, log_dir: str, keep_through_step: int) -> None:
        self.keep_through_step = keep_through_step
        super().__init__(log_dir)

    def prepare_metrics_file(self) -> None:  # Lightning deletes the file here
        fs = get_filesystem(self.metrics_file_path)
        if not fs.isfile(self.metrics_file_path):
            return
        with fs.open(self.metrics_file_path, "r", newline="") as file:
            reader = csv.DictReader(file)
            header, rows = list(reader.fieldnames or []), list(reader)
        kept = [row for row in rows if logged_step(row) <= self.keep_through_step]
        tmp = self.metrics_file_path + ".tmp"
        with fs.open(tmp, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=header)
            writer.writeheader()
            writer.writerows(kept)
        os.replace(tmp, self.metrics_file_path)  # the old history stays whole until the new one is complete
        self.metrics_keys = header  # new keys extend it (Lightning rewrites the file when keys appear)
        if len(kept) < len(rows):
            log.info("metrics.csv: kept %d rows up to step %d; dropped %d rows logged after that checkpoint",
                     len(kept), self.keep_through_step, len(rows) - len(kept))  # fmt: skip


def logged_step(row: dict[str, str]) -> float:
    """A ``metrics.csv`` row's ``step`` (rows without one sort last)."""
    try:
        return float(row.get("step") or "inf")
    except ValueError:
        return float("inf")


class FinishingWandbLogger(WandbHooks):
    """Lightning's WandbLogger that ends its wandb run when training ends (success or failure).

    Lightning leaves the run open, and a second WandbLogger in the same process (the next job of a Hydra multirun
    with the basic launcher) would then silently log into it. ``offline_notice`` is printed once the run exists,
    so the ``wandb sync`` command names this run's own folder.
    """

    def __init__(self, *args: Any, offline_notice: bool | str = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if offline_notice is True:
            offline_notice = "no API key found (WANDB_API_KEY, ~/.netrc) and WANDB_MODE is unset"
        self._offline_notice = offline_notice or ""

    @property
    def experiment(self) -> Any:
        fresh = self.run is None
        try:
            run = super().experiment
        except Exception as err:  # wandb.init gave up (no network, server down): keep training, log offline
            if not fresh or self.init_args.get("mode") == "offline" or not is_wandb_comm_error(err):
                raise
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            self._offline_notice = f"wandb.init could not reach the server ({reason})"
            self.init_args["mode"] = "offline"
            self.forget_run()
            run = super().experiment
        run_dir = getattr(run, "dir", None)  # not a str on ranks > 0 (Lightning's dummy experiment)
        if fresh and self._offline_notice and isinstance(run_dir, str):
            log.warning(
                "wandb: %s, so this run is logged offline; upload it with: wandb sync %s",
                self._offline_notice,
                Path(run_dir).parent,
            )
        return run

    def continue_history(self, step: int) -> None:
        """Log into the wandb run this run directory already has (its newest ``wandb/*run-*-ID`` folder), as wandb's
        ``resume="allow"`` does; call before the run starts. Steps up to ``step`` are the resumed checkpoint's."""
        previous = previous_wandb_run_id(Path(self.init_args.get("dir") or "."))
        if previous is not None and self.run is None and self.init_args.get("id") is None:
            self.continue_run(previous)
            log.info("wandb: continuing run %s of this run directory from step %d", previous, step)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        super().finalize(status)
        if self.run is not None and hasattr(self.run, "finish"):
            self.run.finish(exit_code=0 if status in ("success", "finished") else 1)


def previous_wandb_run_id(save_dir: Path) -> str | None:
    """The id of the newest wandb run under ``save_dir/wandb`` (folders ``run-DATE_TIME-ID`` / ``offline-run-...``)."""
    runs = sorted(save_dir.glob("wandb/*run-*-*"), key=lambda p: p.name.removeprefix("offline-"))
    return runs[-1].name.rsplit("-", 1)[1] if runs else None


def wandb_logger(
    project: str = "lightning_r1",
    entity: str | None = None,
    tags: list[str] | None = None,
    group: str | None = None,
    name: str | None = None,
    save_dir: str | os.PathLike = ".",
    log_model: bool | str = False,
    mode: str | None = None,
    **kwargs: Any,
) -> FinishingWandbLogger:
    """A WandbLogger named, grouped and tagged from the Hydra job it runs in.

    Args:
        project, entity: the wandb project and team/user (entity ``None``: your default entity).
        tags: extra tags, added to the regularizer and loss names of this job.
        group: ``None`` → the sweep folder in a multirun (one dashboard group per sweep), no group in a single run.
        name: ``None`` → this job's overrides (``regularizer=r1,seed=1``; in a multirun only the swept ones),
            ``"default"`` when there are none.
        save_dir: where wandb writes its ``wandb/`` folder (the run directory).
        log_model: upload checkpoints as artifacts (needs online mode).
        mode: ``online`` | ``offline`` | ``disabled``; ``None`` → online when an API key is found and the server
            answers an HTTP request within 5 s, else offline (one warning line with the ``wandb sync`` command).
            The ``WANDB_MODE`` environment variable, when set, always wins over both.
        **kwargs: passed on to ``wandb.init`` (e.g. ``notes``, ``job_type``).

    Runs get ``wandb.Settings(init_timeout=20, finish_timeout=120)`` unless ``settings`` says otherwise: a
    ``wandb.init`` that cannot reach the server within 20 s falls back to offline mode (the run goes on, the same
    warning line), and the end of a run waits at most 120 s for uploads; what was not uploaded stays in the run's
    local ``wandb/`` folder for ``wandb sync``. ``metrics.csv`` is written whatever wandb does.
    """
    import wandb

    if wandb.run is not None:  # a previous job of this process left its run open: each job gets its own run
        log.info(
            "wandb: finishing the run left open in this process (%s) before starting this job's",
            wandb.run.name,
        )
        wandb.run.finish()
    offline_notice: bool | str = False
    if os.environ.get("WANDB_MODE"):
        mode = None  # wandb reads the user's WANDB_MODE itself
    elif mode is None and not wandb_api_key_available():
        mode, offline_notice = "offline", True
    elif mode is None:
        unreachable = server_unreachable(wandb_base_url())
        if unreachable:
            mode, offline_notice = "offline", unreachable
    if mode is not None:
        kwargs["mode"] = mode
    kwargs["settings"] = wandb_settings(wandb, kwargs.get("settings"))
    return FinishingWandbLogger(
        project=project,
        entity=entity,
        tags=[*job_tags(), *(tags or [])],
        group=group if group is not None else sweep_group(),
        name=name if name is not None else job_name(),
        save_dir=str(save_dir),
        log_model=log_model,
        offline_notice=offline_notice,
        **kwargs,
    )


def wandb_settings(wandb: Any, given: Any) -> Any:
    """``wandb.Settings`` with this project's time limits, unless ``given`` (a Settings, or a mapping such as
    ``+logger.wandb.settings.init_timeout=60`` from the command line) sets them."""
    if isinstance(given, wandb.Settings):
        return given
    values = {"init_timeout": INIT_TIMEOUT_S, "finish_timeout": FINISH_TIMEOUT_S}
    if given is not None:
        values |= OmegaConf.to_container(given) if OmegaConf.is_config(given) else dict(given)
    return wandb.Settings(**values)


# ---- what the Hydra job knows about itself ----------------------------------------------------------------------
def job_tags() -> list[str]:
    """Regularizer and loss names of this job (``["r1", "r2", "hinge"]``), from Hydra's group choices."""
    if not HydraConfig.initialized():
        return []
    regularizers = ["unregularized" if m == "none" else m for m in group_choice("regularizer")]
    return [*regularizers, *group_choice("loss")]


def group_choice(group: str) -> list[str]:
    """The config file(s) chosen for ``group`` in this job: ``["r1"]``, or ``["r1", "r2"]`` for ``group=[r1,r2]``
    (Hydra lists no choice for a multi-select group, so that one is read from the override)."""
    hc = HydraConfig.get()
    choice = hc.runtime.choices.get(group)
    if choice is not None:
        return [str(choice)]
    from hydra.core.override_parser.overrides_parser import OverridesParser

    for text in hc.overrides.task:
        try:
            override = OverridesParser.create().parse_override(text)
        except Exception:
            continue
        if override.key_or_group == group and override.package is None:
            value = override.value()
            return [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return []


def sweep_group() -> str | None:
    """The sweep folder of a multirun job (relative to the working directory when inside it); ``None`` otherwise."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    sweep_dir = Path(str(HydraConfig.get().sweep.dir))
    try:
        sweep_dir = sweep_dir.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        pass
    return str(sweep_dir)[-128:]  # wandb's limit on group names


def job_name() -> str:
    """``key=value`` overrides of this job joined by commas; in a multirun only those that vary across the sweep."""
    if not HydraConfig.initialized():
        return "default"
    hc = HydraConfig.get()
    overrides = list(hc.overrides.task)
    if hc.mode == RunMode.MULTIRUN:
        searched = set((hc.sweeper.get("params") or {}).keys())  # optuna's search space
        fixed = fixed_sweep_keys(Path(str(hc.sweep.dir)))
        if searched and not fixed:
            swept = [o for o in overrides if override_key(o) in searched]
        else:
            swept = [o for o in overrides if override_key(o) not in fixed]
        overrides = swept or overrides
    return ",".join(overrides)[:128] or "default"


def override_key(override: str) -> str:
    """``"+model.hidden=32"`` → ``"+model.hidden"`` (Hydra's own parser; the text before ``=`` if it fails)."""
    try:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        return OverridesParser.create().parse_override(override).get_key_element()
    except Exception:
        return override.split("=", 1)[0]


def fixed_sweep_keys(sweep_dir: Path) -> set[str]:
    """Keys the sweep's command line set to one value for every job (from the basic sweeper's ``multirun.yaml``).

    Other sweepers (optuna) write no such file: their jobs are then named by all their overrides.
    """
    path = sweep_dir / "multirun.yaml"
    if not path.exists():
        return set()
    try:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        task = OmegaConf.load(path).hydra.overrides.task
        parsed = OverridesParser.create().parse_overrides([str(o) for o in task])
        return {o.get_key_element() for o in parsed if not o.is_sweep_override()}
    except Exception:  # an unreadable file only costs longer names
        return set()


# ---- can the server be reached? ----------------------------------------------------------------------------------
def wandb_base_url() -> str:
    """The server wandb would talk to: WANDB_BASE_URL, else the settings file's base_url, else wandb's default."""
    return wandb_hosts()[0]


def server_unreachable(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """Why ``url`` gives no HTTP answer within ``timeout_s`` (``None``: it answered, with any status).

    One request through urllib (which honours the proxy variables), so a refused connection is found at once and a
    server that accepts connections but never answers (a firewall, a hung proxy) within ``timeout_s``. A TLS
    certificate error counts as an answer: wandb may trust certificates urllib does not, so it decides itself.
    """
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout_s).close()
    except urllib.error.HTTPError:  # any HTTP status: the server is there
        return None
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        if isinstance(reason, ssl.SSLError):
            return None
        text = getattr(reason, "strerror", None) or str(reason) or type(err).__name__
        return f"the server {url} cannot be reached ({text})"
    return None


def is_wandb_comm_error(err: BaseException) -> bool:
    """wandb's "cannot talk to the server" errors (``CommError``, an init timeout)."""
    try:
        from wandb.errors import CommError
    except ImportError:
        return False
    return isinstance(err, CommError | TimeoutError)


# ---- is there a wandb API key? ----------------------------------------------------------------------------------
def wandb_api_key_available() -> bool:
    """Whether wandb would find credentials: ``WANDB_API_KEY`` / an identity token, or a netrc entry for the host."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    return any(netrc_api_key(host) for host in wandb_hosts())


def wandb_hosts() -> list[str]:
    """Server URLs a key could be stored for: WANDB_BASE_URL, the settings file's base_url, wandb's defaults."""
    hosts = [os.environ.get("WANDB_BASE_URL", "")]
    config_dir = Path(os.environ.get("WANDB_CONFIG_DIR") or Path.home() / ".config" / "wandb")
    settings = configparser.ConfigParser()
    try:
        settings.read(config_dir / "settings")
        hosts.append(settings.get("default", "base_url", fallback=""))
    except configparser.Error:
        pass
    try:
        from wandb.sdk.lib.urls import DEFAULT_BASE_URL

        hosts.append(DEFAULT_BASE_URL)
    except ImportError:
        pass
    return [h for h in dict.fromkeys([*hosts, *WANDB_HOSTS]) if h]


def netrc_api_key(host: str) -> str | None:
    """The key stored for ``host`` in the netrc file, read the way wandb reads it when it can."""
    try:
        from wandb.sdk.lib.wbauth import read_netrc_auth
    except ImportError:
        read_netrc_auth = None
    try:
        if read_netrc_auth is not None:
            return read_netrc_auth(host=host)
        path = os.environ.get("NETRC") or Path.home() / ".netrc"
        creds = netrc.netrc(path).authenticators(urlsplit(host).netloc)
        return creds[2] if creds and creds[2] else None
    except Exception:  # no file, unreadable or malformed: no usable key
        return None
