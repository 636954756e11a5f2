"""RUAS (Liu et al., CVPR 2021): unrolled illumination estimation plus a noise-removal net.

The searched cells are built from the published genotypes (slot order c1_d, c1_r, c2_d, c2_r,
c3_d, c3_r, c4) with the data flow of the authors' ``SearchBlock``; LeakyReLU slope 0.05.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SLOPE = 0.05
SLOTS = ("c1_d", "c1_r", "c2_d", "c2_r", "c3_d", "c3_r", "c4")
IEM_GENOTYPE = ("skip", "resconv1x1", "resdilconv3x3", "conv3x3", "conv3x3", "skip", "conv3x3")
NRM_GENOTYPE = (
    "resconv1x1",
    "resconv1x1",
    "resdilconv3x3",
    "skip",
    "resconv1x1",
    "resconv1x1",
    "skip",
)


class Op(nn.Module):
    """One searched operation; its conv sits under ``.op`` like the authors' modules."""

    def __init__(self, kind: str, channels: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "conv3x3":
            self.op = nn.Conv2d(channels, channels, 3, 1, 1)
        elif kind == "resconv1x1":
            self.op = nn.Conv2d(channels, channels, 1, 1, 0)
        elif kind == "resdilconv3x3":
            self.op = nn.Conv2d(channels, channels, 3, 1, 2, dilation=2)
        elif kind != "skip":
            raise ValueError(f"unknown RUAS operation {kind!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "skip":
            return x
        y = self.op(x)
        return y + x if self.kind.startswith("res") else y


class SearchCell(nn.Module):
    def __init__(self, channels: int, genotype: tuple[str, ...]) -> None:
        super().__init__()
        for slot, kind in zip(SLOTS, genotype, strict=True):
            setattr(self, slot, Op(kind, channels))
        self.c5 = nn.Conv2d(4 * channels, channels, 1, 1, 0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        act = lambda t: F.leaky_relu(t, SLOPE)  # noqa: E731
        d1 = act(self.c1_d(z))
        r1 = act(self.c1_r(z) + z)
        d2 = act(self.c2_d(r1))
        r2 = act(self.c2_r(r1) + r1)
        d3 = act(self.c3_d(r2))
        r3 = act(self.c3_r(r2) + r2)
        r4 = act(self.c4(r3))
        return self.c5(torch.cat([d1, d2, d3, r4], dim=1))


class IEM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.cell = SearchCell(3, IEM_GENOTYPE)


class EnhanceNet(nn.Module):
    def __init__(self, stages: int = 3) -> None:
        super().__init__()
        self.iems = nn.ModuleList(IEM() for _ in range(stages))


class DenoiseNet(nn.Module):
    def __init__(self, cells: int = 3) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, 1, 1)
        self.nrms = nn.ModuleList(SearchCell(6, NRM_GENOTYPE) for _ in range(cells))
        self.activate = nn.Sequential(nn.Conv2d(6, 3, 3, 1, 1))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        f = self.stem(u)
        for cell in self.nrms:
            f = cell(f)
        return u - self.activate(f)


def max_operation(v: torch.Tensor) -> torch.Tensor:
    """2x2 max keeping the size; zero padding on the bottom and right only."""
    return F.max_pool2d(F.pad(v, (0, 1, 0, 1), value=0.0), 2, 1)


class RUAS(nn.Module):
    """Full network (keys ``enhance_net.*`` and ``denoise_net.*``)."""

    def __init__(self) -> None:
        super().__init__()
        self.enhance_net = EnhanceNet()
        self.denoise_net = DenoiseNet()

    def trace(
        self, y: torch.Tensor, denoise: bool = True, always_denoise: bool = False
    ) -> dict[str, torch.Tensor]:
        """Stage outputs ``u1..u3``, illuminations ``t1..t3`` and ``output``: the denoised
        image when ``denoise`` (the authors' ``lol`` setting), else ``u3``. ``always_denoise``
        also computes ``denoised`` when it is not the output (a debugging aid)."""
        out: dict[str, torch.Tensor] = {}
        u = y
        for k, iem in enumerate(self.enhance_net.iems):
            t_hat = max_operation(y) if k == 0 else max_operation(u) - 0.5 * (u - y)
            t = torch.clamp(torch.sigmoid(iem.cell(t_hat)), 0.001, 1.0)
            u = torch.clamp(y / t, 0.0, 1.0)
            out[f"t{k + 1}"] = t
            out[f"u{k + 1}"] = u
        out["enhanced"] = u
        if denoise or always_denoise:
            out["denoised"] = self.denoise_net(u)
        out["output"] = out["denoised"] if denoise else u
        return out

    def forward(self, y: torch.Tensor, denoise: bool = True) -> torch.Tensor:
        return self.trace(y, denoise)["output"]
