"""Run one workflow job's command: the full output to its log file, a short account on the console.

Every rule's shell command runs through this wrapper (``python -m lowlight_common.joblog --log
LOG --label LABEL -- COMMAND...``). Why: Snakemake sends a job's output wherever the rule
redirects it, so with ``> {log} 2>&1`` a job that runs for hours prints nothing and a failed
job shows only Snakemake's job block, the cause sitting in a log file. Here:

* every line of the command's stdout and stderr goes to the log, as before;
* progress bars (tqdm, which the enhance and detect commands draw per image) become one console
  line per image, ``LABEL: 3/250 images, 0.41 img/s, ETA 10m07s``, at most one every
  ``--every`` seconds (the last one always), and the same lines go to the log instead of the
  bar's carriage-return soup;
* the job ends with one summary line on the console: ``done LABEL in 12.3 s`` or
  ``FAILED LABEL (exit 2): <the command's last error line>``, so the cause of a failure is on
  the console without opening the log (the default profile also prints the whole log of a
  failed job: ``show-failed-logs``).

The exit code is the command's own. Nothing is parsed but the ``N/M [`` counter of a tqdm bar.
"""

from __future__ import annotations

import argparse
import codecs
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO

# tqdm's bar without a terminal: "diffll:  40%|####      | 2/5 [00:10<00:15,  5.0s/img]".
_BAR = re.compile(r"(?<![\d/])(\d+)/(\d+) \[")
_ERROR_LINE = re.compile(r"(?:^|[\s:])error:|^\w*(?:Error|Exception)\b.*:")
_ERROR_HINTS = ("error", "Error", "ERROR", "invalid", "missing", "not found", "refus")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Progress:
    """Turns counter updates ``done/total`` into console lines with rate and ETA."""

    def __init__(self, label: str, every: float, console: TextIO, log: TextIO, clock=time.monotonic) -> None:
        self.label, self.every, self.console, self.log, self.clock = label, every, console, log, clock
        self.start: float | None = None
        self.last_done = -1
        self.last_print = float("-inf")
        self.lines = 0

    def update(self, done: int, total: int) -> None:
        now = self.clock()
        if self.start is None:
            self.start = now
        if done == self.last_done:
            return
        self.last_done = done
        if done == 0 or (done < total and now - self.last_print < self.every):
            return
        self.last_print = now
        elapsed = max(now - self.start, 1e-9)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else float("inf")
        shown = f"{rate:.2f} img/s" if rate >= 0.1 else f"{elapsed / done:.1f} s/img"
        line = f"{self.label}: {done}/{total} images, {shown}, ETA {_duration(eta)}"
        print(line, file=self.console, flush=True)
        self.log.write(line + "\n")
        self.lines += 1


def _last_error(lines: list[str]) -> str:
    """The line that most likely says why the command failed: the last error line (``prog:
    error: ...``, ``file:line: error: ...``, a traceback's ``SomeError: ...``; with a count when
    there were several), else the last line that mentions an error, else the last line."""
    text = [line.strip() for line in lines if line.strip()]
    errors = [line for line in text if _ERROR_LINE.search(line)]
    if errors:
        more = f" (and {len(errors) - 1} more error line(s) in the log)" if len(errors) > 1 else ""
        return errors[-1] + more
    for line in reversed(text):
        if any(hint in line for hint in _ERROR_HINTS):
            return line
    return text[-1] if text else "(no output)"


def run(command: list[str], log_path: Path, label: str, every: float = 5.0,
        console: TextIO | None = None) -> int:
    """Run ``command``; see the module docstring. Returns its exit code."""
    console = console if console is not None else sys.stderr
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    tail: list[str] = []
    with open(log_path, "w", encoding="utf-8") as log:
        progress = Progress(label, every, console, log)
        try:
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except OSError as exc:
            print(f"FAILED {label}: cannot run {command[0]}: {exc}", file=console, flush=True)
            log.write(f"cannot run {command}: {exc}\n")
            return 127
        pending = ""
        assert proc.stdout is not None
        # Raw bytes as they come (a progress bar redraws with "\r", which must reach the split
        # below), decoded incrementally so that a character split across reads survives.
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        fd = proc.stdout.fileno()
        for data in iter(lambda: os.read(fd, 65536), b""):
            pending += decoder.decode(data)
            *pieces, pending = re.split(r"\r\n|\r|\n", pending)
            for piece in pieces:
                _handle(piece, progress, log, tail)
            log.flush()
        pending += decoder.decode(b"", final=True)
        if pending:
            _handle(pending, progress, log, tail)
        code = proc.wait()
        elapsed = time.monotonic() - started
        if code == 0:
            summary = f"done {label} in {elapsed:.1f} s"
        else:
            summary = f"FAILED {label} (exit {code}) after {elapsed:.1f} s: {_last_error(tail)} [log: {log_path}]"
        log.write(summary + "\n")
    print(summary, file=console, flush=True)
    return code


def _handle(piece: str, progress: Progress, log: TextIO, tail: list[str]) -> None:
    match = _BAR.search(piece)
    if match:
        progress.update(int(match.group(1)), int(match.group(2)))
        return
    log.write(piece + "\n")
    if piece.strip():
        tail.append(piece)
        del tail[:-50]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lowlight_common.joblog", description=__doc__.split("\n")[0])
    parser.add_argument("--log", required=True, type=Path, help="the job's log file (all output)")
    parser.add_argument("--label", required=True, help="the job, as the console names it")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between progress lines (default 5)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command and its arguments")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (put it after --)")
    return run(command, args.log, args.label, args.every)


if __name__ == "__main__":
    sys.exit(main())
