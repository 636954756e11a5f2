"""Plug-ins outside the packages reach the workflow: a config naming a ``module:Class`` method
and detector, a ``module:NAME`` dataset kind with face boxes and a ``module:NAME`` image-quality
metric (a module in the working directory) gets enhancement, detection, evaluation and
image-quality jobs planned, with the plug-ins' options checked at ``-n`` like the built-ins',
and the report shows the metric's row. Real Snakemake processes: slow."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from plugin_modules import PLUGIN_SOURCE
from test_workflow import snakemake

from lldata.datasets import write_darkface_item

pytestmark = pytest.mark.slow


def _setup(tmp_path: Path, **method_options: object) -> Path:
    (tmp_path / "my_plugins.py").write_text(PLUGIN_SOURCE)
    rng = np.random.default_rng(0)
    for stem in ("1", "2"):
        write_darkface_item(tmp_path / "data" / "faces", stem, rng.integers(0, 60, (48, 64, 3), dtype=np.uint8),
                            np.array([[10, 10, 30, 30]]))
    config = {
        "results_dir": "results", "device": "cpu",
        "datasets": {"faces": {"kind": "my_plugins:FACES", "path": "data/faces", "shards": 1}},
        "methods": {"raw": {}, "bright": {"method": "my_plugins:Brighter", **method_options}},
        "detectors": {"centre": {"detector": "my_plugins:CentreBox", "size": 12}},
        "evaluation": {"bootstrap": 50, "seed": 0},
        "iqa": {"metrics": ["piqe", "my_plugins:BRIGHTNESS"]},
        "report": {"panel_images": 1},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_plugins_are_planned_and_checked(tmp_path):
    config = _setup(tmp_path, gain=2.0)
    plan = snakemake(tmp_path, config, "-n").stdout
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", plan.split("Job stats:")[-1], re.MULTILINE))
    # two methods x one detector x one shard: the boxed plug-in kind gets detection and evaluation
    assert {job: counts.get(job) for job in ("enhance", "detect", "evaluate", "compare_with_raw", "iqa")} == {
        "enhance": "2", "detect": "2", "evaluate": "2", "compare_with_raw": "1", "iqa": "2"}, plan[-1500:]
    bad = snakemake(tmp_path, _setup(tmp_path, gian=2.0), "-n", check=False)
    assert bad.returncode != 0 and "methods.bright: my_plugins:Brighter: unknown option(s) gian" in bad.stdout + bad.stderr


def test_tiny_real_run_with_plugins(tmp_path):
    config = _setup(tmp_path, gain=2.0)
    snakemake(tmp_path, config)
    res = tmp_path / "results" / "faces"
    assert sorted(p.name for p in (res / "bright" / "images").glob("*.png")) == ["1.png", "2.png"]
    assert (res / "bright" / "centre" / "eval" / "ap.json").is_file()
    ap = pd.read_csv(tmp_path / "results" / "report" / "ap.csv")  # the report treats the kind as boxed
    assert sorted(zip(ap.dataset, ap.method, ap.detector, strict=True)) == [("faces", "bright", "centre"), ("faces", "raw", "centre")]
    # the plug-in metric: computed by the iqa jobs, a row of the no-reference table after PIQE
    quality = pd.read_csv(tmp_path / "results" / "report" / "quality_without_references.csv")
    assert quality["metric"].tolist() == ["piqe", "my_plugins:BRIGHTNESS"]
    assert quality.loc[1, "bright"] > quality.loc[1, "raw"] > 0  # gain 2: brighter
    assert "my_plugins:BRIGHTNESS ↑" in (tmp_path / "results" / "report" / "report.md").read_text()
    # The plug-ins' source is an input of the jobs that use them (and only of those), so an edited
    # my_plugins.py plans them again: validation (kind), enhancement of `bright` (method, not
    # `raw`), both detect jobs (detector) and both iqa jobs (metric).
    assert "Nothing to be done" in snakemake(tmp_path, config, "-n").stdout
    with (tmp_path / "my_plugins.py").open("a") as handle:
        handle.write("# edited\n")
    plan = snakemake(tmp_path, config, "-n", "--quiet", "progress").stdout  # with the per-job blocks
    blocks = re.findall(r"^\s*(?:local)?rule (\w+):(.*?)(?=^\s*(?:local)?rule |\Z)", plan, re.MULTILINE | re.DOTALL)
    reading = sorted(rule for rule, block in blocks if re.search(r"input: [^\n]*my_plugins\.py", block))
    assert reading == ["detect", "detect", "enhance", "iqa", "iqa", "validate_dataset"], plan[-3000:]
    assert re.search(r"Updated input files: [^\n]*my_plugins\.py", plan)
