"""URetinex-Net (Wu et al., CVPR 2022): decomposition, 3 unfolding rounds, illumination adjust.

Hyper-parameters are those fixed by the released ``unfolding.pth`` options: 3 rounds,
gamma = 0.1 + 0.05 t, lambda = 0.5 + 0.05 t; the adjustment ratio defaults to the test script's 5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SLOPE = 0.2
ROUNDS = 3
GAMMA, ROFFSET = 0.1, 0.05
LAMDA, LOFFSET = 0.5, 0.05


class Decom(nn.Module):
    """Initial decomposition D: 4 conv3x3, the last one ReLU; output R0 (3 ch), L0 (1 ch)."""

    def __init__(self) -> None:
        super().__init__()
        self.decom = nn.Sequential(
            nn.Conv2d(3, 32, 3, 1, 1),
            nn.LeakyReLU(SLOPE),
            nn.Conv2d(32, 32, 3, 1, 1),
            nn.LeakyReLU(SLOPE),
            nn.Conv2d(32, 32, 3, 1, 1),
            nn.LeakyReLU(SLOPE),
            nn.Conv2d(32, 4, 3, 1, 1),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.decom(x)
        return out[:, 0:3], out[:, 3:4]


class SELayer(nn.Module):
    def __init__(self, channels: int = 64, reduction: int = 16) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction, bias=False),
            nn.ReLU(),
            nn.Linear(channels // reduction, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        y = F.adaptive_avg_pool2d(x, 1).view(b, c)
        return x * self.fc(y).view(b, c, 1, 1).expand_as(x)


class Restore(nn.Module):
    """Reflectance restoration N_R(P, Q) (``HalfDnCNNSE`` with concat_L): R = P + noise."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, 1, 1)
        self.conv2 = nn.Conv2d(1, 32, 3, 1, 1)
        self.se_layer = SELayer(64)
        for i in range(3, 8):
            setattr(self, f"conv{i}", nn.Conv2d(64, 64, 3, 1, 1))
        self.conv8 = nn.Conv2d(64, 3, 3, 1, 1)

    def forward(self, p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        f = torch.cat([F.relu(self.conv1(p)), F.relu(self.conv2(q))], dim=1)
        f = self.se_layer(f)
        for i in range(3, 8):
            f = F.relu(getattr(self, f"conv{i}")(f))
        return p + self.conv8(f)


class Illumination(nn.Module):
    """Illumination net N_L(Q) (``Illumination_Alone``): 4 LReLU conv5x5, ReLU conv1x1."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, 1, 2)
        self.conv2 = nn.Conv2d(32, 32, 5, 1, 2)
        self.conv3 = nn.Conv2d(32, 32, 5, 1, 2)
        self.conv4 = nn.Conv2d(32, 32, 5, 1, 2)
        self.conv5 = nn.Conv2d(32, 1, 1, 1, 0)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv1(q), SLOPE)
        x = F.leaky_relu(self.conv2(x), SLOPE)
        x = F.leaky_relu(self.conv3(x), SLOPE)
        x = F.leaky_relu(self.conv4(x), SLOPE)
        return F.relu(self.conv5(x))


class Adjust(nn.Module):
    """Illumination adjustment N_A(L, ratio) (``Adjust_naive``)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 32, 5, 1, 2)
        self.conv2 = nn.Conv2d(32, 32, 5, 1, 2)
        self.conv3 = nn.Conv2d(32, 32, 5, 1, 2)
        self.conv4 = nn.Conv2d(32, 1, 5, 1, 2)

    def forward(self, light: torch.Tensor, ratio: float) -> torch.Tensor:
        x = self.conv1(torch.cat([light, torch.ones_like(light) * ratio], dim=1))
        x = self.conv2(F.leaky_relu(x, SLOPE))
        x = self.conv3(F.leaky_relu(x, SLOPE))
        x = self.conv4(F.leaky_relu(x, SLOPE))
        return F.relu(x)


class URetinex(nn.Module):
    def __init__(self, ratio: float = 5) -> None:
        super().__init__()
        self.ratio = ratio
        self.decom = Decom()
        self.restore = Restore()
        self.illumination = Illumination()
        self.adjust = Adjust()

    def trace(self, img: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        # Round 0: initialisation by the decomposition net.
        p, q = self.decom(img)
        out["decom_R0"], out["decom_L0"] = p, q
        r = self.restore(p, q)
        light = self.illumination(q)
        ir, ig, ib = img[:, 0:1], img[:, 1:2], img[:, 2:3]
        for t in range(1, ROUNDS):
            # Closed-form P and Q updates (Math_Module), then the learned proximal steps.
            w_p = GAMMA + ROFFSET * t
            w_q = LAMDA + LOFFSET * t
            p = (img * q + w_p * r) / (w_p + q * q)
            pr, pg, pb = p[:, 0:1], p[:, 1:2], p[:, 2:3]
            q = (ir * pr + ig * pg + ib * pb + w_q * light) / ((pr * pr + pg * pg + pb * pb) + w_q)
            r = self.restore(p, q)
            light = self.illumination(q)
        high = self.adjust(light, self.ratio)
        out.update(R=r, L=light, L_adjusted=high, output=high * r)
        return out

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.trace(img)["output"]
