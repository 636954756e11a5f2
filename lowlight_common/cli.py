"""What every console command shares: ``--version``."""

from __future__ import annotations

import argparse

__all__ = ["add_version_flag", "project_version"]


def project_version() -> str:
    """The installed distribution's version (pyproject.toml), or ``unknown`` from a bare checkout."""
    from importlib import metadata

    try:
        return metadata.version("lowlight-faces")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def add_version_flag(parser: argparse.ArgumentParser) -> None:
    """``--version`` prints ``<prog> <version>`` and exits 0, as the version of the results'
    producer that bug reports and provenance records ask for."""
    parser.add_argument("--version", action="version", version=f"%(prog)s {project_version()}")
