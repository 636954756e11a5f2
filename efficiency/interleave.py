"""Interleaved benchmark: methods timed side by side, each cell also as a ratio to a reference.

On a shared or virtualised machine the speed drifts by tens of percent over minutes, so a
method timed minutes after another mostly measures the machine. Here the grid is visited one
resolution at a time: in every round each method is visited once (a fresh child process, as in
:mod:`efficiency.runner`), in an order shuffled per (seed, resolution, round), so that no method
is always measured first or last and every method sees the same drift. A cell's ratio is the
median over rounds of (its visit's time / the reference's visit's time in the same round at the
same resolution; ``ratio_spread``: largest over smallest of those, minus 1); its interval is a percentile bootstrap of that median over the rounds (pairs
resampled together, seeded). The ratio is what a reader takes from such a table anyway: which
method is how many times slower than another.

Cells run from the smallest resolution up. A method whose first visit at a resolution is not
``ok`` (OOM, over budget, timeout, error) is not revisited there and its larger resolutions are
``skipped``, as in the non-interleaved runner.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import random
import statistics
from collections.abc import Callable

import numpy as np
import pandas as pd

from efficiency.fidelity import add_psnr
from efficiency.projection import add_projections
from efficiency.runner import (
    COLUMNS,
    BenchmarkSettings,
    cell_base,
    device_name,
    kind_of,
    pool_rounds,
    refused,
    run_cell,
    write_csv,
)

DEFAULT_REFERENCE = "zero_dce_pp"
LEARNED_FAMILIES = ("learned", "diffusion")

Measure = Callable[[str, int, int, BenchmarkSettings], dict]


def visit_order(methods: list[str], seed: int, width: int, height: int, round_index: int) -> list[str]:
    """``methods`` shuffled for one round at one resolution. The generator is seeded by the
    round and resolution (not by what ran before), so the order is reproducible and does not
    change when another method drops out at a smaller size."""
    order = list(methods)
    random.Random(f"{seed}:{width}x{height}:{round_index}").shuffle(order)
    return order


def visit_seconds(result: dict | None) -> float:
    """One visit's time: the median of its timed runs (NaN for a visit without any)."""
    if not result or not result.get("times_s"):
        return float("nan")
    return float(statistics.median(result["times_s"]))


def paired_ratios(visits: list[float], reference: list[float]) -> np.ndarray:
    """Per-round ratios method / reference, for the rounds where both have a time."""
    n = min(len(visits), len(reference))
    a, b = np.asarray(visits[:n], dtype=float), np.asarray(reference[:n], dtype=float)
    ok = np.isfinite(a) & np.isfinite(b) & (b > 0)
    return a[ok] / b[ok]


