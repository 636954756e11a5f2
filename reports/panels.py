"""The report's qualitative comparison: per chosen image, every method's output at full
resolution with the ground-truth boxes and one detector's detections, and a zoom of each face."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from lldata.imageio import read_rgb
from reports import figures
from reports.html import escape, png_data_uri
from reports.inputs import Layout
from reports.sections import Section, combine


def _predictions_above(path: Path, threshold: float) -> list[list[float]]:
    if not path.is_file():
        return []
    boxes = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 5 and float(parts[4]) >= threshold:
            boxes.append([float(v) for v in parts[:4]])
    return boxes


def panel_detector(layout: Layout, dataset: str, methods: list[str], detectors: list[str],
                   skipped: dict[str, str]) -> str | None:
    """The first configured detector that ran on ``dataset`` (not skipped for absent weights, and
    with predictions for every method): the panel must not draw "0 detections" of one that did not."""
    for det in detectors:
        if det not in skipped and all(layout.predictions(dataset, m, det).is_dir() for m in methods):
            return det
    return None


def panel_items(summary: dict, count: int, stems: list[str] | tuple[str, ...] = ()) -> list[dict]:
    """The images of the panels: those named in ``stems`` (report.panel_stems; an unknown stem
    is an error naming it), else the first ``count``."""
    if not stems:
        return summary["items"][:count]
    by_stem = {item["stem"]: item for item in summary["items"]}
    unknown = [s for s in stems if s not in by_stem]
    if unknown:
        raise ValueError(f"report.panel_stems: no image {', '.join(map(repr, unknown))} in dataset {summary.get('root')}")
    return [by_stem[s] for s in stems]


def qualitative_panel(layout: Layout, dataset: str, summary: dict, methods: list[str], detector: str | None,
                      count: int, threshold: float, stems: list[str] | tuple[str, ...] = (),
                      crop_size: int = 128) -> Section | None:
    """Per chosen image, one figure (``figures/panel_<dataset>_<stem>.png``): every method's
    output at full resolution with ground truth and ``detector``'s detections, and a zoom of
    each face. The HTML shows it scaled to the page (a click opens the file); the Markdown
    references the file. None when no method has an image to show."""
    html_blocks, md = [], []
    pngs: dict[str, bytes] = {}
    for item in panel_items(summary, count, stems):
        rows = []
        for m in methods:
            path = layout.images(dataset, m) / f"{item['stem']}.png"
            if not path.is_file():
                continue
            pred = _predictions_above(layout.predictions(dataset, m, detector) / f"{item['stem']}.txt", threshold) if detector else []
            caption = f"{m}: {len(pred)} detection(s)" if detector else m
            rows.append((caption, read_rgb(path), item.get("boxes", []), pred))
        if not rows:
            continue
        png = figures.panel_png(rows, crop_size)
        name = f"panel_{dataset}_{item['stem']}.png"
        title = f"{dataset}/{item['stem']} ({len(item.get('boxes', []))} faces)"
        pngs[name] = png
        shown = png_data_uri(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")), max_side=1100)
        captions = "; ".join(r[0] for r in rows)
        html_blocks.append(f"<p><b>{escape(title)}</b>: {escape(captions)}</p><figure><a href=\"figures/{escape(name)}\">"
                           f'<img src="{shown}" alt="panel {escape(title)}"></a>'
                           f"<figcaption>full resolution: figures/{escape(name)}</figcaption></figure>")
        md += [f"### {title}", "", captions, "", f"![{title}](figures/{name})", ""]
    legend = ("Green: ground truth. Magenta: detections of "
              f"{detector} with raw score >= {threshold}. Each method's output at full resolution, a zoom of every face beside it."
              if detector else "Green: ground truth (no detector ran on every method). A zoom of every face beside each output.")
    if not html_blocks:
        return None
    return Section("", f'<p class="note">{escape(legend)}</p>' + "".join(html_blocks), [legend, "", *md], figures=pngs)


def panel_section(layout: Layout, datasets: list[str], summaries: dict[str, dict], methods: list[str], detectors: list[str],
                  report_cfg: dict, skipped_detectors: dict[str, str]) -> Section | None:
    """"Qualitative comparison": the panels of each dataset with face boxes (report.panel_* options)."""
    chosen = report_cfg.get("panel_detector")
    if chosen is not None and chosen not in detectors and datasets:
        raise ValueError(f"report.panel_detector: {chosen!r} is not one of the detectors that ran ({', '.join(detectors)})")
    parts = []
    for d in datasets:
        det = chosen or panel_detector(layout, d, methods, detectors, skipped_detectors)
        part = qualitative_panel(layout, d, summaries[d], methods, det, int(report_cfg["panel_images"]),
                                 float(report_cfg["panel_score_threshold"]), report_cfg.get("panel_stems") or (),
                                 int(report_cfg.get("panel_crop_size", 128)))
        parts += [part] if part is not None else []
    return combine("Qualitative comparison", parts) if parts else None
