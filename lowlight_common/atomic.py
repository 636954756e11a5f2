"""Atomic file writing: write to a temporary file beside the target, then rename.

A rename within one directory is atomic on POSIX, so an interrupted job never leaves a half
written file under the final name that a rerun (or Snakemake) would trust.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any


def current_umask() -> int:
    """The process's umask. Linux reports it in /proc (no change to process state); elsewhere
    it is read by setting and restoring it, which is only racy against other threads creating
    files at that very moment."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _plain_open_mode(path: Path) -> int:
    """The permission bits ``open(path, "w")`` would leave: an existing file keeps its own,
    a new one gets 0o666 minus the umask (mkstemp's 0o600 would hide results from the group)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """Open a temporary file for writing; move it onto ``path`` only if the block succeeds.

    The file ends with the permissions a plain ``open()`` would give it (see above)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp adds 8 characters; the name is cut so that the whole stays under 255 bytes
    # whatever the target's length (the target itself then fails or not on its own merits).
    stub = os.fsencode(path.name)[:200].decode("utf-8", "ignore") or "x"
    fd, tmp = tempfile.mkstemp(prefix=f".{stub}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            os.fchmod(handle.fileno(), _plain_open_mode(path))
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(
    path: str | os.PathLike[str],
    data: Any,
    *,
    indent: int | None = 2,
    sort_keys: bool = False,
    default: Callable[[Any], Any] | None = None,
) -> None:
    """``data`` as JSON with a final newline, atomically (the one JSON writer of the project)."""
    with atomic_write(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=indent, sort_keys=sort_keys, default=default)
        handle.write("\n")


def write_csv(
    path: str | os.PathLike[str],
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    format_value: Callable[[Any], Any] | None = None,
) -> None:
    """Rows as CSV under a header of ``columns`` (other keys left out), atomically."""
    with atomic_write(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: format_value(row[c]) for c in columns} if format_value else row)
