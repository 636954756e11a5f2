"""DiffLL training: the authors' Algorithm 1 plus exact resume, EMA validation and budgets.

Per step (Algorithm 1 as released): antithetic timesteps; the noise branch (eps-prediction on
the noised ground-truth LL_K); the full S-step DDIM sampler from fresh noise *with gradients*
through every UNet call; image and bands rebuilt as at inference; every loss with its weight
(:class:`diffll.losses.DiffLLLoss`); Adam; step LR decay; EMA of the weights after every step.

Added for a reproducible pipeline: checkpoints that hold everything for a bit-exact resume
(model, EMA, optimiser, LR scheduler, step, epoch and position in it, every RNG state, config)
written with ``torch.save`` in a ``weights_only``-loadable form; keep-last-k plus best (by
validation PSNR of the EMA weights, fixed start noise); a CSV log; optional bf16 autocast and
activation checkpointing on GPU; a wall-clock budget and SIGTERM/SIGINT that stop cleanly after
saving. Only torch, numpy, Pillow, tqdm and PyYAML are needed, so it runs from a bare checkout
(``PYTHONPATH=. python -m diffll.train_cli train ...``).

Configuration (``diffll train --config FILE``): every key with its default
-------------------------------------------------------------------------

.. code-block:: yaml

    model:            # any DiffLLConfig field; missing keys keep the authors' values, which are
      ch: 64          # UNet base width (multiple of 32)
      ch_mult: [1, 2, 3, 4]
      num_res_blocks: 2
      hfrm_width: 64
      sampling_steps: 10   # S: sampler steps run (with gradients) in every training step
    data:
      pair_list: null          # `diffll pairs` output, e.g. results/sice/pairs.json
      pair_list_root: null     # folder the list's file names are relative to (null: as recorded)
      train_split: train
      val_split: val           # split of the pair list used for validation (null: none)
      lol_dirs: []             # LOL-style folders (low/ + high/) added to the training pairs
      val_lol_dirs: []         # ... and to the validation pairs
      synthetic_fraction: 0.0  # probability that a training slot is a synthetic pair
      synthetic_images: null   # "pair_targets" (the list's train targets) or a folder of images
      synthetic_ranges: {}     # exposure / photons_at_white / read_noise ranges, colour_cast
      patch_size: 256          # random crop side (multiple of the network's pad multiple)
      batch_size: 8
      workers: 2               # DataLoader worker processes (0: load in the main process)
      val_crop: 256            # centre crop for validation (null: whole image)
      val_max_images: 16       # evenly spaced subset of the validation pairs (null: all)
    optim:
      lr: 1.0e-4
      betas: [0.9, 0.999]
      eps: 1.0e-8
      weight_decay: 0.0
      lr_step: 3000            # multiply the LR by lr_gamma every lr_step optimiser steps
      lr_gamma: 0.8            # (the authors: x0.8 every 50 epochs of LOL, about 3000 steps)
      ema_decay: 0.9999
      ema_warmup: false        # decay min(ema_decay, (1+step)/(10+step)): useful for short runs
      grad_clip: null          # max gradient norm (null: none, as the authors)
      loss_weights: {noise: 1, l1: 1, ssim: 1, band: 0.1, tv: 0.01}
      tv_normalisation: spec   # "spec" (reference page) or "authors_code" (see losses.py)
    run:
      seed: 0
      device: auto             # auto | cpu | cuda | cuda:N
      precision: fp32          # fp32 | bf16 (autocast, CUDA only)
      activation_checkpointing: false   # recompute each UNet call in backward (GPU memory)
      attention: sdpa          # UNet attention backend: sdpa | math
      deterministic: true      # deterministic kernels where PyTorch has them
      max_steps: 30000
      max_minutes: null        # wall-clock budget; the run saves and stops before it is spent
      log_every: 10
      val_every: 500
      ckpt_every: 500
      keep_last: 3             # step checkpoints kept (best.pt is kept besides)
      val_seed: 1234           # start noise of validation image k: seeded by val_seed + k

Relative paths are relative to the working directory (the repository root in the workflow).
"""

