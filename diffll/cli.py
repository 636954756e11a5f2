"""``diffll`` command line: enhance images, convert the authors' checkpoint (and train, see hook).

    diffll enhance INPUT... -o OUT --checkpoint CKPT [--steps S] [--seed N] [--device auto]
                   [--precision fp32|bf16] [--tile N|auto] [--tile-mode strips|blend]
                   [--tile-overlap P] [--batch-size N|auto] [--no-fused]
    diffll convert-official model.pth.tar OUT_DIR

Outputs are PNGs named after the input stem. Each image's start noise comes from a seed derived
from ``--seed`` and the input's file name, so the result of one image does not depend on which
other images share its batch or run. A file that cannot be read or written is reported on
stderr and the rest go on; the exit code is 1 if any failed.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from lowlight_common.cli import add_version_flag, run_command, setup_logging

__all__ = ["add_train_parser", "build_parser", "collect_inputs", "image_seed", "main"]

CHECKPOINT_ENV = "DIFFLL_CHECKPOINT"
logger = logging.getLogger("diffll")


def image_seed(seed: int, name: str) -> int:
    """63-bit seed from the run seed and a file name (stable across runs and platforms)."""
    digest = hashlib.sha256(f"{int(seed)}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def collect_inputs(inputs: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Files given directly plus image files directly inside given folders (sorted, not recursive).

    Returns ``(files, problems)``; a missing path is a problem, not a crash.
    """
    from lldata.imageio import is_image_file

    files: list[Path] = []
    problems: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and is_image_file(p))
            if not found:
                problems.append(f"{path}: folder holds no image files")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            problems.append(f"{path}: no such file or folder")
    return files, problems


def _tile_arg(value: str) -> int | str:
    if value == "auto":
        return value
    if value == "none":
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--tile takes an integer, 'auto' or 'none', got {value!r}"
        ) from None


def _batch_arg(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"--batch-size takes a positive integer or 'auto', got {value!r}")
    return n


