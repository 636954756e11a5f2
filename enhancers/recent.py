"""Learned competitors published after DiffLL's comparison set, with the authors' released
weights: PairLIE (CVPR 2023), Self-DACE stage I (arXiv 2023) and ZERO-IG (CVPR 2024).

They follow :mod:`enhancers.learned` (network from :mod:`enhancers.nets`, verified weights loaded
once, float32 with TF32 off). Specifications and reference vectors made with the authors' code:
``../shared/reference/competitors/{pairlie,selfdace,zeroig}.md``.

**The 8-bit file.** PairLIE (``ToPILImage``: ``mul(255).byte()``) and ZERO-IG
(``np.clip(x * 255, 0, 255).astype('uint8')``) truncate when they save; the project rounds. On
the reference crops rounding changes about half of the pixels by one level. So each method takes
an option ``quantise``, by default its authors' rule (``"truncate"``; Self-DACE's
``torchvision.utils.save_image``: ``"save_image"``), or ``"round"`` for the project's; it decides
:meth:`~enhancers.base.Method.to_uint8`, which is what ``enhance`` writes
(:func:`lldata.imageio.quantise` holds the rules). The float result of ``enhance`` is the
unquantised network output either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from enhancers.base import MethodInfo
from enhancers.learned import NetMethod, PathLike
from enhancers.nets.pairlie import DEFAULT_EXPONENT, PairLIE
from enhancers.nets.selfdace import SelfDACEStage1
from enhancers.nets.zeroig import ZeroIG, check_shared_block
from enhancers.weights import load_checkpoint
from lldata.imageio import quantise as quantise_image

Truncate = Literal["truncate", "round"]
SaveImage = Literal["save_image", "round"]


class _AuthorsFileMethod(NetMethod):
    """A network whose 8-bit file follows its authors' save routine (``authors_rule``) unless
    the option ``quantise`` asks for the project's ``"round"``."""

    authors_rule: ClassVar[str] = "truncate"
    quantise: str

    def _set_quantise(self, quantise: str) -> None:
        allowed = (self.authors_rule, "round")
        if quantise not in allowed:
            raise ValueError(
                f"{self.name}: quantise must be {allowed[0]!r} (the authors' 8-bit files) or "
                f"'round' (the project's rule), got {quantise!r}"
            )
        self.quantise = quantise

    def to_uint8(self, image: np.ndarray) -> np.ndarray:
        return quantise_image(image, self.quantise)


class PairLIEMethod(_AuthorsFileMethod):
    name = "pairlie"
    weights_files = ("pairlie/PairLIE.pth",)
    paper = (
        "Fu et al., Learning a Simple Low-light Image Enhancer from Paired Low-light Instances, "
        "CVPR 2023"
    )
    description = (
        "PairLIE (CVPR 2023): Retinex decomposition learned from pairs of low-light images of one "
        "scene; a denoising P-Net, then illumination L and reflectance R, output "
        "L ** exponent * R (authors: 0.2, 0.14 for LOL); one released model, trained on the "
        "authors' low-light pairs."
    )

    @classmethod
    def build_net(cls, options: Mapping[str, Any]) -> nn.Module:
        return PairLIE(exponent=float(options["exponent"]))

    def __init__(
        self,
        device: str | torch.device = "auto",
        weights_dir: PathLike = None,
        *,
        exponent: float = DEFAULT_EXPONENT,
        quantise: Truncate = "truncate",
    ) -> None:
        if not float(exponent) > 0:
            raise ValueError(f"pairlie: exponent must be > 0, got {exponent}")
        self._set_quantise(quantise)
        info = self.describe(exponent=float(exponent), quantise=quantise)
        net = self.build_net(info.options)
        net.load_state_dict(load_checkpoint(self.weights_files[0], weights_dir))
        self._setup(info, device, net)

    def _enhance_batch(self, batch: torch.Tensor, name: str | None) -> torch.Tensor:
        h, w = batch.shape[-2:]
        # the authors' code fails here too; say why in the project's words instead of torch's
        if h < 2 or w < 2:
            raise ValueError(
                f"pairlie: needs images of at least 2x2 pixels (reflection padding), got {w}x{h}"
            )
        return super()._enhance_batch(batch, name)


