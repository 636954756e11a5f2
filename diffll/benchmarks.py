"""Speed and memory of DiffLL inference: the authors' fp32 path against the fast path.

    python -m diffll.benchmarks --device cpu --out benchmarks/diffll_cpu.csv
    python -m diffll.benchmarks --device cuda --out benchmarks/diffll_cuda.csv
    python -m diffll.benchmarks --config small --sizes 64x64 --repeats 1 --warmup 0  # smoke test

Modes: ``fp32`` (eager, explicit attention matrices, contiguous tensors: operation for
operation the authors' code), ``bf16`` (networks held in bf16 + channels_last + fused
attention; wavelets, residuals and sampler in fp32), and ``bf16-compile`` (the same under
``torch.compile``). Every (size, mode) runs in a fresh child
process so that its peak memory is its own: ``VmHWM`` of the child on CPU (the whole
process, torch and weights included; the RSS before the first forward is reported beside it),
``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats`` on CUDA. Each mode
starts from the same start noise, and the PSNR of its output against the fp32 output is
reported. Weights are random (seeded) unless ``--checkpoint`` is given: speed does not depend
on them. Default sizes: 600x400 and 1080x720 on CPU; 600x400, 1920x1080 and 3840x2160 on CUDA.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from lowlight_common.devices import cpu_model
from lowlight_common.memory import peak_rss_bytes
from lowlight_common.sizes import parse_size, size_argument

__all__ = ["MODES", "main", "psnr", "run_child"]

MODES = ("fp32", "bf16", "bf16-compile")
CPU_SIZES = ("600x400", "1080x720")
CUDA_SIZES = ("600x400", "1920x1080", "3840x2160")
CSV_FIELDS = (
    "date_utc",
    "device",
    "device_name",
    "torch_version",
    "config",
    "weights",
    "width",
    "height",
    "mode",
    "precision",
    "channels_last",
    "compile",
    "attention",
    "steps",
    "threads",
    "warmup",
    "repeats",
    "median_s",
    "min_s",
    "peak_mem_bytes",
    "peak_mem_kind",
    "rss_before_forward_bytes",
    "psnr_vs_fp32_db",
    "error",
)



def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two [0, 1] images (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def _test_image(width: int, height: int, seed: int):
    """A smooth, dark synthetic image (deterministic): low-frequency noise scaled to [0, 0.25]."""
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand((1, 3, max(2, height // 32), max(2, width // 32)), generator=gen)
    img = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)
    return (img.clamp(0, 1) * 0.25).contiguous()


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Measure one (size, mode) in this process. Called in a fresh interpreter by :func:`main`."""
    import torch

    from diffll.config import DiffLLConfig
    from diffll.inference import Enhancer
    from diffll.model import DiffLL

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    mode = spec["mode"]
    precision = "fp32" if mode == "fp32" else "bf16"
    device = torch.device(spec["device"])
    if spec.get("checkpoint"):
        from diffll.checkpoint import load_checkpoint

        model, _config, _record = load_checkpoint(spec["checkpoint"], device="cpu")
    else:
        config = DiffLLConfig.small() if spec["config"] == "small" else DiffLLConfig()
        torch.manual_seed(int(spec["seed"]))
        model = DiffLL(config)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        enhancer = Enhancer(
            model,
            device=device,
            precision=precision,
            steps=spec.get("steps"),
            compile=mode == "bf16-compile",
        )
    width, height = spec["width"], spec["height"]
    x = _test_image(width, height, int(spec["seed"]))
    noise = enhancer.draw_noise(1, height, width, seeds=[int(spec["seed"])])

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    rss_before = peak_rss_bytes()
    for _ in range(int(spec["warmup"])):
        enhancer.enhance(x, noise=noise)
    if device.type == "cuda":
        sync()
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    out = None
    for _ in range(int(spec["repeats"])):
        sync()
        start = time.perf_counter()
        out = enhancer.enhance(x, noise=noise)
        sync()
        times.append(time.perf_counter() - start)
    if device.type == "cuda":
        peak, kind = torch.cuda.max_memory_allocated(device), "cuda_max_memory_allocated"
        device_name = torch.cuda.get_device_name(device)
    else:
        peak, kind = peak_rss_bytes(), "vm_hwm"
        device_name = cpu_model()
    assert out is not None
    np.save(spec["output_npy"], out.numpy())
    return {
        "device_name": device_name,
        "torch_version": torch.__version__,
        "precision": enhancer.precision,
        "channels_last": enhancer.precision == "bf16",
        "compile": mode == "bf16-compile",
        "attention": "sdpa" if enhancer.precision == "bf16" else "math",
        "steps": enhancer.steps,
        "threads": torch.get_num_threads(),
        "median_s": statistics.median(times),
        "min_s": min(times),
        "peak_mem_bytes": int(peak),
        "peak_mem_kind": kind,
        "rss_before_forward_bytes": int(rss_before) if device.type == "cpu" else "",
        "warnings": [str(w.message) for w in caught],
    }


