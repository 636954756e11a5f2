"""The papers' image-quality tables: methods as columns, best per row in bold, arrows from iqa.registry."""

from __future__ import annotations

import json
import re

import pytest

from reports.quality import best_methods, label, section


def _summary(results, dataset, method, mean, skipped=None):
    path = results / dataset / method / "iqa" / "summary.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"images": 3, "mean": mean, "skipped": skipped or {}}))


@pytest.fixture
def results(tmp_path):
    lpips_skip = {"lpips": "metric lpips needs: .../alexnet-owt-7be5be79.pth (download https://download.pytorch.org/models/alexnet-owt-7be5be79.pth, or run `iqa fetch lpips`)"}
    _summary(tmp_path, "pairs", "raw", {"psnr": 9.0, "ssim": 0.2, "niqe": 2.0}, lpips_skip)
    _summary(tmp_path, "pairs", "he", {"psnr": 15.123, "ssim": 0.61, "niqe": 5.0}, lpips_skip)
    _summary(tmp_path, "pairs", "diffll", {"psnr": 17.5, "ssim": 0.6104, "niqe": 4.0}, lpips_skip)
    _summary(tmp_path, "dicm", "raw", {"niqe": 2.5, "brisque": 20.0, "piqe": 30.0},
             {"psnr": "full-reference metric and the dataset has no references"})
    _summary(tmp_path, "dicm", "he", {"niqe": 3.1234, "brisque": 25.0, "piqe": 40.0})
    _summary(tmp_path, "dicm", "diffll", {"niqe": 3.1232, "brisque": 22.0, "piqe": 45.0})
    return tmp_path


def test_tables_rows_bold_and_arrows(results):
    summaries = {"pairs": {"has_references": True}, "dicm": {"has_references": False}}
    made = section(results, ["pairs", "dicm"], ["raw", "he", "diffll"], summaries)
    html, md, csvs = made.html, made.markdown, made.tables
    paired, unpaired = csvs["quality_with_references"], csvs["quality_without_references"]
    # paired sets: the full-reference metrics that ran (LPIPS skipped: named below the table)
    assert paired["metric"].tolist() == ["psnr", "ssim"] and list(paired.columns) == ["dataset", "metric", "raw", "he", "diffll"]
    assert unpaired["metric"].tolist() == ["niqe", "brisque", "piqe"] and set(unpaired["dataset"]) == {"dicm"}
    assert "alexnet-owt-7be5be79.pth" in html and "iqa fetch lpips" in md[-2]
    # bold: highest PSNR, lowest NIQE / BRISQUE / PIQE among the methods; raw is never ranked,
    # ties as printed (3 decimals) are bold together
    assert "<b>17.50</b>" in html and "**17.50**" in "\n".join(md)
    assert "<b>0.610</b>" in html and html.count("<b>0.610</b>") == 2
    assert "<b>3.123</b>" in html and html.count("<b>3.123</b>") == 2
    assert "<b>22.000</b>" in html and "<b>40.000</b>" in html
    assert "<b>2.500</b>" not in html and "<b>20.000</b>" not in html and "<b>9.00</b>" not in html
    assert "PSNR ↑" in html and "NIQE ↓" in html and "BRISQUE ↓" in "\n".join(md)
    assert len(re.findall(r"\| dicm", "\n".join(md))) == 3
    assert re.search(r"\|\s+30\.000 \|", "\n".join(md))  # printed as in HTML, trailing zeros kept
    assert "dicm: psnr" not in html  # a full-reference metric on an unpaired set is skipped by design
    # every mean is still in the long table
    assert len(csvs["iqa"]) == 6 and "All means" in html


def test_direction_comes_from_the_registry(monkeypatch):
    import dataclasses

    from iqa import registry

    assert label("psnr") == "PSNR ↑" and label("piqe") == "PIQE ↓"
    assert best_methods("psnr", {"raw": 40.0, "a": 20.0, "b": 21.0}) == {"b"}
    flipped = dataclasses.replace(registry.METRICS["psnr"], lower_better=True)
    monkeypatch.setattr("reports.quality.METRICS", {"psnr": flipped})
    assert label("psnr") == "PSNR ↓" and best_methods("psnr", {"a": 20.0, "b": 21.0}) == {"a"}
    assert best_methods("psnr", {"raw": 1.0}) == set()


def test_no_results(tmp_path):
    made = section(tmp_path, ["x"], ["raw"], {"x": None})
    assert made.title == "Image quality" and made.markdown == ["No image-quality results in this run.", ""]
    assert "No image-quality results" in made.html and made.tables["iqa"].empty


@pytest.fixture
def one_more_metric():
    """A metric added the way a contributor adds one: a single entry in iqa.registry.METRICS."""
    from iqa.registry import METRICS, MetricSpec

    METRICS.register("sharp", MetricSpec("sharp", "sharp", False, False, "higher is better", "test metric",
                                         decimals=1))
    yield "sharp"
    METRICS.unregister("sharp")


def test_a_metric_registered_once_appears_in_its_ranked_table(results, one_more_metric):
    for method, value in (("raw", 9.0), ("he", 3.04), ("diffll", 7.26)):
        path = results / "dicm" / method / "iqa" / "summary.json"
        summary = json.loads(path.read_text())
        summary["mean"]["sharp"] = value
        path.write_text(json.dumps(summary))
    summaries = {"pairs": {"has_references": True}, "dicm": {"has_references": False}}
    made = section(results, ["pairs", "dicm"], ["raw", "he", "diffll"], summaries)
    html, md, csvs = made.html, made.markdown, made.tables
    # no-reference: in the table of datasets without references, after the built-in ones
    assert csvs["quality_without_references"]["metric"].tolist() == ["niqe", "brisque", "piqe", "sharp"]
    assert "sharp" not in csvs["quality_with_references"]["metric"].tolist()
    # ranked by its direction (higher is better; raw not ranked), printed with its decimals
    assert "SHARP ↑" in html and "<b>7.3</b>" in html and ">3.0<" in html and "<b>9.0</b>" not in html
    assert re.search(r"\| SHARP ↑ +\| +9\.0 \| +3\.0 \| +\*\*7\.3\*\* \|", "\n".join(md))


def test_the_config_schema_lists_no_metric_names():
    """iqa/registry.py is the one list of metrics: the schema takes any name and the workflow
    checks names against the registry (workflow/rules/common.smk, _check_metrics)."""
    import yaml

    from iqa.registry import check_metric_names, list_metrics
    from lowlight_common.config_schema import SCHEMA_PATH

    items = yaml.safe_load(SCHEMA_PATH.read_text())["properties"]["iqa"]["properties"]["metrics"]["items"]
    assert "enum" not in items
    check_metric_names(list_metrics())
    with pytest.raises(ValueError, match="unknown metric 'nique'; known: psnr, ssim, lpips, niqe"):
        check_metric_names(["psnr", "nique"])
