"""Command line of the training side: ``pairs``, ``pack-pairs``, ``train``, ``export``.

``diffll.cli`` adds these subcommands through :func:`add_parser`; this module also runs on its
own (``PYTHONPATH=. python -m diffll.train_cli train --config FILE``) on machines that have
torch but not this project installed. Exit status: 0 success, 1 failure while running, 2 bad
input (missing files, invalid config).
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lowlight_common.files import sha256_file

__all__ = ["add_parser", "main", "pack_pairs"]


def _err(message: str) -> None:
    print(f"diffll: error: {message}", file=sys.stderr)


# ---- pairs ------------------------------------------------------------------------------------


def _cmd_pairs(args: argparse.Namespace) -> int:
    from diffll.pairs import PairingParams, build_pair_list, write_pair_list

    try:
        params = PairingParams(val_fraction=args.val_fraction, seed=args.seed)
        record = build_pair_list(args.sice_dir, params)
    except (FileNotFoundError, ValueError) as exc:
        _err(str(exc))
        return 2
    write_pair_list(record, args.output)
    c = record["counts"]
    print(
        f"{c['frames']} frames -> {c['scenes']} scenes, {c['scenes_with_pairs']} with pairs; "
        f"{c['pairs']} pairs ({c['train_pairs']} train, {c['val_pairs']} val); wrote {args.output}"
    )
    return 0


# ---- pack-pairs -------------------------------------------------------------------------------


def pack_pairs(
    list_path: str | Path, out_dir: str | Path, size: int | None = 512, quality: int | None = None
) -> dict[str, Any]:
    """Copy (or re-encode) only the frames a pair list uses into ``out_dir/images`` and write
    ``out_dir/pairs.json`` pointing at them. JPEGs that need no resizing are copied byte for
    byte unless ``quality`` is given; everything else is encoded as JPEG (``quality`` or 95).
    Frames are resized, keeping the aspect ratio, only when the longer side exceeds ``size``.
    """
    from PIL import Image

    from diffll.pairs import read_pair_list, resolve_pair_paths, write_pair_list
    from lldata.imageio import image_size, read_rgb
    from lowlight_common.atomic import atomic_write

    list_path, out_dir = Path(list_path), Path(out_dir)
    record = read_pair_list(list_path)
    base = resolve_pair_paths(record, list_path)
    names = sorted({p[k] for p in record["pairs"] for k in ("low", "target")})
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    renamed: dict[str, str] = {}
    total = 0
    for name in names:
        src = base / name
        width, height = image_size(src)
        scale = 1.0 if size is None or max(width, height) <= size else size / max(width, height)
        is_jpeg = src.suffix.lower() in (".jpg", ".jpeg")
        dst_name = (Path(name).with_suffix(".jpg")).as_posix()
        if dst_name in renamed.values():
            raise ValueError(f"{list_path}: two frames map to {dst_name}")
        dst = images / dst_name
        if scale == 1.0 and is_jpeg and quality is None:
            with atomic_write(dst, "wb") as handle, src.open("rb") as source:
                shutil.copyfileobj(source, handle)
        else:
            image = Image.fromarray(read_rgb(src))
            if scale != 1.0:
                new = (max(1, round(width * scale)), max(1, round(height * scale)))
                image = image.resize(new, Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            image.save(buf, format="JPEG", quality=quality or 95, subsampling=0)
            with atomic_write(dst, "wb") as handle:
                handle.write(buf.getvalue())
        renamed[name] = dst_name
        total += dst.stat().st_size
    packed = dict(record)
    packed["root"] = "images"
    packed["pairs"] = [
        {**p, "low": renamed[p["low"]], "target": renamed[p["target"]]} for p in record["pairs"]
    ]
    packed["packed_from"] = {
        "pair_list": str(list_path),
        "pair_list_sha256": sha256_file(list_path),
        "root": str(base),
        "max_side": size,
        "jpeg_quality": quality,
        "files": len(names),
        "bytes": total,
    }
    packed.pop("frames", None)  # per-frame stats stay with the original list
    write_pair_list(packed, out_dir / "pairs.json")
    return packed["packed_from"]


def _cmd_pack(args: argparse.Namespace) -> int:
    try:
        info = pack_pairs(args.pair_list, args.out_dir, args.size, args.quality)
    except (FileNotFoundError, ValueError, OSError) as exc:
        _err(str(exc))
        return 2
    print(
        f"packed {info['files']} frames ({info['bytes'] / 2**20:.1f} MiB) into "
        f"{Path(args.out_dir) / 'images'}; pair list {Path(args.out_dir) / 'pairs.json'}"
    )
    return 0


# ---- pairs-to-dataset -------------------------------------------------------------------------


def pairs_to_dataset(list_path: str | Path, out_dir: str | Path, split: str) -> int:
    """Write one split of a pair list as a ``paired`` dataset (``low/`` + ``high/``, PNG).

    Stems are ``<scene>_<low frame>`` so that several inputs of one scene keep their own name;
    the target is repeated under each stem. This is how the evaluation workflow scores methods
    on the validation scenes with the same code as any LOL-style set.
    """
    from diffll.pairs import dataset_stem, read_pair_list, resolve_pair_paths
    from lldata.datasets import write_paired_item
    from lldata.imageio import read_rgb

    record = read_pair_list(list_path)
    root = resolve_pair_paths(record, list_path)
    chosen = [(k, p) for k, p in enumerate(record["pairs"]) if p["split"] == split]
    if not chosen:
        raise ValueError(f"{list_path}: no pairs in split {split!r}")
    # Every name is checked before anything is written (no half-written set, no overwrites).
    stems: dict[str, int] = {}
    for k, pair in chosen:
        stem = dataset_stem(pair, list_path, k)
        if stem in stems:
            raise ValueError(f"{list_path}: pairs {stems[stem]} and {k} both become '{stem}' (same scene and low-frame stem)")
        stems[stem] = k
    for stem, k in stems.items():
        pair = record["pairs"][k]
        write_paired_item(out_dir, stem, read_rgb(root / pair["low"]), read_rgb(root / pair["target"]))
    return len(chosen)


def _cmd_pairs_to_dataset(args: argparse.Namespace) -> int:
    try:
        count = pairs_to_dataset(args.pair_list, args.out_dir, args.split)
    except (FileNotFoundError, ValueError, OSError) as exc:
        _err(str(exc))
        return 2
    print(f"wrote {count} {args.split} pairs to {args.out_dir} (low/ + high/)")
    return 0


# ---- train ------------------------------------------------------------------------------------


def _cmd_train(args: argparse.Namespace) -> int:
    started = time.monotonic()  # the time budget covers start-up (imports, data, resume) too
    from diffll.training.config import load_train_config
    from diffll.training.trainer import Trainer

    try:
        cfg = load_train_config(args.config, args.set)
        out = Path(args.out) if args.out else Path("results") / "train" / Path(args.config).stem
        trainer = Trainer(cfg, out, device=args.device)
        resumed = trainer.resume(args.resume) if args.resume else False
        if args.init_weights and not resumed:
            trainer.init_weights(args.init_weights)
    except (FileNotFoundError, ValueError, RuntimeError, ImportError) as exc:
        _err(str(exc))
        return 2
    summary = trainer.fit(max_steps=args.max_steps, max_minutes=args.max_minutes, started=started)
    print(json.dumps({k: summary[k] for k in ("status", "reason", "step", "best")}))
    return 0


# ---- export -----------------------------------------------------------------------------------


def _cmd_export(args: argparse.Namespace) -> int:
    from diffll.export import export_training_checkpoint
    from diffll.training.state import find_latest_checkpoint

    source = Path(args.checkpoint)
    if source.is_dir():  # a run directory: best.pt if present, else the newest step checkpoint
        best = source / "checkpoints" / "best.pt"
        found = best if best.is_file() else find_latest_checkpoint(source)
        if found is None:
            _err(f"{source}: no checkpoints/best.pt or checkpoints/step-*.pt in this run directory")
            return 2
        source = found
    try:
        out = export_training_checkpoint(source, args.out_dir, dtype=args.dtype, weights=args.weights)
    except (FileNotFoundError, ValueError) as exc:
        _err(str(exc))
        return 2
    size = (out / "model.safetensors").stat().st_size
    print(f"exported {args.weights} weights of {source} to {out} ({size / 2**20:.1f} MiB, {args.dtype})")
    return 0


# ---- wiring -----------------------------------------------------------------------------------


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``pairs``, ``pack-pairs``, ``train`` and ``export`` to a ``diffll`` parser."""
    p = subparsers.add_parser("pairs", help="find scenes in SICE-style exposure sequences; write a pair list")
    p.add_argument("sice_dir", help="folder of numbered frames (e.g. ../shared/data/sice)")
    p.add_argument("-o", "--output", required=True, help="pair list to write (JSON)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of scene groups held out")
    p.add_argument("--seed", type=int, default=0, help="seed of the train/val split")
    p.set_defaults(func=_cmd_pairs)

    p = subparsers.add_parser("pack-pairs", help="copy the frames a pair list uses into one folder")
    p.add_argument("pair_list")
    p.add_argument("out_dir")
    p.add_argument("--size", type=int, default=512, help="max longer side (larger frames are resized)")
    p.add_argument("--quality", type=int, default=None,
                   help="re-encode every frame as JPEG at this quality (default: copy JPEGs as they are)")
    p.set_defaults(func=_cmd_pack)

    p = subparsers.add_parser("pairs-to-dataset", help="write one split of a pair list as a paired dataset")
    p.add_argument("pair_list")
    p.add_argument("out_dir")
    p.add_argument("--split", default="val")
    p.set_defaults(func=_cmd_pairs_to_dataset)

    p = subparsers.add_parser("train", help="train DiffLL (Algorithm 1) with exact resume")
    p.add_argument("--config", required=True, help="training YAML (see config/train/)")
    p.add_argument("--resume", default=None, help="'auto' (newest checkpoint of --out) or a checkpoint path")
    p.add_argument("--init-weights", help="exported model to start from when there is nothing to resume (fresh optimiser)")
    p.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget; stops after saving")
    p.add_argument("--max-steps", type=int, default=None, help="override run.max_steps")
    p.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (default: the config's)")
    p.add_argument("--out", default=None, help="run directory (default results/train/<config name>)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config key (value parsed as YAML); repeatable")
    p.set_defaults(func=_cmd_train)

    p = subparsers.add_parser("export", help="export EMA weights of a training checkpoint (fp16 safetensors)")
    p.add_argument("checkpoint", help="a training checkpoint .pt or a run directory (uses best.pt)")
    p.add_argument("out_dir", help="inference checkpoint directory to write")
    p.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    p.add_argument("--weights", default="ema", choices=["ema", "model"])
    p.set_defaults(func=_cmd_export)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="diffll", description="DiffLL training tools")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
