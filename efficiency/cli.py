"""``efficiency``: time and peak memory per method x resolution x device.

    efficiency run --methods raw clahe zero_dce --resolutions 600x400 1280x720 --device cpu -o cpu.csv
    efficiency run --detectors retinaface dsfd --resolutions 1080x720 --image photo.png -o det.csv
    efficiency run --interleave --rounds 5 --threads 1 --methods ... -o cpu.csv   # side by side, ratios to a reference
    efficiency run --diffll-modes fp32 bf16 bf16-compile --batch-sizes 1 4 --resolutions 600x400 -o diffll.csv
                                                 # DiffLL's modes against its fp32 path: speed, memory, PSNR
    efficiency run --interleave --diffusion-baselines diffll_k2 diffll_k2_bf16 diffll_k1 diffll_k3 pixel_ddim weatherdiff -o d.csv
                                                 # DiffLL against pixel-space diffusion and its wavelet depth
                                                 # (timing only, random weights; FLOPs, projections)
    efficiency compare first.csv second.csv      # do two runs agree within 15% (cells > 50 ms)?
                                                 # (on the ratios when both runs are interleaved)
"""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from efficiency.benchmark import run_benchmark
from efficiency.runner import BenchmarkSettings, write_csv
from efficiency.scaling import (
    compare_ratios,
    compare_runs,
    has_ratios,
    scaling_table,
    status_changes,
)
from lowlight_common.cli import add_version_flag, run_command
from lowlight_common.sizes import parse_size


def detector_labels(detectors: list[str], options: dict, random_weights_if_absent: bool) -> None:
    """Mark each ``--detectors`` label as a detector in ``options`` (in place); with
    ``random_weights_if_absent`` a detector whose checkpoint is absent is timed on seeded random
    weights (the CSV's ``weights`` says so). A label whose options say another kind is an error."""
    for name in detectors:
        label = options.setdefault(name, {})
        if not isinstance(label, dict):
            raise ValueError(f"--options-json: the options of {name!r} must be an object, not {label!r}")
        if label.setdefault("kind", "detector") != "detector":
            raise ValueError(f"--detectors {name}: its --options-json says kind {label['kind']!r}")
        if random_weights_if_absent:
            label.setdefault("random_weights_if_absent", True)


def _known_label(label: str, options: dict) -> bool:
    """A label names something the worker can build: a ``module:Class`` plug-in, or a method
    (detector) of the registry, directly or through its options' ``method``."""
    opts = options.get(label, {})
    name = str(opts.get("method", label))
    if ":" in name:
        return True
    if opts.get("kind", "enhancer") == "detector":
        from detectors.registry import list_detectors

        return name in list_detectors()
    from enhancers import list_methods

    return name in list_methods()


def check_run_arguments(args: argparse.Namespace, labels: list[str], options: dict, reference: str | None) -> None:
    """Settings that cannot work are usage errors (exit 2) before anything runs."""
    for flag, value, lowest in (("--rounds", args.rounds, 1), ("--repeats", args.repeats, 1), ("--warmup", args.warmup, 0),
                                ("--threads", args.threads, 0)):
        if value is not None and value < lowest:
            raise ValueError(f"{flag} must be >= {lowest}, got {value}")
    for flag, value in (("--budget", args.budget), ("--timeout", args.timeout), ("--memory-budget-mb", args.memory_budget_mb),
                        ("--deadline", args.deadline)):
        if value is not None and not value > 0:
            raise ValueError(f"{flag} must be > 0, got {value}")
    if args.min_time < 0:
        raise ValueError(f"--min-time must be >= 0, got {args.min_time}")
    unknown = [label for label in labels if not _known_label(label, options)]
    if unknown:
        raise ValueError(f"unknown method or detector label(s): {', '.join(unknown)} (see `enhance --list`, or give "
                         "--options-json '{\"LABEL\": {\"method\": NAME, ...}}')")
    if reference and reference not in labels:
        raise ValueError(f"--reference {reference!r} is not among the benchmarked labels: {', '.join(labels)}")


