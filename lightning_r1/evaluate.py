"""Evaluate a trained checkpoint: every metric its training logs, of its EMA generator.

    python -m lightning_r1.evaluate ckpt_path=outputs/.../checkpoints/last.ckpt
    python -m lightning_r1.evaluate ckpt_path=FILE metrics.num_samples=1000 metrics.kid=true trainer.accelerator=cpu

The models, data and metric settings are rebuilt from the run config saved in the checkpoint, with the values given
on the command line on top. Image data are scored by the run's own metric callback (same latents for the same
``metrics.seed``): :class:`~lightning_r1.metrics.FidelityMetrics` (FID, KID, IS, precision/recall; same cached real
statistics) or, for ``metrics=stacked_mnist``, :class:`~lightning_r1.metrics.StackedMNISTModes`; conditional MNIST
runs add ``val/class_accuracy``; 2-D mixtures are scored by :class:`~lightning_r1.metrics.ModeMetrics`. Writes
``eval.json`` = ``{"metrics": {...}, "provenance": {...}, "checkpoint": "<path>", "iteration": N}`` into the run
directory and prints the metrics, each beside the run's final training value when both were measured alike (else one
line on stderr naming the provenance field that differs, exit code 0: the values themselves are sound; see
docs/metrics.md, "Provenance"). A missing or damaged checkpoint, or one without a saved config, is one line and exit
code 2.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from lightning_r1 import run_dir as rd
from lightning_r1.build import default_metric, instantiate_node
from lightning_r1.conditional_app import class_callbacks
from lightning_r1.config_dir import CONFIG_DIR
from lightning_r1.errors import check_writable_dir, run_app
from lightning_r1.from_checkpoint import TrainedRun, TrainerWithData, load_run, quote_paths, setup_step
from lightning_r1.metrics import IterationMetric, MetricsSetupError, ModeMetrics
from lightning_r1.metrics.provenance import difference
from lightning_r1.version_flag import answers_version

log = logging.getLogger(__name__)

FIDELITY = "lightning_r1.metrics.FidelityMetrics"
TOY_NUM_SAMPLES = 2500  # the points ModeMetrics scores during training (PacGAN's 2,500)


def given(node: DictConfig | dict | None) -> dict[str, Any]:
    """The values set (non-null) in an override node."""
    if not node:
        return {}
    values = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    return {k: v for k, v in values.items() if v is not None}


def metrics_config(run_cfg: DictConfig, overrides: dict[str, Any]) -> DictConfig:
    """The run's ``metrics`` node (FidelityMetrics' defaults if it had none) with ``overrides`` on top; no
    ``samples_path`` (evaluate writes eval.json only, never the run's sample files)."""
    saved = run_cfg.get("metrics")
    base = (
        saved
        if isinstance(saved, DictConfig) and "_target_" in saved
        else OmegaConf.create({"_target_": FIDELITY})
    )
    node = OmegaConf.merge(base, overrides)
    if "samples_path" in node:
        node.samples_path = None
    return node


def evaluate_run(
    run: TrainedRun, metric_overrides: dict[str, Any] | None = None, provenance: dict[str, Any] | None = None
) -> dict[str, float]:
    """Every metric the run's training logs, of its EMA generator: mode metrics on 2-D mixtures; StackedMNIST's modes
    (``metrics=stacked_mnist``); else FidelityMetrics' values (none when the data have no feature extractor, e.g.
    the Dirac-GAN); and ``val/class_accuracy`` where the run has it (conditional MNIST runs). ``provenance``, when
    given, receives each value's provenance record (docs/metrics.md, "Provenance").

    Raises:
        MetricsSetupError: the metric cannot be computed (e.g. Inception weights missing offline).
        ConfigError: a bad metrics value.
    """
    overrides = dict(metric_overrides or {})
    gan, dm = run.gan, run.datamodule
    view = TrainerWithData(run.trainer, dm)
    if default_metric(dm) == "modes":  # 2-D mixtures: what ModeMetrics logs during training
        metric = setup_step(
            lambda: ModeMetrics(
                every=0,
                num_samples=overrides.get("num_samples", TOY_NUM_SAMPLES),
                seed=overrides.get("seed", 0),
            )
        )
        metric.on_fit_start(view, gan)
        return measured(metric, gan, provenance)
    node = metrics_config(run.cfg, overrides)
    metric = setup_step(lambda: instantiate_node(node, "metrics"))
    setup_step(dm.prepare_data)
    setup_step(lambda: dm.setup("fit"))  # FidelityMetrics reads dm.train_dataset (the real images)
    values = image_metrics(metric, view, gan, provenance)
    for extra in class_metrics(run, node):  # val/class_accuracy (conditional_app.class_callbacks)
        setup_step(lambda extra=extra: extra.on_fit_start(view, gan))
        values.update(measured(extra, gan, provenance))
    return values


def measured(metric: IterationMetric, gan: Any, provenance: dict[str, Any] | None) -> dict[str, float]:
    """``metric.compute(gan)``; each value's provenance record into ``provenance`` when given."""
    values = metric.compute(gan)
    if provenance is not None:
        provenance.update({key: metric.provenance[key] for key in values if key in metric.provenance})
    return values


def image_metrics(
    metric: IterationMetric, view: TrainerWithData, gan: Any, provenance: dict[str, Any] | None = None
) -> dict[str, float]:
    """The values of the run's image metric callback (FidelityMetrics or StackedMNISTModes), set up as in training;
    none when it is inactive (FID of data without a feature extractor, e.g. the Dirac-GAN)."""
    setup_step(lambda: metric.on_fit_start(view, gan))
    if not metric.active:
        log.warning("evaluate: %s is inactive for this dataset; no metrics", type(metric).__name__)
        return {}
    return measured(metric, gan, provenance)


def class_metrics(run: TrainedRun, node: DictConfig) -> list[Any]:
    """The class-accuracy callback the app adds to this run (with the evaluated ``metrics`` settings), if any."""
    cfg = run.cfg.copy()
    with open_dict(cfg):
        cfg.metrics = node
    callbacks = class_callbacks(cfg, run.datamodule)
    seed = node.get("seed")
    for callback in callbacks:
        callback.seed = callback.seed if seed is None else int(seed)
    return callbacks


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """The app: rebuild the run from ``cfg.ckpt_path``, compute its metrics, write and return ``eval.json``'s content."""
    run = load_run(
        cfg.ckpt_path,
        accelerator=cfg.trainer.accelerator,
        precision=cfg.trainer.get("precision"),
        dataset_overrides=cfg.get("dataset"),
    )
    overrides = given(cfg.get("metrics"))
    if cfg.get("seed") is not None:
        overrides.setdefault("seed", cfg.seed)
    out = Path(str(cfg.out)).expanduser() if cfg.get("out") else run.run_dir / rd.EVAL
    check_writable_dir("out", out.parent)  # before the metrics are computed, not after
    provenance: dict[str, Any] = {}
    metrics = evaluate_run(run, overrides, provenance)
    result = {"metrics": metrics, "provenance": provenance, "checkpoint": str(run.checkpoint.absolute()),
              "iteration": run.iteration}  # fmt: skip
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(out)  # a reader never sees half a file
    print(f"iteration {run.iteration}: " + ", ".join(f"{k}={v:.6g}" for k, v in metrics.items()))
    beside, refused = beside_training(run.run_dir / rd.SUMMARY, metrics, provenance)
    for line in beside:
        print(line)
    for line in refused:
        print(line, file=sys.stderr)
    print(f"wrote {out}")
    return result


def beside_training(
    summary_path: Path, values: dict[str, float], provenance: dict[str, Any]
) -> tuple[list[str], list[str]]:
    """Each value beside the run's final training value (``summary.json``) when both were measured alike; for a value
    whose provenance differs, one line naming the field instead (docs/metrics.md, "Provenance").

    Returns:
        ``(lines with both values, refusals)``; both empty without a readable ``summary.json``.
    """
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError):
        return [], []
    trained, recorded = summary.get("metrics") or {}, summary.get("provenance") or {}
    beside, refused = [], []
    for key, value in values.items():
        if trained.get(key) is None:
            continue
        field = difference(provenance.get(key), recorded.get(key))
        if field is None:
            beside.append(
                f"{key}: {value:.6g} here, {trained[key]:.6g} at the end of training (same provenance)"
            )
        else:
            refused.append(f"evaluate: {key} not put beside the run's summary.json value: {field} differs "
                           "(here vs training); see docs/metrics.md, \"Provenance\"")  # fmt: skip
    return beside, refused


@answers_version
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="evaluate")
def main(cfg: DictConfig) -> None:
    run_app(lambda: evaluate(cfg), setup_errors=(MetricsSetupError,))


if __name__ == "__main__":
    sys.argv = quote_paths(sys.argv)  # ckpt_path=…/epoch=3-step=40.ckpt as Lightning names checkpoints
    main()
