"""Run the benchmark grid: one fresh child process per (method, resolution) cell.

Cells run from the smallest resolution up. When a method runs out of memory, exceeds the time
budget or the child's hard timeout, its larger resolutions are not run and are recorded as
``skipped`` (they would cost at least as much), so a slow method cannot hold the table hostage.

With ``rounds`` > 1 the whole grid is visited again (fresh children each time) and the timings
of all rounds are pooled: on a shared or virtualised machine whose speed drifts over minutes,
a median over several visits spread across the run is steadier than the median of one visit.
``round_spread`` (largest over smallest per-round median, minus 1) shows how much the machine
drifted under each cell.

With ``interleave`` the grid is visited resolution by resolution instead, every method once per
round in a shuffled order (:mod:`efficiency.interleave`), and each cell also gets its time as a
ratio to a reference method measured in the same rounds; :mod:`efficiency.benchmark` chooses.

Labels are enhancement methods by default; a label whose options carry ``"kind": "detector"``
times a face detector's ``detect`` instead (``efficiency run --detectors``), with the same loop.
Ratios and in-visit pairing are only between labels of the same kind. ``image_path`` times a
photo resized (bilinear) to each size instead of the synthetic frame; the CSV's ``image`` says
which, ``kind`` what each row timed and, for detectors, ``weights`` whether they were released.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from efficiency.fidelity import add_psnr, output_path
from efficiency.projection import (
    PROJECTION_COLUMNS,
    add_projections,
    memory_budget_bytes,
    preflight,
)
from efficiency.worker import batch_size_of, label_kind
from lowlight_common.atomic import atomic_write
from lowlight_common.devices import cpu_model

DEFAULT_RESOLUTIONS = ((600, 400), (1280, 720), (1920, 1080), (2560, 1440), (3840, 2160))

COLUMNS = [
    "method", "width", "height", "megapixels", "device", "device_name", "precision", "torch_version",
    "date", "status", "runs", "rounds", "median_s", "min_s", "max_s", "iqr_s", "round_spread",
    "peak_mem_mb", "baseline_mem_mb", "mem_kind", "threads", "min_time_s", "interleaved", "seed",
    "reference", "pairing", "ratio", "ratio_low", "ratio_high", "ratio_pairs", "ratio_spread", "visit_s", "visit_ratio", "note",
    "kind", "image", "weights", "batch_size", "psnr_db", "psnr_reference", *PROJECTION_COLUMNS,
]


@dataclass
class BenchmarkSettings:
    resolutions: tuple[tuple[int, int], ...] = DEFAULT_RESOLUTIONS
    device: str = "cpu"
    warmup: int = 1
    repeats: int = 5
    rounds: int = 1  # visits of the whole grid; timings pooled over rounds
    budget_s: float = 120.0  # per cell, warm-up included
    timeout_s: float = 900.0  # hard limit per child process
    threads: int | None = None  # torch/OpenMP threads in the child (None: library default)
    min_time_s: float = 0.0  # a visit repeats a cheap method until its timed runs add up to this
    interleave: bool = False  # resolution by resolution, methods in a shuffled order each round
    reference: str | None = None  # ratio denominator (interleave); None: zero_dce_pp or the cheapest learned
    pairing: str = "visit"  # interleave: "visit" times the reference inside each visit; "round": against its own visit
    seed: int = 0  # visit order and bootstrap
    image_dir: str | None = None  # where the benchmark frames are cached (.npy); None: each child makes its own
    image_path: str | None = None  # a photo resized (bilinear) to each size instead of the synthetic frame
    psnr_reference: str | None = None  # each enhancer's output is compared with this label's (efficiency.fidelity)
    output_dir: str | None = None  # where children save outputs for the PSNR; None: with the cached frames
    bootstrap: int = 2000  # resamples of the rounds for the ratio's interval
    method_options: dict[str, dict] = field(default_factory=dict)
    memory_budget_mb: float | None = None  # a cell estimated over it is not run (None: half the RAM)
    deadline_s: float | None = None  # cells not started within this many seconds of the run are skipped


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    return f"{cpu_model()} ({os.cpu_count()} logical cores)"  # the device_name column's form


def _precision(options: dict) -> str:
    return str(options.get("precision", "fp32"))


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def child_env(threads: int | None, base: dict[str, str] | None = None) -> dict[str, str]:
    """The child's environment: with ``threads`` the OpenMP, MKL and OpenBLAS pools are sized
    before the child starts (they read these variables once, when loaded)."""
    env = dict(os.environ if base is None else base)
    if threads:
        env.update({name: str(threads) for name in THREAD_VARIABLES})
    return env


def cached_image(width: int, height: int, directory: str | os.PathLike[str], source: str | os.PathLike[str] | None = None) -> Path:
    """The benchmark frame of this size as an .npy file in ``directory``, made on first use, so
    that the children load it instead of each synthesising it again (the same pixels). With
    ``source`` the frame is that photo resized (bilinear), cached under a name of its path."""
    from efficiency.worker import benchmark_image, photo_frame

    if source is None:
        path = Path(directory) / f"frame_{width}x{height}.npy"
    else:
        tag = hashlib.sha1(str(Path(source).resolve()).encode()).hexdigest()[:12]
        path = Path(directory) / f"photo_{tag}_{width}x{height}.npy"
    if not path.is_file():
        frame = benchmark_image(width, height) if source is None else photo_frame(source, width, height)
        with atomic_write(path, "wb") as handle:
            np.save(handle, frame)
    return path


def kind_of(label: str, settings: BenchmarkSettings) -> str:
    """What a label times: ``"enhancer"`` or ``"detector"`` (its options' ``kind``)."""
    return label_kind(settings.method_options.get(label, {}))


def cell_spec(method: str, width: int, height: int, settings: BenchmarkSettings) -> dict:
    """What one child is asked to measure (``python -m efficiency.worker '<json>'``).

    A label's options may carry ``threads`` (e.g. ``{"he_t2": {"method": "he", "threads": 2}}``):
    it overrides ``settings.threads`` for that label, so that thread counts can be compared side
    by side in one interleaved run. The reference is paired in the visit only when it is of the
    label's kind (a detector's time over an enhancer's is no ratio anyone needs) and thread count."""
    image = str(cached_image(width, height, settings.image_dir, settings.image_path)) if settings.image_dir else None
    options = dict(settings.method_options.get(method, {}))
    threads = options.pop("threads", settings.threads)
    spec = {
        "image": image, "photo": settings.image_path,
        "method": method, "options": options, "width": width, "height": height,
        "device": settings.device, "warmup": settings.warmup, "repeats": settings.repeats, "budget_s": settings.budget_s,
        "threads": threads, "min_time_s": settings.min_time_s,
    }
    if settings.psnr_reference and settings.output_dir and kind_of(method, settings) == "enhancer":
        spec["output"] = str(output_path(settings.output_dir, method, width, height))
    partner = pair_reference(settings)
    if partner and partner != method and kind_of(partner, settings) == kind_of(method, settings):
        ref_options = dict(settings.method_options.get(partner, {}))
        if ref_options.pop("threads", settings.threads) == threads:  # a ratio across thread counts is not a pair
            spec["pair_with"] = {"label": partner, "method": partner, "options": ref_options}
    return spec


def pair_reference(settings: BenchmarkSettings) -> str | None:
    """The reference timed inside each visit (interleaved runs with ``pairing="visit"``): the
    configured one. Without one, the interleaved runner sets the default before the run."""
    if not settings.interleave or settings.pairing != "visit":
        return None
    return settings.reference


def run_cell(method: str, width: int, height: int, settings: BenchmarkSettings) -> dict:
    spec = cell_spec(method, width, height, settings)
    env = child_env(spec["threads"])
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "efficiency.worker", json.dumps(spec)],
            capture_output=True, text=True, timeout=settings.timeout_s, env=env,
        )
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "note": f"child exceeded {settings.timeout_s:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode in (-9, 137) and not lines:
        return {"status": "OOM", "note": "child killed (SIGKILL), most likely by the out-of-memory killer"}
    if not lines:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"status": "error", "note": f"exit {proc.returncode}: {tail[0][:200]}"}
    result = json.loads(lines[-1])
    if "error" in result:
        result["note"] = result.pop("error")
    return result


