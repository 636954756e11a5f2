"""Enhance many files: expand folders, write one PNG per input stem, keep going past bad files.

A corrupt image in a folder of thousands should not cost the other results; every failure is
reported as it happens and returned, and the command line turns any failure into a non-zero
exit status at the end.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from enhancers.base import Method
from lldata.imageio import is_image_file, read_rgb, write_png
from lowlight_common.files import sha256_file


@dataclass
class FolderResult:
    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    resumed: list[Path] = field(default_factory=list)  # finished by an earlier, killed run

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


class Journal:
    """Images an interrupted run of the same job already finished, so a rerun can skip them.

    One JSON line per finished image: input and output SHA-256 plus a fingerprint of the method,
    its settings and its weights files' SHA-256. An image is skipped only when all three still
    match (the input is unchanged, the output on disk is the one written, the method, options
    and weights are the same). A line cut short by a kill is ignored.

    Limits: the journal guards against kills and against changes made between the two runs,
    not against the journal itself being edited (its lines are plain JSON, not signed): a line
    rewritten to match a swapped output is believed. Deleting the journal redoes the shard.
    """

    def __init__(self, path: str | os.PathLike[str], fingerprint: str) -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.entries: dict[str, dict[str, str]] = {}
        if self.path.is_file():
            for line in self.path.read_text(errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(entry, dict) and entry.get("fingerprint") == fingerprint:
                    self.entries[str(entry.get("output"))] = entry

    def finished(self, source: Path, target: Path) -> bool:
        entry = self.entries.get(str(target))
        if entry is None or not target.is_file() or not source.is_file():
            return False
        return (
            entry.get("input_sha256") == sha256_file(source)
            and entry.get("output_sha256") == sha256_file(target)
        )

    def record(self, source: Path, target: Path) -> None:
        entry = {
            "fingerprint": self.fingerprint,
            "input": str(source),
            "input_sha256": sha256_file(source),
            "output": str(target),
            "output_sha256": sha256_file(target),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def method_fingerprint(method: Method, weights_dir: str | os.PathLike[str] | None = None) -> str:
    """What decides an output's bytes: method, options, device, and the sha256 of every weights
    file the method read (a file replaced at the same path is another model)."""
    from enhancers.weights import file_digests, method_weight_files

    weights = file_digests(method_weight_files(method.info.weights_files, weights_dir))
    settings = {"name": method.info.name, "options": method.info.options, "device": str(method.device),
                "weights": weights}
    return json.dumps(settings, sort_keys=True, default=str)


def enhance_folder(
    method: Method,
    inputs: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    progress: bool = True,
    batch_size: int | str = "auto",
    journal: Journal | None = None,
) -> FolderResult:
    """Enhance every input into ``out_dir/<stem>.png``; failures are collected, not raised.

    Images of one :meth:`Method.batch_key` are grouped into batches of up to
    :meth:`Method.max_batch` (``batch_size``: an integer or ``"auto"``; methods that do not
    batch take one image at a time). A batch that fails is retried image by image, so one bad
    image costs only itself. With a ``journal``, images a killed run already finished (and that
    still verify) are skipped, and every new output is recorded as soon as it is written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = FolderResult()
    paths = collect_inputs(inputs)
    bar = tqdm(total=len(paths), desc=method.info.name, unit="img", disable=not progress, file=sys.stderr)

    def fail(path: Path, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}"
        result.failed.append((path, message))
        tqdm.write(f"error: {path}: {message}", file=sys.stderr)

    def write(path: Path, target: Path, enhanced: np.ndarray) -> None:
        write_png(target, method.to_uint8(enhanced))  # the authors' 8-bit rule where it differs
        if journal is not None:
            journal.record(path, target)
        result.written.append(target)

    def run(group: list[tuple[Path, Path, np.ndarray]]) -> None:
        try:
            outputs = method.enhance_many([g[2] for g in group], [g[0].name for g in group])
        except Exception as exc:  # noqa: BLE001 - retried one by one, then reported
            if len(group) == 1:
                fail(group[0][0], exc)
                bar.update(1)
                return
            for item in group:
                run([item])
            return
        for (path, target, _), enhanced in zip(group, outputs, strict=True):
            try:
                write(path, target, enhanced)
            except Exception as exc:  # noqa: BLE001 - reported and counted, then we go on
                fail(path, exc)
            bar.update(1)

    pending: dict[object, list[tuple[Path, Path, np.ndarray]]] = {}
    for path in paths:
        target = out / f"{path.stem}.png"
        if journal is not None and journal.finished(path, target):
            result.written.append(target)
            result.resumed.append(target)
            bar.update(1)
            continue
        try:
            image = read_rgb(path)
            key = method.batch_key(image.shape[0], image.shape[1])
            limit = method.max_batch(image.shape[0], image.shape[1], batch_size)
        except Exception as exc:  # noqa: BLE001 - reported and counted, then we go on
            fail(path, exc)
            bar.update(1)
            continue
        group = pending.setdefault(key, [])
        group.append((path, target, image))
        if len(group) >= limit:
            run(pending.pop(key))
    for key in list(pending):
        run(pending.pop(key))
    bar.close()
    return result
