"""One thread policy for every command and benchmark child: threads that sleep when idle, and
the same thread count for onnxruntime as for torch.

Why: OpenMP's default wait policy lets a worker thread spin for a while after each parallel
region, waiting for the next one. On a machine shared with other jobs (CI runners, a node
running several workflow jobs, a laptop) the spinning threads steal the cores the other threads
of the same computation need: torch methods ran 4-12x slower with 2 threads on a busy 2-core
machine, and ``OMP_WAIT_POLICY=PASSIVE`` removed the penalty (issue 31). The runtime reads the
variable once, when the library is loaded (``import torch``), so :func:`apply_thread_policy`
must run before that: the console entry points (:mod:`lowlight_common.entry`) and the benchmark
child (``efficiency.worker``) call it first thing. A value the user set is kept.

onnxruntime does not read ``OMP_NUM_THREADS``: by default it starts one thread per physical
core, and its thread pool spins too. :func:`onnx_session_options` gives a session torch's
thread count (:func:`thread_count`) and turns spinning off under the passive policy, so that a
``--threads``/``OMP_NUM_THREADS`` setting means the same for an ONNX detector as for a PyTorch
one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from typing import Any

__all__ = ["DEFAULTS", "apply_thread_policy", "onnx_session_options", "passive_wait", "thread_count"]

DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE"}  # set unless the environment has a value already


def apply_thread_policy(environ: MutableMapping[str, str] | None = None) -> None:
    """Put :data:`DEFAULTS` into the environment (``os.environ`` by default) where unset."""
    env = os.environ if environ is None else environ
    for name, value in DEFAULTS.items():
        if not env.get(name):
            env[name] = value


def passive_wait(environ: MutableMapping[str, str] | None = None) -> bool:
    """Whether the OpenMP wait policy in force is passive (the policy's default when unset)."""
    env = os.environ if environ is None else environ
    return (env.get("OMP_WAIT_POLICY") or DEFAULTS["OMP_WAIT_POLICY"]).strip().upper() == "PASSIVE"


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(value) if value else 0
    except ValueError:
        return None
    return number if number > 0 else None


def thread_count(environ: MutableMapping[str, str] | None = None) -> int:
    """torch's intra-op thread count, without importing torch: ``torch.get_num_threads()`` when
    torch is loaded already (a ``torch.set_num_threads`` call counts), else what torch would pick
    at start-up: ``OMP_NUM_THREADS``, then ``MKL_NUM_THREADS``, then the physical core count."""
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_num_threads"):
        return int(torch.get_num_threads())
    env = os.environ if environ is None else environ
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        number = _positive_int(env.get(name))
        if number is not None:
            return number
    import psutil

    return int(psutil.cpu_count(logical=False) or os.cpu_count() or 1)


def onnx_session_options(num_threads: int = 0) -> Any:
    """``onnxruntime.SessionOptions`` under the policy: ``num_threads`` intra-op threads (0:
    :func:`thread_count`), one inter-op thread (graphs run sequentially), and no spinning of idle
    pool threads when the wait policy is passive. Every ONNX model of the project is opened with
    these (``onnxruntime.InferenceSession(path, sess_options=onnx_session_options(n))``)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(num_threads) if int(num_threads) > 0 else thread_count()
    options.inter_op_num_threads = 1
    spin = "0" if passive_wait() else "1"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.inter_op.allow_spinning", spin)
    return options
