"""Child process: load one method or detector, time it on one resolution, print one JSON line.

A label's options say what it is: ``"kind": "detector"`` times ``detector.detect(image)`` of a
detector from the detectors registry (``"method"`` names it when the label differs; with
``"random_weights_if_absent": true`` a detector whose released checkpoint is absent runs on
seeded random weights, and the result's ``weights`` says so: such timings are not the released
model's, since random scores pass the thresholds far more often); otherwise (``"enhancer"``,
the default) ``method.enhance(image)`` of an enhancement method. Both are prepared as one
zero-argument call, timed by the same loop.

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

``batch_size`` in an enhancer label's options (e.g. ``{"diffll_bf16_b4": {"method": "diffll",
"precision": "bf16", "batch_size": 4}}``) times ``method.enhance_many`` on that many copies of the
frame in one call (one forward for methods that batch, a loop for the others); the times reported
are per image (a call's time over the batch size), so a batched label's ratio to a per-image
reference is its cost per image.

``output`` (a path) asks the child to save the method's output (the first image of a batch) as
an .npy file once timing and memory are read, from one extra untimed call, so that the parent
can compare it with a reference label's output (:mod:`efficiency.fidelity`). The file is not
rewritten when it exists: the first visit's output stands for the cell.

``pair_with`` (``{"label", "method", "options"}``) times a reference method in the same process,
alternating with the method's timed runs: reference, method, reference, method, ..., reference.
Each method run's ratio is to the geometric mean of the reference runs just before and after it,
so a change of the machine's speed over seconds cancels in the ratio (pairing visits made in the
same round only cancels drift over minutes). The memory peak is read before the reference is
loaded, so it stays the method's own.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
import traceback
from collections.abc import Callable

import numpy as np

from lowlight_common.memory import peak_rss_bytes  # VmHWM
from lowlight_common.registry import is_plugin_spec, load_plugin

MAX_RUNS = 200  # cap on timed runs of one visit when min_time_s asks for more
KINDS = ("enhancer", "detector")  # what a label's options may say it is ("kind")
RANDOM_WEIGHTS_SEED = 0  # seed of the random weights of a detector whose checkpoint is absent


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


def photo_frame(path: str | os.PathLike[str], width: int, height: int) -> np.ndarray:
    """A photograph resized (bilinear) to the benchmark size: content-dependent costs (MTCNN's
    candidates per pyramid level) are then those of a real scene, not of the synthetic frame."""
    from PIL import Image

    from lldata.imageio import ImageReadError, read_rgb

    try:
        rgb = read_rgb(path)
    except ImageReadError as exc:
        raise ValueError(f"benchmark image: {exc}") from None
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BILINEAR))


def label_kind(options: dict) -> str:
    """``"enhancer"`` or ``"detector"``: what a label's options (``"kind"``) say it times."""
    kind = str(options.get("kind", "enhancer"))
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} in the options of a benchmark label (expected one of {', '.join(KINDS)})")
    return kind


def create(name: str, options: dict, device: str):
    """The method behind a label: a registry name, or ``"module:Class"`` for any class with the
    enhancement-method interface (how the tests' calibration methods are benchmarked)."""
    options = dict(options)
    options.pop("kind", None)
    name = options.pop("method", name)  # a config label may name a registry method
    if is_plugin_spec(name):
        return load_plugin(name)(device=device, **options)
    from enhancers import create_method

    return create_method(name, device=device, **options)


def create_detector_for(name: str, options: dict, device: str):
    """The detector behind a label: a detectors-registry name, or ``"module:Class"`` for any class
    with ``detect(image)``. With the option ``random_weights_if_absent`` a registry detector whose
    checkpoint is absent gets seeded random weights (``random_weights_seed``), for timing only."""
    options = dict(options)
    options.pop("kind", None)
    name = options.pop("method", name)
    random_if_absent = bool(options.pop("random_weights_if_absent", False))
    if is_plugin_spec(name):
        return load_plugin(name)(device=device, **options)
    from detectors.registry import create_detector, unavailable_reason

    if random_if_absent and options.get("random_weights_seed") is None and unavailable_reason(name, **options):
        options["random_weights_seed"] = RANDOM_WEIGHTS_SEED
    return create_detector(name, device=device, **options)


def weights_label(detector) -> str:
    """The CSV's ``weights`` of a detector: released, or random (its timing is not the model's)."""
    if getattr(detector, "random_weights", False):
        seed = getattr(detector, "random_weights_seed", RANDOM_WEIGHTS_SEED)
        return f"random (seed {seed}; checkpoint absent, timing only)"
    return "released"


