"""FLOPs per image of DiffLL (any K), pixel-space DDIM and WeatherDiff, and rough peak memory.

FLOPs are those :class:`torch.utils.flop_counter.FlopCounterMode` counts (convolutions, linear
layers and matrix products, 2 per multiply-add; normalisation, activations and the DDIM
update are not counted), for the authors' explicit attention (the same products as the fused
kernel of the bf16 path, so one count serves both precisions). The networks run on the
``meta`` device: shapes only, no arithmetic, so a 4K frame of the pixel-space baseline is
counted in milliseconds. One network call is counted and multiplied by the calls per image
(sampling steps; patches per step for WeatherDiff).

The memory estimates feed two decisions: refusing a frame that would not fit before it is
run (:class:`efficiency.diffusion_timing.TimingOnly`) and projecting the memory of cells that were
not run from a measured smaller size (:mod:`efficiency.projection`). They are rough (see
:mod:`diffll.tiling` for DiffLL's calibration).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from diffll.config import DiffLLConfig
from diffll.hfrm import HFRM
from diffll.padding import padded_size
from diffll.tiling import _UNET_VALUES_PER_LL_POSITION, estimate_peak_bytes
from diffll.unet import UNet

__all__ = [
    "count_flops",
    "diffll_flops",
    "diffll_peak_bytes",
    "hfrm_flops",
    "pixel_ddim_flops",
    "pixel_ddim_peak_bytes",
    "unet_flops",
    "weatherdiff_flops",
    "weatherdiff_peak_bytes",
]


def count_flops(call: Callable[[], object]) -> int:
    """FLOPs of ``call()`` as :class:`FlopCounterMode` counts them."""
    with FlopCounterMode(display=False) as counter:
        call()
    return int(counter.get_total_flops())


def unet_flops(config: DiffLLConfig, height: int, width: int, batch: int = 1) -> int:
    """One UNet call on ``batch`` inputs of ``height x width`` positions (explicit attention)."""
    with torch.device("meta"):
        unet = UNet(config)
        x = torch.empty(batch, 2 * config.in_channels, height, width)
        t = torch.zeros(1)
    unet.set_attention_backend("math")
    return count_flops(lambda: unet(x, t))


def hfrm_flops(config: DiffLLConfig, height: int, width: int) -> int:
    """One HFRM call on the three high bands of one ``height x width`` level."""
    with torch.device("meta"):
        hfrm = HFRM(config.in_channels, config.hfrm_width, config.hfrm_heads)
        bands = torch.empty(3, config.in_channels, height, width)
    return count_flops(lambda: hfrm(bands))


def diffll_flops(config: DiffLLConfig, height: int, width: int, steps: int | None = None) -> int:
    """DiffLL on an ``height x width`` image (padded as inference pads it): one HFRM per
    level on that level's bands, ``steps`` UNet calls on the coarsest LL band."""
    h, w = padded_size(height, config.pad_multiple), padded_size(width, config.pad_multiple)
    key = _key(config)
    total = 0
    for level in range(1, config.wavelet_levels + 1):
        total += _hfrm(key, h >> level, w >> level)
    f = 2**config.wavelet_levels
    steps = config.sampling_steps if steps is None else steps
    return total + steps * _unet(key, h // f, w // f, 1)


def pixel_ddim_flops(config: DiffLLConfig, height: int, width: int, steps: int | None = None) -> int:
    """The pixel-space baseline: ``steps`` UNet calls on the whole padded image."""
    m = 2 ** (len(config.ch_mult) - 1)
    steps = config.sampling_steps if steps is None else steps
    return steps * _unet(_key(config), padded_size(height, m), padded_size(width, m), 1)


def weatherdiff_flops(
    config: DiffLLConfig, patch: int, stride: int, height: int, width: int, steps: int | None = None
) -> int:
    """WeatherDiff: at every step one UNet call per patch of the stride grid (batching the
    patches does not change the count)."""
    h = max(patch, padded_size(height, stride))
    w = max(patch, padded_size(width, stride))
    patches = ((h - patch) // stride + 1) * ((w - patch) // stride + 1)
    steps = config.sampling_steps if steps is None else steps
    return steps * patches * _unet(_key(config), patch, patch, 1)


def pixel_ddim_peak_bytes(config: DiffLLConfig, height: int, width: int, attention: str, value_bytes: int) -> int:
    """Rough peak of the pixel-space baseline: the UNet's live activations at every pixel
    (DiffLL's calibration per LL position, scaled by width) plus, for the explicit attention,
    the float32 score matrix and its softmax at level ``attn_level``."""
    m = 2 ** (len(config.ch_mult) - 1)
    h, w = padded_size(height, m), padded_size(width, m)
    positions = (h >> config.attn_level) * (w >> config.attn_level)
    scores = 2 * 4 * positions * positions if attention == "math" else 0
    return scores + _UNET_VALUES_PER_LL_POSITION * (config.ch // 64) * value_bytes * h * w


def weatherdiff_peak_bytes(
    config: DiffLLConfig, patch: int, stride: int, per_call: int, height: int, width: int, value_bytes: int
) -> int:
    """Rough peak of WeatherDiff: one call's patches (activations as above, attention scores of
    each 16 x 16 map), plus the whole-image tensors (condition and x_t patch stacks, the cover
    count, x, eps sum: about 40 float32 values per pixel once the patch stacks are counted)."""
    h = max(patch, padded_size(height, stride))
    w = max(patch, padded_size(width, stride))
    patches = ((h - patch) // stride + 1) * ((w - patch) // stride + 1)
    per_patch = _UNET_VALUES_PER_LL_POSITION * max(config.ch // 64, 1) * value_bytes * patch * patch
    positions = (patch >> config.attn_level) ** 2
    stacks = 2 * patches * config.in_channels * patch * patch * 4
    return min(patches, per_call) * (per_patch + 8 * positions * positions) + stacks + 40 * h * w


def diffll_peak_bytes(config: DiffLLConfig, height: int, width: int, attention: str, value_bytes: int) -> int:
    """DiffLL's own whole-frame estimate (:func:`diffll.tiling.estimate_peak_bytes`)."""
    h, w = padded_size(height, config.pad_multiple), padded_size(width, config.pad_multiple)
    return estimate_peak_bytes(config, h, w, 1, attention, value_bytes)


# ---- caching on a hashable form of the config ----------------------------------------------


def _key(config: DiffLLConfig) -> tuple:
    """A hashable form of the config (the dataclass is mutable, hence unhashable)."""
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(config.to_dict().items()))


@functools.lru_cache(maxsize=256)
def _unet(key: tuple, height: int, width: int, batch: int) -> int:
    return unet_flops(DiffLLConfig.from_dict(dict(key)), height, width, batch)


@functools.lru_cache(maxsize=256)
def _hfrm(key: tuple, height: int, width: int) -> int:
    return hfrm_flops(DiffLLConfig.from_dict(dict(key)), height, width)
