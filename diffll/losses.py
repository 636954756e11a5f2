"""DiffLL's training losses as small weighted modules (BasicSR style: ``loss_weight`` inside).

The terms and weights are those of the authors' Algorithm 1 (see
``../shared/reference/diffll-architecture.md``, section "Training"):

    MSE(eps_hat, e) + L1(img, gt) + (1 - SSIM(img, gt))
    + 0.1 * [MSE(high1_ref, gt_high1) + MSE(high2_ref, gt_high2) + MSE(LL1_pred, gt_LL1)]
    + 0.01 * [TV(high1_ref) + TV(high2_ref) + TV(LL1_pred)]

As in the authors' code the photometric terms compare the clamped [0, 1] output image with the
[0, 1] ground truth (SSIM data range 1); the band terms live in the [-1, 1] wavelet domain.
Every loss is computed in float32 even under autocast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "BandMSELoss",
    "DiffLLLoss",
    "L1Loss",
    "NoiseMSELoss",
    "SSIMLoss",
    "TVLoss",
    "gaussian_window",
    "ssim",
    "total_variation",
]


def gaussian_window(size: int = 11, sigma: float = 1.5, device: torch.device | None = None) -> torch.Tensor:
    """Normalised 1-D Gaussian taps."""
    coords = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _filter(x: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filter per channel (no padding, as pytorch_msssim)."""
    c = x.shape[1]
    x = F.conv2d(x, win.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, win.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    win_size: int = 11,
    sigma: float = 1.5,
    reduction: str = "mean",
) -> torch.Tensor:
    """SSIM (Wang et al. 2004) with an 11-tap Gaussian, K1=0.01, K2=0.03, valid borders.

    ``reduction="none"`` returns one value per image (mean over channels and positions).
    """
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"ssim needs two N x C x H x W tensors of one shape, got {x.shape} and {y.shape}")
    if min(x.shape[-2:]) < win_size:
        raise ValueError(f"ssim needs sides >= {win_size}, got {tuple(x.shape[-2:])}")
    x = x.float()
    y = y.float()
    win = gaussian_window(win_size, sigma, x.device)
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mu_x = _filter(x, win)
    mu_y = _filter(y, win)
    sxx = _filter(x * x, win) - mu_x**2
    syy = _filter(y * y, win) - mu_y**2
    sxy = _filter(x * y, win) - mu_x * mu_y
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    s = ((2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)) * cs
    per_image = s.flatten(1).mean(dim=1)
    if reduction == "none":
        return per_image
    if reduction == "mean":
        return per_image.mean()
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def total_variation(x: torch.Tensor, normalisation: str = "spec") -> torch.Tensor:
    """TV as the reference page defines it: 2 * (mean dv^2 + mean dh^2) / batch size of ``x``.

    The means run over all elements. ``normalisation="authors_code"`` instead divides the sums by
    (H-1)*W and H*(W-1) only, as the widely copied ``TVLoss`` snippet does; that is the spec
    value times batch*channels.
    """
    x = x.float()
    dv = (x[:, :, 1:, :] - x[:, :, :-1, :]) ** 2
    dh = (x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2
    if normalisation == "spec":
        return 2 * (dv.mean() + dh.mean()) / x.shape[0]
    if normalisation == "authors_code":
        h, w = x.shape[-2:]
        return 2 * (dv.sum() / ((h - 1) * w) + dh.sum() / (h * (w - 1))) / x.shape[0]
    raise ValueError(f"normalisation must be 'spec' or 'authors_code', got {normalisation!r}")


class _Weighted(nn.Module):
    def __init__(self, loss_weight: float) -> None:
        super().__init__()
        self.loss_weight = float(loss_weight)

    def extra_repr(self) -> str:
        return f"loss_weight={self.loss_weight}"


class NoiseMSELoss(_Weighted):
    """Noise branch: MSE between predicted and true noise."""

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * F.mse_loss(pred.float(), target.float())


class L1Loss(_Weighted):
    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * F.l1_loss(pred.float(), target.float())


class SSIMLoss(_Weighted):
    """loss_weight * (1 - SSIM), data range fixed as configured (1 in the authors' code)."""

    def __init__(self, loss_weight: float = 1.0, data_range: float = 1.0) -> None:
        super().__init__(loss_weight)
        self.data_range = float(data_range)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * (1 - ssim(pred, target, data_range=self.data_range))


class BandMSELoss(_Weighted):
    """loss_weight * sum of MSEs over (prediction, target) band pairs (0.1 in the paper)."""

    def __init__(self, loss_weight: float = 0.1) -> None:
        super().__init__(loss_weight)

    def forward(self, pairs: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        total = sum(F.mse_loss(p.float(), t.float()) for p, t in pairs)
        return self.loss_weight * total  # type: ignore[return-value]


class TVLoss(_Weighted):
    """loss_weight * sum of :func:`total_variation` over tensors (0.01 in the paper)."""

    def __init__(self, loss_weight: float = 0.01, normalisation: str = "spec") -> None:
        super().__init__(loss_weight)
        total_variation(torch.zeros(1, 1, 2, 2), normalisation)  # validate the mode early
        self.normalisation = normalisation

    def forward(self, tensors: Sequence[torch.Tensor]) -> torch.Tensor:
        total = sum(total_variation(t, self.normalisation) for t in tensors)
        return self.loss_weight * total  # type: ignore[return-value]


class DiffLLLoss(nn.Module):
    """All terms of Algorithm 1 from the outputs of ``DiffLL.forward_train``.

    ``outputs`` needs ``noise_output``, ``pred_x`` ([0, 1]), ``pred_LL`` (LL1 rebuilt),
    ``input_high0``/``input_high1`` (refined highs of levels 1/2) and the ground-truth bands
    ``gt_high1``/``gt_high2``/``gt_LL1`` (the model's level-numbered names; the authors call the
    highs ``gt_high0``/``gt_high1``). ``gt`` is the [0, 1] ground-truth image and ``noise`` the
    noise ``e`` of the noise branch. Returns the total and each weighted term (detached tensors,
    so logging does not force a device sync every step).
    """

    def __init__(
        self,
        noise_weight: float = 1.0,
        l1_weight: float = 1.0,
        ssim_weight: float = 1.0,
        band_weight: float = 0.1,
        tv_weight: float = 0.01,
        tv_normalisation: str = "spec",
    ) -> None:
        super().__init__()
        self.noise = NoiseMSELoss(noise_weight)
        self.l1 = L1Loss(l1_weight)
        self.ssim = SSIMLoss(ssim_weight)
        self.band = BandMSELoss(band_weight)
        self.tv = TVLoss(tv_weight, tv_normalisation)

    def forward(
        self, outputs: Mapping[str, torch.Tensor], gt: torch.Tensor, noise: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        missing = [
            k
            for k in ("noise_output", "pred_x", "pred_LL", "input_high0", "input_high1",
                      "gt_high1", "gt_high2", "gt_LL1")
            if k not in outputs
        ]
        if missing:
            raise KeyError(f"forward_train outputs lack {missing}")
        terms = {
            "noise": self.noise(outputs["noise_output"], noise),
            "l1": self.l1(outputs["pred_x"], gt),
            "ssim": self.ssim(outputs["pred_x"], gt),
            "band": self.band(
                [
                    (outputs["input_high0"], outputs["gt_high1"]),
                    (outputs["input_high1"], outputs["gt_high2"]),
                    (outputs["pred_LL"], outputs["gt_LL1"]),
                ]
            ),
            "tv": self.tv([outputs["input_high0"], outputs["input_high1"], outputs["pred_LL"]]),
        }
        total = sum(terms.values())
        return total, {k: v.detach() for k, v in terms.items()}  # type: ignore[return-value]