def pool_rounds(results: list[dict]) -> dict:
    """One cell's result from its visits: timings pooled, the highest memory peak kept.

    The first visit decides the status. A later visit that went over budget still contributes
    its timed run (dropping it would bias the median toward fast visits); one that failed
    without a timing is named in ``note``.
    """
    first = dict(results[0])
    if first.get("status") != "ok":
        return first
    timed = [r for r in results if r.get("times_s")]
    times = [t for r in timed for t in r["times_s"]]
    medians = [statistics.median(r["times_s"]) for r in timed]
    quartiles = statistics.quantiles(times, n=4) if len(times) >= 2 else [times[0]] * 3
    first.update(
        runs=len(times), rounds=len(results), median_s=statistics.median(times), min_s=min(times),
        max_s=max(times), iqr_s=quartiles[2] - quartiles[0], round_spread=max(medians) / min(medians) - 1,
        peak_mem_mb=max(r["peak_mem_mb"] for r in timed),
    )
    failed = [f"visit {i}: {r.get('status')}" for i, r in enumerate(results, start=1) if not r.get("times_s")]
    if failed:
        first["note"] = "; ".join(failed)
    return first


def cell_base(method: str, width: int, height: int, settings: BenchmarkSettings, name: str, torch_version: str, date: str) -> dict:
    """The identity and settings columns of one cell's row, with the label's FLOPs and memory
    estimate for this size where its class gives them (:mod:`efficiency.flops`)."""
    from efficiency.diffusion_labels import TIMING_ONLY_WEIGHTS, is_timing_only
    from efficiency.flops import label_bytes, label_flops

    options = settings.method_options.get(method, {})
    extra = {"flops": label_flops(method, options, width, height),
             "est_mem_mb": label_bytes(method, options, width, height) / 2**20}
    if is_timing_only(options):
        extra["weights"] = TIMING_ONLY_WEIGHTS
    return {**extra, **{
        "method": method, "width": width, "height": height, "megapixels": width * height / 1e6,
        "device": settings.device, "device_name": name,
        "precision": _precision(settings.method_options.get(method, {})),
        "torch_version": torch_version, "date": date, "threads": settings.threads,
        "min_time_s": settings.min_time_s, "interleaved": settings.interleave,
        "kind": kind_of(method, settings), "image": settings.image_path or "synthetic",
        "batch_size": batch_size_of(settings.method_options.get(method, {})) if kind_of(method, settings) == "enhancer" else None,
    }}


