"""The Hydra application behind ``train.py``: composed config in, trained run directory out."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.loggers import CSVLogger, Logger
from omegaconf import DictConfig, OmegaConf

from lightning_r1.callbacks import IterationCheckpoint, PreemptionCheckpoint, RunSummary, SampleGrid
from lightning_r1.checks import check_positive_int
from lightning_r1.gan import GAN
from lightning_r1.metrics import ModeMetrics

log = logging.getLogger(__name__)
# The run directory already holds config.yaml when the CSV logger starts; its "not empty" notice is expected.
warnings.filterwarnings("ignore", message=r"Experiment logs directory .* exists and is not empty")


def check_config(cfg: DictConfig) -> None:
    """Top-level knobs checked before anything is built (one-line errors naming the field)."""
    for key in ("iterations", "batch_size"):
        check_positive_int(key, cfg.get(key))


def build(node: Any, key: str) -> Any:
    """``instantiate(node)``, with a bad-argument error re-raised as one line that names the config key."""
    try:
        return instantiate(node)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, ValueError | FileNotFoundError):
            raise type(cause)(f"{key}: {cause}") from cause
        raise


def group_members(cfg: DictConfig, group: str) -> dict[str, Any]:
    """Members of a multi-select group (``regularizer=[r1,r2]`` → {"r1": ..., "r2": ...}); none → {}."""
    node = cfg.get(group)
    return {} if node is None else {name: node[name] for name in node}


def build_loggers(cfg: DictConfig, run_dir: Path) -> list[Logger]:
    loggers = [build(member, f"logger.{name}") for name, member in group_members(cfg, "logger").items()]
    if not any(
        isinstance(lg, CSVLogger) for lg in loggers
    ):  # the run directory always keeps its scalar history
        loggers.append(CSVLogger(save_dir=run_dir, name="", version=""))
    return loggers


def build_callbacks(cfg: DictConfig, run_dir: Path, datamodule: L.LightningDataModule) -> list[L.Callback]:
    regularizers = [
        build(node, f"regularizer.{name}") for name, node in group_members(cfg, "regularizer").items()
    ]
    steps_per_iteration = cfg.gan.d_steps + 1  # Lightning's global_step counts every optimizer step
    callbacks: list[L.Callback] = [
        *regularizers,
        SampleGrid(run_dir / "samples", every=cfg.samples_every),
        IterationCheckpoint(
            dirpath=run_dir / "checkpoints",
            filename="iter_{iteration:.0f}",
            auto_insert_metric_name=False,
            every_n_train_steps=cfg.checkpoint_every * steps_per_iteration or None,
            save_top_k=-1,
            save_last=True,
        ),
        PreemptionCheckpoint(run_dir / "checkpoints" / "last.ckpt"),
        RunSummary(run_dir / "summary.json", overrides=job_overrides()),
    ]
    metrics = cfg.get("metrics") or {}
    if "_target_" in metrics:
        callbacks.append(build(metrics, "metrics"))
    if hasattr(datamodule, "modes"):  # 2-D mixtures: modes covered, high-quality samples, reverse KL
        points = run_dir / "mode_samples.npy"  # the last evaluation's points, for scatter plots in reports
        callbacks.append(ModeMetrics(every=metrics.get("every", 500), samples_path=points))
    callbacks += [build(node, f"callbacks.{name}") for name, node in (cfg.get("callbacks") or {}).items()]
    return callbacks


def job_overrides() -> list[str]:
    """This job's command-line overrides (empty outside a Hydra app)."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def train(cfg: DictConfig) -> float | None:
    """Build everything the config names, fit, and return the sweep objective (``cfg.objective``) if set.

    Raises:
        ValueError: on a bad top-level value, before any training step.
        KeyError: when ``cfg.objective`` names a metric the run never logged.
    """
    check_config(cfg)
    L.seed_everything(cfg.seed, workers=True)
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, run_dir / "config.yaml", resolve=False)

    datamodule = build(cfg.dataset, "dataset")
    models = build(cfg.model, "model")
    gan = GAN(
        generator=models.generator,
        discriminator=models.discriminator,
        latent_dim=cfg.gan.latent_dim,
        loss=build(cfg.loss, "loss"),
        optimizer_g=instantiate(cfg.optim.g),
        optimizer_d=instantiate(cfg.optim.d),
        d_steps=cfg.gan.d_steps,
        update=cfg.gan["update"],  # not .update: DictConfig has an update() method
        iterations=cfg.iterations,
        ema_half_life_images=cfg.gan.ema_half_life_images,
        ema_rampup=cfg.gan.ema_rampup,
        diagnostics_every=cfg.gan.diagnostics_every,
        skip_nonfinite=cfg.gan.skip_nonfinite,
        compile=cfg.gan.compile,
    )
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        callbacks=build_callbacks(cfg, run_dir, datamodule),
        logger=build_loggers(cfg, run_dir),
        default_root_dir=run_dir,
    )
    for logger in trainer.loggers:  # the whole resolved config, for dashboards and reports
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    trainer.fit(gan, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    # the full state (optimizers, regularizers, RNG), so the run can be resumed from it
    trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    log.info("run directory: %s", run_dir)
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
