"""The report's detection sections: AP with its CI and the paired gain over raw, PR curves, recall
per face size, and the per-image counts at the working threshold (from each job's ``eval/`` files)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports import detector_gains, figures
from reports.html import escape, png_bytes_uri, table
from reports.inputs import Layout, read_json
from reports.sections import Section

TITLE = "Face detection (DARK FACE protocol)"
AP_NOTE = ('<p class="note">AP: official DARK FACE protocol (IoU 0.5, inclusive pixels, 1,000 thresholds). '
           "CI: 95% bootstrap over images. Gain: paired bootstrap of AP(method) - AP(raw) on the same images; "
           "P(gain &le; 0) is the fraction of resamples where the method does not beat the raw input.</p>")


def fmt_ci(value, low, high) -> str:
    if value is None:
        return ""
    return f"{value:.3f} [{low:.3f}, {high:.3f}]" if low is not None else f"{value:.3f}"


def ap_table(layout: Layout, dataset: str, methods: list[str], detectors: list[str]) -> pd.DataFrame:
    """One row per method x detector: AP with its CI, and the paired gain over raw."""
    rows = []
    for det in detectors:
        for m in methods:
            ap = read_json(layout.eval_dir(dataset, m, det) / "ap.json")
            if ap is None:
                continue
            boot = ap.get("bootstrap") or {}
            row = {"dataset": dataset, "detector": det, "method": m, "AP": ap["ap"],
                   "AP_low": boot.get("low"), "AP_high": boot.get("high"), "faces": ap.get("n_gt")}
            vs = read_json(layout.eval_dir(dataset, m, det) / "vs_raw.json")
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


def all_ap(layout: Layout, datasets: list[str], methods: list[str], detectors: list[str]) -> pd.DataFrame:
    """:func:`ap_table` of every dataset with face boxes, in one frame (empty when none ran)."""
    frames = [f for f in (ap_table(layout, d, methods, detectors) for d in datasets) if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _shown_ap(ap: pd.DataFrame) -> pd.DataFrame:
    """The AP table as read: AP with its CI, the gain with its CI and P(gain <= 0) as text."""
    shown = ap.assign(
        **{"AP [95% CI]": [fmt_ci(r.AP, r.AP_low, r.AP_high) for r in ap.itertuples()]},
        **({"gain over raw [95% CI]": [fmt_ci(getattr(r, "gain_vs_raw", None), getattr(r, "gain_low", None), getattr(r, "gain_high", None))
                                        if not pd.isna(getattr(r, "gain_vs_raw", np.nan)) else "" for r in ap.itertuples()],
            "P(gain <= 0)": [("" if pd.isna(getattr(r, "p_gain_le_0", np.nan)) else f"{r.p_gain_le_0:.3f}") for r in ap.itertuples()]}
           if "gain_vs_raw" in ap else {}),
    )
    cols = [c for c in ["dataset", "detector", "method", "AP [95% CI]", "gain over raw [95% CI]", "P(gain <= 0)", "faces"] if c in shown]
    return shown[cols]


def _pr_figure(layout: Layout, dataset: str, det: str, methods: list[str]) -> tuple[str, bytes] | None:
    curves, aps = {}, {}
    for m in methods:
        pr = layout.eval_dir(dataset, m, det) / "pr_curve.csv"
        apj = read_json(layout.eval_dir(dataset, m, det) / "ap.json")
        if pr.is_file() and apj:
            curves[m], aps[m] = pd.read_csv(pr), apj["ap"]
    if not curves:
        return None
    return f"pr_{dataset}_{det}.png", figures.pr_curves(curves, f"{dataset}: {det}", aps)


def detection_section(layout: Layout, ap: pd.DataFrame, datasets: list[str], methods: list[str], detectors: list[str]) -> Section:
    """AP table, PR curves per (dataset, detector) and recall per face size."""
    if ap.empty:
        return Section(TITLE, '<p class="note">No detection results in this run.</p>', ["No detection results in this run.", ""],
                       tables={"ap": ap})
    shown = _shown_ap(ap)
    html, md = AP_NOTE + table(shown), [shown.to_markdown(index=False), ""]
    pngs: dict[str, bytes] = {}
    for d in datasets:
        for det in detectors:
            made = _pr_figure(layout, d, det, methods)
            if made is None:
                continue
            name, png = made
            pngs[name] = png
            html += (f'<figure><img src="{png_bytes_uri(png)}" alt="PR curves {escape(d)} {escape(det)}">'
                     f"<figcaption>PR curves, {escape(d)}, {escape(det)}</figcaption></figure>")
            md.append(f"![PR curves {d} {det}](figures/{name})")
    sizes = pd.concat([size_table(layout, d, methods, detectors).assign(dataset=d) for d in datasets], ignore_index=True)
    if not sizes.empty:
        sizes = sizes[["dataset", *[c for c in sizes.columns if c != "dataset"]]]
        html += "<h3>Recall per face size (every detection counted)</h3>" + table(sizes)
        md += ["", "### Recall per face size", "", sizes.to_markdown(index=False), ""]
    return Section(TITLE, html, md, tables={"ap": ap, "size_recall": sizes}, figures=pngs)


def per_image_section(layout: Layout, datasets: list[str], methods: list[str], detectors: list[str], working: float) -> Section | None:
    """Per image: detections, TP and FP of each method at the working threshold (sortable)."""
    per_image = pd.concat([per_image_table(layout, d, methods, detectors) for d in datasets], ignore_index=True)
    if per_image.empty:
        return None
    note = (f'<p class="note">Per image, at the working threshold (normalised score &ge; {working}, '
            "<code>evaluation.working_threshold</code>): detections, faces found (TP) and other detections (FP). "
            'Click a column heading to sort. The same table: <a href="per_image.csv">per_image.csv</a>.</p>')
    shown = per_image if len(per_image) <= 60 else per_image.head(60)
    more = "" if len(per_image) <= 60 else f" (first 60 of {len(per_image)} rows here; all in per_image.csv)"
    md = [f"At the working threshold (normalised score >= {working}): detections, faces found (TP), other detections (FP)"
          f"{more}. All rows: [per_image.csv](per_image.csv).", "", shown.to_markdown(index=False), ""]
    return Section("Per-image results", note + table(per_image, sortable=True), md, tables={"per_image": per_image})


def detection_sections(layout: Layout, datasets: list[str], methods: list[str], detectors: list[str],
                       working: float, skipped_detectors: dict[str, str]) -> list[Section]:
    """Detection, per-image results (when detection ran) and the per-detector gains over raw."""
    ap = all_ap(layout, datasets, methods, detectors)
    sections = [detection_section(layout, ap, datasets, methods, detectors)]
    if not ap.empty:
        per_image = per_image_section(layout, datasets, methods, detectors, working)
        sections += [per_image] if per_image is not None else []
    gains = detector_gains.gain_section(ap, skipped_detectors)
    return sections + ([gains] if gains is not None else [])
