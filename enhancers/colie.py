"""CoLIE (Chobola et al., ECCV 2024): an implicit neural representation optimised per image.

There are no weights: for every image a small SIREN maps (the V value around a pixel, the pixel's
coordinates) to an illumination residual on a ``down_size`` x ``down_size`` copy of the HSV value
channel, and is optimised for ``epochs`` Adam steps on a loss of fidelity, smoothness, exposure and
sparsity. The enhanced value ``v / (illumination + 1e-4)`` is brought back to full size with a fast
guided filter (r = 1) guided by the original value, put back into HSV, converted to RGB and
divided by its maximum. Re-implemented from the authors' repository (github.com/ctom2/colie,
commit a80f73c, Apache-2.0) with their defaults (README: alpha 1, beta 20, gamma 8, delta 5;
script: down_size 256, epochs 100, window 1, L 0.5).

Reproducibility: the network is initialised from an explicit ``torch.Generator`` seeded with
``seed`` (or, for a named file, the per-image seed of :func:`diffll.cli.image_seed`, as DiffLL),
drawing the same random numbers in the same order as the authors' ``INF`` constructor does from
torch's global generator, so that after ``torch.manual_seed(s)`` their script and this module
start from the same weights. The arithmetic follows theirs operation by operation (HSV formulas,
cumulative-sum box filter, loss terms in their order), because the guided filter divides by local
variances and magnifies any rounding difference. ``tests/data/colie/README.md`` says how the
reference vectors were made with their code.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from enhancers.base import Method, exact_fp32, resolve_device

W0 = 30.0  # SIREN frequency of every sine layer


class SineLayer(nn.Module):
    """``sin(w0 * (W x + b))``, or ``sigmoid(W x + b)`` for the last layer."""

    def __init__(self, fan_in: int, fan_out: int, *, first: bool = False, last: bool = False) -> None:
        super().__init__()
        self.linear = nn.utils.skip_init(nn.Linear, fan_in, fan_out)
        self.first, self.last = first, last

    def initialise(self, generator: torch.Generator) -> None:
        """The draws of ``nn.Linear.reset_parameters`` (its weight draw is then overwritten by
        the SIREN draw, but it still consumes random numbers), then the SIREN weight draw."""
        fan_in = self.linear.in_features
        bound = 1 / math.sqrt(fan_in)
        with torch.no_grad():
            self.linear.weight.uniform_(-bound, bound, generator=generator)
            self.linear.bias.uniform_(-bound, bound, generator=generator)
            if not self.last:
                b = 1 / fan_in if self.first else math.sqrt(6 / fan_in) / W0
                self.linear.weight.uniform_(-b, b, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        return torch.sigmoid(y) if self.last else torch.sin(W0 * y)


class ContextINF(nn.Module):
    """The authors' ``INF(patch_dim, num_layers=4, hidden_dim=256, add_layer=2)``: a context
    branch (window values) and a coordinate branch, 256 -> 128 each, concatenated, then
    256 -> 256 -> 1 (sigmoid)."""

    def __init__(self, patch_dim: int, hidden: int = 256) -> None:
        super().__init__()
        half = hidden // 2
        self.patch_net = nn.Sequential(
            SineLayer(patch_dim, hidden, first=True), SineLayer(hidden, half)
        )
        self.spatial_net = nn.Sequential(SineLayer(2, hidden, first=True), SineLayer(hidden, half))
        self.output_net = nn.Sequential(SineLayer(hidden, hidden), SineLayer(hidden, 1, last=True))

    def initialise(self, generator: torch.Generator) -> None:
        """In the order the authors construct the layers: patch 0, spatial 0, patch 1,
        spatial 1, then the output layers."""
        order = [
            self.patch_net[0], self.spatial_net[0], self.patch_net[1], self.spatial_net[1],
            self.output_net[0], self.output_net[1],
        ]  # fmt: skip
        for layer in order:
            layer.initialise(generator)

    def forward(self, patches: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        return self.output_net(torch.cat((self.patch_net(patches), self.spatial_net(coords)), -1))


# --- colour space ------------------------------------------------------------------------------


def rgb_to_hsv(rgb: torch.Tensor) -> torch.Tensor:
    """``1 x 3 x H x W`` RGB -> HSV, hue in [0, 1); grey pixels get hue 0, black saturation 0."""
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    v, which = torch.max(rgb, dim=1, keepdim=True)
    delta = v - torch.min(rgb, dim=1, keepdim=True).values
    hue = torch.where(which == 0, ((g - b) / delta) % 6, ((r - g) / delta) + 4)
    hue = torch.where(which == 1, ((b - r) / delta) + 2, hue)
    hue = torch.where(delta == 0, torch.zeros_like(hue), hue) / 6.0
    sat = torch.where(v == 0, torch.zeros_like(v), delta / v)
    return torch.cat([hue, sat, v], dim=1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_hsv` (sector = int(6 h) mod 6)."""
    h, s, v = hsv[:, 0:1], hsv[:, 1:2], hsv[:, 2:3]
    c = v * s
    x = c * (1.0 - torch.abs(h * 6.0 % 2.0 - 1))
    zero = torch.zeros_like(c)
    sector = (h * 6.0).to(torch.uint8) % 6
    # (R, G, B) per sector 0..5
    table = [(c, x, zero), (x, c, zero), (zero, c, x), (zero, x, c), (x, zero, c), (c, zero, x)]
    rgb = torch.zeros_like(hsv)
    for k, channels in enumerate(table):
        rgb = torch.where(sector == k, torch.cat(channels, dim=1), rgb)
    return rgb + (v - c)


