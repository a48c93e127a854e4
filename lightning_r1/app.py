"""The Hydra application behind ``train.py``: composed config in, trained run directory out."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import signal
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.loggers import CSVLogger, Logger
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
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
from lightning_r1.callbacks.iteration_checkpoint import DirectCheckpointIO, save_checkpoint_atomically
from lightning_r1.callbacks.posthoc_ema import gan_arguments, posthoc_ema_callbacks
from lightning_r1.callbacks.run_summary import write_failed_summary
from lightning_r1.conditional_app import class_callbacks, configure_classes
from lightning_r1.config_schema import validate_config
from lightning_r1.errors import (
    SETUP_ERRORS,
    CheckpointError,
    ConfigError,
    check_writable_dir,
    mark_bad_input,
    one_line,
)
from lightning_r1.gan import GAN
from lightning_r1.loggers import RunCSVLogger
from lightning_r1.metrics import MetricsSetupError, ModeMetrics
from lightning_r1.resume import SaveRunConfig, check_resumable, load_checkpoint, logging_step
from lightning_r1.resume_config import ApplyOptimizerSettings, config_to_resume
from lightning_r1.run_banner import log_run_start

log = logging.getLogger(__name__)
LIGHTNING_CKPT_NAMES = ("best", "hpc", "registry")  # ckpt_path values Lightning resolves itself
# 143: the shell's code for "ended by SIGTERM" (Lightning's own exit is 0)
SIGTERM_EXIT_CODE = 128 + signal.SIGTERM


def build(node: Any, key: str) -> Any:
    """``instantiate(node)``, with a bad-argument error re-raised as one line that names the config key."""
    try:
        return instantiate(node)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, ValueError | FileNotFoundError):
            raise type(cause)(f"{key}: {cause}") from cause
        raise


def build_gan(node: Any, **parts: Any) -> GAN:
    """The GAN from its config group (a partial of :class:`~lightning_r1.GAN`) and the parts built elsewhere.

    A rejected argument (``gan.d_steps=0``) is re-raised as one line that names the group, as :func:`build` does.
    """
    make = build(gan_arguments(node), "gan")  # gan.posthoc_ema configures a callback, not the module
    try:
        return make(**parts)
    except ValueError as err:  # a bad value: gan.d_steps=0
        raise type(err)(f"gan: {err}") from err
    except TypeError as err:  # an argument GAN does not take: +gan.foo=1
        raise ConfigError(f"gan: {one_line(err)}") from err


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


def cfg_choice(cfg: DictConfig, group: str) -> str:
    """What the command line chose for ``group`` (Hydra's runtime choices), for messages."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return str(HydraConfig.get().runtime.choices.get(group, "?"))
    except ValueError:  # composed outside a Hydra run (tests, compose API)
        return "?"


def build_loggers(cfg: DictConfig, run_dir: Path, continue_from_step: int | None = None) -> list[Logger]:
    """The ``logger`` group's loggers, and a :class:`RunCSVLogger` when none writes a CSV history.

    ``continue_from_step``: the logging step of the checkpoint this run resumes in its own directory; the loggers
    that can (``metrics.csv``, wandb) continue that run's history instead of starting a new one.
    """
    loggers = [build(member, f"logger.{name}") for name, member in group_members(cfg, "logger").items()]
    if not any(
        isinstance(lg, CSVLogger) for lg in loggers
    ):  # the run directory always keeps its scalar history
        loggers.append(RunCSVLogger(save_dir=run_dir, name="", version=""))
    if continue_from_step is not None:
        for logger in loggers:
            if hasattr(logger, "continue_history"):
                logger.continue_history(continue_from_step)
    return loggers


class TrainingStarted(L.Callback):
    """Marks the first training batch: errors before it are bad input (exit 2), errors after it are not."""

    def __init__(self) -> None:
        self.started = False

    def on_train_batch_start(self, *args: object) -> None:
        self.started = True


def build_callbacks(
    cfg: DictConfig, run_dir: Path, datamodule: L.LightningDataModule, started: TrainingStarted | None = None
) -> list[L.Callback]:
    regularizers = [
        build(node, f"regularizer.{name}") for name, node in group_members(cfg, "regularizer").items()
    ]
    callbacks: list[L.Callback] = [
        started or TrainingStarted(),
        SaveRunConfig(cfg),  # every checkpoint carries the config, so a resume can be checked against it
        *regularizers,
        *build_augment(cfg),
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
    ]
    schedule = cfg.get("schedule") or {}
    if "_target_" in schedule:  # schedule=r3gan: learning rates, Adam's β2, EMA half-life over iterations
        callbacks.append(build(schedule, "schedule"))
    callbacks += build_metrics(cfg.get("metrics") or {}, run_dir, datamodule)
    callbacks += class_callbacks(cfg, datamodule)  # val/class_accuracy: conditional runs on MNIST data
    callbacks += posthoc_ema_callbacks(cfg, run_dir)  # gan.posthoc_ema.sigma_rels: power-function EMAs of G
    callbacks += [build(node, f"callbacks.{name}") for name, node in (cfg.get("callbacks") or {}).items()]
    if cfg.trainer.get("enable_progress_bar", True):
        callbacks.append(progress_bar(cfg.get("progress_bar", "auto")))
    return callbacks


def build_augment(cfg: DictConfig) -> list[L.Callback]:
    """The ``augment`` group's callback (``augment=diffaug|ada``), or none (``augment=none``)."""
    node = cfg.get("augment")
    return [build(node, "augment")] if node is not None and "_target_" in node else []


def build_metrics(metrics: DictConfig, run_dir: Path, datamodule: L.LightningDataModule) -> list[L.Callback]:
    """The ``metrics`` group's callback: ``metrics=fid`` (FID; with ``feature_extractor: auto`` on 2-D mixtures, which
    have no FID, the mode metrics of ``metrics=modes`` instead), ``metrics=modes``, or none for ``metrics=none``."""
    if "_target_" not in metrics:
        return []
    auto_on_mixture = (
        metrics.get("feature_extractor") == "auto" and getattr(datamodule, "modes", None) is not None
    )
    if str(metrics["_target_"]).endswith("FidelityMetrics") and auto_on_mixture:
        return [ModeMetrics(every=metrics.get("every", 500), samples_path=run_dir / rd.MODE_SAMPLES)]
    return [build(metrics, "metrics")]


def progress_bar(kind: str) -> L.Callback:
    """The iteration bar: ``rich`` (Lightning's own choice when rich is installed: ``auto``) or ``tqdm``."""
    if kind not in ("auto", "rich", "tqdm"):
        raise ConfigError(f"progress_bar: expected one of auto, rich, tqdm, got {kind!r}")
    if kind == "auto":
        kind = "rich" if importlib.util.find_spec("rich") is not None else "tqdm"
    return IterationRichProgressBar() if kind == "rich" else IterationProgressBar()


def job_overrides() -> list[str]:
    """This job's command-line overrides (empty outside a Hydra app)."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def train(cfg: DictConfig) -> float | None:
    """Build everything the config names, fit, and return the sweep objective (``cfg.objective``) if set.

    An error raised before the first training step (bad values, missing data, an unusable checkpoint or run
    directory, a shape mismatch) is marked as bad input (:func:`lightning_r1.errors.is_bad_input`) and, when the
    run directory exists, recorded in ``summary.json`` as ``status: failed``; its type is unchanged.

    Raises:
        ValueError: on a bad top-level value, before any training step (``ConfigError`` where the app checks).
        CheckpointError: ``ckpt_path`` missing, unreadable or of another set-up.
        KeyError: when ``cfg.objective`` names a metric the run never logged.
        RunDirInUse: the run directory holds an earlier run, or another process trains in it (bad input).
        SystemExit: code 143 after SIGTERM (the checkpoint saved, ``summary.json`` says ``stopped``).
    """
    started = TrainingStarted()
    try:
        return _train(cfg, started)
    except SIGTERMException as stop:  # saved and recorded by the callbacks; schedulers and `&&` see the code
        raise SystemExit(SIGTERM_EXIT_CODE) from stop
    except (*SETUP_ERRORS, MetricsSetupError) as err:
        if not started.started:
            mark_bad_input(err)
            summary = Path(str(cfg.get("run_dir", ""))) / rd.SUMMARY
            ours = not isinstance(err, rd.RunDirInUse)  # never write into another run's folder
            if ours and cfg.get("run_dir") and summary.parent.is_dir() and not summary.exists():
                write_failed_summary(summary, f"{type(err).__name__}: {one_line(err)}", job_overrides())
        raise


def _train(cfg: DictConfig, started: TrainingStarted) -> float | None:
    validate_config(cfg)  # before seeding and building: its error is the only line the run prints
    run_dir = check_writable_dir("run_dir", cfg.run_dir)
    rank_zero = rank_zero_only.rank == 0  # DDP's other processes share rank 0's folder
    with rd.locked(run_dir) if rank_zero else contextlib.nullcontext():
        ckpt_path = checkpoint_to_resume(cfg, run_dir, check_folder=rank_zero)
        return _train_in(run_dir, cfg, ckpt_path, started)


def checkpoint_to_resume(cfg: DictConfig, run_dir: Path, check_folder: bool = True) -> str | None:
    """``ckpt_path`` as given, with ``last`` read as this run directory's ``checkpoints/last.ckpt``.

    With ``check_folder``, a run that does not resume from a checkpoint of ``run_dir`` itself must not reuse a
    folder that holds an earlier run (its checkpoints would be overwritten and the two runs' files mixed).

    Raises:
        CheckpointError: ``ckpt_path=last`` and this run directory has no last checkpoint.
        RunDirInUse: a new run in the folder of an earlier one.
    """
    ckpt = cfg.get("ckpt_path")
    if ckpt is not None and str(ckpt) == "last":
        ckpt = rd.last_checkpoint(run_dir)
        if not ckpt.is_file():
            raise CheckpointError(
                f"ckpt_path: expected a checkpoint to resume, got last, and this run directory has none ({ckpt} "
                "does not exist); give the checkpoint's path, or leave ckpt_path out to start a new run"
            )
    in_place = ckpt is not None and (
        str(ckpt) in LIGHTNING_CKPT_NAMES or rd.run_dir_of(ckpt).resolve() == run_dir.resolve()
    )
    earlier = rd.earlier_run(run_dir) if check_folder and not in_place else None
    if earlier is not None:
        resume = run_dir / earlier if earlier.endswith(".ckpt") else None
        raise rd.RunDirInUse(
            f"run_dir: expected a new folder, got {run_dir}, which holds an earlier run ({earlier}); give this run "
            "a new folder (hydra.run.dir=...)"
            + (f", or resume that run with ckpt_path={resume}" if resume else "")
        )
    return None if ckpt is None else str(ckpt)


def _train_in(
    run_dir: Path, cfg: DictConfig, ckpt_path: str | None, started: TrainingStarted
) -> float | None:
    state, changes = None, {}
    if ckpt_path is not None and ckpt_path not in LIGHTNING_CKPT_NAMES:
        state = load_checkpoint(ckpt_path)  # a damaged file: one line, not a traceback
        overrides = job_overrides() if HydraConfig.initialized() else None
        cfg, changes = config_to_resume(ckpt_path, state, cfg, overrides)
    L.seed_everything(cfg.seed, workers=True, verbose=False)  # no "Seed set" line before an error
    for group in ("regularizer", "logger"):
        group_members(cfg, group)  # drops settings left for unselected members, before config.yaml is written
    OmegaConf.save(cfg, run_dir / rd.CONFIG, resolve=False)
    log_run_start(cfg, run_dir)  # the run directory and the chosen config groups, first on the screen

    datamodule = build(cfg.dataset, "dataset")
    configure_classes(cfg, datamodule, run_dir)  # conditional=true: gan.num_classes from the dataset
    models = build(cfg.model, "model")
    gan = build_gan(
        cfg.gan,
        generator=models.generator,
        discriminator=models.discriminator,
        loss=build(cfg.loss, "loss"),
        optimizer_g=build(cfg.optim.g, "optim.g"),
        optimizer_d=build(cfg.optim.d, "optim.d"),
        iterations=cfg.iterations,
    )
    continue_from_step = None
    callbacks = build_callbacks(cfg, run_dir, datamodule, started)
    if state is not None and ckpt_path is not None:
        check_resumable(ckpt_path, cfg, gan, state)  # another set-up: one line naming what differs
        if rd.run_dir_of(ckpt_path).resolve() == run_dir.resolve():  # resumed in place: its history goes on
            continue_from_step = logging_step(state)
        if any(key.startswith("optim.") for key in changes):
            callbacks.append(ApplyOptimizerSettings())  # the restored optimizers take this run's values
    # checkpoints are written in the run directory, not staged in $TMPDIR (unless trainer.plugins says otherwise)
    plugins = {} if cfg.trainer.get("plugins") else {"plugins": [DirectCheckpointIO()]}
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        **plugins,
        callbacks=callbacks,
        logger=build_loggers(cfg, run_dir, continue_from_step),
        default_root_dir=run_dir,
    )
    for logger in trainer.loggers:  # the whole resolved config, for dashboards and reports
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    trainer.fit(gan, datamodule=datamodule, ckpt_path=ckpt_path)
    # the full state (optimizers, regularizers, RNG), so the run can be resumed from it
    save_checkpoint_atomically(trainer, rd.last_checkpoint(run_dir), weights_only=False)
    log.info("finished; the run's files are in %s", run_dir)  # the banner said where at the start
    return objective_value(cfg, trainer)


def objective_value(cfg: DictConfig, trainer: L.Trainer) -> float | None:
    """The metric a Hydra sweeper optimises (e.g. optuna on ``val/fid``), read from the finished run."""
    name = cfg.get("objective")
    if not name:
        return None
    if name not in trainer.callback_metrics:
        raise KeyError(
            f"objective={name!r} was never logged by this run; logged metrics: {sorted(trainer.callback_metrics)}"
        )
    return float(trainer.callback_metrics[name])
