"""``FidelityMetrics``: FID (and optionally KID, IS, precision/recall) of the EMA generator during training.

Samples go to torch-fidelity in memory (uint8, no PNG files); real-data statistics are computed once and cached
on disk (see ``real_stats_cache``). On one process torch-fidelity's ``calculate_metrics`` does everything; under DDP
every rank generates and featurizes its share and the features are gathered (``sharded``); rank 0's values are
broadcast to all ranks.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch_fidelity
import torch_fidelity.utils as tf_utils
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch.utils.data import Subset
from torch_fidelity.metric_fid import (
    fid_featuresdict_to_statistics,
    fid_featuresdict_to_statistics_cached,
    fid_statistics_to_metric,
)
from torch_fidelity.metric_isc import isc_featuresdict_to_metric
from torch_fidelity.metric_kid import kid_featuresdict_to_metric
from torch_fidelity.metric_prc import prc_featuresdict_to_metric

from lightning_r1.errors import ConfigError, check_writable_dir
from lightning_r1.lightning_compat import attached_trainer
from lightning_r1.metrics.extractor_weights import MetricsSetupError, check_extractor_weights, weights_sha256
from lightning_r1.metrics.inputs import RealImages, UInt8Images
from lightning_r1.metrics.intra_fid import class_indices, dataset_labels, intra_fid
from lightning_r1.metrics.iteration_metric import IterationMetric, check_int
from lightning_r1.metrics.provenance import KID_KEYS, fidelity_provenance
from lightning_r1.metrics.real_stats_cache import (
    DEFAULT_CACHE_DIR,
    data_identity,
    discard_damaged,
    real_cache_files,
    real_cache_key,
    real_pass_needed,
    resolve_cache_dir,
    write_real_cache,
)
from lightning_r1.metrics.sharded import featurize_share, share

# torch-fidelity result key → our log key.
_KEYS = {
    torch_fidelity.KEY_METRIC_FID: "val/fid",
    torch_fidelity.KEY_METRIC_KID_MEAN: "val/kid_mean",
    torch_fidelity.KEY_METRIC_KID_STD: "val/kid_std",
    torch_fidelity.KEY_METRIC_ISC_MEAN: "val/isc_mean",
    torch_fidelity.KEY_METRIC_PRECISION: "val/precision",
    torch_fidelity.KEY_METRIC_RECALL: "val/recall",
}


class FidelityMetrics(IterationMetric):
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
        intra_fid: also log ``val/intra_fid``, the mean over classes of per-class FIDs with ``num_samples / K``
            samples of each class (a class-conditional GAN on labelled data; :mod:`lightning_r1.metrics.intra_fid`).

    The trigger, the forked RNG, ``history``, ``best``, ``summary()`` and the checkpoint state come from
    :class:`~lightning_r1.metrics.iteration_metric.IterationMetric`; under DDP every rank computes its share
    (``sharded``).

    Raises:
        ValueError: on a bad argument.
        MetricsSetupError: in ``on_fit_start``, before any training step, if the metric cannot be computed.
    """

    sharded = True  # under DDP every rank generates and featurizes its share (metrics/sharded.py)
    prog_bar = ("val/fid",)

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
        intra_fid: bool = False,
    ) -> None:
        super().__init__(every, num_samples, seed, min_samples=2)
        self.kid_subset_size = check_int("kid_subset_size", kid_subset_size, 2)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.num_real_samples = (
            None if num_real_samples is None else check_int("num_real_samples", num_real_samples, 2)
        )
        if not (fid or kid or isc or prc):
            raise ValueError("Expected at least one of `fid`, `kid`, `isc`, `prc` to be true, got none")
        self.fid, self.kid, self.isc, self.prc = bool(fid), bool(kid), bool(isc), bool(prc)
        self.feature_extractor = feature_extractor
        self.weights_path = None if weights_path in (None, "") else str(weights_path)
        self.cache_dir = resolve_cache_dir(cache_dir)
        self.verbose = bool(verbose)
        self.intra_fid = bool(intra_fid)
        self._per_class: list[list[int]] = []  # real indices of each class, for intra_fid
        self._on_cuda = False
        self._extractor: str | None = None
        self._kid_subset = self.kid_subset_size
        self._cache_key = ""
        self._real: RealImages | None = None
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
        outcome: tuple[str, ...] = ("", "")
        if trainer.is_global_zero:
            try:
                check_writable_dir(
                    "metrics.cache_dir", self.cache_dir
                )  # an unusable cache: now, not at the end
                tag = check_extractor_weights(name, self.weights_path)
                outcome = ("ok", tag, weights_sha256(name, self.weights_path))
            except (MetricsSetupError, ConfigError) as e:
                outcome = ("error", str(e))
        outcome = trainer.strategy.broadcast(outcome, src=0)
        if outcome[0] == "error":
            raise MetricsSetupError(outcome[1])
        weights_tag, sha256 = outcome[1], outcome[2]

        # every real image, also when training sees only the first `dataset.limit` (docs/augmentation.md)
        dataset = getattr(dm, "reference_dataset", None) or dm.train_dataset
        n_total = len(dataset)
        n_real = n_total if self.num_real_samples is None else min(self.num_real_samples, n_total)
        if n_real == n_total:
            indices = range(n_total)
        else:  # a fixed, seeded subset so the cache key (which names n_real) always means the same images
            indices = torch.randperm(n_total, generator=torch.Generator().manual_seed(0))[:n_real].tolist()
        self._real = RealImages(dataset, indices)
        if self.intra_fid:
            classes = getattr(pl_module, "num_classes", None)
            if classes is None:
                raise MetricsSetupError(
                    "metrics.intra_fid=true needs a class-conditional GAN (conditional=true), got num_classes=None"
                )
            try:
                self._per_class = class_indices(dataset_labels(dataset), list(indices), classes)
            except ValueError as err:
                raise MetricsSetupError(str(err)) from err
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
        record = fidelity_provenance(name, sha256, res, self.num_samples, n_real, self._cache_key)
        self.provenance = {key: record for key in _KEYS.values()}
        for key in KID_KEYS:
            self.provenance[key] = {**record, "kid_subset_size": self._kid_subset}
        if self.intra_fid:  # num_samples // K of each class against that class's real images
            per_class = max(2, self.num_samples // len(self._per_class)) * len(self._per_class)
            key = f"{self._cache_key}-class*of{len(self._per_class)}"
            self.provenance["val/intra_fid"] = {
                **record,
                "num_generated": per_class,
                "real_stats_cache_key": key,
            }
        if trainer.is_global_zero:
            where = self.cache_dir / f"{self._cache_key}-{name}-*"
            state = "will be computed once, at the first evaluation" if self.real_pass_needed() else "cached"
            rank_zero_info(
                f"FidelityMetrics: {self._metric_names()} with '{name}'; real statistics {state}: {where}"
            )

    # -------------------------------------------------------------------------------------------- evaluation
    def _metric_names(self) -> list[str]:
        chosen = {"fid": self.fid, "kid": self.kid, "isc": self.isc, "prc": self.prc}
        return [name for name, on in chosen.items() if on]

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

    def generate(self, pl_module: L.LightningModule, rows: range | None = None) -> UInt8Images:
        """``num_samples`` EMA-generator samples as a uint8 dataset, with the fixed latents of ``seed``.

        ``rows``: only these rows of the ``num_samples`` (a process's share under DDP; ``pl_module.sample`` must
        accept ``rows``, as ``GAN.sample`` does).
        """
        part = {} if rows is None else {"rows": rows}
        samples = self.draw(pl_module.sample, batch_size=self.batch_size, **part)
        if samples.dim() != 4:
            raise ValueError(
                f"FidelityMetrics needs image samples [N, C, H, W], got shape {tuple(samples.shape)}"
            )
        return UInt8Images.from_float(samples)

    def measure(self, pl_module: L.LightningModule) -> dict[str, float]:
        """Generate samples and run torch-fidelity against the (cached) real statistics; under DDP every rank
        featurizes its share and rank 0 scores (the others return ``{}``)."""
        if self._real is None or self._extractor is None:
            raise RuntimeError("FidelityMetrics.compute() before on_fit_start()")
        trainer = attached_trainer(pl_module)
        if trainer is not None and trainer.world_size > 1:
            result = self._compute_sharded(trainer, pl_module)
            if trainer.global_rank != 0:
                return result  # rank 0 scores and broadcasts
        else:
            self.discard_damaged_cache()
            out = torch_fidelity.calculate_metrics(
                input1=self.generate(pl_module), **self._fidelity_kwargs(pl_module)
            )
            result = {ours: float(out[theirs]) for theirs, ours in _KEYS.items() if theirs in out}
        if self.intra_fid:  # per-class FIDs, on rank 0 (metrics/intra_fid.py)
            self._on_cuda = pl_module.device.type == "cuda"
            per_class = max(2, self.num_samples // len(self._per_class))
            result["val/intra_fid"] = intra_fid(
                pl_module,
                self._real.source,
                self._per_class,
                per_class,
                self._class_fid,
                self.seed,
                self.batch_size,
            )[0]
        return result

    def _fidelity_kwargs(self, pl_module: L.LightningModule) -> dict[str, Any]:
        """torch-fidelity's keyword arguments for this callback (all but ``input1``)."""
        return dict(
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

    def _compute_sharded(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        """Every rank featurizes its share (real data too, on a cold cache); rank 0 scores (``sharded``).

        Returns:
            The metrics on rank 0; ``{}`` on the other ranks (the caller broadcasts rank 0's).
        """
        rank, world, device = trainer.global_rank, trainer.world_size, pl_module.device
        kwargs = self._fidelity_kwargs(pl_module)
        layers = self._layers()
        extractor = tf_utils.create_feature_extractor(
            self._extractor, sorted(set(layers.values())), **{**kwargs, "verbose": False}
        )
        cold = False
        if rank == 0:
            self.discard_damaged_cache()
            cold = self.real_pass_needed()
        if trainer.strategy.broadcast(
            cold, src=0
        ):  # the real pass, sharded; rank 0 fills torch-fidelity's cache
            n_real = len(self._real)
            part = Subset(self._real, share(n_real, rank, world))
            real = featurize_share(trainer.strategy, part, n_real, world, extractor, self.batch_size, device)
            if rank == 0:
                write_real_cache(self.cache_dir, self._cache_key, self._extractor, layers, real)
        n = self.num_samples
        mine = self.generate(pl_module, rows=share(n, rank, world))
        fake = featurize_share(trainer.strategy, mine, n, world, extractor, self.batch_size, device)
        if rank != 0:
            return {}
        # torch-fidelity's own functions of features and statistics; the real side read from its cache
        out: dict[str, Any] = {}
        real = None
        if self.kid or self.prc:
            real = tf_utils.extract_featuresdict_from_input_id_cached(2, extractor, **kwargs)
        if self.isc:
            out.update(isc_featuresdict_to_metric(fake, layers["isc"], **kwargs))
        if self.fid:
            stats_real = fid_featuresdict_to_statistics_cached(
                real, self._cache_key, extractor, layers["fid"], **kwargs
            )
            stats_fake = fid_featuresdict_to_statistics(fake, layers["fid"])
            out.update(fid_statistics_to_metric(stats_fake, stats_real, self.verbose))
        if self.kid:
            out.update(kid_featuresdict_to_metric(fake, real, layers["kid"], **kwargs))
        if self.prc:
            out.update(prc_featuresdict_to_metric(fake, real, layers["prc"], **kwargs))
        return {ours: float(out[theirs]) for theirs, ours in _KEYS.items() if theirs in out}

    def _class_fid(self, generated: UInt8Images, real: RealImages, label: int) -> float:
        """FID of one class's samples against that class's real images (their statistics cached per class)."""
        out = torch_fidelity.calculate_metrics(
            input1=generated,
            input2=real,
            input2_cache_name=f"{self._cache_key}-class{label}of{len(self._per_class)}",
            cache_root=str(self.cache_dir),
            cache=True,
            fid=True,
            feature_extractor=self._extractor,
            feature_extractor_weights_path=self.weights_path,
            batch_size=self.batch_size,
            cuda=self._on_cuda,
            save_cpu_ram=True,
            verbose=False,
        )
        return float(out[torch_fidelity.KEY_METRIC_FID])
