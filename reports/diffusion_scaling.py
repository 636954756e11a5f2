"""The paper's headline in the report: DiffLL against pixel-space diffusion, and its depth K.

Reads a CSV of ``efficiency run --interleave --diffusion-baselines ...`` (timing-only labels on
random weights, see :mod:`efficiency.diffusion_labels`) and draws time and peak memory against
megapixels on log-log axes (the paper's Fig. 2 / Table 2), with a table of side-by-side ratios
to the run's reference (DiffLL bf16 by default): the time ratio with its interval from the
interleaved rounds, the memory ratio, the FLOP ratio and the ratio of positions the UNet visits.

Cells that were not run (over budget, over memory, past the deadline) appear only as
projections (:mod:`efficiency.projection`): hollow markers on dashed lines in the figure,
"projected" in the table, never beside or instead of a measured value.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from reports.html import png_bytes_uri, table
from reports.sections import Section

TIMING_NOTE = ("Timing only: every label runs the authors' full-size network on seeded random weights (no trained weights "
               "for the baselines or for K = 1, 3), so these rows say what each design costs, not what it restores; they are "
               "never part of the quality or detection tables.")


def _finite(value) -> bool:
    try:
        return bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def _memory_above(row: pd.Series) -> float:
    baseline = row.get("baseline_mem_mb")
    return float(row["peak_mem_mb"]) - (float(baseline) if _finite(baseline) else 0.0)


def measured(frame: pd.DataFrame) -> pd.DataFrame:
    """The ok rows (measured), with ``memory_mb`` above the process baseline."""
    ok = frame[frame["status"] == "ok"].copy()
    ok["memory_mb"] = ok.apply(_memory_above, axis=1) if len(ok) else []
    return ok


def projected(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows holding a projection instead of a measurement."""
    if "projected" not in frame:
        return frame.iloc[0:0]
    return frame[frame["projected"].astype(str).str.lower().isin(["true", "1"]) & frame["projected_s"].map(_finite)]