from __future__ import annotations

import collections
import contextlib
import copy
import csv
import dataclasses
import hashlib
import io
import math
import os
import platform
import random
import re
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from diffll.config import DiffLLConfig
from diffll.data import (
    EpochBatchSampler,
    MixedPairDataset,
    PairedImageDataset,
    PairItem,
    SyntheticPairDataset,
    SyntheticRanges,
    collate,
    items_from_lol,
    items_from_pair_list,
    seed_worker,
    target_images_of_pair_list,
)
from diffll.losses import DiffLLLoss, ssim
from diffll.model import DiffLL
from diffll.pairs import read_pair_list
from lldata.atomic import atomic_write
from lldata.imageio import is_image_file

__all__ = [
    "CHECKPOINT_FORMAT",
    "DataConfig",
    "OptimConfig",
    "RunConfig",
    "TrainConfig",
    "Trainer",
    "find_latest_checkpoint",
    "load_train_config",
    "load_training_checkpoint",
]

CHECKPOINT_FORMAT = "diffll-train-state"
CHECKPOINT_VERSION = 1

LOSS_KEYS = ("noise", "l1", "ssim", "band", "tv")


def _from_dict(cls: type, data: Mapping[str, Any] | None, section: str) -> Any:
    data = dict(data or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown key(s) in section '{section}': {unknown}; known: {sorted(names)}")
    return cls(**data)


@dataclass
class DataConfig:
    pair_list: str | None = None
    pair_list_root: str | None = None
    train_split: str = "train"
    val_split: str | None = "val"
    lol_dirs: list[str] = field(default_factory=list)
    val_lol_dirs: list[str] = field(default_factory=list)
    synthetic_fraction: float = 0.0
    synthetic_images: str | None = None
    synthetic_ranges: dict[str, Any] = field(default_factory=dict)
    patch_size: int = 256
    batch_size: int = 8
    workers: int = 2
    val_crop: int | None = 256
    val_max_images: int | None = 16

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.patch_size < 1 or self.workers < 0:
            raise ValueError("data: batch_size and patch_size must be >= 1, workers >= 0")
        if not 0.0 <= self.synthetic_fraction <= 1.0:
            raise ValueError(f"data.synthetic_fraction must be in [0, 1], got {self.synthetic_fraction}")
        if self.synthetic_fraction > 0 and not self.synthetic_images:
            raise ValueError("data.synthetic_fraction > 0 needs data.synthetic_images")


@dataclass
class OptimConfig:
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    lr_step: int = 3000
    lr_gamma: float = 0.8
    ema_decay: float = 0.9999
    ema_warmup: bool = False
    grad_clip: float | None = None
    loss_weights: dict[str, float] = field(default_factory=dict)
    tv_normalisation: str = "spec"

    def __post_init__(self) -> None:
        self.betas = (float(self.betas[0]), float(self.betas[1]))
        self.lr, self.eps = float(self.lr), float(self.eps)
        unknown = sorted(set(self.loss_weights) - set(LOSS_KEYS))
        if unknown:
            raise ValueError(f"optim.loss_weights: unknown term(s) {unknown}; known: {list(LOSS_KEYS)}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"optim.ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.lr_step < 1:
            raise ValueError(f"optim.lr_step must be >= 1, got {self.lr_step}")

    def weights(self) -> dict[str, float]:
        defaults = {"noise": 1.0, "l1": 1.0, "ssim": 1.0, "band": 0.1, "tv": 0.01}
        return {k: float(self.loss_weights.get(k, v)) for k, v in defaults.items()}


@dataclass
class RunConfig:
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    activation_checkpointing: bool = False
    attention: str = "sdpa"
    deterministic: bool = True
    max_steps: int = 30000
    max_minutes: float | None = None
    log_every: int = 10
    val_every: int = 500
    ckpt_every: int = 500
    keep_last: int = 3
    val_seed: int = 1234

    def __post_init__(self) -> None:
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"run.precision must be fp32 or bf16, got {self.precision!r}")
        if self.attention not in ("sdpa", "math"):
            raise ValueError(f"run.attention must be sdpa or math, got {self.attention!r}")
        for name in ("max_steps", "log_every", "val_every", "ckpt_every", "keep_last"):
            if getattr(self, name) < 1:
                raise ValueError(f"run.{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class TrainConfig:
    model: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def network(self) -> DiffLLConfig:
        return DiffLLConfig.from_dict(self.model)

    def __post_init__(self) -> None:
        net = self.network()  # validates the model section early
        m = net.pad_multiple
        for name, size in (("patch_size", self.data.patch_size), ("val_crop", self.data.val_crop)):
            if size is not None and size % m:
                raise ValueError(f"data.{name}={size} must be a multiple of {m} for this network")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        unknown = sorted(set(data) - {"model", "data", "optim", "run"})
        if unknown:
            raise ValueError(f"unknown top-level section(s) {unknown}; known: model, data, optim, run")
        return cls(
            model=dict(data.get("model") or {}),
            data=_from_dict(DataConfig, data.get("data"), "data"),
            optim=_from_dict(OptimConfig, data.get("optim"), "optim"),
            run=_from_dict(RunConfig, data.get("run"), "run"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of lists/numbers/strings (YAML, JSON and weights-only torch.load safe)."""

        def plain(v: Any) -> Any:
            if isinstance(v, Mapping):
                return {str(k): plain(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [plain(x) for x in v]
            return v

        return plain(
            {
                "model": self.network().to_dict(),
                "data": dataclasses.asdict(self.data),
                "optim": dataclasses.asdict(self.optim),
                "run": dataclasses.asdict(self.run),
            }
        )


def set_key(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Apply a ``section.key=value`` override (value parsed as YAML) to a raw config dict."""
    parts = dotted.split(".")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"override {dotted!r}: expected section.key (e.g. run.max_steps)")
    section, key = parts
    data.setdefault(section, {})
    if data[section] is None:
        data[section] = {}
    data[section][key] = value


def load_train_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML config, apply ``section.key=value`` overrides, validate."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: training config not found (see config/train/)") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"override {item!r}: expected section.key=value")
        key, value = item.split("=", 1)
        set_key(raw, key.strip(), yaml.safe_load(value))
    try:
        return TrainConfig.from_dict(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None


# ---- small pieces ------------------------------------------------------------------------------


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without one is an error, not a fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available on this machine")
    return device


def set_determinism(deterministic: bool) -> None:
    """Deterministic kernels where PyTorch has them (warn where it has none) or cuDNN autotune."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.deterministic = False
        torch.use_deterministic_algorithms(False)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng_state(noise: torch.Generator) -> dict[str, Any]:
    """Every RNG the run touches, as tensors/lists/numbers only (weights_only-loadable)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [int(version), [int(k) for k in internal], gauss],
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "noise": noise.get_state(),
    }


def restore_rng_state(state: Mapping[str, Any], noise: torch.Generator) -> None:
    version, internal, gauss = state["python"]
    random.setstate((int(version), tuple(int(k) for k in internal), gauss))
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["name"],
            np_state["keys"].numpy().astype(np.uint32),
            int(np_state["pos"]),
            int(np_state["has_gauss"]),
            float(np_state["cached_gaussian"]),
        )
    )
    torch.set_rng_state(state["torch"])
    cuda_states = state.get("cuda") or []
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)
    noise.set_state(state["noise"])


