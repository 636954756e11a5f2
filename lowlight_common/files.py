"""File digests: the SHA-256 that manifests, weights checks and model records all use."""

from __future__ import annotations

import hashlib
import os

__all__ = ["sha256_file"]


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in blocks (``hashlib.file_digest``), never whole in memory."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
