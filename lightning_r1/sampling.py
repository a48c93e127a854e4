"""Sampling a trained or training GAN: the one sampling path of sample grids, metrics, ``generate`` and users.

:class:`GeneratorSampling` is the sampling half of :class:`~lightning_r1.GAN` (which inherits it), kept apart
from the training schedule in gan.py: it reads the module's ``generator``, ``generator_ema``, ``latent_dim``,
``num_classes`` and ``device`` and nothing of training. docs/architecture.md, "One sampling path".
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from lightning_r1.checks import check_positive_int, parameter_dtype
from lightning_r1.conditioning import as_extra, balanced_labels, check_labels


class GeneratorSampling:
    """``generate`` (given latents), ``sample`` and ``sample_batches`` (fresh latents, class-balanced labels)."""

    @torch.no_grad()
    def generate(self, z: Tensor, ema: bool = True, labels: Tensor | None = None) -> Tensor:
        """Samples for latents ``z`` from the EMA generator (or the raw one), in eval mode.

        ``labels``: the classes to generate (conditional GANs); None draws class-balanced labels 0, 1, …, K−1, 0, …
        """
        net = self.generator_ema if ema else self.generator
        if self.num_classes is not None and labels is None:
            labels = balanced_labels(z.shape[0], self.num_classes)
        extra = as_extra(None if labels is None else labels.to(self.device).long())
        was_training = net.training
        net.eval()
        try:
            return net(z.to(device=self.device, dtype=parameter_dtype(net)), *extra)  # float64 under 64-true
        finally:
            net.train(was_training)

    def sample(
        self,
        num_samples: int,
        ema: bool = True,
        batch_size: int = 256,
        labels: Tensor | None = None,
        rows: range | None = None,
        z: Tensor | None = None,
    ) -> Tensor:
        """``num_samples`` fresh samples (images in [-1, 1]) on this module's device: :meth:`sample_batches`
        concatenated (the arguments are its)."""
        return torch.cat(list(self.sample_batches(num_samples, ema, batch_size, labels, rows, z)))

    def sample_batches(
        self,
        num_samples: int,
        ema: bool = True,
        batch_size: int = 256,
        labels: Tensor | None = None,
        rows: range | None = None,
        z: Tensor | None = None,
    ) -> Iterator[Tensor]:
        """The samples of one request of ``num_samples``, ``batch_size`` at a time: the one sampling path of grids,
        metrics and ``generate`` (a caller that consumes the batches as they come holds one batch in memory).

        Conditional: of the classes ``labels`` (``[num_samples]``); when None, class-balanced over the whole
        request, the i-th sample of class ``i mod K`` (so a chunked request covers every class, whatever
        ``batch_size``). ``z``: the latents ``[num_samples, latent_dim]`` (default: drawn a batch at a time from
        the global RNG). ``rows``: generate only these rows of that request (every batch's latents are still
        drawn, so they are the same samples); sharded evaluation gives each process its share so
        (``metrics/sharded.py``).
        """
        check_positive_int("num_samples", num_samples)
        check_positive_int("batch_size", batch_size)
        if self.num_classes is not None and labels is None:
            labels = balanced_labels(num_samples, self.num_classes)
        if labels is not None and self.num_classes is not None:
            check_labels(torch.as_tensor(labels), self.num_classes, num_samples)
        if z is not None and tuple(z.shape) != (num_samples, self.latent_dim):
            raise ValueError(
                f"Expected `z` of shape [{num_samples}, {self.latent_dim}], got {tuple(z.shape)}"
            )
        for start in range(0, num_samples, batch_size):
            n = min(batch_size, num_samples - start)
            chunk = torch.randn(n, self.latent_dim, device=self.device) if z is None else z[start : start + n]
            y = None if labels is None else labels[start : start + n]
            if rows is not None:
                keep = slice(max(rows.start - start, 0), max(min(rows.stop - start, n), 0))
                chunk, y = chunk[keep], None if y is None else y[keep]
                if chunk.shape[0] == 0:
                    continue
            yield self.generate(chunk, ema=ema, labels=y)
