"""The training stop rule on its own: budget margin, signals, no budget."""

from __future__ import annotations

import os
import signal
import time

from diffll.training.stopping import StopPolicy


def test_budget_stops_when_left_time_would_not_cover_two_slow_steps_and_saves() -> None:
    started = time.monotonic() - 45.0  # 45 s of a 60 s budget spent: 15 s left
    policy = StopPolicy(max_steps=100, max_minutes=1.0, val_every=None, started=started)
    policy.record_save(0.0)
    policy.record_step(0.1)
    assert policy.reason_to_stop(1) is None  # needs 2 * 0.1 s + 10 s margin
    policy.record_step(3.0)  # one slow step among the recent: needs 2 * 3 s + 10 s
    assert policy.reason_to_stop(2) == "time budget of 1.0 min"


def test_next_validation_counts_only_when_it_is_due() -> None:
    started = time.monotonic() - 30.0
    policy = StopPolicy(max_steps=100, max_minutes=1.0, val_every=5, started=started)
    policy.record_save(0.0)
    policy.record_step(0.5)
    policy.record_validation(25.0)
    assert policy.reason_to_stop(3) is None  # step 4 has no validation
    assert policy.reason_to_stop(4) is not None  # step 5 validates: 25 s would overrun


def test_no_budget_never_stops_and_step_limit_is_finished() -> None:
    policy = StopPolicy(max_steps=3)
    policy.record_step(1e6)
    assert policy.reason_to_stop(1) is None
    assert not policy.finished(2) and policy.finished(3)


def test_sigterm_is_caught_and_named() -> None:
    policy = StopPolicy(max_steps=10)
    before = signal.getsignal(signal.SIGTERM)
    with policy.catch_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)
        assert policy.reason_to_stop(1) == "stopped by SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before
