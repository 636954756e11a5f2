"""CLIP-LIT (Liang et al., ICCV 2023) enhancement network: a light-map U-Net without down-sampling.

Only the enhancement network runs at test time (CLIP and the learned prompts are training
losses). It predicts a one-channel light map ``m`` and the output is ``clamp(x / m, 0, 1)``.
Every 3x3 convolution pads by reflection except the fusion convolution of the pyramid pooling
module, which pads with zeros as in the authors' ``model_small.py``; getting that one wrong
changes the border pixels. Spec: ``../shared/reference/competitors/clip_lit.md``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BINS = (1, 2, 3, 6)


def _conv_reflect(cin: int, cout: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, 1, 1, bias=bias, padding_mode="reflect")


class ResidualBlock(nn.Module):
    """``LReLU(conv(LReLU(conv(z))) + z)`` with bias-free reflect-padded 3x3 convolutions."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = _conv_reflect(channels, channels, bias=False)
        self.conv2 = _conv_reflect(channels, channels, bias=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.leaky_relu(self.conv1(z), 0.2))
        return F.leaky_relu(out + z, 0.2)


class PyramidPooling(nn.Module):
    """Average pooling to 1, 2, 3 and 6 bins, 1x1 projection, PReLU, bilinear back to full size
    (align_corners=True), concatenated with the input and fused by a zero-padded 3x3 conv."""

    def __init__(self, channels: int = 32, reduced: int = 8) -> None:
        super().__init__()
        self.features = nn.ModuleList(
            nn.Sequential(
                nn.AdaptiveAvgPool2d(b), nn.Conv2d(channels, reduced, 1, bias=False), nn.PReLU()
            )
            for b in BINS
        )
        self.fuse = nn.Sequential(
            nn.Conv2d(channels + reduced * len(BINS), channels, 3, 1, 1, bias=False), nn.PReLU()
        )

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        size = f.shape[-2:]
        branches = [
            F.interpolate(branch(f), size, mode="bilinear", align_corners=True)
            for branch in self.features
        ]
        return self.fuse(torch.cat([f, *branches], dim=1))


class CLIPLIT(nn.Module):
    """``UNet_emb_oneBranch_symmetry(3, 1)`` of the authors, parameter names as in their file
    (without the ``module.`` prefix of ``nn.DataParallel``)."""

    def __init__(self) -> None:
        super().__init__()
        self.cond1 = _conv_reflect(3, 32)
        self.ResidualBlock1 = ResidualBlock(32)
        self.ResidualBlock2 = ResidualBlock(32)
        self.PPM1 = PyramidPooling(32, 8)
        self.condx = _conv_reflect(32, 64)
        self.ResidualBlock3 = ResidualBlock(64)
        self.ResidualBlock4 = ResidualBlock(64)
        self.condy = _conv_reflect(64, 32)
        self.ResidualBlock5 = ResidualBlock(32)
        self.ResidualBlock6 = ResidualBlock(32)
        self.cond_add1 = _conv_reflect(32, 1)

    def light_map(self, x: torch.Tensor) -> torch.Tensor:
        f = F.leaky_relu(self.cond1(x), 0.2)
        f = self.ResidualBlock2(self.ResidualBlock1(f))
        f = self.PPM1(f)
        f = self.ResidualBlock4(self.ResidualBlock3(self.condx(f)))
        f = self.ResidualBlock6(self.ResidualBlock5(self.condy(f)))
        return F.relu(self.cond_add1(f))

    def trace(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Output and light map. Where the light map is exactly 0 the authors' ``x / m`` gives
        +inf (clamped to 1) for x > 0 and NaN for x = 0; the NaN pixels are set to 0 here (the
        input's value), the others are the authors' to the bit."""
        m = self.light_map(x)
        out = torch.clamp(x / m, 0, 1)
        out = torch.where(torch.isnan(out), torch.zeros_like(out), out)
        return {"output": out, "light_map": m}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trace(x)["output"]

    @staticmethod
    def inference_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The released file's tensors without the ``module.`` prefix (as ``test.py`` strips)."""
        prefix = "module."
        return {k[len(prefix) :] if k.startswith(prefix) else k: v for k, v in state.items()}
