"""One construction of a run from its config: data module, GAN, callbacks and loggers (docs/architecture.md, "The
layers").

:func:`build_run` is the only place a config becomes objects: training (``app.py``) calls it, and so does the
checkpoint loader (``from_checkpoint.load_run``) behind ``evaluate`` and ``generate``, so a saved config builds the
same models wherever it is read. Every ``_target_`` node goes through :func:`instantiate_node` (an argument it rejects
is one line naming the config key); the callback groups are instantiated generically, member by member.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.loggers import CSVLogger, Logger
from omegaconf import DictConfig, OmegaConf, open_dict

from lightning_r1 import run_dir as rd
from lightning_r1.callbacks import (
    IterationCheckpoint,
    IterationProgressBar,
    IterationRichProgressBar,
    PreemptionCheckpoint,
    RunSummary,
    SampleGrid,
)
from lightning_r1.callbacks.posthoc_ema import gan_arguments, posthoc_ema_callbacks
from lightning_r1.conditional_app import class_callbacks, configure_classes
from lightning_r1.errors import ConfigError, one_line
from lightning_r1.gan import GAN
from lightning_r1.loggers import FinishingWandbLogger, RunCSVLogger
from lightning_r1.metrics import ModeMetrics
from lightning_r1.resume import SaveRunConfig, check_resumable, logging_step
from lightning_r1.resume_config import ApplyOptimizerSettings

log = logging.getLogger(__name__)
# groups holding a mapping of members, any number selected (regularizer=[r1,r2]); the others hold one choice
MEMBER_GROUPS = ("regularizer", "logger", "callbacks")
CONTINUING_LOGGERS = (
    RunCSVLogger,
    FinishingWandbLogger,
)  # they can continue the history of a run resumed in place


class TrainingStarted(L.Callback):
    """Marks the first training batch: errors before it are bad input (exit 2), errors after it are not."""

    def __init__(self) -> None:
        self.started = False

    def on_train_batch_start(self, *args: object) -> None:
        self.started = True


@dataclass
class Resume:
    """A checkpoint this run resumes: its path, its content, and the settings the command line changed."""

    path: str
    state: dict[str, Any]
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    """What :func:`build_run` builds from a config."""

    cfg: DictConfig
    datamodule: L.LightningDataModule | None
    gan: GAN
    callbacks: list[L.Callback]
    loggers: list[Logger]


def instantiate_node(node: Any, key: str) -> Any:
    """``instantiate(node)``; an argument it rejects is bad input naming ``key`` (one line).

    A ``ValueError`` / ``FileNotFoundError`` keeps its type (``dataset.root: ...``); any other failure (an argument
    the target does not take, a target that does not exist) becomes a :class:`ConfigError`.
    """
    try:
        return instantiate(node)
    except InstantiationException as err:
        cause = err.__cause__ or err
        if isinstance(cause, ValueError | FileNotFoundError):
            raise type(cause)(f"{key}: {cause}") from cause
        raise ConfigError(f"{key}: {one_line(cause)}") from cause


def group_members(cfg: DictConfig, group: str) -> dict[str, Any]:
    """Members of a multi-select group (``regularizer=[r1,r2]`` → {"r1": ..., "r2": ...}); none → {}.

    Settings left for a member that is not selected (an experiment's ``regularizer.r1.gamma`` under
    ``regularizer=none`` in a sweep) have no ``_target_``: they are removed from ``cfg`` with a warning naming
    them, so the run's ``config.yaml`` (and every report reading it) shows only what ran.
    """
    node = cfg.get(group)
    members = {} if node is None else {name: node[name] for name in node}
    unselected = sorted(name for name, member in members.items() if "_target_" not in member)
    for name in unselected:
        log.warning(
            f"{group}.{name}: settings for a {group} that is not selected ({group}={cfg_choice(cfg, group)}); ignored"
        )
        with open_dict(cfg):
            del cfg[group][name]
    return {name: member for name, member in members.items() if name not in unselected}


def instantiate_group(cfg: DictConfig, group: str) -> list[Any]:
    """The objects a config group selects: each member of a :data:`MEMBER_GROUPS` mapping, or the one choice of any
    other group (``augment=ada``); none when nothing is selected (``augment=none``: no ``_target_``)."""
    if group in MEMBER_GROUPS:
        return [instantiate_node(node, f"{group}.{name}") for name, node in group_members(cfg, group).items()]
    node = cfg.get(group)
    return [instantiate_node(node, group)] if node is not None and "_target_" in node else []


def cfg_choice(cfg: DictConfig, group: str) -> str:
    """What the command line chose for ``group`` (Hydra's runtime choices), for messages."""
    try:
        return str(HydraConfig.get().runtime.choices.get(group, "?"))
    except ValueError:  # composed outside a Hydra run (tests, compose API)
        return "?"


def job_overrides() -> list[str]:
    """This job's command-line overrides (empty outside a Hydra app)."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def build_gan(node: Any, **parts: Any) -> GAN:
    """The GAN from its config group (a partial of :class:`~lightning_r1.GAN`) and the parts built elsewhere.

    A rejected argument (``gan.d_steps=0``) is re-raised as one line that names the group, as
    :func:`instantiate_node` does.
    """
    make = instantiate_node(
        gan_arguments(node), "gan"
    )  # gan.posthoc_ema configures a callback, not the module
    try:
        return make(**parts)
    except ValueError as err:  # a bad value: gan.d_steps=0
        raise type(err)(f"gan: {err}") from err
    except TypeError as err:  # an argument GAN does not take: +gan.foo=1
        raise ConfigError(f"gan: {one_line(err)}") from err


def gan_of(cfg: DictConfig, **overrides: Any) -> GAN:
    """The GAN a run config describes: ``model`` (G and D), ``loss``, ``optim.g`` / ``optim.d`` and ``iterations``
    passed to the ``gan`` partial; a config without a loss or optimizers (a LightningCLI run's) gets GAN's defaults."""
    models = instantiate_node(cfg.model, "model")  # first: its weights are the first draws after the seed
    parts: dict[str, Any] = {"generator": models.generator, "discriminator": models.discriminator}
    for name, key in (("loss", "loss"), ("optimizer_g", "optim.g"), ("optimizer_d", "optim.d")):
        node = OmegaConf.select(cfg, key, default=None)
        if node is not None:
            parts[name] = instantiate_node(node, key)
    if cfg.get("iterations") is not None:
        parts["iterations"] = cfg.iterations
    return build_gan(cfg.gan, **parts, **overrides)


def build_run(
    cfg: DictConfig,
    run_dir: Path,
    *,
    started: TrainingStarted | None = None,
    resume: Resume | None = None,
    from_checkpoint: bool = False,
) -> Run:
    """Build the run ``cfg`` describes, in the order its random draws depend on: data module, GAN, callbacks, loggers.

    Args:
        cfg: the composed (or saved) run config.
        run_dir: the run directory.
        started: the callback that marks the first training batch (a new one if not given).
        resume: the checkpoint a training run resumes; it is checked against the built GAN before any logger
            starts, and a run resumed in place continues its logged history.
        from_checkpoint: rebuild a trained run (``evaluate``, ``generate``): data module and GAN only, G and D
            eager (no ``torch.compile``), nothing written; else a training run: ``gan.num_classes`` from the data
            (``conditional=true``), ``config.yaml`` written (once, complete), every callback and logger.
    """
    if from_checkpoint:
        datamodule = instantiate_node(cfg.get("dataset"), "dataset")
        return Run(cfg, datamodule, gan_of(cfg, compile=False), callbacks=[], loggers=[])
    for group in MEMBER_GROUPS:
        group_members(cfg, group)  # drops settings left for unselected members, before config.yaml is written
    try:
        datamodule = instantiate_node(cfg.dataset, "dataset")
        configure_classes(cfg, datamodule, run_dir)  # conditional=true: gan.num_classes from the dataset
    finally:  # the one write of config.yaml, also when the data fail (a failed run's record)
        OmegaConf.save(cfg, run_dir / rd.CONFIG, resolve=False)
    gan = gan_of(cfg)
    callbacks = build_callbacks(cfg, run_dir, datamodule, started)
    continue_from_step = None
    if resume is not None:
        check_resumable(resume.path, cfg, gan, resume.state)  # another set-up: one line naming what differs
        if rd.run_dir_of(resume.path).resolve() == run_dir.resolve():  # resumed in place: its history goes on
            continue_from_step = logging_step(resume.state)
        if any(key.startswith("optim.") for key in resume.changes):
            callbacks.append(ApplyOptimizerSettings())  # the restored optimizers take this run's values
    return Run(cfg, datamodule, gan, callbacks, build_loggers(cfg, run_dir, continue_from_step))


def build_callbacks(
    cfg: DictConfig, run_dir: Path, datamodule: L.LightningDataModule, started: TrainingStarted | None = None
) -> list[L.Callback]:
    """The run directory's own callbacks (config, samples, checkpoints, summary: every run has them, and a resume
    relies on them), around the callback groups (``regularizer``, ``augment``, ``schedule``, ``metrics``,
    ``callbacks``), in the order their hooks run."""
    callbacks = [
        started or TrainingStarted(),
        SaveRunConfig(cfg),  # every checkpoint carries the config, so a resume can be checked against it
        *instantiate_group(cfg, "regularizer"),
        *instantiate_group(cfg, "augment"),  # augment=diffaug|ada
        SampleGrid(run_dir / rd.SAMPLES, every=cfg.samples_every),
        IterationCheckpoint(  # on the module's iteration counter: skipped steps do not shift the grid
            every_n_iterations=cfg.checkpoint_every or None,
            every_n_epochs=0,  # checkpoint_every=0: no periodic files (last.ckpt is written at the end)
            dirpath=run_dir / rd.CHECKPOINTS,
            filename=rd.CHECKPOINT_FILENAME,
            auto_insert_metric_name=False,
            save_top_k=-1,
            save_last=True,
        ),
        PreemptionCheckpoint(rd.last_checkpoint(run_dir)),
        RunSummary(run_dir / rd.SUMMARY, overrides=job_overrides()),
        *instantiate_group(cfg, "schedule"),  # schedule=r3gan: lr, Adam's β2, EMA half-life over iterations
        *metric_callbacks(cfg, run_dir, datamodule),
        *posthoc_ema_callbacks(cfg, run_dir),  # gan.posthoc_ema.sigma_rels: power-function EMAs of G
        *instantiate_group(cfg, "callbacks"),  # anything else: callbacks.<name>._target_
    ]
    if cfg.trainer.get("enable_progress_bar", True):
        callbacks.append(progress_bar(cfg.get("progress_bar", "auto")))
    return callbacks


def default_metric(datamodule: L.LightningDataModule) -> str:
    """The ``metrics`` config a data module is measured with by default (``BaseDataModule.default_metric``)."""
    return getattr(datamodule, "default_metric", "fid")  # a data module of the user's own: FID


def metric_callbacks(cfg: DictConfig, run_dir: Path, datamodule: L.LightningDataModule) -> list[L.Callback]:
    """The ``metrics`` group's callback, and ``val/class_accuracy`` for conditional MNIST runs; none for
    ``metrics=none``.

    ``metrics=fid`` (the default) with ``feature_extractor: auto`` measures what the data module names as its default
    metric: FID, or on 2-D mixtures (``default_metric = "modes"``, no FID) the mode metrics of ``metrics=modes``.
    """
    metrics = cfg.get("metrics") or {}
    if "_target_" not in metrics:
        return []
    if metrics.get("feature_extractor") == "auto" and default_metric(datamodule) == "modes":
        built = ModeMetrics(every=metrics.get("every", 500), samples_path=run_dir / rd.MODE_SAMPLES)
    else:
        built = instantiate_node(metrics, "metrics")
    return [built, *class_callbacks(cfg, datamodule)]


def progress_bar(kind: str) -> L.Callback:
    """The iteration bar: ``rich`` (Lightning's own choice when rich is installed: ``auto``) or ``tqdm``."""
    if kind not in ("auto", "rich", "tqdm"):
        raise ConfigError(f"progress_bar: expected one of auto, rich, tqdm, got {kind!r}")
    if kind == "auto":
        kind = "rich" if importlib.util.find_spec("rich") is not None else "tqdm"
    return IterationRichProgressBar() if kind == "rich" else IterationProgressBar()


def build_loggers(cfg: DictConfig, run_dir: Path, continue_from_step: int | None = None) -> list[Logger]:
    """The ``logger`` group's loggers, and a :class:`RunCSVLogger` when none writes a CSV history.

    ``continue_from_step``: the logging step of the checkpoint this run resumes in its own directory; the loggers
    that can (``metrics.csv``, wandb) continue that run's history instead of starting a new one.
    """
    loggers = instantiate_group(cfg, "logger")
    if not any(
        isinstance(lg, CSVLogger) for lg in loggers
    ):  # the run directory always keeps its scalar history
        loggers.append(RunCSVLogger(save_dir=run_dir, name="", version=""))
    if continue_from_step is not None:
        for logger in loggers:
            if isinstance(logger, CONTINUING_LOGGERS):
                logger.continue_history(continue_from_step)
    return loggers
