"""The one reader of the weights manifests, and the one weights folder.

Enhancers (``enhancers/weights_manifest.json``) and detectors
(``detectors/weights_manifest.json``) list the released files they load in the same format:
``{"files": {key: {repository, commit, path, url, sha256, bytes, licence}}}``, where ``key`` is
the file's path relative to the weights folder; detector entries add ``checksum_source`` and
may hold ``sha256: null`` where the authors publish none. Both packages read them here, so an
entry means the same thing wherever it is read, and a misspelt or missing field is an error
naming the manifest instead of an entry silently read differently by one package.

The weights folder is the option ``weights_dir``, else ``$LOWLIGHT_WEIGHTS``, else
``~/.cache/lowlight-faces/weights``; nothing is ever downloaded.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from lowlight_common.files import sha256_file

ENV_VAR = "LOWLIGHT_WEIGHTS"
DEFAULT_DIR = Path("~/.cache/lowlight-faces/weights")
MANIFEST_NAME = "weights_manifest.json"


class WeightsError(RuntimeError):
    """A weights file is missing, unreadable or not the released one."""


@dataclass(frozen=True)
class WeightsEntry:
    """One released file: where it comes from, its checksum and its licence."""

    key: str  # path relative to the weights folder
    repository: str
    commit: str
    path: str  # in the repository
    url: str
    sha256: str | None  # None: the authors publish none (detectors only; pinned by the user)
    bytes: int | None
    licence: str
    checksum_source: str = ""  # where a published sha256 comes from (detectors)


_FIELDS = {f.name for f in dataclasses.fields(WeightsEntry)} - {"key"}
_REQUIRED = {f.name for f in dataclasses.fields(WeightsEntry) if f.default is dataclasses.MISSING} - {"key"}


def weights_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The folder to look for weights in: explicit argument, then env var, then the default."""
    if explicit is not None:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return DEFAULT_DIR.expanduser()


def parse_manifest(text: str, source: str, *, require_sha256: bool = False) -> dict[str, WeightsEntry]:
    """The entries of a manifest's JSON ``text``; ``ValueError`` naming ``source`` and the key
    for an entry with unknown or missing fields (or without sha256 where one is required)."""
    files = json.loads(text)["files"]
    out = {}
    for key, fields in files.items():
        unknown = sorted(set(fields) - _FIELDS)
        missing = sorted(_REQUIRED - set(fields))
        if unknown or missing:
            problem = f"unknown field(s) {', '.join(unknown)}" if unknown else f"missing {', '.join(missing)}"
            raise ValueError(f"{source}: entry {key!r}: {problem}")
        if require_sha256 and not fields["sha256"]:
            raise ValueError(f"{source}: entry {key!r}: sha256 is required")
        out[key] = WeightsEntry(key=key, **fields)
    return out


@cache
def read_manifest(package: str, *, require_sha256: bool = False) -> dict[str, WeightsEntry]:
    """The manifest shipped in ``package`` (``<package>/weights_manifest.json``), read once."""
    text = resources.files(package).joinpath(MANIFEST_NAME).read_text("utf-8")
    return parse_manifest(text, f"{package}/{MANIFEST_NAME}", require_sha256=require_sha256)


def hash_released_file(
    entry: WeightsEntry,
    folder: str | os.PathLike[str] | None,
    what: str,
    how_to_get: Callable[[WeightsEntry, Path], str],
) -> tuple[Path, str]:
    """The file of ``entry`` in the weights folder and its sha256, for the caller to compare with
    what it trusts; :class:`WeightsError` when the file is absent (saying how to get it, in
    ``how_to_get``'s words) or unreadable. ``what`` names the file in messages."""
    path = weights_dir(folder) / entry.key
    if not path.is_file():
        raise WeightsError(f"{what} {entry.key} not found at {path}: {how_to_get(entry, path)}")
    try:
        return path, sha256_file(path)
    except OSError as exc:
        raise WeightsError(f"{what} {path} cannot be read ({exc})") from None
