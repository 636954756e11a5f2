"""The report's time-and-memory sections: this run's benchmark (when the config enables it), and
the committed results files measured on other machines in a section of their own, so they cannot
be taken for this run's numbers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reports import diffusion_scaling, figures
from reports.efficiency_table import efficiency_table, exponent_table, table_note
from reports.html import escape, png_bytes_uri, table
from reports.inputs import Layout
from reports.sections import Section, combine

THIS_RUN_NOTE = ("<p class='note'>Median seconds per image after warm-up; memory: CUDA max allocated, or on CPU the peak resident set of a "
                 "fresh process above its level before the first image. OOM / skipped / over_budget are results, not failures.</p>")
ELSEWHERE_TITLE = "Results measured elsewhere (committed files, not this run)"
ELSEWHERE_HTML = ("<p class='note'><b>Not this run's results.</b> These tables were measured on other machines (each heading names its "
                  "file, hardware and date) and committed to the repository; the config lists them under benchmark.include, "
                  "benchmark.diffll_speed and benchmark.diffusion_scaling.</p>")
ELSEWHERE_MD = ["**Not this run's results.** Measured on other machines (each heading names its file, hardware and date) and "
                "committed to the repository (config: benchmark.include, benchmark.diffll_speed, benchmark.diffusion_scaling).", ""]


def efficiency_frames(layout: Layout, extra_csvs: list[Path], this_run: bool) -> list[tuple[str, pd.DataFrame]]:
    """The benchmark of this run (when the config enables it) and any committed result files."""
    frames = []
    for path in sorted((layout.results / "benchmark").glob("*.csv")) if this_run else []:
        frames.append((f"this run ({path.stem})", pd.read_csv(path)))
    for path in extra_csvs:
        if path.is_file():
            frames.append((f"committed results file {path}", pd.read_csv(path)))
    return frames


def diffll_speed_table(frame: pd.DataFrame) -> pd.DataFrame:
    """fp32 eager (the authors' path) against the fast modes, from CSVs of the former ``diffll.benchmarks`` script.

    One row per (size, mode): median seconds, speed-up and peak memory relative to fp32 at the
    same size, and the PSNR of the mode's output against the fp32 output.
    """
    rows = []
    nan = float("nan")
    for (width, height), group in frame.groupby(["width", "height"], sort=False):
        failed = group["error"].notna() & (group["error"].astype(str) != "")
        fp32 = group[~failed & (group["mode"] == "fp32")]
        base_s = float(fp32["median_s"].iloc[0]) if len(fp32) else nan
        base_mem = float(fp32["peak_mem_bytes"].iloc[0]) if len(fp32) else nan
        for (_, r), bad in zip(group.iterrows(), failed, strict=True):
            rows.append({
                "size": f"{int(width)}x{int(height)}", "mode": r["mode"],
                "median s": nan if bad else float(r["median_s"]),
                "speed-up vs fp32": nan if bad else base_s / float(r["median_s"]),
                "peak memory MB": nan if bad else float(r["peak_mem_bytes"]) / 1e6,
                "memory vs fp32": nan if bad else float(r["peak_mem_bytes"]) / base_mem,
                "PSNR vs fp32 dB": nan if bad else float(r["psnr_vs_fp32_db"]),
                "note": str(r["error"]) if bad else "",
            })
    decimals = {"median s": 3, "speed-up vs fp32": 2, "peak memory MB": 0, "memory vs fp32": 2, "PSNR vs fp32 dB": 1}
    return pd.DataFrame(rows).round(decimals)


def _efficiency_part(label: str, frame: pd.DataFrame, index: int) -> Section:
    """One benchmark CSV: the table per resolution, the fitted exponents and the scaling plot."""
    devices = ", ".join(sorted(set(frame["device_name"].astype(str))))
    meta = f"{label}: {devices}; torch {', '.join(sorted(set(frame['torch_version'].astype(str))))}; {', '.join(sorted(set(frame['date'].astype(str))))}"
    eff, exps, how = efficiency_table(frame), exponent_table(frame), table_note(frame)
    meta += f" ({how})" if how else ""
    png = figures.scaling_plot(frame, meta[:90])
    name = f"scaling_{index}.png"
    html = (table(eff) + "<p class='note'>Fitted exponents k of cost = a &middot; pixels<sup>k</sup> (log-log), time with a 95% interval:</p>"
            + table(exps) + f'<figure><img src="{png_bytes_uri(png)}" alt="scaling {escape(label)}"></figure>')
    md = [eff.to_markdown(index=False), "", exps.to_markdown(index=False), "", f"![scaling](figures/{name})", ""]
    return Section(meta, html, md, tables={f"efficiency_{index}": frame}, figures={name: png})


def _diffll_speed_part(path: Path, index: int) -> Section:
    frame = pd.read_csv(path)
    meta = (f"DiffLL fp32 eager vs fast path, committed results file {path}: "
            f"{', '.join(sorted(set(frame['device_name'].astype(str))))}; torch {', '.join(sorted(set(frame['torch_version'].astype(str))))}; "
            f"config {', '.join(sorted(set(frame['config'].astype(str))))}, weights {', '.join(sorted(set(frame['weights'].astype(str))))}")
    speed = diffll_speed_table(frame)
    return Section(meta, table(speed), [speed.to_markdown(index=False), ""], tables={f"diffll_speed_{index}": speed})


def speed_sections(layout: Layout, benchmark: dict) -> tuple[Section, Section | None]:
    """"Time and memory per resolution (this run)" (or a note that none ran), and the section of
    results measured elsewhere when the config names committed files (``benchmark.include``,
    ``diffll_speed``, ``diffusion_scaling``; None otherwise). The report places them apart."""
    extra = [Path(p) for p in benchmark["include"]]
    this_run, elsewhere = [], []
    for index, (label, frame) in enumerate(efficiency_frames(layout, extra, bool(benchmark["enabled"]))):
        (this_run if label.startswith("this run") else elsewhere).append(_efficiency_part(label, frame, index))
    for index, path in enumerate(Path(p) for p in benchmark["diffll_speed"]):
        if path.is_file():
            elsewhere.append(_diffll_speed_part(path, index))
    for index, path in enumerate(Path(p) for p in benchmark["diffusion_scaling"]):
        part = diffusion_scaling.section(path, index)  # DiffLL vs pixel-space diffusion and K (timing only)
        if part is not None:
            elsewhere.append(part)
    if this_run:
        measured = combine("Time and memory per resolution (this run)", this_run, THIS_RUN_NOTE)
    else:
        measured = Section("Time and memory per resolution", '<p class="note">No benchmark in this run.</p>', ["No benchmark in this run.", ""])
    return measured, (combine(ELSEWHERE_TITLE, elsewhere, ELSEWHERE_HTML, ELSEWHERE_MD) if elsewhere else None)
