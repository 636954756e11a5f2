"""The schema owns every config default (issue 17.5): the workflow's validate and
``lowlight_common.config_schema.validate_config`` fill the same values, the rules carry no
fallbacks of their own, and config/README.md states the schema's defaults."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from lowlight_common.config_schema import SCHEMA_PATH, validate_config

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = {"datasets": {"night": {"kind": "darkface", "path": "data/night"}}}


def test_a_minimal_config_gets_every_default_without_being_changed() -> None:
    given = copy.deepcopy(MINIMAL)
    filled = validate_config(given)
    assert given == MINIMAL, "the caller's config was modified"
    assert filled["datasets"]["night"] == {"kind": "darkface", "path": "data/night", "split": "val",
                                           "clip_boxes": False, "shards": 1}
    assert filled["methods"] == {"raw": {}} and filled["detectors"] == {} and filled["device"] == "auto"
    assert filled["benchmark"]["budget_s"] == 60 and filled["benchmark"]["pairing"] == "visit"
    assert filled["evaluation"] == {"bootstrap": 1000, "seed": 0, "working_threshold": 0.5, "size_edges": [16, 32]}
    assert filled["report"] == {"panel_images": 3, "panel_score_threshold": 0.5, "panel_stems": [],
                                "panel_detector": None, "panel_crop_size": 128}
    # defaults are copies: filling one config does not hand its lists to the next
    filled["evaluation"]["size_edges"].append(64)
    assert validate_config(MINIMAL)["evaluation"]["size_edges"] == [16, 32]
    given_values = validate_config({**MINIMAL, "benchmark": {"budget_s": 5}})["benchmark"]
    assert given_values["budget_s"] == 5 and given_values["repeats"] == 3


def test_snakemakes_validate_fills_the_same_defaults() -> None:
    from snakemake.utils import validate

    theirs = copy.deepcopy(MINIMAL)
    validate(theirs, schema=str(SCHEMA_PATH))
    assert theirs == validate_config(MINIMAL)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({**MINIMAL, "benchmark": {"budget_s": -1}}, "benchmark.budget_s: -1 is less than or equal to the minimum"),
        ({**MINIMAL, "evaluation": {"bootstraps": 10}}, "evaluation: Additional properties are not allowed ('bootstraps'"),
        ({"methods": {"raw": {}}}, "(top level): 'datasets' is a required property"),
    ],
)
def test_a_bad_config_names_the_key(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        validate_config(config)


def test_the_rules_carry_no_fallback_for_schema_defaults() -> None:
    pattern = re.compile(r"\b(BENCHMARK|EVALUATION|IQA|TRAINING)\.get\(|config\.get\(\"(results_dir|device|methods|detectors|evaluation|iqa|benchmark|training|enhance)\"")
    found = [f"{p.name}:{i}" for p in sorted((ROOT / "workflow").rglob("*.smk")) + [ROOT / "workflow" / "Snakefile"]
             for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not found, f"defaults belong in the schema, not in the rules: {found}"


def _readme_defaults() -> dict[tuple[str, str], str]:
    """(section, key) -> the first `literal` of the default column of config/README.md."""
    text = (ROOT / "config" / "README.md").read_text()
    parts = re.split(r"^### `([^`]+)`\s*$", text, flags=re.MULTILINE)
    out = {}
    for section, body in zip(parts[1::2], parts[2::2], strict=True):
        for row in re.findall(r"^\| `([^`]+)` \|(.*)\|\s*$", body, flags=re.MULTILINE):
            literal = re.match(r"\s*`([^`]*)`", row[1].rsplit("|", 1)[-1])
            if literal:
                out[(section, row[0])] = literal.group(1)
    return out


def test_config_readme_states_the_schemas_defaults() -> None:
    documented = _readme_defaults()
    defaults = validate_config(MINIMAL)  # every section has default {}, so every default is filled
    checked, wrong = 0, []
    for section, values in defaults.items():
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if (section, key) in documented:
                checked += 1
                if yaml.safe_load(documented[(section, key)]) != value:
                    wrong.append(f"{section}.{key}: README {documented[(section, key)]!r}, schema {value!r}")
    assert checked >= 20, f"only {checked} defaults found in config/README.md tables"
    assert not wrong, wrong


def test_reports_build_checks_the_config_it_is_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from reports.cli import main

    bad = '{"datasets": {"night": {"kind": "darkface", "path": "x"}}, "report": {"panel_images": -1}}'
    assert main(["build", "--config-json", bad, "--results-dir", str(tmp_path), "-o", str(tmp_path / "r")]) == 2
    assert "invalid configuration: report.panel_images: -1 is less than the minimum of 0" in capsys.readouterr().err
