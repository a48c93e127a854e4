"""Image folders as users really have them: 16-bit PNGs, truncated JPEGs, folders they may not read.

A truncated JPEG and an unreadable folder go through the real CLI (``python train.py``): one line naming the file,
exit code 2, before training. Tests run as root, whom ``chmod`` does not stop, so the permission tests run their
process without the two capabilities that let root read anything (``setpriv`` dropping ``CAP_DAC_OVERRIDE`` and
``CAP_DAC_READ_SEARCH``): the kernel then denies it a ``chmod 000`` folder exactly as it denies a user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO_ROOT
from lightning_r1.data import ImageFolderDataModule

TRAIN_PY = str(REPO_ROOT / "train.py")
SMALL = ["dataset=image_folder", "dataset.num_workers=0", "dataset.resolution=32", "model.width=8", "batch_size=4",
         "metrics=none", "iterations=2", "samples_every=0", "checkpoint_every=0", "trainer.enable_progress_bar=false"]  # fmt: skip
NO_READ_ANYTHING = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                    "--inh-caps=-dac_override,-dac_read_search"]  # fmt: skip


def cli(args: list[str], cwd: Path, prefix: list[str] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, TRAIN_PY, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=os.environ.copy())  # fmt: skip


def write_jpegs(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i}.jpg" for i in range(count)]
    for i, path in enumerate(paths):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path)
    return paths


def assert_refused_before_training(result: subprocess.CompletedProcess, run_dir: Path, line: str) -> None:
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == f"lightning_r1: error: {line}"
    assert "Traceback" not in result.stderr and not (run_dir / "metrics.csv").exists()


def test_16_bit_pngs_are_read_at_their_depth(tmp_path: Path) -> None:
    """Was: ``convert("L")`` clipped every value above 255 to white (mean 0.995 for mid-grey 16-bit images)."""
    values = [0, 4_000, 32_768, 40_000, 65_535]
    for value in values:
        Image.fromarray(np.full((8, 8), value, dtype=np.uint16)).save(tmp_path / f"{value}.png")
    assert Image.open(tmp_path / "40000.png").mode == "I;16"  # written and read as 16-bit
    for channels in (1, 3):
        dm = ImageFolderDataModule(root=tmp_path, batch_size=1, resolution=8, channels=channels)
        dm.setup("fit")
        for index, path in enumerate(dm.train_dataset.paths):
            expected = int(path.stem) / 65_535 * 2 - 1  # [0, 65535] → [-1, 1]
            image = dm.train_dataset[index]
            assert image.shape == (channels, 8, 8)
            assert torch.allclose(image, torch.full_like(image, expected), atol=1e-6), (
                path.name,
                image.mean(),
            )


def test_32_bit_images_are_refused_before_training(tmp_path: Path) -> None:
    write_jpegs(tmp_path, 2)
    Image.fromarray(np.full((8, 8), 3.5, dtype=np.float32)).save(tmp_path / "float.tiff")
    os.rename(tmp_path / "float.tiff", tmp_path / "float.gif.png")  # an "F" image behind an image extension
    Image.fromarray(np.full((8, 8), 7, dtype=np.int32)).save(tmp_path / "int.bmp.tiff")
    shutil.move(tmp_path / "int.bmp.tiff", tmp_path / "int.webp")
    dm = ImageFolderDataModule(root=tmp_path, batch_size=1, resolution=8)
    with pytest.raises(
        ValueError, match=r"Cannot read image file .*(float.gif.png|int.webp): [IF]-mode images"
    ):
        dm.setup("fit")


def test_a_truncated_jpeg_is_refused_before_training(tmp_path: Path) -> None:
    """Was: PIL's ``verify()`` passed it and the run died when a batch loaded it (exit 1), or trained on."""
    images = write_jpegs(tmp_path / "images", 8)
    data = images[5].read_bytes()
    images[5].write_bytes(data[: len(data) * 2 // 3])  # a copy interrupted two thirds of the way
    run_dir = tmp_path / "run"
    result = cli([*SMALL, f"dataset.root={tmp_path / 'images'}", f"hydra.run.dir={run_dir}"], tmp_path)
    assert_refused_before_training(
        result, run_dir, f"Cannot read image file {images[5]}: truncated JPEG (no end-of-image marker)"
    )


def can_drop_read_capabilities(probe: Path) -> bool:
    if shutil.which("setpriv") is None:
        return False
    probe.mkdir()
    probe.chmod(0)
    try:
        done = subprocess.run([*NO_READ_ANYTHING, "ls", str(probe)], capture_output=True, timeout=30)
    finally:
        probe.chmod(0o755)
    return done.returncode != 0 and b"Permission denied" in done.stderr


@pytest.fixture
def no_read_prefix(tmp_path: Path) -> list[str]:
    if os.geteuid() != 0:
        return []  # an ordinary user: chmod 000 already denies reads
    if not can_drop_read_capabilities(tmp_path / "probe"):
        pytest.skip(
            "cannot run a process that permissions stop (no setpriv, or capabilities cannot be dropped)"
        )
    return NO_READ_ANYTHING


def test_an_unreadable_class_folder_is_named_before_training(
    tmp_path: Path, no_read_prefix: list[str]
) -> None:
    """Was: the folder was skipped without a word (8 of 16 images trained on)."""
    root = tmp_path / "images"
    write_jpegs(root / "cats", 8)
    write_jpegs(root / "dogs", 8)
    (root / "dogs").chmod(0)
    run_dir = tmp_path / "run"
    try:
        result = cli([*SMALL, f"dataset.root={root}", f"hydra.run.dir={run_dir}"], tmp_path, no_read_prefix)
    finally:
        (root / "dogs").chmod(0o755)
    assert_refused_before_training(result, run_dir, f"permission denied: {root / 'dogs'}")


def test_an_unreadable_root_or_file_is_named(tmp_path: Path, no_read_prefix: list[str]) -> None:
    """Was: "No image files found" for an unreadable root; "[Errno 13]" inside a longer line for a file."""
    with_bad_file, unreadable_root = tmp_path / "a", tmp_path / "b"
    bad_file = write_jpegs(with_bad_file, 4)[2]
    write_jpegs(unreadable_root, 4)
    check = (
        "import sys\nfrom lightning_r1.data import ImageFolderDataModule\n"
        "for root in sys.argv[1:]:\n"
        "    try:\n        ImageFolderDataModule(root=root, batch_size=1).setup('fit')\n"
        "    except PermissionError as err:\n        print(err)\n"
    )
    bad_file.chmod(0)
    unreadable_root.chmod(0)
    try:
        done = subprocess.run([*no_read_prefix, sys.executable, "-c", check, str(with_bad_file), str(unreadable_root)],
                              capture_output=True, text=True, timeout=120, env=os.environ.copy())  # fmt: skip
    finally:
        bad_file.chmod(0o644)
        unreadable_root.chmod(0o755)
    assert done.stdout.splitlines() == [
        f"permission denied: {bad_file}",
        f"permission denied: {unreadable_root}",
    ]
