"""Overlapping tiles, smooth blending windows and a memory estimate that decides when to tile.

Why tile at all: the UNet's self-attention at level ``attn_level`` and in the middle block
attends over every position of the frame, so the authors' implementation materialises a
``P x P`` score matrix with P = (H/2^(K+attn_level)) * (W/2^(K+attn_level)); for a 4K frame
that alone is several GiB. Tiles bound it.

Tiles start on multiples of ``align`` (the network's side multiple, 32), so every tile sees the
Haar and UNet grids at the same phase as the full frame, and its crop of the start noise is
exactly the full frame's noise at that place (deterministic per tile, shared in overlaps).
"""

from __future__ import annotations

import math

import torch

from diffll.config import DiffLLConfig

__all__ = [
    "HFRM_HALO",
    "blend_window",
    "estimate_peak_bytes",
    "estimate_strips_peak_bytes",
    "hfrm_in_strips",
    "tile_positions",
]

# Rows of context an HFRM output row depends on, on each side: conv_head's depthwise 3x3 (1),
# the q/k/v depthwise 3x3 of the cross attention (1; the attention itself mixes channels within
# one row), conv_HH (1), the dilated block (1+2+3+2+1 = 9) and conv_tail's depthwise 3x3 (1):
# 13 rows. A strip computed with 16 extra rows on each side is therefore exact.
HFRM_HALO = 16

# Live activations other than the attention scores, in values per input pixel. Calibrated on
# the full config at 512x512 on CPU: peak RSS minus RSS before the forward was 358 MB in fp32
# (about 341 values per pixel) and 156 MB in bf16 (measured with the former diffll.benchmarks
# script at 512x512, threads 1, one repeat); rounded up for allocator slack. Most of it
# is the level-1 HFRM: several 64-wide maps at a quarter of the pixels for each of 3 bands.
_ACTIVATION_VALUES_PER_PIXEL = 400
# The UNet alone, per position of the low band it runs on (1/16 of the pixels), with a fused
# attention kernel: the skip tensors of all levels (~320 values) plus the widest decoder
# concatenations and their GroupNorm/conv temporaries, rounded up. Checked once: the shipped
# model (models/diffll-sice), fp32, 2560x1440, strips of 256 rows: estimate 2.59 GB, measured
# peak RSS 3.02 GB of which ~0.6 GB is torch and the weights before the first image
# (`/usr/bin/time -v diffll enhance IMG -o OUT --checkpoint models/diffll-sice --device cpu
# --tile 256`; the full frame measured 4.85 GB against an estimate of 7.56 GB).
_UNET_VALUES_PER_LL_POSITION = 1200
# Whole-frame wavelet bands alive during the strips path: the input, both levels' bands and
# the refined highs, float32.
_BAND_VALUES_PER_PIXEL = 12


