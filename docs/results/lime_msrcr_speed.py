"""Old vs new solver of LIME and MSRCR, side by side on one real frame (issue 31, items 3 and 4).

Times ``lime_enhance(solver="superlu")`` against ``solver="cholesky"`` and
``msrcr(surround="direct")`` against ``surround="fft"`` in one process, in interleaved rounds
(old, new, new, old, ...), as CPU seconds of this process, and prints each round's ratio
new/old and their median: on a machine shared with other jobs only the ratios are meaningful.
It also compares the 8-bit outputs (``lldata.imageio.float_to_uint8``): LIME's must be
identical, MSRCR's within one grey level. Run from the repository root, one thread:

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE .venv/bin/python docs/results/lime_msrcr_speed.py \
        ../shared/data/darkface/image/252.png --size 1280x720 --rounds 3

The frame is resized (bilinear) to ``--size``; exit code 1 when an output check fails.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from enhancers.lime import lime_enhance
from enhancers.msrcr import msrcr
from lldata.imageio import float_to_uint8, read_rgb
from lowlight_common.sizes import parse_size


def cpu_seconds(call: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    start = time.process_time()
    out = call()
    return time.process_time() - start, out


def compare(name: str, old: Callable[[], np.ndarray], new: Callable[[], np.ndarray], rounds: int,
            max_grey: int) -> bool:
    """Interleaved timing and the 8-bit check; True when the outputs pass."""
    ratios, old_times, new_times = [], [], []
    old_out = new_out = None
    for r in range(rounds):
        order = [("old", old), ("new", new)] if r % 2 == 0 else [("new", new), ("old", old)]
        times = {}
        for label, call in order:
            times[label], out = cpu_seconds(call)
            if label == "old":
                old_out = out
            else:
                new_out = out
        old_times.append(times["old"])
        new_times.append(times["new"])
        ratios.append(times["new"] / times["old"])
        print(f"{name} round {r + 1}: old {times['old']:.2f} s, new {times['new']:.2f} s, "
              f"ratio {ratios[-1]:.3f}", flush=True)
    diff = np.abs(float_to_uint8(old_out).astype(np.int16) - float_to_uint8(new_out).astype(np.int16))
    ok = int(diff.max()) <= max_grey
    print(f"{name}: median ratio new/old {statistics.median(ratios):.3f} over {rounds} rounds "
          f"(CPU s: old median {statistics.median(old_times):.2f}, new median "
          f"{statistics.median(new_times):.2f}); 8-bit outputs: max difference {int(diff.max())} "
          f"grey level(s), {int((diff > 0).sum())} of {diff.size} values differ "
          f"({'OK' if ok else 'FAIL'}: allowed {max_grey})")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image", type=Path, help="a real frame, e.g. ../shared/data/darkface/image/252.png")
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT the frame is resized to")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--methods", nargs="+", choices=["lime", "msrcr"], default=["lime", "msrcr"])
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # OpenCV's own pool; the NumPy/SciPy BLAS follows OMP_NUM_THREADS
    width, height = parse_size(args.size)
    frame = read_rgb(args.image)
    frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)
    image = frame.astype(np.float32) / np.float32(255.0)
    print(f"{args.image} resized to {width}x{height}")
    ok = True
    if "lime" in args.methods:
        ok &= compare("lime", lambda: lime_enhance(image, solver="superlu")[0],
                      lambda: lime_enhance(image, solver="cholesky")[0], args.rounds, max_grey=0)
    if "msrcr" in args.methods:
        ok &= compare("msrcr", lambda: msrcr(image, surround="direct"),
                      lambda: msrcr(image, surround="fft"), args.rounds, max_grey=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
