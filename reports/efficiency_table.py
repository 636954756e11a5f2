"""The report's time-and-memory tables, from a benchmark CSV of :mod:`efficiency`.

One row per method, one column per resolution: median seconds and peak memory, and for an
interleaved run the ratio to the reference method (timed inside each visit, or in the same round) with its 95%
bootstrap interval (on a machine whose speed drifts, the ratio is the figure that holds from one
run to the next; the seconds are those of this run's machine). Where the run compared outputs
(``efficiency run --diffll-modes``), the cell ends with the PSNR against the reference label's
output. Detectors and enhancers timed in one run are told apart by a ``kind`` column (their
ratios are to a reference of their own kind). A second table gives each method's scaling
exponent (time ~ pixels^k, fitted in log-log) with its interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from efficiency.scaling import has_ratios, scaling_table


def _cell(row: pd.Series, ratios: bool) -> str:
    """'time s / memory MB[ / ratio x [low-high]][ / PSNR dB]' of one benchmark row."""
    if row["status"] != "ok":
        return str(row["status"])
    mem = row["peak_mem_mb"] - (0.0 if pd.isna(row["baseline_mem_mb"]) else row["baseline_mem_mb"])
    text = f"{row['median_s']:.3f} s / {mem:.0f} MB"
    if ratios and np.isfinite(row.get("ratio", np.nan)):
        text += f" / {row['ratio']:.2f}x"
        if np.isfinite(row.get("ratio_low", np.nan)):
            text += f" [{row['ratio_low']:.2f}-{row['ratio_high']:.2f}]"
    psnr = row.get("psnr_db", np.nan)
    if pd.notna(psnr):
        if row["method"] == row.get("psnr_reference"):
            text += " / PSNR reference"
        else:
            text += " / identical output" if np.isinf(psnr) else f" / {psnr:.1f} dB"
    return text


def _has_kinds(frame: pd.DataFrame) -> bool:
    """A detector among the rows (CSVs from before the kind column have none)."""
    return "kind" in frame and frame["kind"].dropna().ne("enhancer").any()


def efficiency_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Paper-style table: 'time s / memory MB[ / ratio x [low-high]][ / PSNR dB]' per method and
    resolution; enhancers first, then detectors, when the run timed both."""
    ratios = has_ratios(frame)
    kinds = _has_kinds(frame)
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for _, row in frame.iterrows():
        kind = (str(row["kind"]) if pd.notna(row["kind"]) else "enhancer") if kinds else ""
        cells.setdefault((kind, row["method"]), {})[f"{int(row['width'])}x{int(row['height'])}"] = _cell(row, ratios)
    order = sorted(cells, key=lambda key: (key[0] != "enhancer", key[0])) if kinds else list(cells)
    out = pd.DataFrame([cells[key] for key in order])
    out.insert(0, "method", [key[1] for key in order])
    if kinds:
        out.insert(0, "kind", [key[0] for key in order])
    return out


def exponent_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per method: the time exponent with its 95% interval, and the memory exponent."""
    table = scaling_table(frame)

    def interval(r: pd.Series) -> str:
        if not np.isfinite(r["time_exponent_low"]):
            return ""
        return f"[{r['time_exponent_low']:.2f}, {r['time_exponent_high']:.2f}] ({r['exponent_interval']})"

    return pd.DataFrame({
        "method": table["method"], "device": table["device"], "sizes": table["cells"],
        "time exponent": table["time_exponent"].round(2), "95% interval": table.apply(interval, axis=1) if len(table) else [],
        "memory exponent": table["memory_exponent"].round(2),
    })


def table_note(frame: pd.DataFrame) -> str:
    """One line on how the table was measured (threads, rounds, reference), from its columns."""
    parts = []
    if "threads" in frame and frame["threads"].notna().any():
        parts.append("threads per child: " + ", ".join(str(int(t)) for t in sorted(frame["threads"].dropna().unique())))
    if "rounds" in frame and frame["rounds"].notna().any():
        parts.append(f"up to {int(frame['rounds'].max())} visit(s) per cell")
    if has_ratios(frame):
        reference = ", ".join(sorted(str(r) for r in frame["reference"].dropna().unique()))
        inside = "pairing" in frame and (frame["pairing"] == "visit").any()
        if inside:
            parts.append(f"interleaved; ratio = median over the timed runs of time / time of {reference} run just before "
                         "and after it in the same process (geometric mean), [95% bootstrap interval over those pairs]")
        else:
            parts.append(f"interleaved; ratio = median over rounds of time / time of {reference} in the same round, "
                         "[95% bootstrap interval over rounds]")
    if "psnr_db" in frame and frame["psnr_db"].notna().any():
        against = ", ".join(sorted(str(r) for r in frame["psnr_reference"].dropna().unique()))
        parts.append(f"dB: PSNR of each label's output against {against}'s output on the same input")
    return "; ".join(parts)
