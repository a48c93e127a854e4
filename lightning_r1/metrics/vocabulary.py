"""Every scalar a run logs (``val/*``, ``train/*``), defined once: its key, whether higher is better, what it is.

Read by :class:`~lightning_r1.metrics.IterationMetric`, the shell of every metric callback (``best`` in
``summary.json``), the sweep report (main metric, ranking, ``best`` columns) and the check that a
sweeper's ``direction`` fits its ``objective``. A key missing here (an own callback's metric) has no direction:
it is reported, never ranked.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "METRICS",
    "QUALITY_METRICS",
    "FALLBACK_METRIC",
    "DIAGNOSTICS",
    "Metric",
    "best_of",
    "higher_is_better",
    "is_better",
    "sweeper_direction",
]


@dataclass(frozen=True)
class Metric:
    """One logged scalar.

    Attributes:
        key: the name it is logged under (``val/fid``).
        higher_is_better: ``True`` / ``False``; ``None`` for losses and diagnostics (no better direction).
        description: one line, for docs and reports.
    """

    key: str
    higher_is_better: bool | None
    description: str


# Quality metrics first, in order of preference for a report's main metric (val/fid when a run has it, then the
# toy metrics, ...). Then the training scalars, which have no direction.
METRICS: tuple[Metric, ...] = (
    Metric("val/fid", False, "Fréchet Inception Distance (FidelityMetrics)"),
    Metric("val/reverse_kl", False, "KL(generated modes ‖ data's modes) (ModeMetrics, StackedMNISTModes)"),
    Metric("val/kid_mean", False, "Kernel Inception Distance, mean over subsets (FidelityMetrics)"),
    Metric("val/modes_covered", True, "modes with a (high-quality) sample (ModeMetrics, StackedMNISTModes)"),
    Metric("val/high_quality_pct", True, "% of samples within 3σ of a mode (ModeMetrics)"),
    Metric(
        "val/class_accuracy",
        True,
        "MNIST classifier: share of samples of the class asked for (ClassAccuracy)",
    ),
    Metric("val/intra_fid", False, "mean over classes of per-class FIDs (FidelityMetrics, intra_fid)"),
    Metric("val/isc_mean", True, "Inception Score, mean over splits (FidelityMetrics)"),
    Metric("val/precision", True, "improved precision (FidelityMetrics)"),
    Metric("val/recall", True, "improved recall (FidelityMetrics)"),
    Metric("val/kid_std", None, "KID's standard deviation over subsets (FidelityMetrics)"),
    Metric(
        "train/d_loss",
        None,
        "adversarial discriminator loss, without the penalties (each is train/<name>) (GAN)",
    ),
    Metric("train/g_loss", None, "generator loss (GAN)"),
    Metric("train/d_real", None, "mean D output on real samples (GAN)"),
    Metric("train/d_fake", None, "mean D output on generated samples (GAN)"),
    Metric("train/r1", None, "R1 penalty term (R1)"),
    Metric("train/r2", None, "R2 penalty term (R2)"),
    Metric("train/approx_r1", None, "finite-difference R1 penalty term (ApproxR1)"),
    Metric("train/wgan_gp", None, "WGAN-GP penalty term (WGANGP)"),
    Metric("train/zero_gp", None, "zero-centred interpolation penalty term (ZeroGP)"),
    Metric("train/lecam", None, "LeCam regularization term (LeCam)"),
    Metric("train/aug_p", None, "probability of each augmentation op (Augment, ADA)"),
    Metric("train/ada_rt", None, "ADA's overfitting heuristic E[sign(D(real))] over the last interval (ADA)"),
    Metric("train/grad_norm_real", None, "E‖∇ₓD(x)‖² on real samples (GAN diagnostics)"),
    Metric("train/grad_norm_fake", None, "E‖∇ₓD(x)‖² on generated samples (GAN diagnostics)"),
    Metric("train/nonfinite_skips", None, "steps skipped for a non-finite loss (GAN)"),
    Metric("train/lr_g", None, "G's learning rate this iteration (HyperparameterSchedules)"),
    Metric(
        "train/lr_d", None, "D's learning rate this iteration, lazily corrected (HyperparameterSchedules)"
    ),
    Metric("train/beta2", None, "Adam's beta2 of G this iteration (HyperparameterSchedules)"),
    Metric("train/gamma", None, "R1/R2 gamma this iteration, after its schedule (HyperparameterSchedules)"),
    Metric("train/ema_half_life", None, "EMA half-life in images this iteration (HyperparameterSchedules)"),
    Metric("iteration", None, "generator updates done (GAN)"),
)
_BY_KEY = {m.key: m for m in METRICS}

QUALITY_METRICS: tuple[str, ...] = tuple(m.key for m in METRICS if m.higher_is_better is not None)
"""Keys with a direction, in order of preference for a report's main metric."""
FALLBACK_METRIC = "train/d_loss"
"""A report's main metric when no run logged a quality metric."""
DIAGNOSTICS: tuple[str, ...] = ("train/grad_norm_real", "train/grad_norm_fake")


def higher_is_better(key: str) -> bool | None:
    """``True``/``False`` for a quality metric, ``None`` for a loss, a diagnostic or an unknown key."""
    metric = _BY_KEY.get(key)
    return None if metric is None else metric.higher_is_better


def is_better(key: str, value: float, than: float) -> bool:
    """Whether ``value`` strictly beats ``than`` on ``key``.

    Raises:
        KeyError: ``key`` has no direction.
    """
    higher = higher_is_better(key)
    if higher is None:
        raise KeyError(f"{key!r} has no better direction (not a quality metric)")
    return value > than if higher else value < than


def best_of(key: str, points: list[tuple[float, int]]) -> tuple[float, int] | None:
    """The best ``(value, iteration)`` of ``key`` (the earliest of equal values); ``None`` for no points.

    Raises:
        KeyError: ``key`` has no direction.
    """
    best: tuple[float, int] | None = None
    for value, iteration in points:
        if best is None or is_better(key, value, best[0]):
            best = (value, iteration)
    return best


def sweeper_direction(key: str) -> str:
    """``minimize`` or ``maximize``: what a Hydra sweeper (optuna) optimising ``objective=key`` should do.

    Raises:
        KeyError: ``key`` has no direction.
    """
    higher = higher_is_better(key)
    if higher is None:
        raise KeyError(f"{key!r} has no better direction; give the sweeper's direction yourself")
    return "maximize" if higher else "minimize"
