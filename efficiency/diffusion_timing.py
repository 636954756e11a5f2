"""The diffusion baselines and DiffLL at K = 1, 2, 3 behind the enhancement-method interface,
for ``efficiency run`` only (as ``module:Class`` labels, see :mod:`efficiency.diffusion_labels`).

Every class here runs on seeded random weights and says "timing only" in its name, family
note and description: the outputs are not enhanced images, so these classes are deliberately
not in the enhancer registry (``enhance``, the workflow and the quality and detection tables
cannot reach them). Each class also answers, without building its network, how many FLOPs one
image costs (:meth:`TimingOnly.count_flops`) and roughly how much memory it needs
(:meth:`TimingOnly.estimate_bytes`): the harness writes the first beside every time, and
projects cells that were not run from both.

A frame whose estimated memory exceeds the budget (``memory_budget_mb``; default half the RAM,
or 80% of the GPU, as :mod:`diffll.inference`) is refused with
:class:`diffll.inference.FrameTooLargeError` before anything is allocated: the harness records
the cell as ``over_memory``, not as a crash of the machine.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from diffll.baselines import costs
from diffll.baselines.pixel_ddim import PixelDDIM
from diffll.baselines.weatherdiff import WeatherDiff, WeatherDiffSettings, unet_config
from diffll.config import DiffLLConfig
from diffll.inference import (
    PRECISIONS,
    Enhancer,
    FrameTooLargeError,
    _memory_budget,
    cpu_supports_bf16,
)
from diffll.model import DiffLL
from diffll.padding import pad_to_multiple, padded_size
from diffll.tiling import estimate_strips_peak_bytes
from enhancers.base import Method, resolve_device

__all__ = ["DiffLLTiming", "PixelDDIMTiming", "TimingOnly", "WeatherDiffTiming", "diffll_config"]

TIMING_ONLY = "timing only"


def diffll_config(levels: int = 2) -> DiffLLConfig:
    """The authors' full-size DiffLL (``configs/LOLv1.yml``) with ``levels`` Haar levels: K
    levels and three UNet downsamples need sides that are multiples of 2^(K+3)."""
    return DiffLLConfig(wavelet_levels=levels, pad_multiple=max(32, 2 ** (levels + 3)))


class TimingOnly(Method):
    """Shared by the classes below: seeded random weights, precision, memory refusal."""

    family = "diffusion"
    needs_gpu = True
    deterministic = True
    timing_only: ClassVar[bool] = True

    def __init__(
        self,
        device: str | torch.device = "auto",
        weights_dir: Any = None,
        *,
        precision: str = "fp32",
        seed: int = 0,
        memory_budget_mb: float | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"{self.name}: precision must be one of {PRECISIONS}, got {precision!r}")
        dev = resolve_device(device)
        if precision == "bf16" and dev.type == "cpu" and not cpu_supports_bf16():
            precision = "fp32"  # as diffll.inference: no fast bf16 kernels on this CPU
        self.precision = precision
        self.seed = int(seed)
        self.memory_budget = int(memory_budget_mb * 2**20) if memory_budget_mb else _memory_budget(dev)
        torch.manual_seed(self.seed)
        self.build(dev)
        params = sum(p.numel() for p in self.network().parameters())
        options = {**self.extra_options(), "precision": precision, "seed": self.seed, "memory_budget_mb": memory_budget_mb}
        super().__init__(replace(self.describe(**options), parameters=params), dev)

    # ---- what each baseline defines --------------------------------------------------------

    def build(self, device: torch.device) -> None:
        raise NotImplementedError

    def extra_options(self) -> dict[str, Any]:
        """Options of a subclass beyond precision, seed and memory budget (for its metadata)."""
        return {}

    def network(self) -> torch.nn.Module:
        raise NotImplementedError

    @classmethod
    def count_flops(cls, options: dict[str, Any], height: int, width: int) -> int:
        """FLOPs of one ``height x width`` image with these label options."""
        raise NotImplementedError

    @classmethod
    def estimate_bytes(cls, options: dict[str, Any], height: int, width: int) -> int:
        """Rough peak memory of one ``height x width`` image with these label options."""
        raise NotImplementedError

    # ---- shared ----------------------------------------------------------------------------

    def _hold(self, module: torch.nn.Module, device: torch.device) -> None:
        """fp32: the authors' explicit attention; bf16: weights in bf16, channels_last, and the
        kernels DiffLL's Enhancer uses on that device (:mod:`diffll.inference`: on CPU the
        fused ones of :mod:`diffll.fused` with blocked attention, on CUDA SDPA), so that the
        baselines' UNet runs exactly as fast as DiffLL's own."""
        module.to(device).eval()
        unet = module.Unet
        if self.precision == "bf16":
            fused = device.type == "cpu"
            unet.set_fused(fused)  # before the bf16 cast, as in Enhancer
            unet.set_attention_backend("chunked" if fused else "sdpa")
            unet.to(torch.bfloat16).to(memory_format=torch.channels_last)
        else:
            unet.set_attention_backend("math")

    def refuse_if_too_large(self, height: int, width: int) -> None:
        need = self.estimate_bytes({"precision": self.precision}, height, width)
        if need > self.memory_budget:
            error = FrameTooLargeError(
                f"{self.name}: a {width}x{height} frame needs about {need / 2**30:.1f} GiB "
                f"(estimate), over the memory budget of {self.memory_budget / 2**30:.1f} GiB; not run"
            )
            error.estimated_bytes = need
            raise error

    def _noise(self, shape: tuple[int, ...]) -> torch.Tensor:
        generator = torch.Generator(device="cpu").manual_seed(self.seed)
        return torch.randn(shape, generator=generator, dtype=torch.float32)


class DiffLLTiming(TimingOnly):
    """DiffLL as the project runs it (:class:`diffll.inference.Enhancer`, strips when a frame
    would not fit) with the authors' full-size network at ``levels`` Haar levels."""

    name = "diffll_timing"
    paper = "Jiang et al., SIGGRAPH Asia 2023 (authors' LOLv1 configuration, K Haar levels)"
    description = f"DiffLL, seeded random weights ({TIMING_ONLY}): the same UNet on the 1/4^K band, one HFRM per level."

    def __init__(
        self,
        device: str | torch.device = "auto",
        weights_dir: Any = None,
        *,
        levels: int = 2,
        precision: str = "fp32",
        seed: int = 0,
        memory_budget_mb: float | None = None,
    ) -> None:
        self.levels = int(levels)
        super().__init__(device, weights_dir, precision=precision, seed=seed, memory_budget_mb=memory_budget_mb)

    def extra_options(self) -> dict[str, Any]:
        return {"levels": self.levels}

    def build(self, device: torch.device) -> None:
        model = DiffLL(diffll_config(self.levels))
        self.enhancer = Enhancer(
            model, device=device, precision=self.precision, tile="auto", memory_budget=self.memory_budget
        )

    def network(self) -> torch.nn.Module:
        return self.enhancer.model

    @classmethod
    def count_flops(cls, options: dict[str, Any], height: int, width: int) -> int:
        return costs.diffll_flops(diffll_config(int(options.get("levels", 2))), height, width)

    @classmethod
    def estimate_bytes(cls, options: dict[str, Any], height: int, width: int) -> int:
        """What the enhancer will run: the whole frame when its estimate fits the memory budget,
        else strips (:meth:`diffll.inference.Enhancer.choose_tile`), of which the estimate of
        the thinnest is returned (the enhancer refuses the frame only when even that does not
        fit)."""
        bf16 = options.get("precision", "fp32") == "bf16"
        config = diffll_config(int(options.get("levels", 2)))
        nbytes = 2 if bf16 else 4
        whole = costs.diffll_peak_bytes(config, height, width, "sdpa" if bf16 else "math", nbytes)
        budget_mb = options.get("memory_budget_mb")
        budget = int(budget_mb * 2**20) if budget_mb else _memory_budget(torch.device("cpu"))
        if whole <= budget:
            return whole
        h, w = padded_size(height, config.pad_multiple), padded_size(width, config.pad_multiple)
        return estimate_strips_peak_bytes(config, h, w, config.pad_multiple, 1, nbytes)

    def _enhance_batch(self, batch: torch.Tensor, name: str | None) -> torch.Tensor:
        return self.enhancer.enhance(batch, seeds=[self.seed] * batch.shape[0])


