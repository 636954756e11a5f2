"""Learned competitors with the authors' released weights: Zero-DCE, Zero-DCE++, SCI, RUAS,
URetinex-Net.

Each class builds the network from :mod:`enhancers.nets`, loads the verified weight file(s)
once, and runs it in float32 (TF32 disabled on CUDA, see :func:`enhancers.base.exact_fp32`).
Networks are fully convolutional, so any size works; Zero-DCE++ is the one exception handled
here (padding to a multiple of its scale factor).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from enhancers.base import Method, MethodInfo, exact_fp32, resolve_device
from enhancers.nets.ruas import RUAS
from enhancers.nets.sci import SCIEnhance
from enhancers.nets.uretinex import URetinex
from enhancers.nets.zero_dce import ZeroDCE, ZeroDCEPP
from enhancers.weights import load_checkpoint

PathLike = str | os.PathLike[str] | None


def _numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class NetMethod(Method):
    """A network in eval mode on ``device``; subclasses build it (:meth:`build_net`) and load it.

    The parameter count in the metadata is that of the network :meth:`build_net` makes for the
    options, counted rather than typed in.
    """

    family = "learned"
    parameters = None
    net: nn.Module

    @classmethod
    def build_net(cls, options: Mapping[str, Any]) -> nn.Module:
        raise NotImplementedError

    @classmethod
    def count_parameters(cls, options: Mapping[str, Any]) -> int | None:
        return _numel(cls.build_net(options))

    def _setup(self, info: MethodInfo, device: str | torch.device, net: nn.Module) -> None:
        dev = resolve_device(device)
        super().__init__(info, dev)
        self.net = net.eval().to(dev)
        for p in self.net.parameters():
            p.requires_grad_(False)

    def _enhance_batch(self, batch: torch.Tensor, name: str | None) -> torch.Tensor:
        with exact_fp32(self.device):
            return self.net(batch)


class ZeroDCEMethod(NetMethod):
    name = "zero_dce"
    weights_files = ("zero_dce/Epoch99.pth",)
    paper = "Guo et al., Zero-Reference Deep Curve Estimation for Low-Light Image Enhancement, CVPR 2020"
    description = "8 iterations of pixel-wise quadratic curves predicted by a 7-layer CNN."

    @classmethod
    def build_net(cls, options: Mapping[str, Any]) -> nn.Module:
        return ZeroDCE()

    def __init__(self, device: str | torch.device = "auto", weights_dir: PathLike = None) -> None:
        info = self.describe()
        net = self.build_net(info.options)
        net.load_state_dict(load_checkpoint(self.weights_files[0], weights_dir))
        self._setup(info, device, net)


class ZeroDCEPPMethod(NetMethod):
    """Zero-DCE++ at any input size.

    The authors crop the input to the largest multiple of the scale factor (top-left) and
    return that smaller image. We instead pad the bottom and right (reflect; replicate when
    the image is too small to reflect) up to the next multiple, run the network, and crop back,
    so the output keeps the input size and no pixel is lost. For sizes that are already
    multiples the result equals the authors'; otherwise the curve map differs slightly, mostly
    near the bottom/right edge, because the low-resolution grid covers the padded area.
    """

    name = "zero_dce_pp"
    weights_files = ("zero_dce_pp/Epoch99.pth",)
    paper = "Li, Guo & Loy, Learning to Enhance Low-Light Image via Zero-Reference Deep Curve Estimation, TPAMI 2021"
    description = (
        "Depthwise-separable Zero-DCE estimating one curve map at 1/scale_factor "
        "resolution; inputs padded (not cropped) to a multiple of scale_factor."
    )

    @classmethod
    def build_net(cls, options: Mapping[str, Any]) -> nn.Module:
        return ZeroDCEPP(int(options["scale_factor"]))

    def __init__(
        self,
        device: str | torch.device = "auto",
        weights_dir: PathLike = None,
        *,
        scale_factor: int = 12,
    ) -> None:
        if int(scale_factor) != scale_factor or int(scale_factor) < 1:
            raise ValueError(
                f"zero_dce_pp: scale_factor must be a positive integer, got {scale_factor}"
            )
        self.scale_factor = int(scale_factor)
        info = self.describe(scale_factor=self.scale_factor)
        net = self.build_net(info.options)
        net.load_state_dict(load_checkpoint(self.weights_files[0], weights_dir))
        self._setup(info, device, net)

    def _enhance_batch(self, batch: torch.Tensor, name: str | None) -> torch.Tensor:
        s = self.scale_factor
        h, w = batch.shape[-2:]
        ph, pw = (-h) % s, (-w) % s
        x = batch
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(batch, (0, pw, 0, ph), mode=mode)
        with exact_fp32(self.device):
            out = self.net(x)
        return out[..., :h, :w]


class SCIMethod(NetMethod):
    name = "sci"
    variants = {
        "easy": "trained on MIT-Adobe FiveK",
        "medium": "trained mainly on LOL and LSRW",
        "difficult": "trained on DARK FACE",
    }
    weights_files = ("sci/{variant}.pt",)
    paper = "Ma et al., Toward Fast, Flexible, and Robust Low-Light Image Enhancement, CVPR 2022"
    description = (
        "Self-calibrated illumination, one test-time stage, r = x / illumination ({trained_on})."
    )

    @classmethod
    def build_net(cls, options: Mapping[str, Any]) -> nn.Module:
        return SCIEnhance()

    def __init__(
        self,
        device: str | torch.device = "auto",
        weights_dir: PathLike = None,
        *,
        variant: str = "medium",
    ) -> None:
        info = self.describe(variant=variant)
        net = self.build_net(info.options)
        net.load_state_dict(
            SCIEnhance.inference_state(load_checkpoint(info.weights_files[0], weights_dir))
        )
        self._setup(info, device, net)


class RUASMethod(NetMethod):
    """RUAS. ``denoise`` defaults to what the authors' test script saves: the denoised image
    for ``lol``, the third-stage enhanced image (no denoising) for ``upe`` and ``dark``. The
    denoiser's tensors come from the checkpoint itself (they override ``denoise.pt`` in the
    authors' code), so ``denoise.pt`` is not needed."""

    name = "ruas"
    variants = {
        "lol": "trained on LOL",
        "upe": "trained on MIT-Adobe FiveK",
        "dark": "trained on DARK FACE",
    }
    weights_files = ("ruas/{variant}.pt",)
    paper = "Liu et al., Retinex-inspired Unrolling with Cooperative Prior Architecture Search for Low-light Image Enhancement, CVPR 2021"
    description = "3 unrolled illumination stages{noise_removal} ({trained_on})."

    @classmethod
    def build_net(cls, options: Mapping[str, Any]) -> nn.Module:
        return RUAS()

    @classmethod
    def count_parameters(cls, options: Mapping[str, Any]) -> int | None:
        """The denoiser counts only when it runs."""
        net = RUAS()
        return _numel(net.enhance_net) + (_numel(net.denoise_net) if options["denoise"] else 0)

    @classmethod
    def describe(cls, **options: Any) -> MethodInfo:
        """``denoise=None`` resolves to the variant's default before anything is recorded."""
        variant = options.get("variant", cls.default_options()["variant"])
        if options.get("denoise") is None:
            options["denoise"] = variant == "lol"
        options["denoise"] = bool(options["denoise"])
        info = super().describe(**options)
        removal = " + noise removal" if options["denoise"] else ""
        return replace(info, description=info.description.replace("{noise_removal}", removal))

    def __init__(
        self,
        device: str | torch.device = "auto",
        weights_dir: PathLike = None,
        *,
        variant: str = "lol",
        denoise: bool | None = None,
    ) -> None:
        info = self.describe(variant=variant, denoise=denoise)
        net = self.build_net(info.options)
        net.load_state_dict(load_checkpoint(info.weights_files[0], weights_dir))
        self._setup(info, device, net)
        self.denoise = bool(info.options["denoise"])

    def _enhance_batch(self, batch: torch.Tensor, name: str | None) -> torch.Tensor:
        with exact_fp32(self.device):
            return self.net(batch, denoise=self.denoise)


