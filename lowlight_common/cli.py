"""What every console command shares: ``--version`` and where diagnostics go."""

from __future__ import annotations

import argparse
import logging

__all__ = ["PROJECT_LOGGERS", "add_version_flag", "project_version", "setup_logging"]


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


PROJECT_LOGGERS = ("lowlight_common", "lldata", "diffll", "enhancers", "detectors", "iqa",
                   "efficiency", "reports")


def setup_logging(level: int = logging.INFO) -> None:
    """Diagnostics (which model was used, what was skipped) as plain lines on stderr, where the
    workflow's job logs collect them: the project's packages at ``level``, libraries at WARNING.
    Handlers a caller configured already are kept."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    for name in PROJECT_LOGGERS:
        logging.getLogger(name).setLevel(level)
