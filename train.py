"""Train a GAN with gradient-penalty regularizers: the same app as ``python -m lightning_r1`` and ``lightning-r1``.

    python train.py                                   # MNIST-5k, DCGAN, R1 — offline, CPU-sized
    python train.py 'regularizer=[r1,r2]' regularizer.r2.gamma=5
    python train.py -m regularizer=none,r1,r2,wgan_gp seed=0,1

Configs live in conf/ (lightning_r1/config_dir.py); errors and exit codes: lightning_r1/__main__.py and docs/faults.md.
"""

from lightning_r1.__main__ import main

if __name__ == "__main__":
    main()
