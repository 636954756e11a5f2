"""How cost grows with resolution: fit ``cost = a * megapixels ** b`` on a log-log scale,
and check that two runs of the benchmark agree."""

from __future__ import annotations

import numpy as np
import pandas as pd


def fit_exponent(megapixels, cost) -> float:
    """Least-squares slope of log(cost) against log(megapixels); NaN with fewer than 2 points."""
    mp = np.asarray(megapixels, dtype=float)
    y = np.asarray(cost, dtype=float)
    ok = np.isfinite(mp) & np.isfinite(y) & (mp > 0) & (y > 0)
    if ok.sum() < 2 or np.unique(mp[ok]).size < 2:
        return float("nan")
    slope, _ = np.polyfit(np.log(mp[ok]), np.log(y[ok]), 1)
    return float(slope)


def scaling_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per method and device: exponents of time and memory over the cells that ran."""
    rows = []
    ok = frame[frame["status"] == "ok"]
    for (method, device), group in ok.groupby(["method", "device"], sort=False):
        memory = group["peak_mem_mb"] - group["baseline_mem_mb"].fillna(0.0)
        rows.append(
            {
                "method": method,
                "device": device,
                "cells": len(group),
                "time_exponent": fit_exponent(group["megapixels"], group["median_s"]),
                "memory_exponent": fit_exponent(group["megapixels"], memory.clip(lower=1e-3)),
            }
        )
    return pd.DataFrame(rows, columns=["method", "device", "cells", "time_exponent", "memory_exponent"])


def compare_runs(first: pd.DataFrame, second: pd.DataFrame, min_seconds: float = 0.05, tolerance: float = 0.15) -> pd.DataFrame:
    """Relative difference of the median per cell; ``stable`` for cells over ``min_seconds``."""
    keys = ["method", "width", "height", "device"]
    merged = first[first.status == "ok"].merge(second[second.status == "ok"], on=keys, suffixes=("_a", "_b"))
    merged["relative_difference"] = (merged["median_s_b"] - merged["median_s_a"]).abs() / merged[["median_s_a", "median_s_b"]].min(axis=1)
    merged["checked"] = merged[["median_s_a", "median_s_b"]].min(axis=1) > min_seconds
    merged["stable"] = ~merged["checked"] | (merged["relative_difference"] <= tolerance)
    return merged[keys + ["median_s_a", "median_s_b", "relative_difference", "checked", "stable"]]


def status_changes(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """Cells whose status differs between two runs (e.g. ok in one, over_budget in the other):
    :func:`compare_runs` only sees cells that are ok in both."""
    keys = ["method", "width", "height", "device"]
    both = first.merge(second, on=keys, suffixes=("_a", "_b"))
    return both.loc[both["status_a"] != both["status_b"], keys + ["status_a", "status_b"]].reset_index(drop=True)

