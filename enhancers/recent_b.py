"""Learned competitors published after DiffLL's baselines, with the authors' released weights:
CLIP-LIT (ICCV 2023) and IAT (BMVC 2022). (CoLIE, optimised per image, is in
:mod:`enhancers.colie`; PairLIE, Self-DACE and ZERO-IG in :mod:`enhancers.recent`.)

Both authors save their results with ``torchvision.utils.save_image`` (round half up in float32);
option ``quantise`` keeps that rule for the 8-bit file (``"round"``: the project's
:func:`lldata.imageio.float_to_uint8`), see :meth:`enhancers.base.Method.to_uint8`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from enhancers.learned import NetMethod, PathLike
from enhancers.nets.clip_lit import CLIPLIT
from enhancers.nets.iat import IAT
from enhancers.weights import load_checkpoint

SAVE_RULES = ("save_image", "round")


def _check_rule(method: str, quantise: str) -> str:
    if quantise not in SAVE_RULES:
        raise ValueError(
            f"{method}: quantise must be 'save_image' (the authors' torchvision.utils.save_image) "
            f"or 'round' (the project's rule), got {quantise!r}"
        )
    return quantise


class SaveImageMethod(NetMethod):
    """A network whose authors write ``torchvision.utils.save_image`` files."""

    quantise: str = "save_image"

    def __init__(
        self,
        device: str | torch.device = "auto",
        weights_dir: PathLike = None,
        *,
        quantise: str = "save_image",
    ) -> None:
        self.quantise = _check_rule(self.name, quantise)
        info = self.describe(quantise=quantise)
        net = self.build_net(info.options)
        net.load_state_dict(self.inference_state(load_checkpoint(self.weights_files[0], weights_dir)))
        self._setup(info, device, net)

    @classmethod
    def inference_state(cls, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The released state dict as the network loads it (default: unchanged)."""
        return state

    def to_uint8(self, image: np.ndarray) -> np.ndarray:
        from lldata.imageio import quantise

        return quantise(image, self.quantise)


class CLIPLITMethod(SaveImageMethod):
    """CLIP-LIT's enhancement network, run as the authors' ``test.py`` does (no resizing)."""

    name = "clip_lit"
    weights_files = ("clip_lit/enhancement_model.pth",)
    paper = (
        "Liang et al., Iterative Prompt Learning for Unsupervised Backlit Image Enhancement, "
        "ICCV 2023"
    )
    description = (
        "ICCV 2023. Light-map network (residual blocks, pyramid pooling), out = clamp(x / map, 0, 1); "
        "trained with CLIP prompts on a few hundred unpaired backlit photos, not on low-light sets."
    )

    @classmethod
    def build_net(cls, options: Mapping[str, Any]) -> nn.Module:
        return CLIPLIT()

    @classmethod
    def inference_state(cls, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return CLIPLIT.inference_state(state)  # drops nn.DataParallel's "module." prefix

    def _enhance_batch(self, batch: torch.Tensor, name: str | None) -> torch.Tensor:
        if min(batch.shape[-2:]) < 2:
            raise ValueError(
                f"clip_lit: images must be at least 2x2 (reflect padding), got "
                f"{batch.shape[-2]}x{batch.shape[-1]}"
            )
        return super()._enhance_batch(batch, name)


class IATMethod(SaveImageMethod):
    """IAT with the LOL-v1 weights, run as the authors' ``img_demo.py`` (no normalisation)."""

    name = "iat"
    weights_files = ("iat/best_Epoch_lol_v1.pth",)
    paper = (
        "Cui et al., You Only Need 90K Parameters to Adapt Light: A Light Weight Transformer for "
        "Image Enhancement and Exposure Correction, BMVC 2022"
    )
    description = (
        "BMVC 2022. Illumination-Adaptive Transformer: per-pixel multiply/add from a local conv "
        "branch, global gamma and colour matrix from 10 learned queries; trained on LOL-v1."
    )

    @classmethod
    def build_net(cls, options: Mapping[str, Any]) -> nn.Module:
        return IAT()

