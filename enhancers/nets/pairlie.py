"""PairLIE (Fu et al., CVPR 2023) inference network: ``I_out = L ** exponent * R``.

Three sub-networks of one shape read the input in series/parallel: P-Net (``N_net``) gives a
"denoised" image X, then ``L_net`` its 1-channel illumination and ``R_net`` its reflectance, both
from X. Each is five 3x3 convolutions, every one preceded by a 1-pixel reflection pad, ReLU
between them and a sigmoid at the end; keeping the pads inside the ``nn.Sequential`` keeps the
state-dict indices of the released file (convs at 1, 4, 7, 10, 13).

The authors' test script hard-codes the exponent 0.2 ("default=0.2, LOL=0.14"), so it is an
argument here.
"""

from __future__ import annotations

import torch
from torch import nn

WIDTH = 64
DEFAULT_EXPONENT = 0.2


def _stack(c_in: int, c_out: int) -> nn.Sequential:
    """pad-conv-ReLU four times, then pad-conv (the sigmoid is applied by the caller)."""
    layers: list[nn.Module] = []
    widths = [c_in, WIDTH, WIDTH, WIDTH, WIDTH, c_out]
    for i in range(5):
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(widths[i], widths[i + 1], 3, 1, 0)]
        if i < 4:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class _SubNet(nn.Module):
    """One sub-network, its stack held under the attribute name the released keys use
    (``N_net.N_net.1.weight``)."""

    def __init__(self, key: str, c_out: int) -> None:
        super().__init__()
        self.key = key
        self.add_module(key, _stack(3, c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.get_submodule(self.key)(x))


class PairLIE(nn.Module):
    """``net`` of the PairLIE repository plus the test script's ``L ** exponent * R``."""

    def __init__(self, exponent: float = DEFAULT_EXPONENT) -> None:
        super().__init__()
        self.exponent = float(exponent)
        self.L_net = _SubNet("L_net", 1)
        self.R_net = _SubNet("R_net", 3)
        self.N_net = _SubNet("N_net", 3)

    def trace(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        denoised = self.N_net(x)
        illumination = self.L_net(denoised)
        reflectance = self.R_net(denoised)
        output = torch.pow(illumination, self.exponent) * reflectance
        return {"output": output, "X": denoised, "L": illumination, "R": reflectance}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trace(x)["output"]
