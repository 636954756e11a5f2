"""One workflow run at a time per results folder, and a results folder tied to one working directory.

Snakemake locks its working directory (``.snakemake/locks``), not the configured
``results_dir``. Two runs from different working directories (or a ``-s .../Snakefile`` run
from another folder) sharing one results folder would write into each other's outputs, and
each one's records (``.snakemake/metadata``, where Snakemake notes the params and code of every
output) would vouch for files the other wrote: both exit 0 and ``-n`` says up to date.

Two files in the results folder prevent it:

* ``.lowlight-owner``: the working directory whose Snakemake records describe this folder.
  A run from another working directory is refused before any job (:func:`check_owner`).
* ``.lowlight-lock``: the run executing now (host, process id and start time of the process,
  working directory, config files). Taken when jobs start and released when the run ends
  (:func:`acquire`, :func:`release`). A lock whose process is gone on this host (the run was
  killed) is stale and taken over, as Snakemake's ``--rerun-incomplete`` then redoes what it
  cut off; a lock held by a live process, or from another host (whose processes cannot be
  checked from here), is an error naming that run.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

OWNER_FILE = ".lowlight-owner"
LOCK_FILE = ".lowlight-lock"
RUN_ENV = "LOWLIGHT_RUN"


class RunLockError(RuntimeError):
    """The results folder belongs to, or is being written by, another run."""


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (``/proc/PID/stat`` field
    22), so that a process id reused after a reboot or wrap-around is not taken for the run."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        pass
    now = _process_start(pid)
    return start is None or now is None or now == start


def run_info(workdir: str | os.PathLike[str], configfiles: list[str] | tuple[str, ...] = (), *,
             workflow: str | os.PathLike[str] | None = None,
             results: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """This run: the process running Snakemake (its id and start), the working directory, the
    config files and, when given, the workflow's folder and the resolved results folder. Also
    what manifests record as the run that wrote them.

    The working directory is what ties a results folder to one set of Snakemake records. The
    workflow sets it to the repository (``workdir:`` in workflow/Snakefile), so runs started
    from any folder with ``-s path/to/Snakefile`` share it, and so one results folder; only an
    explicit ``--directory`` elsewhere makes a different run identity."""
    pid = os.getpid()
    run = {
        "host": socket.gethostname(),
        "pid": pid,
        "pid_start": _process_start(pid),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "workdir": str(Path(workdir).resolve()),
        "configfiles": [str(Path(c).resolve()) for c in configfiles],
    }
    if workflow is not None:
        run["workflow"] = str(Path(workflow).resolve())
    if results is not None:
        run["results"] = str(Path(results).resolve())
    return run


def describe(run: dict[str, Any]) -> str:
    files = ", ".join(run.get("configfiles") or []) or "the default config"
    return (f"process {run.get('pid')} on {run.get('host')}, started {run.get('started')}, "
            f"working directory {run.get('workdir')}, config {files}")


def check_owner(results: str | os.PathLike[str], workdir: str | os.PathLike[str]) -> None:
    """Refuse a results folder whose outputs another working directory's Snakemake records
    describe (runs, dry runs and job processes alike: nothing is written here)."""
    owner_file = Path(results) / OWNER_FILE
    try:
        owner = owner_file.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return
    here = str(Path(workdir).resolve())
    if owner and owner != here:
        raise RunLockError(
            f"results folder {results} belongs to the workflow run from {owner} (its outputs are "
            f"recorded in {owner}/.snakemake, not in {here}/.snakemake, so this run could neither tell "
            "which of them its config would change nor keep the two runs' files apart). Run from "
            f"{owner}, choose another results_dir, or, to take the folder over as it is, delete {owner_file}"
        )


def _read(lock: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(lock.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def acquire(results: str | os.PathLike[str], run: dict[str, Any]) -> str | None:
    """Take the lock of ``results`` for ``run`` and record the owner. Returns a line about a
    stale lock that was taken over (None otherwise); raises :class:`RunLockError` naming the run
    that holds it."""
    folder = Path(results)
    folder.mkdir(parents=True, exist_ok=True)
    check_owner(folder, run["workdir"])
    lock = folder / LOCK_FILE
    note = None
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            held = _read(lock)
            if held is None:  # released between the two calls
                continue
            same_host = held.get("host") == run["host"]
            if held.get("pid") == run["pid"] and same_host and held.get("pid_start") == run["pid_start"]:
                break  # ours already
            if same_host and isinstance(held.get("pid"), int) and not _alive(held["pid"], held.get("pid_start")):
                note = f"took over the stale lock {lock} of a run that is gone ({describe(held)})"
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
                continue
            where = "" if same_host else " (on another host: its process cannot be checked from here)"
            raise RunLockError(
                f"results folder {folder} is being written by another run{where}: {describe(held)}. "
                f"Wait for it to finish; if it is gone, delete {lock} and run again"
            ) from None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(run, handle, indent=1)
            handle.write("\n")
        break
    else:  # pragma: no cover - the lock changed hands twice in a row
        raise RunLockError(f"results folder {folder}: could not take the lock {lock}; run again")
    owner = folder / OWNER_FILE
    if not owner.is_file():
        owner.write_text(run["workdir"] + "\n", encoding="utf-8")
    return note


def release(results: str | os.PathLike[str], run: dict[str, Any]) -> None:
    """Remove the lock if ``run`` holds it."""
    lock = Path(results) / LOCK_FILE
    held = _read(lock)
    if held and held.get("pid") == run["pid"] and held.get("host") == run["host"]:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def current_run() -> dict[str, Any] | None:
    """The run a job belongs to (set by the workflow in the environment), for manifests."""
    text = os.environ.get(RUN_ENV)
    if not text:
        return None
    try:
        run = json.loads(text)
    except ValueError:
        return None
    return run if isinstance(run, dict) else None
