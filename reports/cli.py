"""``reports build``: render results/report/index.html + report.md + CSV tables from result files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lowlight_common.cli import add_version_flag
from reports.build import build_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reports", description=__doc__)
    add_version_flag(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="build the HTML + Markdown report")
    p.add_argument("--config-json", required=True, help="the workflow config (names of datasets, methods, detectors)")
    p.add_argument("--results-dir", default="results")
    p.add_argument("-o", "--out-dir", required=True)
    args = parser.parse_args(argv)
    try:
        config = json.loads(args.config_json)
    except json.JSONDecodeError as exc:
        print(f"error: --config-json is not valid JSON: {exc}", file=sys.stderr)
        return 2
    html_path, _ = build_report(config, Path(args.results_dir), Path(args.out_dir))
    print(f"report written to {html_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
