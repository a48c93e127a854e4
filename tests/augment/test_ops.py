"""The augmentation ops and their draws, against per-sample reference code (tests/helpers/augment_reference.py)."""

from __future__ import annotations

import pytest
import torch

from helpers.augment_reference import augment_by_hand, one_sample
from lightning_r1.augment import ADA, OPS, DiffAugment
from lightning_r1.augment.ops import cutout, translation


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("size", [8, 9])
def test_each_op_matches_the_per_sample_reference(name: str, size: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(16, 3, size, size)
    u = torch.rand(16, OPS[name].draws)
    expected = torch.stack([one_sample(name, x[i], u[i]) for i in range(16)])
    torch.testing.assert_close(OPS[name].apply(x, u), expected)


def test_translation_and_cutout_reach_every_offset_and_are_per_sample() -> None:
    x = torch.ones(64, 1, 8, 8)
    u = torch.rand(64, 2, generator=torch.Generator().manual_seed(1))
    shifted = translation(x, u)
    # shifts in [-1, 1] each axis at size 8: zero rows/columns appear on every side, and samples differ
    assert {int(v) for v in shifted[:, 0, 0, :].sum(1)} >= {0, 8}
    assert len({tuple(m.flatten().tolist()) for m in shifted}) > 3
    holes = (cutout(x, u) == 0).sum((1, 2, 3))
    assert holes.max() == 16 and holes.min() >= 4  # a 4×4 square, clipped at the border


def test_the_whole_augmentation_matches_the_reference_with_per_sample_coins() -> None:
    aug = ADA(target=None, p=0.5)
    torch.manual_seed(2)
    x = torch.randn(12, 3, 8, 8)
    draw = aug.draw(12)
    assert 0 < int(draw.applied["cutout"].sum()) < 12  # p = 1/2: some samples augmented, some not
    torch.testing.assert_close(aug.apply(x, draw), augment_by_hand(x, aug.ops, draw))


def test_the_augmentation_is_differentiable_in_its_input() -> None:
    aug = DiffAugment()
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    draw = aug.draw(3)
    assert torch.autograd.gradcheck(lambda t: aug.apply(t, draw), (x,))


def test_probability_zero_is_the_identity_and_one_augments_everything() -> None:
    x = torch.randn(5, 1, 8, 8)
    assert torch.equal(ADA(target=None, p=0.0)(x), x)
    draw = DiffAugment().draw(5)
    assert all(bool(v.all()) for v in draw.applied.values())


def test_draw_rows_keeps_each_rows_parameters() -> None:
    draw = DiffAugment().draw(6)
    rows = torch.tensor([4, 1, 1])
    sub = draw.rows(rows)
    assert torch.equal(sub.params["translation"], draw.params["translation"][rows])


def test_a_float64_batch_is_augmented_with_float64_parameters() -> None:
    """64-true runs: the uniforms are drawn in float64 (they were float32, rounding e.g. the brightness shift to
    ~1e-8); the shift equals u − ½ of the same float64 draw, computed here."""
    aug = DiffAugment(ops=["brightness"])
    x = torch.zeros(4, 1, 2, 2, dtype=torch.float64)
    torch.manual_seed(3)
    out = aug(x)
    torch.manual_seed(3)
    u = torch.rand(4, 2, dtype=torch.float64)  # [coin, shift] per sample, as draw_uniforms lays them out
    assert torch.equal(out[:, 0, 0, 0], u[:, 1] - 0.5)
    assert aug.draw(4, dtype=torch.float64).params["brightness"].dtype == torch.float64
    assert aug.draw(4, dtype=torch.float32).params["brightness"].dtype == torch.float32
    assert (
        aug.draw(4, dtype=torch.bfloat16).params["brightness"].dtype == torch.float32
    )  # coins stay fine-grained
