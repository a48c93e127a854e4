"""What one discriminator step has already computed, shared by every penalty on that step.

The GAN forwards D once on the real batch and once on the fake batch. When a penalty needs the gradient of D
with respect to its input (R1 on real, R2 on fake), the input was marked ``requires_grad`` *before* that forward,
so the same outputs serve the adversarial loss and the penalty: no second forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    ) -> DiscriminatorPass:
        """Run D once on each batch named in ``sides``, marking inputs whose gradient some consumer needs.

        ``compiled`` (a ``torch.compile``'d D) serves the batches that need no input gradient; torch.compile does
        not support the double backward that R1/R2 take through the others, so those run eagerly.
        """
        real = real.detach().requires_grad_(real_grad)
        fake = None if fake is None else fake.detach().requires_grad_(fake_grad)
        eager_real = discriminator if real_grad or compiled is None else compiled
        eager_fake = discriminator if fake_grad or compiled is None else compiled
        d_real = logits(eager_real, real, *extra) if "real" in sides else None
        other = tuple(extra) if fake_extra is None else tuple(fake_extra)
        d_fake = logits(eager_fake, fake, *other) if "fake" in sides and fake is not None else None
        return cls(discriminator, real, fake, d_real, d_fake, grad_scale, tuple(extra), other)

    def logits_of(self, x: Tensor, rows: Tensor | None = None, side: str = "real") -> Tensor:
        """D's logits at ``x`` with this pass's other inputs (labels), eagerly (penalties differentiate it).

        ``rows``: which rows of the batch ``x`` holds (a subset or repeats), so per-sample extra inputs follow them.
        ``side``: whose other inputs ``x`` goes with, "real" or "fake" (they differ when fakes have other labels).
        """
        n = self.real.shape[0]
        extra = self.fake_extra if side == "fake" and self.fake_extra is not None else self.extra
        if rows is not None:
            extra = tuple(
                e[rows] if isinstance(e, Tensor) and e.dim() and e.shape[0] == n else e for e in extra
            )
        return logits(self.discriminator, x, *extra)

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


def logits(discriminator: nn.Module, x: Tensor, *extra: object) -> Tensor:
    """D's raw logits flattened to ``[N]`` (accepts discriminators returning ``[N]`` or ``[N, 1]``)."""
    out = discriminator(x, *extra)
    return out.reshape(out.shape[0])
