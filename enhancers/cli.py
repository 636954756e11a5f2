"""``enhance``: list the methods or run one over files and folders.

    enhance --list [--json]
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
from lowlight_common.cli import add_version_flag
from lowlight_common.options import OptionError
from lowlight_common.options import parse_options as _parse_options


def parse_options(items: Sequence[str]) -> dict[str, Any]:
    """``--option KEY=VALUE`` items (VALUE as JSON or YAML: :mod:`lowlight_common.options`)."""
    try:
        return _parse_options(items)
    except OptionError as exc:
        raise OptionError(f"--option: {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="enhance",
        description="Low-light image enhancement with classical, learned and diffusion methods.",
    )
    add_version_flag(parser)
    parser.add_argument("--list", action="store_true", help="list the methods and exit")
    parser.add_argument("--json", action="store_true", help="with --list: print JSON")
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
    parser.add_argument("--manifest", help="write a completion manifest (files + sha256) when every input succeeded")
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
    if args.list:
        print(list_json() if args.json else list_table())
        return 0
    if not args.method:
        parser.error("give --method NAME (or --list)")
    if not args.output:
        parser.error("give an output folder with -o OUT_DIR")
    if not args.inputs:
        parser.error("give at least one input file or folder")
    # imported here, not at the top, so that --help and usage errors answer at once
    from enhancers.folder import collect_inputs, enhance_folder
    from enhancers.weights import WeightsError
    from lldata.manifest import filter_by_stems, write_manifest

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
        found = collect_inputs(args.inputs)
        if not found:  # "wrote 0/0 images" and exit 0 would hide a wrong folder
            raise FileNotFoundError(f"no image files in {', '.join(map(str, args.inputs))}")
        inputs = filter_by_stems(found, args.only_stems)
        result = enhance_folder(method, inputs, args.output, progress=not args.no_progress)
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
    if args.manifest:
        write_manifest(args.manifest, result.written, method=args.method, options=options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
