"""DiffLL's noise-prediction UNet (the ermongroup/ddim ``DiffusionUNet`` as modified by the authors).

Module and parameter names follow the authors' code so that their state dict loads with
``strict=True`` (under the ``Unet.`` prefix of :class:`diffll.model.DiffLL`). Differences from
ermongroup/ddim: the input is ``concat[condition, x_t]`` (2 x 3 channels), attention sits at a
fixed level index (2) instead of a resolution, and there is no fixed input resolution.

Attention has two interchangeable backends. ``"math"`` is the authors' operation order (an
explicit ``hw x hw`` score matrix, quadratic memory); ``"sdpa"`` calls
``scaled_dot_product_attention`` (same maths, fused kernels, no materialised score matrix on
backends that have one), used by the fast inference path; ``"chunked"`` is the same maths in
blocks of query rows, read straight from channels_last tensors (:func:`diffll.fused.chunked_attention`),
the fastest on CPUs without AMX.

:meth:`UNet.set_fused` switches the modules to the fused inference kernels of :mod:`diffll.fused`
(the CPU bf16 path of :class:`diffll.inference.Enhancer`); off by default, so the reference path
is the authors' operation order.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from diffll.config import DiffLLConfig
from diffll.fused import chunked_attention, group_norm_swish, subpixel_weights, upsample_conv

__all__ = ["ATTENTION_BACKENDS", "AttnBlock", "ResnetBlock", "UNet", "timestep_embedding"]

ATTENTION_BACKENDS = ("math", "sdpa", "chunked")


def timestep_embedding(timesteps: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding (half sin, half cos), as in DDPM/ermongroup."""
    if timesteps.dim() != 1:
        raise ValueError(f"timesteps must be 1-D, got shape {tuple(timesteps.shape)}")
    half = dim // 2
    scale = math.log(10000) / (half - 1)
    freqs = torch.exp(torch.arange(half, dtype=torch.float32) * -scale).to(timesteps.device)
    args = timesteps.float()[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    if dim % 2 == 1:
        emb = F.pad(emb, (0, 1, 0, 0))
    return emb


def swish(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


class GroupNorm(nn.GroupNorm):
    """``nn.GroupNorm`` (same parameters and keys) whose per-image result does not depend on
    the batch on CPU.

    PyTorch's CPU kernel for channels_last inputs splits the reduction differently for different
    batch sizes, so an image normalised in a batch of 4 differed from the same image alone
    (1.4e-5 in fp32, 1.6e-2 in bf16 at 32 x 144 x 152). Normalising is per image anyway, so on
    CPU a channels_last batch is normalised one image at a time (memory-bound, no measurable
    cost); contiguous inputs and CUDA take the batched kernel.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            x.shape[0] > 1
            and x.device.type == "cpu"
            and not x.is_contiguous()
            and x.is_contiguous(memory_format=torch.channels_last)
        ):
            return torch.cat([super(GroupNorm, self).forward(x[i : i + 1]) for i in range(len(x))])
        return super().forward(x)


def group_norm(channels: int) -> GroupNorm:
    return GroupNorm(num_groups=32, num_channels=channels, eps=1e-6, affine=True)


class Upsample(nn.Module):
    """Nearest x2 then a 3x3 conv (fused: four 2x2 convs of the small map, see :meth:`set_fused`)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1)
        self.fused = False

    def set_fused(self, fused: bool) -> None:
        """Fused: run :func:`diffll.fused.upsample_conv` with weights derived from the current
        ones. They are non-persistent buffers (not in the state dict) so that a later
        ``.to(dtype)`` rounds them once from these float32 sums; set them again after
        changing the convolution's weights."""
        self.fused = fused
        for name in ("subpixel_weight", "subpixel_bias"):
            if hasattr(self, name):
                delattr(self, name)
        if fused:
            weight, bias = subpixel_weights(self.conv)
            self.register_buffer("subpixel_weight", weight, persistent=False)
            self.register_buffer("subpixel_bias", bias, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return upsample_conv(x, self.subpixel_weight, self.subpixel_bias)
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Downsample(nn.Module):
    """Zero-pad right/bottom by one, then a 3x3 stride-2 conv (no conv padding)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1), mode="constant", value=0))


class ResnetBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, temb_channels: int, dropout: float):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1)
        self.temb_proj = nn.Linear(temb_channels, out_channels)
        self.norm2 = group_norm(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.fused = False

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return self._forward_fused(x, temb)
        h = self.conv1(swish(self.norm1(x)))
        h = h + self.temb_proj(swish(temb))[:, :, None, None]
        h = self.conv2(self.dropout(swish(self.norm2(h))))
        if self.in_channels != self.out_channels:
            x = self.nin_shortcut(x)
        return x + h

    def _forward_fused(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        """The same block with GroupNorm+SiLU in one pass, the timestep embedding added as
        conv1's bias when the batch shares one timestep (no extra pass over the map), and the
        residual added in place (inference only)."""
        t = self.temb_proj(swish(temb))
        h = group_norm_swish(self.norm1, x)
        conv1 = self.conv1
        if t.shape[0] == 1:
            bias = t[0] if conv1.bias is None else conv1.bias + t[0]
            h = F.conv2d(
                h, conv1.weight, bias, conv1.stride, conv1.padding, conv1.dilation, conv1.groups
            )
        else:
            h = conv1(h).add_(t[:, :, None, None])
        h = self.conv2(self.dropout(group_norm_swish(self.norm2, h)))
        if self.in_channels != self.out_channels:
            x = self.nin_shortcut(x)
        return h.add_(x)


class AttnBlock(nn.Module):
    """Single-head self-attention over all h*w positions, scale C^-0.5, residual."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = group_norm(channels)
        self.q = nn.Conv2d(channels, channels, kernel_size=1)
        self.k = nn.Conv2d(channels, channels, kernel_size=1)
        self.v = nn.Conv2d(channels, channels, kernel_size=1)
        self.proj_out = nn.Conv2d(channels, channels, kernel_size=1)
        self.backend = "math"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.backend == "chunked":
            # the fused path: GroupNorm through group_norm_swish's layout rule, no SiLU here
            h_ = group_norm_swish(self.norm, x, swish=False)
        else:
            h_ = self.norm(x)
        q, k, v = self.q(h_), self.k(h_), self.v(h_)
        # One image at a time: a batched matrix product picks other BLAS kernels for other
        # batch sizes, and then an image's float32 result would depend on its batch. The
        # products are large (hw x hw per image), so the loop costs nothing measurable.
        if self.backend == "chunked":
            attend = chunked_attention
        elif self.backend == "sdpa":
            attend = self._attend_sdpa
        else:
            attend = self._attend_math
        if self.backend == "chunked" and len(q) == 1:
            h_ = attend(q, k, v)  # already channels_last; the other backends keep their copy
        else:
            h_ = torch.cat([attend(q[i : i + 1], k[i : i + 1], v[i : i + 1]) for i in range(len(q))])
        return x + self.proj_out(h_)

    @staticmethod
    def _attend_sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        b, c, h, w = q.shape
        # (b, 1 head, hw, c) each; the default scale is c^-0.5 as in the math path. The
        # transposed views must be made contiguous: on CPU, scaled_dot_product_attention falls
        # back to the unfused kernel for strided inputs and materialises the hw x hw scores
        # (+3.4 GB instead of +13 MB at 20,000 positions).
        q = q.reshape(b, 1, c, h * w).transpose(-1, -2).contiguous()
        k = k.reshape(b, 1, c, h * w).transpose(-1, -2).contiguous()
        v = v.reshape(b, 1, c, h * w).transpose(-1, -2).contiguous()
        out = F.scaled_dot_product_attention(q, k, v)
        return out.transpose(-1, -2).reshape(b, c, h, w)

    @staticmethod
    def _attend_math(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The authors' operation order: explicit score matrix, softmax, weighted sum."""
        b, c, h, w = q.shape
        q = q.reshape(b, c, h * w).permute(0, 2, 1)  # b, hw, c
        k = k.reshape(b, c, h * w)  # b, c, hw
        weights = torch.bmm(q, k) * (int(c) ** (-0.5))  # b, hw(query), hw(key)
        weights = F.softmax(weights, dim=2)
        v = v.reshape(b, c, h * w)
        return torch.bmm(v, weights.permute(0, 2, 1)).reshape(b, c, h, w)


class _Level(nn.Module):
    """Container giving the authors' key names ``block.i``, ``attn.i``, ``downsample``/``upsample``."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.ModuleList()
        self.attn = nn.ModuleList()


class _TimeEmbedding(nn.Module):
    def __init__(self, ch: int, temb_ch: int) -> None:
        super().__init__()
        self.dense = nn.ModuleList([nn.Linear(ch, temb_ch), nn.Linear(temb_ch, temb_ch)])


class _Middle(nn.Module):
    def __init__(self, channels: int, temb_ch: int, dropout: float) -> None:
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, temb_ch, dropout)
        self.attn_1 = AttnBlock(channels)
        self.block_2 = ResnetBlock(channels, channels, temb_ch, dropout)


class UNet(nn.Module):
    """eps_theta(concat[cond, x_t], t): ``B x 2*in x h x w`` -> ``B x out x h x w``.

    h and w must be multiples of ``2^(len(ch_mult) - 1)``.
    """

    def __init__(self, config: DiffLLConfig) -> None:
        super().__init__()
        self.ch = ch = config.ch
        self.temb_ch = temb_ch = config.temb_channels
        ch_mult = tuple(config.ch_mult)
        self.num_resolutions = len(ch_mult)
        self.num_res_blocks = n_blocks = config.num_res_blocks
        self.attn_level = config.attn_level
        dropout = config.dropout

        self.temb = _TimeEmbedding(ch, temb_ch)
        self.conv_in = nn.Conv2d(2 * config.in_channels, ch, kernel_size=3, stride=1, padding=1)

        in_ch_mult = (1, *ch_mult)
        self.down = nn.ModuleList()
        block_in = ch
        for level in range(self.num_resolutions):
            down = _Level()
            block_in = ch * in_ch_mult[level]
            block_out = ch * ch_mult[level]
            for _ in range(n_blocks):
                down.block.append(ResnetBlock(block_in, block_out, temb_ch, dropout))
                block_in = block_out
                if level == self.attn_level:
                    down.attn.append(AttnBlock(block_in))
            if level != self.num_resolutions - 1:
                down.downsample = Downsample(block_in)
            self.down.append(down)

        self.mid = _Middle(block_in, temb_ch, dropout)

        ups: list[_Level] = []
        for level in reversed(range(self.num_resolutions)):
            up = _Level()
            block_out = ch * ch_mult[level]
            skip_in = ch * ch_mult[level]
            for i_block in range(n_blocks + 1):
                if i_block == n_blocks:
                    skip_in = ch * in_ch_mult[level]
                up.block.append(ResnetBlock(block_in + skip_in, block_out, temb_ch, dropout))
                block_in = block_out
                if level == self.attn_level:
                    up.attn.append(AttnBlock(block_in))
            if level != 0:
                up.upsample = Upsample(block_in)
            ups.insert(0, up)
        self.up = nn.ModuleList(ups)

        self.norm_out = group_norm(block_in)
        self.norm_out_fused = False
        self.conv_out = nn.Conv2d(block_in, config.out_channels, kernel_size=3, stride=1, padding=1)

    @property
    def size_multiple(self) -> int:
        return 2 ** (self.num_resolutions - 1)

    @property
    def attention_backend(self) -> str:
        """The backend of the attention blocks (``"math"`` or ``"sdpa"``)."""
        return next(m.backend for m in self.modules() if isinstance(m, AttnBlock))

    def set_attention_backend(self, backend: str) -> None:
        """Switch every attention block between ``"math"`` (authors'), ``"sdpa"`` and ``"chunked"``."""
        if backend not in ATTENTION_BACKENDS:
            raise ValueError(f"attention backend must be one of {ATTENTION_BACKENDS}")
        for module in self.modules():
            if isinstance(module, AttnBlock):
                module.backend = backend

    @property
    def fused(self) -> bool:
        """Whether the fused inference kernels are on (see :meth:`set_fused`)."""
        return bool(self.norm_out_fused)

    def set_fused(self, fused: bool) -> None:
        """Switch the ResnetBlocks, the Upsamples and the output GroupNorm+SiLU to the fused
        inference kernels of :mod:`diffll.fused` (same maths, fewer passes over memory;
        inference only). Attention is chosen apart with :meth:`set_attention_backend`."""
        self.norm_out_fused = fused
        for module in self.modules():
            if isinstance(module, ResnetBlock):
                module.fused = fused
            elif isinstance(module, Upsample):
                module.set_fused(fused)

    def forward(self, x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        h_in, w_in = x.shape[-2:]
        m = self.size_multiple
        if h_in % m or w_in % m:
            raise ValueError(f"UNet input sides must be multiples of {m}, got {h_in}x{w_in}")
        if not isinstance(t, torch.Tensor):
            t = torch.tensor([float(t)], device=x.device)
        if t.dim() == 0:
            t = t[None]
        if t.shape[0] != 1 and bool((t == t[0]).all()):
            # One timestep for the whole batch (every sampling step): embed it once and let it
            # broadcast in the ResnetBlocks. Besides saving work, this keeps each image's bytes
            # independent of its batch: a 1-row and a B-row Linear take different BLAS paths
            # whose float32 results differ in the last bit.
            t = t[:1]
        # fp32 sinusoids, then the weights' dtype (a no-op unless the network is held in bf16)
        temb = timestep_embedding(t, self.ch).to(self.conv_in.weight.dtype)
        temb = self.temb.dense[1](swish(self.temb.dense[0](temb)))

        hs = [self.conv_in(x.to(self.conv_in.weight.dtype))]
        for level, down in enumerate(self.down):
            for i_block, block in enumerate(down.block):
                h = block(hs[-1], temb)
                if len(down.attn) > 0:
                    h = down.attn[i_block](h)
                hs.append(h)
            if level != self.num_resolutions - 1:
                hs.append(down.downsample(hs[-1]))

        h = hs[-1]
        h = self.mid.block_1(h, temb)
        h = self.mid.attn_1(h)
        h = self.mid.block_2(h, temb)

        for level in reversed(range(self.num_resolutions)):
            up = self.up[level]
            for i_block, block in enumerate(up.block):
                h = block(torch.cat([h, hs.pop()], dim=1), temb)
                if len(up.attn) > 0:
                    h = up.attn[i_block](h)
            if level != 0:
                h = up.upsample(h)

        if self.norm_out_fused:
            return self.conv_out(group_norm_swish(self.norm_out, h))
        return self.conv_out(swish(self.norm_out(h)))
