"""Pad images right/bottom to a multiple of the network's stride, and crop back.

Reflection (the authors' choice) keeps the padded border statistically like the image; it needs
the pad to be shorter than the side, so tiny images (a 1x1 crop, a 5-pixel strip) fall back to
edge replication along that axis instead of failing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["pad_to_multiple", "padded_size"]


def padded_size(size: int, multiple: int) -> int:
    """Smallest multiple of ``multiple`` that is >= ``size``."""
    return -(-size // multiple) * multiple


def _pad_axis(x: torch.Tensor, amount: int, axis: int) -> torch.Tensor:
    if amount == 0:
        return x
    pad = (0, amount, 0, 0) if axis == -1 else (0, 0, 0, amount)
    mode = "reflect" if amount < x.shape[axis] else "replicate"
    return F.pad(x, pad, mode=mode)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """``B x C x H x W`` -> ``B x C x H' x W'`` with H', W' multiples of ``multiple``."""
    h, w = x.shape[-2:]
    x = _pad_axis(x, padded_size(w, multiple) - w, axis=-1)
    return _pad_axis(x, padded_size(h, multiple) - h, axis=-2)
