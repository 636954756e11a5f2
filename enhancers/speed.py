"""Time each method on one synthetic image: ``python -m enhancers.speed --size 1080x720``.

For every method: build it once (weights loaded, not timed), run ``--warmup`` untimed calls,
then ``--repeats`` timed calls on the same image, and report the median (and min/max) wall time
per image of ``Method.enhance`` on a uint8 numpy image, i.e. including the conversions and, on
GPU, the host-device copies a pipeline pays. Per-method options: ``--option diffll.steps=10``. CUDA work is synchronised before each clock read. Methods that cannot be created here
(missing weights, no DiffLL checkpoint) are reported as skipped with the reason. Numbers are
only meaningful on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from enhancers.base import Method, resolve_device
from enhancers.cli import parse_options
from enhancers.registry import create_method, list_methods
from lldata.atomic import atomic_write
from lowlight_common.devices import cpu_model
from lowlight_common.sizes import size_argument


def synthetic_image(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A dark, smooth-plus-noise uint8 image (deterministic): realistic work for every method."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 0.02 + 0.08 * (0.5 + 0.5 * np.sin(xx / 37.0) * np.cos(yy / 23.0))
    img = base[..., None] * np.array([1.0, 0.9, 0.8], np.float32)
    img = img + rng.normal(0, 0.01, img.shape).astype(np.float32)
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_method(method: Method, image: np.ndarray, warmup: int, repeats: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``method.enhance`` after ``warmup`` calls."""
    for _ in range(warmup):
        method.enhance(image)
    _sync(method.device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        method.enhance(image)
        _sync(method.device)
        times.append(time.perf_counter() - t0)
    return times


def run(
    methods: Sequence[str],
    size: tuple[int, int],
    warmup: int,
    repeats: int,
    device: str,
    weights_dir: str | None,
    options: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    image = synthetic_image(*size)
    rows = []
    for name in methods:
        row: dict[str, Any] = {"method": name, "width": size[0], "height": size[1]}
        try:
            method = create_method(
                name, device=device, weights_dir=weights_dir, **(options or {}).get(name, {})
            )
        except Exception as exc:  # noqa: BLE001 - a method unavailable here is skipped
            row.update(status="skipped", reason=f"{type(exc).__name__}: {exc}")
            rows.append(row)
            continue
        times = time_method(method, image, warmup, repeats)
        row.update(
            status="ok",
            device=str(method.device),
            repeats=repeats,
            warmup=warmup,
            median_s=statistics.median(times),
            min_s=min(times),
            max_s=max(times),
        )
        rows.append(row)
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'method':<14} {'device':<8} {'median s':>10} {'min s':>9} {'max s':>9}"]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"{r['method']:<14} skipped: {r['reason']}")
            continue
        lines.append(
            f"{r['method']:<14} {r['device']:<8} {r['median_s']:>10.4f} "
            f"{r['min_s']:>9.4f} {r['max_s']:>9.4f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m enhancers.speed", description=__doc__)
    parser.add_argument("--size", type=size_argument, default=(1080, 720), help="WIDTHxHEIGHT")
    parser.add_argument("--methods", nargs="+", default=None, help="default: all but diffll")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--weights-dir", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="METHOD.KEY=VALUE",
        help="option for one method, repeatable (e.g. diffll.checkpoint=ckpt/)",
    )
    parser.add_argument("--json", dest="json_out", default=None, help="also write rows here")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        parser.error("need --repeats >= 1 and --warmup >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    methods = args.methods or [m for m in list_methods() if m != "diffll"]
    resolve_device(args.device)  # fail early on an unavailable device
    options: dict[str, dict[str, Any]] = {}
    for item in args.option:
        method, dot, rest = item.partition(".")
        if not dot:
            parser.error(f"--option expects METHOD.KEY=VALUE, got {item!r}")
        try:
            options.setdefault(method, {}).update(parse_options([rest]))
        except ValueError as exc:
            parser.error(str(exc))
    rows = run(
        methods, args.size, args.warmup, args.repeats, args.device, args.weights_dir, options
    )
    print(format_rows(rows))
    if args.json_out:
        meta = {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "cpu": cpu_model(),
        }
        with atomic_write(args.json_out, "w") as fh:
            json.dump({"meta": meta, "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
