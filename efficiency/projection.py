"""Cells that were not run: refused before running, and projected from the measured ones.

Two decisions are taken in the parent before a child starts, so that a hopeless cell costs
nothing (a pixel-space diffusion at 4K would run for days, or allocate terabytes):

* ``over_memory``: the label's memory estimate (:mod:`efficiency.flops`), or the benchmark
  frame itself, exceeds the memory budget;
* ``over_budget``: the label's time projected from its largest measured smaller size, scaled by
  the FLOP count, exceeds the time budget of the cell;
* ``skipped``: the run's deadline has passed.

Every cell that was not measured then gets, where a FLOP count and a measured size of the same
label exist, ``projected_s`` (seconds per image: that size's median times the FLOP ratio) and
``projected_mem_above_mb`` (peak memory above the process baseline: that size's, times the
ratio of the memory estimates, or of a power law fitted over the measured sizes when the label
has no estimate), ``projected`` True and ``projection_note`` naming the basis. The measured
columns (``median_s``, ``peak_mem_mb``) of such a row stay empty: a projection is never a
measurement.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "FRAME_BYTES_PER_PIXEL",
    "PROJECTION_COLUMNS",
    "add_projections",
    "memory_budget_bytes",
    "preflight",
]

PROJECTION_COLUMNS = ["flops", "est_mem_mb", "projected", "projected_s", "projected_mem_above_mb", "projection_note"]
# Making the synthetic frame (resize, then darkening in float64 with noise) held 175 bytes per
# pixel at its peak (RSS growth of efficiency.worker.benchmark_image(1920, 1080)); a 20000 x 20000
# frame would need ~70 GB.
FRAME_BYTES_PER_PIXEL = 176
MB = 2.0**20


def memory_budget_bytes(budget_mb: float | None, device: str = "cpu") -> int:
    """The memory budget of one cell: ``budget_mb``, else (as :func:`diffll.inference._memory_budget`)
    80% of the GPU's memory on CUDA, half of this machine's RAM on a CPU."""
    if budget_mb:
        return int(budget_mb * MB)
    if device.startswith("cuda"):
        import torch

        return int(0.8 * torch.cuda.get_device_properties(torch.device(device)).total_memory)
    import psutil

    return int(0.5 * psutil.virtual_memory().total)


def _finite(value) -> bool:
    try:
        return bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def preflight(width: int, height: int, flops: float, est_bytes: float, basis: dict | None,
              budget_s: float, calls: int, memory_budget: int) -> dict | None:
    """The result of a cell refused without running it, or None when it should run.

    ``basis``: the label's largest measured ``ok`` cell so far (``width``, ``height``,
    ``median_s``, ``flops``), if any. ``calls``: the label's calls per visit (warm-up + repeats).
    """
    frame = FRAME_BYTES_PER_PIXEL * width * height
    if frame > memory_budget:
        return {"status": "over_memory",
                "note": f"not run: making the {width}x{height} frame needs about {frame / 2**30:.1f} GiB, "
                        f"over the memory budget of {memory_budget / 2**30:.1f} GiB"}
    if _finite(est_bytes) and est_bytes > memory_budget:
        return {"status": "over_memory",
                "note": f"not run: estimated {est_bytes / 2**30:.1f} GiB per image, over the memory budget "
                        f"of {memory_budget / 2**30:.1f} GiB"}
    if basis and _finite(flops) and _finite(basis.get("flops")) and _finite(basis.get("median_s")):
        seconds = float(basis["median_s"]) * float(flops) / float(basis["flops"])
        if seconds * max(calls, 1) > budget_s:
            return {"status": "over_budget",
                    "note": f"not run: projected {seconds:.3g} s per image ({max(calls, 1)} call(s) per visit) from "
                            f"{basis['width']}x{basis['height']} x FLOP ratio, over the budget of {budget_s:g} s"}
    return None


def _memory_above(row: pd.Series) -> float:
    baseline = row.get("baseline_mem_mb")
    return float(row["peak_mem_mb"]) - (float(baseline) if _finite(baseline) else 0.0)


def add_projections(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the projection columns filled (see the module docstring)."""
    if frame.empty or "flops" not in frame:
        return frame
    from efficiency.scaling import fit_exponent

    frame = frame.copy()
    frame["projected"] = False
    frame["projection_note"] = frame["projection_note"].astype(object)
    for method, group in frame.groupby("method", sort=False):
        ok = group[(group["status"] == "ok") & group["median_s"].map(_finite) & group["flops"].map(_finite)]
        if ok.empty:
            continue
        ok = ok.sort_values("megapixels")
        memory = ok.apply(_memory_above, axis=1)
        exponent = fit_exponent(ok["megapixels"], memory.clip(lower=1e-3)) if len(ok) >= 2 else 1.0
        exponent = float(np.clip(exponent, 0.5, 2.0)) if np.isfinite(exponent) else 1.0
        for index, row in group.iterrows():
            if row["status"] in ("ok", "pending") or _finite(row.get("median_s")) or not _finite(row["flops"]):
                continue
            below = ok[ok["megapixels"] <= row["megapixels"]]
            basis = (below if not below.empty else ok).iloc[-1]
            mem_basis = _memory_above(basis)
            if _finite(row.get("est_mem_mb")) and _finite(basis.get("est_mem_mb")) and basis["est_mem_mb"] > 0:
                mem = mem_basis * float(row["est_mem_mb"]) / float(basis["est_mem_mb"])
                how_mem = "memory x estimate ratio"
            else:
                mem = mem_basis * (float(row["megapixels"]) / float(basis["megapixels"])) ** exponent
                how_mem = f"memory x megapixel ratio^{exponent:.2f}"
            frame.at[index, "projected"] = True
            frame.at[index, "projected_s"] = float(basis["median_s"]) * float(row["flops"]) / float(basis["flops"])
            frame.at[index, "projected_mem_above_mb"] = mem
            frame.at[index, "projection_note"] = (
                f"projection, not measured: {method} at {int(basis['width'])}x{int(basis['height'])} "
                f"(measured) x FLOP ratio; {how_mem}"
            )
    return frame
