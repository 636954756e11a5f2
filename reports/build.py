"""Assemble the comparison report from the result files of a workflow run.

Inputs are found by the results layout (``results/<dataset>/<method>/<detector>/eval/...``) for
the datasets, methods and detectors named in the config. A section whose results do not exist
says so plainly: the report never shows a number that was not computed by the pipeline.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from lldata.imageio import read_rgb
from lowlight_common.atomic import atomic_write
from lowlight_common.layout import ResultsLayout
from reports import detector_gains, diffusion_scaling, figures, quality
from reports import methods as methods_section
from reports.efficiency_table import efficiency_table, exponent_table, table_note
from reports.html import escape, page, png_data_uri, table
from reports.provenance import provenance

TITLE = "Low-light enhancement as pre-processing for face detection"


@dataclass
class Layout:
    """The results layout (lowlight_common.layout, shared with the workflow's rules) as Paths."""

    results: Path

    @property
    def _paths(self) -> ResultsLayout:
        return ResultsLayout(str(self.results))

    def dataset(self, d: str) -> Path:
        return Path(self._paths.dataset_json(d))

    def eval_dir(self, d: str, m: str, det: str) -> Path:
        return Path(self._paths.eval_dir(d, m, det))

    def predictions(self, d: str, m: str, det: str) -> Path:
        return Path(self._paths.predictions(d, m, det))

    def images(self, d: str, m: str) -> Path:
        return Path(self._paths.images(d, m))

    def iqa(self, d: str, m: str) -> Path:
        return Path(self._paths.iqa_summary(d, m))


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


def per_image_table(layout: Layout, dataset: str, methods: list[str], detectors: list[str]) -> pd.DataFrame:
    """One row per (detector, image): the image's faces, then per method the detections at the
    working threshold, the faces they found (TP) and the rest (FP), from eval/per_image.csv."""
    frames = []
    for det in detectors:
        merged: pd.DataFrame | None = None
        for m in methods:
            path = layout.eval_dir(dataset, m, det) / "per_image.csv"
            if not path.is_file():
                continue
            frame = pd.read_csv(path, dtype={"image_id": str})
            cols = pd.DataFrame({
                "image": frame["image_id"], "faces": frame["n_gt"].astype(int),
                f"{m} detections": frame["n_pred_at_threshold"].astype(int),
                f"{m} TP": frame["n_found_at_threshold"].astype(int),
                f"{m} FP": (frame["n_pred_at_threshold"] - frame["n_found_at_threshold"]).astype(int),
            })
            merged = cols if merged is None else merged.merge(cols, on=["image", "faces"], how="outer", sort=False)
        if merged is not None:
            merged.insert(0, "detector", det)
            merged.insert(0, "dataset", dataset)
            frames.append(merged)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


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


def panel_items(summary: dict, count: int, stems: list[str] | tuple[str, ...] = ()) -> list[dict]:
    """The images of the panels: those named in ``stems`` (report.panel_stems; an unknown stem
    is an error naming it), else the first ``count``."""
    if not stems:
        return summary["items"][:count]
    by_stem = {item["stem"]: item for item in summary["items"]}
    unknown = [s for s in stems if s not in by_stem]
    if unknown:
        raise ValueError(f"report.panel_stems: no image {', '.join(map(repr, unknown))} in dataset {summary.get('root')}")
    return [by_stem[s] for s in stems]


def qualitative_panel(layout: Layout, dataset: str, summary: dict, methods: list[str], detector: str | None,
                      count: int, threshold: float, fig_dir: Path | None = None, stems: list[str] | tuple[str, ...] = (),
                      crop_size: int = 128) -> tuple[str, list[str]]:
    """Per chosen image, one figure file (``fig_dir``/panel_<dataset>_<stem>.png): every
    method's output at full resolution with ground truth and ``detector``'s detections, and a
    zoom of each face. The HTML shows it scaled to the page (a click opens the file); the
    Markdown references the file. Returns (html, markdown lines)."""
    html_blocks, md = [], []
    for item in panel_items(summary, count, stems):
        rows = []
        for m in methods:
            path = layout.images(dataset, m) / f"{item['stem']}.png"
            if not path.is_file():
                continue
            pred = _predictions_above(layout.predictions(dataset, m, detector) / f"{item['stem']}.txt", threshold) if detector else []
            caption = f"{m}: {len(pred)} detection(s)" if detector else m
            rows.append((caption, read_rgb(path), item.get("boxes", []), pred))
        if not rows:
            continue
        png = figures.panel_png(rows, crop_size)
        name = f"panel_{dataset}_{item['stem']}.png"
        title = f"{dataset}/{item['stem']} ({len(item.get('boxes', []))} faces)"
        if fig_dir is not None:
            with atomic_write(fig_dir / name, "wb") as handle:
                handle.write(png)
        shown = png_data_uri(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")), max_side=1100)
        captions = "; ".join(r[0] for r in rows)
        link = f'<a href="figures/{escape(name)}">' if fig_dir is not None else "<a>"
        html_blocks.append(f"<p><b>{escape(title)}</b>: {escape(captions)}</p><figure>{link}"
                           f'<img src="{shown}" alt="panel {escape(title)}"></a>'
                           f"<figcaption>full resolution: figures/{escape(name)}</figcaption></figure>")
        md += [f"### {title}", "", captions, "", f"![{title}](figures/{name})", ""]
    legend = ("Green: ground truth. Magenta: detections of "
              f"{detector} with raw score >= {threshold}. Each method's output at full resolution, a zoom of every face beside it."
              if detector else "Green: ground truth (no detector ran on every method). A zoom of every face beside each output.")
    if not html_blocks:
        return "", []
    return f'<p class="note">{escape(legend)}</p>' + "".join(html_blocks), [legend, "", *md]


def _labels_table(record: dict[str, dict], config_section: dict, name_key: str) -> pd.DataFrame:
    """One row per method or detector label: what ran, as its shard manifests say."""
    rows = []
    for label, facts in record.items():
        entry = config_section.get(label) or {}
        rows.append({
            "label": label, name_key: entry.get(name_key, label),
            "options as run": json.dumps(facts["options"], sort_keys=True),
            "weights (sha256)": "; ".join(f"{name} {digest}" for name, digest in facts["weights_sha256"].items()) or "none",
            "device": ", ".join(str(d) for d in facts["device"]),
            "shards": facts["shards"] if not facts["shards_without_record"] else
            f"{facts['shards']} ({facts['shards_without_record']} from before manifests recorded options)",
        })
    return pd.DataFrame(rows)


def provenance_section(prov: dict, config: dict) -> tuple[str, list[str]]:
    """Options, weights, device, code version, packages, seeds and the full config (collapsed)."""
    html_parts: list[str] = []
    md: list[str] = []
    git = prov["git"]
    commit = git.get("commit") or "not a git checkout"
    state = "" if git.get("commit") is None else (" (dirty: uncommitted changes)" if git.get("dirty") else " (clean)")
    jobs = prov.get("git_of_jobs") or []
    jobs_text = "; ".join(f"{g.get('commit')}{' dirty' if g.get('dirty') else ''}" for g in jobs) or "not recorded"
    facts = [("code (git commit of this report's build)", f"{commit}{state}"),
             ("code the jobs ran (from their manifests)", jobs_text),
             ("device", prov["device"]), ("python", prov["python"]), ("platform", prov["platform"]),
             ("config sha256 (first 16)", prov["config_sha256_16"]),
             ("seeds", ", ".join(f"{k}={v}" for k, v in prov["seeds"].items()) or "none")]
    skipped = {**{f"method {k}": v for k, v in (config.get("skipped_methods") or {}).items()},
               **{f"detector {k}": v for k, v in (config.get("skipped_detectors") or {}).items()}}
    facts += [(f"skipped {k}", v) for k, v in skipped.items()]
    frame = pd.DataFrame(facts, columns=["what", "value"])
    html_parts.append(table(frame))
    md += [frame.to_markdown(index=False), ""]
    for title, record, section, key in (("Methods as run", prov.get("methods") or {}, config.get("methods") or {}, "method"),
                                        ("Detectors as run", prov.get("detectors") or {}, config.get("detectors") or {}, "detector")):
        labels = _labels_table(record, section, key)
        if not labels.empty:
            html_parts.append(f"<h3>{escape(title)}</h3>" + table(labels))
            md += [f"### {title}", "", labels.to_markdown(index=False), ""]
    versions = pd.DataFrame(sorted(prov["packages"].items()), columns=["package", "version"])
    html_parts.append("<h3>Package versions (report)</h3>" + table(versions))
    md += ["### Package versions (report)", "", versions.to_markdown(index=False), ""]
    full = json.dumps(config, indent=1, sort_keys=True, default=str)
    html_parts.append(f"<details><summary>Full config</summary><pre>{escape(full)}</pre></details>")
    md += ["<details><summary>Full config</summary>", "", "```json", full, "```", "", "</details>", ""]
    return "".join(html_parts), md


def _has_boxes(path: Path, summary: dict) -> bool:
    """Whether a dataset has face boxes (its kind's record, written by ``lldata validate``):
    detection results are reported for those only. A summary without the field was written
    before the field existed; it is refused rather than guessed from the kind's name."""
    if not isinstance(summary.get("has_boxes"), bool):
        raise ValueError(f"{path}: no 'has_boxes' (written by an older lldata validate); delete it to have the dataset revalidated")
    return summary["has_boxes"]


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
    # First, before anything is written: refuses results of one label made with different options.
    prov = provenance(config, layout.results, datasets)

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
    det_datasets = [d for d in datasets if summaries.get(d) and _has_boxes(layout.dataset(d), summaries[d])]
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
        per_image = pd.concat([per_image_table(layout, d, methods, detectors) for d in det_datasets], ignore_index=True)
        tables["per_image"] = per_image
        if not per_image.empty:
            working = config["evaluation"]["working_threshold"]
            note = (f'<p class="note">Per image, at the working threshold (normalised score &ge; {working}, '
                    "<code>evaluation.working_threshold</code>): detections, faces found (TP) and other detections (FP). "
                    'Click a column heading to sort. The same table: <a href="per_image.csv">per_image.csv</a>.</p>')
            html_sections.append(("Per-image results", note + table(per_image, sortable=True)))
            shown = per_image if len(per_image) <= 60 else per_image.head(60)
            more = "" if len(per_image) <= 60 else f" (first 60 of {len(per_image)} rows here; all in per_image.csv)"
            md += ["## Per-image results", "",
                   f"At the working threshold (normalised score >= {working}): detections, faces found (TP), other detections (FP)"
                   f"{more}. All rows: [per_image.csv](per_image.csv).", "", shown.to_markdown(index=False), ""]
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
    # This run's benchmark here; committed files measured on other machines go to their own
    # section ("Results measured elsewhere"), so they cannot be taken for this run's numbers.
    extra = [Path(p) for p in config["benchmark"]["include"]]
    body, md_eff = "", []
    elsewhere, md_elsewhere = "", []
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
        part = (f"<h3>{escape(meta)}</h3>" + table(eff) + "<p class='note'>Fitted exponents k of cost = a &middot; pixels<sup>k</sup> (log-log), time with a 95% interval:</p>"
                + table(exps) + f'<figure><img src="data:image/png;base64,{_b64(png)}" alt="scaling {escape(label)}"></figure>')
        part_md = [f"### {meta}", "", eff.to_markdown(index=False), "", exps.to_markdown(index=False), "", f"![scaling](figures/{name})", ""]
        if label.startswith("this run"):
            body, md_eff = body + part, md_eff + part_md
        else:
            elsewhere, md_elsewhere = elsewhere + part, md_elsewhere + part_md
        tables[f"efficiency_{index}"] = frame
    for index, path in enumerate(Path(p) for p in config["benchmark"]["diffll_speed"]):
        if not path.is_file():
            continue
        frame = pd.read_csv(path)
        meta = (f"DiffLL fp32 eager vs fast path, committed results file {path}: "
                f"{', '.join(sorted(set(frame['device_name'].astype(str))))}; torch {', '.join(sorted(set(frame['torch_version'].astype(str))))}; "
                f"config {', '.join(sorted(set(frame['config'].astype(str))))}, weights {', '.join(sorted(set(frame['weights'].astype(str))))}")
        speed = diffll_speed_table(frame)
        elsewhere += f"<h3>{escape(meta)}</h3>" + table(speed)
        md_elsewhere += [f"### {meta}", "", speed.to_markdown(index=False), ""]
        tables[f"diffll_speed_{index}"] = speed
    for index, path in enumerate(Path(p) for p in config["benchmark"]["diffusion_scaling"]):
        made = diffusion_scaling.section(path, fig_dir, index)  # DiffLL vs pixel-space diffusion and K (timing only)
        if made:
            elsewhere, md_elsewhere = elsewhere + made[0], md_elsewhere + made[1]
            tables.update(made[2])
    if body:
        note = ("<p class='note'>Median seconds per image after warm-up; memory: CUDA max allocated, or on CPU the peak resident set of a "
                "fresh process above its level before the first image. OOM / skipped / over_budget are results, not failures.</p>")
        html_sections.append(("Time and memory per resolution (this run)", note + body))
        md += ["## Time and memory per resolution (this run)", "", *md_eff]
    else:
        html_sections.append(("Time and memory per resolution", '<p class="note">No benchmark in this run.</p>'))

    # Qualitative panels (files in figures/, referenced from both pages)
    panel, panel_md = "", []
    working = float(report_cfg["panel_score_threshold"])
    for d in det_datasets:
        chosen = report_cfg.get("panel_detector")
        if chosen is not None and chosen not in detectors:
            raise ValueError(f"report.panel_detector: {chosen!r} is not one of the detectors that ran ({', '.join(detectors)})")
        det = chosen or panel_detector(layout, d, methods, detectors, config.get("skipped_detectors", {}))
        html_part, md_part = qualitative_panel(layout, d, summaries[d], methods, det, int(report_cfg["panel_images"]), working,
                                               fig_dir, report_cfg.get("panel_stems") or (), int(report_cfg.get("panel_crop_size", 128)))
        panel, panel_md = panel + html_part, panel_md + md_part
    if panel:
        html_sections.append(("Qualitative comparison", panel))
        md += ["## Qualitative comparison", "", *panel_md]

    if elsewhere:
        note = ("<p class='note'><b>Not this run's results.</b> These tables were measured on other machines (each heading names its "
                "file, hardware and date) and committed to the repository; the config lists them under benchmark.include, "
                "benchmark.diffll_speed and benchmark.diffusion_scaling.</p>")
        html_sections.append(("Results measured elsewhere (committed files, not this run)", note + elsewhere))
        md += ["## Results measured elsewhere (committed files, not this run)", "",
               "**Not this run's results.** Measured on other machines (each heading names its file, hardware and date) and "
               "committed to the repository (config: benchmark.include, benchmark.diffll_speed, benchmark.diffusion_scaling).", "",
               *md_elsewhere]

    prov_html, prov_md = provenance_section(prov, config)
    html_sections.append(("Provenance", prov_html))
    md += ["## Provenance", "", *prov_md]

    for name, frame in tables.items():
        if not frame.empty:
            with atomic_write(out_dir / f"{name}.csv", "w", encoding="utf-8") as handle:
                frame.to_csv(handle, index=False, float_format="%.6g")
    html_path, md_path = out_dir / "index.html", out_dir / "report.md"
    with atomic_write(html_path, "w", encoding="utf-8") as handle:
        handle.write(page(TITLE, html_sections))
    with atomic_write(md_path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(with_contents(md)))
    return html_path, md_path


def _md_anchor(heading: str) -> str:
    """The anchor GitHub and most Markdown renderers give a heading."""
    kept = "".join(c for c in heading.strip().lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def with_contents(md: list[str]) -> list[str]:
    """``md`` with a table of contents (its ``##`` sections) after the title."""
    headings = [line[3:] for line in md if line.startswith("## ")]
    toc = ["## Contents", "", *[f"{i}. [{h}](#{_md_anchor(h)})" for i, h in enumerate(headings, start=1)], ""]
    return [*md[:2], *toc, *md[2:]]


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()