def batch_size_of(options: dict) -> int:
    """The images per timed call of a label (its options' ``batch_size``, default 1)."""
    value = options.get("batch_size", 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"batch_size must be a positive integer, not {value!r}")
    if value > 1 and label_kind(options) != "enhancer":
        raise ValueError("batch_size applies to enhancement methods only")
    return value


def prepare(label: str, options: dict, device: str, image: np.ndarray) -> tuple[Callable[[], object], dict]:
    """The zero-argument call to time for a label (its kind decides which), and the fields it
    adds to the result (a detector's ``weights``, an enhancer's ``batch_size``). An enhancer's
    call returns its output image (the first of a batch)."""
    if label_kind(options) == "detector":
        detector = create_detector_for(label, options, device)
        return (lambda: detector.detect(image)), {"weights": weights_label(detector)}
    options = dict(options)
    batch = batch_size_of(options)
    options.pop("batch_size", None)
    method = create(label, options, device)
    if batch == 1:
        return (lambda: method.enhance(image)), {"batch_size": 1}
    frames, names = [image] * batch, [None] * batch
    many = getattr(method, "enhance_many", None)  # a module:Class plug-in may not batch
    if many is None:
        return (lambda: [method.enhance(frame) for frame in frames][0]), {"batch_size": batch}
    return (lambda: many(frames, names)[0]), {"batch_size": batch}


def _is_plugin(spec: dict) -> bool:
    return ":" in str(spec.get("options", {}).get("method", spec["method"]))


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text


class _Clock:
    """Times one call, synchronising CUDA before both clock reads."""

    def __init__(self, cuda: bool, torch) -> None:
        self.sync = torch.cuda.synchronize if cuda else (lambda: None)

    def time(self, call) -> float:
        self.sync()
        t0 = time.perf_counter()
        call()
        self.sync()
        return time.perf_counter() - t0


def measure(spec: dict) -> dict:
    """Time one method or detector on one frame (see the module docstring), paired with a
    reference of the same kind in the same process when ``spec["pair_with"]`` names one. The
    frame: the parent's cached .npy (``image``), else the photo ``photo`` resized, else the
    synthetic :func:`benchmark_image`."""
    device = spec["device"]
    cuda = device.startswith("cuda")
    torch = None
    if cuda or not _is_plugin(spec):  # calibration plug-ins start without torch: faster tests
        import torch  # noqa: F811

        torch.manual_seed(0)
        if spec.get("threads"):
            torch.set_num_threads(int(spec["threads"]))
    if spec.get("image"):  # prepared once by the parent (generating a 4K frame costs seconds per visit)
        image = np.load(spec["image"])
    elif spec.get("photo"):
        image = photo_frame(spec["photo"], spec["width"], spec["height"])
    else:
        image = benchmark_image(spec["width"], spec["height"])
    run, extra = prepare(spec["method"], spec.get("options", {}), device, image)
    batch = int(extra.get("batch_size", 1))
    if spec.get("threads") and "cv2" in sys.modules:  # OpenCV keeps its own thread pool
        sys.modules["cv2"].setNumThreads(int(spec["threads"]))
    pair = spec.get("pair_with")

    def reference() -> Callable[[], object]:
        return prepare(pair["method"], pair.get("options", {}), device, image)[0]

    ref_batch = batch_size_of(pair.get("options", {})) if pair else 1
    result = {**_timed(spec, run, reference if pair else None, cuda, torch, batch, ref_batch), **extra}
    if spec.get("output") and result["status"] == "ok" and not os.path.exists(spec["output"]):
        save_output(run(), spec["output"])
    return result


def save_output(image, path: str) -> None:
    """One output image as float32 ``H x W x 3`` in an .npy file, written whole or not at all."""
    from lowlight_common.atomic import atomic_write

    with atomic_write(path, "wb") as handle:
        np.save(handle, np.asarray(image, dtype=np.float32))


def _timed(spec: dict, run: Callable[[], object], reference: Callable[[], Callable[[], object]] | None, cuda: bool, torch,
           per_call: int = 1, ref_per_call: int = 1) -> dict:
    """The timing loop shared by every kind: warm-up, timed runs until ``repeats`` and
    ``min_time_s`` are met or the budget stops them, and with ``reference`` (which creates the
    reference's call) the runs alternate with the reference's. The times returned are per
    image: a call's time over ``per_call`` (the batch size; ``ref_per_call`` the reference's);
    budget and ``min_time_s`` apply to whole calls."""
    result = _timed_calls(spec, run, reference, cuda, torch)
    if per_call > 1:
        for key in ("median_s", "min_s", "max_s", "iqr_s"):
            result[key] /= per_call
        result["times_s"] = [t / per_call for t in result["times_s"]]
    if "pair_ratios" in result and per_call != ref_per_call:
        result["pair_ratios"] = [q * ref_per_call / per_call for q in result["pair_ratios"]]
        result["reference_times_s"] = [t / ref_per_call for t in result["reference_times_s"]]
    return result