class PixelDDIMTiming(TimingOnly):
    """:class:`diffll.baselines.pixel_ddim.PixelDDIM` with DiffLL's full-size UNet."""

    name = "pixel_ddim"
    paper = "the 'DDIM' baseline of Jiang et al. 2023: DiffLL's UNet and sampler in pixel space"
    description = f"Conditional 10-step DDIM on the full-resolution image, seeded random weights ({TIMING_ONLY})."

    def build(self, device: torch.device) -> None:
        self.model = PixelDDIM(DiffLLConfig())
        self._hold(self.model, device)

    def network(self) -> torch.nn.Module:
        return self.model

    @classmethod
    def count_flops(cls, options: dict[str, Any], height: int, width: int) -> int:
        return costs.pixel_ddim_flops(DiffLLConfig(), height, width)

    @classmethod
    def estimate_bytes(cls, options: dict[str, Any], height: int, width: int) -> int:
        bf16 = options.get("precision", "fp32") == "bf16"
        return costs.pixel_ddim_peak_bytes(DiffLLConfig(), height, width, "sdpa" if bf16 else "math", 2 if bf16 else 4)

    def _enhance_batch(self, batch: torch.Tensor, name: str | None) -> torch.Tensor:
        height, width = batch.shape[-2:]
        self.refuse_if_too_large(height, width)
        x = pad_to_multiple(batch, self.model.side_multiple) * 2 - 1
        if self.precision == "bf16":
            x = x.contiguous(memory_format=torch.channels_last)
        noise = self._noise(tuple(x.shape)).to(x.device)
        return self.model(x, noise)[..., :height, :width].float()


