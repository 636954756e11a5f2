"""CPU seconds and bytes of writing one frame as PNG at several zlib levels, interleaved.

    OMP_NUM_THREADS=1 python docs/results/png_write_speed.py ../shared/data/darkface/image/252.png --rounds 7

Two frames: the raw (dark) frame as read, and the same frame after histogram equalisation (an
enhanced output has more entropy). Levels are visited in a new order each round; the medians of
the CPU time per level and the per-round ratio to level 6 (Pillow's default) are printed.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import time

from PIL import Image, ImageOps


def write_seconds(image: Image.Image, level: int) -> tuple[float, int]:
    start = time.process_time()
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=level)
    return time.process_time() - start, len(buf.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    parser.add_argument("--levels", type=int, nargs="+", default=[6, 3, 1])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    raw = Image.open(args.image).convert("RGB")
    frames = {"raw": raw, "equalised": ImageOps.equalize(raw)}
    rng = random.Random(args.seed)
    print(f"# {args.image}: {raw.width}x{raw.height}, {args.rounds} rounds, levels {args.levels}")
    print("frame\tlevel\tbytes\tmedian_cpu_s\tmedian_ratio_to_6")
    for name, frame in frames.items():
        seconds: dict[int, list[float]] = {level: [] for level in args.levels}
        sizes: dict[int, int] = {}
        for _ in range(args.rounds):
            order = list(args.levels)
            rng.shuffle(order)
            for level in order:
                dt, size = write_seconds(frame, level)
                seconds[level].append(dt)
                sizes[level] = size
        for level in args.levels:
            ratios = [a / b for a, b in zip(seconds[level], seconds.get(6, seconds[level]), strict=True)]
            print(f"{name}\t{level}\t{sizes[level]}\t{statistics.median(seconds[level]):.3f}\t{statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
