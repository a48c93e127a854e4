"""Approximate R2 by finite differences: R2 (Mescheder, Geiger, Nowozin 2018, eq. 10) without double backward.

    ApproxR2 = gamma/2 · mean_i (D(x_i + sigma·eps_i) − D(x_i))² / sigma²,   x_i generated,  eps ~ N(0, I)

equal to R2 = gamma/2 · E_{x ~ p_G} ||∇_x D(x)||² in expectation as sigma → 0 (see ``approx_r1.py``). With
``ApproxR1`` and the relativistic loss it is R3GAN's objective (Huang et al. 2024, RpGAN + R1 + R2) with no double
backward anywhere, so D can be ``torch.compile``d or sharded.
"""

from __future__ import annotations

from lightning_r1.regularizers.approx_r1 import ApproxR1


class ApproxR2(ApproxR1):
    """``gamma/2 · mean_i (D(x_i + sigma·eps_i) − D(x_i))² / sigma²`` on generated data. Arguments as ApproxR1."""

    name = "approx_r2"
    side = "fake"  # the finite difference at the fake batch (ApproxR1: "real")
    reads = ("fake",)  # the plain callable runs D on the fake batch only
