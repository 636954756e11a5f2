"""Patch-based conditional diffusion (WeatherDiff; Özdenizci and Legenstein, TPAMI 2023).

The project's own implementation of the restoration procedure released in
github:IGITUGraz/WeatherDiffusion (``models/restoration.py``, ``utils/sampling.py``
``generalized_steps_overlapping``), with their released multi-weather configuration
``configs/allweather.yml`` + ``eval_diffusion.py`` defaults (WeatherDiff64):

* 64 x 64 patches on a grid of stride ``r = 16`` (``--grid_r 16``) covering the whole image,
* at every DDIM step the UNet predicts the noise of every patch (64 patches per call, their
  ``manual_batching_size``), the predictions are summed where patches overlap and divided by
  the number of patches covering each pixel, then one deterministic DDIM update (eta = 0) runs
  on the whole image,
* 25 sampling steps of a 1000-step linear schedule (1e-4 .. 0.02),
* the ermongroup/ddim UNet with ch 128, ch_mult 1 2 3 4, 2 res blocks, attention at 16 x 16
  (level 2 of a 64 patch) and in the middle, 6 input channels (condition patch, x_t patch).

That UNet is :class:`diffll.unet.UNet` (DiffLL's denoiser is the same ermongroup network; the
parameter names agree) with this configuration. Their evaluation first resizes an image to a
multiple of 16 (and to at most 1024 on the long side); here an image is reflect-padded to a
multiple of 16 (at least 64) and cropped back, so that it is timed at the resolution asked for.
Checked against the authors' code on seeded random weights: tests/test_diffusion_baselines.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from diffll.config import DiffLLConfig
from diffll.model import to_unit_range
from diffll.sampler import DDIMSampler
from diffll.schedule import NoiseSchedule
from diffll.unet import UNet

__all__ = ["WeatherDiff", "WeatherDiffSettings", "grid_corners", "unet_config"]


@dataclass(frozen=True)
class WeatherDiffSettings:
    """The released restoration settings (``allweather.yml``, ``eval_diffusion.py``)."""

    patch: int = 64  # data.image_size
    stride: int = 16  # --grid_r
    patches_per_call: int = 64  # manual_batching_size in generalized_steps_overlapping

    def __post_init__(self) -> None:
        if self.patch <= 0 or self.stride <= 0 or self.patches_per_call <= 0:
            raise ValueError(f"patch, stride and patches_per_call must be positive: {self}")
        if self.patch % self.stride:
            raise ValueError(f"patch {self.patch} must be a multiple of the stride {self.stride}")


def unet_config(
    ch: int = 128,
    ch_mult: tuple[int, ...] = (1, 2, 3, 4),
    num_res_blocks: int = 2,
    num_train_timesteps: int = 1000,
    sampling_steps: int = 25,
) -> DiffLLConfig:
    """The UNet and schedule of ``configs/allweather.yml`` (attention at 16 x 16 of a 64
    patch is level 2); smaller values give the tiny networks of the tests."""
    return DiffLLConfig(
        ch=ch,
        ch_mult=ch_mult,
        num_res_blocks=num_res_blocks,
        attn_level=min(2, len(ch_mult) - 1),
        num_train_timesteps=num_train_timesteps,
        sampling_steps=sampling_steps,
    )


def grid_corners(height: int, width: int, patch: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners of the overlapping patch grid, rows first (their
    ``overlapping_grid_indices``). Covers every pixel when ``side - patch`` is a multiple of
    ``stride``, which :meth:`WeatherDiff.padded_size` guarantees."""
    if height < patch or width < patch:
        raise ValueError(f"a {height}x{width} image is smaller than one {patch}-pixel patch")
    rows = range(0, height - patch + 1, stride)
    cols = range(0, width - patch + 1, stride)
    return [(i, j) for i in rows for j in cols]


class WeatherDiff(nn.Module):
    """``forward(cond_m11, x_T)``: padded [-1, 1] condition images and start noise of the same
    shape -> [0, 1] images (batch 1, as the released evaluation)."""

    def __init__(
        self, config: DiffLLConfig | None = None, settings: WeatherDiffSettings | None = None
    ) -> None:
        super().__init__()
        self.config = config = config if config is not None else unet_config()
        self.settings = settings if settings is not None else WeatherDiffSettings()
        if self.settings.patch % 2 ** (len(config.ch_mult) - 1):
            raise ValueError(f"patch {self.settings.patch} must be a multiple of the UNet's downsampling")
        self.Unet = UNet(config)
        self.schedule = NoiseSchedule.from_config(config)

    def padded_size(self, size: int) -> int:
        """Smallest side >= ``size`` (and >= one patch) that the stride grid covers exactly."""
        s = self.settings
        return max(s.patch, -(-size // s.stride) * s.stride)

    def corners(self, height: int, width: int) -> list[tuple[int, int]]:
        return grid_corners(height, width, self.settings.patch, self.settings.stride)

    def forward(
        self, cond_m11: torch.Tensor, x_T: torch.Tensor, num_steps: int | None = None
    ) -> torch.Tensor:
        return to_unit_range(self.sample(cond_m11, x_T, num_steps))

    def sample(
        self, cond_m11: torch.Tensor, x_T: torch.Tensor, num_steps: int | None = None
    ) -> torch.Tensor:
        """The sampler's final x_0 in [-1, 1] scale (unclamped; their ``xs[-1]``)."""
        if cond_m11.dim() != 4 or cond_m11.shape[0] != 1:
            raise ValueError(f"expected one 1 x C x H x W image, got {tuple(cond_m11.shape)}")
        if x_T.shape != cond_m11.shape:
            raise ValueError(f"start noise {tuple(x_T.shape)} must match the image {tuple(cond_m11.shape)}")
        p, per_call = self.settings.patch, self.settings.patches_per_call
        corners = self.corners(cond_m11.shape[-2], cond_m11.shape[-1])
        cover = torch.zeros_like(cond_m11, dtype=torch.float32)
        for i, j in corners:
            cover[..., i : i + p, j : j + p] += 1
        cond_patches = torch.cat([cond_m11[..., i : i + p, j : j + p] for i, j in corners])
        sampler = DDIMSampler(self.schedule)
        sampler.set_timesteps(num_steps if num_steps is not None else self.config.sampling_steps)
        x = x_T.float()
        for t in sampler.timesteps:
            t_batch = torch.full((1,), float(t), device=x.device)
            x_patches = torch.cat([x[..., i : i + p, j : j + p] for i, j in corners])
            eps_sum = torch.zeros_like(x)
            for start in range(0, len(corners), per_call):
                stop = start + per_call
                eps = self.Unet(torch.cat([cond_patches[start:stop], x_patches[start:stop]], dim=1), t_batch)
                for k, (i, j) in enumerate(corners[start:stop]):
                    eps_sum[0, :, i : i + p, j : j + p] += eps[k].float()
            x, _ = sampler.step(eps_sum / cover, t, x)
        return x
