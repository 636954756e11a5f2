"""``detectors`` command line: list, detect, evaluate, compare.

Examples::

    detectors list
    detectors detect --detector retinaface --option scales=[1,2] -o preds/raw data/darkface/image
    detectors evaluate --gt data/darkface/label --pred preds/raw --out results/raw --bootstrap 1000
    detectors evaluate --dataset results/demo/dataset.json --pred preds/raw --out results/raw
    detectors compare --gt data/darkface/label --pred preds/raw --pred preds/enhanced
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from detectors.evaluation.bootstrap import MAX_RESAMPLES
from lowlight_common.cli import add_version_flag, run_command
from lowlight_common.options import OptionError
from lowlight_common.options import parse_option as _parse_option


def parse_option(text: str) -> tuple[str, Any]:
    """``K=V`` with V read as JSON or YAML (:mod:`lowlight_common.options`, one grammar for every
    command): ``0.5`` is a float, ``[1,2]`` a list, ``true``/``no`` a bool."""
    try:
        return _parse_option(text)
    except OptionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_edges(text: str) -> tuple[float, ...]:
    from detectors.evaluation.darkface import check_size_edges

    try:
        edges = tuple(float(x) for x in text.split(",") if x.strip())
        check_size_edges(edges)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated, finite, positive, increasing numbers, got {text!r} ({exc})"
        ) from None
    return edges


def _bounded(kind: type, low: float, high: float) -> Any:
    """argparse type: a number of ``kind`` in ``[low, high]`` (NaN and infinities refused)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not low <= value <= high:  # NaN fails every comparison
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}, got {text!r}")
        return value

    return parse


# numpy's and torch's seeds are unsigned; 2**32 - 1 is the bound every generator accepts.
_SEED = _bounded(int, 0, 2**32 - 1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="detectors", description=__doc__.split("\n")[0])
    add_version_flag(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="registered detectors and their metadata")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("detect", help="write one prediction file per image")
    p.add_argument("inputs", type=Path, nargs="+", help="image folder(s) and/or files")
    p.add_argument("--only-stems", type=Path, help="file of image stems to process (one shard)")
    p.add_argument("--manifest", type=Path, help="write a completion manifest once all succeed")
    p.add_argument("-o", "--out", type=Path, required=True, help="prediction folder")
    p.add_argument("--detector", required=True)
    p.add_argument("--option", type=parse_option, action="append", default=[], metavar="K=V")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--skip-existing", action="store_true", help="resume: keep existing files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    def eval_args(p: argparse.ArgumentParser) -> None:
        gt = p.add_mutually_exclusive_group(required=True)
        gt.add_argument("--gt", type=Path, help="DARK FACE label/ folder")
        gt.add_argument(
            "--dataset",
            type=Path,
            help="dataset.json of `lldata validate --report`: the boxes validation accepted "
            "(clipped with --clip-boxes); what the workflow uses",
        )
        p.add_argument(
            "--allow-missing", action="store_true", help="missing prediction file = no boxes"
        )
        p.add_argument(
            "--bootstrap",
            type=_bounded(int, 0, MAX_RESAMPLES),
            default=1000,
            metavar="N",
            help=f"resamples (0: none; else at least 2 / (1 - level), at most {MAX_RESAMPLES})",
        )
        p.add_argument("--seed", type=_SEED, default=0)
        p.add_argument(
            "--level", type=_bounded(float, 0.5, 0.999), default=0.95, help="confidence level"
        )

    p = sub.add_parser("evaluate", help="official DARK FACE AP (or the COCO cross-check)")
    eval_args(p)
    p.add_argument("--pred", type=Path, required=True, help="prediction folder")
    p.add_argument(
        "--out", type=Path, help="write pr_curve.csv, ap.json, per_image.csv, size_recall.csv"
    )
    p.add_argument("--mode", choices=["darkface", "coco"], default="darkface")
    p.add_argument(
        "--working-threshold", type=_bounded(float, 0.0, 1.0), default=0.5, help="normalised score"
    )
    p.add_argument("--size-edges", type=parse_edges, default=(16.0, 32.0), metavar="16,32")
    p.add_argument("--size-by", choices=["height", "sqrt_area"], default="height")

    p = sub.add_parser("compare", help="paired bootstrap of AP(B) - AP(A) on the same images")
    eval_args(p)
    p.add_argument("--pred", type=Path, action="append", required=True, help="give twice: A then B")
    p.add_argument("--out", type=Path, help="JSON file for the result")
    return parser


def _list(args: argparse.Namespace) -> int:
    from detectors.registry import detector_info, list_detectors

    infos = [detector_info(n).as_dict() for n in list_detectors()]
    if args.json:
        print(json.dumps(infos, indent=2))
        return 0
    for info in infos:
        print(f"{info['name']}: {info['description']}")
        for key in ("source_package", "weights", "licence", "needs_gpu", "default_options"):
            print(f"    {key}: {info[key]}")
    return 0


