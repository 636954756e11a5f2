"""Training data for DiffLL: real pairs (pair lists, LOL-style folders) and synthetic pairs.

Determinism does not depend on worker count or scheduling: every random choice of an item
(crop position, synthetic darkening) comes from a generator seeded by ``(seed, epoch, index)``,
and the order of items comes from :class:`EpochBatchSampler`, seeded by ``(seed, epoch)``.
The sampler yields ``(epoch, index)`` keys, so resuming at ``(epoch, batch)`` reproduces the
exact stream of batches without replaying the loader.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from diffll.pairs import read_pair_list, resolve_pair_paths
from lldata.imageio import is_image_file, read_rgb
from lowlight_common.records import dataclass_from_dict

__all__ = [
    "EpochBatchSampler",
    "MixedPairDataset",
    "PairItem",
    "PairedImageDataset",
    "SyntheticPairDataset",
    "SyntheticRanges",
    "centre_crop",
    "collate",
    "random_crop",
    "items_from_lol",
    "items_from_pair_list",
    "seed_worker",
    "target_images_of_pair_list",
]

LOW_DIR_NAMES = ("low", "Low", "LOW", "input")
HIGH_DIR_NAMES = ("high", "High", "HIGH", "normal", "Normal", "gt", "GT", "target")
Key = tuple[int, int]


@dataclass(frozen=True)
class PairItem:
    """One (low, target) pair of files; ``name`` identifies it in logs and metrics."""

    low: Path
    target: Path
    name: str


def items_from_pair_list(
    path: str | os.PathLike[str], split: str | None = "train", root: str | os.PathLike[str] | None = None
) -> list[PairItem]:
    """Pairs of one split (``None``: all) of a ``diffll pairs`` list."""
    record = read_pair_list(path)
    base = resolve_pair_paths(record, path, root)
    items = [
        PairItem(base / p["low"], base / p["target"], f"{p['scene']}/{Path(p['low']).stem}")
        for p in record["pairs"]
        if split is None or p["split"] == split
    ]
    return items


def _find_subdir(root: Path, names: Sequence[str], role: str) -> Path:
    for name in names:
        if (root / name).is_dir():
            return root / name
    raise FileNotFoundError(
        f"{root}: no {role} folder (looked for {', '.join(names)}); a LOL-style dataset has "
        "low/ and high/ with matching file names"
    )


def items_from_lol(root: str | os.PathLike[str]) -> list[PairItem]:
    """Pairs of a LOL-style folder: ``low/`` + ``high/`` (or ``Normal/``) with matching stems.

    Any file present on one side only is an error that lists the offending names.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: LOL-style dataset folder not found")
    low_dir = _find_subdir(root, LOW_DIR_NAMES, "low-light")
    high_dir = _find_subdir(root, HIGH_DIR_NAMES, "normal-light")
    low = {p.stem: p for p in sorted(low_dir.iterdir()) if p.is_file() and is_image_file(p)}
    high = {p.stem: p for p in sorted(high_dir.iterdir()) if p.is_file() and is_image_file(p)}
    only_low = sorted(set(low) - set(high))
    only_high = sorted(set(high) - set(low))
    if only_low or only_high:
        parts = []
        if only_low:
            names = ", ".join(low[s].name for s in only_low[:10])
            more = f" and {len(only_low) - 10} more" if len(only_low) > 10 else ""
            parts.append(f"{len(only_low)} in {low_dir} without a match in {high_dir}: {names}{more}")
        if only_high:
            names = ", ".join(high[s].name for s in only_high[:10])
            more = f" and {len(only_high) - 10} more" if len(only_high) > 10 else ""
            parts.append(f"{len(only_high)} in {high_dir} without a match in {low_dir}: {names}{more}")
        raise ValueError(f"{root}: low/high file names do not match; " + "; ".join(parts))
    if not low:
        raise ValueError(f"{root}: no images in {low_dir}")
    return [PairItem(low[s], high[s], f"{root.name}/{s}") for s in sorted(low)]


def target_images_of_pair_list(
    path: str | os.PathLike[str], split: str = "train", root: str | os.PathLike[str] | None = None
) -> list[Path]:
    """Distinct well-exposed targets of one split: clean sources for synthetic pairs."""
    seen: dict[Path, None] = {}
    for item in items_from_pair_list(path, split, root):
        seen.setdefault(item.target, None)
    return list(seen)


def _item_rng(seed: int, epoch: int, index: int, stream: int = 0) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(epoch), int(index), int(stream)])


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    """H x W x 3 uint8 -> 3 x H x W float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255.0)


def _pad_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Reflect-pad bottom/right so that the image is at least ``height`` x ``width``."""
    ph, pw = max(0, height - image.shape[0]), max(0, width - image.shape[1])
    if ph == 0 and pw == 0:
        return image
    mode = "reflect" if ph < image.shape[0] and pw < image.shape[1] else "symmetric"
    return np.pad(image, ((0, ph), (0, pw), (0, 0)), mode=mode)


