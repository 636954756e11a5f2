"""Matplotlib figures of the report, returned as PNG bytes (Agg backend, fixed DPI: the same
data give the same picture)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

plt.rcParams.update({"svg.hashsalt": "lowlight", "font.size": 10})


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def pr_curves(curves: dict[str, pd.DataFrame], title: str, aps: dict[str, float]) -> bytes:
    """One PR curve per method (recall on x)."""
    fig, ax = plt.subplots(figsize=(7.6, 4.6))
    cmap = plt.get_cmap("tab20")
    for i, (method, curve) in enumerate(curves.items()):
        style = "-" if method != "raw" else "--"
        ax.plot(curve["recall"], curve["precision"], style, color="black" if method == "raw" else cmap(i % 20),
                lw=1.6, label=f"{method} (AP {aps.get(method, float('nan')):.3f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return _png(fig)


def scaling_plot(frame: pd.DataFrame, title: str) -> bytes:
    """Time and memory against megapixels on log-log axes, one line per method."""
    ok = frame[frame["status"] == "ok"]
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4))
    cmap = plt.get_cmap("tab20")
    for i, (method, group) in enumerate(ok.groupby("method", sort=False)):
        group = group.sort_values("megapixels")
        memory = group["peak_mem_mb"] - group["baseline_mem_mb"].fillna(0.0)
        ax_t.plot(group["megapixels"], group["median_s"], "o-", color=cmap(i % 20), label=method)
        ax_m.plot(group["megapixels"], np.clip(memory, 1e-1, None), "o-", color=cmap(i % 20), label=method)
    for ax, label in ((ax_t, "seconds per image (median)"), (ax_m, "peak memory above baseline (MB)")):
        ax.set(xscale="log", yscale="log", xlabel="megapixels", ylabel=label)
        ax.grid(alpha=0.3, which="both")
    ax_m.legend(fontsize=8, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(title)
    return _png(fig)


# Qualitative panels: boxes in colours that stay visible on dark inputs and bright outputs alike
# (a coloured line between two black ones), full-resolution images, zoomed crops of the faces.
GT_COLOUR = (0, 255, 0)  # ground truth: green
DET_COLOUR = (255, 0, 255)  # detections: magenta
_CAPTION_H = 22


def draw_boxes(image: np.ndarray, gt, pred) -> Image.Image:
    """``image`` at full resolution with ground truth and detection boxes (inclusive pixels)."""
    img = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(img)
    # Ground truth on and inside its box's edge, detections just outside theirs: a detection
    # that matches a face exactly leaves both visible. Black lines keep either readable on
    # bright outputs.
    for x1, y1, x2, y2 in pred:
        draw.rectangle([x1 - 3, y1 - 3, x2 + 3, y2 + 3], outline=(0, 0, 0), width=1)
        draw.rectangle([x1 - 2, y1 - 2, x2 + 2, y2 + 2], outline=DET_COLOUR, width=2)
    for x1, y1, x2, y2 in gt:
        draw.rectangle([x1, y1, x2, y2], outline=GT_COLOUR, width=2)
        if x2 - x1 > 5 and y2 - y1 > 5:
            draw.rectangle([x1 + 2, y1 + 2, x2 - 2, y2 - 2], outline=(0, 0, 0), width=1)
    return img


def face_crops(drawn: Image.Image, gt, size: int, limit: int = 12) -> list[Image.Image]:
    """A ``size`` x ``size`` zoom of each ground-truth face (with as much context again around
    it, at least 24 px), up to ``limit`` faces in label order; nearest-neighbour so that pixels
    stay pixels."""
    crops = []
    for x1, y1, x2, y2 in list(gt)[:limit]:
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        half = max(12.0, max(x2 - x1 + 1, y2 - y1 + 1))
        box = (round(cx - half), round(cy - half), round(cx + half), round(cy + half))
        crops.append(drawn.crop(box).resize((size, size), Image.Resampling.NEAREST))
    return crops


def panel_png(rows: list[tuple[str, np.ndarray, list, list]], crop_size: int) -> bytes:
    """One image per method (``rows``: caption, image, ground truth, detections), stacked: each
    at full resolution with its face crops beside it (wrapped in as many columns as needed)."""
    font = ImageFont.load_default()
    blocks = []
    for caption, image, gt, pred in rows:
        drawn = draw_boxes(image, gt, pred)
        crops = face_crops(drawn, gt, crop_size)
        per_column = max(1, drawn.height // (crop_size + 4))
        columns = -(-len(crops) // per_column) if crops else 0
        block = Image.new("RGB", (drawn.width + columns * (crop_size + 4) + 4, drawn.height + _CAPTION_H), (255, 255, 255))
        ImageDraw.Draw(block).text((4, 4), caption, fill=(0, 0, 0), font=font)
        block.paste(drawn, (0, _CAPTION_H))
        for i, crop in enumerate(crops):
            col, row = divmod(i, per_column)
            block.paste(crop, (drawn.width + 4 + col * (crop_size + 4), _CAPTION_H + row * (crop_size + 4)))
        blocks.append(block)
    canvas = Image.new("RGB", (max(b.width for b in blocks), sum(b.height + 6 for b in blocks)), (255, 255, 255))
    y = 0
    for block in blocks:
        canvas.paste(block, (0, y))
        y += block.height + 6
    buf = io.BytesIO()
    canvas.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()
