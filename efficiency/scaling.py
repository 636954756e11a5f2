"""How cost grows with resolution: fit ``cost = a * megapixels ** b`` on a log-log scale,
with an interval for ``b``, and check that two runs of the benchmark agree (on seconds, or on
the ratios to the reference method of interleaved runs)."""

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


def parse_visits(text) -> np.ndarray:
    """The ``visit_s`` column of a cell (per-visit median seconds, ';'-separated) as an array."""
    if not isinstance(text, str) or not text.strip():
        return np.array([], dtype=float)
    return np.array([float(v) for v in text.split(";")], dtype=float)


def regression_interval(megapixels, cost, level: float = 0.95) -> tuple[float, float]:
    """t-interval of the log-log slope from the fit's residuals (needs 3 or more sizes)."""
    from scipy import stats

    mp, y = np.asarray(megapixels, dtype=float), np.asarray(cost, dtype=float)
    ok = np.isfinite(mp) & np.isfinite(y) & (mp > 0) & (y > 0)
    if ok.sum() < 3 or np.unique(mp[ok]).size < 3:
        return float("nan"), float("nan")
    fit = stats.linregress(np.log(mp[ok]), np.log(y[ok]))
    half = stats.t.ppf(0.5 + level / 2.0, ok.sum() - 2) * fit.stderr
    return float(fit.slope - half), float(fit.slope + half)


def bootstrap_exponent(megapixels, visits: list[np.ndarray], resamples: int = 2000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the exponent, resampling each size's visits (independently per
    size: the visits at different sizes ran at different times) and refitting the medians."""
    mp = np.asarray(megapixels, dtype=float)
    clean = [v[np.isfinite(v) & (v > 0)] for v in visits]
    if len(clean) < 2 or np.unique(mp).size < 2 or any(v.size == 0 for v in clean):
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    medians = np.column_stack([np.median(v[rng.integers(0, v.size, size=(resamples, v.size))], axis=1) for v in clean])
    x = np.log(mp) - np.log(mp).mean()
    slopes = (np.log(medians) - np.log(medians).mean(axis=1, keepdims=True)) @ x / (x @ x)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(slopes, [tail, 1.0 - tail])
    return float(low), float(high)


def time_exponent_interval(group: pd.DataFrame, resamples: int = 2000, seed: int = 0) -> tuple[float, float, str]:
    """Interval of one method's time exponent: a bootstrap over visits when every size was
    visited more than once (``visit_s``), else the regression t-interval over the sizes."""
    visits = [parse_visits(v) for v in group["visit_s"]] if "visit_s" in group else []
    if visits and all(np.isfinite(v).sum() >= 2 for v in visits):
        low, high = bootstrap_exponent(group["megapixels"], visits, resamples, seed)
        return low, high, "bootstrap over visits"
    low, high = regression_interval(group["megapixels"], group["median_s"])
    return low, high, "regression t" if np.isfinite(low) else ""


SCALING_COLUMNS = ["method", "device", "cells", "time_exponent", "time_exponent_low", "time_exponent_high",
                   "exponent_interval", "memory_exponent"]


def scaling_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per method and device: exponents of time (with a 95% interval) and memory over the cells that ran."""
    rows = []
    ok = frame[frame["status"] == "ok"]
    for (method, device), group in ok.groupby(["method", "device"], sort=False):
        group = group.sort_values("megapixels")
        memory = group["peak_mem_mb"] - group["baseline_mem_mb"].fillna(0.0)
        low, high, how = time_exponent_interval(group)
        rows.append(
            {
                "method": method,
                "device": device,
                "cells": len(group),
                "time_exponent": fit_exponent(group["megapixels"], group["median_s"]),
                "time_exponent_low": low,
                "time_exponent_high": high,
                "exponent_interval": how,
                "memory_exponent": fit_exponent(group["megapixels"], memory.clip(lower=1e-3)),
            }
        )
    return pd.DataFrame(rows, columns=SCALING_COLUMNS)


def compare_runs(first: pd.DataFrame, second: pd.DataFrame, min_seconds: float = 0.05, tolerance: float = 0.15) -> pd.DataFrame:
    """Relative difference of the median per cell; ``stable`` for cells over ``min_seconds``."""
    keys = ["method", "width", "height", "device"]
    merged = first[first.status == "ok"].merge(second[second.status == "ok"], on=keys, suffixes=("_a", "_b"))
    merged["relative_difference"] = (merged["median_s_b"] - merged["median_s_a"]).abs() / merged[["median_s_a", "median_s_b"]].min(axis=1)
    merged["checked"] = merged[["median_s_a", "median_s_b"]].min(axis=1) > min_seconds
    merged["stable"] = ~merged["checked"] | (merged["relative_difference"] <= tolerance)
    return merged[keys + ["median_s_a", "median_s_b", "relative_difference", "checked", "stable"]]


def has_ratios(frame: pd.DataFrame) -> bool:
    """Whether a benchmark table comes from an interleaved run (a ratio per cell)."""
    return "ratio" in frame and frame["ratio"].notna().any()


def compare_ratios(first: pd.DataFrame, second: pd.DataFrame, min_seconds: float = 0.05, tolerance: float = 0.15) -> pd.DataFrame:
    """Relative difference of the ratio to the reference per cell, for cells ok in both runs.

    ``checked``: the cell takes over ``min_seconds`` in both runs and is not the reference
    itself (whose ratio is 1 by construction). Both runs must use the same reference.
    """
    refs = {str(r) for frame in (first, second) for r in frame["reference"].dropna().unique()}
    if len(refs) > 1:
        raise ValueError(f"the two runs use different reference methods ({', '.join(sorted(refs))}); their ratios are not comparable")
    keys = ["method", "width", "height", "device"]
    ok = [f[(f.status == "ok") & f["ratio"].notna()] for f in (first, second)]
    merged = ok[0].merge(ok[1], on=keys, suffixes=("_a", "_b"))
    merged["relative_difference"] = (merged["ratio_b"] - merged["ratio_a"]).abs() / merged[["ratio_a", "ratio_b"]].min(axis=1)
    merged["checked"] = (merged[["median_s_a", "median_s_b"]].min(axis=1) > min_seconds) & (merged["method"] != merged["reference_a"])
    merged["stable"] = ~merged["checked"] | (merged["relative_difference"] <= tolerance)
    cols = keys + ["median_s_a", "median_s_b", "ratio_a", "ratio_low_a", "ratio_high_a", "ratio_b", "ratio_low_b", "ratio_high_b",
                   "relative_difference", "checked", "stable"]
    return merged[cols]


def status_changes(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """Cells whose status differs between two runs (e.g. ok in one, over_budget in the other):
    :func:`compare_runs` only sees cells that are ok in both."""
    keys = ["method", "width", "height", "device"]
    both = first.merge(second, on=keys, suffixes=("_a", "_b"))
    return both.loc[both["status_a"] != both["status_b"], keys + ["status_a", "status_b"]].reset_index(drop=True)

