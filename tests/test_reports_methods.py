"""The report's Methods table: paper, weights licence, training data and size of every configured
method, from the methods' own metadata for the config's options (issue 26, item 2)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lowlight_common.config_schema import validate_config
from reports.build import build_report
from reports.methods import methods_table


def test_methods_table_describes_each_label_with_its_options() -> None:
    frame = methods_table(
        {
            "raw": {},
            "zero_ig_nikon": {"method": "zero_ig", "model": "LSRW-Nikon"},
            "pairlie": {"exponent": 0.14},
            "typo": {"method": "no_such_method"},
        }
    ).set_index("label")
    nikon = frame.loc["zero_ig_nikon"]
    assert nikon["method"] == "zero_ig" and "CVPR 2024" in nikon["paper"]
    assert "LSRW, Nikon D7500 part" in nikon["description"] and '"model": "LSRW-Nikon"' in nikon["options"]
    assert nikon["weights licence"].startswith("none stated") and nikon["parameters"] == "86,572"
    assert '"exponent": 0.14' in frame.loc["pairlie", "options"]
    assert frame.loc["raw", "weights licence"] == "-" and frame.loc["raw", "family"] == "identity"
    # a label the registry does not know is shown with the reason, not dropped
    assert "no metadata" in frame.loc["typo", "description"]
    assert "no_such_method" in frame.loc["typo", "description"]


def test_report_has_a_methods_section(tmp_path: Path) -> None:
    config = validate_config(
        {
            "datasets": {"tiny": {"kind": "unpaired", "path": str(tmp_path / "none")}},
            "methods": {"raw": {}, "selfdace_stage1": {}},
            "detectors": {},
            "benchmark": {"enabled": False},
        }
    )
    html, md = build_report(config, tmp_path / "results", tmp_path / "report")
    text = md.read_text()
    assert "## Methods" in text and "stage I only" in text
    assert "Methods" in html.read_text()
    table = pd.read_csv(tmp_path / "report" / "methods.csv")
    assert table["label"].tolist() == ["raw", "selfdace_stage1"]
    assert table.loc[1, "weights licence"] == "MIT"
