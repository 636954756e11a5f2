"""Images per second of DiffLL over a set of frames: every (precision, batch size) mode
interleaved in one process, against the fp32 per-image loop.

    python -m diffll.benchmarks --batch-sizes 1 4 16 --modes fp32 bf16 --sizes 1080x720 \
        --images 16 --rounds 3 --device cuda --out docs/results/diffll_batch_cuda.csv

Why one process and interleaved rounds: the shared machines this project runs on drift by
20-60% over minutes, so modes measured minutes apart mostly measure the machine. Each round
visits every mode once, in a seeded shuffled order; the CSV reports per mode the median
images/s over rounds and the ratio to the fp32 loop of the same round (median over rounds).

Each visit enhances the same ``--images`` frames (one start-noise seed each) in batches of the
mode's size. Memory per mode: on CUDA ``max_memory_allocated`` after a reset; on CPU the peak
resident set sampled every 2 ms during the visit, minus the resident set before it (labelled
``rss_sampled_delta``: the process's VmHWM cannot be reset between modes). PSNR of each mode's
outputs against the fp32 loop's, over all frames.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FIELDS", "Mode", "modes_for", "run"]

FIELDS = (
    "date_utc",
    "device",
    "device_name",
    "torch_version",
    "weights",
    "width",
    "height",
    "mode",
    "precision",
    "batch_size",
    "images",
    "rounds",
    "threads",
    "images_per_s",
    "images_per_s_min",
    "images_per_s_max",
    "ratio_vs_fp32_loop",
    "peak_mem_bytes",
    "peak_mem_kind",
    "psnr_vs_fp32_loop_db",
    "error",
)


@dataclass(frozen=True)
class Mode:
    precision: str  # fp32 | bf16
    batch_size: int

    @property
    def name(self) -> str:
        return "fp32-loop" if self.is_reference else f"{self.precision}-b{self.batch_size}"

    @property
    def is_reference(self) -> bool:
        return self.precision == "fp32" and self.batch_size == 1


def modes_for(precisions: Sequence[str], batch_sizes: Sequence[int]) -> list[Mode]:
    """Every precision x batch size, with the fp32 per-image loop (the reference) first."""
    modes = [Mode("fp32", 1)]
    for precision in precisions:
        for batch in batch_sizes:
            mode = Mode(precision, int(batch))
            if mode not in modes:
                modes.append(mode)
    return modes


class _RssSampler:
    """Highest resident set size seen by a 2 ms polling thread (CPU memory per visit)."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(0.002)

    def __enter__(self) -> _RssSampler:
        self.base = self._proc.memory_info().rss
        self.peak = self.base
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(
    *,
    device: str,
    width: int,
    height: int,
    precisions: Sequence[str],
    batch_sizes: Sequence[int],
    images: int,
    rounds: int,
    warmup: int = 1,
    steps: int | None = None,
    checkpoint: str | None = None,
    config: str = "full",
    seed: int = 0,
    threads: int = 0,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
) -> list[dict[str, Any]]:
    """Measure every mode; returns one CSV row per mode (see :data:`FIELDS`)."""
    import torch

    from diffll.benchmarks import _test_image, psnr
    from diffll.config import DiffLLConfig
    from diffll.inference import Enhancer
    from diffll.model import DiffLL

    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    if checkpoint:
        from diffll.checkpoint import load_checkpoint

        base, _config, _record = load_checkpoint(checkpoint, device="cpu")
        weights = checkpoint
    else:
        torch.manual_seed(seed)
        base = DiffLL(DiffLLConfig.small() if config == "small" else DiffLLConfig())
        weights = f"random(seed={seed}, config={config})"
    modes = modes_for(precisions, batch_sizes)
    enhancers = {
        m: Enhancer(copy.deepcopy(base), device=dev, precision=m.precision, steps=steps, tile=None)
        for m in modes
    }
    frames = [_test_image(width, height, seed + i)[0] for i in range(images)]
    seeds = [seed + i for i in range(images)]

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def visit(mode: Mode) -> tuple[float, int, list[np.ndarray]]:
        enhancer = enhancers[mode]
        outs: list[np.ndarray] = []
        if dev.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(dev)
        with _RssSampler() if dev.type == "cpu" else _NullSampler() as sampler:
            sync()
            start = time.perf_counter()
            for i in range(0, images, mode.batch_size):
                chunk = enhancer.enhance_images(frames[i : i + mode.batch_size], seeds[i : i + mode.batch_size])
                outs.extend(o.float().cpu().numpy() for o in chunk)
            sync()
            elapsed = time.perf_counter() - start
        peak = (
            torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else sampler.peak - sampler.base
        )
        return elapsed, int(peak), outs

    for mode in modes:  # warm-up: kernels chosen, allocator primed, lazy inits done
        for _ in range(warmup):
            enhancers[mode].enhance_images(frames[: mode.batch_size], seeds[: mode.batch_size])
    rng = random.Random(seed)
    times: dict[Mode, list[float]] = {m: [] for m in modes}
    peaks: dict[Mode, int] = dict.fromkeys(modes, 0)
    outputs: dict[Mode, list[np.ndarray]] = {}
    for r in range(rounds):
        order = list(modes)
        rng.shuffle(order)
        for mode in order:
            elapsed, peak, outs = visit(mode)
            times[mode].append(elapsed)
            peaks[mode] = max(peaks[mode], peak)
            outputs.setdefault(mode, outs)
            log(f"[diffll.throughput] round {r + 1}/{rounds} {mode.name}: {images / elapsed:.3f} images/s")
    reference = modes[0]
    if dev.type == "cuda":
        device_name = torch.cuda.get_device_name(dev)
    else:
        from lowlight_common.devices import describe_device

        device_name = describe_device("cpu")
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = []
    for mode in modes:
        rates = [images / t for t in times[mode]]
        ratios = [ref / t for ref, t in zip(times[reference], times[mode], strict=True)]
        rows.append(
            {
                "date_utc": date,
                "device": device,
                "device_name": device_name,
                "torch_version": torch.__version__,
                "weights": weights,
                "width": width,
                "height": height,
                "mode": mode.name,
                "precision": enhancers[mode].precision,
                "batch_size": mode.batch_size,
                "images": images,
                "rounds": rounds,
                "threads": torch.get_num_threads(),
                "images_per_s": f"{statistics.median(rates):.4f}",
                "images_per_s_min": f"{min(rates):.4f}",
                "images_per_s_max": f"{max(rates):.4f}",
                "ratio_vs_fp32_loop": f"{statistics.median(ratios):.3f}",
                "peak_mem_bytes": peaks[mode],
                "peak_mem_kind": "cuda_max_memory_allocated" if dev.type == "cuda" else "rss_sampled_delta",
                "psnr_vs_fp32_loop_db": f"{psnr(np.stack(outputs[mode]), np.stack(outputs[reference])):.2f}",
                "error": "",
            }
        )
    return rows


class _NullSampler:
    base = peak = 0

    def __enter__(self) -> _NullSampler:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def write_rows(path: str | Path, rows: list[dict[str, Any]]) -> None:
    from lldata.atomic import atomic_write

    with atomic_write(Path(path), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in FIELDS})
