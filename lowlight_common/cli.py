"""What every console command shares: ``--version``, where diagnostics go, and exit codes.

Exit codes, the same for every command (as ``grep`` and ``ruff`` use them):

* 0: done;
* 1: the command ran and the answer is a failure: a dataset has problems, some of the inputs
  failed (the others were written), two runs disagree, a download failed;
* 2: the command could not run on what it was given: a usage error (argparse), an input file
  or folder that is missing or unreadable, a malformed config, option or JSON, an unknown name.
  One line on stderr names the file or value (:func:`run_command`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

__all__ = ["BAD_INPUT", "PROJECT_LOGGERS", "add_version_flag", "bad_input_message", "project_version",
           "run_command", "setup_logging"]

# Errors that mean "what the command was given is wrong", not "the program failed": a named
# file that is absent, a folder where a file belongs, an unreadable file, a malformed value
# (ValueError covers JSON and Unicode decoding errors, the project's option and config checks
# and the registries' UnknownNameError).
BAD_INPUT: tuple[type[BaseException], ...] = (
    FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError, ValueError,
)


def _yaml_error() -> tuple[type[BaseException], ...]:
    try:
        import yaml
    except ImportError:  # pragma: no cover - pyyaml is a dependency
        return ()
    return (yaml.YAMLError,)


def bad_input_message(exc: BaseException) -> str:
    """The error as one line that starts with the file it is about when it has one."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc) or type(exc).__name__


def run_command(prog: str, handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command's handler with the project's exit codes: bad input (:data:`BAD_INPUT`, YAML
    errors) is one line ``<prog>: error: ...`` on stderr and exit code 2; anything else is a
    failure of the program and keeps its traceback. The thread policy
    (:mod:`lowlight_common.threads`) is applied first, for runs as ``python -m <package>.cli``
    that bypass the console entry points (:mod:`lowlight_common.entry`)."""
    from lowlight_common.threads import apply_thread_policy

    apply_thread_policy()
    try:
        return int(handler(args))
    except BAD_INPUT + _yaml_error() as exc:
        print(f"{prog}: error: {bad_input_message(exc)}", file=sys.stderr)
        return 2


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
