"""How far the tiled path strays from the full-frame output, on real photos.

    python -m diffll.tile_check ../shared/data/darkface/image/*.png \\
        --checkpoint models/diffll-sice --tiles 256 512 --out docs/results/diffll_tiling_cpu.csv

Two ways of splitting a frame (``diffll enhance --tile-mode``):

* ``blend``: the whole network on overlapping tiles, blended. It cannot reproduce the full
  frame: every GroupNorm in the UNet normalises over the whole extent it is given and the
  UNet's self-attention attends over all positions of its input, so a tile sees other
  statistics and a smaller context than the frame.
* ``strips``: the HFRMs on row strips with enough context rows, the UNet on the whole low band
  with a fused attention kernel: the full-frame result up to float rounding.

For each image, mode and tile side this reports the PSNR and the largest absolute difference of the
tiled output against the full-frame output (both as the 8-bit PNGs the CLI would write), the
same start noise (seed) for both, and a seam ratio: the mean absolute difference on the rows
and columns where tiles meet, over the mean elsewhere (about 1 when no seam stands out; not
meaningful when the two outputs are nearly identical, as with strips, where a single pixel
one grey level off near a border can make it large).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from diffll.padding import padded_size
from diffll.tiling import tile_positions
from lowlight_common.metrics import psnr

__all__ = ["main", "seam_ratio"]

FIELDS = (
    "image", "width", "height", "mode", "tile", "overlap", "precision", "seed",
    "psnr_db", "max_abs_diff_u8", "seam_ratio", "full_s", "tiled_s",
)


def tile_borders(size: int, tile: int, overlap: int, align: int) -> list[int]:
    """Coordinates (padded frame) where one blended tile ends or the next starts."""
    starts = tile_positions(size, min(tile, size), overlap, align)
    lines = {s for s in starts[1:]} | {s + min(tile, size) for s in starts[:-1]}
    return sorted(lines)


def seam_ratio(diff: np.ndarray, rows: list[int], cols: list[int], band: int = 2) -> float:
    """Mean |diff| within ``band`` pixels of the tile borders over the mean elsewhere (HxW map)."""
    mask = np.zeros(diff.shape, dtype=bool)
    for r in rows:
        mask[max(r - band, 0) : r + band, :] = True
    for c in cols:
        mask[:, max(c - band, 0) : c + band] = True
    if not mask.any() or mask.all():
        return math.nan
    elsewhere = float(diff[~mask].mean())
    return float(diff[mask].mean()) / elsewhere if elsewhere > 0 else math.nan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m diffll.tile_check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--tiles", nargs="+", type=int, default=[256, 512])
    parser.add_argument("--modes", nargs="+", choices=("strips", "blend"), default=["strips", "blend"])
    parser.add_argument("--overlap", type=int, default=64, help="blended tiles' overlap")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from diffll.inference import load
    from lldata.imageio import ImageReadError, float_to_uint8, read_rgb

    full = load(args.checkpoint, device=args.device, precision=args.precision)
    rows_out: list[dict] = []
    failed = 0
    for path in args.images:
        try:
            rgb = read_rgb(path)
        except ImageReadError as exc:  # named, skipped; the other images still count
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0
        height, width = rgb.shape[:2]
        start = time.perf_counter()
        reference = float_to_uint8(full.enhance(x, seeds=[args.seed])[0].permute(1, 2, 0).numpy())
        full_s = time.perf_counter() - start
        for mode in args.modes:
            for tile in args.tiles:
                full.tile, full.tile_overlap, full.tile_mode = tile, args.overlap, mode
                start = time.perf_counter()
                tiled = float_to_uint8(full.enhance(x, seeds=[args.seed])[0].permute(1, 2, 0).numpy())
                tiled_s = time.perf_counter() - start
                full.tile = None
                align = full.config.pad_multiple
                ph, pw = padded_size(height, align), padded_size(width, align)
                abs_diff = np.abs(tiled.astype(np.int16) - reference.astype(np.int16))
                diff = abs_diff.mean(axis=2)
                if mode == "blend":
                    rows = [r for r in tile_borders(ph, tile, args.overlap, align) if r < height]
                    cols = [c for c in tile_borders(pw, tile, args.overlap, align) if c < width]
                else:
                    rows, cols = list(range(tile, height, tile)), []
                row = {
                    "image": path.name, "width": width, "height": height, "mode": mode,
                    "tile": tile, "overlap": args.overlap if mode == "blend" else "",
                    "precision": args.precision, "seed": args.seed,
                    "psnr_db": round(psnr(tiled, reference, peak=255.0), 2),
                    "max_abs_diff_u8": int(abs_diff.max()),
                    "seam_ratio": round(seam_ratio(diff, rows, cols), 3),
                    "full_s": round(full_s, 2), "tiled_s": round(tiled_s, 2),
                }
                rows_out.append(row)
                print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows_out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
