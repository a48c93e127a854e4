"""``FidelityMetrics``: FID (and optionally KID, IS, precision/recall) of the EMA generator during training.

Samples go to torch-fidelity in memory (uint8, no PNG files); real-data statistics are computed once and cached
on disk (see ``real_stats_cache``); evaluation runs on global rank 0 and the values are broadcast to all ranks.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch_fidelity
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from lightning_r1.errors import ConfigError, check_writable_dir
from lightning_r1.metrics.extractor_weights import MetricsSetupError, check_extractor_weights
from lightning_r1.metrics.history import MetricHistory
from lightning_r1.metrics.inputs import RealImages, UInt8Images
from lightning_r1.metrics.real_stats_cache import (
    DEFAULT_CACHE_DIR,
    data_identity,
    discard_damaged,
    real_cache_files,
    real_cache_key,
    real_pass_needed,
    resolve_cache_dir,
)
from lightning_r1.step_logging import publish

# torch-fidelity result key → our log key.
_KEYS = {
    torch_fidelity.KEY_METRIC_FID: "val/fid",
    torch_fidelity.KEY_METRIC_KID_MEAN: "val/kid_mean",
    torch_fidelity.KEY_METRIC_KID_STD: "val/kid_std",
    torch_fidelity.KEY_METRIC_ISC_MEAN: "val/isc_mean",
    torch_fidelity.KEY_METRIC_PRECISION: "val/precision",
    torch_fidelity.KEY_METRIC_RECALL: "val/recall",
}


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"Expected `{name}` to be an int >= {minimum}, got {value!r}")
    return value


class FidelityMetrics(MetricHistory, L.Callback):
    """Evaluate the EMA generator with torch-fidelity every ``every`` generator iterations and at the end.

    Args:
        every: evaluate when ``pl_module.iteration`` reaches a multiple of ``every``; 0 = only at the end.
        num_samples: generated samples per evaluation.
        feature_extractor: a torch-fidelity extractor name, or ``"auto"`` = the datamodule's
            ``default_feature_extractor`` (``None`` there, e.g. 2-D toy data, leaves the callback inactive).
        fid, kid, isc, prc: which metrics to compute.
        kid_subset_size: KID subset size; lowered (with a warning) to ``min(num_samples, num_real)`` if larger.
        weights_path: extractor weights file (torch-fidelity's ``feature_extractor_weights_path``).
        cache_dir: where real-data features/statistics are cached (``~`` expanded).
        batch_size: batch size for generation and feature extraction.
        num_real_samples: real images used for the statistics; ``None`` = the whole training set.
        seed: seed of the latent draws (the same latents at every evaluation; the training RNG is untouched).
        verbose: torch-fidelity's progress bar and messages.

    Results: ``history``, ``best``, ``summary()`` and the checkpoint state come from :class:`MetricHistory`.

    Raises:
        ValueError: on a bad argument.
        MetricsSetupError: in ``on_fit_start``, before any training step, if the metric cannot be computed.
    """

    def __init__(
        self,
        every: int = 0,
        num_samples: int = 5000,
        feature_extractor: str | None = "auto",
        fid: bool = True,
        kid: bool = False,
        isc: bool = False,
        prc: bool = False,
        kid_subset_size: int = 1000,
        weights_path: str | None = None,
        cache_dir: str = DEFAULT_CACHE_DIR,
        batch_size: int = 128,
        num_real_samples: int | None = None,
        seed: int = 0,
        verbose: bool = True,
    ) -> None:
        super().__init__()
        self.every = _check_int("every", every, 0)
        self.num_samples = _check_int("num_samples", num_samples, 2)
        self.kid_subset_size = _check_int("kid_subset_size", kid_subset_size, 2)
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.num_real_samples = (
            None if num_real_samples is None else _check_int("num_real_samples", num_real_samples, 2)
        )
        self.seed = _check_int("seed", seed, 0)
        if not (fid or kid or isc or prc):
            raise ValueError("Expected at least one of `fid`, `kid`, `isc`, `prc` to be true, got none")
        self.fid, self.kid, self.isc, self.prc = bool(fid), bool(kid), bool(isc), bool(prc)
        self.feature_extractor = feature_extractor
        self.weights_path = None if weights_path in (None, "") else str(weights_path)
        self.cache_dir = resolve_cache_dir(cache_dir)
        self.verbose = bool(verbose)
        self.active = False
        self._extractor: str | None = None
        self._kid_subset = self.kid_subset_size
        self._cache_key = ""
        self._real: RealImages | None = None
        self._last_seen = 0
        self._verified: dict = {}  # cache files found intact: {path: (size, mtime_ns)}

    @property
    def state_key(self) -> str:
        return self._generate_state_key(feature_extractor=self.feature_extractor)

    # ----------------------------------------------------------------------------------------- setup (fail fast)
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dm = trainer.datamodule
        name = self.feature_extractor
        if name == "auto":
            name = getattr(dm, "default_feature_extractor", None) if dm is not None else None
        if name is None:
            rank_zero_info(
                f"FidelityMetrics: inactive (no feature extractor for dataset {getattr(dm, 'name', dm)!r})"
            )
            self.active = False
            return
        if dm is None or getattr(dm, "train_dataset", None) is None:
            raise MetricsSetupError(
                "FidelityMetrics needs trainer.datamodule with a `train_dataset` (real images)"
            )
        if not callable(getattr(pl_module, "sample", None)):
            raise MetricsSetupError(
                f"FidelityMetrics needs `{type(pl_module).__name__}.sample(num_samples, ema, batch_size)`"
            )
        # Weights: checked (and Inception downloaded) on rank 0 only; the outcome is broadcast so all ranks stop.
        outcome: tuple[str, str] = ("", "")
        if trainer.is_global_zero:
            try:
                check_writable_dir(
                    "metrics.cache_dir", self.cache_dir
                )  # an unusable cache: now, not at the end
                outcome = ("ok", check_extractor_weights(name, self.weights_path))
            except (MetricsSetupError, ConfigError) as e:
                outcome = ("error", str(e))
        outcome = trainer.strategy.broadcast(outcome, src=0)
        if outcome[0] == "error":
            raise MetricsSetupError(outcome[1])
        weights_tag = outcome[1]

        # every real image, also when training sees only the first `dataset.limit` (docs/augmentation.md)
        dataset = getattr(dm, "reference_dataset", None) or dm.train_dataset
        n_total = len(dataset)
        n_real = n_total if self.num_real_samples is None else min(self.num_real_samples, n_total)
        if n_real == n_total:
            indices = range(n_total)
        else:  # a fixed, seeded subset so the cache key (which names n_real) always means the same images
            indices = torch.randperm(n_total, generator=torch.Generator().manual_seed(0))[:n_real].tolist()
        self._real = RealImages(dataset, indices)
        self._kid_subset = self.kid_subset_size
        if self.kid and self.kid_subset_size > min(self.num_samples, n_real):
            self._kid_subset = min(self.num_samples, n_real)
            rank_zero_warn(
                f"FidelityMetrics: kid_subset_size={self.kid_subset_size} > min(num_samples={self.num_samples}, "
                f"real samples={n_real}); using kid_subset_size={self._kid_subset}"
            )
        res = getattr(dm, "resolution", None) or self._real[0].shape[-1]
        channels = getattr(dm, "channels", None) or "x"
        ds_name = getattr(dm, "name", None) or type(dm).__name__
        identity = data_identity(
            dm, dataset
        )  # e.g. which image folder: same-sized folders never share statistics
        self._cache_key = real_cache_key(ds_name, "train", res, channels, n_real, weights_tag, identity)
        self._extractor = name
        self.active = True
        if trainer.is_global_zero:
            where = self.cache_dir / f"{self._cache_key}-{name}-*"
            state = "will be computed once, at the first evaluation" if self.real_pass_needed() else "cached"
            rank_zero_info(
                f"FidelityMetrics: {self._metric_names()} with '{name}'; real statistics {state}: {where}"
            )

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last_seen = int(getattr(pl_module, "iteration", 0))  # after a checkpoint restore

    # ------------------------------------------------------------------------------------------------ triggers
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        if not self.active:
            return
        it = int(pl_module.iteration)
        crossed = self.every > 0 and it // self.every > self._last_seen // self.every
        self._last_seen = it
        if crossed and it != self.last_iteration:
            self._evaluate_and_publish(trainer, pl_module, it)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.active and int(pl_module.iteration) != self.last_iteration:
            self._evaluate_and_publish(trainer, pl_module, int(pl_module.iteration))

    # -------------------------------------------------------------------------------------------- evaluation
    def _metric_names(self) -> list[str]:
        return [m for m in ("fid", "kid", "isc", "prc") if getattr(self, m)]

    def _layers(self) -> dict[str, str]:
        cls = torch_fidelity.registry.FEATURE_EXTRACTORS_REGISTRY[self._extractor]
        return {m: cls.get_default_feature_layer_for_metric(m) for m in self._metric_names()}

    def real_pass_needed(self) -> bool:
        """Whether the next evaluation has to extract real-data features (i.e. the cache is cold)."""
        return real_pass_needed(self.cache_dir, self._cache_key, self._extractor, self._layers())

    def discard_damaged_cache(self) -> list:
        """Remove damaged real-statistics files (with a warning naming each), so torch-fidelity rebuilds them."""
        files = real_cache_files(self.cache_dir, self._cache_key, self._extractor, self._layers())
        damaged = discard_damaged([*files["fid_stats"], *files["features"]], self._verified)
        for path, reason in damaged:
            rank_zero_warn(
                f"FidelityMetrics: the real-statistics cache file {path} is damaged ({reason}); removed it, "
                "the statistics are computed again"
            )
        return damaged

    @torch.no_grad()
    def generate(self, pl_module: L.LightningModule) -> UInt8Images:
        """``num_samples`` EMA-generator samples as a uint8 dataset; fixed latents (``seed``), RNG state restored."""
        device = pl_module.device
        devices = (
            [device.index if device.index is not None else torch.cuda.current_device()]
            if device.type == "cuda"
            else []
        )
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            samples = pl_module.sample(self.num_samples, ema=True, batch_size=self.batch_size)
        if samples.dim() != 4:
            raise ValueError(
                f"FidelityMetrics needs image samples [N, C, H, W], got shape {tuple(samples.shape)}"
            )
        return UInt8Images.from_float(samples)

    def compute(self, pl_module: L.LightningModule) -> dict[str, float]:
        """Generate samples and run torch-fidelity against the (cached) real statistics on this process."""
        if self._real is None or self._extractor is None:
            raise RuntimeError("FidelityMetrics.compute() before on_fit_start()")
        self.discard_damaged_cache()
        out = torch_fidelity.calculate_metrics(
            input1=self.generate(pl_module),
            input2=self._real,
            input2_cache_name=self._cache_key,
            cache_root=str(self.cache_dir),
            cache=True,
            fid=self.fid,
            kid=self.kid,
            isc=self.isc,
            prc=self.prc,
            feature_extractor=self._extractor,
            feature_extractor_weights_path=self.weights_path,
            kid_subset_size=self._kid_subset,
            batch_size=self.batch_size,
            cuda=pl_module.device.type == "cuda",
            save_cpu_ram=True,  # DataLoader without workers: the images are already in memory
            rng_seed=self.seed,
            verbose=self.verbose,
        )
        return {ours: float(out[theirs]) for theirs, ours in _KEYS.items() if theirs in out}

    def _evaluate_and_publish(self, trainer: L.Trainer, pl_module: L.LightningModule, it: int) -> None:
        metrics = self.compute(pl_module) if trainer.is_global_zero else None
        metrics = trainer.strategy.broadcast(metrics, src=0)  # other ranks wait here for rank 0
        self.record(it, metrics)
        # loggers, progress bar and callback_metrics (so ModelCheckpoint can monitor val/fid)
        publish(trainer, pl_module, metrics, prog_bar=("val/fid",))
        rank_zero_info(
            f"FidelityMetrics @ iteration {it}: " + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items())
        )
