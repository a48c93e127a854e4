"""Sharded evaluation's pieces on one process: the shares tile the items in order, and a share of ``GAN.sample``
is the same rows as the whole call (the two-process comparison is tests/distributed/test_ddp.py)."""

from __future__ import annotations

import torch

from lightning_r1 import GAN
from lightning_r1.metrics.sharded import share
from lightning_r1.models.mlp import build_mlp


def test_shares_tile_the_items_in_rank_order_and_differ_by_at_most_one() -> None:
    for n in (2, 7, 250, 501):
        for world in (1, 2, 3, 8):
            parts = [share(n, rank, world) for rank in range(world)]
            assert [i for part in parts for i in part] == list(range(n))
            assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_a_share_of_sample_is_those_rows_of_the_whole_call() -> None:
    models = build_mlp(latent_dim=4, data_dim=2, hidden=8, layers=1)
    gan = GAN(models.generator, models.discriminator, latent_dim=4)
    torch.manual_seed(3)
    whole = gan.sample(10, batch_size=4)  # batches of 4, 4, 2
    for rows in (range(0, 5), range(5, 10), range(3, 4), range(8, 10)):
        torch.manual_seed(3)
        part = gan.sample(10, batch_size=4, rows=rows)
        torch.testing.assert_close(part, whole[rows.start : rows.stop], rtol=1e-6, atol=1e-6)
