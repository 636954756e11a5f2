"""``reports build``: render results/report/index.html + report.md from result files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reports.build import build_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reports", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="build the HTML + Markdown report")
    p.add_argument("--datasets", nargs="+", required=True, help="dataset.json summaries (from lldata validate --report)")
    p.add_argument("--config-json", default="{}", help="the workflow config, for provenance")
    p.add_argument("-o", "--out-dir", required=True)
    args = parser.parse_args(argv)
    missing = [p for p in args.datasets if not Path(p).is_file()]
    if missing:
        print(f"error: missing result file(s): {', '.join(missing)}", file=sys.stderr)
        return 2
    html_path, _ = build_report([Path(p) for p in args.datasets], json.loads(args.config_json), Path(args.out_dir))
    print(f"report written to {html_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
