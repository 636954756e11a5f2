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

The parts, one job each (:mod:`diffll.training`): ``config`` (the four config sections and every
key with its default), ``state`` (devices, RNG streams, determinism, checkpoint files), ``ema``,
``datasets``, ``logs``, ``stopping`` (step limit, time budget, signals) and ``trainer`` (the loop).
This module keeps the names the command line and other modules import.
"""

from __future__ import annotations

from diffll.training.config import (
    LOSS_KEYS,
    DataConfig,
    OptimConfig,
    RunConfig,
    TrainConfig,
    load_train_config,
    set_key,
)
from diffll.training.datasets import build_datasets
from diffll.training.ema import EMA, enable_activation_checkpointing
from diffll.training.state import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    capture_rng_state,
    device_description,
    find_latest_checkpoint,
    load_training_checkpoint,
    resolve_device,
    restore_rng_state,
    seed_everything,
    set_determinism,
)
from diffll.training.stopping import StopPolicy
from diffll.training.trainer import Trainer

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "EMA",
    "LOSS_KEYS",
    "DataConfig",
    "OptimConfig",
    "RunConfig",
    "StopPolicy",
    "TrainConfig",
    "Trainer",
    "build_datasets",
    "capture_rng_state",
    "device_description",
    "enable_activation_checkpointing",
    "find_latest_checkpoint",
    "load_train_config",
    "load_training_checkpoint",
    "resolve_device",
    "restore_rng_state",
    "seed_everything",
    "set_determinism",
    "set_key",
]
