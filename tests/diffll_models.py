"""Small DiffLL networks for tests, seeded: one place for what several test modules build."""

from __future__ import annotations

import torch

from diffll.config import DiffLLConfig
from diffll.model import DiffLL


def initial_small_model(seed: int = 0) -> DiffLL:
    """The small config at its initialisation (zero-initialised output layers stay zero)."""
    torch.manual_seed(seed)
    return DiffLL(DiffLLConfig.small()).eval()


def perturbed_small_model(seed: int = 0) -> DiffLL:
    """Small network with every parameter moved off its initial value, so no layer is a no-op."""
    model = initial_small_model(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return model.eval()
