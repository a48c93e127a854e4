"""Naming and lookup of the on-disk cache of real-data features/statistics.

The cache itself is torch-fidelity's: we pass ``input2_cache_name=<key>`` and ``cache_root=<cache_dir>``, and
torch-fidelity stores ``<key>-<extractor>-features-<layer>.pt`` (per-sample features, needed by KID/PRC/IS)
and ``<key>-<extractor>-stat-fid-<layer>.pt`` (mean and covariance, all FID needs). The key names everything
the statistics depend on: dataset, split, resolution, channels, number of real samples, the extractor
weights and the data's identity (for data read from a folder: a hash of the resolved path and of every file's
name, size and modification time, so two folders of the same size never share statistics); torch-fidelity appends
the extractor and layer.

torch-fidelity writes each file atomically (a temporary file, then a rename), so concurrent runs sharing the
cache never read a half-written file; a file damaged otherwise (a full disk, a copy cut short) is found by its zip
checksums, removed and rebuilt (:func:`discard_damaged`).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor
from torch_fidelity.metric_fid import fid_featuresdict_to_statistics
from torch_fidelity.utils_torch import torch_atomic_save

from lightning_r1.errors import zip_problem

DEFAULT_CACHE_DIR = "~/.cache/lightning_r1/fidelity"


def real_cache_key(
    dataset: str,
    split: str,
    resolution: int | str,
    channels: int | str,
    num_real: int,
    weights_tag: str,
    identity: str = "",
) -> str:
    """``lr1-<dataset>-<split>-<res>px-c<channels>-n<num_real>-w<weights_tag>[-d<identity>]``, filesystem-safe."""
    key = f"lr1-{dataset}-{split}-{resolution}px-c{channels}-n{num_real}-w{weights_tag}"
    if identity:
        key += f"-d{identity}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key)


def files_digest(paths: Iterable[Path], base: Path | None = None) -> str:
    """12 hex digits over each file's resolved path (relative to ``base`` when given), size and mtime."""
    digest = hashlib.sha256()
    if base is not None:
        digest.update(str(base.resolve()).encode())
    for path in paths:
        stat = path.stat()
        name = path.relative_to(base) if base is not None else path.resolve()
        digest.update(f"\0{name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:12]


def data_identity(datamodule: Any, dataset: Any) -> str:
    """What tells this data apart from other data of the same name, size and shape (``""``: the name suffices).

    - a dataset of files (``dataset.paths``, e.g. ``dataset=image_folder``): the digest of those files;
    - a data module with a ``root`` folder (torchvision datasets): the digest of every file under it;
    - otherwise (data shipped in a package, generated toys): nothing, the dataset's name is its identity.
    """
    inner = getattr(dataset, "dataset", None)  # torch Subset / wrappers
    paths: Sequence[Path] | None = getattr(dataset, "paths", None) or getattr(inner, "paths", None)
    if paths:
        return files_digest(Path(p) for p in paths)
    root = getattr(datamodule, "root", None)
    if root is not None and Path(root).is_dir():
        root = Path(root)
        files = sorted(p for p in root.rglob("*") if p.is_file())
        return files_digest(files, base=root)
    return ""


def resolve_cache_dir(cache_dir: str | os.PathLike) -> Path:
    """Expand ``~`` and environment variables."""
    return Path(os.path.expandvars(os.path.expanduser(str(cache_dir))))


def real_cache_files(
    cache_dir: Path, key: str, extractor: str, layers: dict[str, str]
) -> dict[str, list[Path]]:
    """The files torch-fidelity reads for the real input, given ``layers`` = {metric: feature layer}.

    Returns:
        ``{"features": [...], "fid_stats": [...]}`` (``fid_stats`` empty when FID is off).
    """
    prefix = f"{key}-{extractor}"
    feats = [cache_dir / f"{prefix}-features-{layer}.pt" for layer in sorted(set(layers.values()))]
    stats = [cache_dir / f"{prefix}-stat-fid-{layers['fid']}.pt"] if "fid" in layers else []
    return {"features": feats, "fid_stats": stats}


def real_pass_needed(cache_dir: Path, key: str, extractor: str, layers: dict[str, str]) -> bool:
    """Whether torch-fidelity will have to run the extractor over the real data.

    FID alone takes torch-fidelity's shortcut that reads only the statistics file; with KID/PRC it needs the
    per-sample features of every requested layer.
    """
    files = real_cache_files(cache_dir, key, extractor, layers)
    if set(layers) == {"fid"} and all(p.is_file() for p in files["fid_stats"]):
        return False
    return not all(p.is_file() for p in files["features"])


def discard_damaged(
    paths: Iterable[Path], verified: dict[Path, tuple[int, int]] | None = None
) -> list[tuple[Path, str]]:
    """Remove cache files whose zip structure or checksums are broken; return ``(path, reason)`` for each.

    ``torch.save`` files are zip archives with a CRC per member, so truncation and flipped bytes are found
    without unpickling anything. ``verified`` ({path: (size, mtime_ns)}) remembers intact files, so an unchanged
    file is read once per run. A file replaced by another process meanwhile (same name, new inode) is left alone.
    """
    damaged: list[tuple[Path, str]] = []
    for path in paths:
        try:
            before = path.stat()
        except FileNotFoundError:
            continue
        stamp = (before.st_size, before.st_mtime_ns)
        if verified is not None and verified.get(path) == stamp:
            continue
        reason = zip_problem(path)
        if reason is None:
            if verified is not None:
                verified[path] = stamp
            continue
        try:
            if (
                path.stat().st_ino == before.st_ino
            ):  # still the file we read, not a fresh one from another run
                path.unlink()
        except FileNotFoundError:
            pass  # another run removed it first
        damaged.append((path, reason))
    return damaged


def write_real_cache(
    cache_dir: Path, cache_key: str, extractor: str, layers: dict[str, str], features: dict[str, Tensor]
) -> None:
    """Real features (and FID statistics) under the names torch-fidelity's own cache reads (:func:`real_cache_files`),
    so a later one-process run finds what N processes computed together (``metrics/sharded.py``)."""
    files = real_cache_files(cache_dir, cache_key, extractor, layers)
    cache_dir.mkdir(parents=True, exist_ok=True)
    for path in files["features"]:
        layer = path.name.removeprefix(f"{cache_key}-{extractor}-features-").removesuffix(".pt")
        torch_atomic_save(features[layer], str(path))
    for path in files["fid_stats"]:
        torch_atomic_save(fid_featuresdict_to_statistics(features, layers["fid"]), str(path))
