"""Enhance many files: expand folders, write one PNG per input stem, keep going past bad files.

A corrupt image in a folder of thousands should not cost the other results; every failure is
reported as it happens and returned, and the command line turns any failure into a non-zero
exit status at the end.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from enhancers.base import Method
from lldata.imageio import float_to_uint8, is_image_file, read_rgb, write_png


@dataclass
class FolderResult:
    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def collect_inputs(inputs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files as given plus the image files directly inside given folders (sorted).

    Two inputs with the same stem would overwrite each other's output, so that is an error.
    """
    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            paths.extend(sorted(c for c in p.iterdir() if c.is_file() and is_image_file(c)))
        else:
            paths.append(p)  # missing or unreadable files are reported when processed
    seen: dict[str, Path] = {}
    for p in paths:
        if p.stem in seen and seen[p.stem] != p:
            raise ValueError(
                f"inputs {seen[p.stem]} and {p} share the stem {p.stem!r}; "
                "their outputs would overwrite each other"
            )
        seen[p.stem] = p
    return list(dict.fromkeys(paths))


def enhance_folder(
    method: Method,
    inputs: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    progress: bool = True,
) -> FolderResult:
    """Enhance every input into ``out_dir/<stem>.png``; failures are collected, not raised."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = FolderResult()
    paths = collect_inputs(inputs)
    bar = tqdm(paths, desc=method.info.name, unit="img", disable=not progress, file=sys.stderr)
    for path in bar:
        target = out / f"{path.stem}.png"
        try:
            image = read_rgb(path)
            enhanced = method.enhance(image, name=path.name)
            write_png(target, float_to_uint8(enhanced))
        except Exception as exc:  # noqa: BLE001 - reported and counted, then we go on
            message = f"{type(exc).__name__}: {exc}"
            result.failed.append((path, message))
            tqdm.write(f"error: {path}: {message}", file=sys.stderr)
            continue
        result.written.append(target)
    return result
