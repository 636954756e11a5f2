"""Training configuration: four sections (model, data, optim, run), validated on load.

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

A key that is not listed is an error naming the section and the known keys, so a typo in a
config file never trains with a silent default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diffll.config import DiffLLConfig
from lowlight_common.options import parse_option
from lowlight_common.records import dataclass_from_dict

__all__ = [
    "LOSS_KEYS",
    "DataConfig",
    "OptimConfig",
    "RunConfig",
    "TrainConfig",
    "load_train_config",
    "set_key",
]

LOSS_KEYS = ("noise", "l1", "ssim", "band", "tv")


def _from_dict(cls: type, data: Mapping[str, Any] | None, section: str) -> Any:
    return dataclass_from_dict(cls, data, f"key(s) in section '{section}'")


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
    """Apply a ``section.key=value`` override (value already parsed) to a raw config dict."""
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
        key, value = parse_option(item)  # the project's one KEY=VALUE grammar (JSON or YAML)
        set_key(raw, key, value)
    try:
        return TrainConfig.from_dict(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None
