"""IAT, the Illumination-Adaptive Transformer (Cui et al., BMVC 2022), ``IAT_enhance`` part.

A local branch predicts a per-pixel multiplier and offset (``y = x * mul + add``); a global
branch turns the image into 10 tokens with learned constant queries and reads a gamma and a
3x3 colour matrix from them: ``out = clamp(M y, 1e-8, 1) ** gamma``. Module names mirror the
authors' state-dict keys so the released file loads with ``strict=True``. Dropout and drop-path
exist only in training and are left out. Spec: ``../shared/reference/competitors/iat.md``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ChannelAffine(nn.Module):
    """The authors' ``Aff_channel``: per-pixel channel mix by ``color`` then scale and shift.
    Works on tokens ``(B, N, C)``; despite the name in their code, it normalises nothing."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, dim))
        self.color = nn.Parameter(torch.eye(dim))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.tensordot(tokens, self.color, dims=[[-1], [-1]]) * self.alpha + self.beta


class ConvMlp(nn.Module):
    """1x1 conv, exact GELU, 1x1 conv."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class ConvBlock(nn.Module):
    """The authors' ``CBlock_ln``: depthwise positional conv, then two residual branches
    (1x1 / depthwise 5x5 / 1x1 convs, and a conv MLP), each after a :class:`ChannelAffine`
    and scaled per channel by ``gamma_1`` / ``gamma_2``."""

    def __init__(self, dim: int = 16, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.pos_embed = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm1 = ChannelAffine(dim)
        self.conv1 = nn.Conv2d(dim, dim, 1)
        self.attn = nn.Conv2d(dim, dim, 5, padding=2, groups=dim)
        self.conv2 = nn.Conv2d(dim, dim, 1)
        self.norm2 = ChannelAffine(dim)
        self.gamma_1 = nn.Parameter(torch.ones(1, dim, 1, 1))
        self.gamma_2 = nn.Parameter(torch.ones(1, dim, 1, 1))
        self.mlp = ConvMlp(dim, dim * mlp_ratio)

    @staticmethod
    def _per_pixel(norm: ChannelAffine, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = norm(x.flatten(2).transpose(1, 2))
        return tokens.view(b, h, w, c).permute(0, 3, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.pos_embed(x)
        n = self._per_pixel(self.norm1, x)
        x = x + self.gamma_1 * self.conv2(self.attn(self.conv1(n)))
        n = self._per_pixel(self.norm2, x)
        return x + self.gamma_2 * self.mlp(n)


class LocalBranch(nn.Module):
    """``Local_pred_S``: shared stem, then a multiply path (ReLU) and an add path (tanh), each
    three :class:`ConvBlock` with a shortcut from the stem."""

    def __init__(self, in_dim: int = 3, dim: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_dim, dim, 3, padding=1)
        self.mul_blocks = nn.Sequential(*(ConvBlock(dim) for _ in range(3)))
        self.add_blocks = nn.Sequential(*(ConvBlock(dim) for _ in range(3)))
        self.mul_end = nn.Sequential(nn.Conv2d(dim, 3, 3, 1, 1), nn.ReLU())
        self.add_end = nn.Sequential(nn.Conv2d(dim, 3, 3, 1, 1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = F.leaky_relu(self.conv1(x), 0.2)
        mul = self.mul_end(self.mul_blocks(f) + f)
        add = self.add_end(self.add_blocks(f) + f)
        return mul, add


class QueryAttention(nn.Module):
    """Attention of 10 learned constant queries over the image tokens (not residual)."""

    def __init__(self, dim: int = 64, heads: int = 4, queries: int = 10) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.q = nn.Parameter(torch.ones(1, queries, dim))
        self.k = nn.Linear(dim, dim, bias=False)
        self.v = nn.Linear(dim, dim, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, n, c = tokens.shape
        hd = c // self.heads
        k = self.k(tokens).reshape(b, n, self.heads, hd).permute(0, 2, 1, 3)
        v = self.v(tokens).reshape(b, n, self.heads, hd).permute(0, 2, 1, 3)
        nq = self.q.shape[1]
        q = self.q.expand(b, -1, -1).view(b, nq, self.heads, hd).permute(0, 2, 1, 3)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, nq, c)
        return self.proj(out)


class TokenMlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class QueryBlock(nn.Module):
    """``query_SABlock``: positional conv, tokens, query attention (its 10 outputs replace the
    tokens), then a residual MLP."""

    def __init__(self, dim: int = 64, heads: int = 4) -> None:
        super().__init__()
        self.pos_embed = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = QueryAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = TokenMlp(dim, dim * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.pos_embed(x)
        tokens = self.attn(self.norm1(x.flatten(2).transpose(1, 2)))
        return tokens + self.mlp(self.norm2(tokens))


class ConvEmbedding(nn.Module):
    """Two stride-2 3x3 convs with eval-mode BatchNorm and a GELU between them (1/4 size)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 64) -> None:
        super().__init__()
        half = out_channels // 2
        self.proj = nn.Sequential(
            nn.Conv2d(in_channels, half, 3, 2, 1),
            nn.BatchNorm2d(half),
            nn.GELU(),
            nn.Conv2d(half, out_channels, 3, 2, 1),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class GlobalBranch(nn.Module):
    """``Global_pred``: image -> (gamma ``(B, 1)``, colour matrix ``(B, 3, 3)``)."""

    def __init__(self, in_channels: int = 3, dim: int = 64, heads: int = 4) -> None:
        super().__init__()
        self.gamma_base = nn.Parameter(torch.ones(1))
        self.color_base = nn.Parameter(torch.eye(3))
        self.conv_large = ConvEmbedding(in_channels, dim)
        self.generator = QueryBlock(dim, heads)
        self.gamma_linear = nn.Linear(dim, 1)
        self.color_linear = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.generator(self.conv_large(x))
        gamma = self.gamma_linear(tokens[:, 0].unsqueeze(1)).squeeze(-1) + self.gamma_base
        color = self.color_linear(tokens[:, 1:]).squeeze(-1).view(-1, 3, 3) + self.color_base
        return gamma, color


class IAT(nn.Module):
    """``IAT(in_dim=3, with_global=True, type='lol')`` of the authors."""

    def __init__(self) -> None:
        super().__init__()
        self.local_net = LocalBranch()
        self.global_net = GlobalBranch()

    def trace(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mul, add = self.local_net(x)
        y = x * mul + add
        gamma, color = self.global_net(x)
        pixels = y.permute(0, 2, 3, 1)  # B x H x W x 3
        out = torch.stack(
            [
                torch.clamp(torch.tensordot(pixels[i], color[i], dims=[[-1], [-1]]), 1e-8, 1.0)
                ** gamma[i]
                for i in range(x.shape[0])
            ]
        ).permute(0, 3, 1, 2)
        return {"output": out, "mul": mul, "add": add, "gamma": gamma, "color": color}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trace(x)["output"]