def refused(base: dict, basis: dict | None, settings: BenchmarkSettings, started: float) -> dict | None:
    """The result of a cell not to be run (:func:`efficiency.projection.preflight`, or the run's
    deadline passed), or None. ``basis``: the label's largest measured ok cell so far."""
    import time

    if settings.deadline_s is not None and time.monotonic() - started > settings.deadline_s:
        return {"status": "skipped", "note": f"not run: the run's deadline of {settings.deadline_s:g} s had passed"}
    return preflight(base["width"], base["height"], base.get("flops", float("nan")), base.get("est_mem_mb", float("nan")) * 2**20,
                     basis, settings.budget_s, settings.warmup + settings.repeats,
                     memory_budget_bytes(settings.memory_budget_mb, settings.device))


def check_labels(methods: list[str], settings: BenchmarkSettings) -> None:
    """Settings that cannot work are errors before any child starts: a bad ``batch_size`` or
    ``kind``, or a PSNR reference that is not a benchmarked enhancer."""
    for method in methods:
        batch_size_of(settings.method_options.get(method, {}))
    reference = settings.psnr_reference
    if reference and (reference not in methods or kind_of(reference, settings) != "enhancer"):
        raise ValueError(f"PSNR reference {reference!r} is not among the benchmarked enhancement methods: {', '.join(methods)}")


def run_grid(methods: list[str], settings: BenchmarkSettings, progress=print, partial_csv: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Measure every (method, resolution) cell, one method after the other; with
    ``partial_csv`` the table so far is written after each cell. Later rounds revisit the cells
    that were ``ok`` in the first. The entry that checks the settings and caches the frames
    first is :func:`efficiency.benchmark.run_benchmark`."""
    import torch

    name = device_name(settings.device)
    date = _dt.date.today().isoformat()
    cells: list[tuple[dict, list[dict]]] = []  # (row identity, results of each visit)

    def table() -> pd.DataFrame:
        rows = [{**base, **{k: v for k, v in pool_rounds(results).items() if k != "times_s"}} for base, results in cells]
        frame = add_psnr(pd.DataFrame(rows, columns=COLUMNS), settings.psnr_reference, settings.output_dir)
        return add_projections(frame)

    import time

    started = time.monotonic()
    for method in methods:
        stop_reason = None
        basis = None
        for width, height in sorted(settings.resolutions, key=lambda r: r[0] * r[1]):
            base = cell_base(method, width, height, settings, name, torch.__version__, date)
            if stop_reason:
                cells.append((base, [{"status": "skipped", "note": stop_reason}]))
                progress(f"{method} {width}x{height}: skipped ({stop_reason})")
                continue
            result = refused(base, basis, settings, started) or run_cell(method, width, height, settings)
            if result.get("status") == "ok":
                basis = {**base, "median_s": result["median_s"]}
            cells.append((base, [result]))
            shown = f"{result['median_s']:.4f} s, {result['peak_mem_mb']:.0f} MB" if "median_s" in result else result.get("note", "")
            progress(f"{method} {width}x{height}: {result['status']} {shown}")
            if result["status"] != "ok":
                stop_reason = f"{result['status']} at {width}x{height}"
            if partial_csv is not None:
                write_csv(table(), partial_csv)
    for round_index in range(2, settings.rounds + 1):
        for base, results in cells:
            if results[0].get("status") != "ok":
                continue
            result = run_cell(base["method"], base["width"], base["height"], settings)
            results.append(result)
            progress(f"round {round_index}: {base['method']} {base['width']}x{base['height']}: {result.get('status')} {result.get('median_s', '')}")
            if partial_csv is not None:
                write_csv(table(), partial_csv)
    return table()


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    with atomic_write(path, "w", encoding="utf-8") as handle:
        frame.to_csv(handle, index=False, float_format="%.6g")
