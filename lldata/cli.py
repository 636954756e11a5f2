"""``lldata``: validate datasets, build the demo dataset, darken images.

    lldata validate PATH --kind darkface|paired|unpaired|module:NAME [--clip-boxes] [--report FILE]
    lldata demo OUT_DIR [--config config.yaml] [--seed N] [--num-images N]
    lldata darken INPUT... -o OUT_DIR [--seed N] [--exposure F] ...
    lldata import-imglab XML... -o OUT_DIR
    lldata shard results/demo/dataset.json --shards 4 -o results/demo/shards
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from lldata.datasets import KINDS, read_summary, validate_dataset
from lldata.demo import DemoConfig, build_demo
from lldata.imageio import IMAGE_SUFFIXES, ImageReadError, is_image_file, read_rgb, write_png
from lldata.kinds import get_kind
from lldata.synthesis import DarkenParams, darken
from lowlight_common.atomic import atomic_write
from lowlight_common.cli import add_version_flag, run_command, setup_logging

logger = logging.getLogger(__name__)


def _load_yaml_section(path: str | None, section: str) -> dict:
    if path is None:
        return {}
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ValueError(f"cannot read config {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    value = data.get(section, {}) if isinstance(data, dict) else None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: '{section}' must be a mapping")
    return value


def cmd_validate(args: argparse.Namespace) -> int:
    dataset = validate_dataset(args.path, args.kind, clip_boxes=args.clip_boxes)
    errors = [i for i in dataset.issues if i.severity == "error"]
    for issue in dataset.issues:
        logger.log(logging.ERROR if issue.severity == "error" else logging.WARNING, "%s", issue)
    if not Path(args.path).is_dir():  # nothing to judge: the path given is wrong (exit 2, not 1)
        return 2
    summary = {
        "root": str(Path(args.path).resolve()),
        "kind": args.kind,
        "has_boxes": get_kind(args.kind).has_boxes,  # what the workflow and the report read
        "images": len(dataset),
        "faces": dataset.num_faces,
        "has_references": dataset.has_references,
        "errors": len(errors),
        "warnings": len(dataset.issues) - len(errors),
        "items": [
            {
                "stem": item.stem,
                "image": str(item.image),
                "width": item.width,
                "height": item.height,
                **({"boxes": np.asarray(item.boxes).astype(float).tolist()} if item.boxes is not None else {}),
                **({"reference": str(item.reference)} if item.reference is not None else {}),
            }
            for item in dataset.items
        ],
        "issues": [str(i) for i in dataset.issues],
    }
    print(
        f"{args.path}: {args.kind}, {len(dataset)} image(s), {dataset.num_faces} face(s), "
        f"{len(errors)} error(s), {summary['warnings']} warning(s)"
    )
    if args.report and not errors:
        with atomic_write(args.report, "w", encoding="utf-8") as handle:
            json.dump(summary, handle, indent=1)
            handle.write("\n")
    return 1 if errors else 0


def cmd_demo(args: argparse.Namespace) -> int:
    values = _load_yaml_section(args.config, "demo")
    if args.options_json:
        try:
            values.update(json.loads(args.options_json))
        except json.JSONDecodeError as exc:
            raise ValueError(f"--options-json is not valid JSON: {exc}") from None
    if args.seed is not None:
        values["seed"] = args.seed
    if args.num_images is not None:
        values["num_images"] = args.num_images
    try:
        config = DemoConfig.from_dict(values)
    except (TypeError, ValueError) as exc:
        where = f" ({args.config})" if args.config else ""
        raise ValueError(f"bad demo config{where}: {exc}") from None
    out = build_demo(args.out_dir, config)  # DemoFolderError (foreign files in the folder): exit 2
    print(f"demo dataset written to {out} ({config.num_images} images, seed {config.seed})")
    return 0


def cmd_darken(args: argparse.Namespace) -> int:
    values = _load_yaml_section(args.config, "darken")
    for key in ("exposure", "photons_at_white", "read_noise", "jpeg_quality"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    if args.colour_cast is not None:
        values["colour_cast"] = args.colour_cast
    params = DarkenParams.from_dict(values)
    if not any(Path(item).exists() for item in args.inputs):
        raise FileNotFoundError(2, "no such file or folder", ", ".join(args.inputs))
    inputs: list[Path] = []
    for item in args.inputs:
        path = Path(item)
        inputs.extend(sorted(p for p in path.iterdir() if is_image_file(p)) if path.is_dir() else [path])
    if not inputs:
        # Zero images darkened is never what was meant (a wrong folder, or the wrong level of it).
        raise ValueError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(args.inputs)}")
    failures = 0
    for path in inputs:
        try:
            image = read_rgb(path)
        except ImageReadError as exc:
            logger.error("error: %s", exc)
            failures += 1
            continue
        # One stream per file name so adding files never changes the others' noise.
        rng = np.random.default_rng([args.seed, *path.stem.encode()])
        write_png(Path(args.out_dir) / f"{path.stem}.png", darken(image, params, rng))
    print(f"darkened {len(inputs) - failures} image(s) into {args.out_dir}")
    return 1 if failures else 0


def cmd_import_imglab(args: argparse.Namespace) -> int:
    from lldata.imglab import import_imglab

    count = import_imglab(args.xml, args.out_dir)
    print(f"imported {count} image(s) into {args.out_dir} (DARK FACE layout)")
    return 0


def cmd_shard(args: argparse.Namespace) -> int:
    from lldata.manifest import shard_stems, write_stems

    items = read_summary(args.dataset)["items"]
    stems = [item["stem"] for item in items]
    images = {item["stem"]: item.get("image") for item in items}
    for stem in stems:  # checked before any file is written: no partial set of shards
        if not isinstance(stem, str) or not stem or "\n" in stem:
            raise ValueError(f"{args.dataset}: stem {stem!r} cannot go into a stems file")
        try:
            stem.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                f"{args.dataset}: stem {ascii(stem)} is not valid UTF-8 (validate the dataset again)"
            ) from None
    for stem, image in images.items():  # one path a line, UTF-8 (what `enhance --images-from` reads)
        if not isinstance(image, str) or not image or "\n" in image or "\r" in image or not image.encode("utf-8", "replace").decode() == image:
            raise ValueError(f"{args.dataset}: item {stem!r}: image path {image!r} cannot go into an images file")
    shards = shard_stems(stems, args.shards)
    for index, part in enumerate(shards):
        write_stems(Path(args.out_dir) / f"{index}.images", [images[s] for s in part])  # what enhancement reads
        write_stems(Path(args.out_dir) / f"{index}.stems", part)
    print(f"{len(stems)} image(s) in {args.shards} shard(s) under {args.out_dir}")
    if args.remove_stale:
        removed = remove_stale_outputs(Path(args.remove_stale), set(stems))
        for path in removed:
            logger.info("removed %s: its image is no longer in the dataset", path)
        print(f"removed {len(removed)} output(s) of images no longer in the dataset under {args.remove_stale}")
    return 0


# Per-image outputs of the workflow under a dataset's results folder: enhanced images and
# prediction files (method/images/STEM.png, method/detector/predictions/STEM.txt).
STALE_PATTERNS = ("*/images/*.png", "*/*/predictions/*.txt")


def remove_stale_outputs(results: Path, stems: set[str]) -> list[Path]:
    """Remove the per-image outputs whose stem is no longer in the dataset (an image removed
    from a user's dataset): no job lists them, so nothing else would ever delete them, and a
    folder of outputs should hold the dataset's images and nothing else."""
    removed = []
    for pattern in STALE_PATTERNS:
        for path in sorted(results.glob(pattern)):
            if path.stem not in stems and path.is_file():
                path.unlink()
                removed.append(path)
    return removed


def _kind(name: str) -> str:
    """A registered kind or an importable ``module:NAME`` record (argparse turns the
    ValueError into a usage error, exit 2)."""
    try:
        get_kind(name)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return name


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lldata", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_version_flag(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check a dataset and list every problem")
    p.add_argument("path")
    p.add_argument("--kind", type=_kind, required=True, help=f"{', '.join(KINDS)}, or module:NAME (an lldata.kinds.DatasetKind)")
    p.add_argument("--clip-boxes", action="store_true", help="clip boxes reaching outside the image (reported as warnings)")
    p.add_argument("--report", help="write a JSON summary (items, sizes, boxes) when the dataset is valid")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("demo", help="build the built-in demo dataset")
    p.add_argument("out_dir")
    p.add_argument("--config", help="YAML file with a 'demo' section")
    p.add_argument("--options-json", help="demo options as a JSON object (overrides --config)")
    p.add_argument("--seed", type=int)
    p.add_argument("--num-images", type=int)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("darken", help="synthesise low-light versions of images")
    p.add_argument("inputs", nargs="+")
    p.add_argument("-o", "--out-dir", required=True)
    p.add_argument("--config", help="YAML file with a 'darken' section")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--exposure", type=float)
    p.add_argument("--photons-at-white", dest="photons_at_white", type=float)
    p.add_argument("--read-noise", dest="read_noise", type=float)
    p.add_argument("--colour-cast", dest="colour_cast", type=float, nargs=3)
    p.add_argument("--jpeg-quality", dest="jpeg_quality", type=int)
    p.set_defaults(func=cmd_darken)

    p = sub.add_parser("shard", help="split a validated dataset into N shards: N.images (image paths) and N.stems files (for parallel jobs)")
    p.add_argument("dataset", help="dataset.json from `lldata validate --report`")
    p.add_argument("--shards", type=int, required=True)
    p.add_argument("-o", "--out-dir", required=True)
    p.add_argument("--remove-stale", metavar="RESULTS",
                   help="the dataset's results folder: remove enhanced images (*/images/*.png) and prediction files "
                        "(*/*/predictions/*.txt) of stems no longer in the dataset")
    p.set_defaults(func=cmd_shard)

    p = sub.add_parser("import-imglab", help="convert dlib imglab XML face boxes to DARK FACE layout")
    p.add_argument("xml", nargs="+")
    p.add_argument("-o", "--out-dir", required=True)
    p.set_defaults(func=cmd_import_imglab)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    return run_command("lldata", args.func, args)


if __name__ == "__main__":
    sys.exit(main())
