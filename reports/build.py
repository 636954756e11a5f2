"""Assemble the comparison report from the result files of a workflow run.

Inputs are found by the results layout (``results/<dataset>/<method>/<detector>/eval/...``, see
reports/inputs.py) for the datasets, methods and detectors named in the config. The report is a
list of sections (reports/sections.py), each made by one function that gives its HTML, its
Markdown, its tables and its figures; :func:`reports.sections.write_report` renders both pages
from that list. A section whose results do not exist says so plainly: the report never shows a
number that was not computed by the pipeline.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reports import detection, panels, quality, speed
from reports import methods as methods_section
from reports.html import table
from reports.inputs import Layout, has_boxes, read_json
from reports.provenance import provenance
from reports.provenance_section import provenance_section
from reports.sections import Section, write_report

TITLE = "Low-light enhancement as pre-processing for face detection"


def datasets_section(summaries: dict[str, dict | None]) -> Section:
    """One row per validated dataset: its kind, images, faces, whether it has references, its folder."""
    rows = [{"dataset": d, "kind": s["kind"], "images": s["images"], "faces": s["faces"],
             "references": "yes" if s["has_references"] else "no", "path": s["root"]}
            for d, s in summaries.items() if s]
    frame = pd.DataFrame(rows)
    return Section("Datasets", table(frame), [frame.to_markdown(index=False), ""], tables={"datasets": frame})


def report_sections(config: dict, layout: Layout) -> list[Section]:
    """The report's sections in page order. ``config`` has the schema's defaults filled."""
    datasets, methods, detectors = list(config["datasets"]), list(config["methods"]), list(config["detectors"])
    summaries = {d: read_json(layout.dataset(d)) for d in datasets}
    boxed = [d for d in datasets if summaries.get(d) and has_boxes(layout.dataset(d), summaries[d])]
    skipped = config.get("skipped_detectors", {})
    measured, elsewhere = speed.speed_sections(layout, config["benchmark"])
    panel = panels.panel_section(layout, boxed, summaries, methods, detectors, config["report"], skipped)
    return [
        datasets_section(summaries),
        methods_section.section(config["methods"]),
        *detection.detection_sections(layout, boxed, methods, detectors, config["evaluation"]["working_threshold"], skipped),
        quality.section(layout.results, datasets, methods, summaries, config["iqa"]["metrics"]),
        measured,
        *([panel] if panel is not None else []),
        *([elsewhere] if elsewhere is not None else []),
    ]


def build_report(config: dict, results_dir: Path, out_dir: Path) -> tuple[Path, Path]:
    """``config`` is the workflow config with the schema's defaults filled
    (:func:`lowlight_common.config_schema.validate_config`, or the workflow's validate).
    Returns the paths of ``index.html`` and ``report.md``."""
    layout = Layout(Path(results_dir))
    # First, before anything is read or written: refuses results of one label made with different options.
    prov = provenance(config, layout.results, list(config["datasets"]))
    sections = [*report_sections(config, layout), provenance_section(prov, config)]
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_report(out_dir, TITLE, sections)