def scaling_figure(frame: pd.DataFrame, title: str) -> bytes:
    """Time and memory per image against megapixels, log-log: filled markers on solid lines are
    measured, hollow markers on dashed lines projected."""
    from reports.figures import _png, plt

    ok, proj = measured(frame), projected(frame)
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4.4))
    cmap = plt.get_cmap("tab10")
    for i, method in enumerate(dict.fromkeys(frame["method"])):
        color = cmap(i % 10)
        mine = ok[ok["method"] == method].sort_values("megapixels")
        guess = proj[proj["method"] == method].sort_values("megapixels")
        ax_t.plot(mine["megapixels"], mine["median_s"], "o-", color=color, label=f"{method} (measured)")
        ax_m.plot(mine["megapixels"], np.clip(mine["memory_mb"], 1e-1, None), "o-", color=color)
        if not guess.empty:
            # the dashed line starts at the last measured point so the eye follows the label
            joint = mine.tail(1)
            xs = list(joint["megapixels"]) + list(guess["megapixels"])
            ts = list(joint["median_s"]) + list(guess["projected_s"])
            ms = list(joint["memory_mb"]) + list(guess["projected_mem_above_mb"])
            ax_t.plot(xs, ts, "--", color=color, alpha=0.8)
            ax_t.plot(guess["megapixels"], guess["projected_s"], "o", mfc="none", color=color, label=f"{method} (projected)")
            ax_m.plot(xs, np.clip(np.asarray(ms, dtype=float), 1e-1, None), "--", color=color, alpha=0.8)
            ax_m.plot(guess["megapixels"], np.clip(guess["projected_mem_above_mb"].astype(float), 1e-1, None), "o",
                      mfc="none", color=color)
    for ax, label in ((ax_t, "seconds per image"), (ax_m, "peak memory above baseline (MB)")):
        ax.set(xscale="log", yscale="log", xlabel="megapixels", ylabel=label)
        ax.grid(alpha=0.3, which="both")
    ax_m.legend(*ax_t.get_legend_handles_labels(), fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(title + "\nfilled, solid: measured; hollow, dashed: projected from FLOPs and a measured smaller size (not measured)",
                 fontsize=9)
    return _png(fig)


def unet_positions(label: str, width: int, height: int) -> float:
    """Positions the UNet visits per image, summed over its calls (sampling steps, patches):
    the analytical cost, 4^-K of the pixels per step for DiffLL. NaN for other labels."""
    from diffll.baselines.weatherdiff import WeatherDiffSettings
    from efficiency.diffusion_labels import BASELINES, PRECISION_SUFFIXES

    base = label
    for suffix in PRECISION_SUFFIXES:
        base = base.removesuffix(suffix)
    if base not in BASELINES:
        return float("nan")
    pixels = float(width * height)
    if base == "pixel_ddim":
        return 10 * pixels
    if base == "weatherdiff":
        s = WeatherDiffSettings()
        sides = [max(s.patch, -(-n // s.stride) * s.stride) for n in (height, width)]
        patches = np.prod([(n - s.patch) // s.stride + 1 for n in sides])
        return 25 * float(patches) * s.patch**2
    return 10 * pixels / 4 ** int(BASELINES[base]["levels"])


def _ratio_text(ratio, low, high) -> str:
    text = f"{float(ratio):.3g}x"
    if _finite(low) and _finite(high):
        text += f" [{float(low):.3g}-{float(high):.3g}]"
    return text


def ratio_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per label and resolution: its time, memory and FLOPs as multiples of the
    reference's at the same resolution. Time: the interleaved ratio with its 95% interval when
    both were measured, else a projected ratio, marked so; memory: peak above baseline."""
    reference = next((str(r) for r in frame.get("reference", pd.Series(dtype=object)).dropna().unique()), None)
    if reference is None:
        return pd.DataFrame()
    rows = []
    keyed = frame.set_index(["method", "width", "height"])
    for (method, width, height), row in keyed.iterrows():
        if method == reference or (reference, width, height) not in keyed.index:
            continue
        ref = keyed.loc[(reference, width, height)]
        flops = float(row["flops"]) / float(ref["flops"]) if _finite(row.get("flops")) and _finite(ref.get("flops")) else float("nan")
        positions = unet_positions(method, width, height) / unet_positions(reference, width, height)
        entry = {"resolution": f"{width}x{height}", "label": method, "status": row["status"], "FLOPs ratio": round(flops, 3),
                 "UNet positions ratio (analytical)": round(positions, 3)}
        ref_ok = ref["status"] == "ok"
        if row["status"] == "ok" and ref_ok and _finite(row.get("ratio")):
            entry["time ratio [95% interval]"] = _ratio_text(row["ratio"], row.get("ratio_low"), row.get("ratio_high"))
            entry["memory ratio"] = f"{_memory_above(row) / max(_memory_above(ref), 1e-6):.3g}x"
            entry["measured or projected"] = "measured"
        elif _finite(row.get("projected_s")) and ref_ok:
            entry["time ratio [95% interval]"] = f"projected {float(row['projected_s']) / float(ref['median_s']):.3g}x"
            entry["memory ratio"] = f"projected {float(row['projected_mem_above_mb']) / max(_memory_above(ref), 1e-6):.3g}x"
            entry["measured or projected"] = "projection (not measured)"
        else:
            entry["time ratio [95% interval]"] = ""
            entry["memory ratio"] = ""
            entry["measured or projected"] = "neither (reference not measured here)" if not ref_ok else "not measured, no basis"
        rows.append(entry)
    return pd.DataFrame(rows, columns=["resolution", "label", "status", "time ratio [95% interval]", "memory ratio", "FLOPs ratio",
                                       "UNet positions ratio (analytical)", "measured or projected"])


def headlines(frame: pd.DataFrame, baseline: str = "pixel_ddim") -> list[str]:
    """Sentences of the form 'DiffLL bf16 is N x faster and uses M x less memory than
    pixel-space DDIM at WxH [interval]', for every resolution where both were measured."""
    reference = next((str(r) for r in frame.get("reference", pd.Series(dtype=object)).dropna().unique()), None)
    if reference is None:
        return []
    ok = measured(frame).set_index(["method", "width", "height"])
    lines = []
    for (method, width, height), row in ok.iterrows():
        if method != baseline or (reference, width, height) not in ok.index or not _finite(row.get("ratio")):
            continue
        ref = ok.loc[(reference, width, height)]
        interval = f" [{row['ratio_low']:.3g}-{row['ratio_high']:.3g}]" if _finite(row.get("ratio_low")) else ""
        lines.append(f"{reference} is {row['ratio']:.3g}x{interval} faster and uses {row['memory_mb'] / max(ref['memory_mb'], 1e-6):.3g}x "
                     f"less memory than {baseline} at {width}x{height} (both measured, same interleaved run)")
    return lines


def section(path: Path, index: int = 0) -> Section | None:
    """The part of "Results measured elsewhere" for one committed CSV (ratios table, figure); None if absent."""
    if not path.is_file():
        return None
    frame = pd.read_csv(path)
    devices = ", ".join(sorted(set(frame["device_name"].astype(str))))
    meta = f"DiffLL against pixel-space diffusion and wavelet depth K, {path}: {devices}; torch {', '.join(sorted(set(frame['torch_version'].astype(str))))}"
    png = scaling_figure(frame, meta[:110])
    name = f"diffusion_scaling_{index}.png"
    ratios = ratio_table(frame)
    lines = headlines(frame)
    html = (f"<p class='note'>{escape(TIMING_NOTE)}</p>"
            + "".join(f"<p>{escape(line)}</p>" for line in lines)
            + f'<figure><img src="{png_bytes_uri(png)}" alt="diffusion scaling"></figure>'
            + "<p class='note'>Ratios to the reference label at the same resolution (above 1: slower or larger than the reference). "
              "Time: median over the interleaved rounds of the per-round ratio, [95% bootstrap interval]; projections are FLOP "
              "ratios times a measured smaller size of the same label, not measurements.</p>" + table(ratios))
    md = [TIMING_NOTE, "", *[f"- {line}" for line in lines], "", f"![diffusion scaling](figures/{name})", "",
          ratios.to_markdown(index=False) if not ratios.empty else "(no reference label in this file)", ""]
    return Section(meta, html, md, tables={f"diffusion_ratios_{index}": ratios}, figures={name: png})