def add_train_parser(subparsers: argparse._SubParsersAction) -> None:
    """Hook for the training helper: ``diffll.train_cli.add_parser(subparsers)`` if it exists."""
    try:
        train_cli = importlib.import_module("diffll.train_cli")
    except ModuleNotFoundError as exc:
        if exc.name != "diffll.train_cli":
            raise
        return
    train_cli.add_parser(subparsers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="diffll", description=__doc__.split("\n\n")[0])
    add_version_flag(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    enh = sub.add_parser("enhance", help="enhance low-light images with a DiffLL checkpoint")
    enh.add_argument("inputs", nargs="+", help="image files and/or folders of images")
    enh.add_argument("-o", "--output", required=True, help="output folder for the PNGs")
    enh.add_argument(
        "--checkpoint",
        default=None,
        help=f"checkpoint directory or .safetensors (default: ${CHECKPOINT_ENV}, else the "
        "project's shipped model models/diffll-sice)",
    )
    enh.add_argument("--steps", type=int, default=None, help="DDIM steps (default: checkpoint's)")
    enh.add_argument(
        "--seed", type=int, default=0, help="run seed (per-image seeds derive from it)"
    )
    enh.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    enh.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    enh.add_argument(
        "--tile",
        type=_tile_arg,
        default="auto",
        help="split large frames: rows per strip / tile side (multiple of 32); auto (default) "
        "splits only frames over the memory budget; none never splits",
    )
    enh.add_argument(
        "--tile-mode",
        choices=("strips", "blend"),
        default="strips",
        help="strips: full-frame result, HFRMs on row strips, UNet on the whole low band "
        "(default); blend: overlapping tiles of the whole network, memory bounded for any "
        "size but the output departs from the full frame's",
    )
    enh.add_argument(
        "--tile-overlap", type=int, default=64, help="minimum overlap of blended tiles in pixels"
    )
    enh.add_argument(
        "--batch-size",
        "--batch",
        dest="batch_size",
        type=_batch_arg,
        default="auto",
        help="images of one padded size per forward, or auto (default: 1 on CPU, as many as "
        "fit 80%% of the free memory on CUDA, at most 16); an image's bytes do not depend on it",
    )
    enh.add_argument("--compile", action="store_true", help="torch.compile the networks")
    enh.add_argument("--fused", action=argparse.BooleanOptionalAction, default=True,
                     help="CPU bf16 only: the fused kernels of diffll.fused (default); --no-fused keeps the "
                     "earlier bf16 operation order, other bytes")
    enh.set_defaults(func=_cmd_enhance)

    conv = sub.add_parser(
        "convert-official", help="convert the authors' model.pth.tar to the project format"
    )
    conv.add_argument(
        "checkpoint", help="the authors' model.pth.tar (a pickle: trusted files only)"
    )
    conv.add_argument("out_dir", help="output checkpoint directory")
    conv.add_argument("--no-ema", action="store_true", help="use state_dict instead of ema_helper")
    conv.set_defaults(func=_cmd_convert)

    # ---- training: the subcommand is defined in diffll/train_cli.py (separate helper) ----
    add_train_parser(sub)
    return parser


def _read_groups(
    files: list[Path], key: Callable[[int, int], object], limit: Callable[[int, int], int],
    errors: list[str],
) -> Iterator[tuple[list[Path], list[np.ndarray]]]:
    """Read images in order and yield batches of one padded size (``key``), each of at most
    ``limit(h, w)`` images; an unreadable file yields an empty batch (the caller's progress)."""
    from lldata.imageio import ImageReadError, read_rgb

    pending: dict[object, tuple[list[Path], list[np.ndarray]]] = {}
    for path in files:
        try:
            image = read_rgb(path)
        except ImageReadError as exc:
            errors.append(str(exc))
            yield [], []
            continue
        k = key(image.shape[0], image.shape[1])
        paths, images = pending.setdefault(k, ([], []))
        paths.append(path)
        images.append(image)
        if len(images) >= limit(image.shape[0], image.shape[1]):
            yield pending.pop(k)
    for k in list(pending):
        yield pending.pop(k)


def _cmd_enhance(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from diffll.checkpoint import CheckpointError
    from diffll.inference import FrameTooLargeError, load
    from diffll.shipped import resolve_checkpoint
    from lldata.imageio import float_to_uint8, write_png

    files, errors = collect_inputs(args.inputs)
    if not files:  # nothing to enhance: the paths given are wrong (exit 2, before loading a model)
        for message in errors:
            print(f"diffll: error: {message}", file=sys.stderr)
        return 2
    out_dir = Path(args.output)

    # Two inputs with one stem would overwrite each other's output: refuse the later ones.
    seen: dict[str, Path] = {}
    unique: list[Path] = []
    for path in files:
        if path.stem in seen:
            errors.append(f"{path}: output name {path.stem}.png already taken by {seen[path.stem]}")
        else:
            seen[path.stem] = path
            unique.append(path)

    try:
        checkpoint = resolve_checkpoint(args.checkpoint)
        logger.info(checkpoint.describe())
        enhancer = load(
            checkpoint.path,
            device=args.device,
            precision=args.precision,
            tile=args.tile,
            compile=args.compile,
            fused=args.fused,
            steps=args.steps,
            tile_overlap=args.tile_overlap,
            tile_mode=args.tile_mode,
        )
    except (CheckpointError, ValueError, RuntimeError, FileNotFoundError) as exc:
        print(f"diffll: error: {exc}", file=sys.stderr)
        return 2

    def limit(height: int, width: int) -> int:
        return enhancer.max_batch(height, width, args.batch_size)

    n_done = 0
    n_reported = 0
    with tqdm(total=len(unique), unit="img", desc="diffll enhance", file=sys.stderr) as bar:

        def report_new_errors() -> None:
            nonlocal n_reported
            for message in errors[n_reported:]:
                bar.write(f"diffll: error: {message}", file=sys.stderr)
            n_reported = len(errors)

        report_new_errors()
        for paths, images in _read_groups(unique, enhancer.batch_key, limit, errors):
            report_new_errors()
            if not paths:
                bar.update(1)
                continue
            tensors = [torch.from_numpy(im).permute(2, 0, 1).float() / 255.0 for im in images]
            seeds = [image_seed(args.seed, p.name) for p in paths]
            try:
                outs = enhancer.enhance_images(tensors, seeds)
            except (RuntimeError, ValueError, FrameTooLargeError) as exc:  # the rest go on
                errors.extend(f"{p}: enhancement failed ({exc})" for p in paths)
                bar.update(len(paths))
                continue
            for path, out in zip(paths, outs, strict=True):
                try:
                    write_png(out_dir / f"{path.stem}.png", float_to_uint8(out.permute(1, 2, 0).numpy()))
                    n_done += 1
                except OSError as exc:
                    errors.append(f"{path}: cannot write output ({exc})")
                except ValueError as exc:  # a non-finite output: no black image written
                    errors.append(f"{path}: enhancement failed ({exc})")
            bar.update(len(paths))
        report_new_errors()
    print(f"diffll: wrote {n_done} image(s) to {out_dir}, {len(errors)} failed", file=sys.stderr)
    return 1 if errors else 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from diffll.checkpoint import CheckpointError, convert_official

    try:
        out = convert_official(args.checkpoint, args.out_dir, prefer_ema=not args.no_ema)
    except CheckpointError as exc:
        print(f"diffll: error: {exc}", file=sys.stderr)
        return 2
    print(f"diffll: wrote {out}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    return run_command("diffll", args.func, args)


if __name__ == "__main__":
    sys.exit(main())
