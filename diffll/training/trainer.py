"""The training loop: one :class:`Trainer` owns model, EMA, optimiser, data stream and run
directory; the stop rule is :class:`diffll.training.stopping.StopPolicy`."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from diffll.config import DiffLLConfig
from diffll.data import EpochBatchSampler, collate, seed_worker
from diffll.losses import DiffLLLoss, ssim
from diffll.model import DiffLL
from diffll.training.config import TrainConfig
from diffll.training.datasets import build_datasets
from diffll.training.ema import EMA, enable_activation_checkpointing
from diffll.training.logs import TRAIN_FIELDS, VAL_FIELDS, CsvLog
from diffll.training.state import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    capture_rng_state,
    device_description,
    find_latest_checkpoint,
    load_training_checkpoint,
    resolve_device,
    restore_rng_state,
    save_training_checkpoint,
    seed_everything,
    set_determinism,
)
from diffll.training.stopping import StopPolicy
from lowlight_common.atomic import atomic_write, write_json

__all__ = ["Trainer"]

log = logging.getLogger(__name__)


class Trainer:
    """Owns the model, EMA, optimiser, data stream and run directory of one training run.

    Layout of ``out_dir``: ``config.yaml`` (resolved), ``train_log.csv``, ``val_log.csv``,
    ``checkpoints/step-NNNNNNNN.pt`` (last ``keep_last``), ``checkpoints/best.pt``,
    ``summary.json`` (written whenever a run stops).
    """

    def __init__(
        self,
        cfg: TrainConfig,
        out_dir: str | os.PathLike[str],
        device: str | None = None,
        quiet: bool = False,
    ) -> None:
        self.cfg = cfg
        self.out_dir = Path(out_dir)
        self.quiet = quiet
        self.device = resolve_device(device or cfg.run.device)
        self.net_cfg: DiffLLConfig = cfg.network()
        seed_everything(cfg.run.seed)
        set_determinism(cfg.run.deterministic)

        self.autocast_dtype: torch.dtype | None = None
        if cfg.run.precision == "bf16":
            if self.device.type == "cuda":
                self.autocast_dtype = torch.bfloat16
            else:
                self._note("precision bf16 needs CUDA; training in fp32 on this device")

        self.model = DiffLL(self.net_cfg).to(self.device)
        self.model.Unet.set_attention_backend(cfg.run.attention)
        self.ema = EMA(self.model, cfg.optim.ema_decay, cfg.optim.ema_warmup)  # before patching
        if cfg.run.activation_checkpointing:
            enable_activation_checkpointing(self.model.Unet)
        o = cfg.optim
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, o.lr_step, o.lr_gamma)
        self.loss_fn = DiffLLLoss(
            **{f"{k}_weight": v for k, v in o.weights().items()}, tv_normalisation=o.tv_normalisation
        )
        self.noise_gen = torch.Generator(device=self.device)
        self.noise_gen.manual_seed(cfg.run.seed)

        self.train_set, self.val_set, self.data_info = build_datasets(cfg, self.net_cfg.pad_multiple)
        self.batches_per_epoch = EpochBatchSampler(len(self.train_set), cfg.data.batch_size).batches_per_epoch

        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.best: dict[str, Any] = {"psnr": None, "ssim": None, "step": None}
        self.last_val: dict[str, Any] = {}
        self.train_seconds = 0.0  # summed over all runs of this training
        self.resumed_from: str | None = None
        self.train_log = CsvLog(self.out_dir / "train_log.csv", TRAIN_FIELDS)
        self.val_log = CsvLog(self.out_dir / "val_log.csv", VAL_FIELDS)
        self._window: dict[str, list[float]] = {}  # loss terms since the last log row
        self._step_seconds: float | None = None  # smoothed seconds per step, for the log

    # ---- bookkeeping --------------------------------------------------------------------------

    def _note(self, message: str) -> None:
        """A diagnostic (resumed, settings changed, fallbacks) through :mod:`logging`: stderr
        for ``diffll train`` (``setup_logging``), the caller's handlers when used as a library."""
        if not self.quiet:
            log.info("diffll train: %s", message)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def _advance_position(self) -> None:
        self.batch_in_epoch += 1
        if self.batch_in_epoch >= self.batches_per_epoch:
            self.epoch += 1
            self.batch_in_epoch = 0

    def make_loader(self) -> DataLoader:
        """Endless loader starting at the current (epoch, batch) position."""
        sampler = EpochBatchSampler(
            len(self.train_set), self.cfg.data.batch_size, self.cfg.run.seed, self.epoch, self.batch_in_epoch
        )
        workers = self.cfg.data.workers
        generator = torch.Generator()
        generator.manual_seed(self.cfg.run.seed)
        return DataLoader(
            self.train_set,
            batch_sampler=sampler,
            num_workers=workers,
            collate_fn=collate,
            worker_init_fn=seed_worker if workers else None,
            generator=generator,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if workers else None,
        )

    # ---- one optimisation step ---------------------------------------------------------------

    def draw_noise(
        self, n: int, height: int, width: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Antithetic timesteps (n//2+1 draws, then T-1-t, first n kept), e and x_T."""
        T = self.net_cfg.num_train_timesteps
        half = torch.randint(0, T, (n // 2 + 1,), generator=generator, device=generator.device)
        t = torch.cat([half, T - 1 - half])[:n]
        k = self.net_cfg.wavelet_levels
        shape = (n, self.net_cfg.in_channels, height >> k, width >> k)
        e = torch.randn(shape, generator=generator, device=generator.device)
        x_T = torch.randn(shape, generator=generator, device=generator.device)
        return t.to(self.device), e.to(self.device), x_T.to(self.device)

    def compute_loss(
        self, batch: Mapping[str, Any], generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        low = batch["low"].to(self.device, non_blocking=True)
        gt = batch["gt"].to(self.device, non_blocking=True)
        t, e, x_T = self.draw_noise(low.shape[0], low.shape[-2], low.shape[-1], generator)
        with self._autocast():
            outputs = self.model.forward_train(low * 2 - 1, gt * 2 - 1, t, e, x_T)
        return self.loss_fn(outputs, gt, e)

    def train_step(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """One step of Algorithm 1 followed by the LR schedule and the EMA update."""
        self.model.train()
        loss, terms = self.compute_loss(batch, self.noise_gen)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(
                f"non-finite loss at step {self.step + 1}: "
                + ", ".join(f"{k}={float(v):.4g}" for k, v in terms.items())
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.optim.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        self.ema.update(self.model, self.step)
        self._advance_position()
        return {"loss": value, **{k: float(v) for k, v in terms.items()}}

    @torch.no_grad()
    def evaluate_loss(self, batch: Mapping[str, Any], seed: int = 0) -> float:
        """Loss of the training model on ``batch`` with noise from ``seed`` (no update)."""
        generator = torch.Generator(device=self.device)
        generator.manual_seed(seed)
        self.model.eval()
        loss, _ = self.compute_loss(batch, generator)
        return float(loss)

    # ---- validation ---------------------------------------------------------------------------

    @torch.no_grad()
    def validate(self) -> dict[str, Any]:
        """PSNR/SSIM of the EMA weights on the validation pairs, fixed start noise per image."""
        if self.val_set is None:
            return {}
        start = time.monotonic()
        model = self.ema.model.eval()
        k = self.net_cfg.wavelet_levels
        psnrs, ssims = [], []
        for index in range(len(self.val_set)):
            item = self.val_set.get(0, index)
            low = item["low"][None].to(self.device)
            gt = item["gt"][None].to(self.device)
            h, w = low.shape[-2:]
            generator = torch.Generator().manual_seed(self.cfg.run.val_seed + index)
            x_T = torch.randn((1, self.net_cfg.in_channels, h >> k, w >> k), generator=generator)
            with self._autocast():
                out = model.forward_inference(low * 2 - 1, x_T.to(self.device))["output"].float()
            mse = float(((out - gt) ** 2).mean())
            psnrs.append(10 * math.log10(1.0 / max(mse, 1e-10)))
            ssims.append(float(ssim(out, gt, data_range=1.0)))
        result = {
            "step": self.step,
            "epoch": self.epoch,
            "psnr": float(np.mean(psnrs)),
            "ssim": float(np.mean(ssims)),
            "images": len(psnrs),
            "sec": time.monotonic() - start,
        }
        improved = self.best["psnr"] is None or result["psnr"] > self.best["psnr"]
        result["best"] = int(improved)
        if improved:
            self.best = {"psnr": result["psnr"], "ssim": result["ssim"], "step": self.step}
        self.last_val = result
        self.val_log.append(result)
        return result

    # ---- checkpoints --------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "batches_per_epoch": self.batches_per_epoch,
            "model": self.model.state_dict(),
            "ema": self.ema.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": capture_rng_state(self.noise_gen),
            "config": self.cfg.to_dict(),
            "best": dict(self.best),
            "last_val": dict(self.last_val),
            "train_seconds": float(self.train_seconds),
            "data": {k: v for k, v in self.data_info.items() if v is not None},
            "hardware": device_description(self.device),
            "torch_version": str(torch.__version__),
        }

    def load_state_dict(self, state: Mapping[str, Any], source: str = "checkpoint") -> None:
        saved = state.get("config", {})
        mine = self.cfg.to_dict()
        if saved.get("model") != mine["model"]:
            raise ValueError(f"{source}: network config differs from this run's model section")
        changed = sorted(
            f"{section}.{key}"
            for section in ("data", "optim", "run")
            for key in set(saved.get(section, {})) | set(mine[section])
            if saved.get(section, {}).get(key) != mine[section].get(key)
        )
        if changed:
            self._note(f"resuming with changed settings: {', '.join(changed)}")
        if int(state.get("batches_per_epoch", self.batches_per_epoch)) != self.batches_per_epoch:
            self._note("the training set size changed; the data order will differ from the original run")
        self.model.load_state_dict(state["model"])
        self.ema.model.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        restore_rng_state(state["rng"], self.noise_gen)
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.batch_in_epoch = min(int(state["batch_in_epoch"]), self.batches_per_epoch - 1)
        self.best = dict(state.get("best") or self.best)
        self.last_val = dict(state.get("last_val") or {})
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.resumed_from = str(source)

    def resume(self, spec: str) -> bool:
        """``auto``: newest step checkpoint of the run directory if any; else a path."""
        if spec == "auto":
            path = find_latest_checkpoint(self.out_dir)
            if path is None:
                self._note(f"no checkpoint in {self.out_dir / 'checkpoints'}; starting from scratch")
                return False
        else:
            path = Path(spec)
        self.load_state_dict(load_training_checkpoint(path), str(path))
        self.train_log.truncate_after(self.step)
        self.val_log.truncate_after(self.step)
        self._note(f"resumed from {path} at step {self.step} (epoch {self.epoch})")
        return True

    def init_weights(self, path: str | os.PathLike[str]) -> None:
        """Start from exported weights (the project's inference format) with a fresh optimiser.

        For continuing a run whose full checkpoint is not at hand (e.g. on a new machine that
        only has the last fp16 export); unlike :meth:`resume` this is not an exact continuation.
        """
        from diffll.checkpoint import load_checkpoint

        model, net_cfg, record = load_checkpoint(path, device="cpu")
        if net_cfg.to_dict() != self.net_cfg.to_dict():
            raise ValueError(f"{path}: network config {net_cfg.to_dict()} differs from the training config {self.net_cfg.to_dict()}")
        state = {k: v.float() for k, v in model.state_dict().items()}
        self.model.load_state_dict(state, strict=True)
        self.ema.model.load_state_dict(state, strict=True)
        self.initialised_from = str(path)
        self._note(f"initialised weights from {path} (step {record.get('metadata', {}).get('step', '?')} of an earlier run)")

    def save_checkpoint(self, best: bool = False) -> Path:
        return save_training_checkpoint(
            self.out_dir, self.state_dict(), self.step, best, self.cfg.run.keep_last
        )

    def write_run_files(self) -> None:
        import yaml

        with atomic_write(self.out_dir / "config.yaml", "w", encoding="utf-8") as handle:
            yaml.safe_dump(self.cfg.to_dict(), handle, sort_keys=False)

    def write_summary(self, status: str, reason: str, started: float) -> dict[str, Any]:
        summary = {
            "status": status,
            "reason": reason,
            "step": self.step,
            "epoch": self.epoch,
            "max_steps": self.cfg.run.max_steps,
            "train_minutes_total": round(self.train_seconds / 60, 3),
            "this_run_minutes": round((time.monotonic() - started) / 60, 3),
            "best": self.best,
            "last_val": self.last_val,
            "latest_checkpoint": str(find_latest_checkpoint(self.out_dir) or ""),
            "resumed_from": self.resumed_from,
            "hardware": device_description(self.device),
            "torch_version": str(torch.__version__),
            "data": self.data_info,
        }
        write_json(self.out_dir / "summary.json", summary, indent=1)
        return summary

    # ---- the loop -----------------------------------------------------------------------------

    def fit(
        self,
        max_steps: int | None = None,
        max_minutes: float | None = None,
        started: float | None = None,
    ) -> dict[str, Any]:
        """Train until ``max_steps`` (config default), the time budget, or a signal
        (:class:`StopPolicy`); always leaves a checkpoint of the last completed step and
        ``summary.json``. The budget counts from ``started`` (``time.monotonic()``; default: now).
        """
        run = self.cfg.run
        policy = StopPolicy(
            max_steps=max_steps if max_steps is not None else run.max_steps,
            max_minutes=max_minutes if max_minutes is not None else run.max_minutes,
            val_every=run.val_every if self.val_set is not None else None,
            started=started,
        )
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.write_run_files()
        self._note(
            f"{sum(p.numel() for p in self.model.parameters()):,} parameters on "
            f"{device_description(self.device)}; {self.data_info['real_train_pairs']} real train "
            f"pairs, {self.data_info['val_pairs_used']} val pairs; step {self.step} -> {policy.max_steps}"
        )
        reason = "max_steps reached"
        saved_at = self.step if self.resumed_from else -1  # a resumed step is already on disk
        bar = self._progress_bar(policy.max_steps)
        loader = None
        with policy.catch_signals():
            if not policy.finished(self.step):
                loader = iter(self.make_loader())
            while not policy.finished(self.step):
                t0 = time.monotonic()
                terms = self.train_step(next(loader))  # type: ignore[arg-type]
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                dt = time.monotonic() - t0
                self.train_seconds += dt
                policy.record_step(dt)
                self._log_step(terms, dt, bar)
                if self.step % run.val_every == 0 and self.val_set is not None:
                    result = self.validate()
                    policy.record_validation(result["sec"])
                    self._note(f"step {self.step}: val PSNR {result['psnr']:.3f} dB, SSIM {result['ssim']:.4f}")
                    if result["best"]:
                        self.save_checkpoint(best=True)
                if self.step % run.ckpt_every == 0:
                    t1 = time.monotonic()
                    self.save_checkpoint()
                    saved_at = self.step
                    policy.record_save(time.monotonic() - t1)
                stop = policy.reason_to_stop(self.step)
                if stop:
                    reason = stop
                    break
            if saved_at != self.step:
                self.save_checkpoint()
        if bar is not None:
            bar.close()
        del loader
        status = "finished" if policy.finished(self.step) else "stopped"
        summary = self.write_summary(status, reason, policy.started)
        self._note(f"{status} at step {self.step} ({reason}); checkpoints in {self.out_dir / 'checkpoints'}")
        return summary

    def _progress_bar(self, total: int) -> Any:
        try:
            from tqdm import tqdm
        except ImportError:  # the bar is a convenience
            return None
        return tqdm(
            total=total, initial=self.step, desc="train", unit="step", dynamic_ncols=True,
            mininterval=0.5 if sys.stderr.isatty() else 30.0, disable=self.quiet,
        )

    def _log_step(self, terms: Mapping[str, float], seconds: float, bar: Any) -> None:
        """Progress bar, and every ``log_every`` steps one train_log.csv row of window means."""
        self._step_seconds = seconds if self._step_seconds is None else 0.9 * self._step_seconds + 0.1 * seconds
        for k, v in terms.items():
            self._window.setdefault(k, []).append(v)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{terms['loss']:.4f}", refresh=False)
        if self.step % self.cfg.run.log_every == 0:
            row: dict[str, Any] = {k: float(np.mean(v)) for k, v in self._window.items()}
            row.update(step=self.step, epoch=self.epoch, lr=self.scheduler.get_last_lr()[0],
                       sec_per_step=self._step_seconds, elapsed_min=self.train_seconds / 60)
            self.train_log.append(row)
            self._window = {}
