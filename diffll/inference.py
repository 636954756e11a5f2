"""Image-level DiffLL inference: padding, start noise, precision, tiling.

``diffll.load(path)`` returns an :class:`Enhancer`; ``enhancer.enhance(x)`` maps ``B x 3 x H x W``
images in [0, 1] to enhanced images of the same shape.

Two precisions:

* ``"fp32"``: operation for operation the authors' computation (explicit attention matrices,
  contiguous tensors), the reference path.
* ``"bf16"``: the UNet and HFRM weights held in bfloat16 (channels_last), fused
  ``scaled_dot_product_attention``; Haar transforms, the HFRM's global residual, the noise
  schedule and the DDIM update stay float32. (Holding the weights in bf16 measured ~8% faster
  on CPU than autocast over fp32 weights, which casts every weight at every call.) Used on
  CUDA, and on CPUs whose oneDNN build supports bf16 (falls back to fp32 with a warning
  elsewhere).

The only randomness is the start noise of the sampler. It is drawn on the CPU in float32, one
generator per image, so the same seed gives the same bytes whatever the device or batch.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import torch

from diffll.config import DiffLLConfig
from diffll.model import DiffLL
from diffll.padding import pad_to_multiple, padded_size
from diffll.tiling import (
    blend_window,
    estimate_peak_bytes,
    estimate_strips_peak_bytes,
    tile_positions,
)
from lowlight_common.devices import resolve_device

__all__ = ["PRECISIONS", "TILE_MODES", "Enhancer", "cpu_supports_bf16", "load", "resolve_device"]

PRECISIONS = ("fp32", "bf16")
TILE_MODES = ("strips", "blend")
DEFAULT_TILE_OVERLAP = 64


def cpu_supports_bf16() -> bool:
    """True when oneDNN has fast bf16 kernels on this CPU (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _memory_budget(device: torch.device) -> int:
    """Bytes we allow one forward to use: 80% of free GPU memory, 50% of available RAM."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(0.8 * free)
    import psutil

    return int(0.5 * psutil.virtual_memory().available)


class Enhancer:
    """A loaded DiffLL network plus the settings for running it on images."""

    def __init__(
        self,
        model: DiffLL,
        *,
        device: str | torch.device = "auto",
        precision: str = "fp32",
        tile: int | str | None = None,
        tile_overlap: int = DEFAULT_TILE_OVERLAP,
        tile_mode: str = "strips",
        steps: int | None = None,
        compile: bool = False,
        memory_budget: int | None = None,
        record: dict[str, Any] | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.config: DiffLLConfig = model.config
        self.device = resolve_device(device)
        if precision == "bf16" and self.device.type == "cpu" and not cpu_supports_bf16():
            warnings.warn(
                "this CPU has no fast bf16 support in oneDNN; running in fp32", stacklevel=2
            )
            precision = "fp32"
        self.precision = precision
        self.steps = steps if steps is not None else self.config.sampling_steps
        if not 1 <= self.steps <= self.config.num_train_timesteps:
            raise ValueError(f"steps must be in 1..{self.config.num_train_timesteps}")
        multiple = self.config.pad_multiple
        if tile is not None and tile != "auto":
            tile = int(tile)
            if tile < multiple or tile % multiple:
                raise ValueError(f"tile must be a positive multiple of {multiple}, got {tile}")
        self.tile = tile
        if tile_overlap < 0:
            raise ValueError("tile_overlap must be >= 0")
        self.tile_overlap = int(tile_overlap)
        if tile_mode not in TILE_MODES:
            raise ValueError(f"tile_mode must be one of {TILE_MODES}, got {tile_mode!r}")
        self.tile_mode = tile_mode
        self.memory_budget = memory_budget
        self.record = record or {}

        self.model = model.to(self.device).eval()
        if self.precision == "bf16":
            # The networks are held in bf16 (no autocast: no per-call weight casts, half the
            # weight memory); the wavelet transforms, the HFRM's global residual and the
            # sampler's arithmetic stay float32 (the networks cast their inputs, see
            # UNet.forward and HFRM.forward; the sampler casts eps back).
            self.model.Unet.set_attention_backend("sdpa")
            self.model.Unet.to(torch.bfloat16)
            for hfrm in self.model.hfrms:
                hfrm.to(torch.bfloat16)
            self.model.to(memory_format=torch.channels_last)
        else:
            self.model.Unet.set_attention_backend("math")
        if compile:
            # Static shapes: with automatic dynamic shapes the second HFRM (another input size,
            # same code) would switch both to a dynamic graph after the first image, and the
            # first image would then differ in the last bits from all later ones. One static
            # graph per input size keeps "same seed -> same bytes" from the first call on.
            self.model.Unet.compile(dynamic=False)
            for hfrm in self.model.hfrms:
                hfrm.compile(dynamic=False)

    # ---- noise ---------------------------------------------------------------------------------

    def noise_shape(self, batch: int, height: int, width: int) -> tuple[int, int, int, int]:
        """Start-noise shape for ``batch`` images of ``height x width`` (before padding)."""
        m = self.config.pad_multiple
        f = 2**self.config.wavelet_levels
        return (
            batch,
            self.config.in_channels,
            padded_size(height, m) // f,
            padded_size(width, m) // f,
        )

    def draw_noise(
        self,
        batch: int,
        height: int,
        width: int,
        generator: torch.Generator | None = None,
        seeds: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """Start noise on the CPU: from ``generator`` if given, else one generator per seed."""
        shape = self.noise_shape(batch, height, width)
        if generator is not None:
            return torch.randn(shape, generator=generator, dtype=torch.float32)
        seeds = list(seeds) if seeds is not None else [0] * batch
        if len(seeds) != batch:
            raise ValueError(f"got {len(seeds)} seeds for {batch} images")
        per_image = []
        for seed in seeds:
            gen = torch.Generator(device="cpu").manual_seed(int(seed))
            per_image.append(torch.randn((1, *shape[1:]), generator=gen, dtype=torch.float32))
        return torch.cat(per_image, dim=0)

    # ---- running -----------------------------------------------------------------------------

    def _run(
        self, x_m11: torch.Tensor, noise: torch.Tensor, hfrm_rows: int | None = None
    ) -> torch.Tensor:
        """One padded block through the network; [0, 1] float32 output."""
        if self.precision == "bf16":
            x_m11 = x_m11.contiguous(memory_format=torch.channels_last)
        out = self.model.forward_inference(
            x_m11, noise, num_steps=self.steps, hfrm_rows=hfrm_rows
        )["output"]
        return out.float()

    def _run_strips(self, x_m11: torch.Tensor, noise: torch.Tensor, rows: int) -> torch.Tensor:
        """HFRMs on strips of ``rows`` image rows, the UNet on the whole low band with a fused
        attention kernel (no P x P score matrix): the full-frame result for less memory."""
        unet = self.model.Unet
        backend = unet.attention_backend
        unet.set_attention_backend("sdpa")
        try:
            return self._run(x_m11, noise, hfrm_rows=rows)
        finally:
            unet.set_attention_backend(backend)

    def choose_tile(self, batch: int, height: int, width: int) -> tuple[str, int] | None:
        """How to split a padded frame: None (whole frame), ``("strips", rows)`` or
        ``("blend", tile side)``.

        ``strips`` gives the full-frame result (up to float rounding): the HFRMs run on
        horizontal strips with enough context rows, the UNet on the whole low band with a fused
        attention kernel (memory linear in the pixels). ``blend`` runs the whole network on
        overlapping tiles and blends them: memory bounded for any size, but every tile
        normalises and attends within itself, so the output departs from the full frame's
        (measured 19-28 dB PSNR at 1080x720 with 256-512 px tiles, ``python -m
        diffll.tile_check``). ``auto`` tiles only when the frame would not fit the memory
        budget, with strips when they fit, else blended tiles.
        """
        if self.tile is None:
            return None
        if self.tile != "auto":
            tile = int(self.tile)
            if self.tile_mode == "strips":
                return ("strips", tile) if tile < height else None
            return ("blend", tile) if tile < max(height, width) else None
        budget = (
            self.memory_budget if self.memory_budget is not None else _memory_budget(self.device)
        )
        attention = "sdpa" if self.precision == "bf16" else "math"
        nbytes = 2 if self.precision == "bf16" else 4

        def fits(h: int, w: int) -> bool:
            return estimate_peak_bytes(self.config, h, w, batch, attention, nbytes) <= budget

        if fits(height, width):
            return None
        m = self.config.pad_multiple
        if self.tile_mode == "strips":
            rows = height - m
            while rows >= m:
                need = estimate_strips_peak_bytes(self.config, height, width, rows, batch, nbytes)
                if need <= budget:
                    return ("strips", rows)
                rows -= m
        tile = padded_size(max(height, width), m)
        while tile > m and not fits(min(tile, height), min(tile, width)):
            tile -= m
        return ("blend", tile)  # the smallest tile (m) even if the estimate says it does not fit

    def enhance(
        self,
        x: torch.Tensor,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        seeds: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """Enhance ``B x 3 x H x W`` images in [0, 1]; returns the same shape, float32, on x's device.

        ``noise`` (``noise_shape(B, H, W)``) fixes the start noise of the padded images;
        otherwise it comes from ``generator``, else from one generator per entry of ``seeds``
        (default seed 0 for every image).
        """
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"expected a B x 3 x H x W tensor, got {shape}")
        if not x.is_floating_point():
            raise ValueError(f"expected float images in [0, 1], got dtype {x.dtype}")
        if x.numel() and (float(x.min()) < -1e-6 or float(x.max()) > 1 + 1e-6):
            raise ValueError(
                f"images must lie in [0, 1], got range [{float(x.min()):.4g}, {float(x.max()):.4g}]"
            )
        batch, _, height, width = x.shape
        expected = self.noise_shape(batch, height, width)
        if noise is None:
            noise = self.draw_noise(batch, height, width, generator=generator, seeds=seeds)
        elif tuple(noise.shape) != expected:
            raise ValueError(f"noise must have shape {expected}, got {tuple(noise.shape)}")

        source_device = x.device
        with torch.inference_mode():
            x_m11 = pad_to_multiple(x.to(self.device, torch.float32), self.config.pad_multiple)
            x_m11 = x_m11 * 2 - 1
            noise = noise.to(self.device, torch.float32)
            split = self.choose_tile(batch, x_m11.shape[-2], x_m11.shape[-1])
            if split is None:
                out = self._run(x_m11, noise)
            elif split[0] == "strips":
                out = self._run_strips(x_m11, noise, split[1])
            else:
                out = self._run_tiled(x_m11, noise, split[1])
            out = out[..., :height, :width].to(source_device)
        return out

    def _run_tiled(self, x_m11: torch.Tensor, noise: torch.Tensor, tile: int) -> torch.Tensor:
        """Blend overlapping tiles of the whole network; each tile uses its crop of the full
        frame's start noise."""
        batch, channels, height, width = x_m11.shape
        align = self.config.pad_multiple
        f = 2**self.config.wavelet_levels
        tile_h, tile_w = min(tile, height), min(tile, width)
        ys = tile_positions(height, tile_h, self.tile_overlap, align)
        xs = tile_positions(width, tile_w, self.tile_overlap, align)
        acc = torch.zeros(
            (batch, channels, height, width), dtype=torch.float32, device=x_m11.device
        )
        weight = torch.zeros((height, width), dtype=torch.float32, device=x_m11.device)
        for y in ys:
            for x0 in xs:
                block = x_m11[..., y : y + tile_h, x0 : x0 + tile_w]
                block_noise = noise[..., y // f : (y + tile_h) // f, x0 // f : (x0 + tile_w) // f]
                out = self._run(block, block_noise)
                win = blend_window(
                    tile_h, tile_w, y, x0, height, width, self.tile_overlap, x_m11.device
                )
                acc[..., y : y + tile_h, x0 : x0 + tile_w] += out * win
                weight[y : y + tile_h, x0 : x0 + tile_w] += win
        return acc / weight


def load(
    path: str | os.PathLike[str],
    device: str | torch.device = "auto",
    precision: str = "fp32",
    tile: int | str | None = None,
    compile: bool = False,
    **kwargs: Any,
) -> Enhancer:
    """Load a project checkpoint (see :mod:`diffll.checkpoint`) ready for ``enhance``.

    Extra keyword arguments go to :class:`Enhancer` (``steps``, ``tile_overlap``,
    ``memory_budget``).
    """
    from diffll.checkpoint import load_checkpoint

    model, _config, record = load_checkpoint(path, device="cpu")
    return Enhancer(
        model,
        device=device,
        precision=precision,
        tile=tile,
        compile=compile,
        record=record,
        **kwargs,
    )
