"""What every benchmark script shares: constants, models, real batches, process set-up and the machine."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import platform
import sys
import warnings
from typing import Any

import torch
from torch import Tensor, nn

from bench.allocator import malloc_mode

GAMMA = 10.0  # strength of every gradient penalty
LATENT_DIM = 64
BETAS = (0.0, 0.99)  # Adam, for G and D
LR = 2e-4


@dataclasses.dataclass
class RunSettings:
    """What all the variants of one run share, besides the models and the batches."""

    device: str = "cpu"
    precision: str = "32"  # "32" or "bf16" (bf16 autocast)
    compile: bool = False  # torch.compile G and D
    diagnostics_every: int = 0  # GAN.diagnostics_every; the raw loop logs no gradient norms
    flush_denormal: bool = False  # torch.set_flush_denormal(True) in every thread

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunSettings:
        return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return torch.bfloat16 if self.precision == "bf16" else None


def build_models(
    model: str, resolution: int, width: int, cardinality: int = 8
) -> tuple[nn.Module, nn.Module]:
    """A fresh (generator, discriminator) pair for 1-channel images (r3gan: ``width`` channels in every stage,
    one block per stage, ``cardinality`` groups)."""
    from lightning_r1.models.dcgan import build_dcgan
    from lightning_r1.models.r3gan import build_r3gan
    from lightning_r1.models.resnet import build_resnet

    if model == "r3gan":
        pair = build_r3gan(LATENT_DIM, resolution, channels=1, widths=width, cardinality=cardinality)
        return pair[0], pair[1]
    build = {"dcgan": build_dcgan, "resnet": build_resnet}[model]
    pair = build(latent_dim=LATENT_DIM, resolution=resolution, channels=1, width=width)
    return pair[0], pair[1]


def parameter_counts(generator: nn.Module, discriminator: nn.Module) -> dict[str, int]:
    """Trainable parameters of each network."""
    return {name: sum(p.numel() for p in net.parameters()) for name, net in (("generator", generator),
            ("discriminator", discriminator))}  # fmt: skip


def real_batches(n: int, batch_size: int, resolution: int, device: torch.device) -> list[Tensor]:
    """``n`` fixed batches of MNIST-5k digits in [-1, 1] (the training data of ``python train.py``)."""
    from lightning_r1.data.mnist_5k import load_mnist_5k
    from lightning_r1.data.transforms import resize_and_scale

    images = resize_and_scale(load_mnist_5k().float().div(255.0), resolution)
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(0))
    order = order.repeat(-(-n * batch_size // len(order)))  # enough indices for n batches
    return [images[order[i * batch_size : (i + 1) * batch_size]].contiguous().to(device) for i in range(n)]


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that a timestamp taken next includes it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def set_up_process(threads: int | None, flush_denormal: bool = False) -> None:
    """Thread count, denormal mode, and quiet warnings and Lightning logs for a benchmark run."""
    if threads:
        torch.set_num_threads(threads)
    torch.set_flush_denormal(flush_denormal)
    warnings.filterwarnings("ignore")
    import lightning  # noqa: F401  (configures its loggers on import; quieten them after)

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)


def machine(device: str) -> dict[str, Any]:
    """CPU, core and thread counts, versions, current load average (and the GPU's name on CUDA)."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average": list(os.getloadavg()),
        "device": device,
        "malloc": malloc_mode(),  # "steady": see bench/allocator.py
    }
    try:
        import lightning

        info["lightning"] = lightning.__version__
    except ImportError:
        pass
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def command_line() -> str:
    """How this process was started, e.g. ``python benchmarks/step_time.py --quick``."""
    return " ".join([os.path.basename(sys.executable), *sys.argv])


def add_device_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)"
    )


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", choices=("dcgan", "resnet", "r3gan"), default="dcgan")
    p.add_argument(
        "--cardinality", type=int, default=8, help="r3gan only: groups of the grouped 3×3 convolutions"
    )
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--width", type=int, default=32, help="base channels of G and D (train.py's default: 32)")
    p.add_argument("--batch-size", type=int, default=64)
