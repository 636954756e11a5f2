"""Assemble the report from result files. Each section reads what exists and says plainly
when a part of the pipeline has not produced results (never invents a number)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from lldata.atomic import atomic_write
from lldata.imageio import read_rgb
from reports.html import escape, page, png_data_uri, table
from reports.provenance import provenance


def _draw_boxes(image: np.ndarray, boxes, colour=(0, 255, 0)) -> np.ndarray:
    img = Image.fromarray(image)
    draw = ImageDraw.Draw(img)
    for x1, y1, x2, y2 in boxes:
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=2)
    return np.asarray(img)


def dataset_table(summaries: dict[str, dict]) -> pd.DataFrame:
    rows = []
    for name, s in summaries.items():
        sizes = sorted({(i["width"], i["height"]) for i in s["items"]})
        rows.append(
            {
                "dataset": name,
                "kind": s["kind"],
                "images": s["images"],
                "faces": s["faces"],
                "references": "yes" if s["has_references"] else "no",
                "sizes": ", ".join(f"{w}x{h}" for w, h in sizes[:3]) + (" ..." if len(sizes) > 3 else ""),
                "warnings": s["warnings"],
            }
        )
    return pd.DataFrame(rows)


def dataset_gallery(name: str, summary: dict, count: int = 4) -> str:
    figures = []
    for item in summary["items"][:count]:
        image = read_rgb(item["image"])
        boxes = item.get("boxes", [])
        shown = [("input", image)]
        if "reference" in item:
            shown.append(("reference", read_rgb(item["reference"])))
        for label, img in shown:
            figures.append(
                f'<figure><img src="{png_data_uri(_draw_boxes(img, boxes), 320)}" alt="{escape(name)} {escape(item["stem"])} {label}">'
                f"<figcaption>{escape(name)}/{escape(item['stem'])} {label}, {len(boxes)} ground-truth face(s)</figcaption></figure>"
            )
    return "".join(figures)


def build_report(dataset_summaries: list[Path], config: dict, out_dir: Path) -> tuple[Path, Path]:
    summaries = {}
    for path in dataset_summaries:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        summaries[Path(path).parent.name] = data
    datasets = dataset_table(summaries)
    prov = provenance(config)

    sections = [
        ("Datasets", table(datasets) + "".join(dataset_gallery(n, s) for n, s in summaries.items())),
        ("Provenance", "<pre>" + escape(json.dumps(prov, indent=1)) + "</pre>"),
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, md_path = out_dir / "index.html", out_dir / "report.md"
    with atomic_write(out_dir / "datasets.csv", "w", encoding="utf-8") as handle:
        datasets.to_csv(handle, index=False)
    with atomic_write(html_path, "w", encoding="utf-8") as handle:
        handle.write(page("Low-light enhancement for face detection: comparison report", sections))
    md = ["# Low-light enhancement for face detection: comparison report", "", "## Datasets", "",
          datasets.to_markdown(index=False), "", "## Provenance", "", "```json", json.dumps(prov, indent=1), "```", ""]
    with atomic_write(md_path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(md))
    return html_path, md_path
