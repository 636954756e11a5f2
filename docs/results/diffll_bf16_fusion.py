"""DiffLL bf16 on CPU: today's operation order against the fused kernels, side by side (issue 31,
item 6).

Loads the shipped model twice, ``precision="bf16", fused=False`` (the bf16 path as it was: SDPA
attention, separate sigmoid and multiply, upsample-then-conv) and ``fused=True`` (the default,
:mod:`diffll.fused`), and times one frame through each in one process, in interleaved rounds
(old, new, new, old, ...), wall and CPU seconds. On a machine shared with other jobs only the
per-round ratios mean something; the script prints each and their medians (CPU time: one
thread's own work, not the time it waited for a core another job held). It also checks the
fused output against fp32 (PSNR, must be >= 45 dB) and prints the unfused one's for reference.

``--profile`` adds one torch.profiler run per path and groups self CPU time by kind of work
(convolution, attention, GroupNorm, SiLU, adds, cat, copies, ...): where the time goes, and so
how far removing memory-bound work can go. ``--components`` times each fused piece against the
operations it replaces on the activations of a frame of ``--size`` (the shipped model's layers,
random activations of the real shapes), interleaved the same way: the evidence for keeping each
change. Run from the repository root, one thread:

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE .venv/bin/python docs/results/diffll_bf16_fusion.py \
        --size 1080x720 --rounds 3 --profile --csv docs/results/diffll_bf16_fusion_cpu.csv \
        --profile-csv docs/results/diffll_bf16_profile_cpu.csv
    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE .venv/bin/python docs/results/diffll_bf16_fusion.py \
        --size 1080x720 --components --rounds 5 --csv docs/results/diffll_bf16_components_cpu.csv

Exit code 1 when the fused output is below 45 dB against fp32.
"""

from __future__ import annotations

import argparse
import copy
import csv
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

import diffll
from lowlight_common.devices import describe_device
from lowlight_common.sizes import parse_size

MIN_PSNR_DB = 45.0

# aten operator -> kind of work (self CPU time; anything else counts as "other")
CATEGORIES = {
    "aten::mkldnn_convolution": "convolution",
    "aten::_scaled_dot_product_flash_attention_for_cpu": "attention",
    "aten::mm": "attention",
    "aten::bmm": "attention",
    "aten::_softmax": "attention",
    "aten::native_group_norm": "group_norm",
    "aten::sigmoid": "swish",
    "aten::silu": "swish",
    "aten::silu_": "swish",
    "aten::mul": "mul",
    "aten::add": "add",
    "aten::add_": "add",
    "aten::cat": "cat",
    "aten::copy_": "copy/layout",
    "aten::clone": "copy/layout",
    "aten::leaky_relu": "leaky_relu",
    "aten::leaky_relu_": "leaky_relu",
    "aten::upsample_nearest2d": "upsample",
    "aten::constant_pad_nd": "pad",
    "aten::reflection_pad2d": "pad",
}


def test_image(width: int, height: int, path: str | None) -> torch.Tensor:
    """A real frame resized to the size, or a seeded smooth dark image."""
    if path:
        from lldata.imageio import read_rgb

        rgb = torch.from_numpy(read_rgb(Path(path))).permute(2, 0, 1)[None].float() / 255.0
        return F.interpolate(rgb, size=(height, width), mode="bilinear", align_corners=False).clamp(0, 1)
    gen = torch.Generator().manual_seed(0)
    noise = torch.rand(1, 3, height, width, generator=gen)
    return 0.3 * F.avg_pool2d(noise, 9, 1, 4, count_include_pad=False)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / torch.mean((a.float() - b.float()) ** 2)))


def timed(enhancer: diffll.Enhancer, x: torch.Tensor) -> tuple[float, float, torch.Tensor]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = enhancer.enhance(x, seeds=[0])
    return time.perf_counter() - wall, time.process_time() - cpu, out


