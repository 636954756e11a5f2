"""Self-DACE (Wen et al., arXiv 2308.08197), stage I only: ``light_net``, the luminance curves.

A 7-layer trunk of 3x3 convs (32 wide, no skips) with two 3-channel heads on every layer: a
curve strength ``a = tanh(.)`` and a curve anchor ``b = sigmoid(.) / 2 + 1/2``. Seven curve
steps, one per layer, then move every pixel and channel toward ``b``:
``y <- y + a * s(b - y - 0.1) * y * (b - y) / b`` with ``s`` the logistic function of slope 10.

Two details of the released code are kept because they change the output: the first layer's
anchor ``b_1`` is computed with ``e_conv1_a`` (the strength head), so ``e_conv1_b`` is loaded
but never used; and the step is evaluated left to right exactly as written there, which makes
float32 results bit-identical to the authors'. Stage II (a denoiser) is not part of this module:
its weights are not available.
"""

from __future__ import annotations

import torch
from torch import nn

WIDTH = 32
LAYERS = 7


class SelfDACEStage1(nn.Module):
    """``light_net`` (keys ``e_conv{i}``, ``e_conv{i}_a``, ``e_conv{i}_b``, i = 1..7)."""

    def __init__(self) -> None:
        super().__init__()
        for i in range(1, LAYERS + 1):
            self.add_module(f"e_conv{i}", nn.Conv2d(3 if i == 1 else WIDTH, WIDTH, 3, 1, 1))
            self.add_module(f"e_conv{i}_a", nn.Conv2d(WIDTH, 3, 3, 1, 1))
            self.add_module(f"e_conv{i}_b", nn.Conv2d(WIDTH, 3, 3, 1, 1))

    def _conv(self, name: str) -> nn.Module:
        return self.get_submodule(name)

    def trace(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        alphas, betas = [], []
        feature = x
        for i in range(1, LAYERS + 1):
            feature = torch.relu(self._conv(f"e_conv{i}")(feature))
            # the released code computes b_1 from e_conv1_a (quirk kept, see module docstring)
            anchor_head = f"e_conv{i}_a" if i == 1 else f"e_conv{i}_b"
            alphas.append(torch.tanh(self._conv(f"e_conv{i}_a")(feature)))
            betas.append(torch.sigmoid(self._conv(anchor_head)(feature)) * 0.5 + 0.5)
        y = x
        for a, b in zip(alphas, betas, strict=True):
            # same operation order as the authors' expression, for bit-identical float32
            y = y + a * 1 / (1 + torch.exp(-10 * (-y + b - 0.1))) * y * (b - y) * (1 / b)
        return {"output": y, "alpha": torch.cat(alphas, 1), "beta": torch.cat(betas, 1)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trace(x)["output"]
