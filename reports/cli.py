"""``reports build``: render results/report/index.html + report.md + CSV tables from result files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lowlight_common.cli import add_version_flag, run_command, setup_logging
from lowlight_common.config_schema import validate_config
from reports.build import build_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reports", description=__doc__)
    add_version_flag(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="build the HTML + Markdown report")
    given = p.add_mutually_exclusive_group(required=True)
    given.add_argument("--config-json", help="the workflow config (names of datasets, methods, detectors)")
    given.add_argument("--config-file", help="the same, in a JSON file (the workflow passes this)")
    p.add_argument("--results-dir", default="results")
    p.add_argument("-o", "--out-dir", required=True)
    args = parser.parse_args(argv)
    setup_logging()
    return run_command("reports", _build, args)


def _build(args: argparse.Namespace) -> int:
    source = "--config-json"
    text = args.config_json
    if args.config_file is not None:
        source = args.config_file
        text = Path(args.config_file).read_text(encoding="utf-8")  # FileNotFoundError names it
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{source} must be a JSON object (the workflow config)")
    results = Path(args.results_dir)
    if not results.is_dir():  # a typo here would otherwise render an empty report, exit 0
        raise FileNotFoundError(2, "results folder not found", str(results))
    skipped = config.pop("skipped_detectors", {})  # added by the workflow, not a config key
    skipped_methods = config.pop("skipped_methods", {})  # likewise
    config = validate_config(config)  # the schema's defaults, as the workflow fills them
    config["skipped_detectors"] = skipped
    config["skipped_methods"] = skipped_methods
    html_path, _ = build_report(config, results, Path(args.out_dir))
    print(f"report written to {html_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
