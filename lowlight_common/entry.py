"""The console commands' entry points (pyproject.toml ``[project.scripts]``): each applies the
thread policy (:mod:`lowlight_common.threads`), then imports its command's module and runs it.

The order matters: OpenMP reads its wait policy once, when ``import torch`` loads it, and a
command's module may import torch as it is imported (``diffll.cli`` does, through its package).
Applied here, before that import, the policy holds for every command however its modules are
written. (``python -m <package>.cli`` skips this module; those commands that import torch only
inside their handlers still get the policy from :func:`lowlight_common.cli.run_command`.)
"""

from __future__ import annotations

import importlib

from lowlight_common.threads import apply_thread_policy

COMMANDS = {
    "lldata": "lldata.cli",
    "diffll": "diffll.cli",
    "detectors": "detectors.cli",
    "enhance": "enhancers.cli",
    "iqa": "iqa.cli",
    "efficiency": "efficiency.cli",
    "reports": "reports.cli",
}


def run(command: str) -> int:
    """Apply the thread policy, then run ``command``'s ``main()`` (its exit code)."""
    apply_thread_policy()
    return importlib.import_module(COMMANDS[command]).main()


def lldata() -> int:
    return run("lldata")


def diffll() -> int:
    return run("diffll")


def detectors() -> int:
    return run("detectors")


def enhance() -> int:
    return run("enhance")


def iqa() -> int:
    return run("iqa")


def efficiency() -> int:
    return run("efficiency")


def reports() -> int:
    return run("reports")