def cmd_run(args: argparse.Namespace) -> int:
    try:
        resolutions = tuple(parse_size(r) for r in args.resolutions) if args.resolutions else None
        options = json.loads(args.options_json) if args.options_json else {}
        if not isinstance(options, dict):
            raise ValueError(f"--options-json must be an object of label: options, not {args.options_json!r}")
        reference, psnr_reference = args.reference or None, args.psnr_against or None
        diffll = []
        if args.diffll_modes:
            from efficiency.diffll_modes import REFERENCE_LABEL, diffll_labels

            modes = diffll_labels(args.diffll_modes, args.batch_sizes, options.get("diffll"))
            taken = sorted(set(modes) & (set(args.methods) | set(args.detectors)))
            if taken:
                raise ValueError(f"label(s) {', '.join(taken)} given with --methods/--detectors and made by --diffll-modes")
            options.update(modes)
            diffll = list(modes)
            psnr_reference = psnr_reference or REFERENCE_LABEL
            reference = reference or (REFERENCE_LABEL if args.interleave else None)
        elif args.batch_sizes != [1]:
            raise ValueError("--batch-sizes goes with --diffll-modes (other labels: a batch_size option in --options-json)")
        baselines = []
        if args.diffusion_baselines:
            from efficiency.diffusion_labels import DEFAULT_REFERENCE, diffusion_labels

            made = diffusion_labels(args.diffusion_baselines)
            taken = sorted(set(made) & (set(args.methods) | set(args.detectors) | set(diffll)))
            if taken:
                raise ValueError(f"label(s) {', '.join(taken)} given twice (--diffusion-baselines and another option)")
            options.update(made)
            baselines = list(made)
            if args.interleave and not reference and DEFAULT_REFERENCE in made:
                reference = DEFAULT_REFERENCE
        labels = list(args.methods) + diffll + baselines + list(args.detectors)
        if not labels:
            raise ValueError("nothing to measure: give --methods, --diffll-modes and/or --detectors")
        both = sorted(set(args.methods) & set(args.detectors))
        if both:
            raise ValueError(f"label(s) {', '.join(both)} given to both --methods and --detectors")
        detector_labels(args.detectors, options, args.random_weights_if_absent)
        if args.image:
            from efficiency.worker import photo_frame

            photo_frame(args.image, 8, 8)  # an unreadable photo is a usage error now, not one per cell
        check_run_arguments(args, labels, options, reference)
    except (ValueError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = BenchmarkSettings(device=args.device, warmup=args.warmup, repeats=args.repeats, rounds=args.rounds, budget_s=args.budget,
                                 timeout_s=args.timeout, threads=args.threads or None, min_time_s=args.min_time, interleave=args.interleave,
                                 reference=reference, pairing=args.pairing, seed=args.seed, method_options=options,
                                 psnr_reference=psnr_reference, memory_budget_mb=args.memory_budget_mb, deadline_s=args.deadline,
                                 image_path=str(args.image) if args.image else None)
    if resolutions:
        settings.resolutions = resolutions
    if settings.device == "auto":
        import torch

        settings.device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        frame = run_benchmark(labels, settings, progress=lambda m: print(m, file=sys.stderr, flush=True), partial_csv=args.output)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_csv(frame, args.output)
    shown = frame[["method", "width", "height", "status", "median_s", "peak_mem_mb"] + (["ratio", "ratio_low", "ratio_high"] if settings.interleave else [])
                  + (["psnr_db"] if psnr_reference else [])]
    print(shown.to_string(index=False))
    print(scaling_table(frame).to_string(index=False))
    return 0


def _summary(table: pd.DataFrame, what: str, args: argparse.Namespace) -> str:
    unstable = table[~table["stable"]]
    line = (f"{what}: {int(table['checked'].sum())} cell(s) over {args.min_seconds * 1000:.0f} ms checked, "
            f"{int(table['checked'].sum()) - len(unstable)} agree within {args.tolerance:.0%}, {len(unstable)} do not")
    if len(unstable):
        worst = unstable.sort_values("relative_difference", ascending=False).head(3)
        line += "; largest: " + ", ".join(f"{r.method} {r.width}x{r.height} {r.relative_difference:.0%}" for r in worst.itertuples())
    return line


RUN_COLUMNS = ("method", "width", "height", "status", "median_s")


def read_run(path: str) -> pd.DataFrame:
    """A CSV of ``efficiency run``; a file that is not one is an error naming it (exit 2)."""
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a CSV of `efficiency run` ({exc})") from None
    missing = [c for c in RUN_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: not a CSV of `efficiency run` (no column {', '.join(missing)})")
    return table


def cmd_compare(args: argparse.Namespace) -> int:
    first, second = read_run(args.first), read_run(args.second)
    on = args.on
    if on == "auto":
        on = "ratio" if has_ratios(first) and has_ratios(second) else "seconds"
    if on == "ratio" and not (has_ratios(first) and has_ratios(second)):
        print("error: --on ratio needs two interleaved runs (a ratio column in both files)", file=sys.stderr)
        return 2
    for _, row in status_changes(first, second).iterrows():
        print(f"status differs: {row['method']} {row['width']}x{row['height']}: {row['status_a']} vs {row['status_b']}")
    seconds = compare_runs(first, second, args.min_seconds, args.tolerance)
    tables = [("seconds", seconds)]
    if on == "ratio":
        try:
            tables.append(("ratio to " + str(first["reference"].dropna().iloc[0]), compare_ratios(first, second, args.min_seconds, args.tolerance)))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.precision", 4):
        print(tables[-1][1].to_string(index=False))
    for what, table in tables:
        print(_summary(table, what, args))
    decisive = tables[-1][1]
    return 1 if (~decisive["stable"]).any() else 0


def cmd_spread(args: argparse.Namespace) -> int:
    from efficiency.interleave import ratio_spreads

    for path in args.files:
        table = ratio_spreads(read_run(path), args.min_seconds, args.reference)
        with pd.option_context("display.width", 200, "display.precision", 3):
            print(f"== {path}")
            print(table.to_string(index=False))
        if table.empty:
            print("no cell with two or more paired rounds")
            continue
        print(f"{path}: threads {', '.join(str(t) for t in sorted(set(table['threads'])))}; {len(table)} cell(s): "
              f"median ratio spread {table['ratio_spread'].median():.1%}, median sd of log ratio {table['log_ratio_sd'].median():.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="efficiency", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_version_flag(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="measure the grid and write a CSV")
    p.add_argument("--methods", nargs="+", default=[], help="enhancement-method labels (registry names or --options-json labels)")
    p.add_argument("--detectors", nargs="+", default=[],
                   help="face-detector labels (detectors registry; timed as detector.detect, kind 'detector' in the CSV)")
    p.add_argument("--diffll-modes", nargs="+", choices=["fp32", "bf16", "bf16-compile"],
                   help="DiffLL's inference modes as labels (diffll_fp32, diffll_bf16, ...; shared options from the "
                        "'diffll' entry of --options-json), against the fp32 path: ratio reference with --interleave, PSNR reference")
    p.add_argument("--batch-sizes", nargs="+", type=int, default=[1],
                   help="with --diffll-modes: images per call for every mode (seconds per image reported; label suffix _bN)")
    p.add_argument("--diffusion-baselines", nargs="+", metavar="NAME",
                   help="timing-only diffusion labels on seeded random weights (efficiency.diffusion_labels): pixel_ddim, "
                        "weatherdiff, diffll_k1, diffll_k2, diffll_k3, each optionally with _bf16; FLOPs and projections in the CSV")
    p.add_argument("--memory-budget-mb", type=float,
                   help="a cell whose estimated memory (or frame) exceeds this is not run: over_memory (default: half the RAM)")
    p.add_argument("--deadline", type=float, help="seconds: cells not started by then are skipped (and projected)")
    p.add_argument("--psnr-against", help="PSNR of every enhancer's output against this label's on the same frame (psnr_db column)")
    p.add_argument("--random-weights-if-absent", action="store_true",
                   help="a detector whose checkpoint is absent is timed on seeded random weights (CSV weights column says so)")
    p.add_argument("--image", help="time this photo resized (bilinear) to each resolution instead of the synthetic frame (CSV image column)")
    p.add_argument("--resolutions", nargs="+", help="WxH (default: 600x400 1280x720 1920x1080 2560x1440 3840x2160)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--rounds", type=int, default=1, help="visits of the whole grid, timings pooled (steadier on a drifting machine)")
    p.add_argument("--budget", type=float, default=120.0, help="seconds per cell; larger sizes of a method over budget are skipped")
    p.add_argument("--timeout", type=float, default=900.0, help="hard limit per child process, seconds")
    p.add_argument("--threads", type=int, help="torch, OpenMP, MKL and OpenBLAS threads in each child (recorded in the CSV; 0: library default)")
    p.add_argument("--min-time", type=float, default=0.0, help="seconds of timed runs per visit: a cheap method repeats until it has them")
    p.add_argument("--interleave", action=argparse.BooleanOptionalAction, default=False, help="resolution by resolution, methods in a shuffled order every round; ratios to --reference")
    p.add_argument("--reference", help="ratio denominator with --interleave (default or '': zero_dce_pp, else the cheapest learned method)")
    p.add_argument("--pairing", choices=["visit", "round"], default="visit",
                   help="with --interleave: time the reference inside every visit, alternating with the method (visit; "
                        "cancels drift over seconds), or pair each visit with the reference's own visit of the round (round)")
    p.add_argument("--seed", type=int, default=0, help="visit order and bootstrap seed")
    p.add_argument("--options-json", help='method options, e.g. {"diffll": {"precision": "bf16"}}')
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("compare", help="check two runs agree")
    p.add_argument("first")
    p.add_argument("second")
    p.add_argument("--min-seconds", type=float, default=0.05)
    p.add_argument("--tolerance", type=float, default=0.15)
    p.add_argument("--on", choices=["auto", "ratio", "seconds"], default="auto",
                   help="what must agree: ratios (default when both runs are interleaved) or seconds")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("spread", help="how much the per-round ratios of interleaved runs scatter (e.g. to choose --threads)")
    p.add_argument("files", nargs="+")
    p.add_argument("--min-seconds", type=float, default=0.05)
    p.add_argument("--reference", help="pair with this label instead of the run's reference (only labels with its thread count)")
    p.set_defaults(func=cmd_spread)
    args = parser.parse_args(argv)
    return run_command("efficiency", args.func, args)


if __name__ == "__main__":
    sys.exit(main())
