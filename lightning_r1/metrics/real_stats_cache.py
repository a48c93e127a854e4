"""Naming and lookup of the on-disk cache of real-data features/statistics.

The cache itself is torch-fidelity's: we pass ``input2_cache_name=<key>`` and ``cache_root=<cache_dir>``, and
torch-fidelity stores ``<key>-<extractor>-features-<layer>.pt`` (per-sample features, needed by KID/PRC/IS)
and ``<key>-<extractor>-stat-fid-<layer>.pt`` (mean and covariance, all FID needs). The key names everything
the statistics depend on: dataset, split, resolution, channels, number of real samples and the extractor
weights; torch-fidelity appends the extractor and layer.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

DEFAULT_CACHE_DIR = "~/.cache/lightning_r1/fidelity"


def real_cache_key(
    dataset: str, split: str, resolution: int | str, channels: int | str, num_real: int, weights_tag: str
) -> str:
    """``lr1-<dataset>-<split>-<res>px-c<channels>-n<num_real>-w<weights_tag>``, filesystem-safe."""
    key = f"lr1-{dataset}-{split}-{resolution}px-c{channels}-n{num_real}-w{weights_tag}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key)


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