# --- guided filter -----------------------------------------------------------------------------


def _window_sums(x: torch.Tensor, r: int, dim: int) -> torch.Tensor:
    """Sums over windows ``[i - r, i + r]`` (cut at the borders) along ``dim``, from the
    cumulative sum, as differences of two of its entries."""
    n = x.shape[dim]
    c = torch.cumsum(x, dim=dim)
    c = torch.cat([torch.zeros_like(c.narrow(dim, 0, 1)), c], dim=dim)  # c[0] = 0
    i = torch.arange(n, device=x.device)
    hi = torch.clamp(i + r, max=n - 1) + 1
    lo = torch.clamp(i - r - 1, min=-1) + 1
    return c.index_select(dim, hi) - c.index_select(dim, lo)


def box_sum(x: torch.Tensor, r: int) -> torch.Tensor:
    return _window_sums(_window_sums(x, r, 2), r, 3)


def fast_guided_filter(
    guide_lr: torch.Tensor, target_lr: torch.Tensor, guide_hr: torch.Tensor, r: int = 1, eps: float = 1e-8
) -> torch.Tensor:
    """He & Sun's fast guided filter: the linear coefficients are fitted at low resolution and
    bilinearly upsampled (align_corners=True) before being applied to the full-size guide."""
    h, w = guide_lr.shape[-2:]
    count = box_sum(torch.ones(1, 1, h, w, dtype=guide_lr.dtype, device=guide_lr.device), r)
    mean_x = box_sum(guide_lr, r) / count
    mean_y = box_sum(target_lr, r) / count
    cov_xy = box_sum(guide_lr * target_lr, r) / count - mean_x * mean_y
    var_x = box_sum(guide_lr * guide_lr, r) / count - mean_x * mean_x
    a = cov_xy / (var_x + eps)
    b = mean_y - a * mean_x
    size = guide_hr.shape[-2:]
    a_hr = F.interpolate(a, size, mode="bilinear", align_corners=True)
    b_hr = F.interpolate(b, size, mode="bilinear", align_corners=True)
    return a_hr * guide_hr + b_hr


# --- the per-image optimisation ----------------------------------------------------------------


def _coordinates(size: int) -> torch.Tensor:
    """``size x size x 2`` grid, entry ``[i, j] = (j, i) / (size - 1)``; numpy's linspace, as the
    authors build it (torch's linspace rounds some values differently)."""
    lin = np.linspace(0, 1, size)
    return torch.from_numpy(np.dstack(np.meshgrid(lin, lin))).float()


def _context(v_lr: torch.Tensor, window: int) -> torch.Tensor:
    """``S x S x window**2``: the reflect-padded ``window x window`` neighbourhood of each pixel,
    row-major."""
    pad = window // 2
    padded = F.pad(v_lr, (pad, pad, pad, pad), mode="reflect") if pad else v_lr
    s = v_lr.shape[-1]
    return F.unfold(padded, window)[0].T.reshape(s, s, window * window)


def _tv(x: torch.Tensor) -> torch.Tensor:
    """The authors' ``L_TV``: twice the mean squared vertical plus horizontal difference."""
    h, w = x.shape[2], x.shape[3]
    h_tv = torch.pow(x[:, :, 1:, :] - x[:, :, : h - 1, :], 2).sum()
    w_tv = torch.pow(x[:, :, :, 1:] - x[:, :, :, : w - 1], 2).sum()
    return 2 * (h_tv / ((h - 1) * w) + w_tv / (h * (w - 1))) / x.shape[0]


def _exposure(x: torch.Tensor, level: float) -> torch.Tensor:
    """The authors' ``L_exp(16, L)``: squared distance of sqrt(16x16 means) to ``level``."""
    mean = F.avg_pool2d(x, 16) ** 0.5
    return torch.abs(torch.mean(torch.pow(mean - level, 2)))


