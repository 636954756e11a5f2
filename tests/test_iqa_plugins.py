"""An image-quality metric as a ``module:NAME`` plug-in (issue 29): a ``MetricSpec`` in a module of
the working directory is accepted by the config check, computed by ``iqa score`` through its
builder, and shown by the report in the ranked table of its kind, after the registered metrics,
under the key the config gave it. The workflow run is in ``tests/test_workflow_plugins.py``."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from plugin_modules import PLUGIN_SOURCE

from iqa.cli import main
from iqa.registry import METRICS, check_metric_names
from lldata.imageio import write_png
from reports.quality import label, section

BRIGHTNESS = "my_plugins:BRIGHTNESS"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The user's ``my_plugins.py`` in the working directory, imported afresh."""
    (tmp_path / "my_plugins.py").write_text(PLUGIN_SOURCE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_plugins", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    yield tmp_path
    for name in (BRIGHTNESS, "my_plugins:Brighter"):  # loaded plug-ins are cached by the registry
        METRICS.unregister(name)


def test_the_config_check_accepts_a_plugin_metric_and_refuses_other_attributes(folder):
    check_metric_names(["psnr", BRIGHTNESS])
    assert METRICS[BRIGHTNESS].name == "brightness" and not METRICS[BRIGHTNESS].full_reference
    with pytest.raises(ValueError, match=r"metric 'my_plugins:Brighter': .* is not an iqa.registry.MetricSpec"):
        check_metric_names(["psnr", "my_plugins:Brighter"])
    with pytest.raises(ValueError, match=r"metric 'my_plugins:SHARP': module 'my_plugins' .* has no attribute 'SHARP'"):
        check_metric_names(["my_plugins:SHARP"])
    with pytest.raises(ValueError, match=r"unknown metric 'nique'; known: psnr"):
        check_metric_names(["nique"])


def test_iqa_score_computes_a_plugin_metric(folder, capsys):
    low = np.tile(np.arange(0, 64, 2, dtype=np.uint8)[None, :, None], (16, 1, 3))
    write_png(folder / "enhanced" / "a.png", low)
    write_png(folder / "high" / "a.png", np.clip(low.astype(int) * 2, 0, 255).astype(np.uint8))
    dataset = folder / "dataset.json"
    dataset.write_text(json.dumps({"items": [{"stem": "a", "reference": str(folder / "high" / "a.png")}]}))
    args = ["score", "--dataset", "dataset.json", "--enhanced", "enhanced", "-o", "table.csv", "--summary", "summary.json"]
    assert main([*args, "--metrics", BRIGHTNESS]) == 0
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["mean"] == {BRIGHTNESS: pytest.approx(low.mean() / 255, abs=1e-6)} and not summary["skipped"]
    assert (folder / "table.csv").read_text().splitlines()[0] == f"image,{BRIGHTNESS}"
    capsys.readouterr()
    # the command line's contract: a bad name is exit 2 with the reason, before any image is read
    assert main([*args, "--metrics", "my_plugins:Brighter"]) == 2
    assert "is not an iqa.registry.MetricSpec" in capsys.readouterr().err
    assert main([*args, "--metrics", "nique"]) == 2
    assert "unknown metric 'nique'; known: psnr, ssim" in capsys.readouterr().err


def _summary(results: Path, dataset: str, method: str, mean: dict[str, float]) -> None:
    path = results / dataset / method / "iqa" / "summary.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"images": 2, "mean": mean, "skipped": {}}, sort_keys=True))


def test_the_report_ranks_a_plugin_metric_after_the_registered_ones(folder):
    results = folder / "results"
    for method, niqe, level in (("raw", 2.0, 0.9), ("he", 4.0, 0.31234), ("diffll", 3.0, 0.41236)):
        _summary(results, "dicm", method, {"niqe": niqe, "piqe": 40.0, BRIGHTNESS: level})
    _summary(results, "pairs", "he", {"psnr": 15.0, BRIGHTNESS: 0.5})
    summaries = {"dicm": {"has_references": False}, "pairs": {"has_references": True}}
    made = section(results, ["pairs", "dicm"], ["raw", "he", "diffll"], summaries, ["piqe", BRIGHTNESS, "niqe"])
    without, with_refs = made.tables["quality_without_references"], made.tables["quality_with_references"]
    # its kind's table (no-reference: datasets without references), after the registered metrics
    assert without["metric"].tolist() == ["niqe", "piqe", BRIGHTNESS] and with_refs["metric"].tolist() == ["psnr"]
    # called by its key, ranked by its direction (higher is better; raw not ranked), its decimals
    assert label(BRIGHTNESS) == "my_plugins:BRIGHTNESS ↑"
    assert "<b>0.4124</b>" in made.html and ">0.3123<" in made.html and "<b>0.9000</b>" not in made.html
    md = "\n".join(made.markdown)
    assert re.search(r"\| dicm +\| my_plugins:BRIGHTNESS ↑ +\| +0\.9000 \| +0\.3123 \| +\*\*0\.4124\*\* \|", md)