def random_crop(
    images: Sequence[np.ndarray], size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """The same random ``size`` x ``size`` window of equally sized images (padded if smaller)."""
    images = [_pad_to(im, size, size) for im in images]
    h, w = images[0].shape[:2]
    top = int(rng.integers(0, h - size + 1))
    left = int(rng.integers(0, w - size + 1))
    return [im[top : top + size, left : left + size] for im in images]


def centre_crop(images: Sequence[np.ndarray], size: int | None, multiple: int) -> list[np.ndarray]:
    """Centre window of ``size`` (None: the largest one whose sides are multiples of ``multiple``)."""
    h, w = images[0].shape[:2]
    if size is None:
        ch, cw = (h // multiple) * multiple, (w // multiple) * multiple
        if ch == 0 or cw == 0:
            raise ValueError(f"image {h}x{w} is smaller than the network's multiple {multiple}")
    else:
        images = [_pad_to(im, size, size) for im in images]
        h, w = images[0].shape[:2]
        ch = cw = size
    top, left = (h - ch) // 2, (w - cw) // 2
    return [im[top : top + ch, left : left + cw] for im in images]


def _read_pair(item: PairItem) -> tuple[np.ndarray, np.ndarray]:
    low, target = read_rgb(item.low), read_rgb(item.target)
    if low.shape != target.shape:
        raise ValueError(
            f"{item.low} ({low.shape[1]}x{low.shape[0]}) and {item.target} "
            f"({target.shape[1]}x{target.shape[0]}) differ in size; a pair must be aligned"
        )
    return low, target


class PairedImageDataset(Dataset):
    """Real pairs. Training: random ``patch_size`` crops; evaluation (``patch_size=None``):
    centre crops of ``eval_crop`` (None: whole image cut to a multiple of ``multiple``)."""

    def __init__(
        self,
        items: Sequence[PairItem],
        patch_size: int | None = 256,
        seed: int = 0,
        eval_crop: int | None = None,
        multiple: int = 32,
    ) -> None:
        if not items:
            raise ValueError("PairedImageDataset needs at least one pair")
        self.items = list(items)
        self.patch_size = patch_size
        self.seed = int(seed)
        self.eval_crop = eval_crop
        self.multiple = int(multiple)
        for size in (patch_size, eval_crop):
            if size is not None and size % self.multiple:
                raise ValueError(f"crop size {size} must be a multiple of {self.multiple}")

    def __len__(self) -> int:
        return len(self.items)

    def get(self, epoch: int, index: int) -> dict[str, Any]:
        item = self.items[index]
        low, target = _read_pair(item)
        if self.patch_size is not None:
            low, target = random_crop([low, target], self.patch_size, _item_rng(self.seed, epoch, index))
        else:
            low, target = centre_crop([low, target], self.eval_crop, self.multiple)
        return {"low": _to_tensor(low), "gt": _to_tensor(target), "name": item.name, "synthetic": False}

    def __getitem__(self, key: int | Key) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        return self.get(epoch, index)


@dataclass(frozen=True)
class SyntheticRanges:
    """Ranges the darkening parameters are drawn from (log-uniform for the scale-like ones)."""

    exposure: tuple[float, float] = (0.03, 0.3)
    photons_at_white: tuple[float, float] = (300.0, 5000.0)
    read_noise: tuple[float, float] = (0.0005, 0.006)
    colour_cast: float = 0.1  # each channel gain in [1 - c, 1 + c]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> SyntheticRanges:
        def pair(v: Any) -> tuple[float, ...]:
            return tuple(float(x) for x in v)

        convert = {"exposure": pair, "photons_at_white": pair, "read_noise": pair, "colour_cast": float}
        return dataclass_from_dict(cls, data, "synthetic range key(s)", convert)

    def draw(self, rng: np.random.Generator) -> dict[str, Any]:
        def log_uniform(lo: float, hi: float) -> float:
            return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))

        c = self.colour_cast
        return {
            "exposure": log_uniform(*self.exposure),
            "photons_at_white": log_uniform(*self.photons_at_white),
            "read_noise": float(rng.uniform(*self.read_noise)),
            "colour_cast": tuple(float(v) for v in rng.uniform(1 - c, 1 + c, size=3)),
        }


