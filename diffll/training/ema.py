"""Exponential moving average of the weights (what validation and export use), and activation
checkpointing of a sub-module (GPU memory for the sampler's gradients)."""

from __future__ import annotations

import copy
from typing import Any

import torch

__all__ = ["EMA", "enable_activation_checkpointing"]


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
