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
  elsewhere). On CPU it runs the fused kernels of :mod:`diffll.fused` (GroupNorm+SiLU in one
  pass, blocked attention on channels_last tensors, the x2 upsampling convolutions as 2x2
  convolutions of the small map, in-place residuals); ``fused=False`` keeps the earlier bf16
  operation order (SDPA attention, separate sigmoid and multiply) for comparison.

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

__all__ = ["FrameTooLargeError", "MAX_AUTO_BATCH", "PRECISIONS", "TILE_MODES", "Enhancer", "cpu_supports_bf16", "load", "resolve_device"]

PRECISIONS = ("fp32", "bf16")
TILE_MODES = ("strips", "blend")
DEFAULT_TILE_OVERLAP = 64
# Largest batch ``batch_size="auto"`` picks on CUDA: beyond it a 1080x720 frame gains nothing
# measurable and one failed batch costs that many images.
MAX_AUTO_BATCH = 16
# PyTorch runs a float32 CPU convolution of a *single* image whose input has at most this many
# values with its native kernel and a batch with oneDNN (``use_mkldnn`` in
# aten/src/ATen/native/ConvUtils.h); the two round differently, so below it a batch is run one
# image at a time to keep every image's bytes independent of its batch.
_NATIVE_CONV_MAX_VALUES = 20480


