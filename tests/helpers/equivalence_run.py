"""The scale-equivalence harness's runner (not a test itself): runs named cases, one after another, through
``lightning_r1.app.train`` — the function behind ``python train.py`` — on configs composed by Hydra as the CLI does.

    python tests/helpers/equivalence_run.py OUT_DIR WORLD CASE [CASE ...]

With WORLD > 1 the test starts WORLD copies with ``LOCAL_RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT`` set,
as ``torchrun`` does; Lightning then joins these processes (``trainer=ddp``, gloo on CPU) instead of starting its
own, so one process group serves every case and start-up is paid once. Each case runs on the same *global* batch
(``GLOBAL_BATCH``): ``batch_size`` is ``GLOBAL_BATCH / WORLD`` per process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from conftest import compose_config
from lightning_r1.app import train
from lightning_r1.errors import NonFiniteLossError

GLOBAL_BATCH = 16
TOY = ["dataset=ring8", "model=mlp", "model.hidden=16", "model.layers=2", "gan.latent_dim=4", "iterations=6",
       "metrics=none", "gan.diagnostics_every=2"]  # fmt: skip
FLOAT64 = [
    "trainer.precision=64-true"
]  # see tests/distributed/test_scale_equivalence.py for why the harness runs in float64
NAN_PROBE = ["+callbacks.nan_probe._target_=helpers.probes.NaNOnSlice", "+callbacks.nan_probe.d_step=3"]
IMAGES = ["dataset=mnist_5k", "dataset.resolution=16", "model=resnet", "model.width=4", "model.nf_max=8",
          "gan.latent_dim=8", "iterations=3", "metrics=none", "gan.diagnostics_every=2"]  # fmt: skip

CASES: dict[str, list[str]] = {
    "none": [*TOY, *FLOAT64, "regularizer=none"],
    "r1": [*TOY, *FLOAT64, "regularizer=r1", "regularizer.r1.gamma=1"],
    "r2": [*TOY, *FLOAT64, "regularizer=r2", "regularizer.r2.gamma=1"],
    "r1_r2": [*TOY, *FLOAT64, "regularizer=[r1,r2]", "regularizer.r1.gamma=1", "regularizer.r2.gamma=0.5"],
    "wgan_gp": [*TOY, *FLOAT64, "regularizer=wgan_gp", "loss=wasserstein"],
    "zero_gp": [*TOY, *FLOAT64, "regularizer=zero_gp"],
    "approx_r1": [*TOY, *FLOAT64, "regularizer=approx_r1", "regularizer.approx_r1.gamma=1"],
    "approx_r1_quarter": [
        *TOY,
        *FLOAT64,
        "regularizer=approx_r1",
        "regularizer.approx_r1.batch_fraction=0.25",
    ],
    "approx_r1_r2_relativistic": [
        *TOY,
        *FLOAT64,
        "regularizer=[approx_r1,approx_r2]",
        "loss=relativistic",
        "regularizer.approx_r2.batch_fraction=0.5",
    ],  # fmt: skip
    "instance_noise": [
        *TOY,
        *FLOAT64,
        "regularizer=[r1,instance_noise]",
        "regularizer.instance_noise.sigma=0.05",
    ],
    "lazy_r1_r2_corrected": [
        *TOY,
        *FLOAT64,
        "regularizer=[r1,r2]",
        "regularizer.r1.every=2",
        "regularizer.r2.every=2",
        "regularizer.r1.lazy_correction=true",
        "regularizer.r2.lazy_correction=true",
    ],
    "cosine_gamma": [*TOY, *FLOAT64, "regularizer.r1.gamma={kind:cosine,start:10.0,end:0.1}"],
    "loss_minimax": [*TOY, *FLOAT64, "loss=minimax"],
    "loss_hinge": [*TOY, *FLOAT64, "loss=hinge"],
    "loss_wasserstein": [*TOY, *FLOAT64, "loss=wasserstein", "regularizer.r1.gamma=1"],
    "loss_relativistic": [*TOY, *FLOAT64, "loss=relativistic", "regularizer=[r1,r2]"],
    "d_steps_2": [*TOY, *FLOAT64, "gan.d_steps=2"],
    "simultaneous": [*TOY, *FLOAT64, "gan.update=simultaneous"],
    "ema_after_rampup": [*TOY, *FLOAT64, "gan.ema_half_life_images=32", "gan.ema_rampup=0.5"],
    "skip_nan_on_one_rank": [*TOY, *FLOAT64, "gan.skip_nonfinite=true", *NAN_PROBE],
    "stop_nan_on_one_rank": [*TOY, *FLOAT64, *NAN_PROBE],
    "images_auto_gamma": [*IMAGES, *FLOAT64, "regularizer.r1.gamma=auto", "gan.ema_half_life_images=32"],
    # 12 images: 8 per process passes a per-process check, but the global batch of 16 does not fit (both must refuse)
    "global_batch_over_dataset": [
        "dataset=image_folder",
        "dataset.root=${run_dir}/../twelve_images",
        "dataset.resolution=16",
        "dataset.channels=1",
        "dataset.num_workers=0",
        "model=resnet",
        "model.width=4",
        "model.nf_max=8",
        "gan.latent_dim=8",
        "iterations=2",
        "metrics=none",
    ],  # fmt: skip
    # D's input augmentation (ADA, adapting every D step), LeCam, spectral norm, limited and mirrored data
    "images_ada_lecam_sn": [
        *IMAGES,
        *FLOAT64,
        "augment=ada",
        "augment.interval=1",
        "augment.speed_images=64",
        "augment.p=0.9",
        "regularizer=[r1,lecam]",
        "model.spectral_norm=true",
        "dataset.limit=40",
        "dataset.mirror=true",
    ],  # fmt: skip
    "resumed_r1": [*TOY, *FLOAT64, "regularizer=r1", "regularizer.r1.gamma=1"],  # stopped at 3, resumed to 6
    # class-conditional (ring8's mode index as label): uniform fake labels are drawn for the global batch
    "conditional_uniform": [
        *TOY,
        *FLOAT64,
        "conditional=true",
        "gan.fake_labels=uniform",
        "regularizer=[r1,r2]",
    ],
    "conditional_wgan_gp": [*TOY, *FLOAT64, "conditional=true", "regularizer=wgan_gp", "loss=wasserstein"],
    "resumed_conditional": [
        *TOY,
        *FLOAT64,
        "conditional=true",
        "gan.fake_labels=uniform",
        "regularizer=[r1,r2]",
    ],
    "bf16": [*TOY, "trainer.precision=bf16-mixed", "regularizer=[r1,r2]"],
    "bf16_reference_float32": [*TOY, "trainer.precision=32-true", "regularizer=[r1,r2]"],
}


def overrides_for(case: str, world: int, run_dir: Path) -> list[str]:
    """The case's overrides plus what N processes on the same global batch need (what a user would type)."""
    scale = ["trainer.accelerator=cpu", f"batch_size={GLOBAL_BATCH // world}"]
    if world > 1:
        scale += ["trainer=ddp", f"trainer.devices={world}"]
    digest = [
        "+callbacks.rng_digest._target_=helpers.probes.RNGDigest",
        f"+callbacks.rng_digest.directory={run_dir}",
    ]
    return [*CASES[case], *scale, *digest]


def write_images(directory: Path, count: int) -> None:
    """``count`` small grey PNGs (the same on every process: written once, by whoever comes first)."""
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        path = directory / f"{i:02d}.png"
        if not path.exists():
            Image.fromarray(np.full((16, 16), 10 * i, dtype=np.uint8)).save(path)


def main(out_dir: str, world: int, cases: list[str]) -> None:
    torch.set_num_threads(1)
    write_images(Path(out_dir) / f"world{world}" / "twelve_images", 12)
    for case in cases:
        run_dir = Path(out_dir) / f"world{world}" / case
        overrides = overrides_for(case, world, run_dir)
        try:
            if case.startswith(
                "resumed_"
            ):  # the first half in its own run directory, then resume from its end
                first = run_dir / "first_half"
                train(compose_config([*overrides, "iterations=3"], first))
                overrides.append(f"ckpt_path={first / 'checkpoints' / 'last.ckpt'}")
            train(compose_config(overrides, run_dir))
        except (
            NonFiniteLossError,
            ValueError,
        ) as err:  # every process must stop, at the same step, and say why
            rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
            (run_dir / f"error_rank{rank}.json").write_text(json.dumps({"message": str(err)}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3:])
