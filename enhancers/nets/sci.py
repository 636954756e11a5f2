"""SCI (Ma et al., CVPR 2022) inference network: one illumination-estimation pass.

The released files hold the training network; only its ``enhance.*`` part runs at test time
(the self-calibration module is training-only). The single residual block is registered twice
in the authors' model (``enhance.conv`` and ``enhance.blocks.0``); we load ``blocks.0``.
"""

from __future__ import annotations

import torch
from torch import nn


class SCIEnhance(nn.Module):
    """Illumination module ``enhance`` of ``Finetunemodel`` (3 channels, 1 block)."""

    def __init__(self, channels: int = 3, layers: int = 1) -> None:
        super().__init__()
        self.in_conv = nn.Sequential(nn.Conv2d(3, channels, 3, 1, 1), nn.ReLU())
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(channels, channels, 3, 1, 1), nn.BatchNorm2d(channels), nn.ReLU()
            )
            for _ in range(layers)
        )
        self.out_conv = nn.Sequential(nn.Conv2d(channels, 3, 3, 1, 1), nn.Sigmoid())

    def trace(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        fea = self.in_conv(x)
        for block in self.blocks:
            fea = fea + block(fea)
        illumination = torch.clamp(self.out_conv(fea) + x, 0.0001, 1)
        output = torch.clamp(x / illumination, 0, 1)
        return {"output": output, "illumination": illumination}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trace(x)["output"]

    @staticmethod
    def inference_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The test-time tensors of a released SCI file, under this module's names."""
        return {
            k[len("enhance.") :]: v
            for k, v in state.items()
            if k.startswith("enhance.") and not k.startswith("enhance.conv.")
        }
