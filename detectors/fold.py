"""BatchNorm folded into the preceding convolution of a network in eval mode.

Why: at test time a BatchNorm is a per-channel scale and shift, which the convolution before it
can absorb (``w' = w * g / sqrt(v + eps)``, ``b' = (b - m) * g / sqrt(v + eps) + beta``). The
folded network reads its activations once per layer instead of twice; on the CPU, where the
PyTorch detectors are memory-bound at small channel counts (RetinaFace MobileNet-0.25 has 8-64),
that is a large part of their time. The folded weights are computed in float64 and rounded once
to the network's dtype, so outputs change only by the convolutions' own rounding.

Only pairs whose data flow is known are folded: adjacent ``Conv2d`` -> ``BatchNorm2d`` inside an
``nn.Sequential`` (order of children = order of application), and the ``convK`` / ``bnK``
attribute pairs of torchvision's ResNet and its blocks, whose ``forward`` applies ``bnK`` to
``convK``'s output. A BatchNorm left over is an error rather than a silently slower network.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

_RESNET_PAIRS = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))


def _fused(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """``conv`` followed by ``bn`` as one convolution, folded in float64 (both are consumed)."""
    dtype = conv.weight.dtype
    return fuse_conv_bn_eval(conv.double(), bn.double()).to(dtype)


def fold_batchnorm_(net: nn.Module) -> nn.Module:
    """Fold every BatchNorm2d of ``net`` (eval mode) into its convolution, in place; returns ``net``."""
    if net.training:
        raise ValueError("fold_batchnorm_: the network must be in eval mode (running statistics)")
    for module in list(net.modules()):
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                conv, bn = module[i], module[i + 1]
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                    module[i], module[i + 1] = _fused(conv, bn), nn.Identity()
        for conv_name, bn_name in _RESNET_PAIRS:
            conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(module, conv_name, _fused(conv, bn))
                setattr(module, bn_name, nn.Identity())
    left = [name for name, m in net.named_modules() if isinstance(m, nn.BatchNorm2d)]
    if left:
        raise ValueError(f"fold_batchnorm_: no convolution known to feed {', '.join(left)}")
    return net