def attention_positions(config: DiffLLConfig, height: int, width: int) -> int:
    """Positions of the largest self-attention (level ``attn_level``) for a padded frame."""
    factor = 2 ** (config.wavelet_levels + config.attn_level)
    return (height // factor) * (width // factor)


def estimate_peak_bytes(
    config: DiffLLConfig,
    height: int,
    width: int,
    batch: int = 1,
    attention: str = "math",
    activation_bytes: int = 4,
) -> int:
    """Rough peak memory of one forward over a padded ``height x width`` frame.

    ``attention="math"`` counts the explicit score matrix and its softmax (both float32, both
    alive at once); ``"sdpa"`` assumes a fused kernel that never stores them; ``"chunked"``
    (:func:`diffll.fused.chunked_attention`) one block of query rows' scores and their softmax.
    """
    positions = attention_positions(config, height, width)
    if attention == "math":
        scores = 2 * 4 * positions * positions
    elif attention == "chunked":
        from diffll.fused import ATTENTION_CHUNK

        scores = 2 * activation_bytes * min(ATTENTION_CHUNK, positions) * positions
    else:
        scores = 0
    activations = _ACTIVATION_VALUES_PER_PIXEL * activation_bytes * height * width
    return batch * (scores + activations)


def estimate_strips_peak_bytes(
    config: DiffLLConfig,
    height: int,
    width: int,
    rows: int,
    batch: int = 1,
    activation_bytes: int = 4,
) -> int:
    """Rough peak memory of the strips path (see :func:`hfrm_in_strips`) on a padded frame.

    The UNet runs on the whole low band with a fused attention kernel, the HFRMs on strips of
    ``rows`` image rows (plus halos); the wavelet bands of the whole frame stay alive (float32).
    """
    f = 2**config.wavelet_levels
    unet = _UNET_VALUES_PER_LL_POSITION * activation_bytes * (height // f) * (width // f)
    strip_rows = min(height, rows + 4 * HFRM_HALO)
    hfrm = _ACTIVATION_VALUES_PER_PIXEL * activation_bytes * strip_rows * width
    bands = _BAND_VALUES_PER_PIXEL * 4 * height * width
    return batch * (unet + hfrm + bands)


def hfrm_in_strips(
    hfrm: torch.nn.Module, bands: torch.Tensor, rows: int, halo: int = HFRM_HALO
) -> torch.Tensor:
    """Run an HFRM over horizontal strips of ``rows`` rows of its input, each with ``halo`` rows
    of context above and below: the same result as one call on the whole input (the HFRM's
    convolutions reach 13 rows, its attention stays within a row) for a fraction of the memory.
    Strips span the full width because the HFRM's attention mixes a whole row.
    """
    if rows <= 0:
        raise ValueError(f"rows must be positive, got {rows}")
    height = bands.shape[-2]
    if rows >= height:
        return hfrm(bands)
    pieces = []
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        lo, hi = max(top - halo, 0), min(bottom + halo, height)
        out = hfrm(bands[..., lo:hi, :])
        pieces.append(out[..., top - lo : bottom - lo, :])
    return torch.cat(pieces, dim=-2)


def tile_positions(size: int, tile: int, overlap: int, align: int) -> list[int]:
    """Start offsets covering ``[0, size)`` with tiles of ``tile`` pixels (all multiples of ``align``).

    Consecutive tiles overlap by at least ``overlap`` (rounded up to ``align``); the last tile
    is flush with the end. ``size`` and ``tile`` must be multiples of ``align``.
    """
    if size % align or tile % align or tile <= 0:
        raise ValueError(f"size {size} and tile {tile} must be positive multiples of {align}")
    if tile >= size:
        return [0]
    stride = max(align, (tile - overlap) // align * align)
    starts = list(range(0, size - tile, stride))
    starts.append(size - tile)
    return starts


def _ramp(n: int, device: torch.device) -> torch.Tensor:
    """n values rising smoothly from near 0 to near 1 (sin^2, never exactly 0)."""
    i = torch.arange(n, dtype=torch.float32, device=device)
    return torch.sin(0.5 * math.pi * (i + 0.5) / n) ** 2


def _window_1d(length: int, ramp_start: bool, ramp_end: bool, ramp: int, device: torch.device):
    w = torch.ones(length, dtype=torch.float32, device=device)
    ramp = min(ramp, length // 2)
    if ramp > 0:
        if ramp_start:
            w[:ramp] = _ramp(ramp, device)
        if ramp_end:
            w[length - ramp :] = _ramp(ramp, device).flip(0)
    return w


def blend_window(
    tile_h: int,
    tile_w: int,
    y: int,
    x: int,
    height: int,
    width: int,
    ramp: int,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """``tile_h x tile_w`` weights: 1 inside, smooth ramps on sides shared with other tiles.

    Sides on the frame border keep weight 1 up to the edge, so the border is not darkened
    and a single tile reproduces the full-frame result exactly.
    """
    device = torch.device(device)
    wy = _window_1d(tile_h, y > 0, y + tile_h < height, ramp, device)
    wx = _window_1d(tile_w, x > 0, x + tile_w < width, ramp, device)
    return wy[:, None] * wx[None, :]
