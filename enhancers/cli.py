"""``enhance``: list the methods or run one over files and folders.

    enhance --list [--format table|json|tsv] [--names]
    enhance --method NAME [--option KEY=VALUE ...] [--device auto] [--weights-dir DIR] \
        -o OUT_DIR INPUT...

Exit status: 0 when every input was written, 1 when some inputs failed (the others are still
written), 2 for usage errors or a method that cannot be created (e.g. missing weights).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from enhancers.registry import create_method, list_methods, method_info, method_options
from lowlight_common.cli import add_version_flag, setup_logging
from lowlight_common.options import OptionError
from lowlight_common.options import parse_options as _parse_options


def parse_options(items: Sequence[str]) -> dict[str, Any]:
    """``--option KEY=VALUE`` items (VALUE as JSON or YAML: :mod:`lowlight_common.options`)."""
    try:
        return _parse_options(items)
    except OptionError as exc:
        raise OptionError(f"--option: {exc}") from None


def _batch_size(value: str) -> int | str:
    if value == "auto":
        return value
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise argparse.ArgumentTypeError(f"a positive integer or 'auto', got {value!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="enhance",
        description="Low-light image enhancement with classical, learned and diffusion methods.",
    )
    add_version_flag(parser)
    parser.add_argument("--list", action="store_true", help="list the methods and exit")
    parser.add_argument(
        "--format",
        choices=("table", "json", "tsv"),
        default=None,
        help="with --list: table (default), json, or tsv (tab-separated, no header: "
        "name, family, needs GPU, deterministic, parameters, licence, options)",
    )
    parser.add_argument("--json", action="store_true", help="with --list: same as --format json")
    parser.add_argument(
        "--names", action="store_true", help="with --list: only the method names, one per line"
    )
    parser.add_argument("--method", "-m", help="method name (see --list)")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method option, repeatable; VALUE is JSON or YAML (e.g. clip_limit=3, sigmas=[15,80,250], denoise=false)",
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument(
        "--weights-dir", help="folder with released weights (default $LOWLIGHT_WEIGHTS)"
    )
    parser.add_argument("-o", "--output", help="output folder for <stem>.png files")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--only-stems", help="file of image stems to process (one shard of a workflow)")
    parser.add_argument("--images-from", help="file of image paths, one per line, added to the inputs (an images file of `lldata shard`)")
    parser.add_argument("--manifest", help="write a completion manifest (files + sha256) when every input succeeded")
    parser.add_argument(
        "--batch-size",
        default="auto",
        type=_batch_size,
        help="images of one size per forward for methods that batch (diffll); auto (default): "
        "1 on CPU, what fits the free memory on CUDA. Results do not depend on it",
    )
    parser.add_argument("inputs", nargs="*", help="image files and/or folders")
    return parser


def list_table() -> str:
    header = ("name", "family", "gpu", "det", "params", "licence", "options")
    rows = [header]
    for name in list_methods():
        info = method_info(name)
        opts = ", ".join(f"{k}={v}" for k, v in method_options(name).items())
        rows.append(
            (
                name,
                info.family,
                "yes" if info.needs_gpu else "no",
                "yes" if info.deterministic else "no",
                "-" if info.parameters is None else f"{info.parameters:,}",
                info.weights_licence or "-",
                opts or "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def list_tsv() -> str:
    """One method per line, tab-separated, no header: for scripts (``cut -f1`` gives names)."""
    lines = []
    for name in list_methods():
        info = method_info(name)
        opts = json.dumps(method_options(name), sort_keys=True, default=str)
        cells = (
            name,
            info.family,
            "yes" if info.needs_gpu else "no",
            "yes" if info.deterministic else "no",
            "" if info.parameters is None else str(info.parameters),
            info.weights_licence or "",
            opts,
        )
        lines.append("\t".join(cells))
    return "\n".join(lines)


def list_json() -> str:
    entries = []
    for name in list_methods():
        entry = asdict(method_info(name))
        entry["options"] = method_options(name)
        entries.append(entry)
    return json.dumps(entries, indent=2, default=str)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging()
    if args.list:
        if args.names:
            print("\n".join(list_methods()))
            return 0
        fmt = args.format or ("json" if args.json else "table")
        print({"json": list_json, "tsv": list_tsv, "table": list_table}[fmt]())
        return 0
    if args.names or args.format:
        parser.error("--names and --format go with --list")
    if not args.method:
        parser.error("give --method NAME (or --list)")
    if not args.output:
        parser.error("give an output folder with -o OUT_DIR")
    if not args.inputs and not args.images_from:
        parser.error("give at least one input file or folder (or --images-from FILE)")
    # imported here, not at the top, so that --help and usage errors answer at once
    from enhancers.folder import Journal, collect_inputs, enhance_folder, method_fingerprint
    from enhancers.weights import WeightsError
    from lldata.manifest import filter_by_stems, read_image_list, write_manifest

    try:
        options = parse_options(args.option)
        method = create_method(
            args.method, device=args.device, weights_dir=args.weights_dir, **options
        )
    except (
        ValueError,
        TypeError,
        WeightsError,
        FileNotFoundError,
        ImportError,
        RuntimeError,
    ) as exc:
        print(f"enhance: error: {exc}", file=sys.stderr)
        return 2
    try:
        found = collect_inputs(args.inputs) if args.inputs else []
        if args.inputs and not found:  # "wrote 0/0 images" and exit 0 would hide a wrong folder
            raise FileNotFoundError(f"no image files in {', '.join(map(str, args.inputs))}")
        if args.inputs and not any(p.exists() for p in found):  # every path given is wrong: nothing to do
            raise FileNotFoundError(f"no such file or folder: {', '.join(map(str, args.inputs))}")
        if args.images_from:  # a workflow shard: may be empty (more shards than images)
            listed = read_image_list(args.images_from)
            missing = [str(p) for p in listed if not p.is_file()]
            if missing:
                raise FileNotFoundError(f"{args.images_from}: listed image(s) not found: {', '.join(missing[:10])}")
            found = [*found, *listed]
        inputs = filter_by_stems(found, args.only_stems)
        # A job killed half way keeps what it finished: the journal beside the manifest lets
        # the rerun skip images that still verify (enhancers.folder.Journal).
        journal = (
            Journal(f"{args.manifest}.journal", method_fingerprint(method, args.weights_dir))
            if args.manifest
            else None
        )
        result = enhance_folder(
            method,
            inputs,
            args.output,
            progress=not args.no_progress,
            batch_size=args.batch_size,
            journal=journal,
        )
    except (ValueError, FileNotFoundError) as exc:  # e.g. two inputs with the same stem
        print(f"enhance: error: {exc}", file=sys.stderr)
        return 2
    total = len(result.written) + len(result.failed)
    print(
        f"{args.method}: wrote {len(result.written)}/{total} images to {args.output}",
        file=sys.stderr,
    )
    if result.failed:
        print(f"enhance: {len(result.failed)} input(s) failed:", file=sys.stderr)
        for path, message in result.failed:
            print(f"  {path}: {message}", file=sys.stderr)
        return 1
    if result.resumed:
        print(
            f"enhance: {len(result.resumed)} image(s) kept from an interrupted run (verified)",
            file=sys.stderr,
        )
    if args.manifest:
        from enhancers.weights import file_digests, method_weight_files

        weights = file_digests(method_weight_files(method.info.weights_files, args.weights_dir))
        # provenance: the options as given and as run (defaults filled in), the device and the
        # weights' sha256 (the report shows them and refuses to mix different ones under a label)
        write_manifest(args.manifest, result.written, method=args.method, options=options,
                       options_as_run=dict(method.info.options), device=str(method.device), weights=weights)
        if journal is not None:
            journal.remove()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
