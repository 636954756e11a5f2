"""Run a detector over a folder and write one DARK FACE prediction file per image."""

from __future__ import annotations

import os
from pathlib import Path

from tqdm import tqdm

from detectors.base import Detector
from detectors.formats import image_sort_key, write_prediction_file
from lldata.imageio import is_image_file, read_rgb


def list_images(image_dir: str | os.PathLike[str]) -> list[Path]:
    """Image files of a folder in image-id order; two files with the same stem are an error
    because both would write the same ``<stem>.txt``."""
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise FileNotFoundError(f"image folder {image_dir} does not exist")
    files = [p for p in image_dir.iterdir() if p.is_file() and is_image_file(p)]
    seen: dict[str, Path] = {}
    for p in files:
        if p.stem in seen:
            raise ValueError(f"two images share the id {p.stem!r}: {seen[p.stem]} and {p}")
        seen[p.stem] = p
    if not files:
        raise FileNotFoundError(f"image folder {image_dir} has no image files")
    return sorted(files, key=lambda p: image_sort_key(p.stem))


def detect_folder(
    detector: Detector,
    image_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    skip_existing: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Write ``out_dir/<stem>.txt`` (``x1 y1 x2 y2 score`` lines) for every image; returns them.

    The detector is built once by the caller. Each file is written atomically, so an interrupted
    run leaves only complete files and ``skip_existing`` can resume it.
    """
    return detect_files(detector, list_images(image_dir), out_dir, skip_existing=skip_existing, progress=progress)


def detect_files(
    detector: Detector,
    images: list[Path],
    out_dir: str | os.PathLike[str],
    *,
    skip_existing: bool = False,
    progress: bool = True,
) -> list[Path]:
    """:func:`detect_folder` for an explicit list of image files (e.g. one shard)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for path in tqdm(
        images,
        desc=f"detect {getattr(detector, 'name', '')}",
        disable=not progress,
        unit="img",
    ):
        target = out_dir / f"{path.stem}.txt"
        if skip_existing and target.exists():
            written.append(target)
            continue
        image = read_rgb(path)  # ImageReadError names the file
        write_prediction_file(target, detector.detect(image))
        written.append(target)
    return written
