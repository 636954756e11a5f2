"""Zero-DCE (Guo et al., CVPR 2020) and Zero-DCE++ (Li et al., TPAMI 2021) curve estimators.

Both predict pixel-wise curve parameters A and apply the light-enhancement curve
``y <- y + A * (y^2 - y)`` eight times. The released code's sign is kept: the paper's alpha is
``-A``, and A is negative in practice, which brightens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ITERATIONS = 8


def apply_curve(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return x + a * (torch.pow(x, 2) - x)


class ZeroDCE(nn.Module):
    """``enhance_net_nopool`` of the Zero-DCE repository: 7 plain 3x3 convs, 24 curve maps."""

    def __init__(self) -> None:
        super().__init__()
        self.e_conv1 = nn.Conv2d(3, 32, 3, 1, 1)
        self.e_conv2 = nn.Conv2d(32, 32, 3, 1, 1)
        self.e_conv3 = nn.Conv2d(32, 32, 3, 1, 1)
        self.e_conv4 = nn.Conv2d(32, 32, 3, 1, 1)
        self.e_conv5 = nn.Conv2d(64, 32, 3, 1, 1)
        self.e_conv6 = nn.Conv2d(64, 32, 3, 1, 1)
        self.e_conv7 = nn.Conv2d(64, 24, 3, 1, 1)

    def trace(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x1 = F.relu(self.e_conv1(x))
        x2 = F.relu(self.e_conv2(x1))
        x3 = F.relu(self.e_conv3(x2))
        x4 = F.relu(self.e_conv4(x3))
        x5 = F.relu(self.e_conv5(torch.cat([x3, x4], 1)))
        x6 = F.relu(self.e_conv6(torch.cat([x2, x5], 1)))
        curve_maps = torch.tanh(self.e_conv7(torch.cat([x1, x6], 1)))
        y = x
        y4 = x
        for n, a in enumerate(torch.split(curve_maps, 3, dim=1), start=1):
            y = apply_curve(y, a)
            if n == 4:
                y4 = y
        return {"output": y, "enhance_image_1": y4, "curve_maps": curve_maps}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trace(x)["output"]


class DSConv(nn.Module):
    """Depthwise 3x3 then pointwise 1x1, no activation in between (keys depth_conv/point_conv)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depth_conv = nn.Conv2d(cin, cin, 3, 1, 1, groups=cin)
        self.point_conv = nn.Conv2d(cin, cout, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.point_conv(self.depth_conv(x))


class ZeroDCEPP(nn.Module):
    """Zero-DCE++: one shared 3-channel curve map, estimated at ``1/scale_factor`` resolution.

    ``trace`` needs H and W to be multiples of ``scale_factor`` (the authors crop to make them
    so; :mod:`enhancers.learned` pads instead).
    """

    def __init__(self, scale_factor: int = 12) -> None:
        super().__init__()
        if scale_factor < 1:
            raise ValueError(f"scale_factor must be a positive integer, got {scale_factor}")
        self.scale_factor = int(scale_factor)
        self.e_conv1 = DSConv(3, 32)
        self.e_conv2 = DSConv(32, 32)
        self.e_conv3 = DSConv(32, 32)
        self.e_conv4 = DSConv(32, 32)
        self.e_conv5 = DSConv(64, 32)
        self.e_conv6 = DSConv(64, 32)
        self.e_conv7 = DSConv(64, 3)

    def trace(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        s = self.scale_factor
        h, w = x.shape[-2:]
        if h % s or w % s:
            raise ValueError(f"Zero-DCE++ input {h}x{w} is not a multiple of scale factor {s}")
        # Same calls as the authors: bilinear down (align_corners=False) by 1/s, bilinear up
        # (align_corners=True, nn.UpsamplingBilinear2d) by s.
        x_down = x if s == 1 else F.interpolate(x, scale_factor=1 / s, mode="bilinear")
        x1 = F.relu(self.e_conv1(x_down))
        x2 = F.relu(self.e_conv2(x1))
        x3 = F.relu(self.e_conv3(x2))
        x4 = F.relu(self.e_conv4(x3))
        x5 = F.relu(self.e_conv5(torch.cat([x3, x4], 1)))
        x6 = F.relu(self.e_conv6(torch.cat([x2, x5], 1)))
        a_low = torch.tanh(self.e_conv7(torch.cat([x1, x6], 1)))
        if s == 1:
            a = a_low
        else:
            a = F.interpolate(a_low, scale_factor=s, mode="bilinear", align_corners=True)
        y = x
        for _ in range(ITERATIONS):
            y = apply_curve(y, a)
        return {"output": y, "input_down": x_down, "curve_map_lowres": a_low, "curve_map": a}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trace(x)["output"]