class URetinexMethod(NetMethod):
    """URetinex-Net, loading the three files the authors' test script loads."""

    name = "uretinex"
    weights_files = ("uretinex/init_low.pth", "uretinex/unfolding.pth", "uretinex/L_adjust.pth")
    paper = "Wu et al., URetinex-Net: Retinex-based Deep Unfolding Network for Low-light Image Enhancement, CVPR 2022"
    description = (
        "Learned Retinex decomposition, 3 unfolding rounds, illumination adjusted by "
        "the given ratio (authors' default 5); output L_high * R."
    )

    @classmethod
    def build_net(cls, options: Mapping[str, Any]) -> nn.Module:
        return URetinex(ratio=float(options["ratio"]))

    def __init__(
        self,
        device: str | torch.device = "auto",
        weights_dir: PathLike = None,
        *,
        ratio: float = 5.0,
    ) -> None:
        if not float(ratio) > 0:
            raise ValueError(f"uretinex: ratio must be > 0, got {ratio}")
        info = self.describe(ratio=float(ratio))
        net = self.build_net(info.options)
        init_low, unfolding, adjust = (load_checkpoint(f, weights_dir) for f in self.weights_files)
        net.decom.load_state_dict(init_low["state_dict"]["model_R"])
        net.restore.load_state_dict(unfolding["state_dict"]["model_R"])
        net.illumination.load_state_dict(unfolding["state_dict"]["model_L"])
        net.adjust.load_state_dict(adjust["state_dict"]["model_A"])
        self._setup(info, device, net)
