"""Pixel-space conditional DDIM with DiffLL's UNet: the paper's "DDIM" baseline.

Everything is DiffLL's except what is diffused: the UNet configuration (ch 64, ch_mult
1 2 3 4, 2 res blocks, attention at level 2 and in the middle, 6 input channels: the low-light
image and x_t), the noise schedule and the 10-step deterministic DDIM loop
(:func:`diffll.sampler.ddim_loop`) run on the full-resolution image in [-1, 1]. No wavelet, no
HFRM. The difference in cost between this and :class:`diffll.model.DiffLL` is therefore the
wavelet's alone: the UNet sees 4^K times more positions, and its attention 16^K times more
score entries.
"""

from __future__ import annotations

import torch
from torch import nn

from diffll.config import DiffLLConfig
from diffll.model import to_unit_range
from diffll.sampler import ddim_loop
from diffll.schedule import NoiseSchedule
from diffll.unet import UNet

__all__ = ["PixelDDIM"]


class PixelDDIM(nn.Module):
    """``forward(x_m11, x_T)``: padded [-1, 1] images and start noise of the same shape ->
    [0, 1] images. Sides must be multiples of the UNet's ``2^(len(ch_mult) - 1)``."""

    def __init__(self, config: DiffLLConfig | None = None) -> None:
        super().__init__()
        self.config = config = config if config is not None else DiffLLConfig()
        self.Unet = UNet(config)
        self.schedule = NoiseSchedule.from_config(config)

    @property
    def side_multiple(self) -> int:
        return self.Unet.size_multiple

    def forward(
        self, x_m11: torch.Tensor, x_T: torch.Tensor, num_steps: int | None = None
    ) -> torch.Tensor:
        if x_T.shape != x_m11.shape:
            raise ValueError(f"start noise {tuple(x_T.shape)} must match the image {tuple(x_m11.shape)}")
        steps = num_steps if num_steps is not None else self.config.sampling_steps
        x0, _ = ddim_loop(self.Unet, self.schedule, x_m11, x_T, steps)
        return to_unit_range(x0)
