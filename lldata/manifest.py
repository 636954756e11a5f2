"""Shards and completion manifests: how a workflow splits a dataset and knows a job finished.

A *stems file* lists the image stems of one shard, one per line, and an *images file* the
paths of the same images in the same order (``lldata shard``): enhancement reads the images
file, so a dataset kind may spread its images over several folders; later steps, which read
outputs named by stem, read the stems file. A
*manifest* is written by a job only after every one of its outputs was written: it lists the
files with their SHA-256, so a later job (or a person) can tell a complete shard from an
interrupted one and check that nothing changed underneath.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from lowlight_common.atomic import atomic_write, write_json
from lowlight_common.files import sha256_file


def shard_stems(stems: list[str], num_shards: int) -> list[list[str]]:
    """Round-robin split (shard i gets stems i, i+n, ...): balanced and stable under appends."""
    if num_shards < 1:
        raise ValueError(f"number of shards must be at least 1, got {num_shards}")
    return [stems[i::num_shards] for i in range(num_shards)]


def write_stems(path: str | os.PathLike[str], stems: Iterable[str]) -> None:
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.writelines(f"{s}\n" for s in stems)


def read_stems(path: str | os.PathLike[str]) -> list[str]:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise FileNotFoundError(f"{path}: cannot read stems file ({exc})") from None
    return [line.strip() for line in lines if line.strip()]


def read_image_list(path: str | os.PathLike[str]) -> list[Path]:
    """The image paths of an images file (``lldata shard``), in order."""
    return [Path(line) for line in read_stems(path)]


def filter_by_stems(paths: list[Path], stems_file: str | os.PathLike[str] | None) -> list[Path]:
    """Keep the paths whose stem is listed; every listed stem must be found."""
    if stems_file is None:
        return paths
    wanted = read_stems(stems_file)
    by_stem = {p.stem: p for p in paths}
    missing = [s for s in wanted if s not in by_stem]
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise FileNotFoundError(f"{stems_file}: no input image for stem(s) {shown}")
    return [by_stem[s] for s in wanted]


def write_manifest(path: str | os.PathLike[str], files: Iterable[str | os.PathLike[str]], **info: object) -> None:
    """Record completed outputs (name relative to the manifest's folder when possible + SHA-256)."""
    path = Path(path)
    entries = {}
    for f in files:
        f = Path(f)
        try:
            key = os.path.relpath(f, path.parent)
        except ValueError:
            key = str(f)
        entries[key] = sha256_file(f)
    from lowlight_common.provenance import environment
    from lowlight_common.run_lock import current_run

    run = current_run()  # the workflow run that wrote it (None outside the workflow)
    keys = ("host", "pid", "started", "workdir", "workflow", "results", "configfiles", "git")
    extra = {"run": {k: run.get(k) for k in keys if k in run}} if run else {}
    extra["environment"] = environment()  # python, platform, package versions of the job
    write_json(path, {"files": dict(sorted(entries.items())), "count": len(entries), **info, **extra}, indent=1,
               sort_keys=True)


def verify_manifest(path: str | os.PathLike[str]) -> list[str]:
    """Problems with the files a manifest lists (missing or changed); empty when all is well."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    problems = []
    for rel, digest in data["files"].items():
        target = (path.parent / rel).resolve()
        if not target.is_file():
            problems.append(f"{target}: listed in {path} but missing")
        elif sha256_file(target) != digest:
            problems.append(f"{target}: changed since {path} was written")
    return problems
