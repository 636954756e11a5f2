"""Detector throughput: images per second at a given image size, after warm-up.

    python -m detectors.benchmark --size 1080x720 --repeats 20 [--detector mtcnn ...]
    python -m detectors.benchmark --detector dsfd --random-weights-if-absent --csv out.csv

Timings mean something only on a quiet machine. The default input is a seeded synthetic dark
image; MTCNN's cost depends on the content (candidates per pyramid level), so ``--image`` lets
you time a real photo resized to ``--size`` instead.

``--csv`` appends one row per detector with the peak memory: the process's peak resident set
(VmHWM, model load included) on CPU, ``torch.cuda.max_memory_allocated`` on CUDA. Run one
detector per invocation for a per-detector peak. ``--random-weights-if-absent`` times a detector
whose released checkpoint is absent with seeded random weights; its rows say so (``weights``),
and their post-processing cost is not that of the real model (random scores pass the thresholds
far more often than a trained detector's).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detectors.cli import parse_option
from lowlight_common.devices import cpu_model
from lowlight_common.sizes import size_argument

parse_size = size_argument  # the public name this module has always had (argparse ``type=``)


def synthetic_image(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A dark, smooth, noisy RGB image: plausible night-time statistics, no faces."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    base = 12 + 10 * np.sin(xx / 97.0) * np.cos(yy / 61.0) + 8 * (yy / max(height - 1, 1))
    img = base[..., None] + rng.normal(0, 4, size=(height, width, 3))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def benchmark(detector: Any, image: np.ndarray, repeats: int, warmup: int) -> dict[str, Any]:
    """Time ``repeats`` calls of ``detector.detect`` after ``warmup`` untimed ones."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    for _ in range(warmup):
        detector.detect(image)
    sync = _cuda_sync if getattr(detector, "device", "cpu") == "cuda" else (lambda: None)
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        detector.detect(image)
        sync()
        times.append(time.perf_counter() - start)
    t = np.asarray(times)
    return {
        "repeats": repeats,
        "warmup": warmup,
        "mean_s": float(t.mean()),
        "median_s": float(np.median(t)),
        "min_s": float(t.min()),
        "images_per_s": float(1.0 / np.median(t)),
    }


def weights_label(detector: Any, seed: int) -> str:
    if getattr(detector, "random_weights", False):
        return f"random (seed {seed}; checkpoint absent, timing only)"
    return "released"


def peak_memory_mb(device: str) -> float:
    """CUDA: max allocated; CPU: this process's peak resident set (VmHWM), model included."""
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    from lowlight_common.memory import peak_rss_bytes

    return peak_rss_bytes() / 2**20


CSV_COLUMNS = [
    "detector", "options", "weights", "device", "device_name", "size", "image", "warmup",
    "repeats", "median_s", "min_s", "mean_s", "peak_mem_mb", "boxes", "torch_threads",
    "torch_version", "date",
]  # fmt: skip


def _device_name(device: str) -> str:
    import torch

    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"{cpu_model()} ({os.cpu_count()} CPUs)"  # the form of the device_name column so far


def append_csv(path: Path, res: dict[str, Any], image_label: str) -> None:
    """Append one result row (header written when the file is new)."""
    import csv
    import datetime
    import json

    import torch

    row = {
        **{k: res.get(k) for k in CSV_COLUMNS},
        "options": json.dumps(res["options"], sort_keys=True),
        "device_name": _device_name(res["device"]),
        "image": image_label,
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "date": datetime.date.today().isoformat(),
    }
    new = not path.is_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def _cuda_sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def main(argv: Sequence[str] | None = None) -> int:
    from detectors.registry import create_detector, list_detectors, unavailable_reason

    parser = argparse.ArgumentParser(
        prog="python -m detectors.benchmark", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--size", type=parse_size, default=(1080, 720), help="WIDTHxHEIGHT")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--detector", action="append", help="repeatable; default: all registered")
    parser.add_argument("--option", type=parse_option, action="append", default=[], metavar="K=V")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument(
        "--image", type=Path, help="time this image (resized) instead of a synthetic one"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="JSON file for the results")
    parser.add_argument("--csv", type=Path, help="append one row per detector to this CSV")
    parser.add_argument(
        "--random-weights-if-absent",
        action="store_true",
        help="checkpoint absent: time the network with seeded random weights (labelled)",
    )
    args = parser.parse_args(argv)

    width, height = args.size
    if args.image:
        import cv2

        from lldata.imageio import read_rgb

        image = cv2.resize(read_rgb(args.image), (width, height), interpolation=cv2.INTER_AREA)
    else:
        image = synthetic_image(width, height, args.seed)
    names = args.detector or list_detectors()
    if args.option and len(names) != 1:
        parser.error("--option needs exactly one --detector (options differ between detectors)")
    options = dict(args.option)
    results = []
    for name in names:
        opts = dict(options)
        if args.random_weights_if_absent and unavailable_reason(name, **opts):
            opts["random_weights_seed"] = args.seed
        detector = create_detector(name, device=args.device, **opts)
        res = benchmark(detector, image, args.repeats, args.warmup)
        res |= {
            "detector": name,
            "device": detector.device,
            "size": f"{width}x{height}",
            "options": options,
            "weights": weights_label(detector, args.seed),
            "peak_mem_mb": peak_memory_mb(detector.device),
            "boxes": len(detector.detect(image)),
        }
        results.append(res)
        if args.csv:
            append_csv(args.csv, res, image_label=str(args.image) if args.image else "synthetic")
        print(
            f"{name:12s} {detector.device:5s} {width}x{height}: {res['images_per_s']:.2f} images/s "
            f"(median {res['median_s'] * 1000:.1f} ms over {args.repeats}), "
            f"peak {res['peak_mem_mb']:.0f} MB, weights {res['weights']}"
        )
    if args.out:
        from detectors.evaluation.outputs import write_json

        write_json(
            args.out,
            {"platform": platform.platform(), "python": sys.version.split()[0], "results": results},
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
