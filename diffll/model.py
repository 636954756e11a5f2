"""DiffLL: wavelet pyramid + per-level HFRMs + conditional DDIM on the coarsest LL band.

``DiffLL`` owns only the learnable parts (state dict keys ``high_enhance{k}.*`` and ``Unet.*``,
exactly the authors' names) and the fixed noise schedule. Both forwards take images already
mapped to [-1, 1] and already padded to a multiple of ``config.pad_multiple``; padding,
batching, tiling and precision belong to :mod:`diffll.inference`.

Data flow (K = 2): DWT(x) -> LL1, high1 -> high_enhance0(high1); DWT(LL1) -> LL2, high2 ->
high_enhance1(high2); DDIM on LL2 conditioned on LL2 of the input; two inverse DWTs; output
clamp((y + 1) / 2, 0, 1).
"""

from __future__ import annotations

import torch
from torch import nn

from diffll.config import DiffLLConfig
from diffll.hfrm import HFRM
from diffll.sampler import ddim_loop
from diffll.schedule import NoiseSchedule
from diffll.tiling import hfrm_in_strips
from diffll.unet import UNet
from diffll.wavelet import dwt, idwt

__all__ = ["DiffLL", "to_unit_range"]


def to_unit_range(x_m11: torch.Tensor) -> torch.Tensor:
    """[-1, 1] network output -> [0, 1] image, clamped (the authors' inverse_data_transform)."""
    return torch.clamp((x_m11 + 1.0) / 2.0, 0.0, 1.0)


