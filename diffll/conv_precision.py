"""Is int8 worth it for DiffLL on this CPU? One convolution, every number format, side by side.

    python -m diffll.conv_precision [--size 272x184] [--channels 64] [--repeats 7]

Convolutions are ~85% of DiffLL's time, so one 3x3 convolution at the UNet's widest map (64
channels at 272x184, the low band of a 1080x720 frame) decides: fp32 (contiguous, as the
authors' path runs it), bf16 (weights held in bf16, channels_last: the project's fast path) and
int8 with each quantized engine PyTorch has on x86 (``x86``, ``fbgemm``, ``onednn``; per-channel
qint8 weights, quint8 activations). Runs interleaved in one process (this machine's speed
drifts), median of ``--repeats``, and reports GFLOP/s and the speed relative to bf16. The
quantized kernels here time the convolution alone, without the quantize/dequantize steps a
whole int8 network would add, so they are an upper bound for int8.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence

__all__ = ["main", "measure"]

ENGINES = ("x86", "fbgemm", "onednn")


def measure(
    width: int, height: int, channels: int, repeats: int, threads: int = 0
) -> dict[str, float]:
    """Median seconds of one convolution per number format (keys ``fp32``, ``bf16``,
    ``int8-<engine>``); engines this build lacks are left out."""
    import torch
    import torch.ao.nn.quantized as nnq

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.randn(1, channels, height, width)
    conv = torch.nn.Conv2d(channels, channels, 3, padding=1).eval()
    conv_bf16 = torch.nn.Conv2d(channels, channels, 3, padding=1).eval()
    conv_bf16.load_state_dict(conv.state_dict())
    conv_bf16 = conv_bf16.to(torch.bfloat16).to(memory_format=torch.channels_last)
    x_bf16 = x.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    runs: dict[str, Callable[[], object]] = {
        "fp32": lambda: conv(x),
        "bf16": lambda: conv_bf16(x_bf16),
    }
    quantized: dict[str, tuple[object, object]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao quantized tensors are deprecated upstream
        for engine in ENGINES:
            if engine not in torch.backends.quantized.supported_engines:
                continue
            torch.backends.quantized.engine = engine
            scales = conv.weight.detach().abs().amax(dim=(1, 2, 3)) / 127
            qw = torch.quantize_per_channel(
                conv.weight.detach(), scales, torch.zeros(channels, dtype=torch.long), 0, torch.qint8
            )
            qconv = nnq.Conv2d(channels, channels, 3, padding=1)
            qconv.set_weight_bias(qw, conv.bias.detach())
            qconv.scale, qconv.zero_point = 0.05, 128
            qx = torch.quantize_per_tensor(x, float(x.abs().max()) / 127, 128, torch.quint8)
            if engine == "onednn":
                qx = qx.contiguous(memory_format=torch.channels_last)
            quantized[engine] = (qconv, qx)
    times: dict[str, list[float]] = {k: [] for k in [*runs, *(f"int8-{e}" for e in quantized)]}
    with torch.inference_mode():
        for _ in range(repeats + 2):  # two warm-up rounds are dropped below
            for name, fn in runs.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
            for engine, (qconv, qx) in quantized.items():
                torch.backends.quantized.engine = engine
                start = time.perf_counter()
                qconv(qx)
                times[f"int8-{engine}"].append(time.perf_counter() - start)
    return {name: statistics.median(ts[2:]) for name, ts in times.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m diffll.conv_precision", description=__doc__)
    parser.add_argument("--size", default="272x184", help="WIDTHxHEIGHT of the feature map")
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args(argv)
    from lowlight_common.devices import describe_device
    from lowlight_common.sizes import parse_size

    width, height = parse_size(args.size)
    medians = measure(width, height, args.channels, args.repeats, args.threads)
    flops = 2 * args.channels * args.channels * 9 * width * height
    print(f"# {describe_device('cpu')}, {args.channels}->{args.channels} 3x3 conv at {width}x{height}")
    print("format\tmedian_ms\tGFLOP/s\tvs_bf16")
    for name, seconds in medians.items():
        print(f"{name}\t{seconds * 1e3:.1f}\t{flops / seconds / 1e9:.0f}\t{medians['bf16'] / seconds:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
