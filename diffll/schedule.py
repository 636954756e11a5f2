"""The forward-diffusion noise schedule (betas and cumulative alphas), kept in float32.

Betas are built in float64 with numpy and then cast to float32, exactly as the authors'
``get_beta_schedule`` + ``torch.from_numpy(...).float()`` do; the cumulative product is taken in
float32 as well. Autocast never reaches this arithmetic: every method here casts to float32.
"""

from __future__ import annotations

import numpy as np
import torch

from diffll.config import DiffLLConfig

__all__ = ["NoiseSchedule", "make_betas"]


def make_betas(schedule: str, beta_start: float, beta_end: float, num_timesteps: int) -> np.ndarray:
    """float64 betas for the schedules the authors' code (ermongroup/ddim) knows."""
    if schedule == "linear":
        betas = np.linspace(beta_start, beta_end, num_timesteps, dtype=np.float64)
    elif schedule == "quad":
        betas = np.linspace(beta_start**0.5, beta_end**0.5, num_timesteps, dtype=np.float64) ** 2
    elif schedule == "const":
        betas = beta_end * np.ones(num_timesteps, dtype=np.float64)
    elif schedule == "jsd":  # 1/T, 1/(T-1), ..., 1
        betas = 1.0 / np.linspace(num_timesteps, 1, num_timesteps, dtype=np.float64)
    elif schedule == "sigmoid":
        ramp = np.linspace(-6, 6, num_timesteps, dtype=np.float64)
        betas = 1.0 / (np.exp(-ramp) + 1.0) * (beta_end - beta_start) + beta_start
    else:
        raise ValueError(f"unknown beta schedule {schedule!r}")
    return betas


class NoiseSchedule:
    """betas_t and alpha_bar_t = prod_{s<=t} (1 - beta_s), indexable by (batched) timestep."""

    def __init__(
        self,
        num_timesteps: int = 200,
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        schedule: str = "linear",
    ) -> None:
        self.num_timesteps = int(num_timesteps)
        betas = make_betas(schedule, beta_start, beta_end, self.num_timesteps)
        if not (np.isfinite(betas).all() and (betas > 0).all() and (betas <= 1).all()):
            # NaN or out-of-range betas give NaN or black images without any error downstream
            raise ValueError(
                f"{schedule} schedule from beta_start={beta_start}, beta_end={beta_end} has betas "
                "outside (0, 1]"
            )
        self.betas = torch.from_numpy(betas).float()
        self.alphas_cumprod = (1 - self.betas).cumprod(dim=0)
        # alpha_bar at t = -1 (the step after the last) is 1: prepend it once.
        # On the betas' device (CPU) even inside a ``torch.device("meta")`` block, where
        # checkpoint loading builds a network to compare shapes before allocating it.
        self._padded = torch.cat((torch.ones(1, device=self.betas.device), self.alphas_cumprod))
        self._by_device: dict[torch.device, torch.Tensor] = {}

    @classmethod
    def from_config(cls, config: DiffLLConfig) -> NoiseSchedule:
        return cls(
            config.num_train_timesteps, config.beta_start, config.beta_end, config.beta_schedule
        )

    def _table(self, device: torch.device) -> torch.Tensor:
        table = self._by_device.get(device)
        if table is None:
            table = self._by_device[device] = self._padded.to(device)
        return table

    def alpha_bar(
        self, t: int | torch.Tensor, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """alpha_bar at integer timesteps ``t`` in ``-1 .. T-1`` (float32, same shape as ``t``).

        A Python int is checked on the host, so sampling loops never wait for the GPU here.
        """
        limit = self.num_timesteps
        if isinstance(t, torch.Tensor):
            device = t.device if device is None else torch.device(device)
            index = t.long()
            if bool(((index < -1) | (index >= limit)).any()):
                raise ValueError(f"timesteps must lie in -1..{limit - 1}")
            return self._table(torch.device(device))[index.to(device) + 1]
        if not -1 <= int(t) < limit:
            raise ValueError(f"timesteps must lie in -1..{limit - 1}, got {t}")
        device = torch.device("cpu") if device is None else torch.device(device)
        return self._table(device)[int(t) + 1]

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """q(x_t | x_0) sample: sqrt(ab_t) * x0 + sqrt(1 - ab_t) * noise, per batch item."""
        a = self.alpha_bar(t.to(x0.device)).view(-1, 1, 1, 1)
        return x0.float() * a.sqrt() + noise.float() * (1.0 - a).sqrt()
