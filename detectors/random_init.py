"""Seeded random weights for a network, the same for any module with the same state-dict keys.

Why: the released checkpoints (hundreds of MB, not redistributable) are not in the repository,
so the parity tests compare the project's networks with the authors' code on *random* weights,
and the speed benchmark can time a network whose checkpoint is absent. Committing a random
ResNet-152 state dict would take ~460 MB; instead both sides regenerate it from a seed.

The recipe depends only on ``(seed, key, shape)``, never on the order in which keys are visited,
so the authors' module and the project's module (same keys, possibly a different order) get
bit-identical tensors. Each floating-point entry is drawn from its own ``torch.Generator``
seeded with ``seed * 1_000_003 + crc32(key)``:

* ``*.running_var``: uniform in [0.5, 1.5) (``torch.rand``);
* ``*.running_mean``: 0.1 x standard normal;
* tensors with 2+ dimensions (convolution / linear weights): standard normal x ``gain / sqrt(fan_in)``,
  ``fan_in`` = product of all but the first dimension;
* other ``*.weight`` (1-D, normalisation scales): 1 + 0.1 x standard normal;
* other ``*.bias``: 0.1 x standard normal;
* anything else floating point: standard normal. Integer entries (``num_batches_tracked``) are
  copied unchanged.

All draws are float32 on the CPU (``torch.randn`` / ``torch.rand`` with that generator).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping

import torch

_MULT = 1_000_003


def key_seed(seed: int, key: str) -> int:
    """The generator seed of one state-dict entry (documented in the module docstring)."""
    return (int(seed) * _MULT + zlib.crc32(key.encode("utf-8"))) % (2**63)


def seeded_tensor(key: str, template: torch.Tensor, seed: int, gain: float = 1.0) -> torch.Tensor:
    """The recipe's value for one entry named ``key`` shaped like ``template``."""
    if not template.is_floating_point():
        return template.detach().clone()
    gen = torch.Generator(device="cpu").manual_seed(key_seed(seed, key))
    shape = tuple(template.shape)
    if key.endswith("running_var"):
        value = 0.5 + torch.rand(shape, generator=gen, dtype=torch.float32)
    else:
        z = torch.randn(shape, generator=gen, dtype=torch.float32)
        if key.endswith("running_mean"):
            value = 0.1 * z
        elif template.ndim >= 2:
            fan_in = math.prod(shape[1:])
            value = z * (gain / math.sqrt(fan_in))
        elif key.endswith("weight"):
            value = 1.0 + 0.1 * z
        elif key.endswith("bias"):
            value = 0.1 * z
        else:
            value = z
    return value.to(template.dtype)


def seeded_state_dict(
    template: Mapping[str, torch.Tensor], seed: int, gain: float = 1.0
) -> dict[str, torch.Tensor]:
    """A full state dict following the recipe, shaped like ``template`` (a module's state dict)."""
    return {key: seeded_tensor(key, value, seed, gain) for key, value in template.items()}


def randomize_(module: torch.nn.Module, seed: int, gain: float = 1.0) -> torch.nn.Module:
    """Load the recipe's weights into ``module`` (strict) and return it."""
    module.load_state_dict(seeded_state_dict(module.state_dict(), seed, gain), strict=True)
    return module
