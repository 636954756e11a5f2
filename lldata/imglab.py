"""Import face boxes from dlib's imglab XML (``<image file=..><box top left width height/>``).

dlib's example face set (``../shared/data/faces-normal``) ships its boxes this way. Importing it
into DARK FACE layout gives normal-light photos with real faces that the pipeline can darken with
:mod:`lldata.synthesis` and score like any DARK FACE set.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from lldata.datasets import write_darkface_item
from lldata.imageio import read_rgb


def read_imglab_xml(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Map image file name -> inclusive x1 y1 x2 y2 boxes (int64 N x 4)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ValueError(f"{path}: not a readable imglab XML file ({exc})") from None
    images = root.find("images")
    if images is None:
        raise ValueError(f"{path}: no <images> element")
    out: dict[str, np.ndarray] = {}
    for image in images.findall("image"):
        name = image.get("file")
        if not name:
            raise ValueError(f"{path}: an <image> element has no 'file' attribute")
        boxes = []
        for box in image.findall("box"):
            if box.get("ignore") == "1":
                continue
            try:
                top, left = int(box.get("top")), int(box.get("left"))
                width, height = int(box.get("width")), int(box.get("height"))
            except (TypeError, ValueError):
                raise ValueError(f"{path}: image {name}: a <box> lacks integer top/left/width/height") from None
            boxes.append([left, top, left + width - 1, top + height - 1])
        out[name] = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    return out


def import_imglab(xml_files: list[str | os.PathLike[str]], out_dir: str | os.PathLike[str]) -> int:
    """Write the images and boxes of one or more imglab XML files in DARK FACE layout.

    Images are looked up next to their XML file and re-encoded as PNG (RGB uint8). Returns the
    number of images written.
    """
    # Output files are named by stem, so two images with one stem (``a/1.png``, ``b/1.png``)
    # would silently overwrite each other: check every name before writing anything.
    entries: list[tuple[Path, np.ndarray]] = []
    by_stem: dict[str, Path] = {}
    clashes: list[str] = []
    for xml in xml_files:
        xml = Path(xml)
        for name, boxes in read_imglab_xml(xml).items():
            source = xml.parent / name
            stem = Path(name).stem
            if stem in by_stem:
                clashes.append(f"{by_stem[stem]} and {source} (stem '{stem}')")
                continue
            by_stem[stem] = source
            entries.append((source, boxes))
    if clashes:
        raise ValueError(
            "images with the same file stem would write the same image/<stem>.png and "
            "label/<stem>.txt: " + "; ".join(clashes) + " (rename them or import them into separate folders)"
        )
    for source, boxes in entries:
        write_darkface_item(out_dir, source.stem, read_rgb(source), boxes)
    return len(entries)
