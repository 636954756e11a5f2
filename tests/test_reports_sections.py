"""The report is a list of sections (issue 29, item 5): each section gives its HTML, Markdown,
tables and figures once, and both pages are rendered from that one list, so a section cannot
appear in one page and be missing from the other."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from lowlight_common.config_schema import validate_config
from reports.build import build_report
from reports.sections import (
    Section,
    combine,
    markdown_anchor,
    render_html,
    render_markdown,
    write_report,
)


def _h2_html(text: str) -> list[str]:
    return [re.sub(r"&#x27;", "'", t) for t in re.findall(r'<h2 id="s\d+-[^"]*">(.*?)</h2>', text)]


def _h2_md(text: str) -> list[str]:
    return [line[3:] for line in text.splitlines() if line.startswith("## ") and line != "## Contents"]


def test_both_pages_have_the_same_sections_in_the_same_order() -> None:
    sections = [Section("A b", "<p>a</p>", ["a"]), Section("C (d)", "<p>c</p>", ["c", ""])]
    html, md = render_html("T", sections), render_markdown("T", sections)
    assert _h2_html(html) == _h2_md(md) == ["A b", "C (d)"]
    assert "1. [A b](#a-b)" in md and "2. [C (d)](#c-d)" in md
    assert md.startswith("# T\n\n## Contents\n")


def test_combine_puts_each_titled_part_under_its_own_subheading() -> None:
    parts = [Section("one", "<p>1</p>", ["1", ""], tables={"t1": pd.DataFrame({"x": [1]})}),
             Section("", "<p>2</p>", ["2"], figures={"f.png": b"png"})]
    made = combine("Both", parts, "<p>intro</p>", ["intro", ""])
    assert made.html == "<p>intro</p><h3>one</h3><p>1</p><p>2</p>"
    assert made.markdown == ["intro", "", "### one", "", "1", "", "2"]
    assert list(made.tables) == ["t1"] and made.figures == {"f.png": b"png"}


def test_a_table_name_written_by_two_sections_is_an_error(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1]})
    with pytest.raises(ValueError, match="two sections write the table 'ap'"):
        write_report(tmp_path, "T", [Section("a", "", [], tables={"ap": frame}), Section("b", "", [], tables={"ap": frame})])
    with pytest.raises(ValueError, match="two sections write the figure 'p.png'"):
        combine("c", [Section("a", "", [], figures={"p.png": b""}), Section("b", "", [], figures={"p.png": b""})])


def test_write_report_writes_figures_and_non_empty_tables(tmp_path: Path) -> None:
    sections = [Section("a", "", [], tables={"full": pd.DataFrame({"x": [1.5]}), "empty": pd.DataFrame()},
                        figures={"f.png": b"\x89PNG"})]
    html, md = write_report(tmp_path, "T", sections)
    assert html.name == "index.html" and md.name == "report.md"
    assert (tmp_path / "figures" / "f.png").read_bytes() == b"\x89PNG"
    assert (tmp_path / "full.csv").read_text() == "x\n1.5\n" and not (tmp_path / "empty.csv").exists()


def test_markdown_anchor_follows_github() -> None:
    assert markdown_anchor("Results measured elsewhere (committed files, not this run)") == \
        "results-measured-elsewhere-committed-files-not-this-run"


def test_a_report_without_detection_or_benchmark_says_so_in_both_pages(tmp_path: Path) -> None:
    """Before, the Markdown page left out the sections that only had a note (no detection, no
    benchmark); the HTML page had them."""
    config = validate_config({"datasets": {"tiny": {"kind": "unpaired", "path": str(tmp_path / "none")}},
                              "methods": {"raw": {}}, "detectors": {}, "benchmark": {"enabled": False}})
    html_path, md_path = build_report(config, tmp_path / "results", tmp_path / "report")
    html, md = html_path.read_text(), md_path.read_text()
    assert _h2_html(html) == _h2_md(md)
    assert _h2_md(md) == ["Datasets", "Methods", "Face detection (DARK FACE protocol)", "Image quality",
                          "Time and memory per resolution", "Provenance"]
    assert "No detection results in this run." in md and "No benchmark in this run." in md
