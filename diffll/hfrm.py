"""High-Frequency Restoration Module (HFRM): refines one Haar level's [HL; LH; HH] bands.

Names follow the authors' ``models/mods.py`` so that their weights load strictly. Notable
details kept on purpose: the "cross attention" attends over channels separately for every
image row (scores are C x C per row, scale 1/sqrt(width/heads)), has no output projection and
no inner residual; the only residual is the global one around the whole module.

:meth:`HFRM.set_fused` switches the cross attention to channels_last tensors (the bf16 CPU
path): transposed products, same maths, and no layout copy before ``conv_HH``; and runs
``conv_tail`` band by band, so that the bands are joined at 3 channels instead of ``width``.
(LeakyReLU and the residual in place measured no faster in the dilated blocks; left out.)
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["HFRM", "CrossAttention", "DepthConv", "DilatedResblock"]


class DepthConv(nn.Module):
    """Depthwise 3x3 then pointwise 1x1 (a depthwise-separable conv)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.depth_conv = nn.Conv2d(in_ch, in_ch, kernel_size=3, stride=1, padding=1, groups=in_ch)
        self.point_conv = nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=1, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.point_conv(self.depth_conv(x))


class DilatedResblock(nn.Module):
    """Five 3x3 convs with dilations 1, 2, 3, 2, 1, LeakyReLU(0.01) between, plus the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, dilation in enumerate((1, 2, 3, 2, 1)):
            if i:
                layers.append(nn.LeakyReLU(0.01))
            layers.append(
                nn.Conv2d(channels, channels, 3, stride=1, padding=dilation, dilation=dilation)
            )
        self.model = nn.Sequential(*layers)  # keys model.0, 2, 4, 6, 8 as in the release

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) + x


class CrossAttention(nn.Module):
    """Row-wise channel attention: query from one band, key/value from another."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} not divisible by num_heads {num_heads}")
        self.head_size = dim // num_heads  # only sets the score scale, as in the release
        self.query = DepthConv(dim, dim)
        self.key = DepthConv(dim, dim)
        self.value = DepthConv(dim, dim)
        self.fused = False

    def forward(self, hidden: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return self._forward_channels_last(hidden, context)
        q = self.query(hidden).permute(0, 2, 1, 3)  # B, H, C, W
        k = self.key(context).permute(0, 2, 1, 3)
        v = self.value(context).permute(0, 2, 1, 3)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size)  # B, H, C, C
        probs = torch.softmax(scores, dim=-1)
        return torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()  # B, C, H, W

    def _forward_channels_last(self, hidden: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Same scores and output with the products transposed: ``B, H, W, C`` views of
        channels_last maps in, a channels_last ``B, C, H, W`` out (no layout copies)."""
        q = self.query(hidden).permute(0, 2, 3, 1)  # B, H, W, C
        k = self.key(context).permute(0, 2, 3, 1)
        v = self.value(context).permute(0, 2, 3, 1)
        scores = torch.matmul(q.transpose(-1, -2), k) / math.sqrt(self.head_size)  # B, H, C, C
        probs = torch.softmax(scores, dim=-1)
        return torch.matmul(v, probs.transpose(-1, -2)).permute(0, 3, 1, 2)  # (probs v)^T


class HFRM(nn.Module):
    """``3B x in x h x w`` ([HL; LH; HH] on the batch axis) -> refined bands, same shape."""

    def __init__(self, in_channels: int = 3, width: int = 64, num_heads: int = 8) -> None:
        super().__init__()
        # Registration order = the authors' key order in their state dict.
        self.conv_head = DepthConv(in_channels, width)
        self.dilated_block_LH = DilatedResblock(width)
        self.dilated_block_HL = DilatedResblock(width)
        self.cross_attention0 = CrossAttention(width, num_heads)
        self.dilated_block_HH = DilatedResblock(width)
        self.conv_HH = nn.Conv2d(width * 2, width, kernel_size=3, stride=1, padding=1)
        self.cross_attention1 = CrossAttention(width, num_heads)
        self.conv_tail = DepthConv(width, in_channels)
        self.fused = False

    def set_fused(self, fused: bool) -> None:
        """Switch the cross attention to (or from) channels_last products and ``conv_tail`` to
        one call per band (see the module doc)."""
        self.fused = fused
        for module in self.modules():
            if isinstance(module, CrossAttention):
                module.fused = fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] % 3:
            raise ValueError(f"HFRM expects 3B bands on the batch axis, got batch {x.shape[0]}")
        n = x.shape[0] // 3
        residual = x  # kept in its own dtype: the global residual is added at full precision
        f = self.conv_head(x.to(self.conv_head.point_conv.weight.dtype))
        f_hl, f_lh, f_hh = f[:n], f[n : 2 * n], f[2 * n :]
        hh_from_lh = self.cross_attention0(f_lh, f_hh)
        hh_from_hl = self.cross_attention1(f_hl, f_hh)
        out_hl = self.dilated_block_HL(f_hl)
        out_lh = self.dilated_block_LH(f_lh)
        out_hh = self.dilated_block_HH(self.conv_HH(torch.cat((hh_from_lh, hh_from_hl), dim=1)))
        if self.fused:  # the tail per band: concatenates 3 channels instead of `width`
            tail = torch.cat([self.conv_tail(out) for out in (out_hl, out_lh, out_hh)], dim=0)
            return tail + residual
        return self.conv_tail(torch.cat((out_hl, out_lh, out_hh), dim=0)) + residual