class CoLIE(Method):
    """CoLIE with the authors' defaults; see the module docstring."""

    name = "colie"
    family = "learned"
    paper = (
        "Chobola et al., Fast Context-Based Low-Light Image Enhancement via Neural Implicit "
        "Representations, ECCV 2024"
    )
    description = (
        "ECCV 2024. A SIREN fitted per image (no training data, no weights) for `epochs` Adam steps "
        "to the HSV value channel at down_size x down_size; guided-filter upsampling; "
        "deterministic given the seed (per-image seed from seed + file name). Authors' code: Apache-2.0."
    )

    def __init__(
        self,
        device: str | torch.device = "auto",
        weights_dir: str | os.PathLike[str] | None = None,
        *,
        seed: int = 0,
        epochs: int = 100,
        down_size: int = 256,
        window: int = 1,
        level: float = 0.5,
        alpha: float = 1.0,
        beta: float = 20.0,
        gamma: float = 8.0,
        delta: float = 5.0,
        quantise: str = "truncate",
    ) -> None:
        if epochs < 1:
            raise ValueError(f"colie: epochs must be >= 1, got {epochs}")
        if down_size < 16:
            raise ValueError(f"colie: down_size must be >= 16 (16x16 exposure patches), got {down_size}")
        if window < 1 or window % 2 == 0 or window // 2 >= down_size:
            raise ValueError(f"colie: window must be an odd number below down_size, got {window}")
        if quantise not in ("truncate", "round"):
            raise ValueError(f"colie: quantise must be 'truncate' (authors) or 'round', got {quantise!r}")
        self.seed, self.epochs, self.down_size, self.window = int(seed), int(epochs), int(down_size), int(window)
        self.level = float(level)
        self.weights = (float(alpha), float(beta), float(gamma), float(delta))
        self.quantise = quantise
        info = self.describe(
            seed=self.seed, epochs=self.epochs, down_size=self.down_size, window=self.window,
            level=self.level, alpha=alpha, beta=beta, gamma=gamma, delta=delta, quantise=quantise,
        )  # fmt: skip
        super().__init__(info, resolve_device(device))

    @classmethod
    def count_parameters(cls, options: Mapping[str, Any]) -> int:
        net = ContextINF(int(options["window"]) ** 2)
        return sum(p.numel() for p in net.parameters())

    def to_uint8(self, image: np.ndarray) -> np.ndarray:
        """The authors write ``(x * 255).astype(np.uint8)`` in float32: truncation."""
        if self.quantise == "round":
            return super().to_uint8(image)
        from lldata.imageio import quantise

        return quantise(image, "truncate")

    def _enhance_batch(self, batch: torch.Tensor, name: str | None) -> torch.Tensor:
        outs = []
        for image in batch:
            generator = self._generator
            if generator is None:
                generator = torch.Generator().manual_seed(self._seed_for(name))
            outs.append(self.enhance_one(image[None], generator))
        return torch.cat(outs)

    def _seed_for(self, name: str | None) -> int:
        if name is None:
            return self.seed
        from diffll.cli import image_seed

        return image_seed(self.seed, name)

    def enhance_one(self, image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``1 x 3 x H x W`` in [0, 1] -> the enhanced image, divided by its maximum."""
        with torch.inference_mode(False), torch.enable_grad(), exact_fp32(self.device):
            rgb = self._authors_scaling(image.clone())
            hsv = rgb_to_hsv(rgb)
            v = hsv[:, 2:3]
            v_fixed_lr, v_lr = self.fit(v, generator)
            with torch.no_grad():
                v_fixed = torch.clip(fast_guided_filter(v_lr, v_fixed_lr, v), 0, 1)
                out = hsv_to_rgb(torch.cat([hsv[:, :2], v_fixed], dim=1))
                return out / torch.max(out)

    @staticmethod
    def _authors_scaling(x: torch.Tensor) -> torch.Tensor:
        """The authors divide the 8-bit values by their maximum (not by 255). When the input
        holds 8-bit values / 255 (every file the workflow reads), the integers are recovered so
        that the division is theirs to the bit; other float input is divided by its maximum."""
        q = torch.round(x * 255)
        base = q if bool(torch.all(torch.abs(x * 255 - q) < 1e-3)) else x
        top = torch.max(base)
        if not top > 0:
            raise ValueError("colie: the image is black (maximum 0); x / max(x) is undefined")
        return base / top

    def fit(self, v: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Optimise a fresh network on ``v`` (``1 x 1 x H x W``); returns the enhanced value at
        low resolution from the last forward pass (made before the last Adam step, as the
        authors' loop leaves it) and the low-resolution value itself."""
        s = self.down_size
        v_lr = F.interpolate(v, size=(s, s))  # nearest, as the authors
        coords = _coordinates(s).to(v.device)
        patches = _context(v_lr, self.window)
        net = ContextINF(self.window**2)
        net.initialise(generator)
        net.to(v.device)
        optimiser = torch.optim.Adam(net.parameters(), lr=1e-5, betas=(0.9, 0.999), weight_decay=3e-4)
        alpha, beta, gamma, delta = self.weights
        v_fixed_lr = v_lr
        for _ in range(self.epochs):
            optimiser.zero_grad()
            illumination = net(patches, coords).view(1, 1, s, s) + v_lr
            fixed = v_lr / (illumination + 1e-4)
            loss_spa = torch.mean(torch.pow(illumination - v_lr, 2))
            loss = (
                loss_spa * alpha
                + _tv(illumination) * beta
                + _exposure(illumination, self.level) * gamma
                + torch.mean(fixed) * delta
            )
            loss.backward()
            optimiser.step()
            v_fixed_lr = fixed.detach()
        return v_fixed_lr, v_lr
