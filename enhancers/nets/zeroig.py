"""ZERO-IG (Shi et al., CVPR 2024) inference network (``Finetunemodel``): denoise, enhance by
an estimated illumination, denoise again.

``x = I + 1e-4``; ``L2 = clamp(x - D1(x))`` (first denoiser); ``s2 = E(L2)`` (3-channel
illumination); ``H2 = clamp(x / s2)`` (note: divides ``x``, not ``L2``, as released); the second
denoiser works on ``[H2, s2]`` (6 channels) and the first three channels of
``clamp([H2, s2] - D2([H2, s2]))`` are the result ``H3``. Clamps are to ``[1e-4, 1]``.

The enhancer appends one conv+BN block three times (the same module, so one set of weights runs
three times); the released files store that set under ``enhance.conv`` and
``enhance.blocks.{0,1,2}``. The module is shared here too, so every key loads strictly, and
:func:`check_shared_block` makes sure the four stored copies are equal (they are in all three
released files), since otherwise which copy won would depend on the loading order.
"""

from __future__ import annotations

import torch
from torch import nn

EPS = 1e-4
DENOISE_WIDTH = 48
ENHANCE_WIDTH = 64
BLOCKS = 3


class Denoiser(nn.Module):
    """3x3 conv, LeakyReLU(0.2), 3x3 conv, LeakyReLU(0.2), 1x1 conv (``Denoise_1``/``Denoise_2``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, DENOISE_WIDTH, 3, padding=1)
        self.conv2 = nn.Conv2d(DENOISE_WIDTH, DENOISE_WIDTH, 3, padding=1)
        self.conv3 = nn.Conv2d(DENOISE_WIDTH, channels, 1)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.act(self.conv2(self.act(self.conv1(x)))))


class Enhancer(nn.Module):
    """Illumination estimator: in-conv, one shared residual conv+BN+ReLU block run three times,
    out-conv with a sigmoid, clamped to ``[1e-4, 1]``."""

    def __init__(self) -> None:
        super().__init__()
        self.in_conv = nn.Sequential(nn.Conv2d(3, ENHANCE_WIDTH, 3, 1, 1), nn.ReLU())
        self.conv = nn.Sequential(
            nn.Conv2d(ENHANCE_WIDTH, ENHANCE_WIDTH, 3, 1, 1),
            nn.BatchNorm2d(ENHANCE_WIDTH),
            nn.ReLU(),
        )
        self.blocks = nn.ModuleList([self.conv] * BLOCKS)
        self.out_conv = nn.Sequential(nn.Conv2d(ENHANCE_WIDTH, 3, 3, 1, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feature = self.in_conv(x)
        for block in self.blocks:
            feature = feature + block(feature)
        return torch.clamp(self.out_conv(feature), EPS, 1)


class ZeroIG(nn.Module):
    """``Finetunemodel`` of the ZERO-IG repository (keys ``enhance.*``, ``denoise_1.*``, ``denoise_2.*``)."""

    def __init__(self) -> None:
        super().__init__()
        self.enhance = Enhancer()
        self.denoise_1 = Denoiser(3)
        self.denoise_2 = Denoiser(6)

    def trace(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = image + EPS
        denoised = torch.clamp(x - self.denoise_1(x), EPS, 1)
        illumination = self.enhance(denoised)
        enhanced = torch.clamp(x / illumination, EPS, 1)
        both = torch.cat([enhanced, illumination], 1)
        output = torch.clamp(both - self.denoise_2(both), EPS, 1)[:, :3]
        return {"output": output, "enhance": enhanced, "L2": denoised, "s2": illumination}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trace(x)["output"]


def check_shared_block(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return ``state`` after checking that the shared block's stored copies are identical."""
    prefix = "enhance.conv."
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        for k in range(BLOCKS):
            copy = f"enhance.blocks.{k}.{key[len(prefix) :]}"
            if copy not in state:
                raise ValueError(
                    f"ZERO-IG weights: {copy} is missing (the shared block's copy of {key})"
                )
            if not torch.equal(state[copy], value):
                raise ValueError(
                    f"ZERO-IG weights: {copy} differs from {key}; the network runs one shared "
                    "block, so the released files store identical copies"
                )
    return state
