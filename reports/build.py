"""Assemble the comparison report from the result files of a workflow run.

Inputs are found by the results layout (``results/<dataset>/<method>/<detector>/eval/...``) for
the datasets, methods and detectors named in the config. A section whose results do not exist
says so plainly: the report never shows a number that was not computed by the pipeline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from lldata.atomic import atomic_write
from lldata.imageio import read_rgb
from reports import detector_gains, diffusion_scaling, figures, quality
from reports import methods as methods_section
from reports.efficiency_table import efficiency_table, exponent_table, table_note
from reports.html import escape, page, png_data_uri, table
from reports.provenance import provenance

TITLE = "Low-light enhancement as pre-processing for face detection"


@dataclass
class Layout:
    results: Path

    def dataset(self, d: str) -> Path:
        return self.results / d / "dataset.json"

    def eval_dir(self, d: str, m: str, det: str) -> Path:
        return self.results / d / m / det / "eval"

    def predictions(self, d: str, m: str, det: str) -> Path:
        return self.results / d / m / det / "predictions"

    def images(self, d: str, m: str) -> Path:
        return self.results / d / m / "images"

    def iqa(self, d: str, m: str) -> Path:
        return self.results / d / m / "iqa" / "summary.json"


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _fmt_ci(value, low, high) -> str:
    if value is None:
        return ""
    return f"{value:.3f} [{low:.3f}, {high:.3f}]" if low is not None else f"{value:.3f}"


def ap_table(layout: Layout, dataset: str, methods: list[str], detectors: list[str]) -> pd.DataFrame:
    """One row per method x detector: AP with its CI, and the paired gain over raw."""
    rows = []
    for det in detectors:
        for m in methods:
            ap = _read_json(layout.eval_dir(dataset, m, det) / "ap.json")
            if ap is None:
                continue
            boot = ap.get("bootstrap") or {}
            row = {"dataset": dataset, "detector": det, "method": m, "AP": ap["ap"],
                   "AP_low": boot.get("low"), "AP_high": boot.get("high"), "faces": ap.get("n_gt")}
            vs = _read_json(layout.eval_dir(dataset, m, det) / "vs_raw.json")
            if vs is not None:
                row.update(gain_vs_raw=vs["diff"], gain_low=vs["low"], gain_high=vs["high"], p_gain_le_0=vs["p_value"])
            rows.append(row)
    return pd.DataFrame(rows)


def size_table(layout: Layout, dataset: str, methods: list[str], detectors: list[str]) -> pd.DataFrame:
    rows = []
    for det in detectors:
        for m in methods:
            path = layout.eval_dir(dataset, m, det) / "size_recall.csv"
            if not path.is_file():
                continue
            frame = pd.read_csv(path)
            frame = frame[frame["operating_point"] == "all"] if "all" in set(frame["operating_point"]) else frame
            for _, r in frame.iterrows():
                rows.append({"dataset": dataset, "detector": det, "method": m, "bucket": r["bucket"],
                             "faces": int(r["n_faces"]), "recall": r["recall"]})
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    wide = frame.pivot_table(index=["detector", "method"], columns="bucket", values="recall", sort=False).reset_index()
    counts = frame.drop_duplicates("bucket").set_index("bucket")["faces"]
    wide.columns = [c if c in ("detector", "method") else f"recall {c} px ({counts[c]} faces)" for c in wide.columns]
    return wide


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


def _draw(image: np.ndarray, gt, pred, scale: float) -> np.ndarray:
    img = Image.fromarray(image)
    if scale != 1.0:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(img)
    for x1, y1, x2, y2 in gt:
        draw.rectangle([x1 * scale, y1 * scale, x2 * scale, y2 * scale], outline=(0, 255, 0), width=2)
    for x1, y1, x2, y2 in pred:
        draw.rectangle([x1 * scale, y1 * scale, x2 * scale, y2 * scale], outline=(255, 40, 40), width=1)
    return np.asarray(img)


def _predictions_above(path: Path, threshold: float) -> list[list[float]]:
    if not path.is_file():
        return []
    boxes = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 5 and float(parts[4]) >= threshold:
            boxes.append([float(v) for v in parts[:4]])
    return boxes


def panel_detector(layout: Layout, dataset: str, methods: list[str], detectors: list[str],
                   skipped: dict[str, str]) -> str | None:
    """The first configured detector that ran on ``dataset`` (not skipped for absent weights, and
    with predictions for every method): the panel must not draw "0 detections" of one that did not."""
    for det in detectors:
        if det not in skipped and all(layout.predictions(dataset, m, det).is_dir() for m in methods):
            return det
    return None


def qualitative_panel(layout: Layout, dataset: str, summary: dict, methods: list[str], detector: str | None,
                      count: int, threshold: float) -> str:
    """For a few images: each method's output with ground truth (green) and detections (red)."""
    items = summary["items"][:count]
    blocks = []
    for item in items:
        figs = []
        for m in methods:
            path = layout.images(dataset, m) / f"{item['stem']}.png"
            if not path.is_file():
                continue
            pred = _predictions_above(layout.predictions(dataset, m, detector) / f"{item['stem']}.txt", threshold) if detector else []
            image = read_rgb(path)
            scale = min(1.0, 300 / image.shape[1])
            shown = _draw(image, item.get("boxes", []), pred, scale)
            figs.append(f'<figure><img src="{png_data_uri(shown)}" alt="{escape(m)} {escape(item["stem"])}">'
                        f"<figcaption>{escape(m)}: {len(pred)} detection(s)</figcaption></figure>")
        blocks.append(f"<p><b>{escape(dataset)}/{escape(item['stem'])}</b> ({len(item.get('boxes', []))} faces)</p>" + "".join(figs))
    legend = (f'<p class="note">Green: ground truth. Red: {escape(detector)} detections with raw score &ge; {threshold}.</p>'
              if detector else "")
    return legend + "".join(blocks)


