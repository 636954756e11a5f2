"""Deterministic DDIM (eta = 0) in the diffusers style: ``set_timesteps`` then ``step`` per call.

It reproduces the authors' ``sample_training``: with ``skip = T // S`` the visited timesteps
are ``range(0, T, skip)`` in reverse (180, 160, ..., 0 for T=200, S=10), each followed by the
previous entry of that range, and by -1 (alpha_bar = 1) after t = 0. No clipping of x0.

The sampler is a plain object outside the network so that inference, training and tests all
run the same loop. Its arithmetic is float32 even under autocast.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from diffll.schedule import NoiseSchedule

__all__ = ["DDIMSampler", "ddim_loop"]


class DDIMSampler:
    """x_next = sqrt(ab_next) * x0 + sqrt(1 - ab_next) * eps, x0 = (x_t - sqrt(1-ab_t) eps) / sqrt(ab_t)."""

    def __init__(self, schedule: NoiseSchedule) -> None:
        self.schedule = schedule
        self.timesteps: list[int] = []
        self._next: dict[int, int] = {}

    def set_timesteps(self, num_steps: int) -> list[int]:
        """Choose the visited timesteps; returns (and stores in ``self.timesteps``) them."""
        total = self.schedule.num_timesteps
        if not 1 <= num_steps <= total:
            raise ValueError(f"num_steps must be in 1..{total}, got {num_steps}")
        skip = total // num_steps
        seq = list(range(0, total, skip))  # as the authors; > num_steps entries if T % S != 0
        self.timesteps = list(reversed(seq))
        self._next = dict(zip(seq, [-1, *seq[:-1]], strict=True))
        return self.timesteps

    def next_timestep(self, t: int) -> int:
        if t not in self._next:
            raise ValueError(f"timestep {t} is not among {self.timesteps} (call set_timesteps)")
        return self._next[t]

    def step(
        self, eps: torch.Tensor, t: int, x_t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One DDIM update from timestep ``t``; returns ``(x_next, x0_pred)`` in float32."""
        t_next = self.next_timestep(int(t))
        device = x_t.device
        with torch.autocast(device_type=device.type, enabled=False):
            eps = eps.float()
            x_t = x_t.float()
            at = self.schedule.alpha_bar(t, device=device)
            at_next = self.schedule.alpha_bar(t_next, device=device)
            x0 = (x_t - eps * (1 - at).sqrt()) / at.sqrt()
            x_next = at_next.sqrt() * x0 + (1 - at_next).sqrt() * eps
        return x_next, x0


def ddim_loop(
    denoiser: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    schedule: NoiseSchedule,
    condition: torch.Tensor,
    x_T: torch.Tensor,
    num_steps: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Conditional deterministic DDIM from ``x_T``: ``eps = denoiser(concat[condition, x_t], t)``
    at every visited timestep. Returns ``(x_0, eps of the first step)``.

    One loop for DiffLL (on the coarsest LL band) and the pixel-space baseline
    (:mod:`diffll.baselines.pixel_ddim`), so the two differ only in what they diffuse.
    """
    sampler = DDIMSampler(schedule)
    sampler.set_timesteps(num_steps)
    x = x_T.float()
    n = x.shape[0]
    eps_first: torch.Tensor | None = None
    for t in sampler.timesteps:
        t_batch = torch.full((n,), float(t), device=x.device)
        eps = denoiser(torch.cat([condition, x], dim=1), t_batch)
        if eps_first is None:
            eps_first = eps
        x, _ = sampler.step(eps, t, x)
    assert eps_first is not None  # set_timesteps guarantees at least one step
    return x, eps_first