def enable_activation_checkpointing(module: torch.nn.Module) -> None:
    """Recompute ``module``'s forward in backward instead of storing its activations.

    Patches the instance's ``forward`` (not the class, not the state dict keys); only active
    while gradients are being recorded.
    """
    from torch.utils.checkpoint import checkpoint

    original = module.forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        if torch.is_grad_enabled():
            return checkpoint(original, *args, use_reentrant=False, **kwargs)
        return original(*args, **kwargs)

    module.forward = forward  # type: ignore[method-assign]


class EMA:
    """Exponential moving average of the weights: ``ema = d * ema + (1 - d) * w`` every step
    (the authors' EMAHelper). With ``warmup`` the decay is ``min(d, (1 + n) / (10 + n))`` so that
    short runs do not validate what is mostly the initialisation."""

    def __init__(self, model: torch.nn.Module, decay: float, warmup: bool = False) -> None:
        self.model = copy.deepcopy(model).eval()
        self.model.requires_grad_(False)
        self.decay = float(decay)
        self.warmup = bool(warmup)

    def decay_at(self, step: int) -> float:
        return min(self.decay, (1 + step) / (10 + step)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        weight = 1.0 - self.decay_at(step)
        ema_params = list(self.model.parameters())
        params = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(ema_params, params, weight)
        for b_ema, b in zip(self.model.buffers(), model.buffers(), strict=True):
            b_ema.copy_(b)


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
        info["pair_list_sha256"] = hashlib.sha256(Path(data.pair_list).read_bytes()).hexdigest()
    return train, val_set, info


def find_latest_checkpoint(out_dir: str | os.PathLike[str]) -> Path | None:
    """Newest ``step-*.pt`` of a run directory (by step number), or None."""
    folder = Path(out_dir) / "checkpoints"
    found = []
    for path in folder.glob("step-*.pt") if folder.is_dir() else []:
        match = re.fullmatch(r"step-(\d+)\.pt", path.name)
        if match:
            found.append((int(match.group(1)), path))
    return max(found)[1] if found else None


def load_training_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` of a training checkpoint, with clear errors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: training checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a loadable training checkpoint ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a {CHECKPOINT_FORMAT} file (an inference checkpoint?)")
    if int(state.get("version", 0)) > CHECKPOINT_VERSION:
        raise ValueError(f"{path}: checkpoint version {state.get('version')} is newer than this code")
    return state


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return f"CPU {platform.machine()} ({os.cpu_count()} logical cores)"


class _CsvLog:
    """Append-only CSV with a fixed header; :meth:`truncate_after` drops rows past a resumed step."""

    def __init__(self, path: Path, fields: list[str]) -> None:
        self.path = path
        self.fields = fields

    def truncate_after(self, step: int) -> None:
        if not self.path.is_file():
            return
        with self.path.open(newline="", encoding="utf-8") as handle:
            rows = [r for r in csv.DictReader(handle) if r.get("step", "").isdigit() and int(r["step"]) <= step]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        with atomic_write(self.path, "w", encoding="utf-8", newline="") as handle:
            handle.write(buf.getvalue())

    def append(self, row: Mapping[str, Any]) -> None:
        new = not self.path.is_file()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


TRAIN_FIELDS = ["step", "epoch", "lr", "loss", "noise", "l1", "ssim", "band", "tv", "sec_per_step", "elapsed_min"]
VAL_FIELDS = ["step", "epoch", "psnr", "ssim", "images", "best", "sec"]


# ---- the trainer -------------------------------------------------------------------------------


class Trainer:
    """Owns the model, EMA, optimiser, data stream and run directory of one training run.

    Layout of ``out_dir``: ``config.yaml`` (resolved), ``train_log.csv``, ``val_log.csv``,
    ``checkpoints/step-NNNNNNNN.pt`` (last ``keep_last``), ``checkpoints/best.pt``,
    ``summary.json`` (written whenever a run stops).
    """

    def __init__(
        self,
        cfg: TrainConfig,
        out_dir: str | os.PathLike[str],
        device: str | None = None,
        quiet: bool = False,
    ) -> None:
        self.cfg = cfg
        self.out_dir = Path(out_dir)
        self.quiet = quiet
        self.device = resolve_device(device or cfg.run.device)
        self.net_cfg: DiffLLConfig = cfg.network()
        seed_everything(cfg.run.seed)
        set_determinism(cfg.run.deterministic)

        self.autocast_dtype: torch.dtype | None = None
        if cfg.run.precision == "bf16":
            if self.device.type == "cuda":
                self.autocast_dtype = torch.bfloat16
            else:
                self._note("precision bf16 needs CUDA; training in fp32 on this device")

        self.model = DiffLL(self.net_cfg).to(self.device)
        self.model.Unet.set_attention_backend(cfg.run.attention)
        self.ema = EMA(self.model, cfg.optim.ema_decay, cfg.optim.ema_warmup)  # before patching
        if cfg.run.activation_checkpointing:
            enable_activation_checkpointing(self.model.Unet)
        o = cfg.optim
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, o.lr_step, o.lr_gamma)
        self.loss_fn = DiffLLLoss(
            **{f"{k}_weight": v for k, v in o.weights().items()}, tv_normalisation=o.tv_normalisation
        )
        self.noise_gen = torch.Generator(device=self.device)
        self.noise_gen.manual_seed(cfg.run.seed)

        self.train_set, self.val_set, self.data_info = build_datasets(cfg, self.net_cfg.pad_multiple)
        self.batches_per_epoch = EpochBatchSampler(len(self.train_set), cfg.data.batch_size).batches_per_epoch

        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.best: dict[str, Any] = {"psnr": None, "ssim": None, "step": None}
        self.last_val: dict[str, Any] = {}
        self.train_seconds = 0.0  # summed over all runs of this training
        self.resumed_from: str | None = None
        self._stop_signal: str | None = None
        self.train_log = _CsvLog(self.out_dir / "train_log.csv", TRAIN_FIELDS)
        self.val_log = _CsvLog(self.out_dir / "val_log.csv", VAL_FIELDS)

    # ---- bookkeeping --------------------------------------------------------------------------

    def _note(self, message: str) -> None:
        if not self.quiet:
            print(f"diffll train: {message}", file=sys.stderr, flush=True)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def _advance_position(self) -> None:
        self.batch_in_epoch += 1
        if self.batch_in_epoch >= self.batches_per_epoch:
            self.epoch += 1
            self.batch_in_epoch = 0

    def make_loader(self) -> DataLoader:
        """Endless loader starting at the current (epoch, batch) position."""
        sampler = EpochBatchSampler(
            len(self.train_set), self.cfg.data.batch_size, self.cfg.run.seed, self.epoch, self.batch_in_epoch
        )
        workers = self.cfg.data.workers
        generator = torch.Generator()
        generator.manual_seed(self.cfg.run.seed)
        return DataLoader(
            self.train_set,
            batch_sampler=sampler,
            num_workers=workers,
            collate_fn=collate,
            worker_init_fn=seed_worker if workers else None,
            generator=generator,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if workers else None,
        )

    # ---- one optimisation step ---------------------------------------------------------------

    def draw_noise(
        self, n: int, height: int, width: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Antithetic timesteps (n//2+1 draws, then T-1-t, first n kept), e and x_T."""
        T = self.net_cfg.num_train_timesteps
        half = torch.randint(0, T, (n // 2 + 1,), generator=generator, device=generator.device)
        t = torch.cat([half, T - 1 - half])[:n]
        k = self.net_cfg.wavelet_levels
        shape = (n, self.net_cfg.in_channels, height >> k, width >> k)
        e = torch.randn(shape, generator=generator, device=generator.device)
        x_T = torch.randn(shape, generator=generator, device=generator.device)
        return t.to(self.device), e.to(self.device), x_T.to(self.device)

    def compute_loss(
        self, batch: Mapping[str, Any], generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        low = batch["low"].to(self.device, non_blocking=True)
        gt = batch["gt"].to(self.device, non_blocking=True)
        t, e, x_T = self.draw_noise(low.shape[0], low.shape[-2], low.shape[-1], generator)
        with self._autocast():
            outputs = self.model.forward_train(low * 2 - 1, gt * 2 - 1, t, e, x_T)
        return self.loss_fn(outputs, gt, e)

    def train_step(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """One step of Algorithm 1 followed by the LR schedule and the EMA update."""
        self.model.train()
        loss, terms = self.compute_loss(batch, self.noise_gen)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(
                f"non-finite loss at step {self.step + 1}: "
                + ", ".join(f"{k}={float(v):.4g}" for k, v in terms.items())
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.optim.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        self.ema.update(self.model, self.step)
        self._advance_position()
        return {"loss": value, **{k: float(v) for k, v in terms.items()}}

    @torch.no_grad()
    def evaluate_loss(self, batch: Mapping[str, Any], seed: int = 0) -> float:
        """Loss of the training model on ``batch`` with noise from ``seed`` (no update)."""
        generator = torch.Generator(device=self.device)
        generator.manual_seed(seed)
        self.model.eval()
        loss, _ = self.compute_loss(batch, generator)
        return float(loss)

    # ---- validation ---------------------------------------------------------------------------

    @torch.no_grad()
    def validate(self) -> dict[str, Any]:
        """PSNR/SSIM of the EMA weights on the validation pairs, fixed start noise per image."""
        if self.val_set is None:
            return {}
        start = time.monotonic()
        model = self.ema.model.eval()
        k = self.net_cfg.wavelet_levels
        psnrs, ssims = [], []
        for index in range(len(self.val_set)):
            item = self.val_set.get(0, index)
            low = item["low"][None].to(self.device)
            gt = item["gt"][None].to(self.device)
            h, w = low.shape[-2:]
            generator = torch.Generator().manual_seed(self.cfg.run.val_seed + index)
            x_T = torch.randn((1, self.net_cfg.in_channels, h >> k, w >> k), generator=generator)
            with self._autocast():
                out = model.forward_inference(low * 2 - 1, x_T.to(self.device))["output"].float()
            mse = float(((out - gt) ** 2).mean())
            psnrs.append(10 * math.log10(1.0 / max(mse, 1e-10)))
            ssims.append(float(ssim(out, gt, data_range=1.0)))
        result = {
            "step": self.step,
            "epoch": self.epoch,
            "psnr": float(np.mean(psnrs)),
            "ssim": float(np.mean(ssims)),
            "images": len(psnrs),
            "sec": time.monotonic() - start,
        }
        improved = self.best["psnr"] is None or result["psnr"] > self.best["psnr"]
        result["best"] = int(improved)
        if improved:
            self.best = {"psnr": result["psnr"], "ssim": result["ssim"], "step": self.step}
        self.last_val = result
        self.val_log.append(result)
        return result

    # ---- checkpoints --------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "batches_per_epoch": self.batches_per_epoch,
            "model": self.model.state_dict(),
            "ema": self.ema.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": capture_rng_state(self.noise_gen),
            "config": self.cfg.to_dict(),
            "best": dict(self.best),
            "last_val": dict(self.last_val),
            "train_seconds": float(self.train_seconds),
            "data": {k: v for k, v in self.data_info.items() if v is not None},
            "hardware": device_description(self.device),
            "torch_version": str(torch.__version__),
        }

    def load_state_dict(self, state: Mapping[str, Any], source: str = "checkpoint") -> None:
        saved = state.get("config", {})
        mine = self.cfg.to_dict()
        if saved.get("model") != mine["model"]:
            raise ValueError(f"{source}: network config differs from this run's model section")
        changed = sorted(
            f"{section}.{key}"
            for section in ("data", "optim", "run")
            for key in set(saved.get(section, {})) | set(mine[section])
            if saved.get(section, {}).get(key) != mine[section].get(key)
        )
        if changed:
            self._note(f"resuming with changed settings: {', '.join(changed)}")
        if int(state.get("batches_per_epoch", self.batches_per_epoch)) != self.batches_per_epoch:
            self._note("the training set size changed; the data order will differ from the original run")
        self.model.load_state_dict(state["model"])
        self.ema.model.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        restore_rng_state(state["rng"], self.noise_gen)
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.batch_in_epoch = min(int(state["batch_in_epoch"]), self.batches_per_epoch - 1)
        self.best = dict(state.get("best") or self.best)
        self.last_val = dict(state.get("last_val") or {})
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.resumed_from = str(source)

    def resume(self, spec: str) -> bool:
        """``auto``: newest step checkpoint of the run directory if any; else a path."""
        if spec == "auto":
            path = find_latest_checkpoint(self.out_dir)
            if path is None:
                self._note(f"no checkpoint in {self.out_dir / 'checkpoints'}; starting from scratch")
                return False
        else:
            path = Path(spec)
        self.load_state_dict(load_training_checkpoint(path), str(path))
        self.train_log.truncate_after(self.step)
        self.val_log.truncate_after(self.step)
        self._note(f"resumed from {path} at step {self.step} (epoch {self.epoch})")
        return True

    def init_weights(self, path: str | os.PathLike[str]) -> None:
        """Start from exported weights (the project's inference format) with a fresh optimiser.

        For continuing a run whose full checkpoint is not at hand (e.g. on a new machine that
        only has the last fp16 export); unlike :meth:`resume` this is not an exact continuation.
        """
        from diffll.checkpoint import load_checkpoint

        model, net_cfg, record = load_checkpoint(path, device="cpu")
        if net_cfg.to_dict() != self.net_cfg.to_dict():
            raise ValueError(f"{path}: network config {net_cfg.to_dict()} differs from the training config {self.net_cfg.to_dict()}")
        state = {k: v.float() for k, v in model.state_dict().items()}
        self.model.load_state_dict(state, strict=True)
        self.ema.model.load_state_dict(state, strict=True)
        self.initialised_from = str(path)
        self._note(f"initialised weights from {path} (step {record.get('metadata', {}).get('step', '?')} of an earlier run)")

    def save_checkpoint(self, best: bool = False) -> Path:
        folder = self.out_dir / "checkpoints"
        path = folder / ("best.pt" if best else f"step-{self.step:08d}.pt")
        state = self.state_dict()
        with atomic_write(path, "wb") as handle:
            torch.save(state, handle)
        if not best:
            steps = sorted(
                (int(m.group(1)), p)
                for p in folder.glob("step-*.pt")
                if (m := re.fullmatch(r"step-(\d+)\.pt", p.name))
            )
            for _, old in steps[: -self.cfg.run.keep_last]:
                old.unlink(missing_ok=True)
        return path

    def write_run_files(self) -> None:
        import yaml

        with atomic_write(self.out_dir / "config.yaml", "w", encoding="utf-8") as handle:
            yaml.safe_dump(self.cfg.to_dict(), handle, sort_keys=False)

    def write_summary(self, status: str, reason: str, started: float) -> dict[str, Any]:
        import json

        summary = {
            "status": status,
            "reason": reason,
            "step": self.step,
            "epoch": self.epoch,
            "max_steps": self.cfg.run.max_steps,
            "train_minutes_total": round(self.train_seconds / 60, 3),
            "this_run_minutes": round((time.monotonic() - started) / 60, 3),
            "best": self.best,
            "last_val": self.last_val,
            "latest_checkpoint": str(find_latest_checkpoint(self.out_dir) or ""),
            "resumed_from": self.resumed_from,
            "hardware": device_description(self.device),
            "torch_version": str(torch.__version__),
            "data": self.data_info,
        }
        with atomic_write(self.out_dir / "summary.json", "w", encoding="utf-8") as handle:
            json.dump(summary, handle, indent=1)
            handle.write("\n")
        return summary

    # ---- the loop -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _stop_on_signals(self) -> Iterator[None]:
        """SIGTERM/SIGINT finish the current step, save, and stop (main thread only)."""
        import threading

        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            self._stop_signal = signal.Signals(signum).name

        previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def fit(
        self,
        max_steps: int | None = None,
        max_minutes: float | None = None,
        started: float | None = None,
    ) -> dict[str, Any]:
        """Train until ``max_steps`` (config default), the time budget, or a signal; always
        leaves a checkpoint of the last completed step and ``summary.json``.

        The budget counts from ``started`` (a ``time.monotonic()`` value; default: now), so a
        caller can include its own start-up. A run stops when what is left would not cover the
        slowest of the recent steps twice, the next validation and two checkpoint saves.
        """
        started = time.monotonic() if started is None else started
        max_steps = int(max_steps if max_steps is not None else self.cfg.run.max_steps)
        max_minutes = max_minutes if max_minutes is not None else self.cfg.run.max_minutes
        budget = None if max_minutes is None else 60.0 * float(max_minutes)
        run = self.cfg.run
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.write_run_files()
        self._note(
            f"{sum(p.numel() for p in self.model.parameters()):,} parameters on "
            f"{device_description(self.device)}; {self.data_info['real_train_pairs']} real train "
            f"pairs, {self.data_info['val_pairs_used']} val pairs; step {self.step} -> {max_steps}"
        )
        save_seconds, val_seconds, step_seconds = 5.0, 0.0, None
        recent: collections.deque[float] = collections.deque(maxlen=20)
        reason = "max_steps reached"
        saved_at = self.step if self.resumed_from else -1  # a resumed step is already on disk
        window: dict[str, list[float]] = {}
        try:
            from tqdm import tqdm
        except ImportError:  # the bar is a convenience
            tqdm = None
        bar = (
            tqdm(total=max_steps, initial=self.step, desc="train", unit="step", dynamic_ncols=True,
                 mininterval=0.5 if sys.stderr.isatty() else 30.0, disable=self.quiet)
            if tqdm is not None
            else None
        )
        loader = None
        with self._stop_on_signals():
            if self.step < max_steps:
                loader = iter(self.make_loader())
            while self.step < max_steps:
                t0 = time.monotonic()
                batch = next(loader)  # type: ignore[arg-type]
                terms = self.train_step(batch)
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                dt = time.monotonic() - t0
                self.train_seconds += dt
                step_seconds = dt if step_seconds is None else 0.9 * step_seconds + 0.1 * dt
                recent.append(dt)
                for k, v in terms.items():
                    window.setdefault(k, []).append(v)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{terms['loss']:.4f}", refresh=False)
                if self.step % run.log_every == 0:
                    row = {k: float(np.mean(v)) for k, v in window.items()}
                    row.update(step=self.step, epoch=self.epoch, lr=self.scheduler.get_last_lr()[0],
                               sec_per_step=step_seconds, elapsed_min=self.train_seconds / 60)
                    self.train_log.append(row)
                    window = {}
                if self.step % run.val_every == 0 and self.val_set is not None:
                    result = self.validate()
                    val_seconds = result["sec"]
                    self._note(f"step {self.step}: val PSNR {result['psnr']:.3f} dB, SSIM {result['ssim']:.4f}")
                    if result["best"]:
                        self.save_checkpoint(best=True)
                if self.step % run.ckpt_every == 0:
                    t1 = time.monotonic()
                    self.save_checkpoint()
                    saved_at, save_seconds = self.step, time.monotonic() - t1
                if self._stop_signal:
                    reason = f"stopped by {self._stop_signal}"
                    break
                if budget is not None:
                    left = budget - (time.monotonic() - started)
                    next_val = val_seconds if (self.step + 1) % run.val_every == 0 else 0.0
                    if left < 2.0 * max(recent) + next_val + 2.0 * save_seconds + 10.0:
                        reason = f"time budget of {max_minutes} min"
                        break
            if saved_at != self.step:
                self.save_checkpoint()
        if bar is not None:
            bar.close()
        del loader
        status = "finished" if self.step >= max_steps else "stopped"
        summary = self.write_summary(status, reason, started)
        self._note(f"{status} at step {self.step} ({reason}); checkpoints in {self.out_dir / 'checkpoints'}")
        return summary