def _detect(args: argparse.Namespace) -> int:
    from detectors.registry import create_detector
    from detectors.runner import detect_files, list_images
    from lldata.manifest import filter_by_stems, write_manifest

    images: list[Path] = []
    for item in args.inputs:
        images.extend(list_images(item) if item.is_dir() else [item])
    images = filter_by_stems(images, args.only_stems)
    detector = create_detector(args.detector, device=args.device, **dict(args.option))
    written = detect_files(
        detector,
        images,
        args.out,
        skip_existing=args.skip_existing,
        progress=not args.quiet,
    )
    if args.manifest:
        # provenance: options as given and as run (defaults filled in), device, weights' sha256
        from detectors.checkpoints import detector_files
        from detectors.registry import check_detector_options, detector_class
        from lowlight_common.files import sha256_file

        as_run = check_detector_options(args.detector, dict(args.option))
        files = detector_files(detector_class(args.detector), as_run)
        weights = {str(f): sha256_file(f) for f in files if f.is_file()}
        write_manifest(args.manifest, written, detector=args.detector, options=dict(args.option),
                       options_as_run=as_run, device=str(getattr(detector, "device", args.device)), weights=weights)
    print(f"{len(written)} prediction files in {args.out} ({detector!r})")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from detectors.evaluation import DarkFaceEvaluator, bootstrap_ap, coco_ap
    from detectors.evaluation.bootstrap import check_bootstrap
    from detectors.evaluation.outputs import write_darkface_outputs, write_json
    from detectors.formats import load_pairs

    if args.bootstrap > 0:
        check_bootstrap(args.bootstrap, args.level)
    records = load_pairs(args.gt, args.pred, allow_missing=args.allow_missing, dataset=args.dataset)
    if args.mode == "coco":
        result = coco_ap((r.image_id, r.gt_boxes, r.pred_boxes, r.pred_scores) for r in records)
        print(f"COCO-style AP@0.5 = {result['ap']:.4f} (101-point: {result['ap_coco101']:.4f})")
        if args.out:
            write_json(args.out / "ap.json", result)
        return 0
    evaluator = DarkFaceEvaluator(
        working_threshold=args.working_threshold, size_edges=args.size_edges, size_by=args.size_by
    )
    for r in records:
        evaluator.process(r.image_id, r.gt_boxes, r.pred_boxes, r.pred_scores)
    result = evaluator.evaluate()
    extra: dict[str, Any] = {}
    line = f"AP = {result['ap']:.4f} ({result['n_images']} images, {result['n_gt']} faces)"
    if args.bootstrap > 0:
        ci = bootstrap_ap(result["tables"], n_boot=args.bootstrap, seed=args.seed, level=args.level)
        extra["bootstrap"] = ci.as_dict()
        line += f", {args.level:.0%} CI [{ci.low:.4f}, {ci.high:.4f}]"
    print(line)
    if args.out:
        paths = write_darkface_outputs(args.out, result, extra)
        print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from detectors.evaluation import DarkFaceEvaluator, paired_bootstrap
    from detectors.evaluation.bootstrap import check_bootstrap
    from detectors.evaluation.outputs import write_json
    from detectors.formats import load_pairs

    if len(args.pred) != 2:
        raise ValueError(
            f"compare needs exactly two --pred folders (A then B), got {len(args.pred)}"
        )
    check_bootstrap(args.bootstrap, args.level)
    tables = []
    for pred_dir in args.pred:
        evaluator = DarkFaceEvaluator()
        for r in load_pairs(args.gt, pred_dir, allow_missing=args.allow_missing, dataset=args.dataset):
            evaluator.process(r.image_id, r.gt_boxes, r.pred_boxes, r.pred_scores)
        tables.append(evaluator.tables())
    res = paired_bootstrap(
        tables[0], tables[1], n_boot=args.bootstrap, seed=args.seed, level=args.level
    )
    print(
        f"AP A = {res.ap_a:.4f} ({args.pred[0]}), AP B = {res.ap_b:.4f} ({args.pred[1]})\n"
        f"B - A = {res.diff:+.4f}, {res.level:.0%} CI [{res.low:+.4f}, {res.high:+.4f}], "
        f"P(diff <= 0) = {res.p_value:.4f} ({res.n_boot} paired resamples of {res.n_images} images)"
    )
    if args.out:
        write_json(
            args.out, res.as_dict() | {"pred_a": str(args.pred[0]), "pred_b": str(args.pred[1])}
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"list": _list, "detect": _detect, "evaluate": _evaluate, "compare": _compare}
    try:  # bad input (a missing or malformed file, an unknown name or option): exit 2
        return run_command(f"detectors {args.command}", handlers[args.command], args)
    except (OSError, KeyError, RuntimeError, TypeError) as exc:  # the run itself failed
        print(f"detectors {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
