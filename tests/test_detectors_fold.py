"""detectors.fold: BatchNorm folded into the convolution before it gives the same outputs (float32
rounding), and a BatchNorm it cannot place is an error, not a silently unfolded layer."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torchvision.models.resnet import Bottleneck

from detectors.fold import fold_batchnorm_
from detectors.random_init import randomize_


def _net() -> nn.Module:
    down = nn.Sequential(nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16))
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.LeakyReLU(0.1),
        nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        Bottleneck(8, 4, downsample=down),
    )


def test_folded_network_gives_the_same_outputs():
    net = randomize_(_net(), seed=1).eval()
    folded = fold_batchnorm_(copy.deepcopy(net))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(2, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want, got = net(x), folded(x)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_unplaceable_batchnorm_and_training_mode_are_refused():
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm_(_net())

    class Odd(nn.Module):  # a BatchNorm whose input is not known to be a convolution's output
        def __init__(self) -> None:
            super().__init__()
            self.norm = nn.BatchNorm2d(3)

    with pytest.raises(ValueError, match="norm"):
        fold_batchnorm_(Odd().eval())
