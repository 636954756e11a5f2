"""Validation findings: one :class:`Issue` per problem, naming the file (and line) it concerns."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Issue:
    """One problem found in a dataset. ``severity`` is "error" (the item cannot be trusted) or
    "warning" (it was repaired on request, e.g. a clipped box)."""

    path: Path
    code: str
    message: str
    line: int | None = None
    severity: str = "error"

    def __str__(self) -> str:
        # A name that is not valid UTF-8 is shown with its bad bytes escaped (printing it as is
        # would raise UnicodeEncodeError on a UTF-8 terminal).
        path = os.fsencode(self.path).decode("utf-8", "backslashreplace")
        where = f"{path}:{self.line}" if self.line is not None else path
        return f"{where}: {self.severity}: {self.message} [{self.code}]"


class DatasetError(ValueError):
    """Raised when a dataset has errors; carries every issue so a user can fix them in one go."""

    def __init__(self, root: Path, issues: list[Issue]):
        self.root = root
        self.issues = issues
        errors = [i for i in issues if i.severity == "error"]
        shown = "\n".join(f"  {i}" for i in errors[:50])
        more = f"\n  ... and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__(f"dataset {root} has {len(errors)} error(s):\n{shown}{more}")
