"""When a training run stops: the step limit, a wall-clock budget, or SIGTERM/SIGINT.

Kept apart from the training loop so that the rule is one object that can be read and tested
on its own: a run stops before its budget is spent when what is left would not cover the
slowest of the recent steps twice, the next validation and two checkpoint saves (the loop
always saves the last completed step before it returns).
"""

from __future__ import annotations

import collections
import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["StopPolicy"]


class StopPolicy:
    """Stop rule of one :meth:`diffll.training.trainer.Trainer.fit` call.

    ``started`` is a ``time.monotonic()`` value (default: now), so a caller can count its own
    start-up (imports, data, resume) against the budget. ``val_every`` is None when the run has
    no validation set.
    """

    SAFETY_S = 10.0

    def __init__(
        self,
        max_steps: int,
        max_minutes: float | None = None,
        val_every: int | None = None,
        started: float | None = None,
    ) -> None:
        self.max_steps = int(max_steps)
        self.max_minutes = max_minutes
        self.budget_s = None if max_minutes is None else 60.0 * float(max_minutes)
        self.val_every = val_every
        self.started = time.monotonic() if started is None else started
        self.recent: collections.deque[float] = collections.deque(maxlen=20)
        self.save_seconds = 5.0  # until the first save is timed
        self.val_seconds = 0.0
        self.signal: str | None = None

    def record_step(self, seconds: float) -> None:
        self.recent.append(seconds)

    def record_validation(self, seconds: float) -> None:
        self.val_seconds = seconds

    def record_save(self, seconds: float) -> None:
        self.save_seconds = seconds

    def finished(self, step: int) -> bool:
        return step >= self.max_steps

    def seconds_left(self) -> float | None:
        if self.budget_s is None:
            return None
        return self.budget_s - (time.monotonic() - self.started)

    def reason_to_stop(self, step: int) -> str | None:
        """Why the run should stop after ``step`` (None: go on). The step limit is the loop's
        own condition; this covers signals and the time budget."""
        if self.signal:
            return f"stopped by {self.signal}"
        left = self.seconds_left()
        if left is None:
            return None
        next_val = self.val_seconds if self.val_every and (step + 1) % self.val_every == 0 else 0.0
        slowest = max(self.recent) if self.recent else 0.0
        if left < 2.0 * slowest + next_val + 2.0 * self.save_seconds + self.SAFETY_S:
            return f"time budget of {self.max_minutes} min"
        return None

    @contextlib.contextmanager
    def catch_signals(self) -> Iterator[None]:
        """SIGTERM/SIGINT set :attr:`signal` instead of killing the run, so the loop finishes
        the current step and saves (main thread only: elsewhere handlers cannot be set)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            self.signal = signal.Signals(signum).name

        previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
