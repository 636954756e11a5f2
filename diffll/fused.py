"""Fused CPU kernels for DiffLL's bf16 inference path, built from public PyTorch operations.

On a CPU without AMX the bf16 network spends ~2/3 of its time in convolutions that already run
at the core's bf16 speed; the rest went to work that these functions remove or shorten
(measured with ``docs/results/diffll_bf16_fusion.py``, see docs/performance.md):

* :func:`group_norm_swish`: GroupNorm then SiLU in place, one pass and one tensor fewer than
  ``x * sigmoid(x)``; small channels_last maps go through the contiguous GroupNorm kernel,
  which PyTorch's channels_last kernel is 3-5x slower than below ~1000 positions.
* :func:`chunked_attention`: softmax(q k^T / sqrt(c)) v in bf16 blocks of query rows, read
  straight from channels_last q, k, v (no layout copies); ~1.7x faster than the fused SDPA
  kernel at 3128 positions on this CPU, with memory bounded by one block of scores.
* :func:`subpixel_weights` / :func:`upsample_conv`: nearest x2 upsampling followed by a 3x3
  convolution equals four 2x2 convolutions of the small map (one per output pixel parity),
  4 x 4 instead of 4 x 9 multiply-adds per output pixel group.

All of them compute the same maths as the authors' operations (up to bf16 rounding) and treat
every image of a batch on its own or with batch-independent kernels, so an image's bytes do not
depend on its batch. They are inference-only (in-place operations, no autograd support).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ATTENTION_CHUNK",
    "SMALL_NORM_POSITIONS",
    "chunked_attention",
    "group_norm_swish",
    "subpixel_weights",
    "upsample_conv",
]

# Below this many positions a channels_last bf16 GroupNorm is faster through the contiguous
# kernel (torch 2.14, 1 thread: 128 x 23 x 34 took 0.75 ms channels_last, 0.14 ms contiguous
# with both layout copies; at 30 x 40 = 1200 positions the channels_last kernel takes 0.05 ms).
SMALL_NORM_POSITIONS = 1024
# Query rows per block of scores (512 x 3128 bf16 scores = 3.2 MB, fits the L2/L3 caches):
# 32 ms for 256 or 512, 36 ms for 1024, 43 ms unblocked, 57 ms fused SDPA at 3128 x 128.
ATTENTION_CHUNK = 512


def group_norm_swish(norm: nn.GroupNorm, x: torch.Tensor, swish: bool = True) -> torch.Tensor:
    """``swish(norm(x))`` (``norm(x)`` if not ``swish``), SiLU applied in place on the
    normalised tensor: one pass instead of ``sigmoid`` and ``mul`` and one tensor fewer.

    One image at a time (GroupNorm is per image anyway; PyTorch's channels_last kernel splits
    its reduction differently for different batch sizes, see :class:`diffll.unet.GroupNorm`).
    """
    if x.shape[0] > 1:
        return torch.cat([group_norm_swish(norm, x[i : i + 1], swish) for i in range(x.shape[0])])
    channels_last = not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
    small = x.device.type == "cpu" and x.shape[-2] * x.shape[-1] < SMALL_NORM_POSITIONS
    source = x.contiguous() if channels_last and small else x
    h = F.group_norm(source, norm.num_groups, norm.weight, norm.bias, norm.eps)
    if swish:
        h = F.silu(h, inplace=True)
    return h.contiguous(memory_format=torch.channels_last) if channels_last else h


def chunked_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, chunk: int = ATTENTION_CHUNK
) -> torch.Tensor:
    """Single-head attention over the ``h*w`` positions of one image, ``1 x c x h x w`` each.

    ``softmax(q k^T * c^-0.5) v`` with the scale applied to q (a ``hw x c`` tensor instead of
    each ``hw x hw`` block). For channels_last inputs every reshape is a view and the result
    is channels_last.
    """
    b, c, h, w = q.shape
    if b != 1:
        raise ValueError(f"chunked_attention takes one image at a time, got a batch of {b}")
    positions = h * w
    q_ = q.permute(0, 2, 3, 1).reshape(positions, c) * (int(c) ** (-0.5))
    k_t = k.permute(0, 2, 3, 1).reshape(positions, c).t()
    v_ = v.permute(0, 2, 3, 1).reshape(positions, c)
    out = torch.empty((positions, c), dtype=v.dtype, device=v.device)
    for start in range(0, positions, chunk):
        scores = torch.mm(q_[start : start + chunk], k_t)
        torch.mm(torch.softmax(scores, dim=-1), v_, out=out[start : start + chunk])
    return out.view(1, h, w, c).permute(0, 3, 1, 2)


def subpixel_weights(conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The 3x3 ``conv`` after nearest x2 upsampling as a ``4 out x in x 2 x 2`` convolution of
    the small map (output parities ``(0,0), (0,1), (1,0), (1,1)`` stacked on the channel axis).

    An even output row ``2i`` reads upsampled rows ``2i-1, 2i, 2i+1`` = small rows ``i-1, i, i``
    (kernel rows ``[w0, w1 + w2]`` on rows ``i-1, i``); an odd row ``2i+1`` reads small rows
    ``i, i, i+1`` (``[w0 + w1, w2]`` on rows ``i, i+1``); columns alike. The sums are formed in
    float32 from the current weights and rounded once to their dtype.
    """
    if conv.kernel_size != (3, 3) or conv.stride != (1, 1) or conv.padding != (1, 1):
        raise ValueError("subpixel_weights needs a 3x3, stride 1, padding 1 convolution")
    if conv.groups != 1 or conv.dilation != (1, 1):
        raise ValueError("subpixel_weights needs an ungrouped, undilated convolution")
    w = conv.weight.detach().float()
    rows = (
        torch.stack((w[:, :, 0], w[:, :, 1] + w[:, :, 2]), dim=2),  # even output rows
        torch.stack((w[:, :, 0] + w[:, :, 1], w[:, :, 2]), dim=2),  # odd output rows
    )
    parts = []
    for r in rows:
        parts.append(torch.stack((r[..., 0], r[..., 1] + r[..., 2]), dim=-1))  # even columns
        parts.append(torch.stack((r[..., 0] + r[..., 1], r[..., 2]), dim=-1))  # odd columns
    weight = torch.cat(parts, dim=0).to(conv.weight.dtype)
    bias = None if conv.bias is None else conv.bias.detach().repeat(4)
    return weight, bias


def upsample_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``conv3x3(nearest_x2(x))`` from :func:`subpixel_weights`; ``B x C x 2H x 2W``, channels_last.

    One 2x2 convolution (padding 1) gives all four parities at ``(H+1) x (W+1)`` positions;
    parity ``(py, px)`` of output pixel ``(i, j)`` sits at position ``(i+py, j+px)``. The
    interleave is four strided copies into the channels_last output.
    """
    n, _, h, w = x.shape
    parts = F.conv2d(x, weight, bias, padding=1).contiguous(memory_format=torch.channels_last)
    c = parts.shape[1] // 4
    out = torch.empty(
        (n, c, 2 * h, 2 * w), dtype=parts.dtype, device=parts.device,
        memory_format=torch.channels_last,
    )
    out_v = out.permute(0, 2, 3, 1).view(n, h, 2, w, 2, c)
    parts_v = parts.permute(0, 2, 3, 1).view(n, h + 1, w + 1, 2, 2, c)
    for py in range(2):
        for px in range(2):
            out_v[:, :, py, :, px, :] = parts_v[:, py : py + h, px : px + w, py, px, :]
    return out