def median_interval(values, resamples: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """Median of ``values`` and a percentile-bootstrap interval of it (NaNs without values)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    medians = np.median(x[rng.integers(0, x.size, size=(resamples, x.size))], axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(medians, [tail, 1.0 - tail])
    return float(np.median(x)), float(low), float(high)


def ratio_spreads(frame: pd.DataFrame, min_seconds: float = 0.05, reference: str | None = None) -> pd.DataFrame:
    """Per cell of an interleaved table: the spread of the per-visit ratios to the reference
    (``visit_ratio`` where the reference was timed inside each visit, else recomputed from
    ``visit_s`` against the reference's visit of the same round; the run's reference, or ``reference``). Only cells over ``min_seconds``, not
    the reference itself, and run with the reference's thread count (labels may differ in it)."""
    from efficiency.scaling import parse_visits

    ok = frame[frame["status"] == "ok"].set_index(["method", "width", "height"])
    rows = []
    for (method, width, height), row in ok.iterrows():
        ref = reference or row["reference"]
        if method == ref or row["median_s"] <= min_seconds or (ref, width, height) not in ok.index:
            continue
        if row["threads"] != ok.loc[(ref, width, height), "threads"]:
            continue
        inside = parse_visits(row.get("visit_ratio")) if ref == row["reference"] else np.array([])
        if inside.size:  # paired inside each visit: the per-visit medians
            ratios = inside
        else:
            ratios = paired_ratios(list(parse_visits(row["visit_s"])), list(parse_visits(ok.loc[(ref, width, height), "visit_s"])))
        if ratios.size >= 2:
            rows.append({"method": method, "width": width, "height": height, "threads": row["threads"], "pairs": ratios.size,
                         "ratio": float(np.median(ratios)), "ratio_spread": float(ratios.max() / ratios.min() - 1),
                         "log_ratio_sd": float(np.std(np.log(ratios), ddof=1))})
    return pd.DataFrame(rows, columns=["method", "width", "height", "threads", "pairs", "ratio", "ratio_spread", "log_ratio_sd"])


def is_learned(label: str, settings: BenchmarkSettings) -> bool:
    """Whether a benchmarked label is a learned method (registry family learned or diffusion)."""
    name = settings.method_options.get(label, {}).get("method", label)
    try:
        from enhancers import method_info

        return method_info(name).family in LEARNED_FAMILIES
    except (ValueError, ImportError):
        return False


def choose_reference(methods: list[str], settings: BenchmarkSettings, medians: dict[str, dict[tuple[int, int], float]],
                     learned: Callable[[str], bool] | None = None) -> str | None:
    """The ratio denominator: the configured one, else ``zero_dce_pp``, else the learned method
    (any method when none is learned) that ran at the most resolutions, cheapest at the smallest.

    ``medians``: per method, its median seconds per (width, height) where it ran. ``learned``:
    whether a label is a learned method (default: :func:`is_learned`, from the registry).
    """
    learned = learned or (lambda m: is_learned(m, settings))
    if settings.reference:
        return settings.reference
    if DEFAULT_REFERENCE in methods:
        return DEFAULT_REFERENCE
    # ratios are within a kind only: among enhancers when there are any, else among detectors
    methods = [m for m in methods if kind_of(m, settings) == "enhancer"] or methods
    candidates = [m for m in methods if medians.get(m) and learned(m)] or [m for m in methods if medians.get(m)]
    if not candidates:
        return None

    def cost(method: str) -> tuple[int, float]:
        cells = medians[method]
        smallest = min(cells, key=lambda r: r[0] * r[1])
        return -len(cells), cells[smallest]

    return min(candidates, key=cost)


def visit_ratio(result: dict | None) -> float:
    """One visit's ratio to the reference timed inside it: the median of its pairs (NaN without)."""
    if not result or not result.get("pair_ratios"):
        return float("nan")
    return float(statistics.median(result["pair_ratios"]))


def _row(base: dict, results: list[dict]) -> dict:
    if not results:  # a partial table written before this cell's first visit
        return {**base, "status": "pending"}
    pooled = {k: v for k, v in pool_rounds(results).items() if k not in ("times_s", "pair_ratios", "reference_times_s", "paired_with")}
    row = {**base, **pooled}
    seconds = [visit_seconds(r) for r in results]
    if pooled.get("status") == "ok":
        finite = [s for s in seconds if np.isfinite(s)]
        row["median_s"] = statistics.median(finite)  # of the visits: each visit counts once, however many runs it made
        row["visit_s"] = ";".join("nan" if not np.isfinite(s) else f"{s:.6g}" for s in seconds)
    return row


def interleaved_table(methods: list[str], settings: BenchmarkSettings, bases: dict, visits: dict) -> pd.DataFrame:
    """One row per cell; ratio columns against the reference measured in the same rounds."""
    rows = {key: _row(bases[key], visits[key]) for key in bases}
    medians: dict[str, dict[tuple[int, int], float]] = {}
    for (method, width, height), row in rows.items():
        if row.get("status") == "ok":
            medians.setdefault(method, {})[(width, height)] = row["median_s"]
    reference = choose_reference(methods, settings, medians)
    for (method, width, height), row in rows.items():
        row.update(seed=settings.seed, reference=reference)
        if row.get("status") != "ok" or reference is None or kind_of(method, settings) != kind_of(reference, settings):
            continue  # no ratio across kinds (a detector over an enhancer reference)
        mine = visits[(method, width, height)]
        timed = [r for r in mine if r.get("times_s")]
        if method != reference and timed and all(r.get("paired_with") == reference for r in timed):
            # paired inside every visit: pool the pairs of all visits (each a ratio measured
            # within seconds); the spread is that of the per-visit medians
            ratios = np.asarray([q for r in timed for q in r["pair_ratios"]], dtype=float)
            per_visit = np.asarray([visit_ratio(r) for r in timed])
            row["pairing"] = "visit"
            row["visit_ratio"] = ";".join(f"{q:.6g}" for q in per_visit)
        else:
            ref_key = (reference, width, height)
            if ref_key not in visits or rows[ref_key].get("status") != "ok":
                row["ratio_pairs"] = 0
                continue
            ratios = paired_ratios([visit_seconds(r) for r in mine], [visit_seconds(r) for r in visits[ref_key]])
            per_visit = ratios
            row["pairing"] = "round"
        row["ratio"], row["ratio_low"], row["ratio_high"] = median_interval(ratios, settings.bootstrap, settings.seed)
        if ratios.size < 2:  # one pair gives a ratio but says nothing about its uncertainty
            row["ratio_low"] = row["ratio_high"] = float("nan")
        row["ratio_pairs"] = int(ratios.size)
        row["ratio_spread"] = float(per_visit.max() / per_visit.min() - 1) if per_visit.size else float("nan")
    frame = add_psnr(pd.DataFrame(list(rows.values()), columns=COLUMNS), settings.psnr_reference, settings.output_dir)
    return add_projections(frame)


def _basis(method: str, bases: dict, visits: dict) -> dict | None:
    """The label's largest measured ok cell so far, with its median over visits (for
    :func:`efficiency.runner.refused`)."""
    done = [(key, v) for key, v in visits.items() if key[0] == method and v and v[0].get("status") == "ok"]
    if not done:
        return None
    key, results = max(done, key=lambda kv: kv[0][1] * kv[0][2])
    seconds = [visit_seconds(r) for r in results if np.isfinite(visit_seconds(r))]
    return {**bases[key], "median_s": statistics.median(seconds)} if seconds else None


def run_interleaved(methods: list[str], settings: BenchmarkSettings, progress: Callable[[str], object] = print,
                    partial_csv: str | os.PathLike[str] | None = None, measure: Measure = run_cell) -> pd.DataFrame:
    """Measure the grid resolution by resolution, methods shuffled in every round.

    ``measure(method, width, height, settings)`` runs one visit (default: a fresh child
    process). With ``partial_csv`` the table so far is written after every visit.
    """
    if settings.reference and settings.reference not in methods:
        raise ValueError(f"reference method {settings.reference!r} is not among the benchmarked methods: {', '.join(methods)}")
    if settings.pairing not in ("visit", "round"):
        raise ValueError(f"pairing must be 'visit' or 'round', not {settings.pairing!r}")
    if settings.pairing == "visit" and not settings.reference and DEFAULT_REFERENCE in methods:
        settings = dataclasses.replace(settings, reference=DEFAULT_REFERENCE)  # known before the run: timed in every visit
    import time

    import torch

    started = time.monotonic()
    name, date = device_name(settings.device), _dt.date.today().isoformat()
    bases: dict[tuple[str, int, int], dict] = {}
    visits: dict[tuple[str, int, int], list[dict]] = {}
    stopped: dict[str, str] = {}

    def save() -> None:
        if partial_csv is not None:
            write_csv(interleaved_table(methods, settings, bases, visits), partial_csv)

    for width, height in sorted(settings.resolutions, key=lambda r: r[0] * r[1]):
        for method in methods:
            key = (method, width, height)
            bases[key] = cell_base(method, width, height, settings, name, torch.__version__, date)
            visits[key] = [{"status": "skipped", "note": stopped[method]}] if method in stopped else []
        live = [m for m in methods if m not in stopped]
        for round_index in range(1, settings.rounds + 1):
            if round_index > 1:
                live = [m for m in live if visits[(m, width, height)][0].get("status") == "ok"]
            for method in visit_order(live, settings.seed, width, height, round_index):
                key = (method, width, height)
                gate = refused(bases[key], _basis(method, bases, visits), settings, started) if not visits[key] else None
                if gate is None and visits[key] and settings.deadline_s is not None and time.monotonic() - started > settings.deadline_s:
                    continue  # a later round after the deadline: the visits made so far stand
                result = gate or measure(method, width, height, settings)
                visits[(method, width, height)].append(result)
                seconds = visit_seconds(result)
                shown = f"{seconds:.4f} s" if np.isfinite(seconds) else result.get("note", "")
                progress(f"{width}x{height} round {round_index}/{settings.rounds}: {method}: {result.get('status')} {shown}")
                save()
        for method in methods:
            first = visits[(method, width, height)][0]
            if method not in stopped and first.get("status") != "ok":
                stopped[method] = f"{first.get('status')} at {width}x{height}"
    return interleaved_table(methods, settings, bases, visits)