def build_report(config: dict, results_dir: Path, out_dir: Path) -> tuple[Path, Path]:
    """``config`` is the workflow config with the schema's defaults filled
    (:func:`lowlight_common.config_schema.validate_config`, or the workflow's validate)."""
    layout = Layout(Path(results_dir))
    datasets = list(config["datasets"])
    methods = list(config["methods"])
    detectors = list(config["detectors"])
    report_cfg = config["report"]
    out_dir.mkdir(parents=True, exist_ok=True)
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    summaries = {d: _read_json(layout.dataset(d)) for d in datasets}

    html_sections: list[tuple[str, str]] = []
    md: list[str] = [f"# {TITLE}", ""]
    tables: dict[str, pd.DataFrame] = {}

    # Datasets
    ds_rows = [{"dataset": d, "kind": s["kind"], "images": s["images"], "faces": s["faces"],
                "references": "yes" if s["has_references"] else "no", "path": s["root"]}
               for d, s in summaries.items() if s]
    tables["datasets"] = pd.DataFrame(ds_rows)
    html_sections.append(("Datasets", table(tables["datasets"])))
    md += ["## Datasets", "", tables["datasets"].to_markdown(index=False), ""]

    # Methods: paper, licence, training data, size (reports/methods.py)
    methods_html, methods_md, tables["methods"] = methods_section.section(config["methods"])
    html_sections.append(("Methods", methods_html))
    md += methods_md

    # Detection
    det_datasets = [d for d in datasets if summaries.get(d) and summaries[d]["kind"] == "darkface"]
    ap_frames = [ap_table(layout, d, methods, detectors) for d in det_datasets]
    ap = pd.concat([f for f in ap_frames if not f.empty], ignore_index=True) if any(not f.empty for f in ap_frames) else pd.DataFrame()
    tables["ap"] = ap
    if ap.empty:
        html_sections.append(("Face detection (DARK FACE protocol)", '<p class="note">No detection results in this run.</p>'))
    else:
        shown = ap.assign(
            **{"AP [95% CI]": [_fmt_ci(r.AP, r.AP_low, r.AP_high) for r in ap.itertuples()]},
            **({"gain over raw [95% CI]": [_fmt_ci(getattr(r, "gain_vs_raw", None), getattr(r, "gain_low", None), getattr(r, "gain_high", None))
                                            if not pd.isna(getattr(r, "gain_vs_raw", np.nan)) else "" for r in ap.itertuples()],
                "P(gain <= 0)": [("" if pd.isna(getattr(r, "p_gain_le_0", np.nan)) else f"{r.p_gain_le_0:.3f}") for r in ap.itertuples()]}
               if "gain_vs_raw" in ap else {}),
        )
        cols = [c for c in ["dataset", "detector", "method", "AP [95% CI]", "gain over raw [95% CI]", "P(gain <= 0)", "faces"] if c in shown]
        note = ('<p class="note">AP: official DARK FACE protocol (IoU 0.5, inclusive pixels, 1,000 thresholds). '
                "CI: 95% bootstrap over images. Gain: paired bootstrap of AP(method) - AP(raw) on the same images; "
                "P(gain &le; 0) is the fraction of resamples where the method does not beat the raw input.</p>")
        body = note + table(shown[cols])
        md += ["## Face detection (DARK FACE protocol)", "", shown[cols].to_markdown(index=False), ""]
        for d in det_datasets:
            for det in detectors:
                curves, aps = {}, {}
                for m in methods:
                    pr = layout.eval_dir(d, m, det) / "pr_curve.csv"
                    apj = _read_json(layout.eval_dir(d, m, det) / "ap.json")
                    if pr.is_file() and apj:
                        curves[m], aps[m] = pd.read_csv(pr), apj["ap"]
                if curves:
                    png = figures.pr_curves(curves, f"{d}: {det}", aps)
                    name = f"pr_{d}_{det}.png"
                    with atomic_write(fig_dir / name, "wb") as handle:
                        handle.write(png)
                    body += f'<figure><img src="data:image/png;base64,{_b64(png)}" alt="PR curves {escape(d)} {escape(det)}"><figcaption>PR curves, {escape(d)}, {escape(det)}</figcaption></figure>'
                    md.append(f"![PR curves {d} {det}](figures/{name})")
        sizes = pd.concat([size_table(layout, d, methods, detectors).assign(dataset=d) for d in det_datasets], ignore_index=True)
        if not sizes.empty:
            sizes = sizes[["dataset", *[c for c in sizes.columns if c != "dataset"]]]
        tables["size_recall"] = sizes
        if not sizes.empty:
            body += "<h3>Recall per face size (every detection counted)</h3>" + table(sizes)
            md += ["", "### Recall per face size", "", sizes.to_markdown(index=False), ""]
        html_sections.append(("Face detection (DARK FACE protocol)", body))
    gains_html, gains_md, tables["gain_per_detector"] = detector_gains.gain_section(ap, config.get("skipped_detectors", {}))
    if gains_html:
        html_sections.append(("Gain over the raw input, per detector", gains_html))
        md += ["## Gain over the raw input, per detector", "", *gains_md]

    # Image quality: the papers' tables, methods as columns (reports/quality.py)
    iqa_html, iqa_md, iqa_csvs = quality.section(layout.results, datasets, methods, summaries)
    tables.update(iqa_csvs)
    html_sections.append(("Image quality", iqa_html))
    md += iqa_md

    # Efficiency
    extra = [Path(p) for p in config["benchmark"]["include"]]
    body, md_eff = "", []
    this_run = bool(config["benchmark"]["enabled"])
    for index, (label, frame) in enumerate(efficiency_frames(layout, extra, this_run)):
        devices = ", ".join(sorted(set(frame["device_name"].astype(str))))
        meta = f"{label}: {devices}; torch {', '.join(sorted(set(frame['torch_version'].astype(str))))}; {', '.join(sorted(set(frame['date'].astype(str))))}"
        eff, exps, how = efficiency_table(frame), exponent_table(frame), table_note(frame)
        meta += f" ({how})" if how else ""
        png = figures.scaling_plot(frame, meta[:90])
        name = f"scaling_{index}.png"
        with atomic_write(fig_dir / name, "wb") as handle:
            handle.write(png)
        body += (f"<h3>{escape(meta)}</h3>" + table(eff) + "<p class='note'>Fitted exponents k of cost = a &middot; pixels<sup>k</sup> (log-log), time with a 95% interval:</p>"
                 + table(exps) + f'<figure><img src="data:image/png;base64,{_b64(png)}" alt="scaling {escape(label)}"></figure>')
        md_eff += [f"### {meta}", "", eff.to_markdown(index=False), "", exps.to_markdown(index=False), "", f"![scaling](figures/{name})", ""]
        tables[f"efficiency_{index}"] = frame
    for index, path in enumerate(Path(p) for p in config["benchmark"]["diffll_speed"]):
        if not path.is_file():
            continue
        frame = pd.read_csv(path)
        meta = (f"DiffLL fp32 eager vs fast path, committed results file {path}: "
                f"{', '.join(sorted(set(frame['device_name'].astype(str))))}; torch {', '.join(sorted(set(frame['torch_version'].astype(str))))}; "
                f"config {', '.join(sorted(set(frame['config'].astype(str))))}, weights {', '.join(sorted(set(frame['weights'].astype(str))))}")
        speed = diffll_speed_table(frame)
        body += f"<h3>{escape(meta)}</h3>" + table(speed)
        md_eff += [f"### {meta}", "", speed.to_markdown(index=False), ""]
        tables[f"diffll_speed_{index}"] = speed
    for index, path in enumerate(Path(p) for p in config["benchmark"]["diffusion_scaling"]):
        made = diffusion_scaling.section(path, fig_dir, index)  # DiffLL vs pixel-space diffusion and K (timing only)
        if made:
            body, md_eff = body + made[0], md_eff + made[1]
            tables.update(made[2])
    if body:
        note = ("<p class='note'>Median seconds per image after warm-up; memory: CUDA max allocated, or on CPU the peak resident set of a "
                "fresh process above its level before the first image. OOM / skipped / over_budget are results, not failures.</p>")
        html_sections.append(("Time and memory per resolution", note + body))
        md += ["## Time and memory per resolution", "", *md_eff]
    else:
        html_sections.append(("Time and memory per resolution", '<p class="note">No benchmark in this run.</p>'))

    # Qualitative panel
    panel = ""
    working = float(report_cfg["panel_score_threshold"])
    for d in det_datasets:
        panel += qualitative_panel(layout, d, summaries[d], methods, panel_detector(layout, d, methods, detectors,
                                                                                   config.get("skipped_detectors", {})),
                                   int(report_cfg["panel_images"]), working)
    if panel:
        html_sections.append(("Qualitative comparison", panel))

    prov = provenance(config)
    html_sections.append(("Provenance", "<pre>" + escape(json.dumps(prov, indent=1)) + "</pre>"))
    md += ["## Provenance", "", "```json", json.dumps(prov, indent=1), "```", ""]

    for name, frame in tables.items():
        if not frame.empty:
            with atomic_write(out_dir / f"{name}.csv", "w", encoding="utf-8") as handle:
                frame.to_csv(handle, index=False, float_format="%.6g")
    html_path, md_path = out_dir / "index.html", out_dir / "report.md"
    with atomic_write(html_path, "w", encoding="utf-8") as handle:
        handle.write(page(TITLE, html_sections))
    with atomic_write(md_path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(md))
    return html_path, md_path


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()