def profile_shares(
    enhancer: diffll.Enhancer, x: torch.Tensor
) -> tuple[dict[str, float], list[tuple[str, int, float, float]]]:
    """Self CPU seconds per kind of work for one forward, and per convolution input shape
    ``(shapes, calls, seconds, GFLOP/s)`` (the profiler's FLOP count of ``aten::conv2d``),
    slowest first: whether the convolutions run at one rate (compute-bound) or not."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True, with_flops=True) as prof:
        enhancer.enhance(x, seeds=[0])
    seconds: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        seconds[CATEGORIES.get(event.key, "other")] += event.self_cpu_time_total / 1e6
    convs = [
        (str(e.input_shapes[:2]), e.count, e.cpu_time_total / 1e6, e.flops / e.cpu_time_total / 1e3)
        for e in prof.key_averages(group_by_input_shape=True)
        if e.key == "aten::conv2d" and e.cpu_time_total > 0
    ]
    return dict(seconds), sorted(convs, key=lambda c: -c[2])


def component_pairs(
    model: torch.nn.Module, width: int, height: int
) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    """``name -> (old, new)`` calls of one fused piece on activations of the real shapes.

    ``model``: the shipped DiffLL loaded with ``precision="bf16", fused=False`` (bf16 weights,
    channels_last); the fused modules are copies of its layers switched with ``set_fused``.
    """
    from diffll.fused import group_norm_swish
    from diffll.padding import padded_size
    from diffll.unet import swish

    gen = torch.Generator().manual_seed(0)
    bf16, cl = torch.bfloat16, torch.channels_last

    def act(channels: int, h: int, w: int, batch: int = 1) -> torch.Tensor:
        x = torch.randn(batch, channels, h, w, generator=gen)
        return x.to(bf16).contiguous(memory_format=cl)

    unet = model.Unet
    m = model.config.pad_multiple
    low_h = padded_size(height, m) // 2**model.config.wavelet_levels
    low_w = padded_size(width, m) // 2**model.config.wavelet_levels
    temb = torch.randn(1, unet.temb_ch, generator=gen).to(bf16)
    pairs: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {}

    block = unet.down[0].block[0]
    x0 = act(block.in_channels, low_h, low_w)
    pairs[f"GroupNorm+SiLU {block.in_channels}x{low_h}x{low_w}"] = (
        lambda: swish(block.norm1(x0)), lambda: group_norm_swish(block.norm1, x0))
    deepest = len(unet.down) - 1
    small = unet.down[deepest].block[0].norm1
    xs = act(small.num_channels, low_h >> deepest, low_w >> deepest)
    pairs[f"GroupNorm+SiLU {small.num_channels}x{low_h >> deepest}x{low_w >> deepest}"] = (
        lambda: swish(small(xs)), lambda: group_norm_swish(small, xs))
    fused_block = copy.deepcopy(block)
    fused_block.fused = True
    pairs[f"ResnetBlock {block.in_channels}x{low_h}x{low_w}"] = (
        lambda: block(x0, temb), lambda: fused_block(x0, temb))
    conv1 = block.conv1
    t = block.temb_proj(swish(temb))
    h0 = group_norm_swish(block.norm1, x0)
    pairs["timestep added as conv1 bias"] = (
        lambda: conv1(h0) + t[:, :, None, None],
        lambda: F.conv2d(h0, conv1.weight, conv1.bias + t[0], padding=1))
    y0 = conv1(h0)
    pairs["residual add in place"] = (lambda: x0 + y0, lambda: y0.add_(x0))
    level = unet.attn_level
    attn = unet.down[level].attn[0]
    xa = act(attn.q.in_channels, low_h >> level, low_w >> level)
    chunked = copy.deepcopy(attn)
    chunked.backend = "chunked"
    pairs[f"attention {(low_h >> level) * (low_w >> level)} positions (SDPA -> chunked)"] = (
        lambda: attn(xa), lambda: chunked(xa))
    for lv in range(1, len(unet.up)):
        up = unet.up[lv].upsample
        xu = act(up.conv.in_channels, low_h >> lv, low_w >> lv)
        fused_up = copy.deepcopy(up)
        fused_up.set_fused(True)
        pairs[f"Upsample {up.conv.in_channels}x{low_h >> lv}x{low_w >> lv} (-> 2x2 convs)"] = (
            lambda up=up, xu=xu: up(xu), lambda fused_up=fused_up, xu=xu: fused_up(xu))
    hfrm = model.hfrms[0]
    bands = torch.randn(3, model.config.in_channels, padded_size(height, m) // 2,
                        padded_size(width, m) // 2, generator=gen)
    fused_hfrm = copy.deepcopy(hfrm)
    fused_hfrm.set_fused(True)
    feats = hfrm.conv_head(bands.to(bf16))
    f_lh, f_hh = feats[1:2], feats[2:3]
    pairs["HFRM cross attention (channels_last products)"] = (
        lambda: hfrm.conv_HH(torch.cat((hfrm.cross_attention0(f_lh, f_hh),) * 2, dim=1)),
        lambda: fused_hfrm.conv_HH(torch.cat((fused_hfrm.cross_attention0(f_lh, f_hh),) * 2, dim=1)))
    outs = [hfrm.dilated_block_HL(feats[i : i + 1]) for i in range(3)]
    pairs["HFRM conv_tail per band (no 64-channel cat)"] = (
        lambda: hfrm.conv_tail(torch.cat(outs, dim=0)),
        lambda: torch.cat([hfrm.conv_tail(out) for out in outs], dim=0))
    pairs[f"HFRM level 1 ({bands.shape[-2]}x{bands.shape[-1]})"] = (
        lambda: hfrm(bands), lambda: fused_hfrm(bands))
    return pairs


def time_components(model: torch.nn.Module, width: int, height: int, rounds: int,
                    machine: str, threads: int) -> list[dict[str, object]]:
    """Per-round old/new times of every piece of :func:`component_pairs`, alternating order."""
    rows = []
    with torch.inference_mode():
        for name, (old, new) in component_pairs(model, width, height).items():
            old(), new()  # warm-up
            ratios = []
            for r in range(rounds):
                seconds = {}
                for label, call in ((("old", old), ("new", new)) if r % 2 == 0 else (("new", new), ("old", old))):
                    start = time.perf_counter()
                    call()
                    seconds[label] = time.perf_counter() - start
                ratios.append(seconds["old"] / seconds["new"])
                rows.append({"size": f"{width}x{height}", "threads": threads, "component": name,
                             "round": r + 1, "old_ms": round(1e3 * seconds["old"], 3),
                             "new_ms": round(1e3 * seconds["new"], 3),
                             "speedup": round(ratios[-1], 3), "load1": round(os.getloadavg()[0], 2),
                             "machine": machine})
            print(f"{name}: speedup median {statistics.median(ratios):.3f} "
                  f"(rounds {', '.join(f'{q:.3f}' for q in ratios)}), old {rows[-1]['old_ms']} ms",
                  flush=True)
    return rows


def write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1080x720", help="WIDTHxHEIGHT")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--image", default=None, help="a frame to resize (default: synthetic)")
    parser.add_argument("--profile", action="store_true", help="also profile one forward per path")
    parser.add_argument("--csv", type=Path, default=None, help="per-round timings")
    parser.add_argument("--profile-csv", type=Path, default=None, help="profile shares")
    parser.add_argument("--components", action="store_true",
                        help="time each fused piece against what it replaces (instead of whole frames)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    width, height = parse_size(args.size)
    if args.components:
        machine = describe_device("cpu")
        print(f"# {machine}, {width}x{height} activations, {args.threads} thread(s), "
              f"load {os.getloadavg()}", flush=True)
        model = diffll.load(precision="bf16", fused=False, device="cpu", tile=None).model
        rows = time_components(model, width, height, args.rounds, machine, args.threads)
        if args.csv:
            write_csv(args.csv, rows)
        return 0
    x = test_image(width, height, args.image)
    options = {"device": "cpu", "tile": None, "steps": args.steps}
    paths = {
        "old": diffll.load(precision="bf16", fused=False, **options),
        "new": diffll.load(precision="bf16", fused=True, **options),
    }
    machine = describe_device("cpu")
    print(f"# {machine}, {width}x{height}, {args.threads} thread(s), load {os.getloadavg()}", flush=True)

    outputs = {name: enhancer.enhance(x, seeds=[0]) for name, enhancer in paths.items()}  # warm-up
    reference = diffll.load(precision="fp32", **options).enhance(x, seeds=[0])
    quality = {name: psnr(out, reference) for name, out in outputs.items()}
    print(f"PSNR vs fp32: old {quality['old']:.2f} dB, new {quality['new']:.2f} dB; "
          f"new vs old {psnr(outputs['new'], outputs['old']):.2f} dB", flush=True)

    rows = []
    for r in range(args.rounds):
        order = ("old", "new") if r % 2 == 0 else ("new", "old")
        load = os.getloadavg()[0]
        wall: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for name in order:
            wall[name], cpu[name], out = timed(paths[name], x)
            if not torch.equal(out, outputs[name]):
                print(f"error: the {name} path's output changed between calls", file=sys.stderr)
                return 1
        rows.append({
            "size": f"{width}x{height}", "threads": args.threads, "round": r + 1, "first": order[0],
            "old_wall_s": round(wall["old"], 3), "new_wall_s": round(wall["new"], 3),
            "speedup_wall": round(wall["old"] / wall["new"], 3),
            "old_cpu_s": round(cpu["old"], 3), "new_cpu_s": round(cpu["new"], 3),
            "speedup_cpu": round(cpu["old"] / cpu["new"], 3),
            "load1": round(load, 2), "psnr_new_vs_fp32_db": round(quality["new"], 2),
            "psnr_old_vs_fp32_db": round(quality["old"], 2), "machine": machine,
        })
        print(f"round {r + 1} ({order[0]} first): old {wall['old']:.2f} s, new {wall['new']:.2f} s, "
              f"speedup {rows[-1]['speedup_wall']:.3f} (CPU time {rows[-1]['speedup_cpu']:.3f}), "
              f"load {load:.2f}", flush=True)
    for clock in ("wall", "cpu"):
        speedups = [row[f"speedup_{clock}"] for row in rows]
        print(f"median speedup old/new ({clock} time): {statistics.median(speedups):.3f} "
              f"(rounds {', '.join(f'{s:.3f}' for s in speedups)})")
    if args.csv:
        write_csv(args.csv, rows)

    if args.profile:
        profiled = {name: profile_shares(enhancer, x) for name, enhancer in paths.items()}
        shares = {name: p[0] for name, p in profiled.items()}
        for name, (_, convs) in profiled.items():
            print(f"{name} path, the 8 slowest convolution shapes ([input, weight]):")
            for shapes, calls, conv_s, rate in convs[:8]:
                print(f"  {shapes:<42} {calls:4d} calls {conv_s:7.3f} s {rate:6.0f} GFLOP/s")
        kinds = sorted(set(shares["old"]) | set(shares["new"]), key=lambda k: -shares["old"].get(k, 0.0))
        totals = {name: sum(s.values()) for name, s in shares.items()}
        profile_rows = []
        print(f"{'kind':<14}{'old s':>9}{'old %':>8}{'new s':>9}{'new %':>8}")
        for kind in kinds:
            old_s, new_s = shares["old"].get(kind, 0.0), shares["new"].get(kind, 0.0)
            print(f"{kind:<14}{old_s:9.3f}{100 * old_s / totals['old']:8.1f}"
                  f"{new_s:9.3f}{100 * new_s / totals['new']:8.1f}")
            profile_rows.append({
                "size": f"{width}x{height}", "threads": args.threads, "kind": kind,
                "old_s": round(old_s, 3), "old_share": round(old_s / totals["old"], 4),
                "new_s": round(new_s, 3), "new_share": round(new_s / totals["new"], 4),
                "machine": machine,
            })
        print(f"{'total':<14}{totals['old']:9.3f}{'':8}{totals['new']:9.3f}")
        if args.profile_csv:
            write_csv(args.profile_csv, profile_rows)
    if quality["new"] < MIN_PSNR_DB:
        print(f"error: fused bf16 output is {quality['new']:.2f} dB from fp32 (< {MIN_PSNR_DB})",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
