"""Child process: load one method, time it on one resolution, print one JSON line.

Run as ``python -m efficiency.worker '<json spec>'``. The parent reads the last stdout line.
Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``
(the method's own allocations, weights included); on CPU the process's peak resident set
(``VmHWM``), reported both in total and above the resident set before the first call
(interpreter, libraries and weights are in the baseline).

``threads`` in the spec sets torch's intra-op threads (the parent also sets OMP/MKL/OpenBLAS
in the environment before the child starts, which is the only time those libraries read it);
the count the child actually ran with is reported back, so the CSV records it. ``min_time_s``
repeats a cheap method until its timed runs add up to that many seconds: one visit's median
then rests on many runs instead of one, which matters for a cheap reference method.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
import traceback

import numpy as np

from lowlight_common.memory import peak_rss_bytes  # VmHWM; shared with diffll.benchmarks

MAX_RUNS = 200  # cap on timed runs of one visit when min_time_s asks for more


def threads_in_use(torch) -> int:
    """torch's intra-op thread count when torch is loaded, else what the environment asks for."""
    if torch is not None:
        return int(torch.get_num_threads())
    return int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)


def _rss_peak_mb() -> float:
    return peak_rss_bytes() / (1024.0 * 1024.0)


def _rss_now_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / (1024.0 * 1024.0)


def benchmark_image(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A deterministic dark photograph of the requested size (content matters for some methods)."""
    from PIL import Image
    from skimage import data

    from lldata.synthesis import DarkenParams, darken

    base = Image.fromarray(data.coffee()).resize((width, height), Image.Resampling.BILINEAR)
    return darken(np.asarray(base), DarkenParams(exposure=0.08), np.random.default_rng(seed))


def create(spec: dict):
    options = dict(spec.get("options", {}))
    name = options.pop("method", spec["method"])  # a config label may name a registry method
    from efficiency.dummy import DUMMIES

    if name in DUMMIES:
        return DUMMIES[name](device=spec["device"], **options)
    from enhancers import create_method

    return create_method(name, device=spec["device"], **options)


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text


def measure(spec: dict) -> dict:
    device = spec["device"]
    cuda = device.startswith("cuda")
    torch = None
    from efficiency.dummy import DUMMIES

    if cuda or spec.get("options", {}).get("method", spec["method"]) not in DUMMIES:  # calibration methods start without torch: faster tests
        import torch  # noqa: F811

        torch.manual_seed(0)
        if spec.get("threads"):
            torch.set_num_threads(int(spec["threads"]))
    if spec.get("image"):  # prepared once by the parent (generating a 4K frame costs seconds per visit)
        image = np.load(spec["image"])
    else:
        image = benchmark_image(spec["width"], spec["height"])
    method = create(spec)
    if spec.get("threads") and "cv2" in sys.modules:  # OpenCV keeps its own thread pool
        sys.modules["cv2"].setNumThreads(int(spec["threads"]))

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    budget = float(spec.get("budget_s", float("inf")))
    baseline_mb = _rss_now_mb()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    times = []
    warmup, repeats = int(spec["warmup"]), int(spec["repeats"])
    min_time = float(spec.get("min_time_s", 0.0))
    index = 0
    while True:
        sync()
        t0 = time.perf_counter()
        method.enhance(image)
        sync()
        elapsed = time.perf_counter() - t0
        if index >= warmup:
            times.append(elapsed)
        index += 1
        more = len(times) < repeats or (sum(times) < min_time and len(times) < MAX_RUNS)
        if not more:
            break
        # Stop early when the next run would exceed the budget; keep what was measured.
        if time.perf_counter() - started + elapsed > budget:
            if not times:
                times.append(elapsed)  # a single (cold) run is all the budget allows
                return _result(spec, "over_budget", times, baseline_mb, cuda, torch)
            break
    return _result(spec, "ok", times, baseline_mb, cuda, torch)


def _result(spec, status, times, baseline_mb, cuda, torch) -> dict:
    if cuda:
        peak = torch.cuda.max_memory_allocated() / (1024.0 * 1024.0)
        mem_kind, base = "cuda_max_allocated", float("nan")
    else:
        peak, mem_kind, base = _rss_peak_mb(), "cpu_peak_rss", baseline_mb
    quartiles = statistics.quantiles(times, n=4) if len(times) >= 2 else [times[0]] * 3
    return {
        "status": status,
        "runs": len(times),
        "times_s": times,  # every timed run, so that the runner can pool rounds
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "iqr_s": quartiles[2] - quartiles[0],
        "peak_mem_mb": peak,
        "baseline_mem_mb": base,
        "mem_kind": mem_kind,
        "threads": threads_in_use(torch),
    }


def main() -> int:
    spec = json.loads(sys.argv[1])
    try:
        result = measure(spec)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a result row
        if _is_oom(exc):
            result = {"status": "OOM", "error": str(exc)[:300]}
        else:
            traceback.print_exc()
            result = {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}
    print(json.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