def _timed_calls(spec: dict, run: Callable[[], object], reference: Callable[[], Callable[[], object]] | None, cuda: bool,
                 torch) -> dict:
    clock = _Clock(cuda, torch)
    budget = float(spec.get("budget_s", float("inf")))
    baseline_mb = _rss_now_mb()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    warmup, repeats = int(spec["warmup"]), int(spec["repeats"])
    min_time = float(spec.get("min_time_s", 0.0))
    pair = spec.get("pair_with")
    times: list[float] = []

    def more() -> bool:
        return len(times) < repeats or (sum(times) < min_time and len(times) < MAX_RUNS)

    def over_budget(next_cost: float) -> bool:  # would the next call end past the budget?
        return time.perf_counter() - started + next_cost > budget

    # Warm-up; a method whose next call would end past the budget is over budget, its last
    # (cold) call the cell's single timing.
    for _ in range(warmup):
        elapsed = clock.time(run)
        if over_budget(elapsed):
            return _result(spec, "over_budget", [elapsed], baseline_mb, cuda, torch)
    if reference is None:  # timed runs until repeats and min_time are met or the budget stops them
        while True:
            elapsed = clock.time(run)
            times.append(elapsed)
            if not more() or over_budget(elapsed):
                return _result(spec, "ok", times, baseline_mb, cuda, torch)
    memory = _memory(baseline_mb, cuda, torch)  # before the reference adds its own allocations
    if warmup == 0:  # the memory peak needs one call of the method alone: it is the warm-up
        clock.time(run)
        memory = _memory(baseline_mb, cuda, torch)
    try:
        run_reference = reference()
    except Exception as exc:  # noqa: BLE001 - the method's own timing still stands
        while more() and not over_budget(times[-1] if times else 0.0):
            times.append(clock.time(run))
        result = _result(spec, "ok", times, baseline_mb, cuda, torch, memory)
        result["note"] = f"not paired: reference {pair['label']} failed: {type(exc).__name__}: {exc}"[:300]
        return result

    clock.time(run_reference)  # the reference's warm-up
    ref_times = [clock.time(run_reference)]
    ratios: list[float] = []
    while True:
        elapsed = clock.time(run)
        ref_times.append(clock.time(run_reference))
        times.append(elapsed)
        # against the reference just before and just after: drift within the pair cancels
        ratios.append(elapsed / float(np.sqrt(ref_times[-2] * ref_times[-1])))
        if not more() or over_budget(elapsed + ref_times[-1]):
            break
    result = _result(spec, "ok", times, baseline_mb, cuda, torch, memory)
    result.update(pair_ratios=ratios, reference_times_s=ref_times, paired_with=pair["label"])
    return result


def _memory(baseline_mb, cuda, torch) -> dict:
    if cuda:
        return {"peak_mem_mb": torch.cuda.max_memory_allocated() / (1024.0 * 1024.0), "baseline_mem_mb": float("nan"),
                "mem_kind": "cuda_max_allocated"}
    return {"peak_mem_mb": _rss_peak_mb(), "baseline_mem_mb": baseline_mb, "mem_kind": "cpu_peak_rss"}


def _result(spec, status, times, baseline_mb, cuda, torch, memory: dict | None = None) -> dict:
    quartiles = statistics.quantiles(times, n=4) if len(times) >= 2 else [times[0]] * 3
    return {
        "status": status,
        "runs": len(times),
        "times_s": times,  # every timed run, so that the runner can pool rounds
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "iqr_s": quartiles[2] - quartiles[0],
        **(memory or _memory(baseline_mb, cuda, torch)),
        "threads": threads_in_use(torch),
    }


def main() -> int:
    from lowlight_common.threads import apply_thread_policy

    apply_thread_policy()  # before measure() imports torch (lowlight_common/threads.py)
    spec = json.loads(sys.argv[1])
    try:
        result = measure(spec)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a result row
        if isinstance(exc, MemoryError) and getattr(exc, "estimated_bytes", None):
            result = {"status": "over_memory", "error": str(exc)[:300]}  # refused by an estimate, nothing allocated
        elif _is_oom(exc):
            result = {"status": "OOM", "error": str(exc)[:300]}
        else:
            traceback.print_exc()
            result = {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}
    print(json.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
