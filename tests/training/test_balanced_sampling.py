"""``GAN.sample`` / ``GAN.sample_batches``: one request's conditional labels are class-balanced over the whole
request, however it is chunked (issue 25 item 1: chunked callers used to restart the labels at 0 every chunk)."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from lightning_r1 import GAN
from lightning_r1.metrics.sharded import share


class ClassEcho(nn.Module):
    """A stand-in generator whose sample is the class it was asked for (and the latent's first coordinate)."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        return torch.stack([y.to(z.dtype), z[:, 0]], dim=1) + 0.0 * self.anchor


def echo_gan(num_classes: int) -> GAN:
    return GAN(ClassEcho(), nn.Identity(), latent_dim=3, num_classes=num_classes, ema_half_life_images=0)


@pytest.mark.parametrize("n, batch_size", [(2500, 256), (1000, 999), (7, 1)])
def test_one_request_in_chunks_draws_every_class_balanced(n: int, batch_size: int) -> None:
    k = 1000  # more classes than a chunk
    drawn = echo_gan(k).sample(n, batch_size=batch_size)[:, 0].long()
    expected = [i % k for i in range(n)]  # the i-th sample of the request has class i mod K
    assert drawn.tolist() == expected
    counts = torch.bincount(drawn, minlength=k)
    assert int(counts.max()) - int(counts.min()) <= 1 and int(counts.sum()) == n


def test_sample_batches_are_sample_in_pieces_and_rows_are_its_shares() -> None:
    gan = echo_gan(1000)
    torch.manual_seed(0)
    whole = gan.sample(2100, batch_size=300)
    torch.manual_seed(0)
    pieces = list(gan.sample_batches(2100, batch_size=300))
    assert [p.shape[0] for p in pieces] == [300] * 7
    assert torch.equal(torch.cat(pieces), whole)
    parts = []
    for rank in range(3):
        torch.manual_seed(0)
        parts.append(gan.sample(2100, batch_size=300, rows=share(2100, rank, 3)))
    assert torch.equal(torch.cat(parts), whole)


def test_given_latents_and_labels_are_used_row_for_row() -> None:
    gan = echo_gan(5)
    z = torch.arange(30.0).view(10, 3)
    labels = torch.tensor([4, 4, 3, 0, 1, 2, 2, 2, 0, 1])
    out = gan.sample(10, batch_size=3, labels=labels, z=z)
    assert out[:, 0].long().tolist() == labels.tolist()
    assert out[:, 1].tolist() == z[:, 0].tolist()
    with pytest.raises(ValueError, match="`z` of shape"):
        gan.sample(10, z=z[:9])
    with pytest.raises(ValueError, match="labels"):
        gan.sample(10, labels=labels[:9])
