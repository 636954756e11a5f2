"""DiffLL training: the authors' Algorithm 1 plus exact resume, EMA validation and budgets.

Per step (Algorithm 1 as released): antithetic timesteps; the noise branch (eps-prediction on
the noised ground-truth LL_K); the full S-step DDIM sampler from fresh noise *with gradients*
through every UNet call; image and bands rebuilt as at inference; every loss with its weight
(:class:`diffll.losses.DiffLLLoss`); Adam; step LR decay; EMA of the weights after every step.

Added for a reproducible pipeline: checkpoints that hold everything for a bit-exact resume
(model, EMA, optimiser, LR scheduler, step, epoch and position in it, every RNG state, config)
written with ``torch.save`` in a ``weights_only``-loadable form; keep-last-k plus best (by
validation PSNR of the EMA weights, fixed start noise); a CSV log; optional bf16 autocast and
activation checkpointing on GPU; a wall-clock budget and SIGTERM/SIGINT that stop cleanly after
saving. Only torch, numpy, Pillow, tqdm and PyYAML are needed, so it runs from a bare checkout
(``PYTHONPATH=. python -m diffll.train_cli train ...``).

The parts, one job each: ``config`` (the four config sections and every
key with its default), ``state`` (devices, RNG streams, determinism, checkpoint files), ``ema``,
``datasets``, ``logs``, ``stopping`` (step limit, time budget, signals) and ``trainer`` (the loop).
Callers import each name from the module that defines it; the command is :mod:`diffll.train_cli`.
"""