def cpu_supports_bf16() -> bool:
    """True when oneDNN has fast bf16 kernels on this CPU (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _smallest_unet_conv_input(config: DiffLLConfig, height: int, width: int) -> int:
    """Values per image of the smallest input any UNet convolution sees on a padded frame:
    ``conv_in`` (2 x 3 channels at the low band) or the first block of the deepest level."""
    f = 2**config.wavelet_levels
    positions = (height // f) * (width // f)
    deepest = len(config.ch_mult) - 1
    sizes = [2 * config.in_channels * positions]
    for level in range(deepest + 1):
        channels = config.ch * (config.ch_mult[level - 1] if level else 1)
        sizes.append(channels * (positions >> (2 * level)))
    return min(sizes)


class FrameTooLargeError(MemoryError):
    """Even the memory-saving path would exceed the memory budget; the message says how much.

    ``estimated_bytes``: the estimate that decided (the benchmark records such a frame as
    ``over_memory``, refused before anything was allocated, not as an out-of-memory crash)."""

    estimated_bytes: int | None = None


def _memory_budget(device: torch.device) -> int:
    """Bytes one forward may use when ``tile="auto"`` decides whether to split a frame: 80% of
    the GPU's memory, half of the machine's RAM.

    Total, not free, memory: whether a frame is split changes its bytes in the last bits, so
    the decision must depend on the frame and the machine only, not on what else happens to be
    running. Pass ``memory_budget`` to fix it across machines.
    """
    if device.type == "cuda":
        _free, total = torch.cuda.mem_get_info(device)
        return int(0.8 * total)
    import psutil

    return int(0.5 * psutil.virtual_memory().total)


def _free_memory_budget(device: torch.device) -> int:
    """80% of the GPU memory free now: the room for a batch (batches do not change bytes)."""
    free, _total = torch.cuda.mem_get_info(device)
    return int(0.8 * free)


def _gib(nbytes: int) -> str:
    return f"{nbytes / 2**30:.1f} GiB"


class Enhancer:
    """A loaded DiffLL network plus the settings for running it on images."""

    def __init__(
        self,
        model: DiffLL,
        *,
        device: str | torch.device = "auto",
        precision: str = "fp32",
        tile: int | str | None = "auto",
        tile_overlap: int = DEFAULT_TILE_OVERLAP,
        tile_mode: str = "strips",
        steps: int | None = None,
        compile: bool = False,
        memory_budget: int | None = None,
        record: dict[str, Any] | None = None,
        fused: bool = True,
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
        self.checkpoint: Any = None  # diffll.shipped.ResolvedCheckpoint when made by load()

        self.model = model.to(self.device).eval()
        # The fused kernels (diffll.fused) serve the CPU bf16 path only: the fp32 path stays
        # the authors' operation order bit for bit, and CUDA keeps its fused SDPA kernel.
        self.fused = bool(fused) and self.precision == "bf16" and self.device.type == "cpu"
        self.model.Unet.set_fused(self.fused)  # before the bf16 cast: its derived weights
        for hfrm in self.model.hfrms:  # are summed from the float32 ones, rounded once
            hfrm.set_fused(self.fused)
        if self.precision == "bf16":
            # The networks are held in bf16 (no autocast: no per-call weight casts, half the
            # weight memory); the wavelet transforms, the HFRM's global residual and the
            # sampler's arithmetic stay float32 (the networks cast their inputs, see
            # UNet.forward and HFRM.forward; the sampler casts eps back).
            self.model.Unet.set_attention_backend("chunked" if self.fused else "sdpa")
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

    # ---- batches -----------------------------------------------------------------------------

    def batch_key(self, height: int, width: int) -> tuple[int, int]:
        """Images with the same key can share a forward: their padded size."""
        m = self.config.pad_multiple
        return padded_size(height, m), padded_size(width, m)

    def max_batch(self, height: int, width: int, requested: int | str = "auto") -> int:
        """Images of ``height x width`` per forward.

        ``"auto"``: 1 on CPU (two cores gain nothing from batching, measured with
        ``efficiency run --diffll-modes fp32 bf16 --batch-sizes 1 2``,
        docs/results/diffll_modes_cpu.csv); on CUDA the largest batch up to
        :data:`MAX_AUTO_BATCH` whose memory estimate fits 80% of the free memory. An integer is
        taken as given (>= 1).
        """
        if requested != "auto":
            n = int(requested)
            if n < 1:
                raise ValueError(f"batch size must be >= 1 or 'auto', got {requested!r}")
            return n
        if self.device.type != "cuda":
            return 1
        h, w = self.batch_key(height, width)
        budget = (
            self.memory_budget
            if self.memory_budget is not None
            else _free_memory_budget(self.device)
        )
        nbytes = 2 if self.precision == "bf16" else 4
        attention = self.model.Unet.attention_backend
        batch = 1
        while batch < MAX_AUTO_BATCH and (
            estimate_peak_bytes(self.config, h, w, batch + 1, attention, nbytes) <= budget
        ):
            batch += 1
        return batch

    def enhance_images(
        self, images: Sequence[torch.Tensor], seeds: Sequence[int]
    ) -> list[torch.Tensor]:
        """Enhance ``3 x H_i x W_i`` images of one padded size (:meth:`batch_key`) in one forward.

        Each image is padded on its own, exactly as it would be alone, and draws its start noise
        from its own seed, so its result does not depend on the other images of the batch (bit
        for bit on CPU; see :class:`diffll.unet.GroupNorm` and :class:`diffll.unet.AttnBlock`
        for the two kernels that needed care). Returns ``3 x H_i x W_i`` float32 images.
        """
        if len(images) != len(seeds):
            raise ValueError(f"got {len(seeds)} seeds for {len(images)} images")
        if not images:
            return []
        keys = {self.batch_key(img.shape[-2], img.shape[-1]) for img in images}
        if len(keys) != 1:
            raise ValueError(f"images of one batch must share a padded size, got {sorted(keys)}")
        for img in images:
            if img.dim() != 3 or img.shape[0] != 3:
                raise ValueError(f"expected 3 x H x W images, got {tuple(img.shape)}")
        m = self.config.pad_multiple
        padded = [pad_to_multiple(img[None].float(), m) for img in images]
        x = torch.cat(padded)
        out = self.enhance(x, seeds=list(seeds))
        return [
            out[i, :, : img.shape[-2], : img.shape[-1]] for i, img in enumerate(images)
        ]

    def _batch_changes_kernels(self, height: int, width: int) -> bool:
        """True when a float32 CPU batch of this size would run some UNet convolution with other
        kernels than a single image (see :data:`_NATIVE_CONV_MAX_VALUES`): such batches are run
        one image at a time. Only small frames (the full network: under ~290 x 290) qualify."""
        h, w = self.batch_key(height, width)
        return (
            self.device.type == "cpu"
            and self.precision == "fp32"
            and _smallest_unet_conv_input(self.config, h, w) <= _NATIVE_CONV_MAX_VALUES
        )

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
        if backend == "math":  # "sdpa" and "chunked" need no P x P score matrix
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
        budget (:func:`_memory_budget`), with the most rows per strip that fit; when not even
        strips fit, :class:`FrameTooLargeError` names the memory needed (blended tiles only
        when ``tile_mode="blend"`` was asked for).
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
        attention = self.model.Unet.attention_backend
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
            need = estimate_strips_peak_bytes(self.config, height, width, m, batch, nbytes)
            error = FrameTooLargeError(
                f"a {height}x{width} frame (padded, batch {batch}) needs about {_gib(need)} "
                f"even in strips of {m} rows (the UNet runs on the whole low band), over the "
                f"memory budget of {_gib(budget)}; raise memory_budget, or use tile_mode "
                "'blend' (bounded memory, but the output departs from the full frame's)"
            )
            error.estimated_bytes = need
            raise error
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

        if batch > 1 and self._batch_changes_kernels(height, width):
            return torch.cat([self.enhance(x[i : i + 1], noise=noise[i : i + 1]) for i in range(batch)])

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
    path: str | os.PathLike[str] | None = None,
    device: str | torch.device = "auto",
    precision: str = "fp32",
    tile: int | str | None = "auto",
    compile: bool = False,
    **kwargs: Any,
) -> Enhancer:
    """Load a project checkpoint (see :mod:`diffll.checkpoint`) ready for ``enhance``.

    ``path`` None: ``$DIFFLL_CHECKPOINT``, else the project's shipped model
    (:mod:`diffll.shipped`); the enhancer's ``checkpoint`` says which was used. ``tile="auto"``
    (the default) splits a frame only when it would not fit the memory budget; ``None`` never
    splits. Extra keyword arguments go to :class:`Enhancer` (``steps``, ``tile_overlap``,
    ``tile_mode``, ``memory_budget``, ``fused``).
    """
    from diffll.checkpoint import load_checkpoint
    from diffll.shipped import resolve_checkpoint

    resolved = resolve_checkpoint(path)
    model, _config, record = load_checkpoint(resolved.path, device="cpu")
    enhancer = Enhancer(
        model,
        device=device,
        precision=precision,
        tile=tile,
        compile=compile,
        record=record,
        **kwargs,
    )
    enhancer.checkpoint = resolved
    return enhancer