def _spawn(spec: dict[str, Any], timeout: float | None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "diffll.benchmarks", "--child", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": f"child exited {proc.returncode}: {tail[0]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m diffll.benchmarks", description=__doc__)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--sizes", nargs="+", type=size_argument, help="WIDTHxHEIGHT ...")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=["fp32", "bf16"])
    parser.add_argument("--config", choices=("full", "small"), default="full")
    parser.add_argument("--checkpoint", help="real weights instead of random ones (optional)")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=None, help="seconds per child")
    parser.add_argument("--out", default="benchmarks/diffll_speed.csv")
    parser.add_argument(
        "--batch-sizes",
        nargs="+",
        type=int,
        help="instead: images/s of every precision x batch size over --images frames, all "
        "modes interleaved in one process against the fp32 per-image loop (diffll.throughput)",
    )
    parser.add_argument("--images", type=int, default=16, help="frames per visit (--batch-sizes)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (--batch-sizes)")
    args = parser.parse_args(argv)

    if args.batch_sizes:
        return _main_throughput(args)

    if args.child:
        print(json.dumps(run_child(json.loads(args.child))))
        return 0

    import torch

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    sizes = args.sizes or [
        parse_size(s) for s in (CUDA_SIZES if device.startswith("cuda") else CPU_SIZES)
    ]
    modes = list(dict.fromkeys(["fp32", *args.modes]))  # fp32 is the PSNR reference
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="diffll-bench-") as tmp:
        for width, height in sizes:
            reference: np.ndarray | None = None
            for mode in modes:
                spec = {
                    "mode": mode,
                    "device": device,
                    "config": args.config,
                    "checkpoint": args.checkpoint,
                    "steps": args.steps,
                    "repeats": args.repeats,
                    "warmup": args.warmup,
                    "threads": args.threads,
                    "seed": args.seed,
                    "width": width,
                    "height": height,
                    "output_npy": str(Path(tmp) / f"{mode}_{width}x{height}.npy"),
                }
                print(f"[diffll.benchmarks] {device} {width}x{height} {mode} ...", file=sys.stderr)
                try:
                    result = _spawn(spec, args.timeout)
                except subprocess.TimeoutExpired:
                    result = {"error": f"timed out after {args.timeout} s"}
                value = ""
                if "error" not in result:
                    out = np.load(spec["output_npy"])
                    if mode == "fp32":
                        reference = out
                    if reference is not None:
                        value = f"{psnr(out, reference):.3f}"
                for message in result.pop("warnings", []):
                    print(f"[diffll.benchmarks]   warning: {message}", file=sys.stderr)
                row = {
                    "date_utc": date,
                    "device": device,
                    "config": args.config,
                    "weights": args.checkpoint or f"random(seed={args.seed})",
                    "width": width,
                    "height": height,
                    "mode": mode,
                    "warmup": args.warmup,
                    "repeats": args.repeats,
                    "psnr_vs_fp32_db": value,
                    "error": "",
                    **result,
                }
                rows.append(row)
                print(
                    f"[diffll.benchmarks]   median {row.get('median_s', 'n/a')} s, "
                    f"peak {row.get('peak_mem_bytes', 'n/a')} B, PSNR {value or 'n/a'}",
                    file=sys.stderr,
                )
    out_path = Path(args.out)
    from lldata.atomic import atomic_write

    with atomic_write(out_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in CSV_FIELDS})
    print(f"[diffll.benchmarks] wrote {out_path}", file=sys.stderr)
    return 1 if any(row.get("error") for row in rows) else 0


def _main_throughput(args: argparse.Namespace) -> int:
    import torch

    from diffll.throughput import run, write_rows

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    sizes = args.sizes or [parse_size("1080x720")]
    precisions = [m for m in args.modes if m in ("fp32", "bf16")]
    rows = []
    for width, height in sizes:
        rows.extend(
            run(
                device=device,
                width=width,
                height=height,
                precisions=precisions,
                batch_sizes=args.batch_sizes,
                images=args.images,
                rounds=args.rounds,
                warmup=args.warmup,
                steps=args.steps,
                checkpoint=args.checkpoint,
                config=args.config,
                seed=args.seed,
                threads=args.threads,
            )
        )
        write_rows(args.out, rows)  # after each size: a long run keeps what it measured
    print(f"[diffll.benchmarks] wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
