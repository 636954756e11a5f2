"""Training and validation sets from a training config: SICE pair lists, LOL folders and
synthetic pairs, mixed in the configured proportion; validation is an evenly spaced subset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from diffll.data import (
    MixedPairDataset,
    PairedImageDataset,
    PairItem,
    SyntheticPairDataset,
    SyntheticRanges,
    items_from_lol,
    items_from_pair_list,
    target_images_of_pair_list,
)
from diffll.pairs import read_pair_list
from diffll.training.config import TrainConfig
from lldata.imageio import is_image_file
from lowlight_common.files import sha256_file

__all__ = ["build_datasets"]


def _evenly_spaced(items: list[PairItem], count: int | None) -> list[PairItem]:
    if count is None or count >= len(items):
        return items
    idx = np.linspace(0, len(items) - 1, num=count).round().astype(int)
    return [items[i] for i in sorted(set(idx.tolist()))]


def build_datasets(
    cfg: TrainConfig, multiple: int
) -> tuple[MixedPairDataset, PairedImageDataset | None, dict[str, Any]]:
    """Training set, validation set (None when there is none) and a description for the logs."""
    data, seed = cfg.data, cfg.run.seed
    real: list[PairItem] = []
    val: list[PairItem] = []
    if data.pair_list:
        real += items_from_pair_list(data.pair_list, data.train_split, data.pair_list_root)
        if data.val_split:
            val += items_from_pair_list(data.pair_list, data.val_split, data.pair_list_root)
    for folder in data.lol_dirs:
        real += items_from_lol(folder)
    for folder in data.val_lol_dirs:
        val += items_from_lol(folder)
    synthetic = None
    if data.synthetic_images and (data.synthetic_fraction > 0 or not real):
        if data.synthetic_images == "pair_targets":
            if not data.pair_list:
                raise ValueError("data.synthetic_images = pair_targets needs data.pair_list")
            images = target_images_of_pair_list(data.pair_list, data.train_split, data.pair_list_root)
        else:
            folder = Path(data.synthetic_images)
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder}: data.synthetic_images folder not found")
            images = sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))
            if not images:
                raise ValueError(f"{folder}: no images for synthetic pairs")
        ranges = SyntheticRanges.from_dict(data.synthetic_ranges)
        synthetic = SyntheticPairDataset(images, data.patch_size, seed, ranges)
    if not real and synthetic is None:
        raise ValueError("no training data: set data.pair_list, data.lol_dirs or data.synthetic_images")
    real_set = PairedImageDataset(real, data.patch_size, seed, multiple=multiple) if real else None
    train = MixedPairDataset(real_set, synthetic, data.synthetic_fraction, seed)
    val = _evenly_spaced(val, data.val_max_images)
    val_set = (
        PairedImageDataset(val, None, seed, eval_crop=data.val_crop, multiple=multiple) if val else None
    )
    info: dict[str, Any] = {
        "real_train_pairs": len(real),
        "synthetic_sources": len(synthetic) if synthetic is not None else 0,
        "synthetic_fraction": train.fraction,
        "val_pairs_used": len(val),
        "pair_list": data.pair_list,
        "lol_dirs": list(data.lol_dirs),
    }
    if data.pair_list:
        record = read_pair_list(data.pair_list)
        info["pair_list_counts"] = record.get("counts", {})
        info["pair_list_sha256"] = sha256_file(data.pair_list)
    return train, val_set, info