class WeatherDiffTiming(TimingOnly):
    """:class:`diffll.baselines.weatherdiff.WeatherDiff` with the released configuration."""

    name = "weatherdiff"
    paper = "Özdenizci and Legenstein, Restoring Vision in Adverse Weather Conditions with Patch-Based Denoising Diffusion Models, TPAMI 2023"
    description = (
        f"Patch-based conditional DDIM (64 px patches, stride 16, 25 steps, UNet width 128), "
        f"seeded random weights ({TIMING_ONLY})."
    )
    settings = WeatherDiffSettings()

    def build(self, device: torch.device) -> None:
        self.model = WeatherDiff(unet_config(), self.settings)
        self._hold(self.model, device)

    def network(self) -> torch.nn.Module:
        return self.model

    @classmethod
    def count_flops(cls, options: dict[str, Any], height: int, width: int) -> int:
        s = cls.settings
        return costs.weatherdiff_flops(unet_config(), s.patch, s.stride, height, width)

    @classmethod
    def estimate_bytes(cls, options: dict[str, Any], height: int, width: int) -> int:
        s = cls.settings
        nbytes = 2 if options.get("precision", "fp32") == "bf16" else 4
        return costs.weatherdiff_peak_bytes(unet_config(), s.patch, s.stride, s.patches_per_call, height, width, nbytes)

    def _enhance_batch(self, batch: torch.Tensor, name: str | None) -> torch.Tensor:
        height, width = batch.shape[-2:]
        self.refuse_if_too_large(height, width)
        h, w = self.model.padded_size(height), self.model.padded_size(width)
        outs = []
        for image in batch:
            x = pad_to_multiple(image[None], self.settings.stride)  # reflect, as DiffLL pads
            if x.shape[-2:] != (h, w):  # smaller than one patch
                x = F.pad(x, (0, w - x.shape[-1], 0, h - x.shape[-2]), mode="replicate")
            x = x * 2 - 1
            noise = self._noise(tuple(x.shape)).to(x.device)
            outs.append(self.model(x, noise)[..., :height, :width].float())
        return torch.cat(outs)