class SelfDACEStage1Method(_AuthorsFileMethod):
    """Self-DACE **stage I only**: the released stage-II denoiser (``pre_train_2.pth``) is not
    available, so this is the paper's "Ours*" row, not the full method."""

    name = "selfdace_stage1"
    authors_rule = "save_image"
    weights_files = ("selfdace/pre_train_1.pth",)
    paper = (
        "Wen et al., Self-Reference Deep Adaptive Curve Estimation for Low-Light Image "
        "Enhancement, arXiv 2308.08197, 2023"
    )
    description = (
        "Self-DACE (arXiv 2023), stage I only (luminance curves; the stage-II denoiser's weights "
        "are not available): 7 adaptive curve steps predicted by a 7-layer CNN; trained without "
        "references on SICE Part 1."
    )

    @classmethod
    def build_net(cls, options: Mapping[str, Any]) -> nn.Module:
        return SelfDACEStage1()

    @classmethod
    def count_parameters(cls, options: Mapping[str, Any]) -> int | None:
        """The parameters that run: ``e_conv1_b`` is loaded but never used (see the network)."""
        net = SelfDACEStage1()
        unused = {id(p) for p in net.get_submodule("e_conv1_b").parameters()}
        return sum(p.numel() for p in net.parameters() if id(p) not in unused)

    def __init__(
        self,
        device: str | torch.device = "auto",
        weights_dir: PathLike = None,
        *,
        quantise: SaveImage = "save_image",
    ) -> None:
        self._set_quantise(quantise)
        info = self.describe(quantise=quantise)
        net = self.build_net(info.options)
        net.load_state_dict(load_checkpoint(self.weights_files[0], weights_dir))
        self._setup(info, device, net)


class ZeroIGMethod(_AuthorsFileMethod):
    """ZERO-IG with one of its released models. The authors' README: these are "not the model
    for generating results reported in the paper"; the paper trains a network on each test
    image (zero-shot). Results here are "ZERO-IG with the released <model> model". ``model``
    defaults to LOL: the authors' ``test.py`` names no file (``--model_test ./model``), and LOL
    is the file of the reference vectors; the method's result is the denoised ``H3``, as the
    script's ``_denoise.png``."""

    name = "zero_ig"
    models: Mapping[str, str] = {
        "LOL": "LOL",
        "LSRW-Huawei": "LSRW, Huawei P40 Pro part",
        "LSRW-Nikon": "LSRW, Nikon D7500 part",
    }
    weights_files = ("zeroig/{model}.pt",)
    paper = (
        "Shi et al., ZERO-IG: Zero-Shot Illumination-Guided Joint Denoising and Adaptive "
        "Enhancement for Low-Light Images, CVPR 2024"
    )
    description = (
        "ZERO-IG (CVPR 2024) with the released {model} model (trained on {training_set}; not the "
        "paper's per-image zero-shot training): denoise, divide by an estimated illumination, "
        "denoise again."
    )

    @classmethod
    def build_net(cls, options: Mapping[str, Any]) -> nn.Module:
        return ZeroIG()

    @classmethod
    def describe(cls, **options: Any) -> MethodInfo:
        """``model`` is checked first: it names the weight file and the training set."""
        model = {**cls.default_options(), **options}["model"]
        if model not in cls.models:
            raise ValueError(
                f"zero_ig: model must be one of {', '.join(cls.models)}, got {model!r}"
            )
        info = super().describe(**options)
        text = info.description.replace("{model}", model).replace(
            "{training_set}", cls.models[model]
        )
        return replace(info, description=text)

    def __init__(
        self,
        device: str | torch.device = "auto",
        weights_dir: PathLike = None,
        *,
        model: str = "LOL",
        quantise: Truncate = "truncate",
    ) -> None:
        self._set_quantise(quantise)
        info = self.describe(model=model, quantise=quantise)
        net = self.build_net(info.options)
        net.load_state_dict(check_shared_block(load_checkpoint(info.weights_files[0], weights_dir)))
        self._setup(info, device, net)
