"""What one discriminator step has already computed, shared by every penalty on that step.

The GAN forwards D once on the real batch and once on the fake batch. When a penalty needs the gradient of D
with respect to its input (R1 on real, R2 on fake), the input was marked ``requires_grad`` *before* that forward,
so the same outputs serve the adversarial loss and the penalty: no second forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from lightning_r1.functional import input_gradient_sq_norm


@dataclass
class DiscriminatorPass:
    """Inputs and logits of one D step; memoises input-gradient norms so R1 and diagnostics share them.

    ``extra`` are D's other inputs (e.g. class labels: ``D(x, y)``), passed through to every D call and never
    differentiated; ``fake_extra`` are the fake batch's, when they differ (fakes generated with other labels). A
    side that was not run (the plain callable runs only what its penalty reads) has logits None.
    """

    discriminator: nn.Module
    real: Tensor
    fake: Tensor | None
    d_real: Tensor | None
    d_fake: Tensor | None
    grad_scale: float = 1.0
    extra: tuple = ()
    fake_extra: tuple | None = None  # None: the same as ``extra``
    _sq_norms: dict[str, Tensor] = field(default_factory=dict)
    augment: Any = None  # an Augment applied after the inputs are marked (docs/augmentation.md)
    draws: dict[str, Any] = field(default_factory=dict)  # its parameters per side, for logits_of(side=)

    @classmethod
    def forward(
        cls,
        discriminator: nn.Module,
        real: Tensor,
        fake: Tensor | None,
        real_grad: bool,
        fake_grad: bool,
        grad_scale: float = 1.0,
        compiled: nn.Module | None = None,
        extra: tuple = (),
        sides: tuple[str, ...] = ("real", "fake"),
        fake_extra: tuple | None = None,
        augment: Any = None,
    ) -> DiscriminatorPass:
        """Run D once on each batch named in ``sides``, marking inputs whose gradient some consumer needs.

        ``compiled`` (a ``torch.compile``'d D) serves the batches that need no input gradient; torch.compile does
        not support the double backward that R1/R2 take through the others, so those run eagerly.
        ``augment`` transforms each batch *after* it is marked, so input gradients reach the un-augmented images.
        """
        real = real.detach().requires_grad_(real_grad)
        fake = None if fake is None else fake.detach().requires_grad_(fake_grad)
        eager_real = discriminator if real_grad or compiled is None else compiled
        eager_fake = discriminator if fake_grad or compiled is None else compiled
        # the augmentation's parameters, one draw per side, applied after the marking above
        draws = {} if augment is None else {"real": augment.draw_like(real), "fake": augment.draw_like(fake)}
        other = tuple(extra) if fake_extra is None else tuple(fake_extra)
        d_real = d_fake = None
        if "real" in sides:
            d_real = logits(eager_real, augmented(real, augment, draws.get("real")), *extra)
        if "fake" in sides and fake is not None:
            d_fake = logits(eager_fake, augmented(fake, augment, draws.get("fake")), *other)
        return cls(
            discriminator,
            real,
            fake,
            d_real,
            d_fake,
            grad_scale,
            tuple(extra),
            other,
            augment=augment,
            draws=draws,
        )

    def logits_of(self, x: Tensor, rows: Tensor | None = None, side: str | None = None) -> Tensor:
        """D's logits at ``x`` with this pass's other inputs (labels), eagerly (penalties differentiate it).

        ``rows``: which rows of the batch ``x`` holds (a subset or repeats), so per-sample extra inputs follow them.
        ``side``: "real" or "fake": whose other inputs (labels) ``x`` goes with (they differ when fakes have other
        labels) and, with an augmentation, whose augmentation parameters it reuses (a finite difference at the real
        batch needs the same augmentation as ``d_real``); None: the real batch's labels and a fresh augmentation
        draw (WGAN-GP's interpolates).
        """
        n = self.real.shape[0]
        extra = self.fake_extra if side == "fake" and self.fake_extra is not None else self.extra
        if rows is not None:
            extra = tuple(
                e[rows] if isinstance(e, Tensor) and e.dim() and e.shape[0] == n else e for e in extra
            )
        draw = (
            self.draws.get(side) if side is not None else None
        )  # the side's own augmentation, or a fresh one
        if draw is not None:
            draw = draw if rows is None else draw.rows(rows)
        elif self.augment is not None:
            draw = self.augment.draw(x.shape[0], x.device, x.dtype)
        return logits(self.discriminator, augmented(x, self.augment, draw), *extra)

    def sq_norm(self, which: str, create_graph: bool = True) -> Tensor:
        """``||∇_x D(x_i)||²`` per sample for ``which`` in {"real", "fake"}; computed once per step."""
        cached = self._sq_norms.get(which)
        if cached is not None and (cached.requires_grad or not create_graph):
            return cached
        inputs, outputs = (self.real, self.d_real) if which == "real" else (self.fake, self.d_fake)
        if inputs is None or outputs is None or not inputs.requires_grad:
            raise RuntimeError(f"the {which} batch was not marked requires_grad before D's forward")
        norms = input_gradient_sq_norm(outputs, inputs, create_graph=create_graph, grad_scale=self.grad_scale)
        self._sq_norms[which] = norms
        return norms


def augmented(x: Tensor, augment: Any, draw: Any) -> Tensor:
    """``x`` through ``augment`` with the parameters ``draw`` (``x`` itself without an augmentation)."""
    return x if augment is None or draw is None else augment.apply(x, draw)


def logits(discriminator: nn.Module, x: Tensor, *extra: object) -> Tensor:
    """D's raw logits flattened to ``[N]`` (accepts discriminators returning ``[N]`` or ``[N, 1]``)."""
    out = discriminator(x, *extra)
    return out.reshape(out.shape[0])