class DiffLL(nn.Module):
    def __init__(self, config: DiffLLConfig | None = None) -> None:
        super().__init__()
        self.config = config = config if config is not None else DiffLLConfig()
        for k in range(config.wavelet_levels):
            self.add_module(
                f"high_enhance{k}", HFRM(config.in_channels, config.hfrm_width, config.hfrm_heads)
            )
        self.Unet = UNet(config)  # capital U: the authors' attribute name, hence their keys
        self.schedule = NoiseSchedule.from_config(config)

    @property
    def unet(self) -> UNet:
        return self.Unet

    @property
    def hfrms(self) -> list[HFRM]:
        """HFRM of each level, finest first (``high_enhance0`` refines level 1)."""
        return [getattr(self, f"high_enhance{k}") for k in range(self.config.wavelet_levels)]

    # ---- building blocks -------------------------------------------------------------------

    def _check_input(self, x: torch.Tensor) -> None:
        m = self.config.pad_multiple
        if x.dim() != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(
                f"expected B x {self.config.in_channels} x H x W, got {tuple(x.shape)}"
            )
        if x.shape[-2] % m or x.shape[-1] % m:
            raise ValueError(
                f"input sides must be multiples of {m} (pad first), got {x.shape[-2]}x{x.shape[-1]}"
            )

    def haar_pyramid(self, x_m11: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Unrefined pyramid: ``([LL1, ..., LLK], [high1, ..., highK])`` (float32)."""
        n = x_m11.shape[0]
        lls: list[torch.Tensor] = []
        highs: list[torch.Tensor] = []
        ll = x_m11
        for _ in range(self.config.wavelet_levels):
            bands = dwt(ll)
            ll = bands[:n]
            lls.append(ll)
            highs.append(bands[n:])
        return lls, highs

    def decompose(
        self, x_m11: torch.Tensor, hfrm_rows: int | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(LL_K of the input, [refined high1, ..., refined highK])``, level by level.

        ``hfrm_rows`` runs each HFRM over horizontal strips covering that many rows of the
        input image (``hfrm_rows / 2^k`` rows at level k): the same result, less memory.
        """
        n = x_m11.shape[0]
        ll = x_m11
        refined: list[torch.Tensor] = []
        for level, hfrm in enumerate(self.hfrms, start=1):
            bands = dwt(ll)
            ll = bands[:n]
            if hfrm_rows is None:
                refined.append(hfrm(bands[n:]))
            else:
                refined.append(hfrm_in_strips(hfrm, bands[n:], max(hfrm_rows >> level, 1)))
        return ll, refined

    def sample(
        self, condition: torch.Tensor, x_T: torch.Tensor, num_steps: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Deterministic DDIM from ``x_T``; returns ``(x_0, eps of the first step)``.

        Runs with whatever grad mode the caller set: training backpropagates through all steps.
        """
        if x_T.shape != condition.shape:
            raise ValueError(
                f"start noise {tuple(x_T.shape)} must match LL shape {tuple(condition.shape)}"
            )
        steps = num_steps if num_steps is not None else self.config.sampling_steps
        return ddim_loop(self.Unet, self.schedule, condition, x_T, steps)

    @staticmethod
    def reconstruct(ll: torch.Tensor, highs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Inverse DWTs from the coarsest level; returns ``[LL_{K-1}, ..., LL1, image]``."""
        out: list[torch.Tensor] = []
        for high in reversed(highs):
            ll = idwt(torch.cat((ll.float(), high.float()), dim=0))
            out.append(ll)
        return out

    # ---- forwards ----------------------------------------------------------------------------

    def forward_inference(
        self,
        x_m11: torch.Tensor,
        x_T: torch.Tensor,
        num_steps: int | None = None,
        hfrm_rows: int | None = None,
    ) -> dict[str, torch.Tensor]:
        """Enhance padded [-1,1] images. ``output`` is the [0,1] image (clamped).

        ``hfrm_rows``: run the HFRMs in strips (see :meth:`decompose`).
        """
        self._check_input(x_m11)
        ll_low, refined = self.decompose(x_m11, hfrm_rows)
        ll_pred, eps_first = self.sample(ll_low, x_T, num_steps)
        image_m11 = self.reconstruct(ll_pred, refined)[-1]
        K = self.config.wavelet_levels
        result = {f"LL{K}_low": ll_low, f"LL{K}_pred": ll_pred, "eps_first": eps_first}
        for k, high in enumerate(refined, start=1):
            result[f"high{k}_refined"] = high
        result["output"] = to_unit_range(image_m11)
        return result

    forward = forward_inference

    def forward_train(
        self,
        low_m11: torch.Tensor,
        gt_m11: torch.Tensor,
        t: torch.Tensor,
        e: torch.Tensor,
        x_T: torch.Tensor,
        num_steps: int | None = None,
    ) -> dict[str, torch.Tensor]:
        """The authors' training forward: noise branch + full sampler, with gradients.

        Returns (K = 2 names): ``noise_output`` (eps_hat of the noise branch), ``e``,
        ``pred_x`` ([0,1], clamped), ``pred_LL`` (LL1 rebuilt from the sampled LL2 and refined
        high2), ``pred_LL2`` (sampler output), ``input_high0``/``input_high1`` (refined highs of
        levels 1/2, the authors' names), ``LL2_low``, ``gt_LL1``, ``gt_LL2``, ``gt_high1``,
        ``gt_high2`` (ground-truth highs of levels 1/2; note the authors call these
        ``gt_high0``/``gt_high1``).
        """
        self._check_input(low_m11)
        if gt_m11.shape != low_m11.shape:
            raise ValueError(f"gt {tuple(gt_m11.shape)} != low {tuple(low_m11.shape)}")
        K = self.config.wavelet_levels
        ll_low, refined = self.decompose(low_m11)
        gt_lls, gt_highs = self.haar_pyramid(gt_m11)
        x_noisy = self.schedule.add_noise(gt_lls[-1], e, t)
        noise_output = self.Unet(torch.cat([ll_low, x_noisy], dim=1), t.float())
        ll_pred, _ = self.sample(ll_low, x_T, num_steps)
        rebuilt = self.reconstruct(ll_pred, refined)
        result: dict[str, torch.Tensor] = {
            "noise_output": noise_output,
            "e": e,
            "pred_x": to_unit_range(rebuilt[-1]),
            "pred_LL": rebuilt[-2] if K > 1 else ll_pred,
            f"pred_LL{K}": ll_pred,
            f"LL{K}_low": ll_low,
        }
        for k in range(K):
            result[f"input_high{k}"] = refined[k]
            result[f"gt_LL{k + 1}"] = gt_lls[k]
            result[f"gt_high{k + 1}"] = gt_highs[k]
        return result