class SyntheticPairDataset(Dataset):
    """Pairs made on the fly by darkening well-exposed images with ``lldata.synthesis.darken``
    (a physically based exposure + Poisson-Gaussian noise model). Imported lazily: the trainer
    also runs on machines that only have torch and the repository files."""

    def __init__(
        self,
        images: Sequence[Path],
        patch_size: int = 256,
        seed: int = 0,
        ranges: SyntheticRanges | None = None,
    ) -> None:
        if not images:
            raise ValueError("SyntheticPairDataset needs at least one clean image")
        try:
            from lldata.synthesis import DarkenParams, darken
        except ImportError as exc:
            raise ImportError(
                f"synthetic pairs need lldata.synthesis.darken, which is not importable ({exc}); "
                "set data.synthetic_fraction to 0"
            ) from None
        self._darken = darken
        self._params = DarkenParams
        self.images = list(images)
        self.patch_size = int(patch_size)
        self.seed = int(seed)
        self.ranges = ranges or SyntheticRanges()

    def __len__(self) -> int:
        return len(self.images)

    def get(self, epoch: int, index: int, slot: int | None = None) -> dict[str, Any]:
        """Pair made from image ``index``; the crop and darkening are drawn from
        ``(seed, epoch, slot)`` (``slot`` defaults to ``index``), so one image used twice in an
        epoch by :class:`MixedPairDataset` gives two different pairs."""
        path = self.images[index]
        rng = _item_rng(self.seed, epoch, index if slot is None else slot, stream=1)
        (clean,) = random_crop([read_rgb(path)], self.patch_size, rng)
        params = self._params.from_dict(self.ranges.draw(rng))
        low = self._darken(np.ascontiguousarray(clean), params, rng)
        return {"low": _to_tensor(low), "gt": _to_tensor(clean), "name": f"synthetic/{path.stem}", "synthetic": True}

    def __getitem__(self, key: int | Key) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        return self.get(epoch, index)


class MixedPairDataset(Dataset):
    """Real pairs, each slot replaced by a synthetic pair with probability ``synthetic_fraction``.

    The length is that of the real set (or of the synthetic set when there is no real one).
    """

    def __init__(
        self,
        real: PairedImageDataset | None,
        synthetic: SyntheticPairDataset | None,
        synthetic_fraction: float,
        seed: int = 0,
    ) -> None:
        if real is None and synthetic is None:
            raise ValueError("no training data: give a pair list, LOL folders or synthetic images")
        if not 0.0 <= synthetic_fraction <= 1.0:
            raise ValueError(f"synthetic_fraction must be in [0, 1], got {synthetic_fraction}")
        if synthetic_fraction > 0 and synthetic is None:
            raise ValueError("synthetic_fraction > 0 but no synthetic source is configured")
        self.real = real
        self.synthetic = synthetic
        self.fraction = 1.0 if real is None else float(synthetic_fraction)
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.real) if self.real is not None else len(self.synthetic)  # type: ignore[arg-type]

    def __getitem__(self, key: int | Key) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        if self.synthetic is not None and self.fraction > 0:
            rng = _item_rng(self.seed, epoch, index, stream=2)
            if self.real is None or rng.random() < self.fraction:
                return self.synthetic.get(epoch, int(rng.integers(len(self.synthetic))), slot=index)
        assert self.real is not None
        return self.real.get(epoch, index)


class EpochBatchSampler(Sampler[list[Key]]):
    """Endless stream of batches of ``(epoch, index)`` keys; the order of epoch ``e`` is a
    permutation seeded by ``(seed, e)``. Start anywhere with ``start_epoch``/``start_batch``.

    Sets smaller than a batch are repeated within the epoch (fresh permutations).
    """

    def __init__(
        self, size: int, batch_size: int, seed: int = 0, start_epoch: int = 0, start_batch: int = 0
    ) -> None:
        if size < 1 or batch_size < 1:
            raise ValueError(f"need size >= 1 and batch_size >= 1, got {size}, {batch_size}")
        self.size = int(size)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.start_epoch = int(start_epoch)
        self.start_batch = int(start_batch)
        if not 0 <= self.start_batch < self.batches_per_epoch:
            raise ValueError(f"start_batch {start_batch} outside 0..{self.batches_per_epoch - 1}")

    @property
    def batches_per_epoch(self) -> int:
        return max(1, self.size // self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, int(epoch), 7])
        need = self.batches_per_epoch * self.batch_size
        parts = [rng.permutation(self.size)]
        while sum(len(p) for p in parts) < need:
            parts.append(rng.permutation(self.size))
        return np.concatenate(parts)[:need]

    def __iter__(self) -> Iterator[list[Key]]:
        epoch, batch = self.start_epoch, self.start_batch
        while True:
            order = self.order(epoch)
            for b in range(batch, self.batches_per_epoch):
                chunk = order[b * self.batch_size : (b + 1) * self.batch_size]
                yield [(epoch, int(i)) for i in chunk]
            epoch, batch = epoch + 1, 0

    def __len__(self) -> int:  # endless; DataLoader only needs this for len(loader)
        return 2**62


def seed_worker(worker_id: int) -> None:
    """Seed Python/numpy in DataLoader workers from torch's per-worker seed (itself derived
    from the loader's seeded generator), for any library that draws from global state.
    Workers ignore Ctrl-C: the main process handles it and stops cleanly."""
    import signal

    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def collate(batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors; keep names and flags as lists. Crops of one batch must share a size."""
    shapes = {tuple(b["low"].shape) for b in batch}
    if len(shapes) != 1:
        names = ", ".join(b["name"] for b in batch)
        raise ValueError(f"cannot batch images of different sizes {sorted(shapes)}: {names}")
    return {
        "low": torch.stack([b["low"] for b in batch]),
        "gt": torch.stack([b["gt"] for b in batch]),
        "name": [b["name"] for b in batch],
        "synthetic": [bool(b["synthetic"]) for b in batch],
    }
